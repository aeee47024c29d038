/* test_xrun_report.c - an xrun on the internal clock is counted and
 * reported once, with how far the worst one ran over against the period,
 * and logged with when it began and how long it took (the health reply's
 * recent_xruns).
 *
 * A source stalls one cycle by spinning for 300 ms (beyond the clock's
 * 100 ms catch-up window) on the clock thread; the report must say so.
 *
 * Threads: main; the internal clock thread runs the stalling source; the
 * event thread delivers the notice.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "offline.h"
#include "engine/engine.h"
#include "engine/errors.h"

#define STALL_MS 300

struct stall {
	_Atomic bool armed;
	_Atomic bool done;
};

struct seen {
	_Atomic int xruns;
	char message[256];
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void stall_render(void *state, float *const *out, uint32_t nframes)
{
	struct stall *s = state;

	memset(out[0], 0, nframes * sizeof(float));
	if (!atomic_exchange(&s->armed, false))
		return;
	for (double t0 = now_ms(); now_ms() - t0 < STALL_MS;)
		;	/* the test's stall: a cycle that takes far too long */
	atomic_store(&s->done, true);
}

static void collect(const struct engine_notice *n, void *user)
{
	struct seen *seen = user;

	if (n->domain != AIRMIX_DOMAIN_ENGINE || n->code != ENGINE_XRUN)
		return;
	if (atomic_fetch_add(&seen->xruns, 1) == 0)
		snprintf(seen->message, sizeof(seen->message), "%s", n->message);
}

int main(void)
{
	struct airmix_config cfg;
	struct engine_options opts = { 0 };
	struct engine *e = NULL;
	struct stall stall = { .armed = false };
	struct seen seen = { .xruns = 0 };
	struct engine_source src = { .name = "stall", .kind = "test", .channels = 1,
				     .buses = ENGINE_TO_PUBLISH, .gain = 1.0f,
				     .render = stall_render, .state = &stall };
	char err[256];
	uint32_t id;
	double worst = 0.0, period = 0.0;
	const char *took;
	struct engine_status st;
	struct engine_xrun x;
	int64_t armed_ns;

	offline_config(&cfg, 48000, 256);
	cfg.backend = BACKEND_INTERNAL;
	if (engine_create(&cfg, &opts, NULL, &e, err, sizeof(err)) < 0 ||
	    engine_start(e, err, sizeof(err)) < 0) {
		printf("# engine: %s\n", err);
		return 1;
	}
	CHECK(engine_subscribe(e, collect, &seen) == 0, "subscribed");
	CHECK(engine_add_source(e, &src, &id) == 0, "a source that can stall");
	armed_ns = realtime_ns();
	atomic_store(&stall.armed, true);
	for (int i = 0; i < 200 && !atomic_load(&stall.done); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	/* reports come at most once a second */
	for (int i = 0; i < 300 && !atomic_load(&seen.xruns); i++) {
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
		engine_sync_events(e);
	}
	CHECK(atomic_load(&stall.done), "the source stalled one cycle");
	CHECK(atomic_load(&seen.xruns) == 1, "one xrun report (%d)", atomic_load(&seen.xruns));
	took = strstr(seen.message, "the worst: ");
	CHECK(took && sscanf(took, "the worst: %lf ms against a %lf ms period", &worst,
			     &period) == 2,
	      "the report says how long: \"%s\"", seen.message);
	CHECK(worst >= STALL_MS - 110 && worst < 10 * STALL_MS && period > 5.25 && period < 5.45,
	      "behind by %.1f ms against a %.2f ms period", worst, period);
	engine_get_status(e, &st);
	CHECK(st.n_recent_xruns == 1 && st.xruns == 1, "the xrun is logged (%u of %llu)",
	      st.n_recent_xruns, (unsigned long long)st.xruns);
	x = st.recent_xruns[0];
	CHECK(x.took_ns == x.wall_ns && x.took_ns >= (STALL_MS - 110) * 1000000LL,
	      "logged with its time: took %lld ns, wall %lld ns", (long long)x.took_ns,
	      (long long)x.wall_ns);
	CHECK(x.began_ns >= armed_ns && x.began_ns + x.wall_ns <= realtime_ns(),
	      "and when it began: %.3f s after arming", (x.began_ns - armed_ns) * 1e-9);
	engine_unsubscribe(e, collect, &seen);
	engine_destroy(e);
	return CHECK_DONE();
}
