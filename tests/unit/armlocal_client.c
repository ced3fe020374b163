/* amlsec's own ARM client (providers/arm: libcurl transport, Entra sign-in,
 * LRO polling, retries) against armlocal: the cloud comes from armlocal's
 * metadata document, the token from its token endpoint (client secret,
 * --auth required), and every catalogue kind is created, read, updated
 * where the service allows it, and deleted with the catalogue's own
 * api-versions and LRO patterns (kind_lookup). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/arm/arm_client.h"
#include "providers/arm/auth.h"
#include "providers/arm/cloud.h"
#include "providers/arm/http.h"
#include "providers/arm/keyvault.h"
#include "providers/arm/kind_lookup.h"
#include "providers/armlocal/armlocal.h"
#include "util/error.h"

#define RG "/subscriptions/00000000-0000-0000-0000-0000000000c2/resourceGroups/rg-client"
#define WS RG "/providers/Microsoft.MachineLearningServices/workspaces/ws1"
#define KV RG "/providers/Microsoft.KeyVault/vaults/kv1"
#define VNET RG "/providers/Microsoft.Network/virtualNetworks/vnet1"

struct step {
    const char *type, *id, *put, *patch;
};

/* In dependency order; deleted in reverse. */
static const struct step steps[] = {
    {"Microsoft.Resources/resourceGroups", RG, "{\"location\":\"eastus\"}",
     "{\"tags\":{\"a\":\"b\"}}"},
    {"Microsoft.KeyVault/vaults", KV,
     "{\"location\":\"eastus\",\"properties\":{\"tenantId\":\"72f988bf-86f1-41af-91ab-"
     "2d7cd011db47\","
     "\"sku\":{\"family\":\"A\",\"name\":\"standard\"},\"enablePurgeProtection\":true}}",
     "{\"properties\":{\"publicNetworkAccess\":\"Disabled\"}}"},
    {"Microsoft.KeyVault/vaults/keys", KV "/keys/cmk", "{\"properties\":{\"kty\":\"RSA\"}}", NULL},
    {"Microsoft.Storage/storageAccounts", RG "/providers/Microsoft.Storage/storageAccounts/sa1",
     "{\"location\":\"eastus\",\"kind\":\"StorageV2\",\"sku\":{\"name\":\"Standard_LRS\"}}",
     "{\"properties\":{\"minimumTlsVersion\":\"TLS1_2\"}}"},
    {"Microsoft.ContainerRegistry/registries",
     RG "/providers/Microsoft.ContainerRegistry/registries/acr001",
     "{\"location\":\"eastus\",\"sku\":{\"name\":\"Premium\"}}",
     "{\"properties\":{\"adminUserEnabled\":false}}"},
    {"Microsoft.Insights/components", RG "/providers/Microsoft.Insights/components/ai1",
     "{\"location\":\"eastus\",\"kind\":\"web\",\"properties\":{\"Application_Type\":\"web\"}}",
     "{\"tags\":{\"a\":\"b\"}}"},
    {"Microsoft.MachineLearningServices/workspaces", WS,
     "{\"location\":\"eastus\",\"identity\":{\"type\":\"SystemAssigned\"},\"properties\":{"
     "\"keyVault\":\"" KV "\"}}",
     "{\"properties\":{\"publicNetworkAccess\":\"Disabled\"}}"},
    {"Microsoft.MachineLearningServices/workspaces/computes", WS "/computes/cpu",
     "{\"location\":\"eastus\",\"properties\":{\"computeType\":\"AmlCompute\"}}", NULL},
    {"Microsoft.MachineLearningServices/workspaces/onlineEndpoints", WS "/onlineEndpoints/ep1",
     "{\"location\":\"eastus\",\"properties\":{\"authMode\":\"AADToken\"}}",
     "{\"tags\":{\"a\":\"b\"}}"},
    {"Microsoft.MachineLearningServices/workspaces/services", WS "/services/svc1",
     "{\"location\":\"eastus\",\"properties\":{\"computeType\":\"ACI\"}}", NULL},
    {"Microsoft.Network/virtualNetworks", VNET,
     "{\"location\":\"eastus\",\"properties\":{\"addressSpace\":{\"addressPrefixes\":[\"10.0.0.0/"
     "16\"]}}}",
     NULL},
    {"Microsoft.Network/virtualNetworks/subnets", VNET "/subnets/pe",
     "{\"properties\":{\"addressPrefix\":\"10.0.1.0/24\"}}", NULL},
    {"Microsoft.Network/privateEndpoints", RG "/providers/Microsoft.Network/privateEndpoints/pe1",
     "{\"location\":\"eastus\",\"properties\":{\"subnet\":{\"id\":\"" VNET "/subnets/pe\"},"
     "\"privateLinkServiceConnections\":[{\"name\":\"c\",\"properties\":{"
     "\"privateLinkServiceId\":\"" WS "\",\"groupIds\":[\"amlworkspace\"]}}]}}",
     NULL},
    {"Microsoft.Authorization/roleAssignments",
     KV "/providers/Microsoft.Authorization/roleAssignments/5c1b7bd5-9c0b-4b1e-9e8a-0b8b6d0e4f12",
     "{\"properties\":{\"roleDefinitionId\":\"/providers/Microsoft.Authorization/roleDefinitions/"
     "e147488a-f6f5-4113-8e2d-b22465e65bf6\",\"principalId\":\"p1\",\"principalType\":"
     "\"ServicePrincipal\"}}",
     NULL},
    {"Microsoft.Authorization/roleDefinitions",
     RG "/providers/Microsoft.Authorization/roleDefinitions/7b2c5c77-0000-4c4c-8d8d-aaaabbbbcccd",
     "{\"properties\":{\"roleName\":\"r\",\"permissions\":[{\"actions\":[\"*/read\"]}]}}", NULL},
    {"Microsoft.Authorization/policyAssignments",
     RG "/providers/Microsoft.Authorization/policyAssignments/pa1",
     "{\"properties\":{\"policyDefinitionId\":\"/providers/Microsoft.Authorization/"
     "policyDefinitions/438c38d2-3772-465a-a9cc-7a6666a275ce\"}}",
     "{\"properties\":{\"overrides\":[]}}"},
    {"Microsoft.Insights/diagnosticSettings",
     KV "/providers/Microsoft.Insights/diagnosticSettings/diag1",
     "{\"properties\":{\"workspaceId\":\"/x\",\"logs\":[{\"categoryGroup\":\"allLogs\","
     "\"enabled\":true}]}}",
     NULL},
    {"Microsoft.Authorization/locks", RG "/providers/Microsoft.Authorization/locks/l1",
     "{\"properties\":{\"level\":\"CanNotDelete\"}}", NULL},
};

