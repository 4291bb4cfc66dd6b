/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_int.h - declarations shared only inside collector/cgroup/ (and its unit and fuzz tests):
 * the pure parsers of cgroup files, container identity from a cgroup path, the Kubernetes
 * quantity parser, and the pod table's lookups and kube-state-metrics writer.
 *
 * Everything declared here is pure (no I/O, no clock, no logging) and thread-safe on distinct
 * inputs, so it can be unit-tested and fuzzed directly. Nothing outside collector/cgroup/ and
 * tests/ includes this header.
 */
#ifndef TW_COLLECTOR_CGROUP_INT_H
#define TW_COLLECTOR_CGROUP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/cgroup/cgroup.h"

/* ---- File parsers (cgroup_parse.c) ---- */

/*
 * Parses "key value" lines (cpu.stat, memory.stat, cpuacct.stat, memory.events,
 * memory.oom_control). For each of the nkeys names in keys that appears with an unsigned
 * decimal value, stores it in vals[i] and sets bit i of *found (nkeys <= 32). Unknown keys are
 * skipped. Returns 0, or TW_EPARSE when a wanted key has a value that is not a number.
 */
int tw_cg_parse_keyed(const char *buf, size_t len, const char *const *keys, size_t nkeys,
                      uint64_t *vals, uint32_t *found);

/* Parses one unsigned decimal (surrounding blanks and one newline allowed). "max" gives
 * UINT64_MAX when allow_max is set. Returns 0 or TW_EPARSE. */
int tw_cg_parse_u64(const char *buf, size_t len, bool allow_max, uint64_t *out);

/* Parses one signed decimal (cpu.cfs_quota_us is -1 when unlimited). Returns 0 or TW_EPARSE. */
int tw_cg_parse_i64(const char *buf, size_t len, int64_t *out);

/* Parses cgroup v2 cpu.max ("max 100000" or "50000 100000"): *quota_us is 0 for "max".
 * Returns 0 or TW_EPARSE. */
int tw_cg_parse_cpu_max(const char *buf, size_t len, uint64_t *quota_us, uint64_t *period_us);

/* Pressure stall totals (microseconds) of one PSI file. */
typedef struct tw_cg_psi {
    uint64_t some_total_us;
    uint64_t full_total_us;
    bool has_some;
    bool has_full; /* cpu.pressure has no "full" line before Linux 5.13 */
} tw_cg_psi_t;

/* Parses cpu.pressure / memory.pressure / io.pressure. Returns 0, or TW_EPARSE when neither a
 * "some" nor a "full" line with a total is found. */
int tw_cg_parse_psi(const char *buf, size_t len, tw_cg_psi_t *out);

#define TW_CG_MAX_DEVICES 32

/* Per block device byte counters, from blkio.throttle.io_service_bytes or io.stat. */
typedef struct tw_cg_io {
    size_t n;
    struct {
        unsigned major, minor;
        uint64_t read_bytes;
        uint64_t write_bytes;
    } dev[TW_CG_MAX_DEVICES];
} tw_cg_io_t;

/* Parses cgroup v1 blkio.throttle.io_service_bytes[_recursive] ("8:0 Read 4096" lines, a final
 * "Total N" line). Devices past TW_CG_MAX_DEVICES are dropped. Returns 0 or TW_EPARSE. */
int tw_cg_parse_blkio(const char *buf, size_t len, tw_cg_io_t *out);

/* Parses cgroup v2 io.stat ("8:0 rbytes=1 wbytes=2 rios=3 ..."). Returns 0 or TW_EPARSE. */
int tw_cg_parse_io_stat(const char *buf, size_t len, tw_cg_io_t *out);

/* Bitmask of controller names in a cgroup.controllers line. */
enum {
    TW_CG_CTRL_CPU = 1u << 0,
    TW_CG_CTRL_MEMORY = 1u << 1,
    TW_CG_CTRL_IO = 1u << 2,
    TW_CG_CTRL_PIDS = 1u << 3,
};
unsigned tw_cg_parse_controllers(const char *buf, size_t len);

/* cgroup v2 cpu.weight [1, 10000] to v1 cpu.shares [2, 262144], as cAdvisor converts it.
 * Returns 0 for a weight out of range. */
