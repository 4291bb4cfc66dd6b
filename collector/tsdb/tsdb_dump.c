/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsdb_dump.c - `tidewatch tsdb dump` and `tidewatch tsdb analyze`: read a data directory that
 * no daemon holds (checked with a shared flock on <path>/lock), load its blocks and replay its WAL
 * read-only (analyze reports the newest block, like promtool, or the head when there is none), and
 * print what promtool tsdb dump / analyze print, in their exact formats (Go's labels.String(),
 * %g and time.Duration.String()). Single-threaded; the output stream is the caller's.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "collector/tsdb/tsdb_int.h"
#include "common/mem.h"

/* ---- Go formatting ---- */

/* Decodes one UTF-8 rune at p (n bytes left); returns its length, 0 when invalid. */
static size_t utf8_rune(const unsigned char *p, size_t n, uint32_t *r)
{
    if (p[0] < 0x80) {
        *r = p[0];
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if ((p[0] & 0xe0) == 0xc0) {
        len = 2;
        v = p[0] & 0x1f;
        min = 0x80;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3;
        v = p[0] & 0x0f;
        min = 0x800;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4;
        v = p[0] & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        v = (v << 6) | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
        return 0;
    }
    *r = v;
    return len;
}

/* Go's strconv.IsPrint for the runes label values realistically contain. */
static bool go_printable(uint32_t r)
{
    if (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xad) {
        return false;
    }
    if ((r >= 0x200b && r <= 0x200f) || (r >= 0x2028 && r <= 0x202e) ||
        (r >= 0x2060 && r <= 0x206f) || r == 0xfeff || (r >= 0xfff9 && r <= 0xfffb) ||
        r == 0xfffe || r == 0xffff) {
        return false;
    }
    return true;
}

/* Appends s quoted like Go's strconv.Quote. */
static int go_quote(tw_buf_t *b, const char *s)
{
    int rc = tw_buf_putc(b, '"');
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    while (n > 0) {
        uint32_t r;
        size_t len = utf8_rune(p, n, &r);
        if (len == 0) {
            rc |= tw_buf_printf(b, "\\x%02x", p[0]);
            p++;
            n--;
            continue;
        }
        switch (r) {
        case '"':
            rc |= tw_buf_puts(b, "\\\"");
            break;
        case '\\':
            rc |= tw_buf_puts(b, "\\\\");
            break;
        case '\a':
            rc |= tw_buf_puts(b, "\\a");
            break;
        case '\b':
            rc |= tw_buf_puts(b, "\\b");
            break;
        case '\f':
            rc |= tw_buf_puts(b, "\\f");
            break;
        case '\n':
            rc |= tw_buf_puts(b, "\\n");
            break;
        case '\r':
            rc |= tw_buf_puts(b, "\\r");
            break;
        case '\t':
            rc |= tw_buf_puts(b, "\\t");
            break;
        case '\v':
            rc |= tw_buf_puts(b, "\\v");
            break;
        default:
            if (go_printable(r)) {
                rc |= tw_buf_append(b, p, len);
            } else if (r < 0x80) {
                rc |= tw_buf_printf(b, "\\x%02x", (unsigned)r);
            } else if (r < 0x10000) {
                rc |= tw_buf_printf(b, "\\u%04x", (unsigned)r);
            } else {
                rc |= tw_buf_printf(b, "\\U%08x", (unsigned)r);
            }
        }
        p += len;
        n -= len;
    }
    rc |= tw_buf_putc(b, '"');
    return rc != 0 ? TW_ELIMIT : 0;
}

int tsdb_labels_format(tw_buf_t *b, const tw_label_t *l, size_t n)
{
    int rc = tw_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            rc |= tw_buf_puts(b, ", ");
        }
        rc |= tw_buf_puts(b, l[i].name);
        rc |= tw_buf_putc(b, '=');
        rc |= go_quote(b, l[i].value);
    }
    rc |= tw_buf_putc(b, '}');
    return rc != 0 ? TW_ELIMIT : 0;
}

