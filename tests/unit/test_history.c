/* test_history.c - the SQLite history: round trip, filters, paging, retention,
 * fallback to memory for corrupt and unopenable files, a locked database that
 * must not block producers, queue overflow, concurrent producers.
 *
 * Every database lives in a temporary directory under /tmp that is removed at
 * the end. Runs under ASan and TSan builds as well.
 *
 * Threads: main, plus the producer threads of test_concurrent().
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "check.h"
#include "engine/history.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAGE 1000

static struct history_row rows[MAX_PAGE];
static char tmpdir[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/airmix-test-history-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		exit(2);
	}
}

static void remove_tmpdir(void)
{
	nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static struct history *open_history(const char *path, int64_t max_rows, int64_t max_age_s,
				    uint32_t queue_rows, uint32_t flush_ms)
{
	struct history_config cfg = {
		.path = path, .max_rows = max_rows, .max_age_s = max_age_s,
		.queue_rows = queue_rows, .flush_ms = flush_ms,
	};
	struct history *h = NULL;
	int rc = history_open(&cfg, &h);

	CHECK(rc == 0 && h, "history_open %s", path ? path : "(memory)");
	if (!h)
		exit(CHECK_DONE());
	return h;
}

static struct history_filter any(void)
{
	return (struct history_filter){ .domain = -1, .limit = MAX_PAGE };
}

/* Rows matching f (total), or -1 on error. */
static int64_t count_where(struct history *h, struct history_filter f)
{
	char err[256];
	int64_t total = -1;
	size_t n = 0;

	if (history_query(h, &f, NULL, 0, &n, &total, err, sizeof(err)) < 0) {
		printf("# query: %s\n", err);
		return -1;
	}
	return total;
}

static size_t fetch(struct history *h, struct history_filter f, int64_t *total)
{
	char err[256];
	size_t n = 0;
	int rc = history_query(h, &f, rows, MAX_PAGE, &n, total, err, sizeof(err));

	if (rc < 0)
		printf("# query: %d %s\n", rc, err);
	return n;
}

static int record(struct history *h, enum airmix_domain domain, int code, const char *subject,
		  int64_t time_us)
{
	struct history_row r;

	memset(&r, 0, sizeof(r));
	r.domain = domain;
	r.code = code;
	r.time_us = time_us;
	snprintf(r.subject, sizeof(r.subject), "%s", subject);
	return history_record(h, &r);
}

