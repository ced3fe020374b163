#include "parser/value.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/jsonw.h"
#include "util/banned.h"

#define UNKNOWN_KEY "$unknown"

/* Every unknown is an object whose one key is "$unknown" and whose tag
 * holds a NUL, which no string of the language, of a JSON file it reads
 * or of an ARM answer holds: a map the configuration writes in the same
 * shape ({ "$unknown" = true }) stays a map. The untagged unknown's tag is
 * the string "\0"; a tagged one's "ADDRESS\0ATTR"; a deferred call's
 * {"call": "NAME\0", "args": [...]}. */
static const char UNTAGGED[] = ""; /* with its terminating NUL: "\0" */

/* value_unknown()'s object, once made */
static json_t *shared_unknown;

json_t *value_unknown(void)
{
    /* One shared object: evaluation makes an unknown for every computed
     * attribute of every instance, and nothing changes an unknown in place
     * (known_fill replaces it). jansson's reference counts are atomic. The
     * static reference keeps it alive for the life of the process. */
    json_t **shared = &shared_unknown;
    json_t *o = __atomic_load_n(shared, __ATOMIC_ACQUIRE);
    if (o == NULL) {
        json_t *fresh = json_object(), *expected = NULL;
        if (fresh == NULL ||
            json_object_set_new_nocheck(fresh, UNKNOWN_KEY,
                                        json_stringn_nocheck(UNTAGGED, sizeof(UNTAGGED))) < 0) {
            json_decref(fresh);
            return NULL;
        }
        if (__atomic_compare_exchange_n(shared, &expected, fresh, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            o = fresh;
        else {
            json_decref(fresh);
            o = expected;
        }
    }
    return json_incref(o);
}

/* A tagged unknown is {"$unknown": "ADDRESS\0ATTR"}: one key instead of
 * three, since a configuration holds one per computed attribute of every
 * instance (bench/bench_parse: 70,000 of them). */
json_t *value_unknown_of(const char *address, const char *attr)
{
    size_t la = strlen(address), lt = strlen(attr);
    char small[256], *tag = la + lt + 2 <= sizeof(small) ? small : malloc(la + lt + 2);
    json_t *o = NULL, *s;
    if (tag == NULL)
        return NULL;
    memcpy(tag, address, la + 1);
    memcpy(tag + la + 1, attr, lt + 1);
    s = json_stringn_nocheck(tag, la + lt + 1);
    if (tag != small)
        free(tag);
    if (s && (o = json_object()) != NULL && json_object_set_new_nocheck(o, UNKNOWN_KEY, s) < 0) {
        json_decref(o);
        o = NULL;
    } else if (o == NULL) {
        json_decref(s);
    }
    return o;
}

bool value_unknown_origin(const json_t *v, const char **address, const char **attr)
{
    const json_t *tag =
        json_is_object(v) && json_object_size(v) == 1 ? json_object_get(v, UNKNOWN_KEY) : NULL;
    const char *s = json_string_value(tag);
    size_t la;
    if (s == NULL)
        return false;
    la = strlen(s);
    if (la + 1 >= json_string_length(tag))
        return false; /* not ADDRESS\0ATTR */
    *address = s;
    *attr = s + la + 1;
    return true;
}

/* A deferred call is {"$unknown": {"call": "NAME\0", "args": [...]}}: the
 * name is written with its terminating NUL. */
json_t *value_unknown_call(const char *fn, json_t *args)
{
    json_t *o = json_object(),
           *tag = json_pack("{s:o, s:o}", "call", json_stringn_nocheck(fn, strlen(fn) + 1), "args",
                            args);
    if (o == NULL || tag == NULL || json_object_set_new_nocheck(o, UNKNOWN_KEY, tag) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

bool value_unknown_call_parts(const json_t *v, const char **fn, const json_t **args)
{
    const json_t *tag =
        json_is_object(v) && json_object_size(v) == 1 ? json_object_get(v, UNKNOWN_KEY) : NULL;
    const json_t *name = json_object_get(tag, "call"), *list = json_object_get(tag, "args");
    if (!json_is_object(tag) || json_object_size(tag) != 2 || !json_is_string(name) ||
        !json_is_array(list) || strlen(json_string_value(name)) + 1 != json_string_length(name))
        return false;
    *fn = json_string_value(name);
    *args = list;
    return true;
}

bool value_unknown_untagged(const json_t *v)
{
    /* most are the shared one: no look-up */
    if (v == __atomic_load_n(&shared_unknown, __ATOMIC_ACQUIRE))
        return v != NULL;
    if (json_is_object(v) && json_object_size(v) == 1) {
        const json_t *tag = json_object_get(v, UNKNOWN_KEY);
        return json_string_length(tag) == 1 && json_string_value(tag)[0] == '\0';
    }
    return false;
}

bool value_is_unknown(const json_t *v)
{
    const json_t *tag;
    const char *fn;
    const json_t *args;
    if (!json_is_object(v) || json_object_size(v) != 1)
        return false;
    tag = json_object_get(v, UNKNOWN_KEY);
    /* a tag holds a NUL, which no string of the language can */
    return (json_is_string(tag) && strlen(json_string_value(tag)) < json_string_length(tag)) ||
           (json_is_object(tag) && value_unknown_call_parts(v, &fn, &args));
}

bool value_unknown_resolvable(const json_t *v)
{
    size_t i;
    const char *k;
    json_t *x;
    const char *fn;
    const json_t *args;
    if (value_unknown_call_parts(v, &fn, &args))
        return value_unknown_resolvable(args);
    if (value_is_unknown(v))
        return !value_unknown_untagged(v);
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) if (!value_unknown_resolvable(x)) return false;
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x) if (!value_unknown_resolvable(x)) return false;
    }
    return true;
}

bool value_contains_unknown(const json_t *v)
{
    size_t i;
    const char *k;
    json_t *x;
    if (value_is_unknown(v))
        return true;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) if (value_contains_unknown(x)) return true;
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x) if (value_contains_unknown(x)) return true;
    }
    return false;
}

