/* Fuzz target: saved plans (cmd/planfile.c, planfile_decode, and
 * plan_from_json behind it). Each input is tried as a whole plan file and,
 * so that the plan decoder is reached past the checksum, as the inner plan
 * wrapped in an envelope with the right SHA-256. A plan that decodes must
 * encode to JSON that decodes again to the same JSON, and read as show
 * reads it (request bodies as text) give the same bodies when asked. Crashes, sanitizer
 * reports and leaks are the failures. Seeds: fuzz/corpora/planfile/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <stdio.h>

#include "cmd/planfile.h"
#include "util/buf.h"
#include "util/jsonw.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void try_file(const char *data, size_t size, struct crypt_keys *keys)
{
    struct errbuf err = ERRBUF_INIT;
    struct plan *plan = NULL, *again = NULL, *shown = NULL;
    json_t *root = NULL, *first, *second;

    if (planfile_decode(&plan, &root, data, size, "fuzz.plan", keys, NULL, NULL, &err) != 0) {
        plan_free(plan);
        return;
    }
    /* what decoded encodes, and the encoding decodes to the same JSON */
    first = plan_to_json(plan, false);
    if (first == NULL || plan_from_json(&again, first, &err) != 0)
        abort();
    second = plan_to_json(again, false);
    if (second == NULL || !json_equal(first, second))
        abort();
    /* the redacted form (show -json) must not fail either */
    json_decref(plan_to_json(plan, true));
    /* read as show reads it, the request bodies left as text: each body,
     * parsed when asked for, is the one the whole read gave */
    if (planfile_decode_flags(&shown, NULL, data, size, "fuzz.plan", keys, NULL, NULL,
                              PLANFILE_BODIES_AS_TEXT, &err) != 0 ||
        shown->n != plan->n)
        abort();
    for (size_t i = 0; i < plan->n; i++) {
        const json_t *b = plan_change_body(&shown->changes[i]);
        if ((b == NULL) != (plan->changes[i].body == NULL) ||
            (b && !json_equal(b, plan->changes[i].body)))
            abort();
    }
    plan_free(shown);
    json_decref(first);
    json_decref(second);
    json_decref(root);
    plan_free(again);
    plan_free(plan);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct crypt_keys keys;
    json_t *inner;
    char *text;
    unsigned char md[32];
    unsigned int n = 0;
    struct buf wrapped;

    if (size > ((size_t)1 << 20))
        return 0;
    crypt_keys_init(&keys);
    try_file((const char *)data, size, &keys);
    /* the inner plan, with the checksum planfile_write would give it */
    inner = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);
    text = inner ? jsonw_dumps(inner, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (text && EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL) == 1) {
        buf_init(&wrapped, (size_t)4 << 20);
        buf_adds(&wrapped, "{\"amlsec_plan\":1,\"sha256\":\"");
        for (unsigned int i = 0; i < n; i++)
            buf_addf(&wrapped, "%02x", md[i]);
        buf_adds(&wrapped, "\",\"plan\":");
        buf_adds(&wrapped, text);
        buf_adds(&wrapped, "}\n");
        try_file(wrapped.ptr, wrapped.len, &keys);
        buf_release(&wrapped);
    }
    free(text);
    json_decref(inner);
    crypt_keys_release(&keys);
    return 0;
}
