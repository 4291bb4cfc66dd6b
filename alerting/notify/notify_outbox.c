/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notify_outbox.c - the durable outbox of one webhook: an append-only log of notification
 * records with CRC32 checksums, and an acked-position file. Used by the notifier thread only.
 *
 * How it works (format in docs/alerting-notify.md):
 *  - append writes one framed record (magic, length, crc32, body with a sequence number) at
 *    the end of outbox.log and fdatasyncs it before returning: from then on the notification
 *    survives a crash.
 *  - Delivery takes the oldest pending record (peek); ack marks it delivered by rewriting
 *    outbox.acked (acked sequence + the log offset after it) atomically: tmp file, fsync,
 *    rename, fsync of the directory. When every record is acked the log is truncated to zero
 *    first and the acked file rewritten after, so a crash in between finds an acked offset past
 *    the end of the log, which opening clamps: nothing is replayed twice and nothing is lost.
 *  - Opening reads the acked file (missing or damaged: replay from the start, which may repeat
 *    a delivery but loses none), then scans the log from the acked offset. Records whose
 *    sequence is not above the acked one are skipped (a second guard); bytes that do not form a
 *    valid record are skipped and counted, scanning on for the next valid record; a torn tail
 *    (an append cut by a crash) is counted and truncated away so later appends follow good data.
 *  - A full outbox (max_records pending) drops its oldest record on append, counted.
 *  - The log is locked with flock(): two processes never share an outbox.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "alerting/notify/notify_int.h"
#include "common/mem.h"

#define ACKED_MAGIC 0x414f5754u /* "TWOA" */
#define ACKED_SIZE 24

typedef struct pend {
    uint64_t seq;
    uint64_t off;
    uint64_t size;
} pend_t;

struct notify_outbox {
    char *dir;
    int fd;
    uint64_t size; /* bytes in outbox.log */
    uint64_t acked_seq;
    uint64_t acked_off;
    uint64_t next_seq;
    pend_t *pend; /* pending records, oldest at head */
    size_t head, n, cap;
    size_t max_records;
};

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

size_t notify_outbox_decode(const uint8_t *p, size_t len, notify_outbox_rec_t *out)
{
    if (len < NOTIFY_OUTBOX_HDR || rd32(p) != NOTIFY_OUTBOX_MAGIC) {
        return 0;
    }
    uint32_t blen = rd32(p + 4);
    if (blen > NOTIFY_OUTBOX_MAX_BODY || blen > len - NOTIFY_OUTBOX_HDR || blen < 24) {
        return 0;
    }
    const uint8_t *b = p + NOTIFY_OUTBOX_HDR;
    if (rd32(p + 8) != (uint32_t)crc32(0, b, blen)) {
        return 0;
    }
    size_t off = 16;
    uint32_t kl = rd32(b + off);
    off += 4;
    if (kl > blen - off || blen - off - kl < 4) {
        return 0;
    }
    const uint8_t *key = b + off;
    off += kl;
    uint32_t pl = rd32(b + off);
    off += 4;
    if (pl != blen - off) {
        return 0;
    }
    out->seq = rd64(b);
    out->created_ms = (int64_t)rd64(b + 8);
    out->key = (const char *)key;
    out->key_len = kl;
    out->payload = (const char *)(b + off);
    out->payload_len = pl;
    return NOTIFY_OUTBOX_HDR + (size_t)blen;
}

void notify_outbox_scan(const uint8_t *p, size_t len, notify_outbox_scan_fn fn, void *ctx,
                        size_t *bad_bytes, size_t *good_end)
{
    size_t off = 0, bad = 0, end = 0;
    while (off < len) {
        notify_outbox_rec_t rec;
        size_t sz = notify_outbox_decode(p + off, len - off, &rec);
        if (sz == 0) {
            off++;
            bad++;
            continue;
        }
        if (fn != NULL) {
            fn(ctx, off, sz, &rec);
        }
        off += sz;
        end = off;
    }
    *bad_bytes = bad;
    *good_end = end;
}

