/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape_target.c - turning a discovered label set into a scrape target, as Prometheus'
 * PopulateLabels does: the job/interval/timeout/path/scheme defaults, __param_* labels,
 * relabel_configs, the default port, address checks, meta labels removed, instance defaulting
 * to __address__; then the scrape URL, the target hash and the jittered scrape offset.
 *
 * Pure; no clock (now is a parameter).
 */
#include "scrape_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/timeutil.h"

void tw_scrape_target_fini(tw_scrape_target_t *t)
{
    free(t->labels);
    free(t->discovered);
    free(t->url);
    memset(t, 0, sizeof(*t));
}

size_t tw_scrape_target_public_labels(const tw_scrape_target_t *t, tw_label_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nlabels; i++) {
        if (strncmp(t->labels[i].name, "__", 2) != 0) {
            out[n++] = t->labels[i];
        }
    }
    return n;
}

/*
 * Go's net.SplitHostPort outcome: 1 = has a port, 0 = no port but adding one makes it valid,
 * -1 = invalid either way.
 */
static int addr_port_state(const char *s)
{
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL) {
            return -1;
        }
        if (end[1] == '\0') {
            return 0;
        }
        if (end[1] != ':' || strchr(end + 2, ':') != NULL || strchr(end + 2, '[') != NULL ||
            strchr(end + 2, ']') != NULL) {
            return -1;
        }
        return 1;
    }
    const char *c = strchr(s, ':');
    if (c == NULL) {
        return strchr(s, '[') == NULL && strchr(s, ']') == NULL ? 0 : -1;
    }
    if (strchr(c + 1, ':') != NULL || strchr(s, '[') != NULL || strchr(s, ']') != NULL) {
        return -1;
    }
    return 1;
}

static void url_escape(tw_buf_t *b, const char *s, bool query)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != 0; p++) {
        unsigned char c = *p;
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~';
        if (!query && strchr("/:@!$&'()*+,;=", c) != NULL) {
            keep = true;
        }
        if (keep) {
            tw_buf_putc(b, (char)c);
        } else if (query && c == ' ') {
            tw_buf_putc(b, '+');
        } else {
            tw_buf_putc(b, '%');
            tw_buf_putc(b, hex[c >> 4]);
            tw_buf_putc(b, hex[c & 15]);
        }
    }
}

/* One query parameter: name and its values (the first may be overridden by __param_<name>). */
typedef struct qparam {
    const char *name;
    const char *const *values;
    size_t nvalues;
    const char *override;
} qparam_t;

static int qparam_cmp(const void *a, const void *b)
{
    return strcmp(((const qparam_t *)a)->name, ((const qparam_t *)b)->name);
}

/* Target.URL(): config params with __param_* labels replacing (or adding) the first value. */
static char *build_url(const tw_scrape_config_t *cfg, const tw_label_t *l, size_t n)
{
    tw_buf_t b;
    tw_buf_init(&b, 0);
    qparam_t *q = tw_xcalloc(cfg->nparams + n + 1, sizeof(*q));
    size_t nq = 0;
    for (size_t i = 0; i < cfg->nparams; i++) {
        q[nq].name = cfg->params[i].name;
        q[nq].values = (const char *const *)cfg->param_values[i];
        q[nq].nvalues = cfg->nparam_values[i];
        nq++;
    }
    for (size_t i = 0; i < n; i++) {
        if (strncmp(l[i].name, "__param_", 8) != 0) {
            continue;
        }
        const char *k = l[i].name + 8;
        size_t j;
        for (j = 0; j < nq && strcmp(q[j].name, k) != 0; j++) {
        }
        if (j == nq) {
            q[nq++].name = k;
        }
        q[j].override = l[i].value;
    }
    qsort(q, nq, sizeof(*q), qparam_cmp);
    tw_buf_puts(&b, tw_labels_get(l, n, "__scheme__"));
    tw_buf_puts(&b, "://");
    tw_buf_puts(&b, tw_labels_get(l, n, "__address__"));
    const char *path = tw_labels_get(l, n, "__metrics_path__");
    if (path != NULL && path[0] != '\0' && path[0] != '/') {
        tw_buf_putc(&b, '/');
    }
    url_escape(&b, path != NULL ? path : "", false);
    bool first = true;
    for (size_t i = 0; i < nq; i++) {
        size_t nv = q[i].nvalues > 0 ? q[i].nvalues : (q[i].override != NULL ? 1 : 0);
        for (size_t j = 0; j < nv; j++) {
            const char *v = j == 0 && q[i].override != NULL ? q[i].override : q[i].values[j];
            tw_buf_putc(&b, first ? '?' : '&');
            first = false;
            url_escape(&b, q[i].name, true);
            tw_buf_putc(&b, '=');
            url_escape(&b, v, true);
        }
    }
    free(q);
    return tw_buf_steal(&b, NULL);
}

