/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_tree.c - the collector's memory of one cgroup hierarchy between collections: its
 * directories as a tree of nodes, and the descriptors of the files read in each, kept open so
 * the next collection re-reads them with one pread(2) instead of openat + read + close (the
 * netdata/cAdvisor habit "open once, re-read with the same descriptor").
 *
 * How it works:
 *  - A walk re-stats the root, then for each directory with subdirectories (st_nlink != 2: a
 *    directory's nlink is 2 + its subdirectories on cgroupfs, tmpfs and ext4; other values,
 *    like btrfs' 1, just mean "list it") lists it with getdents64 through a kept directory
 *    descriptor and fstatat()s each subdirectory. A child whose inode changed since the last
 *    walk was removed and recreated under the same name: its node is dropped with its
 *    descriptors and a new one made, so a kept descriptor never reads a former cgroup. Children
 *    not listed any more are dropped. Leaves (nlink 2) cost one fstatat per walk and are never
 *    listed. A directory whose nlink still counts exactly its known children, each of which
 *    still stats as a directory with the same inode, has no other child: it is not listed
 *    either (cgroupfs does not change a directory's mtime when a child is created, checked on
 *    6.18, so the mtime cannot tell). A steady tree thus costs one fstatat per directory.
 *  - A read goes through the node's kept descriptor with pread at offset 0: cgroupfs (kernfs
 *    seq_file) regenerates the content on a read at offset 0, a regular file just re-reads. A
 *    descriptor of a removed cgroup fails with ENODEV on cgroupfs: it is closed and the file
 *    opened again by path, which then fails with ENOENT like a fresh open would.
 *  - Kept descriptors (files, and directories with children) are counted in a budget shared by
 *    the collector's trees. Past it, files are opened, read and closed each time. When an open
 *    fails with EMFILE or ENFILE, every kept file descriptor is closed (directory ones stay: an
 *    open may be relative to one), the budget is cut to half of what was kept, and the open is
 *    retried once; the count of such events is kept in the budget.
 *
 * On filesystems other than cgroupfs (fixture trees on tmpfs), a kept descriptor of a file that
 * was deleted keeps returning its last content until the next walk sees its directory gone or
 * replaced; files rewritten in place are read anew.
 *
 * Thread model: a tree and its budget are used by one thread at a time (the collector's).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup_int.h"
#include "common/hash.h"
#include "common/mem.h"

#define DENTS_BUF (32 * 1024)

const char *const tw_cg_file_names[TW_CG_FILE_COUNT] = {
    [TW_CG_FILE_CONTROLLERS] = "cgroup.controllers",
    [TW_CG_FILE_PROCS] = "cgroup.procs",
    [TW_CG_FILE_CPUACCT_USAGE] = "cpuacct.usage",
    [TW_CG_FILE_CPUACCT_STAT] = "cpuacct.stat",
    [TW_CG_FILE_CPU_SHARES] = "cpu.shares",
    [TW_CG_FILE_CFS_PERIOD] = "cpu.cfs_period_us",
    [TW_CG_FILE_CFS_QUOTA] = "cpu.cfs_quota_us",
    [TW_CG_FILE_CPU_STAT] = "cpu.stat",
    [TW_CG_FILE_CPU_MAX] = "cpu.max",
    [TW_CG_FILE_CPU_WEIGHT] = "cpu.weight",
    [TW_CG_FILE_MEM_USAGE] = "memory.usage_in_bytes",
    [TW_CG_FILE_MEM_MAX_USAGE] = "memory.max_usage_in_bytes",
    [TW_CG_FILE_MEM_FAILCNT] = "memory.failcnt",
    [TW_CG_FILE_MEM_LIMIT] = "memory.limit_in_bytes",
    [TW_CG_FILE_MEM_STAT] = "memory.stat",
    [TW_CG_FILE_MEM_OOM_CONTROL] = "memory.oom_control",
    [TW_CG_FILE_MEM_CURRENT] = "memory.current",
    [TW_CG_FILE_MEM_PEAK] = "memory.peak",
    [TW_CG_FILE_MEM_MAX] = "memory.max",
    [TW_CG_FILE_MEM_SWAP_CURRENT] = "memory.swap.current",
    [TW_CG_FILE_MEM_EVENTS] = "memory.events",
    [TW_CG_FILE_BLKIO_RECURSIVE] = "blkio.throttle.io_service_bytes_recursive",
    [TW_CG_FILE_BLKIO] = "blkio.throttle.io_service_bytes",
    [TW_CG_FILE_IO_STAT] = "io.stat",
    [TW_CG_FILE_PIDS_CURRENT] = "pids.current",
    [TW_CG_FILE_CPU_PRESSURE] = "cpu.pressure",
    [TW_CG_FILE_MEM_PRESSURE] = "memory.pressure",
    [TW_CG_FILE_IO_PRESSURE] = "io.pressure",
};

struct tw_cg_tree {
    char *path;       /* the hierarchy root, absolute */
    tw_cg_fds_t *fds; /* borrowed budget */
    int rootfd;       /* kept; -1 until the first walk succeeds */
    dev_t dev;        /* the root's identity, to notice a remount */
    ino_t ino;
    tw_cg_node_t *root; /* NULL until the first walk */
    unsigned gen;
    unsigned max_depth;
    bool (*visit)(void *, tw_cg_node_t *);
    void *ctx;
    char **levels; /* a DENTS_BUF getdents64 buffer per walk depth, made on first use */
    size_t nlevels;
};

/* ---- Nodes ---- */

static tw_cg_node_t *node_new(const char *parent_rel, size_t plen, const char *name, size_t nlen)
{
    tw_cg_node_t *n = tw_xcalloc(1, sizeof(*n));
    if (parent_rel == NULL) {
        n->rel = tw_xstrdup("/");
        n->rel_len = 1;
        n->name = ".";
    } else {
        size_t base = plen == 1 ? 0 : plen; /* the root's children: "/name" */
        n->rel_len = base + 1 + nlen;
        n->rel = tw_xmalloc(n->rel_len + 1);
        memcpy(n->rel, parent_rel, base);
        n->rel[base] = '/';
        memcpy(n->rel + base + 1, name, nlen);
        n->rel[n->rel_len] = '\0';
        n->name = n->rel + base + 1;
    }
    n->hash = tw_hash64(n->rel, n->rel_len, 0);
    n->dfd = -1;
    for (int i = 0; i < TW_CG_FILE_COUNT; i++) {
        n->fd[i] = -1;
    }
    return n;
}

static void fd_release(tw_cg_fds_t *fds, int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
        fds->kept--;
    }
}

