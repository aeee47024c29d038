/* media.c - the remote-track media layer: UDP sockets, the media thread,
 * binding packets to tracks, and the API of media.h.
 *
 * DESIGN
 * Each published track has its own UDP socket on an even port of [rtp]
 * port_min..port_max (the odd port above is left for the sender's RTCP),
 * bound to bind_address, and a source node of kind "remote" in the graph
 * whose render callback reads the track's PCM ring (track.h).
 *
 * One media thread does everything off RT, under the media lock, in passes
 * every 5 ms; between passes it sleeps on an eventfd (API wake-ups) with a
 * timeout, never woken by a datagram: a wake-up per arrival would cost
 * tracks x 50 wake-ups a second. A pass asks an epoll set of the track
 * sockets (timeout 0) which hold datagrams, reads them in batches
 * (recvmmsg, bounded per socket), each with the kernel's arrival time
 * (SO_TIMESTAMPNS, so the jitter estimate never sees the pass's pacing),
 * binds each to the track (SSRC and source address, latched on the first
 * packet when the publisher did not name them; one dynamic payload type)
 * and hands it to the track. Then it tops up every track's PCM ring to
 * what the engine will pull before the next pass (two periods and 10 ms,
 * up to 20 ms more while RT finds rings short: adapt_ahead), and encodes
 * and sends every return's whole frames (mixminus.h). With no track and no
 * return it sleeps until an API call. Whatever does not belong to a track
 * is dropped, counted, and reported at most every 10 s per track
 * (ENGINE_RTP_DROPPED).
 *
 * API calls take the same lock, so they wait at most one pass. The lock is
 * never held while calling out of this layer except into the engine's node
 * and tap API (which never calls back here), so rooms may call in while
 * holding its own lock.
 *
 * The media thread runs at nice -10 when the system allows it (the rings are
 * short: a late pass is an underrun), but never real-time: a flood of
 * datagrams must not starve the machine.
 *
 * Threads: API functions on any non-RT thread; the media thread is
 * internal; track_render (RT) only touches each track's ring and atomics.
 */
#include "media.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "mixminus.h"
#include "rtp.h"
#include "track.h"

#define PASS_MS 5
#define RECV_BURST 256		/* datagrams read per socket and pass */
#define RECV_BATCH 8		/* datagrams per recvmmsg call */
#define DATAGRAM_MAX 2048
#define REPORT_EVERY_S 10.0
#define RETURN_RING_S 1		/* tap ring of a return */
#define RETURNS_BETWEEN_TOP_UPS 4	/* under 1 ms of encoding here */
#define TRACK_RING_FRAMES 16384u
#define DEFAULT_PT 111
#define MEDIA_NICE -10
#define AHEAD_STEP_MS 5		/* added to the audio decoded ahead after a late pass */
#define AHEAD_EXTRA_MAX_MS 20
#define AHEAD_QUIET_S 60.0	/* without a late pass: a step back down */

struct media_track {
	uint32_t id;
	uint32_t node_id;
	int fd;
	uint16_t port;
	struct rtc_track_spec spec;
	bool ssrc_bound, from_bound, pt_bound;
	uint32_t ssrc;
	struct sockaddr_storage from;
	uint8_t pt;
	struct track *t;
	uint64_t dropped;		/* binding: wrong source, SSRC, type; not RTP */
	uint64_t dropped_reported;
	double last_report;
	uint64_t underruns_reported;
	uint64_t underruns_seen;	/* by adapt_ahead */
};

struct media_return {
	uint32_t id;
	struct rtc_return_spec spec;
	struct tap *tap;
	struct mixminus *mm;
	uint64_t errors_reported;
	double last_report;
};

struct rtc_media {
	struct engine *e;
	const struct airmix_config *cfg;
	uint32_t rate, period;
	struct sockaddr_storage bind;	/* bind_address, port 0 */
	socklen_t bind_len;
	pthread_mutex_t lock;
	pthread_cond_t pass_cond;
	pthread_t thread;
	bool thread_started;
	bool quit;
	uint64_t passes;
	uint64_t sync_until;	/* rtc_media_sync: pass at once until this many passes */
	uint32_t ahead_extra;		/* frames ring_target adds for late passes (adapt_ahead) */
	double ahead_changed;		/* when ahead_extra last moved, or a pass was late */
	int epfd;			/* the track sockets */
	int wake_fd;			/* API calls wake the media thread */
	int send_fd[2];			/* unbound-port senders: IPv4, IPv6 */
	struct media_track **tracks;
	uint32_t n_tracks, cap_tracks;
	struct media_return **returns;
	uint32_t n_returns, cap_returns;
	uint32_t next_track_id, next_return_id;
	uint32_t next_port;		/* where the search for a free port starts */
	/* the media thread's sending context */
	int cur_fd;
	const struct sockaddr_storage *cur_to;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double realtime_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static socklen_t addr_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static uint16_t addr_port(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
	return ntohs(((const struct sockaddr_in *)a)->sin_port);
}

static void set_port(struct sockaddr_storage *a, uint16_t port)
{
	if (a->ss_family == AF_INET6)
		((struct sockaddr_in6 *)a)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)a)->sin_port = htons(port);
}

