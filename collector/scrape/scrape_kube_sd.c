/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape_kube_sd.c - kubernetes_sd_configs: targets from the Kubernetes API, with the
 * __meta_kubernetes_* labels Prometheus' discovery/kubernetes/{node,pod,endpoints}.go give them.
 *
 * Two halves. The builders (tw_scrape_kube_{node,pod,endpoints}_group) are pure: one API object
 * in, one target group out, exactly as Prometheus builds it (group labels from the object's
 * metadata, one target per container port / endpoint address and port / node). The runtime
 * starts, per namespace (or once for all namespaces), one thread per watched resource (pods;
 * nodes; endpoints plus the services and pods they point at), each with its own API client from
 * common/kube.h running tw_kube_watch_run(); every thread keeps its objects in a JSON object keyed
 * "namespace/name", bumps a generation counter on each change and wakes the scrape manager,
 * whose thread then asks for a fresh snapshot of the groups (tw_scrape_kube_sd_groups()).
 *
 * Thread model: the watch threads write their stores under the run's mutex; the manager's
 * thread reads them under the same mutex. Stopping sets a flag every watch checks at least every
 * 200 ms (also inside a transfer) and joins the threads.
 */
#include "scrape_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kube.h"
#include "common/mem.h"

#define META "__meta_kubernetes_"

/* ---- label sets ---------------------------------------------------------------------------- */

/* A small map of owned (name, value) pairs; set() replaces an existing name. */
typedef struct kls {
    tw_label_t *v;
    size_t n, cap;
} kls_t;

static void kls_set(kls_t *l, const char *name, const char *value)
{
    if (value == NULL) {
        value = "";
    }
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].name, name) == 0) {
            free((char *)l->v[i].value);
            l->v[i].value = tw_xstrdup(value);
            return;
        }
    }
    tw_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v));
    l->v[l->n].name = tw_xstrdup(name);
    l->v[l->n].value = tw_xstrdup(value);
    l->n++;
}

/* Sets prefix + sanitized(raw) (strutil.SanitizeLabelName: [^a-zA-Z0-9_] -> '_'). */
static void kls_set_sanitized(kls_t *l, const char *prefix, const char *raw, const char *value)
{
    tw_buf_t b;
    tw_buf_init(&b, 0);
    tw_buf_puts(&b, prefix);
    for (const char *p = raw; *p != '\0'; p++) {
        char c = *p;
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        tw_buf_putc(&b, ok ? c : '_');
    }
    kls_set(l, b.data, value);
    tw_buf_fini(&b);
}

static void kls_merge(kls_t *dst, const kls_t *src)
{
    for (size_t i = 0; i < src->n; i++) {
        kls_set(dst, src->v[i].name, src->v[i].value);
    }
}

static void kls_fini(kls_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free((char *)l->v[i].name);
        free((char *)l->v[i].value);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* ---- JSON access ------------------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *jstr_or(const json_t *o, const char *key)
{
    const char *s = jstr(o, key);
    return s != NULL ? s : "";
}

/* An integer field as decimal text ("0" when absent, as Go's zero value). */
static const char *jint(const json_t *o, const char *key, char *buf, size_t bufsz)
{
    const json_t *v = json_object_get(o, key);
    snprintf(buf, bufsz, "%lld", json_is_integer(v) ? (long long)json_integer_value(v) : 0LL);
    return buf;
}

/* net.JoinHostPort: brackets around a host with a colon. */
static void join_host_port(tw_buf_t *b, const char *host, const char *port)
{
    tw_buf_reset(b);
    if (strchr(host, ':') != NULL) {
        tw_buf_printf(b, "[%s]:%s", host, port);
    } else {
        tw_buf_printf(b, "%s:%s", host, port);
    }
}

/* addObjectMetaLabels: <role>_name, _label_*, _labelpresent_*, _annotation_*,
 * _annotationpresent_*. */
static void add_object_meta(kls_t *l, const json_t *obj, const char *role)
{
    const json_t *meta = json_object_get(obj, "metadata");
    char name[96], pfx[96];
    snprintf(name, sizeof(name), META "%s_name", role);
    kls_set(l, name, jstr_or(meta, "name"));
    static const char *const kinds[2][3] = {{"labels", "_label_", "_labelpresent_"},
                                            {"annotations", "_annotation_", "_annotationpresent_"}};
    for (int k = 0; k < 2; k++) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)json_object_get(meta, kinds[k][0]), key, v)
        {
            snprintf(pfx, sizeof(pfx), META "%s%s", role, kinds[k][1]);
            kls_set_sanitized(l, pfx, key, json_is_string(v) ? json_string_value(v) : "");
            snprintf(pfx, sizeof(pfx), META "%s%s", role, kinds[k][2]);
            kls_set_sanitized(l, pfx, key, "true");
        }
    }
}

