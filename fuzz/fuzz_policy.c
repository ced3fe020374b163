/* libFuzzer target over the Azure Policy evaluator (engine/policy.h).
 * Input: a policy definition (JSON), a NUL byte, a resource body (JSON),
 * and optionally a NUL byte and the assignment's parameters (JSON). The
 * resource is a workspace with a few aliases, [*] ones included.
 * Failures: crashes, sanitizer reports, leaks, hangs, a verdict out of
 * range, and two evaluations of the same input disagreeing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/policy.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T "Microsoft.MachineLearningServices/workspaces"

static struct policy_aliases *fuzz_aliases(void)
{
    static struct policy_aliases *a;
    static const char csv[] =
        T "/publicNetworkAccess,properties.publicNetworkAccess\n" T
          "/encryption.status,properties.encryption.status\n" T
          "/privateEndpointConnections[*],properties.privateEndpointConnections[*]\n" T
          "/privateEndpointConnections[*].privateLinkServiceConnectionState.status,"
          "properties.privateEndpointConnections[*].properties.privateLinkServiceConnectionState."
          "status\n" T "/tags[*],properties.tagList[*]\n" T "/a[*].b[*],properties.a[*].b[*]\n";
    if (a == NULL && (policy_aliases_new(&a) < 0 ||
                      policy_aliases_load_csv(a, csv, sizeof(csv) - 1, "fuzz", NULL) < 0))
        abort();
    return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size), *nul2;
    json_t *def, *body, *params = NULL;
    struct policy *p = NULL;
    struct policy_result r1, r2;
    struct policy_resource res = {"/subscriptions/s/resourceGroups/rg/providers/" T "/ws",
                                  "ws",
                                  T,
                                  "2025-09-01",
                                  NULL,
                                  0,
                                  false};

    if (nul == NULL)
        return 0;
    def = json_loadb((const char *)data, (size_t)(nul - data), 0, NULL);
    nul2 = memchr(nul + 1, 0, size - (size_t)(nul + 1 - data));
    body = json_loadb((const char *)nul + 1, (size_t)((nul2 ? nul2 : data + size) - (nul + 1)),
                      JSON_DECODE_ANY, NULL);
    if (nul2)
        params = json_loadb((const char *)nul2 + 1, size - (size_t)(nul2 + 1 - data), 0, NULL);
    if (def && body && policy_prepare(&p, def, params, NULL) == 0) {
        res.body = body;
        if (policy_evaluate(&r1, p, fuzz_aliases(), &res, &res, 1, false) == 0) {
            if (r1.verdict > POLICY_ERROR)
                abort();
            if (policy_evaluate(&r2, p, fuzz_aliases(), &res, &res, 1, false) == 0) {
                if (r1.verdict != r2.verdict || r1.effect != r2.effect)
                    abort();
                policy_result_release(&r2);
            }
            policy_result_release(&r1);
        }
        policy_free(p);
    }
    json_decref(params);
    json_decref(body);
    json_decref(def);
    return 0;
}
