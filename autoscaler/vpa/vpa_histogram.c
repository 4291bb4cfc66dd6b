/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_histogram.c - the VPA recommender's histograms (recommender/util/histogram.go,
 * decaying_histogram.go, histogram_options.go): bucket layouts, add/subtract, percentile,
 * merge, decay with renormalisation, and the checkpoint scaling.
 *
 * How it works. A histogram is an array of bucket weights plus the total weight and the range
 * [min_bucket, max_bucket] of buckets heavier than epsilon; percentile walks that range only, so
 * weight that decayed below epsilon stops counting for percentiles but stays in the total (as
 * upstream). A percentile returns the END of the bucket where the running sum reaches p*total,
 * so recommendations round up to a bucket boundary (at most +5% with the VPA's 1.05 ratio).
 *
 * A decaying histogram stores each sample at weight w * 2^((t - ref)/halfLife): newer samples
 * weigh exponentially more, which equals decaying old ones without touching them. To keep the
 * factors finite, a sample more than 100 half-lives past ref moves ref to t rounded to a
 * half-life multiple counted from Go's zero time (time.Round: halves round up) and multiplies
 * every stored weight by 2^round((oldRef - newRef)/halfLife). The first sample always does this
 * because ref starts at Go's zero time.
 *
 * Pure: no I/O, no clock, no logging. Thread model: a histogram belongs to one thread.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/vpa/vpa.h"
#include "common/mem.h"

__extension__ typedef __int128 i128;

/* maxDecayExponent: renormalise when a sample is this many half-lives past the reference. */
#define MAX_DECAY_EXPONENT 100

struct tw_vpa_hist {
    tw_vpa_hist_options_t opt;
    double *weight; /* opt.num_buckets entries */
    double total;
    int min_bucket; /* first bucket >= epsilon; num_buckets-1 when empty */
    int max_bucket; /* last bucket >= epsilon; 0 when empty */
    bool decaying;
    int64_t half_life_ms; /* decaying only, > 0 */
    int64_t ref_ms;       /* decaying only: reference time */
};

const char *tw_vpa_resource_name(tw_vpa_resource_t r)
{
    return r == TW_VPA_CPU ? "cpu" : "memory";
}

int64_t tw_vpa_amount_from_float(double x)
{
    if (!(x >= 0)) {
        return 0;
    }
    if (x > (double)TW_VPA_MAX_RESOURCE_AMOUNT) {
        return TW_VPA_MAX_RESOURCE_AMOUNT;
    }
    return (int64_t)x;
}

int64_t tw_vpa_amount_scale(int64_t amount, double factor)
{
    return tw_vpa_amount_from_float((double)amount * factor);
}

/* ---- options ------------------------------------------------------------------------------- */

static bool positive(double x)
{
    return isfinite(x) && x > 0;
}

int tw_vpa_hist_options_linear(tw_vpa_hist_options_t *o, double max_value, double bucket_size,
                               double epsilon, tw_error_t *err)
{
    if (!positive(max_value) || !positive(bucket_size) || !positive(epsilon)) {
        return tw_error_set(err, TW_EINVAL,
                            "linear histogram: max_value, bucket_size and epsilon must be "
                            "positive and finite");
    }
    double n = ceil(max_value / bucket_size) + 1;
    if (!(n <= TW_VPA_HIST_MAX_BUCKETS)) {
        return tw_error_set(err, TW_EINVAL, "linear histogram: %g buckets exceed the limit %d", n,
                            TW_VPA_HIST_MAX_BUCKETS);
    }
    *o = (tw_vpa_hist_options_t){.kind = TW_VPA_HIST_LINEAR,
                                 .max_value = max_value,
                                 .bucket_size = bucket_size,
                                 .ratio = 0,
                                 .epsilon = epsilon,
                                 .num_buckets = (int)n};
    return 0;
}

int tw_vpa_hist_options_exponential(tw_vpa_hist_options_t *o, double max_value,
                                    double first_bucket_size, double ratio, double epsilon,
                                    tw_error_t *err)
{
    if (!positive(max_value) || !positive(first_bucket_size) || !positive(epsilon) ||
        !isfinite(ratio) || !(ratio > 1)) {
        return tw_error_set(err, TW_EINVAL,
                            "exponential histogram: max_value, first_bucket_size and epsilon "
                            "must be positive and finite, ratio > 1");
    }
    double n = ceil(log(max_value * (ratio - 1) / first_bucket_size + 1) / log(ratio)) + 1;
    if (!(n <= TW_VPA_HIST_MAX_BUCKETS)) {
        return tw_error_set(err, TW_EINVAL, "exponential histogram: %g buckets exceed the limit %d",
                            n, TW_VPA_HIST_MAX_BUCKETS);
    }
    *o = (tw_vpa_hist_options_t){.kind = TW_VPA_HIST_EXPONENTIAL,
                                 .max_value = max_value,
                                 .bucket_size = first_bucket_size,
                                 .ratio = ratio,
                                 .epsilon = epsilon,
                                 .num_buckets = (int)n};
    return 0;
}

void tw_vpa_hist_options_cpu(tw_vpa_hist_options_t *o)
{
    /* Valid constants: cannot fail. */
    (void)tw_vpa_hist_options_exponential(o, 1000.0, 0.01, 1.05, 0.001 * TW_VPA_MIN_SAMPLE_WEIGHT,
                                          NULL);
}

void tw_vpa_hist_options_memory(tw_vpa_hist_options_t *o)
{
    (void)tw_vpa_hist_options_exponential(o, 1e12, 1e7, 1.05, 0.001 * TW_VPA_MIN_SAMPLE_WEIGHT,
                                          NULL);
}

/* int(x) of Go for a finite double, saturating instead of undefined behaviour. */
static int64_t go_int(double x)
{
    if (!(x == x)) {
        return 0;
    }
    if (x >= 9.2e18) {
        return INT64_MAX;
    }
    if (x <= -9.2e18) {
        return INT64_MIN;
    }
    return (int64_t)x;
}

int tw_vpa_hist_options_find_bucket(const tw_vpa_hist_options_t *o, double value)
{
    int64_t b;
    if (o->kind == TW_VPA_HIST_LINEAR) {
        b = go_int(value / o->bucket_size);
        if (b < 0) {
            return 0;
        }
    } else {
        if (!(value >= o->bucket_size)) {
            return 0;
        }
        b = go_int(log(value * (o->ratio - 1) / o->bucket_size + 1) / log(o->ratio));
    }
    if (b >= o->num_buckets) {
        return o->num_buckets - 1;
    }
    return b < 0 ? 0 : (int)b;
}

double tw_vpa_hist_options_bucket_start(const tw_vpa_hist_options_t *o, int bucket)
{
    if (o->kind == TW_VPA_HIST_LINEAR) {
        return (double)bucket * o->bucket_size;
    }
    if (bucket == 0) {
        return 0.0;
    }
    return o->bucket_size * (pow(o->ratio, (double)bucket) - 1) / (o->ratio - 1);
}

/* ---- plain histogram ----------------------------------------------------------------------- */

tw_vpa_hist_t *tw_vpa_hist_new(const tw_vpa_hist_options_t *o)
{
    tw_vpa_hist_t *h = tw_xcalloc(1, sizeof(*h));
    h->opt = *o;
    if (h->opt.num_buckets < 1) {
        h->opt.num_buckets = 1;
    }
    h->weight = tw_xcalloc((size_t)h->opt.num_buckets, sizeof(double));
    h->min_bucket = h->opt.num_buckets - 1;
    h->max_bucket = 0;
    h->ref_ms = TW_VPA_TIME_ZERO_MS;
    return h;
}

tw_vpa_hist_t *tw_vpa_hist_new_decaying(const tw_vpa_hist_options_t *o, int64_t half_life_ms)
{
    tw_vpa_hist_t *h = tw_vpa_hist_new(o);
    h->decaying = true;
    h->half_life_ms = half_life_ms > 0 ? half_life_ms : TW_VPA_DEFAULT_HALF_LIFE_MS;
    return h;
}

tw_vpa_hist_t *tw_vpa_hist_clone(const tw_vpa_hist_t *src)
{
    tw_vpa_hist_t *h = tw_xmalloc(sizeof(*h));
    *h = *src;
    h->weight = tw_xmalloc((size_t)src->opt.num_buckets * sizeof(double));
    memcpy(h->weight, src->weight, (size_t)src->opt.num_buckets * sizeof(double));
    return h;
}

void tw_vpa_hist_free(tw_vpa_hist_t *h)
{
    if (h == NULL) {
        return;
    }
    free(h->weight);
    free(h);
}

static void update_min_max(tw_vpa_hist_t *h)
{
    int last = h->opt.num_buckets - 1;
    double eps = h->opt.epsilon;
    while (h->weight[h->min_bucket] < eps && h->min_bucket < last) {
        h->min_bucket++;
    }
    while (h->weight[h->max_bucket] < eps && h->max_bucket > 0) {
        h->max_bucket--;
    }
}

static void plain_add(tw_vpa_hist_t *h, double value, double weight)
{
    if (!(weight >= 0)) {
        return; /* upstream panics; a caller bug must not crash the daemon */
    }
    int b = tw_vpa_hist_options_find_bucket(&h->opt, value);
    h->weight[b] += weight;
    h->total += weight;
    if (b < h->min_bucket && h->weight[b] >= h->opt.epsilon) {
        h->min_bucket = b;
    }
    if (b > h->max_bucket && h->weight[b] >= h->opt.epsilon) {
        h->max_bucket = b;
    }
}

static void plain_subtract(tw_vpa_hist_t *h, double value, double weight)
{
    if (!(weight >= 0)) {
        return;
    }
    int b = tw_vpa_hist_options_find_bucket(&h->opt, value);
    double eps = h->opt.epsilon;
    h->weight[b] -= weight;
    h->total -= weight;
    if (h->weight[b] < eps) {
        h->weight[b] = 0;
    }
    if (h->total < eps) {
        h->total = 0;
    }
    update_min_max(h);
}

static void plain_scale(tw_vpa_hist_t *h, double factor)
{
    if (!(factor >= 0)) {
        return;
    }
    for (int b = h->min_bucket; b <= h->max_bucket; b++) {
        h->weight[b] *= factor;
    }
    h->total *= factor;
    update_min_max(h);
}

/* ---- decay --------------------------------------------------------------------------------- */

/* time.Round(halfLife) of Go: to the nearest multiple counted from Go's zero time, halves up. */
static int64_t round_to_half_life(int64_t t_ms, int64_t hl_ms)
{
    i128 since = (i128)t_ms - TW_VPA_TIME_ZERO_MS;
    i128 r = since % hl_ms;
    if (r < 0) {
        r += hl_ms;
    }
    i128 out = r + r < hl_ms ? (i128)t_ms - r : (i128)t_ms + (hl_ms - r);
    if (out > INT64_MAX) {
        return INT64_MAX - (INT64_MAX % hl_ms);
    }
    return (int64_t)out;
}

static void shift_reference(tw_vpa_hist_t *h, int64_t new_ref_ms)
{
    new_ref_ms = round_to_half_life(new_ref_ms, h->half_life_ms);
    double exponent = round(((double)h->ref_ms - (double)new_ref_ms) / (double)h->half_life_ms);
    /* Ldexp(1, e) underflows to 0 for very negative e, as in Go. */
    if (exponent < -2000) {
        exponent = -2000;
    } else if (exponent > 2000) {
        exponent = 2000;
    }
    plain_scale(h, ldexp(1.0, (int)exponent));
    h->ref_ms = new_ref_ms;
}

static double decay_factor(tw_vpa_hist_t *h, int64_t t_ms)
{
    i128 max_allowed = (i128)h->ref_ms + (i128)h->half_life_ms * MAX_DECAY_EXPONENT;
    if ((i128)t_ms > max_allowed) {
        shift_reference(h, t_ms);
    }
    return exp2(((double)t_ms - (double)h->ref_ms) / (double)h->half_life_ms);
}

void tw_vpa_hist_add(tw_vpa_hist_t *h, double value, double weight, int64_t t_ms)
{
    if (h->decaying) {
        weight *= decay_factor(h, t_ms);
    }
    plain_add(h, value, weight);
}

void tw_vpa_hist_subtract(tw_vpa_hist_t *h, double value, double weight, int64_t t_ms)
{
    if (h->decaying) {
        weight *= decay_factor(h, t_ms);
    }
    plain_subtract(h, value, weight);
}

static bool same_options(const tw_vpa_hist_options_t *a, const tw_vpa_hist_options_t *b)
{
    return a->kind == b->kind && a->max_value == b->max_value && a->bucket_size == b->bucket_size &&
           a->ratio == b->ratio && a->epsilon == b->epsilon && a->num_buckets == b->num_buckets;
}

int tw_vpa_hist_merge(tw_vpa_hist_t *h, tw_vpa_hist_t *o, tw_error_t *err)
{
    if (!same_options(&h->opt, &o->opt)) {
        return tw_error_set(err, TW_EINVAL, "can't merge histograms with different options");
    }
    if (h->decaying != o->decaying || (h->decaying && h->half_life_ms != o->half_life_ms)) {
        return tw_error_set(err, TW_EINVAL,
                            "can't merge decaying histograms with different half life periods");
    }
    if (h->decaying) {
        if (h->ref_ms < o->ref_ms) {
            shift_reference(h, o->ref_ms);
        } else if (o->ref_ms < h->ref_ms) {
            shift_reference(o, h->ref_ms);
        }
    }
    for (int b = o->min_bucket; b <= o->max_bucket; b++) {
        h->weight[b] += o->weight[b];
    }
    h->total += o->total;
    if (o->min_bucket < h->min_bucket) {
        h->min_bucket = o->min_bucket;
    }
    if (o->max_bucket > h->max_bucket) {
        h->max_bucket = o->max_bucket;
    }
    return 0;
}

/* ---- queries ------------------------------------------------------------------------------- */

bool tw_vpa_hist_is_empty(const tw_vpa_hist_t *h)
{
    return h->weight[h->min_bucket] < h->opt.epsilon;
}

double tw_vpa_hist_percentile(const tw_vpa_hist_t *h, double p)
{
    if (tw_vpa_hist_is_empty(h)) {
        return 0.0;
    }
    double partial = 0.0, threshold = p * h->total;
    int b = h->min_bucket;
    for (; b < h->max_bucket; b++) {
        partial += h->weight[b];
        if (partial >= threshold) {
            break;
        }
    }
    if (b < h->opt.num_buckets - 1) {
        return tw_vpa_hist_options_bucket_start(&h->opt, b + 1);
    }
    return tw_vpa_hist_options_bucket_start(&h->opt, b);
}

bool tw_vpa_hist_equals(const tw_vpa_hist_t *a, const tw_vpa_hist_t *b)
{
    if (!same_options(&a->opt, &b->opt) || a->decaying != b->decaying) {
        return false;
    }
    if (a->decaying && (a->half_life_ms != b->half_life_ms || a->ref_ms != b->ref_ms)) {
        return false;
    }
    if (a->min_bucket != b->min_bucket || a->max_bucket != b->max_bucket) {
        return false;
    }
    for (int i = a->min_bucket; i <= a->max_bucket; i++) {
        double d = a->weight[i] - b->weight[i];
        if (d > 1e-15 || d < -1e-15) {
            return false;
        }
    }
    return true;
}

double tw_vpa_hist_total_weight(const tw_vpa_hist_t *h)
{
    return h->total;
}

double tw_vpa_hist_bucket_weight(const tw_vpa_hist_t *h, int bucket)
{
    if (bucket < 0 || bucket >= h->opt.num_buckets) {
        return 0.0;
    }
    return h->weight[bucket];
}

int64_t tw_vpa_hist_reference_ms(const tw_vpa_hist_t *h)
{
    return h->decaying ? h->ref_ms : TW_VPA_TIME_ZERO_MS;
}

const tw_vpa_hist_options_t *tw_vpa_hist_options(const tw_vpa_hist_t *h)
{
    return &h->opt;
}

/* ---- checkpoints --------------------------------------------------------------------------- */

void tw_vpa_hist_checkpoint_fini(tw_vpa_hist_checkpoint_t *cp)
{
    free(cp->buckets);
    memset(cp, 0, sizeof(*cp));
}

void tw_vpa_hist_save(const tw_vpa_hist_t *h, tw_vpa_hist_checkpoint_t *cp)
{
    memset(cp, 0, sizeof(*cp));
    cp->total_weight = h->total;
    cp->reference_ms = tw_vpa_hist_reference_ms(h);
    double max = 0.0;
    for (int b = h->min_bucket; b <= h->max_bucket; b++) {
        if (h->weight[b] > max) {
            max = h->weight[b];
        }
    }
    if (!(max > 0)) {
        return;
    }
    double ratio = (double)TW_VPA_CHECKPOINT_MAX_WEIGHT / max;
    size_t cap = (size_t)(h->max_bucket - h->min_bucket + 1);
    cp->buckets = tw_xcalloc(cap, sizeof(*cp->buckets));
    for (int b = h->min_bucket; b <= h->max_bucket; b++) {
        /* uint32(math.Round(w*ratio)): weights are >= 0, so floor(x+0.5) is Go's Round. */
        double x = floor(h->weight[b] * ratio + 0.5);
        uint32_t w = x >= 4294967295.0 ? UINT32_MAX : x > 0 ? (uint32_t)x : 0;
        if (w > 0) {
            cp->buckets[cp->n_buckets++] = (tw_vpa_hist_bucket_t){.index = b, .weight = w};
        }
    }
}

int tw_vpa_hist_load(tw_vpa_hist_t *h, const tw_vpa_hist_checkpoint_t *cp, tw_error_t *err)
{
    if (cp == NULL) {
        return tw_error_set(err, TW_EINVAL, "cannot load from empty checkpoint");
    }
    if (!(cp->total_weight >= 0) || !isfinite(cp->total_weight)) {
        return tw_error_set(err, TW_EINVAL, "cannot load checkpoint with negative weight %g",
                            cp->total_weight);
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < cp->n_buckets; i++) {
        int64_t b = cp->buckets[i].index;
        if (b >= h->opt.num_buckets) {
            return tw_error_set(err, TW_EINVAL,
                                "checkpoint has bucket %lld that is exceeding histogram buckets %d",
                                (long long)b, h->opt.num_buckets);
        }
        if (b < 0) {
            return tw_error_set(err, TW_EINVAL, "checkpoint has a negative bucket %lld",
                                (long long)b);
        }
        sum += cp->buckets[i].weight;
    }
    if (h->decaying) {
        h->ref_ms = cp->reference_ms; /* taken verbatim, even from an all-zero checkpoint */
    }
    if (sum == 0) {
        return 0;
    }
    double ratio = cp->total_weight / (double)sum;
    for (size_t i = 0; i < cp->n_buckets; i++) {
        int b = (int)cp->buckets[i].index;
        if (b < h->min_bucket) {
            h->min_bucket = b;
        }
        if (b > h->max_bucket) {
            h->max_bucket = b;
        }
        h->weight[b] += (double)cp->buckets[i].weight * ratio;
    }
    h->total += cp->total_weight;
    /* kubernetes/autoscaler#7726: skip buckets that loaded below epsilon. */
    update_min_max(h);
    return 0;
}
