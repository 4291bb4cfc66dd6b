/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_config.c - tidewatch.yml loading: every key of a good file, the embedded default, each
 * kind of error with its exact file:line:col message, overrides, byte sizes and addresses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "collector/scrape/scrape.h"
#include "collector/tsdb/tsdb.h"
#include "daemon/config.h"
#include "query/query.h"

static const char every_key[] = "global:\n"
                                "  scrape_interval: 30s\n"
                                "  scrape_timeout: 5s\n"
                                "  evaluation_interval: 15s\n"
                                "  external_labels:\n"
                                "    region: eu-west-1\n"
                                "    cluster: prod\n"
                                "collector:\n"
                                "  interval: 2s\n"
                                "  cgroup:\n"
                                "    enabled: false\n"
                                "    root: /host/sys/fs/cgroup\n"
                                "    max_cgroups: 5000\n"
                                "  procfs:\n"
                                "    enabled: true\n"
                                "    proc_root: /host/proc\n"
                                "    sys_root: /host/sys\n"
                                "    rootfs: /host\n"
                                "    statfs_timeout: 500ms\n"
                                "  kubernetes:\n"
                                "    pods_url: https://node-1:10250/pods\n"
                                "    node_name: node-1\n"
                                "    bearer_token_file: /var/run/secrets/token\n"
                                "    ca_file: /etc/ca.crt\n"
                                "    insecure_skip_verify: true\n"
                                "    refresh_interval: 1m\n"
                                "storage:\n"
                                "  path: /var/lib/tidewatch\n"
                                "  retention:\n"
                                "    time: 30d\n"
                                "    size: 512MB\n"
                                "web:\n"
                                "  listen_address: 0.0.0.0:9100\n"
                                "  max_connections: 64\n"
                                "  read_timeout: 1m\n"
                                "  max_request_body_bytes: 1048576\n"
                                "query:\n"
                                "  compat: prometheus2\n"
                                "  lookback_delta: 1m\n"
                                "  max_samples: 1000\n"
                                "  timeout: 30s\n"
                                "  delayed_name_removal: true\n";

static tw_config_t *load_ok(const char *yaml)
{
    tw_config_t *c = NULL;
    tw_error_t err;
    int rc = tw_config_load_mem(yaml, strlen(yaml), "t.yml", &c, &err);
    if (rc != 0) {
        fprintf(stderr, "unexpected error: %s:%d:%d: %s\n", err.file, err.line, err.col, err.msg);
    }
    assert_int_equal(rc, 0);
    assert_non_null(c);
    return c;
}

/* Loads yaml expecting an error and checks the formatted "file:line:col: msg". */
static void load_err(const char *yaml, int code, const char *want)
{
    tw_config_t *c = NULL;
    tw_error_t err;
    char got[1024];
    int rc = tw_config_load_mem(yaml, strlen(yaml), "t.yml", &c, &err);
    assert_int_equal(rc, code);
    assert_null(c);
    assert_string_equal(tw_error_format(&err, got, sizeof(got)), want);
}

