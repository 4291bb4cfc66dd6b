/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_loop.c - the vertical autoscaler's thread (see vpa_loop.h).
 *
 * All decisions come from autoscaler/vpa (pure); this file does the I/O around them: queries
 * through the query source, checkpoint files, driver calls, logs, counters, and what other
 * threads read.
 *
 * State per VPA: one aggregate (decaying CPU and memory-peak histograms) per container name,
 * and one container state per (pod, container) feeding it, as the upstream recommender keeps
 * them. Series are grouped `by (namespace, pod, container)` in the queries, so a container
 * restarted under a new cgroup id continues the same state.
 *
 * Leadership: the updater step of each VPA first asks the leader hook (the HPA loop's Lease,
 * tw_autoscale_loop_is_leader in the daemon); a replica that is not the leader skips only that
 * step, so its histograms, checkpoints and published recommendations stay current for its own
 * admission webhook and for the moment it takes over.
 *
 * Locks: run_mu is held by a pass and by configure; status_mu guards what other threads read
 * (published recommendations, counters) and is held only to copy; wake_mu + wake put the thread
 * to sleep. Order: run_mu, then status_mu.
 */
#include "vpa_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "autoscale_loop.h"
#include "autoscaler/orchestrator/orchestrator.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"

#define COMPONENT "vpa"
/* The longest pod-name regex built from a pod list; longer lists use the target's pattern. */
#define POD_REGEX_MAX 16384
/* A container state not fed for this long is dropped (its pod is gone). */
#define CTR_IDLE_MS INT64_C(3600000)
/* Checkpoint file suffix. */
#define CP_SUFFIX ".twvc"

enum { ACT_EVICT = 0, ACT_RESIZE, ACT_TEMPLATE, ACT_REFUSED, ACT_FAILED, ACT_N_ };
static const char *const act_names[ACT_N_] = {"evict", "resize", "template_patch", "refused",
                                              "failed"};
static const char *const bound_names[TW_VPA_NBOUNDS + 1] = {"target", "lowerBound", "upperBound",
                                                            "uncappedTarget"};

/* One container name of one VPA. */
typedef struct vagg {
    char name[128]; /* the container (the CLI: "namespace/container") */
    tw_vpa_aggregate_t *agg;
    int64_t cutoff_ms; /* history at or before this is in the checkpoint already */
} vagg_t;

/* One (pod, container). */
typedef struct vctr {
    char pod[256];
    char name[128];
    tw_vpa_container_t st;
    double oom_count;
    bool have_oom;
    int64_t seen_ms;
} vctr_t;

/* The last reason logged for a pod, so a repeating refusal is logged once. */
typedef struct vlogged {
    char pod[256];
    char reason[160];
    int64_t attempt_ms; /* last in-place attempt, 0: none */
    bool seen;
} vlogged_t;

typedef struct vstate {
    const tw_vpa_manifest_t *m; /* NULL in the CLI */
    char ns[64];
    char name[256];
    bool key_ns; /* aggregates keyed by "namespace/container" (CLI) */
    vagg_t **aggs;
    size_t n_aggs;
    vctr_t **ctrs;
    size_t n_ctrs;
    vlogged_t *logged;
    size_t n_logged;
    bool initialized;
    bool warned_unknown;
    bool warned_nopods;
    char last_error[256];
    /* published: status_mu */
    tw_vpa_loop_rec_t *pub;
    size_t n_pub;
    int64_t pub_ms;
    uint64_t acts[ACT_N_];
} vstate_t;

struct tw_vpa_loop {
    pthread_mutex_t run_mu, status_mu, wake_mu;
    pthread_cond_t wake;
    pthread_t thread;
    bool started, stop, kicked; /* stop, kicked: wake_mu */
    int64_t interval_ms;        /* wake_mu */
    /* settings: run_mu */
    tw_query_source_t qs;
    tw_orch_driver_t *driver, *reads;
    bool pods_by_prefix;
    tw_vpa_options_t opts;
    tw_vpa_estimators_t est;
    char cp_dir[4096]; /* "" : no checkpoints */
    tw_vpa_webhook_ready_fn webhook;
    void *webhook_ctx;
    tw_vpa_leader_fn leader;
    void *leader_ctx;
    char lease[256]; /* autoscaling.leader_election.name, for the log */
    int leader_seen; /* the last answer of the leader check: -1 none yet, 0 no, 1 yes */
    /* status_mu */
    vstate_t **vpas;
    size_t n_vpas;
    uint64_t passes, query_errors, cp_read_errors, cp_write_errors;
    int64_t last_pass_ms;
    bool pub_leader; /* the last answer of the leader check (true before any) */
};

/* ---- model state -------------------------------------------------------------------------- */

static vagg_t *agg_get(vstate_t *vs, const tw_vpa_model_config_t *mc, const char *name,
                       int64_t now_ms)
{
    for (size_t i = 0; i < vs->n_aggs; i++) {
        if (strcmp(vs->aggs[i]->name, name) == 0) {
            return vs->aggs[i];
        }
    }
    vagg_t *a = tw_xcalloc(1, sizeof(*a));
    tw_strlcpy(a->name, name, sizeof(a->name));
    a->agg = tw_vpa_aggregate_new(mc, now_ms);
    a->cutoff_ms = INT64_MIN;
    vs->aggs = tw_xrealloc(vs->aggs, (vs->n_aggs + 1) * sizeof(*vs->aggs));
    vs->aggs[vs->n_aggs++] = a;
    return a;
}

static vctr_t *ctr_get(vstate_t *vs, const tw_vpa_model_config_t *mc, const char *pod,
                       const char *name, int64_t now_ms)
{
    for (size_t i = 0; i < vs->n_ctrs; i++) {
        if (strcmp(vs->ctrs[i]->pod, pod) == 0 && strcmp(vs->ctrs[i]->name, name) == 0) {
            return vs->ctrs[i];
        }
    }
    vagg_t *a = agg_get(vs, mc, name, now_ms);
    vctr_t *c = tw_xcalloc(1, sizeof(*c));
    tw_strlcpy(c->pod, pod, sizeof(c->pod));
    tw_strlcpy(c->name, name, sizeof(c->name));
    tw_vpa_container_init(&c->st, a->agg);
    c->seen_ms = now_ms;
    vs->ctrs = tw_xrealloc(vs->ctrs, (vs->n_ctrs + 1) * sizeof(*vs->ctrs));
    vs->ctrs[vs->n_ctrs++] = c;
    return c;
}

static vagg_t *agg_of(const vstate_t *vs, const tw_vpa_aggregate_t *agg)
{
    for (size_t i = 0; i < vs->n_aggs; i++) {
        if (vs->aggs[i]->agg == agg) {
            return vs->aggs[i];
        }
    }
    return NULL;
}

static vstate_t *vstate_new(const tw_vpa_manifest_t *m)
{
    vstate_t *vs = tw_xcalloc(1, sizeof(*vs));
    vs->m = m;
    if (m != NULL) {
        tw_strlcpy(vs->ns, m->namespace, sizeof(vs->ns));
        tw_strlcpy(vs->name, m->name, sizeof(vs->name));
    }
    return vs;
}

static void vstate_free(vstate_t *vs)
{
    if (vs == NULL) {
        return;
    }
    for (size_t i = 0; i < vs->n_ctrs; i++) {
        free(vs->ctrs[i]);
    }
    for (size_t i = 0; i < vs->n_aggs; i++) {
        tw_vpa_aggregate_free(vs->aggs[i]->agg);
        free(vs->aggs[i]);
    }
    free(vs->ctrs);
    free(vs->aggs);
    free(vs->logged);
    free(vs->pub);
    free(vs);
}

/* ---- queries ------------------------------------------------------------------------------ */

static const char *label_get(const tw_qs_series_t *s, const char *name)
{
    for (size_t i = 0; i < s->n_labels; i++) {
        if (strcmp(s->labels[i].name, name) == 0) {
            return s->labels[i].value;
        }
    }
    return "";
}

/* Appends s as a literal inside a PromQL double-quoted regex string. */
static void put_regex_literal(tw_buf_t *b, const char *s)
{
    for (; *s != '\0'; s++) {
        if (strchr(".+*?()[]{}|^$\\", *s) != NULL) {
            tw_buf_puts(b, "\\\\");
        } else if (*s == '"') {
            tw_buf_putc(b, '\\');
        }
        tw_buf_putc(b, *s);
    }
}

/* The pod names a workload's controller gives its pods, as an RE2 pattern suffix. */
static const char *pod_suffix(const char *kind)
{
    if (strcmp(kind, "Deployment") == 0) {
        return "-[a-z0-9]+-[a-z0-9]+"; /* <name>-<pod-template-hash>-<random> */
    }
    if (strcmp(kind, "StatefulSet") == 0) {
        return "-[0-9]+";
    }
    if (strcmp(kind, "DaemonSet") == 0 || strcmp(kind, "ReplicaSet") == 0 ||
        strcmp(kind, "ReplicationController") == 0) {
        return "-[a-z0-9]+";
    }
    return "-.+";
}