/* ---- groups -------------------------------------------------------------------------------- */

typedef struct gbuild {
    kls_t labels;
    kls_t *targets;
    size_t n, cap;
} gbuild_t;

static kls_t *gb_target(gbuild_t *g)
{
    tw_grow((void **)&g->targets, &g->cap, g->n + 1, sizeof(*g->targets));
    memset(&g->targets[g->n], 0, sizeof(kls_t));
    return &g->targets[g->n++];
}

/* Moves g into out: each target's __address__ into targets[], the rest into tlabels[]. */
static void gb_finish(gbuild_t *g, tw_scrape_group_t *out)
{
    memset(out, 0, sizeof(*out));
    out->labels = g->labels.v;
    out->nlabels = g->labels.n;
    out->targets = tw_xcalloc(g->n + 1, sizeof(*out->targets));
    out->tlabels = tw_xcalloc(g->n + 1, sizeof(*out->tlabels));
    out->ntlabels = tw_xcalloc(g->n + 1, sizeof(*out->ntlabels));
    for (size_t i = 0; i < g->n; i++) {
        kls_t *t = &g->targets[i];
        const char *addr = "";
        for (size_t j = 0; j < t->n; j++) {
            if (strcmp(t->v[j].name, "__address__") == 0) {
                free((char *)t->v[j].name);
                addr = t->v[j].value;
                t->v[j] = t->v[--t->n];
                break;
            }
        }
        out->targets[i].name = "__address__";
        out->targets[i].value = addr[0] != '\0' ? addr : tw_xstrdup("");
        out->tlabels[i] = t->v;
        out->ntlabels[i] = t->n;
    }
    out->ntargets = g->n;
    free(g->targets);
    memset(g, 0, sizeof(*g));
}

/* ---- node ---------------------------------------------------------------------------------- */

int tw_scrape_kube_node_group(const json_t *node, tw_scrape_group_t *out)
{
    static const char *const prio[] = {"InternalIP",  "InternalDNS",  "ExternalIP",
                                       "ExternalDNS", "LegacyHostIP", "Hostname"};
    const json_t *status = json_object_get(node, "status");
    const json_t *addrs = json_object_get(status, "addresses");
    const char *addr = NULL;
    for (size_t p = 0; p < sizeof(prio) / sizeof(prio[0]) && addr == NULL; p++) {
        size_t i;
        const json_t *a;
        json_array_foreach(addrs, i, a)
        {
            if (strcmp(jstr_or(a, "type"), prio[p]) == 0) {
                addr = jstr_or(a, "address");
                break;
            }
        }
    }
    memset(out, 0, sizeof(*out));
    if (addr == NULL) {
        return 0; /* "No node address found": no group */
    }
    gbuild_t g = {0};
    kls_set(&g.labels, META "node_provider_id",
            jstr_or(json_object_get(node, "spec"), "providerID"));
    add_object_meta(&g.labels, node, "node");
    char port[32];
    tw_buf_t b;
    tw_buf_init(&b, 0);
    const json_t *kubelet =
        json_object_get(json_object_get(status, "daemonEndpoints"), "kubeletEndpoint");
    join_host_port(&b, addr, jint(kubelet, "Port", port, sizeof(port)));
    kls_t *t = gb_target(&g);
    kls_set(t, "__address__", b.data);
    kls_set(t, "instance", jstr_or(json_object_get(node, "metadata"), "name"));
    /* First address of each type (later ones of a type do not replace it). */
    size_t i;
    const json_t *a;
    json_array_foreach(addrs, i, a)
    {
        const char *type = jstr_or(a, "type");
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            seen = strcmp(jstr_or(json_array_get(addrs, j), "type"), type) == 0;
        }
        if (!seen) {
            kls_set_sanitized(t, META "node_address_", type, jstr_or(a, "address"));
        }
    }
    tw_buf_fini(&b);
    gb_finish(&g, out);
    return 1;
}

