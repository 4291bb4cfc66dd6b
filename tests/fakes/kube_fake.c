/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_fake.c - a fake Kubernetes API server for tidewatch's tests (README.md in this folder).
 *
 * It serves, over HTTPS (or HTTP), the slice of kube-apiserver that tidewatch's Kubernetes
 * driver and kubectl use: legacy discovery (/version, /api, /apis, per group-version resource
 * lists), get/list/watch/create/update/patch/delete on a handful of resource types (namespaces,
 * pods, nodes, endpoints, services, deployments, statefulsets, HPAs, VPAs, leases), the scale
 * subresource of deployments and statefulsets (autoscaling/v1 Scale), the status subresource,
 * server-side tables for `kubectl get`, resourceVersion optimistic concurrency with the real
 * Status bodies, bearer-token authentication (401) and a read-only token (403 on writes), the
 * pods' resize subresource (answered by an armable kubelet: Done, InProgress, Deferred,
 * Infeasible) and eviction subresource (PodDisruptionBudgets apply), and mutating admission: pods
 * created through the API or the control API are sent to the webhooks of the stored
 * MutatingWebhookConfigurations (AdmissionReview v1 over HTTPS, libcurl) and patched.
 * A control API under /_fake/ lets a test change the world (objects, pod status), inject faults
 * on the next N requests of a path (409, 429 + Retry-After, 500, a delay, a dropped connection)
 * and read the log of requests the fake answered.
 *
 * How it works: one store (an array of objects, each an immutable jansson value replaced on
 * every write) and one event log (every write, with the object before and after, for watches)
 * behind one mutex; a global resourceVersion counter bumped by each write; libmicrohttpd with a
 * thread per connection, so a watch can block in its content callback on a condition variable
 * and a fault can sleep. SIGTERM/SIGINT are taken by sigwait() in main(), so no state is global.
 *
 * Deterministic: uids are hashes of the object's identity, resourceVersions count from 1000,
 * creationTimestamp comes from the seed (or --seed-time), and --now fixes the clock used for
 * ages in tables and for objects created at run time.
 */
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"
#include "tests/fakes/kube_fake.h"

/* Largest request body accepted (kube-apiserver's limit is 3 MiB). */
#define KF_MAX_BODY_BYTES (3u * 1024 * 1024)
/* Events kept for watches; older ones are dropped and a watch from before them gets 410. */
#define KF_MAX_EVENTS 20000
/* Requests kept in the log that /_fake/requests returns. */
#define KF_MAX_LOG 100000

/* ---------------------------------------------------------------------------------------- */
/* Resource types                                                                            */

typedef struct {
    const char *group;       /* "" for the core group */
    const char *version;     /* preferred version */
    const char *alt_version; /* another served version (same objects, no conversion) or NULL */
    const char *plural;
    const char *singular;
    const char *kind;
    bool namespaced;
    const char *short_name; /* or NULL */
    bool scale;             /* has the scale subresource */
    bool status;            /* has the status subresource (writes to the main resource keep
                               status, writes to /status change only status) */
    bool generation;        /* metadata.generation counts spec changes */
} kres_t;

static const kres_t RES[] = {
    {"", "v1", NULL, "namespaces", "namespace", "Namespace", false, "ns", false, true, false},
    {"", "v1", NULL, "pods", "pod", "Pod", true, "po", false, true, false},
    {"", "v1", NULL, "nodes", "node", "Node", false, "no", false, true, false},
    {"", "v1", NULL, "endpoints", "endpoints", "Endpoints", true, "ep", false, false, false},
    {"", "v1", NULL, "services", "service", "Service", true, "svc", false, true, false},
    {"apps", "v1", NULL, "deployments", "deployment", "Deployment", true, "deploy", true, true,
     true},
    {"apps", "v1", NULL, "statefulsets", "statefulset", "StatefulSet", true, "sts", true, true,
     true},
    {"autoscaling", "v2", "v1", "horizontalpodautoscalers", "horizontalpodautoscaler",
     "HorizontalPodAutoscaler", true, "hpa", false, true, true},
    {"coordination.k8s.io", "v1", NULL, "leases", "lease", "Lease", true, NULL, false, false,
     false},
    {"autoscaling.k8s.io", "v1", NULL, "verticalpodautoscalers", "verticalpodautoscaler",
     "VerticalPodAutoscaler", true, "vpa", false, true, true},
    {"policy", "v1", NULL, "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget",
     true, "pdb", false, true, true},
    {"admissionregistration.k8s.io", "v1", NULL, "mutatingwebhookconfigurations",
     "mutatingwebhookconfiguration", "MutatingWebhookConfiguration", false, NULL, false, false,
     true},
};
#define NRES (sizeof(RES) / sizeof(RES[0]))
enum {
    R_NAMESPACES = 0,
    R_PODS = 1,
    R_NODES = 2,
    R_DEPLOYMENTS = 5,
    R_STATEFULSETS = 6,
    R_PDBS = 10,
    R_MUTATING_WEBHOOKS = 11
};

static bool res_serves(const kres_t *r, const char *group, const char *version)
{
    return strcmp(r->group, group) == 0 &&
           (strcmp(r->version, version) == 0 ||
            (r->alt_version && strcmp(r->alt_version, version) == 0));
}

