/* airmixctl.c - a small command-line client of the airmixd REST API.
 *
 *   airmixctl [--url URL] [--token TOKEN] [--json] COMMAND [ARGS]
 *
 * People get aligned tables; --json prints the server's JSON as it came.
 * Exit status: 0 ok, 1 the server answered with an error, 2 the server could
 * not be reached, 64 usage error.
 *
 * Threads: one (the program's main thread).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "engine/config_edit.h"
#include "web-admin/auth.h"

#include "engine/config.h"
#include "engine/rtc/token.h"

#define EXIT_SERVER 1
#define EXIT_UNREACHABLE 2
#define EXIT_USAGE 64
#define DEFAULT_URL "http://127.0.0.1:8080"
#define PASSWD_CONFIG "/etc/airmix/airmix.conf"
#define PASSWORD_MIN 8
#define PASSWORD_MAX 1024

static const char usage_text[] =
	"usage: airmixctl [--url URL] [--token TOKEN] [--json] COMMAND [ARGS]\n"
	"\n"
	"commands:\n"
	"  health                          engine, clock and history status\n"
	"  graph                           nodes with gains and meters\n"
	"  gain ID VALUE                   set a node's linear gain (0..4)\n"
	"  gain ID --db DB                 set a node's gain in dB (<= 12, -inf for silence)\n"
	"  mute ID on|off                  mute or unmute a node\n"
	"  pan ID VALUE                    set a node's pan (-1 left .. 1 right)\n"
	"  tone add [--freq HZ] [--level DBFS] [--bus publish|playout|both] [--name N]\n"
	"                                  add a test tone source\n"
	"  tone rm ID                      remove a node\n"
	"  history [--domain D] [--code C] [--subject S] [--level L] [--since T]\n"
	"          [--until T] [--limit N] [--offset N]\n"
	"                                  error and state history, newest first;\n"
	"                                  T is ISO-8601 UTC or microseconds since the epoch\n"
	"  errors                          the table of every error code\n"
	"  mixing list                     every mixing id with its state\n"
	"  mixing get ID                   one mixing id\n"
	"  mixing preload ID PATH          load a clip (<= 20 s) into memory\n"
	"  mixing start ID PATH [--type playout|publish|both] [--loops N] [--position MS]\n"
	"               [--progress MS] [--volume V]\n"
	"                                  play a file (loops: <= 0 forever, 1 once, N times)\n"
	"  mixing stop|pause|resume|unload ID\n"
	"  mixing stop-all|pause-all|resume-all\n"
	"  mixing volume ID V [--type playout|publish|both]   0..400 %\n"
	"  mixing pitch ID SEMITONES       -12..12\n"
	"  mixing speed ID PERCENT         50..200\n"
	"  mixing seek ID MS               position in the file\n"
	"  mixing track ID N               audio track, 0-based\n"
	"  mixing dual-mono ID auto|L|R|mix\n"
	"  mixing loudness ID LUFS         -70..0 equalises, > 0 turns it off\n"
	"  mixing progress ID MS           progress events every MS (multiple of 10, <= 0 off)\n"
	"  record start [--track T]... [--mix] [--format wav|flac] [--bits 16|24|32]\n"
	"               [--name TEMPLATE] [--description TEXT] [--split MIN]\n"
	"               [--logger [--period S] [--keep-days D] [--max-mb M]]\n"
	"                                  start a take (T: publish, playout, a node id or\n"
	"                                  name, mixing:ID; no --track: the publish bus)\n"
	"  record list                     every take with its state\n"
	"  record get ID                   one take: files, sizes, markers\n"
	"  record stop ID                  stop a take (files final when it returns)\n"
	"  record mark ID [LABEL]          a marker at the take's current position\n"
	"  record rm ID                    forget a stopped take and delete its files\n"
	"  record download ID N FILE       save the take's file N (0-based) as FILE\n"
	"  passwd [--user admin|operator] [--config PATH]\n"
	"                                  set a web admin password: read twice from the\n"
	"                                  terminal (or two lines of stdin), its hash written\n"
	"                                  into PATH (default $AIRMIX_CONFIG or\n"
	"                                  " PASSWD_CONFIG "), the old file kept as PATH.bak;\n"
	"                                  then reload airmixd (SIGHUP)\n"
	"  cdn list                        every push task with its state and counters\n"
	"  cdn get ID                      one push task (ID _ is the empty id)\n"
	"  cdn start ID --url rtmp[s]://HOST/APP/KEY [--rate HZ] [--channels N]\n"
	"               [--bitrate KBPS] [--profile LC]\n"
	"                                  push the programme to an RTMP server (AAC)\n"
	"  cdn start ID --icecast HOST[:PORT]/MOUNT --password P [--user U] [--name N]\n"
	"               [--genre G] [--description D] [--title T] [--channels N]\n"
	"               [--bitrate KBPS]\n"
	"                                  push the programme to Icecast (Ogg/Opus)\n"
	"  cdn update ID [--title T] [--name N] [--genre G] [--description D]\n"
	"                                  change an icecast task's metadata (--title \"\"\n"
	"                                  hands \"now playing\" back to the mixing files)\n"
	"  cdn stop ID                     stop a push task\n"
	"  token issue ROOM USER [--expire S] [--no-publish] [--no-subscribe] [--link]\n"
	"                                  an RTC AccessToken for a guest (default 3600 s);\n"
	"                                  --link: the browser guest's link instead\n"
	"  token verify TOKEN [--config F] read a token; check it with F's [rtc] app key\n"
	"  room list                       every RTC room\n"
	"  room create ROOM                create a room\n"
	"  room get ROOM                   its users, their tracks and live stats\n"
	"  room kick ROOM USER             remove a user (KICKED_OUT)\n"
	"  room dismiss ROOM               everyone out, the room removed (ROOM_DISMISS)\n"
	"  room volume ROOM USER V         a user's track volume, 0..400\n"
	"  room on-air ROOM USER           the user into the programme\n"
	"  room green-room ROOM USER       the user out of it: heard on playout, hears talkback\n"
	"  forward start ROOM TARGET=TOKEN[@ws[s]://HOST:PORT] ... [--user U] [--track USER]\n"
	"                                  forward ROOM's programme (or USER's track) into\n"
	"                                  up to 4 target rooms, here or on another airmixd\n"
	"  forward update ROOM TARGET=TOKEN[@URL] ...  the new target list and tokens\n"
	"  forward get|stop|pause|resume ROOM\n"
	"  forward list                    every forwarding room and its targets' states\n"
	"  help                            this text\n"
	"\n"
	"options:\n"
	"  --url URL      airmixd address (default $AIRMIX_URL or " DEFAULT_URL ")\n"
	"  --token TOKEN  bearer token (default $AIRMIX_TOKEN)\n"
	"  --cacert FILE  PEM CAs an https:// airmixd's certificate must come from (default\n"
	"                 $AIRMIX_CACERT, else the system's); its self-signed certificate will do\n"
	"  --json         print the server's JSON reply as is\n"
	"  --version      print the version\n";

struct ctl {
	const char *url;
	const char *token;
	const char *cacert;	/* PEM CAs for an https:// url; NULL: the system's */
	bool json;
};

struct buffer {
	char *data;
	size_t len;
};

/* ---- messages and exits */

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("airmixctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(run 'airmixctl help' for usage)\n", stderr);
	return EXIT_USAGE;
}

/* ---- HTTP */

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *user)
{
	struct buffer *b = user;
	size_t n = size * nmemb;
	char *d = realloc(b->data, b->len + n + 1);

	if (!d)
		return 0;
	memcpy(d + b->len, ptr, n);
	b->len += n;
	d[b->len] = '\0';
	b->data = d;
	return n;
}

/* Prints the server's error reply; returns EXIT_SERVER. */
static int server_error(const struct ctl *c, long status, const struct buffer *b)
{
	json_t *root = b->data ? json_loads(b->data, 0, NULL) : NULL;
	json_t *err = json_object_get(root, "error");

	if (c->json && b->data)
		printf("%s\n", b->data);
	if (json_is_object(err))
		fprintf(stderr, "airmixctl: %s (%s %lld): %s\n",
			json_string_value(json_object_get(err, "name")),
			json_string_value(json_object_get(err, "domain")),
			(long long)json_integer_value(json_object_get(err, "code")),
			json_string_value(json_object_get(err, "message")));
	else
		fprintf(stderr, "airmixctl: HTTP %ld from airmixd: %.200s\n", status,
			b->data ? b->data : "");
	json_decref(root);
	return EXIT_SERVER;
}

/* What every request to airmixd sets: where, how long to wait to connect,
 * where curl puts its error, and the CAs to trust. */
static void set_common(CURL *h, const struct ctl *c, const char *url, char *errbuf)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (c->cacert && c->cacert[0])
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
}

/* Sends one request; on success *reply is the parsed JSON (or NULL for an
 * empty body) and the raw text is kept in raw. Returns 0 or an exit status. */
