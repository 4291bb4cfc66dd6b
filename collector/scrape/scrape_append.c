/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape_append.c - what happens to a scrape body once it has been fetched: parsing, target
 * labels, metric relabeling, limits, the sink transaction, staleness markers and the report
 * series. This is Prometheus' scrapeLoop.append/report/endOfRunStaleness, kept free of I/O and
 * clocks so that tests can drive it with bodies, times and a recording sink.
 *
 * How it works: every target keeps
 *   - a series cache: the series as written in the exposition (name + labels, length-prefixed)
 *     -> its final label set after target labels and metric_relabel_configs (or "dropped"), so
 *     relabeling runs once per series, not once per scrape; entries not seen in a successful
 *     scrape are flushed;
 *   - two staleness sets, prev and cur, of final label sets (encoded "name\0value\0...") of the
 *     samples appended without an explicit timestamp. After a successful scrape, each series in
 *     prev but not in cur gets a stale NaN at the scrape's timestamp, then cur becomes prev.
 * A failed scrape (transport error, bad body, sample_limit or label limit exceeded, a storage
 * error) rolls its samples back and, in a second transaction, writes stale markers for all of
 * prev and the report series with up=0; prev is then empty, so a target that comes back starts
 * from scratch. Storage rejections of single samples (out of order, duplicate timestamp, too
 * old) are counted and skipped, like Prometheus' checkAddError, and do not fail the scrape.
 *
 * Thread model: a state belongs to one target's loop (the manager thread).
 */
#include "scrape_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/expfmt/expfmt.h"
#include "common/mem.h"

/* A cache entry's value: the encoded final label set, or dropped. */
typedef struct cache_val {
    uint64_t iter;
    bool dropped;
    size_t len;
    char enc[]; /* "name\0value\0..." */
} cache_val_t;

void tw_scrape_state_init(tw_scrape_state_t *s)
{
    memset(s, 0, sizeof(*s));
    tw_scrape_ht_init(&s->cache);
    tw_scrape_ht_init(&s->prev);
    tw_scrape_ht_init(&s->cur);
    s->arena = tw_arena_new(0);
}

void tw_scrape_state_fini(tw_scrape_state_t *s)
{
    tw_scrape_ht_fini(&s->cache, free);
    tw_scrape_ht_fini(&s->prev, NULL);
    tw_scrape_ht_fini(&s->cur, NULL);
    tw_arena_free(s->arena);
    memset(s, 0, sizeof(*s));
}

void tw_scrape_state_reset_cache(tw_scrape_state_t *s)
{
    tw_scrape_ht_fini(&s->cache, free);
    tw_scrape_ht_init(&s->cache);
}

/* Removes cache entries not seen in iteration iter. */
static void cache_flush(tw_scrape_state_t *s, uint64_t iter)
{
    tw_scrape_ht_t nh;
    tw_scrape_ht_init(&nh);
    for (size_t i = 0; i < s->cache.cap; i++) {
        tw_scrape_ht_entry_t *e = &s->cache.slots[i];
        if (e->key == NULL) {
            continue;
        }
        cache_val_t *v = e->val;
        if (v->iter == iter) {
            bool created;
            tw_scrape_ht_put(&nh, e->key, e->klen, &created)->val = v;
        } else {
            free(v);
        }
        free(e->key);
    }
    free(s->cache.slots);
    s->cache = nh;
}

/* Maps a sink error to the counters that do not fail a scrape. */
static bool soft_error(int rc, tw_scrape_result_t *res)
{
    switch (rc) {
    case TW_EOUTOFORDER:
        res->out_of_order++;
        return true;
    case TW_EDUPLICATE:
        res->duplicates++;
        return true;
    case TW_ETOOOLD:
        res->out_of_bounds++;
        return true;
    default:
        return false;
    }
}

#define MAX_DECODED 512

