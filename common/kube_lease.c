/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_lease.c - leader election on a coordination.k8s.io/v1 Lease, as client-go's
 * tools/leaderelection does it, so that of several tidewatch replicas only one runs the
 * controllers.
 *
 * How it works: every retry period (2 s) each candidate reads the Lease. A candidate that is not
 * the holder remembers the record and *when it last saw it change* (its own clock: the
 * "observed time"; clocks of different machines are never compared). While the holder is someone
 * else and observed time + lease duration (15 s) is ahead, it waits. Otherwise it writes itself
 * in as holder with the resourceVersion it read (a concurrent writer gets 409 and loses), setting
 * acquireTime to now and leaseTransitions + 1; the holder renews by writing renewTime = now and
 * keeping acquireTime and leaseTransitions. A leader that has not renewed successfully for the
 * renew deadline (10 s) considers itself deposed, before anyone else may take over (15 s after
 * its last renewal), so two replicas never both act.
 *
 * tw_kube_lease_decide() / _observe() / _is_leader() are the pure state machine (time is a
 * parameter); _tick() and _release() do the HTTP calls through common/kube.h. Thread model: one
 * thread at a time per candidate.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kube.h"
#include "common/mem.h"
#include "common/timeutil.h"

struct tw_kube_lease {
    char *ns;
    char *name;
    char *identity;
    int64_t lease_duration_ms;
    int64_t renew_deadline_ms;
    int64_t retry_period_ms;
    /* what the last GET (or our own write) showed */
    tw_kube_lease_record_t observed;
    bool have_observed;
    int64_t observed_ms; /* when observed last changed, on our clock */
    /* leadership */
    int64_t leader_until_ms; /* last successful write + renew deadline; 0: never */
    int64_t last_tick_ms;
    bool ticked;
};

int tw_kube_lease_new(const tw_kube_lease_options_t *o, tw_kube_lease_t **out, tw_error_t *err)
{
    *out = NULL;
    if (o->namespace == NULL || o->namespace[0] == '\0' || o->name == NULL || o->name[0] == '\0') {
        return tw_error_set(err, TW_EINVAL,
                            "leader election: the lease needs a namespace and "
                            "a name");
    }
    if (o->identity == NULL || o->identity[0] == '\0') {
        return tw_error_set(err, TW_EINVAL, "leader election: identity may not be empty");
    }
    if (strlen(o->identity) >= sizeof(((tw_kube_lease_record_t *)0)->holder)) {
        return tw_error_set(err, TW_EINVAL, "leader election: identity longer than %zu bytes",
                            sizeof(((tw_kube_lease_record_t *)0)->holder) - 1);
    }
    int64_t ld = o->lease_duration_ms > 0 ? o->lease_duration_ms : 15000;
    int64_t rd = o->renew_deadline_ms > 0 ? o->renew_deadline_ms : 10000;
    int64_t rp = o->retry_period_ms > 0 ? o->retry_period_ms : 2000;
    /* client-go's NewLeaderElector checks, with its messages. */
    if (ld <= rd) {
        return tw_error_set(err, TW_EINVAL,
                            "leader election: leaseDuration must be greater than renewDeadline");
    }
    if (rd <= rp * 12 / 10) {
        return tw_error_set(err, TW_EINVAL,
                            "leader election: renewDeadline must be greater than "
                            "retryPeriod*JitterFactor");
    }
    if (ld < 1000) {
        return tw_error_set(err, TW_EINVAL,
                            "leader election: leaseDuration must be at least one second");
    }
    tw_kube_lease_t *l = tw_xcalloc(1, sizeof(*l));
    l->ns = tw_xstrdup(o->namespace);
    l->name = tw_xstrdup(o->name);
    l->identity = tw_xstrdup(o->identity);
    l->lease_duration_ms = ld;
    l->renew_deadline_ms = rd;
    l->retry_period_ms = rp;
    *out = l;
    return 0;
}

void tw_kube_lease_free(tw_kube_lease_t *l)
{
    if (l == NULL) {
        return;
    }
    free(l->ns);
    free(l->name);
    free(l->identity);
    free(l);
}

/* ---- the state machine (pure) ------------------------------------------------------------ */

static bool same_record(const tw_kube_lease_record_t *a, const tw_kube_lease_record_t *b)
{
    /* client-go compares the raw records; the resourceVersion changes with any write. */
    return strcmp(a->holder, b->holder) == 0 && a->duration_s == b->duration_s &&
           a->acquire_ms == b->acquire_ms && a->renew_ms == b->renew_ms &&
           a->transitions == b->transitions &&
           strcmp(a->resource_version, b->resource_version) == 0;
}

static void set_observed(tw_kube_lease_t *l, const tw_kube_lease_record_t *r, int64_t now_ms)
{
    l->observed = *r;
    l->have_observed = true;
    l->observed_ms = now_ms;
}

/* client-go's IsLeader(): the record we last observed names us. */
static bool holds(const tw_kube_lease_t *l)
{
    return l->have_observed && strcmp(l->observed.holder, l->identity) == 0;
}

