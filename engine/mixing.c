/* mixing.c - the audio mixing manager; see mixing.h for the API.
 *
 * DESIGN
 * Each playing id owns a player: a graph node (engine_add_source) whose
 * render function runs on the RT thread and only copies stereo frames out of
 * the player's SPSC ring. Everything else happens off RT:
 *
 *   control thread   validates, changes state, emits events; at start it
 *                    opens the source and fills the ring before the node
 *                    joins the graph, so playback starts without a gap;
 *   worker thread    keeps each ring topped up (stream_ahead_ms ahead),
 *                    decoding from the preloaded clip or from the file
 *                    (engine/media.c), looping, time-stretching and
 *                    pitch-shifting with Rubber Band when pitch != 0 or
 *                    speed != 100, and reports progress, finishes and
 *                    underruns.
 *
 * A seek, a pitch or speed change or a track change repositions the source
 * and asks RT to flush the ring (flush_seq); RT acknowledges at its next
 * cycle start (flush_done) and counts frames from zero again; the worker
 * refills only after the acknowledgement, so no stale frame is played after
 * the flush cycle. So that nothing clicks, RT fades out what the ring still
 * held over that cycle (at most FADE_FRAMES) and fades in the first
 * FADE_FRAMES after it; the frames between, until the refill, are silence
 * but not an underrun, and the worker looks for the acknowledgement every
 * FLUSH_POLL_MS meanwhile to keep that gap short. The position of what RT
 * plays comes from anchors the worker records for every chunk it pushes
 * (output frame -> source frame), so it stays exact across loops and speed
 * changes. A pause fades out the same way (those frames are played), and the
 * resume fades in, as does a start at a position inside the file. A stop
 * (or a start over a playing id) fades out too before the node leaves the
 * graph: the control thread sets stopping and waits, bounded, for the RT
 * cycle that played the fade (stop_faded).
 *
 * RT never waits: an empty ring gives silence and a counted underrun, which
 * the worker turns into a history row (at most one a second per id). When
 * the file has ended (eof_gen) and RT has played every frame, RT sets
 * finished_gen and the worker emits FINISHED and removes the node. Player
 * memory is freed by the engine's release callback, after the last graph
 * using the node has been retired.
 *
 * Threads: API on any non-RT thread (m->lock); worker thread (m->lock
 * while it touches a mix); player_render on RT.
 */
#include "mixing.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <rubberband/rubberband-c.h>
#include <ebur128.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "history.h"
#include "media.h"
#include "ring.h"

#define CHUNK_FRAMES 1024
#define MAX_ANCHORS 1024
#define WORKER_TICK_MS 5
#define FLUSH_POLL_MS 1		/* while RT has a flush to acknowledge: the gap */
#define PREFILL_MS 250
#define FADE_FRAMES 256		/* fades at a flush or a pause: 5.3 ms at 48 kHz */

/* ---- the RT side: struct player ----------------------------------------- */

struct player {
	struct spsc_ring ring;		/* stereo frames, worker -> RT */
	uint32_t max_period;
	_Atomic int paused;
	_Atomic int dual_mono;
	_Atomic uint32_t flush_seq;	/* worker/control -> RT */
	_Atomic uint32_t flush_done;	/* RT -> worker */
	_Atomic uint32_t eof_gen;	/* flush_seq + 1 once the last frame is pushed */
	_Atomic uint64_t pushed_at_eof;
	_Atomic uint32_t finished_gen;	/* flush_seq + 1 once RT played the last frame */
	_Atomic uint64_t consumed;	/* frames taken since the last flush */
	_Atomic uint64_t played;	/* frames played since start (not paused, not flushed) */
	_Atomic uint64_t underruns;	/* cycles short of frames */
	_Atomic int refilling;		/* after a flush, silence is not an underrun */
	_Atomic int stopping;		/* control -> RT: fade out, then silence */
	_Atomic int stop_faded;		/* RT -> control: the fade is played */
	uint32_t rt_flush_done;		/* RT-owned copy */
	uint64_t rt_consumed;		/* RT-owned */
	uint32_t rt_fade_in;		/* RT-owned: frames into the fade in; FADE_FRAMES: none */
	bool rt_paused;			/* RT-owned: the last cycle was silent for a pause */
};

static void player_flush_rt(struct player *p, uint32_t seq)
{
	spsc_ring_clear(&p->ring);
	p->rt_fade_in = 0;
	p->rt_consumed = 0;
	p->rt_flush_done = seq;
	atomic_store_explicit(&p->consumed, 0, memory_order_relaxed);
	atomic_store_explicit(&p->flush_done, seq, memory_order_release);
}

static void deinterleave(const struct player *p, const float *in, float *l, float *r, uint32_t n,
			 int mode)
{
	for (uint32_t i = 0; i < n; i++) {
		float a = in[2 * i], b = in[2 * i + 1];

		switch (mode) {
		case MIXING_DUAL_MONO_L:
			l[i] = r[i] = a;
			break;
		case MIXING_DUAL_MONO_R:
			l[i] = r[i] = b;
			break;
		case MIXING_DUAL_MONO_MIX:
			l[i] = r[i] = 0.5f * (a + b);
			break;
		default:
			l[i] = a;
			r[i] = b;
		}
	}
	(void)p;
}

/* Up to n frames from the ring into out; the rest of out is silence.
 * Returns the frames taken. */
static uint32_t take_frames(struct player *p, float *const *out, uint32_t n)
{
	int mode = atomic_load_explicit(&p->dual_mono, memory_order_relaxed);
	uint32_t na, nb, got;
	void *a, *b;

	got = spsc_ring_peek(&p->ring, n, &a, &na, &b, &nb);
	deinterleave(p, a, out[0], out[1], na, mode);
	deinterleave(p, b, out[0] + na, out[1] + na, nb, mode);
	spsc_ring_consume(&p->ring, got);
	if (got < n) {
		memset(out[0] + got, 0, (n - got) * sizeof(float));
		memset(out[1] + got, 0, (n - got) * sizeof(float));
	}
	return got;
}

/* The first len of n frames in out fade out; the rest is silence. */
static void fade_out(float *const *out, uint32_t len, uint32_t n)
{
	for (uint32_t i = 0; i < len; i++) {
		float g = (float)(len - i) / (float)(len + 1);

		out[0][i] *= g;
		out[1][i] *= g;
	}
	memset(out[0] + len, 0, (n - len) * sizeof(float));
	memset(out[1] + len, 0, (n - len) * sizeof(float));
}

/* The flush cycle: what the ring still holds of the old position fades out
 * (not counted as played), then the ring is flushed and the new position
 * will fade in. */
static void flush_with_fade(struct player *p, uint32_t seq, float *const *out, uint32_t n,
			    bool audible)
{
	fade_out(out, audible ? take_frames(p, out, n < FADE_FRAMES ? n : FADE_FRAMES) : 0, n);
	player_flush_rt(p, seq);
}

/* Frames RT took from the ring count as consumed and played. */
static void account(struct player *p, uint32_t got)
{
	p->rt_consumed += got;
	atomic_store_explicit(&p->consumed, p->rt_consumed, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->played, got, memory_order_relaxed);
}

/* The first cycle of a pause: the frames at the position fade out (and are
 * played), the rest is silence; the resume will fade in. */
static void pause_with_fade(struct player *p, float *const *out, uint32_t n)
{
	uint32_t got = take_frames(p, out, n < FADE_FRAMES ? n : FADE_FRAMES);

	fade_out(out, got, n);
	account(p, got);
	p->rt_paused = true;
	p->rt_fade_in = 0;
}

static void fade_in(struct player *p, float *const *out, uint32_t got)
{
	for (uint32_t i = 0; i < got && p->rt_fade_in < FADE_FRAMES; i++) {
		float g = (float)++p->rt_fade_in / (float)(FADE_FRAMES + 1);

		out[0][i] *= g;
		out[1][i] *= g;
	}
}

