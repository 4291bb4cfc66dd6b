/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api.c - the Prometheus HTTP API v1 on tidewatch's router (see the "HTTP API" section of
 * query.h and docs/http-api.md).
 *
 * Every endpoint is a function from a parameter list to a response, so the same code answers
 * the HTTP routes, the unit tests and `tidewatch query`: the route adapter copies the request's
 * arguments into a tw_query_api_param_t array and calls tw_query_api_serve(). Parameter
 * syntax, the order of checks and every message follow Prometheus' web/api/v1/api.go (3.5 by
 * default, 2.42 where `query.compat: prometheus2` differs), so that a client sees the same
 * first error for the same bad request. Values are rendered like Prometheus' JSON codec:
 * timestamps as seconds with up to three decimals, sample values as strings in Go's shortest
 * 'f' form (exponent form outside [1e-6, 1e21)).
 *
 * Thread model: handlers run on the HTTP pool threads at once; they share only the API object,
 * whose engine options are read under `mu`. Each request allocates its own buffers.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/labels.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "query.h"
#include "query_int.h"

/* Prometheus' minTime/maxTime for optional ranges, in milliseconds (timestamp.FromTime). */
#define API_MIN_TIME_MS ((INT64_MIN / 1000 + 62135596801LL) * 1000)
#define API_MAX_TIME_MS ((INT64_MAX / 1000 - 62135596801LL) * 1000 + 999)
/* Their RFC 3339 spellings, which Prometheus accepts as times although Go cannot parse them. */
#define API_MIN_TIME_STR "-292273086-05-16T16:47:06Z"
#define API_MAX_TIME_STR "292277025-08-18T07:12:54.999999999Z"

/* The most values of a repeated parameter (match[]) taken from one request. */
#define API_MAX_MATCH_SETS 256
/* Annotations shown per response, like Prometheus' AsStrings(query, 10, 10). */
#define API_MAX_ANNOTATIONS 10

struct tw_query_api {
    tw_promql_storage_t storage;
    tw_query_api_build_info_t build; /* strings owned */
    tw_label_t *ext;                 /* external labels, strings owned */
    size_t n_ext;
    void *ctx;
    int64_t (*now_ms)(void *ctx);
    int (*targets)(void *ctx, const char *state, tw_buf_t *out, tw_error_t *err);
    int (*runtime_info)(void *ctx, tw_buf_t *out, tw_error_t *err);
    int (*flags)(void *ctx, tw_buf_t *out, tw_error_t *err);
    int (*config_yaml)(void *ctx, tw_buf_t *out, tw_error_t *err);
    int (*head_stats)(void *ctx, tw_query_api_head_stats_t *out, tw_error_t *err);

    pthread_mutex_t mu;
    tw_promql_engine_options_t engine; /* guarded by mu */
};

/* ---- numbers ------------------------------------------------------------------------------ */

/*
 * The shortest decimal digits that read back as v (finite, non-zero): digits[0..*nd) without
 * trailing zeros and the decimal exponent of the first digit. Returns whether v is negative.
 */
static bool shortest_digits(double v, char *digits, size_t *nd, int *exp10)
{
    return tw_promql_shortest_digits(v, digits, nd, exp10);
}

/* Go's 'e' with precision -1: "1e+22", "1.5e-07" (at least two exponent digits). */
static int format_e(double v, tw_buf_t *out)
{
    char d[32];
    size_t nd;
    int x;
    int rc = 0;
    if (shortest_digits(v, d, &nd, &x)) {
        rc |= tw_buf_putc(out, '-');
    }
    rc |= tw_buf_putc(out, d[0]);
    if (nd > 1) {
        rc |= tw_buf_putc(out, '.');
        rc |= tw_buf_append(out, d + 1, nd - 1);
    }
    rc |= tw_buf_printf(out, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
    return rc;
}

static int format_special(double v, tw_buf_t *out)
{
    if (isnan(v)) {
        return tw_buf_puts(out, "NaN");
    }
    return tw_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
}

int tw_promql_format_value(double v, tw_buf_t *out)
{
    if (!isfinite(v)) {
        return format_special(v, out);
    }
    double a = fabs(v);
    if (a != 0 && (a < 1e-6 || a >= 1e21)) {
        return format_e(v, out);
    }
    return tw_promql_format_float(v, out);
}

int tw_query_api_format_g(double v, tw_buf_t *out)
{
    if (!isfinite(v)) {
        return format_special(v, out);
    }
    if (v == 0) {
        return tw_buf_puts(out, signbit(v) ? "-0" : "0");
    }
    char d[32];
    size_t nd;
    int x;
    (void)shortest_digits(v, d, &nd, &x);
    /* Go: %e when the exponent is < -4 or >= the precision, which is 6 for the shortest
     * form ("1e+06", "1.23456789e+08", "100000"). */
    if (x < -4 || x >= 6) {
        return format_e(v, out);
    }
    return tw_promql_format_float(v, out);
}

int tw_query_api_format_f(double v, tw_buf_t *out)
{
    return tw_promql_format_float(v, out);
}

int tw_query_api_json_float(tw_buf_t *out, double v)
{
    if (!isfinite(v)) {
        return tw_buf_puts(out, "null");
    }
    double a = fabs(v);
    if (a != 0 && (a < 1e-6 || a >= 1e21)) {
        /* encoding/json: 'e' form with "e-07" shortened to "e-7". */
        tw_buf_t t;
        tw_buf_init(&t, 64);
        int rc = format_e(v, &t);
        char *e = rc == 0 ? strchr(t.data, 'e') : NULL;
        if (e != NULL && (e[1] == '-' || e[1] == '+') && e[2] == '0' && e[3] != '\0') {
            memmove(e + 2, e + 3, strlen(e + 3) + 1);
            t.len--;
        }
        if (rc == 0) {
            rc = tw_buf_append(out, t.data, t.len);
        }
        tw_buf_fini(&t);
        return rc;
    }
    return tw_promql_format_float(v, out);
}

/*
 * Prometheus' marshalTimestamp into out (room for 32), returning the length: seconds, then '.'
 * and the milliseconds zero-padded to three digits when there are any ("1.500", "-0.005").
 * Written by hand: this runs for every point of a result.
 */
static size_t timestamp_chars(char *out, int64_t t)
{
    char tmp[32];
    char *end = tmp + sizeof(tmp);
    char *p = end;
    uint64_t u = (uint64_t)t;
    if (t < 0) {
        u = (uint64_t)0 - u;
    }
    unsigned ms = (unsigned)(u % 1000);
    if (ms != 0) {
        *--p = (char)('0' + ms % 10);
        *--p = (char)('0' + ms / 10 % 10);
        *--p = (char)('0' + ms / 100);
        *--p = '.';
    }
    uint64_t sec = u / 1000;
    do {
        *--p = (char)('0' + sec % 10);
        sec /= 10;
    } while (sec != 0);
    if (t < 0) {
        *--p = '-';
    }
    memcpy(out, p, (size_t)(end - p));
    return (size_t)(end - p);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not valid. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80) {
        return 1;
    }
    size_t n;
    unsigned min;
    if ((c & 0xE0) == 0xC0) {
        n = 2, min = 0x80, c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, min = 0x800, c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        return 0;
    }
    return n;
}

int tw_query_api_json_string(tw_buf_t *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    int rc = tw_buf_putc(out, '"');
    while (*p != '\0') {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            rc |= tw_buf_putc(out, '\\');
            rc |= tw_buf_putc(out, (char)c);
            p++;
        } else if (c == '\n') {
            rc |= tw_buf_puts(out, "\\n");
            p++;
        } else if (c == '\r') {
            rc |= tw_buf_puts(out, "\\r");
            p++;
        } else if (c == '\t') {
            rc |= tw_buf_puts(out, "\\t");
            p++;
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            rc |= tw_buf_puts(out, u);
            p++;
        } else if (c < 0x80) {
            rc |= tw_buf_putc(out, (char)c);
            p++;
        } else {
            size_t n = utf8_len(p);
            if (n == 0) {
                rc |= tw_buf_puts(out, "\\ufffd");
                p++;
            } else if (n == 3 && p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) {
                rc |= tw_buf_puts(out, p[2] == 0xA8 ? "\\u2028" : "\\u2029");
                p += 3;
            } else {
                rc |= tw_buf_append(out, p, n);
                p += n;
            }
        }
    }
    rc |= tw_buf_putc(out, '"');
    return rc;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int tw_query_api_json_time(tw_buf_t *out, int64_t t_ms)
{
    int64_t days = floor_div(t_ms, 86400000);
    int64_t rem = t_ms - days * 86400000;
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    int rc = tw_buf_printf(out, "\"%04lld-%02u-%02uT%02d:%02d:%02d", (long long)y, mo, d,
                           (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60));
    int ms = (int)(rem % 1000);
    if (ms != 0) {
        char f[8];
        snprintf(f, sizeof(f), ".%03d", ms);
        size_t n = strlen(f);
        while (f[n - 1] == '0') {
            f[--n] = '\0';
        }
        rc |= tw_buf_puts(out, f);
    }
    rc |= tw_buf_puts(out, "Z\"");
    return rc;
}