/* ---- pod ----------------------------------------------------------------------------------- */

/* podLabels(): the pod's own labels (shared by the pod and endpoints roles). */
static void pod_labels(kls_t *l, const json_t *pod)
{
    const json_t *meta = json_object_get(pod, "metadata");
    const json_t *spec = json_object_get(pod, "spec");
    const json_t *status = json_object_get(pod, "status");
    kls_set(l, META "pod_ip", jstr_or(status, "podIP"));
    const char *ready = "unknown";
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        if (strcmp(jstr_or(c, "type"), "Ready") == 0) {
            ready = jstr_or(c, "status");
            break;
        }
    }
    char lower[32];
    size_t n = 0;
    for (; ready[n] != '\0' && n + 1 < sizeof(lower); n++) {
        lower[n] = (char)(ready[n] >= 'A' && ready[n] <= 'Z' ? ready[n] + 32 : ready[n]);
    }
    lower[n] = '\0';
    kls_set(l, META "pod_ready", lower);
    kls_set(l, META "pod_phase", jstr_or(status, "phase"));
    kls_set(l, META "pod_node_name", jstr_or(spec, "nodeName"));
    kls_set(l, META "pod_host_ip", jstr_or(status, "hostIP"));
    kls_set(l, META "pod_uid", jstr_or(meta, "uid"));
    add_object_meta(l, pod, "pod");
    json_array_foreach(json_object_get(meta, "ownerReferences"), i, c)
    {
        if (json_is_true(json_object_get(c, "controller"))) {
            const char *kind = jstr_or(c, "kind"), *name = jstr_or(c, "name");
            if (kind[0] != '\0') {
                kls_set(l, META "pod_controller_kind", kind);
            }
            if (name[0] != '\0') {
                kls_set(l, META "pod_controller_name", name);
            }
            break;
        }
    }
}

static const char *container_id(const json_t *statuses, const char *name)
{
    size_t i;
    const json_t *s;
    json_array_foreach(statuses, i, s)
    {
        if (strcmp(jstr_or(s, "name"), name) == 0) {
            return jstr_or(s, "containerID");
        }
    }
    return "";
}

