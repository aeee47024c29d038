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
 * fails. A server that is frozen (a stopped process, a half-open
 * connection) keeps accepting into kernel buffers for minutes, so sends do
 * not block: while pushing, a liveness probe opens a second connection every
 * probe_ms and wants an answer within timeout_ms (RTMP: the handshake's S0
 * to our C0 C1; Icecast: a reply to GET /status-json.xsl), non-blocking
 * from the task's loop. A failed attempt or a dropped stream waits a backoff that doubles
 * from backoff_min_ms to backoff_max_ms with ±20 % jitter, draining the tap
 * meanwhile (the outage is a gap, never a burst), and tries again, until the
 * task is stopped.
 *
 * Icecast "now playing": the title travels in the stream's OpusTags (what
 * listeners' players show). A new title while pushing ends the Ogg stream
 * and chains a new one with new headers on the same connection (the
 * encoder restarts; the timeline holds). Icecast 2.4 refuses
 * /admin/metadata on Ogg mounts ("Mountpoint will not accept URL
 * updates"), so that endpoint is not used. The title is the API's when set,
 * else the file name of the mixing id last started on the publish bus: the
 * manager listens to "audio_mixing.state" notices and records the id (its
 * callback runs under the mixing manager's lock, so it only records); each
 * task thread looks the file up with mixing_get_info.
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
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

#include "engine/engine.h"
#include "engine/errors.h"
#include "engine/mixing.h"

#define CHUNK_FRAMES 1024	/* tap frames per read */
#define CONV_MAX 4096		/* resampler output per chunk, frames */
#define GAP_FILL_MAX_S 1	/* longer gaps are skipped, not filled */
#define NAP_MS 10
#define PROBE_REQ_MAX 1600	/* RTMP C0 + C1 */

/* The liveness probe of a session (task thread). */
struct probe {
	struct sockaddr_storage addr;
	socklen_t addrlen;		/* 0: no probe in this session */
	char req[PROBE_REQ_MAX];
	size_t req_len;
	int fd;				/* -1 when idle */
	bool sent;
	int64_t started_us;
	int64_t next_us;
};

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
	uint64_t attempts;
	uint64_t connects;
	uint64_t bytes_sent;
	uint64_t frames_encoded;
	int64_t connected_us;
	char now_playing[PUSH_TEXT_MAX];

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
	struct probe probe;
	uint64_t mix_seen;		/* p->mix_gen last looked at */
	char auto_title[PUSH_TEXT_MAX];	/* file name of the last publish-bus mixing */
	char run_title[PUSH_TEXT_MAX];	/* the title in the current Ogg stream */
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
	pthread_mutex_t mix_lock;	/* the two below; a leaf lock */
	int mix_id;			/* mixing id last seen starting to play */
	uint64_t mix_gen;		/* bumped on each start */
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
	if (prm->title[0])
		return invalid(msg, len, "title is sent to icecast servers only");
	return check_audio(prm, msg, len);
}

static int check_icecast(struct push_params *prm, char *msg, size_t len)
{
	const char *texts[] = { prm->name, prm->genre, prm->description, prm->title };

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
			return invalid(msg, len, "icecast name, genre, description and title "
				       "must be one line of text");
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

/* Appends n bytes of s to out (always terminated). */
static void append(char *out, size_t len, size_t *used, const char *s, size_t n)
{
	if (*used + 1 >= len)
		return;
	if (n > len - *used - 1)
		n = len - *used - 1;
	memcpy(out + *used, s, n);
	*used += n;
	out[*used] = '\0';
}

/* Any thread. */
void push_redact_url(const char *url, char *out, size_t len)
{
	const char *sep = strstr(url, "://");
	const char *host = sep ? sep + 3 : url;
	const char *path = host + strcspn(host, "/?");
	const char *query = strchr(path, '?');
	const char *at = memrchr(host, '@', (size_t)(path - host));
	const char *end = query ? query : path + strlen(path);
	const char *last = path;
	size_t used = 0;

	if (!len)
		return;
	out[0] = '\0';
	append(out, len, &used, url, (size_t)(host - url));
	if (at) {
		append(out, len, &used, "***@", 4);
		host = at + 1;
	}
	append(out, len, &used, host, (size_t)(path - host));
	for (const char *c = path; c < end; c++)
		if (*c == '/')
			last = c;
	if (last > path && last + 1 < end) {	/* two elements or more: hide the last */
		append(out, len, &used, path, (size_t)(last + 1 - path));
		append(out, len, &used, "***", 3);
	} else {
		append(out, len, &used, path, (size_t)(end - path));
	}
	if (query)
		append(out, len, &used, "?***", 4);
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

/* The encoder of a session, or of a new Ogg stream in it. */
static int open_codec(struct task *t, char *msg, size_t len)
{
	bool rtmp = t->run.kind == PUSH_RTMP;
	const AVCodec *codec = avcodec_find_encoder_by_name(rtmp ? "aac" : "libopus");
	AVDictionary *opts = NULL;
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
	/* constrained VBR: near the nominal rate whatever the programme (a
	 * plain VBR line-up tone takes nearly twice the bitrate) */
	if (!rtmp)
		av_dict_set(&opts, "vbr", "constrained", 0);
	ret = avcodec_open2(c, codec, &opts);
	av_dict_free(&opts);
	if (ret < 0)
		return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "encoder", ret);
	return PUSH_ERR_OK;
}

/* Resampler, queue and frames between the tap and the encoder. */
static int open_buffers(struct task *t, char *msg, size_t len)
{
	AVChannelLayout stereo = AV_CHANNEL_LAYOUT_STEREO;
	AVCodecContext *c = t->enc;
	int ret;

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

/* The title this task's stream should carry now (icecast). */
static void wanted_title(struct task *t, char *out, size_t len)
{
	pthread_mutex_lock(&t->lock);
	snprintf(out, len, "%s", t->prm.title[0] ? t->prm.title : t->auto_title);
	pthread_mutex_unlock(&t->lock);
}

/* A muxer with its encoder and stream (its pb is set by the caller). */
static int open_muxer(struct task *t, char *msg, size_t len)
{
	bool rtmp = t->run.kind == PUSH_RTMP;
	AVStream *st;
	int ret, code;

	ret = avformat_alloc_output_context2(&t->oc, NULL, rtmp ? "flv" : "ogg", NULL);
	if (ret < 0)
		return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "muxer", ret);
	code = open_codec(t, msg, len);
	if (code)
		return code;
	st = avformat_new_stream(t->oc, NULL);
	if (!st)
		return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "muxer", AVERROR(ENOMEM));
	ret = avcodec_parameters_from_context(st->codecpar, t->enc);
	if (ret < 0)
		return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "muxer", ret);
	st->time_base = t->enc->time_base;
	if (!rtmp) {
		wanted_title(t, t->run_title, sizeof(t->run_title));
		if (t->run_title[0])
			av_dict_set(&st->metadata, "title", t->run_title, 0);
		pthread_mutex_lock(&t->lock);
		snprintf(t->now_playing, sizeof(t->now_playing), "%s", t->run_title);
		pthread_mutex_unlock(&t->lock);
	}
	t->oc->flags |= AVFMT_FLAG_FLUSH_PACKETS;
	t->oc->interrupt_callback = (AVIOInterruptCB){ interrupted, t };
	return PUSH_ERR_OK;
}

