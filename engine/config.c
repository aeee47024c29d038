/* config.c - airmix.conf: the key table, the INI reader and validation.
 *
 * One static table (keys[] below) describes every key: section, name, type,
 * default, unit, whether it can change live, a description, the range or the
 * choices, and where the value lives in struct airmix_config. Defaults,
 * parsing, config_set(), config_get_text() and config_restart_needed() are all
 * driven by that table; the only per-key code is cross_checks().
 *
 * inih does the INI syntax. Debian's inih does not pass line numbers to the
 * handler, so the file is fed to ini_parse_stream() through read_line(), which
 * hands over one physical line per call and counts lines itself. read_line()
 * also catches what inih would misreport: lines longer than inih's buffer (a
 * long comment is cut, a long key line is an error instead of being parsed in
 * pieces), section headers (unknown sections are reported once, at the
 * header) and lines that are neither a comment, a section nor key = value.
 * It strips leading blanks, so inih's multi-line continuation never applies.
 *
 * Every problem is collected (the first 32 kept) and a file with any problem
 * is refused whole: values are parsed into a candidate config that replaces
 * the caller's only when everything was valid.
 *
 * Threads: loading and config_set() run on the control thread (start-up,
 * SIGHUP reload, settings API). Nothing here has global state: the table is
 * constant, every other function works on the config it is given, so any
 * non-RT thread may call them on its own copy. Never the RT thread (they
 * allocate and do I/O).
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum key_kind {
	KIND_INT,
	KIND_DOUBLE,
	KIND_BOOL,
	KIND_STRING,
	KIND_ENUM_INT,		/* stored as the index of the choice */
	KIND_ENUM_STR,		/* stored as the choice's text */
};

#define KEY_NONEMPTY 1u		/* an empty string is refused */
#define KEY_SECRET 2u		/* never shown by the settings API */
#define KEY_HASH 4u		/* "" or a crypt(3) hash */

struct key_def {
	struct config_key_info info;
	enum key_kind kind;
	size_t offset;		/* into struct airmix_config */
	size_t size;		/* strings: longest accepted value + 1 */
	double min, max;	/* numbers */
	const char *const *choices;	/* enums, NULL-terminated */
	unsigned flags;
};

static const char *const backend_choices[] = {
	"auto", "jack", "alsa", "internal", "offline", NULL
};
static const char *const alsa_format_choices[] = { "S16_LE", "S32_LE", "FLOAT_LE", NULL };
static const char *const tone_bus_choices[] = { "publish", "playout", "both", NULL };
static const char *const log_level_choices[] = { "error", "warning", "info", "debug", NULL };

/* The _Generic selections make a key whose field has the wrong C type a
 * compile error. */
#define CFG struct airmix_config
#define OFF_INT(f) _Generic(((CFG *)0)->f, int: offsetof(CFG, f))
#define OFF_DOUBLE(f) _Generic(((CFG *)0)->f, double: offsetof(CFG, f))
#define OFF_BOOL(f) _Generic(((CFG *)0)->f, bool: offsetof(CFG, f))
#define OFF_STR(f) _Generic(((CFG *)0)->f, char *: offsetof(CFG, f))
#define SIZE_OF(f) sizeof(((CFG *)0)->f)

