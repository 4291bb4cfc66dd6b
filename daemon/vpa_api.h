/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_api.h - GET /api/v1/recommendations: the vertical autoscaler's recommendations per VPA
 * and container, in the Prometheus API envelope ({"status":"success","data":{...}}; the data
 * is tw_vpa_loop_recommendations_json()'s, docs/autoscaling-vpa.md "Running it").
 *
 * Thread model: called from the HTTP server's threads; the loop's status lock keeps it safe.
 */
#ifndef TW_DAEMON_VPA_API_H
#define TW_DAEMON_VPA_API_H

#include "common/http_server.h"

/*
 * The route's handler: ctx is the tw_vpa_loop_t (borrowed; it must outlive the server). Register
 * with tw_http_server_route(srv, "GET", "/api/v1/recommendations", tw_vpa_api_recommendations,
 * loop). Answers 200 with the JSON, or 500 with an error envelope when it does not fit.
 */
int tw_vpa_api_recommendations(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp);

#endif