static bool addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
	}
	return false;
}

static void addr_text(const struct sockaddr_storage *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (a->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, host, sizeof(host));
	else if (a->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, host,
			  sizeof(host));
	snprintf(buf, len, a->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, addr_port(a));
}

static int grow(void **array, uint32_t count, uint32_t *cap)
{
	uint32_t n = *cap ? 2 * *cap : 16;
	void *p;

	if (count < *cap)
		return 0;
	p = realloc(*array, n * sizeof(void *));
	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = n;
	return 0;
}

static struct media_track *find_track(struct rtc_media *m, uint32_t id)
{
	for (uint32_t i = 0; i < m->n_tracks; i++)
		if (m->tracks[i]->id == id)
			return m->tracks[i];
	return NULL;
}

static struct media_return *find_return(struct rtc_media *m, uint32_t id)
{
	for (uint32_t i = 0; i < m->n_returns; i++)
		if (m->returns[i]->id == id)
			return m->returns[i];
	return NULL;
}

/* ---- receiving (media thread, lock held) --------------------------------- */

static void subject_of(const struct media_track *mt, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", mt->spec.room, mt->spec.user);
}

/* Binds a parsed packet from `from` to the track; false: not this track's. */
static bool bind_packet(struct media_track *mt, const struct rtp_packet *p,
			const struct sockaddr_storage *from)
{
	bool from_ok = mt->from_bound ? addr_equal(&mt->from, from) : true;
	bool ssrc_ok = mt->ssrc_bound ? p->ssrc == mt->ssrc : true;
	bool pt_ok = mt->pt_bound ? p->payload_type == mt->pt
				  : p->payload_type >= 96 && p->payload_type <= 127;

	if (!from_ok || !ssrc_ok || !pt_ok)
		return false;
	/* latch what the publisher left open on the first packet that fits */
	if (!mt->from_bound) {
		mt->from = *from;
		mt->from_bound = true;
	}
	if (!mt->ssrc_bound) {
		mt->ssrc = p->ssrc;
		mt->ssrc_bound = true;
	}
	if (!mt->pt_bound) {
		mt->pt = p->payload_type;
		mt->pt_bound = true;
	}
	return true;
}

static void receive_datagram(struct media_track *mt, const uint8_t *buf, size_t len,
			     const struct sockaddr_storage *from, double now)
{
	struct rtp_packet p;

	if (rtp_parse(buf, len, &p) < 0 || !bind_packet(mt, &p, from)) {
		mt->dropped++;
		return;
	}
	track_receive(mt->t, &p, (uint32_t)(uint64_t)(now * TRACK_RTP_RATE), now);
}

/* When a datagram arrived on the monotonic clock, from its SO_TIMESTAMPNS
 * (realtime) control message; now when it has none or it lies ahead. */
static double arrival_time(struct msghdr *h, double now, double realtime_now)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		struct timespec ts;
		double ago;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		memcpy(&ts, CMSG_DATA(c), sizeof(ts));
		ago = realtime_now - ((double)ts.tv_sec + ts.tv_nsec * 1e-9);
		return ago > 0.0 ? now - ago : now;
	}
	return now;
}

/* Reads what a ready socket holds, RECV_BATCH datagrams a call; a short
 * batch means drained (what comes after waits for the next pass). */