static void test_roundtrip(void)
{
	char path[128];
	struct history *h;
	struct history_row r;
	struct history_status st;
	struct history_filter f = any();
	int64_t t0 = history_now_us(), total = 0;
	size_t n;
	sqlite3 *db;
	sqlite3_stmt *s;

	tmp_path(path, sizeof(path), "roundtrip.db");
	h = open_history(path, 0, 0, 0, 50);
	history_get_status(h, &st);
	CHECK(st.persistent && strcmp(st.path, path) == 0 && st.last_error[0] == '\0',
	      "fresh file: persistent, healthy (\"%s\")", st.last_error);

	memset(&r, 0, sizeof(r));
	r.time_us = 1700000000123456;
	r.domain = AIRMIX_DOMAIN_AUDIO_MIXING;
	r.code = 5;
	snprintf(r.subject, sizeof(r.subject), "mix-7");
	snprintf(r.message, sizeof(r.message), "volume 500 outside [0, 400]");
	snprintf(r.request, sizeof(r.request), "PUT /api/v1/mixes/7 {\"volume\":500}");
	CHECK(history_record(h, &r) == 0, "record a full row");
	CHECK(history_report(h, AIRMIX_DOMAIN_ENGINE, ENGINE_XRUN, "clock", NULL, NULL) == 0,
	      "report with the default message");
	CHECK(history_report(h, AIRMIX_DOMAIN_API, API_BAD_JSON, NULL, "POST /x", "line %d: %s",
			     3, "unexpected token") == 0, "report with a formatted message");
	memset(&r, 0, sizeof(r));
	r.domain = AIRMIX_DOMAIN_ENGINE;
	r.code = 1234567;	/* not in the table */
	r.level = AIRMIX_LEVEL_INFO;
	snprintf(r.name, sizeof(r.name), "CUSTOM_NAME");
	CHECK(history_record(h, &r) == 0, "record a row with its own name and level");
	CHECK(history_sync(h, 5000) == 0, "sync");

	n = fetch(h, f, &total);
	CHECK(n == 4 && total == 4, "four rows back (%zu, total %lld)", n, (long long)total);
	if (n == 4) {
		CHECK(rows[0].id > rows[1].id && rows[1].id > rows[2].id && rows[2].id > rows[3].id,
		      "newest first");
		CHECK(rows[3].time_us == 1700000000123456 &&
		      rows[3].domain == AIRMIX_DOMAIN_AUDIO_MIXING && rows[3].code == 5 &&
		      strcmp(rows[3].name, "AUDIO_MIXING_ERROR_INVALID_VOLUME") == 0 &&
		      rows[3].level == AIRMIX_LEVEL_ERROR && strcmp(rows[3].subject, "mix-7") == 0 &&
		      strcmp(rows[3].message, "volume 500 outside [0, 400]") == 0 &&
		      strcmp(rows[3].request, "PUT /api/v1/mixes/7 {\"volume\":500}") == 0,
		      "every column of the full row");
		CHECK(strcmp(rows[2].name, "ENGINE_XRUN") == 0 && rows[2].level == AIRMIX_LEVEL_WARNING &&
		      strcmp(rows[2].message, airmix_error_find(AIRMIX_DOMAIN_ENGINE,
								ENGINE_XRUN)->message) == 0 &&
		      rows[2].time_us >= t0 && rows[2].time_us <= history_now_us() &&
		      strcmp(rows[2].request, "") == 0,
		      "report: name, level and message from the table, time now");
		CHECK(strcmp(rows[1].message, "line 3: unexpected token") == 0 &&
		      strcmp(rows[1].request, "POST /x") == 0 && strcmp(rows[1].subject, "") == 0,
		      "report: formatted message and request");
		CHECK(strcmp(rows[0].name, "CUSTOM_NAME") == 0 && rows[0].level == AIRMIX_LEVEL_INFO &&
		      rows[0].code == 1234567, "own name and level kept");
	}
	history_get_status(h, &st);
	CHECK(st.rows_written == 4 && st.rows_dropped == 0 && st.queued == 0,
	      "status counts (written %llu)", (unsigned long long)st.rows_written);

	/* The file as another tool sees it: WAL, the columns, the indexes. */
	CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK, "open with sqlite3");
	sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL);
	CHECK(sqlite3_step(s) == SQLITE_ROW &&
	      strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0, "journal mode is wal");
	sqlite3_finalize(s);
	sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type='index' AND name IN"
			   " ('history_time','history_domain_code','history_subject')", -1, &s, NULL);
	CHECK(sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 3, "three indexes");
	sqlite3_finalize(s);
	sqlite3_prepare_v2(db, "SELECT domain, level, name FROM history WHERE code = 5", -1, &s, NULL);
	CHECK(sqlite3_step(s) == SQLITE_ROW &&
	      strcmp((const char *)sqlite3_column_text(s, 0), "audio_mixing") == 0 &&
	      strcmp((const char *)sqlite3_column_text(s, 1), "error") == 0,
	      "domain and level stored as text");
	sqlite3_finalize(s);
	sqlite3_close(db);

	for (int i = 0; i < 500; i++)
		record(h, AIRMIX_DOMAIN_ENGINE, ENGINE_TAP_OVERRUN, "close-flush", 0);
	history_close(h);
	h = open_history(path, 0, 0, 0, 50);
	f.subject = "close-flush";
	CHECK(count_where(h, f) == 500, "close flushes what is queued; rows persist across reopen");
	history_close(h);
}

