/* test_rtcheck.c - proves that the RT-safety checker (tests/rtcheck, preloaded
 * as librtcheck.so) catches every forbidden call made inside rtmark_enter()/
 * rtmark_leave(), ignores the same calls outside, writes the report the
 * integration suites rely on, and lets the real engine run thousands of
 * cycles with commands and graph rebuilds without a single violation.
 *
 * DESIGN
 * The test re-executes itself (/proc/self/exe) with
 * LD_PRELOAD=<dir of this binary>/../librtcheck.so, AIRMIX_RTCHECK_LOG=<temp
 * file> and AIRMIX_RTCHECK_CHILD=<mode>. Each child runs the checks that need
 * the shim and prints its own "ok"/"not ok" lines, which the parent relays and
 * adds to its totals; the parent then reads the checker's log. Modes:
 *   probe:<i>   forbidden calls i..i+PROBE_CHUNK-1, inside and outside marks
 *   engine      the offline engine (commands, rebuilds) and the internal clock
 *   engine-bad  a custom source that allocates on the RT thread is caught
 *   cap         only the first 20 violations are written, all are counted
 *   abort       AIRMIX_RTCHECK_ABORT=1 aborts at the first violation
 *   quiet       a program that never marks runs normally and logs nothing
 * Under ASan or TSan the sanitizer runtime owns the allocator and the shim
 * cannot be preloaded, so those builds run the engine parts in-process only.
 *
 * Threads: main; the engine's threads; the "quiet" child starts four
 * short-lived threads.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "engine/config.h"
#include "engine/engine.h"
#include "engine/rtmark.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define CHILD_ENV "AIRMIX_RTCHECK_CHILD"
#define CHILD_TIMEOUT_S 120
#define CAP_CALLS 25
#define REPORT_MAX 20
#define ENGINE_CYCLES 4000
#define PERIOD 128
#define BAD_CYCLES 5

/* ------------------------------------------------------------------ */
/* engine part: runs in the preloaded child, or in-process when sanitized */

/* Main thread: run the engine offline with commands and graph rebuilds. */
static void run_engine(void)
{
	struct airmix_config cfg;
	struct engine_options opts = { .manual_clock = true };
	struct engine *e = NULL;
	static float out[4][PERIOD];
	float *const outs[4] = { out[0], out[1], out[2], out[3] };
	uint32_t tone, extra[4] = { 0 }, n_extra = 0;
	char err[256] = "";
	int rc, bad_runs = 0, bad_cmds = 0, bad_graph = 0, i;
	float peak = 0.0f;
	struct engine_status st;
	struct engine_node_info info;

	config_defaults(&cfg);
	cfg.backend = BACKEND_OFFLINE;
	cfg.sample_rate = 48000;
	cfg.period_frames = PERIOD;
	cfg.tone_enabled = false;
	rc = engine_create(&cfg, &opts, NULL, &e, err, sizeof(err));
	CHECK(rc == 0, "engine_create on the offline backend%s%s", err[0] ? ": " : "", err);
	if (rc)
		return;
	rc = engine_start(e, err, sizeof(err));
	CHECK(rc == 0, "engine_start%s%s", err[0] ? ": " : "", err);
	if (rc)
		goto out_destroy;
	rc = engine_add_tone(e, "probe", 1000.0, -6.0, ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT,
			     &tone);
	CHECK(rc == 0, "add a 1 kHz tone");

	for (i = 0; i < ENGINE_CYCLES; i++) {
		int k;

		if (engine_set_gain(e, tone, 0.25f + 0.5f * (float)(i % 4)) != 0)
			bad_cmds++;
		if (i % 7 == 0 && engine_set_pan(e, tone, (float)(i % 3) - 1.0f) != 0)
			bad_cmds++;
		if (i % 11 == 0 && engine_set_mute(e, tone, (i / 11) % 5 == 4) != 0)
			bad_cmds++;
		if (i % 16 == 0) {
			/* graph rebuild: add a tone, drop the oldest once four exist */
			if (n_extra == 4) {
				if (engine_remove_node(e, extra[0]) != 0)
					bad_graph++;
				memmove(extra, extra + 1, 3 * sizeof(extra[0]));
				n_extra--;
			}
			if (engine_add_tone(e, "extra", 200.0 + i, -20.0, ENGINE_TO_PUBLISH,
					    &extra[n_extra]) != 0)
				bad_graph++;
			else
				n_extra++;
		}
		if (engine_offline_run(e, PERIOD, NULL, outs) != 0)
			bad_runs++;
		for (k = 0; k < PERIOD; k++)
			if (out[0][k] > peak)
				peak = out[0][k];
		if (i % 500 == 0)
			engine_sync_events(e);
	}
	engine_sync_events(e);
	CHECK(bad_runs == 0, "%d offline cycles ran (%d failed)", ENGINE_CYCLES, bad_runs);
	CHECK(bad_cmds == 0, "gain/pan/mute commands accepted (%d refused)", bad_cmds);
	CHECK(bad_graph == 0, "graph rebuilds accepted (%d refused)", bad_graph);
	CHECK(peak > 0.05f, "the publish bus carries the tone (peak %.3f)", peak);
	engine_get_status(e, &st);
	CHECK(st.cycles >= ENGINE_CYCLES, "engine counted %llu cycles",
	      (unsigned long long)st.cycles);
	CHECK(engine_get_node(e, tone, &info) == 0 && info.kind[0] != '\0',
	      "the probe tone is still in the graph");
	engine_stop(e);
out_destroy:
	engine_destroy(e);
}