/* The series matchers of a VPA: by pod list (pods != NULL) or by the target's pod pattern. */
static void vpa_matchers(const vstate_t *vs, const tw_orch_pod_list_t *pods, tw_buf_t *out)
{
    const tw_vpa_manifest_t *m = vs->m;
    tw_buf_printf(out, "namespace=\"%s\",container!=\"\",container!=\"POD\",pod=~\"", m->namespace);
    size_t mark = out->len;
    if (pods != NULL && pods->n > 0) {
        for (size_t i = 0; i < pods->n; i++) {
            if (i > 0) {
                tw_buf_putc(out, '|');
            }
            put_regex_literal(out, pods->pods[i].name);
        }
        if (out->len - mark <= POD_REGEX_MAX) {
            tw_buf_putc(out, '"');
            return;
        }
        out->len = mark;
        out->data[mark] = '\0';
    }
    put_regex_literal(out, m->target.name);
    tw_buf_printf(out, "%s\"", pod_suffix(m->target.kind));
}

static void fmt_dur(int64_t ms, char *out, size_t n)
{
    if (ms % 1000 == 0) {
        snprintf(out, n, "%llds", (long long)(ms / 1000));
    } else {
        snprintf(out, n, "%lldms", (long long)ms);
    }
}

/* What a query's points feed. */
typedef enum { FEED_CPU, FEED_MEMORY, FEED_OOM } feed_t;

/*
 * Runs expr at now_ms and feeds every point of every series. history: points at or before the
 * aggregate's checkpoint cutoff are skipped. pods (may be NULL) gives OOM requests.
 */
static int feed_query(tw_vpa_loop_t *l, vstate_t *vs, const char *expr, feed_t what, bool history,
                      const tw_orch_pod_list_t *pods, int64_t now_ms, size_t *n_points,
                      tw_error_t *err)
{
    tw_qs_result_t res;
    memset(&res, 0, sizeof(res));
    int rc = l->qs.instant(l->qs.ctx, expr, now_ms, &res, err);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < res.n_series; i++) {
        const tw_qs_series_t *s = &res.series[i];
        const char *pod = label_get(s, "pod"), *ctr = label_get(s, "container");
        char key[128];
        if (pod[0] == '\0' || ctr[0] == '\0') {
            continue;
        }
        if (vs->key_ns) {
            snprintf(key, sizeof(key), "%s/%s", label_get(s, "namespace"), ctr);
        } else {
            tw_strlcpy(key, ctr, sizeof(key));
        }
        vctr_t *c = ctr_get(vs, &l->opts.model, pod, key, now_ms);
        vagg_t *a = agg_of(vs, c->st.agg);
        c->seen_ms = now_ms;
        for (size_t k = 0; k < s->n_points; k++) {
            double v = s->points[k].v;
            int64_t t = s->points[k].t_ms;
            if (!isfinite(v) || (history && a != NULL && t <= a->cutoff_ms)) {
                continue;
            }
            if (n_points != NULL) {
                (*n_points)++;
            }
            if (what == FEED_CPU) {
                (void)tw_vpa_container_add_cpu(&c->st, tw_vpa_amount_from_float(v * 1000.0), t);
            } else if (what == FEED_MEMORY) {
                (void)tw_vpa_container_add_memory(&c->st, tw_vpa_amount_from_float(v), t);
            } else {
                if (c->have_oom && v > c->oom_count) {
                    int64_t req = 0;
                    for (size_t p = 0; pods != NULL && p < pods->n; p++) {
                        const tw_orch_pod_t *op = &pods->pods[p];
                        for (size_t j = 0; strcmp(op->name, pod) == 0 && j < op->n_containers;
                             j++) {
                            if (strcmp(op->containers[j].name, ctr) == 0 &&
                                op->containers[j].has_memory_request) {
                                req = (op->containers[j].memory_request_milli + 999) / 1000;
                            }
                        }
                    }
                    tw_error_t oerr;
                    if (tw_vpa_container_record_oom(&c->st, t, req, &oerr) == 0) {
                        tw_log(TW_LOG_INFO, COMPONENT, "OOM kill recorded: memory bumped", "vpa",
                               vs->name, "namespace", vs->ns, "pod", pod, "container", ctr, NULL);
                    }
                }
                c->oom_count = v;
                c->have_oom = true;
            }
        }
    }
    tw_qs_result_free(&res);
    return 0;
}

/* The three history or live queries of one selector. */
static int feed_all(tw_vpa_loop_t *l, vstate_t *vs, const char *sel, bool history,
                    const tw_orch_pod_list_t *pods, int64_t now_ms, size_t *n_points,
                    tw_error_t *err)
{
    tw_buf_t q;
    char w[32], len[32];
    int rc;
    tw_buf_init(&q, 0);
    const char *by = "namespace, pod, container";
    if (history) {
        fmt_dur(l->opts.history_resolution_ms, w, sizeof(w));
        fmt_dur(l->opts.history_length_ms, len, sizeof(len));
        tw_buf_printf(&q, "sum by (%s) (rate(container_cpu_usage_seconds_total{%s}[%s]))[%s:%s]",
                      by, sel, w, len, w);
        rc = feed_query(l, vs, q.data, FEED_CPU, true, pods, now_ms, n_points, err);
        if (rc == 0) {
            tw_buf_reset(&q);
            tw_buf_printf(&q,
                          "max by (%s) (max_over_time(container_memory_working_set_bytes{%s}[%s]))"
                          "[%s:%s]",
                          by, sel, w, len, w);
            rc = feed_query(l, vs, q.data, FEED_MEMORY, true, pods, now_ms, n_points, err);
        }
        tw_buf_fini(&q);
        return rc;
    }
    /* Live: the CPU usage rate between the last two samples (irate), like the point-in-time
     * rate metrics-server gives the upstream recommender once a pass, and the working-set peak
     * since the last pass. The window (the interval, at least a minute so that it holds two
     * samples at the collector's 10 s interval) only bounds how old those samples may be. Not
     * rate(): its window reaches back before a new series' first sample (a container, or the
     * collector, that just started), where rate() divides the increase seen by the whole window
     * and so under-reports usage for a window's length after every start. A restarted
     * container has a new cgroup (`id`) while its old series still has samples in the window,
     * and irate gives both their full last rate: sum within a cgroup (per-CPU series, as
     * cAdvisor's default mode exports them), then take the larger cgroup, not the sum. */
    fmt_dur(l->opts.interval_ms > 60000 ? l->opts.interval_ms : 60000, w, sizeof(w));
    tw_buf_printf(
        &q, "max by (%s) (sum by (%s, id) (irate(container_cpu_usage_seconds_total{%s}[%s])))", by,
        by, sel, w);
    rc = feed_query(l, vs, q.data, FEED_CPU, false, pods, now_ms, n_points, err);
    if (rc == 0) {
        tw_buf_reset(&q);
        tw_buf_printf(&q, "max by (%s) (max_over_time(container_memory_working_set_bytes{%s}[%s]))",
                      by, sel, w);
        rc = feed_query(l, vs, q.data, FEED_MEMORY, false, pods, now_ms, n_points, err);
    }
    if (rc == 0) {
        tw_buf_reset(&q);
        tw_buf_printf(&q, "sum by (%s) (container_oom_events_total{%s})", by, sel);
        rc = feed_query(l, vs, q.data, FEED_OOM, false, pods, now_ms, n_points, err);
    }
    tw_buf_fini(&q);
    return rc;
}

/* ---- checkpoints -------------------------------------------------------------------------- */

static void cp_path(const tw_vpa_loop_t *l, const vstate_t *vs, const char *ctr, char *out,
                    size_t n)
{
    /* namespace, VPA and container names cannot hold '_': the name splits unambiguously */
    if (snprintf(out, n, "%s/%s_%s_%s%s", l->cp_dir, vs->ns, vs->name, ctr, CP_SUFFIX) >= (int)n) {
        out[0] = '\0';
    }
}

