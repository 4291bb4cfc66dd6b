/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tmpl.c - alert templates (alerting/rules/tmpl_*.c) against Prometheus' own expectations.
 *
 * The first table is Prometheus 2.42's template/template_test.go TestTemplateExpansion, ported
 * as data (input template, data, query answer, expected output or the exact error), without its
 * HTML-mode cases (html/template is not ours) and toTime (added after 2.42). The second table
 * holds Go text/template cases: the lexer (trim markers, comments, literals), the parser's
 * messages, actions, variables, builtins, fmt verbs, and the executor's messages. Then the alert
 * wrappers and the limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerting/rules/rules.h"

/* ---- data: "f64:1|2", "str:a|b", "i64:..", "u64:..", "int:..", "uint:..", or NULL ---- */

static tw_tmpl_value_t *make_data(tw_arena_t *a, const char *spec)
{
    if (spec == NULL) {
        return NULL;
    }
    const char *colon = strchr(spec, ':');
    assert_non_null(colon);
    size_t tl = (size_t)(colon - spec);
    tw_tmpl_value_t *items = tw_arena_calloc(a, 16 * sizeof(*items));
    size_t n = 0;
    const char *p = colon + 1;
    const char *type = NULL;
    while (*p != '\0' || n == 0) {
        size_t len = strcspn(p, "|");
        char *tok = tw_arena_strndup(a, p, len);
        tw_tmpl_value_t *it = &items[n++];
        if (strncmp(spec, "f64", tl) == 0) {
            it->kind = TW_TV_FLOAT;
            it->u.f = strtod(tok, NULL);
            type = "[]float64";
        } else if (strncmp(spec, "str", tl) == 0) {
            it->kind = TW_TV_STRING;
            it->u.s.p = tok;
            it->u.s.len = len;
            type = "[]string";
        } else if (strncmp(spec, "i64", tl) == 0 || strncmp(spec, "int", tl) == 0) {
            it->kind = TW_TV_INT;
            it->type = tl == 3 && spec[0] == 'i' && spec[1] == '6' ? "int64" : "int";
            it->u.i = strtoll(tok, NULL, 10);
            type = it->type[3] == '6' ? "[]int64" : "[]int";
        } else {
            it->kind = TW_TV_UINT;
            it->type = spec[0] == 'u' && spec[1] == '6' ? "uint64" : "uint";
            it->u.u = strtoull(tok, NULL, 10);
            type = it->type[4] == '6' ? "[]uint64" : "[]uint";
        }
        p += len;
        if (*p == '|') {
            p++;
        } else {
            break;
        }
    }
    return tw_tmpl_value_list(a, items, n, type);
}

/* ---- a fake query source: the answer is chosen by the case ---- */

static const tw_label_t q_a[] = {{"__name__", "metric"}, {"instance", "a"}};
static const tw_label_t q_b[] = {{"__name__", "metric"}, {"instance", "b"}};
static const tw_label_t q_v[] = {{"__name__", "metric"}, {"__value__", "a"}};
static const tw_qs_point_t p11[] = {{0, 11}};
static const tw_qs_point_t p21[] = {{0, 21}};
static const tw_qs_point_t p15[] = {{0, 1.5}};

enum { Q_NONE = 0, Q_SCALAR15, Q_A11, Q_BA, Q_EMPTY, Q_VALUE, Q_ERROR };

static int fake_instant(void *ctx, const char *expr, int64_t t_ms, tw_qs_result_t *out,
                        tw_error_t *err)
{
    (void)expr;
    (void)t_ms;
    static tw_qs_series_t ser[2];
    int which = *(const int *)ctx;
    memset(out, 0, sizeof(*out));
    out->type = TW_QS_VECTOR;
    out->series = ser;
    switch (which) {
    case Q_SCALAR15:
        ser[0] = (tw_qs_series_t){NULL, 0, p15, 1};
        out->n_series = 1;
        break;
    case Q_A11:
        ser[0] = (tw_qs_series_t){q_a, 2, p11, 1};
        out->n_series = 1;
        break;
    case Q_BA:
        ser[0] = (tw_qs_series_t){q_b, 2, p21, 1};
        ser[1] = (tw_qs_series_t){q_a, 2, p11, 1};
        out->n_series = 2;
        break;
    case Q_VALUE:
        ser[0] = (tw_qs_series_t){q_v, 2, p11, 1};
        out->n_series = 1;
        break;
    case Q_ERROR:
        return tw_error_set(err, TW_EPARSE, "1:1: parse error: unexpected end of input");
    default:
        out->n_series = 0;
    }
    return 0;
}

typedef struct tcase {
    const char *text;
    const char *input; /* make_data spec */
    int query;         /* Q_* */
    const char *output;
    const char *error; /* the whole message, as Prometheus' Expand returns it */
} tcase_t;

#define EXT_URL "http://testhost:9090/path/prefix"

