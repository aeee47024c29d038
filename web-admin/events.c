/* events.c - the WebSocket event and meter stream /api/v1/events.
 *
 * DESIGN
 * Engine notices arrive on the engine's threads (event thread, or whoever
 * called engine_report). events_notice_cb() copies each one into a fixed
 * inbox slot under a short mutex and wakes the service thread with
 * lws_cancel_service(); when the inbox is full the notice is dropped and
 * counted. Nothing there allocates or waits on the network.
 *
 * On the service thread the inbox is drained into a ring of formatted JSON
 * frames with sequence numbers, shared by all clients. Each client keeps only
 * a cursor (the next sequence it wants); a client that falls more than the
 * ring behind skips what was overwritten (counted as dropped). Meter frames
 * are built once per tick by an lws_sul timer into one shared buffer with its
 * own sequence; a client sends the newest frame when it can, so a slow client
 * simply gets fewer meter frames. Memory is bounded by the ring, the inbox and
 * whatever lws buffers for one partial write per client.
 *
 * Threads: see events.h.
 */
#include "web-admin/events.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/history.h"

#define INBOX_SLOTS 128
#define RING_SLOTS 256
#define DATA_MAX 2048
#define EVENT_NAME_MAX 64
/* Kernel send buffer per subscriber: bounds its memory and how stale the
 * frames of a slow client can get before it starts skipping meters. */
#define CLIENT_SNDBUF (128 * 1024)

/* A notice copied out of the engine's callback: plain bytes, no pointers. */
struct notice_copy {
	char event[EVENT_NAME_MAX];
	int64_t time_us;
	int domain;
	int code;
	int level;
	char name[HISTORY_NAME_MAX];
	char subject[HISTORY_SUBJECT_MAX];
	char message[HISTORY_MESSAGE_MAX];
	char request[HISTORY_REQUEST_MAX];
	char data[DATA_MAX];
	bool has_data;
};

/* A frame ready for lws_write: LWS_PRE bytes of headroom, then the text. */
struct frame {
	unsigned char *buf;
	size_t len;
	size_t cap;
};

struct ws_client {
	uint64_t next_event;	/* sequence of the next event to send */
	uint64_t meter_seq;	/* sequence of the last meter frame sent */
	bool hello_sent;
	bool counted;		/* included in clients */
};

struct events {
	struct engine *e;
	struct lws_context *ctx;
	const struct lws_protocols *protocol;
	bool subscribed;

	/* inbox: any thread -> service thread */
	pthread_mutex_t lock;
	struct notice_copy *inbox;
	unsigned inbox_count;
	uint64_t inbox_dropped;

	/* service thread only */
	struct notice_copy *drain;	/* scratch copy of the inbox */
	struct frame ring[RING_SLOTS];
	uint64_t head;			/* sequence of the next event stored */
	struct frame meter;
	uint64_t meter_seq;
	lws_sorted_usec_list_t sul;
	lws_usec_t tick_us;
	lws_usec_t next_tick;
	struct engine_node_info *nodes;
	size_t nodes_cap;
	unsigned clients;
	uint64_t events_sent;
	uint64_t lag_dropped;
	uint64_t meter_frames;
	uint64_t meters_skipped;
};

/* ---- any thread */

