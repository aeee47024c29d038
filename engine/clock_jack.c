/* clock_jack.c - the JACK clock backend: airmix as a JACK client.
 *
 * Ports: publish_L, publish_R, playout_L, playout_R (outputs) and in_1..in_N
 * (inputs, N = [jack] inputs). Optional auto-connect patterns are regular
 * expressions handed to jack_get_ports(): our four outputs go, in order, to
 * the matching input ports and in_k takes the k-th matching output port;
 * our own ports never match.
 *
 * DESIGN
 * JACK's own process thread runs the engine: jack_process() fetches the port
 * buffers (jack_port_get_buffer, RT-safe) and calls host->process once per
 * cycle; the backend creates no audio thread of its own. The buffer size
 * and sample rate callbacks run on JACK's notification thread and go
 * straight to host->format.
 *
 * Xruns: JACK's xrun callback fires for every xrun in the graph, the
 * driver's own included (a dummy driver that is not realtime wakes late now
 * and then, and on a busy machine a non-realtime client thread is preempted
 * whoever caused it). Those are logged (at most one line per 10 s), not
 * counted. host->xrun counts airmix's own: cycles whose own time exceeded
 * the period. With a realtime server that time is wall time (nothing of
 * lower priority can preempt us, so a long cycle is our work or our
 * blocking); without one it is the smaller of the wall time and the
 * thread's CPU time: preemption inflates the first, and on a VM the second
 * jumps now and then (a cycle of 38 us wall time was charged 4.6 ms of CPU
 * around a preemption here), while our own work can exceed neither. Both
 * are read with clock_gettime, which never blocks.
 *
 * When the server goes away, JACK calls
 * jack_shutdown() from one of its threads; that callback only copies the
 * reason, sets a flag and posts a semaphore (both async-signal-safe). The
 * supervisor thread, started in start() and joined in stop(), waits on that
 * semaphore, closes the dead client, reports host->lost, and then tries to
 * open a new client every [jack] reconnect_ms (never starting a server):
 * same name, same ports, host->format with the new server's rate and
 * period, activate, reconnect the patterns, host->restored. The engine keeps
 * its graph meanwhile; only the clock pauses.
 *
 * Threads: open/start/stop/close and clock_jack_server_running on the
 * control thread; jack_process on JACK's process thread; the other JACK
 * callbacks on JACK's notification threads; jack_supervise on the
 * supervisor thread, which owns b->client while it runs.
 */
#include "clock.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <jack/jack.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JACK_REASON_MAX 256
#define JACK_XRUN_LOG_S 10

static const char *const jack_output_names[CLOCK_OUT_COUNT] = {
	"publish_L", "publish_R", "playout_L", "playout_R",
};

struct clock_backend {
	struct clock_host host;
	char client_name[CONFIG_STR_MAX];
	char server_name[CONFIG_STR_MAX];
	char connect_outputs[CONFIG_STR_MAX];
	char connect_inputs[CONFIG_STR_MAX];
	int reconnect_ms;
	uint32_t n_inputs;

	jack_client_t *client;
	bool active;
	jack_port_t *out_ports[CLOCK_OUT_COUNT];
	jack_port_t *in_ports[CLOCK_MAX_INPUTS];
	/* Filled by jack_process for the engine: RT thread only. */
	const float *in_bufs[CLOCK_MAX_INPUTS];
	float *out_bufs[CLOCK_OUT_COUNT];
	/* Format last handed to host->format. */
	_Atomic uint32_t rate;
	_Atomic uint32_t period;
	/* How our own time per cycle is measured (set before activation). */
	bool cpu_clock;		/* not realtime: our time is min(wall, thread CPU) */
	/* JACK notification thread only. */
	unsigned long graph_xruns;
	bool graph_xruns_logged;
	time_t xrun_log_s;

	pthread_t supervisor;
	bool supervising;
	sem_t wake;
	atomic_bool quit;
	atomic_bool server_gone;
	char gone_reason[JACK_REASON_MAX];
};

