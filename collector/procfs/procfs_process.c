/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procfs_process.c - the process_* self-metrics, named and computed as Prometheus' Go client
 * library's process collector does (process_collector.go with the procfs library): CPU time and
 * start time in USER_HZ ticks, resident memory in pages, open descriptors counted in
 * /proc/<pid>/fd, soft limits from /proc/<pid>/limits. The two parsers are pure; the collect
 * function reads files under a root path. Thread-safe: no shared state.
 */
#include "procfs_int.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"

int tw_procfs_pid_stat_parse(const char *buf, size_t len, tw_procfs_pid_stat_t *out,
                             tw_error_t *err)
{
    tw_error_clear(err);
    /* The command name may hold spaces and ')', so fields start after the last ')'. */
    const char *close = NULL;
    for (size_t i = len; i > 0; i--) {
        if (buf[i - 1] == ')') {
            close = buf + i - 1;
            break;
        }
    }
    if (close == NULL) {
        return tw_procfs_bad_line(err, 1, "no ')' after the command name", buf, len);
    }
    size_t rest = len - (size_t)(close + 1 - buf);
    const char *f[22];
    size_t fl[22];
    size_t nf = tw_procfs_fields(close + 1, rest, f, fl, 22);
    /* f[0] is field 3 (state) of proc(5); utime is field 14, rss field 24. */
    int64_t rss;
    if (nf < 22 || !tw_procfs_parse_u64(f[11], fl[11], &out->utime) ||
        !tw_procfs_parse_u64(f[12], fl[12], &out->stime) ||
        !tw_procfs_parse_u64(f[19], fl[19], &out->starttime) ||
        !tw_procfs_parse_u64(f[20], fl[20], &out->vsize) ||
        !tw_procfs_parse_i64(f[21], fl[21], &rss)) {
        return tw_procfs_bad_line(err, 1, "bad process stat", buf, len);
    }
    out->rss = rss;
    return 0;
}

/* Parses the soft limit of a limits line that starts with key; 1 found, 0 not this line,
 * TW_EPARSE malformed. */
static int limit_value(const char *line, size_t ll, const char *key, double *out)
{
    size_t kl = strlen(key);
    if (ll <= kl || memcmp(line, key, kl) != 0 || (line[kl] != ' ' && line[kl] != '\t')) {
        return 0;
    }
    const char *f[1];
    size_t fl[1];
    if (tw_procfs_fields(line + kl, ll - kl, f, fl, 1) < 1) {
        return TW_EPARSE;
    }
    if (fl[0] == 9 && memcmp(f[0], "unlimited", 9) == 0) {
        *out = (double)UINT64_MAX; /* procfs' parseUint: math.MaxUint64 */
        return 1;
    }
    uint64_t v;
    if (!tw_procfs_parse_u64(f[0], fl[0], &v)) {
        return TW_EPARSE;
    }
    *out = (double)v;
    return 1;
}

int tw_procfs_limits_parse(const char *buf, size_t len, double *max_files, double *max_as,
                           tw_error_t *err)
{
    tw_error_clear(err);
    int rc = 0;
    size_t pos = 0;
    const char *line;
    size_t ll;
    int lineno = 0;
    while (tw_procfs_next_line(buf, len, &pos, &line, &ll)) {
        lineno++;
        int r = limit_value(line, ll, "Max open files", max_files);
        if (r == 0) {
            r = limit_value(line, ll, "Max address space", max_as);
        }
        if (r < 0) {
            rc = tw_procfs_bad_line(err, lineno, "bad limit", line, ll);
        }
    }
    return rc;
}

static int read_into(tw_buf_t *b, const char *root, const char *dir, const char *file,
                     tw_error_t *err)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s/%s", root, dir, file);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        return tw_error_set(err, TW_EINVAL, "%s/%s/%s: path too long", root, dir, file);
    }
    return tw_buf_read_file(b, path, err);
}

static void add_gauge(tw_mset_t *out, const char *name, tw_metric_type_t type, const char *help,
                      double v)
{
    tw_mfamily_t *f = tw_procfs_family(out, name, type, help);
    tw_mset_add_borrowed(out, f, NULL, NULL, 0, v, TW_NO_TIMESTAMP);
}

