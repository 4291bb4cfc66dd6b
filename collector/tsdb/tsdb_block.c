/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsdb_block.c - block directories (docs/formats/block.md): ULIDs, meta.json, writing a block
 * from a sorted series source (chunks/ segment files, then the index, then meta.json, into a
 * .tmp-for-creation directory renamed at the end), and opening one: meta.json parsed, index and
 * chunk files mmapped and every series entry and chunk reference checked, so a damaged block is
 * refused at open with its name and the reason instead of failing queries later.
 *
 * Thread model: an opened block is immutable and shared by reference count; writing a block
 * belongs to the calling thread.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/tsdb/tsdb_int.h"
#include "common/mem.h"

#define CHUNKS_MAGIC 0x85BD40DDu
#define CHUNK_SEGMENT_MAX ((uint64_t)512 << 20)
#define ENC_XOR 1

/* ---- ULIDs ---- */

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void tsdb_ulid_make(char out[TSDB_ULID_LEN + 1], int64_t t_ms, const uint8_t rnd[10])
{
    uint8_t b[16];
    uint64_t t = (uint64_t)t_ms;
    for (int i = 0; i < 6; i++) {
        b[i] = (uint8_t)(t >> (8 * (5 - i)));
    }
    memcpy(b + 6, rnd, 10);
    /* 128 bits as 26 base32 digits, most significant first (the first digit holds 3 bits). */
    for (int i = 0; i < TSDB_ULID_LEN; i++) {
        int bit = 128 - 5 * (TSDB_ULID_LEN - i); /* may be negative for the first digit */
        unsigned v = 0;
        for (int k = 0; k < 5; k++) {
            int pos = bit + k;
            if (pos < 0) {
                continue;
            }
            v |= (unsigned)((b[pos / 8] >> (7 - pos % 8)) & 1) << (4 - k);
        }
        out[i] = crockford[v];
    }
    out[TSDB_ULID_LEN] = '\0';
}

void tsdb_ulid_new(char out[TSDB_ULID_LEN + 1], int64_t now_ms)
{
    static uint64_t counter;
    uint8_t rnd[10] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    bool ok = false;
    if (fd >= 0) {
        ok = read(fd, rnd, sizeof(rnd)) == (ssize_t)sizeof(rnd);
        close(fd);
    }
    if (!ok) {
        uint64_t c = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) ^ (uint64_t)getpid();
        memcpy(rnd, &c, sizeof(c));
    }
    tsdb_ulid_make(out, now_ms, rnd);
}

bool tsdb_ulid_valid(const char *s)
{
    if (strlen(s) != TSDB_ULID_LEN || s[0] > '7') {
        return false;
    }
    for (int i = 0; i < TSDB_ULID_LEN; i++) {
        if (strchr(crockford, s[i]) == NULL || s[i] == '\0') {
            return false;
        }
    }
    return true;
}

/* ---- small file helpers ---- */

void tsdb_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

void tsdb_rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d != NULL) {
            struct dirent *e;
            char p[4096];
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
                    continue;
                }
                if ((size_t)snprintf(p, sizeof(p), "%s/%s", path, e->d_name) < sizeof(p)) {
                    tsdb_rm_rf(p);
                }
            }
            closedir(d);
        }
        (void)rmdir(path);
    } else {
        (void)unlink(path);
    }
}

int tsdb_block_dir_delete(const char *dir)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp-for-deletion", dir);
    if (rename(dir, tmp) != 0) {
        return -errno;
    }
    char parent[4096];
    tw_strlcpy(parent, dir, sizeof(parent));
    char *slash = strrchr(parent, '/');
    if (slash != NULL) {
        *slash = '\0';
        tsdb_fsync_dir(parent);
    }
    tsdb_rm_rf(tmp);
    return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* ---- meta.json ---- */

void tsdb_block_meta_fini(tsdb_block_meta_t *m)
{
    free(m->sources);
    m->sources = NULL;
    m->nsources = 0;
}

