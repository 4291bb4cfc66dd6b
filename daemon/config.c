/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - loading tidewatch.yml (see config.h).
 *
 * The document is parsed into a node tree with positions by common/yaml_tree.h; the schema walk
 * here visits only the keys it knows: each mapping is checked key by key in document order
 * (duplicate, unsupported section, unknown key), and each value is converted by a typed getter
 * that reports the node's position and what it expected. Absent keys and null values keep the
 * defaults, which live in config_set_defaults() and are restated by the embedded YAML document
 * (a unit test checks that the two agree).
 *
 * Pure apart from tw_config_load_file()'s read. Thread-safe: no shared state.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/hpa/hpa.h"
#include "autoscaler/orchestrator/orchestrator.h"
#include "autoscaler/scalers/scalers.h"
#include "common/buf.h"
#include "common/labels.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "collector/scrape/scrape.h"
#include "collector/tsdb/tsdb.h"
#include "common/yaml_tree.h"
#include "config_alerting.h"
#include "config_vpa.h"
#include "query/query.h"

/* The embedded default: the values config_set_defaults() sets, as a user would write them. */
static const char default_yaml[] =
    "# tidewatch's built-in configuration (`tidewatch config default` prints it).\n"
    "global:\n"
    "  scrape_interval: 1m\n"
    "  scrape_timeout: 10s\n"
    "  evaluation_interval: 1m\n"
    "  external_labels: {}\n"
    "  external_url: \"\"\n"
    "# The node and container alert rules compiled into tidewatch (deploy/rules/).\n"
    "rule_files:\n"
    "  - builtin:node.yml\n"
    "  - builtin:containers.yml\n"
    "collector:\n"
    "  interval: 10s\n"
    "  cgroup:\n"
    "    enabled: true\n"
    "    root: /sys/fs/cgroup\n"
    "    max_cgroups: 100000\n"
    "  procfs:\n"
    "    enabled: true\n"
    "    proc_root: /proc\n"
    "    sys_root: /sys\n"
    "    rootfs: /\n"
    "    statfs_timeout: 2s\n"
    "  kubernetes:\n"
    "    pods_url: \"\"\n"
    "    node_name: \"\"\n"
    "    bearer_token_file: \"\"\n"
    "    ca_file: \"\"\n"
    "    insecure_skip_verify: false\n"
    "    refresh_interval: 30s\n"
    "storage:\n"
    "  path: ./data\n"
    "  retention:\n"
    "    time: 15d\n"
    "    size: 0B\n"
    "  tsdb:\n"
    "    out_of_order_time_window: 0s\n"
    "  wal:\n"
    "    fsync: always\n"
    "    fsync_interval: 1s\n"
    "    segment_size: 128MB\n"
    "web:\n"
    "  listen_address: 127.0.0.1:9475\n"
    "  max_connections: 512\n"
    "  read_timeout: 5m\n"
    "  max_request_body_bytes: 10485760\n"
    "query:\n"
    "  compat: prometheus3\n"
    "  lookback_delta: 5m\n"
    "  max_samples: 50000000\n"
    "  timeout: 2m\n"
    "  delayed_name_removal: false\n"
    "autoscaling:\n"
    "  sync_period: 5s\n"
    "  resource_window: 1m\n"
    "  max_decisions: 20\n"
    "  controller:\n"
    "    tolerance: 0.1\n"
    "    cpu_initialization_period: 5m\n"
    "    initial_readiness_delay: 30s\n"
    "    downscale_stabilization: 5m\n"
    "    scale_to_zero: false\n"
    "    configurable_tolerance: false\n"
    "  driver:\n"
    "    type: dryrun\n"
    "    max_conflicts: 3\n"
    "  leader_election:\n"
    "    enabled: false\n"
    "  metric_queries: []\n"
    "  horizontal: []\n";

const char *tw_config_default_yaml(void)
{
    return default_yaml;
}

static int get_bytes(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *section,
                     const char *key, uint64_t *out)
{
    const char *s = NULL;
    char path[128], desc[96];
    int rc = tw_yaml_get_scalar(w, n, section, key, "a byte size like 512MB", &s);
    if (rc != 0 || s == NULL) {
        return rc;
    }
    if (tw_config_bytes_parse(s, out) != 0) {
        return tw_yaml_error(w, n,
                             "%s: invalid size %s (expected a number and a unit: B, KB, MB, GB, "
                             "TB, PB, EB, e.g. 512MB)",
                             tw_yaml_key_path(section, key, path, sizeof(path)),
                             tw_yaml_describe(n, desc, sizeof(desc)));
    }
    return 0;
}

/* ---- helpers kept here ---------------------------------------------------------------------- */

/* Top-level sections that later versions implement; present, they are refused by name. */
static const char *const unsupported_sections[] = {"remote_write", "remote_read", "kafka", NULL};

/* ---- sections ------------------------------------------------------------------------------ */

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const tw_config_label_t *)a)->name, ((const tw_config_label_t *)b)->name);
}

static int walk_external_labels(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    char desc[96];
    if (tw_yaml_is_null(n)) {
        return 0;
    }
    if (n->kind != TW_YAML_MAP) {
        return tw_yaml_error(w, n,
                             "global.external_labels: expected a mapping of label names to values, "
                             "got %s",
                             tw_yaml_describe(n, desc, sizeof(desc)));
    }
    size_t nl = n->n / 2;
    tw_config_label_t *labels = tw_xcalloc(nl > 0 ? nl : 1, sizeof(*labels));
    size_t count = 0;
    int rc = 0;
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const tw_yaml_node_t *k = n->items[i];
        const tw_yaml_node_t *v = n->items[i + 1];
        const char *value = "";
        if (k->kind != TW_YAML_SCALAR || strlen(k->value) != k->len ||
            !tw_label_name_valid(k->value)) {
            rc = tw_yaml_error(w, k,
                               "global.external_labels: %s is not a valid label name (expected "
                               "[a-zA-Z_][a-zA-Z0-9_]*)",
                               tw_yaml_describe(k, desc, sizeof(desc)));
            goto out;
        }
        rc = tw_yaml_get_scalar(w, v, "global.external_labels", k->value, "a string", &value);
        if (rc != 0) {
            goto out;
        }
        labels[count].name = tw_xstrdup(k->value);
        labels[count].value = tw_xstrdup(value);
        count++;
    }
    qsort(labels, count, sizeof(*labels), label_cmp);
    for (size_t i = 1; i < count; i++) {
        if (strcmp(labels[i - 1].name, labels[i].name) == 0) {
            /* Report the later occurrence in document order. */
            const tw_yaml_node_t *second = NULL;
            for (size_t j = 0; j + 1 < n->n; j += 2) {
                if (strcmp(n->items[j]->value, labels[i].name) != 0) {
                    continue;
                }
                if (second == NULL) {
                    second = n->items[j]; /* the first one, kept for the message */
                } else {
                    rc = tw_yaml_error(w, n->items[j],
                                       "duplicate key \"%s\" in global.external_labels (first at "
                                       "line %d, column %d)",
                                       labels[i].name, second->line, second->col);
                    goto out;
                }
            }
        }
    }
