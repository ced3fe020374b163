/* ARM's error bodies: the common-types wrapper {"error":{"code","message",
 * "target",...}}, the flat {code, message} of diagnosticSettings, and
 * Entra ID's OAuth errors {"error":"invalid_client","error_description"}. */
#ifndef AMLSEC_PROVIDERS_ARM_ARM_ERROR_H
#define AMLSEC_PROVIDERS_ARM_ARM_ERROR_H

#include <stddef.h>

struct arm_error {
    char code[128];    /* "" when none was found */
    char message[640]; /* one line: newlines become spaces */
    char target[160];
};

/* Fills out from body. Returns 0 when a code or message was found,
 * AMLSEC_ENOTFOUND when body is not an error document (out is cleared). */
int arm_error_parse(struct arm_error *out, const char *body, size_t len);

/* Formats "Code: message (target 'x')" into dst. */
void arm_error_format(const struct arm_error *e, char *dst, size_t size);

#endif
