/* engine.c - the engine API: the control side of the graph, the event thread,
 * and the glue to the clock backends.
 *
 * DESIGN
 * The control side keeps a model of the wanted graph (struct node_model per
 * node) under e->lock. Structural changes rebuild an immutable graph from the
 * model and publish it with an atomic exchange; if the RT side had not yet
 * taken the previous pending graph, the exchange hands it back and it is
 * freed at once (RT never saw it). Parameter changes become rt_cmd records on
 * the command ring; e->lock makes the ring single-producer.
 *
 * Nothing RT has used is freed until RT can no longer use it: graphs come
 * back on the retire ring; slots, taps and custom source states of removed
 * nodes wait on a deferred list tagged with the sequence number of the first
 * graph without them, and are released once RT announces (current_seq) that
 * it runs that graph or a later one.
 *
 * The event thread wakes every few milliseconds: it reaps retired graphs and
 * deferred objects, drains the RT event ring, turns xrun counts and tap
 * overruns into reports, and hands every report to the history and to the
 * subscribers.
 *
 * Threads: API functions on any non-RT thread (serialised by e->lock);
 * clock callbacks as clock.h says; the event thread is internal.
 */
#include "engine.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "clock.h"
#include "graph.h"
#include "history.h"
#include "log.h"
#include "rt.h"
#include "rtmark.h"
#include "tap.h"

#define MAX_SUBSCRIBERS 64
#define MAX_INFLIGHT_GRAPHS 32
/* The event thread's pass: RT's error reports and retired graphs wait this
 * long at most (a control call reaps for itself, engine_sync_events wakes
 * it); every wake-up of an idle thread costs tens of microseconds on a VM. */
#define EVENT_TICK_MS 20

struct node_model {
	uint32_t id;
	uint32_t slot;
	enum node_kind kind;	/* unused for buses */
	bool is_bus;
	char name[ENGINE_NAME_MAX];
	char kind_name[16];
	uint32_t channels;
	uint32_t buses;
	float gain, pan;
	float bus_gain[2];	/* per-bus send gains */
	bool mute, running;
	double tone_freq, tone_level_dbfs;
	uint32_t input_port;
	engine_render_fn render;
	engine_release_fn release;
	void *state;
	uint32_t n_taps;
	struct tap *taps[GRAPH_MAX_TAPS];
};

enum deferred_kind { DEFER_SLOT, DEFER_TAP, DEFER_STATE };

struct deferred {
	enum deferred_kind kind;
	uint64_t free_at_seq;
	uint32_t slot;
	struct tap *tap;
	engine_release_fn release;
	void *state;
};

struct subscriber {
	engine_notice_cb cb;
	void *user;
};

struct engine {
	struct airmix_config cfg;
	struct engine_options opts;
	struct history *hist;
	struct mixing *mixing;
	struct recorder *recorder;
	struct push *push;
	struct rooms *rooms;
	struct forward *forward;
	struct rtc_media *rtc_media;
	struct rt rt;

	pthread_mutex_t lock;	/* control side: model, command producer, reaping */
	struct node_model *models;
	uint32_t n_models, cap_models;
	uint32_t next_id;
	uint32_t *free_slots;
	uint32_t n_free_slots;
	struct deferred *deferred;
	uint32_t n_deferred, cap_deferred;
	struct tap **minus;	/* mix-minus taps of the publish bus */
	uint32_t n_minus, cap_minus;
	uint64_t seq;		/* last graph built */
	uint32_t inflight;	/* graphs published and not yet reaped */

	const struct clock_ops *clock;
	struct clock_backend *backend;
	uint32_t n_inputs;
	uint32_t tone_id;	/* the [tone] line-up tone node, 0 when off */
	_Atomic bool running;	/* read by status calls on any thread */
	_Atomic uint32_t period;
	_Atomic bool clock_lost;
	_Atomic uint64_t xruns;
	_Atomic int64_t xrun_worst_ns;	/* the longest late_ns since the last report */
	struct {			/* xrun n lands in slot n % ENGINE_XRUN_LOG */
		_Atomic int64_t began_ns, took_ns, wall_ns;
	} xrun_log[ENGINE_XRUN_LOG];
	_Atomic uint64_t command_ring_full;
	struct timespec started;

	pthread_mutex_t notice_lock;
	struct subscriber subs[MAX_SUBSCRIBERS];
	uint32_t n_subs;

	pthread_t event_thread;
	bool event_thread_started;
	pthread_mutex_t event_lock;
	pthread_cond_t event_cond;
	bool event_quit;
	uint64_t event_passes;
	uint64_t xruns_reported;
	uint64_t overflows_reported;
	double last_rate_limited;	/* monotonic seconds of the last xrun/overrun report */
};

/* ---- helpers -------------------------------------------------------------- */

static double db_to_linear(double db)
{
	return pow(10.0, db / 20.0);
}

static struct node_model *find_model(struct engine *e, uint32_t id)
{
	for (uint32_t i = 0; i < e->n_models; i++)
		if (e->models[i].id == id)
			return &e->models[i];
	return NULL;
}

static void init_slot(struct engine *e, uint32_t slot, const struct node_model *m)
{
	struct node_slot *s = &e->rt.slots[slot];

	s->node_id = m->id;
	s->gain = m->gain;
	s->pan = m->pan;
	s->mute = m->mute;
	s->running = m->running;
	/* a new node starts at its gain: ramps are for changes, and a file played
	 * at unity must come out bit for bit from its first sample */
	s->cur_l = m->running && !m->mute ? m->gain * (m->pan > 0.0f ? 1.0f - m->pan : 1.0f) : 0.0f;
	s->cur_r = m->running && !m->mute ? m->gain * (m->pan < 0.0f ? 1.0f + m->pan : 1.0f) : 0.0f;
	s->phase = 0.0;
	for (int b = 0; b < 2; b++)
		s->bus_gain[b] = s->cur_bus[b] = m->bus_gain[b];
	meter_reset(&s->meter);
}

static uint32_t meter_window_frames(const struct engine *e, uint32_t rate)
{
	double w = e->cfg.meter_window_ms * 0.001 * rate;

	return w < 1.0 ? 1 : (uint32_t)w;
}

/* ---- graph build and publish (e->lock held) ------------------------------ */

