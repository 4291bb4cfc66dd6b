/* SPDX-License-Identifier: Apache-2.0 */
/*
 * autoscale_loop.c - the autoscaler thread (see autoscale_loop.h).
 *
 * The thread sleeps until the next pass or the next Lease renewal, whichever comes first; a
 * pass walks every autoscaler in configuration order. All decisions come from autoscaler/hpa
 * (pure); this file only does the I/O around them (driver, query source, Lease), logs, counts
 * and publishes.
 *
 * Locks: `run_mu` is held by a pass and by configure, so settings never change under a pass;
 * `status_mu` guards what other threads read (the published status of each autoscaler, the
 * decision rings, the counters, the autoscaler list itself) and is held only to copy in or
 * out. `wake_mu` + `wake` put the thread to sleep and wake it for stop and configure. Order:
 * run_mu, then status_mu. `leader_until_ms` is an atomic outside every lock, for
 * tw_autoscale_loop_is_leader().
 */
#include "autoscale_loop.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "autoscaler/hpa/hpa.h"
#include "autoscaler/orchestrator/orchestrator.h"
#include "autoscaler/scalers/scalers.h"
#include "common/kube.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"

/* Metrics recorded per decision; an HPA with more has the rest counted but not recorded. */
#define AS_MAX_METRICS 8
/* How often a refusal that repeats with the same reason and message is logged again. */
#define AS_REFUSAL_RELOG_MS 60000
/* Distinct refusal reasons counted per autoscaler. */
#define AS_MAX_REASONS 24

/* The outcomes counted in tidewatch_autoscaler_scale_operations_total{result}. */
enum { OP_SUCCESS = 0, OP_DRYRUN, OP_CONFLICT, OP_ERROR, OP_COUNT_ };
static const char *const op_names[OP_COUNT_] = {"success", "dryrun", "conflict", "error"};

/* What was read for one metric during a pass, and what it proposed. */
typedef struct as_metric_rec {
    char name[64];
    char type[24];     /* Resource, ContainerResource, Pods, Object, External */
    char target[24];   /* Utilization, AverageValue, Value */
    bool computed;     /* the calculator produced a proposal */
    int32_t proposal;  /* valid when computed */
    bool utilization;  /* value is a percent of the request */
    double value;      /* current value: percent, or units (milli / 1000) */
    double target_val; /* the target in the same unit */
    size_t samples;    /* per-pod samples or external values read */
    char error[256];   /* fetch or calculator error, "" when none */
    char query[320];   /* the PromQL sent (shortened), "" when none */
} as_metric_rec_t;

/* One pass of one autoscaler, with its inputs. */
typedef struct as_decision {
    int64_t time_ms;
    char outcome[16]; /* scaled, dryrun, unchanged, held, limited, stabilized, failed */
    char reason[48];  /* Kubernetes' reason word (SucceededRescale, ScaleDownStabilized, ...) */
    char message[640];
    int32_t spec_replicas, status_replicas; /* the scale as last read */
    int32_t proposal;                       /* max of the metrics' proposals, -1 when none */
    int32_t desired;
    int pods, ready_pods;
    int writes, conflicts;
    char version[TW_ORCH_VERSION_MAX]; /* the resourceVersion the decision was made on */
    size_t n_metrics;
    as_metric_rec_t metrics[AS_MAX_METRICS];
} as_decision_t;

typedef struct as_count {
    char key[96]; /* a reason, or "direction\x1freason" */
    uint64_t n;
} as_count_t;

/* One autoscaler: the manifest (borrowed from the config), the controller state and what is
 * published about it. */
typedef struct as_hpa {
    const tw_hpa_manifest_t *m; /* run_mu for the pass, status_mu for readers */
    tw_hpa_state_t state;       /* run_mu */
    /* refusal log rate limiting (run_mu) */
    char last_refusal[600];
    int64_t last_refusal_log_ms;
    /* ---- published: status_mu ---- */
    bool have_scale;
    int32_t current, desired;
    int64_t last_scale_ms; /* 0: never */
    tw_hpa_conditions_t conditions;
    as_decision_t *ring; /* ring_cap slots, ring_n used, newest at (ring_head - 1) */
    size_t ring_cap, ring_n, ring_head;
    uint64_t ops[OP_COUNT_];
    as_count_t limited[AS_MAX_REASONS];
    size_t n_limited;
    as_count_t refusals[AS_MAX_REASONS];
    size_t n_refusals;
} as_hpa_t;

struct tw_autoscale_loop {
    pthread_mutex_t run_mu;
    pthread_mutex_t status_mu;
    pthread_mutex_t wake_mu;
    pthread_cond_t wake;
    pthread_t thread;
    bool started;
    bool stop;             /* wake_mu */
    bool kicked;           /* wake_mu: configure asks for a pass now */
    int64_t sync_ms;       /* wake_mu: the pass period */
    int64_t lease_next_ms; /* wake_mu: when the Lease wants its next round, 0: no Lease */

    /* settings: run_mu */
    const tw_config_t *cfg;
    tw_query_source_t qs;
    tw_orch_driver_t *driver;
    tw_orch_driver_t *reads; /* behind the dry-run driver when kubernetes: is configured */
    tw_hpa_controller_config_t ctl;
    tw_kube_client_t *lease_client;
    tw_kube_lease_t *lease;
    int64_t renew_deadline_ms; /* of the Lease: how long a renewal keeps us leader */
    int max_conflicts;

    /* Until when (ms since epoch) this replica counts as leader: INT64_MAX without election, 0
     * when not leader, else the last successful renewal + renew deadline. Written under
     * run_mu, read by anyone. */
    _Atomic int64_t leader_until_ms;

    /* status_mu */
    as_hpa_t **hpas;
    size_t n_hpas;
    bool leader;
    bool lease_enabled;
    uint64_t passes;
    int64_t last_pass_ms;
    int64_t pub_sync_ms;
    char driver_name[16];
    char lease_error[256];
};

/* ---- small helpers ------------------------------------------------------------------------ */

static const char *metric_type_name(tw_hpa_metric_type_t t)
{
    switch (t) {
    case TW_HPA_METRIC_RESOURCE:
        return "Resource";
    case TW_HPA_METRIC_CONTAINER_RESOURCE:
        return "ContainerResource";
    case TW_HPA_METRIC_PODS:
        return "Pods";
    case TW_HPA_METRIC_OBJECT:
        return "Object";
    case TW_HPA_METRIC_EXTERNAL:
        return "External";
    default:
        return "Invalid";
    }
}

static const char *target_type_name(tw_hpa_target_type_t t)
{
    switch (t) {
    case TW_HPA_TARGET_UTILIZATION:
        return "Utilization";
    case TW_HPA_TARGET_AVERAGE_VALUE:
        return "AverageValue";
    default:
        return "Value";
    }
}

static void fmt_i(char *out, size_t n, long long v)
{
    snprintf(out, n, "%lld", v);
}

/* Adds one to the counter called key in a small table (the last slot takes overflow). */
static void count_add(as_count_t *tab, size_t *n, const char *key, uint64_t by)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(tab[i].key, key) == 0) {
            tab[i].n += by;
            return;
        }
    }
    if (*n < AS_MAX_REASONS) {
        tw_strlcpy(tab[*n].key, key, sizeof(tab[*n].key));
        tab[*n].n = by;
        (*n)++;
    } else {
        tab[AS_MAX_REASONS - 1].n += by;
    }
}

