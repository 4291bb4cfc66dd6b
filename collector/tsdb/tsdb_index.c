/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsdb_index.c - a block's index file in Prometheus' format v2 (docs/formats/block.md): the
 * writer (sorted series with their chunk references -> symbol table, series, postings, postings
 * offset table, TOC) and the reader over the file's bytes (mmapped by tsdb_block.c). The reader
 * is pure (no I/O, fuzzed by fuzz_tsdb_index) and never reads outside the buffer.
 *
 * How reading works: open checks the magic, the TOC and its checksum, decodes the symbol table
 * (checksum, sorted, unique) into NUL-terminated copies (labels point at them), and the postings
 * offset table (checksum, sorted) into an array searched by bisection. Series entries and
 * postings lists are checked (bounds, checksum) when read. Thread model: a writer belongs to one
 * thread; an opened index is immutable and read from any thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/tsdb/tsdb_int.h"
#include "common/mem.h"

#define INDEX_MAGIC 0xBAAAD700u
#define INDEX_TOC_LEN 52

/* ---- byte helpers ---- */

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

static int buf_uvarint(tw_buf_t *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    return tw_buf_append(b, tmp, n);
}

static int buf_varint(tw_buf_t *b, int64_t v)
{
    uint64_t u = (uint64_t)v << 1;
    if (v < 0) {
        u = ~u;
    }
    return buf_uvarint(b, u);
}

static int buf_be32(tw_buf_t *b, uint32_t v)
{
    uint8_t t[4];
    be32(t, v);
    return tw_buf_append(b, t, 4);
}

/* A decoding cursor; moves only on success. */
typedef struct dec {
    const uint8_t *p;
    const uint8_t *end;
    bool bad;
} dec_t;

static uint64_t dec_uvarint(dec_t *d)
{
    uint64_t v = 0;
    for (unsigned shift = 0, i = 0; i < 10; i++, shift += 7) {
        if (d->p + i >= d->end) {
            break;
        }
        uint8_t c = d->p[i];
        if (i == 9 && c > 1) {
            break;
        }
        v |= (uint64_t)(c & 0x7f) << shift;
        if (c < 0x80) {
            d->p += i + 1;
            return v;
        }
    }
    d->bad = true;
    return 0;
}

static int64_t dec_varint(dec_t *d)
{
    uint64_t u = dec_uvarint(d);
    int64_t v = (int64_t)(u >> 1);
    if (u & 1) {
        v = ~v;
    }
    return v;
}

static uint32_t dec_be32(dec_t *d)
{
    if (d->end - d->p < 4) {
        d->bad = true;
        return 0;
    }
    uint32_t v = rd32(d->p);
    d->p += 4;
    return v;
}

static const uint8_t *dec_bytes(dec_t *d, uint64_t n)
{
    if ((uint64_t)(d->end - d->p) < n) {
        d->bad = true;
        return NULL;
    }
    const uint8_t *r = d->p;
    d->p += n;
    return r;
}

/* ---- the file writer ---- */

void tsdb_fw_init(tsdb_fw_t *w, int fd)
{
    memset(w, 0, sizeof(*w));
    w->fd = fd;
    tw_buf_init(&w->buf, 0);
}

int tsdb_fw_flush(tsdb_fw_t *w)
{
    const char *p = w->buf.data;
    size_t n = w->buf.len;
    while (n > 0 && w->err == 0) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0) {
            if (errno != EINTR) {
                w->err = -errno;
            }
            continue;
        }
        p += k;
        n -= (size_t)k;
    }
    tw_buf_reset(&w->buf);
    return w->err;
}

int tsdb_fw_write(tsdb_fw_t *w, const void *p, size_t n)
{
    if (w->err != 0) {
        return w->err;
    }
    if (tw_buf_append(&w->buf, p, n) != 0) {
        w->err = TW_ELIMIT;
        return w->err;
    }
    w->off += n;
    if (w->buf.len >= (1u << 20)) {
        return tsdb_fw_flush(w);
    }
    return 0;
}