int tw_scrape_kube_pod_group(const json_t *pod, tw_scrape_group_t *out)
{
    const json_t *meta = json_object_get(pod, "metadata");
    const json_t *spec = json_object_get(pod, "spec");
    const json_t *status = json_object_get(pod, "status");
    const char *ip = jstr_or(status, "podIP");
    memset(out, 0, sizeof(*out));
    if (ip[0] == '\0') {
        return 0; /* starting or evicted: an empty group */
    }
    gbuild_t g = {0};
    tw_buf_t b;
    tw_buf_init(&b, 0);
    pod_labels(&g.labels, pod);
    kls_set(&g.labels, META "namespace", jstr_or(meta, "namespace"));
    for (int init = 0; init < 2; init++) {
        const json_t *list = json_object_get(spec, init ? "initContainers" : "containers");
        const json_t *st =
            json_object_get(status, init ? "initContainerStatuses" : "containerStatuses");
        size_t i;
        const json_t *c;
        json_array_foreach(list, i, c)
        {
            const char *cname = jstr_or(c, "name");
            const char *cid = container_id(st, cname);
            const json_t *ports = json_object_get(c, "ports");
            if (json_array_size(ports) == 0) {
                kls_t *t = gb_target(&g);
                kls_set(t, "__address__", ip);
                kls_set(t, META "pod_container_name", cname);
                kls_set(t, META "pod_container_id", cid);
                kls_set(t, META "pod_container_image", jstr_or(c, "image"));
                kls_set(t, META "pod_container_init", init ? "true" : "false");
                continue;
            }
            size_t j;
            const json_t *p;
            json_array_foreach(ports, j, p)
            {
                char num[32];
                jint(p, "containerPort", num, sizeof(num));
                join_host_port(&b, ip, num);
                kls_t *t = gb_target(&g);
                kls_set(t, "__address__", b.data);
                kls_set(t, META "pod_container_name", cname);
                kls_set(t, META "pod_container_id", cid);
                kls_set(t, META "pod_container_image", jstr_or(c, "image"));
                kls_set(t, META "pod_container_port_number", num);
                kls_set(t, META "pod_container_port_name", jstr_or(p, "name"));
                kls_set(t, META "pod_container_port_protocol", jstr_or(p, "protocol"));
                kls_set(t, META "pod_container_init", init ? "true" : "false");
            }
        }
    }
    tw_buf_fini(&b);
    gb_finish(&g, out);
    return 1;
}

/* ---- endpoints ----------------------------------------------------------------------------- */

typedef struct seen_pod {
    const json_t *pod;
    long long *ports; /* service ports already targeted */
    size_t nports, cap;
} seen_pod_t;

