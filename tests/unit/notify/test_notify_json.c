/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_notify_json.c - payload bytes against the payloads captured from Prometheus 2.42 and
 * Alertmanager 0.25 (../shared/conformance/fixtures/alerting/), fingerprints, Go-style JSON
 * escaping and times, Alertmanager's alert order, and the alert-sink helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerting/notify/notify_int.h"

#define FIX TW_SHARED "/conformance/fixtures/alerting/"

static char *read_fixture(const char *name)
{
    tw_buf_t b;
    tw_buf_init(&b, 0);
    char path[512];
    snprintf(path, sizeof(path), FIX "%s", name);
    assert_int_equal(tw_buf_read_file(&b, path, NULL), 0);
    return tw_buf_steal(&b, NULL);
}

/* Test ms times (UTC). */
#define T_0349_39_293 1795664979293LL
#define T_0354_44_293 1795665284293LL
#define T_0350_49 1795665049000LL
#define T_0350_54 1795665054000LL

static void make(notify_alert_t *out, const tw_label_t *l, size_t nl, const tw_label_t *a,
                 size_t na, int64_t s, int64_t e, const char *url)
{
    tw_alert_t in = {l, nl, a, na, s, e, url};
    notify_alert_copy(out, &in, NULL, 0);
}

static void test_fingerprints_match_alertmanager(void **state)
{
    (void)state;
    tw_label_t api[] = {{"alertname", "DeploymentReplicasHigh"},
                        {"deployment", "api"},
                        {"namespace", "shop"},
                        {"severity", "critical"}};
    assert_int_equal(notify_fingerprint(api, 4), 0xba6bd2c4818294feULL);
    tw_label_t web[] = {{"alertname", "DeploymentReplicasHigh"},
                        {"deployment", "web"},
                        {"namespace", "shop"},
                        {"severity", "warning"}};
    assert_int_equal(notify_fingerprint(web, 4), 0xded38d0c53b414e7ULL);
    tw_label_t af[] = {{"alertname", "AlwaysFiring"},
                       {"fixture", "run2"},
                       {"severity", "warning"},
                       {"team", "platform"}};
    assert_int_equal(notify_fingerprint(af, 4), 0x2288fdd7f38df1e1ULL);
    assert_int_equal(notify_fingerprint(NULL, 0), 14695981039346656037ULL);
}

static void test_am_v2_body_matches_prometheus(void **state)
{
    (void)state;
    tw_label_t l[] = {{"alertname", "AlwaysFiring"},
                      {"fixture", "capture"},
                      {"severity", "warning"},
                      {"team", "platform"}};
    tw_label_t an[] = {{"description", "vector(1) is 1"}, {"summary", "Always firing test alert"}};
    tw_buf_t url;
    tw_buf_init(&url, 0);
    assert_int_equal(tw_alert_generator_url(&url, "http://vm:19090", "vector(1)"), 0);
    assert_string_equal(url.data, "http://vm:19090/graph?g0.expr=vector%281%29&g0.tab=1");
    notify_alert_t a;
    make(&a, l, 4, an, 2, T_0349_39_293, T_0354_44_293, url.data);
    tw_buf_t b;
    tw_buf_init(&b, 0);
    assert_int_equal(notify_json_am_alerts(&b, &a, 1), 0);
    char *want = read_fixture("prometheus-to-am-01-firing-run1.json");
    assert_string_equal(b.data, want);
    free(want);
    /* No annotations and no generator URL: both keys are left out (omitempty). */
    notify_alert_t bare;
    make(&bare, l, 1, NULL, 0, 1000, 0, NULL);
    tw_buf_reset(&b);
    notify_json_am_alerts(&b, &bare, 1);
    assert_string_equal(b.data, "[{\"endsAt\":\"0001-01-01T00:00:00.000Z\",\"startsAt\":"
                                "\"1970-01-01T00:00:01.000Z\",\"labels\":{\"alertname\":"
                                "\"AlwaysFiring\"}}]");
    notify_alert_fini(&bare);
    notify_alert_fini(&a);
    tw_buf_fini(&b);
    tw_buf_fini(&url);
}

