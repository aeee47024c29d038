/* push.c - push tasks: the publish bus to RTMP (AAC in FLV) or Icecast (Opus
 * in Ogg) through libavformat, libavcodec and libswresample.
 *
 * DESIGN
 * Each task owns a tap on the publish bus, opened when the task starts and
 * kept until it stops, and one thread. The thread connects (encoder,
 * resampler, muxer, connection), then reads the tap, resamples to the
 * task's rate and channels, encodes and sends, packet by packet. The RT side
 * never waits for it: when the thread falls behind the tap drops whole
 * cycles and counts them, and the thread fills short gaps with silence so
 * the stream's timeline does not shift.
 *
 * Both kinds go through the same libavformat path ("flv" to rtmp://, "ogg"
 * to icecast://), so reconnection, timeouts and errors are handled once.
 * Every blocking libavformat call runs under a deadline checked by the
 * interrupt callback (which also ends it at once when the task stops): a
 * connection attempt or a single send that takes longer than timeout_ms
 * fails. A failed attempt or a dropped stream waits a backoff that doubles
 * from backoff_min_ms to backoff_max_ms with ±20 % jitter, draining the tap
 * meanwhile (the outage is a gap, never a burst), and tries again, until the
 * task is stopped.
 *
 * Events: START, START_SUCCESS (each connection), START_FAILED (first
 * failure of each kind per outage; ERR_FRAME_TIMEOUT when the server cannot
 * be reached, ERR_PUSH_CDN when it refuses or drops the stream,
 * ERR_POSTPROCESS when encoding fails), UPDATE*, STOP*.
 *
 * Threads: the manager's functions on any non-RT thread, serialised by
 * p->lock; each task's fields marked "thread" on its own thread only; the
 * status fields under t->lock.
 */
#include "recorder/push.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

#include "engine/engine.h"
#include "engine/errors.h"

#define CHUNK_FRAMES 1024	/* tap frames per read */
#define CONV_MAX 4096		/* resampler output per chunk, frames */
#define GAP_FILL_MAX_S 1	/* longer gaps are skipped, not filled */
#define NAP_MS 10

struct task {
	struct push *p;
	char id[PUSH_TASK_ID_MAX + 1];
	pthread_t thread;
	struct tap *tap;
	uint32_t in_rate;
	atomic_bool stop;
	_Atomic int64_t deadline_us;	/* 0 = none */

	pthread_mutex_t lock;		/* the fields below, and the naps */
	pthread_cond_t wake;
	struct push_params prm;
	enum push_state state;
	int last_error;
	char last_message[PUSH_TEXT_MAX * 2];
	uint64_t connects;
	uint64_t bytes_sent;
	uint64_t frames_encoded;
	int64_t connected_us;

	/* thread */
	struct push_params run;		/* the settings of this connection */
	AVFormatContext *oc;
	AVCodecContext *enc;
	SwrContext *swr;
	AVAudioFifo *fifo;
	AVFrame *frame;
	AVPacket *pkt;
	uint8_t **conv;
	int64_t next_pts;
	uint64_t bytes_before;
	uint64_t frames_before;
	unsigned seed;			/* jitter */
	int reported;			/* failure already reported in this outage */
	float buf[CHUNK_FRAMES * 2];
	float zeros[CHUNK_FRAMES * 2];

	struct task *next;
};

struct push {
	struct engine *e;
	struct push_config cfg;
	pthread_mutex_t lock;
	struct task *tasks;
	uint32_t n;
};

static const char *const event_names[] = {
	[PUSH_EVENT_START] = "START",
	[PUSH_EVENT_START_SUCCESS] = "START_SUCCESS",
	[PUSH_EVENT_START_FAILED] = "START_FAILED",
	[PUSH_EVENT_UPDATE] = "UPDATE",
	[PUSH_EVENT_UPDATE_SUCCESS] = "UPDATE_SUCCESS",
	[PUSH_EVENT_UPDATE_FAILED] = "UPDATE_FAILED",
	[PUSH_EVENT_STOP] = "STOP",
	[PUSH_EVENT_STOP_SUCCESS] = "STOP_SUCCESS",
	[PUSH_EVENT_STOP_FAILED] = "STOP_FAILED",
};

/* Any thread. */
const char *push_event_name(int event)
{
	if (event < PUSH_EVENT_START || event > PUSH_EVENT_STOP_FAILED)
		return "UNKNOWN";
	return event_names[event];
}

