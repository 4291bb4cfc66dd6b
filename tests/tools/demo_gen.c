// SPDX-License-Identifier: Apache-2.0
/*
 * demo_gen.c - writes the series of three Prometheus demo services (julius/prometheus-demo-service,
 * the input data of the PromQL compliance suite) to one or more remote_write receivers, as a
 * Prometheus scraping them every 5 s would have stored them, with explicit timestamps.
 *
 * Used by tests/integration/test_promql_compliance.sh and test_api_byte_compat.sh to give a real
 * Prometheus 2.42 and tidewatch byte-identical input. Everything is deterministic for a given
 * --seed and --end-ms: the same requests go to every --url in the same order.
 *
 * Targets: instance demo.promlabs.com:10000..10002, job "demo". Target i is scraped at
 * T0 + k*5000 + 1117*(i+1) ms plus 0..6 ms of jitter (T0 = end - duration, rounded down to 5 s);
 * only scrapes in [T0, end] are written. Per target and scrape (the shapes of the demo service's
 * Go code, simulated at its own tick: CPU and memory every 100 ms, disk every second):
 *   up                                                    1 (0 on the failed scrape of a restart)
 *   demo_num_cpus                                         4
 *   demo_cpu_usage_seconds_total{mode=user|system|idle}   counters, 4 CPUs, user 30 %, system 20 %
 *   demo_memory_usage_bytes{type=used|cached|buffers|free}  bounded random walks, integer bytes
 *   demo_disk_usage_bytes, demo_disk_total_bytes          growing by ~0.5 MB/s; 160 GB
 *   demo_batch_last_success_timestamp_seconds (and last_run_timestamp_seconds,
 *     last_run_duration_seconds, last_run_processed_bytes)   a job every minute that takes ~11 s
 *     and fails 25 % of the time; 0 until the first run after a process start
 *   demo_api_http_requests_in_progress                    0..3
 *   demo_api_request_duration_seconds_{bucket,sum,count}{method,path,status}
 *     classic histogram (Go client DefBuckets) of the demo client's request loops: GET/POST
 *     /api/foo and /api/bar (200, or 500 at the path's error ratio, x10 and latency x3 during the
 *     periodic outages) and GET /api/nonexistent (404); a (method, path, status) series exists
 *     from the first request that produced it
 *   demo_intermittent_metric                              1 during even UTC minutes, absent in odd
 *     ones: the first scrape without it writes a stale marker, as Prometheus' scraper does
 * Restarts: target :10001 restarts 15 min before end and :10002 45 min before end. The scrape at
 * the restart fails: up = 0 and a stale marker for every other series of the target; the next
 * scrape sees a fresh process (all counters from zero, batch gauges 0, histogram series anew).
 * Stale markers are the NaN 0x7ff0000000000002.
 *
 * Sending: one WriteRequest per minute of data (all series' samples in [t, t+60 s)), snappy
 * compressed, with Prometheus 2.42's remote_write headers; oldest first, so receivers that refuse
 * samples far behind their newest one (Prometheus' head) accept everything.
 *
 * Exit: 0 when every request got a 2xx answer from every URL (a summary line on stdout), 2 usage,
 * 3 a request failed (the status and body on stderr).
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/mem.h"
#include "rw_encode.h"

#define DG_MAX_URLS 4
#define DG_INSTANCES 3
#define DG_SCRAPE_MS 5000
#define DG_SLICE_SCRAPES 12 /* one request per minute of data */
#define DG_NBUCKETS 12      /* DefBuckets + +Inf */
#define DG_NCOMBOS 9        /* (method, path, status) combinations the client produces */
#define DG_NLOOPS 5         /* client request loops */
#define DG_STALE_BITS UINT64_C(0x7ff0000000000002)

/* What the command line asks for. */
typedef struct dg_opts {
    const char *urls[DG_MAX_URLS];
    int nurls;
    int64_t end_ms;  /* last instant that may hold a sample */
    long duration_s; /* data window length */
    uint64_t seed;   /* PRNG seed */
    bool dry_run;    /* encode everything, send nothing (for timing and the summary) */
} dg_opts_t;

/* A splitmix64 generator: small, fast and the same everywhere. */
typedef struct dg_rng {
    uint64_t s;
} dg_rng_t;

