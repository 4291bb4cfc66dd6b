/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procfs_node.c - parsers for /proc/meminfo, /proc/loadavg, /proc/pressure/<resource>,
 * /proc/net/dev and /proc/diskstats, each writing node_exporter's metric names, types, help
 * texts and labels into a metric set (meminfo, loadavg, pressure, netdev and diskstats
 * collectors). Pure: no I/O, no allocation but the set's own; thread-safe on distinct sets.
 */
#include "procfs_int.h"

#include <stdio.h>
#include <string.h>

/* ---- /proc/meminfo ----------------------------------------------------------------------- */

/*
 * node_exporter's rule (meminfo_linux.go parseMemInfo): the key loses its ':', "(x)" becomes
 * "_x" (regexp \((.*)\), greedy), and a line with a unit (always kB) is multiplied by 1024 and
 * gets "_bytes"; a line without unit (HugePages_Total) keeps its bare name. The type is counter
 * when the name ends with "_total" (case-sensitive, so never for today's fields), else gauge.
 */
static bool meminfo_key(const char *k, size_t kl, bool bytes, char *out, size_t outsz,
                        size_t *keyoff)
{
    const char *open = memchr(k, '(', kl);
    const char *close = NULL;
    if (open != NULL) {
        for (const char *p = k + kl; p > open + 1; p--) {
            if (p[-1] == ')') {
                close = p - 1;
                break;
            }
        }
    }
    int n;
    if (open != NULL && close != NULL) {
        n = snprintf(out, outsz, "node_memory_%.*s_%.*s%.*s%s", (int)(open - k), k,
                     (int)(close - open - 1), open + 1, (int)(k + kl - close - 1), close + 1,
                     bytes ? "_bytes" : "");
    } else {
        n = snprintf(out, outsz, "node_memory_%.*s%s", (int)kl, k, bytes ? "_bytes" : "");
    }
    *keyoff = strlen("node_memory_");
    return n > 0 && (size_t)n < outsz && tw_metric_name_valid(out);
}

int tw_procfs_meminfo_parse(const char *buf, size_t len, tw_mset_t *out, tw_error_t *err)
{
    tw_error_clear(err);
    int rc = 0;
    size_t pos = 0;
    const char *line;
    size_t ll;
    int lineno = 0;
    while (tw_procfs_next_line(buf, len, &pos, &line, &ll)) {
        lineno++;
        const char *f[4];
        size_t fl[4];
        size_t nf = tw_procfs_fields(line, ll, f, fl, 4);
        if (nf == 0) {
            continue; /* node_exporter: empty lines occur on some CentOS kernels */
        }
        double v;
        if (nf < 2 || nf > 3 || fl[0] < 2 || f[0][fl[0] - 1] != ':' ||
            !tw_procfs_parse_double(f[1], fl[1], &v)) {
            rc = tw_procfs_bad_line(err, lineno, "bad meminfo line", line, ll);
            continue;
        }
        char name[192];
        size_t keyoff;
        if (!meminfo_key(f[0], fl[0] - 1, nf == 3, name, sizeof(name), &keyoff)) {
            rc = tw_procfs_bad_line(err, lineno, "bad meminfo key", line, ll);
            continue;
        }
        if (nf == 3) {
            v *= 1024;
        }
        size_t nl = strlen(name);
        bool counter = nl >= 6 && strcmp(name + nl - 6, "_total") == 0;
        tw_metric_type_t type = counter ? TW_MTYPE_COUNTER : TW_MTYPE_GAUGE;
        if (tw_mset_find(out, name) != NULL) {
            rc = tw_procfs_bad_line(err, lineno, "duplicate meminfo key", line, ll);
            continue;
        }
        char help[256];
        snprintf(help, sizeof(help), "Memory information field %s.", name + keyoff);
        tw_mfamily_t *fam = tw_procfs_family(out, name, type, help);
        tw_mset_add_borrowed(out, fam, NULL, NULL, 0, v, TW_NO_TIMESTAMP);
    }
    return rc;
}

/* ---- /proc/loadavg ----------------------------------------------------------------------- */