/* Any thread. */
const char *push_state_name(enum push_state state)
{
	switch (state) {
	case PUSH_STATE_CONNECTING: return "connecting";
	case PUSH_STATE_PUSHING: return "pushing";
	default: return "retrying";
	}
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- events */

/* Any non-RT thread: one stream_mixing.event notice (and history row). */
static void emit(struct push *p, const char *id, int event, int code, const char *request,
		 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void emit(struct push *p, const char *id, int event, int code, const char *request,
		 const char *fmt, ...)
{
	const struct airmix_error_def *def = airmix_error_find(AIRMIX_DOMAIN_STREAM_MIXING, code);
	char msg[1024], subject[PUSH_TASK_ID_MAX + 8];
	struct engine_notice n = { 0 };
	json_t *data;
	char *text;
	va_list ap;
	int used;

	used = snprintf(msg, sizeof(msg), "%s: ", push_event_name(event));
	va_start(ap, fmt);
	vsnprintf(msg + used, sizeof(msg) - (size_t)used, fmt, ap);
	va_end(ap);
	snprintf(subject, sizeof(subject), "task %s", id);
	data = json_pack("{s:s,s:i,s:s,s:i,s:s}", "task_id", id, "event", event, "event_name",
			 push_event_name(event), "error", code, "error_name",
			 def ? def->name : "ERR_UNKNOWN");
	text = data ? json_dumps(data, JSON_COMPACT) : NULL;
	json_decref(data);
	n.event = "stream_mixing.event";
	n.domain = AIRMIX_DOMAIN_STREAM_MIXING;
	n.code = code;
	if (code == PUSH_ERR_OK)
		n.level = AIRMIX_LEVEL_STATE;
	else if (code == PUSH_ERR_FRAME_TIMEOUT || code == PUSH_ERR_PUSH_CDN)
		n.level = AIRMIX_LEVEL_WARNING;	/* retrying by itself */
	else
		n.level = AIRMIX_LEVEL_ERROR;
	n.subject = subject;
	n.message = msg;
	n.request = request ? request : "";
	n.data_json = text;
	engine_notify(p->e, &n);
	free(text);
}

/* Any non-RT thread. */
void push_report(struct push *p, const char *task_id, int event, int code, const char *request,
		 const char *msg)
{
	emit(p, task_id, event, code, request, "%s", msg);
}

/* ---- parameters */

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int invalid(char *msg, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int invalid(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return PUSH_ERR_PARAM_INVALID;
}

static int check_audio(const struct push_params *prm, char *msg, size_t len)
{
	if (prm->channels < 1 || prm->channels > 2)
		return invalid(msg, len, "channels must be 1 or 2, not %d", prm->channels);
	if (prm->bitrate_kbps < 32 || prm->bitrate_kbps > 192)
		return invalid(msg, len, "bitrate_kbps must be between 32 and 192, not %d",
			       prm->bitrate_kbps);
	return PUSH_ERR_OK;
}

static int check_rtmp(struct push_params *prm, char *msg, size_t len)
{
	if (strncmp(prm->url, "rtmp://", 7) && strncmp(prm->url, "rtmps://", 8))
		return invalid(msg, len, "url must start with rtmp:// or rtmps://");
	if (strlen(prm->url) >= PUSH_URL_MAX || has_control(prm->url) || strchr(prm->url, ' '))
		return invalid(msg, len, "url must be at most %d bytes without spaces",
			       PUSH_URL_MAX - 1);
	if (prm->sample_rate != 32000 && prm->sample_rate != 44100 && prm->sample_rate != 48000)
		return invalid(msg, len, "sample_rate must be 32000, 44100 or 48000, not %d",
			       prm->sample_rate);
	if (prm->codec[0] && strcmp(prm->codec, "AAC") && strcmp(prm->codec, "aac"))
		return invalid(msg, len, "codec must be AAC for rtmp, not %s", prm->codec);
	if (!prm->profile[0])
		snprintf(prm->profile, sizeof(prm->profile), "LC");
	if (!strcmp(prm->profile, "HEv1") || !strcmp(prm->profile, "HEv2"))
		return invalid(msg, len, "audio profile %s is not supported by this build "
			       "(AAC-LC only: FFmpeg's native AAC encoder)", prm->profile);
	if (strcmp(prm->profile, "LC"))
		return invalid(msg, len, "profile must be LC, HEv1 or HEv2");
	return check_audio(prm, msg, len);
}

static int check_icecast(struct push_params *prm, char *msg, size_t len)
{
	const char *texts[] = { prm->name, prm->genre, prm->description };

	if (prm->codec[0] && strcmp(prm->codec, "opus") && strcmp(prm->codec, "Opus"))
		return invalid(msg, len, "codec must be opus for icecast, not %s", prm->codec);

	if (!prm->host[0] || strspn(prm->host, "abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != strlen(prm->host))
		return invalid(msg, len, "icecast host must be a host name or an IPv4 address");
	if (prm->port < 1 || prm->port > 65535)
		return invalid(msg, len, "icecast port must be between 1 and 65535, not %d",
			       prm->port);
	if (prm->mount[0] != '/' || prm->mount[1] == '\0' ||
	    strpbrk(prm->mount, " ?#@") || has_control(prm->mount))
		return invalid(msg, len, "icecast mount must start with / and hold no spaces");
	if (!prm->user[0])
		snprintf(prm->user, sizeof(prm->user), "source");
	if (strpbrk(prm->user, ":@/ ") || has_control(prm->user))
		return invalid(msg, len, "icecast user must not hold ':', '@', '/' or spaces");
	if (!prm->password[0] || strpbrk(prm->password, "@/ ") || has_control(prm->password))
		return invalid(msg, len, "icecast password must be given without '@', '/' or spaces");
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (has_control(texts[i]))
			return invalid(msg, len, "icecast name, genre and description must be "
				       "one line of text");
	if (prm->sample_rate && prm->sample_rate != 48000)
		return invalid(msg, len, "icecast pushes Opus at 48000 Hz, not %d",
			       prm->sample_rate);
	prm->sample_rate = 48000;
	prm->profile[0] = '\0';
	return check_audio(prm, msg, len);
}

/* Any thread. */
int push_check_params(struct push_params *prm, char *msg, size_t len)
{
	if (prm->kind == PUSH_RTMP)
		return check_rtmp(prm, msg, len);
	return check_icecast(prm, msg, len);
}

/* Task ids: at most 126 bytes of UTF-8 text. */
static int check_id(const char *id, char *msg, size_t len)
{
	json_t *s;

	if (strlen(id) > PUSH_TASK_ID_MAX)
		return invalid(msg, len, "task id must be at most %d bytes", PUSH_TASK_ID_MAX);
	s = json_string(id);
	if (!s || has_control(id)) {
		json_decref(s);
		return invalid(msg, len, "task id must be utf-8 text");
	}
	json_decref(s);
	return PUSH_ERR_OK;
}

/* ---- the task's session (task thread) */

static int interrupted(void *arg)
{
	struct task *t = arg;
	int64_t d = atomic_load(&t->deadline_us);

	return atomic_load(&t->stop) || (d && mono_us() > d);
}

static void arm(struct task *t)
{
	atomic_store(&t->deadline_us, mono_us() + (int64_t)t->p->cfg.timeout_ms * 1000);
}

static int av_fail(char *msg, size_t len, int code, const char *what, int err)
{
	char e[AV_ERROR_MAX_STRING_SIZE];

	av_strerror(err, e, sizeof(e));
	snprintf(msg, len, "%s: %s", what, e);
	return code;
}

/* Which code a failed connection attempt gets. */
static int connect_code(struct task *t, int err)
{
	if (err == AVERROR(ECONNREFUSED) || err == AVERROR(ETIMEDOUT) ||
	    err == AVERROR(EHOSTUNREACH) || err == AVERROR(ENETUNREACH) ||
	    err == AVERROR(ECONNRESET) || err == AVERROR_EXIT)
		return PUSH_ERR_FRAME_TIMEOUT;
	return PUSH_ERR_PUSH_CDN;
}

static int open_encoder(struct task *t, char *msg, size_t len)
{
	bool rtmp = t->run.kind == PUSH_RTMP;
	const AVCodec *codec = avcodec_find_encoder_by_name(rtmp ? "aac" : "libopus");
	AVChannelLayout stereo = AV_CHANNEL_LAYOUT_STEREO;
	AVCodecContext *c;
	int ret;

	if (!codec)
		return av_fail(msg, len, PUSH_ERR_POSTPROCESS, rtmp ? "aac encoder" : "opus encoder",
			       AVERROR_ENCODER_NOT_FOUND);
	c = t->enc = avcodec_alloc_context3(codec);
	if (!c)
		return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "encoder", AVERROR(ENOMEM));
	c->sample_rate = t->run.sample_rate;
	av_channel_layout_default(&c->ch_layout, t->run.channels);
	c->sample_fmt = rtmp ? AV_SAMPLE_FMT_FLTP : AV_SAMPLE_FMT_FLT;
	c->bit_rate = (int64_t)t->run.bitrate_kbps * 1000;
	c->time_base = (AVRational){ 1, c->sample_rate };
	if (rtmp)
		c->profile = FF_PROFILE_AAC_LOW;
	if (t->oc->oformat->flags & AVFMT_GLOBALHEADER)
		c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	ret = avcodec_open2(c, codec, NULL);
	if (ret < 0)
		return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "encoder", ret);
	ret = swr_alloc_set_opts2(&t->swr, &c->ch_layout, c->sample_fmt, c->sample_rate, &stereo,
				  AV_SAMPLE_FMT_FLT, (int)t->in_rate, 0, NULL);
	if (ret >= 0)
		ret = swr_init(t->swr);
	if (ret < 0)
		return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "resampler", ret);
	t->fifo = av_audio_fifo_alloc(c->sample_fmt, t->run.channels, CONV_MAX * 2);
	t->frame = av_frame_alloc();
	t->pkt = av_packet_alloc();
	if (!t->fifo || !t->frame || !t->pkt)
		return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "encoder", AVERROR(ENOMEM));
	t->frame->nb_samples = c->frame_size;
	t->frame->format = c->sample_fmt;
	t->frame->sample_rate = c->sample_rate;
	av_channel_layout_copy(&t->frame->ch_layout, &c->ch_layout);
	ret = av_frame_get_buffer(t->frame, 0);
	if (ret >= 0)
		ret = av_samples_alloc_array_and_samples(&t->conv, NULL, t->run.channels, CONV_MAX,
							 c->sample_fmt, 0);
	if (ret < 0)
		return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "encoder buffers", ret);
	return PUSH_ERR_OK;
}

