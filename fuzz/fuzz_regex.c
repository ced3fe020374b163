/* libFuzzer target over the regex engine (parser/regex.h): Terraform's
 * regular expressions, RE2 syntax with Go's results.
 * Input: a pattern, a NUL byte, a text (the pattern alone when there is no
 * NUL: it is matched against itself).
 * Failures: crashes, sanitizer reports, leaks, hangs; a match or group out
 * of the text or a group outside its match; a search that is not linear
 * (more VM steps than the text's characters times the program's bound);
 * two runs of the same search disagreeing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parser/regex.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : size;
    char *pattern = malloc(plen + 1), err[256];
    const char *text;
    size_t len;
    struct rx rx;

    if (pattern == NULL)
        return 0;
    memcpy(pattern, data, plen);
    pattern[plen] = '\0';
    text = nul ? (const char *)nul + 1 : pattern;
    len = nul ? size - plen - 1 : plen;
    if (rx_compile(&rx, pattern, err, sizeof(err)) == 0) {
        size_t pos = 0, n = 0;
        ptrdiff_t prev = -1;
        /* the program is at most as large as the pattern's characters
         * repeated 1000 times each; a step visits one instruction once */
        unsigned long long bound = (unsigned long long)(plen + 2) * 1000 * 4 + 64;
        while (n++ < 64 && rx_next(&rx, text, len, &pos, &prev)) {
            ptrdiff_t *copy = malloc(2 * (rx.ngroups + 1) * sizeof(*copy));
            size_t again = (size_t)rx.m[0];
            if (copy == NULL)
                break;
            if (rx.m[0] < 0 || rx.m[0] > rx.m[1] || (size_t)rx.m[1] > len)
                abort();
            for (size_t g = 1; g <= rx.ngroups; g++)
                if (rx.m[2 * g] >= 0 && (rx.m[2 * g] < rx.m[0] || rx.m[2 * g] > rx.m[2 * g + 1] ||
                                         rx.m[2 * g + 1] > rx.m[1]))
                    abort();
            if (rx.steps > bound * (len - again + 2) + bound)
                abort();
            memcpy(copy, rx.m, 2 * (rx.ngroups + 1) * sizeof(*copy));
            /* the same search from the match's start finds the same match */
            if (!rx_exec(&rx, text, len, again) ||
                memcmp(copy, rx.m, 2 * (rx.ngroups + 1) * sizeof(*copy)) != 0)
                abort();
            free(copy);
        }
        rx_free(&rx);
    }
    free(pattern);
    return 0;
}