static void test_every_key(void **state)
{
    (void)state;
    tw_config_t *c = load_ok(every_key);
    assert_string_equal(c->source, "t.yml");
    assert_int_equal(c->global.scrape_interval_ms, 30000);
    assert_int_equal(c->global.scrape_timeout_ms, 5000);
    assert_int_equal(c->global.evaluation_interval_ms, 15000);
    assert_int_equal(c->global.n_external_labels, 2);
    assert_string_equal(c->global.external_labels[0].name, "cluster"); /* sorted */
    assert_string_equal(c->global.external_labels[0].value, "prod");
    assert_string_equal(c->global.external_labels[1].name, "region");
    assert_string_equal(c->global.external_labels[1].value, "eu-west-1");
    assert_int_equal(c->collector.interval_ms, 2000);
    assert_false(c->collector.cgroup.enabled);
    assert_string_equal(c->collector.cgroup.root, "/host/sys/fs/cgroup");
    assert_int_equal(c->collector.cgroup.max_cgroups, 5000);
    assert_true(c->collector.procfs.enabled);
    assert_string_equal(c->collector.procfs.proc_root, "/host/proc");
    assert_string_equal(c->collector.procfs.sys_root, "/host/sys");
    assert_string_equal(c->collector.procfs.rootfs, "/host");
    assert_int_equal(c->collector.procfs.statfs_timeout_ms, 500);
    assert_string_equal(c->collector.kubernetes.pods_url, "https://node-1:10250/pods");
    assert_string_equal(c->collector.kubernetes.node_name, "node-1");
    assert_string_equal(c->collector.kubernetes.bearer_token_file, "/var/run/secrets/token");
    assert_string_equal(c->collector.kubernetes.ca_file, "/etc/ca.crt");
    assert_true(c->collector.kubernetes.insecure_skip_verify);
    assert_int_equal(c->collector.kubernetes.refresh_interval_ms, 60000);
    assert_string_equal(c->storage.path, "/var/lib/tidewatch");
    assert_int_equal(c->storage.retention_time_ms, 30LL * 86400 * 1000);
    assert_int_equal(c->storage.retention_size_bytes, 512ULL * 1024 * 1024);
    assert_string_equal(c->web.listen_address, "0.0.0.0:9100");
    assert_int_equal(c->web.max_connections, 64);
    assert_int_equal(c->web.read_timeout_ms, 60000);
    assert_int_equal(c->web.max_request_body_bytes, 1048576);
    assert_int_equal(c->query.compat, TW_PROMQL_COMPAT_PROMETHEUS2);
    assert_int_equal(c->query.lookback_delta_ms, 60000);
    assert_int_equal(c->query.max_samples, 1000);
    assert_int_equal(c->query.timeout_ms, 30000);
    assert_true(c->query.delayed_name_removal);
    tw_config_free(c);
}

static void check_defaults(const tw_config_t *c)
{
    assert_int_equal(c->global.scrape_interval_ms, 60000);
    assert_int_equal(c->global.scrape_timeout_ms, 10000);
    assert_int_equal(c->global.evaluation_interval_ms, 60000);
    assert_int_equal(c->global.n_external_labels, 0);
    assert_int_equal(c->collector.interval_ms, 10000);
    assert_true(c->collector.cgroup.enabled);
    assert_string_equal(c->collector.cgroup.root, "/sys/fs/cgroup");
    assert_int_equal(c->collector.cgroup.max_cgroups, 100000);
    assert_true(c->collector.procfs.enabled);
    assert_string_equal(c->collector.procfs.proc_root, "/proc");
    assert_string_equal(c->collector.procfs.sys_root, "/sys");
    assert_string_equal(c->collector.procfs.rootfs, "/");
    assert_int_equal(c->collector.procfs.statfs_timeout_ms, 2000);
    assert_string_equal(c->collector.kubernetes.pods_url, "");
    assert_string_equal(c->collector.kubernetes.node_name, "");
    assert_string_equal(c->collector.kubernetes.bearer_token_file, "");
    assert_string_equal(c->collector.kubernetes.ca_file, "");
    assert_false(c->collector.kubernetes.insecure_skip_verify);
    assert_int_equal(c->collector.kubernetes.refresh_interval_ms, 30000);
    assert_string_equal(c->storage.path, "./data");
    assert_int_equal(c->storage.retention_time_ms, 15LL * 86400 * 1000);
    assert_int_equal(c->storage.retention_size_bytes, 0);
    assert_string_equal(c->web.listen_address, "127.0.0.1:9475");
    assert_int_equal(c->web.max_connections, 512);
    assert_int_equal(c->web.read_timeout_ms, 300000);
    assert_int_equal(c->web.max_request_body_bytes, 10485760);
    assert_int_equal(c->query.compat, TW_PROMQL_COMPAT_PROMETHEUS3);
    assert_int_equal(c->query.lookback_delta_ms, 300000);
    assert_int_equal(c->query.max_samples, 50000000);
    assert_int_equal(c->query.timeout_ms, 120000);
    assert_false(c->query.delayed_name_removal);
}

