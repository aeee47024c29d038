/* media.c - audio file decoding for the mixing manager: libsndfile or
 * libavformat/libavcodec sources, track to stereo mapping, libsoxr
 * resampling to the engine rate, exact seeking, whole-clip preloads and
 * EBU R128 loudness. See media.h for the design.
 *
 * Threads: control and reader threads only, one thread per struct media at a
 * time; no global state (libsndfile's error text for a failed sf_open is the
 * library's own global, see source_sf_open).
 */
#include "media.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ebur128.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <sndfile.h>
#include <soxr.h>

#define CHUNK_FRAMES 1024u	/* source frames per decode step */
#define ERR_MAX 384
#define MAX_RATE 1536000u	/* Hz; above it a header is taken for garbage */
#define AV_PREROLL_MS 100	/* decoded and dropped before a libavformat seek target */

enum backend { BACKEND_SNDFILE, BACKEND_AV };

struct track {
	int stream;		/* libavformat stream index; -1 with libsndfile */
	uint32_t ch_l, ch_r;	/* source channels feeding L and R (equal: mono) */
};

struct media {
	enum backend backend;
	char *path;
	struct media_info info;
	struct track tracks[MEDIA_MAX_TRACKS];
	struct track sel;

	/* source stage: selected track as stereo frames at the source rate */
	int64_t src_frames;	/* source-rate length, -1 when unknown */
	int64_t src_pos;	/* source frame the source stage delivers next */
	bool src_eof;

	/* resampler stage (NULL when the rates are equal) */
	soxr_t rs;
	uint32_t grid_in, grid_out;	/* rates divided by their gcd */
	uint32_t preroll;	/* source frames the filter needs to fill */
	float *in;		/* CHUNK_FRAMES stereo source frames */
	uint32_t in_len, in_off;
	bool drained;		/* the resampler gave all it held after the end */
	float *scratch;		/* CHUNK_FRAMES stereo frames for seeks */

	int64_t out_pos;	/* engine-rate frame media_read() writes next */
	int err_code;
	char err[ERR_MAX];

	/* libsndfile */
	int fd;
	SNDFILE *sf;
	uint32_t sf_channels;
	float *raw;		/* CHUNK_FRAMES frames of sf_channels */

	/* libavformat */
	AVFormatContext *fmt;
	AVCodecContext *dec;
	AVPacket *pkt;
	AVFrame *frame;
	bool frame_ready;	/* frame holds samples from frame_off on */
	int frame_off;
	int64_t frame_pos;	/* source frame of the frame's first sample */
	int64_t next_pos;	/* of the next decoded frame; -1: take its timestamp */
	int64_t origin;		/* stream timestamp of source frame 0 */
	int64_t limit;		/* MP4 length from its edit list: end padding is cut; -1 */
	bool draining;
};

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* The thread using m: records a sticky error. */
__attribute__((format(printf, 3, 4)))
static int set_error(struct media *m, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->err, sizeof(m->err), fmt, ap);
	va_end(ap);
	m->err_code = rc;
	return rc;
}

