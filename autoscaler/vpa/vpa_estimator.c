/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_estimator.c - the recommender's estimator chain (recommender/logic/estimator.go,
 * recommender.go): percentile of the aggregate's histogram, safety margin, confidence
 * multiplier, minimum, and the per-pod recommendation that splits the pod minimums evenly over
 * the VPA's containers and keeps only the controlled resources.
 *
 * Arithmetic mirrors upstream exactly: amounts are int64 millicores/bytes, every scaling goes
 * through ResourceAmount (truncate, clamp to [0, 1e14]); the margin is base + trunc(base *
 * fraction), not trunc(base * (1 + fraction)), which differs for many inputs.
 *
 * Pure: no I/O, no clock, no logging. Thread model: none needed; everything is borrowed.
 */
#include <math.h>

#include "autoscaler/vpa/vpa.h"

void tw_vpa_recommender_config_init(tw_vpa_recommender_config_t *cfg)
{
    *cfg = (tw_vpa_recommender_config_t){
        .target_cpu_percentile = 0.9,
        .lower_cpu_percentile = 0.5,
        .upper_cpu_percentile = 0.95,
        .target_memory_percentile = 0.9,
        .lower_memory_percentile = 0.5,
        .upper_memory_percentile = 0.95,
        .margin_fraction = 0.15,
        .confidence_interval_cpu_ms = TW_VPA_DEFAULT_CONFIDENCE_INTERVAL_MS,
        .confidence_interval_memory_ms = TW_VPA_DEFAULT_CONFIDENCE_INTERVAL_MS,
        .pod_min_cpu_millicores = 25,
        .pod_min_memory_mb = 250,
    };
}

static void push(tw_vpa_chain_t *c, tw_vpa_stage_t s)
{
    if (c->n < TW_VPA_CHAIN_MAX) {
        c->stages[c->n++] = s;
    }
}

void tw_vpa_estimators_init(tw_vpa_estimators_t *est, const tw_vpa_recommender_config_t *cfg)
{
    const double pct[TW_VPA_NBOUNDS][TW_VPA_NRES] = {
        {cfg->target_cpu_percentile, cfg->target_memory_percentile},
        {cfg->lower_cpu_percentile, cfg->lower_memory_percentile},
        {cfg->upper_cpu_percentile, cfg->upper_memory_percentile},
    };
    const int64_t interval[TW_VPA_NRES] = {cfg->confidence_interval_cpu_ms,
                                           cfg->confidence_interval_memory_ms};
    *est = (tw_vpa_estimators_t){.pod_min_cpu_millicores = cfg->pod_min_cpu_millicores,
                                 .pod_min_memory_mb = cfg->pod_min_memory_mb};
    for (int b = 0; b < TW_VPA_NBOUNDS; b++) {
        for (int r = 0; r < TW_VPA_NRES; r++) {
            tw_vpa_chain_t *c = &est->chain[b][r];
            push(c, (tw_vpa_stage_t){.kind = TW_VPA_STAGE_PERCENTILE, .value = pct[b][r]});
            push(c, (tw_vpa_stage_t){.kind = TW_VPA_STAGE_MARGIN, .value = cfg->margin_fraction});
            if (b == TW_VPA_UPPER) {
                /* (1 + 1/confidence)^1: less eager to shrink pods with a short history. */
                push(c, (tw_vpa_stage_t){.kind = TW_VPA_STAGE_CONFIDENCE,
                                         .value = 1.0,
                                         .exponent = 1.0,
                                         .interval_ms = interval[r]});
            } else if (b == TW_VPA_LOWER) {
                push(c, (tw_vpa_stage_t){.kind = TW_VPA_STAGE_CONFIDENCE,
                                         .value = 0.001,
                                         .exponent = -2.0,
                                         .interval_ms = interval[r]});
            }
        }
    }
}