/* Formats v as Go's fmt "%g" (shortest representation) into out (>= 32 bytes). */
static void go_g(double v, char *out, size_t outsz)
{
    if (isnan(v)) {
        snprintf(out, outsz, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, outsz, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    bool neg = signbit(v) != 0;
    double a = fabs(v);
    if (a == 0) {
        snprintf(out, outsz, neg ? "-0" : "0");
        return;
    }
    char tmp[64];
    int p;
    for (p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof(tmp), "%.*e", p - 1, a);
        if (strtod(tmp, NULL) == a) {
            break;
        }
    }
    /* tmp = d[.ddd]e±XX */
    char digs[32];
    size_t nd = 0;
    const char *q = tmp;
    for (; *q != 'e'; q++) {
        if (*q >= '0' && *q <= '9' && nd < sizeof(digs) - 1) {
            digs[nd++] = *q;
        }
    }
    long e = strtol(q + 1, NULL, 10);
    while (nd > 1 && digs[nd - 1] == '0') {
        nd--;
    }
    digs[nd] = '\0';
    long dp = e + 1;
    long exp = dp - 1;
    tw_buf_t b;
    tw_buf_init(&b, 0);
    if (neg) {
        tw_buf_putc(&b, '-');
    }
    if (exp < -4 || exp >= 6) {
        tw_buf_putc(&b, digs[0]);
        if (nd > 1) {
            tw_buf_putc(&b, '.');
            tw_buf_append(&b, digs + 1, nd - 1);
        }
        tw_buf_printf(&b, "e%c%02ld", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (dp <= 0) {
        tw_buf_puts(&b, "0.");
        for (long i = 0; i < -dp; i++) {
            tw_buf_putc(&b, '0');
        }
        tw_buf_append(&b, digs, nd);
    } else if ((size_t)dp >= nd) {
        tw_buf_append(&b, digs, nd);
        for (size_t i = nd; i < (size_t)dp; i++) {
            tw_buf_putc(&b, '0');
        }
    } else {
        tw_buf_append(&b, digs, (size_t)dp);
        tw_buf_putc(&b, '.');
        tw_buf_append(&b, digs + dp, nd - (size_t)dp);
    }
    tw_strlcpy(out, b.data, outsz);
    tw_buf_fini(&b);
}

/* Go's time.Duration.String() for a duration in milliseconds. */
static void go_duration_ms(int64_t ms, char *out, size_t outsz)
{
    if (ms == 0) {
        snprintf(out, outsz, "0s");
        return;
    }
    const char *sign = ms < 0 ? "-" : "";
    uint64_t u = ms < 0 ? (uint64_t)(-(ms + 1)) + 1 : (uint64_t)ms;
    if (u < 1000) {
        snprintf(out, outsz, "%s%llums", sign, (unsigned long long)u);
        return;
    }
    uint64_t secs = u / 1000, frac = u % 1000;
    char sec[32];
    if (frac == 0) {
        snprintf(sec, sizeof(sec), "%llus", (unsigned long long)(secs % 60));
    } else {
        char f[8];
        snprintf(f, sizeof(f), "%03llu", (unsigned long long)frac);
        size_t fl = strlen(f);
        while (fl > 0 && f[fl - 1] == '0') {
            f[--fl] = '\0';
        }
        snprintf(sec, sizeof(sec), "%llu.%ss", (unsigned long long)(secs % 60), f);
    }
    uint64_t mins = secs / 60, hours = mins / 60;
    if (hours > 0) {
        snprintf(out, outsz, "%s%lluh%llum%s", sign, (unsigned long long)hours,
                 (unsigned long long)(mins % 60), sec);
    } else if (mins > 0) {
        snprintf(out, outsz, "%s%llum%s", sign, (unsigned long long)mins, sec);
    } else {
        snprintf(out, outsz, "%s%s", sign, sec);
    }
}

/* ---- opening a directory no daemon holds ---- */

static int open_unlocked(const char *path, int *lock_fd, tw_tsdb_t **db, tw_error_t *err)
{
    char lp[4096];
    *lock_fd = -1;
    *db = NULL;
    snprintf(lp, sizeof(lp), "%s/lock", path);
    int fd = open(lp, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            if (e == EWOULDBLOCK) {
                return tw_error_set(err, TW_ECONFLICT,
                                    "data directory %s is in use: %s is locked by a running "
                                    "tidewatch; stop it first, or query it over HTTP "
                                    "(tidewatch query --url)",
                                    path, lp);
            }
            return tw_error_set(err, -e, "cannot lock %s: %s", lp, strerror(e));
        }
        *lock_fd = fd;
    } else if (errno != ENOENT) {
        return tw_error_set(err, -errno, "cannot open %s: %s", lp, strerror(errno));
    }
    tw_tsdb_options_t o;
    tw_tsdb_options_default(&o);
    o.path = path;
    o.read_only = true;
    int rc = tw_tsdb_open(&o, db, err);
    if (rc != 0) {
        if (*lock_fd >= 0) {
            close(*lock_fd);
            *lock_fd = -1;
        }
        return rc;
    }
    const tw_tsdb_replay_report_t *r = tw_tsdb_replay_report(*db);
    const char *br = tw_tsdb_blocks_report(*db);
    if (br[0] != '\0' && err != NULL) {
        tw_error_set(err, 0, "blocks of %s: %s", path, br);
        size_t l = strlen(err->msg);
        if (l > 0 && err->msg[l - 1] == '\n') {
            err->msg[l - 1] = '\0';
        }
    } else if (r->message[0] != '\0' && err != NULL) {
        tw_error_set(err, 0, "WAL replay of %s: %s", path, r->message);
        size_t l = strlen(err->msg);
        if (l > 0 && err->msg[l - 1] == '\n') {
            err->msg[l - 1] = '\0';
        }
    }
    return 0;
}

int tw_tsdb_dump(const char *path, const tw_matcher_t *ms, size_t n, int64_t mint, int64_t maxt,
                 FILE *out, tw_error_t *err)
{
    int lock_fd;
    tw_tsdb_t *db;
    tw_error_clear(err);
    int rc = open_unlocked(path, &lock_fd, &db, err);
    if (rc != 0) {
        return rc;
    }
    tw_tsdb_querier_t *q = tw_tsdb_querier_new(db, mint, maxt);
    tw_tsdb_series_set_t *set = tw_tsdb_select(q, ms, n, NULL);
    tw_tsdb_iter_t *it = NULL;
    tw_buf_t lb;
    tw_buf_init(&lb, 0);
    while (tw_tsdb_series_set_next(set)) {
        size_t nl;
        const tw_label_t *l = tw_tsdb_series_set_labels(set, &nl);
        tw_buf_reset(&lb);
        tsdb_labels_format(&lb, l, nl);
        it = tw_tsdb_series_set_iter(set, it);
        while (tw_tsdb_iter_next(it)) {
            int64_t t;
            double v;
            char vs[64];
            tw_tsdb_iter_at(it, &t, &v);
            go_g(v, vs, sizeof(vs));
            fprintf(out, "%s %s %lld\n", lb.data, vs, (long long)t);
        }
    }
    if (ferror(out)) {
        rc = tw_error_set(err, TW_EIO, "tsdb dump: writing the output failed");
    }
    tw_buf_fini(&lb);
    tw_tsdb_iter_free(it);
    tw_tsdb_series_set_free(set);
    tw_tsdb_querier_free(q);
    tw_tsdb_close(db);
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    return rc;
}

/* ---- analyze ---- */

typedef struct info {
    char *key;
    uint64_t metric;
} info_t;

typedef struct infos {
    info_t *v;
    size_t n, cap;
} infos_t;

static void infos_add(infos_t *s, const char *key, uint64_t m)
{
    tw_grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v));
    s->v[s->n].key = tw_xstrdup(key);
    s->v[s->n].metric = m;
    s->n++;
}