/* Main thread: the internal clock's own RT thread for a moment. */
static void run_internal(void)
{
	struct airmix_config cfg;
	struct engine *e = NULL;
	struct engine_status st;
	struct timespec wait = { 0, 300 * 1000000L };
	char err[256] = "";
	uint32_t id;
	int rc;

	config_defaults(&cfg);
	cfg.backend = BACKEND_INTERNAL;
	cfg.sample_rate = 48000;
	cfg.period_frames = 64;
	cfg.tone_enabled = true;
	rc = engine_create(&cfg, NULL, NULL, &e, err, sizeof(err));
	CHECK(rc == 0, "engine_create on the internal clock%s%s", err[0] ? ": " : "", err);
	if (rc)
		return;
	rc = engine_start(e, err, sizeof(err));
	CHECK(rc == 0, "engine_start on the internal clock%s%s", err[0] ? ": " : "", err);
	if (rc == 0) {
		CHECK(engine_add_tone(e, "probe", 440.0, -12.0, ENGINE_TO_PUBLISH, &id) == 0 &&
			      engine_set_gain(e, id, 2.0f) == 0,
		      "add and command a tone while the clock runs");
		nanosleep(&wait, NULL);
		engine_get_status(e, &st);
		CHECK(st.cycles > 50, "the internal clock ran %llu cycles",
		      (unsigned long long)st.cycles);
	}
	engine_destroy(e);
}

/* ------------------------------------------------------------------ */
/* child side: needs the shim */

typedef unsigned long (*violations_fn)(void);
static violations_fn violations;

/* Called through volatile pointers so that the compiler can neither elide a
 * malloc/free pair nor turn printf into puts. */
static void *(*volatile p_malloc)(size_t) = malloc;
static void *(*volatile p_calloc)(size_t, size_t) = calloc;
static void *(*volatile p_realloc)(void *, size_t) = realloc;
static void (*volatile p_free)(void *) = free;
static void *(*volatile p_aligned_alloc)(size_t, size_t) = aligned_alloc;
static int (*volatile p_posix_memalign)(void **, size_t, size_t) = posix_memalign;
static int (*volatile p_printf)(const char *, ...) = printf;
static int (*volatile p_fprintf)(FILE *, const char *, ...) = fprintf;
static int (*volatile p_puts)(const char *) = puts;
static int (*volatile p_fputs)(const char *, FILE *) = fputs;
static size_t (*volatile p_fwrite)(const void *, size_t, size_t, FILE *) = fwrite;