static as_hpa_t *hpa_new(const tw_hpa_manifest_t *m, size_t ring_cap)
{
    as_hpa_t *h = tw_xcalloc(1, sizeof(*h));
    h->m = m;
    tw_hpa_state_init(&h->state);
    h->ring_cap = ring_cap > 0 ? ring_cap : 1;
    h->ring = tw_xcalloc(h->ring_cap, sizeof(*h->ring));
    return h;
}

static void hpa_free(as_hpa_t *h)
{
    if (h == NULL) {
        return;
    }
    tw_hpa_state_fini(&h->state);
    free(h->ring);
    free(h);
}

/* Resizes the decision ring, keeping the newest entries (status_mu held). */
static void hpa_ring_resize(as_hpa_t *h, size_t cap)
{
    if (cap == 0) {
        cap = 1;
    }
    if (cap == h->ring_cap) {
        return;
    }
    as_decision_t *r = tw_xcalloc(cap, sizeof(*r));
    size_t keep = h->ring_n < cap ? h->ring_n : cap;
    for (size_t i = 0; i < keep; i++) {
        /* the i-th newest */
        size_t from = (h->ring_head + h->ring_cap - 1 - i) % h->ring_cap;
        r[keep - 1 - i] = h->ring[from];
    }
    free(h->ring);
    h->ring = r;
    h->ring_cap = cap;
    h->ring_n = keep;
    h->ring_head = keep % cap;
}

/* ---- driver and lease from the configuration ----------------------------------------------- */

static const char *opt(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

static void kube_options(const tw_config_t *c, tw_orch_kube_options_t *k)
{
    memset(k, 0, sizeof(*k));
    k->kubeconfig = opt(c->kubernetes.kubeconfig);
    k->context = opt(c->kubernetes.context);
    k->service_account_dir = opt(c->kubernetes.service_account_dir);
    k->server = opt(c->kubernetes.server);
    k->default_namespace = opt(c->kubernetes.namespace);
    k->insecure_skip_tls_verify = c->kubernetes.insecure_skip_tls_verify;
    k->qps = c->kubernetes.qps > 0 ? c->kubernetes.qps : 0;
    k->burst = (int)c->kubernetes.burst;
    k->timeout_ms = c->kubernetes.timeout_ms;
    k->max_retries = c->autoscaling.driver.kubernetes.max_retries == 0
                         ? -1
                         : (int)c->autoscaling.driver.kubernetes.max_retries;
    k->max_retry_wait_ms = c->autoscaling.driver.kubernetes.max_retry_wait_ms;
}

int tw_autoscale_driver_new(const tw_config_t *c, const char *type, tw_orch_driver_t **out,
                            tw_orch_driver_t **reads, tw_error_t *err)
{
    const __typeof__(c->autoscaling.driver) *dc = &c->autoscaling.driver;
    type = type != NULL ? type : dc->type;
    tw_orch_config_t oc;
    memset(&oc, 0, sizeof(oc));
    *out = NULL;
    *reads = NULL;
    kube_options(c, &oc.kubernetes);
    oc.nomad.address = opt(dc->nomad.address);
    oc.nomad.token_file = opt(dc->nomad.token_file);
    oc.nomad.namespace = opt(dc->nomad.namespace);
    oc.nomad.region = opt(dc->nomad.region);
    oc.nomad.ca_file = opt(dc->nomad.ca_file);
    oc.nomad.client_cert_file = opt(dc->nomad.cert_file);
    oc.nomad.client_key_file = opt(dc->nomad.key_file);
    oc.nomad.insecure_skip_tls_verify = dc->nomad.insecure_skip_tls_verify;
    oc.nomad.timeout_ms = dc->nomad.timeout_ms;
    oc.exec.scale_argv = (const char *const *)dc->exec.scale_command;
    oc.exec.get_argv = (const char *const *)dc->exec.get_command;
    oc.exec.timeout_ms = dc->exec.timeout_ms;
    oc.dryrun.max_records = (size_t)dc->dryrun_max_records;
    int rc = 0;
    if (strcmp(type, "dryrun") == 0 && c->kubernetes.configured) {
        rc = tw_orch_driver_new("kubernetes", &oc, reads, err);
        if (rc != 0) {
            return rc;
        }
        oc.dryrun.reads = *reads;
    }
    rc = tw_orch_driver_new(type, &oc, out, err);
    if (rc != 0) {
        tw_orch_driver_free(*reads);
        *reads = NULL;
    }
    return rc;
}

/* The Lease candidate and its client, when leader election is on. */
static int lease_create(const tw_config_t *c, tw_kube_client_t **client, tw_kube_lease_t **lease,
                        tw_error_t *err)
{
    const __typeof__(c->autoscaling.leader_election) *le = &c->autoscaling.leader_election;
    tw_kube_config_t kc;
    char identity[300];
    *client = NULL;
    *lease = NULL;
    if (!le->enabled) {
        return 0;
    }
    memset(&kc, 0, sizeof(kc));
    int rc = tw_kube_config_load(opt(c->kubernetes.kubeconfig), opt(c->kubernetes.context),
                                 opt(c->kubernetes.service_account_dir), opt(c->kubernetes.server),
                                 &kc, err);
    if (rc != 0) {
        return rc;
    }
    tw_kube_client_options_t co = {
        .qps = c->kubernetes.qps > 0 ? c->kubernetes.qps : 0,
        .burst = (int)c->kubernetes.burst,
        .timeout_ms = c->kubernetes.timeout_ms,
        .max_retries = -1, /* the election retries on its own period */
        .insecure_skip_tls_verify = c->kubernetes.insecure_skip_tls_verify,
        .user_agent = "tidewatch-leader-election",
    };
    rc = tw_kube_client_new(&kc, &co, client, err);
    tw_kube_config_fini(&kc);
    if (rc != 0) {
        return rc;
    }
    if (le->identity[0] != '\0') {
        tw_strlcpy(identity, le->identity, sizeof(identity));
    } else {
        char host[256];
        if (gethostname(host, sizeof(host)) != 0) {
            tw_strlcpy(host, "tidewatch", sizeof(host));
        }
        host[sizeof(host) - 1] = '\0';
        snprintf(identity, sizeof(identity), "%s_%ld", host, (long)getpid());
    }
    tw_kube_lease_options_t lo = {
        .namespace = le->namespace,
        .name = le->name,
        .identity = identity,
        .lease_duration_ms = le->lease_duration_ms,
        .renew_deadline_ms = le->renew_deadline_ms,
        .retry_period_ms = le->retry_period_ms,
    };
    rc = tw_kube_lease_new(&lo, lease, err);
    if (rc != 0) {
        tw_kube_client_free(*client);
        *client = NULL;
    }
    return rc;
}

/*
 * The one leader check of a pass: without leader election this replica always acts; with it,
 * the Lease is renewed when due and the answer is whether we hold it (run_mu held).
 */
static bool leader_check(tw_autoscale_loop_t *l, int64_t now_ms)
{
    if (l->lease == NULL) {
        return true;
    }
    bool leader = false, was;
    tw_error_t err;
    tw_error_clear(&err);
    int rc = 0;
    bool ticked = false;
    if (now_ms >= tw_kube_lease_next_ms(l->lease)) {
        rc = tw_kube_lease_tick(l->lease, l->lease_client, now_ms, &leader, &err);
        ticked = true;
    } else {
        leader = tw_kube_lease_is_leader(l->lease, now_ms);
    }
    /* Mirror the Lease's own deadline: a successful round that leaves us holding it is a
     * renewal at now_ms; a round that failed or was skipped keeps the previous deadline. */
    if (!leader) {
        atomic_store(&l->leader_until_ms, 0);
    } else if (ticked && rc == 0) {
        atomic_store(&l->leader_until_ms, now_ms + l->renew_deadline_ms);
    }
    pthread_mutex_lock(&l->wake_mu);
    l->lease_next_ms = tw_kube_lease_next_ms(l->lease);
    pthread_mutex_unlock(&l->wake_mu);
    pthread_mutex_lock(&l->status_mu);
    was = l->leader;
    l->leader = leader;
    tw_strlcpy(l->lease_error, rc != 0 ? err.msg : "", sizeof(l->lease_error));
    pthread_mutex_unlock(&l->status_mu);
    if (rc != 0) {
        tw_log(TW_LOG_WARN, "autoscaler", "Lease renewal failed", "lease",
               l->cfg->autoscaling.leader_election.name, "err", err.msg, NULL);
    }
    if (leader != was) {
        tw_log(TW_LOG_INFO, "autoscaler",
               leader ? "Became leader: the autoscalers act from this replica"
                      : "Not the leader: the autoscalers wait",
               "lease", l->cfg->autoscaling.leader_election.name, NULL);
    }
    return leader;
}

/* ---- one pass of one autoscaler ------------------------------------------------------------- */

/* The pods of one list converted for the calculator, per resource. */
typedef struct as_pods {
    tw_orch_pod_list_t list;
    tw_hpa_pod_t *cpu, *mem;         /* list.n entries each */
    tw_hpa_container_t *ccpu, *cmem; /* every container, per resource */
    const char **names;              /* list.n pod names */
    int ready;
} as_pods_t;

static void pods_fini(as_pods_t *p)
{
    tw_orch_pod_list_fini(&p->list);
    free(p->cpu);
    free(p->mem);
    free(p->ccpu);
    free(p->cmem);
    free(p->names);
    memset(p, 0, sizeof(*p));
    tw_orch_pod_list_init(&p->list);
}

/* tw_orch_pod_t -> tw_hpa_pod_t, once with the CPU requests and once with the memory ones. */
static void pods_convert(as_pods_t *p)
{
    size_t n = p->list.n, nc = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        nc += p->list.pods[i].n_containers;
    }
    p->cpu = tw_xcalloc(n > 0 ? n : 1, sizeof(*p->cpu));
    p->mem = tw_xcalloc(n > 0 ? n : 1, sizeof(*p->mem));
    p->ccpu = tw_xcalloc(nc > 0 ? nc : 1, sizeof(*p->ccpu));
    p->cmem = tw_xcalloc(nc > 0 ? nc : 1, sizeof(*p->cmem));
    p->names = tw_xcalloc(n > 0 ? n : 1, sizeof(*p->names));
    p->ready = 0;
    for (size_t i = 0; i < n; i++) {
        const tw_orch_pod_t *o = &p->list.pods[i];
        tw_hpa_pod_t base = {
            .name = o->name,
            .phase = (tw_hpa_pod_phase_t)o->phase, /* same order, see orchestrator.h */
            .deleting = o->deleting,
            .ready = (tw_hpa_status_t)o->ready,
            .ready_transition_ms = o->ready_transition_ms,
            .has_start_time = o->has_start_time,
            .start_time_ms = o->start_time_ms,
            .n_containers = o->n_containers,
            .pod_level_requests_set = o->has_pod_cpu_request || o->has_pod_memory_request,
        };
        p->names[i] = o->name;
        if (o->phase == TW_ORCH_POD_RUNNING && o->ready == TW_ORCH_COND_TRUE) {
            p->ready++;
        }
        p->cpu[i] = base;
        p->cpu[i].containers = &p->ccpu[k];
        p->cpu[i].has_pod_request = o->has_pod_cpu_request;
        p->cpu[i].pod_request_milli = o->pod_cpu_request_milli;
        p->mem[i] = base;
        p->mem[i].containers = &p->cmem[k];
        p->mem[i].has_pod_request = o->has_pod_memory_request;
        p->mem[i].pod_request_milli = o->pod_memory_request_milli;
        for (size_t j = 0; j < o->n_containers; j++, k++) {
            const tw_orch_container_t *c = &o->containers[j];
            p->ccpu[k] = (tw_hpa_container_t){c->name, c->has_cpu_request, c->cpu_request_milli};
            p->cmem[k] =
                (tw_hpa_container_t){c->name, c->has_memory_request, c->memory_request_milli};
        }
    }
}