/* Reads every checkpoint of vs; a bad one is logged and ignored. */
static void cp_load_all(tw_vpa_loop_t *l, vstate_t *vs, int64_t now_ms)
{
    char pat[4400];
    glob_t g;
    if (l->cp_dir[0] == '\0') {
        return;
    }
    if (snprintf(pat, sizeof(pat), "%s/%s_%s_*%s", l->cp_dir, vs->ns, vs->name, CP_SUFFIX) >=
        (int)sizeof(pat)) {
        return;
    }
    memset(&g, 0, sizeof(g));
    if (glob(pat, 0, NULL, &g) != 0) {
        globfree(&g);
        return;
    }
    size_t prefix = strlen(l->cp_dir) + 1 + strlen(vs->ns) + 1 + strlen(vs->name) + 1;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *path = g.gl_pathv[i];
        char ctr[128];
        size_t len = strlen(path);
        if (len <= prefix + strlen(CP_SUFFIX) || len - prefix - strlen(CP_SUFFIX) >= sizeof(ctr)) {
            continue;
        }
        memcpy(ctr, path + prefix, len - prefix - strlen(CP_SUFFIX));
        ctr[len - prefix - strlen(CP_SUFFIX)] = '\0';
        if (strchr(ctr, '_') != NULL) {
            continue; /* another VPA's whose name extends ours: "a" vs "a_b" cannot happen */
        }
        tw_buf_t b;
        tw_error_t err;
        tw_vpa_aggregate_checkpoint_t cp;
        memset(&cp, 0, sizeof(cp));
        tw_error_clear(&err);
        tw_buf_init(&b, TW_VPA_CHECKPOINT_MAX_BYTES + 1);
        tw_vpa_aggregate_t *tmp = tw_vpa_aggregate_new(&l->opts.model, now_ms);
        int rc = tw_buf_read_file(&b, path, &err);
        if (rc == 0) {
            rc = tw_vpa_checkpoint_decode((const uint8_t *)b.data, b.len, &cp, &err);
        }
        if (rc == 0) {
            rc = tw_vpa_aggregate_load(tmp, &cp, &err);
        }
        if (rc != 0) {
            tw_log(TW_LOG_WARN, COMPONENT,
                   "Ignoring a checkpoint that cannot be read; the history is rebuilt from the "
                   "TSDB alone",
                   "vpa", vs->name, "namespace", vs->ns, "file", path, "err", err.msg, NULL);
            pthread_mutex_lock(&l->status_mu);
            l->cp_read_errors++;
            pthread_mutex_unlock(&l->status_mu);
            tw_vpa_aggregate_free(tmp);
        } else {
            vagg_t *a = agg_get(vs, &l->opts.model, ctr, now_ms);
            tw_vpa_aggregate_free(a->agg);
            a->agg = tmp;
            a->cutoff_ms = cp.last_sample_ms;
            char n[32];
            snprintf(n, sizeof(n), "%lld", (long long)cp.total_samples);
            tw_log(TW_LOG_INFO, COMPONENT, "Checkpoint loaded", "vpa", vs->name, "namespace",
                   vs->ns, "container", ctr, "samples", n, NULL);
        }
        tw_vpa_aggregate_checkpoint_fini(&cp);
        tw_buf_fini(&b);
    }
    globfree(&g);
}

/* Writes data to path atomically (temporary file, fsync, rename). */
static int write_atomic(const char *path, const uint8_t *data, size_t len, tw_error_t *err)
{
    char tmp[4600];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return tw_error_set(err, -errno, "open %s: %s", tmp, strerror(errno));
    }
    size_t off = 0;
    int rc = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = tw_error_set(err, -errno, "write %s: %s", tmp, strerror(errno));
            break;
        }
        off += (size_t)n;
    }
    if (rc == 0 && fsync(fd) != 0) {
        rc = tw_error_set(err, -errno, "fsync %s: %s", tmp, strerror(errno));
    }
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = tw_error_set(err, -errno, "rename %s: %s", tmp, strerror(errno));
    }
    if (rc != 0) {
        unlink(tmp);
    }
    return rc;
}

static void cp_save_all(tw_vpa_loop_t *l, vstate_t *vs)
{
    if (l->cp_dir[0] == '\0') {
        return;
    }
    if (mkdir(l->cp_dir, 0755) != 0 && errno != EEXIST) {
        char msg[256];
        if (snprintf(msg, sizeof(msg), "mkdir %s: %s", l->cp_dir, strerror(errno)) < 0) {
            msg[0] = '\0';
        }
        if (strcmp(msg, vs->last_error) != 0) {
            tw_log(TW_LOG_ERROR, COMPONENT, "Cannot write checkpoints", "err", msg, NULL);
            tw_strlcpy(vs->last_error, msg, sizeof(vs->last_error));
        }
        pthread_mutex_lock(&l->status_mu);
        l->cp_write_errors++;
        pthread_mutex_unlock(&l->status_mu);
        return;
    }
    for (size_t i = 0; i < vs->n_aggs; i++) {
        tw_vpa_aggregate_checkpoint_t cp;
        tw_error_t err;
        char path[4500];
        size_t len = 0;
        tw_error_clear(&err);
        tw_vpa_aggregate_save(vs->aggs[i]->agg, &cp);
        uint8_t *data = tw_vpa_checkpoint_encode(&cp, &len, &err);
        tw_vpa_aggregate_checkpoint_fini(&cp);
        cp_path(l, vs, vs->aggs[i]->name, path, sizeof(path));
        int rc = data != NULL ? write_atomic(path, data, len, &err) : TW_ELIMIT;
        free(data);
        if (rc != 0) {
            if (strcmp(err.msg, vs->last_error) != 0) {
                tw_log(TW_LOG_ERROR, COMPONENT, "Cannot write a checkpoint", "vpa", vs->name,
                       "namespace", vs->ns, "file", path, "err", err.msg, NULL);
                tw_strlcpy(vs->last_error, err.msg, sizeof(vs->last_error));
            }
            pthread_mutex_lock(&l->status_mu);
            l->cp_write_errors++;
            pthread_mutex_unlock(&l->status_mu);
        }
    }
}

/* ---- recommendations ---------------------------------------------------------------------- */

/* Drops idle container states and expired aggregates (and their checkpoints). */
static void gc(tw_vpa_loop_t *l, vstate_t *vs, int64_t now_ms)
{
    size_t k = 0;
    for (size_t i = 0; i < vs->n_ctrs; i++) {
        if (now_ms - vs->ctrs[i]->seen_ms > CTR_IDLE_MS) {
            free(vs->ctrs[i]);
        } else {
            vs->ctrs[k++] = vs->ctrs[i];
        }
    }
    vs->n_ctrs = k;
    k = 0;
    for (size_t i = 0; i < vs->n_aggs; i++) {
        vagg_t *a = vs->aggs[i];
        bool used = false;
        for (size_t j = 0; j < vs->n_ctrs; j++) {
            used = used || vs->ctrs[j]->st.agg == a->agg;
        }
        if (!used && tw_vpa_aggregate_is_expired(a->agg, now_ms)) {
            char path[4500];
            if (l->cp_dir[0] != '\0' && vs->m != NULL) {
                cp_path(l, vs, a->name, path, sizeof(path));
                unlink(path);
            }
            tw_vpa_aggregate_free(a->agg);
            free(a);
        } else {
            vs->aggs[k++] = a;
        }
    }
    vs->n_aggs = k;
}

/*
 * The VPA's recommendation (GetRecommendedPodResources, then ApplyVPAPolicy; uncappedTarget is
 * the value before the policy). out gets one entry per container with a recommendation;
 * returns the count. out must hold vs->n_aggs entries.
 */
static size_t recommend(const tw_vpa_loop_t *l, const vstate_t *vs, tw_vpa_loop_rec_t *out)
{
    size_t n = vs->n_aggs, k = 0;
    if (n == 0) {
        return 0;
    }
    tw_vpa_pod_container_t *pcs = tw_xcalloc(n, sizeof(*pcs));
    tw_vpa_estimate_t *est = tw_xcalloc(n, sizeof(*est));
    tw_vpa_container_rec_t *recs = tw_xcalloc(n, sizeof(*recs));
    size_t *src = tw_xcalloc(n, sizeof(*src));
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const vagg_t *a = vs->aggs[i];
        if (tw_vpa_aggregate_samples(a->agg) == 0 &&
            tw_vpa_hist_is_empty(tw_vpa_aggregate_memory(a->agg))) {
            continue; /* nothing seen yet */
        }
        pcs[m].name = a->name;
        pcs[m].agg = a->agg;
        pcs[m].controls[TW_VPA_CPU] = pcs[m].controls[TW_VPA_MEMORY] = true;
        if (vs->m != NULL) {
            size_t pi = 0;
            const tw_vpa_container_policy_t *p = tw_vpa_manifest_policy(vs->m, a->name, &pi);
            if (p != NULL) {
                pcs[m].mode_off = p->mode_off;
                pcs[m].controls[TW_VPA_CPU] = vs->m->containers[pi].controls[TW_VPA_CPU];
                pcs[m].controls[TW_VPA_MEMORY] = vs->m->containers[pi].controls[TW_VPA_MEMORY];
            }
        }
        src[m++] = i;
    }
    tw_vpa_recommend_pod(&l->est, pcs, m, est);
    for (size_t i = 0; i < m; i++) {
        if (!est[i].present) {
            continue;
        }
        recs[k].name = pcs[i].name;
        for (int b = 0; b < TW_VPA_NBOUNDS; b++) {
            recs[k].bound[b] = est[i].bound[b];
        }
        recs[k].uncapped = est[i].bound[TW_VPA_TARGET];
        src[k] = src[i];
        k++;
    }
    bool gmax = l->opts.global_max.has[TW_VPA_CPU] || l->opts.global_max.has[TW_VPA_MEMORY];
    static const tw_vpa_policy_t no_policy = {NULL, 0};
    tw_vpa_policy_apply(recs, k, vs->m != NULL ? &vs->m->policy : &no_policy,
                        gmax ? &l->opts.global_max : NULL);
    for (size_t i = 0; i < k; i++) {
        const tw_vpa_aggregate_t *agg = vs->aggs[src[i]]->agg;
        memset(&out[i], 0, sizeof(out[i]));
        tw_strlcpy(out[i].container, recs[i].name, sizeof(out[i].container));
        for (int b = 0; b < TW_VPA_NBOUNDS; b++) {
            out[i].bound[b] = recs[i].bound[b];
        }
        out[i].uncapped = recs[i].uncapped;
        out[i].confidence =
            tw_vpa_aggregate_confidence(agg, l->opts.rec.confidence_interval_cpu_ms);
        out[i].samples = tw_vpa_aggregate_samples(agg);
        if (out[i].samples > 0) {
            out[i].history_ms =
                tw_vpa_aggregate_last_sample_ms(agg) - tw_vpa_aggregate_first_sample_ms(agg);
        }
    }
    free(pcs);
    free(est);
    free(recs);
    free(src);
    return k;
}

