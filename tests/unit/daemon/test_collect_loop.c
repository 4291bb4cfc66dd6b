/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_collect_loop.c - the collector loop on the procfs fixture tree (run_once, snapshots and
 * their references, the tidewatch_collector_* statistics, reconfiguration errors), the
 * self-metrics and the /metrics renderer (format negotiation, gzip, the size limit).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "build_info.h"

#include "collector/expfmt/expfmt.h"
#include "common/buf.h"
#include "daemon/collect_loop.h"
#include "daemon/selfmetrics.h"
#include "daemon/web.h"

static const tw_msample_t *sample_with(const tw_mset_t *s, const char *family, const char *label,
                                       const char *value)
{
    const tw_mfamily_t *f = tw_mset_find(s, family);
    if (f == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < f->nsamples; i++) {
        const char *v = tw_labels_get(f->samples[i].labels, f->samples[i].nlabels, label);
        if (label == NULL || (v != NULL && strcmp(v, value) == 0)) {
            return &f->samples[i];
        }
    }
    return NULL;
}

static void procfs_options(tw_collect_loop_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->interval_ms = 1000;
    o->procfs_enabled = true;
    o->procfs.proc_root = TW_FIXTURES "/procfs/proc";
    o->procfs.sys_root = TW_FIXTURES "/procfs/sys";
    o->procfs.rootfs_root = "/";
}

static void test_run_once_publishes_snapshot(void **state)
{
    (void)state;
    tw_collect_loop_t *l = tw_collect_loop_new();
    tw_collect_loop_options_t o;
    tw_error_t err;
    procfs_options(&o);
    assert_int_equal(tw_collect_loop_configure(l, &o, &err), 0);
    assert_false(tw_collect_loop_ready(l));
    assert_null(tw_collect_loop_snapshot(l));
    assert_null(tw_collect_loop_cgroup(l));

    assert_int_equal(tw_collect_loop_run_once(l, 1700000000000), 0);
    assert_true(tw_collect_loop_ready(l));
    tw_collect_snapshot_t *s1 = tw_collect_loop_snapshot(l);
    assert_non_null(s1);
    assert_int_equal(tw_collect_snapshot_time_ms(s1), 1700000000000);
    size_t n = 0;
    const tw_mset_t *const *sets = tw_collect_snapshot_sets(s1, &n);
    assert_int_equal(n, 1);
    const tw_msample_t *load = sample_with(sets[0], "node_load1", NULL, NULL);
    assert_non_null(load);
    assert_true(load->value == 0.36);

    /* A second collection replaces the published snapshot; the old one stays valid for its
     * holder until unref. */
    assert_int_equal(tw_collect_loop_run_once(l, 1700000001000), 0);
    tw_collect_snapshot_t *s2 = tw_collect_loop_snapshot(l);
    assert_ptr_not_equal(s1, s2);
    assert_int_equal(tw_collect_snapshot_time_ms(s1), 1700000000000);
    assert_int_equal(tw_collect_snapshot_time_ms(s2), 1700000001000);
    tw_collect_snapshot_unref(s1);
    tw_collect_snapshot_unref(s2);

    tw_mset_t *m = tw_mset_new();
    tw_collect_loop_collect_metrics(l, m);
    const tw_msample_t *runs =
        sample_with(m, "tidewatch_collector_collections_total", "collector", "procfs");
    assert_non_null(runs);
    assert_true(runs->value == 2);
    assert_null(sample_with(m, "tidewatch_collector_collections_total", "collector", "cgroup"));
    const tw_msample_t *last =
        sample_with(m, "tidewatch_collector_last_success_timestamp_seconds", "collector", "procfs");
    assert_non_null(last);
    assert_true(last->value >= 1700000001.0 && last->value < 1700000011.0);
    assert_int_equal(tw_mset_find(m, "tidewatch_collector_errors_total")->type, TW_MTYPE_COUNTER);
    tw_mset_free(m);
    tw_collect_loop_free(l);
}

static void test_configure_error_keeps_old(void **state)
{
    (void)state;
    tw_collect_loop_t *l = tw_collect_loop_new();
    tw_collect_loop_options_t o;
    tw_error_t err;
    procfs_options(&o);
    assert_int_equal(tw_collect_loop_configure(l, &o, &err), 0);
    tw_collect_loop_options_t bad = o;
    bad.cgroup_enabled = true;
    bad.cgroup.root = "/nonexistent/tidewatch/cgroup";
    tw_error_clear(&err);
    assert_true(tw_collect_loop_configure(l, &bad, &err) != 0);
    assert_non_null(strstr(err.msg, "/nonexistent/tidewatch/cgroup"));
    /* The procfs collector from before still runs. */
    assert_int_equal(tw_collect_loop_run_once(l, 1000), 0);
    tw_collect_snapshot_t *s = tw_collect_loop_snapshot(l);
    size_t n = 0;
    tw_collect_snapshot_sets(s, &n);
    assert_int_equal(n, 1);
    tw_collect_snapshot_unref(s);
    bad.interval_ms = 0;
    assert_int_equal(tw_collect_loop_configure(l, &bad, &err), TW_EINVAL);
    tw_collect_loop_free(l);
}

