#include "util/jsonw.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

int jsonw_string(struct buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF"; /* as jansson writes them */
    static const char from[] = "\"\\\b\f\n\r\t", to[] = "\"\\bfnrt";
    size_t run = 0;
    if (buf_addch(b, '"') < 0)
        return AMLSEC_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[6] = {'\\', 0, '0', '0', 0, 0};
        const char *named;
        size_t n = 2;
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        if (buf_add(b, s + run, i - run) < 0)
            return AMLSEC_ENOMEM;
        run = i + 1;
        named = memchr(from, ch, sizeof(from) - 1);
        if (named) {
            esc[1] = to[named - from];
        } else {
            esc[1] = 'u';
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            n = 6;
        }
        if (buf_add(b, esc, n) < 0)
            return AMLSEC_ENOMEM;
    }
    if (buf_add(b, s + run, len - run) < 0 || buf_addch(b, '"') < 0)
        return AMLSEC_ENOMEM;
    return 0;
}

int jsonw_value(struct buf *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        size_t klen;
        json_t *m;
        int first = 1;
        if (buf_addch(b, '{') < 0)
            return AMLSEC_ENOMEM;
        json_object_keylen_foreach((json_t *)v, k, klen, m)
        {
            if ((!first && buf_addch(b, ',') < 0) || jsonw_string(b, k, klen) < 0 ||
                buf_addch(b, ':') < 0 || jsonw_value(b, m) < 0)
                return AMLSEC_ENOMEM;
            first = 0;
        }
        return buf_addch(b, '}');
    }
    case JSON_ARRAY:
        if (buf_addch(b, '[') < 0)
            return AMLSEC_ENOMEM;
        for (size_t i = 0; i < json_array_size(v); i++)
            if ((i && buf_addch(b, ',') < 0) || jsonw_value(b, json_array_get(v, i)) < 0)
                return AMLSEC_ENOMEM;
        return buf_addch(b, ']');
    case JSON_STRING:
        return jsonw_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return buf_addf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_TRUE:
        return buf_adds(b, "true");
    case JSON_FALSE:
        return buf_adds(b, "false");
    case JSON_NULL:
        return buf_adds(b, "null");
    case JSON_REAL: {
        /* the shortest of jansson's forms that reads back the same double
         * (0.3, not 0.29999999999999999) */
        double d = json_real_value(v);
        char *text = NULL;
        for (int prec = 15; prec <= 17; prec++) {
            free(text);
            text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(prec));
            if (text == NULL || strtod(text, NULL) == d)
                break;
        }
        int rc = text ? buf_adds(b, text) : AMLSEC_ENOMEM;
        free(text);
        return rc;
    }
    }
    return AMLSEC_ENOMEM;
}

struct member {
    const char *key;
    size_t len;
    const json_t *value;
};

/* jansson's order for JSON_SORT_KEYS: the bytes, then the length */
static int member_cmp(const void *pa, const void *pb)
{
    const struct member *a = pa, *b = pb;
    int c = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);
    if (c)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

static int pretty_newline(const struct jsonw_pretty *o, size_t depth)
{
    static const char spaces[] = "                                ";
    size_t n = depth * (size_t)o->indent;
    if (buf_addch(o->b, '\n') < 0)
        return AMLSEC_ENOMEM;
    while (n) {
        size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
        if (buf_add(o->b, spaces, k) < 0)
            return AMLSEC_ENOMEM;
        n -= k;
    }
    return 0;
}

static int pretty(const struct jsonw_pretty *o, const json_t *v, size_t depth)
{
    int rc;
    if (o->flush && o->b->len >= (1u << 16) && (rc = o->flush(o->b, o->data)) < 0)
        return rc;
    if (json_is_object(v) && json_object_size(v)) {
        struct member few[16], *m = few;
        size_t n = json_object_size(v), i = 0, klen;
        const char *k;
        json_t *x;
        if (n > sizeof(few) / sizeof(few[0]) && (m = malloc(n * sizeof(*m))) == NULL)
            return AMLSEC_ENOMEM;
        json_object_keylen_foreach((json_t *)v, k, klen, x)
        {
            m[i].key = k;
            m[i].len = klen;
            m[i++].value = x;
        }
        qsort(m, n, sizeof(*m), member_cmp);
        rc = buf_addch(o->b, '{') < 0 ? AMLSEC_ENOMEM : 0;
        for (i = 0; i < n && rc == 0; i++) {
            if ((rc = pretty_newline(o, depth + 1)) < 0 ||
                (rc = jsonw_string(o->b, m[i].key, m[i].len)) < 0)
                break;
            if (buf_add(o->b, ": ", 2) < 0)
                rc = AMLSEC_ENOMEM;
            else if ((rc = pretty(o, m[i].value, depth + 1)) == 0 && i + 1 < n &&
                     buf_addch(o->b, ',') < 0)
                rc = AMLSEC_ENOMEM;
        }
        if (m != few)
            free(m);
        if (rc == 0 && (rc = pretty_newline(o, depth)) == 0 && buf_addch(o->b, '}') < 0)
            rc = AMLSEC_ENOMEM;
        return rc;
    }
    if (json_is_array(v) && json_array_size(v)) {
        size_t n = json_array_size(v);
        if (buf_addch(o->b, '[') < 0)
            return AMLSEC_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            if ((rc = pretty_newline(o, depth + 1)) < 0 ||
                (rc = pretty(o, json_array_get(v, i), depth + 1)) < 0)
                return rc;
            if (i + 1 < n && buf_addch(o->b, ',') < 0)
                return AMLSEC_ENOMEM;
        }
        if ((rc = pretty_newline(o, depth)) < 0 || buf_addch(o->b, ']') < 0)
            return rc < 0 ? rc : AMLSEC_ENOMEM;
        return 0;
    }
    return jsonw_value(o->b, v); /* a scalar, {} or [] */
}

int jsonw_pretty(const struct jsonw_pretty *o, const json_t *v)
{
    return pretty(o, v, 0);
}

int jsonw_pretty_at(const struct jsonw_pretty *o, const json_t *v, size_t depth)
{
    return pretty(o, v, depth);
}

int jsonw_pretty_open(const struct jsonw_pretty *o, char bracket)
{
    return buf_addch(o->b, bracket) < 0 ? AMLSEC_ENOMEM : 0;
}

int jsonw_pretty_next(const struct jsonw_pretty *o, size_t depth, size_t nth, const char *key)
{
    int rc;
    if (nth && buf_addch(o->b, ',') < 0)
        return AMLSEC_ENOMEM;
    if ((rc = pretty_newline(o, depth + 1)) < 0)
        return rc;
    if (key && (jsonw_string(o->b, key, strlen(key)) < 0 || buf_add(o->b, ": ", 2) < 0))
        return AMLSEC_ENOMEM;
    return 0;
}

int jsonw_pretty_close(const struct jsonw_pretty *o, size_t depth, size_t count, char bracket)
{
    int rc;
    if (count && (rc = pretty_newline(o, depth)) < 0)
        return rc;
    return buf_addch(o->b, bracket) < 0 ? AMLSEC_ENOMEM : 0;
}
