/* SPDX-License-Identifier: Apache-2.0 */
/*
 * remote_decode.c - decodes and validates a remote_write 1.0 body: snappy block format around a
 * protobuf WriteRequest (see remote.proto and docs/formats/remote-write.md).
 *
 * How it works, and where each limit bites:
 *   1. The compressed body is checked against max_body_bytes.
 *   2. snappy's block header (a uvarint) announces the uncompressed length; it is checked
 *      against max_decoded_bytes BEFORE the output buffer is allocated, so a 20-byte body cannot
 *      make us allocate 4 GiB. snappy_uncompress() then refuses any body whose elements do not
 *      produce exactly that many bytes.
 *   3. The protobuf is read in one pass by a hand-written parser of our WriteRequest (below;
 *      it accepts exactly what protobuf-c's generated unpacker accepts, which remote_pbc.c keeps
 *      as the fuzz target's reference). Nothing is copied: a label's name and value point into
 *      the decoded body, and once the whole body is parsed each string is NUL-terminated in
 *      place (the byte after a string is always the key of the next field, already read, or a
 *      spare byte after the body). Series, labels, samples and metadata go to arrays that a
 *      request keeps for reuse (the handler pools requests), so steady traffic allocates
 *      nothing. Their bytes are charged to max_decode_memory_bytes as they are added: an empty
 *      sample costs 2 wire bytes but 16 decoded, so this bounds the amplification; running
 *      out is "too large", not "malformed".
 *   4. Each series is validated in place: label names must match [a-zA-Z_][a-zA-Z0-9_]*,
 *      values must be UTF-8 without NUL bytes, empty values are dropped (Prometheus' head does
 *      the same), the rest is sorted (Prometheus sorts incoming labels too), then duplicate
 *      names, a missing __name__ and an invalid metric name are errors.
 * Pure: no I/O, no clock, no logging; reentrant (all state is on the stack or in the request).
 */
#include "remote.h"

#include <inttypes.h>
#include <snappy-c.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "remote_int.h"

static const char *const reason_names[TW_REMOTE_WRITE_REASON_COUNT] = {
    [TW_REMOTE_WRITE_OK] = "ok",
    [TW_REMOTE_WRITE_EMPTY_BODY] = "empty_body",
    [TW_REMOTE_WRITE_TOO_LARGE] = "too_large",
    [TW_REMOTE_WRITE_SNAPPY] = "snappy",
    [TW_REMOTE_WRITE_PROTOBUF] = "protobuf",
    [TW_REMOTE_WRITE_NO_LABELS] = "no_labels",
    [TW_REMOTE_WRITE_MISSING_NAME] = "missing_name",
    [TW_REMOTE_WRITE_INVALID_NAME] = "invalid_metric_name",
    [TW_REMOTE_WRITE_INVALID_LABEL_NAME] = "invalid_label_name",
    [TW_REMOTE_WRITE_INVALID_LABEL_VALUE] = "invalid_label_value",
    [TW_REMOTE_WRITE_DUPLICATE_LABEL] = "duplicate_label",
    [TW_REMOTE_WRITE_UNSUPPORTED_MEDIA] = "unsupported_media_type",
    [TW_REMOTE_WRITE_OUT_OF_ORDER] = "out_of_order",
    [TW_REMOTE_WRITE_DUPLICATE_SAMPLE] = "duplicate_sample",
    [TW_REMOTE_WRITE_TOO_OLD] = "too_old",
    [TW_REMOTE_WRITE_STORAGE] = "storage",
};

const char *tw_remote_write_reason_name(tw_remote_write_reason_t r)
{
    if ((int)r < 0 || r >= TW_REMOTE_WRITE_REASON_COUNT) {
        return "unknown";
    }
    return reason_names[r];
}

void tw_remote_write_limits_resolve(const tw_remote_write_limits_t *in,
                                    tw_remote_write_limits_t *out)
{
    tw_remote_write_limits_t l = {0};
    if (in != NULL) {
        l = *in;
    }
    if (l.max_body_bytes == 0) {
        l.max_body_bytes = TW_REMOTE_WRITE_DEFAULT_MAX_BODY_BYTES;
    }
    if (l.max_decoded_bytes == 0) {
        l.max_decoded_bytes = TW_REMOTE_WRITE_DEFAULT_MAX_DECODED_BYTES;
    }
    if (l.max_decode_memory_bytes == 0) {
        l.max_decode_memory_bytes =
            l.max_decoded_bytes > SIZE_MAX / 8 ? SIZE_MAX : l.max_decoded_bytes * 8;
    }
    if (l.max_labels_per_series == 0) {
        l.max_labels_per_series = TW_REMOTE_WRITE_DEFAULT_MAX_LABELS;
    }
    *out = l;
}

