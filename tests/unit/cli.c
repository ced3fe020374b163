/* Unit tests for cmd/cli.c's messages: cli_error, cli_warn and the log sink
 * print a message whole, however long, with the run's secrets masked over
 * the whole line (a canary straddling the old 8 KB and 4 KB buffers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "util/errbuf.h"
#include "util/log.h"

#define CANARY "canary-7f3a9c1e-secret-value"

/* What stderr received while fn(arg) ran (malloc'd). */
static char *capture_stderr(void (*fn)(const char *), const char *arg)
{
    FILE *tmp = tmpfile();
    int saved;
    long n;
    char *text;
    assert_non_null(tmp);
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    fn(arg);
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    assert_int_equal(fseek(tmp, 0, SEEK_END), 0);
    n = ftell(tmp);
    assert_true(n >= 0);
    text = calloc((size_t)n + 1, 1);
    assert_non_null(text);
    rewind(tmp);
    assert_int_equal(fread(text, 1, (size_t)n, tmp), (size_t)n);
    fclose(tmp);
    return text;
}

/* A line of `pad` bytes of 'x', the canary, then a tail: the canary
 * straddles byte `pad`'s buffer boundary when pad is a few bytes short of it. */
static char *long_line(size_t pad, const char *tail)
{
    size_t n = pad + strlen(CANARY) + strlen(tail);
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, 'x', pad);
    memcpy(s + pad, CANARY, strlen(CANARY));
    memcpy(s + pad + strlen(CANARY), tail, strlen(tail) + 1);
    return s;
}

/* The printed line holds every byte of the message, the canary masked. */
static void assert_whole_and_masked(const char *out, const char *prefix, size_t pad,
                                    const char *tail)
{
    size_t plen = strlen(prefix);
    assert_null(strstr(out, "canary-7f3a")); /* not even the canary's start */
    assert_int_equal(strncmp(out, prefix, plen), 0);
    assert_int_equal(strspn(out + plen, "x"), pad);
    assert_int_equal(strncmp(out + plen + pad, "***", 3), 0);
    assert_string_equal(out + plen + pad + 3, tail);
}

static void say_error(const char *msg)
{
    cli_error("%s", msg);
}

static void say_warning(const char *msg)
{
    cli_warn("%s", msg);
}

static void say_log(const char *msg)
{
    log_set_sink(LOG_DEBUG, cli_log_sink, NULL);
    log_msg(LOG_DEBUG, "GET %s", msg);
    log_set_sink(LOG_WARN, NULL, NULL);
}

/* cli_error and cli_warn (vmsg): a diagnostic longer than 8 KB is printed
 * whole, and the canary across byte 8,191 is masked, not cut in two (its
 * first half shown) */
static void test_cli__messages_whole_and_masked(void **state)
{
    static const size_t pads[] = {8180, 8191 - 20, 3 * 8192 + 5, 10};
    (void)state;
    cli_secret_add(CANARY);
    for (size_t i = 0; i < sizeof(pads) / sizeof(pads[0]); i++) {
        char *line = long_line(pads[i], " -- the end of the message\n");
        char *out = capture_stderr(say_error, line);
        assert_whole_and_masked(out, "amlsec: error: ", pads[i], " -- the end of the message\n\n");
        free(out);
        out = capture_stderr(say_warning, line);
        assert_whole_and_masked(out, "amlsec: warning: ", pads[i],
                                " -- the end of the message\n\n");
        free(out);
        free(line);
    }
}

/* The log (util/log.c formats, the sink masks): a line past 4 KB and 8 KB
 * is whole, the canary across either boundary masked. */
static void test_cli__log_lines_whole_and_masked(void **state)
{
    static const size_t pads[] = {4090 - 4, 8180 - 4, 20000, 0};
    (void)state;
    cli_secret_add(CANARY);
    for (size_t i = 0; i < sizeof(pads) / sizeof(pads[0]); i++) {
        char *line = long_line(pads[i], " HTTP/1.1");
        char *out = capture_stderr(say_log, line);
        assert_whole_and_masked(out, "[debug] GET ", pads[i], " HTTP/1.1\n");
        free(out);
        free(line);
    }
}

/* An error message too long for its buffer (util/errbuf.h, ERRBUF_MAX) is
 * masked before it is cut: a canary across the cut kept its first part
 * ("canary-7f3a9c1e-se"), which no later masking recognises. So is each
 * part errbuf_prefix cuts to half the buffer. */
static void test_cli__error_buffers_masked_before_cut(void **state)
{
    static const size_t pads[] = {ERRBUF_MAX - 12, ERRBUF_MAX / 2 - 10, ERRBUF_MAX / 2 - 16};
    (void)state;
    cli_secret_add(CANARY);
    cli_messages_init();
    for (size_t i = 0; i < sizeof(pads) / sizeof(pads[0]); i++) {
        char *line = long_line(pads[i], " and more text after it");
        struct errbuf err = ERRBUF_INIT;
        assert_int_equal(errbuf_set(&err, 5, "%s", line), 5);
        if (strlen(line) >= ERRBUF_MAX) /* else whole: the printer masks it */
            assert_null(strstr(err.msg, "canary-7f"));
        assert_int_equal(err.code, 5);
        errbuf_set(&err, 5, "short");
        assert_int_equal(errbuf_prefix(&err, "%s", line), 5);
        assert_null(strstr(err.msg, "canary-7f"));
        errbuf_set(&err, 5, "%s", line + 10);
        assert_int_equal(errbuf_prefix(&err, "state file 'x'"), 5);
        assert_null(strstr(err.msg, "canary-7f"));
        free(line);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli__messages_whole_and_masked),
        cmocka_unit_test(test_cli__log_lines_whole_and_masked),
        cmocka_unit_test(test_cli__error_buffers_masked_before_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
