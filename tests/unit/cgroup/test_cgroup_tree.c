/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cgroup_tree.c - the collector's kept directory trees and descriptors (cgroup_tree.c),
 * through the collector on temporary copies of the fixture trees: a file rewritten between two
 * collections is read anew through its kept descriptor; a cgroup removed and recreated under the
 * same path gets new descriptors (no stale value); children appearing under a leaf, replacing a
 * sibling (same count) or vanishing are seen; a descriptor budget of 3, of 1, and running out of
 * descriptors (EMFILE) give the same output as an unlimited budget; the RLIMIT_NOFILE helper.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg_test_util.h"
#include "collector/cgroup/cgroup.h"
#include "collector/cgroup/cgroup_int.h"

#define FIX TW_FIXTURES "/cgroup"
#define NOW_MS 1795600000123LL
#define C2 "8a1b2c3d4e5f6a7b8a1b2c3d4e5f6a7b8a1b2c3d4e5f6a7b8a1b2c3d4e5f6a7b"
#define SCOPE "/system.slice/cri-containerd-" C2 ".scope"

static void run(const char *cmd)
{
    assert_int_equal(system(cmd), 0);
}

static void rmrf(const char *path)
{
    char cmd[4400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    run(cmd);
}

static void cpr(const char *from, const char *to)
{
    char cmd[8700];
    snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s'", from, to);
    run(cmd);
}

/* A private copy of fixture tree name; path receives its root. */
static void copy_fixture(const char *name, char *path, size_t cap)
{
    char tmpl[] = "/tmp/tw-cg-tree-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    snprintf(path, cap, "%s/%s", tmpl, name);
    char from[4096];
    snprintf(from, sizeof(from), FIX "/%s", name);
    cpr(from, path);
}

static void rm_copy(const char *path)
{
    char top[4096];
    snprintf(top, sizeof(top), "%s", path);
    char *slash = strrchr(top, '/');
    assert_non_null(slash);
    *slash = '\0';
    rmrf(top);
}

/* Rewrites dir/name in place (same inode), as cgroupfs content changes. */
static void put(const char *dir, const char *name, const char *content)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    assert_int_equal(fclose(f), 0);
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every sample of s as sorted "family{labels} value" lines, plus the error and container counts:
 * a malloc'd string to compare collections exactly. */
static char *render(const tw_cgroup_collector_t *c, const tw_mset_t *s)
{
    size_t n = tw_mset_sample_count(s), k = 0;
    char **lines = calloc(n + 1, sizeof(*lines));
    size_t total = 256;
    for (size_t f = 0; f < tw_mset_family_count(s); f++) {
        const tw_mfamily_t *fm = tw_mset_family_at(s, f);
        for (size_t j = 0; j < fm->nsamples; j++) {
            char lb[2048], line[2400];
            snprintf(line, sizeof(line), "%s{%s} %.17g\n", fm->name,
                     cg_labels(&fm->samples[j], lb, sizeof(lb)), fm->samples[j].value);
            lines[k] = strdup(line);
            total += strlen(line);
            k++;
        }
    }
    qsort(lines, k, sizeof(*lines), cmp_line);
    char *out = malloc(total);
    size_t o = 0;
    for (size_t i = 0; i < k; i++) {
        size_t l = strlen(lines[i]);
        memcpy(out + o, lines[i], l);
        o += l;
        free(lines[i]);
    }
    free(lines);
    const char *first = NULL;
    size_t errors = tw_cgroup_collector_errors(c, &first);
    snprintf(out + o, total - o, "errors=%zu first=%s containers=%zu\n", errors,
             first != NULL ? first : "-", tw_cgroup_collector_containers(c));
    return out;
}

/* Fails unless two renderings are equal; on failure both go to /tmp/tw-cg-tree-{got,want}.txt
 * (cmocka truncates long strings). */
static void assert_same(const char *got, const char *want)
{
    if (strcmp(got, want) == 0) {
        return;
    }
    FILE *f = fopen("/tmp/tw-cg-tree-got.txt", "w");
    if (f != NULL) {
        fputs(got, f);
        fclose(f);
    }
    f = fopen("/tmp/tw-cg-tree-want.txt", "w");
    if (f != NULL) {
        fputs(want, f);
        fclose(f);
    }
    fail_msg("renderings differ: diff /tmp/tw-cg-tree-got.txt /tmp/tw-cg-tree-want.txt");
}

static tw_cgroup_collector_t *new_collector(const char *root, size_t max_open_files)
{
    tw_cgroup_options_t o = {.root = root, .max_open_files = max_open_files};
    tw_error_t err;
    tw_cgroup_collector_t *c = tw_cgroup_collector_new(&o, &err);
    if (c == NULL) {
        fail_msg("new(%s): %s", root, err.msg);
    }
    return c;
}

/* Collects once into s (reset first) and returns the rendering. */
static char *collect_render(tw_cgroup_collector_t *c, tw_mset_t *s)
{
    tw_mset_reset(s);
    tw_error_t err;
    if (tw_cgroup_collector_collect(c, s, NOW_MS, &err) != 0) {
        fail_msg("collect: %s", err.msg);
    }
    return render(c, s);
}

static double val(const tw_mset_t *s, const char *family, const char *id)
{
    const tw_msample_t *m = cg_find(s, family, "id", id, (char *)NULL);
    if (m == NULL) {
        fail_msg("no sample %s{id=\"%s\"}", family, id);
    }
    return m->value;
}

static bool has(const tw_mset_t *s, const char *family, const char *id)
{
    return cg_find(s, family, "id", id, (char *)NULL) != NULL;
}

/* Files rewritten between collections are read anew through the kept descriptors, and the
 * second collection opens nothing new. */
static void test_reuse_sees_new_content(void **state)
{
    (void)state;
    char root[4096], d[4200];
    copy_fixture("v2", root, sizeof(root));
    tw_cgroup_collector_t *c = new_collector(root, 0);
    tw_mset_t *s = tw_mset_new();
    char *first = collect_render(c, s);
    assert_true(val(s, "container_memory_usage_bytes", SCOPE) == 104857600);
    size_t kept = tw_cgroup_collector_open_files(c);
    assert_true(kept > 10); /* descriptors are kept between collections */

    snprintf(d, sizeof(d), "%s%s", root, SCOPE);
    put(d, "memory.current", "222222222\n");
    put(d, "cpu.stat", "usage_usec 7000000\nuser_usec 5000000\nsystem_usec 2000000\n");
    char *second = collect_render(c, s);
    assert_true(val(s, "container_memory_usage_bytes", SCOPE) == 222222222);
    assert_true(
        cg_find(s, "container_cpu_usage_seconds_total", "id", SCOPE, "cpu", "total", (char *)NULL)
            ->value == 7.0);
    assert_true(val(s, "container_cpu_user_seconds_total", SCOPE) == 5.0);
    assert_int_equal(tw_cgroup_collector_open_files(c), kept);
    assert_string_not_equal(first, second);

    /* A fresh collector agrees with the kept one. */
    tw_cgroup_collector_t *fresh = new_collector(root, 0);
    tw_mset_t *s2 = tw_mset_new();
    char *ref = collect_render(fresh, s2);
    assert_same(second, ref);
    free(first);
    free(second);
    free(ref);
    tw_mset_free(s2);
    tw_cgroup_collector_free(fresh);
    tw_mset_free(s);
    tw_cgroup_collector_free(c);
    rm_copy(root);
}

/* A cgroup removed and recreated under the same path (a new directory, so a new inode) between
 * collections: its old descriptors on tmpfs/ext4 would still read the removed files' content. */
static void test_removed_and_recreated(void **state)
{
    (void)state;
    char root[4096], d[4200];
    copy_fixture("v2", root, sizeof(root));
    tw_cgroup_collector_t *c = new_collector(root, 0);
    tw_mset_t *s = tw_mset_new();
    free(collect_render(c, s));
    assert_true(val(s, "container_memory_usage_bytes", SCOPE) == 104857600);

    snprintf(d, sizeof(d), "%s%s", root, SCOPE);
    char moved[4300];
    snprintf(moved, sizeof(moved), "%s.old", d);
    /* Keep the old directory alive elsewhere so its inode cannot be reused by the new one. */
    assert_int_equal(rename(d, moved), 0);
    cpr(moved, d);
    put(d, "memory.current", "5555\n");
    put(d, "memory.stat", "anon 1000\nfile 2000\ninactive_file 500\n");
    rmrf(moved);
    char *got = collect_render(c, s);
    assert_true(val(s, "container_memory_usage_bytes", SCOPE) == 5555);
    assert_true(val(s, "container_memory_rss", SCOPE) == 1000);
    assert_true(val(s, "container_memory_working_set_bytes", SCOPE) == 5055);

    tw_cgroup_collector_t *fresh = new_collector(root, 0);
    tw_mset_t *s2 = tw_mset_new();
    char *ref = collect_render(fresh, s2);
    assert_same(got, ref);

    /* Removed for good: gone from the next collection, descriptors released. */
    size_t kept = tw_cgroup_collector_open_files(c);
    rmrf(d);
    free(got);
    got = collect_render(c, s);
    assert_false(has(s, "container_last_seen", SCOPE));
    assert_true(has(s, "container_last_seen", "/system.slice"));
    assert_true(tw_cgroup_collector_open_files(c) < kept);
    assert_int_equal(tw_cgroup_collector_errors(c, NULL), 0);
    free(got);
    free(ref);
    tw_mset_free(s2);
    tw_cgroup_collector_free(fresh);
    tw_mset_free(s);
    tw_cgroup_collector_free(c);
    rm_copy(root);
}

/* The walk skips listing a directory whose known children are all still there and whose link
 * count says there are no others: these changes must all be seen. */
static void test_children_change(void **state)
{
    (void)state;
    char root[4096], d[4300];
    copy_fixture("v2", root, sizeof(root));
    tw_cgroup_collector_t *c = new_collector(root, 0);
    tw_mset_t *s = tw_mset_new();
    free(collect_render(c, s));
    free(collect_render(c, s));
    size_t base = tw_cgroup_collector_containers(c);

    /* A leaf gets a child. */
    snprintf(d, sizeof(d), "%s%s/sub", root, SCOPE);
    assert_int_equal(mkdir(d, 0755), 0);
    put(d, "cgroup.procs", "1\n2\n3\n");
    free(collect_render(c, s));
    assert_int_equal(tw_cgroup_collector_containers(c), base + 1);
    assert_true(val(s, "container_processes", SCOPE "/sub") == 3);

    /* A sibling replaces another: same number of children, different names. */
    assert_int_equal(rmdir(d), -1); /* not empty */
    rmrf(d);
    snprintf(d, sizeof(d), "%s%s/other", root, SCOPE);
    assert_int_equal(mkdir(d, 0755), 0);
    put(d, "cgroup.procs", "9\n");
    free(collect_render(c, s));
    assert_int_equal(tw_cgroup_collector_containers(c), base + 1);
    assert_false(has(s, "container_last_seen", SCOPE "/sub"));
    assert_true(val(s, "container_processes", SCOPE "/other") == 1);

    /* And goes. */
    rmrf(d);
    free(collect_render(c, s));
    assert_int_equal(tw_cgroup_collector_containers(c), base);
    assert_false(has(s, "container_last_seen", SCOPE "/other"));
    tw_mset_free(s);
    tw_cgroup_collector_free(c);
    rm_copy(root);
}

/* Budgets of 3 and 1 descriptors give what an unlimited budget gives, on every fixture tree
 * and across collections. */
static void test_tiny_budget_same_output(void **state)
{
    (void)state;
    static const char *const trees[] = {"v1", "v2", "k8s-cgroupfs-v1", "k8s-systemd-v2", "bad-v2"};
    for (size_t i = 0; i < sizeof(trees) / sizeof(trees[0]); i++) {
        char root[4096];
        snprintf(root, sizeof(root), FIX "/%s", trees[i]);
        tw_cgroup_collector_t *big = new_collector(root, 1000000);
        tw_cgroup_collector_t *three = new_collector(root, 3);
        tw_cgroup_collector_t *one = new_collector(root, 1);
        tw_mset_t *s = tw_mset_new();
        char *ref = collect_render(big, s);
        for (int round = 0; round < 3; round++) {
            char *again = collect_render(big, s);
            char *a = collect_render(three, s);
            assert_true(tw_cgroup_collector_open_files(three) <= 3);
            char *b = collect_render(one, s);
            assert_true(tw_cgroup_collector_open_files(one) <= 1);
            assert_same(again, ref);
            assert_same(a, ref);
            assert_same(b, ref);
            free(again);
            free(a);
            free(b);
        }
        assert_true(tw_cgroup_collector_open_files(big) > 3);
        free(ref);
        tw_mset_free(s);
        tw_cgroup_collector_free(big);
        tw_cgroup_collector_free(three);
        tw_cgroup_collector_free(one);
    }
}

static int open_fd_count(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d) != NULL) {
        n++;
    }
    closedir(d);
    return n - 3; /* ".", "..", and the directory's own descriptor */
}

