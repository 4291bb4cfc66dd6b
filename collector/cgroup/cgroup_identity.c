/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_identity.c - which container a cgroup path belongs to.
 *
 * The last path component names the container (or unit, or pod); the component before it names
 * the pod for Kubernetes containers. Spellings handled, for both cgroup drivers:
 *
 *   /docker/<id>                                                     Docker (cgroupfs)
 *   /system.slice/docker-<id>.scope                                  Docker (systemd)
 *   /system.slice/foo.service                                        a systemd unit
 *   /kubepods/pod<uid>                                               guaranteed pod (cgroupfs)
 *   /kubepods/burstable/pod<uid>/<id>                                container (cgroupfs)
 *   /kubepods.slice/kubepods-pod<uid_>.slice                         guaranteed pod (systemd)
 *   /kubepods.slice/kubepods-besteffort.slice/
 *       kubepods-besteffort-pod<uid_>.slice/cri-containerd-<id>.scope   containerd (systemd)
 *   .../crio-<id>.scope, .../docker-<id>.scope                       CRI-O, Docker (systemd)
 *
 * <id> is 64 hex digits; <uid> a pod UID (dashes in cgroupfs, underscores in systemd names;
 * static pods have 32 hex digits). Pure and thread-safe.
 */
#include "cgroup_int.h"

#include <string.h>

#include "common/mem.h"

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_container_id(const char *s, size_t n)
{
    if (n != TW_CG_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_hex(s[i])) {
            return false;
        }
    }
    return true;
}

/* A pod UID: 32..36 characters of hex digits and '-' (cgroupfs) or '_' (systemd). */
static bool is_pod_uid(const char *s, size_t n)
{
    if (n < 32 || n > TW_CG_UID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_hex(s[i]) && s[i] != '-' && s[i] != '_') {
            return false;
        }
    }
    return true;
}

static bool has_prefix(const char *s, size_t n, const char *pre)
{
    size_t pn = strlen(pre);
    return n >= pn && memcmp(s, pre, pn) == 0;
}

static bool has_suffix(const char *s, size_t n, const char *suf)
{
    size_t sn = strlen(suf);
    return n >= sn && memcmp(s + n - sn, suf, sn) == 0;
}

/* Copies the uid, turning systemd's underscores back into dashes. */
static void copy_uid(char *dst, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dst[i] = s[i] == '_' ? '-' : s[i];
    }
    dst[n] = '\0';
}

/*
 * If component (s, n) names a pod cgroup, stores its uid and QoS class and returns true.
 * "pod<uid>" or "kubepods[-burstable|-besteffort]-pod<uid>.slice".
 */
static bool parse_pod_component(const char *s, size_t n, tw_cg_identity_t *out)
{
    const char *u = NULL;
    size_t un = 0;
    const char *qos = "guaranteed";
    if (has_prefix(s, n, "pod")) {
        u = s + 3;
        un = n - 3;
        qos = "";
    } else if (has_suffix(s, n, ".slice")) {
        size_t body = n - 6;
        static const struct {
            const char *prefix;
            const char *qos;
        } spellings[] = {
            {"kubepods-burstable-pod", "burstable"},
            {"kubepods-besteffort-pod", "besteffort"},
            {"kubepods-pod", "guaranteed"},
        };
        for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
            if (has_prefix(s, body, spellings[i].prefix)) {
                size_t pn = strlen(spellings[i].prefix);
                u = s + pn;
                un = body - pn;
                qos = spellings[i].qos;
                break;
            }
        }
    }
    if (u == NULL || !is_pod_uid(u, un)) {
        return false;
    }
    copy_uid(out->pod_uid, u, un);
    out->qos = qos;
    return true;
}

/* cgroupfs QoS from the component above the pod: "burstable", "besteffort", else guaranteed. */
static const char *cgroupfs_qos(const char *s, size_t n)
{
    if (n == 9 && memcmp(s, "burstable", 9) == 0) {
        return "burstable";
    }
    if (n == 10 && memcmp(s, "besteffort", 10) == 0) {
        return "besteffort";
    }
    return "guaranteed";
}