static void run_cases(const tcase_t *cases, size_t n)
{
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        const tcase_t *c = &cases[i];
        tw_arena_t *a = tw_arena_new(0);
        tw_tmpl_value_t *data = make_data(a, c->input);
        int q = c->query;
        tw_query_source_t qs = {.ctx = &q, .instant = fake_instant};
        tw_tmpl_env_t env = {.query = &qs, .external_url = EXT_URL};
        tw_buf_t out;
        tw_buf_init(&out, 0);
        tw_error_t err;
        memset(&err, 0, sizeof(err));
        int rc = tw_tmpl_expand("test", c->text, strlen(c->text), data, &env, &out, &err);
        const char *got = out.data ? out.data : "";
        if (c->error != NULL) {
            if (rc == 0 || strcmp(err.msg, c->error) != 0) {
                fprintf(stderr, "case %zu %s\n  want error: %s\n  got (rc %d): %s / %s\n", i,
                        c->text, c->error, rc, err.msg, got);
                failures++;
            }
        } else if (rc != 0 || strcmp(got, c->output) != 0) {
            fprintf(stderr, "case %zu %s\n  want: %s\n  got (rc %d): %s / %s\n", i, c->text,
                    c->output, rc, got, rc ? err.msg : "");
            failures++;
        }
        tw_buf_fini(&out);
        tw_arena_free(a);
    }
    assert_int_equal(failures, 0);
}