static int write_header(struct task *t, char *msg, size_t len)
{
	AVDictionary *mux = NULL;
	int ret;

	if (t->run.kind == PUSH_ICECAST)
		av_dict_set(&mux, "page_duration", "200000", 0);
	arm(t);
	ret = avformat_write_header(t->oc, &mux);
	atomic_store(&t->deadline_us, 0);
	av_dict_free(&mux);
	if (ret < 0)
		return av_fail(msg, len, PUSH_ERR_PUSH_CDN, "stream header", ret);
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

/* ---- the liveness probe (task thread) */

/* Where and what to probe for this session; no probe when off, for rtmps
 * (TLS first: the send timeout only) or when the host does not resolve. */
static void probe_setup(struct task *t)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	struct probe *pr = &t->probe;
	char proto[16], host[PUSH_TEXT_MAX], port_text[16];
	int port = t->run.port;

	pr->addrlen = 0;
	pr->fd = -1;
	if (!t->p->cfg.probe_ms)
		return;
	if (t->run.kind == PUSH_RTMP) {
		av_url_split(proto, sizeof(proto), NULL, 0, host, sizeof(host), &port, NULL, 0,
			     t->run.url);
		if (strcmp(proto, "rtmp"))
			return;
		if (port < 0)
			port = 1935;
		memset(pr->req, 0, 1537);	/* C0 (version 3) and a plain C1 */
		pr->req[0] = 3;
		pr->req_len = 1537;
	} else {
		snprintf(host, sizeof(host), "%s", t->run.host);
		pr->req_len = (size_t)snprintf(pr->req, sizeof(pr->req),
					       "GET /status-json.xsl HTTP/1.0\r\nHost: %s\r\n"
					       "User-Agent: airmix\r\n\r\n", host);
	}
	snprintf(port_text, sizeof(port_text), "%d", port);
	if (getaddrinfo(host, port_text, &hints, &ai) || !ai)
		return;
	memcpy(&pr->addr, ai->ai_addr, ai->ai_addrlen);
	pr->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	pr->next_us = mono_us() + (int64_t)t->p->cfg.probe_ms * 1000;
}

