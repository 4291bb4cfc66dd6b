// SPDX-License-Identifier: Apache-2.0
/*
 * bench_vpa_recommender.c - CPU time and memory of the vertical autoscaler's recommender model
 * for many containers with days of history.
 *
 * Synthetic samples are fed straight into autoscaler/vpa (no TSDB, no PromQL: this measures the
 * model, the part whose cost grows with containers x history): --containers containers (5 per
 * VPA), --days days of history at --resolution seconds (3600 is the start-up rebuild's history
 * resolution; 60 is one sample a minute, what the live loop feeds), CPU usage and memory
 * working set from a fixed-seed generator around a per-container level. Phases, each measured
 * with CLOCK_PROCESS_CPUTIME_ID:
 *   rebuild     every history sample into the container states (CPU samples, memory peaks);
 *   recommend   the estimator chain and policy capping for every VPA (one recommender pass);
 *   live pass   one more CPU and memory sample per container, then recommend again;
 *   checkpoint  save and encode every aggregate (what the loop writes each interval).
 * Peak RSS (getrusage ru_maxrss) is taken at the end. Prints one markdown table row:
 *
 *   | containers | days | resolution s | samples | rebuild CPU s | recommend CPU s |
 *   live pass CPU s | checkpoint CPU s (bytes) | peak RSS MiB |
 *
 * Single-threaded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "autoscaler/vpa/vpa.h"

#define PER_VPA 5
#define T0 INT64_C(1700000000000)

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: reproducible values. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

typedef struct bench {
    size_t n;
    tw_vpa_aggregate_t **aggs;
    tw_vpa_container_t *ctrs;
    int64_t *cpu_level, *mem_level;
    char (*names)[16];
    tw_vpa_estimators_t est;
} bench_t;

static void feed(bench_t *b, size_t i, int64_t t, uint64_t *seed)
{
    int64_t cpu = b->cpu_level[i] + (int64_t)(rnd(seed) % 200);
    int64_t mem = b->mem_level[i] + (int64_t)(rnd(seed) % 50000000);
    (void)tw_vpa_container_add_cpu(&b->ctrs[i], cpu, t);
    (void)tw_vpa_container_add_memory(&b->ctrs[i], mem, t);
}

static size_t recommend_all(bench_t *b)
{
    size_t nrec = 0;
    tw_vpa_pod_container_t pcs[PER_VPA];
    tw_vpa_estimate_t est[PER_VPA];
    tw_vpa_container_rec_t recs[PER_VPA];
    tw_vpa_container_policy_t pol = {.name = "*"};
    pol.max_allowed.has[TW_VPA_CPU] = true;
    pol.max_allowed.v[TW_VPA_CPU] = 4000;
    tw_vpa_policy_t policy = {&pol, 1};
    for (size_t v = 0; v * PER_VPA < b->n; v++) {
        size_t k = 0;
        for (size_t j = 0; j < PER_VPA && v * PER_VPA + j < b->n; j++) {
            size_t i = v * PER_VPA + j;
            pcs[k] = (tw_vpa_pod_container_t){b->names[i], b->aggs[i], false, {true, true}};
            k++;
        }
        tw_vpa_recommend_pod(&b->est, pcs, k, est);
        for (size_t j = 0; j < k; j++) {
            recs[j].name = pcs[j].name;
            for (int bd = 0; bd < TW_VPA_NBOUNDS; bd++) {
                recs[j].bound[bd] = est[j].bound[bd];
            }
            recs[j].uncapped = est[j].bound[TW_VPA_TARGET];
        }
        tw_vpa_policy_apply(recs, k, &policy, NULL);
        nrec += k;
    }
    return nrec;
}

int main(int argc, char **argv)
{
    size_t n = 10000;
    int days = 8;
    int64_t res_s = 3600;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--containers") == 0) {
            n = (size_t)strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--days") == 0) {
            days = (int)strtol(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--resolution") == 0) {
            res_s = strtoll(argv[i + 1], NULL, 10);
        } else {
            fprintf(stderr, "usage: %s [--containers N] [--days D] [--resolution SECONDS]\n",
                    argv[0]);
            return 2;
        }
    }
    if (n == 0 || days <= 0 || res_s <= 0) {
        fprintf(stderr, "containers, days and resolution must be positive\n");
        return 2;
    }
    bench_t b;
    memset(&b, 0, sizeof(b));
    b.n = n;
    b.aggs = calloc(n, sizeof(*b.aggs));
    b.ctrs = calloc(n, sizeof(*b.ctrs));
    b.cpu_level = calloc(n, sizeof(*b.cpu_level));
    b.mem_level = calloc(n, sizeof(*b.mem_level));
    b.names = calloc(n, sizeof(*b.names));
    if (b.aggs == NULL || b.ctrs == NULL || b.cpu_level == NULL || b.mem_level == NULL ||
        b.names == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    tw_vpa_recommender_config_t rc;
    tw_vpa_recommender_config_init(&rc);
    tw_vpa_estimators_init(&b.est, &rc);
    uint64_t seed = UINT64_C(0x9e3779b97f4a7c15);
    int64_t start = T0 - (int64_t)days * 86400000;
    for (size_t i = 0; i < n; i++) {
        b.aggs[i] = tw_vpa_aggregate_new(NULL, start);
        tw_vpa_container_init(&b.ctrs[i], b.aggs[i]);
        b.cpu_level[i] = 50 + (int64_t)(rnd(&seed) % 2000);
        b.mem_level[i] = 50000000 + (int64_t)(rnd(&seed) % 2000000000);
        snprintf(b.names[i], sizeof(b.names[i]), "c%zu", i % PER_VPA);
    }
    size_t steps = (size_t)((int64_t)days * 86400 / res_s);

    double t = cpu_s();
    for (size_t s = 0; s < steps; s++) {
        int64_t ts = start + (int64_t)(s + 1) * res_s * 1000;
        for (size_t i = 0; i < n; i++) {
            feed(&b, i, ts, &seed);
        }
    }
    double rebuild = cpu_s() - t;

    t = cpu_s();
    size_t nrec = recommend_all(&b);
    double recommend = cpu_s() - t;

    t = cpu_s();
    for (size_t i = 0; i < n; i++) {
        feed(&b, i, T0 + 60000, &seed);
    }
    (void)recommend_all(&b);
    double live = cpu_s() - t;

    t = cpu_s();
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        tw_vpa_aggregate_checkpoint_t cp;
        size_t len = 0;
        tw_vpa_aggregate_save(b.aggs[i], &cp);
        uint8_t *data = tw_vpa_checkpoint_encode(&cp, &len, NULL);
        tw_vpa_aggregate_checkpoint_fini(&cp);
        bytes += len;
        free(data);
    }
    double cpt = cpu_s() - t;

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (nrec != n) {
        fprintf(stderr, "expected %zu recommendations, got %zu\n", n, nrec);
        return 1;
    }
    printf("| %zu | %d | %lld | %zu | %.2f | %.3f | %.3f | %.3f (%zu) | %.1f |\n", n, days,
           (long long)res_s, steps * n * 2, rebuild, recommend, live, cpt, bytes,
           (double)ru.ru_maxrss / 1024.0);
    for (size_t i = 0; i < n; i++) {
        tw_vpa_aggregate_free(b.aggs[i]);
    }
    free(b.aggs);
    free(b.ctrs);
    free(b.cpu_level);
    free(b.mem_level);
    free(b.names);
    return 0;
}