/* The generator of test_filters and test_paging. */
#define N_GEN 60
static const enum airmix_domain gen_domain[3] = {
	AIRMIX_DOMAIN_ENGINE, AIRMIX_DOMAIN_API, AIRMIX_DOMAIN_AUDIO_MIXING
};

static int gen_code(int i)
{
	switch (i % 3) {
	case 0:
		return i % 2 ? ENGINE_XRUN : ENGINE_STARTED;
	case 1:
		return API_BAD_JSON;
	default:
		return 5;
	}
}

static const char *gen_level(int i)
{
	return i % 3 == 0 ? (i % 2 ? "warning" : "state") : "error";
}

static void gen_subject(int i, char *buf, size_t len)
{
	snprintf(buf, len, "s%d", i % 4);
}

static int64_t gen_base;

static struct history *filled_history(const char *name)
{
	char path[128], subject[16];
	struct history *h;

	tmp_path(path, sizeof(path), name);
	h = open_history(path, 0, 0, 0, 50);
	gen_base = 1800000000000000;
	for (int i = 0; i < N_GEN; i++) {
		gen_subject(i, subject, sizeof(subject));
		record(h, gen_domain[i % 3], gen_code(i), subject, gen_base + i * 1000);
	}
	CHECK(history_sync(h, 5000) == 0, "%d generated rows synced", N_GEN);
	return h;
}

struct filter_case {
	const char *what;
	struct history_filter f;
};

static bool gen_matches(int i, const struct history_filter *f)
{
	char subject[16];
	int64_t t = gen_base + i * 1000;

	gen_subject(i, subject, sizeof(subject));
	return (!f->since_us || t >= f->since_us) && (!f->until_us || t <= f->until_us) &&
	       (f->domain < 0 || (int)gen_domain[i % 3] == f->domain) &&
	       (!f->has_code || gen_code(i) == f->code) &&
	       (!f->subject || strcmp(subject, f->subject) == 0) &&
	       (!f->level || strcmp(gen_level(i), f->level) == 0);
}

static bool row_matches(const struct history_row *r, const struct history_filter *f)
{
	return (!f->since_us || r->time_us >= f->since_us) &&
	       (!f->until_us || r->time_us <= f->until_us) &&
	       (f->domain < 0 || (int)r->domain == f->domain) && (!f->has_code || r->code == f->code) &&
	       (!f->subject || strcmp(r->subject, f->subject) == 0) &&
	       (!f->level || strcmp(airmix_level_name(r->level), f->level) == 0);
}

static void test_filters(void)
{
	struct history *h = filled_history("filters.db");
	struct filter_case cases[] = {
		{ "since", { .domain = -1, .since_us = gen_base + 40 * 1000 } },
		{ "until", { .domain = -1, .until_us = gen_base + 9 * 1000 } },
		{ "time range", { .domain = -1, .since_us = gen_base + 10000, .until_us = gen_base + 20000 } },
		{ "domain", { .domain = AIRMIX_DOMAIN_API } },
		{ "code", { .domain = -1, .has_code = true, .code = ENGINE_XRUN } },
		{ "domain and code", { .domain = AIRMIX_DOMAIN_AUDIO_MIXING, .has_code = true, .code = 5 } },
		{ "subject", { .domain = -1, .subject = "s2" } },
		{ "level", { .domain = -1, .level = "warning" } },
		{ "combined", { .domain = AIRMIX_DOMAIN_ENGINE, .subject = "s1", .level = "warning",
				.since_us = gen_base + 5000, .until_us = gen_base + 50000 } },
		{ "no match", { .domain = AIRMIX_DOMAIN_RECORDER } },
	};
	struct history_filter bad;
	size_t n;
	int64_t total;

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct history_filter *f = &cases[c].f;
		int expect = 0, wrong = 0;

		f->limit = MAX_PAGE;
		for (int i = 0; i < N_GEN; i++)
			expect += gen_matches(i, f);
		total = -1;
		n = fetch(h, *f, &total);
		for (size_t i = 0; i < n; i++)
			wrong += !row_matches(&rows[i], f) || (i && rows[i].id >= rows[i - 1].id);
		CHECK(total == expect && (int64_t)n == expect && wrong == 0 &&
		      (expect > 0 || c == sizeof(cases) / sizeof(cases[0]) - 1),
		      "filter %s: %zu rows, total %lld, expected %d, %d wrong", cases[c].what, n,
		      (long long)total, expect, wrong);
	}

	bad = any();
	bad.level = "loud";
	CHECK(history_query(h, &bad, rows, MAX_PAGE, &n, &total, NULL, 0) == -EINVAL,
	      "unknown level refused");
	bad = any();
	bad.limit = 0;
	CHECK(history_query(h, &bad, rows, MAX_PAGE, &n, &total, NULL, 0) == -EINVAL,
	      "limit 0 refused");
	bad.limit = 1001;
	CHECK(history_query(h, &bad, rows, MAX_PAGE, &n, &total, NULL, 0) == -EINVAL,
	      "limit 1001 refused");
	bad = any();
	bad.domain = AIRMIX_DOMAIN_COUNT;
	CHECK(history_query(h, &bad, rows, MAX_PAGE, &n, &total, NULL, 0) == -EINVAL,
	      "unknown domain refused");
	history_close(h);
}

