/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procfs_int.h - what the host collector's files share inside collector/procfs/: the pure
 * parsers (one per /proc file, each taking a buffer that need not be NUL-terminated and doing no
 * I/O, so unit tests and the fuzz target drive them directly), the device and mount filters, and
 * the statfs test hook. No other folder includes this header.
 *
 * Parser contract: a parser reads every line it understands and skips the others; it returns 0
 * when the whole buffer made sense, or TW_EPARSE (with the first bad line in err) when some line
 * was malformed, truncated or out of range - the good lines' results are kept either way. A
 * parser that emits metrics writes node_exporter's names, help texts and labels into the set.
 * Thread model: the parsers are pure and thread-safe on distinct outputs.
 */
#ifndef TW_COLLECTOR_PROCFS_INT_H
#define TW_COLLECTOR_PROCFS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/vfs.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/metric_set.h"
#include "procfs.h"

/* Highest CPU number accepted from /proc/stat (Linux's NR_CPUS tops out at 8192). */
#define TW_PROCFS_MAX_CPU 65535

/* Fields of a "cpuN" line, in /proc/stat order. */
enum {
    TW_PROCFS_CPU_USER = 0,
    TW_PROCFS_CPU_NICE,
    TW_PROCFS_CPU_SYSTEM,
    TW_PROCFS_CPU_IDLE,
    TW_PROCFS_CPU_IOWAIT,
    TW_PROCFS_CPU_IRQ,
    TW_PROCFS_CPU_SOFTIRQ,
    TW_PROCFS_CPU_STEAL,
    TW_PROCFS_CPU_GUEST,
    TW_PROCFS_CPU_GUEST_NICE,
    TW_PROCFS_CPU_NFIELDS
};

/* One CPU's counters in USER_HZ ticks. Fields the kernel did not print are 0. */
typedef struct tw_procfs_cpu {
    uint32_t id;                           /* N of "cpuN" */
    uint64_t ticks[TW_PROCFS_CPU_NFIELDS]; /* USER_HZ ticks */
} tw_procfs_cpu_t;

/* Bits of tw_procfs_stat_t.have: which single-value lines were found. */
enum {
    TW_PROCFS_HAVE_INTR = 1u << 0,
    TW_PROCFS_HAVE_CTXT = 1u << 1,
    TW_PROCFS_HAVE_BTIME = 1u << 2,
    TW_PROCFS_HAVE_PROCESSES = 1u << 3,
    TW_PROCFS_HAVE_RUNNING = 1u << 4,
    TW_PROCFS_HAVE_BLOCKED = 1u << 5,
};

/* /proc/stat, parsed. The cpus array is owned and reused across parses (grown, never shrunk). */
typedef struct tw_procfs_stat {
    tw_procfs_cpu_t *cpus; /* per-CPU lines only; the aggregate "cpu" line is skipped */
    size_t ncpus;
    size_t cap;
    uint64_t intr, ctxt, btime, processes, procs_running, procs_blocked;
    unsigned have; /* TW_PROCFS_HAVE_* */
} tw_procfs_stat_t;

/* Frees st's array (st itself belongs to the caller). */
void tw_procfs_stat_fini(tw_procfs_stat_t *st);

/* Parses /proc/stat into st (replacing what it held). */
int tw_procfs_stat_parse(const char *buf, size_t len, tw_procfs_stat_t *st, tw_error_t *err);

/*
 * node_exporter's guard against counters going backwards (cpu_linux.go updateCPUStats): cache
 * (indexed by CPU id, *cache_cap entries, grown here) keeps the last value of each counter; a
 * fresh value below the cached one is replaced by the cached one, unless idle went back by at
 * least 3 seconds (a CPU hotplug), which resets that CPU's cache. Rewrites st->cpus in place.
 */
void tw_procfs_cpu_merge(tw_procfs_cpu_t **cache, size_t *cache_cap, tw_procfs_stat_t *st,
                         long clk_tck);

/* Emits node_cpu_seconds_total, node_cpu_guest_seconds_total and the stat collector's metrics. */
void tw_procfs_stat_emit(const tw_procfs_stat_t *st, long clk_tck, tw_mset_t *out);

/* /proc/meminfo -> node_memory_* gauges. */
int tw_procfs_meminfo_parse(const char *buf, size_t len, tw_mset_t *out, tw_error_t *err);

/* /proc/loadavg -> node_load1, node_load5, node_load15. */
int tw_procfs_loadavg_parse(const char *buf, size_t len, tw_mset_t *out, tw_error_t *err);

/* /proc/pressure/<resource> ("cpu", "io" or "memory") -> node_pressure_* counters. */
int tw_procfs_pressure_parse(const char *buf, size_t len, const char *resource, tw_mset_t *out,
                             tw_error_t *err);