static void drain_socket(struct media_track *mt)
{
	uint8_t bufs[RECV_BATCH][DATAGRAM_MAX];
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec))];
		struct cmsghdr align;
	} control[RECV_BATCH];
	struct sockaddr_storage from[RECV_BATCH];
	struct iovec iov[RECV_BATCH];
	struct mmsghdr msgs[RECV_BATCH];

	for (int got = 0; got < RECV_BURST;) {
		int n;
		double now, realtime_now;

		for (int i = 0; i < RECV_BATCH; i++) {
			iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = DATAGRAM_MAX };
			msgs[i].msg_hdr = (struct msghdr){
				.msg_name = &from[i], .msg_namelen = sizeof(from[i]),
				.msg_iov = &iov[i], .msg_iovlen = 1,
				.msg_control = control[i].buf, .msg_controllen = sizeof(control[i].buf),
			};
		}
		n = recvmmsg(mt->fd, msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;	/* EAGAIN: drained; other errors are per-datagram (ICMP) */
		now = now_s();
		realtime_now = realtime_s();
		for (int i = 0; i < n; i++) {
			if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
				mt->dropped++;	/* truncated: never RTP/Opus we can use */
				continue;
			}
			receive_datagram(mt, bufs[i], msgs[i].msg_len, &from[i],
					 arrival_time(&msgs[i].msg_hdr, now, realtime_now));
		}
		got += n;
		if (n < RECV_BATCH)
			return;
	}
}

/* What a track's ring must hold after a pass: two periods and 10 ms (a pass
 * comes at least every 5 ms), and what late passes have added. */
static uint32_t ring_target(const struct rtc_media *m)
{
	return 2 * m->period + m->rate / 100 + m->ahead_extra;
}

/* Rate-limited reports of drops and underruns. */
static void report_track(struct rtc_media *m, struct media_track *mt, double now)
{
	struct rtc_track_stats st;
	char subject[2 * RTC_ID_MAX + 2];

	if (now - mt->last_report < REPORT_EVERY_S)
		return;
	mt->last_report = now;	/* looked at, reported or not */
	track_get_stats(mt->t, now, &st);
	if (mt->dropped == mt->dropped_reported && st.underruns == mt->underruns_reported)
		return;
	subject_of(mt, subject, sizeof(subject));
	if (mt->dropped != mt->dropped_reported)
		engine_report(m->e, AIRMIX_DOMAIN_ENGINE, ENGINE_RTP_DROPPED, subject, NULL,
			      "%llu datagram(s) on port %u were not this track's RTP/Opus (%llu in all)",
			      (unsigned long long)(mt->dropped - mt->dropped_reported), mt->port,
			      (unsigned long long)mt->dropped);
	if (st.underruns != mt->underruns_reported)
		engine_report(m->e, AIRMIX_DOMAIN_ENGINE, ENGINE_SOURCE_UNDERRUN, subject, NULL,
			      "remote track %u: %llu engine cycle(s) found no audio ready (a media "
			      "pass came late); now decoding %.1f ms ahead",
			      mt->id, (unsigned long long)(st.underruns - mt->underruns_reported),
			      ring_target(m) * 1000.0 / m->rate);
	mt->dropped_reported = mt->dropped;
	mt->underruns_reported = st.underruns;
}

/* ---- returns (media thread, lock held) ----------------------------------- */

static int send_packet(void *user, const uint8_t *packet, size_t len)
{
	struct rtc_media *m = user;

	if (sendto(m->cur_fd, packet, len, MSG_DONTWAIT, (const struct sockaddr *)m->cur_to,
		   addr_len(m->cur_to)) < 0)
		return -errno;
	return 0;
}

/* Where a return goes: its own address, else its guest's source. */
static const struct sockaddr_storage *return_dest(struct rtc_media *m, struct media_return *r,
						  int *fd)
{
	struct media_track *mt = r->spec.track_id ? find_track(m, r->spec.track_id) : NULL;
	const struct sockaddr_storage *to = &r->spec.to;

	if (to->ss_family == AF_UNSPEC) {
		if (!mt || !mt->from_bound)
			return NULL;
		to = &mt->from;
	}
	/* symmetric RTP: from the guest's own track port when it has one */
	if (mt && r->spec.source == RTC_RETURN_MIX_MINUS && m->bind.ss_family == to->ss_family)
		*fd = mt->fd;
	else
		*fd = m->send_fd[to->ss_family == AF_INET6];
	return *fd >= 0 ? to : NULL;
}

