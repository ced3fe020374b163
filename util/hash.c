#include "util/hash.h"

#include <string.h>

#include "util/banned.h"

uint64_t hash_bytes(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *b = data;
    uint64_t h = (seed ^ 0x9e3779b97f4a7c15ULL) ^ len;
    size_t k = 0;
    for (; k + 8 <= len; k += 8) {
        uint64_t w;
        memcpy(&w, b + k, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    if (k < len) {
        uint64_t w = 0;
        for (size_t j = 0; k + j < len; j++)
            w |= (uint64_t)b[k + j] << (8 * j);
        h ^= w;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}