int tsdb_block_meta_write(const char *dir, const tsdb_block_meta_t *m, tw_error_t *err)
{
    tw_buf_t b;
    tw_buf_init(&b, 0);
    /* Go's json.MarshalIndent(meta, "", "\t"), which Prometheus writes. */
    tw_buf_printf(&b,
                  "{\n\t\"ulid\": \"%s\",\n\t\"minTime\": %lld,\n\t\"maxTime\": %lld,\n"
                  "\t\"stats\": {\n\t\t\"numSamples\": %llu,\n\t\t\"numSeries\": %llu,\n"
                  "\t\t\"numChunks\": %llu\n\t},\n\t\"compaction\": {\n\t\t\"level\": %d,\n"
                  "\t\t\"sources\": [",
                  m->ulid, (long long)m->mint, (long long)m->maxt, (unsigned long long)m->nsamples,
                  (unsigned long long)m->nseries, (unsigned long long)m->nchunks, m->level);
    for (size_t i = 0; i < m->nsources; i++) {
        tw_buf_printf(&b, "%s\n\t\t\t\"%s\"", i > 0 ? "," : "", m->sources[i]);
    }
    tw_buf_printf(&b, "%s]\n\t},\n\t\"version\": 1\n}", m->nsources > 0 ? "\n\t\t" : "");
    char path[4200];
    snprintf(path, sizeof(path), "%s/meta.json", dir);
    int rc = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || (rc = write_all(fd, b.data, b.len)) != 0 || fsync(fd) != 0) {
        rc = rc != 0 ? rc : -errno;
        tw_error_set(err, rc, "block: cannot write %s: %s", path, strerror(-rc));
    }
    if (fd >= 0) {
        close(fd);
    }
    tw_buf_fini(&b);
    return rc;
}

static int meta_read(const char *dir, const char *name, tsdb_block_meta_t *m, tw_error_t *err)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/meta.json", dir);
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    int rc = TW_EPARSE;
    memset(m, 0, sizeof(*m));
    if (j == NULL) {
        return tw_error_set(err, TW_EPARSE, "block %s: meta.json: %s (line %d)", name, je.text,
                            je.line);
    }
    json_t *ulid = json_object_get(j, "ulid"), *mint = json_object_get(j, "minTime"),
           *maxt = json_object_get(j, "maxTime"), *ver = json_object_get(j, "version");
    if (!json_is_string(ulid) || !tsdb_ulid_valid(json_string_value(ulid)) ||
        strcmp(json_string_value(ulid), name) != 0) {
        tw_error_set(err, rc, "block %s: meta.json: ulid missing or not the directory's name",
                     name);
        goto out;
    }
    if (!json_is_integer(mint) || !json_is_integer(maxt) ||
        json_integer_value(mint) >= json_integer_value(maxt)) {
        tw_error_set(err, rc, "block %s: meta.json: minTime/maxTime missing or minTime >= maxTime",
                     name);
        goto out;
    }
    if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
        tw_error_set(err, rc, "block %s: meta.json: version must be 1", name);
        goto out;
    }
    tw_strlcpy(m->ulid, name, sizeof(m->ulid));
    m->mint = json_integer_value(mint);
    m->maxt = json_integer_value(maxt);
    json_t *st = json_object_get(j, "stats"), *c = json_object_get(j, "compaction");
    if (json_is_object(st)) {
        m->nsamples = (uint64_t)json_integer_value(json_object_get(st, "numSamples"));
        m->nseries = (uint64_t)json_integer_value(json_object_get(st, "numSeries"));
        m->nchunks = (uint64_t)json_integer_value(json_object_get(st, "numChunks"));
    }
    m->level = 1;
    if (json_is_object(c)) {
        json_t *lv = json_object_get(c, "level"), *src = json_object_get(c, "sources");
        if (json_is_integer(lv) && json_integer_value(lv) > 0 && json_integer_value(lv) < 1000) {
            m->level = (int)json_integer_value(lv);
        }
        if (json_is_array(src) && json_array_size(src) < 1000000) {
            m->sources = tw_xcalloc(json_array_size(src) + 1, sizeof(*m->sources));
            for (size_t i = 0; i < json_array_size(src); i++) {
                json_t *e = json_array_get(src, i);
                if (json_is_string(e) && tsdb_ulid_valid(json_string_value(e))) {
                    tw_strlcpy(m->sources[m->nsources++], json_string_value(e), TSDB_ULID_LEN + 1);
                }
            }
        }
    }
    if (m->nsources == 0) {
        free(m->sources);
        m->sources = tw_xcalloc(1, sizeof(*m->sources));
        tw_strlcpy(m->sources[0], name, TSDB_ULID_LEN + 1);
        m->nsources = 1;
    }
    rc = 0;
