/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procfs_test_util.h - lookups shared by the procfs unit tests: find one sample of a family by
 * its label values and fail the test when it is not there exactly once.
 */
#ifndef TW_TESTS_PROCFS_TEST_UTIL_H
#define TW_TESTS_PROCFS_TEST_UTIL_H

#include <stdio.h>
#include <string.h>

#include "common/metric_set.h"

/* Whether s has every (name, value) pair of want (NULL-terminated name/value list). */
static inline int sample_matches(const tw_msample_t *s, const char *const *want)
{
    for (size_t i = 0; want != NULL && want[i] != NULL; i += 2) {
        const char *v = tw_labels_get(s->labels, s->nlabels, want[i]);
        if (v == NULL || strcmp(v, want[i + 1]) != 0) {
            return 0;
        }
    }
    return 1;
}

/* Number of samples of family name matching want (0 when the family is absent). */
static inline size_t count_samples(const tw_mset_t *set, const char *name, const char *const *want)
{
    const tw_mfamily_t *f = tw_mset_find(set, name);
    size_t n = 0;
    for (size_t i = 0; f != NULL && i < f->nsamples; i++) {
        n += (size_t)sample_matches(&f->samples[i], want);
    }
    return n;
}

/* The value of the one sample of name matching want; fails the test otherwise. */
#define VALUE(set, name, ...) sample_value((set), (name), (const char *const[]){__VA_ARGS__, NULL})
#define VALUE0(set, name) sample_value((set), (name), NULL)

static inline double sample_value(const tw_mset_t *set, const char *name, const char *const *want)
{
    const tw_mfamily_t *f = tw_mset_find(set, name);
    if (f == NULL) {
        fprintf(stderr, "family %s missing\n", name);
        fail();
    }
    const tw_msample_t *found = NULL;
    for (size_t i = 0; i < f->nsamples; i++) {
        if (sample_matches(&f->samples[i], want)) {
            if (found != NULL) {
                fprintf(stderr, "family %s: more than one sample matches\n", name);
                fail();
            }
            found = &f->samples[i];
        }
    }
    if (found == NULL) {
        fprintf(stderr, "family %s: no sample matches\n", name);
        fail();
    }
    return found->value;
}

#endif
