/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rule_check.c - `check rules` as promtool 2.42 does it: load each file strictly (rule_file.c),
 * count its rules, and lint it for duplicate rules (same alert or record name and the same
 * labels). Output and exit codes follow promtool: errors exit 1; lint findings print "FAILED:"
 * but exit 0, or 3 with --lint-fatal.
 *
 * Runs on the caller's thread; output goes to the given streams.
 */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "rules.h"

typedef struct dup_rule {
    const char *metric;
    const tw_label_t *labels;
    size_t n;
} dup_rule_t;

static int dup_cmp(const dup_rule_t *a, const dup_rule_t *b)
{
    int c = strcmp(a->metric, b->metric);
    if (c != 0) {
        return c;
    }
    return tw_labels_compare(a->labels, a->n, b->labels, b->n);
}

static int dup_qsort_cmp(const void *a, const void *b)
{
    return dup_cmp(a, b);
}

/*
 * promtool's checkDuplicates: sort every rule by (name, labels) and report each run of equal
 * neighbours once. Appends the lint message to msg and returns the number found.
 */
static size_t check_duplicates(const tw_rule_file_t *f, tw_buf_t *msg)
{
    size_t n = tw_rule_file_count_rules(f);
    if (n < 2) {
        return 0;
    }
    dup_rule_t *rules = tw_xcalloc(n, sizeof(*rules));
    size_t k = 0;
    for (size_t g = 0; g < f->n_groups; g++) {
        for (size_t r = 0; r < f->groups[g].n_rules; r++) {
            const tw_rule_spec_t *s = &f->groups[g].rules[r];
            rules[k++] = (dup_rule_t){s->name, s->labels, s->n_labels};
        }
    }
    qsort(rules, n, sizeof(*rules), dup_qsort_cmp);
    dup_rule_t *dups = tw_xcalloc(n, sizeof(*dups));
    size_t nd = 0;
    for (size_t i = 1; i < n; i++) {
        if (dup_cmp(&rules[i - 1], &rules[i]) == 0 &&
            (nd == 0 || dup_cmp(&rules[i - 1], &dups[nd - 1]) != 0)) {
            dups[nd++] = rules[i];
        }
    }
    if (nd > 0) {
        tw_buf_printf(msg, "lint error %zu duplicate rule(s) found.\n", nd);
        for (size_t i = 0; i < nd; i++) {
            tw_buf_printf(msg, "Metric: %s\nLabel(s):\n", dups[i].metric);
            for (size_t j = 0; j < dups[i].n; j++) {
                tw_buf_printf(msg, "\t%s: %s\n", dups[i].labels[j].name, dups[i].labels[j].value);
            }
        }
        tw_buf_puts(msg, "Might cause inconsistency while recording expressions");
    }
    free(rules);
    free(dups);
    return nd;
}

int tw_rules_check_files(const tw_rules_check_options_t *o, char **files, size_t n, FILE *out,
                         FILE *errout)
{
    bool failed = false, has_errors = false;
    tw_rule_load_options_t lo = {.check_expr = o->check_expr, .check_ctx = o->check_ctx};
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "Checking %s\n", files[i]);
        fflush(out);
        tw_rule_errors_t errs = {0};
        tw_rule_file_t *f = NULL;
        if (tw_rule_file_load(files[i], &lo, &f, &errs) != 0) {
            fprintf(errout, "  FAILED:\n");
            for (size_t k = 0; k < errs.n; k++) {
                fprintf(errout, "%s\n", errs.msgs[k]);
            }
            fflush(errout);
            failed = true;
            has_errors = true;
        } else {
            tw_buf_t msg;
            tw_buf_init(&msg, 0);
            if (o->lint >= 1 && check_duplicates(f, &msg) > 0) {
                fprintf(errout, "  FAILED:\n%s\n", msg.data);
                fflush(errout);
                failed = true;
            } else {
                fprintf(out, "  SUCCESS: %zu rules found\n", tw_rule_file_count_rules(f));
            }
            tw_buf_fini(&msg);
        }
        fprintf(out, "\n");
        fflush(out);
        tw_rule_file_free(f);
        tw_rule_errors_fini(&errs);
    }
    if (failed && has_errors) {
        return 1;
    }
    if (failed && o->lint_fatal) {
        return 3;
    }
    return 0;
}
