/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_regex.c - common/regex: RE2 syntax and Go semantics on PCRE2. Anchoring, '$' at the end
 * only, the dotall flag, UTF-8 runes and invalid input, every refused construct with its
 * message, accepted RE2-only syntax, capture offsets (leftmost-first), the fast paths, the match
 * limit on a catastrophic pattern, and many threads matching one regex.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/regex.h"

static tw_regex_t *compile_ok(const char *pat, unsigned flags)
{
    tw_regex_t *re = NULL;
    tw_error_t err;
    if (tw_regex_compile(&re, pat, flags, &err) != 0) {
        fail_msg("compile \"%s\": %s", pat, err.msg);
    }
    return re;
}

/* Whether pat (compiled with flags) matches the first n bytes of s. */
static bool mn(const char *pat, unsigned flags, const char *s, size_t n)
{
    tw_regex_t *re = compile_ok(pat, flags);
    int rc = tw_regex_exec(re, s, n, NULL, 0);
    assert_true(rc == 0 || rc == 1);
    tw_regex_free(re);
    return rc == 1;
}

static bool m(const char *pat, const char *s)
{
    return mn(pat, 0, s, strlen(s));
}

static bool md(const char *pat, const char *s)
{
    return mn(pat, TW_REGEX_DOTALL, s, strlen(s));
}

static void test_anchoring(void **state)
{
    (void)state;
    assert_true(m("a.*", "abc"));
    assert_false(m("a.*", "ba"));
    assert_false(m("b", "abc"));
    assert_false(m("b", "ab"));
    assert_true(m("foo|bar", "bar"));
    assert_false(m("foo|bar", "foobar"));
    assert_false(m("foo|bar", "xbar"));
    assert_true(m("", ""));
    assert_false(m("", "a"));
    assert_true(m("a|", ""));
    assert_true(m("^a$", "a"));
    assert_true(m("(?:a)|b", "b"));
}

static void test_dollar_end_only(void **state)
{
    (void)state;
    assert_true(m("a$", "a"));
    assert_false(m("a$", "a\n"));
    /* PCRE2's default '$' also matches before a final newline; RE2's does not. */
    assert_false(m("a$\n", "a\n"));
    assert_false(m("a\\z\n", "a\n"));
    /* (?m): '$' before a newline, '^' after one, even a final one (as in Go). */
    assert_true(m("(?m)a$\n", "a\n"));
    assert_true(m("(?m)a\n^", "a\n"));
    assert_true(m("(?m)a$\n^b", "a\nb"));
    assert_false(m("(?m:a$)", "a\n"));
}

static void test_dotall(void **state)
{
    (void)state;
    assert_false(m("a.b", "a\nb"));
    assert_true(md("a.b", "a\nb"));
    assert_true(m("(?s)a.b", "a\nb"));
    assert_false(md("(?-s)a.b", "a\nb"));
    assert_true(m("[^x]", "\n")); /* classes always match newlines (Perl flags) */
    /* The fast paths follow the flag too. */
    assert_false(m(".*", "x\ny"));
    assert_true(md(".*", "x\ny"));
    assert_false(m("x.*", "x\ny"));
    assert_true(md("x.*", "x\ny"));
    assert_false(m(".+", "\n"));
    assert_true(md(".+", "\n"));
    assert_false(md(".+", ""));
    assert_true(m("x.+", "xy"));
    assert_false(m("x.+", "x"));
}

static void test_utf8_runes(void **state)
{
    (void)state;
    assert_true(m(".", "\xc3\xa9")); /* é is one rune */
    assert_false(m("..", "\xc3\xa9"));
    assert_true(m("a.c", "a\xc3\xa9"
                         "c"));
    assert_true(m("[\xc3\xa9]", "\xc3\xa9"));
    assert_true(m("\\x{e9}", "\xc3\xa9"));
    assert_true(m("\\xe9", "\xc3\xa9"));
    assert_true(m("(?i)\xc3\x89", "\xc3\xa9")); /* É folds to é */
    assert_true(m("\\pL+", "\xc3\xa9t\xc3\xa9"));
    assert_false(m("\\pL", "1"));
    assert_true(m("\\PL", "1"));
    assert_true(m("\\p{Greek}+", "\xce\xb1\xce\xb2"));
    assert_false(m("\\p{^Greek}", "\xce\xb1"));
    assert_true(m("[\\p{Lu}x]+", "X\xc3\x89x"));
    assert_true(m("\xe2\x82\xac{2}", "\xe2\x82\xac\xe2\x82\xac")); /* the count takes the rune */
    /* \w \d \b are ASCII, as in RE2. */
    assert_false(m("\\w", "\xc3\xa9"));
    assert_false(m("\\d", "\xd9\xa3"));
}