static void test_embedded_default(void **state)
{
    (void)state;
    tw_config_t *c = NULL;
    tw_error_t err;
    assert_int_equal(tw_config_load_default(&c, &err), 0);
    assert_string_equal(c->source, "<default>");
    check_defaults(c);
    tw_config_free(c);
    /* An empty file and a file of empty sections mean the same defaults. */
    c = load_ok("");
    check_defaults(c);
    tw_config_free(c);
    c = load_ok("global:\ncollector:\n  cgroup: ~\nstorage: {}\nweb: null\n");
    check_defaults(c);
    tw_config_free(c);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/tw_test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, every_key, strlen(every_key)), (ssize_t)strlen(every_key));
    close(fd);
    tw_config_t *c = NULL;
    tw_error_t err;
    assert_int_equal(tw_config_load_file(path, &c, &err), 0);
    assert_string_equal(c->source, path);
    assert_int_equal(c->collector.interval_ms, 2000);
    tw_config_free(c);
    unlink(path);
    assert_true(tw_config_load_file(path, &c, &err) < 0);
    assert_non_null(strstr(err.msg, path));
}

static void test_pods_url_env(void **state)
{
    (void)state;
    setenv("TW_TEST_NODE_IP", "10.1.2.3", 1);
    unsetenv("TW_TEST_UNSET");
    tw_config_t *c = load_ok("collector:\n  kubernetes:\n"
                             "    pods_url: https://${TW_TEST_NODE_IP}:10250/pods\n");
    assert_string_equal(c->collector.kubernetes.pods_url, "https://10.1.2.3:10250/pods");
    tw_config_free(c);
    load_err("collector:\n  kubernetes:\n    pods_url: https://${TW_TEST_UNSET}/pods\n", TW_EINVAL,
             "t.yml:3:15: collector.kubernetes.pods_url: environment variable TW_TEST_UNSET is "
             "not set");
    load_err("collector:\n  kubernetes:\n    pods_url: https://${NODE\n", TW_EINVAL,
             "t.yml:3:15: collector.kubernetes.pods_url: unterminated ${ in https://${NODE");
}

static void test_error_unknown_key(void **state)
{
    (void)state;
    load_err("web:\n  listen_address: 127.0.0.1:1\n  listen_adress: x\n", TW_EINVAL,
             "t.yml:3:3: unknown key \"listen_adress\" in web (expected one of listen_address, "
             "max_connections, read_timeout, max_request_body_bytes)");
    load_err("collector:\n  cgroup:\n    rooot: /x\n", TW_EINVAL,
             "t.yml:3:5: unknown key \"rooot\" in collector.cgroup (expected one of enabled, "
             "root, max_cgroups)");
    load_err("globals: {}\n", TW_EINVAL,
             "t.yml:1:1: unknown key \"globals\" at the top level (expected one of global, "
             "collector, storage, web, scrape_configs, query, kubernetes, autoscaling, rule_files, "
             "alerting)");
}

