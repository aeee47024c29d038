/* rtmark.h - marks the stretch of code that runs on the real-time clock so
 * that the RT-safety checker (tests/rtcheck, an LD_PRELOAD shim) can fail a
 * run that calls malloc, locks, sleeps, stdio or blocking syscalls there.
 *
 * DESIGN
 * The shim exports airmix_rtcheck_enter()/airmix_rtcheck_leave(), which set a
 * thread-local flag that its interposed functions test. rtmark_init() looks
 * them up once with dlsym(RTLD_DEFAULT) on the control thread; without the
 * shim the pointers stay NULL and marking costs one predictable branch.
 *
 * Threads: rtmark_init on the control thread before any clock starts;
 * rtmark_enter/leave on the RT thread around the process function.
 */
#ifndef AIRMIX_RTMARK_H
#define AIRMIX_RTMARK_H

#include <stdbool.h>

typedef void (*rtmark_fn)(void);
extern rtmark_fn rtmark_enter_fn;
extern rtmark_fn rtmark_leave_fn;

void rtmark_init(void);
/* True when the checking shim is loaded. */
bool rtmark_active(void);

static inline void rtmark_enter(void)
{
	if (rtmark_enter_fn)
		rtmark_enter_fn();
}

static inline void rtmark_leave(void)
{
	if (rtmark_leave_fn)
		rtmark_leave_fn();
}

#endif