static void node_close(tw_cg_fds_t *fds, tw_cg_node_t *n)
{
    fd_release(fds, &n->dfd);
    for (int i = 0; i < TW_CG_FILE_COUNT; i++) {
        fd_release(fds, &n->fd[i]);
    }
}

static void node_free(tw_cg_fds_t *fds, tw_cg_node_t *n)
{
    if (n == NULL) {
        return;
    }
    for (size_t i = 0; i < n->nkids; i++) {
        node_free(fds, n->kids[i]);
    }
    node_close(fds, n);
    free(n->kids);
    free(n->rel);
    free(n);
}

static void node_drop_kids(tw_cg_fds_t *fds, tw_cg_node_t *n)
{
    for (size_t i = 0; i < n->nkids; i++) {
        node_free(fds, n->kids[i]);
    }
    n->nkids = 0;
}

/* Closes the kept file descriptors of n and below; directory descriptors stay, since an open in
 * progress may be relative to one. */
static void node_close_files(tw_cg_fds_t *fds, tw_cg_node_t *n)
{
    if (n == NULL) {
        return;
    }
    for (int i = 0; i < TW_CG_FILE_COUNT; i++) {
        fd_release(fds, &n->fd[i]);
    }
    for (size_t i = 0; i < n->nkids; i++) {
        node_close_files(fds, n->kids[i]);
    }
}

void tw_cg_fds_drop_all(tw_cg_fds_t *fds)
{
    for (size_t i = 0; i < fds->ntrees; i++) {
        node_close_files(fds, fds->trees[i]->root);
    }
}

/* Takes a descriptor into the budget when there is room; returns false (caller closes) else. */
static bool fd_keep(tw_cg_fds_t *fds, int *slot, int fd)
{
    if (fds->kept >= fds->max) {
        return false;
    }
    *slot = fd;
    fds->kept++;
    return true;
}

/* openat that, on EMFILE/ENFILE with descriptors kept, closes them all, halves the budget and
 * retries once. */