#define INT(sec, name, f, def, unit, live, lo, hi, doc) \
	{ { sec, name, "int", #def, unit, live, doc }, KIND_INT, OFF_INT(f), 0, lo, hi, NULL, 0 }
#define DOUBLE(sec, name, f, def, unit, live, lo, hi, doc) \
	{ { sec, name, "double", #def, unit, live, doc }, KIND_DOUBLE, OFF_DOUBLE(f), 0, lo, hi, \
	  NULL, 0 }
#define BOOL(sec, name, f, def, live, doc) \
	{ { sec, name, "bool", def, "", live, doc }, KIND_BOOL, OFF_BOOL(f), 0, 0, 0, NULL, 0 }
#define STRING(sec, name, f, def, live, flags, doc) \
	{ { sec, name, "string", def, "", live, doc }, KIND_STRING, OFF_STR(f), SIZE_OF(f), 0, 0, \
	  NULL, flags }
/* data_dir leaves room for the "/recordings" that config_resolve_paths() adds. */
#define DIR_STRING(sec, name, f, def, live, doc) \
	{ { sec, name, "string", def, "", live, doc }, KIND_STRING, OFF_STR(f), \
	  SIZE_OF(f) - 16, 0, 0, NULL, KEY_NONEMPTY }
#define ENUM_INT(sec, name, f, def, choices, live, doc) \
	{ { sec, name, "enum", def, "", live, doc }, KIND_ENUM_INT, OFF_INT(f), 0, 0, 0, choices, 0 }
#define ENUM_STR(sec, name, f, def, choices, live, doc) \
	{ { sec, name, "enum", def, "", live, doc }, KIND_ENUM_STR, OFF_STR(f), SIZE_OF(f), 0, 0, \
	  choices, 0 }

#define LIVE true
#define RESTART false

static const struct key_def keys[] = {
	ENUM_INT("engine", "backend", backend, "auto", backend_choices, RESTART,
		 "clock backend: auto (jack if a server answers, else internal), jack, alsa, "
		 "internal or offline"),
	INT("engine", "sample_rate", sample_rate, 48000, "Hz", RESTART, 8000, 192000,
	    "sample rate of the graph (JACK imposes its own)"),
	INT("engine", "period_frames", period_frames, 256, "frames", RESTART, 16, 8192,
	    "frames per cycle on the internal, alsa and offline clocks"),
	INT("engine", "max_period_frames", max_period_frames, 8192, "frames", RESTART, 64, 16384,
	    "largest period the buffers are sized for"),
	INT("engine", "max_nodes", max_nodes, 4096, "nodes", RESTART, 16, 65536,
	    "most nodes a graph can hold"),
	INT("engine", "command_ring", command_ring, 1024, "records", RESTART, 64, 65536,
	    "command ring size per producer (rounded up to a power of two)"),
	INT("engine", "event_ring", event_ring, 4096, "records", RESTART, 64, 65536,
	    "event ring size (rounded up to a power of two)"),
	DOUBLE("engine", "limiter_ceiling_db", limiter_ceiling_db, -1.0, "dBFS", LIVE, -20, 0,
	       "bus limiter ceiling"),
	DOUBLE("engine", "limiter_lookahead_ms", limiter_lookahead_ms, 1.0, "ms", RESTART, 0, 5,
	       "bus limiter look-ahead (adds this much latency)"),
	DOUBLE("engine", "limiter_release_ms", limiter_release_ms, 50, "ms", LIVE, 1, 2000,
	       "bus limiter release time"),
	DOUBLE("engine", "meter_window_ms", meter_window_ms, 50, "ms", RESTART, 10, 1000,
	       "RMS meter integration window"),
	INT("engine", "rt_priority", rt_priority, 70, "", RESTART, 1, 95,
	    "SCHED_FIFO priority of airmix's own clock threads (alsa, internal)"),
	BOOL("engine", "lock_memory", lock_memory, "true", RESTART,
	     "mlockall() at start so the RT thread never page-faults"),

	STRING("jack", "client_name", jack_client_name, "airmix", RESTART, KEY_NONEMPTY,
	       "JACK client name"),
	STRING("jack", "server_name", jack_server_name, "", RESTART, 0,
	       "JACK server name, empty for the default server"),
	INT("jack", "inputs", jack_inputs, 2, "ports", RESTART, 0, 64,
	    "input ports in_1..in_N, each an input node"),
	STRING("jack", "connect_outputs", jack_connect_outputs, "", RESTART, 0,
	       "regular expression of ports to connect the publish and playout outputs to, "
	       "empty for none"),
	STRING("jack", "connect_inputs", jack_connect_inputs, "", RESTART, 0,
	       "regular expression of ports to connect to the inputs, empty for none"),
	INT("jack", "reconnect_ms", jack_reconnect_ms, 1000, "ms", RESTART, 100, 60000,
	    "retry interval while the JACK server is gone"),

	STRING("alsa", "device", alsa_device, "default", RESTART, KEY_NONEMPTY,
	       "ALSA playback PCM"),
	STRING("alsa", "capture_device", alsa_capture_device, "", RESTART, 0,
	       "ALSA capture PCM, empty for no capture"),
	INT("alsa", "periods", alsa_periods, 2, "periods", RESTART, 2, 16,
	    "periods in the ALSA buffer"),
	ENUM_STR("alsa", "format", alsa_format, "S16_LE", alsa_format_choices, RESTART,
		 "ALSA sample format: S16_LE, S32_LE or FLOAT_LE"),
	INT("alsa", "inputs", alsa_inputs, 0, "channels", RESTART, 0, 64,
	    "capture channels, each an input node"),

	BOOL("tone", "enabled", tone_enabled, "false", LIVE,
	     "create a line-up tone node at start-up"),
	DOUBLE("tone", "frequency_hz", tone_frequency_hz, 1000, "Hz", LIVE, 20, 20000,
	       "line-up tone frequency"),
	DOUBLE("tone", "level_dbfs", tone_level_dbfs, -18, "dBFS", LIVE, -60, 0,
	       "line-up tone level"),
	ENUM_STR("tone", "buses", tone_buses, "publish", tone_bus_choices, RESTART,
		 "buses the tone feeds: publish, playout or both"),

	STRING("http", "listen", http_listen, "127.0.0.1", RESTART, KEY_NONEMPTY,
	       "address of the admin HTTP server: an IPv4 or IPv6 literal or localhost"),
	INT("http", "port", http_port, 8080, "", RESTART, 1, 65535, "admin HTTP port"),
	STRING("http", "token", http_token, "", LIVE, KEY_SECRET,
	       "bearer token for scripts (acts as admin), empty for none"),
	STRING("http", "admin_password_hash", http_admin_hash, "", LIVE, KEY_SECRET | KEY_HASH,
	       "crypt(3) hash of the admin password, set with airmixctl passwd; empty for none, "
	       "required when listen is not a loopback address"),
	STRING("http", "operator_password_hash", http_operator_hash, "", LIVE,
	       KEY_SECRET | KEY_HASH,
	       "crypt(3) hash of the operator password, set with airmixctl passwd --user operator"),
	INT("http", "session_ttl_s", http_session_ttl_s, 43200, "s", LIVE, 60, 2592000,
	    "lifetime of a login session"),
	INT("http", "upload_max_mb", http_upload_max_mb, 200, "MB", LIVE, 1, 65536,
	    "largest media file accepted by an upload"),
	STRING("http", "tls_cert", http_tls_cert, "", RESTART, 0,
	       "PEM certificate (chain) for HTTPS and WSS, empty for plain HTTP"),
	STRING("http", "tls_key", http_tls_key, "", RESTART, 0,
	       "PEM private key of tls_cert"),
	INT("http", "max_body_bytes", http_max_body, 65536, "bytes", RESTART, 1024, 16777216,
	    "largest request body accepted"),
	INT("http", "max_ws_clients", http_max_ws_clients, 256, "clients", RESTART, 1, 4096,
	    "most WebSocket event subscribers at once"),
	INT("http", "meter_fps", http_meter_fps, 20, "fps", RESTART, 1, 60,
	    "meter frames per second sent to WebSocket subscribers"),

	DIR_STRING("paths", "data_dir", data_dir, "var", RESTART,
		   "data directory, relative to the working directory unless absolute"),
	STRING("paths", "media_dir", media_dir, "", RESTART, 0,
	       "media files, empty for data_dir/media"),
	STRING("paths", "recordings_dir", recordings_dir, "", RESTART, 0,
	       "recordings, empty for data_dir/recordings"),
	STRING("paths", "history_db", history_db, "", RESTART, 0,
	       "error history database, empty for data_dir/history.db"),

	INT("history", "max_rows", history_max_rows, 100000, "rows", RESTART, 0, 100000000,
	    "rows kept in the history, 0 for no limit"),
	INT("history", "max_age_days", history_max_age_days, 90, "days", RESTART, 0, 36500,
	    "age of the oldest row kept, 0 for no limit"),
	INT("history", "queue_rows", history_queue_rows, 4096, "rows", RESTART, 16, 65536,
	    "rows queued for the history writer before new ones are dropped"),
	INT("history", "flush_ms", history_flush_ms, 200, "ms", RESTART, 10, 10000,
	    "longest time a row waits before it is written"),

	INT("mixing", "max_ids", mixing_max_ids, 64, "ids", RESTART, 1, 1024,
	    "mixing ids loaded or playing at once"),
	INT("mixing", "stream_ahead_ms", mixing_stream_ahead_ms, 2000, "ms", RESTART, 200, 10000,
	    "how far the reader decodes music files ahead of playback"),

	INT("recorder", "header_interval_ms", recorder_header_interval_ms, 1000, "ms", RESTART,
	    100, 60000, "how often a take's file headers are made valid and synced to disk"),
	INT("recorder", "ring_ms", recorder_ring_ms, 4000, "ms", RESTART, 100, 60000,
	    "audio buffered per track between the RT thread and the writer"),
	INT("recorder", "warn_free_mb", recorder_warn_free_mb, 2048, "MB", RESTART, 0, 16777216,
	    "free space on the recordings disk below which a warning is reported"),
	INT("recorder", "min_free_mb", recorder_min_free_mb, 256, "MB", RESTART, 0, 16777216,
	    "free space below which takes stop cleanly, 0 to record until the disk is full"),
	STRING("recorder", "name_template", recorder_name_template, "%Y%m%d-%H%M%S-{track}",
	       RESTART, KEY_NONEMPTY,
	       "file name of each track: strftime fields and {track}; the extension is added"),

	INT("push", "max_tasks", push_max_tasks, 8, "tasks", RESTART, 1, 64,
	    "CDN push tasks at once, each with its own thread and encoder"),
	INT("push", "ring_ms", push_ring_ms, 2000, "ms", RESTART, 100, 60000,
	    "audio buffered per push task between the RT thread and the encoder"),
	INT("push", "timeout_ms", push_timeout_ms, 5000, "ms", RESTART, 500, 60000,
	    "longest a connection attempt or one send may take before it counts as failed"),
	INT("push", "backoff_min_ms", push_backoff_min_ms, 250, "ms", RESTART, 50, 60000,
	    "delay before the first reconnection attempt"),
	INT("push", "backoff_max_ms", push_backoff_max_ms, 3000, "ms", RESTART, 50, 600000,
	    "reconnection delays double up to this, each with +-20 % jitter"),
	INT("push", "probe_ms", push_probe_ms, 3000, "ms", RESTART, 0, 60000,
	    "liveness probe period while pushing (a frozen server), 0 for none"),

	STRING("rtp", "bind_address", rtp_bind_address, "127.0.0.1", RESTART, KEY_NONEMPTY,
	       "address the remote tracks' UDP sockets listen on: an IPv4 or IPv6 literal"),
	INT("rtp", "port_min", rtp_port_min, 40000, "", RESTART, 1024, 65534,
	    "lowest UDP port for remote tracks (one even port per published track)"),
	INT("rtp", "port_max", rtp_port_max, 40999, "", RESTART, 1025, 65535,
	    "highest UDP port for remote tracks"),
	INT("rtp", "jitter_min_ms", rtp_jitter_min_ms, 40, "ms", RESTART, 0, 1000,
	    "jitter buffer depth a track starts with and never goes below"),
	INT("rtp", "jitter_max_ms", rtp_jitter_max_ms, 400, "ms", RESTART, 20, 5000,
	    "deepest the jitter buffer may grow before late audio is skipped"),
	INT("rtp", "drift_max_ppm", rtp_drift_max_ppm, 1000, "ppm", RESTART, 10, 20000,
	    "largest correction of a sender's clock against the engine clock"),
	INT("rtp", "return_bitrate_kbps", rtp_return_bitrate_kbps, 64, "kb/s", RESTART, 6, 510,
	    "Opus bitrate of each mix-minus return (48 kHz, 20 ms frames)"),
	INT("rtp", "return_complexity", rtp_return_complexity, 5, "", RESTART, 0, 10,
	    "Opus encoder complexity of the returns (0 cheapest .. 10 best)"),
	INT("rtp", "return_channels", rtp_return_channels, 2, "", RESTART, 1, 2,
	    "channels of each mix-minus return: 2 stereo, 1 the programme folded to mono (for "
	    "callers on a voice line: about half the encoding; set return_bitrate_kbps to 32 "
	    "with it)"),
	BOOL("rtp", "return_fec", rtp_return_fec, "false", RESTART,
	     "Opus in-band forward error correction in the returns"),

	STRING("rtc", "app_id", rtc_app_id, "", RESTART, 0,
	       "Volcengine app id the AccessTokens must carry: 24 characters; empty: joining "
	       "rooms is refused"),
	STRING("rtc", "app_key", rtc_app_key, "", RESTART, KEY_SECRET,
	       "app key that signs and verifies the AccessTokens (HMAC-SHA256)"),
	BOOL("rtc", "auto_create_rooms", rtc_auto_create_rooms, "false", RESTART,
	     "a join to a room that does not exist creates it (else only the API creates rooms)"),
	INT("rtc", "max_users", rtc_max_users, 50, "users", RESTART, 1, 50,
	    "visible users per room (the reference's limit of 50 can only be lowered)"),
	INT("rtc", "max_streams", rtc_max_streams, 30, "streams", RESTART, 1, 30,
	    "published streams per room (the reference's limit of 30 can only be lowered)"),
	INT("rtc", "signalling_timeout_ms", rtc_signalling_timeout_ms, 60000, "ms", RESTART,
	    1000, 600000, "a signalling client silent this long is removed (TIME_OUT)"),
	INT("rtc", "token_warning_s", rtc_token_warning_s, 30, "s", RESTART, 1, 3600,
	    "token_will_expire is sent this long before a token or privilege expires"),
	BOOL("rtc", "forward_enabled", rtc_forward_enabled, "true", RESTART,
	     "rooms may forward their programme or a track to other rooms (else NOT_SUPPORT)"),
	INT("rtc", "forward_backoff_max_ms", rtc_forward_backoff_max_ms, 5000, "ms", RESTART,
	    250, 600000, "a lost forwarding target is retried after delays doubling up to this"),
	INT("rtc", "forward_timeout_ms", rtc_forward_timeout_ms, 10000, "ms", RESTART, 500,
	    120000, "a forwarding target must connect and answer each request within this"),
	STRING("rtc", "forward_ca_file", rtc_forward_ca_file, "", RESTART, 0,
	       "PEM certificates of the CAs a wss:// forwarding target's certificate must come "
	       "from; empty: the system's (/etc/ssl/certs)"),

	BOOL("webrtc", "enabled", webrtc_enabled, "true", RESTART,
	     "browser guests may join over WebRTC (the guest page, /guest/{room})"),
	STRING("webrtc", "interfaces", webrtc_interfaces, "", RESTART, 0,
	       "addresses ICE offers host candidates on, comma-separated IPv4 or IPv6 literals; "
	       "empty: every interface but loopback"),
	STRING("webrtc", "stun_server", webrtc_stun_server, "", RESTART, 0,
	       "STUN server for guests behind NAT, stun://host:port; empty: none"),
	STRING("webrtc", "turn_server", webrtc_turn_server, "", RESTART, KEY_SECRET,
	       "TURN server relaying for guests no direct path reaches, "
	       "turn://user:password@host:port (or turns://); empty: none"),

	ENUM_STR("log", "level", log_level, "info", log_level_choices, LIVE,
		 "log level: error, warning, info or debug"),
};

#define KEY_COUNT (sizeof(keys) / sizeof(keys[0]))
#define ERRORS_KEPT ((int)(sizeof(((struct config_errors *)0)->items) / \
			   sizeof(((struct config_errors *)0)->items[0])))

/* One load or one config_set(): the candidate config and where each key was
 * set. line is 0 for config_set(), whose messages carry no line number. */
struct parse {
	const char *where;		/* file path or the caller's location */
	struct airmix_config cfg;	/* candidate, copied out only when valid */
	struct config_errors *errs;
	int err_line[ERRORS_KEPT];	/* of each kept error */
	int line;			/* current line, counted by read_line() */
	bool skip_keys;			/* after a bad or unknown section header */
	char header[160];		/* "[section]" as inih is given it */
	int key_line[KEY_COUNT];	/* line of each key set here; 0 = not set */
	bool key_bad[KEY_COUNT];	/* its value was refused */
	FILE *file;
	char *buf;			/* getline() buffer */
	size_t buf_cap;
};

/* ---- errors */

static void add_error(struct parse *p, int line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Control thread: record "where:line: key: message" (line and key optional). */
static void add_error(struct parse *p, int line, const char *key, const char *fmt, ...)
{
	struct config_errors *errs = p->errs;
	size_t len = sizeof(errs->items[0].text), used;
	va_list ap;
	char *t;
	int n;

	if (errs->count < ERRORS_KEPT) {
		p->err_line[errs->count] = line;
		t = errs->items[errs->count].text;
		if (line > 0)
			n = snprintf(t, len, "%s:%d: ", p->where, line);
		else
			n = snprintf(t, len, "%s: ", p->where);
		used = n < 0 ? 0 : (size_t)n;
		if (key && used < len) {
			n = snprintf(t + used, len - used, "%s: ", key);
			used += n < 0 ? 0 : (size_t)n;
		}
		if (used < len) {
			va_start(ap, fmt);
			vsnprintf(t + used, len - used, fmt, ap);
			va_end(ap);
		}
	}
	errs->count++;
}

/* Control thread: kept errors in line order (cross checks come last). */
static void sort_errors(struct parse *p)
{
	struct config_errors *errs = p->errs;
	int kept = errs->count < ERRORS_KEPT ? errs->count : ERRORS_KEPT;
	struct config_error item;
	int line;

	for (int i = 1; i < kept; i++) {
		int j = i;

		item = errs->items[i];
		line = p->err_line[i];
		for (; j > 0 && p->err_line[j - 1] > line; j--) {
			errs->items[j] = errs->items[j - 1];
			p->err_line[j] = p->err_line[j - 1];
		}
		errs->items[j] = item;
		p->err_line[j] = line;
	}
}

/* ---- the table */

static const struct key_def *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < KEY_COUNT; i++)
		if (!strcmp(keys[i].info.section, section) && !strcmp(keys[i].info.key, name))
			return &keys[i];
	return NULL;
}