/* ---- text checks ------------------------------------------------------------------------ */

static bool label_name_ok(const uint8_t *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) {
            return false;
        }
    }
    return true;
}

/* UTF-8 as Go's utf8.Valid: no overlong forms, no surrogates, nothing above U+10FFFF. NUL bytes
 * are valid UTF-8 but cannot live in a C string, so they are refused too. */
static bool utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* Fast path: 8 bytes of ASCII without a NUL at once. */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            const uint64_t hi = 0x8080808080808080ULL, lo = 0x0101010101010101ULL;
            if ((w & hi) != 0 || ((w - lo) & ~w & hi) != 0) {
                break; /* a non-ASCII or a NUL byte: the byte loop decides */
            }
            i += 8;
        }
        if (i >= n) {
            break;
        }
        uint8_t c = s[i];
        if (c == 0) {
            return false;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) {
                lo = 0xA0;
            } else if (c == 0xED) {
                hi = 0x9F;
            }
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) {
                lo = 0x90;
            } else if (c == 0xF4) {
                hi = 0x8F;
            }
        } else {
            return false;
        }
        if (n - i - 1 < need) {
            return false;
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            return false;
        }
        for (size_t k = 2; k <= need; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) {
                return false;
            }
        }
        i += need + 1;
    }
    return true;
}

/* Appends c to out at *pos, escaped like Go's %q for the characters that matter here. */
static void put_escaped(char *out, size_t outsz, size_t *pos, uint8_t c)
{
    char tmp[8];
    int n;
    if (c == '"' || c == '\\') {
        n = snprintf(tmp, sizeof(tmp), "\\%c", c);
    } else if (c == '\n') {
        n = snprintf(tmp, sizeof(tmp), "\\n");
    } else if (c < 0x20 || c == 0x7f) {
        n = snprintf(tmp, sizeof(tmp), "\\x%02x", c);
    } else {
        tmp[0] = (char)c;
        n = 1;
    }
    for (int i = 0; i < n && *pos + 1 < outsz; i++) {
        out[(*pos)++] = tmp[i];
    }
    out[*pos] = '\0';
}

/* Writes "quoted" bytes (at most 64 of them, then ...) into out. */
static const char *quote_bytes(const uint8_t *s, size_t n, char *out, size_t outsz)
{
    size_t pos = 0;
    out[pos++] = '"';
    out[pos] = '\0';
    for (size_t i = 0; i < n && i < 64; i++) {
        put_escaped(out, outsz, &pos, s[i]);
    }
    const char *tail = n > 64 ? "...\"" : "\"";
    for (const char *t = tail; *t != '\0' && pos + 1 < outsz; t++) {
        out[pos++] = *t;
    }
    out[pos] = '\0';
    return out;
}

static void put_str(char *out, size_t outsz, size_t *pos, const char *s)
{
    for (; *s != '\0' && *pos + 1 < outsz; s++) {
        out[(*pos)++] = *s;
    }
    out[*pos] = '\0';
}

const char *tw_remote_labels_format(const tw_label_t *labels, size_t n, char *out, size_t outsz)
{
    size_t pos = 0;
    if (outsz == 0) {
        return out;
    }
    out[0] = '\0';
    if (outsz < 8) {
        return out;
    }
    /* Leave room for the "...}" that marks a cut. */
    size_t room = outsz - 4;
    put_str(out, room, &pos, "{");
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            put_str(out, room, &pos, ", ");
        }
        put_str(out, room, &pos, labels[i].name);
        put_str(out, room, &pos, "=\"");
        for (const char *v = labels[i].value; *v != '\0'; v++) {
            if (*v == '"' || *v == '\\') {
                put_str(out, room, &pos, *v == '"' ? "\\\"" : "\\\\");
            } else if (*v == '\n') {
                put_str(out, room, &pos, "\\n");
            } else {
                char c[2] = {*v, '\0'};
                put_str(out, room, &pos, c);
            }
        }
        put_str(out, room, &pos, "\"");
    }
    if (pos + 1 >= room) {
        put_str(out, outsz, &pos, "...}");
    } else {
        put_str(out, outsz, &pos, "}");
    }
    return out;
}

/* ---- the wire parse ----------------------------------------------------------------------- */