/* ---- parameters ----------------------------------------------------------------------------- */

/* Go's strconv.ParseFloat acceptance, close enough: a complete decimal or hex float, or
 * inf/infinity/nan in any case, with an optional sign and no surrounding space. */
static bool parse_go_float(const char *s, double *out)
{
    if (s[0] == '\0' || isspace((unsigned char)s[0])) {
        return false;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0') {
        return false;
    }
    if (errno == ERANGE && isinf(v)) {
        return false; /* Go: "value out of range" */
    }
    *out = v;
    return true;
}

int tw_query_api_parse_time(const char *s, int64_t *t_ms, tw_error_t *err)
{
    double f;
    if (parse_go_float(s, &f)) {
        /* math.Modf, the fraction rounded to ms, then time.Unix(sec, nsec) -> ms. */
        double ip;
        double frac = modf(f, &ip);
        frac = round(frac * 1000) / 1000;
        int64_t sec = ip >= 9.2e18 ? INT64_MAX : ip <= -9.2e18 ? INT64_MIN : (int64_t)ip;
        int64_t nsec = (int64_t)(frac * 1e9);
        sec += floor_div(nsec, 1000000000);
        nsec -= floor_div(nsec, 1000000000) * 1000000000;
        if (sec > INT64_MAX / 1000 || sec < INT64_MIN / 1000 + 1) {
            *t_ms = sec > 0 ? INT64_MAX : INT64_MIN;
        } else {
            *t_ms = sec * 1000 + nsec / 1000000;
        }
        return 0;
    }
    if (tw_time_rfc3339_parse(s, t_ms) == 0) {
        return 0;
    }
    if (strcmp(s, API_MIN_TIME_STR) == 0) {
        *t_ms = API_MIN_TIME_MS;
        return 0;
    }
    if (strcmp(s, API_MAX_TIME_STR) == 0) {
        *t_ms = API_MAX_TIME_MS;
        return 0;
    }
    return tw_error_set(err, TW_EINVAL, "cannot parse \"%s\" to a valid timestamp", s);
}

int tw_query_api_parse_duration(const char *s, int64_t *d_ns, tw_error_t *err)
{
    double f;
    if (parse_go_float(s, &f)) {
        double ns = f * 1e9;
        if (ns > 9223372036854775807.0 || ns < -9223372036854775808.0 || isnan(ns)) {
            return tw_error_set(err, TW_EINVAL,
                                "cannot parse \"%s\" to a valid duration. It overflows int64", s);
        }
        *d_ns = (int64_t)ns;
        return 0;
    }
    int64_t ms;
    if (s[0] != '\0' && tw_promql_duration_parse(s, strlen(s), &ms, NULL) == 0 &&
        ms <= INT64_MAX / 1000000) {
        *d_ns = ms * 1000000;
        return 0;
    }
    return tw_error_set(err, TW_EINVAL, "cannot parse \"%s\" to a valid duration", s);
}

/* A request's parameters. */
typedef struct params {
    const tw_query_api_param_t *p;
    size_t n;
} params_t;

/* The first value of name, or "" (Go's FormValue). */
static const char *param(const params_t *ps, const char *name)
{
    for (size_t i = 0; i < ps->n; i++) {
        if (strcmp(ps->p[i].name, name) == 0) {
            return ps->p[i].value != NULL ? ps->p[i].value : "";
        }
    }
    return "";
}

static size_t param_count(const params_t *ps, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < ps->n; i++) {
        n += strcmp(ps->p[i].name, name) == 0;
    }
    return n;
}

/* ---- responses ------------------------------------------------------------------------------ */

typedef enum {
    ERR_BAD_DATA = 0,
    ERR_EXEC,
    ERR_TIMEOUT,
    ERR_CANCELED,
    ERR_INTERNAL,
    ERR_NOT_FOUND,
} err_type_t;

/* What one request needs besides its parameters. */
typedef struct call {
    tw_query_api_t *api;
    tw_promql_engine_options_t eo; /* a snapshot of the engine options */
    params_t ps;
    tw_http_response_t *resp;
} call_t;

static void respond_error(call_t *c, err_type_t t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void respond_error(call_t *c, err_type_t t, const char *fmt, ...)
{
    static const char *const names[] = {"bad_data", "execution", "timeout",
                                        "canceled", "internal",  "not_found"};
    bool p2 = c->eo.compat == TW_PROMQL_COMPAT_PROMETHEUS2;
    int codes[] = {400, 422, 503, p2 ? 503 : 499, 500, 404};
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tw_buf_reset(&c->resp->body);
    c->resp->status = codes[t];
    c->resp->content_type = "application/json";
    tw_buf_printf(&c->resp->body,
                  "{\"status\":\"error\",\"errorType\":\"%s\",\"error\":", names[t]);
    tw_query_api_json_string(&c->resp->body, msg);
    tw_buf_putc(&c->resp->body, '}');
}

/* Appends `,"key":[...]` for up to API_MAX_ANNOTATIONS strings plus Prometheus' "N more"
 * line, or nothing when there are none. */
static void annotations_json(tw_buf_t *b, const char *key, const char *kind, const char *const *a,
                             size_t n)
{
    if (n == 0) {
        return;
    }
    tw_buf_printf(b, ",\"%s\":[", key);
    size_t shown = n < API_MAX_ANNOTATIONS ? n : API_MAX_ANNOTATIONS;
    for (size_t i = 0; i < shown; i++) {
        if (i > 0) {
            tw_buf_putc(b, ',');
        }
        tw_query_api_json_string(b, a[i]);
    }
    if (n > shown) {
        tw_buf_printf(b, ",\"%zu more %s annotations omitted\"", n - shown, kind);
    }
    tw_buf_putc(b, ']');
}

/* Wraps data (a JSON value) into the success envelope. */
static void respond_data(call_t *c, const tw_buf_t *data, const char *const *warnings,
                         size_t n_warnings, const char *const *infos, size_t n_infos)
{
    tw_buf_t *b = &c->resp->body;
    tw_buf_reset(b);
    c->resp->status = 200;
    c->resp->content_type = "application/json";
    tw_buf_puts(b, "{\"status\":\"success\",\"data\":");
    tw_buf_append(b, data->data != NULL ? data->data : "null", data->data != NULL ? data->len : 4);
    annotations_json(b, "warnings", "warning", warnings, n_warnings);
    if (c->eo.compat != TW_PROMQL_COMPAT_PROMETHEUS2) {
        annotations_json(b, "infos", "info", infos, n_infos);
    }
    tw_buf_putc(b, '}');
}

static void labels_json(tw_buf_t *b, const tw_label_t *l, size_t n)
{
    tw_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            tw_buf_putc(b, ',');
        }
        tw_query_api_json_string(b, l[i].name);
        tw_buf_putc(b, ':');
        tw_query_api_json_string(b, l[i].value);
    }
    tw_buf_putc(b, '}');
}

static void point_json(tw_buf_t *b, int64_t t, double v)
{
    /* Laid out in a local buffer and appended once: this runs for every point of a result. */
    char tmp[64 + TW_PROMQL_FLOAT_CHARS_MAX];
    size_t n = 0;
    tmp[n++] = '[';
    n += timestamp_chars(tmp + n, t);
    tmp[n++] = ',';
    tmp[n++] = '"';
    double a = fabs(v);
    if (!isfinite(v) || (a != 0 && (a < 1e-6 || a >= 1e21))) {
        tw_buf_append(b, tmp, n);
        tw_promql_format_value(v, b);
        tw_buf_puts(b, "\"]");
        return;
    }
    n += tw_promql_format_float_chars(v, tmp + n);
    tmp[n++] = '"';
    tmp[n++] = ']';
    tw_buf_append(b, tmp, n);
}

