/* test_stress.c - threaded stress of the engine for TSan (make test-tsan):
 * the internal clock runs real cycles on its own thread while two control
 * threads hammer gain/mute/pan commands and add/remove nodes (graph publish
 * and retire), and a third reads meters and status. Then it checks that the
 * engine still runs, that commands to one node apply in order (the last one
 * wins), that removed custom sources are released exactly once and never
 * rendered after their release, and that the node count is what the threads
 * left.
 *
 * Threads: main, the engine's clock and event threads, and three test
 * threads (commands, graph, reader) for a bounded time.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "engine/config.h"
#include "engine/engine.h"

#define RUN_SECONDS 3.0
#define MAX_LOOPS 2000000
#define FIXED_NODES 4
#define OWN_MAX 8
#define OWN_LEFT 3
#define STATE_POOL 4096
#define ORDER_LEVEL 0.5f
#define ORDER_FINAL 0.37f
#define ORDER_COMMANDS 3000
#define LIST_MAX 64

#define STATE_LIVE 0x11fe11feu
#define STATE_DEAD 0xdeadbeefu

/* A custom source: a constant level; released states are kept (not freed)
 * until the end so that a render after release is detected, not undefined. */
struct source_state {
	_Atomic uint32_t magic;
	float level;
};

struct stress {
	struct engine *e;
	double deadline;
	atomic_bool stop;
	uint32_t fixed[FIXED_NODES];

	/* command thread */
	uint64_t cmds_sent, cmds_full, cmds_bad;
	/* graph thread */
	uint32_t own[OWN_MAX];
	uint32_t n_own;
	uint64_t adds, removes, graph_bad, stale_ok;
	/* reader thread */
	uint64_t reads, read_bad;
	uint64_t cycles_seen;
};

