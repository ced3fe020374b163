/* Unit tests for util/linediff: unified diffs of lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/linediff.h"

static void check_diff(const char *a, const char *b, int ctx, const char *want)
{
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(linediff_unified(&out, a, strlen(a), b, strlen(b), "a", "b", ctx), 0);
    if (strcmp(out.ptr, want) != 0)
        fprintf(stderr, "--- want\n%s--- got\n%s", want, out.ptr);
    assert_string_equal(out.ptr, want);
    buf_release(&out);
}

static void test_linediff__equal_inputs_print_nothing(void **state)
{
    (void)state;
    check_diff("a\nb\n", "a\nb\n", 3, "");
    check_diff("", "", 3, "");
}

static void test_linediff__one_change_with_context(void **state)
{
    (void)state;
    check_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nX\n6\n7\n8\n9\n", 3,
               "--- a\n+++ b\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+X\n 6\n 7\n 8\n");
}

static void test_linediff__separate_hunks_and_merged_hunks(void **state)
{
    (void)state;
    check_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "X\n2\n3\n4\n5\n6\n7\n8\n9\nY\n", 1,
               "--- a\n+++ b\n@@ -1,2 +1,2 @@\n-1\n+X\n 2\n@@ -9,2 +9,2 @@\n 9\n-10\n+Y\n");
    check_diff("1\n2\n3\n4\n", "X\n2\n3\nY\n", 1,
               "--- a\n+++ b\n@@ -1,4 +1,4 @@\n-1\n+X\n 2\n 3\n-4\n+Y\n");
}

static void test_linediff__insertions_deletions_and_empty_sides(void **state)
{
    (void)state;
    check_diff("a\nc\n", "a\nb\nc\n", 0, "--- a\n+++ b\n@@ -1,0 +2 @@\n+b\n");
    check_diff("a\nb\nc\n", "a\nc\n", 0, "--- a\n+++ b\n@@ -2 +1,0 @@\n-b\n");
    check_diff("", "x\n", 3, "--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n");
    check_diff("x\n", "", 3, "--- a\n+++ b\n@@ -1 +0,0 @@\n-x\n");
}

static void test_linediff__missing_final_newline(void **state)
{
    (void)state;
    check_diff("a\nb", "a\nb\n", 3,
               "--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n");
}

/* Myers' paper example: five edits, the minimum. */
static void test_linediff__minimal_on_interleaved_changes(void **state)
{
    (void)state;
    check_diff("a\nb\nc\na\nb\nb\na\n", "c\nb\na\nb\na\nc\n", 0,
               "--- a\n+++ b\n@@ -1,2 +0,0 @@\n-a\n-b\n@@ -3,0 +2 @@\n+b\n"
               "@@ -6 +4,0 @@\n-b\n@@ -7,0 +6 @@\n+c\n");
}

static void test_linediff__large_inputs_fall_back_to_one_block(void **state)
{
    struct buf a, b, out;
    (void)state;
    buf_init(&a, 0);
    buf_init(&b, 0);
    buf_init(&out, 0);
    for (int i = 0; i < 6000; i++) {
        buf_addf(&a, "a%d\n", i);
        buf_addf(&b, "b%d\n", i);
    }
    assert_int_equal(linediff_unified(&out, a.ptr, a.len, b.ptr, b.len, "a", "b", 3), 0);
    assert_non_null(strstr(out.ptr, "@@ -1,6000 +1,6000 @@\n-a0\n"));
    assert_non_null(strstr(out.ptr, "\n+b5999\n"));
    buf_release(&a);
    buf_release(&b);
    buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linediff__equal_inputs_print_nothing),
        cmocka_unit_test(test_linediff__one_change_with_context),
        cmocka_unit_test(test_linediff__separate_hunks_and_merged_hunks),
        cmocka_unit_test(test_linediff__insertions_deletions_and_empty_sides),
        cmocka_unit_test(test_linediff__missing_final_newline),
        cmocka_unit_test(test_linediff__minimal_on_interleaved_changes),
        cmocka_unit_test(test_linediff__large_inputs_fall_back_to_one_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
