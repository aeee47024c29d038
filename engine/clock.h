/* clock.h - the small interface every clock backend implements.
 *
 * A backend owns the thread that calls host->process() once per period: the
 * JACK process thread, an ALSA SCHED_FIFO thread, an internal timer thread,
 * or (offline) whoever calls clock_offline_run(). It hands the engine the
 * input channels and the four output channels (publish L/R, playout L/R) for
 * the cycle. The engine never learns which backend it runs on beyond the
 * name; the backend never learns what the graph is.
 *
 * Threads: open/start/stop/close on the control thread. host->process on the
 * backend's RT thread. host->xrun from any backend thread (RT-safe: it only
 * bumps atomics). host->format, host->lost and host->restored from a non-RT
 * backend thread (or the control thread during open/start).
 */
#ifndef AIRMIX_CLOCK_H
#define AIRMIX_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct airmix_config;

enum clock_output {
	CLOCK_OUT_PUBLISH_L,
	CLOCK_OUT_PUBLISH_R,
	CLOCK_OUT_PLAYOUT_L,
	CLOCK_OUT_PLAYOUT_R,
	CLOCK_OUT_COUNT
};

#define CLOCK_MAX_INPUTS 64

struct clock_io {
	uint32_t nframes;
	uint32_t n_inputs;
	const float *const *inputs;	/* n_inputs mono buffers; NULL entries = silence */
	float *const *outputs;		/* CLOCK_OUT_COUNT buffers; NULL entries = not wanted */
};

struct clock_host {
	void *user;
	void (*process)(void *user, const struct clock_io *io);
	/* late_ns: how long the late cycle took (jack: its own time), or how
	 * far behind the clock fell (internal); wall_ns: the wall time from the
	 * late cycle's start to now, at least late_ns. Both 0 when the backend
	 * cannot tell (alsa). */
	void (*xrun)(void *user, int64_t late_ns, int64_t wall_ns);
	/* Before the first cycle and whenever the rate or period changes. Returns
	 * 0, or a negative errno when the engine cannot run at that format. */
	int (*format)(void *user, uint32_t rate, uint32_t period);
	void (*lost)(void *user, const char *why);
	void (*restored)(void *user);
};

struct clock_backend;

struct clock_ops {
	const char *name;
	/* Prepare the backend; err gets a lowercase reason on failure. */
	int (*open)(const struct airmix_config *cfg, const struct clock_host *host,
		    struct clock_backend **out, char *err, size_t errlen);
	int (*start)(struct clock_backend *b, char *err, size_t errlen);
	void (*stop)(struct clock_backend *b);
	void (*close)(struct clock_backend *b);
	/* Number of input channels delivered per cycle (fixed after open). */
	uint32_t (*inputs)(struct clock_backend *b);
};

extern const struct clock_ops clock_jack_ops;
extern const struct clock_ops clock_alsa_ops;
extern const struct clock_ops clock_internal_ops;
extern const struct clock_ops clock_offline_ops;

/* Control thread: true when a JACK server answers (for backend = auto). */
bool clock_jack_server_running(const struct airmix_config *cfg);

/* Offline backend only: run `cycles` cycles now on the calling thread.
 * inputs: n_inputs arrays of cycles*period frames or NULL; outputs: four
 * arrays of cycles*period frames or NULL. Deterministic. */
int clock_offline_run(struct clock_backend *b, uint32_t cycles,
		      const float *const *inputs, float *const *outputs);

#endif