out:
    json_decref(j);
    return rc;
}

/* ---- opening ---- */

static int map_file(const char *path, uint8_t **p, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    *len = (size_t)st.st_size;
    *p = NULL;
    if (*len > 0) {
        void *m = mmap(NULL, *len, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            int e = -errno;
            close(fd);
            return e;
        }
        *p = m;
    }
    close(fd);
    return 0;
}

static void block_free(tsdb_block_t *b)
{
    tsdb_index_close(&b->ix);
    if (b->index_map != NULL) {
        munmap(b->index_map, b->index_len);
    }
    for (size_t i = 0; i < b->nfiles; i++) {
        if (b->files[i] != NULL) {
            munmap(b->files[i], b->file_lens[i]);
        }
    }
    free(b->files);
    free(b->file_lens);
    tsdb_block_meta_fini(&b->meta);
    free(b->dir);
    free(b);
}

void tsdb_block_ref(tsdb_block_t *b)
{
    __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
}

void tsdb_block_unref(tsdb_block_t *b)
{
    if (b != NULL && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        block_free(b);
    }
}

/* Where the chunk at ref lies: 0 and its data, or TW_EIO. */
static int chunk_locate(const tsdb_block_t *b, uint64_t ref, const uint8_t **data, size_t *len,
                        const uint8_t **crc)
{
    uint64_t fi = ref >> 32, off = ref & 0xffffffffu;
    if (fi >= b->nfiles || off < 8 || off >= b->file_lens[fi]) {
        return TW_EIO;
    }
    const uint8_t *p = b->files[fi] + off, *end = b->files[fi] + b->file_lens[fi];
    uint64_t l = 0;
    unsigned shift = 0;
    for (;;) {
        if (p >= end || shift > 63) {
            return TW_EIO;
        }
        uint8_t c = *p++;
        l |= (uint64_t)(c & 0x7f) << shift;
        shift += 7;
        if (c < 0x80) {
            break;
        }
    }
    if ((uint64_t)(end - p) < 5 || l > (uint64_t)(end - p) - 5) {
        return TW_EIO;
    }
    *data = p; /* the encoding byte, then l bytes */
    *len = (size_t)l;
    *crc = p + 1 + l;
    return 0;
}