/* /proc/net/dev -> node_network_{receive,transmit}_*_total by device. */
int tw_procfs_netdev_parse(const char *buf, size_t len, tw_mset_t *out, tw_error_t *err);

/*
 * Whether node_exporter's default --collector.diskstats.device-exclude,
 * ^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$, matches name (n bytes).
 */
bool tw_procfs_disk_ignored(const char *name, size_t n);

/* /proc/diskstats -> node_disk_* by device, ignored devices left out. */
int tw_procfs_diskstats_parse(const char *buf, size_t len, tw_mset_t *out, tw_error_t *err);

/* One line of /proc/<pid>/mounts; the strings live in the arena given to the parser. */
typedef struct tw_procfs_mount {
    const char *device;
    const char *mountpoint; /* \040 and \011 decoded, rootfs prefix stripped */
    const char *fstype;
    bool readonly; /* "ro" among the mount options */
} tw_procfs_mount_t;

/*
 * Parses a mounts file. rootfs is the rootfs_root option: when it is not "/", a mount point under
 * it has that prefix stripped (node_exporter's rootfsStripPrefix). The array *mounts (capacity
 * *cap) is owned by the caller and reused; strings are allocated in arena.
 */
int tw_procfs_mounts_parse(const char *buf, size_t len, const char *rootfs, tw_arena_t *arena,
                           tw_procfs_mount_t **mounts, size_t *n, size_t *cap, tw_error_t *err);

/* node_exporter's default --collector.filesystem.mount-points-exclude. */
bool tw_procfs_mountpoint_excluded(const char *mountpoint);
/* node_exporter's default --collector.filesystem.fs-types-exclude. */
bool tw_procfs_fstype_excluded(const char *fstype);

/* The fields of /proc/<pid>/stat that the process_* metrics need. */
typedef struct tw_procfs_pid_stat {
    uint64_t utime, stime; /* USER_HZ ticks */
    uint64_t starttime;    /* USER_HZ ticks after boot */
    uint64_t vsize;        /* bytes */
    int64_t rss;           /* pages */
} tw_procfs_pid_stat_t;

int tw_procfs_pid_stat_parse(const char *buf, size_t len, tw_procfs_pid_stat_t *out,
                             tw_error_t *err);

/*
 * /proc/<pid>/limits: the soft limits "Max open files" and "Max address space"; "unlimited" is
 * 2^64-1 as in the procfs library client_golang uses. A limit not found is left untouched.
 */
int tw_procfs_limits_parse(const char *buf, size_t len, double *max_files, double *max_as,
                           tw_error_t *err);

/* A statfs replacement for tests: returns 0 or -errno, may block. */
typedef int (*tw_procfs_statfs_fn)(const char *path, struct statfs *out, void *ctx);

/* Test hook: the collector calls fn instead of statfs(2) from now on (NULL: statfs(2) again). */
void tw_procfs_collector_set_statfs(tw_procfs_collector_t *c, tw_procfs_statfs_fn fn, void *ctx);

/* Number of mounts currently marked stuck (their statfs has not returned). */
size_t tw_procfs_collector_stuck_count(tw_procfs_collector_t *c);

/* Shared helpers of the collector files (procfs_util.c). */

/* Adds a family named name, with unit derived from the name's _seconds/_bytes suffix. */
tw_mfamily_t *tw_procfs_family(tw_mset_t *out, const char *name, tw_metric_type_t type,
                               const char *help);

/* A view of the next line of buf[*pos..len), without its '\n'; false at the end. */
bool tw_procfs_next_line(const char *buf, size_t len, size_t *pos, const char **line,
                         size_t *line_len);

/* Splits line into at most max fields separated by whitespace or NUL bytes; returns the count (may
 * be > max, in which case only the first max are stored). */
size_t tw_procfs_fields(const char *line, size_t len, const char **f, size_t *flen, size_t max);

/* Parses a whole field as an unsigned decimal; false on anything else or overflow. */
bool tw_procfs_parse_u64(const char *s, size_t n, uint64_t *out);
/* Parses a whole field as a signed decimal. */
bool tw_procfs_parse_i64(const char *s, size_t n, int64_t *out);
/* Parses a whole field as a finite-or-not decimal float (strtod's syntax, at most 63 bytes). */
bool tw_procfs_parse_double(const char *s, size_t n, double *out);

/* Fills err with "line N: what" for parser errors when err is set and still clear. */
int tw_procfs_bad_line(tw_error_t *err, int lineno, const char *what, const char *text,
                       size_t text_len);

#endif