/* {"resultType":...,"result":...} of a query result. */
static void result_json(tw_buf_t *b, const tw_promql_result_t *r)
{
    tw_buf_printf(b, "{\"resultType\":\"%s\",\"result\":",
                  r->type == TW_PROMQL_TYPE_SCALAR   ? "scalar"
                  : r->type == TW_PROMQL_TYPE_STRING ? "string"
                  : r->type == TW_PROMQL_TYPE_VECTOR ? "vector"
                                                     : "matrix");
    /* Scalars and strings use promql.Scalar's and promql.String's own MarshalJSON: the time as
     * a JSON float (float64(T) / 1000) and a scalar's value in 'f' form always. */
    if (r->type == TW_PROMQL_TYPE_SCALAR) {
        tw_buf_putc(b, '[');
        tw_query_api_json_float(b, (double)r->t / 1000);
        tw_buf_puts(b, ",\"");
        if (isfinite(r->scalar)) {
            tw_promql_format_float(r->scalar, b);
        } else {
            format_special(r->scalar, b);
        }
        tw_buf_puts(b, "\"]");
    } else if (r->type == TW_PROMQL_TYPE_STRING) {
        char *s = tw_xstrndup(r->str != NULL ? r->str : "", r->str_len);
        tw_buf_putc(b, '[');
        tw_query_api_json_float(b, (double)r->t / 1000);
        tw_buf_putc(b, ',');
        tw_query_api_json_string(b, s);
        tw_buf_putc(b, ']');
        free(s);
    } else {
        bool vec = r->type == TW_PROMQL_TYPE_VECTOR;
        tw_buf_putc(b, '[');
        for (size_t i = 0; i < r->n_series; i++) {
            const tw_promql_series_t *s = &r->series[i];
            if (i > 0) {
                tw_buf_putc(b, ',');
            }
            tw_buf_puts(b, "{\"metric\":");
            labels_json(b, s->labels, s->n_labels);
            if (vec) {
                tw_buf_puts(b, ",\"value\":");
                if (s->n_points > 0) {
                    point_json(b, s->points[0].t, s->points[0].v);
                } else {
                    point_json(b, r->t, NAN);
                }
            } else {
                tw_buf_puts(b, ",\"values\":[");
                for (size_t k = 0; k < s->n_points; k++) {
                    if (k > 0) {
                        tw_buf_putc(b, ',');
                    }
                    point_json(b, s->points[k].t, s->points[k].v);
                }
                tw_buf_putc(b, ']');
            }
            tw_buf_putc(b, '}');
        }
        tw_buf_putc(b, ']');
    }
    tw_buf_putc(b, '}');
}

/* The message of err without the file part ("1:5: parse error: ..."). */
static const char *err_text(const tw_error_t *err, int rc, char *buf, size_t bufsz)
{
    tw_error_t e = *err;
    e.file[0] = '\0';
    tw_error_format(&e, buf, bufsz);
    if (buf[0] == '\0') {
        tw_strlcpy(buf, tw_strerror(rc), bufsz);
    }
    return buf;
}

/* Answers an engine error like Prometheus' returnAPIError (or invalidParamError for a query
 * that does not parse; 2.42 answers a range query's parse error without the prefix). */
static void respond_engine_error(call_t *c, int rc, const tw_error_t *err, bool range)
{
    char msg[1024];
    err_text(err, rc, msg, sizeof(msg));
    switch (rc) {
    case TW_EPARSE:
        if (range && c->eo.compat == TW_PROMQL_COMPAT_PROMETHEUS2) {
            respond_error(c, ERR_BAD_DATA, "%s", msg);
        } else {
            respond_error(c, ERR_BAD_DATA, "invalid parameter \"query\": %s", msg);
        }
        break;
    case TW_EEXEC:
    case TW_ELIMIT:
        respond_error(c, ERR_EXEC, "%s", msg);
        break;
    case TW_ETIMEOUT:
        respond_error(c, ERR_TIMEOUT, "%s", msg);
        break;
    case TW_ECANCELED:
        respond_error(c, ERR_CANCELED, "%s", msg);
        break;
    default:
        respond_error(c, ERR_INTERNAL, "%s", msg);
        break;
    }
}

/* ---- query and query_range ----------------------------------------------------------------- */

static int64_t now_ms(const tw_query_api_t *api)
{
    return api->now_ms != NULL ? api->now_ms(api->ctx) : tw_now_ms();
}

/* A time parameter with a default (parseTimeParam). Answers and returns false on error. */
static bool time_param(call_t *c, const char *name, int64_t def, int64_t *out)
{
    const char *v = param(&c->ps, name);
    tw_error_t err;
    if (v[0] == '\0') {
        *out = def;
        return true;
    }
    if (tw_query_api_parse_time(v, out, &err) != 0) {
        respond_error(c, ERR_BAD_DATA, "invalid parameter \"%s\": Invalid time value for '%s': %s",
                      name, name, err.msg);
        return false;
    }
    return true;
}

/* `timeout` and `lookback_delta` into the engine options. */
static bool query_opts(call_t *c, tw_promql_engine_options_t *eo)
{
    const char *to = param(&c->ps, "timeout");
    tw_error_t err;
    if (to[0] != '\0') {
        int64_t ns;
        if (tw_query_api_parse_duration(to, &ns, &err) != 0) {
            respond_error(c, ERR_BAD_DATA, "invalid parameter \"timeout\": %s", err.msg);
            return false;
        }
        int64_t ms = ns / 1000000;
        int64_t cur = eo->timeout_ms == 0 ? TW_PROMQL_DEFAULT_TIMEOUT_MS : eo->timeout_ms;
        if (ms <= 0) {
            ms = 1; /* an expired context: the query times out at once */
        }
        eo->timeout_ms = cur < 0 || ms < cur ? ms : cur;
    }
    const char *lb = param(&c->ps, "lookback_delta");
    if (lb[0] != '\0' && eo->compat != TW_PROMQL_COMPAT_PROMETHEUS2) {
        int64_t ns;
        if (tw_query_api_parse_duration(lb, &ns, &err) != 0) {
            respond_error(c, ERR_BAD_DATA, "error parsing lookback delta duration: %s", err.msg);
            return false;
        }
        if (ns / 1000000 > 0) {
            eo->lookback_delta_ms = ns / 1000000;
        }
    }
    return true;
}

static void respond_result(call_t *c, const tw_promql_result_t *r)
{
    /* Like respond_data(), but the result is written straight into the body: a range query's
     * JSON can be tens of MB, not worth building twice. */
    tw_buf_t *b = &c->resp->body;
    tw_buf_reset(b);
    c->resp->status = 200;
    c->resp->content_type = "application/json";
    tw_buf_puts(b, "{\"status\":\"success\",\"data\":");
    result_json(b, r);
    annotations_json(b, "warnings", "warning", r->warnings, r->n_warnings);
    if (c->eo.compat != TW_PROMQL_COMPAT_PROMETHEUS2) {
        annotations_json(b, "infos", "info", r->infos, r->n_infos);
    }
    tw_buf_putc(b, '}');
}

static void handle_query(call_t *c)
{
    tw_promql_engine_options_t eo = c->eo;
    tw_promql_result_t *r = NULL;
    tw_error_t err;
    int64_t t;
    if (!time_param(c, "time", now_ms(c->api), &t) || !query_opts(c, &eo)) {
        return;
    }
    const char *q = param(&c->ps, "query");
    tw_error_clear(&err);
    int rc = tw_promql_exec_instant(&eo, &c->api->storage, q, strlen(q), t, &r, &err);
    if (rc != 0) {
        respond_engine_error(c, rc, &err, false);
        return;
    }
    respond_result(c, r);
    tw_promql_result_free(r);
}