int tsdb_fw_pad(tsdb_fw_t *w, unsigned align)
{
    static const uint8_t zero[16];
    size_t r = (size_t)(w->off % align);
    return r == 0 ? w->err : tsdb_fw_write(w, zero, align - r);
}

void tsdb_fw_fini(tsdb_fw_t *w)
{
    tw_buf_fini(&w->buf);
}

/* Writes a section body as len <4b>, body, CRC32C(body). */
static int write_section(tsdb_fw_t *w, const tw_buf_t *body)
{
    uint8_t t[4];
    be32(t, (uint32_t)body->len);
    tsdb_fw_write(w, t, 4);
    tsdb_fw_write(w, body->data != NULL ? body->data : "", body->len);
    be32(t, tsdb_crc32c(0, body->data != NULL ? body->data : "", body->len));
    return tsdb_fw_write(w, t, 4);
}

/* ---- index writer ---- */

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static uint32_t sym_ref(const char **syms, size_t n, const char *s)
{
    const char **f = bsearch(&s, syms, n, sizeof(*syms), cmp_strp);
    return (uint32_t)(f - syms);
}

typedef struct triple {
    uint32_t name, value, id;
} triple_t;

static int cmp_triple(const void *a, const void *b)
{
    const triple_t *x = a, *y = b;
    if (x->name != y->name) {
        return x->name < y->name ? -1 : 1;
    }
    if (x->value != y->value) {
        return x->value < y->value ? -1 : 1;
    }
    return x->id < y->id ? -1 : (x->id > y->id);
}

