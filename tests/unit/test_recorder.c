/* test_recorder.c - disk takes on the offline clock: bit-exact stems and mix,
 * 16-bit quantisation, BWF bext, FLAC, never overwriting, gaps from a stalled
 * writer filled with silence of the exact length, crash recovery of .part
 * files (a child killed with SIGKILL), a full disk (a 2 MB tmpfs), takes
 * split into parts (every minute beside an unsplit take, and across a gap)
 * and bad requests.
 *
 * Threads: the main thread drives the manual offline clock (it is the RT
 * thread while engine_offline_run() runs); the recorder's writer threads run
 * beside it and are synchronised with recorder_sync().
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "offline.h"
#include "engine/config.h"
#include "engine/engine.h"
#include "recorder/recorder.h"

#define RATE 48000
#define PERIOD 128
#define SIGNAL_LEN (RATE * 30)

static char top_dir[] = "/tmp/airmix-test-recorder.XXXXXX";
static float *sig;		/* the known signal, mono */

/* A custom source that plays sig from its start. */
struct player {
	uint32_t pos;
};

static void player_render(void *state, float *const *out, uint32_t n)
{
	struct player *p = state;

	for (uint32_t i = 0; i < n; i++)
		out[0][i] = p->pos + i < SIGNAL_LEN ? sig[p->pos + i] : 0.0f;
	p->pos += n;
}

/* Notices of the recorder domain, counted by code. */
static pthread_mutex_t notice_lock = PTHREAD_MUTEX_INITIALIZER;
static int notices[32];

static void on_notice(const struct engine_notice *n, void *user)
{
	(void)user;
	if (n->domain != AIRMIX_DOMAIN_RECORDER || n->code < 5000 || n->code >= 5032)
		return;
	pthread_mutex_lock(&notice_lock);
	notices[n->code - 5000]++;
	pthread_mutex_unlock(&notice_lock);
}

static int notice_count(int code)
{
	int n;

	pthread_mutex_lock(&notice_lock);
	n = notices[code - 5000];
	pthread_mutex_unlock(&notice_lock);
	return n;
}

static struct engine *make_engine(void)
{
	struct airmix_config cfg;
	struct engine_options opts = { .manual_clock = true };
	struct engine *e = NULL;
	char err[256];

	offline_config(&cfg, RATE, PERIOD);
	cfg.limiter_lookahead_ms = 0.0;	/* the bus passes its sum unchanged */
	if (engine_create(&cfg, &opts, NULL, &e, err, sizeof(err)) < 0 ||
	    engine_start(e, err, sizeof(err)) < 0) {
		printf("# engine: %s\n", err);
		exit(1);
	}
	engine_subscribe(e, on_notice, NULL);
	return e;
}

static uint32_t add_player(struct engine *e, struct player *p, const char *name)
{
	uint32_t id = 0;

	p->pos = 0;
	if (engine_add_custom(e, name, "test", 1, ENGINE_TO_PUBLISH, player_render, NULL, p, &id) < 0) {
		printf("# cannot add the source\n");
		exit(1);
	}
	return id;
}

static struct recorder *make_recorder(struct engine *e, const char *dir, uint32_t ring_ms,
				      uint64_t min_free_mb, uint32_t header_ms)
{
	struct recorder_config rc = {
		.dir = dir,
		.name_template = "take-{track}",
		.header_interval_ms = header_ms,
		.ring_ms = ring_ms,
		.warn_free_mb = 0,
		.min_free_mb = min_free_mb,
	};
	struct recorder *r = NULL;

	if (recorder_create(e, &rc, &r) < 0) {
		printf("# cannot create the recorder\n");
		exit(1);
	}
	return r;
}

static void make_dir(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", top_dir, name);
	mkdir(out, 0750);
}

/* Runs frames on the offline clock in chunks the tap ring holds, draining
 * the writer after each. */
static void run(struct engine *e, struct recorder *r, uint32_t frames)
{
	while (frames) {
		uint32_t n = frames < PERIOD * 64 ? frames : PERIOD * 64;

		engine_offline_run(e, n, NULL, NULL);
		recorder_sync(r, false, 5000);
		frames -= n;
	}
}

struct wav {
	float *x;		/* interleaved stereo */
	sf_count_t frames;
	SF_INFO info;
	SF_BROADCAST_INFO bext;
	bool has_bext;
};

static int read_file(const char *path, struct wav *w)
{
	SNDFILE *sf;

	memset(w, 0, sizeof(*w));
	sf = sf_open(path, SFM_READ, &w->info);
	if (!sf)
		return -1;
	w->x = calloc((size_t)w->info.frames * 2 + 2, sizeof(float));
	w->frames = sf_readf_float(sf, w->x, w->info.frames);
	w->has_bext = sf_command(sf, SFC_GET_BROADCAST_INFO, &w->bext, sizeof(w->bext)) == SF_TRUE;
	sf_close(sf);
	return 0;
}

/* Stereo frames equal sig (both channels) from offset, within tol; gaps of
 * exact silence are allowed when zeros_ok. Returns mismatches. */
static uint64_t compare(const struct wav *w, float tol, uint64_t *zeros)
{
	uint64_t bad = 0;

	if (zeros)
		*zeros = 0;
	for (sf_count_t i = 0; i < w->frames; i++) {
		float l = w->x[2 * i], rr = w->x[2 * i + 1];

		if (zeros && l == 0.0f && rr == 0.0f && sig[i] != 0.0f) {
			(*zeros)++;
			continue;
		}
		bad += fabsf(l - sig[i]) > tol || fabsf(rr - sig[i]) > tol;
	}
	return bad;
}

static int count_parts(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		n += len > 5 && !strcmp(de->d_name + len - 5, ".part");
	}
	closedir(d);
	return n;
}

