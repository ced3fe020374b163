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
