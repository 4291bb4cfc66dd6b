/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_int.h - declarations shared only inside collector/cgroup/ (and its unit and fuzz tests):
 * the pure parsers of cgroup files, container identity from a cgroup path, the Kubernetes
 * quantity parser, the pod table's lookups and kube-state-metrics writer, and the kept directory
 * tree the collector reads through (cgroup_tree.c).
 *
 * Everything declared here except the kept tree is pure (no I/O, no clock, no logging) and
 * thread-safe on distinct inputs, so it can be unit-tested and fuzzed directly. Nothing outside
 * collector/cgroup/ and tests/ includes this header.
 */
#ifndef TW_COLLECTOR_CGROUP_INT_H
#define TW_COLLECTOR_CGROUP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/* A parsed resource.Quantity ("250m", "1.5", "128Mi", "1G", "1e3"), already converted. */
typedef struct tw_cg_quantity {
    int64_t value; /* Value(): rounded up away from zero, saturated at +-(2^63-1) */
    int64_t milli; /* MilliValue(): the same in thousandths */
} tw_cg_quantity_t;

/*
 * Parses s (len bytes) in Kubernetes' quantity grammar (common/quantity.h), with at least one
 * digit and an exponent of at most 1000009 in size. Returns 0 or TW_EPARSE.
 */
int tw_cg_quantity_parse(const char *s, size_t len, tw_cg_quantity_t *out);
/* The quantity rounded up to an integer, like Quantity.Value(); saturates at +-2^63-1. */
int64_t tw_cg_quantity_value(const tw_cg_quantity_t *q);
/* The quantity in thousandths rounded up, like Quantity.MilliValue(). */
int64_t tw_cg_quantity_milli(const tw_cg_quantity_t *q);

/* ---- Kept directory tree and file descriptors (cgroup_tree.c) ---- */

/*
 * A tw_cg_tree_t mirrors one cgroup hierarchy's directories between collections and keeps the
 * descriptors of the files read in each, so a collection re-reads them with pread(fd, .., 0)
 * (cgroupfs regenerates a file's content on every read at offset 0) instead of
 * openat + read + close. A walk re-lists only directories that have subdirectories (a directory
 * whose st_nlink is 2 has none, as find(1) assumes; cgroupfs keeps nlink = 2 + subdirectories)
 * and checks each child's inode, so a cgroup removed and recreated under the same name gets new
 * descriptors. Kept descriptors are limited by a tw_cg_fds_t budget shared by all trees; past it,
 * files are opened, read and closed as before. EMFILE/ENFILE closes every kept file descriptor,
 * cuts the budget to half of what was kept and retries once. I/O module: not pure; one thread per
 * tree.
 */

/* The files the collector reads; index of tw_cg_node_t.fd. */
enum {
    TW_CG_FILE_CONTROLLERS,
    TW_CG_FILE_PROCS,
    TW_CG_FILE_CPUACCT_USAGE,
    TW_CG_FILE_CPUACCT_STAT,
    TW_CG_FILE_CPU_SHARES,
    TW_CG_FILE_CFS_PERIOD,
    TW_CG_FILE_CFS_QUOTA,
    TW_CG_FILE_CPU_STAT,
    TW_CG_FILE_CPU_MAX,
    TW_CG_FILE_CPU_WEIGHT,
    TW_CG_FILE_MEM_USAGE,
    TW_CG_FILE_MEM_MAX_USAGE,
    TW_CG_FILE_MEM_FAILCNT,
    TW_CG_FILE_MEM_LIMIT,
    TW_CG_FILE_MEM_STAT,
    TW_CG_FILE_MEM_OOM_CONTROL,
    TW_CG_FILE_MEM_CURRENT,
    TW_CG_FILE_MEM_PEAK,
    TW_CG_FILE_MEM_MAX,
    TW_CG_FILE_MEM_SWAP_CURRENT,
    TW_CG_FILE_MEM_EVENTS,
    TW_CG_FILE_BLKIO_RECURSIVE,
    TW_CG_FILE_BLKIO,
    TW_CG_FILE_IO_STAT,
    TW_CG_FILE_PIDS_CURRENT,
    TW_CG_FILE_CPU_PRESSURE,
    TW_CG_FILE_MEM_PRESSURE,
    TW_CG_FILE_IO_PRESSURE,
    TW_CG_FILE_COUNT
};