static void webhook_fixture_alerts(notify_alert_t *a, int64_t web_end)
{
    tw_label_t api[] = {{"alertname", "DeploymentReplicasHigh"},
                        {"deployment", "api"},
                        {"namespace", "shop"},
                        {"severity", "critical"}};
    tw_label_t api_an[] = {{"summary", "api has 9 replicas"}};
    tw_label_t web[] = {{"alertname", "DeploymentReplicasHigh"},
                        {"deployment", "web"},
                        {"namespace", "shop"},
                        {"severity", "warning"}};
    tw_label_t web_an[] = {{"description", "Autoscaler scaled shop/web to 5 replicas."},
                           {"summary", "web has 5 replicas"}};
    /* Reverse order on purpose: the sort must put api first. */
    make(&a[0], web, 4, web_an, 2, T_0350_49, web_end,
         "http://127.0.0.1:8080/graph?g0.expr=replicas");
    make(&a[1], api, 4, api_an, 1, T_0350_49, 0, "");
    notify_alerts_sort(a, 2);
}

static void test_webhook_body_matches_alertmanager(void **state)
{
    (void)state;
    tw_label_t gl[] = {{"alertname", "DeploymentReplicasHigh"}};
    notify_alert_t a[2];
    webhook_fixture_alerts(a, 0);
    assert_string_equal(tw_labels_get(a[0].labels, a[0].n_labels, "deployment"), "api");
    notify_webhook_msg_t m = {
        .receiver = "capture",
        .group_key = "{}:{alertname=\"DeploymentReplicasHigh\"}",
        .group_labels = gl,
        .n_group_labels = 1,
        .alerts = a,
        .n_alerts = 2,
        .external_url = "http://vm:19093",
        .now_ms = T_0350_49 + 1000,
    };
    tw_buf_t b;
    tw_buf_init(&b, 0);
    assert_int_equal(notify_json_webhook(&b, &m), 0);
    char *want = read_fixture("am-webhook-01-firing.json");
    assert_string_equal(b.data, want);
    free(want);
    notify_alert_fini(&a[0]);
    notify_alert_fini(&a[1]);

    /* web resolved at 03:50:54, sent after that: partially resolved. */
    webhook_fixture_alerts(a, T_0350_54);
    m.now_ms = T_0350_54 + 2000;
    tw_buf_reset(&b);
    notify_json_webhook(&b, &m);
    want = read_fixture("am-webhook-02-partially-resolved.json");
    assert_string_equal(b.data, want);
    free(want);
    /* Before its end the same alert is firing and its end is hidden. */
    m.now_ms = T_0350_54 - 1;
    tw_buf_reset(&b);
    notify_json_webhook(&b, &m);
    want = read_fixture("am-webhook-01-firing.json");
    assert_string_equal(b.data, want);
    free(want);
    /* max_alerts truncates the list but not the common labels. */
    m.max_alerts = 1;
    tw_buf_reset(&b);
    notify_json_webhook(&b, &m);
    assert_non_null(strstr(b.data, "\"truncatedAlerts\":1}\n"));
    assert_null(strstr(b.data, "ded38d0c53b414e7"));
    assert_non_null(strstr(b.data, "\"commonLabels\":{\"alertname\":\"DeploymentReplicasHigh\","
                                   "\"namespace\":\"shop\"}"));
    notify_alert_fini(&a[0]);
    notify_alert_fini(&a[1]);
    tw_buf_fini(&b);
}

static void test_json_escaping_and_times(void **state)
{
    (void)state;
    tw_buf_t b;
    tw_buf_init(&b, 0);
    notify_json_string(&b, "a<b>&\"\\\n\t\x01\xe2\x80\xa8\xff\xc3\xa9");
    assert_string_equal(b.data,
                        "\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\t\\u0001\\u2028\\ufffd\xc3\xa9\"");
    tw_buf_reset(&b);
    notify_json_time_go(&b, 0);
    notify_json_time_go(&b, 1500);
    notify_json_time_go(&b, 1230);
    notify_json_time_go(&b, 1001);
    notify_json_time_go(&b, 2000);
    assert_string_equal(b.data, "\"0001-01-01T00:00:00Z\"\"1970-01-01T00:00:01.5Z\""
                                "\"1970-01-01T00:00:01.23Z\"\"1970-01-01T00:00:01.001Z\""
                                "\"1970-01-01T00:00:02Z\"");
    tw_buf_fini(&b);
}