/* ---- the updater -------------------------------------------------------------------------- */

static vlogged_t *logged_get(vstate_t *vs, const char *pod)
{
    for (size_t i = 0; i < vs->n_logged; i++) {
        if (strcmp(vs->logged[i].pod, pod) == 0) {
            return &vs->logged[i];
        }
    }
    vs->logged = tw_xrealloc(vs->logged, (vs->n_logged + 1) * sizeof(*vs->logged));
    vlogged_t *g = &vs->logged[vs->n_logged++];
    memset(g, 0, sizeof(*g));
    tw_strlcpy(g->pod, pod, sizeof(g->pod));
    return g;
}

static void count_act(tw_vpa_loop_t *l, vstate_t *vs, int act)
{
    pthread_mutex_lock(&l->status_mu);
    vs->acts[act]++;
    pthread_mutex_unlock(&l->status_mu);
}

/* Logs an update or refusal for pod; a refusal repeating the last reason is not logged again. */
static void log_pod(tw_vpa_loop_t *l, vstate_t *vs, const char *pod, bool refusal, const char *msg,
                    const char *reason)
{
    vlogged_t *g = logged_get(vs, pod);
    g->seen = true;
    if (refusal) {
        count_act(l, vs, ACT_REFUSED);
        if (strcmp(g->reason, reason) == 0) {
            return;
        }
    }
    tw_strlcpy(g->reason, refusal ? reason : "", sizeof(g->reason));
    tw_log(refusal ? TW_LOG_INFO : TW_LOG_INFO, COMPONENT, msg, "vpa", vs->name, "namespace",
           vs->ns, "pod", pod, "reason", reason, NULL);
}

/* One pass's view of the pods, in the updater's types. */
typedef struct upods {
    tw_vpa_updater_pod_t *pods;
    tw_vpa_pod_spec_container_t **ctrs;
    tw_vpa_container_status_t **stats;
    tw_vpa_pod_condition_t (*conds)[2];
    const tw_orch_pod_t **src;
    size_t n;
    tw_vpa_replica_owner_t *owners;
    size_t n_owners;
} upods_t;

static void upods_fini(upods_t *u)
{
    for (size_t i = 0; i < u->n; i++) {
        free(u->ctrs[i]);
        free(u->stats[i]);
    }
    free(u->pods);
    free(u->ctrs);
    free(u->stats);
    free(u->conds);
    free(u->src);
    free(u->owners);
}

static void upods_build(vstate_t *vs, const tw_orch_pod_list_t *pl, const tw_orch_scale_t *scale,
                        upods_t *u)
{
    const tw_vpa_manifest_t *m = vs->m;
    size_t n = pl->n > 0 ? pl->n : 1;
    memset(u, 0, sizeof(*u));
    u->pods = tw_xcalloc(n, sizeof(*u->pods));
    u->ctrs = tw_xcalloc(n, sizeof(*u->ctrs));
    u->stats = tw_xcalloc(n, sizeof(*u->stats));
    u->conds = tw_xcalloc(n, sizeof(*u->conds));
    u->src = tw_xcalloc(n, sizeof(*u->src));
    u->owners = tw_xcalloc(n, sizeof(*u->owners));
    for (size_t i = 0; i < pl->n; i++) {
        const tw_orch_pod_t *op = &pl->pods[i];
        if (op->deleting ||
            (op->phase != TW_ORCH_POD_RUNNING && op->phase != TW_ORCH_POD_PENDING)) {
            continue;
        }
        size_t k = u->n++;
        tw_vpa_updater_pod_t *p = &u->pods[k];
        size_t nc = op->n_containers > 0 ? op->n_containers : 1;
        u->src[k] = op;
        u->ctrs[k] = tw_xcalloc(nc, sizeof(**u->ctrs));
        u->stats[k] = tw_xcalloc(nc, sizeof(**u->stats));
        for (size_t j = 0; j < op->n_containers; j++) {
            const tw_orch_container_t *oc = &op->containers[j];
            tw_vpa_pod_spec_container_t *c = &u->ctrs[k][j];
            c->name = oc->name;
            c->requests.has[TW_VPA_CPU] = oc->has_cpu_request;
            c->requests.v[TW_VPA_CPU] = oc->cpu_request_milli;
            c->requests.has[TW_VPA_MEMORY] = oc->has_memory_request;
            c->requests.v[TW_VPA_MEMORY] = (oc->memory_request_milli + 999) / 1000;
            c->limits.has[TW_VPA_CPU] = oc->has_cpu_limit;
            c->limits.v[TW_VPA_CPU] = oc->cpu_limit_milli;
            c->limits.has[TW_VPA_MEMORY] = oc->has_memory_limit;
            c->limits.v[TW_VPA_MEMORY] = (oc->memory_limit_milli + 999) / 1000;
            tw_vpa_container_status_t *s = &u->stats[k][j];
            s->name = oc->name;
            s->last_termination = oc->last_termination[0] != '\0' ? oc->last_termination : NULL;
            s->last_started_ms = oc->last_started_ms;
            s->last_finished_ms = oc->last_finished_ms;
        }
        size_t nconds = 0;
        if (op->resize_pending != TW_ORCH_COND_NONE) {
            u->conds[k][nconds++] = (tw_vpa_pod_condition_t){
                "PodResizePending", op->resize_pending == TW_ORCH_COND_TRUE,
                op->resize_pending_reason, op->resize_pending_message};
        }
        if (op->resize_in_progress != TW_ORCH_COND_NONE) {
            u->conds[k][nconds++] = (tw_vpa_pod_condition_t){
                "PodResizeInProgress", op->resize_in_progress == TW_ORCH_COND_TRUE,
                op->resize_in_progress_reason, op->resize_in_progress_message};
        }
        p->name = op->name;
        p->containers = u->ctrs[k];
        p->n_containers = op->n_containers;
        p->statuses = u->stats[k];
        p->n_statuses = op->n_containers;
        p->pending = op->phase == TW_ORCH_POD_PENDING;
        p->has_start_time = op->has_start_time;
        p->start_ms = op->start_time_ms;
        p->conditions = u->conds[k];
        p->n_conditions = nconds;
        /* Without an ownerReference (a driver that does not report it), the pods count as one
         * replica group of the target: ReplicaSet for a Deployment. */
        if (op->owner_kind[0] != '\0') {
            p->owner_kind = op->owner_kind;
            p->owner_name = op->owner_name;
        } else {
            p->owner_kind =
                strcmp(m->target.kind, "Deployment") == 0 ? "ReplicaSet" : m->target.kind;
            p->owner_name = m->target.name;
        }
        vlogged_t *g = logged_get(vs, op->name);
        g->seen = true;
        p->has_last_in_place_attempt = g->attempt_ms != 0;
        p->last_in_place_attempt_ms = g->attempt_ms;
        bool known = false;
        for (size_t j = 0; j < u->n_owners; j++) {
            known = known || (strcmp(u->owners[j].kind, p->owner_kind) == 0 &&
                              strcmp(u->owners[j].name, p->owner_name) == 0);
        }
        if (!known) {
            /* The replica count of the current controller is the target's spec.replicas. */
            u->owners[u->n_owners++] =
                (tw_vpa_replica_owner_t){p->owner_kind, p->owner_name, scale->spec_replicas};
        }
    }
}