/* Prometheus 2.42 template/template_test.go, TestTemplateExpansion (text mode). */
static const tcase_t prometheus_cases[] = {
    {"plain text", NULL, 0, "plain text", NULL},
    {"{{ 1 }}", NULL, 0, "1", NULL},
    {"{{\xc2\xa0}}", NULL, 0, NULL,
     "error parsing template test: template: test:1: unrecognized character in action: U+00A0"},
    {"{{ \"<b>\" }}", NULL, 0, "<b>", NULL},
    {"{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}", NULL, 0, "1 2",
     NULL},
    {"{{ query \"1.5\" | first | value }}", NULL, Q_SCALAR15, "1.5", NULL},
    {"{{ query \"metric{instance='a'}\" | first | value }}", NULL, Q_A11, "11", NULL},
    {"{{ query \"metric{instance='a'}\" | first | label \"instance\" }}", NULL, Q_A11, "a", NULL},
    {"{{ query \"metric{__value__='a'}\" | first | strvalue }}", NULL, Q_VALUE, "a", NULL},
    {"{{ query \"metric{instance='a'}\" | first | label \"foo\" }}", NULL, Q_A11, "", NULL},
    {"{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}", NULL, Q_A11, "", NULL},
    {"{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: "
     "{{end}}",
     NULL, Q_BA, "a:11: b:21: ", NULL},
    {"{{ \"foo.example.com\" | stripPort }}", NULL, 0, "foo.example.com", NULL},
    {"{{ \"foo.example.com:12345\" | stripPort }}", NULL, 0, "foo.example.com", NULL},
    {"{{ \"192.0.2.1\" | stripPort }}", NULL, 0, "192.0.2.1", NULL},
    {"{{ \"192.0.2.1:12345\" | stripPort }}", NULL, 0, "192.0.2.1", NULL},
    {"{{ \"2001:0DB8::1\" | stripPort }}", NULL, 0, "2001:0DB8::1", NULL},
    {"{{ \"[2001:0DB8::1]:12345\" | stripPort }}", NULL, 0, "2001:0DB8::1", NULL},
    {"{{ \"[2001:0DB8::1]::12345\" | stripPort }}", NULL, 0, "[2001:0DB8::1]::12345", NULL},
    {"{{ .Foo }}", NULL, 0, "<no value>", NULL},
    {"{{", NULL, 0, NULL, "error parsing template test: template: test:1: unclosed action"},
    {"{{ query \"missing\" | first }}", NULL, Q_EMPTY, NULL,
     "error executing template test: template: test:1:21: executing \"test\" at <first>: error "
     "calling first: first() called on vector with no elements"},
    {"{{ (query \"missing\").banana }}", NULL, Q_EMPTY, NULL,
     "error executing template test: template: test:1:10: executing \"test\" at <\"missing\">: "
     "can't evaluate field banana in type template.queryResult"},
    {"{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}", NULL, 0, "xa", NULL},
    {"{{ range . }}{{ humanize . }}:{{ end }}", "f64:0|1|1234567|.12", 0, "0:1:1.235M:120m:", NULL},
    {"{{ range . }}{{ humanize . }}:{{ end }}", "str:0.0|1.0|1234567.0|.12", 0,
     "0:1:1.235M:120m:", NULL},
    {"{{ humanize \"one\" }}", NULL, 0, NULL,
     "error executing template test: template: test:1:3: executing \"test\" at <humanize "
     "\"one\">: error calling humanize: strconv.ParseFloat: parsing \"one\": invalid syntax"},
    {"{{ range . }}{{ humanize . }}:{{ end }}", "i64:0|-1|1|1234567|9223372036854775807", 0,
     "0:-1:1:1.235M:9.223E:", NULL},
    {"{{ range . }}{{ humanize . }}:{{ end }}", "u64:0|1|1234567|18446744073709551615", 0,
     "0:1:1.235M:18.45E:", NULL},
    {"{{ range . }}{{ humanize1024 . }}:{{ end }}", "f64:0|1|1048576|.12", 0,
     "0:1:1Mi:0.12:", NULL},
    {"{{ range . }}{{ humanize1024 . }}:{{ end }}", "str:0.0|1.0|1048576.0|.12", 0,
     "0:1:1Mi:0.12:", NULL},
    {"{{ humanize1024 \"one\" }}", NULL, 0, NULL,
     "error executing template test: template: test:1:3: executing \"test\" at <humanize1024 "
     "\"one\">: error calling humanize1024: strconv.ParseFloat: parsing \"one\": invalid "
     "syntax"},
    {"{{ range . }}{{ humanize1024 . }}:{{ end }}", "i64:0|-1|1|1234567|9223372036854775807", 0,
     "0:-1:1:1.177Mi:8Ei:", NULL},
    {"{{ range . }}{{ humanize1024 . }}:{{ end }}", "u64:0|1|1234567|18446744073709551615", 0,
     "0:1:1.177Mi:16Ei:", NULL},
    {"{{ range . }}{{ humanizeDuration . }}:{{ end }}",
     "f64:0|1|60|3600|86400|90000|-183845|899.99", 0,
     "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:", NULL},
    {"{{ range . }}{{ humanizeDuration . }}:{{ end }}", "str:0|1|60|3600|86400", 0,
     "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:", NULL},
    {"{{ range . }}{{ humanizeDuration . }}:{{ end }}",
     "f64:.1|.0001|.12345|60.1|60.5|1.2345|12.345", 0,
     "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:", NULL},
    {"{{ range . }}{{ humanizeDuration . }}:{{ end }}",
     "str:.1|.0001|.12345|60.1|60.5|1.2345|12.345", 0,
     "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:", NULL},
    {"{{ humanizeDuration \"one\" }}", NULL, 0, NULL,
     "error executing template test: template: test:1:3: executing \"test\" at <humanizeDuration "
     "\"one\">: error calling humanizeDuration: strconv.ParseFloat: parsing \"one\": invalid "
     "syntax"},
    {"{{ range . }}{{ humanizeDuration . }}:{{ end }}", "int:0|-1|1|1234567", 0,
     "0s:-1s:1s:14d 6h 56m 7s:", NULL},
    {"{{ range . }}{{ humanizeDuration . }}:{{ end }}", "uint:0|1|1234567", 0,
     "0s:1s:14d 6h 56m 7s:", NULL},
    {"{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{"
     "humanizeTimestamp .}}:{{ end }}",
     "f64:+Inf|-Inf|NaN", 0, "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:", NULL},
    {"{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{"
     "humanizeTimestamp .}}:{{ end }}",
     "str:+Inf|-Inf|NaN", 0, "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:", NULL},
    {"{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | "
     "humanizePercentage }}:{{ 1.23456 | humanizePercentage }}",
     NULL, 0, "-22.22%:0%:12.35%:123.5%", NULL},
    {"{{ range . }}{{ humanizePercentage . }}:{{ end }}", "i64:0|-1|1|1234567|9223372036854775807",
     0, "0%:-100%:100%:1.235e+08%:9.223e+20%:", NULL},
    {"{{ range . }}{{ humanizePercentage . }}:{{ end }}", "u64:0|1|1234567|18446744073709551615", 0,
     "0%:100%:1.235e+08%:1.845e+21%:", NULL},
    {"{{ \"-0.22222\" | humanizePercentage }}:{{ \"0.0\" | humanizePercentage }}:{{ "
     "\"0.1234567\" | humanizePercentage }}:{{ \"1.23456\" | humanizePercentage }}",
     NULL, 0, "-22.22%:0%:12.35%:123.5%", NULL},
    {"{{ \"one\" | humanizePercentage }}", NULL, 0, NULL,
     "error executing template test: template: test:1:11: executing \"test\" at "
     "<humanizePercentage>: error calling humanizePercentage: strconv.ParseFloat: parsing "
     "\"one\": invalid syntax"},
    {"{{ range . }}{{ humanizeTimestamp . }}:{{ end }}", "i64:0|-1|1|1234567|9223372036", 0,
     "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 "
     "UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:",
     NULL},
    {"{{ range . }}{{ humanizeTimestamp . }}:{{ end }}", "u64:0|1|1234567|9223372036", 0,
     "1970-01-01 00:00:00 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 "
     "UTC:2262-04-11 23:47:16 +0000 UTC:",
     NULL},
    {"{{ range . }}{{ humanizeTimestamp . }}:{{ end }}",
     "i64:-9223372036854775808|9223372036854775807", 0, NULL,
     "error executing template test: template: test:1:16: executing \"test\" at "
     "<humanizeTimestamp .>: error calling humanizeTimestamp: -9.223372036854776e+18 cannot be "
     "represented as a nanoseconds timestamp since it overflows int64"},
    {"{{ range . }}{{ humanizeTimestamp . }}:{{ end }}", "u64:18446744073709551615", 0, NULL,
     "error executing template test: template: test:1:16: executing \"test\" at "
     "<humanizeTimestamp .>: error calling humanizeTimestamp: 1.8446744073709552e+19 cannot be "
     "represented as a nanoseconds timestamp since it overflows int64"},
    {"{{ 1435065584.128 | humanizeTimestamp }}", NULL, 0, "2015-06-23 13:19:44.128 +0000 UTC",
     NULL},
    {"{{ \"1435065584.128\" | humanizeTimestamp }}", NULL, 0, "2015-06-23 13:19:44.128 +0000 UTC",
     NULL},
    {"{{ \"aa bb CC\" | title }}", NULL, 0, "Aa Bb CC", NULL},
    {"{{ \"aa bb CC\" | toUpper }}", NULL, 0, "AA BB CC", NULL},
    {"{{ \"aA bB CC\" | toLower }}", NULL, 0, "aa bb cc", NULL},
    {"{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}", NULL, 0, "true false", NULL},
    {"{{ graphLink \"up\" }}", NULL, 0, "/graph?g0.expr=up&g0.tab=0", NULL},
    {"{{ tableLink \"up\" }}", NULL, 0, "/graph?g0.expr=up&g0.tab=1", NULL},
    {"{{ pathPrefix }}", NULL, 0, "/path/prefix", NULL},
    {"{{ externalURL }}", NULL, 0, "http://testhost:9090/path/prefix", NULL},
    {"{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}", NULL, 0, "3720.01", NULL},
    {"{{ \"foo.example.com\" | stripDomain }}", NULL, 0, "foo", NULL},
    {"{{ \"foo.example.com:12345\" | stripDomain }}", NULL, 0, "foo:12345", NULL},
    {"{{ \"192.0.2.1\" | stripDomain }}", NULL, 0, "192.0.2.1", NULL},
    {"{{ \"192.0.2.1:12345\" | stripDomain }}", NULL, 0, "192.0.2.1:12345", NULL},
    {"{{ \"2001:0DB8::1\" | stripDomain }}", NULL, 0, "2001:0DB8::1", NULL},
    {"{{ \"[2001:0DB8::1]:12345\" | stripDomain }}", NULL, 0, "[2001:0DB8::1]:12345", NULL},
    {"{{ \"[2001:0DB8::1]::12345\" | stripDomain }}", NULL, 0, "[2001:0DB8::1]::12345", NULL},
};

