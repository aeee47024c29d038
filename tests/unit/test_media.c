/* test_media.c - unit tests of the file decoding layer (engine/media.c):
 * bit-exact WAV reads at the engine rate, mono to stereo, resampling (length,
 * pitch, level), FLAC/Vorbis/Opus/MP3 through libsndfile, AAC and multi-stream
 * containers through libavformat, channel-pair tracks, exact seeks (also
 * through the resampler), every open error, the preload limit, EBU R128
 * loudness, and two threads decoding at once.
 *
 * Media are generated at test start in a temporary directory: exact content
 * through libsndfile here, the rest by tests/lib/make_media.sh (ffmpeg, sox).
 * Run from the repository top.
 *
 * Threads: main; the concurrency check adds two decoder threads.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "engine/media.h"

#define RATE 48000u

/* LeakSanitizer (ASan builds): leaks inside third-party libraries, as in
 * tests/lib/lsan.supp. libsndfile 1.2.0 leaks a libvorbis codec setup when
 * sf_open fails on a damaged Ogg Vorbis header (no handle to free). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:vorbis_info_init\n";
}

static char dir[64];

static const char *at(const char *name)
{
	static char bufs[4][256];
	static int next;
	char *p = bufs[next++ & 3];

	snprintf(p, 256, "%s/%s", dir, name);
	return p;
}

/* ---- generated content ---- */

typedef double (*wave_fn)(int64_t i, int ch, double rate);

static double wave_sine1k(int64_t i, int ch, double rate)
{
	(void)ch;
	return 0.5 * sin(2 * M_PI * 1000.0 * (double)i / rate);
}

static double wave_sine440(int64_t i, int ch, double rate)
{
	(void)ch;
	return 0.5 * sin(2 * M_PI * 440.0 * (double)i / rate);
}

static double wave_full1k(int64_t i, int ch, double rate)
{
	(void)ch;
	return sin(2 * M_PI * 1000.0 * (double)i / rate);
}

static double wave_minus20(int64_t i, int ch, double rate)
{
	return 0.1 * wave_full1k(i, ch, rate);
}

static double wave_silence(int64_t i, int ch, double rate)
{
	(void)i, (void)ch, (void)rate;
	return 0.0;
}

static int write_wave(const char *path, int format, int rate, int channels, int64_t frames,
		      wave_fn fn)
{
	SF_INFO si = { .samplerate = rate, .channels = channels, .format = format };
	SNDFILE *sf = sf_open(path, SFM_WRITE, &si);
	float buf[1024 * 2];

	if (!sf)
		return -1;
	for (int64_t i = 0; i < frames;) {
		int n = frames - i > 1024 ? 1024 : (int)(frames - i);

		for (int k = 0; k < n; k++) {
			for (int c = 0; c < channels; c++)
				buf[k * channels + c] = (float)fn(i + k, c, rate);
		}
		sf_writef_float(sf, buf, n);
		i += n;
	}
	sf_close(sf);
	return 0;
}

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

/* ---- analysis ---- */

/* Frequency of channel ch from positive-going zero crossings (interpolated)
 * between 10 % and 90 % of the buffer. */
static double freq_of(const float *st, int64_t frames, int ch, double rate)
{
	double first = -1, last = -1;
	int crossings = 0;

	for (int64_t i = frames / 10; i < frames * 9 / 10; i++) {
		float a = st[2 * (i - 1) + ch], b = st[2 * i + ch];

		if (a < 0 && b >= 0) {
			double t = (double)(i - 1) + a / (a - b);

			if (first < 0)
				first = t;
			last = t;
			crossings++;
		}
	}
	if (crossings < 2)
		return 0;
	return (crossings - 1) * rate / (last - first);
}

static double rms_db(const float *st, int64_t frames, int ch)
{
	double sum = 0;
	int64_t n = 0;

	for (int64_t i = frames / 10; i < frames * 9 / 10; i++, n++)
		sum += (double)st[2 * i + ch] * st[2 * i + ch];
	return n ? 10 * log10(sum / (double)n) : -999;
}