/* The url and options of the connection. */
static void target(struct task *t, char *url, size_t len, AVDictionary **opts)
{
	const struct push_params *r = &t->run;

	av_dict_set_int(opts, "rw_timeout", (int64_t)t->p->cfg.timeout_ms * 1000, 0);
	if (r->kind == PUSH_RTMP) {
		snprintf(url, len, "%s", r->url);
		return;
	}
	snprintf(url, len, "icecast://%s:%s@%s:%d%s", r->user, r->password, r->host, r->port,
		 r->mount);
	av_dict_set(opts, "content_type", "audio/ogg", 0);
	if (r->name[0])
		av_dict_set(opts, "ice_name", r->name, 0);
	if (r->genre[0])
		av_dict_set(opts, "ice_genre", r->genre, 0);
	if (r->description[0])
		av_dict_set(opts, "ice_description", r->description, 0);
}

static int session_open(struct task *t, char *msg, size_t len)
{
	bool rtmp = t->run.kind == PUSH_RTMP;
	AVDictionary *opts = NULL, *mux = NULL;
	char url[PUSH_URL_MAX + PUSH_TEXT_MAX * 4];
	AVStream *st;
	int ret, code;

	ret = avformat_alloc_output_context2(&t->oc, NULL, rtmp ? "flv" : "ogg", NULL);
	if (ret < 0)
		return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "muxer", ret);
	code = open_encoder(t, msg, len);
	if (code)
		return code;
	st = avformat_new_stream(t->oc, NULL);
	if (!st)
		return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "muxer", AVERROR(ENOMEM));
	ret = avcodec_parameters_from_context(st->codecpar, t->enc);
	if (ret < 0)
		return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "muxer", ret);
	st->time_base = t->enc->time_base;
	t->oc->flags |= AVFMT_FLAG_FLUSH_PACKETS;
	t->oc->interrupt_callback = (AVIOInterruptCB){ interrupted, t };
	target(t, url, sizeof(url), &opts);
	arm(t);
	ret = avio_open2(&t->oc->pb, url, AVIO_FLAG_WRITE, &t->oc->interrupt_callback, &opts);
	av_dict_free(&opts);
	if (ret < 0) {
		atomic_store(&t->deadline_us, 0);
		return av_fail(msg, len, connect_code(t, ret), "connect", ret);
	}
	if (!rtmp)
		av_dict_set(&mux, "page_duration", "200000", 0);
	arm(t);
	ret = avformat_write_header(t->oc, &mux);
	atomic_store(&t->deadline_us, 0);
	av_dict_free(&mux);
	if (ret < 0)
		return av_fail(msg, len, PUSH_ERR_PUSH_CDN, "stream header", ret);
	t->next_pts = 0;
	return PUSH_ERR_OK;
}

