/* Fuzz target: the state loader. Each input is tried as a whole file and,
 * so that the body reader is reached past the checksum, as a body wrapped in
 * an envelope with the right SHA-256. Whatever parses must serialize, parse
 * again and serialize to the same bytes (canonical form), and nothing may
 * crash or leak. Seeds: fuzz/corpora/state/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <stdio.h>

#include "state/state.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void try_input(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char md[32];
    unsigned int n = 0;
    struct buf wrapped;

    try_input(data, size);
    if (EVP_Digest(data, size, md, &n, EVP_sha256(), NULL) != 1)
        return 0;
    buf_init(&wrapped, STATE_MAX_BYTES);
    buf_adds(&wrapped, "{\"format_version\":1,\"sha256\":\"");
    for (unsigned int i = 0; i < n; i++)
        buf_addf(&wrapped, "%02x", md[i]);
    buf_adds(&wrapped, "\",\"state\":");
    buf_add(&wrapped, data, size);
    buf_adds(&wrapped, "}\n");
    try_input((const uint8_t *)wrapped.ptr, wrapped.len);
    buf_release(&wrapped);
    return 0;
}

static void try_input(const uint8_t *data, size_t size)
{
    struct errbuf err = ERRBUF_INIT;
    struct state st, again;
    struct buf first, second;

    if (state_parse(&st, (const char *)data, size, "fuzz", &err) != 0)
        return;
    /* Use the attributes of every other instance, so both the parsed and
     * the as-read forms are written back. */
    for (size_t i = 0; i < st.nresources; i += 2) {
        json_t *attrs;
        state_resource_attributes(&attrs, &st.resources[i], &err);
    }
    buf_init(&first, STATE_MAX_BYTES);
    buf_init(&second, STATE_MAX_BYTES);
    if (state_serialize(&st, &first, &err) != 0)
        abort();
    if (state_parse(&again, first.ptr, first.len, "again", &err) != 0)
        abort();
    if (state_serialize(&again, &second, &err) != 0 || first.len != second.len ||
        memcmp(first.ptr, second.ptr, first.len) != 0)
        abort();
    state_release(&again);
    state_release(&st);
    buf_release(&first);
    buf_release(&second);
}