static void test_query_section(void **state)
{
    (void)state;
    tw_config_t *c = load_ok("query:\n  compat: prometheus2\n");
    assert_int_equal(c->query.compat, TW_PROMQL_COMPAT_PROMETHEUS2);
    assert_int_equal(c->query.lookback_delta_ms, 300000); /* the rest keeps its defaults */
    tw_config_free(c);
    c = load_ok("query:\n");
    assert_int_equal(c->query.compat, TW_PROMQL_COMPAT_PROMETHEUS3);
    tw_config_free(c);
    load_err("query:\n  compat: prometheus1\n", TW_EINVAL,
             "t.yml:2:11: query.compat: expected prometheus3 or prometheus2, got \"prometheus1\"");
    load_err("query:\n  lookback_delta: 0s\n", TW_EINVAL,
             "t.yml:2:19: query.lookback_delta: must be greater than 0s");
    load_err("query:\n  timeout: 2 minutes\n", TW_EINVAL,
             "t.yml:2:12: query.timeout: invalid duration \"2 minutes\" (expected a number and a "
             "unit: ms, s, m, h, d, w, y, e.g. 10s or 1m30s)");
    load_err("query:\n  max_samples: 0\n", TW_EINVAL,
             "t.yml:2:16: query.max_samples: must be between 1 and 9223372036854775807, got 0");
    load_err("query:\n  delayed_name_removal: on\n", TW_EINVAL,
             "t.yml:2:25: query.delayed_name_removal: expected a boolean (true or false), got "
             "\"on\"");
    load_err("query:\n  lookback: 5m\n", TW_EINVAL,
             "t.yml:2:3: unknown key \"lookback\" in query (expected one of compat, "
             "lookback_delta, max_samples, timeout, delayed_name_removal)");
}

static void test_query_overrides(void **state)
{
    (void)state;
    tw_config_t *c = load_ok("query:\n  timeout: 30s\n");
    tw_error_t err;
    tw_config_overrides_t o = {.query_compat = "prometheus2",
                               .query_lookback_delta = "1m",
                               .query_max_samples = "5000",
                               .query_timeout = "10s"};
    assert_int_equal(tw_config_apply_overrides(c, &o, &err), 0);
    assert_int_equal(c->query.compat, TW_PROMQL_COMPAT_PROMETHEUS2);
    assert_int_equal(c->query.lookback_delta_ms, 60000);
    assert_int_equal(c->query.max_samples, 5000);
    assert_int_equal(c->query.timeout_ms, 10000);
    tw_config_overrides_t bad = {.query_compat = "prometheus4"};
    assert_int_equal(tw_config_apply_overrides(c, &bad, &err), TW_EINVAL);
    assert_string_equal(err.msg, "--query.compat: invalid value \"prometheus4\" (expected "
                                 "prometheus3 or prometheus2)");
    tw_config_overrides_t bad2 = {.query_compat = "prometheus3", .query_timeout = "0s"};
    assert_int_equal(tw_config_apply_overrides(c, &bad2, &err), TW_EINVAL);
    assert_string_equal(err.msg, "--query.timeout: invalid duration \"0s\" (expected a positive "
                                 "number and a unit: ms, s, m, h, d, w, y, e.g. 2m)");
    assert_int_equal(c->query.compat, TW_PROMQL_COMPAT_PROMETHEUS2); /* unchanged on error */
    tw_config_overrides_t bad3 = {.query_max_samples = "-5"};
    assert_int_equal(tw_config_apply_overrides(c, &bad3, &err), TW_EINVAL);
    assert_string_equal(err.msg, "--query.max-samples: invalid value \"-5\" (expected a positive "
                                 "integer)");
    tw_config_free(c);
}

/* scrape_configs are handed to collector/scrape with global's defaults; its errors keep their
 * positions. */
static void test_scrape_configs(void **state)
{
    (void)state;
    tw_config_t *c = load_ok("global:\n  scrape_interval: 15s\n  scrape_timeout: 5s\n"
                             "scrape_configs:\n  - job_name: a\n"
                             "    static_configs: [{targets: ['127.0.0.1:9100']}]\n"
                             "  - job_name: b\n    scrape_interval: 2s\n");
    assert_int_equal(c->n_scrape_configs, 2);
    assert_string_equal(tw_scrape_config_job(c->scrape_configs[0]), "a");
    assert_int_equal(tw_scrape_config_interval_ms(c->scrape_configs[0]), 15000);
    assert_int_equal(tw_scrape_config_timeout_ms(c->scrape_configs[0]), 5000);
    assert_int_equal(tw_scrape_config_interval_ms(c->scrape_configs[1]), 2000);
    assert_int_equal(tw_scrape_config_timeout_ms(c->scrape_configs[1]), 2000);
    tw_config_free(c);
    tw_config_t *d = load_ok("web: {}\n");
    assert_int_equal(d->n_scrape_configs, 0);
    tw_config_free(d);
    tw_config_t *bad = NULL;
    tw_error_t err;
    const char *y = "scrape_configs:\n  - job_name: a\n    scrape_intervall: 1s\n";
    assert_int_equal(tw_config_load_mem(y, strlen(y), "t.yml", &bad, &err), TW_EINVAL);
    assert_null(bad);
    assert_int_equal(err.line, 3);
    assert_int_equal(err.col, 5);
    assert_non_null(strstr(err.msg, "scrape_intervall"));
}

