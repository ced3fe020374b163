/* Unit tests for parser/fmt (and parser/ast_equal): the canonical layout,
 * idempotence, and parse(fmt(x)) == parse(x) over every .amlsec file of
 * the repository (tests/, examples/) and every fuzz corpus input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "parser/ast_equal.h"
#include "parser/fmt.h"
#include "parser/parse.h"
#include "util/error.h"
#include "util/fileio.h"

/* Formats text; returns the rc and the output in *out (malloc'd). */
static int fmt_text(char **out, const char *text, size_t len)
{
    struct src_file *src = NULL;
    struct errbuf err = ERRBUF_INIT;
    struct diag_list diags;
    struct buf b;
    int rc;

    diag_list_init(&diags);
    buf_init(&b, 0);
    assert_int_equal(src_file_from_mem(&src, "t.amlsec", text, len, &err), 0);
    rc = fmt_source(&b, src, &diags, &err);
    if (rc == 0)
        assert_int_equal(diags.errors, 0);
    if (rc == AMLSEC_EPARSE)
        assert_true(diags.errors > 0);
    if (rc < 0 && rc != AMLSEC_EPARSE)
        fprintf(stderr, "fmt: %s\n", err.msg);
    *out = buf_detach(&b, NULL);
    diag_list_release(&diags);
    src_file_free(src);
    return rc;
}

/* in formats to want, and want is a fixed point. */
static void check_fmt(const char *in, const char *want)
{
    char *got = NULL, *again = NULL;
    assert_int_equal(fmt_text(&got, in, strlen(in)), 0);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "--- want\n%s--- got\n%s---\n", want, got);
    assert_string_equal(got, want);
    assert_int_equal(fmt_text(&again, got, strlen(got)), 0);
    assert_string_equal(again, want);
    free(got);
    free(again);
}

static void test_fmt__aligns_a_run_of_attributes(void **state)
{
    (void)state;
    check_fmt("settings {\n"
              "subscription=\"s\"\n"
              "    location = \"westeurope\"\n"
              "  parallelism    =   4\n"
              "}\n",
              "settings {\n"
              "  subscription = \"s\"\n"
              "  location     = \"westeurope\"\n"
              "  parallelism  = 4\n"
              "}\n");
}

static void test_fmt__blank_comment_and_block_end_runs(void **state)
{
    (void)state;
    check_fmt("workspace \"w\" {\n"
              "  a = 1\n"
              "  bbb = 2\n"
              "\n"
              "  cc = 3\n"
              "  # note\n"
              "  dddd = 4\n"
              "  e = 5\n"
              "  lifecycle {\n"
              "    prevent_destroy = true\n"
              "  }\n"
              "  ffffff = 6\n"
              "}\n",
              "workspace \"w\" {\n"
              "  a   = 1\n"
              "  bbb = 2\n"
              "\n"
              "  cc = 3\n"
              "  # note\n"
              "  dddd = 4\n"
              "  e    = 5\n"
              "  lifecycle {\n"
              "    prevent_destroy = true\n"
              "  }\n"
              "  ffffff = 6\n"
              "}\n");
}

static void test_fmt__multi_line_value_ends_the_run(void **state)
{
    (void)state;
    check_fmt("x \"a\" {\n"
              "  a = 1\n"
              "  bb = [\n"
              "  1,\n"
              "       2,\n"
              "  ]\n"
              "  ccc = 3\n"
              "  d = 4\n"
              "}\n",
              "x \"a\" {\n"
              "  a = 1\n"
              "  bb = [\n"
              "    1,\n"
              "    2,\n"
              "  ]\n"
              "  ccc = 3\n"
              "  d   = 4\n"
              "}\n");
}

static void test_fmt__nesting_and_indentation(void **state)
{
    (void)state;
    check_fmt("key_vault \"cmk\" {\n"
              "name = \"kv\"\n"
              "network_acls {\n"
              "default_action = \"deny\"\n"
              "        inner {\n"
              "x = 1\n"
              "}\n"
              "}\n"
              "}\n",
              "key_vault \"cmk\" {\n"
              "  name = \"kv\"\n"
              "  network_acls {\n"
              "    default_action = \"deny\"\n"
              "    inner {\n"
              "      x = 1\n"
              "    }\n"
              "  }\n"
              "}\n");
}

