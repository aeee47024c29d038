/* bench_push.c - CPU and memory of CDN push tasks, pushing to real local
 * servers: nginx with the RTMP module and icecast2, started here on free
 * 127.0.0.1 ports from temporary configurations and stopped by PID (the
 * servers' own CPU is not counted: they are other processes).
 *
 * The programme is noise at -20 dBFS on the publish bus (the hardest case
 * for an encoder), from the offline clock paced to real time by the main
 * thread. Figures:
 *   - CPU per task: N tasks of one kind (AAC-LC 48 kHz stereo 64 kb/s to
 *     RTMP, Opus 48 kHz stereo 64 kb/s to Icecast) for CPU_SECONDS: the
 *     process CPU time minus the main (clock) thread's, per task, as % of
 *     one core;
 *   - memory per task: the growth of RSS from before the tasks start to
 *     after they have pushed for a while, per task;
 *   - memory growth: N AAC and N Opus tasks for AIRMIX_BENCH_PUSH_SECONDS
 *     (default 60; 3600 for the hour-long figure), RSS sampled every 5 s
 *     after a 10 s warm-up, the least-squares slope extrapolated to MB per
 *     hour (target < 1 MB/h).
 * A row whose server is missing (nginx or its RTMP module, icecast2) says so
 * and is skipped.
 *
 * Threads: the main thread drives the clock; the push tasks run on their own
 * threads.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "engine/config.h"
#include "engine/engine.h"
#include "bench.h"
#include "offline.h"
#include "recorder/push.h"

#define RATE 48000
#define PERIOD 256
#define TASKS 4
#define CPU_SECONDS 15
#define WARMUP_SECONDS 10
#define SAMPLE_SECONDS 5
#define MAX_SAMPLES 1024
#define RTMP_MODULE "/usr/lib/nginx/modules/ngx_rtmp_module.so"

struct server {
	pid_t pid;
	int port;
};

static char dir[64];

/* ---- the servers */

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	if (fd < 0)
		return 0;
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int ok = f && fputs(text, f) >= 0;

	if (f && fclose(f))
		ok = 0;
	return ok ? 0 : -1;
}

/* Starts argv with its output in log; waits up to 10 s for the port. */
static int spawn(struct server *s, char *const argv[], const char *log)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		FILE *f = freopen(log, "a", stdout);

		if (f)
			dup2(fileno(f), STDERR_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	s->pid = pid;
	for (int i = 0; i < 200; i++) {
		if (port_open(s->port))
			return 0;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			s->pid = 0;
			return -1;
		}
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	s->pid = 0;
	return -1;
}

static void server_stop(struct server *s)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	for (int i = 0; i < 100 && waitpid(s->pid, NULL, WNOHANG) == 0; i++)
		usleep(50000);
	if (waitpid(s->pid, NULL, WNOHANG) == 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	s->pid = 0;
}

static int nginx_start(struct server *s)
{
	char conf[1024], path[128], log[128];
	char *argv[] = { "nginx", "-p", dir, "-e", log, "-c", path, "-g",
			 "daemon off; master_process off;", NULL };

	if (access(RTMP_MODULE, R_OK))
		return -1;
	s->port = free_port();
	snprintf(path, sizeof(path), "%s/nginx.conf", dir);
	snprintf(log, sizeof(log), "%s/nginx.log", dir);
	snprintf(conf, sizeof(conf),
		 "load_module %s;\nerror_log %s warn;\npid %s/nginx.pid;\n"
		 "events { worker_connections 256; }\n"
		 "rtmp { server { listen 127.0.0.1:%d; application live { live on; record off; } } }\n",
		 RTMP_MODULE, log, dir, s->port);
	if (write_file(path, conf))
		return -1;
	return spawn(s, argv, log);
}

static int icecast_start(struct server *s)
{
	char conf[2048], path[128], logdir[128], log[160];
	char *argv[] = { "icecast2", "-c", path, NULL };
	int root = geteuid() == 0;

	s->port = free_port();
	snprintf(path, sizeof(path), "%s/icecast.xml", dir);
	snprintf(logdir, sizeof(logdir), "%s/log", dir);
	snprintf(log, sizeof(log), "%s/icecast.out", dir);
	if (mkdir(logdir, 0777) && errno != EEXIST)
		return -1;
	if (root && (chmod(dir, 0755) || chmod(logdir, 0777)))
		return -1;
	snprintf(conf, sizeof(conf),
		 "<icecast><location>bench</location><admin>bench@localhost</admin>\n"
		 "<limits><clients>100</clients><sources>64</sources>"
		 "<queue-size>524288</queue-size><client-timeout>30</client-timeout>"
		 "<header-timeout>15</header-timeout><source-timeout>10</source-timeout>"
		 "<burst-size>65535</burst-size></limits>\n"
		 "<authentication><source-password>bench</source-password>"
		 "<admin-user>admin</admin-user><admin-password>bench-admin</admin-password>"
		 "</authentication>\n<hostname>127.0.0.1</hostname>\n"
		 "<listen-socket><port>%d</port><bind-address>127.0.0.1</bind-address>"
		 "</listen-socket>\n"
		 "<paths><basedir>/usr/share/icecast2</basedir><logdir>%s</logdir>"
		 "<webroot>/usr/share/icecast2/web</webroot>"
		 "<adminroot>/usr/share/icecast2/admin</adminroot></paths>\n"
		 "<logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog>"
		 "<loglevel>1</loglevel></logging>\n"
		 "<security><chroot>0</chroot>%s</security></icecast>\n",
		 s->port, logdir, root ? "<changeowner><user>icecast2</user>"
		 "<group>icecast</group></changeowner>" : "");
	if (write_file(path, conf) || chmod(path, 0644))
		return -1;
	return spawn(s, argv, log);
}

