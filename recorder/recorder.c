/* recorder.c - disk takes: taps drained by a writer thread per take into
 * libsndfile files, crash-safe; see recorder.h for the design.
 *
 * Locking: one recorder mutex guards the take list, each take's state,
 * requests (stop, sync, stall) and its published info snapshot. Everything in
 * struct track, and the files, belong to the take's writer thread while it
 * runs; the control side touches them only after the writer has exited.
 *
 * Threads: public functions on any non-RT thread; writer_main() on the take's
 * writer thread.
 */
#include "recorder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sndfile.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "engine/history.h"
#include "engine/tap.h"

#define CHUNK_FRAMES 4096
#define POLL_MS 10
#define OVERRUN_REPORT_S 5.0
#define DISK_CHECK_S 0.5
#define STOP_WAIT_S 0.25
#define MAX_SUFFIX 1000
#define DEFAULT_TEMPLATE "%Y%m%d-%H%M%S-{track}"
#define LOGGER_PREFIX "logger-"
#define LOGGER_TEMPLATE LOGGER_PREFIX "%Y%m%d-%H%M%S-{track}"
#define LOGGER_MAX_FILES 8192

static _Thread_local char last_error[256];
static const float silence[CHUNK_FRAMES * 2];

struct track {
	uint32_t node_id;
	char name[ENGINE_NAME_MAX];
	struct tap *tap;
	int fd;
	SNDFILE *sf;
	char part[RECORDER_PATH_MAX];
	char final[RECORDER_PATH_MAX];
	uint64_t written;	/* stream frames written, silence included */
	uint64_t gap_left;	/* frames of the current gap still to write */
	uint64_t part_start;	/* stream frame the current file starts at */
	uint32_t part_no;	/* split takes: the current part, from 1 */
};

struct take {
	int id;
	struct recorder *r;
	pthread_t thread;
	bool joined;
	int users;		/* control calls waiting on it */
	/* under r->lock */
	enum take_state state;
	bool stop_req;
	uint32_t stall_ms;
	uint64_t sync_req, sync_done;
	bool sync_headers;
	struct take_info info;
	/* writer-owned */
	uint32_t n;
	struct track tracks[RECORDER_MAX_TRACKS];
	float *buf;
	char request[HISTORY_REQUEST_MAX];
	char subject[32];
	char sidecar[RECORDER_PATH_MAX];	/* markers CSV, named after the first file */
	char tmpl[RECORDER_PATH_MAX];		/* file name template */
	char description[256];			/* BWF description */
	uint64_t split;				/* frames per part, 0 = one file */
	uint64_t first_split;			/* logger: frames of part 1 */
	bool logger;
	uint32_t keep_days;
	uint64_t max_bytes;
	/* under r->lock: the files of finished parts, in the order they were finished */
	char (*done)[RECORDER_PATH_MAX];
	uint32_t n_done, cap_done;
	uint64_t reported_dropped;
	double last_overrun_report, last_header, last_disk;
	bool warned_low;
	bool sizes_due;		/* headers updated: publish file sizes */
};

struct recorder {
	struct engine *e;
	char dir[RECORDER_PATH_MAX];
	char name_template[RECORDER_PATH_MAX];
	uint32_t header_ms;
	uint32_t ring_ms;
	uint64_t warn_bytes, min_bytes;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_mutex_t mark_lock;	/* orders sidecar writes; taken before lock */
	struct take *takes[RECORDER_MAX_TAKES];
	uint32_t n_takes;
	int next_id;
};

/* ---- small helpers (any thread) ------------------------------------------ */

static void set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

const char *recorder_last_error(void)
{
	return last_error;
}