static void handle_query_range(call_t *c)
{
    tw_promql_engine_options_t eo = c->eo;
    tw_promql_result_t *r = NULL;
    tw_error_t err;
    int64_t start, end, step_ns;
    const char *names[] = {"start", "end"};
    int64_t *outs[] = {&start, &end};
    for (int i = 0; i < 2; i++) {
        if (tw_query_api_parse_time(param(&c->ps, names[i]), outs[i], &err) != 0) {
            respond_error(c, ERR_BAD_DATA, "invalid parameter \"%s\": %s", names[i], err.msg);
            return;
        }
    }
    if (end < start) {
        respond_error(c, ERR_BAD_DATA,
                      "invalid parameter \"end\": end timestamp must not be before start time");
        return;
    }
    if (tw_query_api_parse_duration(param(&c->ps, "step"), &step_ns, &err) != 0) {
        respond_error(c, ERR_BAD_DATA, "invalid parameter \"step\": %s", err.msg);
        return;
    }
    if (step_ns <= 0) {
        respond_error(c, ERR_BAD_DATA,
                      "invalid parameter \"step\": zero or negative query resolution step widths "
                      "are not accepted. Try a positive integer");
        return;
    }
    /* end.Sub(start) / step > 11000, in nanoseconds (Sub saturates). */
    int64_t span_ns;
    if (__builtin_sub_overflow(end, start, &span_ns) ||
        __builtin_mul_overflow(span_ns, (int64_t)1000000, &span_ns)) {
        span_ns = INT64_MAX;
    }
    if (span_ns / step_ns > 11000) {
        respond_error(c, ERR_BAD_DATA,
                      "exceeded maximum resolution of 11,000 points per timeseries. Try "
                      "decreasing the query resolution (?step=XX)");
        return;
    }
    if (!query_opts(c, &eo)) {
        return;
    }
    int64_t step_ms = step_ns / 1000000;
    if (step_ms <= 0) {
        step_ms = 1; /* below a millisecond: the engine's resolution */
    }
    const char *q = param(&c->ps, "query");
    tw_error_clear(&err);
    int rc =
        tw_promql_exec_range(&eo, &c->api->storage, q, strlen(q), start, end, step_ms, &r, &err);
    if (rc != 0) {
        respond_engine_error(c, rc, &err, true);
        return;
    }
    respond_result(c, r);
    tw_promql_result_free(r);
}

/* ---- series, labels, label values --------------------------------------------------------- */

/* The parsed match[] selectors of a request. */
typedef struct matchsets {
    tw_promql_ast_t *ast[API_MAX_MATCH_SETS];
    size_t n;
} matchsets_t;

static void matchsets_fini(matchsets_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        tw_promql_ast_free(m->ast[i]);
    }
    m->n = 0;
}

static const tw_promql_expr_t *matchset_vs(const matchsets_t *m, size_t i)
{
    return tw_promql_ast_root(m->ast[i]);
}

/*
 * parseMatchersParam: every match[] must be a plain series selector with a matcher that does
 * not match the empty string. Returns 0, or an error in err (the caller decides how to wrap
 * it).
 */
static int matchsets_parse(const params_t *ps, matchsets_t *m, tw_error_t *err)
{
    m->n = 0;
    for (size_t i = 0; i < ps->n; i++) {
        if (strcmp(ps->p[i].name, "match[]") != 0) {
            continue;
        }
        const char *s = ps->p[i].value != NULL ? ps->p[i].value : "";
        tw_promql_ast_t *ast = NULL;
        if (m->n == API_MAX_MATCH_SETS) {
            return tw_error_set(err, TW_ELIMIT, "more than %d match[] parameters",
                                API_MAX_MATCH_SETS);
        }
        int rc = tw_promql_parse(s, strlen(s), NULL, &ast, err);
        if (rc != 0) {
            return rc;
        }
        const tw_promql_expr_t *e = tw_promql_ast_root(ast);
        if (e->kind != TW_PROMQL_VECTOR_SELECTOR || e->u.vs.offset_ms != 0 ||
            e->u.vs.at != TW_PROMQL_AT_NONE) {
            tw_promql_ast_free(ast);
            return tw_error_set_at(err, TW_EPARSE, NULL, 1, (int)e->pos.end + 1,
                                   "parse error: unexpected %s in series selector, expected "
                                   "end of input",
                                   e->kind == TW_PROMQL_VECTOR_SELECTOR ? "modifier"
                                                                        : "expression");
        }
        m->ast[m->n++] = ast;
    }
    for (size_t i = 0; i < m->n; i++) {
        const tw_promql_expr_t *e = matchset_vs(m, i);
        bool ok = false;
        for (size_t k = 0; k < e->u.vs.n_matchers && !ok; k++) {
            ok = !tw_matcher_matches_empty(&e->u.vs.matchers[k]);
        }
        if (!ok) {
            return tw_error_set(err, TW_EPARSE,
                                "match[] must contain at least one non-empty "
                                "matcher");
        }
    }
    return 0;
}

/* Series labels collected from select(). */
typedef struct lset {
    const tw_label_t *l;
    size_t n;
} lset_t;

typedef struct lsets {
    lset_t *v;
    size_t n;
    size_t cap;
} lsets_t;

static int collect_series(void *arg, const tw_label_t *labels, size_t n_labels, const int64_t *t,
                          const double *v, size_t n)
{
    lsets_t *s = arg;
    (void)t;
    (void)v;
    (void)n;
    tw_grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v));
    s->v[s->n].l = labels;
    s->v[s->n].n = n_labels;
    s->n++;
    return 0;
}

static int lset_cmp(const void *a, const void *b)
{
    const lset_t *x = a, *y = b;
    return tw_labels_compare(x->l, x->n, y->l, y->n);
}

/* Sorts and drops duplicates. */
static void lsets_unique(lsets_t *s)
{
    if (s->n < 2) {
        return;
    }
    qsort(s->v, s->n, sizeof(*s->v), lset_cmp);
    size_t w = 1;
    for (size_t i = 1; i < s->n; i++) {
        if (lset_cmp(&s->v[i], &s->v[w - 1]) != 0) {
            s->v[w++] = s->v[i];
        }
    }
    s->n = w;
}

/* Every series matching any set (all series when there are no sets) in [mint, maxt]. */
static int select_union(call_t *c, void *q, const matchsets_t *m, int64_t mint, int64_t maxt,
                        lsets_t *out, tw_error_t *err)
{
    const tw_promql_storage_t *st = &c->api->storage;
    int rc = 0;
    if (m->n == 0) {
        rc = st->select(q, NULL, 0, mint, maxt, collect_series, out, err);
    }
    for (size_t i = 0; i < m->n && rc == 0; i++) {
        const tw_promql_expr_t *e = matchset_vs(m, i);
        rc = st->select(q, e->u.vs.matchers, e->u.vs.n_matchers, mint, maxt, collect_series, out,
                        err);
    }
    if (rc == 0 && m->n > 1) {
        lsets_unique(out);
    }
    return rc;
}

/* `limit` (3.x): 0 or absent is no limit. Answers and returns false on error. */
static bool limit_param(call_t *c, long *limit)
{
    const char *s = param(&c->ps, "limit");
    *limit = 0;
    if (s[0] == '\0' || c->eo.compat == TW_PROMQL_COMPAT_PROMETHEUS2) {
        return true;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || isspace((unsigned char)s[0])) {
        respond_error(c, ERR_BAD_DATA,
                      "invalid parameter \"limit\": strconv.Atoi: parsing \"%s\": %s", s,
                      errno == ERANGE ? "value out of range" : "invalid syntax");
        return false;
    }
    if (v < 0) {
        respond_error(c, ERR_BAD_DATA, "invalid parameter \"limit\": limit must be non-negative");
        return false;
    }
    *limit = v;
    return true;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A sorted, distinct string list. */
typedef struct strs {
    const char **v;
    size_t n;
    size_t cap;
} strs_t;

static void strs_add(strs_t *s, const char *x)
{
    tw_grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v));
    s->v[s->n++] = x;
}

static void strs_unique(strs_t *s)
{
    if (s->n < 2) {
        return;
    }
    qsort(s->v, s->n, sizeof(*s->v), str_cmp);
    size_t w = 1;
    for (size_t i = 1; i < s->n; i++) {
        if (strcmp(s->v[i], s->v[w - 1]) != 0) {
            s->v[w++] = s->v[i];
        }
    }
    s->n = w;
}