json_t *value_unknowns_null(json_t *v)
{
    const char *k;
    json_t *x, *r = NULL;
    size_t i;
    if (value_is_unknown(v))
        return json_null();
    if (!value_contains_unknown(v))
        return json_incref(v);
    if ((r = json_is_array(v) ? json_array() : json_object()) == NULL)
        return NULL;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) if (json_array_append_new(r, value_unknowns_null(x)) < 0) break;
        if (i < json_array_size(v))
            goto oom;
    } else {
        json_object_foreach(v, k, x)
        {
            json_t *y = value_unknowns_null(x);
            if (y == NULL || json_object_set_new(r, k, y) < 0)
                goto oom;
        }
    }
    return r;
oom:
    json_decref(r);
    return NULL;
}

json_t *value_number(double d)
{
    char text[40];
    if (!isfinite(d))
        return NULL;
    /* whole numbers are integers (int64): they print without a fraction */
    if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
        return json_integer((json_int_t)d);
    /* 15 significant digits: 0.1 + 0.2 is 0.3, and the value reads back
     * the same from any JSON that printed it (ARM, the state) */
    snprintf(text, sizeof(text), "%.*e", VALUE_DIGITS - 1, d);
    if (fabs(d) >= 9223372036854775808.0 && fabs(d) < 0x1p512) {
        /* whole (every double past 2^53 is): the whole number of those
         * 15 digits, printed in all its digits as Terraform does */
        char digits[VALUE_DIGITS + 330], *p = digits;
        const char *t = text;
        int exp = (int)strtol(strchr(text, 'e') + 1, NULL, 10);
        if (*t == '-')
            *p++ = *t++;
        for (; *t != 'e'; t++)
            if (*t != '.')
                *p++ = *t;
        memset(p, '0', (size_t)(exp - (VALUE_DIGITS - 1)));
        p += exp - (VALUE_DIGITS - 1);
        return jsonw_big(digits, (size_t)(p - digits));
    }
    return json_real(strtod(text, NULL));
}