/*
 * A hand-written reader of remote.proto's WriteRequest that accepts exactly what protobuf-c's
 * generated unpacker accepts (the fuzz target checks this against remote_pbc.c): field keys of
 * at most 5 bytes whose first byte is not 0..7, varints of at most 10 bytes, length prefixes of
 * at most 5 bytes that fit the enclosing message, wire types 0, 1, 2 and 5 only (groups fail),
 * a known field with another wire type fails, unknown fields are skipped, the last occurrence
 * of a singular field wins. Nested messages are checked as deeply as protobuf-c checks them
 * (exemplar labels, histogram timestamps), though only their count is kept.
 */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

typedef struct cur {
    const uint8_t *p;
    const uint8_t *end;
} cur_t;

static bool rd_key(cur_t *c, uint32_t *field, unsigned *wt)
{
    const uint8_t *p = c->p;
    size_t rem = (size_t)(c->end - p);
    if ((p[0] & 0xf8) == 0) {
        return false; /* field number 0 */
    }
    *wt = p[0] & 7;
    uint32_t tag = (uint32_t)(p[0] & 0x7f) >> 3;
    if ((p[0] & 0x80) == 0) {
        c->p = p + 1;
        *field = tag;
        return true;
    }
    size_t max = rem > 5 ? 5 : rem;
    unsigned shift = 4;
    for (size_t i = 1; i < max; i++) {
        if (p[i] & 0x80) {
            tag |= (uint32_t)(p[i] & 0x7f) << shift;
            shift += 7;
        } else {
            tag |= (uint32_t)p[i] << shift;
            *field = tag;
            c->p = p + i + 1;
            return true;
        }
    }
    return false;
}

/* A varint of at most max_bytes bytes (10 for 64 bits, 5 for 32). */
static bool rd_varint_n(cur_t *c, size_t max_bytes, uint64_t *v)
{
    size_t rem = (size_t)(c->end - c->p);
    size_t max = rem < max_bytes ? rem : max_bytes;
    uint64_t x = 0;
    for (size_t i = 0; i < max; i++) {
        uint8_t b = c->p[i];
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            c->p += i + 1;
            *v = x;
            return true;
        }
    }
    return false;
}

static bool rd_varint(cur_t *c, uint64_t *v)
{
    return rd_varint_n(c, 10, v);
}

/* A length-prefixed field: *sub covers its bytes and c moves past them. */
static bool rd_len(cur_t *c, cur_t *sub)
{
    cur_t at = *c;
    uint64_t n;
    if (!rd_varint_n(&at, 5, &n) || n > INT32_MAX || n > (uint64_t)(at.end - at.p)) {
        return false;
    }
    sub->p = at.p;
    sub->end = at.p + n;
    c->p = sub->end;
    return true;
}

static bool rd_fixed64(cur_t *c, uint64_t *v)
{
    if (c->end - c->p < 8) {
        return false;
    }
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--) {
        x = x << 8 | c->p[i];
    }
    c->p += 8;
    *v = x;
    return true;
}

static bool rd_skip(cur_t *c, unsigned wt)
{
    uint64_t v;
    cur_t sub;
    switch (wt) {
    case WT_VARINT:
        return rd_varint(c, &v);
    case WT_I64:
        return rd_fixed64(c, &v);
    case WT_LEN:
        return rd_len(c, &sub);
    case WT_I32:
        if (c->end - c->p < 4) {
            return false;
        }
        c->p += 4;
        return true;
    default:
        return false; /* groups (3, 4) and 6, 7: protobuf-c refuses them */
    }
}

/* Reads a bytes field's span (wire type already checked). */
static bool rd_bytes(cur_t *c, const uint8_t **p, uint32_t *n)
{
    cur_t sub;
    if (!rd_len(c, &sub)) {
        return false;
    }
    *p = sub.p;
    *n = (uint32_t)(sub.end - sub.p);
    return true;
}

tw_metric_type_t tw_remote_metric_type_from_wire(int t)
{
    switch (t) {
    case 1:
        return TW_MTYPE_COUNTER;
    case 2:
        return TW_MTYPE_GAUGE;
    case 3:
        return TW_MTYPE_HISTOGRAM;
    case 4:
        return TW_MTYPE_GAUGE_HISTOGRAM;
    case 5:
        return TW_MTYPE_SUMMARY;
    case 6:
        return TW_MTYPE_INFO;
    case 7:
        return TW_MTYPE_STATESET;
    default:
        return TW_MTYPE_UNTYPED;
    }
}