int tsdb_index_write(const char *path, const tsdb_iw_series_t *series, size_t n, tw_error_t *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return tw_error_set(err, -errno, "index: cannot create %s: %s", path, strerror(errno));
    }
    tsdb_fw_t w;
    tsdb_fw_init(&w, fd);
    tw_buf_t body, pot;
    tw_buf_init(&body, 0);
    tw_buf_init(&pot, 0);
    size_t nstr = 0, npairs = 0;
    for (size_t i = 0; i < n; i++) {
        nstr += 2 * series[i].nlabels;
        npairs += series[i].nlabels;
    }
    const char **syms = tw_xmalloc((nstr + 1) * sizeof(*syms));
    uint32_t *ids = tw_xmalloc((n + 1) * sizeof(*ids));
    triple_t *tr = tw_xmalloc((npairs + 1) * sizeof(*tr));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < series[i].nlabels; j++) {
            syms[k++] = series[i].labels[j].name;
            syms[k++] = series[i].labels[j].value;
        }
    }
    qsort(syms, k, sizeof(*syms), cmp_strp);
    size_t nsyms = 0;
    for (size_t i = 0; i < k; i++) {
        if (nsyms == 0 || strcmp(syms[nsyms - 1], syms[i]) != 0) {
            syms[nsyms++] = syms[i];
        }
    }
    uint64_t toc[6] = {0};
    uint8_t hdr[5];
    be32(hdr, INDEX_MAGIC);
    hdr[4] = 2;
    tsdb_fw_write(&w, hdr, 5);
    /* Symbol table. */
    toc[0] = w.off;
    buf_be32(&body, (uint32_t)nsyms);
    for (size_t i = 0; i < nsyms; i++) {
        size_t l = strlen(syms[i]);
        buf_uvarint(&body, l);
        tw_buf_append(&body, syms[i], l);
    }
    write_section(&w, &body);
    /* Series. */
    tsdb_fw_pad(&w, 16);
    toc[1] = w.off;
    size_t nt = 0;
    for (size_t i = 0; i < n; i++) {
        const tsdb_iw_series_t *s = &series[i];
        tsdb_fw_pad(&w, 16);
        if (w.off / 16 > UINT32_MAX) {
            tw_error_set(err, TW_ELIMIT, "index: %s: series section over 64 GiB", path);
            w.err = TW_ELIMIT;
            break;
        }
        ids[i] = (uint32_t)(w.off / 16);
        tw_buf_reset(&body);
        buf_uvarint(&body, s->nlabels);
        for (size_t j = 0; j < s->nlabels; j++) {
            uint32_t nr = sym_ref(syms, nsyms, s->labels[j].name);
            uint32_t vr = sym_ref(syms, nsyms, s->labels[j].value);
            buf_uvarint(&body, nr);
            buf_uvarint(&body, vr);
            tr[nt++] = (triple_t){nr, vr, ids[i]};
        }
        buf_uvarint(&body, s->nchunks);
        for (size_t j = 0; j < s->nchunks; j++) {
            const tsdb_chunk_meta_t *c = &s->chunks[j];
            if (j == 0) {
                buf_varint(&body, c->mint);
                buf_uvarint(&body, (uint64_t)(c->maxt - c->mint));
                buf_uvarint(&body, c->ref);
            } else {
                const tsdb_chunk_meta_t *p = &s->chunks[j - 1];
                buf_uvarint(&body, (uint64_t)(c->mint - p->maxt));
                buf_uvarint(&body, (uint64_t)(c->maxt - c->mint));
                buf_varint(&body, (int64_t)(c->ref - p->ref));
            }
        }
        uint8_t lenb[10], crc[4];
        size_t ll = 0;
        uint64_t v = body.len;
        while (v >= 0x80) {
            lenb[ll++] = (uint8_t)(v | 0x80);
            v >>= 7;
        }
        lenb[ll++] = (uint8_t)v;
        tsdb_fw_write(&w, lenb, ll);
        tsdb_fw_write(&w, body.data, body.len);
        be32(crc, tsdb_crc32c(0, body.data, body.len));
        tsdb_fw_write(&w, crc, 4);
    }
    /* No label indices (deprecated in v2): an empty label offset table stands for them. */
    toc[2] = w.off;
    tsdb_fw_pad(&w, 4);
    toc[4] = w.off;
    qsort(tr, nt, sizeof(*tr), cmp_triple);
    /* The all-postings list, then one per pair; the offset table is built alongside. */
    size_t npot = 0;
    tw_buf_reset(&pot);
    buf_be32(&pot, 0); /* #entries, patched below */
    for (size_t i = 0, j = 0; i <= nt && w.err == 0; i = j) {
        const char *name = "", *value = "";
        tw_buf_reset(&body);
        if (npot == 0) {
            buf_be32(&body, (uint32_t)n);
            for (size_t x = 0; x < n; x++) {
                buf_be32(&body, ids[x]);
            }
        } else if (i == nt) {
            break;
        } else {
            name = syms[tr[i].name];
            value = syms[tr[i].value];
            while (j < nt && tr[j].name == tr[i].name && tr[j].value == tr[i].value) {
                j++;
            }
            buf_be32(&body, (uint32_t)(j - i));
            for (size_t x = i; x < j; x++) {
                buf_be32(&body, tr[x].id);
            }
        }
        tsdb_fw_pad(&w, 4);
        buf_uvarint(&pot, 2);
        buf_uvarint(&pot, strlen(name));
        tw_buf_puts(&pot, name);
        buf_uvarint(&pot, strlen(value));
        tw_buf_puts(&pot, value);
        buf_uvarint(&pot, w.off);
        npot++;
        write_section(&w, &body);
    }
    toc[3] = w.off;
    tw_buf_reset(&body);
    buf_be32(&body, 0);
    write_section(&w, &body);
    toc[5] = w.off;
    if (pot.data != NULL) {
        be32((uint8_t *)pot.data, (uint32_t)npot);
    }
    write_section(&w, &pot);
    uint8_t tb[INDEX_TOC_LEN];
    for (int i = 0; i < 6; i++) {
        be32(tb + 8 * i, (uint32_t)(toc[i] >> 32));
        be32(tb + 8 * i + 4, (uint32_t)toc[i]);
    }
    be32(tb + 48, tsdb_crc32c(0, tb, 48));
    tsdb_fw_write(&w, tb, sizeof(tb));
    int rc = tsdb_fw_flush(&w);
    if (rc == 0 && fsync(fd) != 0) {
        rc = -errno;
    }
    if (rc != 0 && (err == NULL || err->code == 0)) {
        tw_error_set(err, rc, "index: cannot write %s: %s", path,
                     rc == TW_ELIMIT ? "too large" : strerror(-rc));
    }
    close(fd);
    tsdb_fw_fini(&w);
    tw_buf_fini(&body);
    tw_buf_fini(&pot);
    free(syms);
    free(ids);
    free(tr);
    return rc;
}