/* Decodes a whole file with media_open/media_read in uneven chunk sizes. */
static float *read_all(const char *path, uint32_t rate, uint32_t track, int64_t *frames,
		       struct media_info *info)
{
	char err[512];
	struct media *m;
	float *buf = NULL;
	int64_t n = 0, cap = 0;
	static const uint32_t sizes[] = { 1000, 1, 4096, 777, 128 };

	*frames = -1;
	if (media_open(path, rate, track, &m, err, sizeof(err)) < 0) {
		printf("# %s\n", err);
		return NULL;
	}
	for (int k = 0;; k++) {
		uint32_t want = sizes[k % 5];
		long got;

		if (n + want > cap) {
			cap = (n + want) * 2;
			buf = realloc(buf, sizeof(float) * 2 * (size_t)cap);
		}
		got = media_read(m, buf + 2 * n, want);
		if (got <= 0) {
			if (got < 0)
				printf("# read: %s\n", media_error(m));
			break;
		}
		n += got;
	}
	if (info)
		media_get_info(m, info);
	media_close(m);
	*frames = n;
	return buf;
}

/* ---- tests ---- */

static void test_wav16_exact(void)
{
	const char *path = at("s16.wav");
	SF_INFO si = { .samplerate = RATE, .channels = 2, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16 };
	enum { N = 30011 };
	static short pcm[N * 2];
	struct media_info info;
	int64_t frames;
	float *out;
	SNDFILE *sf;
	int bad = 0;

	for (int i = 0; i < N * 2; i++)
		pcm[i] = (short)(rnd() & 0xffff);
	pcm[0] = -32768;
	pcm[1] = 32767;
	sf = sf_open(path, SFM_WRITE, &si);
	sf_writef_short(sf, pcm, N);
	sf_close(sf);
	out = read_all(path, RATE, 0, &frames, &info);
	CHECK(out && frames == N, "16-bit stereo WAV: %lld frames of %d", (long long)frames, N);
	for (int i = 0; out && frames == N && i < N * 2; i++)
		bad += out[i] != pcm[i] / 32768.0f;
	CHECK(out && bad == 0, "16-bit WAV read bit-exact (%d samples differ)", bad);
	CHECK(!strcmp(info.format, "WAV") && info.source_rate == RATE && info.source_channels == 2 &&
		      info.tracks == 1 && info.frames == N && info.frames_exact,
	      "info: %s %u Hz %u ch %u tracks %lld frames", info.format, info.source_rate,
	      info.source_channels, info.tracks, (long long)info.frames);
	CHECK(fabs(info.duration_ms - N * 1000.0 / RATE) < 1e-9, "duration %.3f ms", info.duration_ms);
	free(out);
}

static void test_float_and_mono_exact(void)
{
	enum { N = 20000 };
	static float pcm[N * 2];
	SF_INFO si = { .samplerate = RATE, .channels = 2,
		       .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT };
	SF_INFO mi = { .samplerate = RATE, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16 };
	static short mono[N];
	struct media_info info;
	int64_t frames;
	float *out;
	SNDFILE *sf;
	int bad = 0;

	for (int i = 0; i < N * 2; i++)
		pcm[i] = (float)((int32_t)rnd() / 2147483648.0);
	pcm[0] = 1.0f;
	pcm[1] = -1.0f;
	sf = sf_open(at("f32.wav"), SFM_WRITE, &si);
	sf_writef_float(sf, pcm, N);
	sf_close(sf);
	out = read_all(at("f32.wav"), RATE, 0, &frames, NULL);
	CHECK(out && frames == N && !memcmp(out, pcm, sizeof(pcm)), "float WAV read bit-exact");
	free(out);

	for (int i = 0; i < N; i++)
		mono[i] = (short)(rnd() & 0xffff);
	sf = sf_open(at("mono.wav"), SFM_WRITE, &mi);
	sf_writef_short(sf, mono, N);
	sf_close(sf);
	out = read_all(at("mono.wav"), RATE, 0, &frames, &info);
	for (int i = 0; out && frames == N && i < N; i++)
		bad += out[2 * i] != mono[i] / 32768.0f || out[2 * i + 1] != out[2 * i];
	CHECK(out && frames == N && bad == 0, "mono WAV: L = R = x bit-exact (%d differ)", bad);
	CHECK(info.source_channels == 1 && info.tracks == 1, "mono: 1 channel, 1 track");
	free(out);
}