static void test_prometheus_cases(void **state)
{
    (void)state;
    run_cases(prometheus_cases, sizeof(prometheus_cases) / sizeof(prometheus_cases[0]));
}

#define PE(msg) "error parsing template test: template: test:" msg
#define EE(msg) "error executing template test: template: test:" msg

/* Go text/template behaviour (lexer, parser, executor, builtins, fmt). */
static const tcase_t go_cases[] = {
    /* trim markers and comments */
    {"a  {{- 1 -}}  b", NULL, 0, "a1b", NULL},
    {"a {{- /* c */ -}}\n b", NULL, 0, "ab", NULL},
    {"a{{/* c */}}b", NULL, 0, "ab", NULL},
    {"{{/* c */ }}", NULL, 0, NULL, PE("1: comment ends before closing delimiter")},
    {"{{/* c", NULL, 0, NULL, PE("1: unclosed comment")},
    {"{{-3}}", NULL, 0, "-3", NULL},
    /* literals */
    {"{{ 0x1F }} {{ 0o17 }} {{ 017 }} {{ 0b101 }} {{ 1_000 }} {{ 'a' }} {{ '\\n' }}", NULL, 0,
     "31 15 15 5 1000 97 10", NULL},
    {"{{ 1.5 }} {{ 1e3 }} {{ 0x1p-2 }} {{ -0.0 }} {{ 1e21 }} {{ 123456789.0 }} {{ 0.00001 }}", NULL,
     0, "1.5 1000 0.25 -0 1e+21 1.23456789e+08 1e-05", NULL},
    {"{{ `raw\\n` }}{{ \"tab\\there\" }}{{ \"\\u00e9\\x41\" }}", NULL, 0,
     "raw\\ntab\there\xc3\xa9"
     "A",
     NULL},
    {"{{ 1i }}", NULL, 0, NULL, PE("1: complex number 1i not supported")},
    {"{{ 99999999999999999999 }}", NULL, 0, NULL,
     PE("1: integer overflow: \"99999999999999999999\"")},
    {"{{ 0x }}", NULL, 0, NULL, PE("1: illegal number syntax: \"0x\"")},
    {"{{ 3k }}", NULL, 0, NULL, PE("1: bad number syntax: \"3k\"")},
    {"{{ \"abc }}", NULL, 0, NULL, PE("1: unterminated quoted string")},
    {"{{ 'ab' }}", NULL, 0, NULL, PE("1: malformed character constant: 'ab'")},
    {"{{ true }} {{ false }} {{ nil }}", NULL, 0, NULL,
     EE("1:26: executing \"test\" at <nil>: nil is not a command")},
    /* parser messages */
    {"{{ .x }", NULL, 0, NULL, PE("1: unexpected \"}\" in operand")},
    {"{{ foo }}", NULL, 0, NULL, PE("1: function \"foo\" not defined")},
    {"{{ $x }}", NULL, 0, NULL, PE("1: undefined variable \"$x\"")},
    {"{{ if }}{{ end }}", NULL, 0, NULL, PE("1: missing value for if")},
    {"{{ end }}", NULL, 0, NULL, PE("1: unexpected {{end}}")},
    {"{{ if 1 }}x", NULL, 0, NULL, PE("1: unexpected EOF")},
    {"{{ 1 | 2 }}", NULL, 0, NULL, PE("1: non executable command in pipeline stage 2")},
    {"{{ ( 1 }}", NULL, 0, NULL, PE("1: unclosed left paren")},
    {"{{ 1 ) }}", NULL, 0, NULL, PE("1: unexpected right paren")},
    {"{{ break }}", NULL, 0, NULL, PE("1: {{break}} outside {{range}}")},
    {"{{ \"x\".y }}", NULL, 0, NULL, PE("1: unexpected . after term \"\\\"x\\\"\"")},
    {"{{ range $a, $b, $c := . }}{{ end }}", NULL, 0, NULL,
     PE("1: too many declarations in range")},
    {"{{ with $x := 1, $y := 2 }}{{ end }}", NULL, 0, NULL, PE("1: unexpected \",\" in operand")},
    {"{{ range $a, 1 }}{{ end }}", NULL, 0, NULL, PE("1: range can only initialize variables")},
    {"{{ if 1 }}{{ else }}{{ else }}{{ end }}", NULL, 0, NULL,
     PE("1: expected end; found {{else}}")},
    {"x\n{{ 1 +\n}}", NULL, 0, NULL, PE("2: illegal number syntax: \"+\"")},
    {"{{ 1\n", NULL, 0, NULL, PE("2: unclosed action started at test:1")},
    {"{{define \"a\"}}1{{end}}{{define \"a\"}}2{{end}}", NULL, 0, NULL,
     PE("1: template: multiple definition of template \"a\"")},
    {"{{ template x }}", NULL, 0, NULL, PE("1: unexpected \"x\" in template clause")},
    {"{{ 1 := 2 }}", NULL, 0, NULL, PE("1: unexpected \":=\" in operand")},
    /* actions */
    {"{{ if 0 }}a{{ else if \"\" }}b{{ else if . }}c{{ else }}d{{ end }}", "int:1", 0, "c", NULL},
    {"{{ with $x := 3 }}{{ . }}{{ $x }}{{ end }}{{ with 0 }}no{{ else }}else{{ end }}", NULL, 0,
     "33else", NULL},
    {"{{ range $i, $e := . }}{{ $i }}={{ $e }};{{ end }}", "str:a|b|c", 0, "0=a;1=b;2=c;", NULL},
    {"{{ range $e := . }}{{ $e }}{{ end }}", "str:a|b", 0, "ab", NULL},
    {"{{ range . }}{{ if eq . \"b\" }}{{ continue }}{{ end }}{{ if eq . \"d\" }}{{ break }}{{ end "
     "}}{{ . }}{{ end }}",
     "str:a|b|c|d|e", 0, "ac", NULL},
    {"{{ range .x }}{{ else }}empty{{ end }}", NULL, 0, "empty", NULL},
    {"{{ range 5 }}{{ end }}", NULL, 0, NULL,
     EE("1:9: executing \"test\" at <5>: range can't iterate over 5")},
    {"{{ $x := 1 }}{{ if 1 }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}", NULL, 0, "2", NULL},
    {"{{ $x = 1 }}", NULL, 0, NULL, EE("1:8: executing \"test\" at <1>: undefined variable: $x")},
    {"{{ define \"t\" }}[{{ . }}]{{ end }}{{ template \"t\" 5 }}{{ template \"t\" }}", NULL, 0,
     "[5][<no value>]", NULL},
    {"{{ block \"b\" . }}B{{ . }}{{ end }}", "int:7", 0, "B[7]", NULL},
    {"{{ template \"nope\" }}", NULL, 0, NULL,
     EE("1:12: executing \"test\" at <{{template \"nope\"}}>: template \"nope\" not defined")},
    {"{{ define \"a\" }}{{ template \"a\" }}{{ end }}{{ template \"a\" }}", NULL, 0, NULL,
     EE("1:28: executing \"a\" at <{{template \"a\"}}>: exceeded maximum template depth (100)")},
    /* builtins */
    {"{{ and 1 0 2 }} {{ and 1 2 }} {{ or 0 \"\" }} {{ or 0 3 }} {{ not 0 }} {{ 0 | and 1 }}", NULL,
     0, "0 2  3 true 0", NULL},
    {"{{ len \"abc\" }} {{ len . }} {{ index . 1 }} {{ slice . 1 2 }} {{ slice \"hello\" 1 3 }}",
     "str:x|y|z", 0, "3 3 y [y] el", NULL},
    {"{{ index \"abc\" 1 }}", NULL, 0, "98", NULL},
    {"{{ index . 3 }}", "str:x|y|z", 0, NULL,
     EE("1:3: executing \"test\" at <index . 3>: error calling index: reflect: slice index out "
        "of range")},
    {"{{ index . 4 }}", "str:x|y|z", 0, NULL,
     EE("1:3: executing \"test\" at <index . 4>: error calling index: index out of range: 4")},
    {"{{ len 3 }}", NULL, 0, NULL,
     EE("1:3: executing \"test\" at <len 3>: error calling len: len of type int")},
    {"{{ eq 1 1 }} {{ eq 1 2 3 1 }} {{ ne \"a\" \"b\" }} {{ lt 1.5 2.5 }} {{ le 2 2 }} {{ gt \"b\" "
     "\"a\" }} {{ ge 1 2 }}",
     NULL, 0, "true true true true true true false", NULL},
    {"{{ gt 1.5 1 }}", NULL, 0, NULL,
     EE("1:3: executing \"test\" at <gt 1.5 1>: error calling gt: incompatible types for "
        "comparison")},
    {"{{ lt true false }}", NULL, 0, NULL,
     EE("1:3: executing \"test\" at <lt true false>: error calling lt: invalid type for "
        "comparison")},
    {"{{ eq 1 }}", NULL, 0, NULL,
     EE("1:3: executing \"test\" at <eq 1>: error calling eq: missing argument for comparison")},
    {"{{ print 1 2 \"a\" \"b\" 3 }}|{{ println 1 \"a\" }}|{{ print nil }}", NULL, 0,
     "1 2ab3|1 a\n|<nil>", NULL},
    {"{{ html \"<a href='x'>&\\\"\" }} {{ js \"a'b\\\"<=>&\\\\\" }} {{ urlquery \"a b&c/d\" }}",
     NULL, 0,
     "&lt;a href=&#39;x&#39;&gt;&amp;&#34; a\\'b\\\"\\u003C\\u003D\\u003E\\u0026\\\\ a+b%26c%2Fd",
     NULL},
    {"{{ call 1 }}", NULL, 0, NULL,
     EE("1:3: executing \"test\" at <call 1>: error calling call: non-function of type int")},
    {"{{ toUpper 1 }}", NULL, 0, NULL,
     EE("1:11: executing \"test\" at <1>: expected string; found 1")},
    {"{{ 1 | toUpper }}", NULL, 0, NULL,
     EE("1:7: executing \"test\" at <toUpper>: wrong type for value; expected string; got int")},
    {"{{ toUpper }}", NULL, 0, NULL,
     EE("1:3: executing \"test\" at <toUpper>: wrong number of args for toUpper: want 1 got 0")},
    {"{{ printf }}", NULL, 0, NULL,
     EE("1:3: executing \"test\" at <printf>: wrong number of args for printf: want at least 1 "
        "got 0")},
    {"{{ \"x\" | safeHtml | toUpper }}", NULL, 0, NULL,
     EE("1:20: executing \"test\" at <toUpper>: wrong type for value; expected string; got "
        "template.HTML")},
    {"{{ 1 2 }}", NULL, 0, NULL,
     EE("1:3: executing \"test\" at <1>: can't give argument to non-function 1")},
    {"{{ .x.y }}", "int:1", 0, NULL,
     EE("1:5: executing \"test\" at <.x.y>: can't evaluate field x in type []int")},
    /* fmt */
    {"{{ printf \"%d|%5d|%-5d|%05d|%+d|%x|%X|%o|%b|%c|%q|%U\" 42 42 42 -42 42 255 255 8 5 65 66 "
     "9731 }}",
     NULL, 0, "42|   42|42   |-0042|+42|ff|FF|10|101|A|'B'|U+2603", NULL},
    {"{{ printf \"%s|%q|%10s|%-4s|%.2s|%x|%v\" \"ab\" \"a\\\"b\" \"r\" \"l\" \"xyz\" \"hi\" \"v\" "
     "}}",
     NULL, 0, "ab|\"a\\\"b\"|         r|l   |xy|6869|v", NULL},
    {"{{ printf \"%f|%.1f|%e|%g|%.3g|%8.2f|%v|%v\" 1.5 2.25 1234.5 0.000012 3.14159 3.14159 1e6 "
     "100000.0 }}",
     NULL, 0, "1.500000|2.2|1.234500e+03|1.2e-05|3.14|    3.14|1e+06|100000", NULL},
    {"{{ printf \"%t %v %d\" true false \"s\" }}", NULL, 0, "true false %!d(string=s)", NULL},
    {"{{ printf \"%d %d\" 1 }}|{{ printf \"%d\" 1 2 }}|{{ printf \"%\" }}|{{ printf \"%z\" 1 }}",
     NULL, 0, "1 %!d(MISSING)|1%!(EXTRA int=2)|%!(NOVERB)|%!z(int=1)", NULL},
    {"{{ printf \"%v %s\" . . }}", "f64:1|2.5", 0, "[1 2.5] [1 2.5]", NULL},
    {"{{ printf \"%.2f%%\" 12.345 }}", NULL, 0, "12.35%", NULL},
    {"{{ printf \"%s\" (args 1 \"x\") }}", NULL, 0, "map[arg0:1 arg1:x]", NULL},
    /* more Prometheus functions */
    {"{{ reReplaceAll \"a|\" \"-\" \"baac\" }}", NULL, 0, "-b--c-", NULL},
    {"{{ reReplaceAll \"(?P<x>\\\\w+)@(\\\\w+)\" \"${2}:$x:$1x:$$\" \"me@host\" }}", NULL, 0,
     "host:me::$", NULL},
    {"{{ reReplaceAll \"(\" \"\" \"\" }}", NULL, 0, NULL,
     EE("1:3: executing \"test\" at <reReplaceAll \"(\" \"\" \"\">: error calling reReplaceAll: "
        "regexp: Compile(`(`): error parsing regexp: missing closing ): `(`")},
    {"{{ match \"(\" \"\" }}", NULL, 0, NULL,
     EE("1:3: executing \"test\" at <match \"(\" \"\">: error calling match: error parsing "
        "regexp: missing closing ): `(`")},
    {"{{ match \"^b\" \"ab\" }} {{ match \"b$\" \"ab\" }} {{ match \"(?i)A\" \"xa\" }}", NULL, 0,
     "false true true", NULL},
    {"{{ \"hello-world foo_bar\" | title }}", NULL, 0, "Hello-World Foo_bar", NULL},
    {"{{ parseDuration \"1x\" }}", NULL, 0, NULL,
     EE("1:3: executing \"test\" at <parseDuration \"1x\">: error calling parseDuration: not a "
        "valid duration string: \"1x\"")},
    {"{{ query \"x\" }}", NULL, Q_ERROR, NULL,
     EE("1:3: executing \"test\" at <query \"x\">: error calling query: 1:1: parse error: "
        "unexpected end of input")},
    {"{{ with query \"x\" | first }}{{ . }}{{ end }}", NULL, Q_A11,
     "{map[__name__:metric instance:a] 11}", NULL},
    {"{{ humanize true }}", NULL, 0, NULL,
     EE("1:3: executing \"test\" at <humanize true>: error calling humanize: can't convert bool "
        "to float")},
    {"{{ range . }}{{ humanizeTimestamp . }} {{ end }}", "f64:-1.5|0.0005|1.000999", 0,
     "1969-12-31 23:59:58.5 +0000 UTC 1970-01-01 00:00:00 +0000 UTC 1970-01-01 00:00:01 +0000 "
     "UTC ",
     NULL},
};