out:
    if (rc != 0) {
        for (size_t i = 0; i < count; i++) {
            free(labels[i].name);
            free(labels[i].value);
        }
        free(labels);
        return rc;
    }
    c->global.external_labels = labels;
    c->global.n_external_labels = count;
    return 0;
}

static int walk_global(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    static const char *const keys[] = {"scrape_interval", "scrape_timeout", "evaluation_interval",
                                       "external_labels", "external_url"};
    const tw_yaml_node_t *v[5];
    int rc = tw_yaml_fields(w, n, "global", keys, 5, v);
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[0], "global", keys[0], false, &c->global.scrape_interval_ms);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[1], "global", keys[1], false, &c->global.scrape_timeout_ms);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[2], "global", keys[2], false,
                                  &c->global.evaluation_interval_ms);
    }
    if (rc == 0) {
        rc = walk_external_labels(w, v[3], c);
    }
    if (rc == 0) {
        rc = tw_config_walk_external_url(w, v[4], c);
    }
    if (rc == 0 && c->global.scrape_timeout_ms > c->global.scrape_interval_ms) {
        const tw_yaml_node_t *at = v[1] != NULL ? v[1] : (v[0] != NULL ? v[0] : n);
        char a[32], b[32];
        rc = tw_yaml_error(w, at,
                           "global.scrape_timeout: %s is greater than global.scrape_interval %s",
                           tw_duration_format(c->global.scrape_timeout_ms, a, sizeof(a)),
                           tw_duration_format(c->global.scrape_interval_ms, b, sizeof(b)));
    }
    return rc;
}

static int walk_cgroup(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    static const char *const keys[] = {"enabled", "root", "max_cgroups"};
    const char *sec = "collector.cgroup";
    const tw_yaml_node_t *v[3];
    uint64_t max = c->collector.cgroup.max_cgroups;
    int rc = tw_yaml_fields(w, n, sec, keys, 3, v);
    if (rc == 0) {
        rc = tw_yaml_get_bool(w, v[0], sec, keys[0], &c->collector.cgroup.enabled);
    }
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[1], sec, keys[1], &c->collector.cgroup.root);
    }
    if (rc == 0) {
        rc = tw_yaml_get_uint(w, v[2], sec, keys[2], 1, 100000000, &max);
        c->collector.cgroup.max_cgroups = (size_t)max;
    }
    if (rc == 0 && c->collector.cgroup.root[0] == '\0') {
        rc = tw_yaml_error(w, v[1], "collector.cgroup.root: must not be empty");
    }
    return rc;
}

static int walk_procfs(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    static const char *const keys[] = {"enabled", "proc_root", "sys_root", "rootfs",
                                       "statfs_timeout"};
    const char *sec = "collector.procfs";
    const tw_yaml_node_t *v[5];
    int rc = tw_yaml_fields(w, n, sec, keys, 5, v);
    if (rc == 0) {
        rc = tw_yaml_get_bool(w, v[0], sec, keys[0], &c->collector.procfs.enabled);
    }
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[1], sec, keys[1], &c->collector.procfs.proc_root);
    }
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[2], sec, keys[2], &c->collector.procfs.sys_root);
    }
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[3], sec, keys[3], &c->collector.procfs.rootfs);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[4], sec, keys[4], false,
                                  &c->collector.procfs.statfs_timeout_ms);
    }
    char *paths[3] = {c->collector.procfs.proc_root, c->collector.procfs.sys_root,
                      c->collector.procfs.rootfs};
    for (int i = 0; rc == 0 && i < 3; i++) {
        if (paths[i][0] == '\0') {
            rc = tw_yaml_error(w, v[i + 1], "%s.%s: must not be empty", sec, keys[i + 1]);
        }
    }
    return rc;
}

/*
 * Replaces each ${VAR} in *s with the environment variable's value, so one DaemonSet manifest can
 * name the node it runs on (pods_url: https://${NODE_IP}:10250/pods). An unset variable or an
 * unterminated ${ is an error at n's position.
 */
static int expand_env(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *key_path_s, char **s)
{
    if (strstr(*s, "${") == NULL) {
        return 0;
    }
    tw_buf_t out;
    tw_buf_init(&out, 64 * 1024);
    int rc = 0;
    const char *p = *s;
    while (*p != '\0') {
        if (p[0] != '$' || p[1] != '{') {
            tw_buf_putc(&out, *p++);
            continue;
        }
        const char *end = strchr(p + 2, '}');
        if (end == NULL) {
            rc = tw_yaml_error(w, n, "%s: unterminated ${ in %s", key_path_s, *s);
            goto out;
        }
        char name[128];
        size_t len = (size_t)(end - (p + 2));
        if (len == 0 || len >= sizeof(name)) {
            rc = tw_yaml_error(w, n, "%s: bad variable name in %s", key_path_s, *s);
            goto out;
        }
        memcpy(name, p + 2, len);
        name[len] = '\0';
        const char *val = getenv(name);
        if (val == NULL) {
            rc = tw_yaml_error(w, n, "%s: environment variable %s is not set", key_path_s, name);
            goto out;
        }
        if (tw_buf_puts(&out, val) != 0) {
            rc = tw_yaml_error(w, n, "%s: expanded value too long", key_path_s);
            goto out;
        }
        p = end + 1;
    }
    free(*s);
    *s = tw_buf_steal(&out, NULL);
out:
    tw_buf_fini(&out);
    return rc;
}

static int walk_kubernetes(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    static const char *const keys[] = {
        "pods_url",        "node_name", "bearer_token_file", "ca_file", "insecure_skip_verify",
        "refresh_interval"};
    const char *sec = "collector.kubernetes";
    const tw_yaml_node_t *v[6];
    int rc = tw_yaml_fields(w, n, sec, keys, 6, v);
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[0], sec, keys[0], &c->collector.kubernetes.pods_url);
    }
    if (rc == 0 && v[0] != NULL) {
        rc =
            expand_env(w, v[0], "collector.kubernetes.pods_url", &c->collector.kubernetes.pods_url);
    }
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[1], sec, keys[1], &c->collector.kubernetes.node_name);
    }
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[2], sec, keys[2], &c->collector.kubernetes.bearer_token_file);
    }
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[3], sec, keys[3], &c->collector.kubernetes.ca_file);
    }
    if (rc == 0) {
        rc = tw_yaml_get_bool(w, v[4], sec, keys[4], &c->collector.kubernetes.insecure_skip_verify);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[5], sec, keys[5], false,
                                  &c->collector.kubernetes.refresh_interval_ms);
    }
    const char *url = c->collector.kubernetes.pods_url;
    if (rc == 0 && url[0] != '\0' && strncmp(url, "http://", 7) != 0 &&
        strncmp(url, "https://", 8) != 0 && strncmp(url, "file://", 7) != 0) {
        char desc[96];
        rc =
            tw_yaml_error(w, v[0],
                          "collector.kubernetes.pods_url: expected an http://, https:// or file:// "
                          "URL, got %s",
                          tw_yaml_describe(v[0], desc, sizeof(desc)));
    }
    return rc;
}

static int walk_collector(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    static const char *const keys[] = {"interval", "cgroup", "procfs", "kubernetes"};
    const tw_yaml_node_t *v[4];
    int rc = tw_yaml_fields(w, n, "collector", keys, 4, v);
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[0], "collector", keys[0], false, &c->collector.interval_ms);
    }
    if (rc == 0) {
        rc = walk_cgroup(w, v[1], c);
    }
    if (rc == 0) {
        rc = walk_procfs(w, v[2], c);
    }
    if (rc == 0) {
        rc = walk_kubernetes(w, v[3], c);
    }
    return rc;
}