static void infos_clear(infos_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].key);
    }
    s->n = 0;
}

static int cmp_info(const void *a, const void *b)
{
    const info_t *x = a, *y = b;
    if (x->metric != y->metric) {
        return x->metric > y->metric ? -1 : 1;
    }
    return strcmp(x->key, y->key);
}

static void infos_print(infos_t *s, size_t limit, FILE *out)
{
    qsort(s->v, s->n, sizeof(*s->v), cmp_info);
    for (size_t i = 0; i < s->n && i < limit; i++) {
        fprintf(out, "%llu %s\n", (unsigned long long)s->v[i].metric, s->v[i].key);
    }
}

/* A tiny string -> counter table for the pair/name tallies. */
typedef struct tally {
    char **keys;
    uint64_t *vals;
    size_t n, cap;
} tally_t;

static void tally_add(tally_t *t, const char *key, uint64_t v)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->keys[i], key) == 0) {
            t->vals[i] += v;
            return;
        }
    }
    size_t cap = t->cap;
    tw_grow((void **)&t->keys, &cap, t->n + 1, sizeof(*t->keys));
    tw_grow((void **)&t->vals, &t->cap, t->n + 1, sizeof(*t->vals));
    t->keys[t->n] = tw_xstrdup(key);
    t->vals[t->n] = v;
    t->n++;
}

