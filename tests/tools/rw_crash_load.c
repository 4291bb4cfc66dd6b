// SPDX-License-Identifier: Apache-2.0
/*
 * rw_crash_load.c - a Prometheus remote_write 1.0 load generator for the crash and WAL-damage
 * integration tests (tests/integration/test_crash_recovery.sh, test_wal_damage.sh).
 *
 * Sends batch after batch of fresh samples to a remote_write receiver, one request per batch, and
 * keeps a log that says exactly which samples the receiver acknowledged, so a script can kill the
 * receiver at any moment and then check that every acknowledged sample survived. The WriteRequest
 * protobuf is encoded by hand and compressed with snappy's block format (rw_encode.h, shared with
 * demo_gen.c); the request goes out with libcurl and Prometheus 2.42's headers.
 *
 * Batch b (b = --first-batch, first+1, ...) holds, for S = --series and K = --samples:
 *   rw_crash_load_series{series="i"}   i in [0, S): K samples at t = start + b*K + j (j < K)
 *   rw_crash_load_fresh{batch="b"}     a series that exists only in this batch, same K times
 * with value(b, i, j) = b * 1000 + i + j / 8 + 0.0625 (exact in binary; series "fresh" is i = S).
 * So every batch adds new samples with increasing timestamps to S long-lived series plus one new
 * series, and a batch that is sent again is an identical resend.
 *
 * Log (--log, line-buffered and fflush'ed after every line, so a kill -9 of the receiver never
 * loses a line about a request that got its answer):
 *   P <batch> <labels> <t> <value %.17g>   for each sample, written before the request is sent
 *   ACK <batch> <nsamples>                 after a 2xx answer
 *   ERR <batch> <http status|0> <text>     after a failure; then the tool exits 3
 * <labels> is written as promtool tsdb dump writes them ({__name__="x", series="1"}).
 *
 * Exit: 0 after --batches batches (0: run until killed or until the first failure), 2 usage,
 * 3 a request failed (transport error or a non-2xx status). Single-threaded, one request at a
 * time, so the log's order is the receiver's commit order.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/mem.h"
#include "rw_encode.h"

/* What the command line asks for. */
typedef struct load_opts {
    const char *url;      /* receiver, e.g. http://127.0.0.1:9475/api/v1/write */
    const char *log_path; /* the ack log */
    long series;          /* long-lived series per batch */
    long samples;         /* samples per series per batch */
    long batches;         /* how many batches; 0: until killed or a failure */
    long first_batch;     /* id of the first batch */
    int64_t start_ms;     /* timestamp of batch 0, sample 0 */
    long pause_ms;        /* sleep between batches */
} load_opts_t;

static void usage(void)
{
    fprintf(stderr, "usage: rw_crash_load --url URL --log FILE --start-ms T [--series N(20)]\n"
                    "         [--samples K(5)] [--batches N(0: forever)] [--first-batch B(0)]\n"
                    "         [--pause-ms MS(0)]\n");
}

/* Parses a decimal integer in [lo, hi]; false when s is not one. */
static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        return false;
    }
    *out = (long)v;
    return true;
}

static int parse_args(int argc, char **argv, load_opts_t *o)
{
    long start = -1;
    *o = (load_opts_t){.series = 20, .samples = 5};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        if (strcmp(a, "--url") == 0 && ok) {
            o->url = v;
        } else if (strcmp(a, "--log") == 0 && ok) {
            o->log_path = v;
        } else if (strcmp(a, "--start-ms") == 0 && ok) {
            ok = parse_long(v, 0, INT64_MAX / 2, &start);
        } else if (strcmp(a, "--series") == 0 && ok) {
            ok = parse_long(v, 1, 100000, &o->series);
        } else if (strcmp(a, "--samples") == 0 && ok) {
            ok = parse_long(v, 1, 1000, &o->samples);
        } else if (strcmp(a, "--batches") == 0 && ok) {
            ok = parse_long(v, 0, 100000000, &o->batches);
        } else if (strcmp(a, "--first-batch") == 0 && ok) {
            ok = parse_long(v, 0, 100000000, &o->first_batch);
        } else if (strcmp(a, "--pause-ms") == 0 && ok) {
            ok = parse_long(v, 0, 60000, &o->pause_ms);
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "rw_crash_load: bad argument %s\n", a);
            return -1;
        }
        i++;
    }
    if (o->url == NULL || o->log_path == NULL || start < 0) {
        return -1;
    }
    o->start_ms = start;
    return 0;
}

/* ---- one batch ---- */