bool value_is_big(const json_t *v)
{
    return jsonw_big_digits(v) != NULL;
}

const char *value_big_digits(const json_t *v)
{
    return jsonw_big_digits(v);
}

bool value_is_whole(const json_t *v)
{
    return json_is_integer(v) || value_is_big(v);
}

bool value_is_number(const json_t *v)
{
    return json_is_number(v) || value_is_big(v);
}

json_t *value_from_bn(const BIGNUM *n)
{
    char *dec;
    json_t *v;
    if (BN_num_bits(n) > VALUE_BIG_BITS)
        return NULL;
    if (BN_num_bits(n) <= 63 || (BN_is_negative(n) && BN_num_bits(n) == 64)) {
        /* within int64 (-2^63 included): BN_bn2dec, then strtoll */
        unsigned char mag[8] = {0};
        uint64_t u = 0;
        if (BN_bn2binpad(n, mag, sizeof(mag)) < 0)
            return NULL;
        for (size_t i = 0; i < sizeof(mag); i++)
            u = u << 8 | mag[i];
        if (!BN_is_negative(n))
            return json_integer((json_int_t)u);
        if (u <= (uint64_t)INT64_MAX + 1)
            return json_integer(u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(json_int_t)u);
    }
    if ((dec = BN_bn2dec(n)) == NULL)
        return NULL;
    v = jsonw_big(dec, strlen(dec));
    OPENSSL_free(dec);
    return v;
}

BIGNUM *value_to_bn(const json_t *v)
{
    const char *big = jsonw_big_digits(v);
    BIGNUM *n = NULL;
    if (big)
        return BN_dec2bn(&n, big) ? n : NULL;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
        unsigned char mag[8];
        for (int k = 7; k >= 0; k--, u >>= 8)
            mag[k] = (unsigned char)(u & 0xff);
        if ((n = BN_bin2bn(mag, sizeof(mag), NULL)) != NULL)
            BN_set_negative(n, i < 0);
        return n;
    }
    return NULL;
}

double value_to_double(const json_t *v)
{
    const char *big = jsonw_big_digits(v);
    return big ? strtod(big, NULL) : json_number_value(v);
}

/* floor(v) as a new BIGNUM, and whether v had a fraction: doubles are
 * finite (value_number), and %.0f prints all the digits of a whole one */
static BIGNUM *floor_bn(const json_t *v, bool *frac)
{
    char text[400];
    BIGNUM *n = NULL;
    double d;
    *frac = false;
    if (value_is_whole(v))
        return value_to_bn(v);
    d = json_real_value(v);
    *frac = d != floor(d);
    snprintf(text, sizeof(text), "%.0f", floor(d));
    return BN_dec2bn(&n, text) ? n : NULL;
}

int value_number_cmp(const json_t *a, const json_t *b)
{
    BIGNUM *x, *y;
    bool fx, fy;
    int c;
    if (json_is_integer(a) && json_is_integer(b))
        return (json_integer_value(a) > json_integer_value(b)) -
               (json_integer_value(a) < json_integer_value(b));
    if (!value_is_big(a) && !value_is_big(b)) {
        double p = json_number_value(a), q = json_number_value(b);
        return (p > q) - (p < q);
    }
    /* a big number: exactly, floor against floor, then the fractions */
    x = floor_bn(a, &fx);
    y = floor_bn(b, &fy);
    c = x && y ? BN_cmp(x, y) : 0;
    if (c == 0)
        c = (int)fx - (int)fy;
    BN_free(x);
    BN_free(y);
    return c;
}