/* Answers a string list, truncated to limit with Prometheus' warning. */
static void respond_strs(call_t *c, strs_t *s, long limit)
{
    tw_buf_t data;
    const char *warn[1] = {"results truncated due to limit"};
    size_t nwarn = 0;
    if (limit > 0 && s->n > (size_t)limit) {
        s->n = (size_t)limit;
        nwarn = 1;
    }
    tw_buf_init(&data, 0);
    tw_buf_putc(&data, '[');
    for (size_t i = 0; i < s->n; i++) {
        if (i > 0) {
            tw_buf_putc(&data, ',');
        }
        tw_query_api_json_string(&data, s->v[i]);
    }
    tw_buf_putc(&data, ']');
    respond_data(c, &data, warn, nwarn, NULL, 0);
    tw_buf_fini(&data);
}

static void handle_series(call_t *c)
{
    matchsets_t m = {.n = 0};
    lsets_t sets = {0};
    tw_error_t err;
    char msg[1024];
    void *q = NULL;
    int64_t start, end;
    long limit = 0;
    tw_error_clear(&err);
    if (param_count(&c->ps, "match[]") == 0) {
        respond_error(c, ERR_BAD_DATA, "no match[] parameter provided");
        return;
    }
    if (!time_param(c, "start", API_MIN_TIME_MS, &start) ||
        !time_param(c, "end", API_MAX_TIME_MS, &end) || !limit_param(c, &limit)) {
        return;
    }
    if (matchsets_parse(&c->ps, &m, &err) != 0) {
        respond_error(c, ERR_BAD_DATA, "invalid parameter \"match[]\": %s",
                      err_text(&err, TW_EPARSE, msg, sizeof(msg)));
        goto out;
    }
    int rc = c->api->storage.open(c->api->storage.ctx, start, end, &q, &err);
    if (rc == 0) {
        rc = select_union(c, q, &m, start, end, &sets, &err);
    }
    if (rc != 0) {
        respond_error(c, ERR_EXEC, "%s", err_text(&err, rc, msg, sizeof(msg)));
        goto out;
    }
    tw_buf_t data;
    const char *warn[1] = {"results truncated due to limit"};
    size_t nwarn = 0;
    if (limit > 0 && sets.n > (size_t)limit) {
        sets.n = (size_t)limit;
        nwarn = 1;
    }
    tw_buf_init(&data, 0);
    tw_buf_putc(&data, '[');
    for (size_t i = 0; i < sets.n; i++) {
        if (i > 0) {
            tw_buf_putc(&data, ',');
        }
        labels_json(&data, sets.v[i].l, sets.v[i].n);
    }
    tw_buf_putc(&data, ']');
    respond_data(c, &data, warn, nwarn, NULL, 0);
    tw_buf_fini(&data);
out:
    if (q != NULL) {
        c->api->storage.close(q);
    }
    free(sets.v);
    matchsets_fini(&m);
}

/* Label names (name == NULL) or values of name, over every set, into out (borrowed from q). */
static int label_strings(call_t *c, void *q, const char *name, const matchsets_t *m, int64_t mint,
                         int64_t maxt, strs_t *out, tw_error_t *err)
{
    const tw_promql_storage_t *st = &c->api->storage;
    bool native = name == NULL ? st->label_names != NULL : st->label_values != NULL;
    int rc = 0;
    if (native) {
        size_t nsets = m->n == 0 ? 1 : m->n;
        for (size_t i = 0; i < nsets && rc == 0; i++) {
            const tw_matcher_t *ms = NULL;
            size_t nms = 0;
            if (m->n > 0) {
                ms = matchset_vs(m, i)->u.vs.matchers;
                nms = matchset_vs(m, i)->u.vs.n_matchers;
            }
            const char **v = NULL;
            size_t nv = 0;
            rc = name == NULL ? st->label_names(q, ms, nms, &v, &nv, err)
                              : st->label_values(q, name, ms, nms, &v, &nv, err);
            for (size_t k = 0; rc == 0 && k < nv; k++) {
                strs_add(out, v[k]);
            }
            free(v);
        }
    } else {
        lsets_t sets = {0};
        rc = select_union(c, q, m, mint, maxt, &sets, err);
        for (size_t i = 0; rc == 0 && i < sets.n; i++) {
            for (size_t k = 0; k < sets.v[i].n; k++) {
                if (name == NULL) {
                    strs_add(out, sets.v[i].l[k].name);
                } else if (strcmp(sets.v[i].l[k].name, name) == 0) {
                    strs_add(out, sets.v[i].l[k].value);
                }
            }
        }
        free(sets.v);
    }
    if (rc == 0) {
        strs_unique(out);
    }
    return rc;
}

/* /api/v1/labels (name NULL) and /api/v1/label/<name>/values. */
static void handle_labels(call_t *c, const char *name)
{
    matchsets_t m = {.n = 0};
    strs_t vals = {0};
    tw_error_t err;
    char msg[1024];
    void *q = NULL;
    int64_t start, end;
    long limit = 0;
    tw_error_clear(&err);
    if (name != NULL) {
        bool valid = c->eo.compat == TW_PROMQL_COMPAT_PROMETHEUS2
                         ? tw_label_name_valid(name)
                         : name[0] != '\0' && utf8_len((const unsigned char *)name) != 0;
        if (!valid) {
            respond_error(c, ERR_BAD_DATA, "invalid label name: \"%s\"", name);
            return;
        }
        if (!limit_param(c, &limit)) {
            return;
        }
    } else if (!limit_param(c, &limit)) {
        return;
    }
    if (!time_param(c, "start", API_MIN_TIME_MS, &start) ||
        !time_param(c, "end", API_MAX_TIME_MS, &end)) {
        return;
    }
    if (matchsets_parse(&c->ps, &m, &err) != 0) {
        respond_error(c, ERR_BAD_DATA, "%s", err_text(&err, TW_EPARSE, msg, sizeof(msg)));
        goto out;
    }
    int rc = c->api->storage.open(c->api->storage.ctx, start, end, &q, &err);
    if (rc == 0) {
        rc = label_strings(c, q, name, &m, start, end, &vals, &err);
    }
    if (rc != 0) {
        respond_error(c, ERR_EXEC, "%s", err_text(&err, rc, msg, sizeof(msg)));
        goto out;
    }
    respond_strs(c, &vals, limit);
out:
    if (q != NULL) {
        c->api->storage.close(q);
    }
    free(vals.v);
    matchsets_fini(&m);
}

/* Prometheus 3 accepts label names escaped as "U__" + Go's value encoding ("U__a_2e_b" is
 * "a.b"): `_` is `__`, other bytes `_<hex code point>_`. Writes the name into out. */
