/* SPDX-License-Identifier: Apache-2.0 */
/*
 * query_cli.c - `tidewatch query` (see query_cli.h).
 *
 * Both modes end in the same JSON: against a server it is the body of /api/v1/query or
 * /api/v1/query_range fetched with libcurl; against a data dir it is what the query API's
 * tw_query_api_serve() answers over a read-only TSDB. One printer turns that JSON into
 * promtool's text (client_golang's model.Value.String()), so both modes print alike, and an
 * API error becomes promtool's "query error: <errorType>: <error>".
 */
#include "query_cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cli.h"
#include "collector/tsdb/tsdb.h"
#include "common/buf.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "query/query.h"

/* The largest answer read from a server. */
#define QUERY_CLI_MAX_BODY ((size_t)512 * 1024 * 1024)

typedef struct qargs {
    const char *expr;
    const char *time, *start, *end, *step;
    const char *server;
    const char *db_path;
    const char *compat, *lookback, *timeout, *max_samples;
} qargs_t;

static int usage_error(FILE *errout, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(FILE *errout, const char *fmt, ...)
{
    va_list ap;
    fprintf(errout, "tidewatch: error: ");
    va_start(ap, fmt);
    vfprintf(errout, fmt, ap);
    va_end(ap);
    fprintf(errout, "\n\nusage: tidewatch query EXPR [--time=T] [--start=T --end=T --step=D] "
                    "[--server=URL | --storage.tsdb.path=DIR]\n");
    return TW_EXIT_USAGE;
}

static int parse_args(int argc, char *const *argv, qargs_t *a, FILE *errout)
{
    static const struct {
        const char *name;
        size_t off;
    } flags[] = {
        {"--time", offsetof(qargs_t, time)},
        {"--start", offsetof(qargs_t, start)},
        {"--end", offsetof(qargs_t, end)},
        {"--step", offsetof(qargs_t, step)},
        {"--server", offsetof(qargs_t, server)},
        {"--storage.tsdb.path", offsetof(qargs_t, db_path)},
        {"--query.compat", offsetof(qargs_t, compat)},
        {"--query.lookback-delta", offsetof(qargs_t, lookback)},
        {"--query.timeout", offsetof(qargs_t, timeout)},
        {"--query.max-samples", offsetof(qargs_t, max_samples)},
    };
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0') {
            if (a->expr != NULL) {
                return usage_error(errout, "query: unexpected argument \"%s\"", arg);
            }
            a->expr = arg;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t nl = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        size_t f = 0;
        for (; f < sizeof(flags) / sizeof(flags[0]); f++) {
            if (strlen(flags[f].name) == nl && strncmp(arg, flags[f].name, nl) == 0) {
                break;
            }
        }
        if (f == sizeof(flags) / sizeof(flags[0])) {
            return usage_error(errout, "unknown flag %s for query", arg);
        }
        const char *v = eq != NULL ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (v == NULL) {
            return usage_error(errout, "flag %s needs a value", flags[f].name);
        }
        *(const char **)((char *)a + flags[f].off) = v;
    }
    if (a->expr == NULL) {
        return usage_error(errout, "query: needs an expression");
    }
    if (a->server != NULL && a->db_path != NULL) {
        return usage_error(errout, "query: --server and --storage.tsdb.path exclude each other");
    }
    if (a->time != NULL && (a->start != NULL || a->end != NULL || a->step != NULL)) {
        return usage_error(errout, "query: --time is for instant queries; --start, --end and "
                                   "--step for range queries");
    }
    return 0;
}

/* ---- printing (client_golang's model.Value.String()) ------------------------------------ */