bool value_equal(const json_t *a, const json_t *b)
{
    size_t i;
    const char *k;
    json_t *x;
    if (value_is_number(a) && value_is_number(b))
        return value_number_cmp(a, b) == 0;
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        json_array_foreach(a, i, x) if (!value_equal(x, json_array_get(b, i))) return false;
        return true;
    }
    if (json_is_object(a) && json_is_object(b) && !value_is_big(a) && !value_is_big(b)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_foreach((json_t *)a, k, x)
        {
            const json_t *y = json_object_get(b, k);
            if (y == NULL || !value_equal(x, y))
                return false;
        }
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b) == 1 || (json_is_null(a) && json_is_null(b));
}

static int json_numbers(json_t *v, json_t **fixed, int depth)
{
    *fixed = NULL;
    if (depth > 64)
        return -2;
    if (value_is_big(v)) { /* jsonw_loadb's: within the limit, canonical */
        BIGNUM *n = value_to_bn(v);
        bool ok = n && BN_num_bits(n) <= VALUE_BIG_BITS;
        BN_free(n);
        return ok ? 0 : -3;
    }
    if (json_is_real(v)) {
        /* a decimal jsonw_loadb left a double: whole past 512 bits is too
         * large, as its digits written out are (not an inexact double) */
        if (isfinite(json_real_value(v)) && fabs(json_real_value(v)) >= 0x1p512)
            return -3;
        *fixed = value_number(json_real_value(v));
        return *fixed ? 0 : -1;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *f;
            int rc = json_numbers(json_array_get(v, i), &f, depth + 1);
            if (rc < 0)
                return rc;
            if (f)
                json_array_set_new(v, i, f);
        }
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            json_t *f;
            int rc = json_numbers(x, &f, depth + 1);
            if (rc < 0)
                return rc;
            if (f)
                json_object_set_new(v, k, f);
        }
    }
    return 0;
}

int value_json_numbers(json_t *v, json_t **fixed)
{
    return json_numbers(v, fixed, 0);
}

int value_number_text(struct buf *out, const json_t *v)
{
    const char *big = jsonw_big_digits(v);
    if (big)
        return buf_adds(out, big);
    if (json_is_integer(v))
        return buf_addf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return buf_addf(out, "%.*g", VALUE_DIGITS, json_real_value(v));
}

const char *value_type_name(const json_t *v)
{
    if (v == NULL || json_is_null(v))
        return "null";
    if (value_is_unknown(v))
        return "unknown";
    if (json_is_string(v))
        return "string";
    if (value_is_number(v))
        return "number";
    if (json_is_boolean(v))
        return "bool";
    if (json_is_array(v))
        return "list";
    return "map";
}

static bool bare_key(const char *k)
{
    if (!(isalpha((unsigned char)*k) || *k == '_'))
        return false;
    for (; *k; k++)
        if (!(isalnum((unsigned char)*k) || *k == '_' || *k == '-'))
            return false;
    return true;
}

static int quote(struct buf *out, const char *s)
{
    buf_addch(out, '"');
    for (; *s; s++) {
        switch (*s) {
        case '"':
            buf_adds(out, "\\\"");
            break;
        case '\\':
            buf_adds(out, "\\\\");
            break;
        case '\n':
            buf_adds(out, "\\n");
            break;
        case '\t':
            buf_adds(out, "\\t");
            break;
        case '\r':
            buf_adds(out, "\\r");
            break;
        case '$':
            if (s[1] == '{')
                buf_addch(out, '$');
            buf_addch(out, '$');
            break;
        default:
            if ((unsigned char)*s < 0x20)
                buf_addf(out, "\\u%04x", (unsigned char)*s);
            else
                buf_addch(out, *s);
        }
    }
    return buf_addch(out, '"');
}