/* If (s, n) is "<prefix><64hex>.scope", copies the id and returns true. */
static bool scope_id(const char *s, size_t n, const char *prefix, char *id)
{
    size_t pn = strlen(prefix);
    if (n < pn + 6 || !has_prefix(s, n, prefix) || !has_suffix(s, n, ".scope")) {
        return false;
    }
    if (!is_container_id(s + pn, n - pn - 6)) {
        return false;
    }
    memcpy(id, s + pn, TW_CG_ID_MAX);
    id[TW_CG_ID_MAX] = '\0';
    return true;
}

void tw_cg_identity_parse(const char *path, tw_cg_identity_t *out)
{
    memset(out, 0, sizeof(*out));
    out->qos = "";
    out->kind = TW_CG_KIND_OTHER;

    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') {
        len--;
    }
    if (len == 0 || (len == 1 && path[0] == '/')) {
        out->kind = TW_CG_KIND_ROOT;
        return;
    }
    /* last = the final component, parent = the one before it (may be empty). */
    const char *last = path + len;
    while (last > path && last[-1] != '/') {
        last--;
    }
    size_t last_n = (size_t)(path + len - last);
    const char *parent = last;
    size_t parent_n = 0;
    if (last > path) {
        const char *pe = last - 1; /* the slash */
        parent = pe;
        while (parent > path && parent[-1] != '/') {
            parent--;
        }
        parent_n = (size_t)(pe - parent);
    }
    const char *grand = parent;
    size_t grand_n = 0;
    if (parent > path) {
        const char *ge = parent - 1;
        grand = ge;
        while (grand > path && grand[-1] != '/') {
            grand--;
        }
        grand_n = (size_t)(ge - grand);
    }

    /* The pod cgroup itself. */
    tw_cg_identity_t pod;
    memset(&pod, 0, sizeof(pod));
    if (parse_pod_component(last, last_n, &pod)) {
        out->kind = TW_CG_KIND_POD;
        memcpy(out->pod_uid, pod.pod_uid, sizeof(out->pod_uid));
        out->qos = pod.qos[0] != '\0' ? pod.qos : cgroupfs_qos(parent, parent_n);
        return;
    }

    /* A container: its id from the last component. */
    if (scope_id(last, last_n, "cri-containerd-", out->container_id)) {
        out->kind = TW_CG_KIND_CONTAINERD;
    } else if (scope_id(last, last_n, "crio-", out->container_id)) {
        out->kind = TW_CG_KIND_CRIO;
    } else if (scope_id(last, last_n, "docker-", out->container_id)) {
        out->kind = TW_CG_KIND_DOCKER;
    } else if (is_container_id(last, last_n)) {
        memcpy(out->container_id, last, TW_CG_ID_MAX);
        out->container_id[TW_CG_ID_MAX] = '\0';
        /* A bare id is Docker's under /docker, the CRI runtime's under a kubepods pod. */
        out->kind = (parent_n == 6 && memcmp(parent, "docker", 6) == 0) ? TW_CG_KIND_DOCKER
                                                                        : TW_CG_KIND_CONTAINERD;
    } else if (has_suffix(last, last_n, ".service") || has_suffix(last, last_n, ".scope") ||
               has_suffix(last, last_n, ".slice") || has_suffix(last, last_n, ".socket") ||
               has_suffix(last, last_n, ".mount")) {
        out->kind = TW_CG_KIND_SYSTEMD;
        return;
    } else {
        return;
    }

    /* A container under a pod cgroup belongs to that pod. */
    if (parent_n > 0 && parse_pod_component(parent, parent_n, &pod)) {
        memcpy(out->pod_uid, pod.pod_uid, sizeof(out->pod_uid));
        out->qos = pod.qos[0] != '\0' ? pod.qos : cgroupfs_qos(grand, grand_n);
    }
}
