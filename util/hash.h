/* A fast non-cryptographic hash of bytes, for in-memory tables (interned
 * names, the resource index, line comparison). Eight bytes per step, then
 * a full 64-bit finalizer: keys that differ only in their last bytes
 * (ws00001, ws00002 ...) still spread over a table's low bits. Not stable
 * across versions: never store it. */
#ifndef AMLSEC_UTIL_HASH_H
#define AMLSEC_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

/* seed chains hashes: hash_bytes(b, nb, hash_bytes(a, na, 0)) hashes a
 * then b. */
uint64_t hash_bytes(const void *data, size_t len, uint64_t seed);

#endif