static int mkdir_p(const char *path, tw_error_t *err)
{
    char tmp[4096];
    if (tw_strlcpy(tmp, path, sizeof(tmp)) >= sizeof(tmp)) {
        return tw_error_set(err, TW_EINVAL, "outbox: path too long: %s", path);
    }
    for (char *p = tmp + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0750) != 0 && errno != EEXIST) {
                int e = errno;
                return tw_error_set(err, -e, "outbox: mkdir %s: %s", tmp, strerror(e));
            }
            *p = '/';
        }
    }
    if (mkdir(tmp, 0750) != 0 && errno != EEXIST) {
        int e = errno;
        return tw_error_set(err, -e, "outbox: mkdir %s: %s", tmp, strerror(e));
    }
    return 0;
}

int notify_file_replace(const char *dir, const char *name, const void *data, size_t len,
                        tw_error_t *err)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        rc = -errno;
        return tw_error_set(err, rc, "outbox: open %s: %s", tmp, strerror(-rc));
    }
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            rc = -errno;
            tw_error_set(err, rc, "outbox: write %s: %s", tmp, strerror(errno));
            goto out;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        rc = -errno;
        tw_error_set(err, rc, "outbox: fsync %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (rename(tmp, path) != 0) {
        rc = -errno;
        tw_error_set(err, rc, "outbox: rename %s: %s", tmp, strerror(errno));
        goto out;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
out:
    close(fd);
    return rc;
}

static int write_acked(notify_outbox_t *o, tw_error_t *err)
{
    uint8_t b[ACKED_SIZE];
    wr32(b, ACKED_MAGIC);
    wr64(b + 4, o->acked_seq);
    wr64(b + 12, o->acked_off);
    wr32(b + 20, (uint32_t)crc32(0, b, 20));
    return notify_file_replace(o->dir, "outbox.acked", b, sizeof(b), err);
}

static void read_acked(notify_outbox_t *o)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/outbox.acked", o->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    uint8_t b[ACKED_SIZE];
    ssize_t r = read(fd, b, sizeof(b));
    close(fd);
    if (r == ACKED_SIZE && rd32(b) == ACKED_MAGIC && rd32(b + 20) == (uint32_t)crc32(0, b, 20)) {
        o->acked_seq = rd64(b + 4);
        o->acked_off = rd64(b + 12);
    }
}

static void on_replay(void *ctx, size_t off, size_t size, const notify_outbox_rec_t *rec)
{
    notify_outbox_t *o = ctx;
    if (rec->seq + 1 > o->next_seq) {
        o->next_seq = rec->seq + 1;
    }
    if (rec->seq <= o->acked_seq) {
        return;
    }
    tw_grow((void **)&o->pend, &o->cap, o->n + 1, sizeof(*o->pend));
    o->pend[o->n++] = (pend_t){rec->seq, o->acked_off + off, size};
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return r == 0 ? TW_EIO : -errno;
        }
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* Truncates the log to nothing and records that durably (all records delivered). */
static int compact(notify_outbox_t *o, tw_error_t *err)
{
    if (ftruncate(o->fd, 0) != 0 || fsync(o->fd) != 0) {
        int e = errno;
        return tw_error_set(err, -e, "outbox: truncate %s/outbox.log: %s", o->dir, strerror(e));
    }
    o->size = 0;
    o->acked_off = 0;
    o->head = 0;
    o->n = 0;
    return write_acked(o, err);
}