/* ---- the runs */

static struct engine *make_engine(void)
{
	static struct bench_noise noise = { 1 };
	struct airmix_config cfg;
	struct engine_options opts = { .manual_clock = true };
	struct engine *e = NULL;
	char err[256];
	uint32_t id;

	offline_config(&cfg, RATE, PERIOD);
	if (engine_create(&cfg, &opts, NULL, &e, err, sizeof(err)) < 0 ||
	    engine_start(e, err, sizeof(err)) < 0 ||
	    engine_add_custom(e, "noise", "bench", 1, ENGINE_TO_PUBLISH, bench_noise_render, NULL, &noise,
			      &id) < 0) {
		fprintf(stderr, "bench: %s\n", err);
		engine_destroy(e);
		return NULL;
	}
	return e;
}

static struct push_params rtmp_params(const struct server *s, int i)
{
	struct push_params p = { .kind = PUSH_RTMP, .sample_rate = 48000, .channels = 2,
				 .bitrate_kbps = 64 };

	snprintf(p.url, sizeof(p.url), "rtmp://127.0.0.1:%d/live/bench%d", s->port, i);
	return p;
}

static struct push_params icecast_params(const struct server *s, int i)
{
	struct push_params p = { .kind = PUSH_ICECAST, .sample_rate = 48000, .channels = 2,
				 .bitrate_kbps = 64, .port = s->port };

	snprintf(p.host, sizeof(p.host), "127.0.0.1");
	snprintf(p.mount, sizeof(p.mount), "/bench%d.ogg", i);
	snprintf(p.password, sizeof(p.password), "bench");
	return p;
}

/* Runs the clock for seconds, paced to real time; with samples, RSS every
 * SAMPLE_SECONDS after the warm-up into t[] / mb[]. */
static void run_clock(struct engine *e, double seconds, double *t, double *mb, int *n)
{
	double start = bench_now(CLOCK_MONOTONIC), next = start + WARMUP_SECONDS;

	for (uint64_t done = 0; done < (uint64_t)(RATE * seconds); done += PERIOD) {
		engine_offline_run(e, PERIOD, NULL, NULL);
		bench_sleep_until(start + (double)(done + PERIOD) / RATE);
		if (n && *n < MAX_SAMPLES && bench_now(CLOCK_MONOTONIC) >= next) {
			t[*n] = bench_now(CLOCK_MONOTONIC) - start;
			mb[(*n)++] = bench_rss_mb();
			next += SAMPLE_SECONDS;
		}
	}
}

/* Starts n tasks of each kind whose server runs; the number started. */
static int start_tasks(struct push *p, const struct server *rtmp, const struct server *ice,
		       int n, int first)
{
	char id[32], msg[256];
	int started = 0;

	for (int i = 0; i < n; i++) {
		struct push_params prm;

		if (rtmp) {
			prm = rtmp_params(rtmp, first + i);
			snprintf(id, sizeof(id), "rtmp%d", first + i);
			if (push_start(p, id, &prm, NULL, msg, sizeof(msg)) == PUSH_ERR_OK)
				started++;
		}
		if (ice) {
			prm = icecast_params(ice, first + i);
			snprintf(id, sizeof(id), "ice%d", first + i);
			if (push_start(p, id, &prm, NULL, msg, sizeof(msg)) == PUSH_ERR_OK)
				started++;
		}
	}
	return started;
}

/* Tasks pushing (connected at least once and nothing failed since). */
static int pushing(struct push *p)
{
	char ids[64][PUSH_TASK_ID_MAX + 1];
	struct push_status st;
	size_t n = push_list(p, ids, 64);
	int ok = 0;

	for (size_t i = 0; i < n && i < 64; i++)
		if (!push_get_status(p, ids[i], &st) && st.state == PUSH_STATE_PUSHING)
			ok++;
	return ok;
}

