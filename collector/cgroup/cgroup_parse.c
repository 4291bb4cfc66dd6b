/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_parse.c - pure parsers for the cgroup v1 and v2 files the collector reads: keyed
 * "name value" files, single numbers, cpu.max, PSI, blkio and io.stat, cgroup.controllers.
 *
 * Each parser takes a buffer and its length (no NUL needed), never reads past it, never
 * allocates, and reports garbage as TW_EPARSE so the collector can count it and go on. Cursor
 * style (curl's STRPARSE): a helper moves the cursor only when it matched. Thread-safe.
 */
#include "cgroup_int.h"

#include <string.h>

#include "common/error.h"

typedef struct cursor {
    const char *p;
    const char *end;
} cursor_t;

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static void skip_blanks(cursor_t *c)
{
    while (c->p < c->end && is_blank(*c->p)) {
        c->p++;
    }
}

/* Moves to the start of the next line. */
static void next_line(cursor_t *c)
{
    while (c->p < c->end && *c->p != '\n') {
        c->p++;
    }
    if (c->p < c->end) {
        c->p++;
    }
}

/* Parses an unsigned decimal; moves only on success. Overflow is an error. */
static bool take_u64(cursor_t *c, uint64_t *out)
{
    const char *p = c->p;
    uint64_t v = 0;
    if (p >= c->end || *p < '0' || *p > '9') {
        return false;
    }
    while (p < c->end && *p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
        p++;
    }
    c->p = p;
    *out = v;
    return true;
}

/* Takes a word up to a blank or newline; returns its length (0 when none). */
static size_t take_word(cursor_t *c, const char **w)
{
    const char *p = c->p;
    while (p < c->end && !is_blank(*p) && *p != '\n') {
        p++;
    }
    *w = c->p;
    size_t n = (size_t)(p - c->p);
    c->p = p;
    return n;
}

static bool at_line_end(cursor_t *c)
{
    skip_blanks(c);
    return c->p >= c->end || *c->p == '\n';
}

static bool word_is(const char *w, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(w, s, n) == 0;
}

int tw_cg_parse_keyed(const char *buf, size_t len, const char *const *keys, size_t nkeys,
                      uint64_t *vals, uint32_t *found)
{
    /* Hot path of every collection (v1 memory.stat is ~40 lines per cgroup): one memchr per
     * line, and a key is compared only when its length and first byte match. */
    const char *p = buf, *end = buf + len;
    size_t klen[32];
    if (nkeys > 32) {
        nkeys = 32;
    }
    for (size_t i = 0; i < nkeys; i++) {
        klen[i] = strlen(keys[i]);
    }
    *found = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL) {
            eol = end;
        }
        const char *q = p;
        while (q < eol && !is_blank(*q)) {
            q++;
        }
        size_t n = (size_t)(q - p);
        for (size_t i = 0; n > 0 && i < nkeys; i++) {
            if (klen[i] != n || keys[i][0] != p[0] || memcmp(p, keys[i], n) != 0) {
                continue;
            }
            cursor_t c = {q, eol};
            skip_blanks(&c);
            uint64_t v;
            if (!take_u64(&c, &v) || !at_line_end(&c)) {
                return TW_EPARSE;
            }
            vals[i] = v;
            *found |= 1u << i;
            break;
        }
        p = eol < end ? eol + 1 : end;
    }
    return 0;
}

int tw_cg_parse_u64(const char *buf, size_t len, bool allow_max, uint64_t *out)
{
    cursor_t c = {buf, buf + len};
    skip_blanks(&c);
    if (allow_max && c.end - c.p >= 3 && memcmp(c.p, "max", 3) == 0) {
        c.p += 3;
        *out = UINT64_MAX;
    } else if (!take_u64(&c, out)) {
        return TW_EPARSE;
    }
    if (!at_line_end(&c)) {
        return TW_EPARSE;
    }
    if (c.p < c.end) {
        c.p++; /* the newline */
    }
    skip_blanks(&c);
    return c.p == c.end ? 0 : TW_EPARSE;
}