int tsdb_block_chunk(const tsdb_block_t *b, uint64_t ref, const uint8_t **data, size_t *len)
{
    const uint8_t *p, *crc;
    size_t l;
    if (chunk_locate(b, ref, &p, &l, &crc) != 0 || p[0] != ENC_XOR) {
        return TW_EIO;
    }
    uint32_t want =
        (uint32_t)crc[0] << 24 | (uint32_t)crc[1] << 16 | (uint32_t)crc[2] << 8 | crc[3];
    if (tsdb_crc32c(0, p, l + 1) != want) {
        return TW_EIO;
    }
    *data = p + 1;
    *len = l;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tsdb_block_open(const char *dir, tsdb_block_t **out, tw_error_t *err)
{
    *out = NULL;
    const char *name = strrchr(dir, '/');
    name = name != NULL ? name + 1 : dir;
    tsdb_block_t *b = tw_xcalloc(1, sizeof(*b));
    b->refs = 1;
    b->dir = tw_xstrdup(dir);
    char path[4200];
    int rc;
    struct stat st;
    tsdb_iseries_t s = {0};
    tsdb_postings_t all = {0};
    char **names = NULL;
    size_t nnames = 0, ncap = 0;
    if ((rc = meta_read(dir, name, &b->meta, err)) != 0) {
        goto fail;
    }
    snprintf(path, sizeof(path), "%s/meta.json", dir);
    if (stat(path, &st) == 0) {
        b->bytes += (uint64_t)st.st_size;
    }
    snprintf(path, sizeof(path), "%s/index", dir);
    if ((rc = map_file(path, &b->index_map, &b->index_len)) != 0) {
        tw_error_set(err, rc, "block %s: cannot read index: %s", name, strerror(-rc));
        goto fail;
    }
    b->bytes += b->index_len;
    if ((rc = tsdb_index_open(&b->ix, b->index_map, b->index_len, err)) != 0) {
        if (err != NULL) {
            char m[sizeof(err->msg)];
            tw_strlcpy(m, err->msg, sizeof(m));
            tw_error_set(err, rc, "block %s: %s", name, m);
        }
        goto fail;
    }
    snprintf(path, sizeof(path), "%s/chunks", dir);
    DIR *d = opendir(path);
    if (d == NULL) {
        rc = tw_error_set(err, -errno, "block %s: cannot read chunks/: %s", name, strerror(errno));
        goto fail;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strlen(e->d_name) == 6 && strspn(e->d_name, "0123456789") == 6) {
            tw_grow((void **)&names, &ncap, nnames + 1, sizeof(*names));
            names[nnames++] = tw_xstrdup(e->d_name);
        }
    }
    closedir(d);
    if (nnames > 1) {
        qsort(names, nnames, sizeof(*names), cmp_name);
    }
    b->files = tw_xcalloc(nnames + 1, sizeof(*b->files));
    b->file_lens = tw_xcalloc(nnames + 1, sizeof(*b->file_lens));
    for (size_t i = 0; i < nnames; i++) {
        if (strtol(names[i], NULL, 10) != (long)i + 1) {
            rc = tw_error_set(err, TW_EPARSE,
                              "block %s: chunks/%s: segment files not numbered "
                              "from 000001 without gaps",
                              name, names[i]);
            goto fail;
        }
        snprintf(path, sizeof(path), "%s/chunks/%s", dir, names[i]);
        if ((rc = map_file(path, &b->files[i], &b->file_lens[i])) != 0) {
            tw_error_set(err, rc, "block %s: cannot read chunks/%s: %s", name, names[i],
                         strerror(-rc));
            goto fail;
        }
        b->nfiles++;
        b->bytes += b->file_lens[i];
        const uint8_t *h = b->files[i];
        if (b->file_lens[i] < 8 ||
            ((uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3]) !=
                CHUNKS_MAGIC ||
            h[4] != 1) {
            rc = tw_error_set(err, TW_EPARSE, "block %s: chunks/%s: bad chunk file header", name,
                              names[i]);
            goto fail;
        }
    }
    /* Check every series entry and chunk reference now rather than failing queries later. */
    if ((rc = tsdb_index_postings(&b->ix, "", "", &all, err)) != 0) {
        goto fail_ix;
    }
    for (size_t i = 0; i < all.n; i++) {
        if ((rc = tsdb_index_series(&b->ix, all.ids[i], &s, err)) != 0) {
            goto fail_ix;
        }
        for (size_t k = 0; k < s.nchunks; k++) {
            const uint8_t *p, *crc;
            size_t l;
            if (chunk_locate(b, s.chunks[k].ref, &p, &l, &crc) != 0) {
                rc = tw_error_set(err, TW_EPARSE,
                                  "block %s: chunk reference %llu of series %llu lies outside "
                                  "the chunk files (truncated chunks/%06llu?)",
                                  name, (unsigned long long)s.chunks[k].ref,
                                  (unsigned long long)all.ids[i],
                                  (unsigned long long)(s.chunks[k].ref >> 32) + 1);
                goto fail;
            }
        }
    }
    tsdb_iseries_fini(&s);
    tsdb_postings_fini(&all);
    for (size_t i = 0; i < nnames; i++) {
        free(names[i]);
    }
    free(names);
    *out = b;
    return 0;
fail_ix:
    if (err != NULL && strncmp(err->msg, "block ", 6) != 0) {
        char m[sizeof(err->msg)];
        tw_strlcpy(m, err->msg, sizeof(m));
        tw_error_set(err, rc, "block %s: %s", name, m);
    }
fail:
    tsdb_iseries_fini(&s);
    tsdb_postings_fini(&all);
    for (size_t i = 0; i < nnames; i++) {
        free(names[i]);
    }
    free(names);
    block_free(b);
    return rc;
}

/* ---- writing ---- */