int tw_procfs_loadavg_parse(const char *buf, size_t len, tw_mset_t *out, tw_error_t *err)
{
    tw_error_clear(err);
    static const char *const names[3] = {"node_load1", "node_load5", "node_load15"};
    static const char *const helps[3] = {"1m load average.", "5m load average.",
                                         "15m load average."};
    size_t pos = 0;
    const char *line = buf;
    size_t ll = 0;
    if (!tw_procfs_next_line(buf, len, &pos, &line, &ll)) {
        return tw_procfs_bad_line(err, 1, "empty loadavg", "", 0);
    }
    const char *f[3];
    size_t fl[3];
    double v[3];
    if (tw_procfs_fields(line, ll, f, fl, 3) < 3 || !tw_procfs_parse_double(f[0], fl[0], &v[0]) ||
        !tw_procfs_parse_double(f[1], fl[1], &v[1]) ||
        !tw_procfs_parse_double(f[2], fl[2], &v[2])) {
        return tw_procfs_bad_line(err, 1, "bad loadavg", line, ll);
    }
    for (size_t i = 0; i < 3; i++) {
        tw_mfamily_t *fam = tw_procfs_family(out, names[i], TW_MTYPE_GAUGE, helps[i]);
        tw_mset_add_borrowed(out, fam, NULL, NULL, 0, v[i], TW_NO_TIMESTAMP);
    }
    return 0;
}

/* ---- /proc/pressure/<resource> ----------------------------------------------------------- */

int tw_procfs_pressure_parse(const char *buf, size_t len, const char *resource, tw_mset_t *out,
                             tw_error_t *err)
{
    tw_error_clear(err);
    const char *some_name = NULL, *some_help = NULL, *full_name = NULL, *full_help = NULL;
    if (strcmp(resource, "cpu") == 0) {
        some_name = "node_pressure_cpu_waiting_seconds_total";
        some_help = "Total time in seconds that processes have waited for CPU time";
    } else if (strcmp(resource, "io") == 0) {
        some_name = "node_pressure_io_waiting_seconds_total";
        some_help = "Total time in seconds that processes have waited due to IO congestion";
        full_name = "node_pressure_io_stalled_seconds_total";
        full_help = "Total time in seconds no process could make progress due to IO congestion";
    } else if (strcmp(resource, "memory") == 0) {
        some_name = "node_pressure_memory_waiting_seconds_total";
        some_help = "Total time in seconds that processes have waited for memory";
        full_name = "node_pressure_memory_stalled_seconds_total";
        full_help = "Total time in seconds no process could make progress due to memory congestion";
    } else {
        return tw_error_set(err, TW_EINVAL, "unknown pressure resource \"%s\"", resource);
    }
    int rc = 0;
    bool seen_some = false, seen_full = false;
    size_t pos = 0;
    const char *line;
    size_t ll;
    int lineno = 0;
    while (tw_procfs_next_line(buf, len, &pos, &line, &ll)) {
        lineno++;
        const char *f[6];
        size_t fl[6];
        size_t nf = tw_procfs_fields(line, ll, f, fl, 6);
        if (nf == 0) {
            continue;
        }
        bool some = fl[0] == 4 && memcmp(f[0], "some", 4) == 0;
        bool full = fl[0] == 4 && memcmp(f[0], "full", 4) == 0;
        uint64_t total = 0;
        bool have_total = false;
        for (size_t i = 1; i < nf && i < 6; i++) {
            if (fl[i] > 6 && memcmp(f[i], "total=", 6) == 0) {
                have_total = tw_procfs_parse_u64(f[i] + 6, fl[i] - 6, &total);
            }
        }
        if ((!some && !full) || !have_total || (some && seen_some) || (full && seen_full)) {
            rc = tw_procfs_bad_line(err, lineno, "bad pressure line", line, ll);
            continue;
        }
        const char *name = some ? some_name : full_name;
        const char *help = some ? some_help : full_help;
        seen_some |= some;
        seen_full |= full;
        if (name == NULL) {
            continue; /* cpu's "full" line: node_exporter does not export it */
        }
        tw_mfamily_t *fam = tw_procfs_family(out, name, TW_MTYPE_COUNTER, help);
        tw_mset_add_borrowed(out, fam, NULL, NULL, 0, (double)total / 1000.0 / 1000.0,
                             TW_NO_TIMESTAMP);
    }
    return rc;
}

/* ---- /proc/net/dev ----------------------------------------------------------------------- */

#define NETDEV_NFIELDS 16

static const char *const netdev_keys[NETDEV_NFIELDS] = {
    "receive_bytes",  "receive_packets",  "receive_errs",       "receive_drop",
    "receive_fifo",   "receive_frame",    "receive_compressed", "receive_multicast",
    "transmit_bytes", "transmit_packets", "transmit_errs",      "transmit_drop",
    "transmit_fifo",  "transmit_colls",   "transmit_carrier",   "transmit_compressed",
};