/* Everything one pass reads and decides (run_mu held). */
typedef struct as_pass {
    tw_autoscale_loop_t *l;
    as_hpa_t *h;
    int64_t now_ms;
    tw_orch_ref_t ref;
    int computes;   /* compute steps run (one per scale read) */
    bool decided;   /* the last compute step reached tw_hpa_reconcile() */
    int compute_rc; /* the last compute step's failure, 0 when none */
    char compute_reason[48];
    char compute_err[640];
    tw_orch_scale_t scale; /* the scale the last compute step saw */
    as_pods_t pods;
    tw_hpa_metric_input_t *in; /* n_metrics scratch copies of spec.metrics */
    tw_scalers_fetch_t *fetch; /* n_metrics */
    tw_hpa_metric_result_t *results;
    tw_hpa_spec_t spec;
    tw_hpa_decision_t dec;
    int reconcile_rc;
} as_pass_t;

/* The compute step of tw_orch_scale_update(): pods, metrics, decision on the scale just read. */
static int pass_compute(void *ctx, const tw_orch_scale_t *current)
{
    as_pass_t *p = ctx;
    tw_autoscale_loop_t *l = p->l;
    const tw_hpa_manifest_t *m = p->h->m;
    tw_error_t err;
    tw_error_clear(&err);
    p->computes++;
    p->decided = false;
    p->compute_rc = 0;
    p->compute_reason[0] = '\0';
    p->compute_err[0] = '\0';
    p->scale = *current;
    pods_fini(&p->pods);

    /* Drivers without pods (exec, some nomad jobs) give no selector: go on with no pods, so
     * External and Object metrics still work and pod metrics are missing. */
    int rc = current->selector[0] == '\0'
                 ? 0
                 : tw_orch_list_pods(l->driver, &p->ref, current->selector, &p->pods.list, &err);
    if (rc != 0) {
        tw_strlcpy(p->compute_reason, "FailedListPods", sizeof(p->compute_reason));
        snprintf(p->compute_err, sizeof(p->compute_err),
                 "unable to get pods while calculating replica count: %s", err.msg);
        return p->compute_rc = rc;
    }
    pods_convert(&p->pods);

    size_t nm = m->spec.n_metrics;
    for (size_t i = 0; i < nm; i++) {
        const tw_hpa_manifest_metric_t *mi = &m->metric_info[i];
        p->in[i] = m->spec.metrics[i];
        bool mem = p->in[i].name != NULL && strcmp(p->in[i].name, "memory") == 0 &&
                   (p->in[i].type == TW_HPA_METRIC_RESOURCE ||
                    p->in[i].type == TW_HPA_METRIC_CONTAINER_RESOURCE);
        tw_scalers_target_t t = {
            .namespace = m->namespace,
            .pods = mem ? p->pods.mem : p->pods.cpu,
            .n_pods = p->pods.list.n,
            .selector = mi->selector,
            .object_kind = mi->described_object.kind,
            .object_name = mi->described_object.name,
        };
        /* A failure is recorded in in[i].fetch_error: the controller decides what it means. */
        (void)tw_scalers_fetch(l->cfg->autoscaling.scalers, &l->qs, &t, p->now_ms, &p->in[i],
                               &p->fetch[i]);
    }
    p->spec = m->spec;
    p->spec.metrics = p->in;
    memset(&p->dec, 0, sizeof(p->dec));
    memset(p->results, 0, nm * sizeof(*p->results));
    p->reconcile_rc =
        tw_hpa_reconcile(&l->ctl, &p->spec, current->spec_replicas, current->status_replicas,
                         p->now_ms, &p->h->state, p->results, &p->dec, &err);
    p->decided = true;
    return p->dec.rescale ? p->dec.desired_replicas : current->spec_replicas;
}