static bool marked;		/* this pass calls inside RT marks */
static unsigned long delta;	/* violations counted by the last PROBE */
static int devnull = -1;
static FILE *devnull_file;
static int sock[2] = { -1, -1 };

#define PROBE(stmt)                                                          \
	do {                                                                 \
		unsigned long before_ = violations();                        \
		if (marked)                                                  \
			rtmark_enter();                                      \
		stmt;                                                        \
		if (marked)                                                  \
			rtmark_leave();                                      \
		delta = violations() - before_;                              \
	} while (0)

static void probe_malloc(void) { void *p; PROBE(p = p_malloc(24)); free(p); }
static void probe_calloc(void) { void *p; PROBE(p = p_calloc(3, 8)); free(p); }
static void probe_realloc(void)
{
	void *p = malloc(8);

	PROBE(p = p_realloc(p, 4096));
	free(p);
}
static void probe_free(void) { void *p = malloc(8); PROBE(p_free(p)); }
static void probe_aligned_alloc(void) { void *p; PROBE(p = p_aligned_alloc(64, 128)); free(p); }
static void probe_posix_memalign(void)
{
	void *p = NULL;

	PROBE(p_posix_memalign(&p, 64, 128));
	free(p);
}

static void probe_mutex_lock(void)
{
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

	PROBE(pthread_mutex_lock(&m));
	pthread_mutex_unlock(&m);
}

static void probe_cond_timedwait(void)
{
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	struct timespec past = { 0, 0 };

	pthread_mutex_lock(&m);
	PROBE(pthread_cond_timedwait(&c, &m, &past));
	pthread_mutex_unlock(&m);
}

static void probe_sem_wait(void)
{
	sem_t s;

	sem_init(&s, 0, 1);
	PROBE(sem_wait(&s));
	sem_destroy(&s);
}

static void probe_nanosleep(void)
{
	struct timespec ts = { 0, 1000 };

	PROBE(nanosleep(&ts, NULL));
}

static void probe_clock_nanosleep(void)
{
	struct timespec ts = { 0, 1000 };

	PROBE(clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL));
}

static void probe_usleep(void) { PROBE(usleep(1)); }
static void probe_poll(void) { PROBE(poll(NULL, 0, 0)); }

static void probe_select(void)
{
	struct timeval tv = { 0, 0 };

	PROBE(select(0, NULL, NULL, NULL, &tv));
}

static void probe_printf(void) { PROBE(p_printf("# probe printf %d\n", 1)); }
static void probe_fprintf(void) { PROBE(p_fprintf(devnull_file, "probe %d\n", 2)); }
static void probe_puts(void) { PROBE(p_puts("# probe puts")); }
static void probe_fputs(void) { PROBE(p_fputs("probe\n", devnull_file)); }
static void probe_fwrite(void) { PROBE(p_fwrite("probe\n", 1, 6, devnull_file)); }

static void probe_fopen(void)
{
	FILE *f;

	PROBE(f = fopen("/dev/null", "r"));
	if (f)
		fclose(f);
}

static void probe_fclose(void)
{
	FILE *f = fopen("/dev/null", "r");

	PROBE(fclose(f));
}

static void probe_open(void)
{
	int fd;

	PROBE(fd = open("/dev/null", O_RDONLY));
	if (fd >= 0)
		close(fd);
}

static void probe_close(void)
{
	int fd = open("/dev/null", O_RDONLY);

	PROBE(close(fd));
}

static void probe_read(void)
{
	char c;

	PROBE((void)!read(devnull, &c, 1));
}

static void probe_write(void) { PROBE((void)!write(devnull, "x", 1)); }
static void probe_fsync(void) { PROBE(fsync(devnull)); }

static void probe_send(void)
{
	char c;

	PROBE(send(sock[0], "x", 1, 0));
	(void)!recv(sock[1], &c, 1, 0);
}

static void probe_recv(void)
{
	char c;

	(void)!send(sock[0], "x", 1, 0);
	PROBE(recv(sock[1], &c, 1, 0));
}