static bool section_known(const char *section)
{
	for (size_t i = 0; i < KEY_COUNT; i++)
		if (!strcmp(keys[i].info.section, section))
			return true;
	return false;
}

static void *field(struct airmix_config *cfg, const struct key_def *k)
{
	return (char *)cfg + k->offset;
}

static const void *cfield(const struct airmix_config *cfg, const struct key_def *k)
{
	return (const char *)cfg + k->offset;
}

/* ---- values */

static const char *choice_at(const char *const *choices, int index)
{
	for (int i = 0; choices[i]; i++)
		if (i == index)
			return choices[i];
	return "unknown";
}

/* A value for messages: quoted, cut at 60 characters. */
static const char *shown(const char *v, char *buf, size_t len)
{
	if (strlen(v) > 60)
		snprintf(buf, len, "\"%.60s...\"", v);
	else
		snprintf(buf, len, "\"%s\"", v);
	return buf;
}

static void range_text(const struct key_def *k, char *buf, size_t len)
{
	snprintf(buf, len, "%.15g..%.15g%s%s", k->min, k->max, *k->info.unit ? " " : "", k->info.unit);
}

static int parse_int(const struct key_def *k, const char *v, int *out, char *msg, size_t len)
{
	char range[96], sh[80], *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (!*v || isspace((unsigned char)*v) || *end) {
		snprintf(msg, len, "%s is not an integer", shown(v, sh, sizeof(sh)));
		return -EINVAL;
	}
	if (errno == ERANGE || n < k->min || n > k->max) {
		range_text(k, range, sizeof(range));
		snprintf(msg, len, "%.60s is out of range %s", v, range);
		return -ERANGE;
	}
	*out = (int)n;
	return 0;
}