static void session_close(struct task *t)
{
	if (t->oc) {
		if (t->oc->pb) {
			arm(t);
			avio_closep(&t->oc->pb);
			atomic_store(&t->deadline_us, 0);
		}
		avformat_free_context(t->oc);
		t->oc = NULL;
	}
	avcodec_free_context(&t->enc);
	swr_free(&t->swr);
	if (t->fifo)
		av_audio_fifo_free(t->fifo);
	t->fifo = NULL;
	av_frame_free(&t->frame);
	av_packet_free(&t->pkt);
	if (t->conv)
		av_freep(&t->conv[0]);
	av_freep(&t->conv);
}

static int send_packets(struct task *t, char *msg, size_t len)
{
	AVStream *st = t->oc->streams[0];
	int ret;

	while ((ret = avcodec_receive_packet(t->enc, t->pkt)) == 0) {
		av_packet_rescale_ts(t->pkt, t->enc->time_base, st->time_base);
		t->pkt->stream_index = 0;
		arm(t);
		ret = av_write_frame(t->oc, t->pkt);
		atomic_store(&t->deadline_us, 0);
		av_packet_unref(t->pkt);
		if (ret < 0)
			return av_fail(msg, len, PUSH_ERR_PUSH_CDN, "send", ret);
	}
	if (ret != AVERROR(EAGAIN) && ret != AVERROR_EOF)
		return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "encode", ret);
	return PUSH_ERR_OK;
}