static void test_go_cases(void **state)
{
    (void)state;
    run_cases(go_cases, sizeof(go_cases) / sizeof(go_cases[0]));
}

/* rules/alerting.go: the $labels/$value/... prefix, the template name, the data. */
static void test_alert_expand(void **state)
{
    (void)state;
    tw_arena_t *a = tw_arena_new(0);
    tw_label_t labels[] = {{"__name__", "up"}, {"instance", "node1:9100"}, {"job", "node"}};
    tw_label_t ext[] = {{"cluster", "prod"}};
    tw_tmpl_value_t *data = tw_tmpl_alert_data(a, labels, 3, ext, 1, "http://prom:9090", 0.875);
    tw_tmpl_env_t env = {.external_url = "http://prom:9090"};
    tw_buf_t out;
    tw_buf_init(&out, 0);
    tw_error_t err;
    assert_int_equal(tw_tmpl_expand_alert("InstanceDown",
                                          "{{ $labels.instance | stripPort }} of {{ $labels.job }} "
                                          "in {{ $externalLabels.cluster }}: {{ $value | "
                                          "humanizePercentage }} ({{ .Value }}) {{ $externalURL }}",
                                          data, &env, &out, &err),
                     0);
    assert_string_equal(out.data, "node1 of node in prod: 87.5% (0.875) http://prom:9090");
    /* Positions count the 112 bytes of the prefix, as in Prometheus' messages. */
    assert_int_equal(tw_tmpl_expand_alert("X", "{{ $labels.job.x }}", data, &env, &out, &err),
                     TW_EEXEC);
    assert_string_equal(err.msg, "error executing template __alert_X: template: __alert_X:1:122: "
                                 "executing \"__alert_X\" at <$labels.job.x>: can't evaluate "
                                 "field x in type string");
    assert_int_equal(tw_tmpl_expand_alert("X", "{{ .Nope }}", data, &env, &out, &err), TW_EEXEC);
    assert_string_equal(err.msg,
                        "error executing template __alert_X: template: __alert_X:1:115: executing "
                        "\"__alert_X\" at <.Nope>: can't evaluate field Nope in type struct { "
                        "Labels map[string]string; ExternalLabels map[string]string; ExternalURL "
                        "string; Value float64 }");
    /* Load-time check: parse only, Go's message. */
    assert_int_equal(tw_tmpl_check_alert("X", "{{ $labels.job }}", &err), 0);
    assert_int_equal(tw_tmpl_check_alert("X", "ok\n{{ humanise $value }}", &err), TW_EPARSE);
    assert_string_equal(err.msg, "template: __alert_X:2: function \"humanise\" not defined");
    assert_int_equal(err.line, 2);
    tw_buf_fini(&out);
    tw_arena_free(a);
}