static void copy_text(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static double monotonic_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_ms(uint32_t ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void cond_wait_ms(struct recorder *r, uint32_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(&r->cond, &r->lock, &ts);
}

static uint64_t free_bytes(const char *dir)
{
	struct statvfs vfs;

	if (statvfs(dir, &vfs) < 0)
		return UINT64_MAX;	/* cannot tell: writes will say */
	return (uint64_t)vfs.f_bavail * vfs.f_frsize;
}

static void report(struct engine *e, int code, const char *subject, const char *request,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void report(struct engine *e, int code, const char *subject, const char *request,
		   const char *fmt, ...)
{
	char msg[HISTORY_MESSAGE_MAX];
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	engine_report(e, AIRMIX_DOMAIN_RECORDER, code, subject, request, "%s", msg);
}

const char *recorder_state_name(enum take_state s)
{
	switch (s) {
	case TAKE_RECORDING: return "recording";
	case TAKE_STOPPED: return "stopped";
	case TAKE_FAILED: return "failed";
	}
	return "unknown";
}

const char *recorder_format_name(enum recorder_format f)
{
	return f == RECORDER_FORMAT_FLAC ? "flac" : "wav";
}

int recorder_error_code(int rc)
{
	switch (rc) {
	case -ENOENT: return RECORDER_UNKNOWN_TRACK;
	case -EINVAL: return RECORDER_INVALID_FORMAT;
	case -E2BIG: return RECORDER_TOO_MANY_TRACKS;
	case -EBUSY: return RECORDER_TOO_MANY_TAKES;
	case -ENOSPC: return RECORDER_DISK_FULL;
	case -EALREADY: return RECORDER_NOT_RECORDING;
	case -EOVERFLOW: return RECORDER_TOO_MANY_MARKERS;
	default: return RECORDER_OPEN_FAILED;
	}
}

/* ---- WAV/RF64 header repair (any non-RT thread) -------------------------- */

static uint32_t le32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

struct wav_layout {
	bool rf64;
	off_t ds64;		/* offset of the ds64 chunk body, 0 = none */
	off_t junk;		/* offset of a leading JUNK chunk header, 0 = none */
	uint32_t junk_size;
	off_t fmt;		/* offset of the fmt chunk body */
	uint32_t fmt_size;
	off_t fact;		/* offset of a fact chunk header, 0 = none */
	uint32_t fact_size;
	off_t data;		/* offset of the data chunk body */
	uint32_t block_align;
};

/* Walks the chunks up to "data". 0, or -EINVAL when it is not a WAV we can
 * repair. */
static int wav_parse(int fd, off_t size, struct wav_layout *w)
{
	unsigned char h[24];
	off_t pos = 12;

	memset(w, 0, sizeof(*w));
	if (size < 12 || pread(fd, h, 12, 0) != 12 || memcmp(h + 8, "WAVE", 4))
		return -EINVAL;
	if (!memcmp(h, "RF64", 4))
		w->rf64 = true;
	else if (memcmp(h, "RIFF", 4))
		return -EINVAL;
	while (pos + 8 <= size) {
		uint32_t len;

		if (pread(fd, h, 8, pos) != 8)
			return -EIO;
		len = le32(h + 4);
		if (!memcmp(h, "data", 4)) {
			w->data = pos + 8;
			return w->block_align ? 0 : -EINVAL;
		}
		if (!memcmp(h, "ds64", 4))
			w->ds64 = pos + 8;
		if (!memcmp(h, "fact", 4)) {
			w->fact = pos;
			w->fact_size = len;
		}
		if (!memcmp(h, "JUNK", 4) && pos == 12) {
			w->junk = pos;
			w->junk_size = len;
		}
		if (!memcmp(h, "fmt ", 4)) {
			if (len < 16 || pread(fd, h + 8, 16, pos + 8) != 16)
				return -EINVAL;
			w->block_align = h[8 + 12] | (uint32_t)h[8 + 13] << 8;
			w->fmt = pos + 8;
			w->fmt_size = len;
		}
		pos += 8 + (off_t)len + (len & 1);
	}
	return -EINVAL;
}

/* A RIFF file's WAVE_FORMAT_EXTENSIBLE fmt chunk (what libsndfile's RF64
 * writer uses) becomes plain PCM or IEEE float, what BWF and simple readers
 * expect; the bytes it frees become a JUNK chunk, so nothing moves. */
static int wav_plain_fmt(int fd, const struct wav_layout *w)
{
	unsigned char f[40];
	uint32_t tag, plain;

	if (w->rf64 || w->fmt_size != 40 || pread(fd, f, 40, w->fmt) != 40)
		return 0;
	tag = f[24] | (uint32_t)f[25] << 8;	/* first bytes of the subformat GUID */
	if ((f[0] | (uint32_t)f[1] << 8) != 0xfffe || (tag != 1 && tag != 3))
		return 0;
	plain = tag == 1 ? 16 : 18;	/* float: cbSize 0 */
	f[0] = (unsigned char)tag;
	f[1] = 0;
	memset(f + 16, 0, sizeof(f) - 16);
	memcpy(f + plain, "JUNK", 4);
	put32(f + plain + 4, 40 - plain - 8);
	if (pwrite(fd, f, 40, w->fmt) != 40)
		return -EIO;
	put32(f, plain);
	return pwrite(fd, f, 4, w->fmt - 4) == 4 ? 0 : -EIO;
}

/* A RIFF file as libsndfile's RF64 writer starts it (JUNK of 24 bytes at 12,
 * fmt, fact of 4) becomes RF64 in the same bytes: ds64 (28), fmt, and an
 * empty JUNK where the fact chunk was. The ds64 sizes are filled in later. */
static int wav_to_rf64(int fd, struct wav_layout *w)
{
	unsigned char b[36 + 8 + 64 + 8];
	off_t fmt_end = w->fmt + w->fmt_size;

	if (w->junk != 12 || w->junk_size != 24 || w->fmt != 12 + 32 + 8 || w->fmt_size > 64 ||
	    (w->fmt_size & 1) || w->fact != fmt_end || w->fact_size != 4)
		return -EINVAL;
	memset(b, 0, sizeof(b));
	memcpy(b, "ds64", 4);
	put32(b + 4, 28);
	memcpy(b + 36, "fmt ", 4);
	put32(b + 40, w->fmt_size);
	if (pread(fd, b + 44, w->fmt_size, w->fmt) != (ssize_t)w->fmt_size)
		return -EIO;
	memcpy(b + 44 + w->fmt_size, "JUNK", 4);	/* size 0 */
	if (pwrite(fd, b, 44 + w->fmt_size + 8, 12) != (ssize_t)(44 + w->fmt_size + 8) ||
	    pwrite(fd, "RF64", 4, 0) != 4)
		return -EIO;
	w->rf64 = true;
	w->ds64 = 12 + 8;
	w->fmt = 12 + 36 + 8;
	w->junk = 0;
	w->fact = 0;
	return 0;
}

/* fix_sizes: makes the sizes in the header cover every whole frame on disk
 * (the data chunk is the last one in the files we write); a RIFF file grown
 * past 4 GiB becomes RF64 (wav_to_rf64). Then the fmt chunk is made plain.
 * Returns the frames on disk (fix_sizes) or 0, or a negative errno. */
static int64_t wav_repair(const char *path, bool fix_sizes)
{
	struct wav_layout w;
	struct stat st;
	unsigned char b[28];
	uint64_t data_bytes;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	int64_t ret;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || wav_parse(fd, st.st_size, &w) < 0) {
		ret = -EINVAL;
		goto out_close;
	}
	if (!fix_sizes) {
		ret = wav_plain_fmt(fd, &w);
		goto out_close;
	}
	data_bytes = (uint64_t)(st.st_size - w.data) / w.block_align * w.block_align;
	if (ftruncate(fd, w.data + (off_t)data_bytes) < 0) {
		ret = -errno;
		goto out_close;
	}
	st.st_size = w.data + (off_t)data_bytes;
	if (!w.rf64 && (uint64_t)st.st_size - 8 > UINT32_MAX) {
		ret = wav_to_rf64(fd, &w);
		if (ret < 0)
			goto out_close;
	}
	if (w.rf64 && w.ds64) {
		put64(b, (uint64_t)st.st_size - 8);
		put64(b + 8, data_bytes);
		put64(b + 16, data_bytes / w.block_align);
		put32(b + 24, UINT32_MAX);
		ret = pwrite(fd, b, 24, w.ds64) == 24 && pwrite(fd, b + 24, 4, 4) == 4 &&
		      pwrite(fd, b + 24, 4, w.data - 4) == 4 ? 0 : -EIO;
	} else {
		put32(b, (uint32_t)(st.st_size - 8));
		put32(b + 4, (uint32_t)data_bytes);
		ret = pwrite(fd, b, 4, 4) == 4 && pwrite(fd, b + 4, 4, w.data - 4) == 4 ? 0 : -EIO;
	}
	if (ret == 0)
		ret = wav_plain_fmt(fd, &w);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (ret == 0)
		ret = (int64_t)(data_bytes / w.block_align);
out_close:
	close(fd);
	return ret;
}

/* ---- names (control thread) ---------------------------------------------- */

static void safe_track_name(const char *in, char *out, size_t len)
{
	size_t i = 0;

	for (; *in && i + 1 < len; in++) {
		char ch = *in;

		out[i++] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
				   (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_'
				   ? ch : '_';
	}
	out[i] = '\0';
	if (!i || out[0] == '.')
		out[0] = '_', out[i ? i : 1] = '\0';
}

static bool ends_with(const char *s, const char *tail)
{
	size_t a = strlen(s), b = strlen(tail);

	return a >= b && !strcmp(s + a - b, tail);
}

/* Template with {track} and strftime fields -> a file name without a slash,
 * with the format's extension. */
static int expand_name(const char *tmpl, const char *track, const struct tm *tm,
		       const char *ext, char *out, size_t len)
{
	char fmt[RECORDER_PATH_MAX], safe[ENGINE_NAME_MAX], name[RECORDER_PATH_MAX];
	size_t used = 0;
	const char *p;

	safe_track_name(track, safe, sizeof(safe));
	for (p = tmpl; *p && used + 1 < sizeof(fmt); p++) {
		if (!strncmp(p, "{track}", 7)) {
			used += (size_t)snprintf(fmt + used, sizeof(fmt) - used, "%s", safe);
			p += 6;
			continue;
		}
		fmt[used++] = *p;
	}
	if (*p || used >= sizeof(fmt) - 1)
		return -EINVAL;
	fmt[used] = '\0';
	if (!strftime(name, sizeof(name) - 8, fmt, tm))
		return -EINVAL;
	for (char *c = name; *c; c++)
		if (*c == '/')
			*c = '_';
	if (name[0] == '.')
		name[0] = '_';
	if ((size_t)snprintf(out, len, "%s%s", name, ends_with(name, ext) ? "" : ext) >= len)
		return -EINVAL;
	return 0;
}

/* Creates dir/base[-k]ext.part exclusively, none of the final names taken. */
static int create_part(const char *dir, const char *file, struct track *tr)
{
	char stem[RECORDER_PATH_MAX];
	const char *dot = strrchr(file, '.');
	size_t stem_len = dot ? (size_t)(dot - file) : strlen(file);

	snprintf(stem, sizeof(stem), "%.*s", (int)stem_len, file);
	for (int k = 1; k <= MAX_SUFFIX; k++) {
		char suffix[16] = "";

		if (k > 1)
			snprintf(suffix, sizeof(suffix), "-%d", k);
		if ((size_t)snprintf(tr->final, sizeof(tr->final), "%s/%s%s%s", dir, stem, suffix,
				     dot ? dot : "") >= sizeof(tr->final) - 6)
			return -ENAMETOOLONG;
		snprintf(tr->part, sizeof(tr->part), "%.1010s.part", tr->final);
		if (access(tr->final, F_OK) == 0)
			continue;
		tr->fd = open(tr->part, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		if (tr->fd >= 0)
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Renames without replacing: on a clash the next -k suffix is taken. */
static int rename_final(const char *from, char *to, size_t len)
{
	char base[RECORDER_PATH_MAX], stem[RECORDER_PATH_MAX];
	const char *slash, *dot;

	snprintf(base, sizeof(base), "%s", to);
	slash = strrchr(base, '/');
	dot = strrchr(base, '.');
	if (dot && slash && dot < slash)
		dot = NULL;
	snprintf(stem, sizeof(stem), "%.*s", (int)(dot ? dot - base : (long)strlen(base)), base);
	for (int k = 1; k <= MAX_SUFFIX; k++) {
		if (k > 1)
			snprintf(to, len, "%.990s-%d%.16s", stem, k, dot ? dot : "");
		if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EINVAL || errno == ENOSYS) {
			/* file system without RENAME_NOREPLACE: link + unlink */
			if (link(from, to) == 0)
				return unlink(from) < 0 ? -errno : 0;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* ---- files (writer thread, or control before the writer starts) ---------- */

static int file_format(enum recorder_format f, int bits)
{
	if (f == RECORDER_FORMAT_FLAC)
		return bits == 16 ? SF_FORMAT_FLAC | SF_FORMAT_PCM_16
		       : bits == 24 ? SF_FORMAT_FLAC | SF_FORMAT_PCM_24 : 0;
	switch (bits) {
	case 16: return SF_FORMAT_RF64 | SF_FORMAT_PCM_16;
	case 24: return SF_FORMAT_RF64 | SF_FORMAT_PCM_24;
	case 32: return SF_FORMAT_RF64 | SF_FORMAT_FLOAT;
	default: return 0;
	}
}

static void fill_bext(SF_BROADCAST_INFO *b, const char *description, const struct timespec *now,
		      uint32_t rate)
{
	char date[16];
	struct tm tm;
	uint64_t ref;

	localtime_r(&now->tv_sec, &tm);
	memset(b, 0, sizeof(*b));
	snprintf(b->description, sizeof(b->description), "%s", description);
	snprintf(b->originator, sizeof(b->originator), "airmix");
	snprintf(b->originator_reference, sizeof(b->originator_reference), "airmix %s",
		 AIRMIX_VERSION);
	strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	memcpy(b->origination_date, date, sizeof(b->origination_date));
	strftime(date, sizeof(date), "%H:%M:%S", &tm);
	memcpy(b->origination_time, date, sizeof(b->origination_time));
	ref = ((uint64_t)tm.tm_hour * 3600 + (uint64_t)tm.tm_min * 60 + (uint64_t)tm.tm_sec) * rate +
	      (uint64_t)now->tv_nsec * rate / 1000000000u;
	b->time_reference_low = (uint32_t)ref;
	b->time_reference_high = (uint32_t)(ref >> 32);
	b->version = 1;
	b->coding_history_size = 0;
}

static int open_track(struct recorder *r, struct track *tr, const struct take_request *req,
		      const char *tmpl, const struct tm *tm, const struct timespec *now,
		      uint32_t rate, const char *description)
{
	const char *ext = req->format == RECORDER_FORMAT_FLAC ? ".flac" : ".wav";
	char file[RECORDER_PATH_MAX];
	SF_INFO info = { .samplerate = (int)rate, .channels = 2,
			 .format = file_format(req->format, req->bits) };
	int ret;

	ret = expand_name(tmpl, tr->name, tm, ext, file, sizeof(file));
	if (ret < 0) {
		set_error("bad file name template");
		return ret;
	}
	ret = create_part(r->dir, file, tr);
	if (ret < 0) {
		set_error("cannot create %s/%s: %s", r->dir, file, strerror(-ret));
		return -EIO;
	}
	tr->sf = sf_open_fd(tr->fd, SFM_WRITE, &info, SF_FALSE);
	if (!tr->sf) {
		set_error("cannot open %s: %s", tr->part, sf_strerror(NULL));
		goto out_unlink;
	}
	sf_command(tr->sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
	if (req->format == RECORDER_FORMAT_WAV) {
		SF_BROADCAST_INFO bext;

		sf_command(tr->sf, SFC_RF64_AUTO_DOWNGRADE, NULL, SF_TRUE);
		fill_bext(&bext, description, now, rate);
		if (sf_command(tr->sf, SFC_SET_BROADCAST_INFO, &bext, sizeof(bext)) != SF_TRUE) {
			set_error("cannot write the bext chunk of %s: %s", tr->part,
				  sf_strerror(tr->sf));
			goto out_sf;
		}
	}
	sf_command(tr->sf, SFC_UPDATE_HEADER_NOW, NULL, 0);
	return 0;

out_sf:
	sf_close(tr->sf);
	tr->sf = NULL;
out_unlink:
	close(tr->fd);
	tr->fd = -1;
	unlink(tr->part);
	return -EIO;
}

/* Final header, sync, rename to the final name. WAV: a RIFF file gets a
 * plain fmt chunk, and after a write error (failed) the header is made to
 * cover exactly the whole frames on disk. */
static void close_track(struct recorder *r, struct track *tr, bool wav, bool failed)
{
	if (tr->sf)
		sf_close(tr->sf);
	tr->sf = NULL;
	if (tr->fd >= 0) {
		fdatasync(tr->fd);
		close(tr->fd);
	}
	tr->fd = -1;
	if (wav)
		wav_repair(tr->part, failed);
	if (rename_final(tr->part, tr->final, sizeof(tr->final)) < 0)
		copy_text(tr->final, sizeof(tr->final), tr->part);
	sync_dir(r->dir);
}

static void discard_track(struct track *tr)
{
	if (tr->sf)
		sf_close(tr->sf);
	if (tr->fd >= 0)
		close(tr->fd);
	unlink(tr->part);
	tr->sf = NULL;
	tr->fd = -1;
}

/* ---- the writer thread --------------------------------------------------- */

/* 0, or the recorder code of a write failure (message in msg). */
static int write_failed(struct take *t, struct track *tr, char *msg, size_t len)
{
	int err = errno;
	bool full = err == ENOSPC || err == EDQUOT || free_bytes(t->r->dir) < 4096;

	snprintf(msg, len, "writing %.600s failed: %s", tr->part,
		 full ? strerror(ENOSPC) : sf_strerror(tr->sf));
	return full ? RECORDER_DISK_FULL : RECORDER_WRITE_FAILED;
}

static int write_frames(struct take *t, struct track *tr, const float *buf, uint64_t n,
			char *msg, size_t len)
{
	errno = 0;
	if ((uint64_t)sf_writef_float(tr->sf, buf, (sf_count_t)n) != n)
		return write_failed(t, tr, msg, len);
	tr->written += n;
	return 0;
}

static int write_silence(struct take *t, struct track *tr, uint64_t n, char *msg, size_t len)
{
	while (n) {
		uint64_t k = n < CHUNK_FRAMES ? n : CHUNK_FRAMES;
		int code = write_frames(t, tr, silence, k, msg, len);

		if (code)
			return code;
		n -= k;
	}
	return 0;
}

/* The template of a track's current file: split takes add -partNN. */
static void part_template(const struct take *t, uint32_t part, char *out, size_t len)
{
	if (t->split && !t->logger)	/* the logger's names differ by their time */
		snprintf(out, len, "%.900s-part%02u", t->tmpl, part);
	else
		snprintf(out, len, "%s", t->tmpl);
}

/* ---- logger retention (writer thread) */

struct old_file {
	char name[256];
	time_t mtime;
	uint64_t bytes;
};

static int older_first(const void *a, const void *b)
{
	const struct old_file *x = a, *y = b;

	return x->mtime < y->mtime ? -1 : x->mtime > y->mtime ? 1 : strcmp(x->name, y->name);
}

static void prune_one(struct take *t, const struct old_file *f, const char *why)
{
	char path[RECORDER_PATH_MAX];

	snprintf(path, sizeof(path), "%.700s/%.255s", t->r->dir, f->name);
	if (unlink(path) < 0)
		return;
	report(t->r->e, RECORDER_LOGGER_PRUNED, t->subject, t->request, "%s deleted: %s", path,
	       why);
}

/* The finished logger files (logger-*, not .part) in the directory: older
 * than keep_days go, then the oldest while they hold more than max_bytes. */
static void logger_retention(struct take *t)
{
	struct old_file *files;
	DIR *d;
	struct dirent *de;
	uint64_t total = 0;
	time_t limit = time(NULL) - (time_t)t->keep_days * 86400;
	size_t n = 0;

	if (!t->keep_days && !t->max_bytes)
		return;
	files = malloc(LOGGER_MAX_FILES * sizeof(*files));
	d = opendir(t->r->dir);
	while (files && d && (de = readdir(d)) && n < LOGGER_MAX_FILES) {
		struct stat st;

		if (strncmp(de->d_name, LOGGER_PREFIX, strlen(LOGGER_PREFIX)) ||
		    ends_with(de->d_name, ".part") || strlen(de->d_name) >= sizeof(files[0].name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		copy_text(files[n].name, sizeof(files[n].name), de->d_name);
		files[n].mtime = st.st_mtime;
		files[n].bytes = (uint64_t)st.st_size;
		n++;
	}
	if (d)
		closedir(d);
	if (!files)
		return;
	qsort(files, n, sizeof(*files), older_first);
	for (size_t i = 0; i < n; i++) {
		if (t->keep_days && files[i].mtime < limit) {
			prune_one(t, &files[i], "older than logger_keep_days");
			files[i].bytes = 0;
		}
		total += files[i].bytes;
	}
	for (size_t i = 0; i < n && t->max_bytes && total > t->max_bytes; i++) {
		if (!files[i].bytes)
			continue;
		prune_one(t, &files[i], "logger files over logger_max_mb");
		total -= files[i].bytes;
	}
	free(files);
	sync_dir(t->r->dir);
}

/* Frames in the track's current part when it is complete. */
static uint64_t part_frames(const struct take *t, const struct track *tr)
{
	return tr->part_no == 1 && t->first_split ? t->first_split : t->split;
}

/* Split takes: the track's file is complete (it holds exactly t->split
 * frames): make it final and open the next part, named with the time now. 0,
 * or the recorder code that stops the take. */
static int next_part(struct take *t, struct track *tr, char *msg, size_t len)
{
	struct recorder *r = t->r;
	struct take_request req = { .format = t->info.format, .bits = t->info.bits };
	char tmpl[RECORDER_PATH_MAX];
	uint32_t i = (uint32_t)(tr - t->tracks);
	struct timespec now;
	struct tm tm;
	int ret = 0;

	close_track(r, tr, t->info.format == RECORDER_FORMAT_WAV, false);
	pthread_mutex_lock(&r->lock);
	if (t->n_done == t->cap_done) {
		uint32_t cap = t->cap_done ? t->cap_done * 2 : 16;
		char (*grown)[RECORDER_PATH_MAX] = realloc(t->done, cap * sizeof(*grown));

		if (grown) {
			t->done = grown;
			t->cap_done = cap;
		}
	}
	if (t->n_done < t->cap_done)
		copy_text(t->done[t->n_done++], RECORDER_PATH_MAX, tr->final);
	else
		ret = -ENOMEM;
	pthread_mutex_unlock(&r->lock);
	if (ret < 0) {
		snprintf(msg, len, "out of memory for the list of parts");
		return RECORDER_WRITE_FAILED;
	}
	tr->part_no++;
	tr->part_start = tr->written;
	clock_gettime(CLOCK_REALTIME, &now);
	localtime_r(&now.tv_sec, &tm);
	part_template(t, tr->part_no, tmpl, sizeof(tmpl));
	ret = open_track(r, tr, &req, tmpl, &tm, &now, t->info.rate, t->description);
	if (ret < 0) {
		snprintf(msg, len, "cannot open part %u of %.64s: %.400s", tr->part_no, tr->name,
			 recorder_last_error());
		return RECORDER_OPEN_FAILED;
	}
	pthread_mutex_lock(&r->lock);
	copy_text(t->info.files[i].path, RECORDER_PATH_MAX, tr->part);
	t->info.part = tr->part_no > t->info.part ? tr->part_no : t->info.part;
	t->info.n_all_files = t->n_done + t->n;
	pthread_mutex_unlock(&r->lock);
	if (t->logger && i == t->n - 1)	/* once per cut, when every track has moved on */
		logger_retention(t);
	return 0;
}

/* Writes what the tap holds, gaps as silence, up to stream position until;
 * split takes move to the next part on the exact frame. */
static int drain_track(struct take *t, struct track *tr, uint64_t until, char *msg, size_t len)
{
	for (;;) {
		uint64_t lim = until, k;
		uint32_t n;
		int code;

		if (tr->written >= until)
			return 0;
		if (t->split) {
			if (tr->written == tr->part_start + part_frames(t, tr)) {
				code = next_part(t, tr, msg, len);
				if (code)
					return code;
			}
			if (tr->part_start + part_frames(t, tr) < lim)
				lim = tr->part_start + part_frames(t, tr);
		}
		if (!tr->gap_left)
			tr->gap_left = tap_next_gap(tr->tap);
		if (tr->gap_left) {	/* may span a cut: the rest goes into the next part */
			k = tr->gap_left < lim - tr->written ? tr->gap_left : lim - tr->written;
			code = write_silence(t, tr, k, msg, len);
			if (code)
				return code;
			tr->gap_left -= k;
			continue;
		}
		k = lim - tr->written;
		n = tap_read(tr->tap, t->buf, k < CHUNK_FRAMES ? (uint32_t)k : CHUNK_FRAMES);
		if (!n)
			return 0;
		code = write_frames(t, tr, t->buf, n, msg, len);
		if (code)
			return code;
	}
}

static void update_headers(struct take *t)
{
	for (uint32_t i = 0; i < t->n; i++) {
		sf_command(t->tracks[i].sf, SFC_UPDATE_HEADER_NOW, NULL, 0);
		fdatasync(t->tracks[i].fd);
	}
}

static uint64_t max_dropped(struct take *t)
{
	uint64_t most = 0;

	for (uint32_t i = 0; i < t->n; i++) {
		uint64_t d = tap_dropped_frames(t->tracks[i].tap);

		most = d > most ? d : most;
	}
	return most;
}

static void report_overruns(struct take *t, double now, bool final)
{
	uint64_t dropped = max_dropped(t);

	if (dropped <= t->reported_dropped)
		return;
	if (!final && t->reported_dropped && now - t->last_overrun_report < OVERRUN_REPORT_S)
		return;
	report(t->r->e, RECORDER_OVERRUN, t->subject, t->request,
	       "the writer fell behind: %llu frames dropped so far, written as silence",
	       (unsigned long long)dropped);
	t->reported_dropped = dropped;
	t->last_overrun_report = now;
}

/* 0, or the recorder code that stops the take. */
static int check_disk(struct take *t, char *msg, size_t len)
{
	struct recorder *r = t->r;
	uint64_t avail = free_bytes(r->dir);

	if (r->min_bytes && avail < r->min_bytes) {
		snprintf(msg, len, "%llu MB free on %.600s, below the floor of %llu MB: take stopped",
			 (unsigned long long)(avail >> 20), r->dir,
			 (unsigned long long)(r->min_bytes >> 20));
		return RECORDER_DISK_FULL;
	}
	if (avail < r->warn_bytes && !t->warned_low) {
		report(r->e, RECORDER_DISK_LOW, t->subject, t->request,
		       "%llu MB free on %s (warning below %llu MB)",
		       (unsigned long long)(avail >> 20), r->dir,
		       (unsigned long long)(r->warn_bytes >> 20));
		t->warned_low = true;
	}
	return 0;
}

static int writer_pass(struct take *t, bool force_headers, char *msg, size_t len)
{
	double now;
	int code = 0;

	for (uint32_t i = 0; i < t->n && !code; i++)
		code = drain_track(t, &t->tracks[i], UINT64_MAX, msg, len);
	if (code)
		return code;
	now = monotonic_s();
	if (force_headers || now - t->last_header >= t->r->header_ms / 1000.0) {
		update_headers(t);
		t->last_header = now;
		t->sizes_due = true;
	}
	report_overruns(t, now, false);
	if (force_headers || now - t->last_disk >= DISK_CHECK_S) {
		t->last_disk = now;
		code = check_disk(t, msg, len);
	}
	return code;
}

/* Every track to the same end: the furthest position seen now. A track
 * behind either gets its frames within STOP_WAIT_S (RT mid-cycle) or had
 * them dropped, which is written as silence. */
static int finish_tracks(struct take *t, char *msg, size_t len)
{
	uint64_t end = 0;
	double deadline = monotonic_s() + STOP_WAIT_S;
	int code = 0;

	for (uint32_t i = 0; i < t->n && !code; i++)
		code = drain_track(t, &t->tracks[i], UINT64_MAX, msg, len);
	for (uint32_t i = 0; i < t->n; i++)
		end = t->tracks[i].written > end ? t->tracks[i].written : end;
	for (uint32_t i = 0; i < t->n && !code; i++) {
		struct track *tr = &t->tracks[i];

		while (!code && tr->written < end && monotonic_s() < deadline) {
			code = drain_track(t, tr, end, msg, len);
			if (tr->written < end)
				sleep_ms(2);
		}
		if (!code && tr->written < end)
			code = write_silence(t, tr, end - tr->written, msg, len);
	}
	return code;
}

/* Under r->lock: publish the writer's counters; sizes (an fstat per file)
 * only after a header update. */
static void publish_info(struct take *t, bool sizes)
{
	struct take_info *in = &t->info;
	uint64_t frames = UINT64_MAX;

	for (uint32_t i = 0; i < t->n; i++) {
		struct track *tr = &t->tracks[i];
		struct take_file *f = &in->files[i];
		struct stat st;

		f->frames = tr->written - tr->part_start;
		f->dropped_frames = tap_dropped_frames(tr->tap);
		if (sizes && tr->fd >= 0 && fstat(tr->fd, &st) == 0)
			f->bytes = (uint64_t)st.st_size;
		frames = tr->written < frames ? tr->written : frames;
		in->overrun_frames = f->dropped_frames > in->overrun_frames ? f->dropped_frames
									  : in->overrun_frames;
	}
	in->frames = t->n ? frames : 0;
	in->seconds = in->rate ? (double)in->frames / in->rate : 0.0;
}

static void *writer_main(void *arg)
{
	struct take *t = arg;
	struct recorder *r = t->r;
	char msg[HISTORY_MESSAGE_MAX] = "";
	int code = 0;

	t->last_header = t->last_disk = monotonic_s();
	pthread_mutex_lock(&r->lock);
	while (!t->stop_req) {
		uint64_t want = t->sync_req;
		bool headers = t->sync_headers && want > t->sync_done;
		uint32_t stall = t->stall_ms;

		t->stall_ms = 0;
		pthread_mutex_unlock(&r->lock);
		if (stall)
			sleep_ms(stall);
		code = writer_pass(t, headers, msg, sizeof(msg));
		pthread_mutex_lock(&r->lock);
		publish_info(t, t->sizes_due);
		t->sizes_due = false;
		if (want > t->sync_done) {
			t->sync_done = want;
			if (headers && t->sync_req == want)
				t->sync_headers = false;
			pthread_cond_broadcast(&r->cond);
		}
		if (code)
			break;
		if (!t->stop_req && t->sync_req == t->sync_done && !t->stall_ms)
			cond_wait_ms(r, POLL_MS);
	}
	pthread_mutex_unlock(&r->lock);
	if (!code)
		code = finish_tracks(t, msg, sizeof(msg));
	report_overruns(t, monotonic_s(), true);
	pthread_mutex_lock(&r->lock);
	publish_info(t, false);	/* the last look at the taps */
	pthread_mutex_unlock(&r->lock);
	for (uint32_t i = 0; i < t->n; i++) {
		engine_tap_close(r->e, t->tracks[i].tap);	/* freed later by the engine */
		t->tracks[i].tap = NULL;
		close_track(r, &t->tracks[i], t->info.format == RECORDER_FORMAT_WAV, code != 0);
	}
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < t->n; i++) {
		struct stat st;

		copy_text(t->info.files[i].path, RECORDER_PATH_MAX, t->tracks[i].final);
		if (stat(t->tracks[i].final, &st) == 0)
			t->info.files[i].bytes = (uint64_t)st.st_size;
	}
	t->info.state = t->state = code ? TAKE_FAILED : TAKE_STOPPED;
	t->info.stopped_us = history_now_us();
	t->info.error_code = code;
	snprintf(t->info.error, sizeof(t->info.error), "%s", code ? msg : "");
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (code)
		report(r->e, code, t->subject, t->request, "%s", msg);
	report(r->e, RECORDER_TAKE_STOPPED, t->subject, t->request,
	       "take %d stopped: %u files, %llu frames (%.3f s), %llu frames dropped", t->id, t->n,
	       (unsigned long long)t->info.frames, t->info.seconds,
	       (unsigned long long)t->info.overrun_frames);
	return NULL;
}

/* ---- takes (control side) ------------------------------------------------ */

static void take_free(struct take *t)
{
	free(t->done);
	free(t->buf);
	free(t);
}

static int resolve_tracks(struct recorder *r, const struct take_request *req, struct take *t)
{
	for (uint32_t i = 0; i < req->n_tracks + 1; i++) {
		uint32_t id = i < req->n_tracks ? req->tracks[i] : ENGINE_BUS_PUBLISH;
		struct engine_node_info info;
		bool listed = false;

		if (i == req->n_tracks) {
			for (uint32_t k = 0; k < t->n; k++)
				listed |= t->tracks[k].node_id == id;
			if (!req->mix || listed)
				break;
		}
		if (t->n == RECORDER_MAX_TRACKS) {
			set_error("a take records at most %d tracks", RECORDER_MAX_TRACKS);
			return -E2BIG;
		}
		if (engine_get_node(r->e, id, &info) < 0) {
			set_error("no node %u to record", id);
			return -ENOENT;
		}
		t->tracks[t->n].node_id = id;
		t->tracks[t->n].fd = -1;
		snprintf(t->tracks[t->n].name, sizeof(t->tracks[t->n].name), "%s",
			 id == ENGINE_BUS_PUBLISH ? "publish" : id == ENGINE_BUS_PLAYOUT ? "playout"
											: info.name);
		t->n++;
	}
	if (!t->n) {
		set_error("no track to record");
		return -ENOENT;
	}
	return 0;
}

static struct take *find_take(struct recorder *r, int id, uint32_t *index)
{
	for (uint32_t i = 0; i < r->n_takes; i++) {
		if (r->takes[i]->id == id) {
			if (index)
				*index = i;
			return r->takes[i];
		}
	}
	return NULL;
}

static int open_files(struct recorder *r, struct take *t, const struct take_request *req,
		      uint32_t rate)
{
	char description[256], tmpl[RECORDER_PATH_MAX];
	struct timespec now;
	struct tm tm;
	int ret = 0;

	clock_gettime(CLOCK_REALTIME, &now);
	localtime_r(&now.tv_sec, &tm);
	snprintf(description, sizeof(description), "%s",
		 req->description ? req->description : "");
	if (!description[0])
		snprintf(description, sizeof(description), "airmix take %d", t->id);
	copy_text(t->description, sizeof(t->description), description);
	part_template(t, 1, tmpl, sizeof(tmpl));
	for (uint32_t i = 0; i < t->n && !ret; i++) {
		t->tracks[i].part_no = 1;
		ret = open_track(r, &t->tracks[i], req, tmpl, &tm, &now, rate, description);
		if (ret < 0)
			while (i-- > 0)
				discard_track(&t->tracks[i]);
	}
	t->info.started_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
	return ret;
}

static int open_taps(struct recorder *r, struct take *t, uint32_t rate)
{
	uint32_t ids[RECORDER_MAX_TRACKS];
	struct tap *taps[RECORDER_MAX_TRACKS];
	uint32_t frames = (uint32_t)((uint64_t)rate * r->ring_ms / 1000);
	int ret;

	for (uint32_t i = 0; i < t->n; i++)
		ids[i] = t->tracks[i].node_id;
	ret = engine_tap_open_many(r->e, ids, t->n, frames, taps);
	if (ret < 0) {
		set_error("cannot tap the tracks: %s", strerror(-ret));
		return ret == -ENOENT ? -ENOENT : -EIO;
	}
	for (uint32_t i = 0; i < t->n; i++)
		t->tracks[i].tap = taps[i];
	return 0;
}

static int check_request(const struct take_request *req)
{
	if (!file_format(req->format, req->bits)) {
		set_error("%s cannot be written with %d bits (wav: 16, 24, 32 float; flac: 16, 24)",
			  recorder_format_name(req->format), req->bits);
		return -EINVAL;
	}
	if (req->n_tracks > RECORDER_MAX_TRACKS) {
		set_error("a take records at most %d tracks", RECORDER_MAX_TRACKS);
		return -E2BIG;
	}
	if (req->logger && (req->logger_period_s == 1 || req->logger_period_s > 86400)) {
		set_error("the logger period must be 2 to 86400 s");
		return -EINVAL;
	}
	if (req->split_frames && req->split_frames < 1024) {
		set_error("parts must be at least 1024 frames long");
		return -EINVAL;
	}
	if (req->name_template && (!req->name_template[0] || strlen(req->name_template) > 255)) {
		set_error("name template must be 1 to 255 bytes");
		return -EINVAL;
	}
	return 0;
}

static int check_space(struct recorder *r, struct take *t)
{
	uint64_t avail = free_bytes(r->dir);

	if (r->min_bytes && avail < r->min_bytes) {
		set_error("%llu MB free on %s, below the floor of %llu MB",
			  (unsigned long long)(avail >> 20), r->dir,
			  (unsigned long long)(r->min_bytes >> 20));
		return -ENOSPC;
	}
	if (avail < r->warn_bytes) {
		t->warned_low = true;
		report(r->e, RECORDER_DISK_LOW, t->subject, t->request,
		       "%llu MB free on %s (warning below %llu MB)",
		       (unsigned long long)(avail >> 20), r->dir,
		       (unsigned long long)(r->warn_bytes >> 20));
	}
	return 0;
}

/* Logger mode: the template, the retention limits and the part lengths, the
 * first one up to the next multiple of the period in local time of day. */
static void logger_setup(struct take *t, const struct take_request *req)
{
	uint32_t period = req->logger_period_s ? req->logger_period_s : 3600;
	struct timespec now;
	struct tm tm;
	double into;

	t->logger = t->info.logger = true;
	t->keep_days = req->logger_keep_days;
	t->max_bytes = req->logger_max_mb << 20;
	copy_text(t->tmpl, sizeof(t->tmpl), LOGGER_TEMPLATE);
	t->split = t->info.split_frames = (uint64_t)period * t->info.rate;
	clock_gettime(CLOCK_REALTIME, &now);
	localtime_r(&now.tv_sec, &tm);
	into = (double)((tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec) % period) +
	       now.tv_nsec * 1e-9;
	t->first_split = (uint64_t)((period - into) * t->info.rate + 0.5);
	if (t->first_split < 1024)	/* right at a boundary: this part runs to the next */
		t->first_split += t->split;
}

/* Builds the take: tracks, files, taps (in that order, so a file that cannot
 * be created costs no graph change). */
static int take_prepare(struct recorder *r, const struct take_request *req, int id,
			struct take **out)
{
	struct engine_status st;
	struct take *t = calloc(1, sizeof(*t));
	int ret;

	if (!t || !(t->buf = malloc(CHUNK_FRAMES * 2 * sizeof(float)))) {
		free(t);
		set_error("out of memory");
		return -ENOMEM;
	}
	t->id = id;
	t->r = r;
	snprintf(t->subject, sizeof(t->subject), "take %d", id);
	snprintf(t->request, sizeof(t->request), "%s", req->request ? req->request : "");
	engine_get_status(r->e, &st);
	t->info.id = id;
	t->info.rate = st.rate ? st.rate : (uint32_t)engine_config(r->e)->sample_rate;
	t->info.format = req->format;
	t->info.bits = req->bits;
	t->split = t->info.split_frames = req->split_frames;
	copy_text(t->tmpl, sizeof(t->tmpl), req->name_template ? req->name_template
							       : r->name_template);
	if (req->logger)
		logger_setup(t, req);
	t->info.part = t->split ? 1 : 0;
	ret = resolve_tracks(r, req, t);
	if (ret == 0)
		ret = check_space(r, t);
	if (ret == 0)
		ret = open_files(r, t, req, t->info.rate);
	if (ret < 0)
		goto out_free;
	ret = open_taps(r, t, t->info.rate);
	if (ret < 0)
		goto out_discard;
	t->info.n_files = t->info.n_all_files = t->n;
	snprintf(t->sidecar, sizeof(t->sidecar), "%.*s.markers.csv",
		 (int)(strrchr(t->tracks[0].final, '.') - t->tracks[0].final), t->tracks[0].final);
	for (uint32_t i = 0; i < t->n; i++) {
		t->info.files[i].node_id = t->tracks[i].node_id;
		copy_text(t->info.files[i].track, ENGINE_NAME_MAX, t->tracks[i].name);
		copy_text(t->info.files[i].path, RECORDER_PATH_MAX, t->tracks[i].part);
	}
	*out = t;
	return 0;

out_discard:
	for (uint32_t i = 0; i < t->n; i++)
		discard_track(&t->tracks[i]);
out_free:
	take_free(t);
	return ret;
}

int recorder_start(struct recorder *r, const struct take_request *req, int *take_id)
{
	struct take *t = NULL;
	int ret, id;

	last_error[0] = '\0';
	ret = check_request(req);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&r->lock);
	if (r->n_takes == RECORDER_MAX_TAKES) {
		pthread_mutex_unlock(&r->lock);
		set_error("%d takes kept: delete one first", RECORDER_MAX_TAKES);
		return -EBUSY;
	}
	id = ++r->next_id;
	pthread_mutex_unlock(&r->lock);
	ret = take_prepare(r, req, id, &t);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&r->lock);
	t->state = t->info.state = TAKE_RECORDING;
	if (r->n_takes == RECORDER_MAX_TAKES ||
	    pthread_create(&t->thread, NULL, writer_main, t) != 0) {
		pthread_mutex_unlock(&r->lock);
		for (uint32_t i = 0; i < t->n; i++) {
			engine_tap_close(r->e, t->tracks[i].tap);
			discard_track(&t->tracks[i]);
		}
		take_free(t);
		set_error("cannot start the writer thread");
		return -EBUSY;
	}
	r->takes[r->n_takes++] = t;
	pthread_mutex_unlock(&r->lock);
	if (t->logger)
		logger_retention(t);	/* before the first cut too */
	report(r->e, RECORDER_TAKE_STARTED, t->subject, t->request,
	       "take %d started: %u tracks, %s %d bit, %u Hz, first file %s", id, t->n,
	       recorder_format_name(req->format), req->bits, t->info.rate, t->tracks[0].final);
	*take_id = id;
	return 0;
}

/* Under r->lock, with t->users held: wait for the writer to end, join it. */
static void take_join(struct recorder *r, struct take *t)
{
	while (t->state == TAKE_RECORDING)
		pthread_cond_wait(&r->cond, &r->lock);
	if (t->joined)
		return;
	t->joined = true;
	pthread_mutex_unlock(&r->lock);
	pthread_join(t->thread, NULL);
	pthread_mutex_lock(&r->lock);
}

int recorder_stop(struct recorder *r, int take_id)
{
	struct take *t;
	int ret = 0;

	pthread_mutex_lock(&r->lock);
	t = find_take(r, take_id, NULL);
	if (!t) {
		pthread_mutex_unlock(&r->lock);
		set_error("no take %d", take_id);
		return -ENOENT;
	}
	if (t->state != TAKE_RECORDING) {
		set_error("take %d is not recording", take_id);
		ret = -EALREADY;
	}
	t->stop_req = true;
	t->users++;
	pthread_cond_broadcast(&r->cond);
	take_join(r, t);
	t->users--;
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int recorder_get(struct recorder *r, int take_id, struct take_info *out)
{
	struct take *t;

	pthread_mutex_lock(&r->lock);
	t = find_take(r, take_id, NULL);
	if (t)
		*out = t->info;
	pthread_mutex_unlock(&r->lock);
	if (!t)
		set_error("no take %d", take_id);
	return t ? 0 : -ENOENT;
}

size_t recorder_list(struct recorder *r, int *ids, size_t max)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = r->n_takes;
	for (size_t i = 0; i < n && i < max; i++)
		ids[i] = r->takes[i]->id;
	pthread_mutex_unlock(&r->lock);
	return n;
}

int recorder_delete(struct recorder *r, int take_id)
{
	struct take *t;
	uint32_t index;

	pthread_mutex_lock(&r->lock);
	t = find_take(r, take_id, &index);
	if (!t || t->state == TAKE_RECORDING || t->users) {
		pthread_mutex_unlock(&r->lock);
		set_error(t ? "take %d is still recording: stop it first" : "no take %d", take_id);
		return t ? -EBUSY : -ENOENT;
	}
	t->users++;
	take_join(r, t);
	t->users--;
	memmove(&r->takes[index], &r->takes[index + 1],
		(r->n_takes - index - 1) * sizeof(r->takes[0]));
	r->n_takes--;
	pthread_mutex_unlock(&r->lock);
	for (uint32_t i = 0; i < t->n; i++)
		unlink(t->tracks[i].final);
	for (uint32_t i = 0; i < t->n_done; i++)
		unlink(t->done[i]);
	if (t->info.markers_path[0])
		unlink(t->info.markers_path);
	sync_dir(r->dir);
	take_free(t);
	return 0;
}

int recorder_file_path(struct recorder *r, int take_id, uint32_t index, char *path, size_t len)
{
	struct take *t;
	int ret = 0;

	pthread_mutex_lock(&r->lock);
	t = find_take(r, take_id, NULL);
	if (!t)
		ret = -ENOENT;
	else if (index < t->n_done)
		snprintf(path, len, "%s", t->done[index]);
	else if (index - t->n_done < t->info.n_files)
		snprintf(path, len, "%s", t->info.files[index - t->n_done].path);
	else
		ret = -ERANGE;
	pthread_mutex_unlock(&r->lock);
	return ret;
}

/* Any non-RT thread: the sidecar, written whole to a temporary name and
 * renamed over the old one, so it is never half written. */
static int write_markers(const char *path, const struct take_marker *m, uint32_t n,
			 uint32_t rate)
{
	char tmp[RECORDER_PATH_MAX + 8];
	FILE *f;
	int ret = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "frame,seconds,time_us,label\n");
	for (uint32_t i = 0; i < n; i++) {
		fprintf(f, "%llu,%.6f,%lld,\"", (unsigned long long)m[i].frame,
			rate ? (double)m[i].frame / rate : 0.0, (long long)m[i].time_us);
		for (const char *c = m[i].label; *c; c++) {
			if (*c == '"')
				fputc('"', f);	/* CSV: a quote is doubled */
			fputc((unsigned char)*c < 0x20 ? ' ' : *c, f);
		}
		fputs("\"\n", f);
	}
	if (fflush(f) != 0 || fdatasync(fileno(f)) < 0)
		ret = -errno;
	if (fclose(f) != 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

int recorder_mark(struct recorder *r, int take_id, const char *label, uint64_t *frame)
{
	struct take_marker *copy = malloc(sizeof(*copy) * RECORDER_MAX_MARKERS);
	char path[RECORDER_PATH_MAX];
	struct take_marker *m;
	struct take *t;
	uint32_t n = 0, rate = 0;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&r->mark_lock);
	pthread_mutex_lock(&r->lock);
	t = find_take(r, take_id, NULL);
	ret = !t ? -ENOENT : t->state != TAKE_RECORDING ? -EALREADY
	      : t->info.n_markers == RECORDER_MAX_MARKERS ? -EOVERFLOW : 0;
	if (ret == 0) {
		m = &t->info.markers[t->info.n_markers++];
		m->frame = t->info.frames;
		m->time_us = history_now_us();
		copy_text(m->label, sizeof(m->label), label ? label : "");
		copy_text(t->info.markers_path, RECORDER_PATH_MAX, t->sidecar);
		n = t->info.n_markers;
		rate = t->info.rate;
		memcpy(copy, t->info.markers, n * sizeof(*copy));
		copy_text(path, sizeof(path), t->sidecar);
		if (frame)
			*frame = m->frame;
	}
	pthread_mutex_unlock(&r->lock);
	if (ret == 0) {
		int wret = write_markers(path, copy, n, rate);

		if (wret < 0) {
			set_error("cannot write %s: %s", path, strerror(-wret));
			ret = -EIO;
		}
	}
	pthread_mutex_unlock(&r->mark_lock);
	if (ret == -ENOENT)
		set_error("no take %d", take_id);
	else if (ret == -EALREADY)
		set_error("take %d is not recording", take_id);
	else if (ret == -EOVERFLOW)
		set_error("take %d has %d markers already", take_id, RECORDER_MAX_MARKERS);
	free(copy);
	return ret;
}

int recorder_sync(struct recorder *r, bool headers, int timeout_ms)
{
	uint64_t want[RECORDER_MAX_TAKES];
	double deadline = monotonic_s() + timeout_ms / 1000.0;
	bool done = false;

	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < r->n_takes; i++) {
		want[i] = ++r->takes[i]->sync_req;
		r->takes[i]->sync_headers |= headers;
	}
	pthread_cond_broadcast(&r->cond);
	while (!done && monotonic_s() < deadline) {
		done = true;
		for (uint32_t i = 0; i < r->n_takes; i++)
			done &= r->takes[i]->state != TAKE_RECORDING ||
				r->takes[i]->sync_done >= want[i];
		if (!done)
			cond_wait_ms(r, POLL_MS);
	}
	pthread_mutex_unlock(&r->lock);
	return done ? 0 : -ETIMEDOUT;
}

void recorder_debug_stall(struct recorder *r, uint32_t ms)
{
	double deadline = monotonic_s() + 5.0;
	bool picked = false;

	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < r->n_takes; i++)
		if (r->takes[i]->state == TAKE_RECORDING)
			r->takes[i]->stall_ms = ms;
	pthread_cond_broadcast(&r->cond);
	/* return once every writer sleeps, so the caller knows it stalls */
	while (!picked && monotonic_s() < deadline) {
		picked = true;
		for (uint32_t i = 0; i < r->n_takes; i++)
			picked &= r->takes[i]->stall_ms == 0;
		if (!picked)
			cond_wait_ms(r, 1);
	}
	pthread_mutex_unlock(&r->lock);
}

int recorder_create(struct engine *e, const struct recorder_config *cfg, struct recorder **out)
{
	struct recorder *r;

	if (!e || !cfg || !cfg->dir || !cfg->dir[0] || strlen(cfg->dir) >= 512)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->e = e;
	snprintf(r->dir, sizeof(r->dir), "%s", cfg->dir);
	snprintf(r->name_template, sizeof(r->name_template), "%s",
		 cfg->name_template && cfg->name_template[0] ? cfg->name_template
							      : DEFAULT_TEMPLATE);
	r->header_ms = cfg->header_interval_ms ? cfg->header_interval_ms : 1000;
	r->ring_ms = cfg->ring_ms ? cfg->ring_ms : 4000;
	r->warn_bytes = cfg->warn_free_mb << 20;
	r->min_bytes = cfg->min_free_mb << 20;
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->mark_lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	*out = r;
	return 0;
}

void recorder_destroy(struct recorder *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < r->n_takes; i++)
		r->takes[i]->stop_req = true;
	pthread_cond_broadcast(&r->cond);
	for (uint32_t i = 0; i < r->n_takes; i++)
		take_join(r, r->takes[i]);
	for (uint32_t i = 0; i < r->n_takes; i++)
		take_free(r->takes[i]);
	pthread_mutex_unlock(&r->lock);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->mark_lock);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* ---- recovery (control thread, at start-up) ------------------------------ */

static int64_t readable_frames(const char *path)
{
	SF_INFO info = { 0 };
	SNDFILE *sf = sf_open(path, SFM_READ, &info);

	if (!sf)
		return -EINVAL;
	sf_close(sf);
	return info.frames;
}

static int recover_one(const char *dir, const char *name, struct engine *e)
{
	char part[RECORDER_PATH_MAX], final[RECORDER_PATH_MAX];
	int64_t frames;
	int ret;

	snprintf(part, sizeof(part), "%.700s/%.255s", dir, name);
	snprintf(final, sizeof(final), "%.*s", (int)(strlen(part) - 5), part);
	frames = ends_with(final, ".wav") ? wav_repair(part, true) : 0;
	if (frames >= 0)
		frames = readable_frames(part);
	if (frames < 0) {
		report(e, RECORDER_RECOVERY_FAILED, name, NULL,
		       "%s cannot be repaired: %s; left as it is", part,
		       frames == -EINVAL ? "not a readable audio file" : strerror((int)-frames));
		return (int)frames;
	}
	ret = rename_final(part, final, sizeof(final));
	if (ret < 0) {
		report(e, RECORDER_RECOVERY_FAILED, name, NULL, "cannot rename %s: %s", part,
		       strerror(-ret));
		return ret;
	}
	report(e, RECORDER_FILE_RECOVERED, name, NULL,
	       "unfinished take file recovered as %s: %lld frames", final, (long long)frames);
	return 0;
}

int recorder_recover(const char *dir, struct engine *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char names[64][256];
	int n = 0, recovered = 0;

	if (!d)
		return -errno;
	/* collect first: renaming while reading the directory may show a file twice */
	while ((de = readdir(d)) && n < 64) {
		if (de->d_name[0] != '.' && ends_with(de->d_name, ".part") &&
		    strlen(de->d_name) > 5)
			snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		recovered += recover_one(dir, names[i], e) == 0;
	if (n)
		sync_dir(dir);
	return recovered;
}