/* The largest proposal of the metrics that produced one, -1 when none did. */
static int32_t pass_proposal(const as_pass_t *p)
{
    int32_t best = -1;
    if (!p->decided || !p->dec.metrics_computed) {
        return -1;
    }
    for (size_t i = 0; i < p->spec.n_metrics; i++) {
        if (p->results[i].rc == 0 && p->results[i].calc.replicas > best) {
            best = p->results[i].calc.replicas;
        }
    }
    return best;
}

/* Fills the inputs part of a decision record. */
static void record_inputs(const as_pass_t *p, as_decision_t *d)
{
    const tw_hpa_manifest_t *m = p->h->m;
    d->time_ms = p->now_ms;
    d->spec_replicas = p->scale.spec_replicas;
    d->status_replicas = p->scale.status_replicas;
    tw_strlcpy(d->version, p->scale.version, sizeof(d->version));
    d->pods = (int)p->pods.list.n;
    d->ready_pods = p->pods.ready;
    d->proposal = pass_proposal(p);
    d->n_metrics = m->spec.n_metrics < AS_MAX_METRICS ? m->spec.n_metrics : AS_MAX_METRICS;
    for (size_t i = 0; i < d->n_metrics; i++) {
        const tw_hpa_metric_input_t *s = &m->spec.metrics[i];
        as_metric_rec_t *r = &d->metrics[i];
        memset(r, 0, sizeof(*r));
        tw_strlcpy(r->name, s->name != NULL ? s->name : "", sizeof(r->name));
        if (s->type == TW_HPA_METRIC_CONTAINER_RESOURCE && s->container != NULL) {
            size_t len = strlen(r->name);
            snprintf(r->name + len, sizeof(r->name) - len, "/%s", s->container);
        }
        tw_strlcpy(r->type, metric_type_name(s->type), sizeof(r->type));
        tw_strlcpy(r->target, target_type_name(s->target_type), sizeof(r->target));
        r->utilization = s->target_type == TW_HPA_TARGET_UTILIZATION;
        r->target_val =
            r->utilization ? (double)s->target_utilization : (double)s->target_milli / 1000.0;
        if (!p->decided) {
            continue;
        }
        if (p->fetch[i].query != NULL) {
            tw_strlcpy(r->query, p->fetch[i].query, sizeof(r->query));
        }
        r->samples = p->in[i].type == TW_HPA_METRIC_EXTERNAL ? p->in[i].n_external_values
                     : p->in[i].type == TW_HPA_METRIC_OBJECT ? (p->in[i].fetch_error ? 0 : 1)
                                                             : p->in[i].pods.n_metrics;
        if (p->in[i].fetch_error != NULL) {
            tw_strlcpy(r->error, p->in[i].fetch_error, sizeof(r->error));
        } else if (p->dec.metrics_computed && p->results[i].rc != 0) {
            snprintf(r->error, sizeof(r->error), "%s", tw_strerror(p->results[i].rc));
        }
        if (p->dec.metrics_computed && p->results[i].rc == 0) {
            r->computed = true;
            r->proposal = p->results[i].calc.replicas;
            r->value = r->utilization ? (double)p->results[i].calc.utilization_percent
                                      : (double)p->results[i].calc.usage_milli / 1000.0;
        }
    }
}

/* The direction a ScalingLimited or stabilization reason holds back. */
static const char *reason_direction(const char *reason)
{
    if (strcmp(reason, "ScaleUpLimit") == 0 || strcmp(reason, "TooManyReplicas") == 0 ||
        strcmp(reason, "ScaleUpStabilized") == 0) {
        return "up";
    }
    return "down";
}

/* Logs a refusal: once per distinct reason+message, then at most every AS_REFUSAL_RELOG_MS. */
static void log_refusal(as_hpa_t *h, tw_log_level_t lvl, int64_t now_ms, const char *msg,
                        const char *reason, const char *detail, const char *replicas)
{
    char key[sizeof(h->last_refusal)];
    snprintf(key, sizeof(key), "%s|%s|%s", msg, reason, detail);
    bool repeat =
        strcmp(key, h->last_refusal) == 0 && now_ms - h->last_refusal_log_ms < AS_REFUSAL_RELOG_MS;
    if (!repeat) {
        tw_strlcpy(h->last_refusal, key, sizeof(h->last_refusal));
        h->last_refusal_log_ms = now_ms;
    }
    tw_log(repeat ? TW_LOG_DEBUG : lvl, "autoscaler", msg, "namespace", h->m->namespace, "hpa",
           h->m->name, "replicas", replicas, "reason", reason, "detail", detail, NULL);
}

/* Publishes a decision and the counters (takes status_mu). */
static void publish(tw_autoscale_loop_t *l, as_hpa_t *h, const as_decision_t *d, bool have_scale,
                    const uint64_t *ops, const char *limited_reason, const char *refusal)
{
    pthread_mutex_lock(&l->status_mu);
    h->ring[h->ring_head] = *d;
    h->ring_head = (h->ring_head + 1) % h->ring_cap;
    if (h->ring_n < h->ring_cap) {
        h->ring_n++;
    }
    if (have_scale) {
        h->have_scale = true;
        h->current = d->spec_replicas;
        h->desired = d->desired;
    }
    if (strcmp(d->outcome, "scaled") == 0 || strcmp(d->outcome, "dryrun") == 0) {
        h->last_scale_ms = d->time_ms;
        h->current = d->desired;
    }
    h->conditions = h->state.conditions;
    for (size_t i = 0; i < OP_COUNT_; i++) {
        h->ops[i] += ops[i];
    }
    if (limited_reason != NULL) {
        char key[96];
        snprintf(key, sizeof(key), "%s\x1f%s", reason_direction(limited_reason), limited_reason);
        count_add(h->limited, &h->n_limited, key, 1);
    }
    if (refusal != NULL) {
        count_add(h->refusals, &h->n_refusals, refusal, 1);
    }
    pthread_mutex_unlock(&l->status_mu);
}

