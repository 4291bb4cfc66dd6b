/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape_regex.c - RE2 patterns (what Prometheus users write in relabel rules) on top of POSIX
 * <regex.h>, plus Go's Regexp.Expand for replacement templates.
 *
 * How it works: the pattern is rewritten into a POSIX extended regex and wrapped as ^(...)$ so
 * it is fully anchored like Prometheus' "^(?:" + s + ")$". The rewrite turns \d \D \w \W \s \S
 * into bracket expressions (also inside [...]), (?:...) into a plain group (remembering that it
 * does not count, so RE2 group numbers map to POSIX group numbers), (?P<name>...) and
 * (?<name>...) into a remembered named group, and a leading (?i) into REG_ICASE. Constructs POSIX
 * cannot express (lazy quantifiers, \pN classes, other flags, \A \z) are refused with a message
 * rather than silently meaning something else. Matching is leftmost-longest (POSIX) instead of
 * RE2's leftmost-first: the whole anchored match is the same; only which alternative a capture
 * group took can differ in ambiguous patterns (documented in docs/scraping.md).
 *
 * Pure; a compiled pattern may be used from several threads (glibc's regexec is thread-safe).
 */
#include "scrape_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mem.h"

static int re_fail(char *errbuf, size_t errsz, const char *src, const char *what)
{
    if (errbuf != NULL && errsz > 0) {
        snprintf(errbuf, errsz, "invalid regex %s: %s", src, what);
    }
    return TW_EINVAL;
}

/* Appends the bracket-expression body of class escape c (d, w, s); NULL when not a class. */
static const char *class_body(char c)
{
    switch (c) {
    case 'd':
        return "0-9";
    case 'w':
        return "0-9A-Za-z_";
    case 's':
        return "[:space:]";
    default:
        return NULL;
    }
}

int tw_scrape_re_compile(tw_scrape_re_t *re, const char *src, char *errbuf, size_t errsz)
{
    memset(re, 0, sizeof(*re));
    re->src = tw_xstrdup(src);
    tw_buf_t b;
    tw_buf_init(&b, 0);
    int cflags = REG_EXTENDED;
    int posix_group = 1; /* the wrapping group */
    int rc = 0;
    const char *p = src;
    if (strncmp(p, "(?i)", 4) == 0) {
        cflags |= REG_ICASE;
        p += 4;
    }
    tw_buf_puts(&b, "^(");
    re->map[0] = 0;
    bool in_class = false;
    bool prev_quant = false;
    long repeat_budget = 1000;
    while (*p != '\0') {
        char c = *p;
        bool pq = prev_quant; /* the previous token was a quantifier */
        prev_quant = false;
        if (in_class) {
            if (c == '\\' && p[1] != '\0') {
                const char *body = class_body(p[1]);
                if (body != NULL) {
                    tw_buf_puts(&b, body);
                } else if (p[1] == ']' || p[1] == '[' || p[1] == '-' || p[1] == '^') {
                    /* A collating symbol keeps the character literal anywhere in a class. */
                    tw_buf_printf(&b, "[.%c.]", p[1]);
                } else if (p[1] == '\\') {
                    tw_buf_putc(&b, '\\');
                } else if (p[1] == 'n') {
                    tw_buf_putc(&b, '\n');
                } else if (p[1] == 't') {
                    tw_buf_putc(&b, '\t');
                } else if ((p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A' && p[1] <= 'Z')) {
                    rc = re_fail(errbuf, errsz, src, "unsupported escape in character class");
                    goto out;
                } else {
                    tw_buf_putc(&b, p[1]);
                }
                p += 2;
                continue;
            }
            if (c == '[' && p[1] == ':') {
                const char *end = strstr(p + 2, ":]");
                if (end == NULL) {
                    rc = re_fail(errbuf, errsz, src, "missing :] in character class");
                    goto out;
                }
                tw_buf_append(&b, p, (size_t)(end + 2 - p));
                p = end + 2;
                continue;
            }
            if (c == ']') {
                in_class = false;
            }
            tw_buf_putc(&b, c);
            p++;
            continue;
        }
        if (c == '\\') {
            char e = p[1];
            if (e == '\0') {
                rc = re_fail(errbuf, errsz, src, "trailing backslash");
                goto out;
            }
            const char *body = class_body(e);
            if (body != NULL) {
                tw_buf_printf(&b, "[%s]", body);
            } else if (e == 'D' || e == 'W' || e == 'S') {
                tw_buf_printf(&b, "[^%s]", class_body((char)(e - 'A' + 'a')));
            } else if (e == 'n') {
                tw_buf_putc(&b, '\n');
            } else if (e == 't') {
                tw_buf_putc(&b, '\t');
            } else if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) {
                /* \b \B \A \z \pL, backreferences...: not expressible the same way. */
                rc = re_fail(errbuf, errsz, src, "unsupported escape sequence");
                goto out;
            } else {
                tw_buf_putc(&b, '\\');
                tw_buf_putc(&b, e);
            }
            p += 2;
            continue;
        }
        if (c == '[') {
            in_class = true;
            tw_buf_putc(&b, '[');
            p++;
            if (*p == '^') {
                tw_buf_putc(&b, '^');
                p++;
            }
            if (*p == ']') { /* a leading ] is literal in both dialects */
                tw_buf_putc(&b, ']');
                p++;
            }
            continue;
        }
        if (c == '(') {
            if (p[1] == '?') {
                if (p[2] == ':') {
                    posix_group++;
                    tw_buf_putc(&b, '(');
                    p += 3;
                    continue;
                }
                const char *name = NULL;
                if (p[2] == 'P' && p[3] == '<') {
                    name = p + 4;
                } else if (p[2] == '<') {
                    name = p + 3;
                }
                if (name == NULL) {
                    rc = re_fail(errbuf, errsz, src, "unsupported group flags");
                    goto out;
                }
                const char *end = strchr(name, '>');
                if (end == NULL || end == name) {
                    rc = re_fail(errbuf, errsz, src, "invalid named capture");
                    goto out;
                }
                posix_group++;
                if (re->ngroups >= TW_SCRAPE_RE_MAX_GROUPS) {
                    rc = re_fail(errbuf, errsz, src, "too many capture groups");
                    goto out;
                }
                re->ngroups++;
                re->map[re->ngroups] = posix_group;
                re->names[re->ngroups] = tw_xstrndup(name, (size_t)(end - name));
                tw_buf_putc(&b, '(');
                p = end + 1;
                continue;
            }
            posix_group++;
            if (re->ngroups >= TW_SCRAPE_RE_MAX_GROUPS) {
                rc = re_fail(errbuf, errsz, src, "too many capture groups");
                goto out;
            }
            re->ngroups++;
            re->map[re->ngroups] = posix_group;
            tw_buf_putc(&b, '(');
            p++;
            continue;
        }
        if ((c == '*' || c == '+' || c == '?' || c == '}') && p[1] == '?') {
            rc = re_fail(errbuf, errsz, src, "lazy quantifiers are not supported");
            goto out;
        }
        bool quant = c == '*' || c == '+' || c == '?' || c == '{';
        if (quant && pq) {
            /* RE2: "invalid nested repetition operator"; glibc would also blow up on it. */
            rc = re_fail(errbuf, errsz, src, "invalid nested repetition operator");
            goto out;
        }
        if (c == '{') {
            /* RE2 caps counts at 1000; we also cap their sum, since glibc's regcomp copies the
             * repeated subtree once per count and nested counts multiply. */
            const char *q = p + 1;
            long lo = 0, hi = 0;
            while (*q >= '0' && *q <= '9' && lo <= 1000) {
                lo = lo * 10 + (*q++ - '0');
            }
            hi = lo;
            if (*q == ',') {
                q++;
                hi = 0;
                while (*q >= '0' && *q <= '9' && hi <= 1000) {
                    hi = hi * 10 + (*q++ - '0');
                }
            }
            repeat_budget -= hi > lo ? hi : lo;
            if (lo > 1000 || hi > 1000 || repeat_budget < 0) {
                rc = re_fail(errbuf, errsz, src, "bad repetition operator (counts above 1000)");
                goto out;
            }
        }
        prev_quant = quant || c == '}';
        tw_buf_putc(&b, c);
        p++;
        continue;
    }
    if (in_class) {
        rc = re_fail(errbuf, errsz, src, "missing closing ]");
        goto out;
    }
    tw_buf_puts(&b, ")$");
    int erc = regcomp(&re->re, b.data, cflags);
    if (erc != 0) {
        char msg[128];
        regerror(erc, &re->re, msg, sizeof(msg));
        rc = re_fail(errbuf, errsz, src, msg);
        goto out;
    }
    re->compiled = true;
out:
    tw_buf_fini(&b);
    return rc;
}

void tw_scrape_re_fini(tw_scrape_re_t *re)
{
    if (re->compiled) {
        regfree(&re->re);
    }
    free(re->src);
    for (int i = 0; i <= TW_SCRAPE_RE_MAX_GROUPS; i++) {
        free(re->names[i]);
    }
    memset(re, 0, sizeof(*re));
}

bool tw_scrape_re_match(const tw_scrape_re_t *re, const char *s, int *so, int *eo)
{
    regmatch_t m[2 * TW_SCRAPE_RE_MAX_GROUPS + 2];
    size_t nm = sizeof(m) / sizeof(m[0]);
    if (regexec(&re->re, s, nm, m, 0) != 0) {
        return false;
    }
    if (so != NULL && eo != NULL) {
        for (int i = 0; i <= re->ngroups; i++) {
            int g = re->map[i];
            so[i] = (int)m[g].rm_so;
            eo[i] = (int)m[g].rm_eo;
        }
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
            for (int i = 1; i <= re->ngroups; i++) {
                if (re->names[i] != NULL && strlen(re->names[i]) == nlen &&
                    memcmp(re->names[i], name, nlen) == 0) {
                    group = i;
                    break;
                }
            }
        }
        if (group >= 0 && so[group] >= 0) {
            rc = tw_buf_append(out, s + so[group], (size_t)(eo[group] - so[group]));
        }
    }
    return rc;
}