/* The resources to write for pod k from its capped recommendation. */
static size_t resources_of(const vstate_t *vs, const upods_t *u, size_t k,
                           const tw_vpa_container_rec_t *capped, size_t n_capped,
                           tw_orch_resources_t *out)
{
    const tw_vpa_updater_pod_t *p = &u->pods[k];
    size_t n = 0;
    for (size_t j = 0; j < p->n_containers; j++) {
        const tw_vpa_pod_spec_container_t *c = &p->containers[j];
        const tw_vpa_container_rec_t *r = NULL;
        for (size_t i = 0; i < n_capped; i++) {
            if (capped[i].name != NULL && strcmp(capped[i].name, c->name) == 0) {
                r = &capped[i];
            }
        }
        if (r == NULL) {
            continue;
        }
        const tw_vpa_container_policy_t *pol = tw_vpa_manifest_policy(vs->m, c->name, NULL);
        int64_t vals[2][TW_VPA_NRES] = {{-1, -1}, {-1, -1}};
        for (int res = 0; res < TW_VPA_NRES; res++) {
            if (!r->bound[TW_VPA_TARGET].has[res]) {
                continue;
            }
            int64_t target = r->bound[TW_VPA_TARGET].v[res];
            vals[0][res] = target;
            if (pol != NULL && pol->requests_only) {
                continue;
            }
            tw_vpa_limit_result_t lr;
            tw_vpa_proportional_limit(
                (tw_vpa_resource_t)res, c->limits.has[res] ? &c->limits.v[res] : NULL,
                c->requests.has[res] ? &c->requests.v[res] : NULL, &target, NULL, &lr);
            if (lr.has_limit) {
                vals[1][res] = lr.limit;
            }
        }
        out[n++] = (tw_orch_resources_t){c->name, vals[0][TW_VPA_CPU], vals[0][TW_VPA_MEMORY],
                                         vals[1][TW_VPA_CPU], vals[1][TW_VPA_MEMORY]};
    }
    return n;
}

/* Recreate's action for pod k: evict (webhook answering) or patch the pod template. Returns
 * true when the pass should stop acting (the template was patched). */
static bool evict_or_template(tw_vpa_loop_t *l, vstate_t *vs, const upods_t *u, size_t k,
                              tw_vpa_restriction_t *r, const tw_orch_resources_t *res, size_t n_res,
                              int64_t now_ms)
{
    const char *pod = u->pods[k].name;
    tw_error_t err;
    tw_error_clear(&err);
    if (l->webhook == NULL || !l->webhook(l->webhook_ctx)) {
        tw_orch_ref_t ref = {vs->m->target.kind, vs->m->namespace, vs->m->target.name, NULL};
        if (tw_orch_patch_resources(l->driver, &ref, res, n_res, &err) != 0) {
            count_act(l, vs, ACT_FAILED);
            tw_log(TW_LOG_ERROR, COMPONENT, "Cannot patch the pod template", "vpa", vs->name,
                   "namespace", vs->ns, "target", vs->m->target.name, "err", err.msg, NULL);
            return true;
        }
        count_act(l, vs, ACT_TEMPLATE);
        tw_log(TW_LOG_INFO, COMPONENT,
               "Patched the workload's pod template (rolling update): the admission webhook is "
               "not configured or not answering, so an evicted pod would come back with its old "
               "requests",
               "vpa", vs->name, "namespace", vs->ns, "target", vs->m->target.name, "pod", pod,
               NULL);
        return true;
    }
    if (!tw_vpa_restriction_can_evict(r, k, now_ms)) {
        log_pod(l, vs, pod, true, "Pod not evicted",
                "the replica group cannot lose a pod now (minReplicas or eviction tolerance)");
        return false;
    }
    if (tw_vpa_restriction_evict_check(r, k, now_ms, &err) != 0) {
        log_pod(l, vs, pod, true, "Pod not evicted", err.msg);
        return false;
    }
    tw_orch_ref_t ref = {"Pod", vs->m->namespace, pod, NULL};
    int rc = tw_orch_evict_pod(l->driver, &ref, &err);
    if (rc != 0) {
        log_pod(l, vs, pod, true,
                rc == TW_ETRANSIENT ? "Eviction refused (disruption budget or API busy); retried "
                                      "next pass"
                                    : "Eviction failed",
                err.msg);
        return false;
    }
    tw_vpa_restriction_evicted(r, k);
    count_act(l, vs, ACT_EVICT);
    log_pod(l, vs, pod, false, "Evicted pod to apply the recommendation",
            "outside the recommended range or far enough from it");
    return false;
}

/* The updater step of one VPA (run_mu held). */
static void update_pods(tw_vpa_loop_t *l, vstate_t *vs, const tw_orch_pod_list_t *pl,
                        const tw_orch_scale_t *scale, const tw_vpa_loop_rec_t *pub, size_t n_pub,
                        int64_t now_ms)
{
    const tw_vpa_manifest_t *m = vs->m;
    tw_vpa_update_mode_t mode = m->mode;
    if (mode == TW_VPA_UPDATE_OFF || mode == TW_VPA_UPDATE_INITIAL || n_pub == 0) {
        return;
    }
    tw_vpa_container_rec_t *recs = tw_xcalloc(n_pub, sizeof(*recs));
    for (size_t i = 0; i < n_pub; i++) {
        recs[i].name = pub[i].container;
        for (int b = 0; b < TW_VPA_NBOUNDS; b++) {
            recs[i].bound[b] = pub[i].bound[b];
        }
        recs[i].uncapped = pub[i].uncapped;
    }
    upods_t u;
    for (size_t i = 0; i < vs->n_logged; i++) {
        vs->logged[i].seen = false;
    }
    upods_build(vs, pl, scale, &u);
    tw_vpa_update_vpa_t uv = {mode, &m->policy, false, 0};
    tw_vpa_update_candidate_t *cand = tw_xcalloc(u.n > 0 ? u.n : 1, sizeof(*cand));
    tw_vpa_container_rec_t **capped = tw_xcalloc(u.n > 0 ? u.n : 1, sizeof(*capped));
    size_t *n_capped = tw_xcalloc(u.n > 0 ? u.n : 1, sizeof(*n_capped));
    size_t nc = 0;
    for (size_t k = 0; k < u.n; k++) {
        const tw_vpa_updater_pod_t *p = &u.pods[k];
        size_t cap = n_pub + p->n_containers;
        capped[k] = tw_xcalloc(cap, sizeof(**capped));
        tw_vpa_annotations_t *ann = tw_xcalloc(cap, sizeof(*ann));
        (void)tw_vpa_cap_apply(recs, n_pub, true, &m->policy, p->containers, p->n_containers, NULL,
                               NULL, capped[k], ann, &n_capped[k]);
        free(ann);
        tw_vpa_pod_priority_t prio;
        bool quick_oom = false;
        tw_vpa_priority_get(p, capped[k], n_capped[k], &prio);
        tw_vpa_update_verdict_t v =
            tw_vpa_update_check(&l->opts.update, &uv, p, &prio, capped[k], n_capped[k], NULL, 0,
                                false, now_ms, &quick_oom);
        if (v != TW_VPA_UPDATE_ACCEPTED) {
            log_pod(l, vs, p->name, true, "Pod not updated", tw_vpa_update_verdict_text(v));
            continue;
        }
        if (!tw_vpa_eviction_admit(p, m->eviction_reqs, m->n_eviction_reqs, m->has_update_policy,
                                   capped[k], n_capped[k])) {
            log_pod(l, vs, p->name, true, "Pod not updated",
                    "the VPA's evictionRequirements are not met");
            continue;
        }
        cand[nc++] = (tw_vpa_update_candidate_t){k, prio};
    }
    tw_vpa_update_sort(cand, nc);
    int vmin = m->min_replicas;
    tw_vpa_restriction_t *r =
        tw_vpa_restriction_new(&l->opts.restriction, u.pods, u.n, u.owners, u.n_owners, mode,
                               m->has_min_replicas ? &vmin : NULL);
    tw_orch_resources_t *res = NULL;
    for (size_t c = 0; c < nc; c++) {
        size_t k = cand[c].index;
        const char *pod = u.pods[k].name;
        free(res);
        res = tw_xcalloc(u.pods[k].n_containers > 0 ? u.pods[k].n_containers : 1, sizeof(*res));
        size_t n_res = resources_of(vs, &u, k, capped[k], n_capped[k], res);
        if (n_res == 0) {
            continue;
        }
        if (mode != TW_VPA_UPDATE_IN_PLACE_OR_RECREATE) {
            if (evict_or_template(l, vs, &u, k, r, res, n_res, now_ms)) {
                break;
            }
            continue;
        }
        tw_vpa_in_place_decision_t d =
            tw_vpa_restriction_can_in_place(r, k, mode, recs, n_pub, true, NULL, 0, false, now_ms);
        tw_error_t err;
        tw_error_clear(&err);
        if (d == TW_VPA_IN_PLACE_EVICT) {
            tw_log(TW_LOG_INFO, COMPONENT,
                   "In-place resize not possible (infeasible, deferred too long or failed): "
                   "falling back to eviction",
                   "vpa", vs->name, "namespace", vs->ns, "pod", pod, NULL);
            if (evict_or_template(l, vs, &u, k, r, res, n_res, now_ms)) {
                break;
            }
            continue;
        }
        if (d != TW_VPA_IN_PLACE_APPROVED) {
            log_pod(l, vs, pod, true, "Pod not resized", tw_vpa_in_place_decision_name(d));
            continue;
        }
        if (tw_vpa_restriction_in_place_check(r, k, &err) != 0) {
            log_pod(l, vs, pod, true, "Pod not resized", err.msg);
            continue;
        }
        tw_orch_ref_t ref = {"Pod", m->namespace, pod, NULL};
        if (tw_orch_patch_resources(l->driver, &ref, res, n_res, &err) != 0) {
            count_act(l, vs, ACT_FAILED);
            log_pod(l, vs, pod, true, "Resize failed", err.msg);
            continue;
        }
        tw_vpa_restriction_in_place_done(r, k, now_ms);
        logged_get(vs, pod)->attempt_ms = now_ms;
        count_act(l, vs, ACT_RESIZE);
        log_pod(l, vs, pod, false, "Resized pod in place (pods/resize)",
                "outside the recommended range or far enough from it");
    }
    free(res);
    tw_vpa_restriction_free(r);
    for (size_t k = 0; k < u.n; k++) {
        free(capped[k]);
    }
    free(capped);
    free(n_capped);
    free(cand);
    free(recs);
    upods_fini(&u);
    /* Forget pods that are gone (their names do not come back). */
    size_t keep = 0;
    for (size_t i = 0; i < vs->n_logged; i++) {
        if (vs->logged[i].seen) {
            vs->logged[keep++] = vs->logged[i];
        }
    }
    vs->n_logged = keep;
}

