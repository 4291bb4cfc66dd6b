/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_notify_outbox.c - libFuzzer target for the notifier's on-disk readers: the outbox record
 * scanner (as replay runs it over outbox.log) and the notification-log decoder. Every record
 * the scanner reports must lie inside the input, decode again to the same size and carry
 * key and payload inside it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alerting/notify/notify_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct ctx {
    const uint8_t *data;
    size_t size;
    size_t last_end;
} ctx_t;

static void on_rec(void *arg, size_t off, size_t sz, const notify_outbox_rec_t *r)
{
    ctx_t *c = arg;
    if (off < c->last_end || off + sz > c->size || sz < NOTIFY_OUTBOX_HDR) {
        abort();
    }
    const char *lo = (const char *)c->data + off, *hi = lo + sz;
    if (r->key < lo || r->key + r->key_len > hi || r->payload < lo ||
        r->payload + r->payload_len > hi) {
        abort();
    }
    notify_outbox_rec_t again;
    if (notify_outbox_decode(c->data + off, c->size - off, &again) != sz || again.seq != r->seq) {
        abort();
    }
    c->last_end = off + sz;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ctx_t c = {data, size, 0};
    size_t bad = 0, end = 0;
    notify_outbox_scan(data, size, on_rec, &c, &bad, &end);
    if (end != c.last_end || bad > size) {
        abort();
    }
    static const char *const gb[] = {"alertname"};
    tw_notify_webhook_config_t cfg = {.name = "f",
                                      .url = "http://x/",
                                      .group_by = (char **)gb,
                                      .n_group_by = 1,
                                      .group_interval_ms = 1000,
                                      .repeat_interval_ms = 1000};
    notify_dispatch_t *d = notify_dispatch_new(&cfg, "");
    size_t entries = 0;
    notify_dispatch_nflog_decode(d, data, size, &entries);
    notify_dispatch_free(d);
    return 0;
}