static void check_resampled(const char *name, int rate)
{
	int64_t src = 2 * (int64_t)rate, want = (src * RATE + rate / 2) / rate, frames;
	struct media_info info;
	float *out;
	double f, lvl;

	write_wave(at(name), SF_FORMAT_WAV | SF_FORMAT_PCM_16, rate, 1, src, wave_sine1k);
	out = read_all(at(name), RATE, 0, &frames, &info);
	CHECK(out && llabs(frames - want) <= 1, "%s to 48 kHz: %lld frames, want %lld +-1", name,
	      (long long)frames, (long long)want);
	CHECK(info.frames == want && info.source_rate == (uint32_t)rate,
	      "%s: info.frames %lld, source rate %u", name, (long long)info.frames,
	      info.source_rate);
	f = out ? freq_of(out, frames, 0, RATE) : 0;
	CHECK(fabs(f / 1000.0 - 1) < 0.005, "%s: 1000 Hz sine measures %.3f Hz", name, f);
	lvl = out ? rms_db(out, frames, 1) : -999;
	CHECK(fabs(lvl - 20 * log10(0.5 / sqrt(2))) < 0.5, "%s: level %.2f dB, want %.2f", name,
	      lvl, 20 * log10(0.5 / sqrt(2)));
	free(out);
}

/* -120 dBFS: far below any 24-bit output's last bit */
#define RESAMPLED_SEEK_TOL 1e-6f

/* A read after a seek equals a continuous read at the same position. */
static void check_seek(const char *path, int64_t to, uint32_t len, float tol)
{
	char err[512];
	struct media *m;
	int64_t frames;
	float *all = read_all(path, RATE, 0, &frames, NULL);
	float *got = calloc(2 * len, sizeof(float));
	float worst = 0;
	long n = -1;
	int r = -1;

	if (all && media_open(path, RATE, 0, &m, err, sizeof(err)) == 0) {
		r = media_seek(m, to);
		n = media_read(m, got, len);
		CHECK(media_tell(m) == to + n, "%s: tell after seek+read %lld", path,
		      (long long)media_tell(m));
		media_close(m);
	}
	for (uint32_t i = 0; n == (long)len && i < 2 * len; i++) {
		float d = fabsf(got[i] - all[2 * to + i]);

		worst = d > worst ? d : worst;
	}
	CHECK(r == 0 && n == (long)len && worst <= tol,
	      "%s: seek to %lld reads the same samples (worst difference %g, allowed %g)", path,
	      (long long)to, worst, tol);
	free(all);
	free(got);
}