/* One reconcile of h at now_ms (run_mu held). Returns 0, or the error that ended the pass. */
static int hpa_pass(tw_autoscale_loop_t *l, as_hpa_t *h, int64_t now_ms)
{
    const tw_hpa_manifest_t *m = h->m;
    size_t nm = m->spec.n_metrics;
    as_pass_t p;
    as_decision_t *d = tw_xcalloc(1, sizeof(*d));
    uint64_t ops[OP_COUNT_] = {0};
    const char *limited = NULL, *refusal = NULL;
    char from[16], to[16], prop[16], attempts_s[16];
    tw_error_t err;
    int attempts = 0;

    memset(&p, 0, sizeof(p));
    tw_error_clear(&err);
    p.l = l;
    p.h = h;
    p.now_ms = now_ms;
    p.ref =
        (tw_orch_ref_t){.kind = m->target.kind, .namespace = m->namespace, .name = m->target.name};
    tw_orch_pod_list_init(&p.pods.list);
    p.in = tw_xcalloc(nm > 0 ? nm : 1, sizeof(*p.in));
    p.fetch = tw_xcalloc(nm > 0 ? nm : 1, sizeof(*p.fetch));
    p.results = tw_xcalloc(nm > 0 ? nm : 1, sizeof(*p.results));
    for (size_t i = 0; i < nm; i++) {
        tw_scalers_fetch_init(&p.fetch[i]);
    }

    int rc = tw_orch_scale_update(l->driver, &p.ref, pass_compute, &p, l->max_conflicts, NULL,
                                  &attempts, &err);
    record_inputs(&p, d);
    d->writes = attempts;
    bool dry = strcmp(tw_orch_driver_name(l->driver), "dryrun") == 0;
    fmt_i(from, sizeof(from), p.scale.spec_replicas);
    fmt_i(prop, sizeof(prop), d->proposal);
    fmt_i(attempts_s, sizeof(attempts_s), attempts);

    if (!p.decided) {
        /* Nothing was decided: the scale or the pods could not be read. */
        bool scale_failed = p.computes == 0 || p.compute_rc == 0;
        tw_strlcpy(d->outcome, "failed", sizeof(d->outcome));
        tw_strlcpy(d->reason, scale_failed ? "FailedGetScale" : p.compute_reason,
                   sizeof(d->reason));
        tw_strlcpy(d->message, scale_failed ? err.msg : p.compute_err, sizeof(d->message));
        d->desired = p.scale.spec_replicas;
        if (scale_failed) {
            tw_hpa_conditions_set(&h->state.conditions, TW_HPA_COND_ABLE_TO_SCALE,
                                  TW_HPA_STATUS_FALSE, "FailedGetScale", now_ms,
                                  "the HPA controller was unable to get the target's current "
                                  "scale: %s",
                                  err.msg);
        } else {
            tw_hpa_conditions_set(&h->state.conditions, TW_HPA_COND_SCALING_ACTIVE,
                                  TW_HPA_STATUS_FALSE, d->reason, now_ms, "%s", d->message);
        }
        refusal = d->reason;
        log_refusal(h, TW_LOG_WARN, now_ms, "Cannot reconcile: nothing decided this pass",
                    d->reason, d->message, p.computes > 0 ? from : "unknown");
        if (rc == 0) {
            rc = TW_EIO;
        }
    } else if (p.dec.rescale) {
        int32_t conflicts = rc == TW_ECONFLICT ? attempts : (attempts > 0 ? attempts - 1 : 0);
        d->conflicts = conflicts;
        ops[OP_CONFLICT] += (uint64_t)conflicts;
        d->desired = p.dec.desired_replicas;
        fmt_i(to, sizeof(to), d->desired);
        const tw_hpa_condition_t *lim =
            tw_hpa_conditions_get(&h->state.conditions, TW_HPA_COND_SCALING_LIMITED);
        if (lim != NULL && lim->status == TW_HPA_STATUS_TRUE) {
            limited = lim->reason;
        }
        if (rc == 0) {
            tw_hpa_rescale_done(&l->ctl, &p.spec, &p.dec, true, NULL, now_ms, &h->state);
            ops[dry ? OP_DRYRUN : OP_SUCCESS]++;
            tw_strlcpy(d->outcome, dry ? "dryrun" : "scaled", sizeof(d->outcome));
            tw_strlcpy(d->reason, "SucceededRescale", sizeof(d->reason));
            snprintf(d->message, sizeof(d->message), "New size: %d; reason: %s", (int)d->desired,
                     p.dec.reason);
            tw_log(TW_LOG_INFO, "autoscaler",
                   dry ? "Would scale (dry run: nothing written)" : "Scaled", "namespace",
                   m->namespace, "hpa", m->name, "target", m->target.name, "from", from, "to", to,
                   "proposal", prop, "reason", p.dec.reason, "limited", limited, "writes",
                   attempts_s, "error", p.dec.error[0] != '\0' ? p.dec.error : NULL, NULL);
            h->last_refusal[0] = '\0';
        } else {
            tw_hpa_rescale_done(&l->ctl, &p.spec, &p.dec, false, err.msg, now_ms, &h->state);
            ops[OP_ERROR]++;
            tw_strlcpy(d->outcome, "failed", sizeof(d->outcome));
            tw_strlcpy(d->reason, "FailedUpdateScale", sizeof(d->reason));
            snprintf(d->message, sizeof(d->message), "failed to rescale to %d: %s", (int)d->desired,
                     err.msg);
            refusal = d->reason;
            tw_log(TW_LOG_ERROR, "autoscaler", "Scale update failed", "namespace", m->namespace,
                   "hpa", m->name, "target", m->target.name, "from", from, "to", to, "writes",
                   attempts_s, "err", err.msg, NULL);
        }
    } else {
        d->desired = p.scale.spec_replicas;
        /* The proposal within [min, max]: what is left to explain when it differs. */
        int32_t clamped = d->proposal;
        if (clamped > m->spec.max_replicas) {
            clamped = m->spec.max_replicas;
        }
        if (clamped < m->spec.min_replicas) {
            clamped = m->spec.min_replicas;
        }
        const tw_hpa_condition_t *act =
            tw_hpa_conditions_get(&h->state.conditions, TW_HPA_COND_SCALING_ACTIVE);
        const tw_hpa_condition_t *lim =
            tw_hpa_conditions_get(&h->state.conditions, TW_HPA_COND_SCALING_LIMITED);
        if (p.reconcile_rc != 0 || (act != NULL && act->status == TW_HPA_STATUS_FALSE)) {
            tw_strlcpy(d->outcome, "held", sizeof(d->outcome));
            tw_strlcpy(d->reason,
                       act != NULL && act->status == TW_HPA_STATUS_FALSE
                           ? act->reason
                           : "FailedComputeMetricsReplicas",
                       sizeof(d->reason));
            tw_strlcpy(d->message, p.dec.error[0] != '\0' ? p.dec.error : (act ? act->message : ""),
                       sizeof(d->message));
            refusal = d->reason;
            log_refusal(h, TW_LOG_WARN, now_ms, "Holding the current replicas", d->reason,
                        d->message, from);
        } else if (lim != NULL && lim->status == TW_HPA_STATUS_TRUE && d->proposal >= 0 &&
                   clamped != d->desired) {
            tw_strlcpy(d->outcome, "limited", sizeof(d->outcome));
            tw_strlcpy(d->reason, lim->reason, sizeof(d->reason));
            tw_strlcpy(d->message, lim->message, sizeof(d->message));
            limited = lim->reason;
            log_refusal(h, TW_LOG_INFO, now_ms, "Scale limited", d->reason, d->message, from);
        } else if (d->proposal >= 0 && clamped != d->desired) {
            const char *why = clamped > d->desired ? "ScaleUpStabilized" : "ScaleDownStabilized";
            tw_strlcpy(d->outcome, "stabilized", sizeof(d->outcome));
            tw_strlcpy(d->reason, why, sizeof(d->reason));
            snprintf(d->message, sizeof(d->message),
                     "recent recommendations were %s than the proposal %d",
                     clamped > d->desired ? "lower" : "higher", (int)d->proposal);
            limited = why;
            log_refusal(h, TW_LOG_INFO, now_ms, "Scale held by the stabilization window", why,
                        d->message, from);
        } else {
            tw_strlcpy(d->outcome, "unchanged", sizeof(d->outcome));
            tw_strlcpy(d->reason, "DesiredWithinRange", sizeof(d->reason));
            h->last_refusal[0] = '\0';
            tw_log(TW_LOG_DEBUG, "autoscaler", "No change", "namespace", m->namespace, "hpa",
                   m->name, "replicas", from, "proposal", prop, NULL);
        }
        rc = 0;
    }
    publish(l, h, d, p.computes > 0, ops, limited, refusal);

    pods_fini(&p.pods);
    tw_orch_pod_list_fini(&p.pods.list);
    for (size_t i = 0; i < nm; i++) {
        tw_scalers_fetch_fini(&p.fetch[i]);
    }
    free(p.in);
    free(p.fetch);
    free(p.results);
    free(d);
    return rc;
}