static void test_fmt__braces_of_multi_line_blocks_own_their_lines(void **state)
{
    (void)state;
    check_fmt("a \"x\" { b = 1\n"
              "c = 2 }\n"
              "d { e = 1 }\n"
              "f {}\n",
              "a \"x\" {\n"
              "  b = 1\n"
              "  c = 2\n"
              "}\n"
              "d { e = 1 }\n"
              "f {}\n");
}

static void test_fmt__comments_stay_in_place(void **state)
{
    (void)state;
    check_fmt("# head\n"
              "// second\n"
              "a \"x\" { # after brace\n"
              "  b = 1 # one\n"
              "  long_name = 2    # two\n"
              "    /* block\n"
              "       comment */\n"
              "  c = /* inline */ 3\n"
              "  # last\n"
              "}\n",
              "# head\n"
              "// second\n"
              "a \"x\" { # after brace\n"
              "  b         = 1 # one\n"
              "  long_name = 2 # two\n"
              "  /* block\n"
              "       comment */\n"
              "  c = /* inline */ 3\n"
              "  # last\n"
              "}\n");
}

static void test_fmt__trailing_whitespace_and_blank_lines(void **state)
{
    (void)state;
    check_fmt("\n\n\na \"x\" {   \n"
              "\n"
              "  b = 1   \n"
              "\n\n\n"
              "  c = 2 # c   \n"
              "\n"
              "}\n\n\n"
              "d {\n}",
              "a \"x\" {\n"
              "  b = 1\n"
              "\n"
              "  c = 2 # c\n"
              "}\n"
              "\n"
              "d {\n"
              "}\n");
}

static void test_fmt__heredocs_are_verbatim(void **state)
{
    (void)state;
    /* content, trailing blanks in it and the closing word stay as they are */
    check_fmt("a \"x\" {\n"
              "    b   =   <<-EOT\n"
              "      keep   \n"
              "    ${ x }\n"
              "  EOT\n"
              "c=<<EOT\n"
              "raw\n"
              "EOT\n"
              "}\n",
              "a \"x\" {\n"
              "  b = <<-EOT\n"
              "      keep   \n"
              "    ${ x }\n"
              "  EOT\n"
              "  c = <<EOT\n"
              "raw\n"
              "EOT\n"
              "}\n");
}

static void test_fmt__strings_and_templates_are_verbatim(void **state)
{
    (void)state;
    check_fmt("a = \"x  ${ b . c }  y\"\n"
              "b = \"\\t  \\u00e9 $${z}\"\n"
              "c = \"${f(\n"
              "   1)}\"\n",
              "a = \"x  ${ b . c }  y\"\n"
              "b = \"\\t  \\u00e9 $${z}\"\n"
              "c = \"${f(\n"
              "   1)}\"\n");
    /* template directives and strip markers are kept as written */
    check_fmt("d = \"%{ if x ~}a%{~ else }b%{ endif }\"\n"
              "e=<<-EOT\n  %{ for k, v in m ~}\n  ${k}=${v}\n  %{ endfor ~}\n  100%%{\nEOT\n",
              "d = \"%{ if x ~}a%{~ else }b%{ endif }\"\n"
              "e = <<-EOT\n  %{ for k, v in m ~}\n  ${k}=${v}\n  %{ endfor ~}\n  100%%{\nEOT\n");
}

static void test_fmt__maps(void **state)
{
    (void)state;
    check_fmt("p \"x\" {\n"
              "  parameters={effect=\"Deny\",  b=[1,2]}\n"
              "  empty = {}\n"
              "  multi = { a = 1,\n"
              "  bbb = 2\n"
              "\"q r\" = 3 }\n"
              "  colon = { k: 1 }\n"
              "}\n",
              "p \"x\" {\n"
              "  parameters = { effect = \"Deny\", b = [1, 2] }\n"
              "  empty      = {}\n"
              "  multi = {\n"
              "    a     = 1,\n"
              "    bbb   = 2\n"
              "    \"q r\" = 3\n"
              "  }\n"
              "  colon = { k: 1 }\n"
              "}\n");
}

