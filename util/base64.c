#include "util/base64.h"

#include <openssl/evp.h>
#include <string.h>

#include "util/error.h"
#include "util/banned.h"

/* EVP_EncodeBlock writes 4 characters per 3 bytes plus a NUL. */
static int encode(struct buf *out, const void *data, size_t len, size_t *start)
{
    size_t need = (len + 2) / 3 * 4 + 1;
    int n;
    if (len > (size_t)1 << 30)
        return AMLSEC_EUSAGE;
    if (buf_grow(out, need) < 0)
        return AMLSEC_ENOMEM;
    *start = out->len;
    n = EVP_EncodeBlock((unsigned char *)out->ptr + out->len, data, (int)len);
    out->len += (size_t)n;
    out->ptr[out->len] = '\0';
    return 0;
}

int base64_encode(struct buf *out, const void *data, size_t len)
{
    size_t start;
    return encode(out, data, len, &start);
}

int base64url_encode(struct buf *out, const void *data, size_t len)
{
    size_t start;
    int rc = encode(out, data, len, &start);
    if (rc < 0)
        return rc;
    for (size_t i = start; i < out->len; i++)
        out->ptr[i] = out->ptr[i] == '+' ? '-' : out->ptr[i] == '/' ? '_' : out->ptr[i];
    while (out->len > start && out->ptr[out->len - 1] == '=')
        out->ptr[--out->len] = '\0';
    return 0;
}

/* Decodes text (standard alphabet, no padding, no whitespace) of len
 * characters, len % 4 != 1. */
static int decode_clean(struct buf *out, char *text, size_t len)
{
    size_t pad = (4 - len % 4) % 4;
    int n;
    if (len % 4 == 1 || len > (size_t)1 << 30)
        return AMLSEC_EPARSE;
    memset(text + len, '=', pad);
    len += pad;
    if (buf_grow(out, len / 4 * 3 + 1) < 0)
        return AMLSEC_ENOMEM;
    n = EVP_DecodeBlock((unsigned char *)out->ptr + out->len, (const unsigned char *)text,
                        (int)len);
    if (n < 0)
        return AMLSEC_EPARSE;
    out->len += (size_t)n - pad; /* EVP_DecodeBlock counts the padding as zero bytes */
    out->ptr[out->len] = '\0';
    return 0;
}

int base64_decode(struct buf *out, const char *text, size_t len)
{
    struct buf clean;
    int rc;
    buf_init(&clean, 0);
    if (buf_grow(&clean, len + 4) < 0)
        return AMLSEC_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '=' || c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '+' || c == '/')) {
            buf_release(&clean);
            return AMLSEC_EPARSE;
        }
        clean.ptr[clean.len++] = c;
    }
    rc = decode_clean(out, clean.ptr, clean.len);
    buf_release(&clean);
    return rc;
}

int base64_decode_strict(struct buf *out, const char *text, size_t len)
{
    size_t pad = 0;
    if (len % 4 != 0)
        return AMLSEC_EPARSE;
    while (pad < 2 && pad < len && text[len - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < len - pad; i++) {
        char c = text[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return AMLSEC_EPARSE;
    }
    return base64_decode(out, text, len);
}
