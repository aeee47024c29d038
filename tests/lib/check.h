/* check.h - the tiny assertion kit every C test in tests/ uses.
 *
 * CHECK(cond, fmt, ...) prints "ok - ..." or "not ok - ..." with the location,
 * counts both, and CHECK_DONE() prints "# passed N failed M" (the line
 * tests/run.sh sums) and returns the exit status. Threads: a test's main
 * thread, or any thread when guarded by the test itself.
 */
#ifndef AIRMIX_TEST_CHECK_H
#define AIRMIX_TEST_CHECK_H

#include <dlfcn.h>
#include <stdio.h>

static int check_passed_;
static int check_failed_;

#define CHECK(cond, ...)                                                          \
	do {                                                                      \
		if (cond) {                                                       \
			check_passed_++;                                          \
			printf("ok - ");                                          \
		} else {                                                          \
			check_failed_++;                                          \
			printf("not ok - %s:%d: (%s) ", __FILE__, __LINE__, #cond); \
		}                                                                 \
		printf(__VA_ARGS__);                                              \
		printf("\n");                                                     \
		fflush(stdout);                                                   \
	} while (0)

/* When the RT-safety shim is preloaded (tests/suites.sh does it for the
 * suites that drive the graph), one more check: no forbidden call on the RT
 * thread during the whole run. */
#define CHECK_RT_CLEAN()                                                          \
	do {                                                                      \
		unsigned long (*v_)(void);                                        \
		*(void **)&v_ = dlsym(RTLD_DEFAULT, "airmix_rtcheck_violations"); \
		if (v_)                                                           \
			CHECK(v_() == 0, "no RT-safety violations (%lu)", v_());  \
	} while (0)

#define CHECK_DONE()                                                              \
	(printf("# passed %d failed %d\n", check_passed_, check_failed_),          \
	 fflush(stdout), check_failed_ ? 1 : 0)

#endif