static void test_invalid_utf8_input(void **state)
{
    (void)state;
    /* Go decodes each bad byte as one U+FFFD rune. */
    assert_true(mn(".*", 0,
                   "a\xff"
                   "b",
                   3));
    assert_true(mn("a.b", 0,
                   "a\xff"
                   "b",
                   3));
    assert_true(mn("a..b", 0,
                   "a\xff\xfe"
                   "b",
                   4));
    assert_false(mn("a.b", 0,
                    "a\xff\xfe"
                    "b",
                    4));
    assert_true(mn("..", 0, "\xe2\x82", 2)); /* a truncated sequence is two bad bytes */
    assert_true(mn("\\x{fffd}", 0, "\xff", 1));
    assert_false(mn("a", 0, "\xff", 1));
    assert_false(mn("a\\d", 0, "a\xff", 2));
    assert_true(mn("\\S+", 0, "\xc0\xaf\xed\xa0\x80", 5)); /* overlong and surrogate bytes */

    tw_regex_t *re = compile_ok("(.)(b)(.)", 0);
    tw_regex_span_t sp[4];
    assert_int_equal(tw_regex_exec(re,
                                   "\xff"
                                   "b\xc3\xa9",
                                   4, sp, 4),
                     1);
    assert_int_equal(sp[0].start, 0);
    assert_int_equal(sp[0].end, 4);
    assert_int_equal(sp[1].start, 0);
    assert_int_equal(sp[1].end, 1);
    assert_int_equal(sp[2].start, 1);
    assert_int_equal(sp[2].end, 2);
    assert_int_equal(sp[3].start, 2);
    assert_int_equal(sp[3].end, 4);
    tw_regex_free(re);
}

static void expect_refused(const char *pat, const char *msg)
{
    tw_regex_t *re = (tw_regex_t *)&re; /* must be reset to NULL */
    tw_error_t err;
    int rc = tw_regex_compile(&re, pat, 0, &err);
    if (rc != TW_EPARSE) {
        fail_msg("\"%s\": rc %d, want TW_EPARSE", pat, rc);
    }
    assert_null(re);
    assert_string_equal(err.msg, msg);
}

