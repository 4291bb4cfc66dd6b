/* SPDX-License-Identifier: Apache-2.0 */
/*
 * remote_pbc.c - the reference for the remote_write wire parser: protobuf-c's generated
 * unpacker (from remote.proto) over a decoded WriteRequest, reduced to a summary (counts and a
 * digest of every kept value in wire order). The decoder no longer uses protobuf-c; the fuzz
 * target compares tw_remote_write_parse() with this on every input, so the hand-written parser
 * cannot drift from what the generated code accepts. Pure; reentrant.
 */
#include <protobuf-c/protobuf-c.h>
#include <string.h>

#include "remote.pb-c.h"
#include "remote_int.h"

int tw_remote_pbc_summarize(const uint8_t *raw, size_t len, tw_remote_wire_summary_t *out)
{
    memset(out, 0, sizeof(*out));
    Tw__Prompb__WriteRequest *wr = tw__prompb__write_request__unpack(NULL, len, raw);
    if (wr == NULL) {
        return TW_EPARSE;
    }
    uint64_t h = 0;
    out->nseries = wr->n_timeseries;
    /* Labels first, then samples, then metadata: the order the parser's summary uses. */
    for (size_t i = 0; i < wr->n_timeseries; i++) {
        const Tw__Prompb__TimeSeries *ts = wr->timeseries[i];
        out->nlabels += ts->n_labels;
        out->nsamples += ts->n_samples;
        out->nexemplars += ts->n_exemplars;
        out->nhistograms += ts->n_histograms;
        for (size_t k = 0; k < ts->n_labels; k++) {
            const Tw__Prompb__Label *l = ts->labels[k];
            h = tw_remote_digest(h, l->name.data, l->name.len);
            h = tw_remote_digest(h, "=", 1);
            h = tw_remote_digest(h, l->value.data, l->value.len);
        }
    }
    for (size_t i = 0; i < wr->n_timeseries; i++) {
        const Tw__Prompb__TimeSeries *ts = wr->timeseries[i];
        for (size_t k = 0; k < ts->n_samples; k++) {
            int64_t t = ts->samples[k]->timestamp;
            double v = ts->samples[k]->value;
            h = tw_remote_digest(h, &t, sizeof(t));
            h = tw_remote_digest(h, &v, sizeof(v));
        }
    }
    out->nmetadata = wr->n_metadata;
    for (size_t i = 0; i < wr->n_metadata; i++) {
        const Tw__Prompb__MetricMetadata *m = wr->metadata[i];
        /* Strings as the decoder exposes them: C strings, so cut at a NUL byte. */
        const ProtobufCBinaryData *f[3] = {&m->metric_family_name, &m->help, &m->unit};
        int t = (int)tw_remote_metric_type_from_wire((int)m->type);
        h = tw_remote_digest(h, &t, sizeof(t));
        for (int k = 0; k < 3; k++) {
            size_t n = f[k]->len != 0 ? strnlen((const char *)f[k]->data, f[k]->len) : 0;
            h = tw_remote_digest(h, n != 0 ? (const void *)f[k]->data : "", n);
        }
    }
    out->digest = h;
    tw__prompb__write_request__free_unpacked(wr, NULL);
    return 0;
}