static void test_receiver_name_is_quotemeta(void **state)
{
    (void)state;
    tw_label_t l[] = {{"alertname", "A"}};
    notify_alert_t a;
    make(&a, l, 1, NULL, 0, 1000, 0, NULL);
    notify_webhook_msg_t m = {.receiver = "team.ops+1",
                              .group_key = "{}:{}",
                              .alerts = &a,
                              .n_alerts = 1,
                              .now_ms = 5000};
    tw_buf_t b;
    tw_buf_init(&b, 0);
    notify_json_webhook(&b, &m);
    assert_memory_equal(b.data, "{\"receiver\":\"team\\\\.ops\\\\+1\",\"status\":\"firing\"", 46);
    tw_buf_fini(&b);
    notify_alert_fini(&a);
}

static void test_alert_order(void **state)
{
    (void)state;
    tw_label_t l1[] = {{"alertname", "X"}, {"instance", "b"}};
    tw_label_t l2[] = {{"alertname", "X"}, {"instance", "a"}};
    tw_label_t l3[] = {{"alertname", "X"}};
    tw_label_t l4[] = {{"alertname", "X"}, {"instance", "a"}, {"job", "j"}};
    tw_label_t l5[] = {{"alertname", "W"}};
    notify_alert_t a[5];
    make(&a[0], l1, 2, NULL, 0, 1, 0, NULL);
    make(&a[1], l2, 2, NULL, 0, 1, 0, NULL);
    make(&a[2], l3, 1, NULL, 0, 1, 0, NULL);
    make(&a[3], l4, 3, NULL, 0, 1, 0, NULL);
    make(&a[4], l5, 1, NULL, 0, 1, 0, NULL);
    notify_alerts_sort(a, 5);
    /* job first, then instance, then shorter label sets, then values. */
    assert_int_equal(a[0].n_labels, 3);
    assert_string_equal(tw_labels_get(a[1].labels, a[1].n_labels, "instance"), "a");
    assert_string_equal(tw_labels_get(a[2].labels, a[2].n_labels, "instance"), "b");
    assert_string_equal(a[3].labels[0].value, "W");
    assert_string_equal(a[4].labels[0].value, "X");
    for (int i = 0; i < 5; i++) {
        notify_alert_fini(&a[i]);
    }
}

static void test_external_labels(void **state)
{
    (void)state;
    tw_label_t l[] = {{"alertname", "A"}, {"cluster", ""}, {"region", "mine"}};
    tw_label_t ext[] = {{"cluster", "c1"}, {"region", "eu"}, {"zone", "z"}};
    tw_alert_t in = {l, 3, NULL, 0, 1, 0, NULL};
    notify_alert_t a;
    notify_alert_copy(&a, &in, ext, 3);
    assert_int_equal(a.n_labels, 4);
    assert_string_equal(tw_labels_get(a.labels, 4, "cluster"), "c1");
    assert_string_equal(tw_labels_get(a.labels, 4, "region"), "mine");
    assert_string_equal(a.labels[3].name, "zone");
    notify_alert_fini(&a);
}

static void test_sink_helpers(void **state)
{
    (void)state;
    /* endsAt = now + 4 * max(resend_delay, interval). */
    assert_int_equal(tw_alert_valid_until_ms(1000, 60000, 15000), 1000 + 240000);
    assert_int_equal(tw_alert_valid_until_ms(1000, 5000, 30000), 1000 + 120000);
    assert_false(tw_alert_needs_sending(true, 0, 0, 100000, 60000));
    assert_true(tw_alert_needs_sending(false, 0, 0, 100000, 60000));
    assert_false(tw_alert_needs_sending(false, 40000, 0, 100000, 60000));
    assert_true(tw_alert_needs_sending(false, 39999, 0, 100000, 60000));
    assert_false(tw_alert_needs_sending(false, 40000, 0, 100000, 60000));
    assert_true(tw_alert_needs_sending(false, 90000, 95000, 100000, 60000));
    tw_buf_t b;
    tw_buf_init(&b, 0);
    tw_alert_generator_url(&b, "http://127.0.0.1:19090", "vector(time() % 40 < bool 20) == 1");
    assert_string_equal(b.data, "http://127.0.0.1:19090/graph?g0.expr=vector%28time%28%29+%25+40+"
                                "%3C+bool+20%29+%3D%3D+1&g0.tab=1");
    tw_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprints_match_alertmanager),
        cmocka_unit_test(test_am_v2_body_matches_prometheus),
        cmocka_unit_test(test_webhook_body_matches_alertmanager),
        cmocka_unit_test(test_json_escaping_and_times),
        cmocka_unit_test(test_receiver_name_is_quotemeta),
        cmocka_unit_test(test_alert_order),
        cmocka_unit_test(test_external_labels),
        cmocka_unit_test(test_sink_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