static void test_paging(void)
{
	struct history *h = filled_history("paging.db");
	int64_t seen[N_GEN];
	int n_seen = 0, pages = 0, bad_total = 0, order = 0;
	struct history_filter f = any();
	int64_t total;
	size_t n;

	f.limit = 7;
	for (f.offset = 0; pages < 20; f.offset += 7, pages++) {
		n = fetch(h, f, &total);
		bad_total += total != N_GEN;
		for (size_t i = 0; i < n && n_seen < N_GEN; i++)
			seen[n_seen++] = rows[i].id;
		if (n < 7)
			break;
	}
	for (int i = 1; i < n_seen; i++)
		order += seen[i] >= seen[i - 1];
	CHECK(n_seen == N_GEN && bad_total == 0 && order == 0 && pages == 8,
	      "limit/offset pages: %d rows in %d pages, totals right, strictly newest first",
	      n_seen, pages + 1);

	/* before_id pages give the same rows */
	f = any();
	f.limit = 7;
	n_seen = 0;
	pages = 0;
	bad_total = 0;
	order = 0;
	while (pages++ < 20) {
		n = fetch(h, f, &total);
		bad_total += total != N_GEN;
		for (size_t i = 0; i < n && n_seen < N_GEN; i++)
			order += rows[i].id != seen[n_seen++];
		if (n == 0)
			break;
		f.before_id = rows[n - 1].id;
	}
	CHECK(n_seen == N_GEN && bad_total == 0 && order == 0,
	      "before_id pages match the offset pages (%d rows, %d mismatches)", n_seen, order);

	/* paging combined with a filter */
	f = any();
	f.domain = AIRMIX_DOMAIN_API;
	f.limit = 6;
	n = fetch(h, f, &total);
	CHECK(n == 6 && total == 20, "filtered first page: 6 of 20");
	f.before_id = rows[5].id;
	n = fetch(h, f, &total);
	CHECK(n == 6 && total == 20 && rows[0].domain == AIRMIX_DOMAIN_API,
	      "filtered second page by before_id, total ignores paging");
	f.before_id = 0;
	f.offset = 18;
	n = fetch(h, f, &total);
	CHECK(n == 2 && total == 20, "filtered last page by offset");
	history_close(h);
}

/* Retention runs in the writer at most every 2 s: poll for the expected
 * count for up to 6 s. */
static int64_t wait_count(struct history *h, struct history_filter f, int64_t want)
{
	int64_t got = -1;

	for (int i = 0; i < 60; i++) {
		got = count_where(h, f);
		if (got == want)
			break;
		sleep_ms(100);
	}
	return got;
}