/* Every bound is an error, not a crash or a hang. */
static void test_limits(void **state)
{
    (void)state;
    tw_tmpl_limits_t lim = {.max_output_bytes = 64, .max_steps = 500, .max_range_iterations = 10};
    tw_tmpl_env_t env = {.limits = &lim};
    tw_buf_t out;
    tw_buf_init(&out, 0);
    tw_error_t err;
    tw_arena_t *a = tw_arena_new(0);
    const char *big = "{{ range . }}0123456789{{ end }}";
    tw_tmpl_value_t *data = make_data(a, "str:a|b|c|d|e|f|g|h|i");
    assert_int_equal(tw_tmpl_expand("t", big, strlen(big), data, &env, &out, &err), TW_ELIMIT);
    assert_string_equal(err.msg, "error executing template t: template: t:1:13: executing \"t\" at "
                                 "<0123456789>: output larger than 64 bytes");
    assert_int_equal(out.len, 0);
    data = make_data(a, "str:a|b|c|d|e|f|g|h|i|j|k");
    const char *it = "{{ range . }}{{ end }}";
    assert_int_equal(tw_tmpl_expand("t", it, strlen(it), data, &env, &out, &err), TW_ELIMIT);
    assert_non_null(strstr(err.msg, "range iteration limit of 10 exceeded"));
    /* Doubling a string: the string limit stops it. */
    const char *dbl = "{{ $x := \"ab\" }}{{ range . }}{{ $x = printf \"%s%s\" $x $x }}{{ end }}";
    assert_int_equal(tw_tmpl_expand("t", dbl, strlen(dbl), data, &env, &out, &err), TW_ELIMIT);
    assert_non_null(strstr(err.msg, "longer than the limit of 64 bytes"));
    /* Steps. */
    lim.max_range_iterations = 0;
    lim.max_output_bytes = 0;
    const char *loop = "{{ range . }}{{ 1 }}{{ 2 }}{{ 3 }}{{ end }}";
    tw_tmpl_value_t items[200];
    for (int i = 0; i < 200; i++) {
        items[i] = (tw_tmpl_value_t){.kind = TW_TV_INT, .u.i = i};
    }
    tw_tmpl_value_t *list = tw_tmpl_value_list(a, items, 200, "[]int");
    assert_int_equal(tw_tmpl_expand("t", loop, strlen(loop), list, &env, &out, &err), TW_ELIMIT);
    assert_non_null(strstr(err.msg, "execution step limit of 500 exceeded"));
    /* Deep nesting at parse time. */
    tw_buf_t deep;
    tw_buf_init(&deep, 0);
    tw_buf_puts(&deep, "{{ ");
    for (int i = 0; i < 150; i++) {
        tw_buf_putc(&deep, '(');
    }
    tw_buf_putc(&deep, '1');
    for (int i = 0; i < 150; i++) {
        tw_buf_putc(&deep, ')');
    }
    tw_buf_puts(&deep, " }}");
    assert_int_equal(tw_tmpl_expand("t", deep.data, deep.len, NULL, NULL, &out, &err), TW_ELIMIT);
    assert_string_equal(err.msg,
                        "error parsing template t: template: t:1: nesting deeper than 100");
    tw_buf_fini(&deep);
    tw_buf_fini(&out);
    tw_arena_free(a);
}