/* storage.tsdb and storage.wal: the TSDB's knobs (docs/formats/wal.md says what fsync means). */
static int walk_storage_tsdb_wal(tw_yaml_walk_t *w, const tw_yaml_node_t *tn,
                                 const tw_yaml_node_t *wn, tw_config_t *c)
{
    static const char *const tkeys[] = {"out_of_order_time_window"};
    static const char *const wkeys[] = {"fsync", "fsync_interval", "segment_size"};
    const tw_yaml_node_t *tv[1], *wv[3];
    const char *fsync = NULL;
    char desc[96];
    int rc = tw_yaml_fields(w, tn, "storage.tsdb", tkeys, 1, tv);
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, tv[0], "storage.tsdb", tkeys[0], true,
                                  &c->storage.out_of_order_window_ms);
    }
    if (rc == 0) {
        rc = tw_yaml_fields(w, wn, "storage.wal", wkeys, 3, wv);
    }
    if (rc == 0) {
        rc = tw_yaml_get_scalar(w, wv[0], "storage.wal", wkeys[0], "always, interval or never",
                                &fsync);
    }
    if (rc == 0 && fsync != NULL) {
        if (strcmp(fsync, "always") == 0) {
            c->storage.wal_fsync = TW_TSDB_FSYNC_ALWAYS;
        } else if (strcmp(fsync, "interval") == 0) {
            c->storage.wal_fsync = TW_TSDB_FSYNC_INTERVAL;
        } else if (strcmp(fsync, "never") == 0) {
            c->storage.wal_fsync = TW_TSDB_FSYNC_NEVER;
        } else {
            rc = tw_yaml_error(w, wv[0],
                               "storage.wal.fsync: expected always, interval or never, got %s",
                               tw_yaml_describe(wv[0], desc, sizeof(desc)));
        }
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, wv[1], "storage.wal", wkeys[1], false,
                                  &c->storage.wal_fsync_interval_ms);
    }
    if (rc == 0) {
        rc = get_bytes(w, wv[2], "storage.wal", wkeys[2], &c->storage.wal_segment_bytes);
    }
    if (rc == 0 && (c->storage.wal_segment_bytes < 64 * 1024 ||
                    c->storage.wal_segment_bytes > 1024ULL * 1024 * 1024)) {
        rc = tw_yaml_error(w, wv[2], "storage.wal.segment_size: must be between 64KB and 1GB");
    }
    return rc;
}

static int walk_storage(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    static const char *const keys[] = {"path", "retention", "tsdb", "wal"};
    static const char *const rkeys[] = {"time", "size"};
    const tw_yaml_node_t *v[4], *rv[2];
    int rc = tw_yaml_fields(w, n, "storage", keys, 4, v);
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[0], "storage", keys[0], &c->storage.path);
    }
    if (rc == 0 && c->storage.path[0] == '\0') {
        rc = tw_yaml_error(w, v[0], "storage.path: must not be empty");
    }
    if (rc == 0) {
        rc = tw_yaml_fields(w, v[1], "storage.retention", rkeys, 2, rv);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, rv[0], "storage.retention", rkeys[0], true,
                                  &c->storage.retention_time_ms);
    }
    if (rc == 0) {
        rc = get_bytes(w, rv[1], "storage.retention", rkeys[1], &c->storage.retention_size_bytes);
    }
    if (rc == 0) {
        rc = walk_storage_tsdb_wal(w, v[2], v[3], c);
    }
    return rc;
}

static int walk_web(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    static const char *const keys[] = {"listen_address", "max_connections", "read_timeout",
                                       "max_request_body_bytes"};
    const tw_yaml_node_t *v[4];
    uint64_t conns = c->web.max_connections, body = c->web.max_request_body_bytes;
    int rc = tw_yaml_fields(w, n, "web", keys, 4, v);
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[0], "web", keys[0], &c->web.listen_address);
    }
    if (rc == 0 && tw_config_listen_address_check(c->web.listen_address) != 0) {
        char desc[96];
        rc =
            tw_yaml_error(w, v[0],
                          "web.listen_address: invalid address %s (expected host:port, [ipv6]:port "
                          "or :port with a port from 0 to 65535, e.g. 127.0.0.1:9475)",
                          tw_yaml_describe(v[0], desc, sizeof(desc)));
    }
    if (rc == 0) {
        rc = tw_yaml_get_uint(w, v[1], "web", keys[1], 1, 1000000, &conns);
        c->web.max_connections = (unsigned)conns;
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[2], "web", keys[2], false, &c->web.read_timeout_ms);
    }
    if (rc == 0) {
        rc = tw_yaml_get_uint(w, v[3], "web", keys[3], 1, (uint64_t)1 << 40, &body);
        c->web.max_request_body_bytes = (size_t)body;
    }
    return rc;
}

/* "prometheus3" or "prometheus2" into a tw_promql_compat_t. */
static int compat_parse(const char *s, int *out)
{
    if (strcmp(s, "prometheus3") == 0) {
        *out = TW_PROMQL_COMPAT_PROMETHEUS3;
    } else if (strcmp(s, "prometheus2") == 0) {
        *out = TW_PROMQL_COMPAT_PROMETHEUS2;
    } else {
        return TW_EINVAL;
    }
    return 0;
}

/* query: the engine's settings, named like Prometheus' --query.* flags. */
static int walk_query(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    static const char *const keys[] = {"compat", "lookback_delta", "max_samples", "timeout",
                                       "delayed_name_removal"};
    const tw_yaml_node_t *v[5];
    const char *compat = NULL;
    char desc[96];
    int rc = tw_yaml_fields(w, n, "query", keys, 5, v);
    if (rc == 0) {
        rc = tw_yaml_get_scalar(w, v[0], "query", keys[0], "prometheus3 or prometheus2", &compat);
    }
    if (rc == 0 && compat != NULL && compat_parse(compat, &c->query.compat) != 0) {
        rc = tw_yaml_error(w, v[0], "query.compat: expected prometheus3 or prometheus2, got %s",
                           tw_yaml_describe(v[0], desc, sizeof(desc)));
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[1], "query", keys[1], false, &c->query.lookback_delta_ms);
    }
    if (rc == 0) {
        rc = tw_yaml_get_uint(w, v[2], "query", keys[2], 1, (uint64_t)INT64_MAX,
                              &c->query.max_samples);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[3], "query", keys[3], false, &c->query.timeout_ms);
    }
    if (rc == 0) {
        rc = tw_yaml_get_bool(w, v[4], "query", keys[4], &c->query.delayed_name_removal);
    }
    return rc;
}

/* ---- kubernetes: API server access ----------------------------------------------------------- */

/* A non-negative decimal number (qps). */
static int get_double(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *section,
                      const char *key, double min, double *out)
{
    const char *s = NULL;
    char path[128], desc[96];
    int rc = tw_yaml_get_scalar(w, n, section, key, "a number", &s);
    if (rc != 0 || s == NULL) {
        return rc;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !(v >= min) || v > 1e12) {
        return tw_yaml_error(w, n, "%s: expected a number >= %g, got %s",
                             tw_yaml_key_path(section, key, path, sizeof(path)), min,
                             tw_yaml_describe(n, desc, sizeof(desc)));
    }
    *out = v;
    return 0;
}