static int parse_double(const struct key_def *k, const char *v, double *out, char *msg,
			size_t len)
{
	char range[96], sh[80], *end;
	double d;

	d = strtod(v, &end);
	if (!*v || isspace((unsigned char)*v) || *end) {
		snprintf(msg, len, "%s is not a number", shown(v, sh, sizeof(sh)));
		return -EINVAL;
	}
	if (!isfinite(d)) {
		snprintf(msg, len, "%s is not a finite number", shown(v, sh, sizeof(sh)));
		return -EINVAL;
	}
	if (d < k->min || d > k->max) {
		range_text(k, range, sizeof(range));
		snprintf(msg, len, "%.60s is out of range %s", v, range);
		return -ERANGE;
	}
	*out = d;
	return 0;
}

static int parse_bool(const char *v, bool *out, char *msg, size_t len)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	char sh[80];

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(v, no[i])) {
			*out = false;
			return 0;
		}
	}
	snprintf(msg, len, "%s is not a boolean (true/false, yes/no, on/off, 1/0)",
		 shown(v, sh, sizeof(sh)));
	return -EINVAL;
}

static int parse_choice(const struct key_def *k, const char *v, int *out, char *msg, size_t len)
{
	char sh[80];
	size_t used;
	int n;

	for (int i = 0; k->choices[i]; i++) {
		if (!strcasecmp(v, k->choices[i])) {
			*out = i;
			return 0;
		}
	}
	n = snprintf(msg, len, "%s is not one of ", shown(v, sh, sizeof(sh)));
	used = n < 0 ? 0 : (size_t)n;
	for (int i = 0; k->choices[i] && used < len; i++) {
		n = snprintf(msg + used, len - used, "%s%s", i ? ", " : "", k->choices[i]);
		used += n < 0 ? 0 : (size_t)n;
	}
	return -EINVAL;
}

