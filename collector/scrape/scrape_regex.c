/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape_regex.c - relabel regexes on common/regex.h (RE2 syntax, Go's semantics, PCRE2
 * underneath), plus Go's Regexp.Expand for replacement templates.
 *
 * A relabel regex is compiled as Prometheus 3's relabel.NewRegexp does, "^(?s:" + s + ")$":
 * fully anchored, '.' matching a newline. Captures are leftmost-first like RE2, so ambiguous
 * alternations capture what Prometheus captures ("(a|ab)(c|bcd)" on "abcd": $1="a",
 * $2="bcd"). Group names are the regex's, looked up first-match like Go.
 *
 * Pure; a compiled pattern may be used from several threads.
 */
#include "scrape_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mem.h"

int tw_scrape_re_compile(tw_scrape_re_t *re, const char *src, char *errbuf, size_t errsz)
{
    memset(re, 0, sizeof(*re));
    re->src = tw_xstrdup(src);
    tw_error_t err;
    int rc = tw_regex_compile(&re->re, src, TW_REGEX_DOTALL, &err);
    if (rc != 0) {
        /* err.msg is `regex "<src>": <what>`; keep the relabel wording around <what>. */
        const char *what = err.msg;
        size_t n = strlen(src);
        if (strncmp(what, "regex \"", 7) == 0 && strncmp(what + 7, src, n) == 0 &&
            strncmp(what + 7 + n, "\": ", 3) == 0) {
            what += 7 + n + 3;
        }
        if (errbuf != NULL && errsz > 0) {
            snprintf(errbuf, errsz, "invalid regex %s: %s", src, what);
        }
        return TW_EINVAL;
    }
    re->ngroups = tw_regex_ngroups(re->re);
    if (re->ngroups > TW_SCRAPE_RE_MAX_GROUPS) {
        if (errbuf != NULL && errsz > 0) {
            snprintf(errbuf, errsz, "invalid regex %s: %d capture groups, at most %d", src,
                     re->ngroups, TW_SCRAPE_RE_MAX_GROUPS);
        }
        return TW_EINVAL;
    }
    return 0;
}

void tw_scrape_re_fini(tw_scrape_re_t *re)
{
    tw_regex_free(re->re);
    free(re->src);
    memset(re, 0, sizeof(*re));
}

bool tw_scrape_re_match(const tw_scrape_re_t *re, const char *s, int *so, int *eo)
{
    tw_regex_span_t sp[TW_SCRAPE_RE_MAX_GROUPS + 1];
    bool want = so != NULL && eo != NULL;
    size_t n = want ? (size_t)re->ngroups + 1 : 0;
    if (tw_regex_exec(re->re, s, strlen(s), want ? sp : NULL, n) != 1) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        so[i] = (int)sp[i].start;
        eo[i] = (int)sp[i].end;
    }
    return true;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

int tw_scrape_re_expand(const tw_scrape_re_t *re, const char *tmpl, const char *s, const int *so,
                        const int *eo, tw_buf_t *out)
{
    const char *p = tmpl;
    int rc = 0;
    while (*p != '\0' && rc == 0) {
        if (*p != '$') {
            const char *d = strchr(p, '$');
            size_t n = d != NULL ? (size_t)(d - p) : strlen(p);
            rc = tw_buf_append(out, p, n);
            p += n;
            continue;
        }
        p++;
        if (*p == '$') {
            rc = tw_buf_putc(out, '$');
            p++;
            continue;
        }
        const char *name;
        size_t nlen;
        bool brace = *p == '{';
        if (brace) {
            name = p + 1;
            nlen = 0;
            while (is_name_char(name[nlen])) {
                nlen++;
            }
            if (nlen == 0 || name[nlen] != '}') {
                rc = tw_buf_putc(out, '$'); /* malformed: Go keeps the '$' as text */
                continue;
            }
            p = name + nlen + 1;
        } else {
            name = p;
            nlen = 0;
            while (is_name_char(name[nlen])) {
                nlen++;
            }
            if (nlen == 0) {
                rc = tw_buf_putc(out, '$');
                continue;
            }
            p = name + nlen;
        }
        int group = -1;
        bool numeric = true;
        for (size_t i = 0; i < nlen; i++) {
            if (name[i] < '0' || name[i] > '9') {
                numeric = false;
                break;
            }
        }
        if (numeric) {
            long v = 0;
            for (size_t i = 0; i < nlen && v <= TW_SCRAPE_RE_MAX_GROUPS; i++) {
                v = v * 10 + (name[i] - '0');
            }
            if (v <= re->ngroups) {
                group = (int)v;
            }
        } else {
            group = tw_regex_group_index(re->re, name, nlen);
        }
        if (group >= 0 && so[group] >= 0) {
            rc = tw_buf_append(out, s + so[group], (size_t)(eo[group] - so[group]));
        }
    }
    return rc;
}