static void test_refused(void **state)
{
    (void)state;
    /* What PCRE2 has and RE2 leaves out, refused as Prometheus refuses it. */
    expect_refused("(a)\\1",
                   "regex \"(a)\\1\": invalid escape sequence: `\\1` (RE2 has no backreferences)");
    expect_refused("(?P<n>a)\\k<n>",
                   "regex \"(?P<n>a)\\k<n>\": invalid escape sequence: `\\k` (RE2 has no "
                   "backreferences)");
    expect_refused("(a)\\g1",
                   "regex \"(a)\\g1\": invalid escape sequence: `\\g` (RE2 has no backreferences)");
    expect_refused("(?P<n>a)(?P=n)", "regex \"(?P<n>a)(?P=n)\": backreferences are not supported: "
                                     "`(?P=` (RE2 has no backreferences)");
    expect_refused("a(?=b)",
                   "regex \"a(?=b)\": lookahead is not supported: `(?=` (RE2 has no lookaround)");
    expect_refused("a(?!b)",
                   "regex \"a(?!b)\": lookahead is not supported: `(?!` (RE2 has no lookaround)");
    expect_refused(
        "(?<=a)b",
        "regex \"(?<=a)b\": lookbehind is not supported: `(?<=` (RE2 has no lookaround)");
    expect_refused(
        "(?<!a)b",
        "regex \"(?<!a)b\": lookbehind is not supported: `(?<!` (RE2 has no lookaround)");
    expect_refused("(?>a+)b", "regex \"(?>a+)b\": atomic groups are not supported: `(?>` (RE2 has "
                              "no atomic groups)");
    expect_refused("a++", "regex \"a++\": invalid nested repetition operator: `++` (RE2 has no "
                          "possessive quantifiers)");
    expect_refused("a*+b", "regex \"a*+b\": invalid nested repetition operator: `*+` (RE2 has no "
                           "possessive quantifiers)");
    expect_refused("a{2}+", "regex \"a{2}+\": invalid nested repetition operator: `{2}+` (RE2 has "
                            "no possessive quantifiers)");
    expect_refused("a\\Cb", "regex \"a\\Cb\": invalid escape sequence: `\\C` (RE2 has no \\C: it "
                            "matches runes, not bytes)");
    expect_refused("a(?R)?b",
                   "regex \"a(?R)?b\": recursion is not supported: `(?R` (RE2 has no recursion)");
    expect_refused("(a)(?1)",
                   "regex \"(a)(?1)\": recursion is not supported: `(?1` (RE2 has no recursion)");
    expect_refused("(a)(?-1)",
                   "regex \"(a)(?-1)\": recursion is not supported: `(?-1` (RE2 has no recursion)");
    expect_refused("(?&n)",
                   "regex \"(?&n)\": recursion is not supported: `(?&` (RE2 has no recursion)");
    expect_refused("(?P>n)",
                   "regex \"(?P>n)\": recursion is not supported: `(?P>` (RE2 has no recursion)");
    expect_refused("a(?C1)b",
                   "regex \"a(?C1)b\": callouts are not supported: `(?C` (RE2 has no callouts)");
    expect_refused("(?(1)a|b)", "regex \"(?(1)a|b)\": conditional groups are not supported: `(?(` "
                                "(RE2 has no conditionals)");
    expect_refused("(*FAIL)", "regex \"(*FAIL)\": missing argument to repetition operator: `*`");
    expect_refused("a{1001}", "regex \"a{1001}\": invalid repeat count: `{1001}`");
    expect_refused("a{2,1}", "regex \"a{2,1}\": invalid repeat count: `{2,1}`");
    expect_refused("(a{500}){600}", "regex \"(a{500}){600}\": invalid repeat count: `{600}`");
    expect_refused("((a{10}){10}){11}",
                   "regex \"((a{10}){10}){11}\": invalid repeat count: `{11}`");
    /* ...and what Go's parser refuses anyway. */
    expect_refused("a**", "regex \"a**\": invalid nested repetition operator: `**`");
    expect_refused("a*??", "regex \"a*??\": invalid nested repetition operator: `*??`");
    expect_refused("*a", "regex \"*a\": missing argument to repetition operator: `*`");
    expect_refused("a|*", "regex \"a|*\": missing argument to repetition operator: `*`");
    expect_refused("(?i)*", "regex \"(?i)*\": missing argument to repetition operator: `*`");
    expect_refused("a)", "regex \"a)\": unexpected ): `a)`");
    expect_refused("(a", "regex \"(a\": missing closing ): `(a`");
    expect_refused("a[b", "regex \"a[b\": missing closing ]: `[b`");
    expect_refused("[z-a]", "regex \"[z-a]\": invalid character class range: `z-a`");
    expect_refused("[[:foo:]]", "regex \"[[:foo:]]\": invalid character class range: `[:foo:]`");
    expect_refused("\\pX", "regex \"\\pX\": invalid character class range: `\\pX`");
    expect_refused("\\p{Xan}", "regex \"\\p{Xan}\": invalid character class range: `\\p{Xan}`");
    expect_refused("\\Z", "regex \"\\Z\": invalid escape sequence: `\\Z`");
    expect_refused("\\h", "regex \"\\h\": invalid escape sequence: `\\h`");
    expect_refused("[\\b]", "regex \"[\\b]\": invalid escape sequence: `\\b`");
    expect_refused("\\x4", "regex \"\\x4\": invalid escape sequence: `\\x4`");
    expect_refused("\\x{110000}", "regex \"\\x{110000}\": invalid escape sequence: `\\x{110000`");
    expect_refused("a\\", "regex \"a\\\": trailing backslash at end of expression");
    expect_refused("(?x)a b", "regex \"(?x)a b\": invalid or unsupported Perl syntax: `(?x`");
    expect_refused("(?i-)a", "regex \"(?i-)a\": invalid or unsupported Perl syntax: `(?i-)`");
    expect_refused("(?#c)a", "regex \"(?#c)a\": comments are not supported: `(?#`");
    expect_refused("(?'n'a)", "regex \"(?'n'a)\": invalid or unsupported Perl syntax: `(?'` (name "
                              "a group with (?P<name>re) or (?<name>re))");
    expect_refused("(?P<a-b>x)", "regex \"(?P<a-b>x)\": invalid named capture: `(?P<a-b>`");
    expect_refused("(?<>x)", "regex \"(?<>x)\": invalid named capture: `(?<>`");
    expect_refused("a\xff", "regex \"a\xff\": invalid UTF-8: `\xff`");

    /* Too long. */
    static char big[TW_REGEX_MAX_PATTERN_BYTES + 2];
    memset(big, 'a', sizeof(big) - 1);
    tw_regex_t *re = NULL;
    tw_error_t err;
    assert_int_equal(tw_regex_compile(&re, big, 0, &err), TW_ELIMIT);
    assert_null(re);
    /* Nesting deeper than Go's parser allows. */
    char deep[2 * (TW_REGEX_MAX_NESTING + 1) + 1];
    memset(deep, '(', TW_REGEX_MAX_NESTING + 1);
    memset(deep + TW_REGEX_MAX_NESTING + 1, ')', TW_REGEX_MAX_NESTING + 1);
    deep[sizeof(deep) - 1] = '\0';
    assert_int_equal(tw_regex_compile(&re, deep, 0, &err), TW_EPARSE);
    assert_non_null(strstr(err.msg, "expression nests too deeply"));
    deep[TW_REGEX_MAX_NESTING] = 'x';
    deep[TW_REGEX_MAX_NESTING + 1] = 'x';
    assert_int_equal(tw_regex_compile(&re, deep, 0, &err), 0); /* 1000 groups deep is fine */
    assert_int_equal(tw_regex_ngroups(re), TW_REGEX_MAX_NESTING);
    assert_true(tw_regex_matches(re, "xx", 2));
    tw_regex_free(re);
}