static int parse_string(const struct key_def *k, const char *v, char *out, char *msg, size_t len)
{
	size_t n = strlen(v);

	if (n >= k->size) {
		snprintf(msg, len, "value is too long (%zu characters, at most %zu)", n,
			 k->size - 1);
		return -EINVAL;
	}
	if (!n && (k->flags & KEY_NONEMPTY)) {
		snprintf(msg, len, "value must not be empty");
		return -EINVAL;
	}
	if (n && (k->flags & KEY_HASH) && (v[0] != '$' ||
					  strspn(v, "$./=0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
						 "abcdefghijklmnopqrstuvwxyz") != n)) {
		snprintf(msg, len, "not a crypt(3) password hash: set it with airmixctl passwd");
		return -EINVAL;
	}
	memcpy(out, v, n + 1);
	return 0;
}

/* Control thread: parse text into the key's field of cfg; msg says what is
 * wrong otherwise. Surrounding double quotes are dropped. */
static int set_value(const struct key_def *k, struct airmix_config *cfg, const char *text,
		     char *msg, size_t len)
{
	size_t n = strlen(text);
	char *v;
	int rc, idx;

	v = malloc(n + 1);
	if (!v) {
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	if (n >= 2 && text[0] == '"' && text[n - 1] == '"') {
		memcpy(v, text + 1, n - 2);
		v[n - 2] = '\0';
	} else {
		memcpy(v, text, n + 1);
	}
	switch (k->kind) {
	case KIND_INT:
		rc = parse_int(k, v, field(cfg, k), msg, len);
		break;
	case KIND_DOUBLE:
		rc = parse_double(k, v, field(cfg, k), msg, len);
		break;
	case KIND_BOOL:
		rc = parse_bool(v, field(cfg, k), msg, len);
		break;
	case KIND_STRING:
		rc = parse_string(k, v, field(cfg, k), msg, len);
		break;
	case KIND_ENUM_INT:
		rc = parse_choice(k, v, field(cfg, k), msg, len);
		break;
	case KIND_ENUM_STR:
		rc = parse_choice(k, v, &idx, msg, len);
		if (!rc)
			snprintf(field(cfg, k), k->size, "%s", k->choices[idx]);
		break;
	default:
		snprintf(msg, len, "unsupported key type");
		rc = -EINVAL;
	}
	free(v);
	return rc;
}

static bool values_equal(const struct key_def *k, const struct airmix_config *a,
			 const struct airmix_config *b)
{
	switch (k->kind) {
	case KIND_INT:
	case KIND_ENUM_INT:
		return *(const int *)cfield(a, k) == *(const int *)cfield(b, k);
	case KIND_DOUBLE:
		return *(const double *)cfield(a, k) == *(const double *)cfield(b, k);
	case KIND_BOOL:
		return *(const bool *)cfield(a, k) == *(const bool *)cfield(b, k);
	case KIND_STRING:
	case KIND_ENUM_STR:
		return !strncmp(cfield(a, k), cfield(b, k), k->size);
	}
	return false;
}

/* ---- checks that involve more than one key or more than the key's type */

bool config_is_loopback(const char *addr)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (!strcasecmp(addr, "localhost"))
		return true;
	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

static bool is_address(const char *addr)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return !strcasecmp(addr, "localhost") || inet_pton(AF_INET, addr, buf) == 1 ||
	       inet_pton(AF_INET6, addr, buf) == 1;
}