/* JACK reports through process-wide handlers. Its messages go to the debug
 * log: what an operator needs (no server, lost server and why, refused
 * connections) is logged or reported by this file in its own words. While
 * anything probes or reconnects, even debug stays quiet: "cannot connect to
 * server" is expected then. */
static atomic_int jack_quiet;

/* Any non-RT thread (JACK calls it from its own threads too). */
static void jack_log(const char *msg)
{
	if (atomic_load_explicit(&jack_quiet, memory_order_relaxed) == 0)
		log_msg(LOG_DEBUG, "jack: %s", msg);
}

/* Control thread: installs the handlers (again: they are process-wide). */
static void jack_install_log(void)
{
	jack_set_error_function(jack_log);
	jack_set_info_function(jack_log);
}

/* Control or supervisor thread: around calls that may fail to connect. */
static void jack_quiet_push(void)
{
	atomic_fetch_add(&jack_quiet, 1);
}

/* Control or supervisor thread. */
static void jack_quiet_pop(void)
{
	atomic_fetch_sub(&jack_quiet, 1);
}

/* Control or supervisor thread. */
static jack_client_t *jack_open_client(const char *name, const char *server,
				       jack_status_t *status)
{
	jack_options_t opts = JackNoStartServer;

	if (server[0]) {
		opts |= JackServerName;
		return jack_client_open(name, opts, status, server);
	}
	return jack_client_open(name, opts, status);
}

/* Control thread: see clock.h. Never starts a server, prints nothing. */
bool clock_jack_server_running(const struct airmix_config *cfg)
{
	jack_status_t status;
	jack_client_t *c;

	jack_install_log();
	jack_quiet_push();
	c = jack_open_client("airmix-probe", cfg->jack_server_name, &status);
	if (c)
		jack_client_close(c);
	jack_quiet_pop();
	return c != NULL;
}

/* JACK process thread: nanoseconds on a clock (never blocks). */
static inline int64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* JACK process thread: RT-safe, only port buffers, a clock read and the
 * engine. A cycle whose own time exceeds the period is an airmix xrun. */
static int jack_process(jack_nframes_t nframes, void *arg)
{
	struct clock_backend *b = arg;
	const bool cpu = b->cpu_clock;
	int64_t wall0 = clock_ns(CLOCK_MONOTONIC), cpu0 = cpu ? clock_ns(CLOCK_THREAD_CPUTIME_ID) : 0;
	int64_t took, wall;
	struct clock_io io;
	uint32_t i;

	for (i = 0; i < b->n_inputs; i++)
		b->in_bufs[i] = jack_port_get_buffer(b->in_ports[i], nframes);
	for (i = 0; i < CLOCK_OUT_COUNT; i++)
		b->out_bufs[i] = jack_port_get_buffer(b->out_ports[i], nframes);
	io.nframes = nframes;
	io.n_inputs = b->n_inputs;
	io.inputs = b->in_bufs;
	io.outputs = b->out_bufs;
	b->host.process(b->host.user, &io);
	took = wall = clock_ns(CLOCK_MONOTONIC) - wall0;
	if (cpu) {
		int64_t cpu_took = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;

		took = cpu_took < took ? cpu_took : took;
	}
	if (took * (int64_t)atomic_load_explicit(&b->rate, memory_order_relaxed) >
	    (int64_t)nframes * 1000000000)
		b->host.xrun(b->host.user, took, wall);
	return 0;
}

/* JACK notification thread: an xrun anywhere in the graph (see DESIGN);
 * logged at most once per JACK_XRUN_LOG_S, never counted here. */
static int jack_xrun(void *arg)
{
	struct clock_backend *b = arg;
	struct timespec ts;

	b->graph_xruns++;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (b->graph_xruns_logged && ts.tv_sec - b->xrun_log_s < JACK_XRUN_LOG_S)
		return 0;
	log_msg(LOG_INFO, "jack: xrun in the jack graph (%lu so far, not counted as airmix's)",
		b->graph_xruns);
	b->graph_xruns_logged = true;
	b->xrun_log_s = ts.tv_sec;
	return 0;
}