/* One pass over every autoscaler (run_mu held). Returns the number that failed. */
static int pass_all(tw_autoscale_loop_t *l, int64_t now_ms)
{
    int failed = 0;
    if (l->cfg == NULL || l->driver == NULL) {
        return 0;
    }
    bool leader = leader_check(l, now_ms);
    pthread_mutex_lock(&l->status_mu);
    l->leader = leader;
    size_t n = l->n_hpas;
    pthread_mutex_unlock(&l->status_mu);
    for (size_t i = 0; leader && i < n; i++) {
        if (hpa_pass(l, l->hpas[i], now_ms) != 0) {
            failed++;
        }
    }
    pthread_mutex_lock(&l->status_mu);
    l->passes++;
    l->last_pass_ms = now_ms;
    pthread_mutex_unlock(&l->status_mu);
    return failed;
}

/* ---- the thread ------------------------------------------------------------------------------ */

static void *loop_main(void *arg)
{
    tw_autoscale_loop_t *l = arg;
    int64_t next_pass_ns = tw_mono_ns();
    for (;;) {
        pthread_mutex_lock(&l->wake_mu);
        for (;;) {
            if (l->stop) {
                pthread_mutex_unlock(&l->wake_mu);
                return NULL;
            }
            if (l->kicked) {
                l->kicked = false;
                next_pass_ns = tw_mono_ns();
            }
            int64_t now_ns = tw_mono_ns();
            int64_t due_ns = next_pass_ns;
            if (l->lease_next_ms > 0) {
                /* Renew on the Lease's own period even between passes. */
                int64_t lease_in_ms = l->lease_next_ms - tw_now_ms();
                int64_t lease_ns = now_ns + (lease_in_ms > 0 ? lease_in_ms : 0) * 1000000;
                if (lease_ns < due_ns) {
                    due_ns = lease_ns;
                }
            }
            if (now_ns >= due_ns) {
                break;
            }
            struct timespec ts = tw_mono_timespec(due_ns);
            pthread_cond_timedwait(&l->wake, &l->wake_mu, &ts);
        }
        int64_t sync_ns = l->sync_ms * 1000000;
        pthread_mutex_unlock(&l->wake_mu);

        pthread_mutex_lock(&l->run_mu);
        int64_t start_ns = tw_mono_ns();
        if (start_ns >= next_pass_ns) {
            (void)pass_all(l, tw_now_ms());
            /* Fixed rate like the HPA's resync; a pass longer than the period delays the next. */
            next_pass_ns += sync_ns;
            if (next_pass_ns < tw_mono_ns()) {
                next_pass_ns = tw_mono_ns();
            }
        } else if (l->lease != NULL) {
            (void)leader_check(l, tw_now_ms());
        }
        pthread_mutex_unlock(&l->run_mu);
    }
}

/* ---- public ------------------------------------------------------------------------------------
 */

tw_autoscale_loop_t *tw_autoscale_loop_new(void)
{
    tw_autoscale_loop_t *l = tw_xcalloc(1, sizeof(*l));
    pthread_condattr_t ca;
    pthread_mutex_init(&l->run_mu, NULL);
    pthread_mutex_init(&l->status_mu, NULL);
    pthread_mutex_init(&l->wake_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->wake, &ca);
    pthread_condattr_destroy(&ca);
    l->sync_ms = 5000;
    l->leader = true;
    tw_strlcpy(l->driver_name, "none", sizeof(l->driver_name));
    atomic_init(&l->leader_until_ms, INT64_MAX);
    return l;
}

int tw_autoscale_loop_configure(tw_autoscale_loop_t *l, const tw_config_t *c,
                                const tw_query_source_t *qs, tw_error_t *err)
{
    tw_orch_driver_t *driver = NULL, *reads = NULL;
    tw_kube_client_t *lclient = NULL;
    tw_kube_lease_t *lease = NULL;
    int rc = tw_autoscale_driver_new(c, NULL, &driver, &reads, err);
    if (rc == 0) {
        rc = lease_create(c, &lclient, &lease, err);
    }
    if (rc != 0) {
        tw_orch_driver_free(driver);
        tw_orch_driver_free(reads);
        return rc;
    }
    size_t n = c->autoscaling.n_horizontal;
    as_hpa_t **hpas = tw_xcalloc(n > 0 ? n : 1, sizeof(*hpas));

    pthread_mutex_lock(&l->run_mu);
    tw_orch_driver_t *old_driver = l->driver, *old_reads = l->reads;
    tw_kube_client_t *old_client = l->lease_client;
    tw_kube_lease_t *old_lease = l->lease;
    /* Give up a Lease we hold when election settings change, so a peer takes over at once. */
    if (old_lease != NULL && old_client != NULL) {
        atomic_store(&l->leader_until_ms, 0);
        (void)tw_kube_lease_release(old_lease, old_client, tw_now_ms(), NULL);
    }
    pthread_mutex_lock(&l->status_mu);
    for (size_t i = 0; i < n; i++) {
        const tw_hpa_manifest_t *m = c->autoscaling.horizontal[i];
        for (size_t j = 0; j < l->n_hpas; j++) {
            as_hpa_t *o = l->hpas[j];
            if (o != NULL && strcmp(o->m->namespace, m->namespace) == 0 &&
                strcmp(o->m->name, m->name) == 0) {
                hpas[i] = o;
                l->hpas[j] = NULL;
                o->m = m;
                hpa_ring_resize(o, c->autoscaling.max_decisions);
                break;
            }
        }
        if (hpas[i] == NULL) {
            hpas[i] = hpa_new(m, c->autoscaling.max_decisions);
        }
    }
    for (size_t j = 0; j < l->n_hpas; j++) {
        hpa_free(l->hpas[j]);
    }
    free(l->hpas);
    l->hpas = hpas;
    l->n_hpas = n;
    tw_strlcpy(l->driver_name, tw_orch_driver_name(driver), sizeof(l->driver_name));
    l->lease_enabled = lease != NULL;
    l->leader = lease == NULL;
    l->pub_sync_ms = c->autoscaling.sync_period_ms;
    pthread_mutex_unlock(&l->status_mu);

    l->cfg = c;
    l->qs = *qs;
    l->driver = driver;
    l->reads = reads;
    l->lease_client = lclient;
    l->lease = lease;
    l->renew_deadline_ms = c->autoscaling.leader_election.renew_deadline_ms;
    /* A new Lease is not held until its first round (run at once, see below). */
    atomic_store(&l->leader_until_ms, lease == NULL ? INT64_MAX : 0);
    l->max_conflicts = (int)c->autoscaling.driver.max_conflicts;
    tw_hpa_controller_config_init(&l->ctl);
    l->ctl.calc.tolerances.scale_down = c->autoscaling.controller.tolerance;
    l->ctl.calc.tolerances.scale_up = c->autoscaling.controller.tolerance;
    l->ctl.calc.cpu_initialization_period_ms =
        c->autoscaling.controller.cpu_initialization_period_ms;
    l->ctl.calc.initial_readiness_delay_ms = c->autoscaling.controller.initial_readiness_delay_ms;
    l->ctl.downscale_stabilization_ms = c->autoscaling.controller.downscale_stabilization_ms;
    l->ctl.gate_scale_to_zero = c->autoscaling.controller.scale_to_zero;
    l->ctl.gate_configurable_tolerance = c->autoscaling.controller.configurable_tolerance;
    pthread_mutex_unlock(&l->run_mu);

    tw_orch_driver_free(old_driver);
    tw_orch_driver_free(old_reads);
    tw_kube_lease_free(old_lease);
    tw_kube_client_free(old_client);

    pthread_mutex_lock(&l->wake_mu);
    l->sync_ms = c->autoscaling.sync_period_ms;
    l->lease_next_ms = lease != NULL ? 1 : 0; /* due at once */
    l->kicked = true;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->wake_mu);
    return 0;
}