static void test_re2_syntax_accepted(void **state)
{
    (void)state;
    /* Lazy quantifiers: same full-match answer, different captures (see test_captures). */
    assert_true(m("a+?", "aaa"));
    assert_true(m("a{2,3}?", "aaa"));
    assert_true(m("(?U)a+b", "aab"));
    assert_true(m("\\bfoo\\b", "foo"));
    assert_true(m("a\\b.*", "a b"));
    assert_false(m("a\\b.*", "ab"));
    assert_true(m("a\\Bb", "ab"));
    assert_true(m("\\Afoo\\z", "foo"));
    assert_true(m("a(?i)b", "aB"));
    assert_false(m("a(?i)b", "AB"));
    assert_true(m("a(?i:b)c", "aBc"));
    assert_false(m("a(?i:b)c", "aBC"));
    assert_true(m("(?i)a(?-i)b", "Ab"));
    assert_false(m("(?i)a(?-i)b", "AB"));
    assert_true(m("\\Qa.b*\\E+", "a.b**"));
    assert_false(m("\\Qa.b\\E", "axb"));
    assert_true(m("\\Qa.b", "a.b")); /* no \E: quoted to the end */
    assert_true(m("(?P<x>a)(?<y>b)", "ab"));
    assert_true(m("^*a$*", "a")); /* Go lets assertions repeat */
    assert_true(m("\\12", "\n")); /* octal, not a backreference */
    assert_true(mn("\\0", 0, "\0", 1));
    assert_true(m("\\v", "\v"));
    assert_false(m("\\v", "\n"));
    assert_false(m("\\s", "\v")); /* Go's \s has no \v; PCRE2's has */
    assert_false(m("[\\s]", "\v"));
    assert_true(m("[\\S]", "\v"));
    assert_true(m("\\S", "\v"));
    assert_true(m("[[:space:]]", "\v"));
    assert_true(m("[\\d-z]+", "5-z"));
    assert_false(m("[\\d-z]", "y"));
    assert_true(m("[a-]+", "a-"));
    assert_true(m("[]a]+", "]a"));
    assert_true(m("[^]a]", "b"));
    assert_true(m("[[.a.]]", "[]")); /* no collating elements in RE2: '[' '.' 'a' '.' then ']' */
    assert_true(m("[[:^alpha:]]", "1"));
    assert_true(m("a{,3}", "a{,3}")); /* not a repetition in RE2 */
    assert_true(m("a{01}", "a{01}"));
    assert_true(m("x{2}y{1,}z{0,1}", "xxyyy"));
    tw_regex_t *re = compile_ok("((a{10}){10}){10}", 0); /* product 1000 is the limit, allowed */
    tw_regex_free(re);
    re = compile_ok("(a{1000}){0}(b{1000}){0,1}", 0);
    tw_regex_free(re);
    assert_true(m("(?)a(?:)", "a"));
    assert_true(m("\\.\\-\\/\\_", ".-/_"));
    assert_true(m("a{b", "a{b"));
    assert_true(m("a}", "a}"));
    assert_true(m("\\pN\\p{Nd}", "12"));
    assert_true(m("\\p{Any}", "\xf0\x9f\x98\x80"));
    assert_true(m("(?m)(?s)(?U)(?i)x", "X"));
}

