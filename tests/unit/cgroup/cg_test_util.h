/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cg_test_util.h - helpers for the cgroup collector's unit tests: find one sample in a metric
 * set by family and label values, and render a sample's label set as one string so tests can
 * assert exact label sets. Header-only, test code only.
 */
#ifndef TW_TEST_CG_TEST_UTIL_H
#define TW_TEST_CG_TEST_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/metric_set.h"

/*
 * Returns the sample of family whose labels include every (name, value) pair given (a
 * NULL-terminated list of name, value strings), or NULL. Fails the test when more than one
 * sample matches.
 */
static inline const tw_msample_t *cg_find(const tw_mset_t *s, const char *family, ...)
{
    const tw_mfamily_t *f = tw_mset_find(s, family);
    if (f == NULL) {
        return NULL;
    }
    const tw_msample_t *hit = NULL;
    for (size_t i = 0; i < f->nsamples; i++) {
        const tw_msample_t *m = &f->samples[i];
        va_list ap;
        va_start(ap, family);
        int ok = 1;
        for (;;) {
            const char *n = va_arg(ap, const char *);
            if (n == NULL) {
                break;
            }
            const char *v = va_arg(ap, const char *);
            const char *got = tw_labels_get(m->labels, m->nlabels, n);
            if (got == NULL || strcmp(got, v) != 0) {
                ok = 0;
            }
        }
        va_end(ap);
        if (ok) {
            if (hit != NULL) {
                fprintf(stderr, "cg_find: %s matches more than one sample\n", family);
                return NULL;
            }
            hit = m;
        }
    }
    return hit;
}

/* Renders labels as "a=1,b=2" (in the sample's order) into buf. */
static inline const char *cg_labels(const tw_msample_t *m, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < m->nlabels && o < cap; i++) {
        o += (size_t)snprintf(buf + o, cap - o, "%s%s=%s", i > 0 ? "," : "", m->labels[i].name,
                              m->labels[i].value);
    }
    return buf;
}

#endif