static int walk_kube_api(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    static const char *const keys[] = {"kubeconfig", "context",
                                       "server",     "service_account_dir",
                                       "namespace",  "insecure_skip_tls_verify",
                                       "qps",        "burst",
                                       "timeout"};
    const char *sec = "kubernetes";
    const tw_yaml_node_t *v[9];
    if (n == NULL) {
        return 0;
    }
    c->kubernetes.configured = true;
    int rc = tw_yaml_fields(w, n, sec, keys, 9, v);
    char **strs[5] = {&c->kubernetes.kubeconfig, &c->kubernetes.context, &c->kubernetes.server,
                      &c->kubernetes.service_account_dir, &c->kubernetes.namespace};
    for (size_t i = 0; rc == 0 && i < 5; i++) {
        rc = tw_yaml_get_string(w, v[i], sec, keys[i], strs[i]);
    }
    if (rc == 0) {
        rc = tw_yaml_get_bool(w, v[5], sec, keys[5], &c->kubernetes.insecure_skip_tls_verify);
    }
    if (rc == 0) {
        rc = get_double(w, v[6], sec, keys[6], 0.0, &c->kubernetes.qps);
    }
    if (rc == 0) {
        rc = tw_yaml_get_uint(w, v[7], sec, keys[7], 1, 100000, &c->kubernetes.burst);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[8], sec, keys[8], false, &c->kubernetes.timeout_ms);
    }
    const char *srv = c->kubernetes.server;
    if (rc == 0 && srv[0] != '\0' && strncmp(srv, "https://", 8) != 0 &&
        strncmp(srv, "http://", 7) != 0) {
        char desc[96];
        rc =
            tw_yaml_error(w, v[2], "kubernetes.server: expected an https:// or http:// URL, got %s",
                          tw_yaml_describe(v[2], desc, sizeof(desc)));
    }
    return rc;
}

/* ---- autoscaling ----------------------------------------------------------------------------- */

static void argv_free(char **argv)
{
    for (size_t i = 0; argv != NULL && argv[i] != NULL; i++) {
        free(argv[i]);
    }
    free(argv);
}

/* A non-empty sequence of strings into a NULL-terminated argv (the old one freed). */
static int get_argv(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *section,
                    const char *key, char ***out)
{
    char path[128], desc[96];
    if (tw_yaml_is_null(n)) {
        return 0;
    }
    tw_yaml_key_path(section, key, path, sizeof(path));
    if (n->kind != TW_YAML_SEQ || n->n == 0) {
        return tw_yaml_error(w, n, "%s: expected a non-empty list of strings (the argv), got %s",
                             path, tw_yaml_describe(n, desc, sizeof(desc)));
    }
    char **argv = tw_xcalloc(n->n + 1, sizeof(*argv));
    for (size_t i = 0; i < n->n; i++) {
        const char *s = NULL;
        int rc = tw_yaml_get_scalar(w, n->items[i], path, "[]", "a string", &s);
        if (rc == 0 && (s == NULL || (i == 0 && s[0] == '\0'))) {
            rc = tw_yaml_error(w, n->items[i], "%s[%zu]: must not be empty", path, i);
        }
        if (rc != 0) {
            argv_free(argv);
            return rc;
        }
        argv[i] = tw_xstrdup(s);
    }
    argv_free(*out);
    *out = argv;
    return 0;
}

static int walk_driver(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    static const char *const keys[] = {"type",  "max_conflicts", "kubernetes",
                                       "nomad", "exec",          "dryrun"};
    static const char *const kkeys[] = {"max_retries", "max_retry_wait"};
    static const char *const nkeys[] = {
        "address", "token_file", "namespace", "region",
        "ca_file", "cert_file",  "key_file",  "insecure_skip_tls_verify",
        "timeout"};
    static const char *const ekeys[] = {"scale_command", "get_command", "timeout"};
    static const char *const dkeys[] = {"max_records"};
    __typeof__(c->autoscaling.driver) *d = &c->autoscaling.driver;
    const char *sec = "autoscaling.driver";
    const tw_yaml_node_t *v[6], *kv[2], *nv[9], *ev[3], *dv[1];
    char desc[96];
    int rc = tw_yaml_fields(w, n, sec, keys, 6, v);
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[0], sec, keys[0], &d->type);
    }
    if (rc == 0 && !tw_orch_driver_known(d->type)) {
        rc = tw_yaml_error(w, v[0],
                           "autoscaling.driver.type: expected dryrun, kubernetes, nomad or exec, "
                           "got %s",
                           tw_yaml_describe(v[0], desc, sizeof(desc)));
    }
    if (rc == 0) {
        rc = tw_yaml_get_uint(w, v[1], sec, keys[1], 1, 100, &d->max_conflicts);
    }
    if (rc == 0) {
        rc = tw_yaml_fields(w, v[2], "autoscaling.driver.kubernetes", kkeys, 2, kv);
    }
    if (rc == 0) {
        rc = tw_yaml_get_uint(w, kv[0], "autoscaling.driver.kubernetes", kkeys[0], 0, 100,
                              &d->kubernetes.max_retries);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, kv[1], "autoscaling.driver.kubernetes", kkeys[1], false,
                                  &d->kubernetes.max_retry_wait_ms);
    }
    if (rc == 0) {
        rc = tw_yaml_fields(w, v[3], "autoscaling.driver.nomad", nkeys, 9, nv);
    }
    char **nstr[7] = {&d->nomad.address, &d->nomad.token_file, &d->nomad.namespace,
                      &d->nomad.region,  &d->nomad.ca_file,    &d->nomad.cert_file,
                      &d->nomad.key_file};
    for (size_t i = 0; rc == 0 && i < 7; i++) {
        rc = tw_yaml_get_string(w, nv[i], "autoscaling.driver.nomad", nkeys[i], nstr[i]);
    }
    if (rc == 0) {
        rc = tw_yaml_get_bool(w, nv[7], "autoscaling.driver.nomad", nkeys[7],
                              &d->nomad.insecure_skip_tls_verify);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, nv[8], "autoscaling.driver.nomad", nkeys[8], false,
                                  &d->nomad.timeout_ms);
    }
    if (rc == 0) {
        rc = tw_yaml_fields(w, v[4], "autoscaling.driver.exec", ekeys, 3, ev);
    }
    if (rc == 0) {
        rc = get_argv(w, ev[0], "autoscaling.driver.exec", ekeys[0], &d->exec.scale_command);
    }
    if (rc == 0) {
        rc = get_argv(w, ev[1], "autoscaling.driver.exec", ekeys[1], &d->exec.get_command);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, ev[2], "autoscaling.driver.exec", ekeys[2], false,
                                  &d->exec.timeout_ms);
    }
    if (rc == 0 && strcmp(d->type, "exec") == 0 && d->exec.scale_command == NULL) {
        rc = tw_yaml_error(w, v[4] != NULL ? v[4] : (v[0] != NULL ? v[0] : n),
                           "autoscaling.driver.exec.scale_command: required with type exec");
    }
    if (rc == 0) {
        rc = tw_yaml_fields(w, v[5], "autoscaling.driver.dryrun", dkeys, 1, dv);
    }
    if (rc == 0) {
        rc = tw_yaml_get_uint(w, dv[0], "autoscaling.driver.dryrun", dkeys[0], 1, 1000000,
                              &d->dryrun_max_records);
    }
    return rc;
}

