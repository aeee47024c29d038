/* jitter.c - SpeexDSP's jitter buffer over a packet pool; see jitter.h.
 * Threads: one thread at a time per buffer. */
#include "jitter.h"

#include <errno.h>
#include <speex/speex_jitter.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* What is known of a held packet: small, so that the scans over every slot
 * touch a few cache lines, not the payloads. */
struct slot {
	bool used;
	uint16_t len;
	uint32_t ts;
	uint32_t span;
};

/* A payload as SpeexDSP holds it: data is what it is handed. */
struct packet {
	struct jitter *owner;
	uint32_t index;			/* its slot */
	uint8_t data[JITTER_PACKET_MAX];
};

struct jitter {
	JitterBuffer *jb;
	struct jitter_config cfg;
	struct slot *slots;
	struct packet *packets;		/* one per slot */
	uint32_t used;
	bool started;
	bool have_newest;
	uint32_t newest_end;	/* largest ts + span accepted since the last reset */
	struct jitter_counters counters;
	uint8_t frame[JITTER_PACKET_MAX];	/* the packet jitter_get handed out */
};

static struct packet *packet_of(void *data)
{
	return (struct packet *)((char *)data - offsetof(struct packet, data));
}

static void slot_free(struct jitter *j, uint32_t index)
{
	j->slots[index].used = false;
	j->used--;
}

/* SpeexDSP gives a packet back without playing it (stale, or flushed). */
static void on_destroy(void *data)
{
	struct packet *p = packet_of(data);

	p->owner->counters.discarded++;
	slot_free(p->owner, p->index);
}

/* The next held slot from *i on (the held ones are few, and sit at the low
 * indexes since a put takes the first free one), or NULL. */
static const struct slot *next_held(const struct jitter *j, uint32_t *i, uint32_t *seen)
{
	for (; *i < j->cfg.slots && *seen < j->used; (*i)++) {
		if (j->slots[*i].used) {
			(*seen)++;
			return &j->slots[(*i)++];
		}
	}
	return NULL;
}

int jitter_create(const struct jitter_config *cfg, struct jitter **out)
{
	struct jitter *j;
	spx_int32_t v;

	if (!cfg->step || !cfg->slots || cfg->slots > 4096)
		return -EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->cfg = *cfg;
	j->slots = calloc(cfg->slots, sizeof(*j->slots));
	j->packets = calloc(cfg->slots, sizeof(*j->packets));
	j->jb = jitter_buffer_init((int)cfg->step);
	if (!j->slots || !j->packets || !j->jb) {
		jitter_destroy(j);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < cfg->slots; i++) {
		j->packets[i].owner = j;
		j->packets[i].index = i;
	}
	jitter_buffer_ctl(j->jb, JITTER_BUFFER_SET_DESTROY_CALLBACK, (void *)on_destroy);
	v = (spx_int32_t)cfg->margin;
	jitter_buffer_ctl(j->jb, JITTER_BUFFER_SET_MARGIN, &v);
	*out = j;
	return 0;
}

void jitter_destroy(struct jitter *j)
{
	if (!j)
		return;
	if (j->jb)
		jitter_buffer_destroy(j->jb);	/* returns every held packet */
	free(j->slots);
	free(j->packets);
	free(j);
}

void jitter_reset(struct jitter *j)
{
	jitter_buffer_reset(j->jb);
	j->started = false;
	j->have_newest = false;
}

static bool before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

enum jitter_put_result jitter_put(struct jitter *j, const uint8_t *data, size_t len, uint32_t ts,
				  uint32_t span, uint16_t seq)
{
	JitterBufferPacket pkt = { 0 };
	struct slot *s = NULL;
	uint32_t ptr = jitter_pointer(j), index = 0;

	if (len > JITTER_PACKET_MAX)
		return JITTER_PUT_TOO_BIG;
	if (j->started && !before(ptr, ts + span)) {
		j->counters.late++;
		return JITTER_PUT_LATE;
	}
	for (uint32_t i = 0; i < j->cfg.slots; i++) {
		if (!j->slots[i].used) {
			s = &j->slots[i];
			index = i;
			break;
		}
	}
	if (!s) {
		j->counters.full++;
		return JITTER_PUT_FULL;
	}
	s->used = true;
	j->used++;
	s->ts = ts;
	s->span = span;
	s->len = (uint16_t)len;
	if (len)
		memcpy(j->packets[index].data, data, len);
	pkt.data = (char *)j->packets[index].data;
	pkt.len = (spx_uint32_t)len;
	pkt.timestamp = ts;
	pkt.span = span;
	pkt.sequence = seq;
	jitter_buffer_put(j->jb, &pkt);
	if (!j->have_newest || before(j->newest_end, ts + span))
		j->newest_end = ts + span;
	j->have_newest = true;
	return JITTER_PUT_OK;
}

