/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_model.c - the recommender's model (recommender/model/aggregate_container_state.go,
 * container.go): per-container aggregates of CPU usage and memory peaks, the per-interval
 * memory peak bookkeeping of one running container, OOM bumps, expiry, confidence and the
 * checkpoint conversion.
 *
 * How the memory peaks work. Memory is not sampled into the histogram directly: each container
 * keeps one peak per aggregation interval (24 h by default), stamped at the interval's end.
 * A higher sample within the interval replaces the peak (subtract the old value, add the new,
 * weight 1.0); a sample at or after the interval's end opens a new interval, shifted by whole
 * intervals. An OOM adds a bumped value (max(used + 100 MiB, used * 1.2), used = max(request,
 * usage peak)) the same way, tracked as a separate oomPeak so repeated OOMs do not compound.
 *
 * Pure: no I/O, no clock, no logging. Thread model: an aggregate and its container states belong
 * to one thread.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/vpa/vpa.h"
#include "common/mem.h"

__extension__ typedef __int128 i128;

struct tw_vpa_aggregate {
    tw_vpa_model_config_t cfg;
    tw_vpa_hist_t *cpu;    /* decaying, cores */
    tw_vpa_hist_t *memory; /* decaying, bytes: one peak per container and interval */
    int64_t first_sample_ms;
    int64_t last_sample_ms;
    int64_t total_samples;
    int64_t creation_ms;
    tw_vpa_trace_fn trace;
    void *trace_ctx;
};

void tw_vpa_model_config_init(tw_vpa_model_config_t *cfg)
{
    *cfg = (tw_vpa_model_config_t){
        .cpu_half_life_ms = TW_VPA_DEFAULT_HALF_LIFE_MS,
        .memory_half_life_ms = TW_VPA_DEFAULT_HALF_LIFE_MS,
        .memory_interval_ms = TW_VPA_DEFAULT_MEMORY_INTERVAL_MS,
        .memory_interval_count = TW_VPA_DEFAULT_MEMORY_INTERVAL_COUNT,
        .oom_bump_up_ratio = TW_VPA_DEFAULT_OOM_BUMP_UP_RATIO,
        .oom_min_bump_up_bytes = TW_VPA_DEFAULT_OOM_MIN_BUMP_UP_BYTES,
    };
}

tw_vpa_aggregate_t *tw_vpa_aggregate_new(const tw_vpa_model_config_t *cfg, int64_t creation_ms)
{
    tw_vpa_model_config_t def;
    tw_vpa_model_config_init(&def);
    tw_vpa_aggregate_t *a = tw_xcalloc(1, sizeof(*a));
    a->cfg = cfg != NULL ? *cfg : def;
    if (a->cfg.cpu_half_life_ms <= 0) {
        a->cfg.cpu_half_life_ms = def.cpu_half_life_ms;
    }
    if (a->cfg.memory_half_life_ms <= 0) {
        a->cfg.memory_half_life_ms = def.memory_half_life_ms;
    }
    if (a->cfg.memory_interval_ms <= 0) {
        a->cfg.memory_interval_ms = def.memory_interval_ms;
    }
    if (a->cfg.memory_interval_count <= 0) {
        a->cfg.memory_interval_count = def.memory_interval_count;
    }
    if (!(a->cfg.oom_bump_up_ratio >= 0) || !isfinite(a->cfg.oom_bump_up_ratio)) {
        a->cfg.oom_bump_up_ratio = def.oom_bump_up_ratio;
    }
    if (a->cfg.oom_min_bump_up_bytes < 0) {
        a->cfg.oom_min_bump_up_bytes = def.oom_min_bump_up_bytes;
    }
    tw_vpa_hist_options_t o;
    tw_vpa_hist_options_cpu(&o);
    a->cpu = tw_vpa_hist_new_decaying(&o, a->cfg.cpu_half_life_ms);
    tw_vpa_hist_options_memory(&o);
    a->memory = tw_vpa_hist_new_decaying(&o, a->cfg.memory_half_life_ms);
    a->first_sample_ms = TW_VPA_TIME_ZERO_MS;
    a->last_sample_ms = TW_VPA_TIME_ZERO_MS;
    a->creation_ms = creation_ms;
    return a;
}

void tw_vpa_aggregate_free(tw_vpa_aggregate_t *a)
{
    if (a == NULL) {
        return;
    }
    tw_vpa_hist_free(a->cpu);
    tw_vpa_hist_free(a->memory);
    free(a);
}

void tw_vpa_aggregate_set_trace(tw_vpa_aggregate_t *a, tw_vpa_trace_fn fn, void *ctx)
{
    a->trace = fn;
    a->trace_ctx = ctx;
}

const tw_vpa_model_config_t *tw_vpa_aggregate_config(const tw_vpa_aggregate_t *a)
{
    return &a->cfg;
}

