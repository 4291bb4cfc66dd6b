/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tsdb_postings.c - postings set operations: the union's two strategies (bitmap for dense
 * ids, heap merge for sparse ones) give the same exact lists, including duplicates across lists,
 * empty lists and ids near the top of the range; intersect and subtract reuse their output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collector/tsdb/tsdb_int.h"

static uint64_t rnd_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The union by brute force: mark, then collect in order (ids below span, offset by base). */
static size_t brute_union(tsdb_postings_t *lists, size_t k, uint64_t base, size_t span,
                          uint64_t *out)
{
    uint8_t *seen = calloc(span, 1);
    assert_non_null(seen);
    for (size_t i = 0; i < k; i++) {
        for (size_t j = 0; j < lists[i].n; j++) {
            seen[lists[i].ids[j] - base] = 1;
        }
    }
    size_t n = 0;
    for (size_t i = 0; i < span; i++) {
        if (seen[i]) {
            out[n++] = base + i;
        }
    }
    free(seen);
    return n;
}

static void check_union(uint64_t base, size_t span, size_t k, unsigned density, uint64_t *seed)
{
    tsdb_postings_t lists[40] = {{0}};
    const tsdb_postings_t *ptrs[40];
    for (size_t i = 0; i < k; i++) {
        for (size_t id = 0; id < span; id++) {
            if (rnd_next(seed) % 1000 < density) {
                tsdb_postings_push(&lists[i], base + id);
            }
        }
        ptrs[i] = &lists[i];
    }
    uint64_t *want = malloc(span * sizeof(*want));
    assert_non_null(want);
    size_t nw = brute_union(lists, k, base, span, want);
    tsdb_postings_t out = {0};
    tsdb_postings_push(&out, 12345); /* replaced, not appended to */
    tsdb_postings_union(ptrs, k, &out);
    assert_int_equal(out.n, nw);
    if (nw > 0) {
        assert_memory_equal(out.ids, want, nw * sizeof(*want));
    }
    tsdb_postings_fini(&out);
    for (size_t i = 0; i < k; i++) {
        tsdb_postings_fini(&lists[i]);
    }
    free(want);
}

static void test_union_dense_and_sparse(void **state)
{
    (void)state;
    uint64_t seed = 0x2545f4914f6cdd1dull;
    /* dense (bitmap): many lists over a small span, ids near UINT64_MAX too */
    check_union(1, 5000, 30, 100, &seed);
    check_union(UINT64_MAX - 4000, 4000, 7, 300, &seed);
    /* sparse (heap merge): few ids over a wide span */
    check_union(1000, 200000, 5, 1, &seed);
    /* two lists and one list take their own paths */
    check_union(1, 3000, 2, 500, &seed);
    check_union(1, 3000, 1, 500, &seed);
    /* every list empty, and some empty */
    check_union(1, 100, 5, 0, &seed);
    check_union(1, 3000, 40, 3, &seed);
}

static void test_union_exact_small(void **state)
{
    (void)state;
    uint64_t a[] = {1, 5, 64, 65, 200}, b[] = {5, 63, 64, 130}, c[] = {2};
    tsdb_postings_t la = {a, 5, 5}, lb = {b, 4, 4}, lc = {c, 1, 1}, le = {0};
    const tsdb_postings_t *ptrs[] = {&la, &lb, &le, &lc};
    tsdb_postings_t out = {0};
    tsdb_postings_union(ptrs, 4, &out);
    uint64_t want[] = {1, 2, 5, 63, 64, 65, 130, 200};
    assert_int_equal(out.n, 8);
    assert_memory_equal(out.ids, want, sizeof(want));
    tsdb_postings_intersect(&la, &lb, &out);
    assert_int_equal(out.n, 2);
    assert_int_equal(out.ids[0], 5);
    assert_int_equal(out.ids[1], 64);
    tsdb_postings_subtract(&la, &lb, &out);
    assert_int_equal(out.n, 3);
    assert_int_equal(out.ids[0], 1);
    assert_int_equal(out.ids[1], 65);
    assert_int_equal(out.ids[2], 200);
    tsdb_postings_intersect(&la, &le, &out);
    assert_int_equal(out.n, 0);
    tsdb_postings_fini(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_union_dense_and_sparse),
        cmocka_unit_test(test_union_exact_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