/* A stop: the frames at the position fade out (going on with a fade in
 * under way), once; then silence until the node leaves the graph. */
static void stop_with_fade(struct player *p, float *const *out, uint32_t n, bool audible)
{
	uint32_t got = 0;

	if (audible && !atomic_load_explicit(&p->stop_faded, memory_order_relaxed)) {
		got = take_frames(p, out, n < FADE_FRAMES ? n : FADE_FRAMES);
		fade_in(p, out, got);
	}
	fade_out(out, got, n);
	atomic_store_explicit(&p->stop_faded, 1, memory_order_release);
}

/* RT thread. */
static void player_render(void *state, float *const *out, uint32_t n)
{
	struct player *p = state;
	uint32_t seq = atomic_load_explicit(&p->flush_seq, memory_order_acquire);
	bool paused = atomic_load_explicit(&p->paused, memory_order_relaxed);
	bool silent = n > p->max_period || (paused && p->rt_paused);
	uint32_t got;

	if (atomic_load_explicit(&p->stopping, memory_order_acquire)) {
		silent |= atomic_load_explicit(&p->finished_gen, memory_order_relaxed) ==
			  p->rt_flush_done + 1;
		stop_with_fade(p, out, n, !silent);
		return;
	}
	if (seq != p->rt_flush_done) {
		silent |= atomic_load_explicit(&p->finished_gen, memory_order_relaxed) ==
			  p->rt_flush_done + 1;
		flush_with_fade(p, seq, out, n, !silent);
		p->rt_paused = paused;
		return;
	}
	if (silent || atomic_load_explicit(&p->finished_gen, memory_order_relaxed) == seq + 1) {
		memset(out[0], 0, n * sizeof(float));
		memset(out[1], 0, n * sizeof(float));
		return;
	}
	if (paused) {
		pause_with_fade(p, out, n);
		return;
	}
	p->rt_paused = false;
	got = take_frames(p, out, n);
	fade_in(p, out, got);
	account(p, got);
	if (got == n)
		return;
	if (atomic_load_explicit(&p->eof_gen, memory_order_acquire) == seq + 1 &&
	    p->rt_consumed >= atomic_load_explicit(&p->pushed_at_eof, memory_order_relaxed))
		atomic_store_explicit(&p->finished_gen, seq + 1, memory_order_release);
	else if (!atomic_load_explicit(&p->refilling, memory_order_relaxed) || got > 0)
		atomic_fetch_add_explicit(&p->underruns, 1, memory_order_relaxed);
}

static void player_free(void *state)
{
	struct player *p = state;

	spsc_ring_free(&p->ring);
	free(p);
}