/* Descriptors run out (EMFILE) with an unlimited budget: the kept ones are closed, the budget
 * shrinks, and the output is still the same; nothing crashes. */
static void test_emfile_same_output(void **state)
{
    (void)state;
    const char *root = FIX "/k8s-systemd-v2";
    tw_cgroup_collector_t *ref_c = new_collector(root, 1);
    tw_mset_t *s = tw_mset_new();
    char *ref = collect_render(ref_c, s);
    tw_cgroup_collector_free(ref_c);

    struct rlimit saved;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    tw_cgroup_collector_t *c = new_collector(root, 1000000);
    /* Room for the tree roots and a few files, far fewer than the tree has. */
    struct rlimit low = {(rlim_t)open_fd_count() + 12, saved.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    char *got[3];
    for (int i = 0; i < 3; i++) {
        got[i] = collect_render(c, s);
    }
    size_t kept = tw_cgroup_collector_open_files(c);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    for (int i = 0; i < 3; i++) {
        assert_same(got[i], ref);
        free(got[i]);
    }
    assert_true(kept < 12);
    free(ref);
    tw_mset_free(s);
    tw_cgroup_collector_free(c);
}

static void test_nofile_raise(void **state)
{
    (void)state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    uint64_t soft = 0;
    /* Asking for less never lowers it. */
    assert_int_equal(tw_cgroup_nofile_raise(16, &soft, NULL), 0);
    assert_true(soft == (uint64_t)rl.rlim_cur);
    /* Up to the hard limit. */
    assert_int_equal(tw_cgroup_nofile_raise(0, &soft, NULL), 0);
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > ((rlim_t)1 << 20)
                      ? ((rlim_t)1 << 20)
                      : rl.rlim_max;
    if (want < rl.rlim_cur) {
        want = rl.rlim_cur;
    }
    assert_true(soft == (uint64_t)want);
    struct rlimit now;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &now), 0);
    assert_true(now.rlim_cur == want);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reuse_sees_new_content),
        cmocka_unit_test(test_removed_and_recreated),
        cmocka_unit_test(test_children_change),
        cmocka_unit_test(test_tiny_budget_same_output),
        cmocka_unit_test(test_emfile_same_output),
        cmocka_unit_test(test_nofile_raise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