/* Resample n stereo frames and encode every whole encoder frame. */
static int feed(struct task *t, const float *in, uint32_t n, char *msg, size_t len)
{
	const uint8_t *src = (const uint8_t *)in;
	int size = t->enc->frame_size;
	int got, ret, code;

	got = swr_convert(t->swr, t->conv, CONV_MAX, &src, (int)n);
	if (got < 0)
		return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "resample", got);
	if (av_audio_fifo_write(t->fifo, (void **)t->conv, got) < got)
		return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "encoder queue", AVERROR(ENOMEM));
	while (av_audio_fifo_size(t->fifo) >= size) {
		ret = av_frame_make_writable(t->frame);
		if (ret < 0)
			return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "encode", ret);
		av_audio_fifo_read(t->fifo, (void **)t->frame->data, size);
		t->frame->pts = t->next_pts;
		t->next_pts += size;
		ret = avcodec_send_frame(t->enc, t->frame);
		if (ret < 0)
			return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "encode", ret);
		code = send_packets(t, msg, len);
		if (code)
			return code;
	}
	pthread_mutex_lock(&t->lock);
	t->frames_encoded = t->frames_before + (uint64_t)t->next_pts;
	t->bytes_sent = t->bytes_before + (uint64_t)avio_tell(t->oc->pb);
	pthread_mutex_unlock(&t->lock);
	return PUSH_ERR_OK;
}

/* Sleep up to ms, or less when the task is told to stop. */
static void nap(struct task *t, uint32_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_mutex_lock(&t->lock);
	if (!atomic_load(&t->stop))
		pthread_cond_timedwait(&t->wake, &t->lock, &ts);
	pthread_mutex_unlock(&t->lock);
}

/* Gaps up to GAP_FILL_MAX_S become silence (the timeline holds); longer
 * ones are skipped rather than sent as a burst. */
static int fill_gap(struct task *t, uint64_t gap, char *msg, size_t len)
{
	if (gap > (uint64_t)t->in_rate * GAP_FILL_MAX_S)
		return PUSH_ERR_OK;
	while (gap) {
		uint32_t k = gap < CHUNK_FRAMES ? (uint32_t)gap : CHUNK_FRAMES;
		int code = feed(t, t->zeros, k, msg, len);

		if (code)
			return code;
		gap -= k;
	}
	return PUSH_ERR_OK;
}