static void test_storage_tsdb_wal(void **state)
{
    (void)state;
    tw_config_t *c = load_ok("storage:\n  tsdb:\n    out_of_order_time_window: 10m\n"
                             "  wal:\n    fsync: interval\n    fsync_interval: 200ms\n"
                             "    segment_size: 1MB\n");
    assert_int_equal(c->storage.out_of_order_window_ms, 600000);
    assert_int_equal(c->storage.wal_fsync, TW_TSDB_FSYNC_INTERVAL);
    assert_int_equal(c->storage.wal_fsync_interval_ms, 200);
    assert_int_equal(c->storage.wal_segment_bytes, 1024 * 1024);
    tw_config_free(c);
    c = load_ok("");
    assert_int_equal(c->storage.wal_fsync, TW_TSDB_FSYNC_ALWAYS);
    assert_int_equal(c->storage.wal_segment_bytes, 128 * 1024 * 1024);
    assert_int_equal(c->storage.out_of_order_window_ms, 0);
    tw_config_free(c);
    load_err("storage:\n  wal:\n    fsync: sometimes\n", TW_EINVAL,
             "t.yml:3:12: storage.wal.fsync: expected always, interval or never, got "
             "\"sometimes\"");
    load_err("storage:\n  wal:\n    segment_size: 1KB\n", TW_EINVAL,
             "t.yml:3:19: storage.wal.segment_size: must be between 64KB and 1GB");
}

static void test_error_unsupported_section(void **state)
{
    (void)state;
    load_err("rule_files: ['a/*/b.yml']\n", TW_EINVAL,
             "t.yml:1:14: invalid rule file path \"a/*/b.yml\"");
    load_err("web: {}\nkafka: {}\n", TW_EINVAL,
             "t.yml:2:1: kafka: not supported by this version of tidewatch");
}

static void test_error_wrong_type(void **state)
{
    (void)state;
    load_err("collector:\n  cgroup:\n    enabled: yes\n", TW_EINVAL,
             "t.yml:3:14: collector.cgroup.enabled: expected a boolean (true or false), got "
             "\"yes\"");
    load_err("collector:\n  cgroup:\n    enabled: \"true\"\n", TW_EINVAL,
             "t.yml:3:14: collector.cgroup.enabled: expected a boolean (true or false), got "
             "\"true\"");
    load_err("web:\n  max_connections: many\n", TW_EINVAL,
             "t.yml:2:20: web.max_connections: expected a non-negative integer, got \"many\"");
    load_err("web:\n  max_connections: 0\n", TW_EINVAL,
             "t.yml:2:20: web.max_connections: must be between 1 and 1000000, got 0");
    load_err("collector:\n  interval: [10s]\n", TW_EINVAL,
             "t.yml:2:13: collector.interval: expected a duration like 10s or 1m30s, got a "
             "sequence");
    load_err("storage:\n  path:\n    a: b\n", TW_EINVAL,
             "t.yml:3:5: storage.path: expected a string, got a mapping");
    load_err("web: 5\n", TW_EINVAL, "t.yml:1:6: web: expected a mapping, got \"5\"");
    load_err("- a\n- b\n", TW_EINVAL,
             "t.yml:1:1: configuration: expected a mapping, got a sequence");
    load_err("global:\n  external_labels:\n    0bad: x\n", TW_EINVAL,
             "t.yml:3:5: global.external_labels: \"0bad\" is not a valid label name (expected "
             "[a-zA-Z_][a-zA-Z0-9_]*)");
    load_err("collector:\n  kubernetes:\n    pods_url: ftp://x/pods\n", TW_EINVAL,
             "t.yml:3:15: collector.kubernetes.pods_url: expected an http://, https:// or "
             "file:// URL, got \"ftp://x/pods\"");
}

