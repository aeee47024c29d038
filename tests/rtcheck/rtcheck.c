/* rtcheck.c - the run-time RT-safety checker: an LD_PRELOAD shim that counts
 * and reports calls the real-time rules forbid (DESIGN §3) while the calling
 * thread is marked as running the RT process function.
 *
 * DESIGN
 * engine/rtmark.c finds airmix_rtcheck_enter()/airmix_rtcheck_leave() with
 * dlsym and calls them around each cycle on the clock thread; they set and
 * clear a thread-local flag (initial-exec TLS, so reading it never
 * allocates). Every interposed function tests the flag first; outside RT
 * threads it only forwards. The allocator forwards to glibc's __libc_*
 * entry points, so it works before any constructor ran; everything else
 * forwards to the next definition (dlsym(RTLD_NEXT)), resolved in the
 * constructor and, for calls that come before it, on first use.
 *
 * A violation is counted atomically; the first REPORT_MAX are written, with a
 * backtrace, to $AIRMIX_RTCHECK_LOG (O_APPEND) or stderr, through raw
 * syscalls, with the flag cleared so that reporting cannot recurse. With
 * AIRMIX_RTCHECK_ABORT=1 the first violation aborts (for gdb). At exit the
 * total is appended when it is not zero; airmix_rtcheck_violations() gives it
 * to in-process tests.
 *
 * While a counted call forwards, the flag is cleared, so that what the real
 * function does inside (stdio allocating a buffer, fopen calling malloc) is
 * not counted again: one forbidden call, one violation. Calls glibc makes
 * internally (sleep to nanosleep) bypass the interposed symbols anyway.
 *
 * Interposed: the allocator (malloc calloc realloc free aligned_alloc
 * memalign valloc posix_memalign), locks and waits (pthread_mutex_lock and
 * _timedlock, pthread_cond_wait and _timedwait, pthread_rwlock_rdlock and
 * _wrlock, sem_wait and _timedwait), sleeps and polls (nanosleep
 * clock_nanosleep usleep sleep poll ppoll select pselect epoll_wait), file
 * descriptors (read write open open64 openat close fsync fdatasync mmap
 * mmap64 munmap), stdio and logging (fopen fopen64 fclose fflush fread fwrite
 * fputs fputc putchar puts printf fprintf vprintf vfprintf, their _chk
 * forms, syslog vsyslog) and sockets (send sendto sendmsg recv recvfrom
 * recvmsg connect accept).
 *
 * Deliberately not counted: pthread_mutex_trylock and sem_trywait (common RT
 * practice: they never wait, and the caller falls back when they fail).
 *
 * Threads: any. The flag is per thread; the counter is atomic; the log fd is
 * set once in the constructor before other threads exist.
 */
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define REPORT_MAX 20
#define BACKTRACE_DEPTH 24

#define EXPORT __attribute__((visibility("default")))

/* glibc's own allocator entry points: no dlsym needed to reach them. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_memalign(size_t align, size_t size);
extern void *__libc_valloc(size_t size);

/* Fortified stdio that programs built with _FORTIFY_SOURCE call instead. */
int __printf_chk(int flag, const char *fmt, ...);
int __fprintf_chk(FILE *stream, int flag, const char *fmt, ...);
int __vprintf_chk(int flag, const char *fmt, va_list ap);
int __vfprintf_chk(FILE *stream, int flag, const char *fmt, va_list ap);

static _Thread_local int rt_flag __attribute__((tls_model("initial-exec")));
static atomic_ulong violations;
static int log_fd = STDERR_FILENO;
static int abort_on_violation;

/* ---- forwarding to the next definition ---- */

/* Any thread: the next definition of name, looked up once. */
static void *real_fn(void **slot, const char *name, const char *version)
{
	void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	static const char msg[] = "rtcheck: cannot resolve a forwarded function\n";

	if (p)
		return p;
	if (version)
		p = dlvsym(RTLD_NEXT, name, version);
	if (!p)
		p = dlsym(RTLD_NEXT, name);
	if (!p) {
		syscall(SYS_write, STDERR_FILENO, msg, sizeof(msg) - 1);
		abort();
	}
	__atomic_store_n(slot, p, __ATOMIC_RELEASE);
	return p;
}

