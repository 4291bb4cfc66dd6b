/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procfs_stat.c - /proc/stat: per-CPU time (node_exporter's cpu collector) and the kernel
 * counters of its stat collector (boot time, context switches, forks, interrupts, running and
 * blocked processes).
 *
 * The CPU counters pass through node_exporter's backwards-jump guard (tw_procfs_cpu_merge), whose
 * state the collector keeps between collections. Pure: no I/O; thread-safe on distinct outputs.
 */
#include "procfs_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

static const char *const cpu_modes[8] = {"user",   "nice", "system",  "idle",
                                         "iowait", "irq",  "softirq", "steal"};

void tw_procfs_stat_fini(tw_procfs_stat_t *st)
{
    if (st == NULL) {
        return;
    }
    free(st->cpus);
    st->cpus = NULL;
    st->ncpus = 0;
    st->cap = 0;
}

static bool starts_with(const char *s, size_t n, const char *prefix)
{
    size_t m = strlen(prefix);
    return n == m && memcmp(s, prefix, m) == 0;
}

/* Parses "cpuN v..." into a new entry of st; false when the line is malformed. */
static bool parse_cpu_line(tw_procfs_stat_t *st, const char **f, const size_t *fl, size_t nf)
{
    uint64_t id;
    if (!tw_procfs_parse_u64(f[0] + 3, fl[0] - 3, &id) || id > TW_PROCFS_MAX_CPU) {
        return false;
    }
    /* The kernel prints CPUs in increasing order; anything else is garbage (and would make
     * duplicate series). */
    if (st->ncpus > 0 && st->cpus[st->ncpus - 1].id >= id) {
        return false;
    }
    size_t nvals = nf - 1;
    if (nvals < 4) {
        return false; /* user nice system idle have been there since Linux 2.4 */
    }
    if (nvals > TW_PROCFS_CPU_NFIELDS) {
        nvals = TW_PROCFS_CPU_NFIELDS; /* fields a future kernel adds are not ours */
    }
    tw_procfs_cpu_t cpu;
    memset(&cpu, 0, sizeof(cpu));
    cpu.id = (uint32_t)id;
    for (size_t i = 0; i < nvals; i++) {
        if (!tw_procfs_parse_u64(f[i + 1], fl[i + 1], &cpu.ticks[i])) {
            return false;
        }
    }
    tw_grow((void **)&st->cpus, &st->cap, st->ncpus + 1, sizeof(*st->cpus));
    st->cpus[st->ncpus++] = cpu;
    return true;
}

int tw_procfs_stat_parse(const char *buf, size_t len, tw_procfs_stat_t *st, tw_error_t *err)
{
    tw_error_clear(err);
    st->ncpus = 0;
    st->have = 0;
    st->intr = st->ctxt = st->btime = st->processes = st->procs_running = st->procs_blocked = 0;

    static const struct {
        const char *key;
        unsigned bit;
        size_t off;
    } singles[] = {
        {"intr", TW_PROCFS_HAVE_INTR, offsetof(tw_procfs_stat_t, intr)},
        {"ctxt", TW_PROCFS_HAVE_CTXT, offsetof(tw_procfs_stat_t, ctxt)},
        {"btime", TW_PROCFS_HAVE_BTIME, offsetof(tw_procfs_stat_t, btime)},
        {"processes", TW_PROCFS_HAVE_PROCESSES, offsetof(tw_procfs_stat_t, processes)},
        {"procs_running", TW_PROCFS_HAVE_RUNNING, offsetof(tw_procfs_stat_t, procs_running)},
        {"procs_blocked", TW_PROCFS_HAVE_BLOCKED, offsetof(tw_procfs_stat_t, procs_blocked)},
    };

    int rc = 0;
    size_t pos = 0;
    const char *line;
    size_t ll;
    int lineno = 0;
    while (tw_procfs_next_line(buf, len, &pos, &line, &ll)) {
        lineno++;
        const char *f[TW_PROCFS_CPU_NFIELDS + 1];
        size_t fl[TW_PROCFS_CPU_NFIELDS + 1];
        size_t nf = tw_procfs_fields(line, ll, f, fl, TW_PROCFS_CPU_NFIELDS + 1);
        if (nf == 0) {
            continue;
        }
        size_t stored = nf < TW_PROCFS_CPU_NFIELDS + 1 ? nf : TW_PROCFS_CPU_NFIELDS + 1;
        if (fl[0] > 3 && memcmp(f[0], "cpu", 3) == 0) {
            if (!parse_cpu_line(st, f, fl, stored)) {
                rc = tw_procfs_bad_line(err, lineno, "bad cpu line", line, ll);
            }
            continue;
        }
        for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++) {
            if (!starts_with(f[0], fl[0], singles[i].key)) {
                continue;
            }
            uint64_t v;
            if (nf < 2 || (st->have & singles[i].bit) != 0 ||
                !tw_procfs_parse_u64(f[1], fl[1], &v)) {
                rc = tw_procfs_bad_line(err, lineno, "bad value", line, ll);
                break;
            }
            memcpy((char *)st + singles[i].off, &v, sizeof(v));
            st->have |= singles[i].bit;
            break;
        }
    }
    return rc;
}