int tw_scrape_kube_endpoints_group(const json_t *eps, const json_t *svc,
                                   const json_t *(*pod_lookup)(void *ctx, const char *ns,
                                                               const char *name),
                                   void *ctx, tw_scrape_group_t *out)
{
    const json_t *meta = json_object_get(eps, "metadata");
    const char *ns = jstr_or(meta, "namespace");
    gbuild_t g = {0};
    seen_pod_t *seen = NULL;
    size_t nseen = 0, seencap = 0;
    tw_buf_t b;
    tw_buf_init(&b, 0);
    kls_set(&g.labels, META "namespace", ns);
    if (svc != NULL) {
        /* serviceLabels(): namespace and the service's object metadata. */
        kls_set(&g.labels, META "namespace",
                jstr_or(json_object_get(svc, "metadata"), "namespace"));
        add_object_meta(&g.labels, svc, "service");
    }
    add_object_meta(&g.labels, eps, "endpoints");

    size_t si;
    const json_t *ss;
    json_array_foreach(json_object_get(eps, "subsets"), si, ss)
    {
        size_t pi;
        const json_t *port;
        json_array_foreach(json_object_get(ss, "ports"), pi, port)
        {
            for (int ready = 1; ready >= 0; ready--) {
                const json_t *list = json_object_get(ss, ready ? "addresses" : "notReadyAddresses");
                size_t ai;
                const json_t *addr;
                json_array_foreach(list, ai, addr)
                {
                    char num[32];
                    jint(port, "port", num, sizeof(num));
                    join_host_port(&b, jstr_or(addr, "ip"), num);
                    kls_t *t = gb_target(&g);
                    kls_set(t, "__address__", b.data);
                    kls_set(t, META "endpoint_port_name", jstr_or(port, "name"));
                    kls_set(t, META "endpoint_port_protocol", jstr_or(port, "protocol"));
                    kls_set(t, META "endpoint_ready", ready ? "true" : "false");
                    const json_t *ref = json_object_get(addr, "targetRef");
                    if (json_is_object(ref)) {
                        kls_set(t, META "endpoint_address_target_kind", jstr_or(ref, "kind"));
                        kls_set(t, META "endpoint_address_target_name", jstr_or(ref, "name"));
                    }
                    if (jstr(addr, "nodeName") != NULL) {
                        kls_set(t, META "endpoint_node_name", jstr(addr, "nodeName"));
                    }
                    if (jstr_or(addr, "hostname")[0] != '\0') {
                        kls_set(t, META "endpoint_hostname", jstr(addr, "hostname"));
                    }
                    const json_t *pod = NULL;
                    if (json_is_object(ref) && strcmp(jstr_or(ref, "kind"), "Pod") == 0 &&
                        pod_lookup != NULL) {
                        pod = pod_lookup(ctx, jstr_or(ref, "namespace"), jstr_or(ref, "name"));
                    }
                    if (pod == NULL) {
                        continue;
                    }
                    seen_pod_t *sp = NULL;
                    for (size_t k = 0; k < nseen; k++) {
                        if (seen[k].pod == pod) {
                            sp = &seen[k];
                        }
                    }
                    if (sp == NULL) {
                        tw_grow((void **)&seen, &seencap, nseen + 1, sizeof(*seen));
                        sp = &seen[nseen++];
                        memset(sp, 0, sizeof(*sp));
                        sp->pod = pod;
                    }
                    kls_t pl = {0};
                    pod_labels(&pl, pod);
                    kls_merge(t, &pl);
                    kls_fini(&pl);
                    long long pnum = json_integer_value(json_object_get(port, "port"));
                    size_t ci;
                    const json_t *c;
                    json_array_foreach(json_object_get(json_object_get(pod, "spec"), "containers"),
                                       ci, c)
                    {
                        size_t cpi;
                        const json_t *cp;
                        json_array_foreach(json_object_get(c, "ports"), cpi, cp)
                        {
                            if (json_integer_value(json_object_get(cp, "containerPort")) == pnum) {
                                kls_set(t, META "pod_container_name", jstr_or(c, "name"));
                                kls_set(t, META "pod_container_image", jstr_or(c, "image"));
                                kls_set(t, META "pod_container_port_name", jstr_or(cp, "name"));
                                kls_set(t, META "pod_container_port_number", num);
                                kls_set(t, META "pod_container_port_protocol",
                                        jstr_or(port, "protocol"));
                                break; /* the inner loop only, as in Prometheus */
                            }
                        }
                    }
                    tw_grow((void **)&sp->ports, &sp->cap, sp->nports + 1, sizeof(*sp->ports));
                    sp->ports[sp->nports++] = pnum;
                }
            }
        }
    }
    /* Container ports of the seen pods that no endpoint port covered. */
    for (size_t k = 0; k < nseen; k++) {
        const json_t *pod = seen[k].pod;
        const char *ip = jstr_or(json_object_get(pod, "status"), "podIP");
        size_t ci;
        const json_t *c;
        json_array_foreach(json_object_get(json_object_get(pod, "spec"), "containers"), ci, c)
        {
            size_t cpi;
            const json_t *cp;
            json_array_foreach(json_object_get(c, "ports"), cpi, cp)
            {
                long long cport = json_integer_value(json_object_get(cp, "containerPort"));
                bool covered = false;
                for (size_t q = 0; q < seen[k].nports && !covered; q++) {
                    covered = seen[k].ports[q] == cport;
                }
                if (covered || ip[0] == '\0') {
                    continue;
                }
                char num[32];
                snprintf(num, sizeof(num), "%lld", cport);
                join_host_port(&b, ip, num);
                kls_t *t = gb_target(&g);
                kls_set(t, "__address__", b.data);
                kls_set(t, META "pod_container_name", jstr_or(c, "name"));
                kls_set(t, META "pod_container_image", jstr_or(c, "image"));
                kls_set(t, META "pod_container_port_name", jstr_or(cp, "name"));
                kls_set(t, META "pod_container_port_number", num);
                kls_set(t, META "pod_container_port_protocol", jstr_or(cp, "protocol"));
                kls_t pl = {0};
                pod_labels(&pl, pod);
                kls_merge(t, &pl);
                kls_fini(&pl);
            }
        }
        free(seen[k].ports);
    }
    free(seen);
    tw_buf_fini(&b);
    gb_finish(&g, out);
    return 1;
}