static void test_captures(void **state)
{
    (void)state;
    tw_regex_span_t sp[4];
    /* Leftmost-first like RE2 (POSIX leftmost-longest would give $1="ab", $2="cd"). */
    tw_regex_t *re = compile_ok("(a|ab)(c|bcd)", 0);
    assert_int_equal(tw_regex_ngroups(re), 2);
    assert_int_equal(tw_regex_exec(re, "abcd", 4, sp, 4), 1);
    assert_int_equal(sp[0].start, 0);
    assert_int_equal(sp[0].end, 4);
    assert_int_equal(sp[1].start, 0);
    assert_int_equal(sp[1].end, 1);
    assert_int_equal(sp[2].start, 1);
    assert_int_equal(sp[2].end, 4);
    assert_int_equal(sp[3].start, -1); /* past the groups */
    assert_int_equal(tw_regex_exec(re, "abx", 3, sp, 4), 0);
    assert_int_equal(sp[0].start, -1);
    tw_regex_free(re);

    /* Lazy vs greedy captures. */
    re = compile_ok("(a+?)(a*)", 0);
    assert_int_equal(tw_regex_exec(re, "aaa", 3, sp, 3), 1);
    assert_int_equal(sp[1].end, 1);
    assert_int_equal(sp[2].start, 1);
    assert_int_equal(sp[2].end, 3);
    tw_regex_free(re);

    /* Non-capturing groups do not count; unset groups are -1; names. */
    re = compile_ok("(?:a|b)(c)(?P<d>d)?(?i:(?<e>e))", 0);
    assert_int_equal(tw_regex_ngroups(re), 3);
    assert_int_equal(tw_regex_group_index(re, "d", 1), 2);
    assert_int_equal(tw_regex_group_index(re, "e", 1), 3);
    assert_int_equal(tw_regex_group_index(re, "c", 1), -1);
    assert_null(tw_regex_group_name(re, 1));
    assert_string_equal(tw_regex_group_name(re, 2), "d");
    assert_null(tw_regex_group_name(re, 4));
    assert_int_equal(tw_regex_exec(re, "bcE", 3, sp, 4), 1);
    assert_int_equal(sp[1].start, 1);
    assert_int_equal(sp[1].end, 2);
    assert_int_equal(sp[2].start, -1);
    assert_int_equal(sp[2].end, -1);
    assert_int_equal(sp[3].start, 2);
    assert_int_equal(sp[3].end, 3);
    /* Fewer spans than groups is fine. */
    assert_int_equal(tw_regex_exec(re, "acdE", 4, sp, 1), 1);
    assert_int_equal(sp[0].end, 4);
    tw_regex_free(re);

    /* Duplicate names are allowed (Go); lookups find the first. Digits may start a name. */
    re = compile_ok("(?P<x>a)(?P<x>b)(?P<1a>c)", 0);
    assert_int_equal(tw_regex_group_index(re, "x", 1), 1);
    assert_int_equal(tw_regex_group_index(re, "1a", 2), 3);
    tw_regex_free(re);

    /* The fast paths report group 0. */
    re = compile_ok("foo.*", 0);
    assert_int_equal(tw_regex_exec(re, "foobar", 6, sp, 2), 1);
    assert_int_equal(sp[0].start, 0);
    assert_int_equal(sp[0].end, 6);
    assert_int_equal(sp[1].start, -1);
    tw_regex_free(re);
}

static void expect_strategy(const char *pat, const char *want)
{
    tw_regex_t *re = compile_ok(pat, 0);
    assert_string_equal(tw_regex_strategy(re), want);
    tw_regex_free(re);
}