typedef struct span {
    const uint8_t *p; /* NULL: absent (empty) */
    uint32_t n;
} span_t;

static bool parse_label(cur_t c, span_t *name, span_t *value)
{
    name->p = value->p = NULL;
    name->n = value->n = 0;
    while (c.p < c.end) {
        uint32_t f;
        unsigned wt;
        if (!rd_key(&c, &f, &wt)) {
            return false;
        }
        if (f == 1 || f == 2) {
            span_t *s = f == 1 ? name : value;
            if (wt != WT_LEN || !rd_bytes(&c, &s->p, &s->n)) {
                return false;
            }
        } else if (!rd_skip(&c, wt)) {
            return false;
        }
    }
    return true;
}

static bool parse_sample(cur_t c, tw_remote_sample_t *out)
{
    uint64_t vbits = 0, t = 0;
    while (c.p < c.end) {
        uint32_t f;
        unsigned wt;
        if (!rd_key(&c, &f, &wt)) {
            return false;
        }
        if (f == 1) {
            if (wt != WT_I64 || !rd_fixed64(&c, &vbits)) {
                return false;
            }
        } else if (f == 2) {
            if (wt != WT_VARINT || !rd_varint(&c, &t)) {
                return false;
            }
        } else if (!rd_skip(&c, wt)) {
            return false;
        }
    }
    out->t_ms = (int64_t)t;
    /* memcpy keeps a NaN's payload bits (the stale marker) whatever the FPU does. */
    memcpy(&out->v, &vbits, sizeof(out->v));
    return true;
}