static int request(const struct ctl *c, const char *method, const char *path, json_t *body,
		   json_t **reply, struct buffer *raw)
{
	char url[2048], auth[1024], errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	char *text = NULL;
	long status = 0;
	CURLcode rc;
	CURL *h;
	int ret = 0;

	*reply = NULL;
	h = curl_easy_init();
	if (!h) {
		fprintf(stderr, "airmixctl: cannot start libcurl\n");
		return EXIT_UNREACHABLE;
	}
	snprintf(url, sizeof(url), "%s%s", c->url, path);
	set_common(h, c, url, errbuf);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, raw);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (c->token && c->token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, text ? text : "");
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		fprintf(stderr, "airmixctl: cannot reach airmixd at %s: %s\n", c->url,
			errbuf[0] ? errbuf : curl_easy_strerror(rc));
		ret = EXIT_UNREACHABLE;
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 400) {
		ret = server_error(c, status, raw);
		goto out;
	}
	if (raw->len) {
		json_error_t jerr;

		*reply = json_loads(raw->data, 0, &jerr);
		if (!*reply) {
			fprintf(stderr, "airmixctl: airmixd sent invalid json: %s\n", jerr.text);
			ret = EXIT_SERVER;
		}
	}
out:
	free(text);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return ret;
}

/* Runs a request and, with --json, prints the reply as is. 0 or exit status;
 * *reply is NULL when there is nothing more to print. */
static int call(const struct ctl *c, const char *method, const char *path, json_t *body,
		json_t **reply)
{
	struct buffer raw = { 0 };
	int rc = request(c, method, path, body, reply, &raw);

	json_decref(body);
	if (!rc && c->json) {
		if (raw.len)
			printf("%s\n", raw.data);
		json_decref(*reply);
		*reply = NULL;
	}
	free(raw.data);
	return rc;
}

/* ---- tables */

#define TABLE_COLS 12
#define TABLE_ROWS 1100

struct table {
	int ncols;
	int nrows;
	char *cells[TABLE_ROWS][TABLE_COLS];
};

static void table_row(struct table *t, ...)
{
	va_list ap;
	int i;

	if (t->nrows == TABLE_ROWS)
		return;
	va_start(ap, t);
	for (i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);

		t->cells[t->nrows][i] = strdup(s ? s : "");
	}
	va_end(ap);
	t->nrows++;
}

/* Prints with columns padded to their widest cell; frees the cells. */
static void table_print(struct table *t)
{
	size_t w[TABLE_COLS] = { 0 };
	int r, i;

	for (r = 0; r < t->nrows; r++)
		for (i = 0; i < t->ncols; i++)
			if (t->cells[r][i] && strlen(t->cells[r][i]) > w[i])
				w[i] = strlen(t->cells[r][i]);
	for (r = 0; r < t->nrows; r++) {
		for (i = 0; i < t->ncols; i++) {
			if (i == t->ncols - 1)
				printf("%s", t->cells[r][i]);
			else
				printf("%-*s  ", (int)w[i], t->cells[r][i]);
			free(t->cells[r][i]);
		}
		putchar('\n');
	}
	t->nrows = 0;
}

/* Frees the table and whatever cells were not printed. */
static void table_free(struct table *t)
{
	int r, i;

	for (r = 0; r < t->nrows; r++)
		for (i = 0; i < t->ncols; i++)
			free(t->cells[r][i]);
	free(t);
}

static struct table *table_new(int ncols)
{
	struct table *t = calloc(1, sizeof(*t));

	if (!t) {
		fprintf(stderr, "airmixctl: out of memory\n");
		exit(EXIT_FAILURE);
	}
	t->ncols = ncols;
	return t;
}

static const char *fmt_db(const json_t *v, char *buf, size_t len)
{
	if (json_is_number(v))
		snprintf(buf, len, "%.1f", json_number_value(v));
	else
		snprintf(buf, len, "-inf");
	return buf;
}

static const char *fmt_num(const json_t *v, const char *fmt, char *buf, size_t len)
{
	snprintf(buf, len, fmt, json_number_value(v));
	return buf;
}

static const char *str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

/* ---- commands */

/* One row per logged xrun: "xrun.N  HH:MM:SS.mmm took X ms (wall Y ms)". */
static void xrun_rows(struct table *t, const json_t *xruns)
{
	size_t i;
	json_t *x;

	json_array_foreach(xruns, i, x) {
		double began = json_number_value(json_object_get(x, "began_us")) * 1e-6;
		time_t s = (time_t)began;
		struct tm tm;
		char key[32], when[16], row[96];

		localtime_r(&s, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		snprintf(key, sizeof(key), "xrun.%zu", i + 1);
		snprintf(row, sizeof(row), "%s.%03d took %.1f ms (wall %.1f ms)", when,
			 (int)((began - (double)s) * 1000.0),
			 json_number_value(json_object_get(x, "took_ms")),
			 json_number_value(json_object_get(x, "wall_ms")));
		table_row(t, key, row);
	}
}

static int cmd_health(const struct ctl *c)
{
	const char *keys[] = { "version", "clock", "running", "clock_lost", "rate", "period",
			       "cycles", "xruns", "dsp_load", "dsp_load_avg", "dsp_load_max",
			       "uptime_s", "nodes", NULL };
	struct table *t = table_new(2);
	json_t *r, *v, *sub;
	const char *k;
	char buf[64];
	int rc, i;

	rc = call(c, "GET", "/api/v1/health", NULL, &r);
	if (rc || !r)
		goto out;
	for (i = 0; keys[i]; i++) {
		v = json_object_get(r, keys[i]);
		if (json_is_string(v))
			table_row(t, keys[i], json_string_value(v));
		else if (json_is_boolean(v))
			table_row(t, keys[i], json_is_true(v) ? "yes" : "no");
		else if (json_is_integer(v))
			table_row(t, keys[i], fmt_num(v, "%.0f", buf, sizeof(buf)));
		else if (json_is_real(v))
			table_row(t, keys[i], fmt_num(v, "%.3f", buf, sizeof(buf)));
	}
	json_object_foreach(json_object_get(r, "paths"), k, sub) {
		char key[64];

		snprintf(key, sizeof(key), "path.%s", k);
		table_row(t, key, json_string_value(sub));
	}
	sub = json_object_get(r, "history");
	table_row(t, "history", json_is_true(json_object_get(sub, "persistent")) ?
		  "persistent" : "in memory only");
	if (str(sub, "last_error")[0])
		table_row(t, "history.error", str(sub, "last_error"));
	table_row(t, "history.rows_written",
		  fmt_num(json_object_get(sub, "rows_written"), "%.0f", buf, sizeof(buf)));
	table_row(t, "history.rows_dropped",
		  fmt_num(json_object_get(sub, "rows_dropped"), "%.0f", buf, sizeof(buf)));
	xrun_rows(t, json_object_get(r, "recent_xruns"));
	table_print(t);
out:
	json_decref(r);
	table_free(t);
	return rc;
}

static void node_row(struct table *t, const json_t *n)
{
	const json_t *m = json_object_get(n, "meter"), *buses = json_object_get(n, "buses");
	char id[16], gain[16], pan[16], pl[16], pr[16], peak[40], rl[16], rr[16], rms[40];
	char bus[32] = "";
	size_t i;

	snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(n, "id")));
	fmt_db(json_object_get(n, "gain_db"), gain, sizeof(gain));
	fmt_num(json_object_get(n, "pan"), "%+.2f", pan, sizeof(pan));
	for (i = 0; i < json_array_size(buses); i++)
		snprintf(bus + strlen(bus), sizeof(bus) - strlen(bus), "%s%s", i ? "," : "",
			 json_string_value(json_array_get(buses, i)));
	if (!json_is_array(buses))
		snprintf(bus, sizeof(bus), "-");
	snprintf(peak, sizeof(peak), "%s/%s",
		 fmt_db(json_array_get(json_object_get(m, "peak_dbfs"), 0), pl, sizeof(pl)),
		 fmt_db(json_array_get(json_object_get(m, "peak_dbfs"), 1), pr, sizeof(pr)));
	snprintf(rms, sizeof(rms), "%s/%s",
		 fmt_db(json_array_get(json_object_get(m, "rms_dbfs"), 0), rl, sizeof(rl)),
		 fmt_db(json_array_get(json_object_get(m, "rms_dbfs"), 1), rr, sizeof(rr)));
	table_row(t, id, str(n, "name"), str(n, "kind"), bus, gain, pan,
		  json_is_true(json_object_get(n, "mute")) ? "yes" : "no",
		  json_is_true(json_object_get(n, "running")) ? "yes" : "no", peak, rms);
}

static struct table *node_table(void)
{
	struct table *t = table_new(10);

	table_row(t, "ID", "NAME", "KIND", "BUSES", "GAIN_DB", "PAN", "MUTE", "RUN",
		  "PEAK_DBFS", "RMS_DBFS");
	return t;
}

static int cmd_graph(const struct ctl *c)
{
	struct table *t = node_table();
	json_t *r, *nodes;
	size_t i;
	int rc;

	rc = call(c, "GET", "/api/v1/graph", NULL, &r);
	if (!rc && r) {
		nodes = json_object_get(r, "nodes");
		printf("rate %lld Hz, period %lld frames, %zu nodes\n",
		       (long long)json_integer_value(json_object_get(r, "rate")),
		       (long long)json_integer_value(json_object_get(r, "period")),
		       json_array_size(nodes));
		for (i = 0; i < json_array_size(nodes); i++)
			node_row(t, json_array_get(nodes, i));
		table_print(t);
	}
	json_decref(r);
	table_free(t);
	return rc;
}