static bool unescape_name(const char *in, char *out, size_t outsz)
{
    if (strncmp(in, "U__", 3) != 0) {
        tw_strlcpy(out, in, outsz);
        return strlen(in) < outsz;
    }
    const char *p = in + 3;
    size_t n = 0;
    while (*p != '\0') {
        if (n + 5 >= outsz) {
            return false;
        }
        if (*p != '_') {
            out[n++] = *p++;
            continue;
        }
        if (p[1] == '_') {
            out[n++] = '_';
            p += 2;
            continue;
        }
        char *end = NULL;
        unsigned long cp = strtoul(p + 1, &end, 16);
        if (end == p + 1 || *end != '_' || cp > 0x10FFFF) {
            tw_strlcpy(out, in, outsz); /* not a valid escape: taken as written */
            return strlen(in) < outsz;
        }
        if (cp < 0x80) {
            out[n++] = (char)cp;
        } else if (cp < 0x800) {
            out[n++] = (char)(0xC0 | (cp >> 6));
            out[n++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[n++] = (char)(0xE0 | (cp >> 12));
            out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[n++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[n++] = (char)(0xF0 | (cp >> 18));
            out[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[n++] = (char)(0x80 | (cp & 0x3F));
        }
        p = end + 1;
    }
    out[n] = '\0';
    return true;
}

/* ---- status, targets, metadata -------------------------------------------------------------- */

/* Answers the JSON a daemon callback writes, or fallback when there is no callback. */
static void respond_callback(call_t *c, int (*fn)(void *, tw_buf_t *, tw_error_t *),
                             const char *fallback)
{
    tw_buf_t data;
    tw_error_t err;
    tw_buf_init(&data, 0);
    tw_error_clear(&err);
    int rc = fn != NULL ? fn(c->api->ctx, &data, &err) : tw_buf_puts(&data, fallback);
    if (rc != 0) {
        char msg[1024];
        respond_error(c, ERR_INTERNAL, "%s", err_text(&err, rc, msg, sizeof(msg)));
    } else {
        respond_data(c, &data, NULL, 0, NULL, 0);
    }
    tw_buf_fini(&data);
}

static void handle_buildinfo(call_t *c)
{
    const tw_query_api_build_info_t *b = &c->api->build;
    tw_buf_t data;
    tw_buf_init(&data, 0);
    const char *keys[] = {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"};
    const char *vals[] = {b->version,    b->revision,   b->branch,
                          b->build_user, b->build_date, b->go_version};
    tw_buf_putc(&data, '{');
    for (size_t i = 0; i < 6; i++) {
        tw_buf_printf(&data, "%s\"%s\":", i > 0 ? "," : "", keys[i]);
        tw_query_api_json_string(&data, vals[i] != NULL ? vals[i] : "");
    }
    tw_buf_putc(&data, '}');
    respond_data(c, &data, NULL, 0, NULL, 0);
    tw_buf_fini(&data);
}

static void handle_config(call_t *c)
{
    tw_buf_t yaml, data;
    tw_error_t err;
    tw_buf_init(&yaml, 0);
    tw_buf_init(&data, 0);
    tw_error_clear(&err);
    int rc = c->api->config_yaml != NULL ? c->api->config_yaml(c->api->ctx, &yaml, &err) : 0;
    if (rc != 0) {
        char msg[1024];
        respond_error(c, ERR_INTERNAL, "%s", err_text(&err, rc, msg, sizeof(msg)));
    } else {
        tw_buf_puts(&data, "{\"yaml\":");
        tw_query_api_json_string(&data, yaml.data != NULL ? yaml.data : "");
        tw_buf_putc(&data, '}');
        respond_data(c, &data, NULL, 0, NULL, 0);
    }
    tw_buf_fini(&yaml);
    tw_buf_fini(&data);
}

static void handle_targets(call_t *c)
{
    const char *state = param(&c->ps, "state");
    char lower[16];
    size_t n = 0;
    for (; state[n] != '\0' && n < sizeof(lower) - 1; n++) {
        lower[n] = (char)tolower((unsigned char)state[n]);
    }
    lower[n] = '\0';
    tw_buf_t data;
    tw_error_t err;
    tw_buf_init(&data, 0);
    tw_error_clear(&err);
    int rc = 0;
    if (c->api->targets != NULL) {
        rc = c->api->targets(c->api->ctx, lower, &data, &err);
    } else if (c->eo.compat == TW_PROMQL_COMPAT_PROMETHEUS2) {
        tw_buf_puts(&data, "{\"activeTargets\":[],\"droppedTargets\":[]}");
    } else {
        tw_buf_puts(&data,
                    "{\"activeTargets\":[],\"droppedTargets\":[],\"droppedTargetCounts\":{}}");
    }
    if (rc != 0) {
        char msg[1024];
        respond_error(c, ERR_INTERNAL, "%s", err_text(&err, rc, msg, sizeof(msg)));
    } else {
        respond_data(c, &data, NULL, 0, NULL, 0);
    }
    tw_buf_fini(&data);
}

/* /api/v1/metadata: tidewatch keeps no metric metadata yet, so the answer is empty, after
 * the same parameter checks as Prometheus. */
static void handle_metadata(call_t *c)
{
    const char *names[] = {"limit", "limit_per_metric"};
    for (size_t i = 0; i < 2; i++) {
        const char *s = param(&c->ps, names[i]);
        char *end = NULL;
        if (s[0] == '\0') {
            continue;
        }
        errno = 0;
        (void)strtol(s, &end, 10);
        if (end == s || *end != '\0' || errno != 0) {
            respond_error(c, ERR_BAD_DATA, "%s must be a number", names[i]);
            return;
        }
    }
    tw_buf_t data;
    tw_buf_init(&data, 0);
    tw_buf_puts(&data, "{}");
    respond_data(c, &data, NULL, 0, NULL, 0);
    tw_buf_fini(&data);
}

/* One statistic of /api/v1/status/tsdb. */
typedef struct stat {
    char *name; /* owned */
    uint64_t count;
} stat_t;

static int stat_cmp(const void *a, const void *b)
{
    const stat_t *x = a, *y = b;
    if (x->count != y->count) {
        return x->count > y->count ? -1 : 1;
    }
    return strcmp(x->name, y->name);
}

typedef struct stats {
    stat_t *v;
    size_t n;
    size_t cap;
} stats_t;

static void stats_add(stats_t *s, char *name, uint64_t count)
{
    tw_grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v));
    s->v[s->n].name = name;
    s->v[s->n].count = count;
    s->n++;
}

static void stats_json(tw_buf_t *b, const char *key, stats_t *s, long limit)
{
    if (s->n > 1) {
        qsort(s->v, s->n, sizeof(*s->v), stat_cmp);
    }
    tw_buf_printf(b, ",\"%s\":[", key);
    for (size_t i = 0; i < s->n && i < (size_t)limit; i++) {
        tw_buf_puts(b, i > 0 ? ",{\"name\":" : "{\"name\":");
        tw_query_api_json_string(b, s->v[i].name);
        tw_buf_printf(b, ",\"value\":%llu}", (unsigned long long)s->v[i].count);
    }
    tw_buf_putc(b, ']');
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].name);
    }
    free(s->v);
}

/* A (name, value) pair of one series, for counting. */
typedef struct pair {
    const char *name;
    const char *value;
} pair_t;

static int pair_cmp(const void *a, const void *b)
{
    const pair_t *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    return r != 0 ? r : strcmp(x->value, y->value);
}

/*
 * /api/v1/status/tsdb: the head's cardinality as Prometheus' PostingsStats counts it: series
 * per metric name, distinct values per label name, bytes of values per label name (each value's
 * length times its series), series per label pair; the top `limit` (default 10) of each.
 */
static void handle_tsdb_status(call_t *c)
{
    tw_query_api_head_stats_t hs = {0, 0, INT64_MAX, INT64_MIN};
    tw_error_t err;
    char msg[1024];
    long limit = 10;
    const char *ls = param(&c->ps, "limit");
    tw_error_clear(&err);
    if (ls[0] != '\0') {
        char *end = NULL;
        errno = 0;
        limit = strtol(ls, &end, 10);
        if (end == ls || *end != '\0' || errno != 0 || limit < 1) {
            respond_error(c, ERR_BAD_DATA, "limit must be a positive number");
            return;
        }
    }
    if (c->api->head_stats != NULL && c->api->head_stats(c->api->ctx, &hs, &err) != 0) {
        respond_error(c, ERR_INTERNAL, "%s", err_text(&err, TW_EIO, msg, sizeof(msg)));
        return;
    }
    void *q = NULL;
    lsets_t sets = {0};
    matchsets_t none = {.n = 0};
    int64_t mint = hs.min_time_ms <= hs.max_time_ms ? hs.min_time_ms : API_MIN_TIME_MS;
    int64_t maxt = hs.min_time_ms <= hs.max_time_ms ? hs.max_time_ms : API_MAX_TIME_MS;
    int rc = c->api->storage.open(c->api->storage.ctx, mint, maxt, &q, &err);
    if (rc == 0) {
        rc = select_union(c, q, &none, mint, maxt, &sets, &err);
    }
    if (rc != 0) {
        respond_error(c, ERR_INTERNAL, "%s", err_text(&err, rc, msg, sizeof(msg)));
        if (q != NULL) {
            c->api->storage.close(q);
        }
        free(sets.v);
        return;
    }
    size_t np = 0;
    for (size_t i = 0; i < sets.n; i++) {
        np += sets.v[i].n;
    }
    pair_t *pairs = tw_xcalloc(np + 1, sizeof(*pairs));
    np = 0;
    for (size_t i = 0; i < sets.n; i++) {
        for (size_t k = 0; k < sets.v[i].n; k++) {
            pairs[np].name = sets.v[i].l[k].name;
            pairs[np].value = sets.v[i].l[k].value;
            np++;
        }
    }
    qsort(pairs, np, sizeof(*pairs), pair_cmp);
    stats_t metrics = {0}, values = {0}, memory = {0}, pairstat = {0};
    size_t num_pairs = 0;
    for (size_t i = 0; i < np;) {
        size_t j = i;
        uint64_t distinct = 0, bytes = 0;
        while (j < np && strcmp(pairs[j].name, pairs[i].name) == 0) {
            size_t k = j;
            while (k < np && strcmp(pairs[k].name, pairs[j].name) == 0 &&
                   strcmp(pairs[k].value, pairs[j].value) == 0) {
                k++;
            }
            uint64_t series = k - j;
            distinct++;
            bytes += strlen(pairs[j].value) * series;
            if (strcmp(pairs[j].name, TW_METRIC_NAME_LABEL) == 0) {
                stats_add(&metrics, tw_xstrdup(pairs[j].value), series);
            }
            size_t nl = strlen(pairs[j].name) + strlen(pairs[j].value) + 2;
            char *pv = tw_xmalloc(nl);
            snprintf(pv, nl, "%s=%s", pairs[j].name, pairs[j].value);
            stats_add(&pairstat, pv, series);
            j = k;
        }
        num_pairs += distinct;
        stats_add(&values, tw_xstrdup(pairs[i].name), distinct);
        stats_add(&memory, tw_xstrdup(pairs[i].name), bytes);
        i = j;
    }
    free(pairs);
    c->api->storage.close(q);
    free(sets.v);

    tw_buf_t data;
    tw_buf_init(&data, 0);
    tw_buf_printf(&data,
                  "{\"headStats\":{\"numSeries\":%llu,\"numLabelPairs\":%zu,\"chunkCount\":%llu,"
                  "\"minTime\":%lld,\"maxTime\":%lld}",
                  (unsigned long long)(c->api->head_stats != NULL ? hs.num_series : sets.n),
                  num_pairs, (unsigned long long)hs.chunk_count, (long long)hs.min_time_ms,
                  (long long)hs.max_time_ms);
    stats_json(&data, "seriesCountByMetricName", &metrics, limit);
    stats_json(&data, "labelValueCountByLabelName", &values, limit);
    stats_json(&data, "memoryInBytesByLabelName", &memory, limit);
    stats_json(&data, "seriesCountByLabelValuePair", &pairstat, limit);
    tw_buf_putc(&data, '}');
    respond_data(c, &data, NULL, 0, NULL, 0);
    tw_buf_fini(&data);
}