static int session_run(struct task *t, char *msg, size_t len)
{
	while (!atomic_load(&t->stop)) {
		uint64_t gap = tap_next_gap(t->tap);
		uint32_t n;
		int code;

		if (gap) {
			code = fill_gap(t, gap, msg, len);
			if (code)
				return code;
		}
		n = tap_read(t->tap, t->buf, CHUNK_FRAMES);
		if (!n) {
			nap(t, NAP_MS);
			continue;
		}
		code = feed(t, t->buf, n, msg, len);
		if (code)
			return code;
	}
	return PUSH_ERR_OK;
}

/* Throw away what the tap holds (while disconnected). */
static void drain(struct task *t)
{
	tap_next_gap(t->tap);
	while (tap_read(t->tap, t->buf, CHUNK_FRAMES))
		tap_next_gap(t->tap);
}

static void rest(struct task *t, uint32_t ms)
{
	int64_t until = mono_us() + (int64_t)ms * 1000;

	while (!atomic_load(&t->stop) && mono_us() < until) {
		drain(t);
		nap(t, 20);
	}
	drain(t);
}

static void set_state(struct task *t, enum push_state state)
{
	pthread_mutex_lock(&t->lock);
	t->state = state;
	if (state == PUSH_STATE_CONNECTING)
		t->run = t->prm;	/* metadata updates apply from here */
	pthread_mutex_unlock(&t->lock);
}

static void connected(struct task *t)
{
	pthread_mutex_lock(&t->lock);
	t->state = PUSH_STATE_PUSHING;
	t->connects++;
	t->connected_us = mono_us();
	t->last_message[0] = '\0';
	pthread_mutex_unlock(&t->lock);
	t->reported = 0;
	emit(t->p, t->id, PUSH_EVENT_START_SUCCESS, PUSH_ERR_OK, NULL, "pushing to %s",
	     t->run.kind == PUSH_RTMP ? "the rtmp server" : "the icecast server");
}

static void failed(struct task *t, int code, const char *msg, uint32_t delay)
{
	pthread_mutex_lock(&t->lock);
	t->state = PUSH_STATE_RETRYING;
	t->last_error = code;
	snprintf(t->last_message, sizeof(t->last_message), "%s", msg);
	t->bytes_before = t->bytes_sent;
	t->frames_before = t->frames_encoded;
	pthread_mutex_unlock(&t->lock);
	if (t->reported == code)
		return;
	t->reported = code;
	emit(t->p, t->id, PUSH_EVENT_START_FAILED, code, NULL, "%s; retrying in %u ms", msg,
	     delay);
}

static uint32_t jitter(struct task *t, uint32_t ms)
{
	return (uint32_t)((double)ms * (0.8 + 0.4 * ((double)rand_r(&t->seed) / RAND_MAX)));
}

static void *task_main(void *arg)
{
	struct task *t = arg;
	uint32_t delay = t->p->cfg.backoff_min_ms;
	char msg[PUSH_TEXT_MAX * 2];

	while (!atomic_load(&t->stop)) {
		uint32_t wait;
		int code;

		set_state(t, PUSH_STATE_CONNECTING);
		msg[0] = '\0';
		code = session_open(t, msg, sizeof(msg));
		if (!code) {
			connected(t);
			delay = t->p->cfg.backoff_min_ms;
			code = session_run(t, msg, sizeof(msg));
			if (!code && !atomic_load(&t->stop))
				code = PUSH_ERR_UNKNOWN;
		}
		session_close(t);
		if (atomic_load(&t->stop))
			break;
		wait = jitter(t, delay);
		failed(t, code, msg, wait);
		rest(t, wait);
		delay = delay * 2 < t->p->cfg.backoff_max_ms ? delay * 2 : t->p->cfg.backoff_max_ms;
	}
	return NULL;
}

/* ---- the manager */

/* Control thread. */
int push_create(struct engine *e, const struct push_config *cfg, struct push **out)
{
	struct push *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->e = e;
	p->cfg = *cfg;
	if (!p->cfg.max_tasks)
		p->cfg.max_tasks = 8;
	if (!p->cfg.ring_ms)
		p->cfg.ring_ms = 2000;
	if (!p->cfg.timeout_ms)
		p->cfg.timeout_ms = 5000;
	if (!p->cfg.backoff_min_ms)
		p->cfg.backoff_min_ms = 250;
	if (p->cfg.backoff_max_ms < p->cfg.backoff_min_ms)
		p->cfg.backoff_max_ms = p->cfg.backoff_min_ms;
	pthread_mutex_init(&p->lock, NULL);
	*out = p;
	return 0;
}

