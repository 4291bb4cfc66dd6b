/* SPDX-License-Identifier: Apache-2.0 */
/* error.c - error codes and reports (see error.h). Pure; thread-safe. */
#include "error.h"

#include <stdio.h>
#include <string.h>

#include "mem.h"

const char *tw_strerror(int code)
{
    switch (code) {
    case TW_OK:
        return "success";
    case TW_EINVAL:
        return "invalid input";
    case TW_EPARSE:
        return "parse error";
    case TW_ELIMIT:
        return "limit exceeded";
    case TW_ENOTFOUND:
        return "not found";
    case TW_ECONFLICT:
        return "conflict";
    case TW_EFORBIDDEN:
        return "forbidden";
    case TW_ETRANSIENT:
        return "temporary failure";
    case TW_EIO:
        return "I/O error";
    case TW_ESTATE:
        return "invalid state";
    case TW_EOUTOFORDER:
        return "out of order sample";
    case TW_EDUPLICATE:
        return "duplicate sample for timestamp";
    case TW_ETOOOLD:
        return "out of bounds";
    case TW_ETIMEOUT:
        return "timed out";
    case TW_ECANCELED:
        return "canceled";
    case TW_EEXEC:
        return "execution failed";
    default:
        break;
    }
    if (code < 0 && code > TW_E_BASE) {
        return strerror(-code);
    }
    return "unknown error";
}

void tw_error_clear(tw_error_t *err)
{
    if (err == NULL) {
        return;
    }
    memset(err, 0, sizeof(*err));
}

__attribute__((format(printf, 6, 0))) static void error_vset(tw_error_t *err, int code,
                                                             const char *file, int line, int col,
                                                             const char *fmt, va_list ap)
{
    err->code = code;
    err->line = line;
    err->col = col;
    tw_strlcpy(err->file, file != NULL ? file : "", sizeof(err->file));
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int tw_error_set(tw_error_t *err, int code, const char *fmt, ...)
{
    if (err == NULL) {
        return code;
    }
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, code, NULL, 0, 0, fmt, ap);
    va_end(ap);
    return code;
}

int tw_error_set_at(tw_error_t *err, int code, const char *file, int line, int col, const char *fmt,
                    ...)
{
    if (err == NULL) {
        return code;
    }
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, code, file, line, col, fmt, ap);
    va_end(ap);
    return code;
}

const char *tw_error_format(const tw_error_t *err, char *out, size_t outsz)
{
    if (outsz == 0) {
        return out;
    }
    out[0] = '\0';
    if (err == NULL) {
        return out;
    }
    const char *msg = err->msg[0] != '\0' ? err->msg : tw_strerror(err->code);
    if (err->file[0] != '\0' && err->line > 0 && err->col > 0) {
        snprintf(out, outsz, "%s:%d:%d: %s", err->file, err->line, err->col, msg);
    } else if (err->file[0] != '\0' && err->line > 0) {
        snprintf(out, outsz, "%s:%d: %s", err->file, err->line, msg);
    } else if (err->file[0] != '\0') {
        snprintf(out, outsz, "%s: %s", err->file, msg);
    } else if (err->line > 0) {
        snprintf(out, outsz, "%d:%d: %s", err->line, err->col, msg);
    } else {
        snprintf(out, outsz, "%s", msg);
    }
    return out;
}