/* Appends a stale NaN for each series of prev missing from cur (cur may be NULL: all). */
static int append_stale(tw_scrape_state_t *s, const tw_sink_t *sink, void *txn, int64_t t_ms,
                        const tw_scrape_ht_t *cur, char *errbuf, size_t errsz)
{
    tw_label_t l[MAX_DECODED];
    for (size_t i = 0; i < s->prev.cap; i++) {
        const tw_scrape_ht_entry_t *e = &s->prev.slots[i];
        if (e->key == NULL || (cur != NULL && tw_scrape_ht_get(cur, e->key, e->klen) != NULL)) {
            continue;
        }
        size_t n = tw_scrape_lset_decode(e->key, e->klen, l, MAX_DECODED);
        tw_error_t err;
        tw_error_clear(&err);
        int rc = sink->append(txn, l, n, t_ms, tw_scrape_stale_nan(), &err);
        if (rc != 0 && rc != TW_EOUTOFORDER && rc != TW_EDUPLICATE) {
            snprintf(errbuf, errsz, "appending stale marker: %s", err.msg);
            return rc;
        }
    }
    return 0;
}

static const char *const report_names[5] = {
    "up", "scrape_duration_seconds", "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling", "scrape_series_added"};

static int append_report(const tw_scrape_append_ctx_t *ctx, const tw_sink_t *sink, void *txn,
                         int64_t t_ms, const double vals[5], char *errbuf, size_t errsz)
{
    size_t n = ctx->ntarget_labels + 1;
    tw_label_t *l = tw_xmalloc(n * sizeof(*l));
    int rc = 0;
    for (size_t r = 0; r < 5 && rc == 0; r++) {
        l[0].name = TW_METRIC_NAME_LABEL;
        l[0].value = report_names[r];
        memcpy(l + 1, ctx->target_labels, ctx->ntarget_labels * sizeof(*l));
        tw_labels_sort(l, n);
        tw_error_t err;
        tw_error_clear(&err);
        rc = sink->append(txn, l, n, t_ms, vals[r], &err);
        if (rc == TW_EOUTOFORDER || rc == TW_EDUPLICATE) {
            rc = 0;
        } else if (rc != 0) {
            snprintf(errbuf, errsz, "appending %s: %.200s", report_names[r], err.msg);
        }
    }
    free(l);
    return rc;
}

/* Length-prefixed raw key of a parsed series. */
static void raw_key(const tw_expfmt_entry_t *e, tw_buf_t *k)
{
    uint32_t n = (uint32_t)e->name.len;
    tw_buf_append(k, &n, sizeof(n));
    tw_buf_append(k, e->name.p, e->name.len);
    for (size_t i = 0; i < e->nlabels; i++) {
        n = (uint32_t)e->labels[i].name.len;
        tw_buf_append(k, &n, sizeof(n));
        tw_buf_append(k, e->labels[i].name.p, n);
        n = (uint32_t)e->labels[i].value.len;
        tw_buf_append(k, &n, sizeof(n));
        tw_buf_append(k, e->labels[i].value.p, n);
    }
}

static size_t utf8_runes(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != 0; p++) {
        if ((*p & 0xc0) != 0x80) {
            n++;
        }
    }
    return n;
}

/* verifyLabelLimits. Returns true when within limits, else fills errbuf. */
static bool check_label_limits(const tw_scrape_config_t *cfg, const tw_label_t *l, size_t n,
                               char *errbuf, size_t errsz)
{
    const char *met = tw_labels_get(l, n, TW_METRIC_NAME_LABEL);
    if (cfg->label_limit > 0 && n > cfg->label_limit) {
        snprintf(errbuf, errsz,
                 "label_limit exceeded (metric: %.50s, number of labels: %zu, "
                 "limit: %llu)",
                 met, n, (unsigned long long)cfg->label_limit);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(l[i].name);
        if (cfg->label_name_length_limit > 0 && nl > cfg->label_name_length_limit) {
            snprintf(errbuf, errsz,
                     "label_name_length_limit exceeded (metric: %.50s, label "
                     "name: %.50s, length: %zu, limit: %llu)",
                     met, l[i].name, nl, (unsigned long long)cfg->label_name_length_limit);
            return false;
        }
        size_t vl = utf8_runes(l[i].value);
        if (cfg->label_value_length_limit > 0 && vl > cfg->label_value_length_limit) {
            snprintf(errbuf, errsz,
                     "label_value_length_limit exceeded (metric: %.50s, label "
                     "name: %.50s, value: \"%.50s\", length: %zu, limit: %llu)",
                     met, l[i].name, l[i].value, vl,
                     (unsigned long long)cfg->label_value_length_limit);
            return false;
        }
    }
    return true;
}

