/* Unit tests for parser/regex.c: Terraform's regular expressions (RE2
 * syntax, Go's results). The table's expected results come from Go's
 * regexp (tests/tools/regex_expect.go writes regex_cases.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser/regex.h"
#include "util/buf.h"

static const struct {
    const char *pattern, *input, *go; /* go: Go's FindAllStringSubmatchIndex, or ERR */
} cases[] = {
#include "regex_cases.h"
};

/* Every match of re in s, as Go prints FindAllStringSubmatchIndex. */
static void all_matches(struct rx *rx, const char *s, struct buf *out)
{
    size_t pos = 0, len = strlen(s);
    ptrdiff_t prev = -1;
    while (rx_next(rx, s, len, &pos, &prev)) {
        buf_addch(out, '[');
        for (size_t i = 0; i < 2 * (rx->ngroups + 1); i++)
            buf_addf(out, i ? " %td" : "%td", rx->m[i]);
        buf_addch(out, ']');
    }
}

static void test_regex__go_table(void **state)
{
    size_t bad = 0;
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rx rx;
        char err[256];
        struct buf got;
        buf_init(&got, 0);
        buf_adds(&got, "");
        if (rx_compile(&rx, cases[i].pattern, err, sizeof(err)) < 0)
            buf_adds(&got, "ERR");
        else
            all_matches(&rx, cases[i].input, &got);
        if (strcmp(got.ptr, cases[i].go) != 0) {
            print_message("pattern \"%s\" on \"%s\": Go gives %s, amlsec %s%s%s\n",
                          cases[i].pattern, cases[i].input, cases[i].go, got.ptr,
                          strcmp(got.ptr, "ERR") == 0 ? ": " : "",
                          strcmp(got.ptr, "ERR") == 0 ? err : "");
            bad++;
        }
        rx_free(&rx);
        buf_release(&got);
    }
    assert_int_equal(bad, 0);
}

/* VM steps to search s (every byte an 'a' but the last, c) with re. */
static unsigned long long steps_for(const char *re, size_t n, char last)
{
    struct rx rx;
    char err[256], *s = malloc(n + 1);
    unsigned long long steps;
    assert_non_null(s);
    memset(s, 'a', n);
    s[n - 1] = last;
    s[n] = '\0';
    assert_int_equal(rx_compile(&rx, re, err, sizeof(err)), 0);
    rx_exec(&rx, s, n, 0);
    steps = rx.steps;
    rx_free(&rx);
    free(s);
    return steps;
}

/* Patterns a backtracking matcher takes exponential time on: the VM's steps
 * grow linearly with the text (counted, not timed). */
static void test_regex__linear_time(void **state)
{
    static const char *const patterns[] = {"(a*)*b",           "(a|aa)*c",  "(a+a+)+b",
                                           "(?:a?){30}a{30}b", "(a|a?)+$x", "^(\\w+\\s?)*$!"};
    (void)state;
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        unsigned long long s1 = steps_for(patterns[i], 20000, 'x');
        unsigned long long s2 = steps_for(patterns[i], 40000, 'x');
        print_message("%s: %llu steps on 20,000 characters, %llu on 40,000\n", patterns[i], s1, s2);
        /* twice the text, twice the steps (give or take the start) */
        assert_true(s2 <= s1 * 2 + 1000);
        /* and a bounded number per character: the program's size */
        assert_true(s2 / 40000 < 400);
    }
    /* the classic: (a*)*b with no b, found absent in a single pass */
    assert_true(steps_for("(a*)*b", 100000, 'a') < 100000ull * 20);
}

static void expect_error(const char *re, const char *what)
{
    struct rx rx;
    char err[256];
    assert_int_equal(rx_compile(&rx, re, err, sizeof(err)), -1);
    if (strstr(err, what) == NULL)
        fail_msg("\"%s\": \"%s\" does not name \"%s\"", re, err, what);
}

static void test_regex__errors_name_construct_and_offset(void **state)
{
    (void)state;
    expect_error("ab**", "** (at offset 2)");
    expect_error("x{1001}", "invalid repeat count {1001}: at most 1000 (at offset 1)");
    expect_error("(a{100}){100}", "(at offset 8)");
    expect_error("(?P<n>a)(?P<n>b)", "duplicate group name 'n' (at offset 8)");
    expect_error("(?P<n>a)(b)", "cannot mix named and unnamed");
    expect_error("ab\\C", "\\C (any byte) is not supported (at offset 2)");
    expect_error("a(?=b)", "lookaround (?=...) is not RE2 syntax (at offset 1)");
    expect_error("[[:foo:]]", "[:foo:] (at offset 1)");
    expect_error("\\p{Klingon}", "\\p{Klingon} (at offset 0)");
    expect_error("a)", "unexpected ')' (at offset 1)");
    expect_error("a(b", "missing ')' closing the group (at offset 1)");
    expect_error("[ab", "missing ']' closing a character class (at offset 0)");
    expect_error("\xff", "invalid UTF-8 (at offset 0)");
    {
        /* nesting beyond 1000 levels */
        char deep[2 * 1001 + 2];
        memset(deep, '(', 1001);
        memset(deep + 1001, ')', 1001);
        deep[2002] = '\0';
        expect_error(deep, "nests too deeply");
    }
}

/* A search from the middle of a text sees the text before it (Go's rule:
 * ^, \A and \b look at the whole text). */
static void test_regex__search_from_an_offset_sees_the_text_before(void **state)
{
    struct rx rx;
    char err[256];
    (void)state;
    assert_int_equal(rx_compile(&rx, "\\bb", err, sizeof(err)), 0);
    assert_false(rx_exec(&rx, "ab", 2, 1)); /* a and b: no boundary */
    assert_true(rx_exec(&rx, "ab b", 4, 1));
    assert_int_equal(rx.m[0], 3);
    rx_free(&rx);
    assert_int_equal(rx_compile(&rx, "\\Bb", err, sizeof(err)), 0);
    assert_true(rx_exec(&rx, "ab", 2, 1));
    assert_int_equal(rx.m[0], 1);
    rx_free(&rx);
    assert_int_equal(rx_compile(&rx, "^b", err, sizeof(err)), 0);
    assert_false(rx_exec(&rx, "ab", 2, 1));
    rx_free(&rx);
    assert_int_equal(rx_compile(&rx, "(?m)^b", err, sizeof(err)), 0);
    assert_true(rx_exec(&rx, "a\nb", 3, 1));
    assert_int_equal(rx.m[0], 2);
    rx_free(&rx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regex__go_table),
        cmocka_unit_test(test_regex__linear_time),
        cmocka_unit_test(test_regex__errors_name_construct_and_offset),
        cmocka_unit_test(test_regex__search_from_an_offset_sees_the_text_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