tw_kube_lease_action_t tw_kube_lease_decide(tw_kube_lease_t *l,
                                            const tw_kube_lease_record_t *current, int64_t now_ms,
                                            tw_kube_lease_record_t *out)
{
    l->last_tick_ms = now_ms;
    l->ticked = true;
    memset(out, 0, sizeof(*out));
    tw_strlcpy(out->holder, l->identity, sizeof(out->holder));
    out->duration_s = (int32_t)(l->lease_duration_ms / 1000);
    out->acquire_ms = now_ms;
    out->renew_ms = now_ms;
    if (current == NULL) {
        return TW_KUBE_LEASE_CREATE;
    }
    if (!l->have_observed || !same_record(&l->observed, current)) {
        set_observed(l, current, now_ms);
    }
    /* The lease is valid while observed time + the holder's lease duration is ahead. client-go
     * uses its own configured duration here, not the record's. */
    bool valid = l->observed_ms + l->lease_duration_ms > now_ms;
    if (current->holder[0] != '\0' && valid && !holds(l)) {
        return TW_KUBE_LEASE_WAIT;
    }
    if (holds(l)) {
        out->acquire_ms = current->acquire_ms;
        out->transitions = current->transitions;
    } else {
        out->transitions = current->transitions + 1;
    }
    tw_strlcpy(out->resource_version, current->resource_version, sizeof(out->resource_version));
    return TW_KUBE_LEASE_UPDATE;
}

void tw_kube_lease_observe(tw_kube_lease_t *l, bool ok, const tw_kube_lease_record_t *written,
                           int64_t now_ms)
{
    if (!ok) {
        return;
    }
    if (written != NULL) {
        set_observed(l, written, now_ms);
    }
    if (holds(l)) {
        l->leader_until_ms = now_ms + l->renew_deadline_ms;
    }
}

bool tw_kube_lease_is_leader(const tw_kube_lease_t *l, int64_t now_ms)
{
    return holds(l) && l->leader_until_ms != 0 && now_ms < l->leader_until_ms;
}

int64_t tw_kube_lease_next_ms(const tw_kube_lease_t *l)
{
    return l->ticked ? l->last_tick_ms + l->retry_period_ms : 0;
}

/* ---- JSON -------------------------------------------------------------------------------- */

int tw_kube_lease_emit(const tw_kube_lease_t *l, const tw_kube_lease_record_t *r, const char *rv,
                       tw_buf_t *out)
{
    char acq[48], ren[48];
    json_t *meta = json_pack("{s:s, s:s}", "name", l->name, "namespace", l->ns);
    if (rv != NULL && rv[0] != '\0') {
        json_object_set_new(meta, "resourceVersion", json_string(rv));
    }
    json_t *spec = json_object();
    json_object_set_new(spec, "holderIdentity", json_string(r->holder));
    json_object_set_new(spec, "leaseDurationSeconds", json_integer(r->duration_s));
    if (r->acquire_ms != 0) {
        json_object_set_new(
            spec, "acquireTime",
            json_string(tw_kube_time_format_micro(r->acquire_ms, acq, sizeof(acq))));
    }
    if (r->renew_ms != 0) {
        json_object_set_new(spec, "renewTime",
                            json_string(tw_kube_time_format_micro(r->renew_ms, ren, sizeof(ren))));
    }
    json_object_set_new(spec, "leaseTransitions", json_integer(r->transitions));
    json_t *v = json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "coordination.k8s.io/v1", "kind",
                          "Lease", "metadata", meta, "spec", spec);
    if (v == NULL) {
        return TW_EINVAL;
    }
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (s == NULL) {
        return TW_EINVAL;
    }
    int rc = tw_buf_puts(out, s);
    free(s);
    return rc;
}

/* Parses "2026-01-02T03:04:05[.ffffff](Z|+hh:mm)" to ms; 0 when absent or malformed. */
static int64_t parse_time_ms(const char *s)
{
    int64_t t;
    return s != NULL && tw_time_rfc3339_parse(s, &t) == 0 ? t : 0;
}

int tw_kube_lease_parse(const char *body, size_t len, tw_kube_lease_record_t *out, tw_error_t *err)
{
    memset(out, 0, sizeof(*out));
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = tw_error_set(err, TW_EPARSE, "lease: the answer is not a JSON object");
        goto out;
    }
    const char *kind = json_string_value(json_object_get(root, "kind"));
    if (kind != NULL && strcmp(kind, "Lease") != 0) {
        rc = tw_error_set(err, TW_EPARSE, "lease: expected kind Lease, got %s", kind);
        goto out;
    }
    const json_t *spec = json_object_get(root, "spec");
    const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
    const char *rv =
        json_string_value(json_object_get(json_object_get(root, "metadata"), "resourceVersion"));
    if ((holder != NULL &&
         tw_strlcpy(out->holder, holder, sizeof(out->holder)) >= sizeof(out->holder)) ||
        (rv != NULL && tw_strlcpy(out->resource_version, rv, sizeof(out->resource_version)) >=
                           sizeof(out->resource_version))) {
        rc = tw_error_set(err, TW_ELIMIT, "lease: holderIdentity or resourceVersion too long");
        goto out;
    }
    out->duration_s = (int32_t)json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
    out->transitions = (int32_t)json_integer_value(json_object_get(spec, "leaseTransitions"));
    out->acquire_ms = parse_time_ms(json_string_value(json_object_get(spec, "acquireTime")));
    out->renew_ms = parse_time_ms(json_string_value(json_object_get(spec, "renewTime")));