static void copy_text(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Engine subscriber: runs on the engine's threads, must not block. */
static void events_notice_cb(const struct engine_notice *n, void *user)
{
	struct events *ev = user;
	struct notice_copy *c;
	size_t dlen;

	pthread_mutex_lock(&ev->lock);
	if (ev->inbox_count == INBOX_SLOTS) {
		ev->inbox_dropped++;
		pthread_mutex_unlock(&ev->lock);
		return;
	}
	c = &ev->inbox[ev->inbox_count++];
	copy_text(c->event, sizeof(c->event), n->event);
	c->time_us = n->time_us;
	c->domain = n->domain;
	c->code = n->code;
	c->level = n->level;
	copy_text(c->name, sizeof(c->name), n->name);
	copy_text(c->subject, sizeof(c->subject), n->subject);
	copy_text(c->message, sizeof(c->message), n->message);
	copy_text(c->request, sizeof(c->request), n->request);
	dlen = n->data_json ? strlen(n->data_json) : 0;
	c->has_data = dlen > 0 && dlen < sizeof(c->data);
	copy_text(c->data, sizeof(c->data), c->has_data ? n->data_json : "");
	pthread_mutex_unlock(&ev->lock);
	lws_cancel_service(ev->ctx);
}

/* ---- control thread */

int events_create(struct engine *e, struct events **out)
{
	struct events *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return -ENOMEM;
	ev->e = e;
	ev->inbox = calloc(INBOX_SLOTS, sizeof(*ev->inbox));
	ev->drain = calloc(INBOX_SLOTS, sizeof(*ev->drain));
	ev->nodes_cap = 64;
	ev->nodes = calloc(ev->nodes_cap, sizeof(*ev->nodes));
	if (!ev->inbox || !ev->drain || !ev->nodes) {
		events_destroy(ev);
		return -ENOMEM;
	}
	pthread_mutex_init(&ev->lock, NULL);
	*out = ev;
	return 0;
}

static void meter_tick(lws_sorted_usec_list_t *sul);

void events_attach(struct events *ev, struct lws_context *ctx,
		   const struct lws_protocols *protocol)
{
	int fps = engine_config(ev->e)->http_meter_fps;

	ev->ctx = ctx;
	ev->protocol = protocol;
	ev->tick_us = 1000000 / (fps > 0 ? fps : 20);
	ev->next_tick = lws_now_usecs() + ev->tick_us;
	lws_sul_schedule(ctx, 0, &ev->sul, meter_tick, ev->tick_us);
	ev->subscribed = engine_subscribe(ev->e, events_notice_cb, ev) == 0;
}

void events_detach(struct events *ev)
{
	if (ev->subscribed)
		engine_unsubscribe(ev->e, events_notice_cb, ev);
	ev->subscribed = false;
}

void events_destroy(struct events *ev)
{
	size_t i;

	if (!ev)
		return;
	events_detach(ev);
	for (i = 0; i < RING_SLOTS; i++)
		free(ev->ring[i].buf);
	free(ev->meter.buf);
	free(ev->nodes);
	free(ev->drain);
	free(ev->inbox);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
}

/* ---- service thread */

unsigned events_clients(const struct events *ev)
{
	return ev->clients;
}

void events_stats(struct events *ev, struct api_server_stats *st)
{
	uint64_t inbox_dropped;

	pthread_mutex_lock(&ev->lock);
	inbox_dropped = ev->inbox_dropped;
	pthread_mutex_unlock(&ev->lock);
	st->ws_clients = ev->clients;
	st->events_sent = ev->events_sent;
	st->events_dropped = ev->lag_dropped + inbox_dropped;
	st->meter_frames = ev->meter_frames;
	st->meters_skipped = ev->meters_skipped;
}

size_t events_session_size(void)
{
	return sizeof(struct ws_client);
}

/* Store text into a frame (reusing its buffer); 0 or -ENOMEM. */
static int frame_set(struct frame *f, const char *text, size_t len)
{
	if (!f->buf || f->cap < LWS_PRE + len) {
		unsigned char *b = realloc(f->buf, LWS_PRE + len + 256);

		if (!b)
			return -ENOMEM;
		f->buf = b;
		f->cap = LWS_PRE + len + 256;
	}
	memcpy(f->buf + LWS_PRE, text, len);
	f->len = len;
	return 0;
}

/* Takes j; 0 or -ENOMEM. */
static int frame_set_json(struct frame *f, json_t *j)
{
	size_t len;
	char *text = j ? api_dump(j, &len) : NULL;
	int rc = text ? frame_set(f, text, len) : -ENOMEM;

	free(text);
	json_decref(j);
	return rc;
}

static json_t *notice_json(const struct notice_copy *c)
{
	char when[40];
	json_t *j;

	api_format_time(c->time_us, when, sizeof(when));
	j = json_pack("{s:s,s:o,s:I,s:s,s:s,s:i,s:o,s:s,s:o,s:o,s:o}", "type", "event",
		      "event", api_text_json(c->event), "time_us", (json_int_t)c->time_us,
		      "time", when, "domain", airmix_domain_name(c->domain), "code", c->code,
		      "name", api_text_json(c->name), "level", airmix_level_name(c->level),
		      "subject", api_text_json(c->subject),
		      "message", api_text_json(c->message),
		      "request", api_text_json(c->request));
	if (j && c->has_data) {
		json_t *data = json_loads(c->data, JSON_DECODE_ANY, NULL);

		if (data)
			json_object_set_new(j, "data", data);
	}
	return j;
}

/* Moves the inbox into the ring and wakes every client. */
static void drain_inbox(struct events *ev)
{
	unsigned i, n;

	pthread_mutex_lock(&ev->lock);
	n = ev->inbox_count;
	memcpy(ev->drain, ev->inbox, n * sizeof(*ev->inbox));
	ev->inbox_count = 0;
	pthread_mutex_unlock(&ev->lock);
	if (!n)
		return;
	for (i = 0; i < n; i++) {
		struct frame *f = &ev->ring[ev->head % RING_SLOTS];

		if (frame_set_json(f, notice_json(&ev->drain[i])) == 0)
			ev->head++;
	}
	if (ev->clients)
		lws_callback_on_writable_all_protocol(ev->ctx, ev->protocol);
}

static json_t *meters_json(struct events *ev)
{
	struct engine_status st;
	json_t *j, *arr;
	size_t i, n;

	n = engine_list_nodes(ev->e, ev->nodes, ev->nodes_cap);
	if (n > ev->nodes_cap) {
		struct engine_node_info *bigger = realloc(ev->nodes, (n + 16) * sizeof(*bigger));

		if (bigger) {
			ev->nodes = bigger;
			ev->nodes_cap = n + 16;
			n = engine_list_nodes(ev->e, ev->nodes, ev->nodes_cap);
		}
		if (n > ev->nodes_cap)
			n = ev->nodes_cap;
	}
	engine_get_status(ev->e, &st);
	arr = json_array();
	for (i = 0; i < n; i++) {
		const struct engine_node_info *ni = &ev->nodes[i];

		json_array_append_new(arr, json_pack("{s:I,s:[o,o],s:[o,o]}",
			"id", (json_int_t)ni->id,
			"peak_dbfs", api_dbfs_json(ni->peak[0]), api_dbfs_json(ni->peak[1]),
			"rms_dbfs", api_dbfs_json(ni->rms[0]), api_dbfs_json(ni->rms[1])));
	}
	j = json_pack("{s:s,s:I,s:I,s:I,s:f,s:o}", "type", "meters",
		      "time_us", (json_int_t)history_now_us(), "cycles", (json_int_t)st.cycles,
		      "xruns", (json_int_t)st.xruns, "dsp_load", (double)st.dsp_load,
		      "nodes", arr);
	return j;
}

static void meter_tick(lws_sorted_usec_list_t *sul)
{
	struct events *ev = lws_container_of(sul, struct events, sul);
	lws_usec_t now = lws_now_usecs();

	if (ev->clients && frame_set_json(&ev->meter, meters_json(ev)) == 0) {
		ev->meter_seq++;
		ev->meter_frames++;
		lws_callback_on_writable_all_protocol(ev->ctx, ev->protocol);
	}
	ev->next_tick += ev->tick_us;
	if (ev->next_tick < now)	/* we were late: do not try to catch up */
		ev->next_tick = now + ev->tick_us;
	lws_sul_schedule(ev->ctx, 0, &ev->sul, meter_tick, ev->next_tick - now);
}

static int send_frame(struct lws *wsi, const struct frame *f)
{
	int n = lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);

	return n < (int)f->len ? -1 : 0;
}

