/* engine.h - the engine API: the one door the daemon, the web admin, the CLI
 * (through the web admin) and the tests use to drive the graph.
 *
 * DESIGN
 * The control side keeps the wanted state: a list of nodes with their gains,
 * mutes, pans and taps. Structural changes (add/remove a node or a tap) build
 * a new immutable graph and publish it; parameter changes (gain, mute, pan,
 * running) travel as fixed-size commands on the command ring and take effect
 * at the next cycle start. The RT side reports through the event ring and
 * through atomics (meters, DSP load, counters); an event thread inside the
 * engine drains the ring, reaps retired graphs, frees what they held, stores
 * errors and states in the history and calls the subscribers.
 *
 * Threads: every function here may be called from any non-RT thread; calls
 * are serialised by the engine's control mutex. Subscriber callbacks run on
 * the engine's event thread (or on the caller's thread for reports made by
 * engine_report) and must not block.
 */
#ifndef AIRMIX_ENGINE_H
#define AIRMIX_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "errors.h"

struct engine;
struct history;
struct tap;

/* Fixed node ids of the two buses. Source node ids start at 16. */
#define ENGINE_BUS_PUBLISH 1u
#define ENGINE_BUS_PLAYOUT 2u
#define ENGINE_FIRST_NODE_ID 16u

/* Bus mask of a source. */
#define ENGINE_TO_PUBLISH 0x1u
#define ENGINE_TO_PLAYOUT 0x2u

#define ENGINE_NAME_MAX 64
#define ENGINE_GAIN_MAX 4.0f	/* +12 dB */

struct engine_options {
	bool manual_clock;	/* offline backend stepped by engine_offline_run() only */
};

/* The last xruns are kept with their times, for the health reply. */
#define ENGINE_XRUN_LOG 16

struct engine_xrun {
	int64_t began_ns;	/* CLOCK_REALTIME when the late cycle began */
	int64_t took_ns;	/* its own time, as the backend counted it */
	int64_t wall_ns;	/* its wall time, at least took_ns */
};

struct engine_status {
	char clock[16];		/* backend name */
	bool running;
	bool clock_lost;	/* backend lost its server and is reconnecting */
	uint32_t rate;
	uint32_t period;
	uint64_t cycles;
	uint64_t xruns;
	uint32_t n_recent_xruns;	/* min(xruns, ENGINE_XRUN_LOG), oldest first */
	struct engine_xrun recent_xruns[ENGINE_XRUN_LOG];
	float dsp_load;		/* last cycle, fraction of the period */
	float dsp_load_avg;	/* smoothed over about a second */
	float dsp_load_max;	/* since start */
	double uptime_s;
	uint64_t command_ring_full;
	uint64_t event_overflows;
	uint32_t nodes;
	uint32_t inputs;
};

struct engine_node_info {
	uint32_t id;
	char name[ENGINE_NAME_MAX];
	char kind[16];		/* bus, tone, input, player, remote, ... */
	uint32_t buses;		/* ENGINE_TO_* for sources; 0 for buses */
	uint32_t channels;	/* 1 or 2 before pan; meters are always 2 */
	float gain;		/* linear, 0..4 */
	float bus_gain[2];	/* sends to publish, playout: linear, 0..4 */
	float pan;		/* -1 left .. +1 right */
	bool mute;
	bool running;
	float peak[2];		/* linear, last meter window */
	float rms[2];
	float gain_reduction_db;	/* buses: limiter reduction, last window */
};

/* A notice: everything the engine and its subsystems report. */
struct engine_notice {
	const char *event;	/* e.g. "engine.xrun", "audio_mixing.state" */
	int64_t time_us;
	enum airmix_domain domain;
	int code;
	enum airmix_level level;
	const char *name;	/* code name from the table */
	const char *subject;	/* "" when none */
	const char *message;
	const char *request;	/* "" when none */
	const char *data_json;	/* extra fields as a JSON object text, or NULL */
};

typedef void (*engine_notice_cb)(const struct engine_notice *notice, void *user);

/* Control thread. hist may be NULL (nothing stored). */
int engine_create(const struct airmix_config *cfg, const struct engine_options *opts,
		  struct history *hist, struct engine **out, char *err, size_t errlen);
/* Opens and starts the clock backend chosen by cfg (auto: jack if a server
 * answers, else internal). */
int engine_start(struct engine *e, char *err, size_t errlen);
void engine_stop(struct engine *e);
void engine_destroy(struct engine *e);

const struct airmix_config *engine_config(struct engine *e);
struct history *engine_history(struct engine *e);
/* The audio mixing manager the daemon runs on this engine (NULL when none);
 * set once at start-up, before the web admin starts. */
struct mixing;
void engine_set_mixing(struct engine *e, struct mixing *m);
struct mixing *engine_mixing(struct engine *e);
/* The recorder (disk takes) the daemon runs on this engine (NULL when none);
 * set once at start-up, before the web admin starts. */
struct recorder;
void engine_set_recorder(struct engine *e, struct recorder *r);
struct recorder *engine_recorder(struct engine *e);
/* The CDN push manager (RTMP, Icecast) the daemon runs on this engine (NULL
 * when none); set once at start-up, before the web admin starts. */
struct push;
void engine_set_push(struct engine *e, struct push *p);
struct push *engine_push(struct engine *e);
/* The RTC rooms manager (engine/rtc/rooms.h; NULL when none); set once at
 * start-up, before the web admin starts. */
struct rooms;
void engine_set_rooms(struct engine *e, struct rooms *r);
struct rooms *engine_rooms(struct engine *e);
/* The remote-track media layer (engine/rtc/media.h: RTP in, mix-minus
 * returns; NULL when none); set once at start-up, before the web admin
 * starts. */