uint64_t tw_cg_weight_to_shares(uint64_t weight);

/* ---- Container identity (cgroup_identity.c) ---- */

typedef enum {
    TW_CG_KIND_OTHER = 0,  /* any other cgroup: reported with id only */
    TW_CG_KIND_ROOT,       /* "/" */
    TW_CG_KIND_SYSTEMD,    /* a systemd unit: .service, .scope, .slice (not a container) */
    TW_CG_KIND_DOCKER,     /* /docker/<id>, docker-<id>.scope */
    TW_CG_KIND_CONTAINERD, /* cri-containerd-<id>.scope, or a bare id under a kubepods pod */
    TW_CG_KIND_CRIO,       /* crio-<id>.scope */
    TW_CG_KIND_POD,        /* the kubepods pod<uid> cgroup itself */
} tw_cg_kind_t;

#define TW_CG_ID_MAX 64  /* container ids are 64 hex digits */
#define TW_CG_UID_MAX 36 /* pod uids are 36 characters with dashes */

typedef struct tw_cg_identity {
    tw_cg_kind_t kind;
    char container_id[TW_CG_ID_MAX + 1]; /* "" when none */
    char pod_uid[TW_CG_UID_MAX + 1];     /* with dashes; "" when not under a kubepods pod */
    const char *qos; /* "guaranteed", "burstable", "besteffort" (static), or "" */
} tw_cg_identity_t;

/*
 * Names the container that cgroup path (like "/kubepods/burstable/pod<uid>/<id>"; "/" is the
 * root) belongs to. Recognizes Docker (/docker/<64hex>, docker-<id>.scope), containerd/CRI
 * (cri-containerd-<id>.scope, a bare 64-hex id under a pod), CRI-O (crio-<id>.scope), systemd
 * units and Kubernetes pods in both cgroupfs and systemd spellings. Pure.
 */
void tw_cg_identity_parse(const char *path, tw_cg_identity_t *out);

/* ---- Kubernetes quantities (cgroup_quantity.c) ---- */

/*
 * A parsed resource.Quantity ("250m", "1.5", "128Mi", "1G", "1e3"): value = mant * 10^exp10 *
 * 2^exp2, negative when neg.
 */
typedef struct tw_cg_quantity {
    uint64_t mant;
    int exp10;
    int exp2;
    bool neg;
} tw_cg_quantity_t;

/* Parses s (len bytes) in Kubernetes' quantity grammar. Returns 0 or TW_EPARSE. */
int tw_cg_quantity_parse(const char *s, size_t len, tw_cg_quantity_t *out);
/* The quantity rounded up to an integer, like Quantity.Value(); saturates at +-2^63-1. */
int64_t tw_cg_quantity_value(const tw_cg_quantity_t *q);
/* The quantity in thousandths rounded up, like Quantity.MilliValue(). */
int64_t tw_cg_quantity_milli(const tw_cg_quantity_t *q);

/* ---- Collector test hook (cgroup_collector.c) ---- */

/* Runs fn(ctx) after each collection's walk, before the reads, so tests can make cgroups vanish
 * mid-collection. NULL removes the hook. Not for production use. */
void tw_cg_collector_set_after_walk(tw_cgroup_collector_t *c, void (*fn)(void *), void *ctx);

/* ---- Pod table (cgroup_pods.c) ---- */

/* What the collector needs of one pod and one of its containers. Strings live in the table. */
typedef struct tw_cg_pod_ref {
    const char *namespace_;
    const char *name;
    const char *uid;
    const char *container; /* NULL when only the pod matched */
    const char *image;     /* NULL when only the pod matched */
} tw_cg_pod_ref_t;

/* Looks up a pod by uid and, when container_id is not empty, its container by runtime id.
 * Returns true when the pod is known; out->container is set when the container is too. */
bool tw_cg_pods_lookup(const tw_cgroup_pods_t *p, const char *pod_uid, const char *container_id,
                       tw_cg_pod_ref_t *out);

/* Appends the kube-state-metrics pod series for pods on node_name (all when NULL) to out. */
void tw_cg_pods_write_ksm(const tw_cgroup_pods_t *p, const char *node_name, tw_mset_t *out);

#endif