/* mutateSampleLabels + metric relabeling. Returns false when dropped. */
static bool mutate(const tw_scrape_append_ctx_t *ctx, tw_scrape_lb_t *b)
{
    if (ctx->cfg->honor_labels) {
        for (size_t i = 0; i < ctx->ntarget_labels; i++) {
            if (tw_scrape_lb_get(b, ctx->target_labels[i].name)[0] == '\0') {
                tw_scrape_lb_set(b, ctx->target_labels[i].name, ctx->target_labels[i].value);
            }
        }
    } else {
        tw_label_t conflicts[64];
        size_t nc = 0;
        for (size_t i = 0; i < ctx->ntarget_labels; i++) {
            const char *ex = tw_scrape_lb_get(b, ctx->target_labels[i].name);
            if (ex[0] != '\0' && nc < 64) {
                conflicts[nc].name = ctx->target_labels[i].name;
                conflicts[nc].value = ex;
                nc++;
            }
            tw_scrape_lb_set(b, ctx->target_labels[i].name, ctx->target_labels[i].value);
        }
        /* resolveConflictingExposedLabels: shortest names first (stable). */
        for (size_t i = 1; i < nc; i++) {
            tw_label_t x = conflicts[i];
            size_t j = i;
            while (j > 0 && strlen(conflicts[j - 1].name) > strlen(x.name)) {
                conflicts[j] = conflicts[j - 1];
                j--;
            }
            conflicts[j] = x;
        }
        for (size_t i = 0; i < nc; i++) {
            char *name = tw_arena_strdup(b->a, conflicts[i].name);
            for (;;) {
                name = tw_arena_printf(b->a, "exported_%s", name);
                if (tw_scrape_lb_get(b, name)[0] == '\0') {
                    tw_scrape_lb_set(b, name, conflicts[i].value);
                    break;
                }
            }
        }
    }
    return tw_scrape_lb_relabel(b, ctx->cfg->metric_relabel);
}

static bool lset_valid(const tw_label_t *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(l[i].name, TW_METRIC_NAME_LABEL) == 0) {
            if (!tw_metric_name_valid(l[i].value)) {
                return false;
            }
        } else if (!tw_label_name_valid(l[i].name)) {
            return false;
        }
    }
    return true;
}

static void clear_set(tw_scrape_ht_t *h)
{
    tw_scrape_ht_fini(h, NULL);
    tw_scrape_ht_init(h);
}