static void test_retention(void)
{
	char path[128];
	struct history *h;
	struct history_filter f = any();
	int64_t now = history_now_us();
	size_t n;
	int64_t total;

	tmp_path(path, sizeof(path), "retention.db");
	h = open_history(path, 50, 60, 0, 50);
	record(h, AIRMIX_DOMAIN_ENGINE, ENGINE_STARTED, "first", 0);
	history_sync(h, 5000);	/* the first transaction runs retention */
	for (int i = 0; i < 10; i++)
		record(h, AIRMIX_DOMAIN_ENGINE, ENGINE_XRUN, "old", now - 3600 * 1000000LL);
	for (int i = 0; i < 30; i++)
		record(h, AIRMIX_DOMAIN_ENGINE, ENGINE_XRUN, "new", 0);
	CHECK(history_sync(h, 5000) == 0, "sync");
	f.subject = "old";
	CHECK(wait_count(h, f, 0) == 0, "rows older than max_age_s removed by the writer");
	f.subject = "new";
	CHECK(count_where(h, f) == 30, "recent rows kept");

	for (int i = 0; i < 120; i++) {
		struct history_row r = { .domain = AIRMIX_DOMAIN_ENGINE, .code = ENGINE_XRUN };

		snprintf(r.subject, sizeof(r.subject), "r%d", i);
		history_record(h, &r);
	}
	CHECK(history_sync(h, 5000) == 0, "sync");
	f = any();
	CHECK(wait_count(h, f, 50) == 50, "max_rows keeps 50 rows");
	n = fetch(h, f, &total);
	CHECK(n == 50 && strcmp(rows[0].subject, "r119") == 0 && strcmp(rows[49].subject, "r70") == 0,
	      "the newest rows are the ones kept (%s..%s)", n ? rows[0].subject : "",
	      n ? rows[n - 1].subject : "");
	history_close(h);
}

static void check_fallback(struct history *h, const char *path, const char *sqlite_text,
			   int code)
{
	struct history_status st;
	struct history_filter f = any();
	int64_t total;
	size_t n;

	history_get_status(h, &st);
	CHECK(!st.persistent && strstr(st.last_error, path) && strstr(st.last_error, sqlite_text) &&
	      strstr(st.last_error, "keeping history in memory"),
	      "status names the path and the cause: \"%s\"", st.last_error);
	for (int i = 0; i < 25; i++)
		CHECK(record(h, AIRMIX_DOMAIN_ENGINE, ENGINE_XRUN, "mem", 0) == 0 || i > 0,
		      "record in memory");
	CHECK(history_sync(h, 5000) == 0, "sync in memory");
	n = fetch(h, f, &total);
	CHECK(total == 26 && n == 26, "rows recorded and queried in memory (%lld)", (long long)total);
	CHECK(n == 26 && rows[25].domain == AIRMIX_DOMAIN_HISTORY && rows[25].code == code &&
	      strstr(rows[25].message, path) && strstr(rows[25].message, sqlite_text),
	      "first row of the fallback says why: %s \"%s\"", n ? rows[n - 1].name : "",
	      n ? rows[n - 1].message : "");
	f.subject = "mem";
	f.domain = AIRMIX_DOMAIN_ENGINE;
	CHECK(count_where(h, f) == 25, "filters work in memory");
}

static void test_corrupt(void)
{
	char path[128], garbage[8192], back[8192];
	struct history *h;
	int fd;

	tmp_path(path, sizeof(path), "corrupt.db");
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (char)(i * 7 + 13);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && write(fd, garbage, sizeof(garbage)) == (ssize_t)sizeof(garbage),
	      "garbage file written");
	close(fd);
	h = open_history(path, 0, 0, 0, 50);
	check_fallback(h, path, "file is not a database", HISTORY_DATABASE_CORRUPT);
	history_close(h);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && read(fd, back, sizeof(back)) == (ssize_t)sizeof(back) &&
	      memcmp(back, garbage, sizeof(back)) == 0, "the corrupt file is left as it was");
	close(fd);
}