static void register_sp(const char *base)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    char url[256];
    long status = 0;
    snprintf(url, sizeof(url), "%s/_armlocal/servicePrincipals", base);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{\"clientId\":\"amlsec-it\",\"secret\":\"s3cret\"}");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fwrite);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, stderr);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 201);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
}

static int call(struct arm_client *cl, const char *method, const char *id, const char *api_version,
                enum lro_pattern lro, const char *body, struct arm_call *out)
{
    memset(out, 0, sizeof(*out));
    out->method = method;
    out->url = id;
    out->api_version = api_version;
    out->lro = lro;
    out->body = body;
    return arm_client_call(cl, out);
}

static json_t *key_props(const struct arm_call *c)
{
    json_t *b = json_loads(c->response ? c->response : "", 0, NULL);
    json_t *p = json_incref(json_object_get(b, "properties"));
    json_decref(b);
    assert_non_null(p);
    return p;
}

/* Key Vault keys change through the data plane (keyvault.h), with a token
 * for the vault's scope (armlocal checks the audience under --auth
 * required); ARM shows the outcome. */
static void key_through_the_data_plane(struct arm_client *cl)
{
    const char *key = KV "/keys/cmk",
               *api = kind_lookup("Microsoft.KeyVault/vaults/keys", NULL)->api_version;
    json_t *want, *p;
    struct arm_call c;
    char v1[512], url[600];

    assert_int_equal(call(cl, "GET", key, api, LRO_NONE, NULL, &c), 0);
    p = key_props(&c);
    snprintf(v1, sizeof(v1), "%s", json_string_value(json_object_get(p, "keyUriWithVersion")));
    json_decref(p);
    arm_call_release(&c);

    /* a new version with another size and ops, and a rotation policy */
    want = json_pack("{s:{s:s, s:i, s:[s,s], s:{s:b}, s:{s:{s:s}, s:[{s:{s:s}, s:{s:s}}]}}}",
                     "properties", "kty", "RSA", "keySize", 4096, "keyOps", "wrapKey", "unwrapKey",
                     "attributes", "enabled", 1, "rotationPolicy", "attributes", "expiryTime",
                     "P90D", "lifetimeActions", "trigger", "timeBeforeExpiry", "P30D", "action",
                     "type", "rotate");
    if (keyvault_key_update(cl, key, api, want, PROVIDER_DP_NEW_VERSION | PROVIDER_DP_POLICY, &c) !=
        0)
        fail_msg("new version: %s", c.err.msg);
    p = key_props(&c);
    arm_call_release(&c);
    assert_string_not_equal(json_string_value(json_object_get(p, "keyUriWithVersion")), v1);
    snprintf(v1, sizeof(v1), "%s", json_string_value(json_object_get(p, "keyUriWithVersion")));
    assert_int_equal(json_integer_value(json_object_get(p, "keySize")), 4096);
    assert_int_equal(json_array_size(json_object_get(p, "keyOps")), 2);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(
                json_array_get(
                    json_object_get(json_object_get(p, "rotationPolicy"), "lifetimeActions"), 0),
                "trigger"),
            "timeBeforeExpiry")),
        "P30D");
    snprintf(url, sizeof(url), "%s/rotationpolicy",
             json_string_value(json_object_get(p, "keyUri")));
    json_decref(p);
    /* the data plane got its own spelling of the action */
    memset(&c, 0, sizeof(c));
    c.method = "GET";
    c.url = url;
    c.api_version = KEYVAULT_API_VERSION;
    c.scope = arm_client_cloud(cl)->keyvault_scope;
    assert_int_equal(arm_client_call(cl, &c), 0);
    assert_non_null(strstr(c.response, "\"type\":\"Rotate\""));
    arm_call_release(&c);

    /* attributes: a PATCH of the current version, no new version */
    json_object_set_new(json_object_get(json_object_get(want, "properties"), "attributes"),
                        "enabled", json_false());
    if (keyvault_key_update(cl, key, api, want, PROVIDER_DP_ATTRIBUTES, &c) != 0)
        fail_msg("attributes: %s", c.err.msg);
    p = key_props(&c);
    arm_call_release(&c);
    assert_string_equal(json_string_value(json_object_get(p, "keyUriWithVersion")), v1);
    assert_true(json_is_false(json_object_get(json_object_get(p, "attributes"), "enabled")));
    json_decref(p);

    /* a data-plane error names the request */
    json_object_set_new(json_object_get(want, "properties"), "rotationPolicy", json_string("x"));
    assert_int_not_equal(keyvault_key_update(cl, key, api, want, PROVIDER_DP_POLICY, &c), 0);
    assert_non_null(strstr(c.err.msg, "rotation policy (Key Vault data plane)"));
    arm_call_release(&c);
    json_decref(want);
}