/* ---- index reader ---- */

/* Checks a len-prefixed section at off and returns its body. */
static int section(const tsdb_index_t *ix, uint64_t off, const char *what, dec_t *body,
                   tw_error_t *err)
{
    if (off > ix->len || ix->len - off < 8) {
        return tw_error_set(err, TW_EPARSE, "index: %s at offset %llu is outside the file", what,
                            (unsigned long long)off);
    }
    uint32_t l = rd32(ix->b + off);
    if ((uint64_t)l > ix->len - off - 8) {
        return tw_error_set(err, TW_EPARSE,
                            "index: %s at offset %llu: length %u runs past the end of the file",
                            what, (unsigned long long)off, l);
    }
    const uint8_t *p = ix->b + off + 4;
    if (tsdb_crc32c(0, p, l) != rd32(p + l)) {
        return tw_error_set(err, TW_EPARSE, "index: %s at offset %llu: checksum mismatch", what,
                            (unsigned long long)off);
    }
    body->p = p;
    body->end = p + l;
    body->bad = false;
    return 0;
}

static int cmp_pot_key(const tsdb_pot_t *e, const char *name, const char *value)
{
    int c = strcmp(e->name, name);
    return c != 0 ? c : strcmp(e->value, value);
}

int tsdb_index_open(tsdb_index_t *ix, const uint8_t *b, size_t len, tw_error_t *err)
{
    memset(ix, 0, sizeof(*ix));
    ix->b = b;
    ix->len = len;
    int rc;
    dec_t d;
    if (len < 5 + INDEX_TOC_LEN || rd32(b) != INDEX_MAGIC) {
        return tw_error_set(err, TW_EPARSE, "index: not an index file (bad magic or too short)");
    }
    if (b[4] != 2) {
        return tw_error_set(err, TW_EPARSE, "index: format version %u unsupported (want 2)", b[4]);
    }
    const uint8_t *t = b + len - INDEX_TOC_LEN;
    if (tsdb_crc32c(0, t, 48) != rd32(t + 48)) {
        return tw_error_set(err, TW_EPARSE, "index: table of contents checksum mismatch");
    }
    for (int i = 0; i < 6; i++) {
        ix->toc[i] = rd64(t + 8 * i);
        if (ix->toc[i] > len - INDEX_TOC_LEN) {
            return tw_error_set(err, TW_EPARSE, "index: table of contents entry %d out of range",
                                i);
        }
    }
    ix->series_end = ix->toc[2] != 0 ? ix->toc[2] : ix->toc[4];
    if (ix->toc[1] > ix->series_end) {
        return tw_error_set(err, TW_EPARSE, "index: series section ends before it starts");
    }
    /* Symbols. */
    if ((rc = section(ix, ix->toc[0], "symbol table", &d, err)) != 0) {
        return rc;
    }
    uint32_t nsyms = dec_be32(&d);
    if (d.bad || nsyms > (uint64_t)(d.end - d.p)) {
        return tw_error_set(err, TW_EPARSE, "index: symbol table: bad symbol count");
    }
    size_t total = (size_t)(d.end - d.p) + nsyms;
    ix->symstr = tw_xmalloc(total + 1);
    ix->syms = tw_xmalloc(((size_t)nsyms + 1) * sizeof(*ix->syms));
    size_t o = 0;
    for (uint32_t i = 0; i < nsyms; i++) {
        uint64_t l = dec_uvarint(&d);
        const uint8_t *s = d.bad ? NULL : dec_bytes(&d, l);
        if (s == NULL || memchr(s, 0, l) != NULL) {
            rc = tw_error_set(err, TW_EPARSE, "index: symbol table: symbol %u is malformed", i);
            goto fail;
        }
        memcpy(ix->symstr + o, s, l);
        ix->symstr[o + l] = '\0';
        ix->syms[i] = ix->symstr + o;
        o += l + 1;
        if (i > 0 && strcmp(ix->syms[i - 1], ix->syms[i]) >= 0) {
            rc = tw_error_set(err, TW_EPARSE, "index: symbol table: symbols not sorted at %u", i);
            goto fail;
        }
    }
    ix->nsyms = nsyms;
    /* Postings offset table. */
    if ((rc = section(ix, ix->toc[5], "postings offset table", &d, err)) != 0) {
        goto fail;
    }
    uint32_t np = dec_be32(&d);
    if (d.bad || np > (uint64_t)(d.end - d.p) / 4) {
        rc = tw_error_set(err, TW_EPARSE, "index: postings offset table: bad entry count");
        goto fail;
    }
    ix->pot = tw_xmalloc(((size_t)np + 1) * sizeof(*ix->pot));
    for (uint32_t i = 0; i < np; i++) {
        uint64_t cnt = dec_uvarint(&d);
        const char *kv[2] = {"", ""};
        for (int j = 0; j < 2 && !d.bad; j++) {
            uint64_t l = dec_uvarint(&d);
            const uint8_t *s = d.bad ? NULL : dec_bytes(&d, l);
            if (s == NULL) {
                break;
            }
            if (l > 0) {
                /* Every name and value is a symbol: point at the NUL-terminated copy. */
                uint32_t lo = 0, hi = ix->nsyms;
                kv[j] = NULL;
                while (lo < hi) {
                    uint32_t mid = lo + (hi - lo) / 2;
                    size_t ml = strlen(ix->syms[mid]);
                    int c = memcmp(ix->syms[mid], s, ml < l ? ml : l);
                    if (c == 0) {
                        c = ml < l ? -1 : (ml > l);
                    }
                    if (c == 0) {
                        kv[j] = ix->syms[mid];
                        break;
                    }
                    if (c < 0) {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                if (kv[j] == NULL) {
                    d.bad = true;
                }
            }
        }
        uint64_t off = dec_uvarint(&d);
        if (d.bad || cnt != 2 || off >= len) {
            rc =
                tw_error_set(err, TW_EPARSE, "index: postings offset table: entry %u malformed", i);
            goto fail;
        }
        ix->pot[i] = (tsdb_pot_t){kv[0], kv[1], off};
        if (i > 0 && cmp_pot_key(&ix->pot[i - 1], kv[0], kv[1]) >= 0) {
            rc = tw_error_set(err, TW_EPARSE, "index: postings offset table: not sorted at %u", i);
            goto fail;
        }
    }
    ix->npot = np;
    return 0;
fail:
    tsdb_index_close(ix);
    return rc;
}

void tsdb_index_close(tsdb_index_t *ix)
{
    free(ix->symstr);
    free(ix->syms);
    free(ix->pot);
    memset(ix, 0, sizeof(*ix));
}

/* Index of the first entry >= (name, value). */
static size_t pot_lower(const tsdb_index_t *ix, const char *name, const char *value)
{
    size_t lo = 0, hi = ix->npot;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_pot_key(&ix->pot[mid], name, value) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static int read_postings(const tsdb_index_t *ix, size_t i, tsdb_postings_t *out, tw_error_t *err)
{
    dec_t d;
    int rc = section(ix, ix->pot[i].off, "postings list", &d, err);
    if (rc != 0) {
        return rc;
    }
    uint32_t n = dec_be32(&d);
    if (d.bad || (uint64_t)(d.end - d.p) != (uint64_t)n * 4) {
        return tw_error_set(err, TW_EPARSE, "index: postings list for %s=%s: bad length",
                            ix->pot[i].name, ix->pot[i].value);
    }
    out->n = 0;
    for (uint32_t j = 0; j < n; j++) {
        uint64_t id = rd32(d.p + 4 * (size_t)j);
        if (out->n > 0 && id <= out->ids[out->n - 1]) {
            return tw_error_set(err, TW_EPARSE, "index: postings list for %s=%s: not sorted",
                                ix->pot[i].name, ix->pot[i].value);
        }
        tsdb_postings_push(out, id);
    }
    return 0;
}

int tsdb_index_postings(const tsdb_index_t *ix, const char *name, const char *value,
                        tsdb_postings_t *out, tw_error_t *err)
{
    out->n = 0;
    size_t i = pot_lower(ix, name, value);
    if (i >= ix->npot || cmp_pot_key(&ix->pot[i], name, value) != 0) {
        return 0;
    }
    return read_postings(ix, i, out, err);
}

/* Union of the postings of name's values that m accepts (want) or rejects (!want). */
static int matcher_union(const tsdb_index_t *ix, const tw_matcher_t *m, bool want,
                         tsdb_postings_t *out, tw_error_t *err)
{
    out->n = 0;
    if (m->name[0] == '\0') {
        return 0;
    }
    tsdb_postings_t one = {0}, acc = {0};
    int rc = 0;
    for (size_t i = pot_lower(ix, m->name, ""); i < ix->npot; i++) {
        if (strcmp(ix->pot[i].name, m->name) != 0) {
            break;
        }
        if (tw_matcher_matches(m, ix->pot[i].value) != want) {
            continue;
        }
        if ((rc = read_postings(ix, i, &one, err)) != 0) {
            break;
        }
        const tsdb_postings_t *lists[2] = {out, &one};
        tsdb_postings_union(lists, 2, &acc);
        tsdb_postings_t t = *out;
        *out = acc;
        acc = t;
    }
    tsdb_postings_fini(&one);
    tsdb_postings_fini(&acc);
    return rc;
}

static int index_union(void *ctx, const tw_matcher_t *m, bool want, tsdb_postings_t *out,
                       tw_error_t *err)
{
    return matcher_union(ctx, m, want, out, err);
}

static int index_all(void *ctx, tsdb_postings_t *out, tw_error_t *err)
{
    return tsdb_index_postings(ctx, "", "", out, err);
}

int tsdb_index_postings_for_matchers(const tsdb_index_t *ix, const tw_matcher_t *ms, size_t n,
                                     tsdb_postings_t *out, tw_error_t *err)
{
    const tsdb_postings_source_t src = {(void *)ix, index_union, index_all};
    return tsdb_postings_for_matchers(&src, ms, n, out, err);
}

int tsdb_index_series(const tsdb_index_t *ix, uint64_t id, tsdb_iseries_t *s, tw_error_t *err)
{
    s->nlabels = s->nchunks = 0;
    uint64_t off = id * 16;
    if (id == 0 || off < ix->toc[1] || off >= ix->series_end) {
        return tw_error_set(err, TW_EPARSE, "index: series %llu out of range",
                            (unsigned long long)id);
    }
    dec_t d = {ix->b + off, ix->b + ix->series_end, false};
    uint64_t l = dec_uvarint(&d);
    const uint8_t *body = d.bad ? NULL : dec_bytes(&d, l);
    const uint8_t *crc = body == NULL ? NULL : dec_bytes(&d, 4);
    if (crc == NULL) {
        return tw_error_set(err, TW_EPARSE, "index: series %llu runs past its section",
                            (unsigned long long)id);
    }
    if (tsdb_crc32c(0, body, l) != rd32(crc)) {
        return tw_error_set(err, TW_EPARSE, "index: series %llu: checksum mismatch",
                            (unsigned long long)id);
    }
    d = (dec_t){body, body + l, false};
    uint64_t nl = dec_uvarint(&d);
    if (d.bad || nl > l / 2 || nl > 1024) {
        return tw_error_set(err, TW_EPARSE, "index: series %llu: bad label count",
                            (unsigned long long)id);
    }
    tw_grow((void **)&s->labels, &s->labels_cap, nl + 1, sizeof(*s->labels));
    for (uint64_t i = 0; i < nl; i++) {
        uint64_t nr = dec_uvarint(&d), vr = dec_uvarint(&d);
        if (d.bad || nr >= ix->nsyms || vr >= ix->nsyms) {
            return tw_error_set(err, TW_EPARSE, "index: series %llu: symbol out of range",
                                (unsigned long long)id);
        }
        s->labels[i] = (tw_label_t){ix->syms[nr], ix->syms[vr]};
        if (i > 0 && strcmp(s->labels[i - 1].name, s->labels[i].name) >= 0) {
            return tw_error_set(err, TW_EPARSE, "index: series %llu: labels not sorted",
                                (unsigned long long)id);
        }
    }
    s->nlabels = (size_t)nl;
    uint64_t nc = dec_uvarint(&d);
    if (d.bad || nc > l) {
        return tw_error_set(err, TW_EPARSE, "index: series %llu: bad chunk count",
                            (unsigned long long)id);
    }
    tw_grow((void **)&s->chunks, &s->chunks_cap, nc + 1, sizeof(*s->chunks));
    for (uint64_t i = 0; i < nc; i++) {
        tsdb_chunk_meta_t *c = &s->chunks[i];
        if (i == 0) {
            c->mint = dec_varint(&d);
            c->maxt = c->mint + (int64_t)dec_uvarint(&d);
            c->ref = dec_uvarint(&d);
        } else {
            const tsdb_chunk_meta_t *p = &s->chunks[i - 1];
            c->mint = p->maxt + (int64_t)dec_uvarint(&d);
            c->maxt = c->mint + (int64_t)dec_uvarint(&d);
            c->ref = p->ref + (uint64_t)dec_varint(&d);
        }
        if (d.bad || c->maxt < c->mint || (i > 0 && c->mint <= s->chunks[i - 1].maxt)) {
            s->nlabels = 0;
            return tw_error_set(err, TW_EPARSE, "index: series %llu: chunk %llu malformed",
                                (unsigned long long)id, (unsigned long long)i);
        }
    }
    s->nchunks = (size_t)nc;
    return 0;
}

void tsdb_iseries_fini(tsdb_iseries_t *s)
{
    free(s->labels);
    free(s->chunks);
    memset(s, 0, sizeof(*s));
}

void tsdb_index_label_names(const tsdb_index_t *ix, const char ***out, size_t *n)
{
    const char **arr = tw_xmalloc((ix->npot + 1) * sizeof(*arr));
    size_t k = 0;
    for (size_t i = 0; i < ix->npot; i++) {
        if (ix->pot[i].name[0] != '\0' && (k == 0 || strcmp(arr[k - 1], ix->pot[i].name) != 0)) {
            arr[k++] = ix->pot[i].name;
        }
    }
    *out = arr;
    *n = k;
}

void tsdb_index_label_values(const tsdb_index_t *ix, const char *name, const char ***out, size_t *n)
{
    size_t i = name[0] != '\0' ? pot_lower(ix, name, "") : ix->npot;
    size_t k = 0;
    const char **arr = tw_xmalloc((ix->npot - (i < ix->npot ? i : ix->npot) + 1) * sizeof(*arr));
    for (; i < ix->npot && strcmp(ix->pot[i].name, name) == 0; i++) {
        arr[k++] = ix->pot[i].value;
    }
    *out = arr;
    *n = k;
}
