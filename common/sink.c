/* SPDX-License-Identifier: Apache-2.0 */
/* sink.c - appending a metric set through a sample sink (see sink.h). */
#include "sink.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mem.h"

int tw_sink_append_mset(const tw_sink_t *sink, const tw_mset_t *set, int64_t default_ts_ms,
                        size_t *rejected, tw_error_t *err)
{
    if (rejected != NULL) {
        *rejected = 0;
    }
    void *txn = NULL;
    int rc = sink->begin(sink->ctx, &txn);
    if (rc != 0) {
        return tw_error_set(err, rc, "sink: cannot begin a transaction: %s", tw_strerror(rc));
    }
    tw_label_t *lbl = NULL;
    size_t lcap = 0;
    tw_buf_t name;
    tw_buf_init(&name, 0);
    for (size_t i = 0; i < tw_mset_family_count(set); i++) {
        const tw_mfamily_t *f = tw_mset_family_at(set, i);
        for (size_t j = 0; j < f->nsamples; j++) {
            const tw_msample_t *m = &f->samples[j];
            tw_buf_reset(&name);
            tw_buf_puts(&name, f->name);
            tw_buf_puts(&name, m->suffix);
            tw_grow((void **)&lbl, &lcap, m->nlabels + 1, sizeof(*lbl));
            lbl[0].name = TW_METRIC_NAME_LABEL;
            lbl[0].value = name.data;
            /* An empty value is the same as no label (Prometheus drops them on ingestion). */
            size_t nl = 1;
            for (size_t k = 0; k < m->nlabels; k++) {
                if (m->labels[k].value[0] != '\0') {
                    lbl[nl++] = m->labels[k];
                }
            }
            tw_labels_sort(lbl, nl);
            int64_t t = m->ts_ms == TW_NO_TIMESTAMP ? default_ts_ms : m->ts_ms;
            rc = sink->append(txn, lbl, nl, t, m->value, err);
            if (rc == TW_EOUTOFORDER || rc == TW_EDUPLICATE || rc == TW_ETOOOLD) {
                if (rejected != NULL) {
                    (*rejected)++;
                }
                tw_error_clear(err);
                rc = 0;
                continue;
            }
            if (rc != 0) {
                goto out;
            }
        }
    }
    rc = sink->commit(txn, err);
    txn = NULL;
out:
    if (txn != NULL) {
        sink->rollback(txn);
    }
    free(lbl);
    tw_buf_fini(&name);
    return rc;
}