/* A request whose reply is one node: print it as a table. */
static int node_call(const struct ctl *c, const char *method, const char *path, json_t *body)
{
	struct table *t = node_table();
	json_t *r;
	int rc = call(c, method, path, body, &r);

	if (!rc && r) {
		node_row(t, r);
		table_print(t);
	}
	json_decref(r);
	table_free(t);
	return rc;
}

static bool parse_id(const char *s, unsigned long *id)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*id = strtoul(s, &end, 10);
	return !errno && !*end && *id > 0 && *id <= 0xffffffffUL;
}

static bool parse_number(const char *s, double *v)
{
	char *end;

	if (!s || !*s)
		return false;
	errno = 0;
	*v = strtod(s, &end);
	return !errno && !*end && isfinite(*v);
}

static int node_put(const struct ctl *c, const char *id_text, json_t *body)
{
	char path[64];
	unsigned long id;

	if (!parse_id(id_text, &id)) {
		json_decref(body);
		return usage_error("node id must be a positive integer, not '%s'",
				   id_text ? id_text : "");
	}
	snprintf(path, sizeof(path), "/api/v1/graph/nodes/%lu", id);
	return node_call(c, "PUT", path, body);
}

static int cmd_gain(const struct ctl *c, int argc, char **argv)
{
	double v;

	if (argc == 4 && !strcmp(argv[2], "--db")) {
		if (!strcmp(argv[3], "-inf"))
			return node_put(c, argv[1], json_pack("{s:n}", "gain_db"));
		if (!parse_number(argv[3], &v))
			return usage_error("gain in dB must be a number or -inf, not '%s'",
					   argv[3]);
		return node_put(c, argv[1], json_pack("{s:f}", "gain_db", v));
	}
	if (argc != 3)
		return usage_error("usage: gain ID VALUE | gain ID --db DB");
	if (!parse_number(argv[2], &v))
		return usage_error("gain must be a number, not '%s'", argv[2]);
	return node_put(c, argv[1], json_pack("{s:f}", "gain", v));
}

static int cmd_mute(const struct ctl *c, int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[2], "on") && strcmp(argv[2], "off")))
		return usage_error("usage: mute ID on|off");
	return node_put(c, argv[1], json_pack("{s:b}", "mute", !strcmp(argv[2], "on")));
}

static int cmd_pan(const struct ctl *c, int argc, char **argv)
{
	double v;

	if (argc != 3)
		return usage_error("usage: pan ID VALUE");
	if (!parse_number(argv[2], &v))
		return usage_error("pan must be a number, not '%s'", argv[2]);
	return node_put(c, argv[1], json_pack("{s:f}", "pan", v));
}

static int tone_add(const struct ctl *c, int argc, char **argv)
{
	json_t *body = json_pack("{s:s}", "kind", "tone");
	double v;
	int i;

	for (i = 2; i < argc; i += 2) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!val) {
			json_decref(body);
			return usage_error("%s needs a value", opt);
		}
		if (!strcmp(opt, "--freq") || !strcmp(opt, "--level")) {
			if (!parse_number(val, &v)) {
				json_decref(body);
				return usage_error("%s must be a number, not '%s'", opt, val);
			}
			json_object_set_new(body, opt[2] == 'f' ? "frequency_hz" : "level_dbfs",
					    json_real(v));
		} else if (!strcmp(opt, "--bus")) {
			json_t *buses = json_array();

			if (!strcmp(val, "both") || !strcmp(val, "publish"))
				json_array_append_new(buses, json_string("publish"));
			if (!strcmp(val, "both") || !strcmp(val, "playout"))
				json_array_append_new(buses, json_string("playout"));
			if (!json_array_size(buses)) {
				json_decref(buses);
				json_decref(body);
				return usage_error("--bus must be publish, playout or both, "
						   "not '%s'", val);
			}
			json_object_set_new(body, "buses", buses);
		} else if (!strcmp(opt, "--name")) {
			json_object_set_new(body, "name", json_string(val));
		} else {
			json_decref(body);
			return usage_error("tone add: unknown option %s", opt);
		}
	}
	return node_call(c, "POST", "/api/v1/graph/nodes", body);
}

static int cmd_tone(const struct ctl *c, int argc, char **argv)
{
	json_t *r;
	char path[64];
	unsigned long id;
	int rc;

	if (argc >= 2 && !strcmp(argv[1], "add"))
		return tone_add(c, argc, argv);
	if (argc != 3 || strcmp(argv[1], "rm"))
		return usage_error("usage: tone add [OPTIONS] | tone rm ID");
	if (!parse_id(argv[2], &id))
		return usage_error("node id must be a positive integer, not '%s'", argv[2]);
	snprintf(path, sizeof(path), "/api/v1/graph/nodes/%lu", id);
	rc = call(c, "DELETE", path, NULL, &r);
	if (!rc && !c->json)
		printf("removed node %lu\n", id);
	json_decref(r);
	return rc;
}

/* ISO-8601 UTC (2026-11-25T22:10:30[.123][Z]) or microseconds. */
static bool parse_time(const char *s, long long *us)
{
	struct tm tm = { 0 };
	int ms = 0, n = 0;
	char *end;

	errno = 0;
	*us = strtoll(s, &end, 10);
	if (*s && !*end && !errno)
		return true;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return false;
	s += n;
	if (*s == '.') {
		int digits = 0;

		for (s++; *s >= '0' && *s <= '9'; s++, digits++)
			if (digits < 3)
				ms = ms * 10 + (*s - '0');
		for (; digits < 3; digits++)
			ms *= 10;
	}
	if (*s == 'Z')
		s++;
	if (*s)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*us = (long long)timegm(&tm) * 1000000LL + ms * 1000LL;
	return true;
}

static int build_history_query(int argc, char **argv, CURL *esc, char *q, size_t qlen)
{
	static const char *const opts[] = { "--domain", "--code", "--subject", "--level",
					    "--since", "--until", "--limit", "--offset", NULL };
	size_t used = 0;
	int i, k;

	q[0] = '\0';
	for (i = 1; i < argc; i += 2) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		char timebuf[32];
		char *e;

		for (k = 0; opts[k] && strcmp(opts[k], argv[i]); k++)
			;
		if (!opts[k])
			return usage_error("history: unknown option %s", argv[i]);
		if (!val)
			return usage_error("%s needs a value", argv[i]);
		if (!strcmp(argv[i], "--since") || !strcmp(argv[i], "--until")) {
			long long us;

			if (!parse_time(val, &us))
				return usage_error("%s must be ISO-8601 UTC or microseconds, "
						   "not '%s'", argv[i], val);
			snprintf(timebuf, sizeof(timebuf), "%lld", us);
			val = timebuf;
		}
		e = curl_easy_escape(esc, val, 0);
		used += (size_t)snprintf(q + used, used < qlen ? qlen - used : 0, "%c%s=%s",
					 used ? '&' : '?', argv[i] + 2, e ? e : "");
		curl_free(e);
	}
	return used < qlen ? 0 : usage_error("history: query too long");
}

static int cmd_history(const struct ctl *c, int argc, char **argv)
{
	struct table *t;
	char path[4096] = "/api/v1/history", when[32];
	char code[16];
	CURL *esc = curl_easy_init();
	json_t *r = NULL, *rows;
	size_t i;
	int rc;

	rc = build_history_query(argc, argv, esc, path + strlen(path), sizeof(path) - strlen(path));
	curl_easy_cleanup(esc);
	if (rc)
		return rc;
	rc = call(c, "GET", path, NULL, &r);
	if (rc || !r) {
		json_decref(r);
		return rc;
	}
	t = table_new(7);
	rows = json_object_get(r, "rows");
	table_row(t, "TIME", "LEVEL", "DOMAIN", "CODE", "NAME", "SUBJECT", "MESSAGE");
	for (i = 0; i < json_array_size(rows); i++) {
		const json_t *row = json_array_get(rows, i);

		snprintf(when, sizeof(when), "%s", str(row, "time"));
		snprintf(code, sizeof(code), "%lld",
			 (long long)json_integer_value(json_object_get(row, "code")));
		table_row(t, when, str(row, "level"), str(row, "domain"), code, str(row, "name"),
			  str(row, "subject"), str(row, "message"));
	}
	table_print(t);
	printf("%zu of %lld rows\n", json_array_size(rows),
	       (long long)json_integer_value(json_object_get(r, "total")));
	json_decref(r);
	table_free(t);
	return 0;
}

static int cmd_errors(const struct ctl *c)
{
	struct table *t;
	json_t *r, *errs;
	char code[16], status[8];
	size_t i;
	int rc = call(c, "GET", "/api/v1/errors", NULL, &r);

	if (rc || !r)
		return rc;
	t = table_new(6);
	errs = json_object_get(r, "errors");
	table_row(t, "DOMAIN", "CODE", "NAME", "LEVEL", "HTTP", "MESSAGE");
	for (i = 0; i < json_array_size(errs); i++) {
		const json_t *e = json_array_get(errs, i);

		snprintf(code, sizeof(code), "%lld",
			 (long long)json_integer_value(json_object_get(e, "code")));
		snprintf(status, sizeof(status), "%lld",
			 (long long)json_integer_value(json_object_get(e, "http_status")));
		table_row(t, str(e, "domain"), code, str(e, "name"), str(e, "level"), status,
			  str(e, "message"));
		if (t->nrows == TABLE_ROWS)
			table_print(t);
	}
	table_print(t);
	json_decref(r);
	table_free(t);
	return 0;
}