static void probe_mmap(void)
{
	void *p;

	PROBE(p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	if (p != MAP_FAILED)
		munmap(p, 4096);
}

static void probe_munmap(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	PROBE(munmap(p, 4096));
}

/* Allocation inside libc goes through the interposed malloc too. */
static void probe_strdup(void)
{
	char *p;

	PROBE(p = strdup("probe"));
	free(p);
}

/* Allowed in RT: never waits. */
static void probe_mutex_trylock(void)
{
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

	PROBE(pthread_mutex_trylock(&m));
	pthread_mutex_unlock(&m);
}

struct probe {
	const char *name;	/* as the checker names it; NULL = allowed */
	const char *what;
	void (*run)(void);
};

static const struct probe probes[] = {
	{ "malloc", "malloc", probe_malloc },
	{ "calloc", "calloc", probe_calloc },
	{ "realloc", "realloc", probe_realloc },
	{ "free", "free", probe_free },
	{ "aligned_alloc", "aligned_alloc", probe_aligned_alloc },
	{ "posix_memalign", "posix_memalign", probe_posix_memalign },
	{ "pthread_mutex_lock", "pthread_mutex_lock", probe_mutex_lock },
	{ "pthread_cond_timedwait", "pthread_cond_timedwait", probe_cond_timedwait },
	{ "sem_wait", "sem_wait", probe_sem_wait },
	{ "nanosleep", "nanosleep", probe_nanosleep },
	{ "clock_nanosleep", "clock_nanosleep", probe_clock_nanosleep },
	{ "usleep", "usleep", probe_usleep },
	{ "poll", "poll", probe_poll },
	{ "select", "select", probe_select },
	{ "printf", "printf", probe_printf },
	{ "fprintf", "fprintf", probe_fprintf },
	{ "puts", "puts", probe_puts },
	{ "fputs", "fputs", probe_fputs },
	{ "fwrite", "fwrite", probe_fwrite },
	{ "fopen", "fopen", probe_fopen },
	{ "fclose", "fclose", probe_fclose },
	{ "open", "open", probe_open },
	{ "close", "close", probe_close },
	{ "read", "read", probe_read },
	{ "write", "write", probe_write },
	{ "fsync", "fsync", probe_fsync },
	{ "send", "send", probe_send },
	{ "recv", "recv", probe_recv },
	{ "mmap", "mmap", probe_mmap },
	{ "munmap", "munmap", probe_munmap },
	{ "malloc", "strdup (malloc inside libc)", probe_strdup },
	{ NULL, "pthread_mutex_trylock", probe_mutex_trylock },
};

#define N_PROBES (sizeof(probes) / sizeof(probes[0]))

/* Probes run in chunks that stay under the checker's report cap, so that
 * the log names every one of them. */
#define PROBE_CHUNK 16
_Static_assert(PROBE_CHUNK <= REPORT_MAX, "a chunk must fit in the report cap");

static size_t forbidden_probes(size_t first, size_t end)
{
	size_t i, n = 0;

	for (i = first; i < end && i < N_PROBES; i++)
		n += probes[i].name != NULL;
	return n;
}

/* Child: probes [first, end) inside and outside the marks. */
static void child_probe(size_t first, size_t end)
{
	size_t i;

	rtmark_init();
	CHECK(rtmark_active(), "rtmark found the checker's hooks");
	devnull = open("/dev/null", O_RDWR);
	devnull_file = fopen("/dev/null", "w");
	CHECK(devnull >= 0 && devnull_file != NULL, "open /dev/null");
	CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sock) == 0, "socketpair");

	for (i = first; i < end && i < N_PROBES; i++) {
		unsigned long want = probes[i].name ? 1 : 0;

		marked = true;
		probes[i].run();
		CHECK(delta == want, "%s inside RT marks counts %lu violation(s) (got %lu)",
		      probes[i].what, want, delta);
		marked = false;
		probes[i].run();
		CHECK(delta == 0, "%s outside RT marks counts none (got %lu)", probes[i].what,
		      delta);
	}
	fclose(devnull_file);
	close(devnull);
	close(sock[0]);
	close(sock[1]);
}

