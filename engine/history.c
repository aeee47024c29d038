/* history.c - the SQLite error and state history; see history.h for the API.
 *
 * DESIGN
 * Two row arrays of cfg.queue_rows each: producers append to `queue` under
 * h->lock (a bounded copy, no SQLite, no waiting); the history thread swaps
 * `queue` with its empty `batch` under the same lock and then, without the
 * lock, writes the batch in one transaction on its own connection. While the
 * database is locked by someone else the thread keeps its batch and retries
 * (SQLite's busy_timeout paces it); producers keep filling `queue` until it is
 * full, and further rows are dropped and counted. So at most 2 * queue_rows
 * rows wait in memory and no producer ever waits on SQLite.
 *
 * Rows the history writes about itself (fallback to memory, lock recovered,
 * rows dropped, write failed) go into the next transaction ahead of the batch.
 * Retention (max_rows, max_age_s) runs inside a write transaction at most
 * every RETENTION_INTERVAL_US, and on close.
 *
 * Sequence numbers make history_sync() exact: seq_queued counts accepted rows,
 * seq_done counts rows committed (or given up on); a sync waits on `done`
 * until seq_done reaches the seq_queued it saw.
 *
 * A database that cannot be used (not a database, corrupt, cannot be opened
 * or written) is replaced by a shared-cache in-memory database named after the
 * handle, so that history_query()'s own read-only connections see the rows.
 *
 * Threads: history_open/close on the control thread; history_record, _report,
 * _sync, _query, _get_status on any non-RT thread; everything marked "writer"
 * only on the history thread (it alone touches h->db, h->insert, h->batch).
 */
#include "history.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_QUEUE_ROWS 4096
#define MIN_QUEUE_ROWS 4
#define DEFAULT_FLUSH_MS 200
#define BUSY_TIMEOUT_MS 250
#define RETENTION_INTERVAL_US 2000000
#define CLOSE_GRACE_US 2000000	/* how long close waits for a locked database */
#define QUERY_RETRY_US 1000000	/* readers retry shared-cache locks this long */
#define MAX_NOTICES 4

struct history {
	char path[512];		/* "" = memory only by configuration */
	char mem_uri[96];
	int64_t max_rows;
	int64_t max_age_s;
	uint32_t capacity;
	uint32_t flush_ms;

	pthread_mutex_t lock;
	pthread_cond_t wake;	/* writer: rows, sync or stop */
	pthread_cond_t done;	/* sync: seq_done moved */
	pthread_t thread;
	/* under lock */
	struct history_row *queue;
	uint32_t queued;
	uint64_t seq_queued;
	uint64_t seq_done;
	uint64_t dropped_total;
	uint64_t dropped_unreported;
	uint64_t rows_written;
	uint32_t batch_pending;	/* mirror of batch_len for the status */
	bool stop;
	bool flush_now;
	bool memory;		/* rows go to mem_uri */
	bool persistent;
	char last_error[512];

