/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procfs_mounts.c - /proc/1/mounts parsing and node_exporter's default filesystem exclusions
 * (--collector.filesystem.mount-points-exclude and --collector.filesystem.fs-types-exclude),
 * matched by hand instead of with a regexp engine. Pure; thread-safe on distinct outputs.
 */
#include "procfs_int.h"

#include <string.h>

#include "common/mem.h"

/* Decodes fstab(5)'s "\040" and "\011" as node_exporter does (and nothing else). */
static char *decode_mountpoint(tw_arena_t *arena, const char *s, size_t n)
{
    char *out = tw_arena_alloc(arena, n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && n - i >= 4) {
            if (memcmp(s + i, "\\040", 4) == 0) {
                out[o++] = ' ';
                i += 3;
                continue;
            }
            if (memcmp(s + i, "\\011", 4) == 0) {
                out[o++] = '\t';
                i += 3;
                continue;
            }
        }
        out[o++] = s[i];
    }
    out[o] = '\0';
    return out;
}

static bool has_ro_option(const char *opts, size_t n)
{
    size_t i = 0;
    while (i <= n) {
        size_t start = i;
        while (i < n && opts[i] != ',') {
            i++;
        }
        if (i - start == 2 && opts[start] == 'r' && opts[start + 1] == 'o') {
            return true;
        }
        i++;
    }
    return false;
}

int tw_procfs_mounts_parse(const char *buf, size_t len, const char *rootfs, tw_arena_t *arena,
                           tw_procfs_mount_t **mounts, size_t *n, size_t *cap, tw_error_t *err)
{
    tw_error_clear(err);
    *n = 0;
    size_t rootfs_len = rootfs != NULL ? strlen(rootfs) : 0;
    bool strip = rootfs_len > 0 && !(rootfs_len == 1 && rootfs[0] == '/');
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
            continue;
        }
        if (nf < 4) {
            rc = tw_procfs_bad_line(err, lineno, "malformed mount point information", line, ll);
            continue;
        }
        tw_procfs_mount_t m;
        m.device = tw_arena_strndup(arena, f[0], fl[0]);
        const char *mp = decode_mountpoint(arena, f[1], fl[1]);
        /* node_exporter's rootfsStripPrefix, but only at a path boundary. */
        if (strip && strncmp(mp, rootfs, rootfs_len) == 0 &&
            (mp[rootfs_len] == '\0' || mp[rootfs_len] == '/')) {
            mp = mp[rootfs_len] == '\0' ? "/" : mp + rootfs_len;
        }
        m.mountpoint = mp;
        m.fstype = tw_arena_strndup(arena, f[2], fl[2]);
        m.readonly = has_ro_option(f[3], fl[3]);
        tw_grow((void **)mounts, cap, *n + 1, sizeof(**mounts));
        (*mounts)[(*n)++] = m;
    }
    return rc;
}

/* Whether s is prefix followed by at least one more byte (the regexp's "prefix.+"). */
static bool prefix_plus(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 && s[n] != '\0';
}

/* Whether s is word, or word followed by "/" (the regexp's "word($|/)"). */
static bool word_dir(const char *s, const char *word)
{
    size_t n = strlen(word);
    return strncmp(s, word, n) == 0 && (s[n] == '\0' || s[n] == '/');
}

bool tw_procfs_mountpoint_excluded(const char *mp)
{
    /* ^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)
     * For the ".+" alternatives the trailing ($|/) always matches (".+" may take the rest). */
    if (mp[0] != '/') {
        return false;
    }
    const char *r = mp + 1;
    return word_dir(r, "dev") || word_dir(r, "proc") || word_dir(r, "sys") ||
           prefix_plus(r, "run/credentials/") || prefix_plus(r, "var/lib/docker/") ||
           prefix_plus(r, "var/lib/containers/storage/");
}

bool tw_procfs_fstype_excluded(const char *fstype)
{
    static const char *const types[] = {
        "autofs",   "binfmt_misc", "bpf",     "cgroup",    "cgroup2",    "configfs",   "debugfs",
        "devpts",   "devtmpfs",    "fusectl", "hugetlbfs", "iso9660",    "mqueue",     "nsfs",
        "overlay",  "proc",        "procfs",  "pstore",    "rpc_pipefs", "securityfs", "selinuxfs",
        "squashfs", "erofs",       "sysfs",   "tracefs",
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(fstype, types[i]) == 0) {
            return true;
        }
    }
    return false;
}