/* Comma-separated IPv4 or IPv6 literals (localhost is not one: ICE needs
 * the address itself). */
static bool address_list_ok(const char *list, char *msg, size_t len)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char copy[CONFIG_STR_MAX], *save = NULL;

	snprintf(copy, sizeof(copy), "%s", list);
	for (char *a = strtok_r(copy, ", ", &save); a; a = strtok_r(NULL, ", ", &save)) {
		if (inet_pton(AF_INET, a, buf) != 1 && inet_pton(AF_INET6, a, buf) != 1) {
			snprintf(msg, len, "\"%.64s\" is not an IPv4 or IPv6 address: list "
				 "addresses, comma-separated", a);
			return false;
		}
	}
	return true;
}

/* stun://host:port, or with credentials turn(s)://user:pass@host:port; the
 * port 1..65535, nothing after it. */
static bool server_url_ok(const char *url, bool turn)
{
	const char *rest = NULL, *at, *colon;
	char *end;
	long port;

	if (!turn && !strncmp(url, "stun://", 7))
		rest = url + 7;
	else if (turn && !strncmp(url, "turn://", 7))
		rest = url + 7;
	else if (turn && !strncmp(url, "turns://", 8))
		rest = url + 8;
	if (!rest)
		return false;
	at = strrchr(rest, '@');
	if (turn != (at != NULL))
		return false;
	if (at) {
		colon = strchr(rest, ':');
		if (!colon || colon > at || colon == rest || colon + 1 == at)
			return false;	/* user:password */
		rest = at + 1;
	}
	colon = strrchr(rest, ':');
	if (!colon || colon == rest)
		return false;
	port = strtol(colon + 1, &end, 10);
	return *end == '\0' && end != colon + 1 && port >= 1 && port <= 65535;
}

/* The key of the pair a, b that was set later (0 lines: config_set()), or
 * NULL when neither was set here or either was refused already. */
static const struct key_def *later_key(const struct parse *p, const char *section,
				       const char *a, const char *b)
{
	const struct key_def *ka = find_key(section, a), *kb = find_key(section, b);
	size_t ia = (size_t)(ka - keys), ib = (size_t)(kb - keys);

	if (p->key_bad[ia] || p->key_bad[ib] || (!p->key_line[ia] && !p->key_line[ib]))
		return NULL;
	return p->key_line[ib] > p->key_line[ia] ? kb : ka;
}

static void cross_error(struct parse *p, const struct key_def *k, const char *msg)
{
	add_error(p, p->file ? p->key_line[k - keys] : 0, k->info.key, "%s", msg);
}

/* Control thread: checks run on the whole candidate after parsing. Each is
 * reported at the later of the keys involved. */
static void cross_checks(struct parse *p)
{
	const struct airmix_config *c = &p->cfg;
	const struct key_def *k;
	char msg[CONFIG_STR_MAX + 64], sh[80];
	bool listen_ok = true;

	k = later_key(p, "engine", "period_frames", "max_period_frames");
	if (k && c->period_frames > c->max_period_frames) {
		snprintf(msg, sizeof(msg),
			 "period_frames (%d) must not be larger than max_period_frames (%d)",
			 c->period_frames, c->max_period_frames);
		cross_error(p, k, msg);
	}
	k = later_key(p, "rtc", "app_id", "app_id");
	if (k && c->rtc_app_id[0] && strlen(c->rtc_app_id) != 24) {
		snprintf(msg, sizeof(msg), "\"%.40s\" is %zu characters: an app id has 24 (empty "
			 "refuses joins)", c->rtc_app_id, strlen(c->rtc_app_id));
		cross_error(p, k, msg);
	}
	k = later_key(p, "webrtc", "interfaces", "interfaces");
	if (k && !address_list_ok(c->webrtc_interfaces, msg, sizeof(msg)))
		cross_error(p, k, msg);
	k = later_key(p, "webrtc", "stun_server", "stun_server");
	if (k && c->webrtc_stun_server[0] && !server_url_ok(c->webrtc_stun_server, false))
		cross_error(p, k, "a STUN server is stun://host:port");
	k = later_key(p, "webrtc", "turn_server", "turn_server");
	if (k && c->webrtc_turn_server[0] && !server_url_ok(c->webrtc_turn_server, true))
		cross_error(p, k, "a TURN server is turn://user:password@host:port or "
			    "turns://user:password@host:port");
	k = later_key(p, "http", "listen", "listen");
	if (k && !is_address(c->http_listen)) {
		snprintf(msg, sizeof(msg),
			 "%s is not an IPv4 or IPv6 address or localhost",
			 shown(c->http_listen, sh, sizeof(sh)));
		cross_error(p, k, msg);
		listen_ok = false;
	}
	k = later_key(p, "http", "listen", "admin_password_hash");
	if (k && listen_ok && !config_is_loopback(c->http_listen) && !c->http_admin_hash[0])
		cross_error(p, k, "admin_password_hash is required when listen is not a loopback "
			    "address: set it with airmixctl passwd");
	k = later_key(p, "http", "tls_cert", "tls_key");
	if (k && !c->http_tls_cert[0] != !c->http_tls_key[0])
		cross_error(p, k, "tls_cert and tls_key go together: set both or neither");
}