/* ---- mixing */

static struct table *mixing_table(void)
{
	struct table *t = table_new(9);

	table_row(t, "ID", "STATE", "FILE", "POSITION", "DURATION", "VOLUME P/O", "PITCH", "SPEED",
		  "LAST ERROR");
	return t;
}

static void mixing_row(struct table *t, const json_t *m)
{
	char id[16], pos[32], dur[32], vol[32], pitch[16], speed[16];
	const json_t *v = json_object_get(m, "volume");
	const char *err = str(m, "last_error_name");

	snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(m, "id")));
	snprintf(pos, sizeof(pos), "%.1f s",
		 json_integer_value(json_object_get(m, "position_ms")) / 1000.0);
	snprintf(dur, sizeof(dur), "%.1f s",
		 json_integer_value(json_object_get(m, "duration_ms")) / 1000.0);
	snprintf(vol, sizeof(vol), "%lld/%lld %%",
		 (long long)json_integer_value(json_object_get(v, "publish")),
		 (long long)json_integer_value(json_object_get(v, "playout")));
	snprintf(pitch, sizeof(pitch), "%+lld",
		 (long long)json_integer_value(json_object_get(m, "pitch")));
	snprintf(speed, sizeof(speed), "%lld %%",
		 (long long)json_integer_value(json_object_get(m, "speed")));
	table_row(t, id, str(m, "state_name"), str(m, "file"), pos, dur, vol, pitch, speed,
		  strcmp(err, "AUDIO_MIXING_ERROR_OK") ? err : "-");
}

/* A request whose reply is one mixing id (or the list): print a table. */
static int mixing_call(const struct ctl *c, const char *method, const char *path, json_t *body)
{
	struct table *t = mixing_table();
	json_t *r, *list;
	int rc = call(c, method, path, body, &r);

	if (!rc && r) {
		list = json_object_get(r, "mixing");
		if (json_is_array(list))
			for (size_t i = 0; i < json_array_size(list); i++)
				mixing_row(t, json_array_get(list, i));
		else
			mixing_row(t, r);
		table_print(t);
	}
	json_decref(r);
	table_free(t);
	return rc;
}

static bool parse_int(const char *s, long long *v)
{
	char *end;

	if (!s || !*s)
		return false;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return !errno && !*end;
}

/* playout 0, publish 1, both 2, or -1. */
static int parse_type(const char *s)
{
	if (!strcmp(s, "playout"))
		return 0;
	if (!strcmp(s, "publish"))
		return 1;
	return !strcmp(s, "both") ? 2 : -1;
}

static int mixing_start(const struct ctl *c, char *path, int argc, char **argv)
{
	json_t *body = json_pack("{s:s}", "path", argv[3]);
	long long volume = -1, v;
	int rc;

	for (int i = 4; i < argc; i += 2) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!val || (strcmp(opt, "--type") && !parse_int(val, &v))) {
			json_decref(body);
			return usage_error("mixing start: %s needs %s", opt,
					   val ? "an integer" : "a value");
		}
		if (!strcmp(opt, "--type")) {
			if (parse_type(val) < 0) {
				json_decref(body);
				return usage_error("--type must be playout, publish or both");
			}
			json_object_set_new(body, "type", json_integer(parse_type(val)));
		} else if (!strcmp(opt, "--loops")) {
			json_object_set_new(body, "play_count", json_integer(v));
		} else if (!strcmp(opt, "--position")) {
			json_object_set_new(body, "position_ms", json_integer(v));
		} else if (!strcmp(opt, "--progress")) {
			json_object_set_new(body, "progress_interval_ms", json_integer(v));
		} else if (!strcmp(opt, "--volume")) {
			volume = v;
		} else {
			json_decref(body);
			return usage_error("mixing start: unknown option %s", opt);
		}
	}
	snprintf((char *)path + strlen(path), 16, "/start");
	rc = mixing_call(c, "POST", path, body);
	if (rc || volume < 0)
		return rc;
	*strrchr(path, '/') = '\0';	/* then the volume, over one period */
	return mixing_call(c, "PUT", path, json_pack("{s:I}", "volume", volume));
}

/* "mixing VERB ID VALUE": one field of a PUT. */
static int mixing_set(const struct ctl *c, const char *path, int argc, char **argv)
{
	static const struct {
		const char *verb, *field;
	} setters[] = {
		{ "volume", "volume" }, { "pitch", "pitch" }, { "speed", "speed" },
		{ "seek", "position_ms" }, { "track", "track" }, { "progress", "progress_interval_ms" },
	};
	long long v;
	double d;

	if (!strcmp(argv[1], "dual-mono")) {
		static const char *const modes[] = { "auto", "L", "R", "mix" };

		for (int k = 0; k < 4; k++)
			if (!strcmp(argv[3], modes[k]))
				return mixing_call(c, "PUT", path, json_pack("{s:i}", "dual_mono", k));
		return usage_error("dual-mono must be auto, L, R or mix");
	}
	if (!strcmp(argv[1], "loudness")) {
		if (!parse_number(argv[3], &d))
			return usage_error("loudness must be a number of LUFS, not '%s'", argv[3]);
		return mixing_call(c, "PUT", path, json_pack("{s:f}", "loudness", d));
	}
	for (size_t k = 0; k < sizeof(setters) / sizeof(setters[0]); k++) {
		json_t *body;

		if (strcmp(argv[1], setters[k].verb))
			continue;
		if (!parse_int(argv[3], &v))
			return usage_error("%s must be an integer, not '%s'", argv[1], argv[3]);
		body = json_pack("{s:I}", setters[k].field, v);
		if (k == 0 && argc == 6 && !strcmp(argv[4], "--type") && parse_type(argv[5]) >= 0)
			json_object_set_new(body, "volume_type", json_integer(parse_type(argv[5])));
		else if (argc != 4) {
			json_decref(body);
			return usage_error("usage: mixing %s ID VALUE%s", argv[1],
					   k == 0 ? " [--type playout|publish|both]" : "");
		}
		return mixing_call(c, "PUT", path, body);
	}
	return usage_error("unknown mixing command '%s'", argv[1]);
}

static int cmd_mixing(const struct ctl *c, int argc, char **argv)
{
	static char path[96];
	long long id;

	if (argc == 2 && !strcmp(argv[1], "list"))
		return mixing_call(c, "GET", "/api/v1/mixing", NULL);
	if (argc == 2 && (!strcmp(argv[1], "stop-all") || !strcmp(argv[1], "pause-all") ||
			  !strcmp(argv[1], "resume-all"))) {
		snprintf(path, sizeof(path), "/api/v1/mixing/%.*s_all",
			 (int)(strchr(argv[1], '-') - argv[1]), argv[1]);
		return mixing_call(c, "POST", path, NULL);
	}
	if (argc < 3)
		return usage_error("usage: mixing list | mixing VERB ID [ARGS] (see help)");
	if (!parse_int(argv[2], &id) || id < 0 || id > 2147483647)
		return usage_error("mixing id must be an integer from 0, not '%s'", argv[2]);
	snprintf(path, sizeof(path), "/api/v1/mixing/%lld", id);
	if (argc == 3 && !strcmp(argv[1], "get"))
		return mixing_call(c, "GET", path, NULL);
	if (argc == 3 && (!strcmp(argv[1], "stop") || !strcmp(argv[1], "pause") ||
			  !strcmp(argv[1], "resume") || !strcmp(argv[1], "unload"))) {
		snprintf(path + strlen(path), 16, "/%s", argv[1]);
		return mixing_call(c, "POST", path, NULL);
	}
	if (argc == 4 && !strcmp(argv[1], "preload")) {
		snprintf(path + strlen(path), 16, "/preload");
		return mixing_call(c, "POST", path, json_pack("{s:s}", "path", argv[3]));
	}
	if (argc >= 4 && !strcmp(argv[1], "start"))
		return mixing_start(c, path, argc, argv);
	if (argc >= 4)
		return mixing_set(c, path, argc, argv);
	return usage_error("usage: mixing %s ID ... (see help)", argv[1]);
}

/* ---- record */

static struct table *take_table(void)
{
	struct table *t = table_new(8);

	table_row(t, "ID", "STATE", "FORMAT", "SECONDS", "FRAMES", "FILES", "OVERRUNS", "ERROR");
	return t;
}

static void take_row(struct table *t, const json_t *k)
{
	char id[16], fmt[24], secs[32], frames[32], files[16], over[32];
	const json_t *err = json_object_get(k, "error");

	snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(k, "id")));
	snprintf(fmt, sizeof(fmt), "%s/%lld", str(k, "format"),
		 (long long)json_integer_value(json_object_get(k, "bits")));
	fmt_num(json_object_get(k, "seconds"), "%.3f", secs, sizeof(secs));
	snprintf(frames, sizeof(frames), "%lld",
		 (long long)json_integer_value(json_object_get(k, "frames")));
	snprintf(files, sizeof(files), "%zu", json_array_size(json_object_get(k, "files")));
	snprintf(over, sizeof(over), "%lld",
		 (long long)json_integer_value(json_object_get(k, "overrun_frames")));
	table_row(t, id, str(k, "state"), fmt, secs, frames, files, over,
		  json_is_object(err) ? str(err, "name") : "-");
}