static struct task *find(struct push *p, const char *id)
{
	for (struct task *t = p->tasks; t; t = t->next)
		if (!strcmp(t->id, id))
			return t;
	return NULL;
}

static void task_free(struct push *p, struct task *t)
{
	if (t->tap)
		engine_tap_close(p->e, t->tap);
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* Stops the thread and frees the task (already off the list). */
static void task_end(struct push *p, struct task *t)
{
	pthread_mutex_lock(&t->lock);
	atomic_store(&t->stop, true);
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	task_free(p, t);
}

static int task_new(struct push *p, const char *id, const struct push_params *prm,
		    struct task **out, char *msg, size_t len)
{
	struct engine_status es;
	pthread_condattr_t ca;
	struct task *t = calloc(1, sizeof(*t));
	int ret;

	if (!t) {
		snprintf(msg, len, "out of memory");
		return PUSH_ERR_UNKNOWN;
	}
	t->p = p;
	t->seed = (unsigned)mono_us() ^ (unsigned)(uintptr_t)t;
	snprintf(t->id, sizeof(t->id), "%s", id);
	t->prm = *prm;
	t->run = *prm;
	engine_get_status(p->e, &es);
	t->in_rate = es.rate ? es.rate : (uint32_t)engine_config(p->e)->sample_rate;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->wake, &ca);
	pthread_condattr_destroy(&ca);
	ret = engine_tap_open(p->e, ENGINE_BUS_PUBLISH,
			      (uint32_t)((uint64_t)t->in_rate * p->cfg.ring_ms / 1000), &t->tap);
	if (ret < 0) {
		t->tap = NULL;
		task_free(p, t);
		snprintf(msg, len, "cannot tap the publish bus: %s", strerror(-ret));
		return PUSH_ERR_UNKNOWN;
	}
	ret = pthread_create(&t->thread, NULL, task_main, t);
	if (ret) {
		task_free(p, t);
		snprintf(msg, len, "cannot start the push thread: %s", strerror(ret));
		return PUSH_ERR_UNKNOWN;
	}
	*out = t;
	return PUSH_ERR_OK;
}

static int start_checks(struct push *p, const char *id, struct push_params *prm, char *msg,
			size_t len)
{
	int code = check_id(id, msg, len);

	if (code)
		return code;
	if (find(p, id))
		return invalid(msg, len, "task \"%s\" is already pushing", id);
	if (p->n >= p->cfg.max_tasks)
		return invalid(msg, len, "at most %u push tasks at once", p->cfg.max_tasks);
	if (!id[0] && p->n)
		return invalid(msg, len, "the empty task id is only allowed for a single task");
	if (find(p, ""))
		return invalid(msg, len, "a task with the empty id is running: give every task "
			       "an id");
	return push_check_params(prm, msg, len);
}

/* Any non-RT thread. */
int push_start(struct push *p, const char *task_id, const struct push_params *prm,
	       const char *request, char *msg, size_t len)
{
	struct push_params want = *prm;
	struct task *t = NULL;
	int code;

	emit(p, task_id, PUSH_EVENT_START, PUSH_ERR_OK, request, "start pushing");
	pthread_mutex_lock(&p->lock);
	code = start_checks(p, task_id, &want, msg, len);
	if (!code)
		code = task_new(p, task_id, &want, &t, msg, len);
	if (!code) {
		t->next = p->tasks;
		p->tasks = t;
		p->n++;
	}
	pthread_mutex_unlock(&p->lock);
	if (code)
		emit(p, task_id, PUSH_EVENT_START_FAILED, code, request, "%s", msg);
	return code;
}

static bool same_target(const struct push_params *a, const struct push_params *b)
{
	if (a->kind != b->kind || a->channels != b->channels ||
	    a->bitrate_kbps != b->bitrate_kbps || a->sample_rate != b->sample_rate)
		return false;
	if (a->kind == PUSH_RTMP)
		return !strcmp(a->url, b->url) && !strcmp(a->profile, b->profile);
	return !strcmp(a->host, b->host) && a->port == b->port && !strcmp(a->mount, b->mount) &&
	       !strcmp(a->user, b->user) && (!b->password[0] ||
					     !strcmp(a->password, b->password));
}

