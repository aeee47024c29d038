/* stallwatch.c - a witness of machine stalls, for the suites that assert
 * zero xruns on a virtual machine.
 *
 * On the VMs the suites run on, a vCPU is now and then held back by the
 * host (steal) or by interrupt work for several milliseconds, and the
 * guest charges that time to whichever thread was running, CPU clock
 * included: a fixed 150 us workload paced like a JACK cycle measured up to
 * 4 ms of thread CPU time here. Such a cycle is late through no work of
 * airmix's. This witness sees those stalls independently: one SCHED_FIFO
 * thread pinned to each online CPU sleeps SLEEP_US at a time (no ordinary
 * thread can delay a FIFO thread's wake-up; only the machine can) and
 * prints every wake-up later than STALL_US after it went to sleep:
 *
 *   stall CPU BEGAN ENDED      (CLOCK_REALTIME seconds, to the microsecond)
 *
 * The first line is "fifo yes" or "fifo no": without SCHED_FIFO a late
 * wake-up may be ordinary preemption, so the suites excuse nothing then.
 * Runs until SIGTERM or SIGINT, or until its parent (the suite) exits;
 * output is line-buffered.
 *
 * Usage: stallwatch OUTFILE
 *
 * Threads: main waits for a signal; one watcher per CPU.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define SLEEP_US 1000
#define STALL_US 2000
#define MAX_CPUS 256
#define FIFO_PRIORITY 90	/* above JACK's and airmix's realtime threads */

static FILE *out;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Watcher thread: pinned to its CPU, FIFO when set up so by main. */
static void *watch(void *arg)
{
	const long cpu = (long)(intptr_t)arg;
	const struct timespec nap = { .tv_nsec = SLEEP_US * 1000L };

	for (;;) {
		int64_t began = realtime_us(), ended;

		while (nanosleep(&nap, NULL) < 0 && errno == EINTR)
			;
		ended = realtime_us();
		if (ended - began < STALL_US)
			continue;
		pthread_mutex_lock(&out_lock);
		fprintf(out, "stall %ld %lld.%06lld %lld.%06lld\n", cpu,
			(long long)(began / 1000000), (long long)(began % 1000000),
			(long long)(ended / 1000000), (long long)(ended % 1000000));
		pthread_mutex_unlock(&out_lock);
	}
	return NULL;
}

/* Main: a FIFO thread pinned to cpu; false when FIFO was refused. */
static int start_watcher(long cpu, bool *fifo)
{
	pthread_attr_t attr;
	struct sched_param param = { .sched_priority = FIFO_PRIORITY };
	cpu_set_t set;
	pthread_t t;
	int err;

	CPU_ZERO(&set);
	CPU_SET((int)cpu, &set);
	pthread_attr_init(&attr);
	pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
	pthread_attr_setschedparam(&attr, &param);
	err = pthread_create(&t, &attr, watch, (void *)(intptr_t)cpu);
	if (err == EPERM) {
		*fifo = false;
		pthread_attr_setinheritsched(&attr, PTHREAD_INHERIT_SCHED);
		err = pthread_create(&t, &attr, watch, (void *)(intptr_t)cpu);
	}
	pthread_attr_destroy(&attr);
	return err;
}

int main(int argc, char **argv)
{
	long n_cpus = sysconf(_SC_NPROCESSORS_ONLN);
	bool fifo = true;
	sigset_t stop;
	int sig;

	if (argc != 2) {
		fprintf(stderr, "usage: stallwatch OUTFILE\n");
		return 2;
	}
	out = fopen(argv[1], "w");
	if (!out) {
		fprintf(stderr, "stallwatch: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	setvbuf(out, NULL, _IOLBF, 0);
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);	/* inherited by the watchers */
	/* a suite that dies without stopping us must not leave us running */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() == 1)
		return 1;
	if (n_cpus < 1 || n_cpus > MAX_CPUS)
		n_cpus = 1;
	/* Decide FIFO on the first CPU, so that the first line comes first. */
	pthread_mutex_lock(&out_lock);
	for (long cpu = 0; cpu < n_cpus; cpu++) {
		int err = start_watcher(cpu, &fifo);

		if (err) {
			fprintf(stderr, "stallwatch: cpu %ld: %s\n", cpu, strerror(err));
			return 1;
		}
	}
	fprintf(out, "fifo %s\n", fifo ? "yes" : "no");
	pthread_mutex_unlock(&out_lock);
	sigwait(&stop, &sig);
	pthread_mutex_lock(&out_lock);
	fclose(out);
	return 0;
}
