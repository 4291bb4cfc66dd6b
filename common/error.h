/* SPDX-License-Identifier: Apache-2.0 */
/*
 * error.h - tidewatch's error codes and the optional error report that parsers, loaders and
 * clients fill in.
 *
 * Every function that can fail returns an int: 0 on success, or a negative code. A negative
 * code above TW_E_BASE is a negated errno value (-ENOENT); the codes below are the project's own.
 * Callers that want a human message pass a tw_error_t; NULL means "I only need the code".
 * Thread model: no shared state; a tw_error_t belongs to the caller.
 */
#ifndef TW_COMMON_ERROR_H
#define TW_COMMON_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/* Project error codes. All negative, below any -errno value. */
enum {
    TW_OK = 0,
    TW_E_BASE = -10000,
    TW_EINVAL = -10001,    /* bad argument or bad input value */
    TW_EPARSE = -10002,    /* syntax error in a parsed input */
    TW_ELIMIT = -10003,    /* a configured size or count limit was hit */
    TW_ENOTFOUND = -10004, /* the named object does not exist */
    TW_ECONFLICT = -10005, /* optimistic concurrency conflict */
    TW_EFORBIDDEN = -10006,
    TW_ETRANSIENT = -10007, /* worth retrying later */
    TW_EIO = -10008,        /* I/O failed; the message says where */
    TW_ESTATE = -10009,     /* operation not valid in the object's current state */
    /* Sample rejections, as Prometheus' storage.ErrOutOfOrderSample and friends. An identical
     * resend (same timestamp and value) is not an error. */
    TW_EOUTOFORDER = -10010, /* older than the series' newest sample and outside the OOO window */
    TW_EDUPLICATE = -10011,  /* same timestamp as a stored sample, different value */
    TW_ETOOOLD = -10012,     /* older than what the head accepts at all */
    TW_ETIMEOUT = -10013,    /* a deadline passed (query timeout, request timeout) */
    TW_ECANCELED = -10014,   /* the caller gave up (shutdown, client gone) */
    TW_EEXEC = -10015,       /* a well-formed request failed while running (PromQL execution) */
};

/*
 * A filled-in error. line and col are 1-based and 0 when not applicable; file is the input's
 * name (a path, a URL, "<stdin>") or empty. msg is always NUL-terminated.
 */
typedef struct tw_error {
    int code;
    int line;
    int col;
    char file[256];
    char msg[512];
} tw_error_t;

/* Returns a static, human-readable name for code (a TW_E* code or a negated errno). */
const char *tw_strerror(int code);

/*
 * Fills err (when not NULL) with code and a printf-style message, clearing file/line/col.
 * Returns code so callers can write `return tw_error_set(err, TW_EINVAL, "...")`.
 */
int tw_error_set(tw_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like tw_error_set, with the input position (file may be NULL). */
int tw_error_set_at(tw_error_t *err, int code, const char *file, int line, int col, const char *fmt,
                    ...) __attribute__((format(printf, 6, 7)));

/* Clears err (no-op for NULL). */
void tw_error_clear(tw_error_t *err);

/*
 * Writes "file:line:col: msg" (parts that are unset are left out) into out (size outsz, always
 * NUL-terminated). Returns out.
 */
const char *tw_error_format(const tw_error_t *err, char *out, size_t outsz);

#endif