/* ---- the file */

static void set_key(struct parse *p, const char *section, const char *name, const char *value)
{
	const struct key_def *k;
	char msg[CONFIG_STR_MAX];
	size_t i;

	if (p->skip_keys)
		return;		/* read_line() reported the header */
	if (!*name) {
		add_error(p, p->line, NULL, "syntax error: key name missing before \"=\"");
		return;
	}
	if (!*section) {
		add_error(p, p->line, name, "key appears before any [section]");
		return;
	}
	k = find_key(section, name);
	if (!k) {
		add_error(p, p->line, name, "unknown key \"%s\" in [%s]", name, section);
		return;
	}
	i = (size_t)(k - keys);
	if (p->key_line[i]) {
		add_error(p, p->line, name, "duplicate key, first set on line %d",
			  p->key_line[i]);
		return;
	}
	p->key_line[i] = p->line;
	if (set_value(k, &p->cfg, value ? value : "", msg, sizeof(msg)) < 0) {
		p->key_bad[i] = true;
		add_error(p, p->line, name, "%s", msg);
	}
}

/* inih handler: always returns 1, problems are collected in p->errs. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
	set_key(user, section, name, value);
	return 1;
}

/* Where a key line's key ends: at '=' or ':', or NULL when it has neither
 * before an inline comment (" ;"), as inih sees it. */
static const char *key_end(const char *s)
{
	for (const char *c = s; *c; c++) {
		if (*c == '=' || *c == ':')
			return c;
		if (*c == ';' && c > s && isspace((unsigned char)c[-1]))
			return NULL;
	}
	return NULL;
}

/* A section header: report a missing ']' or an unknown section here, once,
 * and skip the keys that follow it. A known one is kept in p->header for inih
 * without what follows the ']'. */
static bool check_section(struct parse *p, const char *s)
{
	const char *close = strchr(s, ']'), *open = s + 1;
	char name[128];

	p->skip_keys = true;
	if (!close) {
		add_error(p, p->line, NULL, "syntax error: \"]\" missing in section header");
		return false;
	}
	while (open < close && isspace((unsigned char)*open))
		open++;
	while (close > open && isspace((unsigned char)close[-1]))
		close--;
	snprintf(name, sizeof(name), "%.*s", (int)(close - open), open);
	if (!section_known(name)) {
		add_error(p, p->line, NULL, "unknown section [%s]", name);
		return false;
	}
	p->skip_keys = false;
	snprintf(p->header, sizeof(p->header), "[%s]", name);
	return true;
}

/* A key line that does not fit inih's buffer: an error, with the key. */
static void long_line(struct parse *p, const char *s, size_t n, size_t most)
{
	const char *end = key_end(s);
	char key[64];
	size_t klen;

	if (!end) {
		add_error(p, p->line, NULL, "syntax error: line is too long (%zu characters, "
			  "at most %zu)", n, most);
		return;
	}
	klen = (size_t)(end - s);
	while (klen && isspace((unsigned char)s[klen - 1]))
		klen--;
	snprintf(key, sizeof(key), "%.*s", (int)klen, s);
	add_error(p, p->line, key, "line is too long (%zu characters, at most %zu)", n, most);
}

/* inih reader: one physical line per call, counted, leading blanks and the
 * line end stripped, "\n" appended. A line inih must not see is handed over
 * empty after its problem is reported. Control thread. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	size_t most = num > 2 ? (size_t)num - 2 : 0;	/* room for "\n\0" */
	const char *s;
	ssize_t got;
	size_t n;

	got = getline(&p->buf, &p->buf_cap, p->file);
	if (got < 0)
		return NULL;
	p->line++;
	n = strlen(p->buf);
	while (n && (p->buf[n - 1] == '\n' || p->buf[n - 1] == '\r'))
		p->buf[--n] = '\0';
	s = p->buf;
	if (p->line == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
		s += 3;
	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);

	if (!*s || *s == '#' || *s == ';') {
		/* a comment is cut below: its end means nothing */
	} else if (*s == '[') {
		s = check_section(p, s) ? p->header : "";
		n = strlen(s);
	} else if (n > most) {
		long_line(p, s, n, most);
		n = 0;
	} else if (!key_end(s)) {
		add_error(p, p->line, NULL,
			  "syntax error: expected \"key = value\", \"[section]\" or a comment");
		n = 0;
	}
	if (num < 2)
		return NULL;
	n = n > most ? most : n;
	memcpy(str, s, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

/* ---- public */

/* Any non-RT thread: every key's default, parsed from the table's text. */
void config_defaults(struct airmix_config *cfg)
{
	char msg[CONFIG_STR_MAX];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < KEY_COUNT; i++)
		(void)set_value(&keys[i], cfg, keys[i].info.def, msg, sizeof(msg));
}

/* errs describes one call: reset at its start. */
static void errors_reset(struct config_errors *errs)
{
	errs->count = 0;
	errs->items[0].text[0] = '\0';
}

/* Control thread: parse path into a candidate built from the defaults; the
 * caller's cfg is replaced only when the whole file is valid. */
