/* SPDX-License-Identifier: Apache-2.0 */
/* test_notify_config.c - the `alerting:` section: values, defaults, and positioned errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "alerting/notify/notify.h"

static int parse(const char *yaml, tw_notify_config_t *cfg, tw_error_t *err)
{
    tw_yaml_doc_t *doc = NULL;
    assert_int_equal(tw_yaml_doc_parse(yaml, strlen(yaml), "tw.yml", &doc, err), 0);
    const tw_yaml_node_t *root = tw_yaml_doc_root(doc);
    const tw_yaml_node_t *alerting = NULL;
    for (size_t i = 0; i + 1 < root->n; i += 2) {
        if (strcmp(root->items[i]->value, "alerting") == 0) {
            alerting = root->items[i + 1];
        }
    }
    memset(cfg, 0, sizeof(*cfg));
    int rc = tw_notify_config_parse(alerting, "tw.yml", cfg, err);
    tw_yaml_doc_free(doc);
    return rc;
}

static void test_full_config(void **state)
{
    (void)state;
    const char *y = "alerting:\n"
                    "  alertmanagers:\n"
                    "    - static_configs:\n"
                    "        - targets: ['127.0.0.1:9093', 'am:9093']\n"
                    "      path_prefix: /am\n"
                    "      timeout: 5s\n"
                    "      api_version: v2\n"
                    "      basic_auth: {username: u, password: p}\n"
                    "    - file_sd_configs:\n"
                    "        - files: ['/etc/am/*.json']\n"
                    "          refresh_interval: 1m\n"
                    "      scheme: https\n"
                    "      tls_config: {insecure_skip_verify: true}\n"
                    "  webhooks:\n"
                    "    - name: ops\n"
                    "      url: http://hooks.example:8080/x\n"
                    "      group_by: [alertname, cluster]\n"
                    "      group_wait: 1s\n"
                    "      group_interval: 2s\n"
                    "      repeat_interval: 1h\n"
                    "      send_resolved: false\n"
                    "      max_alerts: 10\n"
                    "      hmac_secret: k\n"
                    "      http_config:\n"
                    "        authorization: {credentials: tok}\n"
                    "    - url: https://other/\n"
                    "      group_by: ['...']\n";
    tw_notify_config_t c;
    tw_error_t err;
    int rc = parse(y, &c, &err);
    if (rc != 0) {
        fail_msg("%s at %d:%d", err.msg, err.line, err.col);
    }
    assert_int_equal(c.n_alertmanagers, 2);
    assert_int_equal(c.alertmanagers[0].n_targets, 2);
    assert_string_equal(c.alertmanagers[0].targets[1], "am:9093");
    assert_string_equal(c.alertmanagers[0].path_prefix, "/am");
    assert_int_equal(c.alertmanagers[0].timeout_ms, 5000);
    assert_string_equal(c.alertmanagers[0].http.basic_username, "u");
    assert_int_equal(c.alertmanagers[1].n_sd_files, 1);
    assert_int_equal(c.alertmanagers[1].sd_refresh_ms, 60000);
    assert_true(c.alertmanagers[1].http.insecure_skip_verify);
    assert_int_equal(c.n_webhooks, 2);
    tw_notify_webhook_config_t *w = &c.webhooks[0];
    assert_string_equal(w->name, "ops");
    assert_int_equal(w->n_group_by, 2);
    assert_int_equal(w->group_wait_ms, 1000);
    assert_int_equal(w->group_interval_ms, 2000);
    assert_int_equal(w->repeat_interval_ms, 3600000);
    assert_false(w->send_resolved);
    assert_int_equal(w->max_alerts, 10);
    assert_string_equal(w->hmac_secret, "k");
    assert_string_equal(w->http.bearer_token, "tok");
    w = &c.webhooks[1];
    assert_string_equal(w->name, "webhook-1");
    assert_true(w->group_by_all);
    assert_int_equal(w->group_wait_ms, 30000); /* Alertmanager's route defaults */
    assert_int_equal(w->group_interval_ms, 300000);
    assert_int_equal(w->repeat_interval_ms, 4 * 3600000);
    assert_true(w->send_resolved);
    tw_notify_config_fini(&c);
    tw_notify_config_fini(NULL);
}

static void expect_error(const char *y, int line, int col, const char *msg)
{
    tw_notify_config_t c;
    tw_error_t err;
    assert_int_equal(parse(y, &c, &err), TW_EINVAL);
    if (strstr(err.msg, msg) == NULL || err.line != line || err.col != col) {
        fail_msg("got %d:%d %s", err.line, err.col, err.msg);
    }
    assert_string_equal(err.file, "tw.yml");
    tw_notify_config_fini(&c);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("alerting:\n  webhooks:\n    - url: http://x/\n      group_wiat: 1s\n", 4, 7,
                 "group_wiat");
    expect_error("alerting:\n  webhooks:\n    - url: ftp://x/\n", 3, 12, "not an http://");
    expect_error("alerting:\n  webhooks:\n    - url: http://x/\n      group_wait: 5\n", 4, 19,
                 "group_wait");
    expect_error("alerting:\n  webhooks:\n    - {url: 'http://x/', name: a}\n"
                 "    - {url: 'http://y/', name: a}\n",
                 4, 7, "duplicate webhook name");
    expect_error("alerting:\n  webhooks:\n    - url: http://x/\n      group_by: ['...', a]\n", 4,
                 17, "wildcard");
    expect_error("alerting:\n  alertmanagers:\n    - api_version: v1\n"
                 "      static_configs: [{targets: [a:1]}]\n",
                 3, 20, "\"v2\"");
    expect_error("alerting:\n  alertmanagers:\n    - timeout: 1s\n", 3, 7,
                 "needs static_configs or file_sd_configs");
    expect_error("alerting:\n  alert_relabel_configs: []\n", 2, 26, "not supported");
    expect_error("alerting:\n  webhooks:\n    - url: http://x/\n      hmac_secret: a\n"
                 "      hmac_secret_file: /f\n",
                 5, 25, "at most one");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