static void test_thread_collects(void **state)
{
    (void)state;
    tw_collect_loop_t *l = tw_collect_loop_new();
    tw_collect_loop_options_t o;
    tw_error_t err;
    procfs_options(&o);
    assert_int_equal(tw_collect_loop_configure(l, &o, &err), 0);
    assert_int_equal(tw_collect_loop_start(l, &err), 0);
    for (int i = 0; i < 200 && !tw_collect_loop_ready(l); i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_true(tw_collect_loop_ready(l));
    tw_collect_loop_stop(l);
    tw_collect_loop_stop(l); /* idempotent */
    tw_collect_loop_free(l);
}

static void test_selfmetrics(void **state)
{
    (void)state;
    tw_mset_t *m = tw_mset_new();
    tw_selfmetrics_sources_t src = {.reload_ok = false, .reload_success_ms = 1500};
    tw_selfmetrics_collect(&src, m);
    assert_non_null(sample_with(m, "tidewatch_build_info", "version", TW_VERSION));
    const tw_mfamily_t *bi = tw_mset_find(m, "tidewatch_build_info");
    assert_non_null(bi);
    assert_int_equal(bi->type, TW_MTYPE_GAUGE);
    assert_int_equal(bi->nsamples, 1);
    assert_true(bi->samples[0].value == 1);
    assert_non_null(tw_labels_get(bi->samples[0].labels, bi->samples[0].nlabels, "revision"));
    assert_non_null(tw_labels_get(bi->samples[0].labels, bi->samples[0].nlabels, "build_type"));
    const tw_mfamily_t *ok = tw_mset_find(m, "tidewatch_config_last_reload_successful");
    assert_true(ok->samples[0].value == 0);
    const tw_mfamily_t *ts =
        tw_mset_find(m, "tidewatch_config_last_reload_success_timestamp_seconds");
    assert_true(ts->samples[0].value == 1.5);
    assert_null(tw_mset_find(m, "process_open_fds")); /* no proc_root given */
    tw_mset_free(m);
}

static void test_render(void **state)
{
    (void)state;
    tw_mset_t *m = tw_mset_new();
    tw_mfamily_t *f = tw_mset_family(m, "x_total", TW_MTYPE_COUNTER, "An x.", NULL);
    tw_mset_add(m, f, "", NULL, 0, 3, TW_NO_TIMESTAMP);
    const tw_mset_t *sets[] = {m};
    tw_buf_t out;
    const char *ctype = NULL;
    bool gz = true;
    tw_error_t err;
    tw_buf_init(&out, 0);

    assert_int_equal(tw_web_metrics_render(sets, 1, NULL, NULL, 1 << 20, &out, &ctype, &gz, &err),
                     0);
    assert_false(gz);
    assert_string_equal(ctype, tw_expfmt_content_type(TW_EXPFMT_TEXT_0_0_4));
    assert_string_equal(out.data, "# HELP x_total An x.\n# TYPE x_total counter\nx_total 3\n");

    assert_int_equal(tw_web_metrics_render(sets, 1, "application/openmetrics-text; version=1.0.0",
                                           "identity", 1 << 20, &out, &ctype, &gz, &err),
                     0);
    assert_false(gz);
    assert_string_equal(ctype, tw_expfmt_content_type(TW_EXPFMT_OPENMETRICS_1_0_0));
    assert_string_equal(out.data, "# HELP x An x.\n# TYPE x counter\nx_total 3.0\n# EOF\n");

    assert_int_equal(tw_web_metrics_render(sets, 1, "text/plain", "gzip, deflate", 1 << 20, &out,
                                           &ctype, &gz, &err),
                     0);
    assert_true(gz);
    assert_true(out.len > 2);
    assert_int_equal((unsigned char)out.data[0], 0x1f);
    assert_int_equal((unsigned char)out.data[1], 0x8b);

    /* Over the limit: an error, not a truncated document. */
    assert_int_equal(tw_web_metrics_render(sets, 1, NULL, NULL, 10, &out, &ctype, &gz, &err),
                     TW_ELIMIT);
    assert_string_equal(err.msg, "metrics document larger than 10 bytes");
    tw_buf_fini(&out);
    tw_mset_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_once_publishes_snapshot),
        cmocka_unit_test(test_configure_error_keeps_old),
        cmocka_unit_test(test_thread_collects),
        cmocka_unit_test(test_selfmetrics),
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