static struct player *player_new(uint32_t ring_frames, uint32_t max_period)
{
	struct player *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->max_period = max_period;
	p->rt_fade_in = FADE_FRAMES;	/* the first frames are the file's own start */
	if (spsc_ring_init(&p->ring, ring_frames, 2 * sizeof(float)) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

/* ---- the control side: struct mix ---------------------------------------- */

struct anchor {
	uint64_t out;		/* output frame index since the last flush */
	int64_t src;		/* source frame (engine rate) at that output frame */
	double ratio;		/* source frames per output frame after it */
};

struct mix {
	bool used;
	int id;
	int state;
	int last_error;
	char path[PATH_MAX];
	char format[32];
	/* preloaded clip (stereo interleaved, engine rate) */
	float *clip;
	int64_t clip_frames;
	/* playing */
	struct player *player;
	uint32_t node_id;
	struct media *media;	/* streaming source, NULL for clips */
	int64_t src_pos;	/* next source frame the worker reads */
	int64_t duration_frames;
	int loops_done;
	struct mixing_start_config cfg;
	int volume[2];		/* playout, publish: percent */
	int pitch, speed, dual_mono, track, tracks;
	double loudness_target, loudness_measured;
	bool loudness_known;
	bool loudness_wanted;	/* the analysis thread should measure this file */
	/* worker */
	RubberBandState stretch;
	uint32_t stretch_discard;	/* start-delay frames still to drop */
	uint64_t stretch_in;	/* source frames fed since the last reposition */
	uint64_t stretch_out;	/* frames pushed since then */
	bool src_done;		/* source reached its final end */
	bool eof_pushed;
	uint64_t pushed;	/* frames pushed since the last flush */
	uint32_t flush_seq;	/* last flush requested */
	bool awaiting_flush;
	struct anchor anchors[MAX_ANCHORS];
	uint32_t n_anchors;
	uint64_t underruns_reported;
	double last_underrun_report;
	double last_progress;
	int64_t position_ms_hint;	/* position to report while a flush is pending */
};

struct mixing {
	struct engine *e;
	struct mixing_config cfg;
	uint32_t rate;
	uint32_t max_period;
	uint32_t ring_frames;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t worker;
	pthread_cond_t analysis_wake;
	pthread_t analysis;
	bool quit;
	_Atomic int stall_ms;	/* test hook: the worker sleeps once */
	struct mix *mixes;	/* cfg.max_ids * 2 entries: active and remembered */
	uint32_t n_entries;
	float *work_in;		/* worker scratch, interleaved */
	float *work_l, *work_r;
};

static _Thread_local const char *current_request;
static _Thread_local char last_message[HISTORY_MESSAGE_MAX];

const char *mixing_last_message(void)
{
	return last_message;
}

void mixing_set_request(const char *request)
{
	current_request = request;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

const char *mixing_state_name(int state)
{
	static const char *const names[] = { "PRELOADED", "PLAYING", "PAUSED",
					     "STOPPED", "FAILED", "FINISHED" };

	return state >= 0 && state <= MIXING_FINISHED ? names[state] : "UNKNOWN";
}

const char *mixing_error_name(int error)
{
	const struct airmix_error_def *def = airmix_error_find(AIRMIX_DOMAIN_AUDIO_MIXING, error);

	return def ? def->name : "UNKNOWN";
}

static int64_t frames_to_ms(const struct mixing *m, int64_t frames)
{
	return frames * 1000 / m->rate;
}

static int64_t ms_to_frames(const struct mixing *m, int64_t ms)
{
	return ms * m->rate / 1000;
}

/* Emit onAudioMixingStateChanged(id, state, error) as a notice. */
static void emit(struct mixing *m, struct mix *x, int state, int error, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void emit(struct mixing *m, struct mix *x, int state, int error, const char *fmt, ...)
{
	char message[HISTORY_MESSAGE_MAX], subject[32], data[256];
	va_list ap;
	struct engine_notice n = {
		.event = "audio_mixing.state",
		.domain = AIRMIX_DOMAIN_AUDIO_MIXING,
		.code = error,
		.level = error ? AIRMIX_LEVEL_ERROR : AIRMIX_LEVEL_STATE,
		.subject = subject,
		.message = message,
		.request = current_request,
		.data_json = data,
	};

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	snprintf(last_message, sizeof(last_message), "%s", message);
	snprintf(subject, sizeof(subject), "mix %d", x->id);
	snprintf(data, sizeof(data),
		 "{\"id\":%d,\"state\":%d,\"state_name\":\"%s\",\"error\":%d,\"error_name\":\"%s\"}",
		 x->id, state, mixing_state_name(state), error, mixing_error_name(error));
	x->state = state;
	if (error)
		x->last_error = error;
	engine_notify(m->e, &n);
}

/* A failure of a call on an id that does not exist as a mix. */
static int fail_unknown(struct mixing *m, int id, int error, const char *what)
{
	struct mix tmp = { .id = id, .state = MIXING_FAILED };

	emit(m, &tmp, MIXING_FAILED, error, "%s: mixing id %d is not loaded or playing", what, id);
	return error;
}

static struct mix *find(struct mixing *m, int id)
{
	for (uint32_t i = 0; i < m->n_entries; i++)
		if (m->mixes[i].used && m->mixes[i].id == id)
			return &m->mixes[i];
	return NULL;
}

static bool is_active(const struct mix *x)
{
	return x->player || x->clip;
}

static bool is_started(const struct mix *x)
{
	return x->player && (x->state == MIXING_PLAYING || x->state == MIXING_PAUSED);
}

static uint32_t active_count(struct mixing *m)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < m->n_entries; i++)
		n += m->mixes[i].used && is_active(&m->mixes[i]);
	return n;
}

/* An entry for id: its own, or a free one, or one only remembered. */
static struct mix *entry_for(struct mixing *m, int id)
{
	struct mix *x = find(m, id), *spare = NULL;

	if (x)
		return x;
	if (active_count(m) >= m->cfg.max_ids)
		return NULL;
	for (uint32_t i = 0; i < m->n_entries; i++) {
		struct mix *c = &m->mixes[i];

		if (!c->used) {
			spare = c;
			break;
		}
		if (!is_active(c) && !spare)
			spare = c;
	}
	if (!spare)
		return NULL;
	memset(spare, 0, sizeof(*spare));
	spare->used = true;
	spare->id = id;
	spare->state = MIXING_STOPPED;
	spare->volume[0] = spare->volume[1] = 100;
	spare->speed = 100;
	spare->loudness_target = 1.0;
	return spare;
}

/* ---- paths --------------------------------------------------------------- */

/* Confine a path to the media folders: relative paths are taken inside the
 * first one; the real path (symlinks resolved) must lie inside one of them and
 * be a regular file. */
static int resolve_path(struct mixing *m, const char *path, char *out, size_t len, char *err,
			size_t errlen)
{
	char joined[PATH_MAX], real[PATH_MAX];
	struct stat st;

	if (!path || !*path || strlen(path) >= sizeof(joined) - 1) {
		snprintf(err, errlen, "empty or too long path");
		return -EINVAL;
	}
	if (strstr(path, "..")) {
		snprintf(err, errlen, "path \"%.300s\" contains \"..\"", path);
		return -EPERM;
	}
	if (path[0] == '/' || !m->cfg.media_dirs[0])
		snprintf(joined, sizeof(joined), "%s", path);
	else
		snprintf(joined, sizeof(joined), "%s/%s", m->cfg.media_dirs[0], path);
	if (!realpath(joined, real)) {
		snprintf(err, errlen, "cannot open %.300s: %s", joined, strerror(errno));
		return -ENOENT;
	}
	for (int i = 0; i < 4 && m->cfg.media_dirs[i]; i++) {
		char dir[PATH_MAX];
		size_t dl;

		if (!realpath(m->cfg.media_dirs[i], dir))
			continue;
		dl = strlen(dir);
		if (strncmp(real, dir, dl) == 0 && real[dl] == '/')
			goto inside;
	}
	snprintf(err, errlen, "%.300s is outside the media folders", path);
	return -EPERM;
inside:
	if (stat(real, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%.300s is not a regular file", path);
		return -EINVAL;
	}
	snprintf(out, len, "%s", real);
	return 0;
}

/* ---- loudness ------------------------------------------------------------ */

static double clip_loudness(const struct mixing *m, const float *pcm, int64_t frames)
{
	ebur128_state *st = ebur128_init(2, m->rate, EBUR128_MODE_I);
	double lufs = -HUGE_VAL;

	if (!st)
		return lufs;
	ebur128_add_frames_float(st, pcm, (size_t)frames);
	if (ebur128_loudness_global(st, &lufs) != EBUR128_SUCCESS)
		lufs = -HUGE_VAL;
	ebur128_destroy(&st);
	return lufs;
}

/* The node gain that brings the file to the target loudness (max +12 dB). */
static float loudness_gain(const struct mix *x)
{
	double g;

	if (x->loudness_target > 0.0 || !x->loudness_known || !isfinite(x->loudness_measured))
		return 1.0f;
	g = pow(10.0, (x->loudness_target - x->loudness_measured) / 20.0);
	return (float)(g > ENGINE_GAIN_MAX ? ENGINE_GAIN_MAX : g);
}

/* A clip in memory is measured at once (20 s at most); a streamed file is
 * measured by the analysis thread, which decodes it without holding the lock
 * so that neither the worker nor the API waits for a long file. */
static void measure_loudness(struct mixing *m, struct mix *x)
{
	if (x->loudness_known)
		return;
	if (x->clip) {
		x->loudness_measured = clip_loudness(m, x->clip, x->clip_frames);
		x->loudness_known = true;
		return;
	}
	x->loudness_wanted = true;
	pthread_cond_signal(&m->analysis_wake);
}

static struct mix *next_to_measure(struct mixing *m)
{
	for (uint32_t i = 0; i < m->n_entries; i++)
		if (m->mixes[i].used && m->mixes[i].loudness_wanted)
			return &m->mixes[i];
	return NULL;
}

static void apply_volumes(struct mixing *m, struct mix *x);

/* The analysis thread: integrated loudness of streamed files. */
static void *analysis_main(void *arg)
{
	struct mixing *m = arg;

	pthread_mutex_lock(&m->lock);
	while (!m->quit) {
		struct mix *x = next_to_measure(m);
		char path[PATH_MAX], err[256];
		double lufs = -HUGE_VAL;
		int id, track;

		if (!x) {
			pthread_cond_wait(&m->analysis_wake, &m->lock);
			continue;
		}
		x->loudness_wanted = false;
		snprintf(path, sizeof(path), "%s", x->path);
		id = x->id;
		track = x->track;
		pthread_mutex_unlock(&m->lock);
		if (media_loudness(path, (uint32_t)track, &lufs, err, sizeof(err)) < 0)
			lufs = -HUGE_VAL;
		pthread_mutex_lock(&m->lock);
		x = find(m, id);
		if (x && !strcmp(x->path, path) && x->track == track) {
			x->loudness_measured = lufs;
			x->loudness_known = true;
			apply_volumes(m, x);
		}
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* ---- sources: reading, looping, stretching (control or worker, m->lock) -- */

static void stretch_free(struct mix *x)
{
	if (x->stretch)
		rubberband_delete(x->stretch);
	x->stretch = NULL;
}

static int stretch_setup(struct mixing *m, struct mix *x)
{
	double ratio = 100.0 / x->speed, scale = pow(2.0, x->pitch / 12.0);
	uint32_t pad;

	stretch_free(x);
	if (x->pitch == 0 && x->speed == 100)
		return 0;
	x->stretch = rubberband_new(m->rate, 2,
				    RubberBandOptionProcessRealTime | RubberBandOptionEngineFiner |
					    RubberBandOptionPitchHighConsistency |
					    RubberBandOptionThreadingNever,
				    ratio, scale);
	if (!x->stretch)
		return -ENOMEM;
	rubberband_set_max_process_size(x->stretch, CHUNK_FRAMES);
	/* prime with the preferred padding so that output starts in step */
	pad = rubberband_get_preferred_start_pad(x->stretch);
	memset(m->work_l, 0, CHUNK_FRAMES * sizeof(float));
	memset(m->work_r, 0, CHUNK_FRAMES * sizeof(float));
	while (pad > 0) {
		uint32_t k = pad < CHUNK_FRAMES ? pad : CHUNK_FRAMES;
		const float *in[2] = { m->work_l, m->work_r };

		rubberband_process(x->stretch, in, k, 0);
		pad -= k;
	}
	x->stretch_discard = rubberband_get_start_delay(x->stretch);
	x->stretch_in = 0;
	x->stretch_out = 0;
	return 0;
}

/* Source frames (engine rate, stereo) from the clip or the file; 0 at the
 * end of one pass, < 0 on a read error. */
static long read_source(struct mixing *m, struct mix *x, float *buf, uint32_t frames)
{
	if (x->clip) {
		int64_t left = x->clip_frames - x->src_pos;
		uint32_t k = left < frames ? (uint32_t)(left > 0 ? left : 0) : frames;

		memcpy(buf, x->clip + 2 * x->src_pos, (size_t)k * 2 * sizeof(float));
		x->src_pos += k;
		return k;
	}
	{
		long got = media_read(x->media, buf, frames);

		if (got > 0)
			x->src_pos += got;
		return got;
	}
}

static int seek_source(struct mix *x, int64_t frame)
{
	x->src_pos = frame;
	if (x->clip)
		return 0;
	return media_seek(x->media, frame);
}

/* Another pass of the file if play_count allows. */
static bool next_loop(struct mix *x)
{
	x->loops_done++;
	if (x->cfg.play_count > 0 && x->loops_done >= x->cfg.play_count)
		return false;
	return seek_source(x, 0) == 0;
}

static void add_anchor(struct mix *x, uint64_t out, int64_t src, double ratio)
{
	if (x->n_anchors == MAX_ANCHORS) {
		memmove(x->anchors, x->anchors + MAX_ANCHORS / 2,
			(MAX_ANCHORS / 2) * sizeof(x->anchors[0]));
		x->n_anchors = MAX_ANCHORS / 2;
	}
	if (x->n_anchors && x->anchors[x->n_anchors - 1].src + (int64_t)((out - x->anchors[x->n_anchors - 1].out) * x->anchors[x->n_anchors - 1].ratio) == src &&
	    x->anchors[x->n_anchors - 1].ratio == ratio)
		return;	/* continues the previous anchor */
	x->anchors[x->n_anchors++] = (struct anchor){ out, src, ratio };
}

static bool push_frames(struct mix *x, const float *buf, uint32_t n)
{
	if (!spsc_ring_push_n(&x->player->ring, buf, n))
		return false;
	x->pushed += n;
	return true;
}

/* Produce up to `frames` output frames into the ring. Returns frames pushed,
 * 0 when the source is exhausted (eof recorded) or there is no room. */
static uint32_t produce(struct mixing *m, struct mix *x, uint32_t frames)
{
	float *buf = m->work_in;
	long got;

	if (x->eof_pushed || frames == 0)
		return 0;
	if (frames > CHUNK_FRAMES)
		frames = CHUNK_FRAMES;
	if (!x->stretch) {
		int64_t at = x->src_pos;

		got = x->src_done ? 0 : read_source(m, x, buf, frames);
		while (got == 0 && !x->src_done) {
			if (!next_loop(x)) {
				x->src_done = true;
				break;
			}
			at = x->src_pos;
			got = read_source(m, x, buf, frames);
		}
		if (got < 0) {
			x->src_done = true;
			got = 0;
		}
		if (got > 0) {
			add_anchor(x, x->pushed, at, 1.0);
			push_frames(x, buf, (uint32_t)got);
			return (uint32_t)got;
		}
		goto eof;
	}
	/* time-stretch / pitch-shift path */
	while (rubberband_available(x->stretch) < (int)frames && !x->src_done) {
		uint32_t need = rubberband_get_samples_required(x->stretch);
		int64_t at = x->src_pos;
		const float *in[2] = { m->work_l, m->work_r };

		if (need == 0)
			need = 256;
		if (need > CHUNK_FRAMES)
			need = CHUNK_FRAMES;
		got = read_source(m, x, buf, need);
		if (got == 0 && next_loop(x))
			got = read_source(m, x, buf, need);
		if (got <= 0) {
			/* Rubber Band ignores `final` on an empty block: end on one zero */
			x->src_done = true;
			m->work_l[0] = m->work_r[0] = 0.0f;
			rubberband_process(x->stretch, in, 1, 1);
			break;
		}
		for (long i = 0; i < got; i++) {
			m->work_l[i] = buf[2 * i];
			m->work_r[i] = buf[2 * i + 1];
		}
		add_anchor(x, x->pushed + (uint64_t)(rubberband_available(x->stretch) > 0 ? rubberband_available(x->stretch) : 0), at, x->speed / 100.0);
		rubberband_process(x->stretch, in, (unsigned)got, 0);
		x->stretch_in += (uint64_t)got;
	}
	{
		int avail = rubberband_available(x->stretch);
		float *outp[2] = { m->work_l, m->work_r };
		uint32_t k;

		if (avail <= 0)
			goto eof;
		k = (uint32_t)avail < frames ? (uint32_t)avail : frames;
		k = rubberband_retrieve(x->stretch, outp, k);
		if (x->stretch_discard) {
			uint32_t d = k < x->stretch_discard ? k : x->stretch_discard;

			x->stretch_discard -= d;
			memmove(m->work_l, m->work_l + d, (k - d) * sizeof(float));
			memmove(m->work_r, m->work_r + d, (k - d) * sizeof(float));
			k -= d;
		}
		if (x->src_done) {
			/* the output is exactly input / ratio long: the window's tail goes */
			uint64_t total = (uint64_t)llround((double)x->stretch_in * 100.0 / x->speed);
			uint64_t left = total > x->stretch_out ? total - x->stretch_out : 0;

			if (left == 0)
				goto eof;
			if (k > left)
				k = (uint32_t)left;
		}
		for (uint32_t i = 0; i < k; i++) {
			buf[2 * i] = m->work_l[i];
			buf[2 * i + 1] = m->work_r[i];
		}
		if (k) {
			push_frames(x, buf, k);
			x->stretch_out += k;
		}
		return k ? k : produce(m, x, frames);
	}
eof:
	if (x->src_done && !x->eof_pushed) {
		atomic_store_explicit(&x->player->pushed_at_eof, x->pushed, memory_order_relaxed);
		atomic_store_explicit(&x->player->eof_gen, x->flush_seq + 1, memory_order_release);
		x->eof_pushed = true;
	}
	return 0;
}

/* Top the ring up to `ahead` frames beyond what RT has consumed. */
static void fill(struct mixing *m, struct mix *x, uint64_t ahead)
{
	for (int guard = 0; guard < 4096; guard++) {
		uint64_t consumed = atomic_load_explicit(&x->player->consumed, memory_order_relaxed);
		uint64_t queued = x->pushed - consumed;
		uint32_t room = spsc_ring_writable(&x->player->ring);
		uint32_t want;

		if (queued >= ahead || room < CHUNK_FRAMES / 4)
			break;
		want = room < CHUNK_FRAMES ? room : CHUNK_FRAMES;
		if (produce(m, x, want) == 0)
			break;
	}
	if (x->pushed > 0)
		atomic_store_explicit(&x->player->refilling, 0, memory_order_relaxed);
}

/* Reposition: ask RT to flush and restart the source at frame `at`. */
static int reposition(struct mixing *m, struct mix *x, int64_t at)
{
	int ret;

	x->loops_done = 0;
	x->src_done = false;
	x->eof_pushed = false;
	x->n_anchors = 0;
	ret = seek_source(x, at);
	if (ret < 0)
		return ret;
	ret = stretch_setup(m, x);
	if (ret < 0)
		return ret;
	x->position_ms_hint = frames_to_ms(m, at);
	atomic_store_explicit(&x->player->refilling, 1, memory_order_relaxed);
	x->flush_seq++;
	atomic_store_explicit(&x->player->flush_seq, x->flush_seq, memory_order_release);
	x->awaiting_flush = true;
	pthread_cond_signal(&m->wake);
	return 0;
}

/* Worker (or control): once RT acknowledged the flush, start counting anew. */
static void check_flush(struct mix *x)
{
	if (!x->awaiting_flush)
		return;
	if (atomic_load_explicit(&x->player->flush_done, memory_order_acquire) != x->flush_seq)
		return;
	x->awaiting_flush = false;
	x->pushed = 0;
}

static int64_t current_frame(struct mixing *m, struct mix *x)
{
	uint64_t consumed;
	const struct anchor *a = NULL;

	if (!x->player)
		return 0;
	check_flush(x);
	if (x->awaiting_flush)
		return ms_to_frames(m, x->position_ms_hint);
	consumed = atomic_load_explicit(&x->player->consumed, memory_order_relaxed);
	for (uint32_t i = 0; i < x->n_anchors && x->anchors[i].out <= consumed; i++)
		a = &x->anchors[i];
	if (!a)
		return x->n_anchors ? x->anchors[0].src : ms_to_frames(m, x->position_ms_hint);
	return a->src + (int64_t)((double)(consumed - a->out) * a->ratio);
}

/* ---- start and stop ------------------------------------------------------ */

/* A stop of what is playing: RT fades it out over its next cycle, as at a
 * pause, before the node leaves the graph, so a stop never cuts a waveform.
 * Waits for that cycle at most two of the longest periods and 10 ms: a
 * clock that stopped (or the offline tests' manual clock) runs no cycle,
 * and the node just goes. */
static void ask_fade_out(struct mix *x)
{
	if (x->player && x->node_id)
		atomic_store_explicit(&x->player->stopping, 1, memory_order_release);
}

static void fade_before_stop(struct mixing *m, struct mix *x)
{
	const long wait_ms = (long)(2ull * m->max_period * 1000 / m->rate) + 10;
	const struct timespec ms = { .tv_sec = 0, .tv_nsec = 1000000 };

	if (!x->player || !x->node_id)
		return;
	ask_fade_out(x);
	for (long i = 0; i < wait_ms; i++) {
		if (atomic_load_explicit(&x->player->stop_faded, memory_order_acquire))
			return;
		nanosleep(&ms, NULL);
	}
}

/* Remove the node (the engine frees the player after the graph retires). */
static void teardown(struct mixing *m, struct mix *x)
{
	if (x->node_id)
		engine_remove_node(m->e, x->node_id);
	else if (x->player)
		player_free(x->player);
	x->node_id = 0;
	x->player = NULL;
	stretch_free(x);
	if (x->media)
		media_close(x->media);
	x->media = NULL;
}

static void unload_clip(struct mix *x)
{
	free(x->clip);
	x->clip = NULL;
	x->clip_frames = 0;
}

static uint32_t buses_of(int type)
{
	switch (type) {
	case MIXING_TYPE_PLAYOUT:
		return ENGINE_TO_PLAYOUT;
	case MIXING_TYPE_PUBLISH:
		return ENGINE_TO_PUBLISH;
	default:
		return ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT;
	}
}

static void apply_volumes(struct mixing *m, struct mix *x)
{
	if (!x->node_id)
		return;
	engine_set_bus_gain(m->e, x->node_id, ENGINE_TO_PLAYOUT, x->volume[0] / 100.0f);
	engine_set_bus_gain(m->e, x->node_id, ENGINE_TO_PUBLISH, x->volume[1] / 100.0f);
	engine_set_gain(m->e, x->node_id, loudness_gain(x));
}

static int open_source(struct mixing *m, struct mix *x, char *err, size_t errlen)
{
	struct media_info info;
	int ret;

	if (x->clip) {
		x->duration_frames = x->clip_frames;
		return 0;
	}
	ret = media_open(x->path, m->rate, (uint32_t)x->track, &x->media, err, errlen);
	if (ret < 0)
		return ret;
	media_get_info(x->media, &info);
	x->duration_frames = info.frames;
	x->tracks = (int)info.tracks;
	snprintf(x->format, sizeof(x->format), "%s", info.format);
	return 0;
}

static int begin_playback(struct mixing *m, struct mix *x, char *err, size_t errlen)
{
	int64_t start = ms_to_frames(m, x->cfg.position_ms);
	char name[ENGINE_NAME_MAX];
	const char *base;
	int ret;

	ret = open_source(m, x, err, errlen);
	if (ret < 0)
		return ret;
	if (start < 0 || (x->duration_frames > 0 && start >= x->duration_frames)) {
		snprintf(err, errlen, "start position %lld ms is not inside the file (%lld ms)",
			 (long long)x->cfg.position_ms, (long long)frames_to_ms(m, x->duration_frames));
		ret = -ERANGE;
		goto out_teardown;
	}
	x->player = player_new(m->ring_frames, m->max_period);
	if (!x->player) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto out_teardown;
	}
	if (start > 0)
		x->player->rt_fade_in = 0;	/* mid-file: fades in, as after a seek */
	atomic_store(&x->player->dual_mono, x->dual_mono);
	x->pushed = 0;
	x->flush_seq = 0;
	x->awaiting_flush = false;
	x->loops_done = 0;
	x->src_done = x->eof_pushed = false;
	x->n_anchors = 0;
	ret = seek_source(x, start);
	if (ret == 0)
		ret = stretch_setup(m, x);
	if (ret < 0) {
		snprintf(err, errlen, "cannot seek to %lld ms: %s", (long long)x->cfg.position_ms,
			 x->media ? media_error(x->media) : strerror(-ret));
		goto out_teardown;
	}
	fill(m, x, ms_to_frames(m, PREFILL_MS));	/* before the node joins the graph */
	base = strrchr(x->path, '/');
	snprintf(name, sizeof(name), "mix %d: %.48s", x->id, base ? base + 1 : x->path);
	{
		struct engine_source src = {
			.name = name,
			.kind = "player",
			.channels = 2,
			.buses = buses_of(x->cfg.type),
			.gain = loudness_gain(x),
			.bus_gain = { x->volume[1] / 100.0f, x->volume[0] / 100.0f },
			.render = player_render,
			.release = player_free,
			.state = x->player,
		};

		ret = engine_add_source(m->e, &src, &x->node_id);
	}
	if (ret < 0) {
		snprintf(err, errlen, "cannot add the player to the graph: %s", strerror(-ret));
		goto out_teardown;
	}
	x->last_progress = now_s();
	return 0;

out_teardown:
	teardown(m, x);
	return ret;
}

static int64_t preload_max_frames(const struct mixing *m)
{
	return (int64_t)(m->cfg.preload_max_s * m->rate + 0.5);
}

int mixing_preload(struct mixing *m, int id, const char *path)
{
	char real[PATH_MAX], err[512];
	struct media_info info;
	struct mix *x;
	int ret = MIXING_OK;

	pthread_mutex_lock(&m->lock);
	x = entry_for(m, id);
	if (!x) {
		ret = fail_unknown(m, id, MIXING_PRELOAD_FAILED, "preload");
		goto out_unlock;
	}
	if (is_started(x)) {
		teardown(m, x);
		emit(m, x, MIXING_STOPPED, MIXING_OK, "stopped: id %d is being preloaded again", id);
	}
	unload_clip(x);
	x->loudness_known = false;
	if (resolve_path(m, path, real, sizeof(real), err, sizeof(err)) < 0 ||
	    media_decode_all(real, m->rate, 0, preload_max_frames(m), &x->clip, &x->clip_frames,
			     &info, err, sizeof(err)) < 0) {
		unload_clip(x);
		emit(m, x, MIXING_FAILED, MIXING_PRELOAD_FAILED, "preload of %s failed: %s", path, err);
		ret = MIXING_PRELOAD_FAILED;
		goto out_unlock;
	}
	snprintf(x->path, sizeof(x->path), "%s", real);
	snprintf(x->format, sizeof(x->format), "%s", info.format);
	x->duration_frames = x->clip_frames;
	x->tracks = (int)info.tracks;
	x->track = 0;
	emit(m, x, MIXING_PRELOADED, MIXING_OK, "preloaded %s (%.1f s)", path,
	     (double)x->clip_frames / m->rate);
out_unlock:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int mixing_unload(struct mixing *m, int id)
{
	struct mix *x;
	int ret = MIXING_OK;

	pthread_mutex_lock(&m->lock);
	x = find(m, id);
	if (!x || !is_active(x)) {
		ret = fail_unknown(m, id, MIXING_ID_NOT_FOUND, "unload");
		goto out_unlock;
	}
	teardown(m, x);
	unload_clip(x);
	emit(m, x, MIXING_STOPPED, MIXING_OK, "unloaded");
out_unlock:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static bool valid_start_config(const struct mixing_start_config *c)
{
	return c->type >= MIXING_TYPE_PLAYOUT && c->type <= MIXING_TYPE_PLAYOUT_AND_PUBLISH &&
	       c->position_ms >= 0;
}

static int64_t round_interval(int64_t ms)
{
	return ms <= 0 ? 0 : (ms + 9) / 10 * 10;
}

int mixing_start(struct mixing *m, int id, const char *path, const struct mixing_start_config *c)
{
	char real[PATH_MAX], err[512] = "";
	struct mix *x;
	int ret = MIXING_OK;

	pthread_mutex_lock(&m->lock);
	x = entry_for(m, id);
	if (!x) {
		ret = fail_unknown(m, id, MIXING_START_FAILED, "start");
		goto out_unlock;
	}
	if (!valid_start_config(c)) {
		emit(m, x, MIXING_FAILED, MIXING_START_FAILED,
		     "start of %s failed: type must be 0, 1 or 2 and position >= 0", path ? path : "");
		ret = MIXING_START_FAILED;
		goto out_unlock;
	}
	if (resolve_path(m, path, real, sizeof(real), err, sizeof(err)) < 0) {
		if (is_started(x)) {
			fade_before_stop(m, x);
			teardown(m, x);
			emit(m, x, MIXING_STOPPED, MIXING_OK, "stopped: id %d restarted", id);
		}
		emit(m, x, MIXING_FAILED, MIXING_START_FAILED, "start of %s failed: %s", path ? path : "", err);
		ret = MIXING_START_FAILED;
		goto out_unlock;
	}
	if (x->clip && strcmp(x->path, real) != 0) {
		emit(m, x, MIXING_FAILED, MIXING_LOAD_CONFLICT,
		     "id %d has %s preloaded; unload it before starting %s", id, x->path, path);
		ret = MIXING_LOAD_CONFLICT;
		goto out_unlock;
	}
	if (is_started(x)) {
		fade_before_stop(m, x);
		teardown(m, x);
		emit(m, x, MIXING_STOPPED, MIXING_OK, "stopped: id %d restarted", id);
	}
	if (strcmp(x->path, real)) {	/* another file: its loudness is unknown */
		x->loudness_known = false;
		x->loudness_wanted = false;
	}
	snprintf(x->path, sizeof(x->path), "%s", real);
	x->cfg = *c;
	x->cfg.progress_interval_ms = round_interval(c->progress_interval_ms);
	x->pitch = 0;
	x->speed = 100;
	x->underruns_reported = 0;
	if (begin_playback(m, x, err, sizeof(err)) < 0) {
		emit(m, x, MIXING_FAILED, MIXING_START_FAILED, "start of %s failed: %s", path, err);
		ret = MIXING_START_FAILED;
		goto out_unlock;
	}
	if (x->loudness_target <= 0.0)
		measure_loudness(m, x);
	emit(m, x, MIXING_PLAYING, MIXING_OK, "playing %s from %lld ms, play count %d", path,
	     (long long)c->position_ms, c->play_count);
	pthread_cond_signal(&m->wake);
out_unlock:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static int stop_locked(struct mixing *m, struct mix *x)
{
	fade_before_stop(m, x);
	teardown(m, x);
	unload_clip(x);	/* "the file is automatically unloaded" */
	emit(m, x, MIXING_STOPPED, MIXING_OK, "stopped");
	return MIXING_OK;
}

int mixing_stop(struct mixing *m, int id)
{
	struct mix *x;
	int ret;

	pthread_mutex_lock(&m->lock);
	x = find(m, id);
	if (!x || !is_active(x))
		ret = fail_unknown(m, id, MIXING_ID_NOT_FOUND, "stop");
	else
		ret = stop_locked(m, x);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static int set_paused(struct mixing *m, int id, bool pause)
{
	struct mix *x;
	int ret = MIXING_OK;

	pthread_mutex_lock(&m->lock);
	x = find(m, id);
	if (!x || !is_started(x)) {
		ret = fail_unknown(m, id, MIXING_ID_NOT_FOUND, pause ? "pause" : "resume");
		goto out_unlock;
	}
	atomic_store(&x->player->paused, pause);
	emit(m, x, pause ? MIXING_PAUSED : MIXING_PLAYING, MIXING_OK, pause ? "paused" : "resumed");
out_unlock:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int mixing_pause(struct mixing *m, int id)
{
	return set_paused(m, id, true);
}

int mixing_resume(struct mixing *m, int id)
{
	return set_paused(m, id, false);
}

static void for_all(struct mixing *m, int (*fn)(struct mixing *, int), bool started_only)
{
	int ids[1024];
	int n = mixing_list(m, ids, 1024);

	for (int i = 0; i < n && i < 1024; i++) {
		struct mixing_info info;

		if (mixing_get_info(m, ids[i], &info) < 0)
			continue;
		if (started_only && info.state != MIXING_PLAYING && info.state != MIXING_PAUSED)
			continue;
		if (!started_only && info.state != MIXING_PLAYING && info.state != MIXING_PAUSED &&
		    info.state != MIXING_PRELOADED)
			continue;
		fn(m, ids[i]);
	}
}

/* Every player fades out in the same cycle; the stops then find their
 * fades played instead of waiting a cycle each. */
void mixing_stop_all(struct mixing *m)
{
	pthread_mutex_lock(&m->lock);
	for (uint32_t i = 0; i < m->n_entries; i++)
		if (m->mixes[i].used && is_started(&m->mixes[i]))
			ask_fade_out(&m->mixes[i]);
	pthread_mutex_unlock(&m->lock);
	for_all(m, mixing_stop, false);
}

void mixing_pause_all(struct mixing *m)
{
	for_all(m, mixing_pause, true);
}

void mixing_resume_all(struct mixing *m)
{
	for_all(m, mixing_resume, true);
}

/* ---- setters ------------------------------------------------------------- */

/* Lock, find an id in the wanted condition, or report ID_NOT_FOUND. */
static struct mix *lock_mix(struct mixing *m, int id, bool need_started, const char *what, int *ret)
{
	struct mix *x;

	pthread_mutex_lock(&m->lock);
	x = find(m, id);
	if (x && (need_started ? is_started(x) : is_active(x))) {
		*ret = MIXING_OK;
		return x;
	}
	*ret = fail_unknown(m, id, MIXING_ID_NOT_FOUND, what);
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* The state to come back to after a validation FAILED: keep playing. */
static int live_state(const struct mix *x)
{
	if (x->player)
		return atomic_load(&x->player->paused) ? MIXING_PAUSED : MIXING_PLAYING;
	return x->clip ? MIXING_PRELOADED : MIXING_STOPPED;
}

static int reject(struct mixing *m, struct mix *x, int error, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int reject(struct mixing *m, struct mix *x, int error, const char *fmt, ...)
{
	int keep = live_state(x);
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	emit(m, x, MIXING_FAILED, error, "%s", message);
	x->state = keep;	/* an invalid setter reports and keeps playing */
	pthread_mutex_unlock(&m->lock);
	return error;
}

int mixing_set_volume(struct mixing *m, int id, int volume, int type)
{
	struct mix *x = lock_mix(m, id, false, "set volume", &(int){ 0 });
	int ret = MIXING_OK;

	if (!x)
		return MIXING_ID_NOT_FOUND;
	if (volume < 0 || volume > 400)
		return reject(m, x, MIXING_INVALID_VOLUME, "volume %d is outside [0, 400]", volume);
	if (type < 0 || type > 2)
		return reject(m, x, MIXING_INVALID_VOLUME, "volume type %d is not 0, 1 or 2", type);
	if (type != MIXING_TYPE_PUBLISH)
		x->volume[0] = volume;
	if (type != MIXING_TYPE_PLAYOUT)
		x->volume[1] = volume;
	apply_volumes(m, x);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static int restretch(struct mixing *m, struct mix *x)
{
	return reposition(m, x, current_frame(m, x));
}

int mixing_set_pitch(struct mixing *m, int id, int semitones)
{
	int ret;
	struct mix *x = lock_mix(m, id, true, "set pitch", &ret);

	if (!x)
		return ret;
	if (semitones < -12 || semitones > 12)
		return reject(m, x, MIXING_INVALID_PITCH, "pitch %d is outside [-12, 12] semitones",
			      semitones);
	if (semitones != x->pitch) {
		x->pitch = semitones;
		restretch(m, x);
	}
	pthread_mutex_unlock(&m->lock);
	return MIXING_OK;
}

int mixing_set_playback_speed(struct mixing *m, int id, int percent)
{
	int ret;
	struct mix *x = lock_mix(m, id, true, "set playback speed", &ret);

	if (!x)
		return ret;
	if (percent < 50 || percent > 200)
		return reject(m, x, MIXING_INVALID_PLAYBACK_SPEED,
			      "playback speed %d%% is outside [50, 200]", percent);
	if (percent != x->speed) {
		x->speed = percent;
		restretch(m, x);
	}
	pthread_mutex_unlock(&m->lock);
	return MIXING_OK;
}

int mixing_set_position(struct mixing *m, int id, int64_t position_ms)
{
	int ret;
	struct mix *x = lock_mix(m, id, true, "set position", &ret);
	int64_t frame;

	if (!x)
		return ret;
	frame = ms_to_frames(m, position_ms);
	if (position_ms < 0 || (x->duration_frames > 0 && frame >= x->duration_frames))
		return reject(m, x, MIXING_SET_POSITION_FAILED,
			      "position %lld ms is not inside the file (%lld ms)", (long long)position_ms,
			      (long long)frames_to_ms(m, x->duration_frames));
	if (reposition(m, x, frame) < 0)
		return reject(m, x, MIXING_SET_POSITION_FAILED, "cannot seek to %lld ms",
			      (long long)position_ms);
	pthread_mutex_unlock(&m->lock);
	return MIXING_OK;
}

int mixing_set_dual_mono_mode(struct mixing *m, int id, int mode)
{
	int ret;
	struct mix *x = lock_mix(m, id, true, "set dual mono mode", &ret);

	if (!x)
		return ret;
	if (mode < MIXING_DUAL_MONO_AUTO || mode > MIXING_DUAL_MONO_MIX)
		return reject(m, x, MIXING_ID_TYPE_NOT_MATCH, "dual mono mode %d is not 0..3", mode);
	x->dual_mono = mode;
	atomic_store(&x->player->dual_mono, mode);
	pthread_mutex_unlock(&m->lock);
	return MIXING_OK;
}

int mixing_set_loudness(struct mixing *m, int id, double lufs)
{
	int ret;
	struct mix *x = lock_mix(m, id, false, "set loudness", &ret);

	if (!x)
		return ret;
	if (isnan(lufs))
		return reject(m, x, MIXING_ID_TYPE_NOT_MATCH, "loudness is not a number");
	x->loudness_target = lufs < -70.0 ? -70.0 : lufs;
	if (x->loudness_target <= 0.0)
		measure_loudness(m, x);
	apply_volumes(m, x);
	pthread_mutex_unlock(&m->lock);
	return MIXING_OK;
}

int mixing_set_progress_interval(struct mixing *m, int id, int64_t interval_ms)
{
	int ret;
	struct mix *x = lock_mix(m, id, true, "set progress interval", &ret);

	if (!x)
		return ret;
	x->cfg.progress_interval_ms = round_interval(interval_ms);
	x->last_progress = now_s();
	pthread_mutex_unlock(&m->lock);
	return MIXING_OK;
}

int mixing_select_audio_track(struct mixing *m, int id, int track)
{
	int ret;
	struct mix *x = lock_mix(m, id, true, "select audio track", &ret);
	char err[512];
	int64_t at;

	if (!x)
		return ret;
	if (track < 0 || track >= x->tracks)
		return reject(m, x, MIXING_INVALID_AUDIO_TRACK,
			      "track %d does not exist (0-based; the file has %d)", track, x->tracks);
	if (track == x->track || x->clip) {
		pthread_mutex_unlock(&m->lock);
		return MIXING_OK;
	}
	at = current_frame(m, x);
	media_close(x->media);
	x->media = NULL;
	x->track = track;
	if (media_open(x->path, m->rate, (uint32_t)track, &x->media, err, sizeof(err)) < 0 ||
	    reposition(m, x, at) < 0) {
		teardown(m, x);
		emit(m, x, MIXING_FAILED, MIXING_START_FAILED, "cannot switch to track %d: %s", track, err);
		pthread_mutex_unlock(&m->lock);
		return MIXING_START_FAILED;
	}
	pthread_mutex_unlock(&m->lock);
	return MIXING_OK;
}

/* ---- getters ------------------------------------------------------------- */

int64_t mixing_get_duration(struct mixing *m, int id)
{
	int ret;
	struct mix *x = lock_mix(m, id, false, "get duration", &ret);
	int64_t d;

	if (!x)
		return -ret;
	d = frames_to_ms(m, x->duration_frames);
	pthread_mutex_unlock(&m->lock);
	return d;
}

int64_t mixing_get_current_position(struct mixing *m, int id)
{
	int ret;
	struct mix *x = lock_mix(m, id, true, "get current position", &ret);
	int64_t p;

	if (!x)
		return -ret;
	p = frames_to_ms(m, current_frame(m, x));
	pthread_mutex_unlock(&m->lock);
	return p;
}

int64_t mixing_get_playback_duration(struct mixing *m, int id)
{
	int ret;
	struct mix *x = lock_mix(m, id, true, "get playback duration", &ret);
	int64_t p;

	if (!x)
		return -ret;
	p = frames_to_ms(m, (int64_t)atomic_load(&x->player->played));
	pthread_mutex_unlock(&m->lock);
	return p;
}

int mixing_get_audio_track_count(struct mixing *m, int id)
{
	int ret;
	struct mix *x = lock_mix(m, id, false, "get audio track count", &ret);
	int n;

	if (!x)
		return -ret;
	n = x->tracks;
	pthread_mutex_unlock(&m->lock);
	return n;
}

int mixing_get_info(struct mixing *m, int id, struct mixing_info *out)
{
	struct mix *x;

	pthread_mutex_lock(&m->lock);
	x = find(m, id);
	if (!x) {
		pthread_mutex_unlock(&m->lock);
		return -MIXING_ID_NOT_FOUND;
	}
	memset(out, 0, sizeof(*out));
	out->id = x->id;
	out->state = x->state;
	out->last_error = x->last_error;
	snprintf(out->path, sizeof(out->path), "%s", x->path);
	snprintf(out->format, sizeof(out->format), "%s", x->format);
	out->preloaded = x->clip != NULL;
	out->type = x->cfg.type;
	out->play_count = x->cfg.play_count;
	out->volume[0] = x->volume[0];
	out->volume[1] = x->volume[1];
	out->pitch = x->pitch;
	out->speed = x->speed;
	out->dual_mono = x->dual_mono;
	out->loudness_target = x->loudness_target;
	out->loudness_measured = x->loudness_known ? x->loudness_measured : NAN;
	out->duration_ms = frames_to_ms(m, x->duration_frames);
	out->tracks = x->tracks;
	out->track = x->track;
	out->progress_interval_ms = x->cfg.progress_interval_ms;
	out->node_id = x->node_id;
	if (x->player) {
		out->position_ms = frames_to_ms(m, current_frame(m, x));
		out->playback_ms = frames_to_ms(m, (int64_t)atomic_load(&x->player->played));
		out->underruns = atomic_load(&x->player->underruns);
	}
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

int mixing_list(struct mixing *m, int *ids, int max)
{
	int n = 0;

	pthread_mutex_lock(&m->lock);
	for (uint32_t i = 0; i < m->n_entries; i++) {
		if (!m->mixes[i].used)
			continue;
		if (n < max)
			ids[n] = m->mixes[i].id;
		n++;
	}
	pthread_mutex_unlock(&m->lock);
	qsort(ids, (size_t)(n < max ? n : max), sizeof(int), cmp_int);
	return n;
}

/* ---- the worker ---------------------------------------------------------- */

static void report_underruns(struct mixing *m, struct mix *x, double now)
{
	uint64_t u = atomic_load(&x->player->underruns);
	char subject[32];

	if (u == x->underruns_reported || now - x->last_underrun_report < 1.0)
		return;
	snprintf(subject, sizeof(subject), "mix %d", x->id);
	engine_report(m->e, AIRMIX_DOMAIN_ENGINE, ENGINE_SOURCE_UNDERRUN, subject, NULL,
		      "mix %d: %llu cycle(s) without data from the reader (%llu in total): silence played",
		      x->id, (unsigned long long)(u - x->underruns_reported), (unsigned long long)u);
	x->underruns_reported = u;
	x->last_underrun_report = now;
}

static void report_progress(struct mixing *m, struct mix *x, double now)
{
	char data[128], subject[32];
	int64_t pos;
	struct engine_notice n = {
		.event = "audio_mixing.progress",
		.domain = AIRMIX_DOMAIN_AUDIO_MIXING,
		.code = MIXING_OK,
		.level = AIRMIX_LEVEL_INFO,
		.subject = subject,
		.message = "progress",
		.data_json = data,
	};

	if (x->cfg.progress_interval_ms <= 0 || x->state != MIXING_PLAYING ||
	    (now - x->last_progress) * 1000.0 < (double)x->cfg.progress_interval_ms)
		return;
	x->last_progress = now;
	pos = frames_to_ms(m, current_frame(m, x));
	snprintf(subject, sizeof(subject), "mix %d", x->id);
	snprintf(data, sizeof(data), "{\"id\":%d,\"progress_ms\":%lld}", x->id, (long long)pos);
	engine_notify(m->e, &n);
}

static void service_mix(struct mixing *m, struct mix *x, double now)
{
	uint32_t seq = x->flush_seq;

	check_flush(x);
	if (atomic_load_explicit(&x->player->finished_gen, memory_order_acquire) == seq + 1 &&
	    !x->awaiting_flush) {
		teardown(m, x);
		unload_clip(x);
		emit(m, x, MIXING_FINISHED, MIXING_OK, "finished after %d pass(es)", x->loops_done);
		return;
	}
	if (!x->awaiting_flush)
		fill(m, x, ms_to_frames(m, m->cfg.stream_ahead_ms));
	report_underruns(m, x, now);
	report_progress(m, x, now);
}

static void *worker_main(void *arg)
{
	struct mixing *m = arg;
	struct timespec deadline;

	pthread_mutex_lock(&m->lock);
	while (!m->quit) {
		double now = now_s();
		int stall = atomic_exchange(&m->stall_ms, 0);
		long tick_ms = WORKER_TICK_MS;

		if (stall > 0) {
			pthread_mutex_unlock(&m->lock);
			usleep((useconds_t)stall * 1000);
			pthread_mutex_lock(&m->lock);
		}

		for (uint32_t i = 0; i < m->n_entries; i++) {
			struct mix *x = &m->mixes[i];

			if (x->used && is_started(x)) {
				service_mix(m, x, now);
				if (x->awaiting_flush)
					tick_ms = FLUSH_POLL_MS;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_nsec += tick_ms * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&m->wake, &m->lock, &deadline);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

void mixing_debug_stall(struct mixing *m, int ms)
{
	atomic_store(&m->stall_ms, ms);
	pthread_cond_signal(&m->wake);
}

void mixing_sync(struct mixing *m)
{
	double now = now_s();

	pthread_mutex_lock(&m->lock);
	for (uint32_t i = 0; i < m->n_entries; i++) {
		struct mix *x = &m->mixes[i];

		if (x->used && is_started(x))
			service_mix(m, x, now);
	}
	pthread_mutex_unlock(&m->lock);
}

/* ---- lifecycle ----------------------------------------------------------- */

int mixing_create(struct engine *e, const struct mixing_config *cfg, struct mixing **out)
{
	struct mixing *m = calloc(1, sizeof(*m));
	struct engine_status st;
	pthread_condattr_t ca;

	if (!m)
		return -ENOMEM;
	engine_get_status(e, &st);
	m->e = e;
	m->cfg = *cfg;
	m->rate = st.rate ? st.rate : (uint32_t)engine_config(e)->sample_rate;
	m->max_period = (uint32_t)engine_config(e)->max_period_frames;
	m->ring_frames = (uint32_t)((uint64_t)cfg->stream_ahead_ms * m->rate / 1000) + 4 * CHUNK_FRAMES;
	m->n_entries = cfg->max_ids * 2;
	m->mixes = calloc(m->n_entries, sizeof(*m->mixes));
	m->work_in = calloc(2 * CHUNK_FRAMES * 4, sizeof(float));
	m->work_l = calloc(CHUNK_FRAMES * 4, sizeof(float));
	m->work_r = calloc(CHUNK_FRAMES * 4, sizeof(float));
	if (!m->mixes || !m->work_in || !m->work_l || !m->work_r)
		goto out_free;
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&m->analysis_wake, NULL);
	if (pthread_create(&m->analysis, NULL, analysis_main, m) != 0)
		goto out_sync;
	if (!cfg->manual && pthread_create(&m->worker, NULL, worker_main, m) != 0) {
		pthread_mutex_lock(&m->lock);
		m->quit = true;
		pthread_cond_signal(&m->analysis_wake);
		pthread_mutex_unlock(&m->lock);
		pthread_join(m->analysis, NULL);
		goto out_sync;
	}
	*out = m;
	return 0;

out_sync:
	pthread_cond_destroy(&m->analysis_wake);
	pthread_cond_destroy(&m->wake);
	pthread_mutex_destroy(&m->lock);
out_free:
	free(m->mixes);
	free(m->work_in);
	free(m->work_l);
	free(m->work_r);
	free(m);
	return -ENOMEM;
}

void mixing_destroy(struct mixing *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->quit = true;
	pthread_cond_signal(&m->wake);
	pthread_cond_signal(&m->analysis_wake);
	pthread_mutex_unlock(&m->lock);
	if (!m->cfg.manual)
		pthread_join(m->worker, NULL);
	pthread_join(m->analysis, NULL);
	for (uint32_t i = 0; i < m->n_entries; i++) {
		teardown(m, &m->mixes[i]);
		unload_clip(&m->mixes[i]);
	}
	pthread_cond_destroy(&m->analysis_wake);
	pthread_cond_destroy(&m->wake);
	pthread_mutex_destroy(&m->lock);
	free(m->mixes);
	free(m->work_in);
	free(m->work_l);
	free(m->work_r);
	free(m);
}