void tw_procfs_cpu_merge(tw_procfs_cpu_t **cache, size_t *cache_cap, tw_procfs_stat_t *st,
                         long clk_tck)
{
    /* How it works: the cache is indexed by CPU id; an entry whose id differs from its index
     * has never been filled. For each fresh CPU, node_exporter keeps max(cached, fresh) per
     * counter, and forgets the cache when idle dropped by >= 3 s (hotplug: the kernel restarted
     * that CPU's counters), so a counter never goes backwards by a small kernel glitch. */
    uint64_t jump_back = 3u * (uint64_t)(clk_tck > 0 ? clk_tck : 100);
    for (size_t i = 0; i < st->ncpus; i++) {
        tw_procfs_cpu_t *fresh = &st->cpus[i];
        size_t idx = fresh->id;
        if (idx >= *cache_cap) {
            size_t old = *cache_cap;
            tw_grow((void **)cache, cache_cap, idx + 1, sizeof(**cache));
            for (size_t j = old; j < *cache_cap; j++) {
                memset(&(*cache)[j], 0, sizeof(**cache));
                (*cache)[j].id = UINT32_MAX;
            }
        }
        tw_procfs_cpu_t *old = &(*cache)[idx];
        if (old->id != fresh->id) {
            memset(old, 0, sizeof(*old));
            old->id = fresh->id;
        }
        uint64_t old_idle = old->ticks[TW_PROCFS_CPU_IDLE];
        uint64_t new_idle = fresh->ticks[TW_PROCFS_CPU_IDLE];
        if (old_idle > new_idle && old_idle - new_idle >= jump_back) {
            memset(old->ticks, 0, sizeof(old->ticks));
        }
        for (size_t k = 0; k < TW_PROCFS_CPU_NFIELDS; k++) {
            if (fresh->ticks[k] >= old->ticks[k]) {
                old->ticks[k] = fresh->ticks[k];
            } else {
                fresh->ticks[k] = old->ticks[k];
            }
        }
    }
}

static void add_single(tw_mset_t *out, const char *name, tw_metric_type_t type, const char *help,
                       double v)
{
    tw_mfamily_t *fam = tw_procfs_family(out, name, type, help);
    tw_mset_add_borrowed(out, fam, NULL, NULL, 0, v, TW_NO_TIMESTAMP);
}

void tw_procfs_stat_emit(const tw_procfs_stat_t *st, long clk_tck, tw_mset_t *out)
{
    double hz = clk_tck > 0 ? (double)clk_tck : 100.0;
    if (st->ncpus > 0) {
        tw_arena_t *arena = tw_mset_arena(out);
        tw_mfamily_t *cpu = tw_procfs_family(out, "node_cpu_seconds_total", TW_MTYPE_COUNTER,
                                             "Seconds the CPUs spent in each mode.");
        tw_mfamily_t *guest =
            tw_procfs_family(out, "node_cpu_guest_seconds_total", TW_MTYPE_COUNTER,
                             "Seconds the CPUs spent in guests (VMs) for each mode.");
        for (size_t i = 0; i < st->ncpus; i++) {
            const tw_procfs_cpu_t *c = &st->cpus[i];
            char *id = tw_arena_printf(arena, "%u", (unsigned)c->id);
            tw_label_t *l = tw_arena_alloc(arena, sizeof(tw_label_t) * 2 * 10);
            for (size_t m = 0; m < 10; m++) {
                l[2 * m].name = "cpu";
                l[2 * m].value = id;
                l[2 * m + 1].name = "mode";
            }
            for (size_t m = 0; m < 8; m++) {
                l[2 * m + 1].value = cpu_modes[m];
                tw_mset_add_borrowed(out, cpu, NULL, &l[2 * m], 2, (double)c->ticks[m] / hz,
                                     TW_NO_TIMESTAMP);
            }
            /* Guest time is also counted in user and nice; node_exporter exposes it apart. */
            l[16 + 1].value = "user";
            tw_mset_add_borrowed(out, guest, NULL, &l[16], 2,
                                 (double)c->ticks[TW_PROCFS_CPU_GUEST] / hz, TW_NO_TIMESTAMP);
            l[18 + 1].value = "nice";
            tw_mset_add_borrowed(out, guest, NULL, &l[18], 2,
                                 (double)c->ticks[TW_PROCFS_CPU_GUEST_NICE] / hz, TW_NO_TIMESTAMP);
        }
    }
    if (st->have & TW_PROCFS_HAVE_BTIME) {
        add_single(out, "node_boot_time_seconds", TW_MTYPE_GAUGE, "Node boot time, in unixtime.",
                   (double)st->btime);
    }
    if (st->have & TW_PROCFS_HAVE_CTXT) {
        add_single(out, "node_context_switches_total", TW_MTYPE_COUNTER,
                   "Total number of context switches.", (double)st->ctxt);
    }
    if (st->have & TW_PROCFS_HAVE_PROCESSES) {
        add_single(out, "node_forks_total", TW_MTYPE_COUNTER, "Total number of forks.",
                   (double)st->processes);
    }
    if (st->have & TW_PROCFS_HAVE_INTR) {
        add_single(out, "node_intr_total", TW_MTYPE_COUNTER, "Total number of interrupts serviced.",
                   (double)st->intr);
    }
    if (st->have & TW_PROCFS_HAVE_RUNNING) {
        add_single(out, "node_procs_running", TW_MTYPE_GAUGE,
                   "Number of processes in runnable state.", (double)st->procs_running);
    }
    if (st->have & TW_PROCFS_HAVE_BLOCKED) {
        add_single(out, "node_procs_blocked", TW_MTYPE_GAUGE,
                   "Number of processes blocked waiting for I/O to complete.",
                   (double)st->procs_blocked);
    }
}