int tw_procfs_netdev_parse(const char *buf, size_t len, tw_mset_t *out, tw_error_t *err)
{
    tw_error_clear(err);
    tw_mfamily_t *fams[NETDEV_NFIELDS] = {NULL};
    tw_arena_t *arena = tw_mset_arena(out);
    int rc = 0;
    size_t pos = 0;
    const char *line;
    size_t ll;
    int lineno = 0;
    while (tw_procfs_next_line(buf, len, &pos, &line, &ll)) {
        lineno++;
        if (memchr(line, '|', ll) != NULL) {
            continue; /* the two header lines */
        }
        const char *colon = NULL;
        for (size_t i = ll; i > 0; i--) {
            if (line[i - 1] == ':') {
                colon = line + i - 1;
                break;
            }
        }
        const char *f[NETDEV_NFIELDS + 1];
        size_t fl[NETDEV_NFIELDS + 1];
        if (colon == NULL) {
            if (tw_procfs_fields(line, ll, f, fl, 1) != 0) {
                rc = tw_procfs_bad_line(err, lineno, "no device name", line, ll);
            }
            continue;
        }
        const char *dev;
        size_t devl;
        if (tw_procfs_fields(line, (size_t)(colon - line), &dev, &devl, 1) != 1) {
            rc = tw_procfs_bad_line(err, lineno, "bad device name", line, ll);
            continue;
        }
        size_t rest = ll - (size_t)(colon + 1 - line);
        uint64_t v[NETDEV_NFIELDS];
        size_t nf = tw_procfs_fields(colon + 1, rest, f, fl, NETDEV_NFIELDS + 1);
        bool ok = nf == NETDEV_NFIELDS;
        for (size_t i = 0; ok && i < NETDEV_NFIELDS; i++) {
            ok = tw_procfs_parse_u64(f[i], fl[i], &v[i]);
        }
        if (!ok) {
            rc = tw_procfs_bad_line(err, lineno, "bad net/dev counters", line, ll);
            continue;
        }
        if (fams[0] == NULL) {
            for (size_t i = 0; i < NETDEV_NFIELDS; i++) {
                char name[64], help[80];
                snprintf(name, sizeof(name), "node_network_%s_total", netdev_keys[i]);
                snprintf(help, sizeof(help), "Network device statistic %s.", netdev_keys[i]);
                fams[i] = tw_procfs_family(out, name, TW_MTYPE_COUNTER, help);
            }
        }
        tw_label_t *l = tw_arena_alloc(arena, sizeof(*l));
        l->name = "device";
        l->value = tw_arena_strndup(arena, dev, devl);
        for (size_t i = 0; i < NETDEV_NFIELDS; i++) {
            tw_mset_add_borrowed(out, fams[i], NULL, l, 1, (double)v[i], TW_NO_TIMESTAMP);
        }
    }
    return rc;
}

/* ---- /proc/diskstats --------------------------------------------------------------------- */