static int start(struct recorder *r, const uint32_t *tracks, uint32_t n, bool mix,
		 enum recorder_format f, int bits, int *id)
{
	struct take_request req = {
		.tracks = tracks, .n_tracks = n, .mix = mix, .format = f, .bits = bits,
		.description = "unit test take",
	};

	return recorder_start(r, &req, id);
}

/* A second source: -sig / 2, so that the mix is exactly sig / 2 (the float
 * difference of a number and its half is exact). */
static void half_render(void *state, float *const *out, uint32_t n)
{
	struct player *p = state;

	for (uint32_t i = 0; i < n; i++)
		out[0][i] = p->pos + i < SIGNAL_LEN ? -0.5f * sig[p->pos + i] : 0.0f;
	p->pos += n;
}

/* ---- crash recovery: a child records and is killed with SIGKILL */

static void crash_child(const char *dir)
{
	struct engine *e = make_engine();
	struct recorder *r = make_recorder(e, dir, 4000, 0, 60000);
	struct player p;
	uint32_t id = add_player(e, &p, "voice");
	int take;

	(void)id;
	if (start(r, (uint32_t[]){ ENGINE_BUS_PUBLISH }, 1, false, RECORDER_FORMAT_WAV, 24,
		  &take) < 0)
		_exit(3);
	run(e, r, PERIOD * 375);	/* 48000 frames */
	recorder_sync(r, true, 5000);	/* header covers 48000 frames */
	run(e, r, PERIOD * 250);	/* 32000 more, after the last header update */
	raise(SIGKILL);
	_exit(4);
}

static void test_crash_recovery(void)
{
	char dir[256], path[512];
	struct wav w;
	pid_t pid;
	int status = 0, parts;

	make_dir(dir, sizeof(dir), "crash");
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		crash_child(dir);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "recording child ran");
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child killed by SIGKILL (%d)",
	      status);
	parts = count_parts(dir);
	CHECK(parts == 1, "the crash left one .part file (%d)", parts);
	snprintf(path, sizeof(path), "%s/take-publish.wav.part", dir);
	CHECK(read_file(path, &w) == 0 && w.frames == 48000,
	      "before repair the header made valid on the timer covers 48000 frames (%lld)",
	      (long long)w.frames);
	free(w.x);
	CHECK(recorder_recover(dir, NULL) == 1, "recorder_recover repairs and renames it");
	CHECK(count_parts(dir) == 0, "no .part left after recovery");
	snprintf(path, sizeof(path), "%s/take-publish.wav", dir);
	CHECK(read_file(path, &w) == 0, "recovered file opens with libsndfile");
	CHECK(w.frames >= 48000, "at least the frames before the last header update (%lld)",
	      (long long)w.frames);
	CHECK(w.frames == 80000, "every whole frame on disk recovered (%lld of 80000)",
	      (long long)w.frames);
	CHECK(compare(&w, 1.0f / 8388608 * 1.01f, NULL) == 0,
	      "recovered samples match the signal (24-bit)");
	CHECK(recorder_recover(dir, NULL) == 0, "a second recovery finds nothing");
	free(w.x);
}

/* ---- bit-exact stems and mix, bext, 16 bit, FLAC, names */