void tw_vpa_aggregate_add_cpu(tw_vpa_aggregate_t *a, int64_t usage_milli, int64_t t_ms)
{
    if (usage_milli < 0) {
        return;
    }
    double cores = (double)usage_milli / 1000.0;
    if (a->trace != NULL) {
        a->trace(a->trace_ctx, TW_VPA_CPU, false, cores, TW_VPA_MIN_SAMPLE_WEIGHT, t_ms);
    }
    tw_vpa_hist_add(a->cpu, cores, TW_VPA_MIN_SAMPLE_WEIGHT, t_ms);
    if (t_ms > a->last_sample_ms) {
        a->last_sample_ms = t_ms;
    }
    if (a->first_sample_ms == TW_VPA_TIME_ZERO_MS || t_ms < a->first_sample_ms) {
        a->first_sample_ms = t_ms;
    }
    a->total_samples++;
}

void tw_vpa_aggregate_add_memory_peak(tw_vpa_aggregate_t *a, int64_t bytes, int64_t t_ms)
{
    if (a->trace != NULL) {
        a->trace(a->trace_ctx, TW_VPA_MEMORY, false, (double)bytes, 1.0, t_ms);
    }
    tw_vpa_hist_add(a->memory, (double)bytes, 1.0, t_ms);
}

void tw_vpa_aggregate_subtract_memory_peak(tw_vpa_aggregate_t *a, int64_t bytes, int64_t t_ms)
{
    if (a->trace != NULL) {
        a->trace(a->trace_ctx, TW_VPA_MEMORY, true, (double)bytes, 1.0, t_ms);
    }
    tw_vpa_hist_subtract(a->memory, (double)bytes, 1.0, t_ms);
}

int tw_vpa_aggregate_merge(tw_vpa_aggregate_t *a, tw_vpa_aggregate_t *o, tw_error_t *err)
{
    int rc = tw_vpa_hist_merge(a->cpu, o->cpu, err);
    if (rc == 0) {
        rc = tw_vpa_hist_merge(a->memory, o->memory, err);
    }
    if (rc != 0) {
        return rc;
    }
    if (a->first_sample_ms == TW_VPA_TIME_ZERO_MS ||
        (o->first_sample_ms != TW_VPA_TIME_ZERO_MS && o->first_sample_ms < a->first_sample_ms)) {
        a->first_sample_ms = o->first_sample_ms;
    }
    if (o->last_sample_ms > a->last_sample_ms) {
        a->last_sample_ms = o->last_sample_ms;
    }
    a->total_samples += o->total_samples;
    return 0;
}

const tw_vpa_hist_t *tw_vpa_aggregate_cpu(const tw_vpa_aggregate_t *a)
{
    return a->cpu;
}

const tw_vpa_hist_t *tw_vpa_aggregate_memory(const tw_vpa_aggregate_t *a)
{
    return a->memory;
}

int64_t tw_vpa_aggregate_first_sample_ms(const tw_vpa_aggregate_t *a)
{
    return a->first_sample_ms;
}

int64_t tw_vpa_aggregate_last_sample_ms(const tw_vpa_aggregate_t *a)
{
    return a->last_sample_ms;
}

int64_t tw_vpa_aggregate_samples(const tw_vpa_aggregate_t *a)
{
    return a->total_samples;
}

bool tw_vpa_aggregate_is_expired(const tw_vpa_aggregate_t *a, int64_t now_ms)
{
    i128 window = (i128)a->cfg.memory_interval_ms * a->cfg.memory_interval_count;
    int64_t since = a->total_samples == 0 ? a->creation_ms : a->last_sample_ms;
    return (i128)now_ms - since >= window;
}

double tw_vpa_aggregate_confidence(const tw_vpa_aggregate_t *a, int64_t interval_ms)
{
    if (a == NULL || interval_ms <= 0) {
        return 0.0;
    }
    /* time.Duration arithmetic in Go is in ns; the ratio is the same in ms. */
    double lifespan =
        ((double)a->last_sample_ms - (double)a->first_sample_ms) / (double)interval_ms;
    double samples = (double)a->total_samples / ((double)interval_ms / 60000.0);
    return fmin(lifespan, samples);
}

void tw_vpa_aggregate_checkpoint_fini(tw_vpa_aggregate_checkpoint_t *cp)
{
    tw_vpa_hist_checkpoint_fini(&cp->cpu);
    tw_vpa_hist_checkpoint_fini(&cp->memory);
    memset(cp, 0, sizeof(*cp));
}

void tw_vpa_aggregate_save(const tw_vpa_aggregate_t *a, tw_vpa_aggregate_checkpoint_t *cp)
{
    memset(cp, 0, sizeof(*cp));
    tw_strlcpy(cp->version, TW_VPA_CHECKPOINT_VERSION, sizeof(cp->version));
    cp->first_sample_ms = a->first_sample_ms;
    cp->last_sample_ms = a->last_sample_ms;
    cp->total_samples = a->total_samples;
    tw_vpa_hist_save(a->memory, &cp->memory);
    tw_vpa_hist_save(a->cpu, &cp->cpu);
}