/* The body part of one scrape. Returns 0 or a negative code with errbuf filled. */
static int append_body(tw_scrape_state_t *s, const tw_scrape_append_ctx_t *ctx,
                       const tw_sink_t *sink, void *txn, const char *body, size_t len,
                       const char *content_type, int64_t t_ms, uint64_t iter,
                       tw_scrape_result_t *res, char *errbuf, size_t errsz)
{
    tw_expfmt_parse_options_t po = {0};
    po.format =
        content_type != NULL && strncmp(content_type, "application/openmetrics-text", 28) == 0
            ? TW_EXPFMT_OPENMETRICS_1_0_0
            : TW_EXPFMT_TEXT_0_0_4;
    po.lenient = true;
    tw_expfmt_parser_t *p = tw_expfmt_parser_new(body, len, &po);
    tw_buf_t key, enc;
    tw_buf_init(&key, 0);
    tw_buf_init(&enc, 0);
    tw_scrape_lb_t b;
    tw_scrape_lb_init(&b, s->arena);
    tw_label_t dec[MAX_DECODED];
    uint64_t counted = 0;
    int rc = 0;
    for (;;) {
        tw_expfmt_entry_t e;
        tw_error_t perr;
        tw_error_clear(&perr);
        int prc = tw_expfmt_parser_next(p, &e, &perr);
        if (prc == 0) {
            break;
        }
        if (prc < 0) {
            char fb[600];
            snprintf(errbuf, errsz, "%s", tw_error_format(&perr, fb, sizeof(fb)));
            rc = prc;
            break;
        }
        if (e.kind != TW_EXPFMT_ENTRY_SERIES) {
            continue;
        }
        res->total++;
        bool explicit_ts = ctx->cfg->honor_timestamps && e.has_timestamp;
        int64_t t = explicit_ts ? e.timestamp_ms : t_ms;
        tw_buf_reset(&key);
        raw_key(&e, &key);
        bool created = false;
        tw_scrape_ht_entry_t *ce = tw_scrape_ht_put(&s->cache, key.data, key.len, &created);
        if (created) {
            tw_scrape_lb_reset(&b);
            tw_scrape_lb_set(&b, TW_METRIC_NAME_LABEL,
                             tw_arena_strndup(s->arena, e.name.p, e.name.len));
            for (size_t i = 0; i < e.nlabels; i++) {
                tw_scrape_lb_set(
                    &b, tw_arena_strndup(s->arena, e.labels[i].name.p, e.labels[i].name.len),
                    tw_arena_strndup(s->arena, e.labels[i].value.p, e.labels[i].value.len));
            }
            bool keep = mutate(ctx, &b);
            cache_val_t *cv;
            if (!keep || b.n == 0) {
                cv = tw_xcalloc(1, sizeof(*cv));
                cv->dropped = true;
            } else {
                tw_scrape_lb_sort(&b);
                if (tw_labels_get(b.v, b.n, TW_METRIC_NAME_LABEL) == NULL) {
                    snprintf(errbuf, errsz, "__name__ label is missing");
                    rc = TW_EINVAL;
                } else if (!lset_valid(b.v, b.n) || b.n > MAX_DECODED) {
                    snprintf(errbuf, errsz, "invalid metric name or label names: %.80s%s",
                             tw_labels_get(b.v, b.n, TW_METRIC_NAME_LABEL),
                             b.n > MAX_DECODED ? " (too many labels)" : "");
                    rc = TW_EINVAL;
                } else if (!check_label_limits(ctx->cfg, b.v, b.n, errbuf, errsz)) {
                    res->label_limits_exceeded = true;
                    rc = TW_ELIMIT;
                }
                if (rc != 0) {
                    /* Not cached: the scrape fails and the next one reports it again. */
                    tw_scrape_state_reset_cache(s);
                    break;
                }
                tw_buf_reset(&enc);
                tw_scrape_lset_encode(b.v, b.n, &enc);
                cv = tw_xmalloc(sizeof(*cv) + enc.len + 1);
                cv->dropped = false;
                cv->len = enc.len;
                memcpy(cv->enc, enc.data, enc.len + 1);
            }
            ce->val = cv;
        }
        cache_val_t *cv = ce->val;
        cv->iter = iter;
        if (cv->dropped) {
            continue;
        }
        if (!explicit_ts && tw_scrape_ht_get(&s->cur, cv->enc, cv->len) != NULL) {
            res->duplicates++; /* the same series twice in one scrape */
            res->added++;
            continue;
        }
        if (ctx->cfg->sample_limit > 0 && !tw_scrape_is_stale_nan(e.value)) {
            counted++;
            if (counted > ctx->cfg->sample_limit) {
                res->sample_limit_exceeded = true;
                res->added++;
                continue;
            }
        }
        size_t n = tw_scrape_lset_decode(cv->enc, cv->len, dec, MAX_DECODED);
        tw_error_t aerr;
        tw_error_clear(&aerr);
        int arc = sink->append(txn, dec, n, t, e.value, &aerr);
        bool added_ok = arc == 0;
        if (arc != 0 && !soft_error(arc, res)) {
            snprintf(errbuf, errsz, "%s", aerr.msg[0] != '\0' ? aerr.msg : tw_strerror(arc));
            rc = arc;
            break;
        }
        if (added_ok) {
            if (!explicit_ts) {
                bool c2;
                tw_scrape_ht_put(&s->cur, cv->enc, cv->len, &c2);
            }
            if (created && !res->sample_limit_exceeded) {
                res->series_added++;
            }
        }
        res->added++;
    }
    if (rc == 0 && res->sample_limit_exceeded) {
        snprintf(errbuf, errsz, "sample limit exceeded");
        rc = TW_ELIMIT;
    }
    tw_scrape_lb_fini(&b);
    tw_buf_fini(&key);
    tw_buf_fini(&enc);
    tw_expfmt_parser_free(p);
    return rc;
}