/* JACK notification thread, or the control/supervisor thread before
 * activation. Tells the host only about real changes. */
static int jack_set_format(struct clock_backend *b, uint32_t rate, uint32_t period)
{
	if (atomic_load(&b->rate) == rate && atomic_load(&b->period) == period)
		return 0;
	if (b->host.format(b->host.user, rate, period) < 0)
		return -EINVAL;
	atomic_store(&b->rate, rate);
	atomic_store(&b->period, period);
	return 0;
}

/* JACK notification thread; JACK also calls both format callbacks while
 * they are being set and at activation, before jack_activate_client has
 * told the host (rate and period still 0): those calls are ignored. */
static int jack_buffer_size(jack_nframes_t nframes, void *arg)
{
	struct clock_backend *b = arg;

	if (atomic_load(&b->rate) == 0)
		return 0;
	return jack_set_format(b, atomic_load(&b->rate), nframes) < 0 ? 1 : 0;
}

/* JACK notification thread. */
static int jack_sample_rate(jack_nframes_t rate, void *arg)
{
	struct clock_backend *b = arg;

	if (atomic_load(&b->period) == 0)
		return 0;
	return jack_set_format(b, rate, atomic_load(&b->period)) < 0 ? 1 : 0;
}

/* A JACK thread, as if in a signal handler: copy, flag, post. */
static void jack_shutdown(jack_status_t code, const char *reason, void *arg)
{
	struct clock_backend *b = arg;
	size_t i;

	(void)code;
	if (atomic_load(&b->server_gone))
		return;
	for (i = 0; reason && reason[i] && i + 1 < sizeof(b->gone_reason); i++)
		b->gone_reason[i] = reason[i];
	b->gone_reason[i] = '\0';
	atomic_store_explicit(&b->server_gone, true, memory_order_release);
	sem_post(&b->wake);
}

/* Control or supervisor thread. */
static void jack_close_client(struct clock_backend *b)
{
	if (!b->client)
		return;
	if (b->active && !atomic_load(&b->server_gone))
		jack_deactivate(b->client);
	b->active = false;
	jack_client_close(b->client);
	b->client = NULL;
}

/* Control or supervisor thread: a client with our ports and callbacks,
 * not yet active. */