int tw_vpa_aggregate_load(tw_vpa_aggregate_t *a, const tw_vpa_aggregate_checkpoint_t *cp,
                          tw_error_t *err)
{
    if (strcmp(cp->version, TW_VPA_CHECKPOINT_VERSION) != 0) {
        return tw_error_set(err, TW_EINVAL, "unsupported checkpoint version %s", cp->version);
    }
    a->total_samples = cp->total_samples;
    a->first_sample_ms = cp->first_sample_ms;
    a->last_sample_ms = cp->last_sample_ms;
    int rc = tw_vpa_hist_load(a->memory, &cp->memory, err);
    if (rc == 0) {
        rc = tw_vpa_hist_load(a->cpu, &cp->cpu, err);
    }
    return rc;
}

/* ---- one running container ----------------------------------------------------------------- */

void tw_vpa_container_init(tw_vpa_container_t *c, tw_vpa_aggregate_t *agg)
{
    *c = (tw_vpa_container_t){.agg = agg,
                              .last_cpu_sample_ms = TW_VPA_TIME_ZERO_MS,
                              .last_memory_sample_ms = TW_VPA_TIME_ZERO_MS,
                              .window_end_ms = TW_VPA_TIME_ZERO_MS};
}

bool tw_vpa_container_add_cpu(tw_vpa_container_t *c, int64_t usage_milli, int64_t t_ms)
{
    if (usage_milli < 0 || t_ms <= c->last_cpu_sample_ms) {
        return false; /* invalid, duplicate or out of order */
    }
    tw_vpa_aggregate_add_cpu(c->agg, usage_milli, t_ms);
    c->last_cpu_sample_ms = t_ms;
    return true;
}

static bool add_memory(tw_vpa_container_t *c, int64_t usage, int64_t t_ms, bool oom)
{
    if (usage < 0 || (!oom && t_ms < c->last_memory_sample_ms)) {
        return false;
    }
    int64_t interval = c->agg->cfg.memory_interval_ms;
    c->last_memory_sample_ms = t_ms;
    if (c->window_end_ms == TW_VPA_TIME_ZERO_MS) {
        c->window_end_ms = t_ms; /* the first sample opens the first interval below */
    }
    bool add_peak = false;
    if (t_ms < c->window_end_ms) {
        int64_t old_max = c->memory_peak > c->oom_peak ? c->memory_peak : c->oom_peak;
        if (old_max != 0 && usage > old_max) {
            tw_vpa_aggregate_subtract_memory_peak(c->agg, old_max, c->window_end_ms);
            add_peak = true;
        }
    } else {
        /* Duration.Truncate(interval) + interval: whole intervals past the old end. */
        int64_t past = t_ms - c->window_end_ms;
        c->window_end_ms += past - past % interval + interval;
        c->memory_peak = 0;
        c->oom_peak = 0;
        add_peak = true;
    }
    if (add_peak) {
        tw_vpa_aggregate_add_memory_peak(c->agg, usage, c->window_end_ms);
        if (oom) {
            c->oom_peak = usage;
        } else {
            c->memory_peak = usage;
        }
    }
    return true;
}

bool tw_vpa_container_add_memory(tw_vpa_container_t *c, int64_t usage_bytes, int64_t t_ms)
{
    return add_memory(c, usage_bytes, t_ms, false);
}

int tw_vpa_container_record_oom(tw_vpa_container_t *c, int64_t t_ms, int64_t requested_bytes,
                                tw_error_t *err)
{
    const tw_vpa_model_config_t *cfg = &c->agg->cfg;
    /* kubernetes/autoscaler#8548: one interval before the last memory sample, not the window. */
    if (((i128)t_ms) < ((i128)c->last_memory_sample_ms) - cfg->memory_interval_ms) {
        return tw_error_set(err, TW_EINVAL, "OOM event will be discarded - it is too old (%lld ms)",
                            (long long)t_ms);
    }
    /* The usage peak only, never oomPeak: repeated OOMs must not run away. */
    int64_t used = requested_bytes > c->memory_peak ? requested_bytes : c->memory_peak;
    int64_t bumped = used > TW_VPA_MAX_RESOURCE_AMOUNT - cfg->oom_min_bump_up_bytes
                         ? TW_VPA_MAX_RESOURCE_AMOUNT
                         : used + cfg->oom_min_bump_up_bytes;
    int64_t scaled = tw_vpa_amount_scale(used, cfg->oom_bump_up_ratio);
    int64_t needed = bumped > scaled ? bumped : scaled;
    if (!add_memory(c, needed, t_ms, true)) {
        return tw_error_set(err, TW_EINVAL, "adding OOM sample failed");
    }
    return 0;
}