static void test_fast_paths(void **state)
{
    (void)state;
    expect_strategy("foo", "literal");
    expect_strategy("foo\\.bar\\x41", "literal");
    expect_strategy("", "literal");
    expect_strategy("foo.*", "prefix.*");
    expect_strategy(".*", "prefix.*");
    expect_strategy(".+", "prefix.+");
    expect_strategy("ab.+", "prefix.+");
    expect_strategy("foo|bar", "pcre2");
    expect_strategy("(?i)foo", "pcre2");
    expect_strategy("foo\\d+", "pcre2");
    expect_strategy("\\x{fffd}", "pcre2"); /* must also match invalid bytes */
    assert_true(m("foo\\.bar\\x41", "foo.barA"));
    assert_false(m("foo\\.bar\\x41", "fooxbarA"));
    /* A quantified last character is not part of the prefix. */
    assert_true(m("ab*", "a"));
    assert_true(m("ab*", "abb"));
    assert_false(m("ab*", "b"));
    assert_true(m("ab?c.*", "ac"));
    assert_true(m("ab{2}.*", "abbx"));
    assert_false(m("ab{2}.*", "abx"));
    assert_true(m("foo\\d+", "foo12"));
    assert_false(m("foo\\d+", "fo12"));
    assert_false(m("foo\\d+", "f"));
    assert_true(m("foo(?i)BAR", "foobar"));
    assert_false(m("foo(?i)BAR", "FOObar"));
    assert_true(m("a.*|b", "b"));
    tw_regex_t *re = compile_ok("foo\\d+", 0);
    /* On this platform PCRE2 has a JIT; a regex that needs the engine gets JIT code. */
    assert_true(tw_regex_uses_jit(re));
    tw_regex_free(re);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_match_limit(void **state)
{
    (void)state;
    char s[32];
    memset(s, 'a', 30);
    s[30] = 'b';
    s[31] = '\0';
    tw_regex_t *re = compile_ok("(a+)+$", 0);
    double t0 = now_ms();
    assert_int_equal(tw_regex_exec(re, s, 31, NULL, 0), TW_ELIMIT);
    assert_false(tw_regex_matches(re, s, 31));
    double took = now_ms() - t0;
    assert_int_equal(tw_regex_limit_hits(re), 2);
    if (took > 2000) {
        fail_msg("two bounded matches took %.0f ms", took);
    }
    /* The same regex still works on ordinary input, uncounted. */
    assert_true(tw_regex_matches(re, "aaa", 3));
    assert_false(tw_regex_matches(re, "ab", 2));
    assert_int_equal(tw_regex_limit_hits(re), 2);
    tw_regex_free(re);
}

typedef struct {
    const tw_regex_t *re;
    int id;
    int bad;
} thr_arg_t;

static void *thr_main(void *p)
{
    thr_arg_t *a = p;
    char s[64];
    for (int i = 0; i < 3000; i++) {
        int user = a->id * 100000 + i;
        int n = snprintf(s, sizeof(s), "u%d@host%d.example.com", user, i % 7);
        tw_regex_span_t sp[3];
        int rc = tw_regex_exec(a->re, s, (size_t)n, sp, 3);
        int ulen = snprintf(NULL, 0, "u%d", user);
        if (rc != 1 || sp[1].start != 0 || sp[1].end != ulen || sp[2].start != ulen + 1 ||
            sp[2].end != ulen + 6) {
            a->bad++;
        }
        if (tw_regex_matches(a->re, s, (size_t)n - 1)) {
            a->bad++;
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    tw_regex_t *re = compile_ok("(\\w+)@(\\w+)\\.example\\.com", 0);
    pthread_t th[8];
    thr_arg_t args[8];
    for (int i = 0; i < 8; i++) {
        args[i].re = re;
        args[i].id = i;
        args[i].bad = 0;
        assert_int_equal(pthread_create(&th[i], NULL, thr_main, &args[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].bad, 0);
    }
    assert_int_equal(tw_regex_limit_hits(re), 0);
    tw_regex_free(re);
}

static void test_accessors(void **state)
{
    (void)state;
    tw_regex_t *re = compile_ok("a(b)", TW_REGEX_DOTALL);
    assert_string_equal(tw_regex_pattern(re), "a(b)");
    assert_int_equal(tw_regex_ngroups(re), 1);
    tw_regex_free(re);
    tw_regex_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anchoring),
        cmocka_unit_test(test_dollar_end_only),
        cmocka_unit_test(test_dotall),
        cmocka_unit_test(test_utf8_runes),
        cmocka_unit_test(test_invalid_utf8_input),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_re2_syntax_accepted),
        cmocka_unit_test(test_captures),
        cmocka_unit_test(test_fast_paths),
        cmocka_unit_test(test_match_limit),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_accessors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