int64_t tw_vpa_chain_estimate(const tw_vpa_chain_t *chain, tw_vpa_resource_t r,
                              const tw_vpa_aggregate_t *agg)
{
    const tw_vpa_hist_t *h = NULL;
    if (agg != NULL) {
        h = r == TW_VPA_CPU ? tw_vpa_aggregate_cpu(agg) : tw_vpa_aggregate_memory(agg);
    }
    return tw_vpa_chain_estimate_hist(chain, r, h, agg);
}

int64_t tw_vpa_chain_estimate_hist(const tw_vpa_chain_t *chain, tw_vpa_resource_t r,
                                   const tw_vpa_hist_t *hist, const tw_vpa_aggregate_t *agg)
{
    if (chain == NULL || chain->n == 0 || chain->n > TW_VPA_CHAIN_MAX) {
        return -1;
    }
    int64_t x = 0;
    for (size_t i = 0; i < chain->n; i++) {
        const tw_vpa_stage_t *s = &chain->stages[i];
        switch (s->kind) {
        case TW_VPA_STAGE_PERCENTILE:
            if (i != 0) {
                return -1;
            }
            if (hist == NULL) {
                x = 0;
            } else if (r == TW_VPA_CPU) {
                /* CPUAmountFromCores */
                x = tw_vpa_amount_from_float(tw_vpa_hist_percentile(hist, s->value) * 1000.0);
            } else {
                x = tw_vpa_amount_from_float(tw_vpa_hist_percentile(hist, s->value));
            }
            break;
        case TW_VPA_STAGE_CONST:
            if (i != 0) {
                return -1;
            }
            x = s->amount;
            break;
        case TW_VPA_STAGE_MARGIN: {
            int64_t margin = tw_vpa_amount_scale(x, s->value);
            x = x > INT64_MAX - margin ? INT64_MAX : x + margin;
            break;
        }
        case TW_VPA_STAGE_CONFIDENCE: {
            double conf = tw_vpa_aggregate_confidence(agg, s->interval_ms);
            /* conf 0 gives +Inf: the upper bound saturates, the lower bound becomes 0. */
            x = tw_vpa_amount_scale(x, pow(1.0 + s->value / conf, s->exponent));
            break;
        }
        case TW_VPA_STAGE_MIN:
            if (x < s->amount) {
                x = s->amount;
            }
            break;
        default:
            return -1;
        }
    }
    return x;
}

void tw_vpa_recommend_pod(const tw_vpa_estimators_t *est, const tw_vpa_pod_container_t *containers,
                          size_t n, tw_vpa_estimate_t *out)
{
    size_t counted = 0;
    for (size_t i = 0; i < n; i++) {
        counted += containers[i].mode_off ? 0 : 1;
    }
    int64_t min[TW_VPA_NRES] = {0, 0};
    if (counted > 0) {
        double fraction = 1.0 / (double)counted;
        min[TW_VPA_CPU] = tw_vpa_amount_scale(
            tw_vpa_amount_from_float(est->pod_min_cpu_millicores * 0.001 * 1000.0), fraction);
        min[TW_VPA_MEMORY] = tw_vpa_amount_scale(
            tw_vpa_amount_from_float(est->pod_min_memory_mb * 1024 * 1024), fraction);
    }
    for (size_t i = 0; i < n; i++) {
        const tw_vpa_pod_container_t *c = &containers[i];
        tw_vpa_estimate_t *e = &out[i];
        *e = (tw_vpa_estimate_t){.present = !c->mode_off};
        if (c->mode_off) {
            continue;
        }
        for (int b = 0; b < TW_VPA_NBOUNDS; b++) {
            for (int r = 0; r < TW_VPA_NRES; r++) {
                if (!c->controls[r]) {
                    continue;
                }
                int64_t v = tw_vpa_chain_estimate(&est->chain[b][r], (tw_vpa_resource_t)r, c->agg);
                if (v < 0) {
                    continue;
                }
                e->bound[b].has[r] = true;
                e->bound[b].v[r] = v > min[r] ? v : min[r];
            }
        }
    }
}