/* Every forwarded function, with the symbol version to prefer (NULL = default).
 * The condition variables have an old x86-64 version that plain dlsym may
 * pick; ask for the current one. */
#define RTCHECK_FORWARDED(X)                                                 \
	X(pthread_mutex_lock, NULL)                                          \
	X(pthread_mutex_timedlock, NULL)                                     \
	X(pthread_cond_wait, "GLIBC_2.3.2")                                  \
	X(pthread_cond_timedwait, "GLIBC_2.3.2")                             \
	X(pthread_rwlock_rdlock, NULL)                                       \
	X(pthread_rwlock_wrlock, NULL)                                       \
	X(sem_wait, NULL)                                                    \
	X(sem_timedwait, NULL)                                               \
	X(nanosleep, NULL)                                                   \
	X(clock_nanosleep, NULL)                                             \
	X(usleep, NULL)                                                      \
	X(sleep, NULL)                                                       \
	X(poll, NULL)                                                        \
	X(ppoll, NULL)                                                       \
	X(select, NULL)                                                      \
	X(pselect, NULL)                                                     \
	X(epoll_wait, NULL)                                                  \
	X(read, NULL)                                                        \
	X(write, NULL)                                                       \
	X(open, NULL)                                                        \
	X(open64, NULL)                                                      \
	X(openat, NULL)                                                      \
	X(close, NULL)                                                       \
	X(fopen, NULL)                                                       \
	X(fopen64, NULL)                                                     \
	X(fclose, NULL)                                                      \
	X(fflush, NULL)                                                      \
	X(fread, NULL)                                                       \
	X(fwrite, NULL)                                                      \
	X(fputs, NULL)                                                       \
	X(fputc, NULL)                                                       \
	X(putchar, NULL)                                                     \
	X(puts, NULL)                                                        \
	X(vprintf, NULL)                                                     \
	X(vfprintf, NULL)                                                    \
	X(__vfprintf_chk, NULL)                                              \
	X(vsyslog, NULL)                                                     \
	X(send, NULL)                                                        \
	X(sendto, NULL)                                                      \
	X(sendmsg, NULL)                                                     \
	X(recv, NULL)                                                        \
	X(recvfrom, NULL)                                                    \
	X(recvmsg, NULL)                                                     \
	X(connect, NULL)                                                     \
	X(accept, NULL)                                                      \
	X(fsync, NULL)                                                       \
	X(fdatasync, NULL)                                                   \
	X(mmap, NULL)                                                        \
	X(mmap64, NULL)                                                      \
	X(munmap, NULL)

#define SLOT(name, version)                                                  \
	static void *slot_##name;                                            \
	static const char *const version_##name = version;
RTCHECK_FORWARDED(SLOT)
#undef SLOT

#define REAL(name) ((__typeof__(&name))real_fn(&slot_##name, #name, version_##name))

/* ---- reporting ---- */