/* How much to ask SpeexDSP for: at most a step, and no more than the
 * shortest packet overlapping the playout point holds from there, so that
 * whichever it returns covers what was asked (else it warns on stderr about
 * "negative buffering"; a sender with odd timestamps could flood the log). */
static uint32_t span_at(struct jitter *j, uint32_t ptr)
{
	uint32_t want = j->cfg.step, i = 0, seen = 0;
	const struct slot *s;

	while ((s = next_held(j, &i, &seen))) {
		uint32_t end = s->ts + s->span;

		if (!before(ptr, end) || !before(s->ts, ptr + j->cfg.step))
			continue;
		if (end - ptr < want)
			want = end - ptr;
	}
	return want;
}

/* Timestamp of the oldest packet held (where playout starts). */
static uint32_t oldest(const struct jitter *j)
{
	uint32_t ts = 0, i = 0, seen = 0;
	bool found = false;
	const struct slot *s;

	while ((s = next_held(j, &i, &seen))) {
		if (!found || before(s->ts, ts)) {
			ts = s->ts;
			found = true;
		}
	}
	return ts;
}

bool jitter_get(struct jitter *j, uint32_t span, struct jitter_frame *f)
{
	JitterBufferPacket pkt = { 0 };
	spx_int32_t offset = 0;
	uint32_t ptr0;
	int ret;

	memset(f, 0, sizeof(*f));
	if (!j->started && j->used == 0)
		return false;
	ptr0 = jitter_pointer(j);
	span = span_at(j, j->started ? ptr0 : oldest(j));
	ret = jitter_buffer_get(j->jb, &pkt, (spx_int32_t)span, &offset);
	if (!j->started) {
		j->started = true;
		ptr0 = pkt.timestamp - (ret == JITTER_BUFFER_OK ? (uint32_t)offset : 0);
	}
	f->ts = pkt.timestamp;
	f->span = pkt.span;
	f->seq = pkt.sequence;
	switch (ret) {
	case JITTER_BUFFER_OK: {
		struct packet *p = packet_of(pkt.data);

		f->kind = JITTER_FRAME;
		f->offset = offset;
		f->len = j->slots[p->index].len;
		memcpy(j->frame, p->data, f->len);
		f->data = j->frame;
		slot_free(j, p->index);
		return true;	/* the track plays from ptr0 to the packet's end */
	}
	case JITTER_BUFFER_INSERTION:
		f->kind = JITTER_INSERT;
		break;
	default:
		f->kind = JITTER_MISSING;
		break;
	}
	/* a forced insertion does not move the point: that is an adjustment */
	j->counters.adjusted += (int32_t)(jitter_pointer(j) - ptr0) - (int32_t)f->span;
	return true;
}

int32_t jitter_tick(struct jitter *j)
{
	uint32_t before_ptr = jitter_pointer(j);
	int32_t moved;

	jitter_buffer_tick(j->jb);
	moved = (int32_t)(jitter_pointer(j) - before_ptr);
	j->counters.adjusted += moved;
	return moved;
}

const uint8_t *jitter_peek(struct jitter *j, uint32_t ts, size_t *len)
{
	uint32_t i = 0, seen = 0;
	const struct slot *s;

	while ((s = next_held(j, &i, &seen))) {
		if (s->ts == ts) {
			*len = s->len;
			return j->packets[s - j->slots].data;
		}
	}
	return NULL;
}

bool jitter_started(const struct jitter *j)
{
	return j->started;
}

int32_t jitter_depth(const struct jitter *j)
{
	if (!j->have_newest)
		return 0;
	if (j->started)
		return (int32_t)(j->newest_end - jitter_pointer(j));
	return j->used ? (int32_t)(j->newest_end - oldest(j)) : 0;
}

uint32_t jitter_pointer(const struct jitter *j)
{
	return (uint32_t)jitter_buffer_get_pointer_timestamp(j->jb);
}

uint32_t jitter_count(const struct jitter *j)
{
	return j->used;
}

void jitter_get_counters(const struct jitter *j, struct jitter_counters *c)
{
	*c = j->counters;
}
