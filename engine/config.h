/* config.h - airmix.conf: the INI file, its key table, parsing and validation.
 *
 * Every key lives in one static table (config.c) with its type, range, default,
 * unit, whether it can change without a restart, and a one-line description;
 * conf/airmix.conf documents the same keys (tests/unit/test_config.c checks
 * that the two agree). Parsing uses inih; every error is reported as
 * `file:line: key: what is wrong` and a file with any error is refused whole.
 *
 * Threads: the control thread loads and owns a config; readers get a copy.
 */
#ifndef AIRMIX_CONFIG_H
#define AIRMIX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_STR_MAX 512

enum config_backend {
	BACKEND_AUTO,
	BACKEND_JACK,
	BACKEND_ALSA,
	BACKEND_INTERNAL,
	BACKEND_OFFLINE,
};

struct airmix_config {
	/* [engine] */
	int backend;			/* enum config_backend */
	int sample_rate;		/* Hz */
	int period_frames;		/* frames per cycle */
	int max_period_frames;		/* buffers are sized for this */
	int max_nodes;
	int command_ring;		/* records */
	int event_ring;			/* records */
	double limiter_ceiling_db;	/* dBFS */
	double limiter_lookahead_ms;
	double limiter_release_ms;
	double meter_window_ms;
	int rt_priority;		/* SCHED_FIFO priority for our own clock threads */
	bool lock_memory;

	/* [jack] */
	char jack_client_name[CONFIG_STR_MAX];
	char jack_server_name[CONFIG_STR_MAX];
	int jack_inputs;		/* input ports in_1..in_N */
	char jack_connect_outputs[CONFIG_STR_MAX];	/* port regex, "" = none */
	char jack_connect_inputs[CONFIG_STR_MAX];
	int jack_reconnect_ms;

	/* [alsa] */
	char alsa_device[CONFIG_STR_MAX];
	char alsa_capture_device[CONFIG_STR_MAX];	/* "" = no capture */
	int alsa_periods;
	char alsa_format[16];		/* S16_LE, S32_LE, FLOAT_LE */
	int alsa_inputs;		/* capture channels, each an input node */

	/* [tone] line-up tone node created at start-up */
	bool tone_enabled;
	double tone_frequency_hz;
	double tone_level_dbfs;
	char tone_buses[32];		/* publish, playout or both */

	/* [http] */
	char http_listen[CONFIG_STR_MAX];
	int http_port;
	char http_token[CONFIG_STR_MAX];	/* bearer token, "" = none */
	char http_admin_hash[CONFIG_STR_MAX];	/* crypt(3) hash, "" = none */
	char http_operator_hash[CONFIG_STR_MAX];
	int http_session_ttl_s;
	int http_upload_max_mb;
	char http_tls_cert[CONFIG_STR_MAX];	/* "" = plain HTTP */
	char http_tls_key[CONFIG_STR_MAX];
	int http_max_body;		/* bytes */
	int http_max_ws_clients;
	int http_meter_fps;

	/* [paths] */
	char data_dir[CONFIG_STR_MAX];
	char media_dir[CONFIG_STR_MAX];		/* "" = data_dir/media */
	char recordings_dir[CONFIG_STR_MAX];	/* "" = data_dir/recordings */
	char history_db[CONFIG_STR_MAX];	/* "" = data_dir/history.db */

	/* [history] */
	int history_max_rows;
	int history_max_age_days;
	int history_queue_rows;
	int history_flush_ms;

	/* [mixing] */
	int mixing_max_ids;
	int mixing_stream_ahead_ms;

	/* [recorder] */
	int recorder_header_interval_ms;	/* header made valid + fdatasync */
	int recorder_ring_ms;			/* tap ring per track */
	int recorder_warn_free_mb;		/* warning below this */
	int recorder_min_free_mb;		/* takes stop below this */
	char recorder_name_template[CONFIG_STR_MAX];	/* strftime + {track} */

	/* [push] */
	int push_max_tasks;
	int push_ring_ms;			/* tap ring per task */
	int push_timeout_ms;			/* connect, and each send */
	int push_backoff_min_ms;		/* first retry delay */
	int push_backoff_max_ms;		/* retry delays double up to this */
	int push_probe_ms;			/* liveness probe period, 0 = off */

