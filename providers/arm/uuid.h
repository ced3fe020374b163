/* Random (version 4) UUIDs for request and correlation ids, JWT ids. */
#ifndef AMLSEC_PROVIDERS_ARM_UUID_H
#define AMLSEC_PROVIDERS_ARM_UUID_H

#define UUID_STR_LEN 37 /* 36 characters and the NUL */

/* Writes a lowercase UUID into out. Returns 0, or AMLSEC_ERROR when the
 * system has no randomness to give. */
int uuid_v4(char out[UUID_STR_LEN]);

#endif