/* Counts the entries of <root>/<dir>/fd but "." and "..". */
static int count_fds(const char *root, const char *dir, size_t *count, tw_error_t *err)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s/fd", root, dir);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        return tw_error_set(err, TW_EINVAL, "%s/%s/fd: path too long", root, dir);
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        int e = errno;
        return tw_error_set(err, -e, "%s: %s", path, strerror(e));
    }
    size_t c = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            c++;
        }
    }
    closedir(d);
    *count = c;
    return 0;
}

int tw_procfs_process_collect(const char *proc_root, int pid, tw_mset_t *out, tw_error_t *err)
{
    tw_error_t local;
    tw_error_clear(&local);
    int first = 0;
    char dir[32];
    if (pid == 0) {
        snprintf(dir, sizeof(dir), "self");
    } else {
        snprintf(dir, sizeof(dir), "%d", pid);
    }
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0) {
        hz = 100;
    }
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) {
        page = 4096;
    }
    tw_buf_t b;
    tw_buf_init(&b, 1 << 20);

    /* Boot time, for the start time. */
    uint64_t btime = 0;
    bool have_btime = false;
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/stat", proc_root);
    int rc = n < 0 || (size_t)n >= sizeof(path)
                 ? tw_error_set(&local, TW_EINVAL, "%s/stat: path too long", proc_root)
                 : tw_buf_read_file(&b, path, &local);
    if (rc == 0) {
        tw_procfs_stat_t st = {0};
        tw_procfs_stat_parse(b.data, b.len, &st, NULL);
        have_btime = (st.have & TW_PROCFS_HAVE_BTIME) != 0;
        btime = st.btime;
        tw_procfs_stat_fini(&st);
        if (!have_btime) {
            rc = tw_error_set(&local, TW_EPARSE, "%s: no btime line", path);
        }
    }
    if (rc != 0 && first == 0) {
        first = rc;
        if (err != NULL) {
            *err = local;
        }
    }

    tw_procfs_pid_stat_t ps;
    rc = read_into(&b, proc_root, dir, "stat", &local);
    if (rc == 0) {
        rc = tw_procfs_pid_stat_parse(b.data, b.len, &ps, &local);
    }
    if (rc == 0) {
        add_gauge(out, "process_cpu_seconds_total", TW_MTYPE_COUNTER,
                  "Total user and system CPU time spent in seconds.",
                  (double)(ps.utime + ps.stime) / (double)hz);
        add_gauge(out, "process_virtual_memory_bytes", TW_MTYPE_GAUGE,
                  "Virtual memory size in bytes.", (double)ps.vsize);
        add_gauge(out, "process_resident_memory_bytes", TW_MTYPE_GAUGE,
                  "Resident memory size in bytes.", (double)ps.rss * (double)page);
        if (have_btime) {
            add_gauge(out, "process_start_time_seconds", TW_MTYPE_GAUGE,
                      "Start time of the process since unix epoch in seconds.",
                      (double)btime + (double)ps.starttime / (double)hz);
        }
    } else if (first == 0) {
        first = rc;
        if (err != NULL) {
            *err = local;
        }
    }

    size_t fds = 0;
    rc = count_fds(proc_root, dir, &fds, &local);
    if (rc == 0) {
        add_gauge(out, "process_open_fds", TW_MTYPE_GAUGE, "Number of open file descriptors.",
                  (double)fds);
    } else if (first == 0) {
        first = rc;
        if (err != NULL) {
            *err = local;
        }
    }

    double max_files = -1, max_as = -1;
    rc = read_into(&b, proc_root, dir, "limits", &local);
    if (rc == 0) {
        rc = tw_procfs_limits_parse(b.data, b.len, &max_files, &max_as, &local);
    }
    if (max_files >= 0) {
        add_gauge(out, "process_max_fds", TW_MTYPE_GAUGE,
                  "Maximum number of open file descriptors.", max_files);
    }
    if (max_as >= 0) {
        add_gauge(out, "process_virtual_memory_max_bytes", TW_MTYPE_GAUGE,
                  "Maximum amount of virtual memory available in bytes.", max_as);
    }
    if (rc != 0 && first == 0) {
        first = rc;
        if (err != NULL) {
            *err = local;
        }
    }
    tw_buf_fini(&b);
    return first;
}