static void test_unwritable(void)
{
	char file[128], path[192];
	struct history *h;
	int fd;

	/* a path below a regular file cannot be created, even by root */
	tmp_path(file, sizeof(file), "plainfile");
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	close(fd);
	snprintf(path, sizeof(path), "%s/history.db", file);
	h = open_history(path, 0, 0, 0, 50);
	check_fallback(h, path, "unable to open database file", HISTORY_OPEN_FAILED);
	history_close(h);

	tmp_path(path, sizeof(path), "missing-dir/history.db");
	h = open_history(path, 0, 0, 0, 50);
	check_fallback(h, path, "unable to open database file", HISTORY_OPEN_FAILED);
	history_close(h);

	if (geteuid() != 0) {
		char dir[128];

		tmp_path(dir, sizeof(dir), "readonly-dir");
		mkdir(dir, 0555);
		snprintf(path, sizeof(path), "%s/history.db", dir);
		h = open_history(path, 0, 0, 0, 50);
		check_fallback(h, path, "unable to open database file", HISTORY_OPEN_FAILED);
		history_close(h);
	}
}

static sqlite3 *lock_database(const char *path)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open(path, &db);

	sqlite3_busy_timeout(db, 5000);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL);
	CHECK(rc == SQLITE_OK, "second connection holds BEGIN EXCLUSIVE on %s", path);
	return db;
}

static void unlock_database(sqlite3 *db)
{
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
}

static void test_locked(void)
{
	char path[128];
	struct history *h;
	struct history_status st;
	struct history_filter f = any();
	sqlite3 *lock;
	int ok = 0, nospc = 0, other = 0;
	double t;

	tmp_path(path, sizeof(path), "locked.db");
	h = open_history(path, 0, 0, 0, 50);
	record(h, AIRMIX_DOMAIN_ENGINE, ENGINE_STARTED, "before", 0);
	history_sync(h, 5000);
	lock = lock_database(path);

	t = now_s();
	for (int i = 0; i < 1000; i++) {
		int rc = record(h, AIRMIX_DOMAIN_ENGINE, ENGINE_XRUN, "lock", 0);

		ok += rc == 0;
		nospc += rc == -ENOSPC;
		other += rc != 0 && rc != -ENOSPC;
	}
	t = now_s() - t;
	CHECK(ok + nospc == 1000 && other == 0 && ok == 1000,
	      "1000 records under the lock: %d queued, %d dropped", ok, nospc);
	CHECK(t < 5.0, "records under the lock did not wait for it (%.3f s)", t);
	CHECK(history_sync(h, 700) == -ETIMEDOUT, "sync times out while locked");
	history_get_status(h, &st);
	CHECK(strstr(st.last_error, "database is locked") && strstr(st.last_error, path) &&
	      st.persistent, "status says locked: \"%s\"", st.last_error);
	CHECK(st.queued == 1000, "rows stay queued (%u)", st.queued);
	f.subject = "lock";
	CHECK(count_where(h, f) == 0, "readers still work while locked");

	unlock_database(lock);
	CHECK(history_sync(h, 10000) == 0, "sync after the lock goes");
	CHECK(count_where(h, f) == 1000, "all 1000 rows arrived");
	f = any();
	f.domain = AIRMIX_DOMAIN_HISTORY;
	f.has_code = true;
	f.code = HISTORY_DATABASE_LOCKED;
	CHECK(count_where(h, f) == 1, "one HISTORY_DATABASE_LOCKED row after recovery");
	history_get_status(h, &st);
	CHECK(st.last_error[0] == '\0' && st.queued == 0 && st.rows_dropped == 0,
	      "status healthy again (\"%s\")", st.last_error);
	history_close(h);
}

