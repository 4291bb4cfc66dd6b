/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_notify_dispatch.c - the webhook dispatcher's group timers (group_wait, group_interval,
 * repeat_interval), dedup verdicts, send_resolved, grouping, and the persisted notification
 * log, with time as a parameter.
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

typedef struct capture {
    int n;
    char keys[16][128];
    char *bodies[16];
    int refuse;
} capture_t;

static int on_emit(void *ctx, const char *key, const char *body, size_t len)
{
    capture_t *c = ctx;
    if (c->refuse) {
        return TW_EIO;
    }
    assert_true(c->n < 16);
    snprintf(c->keys[c->n], sizeof(c->keys[0]), "%s", key);
    c->bodies[c->n] = strndup(body, len);
    c->n++;
    return 0;
}

static void capture_free(capture_t *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->bodies[i]);
    }
    memset(c, 0, sizeof(*c));
}

static tw_notify_webhook_config_t config(void)
{
    static char *gb[] = {"alertname", NULL};
    tw_notify_webhook_config_t c = {
        .name = "hook",
        .url = "http://x/",
        .group_by = gb,
        .n_group_by = 1,
        .group_wait_ms = 1000,
        .group_interval_ms = 2000,
        .repeat_interval_ms = 10000,
        .send_resolved = true,
    };
    return c;
}