/* ---- federation --------------------------------------------------------------------------- */

/* The newest sample of one series at or before ts, within the lookback window. */
typedef struct fed_sample {
    const tw_label_t *l;
    size_t n;
    int64_t t;
    double v;
} fed_sample_t;

typedef struct fed_ctx {
    fed_sample_t *v;
    size_t n;
    size_t cap;
    int64_t ts;
} fed_ctx_t;

static int fed_collect(void *arg, const tw_label_t *labels, size_t n_labels, const int64_t *t,
                       const double *v, size_t n)
{
    fed_ctx_t *f = arg;
    size_t i = n;
    while (i > 0 && t[i - 1] > f->ts) {
        i--;
    }
    if (i == 0) {
        return 0;
    }
    uint64_t bits;
    memcpy(&bits, &v[i - 1], sizeof(bits));
    if (bits == TW_PROMQL_STALE_NAN_BITS) {
        return 0;
    }
    tw_grow((void **)&f->v, &f->cap, f->n + 1, sizeof(*f->v));
    f->v[f->n] = (fed_sample_t){labels, n_labels, t[i - 1], v[i - 1]};
    f->n++;
    return 0;
}

static const char *fed_name(const fed_sample_t *s)
{
    const char *n = tw_labels_get(s->l, s->n, TW_METRIC_NAME_LABEL);
    return n != NULL ? n : "";
}

static int fed_cmp(const void *a, const void *b)
{
    const fed_sample_t *x = a, *y = b;
    int r = strcmp(fed_name(x), fed_name(y));
    return r != 0 ? r : tw_labels_compare(x->l, x->n, y->l, y->n);
}

static void text_label_value(tw_buf_t *b, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\') {
            tw_buf_puts(b, "\\\\");
        } else if (*v == '"') {
            tw_buf_puts(b, "\\\"");
        } else if (*v == '\n') {
            tw_buf_puts(b, "\\n");
        } else {
            tw_buf_putc(b, *v);
        }
    }
}

static int label_ptr_cmp(const void *a, const void *b)
{
    const tw_label_t *x = *(const tw_label_t *const *)a, *y = *(const tw_label_t *const *)b;
    return strcmp(x->name, y->name);
}

/*
 * /federate: for each series matching any match[], its newest sample within the lookback
 * window before now, in the text format 0.0.4 (untyped families by metric name, the timestamp
 * in ms). Like Prometheus, the series' own labels come first (sorted), then, sorted, every
 * external label the series lacks, `instance=""` included (so the federating server does not
 * add its own). Errors are text/plain.
 */
static void handle_federate(call_t *c)
{
    matchsets_t m = {.n = 0};
    fed_ctx_t f = {.ts = now_ms(c->api)};
    tw_error_t err;
    char msg[1024];
    void *q = NULL;
    tw_http_response_t *resp = c->resp;
    int64_t lookback =
        c->eo.lookback_delta_ms > 0 ? c->eo.lookback_delta_ms : TW_PROMQL_DEFAULT_LOOKBACK_MS;
    tw_error_clear(&err);
    if (matchsets_parse(&c->ps, &m, &err) != 0) {
        tw_buf_reset(&resp->body);
        tw_http_response_text(resp, 400, "%s", err_text(&err, TW_EPARSE, msg, sizeof(msg)));
        goto out;
    }
    int64_t mint = f.ts - lookback;
    int rc = 0;
    if (m.n > 0) {
        rc = c->api->storage.open(c->api->storage.ctx, mint, f.ts, &q, &err);
    }
    for (size_t i = 0; rc == 0 && i < m.n; i++) {
        const tw_promql_expr_t *e = matchset_vs(&m, i);
        rc = c->api->storage.select(q, e->u.vs.matchers, e->u.vs.n_matchers, mint, f.ts,
                                    fed_collect, &f, &err);
    }
    if (rc != 0) {
        tw_buf_reset(&resp->body);
        tw_http_response_text(resp, 500, "%s", err_text(&err, rc, msg, sizeof(msg)));
        goto out;
    }
    if (f.n > 1) {
        qsort(f.v, f.n, sizeof(*f.v), fed_cmp);
    }
    /* The external labels, with instance="" unless configured, sorted by name. */
    static const tw_label_t empty_instance = {"instance", ""};
    struct {
        const tw_label_t **v;
        size_t n;
    } ext = {tw_xcalloc(c->api->n_ext + 1, sizeof(*ext.v)), 0};
    for (size_t k = 0; k < c->api->n_ext; k++) {
        ext.v[ext.n++] = &c->api->ext[k];
    }
    if (tw_labels_get(c->api->ext, c->api->n_ext, "instance") == NULL) {
        ext.v[ext.n++] = &empty_instance;
    }
    qsort(ext.v, ext.n, sizeof(*ext.v), label_ptr_cmp);
    tw_buf_t *b = &resp->body;
    tw_buf_reset(b);
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    const char *family = NULL;
    const tw_label_t **ls = NULL;
    size_t ls_cap = 0;
    for (size_t i = 0; i < f.n; i++) {
        const fed_sample_t *s = &f.v[i];
        if (i > 0 && fed_cmp(&f.v[i - 1], s) == 0) {
            continue; /* the same series from two match[] */
        }
        const char *name = fed_name(s);
        if (family == NULL || strcmp(family, name) != 0) {
            tw_buf_printf(b, "# TYPE %s untyped\n", name);
            family = name;
        }
        size_t nl = 0;
        tw_grow((void **)&ls, &ls_cap, s->n + ext.n + 1, sizeof(*ls));
        for (size_t k = 0; k < s->n; k++) {
            if (strcmp(s->l[k].name, TW_METRIC_NAME_LABEL) != 0) {
                ls[nl++] = &s->l[k];
            }
        }
        for (size_t k = 0; k < ext.n; k++) {
            if (tw_labels_get(s->l, s->n, ext.v[k]->name) == NULL) {
                ls[nl++] = ext.v[k];
            }
        }
        tw_buf_puts(b, name);
        for (size_t k = 0; k < nl; k++) {
            tw_buf_printf(b, "%c%s=\"", k == 0 ? '{' : ',', ls[k]->name);
            text_label_value(b, ls[k]->value);
            tw_buf_putc(b, '"');
        }
        if (nl > 0) {
            tw_buf_putc(b, '}');
        }
        tw_buf_putc(b, ' ');
        tw_query_api_format_g(s->v, b);
        tw_buf_printf(b, " %lld\n", (long long)s->t);
    }
    free(ls);
    free(ext.v);
out:
    if (q != NULL) {
        c->api->storage.close(q);
    }
    free(f.v);
    matchsets_fini(&m);
}

