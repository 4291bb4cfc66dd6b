/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.h - the process logger: logfmt (or JSON) lines on stderr, like Prometheus'.
 *
 *   ts=2026-11-26T06:00:00.123Z level=info component=cgroup msg="collection done" series=412
 *
 * Libraries never log (STYLE.md); loops and daemon/ do. The logger is one of the two pieces of
 * global mutable state the project allows. Thread-safe: each line is written with one write(2).
 * Never pass secrets as values.
 */
#ifndef TW_COMMON_LOG_H
#define TW_COMMON_LOG_H

typedef enum {
    TW_LOG_DEBUG = 0,
    TW_LOG_INFO = 1,
    TW_LOG_WARN = 2,
    TW_LOG_ERROR = 3,
} tw_log_level_t;

typedef enum {
    TW_LOG_FMT_LOGFMT = 0,
    TW_LOG_FMT_JSON = 1,
} tw_log_format_t;

/* Parses "debug", "info", "warn", "error". Returns 0 or TW_EINVAL. */
int tw_log_level_parse(const char *s, tw_log_level_t *out);
/* Parses "logfmt", "json". Returns 0 or TW_EINVAL. */
int tw_log_format_parse(const char *s, tw_log_format_t *out);

/* Sets the minimum level and the output format (defaults: info, logfmt). */
void tw_log_setup(tw_log_level_t min_level, tw_log_format_t format);
/* Redirects output to fd (default 2). For tests. */
void tw_log_set_fd(int fd);
/* Whether a line at lvl would be written. */
int tw_log_enabled(tw_log_level_t lvl);

/*
 * Writes one line. The variadic part is pairs of `const char *key, const char *value`,
 * terminated by a single NULL. Values are quoted and escaped as needed; a NULL value is
 * written as an empty string.
 *
 *   tw_log(TW_LOG_WARN, "cgroup", "read failed", "path", p, "err", tw_strerror(rc), NULL);
 */
void tw_log(tw_log_level_t lvl, const char *component, const char *msg, ...)
    __attribute__((sentinel));

/* Count of lines written at each level since start (for self-metrics). */
unsigned long tw_log_count(tw_log_level_t lvl);

#endif