/* Go's %q for a label value, close enough for printable UTF-8. */
static void go_quote(tw_buf_t *b, const char *s)
{
    tw_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        switch (*p) {
        case '"':
            tw_buf_puts(b, "\\\"");
            break;
        case '\\':
            tw_buf_puts(b, "\\\\");
            break;
        case '\n':
            tw_buf_puts(b, "\\n");
            break;
        case '\t':
            tw_buf_puts(b, "\\t");
            break;
        case '\r':
            tw_buf_puts(b, "\\r");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                tw_buf_printf(b, "\\x%02x", *p);
            } else {
                tw_buf_putc(b, (char)*p);
            }
        }
    }
    tw_buf_putc(b, '"');
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* model.Metric.String(): `name{a="x", b="y"}`, `name`, or `{}`. */
static void print_metric(tw_buf_t *b, json_t *metric)
{
    size_t n = json_object_size(metric);
    const char **keys = tw_xcalloc(n + 1, sizeof(*keys));
    const char *name = NULL;
    size_t nk = 0;
    const char *k;
    json_t *v;
    json_object_foreach(metric, k, v)
    {
        if (strcmp(k, "__name__") == 0) {
            name = json_string_value(v);
        } else {
            keys[nk++] = k;
        }
    }
    qsort(keys, nk, sizeof(*keys), key_cmp);
    if (nk == 0) {
        tw_buf_puts(b, name != NULL ? name : "{}");
    } else {
        tw_buf_puts(b, name != NULL ? name : "");
        tw_buf_putc(b, '{');
        for (size_t i = 0; i < nk; i++) {
            tw_buf_printf(b, "%s%s=", i > 0 ? ", " : "", keys[i]);
            const char *val = json_string_value(json_object_get(metric, keys[i]));
            go_quote(b, val != NULL ? val : "");
        }
        tw_buf_putc(b, '}');
    }
    free(keys);
}

/* A [ts, "value"] pair as model.SamplePair.String(): "1 @[1700000000.5]". */
static int print_pair(tw_buf_t *b, json_t *pair)
{
    json_t *ts = json_array_get(pair, 0);
    const char *vs = json_string_value(json_array_get(pair, 1));
    if (!json_is_number(ts) || vs == NULL) {
        return TW_EPARSE;
    }
    double v = strtod(vs, NULL);
    if (strcmp(vs, "+Inf") == 0) {
        v = INFINITY;
    } else if (strcmp(vs, "-Inf") == 0) {
        v = -INFINITY;
    } else if (strcmp(vs, "NaN") == 0) {
        v = NAN;
    }
    int64_t ms = llround(json_number_value(ts) * 1000);
    tw_query_api_format_f(v, b);
    tw_buf_puts(b, " @[");
    tw_query_api_format_f((double)ms / 1000, b);
    tw_buf_putc(b, ']');
    return 0;
}

/* Prints the "data" of a successful query answer. */
static int print_data(json_t *data, FILE *out)
{
    const char *type = json_string_value(json_object_get(data, "resultType"));
    json_t *result = json_object_get(data, "result");
    tw_buf_t b;
    int rc = 0;
    if (type == NULL || result == NULL) {
        return TW_EPARSE;
    }
    tw_buf_init(&b, 0);
    if (strcmp(type, "scalar") == 0) {
        tw_buf_puts(&b, "scalar: ");
        rc = print_pair(&b, result);
    } else if (strcmp(type, "string") == 0) {
        const char *s = json_string_value(json_array_get(result, 1));
        go_quote(&b, s != NULL ? s : "");
    } else {
        bool vec = strcmp(type, "vector") == 0;
        size_t i;
        json_t *e;
        json_array_foreach(result, i, e)
        {
            if (i > 0) {
                tw_buf_putc(&b, '\n');
            }
            print_metric(&b, json_object_get(e, "metric"));
            if (vec) {
                tw_buf_puts(&b, " => ");
                rc |= print_pair(&b, json_object_get(e, "value"));
                continue;
            }
            tw_buf_puts(&b, " =>");
            size_t k;
            json_t *p;
            json_array_foreach(json_object_get(e, "values"), k, p)
            {
                tw_buf_putc(&b, '\n');
                rc |= print_pair(&b, p);
            }
        }
    }
    if (rc == 0) {
        fprintf(out, "%s\n", b.data != NULL ? b.data : "");
    }
    tw_buf_fini(&b);
    return rc;
}

/* Prints an API answer; returns the exit code. */
static int print_answer(const char *body, size_t len, const char *source, FILE *out, FILE *errout)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    int status = TW_EXIT_OK;
    if (root == NULL) {
        fprintf(errout, "query error: %s: not a Prometheus API answer: %s\n", source, jerr.text);
        return TW_EXIT_FAILURE;
    }
    const char *st = json_string_value(json_object_get(root, "status"));
    if (st != NULL && strcmp(st, "success") == 0) {
        if (print_data(json_object_get(root, "data"), out) != 0) {
            fprintf(errout, "query error: %s: malformed result\n", source);
            status = TW_EXIT_FAILURE;
        }
    } else {
        const char *et = json_string_value(json_object_get(root, "errorType"));
        const char *e = json_string_value(json_object_get(root, "error"));
        fprintf(errout, "query error: %s: %s\n", et != NULL ? et : "error", e != NULL ? e : "");
        status = TW_EXIT_FAILURE;
    }
    json_decref(root);
    return status;
}

