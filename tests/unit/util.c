/* Unit tests for util/: buf, arena, errbuf, suggest, fileio. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/arena.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/errbuf.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/heap.h"
#include "util/jsonw.h"
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

/* The streaming writer: appended pieces, a field filled in at an offset,
 * an abort that leaves the old file and no temporary one. */
static void test_util__file_atomic_stream(void **state)
{
    char dir[] = "/tmp/amlsec-util-XXXXXX";
    char path[256], tmp[4096];
    struct errbuf err = ERRBUF_INIT;
    struct file_atomic fa;
    struct buf b;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/p", dir);
    assert_int_equal(file_atomic_open(&fa, path, 0600, &err), 0);
    assert_int_equal(file_atomic_write(&fa, "{\"h\":\"0000\",", 12, &err), 0);
    assert_int_equal(file_atomic_write(&fa, "\"x\":1}", 6, &err), 0);
    assert_int_equal(file_atomic_pwrite(&fa, "beef", 4, 6, &err), 0);
    assert_int_equal(file_atomic_commit(&fa, &err), 0);
    buf_init(&b, 0);
    assert_int_equal(file_read_all(&b, path, 1 << 20, &err), 0);
    assert_string_equal(b.ptr, "{\"h\":\"beef\",\"x\":1}");
    assert_int_equal(file_atomic_open(&fa, path, 0600, &err), 0);
    assert_int_equal(file_atomic_write(&fa, "half", 4, &err), 0);
    snprintf(tmp, sizeof(tmp), "%s", fa.tmp);
    file_atomic_abort(&fa);
    assert_int_equal(access(tmp, F_OK), -1);
    buf_reset(&b);
    assert_int_equal(file_read_all(&b, path, 1 << 20, &err), 0);
    assert_string_equal(b.ptr, "{\"h\":\"beef\",\"x\":1}");
    buf_release(&b);
    unlink(path);
    rmdir(dir);
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

/* jsonw_value writes what json_dumps(JSON_COMPACT) writes: escapes,
 * control characters, NUL inside strings and keys, UTF-8, nesting, order,
 * integers and reals. */
static void test_util__jsonw_matches_jansson(void **state)
{
    static const char *const docs[] = {
        "{}",
        "[]",
        "{\"a\":[1,-2,3.5,true,false,null,\"\"],\"b\":{},\"c\":[[]],\"z\":0,\"y\":1}",
        "{\"q\\\"k\\\\\":\"tab\\there\\nnl \\u0001\\u001f\\u007f / \\\\ \\\" \\b\\f\\r\"}",
        "{\"k\\u0001ey\":\"nul\\u0000inside\",\"utf8\":\"\\u00e9\\u4e2d\\ud83d\\ude00\"}",
        "[{\"properties\":{\"tenantId\":\"x\",\"accessPolicies\":[],\"sku\":{\"name\":\"s\"}}}]",
        "\"just a string\"",
        "-9223372036854775808",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_error_t jerr;
        json_t *v = json_loads(docs[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        char *want;
        struct buf b;
        assert_non_null(v);
        want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        buf_init(&b, 0);
        assert_int_equal(jsonw_value(&b, v), 0);
        assert_string_equal(b.ptr, want);
        assert_int_equal(b.len, strlen(want));
        buf_release(&b);
        free(want);
        json_decref(v);
    }
    {
        /* strings of every length up to 40 with an escape (or none) at
         * every place, eight bytes at a time and the rest byte by byte:
         * as jansson writes them */
        static const char *const pieces[] = {"a",    "\"",       "\\", "\n", "\x01", "\x1f",
                                             "\x7f", "\xc3\xa9", "~",  " ",  "/",    "\t"};
        unsigned seed = 7;
        for (int round = 0; round < 3000; round++) {
            char text[128];
            size_t n = 0, want_len = (size_t)(round % 41);
            json_t *v;
            char *want;
            struct buf b;
            while (n < want_len) {
                /* mostly plain bytes, so that whole words pass */
                const char *p =
                    pieces[(seed = seed * 1103515245u + 12345u) >> 16 & 7 ? 0 : (seed >> 8) % 12];
                memcpy(text + n, p, strlen(p));
                n += strlen(p);
            }
            v = json_stringn(text, n);
            assert_non_null(v);
            want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            buf_init(&b, 0);
            assert_int_equal(jsonw_string(&b, text, n), 0);
            assert_string_equal(b.ptr, want);
            assert_int_equal(b.len, strlen(want));
            buf_release(&b);
            free(want);
            json_decref(v);
        }
    }
    {
        /* reals in the shortest form that reads back the same double, where
         * jansson writes 17 digits (0.10000000000000001) */
        static const double reals[] = {0.1, 0.3, 0.1 + 0.2, 1.0 / 3, 2.5e-7, -1e300};
        static const char *const texts[] = {
            "0.1", "0.3", "0.30000000000000004", "0.3333333333333333", "2.5e-7", "-1e300",
        };
        for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
            json_t *v = json_real(reals[i]);
            struct buf b;
            buf_init(&b, 0);
            assert_int_equal(jsonw_value(&b, v), 0);
            assert_string_equal(b.ptr, texts[i]);
            assert_true(strtod(b.ptr, NULL) == reals[i]);
            buf_release(&b);
            json_decref(v);
        }
    }
    {
        /* a key holding a NUL (json_object_setn) */
        json_t *v = json_object();
        char *want;
        struct buf b;
        assert_int_equal(json_object_setn_new(v, "k\0ey", 4, json_integer(1)), 0);
        want = json_dumps(v, JSON_COMPACT);
        buf_init(&b, 0);
        assert_int_equal(jsonw_value(&b, v), 0);
        assert_string_equal(b.ptr, want);
        buf_release(&b);
        free(want);
        json_decref(v);
    }
}

static int add_to_buf(const char *p, size_t n, void *data)
{
    return buf_add(data, p, n) < 0 ? -1 : 0;
}

/* jsonw_loadb_member reads a value in place (a saved plan's change) as
 * jsonw_loadb reads its text alone: jansson's own reading where it holds
 * no decimal and no integer beyond int64, jsonw_loadb's otherwise; only
 * those are scanned before jansson reads them, and jsonw_loadb scans only
 * those (a state's resources, ARM's answers). */
static void test_util__jsonw_loadb_member_as_loadb(void **state)
{
    static const struct {
        const char *text;
        bool scanned; /* by jsonw_loadb_member: a scalar, or numbers */
        bool exact;   /* by jsonw_loadb: numbers jansson cannot hold */
    } cases[] = {
        {"{\"a\":1,\"b\":[true,null,\"x\"]}", false, false},
        {"[9223372036854775807,-9223372036854775808,-0,0]", false, false},
        {"{\"s\":\"1e20,]}\\\"\",\"t\":\"\\u0000x\"}", false, false},
        {"[1.5]", true, true},
        {"[2.0]", true, true},
        {"{\"n\":1e20,\"m\":{\"k\":[12.5e3]}}", true, true},
        {"[123456789012345678901234567890]", true, true},
        {"{\"a\":[{\"b\":-9223372036854775809}]}", true, true},
        {"[0.1,1E2,-0.0]", true, true},
        {"{\"$number\":\"\\u0000123456789012345678901\"}", false, false},
        {"\"x\"", true, false},
        {"12", true, false},
        {"1e20", true, true},
    };
    static const char *const after[] = {",", "]", "}", ",\"next\":[1.5]}"};
    char text[256];
    json_error_t je;
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (size_t k = 0; k < sizeof(after) / sizeof(after[0]); k++) {
            size_t used = 0, n = strlen(cases[i].text), w0 = jsonw_scanned();
            json_t *want = jsonw_loadb(cases[i].text, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je),
                   *got;
            /* jsonw_loadb scans a text only when jansson alone cannot read it exactly */
            assert_int_equal(jsonw_scanned() - w0, cases[i].exact ? n : 0);
            snprintf(text, sizeof(text), "%s%s", cases[i].text, after[k]);
            w0 = jsonw_scanned();
            got = jsonw_loadb_member(text, strlen(text), JSON_DECODE_ANY | JSON_ALLOW_NUL, &used);
            assert_non_null(want);
            assert_non_null(got);
            assert_true(json_equal(got, want));
            assert_int_equal(used, n);
            /* to the byte after it, then its text again; or nothing */
            assert_int_equal(jsonw_scanned() - w0, cases[i].scanned ? 2 * n + 1 : 0);
            json_decref(got);
            json_decref(want);
        }
    /* not JSON, or not a member's value (nothing after it): NULL */
    {
        static const char *const bad[] = {"{\"a\":}", "{\"a\":1", "[1.5", "12", "[1,]x", ""};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            size_t used = 0;
            assert_null(jsonw_loadb_member(bad[i], strlen(bad[i]), JSON_DECODE_ANY, &used));
        }
    }
}

/* Big numbers (whole numbers past int64, jsonw.h's object): every writer
 * puts their digits as a JSON number, in any layout, and jsonw_loadb
 * reads an integer past int64 back into one, leaving int64's range,
 * decimals and strings to jansson. */
static void test_util__jsonw_big_numbers(void **state)
{
    static const char big[] = "-123456789012345678901234567890";
    json_t *doc = json_pack("{s:o, s:[o, i, s], s:{s:s}}", "n", jsonw_big(big + 1, strlen(big) - 1),
                            "l", jsonw_big(big, strlen(big)), (json_int_t)1, "x", "m",
                            JSONW_BIG_KEY, "123"),
           *back;
    const char *want = "{\"n\":123456789012345678901234567890,\"l\":[-"
                       "123456789012345678901234567890,1,\"x\"],\"m\":{\"$number\":\"123\"}}";
    char *text;
    struct buf b;
    json_error_t je;
    (void)state;
    assert_non_null(doc);
    assert_string_equal(jsonw_big_digits(json_object_get(doc, "n")), big + 1);
    assert_null(jsonw_big_digits(json_object_get(doc, "m"))); /* a map: no NUL */
    buf_init(&b, 0);
    assert_int_equal(jsonw_value(&b, doc), 0);
    assert_string_equal(b.ptr, want);
    text = jsonw_dumps(doc, JSON_COMPACT);
    assert_string_equal(text, want);
    free(text);
    /* indented, as the state and `show` write it */
    text = jsonw_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    assert_non_null(strstr(text, "\"n\": 123456789012345678901234567890\n"));
    assert_non_null(strstr(text, "[\n    -123456789012345678901234567890,\n"));
    assert_null(strstr(text, "\\u0000"));
    back = jsonw_loadb(text, strlen(text), 0, &je);
    assert_non_null(back);
    assert_true(json_equal(back, doc));
    json_decref(back);
    free(text);
    /* pretty */
    buf_reset(&b);
    {
        struct jsonw_pretty o = {&b, 2, NULL, NULL};
        assert_int_equal(jsonw_pretty(&o, doc), 0);
        assert_non_null(strstr(b.ptr, "\"n\": 123456789012345678901234567890\n"));
        back = jsonw_loadb(b.ptr, b.len, 0, &je);
        assert_non_null(back);
        assert_true(json_equal(back, doc));
        json_decref(back);
    }
    /* through a callback */
    buf_reset(&b);
    assert_int_equal(jsonw_dump_callback(doc, add_to_buf, &b, JSON_COMPACT), 0);
    assert_string_equal(b.ptr, want);
    buf_release(&b);
    json_decref(doc);

    /* int64's edges stay integers; one past them is big; decimals, strings
     * and keys are jansson's */
    {
        static const char text2[] = "[9223372036854775807,9223372036854775808,-9223372036854775808,"
                                    "-9223372036854775809,1.5e30,\"99999999999999999999\",0,-0,"
                                    "{\"99999999999999999999\":100000000000000000000}]";
        json_t *v = jsonw_loadb(text2, strlen(text2), 0, &je);
        assert_non_null(v);
        assert_true(json_is_integer(json_array_get(v, 0)));
        assert_string_equal(jsonw_big_digits(json_array_get(v, 1)), "9223372036854775808");
        assert_true(json_is_integer(json_array_get(v, 2)));
        assert_string_equal(jsonw_big_digits(json_array_get(v, 3)), "-9223372036854775809");
        /* a decimal whose value is whole and beyond int64 is exact */
        assert_string_equal(jsonw_big_digits(json_array_get(v, 4)),
                            "1500000000000000000000000000000");
        assert_string_equal(json_string_value(json_array_get(v, 5)), "99999999999999999999");
        assert_string_equal(
            jsonw_big_digits(json_object_get(json_array_get(v, 8), "99999999999999999999")),
            "100000000000000000000");
        text = jsonw_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
        assert_string_equal(text, "[9223372036854775807,9223372036854775808,-9223372036854775808,"
                                  "-9223372036854775809,1500000000000000000000000000000,"
                                  "\"99999999999999999999\",0,0,"
                                  "{\"99999999999999999999\":100000000000000000000}]");
        free(text);
        json_decref(v);
    }
    /* decimals read exactly: whole ones (within 512 bits) are integers or
     * big numbers, the rest jansson's doubles; malformed ones refused */
    {
        static const struct {
            const char *text, *big; /* NULL: a real; "=N": the integer N */
        } cases[] = {
            {"1e20", "100000000000000000000"},
            {"-1.5E+20", "-150000000000000000000"},
            {"1.0e19", "10000000000000000000"},
            {"9.223372036854775808e18", "9223372036854775808"},
            {"-9.223372036854775809e18", "-9223372036854775809"},
            {"0.00000000000000000000123e43", "12300000000000000000000"},
            {"123456789012345678901.000", "123456789012345678901"},
            {"1e154",
             "1"
             "0000000000000000000000000000000000000000000000000000000000000000000000000000"
             "000000000000000000000000000000000000000000000000000000000000000000000000000000"},
            {"9.223372036854775807e18", "=9223372036854775807"},
            {"-9.223372036854775808e18", "=-9223372036854775808"},
            {"94810961.3212233e9", "=94810961321223300"}, /* not the double's ...296 */
            {"2.0", "=2"},
            {"-0.0", "=0"},
            {"1.5e-3", NULL},
            {"123456789012345678901.5", NULL},
            {"1e155", NULL}, /* beyond 512 bits: a double, as ever */
        };
        static const char *const bad[] = {"[1.e20]", "[1e]", "[01e20]", "[-e20]", "[1e+]"};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            char one[256];
            json_t *v;
            snprintf(one, sizeof(one), "[%s, 1]", cases[i].text);
            v = jsonw_loadb(one, strlen(one), 0, &je);
            assert_non_null(v);
            if (cases[i].big && cases[i].big[0] == '=')
                assert_true(json_is_integer(json_array_get(v, 0)) &&
                            json_integer_value(json_array_get(v, 0)) ==
                                strtoll(cases[i].big + 1, NULL, 10));
            else if (cases[i].big)
                assert_string_equal(jsonw_big_digits(json_array_get(v, 0)), cases[i].big);
            else
                assert_true(json_is_real(json_array_get(v, 0)));
            assert_int_equal(json_integer_value(json_array_get(v, 1)), 1);
            json_decref(v);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
            assert_null(jsonw_loadb(bad[i], strlen(bad[i]), 0, &je));
    }
    {
        char d[8];
        assert_int_equal(jsonw_whole_digits("0.0e7", 5, d, sizeof(d)), 1);
        assert_memory_equal(d, "0", 1);
        assert_int_equal(jsonw_whole_digits("12.50e1", 7, d, sizeof(d)), 3);
        assert_memory_equal(d, "125", 3);
        assert_int_equal(jsonw_whole_digits("12.55e1", 7, d, sizeof(d)), 0);
        assert_int_equal(jsonw_whole_digits("1e-1", 4, d, sizeof(d)), 0);
        assert_int_equal(jsonw_whole_digits("1e8", 3, d, sizeof(d)), sizeof(d) + 1);
        assert_int_equal(jsonw_whole_digits("1e7", 3, d, sizeof(d)), 8);
        assert_int_equal(jsonw_whole_digits("1e99999999999999999999", 22, d, sizeof(d)),
                         sizeof(d) + 1);
    }
    /* a NUL in a string is still refused where a big number made the
     * reader allow them; invalid JSON is still invalid */
    {
        static const char nul[] = "[100000000000000000000,\"a\\u0000b\"]";
        static const char bad[] = "[100000000000000000000,]";
        static const char lead[] = "[00000000000000000000001]";
        /* the internal form in the text: only as the reader would make it */
        static const char small[] = "[100000000000000000000,{\"$number\":\"\\u00001\"}]";
        static const char same[] =
            "[100000000000000000000,{\"$number\":\"\\u0000100000000000000000000\"}]";
        json_t *v;
        assert_null(jsonw_loadb(small, strlen(small), 0, &je));
        v = jsonw_loadb(same, strlen(same), 0, &je);
        assert_non_null(v);
        assert_true(json_equal(json_array_get(v, 0), json_array_get(v, 1)));
        json_decref(v);
        assert_null(jsonw_loadb(nul, strlen(nul), 0, &je));
        assert_null(jsonw_loadb(bad, strlen(bad), 0, &je));
        assert_null(jsonw_loadb(lead, strlen(lead), 0, &je));
    }
}

/* jsonw_pretty writes what json_dumps(JSON_INDENT(2) | JSON_SORT_KEYS)
 * writes (reals in their shortest round-tripping form): nesting, empty
 * containers, keys out of order (more than fit its small array too), a NUL
 * in a key, and the flush callback's pieces. */
static int pretty_flush(struct buf *b, void *data)
{
    struct buf *all = data;
    if (buf_add(all, b->ptr, b->len) < 0)
        return AMLSEC_ENOMEM;
    buf_reset(b);
    return 0;
}

static void test_util__jsonw_pretty_matches_jansson(void **state)
{
    static const char *const docs[] = {
        "{}",
        "[]",
        "{\"z\":[1,-2,3.5,1e300,true,false,null,\"\"],\"b\":{},\"a\":[[]],\"c\":[{}]}",
        "{\"q\\\"k\\\\\":\"tab\\there\\nnl \\u0001 / "
        "\\\\\",\"ab\":1,\"a\":{\"y\":[1,{\"x\":2,\"w\":[]}]}}",
        "[{\"properties\":{\"tenantId\":\"x\",\"accessPolicies\":[],\"sku\":{\"name\":\"s\"}}}]",
        "\"just a string\"",
        "7",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_error_t jerr;
        json_t *v = json_loads(docs[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        char *want;
        struct buf b;
        struct jsonw_pretty o = {&b, 2, NULL, NULL};
        assert_non_null(v);
        /* reals: jsonw writes the shortest of 15 to 17 digits that reads
         * back the same double; these read back at 15 */
        want = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY |
                                 JSON_REAL_PRECISION(15));
        buf_init(&b, 0);
        assert_int_equal(jsonw_pretty(&o, v), 0);
        assert_string_equal(b.ptr, want);
        buf_release(&b);
        free(want);
        json_decref(v);
    }
    {
        /* 40 keys in reverse order (one a prefix of another, one holding a
         * NUL), deep enough to flush in pieces */
        json_t *v = json_object(), *deep = json_array();
        char key[32], *want;
        struct buf b, all;
        struct jsonw_pretty o = {&b, 2, pretty_flush, &all};
        for (int k = 40; k > 0; k--) {
            snprintf(key, sizeof(key), "key%02d", k);
            json_object_set_new(v, key, json_integer(k));
        }
        json_object_set_new(v, "key0", json_true());
        assert_int_equal(json_object_setn_new(v, "k\0ey", 4, json_integer(1)), 0);
        for (int k = 0; k < 5000; k++)
            json_array_append_new(deep, json_pack("{s:i, s:[s]}", "b", k, "a", "x"));
        json_object_set_new(v, "deep", deep);
        want = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);
        buf_init(&b, 0);
        buf_init(&all, 0);
        assert_int_equal(jsonw_pretty(&o, v), 0);
        assert_int_equal(pretty_flush(&b, &all), 0);
        assert_true(all.len > (1u << 17));
        assert_int_equal(all.len, strlen(want));
        assert_memory_equal(all.ptr, want, all.len);
        buf_release(&b);
        buf_release(&all);
        free(want);
        json_decref(v);
    }
}

/* RFC 4648 section 10 vectors, url-safe output, lenient and strict decoding. */
static void test_util__base64(void **state)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const std[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    struct buf b;
    (void)state;
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        buf_init(&b, 0);
        assert_int_equal(base64_encode(&b, plain[i], strlen(plain[i])), 0);
        assert_string_equal(b.ptr, std[i]);
        buf_reset(&b);
        assert_int_equal(base64url_encode(&b, plain[i], strlen(plain[i])), 0);
        assert_string_equal(b.ptr, url[i]);
        buf_reset(&b);
        assert_int_equal(base64_decode(&b, url[i], strlen(url[i])), 0);
        assert_int_equal(b.len, strlen(plain[i]));
        assert_memory_equal(b.ptr, plain[i], b.len);
        buf_reset(&b);
        assert_int_equal(base64_decode_strict(&b, std[i], strlen(std[i])), 0);
        assert_string_equal(b.ptr, plain[i]);
        buf_release(&b);
    }
    buf_init(&b, 0);
    assert_int_equal(base64_encode(&b, "\xfb\xff", 2), 0);
    assert_string_equal(b.ptr, "+/8=");
    buf_reset(&b);
    assert_int_equal(base64url_encode(&b, "\xfb\xff", 2), 0);
    assert_string_equal(b.ptr, "-_8");
    buf_reset(&b);
    assert_int_equal(base64_decode(&b, "Zm9v\nYmFy", 9), 0); /* whitespace is skipped */
    assert_string_equal(b.ptr, "foobar");
    buf_reset(&b);
    assert_int_equal(base64_decode(&b, "Zm9v*", 5), AMLSEC_EPARSE);
    assert_int_equal(base64_decode(&b, "Zm9vY", 5), AMLSEC_EPARSE); /* a dangling character */
    assert_int_equal(base64_decode_strict(&b, "Zm8", 3), AMLSEC_EPARSE);
    assert_int_equal(base64_decode_strict(&b, "Zm9\nv", 5), AMLSEC_EPARSE);
    assert_int_equal(base64_decode_strict(&b, "Zm-_", 4), AMLSEC_EPARSE);
    assert_int_equal(base64_decode_strict(&b, "Z=9v", 4), AMLSEC_EPARSE);
    buf_release(&b);
}