int value_format(struct buf *out, const json_t *v)
{
    size_t i;
    const char *k;
    json_t *x;
    bool first = true;

    if (v == NULL || json_is_null(v))
        return buf_adds(out, "null");
    if (value_is_unknown(v))
        return buf_adds(out, "(known after apply)");
    if (value_is_big(v))
        return value_number_text(out, v);
    switch (json_typeof(v)) {
    case JSON_STRING:
        return quote(out, json_string_value(v));
    case JSON_INTEGER:
        return buf_addf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return value_number_text(out, v);
    case JSON_TRUE:
        return buf_adds(out, "true");
    case JSON_FALSE:
        return buf_adds(out, "false");
    case JSON_ARRAY:
        buf_addch(out, '[');
        json_array_foreach(v, i, x)
        {
            if (i)
                buf_adds(out, ", ");
            value_format(out, x);
        }
        return buf_addch(out, ']');
    case JSON_OBJECT:
        if (json_object_size(v) == 0)
            return buf_adds(out, "{}");
        buf_adds(out, "{ ");
        json_object_foreach((json_t *)v, k, x)
        {
            if (!first)
                buf_adds(out, ", ");
            first = false;
            if (bare_key(k))
                buf_adds(out, k);
            else
                quote(out, k);
            buf_adds(out, " = ");
            value_format(out, x);
        }
        return buf_adds(out, " }");
    default:
        return buf_adds(out, "null");
    }
}

/* A known map whose one key is "$unknown" (the language writes
 * { "$unknown" = [...] }), in a plan file {"$unknown": {"$known": MAP'S
 * VALUE}}, so that it never reads back as an unknown's form (each
 * such map wrapped once, each wrapping read back once). */
#define FILE_KNOWN_KEY "$known"

/* An unknown in a plan file's form as the unknown: {"$unknown": ["ADDRESS",
 * "ATTR"]} a tagged one, {"$unknown": true} the untagged one,
 * {"$unknown": {"call": NAME, "args": [...]}} a deferred call (its
 * arguments read back in place). 0 with *out a new reference, or NULL when
 * v is none of those; -1 when out of memory. */
static int file_form_unknown(json_t *v, json_t **out)
{
    json_t *tag =
        json_is_object(v) && json_object_size(v) == 1 ? json_object_get(v, UNKNOWN_KEY) : NULL;
    const char *address = json_string_value(json_array_get(tag, 0)),
               *attr = json_string_value(json_array_get(tag, 1)),
               *fn = json_string_value(json_object_get(tag, "call"));
    json_t *args = json_object_get(tag, "args");
    *out = NULL;
    if (json_array_size(tag) == 2 && address && attr)
        *out = value_unknown_of(address, attr);
    else if (json_is_true(tag))
        *out = value_unknown();
    else if (json_object_size(tag) == 2 && fn && json_is_array(args)) {
        if (value_from_file_form(args) < 0)
            return -1;
        *out = value_unknown_call(fn, json_incref(args));
    } else
        return 0;
    return *out ? 0 : -1;
}

json_t *value_file_form(json_t *v)
{
    const char *address, *attr, *k;
    json_t *x, *r = NULL;
    size_t i;
    const json_t *args;
    if (value_unknown_origin(v, &address, &attr))
        return json_pack("{s:[s,s]}", UNKNOWN_KEY, address, attr);
    if (value_unknown_untagged(v))
        return json_pack("{s:b}", UNKNOWN_KEY, 1);
    if (value_unknown_call_parts(v, &k, &args)) {
        json_t *f = value_file_form((json_t *)args);
        return f ? json_pack("{s:{s:s, s:o}}", UNKNOWN_KEY, "call", k, "args", f) : NULL;
    }
    if (json_is_object(v) && json_object_size(v) == 1 && json_object_get(v, UNKNOWN_KEY)) {
        json_t *f = value_file_form(json_object_get(v, UNKNOWN_KEY));
        return f ? json_pack("{s:{s:o}}", UNKNOWN_KEY, FILE_KNOWN_KEY, f) : NULL;
    }
    if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            json_t *f = value_file_form(x);
            if (f == NULL) {
                json_decref(r);
                return NULL;
            }
            if (f != x && r == NULL) { /* the first one changed: a copy from here */
                r = json_array();
                for (size_t j = 0; r && j < i; j++)
                    if (json_array_append(r, json_array_get(v, j)) < 0)
                        json_decref(r), r = NULL;
                if (r == NULL) {
                    json_decref(f);
                    return NULL;
                }
            }
            if (r && json_array_append_new(r, f) < 0) {
                json_decref(r);
                return NULL;
            }
            if (r == NULL)
                json_decref(f);
        }
    } else if (json_is_object(v) && !value_is_big(v)) {
        json_object_foreach(v, k, x)
        {
            json_t *f = value_file_form(x);
            if (f == NULL) {
                json_decref(r);
                return NULL;
            }
            if (f != x && r == NULL && (r = json_copy(v)) == NULL) {
                json_decref(f);
                return NULL;
            }
            if (r && json_object_set_new(r, k, f) < 0) {
                json_decref(r);
                return NULL;
            }
            if (r == NULL)
                json_decref(f);
        }
    }
    return r ? r : json_incref(v);
}