static bool parse_exemplar(cur_t c)
{
    while (c.p < c.end) {
        uint32_t f;
        unsigned wt;
        uint64_t v;
        cur_t sub;
        span_t a, b;
        if (!rd_key(&c, &f, &wt)) {
            return false;
        }
        bool ok;
        if (f == 1) {
            ok = wt == WT_LEN && rd_len(&c, &sub) && parse_label(sub, &a, &b);
        } else if (f == 2) {
            ok = wt == WT_I64 && rd_fixed64(&c, &v);
        } else if (f == 3) {
            ok = wt == WT_VARINT && rd_varint(&c, &v);
        } else {
            ok = rd_skip(&c, wt);
        }
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool parse_histogram(cur_t c)
{
    while (c.p < c.end) {
        uint32_t f;
        unsigned wt;
        uint64_t v;
        if (!rd_key(&c, &f, &wt)) {
            return false;
        }
        if (f == 15 ? (wt != WT_VARINT || !rd_varint(&c, &v)) : !rd_skip(&c, wt)) {
            return false;
        }
    }
    return true;
}

/* What the parse is building: the store plus the element budget. */
typedef struct parse {
    struct tw_remote_store *st;
    size_t nseries, nlabels, nsamples, nmetadata;
    size_t mem, max_mem;
    bool exhausted;
} parse_t;

/* Charges sz bytes of decoded elements to the budget. */
static bool charge(parse_t *ps, size_t sz)
{
    if (sz > ps->max_mem - ps->mem) {
        ps->exhausted = true;
        return false;
    }
    ps->mem += sz;
    return true;
}

/*
 * Grows *arr (capacity *cap) to hold need elements of size sz, first charging the capacity
 * beyond need (tw_grow doubles), so that what the budget counts (every used element plus this
 * slack) bounds what is really allocated for the request.
 */
static bool grow_charged(parse_t *ps, void **arr, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap) {
        return true;
    }
    size_t ncap = *cap == 0 ? 8 : *cap;
    while (ncap < need) {
        ncap *= 2;
    }
    if ((ncap - need) > SIZE_MAX / sz || !charge(ps, (ncap - need) * sz)) {
        ps->exhausted = true;
        return false;
    }
    tw_grow(arr, cap, need, sz);
    return true;
}

/* Makes room for one more element of size sz in *arr (capacity *cap, n used). */
static bool room(parse_t *ps, void **arr, size_t *cap, size_t n, size_t sz)
{
    return charge(ps, sz) && grow_charged(ps, arr, cap, n + 1, sz);
}

static bool parse_series(parse_t *ps, cur_t c)
{
    struct tw_remote_store *st = ps->st;
    if (!room(ps, (void **)&st->series, &st->series_cap, ps->nseries, sizeof(tw_remote_series_t))) {
        return false;
    }
    tw_remote_series_t *s = &st->series[ps->nseries++];
    memset(s, 0, sizeof(*s));
    while (c.p < c.end) {
        uint32_t f;
        unsigned wt;
        cur_t sub;
        if (!rd_key(&c, &f, &wt)) {
            return false;
        }
        if (f < 1 || f > 4) {
            if (!rd_skip(&c, wt)) {
                return false;
            }
            continue;
        }
        if (wt != WT_LEN || !rd_len(&c, &sub)) {
            return false;
        }
        if (f == 1) {
            span_t name, value;
            if (!parse_label(sub, &name, &value)) {
                return false;
            }
            if (!charge(ps, sizeof(tw_label_t) + sizeof(tw_remote_label_len_t))) {
                return false;
            }
            if (ps->nlabels == st->labels_cap) {
                size_t cap = st->labels_cap;
                if (!grow_charged(ps, (void **)&st->labels, &st->labels_cap, ps->nlabels + 1,
                                  sizeof(*st->labels)) ||
                    !grow_charged(ps, (void **)&st->lens, &cap, ps->nlabels + 1,
                                  sizeof(*st->lens))) {
                    return false;
                }
            }
            /* An empty string points to a constant, so only non-empty ones get a NUL. */
            st->labels[ps->nlabels].name = name.n > 0 ? (const char *)name.p : "";
            st->labels[ps->nlabels].value = value.n > 0 ? (const char *)value.p : "";
            st->lens[ps->nlabels].name = name.n;
            st->lens[ps->nlabels].value = value.n;
            ps->nlabels++;
            s->nlabels++;
        } else if (f == 2) {
            if (!room(ps, (void **)&st->samples, &st->samples_cap, ps->nsamples,
                      sizeof(tw_remote_sample_t))) {
                return false;
            }
            if (!parse_sample(sub, &st->samples[ps->nsamples])) {
                return false;
            }
            ps->nsamples++;
            s->nsamples++;
        } else if (f == 3) {
            if (!parse_exemplar(sub)) {
                return false;
            }
            s->nexemplars++;
        } else {
            if (!parse_histogram(sub)) {
                return false;
            }
            s->nhistograms++;
        }
    }
    return true;
}

static const char *md_string(const span_t *s)
{
    return s->n > 0 ? (const char *)s->p : "";
}

static bool parse_metadata(parse_t *ps, cur_t c, span_t spans[3])
{
    struct tw_remote_store *st = ps->st;
    if (!room(ps, (void **)&st->metadata, &st->metadata_cap, ps->nmetadata,
              sizeof(tw_remote_metadata_t))) {
        return false;
    }
    uint64_t type = 0;
    span_t fam = {0}, help = {0}, unit = {0};
    while (c.p < c.end) {
        uint32_t f;
        unsigned wt;
        if (!rd_key(&c, &f, &wt)) {
            return false;
        }
        bool ok;
        if (f == 1) {
            ok = wt == WT_VARINT && rd_varint(&c, &type);
        } else if (f == 2 || f == 4 || f == 5) {
            span_t *s = f == 2 ? &fam : (f == 4 ? &help : &unit);
            ok = wt == WT_LEN && rd_bytes(&c, &s->p, &s->n);
        } else {
            ok = rd_skip(&c, wt);
        }
        if (!ok) {
            return false;
        }
    }
    tw_remote_metadata_t *m = &st->metadata[ps->nmetadata++];
    /* An enum is read as int32 (the low 32 bits), as protobuf-c does. */
    m->type = tw_remote_metric_type_from_wire((int)(int32_t)(uint32_t)type);
    m->family = md_string(&fam);
    m->help = md_string(&help);
    m->unit = md_string(&unit);
    spans[0] = fam;
    spans[1] = help;
    spans[2] = unit;
    return true;
}

/* Terminates a span in place: the byte after a string is the next field's key (or the spare
 * byte after the body), which the parse has already read. */
static void terminate(const span_t *s)
{
    if (s->n > 0) {
        ((uint8_t *)s->p)[s->n] = '\0';
    }
}

int tw_remote_write_parse(uint8_t *raw, size_t len, size_t max_mem, tw_remote_write_request_t *req)
{
    parse_t ps = {.st = req->store, .max_mem = max_mem};
    cur_t c = {raw, raw + len};
    int rc = 0;
    /* Metadata strings are terminated after the parse, like labels; their spans are kept on
     * the side (metadata is rare and small). */
    span_t *mds = NULL;
    size_t mds_cap = 0;
    while (c.p < c.end) {
        uint32_t f;
        unsigned wt;
        cur_t sub;
        if (!rd_key(&c, &f, &wt)) {
            rc = TW_EPARSE;
            goto out;
        }
        bool ok;
        if (f == 1) {
            ok = wt == WT_LEN && rd_len(&c, &sub) && parse_series(&ps, sub);
        } else if (f == 3) {
            ok = wt == WT_LEN && rd_len(&c, &sub);
            if (ok) {
                /* The metadata's three name/help/unit spans count against the budget too. */
                ok = charge(&ps, 3 * sizeof(*mds)) &&
                     grow_charged(&ps, (void **)&mds, &mds_cap, 3 * (ps.nmetadata + 1),
                                  sizeof(*mds)) &&
                     parse_metadata(&ps, sub, &mds[3 * ps.nmetadata]);
            }
        } else {
            ok = rd_skip(&c, wt);
        }
        if (!ok) {
            rc = ps.exhausted ? TW_ELIMIT : TW_EPARSE;
            goto out;
        }
    }
    struct tw_remote_store *st = req->store;
    size_t li = 0, si = 0, nexemplars = 0, nhistograms = 0;
    for (size_t i = 0; i < ps.nseries; i++) {
        tw_remote_series_t *s = &st->series[i];
        s->labels = st->labels + li;
        s->samples = st->samples + si;
        li += s->nlabels;
        si += s->nsamples;
        nexemplars += s->nexemplars;
        nhistograms += s->nhistograms;
    }
    req->series = st->series;
    req->nseries = ps.nseries;
    req->metadata = st->metadata;
    req->nmetadata = ps.nmetadata;
    req->nsamples = ps.nsamples;
    req->nexemplars = nexemplars;
    req->nhistograms = nhistograms;
    st->nlabels = ps.nlabels;
    for (size_t i = 0; i < 3 * ps.nmetadata; i++) {
        terminate(&mds[i]);
    }
out:
    free(mds);
    return rc;
}

void tw_remote_write_parse_summarize(const tw_remote_write_request_t *req,
                                     tw_remote_wire_summary_t *out)
{
    const struct tw_remote_store *st = req->store;
    memset(out, 0, sizeof(*out));
    out->nseries = req->nseries;
    out->nlabels = st->nlabels;
    out->nsamples = req->nsamples;
    out->nexemplars = req->nexemplars;
    out->nhistograms = req->nhistograms;
    out->nmetadata = req->nmetadata;
    uint64_t h = 0;
    for (size_t i = 0; i < st->nlabels; i++) {
        h = tw_remote_digest(h, st->labels[i].name, st->lens[i].name);
        h = tw_remote_digest(h, "=", 1);
        h = tw_remote_digest(h, st->labels[i].value, st->lens[i].value);
    }
    for (size_t i = 0; i < req->nsamples; i++) {
        h = tw_remote_digest(h, &st->samples[i].t_ms, sizeof(int64_t));
        h = tw_remote_digest(h, &st->samples[i].v, sizeof(double));
    }
    for (size_t i = 0; i < req->nmetadata; i++) {
        const tw_remote_metadata_t *m = &req->metadata[i];
        int t = (int)m->type;
        h = tw_remote_digest(h, &t, sizeof(t));
        h = tw_remote_digest(h, m->family, strlen(m->family));
        h = tw_remote_digest(h, m->help, strlen(m->help));
        h = tw_remote_digest(h, m->unit, strlen(m->unit));
    }
    out->digest = h;
}

uint64_t tw_remote_digest(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    h ^= 0xcbf29ce484222325ull + n;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ull;
    }
    return h;
}

