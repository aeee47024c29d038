/* main.c - airmixd, the daemon: command line, configuration, start-up order,
 * signals, and a clean stop.
 *
 * DESIGN
 * Signals are blocked in every thread (the mask is set before any thread is
 * created) and taken synchronously by the main thread with sigwait():
 * SIGTERM and SIGINT stop, SIGHUP reloads the configuration file and applies
 * what can change live. Start-up order: configuration, data folders, history,
 * engine and clock, web admin, then READY=1 to systemd. Stop in reverse.
 *
 * Threads: the main thread only; it creates the others through the
 * subsystems it starts.
 */
#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "engine.h"
#include "history.h"
#include "log.h"
#include "mixing.h"
#include "recorder/push.h"
#include "recorder/recorder.h"
#include "engine/rtc/media.h"
#include "engine/rtc/forward.h"
#include "engine/rtc/rooms.h"
#include "web-admin/server.h"

struct options {
	const char *config_path;
	const char *data_dir;
	const char *backend;
	const char *check_path;
	const char *log_level;
};

static void usage(FILE *to)
{
	fprintf(to,
		"usage: airmixd [options]\n"
		"\n"
		"  -c, --config FILE        configuration file (default: built-in defaults)\n"
		"  -d, --data-dir DIR       history database, media and recordings (overrides [paths] data_dir)\n"
		"  -b, --backend NAME       auto, jack, alsa, internal or offline (overrides [engine] backend)\n"
		"  -l, --log-level LEVEL    error, warning, info or debug (overrides [log] level)\n"
		"      --check-config FILE  validate FILE, print every problem as file:line: key: message, exit\n"
		"  -V, --version            print the version and exit\n"
		"  -h, --help               print this help and exit\n"
		"\n"
		"Signals: SIGTERM/SIGINT stop cleanly, SIGHUP reloads the configuration file.\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "backend", required_argument, NULL, 'b' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "check-config", required_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:d:b:l:Vh", longs, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config_path = optarg;
			break;
		case 'd':
			o->data_dir = optarg;
			break;
		case 'b':
			o->backend = optarg;
			break;
		case 'l':
			o->log_level = optarg;
			break;
		case 'C':
			o->check_path = optarg;
			break;
		case 'V':
			printf("airmixd %s\n", AIRMIX_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "airmixd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

static void print_errors(const struct config_errors *errs)
{
	int shown = errs->count < 32 ? errs->count : 32;

	for (int i = 0; i < shown; i++)
		fprintf(stderr, "%s\n", errs->items[i].text);
	if (errs->count > shown)
		fprintf(stderr, "... and %d more\n", errs->count - shown);
}

static int apply_overrides(const struct options *o, struct airmix_config *cfg,
			   struct config_errors *errs)
{
	int ret = 0;

	if (o->backend)
		ret = config_set(cfg, "engine", "backend", o->backend, "--backend", errs);
	if (ret == 0 && o->data_dir)
		ret = config_set(cfg, "paths", "data_dir", o->data_dir, "--data-dir", errs);
	if (ret == 0 && o->log_level)
		ret = config_set(cfg, "log", "level", o->log_level, "--log-level", errs);
	return ret;
}

/* Load the file (if any) over the defaults, then the command-line overrides. */
static int load_config(const struct options *o, struct airmix_config *cfg,
		       struct config_errors *errs)
{
	int ret = 0;

	config_defaults(cfg);
	if (o->config_path)
		ret = config_load(o->config_path, cfg, errs);
	if (ret == 0)
		ret = apply_overrides(o, cfg, errs);
	if (ret == 0)
		config_resolve_paths(cfg);
	return ret;
}


static int make_dir(const char *path)
{
	char buf[CONFIG_STR_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0750) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0750) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int make_dirs(const struct airmix_config *cfg)
{
	const char *dirs[] = { cfg->data_dir, cfg->media_dir, cfg->recordings_dir };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		int ret = make_dir(dirs[i]);

		if (ret < 0) {
			log_msg(LOG_ERROR, "cannot create %s: %s", dirs[i], strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int check_config(const char *path)
{
	struct airmix_config cfg;
	struct config_errors errs = { .count = 0 };

	config_defaults(&cfg);
	if (config_load(path, &cfg, &errs) < 0) {
		print_errors(&errs);
		return 1;
	}
	printf("%s: ok\n", path);
	return 0;
}

static void reload(struct engine *e, const struct options *o)
{
	struct airmix_config cfg;
	struct config_errors errs = { .count = 0 };
	char restart[512];
	int n;

	if (!o->config_path) {
		log_msg(LOG_INFO, "SIGHUP: no configuration file to reload");
		return;
	}
	if (load_config(o, &cfg, &errs) < 0) {
		engine_report(e, AIRMIX_DOMAIN_CONFIG, CONFIG_RELOAD_REJECTED, o->config_path, NULL,
			      "reload of %s refused, keeping the running configuration: %s",
			      o->config_path, errs.count ? errs.items[0].text : "unreadable");
		return;
	}
	n = config_restart_needed(engine_config(e), &cfg, restart, sizeof(restart));
	engine_apply_config(e, &cfg);
	if (n > 0)
		engine_report(e, AIRMIX_DOMAIN_CONFIG, CONFIG_NEEDS_RESTART, o->config_path, NULL,
			      "changed keys need a restart to take effect: %s", restart);
}

static void wait_for_signals(struct engine *e, const struct options *o, const sigset_t *set)
{
	for (;;) {
		int sig = 0;

		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			sd_notify(0, "RELOADING=1");
			reload(e, o);
			sd_notify(0, "READY=1");
			continue;
		}
		log_msg(LOG_INFO, "%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
		sd_notify(0, "STOPPING=1");
		return;
	}
}

static struct mixing *start_mixing(struct engine *e, const struct airmix_config *cfg)
{
	struct mixing_config mc = {
		.max_ids = (uint32_t)cfg->mixing_max_ids,
		.stream_ahead_ms = (uint32_t)cfg->mixing_stream_ahead_ms,
		.preload_max_s = 20.0,
		.media_dirs = { cfg->media_dir, NULL },
	};
	struct mixing *m = NULL;

	if (mixing_create(e, &mc, &m) < 0)
		return NULL;
	engine_set_mixing(e, m);
	return m;
}

static struct recorder *start_recorder(struct engine *e, const struct airmix_config *cfg)
{
	struct recorder_config rc = {
		.dir = cfg->recordings_dir,
		.name_template = cfg->recorder_name_template,
		.header_interval_ms = (uint32_t)cfg->recorder_header_interval_ms,
		.ring_ms = (uint32_t)cfg->recorder_ring_ms,
		.warn_free_mb = (uint64_t)cfg->recorder_warn_free_mb,
		.min_free_mb = (uint64_t)cfg->recorder_min_free_mb,
	};
	struct recorder *r = NULL;

	if (recorder_create(e, &rc, &r) < 0)
		return NULL;
	engine_set_recorder(e, r);
	return r;
}

static struct push *start_push(struct engine *e, const struct airmix_config *cfg)
{
	struct push_config pc = {
		.max_tasks = (uint32_t)cfg->push_max_tasks,
		.ring_ms = (uint32_t)cfg->push_ring_ms,
		.timeout_ms = (uint32_t)cfg->push_timeout_ms,
		.backoff_min_ms = (uint32_t)cfg->push_backoff_min_ms,
		.backoff_max_ms = (uint32_t)cfg->push_backoff_max_ms,
		.probe_ms = (uint32_t)cfg->push_probe_ms,
	};
	struct push *p = NULL;

	if (push_create(e, &pc, &p) < 0)
		return NULL;
	engine_set_push(e, p);
	return p;
}

/* The rooms manager, over the remote-track media layer. */
static struct rooms *start_rooms(struct engine *e, const struct airmix_config *cfg, char *err,
				 size_t errlen)
{
	struct rooms_config rc = {
		.auto_create = cfg->rtc_auto_create_rooms,
		.max_users = (uint32_t)cfg->rtc_max_users,
		.max_streams = (uint32_t)cfg->rtc_max_streams,
		.signalling_timeout_ms = (uint32_t)cfg->rtc_signalling_timeout_ms,
		.token_warning_s = (uint32_t)cfg->rtc_token_warning_s,
	};
	struct rooms *r = NULL;

	snprintf(rc.app_id, sizeof(rc.app_id), "%.24s", cfg->rtc_app_id);
	snprintf(rc.app_key, sizeof(rc.app_key), "%s", cfg->rtc_app_key);
	rc.webrtc_enabled = cfg->webrtc_enabled;
	rc.webrtc.mono_return = cfg->rtp_return_channels == 1;
	snprintf(rc.webrtc.interfaces, sizeof(rc.webrtc.interfaces), "%s", cfg->webrtc_interfaces);
	snprintf(rc.webrtc.stun_server, sizeof(rc.webrtc.stun_server), "%s",
		 cfg->webrtc_stun_server);
	snprintf(rc.webrtc.turn_server, sizeof(rc.webrtc.turn_server), "%s",
		 cfg->webrtc_turn_server);
	if (rooms_create(e, engine_rtc_media(e), &rc, &r, err, errlen) < 0)
		return NULL;
	engine_set_rooms(e, r);
	return r;
}

/* The cross-room forwarder: its targets on this daemon reach /rtc of the
 * admin server on the loopback when it listens on every address. */
static struct forward *start_forward(struct engine *e, const struct airmix_config *cfg,
				     char *err, size_t errlen)
{
	struct forward_config fc = {
		.enabled = cfg->rtc_forward_enabled,
		.backoff_min_ms = 250,
		.backoff_max_ms = (uint32_t)cfg->rtc_forward_backoff_max_ms,
		.timeout_ms = (uint32_t)cfg->rtc_forward_timeout_ms,
		.self_port = (uint16_t)cfg->http_port,
	};
	struct forward *f = NULL;
	bool any = !strcmp(cfg->http_listen, "0.0.0.0") || !strcmp(cfg->http_listen, "::");

	snprintf(fc.self_host, sizeof(fc.self_host), "%.*s", FORWARD_HOST_MAX,
		 any ? "127.0.0.1" : cfg->http_listen);
	fc.self_tls = cfg->http_tls_cert[0] != '\0';
	snprintf(fc.ca_file, sizeof(fc.ca_file), "%s", cfg->rtc_forward_ca_file);
	if (forward_create(e, engine_rtc_media(e), &fc, &f, err, errlen) < 0)
		return NULL;
	engine_set_forward(e, f);
	return f;
}

static struct history *open_history(const struct airmix_config *cfg)
{
	struct history_config hc = {
		.path = cfg->history_db,
		.max_rows = cfg->history_max_rows,
		.max_age_s = (int64_t)cfg->history_max_age_days * 86400,
		.queue_rows = (uint32_t)cfg->history_queue_rows,
		.flush_ms = (uint32_t)cfg->history_flush_ms,
	};
	struct history *h = NULL;
	struct history_status st;

	if (history_open(&hc, &h) < 0)
		return NULL;
	history_get_status(h, &st);
	if (st.last_error[0])
		log_msg(LOG_ERROR, "%s", st.last_error);
	return h;
}

/* OpenSSL frees its global state (the shared random generator among it) in
 * an atexit handler by default. GStreamer's pool threads (browser guests'
 * DTLS) are not ours to join and may still hold per-thread generators then:
 * one that ends after that cleanup skips its own and leaves both behind, or
 * uses what was freed. So OpenSSL stays up until the process is gone. Must
 * run before anything else initialises OpenSSL. */
static void keep_openssl_until_exit(void)
{
	if (!OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL))
		log_msg(LOG_WARNING, "OpenSSL did not initialise; TLS and tokens will fail");
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct config_errors errs = { .count = 0 };
	struct airmix_config cfg;
	struct history *hist;
	struct engine *e = NULL;
	struct mixing *mixing = NULL;
	struct recorder *recorder = NULL;
	struct push *push = NULL;
	struct rtc_media *media = NULL;
	struct rooms *rooms = NULL;
	struct forward *forward = NULL;
	struct web_admin *web = NULL;
	struct engine_status st;
	char err[512] = "";
	sigset_t set;
	int status = 1;

	keep_openssl_until_exit();
	if (parse_args(argc, argv, &o) < 0)
		return 64;
	if (o.check_path)
		return check_config(o.check_path);
	if (load_config(&o, &cfg, &errs) < 0) {
		print_errors(&errs);
		return 1;
	}
	log_set_level_name(cfg.log_level);
	if (make_dirs(&cfg) < 0)
		return 1;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	hist = open_history(&cfg);
	if (!hist) {
		log_msg(LOG_ERROR, "cannot start the history: out of memory");
		return 1;
	}
	if (engine_create(&cfg, NULL, hist, &e, err, sizeof(err)) < 0) {
		log_msg(LOG_ERROR, "cannot create the engine: %s", err);
		goto out_history;
	}
	if (engine_start(e, err, sizeof(err)) < 0) {
		log_msg(LOG_ERROR, "cannot start the engine: %s", err);
		goto out_engine;
	}
	recorder_recover(cfg.recordings_dir, e);
	mixing = start_mixing(e, &cfg);
	if (!mixing) {
		log_msg(LOG_ERROR, "cannot start the mixing manager: out of memory");
		goto out_engine;
	}
	recorder = start_recorder(e, &cfg);
	if (!recorder) {
		log_msg(LOG_ERROR, "cannot start the recorder: out of memory");
		goto out_mixing;
	}
	push = start_push(e, &cfg);
	if (!push) {
		log_msg(LOG_ERROR, "cannot start the push manager: out of memory");
		goto out_recorder;
	}
	if (rtc_media_create(e, &media, err, sizeof(err)) < 0) {
		log_msg(LOG_ERROR, "cannot start the remote tracks: %s", err);
		goto out_push;
	}
	engine_set_rtc_media(e, media);
	rooms = start_rooms(e, &cfg, err, sizeof(err));
	if (!rooms) {
		log_msg(LOG_ERROR, "cannot start the rtc rooms: %s", err);
		goto out_media;
	}
	forward = start_forward(e, &cfg, err, sizeof(err));
	if (!forward) {
		log_msg(LOG_ERROR, "cannot start the forwarder: %s", err);
		goto out_rooms;
	}
	if (web_admin_start(e, &web, err, sizeof(err)) < 0) {
		log_msg(LOG_ERROR, "cannot start the web admin: %s", err);
		goto out_forward;
	}
	engine_get_status(e, &st);
	log_msg(LOG_INFO, "airmixd %s running on the %s clock at %u Hz, %u frames; http://%s:%d/",
		AIRMIX_VERSION, st.clock, st.rate, st.period, cfg.http_listen, cfg.http_port);
	sd_notifyf(0, "READY=1\nSTATUS=%s clock, %u Hz, %u frames", st.clock, st.rate, st.period);
	wait_for_signals(e, &o, &set);
	status = 0;

	web_admin_stop(web);
out_forward:
	engine_set_forward(e, NULL);
	forward_destroy(forward);
out_rooms:
	engine_set_rooms(e, NULL);
	rooms_destroy(rooms);
out_media:
	engine_set_rtc_media(e, NULL);
	rtc_media_destroy(media);
out_push:
	engine_set_push(e, NULL);
	push_destroy(push);
out_recorder:
	engine_set_recorder(e, NULL);
	recorder_destroy(recorder);
out_mixing:
	engine_set_mixing(e, NULL);
	mixing_destroy(mixing);
out_engine:
	engine_destroy(e);
out_history:
	history_close(hist);
	return status;
}