/* ---- the two modes ------------------------------------------------------------------------ */

/* Fills the API parameters of the query (range when start, end or step is set). */
static size_t build_params(const qargs_t *a, tw_query_api_param_t *ps, bool *range, char *start,
                           char *end, char *step, size_t bufsz, FILE *errout, int *rc)
{
    size_t n = 0;
    *rc = 0;
    ps[n++] = (tw_query_api_param_t){"query", a->expr};
    *range = a->start != NULL || a->end != NULL || a->step != NULL;
    if (!*range) {
        if (a->time != NULL) {
            ps[n++] = (tw_query_api_param_t){"time", a->time};
        }
        return n;
    }
    /* promtool: end defaults to now, start to end - 5m, step to (end - start) / 250 s. */
    tw_error_t err;
    int64_t e_ms = tw_now_ms(), s_ms;
    if (a->end != NULL && tw_query_api_parse_time(a->end, &e_ms, &err) != 0) {
        fprintf(errout, "error parsing end time: %s\n", err.msg);
        *rc = TW_EXIT_FAILURE;
        return 0;
    }
    s_ms = e_ms - 5 * 60 * 1000;
    if (a->start != NULL && tw_query_api_parse_time(a->start, &s_ms, &err) != 0) {
        fprintf(errout, "error parsing start time: %s\n", err.msg);
        *rc = TW_EXIT_FAILURE;
        return 0;
    }
    snprintf(start, bufsz, "%.3f", (double)s_ms / 1000);
    snprintf(end, bufsz, "%.3f", (double)e_ms / 1000);
    if (a->step != NULL) {
        tw_strlcpy(step, a->step, bufsz);
    } else {
        double res = floor((double)(e_ms - s_ms) / 1000 / 250);
        snprintf(step, bufsz, "%.0f", res < 1 ? 1 : res);
    }
    ps[n++] = (tw_query_api_param_t){"start", start};
    ps[n++] = (tw_query_api_param_t){"end", end};
    ps[n++] = (tw_query_api_param_t){"step", step};
    return n;
}

static size_t curl_write(char *p, size_t size, size_t nmemb, void *ud)
{
    tw_buf_t *b = ud;
    return tw_buf_append(b, p, size * nmemb) == 0 ? size * nmemb : 0;
}

static int run_server(const qargs_t *a, const tw_query_api_param_t *ps, size_t n, bool range,
                      FILE *out, FILE *errout)
{
    const char *server = a->server != NULL ? a->server : "http://127.0.0.1:9475";
    tw_buf_t url, body, form;
    int status = TW_EXIT_FAILURE;
    CURL *c = NULL;
    tw_buf_init(&url, 0);
    tw_buf_init(&body, QUERY_CLI_MAX_BODY);
    tw_buf_init(&form, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    c = curl_easy_init();
    if (c == NULL) {
        fprintf(errout, "query error: cannot initialize libcurl\n");
        goto out;
    }
    size_t sl = strlen(server);
    tw_buf_append(&url, server, sl > 0 && server[sl - 1] == '/' ? sl - 1 : sl);
    tw_buf_puts(&url, range ? "/api/v1/query_range" : "/api/v1/query");
    for (size_t i = 0; i < n; i++) {
        char *esc = curl_easy_escape(c, ps[i].value, 0);
        tw_buf_printf(&form, "%s%s=%s", i > 0 ? "&" : "", ps[i].name, esc != NULL ? esc : "");
        curl_free(esc);
    }
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form.data);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tidewatch-query");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        fprintf(errout, "query error: Post \"%s\": %s\n", url.data, curl_easy_strerror(cc));
        goto out;
    }
    status = print_answer(body.data != NULL ? body.data : "", body.len, url.data, out, errout);
out:
    curl_easy_cleanup(c);
    curl_global_cleanup();
    tw_buf_fini(&url);
    tw_buf_fini(&body);
    tw_buf_fini(&form);
    return status;
}