static int walk_controller(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    static const char *const keys[] = {"tolerance",
                                       "cpu_initialization_period",
                                       "initial_readiness_delay",
                                       "downscale_stabilization",
                                       "scale_to_zero",
                                       "configurable_tolerance"};
    __typeof__(c->autoscaling.controller) *k = &c->autoscaling.controller;
    const char *sec = "autoscaling.controller";
    const tw_yaml_node_t *v[6];
    int rc = tw_yaml_fields(w, n, sec, keys, 6, v);
    if (rc == 0) {
        rc = get_double(w, v[0], sec, keys[0], 0.0, &k->tolerance);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[1], sec, keys[1], true, &k->cpu_initialization_period_ms);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[2], sec, keys[2], true, &k->initial_readiness_delay_ms);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[3], sec, keys[3], true, &k->downscale_stabilization_ms);
    }
    if (rc == 0) {
        rc = tw_yaml_get_bool(w, v[4], sec, keys[4], &k->scale_to_zero);
    }
    if (rc == 0) {
        rc = tw_yaml_get_bool(w, v[5], sec, keys[5], &k->configurable_tolerance);
    }
    return rc;
}

static int walk_leader_election(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    static const char *const keys[] = {"enabled",     "namespace",      "name",
                                       "identity",    "lease_duration", "renew_deadline",
                                       "retry_period"};
    __typeof__(c->autoscaling.leader_election) *l = &c->autoscaling.leader_election;
    const char *sec = "autoscaling.leader_election";
    const tw_yaml_node_t *v[7];
    int rc = tw_yaml_fields(w, n, sec, keys, 7, v);
    if (rc == 0) {
        rc = tw_yaml_get_bool(w, v[0], sec, keys[0], &l->enabled);
    }
    char **strs[3] = {&l->namespace, &l->name, &l->identity};
    for (size_t i = 0; rc == 0 && i < 3; i++) {
        rc = tw_yaml_get_string(w, v[i + 1], sec, keys[i + 1], strs[i]);
    }
    int64_t *durs[3] = {&l->lease_duration_ms, &l->renew_deadline_ms, &l->retry_period_ms};
    for (size_t i = 0; rc == 0 && i < 3; i++) {
        rc = tw_yaml_get_duration(w, v[i + 4], sec, keys[i + 4], false, durs[i]);
    }
    if (rc == 0 && l->enabled && (l->namespace[0] == '\0' || l->name[0] == '\0')) {
        rc = tw_yaml_error(w, n,
                           "autoscaling.leader_election: namespace and name must not be "
                           "empty");
    }
    if (rc == 0 && l->enabled &&
        !(l->lease_duration_ms > l->renew_deadline_ms &&
          (double)l->renew_deadline_ms > 1.2 * (double)l->retry_period_ms)) {
        rc = tw_yaml_error(w, n,
                           "autoscaling.leader_election: want lease_duration > renew_deadline > "
                           "1.2 x retry_period (client-go's rule)");
    }
    return rc;
}

/* Takes m into the config's list unless another autoscaler has its namespace/name. */
static int horizontal_add(tw_yaml_walk_t *w, const tw_yaml_node_t *at, tw_config_t *c,
                          tw_hpa_manifest_t *m)
{
    for (size_t i = 0; i < c->autoscaling.n_horizontal; i++) {
        const tw_hpa_manifest_t *o = c->autoscaling.horizontal[i];
        if (strcmp(o->namespace, m->namespace) == 0 && strcmp(o->name, m->name) == 0) {
            int rc = tw_yaml_error(w, at,
                                   "autoscaling.horizontal: duplicate HorizontalPodAutoscaler "
                                   "%s/%s (first in %s:%d:%d)",
                                   m->namespace, m->name, o->file, o->line, o->col);
            tw_hpa_manifest_free(m);
            return rc;
        }
    }
    size_t k = c->autoscaling.n_horizontal;
    c->autoscaling.horizontal =
        tw_xrealloc(c->autoscaling.horizontal, (k + 1) * sizeof(*c->autoscaling.horizontal));
    c->autoscaling.horizontal[k] = m;
    c->autoscaling.n_horizontal = k + 1;
    return 0;
}

/* The folder of the config file, for relative paths. */
static void config_dir(const tw_config_t *c, char *dir, size_t dirsz)
{
    const char *slash = strrchr(c->source, '/');
    size_t len = slash == NULL ? 0 : (size_t)(slash - c->source);
    if (slash == NULL) {
        tw_strlcpy(dir, ".", dirsz);
        return;
    }
    if (len == 0) {
        len = 1;
    }
    if (len >= dirsz) {
        len = dirsz - 1;
    }
    memcpy(dir, c->source, len);
    dir[len] = '\0';
}

/* `- files: [glob, ...]`: every manifest of every matching file. */
static int horizontal_files(tw_yaml_walk_t *w, const tw_yaml_node_t *n,
                            const tw_hpa_manifest_options_t *mo, tw_config_t *c)
{
    static const char *const keys[] = {"files"};
    const tw_yaml_node_t *v[1];
    char desc[96], dir[4096];
    int rc = tw_yaml_fields(w, n, "autoscaling.horizontal[]", keys, 1, v);
    if (rc != 0) {
        return rc;
    }
    if (v[0] == NULL || v[0]->kind != TW_YAML_SEQ) {
        return tw_yaml_error(w, v[0] != NULL ? v[0] : n,
                             "autoscaling.horizontal[].files: expected a list of file names or "
                             "globs, got %s",
                             tw_yaml_describe(v[0], desc, sizeof(desc)));
    }
    config_dir(c, dir, sizeof(dir));
    for (size_t i = 0; rc == 0 && i < v[0]->n; i++) {
        const tw_yaml_node_t *fn = v[0]->items[i];
        const char *pat = NULL;
        char full[8192];
        rc = tw_yaml_get_scalar(w, fn, "autoscaling.horizontal[]", "files[]", "a file name", &pat);
        if (rc != 0) {
            break;
        }
        if (pat == NULL || pat[0] == '\0') {
            rc = tw_yaml_error(w, fn, "autoscaling.horizontal[].files: empty file name");
            break;
        }
        if (pat[0] == '/') {
            tw_strlcpy(full, pat, sizeof(full));
        } else {
            snprintf(full, sizeof(full), "%s/%s", dir, pat);
        }
        glob_t g;
        memset(&g, 0, sizeof(g));
        int grc = glob(full, 0, NULL, &g);
        if (grc == GLOB_NOMATCH && strpbrk(pat, "*?[") == NULL) {
            rc = tw_yaml_error(w, fn, "autoscaling.horizontal[].files: %s: no such file", full);
        } else if (grc != 0 && grc != GLOB_NOMATCH) {
            rc = tw_yaml_error(w, fn, "autoscaling.horizontal[].files: cannot expand %s", full);
        }
        for (size_t k = 0; rc == 0 && grc == 0 && k < g.gl_pathc; k++) {
            tw_hpa_manifest_list_t list = {0};
            tw_error_t ferr;
            tw_error_clear(&ferr);
            if (tw_hpa_manifests_load(g.gl_pathv[k], mo, &list, &ferr) != 0) {
                /* The manifest's own position (file:line:col) is the useful one. */
                *w->err = ferr;
                rc = ferr.code != 0 ? ferr.code : TW_EINVAL;
                break;
            }
            for (size_t j = 0; j < list.n; j++) {
                tw_hpa_manifest_t *m = list.items[j];
                list.items[j] = NULL;
                if (rc == 0) {
                    rc = horizontal_add(w, fn, c, m);
                } else {
                    tw_hpa_manifest_free(m);
                }
            }
            tw_hpa_manifest_list_fini(&list);
        }
        globfree(&g);
    }
    return rc;
}