static void pump_return(struct rtc_media *m, struct media_return *r, double now)
{
	int fd = -1;
	const struct sockaddr_storage *to = return_dest(m, r, &fd);
	uint64_t errors;
	char where[64];

	if (!to) {
		/* nowhere to send yet: keep the tap from filling */
		float sink[2 * 256];

		while (tap_read(r->tap, sink, 256) > 0)
			;
		return;
	}
	m->cur_fd = fd;
	m->cur_to = to;
	mixminus_pump(r->mm, send_packet, m, 64);
	errors = mixminus_send_errors(r->mm);
	if (errors != r->errors_reported && now - r->last_report >= REPORT_EVERY_S) {
		addr_text(to, where, sizeof(where));
		engine_report(m->e, AIRMIX_DOMAIN_ENGINE, ENGINE_RTP_SEND_FAILED, where, NULL,
			      "return %u: %llu packet(s) to %s could not be sent", r->id,
			      (unsigned long long)(errors - r->errors_reported), where);
		r->errors_reported = errors;
		r->last_report = now;
	}
}

/* ---- the media thread ---------------------------------------------------- */

/* A ring that RT found short means a pass came too late for it: this
 * machine holds the media thread off longer than the rings allow (a loaded
 * or stolen CPU). Every such pass decodes AHEAD_STEP_MS more ahead, up to
 * AHEAD_EXTRA_MAX_MS; after AHEAD_QUIET_S without one, a step comes off. */
static void adapt_ahead(struct rtc_media *m, double now)
{
	const uint32_t step = m->rate * AHEAD_STEP_MS / 1000;
	const uint32_t max = m->rate * AHEAD_EXTRA_MAX_MS / 1000;
	bool late = false;

	for (uint32_t i = 0; i < m->n_tracks; i++) {
		uint64_t u = track_underruns(m->tracks[i]->t);

		late |= u != m->tracks[i]->underruns_seen;
		m->tracks[i]->underruns_seen = u;
	}
	if (late) {
		m->ahead_extra = m->ahead_extra + step < max ? m->ahead_extra + step : max;
		m->ahead_changed = now;
	} else if (m->ahead_extra && now - m->ahead_changed >= AHEAD_QUIET_S) {
		m->ahead_extra = m->ahead_extra > step ? m->ahead_extra - step : 0;
		m->ahead_changed = now;
	}
}

/* Reads every track socket that holds datagrams. epoll is level-triggered:
 * a socket left with more than RECV_BURST comes back in the next round. */
static void receive_ready(struct rtc_media *m)
{
	struct epoll_event ev[64];
	uint32_t rounds = m->n_tracks / 64 + 1;

	for (uint32_t r = 0; r < rounds; r++) {
		int n = epoll_wait(m->epfd, ev, 64, 0);

		for (int i = 0; i < n; i++) {
			struct media_track *mt = find_track(m, ev[i].data.u32);

			if (mt)
				drain_socket(mt);
		}
		if (n < 64)
			return;
	}
}

/* Tops up every track's ring (a track already full costs a fill check). */
static void top_up_tracks(struct rtc_media *m)
{
	for (uint32_t i = 0; i < m->n_tracks; i++)
		track_pump(m->tracks[i]->t, ring_target(m));
}

/* Tops up every track's ring and sends every return's whole frames. All
 * returns' frames complete in the same pass (they tap the same bus), and
 * encoding them takes over 10 ms at 64 returns here: the tracks are topped
 * up again after every RETURNS_BETWEEN_TOP_UPS returns, so that the burst
 * never starves them. */
static void pump_all(struct rtc_media *m, double now)
{
	top_up_tracks(m);
	for (uint32_t i = 0; i < m->n_tracks; i++)
		report_track(m, m->tracks[i], now);
	for (uint32_t i = 0; i < m->n_returns; i++) {
		pump_return(m, m->returns[i], now);
		if ((i + 1) % RETURNS_BETWEEN_TOP_UPS == 0 && i + 1 < m->n_returns)
			top_up_tracks(m);
	}
}

/* Sleeps until an API call, or the next pass when there is one to run. */
static void wait_for_pass(struct rtc_media *m, double until, bool pass_due)
{
	struct pollfd pfd = { .fd = m->wake_fd, .events = POLLIN };
	double wait = until - now_s();
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 0 };

	if (wait > 0.0) {
		ts.tv_sec = (time_t)wait;
		ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
	}
	if (ppoll(&pfd, 1, pass_due ? &ts : NULL, NULL) > 0) {
		uint64_t v;

		(void)!read(m->wake_fd, &v, sizeof(v));
	}
}

/* A pass every PASS_MS (at once while rtc_media_sync waits): read what the
 * sockets hold, top up the tracks, send the returns. */