static void test_error_bad_duration(void **state)
{
    (void)state;
    load_err("collector:\n  interval: 10x\n", TW_EINVAL,
             "t.yml:2:13: collector.interval: invalid duration \"10x\" (expected a number and a "
             "unit: ms, s, m, h, d, w, y, e.g. 10s or 1m30s)");
    load_err("collector:\n  interval: 0s\n", TW_EINVAL,
             "t.yml:2:13: collector.interval: must be greater than 0s");
    load_err("global:\n  scrape_interval: 5s\n  scrape_timeout: 10s\n", TW_EINVAL,
             "t.yml:3:19: global.scrape_timeout: 10s is greater than global.scrape_interval 5s");
    /* Zero retention is allowed (no time limit). */
    tw_config_t *c = load_ok("storage:\n  retention:\n    time: 0s\n");
    assert_int_equal(c->storage.retention_time_ms, 0);
    tw_config_free(c);
}

static void test_error_bad_size(void **state)
{
    (void)state;
    load_err("storage:\n  retention:\n    size: 12QB\n", TW_EINVAL,
             "t.yml:3:11: storage.retention.size: invalid size \"12QB\" (expected a number and a "
             "unit: B, KB, MB, GB, TB, PB, EB, e.g. 512MB)");
    load_err("storage:\n  retention:\n    size: 100\n", TW_EINVAL,
             "t.yml:3:11: storage.retention.size: invalid size \"100\" (expected a number and a "
             "unit: B, KB, MB, GB, TB, PB, EB, e.g. 512MB)");
}

static void test_error_duplicate_key(void **state)
{
    (void)state;
    load_err("collector:\n  interval: 1s\n  interval: 2s\n", TW_EINVAL,
             "t.yml:3:3: duplicate key \"interval\" in collector (first at line 2, column 3)");
    load_err("web: {}\nweb: {}\n", TW_EINVAL,
             "t.yml:2:1: duplicate key \"web\" in the top level (first at line 1, column 1)");
    load_err("global:\n  external_labels:\n    a: x\n    b: y\n    a: z\n", TW_EINVAL,
             "t.yml:5:5: duplicate key \"a\" in global.external_labels (first at line 3, column "
             "5)");
}

static void test_error_yaml_syntax(void **state)
{
    (void)state;
    load_err("web:\n  listen_address: \"127.0.0.1:1\n", TW_EPARSE,
             "t.yml:3:1: invalid YAML: found unexpected end of stream (while scanning a quoted "
             "scalar at line 2, column 19)");
    load_err("web:\n  a: b\n c: d\n", TW_EPARSE,
             "t.yml:3:2: invalid YAML: did not find expected key (while parsing a block mapping "
             "at line 1, column 1)");
    load_err("web: {}\n---\nweb: {}\n", TW_EPARSE,
             "t.yml:2:1: a second YAML document in one file (expected one)");
    load_err("web: *nope\n", TW_EPARSE,
             "t.yml:1:6: unknown anchor \"nope\" (an alias must follow a complete anchored "
             "node)");
}