static int res_find(const char *group, const char *version, const char *plural)
{
    for (size_t i = 0; i < NRES; i++) {
        if (res_serves(&RES[i], group, version) && strcmp(RES[i].plural, plural) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int res_find_kind(const char *api_version, const char *kind)
{
    for (size_t i = 0; i < NRES && api_version && kind; i++) {
        char gv[128];
        if (RES[i].group[0]) {
            snprintf(gv, sizeof(gv), "%s/%s", RES[i].group, RES[i].version);
        } else {
            snprintf(gv, sizeof(gv), "%s", RES[i].version);
        }
        const char *slash = strchr(api_version, '/');
        bool group_ok =
            slash ? strncmp(api_version, RES[i].group, (size_t)(slash - api_version)) == 0 &&
                        RES[i].group[slash - api_version] == '\0'
                  : RES[i].group[0] == '\0';
        if (group_ok && strcmp(RES[i].kind, kind) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* "deployments.apps" / "pods": how errors name a resource. */
static void res_qualified(const kres_t *r, const char *sub, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s%s%s%s%s", r->plural, sub ? "/" : "", sub ? sub : "",
             r->group[0] ? "." : "", r->group);
}

/* ---------------------------------------------------------------------------------------- */
/* Server state                                                                              */

typedef struct {
    int res;
    char *ns; /* "" for cluster-scoped objects */
    char *name;
    json_t *obj; /* never modified once stored: writes store a new value */
} kobj_t;

typedef struct {
    uint64_t rv;
    int res;
    const char *type; /* ADDED, MODIFIED, DELETED */
    json_t *obj;
    json_t *prev; /* MODIFIED: the object before; else NULL */
} kevent_t;

typedef struct {
    char *method;
    char *path;
    char *query;
    int status; /* 0: connection dropped */
} klog_t;

typedef enum { F_CONFLICT, F_THROTTLE, F_ERROR, F_DELAY, F_DROP } kfault_action_t;

typedef struct {
    int id;
    char *method; /* NULL: any */
    char *path;
    bool prefix;
    int remaining;
    kfault_action_t action;
    int retry_after_s;
    int delay_ms;
    int status;
} kfault_t;

/* The kubelet's answer to in-place resizes of one pod (/_fake/resize), sticky until changed. */
typedef struct {
    char *ns;
    char *name;
    char outcome[16]; /* Done, InProgress, Deferred, Infeasible */
    char *message;
} kresize_t;

typedef struct kfake {
    pthread_mutex_t mu;
    pthread_cond_t changed; /* broadcast on every write and on shutdown */
    bool stopping;
    uint64_t rv;           /* the newest resourceVersion */
    uint64_t compacted_rv; /* events with rv > this are all in the log */
    kobj_t *objs;
    size_t nobjs, capobjs;
    kevent_t *events;
    size_t nevents, capevents;
    klog_t *log;
    size_t nlog, caplog;
    kfault_t *faults;
    size_t nfaults, capfaults;
    int next_fault_id;
    kresize_t *resizes;
    size_t nresizes, capresizes;
    uint64_t admission_seq; /* numbers AdmissionReview uids */
    /* options */
    char *token;
    char *ro_token;
    char *ro_user;
    time_t now_fixed; /* 0: the real clock */
    char seed_time[32];
    bool controller; /* deployment/statefulset status follows spec at once */
    bool quiet;
    char server_address[64];
} kfake_t;

static time_t kf_now(const kfake_t *kf)
{
    return kf->now_fixed ? kf->now_fixed : time(NULL);
}

static void format_time(time_t t, char *out, size_t outsz)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int parse_time(const char *s, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!end || (*end != 'Z' && *end != '\0')) {
        return -1;
    }
    *out = timegm(&tm);
    return 0;
}

/* A uid derived from the object's identity (FNV-1a, twice), formatted as a UUID. */
static void make_uid(int res, const char *ns, const char *name, char out[37])
{
    uint64_t h[2] = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
    char key[512];
    snprintf(key, sizeof(key), "%s/%s/%s", RES[res].plural, ns, name);
    for (int k = 0; k < 2; k++) {
        for (const char *p = key; *p; p++) {
            h[k] ^= (unsigned char)*p;
            h[k] *= 0x100000001b3ULL;
        }
    }
    char hex[33];
    snprintf(hex, sizeof(hex), "%016" PRIx64 "%016" PRIx64, h[0], h[1]);
    hex[12] = '5';              /* version nibble */
    hex[16] = "89ab"[h[1] & 3]; /* RFC 4122 variant */
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

static const char *obj_meta_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static long find_obj(const kfake_t *kf, int res, const char *ns, const char *name)
{
    for (size_t i = 0; i < kf->nobjs; i++) {
        const kobj_t *o = &kf->objs[i];
        if (o->res == res && strcmp(o->name, name) == 0 &&
            strcmp(o->ns, RES[res].namespaced ? ns : "") == 0) {
            return (long)i;
        }
    }
    return -1;
}

/* Rebuilds obj with its keys in the apiserver's order (kind, apiVersion, metadata, spec,
 * status, then the rest; metadata's well-known keys first). Steals obj. */
static json_t *canonical(json_t *obj)
{
    static const char *const top[] = {"kind", "apiVersion", "metadata", "spec", "status"};
    static const char *const meta[] = {"name",
                                       "generateName",
                                       "namespace",
                                       "uid",
                                       "resourceVersion",
                                       "generation",
                                       "creationTimestamp",
                                       "deletionTimestamp",
                                       "labels",
                                       "annotations",
                                       "ownerReferences",
                                       "finalizers"};
    json_t *m = json_object_get(obj, "metadata");
    if (json_is_object(m)) {
        json_t *nm = json_object();
        for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++) {
            json_t *v = json_object_get(m, meta[i]);
            if (v) {
                json_object_set(nm, meta[i], v);
            }
        }
        json_object_update_missing(nm, m);
        json_object_set_new(obj, "metadata", nm);
    }
    json_t *out = json_object();
    for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++) {
        json_t *v = json_object_get(obj, top[i]);
        if (v) {
            json_object_set(out, top[i], v);
        }
    }
    json_object_update_missing(out, obj);
    json_decref(obj);
    return out;
}

static void set_default(json_t *obj, const char *key, json_t *val)
{
    if (!json_object_get(obj, key)) {
        json_object_set_new(obj, key, val);
    } else {
        json_decref(val);
    }
}

/* The defaults kube-apiserver fills into pod specs (the fields kubectl shows). */
static void default_pod_spec(json_t *spec)
{
    if (!json_is_object(spec)) {
        return;
    }
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(spec, "containers"), i, c)
    {
        const char *image = json_string_value(json_object_get(c, "image"));
        const char *colon = image ? strrchr(image, ':') : NULL;
        bool latest = !colon || strchr(colon, '/') || strcmp(colon, ":latest") == 0;
        size_t j;
        json_t *p;
        json_array_foreach(json_object_get(c, "ports"), j, p)
        {
            set_default(p, "protocol", json_string("TCP"));
        }
        set_default(c, "resources", json_object());
        set_default(c, "terminationMessagePath", json_string("/dev/termination-log"));
        set_default(c, "terminationMessagePolicy", json_string("File"));
        set_default(c, "imagePullPolicy", json_string(latest ? "Always" : "IfNotPresent"));
    }
    set_default(spec, "restartPolicy", json_string("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json_integer(30));
    set_default(spec, "dnsPolicy", json_string("ClusterFirst"));
    set_default(spec, "securityContext", json_object());
    set_default(spec, "schedulerName", json_string("default-scheduler"));
}

/* Spec defaults of the workload types, as the apiserver's defaulting functions set them. */
static void default_spec(int res, json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    if (res == R_NAMESPACES) {
        if (!spec) {
            spec = json_object();
            json_object_set_new(obj, "spec", spec);
        }
        set_default(spec, "finalizers", json_pack("[s]", "kubernetes"));
        json_t *st = json_object_get(obj, "status");
        if (!st) {
            json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Active"));
        }
        json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
        if (!labels) {
            labels = json_object();
            json_object_set_new(json_object_get(obj, "metadata"), "labels", labels);
        }
        set_default(labels, "kubernetes.io/metadata.name", json_string(obj_meta_str(obj, "name")));
        return;
    }
    if (!json_is_object(spec)) {
        return;
    }
    if (res == R_PODS) {
        default_pod_spec(spec);
        return;
    }
    if (res != R_DEPLOYMENTS && res != R_STATEFULSETS) {
        return;
    }
    set_default(spec, "replicas", json_integer(1));
    json_t *tmpl = json_object_get(spec, "template");
    if (json_is_object(tmpl)) {
        json_t *tm = json_object_get(tmpl, "metadata");
        if (json_is_object(tm)) {
            set_default(tm, "creationTimestamp", json_null());
        }
        default_pod_spec(json_object_get(tmpl, "spec"));
    }
    if (res == R_DEPLOYMENTS) {
        set_default(spec, "strategy",
                    json_pack("{s:s,s:{s:s,s:s}}", "type", "RollingUpdate", "rollingUpdate",
                              "maxUnavailable", "25%", "maxSurge", "25%"));
        set_default(spec, "revisionHistoryLimit", json_integer(10));
        set_default(spec, "progressDeadlineSeconds", json_integer(600));
    } else {
        set_default(spec, "podManagementPolicy", json_string("OrderedReady"));
        set_default(
            spec, "updateStrategy",
            json_pack("{s:s,s:{s:i}}", "type", "RollingUpdate", "rollingUpdate", "partition", 0));
        set_default(spec, "revisionHistoryLimit", json_integer(10));
    }
}

/* The workload controllers' effect, at once: status counts follow spec.replicas. */
static void simulate_controller(const kfake_t *kf, int res, json_t *obj)
{
    if (!kf->controller || (res != R_DEPLOYMENTS && res != R_STATEFULSETS)) {
        return;
    }
    json_t *spec = json_object_get(obj, "spec");
    json_int_t n = json_integer_value(json_object_get(spec, "replicas"));
    json_t *st = json_object_get(obj, "status");
    st = json_is_object(st) ? json_deep_copy(st) : json_object();
    json_t *gen = json_object_get(json_object_get(obj, "metadata"), "generation");
    if (gen) {
        json_object_set(st, "observedGeneration", gen);
    }
    static const char *const dep[] = {"replicas", "updatedReplicas", "readyReplicas",
                                      "availableReplicas"};
    static const char *const sts[] = {"replicas", "readyReplicas", "currentReplicas",
                                      "updatedReplicas", "availableReplicas"};
    const char *const *keys = res == R_DEPLOYMENTS ? dep : sts;
    size_t nkeys = res == R_DEPLOYMENTS ? 4 : 5;
    for (size_t i = 0; i < nkeys; i++) {
        /* DeploymentStatus' counters are omitempty; StatefulSet's replicas is not. */
        if (n == 0 && (res == R_DEPLOYMENTS || i > 0)) {
            json_object_del(st, keys[i]);
        } else {
            json_object_set_new(st, keys[i], json_integer(n));
        }
    }
    json_object_set_new(obj, "status", st);
}

/*
 * Fills in what the apiserver adds to a new object: kind/apiVersion, namespace, uid,
 * generation, creationTimestamp, defaults. Steals obj; returns the canonical object.
 */
static json_t *normalize_new(kfake_t *kf, int res, json_t *obj, const char *ns, const char *created)
{
    const kres_t *r = &RES[res];
    char gv[128];
    snprintf(gv, sizeof(gv), "%s%s%s", r->group, r->group[0] ? "/" : "", r->version);
    set_default(obj, "apiVersion", json_string(gv));
    json_object_set_new(obj, "kind", json_string(r->kind));
    json_t *m = json_object_get(obj, "metadata");
    if (!json_is_object(m)) {
        m = json_object();
        json_object_set_new(obj, "metadata", m);
    }
    if (r->namespaced) {
        json_object_set_new(m, "namespace", json_string(ns));
    } else {
        json_object_del(m, "namespace");
    }
    char uid[37];
    make_uid(res, r->namespaced ? ns : "", obj_meta_str(obj, "name"), uid);
    set_default(m, "uid", json_string(uid));
    if (r->generation) {
        json_object_set_new(m, "generation", json_integer(1));
    }
    set_default(m, "creationTimestamp", json_string(created));
    json_object_del(m, "resourceVersion");
    default_spec(res, obj);
    simulate_controller(kf, res, obj);
    return canonical(obj);
}

static void event_add(kfake_t *kf, int res, const char *type, json_t *obj, json_t *prev)
{
    if (kf->nevents == KF_MAX_EVENTS) {
        size_t drop = KF_MAX_EVENTS / 2;
        for (size_t i = 0; i < drop; i++) {
            json_decref(kf->events[i].obj);
            json_decref(kf->events[i].prev);
        }
        kf->compacted_rv = kf->events[drop - 1].rv;
        memmove(kf->events, kf->events + drop, (kf->nevents - drop) * sizeof(*kf->events));
        kf->nevents -= drop;
    }
    tw_grow((void **)&kf->events, &kf->capevents, kf->nevents + 1, sizeof(*kf->events));
    kevent_t *e = &kf->events[kf->nevents++];
    e->rv = kf->rv;
    e->res = res;
    e->type = type;
    e->obj = json_incref(obj);
    e->prev = prev ? json_incref(prev) : NULL;
    pthread_cond_broadcast(&kf->changed);
}

/* Stores a new object (stolen, normalized) under a fresh resourceVersion. */
static json_t *store_insert(kfake_t *kf, int res, json_t *obj)
{
    char rv[32];
    snprintf(rv, sizeof(rv), "%" PRIu64, ++kf->rv);
    json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion", json_string(rv));
    obj = canonical(obj);
    tw_grow((void **)&kf->objs, &kf->capobjs, kf->nobjs + 1, sizeof(*kf->objs));
    kobj_t *o = &kf->objs[kf->nobjs++];
    o->res = res;
    o->ns = tw_xstrdup(RES[res].namespaced ? obj_meta_str(obj, "namespace") : "");
    o->name = tw_xstrdup(obj_meta_str(obj, "name"));
    o->obj = obj;
    event_add(kf, res, "ADDED", obj, NULL);
    return obj;
}

/*
 * Replaces objs[idx] by next (stolen): bumps generation when the spec changed, runs the
 * controller, and bumps resourceVersion, unless nothing changed (then next is dropped and the
 * stored object stays, as kube-apiserver skips no-op writes). Returns the stored object.
 */
static json_t *store_replace(kfake_t *kf, size_t idx, json_t *next)
{
    kobj_t *o = &kf->objs[idx];
    json_t *old = o->obj;
    json_t *m = json_object_get(next, "metadata");
    json_t *om = json_object_get(old, "metadata");
    json_object_set(m, "uid", json_object_get(om, "uid"));
    json_object_set(m, "creationTimestamp", json_object_get(om, "creationTimestamp"));
    json_object_set(m, "name", json_object_get(om, "name"));
    if (RES[o->res].namespaced) {
        json_object_set(m, "namespace", json_object_get(om, "namespace"));
    }
    json_object_set(m, "resourceVersion", json_object_get(om, "resourceVersion"));
    if (RES[o->res].generation) {
        json_int_t gen = json_integer_value(json_object_get(om, "generation"));
        if (!json_equal(json_object_get(old, "spec"), json_object_get(next, "spec"))) {
            gen++;
        }
        json_object_set_new(m, "generation", json_integer(gen));
    }
    simulate_controller(kf, o->res, next);
    next = canonical(next);
    if (json_equal(next, old)) {
        json_decref(next);
        return old;
    }
    char rv[32];
    snprintf(rv, sizeof(rv), "%" PRIu64, ++kf->rv);
    json_object_set_new(json_object_get(next, "metadata"), "resourceVersion", json_string(rv));
    o->obj = next;
    event_add(kf, o->res, "MODIFIED", next, old);
    json_decref(old);
    return next;
}

static json_t *store_delete(kfake_t *kf, size_t idx)
{
    kobj_t o = kf->objs[idx];
    memmove(kf->objs + idx, kf->objs + idx + 1, (kf->nobjs - idx - 1) * sizeof(*kf->objs));
    kf->nobjs--;
    json_t *obj = json_deep_copy(o.obj);
    char rv[32];
    snprintf(rv, sizeof(rv), "%" PRIu64, ++kf->rv);
    json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion", json_string(rv));
    event_add(kf, o.res, "DELETED", obj, NULL);
    json_decref(o.obj);
    free(o.ns);
    free(o.name);
    return obj;
}

static void ensure_namespace(kfake_t *kf, const char *ns)
{
    if (find_obj(kf, R_NAMESPACES, "", ns) >= 0) {
        return;
    }
    json_t *obj = json_pack("{s:{s:s}}", "metadata", "name", ns);
    store_insert(kf, R_NAMESPACES, normalize_new(kf, R_NAMESPACES, obj, "", kf->seed_time));
}

/* Adds one seed document (borrowed). Returns 0, or -1 with msg. */
static int seed_one(kfake_t *kf, const json_t *doc, char *msg, size_t msgsz)
{
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    const char *av = json_string_value(json_object_get(doc, "apiVersion"));
    int res = res_find_kind(av, kind);
    const char *name = obj_meta_str(doc, "name");
    if (res < 0 || !name) {
        snprintf(msg, msgsz, "seed: unsupported object %s %s/%s", av ? av : "?", kind ? kind : "?",
                 name ? name : "?");
        return -1;
    }
    const char *ns = obj_meta_str(doc, "namespace");
    ns = RES[res].namespaced ? (ns ? ns : "default") : "";
    if (RES[res].namespaced) {
        ensure_namespace(kf, ns);
    }
    long at = find_obj(kf, res, ns, name);
    if (at >= 0) {
        store_delete(kf, (size_t)at);
    }
    const char *created = obj_meta_str(doc, "creationTimestamp");
    json_t *obj =
        normalize_new(kf, res, json_deep_copy(doc), ns, created ? created : kf->seed_time);
    /* The seed may carry a status (pods, nodes): keep it over the controller's. */
    if (json_object_get(doc, "status") && res != R_NAMESPACES) {
        json_object_set(obj, "status", json_object_get(doc, "status"));
    }
    store_insert(kf, res, obj);
    return 0;
}

/* Loads the seed documents: namespaces first, then everything else in file order. */
static int seed_load(kfake_t *kf, json_t *docs, char *msg, size_t msgsz)
{
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d)
    {
        const char *kind = json_string_value(json_object_get(d, "kind"));
        if (kind && strcmp(kind, "Namespace") == 0 && seed_one(kf, d, msg, msgsz) != 0) {
            return -1;
        }
    }
    ensure_namespace(kf, "default");
    ensure_namespace(kf, "kube-system");
    json_array_foreach(docs, i, d)
    {
        const char *kind = json_string_value(json_object_get(d, "kind"));
        if ((!kind || strcmp(kind, "Namespace") != 0) && seed_one(kf, d, msg, msgsz) != 0) {
            return -1;
        }
    }
    kf->compacted_rv = kf->rv;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Responses                                                                                 */

/* One request being received: its body, bounded. */
typedef struct {
    tw_buf_t body;
    bool too_big;
} kreq_t;

/* What the dispatcher answered (for the request log). */
typedef struct {
    kfake_t *kf;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    int status;
    const char *user; /* authenticated user, or NULL */
} kctx_t;

static enum MHD_Result reply_raw(kctx_t *x, int status, const char *ctype, char *body, size_t len,
                                 const char *retry_after)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
    if (retry_after) {
        MHD_add_response_header(resp, "Retry-After", retry_after);
    }
    x->status = status;
    enum MHD_Result ret = MHD_queue_response(x->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Sends body (stolen) as JSON, with the trailing newline Go's encoder writes. */
static enum MHD_Result reply_json(kctx_t *x, int status, json_t *body, const char *retry_after)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    size_t n = strlen(s);
    char *t = tw_xrealloc(s, n + 2);
    t[n] = '\n';
    t[n + 1] = '\0';
    return reply_raw(x, status, "application/json", t, n + 1, retry_after);
}

/* A metav1.Status failure; details (stolen) may be NULL. */
static json_t *status_body(int code, const char *reason, const char *message, json_t *details)
{
    json_t *st = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s}", "kind", "Status", "apiVersion", "v1",
                           "metadata", "status", "Failure", "message", message, "reason", reason);
    if (details) {
        json_object_set_new(st, "details", details);
    }
    json_object_set_new(st, "code", json_integer(code));
    return st;
}

static json_t *details_for(const kres_t *r, const char *name)
{
    json_t *d = json_object();
    if (name) {
        json_object_set_new(d, "name", json_string(name));
    }
    if (r->group[0]) {
        json_object_set_new(d, "group", json_string(r->group));
    }
    json_object_set_new(d, "kind", json_string(r->plural));
    return d;
}

static enum MHD_Result reply_status(kctx_t *x, int code, const char *reason, json_t *details,
                                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static enum MHD_Result reply_status(kctx_t *x, int code, const char *reason, json_t *details,
                                    const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return reply_json(x, code, status_body(code, reason, msg, details), NULL);
}

static enum MHD_Result reply_not_found(kctx_t *x, int res, const char *name)
{
    char q[128];
    res_qualified(&RES[res], NULL, q, sizeof(q));
    return reply_status(x, 404, "NotFound", details_for(&RES[res], name), "%s \"%s\" not found", q,
                        name);
}

static enum MHD_Result reply_conflict(kctx_t *x, int res, const char *name)
{
    char q[128];
    res_qualified(&RES[res], NULL, q, sizeof(q));
    return reply_status(x, 409, "Conflict", details_for(&RES[res], name),
                        "Operation cannot be fulfilled on %s \"%s\": the object has been "
                        "modified; please apply your changes to the latest version and try again",
                        q, name);
}

static enum MHD_Result reply_no_route(kctx_t *x)
{
    return reply_status(x, 404, "NotFound", json_object(),
                        "the server could not find the requested resource");
}

/* ---------------------------------------------------------------------------------------- */
/* Discovery                                                                                 */

static json_t *api_resource_list(const char *group, const char *version)
{
    char gv[128];
    snprintf(gv, sizeof(gv), "%s%s%s", group, group[0] ? "/" : "", version);
    json_t *list = json_array();
    for (size_t i = 0; i < NRES; i++) {
        const kres_t *r = &RES[i];
        if (!res_serves(r, group, version)) {
            continue;
        }
        json_t *verbs = json_pack("[s,s,s,s,s,s,s,s]", "create", "delete", "deletecollection",
                                  "get", "list", "patch", "update", "watch");
        json_t *e =
            json_pack("{s:s,s:s,s:b,s:s,s:o}", "name", r->plural, "singularName", r->singular,
                      "namespaced", r->namespaced, "kind", r->kind, "verbs", verbs);
        if (r->short_name) {
            json_object_set_new(e, "shortNames", json_pack("[s]", r->short_name));
        }
        if (i == R_PODS || i == R_DEPLOYMENTS || i == R_STATEFULSETS || i == 4 || i == 7) {
            json_object_set_new(e, "categories", json_pack("[s]", "all"));
        }
        json_array_append_new(list, e);
        char sub[128];
        if (r->scale) {
            snprintf(sub, sizeof(sub), "%s/scale", r->plural);
            json_array_append_new(
                list, json_pack("{s:s,s:s,s:b,s:s,s:s,s:s,s:[s,s,s]}", "name", sub, "singularName",
                                "", "namespaced", r->namespaced, "group", "autoscaling", "version",
                                "v1", "kind", "Scale", "verbs", "get", "patch", "update"));
        }
        if (i == R_PODS) {
            json_array_append_new(list, json_pack("{s:s,s:s,s:b,s:s,s:s,s:s,s:[s]}", "name",
                                                  "pods/eviction", "singularName", "", "namespaced",
                                                  1, "group", "policy", "version", "v1", "kind",
                                                  "Eviction", "verbs", "create"));
            json_array_append_new(list,
                                  json_pack("{s:s,s:s,s:b,s:s,s:[s,s,s]}", "name", "pods/resize",
                                            "singularName", "", "namespaced", 1, "kind", "Pod",
                                            "verbs", "get", "patch", "update"));
        }
        if (r->status) {
            snprintf(sub, sizeof(sub), "%s/status", r->plural);
            json_array_append_new(list,
                                  json_pack("{s:s,s:s,s:b,s:s,s:[s,s,s]}", "name", sub,
                                            "singularName", "", "namespaced", r->namespaced, "kind",
                                            r->kind, "verbs", "get", "patch", "update"));
        }
    }
    if (json_array_size(list) == 0) {
        json_decref(list);
        return NULL;
    }
    return json_pack("{s:s,s:s,s:s,s:o}", "kind", "APIResourceList", "apiVersion", "v1",
                     "groupVersion", gv, "resources", list);
}

static json_t *api_group(const char *group)
{
    json_t *versions = json_array();
    const char *preferred = NULL;
    for (size_t i = 0; i < NRES; i++) {
        if (strcmp(RES[i].group, group) != 0) {
            continue;
        }
        const char *vs[2] = {RES[i].version, RES[i].alt_version};
        for (int k = 0; k < 2; k++) {
            if (!vs[k]) {
                continue;
            }
            char gv[128];
            snprintf(gv, sizeof(gv), "%s/%s", group, vs[k]);
            bool seen = false;
            size_t j;
            json_t *e;
            json_array_foreach(versions, j, e)
            {
                seen = seen || strcmp(json_string_value(json_object_get(e, "version")), vs[k]) == 0;
            }
            if (!seen) {
                json_array_append_new(versions,
                                      json_pack("{s:s,s:s}", "groupVersion", gv, "version", vs[k]));
            }
            preferred = preferred ? preferred : RES[i].version;
        }
    }
    if (!preferred) {
        json_decref(versions);
        return NULL;
    }
    char gv[128];
    snprintf(gv, sizeof(gv), "%s/%s", group, preferred);
    return json_pack("{s:s,s:o,s:{s:s,s:s}}", "name", group, "versions", versions,
                     "preferredVersion", "groupVersion", gv, "version", preferred);
}

static json_t *api_group_list(void)
{
    json_t *groups = json_array();
    for (size_t i = 0; i < NRES; i++) {
        if (!RES[i].group[0]) {
            continue;
        }
        bool seen = false;
        for (size_t j = 0; j < i; j++) {
            seen = seen || strcmp(RES[j].group, RES[i].group) == 0;
        }
        if (!seen) {
            json_array_append_new(groups, api_group(RES[i].group));
        }
    }
    return json_pack("{s:s,s:s,s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups", groups);
}

/* ---------------------------------------------------------------------------------------- */
/* Tables (server-side printing for `kubectl get`)                                           */

static json_t *column(const char *name, const char *type, const char *format, int priority,
                      const char *description)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:i}", "name", name, "type", type, "format", format,
                     "description", description, "priority", priority);
}