static int open_at(tw_cg_fds_t *fds, int dfd, const char *path, int flags)
{
    int fd = openat(dfd, path, flags | O_CLOEXEC);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
        fds->exhausted++;
        if (fds->kept > 0) {
            fds->max = fds->kept / 2;
            tw_cg_fds_drop_all(fds);
            fd = openat(dfd, path, flags | O_CLOEXEC);
        }
    }
    return fd;
}

/* ---- Tree ---- */

tw_cg_tree_t *tw_cg_tree_new(const char *path, tw_cg_fds_t *fds)
{
    tw_cg_tree_t *t = tw_xcalloc(1, sizeof(*t));
    t->path = tw_xstrdup(path);
    t->fds = fds;
    t->rootfd = -1;
    if (fds->ntrees < sizeof(fds->trees) / sizeof(fds->trees[0])) {
        fds->trees[fds->ntrees++] = t;
    }
    return t;
}

void tw_cg_tree_free(tw_cg_tree_t *t)
{
    if (t == NULL) {
        return;
    }
    node_free(t->fds, t->root);
    if (t->rootfd >= 0) {
        close(t->rootfd);
    }
    for (size_t i = 0; i < t->fds->ntrees; i++) {
        if (t->fds->trees[i] == t) {
            t->fds->trees[i] = t->fds->trees[--t->fds->ntrees];
            break;
        }
    }
    for (size_t i = 0; i < t->nlevels; i++) {
        free(t->levels[i]);
    }
    free(t->levels);
    free(t->path);
    free(t);
}

/* The directory descriptor of n for listing: the kept one, or one opened now (*tmp set). */
static int node_dir(tw_cg_tree_t *t, tw_cg_node_t *n, int parent_dfd, bool *tmp)
{
    *tmp = false;
    if (n->dfd >= 0) {
        if (lseek(n->dfd, 0, SEEK_SET) == 0) {
            return n->dfd;
        }
        fd_release(t->fds, &n->dfd);
    }
    int fd = parent_dfd >= 0
                 ? open_at(t->fds, parent_dfd, n->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
                 : open_at(t->fds, t->rootfd, n->rel + 1, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0) {
        return -1;
    }
    if (!fd_keep(t->fds, &n->dfd, fd)) {
        *tmp = true;
    }
    return fd;
}

/* Finds the child named name (nlen bytes) among kids (taken ones are NULL), trying *hint first:
 * a directory lists in the same order each time. Returns its index or -1. */
static ssize_t find_kid(const tw_cg_node_t *n, tw_cg_node_t *const *kids, size_t nkids,
                        const char *name, size_t nlen, size_t *hint)
{
    size_t want_len = (n->rel_len > 1 ? n->rel_len : 0) + 1 + nlen;
    for (size_t k = 0; k < nkids; k++) {
        size_t i = (*hint + k) % nkids;
        const tw_cg_node_t *c = kids[i];
        if (c != NULL && c->rel_len == want_len && memcmp(c->name, name, nlen) == 0) {
            *hint = i + 1;
            return (ssize_t)i;
        }
    }
    return -1;
}

static void walk_node(tw_cg_tree_t *t, tw_cg_node_t *n, int dfd, unsigned depth);

/* The getdents64 buffer of one walk depth (each level of the recursion needs its own). */
static char *dents_buf(tw_cg_tree_t *t, unsigned depth)
{
    if (depth >= t->nlevels) {
        size_t cap = t->nlevels;
        tw_grow((void **)&t->levels, &cap, (size_t)depth + 1, sizeof(*t->levels));
        memset(t->levels + t->nlevels, 0, (cap - t->nlevels) * sizeof(*t->levels));
        t->nlevels = cap;
    }
    if (t->levels[depth] == NULL) {
        t->levels[depth] = tw_xmalloc(DENTS_BUF);
    }
    return t->levels[depth];
}

/* Lists n (open as dfd) and walks its subdirectories; n->kids becomes what was found. */
static void list_node(tw_cg_tree_t *t, tw_cg_node_t *n, int dfd, unsigned depth)
{
    tw_cg_node_t **old = n->kids;
    size_t nold = n->nkids;
    tw_cg_node_t **kids = NULL;
    size_t nkids = 0, cap = 0, hint = 0;
    char *buf = dents_buf(t, depth);
    for (;;) {
        ssize_t got = getdents64(dfd, buf, DENTS_BUF);
        if (got <= 0) {
            break;
        }
        for (ssize_t off = 0; off < got;) {
            struct dirent64 *e = (struct dirent64 *)(void *)(buf + off);
            off += e->d_reclen;
            const char *nm = e->d_name;
            if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0'))) {
                continue;
            }
            if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) {
                continue;
            }
            size_t nl = strlen(nm);
            if (n->rel_len + 1 + nl >= PATH_MAX) {
                continue;
            }
            struct stat st;
            if (fstatat(dfd, nm, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) {
                continue; /* not a directory, or gone already */
            }
            tw_cg_node_t *c = NULL;
            ssize_t i = find_kid(n, old, nold, nm, nl, &hint);
            if (i >= 0) {
                c = old[i];
                old[i] = NULL; /* the leftovers are what vanished */
                if (c->ino != (uint64_t)st.st_ino) {
                    node_free(t->fds, c); /* removed and recreated under the same name */
                    c = NULL;
                }
            }
            if (c == NULL) {
                c = node_new(n->rel, n->rel_len, nm, nl);
                c->ino = (uint64_t)st.st_ino;
            }
            c->nlink = (uint64_t)st.st_nlink;
            tw_grow((void **)&kids, &cap, nkids + 1, sizeof(*kids));
            kids[nkids++] = c;
            walk_node(t, c, dfd, depth + 1);
        }
    }
    for (size_t i = 0; i < nold; i++) {
        node_free(t->fds, old[i]);
    }
    free(old);
    n->kids = kids;
    n->nkids = nkids;
    n->kids_cap = cap;
}