static bool utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != 0) {
        int n = *p < 0x80 ? 0 : (*p >> 5) == 6 ? 1 : (*p >> 4) == 14 ? 2 : (*p >> 3) == 30 ? 3 : -1;
        if (n < 0) {
            return false;
        }
        p++;
        for (int i = 0; i < n; i++, p++) {
            if ((*p & 0xc0) != 0x80) {
                return false;
            }
        }
    }
    return true;
}

int tw_scrape_target_build(const tw_scrape_config_t *cfg, const tw_label_t *disc, size_t ndisc,
                           tw_scrape_target_t *out, tw_error_t *err)
{
    tw_arena_t *a = tw_arena_new(0);
    tw_scrape_lb_t b;
    tw_scrape_lb_init(&b, a);
    tw_label_t *pre = NULL;
    size_t npre = 0;
    int rc = 0;
    char ibuf[32], tbuf[32];
    for (size_t i = 0; i < ndisc; i++) {
        tw_scrape_lb_set(&b, disc[i].name, disc[i].value);
    }
    const char *defs[5][2] = {
        {"job", cfg->job_name},
        {"__scrape_interval__", tw_duration_format(cfg->interval_ms, ibuf, sizeof(ibuf))},
        {"__scrape_timeout__", tw_duration_format(cfg->timeout_ms, tbuf, sizeof(tbuf))},
        {"__metrics_path__", cfg->metrics_path},
        {"__scheme__", cfg->scheme},
    };
    for (size_t i = 0; i < 5; i++) {
        if (tw_scrape_lb_get(&b, defs[i][0])[0] == '\0') {
            tw_scrape_lb_set(&b, defs[i][0], defs[i][1]);
        }
    }
    for (size_t i = 0; i < cfg->nparams; i++) {
        if (cfg->nparam_values[i] > 0) {
            char *name = tw_arena_printf(a, "__param_%s", cfg->params[i].name);
            tw_scrape_lb_set(&b, name, cfg->params[i].value);
        }
    }
    npre = b.n;
    pre = tw_scrape_labels_dup(b.v, b.n);
    if (!tw_scrape_lb_relabel(&b, cfg->relabel)) {
        rc = 0;
        goto out;
    }
    const char *addr = tw_scrape_lb_get(&b, "__address__");
    if (addr[0] == '\0') {
        rc = tw_error_set(err, TW_EINVAL, "no address");
        goto out;
    }
    const char *scheme = tw_scrape_lb_get(&b, "__scheme__");
    int ps = addr_port_state(addr);
    if (ps == 0) {
        const char *port;
        if (strcmp(scheme, "http") == 0 || scheme[0] == '\0') {
            port = ":80";
        } else if (strcmp(scheme, "https") == 0) {
            port = ":443";
        } else {
            rc = tw_error_set(err, TW_EINVAL, "invalid scheme: \"%s\"", cfg->scheme);
            goto out;
        }
        tw_scrape_lb_set(&b, "__address__", tw_arena_printf(a, "%s%s", addr, port));
        addr = tw_scrape_lb_get(&b, "__address__");
    }
    if (strchr(addr, '/') != NULL) {
        rc = tw_error_set(err, TW_EINVAL, "\"%s\" is not a valid hostname", addr);
        goto out;
    }
    int64_t interval = 0, timeout = 0;
    const char *is = tw_scrape_lb_get(&b, "__scrape_interval__");
    const char *ts = tw_scrape_lb_get(&b, "__scrape_timeout__");
    if (tw_duration_parse(is, &interval) != 0) {
        rc = tw_error_set(err, TW_EINVAL,
                          "error parsing scrape interval: not a valid duration "
                          "string: \"%s\"",
                          is);
        goto out;
    }
    if (tw_duration_parse(ts, &timeout) != 0) {
        rc = tw_error_set(err, TW_EINVAL,
                          "error parsing scrape timeout: not a valid duration "
                          "string: \"%s\"",
                          ts);
        goto out;
    }
    if (interval == 0) {
        rc = tw_error_set(err, TW_EINVAL, "scrape interval cannot be 0");
        goto out;
    }
    if (timeout == 0) {
        rc = tw_error_set(err, TW_EINVAL, "scrape timeout cannot be 0");
        goto out;
    }
    if (timeout > interval) {
        rc = tw_error_set(err, TW_EINVAL,
                          "scrape timeout cannot be greater than scrape interval "
                          "(\"%s\" > \"%s\")",
                          ts, is);
        goto out;
    }
    for (size_t i = 0; i < b.n;) {
        if (strncmp(b.v[i].name, "__meta_", 7) == 0) {
            tw_scrape_lb_del(&b, b.v[i].name);
        } else {
            i++;
        }
    }
    if (tw_scrape_lb_get(&b, "instance")[0] == '\0') {
        tw_scrape_lb_set(&b, "instance", addr);
    }
    for (size_t i = 0; i < b.n; i++) {
        if (!utf8_ok(b.v[i].value)) {
            rc = tw_error_set(err, TW_EINVAL, "invalid label value for \"%s\": \"%s\"", b.v[i].name,
                              b.v[i].value);
            goto out;
        }
    }
    tw_scrape_lb_sort(&b);
    memset(out, 0, sizeof(*out));
    out->labels = tw_scrape_labels_dup(b.v, b.n);
    out->nlabels = b.n;
    out->discovered = pre;
    out->ndiscovered = npre;
    pre = NULL;
    out->url = build_url(cfg, out->labels, out->nlabels);
    out->interval_ms = interval;
    out->timeout_ms = timeout;
    char hs[32];
    snprintf(hs, sizeof(hs), "%016llu",
             (unsigned long long)tw_labels_hash(out->labels, out->nlabels));
    uint64_t h = tw_scrape_fnv64a(TW_SCRAPE_FNV64_OFFSET, hs, strlen(hs));
    out->hash = tw_scrape_fnv64a(h, out->url, strlen(out->url));
    rc = 1;
out:
    free(pre);
    tw_scrape_lb_fini(&b);
    tw_arena_free(a);
    return rc;
}

int64_t tw_scrape_target_offset_ms(uint64_t target_hash, uint64_t seed, int64_t interval_ms,
                                   int64_t now_ms)
{
    if (interval_ms <= 0) {
        return 0;
    }
    int64_t rem = now_ms % interval_ms;
    if (rem < 0) {
        rem += interval_ms;
    }
    int64_t base = interval_ms - rem;
    int64_t off = (int64_t)((target_hash ^ seed) % (uint64_t)interval_ms);
    int64_t next = base + off;
    if (next > interval_ms) {
        next -= interval_ms;
    }
    return next;
}

uint64_t tw_scrape_jitter_seed(const char *text)
{
    return tw_scrape_fnv64a(TW_SCRAPE_FNV64_OFFSET, text != NULL ? text : "",
                            text != NULL ? strlen(text) : 0);
}