/* Any thread: write all of buf to the log, raw, no stdio. */
static void log_raw(const char *buf, size_t len)
{
	while (len > 0) {
		long n = syscall(SYS_write, log_fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* Any thread: decimal text of v into buf (at least 21 bytes); returns length. */
static size_t format_ulong(char *buf, unsigned long v)
{
	char tmp[21];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

/* Any thread: append s to buf at *len without passing cap. */
static void append(char *buf, size_t *len, size_t cap, const char *s)
{
	while (*s && *len + 1 < cap)
		buf[(*len)++] = *s++;
}

/* The marked thread, inside an interposed call: count, maybe report. */
static void __attribute__((noinline)) violation(const char *fn)
{
	int saved = rt_flag;
	unsigned long n;

	rt_flag = 0;
	n = atomic_fetch_add_explicit(&violations, 1, memory_order_relaxed) + 1;
	if (n <= REPORT_MAX) {
		char line[160];
		size_t len = 0;
		void *frames[BACKTRACE_DEPTH];
		int depth;

		append(line, &len, sizeof(line), "rtcheck: violation: ");
		append(line, &len, sizeof(line), fn);
		append(line, &len, sizeof(line), " in RT thread\n");
		log_raw(line, len);
		depth = backtrace(frames, BACKTRACE_DEPTH);
		if (depth > 1)
			backtrace_symbols_fd(frames + 1, depth - 1, log_fd);
	}
	if (abort_on_violation)
		abort();
	rt_flag = saved;
}

/* Allocator entry: count a call from a marked thread. */
#define GUARD(name)                                                          \
	do {                                                                 \
		if (__builtin_expect(rt_flag, 0))                            \
			violation(name);                                     \
	} while (0)

/* Any other entry: count it, then unmark the thread while the real function
 * runs, so that what it does inside (stdio allocating its buffer, fopen's
 * malloc) does not count again: one forbidden call, one violation. */
static inline int guard_begin(const char *name)
{
	int marked = rt_flag;

	if (__builtin_expect(marked, 0)) {
		violation(name);
		rt_flag = 0;
	}
	return marked;
}

static inline void guard_end(int marked)
{
	if (__builtin_expect(marked, 0))
		rt_flag = marked;
}

#define FORWARD(type, name, args)                                            \
	{                                                                    \
		int marked_ = guard_begin(#name);                            \
		type ret_ = REAL(name) args;                                 \
		guard_end(marked_);                                          \
		return ret_;                                                 \
	}

/* ---- the marking API (found by engine/rtmark.c) ---- */

/* The RT thread, at the start of its process function. */
EXPORT void airmix_rtcheck_enter(void)
{
	rt_flag = 1;
}

/* The RT thread, at the end of its process function. */
EXPORT void airmix_rtcheck_leave(void)
{
	rt_flag = 0;
}

/* Any thread: violations counted so far in this process. */
EXPORT unsigned long airmix_rtcheck_violations(void)
{
	return atomic_load_explicit(&violations, memory_order_relaxed);
}

/* ---- set-up and tear-down ---- */

#define PRELOAD(name, version) real_fn(&slot_##name, #name, version_##name);

/* Main thread, at load: open the log, warm up backtrace, resolve forwards. */
__attribute__((constructor)) static void rtcheck_init(void)
{
	const char *path = getenv("AIRMIX_RTCHECK_LOG");
	const char *abort_env = getenv("AIRMIX_RTCHECK_ABORT");
	void *frames[4];

	if (path && *path) {
		long fd = syscall(SYS_openat, AT_FDCWD, path,
				  O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd >= 0)
			log_fd = (int)fd;
	}
	abort_on_violation = abort_env && strcmp(abort_env, "1") == 0;
	/* The first backtrace() loads libgcc_s, which allocates. */
	(void)backtrace(frames, 4);
	RTCHECK_FORWARDED(PRELOAD)
}

/* Main thread, at exit: the total, when there is one. */
__attribute__((destructor)) static void rtcheck_fini(void)
{
	unsigned long n = airmix_rtcheck_violations();
	char line[64];
	size_t len = 0;

	if (n == 0)
		return;
	append(line, &len, sizeof(line), "rtcheck: ");
	len += format_ulong(line + len, n);
	append(line, &len, sizeof(line), " violations\n");
	log_raw(line, len);
}

/* ---- allocator ---- */

EXPORT void *malloc(size_t size)
{
	GUARD("malloc");
	return __libc_malloc(size);
}

EXPORT void *calloc(size_t n, size_t size)
{
	GUARD("calloc");
	return __libc_calloc(n, size);
}

EXPORT void *realloc(void *ptr, size_t size)
{
	GUARD("realloc");
	return __libc_realloc(ptr, size);
}

EXPORT void free(void *ptr)
{
	GUARD("free");
	__libc_free(ptr);
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
	GUARD("aligned_alloc");
	return __libc_memalign(align, size);
}

EXPORT void *memalign(size_t align, size_t size)
{
	GUARD("memalign");
	return __libc_memalign(align, size);
}

EXPORT void *valloc(size_t size)
{
	GUARD("valloc");
	return __libc_valloc(size);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	GUARD("posix_memalign");
	if (align < sizeof(void *) || (align & (align - 1)) != 0)
		return EINVAL;
	p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

/* ---- locks and waits ---- */

EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
	FORWARD(int, pthread_mutex_lock, (m))

EXPORT int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *t)
	FORWARD(int, pthread_mutex_timedlock, (m, t))

EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
	FORWARD(int, pthread_cond_wait, (c, m))

EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
				  const struct timespec *t)
	FORWARD(int, pthread_cond_timedwait, (c, m, t))

EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t *l)
	FORWARD(int, pthread_rwlock_rdlock, (l))

EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t *l)
	FORWARD(int, pthread_rwlock_wrlock, (l))

EXPORT int sem_wait(sem_t *s)
	FORWARD(int, sem_wait, (s))

EXPORT int sem_timedwait(sem_t *s, const struct timespec *t)
	FORWARD(int, sem_timedwait, (s, t))

/* ---- sleeping and polling ---- */

EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
	FORWARD(int, nanosleep, (req, rem))

EXPORT int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
			   struct timespec *rem)
	FORWARD(int, clock_nanosleep, (clk, flags, req, rem))

EXPORT int usleep(useconds_t usec)
	FORWARD(int, usleep, (usec))

EXPORT unsigned int sleep(unsigned int seconds)
	FORWARD(unsigned int, sleep, (seconds))

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
	FORWARD(int, poll, (fds, n, timeout))

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask)
	FORWARD(int, ppoll, (fds, n, t, mask))

EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *x, struct timeval *t)
	FORWARD(int, select, (n, r, w, x, t))

EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *x, const struct timespec *t,
		   const sigset_t *mask)
	FORWARD(int, pselect, (n, r, w, x, t, mask))

EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
	FORWARD(int, epoll_wait, (epfd, ev, max, timeout))

/* ---- file descriptors ---- */

EXPORT ssize_t read(int fd, void *buf, size_t len)
	FORWARD(ssize_t, read, (fd, buf, len))

EXPORT ssize_t write(int fd, const void *buf, size_t len)
	FORWARD(ssize_t, write, (fd, buf, len))

/* The mode argument of open and openat, present only with these flags. */
#define NEEDS_MODE(flags) (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE)
#define MODE_ARG(mode, flags, last)                                          \
	do {                                                                 \
		va_list ap_;                                                 \
		                                                             \
		if (!NEEDS_MODE(flags))                                      \
			break;                                               \
		va_start(ap_, last);                                         \
		mode = va_arg(ap_, mode_t);                                  \
		va_end(ap_);                                                 \
	} while (0)

EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	MODE_ARG(mode, flags, flags);
	FORWARD(int, open, (path, flags, mode))
}

EXPORT int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;

	MODE_ARG(mode, flags, flags);
	FORWARD(int, open64, (path, flags, mode))
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	MODE_ARG(mode, flags, flags);
	FORWARD(int, openat, (dirfd, path, flags, mode))
}

EXPORT int close(int fd)
	FORWARD(int, close, (fd))

EXPORT int fsync(int fd)
	FORWARD(int, fsync, (fd))

EXPORT int fdatasync(int fd)
	FORWARD(int, fdatasync, (fd))

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
	FORWARD(void *, mmap, (addr, len, prot, flags, fd, off))

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
	FORWARD(void *, mmap64, (addr, len, prot, flags, fd, off))

EXPORT int munmap(void *addr, size_t len)
	FORWARD(int, munmap, (addr, len))

/* ---- stdio and logging ---- */

EXPORT FILE *fopen(const char *path, const char *mode)
	FORWARD(FILE *, fopen, (path, mode))

EXPORT FILE *fopen64(const char *path, const char *mode)
	FORWARD(FILE *, fopen64, (path, mode))

EXPORT int fclose(FILE *f)
	FORWARD(int, fclose, (f))