static void test_seek(void)
{
	char err[512];
	struct media *m;
	float buf[8];

	check_seek(at("s16.wav"), 12345, 1000, 0);
	check_seek(at("s16.wav"), 0, 10, 0);
	/* through the resampler a restart differs from a continuous run in the
	 * last bits of soxr's block arithmetic: within RESAMPLED_SEEK_TOL */
	check_seek(at("r44.wav"), 31337, 2000, RESAMPLED_SEEK_TOL);
	check_seek(at("r22.wav"), 47, 500, RESAMPLED_SEEK_TOL);
	check_seek(at("r22.wav"), 90000, 500, RESAMPLED_SEEK_TOL);
	check_seek(at("two.mkv"), 30011, 2000, 0);
	check_seek(at("sine.m4a"), 50000, 2000, 1e-4f);
	check_seek(at("r96.wav"), 77777, 1000, RESAMPLED_SEEK_TOL);
	check_seek(at("r11.wav"), 12345, 1000, RESAMPLED_SEEK_TOL);
	check_seek(at("sine.mp3"), 40000, 1000, RESAMPLED_SEEK_TOL);
	if (media_open(at("s16.wav"), RATE, 0, &m, err, sizeof(err)) == 0) {
		CHECK(media_seek(m, 30011) == -ERANGE &&
			      strstr(media_error(m), "to frame 30011: the file has 30011"),
		      "seek at the end is -ERANGE: %s", media_error(m));
		CHECK(media_seek(m, -1) == -ERANGE, "seek before the start is -ERANGE");
		CHECK(media_seek(m, 30010) == 0 && media_read(m, buf, 4) == 1 &&
			      media_read(m, buf, 4) == 0,
		      "seek to the last frame reads one frame then the end");
		media_close(m);
	}
	if (media_open(at("r44.wav"), RATE, 0, &m, err, sizeof(err)) == 0) {
		CHECK(media_seek(m, 96000) == -ERANGE, "resampled: seek at the end is -ERANGE");
		CHECK(media_seek(m, 95999) == 0 && media_read(m, buf, 4) == 1,
		      "resampled: seek to the last frame reads one frame");
		media_close(m);
	}
	if (media_open(at("two.mkv"), RATE, 1, &m, err, sizeof(err)) == 0) {
		struct media_info info;

		media_get_info(m, &info);
		CHECK(!info.frames_exact && llabs(info.frames - 96000) < 96,
		      "mkv length is an estimate: %lld", (long long)info.frames);
		CHECK(media_seek(m, 100000) == -ERANGE && media_tell(m) == 96000,
		      "mkv: seek past the end is -ERANGE and ends at %lld", (long long)media_tell(m));
		media_get_info(m, &info);
		CHECK(info.frames_exact && info.frames == 96000 && media_read(m, buf, 4) == 0,
		      "mkv: length now exact (%lld), reads give the end", (long long)info.frames);
		CHECK(media_seek(m, 95000) == 0 && media_read(m, buf, 4) == 4,
		      "mkv: seek back after the end reads again");
		media_close(m);
	}
}

static void check_codec(const char *name, const char *format, double seconds, double freq,
			double tol)
{
	int64_t frames, want = (int64_t)(seconds * RATE);
	struct media_info info;
	float *out = read_all(at(name), RATE, 0, &frames, &info);
	double f = out ? freq_of(out, frames, 0, RATE) : 0;

	CHECK(out && !strcmp(info.format, format), "%s opens as %s (%s)", name, format,
	      out ? info.format : "-");
	CHECK(out && fabs((double)frames / want - 1) <= tol,
	      "%s: %lld frames, want %lld +-%.1f %%", name, (long long)frames, (long long)want,
	      tol * 100);
	CHECK(out && fabs(f / freq - 1) < 0.005, "%s: %.0f Hz sine measures %.2f Hz", name, freq, f);
	CHECK(out && info.frames == frames && info.frames_exact,
	      "%s: length exact after the end (%lld)", name, (long long)info.frames);
	free(out);
}

static void test_codecs(void)
{
	struct media_info info;
	char err[512];

	write_wave(at("sine.flac"), SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 44100, 1, 88200,
		   wave_sine440);
	write_wave(at("sine.ogg"), SF_FORMAT_OGG | SF_FORMAT_VORBIS, 44100, 1, 88200, wave_sine440);
	check_codec("sine.flac", "FLAC", 2.0, 440, 1e-9);
	check_codec("sine.ogg", "OGG/Vorbis", 2.0, 440, 0.01);
	check_codec("sine.opus", "OGG/Opus", 2.0, 440, 0.01);
	/* MP3: with the LAME header mpg123 removes encoder delay and padding;
	 * without one a file would grow by up to ~1 frame (1152 samples) */
	check_codec("sine.mp3", "MP3", 2.0, 440, 0.01);
	check_codec("sine.m4a", "AAC (mp4)", 2.0, 440, 0.01);
	CHECK(media_probe(at("sine.m4a"), RATE, 0, &info, err, sizeof(err)) == 0 &&
		      info.tracks == 1 && info.source_rate == 44100 && info.source_channels == 2 &&
		      info.frames == 96000 && info.frames_exact,
	      "probe m4a: %u tracks, %u Hz, %u ch, %lld frames (exact from the edit list)", info.tracks,
	      info.source_rate, info.source_channels, (long long)info.frames);
}