/* Child: the real engine under the checker. */
static void child_engine(void)
{
	rtmark_init();
	CHECK(rtmark_active(), "rtmark found the checker's hooks");
	run_engine();
	CHECK(violations() == 0,
	      "the engine ran %d cycles with commands and rebuilds and no violation (%lu)",
	      ENGINE_CYCLES, violations());
	run_internal();
	CHECK(violations() == 0, "the internal clock thread made no violation (%lu)",
	      violations());
}

/* RT thread: a source that breaks the rules, allocating every cycle. */
static void render_bad(void *state, float *const *out, uint32_t nframes)
{
	p_free(p_malloc(16));
	memset(out[0], 0, nframes * sizeof(float));
}

/* Child: the checker sees through the engine's RT marks into a bad node. */
static void child_engine_bad(void)
{
	struct airmix_config cfg;
	struct engine_options opts = { .manual_clock = true };
	struct engine *e = NULL;
	char err[256] = "";
	uint32_t id;
	int i, rc;

	config_defaults(&cfg);
	cfg.backend = BACKEND_OFFLINE;
	cfg.period_frames = PERIOD;
	cfg.tone_enabled = false;
	rc = engine_create(&cfg, &opts, NULL, &e, err, sizeof(err));
	CHECK(rc == 0, "engine_create%s%s", err[0] ? ": " : "", err);
	if (rc)
		return;
	rc = engine_start(e, err, sizeof(err));
	CHECK(rc == 0, "engine_start%s%s", err[0] ? ": " : "", err);
	CHECK(engine_add_custom(e, "bad", "custom", 1, ENGINE_TO_PUBLISH, render_bad, NULL, NULL,
				&id) == 0,
	      "add a source that allocates on the RT thread");
	for (i = 0; rc == 0 && i < BAD_CYCLES; i++)
		engine_offline_run(e, PERIOD, NULL, NULL);
	CHECK(violations() == 2 * BAD_CYCLES,
	      "%d cycles of it count %d violations (malloc and free each cycle): %lu",
	      BAD_CYCLES, 2 * BAD_CYCLES, violations());
	engine_destroy(e);
}

/* Child: more violations than the report cap. */
static void child_cap(void)
{
	int i;

	rtmark_init();
	for (i = 0; i < CAP_CALLS; i++) {
		void *p;

		rtmark_enter();
		p = p_malloc(16);
		rtmark_leave();
		free(p);
	}
	CHECK(violations() == CAP_CALLS, "%d violations counted (%lu)", CAP_CALLS, violations());
}

/* Child: AIRMIX_RTCHECK_ABORT=1 aborts at the first violation. */
static void child_abort(void)
{
	void *p;

	rtmark_init();
	rtmark_enter();
	p = p_malloc(16);
	rtmark_leave();
	free(p);
	CHECK(0, "still alive after a violation with AIRMIX_RTCHECK_ABORT=1");
}

static void *quiet_thread(void *arg)
{
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	int i;

	for (i = 0; i < 1000; i++) {
		char *p = malloc((size_t)(i % 100) + 1);

		pthread_mutex_lock(&m);
		snprintf(p, (size_t)(i % 100) + 1, "%d", i);
		pthread_mutex_unlock(&m);
		free(p);
	}
	return arg;
}

/* Child: a program that never marks anything works and reports nothing. */
static void child_quiet(void)
{
	pthread_t t[4];
	int i, ok = 0;

	for (i = 0; i < 4; i++)
		ok += pthread_create(&t[i], NULL, quiet_thread, NULL) == 0;
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK(ok == 4, "threads ran under the checker");
	CHECK(violations() == 0, "no violations without marks (%lu)", violations());
}