	/* writer */
	sqlite3 *db;
	sqlite3_stmt *insert;
	bool ready;		/* schema set up and insert prepared */
	struct history_row *batch;
	uint32_t batch_len;
	uint64_t batch_end_seq;
	struct history_row notices[MAX_NOTICES];
	int n_notices;
	int64_t locked_since_us;	/* 0 = not locked */
	int64_t last_retention_us;	/* monotonic; 0 = never */
	int64_t stop_deadline_us;	/* monotonic; 0 = not stopping */
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS history ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time_us INTEGER NOT NULL,"
	" domain TEXT NOT NULL,"
	" code INTEGER NOT NULL,"
	" name TEXT NOT NULL,"
	" level TEXT NOT NULL,"
	" subject TEXT NOT NULL DEFAULT '',"
	" message TEXT NOT NULL DEFAULT '',"
	" request TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX IF NOT EXISTS history_time ON history(time_us);"
	"CREATE INDEX IF NOT EXISTS history_domain_code ON history(domain, code);"
	"CREATE INDEX IF NOT EXISTS history_subject ON history(subject);";

static const char insert_sql[] =
	"INSERT INTO history (time_us, domain, code, name, level, subject, message, request)"
	" VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

static const char columns_sql[] =
	"SELECT id, time_us, domain, code, name, level, subject, message, request FROM history";

/* ---- small helpers (any thread) */

int64_t history_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct timespec mono_deadline(int64_t from_now_us)
{
	int64_t t = mono_us() + from_now_us;
	struct timespec ts = { .tv_sec = t / 1000000, .tv_nsec = (t % 1000000) * 1000 };

	return ts;
}

static void copy_text(char *dst, size_t size, const char *src)
{
	size_t n = src ? strnlen(src, size - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

static void copy_row(struct history_row *dst, const struct history_row *src, int64_t time_us)
{
	dst->id = 0;
	dst->time_us = time_us;
	dst->domain = src->domain;
	dst->code = src->code;
	dst->level = src->level;
	copy_text(dst->name, sizeof(dst->name), src->name);
	copy_text(dst->subject, sizeof(dst->subject), src->subject);
	copy_text(dst->message, sizeof(dst->message), src->message);
	copy_text(dst->request, sizeof(dst->request), src->request);
}

static int level_from_name(const char *name)
{
	for (int l = AIRMIX_LEVEL_ERROR; l <= AIRMIX_LEVEL_INFO; l++)
		if (strcmp(airmix_level_name(l), name) == 0)
			return l;
	return -1;
}

static bool sqlite_busy(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

static bool sqlite_corrupt(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

static int sqlite_to_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	default:
		return -EIO;
	}
}

/* Control or writer thread: set the status text. */
static void set_error(struct history *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct history *h, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&h->lock);
	va_start(ap, fmt);
	vsnprintf(h->last_error, sizeof(h->last_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&h->lock);
}

/* Writer (or control before the writer starts): queue a row about the
 * history itself for the next transaction. */
static void add_notice(struct history *h, int code, const char *subject, const char *message)
{
	struct history_row *n;

	if (h->n_notices == MAX_NOTICES)
		return;
	n = &h->notices[h->n_notices++];
	memset(n, 0, sizeof(*n));
	n->time_us = history_now_us();
	n->domain = AIRMIX_DOMAIN_HISTORY;
	n->code = code;
	copy_text(n->subject, sizeof(n->subject), subject);
	copy_text(n->message, sizeof(n->message), message);
}

/* ---- the write connection (writer, or control before the writer starts) */

static void db_close(struct history *h)
{
	sqlite3_finalize(h->insert);
	h->insert = NULL;
	sqlite3_close_v2(h->db);
	h->db = NULL;
	h->ready = false;
}

/* Schema, pragmas and the insert statement. SQLite's result code. */
static int db_setup(struct history *h)
{
	int rc;

	if (!h->memory) {
		rc = sqlite3_exec(h->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return rc;
		if (sqlite3_db_readonly(h->db, "main") == 1)
			return SQLITE_READONLY;
	}
	rc = sqlite3_exec(h->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(h->db, schema_sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(h->db, insert_sql, -1, &h->insert, NULL);
	if (rc == SQLITE_OK)
		h->ready = true;
	return rc;
}

/* Open the in-memory fallback (or the configured memory-only database). */
static int open_memory(struct history *h)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI;
	int rc;

	db_close(h);
	pthread_mutex_lock(&h->lock);
	h->memory = true;
	h->persistent = false;
	pthread_mutex_unlock(&h->lock);
	rc = sqlite3_open_v2(h->mem_uri, &h->db, flags, NULL);
	if (rc == SQLITE_OK)
		rc = db_setup(h);
	if (rc != SQLITE_OK) {
		db_close(h);
		return sqlite_to_errno(rc);
	}
	return 0;
}

/* The file database cannot be used: say why (status and first row of the
 * fallback) and continue in memory. what is SQLite's text. */
static int fall_back(struct history *h, int code, const char *what)
{
	char msg[HISTORY_MESSAGE_MAX];

	snprintf(msg, sizeof(msg), "history database %s: %s; keeping history in memory",
		 h->path, what);
	set_error(h, "%s", msg);
	add_notice(h, code, h->path, msg);
	return open_memory(h);
}

/* SQLite's text for the last failure of h->db, with the OS error if any. */
static void db_error_text(struct history *h, int rc, char *buf, size_t len)
{
	bool from_db = h->db && (sqlite3_errcode(h->db) & 0xff) == (rc & 0xff);
	int sys = from_db ? sqlite3_system_errno(h->db) : 0;
	const char *text = from_db ? sqlite3_errmsg(h->db) : sqlite3_errstr(rc);

	if (sys && (rc & 0xff) == SQLITE_CANTOPEN)
		snprintf(buf, len, "%s (%s)", text, strerror(sys));
	else
		snprintf(buf, len, "%s", text);
}

/* Handle a failed setup: busy leaves the file for a later retry, anything
 * else falls back to memory. 0 or -ENOMEM. */
static int setup_failed(struct history *h, int rc)
{
	char what[256];

	db_error_text(h, rc, what, sizeof(what));
	if (sqlite_busy(rc)) {
		set_error(h, "history database %s: %s; rows stay queued", h->path, what);
		if (!h->locked_since_us)
			h->locked_since_us = history_now_us();
		sqlite3_finalize(h->insert);
		h->insert = NULL;
		return 0;
	}
	return fall_back(h, sqlite_corrupt(rc) ? HISTORY_DATABASE_CORRUPT : HISTORY_OPEN_FAILED,
			 what);
}

/* Control thread: open the configured file. 0 or -ENOMEM (when even the
 * memory fallback cannot be opened). */
static int open_file(struct history *h)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	int rc;

	h->persistent = true;
	rc = sqlite3_open_v2(h->path, &h->db, flags, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(h->db, BUSY_TIMEOUT_MS);
		rc = db_setup(h);
	}
	if (rc == SQLITE_OK)
		return 0;
	return setup_failed(h, rc);
}

/* ---- writing (writer) */

static int bind_text(sqlite3_stmt *st, int col, const char *s)
{
	return sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC);
}

/* Insert one row, taking name, level and a default message from the error
 * table when the row leaves its name empty. */
static int insert_row(struct history *h, const struct history_row *r)
{
	const struct airmix_error_def *def = NULL;
	const char *name = r->name;
	const char *message = r->message;
	enum airmix_level level = r->level;
	int rc;

	if (!name[0] || !message[0])
		def = airmix_error_find(r->domain, r->code);
	if (def && !name[0]) {
		name = def->name;
		level = def->level;
	}
	if (def && !message[0])
		message = def->message;
	sqlite3_reset(h->insert);
	sqlite3_bind_int64(h->insert, 1, r->time_us);
	bind_text(h->insert, 2, airmix_domain_name(r->domain));
	sqlite3_bind_int(h->insert, 3, r->code);
	bind_text(h->insert, 4, name);
	bind_text(h->insert, 5, airmix_level_name(level));
	bind_text(h->insert, 6, r->subject);
	bind_text(h->insert, 7, message);
	bind_text(h->insert, 8, r->request);
	rc = sqlite3_step(h->insert);
	sqlite3_reset(h->insert);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int exec_int64(sqlite3 *db, const char *sql, int64_t v)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(st, 1, v);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int apply_retention(struct history *h)
{
	int rc = SQLITE_OK;

	if (h->max_age_s > 0)
		rc = exec_int64(h->db, "DELETE FROM history WHERE time_us < ?",
				history_now_us() - h->max_age_s * 1000000);
	if (rc == SQLITE_OK && h->max_rows > 0)
		rc = exec_int64(h->db, "DELETE FROM history WHERE id <= (SELECT id FROM history"
				" ORDER BY id DESC LIMIT 1 OFFSET ?)", h->max_rows);
	return rc;
}

static bool retention_due(struct history *h)
{
	if (h->max_rows <= 0 && h->max_age_s <= 0)
		return false;
	return h->stop_deadline_us || !h->last_retention_us ||
	       mono_us() - h->last_retention_us >= RETENTION_INTERVAL_US;
}

/* Build the rows the history writes about itself into this transaction. */
static void add_status_notices(struct history *h, uint64_t dropped)
{
	char msg[HISTORY_MESSAGE_MAX];

	if (h->locked_since_us) {
		snprintf(msg, sizeof(msg),
			 "history database %s was locked for %.1f s; queued rows written late",
			 h->path, (double)(history_now_us() - h->locked_since_us) / 1e6);
		add_notice(h, HISTORY_DATABASE_LOCKED, h->path, msg);
	}
	if (dropped) {
		snprintf(msg, sizeof(msg), "history queue full: %llu rows dropped",
			 (unsigned long long)dropped);
		add_notice(h, HISTORY_ROWS_DROPPED, h->path, msg);
	}
}

static uint64_t dropped_unreported(struct history *h)
{
	uint64_t n;

	pthread_mutex_lock(&h->lock);
	n = h->dropped_unreported;
	pthread_mutex_unlock(&h->lock);
	return n;
}

/* One transaction: notices, the batch, retention when due. The status
 * notices are built once the write lock is held, so that they count what
 * happened up to the commit. SQLite's result; *dropped = drops reported. */
static int write_transaction(struct history *h, bool retain, uint64_t *dropped)
{
	int rc = sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return rc;
	*dropped = dropped_unreported(h);
	add_status_notices(h, *dropped);
	for (int i = 0; i < h->n_notices && rc == SQLITE_OK; i++)
		rc = insert_row(h, &h->notices[i]);
	for (uint32_t i = 0; i < h->batch_len && rc == SQLITE_OK; i++)
		rc = insert_row(h, &h->batch[i]);
	if (rc == SQLITE_OK && retain)
		rc = apply_retention(h);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* The batch is written or given up on: tell sync waiters. */
static void batch_finished(struct history *h, uint64_t written, uint64_t lost,
			   uint64_t dropped_reported)
{
	pthread_mutex_lock(&h->lock);
	h->rows_written += written;
	h->dropped_total += lost;
	h->dropped_unreported += lost;
	h->dropped_unreported -= dropped_reported;
	h->seq_done = h->batch_end_seq;
	h->batch_pending = 0;
	pthread_cond_broadcast(&h->done);
	pthread_mutex_unlock(&h->lock);
	h->batch_len = 0;
}

/* A write failed for a reason other than a lock or corruption (disk full,
 * I/O error): the batch is lost; say so in the status and the next row. */
static void batch_lost(struct history *h, const char *what)
{
	char msg[HISTORY_MESSAGE_MAX];

	snprintf(msg, sizeof(msg), "history database %s: %s; %u rows lost",
		 h->memory ? h->mem_uri : h->path, what, h->batch_len);
	set_error(h, "%s", msg);
	add_notice(h, HISTORY_WRITE_FAILED, h->path, msg);
	batch_finished(h, 0, h->batch_len, 0);
}

/* Write notices and batch. 0 when done with them, -EBUSY when the database
 * is locked (the batch is kept), -EAGAIN to retry at once (switched to
 * memory, or a memory reader held a table lock). */
static int write_pending(struct history *h)
{
	bool retain = retention_due(h);
	int base_notices = h->n_notices;
	uint64_t dropped = 0;
	char what[256];
	int rc;

	if (!h->ready) {
		rc = h->db ? db_setup(h) : SQLITE_CANTOPEN;
		if (rc != SQLITE_OK) {
			if (setup_failed(h, rc) < 0)
				return -ENOMEM;
			return h->ready ? -EAGAIN : -EBUSY;
		}
	}
	if (!h->n_notices && !h->batch_len && !retain && !h->locked_since_us &&
	    !dropped_unreported(h))
		return 0;

	rc = write_transaction(h, retain, &dropped);
	if (rc == SQLITE_OK) {
		uint64_t n = h->batch_len + (uint64_t)h->n_notices;

		if (retain)
			h->last_retention_us = mono_us();
		if (!h->memory)
			set_error(h, "%s", "");
		h->locked_since_us = 0;
		h->n_notices = 0;
		batch_finished(h, n, 0, dropped);
		return 0;
	}
	h->n_notices = base_notices;	/* status notices are rebuilt next time */
	if (sqlite_busy(rc) && h->memory) {
		/* a shared-cache reader holds a table lock for a moment */
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
		return -EAGAIN;
	}
	db_error_text(h, rc, what, sizeof(what));
	if (sqlite_busy(rc)) {
		if (!h->locked_since_us)
			h->locked_since_us = history_now_us();
		set_error(h, "history database %s: %s; rows stay queued", h->path, what);
		return -EBUSY;
	}
	if (sqlite_corrupt(rc) && !h->memory)
		return fall_back(h, HISTORY_DATABASE_CORRUPT, what) < 0 ? -ENOMEM : -EAGAIN;
	batch_lost(h, what);
	return 0;
}

/* Give up on whatever is still waiting (close on a database that stays
 * locked): count it as dropped so that the status says so. */
static void abandon_pending(struct history *h)
{
	pthread_mutex_lock(&h->lock);
	h->batch_end_seq = h->seq_queued;
	h->batch_len += h->queued;
	h->queued = 0;
	pthread_mutex_unlock(&h->lock);
	batch_finished(h, 0, h->batch_len, 0);
	h->n_notices = 0;
}

/* Take what producers queued, unless a batch is still waiting. Returns true
 * when the writer should stop (stop requested and nothing left). */
static bool take_queue(struct history *h)
{
	bool idle;
	bool stop;

	pthread_mutex_lock(&h->lock);
	idle = !h->queued && !h->batch_len && !h->n_notices;
	if (idle && !h->stop && !h->flush_now) {
		struct timespec ts = mono_deadline((int64_t)h->flush_ms * 1000);

		pthread_cond_timedwait(&h->wake, &h->lock, &ts);
	}
	h->flush_now = false;
	if (!h->batch_len && h->queued) {
		struct history_row *t = h->batch;

		h->batch = h->queue;
		h->queue = t;
		h->batch_len = h->queued;
		h->batch_pending = h->queued;
		h->batch_end_seq = h->seq_queued;
		h->queued = 0;
	}
	stop = h->stop;
	idle = !h->queued && !h->batch_len && !h->n_notices;
	pthread_mutex_unlock(&h->lock);
	if (stop && !h->stop_deadline_us)
		h->stop_deadline_us = mono_us() + CLOSE_GRACE_US;
	return stop && idle;
}

/* Writer: sleep a little after a busy failure, unless stopping. */
static void pause_after_busy(struct history *h)
{
	struct timespec ts = mono_deadline(50000);

	pthread_mutex_lock(&h->lock);
	if (!h->stop)
		pthread_cond_timedwait(&h->wake, &h->lock, &ts);
	pthread_mutex_unlock(&h->lock);
}

static void *writer_main(void *arg)
{
	struct history *h = arg;

	for (;;) {
		bool stop = take_queue(h);
		int rc;

		if (stop) {
			if (h->ready)
				write_pending(h);	/* retention, late drop count */
			break;
		}
		rc = write_pending(h);
		if (rc == -EBUSY || rc == -ENOMEM) {
			if (h->stop_deadline_us && mono_us() >= h->stop_deadline_us) {
				abandon_pending(h);
				break;
			}
			pause_after_busy(h);
		}
	}
	return NULL;
}

/* ---- public API */

static int init_sync(struct history *h)
{
	pthread_condattr_t attr;
	int rc;

	if (pthread_condattr_init(&attr))
		return -ENOMEM;
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = pthread_mutex_init(&h->lock, NULL);
	if (rc)
		goto out_attr;
	rc = pthread_cond_init(&h->wake, &attr);
	if (rc)
		goto out_mutex;
	rc = pthread_cond_init(&h->done, &attr);
	if (rc)
		goto out_wake;
	pthread_condattr_destroy(&attr);
	return 0;

out_wake:
	pthread_cond_destroy(&h->wake);
out_mutex:
	pthread_mutex_destroy(&h->lock);
out_attr:
	pthread_condattr_destroy(&attr);
	return -rc;
}

static void destroy_sync(struct history *h)
{
	pthread_cond_destroy(&h->done);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
}

/* Control thread. */
int history_open(const struct history_config *cfg, struct history **out)
{
	struct history *h;
	int rc;

	if (!cfg || !out || cfg->max_rows < 0 || cfg->max_age_s < 0 ||
	    (cfg->path && strlen(cfg->path) >= sizeof(h->path)))
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	copy_text(h->path, sizeof(h->path), cfg->path);
	snprintf(h->mem_uri, sizeof(h->mem_uri), "file:airmix-history-%p?mode=memory&cache=shared",
		 (void *)h);
	h->max_rows = cfg->max_rows;
	h->max_age_s = cfg->max_age_s;
	h->capacity = cfg->queue_rows ? cfg->queue_rows : DEFAULT_QUEUE_ROWS;
	if (h->capacity < MIN_QUEUE_ROWS)
		h->capacity = MIN_QUEUE_ROWS;
	h->flush_ms = cfg->flush_ms ? cfg->flush_ms : DEFAULT_FLUSH_MS;

	rc = -ENOMEM;
	h->queue = calloc(h->capacity, sizeof(*h->queue));
	h->batch = calloc(h->capacity, sizeof(*h->batch));
	if (!h->queue || !h->batch)
		goto out_free;
	rc = init_sync(h);
	if (rc < 0)
		goto out_free;

	rc = h->path[0] ? open_file(h) : open_memory(h);
	if (rc < 0)
		goto out_db;
	rc = -pthread_create(&h->thread, NULL, writer_main, h);
	if (rc < 0)
		goto out_db;
	pthread_setname_np(h->thread, "airmix-history");
	*out = h;
	return 0;

out_db:
	db_close(h);
	destroy_sync(h);
out_free:
	free(h->queue);
	free(h->batch);
	free(h);
	return rc;
}

/* Control thread. */
void history_close(struct history *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	db_close(h);
	destroy_sync(h);
	free(h->queue);
	free(h->batch);
	free(h);
}

/* Any non-RT thread. */
int history_record(struct history *h, const struct history_row *row)
{
	int64_t t;

	if (!h || !row || (unsigned)row->domain >= AIRMIX_DOMAIN_COUNT)
		return -EINVAL;
	t = row->time_us ? row->time_us : history_now_us();
	pthread_mutex_lock(&h->lock);
	if (h->queued == h->capacity || h->stop) {
		h->dropped_total++;
		h->dropped_unreported++;
		pthread_mutex_unlock(&h->lock);
		return -ENOSPC;
	}
	copy_row(&h->queue[h->queued++], row, t);
	h->seq_queued++;
	if (h->queued == h->capacity / 2)
		pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

/* Any non-RT thread. */
int history_report(struct history *h, enum airmix_domain domain, int code,
		   const char *subject, const char *request, const char *fmt, ...)
{
	const struct airmix_error_def *def = airmix_error_find(domain, code);
	struct history_row row;
	va_list ap;

	memset(&row, 0, sizeof(row));
	row.domain = domain;
	row.code = code;
	row.level = def ? def->level : AIRMIX_LEVEL_ERROR;
	copy_text(row.name, sizeof(row.name), def ? def->name : "");
	copy_text(row.subject, sizeof(row.subject), subject);
	copy_text(row.request, sizeof(row.request), request);
	if (fmt && fmt[0]) {
		va_start(ap, fmt);
		vsnprintf(row.message, sizeof(row.message), fmt, ap);
		va_end(ap);
	} else {
		copy_text(row.message, sizeof(row.message), def ? def->message : "");
	}
	return history_record(h, &row);
}

/* Any non-RT thread. */
int history_sync(struct history *h, int timeout_ms)
{
	struct timespec ts = mono_deadline((int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000);
	uint64_t target;
	int rc = 0;

	if (!h)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	target = h->seq_queued;
	h->flush_now = true;
	pthread_cond_signal(&h->wake);
	while (h->seq_done < target && rc == 0)
		rc = pthread_cond_timedwait(&h->done, &h->lock, &ts);
	rc = h->seq_done >= target ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* Any non-RT thread. */
void history_get_status(struct history *h, struct history_status *st)
{
	memset(st, 0, sizeof(*st));
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	st->persistent = h->persistent;
	copy_text(st->path, sizeof(st->path), h->path);
	copy_text(st->last_error, sizeof(st->last_error), h->last_error);
	st->rows_written = h->rows_written;
	st->rows_dropped = h->dropped_total;
	st->queued = h->queued + h->batch_pending;
	pthread_mutex_unlock(&h->lock);
}

/* ---- query (any non-RT thread, own read-only connection) */

struct query_sql {
	char where[512];
	int64_t ints[4];
	int n_ints;
	const char *texts[3];
	int n_texts;
	bool int_first[7];	/* bind order: true = next int, false = next text */
	int n_binds;
};

static void where_add(struct query_sql *q, const char *clause)
{
	size_t len = strlen(q->where);

	snprintf(q->where + len, sizeof(q->where) - len, "%s%s", len ? " AND " : " WHERE ",
		 clause);
}

static void where_int(struct query_sql *q, const char *clause, int64_t v)
{
	where_add(q, clause);
	q->ints[q->n_ints++] = v;
	q->int_first[q->n_binds++] = true;
}

static void where_text(struct query_sql *q, const char *clause, const char *v)
{
	where_add(q, clause);
	q->texts[q->n_texts++] = v;
	q->int_first[q->n_binds++] = false;
}

/* Filters without paging, shared by the count and the page. */
static int build_where(const struct history_filter *f, struct query_sql *q)
{
	memset(q, 0, sizeof(*q));
	if (f->since_us)
		where_int(q, "time_us >= ?", f->since_us);
	if (f->until_us)
		where_int(q, "time_us <= ?", f->until_us);
	if (f->domain >= 0) {
		if (f->domain >= AIRMIX_DOMAIN_COUNT)
			return -EINVAL;
		where_text(q, "domain = ?", airmix_domain_name(f->domain));
	}
	if (f->has_code)
		where_int(q, "code = ?", f->code);
	if (f->subject)
		where_text(q, "subject = ?", f->subject);
	if (f->level) {
		if (level_from_name(f->level) < 0)
			return -EINVAL;
		where_text(q, "level = ?", f->level);
	}
	return 0;
}

static int bind_where(sqlite3_stmt *st, const struct query_sql *q)
{
	int ni = 0, nt = 0;
	int rc = SQLITE_OK;

	for (int i = 0; i < q->n_binds && rc == SQLITE_OK; i++) {
		if (q->int_first[i])
			rc = sqlite3_bind_int64(st, i + 1, q->ints[ni++]);
		else
			rc = bind_text(st, i + 1, q->texts[nt++]);
	}
	return rc;
}

static void column_text(sqlite3_stmt *st, int col, char *dst, size_t size)
{
	copy_text(dst, size, (const char *)sqlite3_column_text(st, col));
}

static void read_row(sqlite3_stmt *st, struct history_row *r)
{
	const char *domain = (const char *)sqlite3_column_text(st, 2);
	const char *level = (const char *)sqlite3_column_text(st, 5);
	int l = level ? level_from_name(level) : -1;

	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(st, 0);
	r->time_us = sqlite3_column_int64(st, 1);
	r->domain = (enum airmix_domain)airmix_domain_from_name(domain);
	r->code = sqlite3_column_int(st, 3);
	r->level = l < 0 ? AIRMIX_LEVEL_ERROR : (enum airmix_level)l;
	column_text(st, 4, r->name, sizeof(r->name));
	column_text(st, 6, r->subject, sizeof(r->subject));
	column_text(st, 7, r->message, sizeof(r->message));
	column_text(st, 8, r->request, sizeof(r->request));
}

static int query_count(sqlite3 *db, const struct query_sql *q, int64_t *total)
{
	char sql[700];
	sqlite3_stmt *st;
	int rc;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM history%s", q->where);
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = bind_where(st, q);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*total = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

static int query_page(sqlite3 *db, const struct query_sql *q, const struct history_filter *f,
		      struct history_row *rows, size_t max_rows, size_t *n_rows)
{
	size_t limit = f->limit < max_rows ? f->limit : max_rows;
	int n = q->n_binds;
	char sql[900];
	sqlite3_stmt *st;
	int rc;

	*n_rows = 0;
	snprintf(sql, sizeof(sql), "%s%s%s%s ORDER BY id DESC LIMIT ? OFFSET ?", columns_sql,
		 q->where, f->before_id > 0 ? (q->where[0] ? " AND " : " WHERE ") : "",
		 f->before_id > 0 ? "id < ?" : "");
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = bind_where(st, q);
	if (rc == SQLITE_OK && f->before_id > 0)
		rc = sqlite3_bind_int64(st, ++n, f->before_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, ++n, (int64_t)limit);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, ++n, f->offset);
	while (rc == SQLITE_OK && *n_rows < limit) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			read_row(st, &rows[(*n_rows)++]);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Count and page in one read transaction, so that they agree. */
static int query_once(sqlite3 *db, const struct query_sql *q, const struct history_filter *f,
		      struct history_row *rows, size_t max_rows, size_t *n_rows, int64_t *total)
{
	int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);

	if (rc == SQLITE_OK)
		rc = query_count(db, q, total);
	if (rc == SQLITE_OK)
		rc = query_page(db, q, f, rows, max_rows, n_rows);
	sqlite3_exec(db, rc == SQLITE_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Any non-RT thread. */
int history_query(struct history *h, const struct history_filter *filter,
		  struct history_row *rows, size_t max_rows, size_t *n_rows, int64_t *total,
		  char *errbuf, size_t errlen)
{
	int64_t deadline = mono_us() + QUERY_RETRY_US;
	char target[sizeof(h->path)];
	struct query_sql q;
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READONLY;
	int64_t count = 0;
	size_t got = 0;
	int rc;

	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (!h || !filter || !n_rows || (max_rows && !rows) || filter->limit < 1 ||
	    filter->limit > 1000)
		return -EINVAL;
	if (build_where(filter, &q) < 0)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	copy_text(target, sizeof(target), h->memory ? h->mem_uri : h->path);
	if (h->memory)
		flags |= SQLITE_OPEN_URI;
	pthread_mutex_unlock(&h->lock);

	rc = sqlite3_open_v2(target, &db, flags, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
		/* A shared-cache reader gets SQLITE_LOCKED at once while the
		 * writer commits; that lasts a batch, so retry for a while. */
		for (;;) {
			rc = query_once(db, &q, filter, rows, max_rows, &got, &count);
			if (!sqlite_busy(rc) || mono_us() >= deadline)
				break;
			nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
		}
	}
	if (rc != SQLITE_OK) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "history query on %s: %s", target,
				 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close_v2(db);
		return sqlite_to_errno(rc);
	}
	sqlite3_close_v2(db);
	*n_rows = got;
	if (total)
		*total = count;
	return 0;
}