/* A parsed template is reusable and reports the position of runtime errors. */
static void test_parse_exec(void **state)
{
    (void)state;
    tw_tmpl_t *t = NULL;
    tw_error_t err;
    const char *text = "line1\n  {{ .a | len }}\n";
    assert_int_equal(tw_tmpl_parse(&t, "n", text, strlen(text), NULL, &err), 0);
    tw_buf_t out;
    tw_buf_init(&out, 0);
    tw_tmpl_value_t d = {.kind = TW_TV_BOOL, .u.b = true};
    assert_int_equal(tw_tmpl_exec(t, &d, NULL, &out, &err), TW_EEXEC);
    assert_string_equal(
        err.msg, "template: n:2:5: executing \"n\" at <.a>: can't evaluate field a in type bool");
    assert_int_equal(err.line, 2);
    tw_buf_reset(&out);
    tw_label_t l[] = {{"a", "xyz"}};
    tw_tmpl_value_t m = {.kind = TW_TV_MAP, .u.map = {l, 1}};
    assert_int_equal(tw_tmpl_exec(t, &m, NULL, &out, &err), 0);
    assert_string_equal(out.data, "line1\n  3\n");
    tw_buf_fini(&out);
    tw_tmpl_free(t);
    tw_tmpl_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prometheus_cases), cmocka_unit_test(test_go_cases),
        cmocka_unit_test(test_alert_expand),     cmocka_unit_test(test_limits),
        cmocka_unit_test(test_parse_exec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
