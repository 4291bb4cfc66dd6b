/* SPDX-License-Identifier: Apache-2.0 */
/* alert_sink.c - the pure helpers of the alert-sink contract (see alert_sink.h). */
#include "alert_sink.h"

#include <string.h>

bool tw_alert_needs_sending(bool pending, int64_t last_sent_ms, int64_t resolved_at_ms,
                            int64_t now_ms, int64_t resend_delay_ms)
{
    if (pending) {
        return false;
    }
    /* Resolved since the last send: send the resolution. */
    if (resolved_at_ms > last_sent_ms) {
        return true;
    }
    /* Go's LastSentAt.Add(resendDelay).Before(ts): strictly before. */
    return last_sent_ms + resend_delay_ms < now_ms;
}

int64_t tw_alert_valid_until_ms(int64_t now_ms, int64_t resend_delay_ms, int64_t interval_ms)
{
    int64_t delta = interval_ms > resend_delay_ms ? interval_ms : resend_delay_ms;
    return now_ms + 4 * delta;
}

/* Go's url.QueryEscape: unreserved bytes stay, space becomes '+', the rest %XX (upper case). */
static int query_escape(tw_buf_t *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        unsigned char c = *p;
        int rc;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            rc = tw_buf_putc(out, (char)c);
        } else if (c == ' ') {
            rc = tw_buf_putc(out, '+');
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = tw_buf_append(out, e, sizeof(e));
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int tw_alert_generator_url(tw_buf_t *out, const char *external_url, const char *expr)
{
    int rc = tw_buf_puts(out, external_url != NULL ? external_url : "");
    if (rc == 0) {
        rc = tw_buf_puts(out, "/graph?g0.expr=");
    }
    if (rc == 0) {
        rc = query_escape(out, expr);
    }
    if (rc == 0) {
        rc = tw_buf_puts(out, "&g0.tab=1");
    }
    return rc;
}