	/* [rtp] */
	char rtp_bind_address[CONFIG_STR_MAX];	/* where track sockets listen */
	int rtp_port_min;			/* one socket per track, even ports */
	int rtp_port_max;
	int rtp_jitter_min_ms;			/* jitter buffer floor */
	int rtp_jitter_max_ms;			/* and ceiling */
	int rtp_drift_max_ppm;			/* largest resampling correction */
	int rtp_return_bitrate_kbps;		/* mix-minus Opus encoder */
	int rtp_return_complexity;
	bool rtp_return_fec;
	int rtp_return_channels;

	/* [rtc] rooms, tokens and signalling */
	char rtc_app_id[CONFIG_STR_MAX];	/* 24 characters, "" = no joins */
	char rtc_app_key[CONFIG_STR_MAX];	/* signs and verifies tokens */
	bool rtc_auto_create_rooms;		/* a first join creates the room */
	int rtc_max_users;			/* visible users per room, <= 50 */
	int rtc_max_streams;			/* published tracks per room, <= 30 */
	int rtc_signalling_timeout_ms;		/* silence before TIME_OUT */
	int rtc_token_warning_s;		/* token_will_expire this long before */
	bool rtc_forward_enabled;		/* cross-room forwarding allowed */
	int rtc_forward_backoff_max_ms;		/* reconnect delays double up to this */
	int rtc_forward_timeout_ms;		/* connect or answer within this */
	char rtc_forward_ca_file[CONFIG_STR_MAX];	/* wss:// targets' CAs; "" = system's */

	/* [webrtc] */
	bool webrtc_enabled;			/* browser guests */
	char webrtc_interfaces[CONFIG_STR_MAX];	/* host candidates: literals, comma-separated */
	char webrtc_stun_server[CONFIG_STR_MAX];	/* stun://host:port */
	char webrtc_turn_server[CONFIG_STR_MAX];	/* turn(s)://user:pass@host:port */

	/* [log] */
	char log_level[16];		/* error, warning, info, debug */

	/* Where this config came from ("" for built-in defaults). */
	char source_path[CONFIG_STR_MAX];
};

/* One problem found while loading: file:line: key: message. */
struct config_error {
	char text[CONFIG_STR_MAX + 128];
};

struct config_errors {
	struct config_error items[32];
	int count;		/* may exceed 32: only the first 32 are kept */
};

/* Defaults for every key. */
void config_defaults(struct airmix_config *cfg);

/* Load and validate path over the defaults. 0 on success; -EINVAL with errs
 * filled when anything is wrong (cfg is then untouched); -errno when the file
 * cannot be read (errs says so). */
int config_load(const char *path, struct airmix_config *cfg, struct config_errors *errs);

/* Set one key from text (command line or API), validated as in a file.
 * where is used as the location prefix in the error ("--backend", "api"). */
int config_set(struct airmix_config *cfg, const char *section, const char *key,
	       const char *value, const char *where, struct config_errors *errs);

/* Fill in derived paths (media, recordings, history db under data_dir). */
void config_resolve_paths(struct airmix_config *cfg);

/* Names of keys that differ between a and b and need a restart to take effect,
 * comma-separated into buf. Returns how many. */
int config_restart_needed(const struct airmix_config *a, const struct airmix_config *b,
			  char *buf, size_t len);

const char *config_backend_name(int backend);

/* True for "localhost" and IPv4/IPv6 loopback literals. */
bool config_is_loopback(const char *addr);

/* Key table, for documentation checks and the settings API. */
struct config_key_info {
	const char *section;
	const char *key;
	const char *type;	/* int, double, bool, string, enum */
	const char *def;	/* default, as text */
	const char *unit;	/* "" when none */
	bool live;		/* can change on SIGHUP / API without restart */
	const char *doc;
};
size_t config_key_count(void);
const struct config_key_info *config_key_at(size_t index);
/* min/max of a number key, choices of an enum (NULL otherwise), and whether
 * the value is a secret (token, password hashes). -ENOENT past the end. */
int config_key_limits(size_t index, double *min, double *max, const char *const **choices,
		      bool *secret);
/* Current value of a key as text. */
int config_get_text(const struct airmix_config *cfg, const char *section, const char *key,
		    char *buf, size_t len);

#endif