/*
 * The updater's leader check (run_mu held): asks the hook, logs each change of the answer once
 * and publishes it. A first answer of "leader" is not logged: without election there is nothing
 * to say, and with it the HPA loop already logs acquiring the Lease.
 */
static bool updater_is_leader(tw_vpa_loop_t *l)
{
    bool leader = l->leader == NULL || l->leader(l->leader_ctx);
    if ((leader ? 1 : 0) != l->leader_seen && (l->leader_seen >= 0 || !leader)) {
        tw_log(TW_LOG_INFO, COMPONENT,
               leader ? "Became leader: the VPA updater acts from this replica"
                      : "Not the leader: the VPA updater waits",
               /* no lease key without election: a NULL key ends the pairs */
               l->lease[0] != '\0' ? "lease" : NULL, l->lease, NULL);
    }
    l->leader_seen = leader ? 1 : 0;
    pthread_mutex_lock(&l->status_mu);
    l->pub_leader = leader;
    pthread_mutex_unlock(&l->status_mu);
    return leader;
}

/* ---- one pass ----------------------------------------------------------------------------- */

/* Warns once about containerPolicies naming containers no pod runs. */
static void warn_unknown(vstate_t *vs, const tw_orch_pod_list_t *pl)
{
    const tw_vpa_manifest_t *m = vs->m;
    if (vs->warned_unknown || vs->n_aggs == 0) {
        return;
    }
    vs->warned_unknown = true;
    for (size_t i = 0; i < m->policy.n; i++) {
        const char *name = m->containers[i].name;
        bool found = strcmp(name, "*") == 0;
        for (size_t j = 0; !found && j < vs->n_aggs; j++) {
            found = strcmp(vs->aggs[j]->name, name) == 0;
        }
        for (size_t p = 0; !found && pl != NULL && p < pl->n; p++) {
            for (size_t c = 0; !found && c < pl->pods[p].n_containers; c++) {
                found = strcmp(pl->pods[p].containers[c].name, name) == 0;
            }
        }
        if (!found) {
            char pos[300];
            snprintf(pos, sizeof(pos), "%s:%d:%d", m->file, m->containers[i].line,
                     m->containers[i].col);
            tw_log(TW_LOG_WARN, COMPONENT,
                   "containerPolicies names a container that no pod of the target runs; the "
                   "policy has no effect",
                   "vpa", vs->name, "namespace", vs->ns, "container", name, "at", pos, NULL);
        }
    }
}

static int vpa_pass(tw_vpa_loop_t *l, vstate_t *vs, int64_t now_ms)
{
    const tw_vpa_manifest_t *m = vs->m;
    tw_orch_pod_list_t pl;
    tw_orch_scale_t scale;
    tw_error_t err;
    tw_buf_t sel;
    bool have_pods = false;
    int rc = 0;
    tw_orch_pod_list_init(&pl);
    tw_buf_init(&sel, 0);
    memset(&scale, 0, sizeof(scale));
    tw_error_clear(&err);
    if (!l->pods_by_prefix && l->driver != NULL) {
        tw_orch_ref_t ref = {m->target.kind, m->namespace, m->target.name, NULL};
        rc = tw_orch_get_scale(l->driver, &ref, &scale, &err);
        if (rc == 0) {
            rc = tw_orch_list_pods(l->driver, &ref, scale.selector, &pl, &err);
        }
        if (rc != 0) {
            tw_log(TW_LOG_WARN, COMPONENT,
                   "Cannot list the target's pods; recommending from the pod-name pattern", "vpa",
                   vs->name, "namespace", vs->ns, "err", err.msg, NULL);
            tw_orch_pod_list_fini(&pl);
            tw_orch_pod_list_init(&pl);
            rc = 0;
        } else {
            have_pods = true;
        }
    } else if (!vs->warned_nopods) {
        vs->warned_nopods = true;
        tw_log(TW_LOG_INFO, COMPONENT,
               "No pod list (dryrun driver without kubernetes:): matching series by namespace "
               "and the target's pod-name pattern; the updater does nothing",
               "vpa", vs->name, "namespace", vs->ns, NULL);
    }
    if (!vs->initialized) {
        size_t pts = 0;
        tw_buf_t hsel;
        tw_buf_init(&hsel, 0);
        vpa_matchers(vs, NULL, &hsel);
        cp_load_all(l, vs, now_ms);
        rc = feed_all(l, vs, hsel.data, true, NULL, now_ms, &pts, &err);
        tw_buf_fini(&hsel);
        if (rc != 0) {
            tw_log(TW_LOG_ERROR, COMPONENT, "Cannot read the history; retrying next pass", "vpa",
                   vs->name, "namespace", vs->ns, "err", err.msg, NULL);
            goto out;
        }
        char n[32];
        snprintf(n, sizeof(n), "%zu", pts);
        tw_log(TW_LOG_INFO, COMPONENT, "History loaded from the TSDB", "vpa", vs->name, "namespace",
               vs->ns, "samples", n, NULL);
        vs->initialized = true;
    }
    vpa_matchers(vs, have_pods ? &pl : NULL, &sel);
    rc = feed_all(l, vs, sel.data, false, have_pods ? &pl : NULL, now_ms, NULL, &err);
    if (rc != 0) {
        tw_log(TW_LOG_ERROR, COMPONENT, "Cannot read container usage", "vpa", vs->name, "namespace",
               vs->ns, "err", err.msg, NULL);
        goto out;
    }
    gc(l, vs, now_ms);
    warn_unknown(vs, have_pods ? &pl : NULL);
    tw_vpa_loop_rec_t *pub = tw_xcalloc(vs->n_aggs > 0 ? vs->n_aggs : 1, sizeof(*pub));
    size_t n_pub = recommend(l, vs, pub);
    cp_save_all(l, vs);
    if (have_pods && updater_is_leader(l)) {
        update_pods(l, vs, &pl, &scale, pub, n_pub, now_ms);
    }
    pthread_mutex_lock(&l->status_mu);
    free(vs->pub);
    vs->pub = pub;
    vs->n_pub = n_pub;
    vs->pub_ms = now_ms;
    pthread_mutex_unlock(&l->status_mu);
out:
    if (rc != 0) {
        pthread_mutex_lock(&l->status_mu);
        l->query_errors++;
        pthread_mutex_unlock(&l->status_mu);
    }
    tw_buf_fini(&sel);
    tw_orch_pod_list_fini(&pl);
    return rc;
}

static int pass_all(tw_vpa_loop_t *l, int64_t now_ms)
{
    int failed = 0;
    pthread_mutex_lock(&l->status_mu);
    size_t n = l->n_vpas;
    pthread_mutex_unlock(&l->status_mu);
    for (size_t i = 0; l->qs.instant != NULL && i < n; i++) {
        if (vpa_pass(l, l->vpas[i], now_ms) != 0) {
            failed++;
        }
    }
    pthread_mutex_lock(&l->status_mu);
    l->passes++;
    l->last_pass_ms = now_ms;
    pthread_mutex_unlock(&l->status_mu);
    return failed;
}

static void *loop_main(void *arg)
{
    tw_vpa_loop_t *l = arg;
    int64_t next_ns = tw_mono_ns();
    for (;;) {
        pthread_mutex_lock(&l->wake_mu);
        for (;;) {
            if (l->stop) {
                pthread_mutex_unlock(&l->wake_mu);
                return NULL;
            }
            if (l->kicked) {
                l->kicked = false;
                next_ns = tw_mono_ns();
            }
            int64_t now_ns = tw_mono_ns();
            if (now_ns >= next_ns) {
                break;
            }
            struct timespec ts = tw_mono_timespec(next_ns);
            pthread_cond_timedwait(&l->wake, &l->wake_mu, &ts);
        }
        int64_t period_ns = l->interval_ms * 1000000;
        pthread_mutex_unlock(&l->wake_mu);
        pthread_mutex_lock(&l->run_mu);
        (void)pass_all(l, tw_now_ms());
        pthread_mutex_unlock(&l->run_mu);
        next_ns += period_ns;
        if (next_ns < tw_mono_ns()) {
            next_ns = tw_mono_ns();
        }
    }
}