EXPORT int fflush(FILE *f)
	FORWARD(int, fflush, (f))

EXPORT size_t fread(void *buf, size_t size, size_t n, FILE *f)
	FORWARD(size_t, fread, (buf, size, n, f))

EXPORT size_t fwrite(const void *buf, size_t size, size_t n, FILE *f)
	FORWARD(size_t, fwrite, (buf, size, n, f))

EXPORT int fputs(const char *s, FILE *f)
	FORWARD(int, fputs, (s, f))

EXPORT int fputc(int c, FILE *f)
	FORWARD(int, fputc, (c, f))

EXPORT int putchar(int c)
	FORWARD(int, putchar, (c))

EXPORT int puts(const char *s)
	FORWARD(int, puts, (s))

/* The printf family forwards to the real vfprintf (or its fortified twin)
 * under the name the program called. */
#define FORWARD_VA(type, name, target, args, last)                           \
	{                                                                    \
		int marked_ = guard_begin(name);                             \
		va_list ap;                                                  \
		type ret_;                                                   \
		                                                             \
		va_start(ap, last);                                          \
		ret_ = REAL(target) args;                                    \
		va_end(ap);                                                  \
		guard_end(marked_);                                          \
		return ret_;                                                 \
	}

EXPORT int printf(const char *fmt, ...)
	FORWARD_VA(int, "printf", vfprintf, (stdout, fmt, ap), fmt)

EXPORT int fprintf(FILE *f, const char *fmt, ...)
	FORWARD_VA(int, "fprintf", vfprintf, (f, fmt, ap), fmt)

EXPORT int __printf_chk(int flag, const char *fmt, ...)
	FORWARD_VA(int, "printf", __vfprintf_chk, (stdout, flag, fmt, ap), fmt)

EXPORT int __fprintf_chk(FILE *f, int flag, const char *fmt, ...)
	FORWARD_VA(int, "fprintf", __vfprintf_chk, (f, flag, fmt, ap), fmt)

EXPORT int vprintf(const char *fmt, va_list ap)
{
	int marked = guard_begin("vprintf");
	int ret = REAL(vfprintf)(stdout, fmt, ap);

	guard_end(marked);
	return ret;
}

EXPORT int vfprintf(FILE *f, const char *fmt, va_list ap)
	FORWARD(int, vfprintf, (f, fmt, ap))

EXPORT int __vprintf_chk(int flag, const char *fmt, va_list ap)
{
	int marked = guard_begin("vprintf");
	int ret = REAL(__vfprintf_chk)(stdout, flag, fmt, ap);

	guard_end(marked);
	return ret;
}

EXPORT int __vfprintf_chk(FILE *f, int flag, const char *fmt, va_list ap)
	FORWARD(int, __vfprintf_chk, (f, flag, fmt, ap))

EXPORT void syslog(int pri, const char *fmt, ...)
{
	int marked = guard_begin("syslog");
	va_list ap;

	va_start(ap, fmt);
	REAL(vsyslog)(pri, fmt, ap);
	va_end(ap);
	guard_end(marked);
}

EXPORT void vsyslog(int pri, const char *fmt, va_list ap)
{
	int marked = guard_begin("vsyslog");

	REAL(vsyslog)(pri, fmt, ap);
	guard_end(marked);
}

/* ---- sockets ---- */

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
	FORWARD(ssize_t, send, (fd, buf, len, flags))

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
		      const struct sockaddr *to, socklen_t tolen)
	FORWARD(ssize_t, sendto, (fd, buf, len, flags, to, tolen))

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
	FORWARD(ssize_t, sendmsg, (fd, msg, flags))

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
	FORWARD(ssize_t, recv, (fd, buf, len, flags))

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
			socklen_t *fromlen)
	FORWARD(ssize_t, recvfrom, (fd, buf, len, flags, from, fromlen))

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
	FORWARD(ssize_t, recvmsg, (fd, msg, flags))

EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
	FORWARD(int, connect, (fd, addr, len))

EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
	FORWARD(int, accept, (fd, addr, len))