/* ---- the runtime --------------------------------------------------------------------------- */

typedef enum { RES_NODES = 0, RES_PODS, RES_ENDPOINTS, RES_SERVICES } res_t;

static const char *const res_plural[] = {"nodes", "pods", "endpoints", "services"};

struct tw_scrape_kube_sd_run;

typedef struct watcher {
    struct tw_scrape_kube_sd_run *run;
    res_t res;
    char *path;
    const char *label_sel; /* borrowed from the config */
    const char *field_sel;
    json_t *store; /* "ns/name" -> object; guarded by run->mu */
    tw_kube_client_t *client;
    pthread_t thread;
    bool started;
} watcher_t;

struct tw_scrape_kube_sd_run {
    const tw_scrape_kube_sd_t *cfg; /* borrowed: the config outlives the run */
    char *job;
    pthread_mutex_t mu;
    atomic_bool stop;
    atomic_uint_fast64_t gen;
    void (*wake)(void *);
    void *wake_ctx;
    void (*on_error)(void *, const char *job, const char *msg);
    watcher_t *w;
    size_t nw;
};

static void store_key(tw_buf_t *b, const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    tw_buf_reset(b);
    tw_buf_printf(b, "%s/%s", jstr_or(meta, "namespace"), jstr_or(meta, "name"));
}

static void changed(struct tw_scrape_kube_sd_run *r)
{
    atomic_fetch_add(&r->gen, 1);
    if (r->wake != NULL) {
        r->wake(r->wake_ctx);
    }
}

static void w_replace(void *ctx, json_t *items)
{
    watcher_t *w = ctx;
    tw_buf_t k;
    tw_buf_init(&k, 0);
    json_t *fresh = json_object();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        store_key(&k, it);
        json_object_set(fresh, k.data, it);
    }
    pthread_mutex_lock(&w->run->mu);
    json_decref(w->store);
    w->store = fresh;
    pthread_mutex_unlock(&w->run->mu);
    tw_buf_fini(&k);
    changed(w->run);
}

static void w_event(void *ctx, tw_kube_event_type_t type, json_t *obj)
{
    watcher_t *w = ctx;
    tw_buf_t k;
    tw_buf_init(&k, 0);
    store_key(&k, obj);
    pthread_mutex_lock(&w->run->mu);
    if (type == TW_KUBE_EVENT_DELETED) {
        json_object_del(w->store, k.data);
    } else {
        json_object_set(w->store, k.data, obj);
    }
    pthread_mutex_unlock(&w->run->mu);
    tw_buf_fini(&k);
    changed(w->run);
}

static void w_error(void *ctx, int code, const char *msg)
{
    watcher_t *w = ctx;
    (void)code;
    if (w->run->on_error != NULL) {
        char m[600];
        snprintf(m, sizeof(m), "%s: %s", res_plural[w->res], msg);
        w->run->on_error(w->run->wake_ctx, w->run->job, m);
    }
}

static void *watch_thread(void *arg)
{
    watcher_t *w = arg;
    tw_kube_watch_options_t o = {
        .path = w->path,
        .label_selector = w->label_sel,
        .field_selector = w->field_sel,
    };
    tw_kube_watch_ops_t ops = {.replace = w_replace, .event = w_event, .error = w_error};
    tw_kube_watch_run(w->client, &o, &ops, w, &w->run->stop);
    return NULL;
}

/* The client configuration of an SD config: kubeconfig_file, api_server + HTTP settings, or the
 * in-cluster service account. */