/* ---- validation ---------------------------------------------------------------------------- */

static int reject_set(tw_remote_write_reject_t *reject, tw_remote_write_reason_t reason)
{
    if (reject != NULL) {
        reject->reason = reason;
    }
    return 0;
}

/*
 * Validates series idx in place: its labels (NUL-terminated by now) lose the empty values and
 * get sorted; s->nlabels shrinks accordingly. Returns 0 or an error code.
 */
static int check_series(tw_remote_series_t *s, tw_label_t *labels,
                        const tw_remote_label_len_t *lens, size_t idx,
                        const tw_remote_write_limits_t *lim, tw_remote_write_reject_t *reject,
                        tw_error_t *err)
{
    char q[300];
    char set[512];
    if (s->nlabels > lim->max_labels_per_series) {
        reject_set(reject, TW_REMOTE_WRITE_TOO_LARGE);
        return tw_error_set(err, TW_ELIMIT, "series %zu has %zu labels, more than the limit of %zu",
                            idx, s->nlabels, lim->max_labels_per_series);
    }
    size_t n = 0;
    for (size_t i = 0; i < s->nlabels; i++) {
        const uint8_t *name = (const uint8_t *)labels[i].name;
        const uint8_t *value = (const uint8_t *)labels[i].value;
        if (!label_name_ok(name, lens[i].name)) {
            reject_set(reject, TW_REMOTE_WRITE_INVALID_LABEL_NAME);
            return tw_error_set(
                err, TW_EINVAL,
                "invalid label name %s in series %zu: expected [a-zA-Z_][a-zA-Z0-9_]*",
                quote_bytes(name, lens[i].name, q, sizeof(q)), idx);
        }
        if (!utf8_ok(value, lens[i].value)) {
            reject_set(reject, TW_REMOTE_WRITE_INVALID_LABEL_VALUE);
            return tw_error_set(
                err, TW_EINVAL,
                "invalid value for label %s in series %zu: not UTF-8 or contains a NUL byte",
                quote_bytes(name, lens[i].name, q, sizeof(q)), idx);
        }
        if (lens[i].value == 0) {
            continue; /* an empty value is the same as no label (Prometheus: WithoutEmpty) */
        }
        labels[n++] = labels[i];
    }
    if (n == 0) {
        reject_set(reject, TW_REMOTE_WRITE_NO_LABELS);
        return tw_error_set(err, TW_EINVAL, "series %zu has no labels%s", idx,
                            s->nlabels > 0 ? " with a non-empty value" : "");
    }
    s->nlabels = n;
    tw_labels_sort(labels, n);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(labels[i - 1].name, labels[i].name) == 0) {
            reject_set(reject, TW_REMOTE_WRITE_DUPLICATE_LABEL);
            return tw_error_set(err, TW_EINVAL, "duplicate label name \"%s\" in series %s",
                                labels[i].name,
                                tw_remote_labels_format(labels, n, set, sizeof(set)));
        }
    }
    const char *name = tw_labels_get(labels, n, TW_METRIC_NAME_LABEL);
    if (name == NULL) {
        reject_set(reject, TW_REMOTE_WRITE_MISSING_NAME);
        return tw_error_set(err, TW_EINVAL, "series %s has no __name__ label",
                            tw_remote_labels_format(labels, n, set, sizeof(set)));
    }
    if (!tw_metric_name_valid(name)) {
        reject_set(reject, TW_REMOTE_WRITE_INVALID_NAME);
        return tw_error_set(
            err, TW_EINVAL,
            "invalid metric name %s in series %s: expected [a-zA-Z_:][a-zA-Z0-9_:]*",
            quote_bytes((const uint8_t *)name, strlen(name), q, sizeof(q)),
            tw_remote_labels_format(labels, n, set, sizeof(set)));
    }
    return 0;
}