static int child_main(const char *mode)
{
	void *sym = dlsym(RTLD_DEFAULT, "airmix_rtcheck_violations");
	size_t first;

	alarm(CHILD_TIMEOUT_S);
	if (!sym) {
		CHECK(0, "librtcheck.so is preloaded (airmix_rtcheck_violations found)");
		return CHECK_DONE();
	}
	*(void **)&violations = sym;
	if (sscanf(mode, "probe:%zu", &first) == 1)
		child_probe(first, first + PROBE_CHUNK);
	else if (strcmp(mode, "engine") == 0)
		child_engine();
	else if (strcmp(mode, "engine-bad") == 0)
		child_engine_bad();
	else if (strcmp(mode, "cap") == 0)
		child_cap();
	else if (strcmp(mode, "abort") == 0)
		child_abort();
	else if (strcmp(mode, "quiet") == 0)
		child_quiet();
	else
		CHECK(0, "unknown child mode %s", mode);
	return CHECK_DONE();
}

/* ------------------------------------------------------------------ */
/* parent side */

/* Runs this binary again with the shim preloaded; relays its check lines and
 * adds its totals. Returns the raw wait status, or -1. */
static int run_child(const char *mode, const char *shim, const char *log, bool abort_env)
{
	int fds[2], status = -1;
	pid_t pid;
	FILE *in;
	char line[1024];

	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		char *argv[] = { (char *)"test_rtcheck", NULL };

		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		setenv("LD_PRELOAD", shim, 1);
		setenv("AIRMIX_RTCHECK_LOG", log, 1);
		setenv(CHILD_ENV, mode, 1);
		if (abort_env)
			setenv("AIRMIX_RTCHECK_ABORT", "1", 1);
		else
			unsetenv("AIRMIX_RTCHECK_ABORT");
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	while (in && fgets(line, sizeof(line), in)) {
		int p, f;

		if (sscanf(line, "# passed %d failed %d", &p, &f) == 2) {
			check_passed_ += p;
			check_failed_ += f;
			printf("# child %s: passed %d failed %d\n", mode, p, f);
		} else {
			printf("%s", line);
		}
	}
	if (in)
		fclose(in);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	fflush(stdout);
	return status;
}

/* Parent: the whole of a small file as a string ("" when missing). */
static char *slurp(const char *path)
{
	static char buf[1 << 20];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (!f)
		return buf;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

static bool make_log(char *path, size_t len)
{
	int fd;

	snprintf(path, len, "/tmp/airmix-rtcheck.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Parent: one chunk of probes; the log must name each forbidden call once
 * and total exactly the forbidden calls made. */
static void parent_probe(const char *shim, size_t first)
{
	char log[64], mode[32], want[128], total[64];
	size_t i, end = first + PROBE_CHUNK < N_PROBES ? first + PROBE_CHUNK : N_PROBES;
	const char *text;
	int st;

	CHECK(make_log(log, sizeof(log)), "create a log file");
	snprintf(mode, sizeof(mode), "probe:%zu", first);
	st = run_child(mode, shim, log, false);
	CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "%s child exited with status 0 (wait status %d)", mode, st);
	text = slurp(log);
	for (i = first; i < end; i++) {
		if (!probes[i].name)
			continue;
		snprintf(want, sizeof(want), "rtcheck: violation: %s in RT thread\n",
			 probes[i].name);
		CHECK(count_of(text, want) == 1, "the log names %s once", probes[i].name);
	}
	CHECK(strstr(text, "trylock") == NULL, "the log does not name trylock");
	CHECK(strstr(text, "test_rtcheck(") != NULL, "the log holds backtraces into the test");
	snprintf(total, sizeof(total), "rtcheck: %zu violations\n", forbidden_probes(first, end));
	CHECK(strstr(text, total) != NULL, "the exit total is the %zu forbidden calls made",
	      forbidden_probes(first, end));
	unlink(log);
}

/* Parent: the engine under the checker; the log must stay empty. */
static void parent_engine(const char *shim)
{
	char log[64];
	const char *text;
	int st;

	CHECK(make_log(log, sizeof(log)), "create a log file");
	st = run_child("engine", shim, log, false);
	CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "engine child exited with status 0 (wait status %d)", st);
	text = slurp(log);
	CHECK(text[0] == '\0', "the checker reported nothing for the engine%s%.600s",
	      text[0] ? ":\n" : "", text);
	unlink(log);
}

/* Parent: a rule-breaking source inside the engine is caught and named. */
static void parent_engine_bad(const char *shim)
{
	char log[64], total[64];
	const char *text;
	int st;

	CHECK(make_log(log, sizeof(log)), "create a log file");
	st = run_child("engine-bad", shim, log, false);
	CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "engine-bad child exited with status 0 (wait status %d)", st);
	text = slurp(log);
	CHECK(count_of(text, "rtcheck: violation: malloc in RT thread\n") == BAD_CYCLES &&
		      count_of(text, "rtcheck: violation: free in RT thread\n") == BAD_CYCLES,
	      "the log names malloc and free %d times each", BAD_CYCLES);
	snprintf(total, sizeof(total), "rtcheck: %d violations\n", 2 * BAD_CYCLES);
	CHECK(strstr(text, total) != NULL, "the exit total is %d", 2 * BAD_CYCLES);
	unlink(log);
}

