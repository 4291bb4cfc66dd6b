/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alert_sink.h - the alert-sink contract: how the rules engine hands alerts to whatever
 * delivers them (the notifier in alerting/notify) without knowing what that is.
 *
 * The alert is Prometheus' notifier.Alert: labels, annotations, startsAt, endsAt and the
 * generator URL. The rules engine calls send() after each group evaluation, exactly where
 * Prometheus' rules manager calls its NotifyFunc (rules/manager.go SendAlerts), with the alerts
 * that need sending at that moment: firing alerts not sent for resend_delay, and alerts resolved
 * since they were last sent (tw_alert_needs_sending()). The helpers below compute the fields the
 * way Prometheus 2.42 does, so a rules engine only has to call them:
 *
 *   endsAt  = resolvedAt for a resolved alert, otherwise validUntil =
 *             now + 4 * max(resend_delay, evaluation interval)   (tw_alert_valid_until_ms())
 *   generatorURL = externalURL + "/graph?g0.expr=" + QueryEscape(expr) + "&g0.tab=1"
 *
 * Only daemon/ knows which implementation sits behind a sink. Pure helpers, thread-safe.
 */
#ifndef TW_COMMON_ALERT_SINK_H
#define TW_COMMON_ALERT_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "labels.h"

/* One alert as Prometheus' notifier.Alert holds it. Every pointer is borrowed for the call. */
typedef struct tw_alert {
    const tw_label_t *labels; /* sorted by name, unique names, alertname included */
    size_t n_labels;
    const tw_label_t *annotations; /* sorted by name */
    size_t n_annotations;
    int64_t starts_at_ms;      /* ms since epoch; 0: unset (Go's zero time) */
    int64_t ends_at_ms;        /* ms since epoch; 0: unset */
    const char *generator_url; /* NULL or "" for none */
} tw_alert_t;

typedef struct tw_alert_sink {
    void *ctx;
    /*
     * Queues alerts[0..n) for delivery; now_ms is the evaluation time (ms since epoch). The
     * sink copies what it keeps: the alerts are borrowed for the call only. Returns 0, or a
     * negative TW_E* code when the sink refuses the batch (it is then counted as dropped by
     * the sink). Must be cheap and must not block on the network: delivery happens on the
     * sink's own thread. Thread-safe.
     */
    int (*send)(void *ctx, const tw_alert_t *alerts, size_t n, int64_t now_ms);
} tw_alert_sink_t;

/*
 * Prometheus' Alert.needsSending: whether an active (not pending) alert must be sent at now_ms.
 * last_sent_ms and resolved_at_ms are 0 when unset. A resolved alert is sent once more when it
 * was resolved after its last send; a firing one when more than resend_delay_ms have passed
 * since its last send.
 */
bool tw_alert_needs_sending(bool pending, int64_t last_sent_ms, int64_t resolved_at_ms,
                            int64_t now_ms, int64_t resend_delay_ms);

/*
 * Prometheus' ValidUntil for a firing alert sent at now_ms: now + 4 * max(resend_delay,
 * interval), which allows two evaluation or send failures before Alertmanager resolves it.
 */
int64_t tw_alert_valid_until_ms(int64_t now_ms, int64_t resend_delay_ms, int64_t interval_ms);

/*
 * Appends Prometheus' generator URL for expr to out: external_url (may be "") +
 * "/graph?g0.expr=" + Go's url.QueryEscape(expr) + "&g0.tab=1". Returns 0 or TW_ELIMIT.
 */
int tw_alert_generator_url(tw_buf_t *out, const char *external_url, const char *expr);

#endif