static void test_fmt__lists_and_calls(void **state)
{
    (void)state;
    check_fmt("a = [ 1 ,2,  3 ]\n"
              "b = []\n"
              "c = concat( [\"a\"] , [ \"b\" ] )\n"
              "d = [{ k = 1 }, { k = 2 }]\n"
              "e = [\n"
              "\"x\",\n"
              "[\n"
              "1\n"
              "],\n"
              "]\n"
              "f = format(\"%s-%s\",\n"
              "var.a,\n"
              "  var.b)\n",
              "a = [1, 2, 3]\n"
              "b = []\n"
              "c = concat([\"a\"], [\"b\"])\n"
              "d = [{ k = 1 }, { k = 2 }]\n"
              "e = [\n"
              "  \"x\",\n"
              "  [\n"
              "    1\n"
              "  ],\n"
              "]\n"
              "f = format(\"%s-%s\",\n"
              "  var.a,\n"
              "  var.b)\n");
}

static void test_fmt__operators(void **state)
{
    (void)state;
    check_fmt("a = !x&&y||z==w ? - 1 : ( b!=c )\n"
              "b = each.value [ \"k\" ] . id\n"
              "c = ! ! true\n",
              "a = !x && y || z == w ? -1 : (b != c)\n"
              "b = each.value[\"k\"].id\n"
              "c = !!true\n");
}

static void test_fmt__arithmetic_and_for_expressions(void **state)
{
    (void)state;
    check_fmt("a = 1+2*-3-  4%n/2>=x\n"
              "b = (1)-2<=3\n"
              "c = [for   s in var.l:upper(s)   if s!=\"\"]\n"
              "d = {for k,v in var.m: k=>v...}\n"
              "e = {\n  for k, v in var.m :\n  k => v\n}\n",
              "a = 1 + 2 * -3 - 4 % n / 2 >= x\n"
              "b = (1) - 2 <= 3\n"
              "c = [for s in var.l : upper(s) if s != \"\"]\n"
              "d = { for k, v in var.m : k => v... }\n"
              "e = {\n  for k, v in var.m :\n  k => v\n}\n");
    check_fmt("s = a.b[ * ].c\n", "s = a.b[*].c\n");
    /* decimals keep their spelling; a binary '-' after one is spaced */
    check_fmt("d = 0.5*1e3-1.5e-2/-2.50\n", "d = 0.5 * 1e3 - 1.5e-2 / -2.50\n");
    /* whole numbers beyond int64 keep theirs too (leading zeros included) */
    check_fmt("g = 18446744073709551616-  -0018446744073709551616*2\n",
              "g = 18446744073709551616 - -0018446744073709551616 * 2\n");
    /* `for` only starts a for expression first in a bracket, before a name */
    check_fmt("m = { for = 1, in = 2 }\nb {\n  for = 1\n}\n",
              "m = { for = 1, in = 2 }\nb {\n  for = 1\n}\n");
}

/* Steps on any expression: no space before `[` or `.` after an operand. */
static void test_fmt__postfix_steps(void **state)
{
    (void)state;
    check_fmt("a = split(\",\", s) [1]\n"
              "b = ( var.m ) [ \"k\" ] . id\n"
              "c = [1, 2] [0]\n"
              "d = {a = 1} . a\n"
              "e = values(m) [ * ] . id\n"
              "f = -[5, 6] [1]\n"
              "g = [for x in l : x] [0]\n",
              "a = split(\",\", s)[1]\n"
              "b = (var.m)[\"k\"].id\n"
              "c = [1, 2][0]\n"
              "d = { a = 1 }.a\n"
              "e = values(m)[*].id\n"
              "f = -[5, 6][1]\n"
              "g = [for x in l : x][0]\n");
}

static void test_fmt__crlf_and_empty_files(void **state)
{
    (void)state;
    check_fmt("a = 1\r\nb = <<EOT\r\nx\r\nEOT\r\n", "a = 1\nb = <<EOT\r\nx\r\nEOT\n");
    check_fmt("", "");
    check_fmt("\n\n  \n", "");
    check_fmt("# only a comment", "# only a comment\n");
}

static void test_fmt__refuses_files_that_do_not_parse(void **state)
{
    char *out = NULL;
    (void)state;
    assert_int_equal(fmt_text(&out, "a = = 1\n", 8), AMLSEC_EPARSE);
    free(out);
    assert_int_equal(fmt_text(&out, "a {\n", 4), AMLSEC_EPARSE);
    free(out);
    assert_int_equal(fmt_text(&out, "a = \"x\0\"\n", 9), AMLSEC_EPARSE);
    free(out);
}

