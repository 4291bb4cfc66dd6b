/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procfs.h - the host collector: node_exporter's metric names for CPU, memory, load, pressure,
 * network devices, disks and filesystems, read from /proc and /sys through root paths so tests
 * run on fixture trees; plus the process_* self-metrics of the running daemon.
 *
 * A file that fails is skipped and counted; the rest is still read. Filesystem sizes are read
 * with statfs in a helper thread with a deadline, so a dead NFS mount is reported as
 * node_filesystem_device_error and never hangs a collection.
 *
 * Thread model: one thread calls collect.
 */
#ifndef TW_COLLECTOR_PROCFS_H
#define TW_COLLECTOR_PROCFS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/metric_set.h"

typedef struct tw_procfs_options {
    const char *proc_root;     /* "/proc"; copied */
    const char *sys_root;      /* "/sys"; copied */
    const char *rootfs_root;   /* prefix for statfs of mount points: "/" (or "/host" in a pod) */
    int64_t statfs_timeout_ms; /* 0: 2000 */
} tw_procfs_options_t;

typedef struct tw_procfs_collector tw_procfs_collector_t;

tw_procfs_collector_t *tw_procfs_collector_new(const tw_procfs_options_t *opts, tw_error_t *err);
/* NULL is a no-op. */
void tw_procfs_collector_free(tw_procfs_collector_t *c);

/* Reads the host metrics into out. Returns 0 when the walk ran (file failures only count). */
int tw_procfs_collector_collect(tw_procfs_collector_t *c, tw_mset_t *out, int64_t now_ms,
                                tw_error_t *err);

/* Files that failed in the last collection, and a description of the first. */
size_t tw_procfs_collector_errors(const tw_procfs_collector_t *c, const char **first);

/*
 * Adds the process_* metrics (process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_start_time_seconds, process_open_fds, process_max_fds)
 * for pid (0: self) as Prometheus' client libraries define them, read under proc_root.
 */
int tw_procfs_process_collect(const char *proc_root, int pid, tw_mset_t *out, tw_error_t *err);

#endif
