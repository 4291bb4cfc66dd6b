/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notify_driver.c - a stand-in for the rules engine in the notifier's integration tests
 * (compiled by the test scripts against libtw_notify.a and libtw_common.a). It reads the
 * `alerting:` section of a tidewatch.yml, starts the notifier with an outbox directory, and
 * plays a timeline of alert events, evaluating every second the way Prometheus' rules manager
 * sends: firing alerts with endsAt = now + 4 * max(resend_delay, interval), resolved alerts with
 * their resolution time. Every notification made durable is written to a journal.
 *
 * Usage: notify_driver CONFIG.yml OUTBOX_DIR JOURNAL DURATION_S EVENT...
 *   EVENT = SECONDS:fire|resolve:ALERTNAME:INSTANCE   (seconds after start)
 * Exits 0 after DURATION_S; the tests also kill it with SIGKILL to simulate a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerting/notify/notify.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/timeutil.h"

#define MAX_ALERTS 32
#define INTERVAL_MS 1000

typedef struct ev {
    int64_t at_ms;
    int fire;
    char name[64];
    char inst[64];
} ev_t;

typedef struct st {
    char name[64];
    char inst[64];
    char summary[160];
    int64_t started_ms;
    int64_t resolved_ms; /* 0 while firing */
} st_t;

static void on_queued(void *ctx, const char *receiver, uint64_t seq, const char *group_key,
                      const char *body, size_t len)
{
    FILE *j = ctx;
    (void)body;
    fprintf(j, "%s %llu %zu %s\n", receiver, (unsigned long long)seq, len, group_key);
    fflush(j);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s CONFIG OUTBOX JOURNAL DURATION_S EVENT...\n", argv[0]);
        return 2;
    }
    ev_t evs[64];
    int nev = 0;
    for (int i = 5; i < argc && nev < 64; i++) {
        char kind[16];
        double at;
        if (sscanf(argv[i], "%lf:%15[a-z]:%63[^:]:%63s", &at, kind, evs[nev].name, evs[nev].inst) !=
            4) {
            fprintf(stderr, "bad event %s\n", argv[i]);
            return 2;
        }
        evs[nev].at_ms = (int64_t)(at * 1000);
        evs[nev].fire = strcmp(kind, "fire") == 0;
        nev++;
    }
    tw_buf_t b;
    tw_buf_init(&b, 1 << 20);
    tw_error_t err;
    tw_yaml_doc_t *doc = NULL;
    if (tw_buf_read_file(&b, argv[1], &err) != 0 ||
        tw_yaml_doc_parse(b.data, b.len, argv[1], &doc, &err) != 0) {
        fprintf(stderr, "config: %s\n", err.msg);
        return 1;
    }
    const tw_yaml_node_t *root = tw_yaml_doc_root(doc), *alerting = NULL;
    for (size_t i = 0; root != NULL && i + 1 < root->n; i += 2) {
        if (strcmp(root->items[i]->value, "alerting") == 0) {
            alerting = root->items[i + 1];
        }
    }
    tw_notify_config_t cfg = {0};
    if (tw_notify_config_parse(alerting, argv[1], &cfg, &err) != 0) {
        char m[900];
        fprintf(stderr, "config: %s\n", tw_error_format(&err, m, sizeof(m)));
        return 1;
    }
    FILE *journal = fopen(argv[3], "a");
    if (journal == NULL) {
        perror(argv[3]);
        return 1;
    }
    tw_label_t ext[] = {{"cluster", "itest"}};
    tw_notify_options_t o = {
        .config = &cfg,
        .outbox_dir = argv[2],
        .external_url = "http://tidewatch.test:9475",
        .external_labels = ext,
        .n_external_labels = 1,
        .backoff_min_ms = 200,
        .backoff_max_ms = 2000,
        .user_agent = "tidewatch/itest",
        .on_queued = on_queued,
        .on_queued_ctx = journal,
    };
    tw_notify_t *n = NULL;
    tw_notify_replay_t rp;
    if (tw_notify_new(&o, &n, &rp, &err) != 0) {
        fprintf(stderr, "notify: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "driver: replayed pending=%zu skipped_bytes=%zu groups=%zu\n", rp.pending,
            rp.skipped_bytes, rp.groups);
    tw_notify_start(n);
    tw_alert_sink_t sink = tw_notify_sink(n);

    st_t alerts[MAX_ALERTS];
    int na = 0;
    int64_t t0 = tw_now_ms();
    int64_t duration_ms = (int64_t)(strtod(argv[4], NULL) * 1000);
    int done = 0;
    for (int64_t tick = 0; tick <= duration_ms; tick += INTERVAL_MS) {
        int64_t now = t0 + tick;
        int64_t wait = now - tw_now_ms();
        if (wait > 0) {
            usleep((useconds_t)(wait * 1000));
        }
        for (; done < nev && evs[done].at_ms <= tick; done++) {
            const ev_t *e = &evs[done];
            int k;
            for (k = 0; k < na; k++) {
                if (strcmp(alerts[k].name, e->name) == 0 && strcmp(alerts[k].inst, e->inst) == 0) {
                    break;
                }
            }
            if (k == na && na < MAX_ALERTS) {
                memset(&alerts[na], 0, sizeof(alerts[na]));
                snprintf(alerts[na].name, sizeof(alerts[na].name), "%s", e->name);
                snprintf(alerts[na].inst, sizeof(alerts[na].inst), "%s", e->inst);
                snprintf(alerts[na].summary, sizeof(alerts[na].summary), "%s on %s", e->name,
                         e->inst);
                na++;
            }
            if (e->fire) {
                alerts[k].started_ms = now;
                alerts[k].resolved_ms = 0;
            } else {
                alerts[k].resolved_ms = now;
            }
        }
        tw_alert_t batch[MAX_ALERTS];
        tw_label_t labels[MAX_ALERTS][3];
        tw_label_t ann[MAX_ALERTS][2];
        tw_buf_t gen;
        tw_buf_init(&gen, 0);
        tw_alert_generator_url(&gen, "http://tidewatch.test:9475", "up == 0");
        size_t nb = 0;
        for (int k = 0; k < na; k++) {
            if (alerts[k].started_ms == 0) {
                continue;
            }
            labels[nb][0] = (tw_label_t){"alertname", alerts[k].name};
            labels[nb][1] = (tw_label_t){"instance", alerts[k].inst};
            labels[nb][2] = (tw_label_t){"severity", "warning"};
            ann[nb][0] = (tw_label_t){"description", "driven by notify_driver"};
            ann[nb][1] = (tw_label_t){"summary", alerts[k].summary};
            batch[nb] = (tw_alert_t){labels[nb],
                                     3,
                                     ann[nb],
                                     2,
                                     alerts[k].started_ms,
                                     alerts[k].resolved_ms != 0
                                         ? alerts[k].resolved_ms
                                         : tw_alert_valid_until_ms(now, INTERVAL_MS, INTERVAL_MS),
                                     gen.data};
            nb++;
        }
        if (nb > 0) {
            sink.send(sink.ctx, batch, nb, now);
        }
        tw_buf_fini(&gen);
    }
    tw_notify_free(n);
    tw_notify_config_fini(&cfg);
    tw_yaml_doc_free(doc);
    tw_buf_fini(&b);
    fclose(journal);
    return 0;
}