int tw_autoscale_loop_start(tw_autoscale_loop_t *l, tw_error_t *err)
{
    if (l->started) {
        return 0;
    }
    l->stop = false;
    int rc = pthread_create(&l->thread, NULL, loop_main, l);
    if (rc != 0) {
        return tw_error_set(err, -rc, "cannot start the autoscaler thread: %s", strerror(rc));
    }
    l->started = true;
    return 0;
}

int tw_autoscale_loop_run_once(tw_autoscale_loop_t *l, int64_t now_ms)
{
    pthread_mutex_lock(&l->run_mu);
    int failed = pass_all(l, now_ms);
    pthread_mutex_unlock(&l->run_mu);
    return failed;
}

void tw_autoscale_loop_stop(tw_autoscale_loop_t *l)
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
    pthread_mutex_lock(&l->run_mu);
    if (l->lease != NULL && l->lease_client != NULL) {
        tw_error_t err;
        atomic_store(&l->leader_until_ms, 0);
        if (tw_kube_lease_release(l->lease, l->lease_client, tw_now_ms(), &err) != 0) {
            tw_log(TW_LOG_WARN, "autoscaler", "Cannot release the Lease", "err", err.msg, NULL);
        }
    }
    pthread_mutex_unlock(&l->run_mu);
}

bool tw_autoscale_loop_is_leader(tw_autoscale_loop_t *l)
{
    int64_t until = atomic_load(&l->leader_until_ms);
    return until == INT64_MAX || (until != 0 && tw_now_ms() < until);
}

void tw_autoscale_loop_free(tw_autoscale_loop_t *l)
{
    if (l == NULL) {
        return;
    }
    tw_autoscale_loop_stop(l);
    for (size_t i = 0; i < l->n_hpas; i++) {
        hpa_free(l->hpas[i]);
    }
    free(l->hpas);
    tw_orch_driver_free(l->driver);
    tw_orch_driver_free(l->reads);
    tw_kube_lease_free(l->lease);
    tw_kube_client_free(l->lease_client);
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->wake_mu);
    pthread_mutex_destroy(&l->status_mu);
    pthread_mutex_destroy(&l->run_mu);
    free(l);
}

/* ---- /metrics ------------------------------------------------------------------------------- */

void tw_autoscale_loop_collect_metrics(tw_autoscale_loop_t *l, tw_mset_t *out)
{
    tw_mfamily_t *desired = tw_mset_family(
        out, "tidewatch_autoscaler_desired_replicas", TW_MTYPE_GAUGE,
        "Replicas the autoscaler last decided on (the scale's spec.replicas when unchanged).",
        NULL);
    tw_mfamily_t *current =
        tw_mset_family(out, "tidewatch_autoscaler_current_replicas", TW_MTYPE_GAUGE,
                       "The scale's spec.replicas as last read or written.", NULL);
    tw_mfamily_t *value = tw_mset_family(
        out, "tidewatch_autoscaler_metric_value", TW_MTYPE_GAUGE,
        "Current value of each autoscaler metric (percent of request for Utilization targets).",
        NULL);
    tw_mfamily_t *target_f =
        tw_mset_family(out, "tidewatch_autoscaler_metric_target", TW_MTYPE_GAUGE,
                       "Target of each autoscaler metric, in the unit of the metric value.", NULL);
    tw_mfamily_t *opsf =
        tw_mset_family(out, "tidewatch_autoscaler_scale_operations_total", TW_MTYPE_COUNTER,
                       "Scale writes by result (success, dryrun, conflict: a 409 "
                       "that led to a re-read, error).",
                       NULL);
    tw_mfamily_t *limf = tw_mset_family(
        out, "tidewatch_autoscaler_limited_total", TW_MTYPE_COUNTER,
        "Passes whose proposal was cut by a rate limit, min/max or the stabilization window.",
        NULL);
    tw_mfamily_t *reff =
        tw_mset_family(out, "tidewatch_autoscaler_refusals_total", TW_MTYPE_COUNTER,
                       "Passes that left the replicas alone because of an error (metric source "
                       "down, scale or pods unreadable, failed write), by reason.",
                       NULL);
    tw_mfamily_t *passes = tw_mset_family(out, "tidewatch_autoscaler_passes_total",
                                          TW_MTYPE_COUNTER, "Autoscaler sync passes run.", NULL);
    tw_mfamily_t *leader = tw_mset_family(
        out, "tidewatch_autoscaler_leader", TW_MTYPE_GAUGE,
        "1 when this replica runs the autoscalers (holds the Lease, or no election).", NULL);
    tw_mfamily_t *last = tw_mset_family(out, "tidewatch_autoscaler_last_pass_timestamp_seconds",
                                        TW_MTYPE_GAUGE, "When the last sync pass started.", NULL);

    pthread_mutex_lock(&l->status_mu);
    for (size_t i = 0; i < l->n_hpas; i++) {
        const as_hpa_t *h = l->hpas[i];
        tw_label_t lb[4] = {{"namespace", h->m->namespace}, {"name", h->m->name}};
        if (h->have_scale) {
            tw_mset_add(out, desired, NULL, lb, 2, (double)h->desired, TW_NO_TIMESTAMP);
            tw_mset_add(out, current, NULL, lb, 2, (double)h->current, TW_NO_TIMESTAMP);
        }
        for (size_t k = 0; k < OP_COUNT_; k++) {
            lb[2] = (tw_label_t){"result", op_names[k]};
            tw_mset_add(out, opsf, NULL, lb, 3, (double)h->ops[k], TW_NO_TIMESTAMP);
        }
        for (size_t k = 0; k < h->n_limited; k++) {
            char dir[16];
            const char *sep = strchr(h->limited[k].key, '\x1f');
            size_t dl = sep != NULL ? (size_t)(sep - h->limited[k].key) : 0;
            if (dl >= sizeof(dir)) {
                dl = sizeof(dir) - 1;
            }
            memcpy(dir, h->limited[k].key, dl);
            dir[dl] = '\0';
            lb[2] = (tw_label_t){"direction", dir};
            lb[3] = (tw_label_t){"reason", sep != NULL ? sep + 1 : h->limited[k].key};
            tw_mset_add(out, limf, NULL, lb, 4, (double)h->limited[k].n, TW_NO_TIMESTAMP);
        }
        for (size_t k = 0; k < h->n_refusals; k++) {
            lb[2] = (tw_label_t){"reason", h->refusals[k].key};
            tw_mset_add(out, reff, NULL, lb, 3, (double)h->refusals[k].n, TW_NO_TIMESTAMP);
        }
        if (h->ring_n > 0) {
            const as_decision_t *d = &h->ring[(h->ring_head + h->ring_cap - 1) % h->ring_cap];
            for (size_t k = 0; k < d->n_metrics; k++) {
                lb[2] = (tw_label_t){"metric", d->metrics[k].name};
                tw_mset_add(out, target_f, NULL, lb, 3, d->metrics[k].target_val, TW_NO_TIMESTAMP);
                if (d->metrics[k].computed) {
                    tw_mset_add(out, value, NULL, lb, 3, d->metrics[k].value, TW_NO_TIMESTAMP);
                }
            }
        }
    }
    tw_mset_add(out, passes, NULL, NULL, 0, (double)l->passes, TW_NO_TIMESTAMP);
    tw_mset_add(out, leader, NULL, NULL, 0, l->leader ? 1.0 : 0.0, TW_NO_TIMESTAMP);
    if (l->last_pass_ms > 0) {
        tw_mset_add(out, last, NULL, NULL, 0, (double)l->last_pass_ms / 1000.0, TW_NO_TIMESTAMP);
    }
    pthread_mutex_unlock(&l->status_mu);
}