static void age_of(const kfake_t *kf, const json_t *obj, char *out, size_t outsz)
{
    time_t created;
    if (parse_time(obj_meta_str(obj, "creationTimestamp"), &created) != 0) {
        snprintf(out, outsz, "<unknown>");
        return;
    }
    tw_kfake_human_duration((long long)(kf_now(kf) - created), out, outsz);
}

/* Joins field `key` of each container in spec.template.spec.containers with ','. */
static void containers_join(const json_t *obj, const char *key, char *out, size_t outsz)
{
    json_t *cs = json_object_get(
        json_object_get(json_object_get(json_object_get(obj, "spec"), "template"), "spec"),
        "containers");
    size_t off = 0, i;
    json_t *c;
    out[0] = '\0';
    json_array_foreach(cs, i, c)
    {
        const char *v = json_string_value(json_object_get(c, key));
        int n = snprintf(out + off, outsz - off, "%s%s", i ? "," : "", v ? v : "");
        if (n < 0 || (size_t)n >= outsz - off) {
            break;
        }
        off += (size_t)n;
    }
}

static json_int_t status_int(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(obj, "status"), key));
}

/* Columns for res, or NULL when this fake has no printer for it (kubectl then falls back). */
static json_t *table_columns(int res)
{
    const char *name_doc = "Name must be unique within a namespace.";
    const char *age_doc = "CreationTimestamp is a timestamp representing the server time when "
                          "this object was created.";
    switch (res) {
    case R_DEPLOYMENTS:
        return json_pack(
            "[o,o,o,o,o,o,o,o]", column("Name", "string", "name", 0, name_doc),
            column("Ready", "string", "", 0, "Number of the pod with ready state"),
            column("Up-to-date", "string", "", 0,
                   "Total number of non-terminated pods targeted by this deployment that have "
                   "the desired template spec."),
            column("Available", "string", "", 0,
                   "Total number of available pods (ready for at least minReadySeconds) "
                   "targeted by this deployment."),
            column("Age", "string", "", 0, age_doc),
            column("Containers", "string", "", 1, "Names of each container in the template."),
            column("Images", "string", "", 1,
                   "Images referenced by each container in the "
                   "template."),
            column("Selector", "string", "", 1, "Label selector for pods."));
    case R_STATEFULSETS:
        return json_pack(
            "[o,o,o,o,o]", column("Name", "string", "name", 0, name_doc),
            column("Ready", "string", "", 0, "Number of the pod with ready state"),
            column("Age", "string", "", 0, age_doc),
            column("Containers", "string", "", 1, "Names of each container in the template."),
            column("Images", "string", "", 1,
                   "Images referenced by each container in the "
                   "template."));
    case R_PODS:
        return json_pack("[o,o,o,o,o,o,o,o,o]", column("Name", "string", "name", 0, name_doc),
                         column("Ready", "string", "", 0,
                                "The aggregate readiness state of "
                                "this pod for accepting traffic."),
                         column("Status", "string", "", 0,
                                "The aggregate status of the "
                                "containers in this pod."),
                         column("Restarts", "string", "", 0,
                                "The number of times the "
                                "containers in this pod have been "
                                "restarted and when the last "
                                "container in this pod has "
                                "restarted."),
                         column("Age", "string", "", 0, age_doc),
                         column("IP", "string", "", 1, "IP address allocated to the pod."),
                         column("Node", "string", "", 1, "Name of the Node this pod runs on."),
                         column("Nominated Node", "string", "", 1, "Nominated node name."),
                         column("Readiness Gates", "string", "", 1, "Readiness gates."));
    case R_NODES:
        return json_pack("[o,o,o,o,o]", column("Name", "string", "name", 0, name_doc),
                         column("Status", "string", "", 0, "The status of the node"),
                         column("Roles", "string", "", 0, "The roles of the node"),
                         column("Age", "string", "", 0, age_doc),
                         column("Version", "string", "", 0,
                                "Kubelet Version reported by the "
                                "node."));
    default:
        return NULL;
    }
}

static json_t *table_cells(const kfake_t *kf, int res, const json_t *obj)
{
    char age[32], a[512], b[512], c[512];
    age_of(kf, obj, age, sizeof(age));
    const char *name = obj_meta_str(obj, "name");
    json_t *spec = json_object_get(obj, "spec");
    json_t *status = json_object_get(obj, "status");
    switch (res) {
    case R_DEPLOYMENTS: {
        snprintf(a, sizeof(a), "%lld/%lld", (long long)status_int(obj, "readyReplicas"),
                 (long long)json_integer_value(json_object_get(spec, "replicas")));
        containers_join(obj, "name", b, sizeof(b));
        containers_join(obj, "image", c, sizeof(c));
        char *sel = tw_kfake_selector_format(json_object_get(spec, "selector"));
        json_t *cells =
            json_pack("[s,s,I,I,s,s,s,s]", name, a, (json_int_t)status_int(obj, "updatedReplicas"),
                      (json_int_t)status_int(obj, "availableReplicas"), age, b, c, sel);
        free(sel);
        return cells;
    }
    case R_STATEFULSETS:
        snprintf(a, sizeof(a), "%lld/%lld", (long long)status_int(obj, "readyReplicas"),
                 (long long)json_integer_value(json_object_get(spec, "replicas")));
        containers_join(obj, "name", b, sizeof(b));
        containers_join(obj, "image", c, sizeof(c));
        return json_pack("[s,s,s,s,s]", name, a, age, b, c);
    case R_PODS: {
        size_t total = json_array_size(json_object_get(spec, "containers")), ready = 0, i;
        json_int_t restarts = 0;
        json_t *cs;
        json_array_foreach(json_object_get(status, "containerStatuses"), i, cs)
        {
            ready += json_is_true(json_object_get(cs, "ready"));
            restarts += json_integer_value(json_object_get(cs, "restartCount"));
        }
        snprintf(a, sizeof(a), "%zu/%zu", ready, total);
        const char *phase = json_string_value(json_object_get(status, "reason"));
        phase = phase ? phase : json_string_value(json_object_get(status, "phase"));
        if (obj_meta_str(obj, "deletionTimestamp")) {
            phase = "Terminating";
        }
        snprintf(b, sizeof(b), "%lld", (long long)restarts);
        const char *ip = json_string_value(json_object_get(status, "podIP"));
        const char *node = json_string_value(json_object_get(spec, "nodeName"));
        return json_pack("[s,s,s,s,s,s,s,s,s]", name, a, phase ? phase : "", b, age,
                         ip ? ip : "<none>", node ? node : "<none>", "<none>", "<none>");
    }
    case R_NODES: {
        const char *ready = "Unknown";
        size_t i;
        json_t *cond;
        json_array_foreach(json_object_get(status, "conditions"), i, cond)
        {
            const char *t = json_string_value(json_object_get(cond, "type"));
            const char *s = json_string_value(json_object_get(cond, "status"));
            if (t && s && strcmp(t, "Ready") == 0) {
                ready = strcmp(s, "True") == 0 ? "Ready" : "NotReady";
            }
        }
        snprintf(a, sizeof(a), "%s%s", ready,
                 json_is_true(json_object_get(spec, "unschedulable")) ? ",SchedulingDisabled" : "");
        size_t off = 0;
        const char *k;
        json_t *v;
        b[0] = '\0';
        json_object_foreach(json_object_get(json_object_get(obj, "metadata"), "labels"), k, v)
        {
            const char *role = NULL;
            if (strncmp(k, "node-role.kubernetes.io/", 24) == 0 && k[24]) {
                role = k + 24;
            } else if (strcmp(k, "kubernetes.io/role") == 0) {
                role = json_string_value(v);
            }
            if (role && off < sizeof(b)) {
                int n = snprintf(b + off, sizeof(b) - off, "%s%s", off ? "," : "", role);
                off += n > 0 ? (size_t)n : 0;
            }
        }
        const char *ver = json_string_value(
            json_object_get(json_object_get(status, "nodeInfo"), "kubeletVersion"));
        return json_pack("[s,s,s,s,s]", name, a, off ? b : "<none>", age, ver ? ver : "");
    }
    default:
        return NULL;
    }
}

static bool wants_table(kctx_t *x)
{
    const char *accept =
        MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    return accept && strstr(accept, "as=Table") && strstr(accept, "g=meta.k8s.io");
}

/* A Table of objs (borrowed array), or NULL when res has no printer. */
static json_t *make_table(const kfake_t *kf, int res, json_t *objs, const char *rv)
{
    json_t *cols = table_columns(res);
    if (!cols) {
        return NULL;
    }
    json_t *rows = json_array();
    size_t i;
    json_t *o;
    json_array_foreach(objs, i, o)
    {
        json_t *meta = json_deep_copy(json_object_get(o, "metadata"));
        json_array_append_new(rows,
                              json_pack("{s:o,s:{s:s,s:s,s:o}}", "cells", table_cells(kf, res, o),
                                        "object", "kind", "PartialObjectMetadata", "apiVersion",
                                        "meta.k8s.io/v1", "metadata", meta));
    }
    return json_pack("{s:s,s:s,s:{s:s},s:o,s:o}", "kind", "Table", "apiVersion", "meta.k8s.io/v1",
                     "metadata", "resourceVersion", rv, "columnDefinitions", cols, "rows", rows);
}

/* ---------------------------------------------------------------------------------------- */
/* Object handlers                                                                           */

static const char *arg(kctx_t *x, const char *name)
{
    return MHD_lookup_connection_value(x->conn, MHD_GET_ARGUMENT_KIND, name);
}

static int cmp_objs(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const char *xn = obj_meta_str(x, "namespace"), *yn = obj_meta_str(y, "namespace");
    int c = strcmp(xn ? xn : "", yn ? yn : "");
    return c ? c : strcmp(obj_meta_str(x, "name"), obj_meta_str(y, "name"));
}

/* Whether obj (of resource res) is seen by a list/watch on ns with the selectors. */
static bool obj_visible(int res, const json_t *obj, const char *ns, const tw_kfake_selector_t *ls,
                        const tw_kfake_selector_t *fs)
{
    if (RES[res].namespaced && ns && strcmp(obj_meta_str(obj, "namespace"), ns) != 0) {
        return false;
    }
    return tw_kfake_selector_match(ls, obj) && tw_kfake_selector_match(fs, obj);
}

static int parse_selectors(kctx_t *x, tw_kfake_selector_t **ls, tw_kfake_selector_t **fs)
{
    char msg[TW_KFAKE_MSG];
    *ls = *fs = NULL;
    if (tw_kfake_selector_parse(arg(x, "labelSelector"), false, ls, msg) != 0 ||
        tw_kfake_selector_parse(arg(x, "fieldSelector"), true, fs, msg) != 0) {
        tw_kfake_selector_free(*ls);
        *ls = NULL;
        reply_status(x, 400, "BadRequest", NULL, "%s", msg);
        return -1;
    }
    return 0;
}

static enum MHD_Result do_list(kctx_t *x, int res, const char *ns)
{
    kfake_t *kf = x->kf;
    tw_kfake_selector_t *ls, *fs;
    if (parse_selectors(x, &ls, &fs) != 0) {
        return MHD_YES;
    }
    json_t *items = json_array();
    char rv[32];
    pthread_mutex_lock(&kf->mu);
    snprintf(rv, sizeof(rv), "%" PRIu64, kf->rv);
    size_t n = 0;
    json_t **tmp = tw_xcalloc(kf->nobjs + 1, sizeof(*tmp));
    for (size_t i = 0; i < kf->nobjs; i++) {
        if (kf->objs[i].res == res && obj_visible(res, kf->objs[i].obj, ns, ls, fs)) {
            tmp[n++] = json_incref(kf->objs[i].obj);
        }
    }
    pthread_mutex_unlock(&kf->mu);
    tw_kfake_selector_free(ls);
    tw_kfake_selector_free(fs);
    qsort(tmp, n, sizeof(*tmp), cmp_objs);
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(items, tmp[i]);
    }
    free(tmp);
    if (wants_table(x)) {
        json_t *t = make_table(kf, res, items, rv);
        if (t) {
            json_decref(items);
            return reply_json(x, 200, t, NULL);
        }
    }
    /* List items carry no kind/apiVersion, as the apiserver encodes them. */
    json_t *plain = json_array();
    size_t i;
    json_t *o;
    json_array_foreach(items, i, o)
    {
        json_t *c = json_deep_copy(o);
        json_object_del(c, "kind");
        json_object_del(c, "apiVersion");
        json_array_append_new(plain, c);
    }
    json_decref(items);
    char kind[128], gv[128];
    snprintf(kind, sizeof(kind), "%sList", RES[res].kind);
    snprintf(gv, sizeof(gv), "%s%s%s", RES[res].group, RES[res].group[0] ? "/" : "",
             RES[res].version);
    return reply_json(x, 200,
                      json_pack("{s:s,s:s,s:{s:s},s:o}", "kind", kind, "apiVersion", gv, "metadata",
                                "resourceVersion", rv, "items", plain),
                      NULL);
}

/* The autoscaling/v1 Scale view of a deployment or statefulset (borrowed). */
static json_t *scale_of(const json_t *obj)
{
    json_t *m = json_object_get(obj, "metadata");
    json_t *spec = json_object_get(obj, "spec");
    json_int_t replicas = json_integer_value(json_object_get(spec, "replicas"));
    char *sel = tw_kfake_selector_format(json_object_get(spec, "selector"));
    json_t *s =
        json_pack("{s:s,s:s,s:{s:O,s:O,s:O,s:O,s:O},s:{},s:{s:I}}", "kind", "Scale", "apiVersion",
                  "autoscaling/v1", "metadata", "name", json_object_get(m, "name"), "namespace",
                  json_object_get(m, "namespace"), "uid", json_object_get(m, "uid"),
                  "resourceVersion", json_object_get(m, "resourceVersion"), "creationTimestamp",
                  json_object_get(m, "creationTimestamp"), "spec", "status", "replicas",
                  (json_int_t)status_int(obj, "replicas"));
    /* ScaleSpec.replicas is omitempty. */
    if (replicas) {
        json_object_set_new(json_object_get(s, "spec"), "replicas", json_integer(replicas));
    }
    if (*sel) {
        json_object_set_new(json_object_get(s, "status"), "selector", json_string(sel));
    }
    free(sel);
    return s;
}

static enum MHD_Result do_get(kctx_t *x, int res, const char *ns, const char *name, const char *sub)
{
    kfake_t *kf = x->kf;
    pthread_mutex_lock(&kf->mu);
    long at = find_obj(kf, res, ns, name);
    json_t *obj = at >= 0 ? json_incref(kf->objs[at].obj) : NULL;
    pthread_mutex_unlock(&kf->mu);
    if (!obj) {
        return reply_not_found(x, res, name);
    }
    json_t *out;
    if (sub && strcmp(sub, "scale") == 0) {
        out = scale_of(obj);
    } else if (!sub && wants_table(x) && table_columns(res)) {
        json_t *one = json_pack("[O]", obj);
        out = make_table(kf, res, one, obj_meta_str(obj, "resourceVersion"));
        json_decref(one);
    } else {
        out = json_incref(obj);
    }
    json_decref(obj);
    return reply_json(x, 200, out, NULL);
}