static int send_hello(struct events *ev, struct lws *wsi)
{
	struct engine_status st;
	struct frame f = { 0 };
	int rc;

	engine_get_status(ev->e, &st);
	if (frame_set_json(&f, json_pack("{s:s,s:s,s:i,s:i}", "type", "hello", "version",
					 AIRMIX_VERSION, "rate", (int)st.rate, "period",
					 (int)st.period)))
		return -1;
	rc = send_frame(wsi, &f);
	free(f.buf);
	return rc;
}

/* One frame per writable callback: hello, then events, then the newest meters. */
static int client_writable(struct events *ev, struct lws *wsi, struct ws_client *cl)
{
	uint64_t oldest = ev->head > RING_SLOTS ? ev->head - RING_SLOTS : 0;

	if (!cl->hello_sent) {
		cl->hello_sent = true;
		if (send_hello(ev, wsi))
			return -1;
	} else if (cl->next_event < ev->head) {
		if (cl->next_event < oldest) {
			ev->lag_dropped += oldest - cl->next_event;
			cl->next_event = oldest;
		}
		if (send_frame(wsi, &ev->ring[cl->next_event % RING_SLOTS]))
			return -1;
		cl->next_event++;
		ev->events_sent++;
	} else if (cl->meter_seq < ev->meter_seq && ev->meter.len) {
		/* frames this client was too slow for */
		ev->meters_skipped += ev->meter_seq - cl->meter_seq - 1;
		cl->meter_seq = ev->meter_seq;
		if (send_frame(wsi, &ev->meter))
			return -1;
	}
	if (cl->next_event < ev->head || cl->meter_seq < ev->meter_seq)
		lws_callback_on_writable(wsi);
	return 0;
}

int events_callback(struct events *ev, struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct ws_client *cl = user;

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		drain_inbox(ev);
		return 0;
	case LWS_CALLBACK_ESTABLISHED: {
		int sndbuf = CLIENT_SNDBUF;

		setsockopt(lws_get_socket_fd(wsi), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		memset(cl, 0, sizeof(*cl));
		cl->next_event = ev->head;
		cl->meter_seq = ev->meter_seq;
		cl->counted = true;
		ev->clients++;
		lws_callback_on_writable(wsi);
		return 0;
	}
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return client_writable(ev, wsi, cl);
	case LWS_CALLBACK_CLOSED:
		if (cl && cl->counted) {
			ev->clients--;
			ev->meters_skipped += ev->meter_seq - cl->meter_seq;
		}
		if (cl)
			cl->counted = false;
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}