static void cpu_row(const char *what, const struct server *rtmp, const struct server *ice)
{
	struct push_config pc = { .max_tasks = 64, .ring_ms = 2000, .timeout_ms = 5000,
				  .backoff_min_ms = 250, .backoff_max_ms = 2000 };
	struct engine *e = make_engine();
	struct push *p = NULL;
	double rss0, cpu0, main0, cpu, ok;
	int n;

	if (!e || push_create(e, &pc, &p) < 0) {
		printf("%-34s failed to start\n", what);
		goto out;
	}
	run_clock(e, 1, NULL, NULL, NULL);
	rss0 = bench_rss_mb();
	n = start_tasks(p, rtmp, ice, TASKS, 0);
	run_clock(e, 3, NULL, NULL, NULL);	/* connect, encoders warm */
	cpu0 = bench_now(CLOCK_PROCESS_CPUTIME_ID);
	main0 = bench_now(CLOCK_THREAD_CPUTIME_ID);
	run_clock(e, CPU_SECONDS, NULL, NULL, NULL);
	cpu = bench_now(CLOCK_PROCESS_CPUTIME_ID) - cpu0 - (bench_now(CLOCK_THREAD_CPUTIME_ID) - main0);
	ok = pushing(p);
	printf("%-34s %5d %8.0f %12.2f %% %12.2f MB\n", what, n, ok,
	       n ? cpu / CPU_SECONDS / n * 100 : 0.0, n ? (bench_rss_mb() - rss0) / n : 0.0);
out:
	push_destroy(p);
	engine_destroy(e);
}

/* Least-squares slope of mb over t, in MB per second. */
static double slope(const double *t, const double *mb, int n)
{
	double st = 0, sm = 0, stt = 0, stm = 0;

	for (int i = 0; i < n; i++) {
		st += t[i];
		sm += mb[i];
		stt += t[i] * t[i];
		stm += t[i] * mb[i];
	}
	return n > 1 ? (n * stm - st * sm) / (n * stt - st * st) : 0;
}

static void growth_row(const struct server *rtmp, const struct server *ice, double seconds)
{
	struct push_config pc = { .max_tasks = 64, .ring_ms = 2000, .timeout_ms = 5000,
				  .backoff_min_ms = 250, .backoff_max_ms = 2000 };
	static double t[MAX_SAMPLES], mb[MAX_SAMPLES];
	struct engine *e = make_engine();
	struct push *p = NULL;
	int n = 0, tasks;
	double mbh;

	if (!e || push_create(e, &pc, &p) < 0) {
		printf("growth run failed to start\n");
		goto out;
	}
	tasks = start_tasks(p, rtmp, ice, TASKS, 100);
	run_clock(e, seconds, t, mb, &n);
	mbh = slope(t, mb, n) * 3600;
	printf("memory growth, %d tasks (%d pushing) for %.0f s: RSS %.1f -> %.1f MB, slope "
	       "%+.3f MB/h for all, %+.4f MB/h per task (target < 1 MB/h: %s)\n", tasks,
	       pushing(p), seconds, n ? mb[0] : 0.0, n ? mb[n - 1] : 0.0, mbh,
	       tasks ? mbh / tasks : 0.0, n > 1 && mbh < 1.0 ? "met" : "NOT met");
out:
	push_destroy(p);
	engine_destroy(e);
}

int main(void)
{
	const char *env = getenv("AIRMIX_BENCH_PUSH_SECONDS");
	double seconds = env ? atof(env) : 60;
	struct server rtmp = { 0 }, ice = { 0 };
	char cmd[128];
	int have_rtmp, have_ice;

	if (seconds < WARMUP_SECONDS + 2 * SAMPLE_SECONDS)
		seconds = WARMUP_SECONDS + 2 * SAMPLE_SECONDS;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(dir, sizeof(dir), "/tmp/airmix-bench-push-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	have_rtmp = nginx_start(&rtmp) == 0;
	have_ice = icecast_start(&ice) == 0;
	printf("bench_push: push tasks to local servers (nginx-rtmp %s, icecast2 %s), noise "
	       "on the publish bus, offline clock paced to real time\n",
	       have_rtmp ? "running" : "MISSING", have_ice ? "running" : "MISSING");
	printf("%-34s %5s %8s %14s %15s\n", "tasks", "n", "pushing", "CPU per task",
	       "RSS per task");
	if (have_rtmp)
		cpu_row("rtmp aac-lc 48 kHz stereo 64 kb/s", &rtmp, NULL);
	if (have_ice)
		cpu_row("icecast opus 48 kHz stereo 64 kb/s", NULL, &ice);
	if (have_rtmp || have_ice)
		growth_row(have_rtmp ? &rtmp : NULL, have_ice ? &ice : NULL, seconds);
	server_stop(&rtmp);
	server_stop(&ice);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: cannot remove %s\n", dir);
	return 0;
}