/* Parses the request body as JSON; on failure answers 400 and returns NULL. */
static json_t *body_json(kctx_t *x, const kreq_t *rq)
{
    json_error_t jerr;
    json_t *v = json_loadb(rq->body.data ? rq->body.data : "", rq->body.len, 0, &jerr);
    if (!v) {
        reply_status(x, 400, "BadRequest", NULL, "json: %s at line %d column %d", jerr.text,
                     jerr.line, jerr.column);
    }
    return v;
}

static const char *content_type(kctx_t *x, char *out, size_t outsz)
{
    const char *ct = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, "Content-Type");
    snprintf(out, outsz, "%s", ct ? ct : "application/json");
    char *semi = strchr(out, ';');
    if (semi) {
        *semi = '\0';
    }
    return out;
}

/*
 * Applies the request's patch to view (borrowed) by its Content-Type. Returns the patched
 * value, or NULL after answering 415/422/400.
 */
static json_t *apply_patch(kctx_t *x, const kreq_t *rq, const json_t *view, bool strategic_ok)
{
    char ct[128], msg[TW_KFAKE_MSG];
    content_type(x, ct, sizeof(ct));
    bool merge = strcmp(ct, "application/merge-patch+json") == 0;
    bool jsonp = strcmp(ct, "application/json-patch+json") == 0;
    bool smp = strcmp(ct, "application/strategic-merge-patch+json") == 0;
    if (!merge && !jsonp && !(smp && strategic_ok)) {
        reply_status(x, 415, "UnsupportedMediaType", NULL,
                     "the body of the request was in an unknown format - accepted media types "
                     "include: application/json-patch+json, application/merge-patch+json%s",
                     strategic_ok ? ", application/strategic-merge-patch+json" : "");
        return NULL;
    }
    json_t *patch = body_json(x, rq);
    if (!patch) {
        return NULL;
    }
    json_t *out;
    if (merge) {
        out = tw_kfake_patch_merge(view, patch);
    } else if (jsonp) {
        out = tw_kfake_patch_json(view, patch, msg);
    } else {
        out = tw_kfake_patch_strategic(view, patch, msg);
    }
    json_decref(patch);
    if (!out) {
        reply_status(x, 422, "Invalid", NULL, "%s", msg);
    } else if (!json_is_object(out)) {
        json_decref(out);
        out = NULL;
        reply_status(x, 400, "BadRequest", NULL, "the patched object is not a JSON object");
    }
    return out;
}

/* Whether next's metadata.resourceVersion (if any) differs from cur's: a 409. */
static bool stale_rv(const json_t *next, const json_t *cur)
{
    const char *want = obj_meta_str(next, "resourceVersion");
    return want && *want && strcmp(want, obj_meta_str(cur, "resourceVersion")) != 0;
}

/* ---------------------------------------------------------------------------------------- */
/* In-place resize (pods/resize) and the kubelet's answer                                    */

/* The outcome armed for a pod ("Done" when none). Called with kf->mu held. */
static const kresize_t *resize_find(const kfake_t *kf, const char *ns, const char *name)
{
    for (size_t i = 0; i < kf->nresizes; i++) {
        if (strcmp(kf->resizes[i].ns, ns) == 0 && strcmp(kf->resizes[i].name, name) == 0) {
            return &kf->resizes[i];
        }
    }
    return NULL;
}

/* Removes the resize conditions from a conditions array (borrowed, changed in place). */
static void conditions_drop_resize(json_t *conds)
{
    for (size_t i = json_array_size(conds); i > 0; i--) {
        const char *t = json_string_value(json_object_get(json_array_get(conds, i - 1), "type"));
        if (t && (strcmp(t, "PodResizePending") == 0 || strcmp(t, "PodResizeInProgress") == 0)) {
            json_array_remove(conds, i - 1);
        }
    }
}

/*
 * Sets the status of pod (a private copy about to be stored) as the kubelet reports the
 * resize: Done copies each container's spec resources into containerStatuses[].resources (and
 * requests into allocatedResources) and clears the resize state; InProgress sets the
 * PodResizeInProgress condition; Deferred and Infeasible set PodResizePending with that
 * reason. status.resize (the field before Kubernetes 1.33) mirrors it. Called with kf->mu held.
 */
static void resize_apply_status(const kfake_t *kf, json_t *pod, const char *outcome,
                                const char *message)
{
    json_t *st = json_object_get(pod, "status");
    if (!json_is_object(st)) {
        st = json_object();
        json_object_set_new(pod, "status", st);
    }
    json_t *conds = json_object_get(st, "conditions");
    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(st, "conditions", conds);
    }
    conditions_drop_resize(conds);
    char now[32];
    format_time(kf_now(kf), now, sizeof(now));
    if (strcmp(outcome, "Done") == 0) {
        json_object_del(st, "resize");
        size_t i, j;
        json_t *c, *cs;
        json_array_foreach(json_object_get(json_object_get(pod, "spec"), "containers"), i, c)
        {
            json_array_foreach(json_object_get(st, "containerStatuses"), j, cs)
            {
                if (json_equal(json_object_get(cs, "name"), json_object_get(c, "name"))) {
                    json_t *res = json_object_get(c, "resources");
                    json_object_set_new(cs, "resources", res ? json_deep_copy(res) : json_object());
                    json_t *req = json_object_get(res, "requests");
                    json_object_set_new(cs, "allocatedResources",
                                        req ? json_deep_copy(req) : json_object());
                }
            }
        }
        if (json_array_size(conds) == 0) {
            json_object_del(st, "conditions");
        }
        return;
    }
    bool pending = strcmp(outcome, "InProgress") != 0;
    json_t *cond =
        json_pack("{s:s,s:s,s:n,s:s}", "type", pending ? "PodResizePending" : "PodResizeInProgress",
                  "status", "True", "lastProbeTime", "lastTransitionTime", now);
    if (pending) {
        json_object_set_new(cond, "reason", json_string(outcome));
    }
    if (message && *message) {
        json_object_set_new(cond, "message", json_string(message));
    }
    json_array_append_new(conds, cond);
    json_object_set_new(st, "resize", json_string(outcome));
}

/*
 * What a kubelet with in-place resize (Kubernetes 1.33+) reports for every running container:
 * the resources it actually runs with, in containerStatuses[].resources (and the requests in
 * allocatedResources). Pods written through /_fake/objects often leave them out; before a
 * resize changes pod's spec, the statuses that lack them get those of the spec before the
 * change (before, borrowed), so a resize that does not complete leaves the old values visible,
 * as on a real node. Called with kf->mu held.
 */
static void status_fill_actual(json_t *pod, const json_t *before)
{
    size_t i, j;
    json_t *c, *cs;
    json_array_foreach(json_object_get(json_object_get(before, "spec"), "containers"), i, c)
    {
        json_array_foreach(json_object_get(json_object_get(pod, "status"), "containerStatuses"), j,
                           cs)
        {
            if (!json_equal(json_object_get(cs, "name"), json_object_get(c, "name")) ||
                json_object_get(cs, "resources") != NULL) {
                continue;
            }
            json_t *res = json_object_get(c, "resources");
            json_object_set_new(cs, "resources", res ? json_deep_copy(res) : json_object());
            json_t *req = json_object_get(res, "requests");
            if (json_object_get(cs, "allocatedResources") == NULL) {
                json_object_set_new(cs, "allocatedResources",
                                    req ? json_deep_copy(req) : json_object());
            }
        }
    }
}

/* The spec of pod (borrowed) without the containers' resources: what a resize must keep. */
static json_t *spec_without_resources(const json_t *pod)
{
    json_t *spec = json_deep_copy(json_object_get(pod, "spec"));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(spec, "containers"), i, c)
    {
        json_object_del(c, "resources");
    }
    return spec;
}

/* The kubelet's default message for an outcome armed without one. */
static const char *resize_default_message(const char *outcome)
{
    if (strcmp(outcome, "Infeasible") == 0) {
        return "Node didn't have enough capacity: cpu, requested: 64000, capacity: 2000";
    }
    if (strcmp(outcome, "Deferred") == 0) {
        return "Node didn't have enough resource: cpu, requested: 1000, used: 1800, capacity: "
               "2000";
    }
    return "";
}

/* PUT or PATCH of an object, its /status, its /scale or (pods) its /resize. */
static enum MHD_Result do_write(kctx_t *x, const kreq_t *rq, bool patch, int res, const char *ns,
                                const char *name, const char *sub)
{
    kfake_t *kf = x->kf;
    bool scale = sub && strcmp(sub, "scale") == 0;
    bool status = sub && strcmp(sub, "status") == 0;
    bool resize = sub && strcmp(sub, "resize") == 0;
    enum MHD_Result ret;
    json_t *in = NULL;
    if (!patch) {
        in = body_json(x, rq);
        if (!in) {
            return MHD_YES;
        }
        if (!json_is_object(in)) {
            json_decref(in);
            return reply_status(x, 400, "BadRequest", NULL, "the body must be a JSON object");
        }
    }
    pthread_mutex_lock(&kf->mu);
    long at = find_obj(kf, res, ns, name);
    if (at < 0) {
        pthread_mutex_unlock(&kf->mu);
        json_decref(in);
        return reply_not_found(x, res, name);
    }
    json_t *cur = kf->objs[at].obj;
    if (patch) {
        json_t *view = scale ? scale_of(cur) : json_incref(cur);
        in = apply_patch(x, rq, view, true);
        json_decref(view);
        if (!in) {
            pthread_mutex_unlock(&kf->mu);
            return MHD_YES;
        }
    }
    const char *in_name = obj_meta_str(in, "name");
    if (!patch && in_name && strcmp(in_name, name) != 0) {
        pthread_mutex_unlock(&kf->mu);
        ret = reply_status(x, 400, "BadRequest", NULL,
                           "the name of the object (%s) does not match the name on the URL (%s)",
                           in_name, name);
        json_decref(in);
        return ret;
    }
    if (stale_rv(in, cur)) {
        pthread_mutex_unlock(&kf->mu);
        json_decref(in);
        return reply_conflict(x, res, name);
    }
    json_t *next;
    if (scale) {
        json_t *r = json_object_get(json_object_get(in, "spec"), "replicas");
        json_int_t replicas = json_integer_value(r);
        if (r && !json_is_integer(r)) {
            pthread_mutex_unlock(&kf->mu);
            json_decref(in);
            return reply_status(
                x, 400, "BadRequest", NULL,
                "json: cannot unmarshal into Go struct field ScaleSpec.spec.replicas "
                "of type int32");
        }
        if (replicas < 0) {
            pthread_mutex_unlock(&kf->mu);
            json_decref(in);
            char m[128];
            snprintf(m, sizeof(m), "Invalid value: %lld: must be greater than or equal to 0",
                     (long long)replicas);
            json_t *d = json_pack("{s:s,s:s,s:s,s:[{s:s,s:s,s:s}]}", "name", name, "group",
                                  "autoscaling", "kind", "Scale", "causes", "reason",
                                  "FieldValueInvalid", "message", m, "field", "spec.replicas");
            return reply_status(x, 422, "Invalid", d,
                                "Scale.autoscaling \"%s\" is invalid: "
                                "spec.replicas: %s",
                                name, m);
        }
        next = json_deep_copy(cur);
        json_object_set_new(json_object_get(next, "spec"), "replicas", json_integer(replicas));
    } else if (status) {
        next = json_deep_copy(cur);
        json_object_set(next, "status", json_object_get(in, "status"));
    } else if (resize) {
        /* Only the containers' resources may change (kube-apiserver: 422 otherwise). */
        json_t *want = spec_without_resources(in), *have = spec_without_resources(cur);
        bool same = json_equal(want, have);
        json_decref(want);
        json_decref(have);
        if (!same) {
            pthread_mutex_unlock(&kf->mu);
            json_decref(in);
            return reply_status(
                x, 422, "Invalid",
                json_pack("{s:s,s:s,s:[{s:s,s:s,s:s}]}", "name", name, "kind", "Pod", "causes",
                          "reason", "FieldValueForbidden", "message",
                          "Forbidden: only cpu and memory resources are mutable", "field", "spec"),
                "Pod \"%s\" is invalid: spec: Forbidden: only cpu and memory "
                "resources are mutable",
                name);
        }
        next = json_deep_copy(cur);
        json_object_set(next, "spec", json_object_get(in, "spec"));
        if (!json_equal(json_object_get(next, "spec"), json_object_get(cur, "spec"))) {
            const kresize_t *k = resize_find(kf, ns, name);
            const char *outcome = k ? k->outcome : "Done";
            const char *msg = k && k->message ? k->message : resize_default_message(outcome);
            status_fill_actual(next, cur);
            resize_apply_status(kf, next, outcome, msg);
        }
    } else {
        next = json_deep_copy(in);
        json_object_del(next, "status");
        if (!RES[res].status && json_object_get(in, "status")) {
            json_object_set(next, "status", json_object_get(in, "status"));
        } else if (json_object_get(cur, "status")) {
            json_object_set(next, "status", json_object_get(cur, "status"));
        }
        json_object_set(next, "kind", json_object_get(cur, "kind"));
        json_object_set(next, "apiVersion", json_object_get(cur, "apiVersion"));
        if (!json_is_object(json_object_get(next, "metadata"))) {
            json_object_set_new(next, "metadata", json_object());
        }
        if (res == R_DEPLOYMENTS || res == R_STATEFULSETS || res == R_PODS) {
            default_spec(res, next);
        }
    }
    json_decref(in);
    json_t *stored = json_incref(store_replace(kf, (size_t)at, next));
    pthread_mutex_unlock(&kf->mu);
    ret = reply_json(x, 200, scale ? scale_of(stored) : json_incref(stored), NULL);
    json_decref(stored);
    return ret;
}

/* ---------------------------------------------------------------------------------------- */
/* Mutating admission webhooks (MutatingWebhookConfiguration, admission.k8s.io/v1)           */

static void log_admission(kfake_t *kf, const char *url, const char *webhook, int status);

/* Largest AdmissionReview response read from a webhook. */
#define KF_MAX_ADMISSION_BYTES (3u * 1024 * 1024)

static size_t curl_sink(char *p, size_t size, size_t n, void *ud)
{
    return tw_buf_append(ud, p, size * n) == 0 ? size * n : 0;
}

/* Whether a list of strings (borrowed) contains want or "*". */
static bool list_has(const json_t *list, const char *want)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *s = json_string_value(v);
        if (s && (strcmp(s, want) == 0 || strcmp(s, "*") == 0)) {
            return true;
        }
    }
    return false;
}

/* Whether one webhook's rules select CREATE of core/v1 pods. */
static bool webhook_wants_pod_create(const json_t *wh)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(wh, "rules"), i, r)
    {
        if (list_has(json_object_get(r, "operations"), "CREATE") &&
            list_has(json_object_get(r, "apiGroups"), "") &&
            list_has(json_object_get(r, "apiVersions"), "v1") &&
            list_has(json_object_get(r, "resources"), "pods")) {
            return true;
        }
    }
    return false;
}

/*
 * Calls one webhook with review (borrowed). Returns 0 with *resp (the AdmissionReview's
 * response object, a new reference), or -1 with msg (the apiserver's "failed to call webhook"
 * wording).
 */