/* ---- dispatch ---------------------------------------------------------------------------------
 */

int tw_query_api_serve(tw_query_api_t *api, const char *method, const char *path,
                       const tw_query_api_param_t *params, size_t n_params,
                       tw_http_response_t *resp)
{
    call_t c = {.api = api, .ps = {params, n_params}, .resp = resp};
    bool post = strcmp(method, "POST") == 0;
    pthread_mutex_lock(&api->mu);
    c.eo = api->engine;
    pthread_mutex_unlock(&api->mu);

    static const char label_prefix[] = "/api/v1/label/";
    if (strcmp(path, "/api/v1/query") == 0) {
        handle_query(&c);
    } else if (strcmp(path, "/api/v1/query_range") == 0) {
        handle_query_range(&c);
    } else if (strcmp(path, "/api/v1/series") == 0) {
        handle_series(&c);
    } else if (strcmp(path, "/api/v1/labels") == 0) {
        handle_labels(&c, NULL);
    } else if (post) {
        return TW_ENOTFOUND; /* every other endpoint is GET only */
    } else if (strncmp(path, label_prefix, sizeof(label_prefix) - 1) == 0) {
        /* /api/v1/label/<name>/values, the name being one path segment. */
        const char *name = path + sizeof(label_prefix) - 1;
        const char *slash = strchr(name, '/');
        char raw[512], decoded[512];
        if (slash == NULL || strcmp(slash, "/values") != 0 || slash == name ||
            (size_t)(slash - name) >= sizeof(raw)) {
            return TW_ENOTFOUND;
        }
        memcpy(raw, name, (size_t)(slash - name));
        raw[slash - name] = '\0';
        if (c.eo.compat == TW_PROMQL_COMPAT_PROMETHEUS2 ||
            !unescape_name(raw, decoded, sizeof(decoded))) {
            tw_strlcpy(decoded, raw, sizeof(decoded));
        }
        handle_labels(&c, decoded);
    } else if (strcmp(path, "/api/v1/metadata") == 0) {
        handle_metadata(&c);
    } else if (strcmp(path, "/api/v1/targets") == 0) {
        handle_targets(&c);
    } else if (strcmp(path, "/api/v1/status/buildinfo") == 0) {
        handle_buildinfo(&c);
    } else if (strcmp(path, "/api/v1/status/config") == 0) {
        handle_config(&c);
    } else if (strcmp(path, "/api/v1/status/flags") == 0) {
        respond_callback(&c, api->flags, "{}");
    } else if (strcmp(path, "/api/v1/status/runtimeinfo") == 0) {
        respond_callback(&c, api->runtime_info, "{}");
    } else if (strcmp(path, "/api/v1/status/tsdb") == 0) {
        handle_tsdb_status(&c);
    } else if (strcmp(path, "/federate") == 0) {
        handle_federate(&c);
    } else {
        return TW_ENOTFOUND;
    }
    return 0;
}

/* The parameters the endpoints read; a request's other arguments are ignored. */
static const char *const known_params[] = {
    "query", "time",  "start", "end",    "step",    "timeout",          "lookback_delta",
    "stats", "limit", "state", "metric", "match[]", "limit_per_metric", "scrape_pool",
};

/* The route handler: copies the request's arguments and serves. */
static int route_handler(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    tw_query_api_t *api = ctx;
    tw_query_api_param_t *ps = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < sizeof(known_params) / sizeof(known_params[0]); i++) {
#ifdef TW_HTTP_SERVER_HAVE_ARGS
        const char *vals[API_MAX_MATCH_SETS];
        size_t nv = tw_http_request_args(req, known_params[i], vals, API_MAX_MATCH_SETS);
        if (nv > API_MAX_MATCH_SETS) {
            nv = API_MAX_MATCH_SETS;
        }
#else
        const char *vals[1] = {tw_http_request_arg(req, known_params[i])};
        size_t nv = vals[0] != NULL;
#endif
        for (size_t k = 0; k < nv; k++) {
            tw_grow((void **)&ps, &cap, n + 1, sizeof(*ps));
            ps[n].name = known_params[i];
            ps[n].value = vals[k];
            n++;
        }
    }
    const char *method = tw_http_request_method(req);
    int rc = tw_query_api_serve(api, strcmp(method, "HEAD") == 0 ? "GET" : method,
                                tw_http_request_path(req), ps, n, resp);
    free(ps);
    if (rc == TW_ENOTFOUND) {
        tw_http_response_text(resp, 404, "404 page not found");
    }
    return 0;
}

int tw_query_api_register(tw_http_server_t *srv, tw_query_api_t *api)
{
    static const char *const both[] = {"/api/v1/query", "/api/v1/query_range", "/api/v1/series",
                                       "/api/v1/labels"};
    static const char *const get_only[] = {
        "/api/v1/metadata",         "/api/v1/targets",
        "/api/v1/status/buildinfo", "/api/v1/status/config",
        "/api/v1/status/flags",     "/api/v1/status/runtimeinfo",
        "/api/v1/status/tsdb",      "/federate",
#ifdef TW_HTTP_SERVER_HAVE_ARGS
        "/api/v1/label/*",
#endif
    };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(both) / sizeof(both[0]); i++) {
        rc = tw_http_server_route(srv, "GET", both[i], route_handler, api);
        if (rc == 0) {
            rc = tw_http_server_route(srv, "POST", both[i], route_handler, api);
        }
    }
    for (size_t i = 0; rc == 0 && i < sizeof(get_only) / sizeof(get_only[0]); i++) {
        rc = tw_http_server_route(srv, "GET", get_only[i], route_handler, api);
    }
    return rc;
}

/* ---- lifetime ------------------------------------------------------------------------------ */

static const char *dup_or_empty(const char *s)
{
    return tw_xstrdup(s != NULL ? s : "");
}

tw_query_api_t *tw_query_api_new(const tw_query_api_config_t *cfg)
{
    tw_query_api_t *api = tw_xcalloc(1, sizeof(*api));
    api->storage = cfg->storage;
    api->engine = cfg->engine;
    api->build.version = dup_or_empty(cfg->build.version);
    api->build.revision = dup_or_empty(cfg->build.revision);
    api->build.branch = dup_or_empty(cfg->build.branch);
    api->build.build_user = dup_or_empty(cfg->build.build_user);
    api->build.build_date = dup_or_empty(cfg->build.build_date);
    api->build.go_version = dup_or_empty(cfg->build.go_version);
    if (cfg->n_external_labels > 0) {
        api->ext = tw_xcalloc(cfg->n_external_labels, sizeof(*api->ext));
        for (size_t i = 0; i < cfg->n_external_labels; i++) {
            api->ext[i].name = tw_xstrdup(cfg->external_labels[i].name);
            api->ext[i].value = tw_xstrdup(cfg->external_labels[i].value);
        }
        api->n_ext = cfg->n_external_labels;
    }
    api->ctx = cfg->ctx;
    api->now_ms = cfg->now_ms;
    api->targets = cfg->targets;
    api->runtime_info = cfg->runtime_info;
    api->flags = cfg->flags;
    api->config_yaml = cfg->config_yaml;
    api->head_stats = cfg->head_stats;
    pthread_mutex_init(&api->mu, NULL);
    return api;
}

void tw_query_api_set_engine_options(tw_query_api_t *api, const tw_promql_engine_options_t *o)
{
    pthread_mutex_lock(&api->mu);
    api->engine = *o;
    pthread_mutex_unlock(&api->mu);
}

void tw_query_api_free(tw_query_api_t *api)
{
    if (api == NULL) {
        return;
    }
    free((char *)api->build.version);
    free((char *)api->build.revision);
    free((char *)api->build.branch);
    free((char *)api->build.build_user);
    free((char *)api->build.build_date);
    free((char *)api->build.go_version);
    for (size_t i = 0; i < api->n_ext; i++) {
        free((char *)api->ext[i].name);
        free((char *)api->ext[i].value);
    }
    free(api->ext);
    pthread_mutex_destroy(&api->mu);
    free(api);
}