static int sd_kube_config(const tw_scrape_kube_sd_t *c, tw_kube_config_t *kc, tw_error_t *err)
{
    memset(kc, 0, sizeof(*kc));
    if (c->kubeconfig_file != NULL) {
        return tw_kube_config_load(c->kubeconfig_file, NULL, NULL, NULL, kc, err);
    }
    if (c->api_server == NULL) {
        return tw_kube_config_load(NULL, NULL, c->sa_dir, NULL, kc, err);
    }
    kc->server = tw_xstrdup(c->api_server);
    kc->token = c->bearer_token != NULL ? tw_xstrdup(c->bearer_token) : NULL;
    kc->token_file = c->bearer_token_file != NULL ? tw_xstrdup(c->bearer_token_file) : NULL;
    kc->ca_file = c->ca_file != NULL ? tw_xstrdup(c->ca_file) : NULL;
    kc->cert_file = c->cert_file != NULL ? tw_xstrdup(c->cert_file) : NULL;
    kc->key_file = c->key_file != NULL ? tw_xstrdup(c->key_file) : NULL;
    kc->insecure = c->insecure_skip_verify;
    return 0;
}

static void add_watcher(struct tw_scrape_kube_sd_run *r, res_t res, const char *ns, size_t *cap)
{
    tw_grow((void **)&r->w, cap, r->nw + 1, sizeof(*r->w));
    watcher_t *w = &r->w[r->nw++];
    memset(w, 0, sizeof(*w));
    w->run = r;
    w->res = res;
    w->store = json_object();
    tw_buf_t b;
    tw_buf_init(&b, 0);
    if (res == RES_NODES || ns == NULL) {
        tw_buf_printf(&b, "/api/v1/%s", res_plural[res]);
    } else {
        tw_buf_puts(&b, "/api/v1/namespaces/");
        tw_kube_path_escape(&b, ns);
        tw_buf_printf(&b, "/%s", res_plural[res]);
    }
    w->path = tw_buf_steal(&b, NULL);
    /* Selectors by the resource's role (service selectors for services, ...). */
    static const int sel_role[] = {TW_SCRAPE_KUBE_ROLE_NODE, TW_SCRAPE_KUBE_ROLE_POD,
                                   TW_SCRAPE_KUBE_ROLE_ENDPOINTS, TW_SCRAPE_KUBE_ROLE_SERVICE};
    w->label_sel = r->cfg->selector_label[sel_role[res]];
    w->field_sel = r->cfg->selector_field[sel_role[res]];
}

int tw_scrape_kube_sd_start(const tw_scrape_kube_sd_t *cfg, const char *job,
                            void (*wake)(void *ctx), void *ctx,
                            void (*on_error)(void *ctx, const char *job, const char *msg),
                            tw_scrape_kube_sd_run_t **out, tw_error_t *err)
{
    tw_kube_config_t kc;
    *out = NULL;
    int rc = sd_kube_config(cfg, &kc, err);
    if (rc != 0) {
        return rc;
    }
    struct tw_scrape_kube_sd_run *r = tw_xcalloc(1, sizeof(*r));
    r->cfg = cfg;
    r->job = tw_xstrdup(job);
    r->wake = wake;
    r->wake_ctx = ctx;
    r->on_error = on_error;
    pthread_mutex_init(&r->mu, NULL);
    atomic_init(&r->stop, false);
    atomic_init(&r->gen, 0);
    size_t cap = 0;
    /* Namespaces: the listed ones, the own namespace, or all. */
    const char **nss = tw_xcalloc(cfg->nnamespaces + 2, sizeof(char *));
    size_t nns = 0;
    for (size_t i = 0; i < cfg->nnamespaces; i++) {
        nss[nns++] = cfg->namespaces[i];
    }
    if (cfg->own_namespace && kc.namespace != NULL) {
        nss[nns++] = kc.namespace;
    }
    size_t loops = nns > 0 ? nns : 1;
    if (cfg->role == TW_SCRAPE_KUBE_ROLE_NODE) {
        add_watcher(r, RES_NODES, NULL, &cap);
    } else {
        for (size_t i = 0; i < loops; i++) {
            const char *ns = nns > 0 ? nss[i] : NULL;
            if (cfg->role == TW_SCRAPE_KUBE_ROLE_ENDPOINTS) {
                add_watcher(r, RES_ENDPOINTS, ns, &cap);
                add_watcher(r, RES_SERVICES, ns, &cap);
            }
            add_watcher(r, RES_PODS, ns, &cap);
        }
    }
    free(nss);
    tw_kube_client_options_t co = {.user_agent = "tidewatch/kubernetes_sd"};
    for (size_t i = 0; i < r->nw && rc == 0; i++) {
        rc = tw_kube_client_new(&kc, &co, &r->w[i].client, err);
    }
    tw_kube_config_fini(&kc);
    for (size_t i = 0; i < r->nw && rc == 0; i++) {
        if (pthread_create(&r->w[i].thread, NULL, watch_thread, &r->w[i]) != 0) {
            rc = tw_error_set(err, TW_EIO, "kubernetes_sd: cannot start a watch thread");
            break;
        }
        r->w[i].started = true;
    }
    if (rc != 0) {
        tw_scrape_kube_sd_stop(r);
        return rc;
    }
    *out = r;
    return 0;
}

