/* rt.h - the real-time side of the engine: one cycle of the graph.
 *
 * DESIGN
 * rt_process() is the only engine code on the clock thread. At a cycle start
 * it takes a newly published graph if there is one (acquire), drains every
 * command record queued before that publish, and only then retires the old
 * graph and announces the new sequence number (release) — so no command for
 * a removed node can reach its slot after the control side may reuse it.
 * Then it renders each node, applies its gain ramp and pan, meters it, feeds
 * its taps and its buses; then each bus gets its master gain, limiter, meter
 * and taps and is copied to the backend's outputs. Reports leave as records
 * on the event ring (overflow counted) or as atomics.
 *
 * Forbidden here (DESIGN §3): allocation, locks, logging, sleeping, I/O.
 * Every buffer is sized for cfg max_period_frames by rt_init.
 *
 * Threads: rt_init/rt_fini on the control thread while no clock runs;
 * rt_process on the RT thread; the rings' other ends on the control side.
 */
#ifndef AIRMIX_RT_H
#define AIRMIX_RT_H

#include <stdatomic.h>
#include <stdint.h>

#include "clock.h"
#include "dsp/limiter.h"
#include "graph.h"
#include "ring.h"

enum rt_cmd_type {
	RT_CMD_GAIN,
	RT_CMD_MUTE,
	RT_CMD_PAN,
	RT_CMD_RUNNING,
	RT_CMD_BUS_GAIN,	/* flags = bus mask */
};

/* A command: plain old data, copied through the command ring. */
struct rt_cmd {
	uint16_t type;
	uint16_t flags;
	uint32_t node_id;
	uint32_t slot;
	float value;
};

enum rt_event_type {
	RT_EV_TAP_OVERRUN,	/* node_id = tap source, value = frames dropped so far */
	RT_EV_STALE_COMMAND,	/* node_id = the command's node */
	RT_EV_PERIOD_TOO_LARGE,	/* value = nframes */
};

struct rt_event {
	uint32_t type;
	uint32_t node_id;
	uint64_t cycle;
	int64_t value;
};

struct rt {
	struct node_slot *slots;
	uint32_t n_slots;
	uint32_t max_period;
	struct graph *current;		/* RT-owned */
	_Atomic(struct graph *) next;	/* published by the control side */
	_Atomic uint64_t current_seq;	/* seq of the graph RT runs */
	struct spsc_ring commands;	/* control -> RT: struct rt_cmd */
	struct spsc_ring events;	/* RT -> event thread: struct rt_event */
	struct spsc_ring retire;	/* RT -> control: struct graph * */
	float *scratch[2];
	float *post[2];
	float *bus[2][2];
	float *interleaved;
	float *lim_gain;		/* the publish limiter's gain per frame */
	struct limiter limiter[2];
	/* statistics, written by RT, read anywhere */
	_Atomic uint64_t cycles;
	_Atomic uint64_t frames;
	_Atomic uint64_t event_overflows;
	_Atomic uint64_t retire_overflows;
	_Atomic uint32_t load_bits;	/* float: last cycle */
	_Atomic uint32_t load_avg_bits;
	_Atomic uint32_t load_max_bits;
	_Atomic uint32_t rate;		/* set by the format callback, read by RT */
	float load_avg;			/* RT-owned */
	float load_max;			/* RT-owned */
};

int rt_init(struct rt *rt, uint32_t n_slots, uint32_t max_period, uint32_t command_ring,
	    uint32_t event_ring);
void rt_fini(struct rt *rt);

/* RT thread. */
void rt_process(struct rt *rt, const struct clock_io *io);

/* Any thread: float stored in an atomic. */
float rt_load_float(const _Atomic uint32_t *bits);

#endif