static void test_locked_at_open(void)
{
	char path[128];
	struct history *h;
	struct history_status st;
	struct history_filter f = any();
	sqlite3 *db, *lock;
	double t;
	int ok = 0;

	/* a rollback-journal database held exclusively before airmix opens it */
	tmp_path(path, sizeof(path), "locked-at-open.db");
	sqlite3_open(path, &db);
	sqlite3_exec(db, "CREATE TABLE other (x)", NULL, NULL, NULL);
	sqlite3_close(db);
	lock = lock_database(path);

	t = now_s();
	h = open_history(path, 0, 0, 0, 50);
	t = now_s() - t;
	CHECK(t < 5.0, "history_open returns while the database is locked (%.3f s)", t);
	history_get_status(h, &st);
	CHECK(st.persistent && strstr(st.last_error, "database is locked"),
	      "status says locked at open: \"%s\"", st.last_error);
	for (int i = 0; i < 100; i++)
		ok += record(h, AIRMIX_DOMAIN_ENGINE, ENGINE_XRUN, "early", 0) == 0;
	CHECK(ok == 100, "records accepted while the database is locked");
	CHECK(history_sync(h, 300) == -ETIMEDOUT, "nothing written while locked");
	unlock_database(lock);
	CHECK(history_sync(h, 10000) == 0, "sync after the lock goes");
	f.subject = "early";
	CHECK(count_where(h, f) == 100, "queued rows written");
	f = any();
	f.has_code = true;
	f.code = HISTORY_DATABASE_LOCKED;
	f.domain = AIRMIX_DOMAIN_HISTORY;
	CHECK(count_where(h, f) == 1, "HISTORY_DATABASE_LOCKED row recorded");
	history_get_status(h, &st);
	CHECK(st.persistent && st.last_error[0] == '\0', "healthy and persistent afterwards");
	history_close(h);
}

static void test_overflow(void)
{
	char path[128], expect[64];
	struct history *h;
	struct history_status st;
	struct history_filter f = any();
	sqlite3 *lock;
	int ok = 0, nospc = 0;
	size_t n;
	int64_t total;

	tmp_path(path, sizeof(path), "overflow.db");
	h = open_history(path, 0, 0, 8, 50);
	history_sync(h, 5000);
	lock = lock_database(path);
	for (int i = 0; i < 100; i++) {
		int rc = record(h, AIRMIX_DOMAIN_ENGINE, ENGINE_XRUN, "ovf", 0);

		ok += rc == 0;
		nospc += rc == -ENOSPC;
	}
	history_get_status(h, &st);
	CHECK(nospc > 0 && ok + nospc == 100 && ok <= 16,
	      "bounded queue: %d queued, %d refused with -ENOSPC", ok, nospc);
	CHECK(st.rows_dropped == (uint64_t)nospc, "status counts the drops (%llu)",
	      (unsigned long long)st.rows_dropped);
	unlock_database(lock);
	CHECK(history_sync(h, 10000) == 0, "sync after the lock goes");
	f.subject = "ovf";
	CHECK(count_where(h, f) == ok, "every accepted row stored");
	f = any();
	f.domain = AIRMIX_DOMAIN_HISTORY;
	f.has_code = true;
	f.code = HISTORY_ROWS_DROPPED;
	n = fetch(h, f, &total);
	snprintf(expect, sizeof(expect), "%d rows dropped", nospc);
	CHECK(n == 1 && strstr(rows[0].message, expect) &&
	      strcmp(rows[0].name, "HISTORY_ROWS_DROPPED") == 0 && rows[0].level == AIRMIX_LEVEL_WARNING,
	      "one HISTORY_ROWS_DROPPED row: \"%s\"", n ? rows[0].message : "");
	history_close(h);
}

#define PRODUCERS 4
#define PER_PRODUCER 2000

struct producer {
	struct history *h;
	int index;
	int failed;
};

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	char subject[16];

	snprintf(subject, sizeof(subject), "t%d", p->index);
	for (int i = 0; i < PER_PRODUCER; i++) {
		if (record(p->h, AIRMIX_DOMAIN_ENGINE, ENGINE_TAP_OVERRUN, subject, 0) != 0)
			p->failed++;
		if (i % 500 == 0)
			history_sync(p->h, 5000);
	}
	return NULL;
}

