/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_api.c - GET /api/v1/recommendations (see vpa_api.h).
 */
#include "vpa_api.h"

#include "common/buf.h"
#include "vpa_loop.h"

int tw_vpa_api_recommendations(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    tw_vpa_loop_t *l = ctx;
    (void)req;
    resp->status = 200;
    resp->content_type = "application/json";
    tw_buf_puts(&resp->body, "{\"status\":\"success\",\"data\":");
    if (tw_vpa_loop_recommendations_json(l, &resp->body) != 0 ||
        tw_buf_putc(&resp->body, '}') != 0) {
        tw_buf_reset(&resp->body);
        resp->status = 500;
        tw_buf_puts(&resp->body, "{\"status\":\"error\",\"errorType\":\"internal\",\"error\":"
                                 "\"the recommendations do not fit the response\"}");
    }
    return 0;
}
