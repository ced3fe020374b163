/* Base64 (RFC 4648), the tree's one implementation, on OpenSSL's
 * EVP_EncodeBlock/EVP_DecodeBlock. */
#ifndef AMLSEC_UTIL_BASE64_H
#define AMLSEC_UTIL_BASE64_H

#include <stddef.h>

#include "util/buf.h"

/* Standard base64 with padding, appended to out. */
int base64_encode(struct buf *out, const void *data, size_t len);
/* base64url without padding (JWS, RFC 7515), appended to out. */
int base64url_encode(struct buf *out, const void *data, size_t len);
/* Decodes standard or url-safe base64 into out; padding and whitespace
 * are accepted. AMLSEC_EPARSE on any other character or a dangling one. */
int base64_decode(struct buf *out, const char *text, size_t len);
/* Only canonical standard base64: the padded alphabet, a length that is a
 * multiple of 4, no whitespace (what Terraform's base64decode accepts). */
int base64_decode_strict(struct buf *out, const char *text, size_t len);

#endif