int config_load(const char *path, struct airmix_config *cfg, struct config_errors *errs)
{
	struct config_errors own;
	struct parse *p;
	int rc;

	if (!errs)
		errs = &own;
	errors_reset(errs);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->where = path;
	p->errs = errs;
	config_defaults(&p->cfg);
	p->file = fopen(path, "r");
	if (!p->file) {
		rc = -errno;
		add_error(p, 0, NULL, "cannot open: %s", strerror(-rc));
		goto out_free_parse;
	}
	rc = ini_parse_stream(read_line, p, on_key, p);
	if (rc == -2) {
		rc = -ENOMEM;
		add_error(p, 0, NULL, "out of memory");
		goto out_close_file;
	}
	if (rc > 0)	/* a syntax error read_line() did not foresee */
		add_error(p, rc, NULL, "syntax error");
	if (ferror(p->file)) {
		rc = -EIO;
		add_error(p, 0, NULL, "cannot read: %s", strerror(errno));
		goto out_close_file;
	}
	cross_checks(p);
	sort_errors(p);
	rc = errs->count ? -EINVAL : 0;
	if (!rc) {
		snprintf(p->cfg.source_path, sizeof(p->cfg.source_path), "%s", path);
		*cfg = p->cfg;
	}
out_close_file:
	fclose(p->file);
	free(p->buf);
out_free_parse:
	free(p);
	return rc;
}

/* Control thread: one key, validated as in a file (cross checks included)
 * on a copy; -ENOENT for an unknown key, -EINVAL for a bad value. */
int config_set(struct airmix_config *cfg, const char *section, const char *key,
	       const char *value, const char *where, struct config_errors *errs)
{
	struct config_errors own;
	const struct key_def *k;
	char msg[CONFIG_STR_MAX];
	struct parse *p;
	size_t i;
	int rc;

	if (!errs)
		errs = &own;
	errors_reset(errs);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->where = where ? where : "config";
	p->errs = errs;
	p->cfg = *cfg;
	k = find_key(section ? section : "", key ? key : "");
	if (!k) {
		add_error(p, 0, key ? key : "", "unknown key \"%s\" in [%s]", key ? key : "",
			  section ? section : "");
		rc = -ENOENT;
		goto out_free_parse;
	}
	i = (size_t)(k - keys);
	p->key_line[i] = 1;
	rc = set_value(k, &p->cfg, value ? value : "", msg, sizeof(msg));
	if (rc < 0) {
		p->key_bad[i] = true;
		add_error(p, 0, key, "%s", msg);
		rc = rc == -ENOMEM ? rc : -EINVAL;
		goto out_free_parse;
	}
	cross_checks(p);
	rc = errs->count ? -EINVAL : 0;
	if (!rc)
		*cfg = p->cfg;
out_free_parse:
	free(p);
	return rc;
}

static void resolve_one(char *dst, size_t len, const char *dir, const char *leaf)
{
	size_t n = strlen(dir);

	if (dst[0])
		return;
	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (snprintf(dst, len, "%.*s/%s", (int)n, dir, leaf) >= (int)len)
		dst[0] = '\0';	/* cannot happen: data_dir leaves room */
}

/* Any non-RT thread, on its own copy. */
void config_resolve_paths(struct airmix_config *cfg)
{
	resolve_one(cfg->media_dir, sizeof(cfg->media_dir), cfg->data_dir, "media");
	resolve_one(cfg->recordings_dir, sizeof(cfg->recordings_dir), cfg->data_dir,
		    "recordings");
	resolve_one(cfg->history_db, sizeof(cfg->history_db), cfg->data_dir, "history.db");
}

/* Any non-RT thread: non-live keys whose values differ, as section.key. */
int config_restart_needed(const struct airmix_config *a, const struct airmix_config *b,
			  char *buf, size_t len)
{
	size_t used = 0;
	int count = 0, n;

	if (buf && len)
		buf[0] = '\0';
	for (size_t i = 0; i < KEY_COUNT; i++) {
		if (keys[i].info.live || values_equal(&keys[i], a, b))
			continue;
		if (buf && used < len) {
			n = snprintf(buf + used, len - used, "%s%s.%s", count ? ", " : "",
				     keys[i].info.section, keys[i].info.key);
			used += n < 0 ? 0 : (size_t)n;
		}
		count++;
	}
	return count;
}

/* Any thread. */
const char *config_backend_name(int backend)
{
	return choice_at(backend_choices, backend);
}

/* Any thread: the table is constant. */
size_t config_key_count(void)
{
	return KEY_COUNT;
}

const struct config_key_info *config_key_at(size_t index)
{
	return index < KEY_COUNT ? &keys[index].info : NULL;
}

/* Any thread: the range of a number key, the choices of an enum, and
 * whether the value is a secret. */
int config_key_limits(size_t index, double *min, double *max, const char *const **choices,
		      bool *secret)
{
	if (index >= KEY_COUNT)
		return -ENOENT;
	*min = keys[index].min;
	*max = keys[index].max;
	*choices = keys[index].choices;
	*secret = keys[index].flags & KEY_SECRET;
	return 0;
}

/* The shortest %g text that reads back as the same double. */
static int format_double(double d, char *buf, size_t len)
{
	int n = 0;

	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, len, "%.*g", prec, d);
		if (n < 0 || (size_t)n >= len || strtod(buf, NULL) == d)
			break;
	}
	return n;
}

/* Any non-RT thread: the value as text a file or config_set() accepts. */
int config_get_text(const struct airmix_config *cfg, const char *section, const char *key,
		    char *buf, size_t len)
{
	const struct key_def *k = find_key(section ? section : "", key ? key : "");
	const void *v;
	int n;

	if (!k)
		return -ENOENT;
	v = cfield(cfg, k);
	switch (k->kind) {
	case KIND_INT:
		n = snprintf(buf, len, "%d", *(const int *)v);
		break;
	case KIND_DOUBLE:
		n = format_double(*(const double *)v, buf, len);
		break;
	case KIND_BOOL:
		n = snprintf(buf, len, "%s", *(const bool *)v ? "true" : "false");
		break;
	case KIND_ENUM_INT:
		n = snprintf(buf, len, "%s", choice_at(k->choices, *(const int *)v));
		break;
	default:
		n = snprintf(buf, len, "%.*s", (int)k->size, (const char *)v);
	}
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}