static uint64_t rng_next(dg_rng_t *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_unit(dg_rng_t *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Standard normal (Box-Muller, one of the pair). */
static double rng_norm(dg_rng_t *r)
{
    double u1 = rng_unit(r), u2 = rng_unit(r);
    if (u1 < 1e-300) {
        u1 = 1e-300;
    }
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* One output series: its labels encoded once, and the samples of the slice being built. */
typedef struct dg_series {
    tw_buf_t labels;  /* repeated Label fields (field 1 of TimeSeries) */
    tw_buf_t samples; /* repeated Sample fields (field 2) of the current slice */
    bool present;     /* had a sample in the target's previous scrape */
} dg_series_t;

/* Series slots of one target, in a fixed order. */
enum {
    S_UP,
    S_NUM_CPUS,
    S_CPU,                /* 3: user, system, idle */
    S_MEM = S_CPU + 3,    /* 4: used, cached, buffers, free */
    S_DISK = S_MEM + 4,   /* usage, total */
    S_BATCH = S_DISK + 2, /* 4: last_success, last_run, last_duration, processed */
    S_INTERMITTENT = S_BATCH + 4,
    S_IN_PROGRESS,
    S_API, /* DG_NCOMBOS x (DG_NBUCKETS buckets, sum, count) */
    S_COUNT = S_API + DG_NCOMBOS * (DG_NBUCKETS + 2)
};

static const double bucket_le[DG_NBUCKETS - 1] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                  0.5,   1,    2.5,   5,    10};
static const char *const bucket_le_text[DG_NBUCKETS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"};

/* A client request loop of the demo service (client.go) and the handler's options (api.go). */
typedef struct dg_loop {
    const char *method, *path;
    double sleep_ms;       /* client pause, times the oscillation factor 2 + sin(sin(...)) */
    double base_latency_s; /* 0: not found (404), answered at once */
    double error_ratio;
    int64_t outage_ms;
    int combo_ok, combo_err; /* combination index for the 200 (or 404) and the 500 answers */
} dg_loop_t;

static const dg_loop_t loops[DG_NLOOPS] = {
    {"GET", "/api/foo", 10, 0.010, 0.005, 23000, 0, 1},
    {"POST", "/api/foo", 150, 0.020, 0.02, 60000, 2, 3},
    {"GET", "/api/bar", 20, 0.015, 0.0025, 13000, 4, 5},
    {"POST", "/api/bar", 100, 0.050, 0.01, 47000, 6, 7},
    {"GET", "/api/nonexistent", 500, 0, 0, 1, 8, 8},
};

/* The simulated state of one demo service process. */
typedef struct dg_target {
    char instance[32];
    int64_t offset_ms;  /* scrape phase within the 5 s interval */
    int64_t start_ms;   /* process start */
    int64_t restart_ms; /* the scrape at or after this fails and the process restarts; -1 */
    bool restarted;
    dg_rng_t rng;
    double cpu[3];
    int64_t mem[3]; /* used, cached, buffers */
    int64_t disk;
    int64_t tick_ms; /* last 100 ms tick simulated (ticks are start + k*100) */
    int64_t sim_ms;  /* API traffic simulated up to here */
    int64_t next_batch_ms;
    double batch_last_time, batch[4];
    double api_count[DG_NCOMBOS][DG_NBUCKETS], api_sum[DG_NCOMBOS];
    double in_progress;
} dg_target_t;

static const int64_t mem_total = INT64_C(16) * 1024 * 1024 * 1024;
static const int64_t mem_base[3] = {INT64_C(5) * 1024 * 1024 * 1024,
                                    INT64_C(2) * 1024 * 1024 * 1024, INT64_C(300) * 1024 * 1024};
static const double disk_total = 160e9;

/* ---- series setup ---- */

/*
 * Sets series s's labels: name, instance, job, then up to three (name, value) pairs in `extra`
 * (NULL-terminated), which the caller passes sorted and all sorting after "job".
 */
static int series_init(dg_series_t *s, const char *name, const char *instance,
                       const char *const *extra)
{
    tw_buf_init(&s->labels, 0);
    tw_buf_init(&s->samples, 0);
    s->present = false;
    int rc = rw_put_label(&s->labels, "__name__", name);
    if (rc == 0) {
        rc = rw_put_label(&s->labels, "instance", instance);
    }
    if (rc == 0) {
        rc = rw_put_label(&s->labels, "job", "demo");
    }
    for (size_t i = 0; rc == 0 && extra != NULL && extra[i] != NULL; i += 2) {
        rc = rw_put_label(&s->labels, extra[i], extra[i + 1]);
    }
    return rc;
}

static const char *const api_status[DG_NCOMBOS] = {"200", "500", "200", "500", "200",
                                                   "500", "200", "500", "404"};

static int target_series_init(dg_series_t *ser, const char *inst)
{
    static const char *const cpu_modes[3] = {"user", "system", "idle"};
    static const char *const mem_types[4] = {"used", "cached", "buffers", "free"};
    static const char *const batch_names[4] = {
        "demo_batch_last_success_timestamp_seconds", "demo_batch_last_run_timestamp_seconds",
        "demo_batch_last_run_duration_seconds", "demo_batch_last_run_processed_bytes"};
    int rc = series_init(&ser[S_UP], "up", inst, NULL);
    rc = rc != 0 ? rc : series_init(&ser[S_NUM_CPUS], "demo_num_cpus", inst, NULL);
    for (int m = 0; rc == 0 && m < 3; m++) {
        const char *ex[] = {"mode", cpu_modes[m], NULL};
        rc = series_init(&ser[S_CPU + m], "demo_cpu_usage_seconds_total", inst, ex);
    }
    for (int m = 0; rc == 0 && m < 4; m++) {
        const char *ex[] = {"type", mem_types[m], NULL};
        rc = series_init(&ser[S_MEM + m], "demo_memory_usage_bytes", inst, ex);
    }
    rc = rc != 0 ? rc : series_init(&ser[S_DISK], "demo_disk_usage_bytes", inst, NULL);
    rc = rc != 0 ? rc : series_init(&ser[S_DISK + 1], "demo_disk_total_bytes", inst, NULL);
    for (int m = 0; rc == 0 && m < 4; m++) {
        rc = series_init(&ser[S_BATCH + m], batch_names[m], inst, NULL);
    }
    rc = rc != 0 ? rc : series_init(&ser[S_INTERMITTENT], "demo_intermittent_metric", inst, NULL);
    rc = rc != 0
             ? rc
             : series_init(&ser[S_IN_PROGRESS], "demo_api_http_requests_in_progress", inst, NULL);
    for (int c = 0; rc == 0 && c < DG_NCOMBOS; c++) {
        const dg_loop_t *lp = &loops[c == 8 ? 4 : c / 2];
        dg_series_t *base = &ser[S_API + c * (DG_NBUCKETS + 2)];
        for (int b = 0; rc == 0 && b < DG_NBUCKETS; b++) {
            /* sorted: le < method < path < status */
            const char *ex[] = {"le",     bucket_le_text[b], "method",      lp->method, "path",
                                lp->path, "status",          api_status[c], NULL};
            rc = series_init(&base[b], "demo_api_request_duration_seconds_bucket", inst, ex);
        }
        const char *ex[] = {"method", lp->method, "path", lp->path, "status", api_status[c], NULL};
        if (rc == 0) {
            rc = series_init(&base[DG_NBUCKETS], "demo_api_request_duration_seconds_sum", inst, ex);
        }
        if (rc == 0) {
            rc = series_init(&base[DG_NBUCKETS + 1], "demo_api_request_duration_seconds_count",
                             inst, ex);
        }
    }
    return rc;
}

/* ---- the simulation ---- */

static void target_reset(dg_target_t *tg, int64_t start_ms)
{
    tg->start_ms = start_ms;
    tg->sim_ms = start_ms;
    tg->tick_ms = start_ms;
    memset(tg->cpu, 0, sizeof(tg->cpu));
    memcpy(tg->mem, mem_base, sizeof(tg->mem));
    tg->disk = (int64_t)(0.1 * disk_total);
    tg->next_batch_ms = start_ms + 11000 - (int64_t)(rng_next(&tg->rng) % 2);
    tg->batch_last_time = (double)start_ms / 1000.0;
    memset(tg->batch, 0, sizeof(tg->batch));
    memset(tg->api_count, 0, sizeof(tg->api_count));
    memset(tg->api_sum, 0, sizeof(tg->api_sum));
    tg->in_progress = 0;
}

/* runMemorySim's step: +-30 MiB, back to the base when it leaves base +- 10 %. */
static int64_t mem_step(dg_rng_t *r, int64_t cur, int64_t base)
{
    cur += (int64_t)((rng_unit(r) - 0.5) * 60 * 1024 * 1024);
    int64_t dev = (int64_t)((double)base * 0.1);
    if (cur < base - dev || cur > base + dev) {
        cur = base;
    }
    return cur;
}

static void observe(dg_target_t *tg, int combo, double secs)
{
    tg->api_sum[combo] += secs;
    for (int b = 0; b < DG_NBUCKETS; b++) {
        if (b == DG_NBUCKETS - 1 || secs <= bucket_le[b]) {
            tg->api_count[combo][b] += 1;
        }
    }
}

/* Simulates the API traffic of (from, to]. */
static void simulate_api(dg_target_t *tg, int64_t from, int64_t to)
{
    double since = (double)(to - tg->start_ms);
    double osc = 2 + sin(sin(2 * M_PI * since / 3600000.0));
    for (int l = 0; l < DG_NLOOPS; l++) {
        const dg_loop_t *lp = &loops[l];
        bool outage =
            lp->base_latency_s > 0 && ((to - tg->start_ms) % (10 * lp->outage_ms)) < lp->outage_ms;
        double lat_factor = outage ? 3 : 1, err_factor = outage ? 10 : 1;
        double per_req_ms = lp->sleep_ms * osc + lp->base_latency_s * 1000 * lat_factor;
        double want = (double)(to - from) / per_req_ms;
        long n = (long)want + (rng_unit(&tg->rng) < want - floor(want) ? 1 : 0);
        for (long i = 0; i < n; i++) {
            if (lp->base_latency_s == 0) {
                observe(tg, lp->combo_ok, 0.00005 + 0.0001 * rng_unit(&tg->rng));
                continue;
            }
            double lat =
                (lp->base_latency_s + rng_norm(&tg->rng) * lp->base_latency_s / 10) * lat_factor +
                0.0002 * rng_unit(&tg->rng);
            if (lat < 0.0001) {
                lat = 0.0001;
            }
            bool err = rng_unit(&tg->rng) <= lp->error_ratio * err_factor;
            observe(tg, err ? lp->combo_err : lp->combo_ok, lat);
        }
    }
    tg->in_progress = (double)(rng_next(&tg->rng) % 4);
}

/* Advances the process to time `to`. */
static void simulate(dg_target_t *tg, int64_t to)
{
    for (int64_t t = tg->tick_ms + 100; t <= to; t += 100) {
        tg->tick_ms = t;
        /* runCPUSim(4, 0.3, 0.2) every 100 ms */
        double factor = 4 * 0.1;
        double user = (0.3 + (rng_unit(&tg->rng) - 0.5) / 5) * factor;
        double sys = (0.2 + (rng_unit(&tg->rng) - 0.5) / 5) * factor;
        tg->cpu[0] += user;
        tg->cpu[1] += sys;
        tg->cpu[2] += factor - user - sys;
        for (int m = 0; m < 3; m++) {
            tg->mem[m] = mem_step(&tg->rng, tg->mem[m], mem_base[m]);
        }
        if ((t - tg->start_ms) % 1000 == 0) {
            tg->disk += (int64_t)(0.5e6 * (1 - (rng_unit(&tg->rng) - 0.5)));
            if ((double)tg->disk > 0.9 * disk_total) {
                tg->disk = (int64_t)(0.1 * disk_total);
            }
        }
        while (tg->next_batch_ms <= t) {
            /* runBatchJobs(1m, 10s, 0.25): a run ends ~11 s after each minute tick */
            double now =
                (double)tg->next_batch_ms / 1000.0 + (double)(rng_next(&tg->rng) % 1000) * 1e-6;
            if (rng_unit(&tg->rng) > 0.25) {
                tg->batch[0] = now;
                tg->batch[3] = (double)(1000000 + 100000 - (long)(rng_next(&tg->rng) % 100000));
            }
            tg->batch[1] = now;
            tg->batch[2] = now - tg->batch_last_time;
            tg->batch_last_time = now;
            tg->next_batch_ms += 60000;
        }
    }
    simulate_api(tg, tg->sim_ms, to);
    tg->sim_ms = to;
}

/* ---- output ---- */

typedef struct dg_stats {
    long samples, stale, requests;
    int64_t first_ms, last_ms;
} dg_stats_t;

static int emit(dg_series_t *s, double v, int64_t t, dg_stats_t *st)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    s->present = true;
    st->samples++;
    if (st->first_ms == 0 || t < st->first_ms) {
        st->first_ms = t;
    }
    if (t > st->last_ms) {
        st->last_ms = t;
    }
    return rw_put_sample_bits(&s->samples, bits, t);
}

/* A series that was in the previous scrape and is not in this one gets a stale marker. */
static int emit_absent(dg_series_t *s, int64_t t, dg_stats_t *st)
{
    if (!s->present) {
        return 0;
    }
    s->present = false;
    st->stale++;
    return rw_put_sample_bits(&s->samples, DG_STALE_BITS, t);
}

/* Writes one scrape of target tg at time t into its series. */
static int scrape(dg_target_t *tg, dg_series_t *ser, int64_t t, bool write, dg_stats_t *st)
{
    int rc = 0;
    if (tg->restart_ms >= 0 && !tg->restarted && t >= tg->restart_ms) {
        /* The process is down for this scrape: up 0, everything else goes stale. */
        tg->restarted = true;
        if (write) {
            rc = emit(&ser[S_UP], 0, t, st);
            for (int i = S_UP + 1; rc == 0 && i < S_COUNT; i++) {
                rc = emit_absent(&ser[i], t, st);
            }
        }
        target_reset(tg, t + 1500);
        return rc;
    }
    simulate(tg, t);
    if (!write) {
        return 0;
    }
    rc = emit(&ser[S_UP], 1, t, st);
    rc = rc != 0 ? rc : emit(&ser[S_NUM_CPUS], 4, t, st);
    for (int m = 0; rc == 0 && m < 3; m++) {
        rc = emit(&ser[S_CPU + m], tg->cpu[m], t, st);
    }
    for (int m = 0; rc == 0 && m < 3; m++) {
        rc = emit(&ser[S_MEM + m], (double)tg->mem[m], t, st);
    }
    if (rc == 0) {
        rc = emit(&ser[S_MEM + 3], (double)(mem_total - tg->mem[0] - tg->mem[1] - tg->mem[2]), t,
                  st);
    }
    rc = rc != 0 ? rc : emit(&ser[S_DISK], (double)tg->disk, t, st);
    rc = rc != 0 ? rc : emit(&ser[S_DISK + 1], disk_total, t, st);
    for (int m = 0; rc == 0 && m < 4; m++) {
        rc = emit(&ser[S_BATCH + m], tg->batch[m], t, st);
    }
    if (rc == 0) {
        time_t secs = (time_t)(t / 1000);
        struct tm tmv;
        gmtime_r(&secs, &tmv);
        rc = tmv.tm_min % 2 == 0 ? emit(&ser[S_INTERMITTENT], 1, t, st)
                                 : emit_absent(&ser[S_INTERMITTENT], t, st);
    }
    rc = rc != 0 ? rc : emit(&ser[S_IN_PROGRESS], tg->in_progress, t, st);
    for (int c = 0; rc == 0 && c < DG_NCOMBOS; c++) {
        dg_series_t *base = &ser[S_API + c * (DG_NBUCKETS + 2)];
        double count = tg->api_count[c][DG_NBUCKETS - 1];
        if (count == 0) {
            continue; /* not created yet in this process */
        }
        for (int b = 0; rc == 0 && b < DG_NBUCKETS; b++) {
            rc = emit(&base[b], tg->api_count[c][b], t, st);
        }
        rc = rc != 0 ? rc : emit(&base[DG_NBUCKETS], tg->api_sum[c], t, st);
        rc = rc != 0 ? rc : emit(&base[DG_NBUCKETS + 1], count, t, st);
    }
    return rc;
}

/* ---- sending ---- */

typedef struct dg_sender {
    CURL *curl;
    struct curl_slist *hdrs;
    tw_buf_t resp;
    char *comp;
    size_t comp_cap;
} dg_sender_t;

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    tw_buf_t *b = ud;
    size_t n = sz * nm;
    (void)tw_buf_append(b, p, n); /* cut at the limit: it is only printed */
    return n;
}

static int send_request(dg_sender_t *sd, const dg_opts_t *o, const tw_buf_t *req)
{
    size_t comp_len = rw_snappy(req, &sd->comp, &sd->comp_cap);
    if (comp_len == 0) {
        fprintf(stderr, "demo_gen: snappy_compress failed\n");
        return -1;
    }
    if (o->dry_run) {
        return 0;
    }
    for (int u = 0; u < o->nurls; u++) {
        char errbuf[CURL_ERROR_SIZE];
        errbuf[0] = '\0';
        tw_buf_reset(&sd->resp);
        curl_easy_setopt(sd->curl, CURLOPT_URL, o->urls[u]);
        curl_easy_setopt(sd->curl, CURLOPT_POSTFIELDS, sd->comp);
        curl_easy_setopt(sd->curl, CURLOPT_POSTFIELDSIZE, (long)comp_len);
        curl_easy_setopt(sd->curl, CURLOPT_ERRORBUFFER, errbuf);
        CURLcode cc = curl_easy_perform(sd->curl);
        long code = 0;
        if (cc == CURLE_OK) {
            curl_easy_getinfo(sd->curl, CURLINFO_RESPONSE_CODE, &code);
        }
        if (code < 200 || code > 299) {
            fprintf(stderr, "demo_gen: %s: status %ld: %s\n", o->urls[u], code,
                    cc != CURLE_OK ? (errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc))
                                   : (sd->resp.data != NULL ? sd->resp.data : ""));
            return -1;
        }
    }
    return 0;
}