/* ---- decode ------------------------------------------------------------------------------- */

tw_remote_write_request_t *tw_remote_write_request_new(void)
{
    tw_remote_write_request_t *req = tw_xcalloc(1, sizeof(*req));
    req->store = tw_xcalloc(1, sizeof(*req->store));
    return req;
}

size_t tw_remote_write_request_capacity(const tw_remote_write_request_t *req)
{
    const struct tw_remote_store *st = req->store;
    return st->raw_cap + st->series_cap * sizeof(tw_remote_series_t) +
           st->labels_cap * (sizeof(tw_label_t) + sizeof(tw_remote_label_len_t)) +
           st->samples_cap * sizeof(tw_remote_sample_t) +
           st->metadata_cap * sizeof(tw_remote_metadata_t);
}

static void request_clear(tw_remote_write_request_t *req)
{
    req->series = NULL;
    req->nseries = 0;
    req->metadata = NULL;
    req->nmetadata = 0;
    req->nsamples = req->nexemplars = req->nhistograms = 0;
    req->decoded_bytes = 0;
    req->store->nlabels = 0;
}

int tw_remote_write_decode_reuse(const void *body, size_t len,
                                 const tw_remote_write_limits_t *limits,
                                 tw_remote_write_request_t *req, tw_remote_write_reject_t *reject,
                                 tw_error_t *err)
{
    tw_remote_write_limits_t lim;
    struct tw_remote_store *st = req->store;
    int rc = 0;

    tw_remote_write_limits_resolve(limits, &lim);
    request_clear(req);
    if (reject != NULL) {
        reject->reason = TW_REMOTE_WRITE_OK;
        reject->nsamples = 0;
    }
    if (len == 0 || body == NULL) {
        reject_set(reject, TW_REMOTE_WRITE_EMPTY_BODY);
        return tw_error_set(err, TW_EPARSE,
                            "empty body: expected a snappy-compressed WriteRequest");
    }
    if (len > lim.max_body_bytes) {
        reject_set(reject, TW_REMOTE_WRITE_TOO_LARGE);
        return tw_error_set(err, TW_ELIMIT,
                            "request body of %zu bytes exceeds the limit of %zu bytes", len,
                            lim.max_body_bytes);
    }
    size_t dlen = 0;
    if (snappy_uncompressed_length(body, len, &dlen) != SNAPPY_OK) {
        reject_set(reject, TW_REMOTE_WRITE_SNAPPY);
        return tw_error_set(err, TW_EPARSE,
                            "snappy: corrupt input: no valid block-format length header");
    }
    if (dlen > lim.max_decoded_bytes) {
        reject_set(reject, TW_REMOTE_WRITE_TOO_LARGE);
        return tw_error_set(err, TW_ELIMIT,
                            "decoded body of %zu bytes exceeds the limit of %zu bytes", dlen,
                            lim.max_decoded_bytes);
    }
    if (dlen + 1 > st->raw_cap) {
        /* No copy of the old contents: grow by replacing. */
        free(st->raw);
        st->raw_cap = dlen + 1 > 2 * st->raw_cap ? dlen + 1 : 2 * st->raw_cap;
        st->raw = tw_xmalloc(st->raw_cap);
    }
    size_t got = dlen;
    if (snappy_uncompress(body, len, (char *)st->raw, &got) != SNAPPY_OK || got != dlen) {
        reject_set(reject, TW_REMOTE_WRITE_SNAPPY);
        return tw_error_set(err, TW_EPARSE, "snappy: corrupt input");
    }
    st->raw[dlen] = '\0';

    rc = tw_remote_write_parse(st->raw, dlen, lim.max_decode_memory_bytes, req);
    if (rc == TW_ELIMIT) {
        request_clear(req);
        reject_set(reject, TW_REMOTE_WRITE_TOO_LARGE);
        return tw_error_set(err, TW_ELIMIT,
                            "request too large: decoding it needs more than %zu bytes of memory",
                            lim.max_decode_memory_bytes);
    }
    if (rc != 0) {
        request_clear(req);
        reject_set(reject, TW_REMOTE_WRITE_PROTOBUF);
        return tw_error_set(err, TW_EPARSE,
                            "protobuf: cannot parse WriteRequest (%zu bytes): truncated or "
                            "malformed message, or a field with the wrong wire type",
                            dlen);
    }
    if (reject != NULL) {
        reject->nsamples = req->nsamples;
    }
    /* Every string ends where the next field's key starts: terminate them all before any
     * check reads them as C strings. */
    for (size_t i = 0; i < st->nlabels; i++) {
        if (st->lens[i].name > 0) {
            ((char *)st->labels[i].name)[st->lens[i].name] = '\0';
        }
        if (st->lens[i].value > 0) {
            ((char *)st->labels[i].value)[st->lens[i].value] = '\0';
        }
    }
    size_t li = 0;
    for (size_t i = 0; i < req->nseries; i++) {
        tw_remote_series_t *s = &st->series[i];
        tw_label_t *labels = st->labels + li;
        const tw_remote_label_len_t *lens = st->lens + li;
        li += s->nlabels;
        rc = check_series(s, labels, lens, i, &lim, reject, err);
        if (rc != 0) {
            request_clear(req);
            return rc;
        }
    }
    req->decoded_bytes = dlen;
    return 0;
}

int tw_remote_write_decode(const void *body, size_t len, const tw_remote_write_limits_t *limits,
                           tw_remote_write_request_t **out, tw_remote_write_reject_t *reject,
                           tw_error_t *err)
{
    tw_remote_write_request_t *req = tw_remote_write_request_new();
    int rc = tw_remote_write_decode_reuse(body, len, limits, req, reject, err);
    if (rc != 0) {
        tw_remote_write_request_free(req);
        req = NULL;
    }
    *out = req;
    return rc;
}

void tw_remote_write_request_free(tw_remote_write_request_t *req)
{
    if (req == NULL) {
        return;
    }
    struct tw_remote_store *st = req->store;
    free(st->raw);
    free(st->series);
    free(st->labels);
    free(st->lens);
    free(st->samples);
    free(st->metadata);
    free(st);
    free(req);
}