static void check_track(const char *name, uint32_t track, double fl, double fr)
{
	int64_t frames;
	struct media_info info;
	float *out = read_all(at(name), RATE, track, &frames, &info);
	double l = out ? freq_of(out, frames, 0, RATE) : 0;
	double r = out ? freq_of(out, frames, 1, RATE) : 0;

	CHECK(out && fabs(l / fl - 1) < 0.005 && fabs(r / fr - 1) < 0.005,
	      "%s track %u: L %.1f Hz (want %.0f), R %.1f Hz (want %.0f)", name, track, l, fl, r, fr);
	CHECK(out && info.tracks == 2 && info.track == track, "%s: %u tracks, selected %u", name,
	      info.tracks, info.track);
	free(out);
}

static void test_tracks(void)
{
	char err[512];
	struct media *m = NULL;

	check_track("two.mkv", 0, 440, 440);
	check_track("two.mkv", 1, 880, 880);
	check_track("two.mp4", 0, 440, 440);
	check_track("two.mp4", 1, 880, 880);
	check_track("four.wav", 0, 300, 600);
	check_track("four.wav", 1, 900, 1200);
	check_track("four.mka", 0, 300, 600);
	check_track("four.mka", 1, 900, 1200);
	check_codec("video.mp4", "AAC (mp4)", 2.0, 440, 0.01);
	CHECK(media_open(at("four.wav"), RATE, 2, &m, err, sizeof(err)) == -ERANGE && !m &&
		      strstr(err, "out of range"),
	      "four.wav track 2: -ERANGE (%s)", err);
	CHECK(media_open(at("two.mkv"), RATE, 2, &m, err, sizeof(err)) == -ERANGE && !m,
	      "two.mkv track 2: -ERANGE (%s)", err);
}

static void check_error(const char *what, const char *path, int want, const char *text)
{
	char err[512] = "";
	struct media *m = (struct media *)&m;
	int r = media_open(path, RATE, 0, &m, err, sizeof(err));

	CHECK(r == want && !m && strstr(err, path) && strstr(err, text),
	      "%s: %d (want %d): %s", what, r, want, err);
}

static void test_errors(void)
{
	char cmd[512], err[512] = "";
	FILE *f;
	float *pcm = (float *)&pcm;
	int64_t frames;

	check_error("missing file", at("nope.wav"), -ENOENT, "No such file");
	check_error("directory", dir, -EISDIR, "Is a directory");
	f = fopen(at("text.wav"), "w");
	fputs("this is not audio at all, only a few words of text\n", f);
	fclose(f);
	/* libsndfile's text first, then libavformat's */
	check_error("text file named .wav", at("text.wav"), -EINVAL, "(libavformat: ");
	f = fopen(at("empty.wav"), "w");
	fclose(f);
	check_error("zero-length file", at("empty.wav"), -ENODATA, "libavformat");
	snprintf(cmd, sizeof(cmd), "cp %s %s && truncate -s 30000 %s", at("s16.wav"),
		 at("cut.wav"), at("cut.wav"));
	CHECK(system(cmd) == 0, "cut a WAV in half");
	check_error("truncated WAV", at("cut.wav"), -EBADMSG,
		    "truncated file: the data chunk announces 120044 bytes, 29956 are there");
	/* a WAV of an unknown codec: libsndfile refuses it, libavformat has no decoder */
	snprintf(cmd, sizeof(cmd), "cp %s %s && printf '\\064\\022' | dd of=%s bs=1 seek=20 "
		 "conv=notrunc 2>/dev/null", at("mono.wav"), at("codec.wav"), at("codec.wav"));
	CHECK(system(cmd) == 0, "patch a WAV's format tag to 0x1234");
	check_error("unknown codec", at("codec.wav"), -ENOTSUP,
		    "(libavformat: unknown audio codec (tag 0x1234))");
	CHECK(media_decode_all(at("nope.wav"), RATE, 0, -1, &pcm, &frames, NULL, err,
			       sizeof(err)) == -ENOENT && !pcm && frames == 0 && err[0],
	      "decode_all of a missing file fails: %s", err);
	/* a cut-short compressed file decodes what is there */
	snprintf(cmd, sizeof(cmd), "cp %s %s && truncate -s 16000 %s", at("sine.mp3"),
		 at("cut.mp3"), at("cut.mp3"));
	CHECK(system(cmd) == 0, "cut an MP3 in half");
	CHECK(media_decode_all(at("cut.mp3"), RATE, 0, -1, &pcm, &frames, NULL, err,
			       sizeof(err)) == 0 && frames > 20000 && frames < 96000,
	      "cut MP3 decodes what is there: %lld frames", (long long)frames);
	free(pcm);
}