/* ---- GET /api/v1/autoscalers ------------------------------------------------------------------
 */

static json_t *json_time(int64_t ms)
{
    char buf[64];
    if (ms <= 0) {
        return json_null();
    }
    return json_string(tw_time_format_rfc3339(ms, buf, sizeof(buf)));
}

/* A milli-value as Kubernetes would print the quantity (integers plain, else with "m"). */
static json_t *json_quantity(int64_t milli)
{
    char buf[48];
    if (milli % 1000 == 0) {
        snprintf(buf, sizeof(buf), "%lld", (long long)(milli / 1000));
    } else {
        snprintf(buf, sizeof(buf), "%lldm", (long long)milli);
    }
    return json_string(buf);
}

static json_t *spec_json(const tw_hpa_manifest_t *m)
{
    json_t *metrics = json_array();
    for (size_t i = 0; i < m->spec.n_metrics; i++) {
        const tw_hpa_metric_input_t *s = &m->spec.metrics[i];
        const tw_hpa_manifest_metric_t *mi = &m->metric_info[i];
        json_t *t = json_pack("{s:s}", "type", target_type_name(s->target_type));
        if (s->target_type == TW_HPA_TARGET_UTILIZATION) {
            json_object_set_new(t, "averageUtilization", json_integer(s->target_utilization));
        } else {
            json_object_set_new(t, s->target_type == TW_HPA_TARGET_VALUE ? "value" : "averageValue",
                                json_quantity(s->target_milli));
        }
        json_t *e = json_pack("{s:s,s:s,s:o}", "type", metric_type_name(s->type), "name",
                              s->name != NULL ? s->name : "", "target", t);
        if (s->container != NULL) {
            json_object_set_new(e, "container", json_string(s->container));
        }
        if (mi->selector != NULL && mi->selector[0] != '\0') {
            json_object_set_new(e, "selector", json_string(mi->selector));
        }
        if (s->type == TW_HPA_METRIC_OBJECT) {
            json_object_set_new(
                e, "describedObject",
                json_pack("{s:s,s:s,s:s}", "apiVersion", mi->described_object.api_version, "kind",
                          mi->described_object.kind, "name", mi->described_object.name));
        }
        json_array_append_new(metrics, e);
    }
    return json_pack("{s:{s:s,s:s,s:s},s:i,s:i,s:o,s:b,s:s}", "scaleTargetRef", "apiVersion",
                     m->target.api_version, "kind", m->target.kind, "name", m->target.name,
                     "minReplicas", (int)m->spec.min_replicas, "maxReplicas",
                     (int)m->spec.max_replicas, "metrics", metrics, "behavior", m->has_behavior,
                     "source", m->file);
}

static json_t *decision_json(const as_decision_t *d)
{
    json_t *metrics = json_array();
    for (size_t i = 0; i < d->n_metrics; i++) {
        const as_metric_rec_t *r = &d->metrics[i];
        json_t *e =
            json_pack("{s:s,s:s,s:s,s:f,s:I}", "name", r->name, "type", r->type, "targetType",
                      r->target, "target", r->target_val, "samples", (json_int_t)r->samples);
        if (r->computed) {
            json_object_set_new(e, "value", json_real(r->value));
            json_object_set_new(e, "proposal", json_integer(r->proposal));
        }
        if (r->error[0] != '\0') {
            json_object_set_new(e, "error", json_string(r->error));
        }
        if (r->query[0] != '\0') {
            json_object_set_new(e, "query", json_string(r->query));
        }
        json_array_append_new(metrics, e);
    }
    json_t *o =
        json_pack("{s:o,s:s,s:s,s:s,s:i,s:i,s:i,s:s,s:{s:i,s:i,s:o}}", "time",
                  json_time(d->time_ms), "outcome", d->outcome, "reason", d->reason, "message",
                  d->message, "currentReplicas", (int)d->spec_replicas, "desiredReplicas",
                  (int)d->desired, "writes", d->writes, "resourceVersion", d->version, "inputs",
                  "pods", d->pods, "readyPods", d->ready_pods, "metrics", metrics);
    if (d->proposal >= 0) {
        json_object_set_new(o, "proposal", json_integer(d->proposal));
    }
    json_object_set_new(o, "statusReplicas", json_integer(d->status_replicas));
    json_object_set_new(o, "conflicts", json_integer(d->conflicts));
    return o;
}

int tw_autoscale_loop_status_json(tw_autoscale_loop_t *l, tw_buf_t *out)
{
    json_t *list = json_array();
    pthread_mutex_lock(&l->status_mu);
    for (size_t i = 0; i < l->n_hpas; i++) {
        const as_hpa_t *h = l->hpas[i];
        json_t *conds = json_array();
        for (size_t k = 0; k < h->conditions.n; k++) {
            const tw_hpa_condition_t *c = &h->conditions.items[k];
            json_array_append_new(
                conds,
                json_pack("{s:s,s:s,s:s,s:s,s:o}", "type", tw_hpa_condition_type_name(c->type),
                          "status", tw_hpa_status_name(c->status), "reason", c->reason, "message",
                          c->message, "lastTransitionTime", json_time(c->last_transition_ms)));
        }
        json_t *decisions = json_array();
        json_t *cur_metrics = json_array();
        for (size_t k = 0; k < h->ring_n; k++) {
            /* newest first */
            const as_decision_t *d = &h->ring[(h->ring_head + h->ring_cap - 1 - k) % h->ring_cap];
            json_array_append_new(decisions, decision_json(d));
            for (size_t j = 0; k == 0 && j < d->n_metrics; j++) {
                const as_metric_rec_t *r = &d->metrics[j];
                if (r->computed) {
                    json_array_append_new(cur_metrics,
                                          json_pack("{s:s,s:s,s:f}", "type", r->type, "name",
                                                    r->name, "value", r->value));
                }
            }
        }
        json_t *status = json_pack("{s:o,s:o,s:o}", "lastScaleTime", json_time(h->last_scale_ms),
                                   "currentMetrics", cur_metrics, "conditions", conds);
        if (h->have_scale) {
            json_object_set_new(status, "currentReplicas", json_integer(h->current));
            json_object_set_new(status, "desiredReplicas", json_integer(h->desired));
        }
        json_array_append_new(list, json_pack("{s:s,s:s,s:o,s:o,s:o}", "namespace", h->m->namespace,
                                              "name", h->m->name, "spec", spec_json(h->m), "status",
                                              status, "decisions", decisions));
    }
    json_t *root =
        json_pack("{s:s,s:b,s:b,s:f,s:I,s:o,s:o}", "driver", l->driver_name, "leaderElection",
                  l->lease_enabled, "leader", l->leader, "syncPeriodSeconds",
                  (double)l->pub_sync_ms / 1000.0, "passes", (json_int_t)l->passes, "lastPassTime",
                  json_time(l->last_pass_ms), "autoscalers", list);
    if (l->lease_error[0] != '\0') {
        json_object_set_new(root, "leaseError", json_string(l->lease_error));
    }
    pthread_mutex_unlock(&l->status_mu);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    int rc = s != NULL ? tw_buf_puts(out, s) : TW_EINVAL;
    free(s);
    return rc;
}
