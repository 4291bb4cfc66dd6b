/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup.h - the container collector: reads every cgroup under a root path (cgroup v1, v2 or
 * hybrid), names the containers it finds (Docker, containerd/CRI, CRI-O, systemd, Kubernetes
 * pods), and fills a metric set with cAdvisor's metric names and labels, plus the
 * kube-state-metrics pod series for this node's pods when a pod list is known.
 *
 * Everything is read through opts.root so tests run on fixture trees. A file that is missing,
 * unreadable, truncated or garbage is skipped (counted in the collection's error count) and the
 * rest is still read; a cgroup that vanishes mid-read is dropped from that collection.
 *
 * Thread model: one thread calls collect; tw_cgroup_collector_set_pods() may be called from any
 * other thread at any time (the pod table is swapped under a lock; lookups never block on I/O).
 */
#ifndef TW_COLLECTOR_CGROUP_H
#define TW_COLLECTOR_CGROUP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/metric_set.h"

typedef struct tw_cgroup_options {
    const char *root;      /* the cgroup mount root, normally "/sys/fs/cgroup"; copied */
    const char *node_name; /* this node's name for filtering the pod list; NULL: no filter */
    /* Limits: at most max_cgroups cgroups per collection (0: 100000); deeper paths than
     * max_depth levels are not walked (0: 32). */
    size_t max_cgroups;
    unsigned max_depth;
    /* File and directory descriptors kept open between collections, so each collection re-reads
     * a cgroup file with one pread(2) instead of openat + read + close. 0: the soft
     * RLIMIT_NOFILE at creation less a reserve for the rest of the process (an eighth of it, 512
     * to 4096; half of a limit below 1024). Files past the
     * budget are opened and closed each time; EMFILE closes all kept ones and halves it. */
    size_t max_open_files;
} tw_cgroup_options_t;

typedef struct tw_cgroup_collector tw_cgroup_collector_t;

/* Creates a collector. Detects the hierarchy layout (v1, v2, hybrid) under root; an error names
 * root when nothing usable is mounted there. */
tw_cgroup_collector_t *tw_cgroup_collector_new(const tw_cgroup_options_t *opts, tw_error_t *err);

/* Frees the collector. NULL is a no-op. */
void tw_cgroup_collector_free(tw_cgroup_collector_t *c);

/*
 * Reads all cgroups and appends their metrics to out; now_ms is the collection time
 * (container_last_seen, rates of nothing: counters are written raw). Returns 0 when the walk
 * ran (individual file failures only count: see tw_cgroup_collector_errors()), or an error
 * when the root itself cannot be read.
 */
int tw_cgroup_collector_collect(tw_cgroup_collector_t *c, tw_mset_t *out, int64_t now_ms,
                                tw_error_t *err);

/* Files that could not be read or parsed in the last collection, and a description of the
 * first of them (valid until the next collect), for the loop to log rate-limited. */
size_t tw_cgroup_collector_errors(const tw_cgroup_collector_t *c, const char **first);

/* Containers (cgroups reported) in the last collection. */
size_t tw_cgroup_collector_containers(const tw_cgroup_collector_t *c);

/* Descriptors the collector keeps open between collections now (at most opts.max_open_files). */
size_t tw_cgroup_collector_open_files(const tw_cgroup_collector_t *c);

/*
 * Raises this process's soft RLIMIT_NOFILE to want (0: the hard limit; capped at 2^20), so the
 * collector can keep a descriptor per cgroup file (a container needs about 15-20). Above the hard
 * limit, raises that too when allowed (CAP_SYS_RESOURCE), else stops at it. Never lowers a limit.
 * Call once at startup, before creating collectors (their default budget is derived from the soft
 * limit then). *soft_out (may be NULL) gets the resulting soft limit. Returns 0 or -errno (with
 * err set). Changes process state: not thread-safe with other rlimit changes.
 */
int tw_cgroup_nofile_raise(uint64_t want, uint64_t *soft_out, tw_error_t *err);

/*
 * Kubernetes pod metadata. A pod table is parsed from a PodList JSON document (the kubelet's
 * /pods or the API server's /api/v1/pods answer) and is immutable afterwards; it is
 * reference-counted so the collector can keep using an old table while a new one is fetched.
 */
typedef struct tw_cgroup_pods tw_cgroup_pods_t;

/* Parses a PodList. Errors name the JSON position. json need not be NUL-terminated. */
tw_cgroup_pods_t *tw_cgroup_pods_parse(const char *json, size_t len, tw_error_t *err);
void tw_cgroup_pods_ref(tw_cgroup_pods_t *p);
/* Drops a reference; the last one frees. NULL is a no-op. */
void tw_cgroup_pods_unref(tw_cgroup_pods_t *p);
/* Number of pods in the table. */
size_t tw_cgroup_pods_count(const tw_cgroup_pods_t *p);

/* Installs a new pod table (takes a new reference; NULL clears). Thread-safe. */
void tw_cgroup_collector_set_pods(tw_cgroup_collector_t *c, tw_cgroup_pods_t *pods);

/*
 * The pod-list fetcher: a thread that GETs url (the kubelet's https://NODE:10250/pods, or the API
 * server's /api/v1/pods?fieldSelector=spec.nodeName=NODE) every interval_ms with libcurl and
 * installs each successful answer in the collector. Failures keep the previous table.
 */
typedef struct tw_cgroup_pods_fetcher_options {
    const char *url;               /* http(s) URL, or file:// for a fixed file */
    const char *bearer_token_file; /* NULL: no Authorization header */
    const char *ca_file;           /* NULL: system CAs */
    int insecure_skip_verify;      /* kubelet serving certs are often self-signed */
    int64_t interval_ms;           /* 0: 30 s */
    int64_t timeout_ms;            /* 0: 10 s */
    size_t max_body_bytes;         /* 0: 64 MiB */
} tw_cgroup_pods_fetcher_options_t;

typedef struct tw_cgroup_pods_fetcher tw_cgroup_pods_fetcher_t;

/* Starts the fetcher thread. c is borrowed and must outlive the fetcher. */
tw_cgroup_pods_fetcher_t *tw_cgroup_pods_fetcher_start(const tw_cgroup_pods_fetcher_options_t *o,
                                                       tw_cgroup_collector_t *c, tw_error_t *err);
/* Stops the thread (within timeout_ms) and frees. NULL is a no-op. */
void tw_cgroup_pods_fetcher_stop(tw_cgroup_pods_fetcher_t *f);
/* Adds tidewatch_pods_fetch_total{result} and friends to out. Thread-safe. */
void tw_cgroup_pods_fetcher_collect(tw_cgroup_pods_fetcher_t *f, tw_mset_t *out);

#endif
