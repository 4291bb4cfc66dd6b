/* SPDX-License-Identifier: Apache-2.0 */
/*
 * query_source.c - the one shared piece of the query-source contract: freeing an answer.
 */
#include <string.h>

#include "query_source.h"

void tw_qs_result_free(tw_qs_result_t *r)
{
    if (r == NULL) {
        return;
    }
    if (r->release != NULL) {
        r->release(r->priv);
    }
    memset(r, 0, sizeof(*r));
}