/* The take's files and markers, below its row. */
static void take_details(const json_t *k)
{
	const json_t *files = json_object_get(k, "files"), *marks = json_object_get(k, "markers");
	struct table *t = table_new(6);
	char n[24], bytes[32], frames[32], dropped[32], secs[32];
	size_t i;

	table_row(t, "N", "TRACK", "BYTES", "FRAMES", "DROPPED", "PATH");
	for (i = 0; i < json_array_size(files); i++) {
		const json_t *f = json_array_get(files, i);

		snprintf(n, sizeof(n), "%zu", i);
		snprintf(bytes, sizeof(bytes), "%lld",
			 (long long)json_integer_value(json_object_get(f, "bytes")));
		snprintf(frames, sizeof(frames), "%lld",
			 (long long)json_integer_value(json_object_get(f, "frames")));
		snprintf(dropped, sizeof(dropped), "%lld",
			 (long long)json_integer_value(json_object_get(f, "dropped_frames")));
		table_row(t, n, str(f, "track"), bytes, frames, dropped, str(f, "path"));
	}
	putchar('\n');
	table_print(t);
	table_free(t);
	if (!json_array_size(marks))
		return;
	t = table_new(4);
	table_row(t, "MARKER", "FRAME", "SECONDS", "LABEL");
	for (i = 0; i < json_array_size(marks); i++) {
		const json_t *m = json_array_get(marks, i);

		snprintf(n, sizeof(n), "%zu", i);
		snprintf(frames, sizeof(frames), "%lld",
			 (long long)json_integer_value(json_object_get(m, "frame")));
		fmt_num(json_object_get(m, "seconds"), "%.3f", secs, sizeof(secs));
		table_row(t, n, frames, secs, str(m, "label"));
	}
	putchar('\n');
	table_print(t);
	table_free(t);
}

/* A request whose reply is one take (or the list): print a table, and with
 * details the files and markers of a single take. */
static int record_call(const struct ctl *c, const char *method, const char *path, json_t *body,
		       bool details)
{
	struct table *t = take_table();
	json_t *r, *list;
	int rc = call(c, method, path, body, &r);

	if (!rc && r) {
		list = json_object_get(r, "recordings");
		if (json_is_array(list))
			for (size_t i = 0; i < json_array_size(list); i++)
				take_row(t, json_array_get(list, i));
		else
			take_row(t, r);
		table_print(t);
		if (details && !json_is_array(list))
			take_details(r);
	}
	json_decref(r);
	table_free(t);
	return rc;
}

static int record_start(const struct ctl *c, int argc, char **argv)
{
	/* options with a value, and the body field of the integer ones */
	static const struct {
		const char *opt, *field;
		bool integer;
	} opts[] = {
		{ "--track", "tracks", false }, { "--format", "format", false },
		{ "--name", "name", false }, { "--description", "description", false },
		{ "--bits", "bits", true }, { "--split", "split_minutes", true },
		{ "--period", "logger_period_s", true }, { "--keep-days", "logger_keep_days", true },
		{ "--max-mb", "logger_max_mb", true },
	};
	json_t *body = json_object(), *tracks = json_array();
	const char *why = "is not an option";
	long long v;
	size_t k;
	int i;

	for (i = 2; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(opt, "--mix") || !strcmp(opt, "--logger")) {
			json_object_set_new(body, opt + 2, json_true());
			continue;
		}
		for (k = 0; k < sizeof(opts) / sizeof(opts[0]) && strcmp(opt, opts[k].opt); k++)
			;
		if (k == sizeof(opts) / sizeof(opts[0]))
			goto out_usage;
		why = "needs a value";
		if (!val)
			goto out_usage;
		why = "must be an integer";
		if (opts[k].integer && !parse_int(val, &v))
			goto out_usage;
		if (k == 0)
			json_array_append_new(tracks, json_string(val));
		else
			json_object_set_new(body, opts[k].field,
					    opts[k].integer ? json_integer(v) : json_string(val));
		i++;
	}
	if (json_array_size(tracks))
		json_object_set(body, "tracks", tracks);
	json_decref(tracks);
	return record_call(c, "POST", "/api/v1/recordings", body, true);

out_usage:
	json_decref(tracks);
	json_decref(body);
	if (!strcmp(why, "must be an integer"))
		return usage_error("record start: %s must be an integer, not '%s'", argv[i],
				   argv[i + 1]);
	return usage_error("record start: %s %s", argv[i], why);
}

struct download {
	CURL *h;
	FILE *f;
	struct buffer err;	/* an error reply's body */
	uint64_t bytes;
};

/* Success bodies go to the file, error bodies to a buffer. */
static size_t on_file_data(char *ptr, size_t size, size_t nmemb, void *user)
{
	struct download *d = user;
	long status = 0;

	curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 400)
		return on_data(ptr, size, nmemb, &d->err);
	d->bytes += size * nmemb;
	return fwrite(ptr, size, nmemb, d->f);
}

/* GET the file into out (created, never overwritten); an error reply is
 * printed like any other and out is removed. */
static int record_download(const struct ctl *c, const char *path, const char *out)
{
	char url[2048], auth[1024], errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	struct download d = { 0 };
	long status = 0;
	CURLcode res;
	int rc = 0;

	d.f = fopen(out, "wbx");
	if (!d.f) {
		fprintf(stderr, "airmixctl: cannot create %s: %s\n", out, strerror(errno));
		return EXIT_FAILURE;
	}
	d.h = curl_easy_init();
	if (!d.h) {
		fclose(d.f);
		remove(out);
		fprintf(stderr, "airmixctl: cannot start libcurl\n");
		return EXIT_UNREACHABLE;
	}
	snprintf(url, sizeof(url), "%s%s", c->url, path);
	set_common(d.h, c, url, errbuf);
	curl_easy_setopt(d.h, CURLOPT_WRITEFUNCTION, on_file_data);
	curl_easy_setopt(d.h, CURLOPT_WRITEDATA, &d);
	if (c->token && c->token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
		hdrs = curl_slist_append(hdrs, auth);
		curl_easy_setopt(d.h, CURLOPT_HTTPHEADER, hdrs);
	}
	res = curl_easy_perform(d.h);
	curl_easy_getinfo(d.h, CURLINFO_RESPONSE_CODE, &status);
	if (res != CURLE_OK) {
		fprintf(stderr, "airmixctl: cannot download from airmixd at %s: %s\n", c->url,
			errbuf[0] ? errbuf : curl_easy_strerror(res));
		rc = EXIT_UNREACHABLE;
	} else if (status >= 400) {
		rc = server_error(c, status, &d.err);
	}
	if (fclose(d.f) != 0 && !rc) {
		fprintf(stderr, "airmixctl: cannot write %s: %s\n", out, strerror(errno));
		rc = EXIT_FAILURE;
	}
	if (rc)
		remove(out);
	else if (!c->json)
		printf("saved %llu bytes to %s\n", (unsigned long long)d.bytes, out);
	free(d.err.data);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(d.h);
	return rc;
}

static int cmd_record(const struct ctl *c, int argc, char **argv)
{
	char path[96];
	json_t *r;
	long long id, n;
	int rc;

	if (argc >= 2 && !strcmp(argv[1], "start"))
		return record_start(c, argc, argv);
	if (argc == 2 && !strcmp(argv[1], "list"))
		return record_call(c, "GET", "/api/v1/recordings", NULL, false);
	if (argc < 3)
		return usage_error("usage: record start|list|get|stop|mark|rm|download ... "
				   "(see help)");
	if (!parse_int(argv[2], &id) || id < 1 || id > 2147483647)
		return usage_error("take id must be a positive integer, not '%s'", argv[2]);
	snprintf(path, sizeof(path), "/api/v1/recordings/%lld", id);
	if (argc == 3 && !strcmp(argv[1], "get"))
		return record_call(c, "GET", path, NULL, true);
	if (argc == 3 && !strcmp(argv[1], "stop")) {
		snprintf(path + strlen(path), 16, "/stop");
		return record_call(c, "POST", path, NULL, true);
	}
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "mark")) {
		snprintf(path + strlen(path), 16, "/markers");
		rc = call(c, "POST", path, json_pack("{s:s}", "label", argc == 4 ? argv[3] : ""),
			  &r);
		if (!rc && r)
			printf("marker %lld at frame %lld (%.3f s)\n",
			       (long long)json_integer_value(json_object_get(r, "index")),
			       (long long)json_integer_value(json_object_get(r, "frame")),
			       json_number_value(json_object_get(r, "seconds")));
		json_decref(r);
		return rc;
	}
	if (argc == 3 && !strcmp(argv[1], "rm")) {
		rc = call(c, "DELETE", path, NULL, &r);
		if (!rc && !c->json)
			printf("deleted take %lld\n", id);
		json_decref(r);
		return rc;
	}
	if (argc == 5 && !strcmp(argv[1], "download")) {
		if (!parse_int(argv[3], &n) || n < 0 || n > 1000)
			return usage_error("file number must be an integer from 0, not '%s'",
					   argv[3]);
		snprintf(path + strlen(path), 32, "/files/%lld", n);
		return record_download(c, path, argv[4]);
	}
	return usage_error("usage: record %s ID ... (see help)", argv[1]);
}