out:
    json_decref(root);
    return rc;
}

/* ---- I/O --------------------------------------------------------------------------------- */

static void lease_path(const tw_kube_lease_t *l, tw_buf_t *p, bool with_name)
{
    tw_buf_puts(p, "/apis/coordination.k8s.io/v1/namespaces/");
    tw_kube_path_escape(p, l->ns);
    tw_buf_puts(p, "/leases");
    if (with_name) {
        tw_buf_putc(p, '/');
        tw_kube_path_escape(p, l->name);
    }
}

int tw_kube_lease_tick(tw_kube_lease_t *l, tw_kube_client_t *c, int64_t now_ms, bool *leader,
                       tw_error_t *err)
{
    tw_buf_t path, body;
    tw_kube_resp_t resp;
    tw_kube_lease_record_t cur, want, written;
    char what[300];
    bool have_cur = false;
    int rc;
    tw_buf_init(&path, 0);
    tw_buf_init(&body, 0);
    tw_kube_resp_init(&resp);
    snprintf(what, sizeof(what), "lease %s/%s", l->ns, l->name);
    lease_path(l, &path, true);
    rc = tw_kube_request(c, "GET", path.data, NULL, NULL, what, &resp, err);
    if (rc == 0) {
        rc = tw_kube_lease_parse(resp.body.data != NULL ? resp.body.data : "", resp.body.len, &cur,
                                 err);
        have_cur = rc == 0;
    } else if (rc == TW_ENOTFOUND) {
        rc = 0;
    }
    if (rc != 0) {
        goto out;
    }
    tw_kube_lease_action_t act = tw_kube_lease_decide(l, have_cur ? &cur : NULL, now_ms, &want);
    if (act == TW_KUBE_LEASE_WAIT) {
        goto out;
    }
    rc = tw_kube_lease_emit(l, &want, act == TW_KUBE_LEASE_UPDATE ? want.resource_version : NULL,
                            &body);
    if (rc == 0) {
        if (act == TW_KUBE_LEASE_CREATE) {
            tw_buf_reset(&path);
            lease_path(l, &path, false);
            rc = tw_kube_request(c, "POST", path.data, body.data, "application/json", what, &resp,
                                 err);
        } else {
            rc = tw_kube_request(c, "PUT", path.data, body.data, "application/json", what, &resp,
                                 err);
        }
    }
    if (rc == 0 && tw_kube_lease_parse(resp.body.data != NULL ? resp.body.data : "", resp.body.len,
                                       &written, NULL) == 0) {
        tw_kube_lease_observe(l, true, &written, now_ms);
    } else {
        tw_kube_lease_observe(l, rc == 0, rc == 0 ? &want : NULL, now_ms);
    }
out:
    if (leader != NULL) {
        *leader = tw_kube_lease_is_leader(l, now_ms);
    }
    tw_buf_fini(&path);
    tw_buf_fini(&body);
    tw_kube_resp_fini(&resp);
    return rc;
}

int tw_kube_lease_release(tw_kube_lease_t *l, tw_kube_client_t *c, int64_t now_ms, tw_error_t *err)
{
    if (!tw_kube_lease_is_leader(l, now_ms)) {
        return 0;
    }
    tw_buf_t path, body;
    tw_kube_resp_t resp;
    char what[300];
    tw_kube_lease_record_t r = {
        .duration_s = 1,
        .acquire_ms = now_ms,
        .renew_ms = now_ms,
        .transitions = l->observed.transitions,
    };
    tw_buf_init(&path, 0);
    tw_buf_init(&body, 0);
    tw_kube_resp_init(&resp);
    snprintf(what, sizeof(what), "lease %s/%s", l->ns, l->name);
    lease_path(l, &path, true);
    int rc = tw_kube_lease_emit(l, &r, l->observed.resource_version, &body);
    if (rc == 0) {
        rc = tw_kube_request(c, "PUT", path.data, body.data, "application/json", what, &resp, err);
    }
    if (rc == 0) {
        tw_kube_lease_record_t written;
        if (tw_kube_lease_parse(resp.body.data != NULL ? resp.body.data : "", resp.body.len,
                                &written, NULL) != 0) {
            written = r;
        }
        set_observed(l, &written, now_ms);
        l->leader_until_ms = 0;
    }
    tw_buf_fini(&path);
    tw_buf_fini(&body);
    tw_kube_resp_fini(&resp);
    return rc;
}
