/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metric_set.c - metric families and samples of one collection (see metric_set.h).
 *
 * Families live in a growable array of pointers (creation order); each family's sample array
 * grows with realloc and is freed on reset, while every string and label array sits in the
 * arena. One writer while filling, then shared read-only.
 */
#include "metric_set.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

struct tw_mset {
    tw_arena_t *arena;
    tw_mfamily_t **families;
    size_t nfamilies;
    size_t cap;
    size_t nsamples;
};

const char *tw_metric_type_name(tw_metric_type_t t)
{
    switch (t) {
    case TW_MTYPE_COUNTER:
        return "counter";
    case TW_MTYPE_GAUGE:
        return "gauge";
    case TW_MTYPE_HISTOGRAM:
        return "histogram";
    case TW_MTYPE_SUMMARY:
        return "summary";
    case TW_MTYPE_INFO:
        return "info";
    case TW_MTYPE_STATESET:
        return "stateset";
    case TW_MTYPE_GAUGE_HISTOGRAM:
        return "gaugehistogram";
    case TW_MTYPE_UNTYPED:
    default:
        return "untyped";
    }
}

tw_mset_t *tw_mset_new(void)
{
    tw_mset_t *s = tw_xcalloc(1, sizeof(*s));
    s->arena = tw_arena_new(64 * 1024);
    return s;
}

static void free_families(tw_mset_t *s)
{
    for (size_t i = 0; i < s->nfamilies; i++) {
        free(s->families[i]->samples);
        free(s->families[i]);
    }
    s->nfamilies = 0;
    s->nsamples = 0;
}

void tw_mset_free(tw_mset_t *s)
{
    if (s == NULL) {
        return;
    }
    free_families(s);
    free(s->families);
    tw_arena_free(s->arena);
    free(s);
}

void tw_mset_reset(tw_mset_t *s)
{
    free_families(s);
    tw_arena_reset(s->arena);
}

tw_arena_t *tw_mset_arena(tw_mset_t *s)
{
    return s->arena;
}

const tw_mfamily_t *tw_mset_find(const tw_mset_t *s, const char *name)
{
    for (size_t i = 0; i < s->nfamilies; i++) {
        if (strcmp(s->families[i]->name, name) == 0) {
            return s->families[i];
        }
    }
    return NULL;
}

tw_mfamily_t *tw_mset_family(tw_mset_t *s, const char *name, tw_metric_type_t type,
                             const char *help, const char *unit)
{
    const tw_mfamily_t *found = tw_mset_find(s, name);
    if (found != NULL) {
        return (tw_mfamily_t *)found;
    }
    tw_mfamily_t *f = tw_xcalloc(1, sizeof(*f));
    f->name = tw_arena_strdup(s->arena, name);
    f->help = tw_arena_strdup(s->arena, help != NULL ? help : "");
    f->unit = tw_arena_strdup(s->arena, unit != NULL ? unit : "");
    f->type = type;
    tw_grow((void **)&s->families, &s->cap, s->nfamilies + 1, sizeof(*s->families));
    s->families[s->nfamilies++] = f;
    return f;
}

void tw_mset_add_borrowed(tw_mset_t *s, tw_mfamily_t *f, const char *suffix,
                          const tw_label_t *labels, size_t nlabels, double value, int64_t ts_ms)
{
    tw_grow((void **)&f->samples, &f->cap, f->nsamples + 1, sizeof(*f->samples));
    tw_msample_t *m = &f->samples[f->nsamples++];
    m->suffix = suffix != NULL ? suffix : "";
    m->labels = labels;
    m->nlabels = nlabels;
    m->value = value;
    m->ts_ms = ts_ms;
    s->nsamples++;
}

void tw_mset_add(tw_mset_t *s, tw_mfamily_t *f, const char *suffix, const tw_label_t *labels,
                 size_t nlabels, double value, int64_t ts_ms)
{
    tw_label_t *copy = NULL;
    if (nlabels > 0) {
        copy = tw_arena_alloc(s->arena, nlabels * sizeof(*copy));
        for (size_t i = 0; i < nlabels; i++) {
            copy[i].name = tw_arena_strdup(s->arena, labels[i].name);
            copy[i].value = tw_arena_strdup(s->arena, labels[i].value);
        }
    }
    const char *sfx = "";
    if (suffix != NULL && *suffix != '\0') {
        sfx = tw_arena_strdup(s->arena, suffix);
    }
    tw_mset_add_borrowed(s, f, sfx, copy, nlabels, value, ts_ms);
}

size_t tw_mset_family_count(const tw_mset_t *s)
{
    return s->nfamilies;
}

const tw_mfamily_t *tw_mset_family_at(const tw_mset_t *s, size_t i)
{
    return i < s->nfamilies ? s->families[i] : NULL;
}

size_t tw_mset_sample_count(const tw_mset_t *s)
{
    return s->nsamples;
}
