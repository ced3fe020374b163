/* Fuzz target: how the ARM client decodes what ARM answers (status codes,
 * Retry-After, x-ms-ratelimit-remaining-*, Location and Azure-AsyncOperation
 * polling, operation status documents, provisioningState, error bodies,
 * final-state-via), through the scripted fake transport and a manual clock,
 * so backoff and polling cost no real time.
 *
 * Input: one byte choosing the call (method and final-state-via), then
 * answers separated by lines "=====": each is a status line (a number, or
 * "reset" / "timeout" for a transport failure), "Name: value" header lines,
 * an empty line and the body. Once the answers run out, every answer is a
 * minute late, so the call's deadline ends it. Crashes, sanitizer reports,
 * leaks and hangs are the failures. Seeds: fuzz/corpora/arm_response/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/arm/arm_client.h"
#include "providers/arm/arm_error.h"
#include "providers/arm/fake_transport.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEP "\n=====\n"
#define MAX_ANSWERS 64

struct script {
    const char *p, *end; /* what is left of the input */
    unsigned served;
};

static const char *find(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    for (; p + n <= end; p++)
        if (memcmp(p, needle, n) == 0)
            return p;
    return NULL;
}

static int64_t answer(struct http_exchange *x, void *payload)
{
    struct script *s = payload;
    const char *seg, *seg_end, *eol, *body;
    char status[16];
    size_t n;

    if (s->p >= s->end || s->served++ >= MAX_ANSWERS) {
        fake_respond(x, 500, "{\"error\":{\"code\":\"Exhausted\",\"message\":\"no more\"}}");
        return 60 * 1000;
    }
    seg = s->p;
    seg_end = find(seg, s->end, SEP);
    s->p = seg_end ? seg_end + strlen(SEP) : s->end;
    if (seg_end == NULL)
        seg_end = s->end;
    eol = memchr(seg, '\n', (size_t)(seg_end - seg));
    if (eol == NULL)
        eol = seg_end;
    n = (size_t)(eol - seg) < sizeof(status) - 1 ? (size_t)(eol - seg) : sizeof(status) - 1;
    memcpy(status, seg, n);
    status[n] = '\0';
    if (strcmp(status, "reset") == 0) {
        fake_respond_fail(x, HTTP_FAIL_RESET, "fuzzed reset");
        return 1000;
    }
    if (strcmp(status, "timeout") == 0) {
        fake_respond_fail(x, HTTP_FAIL_TIMEOUT, "fuzzed timeout");
        return 1000;
    }
    /* the body is everything after the first empty line */
    body = find(eol, seg_end, "\n\n");
    {
        size_t blen = body ? (size_t)(seg_end - (body + 2)) : 0;
        char *b = malloc(blen + 1);
        if (b == NULL)
            return 1000;
        if (blen)
            memcpy(b, body + 2, blen);
        b[blen] = '\0';
        fake_respond(x, strtol(status, NULL, 10), b);
        free(b);
    }
    for (const char *h = eol < seg_end ? eol + 1 : seg_end; h < (body ? body + 1 : seg_end);) {
        const char *hend = memchr(h, '\n', (size_t)(seg_end - h));
        const char *colon;
        if (hend == NULL)
            hend = seg_end;
        colon = memchr(h, ':', (size_t)(hend - h));
        if (colon) {
            const char *v = colon + 1;
            while (v < hend && *v == ' ')
                v++;
            http_exchange_add_resp_header(x, h, (size_t)(colon - h), v, (size_t)(hend - v));
        }
        h = hend + 1;
    }
    return 1000;
}

static int fixed_token(void *payload, const char *scope, const char **out, struct errbuf *err)
{
    (void)scope;
    (void)err;
    *out = payload;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"PUT", "GET", "DELETE", "PATCH", "POST"};
    struct manual_clock clock;
    struct fake_transport *fake = NULL;
    struct arm_client *client = NULL;
    struct arm_client_opts o = {0};
    struct arm_token_source auth = {.get = fixed_token, .payload = "tok"};
    struct errbuf err = ERRBUF_INIT;
    struct arm_call c = {0};
    struct arm_error e;
    struct script s;
    char *copy;

    if (size < 1 || size > ((size_t)1 << 20))
        return 0;
    copy = malloc(size);
    if (copy == NULL)
        return 0;
    memcpy(copy, data + 1, size - 1);
    s.p = copy;
    s.end = copy + size - 1;
    s.served = 0;
    /* error bodies are also decoded on their own */
    arm_error_parse(&e, copy, size - 1);

    manual_clock_init(&clock, 1700000000);
    if (fake_transport_new(&fake, answer, &s, &clock) < 0)
        goto out;
    o.cloud = arm_cloud_builtin("public");
    o.transport = fake_transport_base(fake);
    o.auth = &auth;
    o.clock = &clock.clock;
    o.seed = 1;
    o.timeout_ms = 10 * 60 * 1000;
    o.attempt_timeout_ms = 120 * 1000;
    o.lro_poll_ms = 5000;
    if (arm_client_new(&client, &o, &err) < 0)
        goto out;
    c.method = methods[data[0] % 5];
    c.url = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/"
            "Microsoft.Storage/storageAccounts/sa";
    c.api_version = "2025-06-01";
    c.body = strcmp(c.method, "GET") && strcmp(c.method, "DELETE") ? "{\"location\":\"x\"}" : NULL;
    c.lro = (enum lro_pattern)((data[0] / 5) % 5);
    c.flags = (data[0] & 0x80) ? ARM_CALL_RETRY_POST : 0;
    arm_client_call(client, &c);
    if (c.response && c.response[c.response_len] != '\0')
        abort(); /* the final body is NUL-terminated at its length */
    arm_call_release(&c);
out:
    arm_client_free(client);
    if (fake)
        transport_free(fake_transport_base(fake));
    free(copy);
    return 0;
}