static int update_locked(struct push *p, const char *id, const struct push_params *prm,
			 char *msg, size_t len)
{
	struct push_params want = *prm;
	struct task *t = find(p, id);
	int code;

	if (!t)
		return invalid(msg, len, "no push task \"%s\"", id);
	if (prm->kind == PUSH_ICECAST && !want.password[0])
		snprintf(want.password, sizeof(want.password), "%s", t->prm.password);
	code = push_check_params(&want, msg, len);
	if (code)
		return code;
	pthread_mutex_lock(&t->lock);
	if (!same_target(&t->prm, &want)) {
		pthread_mutex_unlock(&t->lock);
		return invalid(msg, len, t->prm.kind == PUSH_RTMP
			       ? "url and audio settings cannot change while pushing"
			       : "only name, genre and description can change while pushing");
	}
	snprintf(t->prm.name, sizeof(t->prm.name), "%s", want.name);
	snprintf(t->prm.genre, sizeof(t->prm.genre), "%s", want.genre);
	snprintf(t->prm.description, sizeof(t->prm.description), "%s", want.description);
	pthread_mutex_unlock(&t->lock);
	return PUSH_ERR_OK;
}

/* Any non-RT thread. */
int push_update(struct push *p, const char *task_id, const struct push_params *prm,
		const char *request, char *msg, size_t len)
{
	int code;

	emit(p, task_id, PUSH_EVENT_UPDATE, PUSH_ERR_OK, request, "update");
	pthread_mutex_lock(&p->lock);
	code = update_locked(p, task_id, prm, msg, len);
	pthread_mutex_unlock(&p->lock);
	if (code)
		emit(p, task_id, PUSH_EVENT_UPDATE_FAILED, code, request, "%s; the task keeps "
		     "running as it was", msg);
	else
		emit(p, task_id, PUSH_EVENT_UPDATE_SUCCESS, PUSH_ERR_OK, request, "updated");
	return code;
}

/* Any non-RT thread. */
int push_stop(struct push *p, const char *task_id, const char *request, char *msg, size_t len)
{
	struct task **pp, *t = NULL;

	emit(p, task_id, PUSH_EVENT_STOP, PUSH_ERR_OK, request, "stop pushing");
	pthread_mutex_lock(&p->lock);
	for (pp = &p->tasks; *pp; pp = &(*pp)->next) {
		if (!strcmp((*pp)->id, task_id)) {
			t = *pp;
			*pp = t->next;
			p->n--;
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (!t) {
		invalid(msg, len, "no push task \"%s\"", task_id);
		emit(p, task_id, PUSH_EVENT_STOP_FAILED, PUSH_ERR_PARAM_INVALID, request, "%s", msg);
		return PUSH_ERR_PARAM_INVALID;
	}
	task_end(p, t);
	emit(p, task_id, PUSH_EVENT_STOP_SUCCESS, PUSH_ERR_OK, request, "stopped");
	return PUSH_ERR_OK;
}

/* Any non-RT thread. */
size_t push_list(struct push *p, char (*ids)[PUSH_TASK_ID_MAX + 1], size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&p->lock);
	for (struct task *t = p->tasks; t; t = t->next, n++)
		if (n < max)
			snprintf(ids[n], PUSH_TASK_ID_MAX + 1, "%s", t->id);
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* Any non-RT thread. */
int push_get_status(struct push *p, const char *task_id, struct push_status *st)
{
	struct task *t;

	pthread_mutex_lock(&p->lock);
	t = find(p, task_id);
	if (!t) {
		pthread_mutex_unlock(&p->lock);
		return -ENOENT;
	}
	memset(st, 0, sizeof(*st));
	snprintf(st->task_id, sizeof(st->task_id), "%s", t->id);
	pthread_mutex_lock(&t->lock);
	st->params = t->prm;
	st->state = t->state;
	st->last_error = t->last_error;
	snprintf(st->last_message, sizeof(st->last_message), "%s", t->last_message);
	st->connects = t->connects;
	st->bytes_sent = t->bytes_sent;
	st->frames_encoded = t->frames_encoded;
	st->uptime_s = t->state == PUSH_STATE_PUSHING ? (mono_us() - t->connected_us) / 1e6 : 0;
	pthread_mutex_unlock(&t->lock);
	st->frames_dropped = tap_dropped_frames(t->tap);
	pthread_mutex_unlock(&p->lock);
	memset(st->params.password, 0, sizeof(st->params.password));
	return 0;
}

/* Control thread. */
void push_destroy(struct push *p)
{
	struct task *t;

	if (!p)
		return;
	while ((t = p->tasks)) {
		p->tasks = t->next;
		task_end(p, t);
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
}