/* str_dotted writes what snprintf "%s.%s" (or "%s" for an empty base)
 * would, cut where it would cut. */
static void test_util__str_dotted(void **state)
{
    static const struct {
        const char *base, *name;
    } cases[] = {
        {"properties", "encryption"}, {"", "name"}, {NULL, "name"}, {"a.b", "c"}, {"x", ""}};
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (size_t size = 0; size <= 24; size++) {
            char got[24] = "untouched", want[24] = "untouched";
            int n = cases[i].base && cases[i].base[0]
                        ? snprintf(want, size, "%s.%s", cases[i].base, cases[i].name)
                        : snprintf(want, size, "%s", cases[i].name);
            assert_int_equal(str_dotted(got, size, cases[i].base, cases[i].name), (size_t)n);
            assert_string_equal(got, want);
        }
}

/* The VmFlags of the mapping that holds p (/proc/self/smaps), or "". */
static void vm_flags_of(const void *p, char *flags, size_t size)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    bool inside = false;
    flags[0] = '\0';
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        unsigned long from, to;
        if (sscanf(line, "%lx-%lx ", &from, &to) == 2 && strchr(line, '-') < strchr(line, ' '))
            inside = (uintptr_t)p >= from && (uintptr_t)p < to;
        else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(flags, size, "%s", line + 8);
            break;
        }
    }
    fclose(f);
}

