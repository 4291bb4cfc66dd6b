/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_common_regex.c - libFuzzer target for common/regex: the RE2 scan and rewrite, the PCRE2
 * compile, the fast paths and matching (valid and invalid UTF-8 subjects).
 *
 * Input: the first byte b splits the rest: its low 7 bits are the pattern's length (clamped),
 * bit 7 selects TW_REGEX_DOTALL; the remaining bytes are the subject. Checks that a refused
 * pattern has a message naming it, that spans lie inside the subject with group 0 the whole of
 * it, that exec and matches agree, and that matching with fewer spans gives the same answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/regex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t plen = data[0] & 0x7f;
    unsigned flags = (data[0] & 0x80) != 0 ? TW_REGEX_DOTALL : 0;
    if (plen > size - 1) {
        plen = size - 1;
    }
    char pat[128];
    memcpy(pat, data + 1, plen);
    pat[plen] = '\0';
    const char *subj = (const char *)data + 1 + plen;
    size_t slen = size - 1 - plen;

    tw_regex_t *re = NULL;
    tw_error_t err;
    int rc = tw_regex_compile(&re, pat, flags, &err);
    if (rc != 0) {
        if (re != NULL || rc != TW_EPARSE || strncmp(err.msg, "regex \"", 7) != 0) {
            abort();
        }
        return 0;
    }
    tw_regex_span_t sp[8];
    int m = tw_regex_exec(re, subj, slen, sp, 8);
    if (m != 0 && m != 1 && m != TW_ELIMIT) {
        abort();
    }
    if (m == 1) {
        if (sp[0].start != 0 || sp[0].end != (ptrdiff_t)slen) {
            abort();
        }
        for (int i = 1; i < 8; i++) {
            bool unset = sp[i].start == -1 && sp[i].end == -1;
            bool inside =
                sp[i].start >= 0 && sp[i].start <= sp[i].end && sp[i].end <= (ptrdiff_t)slen;
            if (!(unset || (inside && i <= tw_regex_ngroups(re)))) {
                abort();
            }
        }
    } else {
        for (int i = 0; i < 8; i++) {
            if (sp[i].start != -1 || sp[i].end != -1) {
                abort();
            }
        }
    }
    if (m != TW_ELIMIT) {
        if (tw_regex_matches(re, subj, slen) != (m == 1)) {
            abort();
        }
        tw_regex_span_t one;
        int m1 = tw_regex_exec(re, subj, slen, &one, 1);
        if (m1 != TW_ELIMIT && m1 != m) {
            abort();
        }
    }
    tw_regex_free(re);
    return 0;
}
