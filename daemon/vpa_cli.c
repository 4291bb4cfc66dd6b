/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_cli.c - `tidewatch autoscaler recommend` (see vpa_cli.h). Opens the TSDB read-only (and
 * refuses a directory a running tidewatch holds, like `tidewatch query`), wires the PromQL
 * engine as the query source, and runs tw_vpa_recommend_history().
 */
#include "vpa_cli.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cli.h"
#include "collector/tsdb/tsdb.h"
#include "common/buf.h"
#include "common/query_source.h"
#include "common/timeutil.h"
#include "query/query.h"
#include "vpa_loop.h"

/* The value of --name=value or --name value at argv[*i]; NULL when argv[*i] is not --name. */
static const char *flag(int argc, char *const *argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) {
        return NULL;
    }
    if (argv[*i][n] == '=') {
        return argv[*i] + n + 1;
    }
    if (argv[*i][n] == '\0' && *i + 1 < argc) {
        return argv[++*i];
    }
    return NULL;
}

/* Unix seconds (with a fraction). */
static int parse_time(const char *s, int64_t *out_ms)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= 0) || v > 1e11) {
        return -1;
    }
    *out_ms = (int64_t)(v * 1000.0);
    return 0;
}

/* A positive Prometheus duration into *dst. */
static int parse_dur(const char *v, int64_t *dst, FILE *errout)
{
    if (tw_duration_parse(v, dst) != 0 || *dst <= 0) {
        fprintf(errout, "autoscaler recommend: expected a positive duration, got \"%s\"\n", v);
        return -1;
    }
    return 0;
}

int tw_vpa_cli_main(int argc, char *const *argv, FILE *out, FILE *errout)
{
    const char *path = NULL, *sel = "", *v;
    int64_t now_ms = tw_now_ms();
    tw_vpa_options_t o;
    tw_vpa_options_init(&o);
    for (int i = 1; i < argc; i++) {
        if ((v = flag(argc, argv, &i, "--storage.tsdb.path")) != NULL) {
            path = v;
        } else if ((v = flag(argc, argv, &i, "--selector")) != NULL) {
            sel = v;
        } else if ((v = flag(argc, argv, &i, "--time")) != NULL) {
            if (parse_time(v, &now_ms) != 0) {
                fprintf(errout, "autoscaler recommend: --time: expected Unix seconds, got \"%s\"\n",
                        v);
                return TW_EXIT_USAGE;
            }
        } else if ((v = flag(argc, argv, &i, "--history-length")) != NULL) {
            if (parse_dur(v, &o.history_length_ms, errout) != 0) {
                return TW_EXIT_USAGE;
            }
        } else if ((v = flag(argc, argv, &i, "--history-resolution")) != NULL) {
            if (parse_dur(v, &o.history_resolution_ms, errout) != 0) {
                return TW_EXIT_USAGE;
            }
        } else {
            fprintf(errout, "autoscaler recommend: unknown flag %s\n", argv[i]);
            return TW_EXIT_USAGE;
        }
    }
    if (path == NULL) {
        fprintf(errout, "autoscaler recommend: needs --storage.tsdb.path=DIR\n");
        return TW_EXIT_USAGE;
    }
    if (o.history_resolution_ms > o.history_length_ms) {
        fprintf(errout, "autoscaler recommend: --history-resolution exceeds --history-length\n");
        return TW_EXIT_USAGE;
    }
    /* Matchers with or without braces. */
    char matchers[4096];
    size_t sl = strlen(sel);
    if (sl >= 2 && sel[0] == '{' && sel[sl - 1] == '}') {
        sel++;
        sl -= 2;
    }
    if (sl >= sizeof(matchers)) {
        fprintf(errout, "autoscaler recommend: --selector is too long\n");
        return TW_EXIT_USAGE;
    }
    memcpy(matchers, sel, sl);
    matchers[sl] = '\0';

    char lock[4200];
    int status = TW_EXIT_OK;
    snprintf(lock, sizeof(lock), "%s/lock", path);
    int fd = open(lock, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) != 0) {
        fprintf(errout,
                "autoscaler recommend: %s is locked by a running tidewatch: read GET "
                "/api/v1/recommendations from it instead\n",
                lock);
        close(fd);
        return TW_EXIT_FAILURE;
    }
    tw_tsdb_options_t to;
    tw_tsdb_t *db = NULL;
    tw_error_t err;
    tw_buf_t buf;
    tw_buf_init(&buf, 0);
    tw_tsdb_options_default(&to);
    to.path = path;
    to.read_only = true;
    to.compact_interval_ms = 0;
    to.retention_time_ms = 0;
    tw_error_clear(&err);
    if (tw_tsdb_open(&to, &db, &err) != 0) {
        char msg[sizeof(err.msg) + sizeof(err.file) + 32];
        fprintf(errout, "autoscaler recommend: %s\n", tw_error_format(&err, msg, sizeof(msg)));
        status = TW_EXIT_FAILURE;
        goto out;
    }
    tw_promql_qs_t qsc;
    tw_query_source_t qs;
    memset(&qsc, 0, sizeof(qsc));
    qsc.opts.lookback_delta_ms = TW_PROMQL_DEFAULT_LOOKBACK_MS;
    qsc.opts.max_samples = TW_PROMQL_DEFAULT_MAX_SAMPLES;
    qsc.opts.timeout_ms = TW_PROMQL_DEFAULT_TIMEOUT_MS;
    tw_promql_storage_tsdb(db, &qsc.storage);
    tw_promql_query_source(&qsc, &qs);
    if (tw_vpa_recommend_history(&qs, matchers, &o, now_ms, &buf, &err) != 0) {
        char msg[sizeof(err.msg) + sizeof(err.file) + 32];
        fprintf(errout, "autoscaler recommend: %s\n", tw_error_format(&err, msg, sizeof(msg)));
        status = TW_EXIT_FAILURE;
        goto out;
    }
    if (buf.len > 0) {
        fwrite(buf.data, 1, buf.len, out);
    }
out:
    tw_buf_fini(&buf);
    tw_tsdb_close(db);
    if (fd >= 0) {
        close(fd);
    }
    return status;
}
