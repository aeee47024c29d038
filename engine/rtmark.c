/* rtmark.c - finds the RT-safety checker's hooks when its shim is preloaded.
 *
 * Threads: rtmark_init on the control thread only; see rtmark.h.
 */
#include "rtmark.h"

#include <dlfcn.h>
#include <stddef.h>

rtmark_fn rtmark_enter_fn;
rtmark_fn rtmark_leave_fn;

void rtmark_init(void)
{
	void *enter = dlsym(RTLD_DEFAULT, "airmix_rtcheck_enter");
	void *leave = dlsym(RTLD_DEFAULT, "airmix_rtcheck_leave");

	if (!enter || !leave)
		return;
	/* POSIX guarantees data and function pointers convert through dlsym. */
	*(void **)&rtmark_enter_fn = enter;
	*(void **)&rtmark_leave_fn = leave;
}

bool rtmark_active(void)
{
	return rtmark_enter_fn != NULL;
}