/* ---- token, room */

/* airmixctl token verify: read the token here; the signature and expiry are
 * checked when an app id and key are known (--config FILE, default the
 * installed config). */
static int token_verify_cmd(int argc, char **argv)
{
	const char *path = "/etc/airmix/airmix.conf";
	struct config_errors errs = { .count = 0 };
	struct airmix_config cfg;
	struct token t;
	char msg[256], when[64];
	int rc;

	if (argc == 5 && !strcmp(argv[3], "--config"))
		path = argv[4];
	else if (argc != 3)
		return usage_error("usage: token verify TOKEN [--config FILE]");
	config_defaults(&cfg);
	if (config_load(path, &cfg, &errs) < 0 || !cfg.rtc_app_id[0]) {
		if (token_parse(argv[2], &t, msg, sizeof(msg))) {
			fprintf(stderr, "airmixctl: invalid token: %s\n", msg);
			return EXIT_SERVER;
		}
		printf("signature not checked: no [rtc] app_id and app_key in %s\n", path);
		rc = 0;
	} else {
		rc = token_verify(argv[2], cfg.rtc_app_id, cfg.rtc_app_key, (uint32_t)time(NULL),
				  &t, msg, sizeof(msg));
		if (rc == TOKEN_MALFORMED) {
			fprintf(stderr, "airmixctl: invalid token: %s\n", msg);
			return EXIT_SERVER;
		}
		printf("%s: %s\n", rc ? "INVALID" : "valid", msg);
	}
	printf("app_id     %s\nroom       %s\nuser       %s\nnonce      %u\n", t.app_id, t.room,
	       t.user, t.nonce);
	printf("issued_at  %u\n", t.issued_at);
	if (t.expire_at) {
		time_t e = (time_t)t.expire_at;

		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&e));
		printf("expire_at  %u (%s)\n", t.expire_at, when);
	} else {
		printf("expire_at  0 (never)\n");
	}
	for (uint16_t i = 0; i < t.n_privs; i++)
		printf("privilege  %u%s expires %u%s\n", t.privs[i].priv,
		       t.privs[i].priv == TOKEN_PRIV_PUBLISH_STREAM ? " (PublishStream)" :
		       t.privs[i].priv == TOKEN_PRIV_SUBSCRIBE_STREAM ? " (SubscribeStream)" : "",
		       t.privs[i].expire, t.privs[i].expire ? "" : " (with the token)");
	return rc ? EXIT_SERVER : 0;
}

/* URL/guest/ROOM?token=TOKEN: what the engineer sends a browser guest. */
static int print_guest_link(const struct ctl *c, const char *room, const char *token)
{
	char *tok = token ? curl_easy_escape(NULL, token, 0) : NULL;
	size_t n = strlen(c->url);

	if (!tok)
		return usage_error("token issue: no token in the reply");
	while (n && c->url[n - 1] == '/')
		n--;
	printf("%.*s/guest/%s?token=%s\n", (int)n, c->url, room, tok);
	curl_free(tok);
	return 0;
}

static int token_issue_cmd(const struct ctl *c, int argc, char **argv)
{
	json_t *body, *r = NULL;
	char path[512], *room;
	long long expire = 3600;
	bool link = false;
	int rc, i;

	if (argc < 4)
		return usage_error("usage: token issue ROOM USER [--expire S] [--no-publish] "
				   "[--no-subscribe] [--link]");
	body = json_pack("{s:s}", "user", argv[3]);
	for (i = 4; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "--no-publish")) {
			json_object_set_new(body, "publish", json_false());
		} else if (!strcmp(argv[i], "--no-subscribe")) {
			json_object_set_new(body, "subscribe", json_false());
		} else if (!strcmp(argv[i], "--link")) {
			link = true;
		} else if (!strcmp(argv[i], "--expire") && i + 1 < argc) {
			expire = strtoll(argv[++i], &end, 10);
			if (*end || expire < 0) {
				json_decref(body);
				return usage_error("token issue: --expire takes seconds (0 = never)");
			}
		} else {
			json_decref(body);
			return usage_error("token issue: unknown option %s", argv[i]);
		}
	}
	json_object_set_new(body, "expire_s", json_integer(expire));
	room = curl_easy_escape(NULL, argv[2], 0);
	if (!room) {
		json_decref(body);
		return usage_error("token issue: bad room id");
	}
	snprintf(path, sizeof(path), "/api/v1/rooms/%s/tokens", room);
	rc = call(c, "POST", path, body, &r);
	if (!rc && r && link)
		rc = print_guest_link(c, room, str(r, "token"));
	else if (!rc && r)
		printf("%s\n", str(r, "token"));
	curl_free(room);
	json_decref(r);
	return rc;
}

static int cmd_token(const struct ctl *c, int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "issue"))
		return token_issue_cmd(c, argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "verify"))
		return token_verify_cmd(argc, argv);
	return usage_error("usage: token issue|verify ... (see help)");
}

static void room_users(const json_t *room)
{
	struct table *t = table_new(8);
	const json_t *users = json_object_get(room, "users");
	char track[16], pkts[24];

	table_row(t, "USER", "VISIBLE", "ON AIR", "VIA", "TRACK", "PACKETS", "LOST",
		  "SUBSCRIPTIONS");
	for (size_t i = 0; i < json_array_size(users); i++) {
		const json_t *u = json_array_get(users, i);
		const json_t *st = json_object_get(u, "stats");
		char lost[24], subs[16];

		snprintf(track, sizeof(track), "%s", json_is_true(json_object_get(u, "publishing")) ?
			 "yes" : "-");
		snprintf(pkts, sizeof(pkts), "%lld",
			 (long long)json_integer_value(json_object_get(st, "packets")));
		snprintf(lost, sizeof(lost), "%lld",
			 (long long)json_integer_value(json_object_get(st, "lost")));
		snprintf(subs, sizeof(subs), "%zu",
			 json_array_size(json_object_get(u, "subscriptions")));
		table_row(t, str(u, "user"), json_is_true(json_object_get(u, "visible")) ? "yes" :
			  "no", json_is_true(json_object_get(u, "on_air")) ? "yes" : "green room",
			  str(u, "transport"), track, st ? pkts : "-", st ? lost : "-", subs);
	}
	table_print(t);
	table_free(t);
}

/* A request about a room; prints its reply the people's way. */
static int room_call(const struct ctl *c, const char *method, const char *path, json_t *body)
{
	json_t *r = NULL, *rooms;
	int rc = call(c, method, path, body, &r);

	if (rc || !r)
		goto out;
	rooms = json_object_get(r, "rooms");
	if (json_is_array(rooms)) {
		struct table *t = table_new(3);

		table_row(t, "ROOM", "VISIBLE USERS", "STREAMS");
		for (size_t i = 0; i < json_array_size(rooms); i++) {
			const json_t *m = json_array_get(rooms, i);
			char u[16], s[16];

			snprintf(u, sizeof(u), "%lld", (long long)json_integer_value(
					 json_object_get(m, "visible_users")));
			snprintf(s, sizeof(s), "%lld", (long long)json_integer_value(
					 json_object_get(m, "streams")));
			table_row(t, str(m, "room"), u, s);
		}
		table_print(t);
		table_free(t);
	} else if (json_object_get(r, "users")) {
		printf("room %s\n", str(r, "room") ? str(r, "room") : "");
		room_users(r);
	} else if (json_object_get(r, "kicked")) {
		printf("kicked %s from %s\n", str(r, "user"), str(r, "room"));
	} else if (json_object_get(r, "dismissed")) {
		printf("dismissed %s\n", str(r, "room"));
	} else if (json_object_get(r, "on_air")) {
		printf("%s is %s in %s\n", str(r, "user"), json_is_true(json_object_get(r, "on_air")) ?
		       "on air" : "in the green room", str(r, "room"));
	} else if (json_object_get(r, "gain")) {
		printf("node %lld gain %.2f\n", (long long)json_integer_value(json_object_get(r, "id")),
		       json_number_value(json_object_get(r, "gain")));
	}
out:
	json_decref(r);
	return rc;
}