int tw_cg_parse_i64(const char *buf, size_t len, int64_t *out)
{
    cursor_t c = {buf, buf + len};
    skip_blanks(&c);
    bool neg = false;
    if (c.p < c.end && *c.p == '-') {
        neg = true;
        c.p++;
    }
    uint64_t v;
    if (!take_u64(&c, &v) || v > (uint64_t)INT64_MAX) {
        return TW_EPARSE;
    }
    if (!at_line_end(&c)) {
        return TW_EPARSE;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

int tw_cg_parse_cpu_max(const char *buf, size_t len, uint64_t *quota_us, uint64_t *period_us)
{
    cursor_t c = {buf, buf + len};
    skip_blanks(&c);
    uint64_t q = 0;
    if (c.end - c.p >= 3 && memcmp(c.p, "max", 3) == 0) {
        c.p += 3;
    } else if (!take_u64(&c, &q)) {
        return TW_EPARSE;
    }
    if (c.p >= c.end || !is_blank(*c.p)) {
        return TW_EPARSE;
    }
    skip_blanks(&c);
    uint64_t per;
    if (!take_u64(&c, &per) || !at_line_end(&c)) {
        return TW_EPARSE;
    }
    *quota_us = q;
    *period_us = per;
    return 0;
}

int tw_cg_parse_psi(const char *buf, size_t len, tw_cg_psi_t *out)
{
    cursor_t c = {buf, buf + len};
    memset(out, 0, sizeof(*out));
    while (c.p < c.end) {
        const char *w;
        size_t n = take_word(&c, &w);
        bool some = word_is(w, n, "some");
        bool full = word_is(w, n, "full");
        if (!some && !full) {
            next_line(&c);
            continue;
        }
        /* "some avg10=0.00 avg60=0.00 avg300=0.00 total=12345" */
        while (!at_line_end(&c)) {
            const char *f;
            size_t fn = take_word(&c, &f);
            if (fn > 6 && memcmp(f, "total=", 6) == 0) {
                cursor_t v = {f + 6, f + fn};
                uint64_t t;
                if (!take_u64(&v, &t) || v.p != v.end) {
                    return TW_EPARSE;
                }
                if (some) {
                    out->some_total_us = t;
                    out->has_some = true;
                } else {
                    out->full_total_us = t;
                    out->has_full = true;
                }
            }
        }
        next_line(&c);
    }
    return (out->has_some || out->has_full) ? 0 : TW_EPARSE;
}

/* Parses "MAJ:MIN" at the cursor. */
static bool take_devno(cursor_t *c, unsigned *maj, unsigned *min)
{
    cursor_t t = *c;
    uint64_t a, b;
    if (!take_u64(&t, &a) || t.p >= t.end || *t.p != ':') {
        return false;
    }
    t.p++;
    if (!take_u64(&t, &b) || a > 0xffffffffu || b > 0xffffffffu) {
        return false;
    }
    *c = t;
    *maj = (unsigned)a;
    *min = (unsigned)b;
    return true;
}

/* Returns the slot of maj:min in io, adding it when there is room; NULL when full. */
static int io_slot(tw_cg_io_t *io, unsigned maj, unsigned min)
{
    for (size_t i = 0; i < io->n; i++) {
        if (io->dev[i].major == maj && io->dev[i].minor == min) {
            return (int)i;
        }
    }
    if (io->n >= TW_CG_MAX_DEVICES) {
        return -1;
    }
    size_t i = io->n++;
    io->dev[i].major = maj;
    io->dev[i].minor = min;
    io->dev[i].read_bytes = 0;
    io->dev[i].write_bytes = 0;
    return (int)i;
}

int tw_cg_parse_blkio(const char *buf, size_t len, tw_cg_io_t *out)
{
    cursor_t c = {buf, buf + len};
    out->n = 0;
    while (c.p < c.end) {
        skip_blanks(&c);
        if (at_line_end(&c)) {
            next_line(&c);
            continue;
        }
        unsigned maj, min;
        if (!take_devno(&c, &maj, &min)) {
            /* "Total 1234" closes the file; anything else is garbage. */
            const char *w;
            size_t n = take_word(&c, &w);
            if (!word_is(w, n, "Total")) {
                return TW_EPARSE;
            }
            next_line(&c);
            continue;
        }
        skip_blanks(&c);
        const char *op;
        size_t on = take_word(&c, &op);
        skip_blanks(&c);
        uint64_t v;
        if (on == 0 || !take_u64(&c, &v) || !at_line_end(&c)) {
            return TW_EPARSE;
        }
        int s = io_slot(out, maj, min);
        if (s >= 0) {
            if (word_is(op, on, "Read")) {
                out->dev[s].read_bytes = v;
            } else if (word_is(op, on, "Write")) {
                out->dev[s].write_bytes = v;
            }
        }
        next_line(&c);
    }
    return 0;
}

int tw_cg_parse_io_stat(const char *buf, size_t len, tw_cg_io_t *out)
{
    cursor_t c = {buf, buf + len};
    out->n = 0;
    while (c.p < c.end) {
        skip_blanks(&c);
        if (at_line_end(&c)) {
            next_line(&c);
            continue;
        }
        unsigned maj, min;
        if (!take_devno(&c, &maj, &min)) {
            return TW_EPARSE;
        }
        int s = io_slot(out, maj, min);
        while (!at_line_end(&c)) {
            const char *f;
            size_t fn = take_word(&c, &f);
            const char *eq = memchr(f, '=', fn);
            if (eq == NULL) {
                return TW_EPARSE;
            }
            cursor_t v = {eq + 1, f + fn};
            uint64_t x;
            if (!take_u64(&v, &x) || v.p != v.end) {
                return TW_EPARSE;
            }
            size_t kn = (size_t)(eq - f);
            if (s >= 0 && word_is(f, kn, "rbytes")) {
                out->dev[s].read_bytes = x;
            } else if (s >= 0 && word_is(f, kn, "wbytes")) {
                out->dev[s].write_bytes = x;
            }
        }
        next_line(&c);
    }
    return 0;
}

unsigned tw_cg_parse_controllers(const char *buf, size_t len)
{
    cursor_t c = {buf, buf + len};
    unsigned m = 0;
    while (c.p < c.end) {
        skip_blanks(&c);
        if (c.p < c.end && *c.p == '\n') {
            c.p++;
            continue;
        }
        const char *w;
        size_t n = take_word(&c, &w);
        if (word_is(w, n, "cpu")) {
            m |= TW_CG_CTRL_CPU;
        } else if (word_is(w, n, "memory")) {
            m |= TW_CG_CTRL_MEMORY;
        } else if (word_is(w, n, "io")) {
            m |= TW_CG_CTRL_IO;
        } else if (word_is(w, n, "pids")) {
            m |= TW_CG_CTRL_PIDS;
        }
    }
    return m;
}

uint64_t tw_cg_weight_to_shares(uint64_t weight)
{
    /* cAdvisor's convertCPUWeightToCPULimit, the inverse of runc's shares-to-weight mapping. */
    if (weight < 1 || weight > 10000) {
        return 0;
    }
    return 2 + ((weight - 1) * 262142) / 9999;
}