static int walk_horizontal(tw_yaml_walk_t *w, const tw_yaml_node_t *n,
                           const tw_hpa_manifest_options_t *mo, tw_config_t *c)
{
    char desc[96];
    if (tw_yaml_is_null(n)) {
        return 0;
    }
    if (n->kind != TW_YAML_SEQ) {
        return tw_yaml_error(w, n,
                             "autoscaling.horizontal: expected a list of HorizontalPodAutoscaler "
                             "manifests or {files: [...]} entries, got %s",
                             tw_yaml_describe(n, desc, sizeof(desc)));
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n->n; i++) {
        const tw_yaml_node_t *it = n->items[i];
        bool files = false;
        for (size_t k = 0; it->kind == TW_YAML_MAP && k + 1 < it->n; k += 2) {
            files = files || strcmp(it->items[k]->value, "files") == 0;
        }
        if (files) {
            rc = horizontal_files(w, it, mo, c);
            continue;
        }
        tw_hpa_manifest_t *m = NULL;
        rc = tw_hpa_manifest_from_node(it, w->file, mo, &m, w->err);
        if (rc == 0) {
            rc = horizontal_add(w, it, c, m);
        }
    }
    return rc;
}

static int walk_autoscaling(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    static const char *const keys[] = {"sync_period",    "resource_window",  "max_decisions",
                                       "controller",     "driver",           "leader_election",
                                       "metric_queries", "horizontal",       "vertical",
                                       "recommender",    "admission_webhook"};
    const char *sec = "autoscaling";
    const tw_yaml_node_t *v[11];
    int rc = tw_yaml_fields(w, n, sec, keys, 11, v);
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[0], sec, keys[0], false, &c->autoscaling.sync_period_ms);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[1], sec, keys[1], false,
                                  &c->autoscaling.scalers->resource_window_ms);
    }
    if (rc == 0) {
        uint64_t md = c->autoscaling.max_decisions;
        rc = tw_yaml_get_uint(w, v[2], sec, keys[2], 1, 10000, &md);
        c->autoscaling.max_decisions = (size_t)md;
    }
    if (rc == 0) {
        rc = walk_controller(w, v[3], c);
    }
    if (rc == 0) {
        rc = walk_driver(w, v[4], c);
    }
    if (rc == 0) {
        rc = walk_leader_election(w, v[5], c);
    }
    if (rc == 0 && v[6] != NULL) {
        rc = tw_scalers_queries_from_yaml(w, v[6], "autoscaling.metric_queries",
                                          c->autoscaling.scalers);
    }
    if (rc == 0) {
        tw_hpa_manifest_options_t mo = {.gate_scale_to_zero =
                                            c->autoscaling.controller.scale_to_zero};
        rc = walk_horizontal(w, v[7], &mo, c);
    }
    if (rc == 0) {
        rc = tw_config_walk_vertical(w, v[8], v[9], c);
    }
    if (rc == 0) {
        rc = tw_config_walk_admission_webhook(w, v[10], c);
    }
    return rc;
}

/* ---- public ------------------------------------------------------------------------------- */

static void config_set_defaults(tw_config_t *c)
{
    c->global.scrape_interval_ms = 60 * 1000;
    c->global.scrape_timeout_ms = 10 * 1000;
    c->global.evaluation_interval_ms = 60 * 1000;
    c->global.external_url = tw_xstrdup("");
    c->collector.interval_ms = 10 * 1000;
    c->collector.cgroup.enabled = true;
    c->collector.cgroup.root = tw_xstrdup("/sys/fs/cgroup");
    c->collector.cgroup.max_cgroups = 100000;
    c->collector.procfs.enabled = true;
    c->collector.procfs.proc_root = tw_xstrdup("/proc");
    c->collector.procfs.sys_root = tw_xstrdup("/sys");
    c->collector.procfs.rootfs = tw_xstrdup("/");
    c->collector.procfs.statfs_timeout_ms = 2000;
    c->collector.kubernetes.pods_url = tw_xstrdup("");
    c->collector.kubernetes.node_name = tw_xstrdup("");
    c->collector.kubernetes.bearer_token_file = tw_xstrdup("");
    c->collector.kubernetes.ca_file = tw_xstrdup("");
    c->collector.kubernetes.insecure_skip_verify = false;
    c->collector.kubernetes.refresh_interval_ms = 30 * 1000;
    c->storage.path = tw_xstrdup("./data");
    c->storage.retention_time_ms = 15LL * 24 * 3600 * 1000;
    c->storage.retention_size_bytes = 0;
    c->storage.out_of_order_window_ms = 0;
    c->storage.wal_fsync = TW_TSDB_FSYNC_ALWAYS;
    c->storage.wal_fsync_interval_ms = 1000;
    c->storage.wal_segment_bytes = 128ULL * 1024 * 1024;
    c->web.listen_address = tw_xstrdup("127.0.0.1:9475");
    c->web.max_connections = 512;
    c->web.read_timeout_ms = 5 * 60 * 1000;
    c->web.max_request_body_bytes = 10485760;
    c->query.compat = TW_PROMQL_COMPAT_PROMETHEUS3;
    c->query.lookback_delta_ms = TW_PROMQL_DEFAULT_LOOKBACK_MS;
    c->query.max_samples = TW_PROMQL_DEFAULT_MAX_SAMPLES;
    c->query.timeout_ms = TW_PROMQL_DEFAULT_TIMEOUT_MS;
    c->query.delayed_name_removal = false;
    c->kubernetes.kubeconfig = tw_xstrdup("");
    c->kubernetes.context = tw_xstrdup("");
    c->kubernetes.server = tw_xstrdup("");
    c->kubernetes.service_account_dir = tw_xstrdup("");
    c->kubernetes.namespace = tw_xstrdup("");
    c->kubernetes.qps = 5;
    c->kubernetes.burst = 10;
    c->kubernetes.timeout_ms = 10 * 1000;
    c->autoscaling.sync_period_ms = 5 * 1000;
    c->autoscaling.scalers = tw_xcalloc(1, sizeof(*c->autoscaling.scalers));
    tw_scalers_config_init(c->autoscaling.scalers);
    c->autoscaling.max_decisions = 20;
    c->autoscaling.controller.tolerance = TW_HPA_DEFAULT_TOLERANCE;
    c->autoscaling.controller.cpu_initialization_period_ms =
        TW_HPA_DEFAULT_CPU_INITIALIZATION_PERIOD_MS;
    c->autoscaling.controller.initial_readiness_delay_ms =
        TW_HPA_DEFAULT_INITIAL_READINESS_DELAY_MS;
    c->autoscaling.controller.downscale_stabilization_ms =
        TW_HPA_DEFAULT_DOWNSCALE_STABILIZATION_MS;
    c->autoscaling.driver.type = tw_xstrdup(TW_ORCH_DEFAULT_DRIVER);
    c->autoscaling.driver.max_conflicts = 3;
    c->autoscaling.driver.kubernetes.max_retries = 3;
    c->autoscaling.driver.kubernetes.max_retry_wait_ms = 30 * 1000;
    char **nomad[7] = {
        &c->autoscaling.driver.nomad.address,   &c->autoscaling.driver.nomad.token_file,
        &c->autoscaling.driver.nomad.namespace, &c->autoscaling.driver.nomad.region,
        &c->autoscaling.driver.nomad.ca_file,   &c->autoscaling.driver.nomad.cert_file,
        &c->autoscaling.driver.nomad.key_file};
    for (size_t i = 0; i < 7; i++) {
        *nomad[i] = tw_xstrdup("");
    }
    c->autoscaling.driver.nomad.timeout_ms = 10 * 1000;
    c->autoscaling.driver.exec.timeout_ms = 30 * 1000;
    c->autoscaling.driver.dryrun_max_records = 1000;
    c->autoscaling.leader_election.namespace = tw_xstrdup("default");
    c->autoscaling.leader_election.name = tw_xstrdup("tidewatch-autoscaler");
    c->autoscaling.leader_election.identity = tw_xstrdup("");
    c->autoscaling.admission_webhook.listen_address = tw_xstrdup("");
    c->autoscaling.admission_webhook.cert_file = tw_xstrdup("");
    c->autoscaling.admission_webhook.key_file = tw_xstrdup("");
    c->autoscaling.leader_election.lease_duration_ms = 15 * 1000;
    c->autoscaling.leader_election.renew_deadline_ms = 10 * 1000;
    c->autoscaling.leader_election.retry_period_ms = 2 * 1000;
}

