/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alerting_api.h - GET /api/v1/rules and GET /api/v1/alerts, served from the rules loop in
 * the shapes Prometheus serves them (web/api/v1/api.go): 2.42's with query.compat
 * prometheus2, 3.5's otherwise (the group `limit`, alerts' `keepFiringSince`, and the
 * rule_name[] / rule_group[] / file[] / exclude_alerts filters of /api/v1/rules).
 *
 * Thread model: handlers run on the HTTP threads; set_compat from any thread.
 */
#ifndef TW_DAEMON_ALERTING_API_H
#define TW_DAEMON_ALERTING_API_H

#include "common/buf.h"
#include "common/http_server.h"
#include "rules_loop.h"

typedef struct tw_alerting_api tw_alerting_api_t;

/* Creates the handlers' state over l (borrowed: must outlive every server using the API). */
tw_alerting_api_t *tw_alerting_api_new(tw_rules_loop_t *l);

/* Sets the response shape: a tw_promql_compat_t value (the daemon's query.compat). */
void tw_alerting_api_set_compat(tw_alerting_api_t *a, int compat);

/* Registers the two GET routes on srv. Returns 0 or a negative code. */
int tw_alerting_api_register(tw_http_server_t *srv, tw_alerting_api_t *a);

/*
 * The `data` of /api/v1/rules (type: "", "alert" or "record") or /api/v1/alerts (rules false),
 * appended to out without filters, for tests. Returns 0 or TW_ELIMIT.
 */
int tw_alerting_api_json(tw_alerting_api_t *a, bool rules, const char *type, tw_buf_t *out);

/* Frees. NULL is a no-op. */
void tw_alerting_api_free(tw_alerting_api_t *a);

/*
 * Appends v as Go's strconv.FormatFloat(v, 'e', -1, 64) writes it (an alert's "value":
 * "1e+00", "2.5e-01", "NaN", "+Inf").
 */
int tw_alerting_api_format_value(tw_buf_t *out, double v);

#endif