/*
 * True when n's subdirectories are still exactly its known kids, without listing it: n has as
 * many subdirectories as kids (its nlink says so) and each kid is still a directory with the
 * same inode, so there is no room for another. Refreshes the kids' nlink on the way.
 */
static bool kids_unchanged(tw_cg_tree_t *t, tw_cg_node_t *n)
{
    for (size_t i = 0; i < n->nkids; i++) {
        tw_cg_node_t *c = n->kids[i];
        struct stat st;
        int rc = n->dfd >= 0 ? fstatat(n->dfd, c->name, &st, AT_SYMLINK_NOFOLLOW)
                             : fstatat(t->rootfd, c->rel + 1, &st, AT_SYMLINK_NOFOLLOW);
        if (rc != 0 || !S_ISDIR(st.st_mode) || (uint64_t)st.st_ino != c->ino) {
            return false;
        }
        c->nlink = (uint64_t)st.st_nlink;
    }
    return true;
}

/* Visits n (its stat fresh in n->nlink), then lists it when it may have subdirectories. */
static void walk_node(tw_cg_tree_t *t, tw_cg_node_t *n, int parent_dfd, unsigned depth)
{
    n->gen = t->gen;
    if (!t->visit(t->ctx, n) || depth >= t->max_depth || n->nlink == 2) {
        node_drop_kids(t->fds, n);
        fd_release(t->fds, &n->dfd); /* a leaf needs no directory descriptor */
        return;
    }
    if (n->nkids > 0 && n->nlink - 2 == n->nkids && kids_unchanged(t, n)) {
        for (size_t i = 0; i < n->nkids; i++) {
            walk_node(t, n->kids[i], n->dfd >= 0 ? n->dfd : -1, depth + 1);
        }
        return;
    }
    bool tmp = false;
    int dfd;
    if (n == t->root) {
        dfd = lseek(t->rootfd, 0, SEEK_SET) == 0 ? t->rootfd : -1;
    } else {
        dfd = node_dir(t, n, parent_dfd, &tmp);
    }
    if (dfd < 0) {
        node_drop_kids(t->fds, n);
        return;
    }
    list_node(t, n, dfd, depth);
    if (tmp) {
        close(dfd);
    }
}