/* ---- driver ------------------------------------------------------------------------------- */

/* The configured driver (and the kubernetes reads behind a dryrun), as the HPA loop makes it;
 * nomad and exec have no pods, so with them the VPA only recommends, through a dry run. */
static int driver_create(const tw_config_t *c, tw_orch_driver_t **out, tw_orch_driver_t **reads,
                         tw_error_t *err)
{
    const char *type = c->autoscaling.driver.type != NULL ? c->autoscaling.driver.type : "dryrun";
    return tw_autoscale_driver_new(c, strcmp(type, "kubernetes") == 0 ? "kubernetes" : "dryrun",
                                   out, reads, err);
}

/* ---- public ------------------------------------------------------------------------------- */

tw_vpa_loop_t *tw_vpa_loop_new(void)
{
    tw_vpa_loop_t *l = tw_xcalloc(1, sizeof(*l));
    pthread_condattr_t ca;
    pthread_mutex_init(&l->run_mu, NULL);
    pthread_mutex_init(&l->status_mu, NULL);
    pthread_mutex_init(&l->wake_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->wake, &ca);
    pthread_condattr_destroy(&ca);
    tw_vpa_options_init(&l->opts);
    tw_vpa_estimators_init(&l->est, &l->opts.rec);
    l->interval_ms = l->opts.interval_ms;
    l->leader_seen = -1;
    l->pub_leader = true;
    return l;
}

int tw_vpa_loop_configure(tw_vpa_loop_t *l, const tw_config_t *c, const tw_query_source_t *qs,
                          tw_error_t *err)
{
    tw_orch_driver_t *driver = NULL, *reads = NULL;
    int rc = 0;
    if (c->autoscaling.n_vertical > 0) {
        rc = driver_create(c, &driver, &reads, err);
        if (rc != 0) {
            return rc;
        }
    }
    size_t n = c->autoscaling.n_vertical;
    vstate_t **vpas = tw_xcalloc(n > 0 ? n : 1, sizeof(*vpas));
    pthread_mutex_lock(&l->run_mu);
    tw_orch_driver_t *old_driver = l->driver, *old_reads = l->reads;
    pthread_mutex_lock(&l->status_mu);
    for (size_t i = 0; i < n; i++) {
        const tw_vpa_manifest_t *m = c->autoscaling.vertical[i];
        for (size_t j = 0; j < l->n_vpas; j++) {
            vstate_t *o = l->vpas[j];
            if (o != NULL && strcmp(o->ns, m->namespace) == 0 && strcmp(o->name, m->name) == 0) {
                vpas[i] = o;
                l->vpas[j] = NULL;
                o->m = m;
                o->warned_unknown = false;
                break;
            }
        }
        if (vpas[i] == NULL) {
            vpas[i] = vstate_new(m);
            if (m->warning[0] != '\0') {
                tw_log(TW_LOG_WARN, COMPONENT, m->warning, "vpa", m->name, "namespace",
                       m->namespace, NULL);
            }
        }
    }
    for (size_t j = 0; j < l->n_vpas; j++) {
        vstate_free(l->vpas[j]);
    }
    free(l->vpas);
    l->vpas = vpas;
    l->n_vpas = n;
    pthread_mutex_unlock(&l->status_mu);
    if (c->autoscaling.recommender != NULL) {
        l->opts = *c->autoscaling.recommender;
    } else {
        tw_vpa_options_init(&l->opts);
    }
    tw_vpa_estimators_init(&l->est, &l->opts.rec);
    l->qs = *qs;
    l->driver = driver;
    l->reads = reads;
    l->pods_by_prefix =
        driver == NULL || (strcmp(tw_orch_driver_name(driver), "dryrun") == 0 && reads == NULL);
    tw_strlcpy(l->lease,
               c->autoscaling.leader_election.enabled ? c->autoscaling.leader_election.name : "",
               sizeof(l->lease));
    l->cp_dir[0] = '\0';
    if (c->storage.path != NULL && c->storage.path[0] != '\0') {
        snprintf(l->cp_dir, sizeof(l->cp_dir), "%s/vpa", c->storage.path);
    }
    pthread_mutex_unlock(&l->run_mu);
    tw_orch_driver_free(old_driver);
    tw_orch_driver_free(old_reads);
    pthread_mutex_lock(&l->wake_mu);
    l->interval_ms = l->opts.interval_ms;
    l->kicked = true;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->wake_mu);
    return 0;
}

void tw_vpa_loop_set_webhook(tw_vpa_loop_t *l, tw_vpa_webhook_ready_fn fn, void *ctx)
{
    pthread_mutex_lock(&l->run_mu);
    l->webhook = fn;
    l->webhook_ctx = ctx;
    pthread_mutex_unlock(&l->run_mu);
}

void tw_vpa_loop_set_leader(tw_vpa_loop_t *l, tw_vpa_leader_fn fn, void *ctx)
{
    pthread_mutex_lock(&l->run_mu);
    l->leader = fn;
    l->leader_ctx = ctx;
    l->leader_seen = -1;
    pthread_mutex_unlock(&l->run_mu);
}

int tw_vpa_loop_start(tw_vpa_loop_t *l, tw_error_t *err)
{
    if (l->started) {
        return 0;
    }
    l->stop = false;
    int rc = pthread_create(&l->thread, NULL, loop_main, l);
    if (rc != 0) {
        return tw_error_set(err, -rc, "cannot start the vertical autoscaler thread: %s",
                            strerror(rc));
    }
    l->started = true;
    return 0;
}

int tw_vpa_loop_run_once(tw_vpa_loop_t *l, int64_t now_ms)
{
    pthread_mutex_lock(&l->run_mu);
    int failed = pass_all(l, now_ms);
    pthread_mutex_unlock(&l->run_mu);
    return failed;
}

void tw_vpa_loop_stop(tw_vpa_loop_t *l)
{
    if (l == NULL || !l->started) {
        return;
    }
    pthread_mutex_lock(&l->wake_mu);
    l->stop = true;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->wake_mu);
    pthread_join(l->thread, NULL);
    l->started = false;
}

void tw_vpa_loop_free(tw_vpa_loop_t *l)
{
    if (l == NULL) {
        return;
    }
    tw_vpa_loop_stop(l);
    for (size_t i = 0; i < l->n_vpas; i++) {
        vstate_free(l->vpas[i]);
    }
    free(l->vpas);
    tw_orch_driver_free(l->driver);
    tw_orch_driver_free(l->reads);
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->wake_mu);
    pthread_mutex_destroy(&l->status_mu);
    pthread_mutex_destroy(&l->run_mu);
    free(l);
}

/* ---- /metrics ----------------------------------------------------------------------------- */

static double amount_unit(tw_vpa_resource_t r, int64_t v)
{
    return r == TW_VPA_CPU ? (double)v / 1000.0 : (double)v;
}