static void test_fmt__ast_equal_sees_differences(void **state)
{
    static const char *const pairs[][2] = {
        {"a = 1\n", "a = 2\n"},
        {"a = 1\n", "b = 1\n"},
        {"a = \"x\"\n", "a = \"y\"\n"},
        {"a = x.y\n", "a = x.z\n"},
        {"a = x[0]\n", "a = x[1]\n"},
        {"a = [1, 2]\n", "a = [1]\n"},
        {"a = { k = 1 }\n", "a = { j = 1 }\n"},
        {"a = f(1)\n", "a = g(1)\n"},
        {"a = x && y\n", "a = x || y\n"},
        {"a = !x\n", "a = -x\n"},
        {"a = (x)\n", "a = x\n"},
        {"b \"l\" {}\n", "b l {}\n"},
        {"b \"l\" {}\n", "b \"m\" {}\n"},
        {"b {\n  c = 1\n}\n", "b {\n  c {}\n}\n"},
        {"a = <<EOT\nx\nEOT\n", "a = \"x\\n\"\n"},
        {"a = c ? 1 : 2\n", "a = c ? 1 : 3\n"},
        {"a = 1 + 2\n", "a = 1 - 2\n"},
        {"a = 1 < 2\n", "a = 1 <= 2\n"},
        {"a = [for x in l : x]\n", "a = [for y in l : y]\n"},
        {"a = x[*].y\n", "a = x[0].y\n"},
        {"a = x[*].y\n", "a = x.y\n"},
        {"a = [for x in l : x]\n", "a = [for x in l : x if x]\n"},
        {"a = [for i, x in l : x]\n", "a = [for x in l : x]\n"},
        {"a = { for k, v in m : k => v }\n", "a = { for k, v in m : k => v... }\n"},
        {"a = { for k, v in m : k => v }\n", "a = { for k, v in m : v => v }\n"},
        {"a = f(x)[0]\n", "a = f(x)[1]\n"},
        {"a = f(x).y\n", "a = f(x).z\n"},
        {"a = (x).y\n", "a = x.y\n"},
        {"a = (x)[*].y\n", "a = (x)[*]\n"},
        {"a = f(x)[0]\n", "a = g(x)[0]\n"},
        {"a = 18446744073709551616\n", "a = 18446744073709551617\n"},
        {"a = 18446744073709551616\n", "a = -18446744073709551616\n"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        struct src_file *s1 = NULL, *s2 = NULL;
        struct errbuf err = ERRBUF_INIT;
        struct arena a;
        struct diag_list diags;
        struct ast_file *f1 = NULL, *f2 = NULL, *f3 = NULL;
        arena_init(&a);
        diag_list_init(&diags);
        assert_int_equal(src_file_from_mem(&s1, "1", pairs[i][0], strlen(pairs[i][0]), &err), 0);
        assert_int_equal(src_file_from_mem(&s2, "2", pairs[i][1], strlen(pairs[i][1]), &err), 0);
        assert_int_equal(parse_file(&f1, s1, &a, &diags), 0);
        assert_int_equal(parse_file(&f2, s2, &a, &diags), 0);
        assert_int_equal(parse_file(&f3, s1, &a, &diags), 0);
        if (ast_file_equal(f1, f2))
            fail_msg("'%s' and '%s' compare equal", pairs[i][0], pairs[i][1]);
        assert_true(ast_file_equal(f1, f3));
        diag_list_release(&diags);
        arena_release(&a);
        src_file_free(s1);
        src_file_free(s2);
    }
}

/* --- the property over every file in the repository ---------------------- */

struct walk {
    size_t files, parsed;
};

static void round_trip_file(struct walk *w, const char *path)
{
    struct src_file *src = NULL, *out_src = NULL;
    struct errbuf err = ERRBUF_INIT;
    struct diag_list d1, d2;
    struct arena a;
    struct ast_file *f1 = NULL, *f2 = NULL;
    char *out = NULL, *again = NULL;
    int prc, rc;

    if (src_file_load(&src, path, &err) < 0)
        fail_msg("%s", err.msg);
    w->files++;
    arena_init(&a);
    diag_list_init(&d1);
    diag_list_init(&d2);
    prc = parse_file(&f1, src, &a, &d1);
    rc = fmt_text(&out, src->text, src->len);
    if (prc != 0) {
        if (rc != AMLSEC_EPARSE)
            fail_msg("'%s' does not parse but fmt returned %d", path, rc);
        goto out;
    }
    w->parsed++;
    if (rc != 0)
        fail_msg("fmt failed on '%s' (%d)", path, rc);
    assert_int_equal(src_file_from_mem(&out_src, "out", out, strlen(out), &err), 0);
    if (parse_file(&f2, out_src, &a, &d2) != 0)
        fail_msg("fmt output of '%s' does not parse", path);
    if (!ast_file_equal(f1, f2))
        fail_msg("fmt changed the meaning of '%s'", path);
    assert_int_equal(fmt_text(&again, out, strlen(out)), 0);
    if (strcmp(out, again) != 0)
        fail_msg("fmt is not idempotent on '%s'", path);
out:
    free(out);
    free(again);
    src_file_free(out_src);
    src_file_free(src);
    diag_list_release(&d1);
    diag_list_release(&d2);
    arena_release(&a);
}

static void walk_dir(struct walk *w, const char *dir, bool all_files)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode))
            walk_dir(w, path, all_files);
        else if (S_ISREG(st.st_mode) &&
                 (all_files || (n > 7 && strcmp(e->d_name + n - 7, ".amlsec") == 0)))
            round_trip_file(w, path);
    }
    closedir(d);
}