static bool all_digits(const char *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

static bool name_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

bool tw_procfs_disk_ignored(const char *name, size_t n)
{
    /* How it works: every alternative of ^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$
     * ends in a non-digit, so the regexp matches exactly when the name is "prefix" + a
     * non-empty run of digits that reaches the end, and the prefix (the name without its
     * trailing digits) is one of the alternatives. */
    size_t p = n;
    while (p > 0 && name[p - 1] >= '0' && name[p - 1] <= '9') {
        p--;
    }
    if (p == n || p == 0) {
        return false;
    }
    if (name_is(name, p, "ram") || name_is(name, p, "zram") || name_is(name, p, "loop") ||
        name_is(name, p, "fd")) {
        return true;
    }
    /* (h|s|v|xv)d[a-z] */
    if ((p == 3 && (name[0] == 'h' || name[0] == 's' || name[0] == 'v')) ||
        (p == 4 && name[0] == 'x' && name[1] == 'v')) {
        if (name[p - 2] == 'd' && name[p - 1] >= 'a' && name[p - 1] <= 'z') {
            return true;
        }
    }
    /* nvme\d+n\d+p */
    if (p > 7 && memcmp(name, "nvme", 4) == 0 && name[p - 1] == 'p') {
        size_t i = 4, d1 = 0, d2 = 0;
        while (i < p - 1 && name[i] >= '0' && name[i] <= '9') {
            i++, d1++;
        }
        if (d1 == 0 || i >= p - 1 || name[i] != 'n') {
            return false;
        }
        i++;
        while (i < p - 1 && name[i] >= '0' && name[i] <= '9') {
            i++, d2++;
        }
        return d2 > 0 && i == p - 1;
    }
    return false;
}

#define DISK_NSTATS 17

static const struct {
    const char *name;
    const char *help;
    tw_metric_type_t type;
    double scale; /* sectors -> bytes, milliseconds -> seconds */
} disk_descs[DISK_NSTATS] = {
    {"node_disk_reads_completed_total", "The total number of reads completed successfully.",
     TW_MTYPE_COUNTER, 1},
    {"node_disk_reads_merged_total", "The total number of reads merged.", TW_MTYPE_COUNTER, 1},
    {"node_disk_read_bytes_total", "The total number of bytes read successfully.", TW_MTYPE_COUNTER,
     512},
    {"node_disk_read_time_seconds_total", "The total number of seconds spent by all reads.",
     TW_MTYPE_COUNTER, 0.001},
    {"node_disk_writes_completed_total", "The total number of writes completed successfully.",
     TW_MTYPE_COUNTER, 1},
    {"node_disk_writes_merged_total", "The number of writes merged.", TW_MTYPE_COUNTER, 1},
    {"node_disk_written_bytes_total", "The total number of bytes written successfully.",
     TW_MTYPE_COUNTER, 512},
    {"node_disk_write_time_seconds_total",
     "This is the total number of seconds spent by all writes.", TW_MTYPE_COUNTER, 0.001},
    {"node_disk_io_now", "The number of I/Os currently in progress.", TW_MTYPE_GAUGE, 1},
    {"node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", TW_MTYPE_COUNTER, 0.001},
    {"node_disk_io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os.",
     TW_MTYPE_COUNTER, 0.001},
    {"node_disk_discards_completed_total", "The total number of discards completed successfully.",
     TW_MTYPE_COUNTER, 1},
    {"node_disk_discards_merged_total", "The total number of discards merged.", TW_MTYPE_COUNTER,
     1},
    {"node_disk_discarded_sectors_total", "The total number of sectors discarded successfully.",
     TW_MTYPE_COUNTER, 1},
    {"node_disk_discard_time_seconds_total",
     "This is the total number of seconds spent by all discards.", TW_MTYPE_COUNTER, 0.001},
    {"node_disk_flush_requests_total", "The total number of flush requests completed successfully",
     TW_MTYPE_COUNTER, 1},
    {"node_disk_flush_requests_time_seconds_total",
     "This is the total number of seconds spent by all flush requests.", TW_MTYPE_COUNTER, 0.001},
};

int tw_procfs_diskstats_parse(const char *buf, size_t len, tw_mset_t *out, tw_error_t *err)
{
    tw_error_clear(err);
    tw_mfamily_t *fams[DISK_NSTATS] = {NULL};
    tw_arena_t *arena = tw_mset_arena(out);
    int rc = 0;
    size_t pos = 0;
    const char *line;
    size_t ll;
    int lineno = 0;
    while (tw_procfs_next_line(buf, len, &pos, &line, &ll)) {
        lineno++;
        const char *f[3 + DISK_NSTATS + 1];
        size_t fl[3 + DISK_NSTATS + 1];
        size_t nf = tw_procfs_fields(line, ll, f, fl, 3 + DISK_NSTATS + 1);
        if (nf == 0) {
            continue;
        }
        /* Linux prints 11 counters, 15 since 4.18 (discards), 17 since 5.5 (flushes); the
         * procfs library node_exporter uses takes exactly those shapes. */
        size_t nstats = nf >= 20 ? 17 : nf == 18 ? 15 : nf == 14 ? 11 : 0;
        bool ok = nstats > 0 && all_digits(f[0], fl[0]) && all_digits(f[1], fl[1]);
        uint64_t v[DISK_NSTATS];
        for (size_t i = 0; ok && i < nstats; i++) {
            ok = tw_procfs_parse_u64(f[3 + i], fl[3 + i], &v[i]);
        }
        if (!ok) {
            rc = tw_procfs_bad_line(err, lineno, "bad diskstats line", line, ll);
            continue;
        }
        if (tw_procfs_disk_ignored(f[2], fl[2])) {
            continue;
        }
        tw_label_t *l = tw_arena_alloc(arena, sizeof(*l));
        l->name = "device";
        l->value = tw_arena_strndup(arena, f[2], fl[2]);
        for (size_t i = 0; i < nstats; i++) {
            if (fams[i] == NULL) {
                fams[i] = tw_procfs_family(out, disk_descs[i].name, disk_descs[i].type,
                                           disk_descs[i].help);
            }
            tw_mset_add_borrowed(out, fams[i], NULL, l, 1, (double)v[i] * disk_descs[i].scale,
                                 TW_NO_TIMESTAMP);
        }
    }
    return rc;
}
