/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_notify_loop.c - the notifier with a fake transport and time as a parameter: webhook
 * delivery with headers and signature, retries with bounded backoff through an outage, a
 * restart in the middle (outbox and notification log survive), permanent errors, the
 * Alertmanager path (batches of 64, external labels, queue drops), and backoff bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerting/notify/notify_int.h"
#include "common/log.h"

#define MAXREQ 256

typedef struct fake {
    int status; /* answer; 0: connection refused */
    int n;
    char *url[MAXREQ];
    char *body[MAXREQ];
    char *hdrs[MAXREQ];
} fake_t;

static int fake_post(void *ctx, const tw_notify_request_t *req, int *status, tw_error_t *err)
{
    fake_t *f = ctx;
    assert_true(f->n < MAXREQ);
    f->url[f->n] = strdup(req->url);
    f->body[f->n] = strndup(req->body, req->body_len);
    tw_buf_t h;
    tw_buf_init(&h, 0);
    for (size_t i = 0; i < req->n_headers; i++) {
        tw_buf_printf(&h, "%s\n", req->headers[i]);
    }
    f->hdrs[f->n] = tw_buf_steal(&h, NULL);
    f->n++;
    if (f->status == 0) {
        return tw_error_set(err, TW_ETRANSIENT, "connection refused");
    }
    *status = f->status;
    return 0;
}

static void fake_fini(fake_t *f)
{
    for (int i = 0; i < f->n; i++) {
        free(f->url[i]);
        free(f->body[i]);
        free(f->hdrs[i]);
    }
    memset(f, 0, sizeof(*f));
}

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/tw-notify-loop-XXXXXX");
    assert_non_null(mkdtemp(dir));
    int fd = open("/dev/null", O_WRONLY);
    tw_log_set_fd(fd); /* the loop logs failures; keep test output clean */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *files[] = {"hook/outbox.log", "hook/outbox.acked", "hook/nflog", "hook", ""};
    for (size_t i = 0; i < 5; i++) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        if (unlink(p) != 0) {
            rmdir(p);
        }
    }
    tw_log_set_fd(2);
    return 0;
}

static char *group_by[] = {"alertname", NULL};

static tw_notify_webhook_config_t hook_config(void)
{
    tw_notify_webhook_config_t c = {
        .name = "hook",
        .url = "http://127.0.0.1:1/hook",
        .group_by = group_by,
        .n_group_by = 1,
        .group_wait_ms = 1000,
        .group_interval_ms = 2000,
        .repeat_interval_ms = 3600000,
        .send_resolved = true,
        .hmac_secret = "s3cret",
        .timeout_ms = 1000,
        .http = {.bearer_token = "tok"},
    };
    return c;
}

static tw_notify_t *make(const tw_notify_config_t *cfg, fake_t *f, tw_notify_replay_t *rp)
{
    static tw_notify_transport_t tr;
    tr.ctx = f;
    tr.post = fake_post;
    tw_label_t ext[] = {{"cluster", "c1"}};
    tw_notify_options_t o = {
        .config = cfg,
        .outbox_dir = dir,
        .external_url = "http://tw:9475",
        .external_labels = ext,
        .n_external_labels = 1,
        .backoff_min_ms = 1000,
        .backoff_max_ms = 8000,
        .jitter_seed = 7,
        .transport = &tr,
    };
    tw_notify_t *n = NULL;
    tw_error_t err;
    if (tw_notify_new(&o, &n, rp, &err) != 0) {
        fail_msg("new: %s", err.msg);
    }
    return n;
}

static void fire(tw_notify_t *n, const char *name, const char *inst, int64_t start, int64_t end,
                 int64_t now)
{
    tw_label_t l[] = {{"alertname", name}, {"instance", inst}};
    tw_label_t a[] = {{"summary", "s"}};
    tw_alert_t al = {l, 2, a, 1, start, end, "http://gen"};
    tw_alert_sink_t s = tw_notify_sink(n);
    assert_int_equal(s.send(s.ctx, &al, 1, now), 0);
}

