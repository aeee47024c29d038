/* history.h - the SQLite error and state history (DESIGN §5).
 *
 * DESIGN
 * Producers (control, event, web and worker threads, never RT) call
 * history_record(): it copies the row into a bounded in-memory queue under a
 * short mutex and returns at once. One history thread owns the write
 * connection: it takes everything queued, inserts it in one transaction, and
 * enforces retention (max rows, max age) every few seconds. If the queue is
 * full the row is dropped and counted; the next successful batch records a
 * HISTORY_ROWS_DROPPED row saying how many were lost.
 *
 * A database that cannot be opened (corrupt, not a database, unwritable
 * directory) or stays locked does not stop anything else: history_open() falls
 * back to an in-memory database, the condition is reported through
 * history_status() and as the first row of the fallback database, and the
 * engine keeps running.
 *
 * history_query() opens its own read-only connection per call (WAL lets it run
 * beside the writer); any non-RT thread may call it.
 */
#ifndef AIRMIX_HISTORY_H
#define AIRMIX_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define HISTORY_SUBJECT_MAX 256
#define HISTORY_MESSAGE_MAX 1024
#define HISTORY_REQUEST_MAX 2048
#define HISTORY_NAME_MAX 64

struct history;

struct history_row {
	int64_t id;		/* set by the database; ignored by history_record() */
	int64_t time_us;	/* wall clock, µs since the epoch; 0 = now */
	enum airmix_domain domain;
	int code;
	enum airmix_level level;
	char name[HISTORY_NAME_MAX];	/* "" = taken from the error table */
	char subject[HISTORY_SUBJECT_MAX];	/* mix id, task id, room/user, take, node */
	char message[HISTORY_MESSAGE_MAX];
	char request[HISTORY_REQUEST_MAX];	/* the request that caused it, or "" */
};

struct history_config {
	const char *path;	/* database file; NULL or "" = in-memory only */
	int64_t max_rows;	/* 0 = unbounded */
	int64_t max_age_s;	/* 0 = unbounded */
	uint32_t queue_rows;	/* bounded producer queue */
	uint32_t flush_ms;	/* the writer wakes at least this often */
};

struct history_status {
	bool persistent;	/* false when running on the in-memory fallback */
	char path[512];
	char last_error[512];	/* "" when healthy */
	uint64_t rows_written;
	uint64_t rows_dropped;
	uint32_t queued;
};

struct history_filter {
	int64_t since_us;	/* 0 = no lower bound */
	int64_t until_us;	/* 0 = no upper bound */
	int domain;		/* -1 = any */
	int code;		/* used when has_code */
	bool has_code;
	const char *subject;	/* NULL = any; exact match */
	const char *level;	/* NULL = any */
	int64_t before_id;	/* paging: only rows with id < before_id; 0 = newest */
	uint32_t limit;		/* rows per page, 1..1000 */
	uint32_t offset;	/* paging alternative to before_id */
};

/* Control thread. Never fails for database trouble (falls back to memory;
 * history_get_status() says why); returns -ENOMEM or -EINVAL only. */
int history_open(const struct history_config *cfg, struct history **out);
/* Control thread: flushes what is queued, stops the writer, closes. */
void history_close(struct history *h);

/* Any non-RT thread: queue a row. 0, or -ENOSPC when the queue was full (the
 * row is dropped and counted). */
int history_record(struct history *h, const struct history_row *row);

/* Convenience: fill a row from the error table and queue it. */
int history_report(struct history *h, enum airmix_domain domain, int code,
		   const char *subject, const char *request, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Any non-RT thread: wait until every row queued so far is in the database
 * (or timeout_ms passes). 0 or -ETIMEDOUT. */
int history_sync(struct history *h, int timeout_ms);

/* Any non-RT thread. Rows newest first. *total = rows matching the filter
 * (ignoring paging). 0 or negative errno; errbuf gets SQLite's text. */
int history_query(struct history *h, const struct history_filter *filter,
		  struct history_row *rows, size_t max_rows, size_t *n_rows, int64_t *total,
		  char *errbuf, size_t errlen);

void history_get_status(struct history *h, struct history_status *st);

/* Current wall time in µs. */
int64_t history_now_us(void);

#endif