int notify_outbox_open(const char *dir, size_t max_records, notify_outbox_t **out,
                       notify_outbox_replay_t *replay, tw_error_t *err)
{
    *out = NULL;
    notify_outbox_replay_t rp = {0};
    int rc = mkdir_p(dir, err);
    if (rc != 0) {
        return rc;
    }
    notify_outbox_t *o = tw_xcalloc(1, sizeof(*o));
    o->dir = tw_xstrdup(dir);
    o->max_records = max_records > 0 ? max_records : 10000;
    o->next_seq = 1;
    uint8_t *data = NULL;
    char path[4096];
    snprintf(path, sizeof(path), "%s/outbox.log", dir);
    o->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (o->fd < 0) {
        rc = -errno;
        tw_error_set(err, rc, "outbox: open %s: %s", path, strerror(errno));
        goto out;
    }
    if (flock(o->fd, LOCK_EX | LOCK_NB) != 0) {
        rc = TW_ESTATE;
        tw_error_set(err, rc, "outbox: %s is in use by another process", path);
        goto out;
    }
    struct stat st;
    if (fstat(o->fd, &st) != 0) {
        rc = -errno;
        tw_error_set(err, rc, "outbox: stat %s: %s", path, strerror(errno));
        goto out;
    }
    o->size = (uint64_t)st.st_size;
    read_acked(o);
    o->next_seq = o->acked_seq + 1;
    if (o->acked_off > o->size) {
        o->acked_off = o->size; /* crashed between truncating and rewriting the acked file */
    }
    size_t len = (size_t)(o->size - o->acked_off);
    data = tw_xmalloc(len + 1);
    rc = pread_all(o->fd, data, len, o->acked_off);
    if (rc != 0) {
        tw_error_set(err, rc, "outbox: read %s: %s", path, tw_strerror(rc));
        goto out;
    }
    size_t bad = 0, good_end = 0;
    notify_outbox_scan(data, len, on_replay, o, &bad, &good_end);
    rp.skipped_bytes = bad;
    if (good_end < len) {
        /* A torn tail: cut it so the next append follows good data. */
        if (ftruncate(o->fd, (off_t)(o->acked_off + good_end)) != 0 || fsync(o->fd) != 0) {
            rc = -errno;
            tw_error_set(err, rc, "outbox: truncate %s: %s", path, strerror(errno));
            goto out;
        }
        o->size = o->acked_off + good_end;
    }
    while (o->n > o->max_records) {
        o->head++;
        o->n--;
    }
    if (o->head > 0) {
        memmove(o->pend, o->pend + o->head, o->n * sizeof(*o->pend));
        o->head = 0;
    }
    rp.pending = o->n;
    if (o->n == 0 && o->size > 0) {
        rc = compact(o, err);
        if (rc != 0) {
            goto out;
        }
    }
out:
    free(data);
    if (rc != 0) {
        notify_outbox_close(o);
        return rc;
    }
    if (replay != NULL) {
        *replay = rp;
    }
    *out = o;
    return 0;
}

void notify_outbox_close(notify_outbox_t *o)
{
    if (o == NULL) {
        return;
    }
    if (o->fd >= 0) {
        close(o->fd);
    }
    free(o->pend);
    free(o->dir);
    free(o);
}