static void test_armlocal_client__vault_token_hosts(void **state)
{
    const struct arm_cloud *pub = arm_cloud_builtin("public");
    struct arm_cloud *local = NULL;
    struct errbuf err = ERRBUF_INIT;
    (void)state;
    assert_true(keyvault_url_trusted(pub, "https://kv1.vault.azure.net/keys/k"));
    assert_true(keyvault_url_trusted(pub, "https://KV1.Vault.Azure.Net:443/keys/k/v"));
    assert_false(keyvault_url_trusted(pub, "http://kv1.vault.azure.net/keys/k"));
    assert_false(keyvault_url_trusted(pub, "https://kv1.vault.azure.net:8443/keys/k"));
    assert_false(keyvault_url_trusted(pub, "https://vault.azure.net.evil.example/keys/k"));
    assert_false(keyvault_url_trusted(pub, "https://evil.example/x.vault.azure.net/keys/k"));
    assert_false(keyvault_url_trusted(pub, "https://u@kv1.vault.azure.net/keys/k"));
    assert_false(keyvault_url_trusted(pub, "https://vault.azure.net/keys/k"));
    assert_false(keyvault_url_trusted(pub, "https://management.azure.com/keys/k"));
    assert_int_equal(arm_cloud_custom(&local, "local", "http://127.0.0.1:9", "http://127.0.0.1:9",
                                      NULL, NULL, NULL, &err),
                     0);
    assert_true(keyvault_url_trusted(local, "http://127.0.0.1:9/_vault/kv/keys/k"));
    /* a local cloud gives each vault a port of its own on its host */
    assert_true(keyvault_url_trusted(local, "http://127.0.0.1:10/keys/k"));
    assert_false(keyvault_url_trusted(local, "https://127.0.0.1:10/keys/k"));
    assert_false(keyvault_url_trusted(local, "http://127.0.0.2:9/keys/k"));
    assert_false(keyvault_url_trusted(local, "http://127.0.0.10:9/keys/k"));
    assert_false(keyvault_url_trusted(local, "http://evil.example:9/keys/k"));
    arm_cloud_free(local);
    /* a custom cloud off loopback: its own origin only */
    assert_int_equal(arm_cloud_custom(&local, "stack", "https://arm.stack.example",
                                      "https://arm.stack.example", NULL, NULL, NULL, &err),
                     0);
    assert_true(keyvault_url_trusted(local, "https://arm.stack.example/keys/k"));
    assert_false(keyvault_url_trusted(local, "https://arm.stack.example:8443/keys/k"));
    arm_cloud_free(local);
}