static void *media_main(void *arg)
{
	struct rtc_media *m = arg;
	double next_pass = now_s();

	(void)!pthread_setname_np(pthread_self(), "airmix-media");
	/* ahead of ordinary threads, never real-time (a flood of datagrams must
	 * not starve the machine); without the right, run as is */
	(void)!setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), MEDIA_NICE);
	for (;;) {
		double now = now_s();
		bool idle, syncing;

		pthread_mutex_lock(&m->lock);
		if (m->quit) {
			pthread_mutex_unlock(&m->lock);
			break;
		}
		if (now >= next_pass || m->passes < m->sync_until) {
			adapt_ahead(m, now);
			receive_ready(m);
			pump_all(m, now);
			m->passes++;
			/* keep the phase; after a stall, start again from now */
			next_pass = next_pass + PASS_MS * 1e-3 > now ? next_pass + PASS_MS * 1e-3
								     : now + PASS_MS * 1e-3;
			pthread_cond_broadcast(&m->pass_cond);
		}
		syncing = m->passes < m->sync_until;
		idle = !m->n_tracks && !m->n_returns;
		pthread_mutex_unlock(&m->lock);
		if (!syncing)
			wait_for_pass(m, next_pass, !idle);
	}
	return NULL;
}

static void wake(struct rtc_media *m)
{
	uint64_t one = 1;

	(void)!write(m->wake_fd, &one, sizeof(one));
}

void rtc_media_sync(struct rtc_media *m)
{
	uint64_t target;

	pthread_mutex_lock(&m->lock);
	target = m->passes + 2;	/* a whole pass that began after this call */
	if (m->sync_until < target)
		m->sync_until = target;
	wake(m);
	while (m->passes < target && m->thread_started && !m->quit)
		pthread_cond_wait(&m->pass_cond, &m->lock);
	pthread_mutex_unlock(&m->lock);
}

/* ---- create/destroy ------------------------------------------------------ */

static int parse_bind(struct rtc_media *m, const char *addr, char *err, size_t errlen)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)&m->bind;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&m->bind;

	memset(&m->bind, 0, sizeof(m->bind));
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
	} else {
		snprintf(err, errlen, "[rtp] bind_address: \"%s\" is not an IPv4 or IPv6 address",
			 addr);
		return -EINVAL;
	}
	m->bind_len = addr_len(&m->bind);
	return 0;
}

static int check_config(const struct airmix_config *cfg, char *err, size_t errlen)
{
	if (cfg->rtp_port_max <= cfg->rtp_port_min) {
		snprintf(err, errlen, "[rtp] port_max (%d) must be above port_min (%d)",
			 cfg->rtp_port_max, cfg->rtp_port_min);
		return -EINVAL;
	}
	if (cfg->rtp_jitter_max_ms < cfg->rtp_jitter_min_ms + 20) {
		snprintf(err, errlen, "[rtp] jitter_max_ms (%d) must be at least jitter_min_ms "
			 "(%d) + 20", cfg->rtp_jitter_max_ms, cfg->rtp_jitter_min_ms);
		return -EINVAL;
	}
	return 0;
}

static int open_sender(struct rtc_media *m, int family)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd >= 0 && family == m->bind.ss_family) {
		/* from bind_address, so that guests see one address */
		if (bind(fd, (const struct sockaddr *)&m->bind, m->bind_len) < 0) {
			close(fd);
			fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		}
	}
	return fd;
}

int rtc_media_create(struct engine *e, struct rtc_media **out, char *err, size_t errlen)
{
	const struct airmix_config *cfg = engine_config(e);
	struct engine_status st;
	struct rtc_media *m;
	int ret;

	ret = check_config(cfg, err, errlen);
	if (ret < 0)
		return ret;
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->e = e;
	m->cfg = cfg;
	m->epfd = m->wake_fd = m->send_fd[0] = m->send_fd[1] = -1;
	m->next_track_id = m->next_return_id = 1;
	m->next_port = (uint32_t)(cfg->rtp_port_min + (cfg->rtp_port_min & 1));
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->pass_cond, NULL);
	engine_get_status(e, &st);
	m->rate = st.rate ? st.rate : (uint32_t)cfg->sample_rate;
	m->period = st.period ? st.period : (uint32_t)cfg->period_frames;
	ret = parse_bind(m, cfg->rtp_bind_address, err, errlen);
	if (ret < 0)
		goto out_fail;
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->send_fd[0] = open_sender(m, AF_INET);
	m->send_fd[1] = open_sender(m, AF_INET6);
	if (m->epfd < 0 || m->wake_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot set up the media thread's epoll: %s", strerror(errno));
		goto out_fail;
	}
	if (pthread_create(&m->thread, NULL, media_main, m) != 0) {
		ret = -EAGAIN;
		snprintf(err, errlen, "cannot start the media thread");
		goto out_fail;
	}
	m->thread_started = true;
	*out = m;
	return 0;