static void test_webhook_outage_and_restart(void **state)
{
    (void)state;
    tw_notify_webhook_config_t hc = hook_config();
    tw_notify_config_t cfg = {.webhooks = &hc, .n_webhooks = 1};
    fake_t f = {.status = 200};
    tw_notify_replay_t rp;
    tw_notify_t *n = make(&cfg, &f, &rp);
    assert_int_equal(rp.pending, 0);
    int64_t t = 1000000;
    fire(n, "A", "1", t, t + 60000, t);
    assert_int_equal(tw_notify_tick(n, t), t + 1000); /* group_wait */
    assert_int_equal(f.n, 0);
    tw_notify_tick(n, t + 1000);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.url[0], "http://127.0.0.1:1/hook");
    assert_non_null(strstr(f.body[0], "\"cluster\":\"c1\""));
    assert_non_null(strstr(f.hdrs[0], "Content-Type: application/json\n"));
    assert_non_null(strstr(f.hdrs[0], "Authorization: Bearer tok\n"));
    assert_non_null(strstr(f.hdrs[0], "X-Tidewatch-Notification-Id: 1\n"));
    uint8_t mac[32];
    char hex[65], want[128];
    notify_hmac_sha256("s3cret", 6, f.body[0], strlen(f.body[0]), mac);
    notify_hex(mac, 32, hex);
    snprintf(want, sizeof(want), "X-Tidewatch-Signature: sha256=%s\n", hex);
    assert_non_null(strstr(f.hdrs[0], want));

    /* The receiver goes down; a second alert and a resolution are queued. */
    f.status = 0;
    fire(n, "A", "2", t + 1500, t + 60000, t + 1500);
    tw_notify_tick(n, t + 3000); /* flush -> #2 queued, attempt fails */
    assert_int_equal(f.n, 2);
    tw_notify_stats_t st;
    tw_notify_stats(n, &st);
    assert_int_equal(st.queued, 2);
    assert_int_equal(st.queue_length, 1);
    assert_int_equal(st.errors, 1);
    fire(n, "A", "1", t, t + 4000, t + 4000); /* resolved */
    /* flush -> #3 queued; second attempt fails; the third is 1..2 s away (base 2 s). */
    int64_t next = tw_notify_tick(n, t + 5000);
    assert_int_equal(f.n, 3);
    assert_int_equal(next, t + 6000); /* the loop wakes at least every second */
    tw_notify_tick(n, t + 5999);
    assert_int_equal(f.n, 3);
    tw_notify_tick(n, t + 7000);
    assert_int_equal(f.n, 4);
    tw_notify_stats(n, &st);
    assert_int_equal(st.queue_length, 2);

    /* Restart during the outage. */
    tw_notify_free(n);
    fake_fini(&f);
    n = make(&cfg, &f, &rp);
    assert_int_equal(rp.pending, 2);
    assert_int_equal(rp.groups, 1);
    /* The rules engine re-sends the still-firing alert: not news for the restored log. */
    fire(n, "A", "2", t + 1500, t + 60000, t + 9000);
    f.status = 503;
    tw_notify_tick(n, t + 9000);
    assert_int_equal(f.n, 1);
    /* Backoff grows: the next attempt is at least 0.5 s and at most 1 s away (attempt 1). */
    next = tw_notify_tick(n, t + 9001);
    assert_int_equal(f.n, 1);
    assert_true(next >= t + 9000 + 500 && next <= t + 9000 + 1000);
    tw_notify_tick(n, next);
    assert_int_equal(f.n, 2);
    int64_t next2 = tw_notify_tick(n, next);
    assert_true(next2 >= next + 1000 && next2 <= next + 2000);

    /* The receiver is back: the queue drains oldest first, nothing twice. */
    f.status = 200;
    tw_notify_tick(n, t + 20000);
    assert_int_equal(f.n, 4);
    assert_string_equal(f.body[2], f.body[0]);
    assert_non_null(strstr(f.hdrs[2], "X-Tidewatch-Notification-Id: 2\n"));
    assert_non_null(strstr(f.hdrs[3], "X-Tidewatch-Notification-Id: 3\n"));
    assert_int_equal(strstr(f.body[2], "\"status\":\"resolved\"") != NULL, 0);
    assert_non_null(strstr(f.body[3], "\"status\":\"resolved\""));
    tw_notify_tick(n, t + 22000);
    tw_notify_tick(n, t + 24000);
    assert_int_equal(f.n, 4);
    tw_notify_stats(n, &st);
    assert_int_equal(st.queue_length, 0);
    assert_int_equal(st.sent, 2);
    tw_mset_t *ms = tw_mset_new();
    tw_notify_collect(n, ms);
    const tw_mfamily_t *fam = tw_mset_find(ms, "tidewatch_notifications_sent_total");
    assert_non_null(fam);
    assert_int_equal(fam->nsamples, 1);
    assert_true(fam->samples[0].value == 2.0);
    tw_mset_free(ms);
    tw_notify_free(n);
    fake_fini(&f);
}

static void test_permanent_error_drops(void **state)
{
    (void)state;
    tw_notify_webhook_config_t hc = hook_config();
    tw_notify_config_t cfg = {.webhooks = &hc, .n_webhooks = 1};
    fake_t f = {.status = 400};
    tw_notify_t *n = make(&cfg, &f, NULL);
    fire(n, "A", "1", 1000, 999999, 5000);
    tw_notify_tick(n, 5000);
    tw_notify_tick(n, 6000);
    assert_int_equal(f.n, 1);
    tw_notify_stats_t st;
    tw_notify_stats(n, &st);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.queue_length, 0);
    tw_notify_free(n);
    fake_fini(&f);
}