static int webhook_call(kfake_t *kf, const json_t *wh, const char *name, const json_t *review,
                        json_t **resp, char *msg, size_t msgsz)
{
    const json_t *cc = json_object_get(wh, "clientConfig");
    const char *url = json_string_value(json_object_get(cc, "url"));
    if (!url) {
        snprintf(msg, msgsz, "failed to call webhook: only clientConfig.url is supported");
        log_admission(kf, "", name, 0);
        return -1;
    }
    long timeout_s = 10;
    const json_t *ts = json_object_get(wh, "timeoutSeconds");
    if (json_is_integer(ts) && json_integer_value(ts) > 0) {
        timeout_s = (long)json_integer_value(ts);
    }
    unsigned char *ca = NULL;
    size_t ca_len = 0;
    const char *bundle = json_string_value(json_object_get(cc, "caBundle"));
    if (bundle && *bundle) {
        ca = tw_kfake_base64_decode(bundle, &ca_len);
        if (!ca) {
            snprintf(msg, msgsz, "failed to call webhook: clientConfig.caBundle is not base64");
            log_admission(kf, url, name, 0);
            return -1;
        }
    }
    char *body = json_dumps(review, JSON_COMPACT);
    tw_buf_t out;
    tw_buf_init(&out, KF_MAX_ADMISSION_BYTES);
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Accept: application/json, */*");
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (ca) {
        struct curl_blob blob = {.data = ca, .len = ca_len, .flags = CURL_BLOB_COPY};
        curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
    }
    CURLcode cr = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    free(body);
    free(ca);
    int rc = -1;
    if (cr != CURLE_OK) {
        snprintf(msg, msgsz, "failed to call webhook: Post \"%s\": %s", url,
                 errbuf[0] ? errbuf : curl_easy_strerror(cr));
    } else if (code != 200) {
        snprintf(msg, msgsz, "received invalid webhook response: expected status 200, got %ld",
                 code);
    } else {
        json_error_t jerr;
        json_t *v = json_loadb(out.data ? out.data : "", out.len, 0, &jerr);
        json_t *r = json_object_get(v, "response");
        if (!json_is_object(r)) {
            snprintf(msg, msgsz, "received invalid webhook response: %s",
                     v ? "response is missing" : jerr.text);
        } else {
            *resp = json_incref(r);
            rc = 0;
        }
        json_decref(v);
    }
    log_admission(kf, url, name, cr == CURLE_OK ? (int)code : 0);
    tw_buf_fini(&out);
    return rc;
}

/*
 * Runs every MutatingWebhookConfiguration whose rules select pod creation on *objp (owned; may
 * be replaced by the patched pod), the way kube-apiserver's mutating admission does: an
 * AdmissionReview v1 request per webhook, in store order; a JSONPatch response is applied; a
 * denial is a 400 (or the response's status code) "admission webhook \"W\" denied the
 * request"; a call failure is ignored with failurePolicy Ignore and a 500 "failed calling
 * webhook" otherwise (Fail is the v1 default). Returns 0, or -1 after answering the request.
 */
static int admit_pod(kctx_t *x, json_t **objp, const char *ns)
{
    kfake_t *kf = x->kf;
    json_t *configs = json_array();
    pthread_mutex_lock(&kf->mu);
    for (size_t i = 0; i < kf->nobjs; i++) {
        if (kf->objs[i].res == R_MUTATING_WEBHOOKS) {
            json_array_append(configs, kf->objs[i].obj);
        }
    }
    pthread_mutex_unlock(&kf->mu);
    int rc = 0;
    size_t i, j;
    json_t *cfg, *wh;
    json_array_foreach(configs, i, cfg)
    {
        json_array_foreach(json_object_get(cfg, "webhooks"), j, wh)
        {
            if (!webhook_wants_pod_create(wh)) {
                continue;
            }
            const char *whname = json_string_value(json_object_get(wh, "name"));
            whname = whname ? whname : "";
            pthread_mutex_lock(&kf->mu);
            uint64_t seq = ++kf->admission_seq;
            pthread_mutex_unlock(&kf->mu);
            char uid[40];
            snprintf(uid, sizeof(uid), "00000000-0000-4000-8000-%012" PRIx64, seq);
            json_t *gvk = json_pack("{s:s,s:s,s:s}", "group", "", "version", "v1", "kind", "Pod");
            json_t *gvr =
                json_pack("{s:s,s:s,s:s}", "group", "", "version", "v1", "resource", "pods");
            json_t *req =
                json_pack("{s:s,s:O,s:O,s:O,s:O,s:s,s:s,s:{s:s},s:O,s:n,s:b,s:{s:s,s:s}}", "uid",
                          uid, "kind", gvk, "resource", gvr, "requestKind", gvk, "requestResource",
                          gvr, "namespace", ns, "operation", "CREATE", "userInfo", "username",
                          x->user ? x->user : "", "object", *objp, "oldObject", "dryRun", 0,
                          "options", "kind", "CreateOptions", "apiVersion", "meta.k8s.io/v1");
            json_decref(gvk);
            json_decref(gvr);
            const char *pname = obj_meta_str(*objp, "name");
            if (pname && *pname) {
                json_object_set_new(req, "name", json_string(pname));
            }
            json_t *review = json_pack("{s:s,s:s,s:o}", "kind", "AdmissionReview", "apiVersion",
                                       "admission.k8s.io/v1", "request", req);
            json_t *resp = NULL;
            char msg[768];
            int call = webhook_call(kf, wh, whname, review, &resp, msg, sizeof(msg));
            json_decref(review);
            const char *policy = json_string_value(json_object_get(wh, "failurePolicy"));
            bool ignore = policy && strcmp(policy, "Ignore") == 0;
            const char *got_uid = json_string_value(json_object_get(resp, "uid"));
            if (call == 0 && (!got_uid || strcmp(got_uid, uid) != 0)) {
                snprintf(msg, sizeof(msg),
                         "received invalid webhook response: expected response.uid=\"%s\", "
                         "got \"%s\"",
                         uid, got_uid ? got_uid : "");
                call = -1;
            }
            if (call == 0 && !json_is_true(json_object_get(resp, "allowed"))) {
                const json_t *st = json_object_get(resp, "status");
                json_int_t code = json_integer_value(json_object_get(st, "code"));
                const char *m = json_string_value(json_object_get(st, "message"));
                reply_status(x, code >= 400 ? (int)code : 400, "BadRequest", NULL,
                             "admission webhook \"%s\" denied the request%s%s", whname,
                             m ? ": " : "", m ? m : "");
                json_decref(resp);
                rc = -1;
                goto out;
            }
            const char *pt = json_string_value(json_object_get(resp, "patchType"));
            const char *patch = json_string_value(json_object_get(resp, "patch"));
            if (call == 0 && patch) {
                size_t plen = 0;
                unsigned char *raw = pt && strcmp(pt, "JSONPatch") == 0
                                         ? tw_kfake_base64_decode(patch, &plen)
                                         : NULL;
                json_t *ops = raw ? json_loadb((const char *)raw, plen, 0, NULL) : NULL;
                char pmsg[TW_KFAKE_MSG] = "";
                json_t *next = ops ? tw_kfake_patch_json(*objp, ops, pmsg) : NULL;
                if (!next || !json_is_object(next)) {
                    snprintf(msg, sizeof(msg),
                             "received invalid webhook response: the JSON patch (patchType %s) "
                             "cannot be applied: %s",
                             pt ? pt : "none", pmsg[0] ? pmsg : "not a base64 JSON array");
                    json_decref(next);
                    call = -1;
                } else {
                    json_decref(*objp);
                    *objp = next;
                }
                json_decref(ops);
                free(raw);
            }
            json_decref(resp);
            if (call != 0 && !ignore) {
                reply_status(x, 500, "InternalError", NULL,
                             "Internal error occurred: failed calling webhook \"%s\": %s", whname,
                             msg);
                rc = -1;
                goto out;
            }
            if (call != 0 && !kf->quiet) {
                fprintf(stderr,
                        "level=warn component=kube_fake msg=\"failed calling webhook, failing "
                        "open\" webhook=%s err=\"%s\"\n",
                        whname, msg);
            }
        }
    }
out:
    json_decref(configs);
    return rc;
}

static enum MHD_Result do_create(kctx_t *x, const kreq_t *rq, int res, const char *ns)
{
    kfake_t *kf = x->kf;
    json_t *in = body_json(x, rq);
    if (!in) {
        return MHD_YES;
    }
    const char *bns = obj_meta_str(in, "namespace");
    if (RES[res].namespaced && bns && ns && strcmp(bns, ns) != 0) {
        json_decref(in);
        return reply_status(x, 400, "BadRequest", NULL,
                            "the namespace of the provided object does not match the namespace "
                            "sent on the request");
    }
    if (RES[res].namespaced && !ns) {
        json_decref(in);
        return reply_no_route(x);
    }
    if (res == R_PODS && json_is_object(in)) {
        /* Mutating admission sees the defaulted object, before the name is generated. */
        if (!json_is_object(json_object_get(in, "metadata"))) {
            json_object_set_new(in, "metadata", json_object());
        }
        json_object_set_new(json_object_get(in, "metadata"), "namespace", json_string(ns));
        default_spec(R_PODS, in);
        if (admit_pod(x, &in, ns) != 0) {
            json_decref(in);
            return MHD_YES;
        }
    }
    pthread_mutex_lock(&kf->mu);
    const char *name = obj_meta_str(in, "name");
    const char *gen = obj_meta_str(in, "generateName");
    char genbuf[256];
    if ((!name || !*name) && gen) {
        /* Deterministic suffix: the next resourceVersion in base 36. */
        char sfx[8];
        uint64_t v = kf->rv + 1;
        for (int i = 0; i < 5; i++) {
            sfx[i] = "bcdfghjklmnpqrstvwxz2456789"[v % 27];
            v /= 27;
        }
        sfx[5] = '\0';
        snprintf(genbuf, sizeof(genbuf), "%s%s", gen, sfx);
        json_object_set_new(json_object_get(in, "metadata"), "name", json_string(genbuf));
        name = genbuf;
    }
    if (!name || !*name) {
        pthread_mutex_unlock(&kf->mu);
        json_decref(in);
        char q[128];
        res_qualified(&RES[res], NULL, q, sizeof(q));
        return reply_status(x, 422, "Invalid", NULL,
                            "%s \"\" is invalid: metadata.name: Required value: name or "
                            "generateName is required",
                            q);
    }
    if (RES[res].namespaced && find_obj(kf, R_NAMESPACES, "", ns) < 0) {
        pthread_mutex_unlock(&kf->mu);
        json_decref(in);
        return reply_status(x, 404, "NotFound",
                            json_pack("{s:s,s:s}", "name", ns, "kind", "namespaces"),
                            "namespaces \"%s\" not found", ns);
    }
    if (find_obj(kf, res, ns ? ns : "", name) >= 0) {
        char q[128], nm[256];
        res_qualified(&RES[res], NULL, q, sizeof(q));
        snprintf(nm, sizeof(nm), "%s", name);
        pthread_mutex_unlock(&kf->mu);
        json_decref(in);
        return reply_status(x, 409, "AlreadyExists", details_for(&RES[res], nm),
                            "%s \"%s\" already exists", q, nm);
    }
    char created[32];
    format_time(kf_now(kf), created, sizeof(created));
    json_object_del(json_object_get(in, "metadata"), "creationTimestamp");
    json_object_del(json_object_get(in, "metadata"), "uid");
    json_t *obj = normalize_new(kf, res, in, ns ? ns : "", created);
    json_t *stored = json_incref(store_insert(kf, res, obj));
    pthread_mutex_unlock(&kf->mu);
    return reply_json(x, 201, stored, NULL);
}

static enum MHD_Result do_delete(kctx_t *x, int res, const char *ns, const char *name)
{
    kfake_t *kf = x->kf;
    pthread_mutex_lock(&kf->mu);
    long at = find_obj(kf, res, ns, name);
    json_t *gone = at >= 0 ? store_delete(kf, (size_t)at) : NULL;
    pthread_mutex_unlock(&kf->mu);
    if (!gone) {
        return reply_not_found(x, res, name);
    }
    return reply_json(x, 200, gone, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Eviction (pods/eviction) and PodDisruptionBudgets                                         */

static bool pod_ready(const json_t *pod)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(pod, "status"), "conditions"), i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t && strcmp(t, "Ready") == 0) {
            const char *st = json_string_value(json_object_get(c, "status"));
            return st && strcmp(st, "True") == 0;
        }
    }
    return false;
}

/*
 * An IntOrString of a PDB (minAvailable or maxUnavailable) against expected pods: an integer,
 * or "N%" of expected rounded up (the disruption controller's GetScaledValueFromIntOrPercent
 * with roundUp). Returns -1 for a malformed value.
 */
static long pdb_scaled(const json_t *v, long expected)
{
    if (json_is_integer(v)) {
        return (long)json_integer_value(v);
    }
    const char *s = json_string_value(v);
    char *end = NULL;
    long pct = s ? strtol(s, &end, 10) : -1;
    if (!s || end == s || strcmp(end, "%") != 0 || pct < 0) {
        return -1;
    }
    return (expected * pct + 99) / 100;
}

/*
 * POST pods/{name}/eviction: the Eviction API. A pod that is Pending, Succeeded or Failed goes
 * at once; otherwise every PodDisruptionBudget of the namespace whose selector matches the pod
 * is checked (more than one is a 500, as kube-apiserver says): desired healthy pods from
 * minAvailable, or from the matching pods minus maxUnavailable; healthy = matching Ready pods.
 * When evicting would leave fewer than desired (and the pod is Ready), 429 with the
 * apiserver's message; else the pod is deleted and a Success Status (201) returned.
 */
