/* graph.h - the immutable processing graph and the per-node slots it refers to.
 *
 * DESIGN
 * A graph is built on the control side (graph_new), never changed after it is
 * published, swapped in by the RT thread at a cycle start and handed back on
 * the retire ring, then freed off RT (graph_free). It holds what changes only
 * with the structure: which nodes exist, what they render, which buses they
 * feed, which taps copy them, and the rate-dependent constants.
 *
 * What must survive a swap lives in slots, one per node, preallocated for
 * cfg max_nodes: the gain, pan and mute the commands set, the current ramp
 * position, an oscillator's phase and the meters. RT owns a slot's state
 * while some graph it runs refers to the slot; the control side touches a
 * slot only to initialise it before the first graph that uses it is
 * published (release/acquire through the graph pointer orders that) and
 * after the last such graph is gone (see engine.c, deferred frees).
 *
 * Threads: graph_new/graph_free on the control or event thread; reading a
 * published graph on the RT thread.
 */
#ifndef AIRMIX_GRAPH_H
#define AIRMIX_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "dsp/limiter.h"
#include "dsp/meter.h"
#include "engine.h"

#define GRAPH_MAX_TAPS 8

enum node_kind {
	NODE_TONE,
	NODE_INPUT,
	NODE_CUSTOM,
};

/* RT-owned per-node state (see DESIGN above). */
struct node_slot {
	uint32_t node_id;	/* commands for another id are stale and ignored */
	float gain;		/* wanted, set by commands */
	float pan;
	bool mute;
	bool running;
	float cur_l, cur_r;	/* effective channel gains reached at the last cycle end */
	float bus_gain[2];	/* per-bus send gains (publish, playout), set by commands */
	float cur_bus[2];	/* send gains reached at the last cycle end */
	double phase;		/* oscillator phase, radians */
	struct meter meter;	/* post-fader (sources) or post-limiter (buses) */
};

struct graph_node {
	uint32_t id;
	uint32_t slot;
	enum node_kind kind;
	uint32_t channels;	/* 1 or 2 before pan */
	uint32_t buses;		/* ENGINE_TO_* */
	union {
		struct {
			double phase_inc;
			float amplitude;
		} tone;
		struct {
			uint32_t port;
		} input;
		struct {
			engine_render_fn render;
			void *state;
		} custom;
	} u;
	uint32_t n_taps;
	struct tap *taps[GRAPH_MAX_TAPS];
	uint32_t minus_first;	/* graph->minus[minus_first..+n_minus] take this node out */
	uint32_t n_minus;
};

struct graph_bus {
	uint32_t slot;		/* 0 = publish, 1 = playout */
	uint32_t n_taps;
	struct tap *taps[GRAPH_MAX_TAPS];
};

struct graph {
	uint64_t seq;		/* increases with every graph built */
	uint32_t rate;
	uint32_t meter_window;	/* frames */
	float limiter_ceiling;	/* linear */
	uint32_t limiter_lookahead;	/* frames */
	float limiter_release;	/* coefficient */
	struct graph_bus buses[2];
	/* mix-minus taps of the publish bus, grouped by the node they take out;
	 * the first n_minus_bound have their node in this graph */
	uint32_t n_minus;
	uint32_t n_minus_bound;
	struct tap **minus;	/* n_minus, in the same allocation */
	uint32_t n_nodes;
	struct graph_node nodes[];	/* flexible array */
};

/* Control thread: a zeroed graph with room for n nodes and n_minus mix-minus
 * taps. NULL on ENOMEM. */
struct graph *graph_new(uint32_t n_nodes, uint32_t n_minus);
void graph_free(struct graph *g);

#endif
