/* rt.c - one cycle of the graph on the clock thread; see rt.h for the design.
 *
 * Threads: rt_process on the RT thread only; rt_init/rt_fini on the control
 * thread while no clock runs.
 */
#include "rt.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "dsp/mix.h"
#include "rtmark.h"
#include "tap.h"

#define RETIRE_RING 64
#define TWO_PI 6.283185307179586

static uint32_t float_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

float rt_load_float(const _Atomic uint32_t *bits)
{
	uint32_t u = atomic_load_explicit(bits, memory_order_relaxed);
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static float *alloc_buffer(uint32_t frames)
{
	float *b = calloc(frames, sizeof(float));

	if (b) {
		memset(b, 0, frames * sizeof(float));
		(void)mlock(b, frames * sizeof(float));
	}
	return b;
}

int rt_init(struct rt *rt, uint32_t n_slots, uint32_t max_period, uint32_t command_ring,
	    uint32_t event_ring)
{
	memset(rt, 0, sizeof(*rt));
	rt->n_slots = n_slots;
	rt->max_period = max_period;
	rt->slots = calloc(n_slots, sizeof(*rt->slots));
	if (!rt->slots)
		goto out_nomem;
	(void)mlock(rt->slots, n_slots * sizeof(*rt->slots));
	if (spsc_ring_init(&rt->commands, command_ring, sizeof(struct rt_cmd)) < 0 ||
	    spsc_ring_init(&rt->events, event_ring, sizeof(struct rt_event)) < 0 ||
	    spsc_ring_init(&rt->retire, RETIRE_RING, sizeof(struct graph *)) < 0)
		goto out_nomem;
	for (int c = 0; c < 2; c++) {
		rt->scratch[c] = alloc_buffer(max_period);
		rt->post[c] = alloc_buffer(max_period);
		rt->bus[0][c] = alloc_buffer(max_period);
		rt->bus[1][c] = alloc_buffer(max_period);
		if (!rt->scratch[c] || !rt->post[c] || !rt->bus[0][c] || !rt->bus[1][c])
			goto out_nomem;
	}
	rt->interleaved = alloc_buffer(2 * max_period);
	rt->lim_gain = alloc_buffer(max_period);
	if (!rt->interleaved || !rt->lim_gain)
		goto out_nomem;
	limiter_init(&rt->limiter[0], 1.0f, 0, 1.0f);
	limiter_init(&rt->limiter[1], 1.0f, 0, 1.0f);
	atomic_init(&rt->next, NULL);
	return 0;

out_nomem:
	rt_fini(rt);
	return -ENOMEM;
}

void rt_fini(struct rt *rt)
{
	for (int c = 0; c < 2; c++) {
		free(rt->scratch[c]);
		free(rt->post[c]);
		free(rt->bus[0][c]);
		free(rt->bus[1][c]);
	}
	free(rt->interleaved);
	free(rt->lim_gain);
	spsc_ring_free(&rt->commands);
	spsc_ring_free(&rt->events);
	spsc_ring_free(&rt->retire);
	free(rt->slots);
	rt->slots = NULL;
}

static void post_event(struct rt *rt, uint32_t type, uint32_t node_id, int64_t value)
{
	struct rt_event ev = {
		.type = type,
		.node_id = node_id,
		.cycle = atomic_load_explicit(&rt->cycles, memory_order_relaxed),
		.value = value,
	};

	if (!spsc_ring_push(&rt->events, &ev))
		atomic_fetch_add_explicit(&rt->event_overflows, 1, memory_order_relaxed);
}

static void apply_command(struct rt *rt, const struct rt_cmd *cmd)
{
	struct node_slot *slot;

	if (cmd->slot >= rt->n_slots)
		return;
	slot = &rt->slots[cmd->slot];
	if (slot->node_id != cmd->node_id) {
		post_event(rt, RT_EV_STALE_COMMAND, cmd->node_id, 0);
		return;
	}
	switch (cmd->type) {
	case RT_CMD_GAIN:
		slot->gain = cmd->value;
		break;
	case RT_CMD_MUTE:
		slot->mute = cmd->value != 0.0f;
		break;
	case RT_CMD_PAN:
		slot->pan = cmd->value;
		break;
	case RT_CMD_RUNNING:
		slot->running = cmd->value != 0.0f;
		break;
	case RT_CMD_BUS_GAIN:
		for (int b = 0; b < 2; b++)
			if (cmd->flags & (1u << b))
				slot->bus_gain[b] = cmd->value;
		break;
	}
}

static void drain_commands(struct rt *rt)
{
	struct rt_cmd cmd;

	while (spsc_ring_pop(&rt->commands, &cmd))
		apply_command(rt, &cmd);
}

static void update_limiter(struct limiter *lim, const struct graph *g)
{
	if (lim->lookahead != g->limiter_lookahead) {
		limiter_init(lim, g->limiter_ceiling, g->limiter_lookahead, g->limiter_release);
		return;
	}
	lim->ceiling = g->limiter_ceiling;
	lim->release_coef = g->limiter_release;
}

/* Cycle start: new graph (acquire), then commands, then announce (release). */
static void take_graph_and_commands(struct rt *rt)
{
	struct graph *g = atomic_exchange_explicit(&rt->next, NULL, memory_order_acq_rel);

	drain_commands(rt);
	if (!g)
		return;
	if (rt->current && !spsc_ring_push(&rt->retire, &rt->current))
		atomic_fetch_add_explicit(&rt->retire_overflows, 1, memory_order_relaxed);
	rt->current = g;
	update_limiter(&rt->limiter[0], g);
	update_limiter(&rt->limiter[1], g);
	atomic_store_explicit(&rt->current_seq, g->seq, memory_order_release);
}

static void render_tone(const struct graph_node *node, struct node_slot *slot, float *out,
			uint32_t n)
{
	double phase = slot->phase;
	const double inc = node->u.tone.phase_inc;
	const float amp = node->u.tone.amplitude;

	for (uint32_t i = 0; i < n; i++) {
		out[i] = amp * (float)sin(phase);
		phase += inc;
		if (phase >= TWO_PI)
			phase -= TWO_PI;
	}
	slot->phase = phase;
}

static void render_source(struct rt *rt, const struct graph_node *node, struct node_slot *slot,
			  const struct clock_io *io)
{
	uint32_t n = io->nframes;

	switch (node->kind) {
	case NODE_TONE:
		render_tone(node, slot, rt->scratch[0], n);
		break;
	case NODE_INPUT:
		if (node->u.input.port < io->n_inputs && io->inputs[node->u.input.port])
			memcpy(rt->scratch[0], io->inputs[node->u.input.port], n * sizeof(float));
		else
			dsp_clear(rt->scratch[0], n);
		break;
	case NODE_CUSTOM:
		node->u.custom.render(node->u.custom.state, rt->scratch, n);
		break;
	}
}

/* Balance law with unity at the centre: bit-exact pass-through at pan 0. */
static void pan_gains(float gain, float pan, float *gl, float *gr)
{
	*gl = gain * (pan > 0.0f ? 1.0f - pan : 1.0f);
	*gr = gain * (pan < 0.0f ? 1.0f + pan : 1.0f);
}

static void apply_gain(float *dst, const float *src, uint32_t n, float from, float to)
{
	if (from == to)
		dsp_gain(dst, src, n, to);
	else
		dsp_gain_ramp(dst, src, n, from, to);
}

static void feed_taps(struct rt *rt, struct tap *const *taps, uint32_t n_taps, const float *l,
		      const float *r, uint32_t n, uint32_t source_id)
{
	if (n_taps == 0)
		return;
	dsp_interleave2(rt->interleaved, l, r, n);
	for (uint32_t t = 0; t < n_taps; t++) {
		int first = !atomic_load_explicit(&taps[t]->overrun_reported, memory_order_relaxed);

		if (tap_rt_write(taps[t], rt->interleaved, n) && first)
			post_event(rt, RT_EV_TAP_OVERRUN, source_id,
				   (int64_t)tap_dropped_frames(taps[t]));
	}
}

/* No ramp this cycle: the gains and every bus send stay where they are. */
static bool steady(const struct graph_node *node, const struct node_slot *slot, float gl, float gr)
{
	if (slot->cur_l != gl || slot->cur_r != gr)
		return false;
	for (int b = 0; b < 2; b++)
		if ((node->buses & (1u << b)) && slot->cur_bus[b] != slot->bus_gain[b])
			return false;
	return true;
}

/* Render, then gain, mix and meter each channel in one pass. */
static void process_steady(struct rt *rt, const struct graph_node *node, struct node_slot *slot,
			   const struct clock_io *io, float gl, float gr)
{
	const uint32_t n = io->nframes;

	render_source(rt, node, slot, io);
	for (int c = 0; c < 2; c++) {
		const float *src = rt->scratch[node->channels == 2 ? c : 0];
		float peak4[4], sum4[4];

		dsp_gain_mix_meter(src, n, c ? gr : gl, node->n_taps ? rt->post[c] : NULL,
				   node->buses & ENGINE_TO_PUBLISH ? rt->bus[0][c] : NULL,
				   slot->bus_gain[0],
				   node->buses & ENGINE_TO_PLAYOUT ? rt->bus[1][c] : NULL,
				   slot->bus_gain[1], peak4, sum4);
		meter_fold(&slot->meter, (uint32_t)c, peak4, sum4);
	}
}

static void process_node(struct rt *rt, const struct graph_node *node, const struct clock_io *io,
			 uint32_t meter_window)
{
	struct node_slot *slot = &rt->slots[node->slot];
	const uint32_t n = io->nframes;
	float want = slot->running && !slot->mute ? slot->gain : 0.0f;
	float gl, gr;

	pan_gains(want, slot->pan, &gl, &gr);
	if (gl == 0.0f && gr == 0.0f && slot->cur_l == 0.0f && slot->cur_r == 0.0f) {
		/* silent and staying silent: nothing to render, mix or meter */
		if (node->n_taps) {
			dsp_clear(rt->post[0], n);
			dsp_clear(rt->post[1], n);
			feed_taps(rt, node->taps, node->n_taps, rt->post[0], rt->post[1], n, node->id);
		}
		meter_advance(&slot->meter, n, meter_window);
		return;
	}
	if (steady(node, slot, gl, gr)) {
		process_steady(rt, node, slot, io, gl, gr);
		meter_advance(&slot->meter, n, meter_window);
		if (node->n_taps)
			feed_taps(rt, node->taps, node->n_taps, rt->post[0], rt->post[1], n, node->id);
		return;
	}
	{
		render_source(rt, node, slot, io);
		apply_gain(rt->post[0], rt->scratch[0], n, slot->cur_l, gl);
		apply_gain(rt->post[1], rt->scratch[node->channels == 2 ? 1 : 0], n, slot->cur_r, gr);
		slot->cur_l = gl;
		slot->cur_r = gr;
		for (int b = 0; b < 2; b++) {
			if (!(node->buses & (1u << b)))
				continue;
			dsp_mix_add_gain(rt->bus[b][0], rt->post[0], n, slot->cur_bus[b], slot->bus_gain[b]);
			dsp_mix_add_gain(rt->bus[b][1], rt->post[1], n, slot->cur_bus[b], slot->bus_gain[b]);
			slot->cur_bus[b] = slot->bus_gain[b];
		}
	}
	meter_accumulate(&slot->meter, 0, rt->post[0], n);
	meter_accumulate(&slot->meter, 1, rt->post[1], n);
	meter_advance(&slot->meter, n, meter_window);
	feed_taps(rt, node->taps, node->n_taps, rt->post[0], rt->post[1], n, node->id);
}

/* The bus index (0 publish, 1 playout) a mix-minus tap takes. */
static int minus_bus(const struct tap *tap)
{
	return tap->source_id == ENGINE_BUS_PLAYOUT ? 1 : 0;
}

/* A node that mix-minus taps take out: its contribution to a tap's bus is
 * what that bus gained while the node was processed. */
static void process_node_minus(struct rt *rt, const struct graph *g, const struct graph_node *node,
			       const struct clock_io *io)
{
	const uint32_t n = io->nframes;
	struct tap *const *taps = &g->minus[node->minus_first];

	for (uint32_t t = 0; t < node->n_minus; t++)
		for (int c = 0; c < 2; c++)
			memcpy(taps[t]->own[c], rt->bus[minus_bus(taps[t])][c], n * sizeof(float));
	process_node(rt, node, io, g->meter_window);
	for (uint32_t t = 0; t < node->n_minus; t++) {
		for (int c = 0; c < 2; c++) {
			float *own = taps[t]->own[c];
			const float *bus = rt->bus[minus_bus(taps[t])][c];

			for (uint32_t i = 0; i < n; i++)
				own[i] = bus[i] - own[i];
		}
	}
}

/* y = bus - gain * x, held to the ceiling c. */
static void minus_take(float *out, const float *bus, const float *gain, const float *x,
		       uint32_t n, float c)
{
	for (uint32_t i = 0; i < n; i++) {
		float y = bus[i] - gain[i] * x[i];

		out[i] = y > c ? c : (y < -c ? -c : y);
	}
}

/* out = bus - gain * (own delayed by the look-ahead L): the first L frames
 * of the delayed own are the line (the last L frames of earlier periods,
 * oldest first), the rest own[0 .. n - L); then the line keeps the last L
 * frames of line and own together. */
static void minus_out(struct tap *tap, int ch, float *out, const float *bus, const float *gain,
		      uint32_t lookahead, uint32_t n, float c)
{
	float *line = tap->delay[ch];
	const float *own = tap->own[ch];
	const uint32_t head = lookahead < n ? lookahead : n;

	minus_take(out, bus, gain, line, head, c);
	minus_take(out + head, bus + head, gain + head, own, n - head, c);
	if (n >= lookahead) {
		memcpy(line, own + n - lookahead, lookahead * sizeof(float));
	} else {
		memmove(line, line + n, (lookahead - n) * sizeof(float));
		memcpy(line + lookahead - n, own, n * sizeof(float));
	}
}

/* Mix-minus taps of bus b: the limited bus less the excluded node's
 * contribution taken through the same master gain, the same look-ahead
 * delay and the same limiter gain, frame by frame; so the node cancels to
 * float rounding even while the limiter works, and the others sound as in
 * the programme. A clamp at the ceiling catches what the node was holding
 * down (the others alone may peak where the sum did not). */
static void feed_minus_taps(struct rt *rt, const struct graph *g, const struct limiter *lim,
			    int b, float from_l, float to_l, float from_r, float to_r, uint32_t n)
{
	const float c = lim->ceiling;

	for (uint32_t t = 0; t < g->n_minus; t++) {
		struct tap *tap = g->minus[t];
		float *out[2] = { rt->post[0], rt->post[1] };

		if (minus_bus(tap) != b)
			continue;
		if (t < g->n_minus_bound) {
			apply_gain(tap->own[0], tap->own[0], n, from_l, to_l);
			apply_gain(tap->own[1], tap->own[1], n, from_r, to_r);
			if (tap->delay_len != lim->lookahead) {
				/* a new look-ahead: the line starts silent */
				tap->delay_len = lim->lookahead;
				memset(tap->delay[0], 0, LIMITER_MAX_LOOKAHEAD * sizeof(float));
				memset(tap->delay[1], 0, LIMITER_MAX_LOOKAHEAD * sizeof(float));
			}
			for (int ch = 0; ch < 2; ch++)
				minus_out(tap, ch, out[ch], rt->bus[b][ch], rt->lim_gain,
					  lim->lookahead, n, c);
		} else {
			memcpy(out[0], rt->bus[b][0], n * sizeof(float));
			memcpy(out[1], rt->bus[b][1], n * sizeof(float));
		}
		feed_taps(rt, &tap, 1, out[0], out[1], n, tap->source_id);
	}
}

static void process_bus(struct rt *rt, const struct graph *g, int b, const struct clock_io *io)
{
	const struct graph_bus *bus = &g->buses[b];
	struct node_slot *slot = &rt->slots[bus->slot];
	struct limiter *lim = &rt->limiter[b];
	const uint32_t n = io->nframes;
	float want = slot->mute ? 0.0f : slot->gain;
	float gl, gr;

	float from_l = slot->cur_l, from_r = slot->cur_r;

	pan_gains(want, slot->pan, &gl, &gr);
	apply_gain(rt->bus[b][0], rt->bus[b][0], n, slot->cur_l, gl);
	apply_gain(rt->bus[b][1], rt->bus[b][1], n, slot->cur_r, gr);
	slot->cur_l = gl;
	slot->cur_r = gr;
	lim->min_gain = 1.0f;
	limiter_process_gains(lim, rt->bus[b][0], rt->bus[b][1], n, rt->lim_gain);
	if (g->n_minus)
		feed_minus_taps(rt, g, lim, b, from_l, gl, from_r, gr, n);
	{
		float reduction = (float)(-20.0 * log10(lim->min_gain));

		if (reduction > slot->meter.acc_extra)
			slot->meter.acc_extra = reduction;
	}
	meter_accumulate(&slot->meter, 0, rt->bus[b][0], n);
	meter_accumulate(&slot->meter, 1, rt->bus[b][1], n);
	meter_advance(&slot->meter, n, g->meter_window);
	feed_taps(rt, bus->taps, bus->n_taps, rt->bus[b][0], rt->bus[b][1], n,
		  b == 0 ? ENGINE_BUS_PUBLISH : ENGINE_BUS_PLAYOUT);
	for (int c = 0; c < 2; c++) {
		float *out = io->outputs ? io->outputs[2 * b + c] : NULL;

		if (out)
			memcpy(out, rt->bus[b][c], n * sizeof(float));
	}
}

static void silence_outputs(const struct clock_io *io)
{
	for (int o = 0; o < CLOCK_OUT_COUNT; o++)
		if (io->outputs && io->outputs[o])
			memset(io->outputs[o], 0, io->nframes * sizeof(float));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void account_load(struct rt *rt, double start, uint32_t nframes)
{
	uint32_t rate = atomic_load_explicit(&rt->rate, memory_order_relaxed);
	float load;

	if (rate == 0 || nframes == 0)
		return;
	load = (float)((now_s() - start) * rate / nframes);
	rt->load_avg += (load - rt->load_avg) * 0.02f;
	if (load > rt->load_max)
		rt->load_max = load;
	atomic_store_explicit(&rt->load_bits, float_bits(load), memory_order_relaxed);
	atomic_store_explicit(&rt->load_avg_bits, float_bits(rt->load_avg), memory_order_relaxed);
	atomic_store_explicit(&rt->load_max_bits, float_bits(rt->load_max), memory_order_relaxed);
}

void rt_process(struct rt *rt, const struct clock_io *io)
{
	const uint32_t n = io->nframes;
	double start;
	const struct graph *g;

	rtmark_enter();
	start = now_s();
	take_graph_and_commands(rt);
	g = rt->current;
	if (!g || n > rt->max_period) {
		if (g)
			post_event(rt, RT_EV_PERIOD_TOO_LARGE, 0, n);
		silence_outputs(io);
		goto out;
	}
	for (int b = 0; b < 2; b++) {
		dsp_clear(rt->bus[b][0], n);
		dsp_clear(rt->bus[b][1], n);
	}
	for (uint32_t i = 0; i < g->n_nodes; i++) {
		if (g->nodes[i].n_minus)
			process_node_minus(rt, g, &g->nodes[i], io);
		else
			process_node(rt, &g->nodes[i], io, g->meter_window);
	}
	process_bus(rt, g, 0, io);
	process_bus(rt, g, 1, io);
out:
	atomic_fetch_add_explicit(&rt->frames, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&rt->cycles, 1, memory_order_relaxed);
	account_load(rt, start, n);
	rtmark_leave();
}