/* Encodes every series' pending samples into one WriteRequest, sends it, clears them. */
static int flush(dg_sender_t *sd, const dg_opts_t *o, dg_series_t *all, size_t n, tw_buf_t *req,
                 dg_stats_t *st)
{
    tw_buf_reset(req);
    tw_buf_t ts;
    tw_buf_init(&ts, 0);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (all[i].samples.len == 0) {
            continue;
        }
        tw_buf_reset(&ts);
        rc = tw_buf_append(&ts, all[i].labels.data, all[i].labels.len);
        rc = rc != 0 ? rc : tw_buf_append(&ts, all[i].samples.data, all[i].samples.len);
        rc = rc != 0 ? rc : rw_put_bytes_field(req, 1, ts.data, ts.len);
        tw_buf_reset(&all[i].samples);
    }
    tw_buf_fini(&ts);
    if (rc != 0 || req->len == 0) {
        return rc;
    }
    st->requests++;
    return send_request(sd, o, req);
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr, "usage: demo_gen --url URL [--url URL ...] --end-ms T [--duration-s S(5400)]\n"
                    "         [--seed N(1)] [--dry-run]\n");
}

static bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        return false;
    }
    *out = (int64_t)v;
    return true;
}

static int parse_args(int argc, char **argv, dg_opts_t *o)
{
    int64_t dur = 5400, seed = 1, end = -1;
    *o = (dg_opts_t){0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (strcmp(a, "--dry-run") == 0) {
            o->dry_run = true;
            continue;
        }
        if (v == NULL) {
            ok = false;
        } else if (strcmp(a, "--url") == 0 && o->nurls < DG_MAX_URLS) {
            o->urls[o->nurls++] = v;
        } else if (strcmp(a, "--end-ms") == 0) {
            ok = parse_i64(v, 1000000000000, INT64_C(4102444800000), &end);
        } else if (strcmp(a, "--duration-s") == 0) {
            ok = parse_i64(v, 60, 86400, &dur);
        } else if (strcmp(a, "--seed") == 0) {
            ok = parse_i64(v, 0, INT64_MAX, &seed);
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "demo_gen: bad argument %s\n", a);
            return -1;
        }
        i++;
    }
    if ((o->nurls == 0 && !o->dry_run) || end < 0) {
        return -1;
    }
    o->end_ms = end;
    o->duration_s = (long)dur;
    o->seed = (uint64_t)seed;
    return 0;
}