static void test_armlocal_client__every_kind_through_the_arm_client(void **state)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al;
    struct http_opts ho = HTTP_OPTS_INIT;
    struct transport *t = NULL;
    struct arm_cloud *cloud = NULL;
    struct auth_config cfg;
    struct auth *auth = NULL;
    struct arm_token_source ts;
    struct arm_client_opts co = {0};
    struct arm_client *cl = NULL;
    struct arm_call c;
    size_t n = sizeof(steps) / sizeof(steps[0]);
    (void)state;

    o.auth_required = 1;
    o.lro_ms = 0; /* 201/202 and polling headers still; in-progress states are tested elsewhere */
    assert_int_equal(armlocal_start(&al, &o, &err), 0);
    register_sp(armlocal_base_url(al));
    assert_int_equal(http_transport_new(&t, &ho, &err), 0);
    if (arm_cloud_fetch(&cloud, t, armlocal_base_url(al), NULL, &err) < 0)
        fail_msg("cloud metadata: %s", err.msg);
    assert_string_equal(cloud->resource_manager, armlocal_base_url(al));
    memset(&cfg, 0, sizeof(cfg));
    cfg.method = AUTH_CLIENT_SECRET;
    cfg.tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    cfg.client_id = "amlsec-it";
    cfg.client_secret = "s3cret";
    assert_int_equal(auth_new(&auth, &cfg, cloud, t, NULL, &err), 0);
    ts = auth_token_source(auth);
    co.cloud = cloud;
    co.transport = t;
    co.auth = &ts;
    co.lro_poll_ms = 100;
    co.backoff_base_ms = 50;
    co.seed = 1;
    assert_int_equal(arm_client_new(&cl, &co, &err), 0);

    for (size_t i = 0; i < n; i++) {
        const struct arm_kind_info *k = kind_lookup(steps[i].type, NULL);
        if (k == NULL)
            fail_msg("the catalogue does not know '%s'", steps[i].type);
        if (call(cl, "PUT", steps[i].id, k->api_version, k->put, steps[i].put, &c) != 0)
            fail_msg("PUT %s: %s", steps[i].type, c.err.msg);
        arm_call_release(&c);
        if (call(cl, "GET", steps[i].id, k->api_version, LRO_NONE, NULL, &c) != 0)
            fail_msg("GET %s: %s", steps[i].type, c.err.msg);
        if (strstr(c.response, "\"provisioningState\"") &&
            !strstr(c.response, "\"provisioningState\":\"Succeeded\""))
            fail_msg("%s not Succeeded after its PUT: %s", steps[i].type, c.response);
        arm_call_release(&c);
        if (steps[i].patch) {
            if (call(cl, "PATCH", steps[i].id, k->api_version, k->patch, steps[i].patch, &c) != 0)
                fail_msg("PATCH %s: %s", steps[i].type, c.err.msg);
            arm_call_release(&c);
        }
    }
    key_through_the_data_plane(cl);
    /* the private endpoint approved a connection on the workspace */
    assert_int_equal(call(cl, "GET", WS, "2025-09-01", LRO_NONE, NULL, &c), 0);
    assert_non_null(strstr(c.response, "\"status\":\"Approved\""));
    arm_call_release(&c);
    /* a lock is honoured: deleting the vault is refused with ScopeLocked */
    assert_int_equal(call(cl, "DELETE", KV, "2025-05-01", LRO_NONE, NULL, &c), AMLSEC_ECONFLICT);
    assert_string_equal(c.error.code, "ScopeLocked");
    arm_call_release(&c);

    for (size_t i = n; i-- > 0;) {
        const struct arm_kind_info *k = kind_lookup(steps[i].type, NULL);
        if (strcmp(steps[i].type, "Microsoft.KeyVault/vaults/keys") == 0)
            continue; /* ARM has no DELETE for keys */
        if (call(cl, "DELETE", steps[i].id, k->api_version, k->del, NULL, &c) != 0)
            fail_msg("DELETE %s: %s", steps[i].type, c.err.msg);
        arm_call_release(&c);
        if (strcmp(steps[i].type, "Microsoft.Resources/resourceGroups") == 0)
            assert_int_equal(call(cl, "GET", steps[i].id, k->api_version, LRO_NONE, NULL, &c),
                             AMLSEC_ENOTFOUND);
        else
            call(cl, "GET", steps[i].id, k->api_version, LRO_NONE, NULL, &c);
        if (c.rc != AMLSEC_ENOTFOUND)
            fail_msg("%s still there after DELETE (rc %d)", steps[i].type, c.rc);
        arm_call_release(&c);
    }
    arm_client_free(cl);
    auth_free(auth);
    arm_cloud_free(cloud);
    transport_free(t);
    armlocal_stop(al);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_armlocal_client__every_kind_through_the_arm_client),
        cmocka_unit_test(test_armlocal_client__vault_token_hosts),
    };
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