static void fill_graph_node(struct graph_node *gn, const struct node_model *m, uint32_t rate)
{
	gn->id = m->id;
	gn->slot = m->slot;
	gn->kind = m->kind;
	gn->channels = m->channels;
	gn->buses = m->buses;
	gn->n_taps = m->n_taps;
	memcpy(gn->taps, m->taps, sizeof(gn->taps));
	switch (m->kind) {
	case NODE_TONE:
		gn->u.tone.phase_inc = rate ? 2.0 * M_PI * m->tone_freq / rate : 0.0;
		gn->u.tone.amplitude = (float)db_to_linear(m->tone_level_dbfs);
		break;
	case NODE_INPUT:
		gn->u.input.port = m->input_port;
		break;
	case NODE_CUSTOM:
		gn->u.custom.render = m->render;
		gn->u.custom.state = m->state;
		break;
	}
}

/* Mix-minus taps grouped by the node they take out, then the unbound ones
 * (their node is gone, or they take none out). */
static void fill_graph_minus(struct engine *e, struct graph *g)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < g->n_nodes; i++) {
		struct graph_node *gn = &g->nodes[i];

		gn->minus_first = k;
		for (uint32_t t = 0; t < e->n_minus; t++)
			if (e->minus[t]->minus_id == gn->id)
				g->minus[k++] = e->minus[t];
		gn->n_minus = k - gn->minus_first;
	}
	g->n_minus_bound = k;
	for (uint32_t t = 0; t < e->n_minus; t++) {
		struct node_model *m = find_model(e, e->minus[t]->minus_id);

		if (!m || m->is_bus)
			g->minus[k++] = e->minus[t];
	}
}

static struct graph *build_graph(struct engine *e)
{
	uint32_t rate = atomic_load(&e->rt.rate);
	uint32_t n_sources = 0, k = 0;
	struct graph *g;

	for (uint32_t i = 0; i < e->n_models; i++)
		n_sources += !e->models[i].is_bus;
	g = graph_new(n_sources, e->n_minus);
	if (!g)
		return NULL;
	g->seq = ++e->seq;
	g->rate = rate ? rate : (uint32_t)e->cfg.sample_rate;
	g->meter_window = meter_window_frames(e, g->rate);
	g->limiter_ceiling = (float)db_to_linear(e->cfg.limiter_ceiling_db);
	g->limiter_lookahead = (uint32_t)lround(e->cfg.limiter_lookahead_ms * 0.001 * g->rate);
	g->limiter_release = limiter_release_coef(e->cfg.limiter_release_ms, g->rate);
	for (uint32_t i = 0; i < e->n_models; i++) {
		const struct node_model *m = &e->models[i];

		if (m->is_bus) {
			struct graph_bus *b = &g->buses[m->id == ENGINE_BUS_PUBLISH ? 0 : 1];

			b->slot = m->slot;
			b->n_taps = m->n_taps;
			memcpy(b->taps, m->taps, sizeof(b->taps));
			continue;
		}
		fill_graph_node(&g->nodes[k++], m, g->rate);
	}
	fill_graph_minus(e, g);
	return g;
}

static void release_deferred(struct engine *e, struct deferred *d)
{
	switch (d->kind) {
	case DEFER_SLOT:
		e->free_slots[e->n_free_slots++] = d->slot;
		break;
	case DEFER_TAP:
		tap_destroy(d->tap);
		break;
	case DEFER_STATE:
		if (d->release)
			d->release(d->state);
		break;
	}
}

/* Reap retired graphs and whatever no graph RT can still run refers to. */
static void reap(struct engine *e)
{
	struct graph *old;
	uint64_t seq = atomic_load_explicit(&e->rt.current_seq, memory_order_acquire);
	uint32_t kept = 0;

	while (spsc_ring_pop(&e->rt.retire, &old)) {
		graph_free(old);
		e->inflight--;
	}
	for (uint32_t i = 0; i < e->n_deferred; i++) {
		if (seq >= e->deferred[i].free_at_seq || !e->running)
			release_deferred(e, &e->deferred[i]);
		else
			e->deferred[kept++] = e->deferred[i];
	}
	e->n_deferred = kept;
}

static int publish(struct engine *e)
{
	struct graph *g, *stale;

	reap(e);
	if (e->inflight >= MAX_INFLIGHT_GRAPHS)
		return -EBUSY;
	g = build_graph(e);
	if (!g)
		return -ENOMEM;
	stale = atomic_exchange_explicit(&e->rt.next, g, memory_order_acq_rel);
	if (stale)
		graph_free(stale);	/* RT never took it */
	else
		e->inflight++;
	return 0;
}

/* Room for one more element in a growable array (doubling, from 64). */
static int grow(void **array, uint32_t count, uint32_t *cap, size_t elem_size)
{
	uint32_t n = *cap ? 2 * *cap : 64;
	void *p;

	if (count < *cap)
		return 0;
	p = realloc(*array, n * elem_size);
	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = n;
	return 0;
}

static int defer(struct engine *e, struct deferred d)
{
	if (grow((void **)&e->deferred, e->n_deferred, &e->cap_deferred, sizeof(d)) < 0)
		return -ENOMEM;
	d.free_at_seq = e->seq + 1;	/* the next graph built is the first without it */
	e->deferred[e->n_deferred++] = d;
	return 0;
}

/* ---- notices ------------------------------------------------------------- */

void engine_notify(struct engine *e, const struct engine_notice *notice)
{
	struct engine_notice n = *notice;
	const struct airmix_error_def *def = airmix_error_find(n.domain, n.code);

	if (!n.time_us)
		n.time_us = history_now_us();
	if (!n.name)
		n.name = def ? def->name : "UNKNOWN";
	if (!n.subject)
		n.subject = "";
	if (!n.request)
		n.request = "";
	if (!n.message || !*n.message)
		n.message = def ? def->message : "";
	if (!n.event)
		n.event = "error";
	if (e->hist && n.level != AIRMIX_LEVEL_INFO) {
		struct history_row row = {
			.time_us = n.time_us,
			.domain = n.domain,
			.code = n.code,
			.level = n.level,
		};

		snprintf(row.name, sizeof(row.name), "%s", n.name);
		snprintf(row.subject, sizeof(row.subject), "%s", n.subject);
		snprintf(row.message, sizeof(row.message), "%s", n.message);
		snprintf(row.request, sizeof(row.request), "%s", n.request);
		history_record(e->hist, &row);
	}
	if (n.level == AIRMIX_LEVEL_ERROR || n.level == AIRMIX_LEVEL_WARNING)
		log_msg(n.level == AIRMIX_LEVEL_ERROR ? LOG_ERROR : LOG_WARNING, "%s%s%s: %s",
			n.name, *n.subject ? " " : "", n.subject, n.message);
	pthread_mutex_lock(&e->notice_lock);
	for (uint32_t i = 0; i < e->n_subs; i++)
		e->subs[i].cb(&n, e->subs[i].user);
	pthread_mutex_unlock(&e->notice_lock);
}