static void test_bit_exact(void)
{
	char dir[256];
	struct engine *e = make_engine();
	struct recorder *r;
	struct player p;
	struct take_info info;
	struct wav stem, mix;
	uint32_t id;
	int take = 0;
	const uint32_t n = PERIOD * 1000;

	make_dir(dir, sizeof(dir), "exact");
	r = make_recorder(e, dir, 4000, 0, 1000);
	id = add_player(e, &p, "voice");
	CHECK(start(r, &id, 1, true, RECORDER_FORMAT_WAV, 32, &take) == 0 && take > 0,
	      "take of a stem plus the mix started");
	CHECK(recorder_get(r, take, &info) == 0 && info.state == TAKE_RECORDING &&
		      info.n_files == 2, "take recording with two files");
	CHECK(strstr(info.files[0].path, ".part") != NULL, "files are written as .part");
	run(e, r, n);
	CHECK(recorder_get(r, take, &info) == 0 && info.frames == n,
	      "duration while recording: %llu frames", (unsigned long long)info.frames);
	{
		uint64_t at = 0;

		CHECK(recorder_mark(r, take, "intro \"a\", b", &at) == 0 && at == n,
		      "marker at the current position (%llu)", (unsigned long long)at);
	}
	CHECK(recorder_stop(r, take) == 0, "take stopped");
	CHECK(recorder_stop(r, take) == -EALREADY, "second stop: -EALREADY");
	CHECK(recorder_mark(r, take, "late", NULL) == -EALREADY, "no marker on a stopped take");
	CHECK(recorder_get(r, take, &info) == 0 && info.state == TAKE_STOPPED &&
		      info.frames == n && fabs(info.seconds - (double)n / RATE) < 1e-9,
	      "stopped take: %llu frames, %.3f s", (unsigned long long)info.frames, info.seconds);
	CHECK(info.overrun_frames == 0, "no overruns");
	CHECK(!strcmp(info.files[0].track, "voice") && !strcmp(info.files[1].track, "publish"),
	      "tracks named voice and publish");
	{
		char line[256] = "", want[128];
		FILE *f = fopen(info.markers_path, "r");

		if (f) {
			if (!fgets(line, sizeof(line), f) || !fgets(line, sizeof(line), f))
				line[0] = '\0';
			fclose(f);
		}
		snprintf(want, sizeof(want), "%u,%.6f,%lld,\"intro \"\"a\"\", b\"\n", n,
			 (double)n / RATE, (long long)info.markers[0].time_us);
		CHECK(info.n_markers == 1 && info.markers[0].frame == n &&
			      strstr(info.markers_path, "take-voice.markers.csv") && !strcmp(line, want),
		      "marker listed with the take and in the sidecar CSV (%s)", line);
	}
	CHECK(count_parts(dir) == 0 && strstr(info.files[0].path, "take-voice.wav") &&
		      strstr(info.files[1].path, "take-publish.wav"),
	      "renamed to the final names (%s)", info.files[0].path);
	CHECK(info.files[0].bytes > (uint64_t)n * 8, "file size reported (%llu bytes)",
	      (unsigned long long)info.files[0].bytes);
	CHECK(read_file(info.files[0].path, &stem) == 0 && read_file(info.files[1].path, &mix) == 0,
	      "both files read back");
	CHECK(stem.frames == n && mix.frames == n, "identical lengths (%lld, %lld)",
	      (long long)stem.frames, (long long)mix.frames);
	CHECK(stem.info.samplerate == RATE && stem.info.channels == 2 &&
		      (stem.info.format & SF_FORMAT_SUBMASK) == SF_FORMAT_FLOAT &&
		      (stem.info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_WAV,
	      "plain float WAV at the engine rate (format 0x%x)", stem.info.format);
	CHECK(compare(&stem, 0.0f, NULL) == 0, "stem samples identical to the signal, aligned");
	CHECK(compare(&mix, 0.0f, NULL) == 0, "mix samples identical to the signal, aligned");
	CHECK(stem.has_bext && !strcmp(stem.bext.originator, "airmix") &&
		      !strncmp(stem.bext.description, "unit test take", 14),
	      "BWF bext chunk with originator and description");
	{
		uint64_t ref = stem.bext.time_reference_low |
			       (uint64_t)stem.bext.time_reference_high << 32;

		CHECK(ref < 86400ull * RATE && stem.bext.origination_date[4] == '-',
		      "bext time reference %llu samples since midnight, date %.10s",
		      (unsigned long long)ref, stem.bext.origination_date);
		CHECK(ref == (mix.bext.time_reference_low |
			      (uint64_t)mix.bext.time_reference_high << 32),
		      "every file of a take has the same time reference");
	}
	free(stem.x);
	free(mix.x);

	/* 16 bit, and never overwriting: the same template again */
	CHECK(start(r, &id, 1, false, RECORDER_FORMAT_WAV, 16, &take) == 0, "16-bit take started");
	run(e, r, PERIOD * 100);
	recorder_stop(r, take);
	recorder_get(r, take, &info);
	CHECK(strstr(info.files[0].path, "take-voice-2.wav") != NULL,
	      "existing file kept, new one named take-voice-2.wav (%s)", info.files[0].path);
	read_file(info.files[0].path, &stem);
	/* the signal went on: the 16-bit take starts where the clock was */
	{
		uint64_t bad = 0;

		for (sf_count_t i = 0; i < stem.frames; i++)
			bad += fabsf(stem.x[2 * i] - sig[n + i]) > 1.0f / 32767;
		CHECK(stem.frames == PERIOD * 100 && bad == 0 &&
			      (stem.info.format & SF_FORMAT_SUBMASK) == SF_FORMAT_PCM_16,
		      "16-bit file matches within quantisation (%llu off)", (unsigned long long)bad);
	}
	free(stem.x);

	/* FLAC 24 */
	CHECK(start(r, &id, 1, false, RECORDER_FORMAT_FLAC, 24, &take) == 0, "FLAC take started");
	run(e, r, PERIOD * 100);
	recorder_stop(r, take);
	recorder_get(r, take, &info);
	CHECK(read_file(info.files[0].path, &stem) == 0 && stem.frames == PERIOD * 100 &&
		      (stem.info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_FLAC,
	      "FLAC file reads back with every frame (%lld)", (long long)stem.frames);
	free(stem.x);

	/* delete */
	CHECK(start(r, &id, 1, false, RECORDER_FORMAT_WAV, 24, &take) == 0, "another take");
	CHECK(recorder_delete(r, take) == -EBUSY, "delete refused while recording");
	recorder_mark(r, take, "m", NULL);
	recorder_stop(r, take);
	recorder_get(r, take, &info);
	CHECK(access(info.markers_path, F_OK) == 0, "sidecar exists before delete");
	CHECK(recorder_delete(r, take) == 0 && access(info.files[0].path, F_OK) < 0 &&
		      access(info.markers_path, F_OK) < 0,
	      "delete removes the take, its file and its markers");
	CHECK(recorder_get(r, take, &info) == -ENOENT, "deleted take is gone");
	CHECK(recorder_list(r, NULL, 0) == 3, "three takes left in the list");

	/* bad requests */
	CHECK(start(r, (uint32_t[]){ 9999 }, 1, false, RECORDER_FORMAT_WAV, 24, &take) == -ENOENT,
	      "unknown track: -ENOENT");
	CHECK(start(r, &id, 1, false, RECORDER_FORMAT_WAV, 20, &take) == -EINVAL,
	      "20 bits: -EINVAL");
	CHECK(start(r, &id, 1, false, RECORDER_FORMAT_FLAC, 32, &take) == -EINVAL,
	      "FLAC float: -EINVAL");
	CHECK(recorder_error_code(-ENOENT) == RECORDER_UNKNOWN_TRACK &&
		      recorder_last_error()[0] != '\0', "error code and message for a refusal");
	CHECK(notice_count(RECORDER_TAKE_STARTED) >= 4 && notice_count(RECORDER_TAKE_STOPPED) >= 4,
	      "started and stopped rows reported");
	recorder_destroy(r);
	engine_destroy(e);
}

/* ---- free space below the warning threshold: a warning row, the take runs */

static void test_disk_warning(void)
{
	char dir[256];
	struct engine *e = make_engine();
	struct recorder_config rc = { .dir = dir, .warn_free_mb = 1ull << 40 };
	struct recorder *r = NULL;
	struct take_info info;
	int take = 0;

	make_dir(dir, sizeof(dir), "warn");
	CHECK(recorder_create(e, &rc, &r) == 0, "recorder with a huge warning threshold");
	CHECK(start(r, (uint32_t[]){ ENGINE_BUS_PLAYOUT }, 1, false, RECORDER_FORMAT_WAV, 24,
		    &take) == 0, "take of the playout bus started");
	run(e, r, PERIOD * 10);
	recorder_sync(r, true, 5000);
	CHECK(recorder_stop(r, take) == 0 && recorder_get(r, take, &info) == 0 &&
		      info.state == TAKE_STOPPED && info.frames == PERIOD * 10 &&
		      strstr(info.files[0].path, "-playout.wav"),
	      "the take runs and stops normally (%s)", info.files[0].path);
	engine_sync_events(e);
	CHECK(notice_count(RECORDER_DISK_LOW) >= 1, "disk-low warning reported");
	recorder_destroy(r);
	engine_destroy(e);
}

/* ---- a stalled writer: the gap is written as silence of the exact length */

static void test_overrun(void)
{
	char dir[256];
	struct engine *e = make_engine();
	struct recorder *r;
	struct player p;
	struct take_info info;
	struct wav stem, mix;
	uint32_t id;
	uint64_t zeros = 0, bad;
	int take = 0;
	const uint32_t before = PERIOD * 20, stalled = PERIOD * 160, after = PERIOD * 40;

	make_dir(dir, sizeof(dir), "overrun");
	r = make_recorder(e, dir, 100, 0, 1000);	/* 4800 -> 8192-frame rings */
	id = add_player(e, &p, "voice");
	start(r, &id, 1, true, RECORDER_FORMAT_WAV, 32, &take);
	run(e, r, before);
	recorder_debug_stall(r, 1000);
	engine_offline_run(e, stalled, NULL, NULL);	/* more than the ring holds */
	recorder_sync(r, false, 5000);
	run(e, r, after);	/* the gap is recorded when a cycle fits again */
	recorder_stop(r, take);
	recorder_get(r, take, &info);
	CHECK(info.overrun_frames > 0 && info.overrun_frames < stalled,
	      "overrun counted: %llu frames dropped", (unsigned long long)info.overrun_frames);
	CHECK(info.frames == before + stalled + after,
	      "file length equals the frames run exactly (%llu of %u)",
	      (unsigned long long)info.frames, before + stalled + after);
	read_file(info.files[0].path, &stem);
	read_file(info.files[1].path, &mix);
	CHECK(stem.frames == before + stalled + after && mix.frames == stem.frames,
	      "both files have that length (%lld, %lld)", (long long)stem.frames,
	      (long long)mix.frames);
	bad = compare(&stem, 0.0f, &zeros);
	CHECK(bad == 0 && zeros == info.files[0].dropped_frames,
	      "frames around the gap at their exact positions, gap silent (%llu off, %llu silent)",
	      (unsigned long long)bad, (unsigned long long)zeros);
	bad = compare(&mix, 0.0f, &zeros);
	CHECK(bad == 0, "the mix too (%llu off)", (unsigned long long)bad);
	engine_sync_events(e);
	CHECK(notice_count(RECORDER_OVERRUN) >= 1, "overrun row reported");
	free(stem.x);
	free(mix.x);
	recorder_destroy(r);
	engine_destroy(e);
}

/* ---- split: parts on exact sample boundaries */

struct gen {
	uint64_t pos;
};

/* A known signal of any length: a hash of the frame index. */
static float gen_at(uint64_t i)
{
	uint32_t x = (uint32_t)(i * 2654435761u) ^ (uint32_t)(i >> 32);

	x ^= x >> 15;
	x *= 0x2c1b3c6dU;
	x ^= x >> 12;
	return ((float)(x & 0xffff) / 65536.0f - 0.5f) * 0.5f + 0.0001f;
}

static void gen_render(void *state, float *const *out, uint32_t n)
{
	struct gen *p = state;

	for (uint32_t i = 0; i < n; i++)
		out[0][i] = gen_at(p->pos + i);
	p->pos += n;
}

/* Reads the files in order as one stream and compares it with gen_at from
 * frame 0; exact silence counts as a gap when zeros is given. Returns the
 * frames read (lens[k]: each file's), *bad the mismatches. */
static uint64_t read_parts(char paths[][512], int n, uint64_t *lens, uint64_t *bad,
			   uint64_t *zeros)
{
	float *x = malloc(2 * 8192 * sizeof(float));
	uint64_t pos = 0;

	*bad = 0;
	if (zeros)
		*zeros = 0;
	for (int k = 0; k < n; k++) {
		SF_INFO si = { 0 };
		SNDFILE *sf = sf_open(paths[k], SFM_READ, &si);
		sf_count_t got;

		lens[k] = 0;
		if (!sf) {
			(*bad)++;
			continue;
		}
		while ((got = sf_readf_float(sf, x, 8192)) > 0) {
			for (sf_count_t i = 0; i < got; i++, pos++) {
				float want = gen_at(pos);

				if (zeros && x[2 * i] == 0.0f && x[2 * i + 1] == 0.0f) {
					(*zeros)++;
					continue;
				}
				*bad += x[2 * i] != want || x[2 * i + 1] != want;
			}
			lens[k] += (uint64_t)got;
		}
		sf_close(sf);
	}
	free(x);
	return pos;
}

static int start_named(struct recorder *r, uint32_t track, bool mix, const char *tmpl,
		       uint64_t split, int *id)
{
	struct take_request req = {
		.tracks = &track, .n_tracks = 1, .mix = mix, .format = RECORDER_FORMAT_WAV,
		.bits = 32, .name_template = tmpl, .split_frames = split,
	};

	return recorder_start(r, &req, id);
}

/* 2.5 minutes split every minute, beside the same signal unsplit. */
static void test_split(void)
{
	const uint64_t minute = (uint64_t)RATE * 60, total = minute * 5 / 2;
	char dir[256], paths[3][512], whole[1][512], path[RECORDER_PATH_MAX];
	struct engine *e = make_engine();
	struct recorder *r;
	struct gen p = { 0 };
	struct take_info info;
	uint64_t lens[3], wlen[1], bad, got;
	uint32_t id;
	int split = 0, plain = 0, named = 0;
	const char *tracks[] = { "voice", "publish" };

	make_dir(dir, sizeof(dir), "split");
	r = make_recorder(e, dir, 4000, 0, 1000);
	engine_add_custom(e, "voice", "test", 1, ENGINE_TO_PUBLISH, gen_render, NULL, &p, &id);
	CHECK(start_named(r, id, true, "split-{track}", 1000, &split) == -EINVAL,
	      "parts shorter than 1024 frames refused");
	CHECK(start_named(r, id, true, "split-{track}", minute, &split) == 0 &&
		      start_named(r, id, false, "whole-{track}", 0, &plain) == 0,
	      "a take split every minute and an unsplit take started together");
	run(e, r, (uint32_t)total);
	CHECK(recorder_get(r, split, &info) == 0 && info.part == 3 && info.n_all_files == 6 &&
		      info.split_frames == minute && info.files[0].frames == total - 2 * minute,
	      "while recording: part %u, %u files, %llu frames in the current part", info.part,
	      info.n_all_files, (unsigned long long)info.files[0].frames);
	CHECK(strstr(info.files[0].path, "split-voice-part03.wav.part") != NULL,
	      "the current part is named -part03 (%s)", info.files[0].path);
	CHECK(recorder_stop(r, split) == 0 && recorder_stop(r, plain) == 0, "both takes stopped");
	recorder_get(r, split, &info);
	CHECK(info.frames == total && info.overrun_frames == 0, "split take: %llu frames, no overrun",
	      (unsigned long long)info.frames);
	for (uint32_t k = 0; k < info.n_all_files; k++)
		named += recorder_file_path(r, split, k, path, sizeof(path)) == 0 &&
			 strstr(path, "-part0") && !strstr(path, ".part");
	CHECK(named == 6 && recorder_file_path(r, split, 6, path, sizeof(path)) == -ERANGE,
	      "recorder_file_path lists the 6 final files (%d), then -ERANGE", named);
	for (int t = 0; t < 2; t++) {
		for (int k = 0; k < 3; k++)
			snprintf(paths[k], sizeof(paths[k]), "%s/split-%s-part%02d.wav", dir,
				 tracks[t], k + 1);
		got = read_parts(paths, 3, lens, &bad, NULL);
		CHECK(lens[0] == minute && lens[1] == minute && lens[2] == total - 2 * minute,
		      "%s: parts of %llu, %llu and %llu frames", tracks[t],
		      (unsigned long long)lens[0], (unsigned long long)lens[1],
		      (unsigned long long)lens[2]);
		CHECK(got == total && bad == 0,
		      "%s: the parts concatenate to exactly the signal (%llu frames, %llu off)",
		      tracks[t], (unsigned long long)got, (unsigned long long)bad);
	}
	snprintf(whole[0], sizeof(whole[0]), "%s/whole-voice.wav", dir);
	got = read_parts(whole, 1, wlen, &bad, NULL);
	CHECK(got == total && bad == 0, "the unsplit take holds the same %llu frames (%llu off)",
	      (unsigned long long)got, (unsigned long long)bad);
	CHECK(recorder_delete(r, split) == 0 && access(paths[0], F_OK) < 0,
	      "delete removes the finished parts too");
	recorder_destroy(r);
	engine_destroy(e);
}

/* A gap (a stalled writer) across several cuts: the silence is split over
 * the parts at its exact place, nothing shifts. */
static void test_split_gap(void)
{
	const uint32_t before = PERIOD * 20, stalled = PERIOD * 160, after = PERIOD * 60;
	const uint64_t part = 4096, total = before + stalled + after;
	char dir[256], paths[16][512];
	struct engine *e = make_engine();
	struct recorder *r;
	struct gen p = { 0 };
	struct take_info info;
	uint64_t lens[16], bad, zeros, got, full = 1;
	uint32_t id;
	int take = 0, n = (int)((total + part - 1) / part);

	make_dir(dir, sizeof(dir), "splitgap");
	r = make_recorder(e, dir, 100, 0, 1000);	/* 8192-frame rings */
	engine_add_custom(e, "voice", "test", 1, ENGINE_TO_PUBLISH, gen_render, NULL, &p, &id);
	CHECK(start_named(r, id, false, "gap-{track}", part, &take) == 0, "split take started");
	run(e, r, before);
	recorder_debug_stall(r, 1000);
	engine_offline_run(e, stalled, NULL, NULL);
	recorder_sync(r, false, 5000);
	run(e, r, after);
	recorder_stop(r, take);
	recorder_get(r, take, &info);
	for (int k = 0; k < n && k < 16; k++)
		snprintf(paths[k], sizeof(paths[k]), "%s/gap-voice-part%02d.wav", dir, k + 1);
	got = read_parts(paths, n, lens, &bad, &zeros);
	for (int k = 0; k + 1 < n; k++)
		full &= lens[k] == part;
	CHECK(info.overrun_frames > part, "the gap is longer than a part (%llu frames dropped)",
	      (unsigned long long)info.overrun_frames);
	CHECK(got == total && full && info.part == (uint32_t)n,
	      "%d parts of %llu frames, %llu frames in all (of %llu)", n,
	      (unsigned long long)part, (unsigned long long)got, (unsigned long long)total);
	CHECK(bad == 0 && zeros == info.overrun_frames,
	      "frames at their exact places, the gap silent (%llu off, %llu silent)",
	      (unsigned long long)bad, (unsigned long long)zeros);
	recorder_destroy(r);
	engine_destroy(e);
}

/* ---- logger: cuts on the wall-clock period, retention by age and size */

/* A file of mb MiB whose mtime is age_s seconds ago. */
static void fake_file(const char *dir, const char *name, int mb, long age_s)
{
	char path[512];
	struct timespec ts[2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f) {
		fseek(f, (long)mb << 20, SEEK_SET);	/* sparse: size without the writes */
		fputc(0, f);
		fclose(f);
	}
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= age_s;
	ts[1] = ts[0];
	utimensat(AT_FDCWD, path, ts, 0);
}

static bool exists_in(const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static void test_logger(void)
{
	const uint64_t period = 2 * RATE, total = 7 * RATE;
	char dir[256], paths[8][512], path[RECORDER_PATH_MAX];
	struct engine *e = make_engine();
	struct recorder *r;
	struct gen p = { 0 };
	struct take_info info;
	uint64_t lens[8], bad, got, sizes = 0, middle = 1;
	uint32_t id;
	int take = 0, n, before = notice_count(RECORDER_LOGGER_PRUNED), logger_files = 0;
	struct take_request req = {
		.tracks = (uint32_t[]){ ENGINE_BUS_PUBLISH }, .n_tracks = 1,
		.format = RECORDER_FORMAT_WAV, .bits = 32, .logger = true, .logger_period_s = 2,
		.logger_keep_days = 3, .logger_max_mb = 5,
	};

	make_dir(dir, sizeof(dir), "logger");
	fake_file(dir, "logger-20200101-000000-publish.wav", 0, 10 * 86400);	/* too old */
	/* 2 MB each beside 5 MB: whatever the phase of the wall clock, the logger
	 * has finished 1.9 to 2.3 MB of parts at its last cut, so a and b go, c
	 * stays */
	fake_file(dir, "logger-a-3h.wav", 2, 3 * 3600);
	fake_file(dir, "logger-b-2h.wav", 2, 2 * 3600);
	fake_file(dir, "logger-c-1h.wav", 2, 3600);
	fake_file(dir, "other-old.wav", 1, 30 * 86400);	/* not a logger file */
	r = make_recorder(e, dir, 4000, 0, 1000);
	engine_add_custom(e, "voice", "test", 1, ENGINE_TO_PUBLISH, gen_render, NULL, &p, &id);
	req.logger_period_s = 1;
	CHECK(recorder_start(r, &req, &take) == -EINVAL, "a logger period of 1 s refused");
	req.logger_period_s = 2;
	CHECK(recorder_start(r, &req, &take) == 0, "logger started (period 2 s, 3 days, 5 MB)");
	CHECK(!exists_in(dir, "logger-20200101-000000-publish.wav") &&
		      exists_in(dir, "other-old.wav"),
	      "at start: the logger file older than 3 days deleted, other files kept");
	run(e, r, (uint32_t)total);
	recorder_stop(r, take);
	recorder_get(r, take, &info);
	n = (int)info.n_all_files;
	CHECK(info.logger && n >= 4 && n <= 5 && info.frames == total,
	      "%d files for 7 s cut every 2 s (%llu frames)", n, (unsigned long long)info.frames);
	for (int k = 0; k < n && k < 8; k++) {
		recorder_file_path(r, take, (uint32_t)k, path, sizeof(path));
		snprintf(paths[k], sizeof(paths[k]), "%.500s", path);
		logger_files += strncmp(strrchr(path, '/') + 1, "logger-", 7) == 0 &&
				strstr(path, "-publish") != NULL;
	}
	CHECK(logger_files == n, "files named logger-%%Y%%m%%d-%%H%%M%%S-publish (%d of %d)",
	      logger_files, n);
	got = read_parts(paths, n < 8 ? n : 8, lens, &bad, NULL);
	for (int k = 1; k + 1 < n; k++)
		middle &= lens[k] == period;
	CHECK(lens[0] > 0 && lens[0] <= period + 1024 && middle,
	      "the first part runs to the next even second (%llu frames), the next ones are "
	      "exactly 2 s", (unsigned long long)lens[0]);
	CHECK(got == total && bad == 0, "the logger files concatenate to the signal (%llu, %llu off)",
	      (unsigned long long)got, (unsigned long long)bad);
	for (int k = 0; k < n; k++) {
		struct stat st;

		if (stat(paths[k], &st) == 0)
			sizes += (uint64_t)st.st_size;
	}
	CHECK(!exists_in(dir, "logger-a-3h.wav") && !exists_in(dir, "logger-b-2h.wav") &&
		      exists_in(dir, "logger-c-1h.wav"),
	      "over 5 MB: the oldest logger files deleted first, the newest kept (%llu bytes "
	      "logged)", (unsigned long long)sizes);
	engine_sync_events(e);
	CHECK(notice_count(RECORDER_LOGGER_PRUNED) - before == 3, "a row for each deleted file (%d)",
	      notice_count(RECORDER_LOGGER_PRUNED) - before);
	recorder_destroy(r);
	engine_destroy(e);
}

/* ---- RF64 beyond 4 GiB: runs when the temporary disk has 12 GB free (it
 * writes 5 GiB, then 4.5 GiB, about two minutes), not in sanitizer builds;
 * AIRMIX_TEST_RF64=1 forces it, =0 skips it. */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif
#define RF64_FREE_GB 12

static bool rf64_wanted(void)
{
	const char *env = getenv("AIRMIX_TEST_RF64");
	struct statvfs vfs;
	uint64_t avail;

	if (env && !strcmp(env, "1"))
		return true;
	if (env && !strcmp(env, "0")) {
		printf("ok - skipped: RF64 beyond 4 GiB (AIRMIX_TEST_RF64=0)\n");
		return false;
	}
	if (SANITIZED) {
		printf("ok - skipped: RF64 beyond 4 GiB in a sanitizer build "
		       "(AIRMIX_TEST_RF64=1 forces it)\n");
		return false;
	}
	avail = statvfs(top_dir, &vfs) == 0 ? (uint64_t)vfs.f_bavail * vfs.f_frsize : 0;
	if (avail < (uint64_t)RF64_FREE_GB << 30) {
		printf("ok - skipped: only %llu GB free for the RF64 take (needs %d)\n",
		       (unsigned long long)(avail >> 30), RF64_FREE_GB);
		return false;
	}
	return true;
}

struct ramp {
	uint64_t pos;
};

static float ramp_at(uint64_t i)
{
	return (float)(i % 4093) / 8192.0f + 0.0001f;
}

static void ramp_render(void *state, float *const *out, uint32_t n)
{
	struct ramp *p = state;

	for (uint32_t i = 0; i < n; i++)
		out[0][i] = ramp_at(p->pos + i);
	p->pos += n;
}

static int check_ramp_at(SNDFILE *sf, sf_count_t at)
{
	float x[2 * 64];

	if (sf_seek(sf, at, SEEK_SET) != at || sf_readf_float(sf, x, 64) != 64)
		return 0;
	for (int i = 0; i < 64; i++)
		if (x[2 * i] != ramp_at((uint64_t)at + i) || x[2 * i + 1] != x[2 * i])
			return 0;
	return 1;
}

static void test_rf64(void)
{
	const uint64_t total = (5ull << 30) / 8 / (PERIOD * 1024) * (PERIOD * 1024); /* 5 GiB float */
	char dir[256];
	struct engine *e;
	struct recorder *r;
	struct ramp p = { 0 };
	struct take_info info;
	SF_INFO si = { 0 };
	SNDFILE *sf;
	uint32_t id;
	int take = 0, ok = 1;

	make_dir(dir, sizeof(dir), "rf64");
	e = make_engine();
	r = make_recorder(e, dir, 4000, 0, 1000);
	engine_add_custom(e, "ramp", "test", 1, ENGINE_TO_PUBLISH, ramp_render, NULL, &p, &id);
	CHECK(start(r, (uint32_t[]){ ENGINE_BUS_PUBLISH }, 1, false, RECORDER_FORMAT_WAV, 32,
		    &take) == 0, "5 GiB float take started");
	for (uint64_t done = 0; done < total && ok; done += PERIOD * 1024) {
		engine_offline_run(e, PERIOD * 1024, NULL, NULL);
		ok = recorder_sync(r, false, 30000) == 0;
	}
	CHECK(recorder_stop(r, take) == 0 && recorder_get(r, take, &info) == 0 &&
		      info.frames == total && info.overrun_frames == 0,
	      "take of %llu frames stopped (%llu written, %llu dropped)",
	      (unsigned long long)total, (unsigned long long)info.frames,
	      (unsigned long long)info.overrun_frames);
	sf = sf_open(info.files[0].path, SFM_READ, &si);
	CHECK(sf && (si.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_RF64 && (uint64_t)si.frames == total,
	      "read back as RF64 with every frame (format 0x%x, %lld frames)", si.format,
	      (long long)si.frames);
	if (sf) {
		CHECK(check_ramp_at(sf, 0) && check_ramp_at(sf, (sf_count_t)(1ull << 29) - 32) &&
			      check_ramp_at(sf, (sf_count_t)total - 64),
		      "samples exact at the start, across 4 GiB and at the end");
		sf_close(sf);
	}
	recorder_delete(r, take);
	recorder_destroy(r);
	engine_destroy(e);
}

/* A child records 4.5 GiB with no header update after the first (the header
 * still says RIFF and a few bytes) and is killed; recovery must turn the
 * file into RF64 through the JUNK chunk libsndfile reserved for ds64. */
static void test_rf64_crash(void)
{
	const uint64_t total = (9ull << 29) / 8 / (PERIOD * 1024) * (PERIOD * 1024);
	char dir[256], path[512];
	SF_INFO si = { 0 };
	SNDFILE *sf;
	pid_t pid;
	int status = 0;

	make_dir(dir, sizeof(dir), "rf64crash");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct engine *e = make_engine();
		struct recorder *r = make_recorder(e, dir, 4000, 0, 60000);
		struct ramp p = { 0 };
		uint32_t id;
		int take;

		engine_add_custom(e, "ramp", "test", 1, ENGINE_TO_PUBLISH, ramp_render, NULL, &p,
				  &id);
		if (start(r, (uint32_t[]){ ENGINE_BUS_PUBLISH }, 1, false, RECORDER_FORMAT_WAV, 32,
			  &take) < 0)
			_exit(3);
		for (uint64_t done = 0; done < total; done += PERIOD * 1024) {
			engine_offline_run(e, PERIOD * 1024, NULL, NULL);
			recorder_sync(r, false, 30000);
		}
		raise(SIGKILL);
		_exit(4);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFSIGNALED(status),
	      "child recorded 4.5 GiB and was killed");
	CHECK(recorder_recover(dir, NULL) == 1, "the 4.5 GiB .part recovered");
	snprintf(path, sizeof(path), "%s/take-publish.wav", dir);
	sf = sf_open(path, SFM_READ, &si);
	CHECK(sf && (si.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_RF64 && (uint64_t)si.frames == total,
	      "recovered as RF64 with every frame (format 0x%x, %lld of %llu frames)", si.format,
	      (long long)si.frames, (unsigned long long)total);
	if (sf) {
		CHECK(check_ramp_at(sf, 0) && check_ramp_at(sf, (sf_count_t)(1ull << 29) - 32) &&
			      check_ramp_at(sf, (sf_count_t)total - 64),
		      "recovered samples exact at the start, across 4 GiB and at the end");
		sf_close(sf);
	}
	unlink(path);
}

/* ---- a full disk */

static void full_disk_case(struct engine *e, const char *dir, uint64_t min_free_mb, int code)
{
	struct recorder *r = make_recorder(e, dir, 4000, min_free_mb, 100);
	struct player p;
	struct take_info info;
	struct wav w;
	uint32_t id = add_player(e, &p, min_free_mb ? "floor" : "full");
	int take = 0, before = notice_count(code);

	CHECK(start(r, &id, 1, false, RECORDER_FORMAT_WAV, 32, &take) == 0,
	      "take on the small disk started (floor %llu MB)", (unsigned long long)min_free_mb);
	for (int i = 0; i < 40; i++) {
		run(e, r, PERIOD * 375);
		recorder_sync(r, true, 5000);
		recorder_get(r, take, &info);
		if (info.state != TAKE_RECORDING)
			break;
	}
	for (int i = 0; i < 100 && recorder_get(r, take, &info) == 0 &&
			info.state == TAKE_RECORDING; i++)
		usleep(10000);
	CHECK(info.state == TAKE_FAILED && info.error_code == code,
	      "take stopped by itself with %d (%s: %s)", code, recorder_state_name(info.state),
	      info.error);
	CHECK(count_parts(dir) == 0, "files finalised and renamed");
	CHECK(read_file(info.files[0].path, &w) == 0 && w.frames > RATE &&
		      compare(&w, 0.0f, NULL) == 0,
	      "the file is valid and holds the take so far (%lld frames)", (long long)w.frames);
	engine_sync_events(e);
	CHECK(notice_count(code) > before, "error row reported");
	CHECK(recorder_stop(r, take) == -EALREADY, "stop after the failure: -EALREADY");
	free(w.x);
	recorder_delete(r, take);
	recorder_destroy(r);
	engine_remove_node(e, id);
	engine_offline_run(e, PERIOD * 2, NULL, NULL);
	engine_sync_events(e);
}

static void test_full_disk(void)
{
	char dir[256];
	struct engine *e;

	make_dir(dir, sizeof(dir), "full");
	if (mount("tmpfs", dir, "tmpfs", 0, "size=2m") < 0) {
		printf("ok - skipped: cannot mount tmpfs (%s)\n", strerror(errno));
		return;
	}
	e = make_engine();
	full_disk_case(e, dir, 0, RECORDER_DISK_FULL);	/* ENOSPC mid-write */
	full_disk_case(e, dir, 1, RECORDER_DISK_FULL);	/* the free-space floor */
	engine_destroy(e);
	CHECK(umount(dir) == 0, "tmpfs unmounted");
}

static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char sub[1024];

	if (!d) {
		unlink(path);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		remove_tree(sub);
	}
	closedir(d);
	rmdir(path);
}

/* Two stems and the publish bus in one take: every file holds exactly its
 * source's samples, all the same length, aligned to the sample. */
static void test_two_stems(void)
{
	char dir[256];
	struct engine *e = make_engine();
	struct recorder *r;
	struct player a = { 0 }, b = { 0 };
	struct take_info info;
	struct wav w[3];
	uint32_t ids[2];
	int take = 0, ok = 1;
	const uint32_t n = PERIOD * 500;

	make_dir(dir, sizeof(dir), "two");
	r = make_recorder(e, dir, 4000, 0, 1000);
	ids[0] = add_player(e, &a, "host");
	if (engine_add_custom(e, "guest", "test", 1, ENGINE_TO_PUBLISH, half_render, NULL, &b,
			      &ids[1]) < 0)
		exit(1);
	CHECK(start(r, ids, 2, true, RECORDER_FORMAT_WAV, 32, &take) == 0, "two stems and the mix");
	run(e, r, n);
	CHECK(recorder_stop(r, take) == 0 && recorder_get(r, take, &info) == 0 &&
		      info.n_files == 3, "three files (%u)", info.n_files);
	for (int f = 0; f < 3 && f < (int)info.n_files; f++)
		ok &= read_file(info.files[f].path, &w[f]) == 0;
	CHECK(ok, "the three files open with libsndfile");
	if (ok && info.n_files == 3) {
		int exact = w[0].frames == n && w[1].frames == n && w[2].frames == n;

		/* both sources joined the graph before the take: frame k of every file is
		 * frame k of the take, the same offset into the signal for all three */
		for (uint32_t i = 0; exact && i < n; i++) {
			float s0 = w[0].x[2 * i];

			exact = w[1].x[2 * i] == -0.5f * s0 && w[2].x[2 * i] == 0.5f * s0 &&
				w[0].x[2 * i + 1] == s0;
		}
		CHECK(exact, "stems and mix: identical lengths, exact samples, aligned to the sample");
	}
	for (int f = 0; f < 3 && f < (int)info.n_files; f++)
		free(w[f].x);
	recorder_destroy(r);
	engine_destroy(e);
}

int main(void)
{
	if (!mkdtemp(top_dir)) {
		perror("mkdtemp");
		return 2;
	}
	sig = malloc(SIGNAL_LEN * sizeof(float));
	srand(11);
	for (uint32_t i = 0; i < SIGNAL_LEN; i++)
		sig[i] = 0.25f * (2.0f * (float)rand() / (float)RAND_MAX - 1.0f) + 0.001f;
	test_crash_recovery();	/* first: fork before any thread exists */
	test_bit_exact();
	test_two_stems();
	test_disk_warning();
	test_overrun();
	test_split();
	test_split_gap();
	test_logger();
	test_full_disk();
	if (rf64_wanted()) {
		test_rf64();
		test_rf64_crash();
	}
	remove_tree(top_dir);
	free(sig);
	CHECK_RT_CLEAN();
	return CHECK_DONE();
}
