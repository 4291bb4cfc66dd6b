/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_procfs_parse.c - libFuzzer target for the host collector's /proc parsers. The first byte
 * picks the parser, the rest is the file: 'S' stat (then the CPU merge and emit), 'M' meminfo,
 * 'L' loadavg, 'C'/'I'/'P' pressure cpu/io/memory, 'N' net/dev, 'D' diskstats, 'F' mounts (then
 * the exclusion filters), 'T' /proc/<pid>/stat, 'R' /proc/<pid>/limits; any other byte picks by
 * its value modulo 11. Parsers get an exact-size copy, never a NUL-terminated one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/procfs/procfs_int.h"
#include "common/labels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char sel[] = "SMLCIPNDFTR";

static void check_set(const tw_mset_t *set)
{
    /* Whatever the input, every family name a parser emits must be a valid metric name. */
    for (size_t i = 0; i < tw_mset_family_count(set); i++) {
        if (!tw_metric_name_valid(tw_mset_family_at(set, i)->name)) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    const char *which = memchr(sel, data[0], sizeof(sel) - 1);
    char kind = which != NULL ? *which : sel[data[0] % (sizeof(sel) - 1)];
    size_t len = size - 1;
    char *buf = malloc(len == 0 ? 1 : len);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data + 1, len);
    tw_mset_t *set = tw_mset_new();
    tw_error_t err;
    switch (kind) {
    case 'S': {
        tw_procfs_stat_t st = {0};
        tw_procfs_cpu_t *cache = NULL;
        size_t cap = 0;
        tw_procfs_stat_parse(buf, len, &st, &err);
        tw_procfs_cpu_merge(&cache, &cap, &st, 100);
        tw_procfs_stat_parse(buf, len, &st, &err); /* reuse of the array, merge on a cache */
        tw_procfs_cpu_merge(&cache, &cap, &st, 100);
        tw_procfs_stat_emit(&st, 100, set);
        free(cache);
        tw_procfs_stat_fini(&st);
        break;
    }
    case 'M':
        tw_procfs_meminfo_parse(buf, len, set, &err);
        break;
    case 'L':
        tw_procfs_loadavg_parse(buf, len, set, &err);
        break;
    case 'C':
        tw_procfs_pressure_parse(buf, len, "cpu", set, &err);
        break;
    case 'I':
        tw_procfs_pressure_parse(buf, len, "io", set, &err);
        break;
    case 'P':
        tw_procfs_pressure_parse(buf, len, "memory", set, &err);
        break;
    case 'N':
        tw_procfs_netdev_parse(buf, len, set, &err);
        break;
    case 'D':
        tw_procfs_diskstats_parse(buf, len, set, &err);
        break;
    case 'F': {
        tw_procfs_mount_t *m = NULL;
        size_t n = 0, cap = 0;
        tw_procfs_mounts_parse(buf, len, "/host", tw_mset_arena(set), &m, &n, &cap, &err);
        for (size_t i = 0; i < n; i++) {
            (void)tw_procfs_mountpoint_excluded(m[i].mountpoint);
            (void)tw_procfs_fstype_excluded(m[i].fstype);
            if (strlen(m[i].device) == 0 || strlen(m[i].fstype) == 0) {
                abort(); /* fields are never empty */
            }
        }
        free(m);
        break;
    }
    case 'T': {
        tw_procfs_pid_stat_t ps;
        tw_procfs_pid_stat_parse(buf, len, &ps, &err);
        break;
    }
    case 'R': {
        double files = -1, as = -1;
        tw_procfs_limits_parse(buf, len, &files, &as, &err);
        break;
    }
    default:
        break;
    }
    (void)tw_procfs_disk_ignored(buf, len);
    check_set(set);
    tw_mset_free(set);
    free(buf);
    return 0;
}