static void vreport(struct engine *e, const char *event, enum airmix_domain domain, int code,
		    const char *subject, const char *request, const char *fmt, va_list ap)
{
	const struct airmix_error_def *def = airmix_error_find(domain, code);
	char message[HISTORY_MESSAGE_MAX] = "";
	struct engine_notice n = {
		.event = event,
		.domain = domain,
		.code = code,
		.level = def ? def->level : AIRMIX_LEVEL_ERROR,
		.subject = subject,
		.request = request,
		.message = message,
	};

	if (fmt)
		vsnprintf(message, sizeof(message), fmt, ap);
	engine_notify(e, &n);
}

void engine_report(struct engine *e, enum airmix_domain domain, int code, const char *subject,
		   const char *request, const char *fmt, ...)
{
	char event[48];
	va_list ap;

	snprintf(event, sizeof(event), "%s.error", airmix_domain_name(domain));
	va_start(ap, fmt);
	vreport(e, event, domain, code, subject, request, fmt, ap);
	va_end(ap);
}

static void report_event(struct engine *e, const char *event, int code, const char *subject,
			 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void report_event(struct engine *e, const char *event, int code, const char *subject,
			 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(e, event, AIRMIX_DOMAIN_ENGINE, code, subject, NULL, fmt, ap);
	va_end(ap);
}

int engine_subscribe(struct engine *e, engine_notice_cb cb, void *user)
{
	int ret = -ENOSPC;

	pthread_mutex_lock(&e->notice_lock);
	if (e->n_subs < MAX_SUBSCRIBERS) {
		e->subs[e->n_subs++] = (struct subscriber){ cb, user };
		ret = 0;
	}
	pthread_mutex_unlock(&e->notice_lock);
	return ret;
}

void engine_unsubscribe(struct engine *e, engine_notice_cb cb, void *user)
{
	pthread_mutex_lock(&e->notice_lock);
	for (uint32_t i = 0; i < e->n_subs; i++) {
		if (e->subs[i].cb == cb && e->subs[i].user == user) {
			e->subs[i] = e->subs[--e->n_subs];
			break;
		}
	}
	pthread_mutex_unlock(&e->notice_lock);
}

/* ---- the event thread ---------------------------------------------------- */

static void handle_rt_event(struct engine *e, const struct rt_event *ev)
{
	char subject[32];

	snprintf(subject, sizeof(subject), "node %u", ev->node_id);
	switch (ev->type) {
	case RT_EV_TAP_OVERRUN:
		report_event(e, "engine.tap_overrun", ENGINE_TAP_OVERRUN, subject,
			     "tap of node %u is full: the reader falls behind, %lld frames dropped so far",
			     ev->node_id, (long long)ev->value);
		break;
	case RT_EV_STALE_COMMAND:
		log_msg(LOG_DEBUG, "command for removed node %u ignored", ev->node_id);
		break;
	case RT_EV_PERIOD_TOO_LARGE:
		report_event(e, "engine.error", ENGINE_PERIOD_TOO_LARGE, "",
			     "cycle of %lld frames exceeds max_period_frames %d: output silenced",
			     (long long)ev->value, e->cfg.max_period_frames);
		break;
	}
}

static void clear_tap_flags(struct engine *e)
{
	for (uint32_t i = 0; i < e->n_models; i++)
		for (uint32_t t = 0; t < e->models[i].n_taps; t++)
			atomic_store_explicit(&e->models[i].taps[t]->overrun_reported, 0,
					      memory_order_relaxed);
	for (uint32_t t = 0; t < e->n_minus; t++)
		atomic_store_explicit(&e->minus[t]->overrun_reported, 0, memory_order_relaxed);
}

static double monotonic_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The xruns since the last report, with the worst one's time against the
 * period when the backend measured it. */
static void report_xruns(struct engine *e, uint64_t xruns)
{
	const char *clock = e->clock ? e->clock->name : "";
	int64_t worst = atomic_exchange(&e->xrun_worst_ns, 0);
	uint32_t rate = atomic_load(&e->rt.rate), period = atomic_load(&e->period);
	char detail[96] = "";

	if (worst > 0 && rate)
		snprintf(detail, sizeof(detail), "; the worst: %.1f ms against a %.1f ms period",
			 worst * 1e-6, period * 1e3 / rate);
	report_event(e, "engine.xrun", ENGINE_XRUN, clock, "%llu xrun(s) on the %s clock (%llu in total%s)",
		     (unsigned long long)(xruns - e->xruns_reported), clock,
		     (unsigned long long)xruns, detail);
	e->xruns_reported = xruns;
}

/* Overruns and xruns are reported at most once a second each, with counts. */
static void event_pass(struct engine *e)
{
	struct rt_event ev;
	uint64_t xruns, overflows;
	double now = monotonic_s();
	bool due = now - e->last_rate_limited >= 1.0;

	while (spsc_ring_pop(&e->rt.events, &ev))
		handle_rt_event(e, &ev);
	pthread_mutex_lock(&e->lock);
	reap(e);
	if (due)
		clear_tap_flags(e);
	pthread_mutex_unlock(&e->lock);
	if (!due)
		return;
	e->last_rate_limited = now;
	xruns = atomic_load(&e->xruns);
	if (xruns != e->xruns_reported)
		report_xruns(e, xruns);
	overflows = atomic_load(&e->rt.event_overflows);
	if (overflows != e->overflows_reported) {
		report_event(e, "engine.error", ENGINE_EVENT_RING_OVERFLOW, "",
			     "%llu RT event(s) lost: event ring full",
			     (unsigned long long)(overflows - e->overflows_reported));
		e->overflows_reported = overflows;
	}
}

static void *event_main(void *arg)
{
	struct engine *e = arg;
	struct timespec deadline;

	pthread_mutex_lock(&e->event_lock);
	while (!e->event_quit) {
		pthread_mutex_unlock(&e->event_lock);
		event_pass(e);
		pthread_mutex_lock(&e->event_lock);
		e->event_passes++;
		pthread_cond_broadcast(&e->event_cond);
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_nsec += EVENT_TICK_MS * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&e->event_cond, &e->event_lock, &deadline);
	}
	pthread_mutex_unlock(&e->event_lock);
	event_pass(e);
	return NULL;
}