struct rtc_media;
void engine_set_rtc_media(struct engine *e, struct rtc_media *m);
struct rtc_media *engine_rtc_media(struct engine *e);
/* The cross-room forwarder (engine/rtc/forward.h; NULL when none). */
struct forward;
void engine_set_forward(struct engine *e, struct forward *f);
struct forward *engine_forward(struct engine *e);
void engine_get_status(struct engine *e, struct engine_status *st);

/* Apply the live-changeable keys of a new config (SIGHUP, settings API). */
int engine_apply_config(struct engine *e, const struct airmix_config *cfg);

/* Graph: nodes. Ids are never reused while the engine lives. */
int engine_add_tone(struct engine *e, const char *name, double freq_hz, double level_dbfs,
		    uint32_t buses, uint32_t *id);
/* Render callback of a custom source node; runs on the RT thread and must be
 * RT-safe. Writes `channels` buffers of nframes (pre-gain). */
typedef void (*engine_render_fn)(void *state, float *const *out, uint32_t nframes);
/* Called off RT once the last graph using the node is retired. */
typedef void (*engine_release_fn)(void *state);
int engine_add_custom(struct engine *e, const char *name, const char *kind, uint32_t channels,
		      uint32_t buses, engine_render_fn render, engine_release_fn release,
		      void *state, uint32_t *id);
/* The same with the initial gains, so that a source starts exactly at them
 * (no ramp on its first cycle). */
struct engine_source {
	const char *name;
	const char *kind;
	uint32_t channels;
	uint32_t buses;
	float gain;		/* 0..4 */
	float bus_gain[2];	/* publish, playout: 0..4 */
	engine_render_fn render;
	engine_release_fn release;
	void *state;
};
int engine_add_source(struct engine *e, const struct engine_source *src, uint32_t *id);
int engine_remove_node(struct engine *e, uint32_t id);
/* Changes which buses a source feeds (a graph change). */
int engine_set_buses(struct engine *e, uint32_t id, uint32_t buses);

/* Commands: take effect at the next cycle start. -ENOENT unknown node,
 * -ERANGE out of range, -EAGAIN command ring full (counted). */
int engine_set_gain(struct engine *e, uint32_t id, float gain);
int engine_set_mute(struct engine *e, uint32_t id, bool mute);
int engine_set_pan(struct engine *e, uint32_t id, float pan);
int engine_set_running(struct engine *e, uint32_t id, bool running);
/* Per-bus send gain of a source (0..4), after its own gain and meter: the
 * Volcengine per-type volume. buses: ENGINE_TO_* mask. */
int engine_set_bus_gain(struct engine *e, uint32_t id, uint32_t buses, float gain);

/* Snapshot of nodes (buses first). Returns the number of nodes, which may
 * exceed max (only max are written). */
size_t engine_list_nodes(struct engine *e, struct engine_node_info *out, size_t max);
int engine_get_node(struct engine *e, uint32_t id, struct engine_node_info *out);

/* Taps: copy a node's post-fader output or a bus's post-limiter output into a
 * ring of interleaved stereo float frames for a recorder or a push thread.
 * frames = ring capacity. The RT side never waits: when the ring is full it
 * drops the whole cycle and counts it. */
int engine_tap_open(struct engine *e, uint32_t id, uint32_t frames, struct tap **out);
/* Several taps that start on the same cycle (they line up to the sample):
 * all are added in one graph change, or none. */
int engine_tap_open_many(struct engine *e, const uint32_t *ids, uint32_t n, uint32_t frames,
			 struct tap **out);
/* A mix-minus tap: bus (ENGINE_BUS_PUBLISH, or ENGINE_BUS_PLAYOUT for a
 * talkback) after its gain and limiter, without the contribution of source
 * minus_id, which cancels to float rounding even while the limiter works
 * (see rt.c); minus_id 0, or a node removed later: the whole bus. Closed
 * with engine_tap_close. -ENOENT when minus_id is not a source, -EINVAL
 * when bus is not a bus. */
int engine_tap_open_minus(struct engine *e, uint32_t bus, uint32_t minus_id, uint32_t frames,
			  struct tap **out);
void engine_tap_close(struct engine *e, struct tap *tap);
/* Reader thread: copy up to max_frames stereo frames out; returns frames. */
uint32_t tap_read(struct tap *tap, float *interleaved, uint32_t max_frames);
uint32_t tap_readable(struct tap *tap);
/* Frames dropped so far because the ring was full. */
uint64_t tap_dropped_frames(struct tap *tap);
/* Stream position of the next frame tap_read() returns, counting dropped
 * frames, so that a reader can fill gaps with silence of the exact length:
 * call tap_next_gap() before each read. Returns the number of dropped frames
 * that precede the next readable frame and have not been accounted yet. */
uint64_t tap_next_gap(struct tap *tap);

/* Offline backend with manual_clock: run nframes (a multiple of the period)
 * now. outputs: publish L, publish R, playout L, playout R (NULL = discard).
 * inputs: per engine input, NULL = silence. */
int engine_offline_run(struct engine *e, uint32_t nframes, const float *const *inputs,
		       float *const *outputs);

/* Notices. */
int engine_subscribe(struct engine *e, engine_notice_cb cb, void *user);
void engine_unsubscribe(struct engine *e, engine_notice_cb cb, void *user);
/* Report from any non-RT thread: stored in the history (errors, warnings and
 * states) and sent to subscribers. The message defaults to the table's. */
void engine_report(struct engine *e, enum airmix_domain domain, int code, const char *subject,
		   const char *request, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Same, with an explicit event name, level and JSON data. */
void engine_notify(struct engine *e, const struct engine_notice *notice);

/* Wait until the event thread has handled everything the RT side reported so
 * far (tests). */
void engine_sync_events(struct engine *e);

#endif