static int cmd_room(const struct ctl *c, int argc, char **argv)
{
	char path[1024], *room = NULL, *user = NULL;
	json_t *body = NULL;
	const char *method = "GET";
	int rc;

	if (argc == 2 && !strcmp(argv[1], "list"))
		return room_call(c, "GET", "/api/v1/rooms", NULL);
	if (argc == 3 && !strcmp(argv[1], "create"))
		return room_call(c, "POST", "/api/v1/rooms", json_pack("{s:s}", "room", argv[2]));
	if (argc < 3)
		return usage_error("usage: room list|create|get|kick|dismiss|volume|on-air|green-room ... (see help)");
	room = curl_easy_escape(NULL, argv[2], 0);
	user = argc > 3 ? curl_easy_escape(NULL, argv[3], 0) : NULL;
	if (!room || (argc > 3 && !user)) {
		rc = usage_error("room: bad id");
		goto out;
	}
	if (argc == 3 && (!strcmp(argv[1], "get") || !strcmp(argv[1], "dismiss"))) {
		snprintf(path, sizeof(path), "/api/v1/rooms/%s", room);
		method = argv[1][0] == 'g' ? "GET" : "DELETE";
	} else if (argc == 4 && !strcmp(argv[1], "kick")) {
		snprintf(path, sizeof(path), "/api/v1/rooms/%s/users/%s", room, user);
		method = "DELETE";
	} else if (argc == 4 && (!strcmp(argv[1], "on-air") || !strcmp(argv[1], "green-room"))) {
		snprintf(path, sizeof(path), "/api/v1/rooms/%s/users/%s", room, user);
		method = "PUT";
		body = json_pack("{s:b}", "on_air", argv[1][0] == 'o');
	} else if (argc == 5 && !strcmp(argv[1], "volume")) {
		char *end;
		long v = strtol(argv[4], &end, 10);

		if (*end || !*argv[4]) {
			rc = usage_error("room volume: VOLUME is an integer 0..400");
			goto out;
		}
		snprintf(path, sizeof(path), "/api/v1/rooms/%s/users/%s", room, user);
		method = "PUT";
		body = json_pack("{s:i}", "volume", (int)v);
	} else {
		rc = usage_error("usage: room %s ... (see help)", argv[1]);
		goto out;
	}
	rc = room_call(c, method, path, body);
out:
	curl_free(room);
	curl_free(user);
	return rc;
}

/* ---- forward */

static void forward_print(const json_t *src)
{
	const json_t *targets = json_object_get(src, "targets");
	struct table *t = table_new(5);

	printf("room %s as user %s, %s%s\n", str(src, "room"), str(src, "user"),
	       str(src, "track") && *str(src, "track") ? "track of " : "programme",
	       str(src, "track") ? str(src, "track") : "");
	if (json_is_true(json_object_get(src, "paused")))
		printf("paused\n");
	table_row(t, "TARGET", "URL", "STATE", "ERROR", "PACKETS");
	for (size_t i = 0; i < json_array_size(targets); i++) {
		const json_t *m = json_array_get(targets, i);
		char pkts[24];

		snprintf(pkts, sizeof(pkts), "%lld", (long long)json_integer_value(
				 json_object_get(json_object_get(m, "return"), "packets")));
		table_row(t, str(m, "room"), str(m, "url"), str(m, "state_name"),
			  str(m, "error_name"), pkts);
	}
	table_print(t);
	table_free(t);
}

/* "ROOM=TOKEN[@URL]" as a target object; NULL when malformed. */
static json_t *forward_target_arg(const char *arg)
{
	const char *eq = strchr(arg, '='), *at = eq ? strchr(eq, '@') : NULL;
	json_t *t;

	if (!eq || eq == arg || eq[1] == '\0' || at == eq + 1)
		return NULL;
	t = json_pack("{s:s%,s:s%}", "room", arg, (size_t)(eq - arg), "token", eq + 1,
		      (size_t)(at ? at - eq - 1 : (ptrdiff_t)strlen(eq + 1)));
	if (t && at)
		json_object_set_new(t, "url", json_string(at + 1));
	return t;
}

static json_t *forward_body(int argc, char **argv)
{
	json_t *body = json_pack("{s:[]}", "targets");

	for (int i = 3; body && i < argc; i++) {
		json_t *t;

		if ((!strcmp(argv[i], "--user") || !strcmp(argv[i], "--track")) && i + 1 < argc) {
			json_object_set_new(body, argv[i] + 2, json_string(argv[i + 1]));
			i++;
		} else if ((t = forward_target_arg(argv[i]))) {
			json_array_append_new(json_object_get(body, "targets"), t);
		} else {
			usage_error("forward: %s is not TARGET=TOKEN[@URL], --user or --track",
				    argv[i]);
			json_decref(body);
			return NULL;
		}
	}
	return body;
}

static int cmd_forward(const struct ctl *c, int argc, char **argv)
{
	const char *method = NULL, *tail = "";
	json_t *body = NULL, *r = NULL;
	char path[1024], *room;
	int rc;

	if (argc == 2 && !strcmp(argv[1], "list")) {
		rc = call(c, "GET", "/api/v1/forward", NULL, &r);
		for (size_t i = 0; !rc && i < json_array_size(json_object_get(r, "forward")); i++)
			forward_print(json_array_get(json_object_get(r, "forward"), i));
		json_decref(r);
		return rc;
	}
	if (argc < 3)
		return usage_error("usage: forward start|update|get|stop|pause|resume ROOM ...");
	if (argc >= 4 && (!strcmp(argv[1], "start") || !strcmp(argv[1], "update"))) {
		method = argv[1][0] == 's' ? "POST" : "PUT";
		body = forward_body(argc, argv);
		if (!body)
			return EXIT_USAGE;
	} else if (argc == 3 && !strcmp(argv[1], "get")) {
		method = "GET";
	} else if (argc == 3 && !strcmp(argv[1], "stop")) {
		method = "DELETE";
	} else if (argc == 3 && (!strcmp(argv[1], "pause") || !strcmp(argv[1], "resume"))) {
		method = "POST";
		tail = argv[1][0] == 'p' ? "/pause" : "/resume";
	} else {
		return usage_error("usage: forward %s ... (see help)", argv[1]);
	}
	room = curl_easy_escape(NULL, argv[2], 0);
	if (!room) {
		json_decref(body);
		return usage_error("forward: bad room id");
	}
	snprintf(path, sizeof(path), "/api/v1/rooms/%s/forward%s", room, tail);
	curl_free(room);
	rc = call(c, method, path, body, &r);
	if (!rc && r)
		forward_print(r);
	json_decref(r);
	return rc;
}

/* ---- cdn */

static struct table *push_table(void)
{
	struct table *t = table_new(10);

	table_row(t, "ID", "KIND", "STATE", "TARGET", "AUDIO", "CONNECTS", "BYTES", "DROPPED",
		  "ERROR", "NOW PLAYING");
	return t;
}

static void push_row(struct table *t, const json_t *k)
{
	const json_t *ice = json_object_get(k, "icecast");
	char target[1200], audio[64], connects[32], bytes[32], dropped[32];

	if (json_is_object(ice))
		snprintf(target, sizeof(target), "icecast://%s:%lld%s", str(ice, "host"),
			 (long long)json_integer_value(json_object_get(ice, "port")),
			 str(ice, "mount"));
	else
		snprintf(target, sizeof(target), "%s", str(k, "url"));
	snprintf(audio, sizeof(audio), "%s %lld Hz %lld ch %lld kb/s", str(k, "codec"),
		 (long long)json_integer_value(json_object_get(k, "sample_rate")),
		 (long long)json_integer_value(json_object_get(k, "channels")),
		 (long long)json_integer_value(json_object_get(k, "bitrate_kbps")));
	snprintf(connects, sizeof(connects), "%lld",
		 (long long)json_integer_value(json_object_get(k, "connects")));
	snprintf(bytes, sizeof(bytes), "%lld",
		 (long long)json_integer_value(json_object_get(k, "bytes_sent")));
	snprintf(dropped, sizeof(dropped), "%lld",
		 (long long)json_integer_value(json_object_get(k, "frames_dropped")));
	table_row(t, str(k, "task_id")[0] ? str(k, "task_id") : "_", str(k, "kind"),
		  str(k, "state"), target, audio, connects, bytes, dropped,
		  json_integer_value(json_object_get(k, "last_error")) ?
		  str(k, "last_error_name") : "-", str(k, "now_playing"));
}

/* A request whose reply is one task (or the list): print a table, and for
 * a single task the last failure's text. */
static int push_call(const struct ctl *c, const char *method, const char *path, json_t *body)
{
	struct table *t = push_table();
	json_t *r, *list;
	int rc = call(c, method, path, body, &r);

	if (!rc && r) {
		list = json_object_get(r, "tasks");
		if (json_is_array(list))
			for (size_t i = 0; i < json_array_size(list); i++)
				push_row(t, json_array_get(list, i));
		else
			push_row(t, r);
		table_print(t);
		if (!json_is_array(list) && str(r, "last_message")[0])
			printf("\nlast error: %s\n", str(r, "last_message"));
	}
	json_decref(r);
	table_free(t);
	return rc;
}

/* HOST:PORT/MOUNT (port 8000 when left out) into the icecast object. */
static bool parse_icecast(const char *s, json_t *ice)
{
	const char *slash = strchr(s, '/'), *colon;
	long long port = 8000;
	char host[256], num[16];

	if (!slash || slash == s || slash[1] == '\0')
		return false;
	colon = memchr(s, ':', (size_t)(slash - s));
	if ((size_t)((colon ? colon : slash) - s) >= sizeof(host))
		return false;
	snprintf(host, sizeof(host), "%.*s", (int)((colon ? colon : slash) - s), s);
	if (colon) {
		if ((size_t)(slash - colon - 1) >= sizeof(num))
			return false;
		snprintf(num, sizeof(num), "%.*s", (int)(slash - colon - 1), colon + 1);
		if (!parse_int(num, &port))
			return false;
	}
	json_object_set_new(ice, "host", json_string(host));
	json_object_set_new(ice, "port", json_integer(port));
	json_object_set_new(ice, "mount", json_string(slash));
	return true;
}