static struct source_state pool[STATE_POOL];
static atomic_uint pool_used;
static atomic_ulong released;
static atomic_ulong released_twice;
static atomic_ulong rendered_dead;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static uint32_t next_random(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

/* RT thread: render a constant; count a render of a released state. */
static void render_constant(void *state, float *const *out, uint32_t nframes)
{
	struct source_state *s = state;
	uint32_t i;

	if (atomic_load_explicit(&s->magic, memory_order_relaxed) != STATE_LIVE)
		atomic_fetch_add_explicit(&rendered_dead, 1, memory_order_relaxed);
	for (i = 0; i < nframes; i++)
		out[0][i] = s->level;
}

/* Engine event or control thread: once the last graph using it is gone. */
static void release_state(void *state)
{
	struct source_state *s = state;
	uint32_t live = STATE_LIVE;

	if (!atomic_compare_exchange_strong(&s->magic, &live, STATE_DEAD))
		atomic_fetch_add(&released_twice, 1);
	atomic_fetch_add(&released, 1);
}

static struct source_state *new_state(float level)
{
	unsigned i = atomic_fetch_add(&pool_used, 1);

	if (i >= STATE_POOL)
		return NULL;
	pool[i].level = level;
	atomic_store(&pool[i].magic, STATE_LIVE);
	return &pool[i];
}

static bool running(struct stress *s, uint64_t loops)
{
	if (atomic_load(&s->stop) || loops >= MAX_LOOPS)
		return false;
	if (loops % 256 == 0 && now_s() > s->deadline) {
		atomic_store(&s->stop, true);
		return false;
	}
	return true;
}

/* Command thread: gain, mute and pan on the fixed nodes. */
static void *command_main(void *arg)
{
	struct stress *s = arg;
	uint32_t rnd = 0x2545f491u;
	uint64_t loops = 0;
	int i;

	while (running(s, loops++)) {
		uint32_t id = s->fixed[next_random(&rnd) % FIXED_NODES];
		uint32_t what = next_random(&rnd) % 3;
		float x = (float)(next_random(&rnd) % 1001) / 1000.0f;
		int ret;

		if (what == 0)
			ret = engine_set_gain(s->e, id, 2.0f * x);
		else if (what == 1)
			ret = engine_set_pan(s->e, id, 2.0f * x - 1.0f);
		else
			ret = engine_set_mute(s->e, id, x < 0.2f);
		s->cmds_sent++;
		if (ret == -EAGAIN) {
			s->cmds_full++;
			sched_yield();
		} else if (ret != 0) {
			s->cmds_bad++;
		}
	}
	/* Leave the fixed nodes audible and centred. */
	for (i = 0; i < FIXED_NODES; i++) {
		int tries;

		for (tries = 0; tries < 1000; tries++) {
			if (engine_set_mute(s->e, s->fixed[i], false) != -EAGAIN &&
			    engine_set_pan(s->e, s->fixed[i], 0.0f) != -EAGAIN)
				break;
			sleep_ms(1);
		}
	}
	return NULL;
}

/* Graph thread: add and remove tone and custom nodes, command them, and
 * command nodes it already removed (must be refused with -ENOENT). */
static void *graph_main(void *arg)
{
	struct stress *s = arg;
	uint32_t rnd = 0x7f4a7c15u;
	uint32_t last_removed = 0;
	uint64_t loops = 0;
	int ret;

	while (running(s, loops++)) {
		uint32_t r = next_random(&rnd);

		if (s->n_own < OWN_MAX && (s->n_own < 2 || r % 2 == 0)) {
			struct source_state *st = r % 4 == 0 ? NULL : new_state(0.01f);
			uint32_t id;

			if (st)
				ret = engine_add_custom(s->e, "stress", "custom", 1,
							ENGINE_TO_PUBLISH, render_constant,
							release_state, st, &id);
			else
				ret = engine_add_tone(s->e, "stress", 100.0 + r % 1000, -30.0,
						      ENGINE_TO_PLAYOUT, &id);
			if (ret == 0) {
				s->own[s->n_own++] = id;
				s->adds++;
			} else {
				if (st)
					release_state(st);	/* never handed over */
				s->graph_bad++;
			}
		} else if (s->n_own > 0) {
			uint32_t k = r % s->n_own;

			ret = engine_remove_node(s->e, s->own[k]);
			if (ret == 0) {
				last_removed = s->own[k];
				s->own[k] = s->own[--s->n_own];
				s->removes++;
			} else {
				s->graph_bad++;
			}
		}
		if (s->n_own > 0) {
			ret = engine_set_gain(s->e, s->own[r % s->n_own], 0.5f);
			if (ret != 0 && ret != -EAGAIN)
				s->graph_bad++;
		}
		if (last_removed) {
			if (engine_set_gain(s->e, last_removed, 0.5f) == -ENOENT)
				s->stale_ok++;
			else
				s->graph_bad++;
		}
		if (r % 64 == 0 && s->n_own > 0 &&
		    engine_set_buses(s->e, s->own[0], ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT) != 0)
			s->graph_bad++;
	}
	/* Leave exactly OWN_LEFT nodes of its own. */
	while (s->n_own > OWN_LEFT) {
		if (engine_remove_node(s->e, s->own[s->n_own - 1]) != 0) {
			s->graph_bad++;
			break;
		}
		s->n_own--;
		s->removes++;
	}
	while (s->n_own < OWN_LEFT) {
		if (engine_add_tone(s->e, "stress", 330.0, -30.0, ENGINE_TO_PLAYOUT,
				    &s->own[s->n_own]) != 0) {
			s->graph_bad++;
			break;
		}
		s->n_own++;
		s->adds++;
	}
	return NULL;
}

/* Reader thread: meters of every node and the status, as the web admin does. */
static void *reader_main(void *arg)
{
	struct stress *s = arg;
	static struct engine_node_info info[LIST_MAX];
	uint64_t loops = 0, last_cycles = 0;

	while (running(s, loops++)) {
		struct engine_status st;
		size_t n = engine_list_nodes(s->e, info, LIST_MAX), i;

		if (n < 2 + FIXED_NODES || n > LIST_MAX)
			s->read_bad++;
		for (i = 0; i < n && i < LIST_MAX; i++) {
			for (int c = 0; c < 2; c++) {
				if (!(info[i].peak[c] >= 0.0f && info[i].peak[c] <= 16.0f) ||
				    !(info[i].rms[c] >= 0.0f && info[i].rms[c] <= 16.0f))
					s->read_bad++;
			}
		}
		engine_get_status(s->e, &st);
		if (!st.running || st.cycles < last_cycles)
			s->read_bad++;
		last_cycles = st.cycles;
		s->reads++;
		if (loops % 16 == 0)
			sched_yield();
	}
	s->cycles_seen = last_cycles;
	return NULL;
}

/* Main thread: gain commands to one node in a burst; the last must win. */
static void check_command_order(struct stress *s, uint32_t id)
{
	struct engine_node_info info;
	float want = ORDER_LEVEL * ORDER_FINAL;
	int i, sent = 0, full = 0;
	bool settled = false;
	double until;

	for (i = 0; i < ORDER_COMMANDS; i++) {
		/* high, low, high ... then the final value */
		float g = i % 2 ? 1.9f : 0.05f + i * 1e-4f;
		int tries, ret = -EAGAIN;

		if (i == ORDER_COMMANDS - 1)
			g = ORDER_FINAL;
		for (tries = 0; tries < 2000 && ret == -EAGAIN; tries++) {
			ret = engine_set_gain(s->e, id, g);
			if (ret == -EAGAIN) {
				full++;
				sleep_ms(1);
			}
		}
		sent += ret == 0;
	}
	CHECK(sent == ORDER_COMMANDS,
	      "%d gain commands to one node accepted (%d; ring full %d times)", ORDER_COMMANDS,
	      sent, full);
	until = now_s() + 3.0;
	while (now_s() < until) {
		sleep_ms(20);
		if (engine_get_node(s->e, id, &info) == 0 && fabsf(info.peak[0] - want) < 1e-4f &&
		    fabsf(info.peak[1] - want) < 1e-4f) {
			settled = true;
			break;
		}
	}
	CHECK(settled, "the meter settles at the last gain: peak %.4f/%.4f, want %.4f",
	      info.peak[0], info.peak[1], want);
	sleep_ms(150);
	CHECK(engine_get_node(s->e, id, &info) == 0 && fabsf(info.peak[0] - want) < 1e-4f &&
		      fabsf(info.rms[0] - want) < 1e-3f,
	      "and stays there (peak %.4f rms %.4f)", info.peak[0], info.rms[0]);
	CHECK(info.gain == ORDER_FINAL, "the node reports the last gain (%.3f)", info.gain);
}

int main(void)
{
	static struct stress s;
	static struct source_state order_state = { .level = ORDER_LEVEL };
	struct airmix_config cfg;
	struct engine_status st0, st;
	struct engine_node_info list[LIST_MAX];
	pthread_t cmd, graph, reader;
	uint32_t order_id = 0;
	char err[256] = "";
	size_t n;
	int i, ret, ok = 0;

	config_defaults(&cfg);
	cfg.backend = BACKEND_INTERNAL;
	cfg.sample_rate = 48000;
	cfg.period_frames = 64;
	cfg.tone_enabled = false;
	ret = engine_create(&cfg, NULL, NULL, &s.e, err, sizeof(err));
	CHECK(ret == 0, "engine_create%s%s", err[0] ? ": " : "", err);
	if (ret)
		return CHECK_DONE();
	ret = engine_start(s.e, err, sizeof(err));
	CHECK(ret == 0, "engine_start on the internal clock%s%s", err[0] ? ": " : "", err);
	if (ret)
		goto out_destroy;
	for (i = 0; i < FIXED_NODES; i++)
		ok += engine_add_tone(s.e, "fixed", 220.0 * (i + 1), -24.0,
				      ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT, &s.fixed[i]) == 0;
	CHECK(ok == FIXED_NODES, "add %d fixed tones", FIXED_NODES);
	atomic_store(&order_state.magic, STATE_LIVE);
	ret = engine_add_custom(s.e, "order", "custom", 1, ENGINE_TO_PUBLISH, render_constant,
				NULL, &order_state, &order_id);
	CHECK(ret == 0, "add the command-order node");
	sleep_ms(50);
	engine_get_status(s.e, &st0);

	s.deadline = now_s() + RUN_SECONDS;
	atomic_init(&s.stop, false);
	CHECK(pthread_create(&cmd, NULL, command_main, &s) == 0 &&
		      pthread_create(&graph, NULL, graph_main, &s) == 0 &&
		      pthread_create(&reader, NULL, reader_main, &s) == 0,
	      "start the command, graph and reader threads");
	pthread_join(cmd, NULL);
	pthread_join(graph, NULL);
	pthread_join(reader, NULL);
	printf("# commands %llu (ring full %llu), adds %llu, removes %llu, reads %llu\n",
	       (unsigned long long)s.cmds_sent, (unsigned long long)s.cmds_full,
	       (unsigned long long)s.adds, (unsigned long long)s.removes,
	       (unsigned long long)s.reads);

	CHECK(s.cmds_bad == 0, "every command was accepted or refused as ring full (%llu bad)",
	      (unsigned long long)s.cmds_bad);
	CHECK(s.cmds_sent > 1000, "the command thread sent %llu commands",
	      (unsigned long long)s.cmds_sent);
	CHECK(s.graph_bad == 0, "graph edits and commands to removed nodes behaved (%llu bad)",
	      (unsigned long long)s.graph_bad);
	CHECK(s.adds > 20 && s.removes > 10, "the graph was rebuilt (%llu adds, %llu removes)",
	      (unsigned long long)s.adds, (unsigned long long)s.removes);
	CHECK(s.stale_ok > 0, "commands to removed nodes were refused with -ENOENT (%llu)",
	      (unsigned long long)s.stale_ok);
	CHECK(s.read_bad == 0 && s.reads > 100, "%llu meter/status reads were sane (%llu bad)",
	      (unsigned long long)s.reads, (unsigned long long)s.read_bad);

	engine_get_status(s.e, &st);
	CHECK(st.running, "the engine is still running");
	CHECK(st.cycles > st0.cycles + 1000, "cycles advanced during the run (%llu -> %llu)",
	      (unsigned long long)st0.cycles, (unsigned long long)st.cycles);
	n = engine_list_nodes(s.e, list, LIST_MAX);
	CHECK(n == 2 + FIXED_NODES + 1 + s.n_own && s.n_own == OWN_LEFT,
	      "node count is what the threads left (%zu, want %u)", n,
	      2 + FIXED_NODES + 1 + OWN_LEFT);
	CHECK(st.nodes == n, "status agrees on the node count (%u)", st.nodes);

	check_command_order(&s, order_id);

	engine_sync_events(s.e);
	engine_stop(s.e);
	engine_get_status(s.e, &st);
	CHECK(!st.running, "the engine stops");
out_destroy:
	engine_destroy(s.e);
	CHECK(atomic_load(&rendered_dead) == 0,
	      "no custom source was rendered after its release (%lu)", atomic_load(&rendered_dead));
	CHECK(atomic_load(&released_twice) == 0, "no custom source was released twice");
	{
		unsigned used = atomic_load(&pool_used);

		if (used > STATE_POOL)
			used = STATE_POOL;
		CHECK(atomic_load(&released) == used,
		      "every custom source was released exactly once by the end (%lu of %u)",
		      atomic_load(&released), used);
	}
	return CHECK_DONE();
}