static void test_alertmanager_batches(void **state)
{
    (void)state;
    char *targets[] = {"127.0.0.1:9093", "127.0.0.2:9093"};
    tw_notify_am_config_t am = {.scheme = "http",
                                .path_prefix = "/am/",
                                .timeout_ms = 1000,
                                .targets = targets,
                                .n_targets = 2,
                                .sd_refresh_ms = 60000};
    tw_notify_config_t cfg = {.alertmanagers = &am, .n_alertmanagers = 1};
    fake_t f = {.status = 200};
    tw_notify_t *n = make(&cfg, &f, NULL);
    for (int i = 0; i < 70; i++) {
        char inst[16];
        snprintf(inst, sizeof(inst), "%d", i);
        fire(n, "A", inst, 1000, 2000, 1000);
    }
    tw_notify_tick(n, 1000);
    assert_int_equal(f.n, 4); /* 64 + 6, to each of two */
    assert_string_equal(f.url[0], "http://127.0.0.1:9093/am/api/v2/alerts");
    assert_string_equal(f.url[1], "http://127.0.0.2:9093/am/api/v2/alerts");
    int objs = 0;
    for (const char *p = strstr(f.body[0], "\"labels\""); p; p = strstr(p + 1, "\"labels\"")) {
        objs++;
    }
    assert_int_equal(objs, 64);
    assert_non_null(
        strstr(f.body[0], "{\"alertname\":\"A\",\"cluster\":\"c1\",\"instance\":\"0\"}"));
    assert_non_null(strstr(f.body[0], "\"endsAt\":\"1970-01-01T00:00:02.000Z\""));
    tw_notify_stats_t st;
    tw_notify_stats(n, &st);
    assert_int_equal(st.sent, 140);
    /* Every Alertmanager fails: the batch is dropped and counted, not retried. */
    f.status = 500;
    fire(n, "A", "x", 1000, 2000, 1000);
    tw_notify_tick(n, 1000);
    assert_int_equal(f.n, 6);
    tw_notify_tick(n, 2000);
    assert_int_equal(f.n, 6);
    tw_notify_stats(n, &st);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.errors, 2);
    tw_notify_free(n);
    fake_fini(&f);
}

static void test_alertmanager_queue_overflow(void **state)
{
    (void)state;
    char *targets[] = {"127.0.0.1:9093"};
    tw_notify_am_config_t am = {.targets = targets, .n_targets = 1, .timeout_ms = 1000};
    tw_notify_config_t cfg = {.alertmanagers = &am, .n_alertmanagers = 1};
    fake_t f = {.status = 200};
    static tw_notify_transport_t tr;
    tr.ctx = &f;
    tr.post = fake_post;
    tw_notify_options_t o = {.config = &cfg, .queue_capacity = 3, .transport = &tr};
    tw_notify_t *n = NULL;
    assert_int_equal(tw_notify_new(&o, &n, NULL, NULL), 0);
    for (int i = 0; i < 5; i++) {
        char inst[16];
        snprintf(inst, sizeof(inst), "%d", i);
        fire(n, "A", inst, 1000, 2000, 1000);
    }
    tw_notify_stats_t st;
    tw_notify_stats(n, &st);
    assert_int_equal(st.dropped, 2);
    assert_int_equal(st.queue_length, 3);
    tw_notify_tick(n, 1000);
    assert_int_equal(f.n, 1);
    assert_null(strstr(f.body[0], "\"instance\":\"1\""));
    assert_non_null(strstr(f.body[0], "\"instance\":\"2\""));
    assert_non_null(strstr(f.body[0], "\"instance\":\"4\""));
    tw_notify_free(n);
    fake_fini(&f);
}

static void test_backoff_bounds(void **state)
{
    (void)state;
    uint64_t rng = 1;
    for (int attempt = 1; attempt <= 12; attempt++) {
        int64_t base = 500;
        for (int i = 1; i < attempt; i++) {
            base = base * 2 > 10000 ? 10000 : base * 2;
        }
        int64_t lo = INT64_MAX, hi = 0;
        for (int k = 0; k < 2000; k++) {
            int64_t d = notify_backoff_ms(attempt, 500, 10000, &rng);
            assert_true(d >= base - base / 2 && d <= base);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        assert_true(hi - lo > base / 4); /* jitter is real */
    }
    assert_int_equal(notify_backoff_ms(1000, 500, 10000, &rng) <= 10000, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_webhook_outage_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permanent_error_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alertmanager_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alertmanager_queue_overflow, setup, teardown),
        cmocka_unit_test(test_backoff_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