/* scrape_configs: parsed by collector/scrape with global's defaults; relative paths in it
 * (file_sd files, password files) resolve against the config file's directory. */
static int walk_scrape_configs(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    tw_scrape_global_t g = {.scrape_interval_ms = c->global.scrape_interval_ms,
                            .scrape_timeout_ms = c->global.scrape_timeout_ms};
    char dir[4096];
    const char *slash = strrchr(c->source, '/');
    if (slash == NULL) {
        tw_strlcpy(dir, ".", sizeof(dir));
    } else {
        size_t len = (size_t)(slash - c->source);
        if (len == 0) {
            len = 1; /* "/x.yml" */
        }
        if (len >= sizeof(dir)) {
            return tw_yaml_error(w, n, "config file path too long");
        }
        memcpy(dir, c->source, len);
        dir[len] = '\0';
    }
    return tw_scrape_configs_parse(w, n, &g, dir, &c->scrape_configs, &c->n_scrape_configs);
}

int tw_config_load_mem(const char *data, size_t len, const char *name, tw_config_t **out,
                       tw_error_t *err)
{
    static const char *const keys[] = {"global",         "collector", "storage",    "web",
                                       "scrape_configs", "query",     "kubernetes", "autoscaling",
                                       "rule_files",     "alerting"};
    tw_error_t local;
    tw_yaml_walk_t w = {.file = name != NULL ? name : "",
                        .err = err != NULL ? err : &local,
                        .unsupported = unsupported_sections};
    tw_yaml_doc_t *doc = NULL;
    tw_config_t *c = NULL;
    const tw_yaml_node_t *v[10];

    tw_error_clear(w.err);
    int rc = tw_yaml_doc_parse(data, len, w.file, &doc, w.err);
    if (rc != 0) {
        goto out;
    }
    c = tw_xcalloc(1, sizeof(*c));
    config_set_defaults(c);
    c->source = tw_xstrdup(w.file);
    rc = tw_yaml_fields(&w, tw_yaml_doc_root(doc), NULL, keys, 10, v);
    if (rc == 0) {
        rc = walk_global(&w, v[0], c);
    }
    if (rc == 0) {
        rc = walk_collector(&w, v[1], c);
    }
    if (rc == 0) {
        rc = walk_storage(&w, v[2], c);
    }
    if (rc == 0) {
        rc = walk_web(&w, v[3], c);
    }
    if (rc == 0) {
        rc = walk_scrape_configs(&w, v[4], c);
    }
    if (rc == 0) {
        rc = walk_query(&w, v[5], c);
    }
    if (rc == 0) {
        rc = walk_kube_api(&w, v[6], c);
    }
    if (rc == 0) {
        rc = tw_config_walk_rule_files(&w, v[8], c);
    }
    if (rc == 0) {
        rc = tw_config_walk_alerting(&w, v[9], c);
    }
    if (rc == 0) {
        rc = walk_autoscaling(&w, v[7], c);
    }
out:
    tw_yaml_doc_free(doc);
    if (rc != 0) {
        tw_config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int tw_config_load_file(const char *path, tw_config_t **out, tw_error_t *err)
{
    tw_buf_t b;
    tw_buf_init(&b, TW_CONFIG_MAX_BYTES);
    int rc = tw_buf_read_file(&b, path, err);
    if (rc == TW_ELIMIT) {
        tw_error_set_at(err, rc, path, 0, 0, "larger than %u bytes", TW_CONFIG_MAX_BYTES);
    } else if (rc != 0 && err != NULL) {
        char msg[sizeof(err->msg)];
        tw_strlcpy(msg, err->msg, sizeof(msg));
        tw_error_set(err, rc, "%s", msg);
    } else if (rc == 0) {
        rc = tw_config_load_mem(b.data != NULL ? b.data : "", b.len, path, out, err);
    }
    tw_buf_fini(&b);
    return rc;
}

int tw_config_load_default(tw_config_t **out, tw_error_t *err)
{
    return tw_config_load_mem(default_yaml, sizeof(default_yaml) - 1, "<default>", out, err);
}

int tw_config_apply_overrides(tw_config_t *c, const tw_config_overrides_t *o, tw_error_t *err)
{
    int64_t retention = c->storage.retention_time_ms;
    if (o->listen_address != NULL && tw_config_listen_address_check(o->listen_address) != 0) {
        return tw_error_set(err, TW_EINVAL,
                            "--web.listen-address: invalid address \"%s\" (expected host:port, "
                            "[ipv6]:port or :port with a port from 0 to 65535, e.g. "
                            "127.0.0.1:9475)",
                            o->listen_address);
    }
    if (o->storage_path != NULL && o->storage_path[0] == '\0') {
        return tw_error_set(err, TW_EINVAL, "--storage.tsdb.path: must not be empty");
    }
    if (o->retention_time != NULL && tw_duration_parse(o->retention_time, &retention) != 0) {
        return tw_error_set(err, TW_EINVAL,
                            "--storage.tsdb.retention.time: invalid duration \"%s\" (expected a "
                            "number and a unit: ms, s, m, h, d, w, y, e.g. 15d)",
                            o->retention_time);
    }
    int compat = c->query.compat;
    int64_t lookback = c->query.lookback_delta_ms, timeout = c->query.timeout_ms;
    uint64_t max_samples = c->query.max_samples;
    if (o->query_compat != NULL && compat_parse(o->query_compat, &compat) != 0) {
        return tw_error_set(err, TW_EINVAL,
                            "--query.compat: invalid value \"%s\" (expected prometheus3 or "
                            "prometheus2)",
                            o->query_compat);
    }
    const char *const dflags[] = {"--query.lookback-delta", "--query.timeout"};
    const char *const dvals[] = {o->query_lookback_delta, o->query_timeout};
    int64_t *const douts[] = {&lookback, &timeout};
    for (size_t i = 0; i < 2; i++) {
        if (dvals[i] != NULL && (tw_duration_parse(dvals[i], douts[i]) != 0 || *douts[i] <= 0)) {
            return tw_error_set(err, TW_EINVAL,
                                "%s: invalid duration \"%s\" (expected a positive number and a "
                                "unit: ms, s, m, h, d, w, y, e.g. 2m)",
                                dflags[i], dvals[i]);
        }
    }
    if (o->query_max_samples != NULL) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(o->query_max_samples, &end, 10);
        if (o->query_max_samples[0] < '0' || o->query_max_samples[0] > '9' || *end != '\0' ||
            errno != 0 || v == 0 || v > (unsigned long long)INT64_MAX) {
            return tw_error_set(err, TW_EINVAL,
                                "--query.max-samples: invalid value \"%s\" (expected a positive "
                                "integer)",
                                o->query_max_samples);
        }
        max_samples = v;
    }
    c->query.compat = compat;
    c->query.lookback_delta_ms = lookback;
    c->query.timeout_ms = timeout;
    c->query.max_samples = max_samples;
    if (o->listen_address != NULL) {
        free(c->web.listen_address);
        c->web.listen_address = tw_xstrdup(o->listen_address);
    }
    if (o->storage_path != NULL) {
        free(c->storage.path);
        c->storage.path = tw_xstrdup(o->storage_path);
    }
    c->storage.retention_time_ms = retention;
    return 0;
}

void tw_config_free(tw_config_t *c)
{
    if (c == NULL) {
        return;
    }
    free(c->source);
    tw_scrape_configs_free(c->scrape_configs, c->n_scrape_configs);
    for (size_t i = 0; i < c->global.n_external_labels; i++) {
        free(c->global.external_labels[i].name);
        free(c->global.external_labels[i].value);
    }
    free(c->global.external_labels);
    tw_config_alerting_free(c);
    free(c->collector.cgroup.root);
    free(c->collector.procfs.proc_root);
    free(c->collector.procfs.sys_root);
    free(c->collector.procfs.rootfs);
    free(c->collector.kubernetes.pods_url);
    free(c->collector.kubernetes.node_name);
    free(c->collector.kubernetes.bearer_token_file);
    free(c->collector.kubernetes.ca_file);
    free(c->storage.path);
    free(c->web.listen_address);
    free(c->kubernetes.kubeconfig);
    free(c->kubernetes.context);
    free(c->kubernetes.server);
    free(c->kubernetes.service_account_dir);
    free(c->kubernetes.namespace);
    for (size_t i = 0; i < c->autoscaling.n_horizontal; i++) {
        tw_hpa_manifest_free(c->autoscaling.horizontal[i]);
    }
    free(c->autoscaling.horizontal);
    tw_config_vertical_free(c);
    tw_scalers_config_fini(c->autoscaling.scalers);
    free(c->autoscaling.scalers);
    free(c->autoscaling.driver.type);
    free(c->autoscaling.driver.nomad.address);
    free(c->autoscaling.driver.nomad.token_file);
    free(c->autoscaling.driver.nomad.namespace);
    free(c->autoscaling.driver.nomad.region);
    free(c->autoscaling.driver.nomad.ca_file);
    free(c->autoscaling.driver.nomad.cert_file);
    free(c->autoscaling.driver.nomad.key_file);
    argv_free(c->autoscaling.driver.exec.scale_command);
    argv_free(c->autoscaling.driver.exec.get_command);
    free(c->autoscaling.leader_election.namespace);
    free(c->autoscaling.leader_election.name);
    free(c->autoscaling.leader_election.identity);
    free(c);
}

/* ---- value syntaxes ----------------------------------------------------------------------- */

int tw_config_bytes_parse(const char *s, uint64_t *out)
{
    /* Longest names first, so "KiB" is not read as "K" + garbage. */
    static const struct {
        const char *name;
        unsigned shift;
    } units[] = {
        {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}, {"PiB", 50}, {"EiB", 60}, {"KB", 10},
        {"MB", 20},  {"GB", 30},  {"TB", 40},  {"PB", 50},  {"EB", 60},  {"B", 0},
    };
    const long double limit = 18446744073709551616.0L; /* 2^64 */
    long double total = 0;

    if (s == NULL || *s == '\0') {
        return TW_EINVAL;
    }
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    const char *p = s;
    while (*p != '\0') {
        long double num = 0, scale = 1;
        bool digits = false;
        while (*p >= '0' && *p <= '9') {
            num = num * 10 + (*p - '0');
            digits = true;
            p++;
            if (num >= limit) {
                return TW_EINVAL;
            }
        }
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9') {
                scale /= 10;
                num += (*p - '0') * scale;
                digits = true;
                p++;
            }
        }
        if (!digits) {
            return TW_EINVAL;
        }
        size_t u;
        size_t nunits = sizeof(units) / sizeof(units[0]);
        for (u = 0; u < nunits; u++) {
            size_t ulen = strlen(units[u].name);
            if (strncmp(p, units[u].name, ulen) == 0) {
                p += ulen;
                break;
            }
        }
        if (u == nunits) {
            return TW_EINVAL;
        }
        total += num * (long double)((uint64_t)1 << units[u].shift);
        if (total >= limit) {
            return TW_EINVAL;
        }
    }
    *out = (uint64_t)total;
    return 0;
}

static bool hostname_char_ok(char ch)
{
    return isalnum((unsigned char)ch) || ch == '.' || ch == '-' || ch == '_';
}

int tw_config_listen_address_check(const char *s)
{
    const char *port;
    if (s == NULL || *s == '\0') {
        return TW_EINVAL;
    }
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        char host[64];
        size_t hlen = close != NULL ? (size_t)(close - s - 1) : 0;
        if (close == NULL || close[1] != ':' || hlen == 0 || hlen >= sizeof(host)) {
            return TW_EINVAL;
        }
        memcpy(host, s + 1, hlen);
        host[hlen] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1) {
            return TW_EINVAL;
        }
        port = close + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon == NULL) {
            return TW_EINVAL;
        }
        for (const char *p = s; p < colon; p++) {
            if (!hostname_char_ok(*p)) {
                return TW_EINVAL;
            }
        }
        port = colon + 1;
    }
    size_t n = strlen(port);
    if (n == 0 || n > 5) {
        return TW_EINVAL;
    }
    long v = 0;
    for (const char *p = port; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return TW_EINVAL;
        }
        v = v * 10 + (*p - '0');
    }
    return v <= 65535 ? 0 : TW_EINVAL;
}
