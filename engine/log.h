/* log.h - the daemon's log: one line per message on stderr, which journald
 * collects under systemd (with the <N> priority prefix it understands).
 *
 * Threads: any non-RT thread. Never from the RT thread (DESIGN §3).
 */
#ifndef AIRMIX_LOG_H
#define AIRMIX_LOG_H

enum log_level { LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
/* "error", "warning", "info", "debug"; unknown names leave the level alone. */
void log_set_level_name(const char *name);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