static double sample_value(long batch, long i, long j)
{
    return (double)batch * 1000.0 + (double)i + (double)j / 8.0 + 0.0625;
}

/*
 * Encodes batch b into req (uncompressed WriteRequest) and writes its "P" lines to log.
 * Returns the number of samples, or -1 when an encoding buffer failed.
 */
static long encode_batch(const load_opts_t *o, long b, tw_buf_t *req, FILE *log)
{
    long n = 0;
    char val[32];
    for (long i = 0; i <= o->series; i++) {
        bool fresh = i == o->series;
        const char *name = fresh ? "rw_crash_load_fresh" : "rw_crash_load_series";
        const char *lname = fresh ? "batch" : "series";
        snprintf(val, sizeof(val), "%ld", fresh ? b : i);
        tw_buf_t ts;
        tw_buf_init(&ts, 0);
        int rc = rw_put_label(&ts, "__name__", name);
        if (rc == 0) {
            rc = rw_put_label(&ts, lname, val);
        }
        for (long j = 0; rc == 0 && j < o->samples; j++) {
            int64_t t = o->start_ms + (int64_t)b * o->samples + j;
            double v = sample_value(b, i, j);
            rc = rw_put_sample(&ts, v, t);
            fprintf(log, "P %ld {__name__=\"%s\", %s=\"%s\"} %" PRId64 " %.17g\n", b, name, lname,
                    val, t, v);
            n++;
        }
        if (rc == 0) {
            rc = rw_put_bytes_field(req, 1, ts.data, ts.len);
        }
        tw_buf_fini(&ts);
        if (rc != 0) {
            return -1;
        }
    }
    fflush(log);
    return n;
}

/* Sends one compressed body; returns the HTTP status (0 on a transport error, text in errbuf). */
static long post(CURL *c, const char *url, const char *body, size_t len, char *errbuf)
{
    errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        if (errbuf[0] == '\0') {
            snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_easy_strerror(cc));
        }
        return 0;
    }
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

/* The response body, kept for the ERR line. */
static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    tw_buf_t *b = ud;
    size_t n = sz * nm;
    (void)tw_buf_append(b, p, n); /* a body past the limit is cut, which is fine for a log */
    return n;
}

int main(int argc, char **argv)
{
    load_opts_t o;
    int ret = 3;
    FILE *log = NULL;
    CURL *c = NULL;
    struct curl_slist *hdrs = NULL;
    tw_buf_t req, resp;
    char *comp = NULL;
    size_t comp_cap = 0;
    tw_buf_init(&req, 0);
    tw_buf_init(&resp, 4096);

    if (parse_args(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    log = fopen(o.log_path, "a");
    if (log == NULL) {
        fprintf(stderr, "rw_crash_load: %s: %s\n", o.log_path, strerror(errno));
        return 2;
    }
    setvbuf(log, NULL, _IOLBF, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    c = curl_easy_init();
    if (c == NULL) {
        fprintf(stderr, "rw_crash_load: curl_easy_init failed\n");
        goto out;
    }
    hdrs = rw_headers("rw_crash_load/1");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);

    for (long b = o.first_batch; o.batches == 0 || b < o.first_batch + o.batches; b++) {
        tw_buf_reset(&req);
        tw_buf_reset(&resp);
        long n = encode_batch(&o, b, &req, log);
        if (n < 0) {
            fprintf(stderr, "rw_crash_load: cannot encode batch %ld\n", b);
            goto out;
        }
        size_t comp_len = rw_snappy(&req, &comp, &comp_cap);
        if (comp_len == 0) {
            fprintf(stderr, "rw_crash_load: snappy_compress failed for batch %ld\n", b);
            goto out;
        }
        char errbuf[CURL_ERROR_SIZE];
        long code = post(c, o.url, comp, comp_len, errbuf);
        if (code < 200 || code > 299) {
            const char *why = code == 0 ? errbuf : (resp.data != NULL ? resp.data : "");
            fprintf(log, "ERR %ld %ld %s\n", b, code, why);
            fprintf(stderr, "rw_crash_load: batch %ld: status %ld: %s\n", b, code, why);
            goto out;
        }
        fprintf(log, "ACK %ld %ld\n", b, n);
        if (o.pause_ms > 0) {
            struct timespec ts = {o.pause_ms / 1000, (o.pause_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    ret = 0;
out:
    if (log != NULL) {
        fclose(log);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    free(comp);
    tw_buf_fini(&req);
    tw_buf_fini(&resp);
    return ret;
}