static void parent_cap(const char *shim)
{
	char log[64], total[64];
	const char *text;
	int st;

	CHECK(make_log(log, sizeof(log)), "create a log file");
	st = run_child("cap", shim, log, false);
	CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "cap child exited with 0");
	text = slurp(log);
	CHECK(count_of(text, "rtcheck: violation: malloc in RT thread\n") == REPORT_MAX,
	      "only the first %d violations are written (%zu)", REPORT_MAX,
	      count_of(text, "rtcheck: violation:"));
	snprintf(total, sizeof(total), "rtcheck: %d violations\n", CAP_CALLS);
	CHECK(strstr(text, total) != NULL, "the exit total counts all %d", CAP_CALLS);
	unlink(log);
}

static void parent_abort(const char *shim)
{
	char log[64];
	int st;

	CHECK(make_log(log, sizeof(log)), "create a log file");
	st = run_child("abort", shim, log, true);
	CHECK(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
	      "AIRMIX_RTCHECK_ABORT=1 aborts at the first violation (wait status %d)", st);
	CHECK(strstr(slurp(log), "rtcheck: violation: malloc in RT thread\n") != NULL,
	      "the aborting violation is reported first");
	unlink(log);
}

static void parent_quiet(const char *shim)
{
	char log[64];
	int st;

	CHECK(make_log(log, sizeof(log)), "create a log file");
	st = run_child("quiet", shim, log, false);
	CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "a program that never marks runs normally under the checker");
	CHECK(slurp(log)[0] == '\0', "and the checker writes nothing");
	unlink(log);
}

/* Parent: <dir of this binary>/../librtcheck.so */
static bool find_shim(char *out, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return false;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return false;
	*slash = '\0';
	snprintf(out, len, "%s/../librtcheck.so", exe);
	return true;
}

int main(void)
{
	const char *mode = getenv(CHILD_ENV);
	char shim[PATH_MAX + 32] = "";
	size_t first;

	if (mode)
		return child_main(mode);
	if (SANITIZED) {
		printf("# sanitizer build: the shim cannot be preloaded, engine part only\n");
		rtmark_init();
		CHECK(!rtmark_active(), "no checker hooks without the shim");
		run_engine();
		run_internal();
		return CHECK_DONE();
	}
	CHECK(find_shim(shim, sizeof(shim)) && access(shim, R_OK) == 0,
	      "librtcheck.so exists next to the tests (%s; build it with make tests-build)",
	      shim);
	if (check_failed_)
		return CHECK_DONE();
	for (first = 0; first < N_PROBES; first += PROBE_CHUNK)
		parent_probe(shim, first);
	parent_engine(shim);
	parent_engine_bad(shim);
	parent_cap(shim);
	parent_abort(shim);
	parent_quiet(shim);
	return CHECK_DONE();
}