int notify_outbox_append(notify_outbox_t *o, int64_t created_ms, const char *key,
                         const char *payload, size_t len, uint64_t *seq, size_t *dropped,
                         tw_error_t *err)
{
    *dropped = 0;
    size_t kl = strlen(key);
    size_t blen = 24 + kl + len;
    if (blen > NOTIFY_OUTBOX_MAX_BODY) {
        return tw_error_set(err, TW_ELIMIT, "outbox: notification of %zu bytes exceeds %u", len,
                            NOTIFY_OUTBOX_MAX_BODY);
    }
    uint8_t *rec = tw_xmalloc(NOTIFY_OUTBOX_HDR + blen);
    uint8_t *b = rec + NOTIFY_OUTBOX_HDR;
    uint64_t s = o->next_seq;
    wr64(b, s);
    wr64(b + 8, (uint64_t)created_ms);
    wr32(b + 16, (uint32_t)kl);
    memcpy(b + 20, key, kl);
    wr32(b + 20 + kl, (uint32_t)len);
    memcpy(b + 24 + kl, payload, len);
    wr32(rec, NOTIFY_OUTBOX_MAGIC);
    wr32(rec + 4, (uint32_t)blen);
    wr32(rec + 8, (uint32_t)crc32(0, b, (uInt)blen));
    int rc = 0;
    size_t total = NOTIFY_OUTBOX_HDR + blen, done = 0;
    while (done < total) {
        ssize_t w = write(o->fd, rec + done, total - done);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            rc = w < 0 ? -errno : TW_EIO;
            break;
        }
        done += (size_t)w;
    }
    if (rc == 0 && fdatasync(o->fd) != 0) {
        rc = -errno;
    }
    free(rec);
    if (rc != 0) {
        if (ftruncate(o->fd, (off_t)o->size) != 0) {
            /* the torn record is skipped by the next open */
        }
        return tw_error_set(err, rc, "outbox: append to %s/outbox.log: %s", o->dir,
                            tw_strerror(rc));
    }
    if (o->n == o->max_records) {
        /* Full: the oldest notification falls out (counted by the caller). */
        const pend_t *old = &o->pend[o->head];
        o->acked_seq = old->seq;
        o->acked_off = old->off + old->size;
        o->head++;
        o->n--;
        *dropped = 1;
        rc = write_acked(o, err);
        if (rc != 0) {
            return rc;
        }
    }
    if (o->head > 0 && o->head + o->n + 1 > o->cap) {
        memmove(o->pend, o->pend + o->head, o->n * sizeof(*o->pend));
        o->head = 0;
    }
    tw_grow((void **)&o->pend, &o->cap, o->head + o->n + 1, sizeof(*o->pend));
    o->pend[o->head + o->n] = (pend_t){s, o->size, total};
    o->n++;
    o->size += total;
    o->next_seq++;
    *seq = s;
    return 0;
}

int notify_outbox_peek(notify_outbox_t *o, tw_buf_t *buf, notify_outbox_rec_t *rec, tw_error_t *err)
{
    if (o->n == 0) {
        return TW_ENOTFOUND;
    }
    const pend_t *p = &o->pend[o->head];
    tw_buf_reset(buf);
    /* Grow to size by appending zeros through the bounded API, then read over them. */
    static const uint8_t zeros[4096];
    for (uint64_t left = p->size; left > 0;) {
        size_t take = left > sizeof(zeros) ? sizeof(zeros) : (size_t)left;
        int rc = tw_buf_append(buf, zeros, take);
        if (rc != 0) {
            return tw_error_set(err, rc, "outbox: record of %llu bytes exceeds the buffer",
                                (unsigned long long)p->size);
        }
        left -= take;
    }
    int rc = pread_all(o->fd, buf->data, (size_t)p->size, p->off);
    if (rc != 0) {
        return tw_error_set(err, rc, "outbox: read %s/outbox.log: %s", o->dir, tw_strerror(rc));
    }
    if (notify_outbox_decode((const uint8_t *)buf->data, buf->len, rec) != p->size ||
        rec->seq != p->seq) {
        return tw_error_set(err, TW_EPARSE, "outbox: record %llu in %s/outbox.log is damaged",
                            (unsigned long long)p->seq, o->dir);
    }
    return 0;
}

int notify_outbox_ack(notify_outbox_t *o, tw_error_t *err)
{
    if (o->n == 0) {
        return TW_ENOTFOUND;
    }
    const pend_t *p = &o->pend[o->head];
    o->acked_seq = p->seq;
    o->acked_off = p->off + p->size;
    o->head++;
    o->n--;
    if (o->n == 0) {
        return compact(o, err);
    }
    return write_acked(o, err);
}

size_t notify_outbox_pending(const notify_outbox_t *o)
{
    return o->n;
}

uint64_t notify_outbox_log_bytes(const notify_outbox_t *o)
{
    return o->size;
}