static enum MHD_Result do_evict(kctx_t *x, const kreq_t *rq, const char *ns, const char *name)
{
    kfake_t *kf = x->kf;
    json_t *in = body_json(x, rq);
    if (!in) {
        return MHD_YES;
    }
    const char *bname = obj_meta_str(in, "name");
    if (bname && *bname && strcmp(bname, name) != 0) {
        json_decref(in);
        return reply_status(x, 400, "BadRequest", NULL,
                            "name in URL does not match name in Eviction object");
    }
    json_decref(in);
    pthread_mutex_lock(&kf->mu);
    long at = find_obj(kf, R_PODS, ns, name);
    if (at < 0) {
        pthread_mutex_unlock(&kf->mu);
        return reply_not_found(x, R_PODS, name);
    }
    const json_t *pod = kf->objs[at].obj;
    const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
    bool ignore_pdb = phase && (strcmp(phase, "Pending") == 0 || strcmp(phase, "Succeeded") == 0 ||
                                strcmp(phase, "Failed") == 0);
    const json_t *pdb = NULL;
    int npdbs = 0;
    tw_kfake_selector_t *pdb_sel = NULL;
    for (size_t i = 0; i < kf->nobjs && !ignore_pdb; i++) {
        const kobj_t *o = &kf->objs[i];
        if (o->res != R_PDBS || strcmp(o->ns, ns) != 0) {
            continue;
        }
        json_t *ls = json_object_get(json_object_get(o->obj, "spec"), "selector");
        char *sel = tw_kfake_selector_format(ls);
        tw_kfake_selector_t *ps = NULL;
        char msg[TW_KFAKE_MSG];
        /* An empty selector matches nothing in policy/v1 for eviction purposes. */
        if (*sel && tw_kfake_selector_parse(sel, false, &ps, msg) == 0 &&
            tw_kfake_selector_match(ps, pod)) {
            npdbs++;
            pdb = o->obj;
            tw_kfake_selector_free(pdb_sel);
            pdb_sel = ps;
        } else {
            tw_kfake_selector_free(ps);
        }
        free(sel);
    }
    if (npdbs > 1) {
        pthread_mutex_unlock(&kf->mu);
        tw_kfake_selector_free(pdb_sel);
        return reply_status(x, 500, "InternalError", NULL,
                            "This pod has more than one PodDisruptionBudget, which the eviction "
                            "subresource does not support.");
    }
    if (pdb) {
        long expected = 0, healthy = 0;
        for (size_t i = 0; i < kf->nobjs; i++) {
            const kobj_t *o = &kf->objs[i];
            if (o->res == R_PODS && strcmp(o->ns, ns) == 0 &&
                tw_kfake_selector_match(pdb_sel, o->obj)) {
                expected++;
                healthy += pod_ready(o->obj);
            }
        }
        const json_t *spec = json_object_get(pdb, "spec");
        const json_t *min = json_object_get(spec, "minAvailable");
        const json_t *maxu = json_object_get(spec, "maxUnavailable");
        long desired = min    ? pdb_scaled(min, expected)
                       : maxu ? expected - pdb_scaled(maxu, expected)
                              : 0;
        bool ready = pod_ready(pod);
        if (desired < 0 || (ready && healthy - 1 < desired) || (!ready && healthy < desired)) {
            char cause[256];
            snprintf(cause, sizeof(cause),
                     "The disruption budget %s needs %ld healthy pods and has %ld currently",
                     obj_meta_str(pdb, "name"), desired, healthy);
            pthread_mutex_unlock(&kf->mu);
            tw_kfake_selector_free(pdb_sel);
            return reply_json(x, 429,
                              status_body(429, "TooManyRequests",
                                          "Cannot evict pod as it would violate the pod's "
                                          "disruption budget.",
                                          json_pack("{s:[{s:s,s:s}]}", "causes", "reason",
                                                    "DisruptionBudget", "message", cause)),
                              NULL);
        }
    }
    tw_kfake_selector_free(pdb_sel);
    json_decref(store_delete(kf, (size_t)at));
    pthread_mutex_unlock(&kf->mu);
    return reply_json(x, 201,
                      json_pack("{s:s,s:s,s:{},s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                                "metadata", "status", "Success", "code", 201),
                      NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Watch                                                                                     */

typedef struct {
    kfake_t *kf;
    int res;
    char *ns; /* NULL: all namespaces */
    tw_kfake_selector_t *ls, *fs;
    uint64_t since;  /* events with rv > since are still to send */
    time_t deadline; /* 0: none */
    tw_buf_t pending;
    size_t off;
    bool done; /* end the stream once pending is sent */
} kwatch_t;

static void watch_emit(kwatch_t *w, const char *type, const json_t *obj)
{
    json_t *ev = json_pack("{s:s,s:O}", "type", type, "object", obj);
    char *s = json_dumps(ev, JSON_COMPACT);
    tw_buf_puts(&w->pending, s);
    tw_buf_putc(&w->pending, '\n');
    free(s);
    json_decref(ev);
}

static void watch_expired(kwatch_t *w, uint64_t asked, uint64_t oldest)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "too old resource version: %" PRIu64 " (%" PRIu64 ")", asked,
             oldest);
    json_t *st = status_body(410, "Expired", msg, NULL);
    watch_emit(w, "ERROR", st);
    json_decref(st);
    w->done = true;
}

/* Moves the events after w->since into w->pending. Called with kf->mu held. */
static void watch_collect(kwatch_t *w)
{
    kfake_t *kf = w->kf;
    if (w->since < kf->compacted_rv) {
        watch_expired(w, w->since, kf->compacted_rv + 1);
        return;
    }
    for (size_t i = 0; i < kf->nevents; i++) {
        const kevent_t *e = &kf->events[i];
        if (e->rv <= w->since) {
            continue;
        }
        w->since = e->rv;
        if (e->res != w->res) {
            continue;
        }
        bool now = obj_visible(e->res, e->obj, w->ns, w->ls, w->fs);
        bool before = e->prev ? obj_visible(e->res, e->prev, w->ns, w->ls, w->fs) : false;
        const char *type = e->type;
        if (strcmp(type, "MODIFIED") == 0) {
            type = now && before ? "MODIFIED" : now ? "ADDED" : before ? "DELETED" : NULL;
        } else if (!now) {
            type = NULL;
        }
        if (type) {
            watch_emit(w, type, e->obj);
        }
    }
}

static ssize_t watch_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    kwatch_t *w = cls;
    kfake_t *kf = w->kf;
    if (w->off >= w->pending.len) {
        tw_buf_reset(&w->pending);
        w->off = 0;
        if (w->done) {
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        pthread_mutex_lock(&kf->mu);
        for (;;) {
            if (kf->stopping) {
                w->done = true;
                break;
            }
            watch_collect(w);
            if (w->pending.len > 0) {
                break;
            }
            time_t now = time(NULL);
            if (w->deadline && now >= w->deadline) {
                w->done = true;
                break;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&kf->changed, &kf->mu, &ts);
        }
        pthread_mutex_unlock(&kf->mu);
        if (w->pending.len == 0) {
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
    }
    size_t n = w->pending.len - w->off;
    n = n < max ? n : max;
    memcpy(buf, w->pending.data + w->off, n);
    w->off += n;
    return (ssize_t)n;
}

static void watch_free(void *cls)
{
    kwatch_t *w = cls;
    free(w->ns);
    tw_kfake_selector_free(w->ls);
    tw_kfake_selector_free(w->fs);
    tw_buf_fini(&w->pending);
    free(w);
}

static enum MHD_Result do_watch(kctx_t *x, int res, const char *ns)
{
    kfake_t *kf = x->kf;
    kwatch_t *w = tw_xcalloc(1, sizeof(*w));
    w->kf = kf;
    w->res = res;
    w->ns = ns ? tw_xstrdup(ns) : NULL;
    tw_buf_init(&w->pending, 0);
    if (parse_selectors(x, &w->ls, &w->fs) != 0) {
        watch_free(w);
        return MHD_YES;
    }
    const char *to = arg(x, "timeoutSeconds");
    if (to && *to) {
        w->deadline = time(NULL) + strtol(to, NULL, 10);
    }
    const char *rv = arg(x, "resourceVersion");
    pthread_mutex_lock(&kf->mu);
    if (!rv || !*rv || strcmp(rv, "0") == 0) {
        /* No starting point: the current state as ADDED events, then the changes. */
        json_t **tmp = tw_xcalloc(kf->nobjs + 1, sizeof(*tmp));
        size_t n = 0;
        for (size_t i = 0; i < kf->nobjs; i++) {
            if (kf->objs[i].res == res && obj_visible(res, kf->objs[i].obj, ns, w->ls, w->fs)) {
                tmp[n++] = kf->objs[i].obj;
            }
        }
        qsort(tmp, n, sizeof(*tmp), cmp_objs);
        for (size_t i = 0; i < n; i++) {
            watch_emit(w, "ADDED", tmp[i]);
        }
        free(tmp);
        w->since = kf->rv;
    } else {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(rv, &end, 10);
        if (errno || *end) {
            pthread_mutex_unlock(&kf->mu);
            watch_free(w);
            return reply_status(x, 400, "BadRequest", NULL,
                                "resourceVersion: Invalid value: \"%s\": must be a number", rv);
        }
        w->since = v;
        if (w->since < kf->compacted_rv) {
            watch_expired(w, w->since, kf->compacted_rv + 1);
        }
    }
    pthread_mutex_unlock(&kf->mu);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, watch_read, w, watch_free);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
    x->status = 200;
    enum MHD_Result ret = MHD_queue_response(x->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---------------------------------------------------------------------------------------- */
/* Routing of /api and /apis                                                                 */

#define MAX_SEGS 12

/* Splits path in place at '/' into at most MAX_SEGS non-empty segments. */
static size_t split_path(char *path, char *segs[MAX_SEGS])
{
    size_t n = 0;
    char *p = path;
    while (*p && n < MAX_SEGS) {
        while (*p == '/') {
            *p++ = '\0';
        }
        if (!*p) {
            break;
        }
        segs[n++] = p;
        while (*p && *p != '/') {
            p++;
        }
    }
    return n;
}

static const char *verb_of(const char *method, bool named, bool watch)
{
    if (strcmp(method, "GET") == 0) {
        return named ? "get" : watch ? "watch" : "list";
    }
    if (strcmp(method, "POST") == 0) {
        return "create";
    }
    if (strcmp(method, "PUT") == 0) {
        return "update";
    }
    if (strcmp(method, "PATCH") == 0) {
        return "patch";
    }
    if (strcmp(method, "DELETE") == 0) {
        return named ? "delete" : "deletecollection";
    }
    return "unknown";
}

static bool is_true_arg(const char *v)
{
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0);
}

/* A parsed object route. */
typedef struct {
    int res;
    const char *ns;
    const char *name;
    const char *sub;
} kroute_t;

/*
 * Resolves /api/v1/... and /apis/G/V/... (segs after the group-version) to a resource.
 * Returns 0, or -1 when the path names no resource.
 */
static int route_object(const char *group, const char *version, char **rest, size_t n, kroute_t *r)
{
    memset(r, 0, sizeof(*r));
    if (n >= 3 && strcmp(rest[0], "namespaces") == 0) {
        int res = res_find(group, version, rest[2]);
        if (res >= 0 && RES[res].namespaced) {
            r->res = res;
            r->ns = rest[1];
            r->name = n > 3 ? rest[3] : NULL;
            r->sub = n > 4 ? rest[4] : NULL;
            return n > 5 ? -1 : 0;
        }
    }
    if (n == 0) {
        return -1;
    }
    int res = res_find(group, version, rest[0]);
    if (res < 0) {
        return -1;
    }
    r->res = res;
    r->name = n > 1 ? rest[1] : NULL;
    r->sub = n > 2 ? rest[2] : NULL;
    return n > 3 ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Faults and the request log                                                                */

static const char *action_name(kfault_action_t a)
{
    static const char *const names[] = {"conflict", "throttle", "error", "delay", "drop"};
    return names[a];
}

/* Takes the first armed fault matching the request (decrementing its count), or returns false. */
static bool fault_take(kfake_t *kf, const char *method, const char *path, kfault_t *out)
{
    bool found = false;
    pthread_mutex_lock(&kf->mu);
    for (size_t i = 0; i < kf->nfaults && !found; i++) {
        kfault_t *f = &kf->faults[i];
        if (f->remaining <= 0 || (f->method && strcasecmp(f->method, method) != 0)) {
            continue;
        }
        bool match =
            f->prefix ? strncmp(path, f->path, strlen(f->path)) == 0 : strcmp(path, f->path) == 0;
        if (match) {
            f->remaining--;
            *out = *f;
            found = true;
        }
    }
    pthread_mutex_unlock(&kf->mu);
    return found;
}

static enum MHD_Result query_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    tw_buf_t *b = cls;
    if (b->len) {
        tw_buf_putc(b, '&');
    }
    tw_buf_printf(b, "%s=%s", key, value ? value : "");
    return MHD_YES;
}

static void log_request(kctx_t *x)
{
    kfake_t *kf = x->kf;
    tw_buf_t q;
    tw_buf_init(&q, 0);
    MHD_get_connection_values(x->conn, MHD_GET_ARGUMENT_KIND, query_iter, &q);
    pthread_mutex_lock(&kf->mu);
    if (kf->nlog < KF_MAX_LOG) {
        tw_grow((void **)&kf->log, &kf->caplog, kf->nlog + 1, sizeof(*kf->log));
        klog_t *l = &kf->log[kf->nlog++];
        l->method = tw_xstrdup(x->method);
        l->path = tw_xstrdup(x->url);
        l->query = tw_xstrdup(q.data ? q.data : "");
        l->status = x->status;
    }
    pthread_mutex_unlock(&kf->mu);
    if (!kf->quiet) {
        fprintf(stderr, "level=info component=kube_fake method=%s path=%s query=\"%s\" status=%d\n",
                x->method, x->url, q.data ? q.data : "", x->status);
    }
    tw_buf_fini(&q);
}

/* A webhook call in the request log: method ADMIT, path the URL, query webhook=NAME. */
static void log_admission(kfake_t *kf, const char *url, const char *webhook, int status)
{
    char q[300];
    snprintf(q, sizeof(q), "webhook=%s", webhook);
    pthread_mutex_lock(&kf->mu);
    if (kf->nlog < KF_MAX_LOG) {
        tw_grow((void **)&kf->log, &kf->caplog, kf->nlog + 1, sizeof(*kf->log));
        klog_t *l = &kf->log[kf->nlog++];
        l->method = tw_xstrdup("ADMIT");
        l->path = tw_xstrdup(url);
        l->query = tw_xstrdup(q);
        l->status = status;
    }
    pthread_mutex_unlock(&kf->mu);
    if (!kf->quiet) {
        fprintf(stderr,
                "level=info component=kube_fake method=ADMIT path=%s query=\"%s\" status=%d\n", url,
                q, status);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* The control API (/_fake/...)                                                              */

static void log_clear(kfake_t *kf)
{
    for (size_t i = 0; i < kf->nlog; i++) {
        free(kf->log[i].method);
        free(kf->log[i].path);
        free(kf->log[i].query);
    }
    kf->nlog = 0;
}

static void faults_clear(kfake_t *kf)
{
    for (size_t i = 0; i < kf->nfaults; i++) {
        free(kf->faults[i].method);
        free(kf->faults[i].path);
    }
    kf->nfaults = 0;
}

static enum MHD_Result ctl_requests(kctx_t *x)
{
    kfake_t *kf = x->kf;
    if (strcmp(x->method, "DELETE") == 0) {
        pthread_mutex_lock(&kf->mu);
        log_clear(kf);
        pthread_mutex_unlock(&kf->mu);
        return reply_json(x, 200, json_object(), NULL);
    }
    json_t *counts = json_object();
    json_t *reqs = json_array();
    pthread_mutex_lock(&kf->mu);
    for (size_t i = 0; i < kf->nlog; i++) {
        const klog_t *l = &kf->log[i];
        char key[1024];
        snprintf(key, sizeof(key), "%s %s", l->method, l->path);
        json_object_set_new(counts, key,
                            json_integer(json_integer_value(json_object_get(counts, key)) + 1));
        json_array_append_new(reqs, json_pack("{s:s,s:s,s:s,s:i}", "method", l->method, "path",
                                              l->path, "query", l->query, "status", l->status));
    }
    pthread_mutex_unlock(&kf->mu);
    return reply_json(x, 200, json_pack("{s:o,s:o}", "counts", counts, "requests", reqs), NULL);
}

static enum MHD_Result ctl_faults(kctx_t *x, const kreq_t *rq)
{
    kfake_t *kf = x->kf;
    if (strcmp(x->method, "DELETE") == 0) {
        pthread_mutex_lock(&kf->mu);
        faults_clear(kf);
        pthread_mutex_unlock(&kf->mu);
        return reply_json(x, 200, json_object(), NULL);
    }
    if (strcmp(x->method, "GET") == 0) {
        json_t *list = json_array();
        pthread_mutex_lock(&kf->mu);
        for (size_t i = 0; i < kf->nfaults; i++) {
            const kfault_t *f = &kf->faults[i];
            json_array_append_new(list, json_pack("{s:i,s:s,s:s,s:b,s:i,s:s}", "id", f->id,
                                                  "method", f->method ? f->method : "",
                                                  f->prefix ? "pathPrefix" : "path", f->path,
                                                  "prefix", f->prefix, "remaining", f->remaining,
                                                  "action", action_name(f->action)));
        }
        pthread_mutex_unlock(&kf->mu);
        return reply_json(x, 200, json_pack("{s:o}", "faults", list), NULL);
    }
    json_t *in = body_json(x, rq);
    if (!in) {
        return MHD_YES;
    }
    kfault_t f;
    memset(&f, 0, sizeof(f));
    const char *action = json_string_value(json_object_get(in, "action"));
    const char *path = json_string_value(json_object_get(in, "path"));
    const char *prefix = json_string_value(json_object_get(in, "pathPrefix"));
    const char *method = json_string_value(json_object_get(in, "method"));
    json_t *count = json_object_get(in, "count");
    f.remaining = count ? (int)json_integer_value(count) : 1;
    f.retry_after_s = (int)json_integer_value(json_object_get(in, "retryAfterSeconds"));
    f.delay_ms = (int)json_integer_value(json_object_get(in, "delayMs"));
    f.status = (int)json_integer_value(json_object_get(in, "status"));
    int ai = -1;
    for (int i = 0; action && i < 5; i++) {
        ai = strcmp(action, action_name((kfault_action_t)i)) == 0 ? i : ai;
    }
    if (ai < 0 || (!path && !prefix) || f.remaining <= 0) {
        json_decref(in);
        return reply_status(x, 400, "BadRequest", NULL,
                            "a fault needs action (conflict|throttle|error|delay|drop), path or "
                            "pathPrefix, and count > 0");
    }
    f.action = (kfault_action_t)ai;
    f.prefix = !path;
    f.path = tw_xstrdup(path ? path : prefix);
    f.method = method && *method ? tw_xstrdup(method) : NULL;
    if (f.action == F_THROTTLE && f.retry_after_s <= 0) {
        f.retry_after_s = 1;
    }
    if (f.action == F_ERROR && f.status == 0) {
        f.status = 500;
    }
    json_decref(in);
    pthread_mutex_lock(&kf->mu);
    f.id = ++kf->next_fault_id;
    tw_grow((void **)&kf->faults, &kf->capfaults, kf->nfaults + 1, sizeof(*kf->faults));
    kf->faults[kf->nfaults++] = f;
    pthread_mutex_unlock(&kf->mu);
    return reply_json(x, 201, json_pack("{s:i}", "id", f.id), NULL);
}

/* /_fake/objects[/{plural}[/{ns}]/{name}]: dump, upsert (PUT), merge-patch incl. status
 * (PATCH), delete; no preconditions, but watch events as for any write. */
static enum MHD_Result ctl_objects(kctx_t *x, const kreq_t *rq, char **segs, size_t n)
{
    kfake_t *kf = x->kf;
    if (n == 0 && strcmp(x->method, "GET") == 0) {
        json_t *all = json_array();
        pthread_mutex_lock(&kf->mu);
        for (size_t i = 0; i < kf->nobjs; i++) {
            json_array_append(all, kf->objs[i].obj);
        }
        json_t *out = json_pack("{s:I,s:o}", "resourceVersion", (json_int_t)kf->rv, "items", all);
        pthread_mutex_unlock(&kf->mu);
        return reply_json(x, 200, out, NULL);
    }
    int res = -1;
    for (size_t i = 0; n > 0 && i < NRES; i++) {
        res = strcmp(RES[i].plural, segs[0]) == 0 ? (int)i : res;
    }
    if (res < 0 || n != (RES[res].namespaced ? 3u : 2u)) {
        return reply_status(x, 404, "NotFound", NULL,
                            "control path is /_fake/objects/{plural}/[{namespace}/]{name}");
    }
    const char *ns = RES[res].namespaced ? segs[1] : "";
    const char *name = segs[n - 1];
    json_t *in = NULL;
    if (strcmp(x->method, "PUT") == 0 || strcmp(x->method, "PATCH") == 0) {
        in = body_json(x, rq);
        if (!in) {
            return MHD_YES;
        }
    }
    if (res == R_PODS && strcmp(x->method, "PUT") == 0 && json_is_object(in)) {
        /* A pod created here goes through the mutating webhooks too (as the kubelet's pods
         * would through the apiserver); an existing one is just replaced. */
        pthread_mutex_lock(&kf->mu);
        bool exists = find_obj(kf, res, ns, name) >= 0;
        pthread_mutex_unlock(&kf->mu);
        if (!exists) {
            json_t *m = json_object_get(in, "metadata");
            if (!json_is_object(m)) {
                m = json_object();
                json_object_set_new(in, "metadata", m);
            }
            json_object_set_new(m, "name", json_string(name));
            json_object_set_new(m, "namespace", json_string(ns));
            if (admit_pod(x, &in, ns) != 0) {
                json_decref(in);
                return MHD_YES;
            }
        }
    }
    pthread_mutex_lock(&kf->mu);
    long at = find_obj(kf, res, ns, name);
    json_t *out = NULL;
    int code = 200;
    if (strcmp(x->method, "GET") == 0 && at >= 0) {
        out = json_incref(kf->objs[at].obj);
    } else if (strcmp(x->method, "DELETE") == 0 && at >= 0) {
        out = store_delete(kf, (size_t)at);
    } else if (strcmp(x->method, "PATCH") == 0 && at >= 0) {
        json_t *next = tw_kfake_patch_merge(kf->objs[at].obj, in);
        out = json_incref(store_replace(kf, (size_t)at, next));
    } else if (strcmp(x->method, "PUT") == 0) {
        json_t *m = json_object_get(in, "metadata");
        if (!json_is_object(m)) {
            m = json_object();
            json_object_set_new(in, "metadata", m);
        }
        json_object_set_new(m, "name", json_string(name));
        if (at >= 0) {
            json_t *next = json_deep_copy(in);
            json_object_set(next, "kind", json_object_get(kf->objs[at].obj, "kind"));
            json_object_set(next, "apiVersion", json_object_get(kf->objs[at].obj, "apiVersion"));
            out = json_incref(store_replace(kf, (size_t)at, next));
        } else {
            if (RES[res].namespaced) {
                ensure_namespace(kf, ns);
            }
            const char *c = obj_meta_str(in, "creationTimestamp");
            char created[32];
            format_time(kf_now(kf), created, sizeof(created));
            json_t *obj = normalize_new(kf, res, json_deep_copy(in), ns, c ? c : created);
            if (json_object_get(in, "status")) {
                json_object_set(obj, "status", json_object_get(in, "status"));
            }
            out = json_incref(store_insert(kf, res, obj));
            code = 201;
        }
    }
    pthread_mutex_unlock(&kf->mu);
    json_decref(in);
    if (!out) {
        return reply_not_found(x, res, name);
    }
    return reply_json(x, code, out, NULL);
}

/*
 * /_fake/podstatus/{ns}/{name}: {"phase": "Running", "ready": true, "startTime": "...",
 * "restartCount": 0, "podIP": "..."}: sets the pod's phase, Ready condition and the
 * containerStatuses that kubectl and the HPA look at.
 */
static enum MHD_Result ctl_podstatus(kctx_t *x, const kreq_t *rq, char **segs, size_t n)
{
    kfake_t *kf = x->kf;
    if (n != 2) {
        return reply_status(x, 404, "NotFound", NULL,
                            "control path is /_fake/podstatus/{ns}/{name}");
    }
    json_t *in = body_json(x, rq);
    if (!in) {
        return MHD_YES;
    }
    pthread_mutex_lock(&kf->mu);
    long at = find_obj(kf, R_PODS, segs[0], segs[1]);
    if (at < 0) {
        pthread_mutex_unlock(&kf->mu);
        json_decref(in);
        return reply_not_found(x, R_PODS, segs[1]);
    }
    json_t *next = json_deep_copy(kf->objs[at].obj);
    json_t *st = json_object_get(next, "status");
    if (!json_is_object(st)) {
        st = json_object();
        json_object_set_new(next, "status", st);
    }
    json_t *v;
    if ((v = json_object_get(in, "phase"))) {
        json_object_set(st, "phase", v);
    }
    if ((v = json_object_get(in, "startTime"))) {
        json_object_set(st, "startTime", v);
    }
    if ((v = json_object_get(in, "podIP"))) {
        json_object_set(st, "podIP", v);
    }
    json_t *ready = json_object_get(in, "ready");
    json_t *restarts = json_object_get(in, "restartCount");
    if (ready || restarts) {
        bool r = ready ? json_is_true(ready) : false;
        const char *when = json_string_value(json_object_get(st, "startTime"));
        char nowbuf[32];
        format_time(kf_now(kf), nowbuf, sizeof(nowbuf));
        json_t *conds = json_array();
        static const char *const types[] = {"Initialized", "Ready", "ContainersReady",
                                            "PodScheduled"};
        for (size_t i = 0; i < 4; i++) {
            bool s = (i == 1 || i == 2) ? r : true;
            json_array_append_new(conds, json_pack("{s:s,s:s,s:n,s:s}", "type", types[i], "status",
                                                   s ? "True" : "False", "lastProbeTime",
                                                   "lastTransitionTime", when ? when : nowbuf));
        }
        json_object_set_new(st, "conditions", conds);
        json_t *css = json_array();
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(json_object_get(next, "spec"), "containers"), i, c)
        {
            json_array_append_new(css,
                                  json_pack("{s:O,s:b,s:I,s:O,s:b}", "name",
                                            json_object_get(c, "name"), "ready", r, "restartCount",
                                            restarts ? json_integer_value(restarts) : (json_int_t)0,
                                            "image", json_object_get(c, "image"), "started",
                                            json_is_true(json_object_get(in, "started")) || r));
        }
        json_object_set_new(st, "containerStatuses", css);
    }
    json_decref(in);
    json_t *out = json_incref(store_replace(kf, (size_t)at, next));
    pthread_mutex_unlock(&kf->mu);
    return reply_json(x, 200, out, NULL);
}

/*
 * /_fake/resize/{ns}/{name}: {"outcome": "Done" | "InProgress" | "Deferred" | "Infeasible",
 * "message": "...", "apply": bool}: how the kubelet answers the pod's next in-place resizes
 * (sticky; Done, the default, forgets the entry). With apply the pod's status is set now too.
 */
static enum MHD_Result ctl_resize(kctx_t *x, const kreq_t *rq, char **segs, size_t n)
{
    kfake_t *kf = x->kf;
    if (n != 2) {
        return reply_status(x, 404, "NotFound", NULL, "control path is /_fake/resize/{ns}/{name}");
    }
    json_t *in = body_json(x, rq);
    if (!in) {
        return MHD_YES;
    }
    const char *outcome = json_string_value(json_object_get(in, "outcome"));
    static const char *const ok[] = {"Done", "InProgress", "Deferred", "Infeasible"};
    bool valid = false;
    for (size_t i = 0; outcome && i < 4; i++) {
        valid = valid || strcmp(outcome, ok[i]) == 0;
    }
    if (!valid) {
        json_decref(in);
        return reply_status(x, 400, "BadRequest", NULL,
                            "outcome must be Done, InProgress, Deferred or Infeasible");
    }
    const char *message = json_string_value(json_object_get(in, "message"));
    pthread_mutex_lock(&kf->mu);
    size_t at = kf->nresizes;
    for (size_t i = 0; i < kf->nresizes; i++) {
        if (strcmp(kf->resizes[i].ns, segs[0]) == 0 && strcmp(kf->resizes[i].name, segs[1]) == 0) {
            at = i;
        }
    }
    if (at < kf->nresizes) {
        free(kf->resizes[at].ns);
        free(kf->resizes[at].name);
        free(kf->resizes[at].message);
        kf->resizes[at] = kf->resizes[--kf->nresizes];
    }
    if (strcmp(outcome, "Done") != 0) {
        tw_grow((void **)&kf->resizes, &kf->capresizes, kf->nresizes + 1, sizeof(*kf->resizes));
        kresize_t *k = &kf->resizes[kf->nresizes++];
        k->ns = tw_xstrdup(segs[0]);
        k->name = tw_xstrdup(segs[1]);
        snprintf(k->outcome, sizeof(k->outcome), "%s", outcome);
        k->message = message ? tw_xstrdup(message) : NULL;
    }
    json_t *out = NULL;
    long p = find_obj(kf, R_PODS, segs[0], segs[1]);
    if (p >= 0 && json_is_true(json_object_get(in, "apply"))) {
        json_t *next = json_deep_copy(kf->objs[p].obj);
        resize_apply_status(kf, next, outcome, message ? message : resize_default_message(outcome));
        out = json_incref(store_replace(kf, (size_t)p, next));
    } else if (p >= 0) {
        out = json_incref(kf->objs[p].obj);
    }
    pthread_mutex_unlock(&kf->mu);
    json_decref(in);
    return reply_json(x, 200, out ? out : json_pack("{s:s}", "outcome", outcome), NULL);
}

static enum MHD_Result ctl_config(kctx_t *x, const kreq_t *rq)
{
    kfake_t *kf = x->kf;
    json_t *in = NULL;
    if (strcmp(x->method, "GET") != 0) {
        in = body_json(x, rq);
        if (!in) {
            return MHD_YES;
        }
    }
    pthread_mutex_lock(&kf->mu);
    json_t *v;
    if ((v = json_object_get(in, "controller"))) {
        kf->controller = json_is_true(v);
    }
    if ((v = json_object_get(in, "now"))) {
        time_t t;
        if (json_is_string(v) && parse_time(json_string_value(v), &t) == 0) {
            kf->now_fixed = t;
        } else if (json_is_null(v)) {
            kf->now_fixed = 0;
        }
    }
    char now[32];
    format_time(kf_now(kf), now, sizeof(now));
    json_t *out = json_pack("{s:b,s:s,s:I}", "controller", kf->controller, "now", now,
                            "resourceVersion", (json_int_t)kf->rv);
    pthread_mutex_unlock(&kf->mu);
    json_decref(in);
    return reply_json(x, 200, out, NULL);
}

static enum MHD_Result dispatch_control(kctx_t *x, const kreq_t *rq, char *path)
{
    char *segs[MAX_SEGS];
    size_t n = split_path(path, segs);
    /* segs[0] is "_fake" */
    if (n >= 2 && strcmp(segs[1], "requests") == 0) {
        return ctl_requests(x);
    }
    if (n >= 2 && strcmp(segs[1], "faults") == 0) {
        return ctl_faults(x, rq);
    }
    if (n >= 2 && strcmp(segs[1], "objects") == 0) {
        return ctl_objects(x, rq, segs + 2, n - 2);
    }
    if (n >= 2 && strcmp(segs[1], "podstatus") == 0 && strcmp(x->method, "POST") == 0) {
        return ctl_podstatus(x, rq, segs + 2, n - 2);
    }
    if (n >= 2 && strcmp(segs[1], "config") == 0) {
        return ctl_config(x, rq);
    }
    if (n >= 2 && strcmp(segs[1], "resize") == 0 && strcmp(x->method, "POST") == 0) {
        return ctl_resize(x, rq, segs + 2, n - 2);
    }
    if (n >= 2 && strcmp(segs[1], "healthz") == 0) {
        return reply_raw(x, 200, "text/plain", tw_xstrdup("ok"), 2, NULL);
    }
    return reply_status(x, 404, "NotFound", NULL, "unknown control endpoint %s", x->url);
}

/* ---------------------------------------------------------------------------------------- */
/* Dispatch                                                                                  */

/* Authenticates the bearer token: 0 ok (x->user set), or answers 401 and returns -1. */
static int authenticate(kctx_t *x)
{
    kfake_t *kf = x->kf;
    if (!kf->token && !kf->ro_token) {
        x->user = "system:anonymous";
        return 0;
    }
    const char *h = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, "Authorization");
    const char *tok = h && strncasecmp(h, "Bearer ", 7) == 0 ? h + 7 : NULL;
    if (tok && kf->token && strcmp(tok, kf->token) == 0) {
        x->user = "admin";
        return 0;
    }
    if (tok && kf->ro_token && strcmp(tok, kf->ro_token) == 0) {
        x->user = kf->ro_user;
        return 0;
    }
    reply_json(x, 401, status_body(401, "Unauthorized", "Unauthorized", NULL), NULL);
    return -1;
}

static bool is_read_only_user(const kctx_t *x)
{
    return x->kf->ro_token && x->user == x->kf->ro_user;
}

/* Answers an injected fault. Returns true when the request is answered (or dropped). */
static bool apply_fault(kctx_t *x, const kfault_t *f, const kroute_t *route, bool has_route,
                        enum MHD_Result *ret)
{
    char num[16];
    switch (f->action) {
    case F_DELAY:
        usleep((useconds_t)f->delay_ms * 1000);
        return false;
    case F_DROP:
        x->status = 0;
        *ret = MHD_NO;
        return true;
    case F_CONFLICT:
        if (has_route && route->name) {
            *ret = reply_conflict(x, route->res, route->name);
        } else {
            *ret = reply_status(x, 409, "Conflict", NULL,
                                "Operation cannot be fulfilled: "
                                "the object has been modified; please apply your changes to "
                                "the latest version and try again");
        }
        return true;
    case F_THROTTLE: {
        snprintf(num, sizeof(num), "%d", f->retry_after_s);
        json_t *st =
            status_body(429, "TooManyRequests", "Too many requests, please try again later.",
                        json_pack("{s:i}", "retryAfterSeconds", f->retry_after_s));
        char *s = json_dumps(st, JSON_COMPACT);
        json_decref(st);
        size_t n = strlen(s);
        char *t = tw_xrealloc(s, n + 2);
        t[n] = '\n';
        t[n + 1] = '\0';
        *ret = reply_raw(x, 429, "application/json", t, n + 1, num);
        return true;
    }
    case F_ERROR: {
        const char *reason = f->status == 503   ? "ServiceUnavailable"
                             : f->status == 504 ? "Timeout"
                                                : "InternalError";
        *ret = reply_status(x, f->status, reason,
                            json_pack("{s:[{s:s}]}", "causes", "message", "injected fault"),
                            "Internal error occurred: injected fault");
        return true;
    }
    }
    return false;
}

static enum MHD_Result dispatch(kctx_t *x, const kreq_t *rq)
{
    kfake_t *kf = x->kf;
    char path[2048];
    snprintf(path, sizeof(path), "%s", x->url);
    if (strncmp(path, "/_fake/", 7) == 0) {
        return dispatch_control(x, rq, path);
    }
    if (rq->too_big) {
        return reply_status(x, 413, "RequestEntityTooLarge", NULL,
                            "Request entity too large: limit is %u", KF_MAX_BODY_BYTES);
    }
    if (authenticate(x) != 0) {
        return MHD_YES;
    }
    char *segs[MAX_SEGS];
    size_t n = split_path(path, segs);
    kroute_t route;
    bool has_route = false;
    const char *group = NULL, *version = NULL;
    char **rest = NULL;
    size_t nrest = 0;
    if (n >= 2 && strcmp(segs[0], "api") == 0 && strcmp(segs[1], "v1") == 0) {
        group = "";
        version = "v1";
        rest = segs + 2;
        nrest = n - 2;
    } else if (n >= 3 && strcmp(segs[0], "apis") == 0) {
        group = segs[1];
        version = segs[2];
        rest = segs + 3;
        nrest = n - 3;
    }
    if (group && nrest > 0) {
        has_route = route_object(group, version, rest, nrest, &route) == 0;
    }
    bool watch = is_true_arg(arg(x, "watch"));
    const char *verb = has_route ? verb_of(x->method, route.name != NULL, watch) : "get";
    if (has_route && is_read_only_user(x) && strcmp(verb, "get") != 0 &&
        strcmp(verb, "list") != 0 && strcmp(verb, "watch") != 0) {
        char q[128], what[160];
        res_qualified(&RES[route.res], NULL, q, sizeof(q));
        snprintf(what, sizeof(what), "%s%s%s", RES[route.res].plural, route.sub ? "/" : "",
                 route.sub ? route.sub : "");
        char where[160];
        if (route.ns) {
            snprintf(where, sizeof(where), "in the namespace \"%s\"", route.ns);
        } else {
            snprintf(where, sizeof(where), "at the cluster scope");
        }
        if (route.name) {
            return reply_status(x, 403, "Forbidden", details_for(&RES[route.res], route.name),
                                "%s \"%s\" is forbidden: User \"%s\" cannot %s resource \"%s\" in "
                                "API group \"%s\" %s",
                                q, route.name, x->user, verb, what, RES[route.res].group, where);
        }
        return reply_status(x, 403, "Forbidden", details_for(&RES[route.res], NULL),
                            "%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API group "
                            "\"%s\" %s",
                            q, x->user, verb, what, RES[route.res].group, where);
    }
    kfault_t fault;
    if (fault_take(kf, x->method, x->url, &fault)) {
        enum MHD_Result ret;
        bool answered = apply_fault(x, &fault, &route, has_route, &ret);
        if (answered) {
            return ret;
        }
    }
    if (strcmp(x->method, "GET") == 0) {
        if (n == 1 && strcmp(segs[0], "version") == 0) {
            return reply_json(x, 200,
                              json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "major", "1",
                                        "minor", "32", "gitVersion", "v1.32.4", "gitCommit",
                                        "0000000000000000000000000000000000000000", "gitTreeState",
                                        "clean", "buildDate", "2025-04-22T16:03:24Z", "goVersion",
                                        "go1.23.6", "compiler", "gc", "platform", "linux/amd64"),
                              NULL);
        }
        if (n == 1 && strcmp(segs[0], "api") == 0) {
            return reply_json(x, 200,
                              json_pack("{s:s,s:[s],s:[{s:s,s:s}]}", "kind", "APIVersions",
                                        "versions", "v1", "serverAddressByClientCIDRs",
                                        "clientCIDR", "0.0.0.0/0", "serverAddress",
                                        kf->server_address),
                              NULL);
        }
        if (n == 1 && strcmp(segs[0], "apis") == 0) {
            return reply_json(x, 200, api_group_list(), NULL);
        }
        if (n == 2 && strcmp(segs[0], "apis") == 0) {
            json_t *g = api_group(segs[1]);
            if (g) {
                json_object_set_new(g, "kind", json_string("APIGroup"));
                json_object_set_new(g, "apiVersion", json_string("v1"));
                return reply_json(x, 200, g, NULL);
            }
            return reply_no_route(x);
        }
        if (group && nrest == 0) {
            json_t *l = api_resource_list(group, version);
            return l ? reply_json(x, 200, l, NULL) : reply_no_route(x);
        }
        if (n == 1 && (strcmp(segs[0], "healthz") == 0 || strcmp(segs[0], "readyz") == 0 ||
                       strcmp(segs[0], "livez") == 0)) {
            return reply_raw(x, 200, "text/plain; charset=utf-8", tw_xstrdup("ok"), 2, NULL);
        }
    }
    if (!has_route) {
        if (group) {
            return reply_no_route(x);
        }
        return reply_raw(x, 404, "text/plain; charset=utf-8", tw_xstrdup("404 page not found\n"),
                         19, NULL);
    }
    const kres_t *r = &RES[route.res];
    bool pod_sub = route.res == R_PODS && route.sub &&
                   (strcmp(route.sub, "resize") == 0 || strcmp(route.sub, "eviction") == 0);
    if (route.sub && !(strcmp(route.sub, "status") == 0 && r->status) &&
        !(strcmp(route.sub, "scale") == 0 && r->scale) && !pod_sub) {
        return reply_no_route(x);
    }
    if (pod_sub && strcmp(route.sub, "eviction") == 0) {
        if (strcmp(x->method, "POST") != 0 || !route.ns) {
            return reply_status(x, 405, "MethodNotAllowed", NULL,
                                "the server does not allow this method on the requested resource");
        }
        return do_evict(x, rq, route.ns, route.name);
    }
    const char *ns = route.ns;
    const char *nsname = r->namespaced ? (ns ? ns : "") : "";
    if (strcmp(x->method, "GET") == 0) {
        if (route.name) {
            return do_get(x, route.res, nsname, route.name, route.sub);
        }
        return watch ? do_watch(x, route.res, ns) : do_list(x, route.res, ns);
    }
    if (strcmp(x->method, "POST") == 0 && !route.name) {
        return do_create(x, rq, route.res, ns);
    }
    if ((strcmp(x->method, "PUT") == 0 || strcmp(x->method, "PATCH") == 0) && route.name) {
        return do_write(x, rq, strcmp(x->method, "PATCH") == 0, route.res, nsname, route.name,
                        route.sub);
    }
    if (strcmp(x->method, "DELETE") == 0 && route.name && !route.sub) {
        return do_delete(x, route.res, nsname, route.name);
    }
    return reply_status(x, 405, "MethodNotAllowed", NULL,
                        "the server does not allow this method on the requested resource");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    kreq_t *rq = *con_cls;
    if (!rq) {
        rq = tw_xcalloc(1, sizeof(*rq));
        tw_buf_init(&rq->body, KF_MAX_BODY_BYTES);
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (tw_buf_append(&rq->body, upload_data, *upload_data_size) != 0) {
            rq->too_big = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    kctx_t x = {.kf = cls, .conn = conn, .method = method, .url = url, .status = 0};
    enum MHD_Result ret = dispatch(&x, rq);
    if (strncmp(url, "/_fake/", 7) != 0) {
        log_request(&x);
    }
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    kreq_t *rq = *con_cls;
    if (rq) {
        tw_buf_fini(&rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* main                                                                                      */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kube_fake [--listen ADDR] [--port N] [--port-file F] [--tls-cert F "
            "--tls-key F]\n"
            "                 [--token T] [--readonly-token T [--readonly-user U]] [--seed F]...\n"
            "                 [--seed-time RFC3339] [--now RFC3339] [--no-controller] [--quiet]\n"
            "Prints the port on stdout when ready; stops on SIGTERM/SIGINT. See "
            "tests/fakes/README.md.\n");
}

static char *read_all(const char *path)
{
    tw_buf_t b;
    tw_error_t err;
    tw_buf_init(&b, 1u << 20);
    if (tw_buf_read_file(&b, path, &err) != 0) {
        fprintf(stderr, "kube_fake: %s: %s\n", path, err.msg);
        tw_buf_fini(&b);
        return NULL;
    }
    return tw_buf_steal(&b, NULL);
}

static void kf_fini(kfake_t *kf)
{
    for (size_t i = 0; i < kf->nobjs; i++) {
        json_decref(kf->objs[i].obj);
        free(kf->objs[i].ns);
        free(kf->objs[i].name);
    }
    free(kf->objs);
    for (size_t i = 0; i < kf->nevents; i++) {
        json_decref(kf->events[i].obj);
        json_decref(kf->events[i].prev);
    }
    free(kf->events);
    log_clear(kf);
    free(kf->log);
    faults_clear(kf);
    free(kf->faults);
    for (size_t i = 0; i < kf->nresizes; i++) {
        free(kf->resizes[i].ns);
        free(kf->resizes[i].name);
        free(kf->resizes[i].message);
    }
    free(kf->resizes);
    free(kf->token);
    free(kf->ro_token);
    free(kf->ro_user);
    pthread_mutex_destroy(&kf->mu);
    pthread_cond_destroy(&kf->changed);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"port-file", required_argument, NULL, 'P'},
                                         {"tls-cert", required_argument, NULL, 'c'},
                                         {"tls-key", required_argument, NULL, 'k'},
                                         {"token", required_argument, NULL, 't'},
                                         {"readonly-token", required_argument, NULL, 'r'},
                                         {"readonly-user", required_argument, NULL, 'u'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"seed-time", required_argument, NULL, 'S'},
                                         {"now", required_argument, NULL, 'n'},
                                         {"no-controller", no_argument, NULL, 'C'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    kfake_t kf;
    memset(&kf, 0, sizeof(kf));
    pthread_mutex_init(&kf.mu, NULL);
    pthread_cond_init(&kf.changed, NULL);
    kf.rv = 1000;
    kf.controller = true;
    snprintf(kf.seed_time, sizeof(kf.seed_time), "2026-01-01T00:00:00Z");
    const char *listen = "127.0.0.1", *port_file = NULL, *cert_file = NULL, *key_file = NULL;
    long port = 0;
    json_t *docs = json_array();
    char *cert = NULL, *key = NULL;
    struct MHD_Daemon *d = NULL;
    int rc = 2, c;
    char msg[TW_KFAKE_MSG];
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 'p':
            port = strtol(optarg, NULL, 10);
            break;
        case 'P':
            port_file = optarg;
            break;
        case 'c':
            cert_file = optarg;
            break;
        case 'k':
            key_file = optarg;
            break;
        case 't':
            free(kf.token);
            kf.token = tw_xstrdup(optarg);
            break;
        case 'r':
            free(kf.ro_token);
            kf.ro_token = tw_xstrdup(optarg);
            break;
        case 'u':
            free(kf.ro_user);
            kf.ro_user = tw_xstrdup(optarg);
            break;
        case 's':
            if (tw_kfake_yaml_load(optarg, docs, msg) != 0) {
                fprintf(stderr, "kube_fake: %s\n", msg);
                goto out;
            }
            break;
        case 'S': {
            time_t t;
            if (parse_time(optarg, &t) != 0) {
                fprintf(stderr, "kube_fake: --seed-time: want RFC 3339, got %s\n", optarg);
                goto out;
            }
            format_time(t, kf.seed_time, sizeof(kf.seed_time));
            break;
        }
        case 'n':
            if (parse_time(optarg, &kf.now_fixed) != 0) {
                fprintf(stderr, "kube_fake: --now: want RFC 3339, got %s\n", optarg);
                goto out;
            }
            break;
        case 'C':
            kf.controller = false;
            break;
        case 'q':
            kf.quiet = true;
            break;
        case 'h':
            usage(stdout);
            rc = 0;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (!kf.ro_user) {
        kf.ro_user = tw_xstrdup("readonly");
    }
    if ((cert_file != NULL) != (key_file != NULL) || port < 0 || port > 65535) {
        usage(stderr);
        goto out;
    }
    if (seed_load(&kf, docs, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "kube_fake: %s\n", msg);
        goto out;
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, listen, &sa.sin_addr) != 1) {
        fprintf(stderr, "kube_fake: --listen: want an IPv4 address, got %s\n", listen);
        goto out;
    }
    /* Signals go to sigwait() below, never to a handler: block them before any thread. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: webhook calls use libcurl */
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    if (cert_file) {
        if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
            fprintf(stderr, "kube_fake: this libmicrohttpd has no TLS support\n");
            rc = 3;
            goto out;
        }
        cert = read_all(cert_file);
        key = read_all(key_file);
        if (!cert || !key) {
            goto out;
        }
        flags |= MHD_USE_TLS;
        d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &kf, MHD_OPTION_SOCK_ADDR, &sa,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, &kf,
                             MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_KEY, key,
                             MHD_OPTION_END);
    } else {
        d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &kf, MHD_OPTION_SOCK_ADDR, &sa,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, &kf, MHD_OPTION_END);
    }
    if (!d) {
        fprintf(stderr, "kube_fake: cannot listen on %s:%ld\n", listen, port);
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info ? info->port : (unsigned)port;
    snprintf(kf.server_address, sizeof(kf.server_address), "%s:%u", listen, bound);
    if (port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%u\n", bound) < 0 || fclose(f) != 0 || rename(tmp, port_file) != 0) {
            fprintf(stderr, "kube_fake: cannot write %s: %s\n", port_file, strerror(errno));
            goto out;
        }
    }
    printf("%u\n", bound);
    fflush(stdout);
    int sig = 0;
    sigwait(&sigs, &sig);
    rc = 0;
out:
    if (d) {
        pthread_mutex_lock(&kf.mu);
        kf.stopping = true;
        pthread_cond_broadcast(&kf.changed);
        pthread_mutex_unlock(&kf.mu);
        MHD_stop_daemon(d);
    }
    free(cert);
    free(key);
    json_decref(docs);
    kf_fini(&kf);
    return rc;
}