void tw_vpa_loop_collect_metrics(tw_vpa_loop_t *l, tw_mset_t *out)
{
    tw_mfamily_t *rec = tw_mset_family(
        out, "tidewatch_vpa_recommendation", TW_MTYPE_GAUGE,
        "The vertical autoscaler's recommendation per container: cpu in cores, memory in bytes.",
        NULL);
    tw_mfamily_t *acts =
        tw_mset_family(out, "tidewatch_vpa_updater_actions_total", TW_MTYPE_COUNTER,
                       "Updater actions per VPA: evict, resize, template_patch, "
                       "refused (a pod left alone, with a logged reason), failed.",
                       NULL);
    tw_mfamily_t *cperr =
        tw_mset_family(out, "tidewatch_vpa_checkpoint_errors_total", TW_MTYPE_COUNTER,
                       "Checkpoint files that could not be read (ignored) or written.", NULL);
    tw_mfamily_t *qerr = tw_mset_family(out, "tidewatch_vpa_query_errors_total", TW_MTYPE_COUNTER,
                                        "VPA passes that failed to read container usage.", NULL);
    tw_mfamily_t *passes = tw_mset_family(out, "tidewatch_vpa_passes_total", TW_MTYPE_COUNTER,
                                          "Recommender passes over all VPAs.", NULL);
    tw_mfamily_t *leader = tw_mset_family(
        out, "tidewatch_vpa_updater_leader", TW_MTYPE_GAUGE,
        "1 when the VPA updater acts from this replica (holds the autoscaling Lease, or no "
        "election); 0 while it waits and only recommends.",
        NULL);
    tw_mfamily_t *last =
        tw_mset_family(out, "tidewatch_vpa_last_pass_timestamp_seconds", TW_MTYPE_GAUGE,
                       "When the last recommender pass ran, in seconds since the epoch.", NULL);
    pthread_mutex_lock(&l->status_mu);
    for (size_t i = 0; i < l->n_vpas; i++) {
        const vstate_t *vs = l->vpas[i];
        for (size_t k = 0; k < vs->n_pub; k++) {
            const tw_vpa_loop_rec_t *p = &vs->pub[k];
            for (int b = 0; b <= TW_VPA_NBOUNDS; b++) {
                const tw_vpa_rlist_t *rl = b < TW_VPA_NBOUNDS ? &p->bound[b] : &p->uncapped;
                for (int r = 0; r < TW_VPA_NRES; r++) {
                    if (!rl->has[r]) {
                        continue;
                    }
                    tw_label_t lb[5] = {{"bound", bound_names[b]},
                                        {"container", p->container},
                                        {"namespace", vs->ns},
                                        {"resource", tw_vpa_resource_name((tw_vpa_resource_t)r)},
                                        {"vpa", vs->name}};
                    tw_mset_add(out, rec, NULL, lb, 5, amount_unit((tw_vpa_resource_t)r, rl->v[r]),
                                TW_NO_TIMESTAMP);
                }
            }
        }
        for (int a = 0; a < ACT_N_; a++) {
            tw_label_t lb[3] = {{"action", act_names[a]}, {"namespace", vs->ns}, {"vpa", vs->name}};
            tw_mset_add(out, acts, NULL, lb, 3, (double)vs->acts[a], TW_NO_TIMESTAMP);
        }
    }
    tw_label_t rd[1] = {{"op", "read"}}, wr[1] = {{"op", "write"}};
    tw_mset_add(out, cperr, NULL, rd, 1, (double)l->cp_read_errors, TW_NO_TIMESTAMP);
    tw_mset_add(out, cperr, NULL, wr, 1, (double)l->cp_write_errors, TW_NO_TIMESTAMP);
    tw_mset_add(out, qerr, NULL, NULL, 0, (double)l->query_errors, TW_NO_TIMESTAMP);
    tw_mset_add(out, passes, NULL, NULL, 0, (double)l->passes, TW_NO_TIMESTAMP);
    tw_mset_add(out, leader, NULL, NULL, 0, l->pub_leader ? 1.0 : 0.0, TW_NO_TIMESTAMP);
    tw_mset_add(out, last, NULL, NULL, 0, (double)l->last_pass_ms / 1000.0, TW_NO_TIMESTAMP);
    pthread_mutex_unlock(&l->status_mu);
}

/* ---- JSON --------------------------------------------------------------------------------- */

static json_t *rlist_json(const tw_vpa_rlist_t *rl)
{
    json_t *o = json_object();
    for (int r = 0; r < TW_VPA_NRES; r++) {
        if (rl->has[r]) {
            char q[48];
            tw_vpa_quantity_format((tw_vpa_resource_t)r, rl->v[r], q, sizeof(q));
            json_object_set_new(o, tw_vpa_resource_name((tw_vpa_resource_t)r), json_string(q));
        }
    }
    return o;
}

static json_t *rec_json(const tw_vpa_loop_rec_t *p, const char *ns)
{
    json_t *o = json_object();
    if (ns != NULL) {
        json_object_set_new(o, "namespace", json_string(ns));
    }
    json_object_set_new(o, "containerName", json_string(p->container));
    json_object_set_new(o, "target", rlist_json(&p->bound[TW_VPA_TARGET]));
    json_object_set_new(o, "lowerBound", rlist_json(&p->bound[TW_VPA_LOWER]));
    json_object_set_new(o, "upperBound", rlist_json(&p->bound[TW_VPA_UPPER]));
    json_object_set_new(o, "uncappedTarget", rlist_json(&p->uncapped));
    json_object_set_new(o, "historyLengthSeconds", json_integer(p->history_ms / 1000));
    json_object_set_new(o, "confidence", json_real(p->confidence));
    json_object_set_new(o, "totalSamples", json_integer(p->samples));
    return o;
}

static int dump_json(json_t *v, tw_buf_t *out)
{
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (s == NULL) {
        return TW_ELIMIT;
    }
    int rc = tw_buf_puts(out, s);
    free(s);
    return rc;
}

int tw_vpa_loop_recommendations_json(tw_vpa_loop_t *l, tw_buf_t *out)
{
    json_t *root = json_object(), *arr = json_array();
    pthread_mutex_lock(&l->status_mu);
    for (size_t i = 0; i < l->n_vpas; i++) {
        const vstate_t *vs = l->vpas[i];
        const tw_vpa_manifest_t *m = vs->m;
        json_t *v = json_object(), *recs = json_array();
        json_object_set_new(v, "namespace", json_string(vs->ns));
        json_object_set_new(v, "name", json_string(vs->name));
        json_object_set_new(v, "targetRef",
                            json_pack("{s:s, s:s, s:s}", "apiVersion", m->target.api_version,
                                      "kind", m->target.kind, "name", m->target.name));
        json_object_set_new(v, "updateMode", json_string(tw_vpa_update_mode_name(m->mode)));
        if (vs->pub_ms > 0) {
            char ts[40];
            time_t sec = (time_t)(vs->pub_ms / 1000);
            struct tm tm;
            gmtime_r(&sec, &tm);
            strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
            json_object_set_new(v, "lastUpdate", json_string(ts));
        } else {
            json_object_set_new(v, "lastUpdate", json_null());
        }
        for (size_t k = 0; k < vs->n_pub; k++) {
            json_array_append_new(recs, rec_json(&vs->pub[k], NULL));
        }
        json_object_set_new(v, "containerRecommendations", recs);
        json_array_append_new(arr, v);
    }
    json_object_set_new(root, "recommenderIntervalSeconds", json_integer(l->interval_ms / 1000));
    pthread_mutex_unlock(&l->status_mu);
    json_object_set_new(root, "historyLengthSeconds",
                        json_integer(l->opts.history_length_ms / 1000));
    json_object_set_new(root, "verticalPodAutoscalers", arr);
    return dump_json(root, out);
}

int tw_vpa_loop_find(tw_vpa_loop_t *l, const char *namespace, const char *kind, const char *name,
                     tw_vpa_loop_rec_t *out, size_t max, tw_vpa_update_mode_t *mode)
{
    int found = -1;
    pthread_mutex_lock(&l->status_mu);
    for (size_t i = 0; i < l->n_vpas && found < 0; i++) {
        const vstate_t *vs = l->vpas[i];
        const tw_vpa_manifest_t *m = vs->m;
        if (strcmp(m->namespace, namespace) != 0 || strcmp(m->target.kind, kind) != 0 ||
            strcmp(m->target.name, name) != 0) {
            continue;
        }
        if (mode != NULL) {
            *mode = m->mode;
        }
        for (size_t k = 0; k < vs->n_pub && k < max; k++) {
            out[k] = vs->pub[k];
        }
        found = (int)vs->n_pub;
    }
    pthread_mutex_unlock(&l->status_mu);
    return found;
}

/* ---- one-shot (the CLI) ------------------------------------------------------------------- */

int tw_vpa_recommend_history(const tw_query_source_t *qs, const char *matchers,
                             const tw_vpa_options_t *o, int64_t now_ms, tw_buf_t *out,
                             tw_error_t *err)
{
    tw_vpa_loop_t *l = tw_vpa_loop_new();
    vstate_t *vs = vstate_new(NULL);
    tw_buf_t sel;
    int rc;
    tw_buf_init(&sel, 0);
    vs->key_ns = true;
    if (o != NULL) {
        l->opts = *o;
    }
    tw_vpa_estimators_init(&l->est, &l->opts.rec);
    l->qs = *qs;
    tw_buf_printf(&sel, "container!=\"\",container!=\"POD\"%s%s",
                  matchers != NULL && matchers[0] != '\0' ? "," : "",
                  matchers != NULL ? matchers : "");
    rc = feed_all(l, vs, sel.data, true, NULL, now_ms, NULL, err);
    if (rc == 0) {
        tw_vpa_loop_rec_t *pub = tw_xcalloc(vs->n_aggs > 0 ? vs->n_aggs : 1, sizeof(*pub));
        size_t n = recommend(l, vs, pub);
        for (size_t i = 0; i < n && rc == 0; i++) {
            char ns[128];
            const char *slash = strchr(pub[i].container, '/');
            size_t nl = slash != NULL ? (size_t)(slash - pub[i].container) : 0;
            memcpy(ns, pub[i].container, nl);
            ns[nl] = '\0';
            tw_vpa_loop_rec_t r = pub[i];
            tw_strlcpy(r.container, slash != NULL ? slash + 1 : pub[i].container,
                       sizeof(r.container));
            rc = dump_json(rec_json(&r, ns), out);
            if (rc == 0) {
                rc = tw_buf_putc(out, '\n');
            }
        }
        free(pub);
    }
    tw_buf_fini(&sel);
    vstate_free(vs);
    tw_vpa_loop_free(l);
    return rc;
}