/* 4 producers, while the main thread queries: every row stored, no query
 * fails (file: WAL readers; memory: shared-cache table locks are retried). */
static void test_concurrent(const char *name)
{
	char path[128];
	struct history *h;
	struct producer p[PRODUCERS];
	pthread_t th[PRODUCERS];
	struct history_filter f = any();
	int failed = 0, bad = 0, queries = 0, query_errors = 0;
	size_t n;
	int64_t total;

	if (name)
		tmp_path(path, sizeof(path), name);
	h = open_history(name ? path : NULL, 0, 0, PRODUCERS * PER_PRODUCER, 20);
	for (int i = 0; i < PRODUCERS; i++) {
		p[i] = (struct producer){ .h = h, .index = i };
		pthread_create(&th[i], NULL, producer_main, &p[i]);
	}
	f.limit = 100;
	for (int i = 0; i < 50; i++, queries++)
		query_errors += history_query(h, &f, rows, MAX_PAGE, &n, &total, NULL, 0) != 0;
	for (int i = 0; i < PRODUCERS; i++) {
		pthread_join(th[i], NULL);
		failed += p[i].failed;
	}
	CHECK(failed == 0, "%s: no producer was refused", name ? name : "memory");
	CHECK(query_errors == 0, "%s: %d queries beside the writer, %d failed",
	      name ? name : "memory", queries, query_errors);
	CHECK(history_sync(h, 10000) == 0, "sync");
	f = any();
	for (int i = 0; i < PRODUCERS; i++) {
		char subject[16];

		snprintf(subject, sizeof(subject), "t%d", i);
		f.subject = subject;
		bad += count_where(h, f) != PER_PRODUCER;
	}
	f = any();
	CHECK(bad == 0 && count_where(h, f) == PRODUCERS * PER_PRODUCER,
	      "%s: %d x %d rows from concurrent producers all stored", name ? name : "memory",
	      PRODUCERS, PER_PRODUCER);
	history_close(h);
}

/* SIGTERM on a daemon whose database stays locked must not hang. */
static void test_close_while_locked(void)
{
	char path[128];
	struct history *h;
	sqlite3 *lock;
	double t;

	tmp_path(path, sizeof(path), "close-locked.db");
	h = open_history(path, 0, 0, 0, 50);
	history_sync(h, 5000);
	lock = lock_database(path);
	for (int i = 0; i < 10; i++)
		record(h, AIRMIX_DOMAIN_ENGINE, ENGINE_XRUN, "closing", 0);
	t = now_s();
	history_close(h);
	t = now_s() - t;
	CHECK(t < 6.0, "close gives up on a locked database in bounded time (%.2f s)", t);
	unlock_database(lock);
}

static void test_memory_only(void)
{
	struct history *h = open_history(NULL, 0, 0, 0, 50);
	struct history_status st;
	struct history_filter f = any();

	history_get_status(h, &st);
	CHECK(!st.persistent && st.last_error[0] == '\0', "memory-only by configuration: no error");
	for (int i = 0; i < 10; i++)
		record(h, AIRMIX_DOMAIN_CONFIG, CONFIG_NEEDS_RESTART, "cfg", 0);
	CHECK(history_sync(h, 5000) == 0, "sync");
	CHECK(count_where(h, f) == 10, "memory rows queried");
	CHECK(history_record(NULL, NULL) == -EINVAL, "record without a handle refused");
	history_close(h);
}

int main(void)
{
	struct history_config cfg = { .max_rows = -1 };
	struct history *h = NULL;

	make_tmpdir();
	CHECK(history_open(&cfg, &h) == -EINVAL && !h, "negative max_rows refused");
	test_roundtrip();
	test_filters();
	test_paging();
	test_retention();
	test_corrupt();
	test_unwritable();
	test_locked();
	test_locked_at_open();
	test_overflow();
	test_close_while_locked();
	test_concurrent("concurrent.db");
	test_concurrent(NULL);
	test_memory_only();
	remove_tmpdir();
	return CHECK_DONE();
}