/* x read back from a plan file's form: *out a new reference to what
 * replaces it, or NULL when x stays (its insides read back in place). 0,
 * or -1 when out of memory. */
static int from_file_node(json_t *x, json_t **out)
{
    json_t *tag =
        json_is_object(x) && json_object_size(x) == 1 ? json_object_get(x, UNKNOWN_KEY) : NULL;
    json_t *known = json_is_object(tag) && json_object_size(tag) == 1
                        ? json_object_get(tag, FILE_KNOWN_KEY)
                        : NULL;
    json_t *inner;
    *out = NULL;
    if (known) { /* a known map written wrapped: unwrapped once */
        if (from_file_node(known, &inner) < 0)
            return -1;
        if (inner == NULL)
            inner = json_incref(known);
        if ((*out = json_object()) == NULL) {
            json_decref(inner);
            return -1;
        }
        if (json_object_set_new_nocheck(*out, UNKNOWN_KEY, inner) < 0) {
            json_decref(*out);
            *out = NULL;
            return -1;
        }
        return 0;
    }
    if (file_form_unknown(x, out) < 0)
        return -1;
    return *out ? 0 : value_from_file_form(x);
}

int value_from_file_form(json_t *v)
{
    const char *k;
    json_t *x, *r;
    size_t i;
    void *tmp;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            if (from_file_node(x, &r) < 0 || (r && json_array_set_new(v, i, r) < 0))
                return -1;
        }
    } else if (json_is_object(v)) {
        json_object_foreach_safe(v, tmp, k, x)
        {
            if (from_file_node(x, &r) < 0 || (r && json_object_set_new(v, k, r) < 0))
                return -1;
        }
    }
    return 0;
}

bool value_text_may_hold_file_forms(const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    if (memchr(text, '$', len))
        return true;
    while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL && p + 1 < end) {
        if (p[1] == 'u')
            return true;
        p += 2; /* the escaped character, whatever it is */
    }
    return false;
}

bool value_path_sensitive(const json_t *paths, const char *path, bool or_inside)
{
    size_t i, n = strlen(path);
    const json_t *p;
    json_array_foreach(paths, i, p)
    {
        const char *s = json_string_value(p);
        size_t m = s ? strlen(s) : 0;
        if (s == NULL)
            continue;
        if (strncmp(path, s, m) == 0 && (path[m] == '\0' || path[m] == '.'))
            return true; /* s encloses path */
        if (or_inside && strncmp(s, path, n) == 0 && (n == 0 || s[n] == '.'))
            return true; /* path encloses s */
    }
    return false;
}

json_t *value_paths_none(void)
{
    static json_t *shared;
    json_t *a = __atomic_load_n(&shared, __ATOMIC_ACQUIRE), *expected = NULL;
    if (a == NULL) {
        if ((a = json_array()) == NULL)
            return NULL;
        /* the static reference keeps it for the life of the process */
        if (!__atomic_compare_exchange_n(&shared, &expected, a, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE)) {
            json_decref(a);
            a = expected;
        }
    }
    return json_incref(a);
}

void value_sensitive_add(json_t *paths, const char *path)
{
    if (json_is_array(paths) && !value_path_sensitive(paths, path, false))
        json_array_append_new(paths, json_string(path));
}