static void test_track_range_error(void)
{
	char err[512];
	struct media *m;
	int r = media_open(at("s16.wav"), RATE, 1, &m, err, sizeof(err));

	CHECK(r == -ERANGE && strstr(err, "audio track 1 out of range: the file has 1"),
	      "stereo WAV track 1: %d %s", r, err);
}

static void test_preload_limit(void)
{
	char err[512] = "";
	float *pcm = NULL;
	int64_t frames = 0;
	struct media_info info;
	int r;

	r = media_decode_all(at("clip21.wav"), RATE, 0, 20 * RATE, &pcm, &frames, &info, err,
			     sizeof(err));
	CHECK(r == -EFBIG && !pcm && !strcmp(err, "clip is 21.0 s long; preload takes at most 20.0 s"),
	      "21 s clip refused: %d %s", r, err);
	r = media_decode_all(at("clip20.wav"), RATE, 0, 20 * RATE, &pcm, &frames, &info, err,
			     sizeof(err));
	CHECK(r == 0 && pcm && frames == 20 * RATE && info.frames == frames,
	      "20 s clip (44.1 kHz) preloads as %lld frames at 48 kHz", (long long)frames);
	free(pcm);
	pcm = NULL;
	r = media_decode_all(at("two.mkv"), RATE, 0, RATE, &pcm, &frames, &info, err, sizeof(err));
	CHECK(r == -EFBIG && !pcm && strstr(err, "s long; preload takes at most 1.0 s"),
	      "mkv over a 1 s limit (length only estimated): %s", err);
}