/* File names by TW_CG_FILE_* index (static strings). */
extern const char *const tw_cg_file_names[TW_CG_FILE_COUNT];

/* The descriptor budget shared by a collector's trees. */
typedef struct tw_cg_fds {
    size_t max;                  /* descriptors that may be kept open across collections */
    size_t kept;                 /* kept now (files and directories, not the tree roots) */
    size_t exhausted;            /* EMFILE/ENFILE seen since creation (each closed every kept fd) */
    struct tw_cg_tree *trees[8]; /* the trees that share it, for eviction */
    size_t ntrees;
} tw_cg_fds_t;

/* One cgroup directory. Invariant: rel, hash and ino stay fixed for the node's life; a node is
 * freed (its descriptors closed) by the first walk that does not find it with the same inode. */
typedef struct tw_cg_node {
    char *rel;        /* "/" for the root, else "/a/b"; heap, owned */
    size_t rel_len;   /* strlen(rel) */
    uint64_t hash;    /* tw_hash64(rel, rel_len, 0) */
    const char *name; /* the last component, inside rel ("." for the root) */
    uint64_t ino;     /* st_ino when last seen */
    uint64_t nlink;   /* st_nlink when last seen: 2 means no subdirectories */
    int dfd;          /* kept directory descriptor (only for directories with children), or -1 */
    unsigned gen;     /* the walk that last saw it */
    struct tw_cg_node **kids; /* in the order of the last listing */
    size_t nkids, kids_cap;
    int fd[TW_CG_FILE_COUNT]; /* kept file descriptors, -1 when none */
} tw_cg_node_t;

typedef struct tw_cg_tree tw_cg_tree_t;

/* Creates the tree of the hierarchy at path (copied); fds is borrowed and must outlive the tree,
 * which registers itself in it (at most 8 trees per budget). Never fails: an unreadable root
 * shows up in tw_cg_tree_walk(). */
tw_cg_tree_t *tw_cg_tree_new(const char *path, tw_cg_fds_t *fds);

/* Closes every descriptor and frees. NULL is a no-op. */
void tw_cg_tree_free(tw_cg_tree_t *t);

/*
 * Walks the hierarchy: re-stats its root (re-opening it when the mount changed), lists every
 * directory with subdirectories down to max_depth levels, and calls visit(ctx, node) for each
 * directory in pre-order, in listing order; when visit returns false, the node's subdirectories
 * are not walked (and dropped). Directories gone since the last walk are dropped with their
 * descriptors.
 * Returns 0, or -errno when the root cannot be opened (*dev_out, *ino_out: the root's identity).
 */
int tw_cg_tree_walk(tw_cg_tree_t *t, unsigned max_depth, bool (*visit)(void *, tw_cg_node_t *),
                    void *ctx, uint64_t *dev_out, uint64_t *ino_out);

/*
 * Reads file (a TW_CG_FILE_* index) of node into buf (NUL-terminated, at most cap - 1 bytes),
 * through the kept descriptor when there is one (re-opened once when it reports the cgroup gone),
 * else opening it and keeping the descriptor when the budget allows. When lines is not NULL the
 * whole file is read in cap - 1 byte pieces and *lines gets its count of newlines (buf then holds
 * the last piece). Returns the length read, or -errno.
 */
ssize_t tw_cg_tree_read(tw_cg_tree_t *t, tw_cg_node_t *node, unsigned file, char *buf, size_t cap,
                        uint64_t *lines);

/* True when node's directory no longer exists (the path is gone or is another directory). */
bool tw_cg_tree_gone(tw_cg_tree_t *t, const tw_cg_node_t *node);

/* Closes every kept file descriptor of the trees sharing fds (nodes and directory descriptors
 * stay). */
void tw_cg_fds_drop_all(tw_cg_fds_t *fds);

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