static void probe_close(struct probe *pr)
{
	if (pr->fd >= 0)
		close(pr->fd);
	pr->fd = -1;
}

static int probe_lost(struct task *t, int err, char *msg, size_t len)
{
	probe_close(&t->probe);
	snprintf(msg, len, "the server is gone (liveness probe: %s)", strerror(err));
	return PUSH_ERR_PUSH_CDN;
}

/* One non-blocking step: start a probe when due, send, look for the answer.
 * PUSH_ERR_OK, or the code that ends the session. */
static int probe_step(struct task *t, char *msg, size_t len)
{
	struct probe *pr = &t->probe;
	struct pollfd pfd;
	int64_t now = mono_us();
	socklen_t elen = sizeof(int);
	int err = 0;
	char byte;

	if (!pr->addrlen)
		return PUSH_ERR_OK;
	if (pr->fd < 0) {
		if (now < pr->next_us)
			return PUSH_ERR_OK;
		pr->fd = socket(pr->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		pr->started_us = now;
		pr->sent = false;
		if (pr->fd < 0) {	/* out of descriptors: try next period */
			pr->next_us = now + (int64_t)t->p->cfg.probe_ms * 1000;
			return PUSH_ERR_OK;
		}
		if (connect(pr->fd, (struct sockaddr *)&pr->addr, pr->addrlen) < 0 &&
		    errno != EINPROGRESS)
			return probe_lost(t, errno, msg, len);
		return PUSH_ERR_OK;
	}
	pfd = (struct pollfd){ .fd = pr->fd, .events = pr->sent ? POLLIN : POLLOUT };
	if (poll(&pfd, 1, 0) > 0) {
		if (!pr->sent) {
			getsockopt(pr->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
			if (err)
				return probe_lost(t, err, msg, len);
			if (send(pr->fd, pr->req, pr->req_len, MSG_NOSIGNAL) < 0 &&
			    errno != EAGAIN)
				return probe_lost(t, errno, msg, len);
			pr->sent = true;
		} else if (recv(pr->fd, &byte, 1, 0) >= 0 || errno != EAGAIN) {
			/* an answer, or a close: the server's process is alive */
			probe_close(pr);
			pr->next_us = now + (int64_t)t->p->cfg.probe_ms * 1000;
			return PUSH_ERR_OK;
		}
	}
	if (now - pr->started_us > (int64_t)t->p->cfg.timeout_ms * 1000) {
		probe_close(pr);
		snprintf(msg, len, "the server stopped answering: no reply to a liveness probe "
			 "within %u ms", t->p->cfg.timeout_ms);
		return PUSH_ERR_FRAME_TIMEOUT;
	}
	return PUSH_ERR_OK;
}

/* ---- the session (task thread) */

static int session_open(struct task *t, char *msg, size_t len)
{
	char url[PUSH_URL_MAX + PUSH_TEXT_MAX * 4];
	AVDictionary *opts = NULL;
	int ret, code;

	code = open_muxer(t, msg, len);
	if (!code)
		code = open_buffers(t, msg, len);
	if (code)
		return code;
	target(t, url, sizeof(url), &opts);
	arm(t);
	ret = avio_open2(&t->oc->pb, url, AVIO_FLAG_WRITE, &t->oc->interrupt_callback, &opts);
	av_dict_free(&opts);
	atomic_store(&t->deadline_us, 0);
	if (ret < 0) {
		code = connect_code(t, ret);
		return av_fail(msg, len, code, code == PUSH_ERR_PUSH_CDN
			       ? "the server refused the stream" : "connect", ret);
	}
	code = write_header(t, msg, len);
	if (code)
		return code;
	t->next_pts = 0;
	probe_setup(t);
	return PUSH_ERR_OK;
}

static void muxer_free(struct task *t)
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
}

static void session_close(struct task *t)
{
	probe_close(&t->probe);
	t->probe.addrlen = 0;
	muxer_free(t);
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

/* The file name of the mixing id last started on the publish bus, when a
 * new one started since the last look. */
static void track_title(struct task *t)
{
	struct push *p = t->p;
	struct mixing *m = engine_mixing(p->e);
	struct mixing_info info;
	const char *base;
	uint64_t gen;
	int id;

	pthread_mutex_lock(&p->mix_lock);
	gen = p->mix_gen;
	id = p->mix_id;
	pthread_mutex_unlock(&p->mix_lock);
	if (gen == t->mix_seen)
		return;
	t->mix_seen = gen;
	if (!m || mixing_get_info(m, id, &info) < 0 || info.type == MIXING_TYPE_PLAYOUT)
		return;
	base = strrchr(info.path, '/');
	pthread_mutex_lock(&t->lock);
	snprintf(t->auto_title, sizeof(t->auto_title), "%.*s", (int)sizeof(t->auto_title) - 1,
		 base ? base + 1 : info.path);
	pthread_mutex_unlock(&t->lock);
}

/* A new title while pushing to icecast: end this Ogg stream and chain a new
 * one, with the title in its headers, on the same connection. */
static int rechain(struct task *t, char *msg, size_t len)
{
	AVIOContext *pb;
	int ret, code;

	ret = avcodec_send_frame(t->enc, NULL);
	if (ret < 0)
		return av_fail(msg, len, PUSH_ERR_POSTPROCESS, "encode", ret);
	code = send_packets(t, msg, len);
	if (code)
		return code;
	arm(t);
	ret = av_write_trailer(t->oc);
	atomic_store(&t->deadline_us, 0);
	if (ret < 0)
		return av_fail(msg, len, PUSH_ERR_PUSH_CDN, "send", ret);
	pb = t->oc->pb;
	t->oc->pb = NULL;
	muxer_free(t);
	code = open_muxer(t, msg, len);
	if (!t->oc) {
		arm(t);
		avio_closep(&pb);
		atomic_store(&t->deadline_us, 0);
		return code;
	}
	t->oc->pb = pb;
	if (code)
		return code;
	pthread_mutex_lock(&t->lock);
	t->frames_before += (uint64_t)t->next_pts;
	pthread_mutex_unlock(&t->lock);
	t->next_pts = 0;
	return write_header(t, msg, len);
}

/* Between reads: the probe, and a new title (icecast). */
static int session_check(struct task *t, char *msg, size_t len)
{
	char want[PUSH_TEXT_MAX];
	int code = probe_step(t, msg, len);

	if (code || t->run.kind != PUSH_ICECAST)
		return code;
	track_title(t);
	wanted_title(t, want, sizeof(want));
	return strcmp(want, t->run_title) ? rechain(t, msg, len) : PUSH_ERR_OK;
}

static int session_run(struct task *t, char *msg, size_t len)
{
	while (!atomic_load(&t->stop)) {
		uint64_t gap = tap_next_gap(t->tap);
		uint32_t n;
		int code = session_check(t, msg, len);

		if (code)
			return code;

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
	if (state == PUSH_STATE_CONNECTING) {
		t->run = t->prm;	/* metadata updates apply from here */
		t->attempts++;
	}
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

/* Any non-RT thread, under the engine's notice lock (and the mixing
 * manager's): record which id started playing, nothing more. */
static void on_notice(const struct engine_notice *n, void *user)
{
	struct push *p = user;
	json_t *j;

	if (strcmp(n->event, "audio_mixing.state") || !n->data_json)
		return;
	j = json_loads(n->data_json, 0, NULL);
	if (json_integer_value(json_object_get(j, "state")) == MIXING_PLAYING) {
		pthread_mutex_lock(&p->mix_lock);
		p->mix_id = (int)json_integer_value(json_object_get(j, "id"));
		p->mix_gen++;
		pthread_mutex_unlock(&p->mix_lock);
	}
	json_decref(j);
}

/* Control thread. */
int push_create(struct engine *e, const struct push_config *cfg, struct push **out)
{
	struct push *p = calloc(1, sizeof(*p));
	int ret;

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
	pthread_mutex_init(&p->mix_lock, NULL);
	ret = engine_subscribe(e, on_notice, p);
	if (ret < 0) {
		pthread_mutex_destroy(&p->mix_lock);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return ret;
	}
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
	t->probe.fd = -1;
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
			       : "only name, genre, description and title can change while "
			       "pushing");
	}
	snprintf(t->prm.name, sizeof(t->prm.name), "%s", want.name);
	snprintf(t->prm.genre, sizeof(t->prm.genre), "%s", want.genre);
	snprintf(t->prm.description, sizeof(t->prm.description), "%s", want.description);
	snprintf(t->prm.title, sizeof(t->prm.title), "%s", want.title);
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
	st->attempts = t->attempts;
	st->connects = t->connects;
	st->bytes_sent = t->bytes_sent;
	st->frames_encoded = t->frames_encoded;
	st->uptime_s = t->state == PUSH_STATE_PUSHING ? (mono_us() - t->connected_us) / 1e6 : 0;
	snprintf(st->now_playing, sizeof(st->now_playing), "%s", t->now_playing);
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
	engine_unsubscribe(p->e, on_notice, p);
	pthread_mutex_destroy(&p->mix_lock);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