void tw_scrape_kube_sd_stop(tw_scrape_kube_sd_run_t *r)
{
    if (r == NULL) {
        return;
    }
    atomic_store(&r->stop, true);
    for (size_t i = 0; i < r->nw; i++) {
        if (r->w[i].started) {
            pthread_join(r->w[i].thread, NULL);
        }
    }
    for (size_t i = 0; i < r->nw; i++) {
        tw_kube_client_free(r->w[i].client);
        json_decref(r->w[i].store);
        free(r->w[i].path);
    }
    free(r->w);
    pthread_mutex_destroy(&r->mu);
    free(r->job);
    free(r);
}

uint64_t tw_scrape_kube_sd_generation(const tw_scrape_kube_sd_run_t *r)
{
    return atomic_load(&r->gen);
}

/* Finds ns/name among the run's watchers of resource res. Called with mu held. */
static const json_t *lookup(const struct tw_scrape_kube_sd_run *r, res_t res, const char *ns,
                            const char *name)
{
    char key[600];
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    for (size_t i = 0; i < r->nw; i++) {
        if (r->w[i].res == res) {
            const json_t *o = json_object_get(r->w[i].store, key);
            if (o != NULL) {
                return o;
            }
        }
    }
    return NULL;
}

static const json_t *pod_lookup_cb(void *ctx, const char *ns, const char *name)
{
    return lookup(ctx, RES_PODS, ns, name);
}

int tw_scrape_kube_sd_groups(tw_scrape_kube_sd_run_t *r, tw_scrape_group_t **out, size_t *n)
{
    tw_scrape_group_t *gs = NULL;
    size_t ng = 0, cap = 0;
    res_t primary = r->cfg->role == TW_SCRAPE_KUBE_ROLE_NODE        ? RES_NODES
                    : r->cfg->role == TW_SCRAPE_KUBE_ROLE_ENDPOINTS ? RES_ENDPOINTS
                                                                    : RES_PODS;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->nw; i++) {
        if (r->w[i].res != primary) {
            continue;
        }
        const char *key;
        json_t *obj;
        json_object_foreach(r->w[i].store, key, obj)
        {
            tw_scrape_group_t g;
            int kept;
            if (primary == RES_NODES) {
                kept = tw_scrape_kube_node_group(obj, &g);
            } else if (primary == RES_PODS) {
                kept = tw_scrape_kube_pod_group(obj, &g);
            } else {
                const json_t *meta = json_object_get(obj, "metadata");
                const json_t *svc =
                    lookup(r, RES_SERVICES, jstr_or(meta, "namespace"), jstr_or(meta, "name"));
                kept = tw_scrape_kube_endpoints_group(obj, svc, pod_lookup_cb, r, &g);
            }
            if (kept <= 0) {
                continue;
            }
            tw_grow((void **)&gs, &cap, ng + 1, sizeof(*gs));
            gs[ng++] = g;
        }
    }
    pthread_mutex_unlock(&r->mu);
    *out = gs;
    *n = ng;
    return 0;
}