static void insert(notify_dispatch_t *d, const char *name, const char *inst, int64_t start,
                   int64_t end, int64_t now)
{
    tw_label_t l[] = {{"alertname", name}, {"instance", inst}};
    tw_alert_t in = {l, 2, NULL, 0, start, end, NULL};
    notify_alert_t a;
    notify_alert_copy(&a, &in, NULL, 0);
    notify_dispatch_insert(d, &a, now);
    notify_alert_fini(&a);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static void test_group_timers(void **state)
{
    (void)state;
    tw_notify_webhook_config_t c = config();
    notify_dispatch_t *d = notify_dispatch_new(&c, "http://ext");
    capture_t cap = {0};
    int64_t t = 100000;
    insert(d, "A", "1", t, t + 60000, t);
    assert_int_equal(notify_dispatch_next_ms(d), t + 1000); /* group_wait */
    assert_int_equal(notify_dispatch_flush(d, t + 999, on_emit, &cap), 0);
    insert(d, "A", "2", t + 500, t + 60000, t + 500); /* joins the waiting group */
    assert_int_equal(notify_dispatch_flush(d, t + 1000, on_emit, &cap), 1);
    assert_string_equal(cap.keys[0], "{}:{alertname=\"A\"}");
    assert_int_equal(count(cap.bodies[0], "\"status\":\"firing\""), 3);
    assert_non_null(strstr(cap.bodies[0], "\"groupLabels\":{\"alertname\":\"A\"}"));
    assert_non_null(strstr(cap.bodies[0], "\"externalURL\":\"http://ext\""));
    assert_int_equal(notify_dispatch_next_ms(d), t + 3000); /* group_interval */
    /* Nothing changed: no notification at the next interval. */
    assert_int_equal(notify_dispatch_flush(d, t + 3000, on_emit, &cap), 0);
    /* A new alert after the first flush waits for the interval, not group_wait. */
    insert(d, "A", "3", t + 3500, t + 60000, t + 3500);
    assert_int_equal(notify_dispatch_flush(d, t + 4999, on_emit, &cap), 0);
    assert_int_equal(notify_dispatch_flush(d, t + 5000, on_emit, &cap), 1);
    assert_int_equal(count(cap.bodies[1], "\"status\":\"firing\""), 4);
    /* repeat_interval (10 s) after the last notification (t+5000): strictly after it. */
    for (int64_t at = t + 7000; at <= t + 15000; at += 2000) {
        assert_int_equal(notify_dispatch_flush(d, at, on_emit, &cap), 0);
    }
    assert_int_equal(notify_dispatch_flush(d, t + 17000, on_emit, &cap), 1);
    assert_int_equal(cap.n, 3);
    capture_free(&cap);
    notify_dispatch_free(d);
}

static void test_old_alert_flushes_at_once_and_groups_split(void **state)
{
    (void)state;
    tw_notify_webhook_config_t c = config();
    notify_dispatch_t *d = notify_dispatch_new(&c, "");
    capture_t cap = {0};
    int64_t t = 100000;
    insert(d, "A", "1", t - 5000, t + 60000, t); /* started long ago */
    insert(d, "B", "1", t, t + 60000, t);
    assert_int_equal(notify_dispatch_groups(d), 2);
    assert_int_equal(notify_dispatch_next_ms(d), t);
    assert_int_equal(notify_dispatch_flush(d, t, on_emit, &cap), 1);
    assert_string_equal(cap.keys[0], "{}:{alertname=\"A\"}");
    assert_int_equal(notify_dispatch_flush(d, t + 1000, on_emit, &cap), 1);
    assert_string_equal(cap.keys[1], "{}:{alertname=\"B\"}");
    capture_free(&cap);
    notify_dispatch_free(d);
}

static void test_resolve_and_send_resolved(void **state)
{
    (void)state;
    tw_notify_webhook_config_t c = config();
    for (int sr = 0; sr < 2; sr++) {
        c.send_resolved = sr == 1;
        notify_dispatch_t *d = notify_dispatch_new(&c, "");
        capture_t cap = {0};
        int64_t t = 100000;
        insert(d, "A", "1", t, t + 60000, t);
        insert(d, "A", "2", t, t + 60000, t);
        assert_int_equal(notify_dispatch_flush(d, t + 1000, on_emit, &cap), 1);
        /* One resolves: only with send_resolved is that news. */
        insert(d, "A", "2", t, t + 2000, t + 2000);
        assert_int_equal(notify_dispatch_flush(d, t + 3000, on_emit, &cap), sr == 1 ? 1 : 0);
        if (sr == 1) {
            assert_int_equal(count(cap.bodies[1], "\"status\":\"resolved\""), 1);
            assert_non_null(strstr(cap.bodies[1], "\"endsAt\":\"1970-01-01T00:01:42Z\""));
        }
        /* The resolved alert left the group. The other resolves: everything resolved is sent
         * even without send_resolved (to clear the log) but then carries no alerts... */
        insert(d, "A", "1", t, t + 4000, t + 4000);
        size_t got = notify_dispatch_flush(d, t + 5000, on_emit, &cap);
        assert_int_equal(got, sr == 1 ? 1 : 0);
        if (sr == 1) {
            assert_non_null(
                strstr(cap.bodies[2], "{\"receiver\":\"hook\",\"status\":\"resolved\""));
            assert_int_equal(count(cap.bodies[2], "\"fingerprint\""), 1);
        }
        /* The group is gone and so is its log entry. */
        assert_int_equal(notify_dispatch_groups(d), 0);
        tw_buf_t b;
        tw_buf_init(&b, 0);
        notify_dispatch_nflog_encode(d, &b);
        assert_int_equal(b.len, 12);
        tw_buf_fini(&b);
        capture_free(&cap);
        notify_dispatch_free(d);
    }
}

static void test_fire_and_resolve_within_interval_is_silent(void **state)
{
    (void)state;
    tw_notify_webhook_config_t c = config();
    notify_dispatch_t *d = notify_dispatch_new(&c, "");
    capture_t cap = {0};
    int64_t t = 100000;
    insert(d, "A", "1", t, t + 500, t);
    assert_int_equal(notify_dispatch_flush(d, t + 1000, on_emit, &cap), 0);
    assert_int_equal(notify_dispatch_groups(d), 0);
    capture_free(&cap);
    notify_dispatch_free(d);
}

static void test_refused_emit_retries_next_interval(void **state)
{
    (void)state;
    tw_notify_webhook_config_t c = config();
    notify_dispatch_t *d = notify_dispatch_new(&c, "");
    capture_t cap = {0};
    int64_t t = 100000;
    insert(d, "A", "1", t, t + 60000, t);
    cap.refuse = 1;
    assert_int_equal(notify_dispatch_flush(d, t + 1000, on_emit, &cap), 0);
    assert_false(notify_dispatch_nflog_dirty(d));
    cap.refuse = 0;
    assert_int_equal(notify_dispatch_flush(d, t + 3000, on_emit, &cap), 1);
    assert_true(notify_dispatch_nflog_dirty(d));
    capture_free(&cap);
    notify_dispatch_free(d);
}

static void test_nflog_survives_restart(void **state)
{
    (void)state;
    tw_notify_webhook_config_t c = config();
    notify_dispatch_t *d = notify_dispatch_new(&c, "");
    capture_t cap = {0};
    int64_t t = 100000;
    insert(d, "A", "1", t, t + 60000, t);
    assert_int_equal(notify_dispatch_flush(d, t + 1000, on_emit, &cap), 1);
    tw_buf_t b;
    tw_buf_init(&b, 0);
    notify_dispatch_nflog_encode(d, &b);
    notify_dispatch_free(d);

    /* A new dispatcher with the log: the same firing alert is not news. */
    d = notify_dispatch_new(&c, "");
    size_t entries = 0;
    assert_int_equal(notify_dispatch_nflog_decode(d, (const uint8_t *)b.data, b.len, &entries), 0);
    assert_int_equal(entries, 1);
    insert(d, "A", "1", t, t + 60000, t + 5000);
    assert_int_equal(notify_dispatch_flush(d, t + 6000, on_emit, &cap), 0);
    /* A new alert is. */
    insert(d, "A", "2", t + 6500, t + 60000, t + 6500);
    assert_int_equal(notify_dispatch_flush(d, t + 8000, on_emit, &cap), 1);
    notify_dispatch_free(d);

    /* A damaged log is refused. */
    d = notify_dispatch_new(&c, "");
    b.data[b.len / 2] ^= 1;
    assert_int_equal(notify_dispatch_nflog_decode(d, (const uint8_t *)b.data, b.len, &entries),
                     TW_EPARSE);
    assert_int_equal(notify_dispatch_nflog_decode(d, (const uint8_t *)b.data, 5, &entries),
                     TW_EPARSE);
    notify_dispatch_free(d);
    tw_buf_fini(&b);
    capture_free(&cap);
}

static void test_group_by_all_and_none(void **state)
{
    (void)state;
    tw_notify_webhook_config_t c = config();
    c.n_group_by = 0;
    notify_dispatch_t *d = notify_dispatch_new(&c, "");
    insert(d, "A", "1", 1, 60000, 1);
    insert(d, "B", "1", 1, 60000, 1);
    assert_int_equal(notify_dispatch_groups(d), 1);
    capture_t cap = {0};
    notify_dispatch_flush(d, 1001, on_emit, &cap);
    assert_string_equal(cap.keys[0], "{}:{}");
    capture_free(&cap);
    notify_dispatch_free(d);
    c.group_by_all = true;
    d = notify_dispatch_new(&c, "");
    insert(d, "A", "1", 1, 60000, 1);
    insert(d, "A", "x\"y", 1, 60000, 1);
    assert_int_equal(notify_dispatch_groups(d), 2);
    notify_dispatch_flush(d, 1001, on_emit, &cap);
    assert_string_equal(cap.keys[1], "{}:{alertname=\"A\", instance=\"x\\\"y\"}");
    capture_free(&cap);
    notify_dispatch_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_timers),
        cmocka_unit_test(test_old_alert_flushes_at_once_and_groups_split),
        cmocka_unit_test(test_resolve_and_send_resolved),
        cmocka_unit_test(test_fire_and_resolve_within_interval_is_silent),
        cmocka_unit_test(test_refused_emit_retries_next_interval),
        cmocka_unit_test(test_nflog_survives_restart),
        cmocka_unit_test(test_group_by_all_and_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