static void test_fmt__round_trip_every_repository_file(void **state)
{
    struct walk w = {0, 0};
    size_t corpus_before;
    (void)state;
    walk_dir(&w, AMLSEC_SRC_DIR "/tests", false);
    walk_dir(&w, AMLSEC_SRC_DIR "/examples", false);
    corpus_before = w.files;
    walk_dir(&w, AMLSEC_SRC_DIR "/fuzz/corpora/config", true);
    fprintf(stderr, "round trip: %zu files, %zu parsed\n", w.files, w.parsed);
    assert_true(corpus_before >= 1);      /* at least the bundled example */
    assert_true(w.files > corpus_before); /* and the fuzz corpus */
    assert_true(w.parsed >= 1);
}

static void test_fmt__bundled_example_is_formatted(void **state)
{
    struct buf text;
    struct errbuf err = ERRBUF_INIT;
    char *out = NULL;
    (void)state;
    buf_init(&text, 0);
    assert_int_equal(file_read_all(&text, AMLSEC_SRC_DIR "/examples/secure-workspace/main.amlsec",
                                   1 << 20, &err),
                     0);
    assert_int_equal(fmt_text(&out, text.ptr, text.len), 0);
    assert_string_equal(out, text.ptr);
    free(out);
    buf_release(&text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmt__aligns_a_run_of_attributes),
        cmocka_unit_test(test_fmt__blank_comment_and_block_end_runs),
        cmocka_unit_test(test_fmt__multi_line_value_ends_the_run),
        cmocka_unit_test(test_fmt__nesting_and_indentation),
        cmocka_unit_test(test_fmt__braces_of_multi_line_blocks_own_their_lines),
        cmocka_unit_test(test_fmt__comments_stay_in_place),
        cmocka_unit_test(test_fmt__trailing_whitespace_and_blank_lines),
        cmocka_unit_test(test_fmt__heredocs_are_verbatim),
        cmocka_unit_test(test_fmt__strings_and_templates_are_verbatim),
        cmocka_unit_test(test_fmt__maps),
        cmocka_unit_test(test_fmt__lists_and_calls),
        cmocka_unit_test(test_fmt__operators),
        cmocka_unit_test(test_fmt__arithmetic_and_for_expressions),
        cmocka_unit_test(test_fmt__postfix_steps),
        cmocka_unit_test(test_fmt__crlf_and_empty_files),
        cmocka_unit_test(test_fmt__refuses_files_that_do_not_parse),
        cmocka_unit_test(test_fmt__ast_equal_sees_differences),
        cmocka_unit_test(test_fmt__round_trip_every_repository_file),
        cmocka_unit_test(test_fmt__bundled_example_is_formatted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
