/* Redaction of secrets in text that is about to be logged (STYLE: secrets
 * never appear in logs). Two defences work together:
 *   - patterns: Authorization and identity headers, "Bearer <token>",
 *     form and query parameters (client_secret=, client_assertion=, sig=,
 *     password=, AccountKey=, ...), JSON members whose name says secret
 *     (*token*, *secret*, *password*, *Key, connectionString, ...);
 *   - literals: every secret the program knows (client secret, certificate
 *     password, OIDC tokens, access tokens) is registered and masked
 *     wherever it appears, whatever surrounds it. */
#ifndef AMLSEC_PROVIDERS_ARM_REDACT_H
#define AMLSEC_PROVIDERS_ARM_REDACT_H

#include <stddef.h>

#include "util/buf.h"

#define REDACTED "***"

/* Remembers secret (copied) so it is masked from now on. Secrets shorter
 * than 6 bytes are not registered (they would mask ordinary text); the
 * patterns still cover them. Thread-safe. Returns 0 or AMLSEC_ENOMEM. */
int redact_register(const char *secret);
/* Forgets every registered literal (tests). */
void redact_reset(void);

/* Appends a redacted copy of text[0..len) to out. */
int redact_append(struct buf *out, const char *text, size_t len);
/* A redacted copy; caller frees. NULL when out of memory. */
char *redact_dup(const char *text);

#endif