int tw_cg_tree_walk(tw_cg_tree_t *t, unsigned max_depth, bool (*visit)(void *, tw_cg_node_t *),
                    void *ctx, uint64_t *dev_out, uint64_t *ino_out)
{
    struct stat st;
    if (stat(t->path, &st) != 0) {
        return -errno;
    }
    if (!S_ISDIR(st.st_mode)) {
        return -ENOTDIR;
    }
    if (t->rootfd < 0 || st.st_dev != t->dev || st.st_ino != t->ino) {
        /* First walk, or something else is mounted there now: start over. */
        node_free(t->fds, t->root);
        t->root = NULL;
        if (t->rootfd >= 0) {
            close(t->rootfd);
        }
        t->rootfd = open_at(t->fds, AT_FDCWD, t->path, O_RDONLY | O_DIRECTORY);
        if (t->rootfd < 0) {
            return -errno;
        }
        if (fstat(t->rootfd, &st) != 0) {
            int e = errno;
            close(t->rootfd);
            t->rootfd = -1;
            return -e;
        }
        t->dev = st.st_dev;
        t->ino = st.st_ino;
        t->root = node_new(NULL, 0, NULL, 0);
        t->root->ino = (uint64_t)st.st_ino;
    }
    *dev_out = (uint64_t)st.st_dev;
    *ino_out = (uint64_t)st.st_ino;
    t->root->nlink = (uint64_t)st.st_nlink;
    t->gen++;
    t->max_depth = max_depth;
    t->visit = visit;
    t->ctx = ctx;
    walk_node(t, t->root, t->rootfd, 0);
    return 0;
}

/* ---- Reading ---- */

/* Reads fd from offset 0 into buf (NUL-terminated). Returns the length or -errno. A short read
 * is the end: seq_file (cgroupfs) and regular files return less than asked only at EOF, which
 * saves the read(2) that would return 0. With lines, reads it all in pieces and counts '\n'. */
static ssize_t pread_all(int fd, char *buf, size_t cap, uint64_t *lines)
{
    size_t len = 0;
    off_t off = 0;
    if (lines != NULL) {
        *lines = 0;
    }
    for (;;) {
        size_t want = cap - 1 - len;
        ssize_t n = pread(fd, buf + len, want, off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        off += n;
        if (lines != NULL) {
            for (ssize_t i = 0; i < n; i++) {
                *lines += buf[len + (size_t)i] == '\n';
            }
            if (n == 0 || (size_t)n < want) {
                len += (size_t)n;
                break;
            }
            len = 0; /* keep only the last piece */
            continue;
        }
        len += (size_t)n;
        if (n == 0 || (size_t)n < want || len + 1 >= cap) {
            break;
        }
    }
    buf[len] = '\0';
    return (ssize_t)len;
}

/* Opens file of node by path from the tree root (or the node's kept directory). */
static int open_file(tw_cg_tree_t *t, const tw_cg_node_t *n, const char *name)
{
    if (n->dfd >= 0) {
        return open_at(t->fds, n->dfd, name, O_RDONLY);
    }
    if (n->rel_len == 1) {
        return open_at(t->fds, t->rootfd, name, O_RDONLY);
    }
    char path[PATH_MAX + 64];
    size_t nl = strlen(name);
    if (n->rel_len + nl + 1 >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, n->rel + 1, n->rel_len - 1);
    path[n->rel_len - 1] = '/';
    memcpy(path + n->rel_len, name, nl + 1);
    return open_at(t->fds, t->rootfd, path, O_RDONLY);
}

ssize_t tw_cg_tree_read(tw_cg_tree_t *t, tw_cg_node_t *node, unsigned file, char *buf, size_t cap,
                        uint64_t *lines)
{
    if (file >= TW_CG_FILE_COUNT || cap < 2 || t->rootfd < 0) {
        return -EINVAL;
    }
    int *slot = &node->fd[file];
    if (*slot >= 0) {
        ssize_t n = pread_all(*slot, buf, cap, lines);
        if (n >= 0) {
            return n;
        }
        fd_release(t->fds, slot);
        if (n != -ENODEV && n != -ENOENT && n != -ESTALE) {
            return n;
        }
        /* The cgroup was removed: see whether the path holds a new one. */
    }
    int fd = open_file(t, node, tw_cg_file_names[file]);
    if (fd < 0) {
        return -errno;
    }
    ssize_t n = pread_all(fd, buf, cap, lines);
    if (n < 0 || !fd_keep(t->fds, slot, fd)) {
        close(fd);
    }
    return n;
}

bool tw_cg_tree_gone(tw_cg_tree_t *t, const tw_cg_node_t *node)
{
    if (node->rel_len == 1) {
        return false;
    }
    struct stat st;
    if (t->rootfd < 0 || fstatat(t->rootfd, node->rel + 1, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return true;
    }
    return !S_ISDIR(st.st_mode) || (uint64_t)st.st_ino != node->ino;
}