static uint32_t gcd_u32(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* round(frames * to / from) */
static int64_t rescale_frames(int64_t frames, uint32_t from, uint32_t to)
{
	if (frames < 0 || frames > (INT64_MAX - from) / to)
		return -1;
	if (from == to)
		return frames;
	return (frames * to + from / 2) / from;
}

static void fill_tracks_by_pairs(struct media *m, uint32_t channels, int stream)
{
	uint32_t n = channels > 2 ? (channels + 1) / 2 : 1;

	if (n > MEDIA_MAX_TRACKS)
		n = MEDIA_MAX_TRACKS;
	for (uint32_t k = 0; k < n; k++) {
		m->tracks[k].stream = stream;
		m->tracks[k].ch_l = channels > 2 ? 2 * k : 0;
		m->tracks[k].ch_r = channels >= 2 && 2 * k + 1 < channels ? 2 * k + 1 : 2 * k;
	}
	m->info.tracks = n;
}

/* The source has ended: its length is now known exactly. */
static void source_ended(struct media *m)
{
	m->src_eof = true;
	m->src_frames = m->src_pos;
	m->info.frames = rescale_frames(m->src_pos, m->info.source_rate, m->info.engine_rate);
	m->info.frames_exact = true;
	m->info.duration_ms = m->info.frames * 1000.0 / m->info.engine_rate;
}

/* ---- libsndfile source ---- */

static const char *sf_format_name(int format)
{
	switch (format & SF_FORMAT_TYPEMASK) {
	case SF_FORMAT_WAV:
	case SF_FORMAT_WAVEX:
		return "WAV";
	case SF_FORMAT_RF64:
		return "RF64";
	case SF_FORMAT_W64:
		return "W64";
	case SF_FORMAT_FLAC:
		return "FLAC";
	case SF_FORMAT_AIFF:
		return "AIFF";
	case SF_FORMAT_CAF:
		return "CAF";
	case SF_FORMAT_AU:
		return "AU";
	case SF_FORMAT_OGG:
		switch (format & SF_FORMAT_SUBMASK) {
		case SF_FORMAT_VORBIS:
			return "OGG/Vorbis";
		case SF_FORMAT_OPUS:
			return "OGG/Opus";
		default:
			return "OGG";
		}
	case SF_FORMAT_MPEG:
		switch (format & SF_FORMAT_SUBMASK) {
		case SF_FORMAT_MPEG_LAYER_I:
			return "MP1";
		case SF_FORMAT_MPEG_LAYER_II:
			return "MP2";
		default:
			return "MP3";
		}
	default:
		return "libsndfile";
	}
}

static uint32_t read_u32(const unsigned char *p, bool big_endian)
{
	if (big_endian)
		return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Finds a RIFF/RIFX/RF64 file's data chunk; returns 1 and the announced and
 * present byte counts when it reaches past the end of the file. Streamed
 * files (size 0 or 0xffffffff in plain RIFF) are not judged. */
static int wav_cut_short(int fd, int64_t file_size, int64_t *announced, int64_t *present)
{
	unsigned char h[16];
	int64_t off = 12, ds64_data = -1;
	bool be, rf64;

	if (pread(fd, h, 12, 0) != 12 || memcmp(h + 8, "WAVE", 4))
		return 0;
	be = !memcmp(h, "RIFX", 4);
	rf64 = !memcmp(h, "RF64", 4) || !memcmp(h, "BW64", 4);
	if (!be && !rf64 && memcmp(h, "RIFF", 4))
		return 0;
	for (int i = 0; i < 256 && off + 8 <= file_size; i++) {
		uint32_t size;
		int64_t len;

		if (pread(fd, h, 8, off) != 8)
			return 0;
		size = read_u32(h + 4, be);
		if (!memcmp(h, "ds64", 4) && size >= 16 && pread(fd, h + 8, 8, off + 16) == 8)
			ds64_data = (int64_t)read_u32(h + 12, false) << 32 | read_u32(h + 8, false);
		if (!memcmp(h, "data", 4)) {
			len = size;
			if (rf64 && size == 0xffffffffu)
				len = ds64_data;
			else if (!rf64 && (size == 0 || size == 0xffffffffu))
				return 0;
			if (len < 0 || off + 8 + len <= file_size)
				return 0;
			*announced = len;
			*present = file_size - off - 8;
			return 1;
		}
		off += 8 + (int64_t)size + (size & 1);
	}
	return 0;
}

/* Control or reader thread. Returns 0, or < 0 with err filled; recognised
 * tells whether libsndfile knew the format (else libavformat may try). Note:
 * a failed sf_open's text comes from libsndfile's one global error slot, so
 * two threads failing at the same moment may swap messages. */
static int source_sf_open(struct media *m, int fd, int64_t file_size, bool *recognised,
			  char *err, size_t errlen)
{
	SF_INFO si = { 0 };
	int64_t announced, present;

	*recognised = false;
	m->sf = sf_open_fd(fd, SFM_READ, &si, SF_FALSE);
	if (!m->sf)
		return fail(err, errlen, -EINVAL, "%s", sf_strerror(NULL));
	*recognised = true;
	m->fd = fd;
	if (si.channels < 1 || si.samplerate < 1)
		return fail(err, errlen, -ENODATA, "no audio channels");
	if ((si.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_WAV ||
	    (si.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_WAVEX ||
	    (si.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_RF64) {
		if (wav_cut_short(fd, file_size, &announced, &present))
			return fail(err, errlen, -EBADMSG,
				    "truncated file: the data chunk announces %lld bytes, %lld are there",
				    (long long)announced, (long long)present);
	}
	m->backend = BACKEND_SNDFILE;
	m->sf_channels = (uint32_t)si.channels;
	m->raw = malloc(sizeof(float) * CHUNK_FRAMES * m->sf_channels);
	if (!m->raw)
		return fail(err, errlen, -ENOMEM, "out of memory");
	snprintf(m->info.format, sizeof(m->info.format), "%s", sf_format_name(si.format));
	m->info.source_rate = (uint32_t)si.samplerate;
	m->src_frames = si.frames >= 0 && si.frames != SF_COUNT_MAX ? si.frames : -1;
	/* mpg123 counts exactly when the file has a LAME/Xing header, else estimates */
	m->info.frames_exact = m->src_frames >= 0 &&
			       (si.format & SF_FORMAT_TYPEMASK) != SF_FORMAT_MPEG;
	fill_tracks_by_pairs(m, m->sf_channels, -1);
	return 0;
}

static long source_sf_read(struct media *m, float *stereo, uint32_t frames)
{
	sf_count_t n;

	if (m->sf_channels == 2 && m->sel.ch_l == 0 && m->sel.ch_r == 1) {
		n = sf_readf_float(m->sf, stereo, frames);
	} else {
		if (frames > CHUNK_FRAMES)
			frames = CHUNK_FRAMES;
		n = sf_readf_float(m->sf, m->raw, frames);
		for (sf_count_t i = 0; i < n; i++) {
			stereo[2 * i] = m->raw[i * m->sf_channels + m->sel.ch_l];
			stereo[2 * i + 1] = m->raw[i * m->sf_channels + m->sel.ch_r];
		}
	}
	if (n == 0 && sf_error(m->sf) != SF_ERR_NO_ERROR)
		return set_error(m, -EIO, "cannot decode %s: %s", m->path, sf_strerror(m->sf));
	return (long)n;
}

static int source_sf_seek(struct media *m, int64_t frame)
{
	if (sf_seek(m->sf, frame, SEEK_SET) < 0) {
		if (m->src_frames >= 0 && frame >= m->src_frames)
			return -ERANGE;
		return set_error(m, -EIO, "cannot seek %s: %s", m->path, sf_strerror(m->sf));
	}
	return 0;
}

/* ---- libavformat/libavcodec source ---- */

static bool wants_av(const char *path)
{
	static const char *const exts[] = { "mp4", "m4a", "m4b", "mov", "3gp", "aac", "mkv",
					     "mka", "webm", "ts", "mts", "m2ts" };
	const char *dot = strrchr(path, '.');

	if (!dot || strchr(dot, '/'))
		return false;
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		if (!strcasecmp(dot + 1, exts[i]))
			return true;
	}
	return false;
}

static const char *av_text(int averr, char *buf, size_t len)
{
	if (av_strerror(averr, buf, len) < 0)
		snprintf(buf, len, "libav error %d", averr);
	return buf;
}

static bool av_fmt_supported(int fmt)
{
	switch (av_get_packed_sample_fmt(fmt)) {
	case AV_SAMPLE_FMT_U8:
	case AV_SAMPLE_FMT_S16:
	case AV_SAMPLE_FMT_S32:
	case AV_SAMPLE_FMT_S64:
	case AV_SAMPLE_FMT_FLT:
	case AV_SAMPLE_FMT_DBL:
		return true;
	default:
		return false;
	}
}

/* One sample of a decoded frame, scaled like libsndfile (int / 2^(bits-1)). */
static float av_sample(const AVFrame *f, int nch, uint32_t ch, int i)
{
	bool planar = av_sample_fmt_is_planar(f->format);
	const uint8_t *p = f->extended_data[planar ? ch : 0];
	size_t k = planar ? (size_t)i : (size_t)i * (size_t)nch + ch;

	switch (av_get_packed_sample_fmt(f->format)) {
	case AV_SAMPLE_FMT_U8:
		return ((int)p[k] - 128) / 128.0f;
	case AV_SAMPLE_FMT_S16:
		return ((const int16_t *)p)[k] / 32768.0f;
	case AV_SAMPLE_FMT_S32:
		return (float)(((const int32_t *)p)[k] / 2147483648.0);
	case AV_SAMPLE_FMT_S64:
		return (float)(((const int64_t *)p)[k] / 9223372036854775808.0);
	case AV_SAMPLE_FMT_FLT:
		return ((const float *)p)[k];
	case AV_SAMPLE_FMT_DBL:
		return (float)((const double *)p)[k];
	default:
		return 0.0f;
	}
}

static void av_container_name(const AVFormatContext *fmt, char *buf, size_t len)
{
	const char *name = fmt->iformat->name;
	size_t n = strcspn(name, ",");

	if (strstr(name, "mp4"))
		snprintf(buf, len, "mp4");
	else
		snprintf(buf, len, "%.*s", (int)n, name);
}

static int source_av_tracks(struct media *m, char *err, size_t errlen)
{
	int audio[MEDIA_MAX_TRACKS];
	uint32_t n = 0;

	for (unsigned i = 0; i < m->fmt->nb_streams && n < MEDIA_MAX_TRACKS; i++) {
		if (m->fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
			audio[n++] = (int)i;
	}
	if (n == 0)
		return fail(err, errlen, -ENODATA, "no audio stream");
	if (n == 1) {
		int ch = m->fmt->streams[audio[0]]->codecpar->ch_layout.nb_channels;

		fill_tracks_by_pairs(m, ch > 0 ? (uint32_t)ch : 1, audio[0]);
		return 0;
	}
	for (uint32_t k = 0; k < n; k++) {
		int ch = m->fmt->streams[audio[k]]->codecpar->ch_layout.nb_channels;

		m->tracks[k].stream = audio[k];
		m->tracks[k].ch_l = 0;
		m->tracks[k].ch_r = ch >= 2 ? 1 : 0;
	}
	m->info.tracks = n;
	return 0;
}

/* Control or reader thread: opens the container and lists its tracks. */
static int source_av_open(struct media *m, char *err, size_t errlen)
{
	char buf[AV_ERROR_MAX_STRING_SIZE];
	int r;

	r = avformat_open_input(&m->fmt, m->path, NULL, NULL);
	if (r < 0)
		return fail(err, errlen, -EINVAL, "%s", av_text(r, buf, sizeof(buf)));
	r = avformat_find_stream_info(m->fmt, NULL);
	if (r < 0)
		return fail(err, errlen, -EINVAL, "%s", av_text(r, buf, sizeof(buf)));
	m->backend = BACKEND_AV;
	return source_av_tracks(m, err, errlen);
}

/* Control or reader thread: opens the decoder of the selected track. */
static int source_av_select(struct media *m, char *err, size_t errlen)
{
	char buf[AV_ERROR_MAX_STRING_SIZE], cont[16];
	AVStream *st = m->fmt->streams[m->sel.stream];
	const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
	int64_t duration = AV_NOPTS_VALUE;
	int r;

	if (!codec && st->codecpar->codec_id == AV_CODEC_ID_NONE)
		return fail(err, errlen, -ENOTSUP, "unknown audio codec (tag 0x%04x)",
			    st->codecpar->codec_tag);
	if (!codec)
		return fail(err, errlen, -ENOTSUP, "no decoder for the %s codec",
			    avcodec_get_name(st->codecpar->codec_id));
	for (unsigned i = 0; i < m->fmt->nb_streams; i++) {
		if ((int)i != m->sel.stream)
			m->fmt->streams[i]->discard = AVDISCARD_ALL;
	}
	m->dec = avcodec_alloc_context3(codec);
	m->pkt = av_packet_alloc();
	m->frame = av_frame_alloc();
	if (!m->dec || !m->pkt || !m->frame)
		return fail(err, errlen, -ENOMEM, "out of memory");
	r = avcodec_parameters_to_context(m->dec, st->codecpar);
	if (r >= 0) {
		m->dec->pkt_timebase = st->time_base;
		r = avcodec_open2(m->dec, codec, NULL);
	}
	if (r < 0)
		return fail(err, errlen, r == AVERROR(ENOMEM) ? -ENOMEM : -ENOTSUP,
			    "cannot open the %s decoder: %s", codec->name,
			    av_text(r, buf, sizeof(buf)));
	if (m->dec->sample_rate <= 0)
		return fail(err, errlen, -ENODATA, "the %s stream has no sample rate", codec->name);
	if (m->dec->sample_fmt != AV_SAMPLE_FMT_NONE && !av_fmt_supported(m->dec->sample_fmt))
		return fail(err, errlen, -ENOTSUP, "unsupported sample format %s",
			    av_get_sample_fmt_name(m->dec->sample_fmt));
	m->info.source_rate = (uint32_t)m->dec->sample_rate;
	av_container_name(m->fmt, cont, sizeof(cont));
	snprintf(m->info.format, sizeof(m->info.format), "%s (%s)",
		 avcodec_get_name(st->codecpar->codec_id), cont);
	for (char *p = m->info.format; *p && *p != ' '; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
	m->origin = st->start_time != AV_NOPTS_VALUE && st->start_time > 0 ? st->start_time : 0;
	if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
		duration = av_rescale_q(st->duration, st->time_base,
					(AVRational){ 1, m->dec->sample_rate });
	else if (m->fmt->duration != AV_NOPTS_VALUE && m->fmt->duration > 0)
		duration = av_rescale_q(m->fmt->duration, AV_TIME_BASE_Q,
					(AVRational){ 1, m->dec->sample_rate });
	m->src_frames = duration == AV_NOPTS_VALUE ? -1 : duration;
	/* MP4 states the exact length (edit list): the encoder's end padding,
	 * which libavcodec does not drop, is cut there (gapless, as iTunes) */
	m->info.frames_exact = strstr(m->fmt->iformat->name, "mp4") && st->duration > 0 &&
			       st->duration != AV_NOPTS_VALUE;
	m->limit = m->info.frames_exact ? m->src_frames : -1;
	m->next_pos = 0;
	return 0;
}

/* Decodes the next frame of the selected stream: 1 got one, 0 end, < 0 error. */
static int av_next_frame(struct media *m)
{
	char buf[AV_ERROR_MAX_STRING_SIZE];
	int nch, r;

	for (;;) {
		r = avcodec_receive_frame(m->dec, m->frame);
		if (r == 0)
			break;
		if (r == AVERROR_EOF)
			return 0;
		if (r != AVERROR(EAGAIN))
			return set_error(m, -EIO, "cannot decode %s: %s", m->path,
					  av_text(r, buf, sizeof(buf)));
		if (m->draining)
			return 0;
		r = av_read_frame(m->fmt, m->pkt);
		if (r < 0) {
			if (r != AVERROR_EOF && !(m->fmt->pb && avio_feof(m->fmt->pb)))
				return set_error(m, -EIO, "cannot read %s: %s", m->path,
						  av_text(r, buf, sizeof(buf)));
			m->draining = true;
			avcodec_send_packet(m->dec, NULL);
			continue;
		}
		if (m->pkt->stream_index == m->sel.stream) {
			r = avcodec_send_packet(m->dec, m->pkt);
			/* a damaged packet is skipped, as players do */
			if (r < 0 && r != AVERROR(EAGAIN) && r != AVERROR_INVALIDDATA) {
				av_packet_unref(m->pkt);
				return set_error(m, -EIO, "cannot decode %s: %s", m->path,
						  av_text(r, buf, sizeof(buf)));
			}
		}
		av_packet_unref(m->pkt);
	}
	nch = m->frame->ch_layout.nb_channels;
	if (m->frame->sample_rate != (int)m->info.source_rate)
		return set_error(m, -EIO, "cannot decode %s: sample rate changes from %u to %d Hz",
				  m->path, m->info.source_rate, m->frame->sample_rate);
	if (!av_fmt_supported(m->frame->format))
		return set_error(m, -ENOTSUP, "cannot decode %s: unsupported sample format %s",
				  m->path, av_get_sample_fmt_name(m->frame->format));
	if (nch <= (int)m->sel.ch_l || nch <= (int)m->sel.ch_r)
		return set_error(m, -EIO, "cannot decode %s: frame has %d channels", m->path, nch);
	m->frame_pos = m->next_pos;
	if (m->frame_pos < 0) {
		int64_t ts = m->frame->pts != AV_NOPTS_VALUE ? m->frame->pts
							     : m->frame->best_effort_timestamp;

		m->frame_pos = ts == AV_NOPTS_VALUE ? -1
			: av_rescale_q(ts - m->origin, m->fmt->streams[m->sel.stream]->time_base,
				       (AVRational){ 1, (int)m->info.source_rate });
	}
	m->next_pos = m->frame_pos < 0 ? -1 : m->frame_pos + m->frame->nb_samples;
	m->frame_off = 0;
	m->frame_ready = true;
	return 1;
}

static long source_av_read(struct media *m, float *stereo, uint32_t frames)
{
	uint32_t done = 0;

	while (done < frames) {
		int r, n, nch;

		if (!m->frame_ready || m->frame_off >= m->frame->nb_samples) {
			m->frame_ready = false;
			r = av_next_frame(m);
			if (r < 0)
				return r;
			if (r == 0)
				break;
			continue;
		}
		nch = m->frame->ch_layout.nb_channels;
		n = m->frame->nb_samples - m->frame_off;
		if ((uint32_t)n > frames - done)
			n = (int)(frames - done);
		if (m->limit >= 0 && m->src_pos + done + n > m->limit)
			n = (int)(m->limit - m->src_pos - done);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			stereo[2 * (done + i)] = av_sample(m->frame, nch, m->sel.ch_l, m->frame_off + i);
			stereo[2 * (done + i) + 1] =
				av_sample(m->frame, nch, m->sel.ch_r, m->frame_off + i);
		}
		m->frame_off += n;
		done += (uint32_t)n;
	}
	return (long)done;
}

/* Positions the decoder at or before frame - pre-roll (the start of the
 * stream when from_start), dropping any frame in hand. */
static int av_reposition(struct media *m, int64_t frame, bool from_start)
{
	char buf[AV_ERROR_MAX_STRING_SIZE];
	AVStream *st = m->fmt->streams[m->sel.stream];
	int64_t at = frame - (int64_t)m->info.source_rate * AV_PREROLL_MS / 1000;
	int64_t ts;
	int r;

	if (from_start || at < 0)
		at = 0;
	ts = m->origin + av_rescale_q(at, (AVRational){ 1, (int)m->info.source_rate }, st->time_base);
	r = av_seek_frame(m->fmt, m->sel.stream, ts, AVSEEK_FLAG_BACKWARD);
	if (r < 0 && at > 0)
		return av_reposition(m, frame, true);
	if (r < 0)
		return set_error(m, -EIO, "cannot seek %s: %s", m->path, av_text(r, buf, sizeof(buf)));
	avcodec_flush_buffers(m->dec);
	m->draining = false;
	m->frame_ready = false;
	/* from the very start the first frame is frame 0 even without timestamps */
	m->next_pos = at == 0 && from_start ? 0 : -1;
	return 0;
}

/* Decodes and drops up to frame; -ERANGE when the stream ends first. A
 * decoder that lands after the target (or gives no timestamps) is restarted
 * from the beginning of the stream, which is exact but slower. */
static int source_av_seek(struct media *m, int64_t frame)
{
	bool from_start = frame == 0;
	int r;

	if (m->limit >= 0 && frame >= m->limit)
		return -ERANGE;
	r = av_reposition(m, frame, from_start);

	while (r == 0) {
		r = av_next_frame(m);
		if (r < 0)
			return r;
		if (r == 0) {	/* ended first: now the length is known */
			if (m->next_pos >= 0) {
				m->src_pos = m->next_pos;
				source_ended(m);
			}
			return -ERANGE;
		}
		if (m->frame_pos < 0 || m->frame_pos > frame) {
			if (from_start) {	/* no usable timestamps: count from here */
				m->frame_pos = frame;
				m->next_pos = frame + m->frame->nb_samples;
			} else {
				from_start = true;
				r = av_reposition(m, frame, true);
				continue;
			}
		}
		if (m->frame_pos + m->frame->nb_samples > frame) {
			m->frame_off = (int)(frame - m->frame_pos);
			return 0;
		}
		r = 0;
	}
	return r;
}

/* ---- source dispatch ---- */

static long source_read(struct media *m, float *stereo, uint32_t frames)
{
	long n = m->backend == BACKEND_SNDFILE ? source_sf_read(m, stereo, frames)
					       : source_av_read(m, stereo, frames);

	if (n > 0)
		m->src_pos += n;
	return n;
}

static int source_seek(struct media *m, int64_t frame)
{
	int r = m->backend == BACKEND_SNDFILE ? source_sf_seek(m, frame) : source_av_seek(m, frame);

	if (r < 0)
		return r;
	m->src_pos = frame;
	m->src_eof = false;
	return 0;
}

/* ---- open and close ---- */

static int select_track(struct media *m, uint32_t track, char *err, size_t errlen)
{
	if (track >= m->info.tracks)
		return fail(err, errlen, -ERANGE, "audio track %u out of range: the file has %u",
			    track, m->info.tracks);
	m->info.track = track;
	m->sel = m->tracks[track];
	m->info.source_channels = m->sel.ch_l == m->sel.ch_r ? 1 : 2;
	return m->backend == BACKEND_AV ? source_av_select(m, err, errlen) : 0;
}

static int pipeline_init(struct media *m, char *err, size_t errlen)
{
	soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
	soxr_quality_spec_t quality = soxr_quality_spec(MEDIA_RESAMPLE_QUALITY, 0);
	soxr_runtime_spec_t runtime = soxr_runtime_spec(1);
	soxr_error_t e = NULL;
	uint32_t g;

	if (m->info.source_rate > MAX_RATE || m->info.engine_rate > MAX_RATE)
		return fail(err, errlen, -ENOTSUP, "unsupported sample rate %u Hz",
			    m->info.source_rate > MAX_RATE ? m->info.source_rate
							   : m->info.engine_rate);
	if (!m->info.engine_rate)
		m->info.engine_rate = m->info.source_rate;
	m->info.frames = rescale_frames(m->src_frames, m->info.source_rate, m->info.engine_rate);
	m->info.duration_ms = m->info.frames < 0 ? -1.0
					 : m->info.frames * 1000.0 / m->info.engine_rate;
	if (m->info.source_rate == m->info.engine_rate)
		return 0;
	m->rs = soxr_create(m->info.source_rate, m->info.engine_rate, 2, &e, &io, &quality,
			    &runtime);
	if (!m->rs)
		return fail(err, errlen, -ENOMEM, "cannot create the resampler (%u to %u Hz): %s",
			    m->info.source_rate, m->info.engine_rate, e ? e : "soxr_create failed");
	g = gcd_u32(m->info.source_rate, m->info.engine_rate);
	m->grid_in = m->info.source_rate / g;
	m->grid_out = m->info.engine_rate / g;
	m->preroll = MEDIA_RESAMPLE_PREROLL;
	m->in = malloc(sizeof(float) * 2 * CHUNK_FRAMES);
	m->scratch = malloc(sizeof(float) * 2 * CHUNK_FRAMES);
	if (!m->in || !m->scratch)
		return fail(err, errlen, -ENOMEM, "out of memory");
	return 0;
}

/* Opens fd with libsndfile, else path with libavformat, and selects track;
 * err gets the reason without the path. */
static int source_open(struct media *m, int fd, int64_t file_size, uint32_t track, char *err,
		       size_t errlen)
{
	char sferr[ERR_MAX] = "", averr[ERR_MAX];
	bool by_ext = wants_av(m->path), recognised = false;
	int r;

	if (!by_ext) {
		r = source_sf_open(m, fd, file_size, &recognised, sferr, sizeof(sferr));
		if (r == 0)
			return select_track(m, track, err, errlen);
		if (recognised)
			return fail(err, errlen, r, "%s", sferr);
	}
	close(fd);
	r = source_av_open(m, averr, sizeof(averr));
	if (r == 0)
		r = select_track(m, track, averr, sizeof(averr));
	if (r == 0)
		return 0;
	if (r == -ERANGE || by_ext) {
		fail(err, errlen, r, "%s", averr);
		return r == -EINVAL && file_size == 0 ? -ENODATA : r;
	}
	/* neither library could: libsndfile's words first */
	fail(err, errlen, r, "%s (libavformat: %s)", sferr, averr);
	if (r == -ENOTSUP || r == -ENOMEM)
		return r;
	return file_size == 0 ? -ENODATA : -EINVAL;
}

int media_open(const char *path, uint32_t engine_rate, uint32_t track, struct media **out,
	       char *err, size_t errlen)
{
	char why[2 * ERR_MAX];
	struct media *m;
	struct stat st;
	int fd, r;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m || !(m->path = strdup(path))) {
		free(m);
		return fail(err, errlen, -ENOMEM, "cannot open %s: out of memory", path);
	}
	m->fd = -1;
	m->limit = -1;
	m->info.engine_rate = engine_rate;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = fail(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
		goto out_free_media;
	}
	if (fstat(fd, &st) < 0) {
		r = fail(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
		goto out_close_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		fail(err, errlen, r, "cannot open %s: %s", path,
		     S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
		goto out_close_fd;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	/* from here the fd belongs to the source (closed by it or by media_close) */
	r = source_open(m, fd, (int64_t)st.st_size, track, why, sizeof(why));
	if (r == 0)
		r = pipeline_init(m, why, sizeof(why));
	if (r < 0) {
		fail(err, errlen, r, "cannot open %s: %s", path, why);
		goto out_free_media;
	}
	*out = m;
	return 0;

out_close_fd:
	close(fd);
out_free_media:
	media_close(m);
	return r;
}

void media_close(struct media *m)
{
	if (!m)
		return;
	if (m->sf)
		sf_close(m->sf);
	if (m->fd >= 0)
		close(m->fd);
	av_frame_free(&m->frame);
	av_packet_free(&m->pkt);
	avcodec_free_context(&m->dec);
	avformat_close_input(&m->fmt);
	soxr_delete(m->rs);
	free(m->in);
	free(m->scratch);
	free(m->raw);
	free(m->path);
	free(m);
}

/* ---- reading ---- */

/* After the end: drain what the resampler holds, then pad with silence, up
 * to round(source frames * ratio), the exact resampled length. */
static uint32_t resample_flush(struct media *m, int64_t pos, float *out, uint32_t frames)
{
	int64_t target = rescale_frames(m->src_pos, m->info.source_rate, m->info.engine_rate);
	size_t odone = 0;

	if (pos >= target)
		return 0;
	if (target - pos < frames)
		frames = (uint32_t)(target - pos);
	if (!m->drained) {
		soxr_process(m->rs, NULL, 0, NULL, out, frames, &odone);
		m->drained = odone == 0;
	}
	if (odone == 0) {
		memset(out, 0, sizeof(float) * 2 * frames);
		odone = frames;
	}
	return (uint32_t)odone;
}

static long resample_read(struct media *m, float *out, uint32_t frames)
{
	uint32_t done = 0;

	while (done < frames) {
		size_t inl, outl;

		if (m->in_off == m->in_len && !m->src_eof) {
			long n = source_read(m, m->in, CHUNK_FRAMES);

			if (n < 0)
				return n;
			m->in_len = (uint32_t)n;
			m->in_off = 0;
			if (n == 0)
				source_ended(m);
			continue;
		}
		if (m->src_eof) {
			outl = resample_flush(m, m->out_pos + done, out + 2 * done, frames - done);
			if (!outl)
				break;
			done += outl;
			continue;
		}
		soxr_process(m->rs, m->in + 2 * m->in_off, m->in_len - m->in_off, &inl,
			     out + 2 * done, frames - done, &outl);
		m->in_off += (uint32_t)inl;
		done += (uint32_t)outl;
	}
	return (long)done;
}

long media_read(struct media *m, float *stereo_interleaved, uint32_t frames)
{
	long n;

	if (m->err_code)
		return m->err_code;
	if (!frames)
		return 0;
	if (m->rs) {
		n = resample_read(m, stereo_interleaved, frames);
	} else {
		n = 0;
		while ((uint32_t)n < frames && !m->src_eof) {
			long r = source_read(m, stereo_interleaved + 2 * n, frames - (uint32_t)n);

			if (r < 0) {
				n = r;
				break;
			}
			if (r == 0)
				source_ended(m);
			n += r;
		}
	}
	if (n > 0)
		m->out_pos += n;
	return n;
}

/* Drops engine-rate frames up to target after a restart at an earlier point. */
static int skip_to(struct media *m, int64_t target)
{
	while (m->out_pos < target) {
		int64_t want = target - m->out_pos;
		long n = media_read(m, m->scratch, want < CHUNK_FRAMES ? (uint32_t)want : CHUNK_FRAMES);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ERANGE;
	}
	return 0;
}

/* Leaves the reason for -ERANGE in media_error() (reads go on). */
static void seek_range_text(struct media *m, int64_t engine_frame)
{
	if (m->info.frames >= 0)
		snprintf(m->err, sizeof(m->err), "cannot seek %s to frame %lld: the file has %lld",
			 m->path, (long long)engine_frame, (long long)m->info.frames);
	else
		snprintf(m->err, sizeof(m->err), "cannot seek %s to frame %lld: past the end",
			 m->path, (long long)engine_frame);
}

int media_seek(struct media *m, int64_t engine_frame)
{
	int64_t s_target, s0;
	int r;

	if (engine_frame < 0 || engine_frame > INT64_MAX / MAX_RATE ||
	    (m->info.frames_exact && engine_frame >= m->info.frames))
		goto out_range;
	m->err_code = 0;
	m->err[0] = '\0';
	if (!m->rs) {
		r = source_seek(m, engine_frame);
		if (r == 0)
			m->out_pos = engine_frame;
	} else {
		/* restart where both sample grids meet, a filter length before the target */
		s_target = engine_frame * m->info.source_rate / m->info.engine_rate;
		s0 = s_target - m->preroll;
		if (s0 < 0)
			s0 = 0;
		s0 -= s0 % m->grid_in;
		r = source_seek(m, s0);
		if (r == 0) {
			soxr_clear(m->rs);
			m->in_len = m->in_off = 0;
			m->drained = false;
			m->out_pos = s0 / m->grid_in * m->grid_out;
			r = skip_to(m, engine_frame);
		}
	}
	if (r != -ERANGE)
		return r;
	if (m->src_eof)		/* ran into the end: stay there */
		m->out_pos = m->info.frames;
out_range:
	seek_range_text(m, engine_frame);
	return -ERANGE;
}

int64_t media_tell(const struct media *m)
{
	return m->out_pos;
}

void media_get_info(const struct media *m, struct media_info *info)
{
	*info = m->info;
}

const char *media_error(const struct media *m)
{
	return m->err;
}

int media_probe(const char *path, uint32_t engine_rate, uint32_t track, struct media_info *info,
		char *err, size_t errlen)
{
	struct media *m;
	int r = media_open(path, engine_rate, track, &m, err, errlen);

	if (r < 0)
		return r;
	media_get_info(m, info);
	media_close(m);
	return 0;
}

/* ---- whole-file helpers ---- */

static int too_long(int64_t frames, int64_t max_frames, uint32_t rate, char *err, size_t errlen)
{
	double is = (double)frames / rate, most = (double)max_frames / rate;
	char a[32], b[32];

	if (frames < 0)
		return fail(err, errlen, -EFBIG, "clip is longer than %.1f s; preload takes at most %.1f s",
			    most, most);
	snprintf(a, sizeof(a), "%.1f", is);
	snprintf(b, sizeof(b), "%.1f", most);
	if (!strcmp(a, b)) {
		snprintf(a, sizeof(a), "%.3f", is);
		snprintf(b, sizeof(b), "%.3f", most);
	}
	return fail(err, errlen, -EFBIG, "clip is %s s long; preload takes at most %s s", a, b);
}

/* Initial buffer size: the announced length (trusted up to 2^22 frames), at
 * most the limit + 1. */
static int64_t first_capacity(const struct media_info *info, int64_t max_frames)
{
	int64_t cap = info->frames > 0 ? info->frames + 1 : (int64_t)info->engine_rate;

	if (cap > (1 << 22))
		cap = 1 << 22;
	if (max_frames >= 0 && cap > max_frames + 1)
		cap = max_frames + 1;
	return cap > 0 ? cap : 1;
}

int media_decode_all(const char *path, uint32_t engine_rate, uint32_t track, int64_t max_frames,
		     float **pcm, int64_t *frames, struct media_info *info, char *err,
		     size_t errlen)
{
	struct media *m;
	float *buf, *grown;
	int64_t n = 0, cap;
	int r;

	*pcm = NULL;
	*frames = 0;
	r = media_open(path, engine_rate, track, &m, err, errlen);
	if (r < 0)
		return r;
	if (max_frames >= 0 && m->info.frames_exact && m->info.frames > max_frames) {
		r = too_long(m->info.frames, max_frames, m->info.engine_rate, err, errlen);
		goto out_close_media;
	}
	cap = first_capacity(&m->info, max_frames);
	buf = malloc(sizeof(float) * 2 * (size_t)cap);
	if (!buf) {
		r = fail(err, errlen, -ENOMEM, "cannot decode %s: out of memory", path);
		goto out_close_media;
	}
	for (;;) {
		long got;

		if (n == cap) {
			if (max_frames >= 0 && n > max_frames) {
				r = too_long(m->info.frames > n ? m->info.frames : -1, max_frames,
					     m->info.engine_rate, err, errlen);
				goto out_free_buf;
			}
			cap *= 2;
			if (max_frames >= 0 && cap > max_frames + 1)
				cap = max_frames + 1;
			grown = realloc(buf, sizeof(float) * 2 * (size_t)cap);
			if (!grown) {
				r = fail(err, errlen, -ENOMEM, "cannot decode %s: out of memory",
					 path);
				goto out_free_buf;
			}
			buf = grown;
		}
		got = media_read(m, buf + 2 * n, cap - n > 65536 ? 65536 : (uint32_t)(cap - n));
		if (got < 0) {
			r = fail(err, errlen, (int)got, "%s", media_error(m));
			goto out_free_buf;
		}
		if (got == 0)
			break;
		n += got;
	}
	if (n == 0) {
		r = fail(err, errlen, -ENODATA, "cannot decode %s: no audio samples", path);
		goto out_free_buf;
	}
	if (info)
		media_get_info(m, info);
	*pcm = buf;
	*frames = n;
	media_close(m);
	return 0;

out_free_buf:
	free(buf);
out_close_media:
	media_close(m);
	return r;
}

int media_loudness(const char *path, uint32_t track, double *lufs, char *err, size_t errlen)
{
	float buf[2 * CHUNK_FRAMES];
	ebur128_state *st;
	struct media *m;
	long n;
	int r;

	r = media_open(path, 0, track, &m, err, errlen);
	if (r < 0)
		return r;
	st = ebur128_init(m->info.source_channels, m->info.source_rate, EBUR128_MODE_I);
	if (!st) {
		r = fail(err, errlen, -ENOMEM, "cannot measure %s: libebur128 init failed", path);
		goto out_close_media;
	}
	while ((n = media_read(m, buf, CHUNK_FRAMES)) > 0) {
		if (m->info.source_channels == 1) {
			for (long i = 0; i < n; i++)
				buf[i] = buf[2 * i];
		}
		if (ebur128_add_frames_float(st, buf, (size_t)n) != EBUR128_SUCCESS) {
			r = fail(err, errlen, -ENOMEM, "cannot measure %s: libebur128 failed", path);
			goto out_free_state;
		}
	}
	if (n < 0) {
		r = fail(err, errlen, (int)n, "%s", media_error(m));
		goto out_free_state;
	}
	if (ebur128_loudness_global(st, lufs) != EBUR128_SUCCESS)
		r = fail(err, errlen, -EIO, "cannot measure %s: libebur128 failed", path);

out_free_state:
	ebur128_destroy(&st);
out_close_media:
	media_close(m);
	return r;
}