int tw_scrape_append(tw_scrape_state_t *s, const tw_scrape_append_ctx_t *ctx, const tw_sink_t *sink,
                     const char *body, size_t len, const char *content_type, const char *scrape_err,
                     int64_t t_ms, double duration_s, tw_scrape_result_t *res, char *errbuf,
                     size_t errsz)
{
    void *txn = NULL;
    int rc;
    memset(res, 0, sizeof(*res));
    errbuf[0] = '\0';
    tw_arena_reset(s->arena);
    clear_set(&s->cur);
    uint64_t iter = ++s->iter;
    bool failed = scrape_err != NULL;
    if (failed) {
        snprintf(errbuf, errsz, "%s", scrape_err);
    }
    rc = sink->begin(sink->ctx, &txn);
    if (rc != 0) {
        snprintf(errbuf, errsz, "cannot begin a transaction: %s", tw_strerror(rc));
        return rc;
    }
    if (!failed && len > 0) {
        rc =
            append_body(s, ctx, sink, txn, body, len, content_type, t_ms, iter, res, errbuf, errsz);
        if (rc == 0) {
            rc = append_stale(s, sink, txn, t_ms, &s->cur, errbuf, errsz);
        }
        if (rc == 0) {
            tw_scrape_ht_t tmp = s->prev;
            s->prev = s->cur;
            s->cur = tmp;
            clear_set(&s->cur);
            cache_flush(s, iter);
        } else {
            failed = true;
            sink->rollback(txn);
            txn = NULL;
            clear_set(&s->cur);
            rc = sink->begin(sink->ctx, &txn);
            if (rc != 0) {
                return rc;
            }
        }
    }
    if (failed || len == 0) {
        /* An empty or failed scrape: everything from the last one goes stale. */
        char eb[256];
        rc = append_stale(s, sink, txn, t_ms, NULL, eb, sizeof(eb));
        if (rc != 0) {
            goto fail;
        }
        clear_set(&s->prev);
    }
    double vals[5] = {failed ? 0.0 : 1.0, duration_s, (double)res->total, (double)res->added,
                      (double)res->series_added};
    char eb[256];
    rc = append_report(ctx, sink, txn, t_ms, vals, eb, sizeof(eb));
    if (rc != 0) {
        goto fail;
    }
    s->reported = true;
    tw_error_t cerr;
    tw_error_clear(&cerr);
    rc = sink->commit(txn, &cerr);
    txn = NULL;
    if (rc != 0 && errbuf[0] == '\0') {
        snprintf(errbuf, errsz, "commit: %s", cerr.msg);
    }
    return rc;
fail:
    if (errbuf[0] == '\0') {
        snprintf(errbuf, errsz, "%s", eb);
    }
    sink->rollback(txn);
    return rc;
}

int tw_scrape_append_end_of_run(tw_scrape_state_t *s, const tw_scrape_append_ctx_t *ctx,
                                const tw_sink_t *sink, int64_t t_ms)
{
    void *txn = NULL;
    char eb[256];
    int rc = sink->begin(sink->ctx, &txn);
    if (rc != 0) {
        return rc;
    }
    rc = append_stale(s, sink, txn, t_ms, NULL, eb, sizeof(eb));
    if (rc == 0 && s->reported) {
        double st = tw_scrape_stale_nan();
        double vals[5] = {st, st, st, st, st};
        rc = append_report(ctx, sink, txn, t_ms, vals, eb, sizeof(eb));
    }
    if (rc != 0) {
        sink->rollback(txn);
        return rc;
    }
    clear_set(&s->prev);
    return sink->commit(txn, NULL);
}