/* Engine settings from the --query.* flags (through the config overrides' checks). */
static int engine_flags(const qargs_t *a, tw_promql_engine_options_t *eo, FILE *errout)
{
    memset(eo, 0, sizeof(*eo));
    if (a->compat != NULL) {
        if (strcmp(a->compat, "prometheus2") == 0) {
            eo->compat = TW_PROMQL_COMPAT_PROMETHEUS2;
        } else if (strcmp(a->compat, "prometheus3") != 0) {
            return usage_error(errout,
                               "--query.compat: invalid value \"%s\" (expected prometheus3 or "
                               "prometheus2)",
                               a->compat);
        }
    }
    const char *const names[] = {"--query.lookback-delta", "--query.timeout"};
    const char *const vals[] = {a->lookback, a->timeout};
    int64_t *const outs[] = {&eo->lookback_delta_ms, &eo->timeout_ms};
    for (size_t i = 0; i < 2; i++) {
        if (vals[i] != NULL && (tw_duration_parse(vals[i], outs[i]) != 0 || *outs[i] <= 0)) {
            fprintf(errout, "tidewatch: error: %s: invalid duration \"%s\"\n", names[i], vals[i]);
            return TW_EXIT_USAGE;
        }
    }
    if (a->max_samples != NULL) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(a->max_samples, &end, 10);
        if (*end != '\0' || errno != 0 || v == 0 || a->max_samples[0] == '-') {
            return usage_error(errout, "--query.max-samples: invalid value \"%s\"", a->max_samples);
        }
        eo->max_samples = (size_t)v;
    }
    return 0;
}

static int run_local(const qargs_t *a, const tw_query_api_param_t *ps, size_t n, bool range,
                     FILE *out, FILE *errout)
{
    tw_promql_engine_options_t eo;
    int status = engine_flags(a, &eo, errout);
    if (status != 0) {
        return status;
    }
    /* The daemon holds an exclusive lock on <dir>/lock while it runs. */
    size_t pl = strlen(a->db_path) + sizeof("/lock");
    char *lock = tw_xmalloc(pl);
    snprintf(lock, pl, "%s/lock", a->db_path);
    int fd = open(lock, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) != 0) {
        fprintf(errout,
                "query error: %s is locked by a running tidewatch: query it with --server "
                "instead\n",
                lock);
        close(fd);
        free(lock);
        return TW_EXIT_FAILURE;
    }
    free(lock);

    tw_tsdb_options_t o;
    tw_tsdb_t *db = NULL;
    tw_error_t err;
    tw_tsdb_options_default(&o);
    o.path = a->db_path;
    o.read_only = true;
    o.compact_interval_ms = 0;
    o.retention_time_ms = 0;
    tw_error_clear(&err);
    if (tw_tsdb_open(&o, &db, &err) != 0) {
        char msg[sizeof(err.msg) + sizeof(err.file) + 32];
        fprintf(errout, "query error: %s\n", tw_error_format(&err, msg, sizeof(msg)));
        status = TW_EXIT_FAILURE;
        goto out;
    }
    tw_query_api_config_t ac = {.engine = eo};
    tw_promql_storage_tsdb(db, &ac.storage);
    tw_query_api_t *api = tw_query_api_new(&ac);
    tw_http_response_t resp = {.status = 200};
    tw_buf_init(&resp.body, 0);
    (void)tw_query_api_serve(api, "GET", range ? "/api/v1/query_range" : "/api/v1/query", ps, n,
                             &resp);
    status = print_answer(resp.body.data != NULL ? resp.body.data : "", resp.body.len, a->db_path,
                          out, errout);
    tw_buf_fini(&resp.body);
    tw_query_api_free(api);
out:
    tw_tsdb_close(db);
    if (fd >= 0) {
        close(fd);
    }
    return status;
}

int tw_query_cli_main(int argc, char *const *argv, FILE *out, FILE *errout)
{
    qargs_t a;
    tw_query_api_param_t ps[8];
    char start[64], end[64], step[128];
    bool range = false;
    int rc = parse_args(argc, argv, &a, errout);
    if (rc != 0) {
        return rc;
    }
    size_t n = build_params(&a, ps, &range, start, end, step, sizeof(start), errout, &rc);
    if (rc != 0) {
        return rc;
    }
    if (a.db_path != NULL) {
        return run_local(&a, ps, n, range, out, errout);
    }
    return run_server(&a, ps, n, range, out, errout);
}