static int jack_connect_client(struct clock_backend *b, char *err, size_t errlen)
{
	jack_status_t status = 0;
	char name[32];
	uint32_t i;

	atomic_store(&b->rate, 0);
	atomic_store(&b->period, 0);
	b->client = jack_open_client(b->client_name, b->server_name, &status);
	if (!b->client) {
		if (status & JackServerFailed)
			snprintf(err, errlen, "jack server %s is not running",
				 b->server_name[0] ? b->server_name : "(default)");
		else
			snprintf(err, errlen, "jack client %s refused by the server (status 0x%x)",
				 b->client_name, (unsigned)status);
		return -ECONNREFUSED;
	}
	for (i = 0; i < CLOCK_OUT_COUNT; i++) {
		b->out_ports[i] = jack_port_register(b->client, jack_output_names[i],
						     JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
		if (!b->out_ports[i])
			goto out_close_client;
	}
	for (i = 0; i < b->n_inputs; i++) {
		snprintf(name, sizeof(name), "in_%u", i + 1);
		b->in_ports[i] = jack_port_register(b->client, name, JACK_DEFAULT_AUDIO_TYPE,
						    JackPortIsInput, 0);
		if (!b->in_ports[i])
			goto out_close_client;
	}
	if (jack_set_process_callback(b->client, jack_process, b) ||
	    jack_set_xrun_callback(b->client, jack_xrun, b) ||
	    jack_set_buffer_size_callback(b->client, jack_buffer_size, b) ||
	    jack_set_sample_rate_callback(b->client, jack_sample_rate, b)) {
		snprintf(err, errlen, "jack callbacks refused");
		goto out_close_client_quiet;
	}
	jack_on_info_shutdown(b->client, jack_shutdown, b);
	return 0;

out_close_client:
	snprintf(err, errlen, "jack port registration failed");
out_close_client_quiet:
	jack_client_close(b->client);
	b->client = NULL;
	return -EIO;
}

/* Control or supervisor thread: connect our ports of one direction to the
 * ports matching pattern. Failures are logged, never fatal. */
static void jack_autoconnect(struct clock_backend *b, const char *pattern, bool outputs)
{
	jack_port_t *const *mine = outputs ? b->out_ports : b->in_ports;
	uint32_t count = outputs ? CLOCK_OUT_COUNT : b->n_inputs;
	const char **ports;
	uint32_t k = 0;
	size_t i;

	if (!pattern[0])
		return;
	ports = jack_get_ports(b->client, pattern, JACK_DEFAULT_AUDIO_TYPE,
			       outputs ? JackPortIsInput : JackPortIsOutput);
	for (i = 0; ports && ports[i] && k < count; i++) {
		jack_port_t *p = jack_port_by_name(b->client, ports[i]);
		const char *ours = jack_port_name(mine[k]);
		int r;

		if (!p || jack_port_is_mine(b->client, p))
			continue;
		r = outputs ? jack_connect(b->client, ours, ports[i])
			    : jack_connect(b->client, ports[i], ours);
		if (r && r != EEXIST)
			log_msg(LOG_WARNING, "jack: cannot connect %s and %s", ours, ports[i]);
		k++;
	}
	if (k == 0)
		log_msg(LOG_WARNING, "jack: no %s ports match '%s'", outputs ? "input" : "output",
			pattern);
	jack_free(ports);
}

/* Control or supervisor thread: tell the host the format, activate, patch. */
static int jack_activate_client(struct clock_backend *b, char *err, size_t errlen)
{
	uint32_t rate = jack_get_sample_rate(b->client);
	uint32_t period = jack_get_buffer_size(b->client);

	if (jack_set_format(b, rate, period) < 0) {
		snprintf(err, errlen, "engine cannot run at %u Hz / %u frames", rate, period);
		return -EINVAL;
	}
	b->cpu_clock = !jack_is_realtime(b->client);
	if (jack_activate(b->client)) {
		snprintf(err, errlen, "jack client activation failed");
		return -EIO;
	}
	b->active = true;
	jack_autoconnect(b, b->connect_outputs, true);
	jack_autoconnect(b, b->connect_inputs, false);
	return 0;
}

/* Supervisor thread: sleep up to ms or until woken. */
static void jack_nap(struct clock_backend *b, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (sem_timedwait(&b->wake, &ts) < 0 && errno == EINTR)
		;
}

/* Supervisor thread: the server went away; wait for one to come back. */
static void jack_recover(struct clock_backend *b)
{
	char why[JACK_REASON_MAX + 64];
	char err[256];
	bool said = false;

	snprintf(why, sizeof(why), "jack server went away: %s",
		 b->gone_reason[0] ? b->gone_reason : "no reason given");
	jack_close_client(b);
	b->host.lost(b->host.user, why);
	atomic_store(&b->server_gone, false);
	while (!atomic_load(&b->quit)) {
		jack_quiet_push();
		int r = jack_connect_client(b, err, sizeof(err));
		jack_quiet_pop();
		if (r == 0) {
			r = jack_activate_client(b, err, sizeof(err));
			if (r == 0) {
				b->host.restored(b->host.user);
				return;
			}
			jack_close_client(b);
			if (!said)
				log_msg(LOG_WARNING, "jack: reconnect failed: %s", err);
			said = true;
		}
		jack_nap(b, b->reconnect_ms);
	}
}

/* Supervisor thread. */
static void *jack_supervise(void *arg)
{
	struct clock_backend *b = arg;

	while (!atomic_load(&b->quit)) {
		while (sem_wait(&b->wake) < 0 && errno == EINTR)
			;
		if (atomic_load_explicit(&b->server_gone, memory_order_acquire) &&
		    !atomic_load(&b->quit))
			jack_recover(b);
	}
	return NULL;
}

/* Control thread. */
static int jack_open(const struct airmix_config *cfg, const struct clock_host *host,
		     struct clock_backend **out, char *err, size_t errlen)
{
	struct clock_backend *b;
	uint32_t rate, period;
	int r;

	if (cfg->jack_inputs < 0 || cfg->jack_inputs > CLOCK_MAX_INPUTS) {
		snprintf(err, errlen, "jack inputs %d out of range 0..%d", cfg->jack_inputs,
			 CLOCK_MAX_INPUTS);
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->host = *host;
	snprintf(b->client_name, sizeof(b->client_name), "%s", cfg->jack_client_name);
	snprintf(b->server_name, sizeof(b->server_name), "%s", cfg->jack_server_name);
	snprintf(b->connect_outputs, sizeof(b->connect_outputs), "%s", cfg->jack_connect_outputs);
	snprintf(b->connect_inputs, sizeof(b->connect_inputs), "%s", cfg->jack_connect_inputs);
	b->reconnect_ms = cfg->jack_reconnect_ms > 0 ? cfg->jack_reconnect_ms : 1000;
	b->n_inputs = (uint32_t)cfg->jack_inputs;
	if (sem_init(&b->wake, 0, 0) < 0) {
		r = -errno;
		snprintf(err, errlen, "semaphore: %s", strerror(errno));
		goto out_free;
	}
	jack_install_log();
	jack_quiet_push();
	r = jack_connect_client(b, err, errlen);
	jack_quiet_pop();
	if (r < 0)
		goto out_destroy_sem;
	if (strcmp(jack_get_client_name(b->client), b->client_name) != 0)
		log_msg(LOG_WARNING, "jack: client name %s taken, registered as %s",
			b->client_name, jack_get_client_name(b->client));
	rate = jack_get_sample_rate(b->client);
	period = jack_get_buffer_size(b->client);
	if (rate != (uint32_t)cfg->sample_rate || period != (uint32_t)cfg->period_frames)
		log_msg(LOG_INFO, "jack: the server runs at %u Hz, %u frames; [engine] "
			"sample_rate and period_frames give way", rate, period);
	r = jack_set_format(b, rate, period);
	if (r < 0) {
		snprintf(err, errlen, "engine cannot run at %u Hz / %u frames", rate, period);
		goto out_close_client;
	}
	*out = b;
	return 0;

out_close_client:
	jack_close_client(b);
out_destroy_sem:
	sem_destroy(&b->wake);
out_free:
	free(b);
	return r;
}

/* Control thread. */
static int jack_start(struct clock_backend *b, char *err, size_t errlen)
{
	int r;

	if (!b->client) {
		jack_quiet_push();
		r = jack_connect_client(b, err, errlen);
		jack_quiet_pop();
		if (r < 0)
			return r;
	}
	atomic_store(&b->quit, false);
	atomic_store(&b->server_gone, false);
	r = jack_activate_client(b, err, errlen);
	if (r < 0)
		return r;
	r = pthread_create(&b->supervisor, NULL, jack_supervise, b);
	if (r) {
		snprintf(err, errlen, "supervisor thread: %s", strerror(r));
		jack_close_client(b);
		return -r;
	}
	b->supervising = true;
	return 0;
}

/* Control thread: also when the server is gone. */
static void jack_stop(struct clock_backend *b)
{
	if (b->supervising) {
		atomic_store(&b->quit, true);
		sem_post(&b->wake);
		pthread_join(b->supervisor, NULL);
		b->supervising = false;
	}
	jack_close_client(b);
}

/* Control thread. */
static void jack_close(struct clock_backend *b)
{
	if (!b)
		return;
	jack_stop(b);
	sem_destroy(&b->wake);
	free(b);
}

/* Any thread: fixed after open. */
static uint32_t jack_inputs(struct clock_backend *b)
{
	return b->n_inputs;
}

const struct clock_ops clock_jack_ops = {
	"jack", jack_open, jack_start, jack_stop, jack_close, jack_inputs,
};