/* Options of cdn start and cdn update into the body; 0 or a usage exit. */
static int push_options(int argc, char **argv, int first, json_t *body)
{
	/* where each option goes: the body, or the icecast object */
	static const struct {
		const char *opt, *field;
		bool integer, icecast;
	} opts[] = {
		{ "--url", "url", false, false }, { "--rate", "sample_rate", true, false },
		{ "--channels", "channels", true, false }, { "--bitrate", "bitrate_kbps", true, false },
		{ "--profile", "profile", false, false }, { "--title", "title", false, false },
		{ "--icecast", NULL, false, true }, { "--password", "password", false, true },
		{ "--user", "user", false, true }, { "--name", "name", false, true },
		{ "--genre", "genre", false, true }, { "--description", "description", false, true },
	};
	json_t *ice = json_object();
	long long v = 0;
	size_t k;
	int i;

	for (i = first; i < argc; i++) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		for (k = 0; k < sizeof(opts) / sizeof(opts[0]) && strcmp(argv[i], opts[k].opt); k++)
			;
		if (k == sizeof(opts) / sizeof(opts[0])) {
			json_decref(ice);
			return usage_error("cdn: %s is not an option", argv[i]);
		}
		if (!val || (opts[k].integer && !parse_int(val, &v)) ||
		    (!opts[k].field && !parse_icecast(val, ice))) {
			json_decref(ice);
			return usage_error("cdn: %s needs %s", argv[i], opts[k].integer
					   ? "an integer" : opts[k].field ? "a value"
					   : "HOST[:PORT]/MOUNT");
		}
		if (opts[k].field)
			json_object_set_new(opts[k].icecast ? ice : body, opts[k].field,
					    opts[k].integer ? json_integer(v) : json_string(val));
		i++;
	}
	if (json_object_size(ice))
		json_object_set(body, "icecast", ice);
	json_decref(ice);
	return 0;
}

static int cmd_cdn(const struct ctl *c, int argc, char **argv)
{
	char path[512], *id;
	json_t *body, *r;
	int rc;

	if (argc == 2 && !strcmp(argv[1], "list"))
		return push_call(c, "GET", "/api/v1/cdn", NULL);
	if (argc < 3)
		return usage_error("usage: cdn list|get|start|update|stop ... (see help)");
	/* "" is spelled _ in the path */
	id = curl_easy_escape(NULL, argv[2][0] ? argv[2] : "_", 0);
	if (!id)
		return usage_error("cdn: bad task id");
	snprintf(path, sizeof(path), "/api/v1/cdn/%s", id);
	curl_free(id);
	if (argc == 3 && !strcmp(argv[1], "get"))
		return push_call(c, "GET", path, NULL);
	if (argc == 3 && !strcmp(argv[1], "stop")) {
		rc = call(c, "DELETE", path, NULL, &r);
		if (!rc && !c->json)
			printf("stopped task %s\n", argv[2]);
		json_decref(r);
		return rc;
	}
	if (!strcmp(argv[1], "start") || !strcmp(argv[1], "update")) {
		body = json_object();
		rc = push_options(argc, argv, 3, body);
		if (rc) {
			json_decref(body);
			return rc;
		}
		if (argv[1][0] == 's' && !json_object_get(body, "url") &&
		    !json_object_get(body, "icecast")) {
			json_decref(body);
			return usage_error("cdn start: give --url URL or --icecast HOST:PORT/MOUNT");
		}
		return push_call(c, argv[1][0] == 's' ? "POST" : "PUT", path, body);
	}
	return usage_error("usage: cdn %s ID ... (see help)", argv[1]);
}

/* One password line from in, without its line end. -1 at the end of input. */
static int read_password(FILE *in, bool tty, const char *prompt, char *buf, size_t len)
{
	struct termios old, quiet;
	bool echo_off = false;
	size_t n;

	if (tty) {
		fputs(prompt, stderr);
		fflush(stderr);
		if (tcgetattr(fileno(in), &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			echo_off = tcsetattr(fileno(in), TCSAFLUSH, &quiet) == 0;
		}
	}
	if (!fgets(buf, (int)len, in))
		buf[0] = '\0';
	if (echo_off) {
		tcsetattr(fileno(in), TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	n = strlen(buf);
	if (!n)
		return -1;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return 0;
}

/* airmixctl passwd: the server is not involved; the file is. */
static int cmd_passwd(int argc, char **argv)
{
	const char *user = "admin", *path = getenv("AIRMIX_CONFIG");
	char pw[PASSWORD_MAX + 2], again[PASSWORD_MAX + 2], hash[CONFIG_STR_MAX], key[64];
	char err[512];
	struct config_edit edit = { .section = "http" };
	bool tty = isatty(STDIN_FILENO);
	int i, rc = EXIT_SERVER;

	for (i = 1; i < argc; i++) {
		if (i + 1 < argc && !strcmp(argv[i], "--user"))
			user = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--config"))
			path = argv[++i];
		else
			return usage_error("passwd: unknown or incomplete option %s", argv[i]);
	}
	if (strcmp(user, "admin") && strcmp(user, "operator"))
		return usage_error("passwd: --user is admin or operator, not %s", user);
	if (!path || !path[0])
		path = PASSWD_CONFIG;
	if (read_password(stdin, tty, "New password: ", pw, sizeof(pw)) ||
	    read_password(stdin, tty, "Again: ", again, sizeof(again))) {
		fprintf(stderr, "airmixctl: passwd: give the password twice%s\n",
			tty ? "" : " (two lines on stdin)");
		goto out;
	}
	if (strcmp(pw, again)) {
		fprintf(stderr, "airmixctl: passwd: the two passwords differ\n");
		goto out;
	}
	if (strlen(pw) < PASSWORD_MIN || strlen(pw) > PASSWORD_MAX) {
		fprintf(stderr, "airmixctl: passwd: a password has %d to %d characters\n",
			PASSWORD_MIN, PASSWORD_MAX);
		goto out;
	}
	if (auth_hash_password(pw, hash, sizeof(hash))) {
		fprintf(stderr, "airmixctl: passwd: hashing failed\n");
		goto out;
	}
	snprintf(key, sizeof(key), "%s_password_hash", user);
	edit.key = key;
	edit.value = hash;
	if (config_file_set(path, &edit, 1, err, sizeof(err))) {
		fprintf(stderr, "airmixctl: passwd: %s\n", err);
		goto out;
	}
	printf("the %s password is set in %s (the old file is %s.bak); reload airmixd to apply "
	       "it: systemctl reload airmix, or kill -HUP the daemon\n", user, path, path);
	rc = 0;
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	OPENSSL_cleanse(again, sizeof(again));
	return rc;
}

static int run(const struct ctl *c, int argc, char **argv)
{
	const char *cmd = argv[0];

	if (!strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(cmd, "health") || !strcmp(cmd, "graph") || !strcmp(cmd, "errors")) {
		if (argc != 1)
			return usage_error("%s takes no arguments", cmd);
		return cmd[0] == 'h' ? cmd_health(c) : cmd[0] == 'g' ? cmd_graph(c) : cmd_errors(c);
	}
	if (!strcmp(cmd, "gain"))
		return cmd_gain(c, argc, argv);
	if (!strcmp(cmd, "mute"))
		return cmd_mute(c, argc, argv);
	if (!strcmp(cmd, "pan"))
		return cmd_pan(c, argc, argv);
	if (!strcmp(cmd, "tone"))
		return cmd_tone(c, argc, argv);
	if (!strcmp(cmd, "history"))
		return cmd_history(c, argc, argv);
	if (!strcmp(cmd, "mixing"))
		return cmd_mixing(c, argc, argv);
	if (!strcmp(cmd, "record"))
		return cmd_record(c, argc, argv);
	if (!strcmp(cmd, "cdn"))
		return cmd_cdn(c, argc, argv);
	if (!strcmp(cmd, "token"))
		return cmd_token(c, argc, argv);
	if (!strcmp(cmd, "room"))
		return cmd_room(c, argc, argv);
	if (!strcmp(cmd, "forward"))
		return cmd_forward(c, argc, argv);
	if (!strcmp(cmd, "passwd"))
		return cmd_passwd(argc, argv);
	return usage_error("unknown command '%s'", cmd);
}

int main(int argc, char **argv)
{
	struct ctl c = { .url = getenv("AIRMIX_URL"), .token = getenv("AIRMIX_TOKEN"),
			 .cacert = getenv("AIRMIX_CACERT") };
	static char url[1024];
	int i, rc;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (!strcmp(argv[i], "--json")) {
			c.json = true;
		} else if (!strcmp(argv[i], "--version")) {
			printf("airmixctl %s\n", AIRMIX_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "--help")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--url") || !strcmp(argv[i], "--token") ||
			   !strcmp(argv[i], "--cacert")) {
			if (i + 1 >= argc)
				return usage_error("%s needs a value", argv[i]);
			if (argv[i][2] == 'u')
				c.url = argv[++i];
			else if (argv[i][2] == 't')
				c.token = argv[++i];
			else
				c.cacert = argv[++i];
		} else {
			return usage_error("unknown option %s", argv[i]);
		}
	}
	if (i >= argc)
		return usage_error("no command given");
	snprintf(url, sizeof(url), "%s", c.url && c.url[0] ? c.url : DEFAULT_URL);
	while (strlen(url) > 1 && url[strlen(url) - 1] == '/')
		url[strlen(url) - 1] = '\0';
	c.url = url;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = run(&c, argc - i, argv + i);
	curl_global_cleanup();
	return rc;
}