/* heap_huge_pages: the heap's next growth is asked to be backed with huge
 * pages (the mapping's "hg" flag), and what is allocated next lies in it;
 * nothing for what is too small to pay. */
static void test_util__heap_huge_pages(void **state)
{
    char dir[] = "/tmp/amlsec-unit-heap-XXXXXX", path[64], flags[512];
    FILE *f;
    void *p;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/main.amlsec", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs("0123456789", f) >= 0, 1);
    fclose(f);
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs("0123", f) >= 0, 1);
    fclose(f);
    assert_int_equal(heap_expect_files(dir, ".amlsec", 3), 30);
    assert_int_equal(heap_expect_files(dir, NULL, 2), 28);
    assert_int_equal(heap_expect_files(path, NULL, 5), 20);
    assert_int_equal(heap_expect_files("/nonexistent/amlsec", NULL, 5), 0);
    unlink(path);
    snprintf(path, sizeof(path), "%s/main.amlsec", dir);
    unlink(path);
    rmdir(dir);

    assert_false(heap_huge_pages(HEAP_HUGE_MIN - 1));
    if (!heap_huge_pages((size_t)64 << 20)) {
        /* AddressSanitizer's allocator, strict overcommit, or no THP advice */
        print_message("heap_huge_pages: not here (sanitizer or kernel settings)\n");
        return;
    }
    p = malloc((size_t)8 << 20); /* a block a mapping of its own held before */
    assert_non_null(p);
    /* its end: the heap's first pages, below the growth, are not advised */
    vm_flags_of((char *)p + ((size_t)8 << 20) - 1, flags, sizeof(flags));
    print_message("the block's mapping: %s", flags);
    assert_non_null(strstr(flags, " hg"));
    free(p);
    assert_false(heap_huge_pages((size_t)64 << 20)); /* once */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_util__jsonw_matches_jansson),
        cmocka_unit_test(test_util__jsonw_pretty_matches_jansson),
        cmocka_unit_test(test_util__buf_grows_and_caps),
        cmocka_unit_test(test_util__buf_detach_owns),
        cmocka_unit_test(test_util__arena_alloc_zeroed_aligned),
        cmocka_unit_test(test_util__errbuf_prefix_keeps_code),
        cmocka_unit_test(test_util__suggest_nearest),
        cmocka_unit_test(test_util__file_write_atomic_roundtrip),
        cmocka_unit_test(test_util__file_atomic_stream),
        cmocka_unit_test(test_util__base64),
        cmocka_unit_test(test_util__jsonw_big_numbers),
        cmocka_unit_test(test_util__jsonw_loadb_member_as_loadb),
        cmocka_unit_test(test_util__heap_huge_pages),
        cmocka_unit_test(test_util__str_dotted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