int main(int argc, char **argv)
{
    dg_opts_t o;
    dg_target_t *tg = NULL;
    dg_series_t *ser = NULL;
    dg_sender_t sd = {0};
    dg_stats_t st = {0};
    tw_buf_t req;
    int ret = 3;
    size_t nser = (size_t)DG_INSTANCES * S_COUNT;

    if (parse_args(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    tw_buf_init(&req, 0);
    tw_buf_init(&sd.resp, 4096);
    tg = tw_xcalloc(DG_INSTANCES, sizeof(*tg));
    ser = tw_xcalloc(nser, sizeof(*ser));

    int64_t t0 = (o.end_ms - (int64_t)o.duration_s * 1000) / DG_SCRAPE_MS * DG_SCRAPE_MS;
    for (int i = 0; i < DG_INSTANCES; i++) {
        snprintf(tg[i].instance, sizeof(tg[i].instance), "demo.promlabs.com:%d", 10000 + i);
        tg[i].offset_ms = 1117 * (i + 1);
        tg[i].rng.s = o.seed * 1000003u + (uint64_t)i * 7919u + 17u;
        tg[i].restart_ms = i == 1 ? o.end_ms - 15 * 60000 : i == 2 ? o.end_ms - 45 * 60000 : -1;
        /* processes started a while before the window, so counters are not small at T0 */
        target_reset(&tg[i], t0 - (int64_t)(20 + 7 * i) * 60000 + tg[i].offset_ms);
        if (target_series_init(&ser[(size_t)i * S_COUNT], tg[i].instance) != 0) {
            fprintf(stderr, "demo_gen: cannot encode labels\n");
            goto out;
        }
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    sd.curl = curl_easy_init();
    if (sd.curl == NULL) {
        fprintf(stderr, "demo_gen: curl_easy_init failed\n");
        goto out_curl;
    }
    sd.hdrs = rw_headers("demo_gen/1");
    curl_easy_setopt(sd.curl, CURLOPT_HTTPHEADER, sd.hdrs);
    curl_easy_setopt(sd.curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(sd.curl, CURLOPT_WRITEDATA, &sd.resp);
    curl_easy_setopt(sd.curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(sd.curl, CURLOPT_TIMEOUT_MS, 30000L);

    /* Warm up: the processes ran before T0 (scrapes not written). */
    for (int i = 0; i < DG_INSTANCES; i++) {
        int64_t first = t0 + tg[i].offset_ms;
        for (int64_t t = tg[i].start_ms + DG_SCRAPE_MS; t < first; t += DG_SCRAPE_MS) {
            (void)scrape(&tg[i], &ser[(size_t)i * S_COUNT], t, false, &st);
        }
    }
    dg_rng_t jitter = {o.seed ^ UINT64_C(0x5eed)};
    for (long k = 0;; k++) {
        int64_t sched = t0 + (int64_t)k * DG_SCRAPE_MS;
        if (sched > o.end_ms) {
            break;
        }
        for (int i = 0; i < DG_INSTANCES; i++) {
            int64_t t = sched + tg[i].offset_ms + (int64_t)(rng_next(&jitter) % 7);
            if (t > o.end_ms) {
                continue;
            }
            if (scrape(&tg[i], &ser[(size_t)i * S_COUNT], t, true, &st) != 0) {
                fprintf(stderr, "demo_gen: encoding failed\n");
                goto out_curl;
            }
        }
        if ((k + 1) % DG_SLICE_SCRAPES == 0 && flush(&sd, &o, ser, nser, &req, &st) != 0) {
            goto out_curl;
        }
    }
    if (flush(&sd, &o, ser, nser, &req, &st) != 0) {
        goto out_curl;
    }
    printf("demo_gen: %ld samples (%ld stale markers) in %ld requests, %zu series slots, "
           "t %" PRId64 "..%" PRId64 "\n",
           st.samples + st.stale, st.stale, st.requests, nser, st.first_ms, st.last_ms);
    ret = 0;
out_curl:
    curl_slist_free_all(sd.hdrs);
    curl_easy_cleanup(sd.curl);
    curl_global_cleanup();
out:
    for (size_t i = 0; ser != NULL && i < nser; i++) {
        tw_buf_fini(&ser[i].labels);
        tw_buf_fini(&ser[i].samples);
    }
    free(ser);
    free(tg);
    free(sd.comp);
    tw_buf_fini(&sd.resp);
    tw_buf_fini(&req);
    return ret;
}
