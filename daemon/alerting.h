/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alerting.h - the daemon's alerting: the rules loop (rules_loop.h), the notifier
 * (alerting/notify) with its outbox in <storage path>/notify, and the /api/v1/rules and
 * /api/v1/alerts routes (alerting_api.h), wired and reconfigured together so daemon.c only
 * calls these few functions.
 *
 * Configure (start and every reload): the rule files are loaded first; a bad file fails the
 * call and the running rules and notifier stay as they were. Otherwise the notifier is
 * replaced when `alerting:`, the external labels or the external URL changed (the old one is
 * stopped first: its pending notifications stay in the outbox and the new one replays them),
 * and the groups are replaced (state kept by file and group name).
 *
 * Thread model: new/configure/start/free on the main thread; register, collect_metrics from
 * any thread.
 */
#ifndef TW_DAEMON_ALERTING_H
#define TW_DAEMON_ALERTING_H

#include "common/error.h"
#include "common/http_server.h"
#include "common/metric_set.h"
#include "common/sink.h"
#include "config.h"

struct tw_tsdb;

typedef struct tw_alerting tw_alerting_t;

/*
 * Creates the alerting of a daemon whose TSDB is db (queried, borrowed) and whose samples go
 * through sink (copied; its ctx borrowed). outbox_dir is where webhook outboxes live (copied).
 */
tw_alerting_t *tw_alerting_new(struct tw_tsdb *db, const tw_sink_t *sink, const char *outbox_dir);

/* Applies c (see above; c is not kept). On error err says why, with the file and position. */
int tw_alerting_configure(tw_alerting_t *a, const tw_config_t *c, tw_error_t *err);

/* Starts the rule-evaluation thread and the notifier's. */
int tw_alerting_start(tw_alerting_t *a, tw_error_t *err);

/* Registers GET /api/v1/rules and /api/v1/alerts on srv. Returns 0 or a negative code. */
int tw_alerting_register(tw_http_server_t *srv, tw_alerting_t *a);

/* Adds the rule and notification self-metrics to out. NULL a is a no-op. */
void tw_alerting_collect_metrics(tw_alerting_t *a, tw_mset_t *out);

/* Stops the rules loop, then the notifier (pending notifications stay on disk), and frees. */
void tw_alerting_free(tw_alerting_t *a);

#endif
