/* check.h - the tiny assertion kit every C test in tests/ uses.
 *
 * CHECK(cond, fmt, ...) prints "ok - ..." or "not ok - ..." with the location,
 * counts both, and CHECK_DONE() prints "# passed N failed M" (the line
 * tests/run.sh sums) and returns the exit status. Threads: a test's main
 * thread, or any thread when guarded by the test itself.
 */
#ifndef AIRMIX_TEST_CHECK_H
#define AIRMIX_TEST_CHECK_H

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

#define CHECK_DONE()                                                              \
	(printf("# passed %d failed %d\n", check_passed_, check_failed_),          \
	 fflush(stdout), check_failed_ ? 1 : 0)

#endif