void engine_sync_events(struct engine *e)
{
	uint64_t target;

	if (!e->event_thread_started) {
		event_pass(e);
		return;
	}
	pthread_mutex_lock(&e->event_lock);
	target = e->event_passes + 2;	/* a full pass that began after this call */
	pthread_cond_broadcast(&e->event_cond);
	while (e->event_passes < target && !e->event_quit)
		pthread_cond_wait(&e->event_cond, &e->event_lock);
	pthread_mutex_unlock(&e->event_lock);
}

/* ---- clock host callbacks ------------------------------------------------ */

static void host_process(void *user, const struct clock_io *io)
{
	struct engine *e = user;

	rt_process(&e->rt, io);
}

/* Backend thread (RT): count the xrun and log when it began (a vDSO clock
 * read). A reader racing a slot being rewritten may see a mixed entry: it
 * is a diagnostic, never used for control. */
static void host_xrun(void *user, int64_t late_ns, int64_t wall_ns)
{
	struct engine *e = user;
	int64_t worst = atomic_load_explicit(&e->xrun_worst_ns, memory_order_relaxed);
	uint64_t n = atomic_fetch_add_explicit(&e->xruns, 1, memory_order_relaxed);
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	atomic_store_explicit(&e->xrun_log[n % ENGINE_XRUN_LOG].began_ns,
			      (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - wall_ns,
			      memory_order_relaxed);
	atomic_store_explicit(&e->xrun_log[n % ENGINE_XRUN_LOG].took_ns, late_ns,
			      memory_order_relaxed);
	atomic_store_explicit(&e->xrun_log[n % ENGINE_XRUN_LOG].wall_ns, wall_ns,
			      memory_order_relaxed);
	while (late_ns > worst &&
	       !atomic_compare_exchange_weak_explicit(&e->xrun_worst_ns, &worst, late_ns,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

static int host_format(void *user, uint32_t rate, uint32_t period)
{
	struct engine *e = user;
	uint32_t old_rate = atomic_load(&e->rt.rate);
	uint32_t old_period = atomic_load(&e->period);
	int ret = 0;

	if (period > (uint32_t)e->cfg.max_period_frames) {
		engine_report(e, AIRMIX_DOMAIN_ENGINE, ENGINE_PERIOD_TOO_LARGE, "", NULL,
			      "period of %u frames exceeds max_period_frames %d", period,
			      e->cfg.max_period_frames);
		return -EINVAL;
	}
	atomic_store(&e->period, period);
	if (rate != old_rate) {
		atomic_store(&e->rt.rate, rate);
		pthread_mutex_lock(&e->lock);
		ret = publish(e);
		pthread_mutex_unlock(&e->lock);
		if (old_rate)
			report_event(e, "engine.clock", ENGINE_SAMPLE_RATE_CHANGED, "",
				     "sample rate changed from %u to %u Hz", old_rate, rate);
	}
	if (old_period && period != old_period)
		report_event(e, "engine.clock", ENGINE_BUFFER_SIZE_CHANGED, "",
			     "period changed from %u to %u frames", old_period, period);
	return ret;
}

static void host_lost(void *user, const char *why)
{
	struct engine *e = user;

	atomic_store(&e->clock_lost, true);
	report_event(e, "engine.clock", ENGINE_CLOCK_LOST, e->clock ? e->clock->name : "", "%s",
		     why);
}

static void host_restored(void *user)
{
	struct engine *e = user;

	atomic_store(&e->clock_lost, false);
	report_event(e, "engine.clock", ENGINE_CLOCK_RESTORED, e->clock ? e->clock->name : "",
		     "%s clock running again at %u Hz, %u frames", e->clock ? e->clock->name : "",
		     atomic_load(&e->rt.rate), atomic_load(&e->period));
}

/* ---- lifecycle ----------------------------------------------------------- */

static int add_model(struct engine *e, struct node_model *m)
{
	if (grow((void **)&e->models, e->n_models, &e->cap_models, sizeof(*m)) < 0)
		return -ENOMEM;
	if (e->n_free_slots == 0)
		return -ENOSPC;
	m->slot = e->free_slots[--e->n_free_slots];
	init_slot(e, m->slot, m);
	e->models[e->n_models++] = *m;
	return 0;
}

static int add_bus(struct engine *e, uint32_t id, const char *name)
{
	struct node_model m = {
		.id = id,
		.is_bus = true,
		.channels = 2,
		.gain = 1.0f,
		.bus_gain = { 1.0f, 1.0f },
		.running = true,
	};

	snprintf(m.name, sizeof(m.name), "%s", name);
	snprintf(m.kind_name, sizeof(m.kind_name), "bus");
	return add_model(e, &m);
}

int engine_create(const struct airmix_config *cfg, const struct engine_options *opts,
		  struct history *hist, struct engine **out, char *err, size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));
	int ret;

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->cfg = *cfg;
	if (opts)
		e->opts = *opts;
	e->hist = hist;
	e->next_id = ENGINE_FIRST_NODE_ID;
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_init(&e->notice_lock, NULL);
	pthread_mutex_init(&e->event_lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&e->event_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	ret = rt_init(&e->rt, (uint32_t)cfg->max_nodes + 2, (uint32_t)cfg->max_period_frames,
		      (uint32_t)cfg->command_ring, (uint32_t)cfg->event_ring);
	if (ret < 0) {
		snprintf(err, errlen, "cannot allocate the RT buffers: %s", strerror(-ret));
		goto out_free;
	}
	e->free_slots = calloc(e->rt.n_slots, sizeof(*e->free_slots));
	if (!e->free_slots) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out_rt;
	}
	for (uint32_t i = 0; i < e->rt.n_slots; i++)
		e->free_slots[i] = e->rt.n_slots - 1 - i;	/* slot 0 first */
	e->n_free_slots = e->rt.n_slots;
	if (add_bus(e, ENGINE_BUS_PUBLISH, "publish") < 0 ||
	    add_bus(e, ENGINE_BUS_PLAYOUT, "playout") < 0) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out_rt;
	}
	rtmark_init();
	*out = e;
	return 0;

out_rt:
	free(e->free_slots);
	free(e->models);
	rt_fini(&e->rt);
out_free:
	free(e);
	return ret;
}

static const struct clock_ops *choose_clock(const struct airmix_config *cfg)
{
	switch (cfg->backend) {
	case BACKEND_JACK:
		return &clock_jack_ops;
	case BACKEND_ALSA:
		return &clock_alsa_ops;
	case BACKEND_INTERNAL:
		return &clock_internal_ops;
	case BACKEND_OFFLINE:
		return &clock_offline_ops;
	default:
		return clock_jack_server_running(cfg) ? &clock_jack_ops : &clock_internal_ops;
	}
}

static uint32_t tone_buses(const struct airmix_config *cfg)
{
	if (!strcmp(cfg->tone_buses, "both"))
		return ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT;
	return !strcmp(cfg->tone_buses, "playout") ? ENGINE_TO_PLAYOUT : ENGINE_TO_PUBLISH;
}

/* The [tone] node follows the configuration: added, replaced or removed. */
static int apply_tone(struct engine *e, const struct airmix_config *old, const struct airmix_config *cfg)
{
	bool same = old && old->tone_enabled == cfg->tone_enabled &&
		    old->tone_frequency_hz == cfg->tone_frequency_hz &&
		    old->tone_level_dbfs == cfg->tone_level_dbfs && !strcmp(old->tone_buses, cfg->tone_buses);

	if (same && (e->tone_id != 0) == cfg->tone_enabled)
		return 0;
	if (e->tone_id) {
		engine_remove_node(e, e->tone_id);
		e->tone_id = 0;
	}
	if (!cfg->tone_enabled)
		return 0;
	return engine_add_tone(e, "line-up tone", cfg->tone_frequency_hz, cfg->tone_level_dbfs,
			       tone_buses(cfg), &e->tone_id);
}

static int add_startup_nodes(struct engine *e)
{
	int ret;

	for (uint32_t i = 0; i < e->n_inputs; i++) {
		struct node_model m = {
			.kind = NODE_INPUT,
			.channels = 1,
			.buses = ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT,
			.gain = 1.0f,
			.bus_gain = { 1.0f, 1.0f },
			.running = true,
			.input_port = i,
		};

		m.id = e->next_id++;
		snprintf(m.name, sizeof(m.name), "in_%u", i + 1);
		snprintf(m.kind_name, sizeof(m.kind_name), "input");
		pthread_mutex_lock(&e->lock);
		ret = add_model(e, &m);
		pthread_mutex_unlock(&e->lock);
		if (ret < 0)
			return ret;
	}
	return apply_tone(e, NULL, &e->cfg);
}

int engine_start(struct engine *e, char *err, size_t errlen)
{
	struct clock_host host = {
		.user = e,
		.process = host_process,
		.xrun = host_xrun,
		.format = host_format,
		.lost = host_lost,
		.restored = host_restored,
	};
	int ret;

	if (e->cfg.lock_memory && mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
		log_msg(LOG_INFO, "cannot lock memory (%s): continuing unlocked", strerror(errno));
	e->clock = choose_clock(&e->cfg);
	ret = e->clock->open(&e->cfg, &host, &e->backend, err, errlen);
	if (ret < 0) {
		engine_report(e, AIRMIX_DOMAIN_ENGINE, ENGINE_CLOCK_FAILED, e->clock->name, NULL,
			      "%s", err);
		return ret;
	}
	e->n_inputs = e->clock->inputs(e->backend);
	ret = add_startup_nodes(e);
	if (ret < 0) {
		snprintf(err, errlen, "cannot create the start-up nodes: %s", strerror(-ret));
		goto out_close;
	}
	pthread_mutex_lock(&e->lock);
	ret = publish(e);
	pthread_mutex_unlock(&e->lock);
	if (ret < 0) {
		snprintf(err, errlen, "cannot build the graph: %s", strerror(-ret));
		goto out_close;
	}
	if (pthread_create(&e->event_thread, NULL, event_main, e) != 0) {
		ret = -EAGAIN;
		snprintf(err, errlen, "cannot start the event thread");
		goto out_close;
	}
	e->event_thread_started = true;
	e->running = true;
	clock_gettime(CLOCK_MONOTONIC, &e->started);
	if (!(e->opts.manual_clock && e->clock == &clock_offline_ops)) {
		ret = e->clock->start(e->backend, err, errlen);
		if (ret < 0) {
			engine_report(e, AIRMIX_DOMAIN_ENGINE, ENGINE_CLOCK_FAILED, e->clock->name,
				      NULL, "%s", err);
			engine_stop(e);
			return ret;
		}
	}
	report_event(e, "engine.state", ENGINE_STARTED, e->clock->name,
		     "engine started on the %s clock at %u Hz, %u frames", e->clock->name,
		     atomic_load(&e->rt.rate), atomic_load(&e->period));
	return 0;

out_close:
	e->clock->close(e->backend);
	e->backend = NULL;
	return ret;
}

void engine_stop(struct engine *e)
{
	if (!e->backend)
		return;
	e->clock->stop(e->backend);
	if (e->event_thread_started) {
		pthread_mutex_lock(&e->event_lock);
		e->event_quit = true;
		pthread_cond_broadcast(&e->event_cond);
		pthread_mutex_unlock(&e->event_lock);
		pthread_join(e->event_thread, NULL);
		e->event_thread_started = false;
	}
	e->clock->close(e->backend);
	e->backend = NULL;
	e->running = false;
	report_event(e, "engine.state", ENGINE_STOPPED, e->clock->name, "engine stopped after %llu cycles",
		     (unsigned long long)atomic_load(&e->rt.cycles));
}

void engine_destroy(struct engine *e)
{
	struct graph *g;

	if (!e)
		return;
	engine_stop(e);
	pthread_mutex_lock(&e->lock);
	e->running = false;
	reap(e);
	g = atomic_exchange(&e->rt.next, NULL);
	graph_free(g);
	graph_free(e->rt.current);
	e->rt.current = NULL;
	for (uint32_t i = 0; i < e->n_models; i++) {
		struct node_model *m = &e->models[i];

		for (uint32_t t = 0; t < m->n_taps; t++)
			tap_destroy(m->taps[t]);
		if (m->release)
			m->release(m->state);
	}
	for (uint32_t t = 0; t < e->n_minus; t++)
		tap_destroy(e->minus[t]);
	pthread_mutex_unlock(&e->lock);
	free(e->minus);
	free(e->models);
	free(e->deferred);
	free(e->free_slots);
	rt_fini(&e->rt);
	pthread_cond_destroy(&e->event_cond);
	pthread_mutex_destroy(&e->event_lock);
	pthread_mutex_destroy(&e->notice_lock);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

const struct airmix_config *engine_config(struct engine *e)
{
	return &e->cfg;
}

struct history *engine_history(struct engine *e)
{
	return e->hist;
}

void engine_set_mixing(struct engine *e, struct mixing *m)
{
	e->mixing = m;
}

struct mixing *engine_mixing(struct engine *e)
{
	return e->mixing;
}

void engine_set_recorder(struct engine *e, struct recorder *r)
{
	e->recorder = r;
}

struct recorder *engine_recorder(struct engine *e)
{
	return e->recorder;
}

void engine_set_push(struct engine *e, struct push *p)
{
	e->push = p;
}

struct push *engine_push(struct engine *e)
{
	return e->push;
}

void engine_set_rtc_media(struct engine *e, struct rtc_media *m)
{
	e->rtc_media = m;
}

struct rtc_media *engine_rtc_media(struct engine *e)
{
	return e->rtc_media;
}

void engine_set_rooms(struct engine *e, struct rooms *r)
{
	e->rooms = r;
}

struct rooms *engine_rooms(struct engine *e)
{
	return e->rooms;
}

void engine_set_forward(struct engine *e, struct forward *f)
{
	e->forward = f;
}

struct forward *engine_forward(struct engine *e)
{
	return e->forward;
}

/* Any thread: the logged xruns, oldest first. */
static void copy_recent_xruns(struct engine *e, struct engine_status *st)
{
	uint64_t first = st->xruns > ENGINE_XRUN_LOG ? st->xruns - ENGINE_XRUN_LOG : 0;

	for (uint64_t n = first; n < st->xruns; n++) {
		struct engine_xrun *x = &st->recent_xruns[st->n_recent_xruns++];

		x->began_ns = atomic_load_explicit(&e->xrun_log[n % ENGINE_XRUN_LOG].began_ns,
						   memory_order_relaxed);
		x->took_ns = atomic_load_explicit(&e->xrun_log[n % ENGINE_XRUN_LOG].took_ns,
						  memory_order_relaxed);
		x->wall_ns = atomic_load_explicit(&e->xrun_log[n % ENGINE_XRUN_LOG].wall_ns,
						  memory_order_relaxed);
	}
}

void engine_get_status(struct engine *e, struct engine_status *st)
{
	struct timespec now;

	memset(st, 0, sizeof(*st));
	snprintf(st->clock, sizeof(st->clock), "%s", e->clock ? e->clock->name : "none");
	st->running = e->running;
	st->clock_lost = atomic_load(&e->clock_lost);
	st->rate = atomic_load(&e->rt.rate);
	st->period = atomic_load(&e->period);
	st->cycles = atomic_load(&e->rt.cycles);
	st->xruns = atomic_load(&e->xruns);
	copy_recent_xruns(e, st);
	st->dsp_load = rt_load_float(&e->rt.load_bits);
	st->dsp_load_avg = rt_load_float(&e->rt.load_avg_bits);
	st->dsp_load_max = rt_load_float(&e->rt.load_max_bits);
	if (e->running) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		st->uptime_s = (double)(now.tv_sec - e->started.tv_sec) +
			       (now.tv_nsec - e->started.tv_nsec) * 1e-9;
	}
	st->command_ring_full = atomic_load(&e->command_ring_full);
	st->event_overflows = atomic_load(&e->rt.event_overflows);
	pthread_mutex_lock(&e->lock);
	st->nodes = e->n_models;
	pthread_mutex_unlock(&e->lock);
	st->inputs = e->n_inputs;
}

int engine_apply_config(struct engine *e, const struct airmix_config *cfg)
{
	struct airmix_config old = e->cfg;
	int ret;

	pthread_mutex_lock(&e->lock);
	e->cfg.limiter_ceiling_db = cfg->limiter_ceiling_db;
	e->cfg.limiter_release_ms = cfg->limiter_release_ms;
	e->cfg.history_max_rows = cfg->history_max_rows;
	e->cfg.history_max_age_days = cfg->history_max_age_days;
	snprintf(e->cfg.http_token, sizeof(e->cfg.http_token), "%s", cfg->http_token);
	snprintf(e->cfg.http_admin_hash, sizeof(e->cfg.http_admin_hash), "%s",
		 cfg->http_admin_hash);
	snprintf(e->cfg.http_operator_hash, sizeof(e->cfg.http_operator_hash), "%s",
		 cfg->http_operator_hash);
	e->cfg.http_session_ttl_s = cfg->http_session_ttl_s;
	e->cfg.http_upload_max_mb = cfg->http_upload_max_mb;
	snprintf(e->cfg.log_level, sizeof(e->cfg.log_level), "%s", cfg->log_level);
	e->cfg.tone_enabled = cfg->tone_enabled;
	e->cfg.tone_frequency_hz = cfg->tone_frequency_hz;
	e->cfg.tone_level_dbfs = cfg->tone_level_dbfs;
	ret = publish(e);
	pthread_mutex_unlock(&e->lock);
	if (ret == 0 && e->running)
		ret = apply_tone(e, &old, &e->cfg);
	log_set_level_name(cfg->log_level);
	report_event(e, "engine.state", ENGINE_CONFIG_RELOADED, cfg->source_path,
		     "configuration reloaded from %s", cfg->source_path);
	return ret;
}

/* ---- nodes --------------------------------------------------------------- */

static int add_source(struct engine *e, struct node_model *m, uint32_t *id)
{
	int ret;

	pthread_mutex_lock(&e->lock);
	m->id = e->next_id++;
	ret = add_model(e, m);
	if (ret == 0) {
		ret = publish(e);
		if (ret < 0) {
			/* undo: the slot was never in a published graph */
			e->free_slots[e->n_free_slots++] = m->slot;
			e->n_models--;
		}
	}
	pthread_mutex_unlock(&e->lock);
	if (ret == 0 && id)
		*id = m->id;
	return ret == -ENOSPC ? -ENOSPC : ret;
}

int engine_add_tone(struct engine *e, const char *name, double freq_hz, double level_dbfs,
		    uint32_t buses, uint32_t *id)
{
	struct node_model m = {
		.kind = NODE_TONE,
		.channels = 1,
		.buses = buses,
		.gain = 1.0f,
		.bus_gain = { 1.0f, 1.0f },
		.running = true,
		.tone_freq = freq_hz,
		.tone_level_dbfs = level_dbfs,
	};

	if (!(freq_hz > 0.0 && freq_hz < 96000.0) || !(level_dbfs <= 0.0) || !buses ||
	    (buses & ~(ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT)))
		return -ERANGE;
	snprintf(m.name, sizeof(m.name), "%s", name && *name ? name : "tone");
	snprintf(m.kind_name, sizeof(m.kind_name), "tone");
	return add_source(e, &m, id);
}

static bool gain_ok(float g)
{
	return g >= 0.0f && g <= ENGINE_GAIN_MAX;
}

int engine_add_source(struct engine *e, const struct engine_source *src, uint32_t *id)
{
	struct node_model m = {
		.kind = NODE_CUSTOM,
		.channels = src->channels,
		.buses = src->buses,
		.gain = src->gain,
		.bus_gain = { src->bus_gain[0], src->bus_gain[1] },
		.running = true,
		.render = src->render,
		.release = src->release,
		.state = src->state,
	};

	if (!src->render || (src->channels != 1 && src->channels != 2) ||
	    (src->buses & ~(ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT)))
		return -EINVAL;
	if (!gain_ok(src->gain) || !gain_ok(src->bus_gain[0]) || !gain_ok(src->bus_gain[1]))
		return -ERANGE;
	snprintf(m.name, sizeof(m.name), "%s", src->name ? src->name : "source");
	snprintf(m.kind_name, sizeof(m.kind_name), "%s", src->kind ? src->kind : "custom");
	return add_source(e, &m, id);
}

int engine_add_custom(struct engine *e, const char *name, const char *kind, uint32_t channels,
		      uint32_t buses, engine_render_fn render, engine_release_fn release,
		      void *state, uint32_t *id)
{
	struct engine_source src = {
		.name = name,
		.kind = kind,
		.channels = channels,
		.buses = buses,
		.gain = 1.0f,
		.bus_gain = { 1.0f, 1.0f },
		.render = render,
		.release = release,
		.state = state,
	};

	return engine_add_source(e, &src, id);
}

int engine_remove_node(struct engine *e, uint32_t id)
{
	struct node_model *m;
	int ret = 0;

	pthread_mutex_lock(&e->lock);
	m = find_model(e, id);
	if (!m) {
		ret = -ENOENT;
		goto out_unlock;
	}
	if (m->is_bus) {
		ret = -EPERM;
		goto out_unlock;
	}
	if (defer(e, (struct deferred){ .kind = DEFER_SLOT, .slot = m->slot }) < 0 ||
	    (m->release &&
	     defer(e, (struct deferred){ .kind = DEFER_STATE, .release = m->release, .state = m->state }) < 0)) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	for (uint32_t t = 0; t < m->n_taps; t++)
		defer(e, (struct deferred){ .kind = DEFER_TAP, .tap = m->taps[t] });
	*m = e->models[--e->n_models];
	ret = publish(e);
out_unlock:
	pthread_mutex_unlock(&e->lock);
	return ret;
}

int engine_set_buses(struct engine *e, uint32_t id, uint32_t buses)
{
	struct node_model *m;
	int ret;

	if (buses & ~(ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT))
		return -ERANGE;
	pthread_mutex_lock(&e->lock);
	m = find_model(e, id);
	if (!m || m->is_bus) {
		ret = m ? -EPERM : -ENOENT;
	} else {
		m->buses = buses;
		ret = publish(e);
	}
	pthread_mutex_unlock(&e->lock);
	return ret;
}

static int send_command(struct engine *e, uint32_t id, enum rt_cmd_type type, uint16_t flags,
			float value)
{
	struct node_model *m;
	struct rt_cmd cmd = { .type = type, .flags = flags, .node_id = id, .value = value };
	int ret = 0;

	pthread_mutex_lock(&e->lock);
	m = find_model(e, id);
	if (!m) {
		ret = -ENOENT;
		goto out_unlock;
	}
	cmd.slot = m->slot;
	if (!spsc_ring_push(&e->rt.commands, &cmd)) {
		atomic_fetch_add(&e->command_ring_full, 1);
		ret = -EAGAIN;
		goto out_unlock;
	}
	switch (type) {
	case RT_CMD_GAIN:
		m->gain = value;
		break;
	case RT_CMD_MUTE:
		m->mute = value != 0.0f;
		break;
	case RT_CMD_PAN:
		m->pan = value;
		break;
	case RT_CMD_RUNNING:
		m->running = value != 0.0f;
		break;
	case RT_CMD_BUS_GAIN:
		for (int b = 0; b < 2; b++)
			if (flags & (1u << b))
				m->bus_gain[b] = value;
		break;
	}
out_unlock:
	pthread_mutex_unlock(&e->lock);
	return ret;
}

int engine_set_gain(struct engine *e, uint32_t id, float gain)
{
	if (!(gain >= 0.0f && gain <= ENGINE_GAIN_MAX))
		return -ERANGE;
	return send_command(e, id, RT_CMD_GAIN, 0, gain);
}

int engine_set_mute(struct engine *e, uint32_t id, bool mute)
{
	return send_command(e, id, RT_CMD_MUTE, 0, mute ? 1.0f : 0.0f);
}

int engine_set_pan(struct engine *e, uint32_t id, float pan)
{
	if (!(pan >= -1.0f && pan <= 1.0f))
		return -ERANGE;
	return send_command(e, id, RT_CMD_PAN, 0, pan);
}

int engine_set_running(struct engine *e, uint32_t id, bool running)
{
	return send_command(e, id, RT_CMD_RUNNING, 0, running ? 1.0f : 0.0f);
}

int engine_set_bus_gain(struct engine *e, uint32_t id, uint32_t buses, float gain)
{
	if (!(gain >= 0.0f && gain <= ENGINE_GAIN_MAX))
		return -ERANGE;
	if (!buses || (buses & ~(ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT)))
		return -EINVAL;
	return send_command(e, id, RT_CMD_BUS_GAIN, (uint16_t)buses, gain);
}

static void fill_info(struct engine *e, const struct node_model *m, struct engine_node_info *out)
{
	const struct meter *meter = &e->rt.slots[m->slot].meter;

	memset(out, 0, sizeof(*out));
	out->id = m->id;
	snprintf(out->name, sizeof(out->name), "%s", m->name);
	snprintf(out->kind, sizeof(out->kind), "%s", m->kind_name);
	out->buses = m->buses;
	out->channels = m->channels;
	out->gain = m->gain;
	out->bus_gain[0] = m->bus_gain[0];
	out->bus_gain[1] = m->bus_gain[1];
	out->pan = m->pan;
	out->mute = m->mute;
	out->running = m->running;
	meter_read(meter, out->peak, out->rms);
	out->gain_reduction_db = m->is_bus ? meter_read_extra(meter) : 0.0f;
}

size_t engine_list_nodes(struct engine *e, struct engine_node_info *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&e->lock);
	n = e->n_models;
	for (size_t i = 0; i < n && i < max; i++)
		fill_info(e, &e->models[i], &out[i]);
	pthread_mutex_unlock(&e->lock);
	return n;
}

int engine_get_node(struct engine *e, uint32_t id, struct engine_node_info *out)
{
	struct node_model *m;
	int ret = -ENOENT;

	pthread_mutex_lock(&e->lock);
	m = find_model(e, id);
	if (m) {
		fill_info(e, m, out);
		ret = 0;
	}
	pthread_mutex_unlock(&e->lock);
	return ret;
}

/* ---- taps ---------------------------------------------------------------- */

int engine_tap_open_many(struct engine *e, const uint32_t *ids, uint32_t n, uint32_t frames,
			 struct tap **out)
{
	struct node_model *m;
	uint32_t made = 0, added = 0;
	int ret = 0;

	if (frames < (uint32_t)e->cfg.max_period_frames)
		frames = (uint32_t)e->cfg.max_period_frames;
	for (; made < n; made++) {
		out[made] = tap_create(ids[made], frames);
		if (!out[made]) {
			ret = -ENOMEM;
			goto out_destroy;
		}
	}
	pthread_mutex_lock(&e->lock);
	for (; added < n; added++) {
		m = find_model(e, ids[added]);
		ret = !m ? -ENOENT : m->n_taps == GRAPH_MAX_TAPS ? -ENOSPC : 0;
		if (ret < 0)
			goto out_unwind;
		m->taps[m->n_taps++] = out[added];
	}
	ret = publish(e);	/* one graph: every tap starts on the same cycle */
	if (ret == 0) {
		pthread_mutex_unlock(&e->lock);
		return 0;
	}
out_unwind:
	while (added-- > 0)
		find_model(e, ids[added])->n_taps--;
	pthread_mutex_unlock(&e->lock);
out_destroy:
	while (made-- > 0)
		tap_destroy(out[made]);
	return ret;
}

int engine_tap_open(struct engine *e, uint32_t id, uint32_t frames, struct tap **out)
{
	return engine_tap_open_many(e, &id, 1, frames, out);
}

int engine_tap_open_minus(struct engine *e, uint32_t bus, uint32_t minus_id, uint32_t frames,
			  struct tap **out)
{
	struct node_model *m;
	struct tap *tap;
	int ret;

	if (bus != ENGINE_BUS_PUBLISH && bus != ENGINE_BUS_PLAYOUT)
		return -EINVAL;
	if (frames < (uint32_t)e->cfg.max_period_frames)
		frames = (uint32_t)e->cfg.max_period_frames;
	tap = tap_create_minus(bus, minus_id, frames, (uint32_t)e->cfg.max_period_frames);
	if (!tap)
		return -ENOMEM;
	pthread_mutex_lock(&e->lock);
	m = minus_id ? find_model(e, minus_id) : NULL;
	ret = minus_id && (!m || m->is_bus) ? -ENOENT
		: grow((void **)&e->minus, e->n_minus, &e->cap_minus, sizeof(*e->minus));
	if (ret == 0) {
		e->minus[e->n_minus++] = tap;
		ret = publish(e);
		if (ret < 0)
			e->n_minus--;
	}
	pthread_mutex_unlock(&e->lock);
	if (ret < 0) {
		tap_destroy(tap);
		return ret;
	}
	*out = tap;
	return 0;
}

void engine_tap_close(struct engine *e, struct tap *tap)
{
	pthread_mutex_lock(&e->lock);
	for (uint32_t t = 0; t < e->n_minus; t++) {
		if (e->minus[t] != tap)
			continue;
		e->minus[t] = e->minus[--e->n_minus];
		defer(e, (struct deferred){ .kind = DEFER_TAP, .tap = tap });
		publish(e);
		goto out_unlock;
	}
	for (uint32_t i = 0; i < e->n_models; i++) {
		struct node_model *m = &e->models[i];

		for (uint32_t t = 0; t < m->n_taps; t++) {
			if (m->taps[t] != tap)
				continue;
			m->taps[t] = m->taps[--m->n_taps];
			defer(e, (struct deferred){ .kind = DEFER_TAP, .tap = tap });
			publish(e);
			goto out_unlock;
		}
	}
out_unlock:
	pthread_mutex_unlock(&e->lock);
}

/* ---- offline ------------------------------------------------------------- */

int engine_offline_run(struct engine *e, uint32_t nframes, const float *const *inputs,
		       float *const *outputs)
{
	uint32_t period = atomic_load(&e->period);
	int ret;

	if (!e->opts.manual_clock || e->clock != &clock_offline_ops || !e->backend)
		return -EINVAL;
	if (period == 0 || nframes % period)
		return -EINVAL;
	ret = clock_offline_run(e->backend, nframes / period, inputs, outputs);
	pthread_mutex_lock(&e->lock);
	reap(e);
	pthread_mutex_unlock(&e->lock);
	return ret;
}