static void tally_free(tally_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->keys[i]);
    }
    free(t->keys);
    free(t->vals);
}

int tw_tsdb_analyze(const char *path, size_t limit, FILE *out, tw_error_t *err)
{
    int lock_fd;
    tw_tsdb_t *db;
    tw_error_clear(err);
    if (limit == 0) {
        limit = 20;
    }
    int rc = open_unlocked(path, &lock_fd, &db, err);
    if (rc != 0) {
        return rc;
    }
    tw_tsdb_stats_t st;
    tw_tsdb_stats_get(db, &st);
    int64_t mint = st.head_min_time, maxt = st.head_max_time;
    int64_t span = mint <= maxt ? maxt + 1 - mint : 0; /* a block's maxt is exclusive */
    /* Like promtool: the newest block when there are blocks, else the head. */
    tsdb_block_t **bl = NULL;
    size_t nb = tsdb_db_blocks_acquire(db, &bl);
    tsdb_block_t *blk = nb > 0 ? bl[nb - 1] : NULL;
    tw_tsdb_querier_t *q;
    if (blk != NULL) {
        span = blk->meta.maxt - blk->meta.mint;
        q = tsdb_querier_new_src(db, INT64_MIN, INT64_MAX, false, &blk, 1);
    } else {
        q = tw_tsdb_querier_new(db, INT64_MIN, INT64_MAX);
    }
    tw_tsdb_series_set_t *set = tw_tsdb_select(q, NULL, 0, NULL);
    tw_tsdb_iter_t *it = NULL;
    tally_t uncov_names = {0}, uncov_pairs = {0}, pair_count = {0};
    uint64_t entries = 0;
    tw_buf_t key;
    tw_buf_init(&key, 0);
    char dur[64];
    go_duration_ms(span, dur, sizeof(dur));
    fprintf(out, "Block ID: %s\n", blk != NULL ? blk->meta.ulid : "head");
    fprintf(out, "Duration: %s\n", dur);
    fprintf(out, "Series: %zu\n", tw_tsdb_series_set_count(set));
    const char **names = NULL;
    size_t nnames = 0;
    tw_tsdb_querier_label_names(q, &names, &nnames);
    fprintf(out, "Label names: %zu\n", nnames);
    while (tw_tsdb_series_set_next(set)) {
        size_t nl;
        const tw_label_t *l = tw_tsdb_series_set_labels(set, &nl);
        it = tw_tsdb_series_set_iter(set, it);
        int64_t first = 0, last = 0, t;
        double v;
        bool any = false;
        while (tw_tsdb_iter_next(it)) {
            tw_tsdb_iter_at(it, &t, &v);
            if (!any) {
                first = t;
            }
            last = t;
            any = true;
        }
        uint64_t uncovered = (uint64_t)span - (uint64_t)(last - first);
        for (size_t i = 0; i < nl; i++) {
            tw_buf_reset(&key);
            tw_buf_printf(&key, "%s=%s", l[i].name, l[i].value);
            tally_add(&uncov_names, l[i].name, uncovered);
            tally_add(&uncov_pairs, key.data, uncovered);
            tally_add(&pair_count, key.data, 1);
            entries++;
        }
    }
    fprintf(out, "Postings (unique label pairs): %zu\n", uncov_pairs.n);
    fprintf(out, "Postings entries (total label pairs): %llu\n", (unsigned long long)entries);
    infos_t inf = {0};
    for (size_t i = 0; i < uncov_pairs.n; i++) {
        infos_add(&inf, uncov_pairs.keys[i],
                  span > 0 ? (uint64_t)((double)uncov_pairs.vals[i] / (double)span) : 0);
    }
    fprintf(out, "\nLabel pairs most involved in churning:\n");
    infos_print(&inf, limit, out);
    infos_clear(&inf);
    for (size_t i = 0; i < uncov_names.n; i++) {
        infos_add(&inf, uncov_names.keys[i],
                  span > 0 ? (uint64_t)((double)uncov_names.vals[i] / (double)span) : 0);
    }
    fprintf(out, "\nLabel names most involved in churning:\n");
    infos_print(&inf, limit, out);
    infos_clear(&inf);
    for (size_t i = 0; i < pair_count.n; i++) {
        infos_add(&inf, pair_count.keys[i], pair_count.vals[i]);
    }
    fprintf(out, "\nMost common label pairs:\n");
    infos_print(&inf, limit, out);
    infos_clear(&inf);
    for (size_t i = 0; i < nnames; i++) {
        const char **vals;
        size_t nv;
        uint64_t cum = 0;
        tw_tsdb_querier_label_values(q, names[i], &vals, &nv);
        for (size_t j = 0; j < nv; j++) {
            cum += strlen(vals[j]);
        }
        free(vals);
        infos_add(&inf, names[i], cum);
    }
    fprintf(out, "\nLabel names with highest cumulative label value length:\n");
    infos_print(&inf, limit, out);
    infos_clear(&inf);
    for (size_t i = 0; i < nnames; i++) {
        const char **vals;
        size_t nv;
        tw_tsdb_querier_label_values(q, names[i], &vals, &nv);
        free(vals);
        infos_add(&inf, names[i], nv);
    }
    fprintf(out, "\nHighest cardinality labels:\n");
    infos_print(&inf, limit, out);
    infos_clear(&inf);
    const char **mvals;
    size_t nmv;
    tw_tsdb_querier_label_values(q, TW_METRIC_NAME_LABEL, &mvals, &nmv);
    for (size_t j = 0; j < nmv; j++) {
        size_t card;
        if (blk != NULL) {
            tsdb_postings_t p = {0};
            (void)tsdb_index_postings(&blk->ix, TW_METRIC_NAME_LABEL, mvals[j], &p, NULL);
            card = p.n;
            tsdb_postings_fini(&p);
        } else {
            card = tsdb_head_postings_len(tsdb_db_head(db), TW_METRIC_NAME_LABEL, mvals[j]);
        }
        infos_add(&inf, mvals[j], card);
    }
    free(mvals);
    fprintf(out, "\nHighest cardinality metric names:\n");
    infos_print(&inf, limit, out);
    infos_clear(&inf);
    free(inf.v);
    free(names);
    tally_free(&uncov_names);
    tally_free(&uncov_pairs);
    tally_free(&pair_count);
    tw_buf_fini(&key);
    if (ferror(out)) {
        rc = tw_error_set(err, TW_EIO, "tsdb analyze: writing the output failed");
    }
    tw_tsdb_iter_free(it);
    tw_tsdb_series_set_free(set);
    tw_tsdb_querier_free(q);
    for (size_t i = 0; i < nb; i++) {
        tsdb_block_unref(bl[i]);
    }
    free(bl);
    tw_tsdb_close(db);
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    return rc;
}