static void test_error_bad_listen_address(void **state)
{
    (void)state;
    load_err("web:\n  listen_address: localhost\n", TW_EINVAL,
             "t.yml:2:19: web.listen_address: invalid address \"localhost\" (expected host:port, "
             "[ipv6]:port or :port with a port from 0 to 65535, e.g. 127.0.0.1:9475)");
    load_err("web:\n  listen_address: 1.2.3.4:65536\n", TW_EINVAL,
             "t.yml:2:19: web.listen_address: invalid address \"1.2.3.4:65536\" (expected "
             "host:port, [ipv6]:port or :port with a port from 0 to 65535, e.g. 127.0.0.1:9475)");
}

static void test_aliases(void **state)
{
    (void)state;
    tw_config_t *c = load_ok("global:\n  scrape_interval: &i 20s\n  evaluation_interval: *i\n");
    assert_int_equal(c->global.evaluation_interval_ms, 20000);
    tw_config_free(c);
}

static void test_overrides(void **state)
{
    (void)state;
    tw_config_t *c = load_ok(every_key);
    tw_error_t err;
    tw_config_overrides_t o = {
        .listen_address = ":9999", .storage_path = "/srv/tw", .retention_time = "2w"};
    assert_int_equal(tw_config_apply_overrides(c, &o, &err), 0);
    assert_string_equal(c->web.listen_address, ":9999");
    assert_string_equal(c->storage.path, "/srv/tw");
    assert_int_equal(c->storage.retention_time_ms, 14LL * 86400 * 1000);
    /* Unset overrides keep the file's values. */
    tw_config_overrides_t none = {0};
    assert_int_equal(tw_config_apply_overrides(c, &none, &err), 0);
    assert_string_equal(c->web.listen_address, ":9999");
    /* A bad override fails and changes nothing. */
    tw_config_overrides_t bad = {.storage_path = "/other", .retention_time = "15 days"};
    assert_int_equal(tw_config_apply_overrides(c, &bad, &err), TW_EINVAL);
    assert_string_equal(err.msg, "--storage.tsdb.retention.time: invalid duration \"15 days\" "
                                 "(expected a number and a unit: ms, s, m, h, d, w, y, e.g. 15d)");
    assert_string_equal(c->storage.path, "/srv/tw");
    tw_config_overrides_t badaddr = {.listen_address = "nope"};
    assert_int_equal(tw_config_apply_overrides(c, &badaddr, &err), TW_EINVAL);
    assert_non_null(strstr(err.msg, "--web.listen-address: invalid address \"nope\""));
    tw_config_free(c);
}