static void test_loudness(void)
{
	char err[512] = "";
	double lufs = 0;

	write_wave(at("full.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, 5 * RATE, wave_full1k);
	write_wave(at("m20.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, 5 * RATE,
		   wave_minus20);
	write_wave(at("full2.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 44100, 2, 5 * 44100,
		   wave_full1k);
	write_wave(at("silent.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_16, RATE, 1, RATE, wave_silence);
	CHECK(media_loudness(at("full.wav"), 0, &lufs, err, sizeof(err)) == 0 &&
		      fabs(lufs + 3.0) <= 0.5,
	      "0 dBFS 1 kHz mono sine: %.2f LUFS (want -3.0)", lufs);
	CHECK(media_loudness(at("m20.wav"), 0, &lufs, err, sizeof(err)) == 0 &&
		      fabs(lufs + 23.0) <= 0.5,
	      "-20 dBFS 1 kHz mono sine: %.2f LUFS (want -23.0)", lufs);
	CHECK(media_loudness(at("full2.wav"), 0, &lufs, err, sizeof(err)) == 0 &&
		      fabs(lufs) <= 0.5,
	      "0 dBFS 1 kHz sine on L and R: %.2f LUFS (want 0.0)", lufs);
	CHECK(media_loudness(at("silent.wav"), 0, &lufs, err, sizeof(err)) == 0 && isinf(lufs) &&
		      lufs < 0,
	      "silence: %f LUFS", lufs);
	CHECK(media_loudness(at("nope.wav"), 0, &lufs, err, sizeof(err)) == -ENOENT && err[0],
	      "loudness of a missing file: %s", err);
}

static void test_source_rate(void)
{
	int64_t frames;
	struct media_info info;
	float *out = read_all(at("r44.wav"), 0, 0, &frames, &info);

	CHECK(out && frames == 88200 && info.engine_rate == 44100,
	      "engine rate 0 keeps the source rate: %lld frames at %u Hz", (long long)frames,
	      info.engine_rate);
	free(out);
}

/* Damaged copies of every kind of file: each open and decode ends with a
 * result or an error with a message, never a crash (run under ASan). */
static void test_damaged(void)
{
	static const char *const names[] = { "s16.wav", "sine.flac", "sine.ogg", "sine.opus",
					     "sine.mp3", "sine.m4a", "two.mkv", "four.mka" };
	int opened = 0, refused = 0, silent = 0;

	for (size_t f = 0; f < sizeof(names) / sizeof(names[0]); f++) {
		FILE *in = fopen(at(names[f]), "rb");
		const char *ext = strrchr(names[f], '.');
		unsigned char *orig = malloc(1 << 20), *copy = malloc(1 << 20);
		size_t len = in ? fread(orig, 1, 1 << 20, in) : 0;
		char path[300];

		if (in)
			fclose(in);
		snprintf(path, sizeof(path), "%s/damaged%s", dir, ext);
		for (int v = 0; len > 64 && v < 12; v++) {
			char err[512] = "";
			float *pcm = NULL;
			int64_t frames = 0;
			int flips = 1 + (int)(rnd() % 24), r;
			FILE *out;

			memcpy(copy, orig, len);
			for (int k = 0; k < flips; k++) {
				size_t pos = k % 2 ? rnd() % (len < 512 ? len : 512) : rnd() % len;

				copy[pos] ^= (unsigned char)(1 + rnd() % 255);
			}
			out = fopen(path, "wb");
			fwrite(copy, 1, v == 11 ? len / 3 : len, out);
			fclose(out);
			r = media_decode_all(path, RATE, 0, 30 * RATE, &pcm, &frames, NULL, err,
					     sizeof(err));
			if (r == 0)
				opened++;
			else if (err[0])
				refused++;
			else
				silent++;
			free(pcm);
		}
		free(orig);
		free(copy);
	}
	CHECK(opened + refused == 8 * 12 && silent == 0,
	      "damaged files: %d decoded, %d refused with a message, %d refused silently", opened,
	      refused, silent);
}

struct job {
	const char *path;
	float *pcm;
	int64_t frames;
	int rc;
};

static void *decode_job(void *arg)
{
	struct job *j = arg;
	char err[512];

	j->rc = media_decode_all(j->path, RATE, 1, -1, &j->pcm, &j->frames, NULL, err, sizeof(err));
	return NULL;
}

static void test_threads(void)
{
	struct job jobs[2] = { { .path = at("two.mp4") }, { .path = at("four.wav") } };
	pthread_t th[2];
	int64_t frames;
	float *ref;

	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, decode_job, &jobs[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++) {
		struct media *m;
		char err[512];

		ref = NULL;
		frames = 0;
		if (media_open(jobs[i].path, RATE, 1, &m, err, sizeof(err)) == 0) {
			ref = malloc(sizeof(float) * 2 * (size_t)jobs[i].frames + 8);
			frames = media_read(m, ref, (uint32_t)jobs[i].frames);
			media_close(m);
		}
		CHECK(jobs[i].rc == 0 && ref && frames == jobs[i].frames &&
			      !memcmp(ref, jobs[i].pcm, sizeof(float) * 2 * (size_t)frames),
		      "decoded on a thread beside another = decoded alone (%s)", jobs[i].path);
		free(ref);
		free(jobs[i].pcm);
	}
}

int main(void)
{
	char cmd[256];

	snprintf(dir, sizeof(dir), "/tmp/test_media.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(cmd, sizeof(cmd), "sh tests/lib/make_media.sh %s", dir);
	CHECK(system(cmd) == 0, "generate test media with ffmpeg and sox");
	write_wave(at("r44.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 88200, wave_sine1k);

	test_wav16_exact();
	test_float_and_mono_exact();
	check_resampled("r44.wav", 44100);
	check_resampled("r22.wav", 22050);
	check_resampled("r96.wav", 96000);
	check_resampled("r11.wav", 11025);
	check_resampled("r8.wav", 8000);
	test_codecs();
	test_seek();
	test_tracks();
	test_errors();
	test_track_range_error();
	test_preload_limit();
	test_loudness();
	test_source_rate();
	test_threads();
	test_damaged();

	snprintf(cmd, sizeof(cmd), "rm -rf -- %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return CHECK_DONE();
}