out_fail:
	rtc_media_destroy(m);
	return ret;
}

static void free_return(struct rtc_media *m, struct media_return *r)
{
	mixminus_destroy(r->mm);
	if (r->tap)
		engine_tap_close(m->e, r->tap);
	free(r);
}

static void free_track(struct rtc_media *m, struct media_track *mt)
{
	if (mt->fd >= 0) {
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, mt->fd, NULL);
		close(mt->fd);
	}
	if (mt->node_id)
		engine_remove_node(m->e, mt->node_id);	/* frees the ring once RT is done */
	else if (mt->t)
		track_out_free(track_output(mt->t));	/* never reached the graph */
	track_destroy(mt->t);
	free(mt);
}

void rtc_media_destroy(struct rtc_media *m)
{
	if (!m)
		return;
	if (m->thread_started) {
		pthread_mutex_lock(&m->lock);
		m->quit = true;
		pthread_cond_broadcast(&m->pass_cond);
		pthread_mutex_unlock(&m->lock);
		wake(m);
		pthread_join(m->thread, NULL);
	}
	for (uint32_t i = 0; i < m->n_returns; i++)
		free_return(m, m->returns[i]);
	for (uint32_t i = 0; i < m->n_tracks; i++)
		free_track(m, m->tracks[i]);
	free(m->returns);
	free(m->tracks);
	for (int i = 0; i < 2; i++)
		if (m->send_fd[i] >= 0)
			close(m->send_fd[i]);
	if (m->wake_fd >= 0)
		close(m->wake_fd);
	if (m->epfd >= 0)
		close(m->epfd);
	pthread_cond_destroy(&m->pass_cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* ---- tracks -------------------------------------------------------------- */

static int validate_spec(const struct rtc_track_spec *spec)
{
	if (!spec->room[0] || !spec->user[0] || memchr(spec->room, 0, sizeof(spec->room)) == NULL ||
	    memchr(spec->user, 0, sizeof(spec->user)) == NULL)
		return -EINVAL;
	if (spec->channels != 1 && spec->channels != 2)
		return -EINVAL;
	if (spec->buses & ~(ENGINE_TO_PUBLISH | ENGINE_TO_PLAYOUT))
		return -EINVAL;
	if (!(spec->gain >= 0.0f && spec->gain <= ENGINE_GAIN_MAX))
		return -EINVAL;
	if (spec->from_set && spec->from.ss_family != AF_INET && spec->from.ss_family != AF_INET6)
		return -EINVAL;
	return 0;
}

/* A UDP socket on a free even port of the range; -ENOSPC when none. */
static int open_track_socket(struct rtc_media *m, uint16_t *port)
{
	uint32_t lo = (uint32_t)(m->cfg->rtp_port_min + (m->cfg->rtp_port_min & 1));
	uint32_t hi = (uint32_t)m->cfg->rtp_port_max;
	uint32_t count = hi >= lo ? (hi - lo) / 2 + 1 : 0;

	for (uint32_t k = 0; k < count; k++) {
		uint32_t p = m->next_port + 2 * k;
		struct sockaddr_storage a = m->bind;
		int fd, rcvbuf = 1 << 20, on = 1;

		if (p > hi)
			p = lo + (p - lo) % (2 * count);
		fd = socket(m->bind.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -errno;
		set_port(&a, (uint16_t)p);
		if (bind(fd, (const struct sockaddr *)&a, m->bind_len) == 0) {
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
			setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
			*port = (uint16_t)p;
			/* next time start after it: a port just freed is not reused at once */
			m->next_port = p + 2 > hi ? lo : p + 2;
			return fd;
		}
		close(fd);
		if (errno != EADDRINUSE && errno != EACCES)
			return -errno;
	}
	return -ENOSPC;
}

int rtc_media_publish(struct rtc_media *m, const struct rtc_track_spec *spec,
		      uint32_t *track_id, uint32_t *node_id, struct rtc_endpoint *ep)
{
	const struct airmix_config *cfg = m->cfg;
	struct track_config tc = {
		.rate = m->rate,
		.channels = spec->channels,
		.jitter_min = (uint32_t)cfg->rtp_jitter_min_ms * (TRACK_RTP_RATE / 1000),
		.jitter_max = (uint32_t)cfg->rtp_jitter_max_ms * (TRACK_RTP_RATE / 1000),
		.drift_max = cfg->rtp_drift_max_ppm * 1e-6,
		.ring_frames = TRACK_RING_FRAMES,
	};
	struct engine_source src = {
		.kind = "remote",
		.channels = spec->channels,
		.buses = spec->buses,
		.gain = spec->gain,
		.bus_gain = { 1.0f, 1.0f },
		.render = track_render,
		.release = track_out_free,
	};
	struct media_track *mt;
	struct epoll_event ev = { .events = EPOLLIN };
	char name[ENGINE_NAME_MAX];
	int ret;

	ret = validate_spec(spec);
	if (ret < 0)
		return ret;
	mt = calloc(1, sizeof(*mt));
	if (!mt)
		return -ENOMEM;
	mt->fd = -1;
	mt->spec = *spec;
	mt->ssrc = spec->ssrc;
	mt->ssrc_bound = spec->ssrc != 0;
	mt->from = spec->from;
	mt->from_bound = spec->from_set;
	ret = track_create(&tc, &mt->t);
	if (ret < 0) {
		free(mt);
		return ret;
	}
	pthread_mutex_lock(&m->lock);
	ret = grow((void **)&m->tracks, m->n_tracks, &m->cap_tracks);
	if (ret == 0) {
		ret = open_track_socket(m, &mt->port);
		if (ret >= 0) {
			mt->fd = ret;
			ret = 0;
		}
	}
	if (ret < 0)
		goto out_unlock;
	snprintf(name, sizeof(name), "%.31s@%.31s", spec->user, spec->room);
	src.name = name;
	src.state = track_output(mt->t);
	ret = engine_add_source(m->e, &src, &mt->node_id);
	if (ret < 0)
		goto out_unlock;
	mt->id = m->next_track_id++;
	ev.data.u32 = mt->id;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, mt->fd, &ev) < 0) {
		ret = -errno;
		goto out_unlock;
	}
	m->tracks[m->n_tracks++] = mt;
	wake(m);	/* it may be waiting without a timeout: nothing to pump */
	*track_id = mt->id;
	if (node_id)
		*node_id = mt->node_id;
	if (ep) {
		memset(ep, 0, sizeof(*ep));
		ep->addr = m->bind;
		set_port(&ep->addr, mt->port);
		ep->port = mt->port;
	}
	pthread_mutex_unlock(&m->lock);
	return 0;

out_unlock:
	pthread_mutex_unlock(&m->lock);
	free_track(m, mt);
	return ret == -EADDRINUSE ? -ENOSPC : ret;
}

int rtc_media_unpublish(struct rtc_media *m, uint32_t track_id)
{
	struct media_track *mt = NULL;

	pthread_mutex_lock(&m->lock);
	for (uint32_t i = 0; i < m->n_tracks; i++) {
		if (m->tracks[i]->id == track_id) {
			mt = m->tracks[i];
			m->tracks[i] = m->tracks[--m->n_tracks];
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (!mt)
		return -ENOENT;
	free_track(m, mt);
	return 0;
}

int rtc_media_track_stats(struct rtc_media *m, uint32_t track_id, struct rtc_track_stats *st)
{
	struct media_track *mt;
	int ret = -ENOENT;

	pthread_mutex_lock(&m->lock);
	mt = find_track(m, track_id);
	if (mt) {
		track_get_stats(mt->t, now_s(), st);
		st->dropped += mt->dropped;
		st->ahead_ms = ring_target(m) * 1000.0 / m->rate;
		ret = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

/* ---- returns ------------------------------------------------------------- */

static uint32_t random_ssrc(void)
{
	uint32_t v = 0;

	while (v == 0)
		if (getrandom(&v, sizeof(v), 0) != sizeof(v))
			v = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	return v;
}

static int open_return_tap(struct rtc_media *m, const struct rtc_return_spec *spec,
			   struct tap **tap)
{
	uint32_t frames = m->rate * RETURN_RING_S;
	struct media_track *mt = NULL;
	uint32_t node = 0;

	if (spec->track_id) {
		pthread_mutex_lock(&m->lock);
		mt = find_track(m, spec->track_id);
		node = mt ? mt->node_id : 0;
		pthread_mutex_unlock(&m->lock);
		if (!mt)
			return -ENOENT;
	}
	switch (spec->source) {
	case RTC_RETURN_MIX_MINUS:
		return engine_tap_open_minus(m->e, ENGINE_BUS_PUBLISH, node, frames, tap);
	case RTC_RETURN_TALKBACK:
		return engine_tap_open_minus(m->e, ENGINE_BUS_PLAYOUT, node, frames, tap);
	case RTC_RETURN_TRACK:
		return node ? engine_tap_open(m->e, node, frames, tap) : -EINVAL;
	case RTC_RETURN_PROGRAMME:
		return engine_tap_open(m->e, ENGINE_BUS_PUBLISH, frames, tap);
	}
	return -EINVAL;
}

int rtc_media_return_open(struct rtc_media *m, const struct rtc_return_spec *spec,
			  uint32_t *return_id)
{
	const struct airmix_config *cfg = m->cfg;
	struct mixminus_config mc = {
		.rate = m->rate,
		.bitrate = cfg->rtp_return_bitrate_kbps * 1000,
		.complexity = cfg->rtp_return_complexity,
		.fec = cfg->rtp_return_fec,
		.channels = (uint32_t)cfg->rtp_return_channels,
		.ssrc = spec->ssrc ? spec->ssrc : random_ssrc(),
		.payload_type = spec->payload_type ? spec->payload_type : DEFAULT_PT,
	};
	struct media_return *r;
	int ret;

	if (spec->source > RTC_RETURN_TALKBACK || spec->payload_type > 127 ||
	    (spec->to.ss_family != AF_INET && spec->to.ss_family != AF_INET6 &&
	     !(spec->to.ss_family == AF_UNSPEC && spec->track_id)) ||
	    (spec->to.ss_family != AF_UNSPEC && addr_port(&spec->to) == 0))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->spec = *spec;
	ret = open_return_tap(m, spec, &r->tap);
	if (ret < 0) {
		free(r);
		return ret;
	}
	ret = mixminus_create(&mc, r->tap, &r->mm);
	if (ret < 0)
		goto out_free;
	pthread_mutex_lock(&m->lock);
	ret = grow((void **)&m->returns, m->n_returns, &m->cap_returns);
	if (ret == 0) {
		r->id = m->next_return_id++;
		m->returns[m->n_returns++] = r;
		*return_id = r->id;
	}
	pthread_mutex_unlock(&m->lock);
	if (ret == 0) {
		wake(m);
		return 0;
	}
out_free:
	free_return(m, r);
	return ret;
}

int rtc_media_return_close(struct rtc_media *m, uint32_t return_id)
{
	struct media_return *r = NULL;

	pthread_mutex_lock(&m->lock);
	for (uint32_t i = 0; i < m->n_returns; i++) {
		if (m->returns[i]->id == return_id) {
			r = m->returns[i];
			m->returns[i] = m->returns[--m->n_returns];
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (!r)
		return -ENOENT;
	free_return(m, r);
	return 0;
}

int rtc_media_return_set_source(struct rtc_media *m, uint32_t return_id,
				enum rtc_return_source source)
{
	struct rtc_return_spec spec;
	struct media_return *r;
	struct tap *tap = NULL, *old = NULL;
	int ret;

	if (source != RTC_RETURN_MIX_MINUS && source != RTC_RETURN_TALKBACK)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	r = find_return(m, return_id);
	spec = r ? r->spec : (struct rtc_return_spec){ 0 };
	pthread_mutex_unlock(&m->lock);
	if (!r)
		return -ENOENT;
	if (spec.source != RTC_RETURN_MIX_MINUS && spec.source != RTC_RETURN_TALKBACK)
		return -EINVAL;
	spec.source = source;
	ret = open_return_tap(m, &spec, &tap);
	if (ret < 0)
		return ret;
	/* the media thread pumps returns under the lock: it sees one tap or
	 * the other, never half a change */
	pthread_mutex_lock(&m->lock);
	r = find_return(m, return_id);
	if (r) {
		old = r->tap;
		r->tap = tap;
		r->spec.source = source;
		mixminus_set_tap(r->mm, tap);
	}
	pthread_mutex_unlock(&m->lock);
	engine_tap_close(m->e, r ? old : tap);
	return r ? 0 : -ENOENT;
}

int rtc_media_return_stats(struct rtc_media *m, uint32_t return_id, struct rtc_return_stats *st)
{
	struct media_return *r;
	int ret = -ENOENT;

	pthread_mutex_lock(&m->lock);
	r = find_return(m, return_id);
	if (r) {
		mixminus_get_stats(r->mm, st);
		ret = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}
