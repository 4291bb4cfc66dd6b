/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_common_kube_watch.c - libFuzzer target for the Kubernetes watch stream decoder: the first
 * byte picks the size of the pieces the rest is fed in (1..256 bytes, as a chunked response
 * arrives), with a 4 KiB line limit; every decoded object is also read as a Lease.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_event(void *ctx, tw_kube_event_t *ev)
{
    (void)ctx;
    char *s = json_dumps(ev->object, JSON_COMPACT);
    if (s != NULL) {
        tw_kube_lease_record_t r;
        (void)tw_kube_lease_parse(s, strlen(s), &r, NULL);
        free(s);
    }
    tw_kube_event_fini(ev);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t piece = (size_t)data[0] + 1;
    const char *p = (const char *)data + 1;
    size_t left = size - 1;
    tw_kube_watch_decoder_t d;
    tw_error_t err;
    tw_kube_watch_decoder_init(&d, 4096);
    while (left > 0) {
        size_t n = left < piece ? left : piece;
        if (tw_kube_watch_decoder_feed(&d, p, n, on_event, NULL, &err) != 0) {
            break;
        }
        p += n;
        left -= n;
    }
    tw_kube_watch_decoder_fini(&d);
    return 0;
}