static void test_bytes_parse(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(tw_config_bytes_parse("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(tw_config_bytes_parse("0B", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(tw_config_bytes_parse("512MB", &v), 0);
    assert_int_equal(v, 536870912ULL);
    assert_int_equal(tw_config_bytes_parse("1KiB", &v), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(tw_config_bytes_parse("1GB512MB", &v), 0);
    assert_int_equal(v, 1610612736ULL);
    assert_int_equal(tw_config_bytes_parse("1.5GB", &v), 0);
    assert_int_equal(v, 1610612736ULL);
    assert_int_equal(tw_config_bytes_parse("15EB", &v), 0);
    assert_int_equal(v, 15ULL << 60);
    assert_int_equal(tw_config_bytes_parse("16EB", &v), TW_EINVAL); /* 2^64 */
    assert_int_equal(tw_config_bytes_parse("", &v), TW_EINVAL);
    assert_int_equal(tw_config_bytes_parse("MB", &v), TW_EINVAL);
    assert_int_equal(tw_config_bytes_parse("10", &v), TW_EINVAL);
    assert_int_equal(tw_config_bytes_parse("-1MB", &v), TW_EINVAL);
    assert_int_equal(tw_config_bytes_parse("1mb", &v), TW_EINVAL);
    assert_int_equal(tw_config_bytes_parse("1 MB", &v), TW_EINVAL);
}

/* autoscaling.admission_webhook: off by default, files relative to the config's folder, both
 * required with an address. */
static void test_admission_webhook(void **state)
{
    (void)state;
    tw_config_t *c = load_ok("autoscaling: {}\n");
    assert_string_equal(c->autoscaling.admission_webhook.listen_address, "");
    tw_config_free(c);
    c = NULL;
    tw_error_t err;
    static const char yaml[] = "autoscaling:\n"
                               "  admission_webhook:\n"
                               "    listen_address: 127.0.0.1:8443\n"
                               "    tls_config: {cert_file: tls/w.crt, key_file: /k/w.key}\n";
    assert_int_equal(tw_config_load_mem(yaml, strlen(yaml), "/etc/tw/t.yml", &c, &err), 0);
    assert_string_equal(c->autoscaling.admission_webhook.listen_address, "127.0.0.1:8443");
    assert_string_equal(c->autoscaling.admission_webhook.cert_file, "/etc/tw/tls/w.crt");
    assert_string_equal(c->autoscaling.admission_webhook.key_file, "/k/w.key");
    tw_config_free(c);
    load_err("autoscaling:\n  admission_webhook:\n    listen_address: :8443\n", TW_EINVAL,
             "t.yml:3:5: autoscaling.admission_webhook.tls_config: cert_file and key_file are "
             "required: the API server calls admission webhooks over HTTPS only");
    load_err("autoscaling:\n  admission_webhook:\n    tls_config: {cert_file: a, key_file: b}\n",
             TW_EINVAL,
             "t.yml:3:5: autoscaling.admission_webhook.listen_address: required (host:port of "
             "the webhook's HTTPS listener)");
    load_err("autoscaling:\n  admission_webhook: {listen: x}\n", TW_EINVAL,
             "t.yml:2:23: unknown key \"listen\" in autoscaling.admission_webhook (expected one of "
             "listen_address, tls_config)");
}

static void test_listen_address_check(void **state)
{
    (void)state;
    assert_int_equal(tw_config_listen_address_check("127.0.0.1:9475"), 0);
    assert_int_equal(tw_config_listen_address_check(":9475"), 0);
    assert_int_equal(tw_config_listen_address_check("0.0.0.0:0"), 0);
    assert_int_equal(tw_config_listen_address_check("localhost:80"), 0);
    assert_int_equal(tw_config_listen_address_check("[::1]:9475"), 0);
    assert_int_equal(tw_config_listen_address_check("[::]:65535"), 0);
    assert_int_equal(tw_config_listen_address_check("::1:9475"), TW_EINVAL);
    assert_int_equal(tw_config_listen_address_check("[zz]:1"), TW_EINVAL);
    assert_int_equal(tw_config_listen_address_check("[::1]9475"), TW_EINVAL);
    assert_int_equal(tw_config_listen_address_check("host:"), TW_EINVAL);
    assert_int_equal(tw_config_listen_address_check("host:123456"), TW_EINVAL);
    assert_int_equal(tw_config_listen_address_check("host:-1"), TW_EINVAL);
    assert_int_equal(tw_config_listen_address_check("ho st:1"), TW_EINVAL);
    assert_int_equal(tw_config_listen_address_check(""), TW_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_key),         cmocka_unit_test(test_embedded_default),
        cmocka_unit_test(test_load_file),         cmocka_unit_test(test_error_unknown_key),
        cmocka_unit_test(test_pods_url_env),      cmocka_unit_test(test_error_unsupported_section),
        cmocka_unit_test(test_scrape_configs),    cmocka_unit_test(test_storage_tsdb_wal),
        cmocka_unit_test(test_error_wrong_type),  cmocka_unit_test(test_error_bad_duration),
        cmocka_unit_test(test_error_bad_size),    cmocka_unit_test(test_error_duplicate_key),
        cmocka_unit_test(test_error_yaml_syntax), cmocka_unit_test(test_error_bad_listen_address),
        cmocka_unit_test(test_aliases),           cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_bytes_parse),       cmocka_unit_test(test_listen_address_check),
        cmocka_unit_test(test_query_section),     cmocka_unit_test(test_query_overrides),
        cmocka_unit_test(test_admission_webhook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
