/* Unit tests for util/: buf, arena, errbuf, suggest, fileio. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/errbuf.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/suggest.h"

static void test_util__buf_grows_and_caps(void **state)
{
    struct buf b;
    (void)state;
    buf_init(&b, 10);
    assert_string_equal(b.ptr, "");
    assert_int_equal(buf_adds(&b, "hello"), 0);
    assert_int_equal(buf_addf(&b, "%d", 1234), 0);
    assert_string_equal(b.ptr, "hello1234");
    /* past the cap: refused, contents untouched */
    assert_int_equal(buf_adds(&b, "xy"), AMLSEC_ENOMEM);
    assert_string_equal(b.ptr, "hello1234");
    assert_int_equal(buf_addch(&b, '!'), 0);
    assert_int_equal(b.len, 10);
    buf_release(&b);
    assert_string_equal(b.ptr, "");
}

static void test_util__buf_detach_owns(void **state)
{
    struct buf b;
    size_t len;
    char *s;
    (void)state;
    buf_init(&b, 0);
    s = buf_detach(&b, &len);
    assert_non_null(s);
    assert_int_equal(len, 0);
    free(s);
    buf_adds(&b, "abc");
    s = buf_detach(&b, &len);
    assert_string_equal(s, "abc");
    assert_int_equal(len, 3);
    assert_string_equal(b.ptr, "");
    free(s);
}

static void test_util__arena_alloc_zeroed_aligned(void **state)
{
    struct arena a;
    (void)state;
    arena_init(&a);
    for (int i = 0; i < 10000; i++) {
        unsigned char *p = arena_alloc(&a, (size_t)(i % 97) + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        assert_int_equal(p[0], 0);
        p[0] = 0xff;
    }
    assert_non_null(arena_alloc(&a, 1 << 20)); /* larger than a block */
    assert_string_equal(arena_printf(&a, "%s-%d", "x", 7), "x-7");
    assert_string_equal(arena_strndup(&a, "abcdef", 3), "abc");
    arena_release(&a);
}

static void test_util__errbuf_prefix_keeps_code(void **state)
{
    struct errbuf err = ERRBUF_INIT;
    (void)state;
    assert_int_equal(errbuf_set(&err, AMLSEC_ENOTFOUND, "no such thing '%s'", "x"),
                     AMLSEC_ENOTFOUND);
    assert_int_equal(errbuf_prefix(&err, "state file '%s'", "s.json"), AMLSEC_ENOTFOUND);
    assert_string_equal(err.msg, "state file 's.json': no such thing 'x'");
    assert_int_equal(errbuf_set(NULL, -1, "ignored"), -1);
}

static void test_util__suggest_nearest(void **state)
{
    static const char *const words[] = {"validate", "version", "fmt", "plan", NULL};
    (void)state;
    assert_string_equal(suggest_nearest("valdiate", words, 0), "validate");
    assert_string_equal(suggest_nearest("fmtt", words, 0), "fmt");
    assert_null(suggest_nearest("xyzzy", words, 0));
    assert_int_equal(suggest_distance("kitten", "sitting"), 3);
}

static void test_util__file_write_atomic_roundtrip(void **state)
{
    char dir[] = "/tmp/amlsec-util-XXXXXX";
    char path[256];
    struct errbuf err = ERRBUF_INIT;
    struct buf b;
    struct stat st;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/f.json", dir);
    assert_int_equal(file_write_atomic(path, "one", 3, 0600, &err), 0);
    assert_int_equal(file_write_atomic(path, "two!", 4, 0600, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    buf_init(&b, 0);
    assert_int_equal(file_read_all(&b, path, 1 << 20, &err), 0);
    assert_string_equal(b.ptr, "two!");
    buf_reset(&b);
    assert_int_equal(file_read_all(&b, path, 2, &err), AMLSEC_EUSAGE);
    assert_non_null(strstr(err.msg, "limit"));
    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_int_equal(file_read_all(&b, path, 1 << 20, &err), AMLSEC_ENOTFOUND);
    buf_release(&b);
    snprintf(path, sizeof(path), "%s/f.json", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_util__buf_grows_and_caps),
        cmocka_unit_test(test_util__buf_detach_owns),
        cmocka_unit_test(test_util__arena_alloc_zeroed_aligned),
        cmocka_unit_test(test_util__errbuf_prefix_keeps_code),
        cmocka_unit_test(test_util__suggest_nearest),
        cmocka_unit_test(test_util__file_write_atomic_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