typedef struct cw {
    char dir[4096 + 96];
    int fd;
    int seq; /* file index, 0-based */
    tsdb_fw_t w;
} cw_t;

static int cw_cut(cw_t *c, tw_error_t *err)
{
    if (c->fd >= 0) {
        int rc = tsdb_fw_flush(&c->w);
        if (rc == 0 && fsync(c->fd) != 0) {
            rc = -errno;
        }
        close(c->fd);
        tsdb_fw_fini(&c->w);
        c->fd = -1;
        if (rc != 0) {
            return tw_error_set(err, rc, "block: cannot write chunks in %s: %s", c->dir,
                                strerror(-rc));
        }
        c->seq++;
    }
    char path[4300];
    snprintf(path, sizeof(path), "%s/%06d", c->dir, c->seq + 1);
    c->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (c->fd < 0) {
        return tw_error_set(err, -errno, "block: cannot create %s: %s", path, strerror(errno));
    }
    tsdb_fw_init(&c->w, c->fd);
    uint8_t h[8] = {0x85, 0xBD, 0x40, 0xDD, 1, 0, 0, 0};
    return tsdb_fw_write(&c->w, h, sizeof(h));
}

static int cw_put(cw_t *c, const tsdb_chunk_t *ch, uint64_t *ref, tw_error_t *err)
{
    size_t len = tsdb_chunk_bytes(ch);
    if (c->w.off + len + 15 > CHUNK_SEGMENT_MAX && c->w.off > 8) {
        int rc = cw_cut(c, err);
        if (rc != 0) {
            return rc;
        }
    }
    *ref = (uint64_t)c->seq << 32 | c->w.off;
    uint8_t hdr[11];
    size_t n = 0;
    uint64_t v = len;
    while (v >= 0x80) {
        hdr[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    hdr[n++] = (uint8_t)v;
    hdr[n++] = ENC_XOR;
    tsdb_fw_write(&c->w, hdr, n);
    tsdb_fw_write(&c->w, ch->data, len);
    uint8_t enc = ENC_XOR;
    uint32_t crc = tsdb_crc32c(tsdb_crc32c(0, &enc, 1), ch->data, len);
    uint8_t cb[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc};
    return tsdb_fw_write(&c->w, cb, 4);
}

int tsdb_block_write(const char *parent, tsdb_block_meta_t *meta, tsdb_wsource_t *src,
                     unsigned chunk_target, bool *empty, tw_error_t *err)
{
    char tmp[4096 + 64], final[4096 + 64], path[4096 + 128];
    if (strlen(parent) > 4000) {
        return tw_error_set(err, TW_EINVAL, "block: data directory path too long");
    }
    snprintf(tmp, sizeof(tmp), "%s/%s.tmp-for-creation", parent, meta->ulid);
    snprintf(final, sizeof(final), "%s/%s", parent, meta->ulid);
    *empty = false;
    tsdb_rm_rf(tmp);
    cw_t c = {.fd = -1};
    tsdb_iw_series_t *ser = NULL;
    size_t nser = 0, ser_cap = 0;
    tw_label_t *lab = NULL;
    size_t nlab = 0, lab_cap = 0;
    tsdb_chunk_meta_t *cm = NULL;
    size_t ncm = 0, cm_cap = 0;
    size_t *loff = NULL, *coff = NULL, off_cap = 0, coff_cap = 0;
    tsdb_sample_t *smp = NULL;
    size_t smp_cap = 0;
    int rc = 0;
    if (chunk_target == 0 || chunk_target > 32767) {
        chunk_target = 120;
    }
    /* Twice the head's chunk size: half the per-chunk overhead (~17 bytes in the chunk file and
     * the index) of Prometheus' blocks. */
    size_t per = 2 * (size_t)chunk_target;
    if (mkdir(tmp, 0755) != 0) {
        return tw_error_set(err, -errno, "block: cannot create %s: %s", tmp, strerror(errno));
    }
    snprintf(c.dir, sizeof(c.dir), "%s/chunks", tmp);
    if (mkdir(c.dir, 0755) != 0) {
        rc = tw_error_set(err, -errno, "block: cannot create %s: %s", c.dir, strerror(errno));
        goto out;
    }
    if ((rc = cw_cut(&c, err)) != 0) {
        goto out;
    }
    meta->nsamples = meta->nseries = meta->nchunks = 0;
    const tw_label_t *l;
    size_t nl;
    while (src->next(src->ctx, &l, &nl)) {
        size_t c0 = ncm, ns = 0;
        int64_t t;
        uint64_t vb;
        while (src->sample(src->ctx, &t, &vb)) {
            if (t < meta->mint || t >= meta->maxt) {
                continue;
            }
            tw_grow((void **)&smp, &smp_cap, ns + 1, sizeof(*smp));
            smp[ns++] = (tsdb_sample_t){t, vb};
        }
        /* Spread the samples evenly over ceil(ns / per) chunks. */
        size_t nchunks = (ns + per - 1) / per;
        for (size_t k = 0, i = 0; k < nchunks; k++) {
            size_t end = ns * (k + 1) / nchunks;
            tsdb_chunk_t ch = {0};
            tsdb_xor_state_t st;
            tsdb_chunk_init(&ch, &st);
            for (; i < end; i++) {
                double v;
                memcpy(&v, &smp[i].vbits, sizeof(v));
                tsdb_chunk_append(&ch, &st, smp[i].t, v);
            }
            tsdb_chunk_trim(&ch);
            tw_grow((void **)&cm, &cm_cap, ncm + 1, sizeof(*cm));
            cm[ncm] = (tsdb_chunk_meta_t){ch.mint, ch.maxt, 0};
            rc = cw_put(&c, &ch, &cm[ncm].ref, err);
            ncm++;
            tsdb_chunk_fini(&ch);
            if (rc != 0) {
                goto out;
            }
        }
        meta->nsamples += ns;
        if (ncm == c0) {
            continue;
        }
        tw_grow((void **)&lab, &lab_cap, nlab + nl, sizeof(*lab));
        memcpy(lab + nlab, l, nl * sizeof(*l));
        tw_grow((void **)&ser, &ser_cap, nser + 1, sizeof(*ser));
        tw_grow((void **)&loff, &off_cap, nser + 1, sizeof(*loff));
        tw_grow((void **)&coff, &coff_cap, nser + 1, sizeof(*coff));
        loff[nser] = nlab;
        coff[nser] = c0;
        ser[nser] = (tsdb_iw_series_t){NULL, nl, NULL, ncm - c0};
        nser++;
        nlab += nl;
    }
    if (c.w.err != 0) {
        rc = tw_error_set(err, c.w.err, "block: cannot write chunks in %s", c.dir);
        goto out;
    }
    if (nser == 0) {
        *empty = true;
        goto out;
    }
    /* The arrays moved while growing: point the series at their final places now. */
    for (size_t i = 0; i < nser; i++) {
        ser[i].labels = lab + loff[i];
        ser[i].chunks = cm + coff[i];
    }
    meta->nseries = nser;
    meta->nchunks = ncm;
    int fd = c.fd;
    rc = tsdb_fw_flush(&c.w);
    if (rc == 0 && fsync(fd) != 0) {
        rc = -errno;
    }
    close(fd);
    tsdb_fw_fini(&c.w);
    c.fd = -1;
    if (rc != 0) {
        tw_error_set(err, rc, "block: cannot write chunks in %s: %s", c.dir, strerror(-rc));
        goto out;
    }
    tsdb_fsync_dir(c.dir);
    snprintf(path, sizeof(path), "%s/index", tmp);
    if ((rc = tsdb_index_write(path, ser, nser, err)) != 0) {
        goto out;
    }
    if ((rc = tsdb_block_meta_write(tmp, meta, err)) != 0) {
        goto out;
    }
    tsdb_fsync_dir(tmp);
    if (rename(tmp, final) != 0) {
        rc = tw_error_set(err, -errno, "block: cannot rename %s: %s", tmp, strerror(errno));
        goto out;
    }
    tsdb_fsync_dir(parent);
out:
    if (c.fd >= 0) {
        close(c.fd);
        tsdb_fw_fini(&c.w);
    }
    if (rc != 0 || *empty) {
        tsdb_rm_rf(tmp);
    }
    free(smp);
    free(ser);
    free(lab);
    free(cm);
    free(loff);
    free(coff);
    return rc;
}
