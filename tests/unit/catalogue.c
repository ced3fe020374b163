/* Unit tests for the resource catalogue (providers/arm: schema, resolve,
 * render), the dependency graph (engine/graph), and how the planner
 * classifies key and CMK updates from the catalogue (engine/plan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/depgraph.h"
#include "engine/plan.h"
#include "engine/rules.h"
#include "parser/config.h"
#include "parser/value.h"
#include "providers/arm/render.h"
#include "providers/arm/resolve.h"
#include "providers/arm/schema.h"
#include "state/journal.h"
#include "util/buf.h"
#include "util/error.h"

#define EXAMPLES AMLSEC_SHARED_DIR "/data/arm-examples/"
/* responses the shared folder lacks (datastores), written for these tests */
#define REPO_EXAMPLES AMLSEC_SRC_DIR "/tests/data/"
#define SUB "00000000-0000-0000-0000-000000000000"

static json_t *load_json(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (j == NULL)
        fail_msg("cannot load %s: %s (line %d)", path, e.text, e.line);
    return j;
}

static json_t *jparse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (j == NULL)
        fail_msg("bad JSON in test: %s: %s", text, e.text);
    return j;
}

/* ---- the tables themselves ------------------------------------------- */

static void check_block_table(const struct schema_kind *k, const struct schema_block *b)
{
    for (const struct schema_attr *a = b->attrs; a->name; a++) {
        /* one attribute per name in a block: a look-up stops at the first */
        if (schema_block_attr(b, a->name) != a)
            fail_msg("%s: attribute '%s' is listed twice in a block", k->name, a->name);
        if (a->def) {
            json_t *d = json_loads(a->def, JSON_DECODE_ANY, NULL);
            if (d == NULL)
                fail_msg("%s.%s: default '%s' is not JSON", k->name, a->name, a->def);
            json_decref(d);
        }
        if (a->type == ST_BLOCK)
            assert_non_null(a->block);
        if (a->ref_kinds)
            for (const char *const *r = a->ref_kinds; *r; r++)
                if (schema_find(*r) == NULL)
                    fail_msg("%s.%s references unknown kind '%s'", k->name, a->name, *r);
        if (a->allowed && a->def && a->type == ST_STRING) {
            json_t *d = json_loads(a->def, JSON_DECODE_ANY, NULL);
            if (schema_enum_match(a->allowed, json_string_value(d)) == NULL)
                fail_msg("%s.%s: default %s not allowed", k->name, a->name, a->def);
            json_decref(d);
        }
        if (a->type == ST_BLOCK)
            check_block_table(k, a->block);
    }
}

static void test_catalogue__tables_consistent(void **state)
{
    size_t n = 0;
    (void)state;
    for (const struct schema_kind *k = schema_kinds; k->name; k++, n++) {
        assert_string_equal(schema_kind_names[n], k->name);
        assert_non_null(k->arm.type);
        assert_non_null(k->arm.api_version);
        assert_non_null(k->id_template);
        if (k->name_pattern) {
            regex_t re;
            assert_int_equal(regcomp(&re, k->name_pattern, REG_EXTENDED | REG_NOSUB), 0);
            regfree(&re);
        }
        check_block_table(k, &k->body);
    }
    assert_null(schema_kind_names[n]);
    assert_true(n >= 19);
    /* every kind the issue names */
    static const char *const required[] = {"resource_group",
                                           "workspace",
                                           "private_endpoint",
                                           "key_vault",
                                           "key",
                                           "storage_account",
                                           "container_registry",
                                           "app_insights",
                                           "compute_cluster",
                                           "online_endpoint",
                                           "role_assignment",
                                           "role_definition",
                                           "policy_assignment",
                                           "lock",
                                           "diagnostic_setting",
                                           "subnet",
                                           "virtual_network",
                                           NULL};
    for (const char *const *r = required; *r; r++)
        assert_non_null(schema_find(*r));
    /* api-versions from arm-api.md section 0 */
    assert_string_equal(schema_find("workspace")->arm.api_version, "2025-09-01");
    assert_string_equal(schema_find("private_endpoint")->arm.api_version, "2025-03-01");
    assert_string_equal(schema_find("key_vault")->arm.api_version, "2025-05-01");
    assert_string_equal(schema_find("storage_account")->arm.api_version, "2025-06-01");
    assert_string_equal(schema_find("container_registry")->arm.api_version, "2025-04-01");
    assert_string_equal(schema_find("role_assignment")->arm.api_version, "2022-04-01");
    assert_string_equal(schema_find("policy_assignment")->arm.api_version, "2025-03-01");
    assert_string_equal(schema_find("lock")->arm.api_version, "2020-05-01");
    assert_string_equal(schema_find("diagnostic_setting")->arm.api_version, "2021-05-01-preview");
    /* LRO patterns (arm-api.md section 2) */
    assert_int_equal(schema_find("private_endpoint")->arm.put, LRO_AZURE_ASYNC_OPERATION);
    assert_int_equal(schema_find("private_endpoint")->arm.del, LRO_LOCATION);
    assert_true(schema_find("private_endpoint")->no_verbs & SCHEMA_NO_PATCH);
    assert_true(schema_find("key")->no_verbs & SCHEMA_NO_DELETE);
    assert_int_equal(schema_find("online_endpoint")->arm.put, LRO_ORIGINAL_URI);
    assert_int_equal(schema_find("key_vault")->arm.patch, LRO_NONE);
    assert_int_equal(schema_find("key_vault")->arm.put, LRO_DEFAULT);
    assert_int_equal(schema_find("container_registry")->arm.put, LRO_AZURE_ASYNC_OPERATION);
    assert_int_equal(schema_find("lock")->arm.put, LRO_NONE);
    assert_int_equal(schema_find("workspace")->arm.del, LRO_LOCATION);
    assert_ptr_equal(schema_arm_kind("microsoft.keyvault/vaults", NULL),
                     &schema_find("key_vault")->arm);
    assert_null(schema_arm_kind("Microsoft.Web/sites", NULL));
    /* secure defaults are sent */
    assert_string_equal(schema_attr_find(schema_find("workspace"), "public_network_access")->def,
                        "false");
    assert_string_equal(schema_attr_find(schema_find("compute_cluster"), "node_public_ip")->def,
                        "false");
    assert_string_equal(schema_attr_find(schema_find("compute_cluster"), "local_auth")->def,
                        "false");
    assert_string_equal(
        schema_attr_find(schema_find("storage_account"), "network_rules.default_action")->def,
        "\"Deny\"");
    assert_non_null(schema_find_by_type("microsoft.keyvault/VAULTS"));
}

/* ---- JSON paths, enums, normalisers ---------------------------------- */

static void test_catalogue__json_paths(void **state)
{
    json_t *o = json_object();
    (void)state;
    assert_int_equal(schema_json_set(o, "a.b[1].c", json_string("x")), 0);
    assert_int_equal(schema_json_set(o, "a.b[0]", json_integer(3)), 0);
    assert_string_equal(json_string_value(schema_json_get(o, "a.b[1].c")), "x");
    assert_int_equal(json_integer_value(schema_json_get(o, "a.b[0]")), 3);
    assert_null(schema_json_get(o, "a.b[2]"));
    assert_null(schema_json_get(o, "a.x.y"));
    assert_ptr_equal(schema_json_get(o, ""), o);
    json_decref(o);
}

static void test_catalogue__normalisers(void **state)
{
    const struct schema_kind *kv = schema_find("key_vault");
    const struct schema_kind *ws = schema_find("workspace");
    struct {
        const struct schema_attr *a;
        const char *x, *y;
        bool equal;
    } cases[] = {
        {schema_attr_find(kv, "network_acls.ip_rules"), "[\"124.56.78.91\", \"10.0.0.0/24\"]",
         "[\"10.0.0.0/24\", \"124.56.78.91/32\"]", true},
        {schema_attr_find(kv, "network_acls.ip_rules"), "[\"124.56.78.91\"]",
         "[\"124.56.78.92/32\"]", false},
        {schema_attr_find(kv, "network_acls.subnets"),
         "[\"/subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/V/"
         "subnets/A\"]",
         "[\"/subscriptions/s/resourcegroups/rg/providers/microsoft.network/virtualnetworks/v/"
         "subnets/a\"]",
         true},
        {schema_attr_find(kv, "network_acls.default_action"), "\"deny\"", "\"Deny\"", true},
        {schema_attr_find(kv, "network_acls.default_action"), "\"deny\"", "\"Allow\"", false},
        {schema_attr_find(ws, "encryption.key_uri"),
         "\"https://kv.vault.azure.net:443/keys/k/0123456789abcdef0123456789abcdef\"",
         "\"https://KV.vault.azure.net/keys/k/0123456789abcdef0123456789abcdef\"", true},
        {schema_attr_find(ws, "key_vault"),
         "\"/subscriptions/S/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/KV\"",
         "{\"id\": \"/subscriptions/s/resourcegroups/RG/providers/microsoft.keyvault/vaults/kv\"}",
         true},
        {schema_attr_find(schema_find("key"), "ops"), "[\"wrapKey\", \"unwrapKey\"]",
         "[\"unwrap_key\", \"wrap_key\"]", true},
        /* absent equals the default */
        {schema_attr_find(ws, "public_network_access"), NULL, "false", true},
        {schema_attr_find(ws, "public_network_access"), NULL, "true", false},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *x = cases[i].x ? jparse(cases[i].x) : NULL;
        json_t *y = cases[i].y ? jparse(cases[i].y) : NULL;
        assert_non_null(cases[i].a);
        if (schema_values_equal(cases[i].a, x, y) != cases[i].equal)
            fail_msg("case %zu (%s): %s vs %s should be %s", i, cases[i].a->name,
                     cases[i].x ? cases[i].x : "(absent)", cases[i].y,
                     cases[i].equal ? "equal" : "different");
        json_decref(x);
        json_decref(y);
    }
}

static void test_catalogue__conversions(void **state)
{
    const struct schema_kind *ws = schema_find("workspace");
    const struct schema_attr *pna = schema_attr_find(ws, "public_network_access");
    const struct schema_attr *bypass =
        schema_attr_find(schema_find("storage_account"), "network_rules.bypass");
    const struct schema_attr *role = schema_attr_find(schema_find("role_assignment"), "role");
    json_t *v, *x;
    (void)state;
    x = schema_to_arm(pna, &pna->map, json_false(), NULL);
    assert_string_equal(json_string_value(x), "Disabled");
    v = schema_from_arm(pna, &pna->map, x);
    assert_true(json_is_false(v));
    json_decref(x);
    json_decref(v);

    v = jparse("[\"azure_services\", \"logging\"]");
    x = schema_to_arm(bypass, &bypass->map, v, NULL);
    assert_string_equal(json_string_value(x), "AzureServices, Logging");
    json_decref(v);
    v = schema_from_arm(bypass, &bypass->map, x);
    assert_int_equal(json_array_size(v), 2);
    assert_string_equal(json_string_value(json_array_get(v, 1)), "Logging");
    json_decref(x);
    json_decref(v);

    {
        /* key expiry: RFC 3339 UTC in the language, Unix seconds in ARM */
        const struct schema_attr *exp = schema_attr_find(schema_find("key"), "expires");
        static const struct {
            const char *text;
            long long t;
        } times[] = {
            {"1970-01-01T00:00:00Z", 0},
            {"2000-02-29T12:34:56Z", 951827696},
            {"2027-06-30T00:00:00Z", 1814313600},
            {"2100-03-01T23:59:59Z", 4107628799},
        };
        static const char *const bad[] = {"2027-02-29T00:00:00Z",  "2027-13-01T00:00:00Z",
                                          "2027-06-30 00:00:00Z",  "2027-06-30T00:00:00",
                                          "2027-06-30T24:00:00Z",  "1969-12-31T23:59:59Z",
                                          "2027-06-30T00:00:00Z ", "tomorrow"};
        long long t;
        for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
            v = json_string(times[i].text);
            x = schema_to_arm(exp, &exp->map, v, NULL);
            assert_int_equal(json_integer_value(x), times[i].t);
            json_decref(v);
            v = schema_from_arm(exp, &exp->map, x);
            assert_string_equal(json_string_value(v), times[i].text);
            json_decref(x);
            json_decref(v);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
            if (schema_time_parse(bad[i], &t))
                fail_msg("'%s' parsed as a time", bad[i]);
    }

    v = json_string("Reader");
    x = schema_to_arm(role, &role->map, v, SUB);
    assert_string_equal(json_string_value(x), "/subscriptions/" SUB "/providers/Microsoft."
                                              "Authorization/roleDefinitions/"
                                              "acdd72a7-3385-48ef-bd42-f606fba81ae7");
    json_decref(x);
    json_decref(v);

    /* unknown stays unknown */
    v = value_unknown();
    x = schema_to_arm(pna, &pna->map, v, NULL);
    assert_true(value_is_unknown(x));
    json_decref(x);
    json_decref(v);
}

/* ---- decoding Microsoft's example responses -------------------------- */

/* Every attribute the schema maps whose path the example has must decode. */
static void check_decoded(const struct schema_kind *k, const struct schema_block *b,
                          const json_t *arm, const json_t *dsl, const char *file, int *found)
{
    char path[512];
    for (const struct schema_attr *a = b->attrs; a->name; a++) {
        const json_t *x, *d;
        if (a->type == ST_BLOCK) {
            const json_t *sub = json_object_get(dsl, a->name);
            check_decoded(k, a->block, arm, sub ? sub : json_null(), file, found);
            continue;
        }
        if (a->map.path == NULL || (a->flags & SF_WRITE_ONLY))
            continue;
        if (b->base[0])
            snprintf(path, sizeof(path), "%s.%s", b->base, a->map.path);
        else
            snprintf(path, sizeof(path), "%s", a->map.path);
        x = schema_json_get(arm, path);
        if (x == NULL || json_is_null(x))
            continue;
        d = json_object_get(dsl, a->name);
        if (d == NULL)
            fail_msg("%s: %s.%s is at '%s' in the example but was not decoded", file, k->name,
                     a->name, path);
        (*found)++;
    }
}

static json_t *decode_example_in(const char *dir, const char *kind, const char *file,
                                 const char *code, int *found)
{
    char path[1024];
    json_t *ex, *body, *dsl;
    const struct schema_kind *k = schema_find(kind);
    assert_non_null(k);
    snprintf(path, sizeof(path), "%s%s", dir, file);
    ex = load_json(path);
    body = json_object_get(json_object_get(json_object_get(ex, "responses"), code), "body");
    if (body == NULL)
        fail_msg("%s has no %s response body", file, code);
    dsl = render_decode(k, body);
    assert_non_null(dsl);
    *found = 0;
    check_decoded(k, &k->body, body, dsl, file, found);
    json_decref(ex);
    return dsl;
}

static json_t *decode_example(const char *kind, const char *file, const char *code, int *found)
{
    return decode_example_in(EXAMPLES, kind, file, code, found);
}

static const char *str_at(const json_t *o, const char *path)
{
    const json_t *v = schema_json_get(o, path);
    if (!json_is_string(v))
        fail_msg("no string at '%s'", path);
    return json_string_value(v);
}

/* The conversions of initiatives, managed network outbound rules and storage
 * CMKs: rendered, decoded, rendered again to the same ARM value. */
static void test_catalogue__conversions_round_trip(void **state)
{
    static const struct {
        const char *kind, *attr, *dsl, *arm;
    } cases[] = {
        {"policy_set_definition", "policies",
         "[{\"definition\": \"/subscriptions/s/providers/Microsoft.Authorization/"
         "policyDefinitions/nopub\", \"parameters\": {\"effect\": \"[parameters('e')]\"}}]",
         "[{\"policyDefinitionId\": \"/subscriptions/s/providers/Microsoft.Authorization/"
         "policyDefinitions/nopub\", \"parameters\": {\"effect\": {\"value\": "
         "\"[parameters('e')]\"}}, \"policyDefinitionReferenceId\": \"nopub\"}]"},
        {"workspace", "managed_network.outbound_rules",
         "{\"pypi\": {\"type\": \"fqdn\", \"destination\": \"pypi.org\"}, \"st\": {\"type\": "
         "\"PrivateEndpoint\", \"target\": \"/subscriptions/s/x\", \"subresource\": \"blob\"}, "
         "\"aad\": {\"type\": \"ServiceTag\", \"service_tag\": \"AzureActiveDirectory\", "
         "\"protocol\": \"TCP\", \"ports\": \"443\"}}",
         "{\"pypi\": {\"type\": \"FQDN\", \"category\": \"UserDefined\", \"destination\": "
         "\"pypi.org\"}, \"st\": {\"type\": \"PrivateEndpoint\", \"category\": \"UserDefined\", "
         "\"destination\": {\"serviceResourceId\": \"/subscriptions/s/x\", "
         "\"subresourceTarget\": \"blob\"}}, \"aad\": {\"type\": \"ServiceTag\", \"category\": "
         "\"UserDefined\", \"destination\": {\"serviceTag\": \"AzureActiveDirectory\", "
         "\"protocol\": \"TCP\", \"portRanges\": \"443\", \"action\": \"Allow\"}}}"},
        {"storage_account", "encryption.key",
         "{\"id\": \"/subscriptions/s/k\", \"versioned_uri\": "
         "\"https://kv.vault.azure.net/keys/cmk/0123456789abcdef0123456789abcdef\"}",
         "{\"keyvaulturi\": \"https://kv.vault.azure.net\", \"keyname\": \"cmk\"}"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct schema_attr *a = schema_attr_find(schema_find(cases[i].kind), cases[i].attr);
        json_t *dsl = jparse(cases[i].dsl), *want = jparse(cases[i].arm), *arm, *back, *again;
        assert_non_null(a);
        arm = schema_to_arm(a, &a->map, dsl, NULL);
        assert_true(json_equal(arm, want));
        back = schema_from_arm(a, &a->map, arm);
        again = schema_to_arm(a, &a->map, back, NULL);
        assert_true(json_equal(again, want));
        json_decref(dsl);
        json_decref(want);
        json_decref(arm);
        json_decref(back);
        json_decref(again);
    }
    {
        /* the service's own outbound rules are not the configuration's */
        const struct schema_attr *a =
            schema_attr_find(schema_find("workspace"), "managed_network.outbound_rules");
        json_t *arm = jparse("{\"__SYS_PE_st_blob\": {\"type\": \"PrivateEndpoint\", "
                             "\"category\": \"Required\"}}");
        json_t *back = schema_from_arm(a, &a->map, arm);
        assert_int_equal(json_object_size(back), 0);
        json_decref(arm);
        json_decref(back);
    }
}

static void test_catalogue__decode_examples(void **state)
{
    int found;
    json_t *d;
    (void)state;

    d = decode_example("workspace", "ml/Workspace/get.json", "200", &found);
    assert_true(found >= 12);
    assert_true(json_is_false(json_object_get(d, "hbi")));
    assert_true(json_is_false(json_object_get(d, "public_network_access")));
    assert_string_equal(str_at(d, "image_build_compute"), "testcompute");
    assert_string_equal(str_at(d, "encryption.key.versioned_uri"),
                        "https://testkv.vault.azure.net/keys/testkey/"
                        "aabbccddee112233445566778899aabb");
    assert_true(strstr(str_at(d, "encryption.key.vault_id"), "/vaults/testkv") != NULL);
    assert_string_equal(str_at(d, "identity.type"), "SystemAssigned,UserAssigned");
    assert_int_equal(json_array_size(schema_json_get(d, "identity.user_assigned")), 1);
    assert_string_equal(str_at(d, "service_provisioned_resource_group"),
                        "testworkspace_0000111122223333");
    assert_string_equal(str_at(d, "name"), "testworkspace");
    json_decref(d);
    d = decode_example("workspace", "ml/Workspace/create.json", "200", &found);
    assert_true(found >= 10);
    json_decref(d);

    d = decode_example("compute_cluster", "ml/Compute/get/AmlCompute.json", "200", &found);
    assert_true(found >= 8);
    assert_string_equal(str_at(d, "vm_size"), "STANDARD_NC6");
    assert_true(json_is_true(json_object_get(d, "node_public_ip")));
    assert_int_equal(json_integer_value(schema_json_get(d, "scale.max")), 1);
    assert_string_equal(str_at(d, "remote_login_port_public_access"), "Enabled");
    assert_string_equal(str_at(d, "provisioning_state"), "Succeeded");
    json_decref(d);

    d = decode_example("online_endpoint", "ml/Workspace/OnlineEndpoint/get.json", "200", &found);
    assert_true(found >= 5);
    assert_string_equal(str_at(d, "auth"), "AMLToken");
    assert_string_equal(str_at(d, "scoring_uri"), "https://www.contoso.com/example");
    assert_null(json_object_get(d, "keys")); /* write-only: never read back */
    json_decref(d);

    d = decode_example("private_endpoint", "network/PrivateEndpointGet.json", "200", &found);
    assert_true(found >= 6);
    assert_string_equal(str_at(d, "subresource"), "groupIdFromResource");
    assert_string_equal(str_at(d, "connection_status"), "Approved");
    assert_true(strstr(str_at(d, "subnet"), "/subnets/mySubnet") != NULL);
    assert_string_equal(str_at(d, "nic_name"), "testPeNic");
    json_decref(d);

    d = decode_example("key_vault", "keyvault/getVault.json", "200", &found);
    assert_true(found >= 7);
    assert_true(json_is_true(json_object_get(d, "public_network_access")));
    assert_true(json_is_true(json_object_get(d, "enabled_for_deployment")));
    assert_string_equal(str_at(d, "vault_uri"), "https://sample-vault.vault.azure.net");
    assert_string_equal(str_at(d, "sku"), "standard");
    json_decref(d);
    d = decode_example("key_vault", "keyvault/createVaultWithNetworkAcls.json", "200", &found);
    assert_string_equal(str_at(d, "network_acls.default_action"), "Deny");
    assert_string_equal(str_at(d, "network_acls.ip_rules[0]"), "124.56.78.91/32");
    assert_string_equal(str_at(d, "network_acls.bypass[0]"), "AzureServices");
    {
        /* the echo is normalised (CIDR, lowercased ids): equal to what was sent */
        const struct schema_attr *ip =
            schema_attr_find(schema_find("key_vault"), "network_acls.ip_rules");
        json_t *sent = jparse("[\"124.56.78.91\", \"'10.91.4.0/24'\"]");
        assert_true(schema_values_equal(ip, sent, schema_json_get(d, "network_acls.ip_rules")));
        json_decref(sent);
    }
    json_decref(d);
    d = decode_example("key_vault", "keyvault/updateVault.json", "200", &found);
    json_decref(d);

    d = decode_example("key", "keyvault/getKey.json", "200", &found);
    assert_true(found >= 5);
    assert_string_equal(str_at(d, "type"), "RSA");
    assert_int_equal(json_integer_value(json_object_get(d, "size")), 2048);
    {
        /* keyUri carries :443; the normaliser drops it */
        const struct schema_attr *u = schema_attr_find(schema_find("key"), "uri");
        json_t *plain =
            json_string("https://sample-vault-name.vault.azure.net/keys/sample-key-name");
        assert_true(schema_values_equal(u, plain, json_object_get(d, "uri")));
        json_decref(plain);
    }
    json_decref(d);
    d = decode_example("key", "keyvault/createKey.json", "200", &found);
    json_decref(d);

    d = decode_example("storage_account", "storage/StorageAccountGetProperties.json", "200",
                       &found);
    assert_true(found >= 7);
    assert_string_equal(str_at(d, "sku"), "Standard_GRS");
    assert_string_equal(str_at(d, "kind"), "Storage");
    assert_true(json_is_true(json_object_get(d, "hns")));
    assert_string_equal(str_at(d, "network_rules.default_action"), "Allow");
    assert_false(json_is_true(json_object_get(d, "https_only")));
    json_decref(d);
    d = decode_example("storage_account", "storage/StorageAccountCreate.json", "200", &found);
    json_decref(d);

    d = decode_example("container_registry", "containerregistry/RegistryGet.json", "200", &found);
    assert_true(found >= 7);
    assert_string_equal(str_at(d, "sku"), "Standard");
    assert_true(json_is_false(json_object_get(d, "admin_user")));
    assert_true(json_is_true(json_object_get(d, "public_network_access")));
    assert_true(json_is_false(json_object_get(d, "zone_redundancy")));
    assert_string_equal(str_at(d, "login_server"), "myRegistry.azurecr-test.io");
    json_decref(d);
    d = decode_example("container_registry", "containerregistry/RegistryCreate.json", "200",
                       &found);
    json_decref(d);

    d = decode_example("role_assignment", "authorization/RoleAssignments_Get.json", "200", &found);
    assert_true(found >= 3);
    assert_string_equal(str_at(d, "principal_type"), "User");
    assert_true(strstr(str_at(d, "role"), "0b5fe924") != NULL);
    json_decref(d);

    d = decode_example("policy_assignment", "authorization/getPolicyAssignment.json", "200",
                       &found);
    assert_true(found >= 5);
    assert_true(json_is_true(json_object_get(d, "enforce")));
    assert_string_equal(str_at(d, "parameters.prefix"), "DeptA");
    json_decref(d);

    d = decode_example("lock", "authorization/ManagementLocks_GetAtResourceLevel.json", "200",
                       &found);
    assert_true(found >= 1);
    assert_string_equal(str_at(d, "level"), "ReadOnly");
    json_decref(d);

    /* datastores: secrets are never returned; the credentials type is */
    d = decode_example_in(REPO_EXAMPLES, "datastore", "datastore/blob_account_key.json", "200",
                          &found);
    assert_true(found >= 8);
    assert_string_equal(str_at(d, "type"), "AzureBlob");
    assert_string_equal(str_at(d, "container_name"), "training");
    assert_string_equal(str_at(d, "endpoint"), "core.windows.net");
    assert_string_equal(str_at(d, "credentials.type"), "AccountKey");
    assert_null(schema_json_get(d, "credentials.account_key"));
    assert_true(json_is_false(json_object_get(d, "is_default")));
    assert_string_equal(str_at(d, "tags.team"), "ml-platform");
    json_decref(d);
    d = decode_example_in(REPO_EXAMPLES, "datastore", "datastore/file_account_key.json", "201",
                          &found);
    assert_true(found >= 6);
    assert_string_equal(str_at(d, "type"), "AzureFile");
    assert_string_equal(str_at(d, "file_share_name"), "notebooks");
    json_decref(d);
    d = decode_example_in(REPO_EXAMPLES, "datastore", "datastore/adls_gen2_service_principal.json",
                          "200", &found);
    assert_true(found >= 10);
    assert_string_equal(str_at(d, "type"), "AzureDataLakeGen2");
    assert_string_equal(str_at(d, "filesystem"), "curated");
    assert_string_equal(str_at(d, "credentials.type"), "ServicePrincipal");
    assert_string_equal(str_at(d, "credentials.client_id"), "4b1d7c3e-9a55-4c1e-8f3a-6e2d0b9c1a77");
    assert_null(schema_json_get(d, "credentials.client_secret"));
    json_decref(d);
}

/* ---- change classification ------------------------------------------- */

static void test_catalogue__change_classification(void **state)
{
    static const char kvid[] = "/subscriptions/" SUB "/resourceGroups/rg/providers/"
                               "Microsoft.KeyVault/vaults/kv";
    struct {
        const char *kind, *before, *after;
        enum schema_change want;
    } cases[] = {
        /* workspace: hbi, vault and storage links, encryption vault are create-only;
         * the CMK key version, network access and the registry are updatable */
        {"workspace", "{\"hbi\": false}", "{\"hbi\": true}", CHANGE_REPLACE},
        {"workspace", "{}", "{\"hbi\": false}", CHANGE_NONE},
        {"workspace", "{\"public_network_access\": true}", "{}", CHANGE_UPDATE},
        {"workspace", "{\"key_vault\": \"/subscriptions/s/resourceGroups/r/providers/x/vaults/A\"}",
         "{\"key_vault\": \"/subscriptions/s/resourceGroups/r/providers/x/vaults/B\"}",
         CHANGE_REPLACE},
        {"workspace", "{\"key_vault\": \"/subscriptions/s/resourceGroups/r/providers/x/vaults/A\"}",
         "{\"key_vault\": {\"id\": \"/SUBSCRIPTIONS/s/resourcegroups/r/providers/x/vaults/a\"}}",
         CHANGE_NONE},
        {"workspace", "{\"storage_account\": \"/subscriptions/s/a\"}",
         "{\"storage_account\": \"/subscriptions/s/b\"}", CHANGE_REPLACE},
        {"workspace", "{\"container_registry\": \"/subscriptions/s/a\"}",
         "{\"container_registry\": \"/subscriptions/s/b\"}", CHANGE_UPDATE},
        {"workspace", "{\"image_build_compute\": \"a\"}", "{\"image_build_compute\": \"b\"}",
         CHANGE_UPDATE},
        {"workspace", "{}",
         "{\"encryption\": {\"key_uri\": \"https://kv.vault.azure.net/keys/k/1\"}}",
         CHANGE_REPLACE},
        {"workspace", "{\"encryption\": {\"key_uri\": \"https://kv.vault.azure.net/keys/k/1\"}}",
         "{\"encryption\": {\"key_uri\": \"https://kv.vault.azure.net/keys/k/2\"}}", CHANGE_UPDATE},
        {"workspace",
         "{\"encryption\": {\"key_uri\": \"https://kv.vault.azure.net:443/keys/k/1\"}}",
         "{\"encryption\": {\"key_uri\": \"https://kv.vault.azure.net/keys/k/1\"}}", CHANGE_NONE},
        {"workspace", "{\"service_side_encryption\": false}", "{\"service_side_encryption\": true}",
         CHANGE_REPLACE},
        {"workspace", "{\"allow_public_access_when_behind_vnet\": true}", "{}", CHANGE_REPLACE},
        /* key_vault: protection cannot be turned off */
        {"key_vault", "{\"purge_protection\": true}", "{\"purge_protection\": false}",
         CHANGE_IMPOSSIBLE},
        {"key_vault", "{}", "{\"purge_protection\": false}", CHANGE_IMPOSSIBLE},
        {"key_vault", "{\"purge_protection\": false}", "{\"purge_protection\": true}",
         CHANGE_UPDATE},
        {"key_vault", "{\"soft_delete\": true}", "{\"soft_delete\": false}", CHANGE_IMPOSSIBLE},
        {"key_vault", "{\"network_acls\": {\"ip_rules\": [\"1.2.3.4\"]}}",
         "{\"network_acls\": {\"ip_rules\": [\"1.2.3.4/32\"]}}", CHANGE_NONE},
        {"key_vault", "{\"network_acls\": {\"default_action\": \"Deny\"}}", "{}", CHANGE_NONE},
        {"key_vault", "{\"network_acls\": {\"default_action\": \"allow\"}}", "{}", CHANGE_UPDATE},
        {"key_vault", "{\"name\": \"a\"}", "{\"name\": \"b\"}", CHANGE_REPLACE},
        {"key_vault", "{\"create_mode\": \"recover\"}", "{}", CHANGE_NONE}, /* write-only */
        /* key: new versions through the data plane are updates */
        {"key", "{\"size\": 2048}", "{\"size\": 3072}", CHANGE_UPDATE},
        {"key", "{\"ops\": [\"wrapKey\", \"unwrapKey\"]}",
         "{\"ops\": [\"unwrapKey\", \"wrapKey\"]}", CHANGE_NONE},
        /* datastore: the type is create-only; secrets are write-only */
        {"datastore", "{\"type\": \"AzureBlob\"}", "{\"type\": \"azure_file\"}", CHANGE_REPLACE},
        {"datastore", "{\"type\": \"AzureBlob\"}", "{\"type\": \"azure_blob\"}", CHANGE_NONE},
        {"datastore", "{\"container_name\": \"a\"}", "{\"container_name\": \"b\"}", CHANGE_UPDATE},
        {"datastore", "{\"credentials\": {\"type\": \"AccountKey\"}}", "{}", CHANGE_UPDATE},
        {"datastore", "{}", "{\"credentials\": {\"account_key\": \"k\"}}", CHANGE_NONE},
        /* storage, registry */
        {"storage_account", "{\"hns\": false}", "{\"hns\": true}", CHANGE_REPLACE},
        {"storage_account", "{\"network_rules\": {\"default_action\": \"Allow\"}}", "{}",
         CHANGE_UPDATE},
        {"container_registry", "{\"zone_redundancy\": false}", "{\"zone_redundancy\": true}",
         CHANGE_REPLACE},
        {"container_registry", "{\"sku\": \"Standard\"}", "{\"sku\": \"premium\"}", CHANGE_UPDATE},
        {"container_registry", "{\"sku\": \"Premium\"}", "{}", CHANGE_NONE},
        /* compute: only scale is patchable */
        {"compute_cluster", "{\"local_auth\": true}", "{\"local_auth\": false}", CHANGE_REPLACE},
        {"compute_cluster", "{\"vm_size\": \"a\"}", "{\"vm_size\": \"b\"}", CHANGE_REPLACE},
        {"compute_cluster", "{\"scale\": {\"max\": 2}}", "{\"scale\": {\"max\": 4}}",
         CHANGE_UPDATE},
        {"compute_cluster", "{\"compute_location\": \"a\"}", "{\"compute_location\": \"b\"}",
         CHANGE_REPLACE},
        /* locks are recreated on any edit */
        {"lock", "{\"notes\": \"a\"}", "{\"notes\": \"b\"}", CHANGE_REPLACE},
        {"lock", "{\"level\": \"ReadOnly\"}", "{\"level\": \"CanNotDelete\"}", CHANGE_REPLACE},
        {"lock", "{\"level\": \"ReadOnly\"}", "{\"level\": \"read_only\"}", CHANGE_NONE},
        /* endpoint auth is a full PUT, not a replacement */
        {"online_endpoint", "{\"auth\": \"Key\"}", "{\"auth\": \"aad_token\"}", CHANGE_UPDATE},
        {"online_endpoint", "{\"keys\": {\"primary\": \"a\"}}", "{\"keys\": {\"primary\": \"b\"}}",
         CHANGE_REPLACE},
        {"private_endpoint", "{\"subnet\": \"/subscriptions/s/a\"}",
         "{\"subnet\": \"/subscriptions/s/b\"}", CHANGE_REPLACE},
        {"role_assignment", "{\"principal\": \"a\"}", "{\"principal\": \"b\"}", CHANGE_REPLACE},
        {"policy_assignment", "{\"enforce\": true}", "{\"enforce\": false}", CHANGE_UPDATE},
        {"diagnostic_setting", "{\"logs\": [\"allLogs\"]}", "{\"logs\": [\"audit\"]}",
         CHANGE_UPDATE},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct schema_kind *k = schema_find(cases[i].kind);
        json_t *b = jparse(cases[i].before), *a = jparse(cases[i].after);
        struct schema_diff_entry e[8];
        size_t n = 0;
        enum schema_change got = schema_diff(k, b, a, e, 8, &n);
        if (got != cases[i].want)
            fail_msg("case %zu (%s): %s -> %s: got %s, want %s", i, cases[i].kind, cases[i].before,
                     cases[i].after, schema_change_name(got), schema_change_name(cases[i].want));
        if (got != CHANGE_NONE)
            assert_true(n >= 1);
        json_decref(b);
        json_decref(a);
    }

    /* CMK through a key reference: a new key version is a rotation (update);
     * another vault is a replacement. */
    {
        const struct schema_kind *ws = schema_find("workspace");
        json_t *v1 = json_pack("{s{s{ss ss}}}", "encryption", "key", "vault_id", kvid,
                               "versioned_uri", "https://kv.vault.azure.net/keys/k/v1");
        json_t *v2 = json_pack("{s{s{ss ss}}}", "encryption", "key", "vault_id", kvid,
                               "versioned_uri", "https://kv.vault.azure.net/keys/k/v2");
        json_t *other = json_pack("{s{s{ss ss}}}", "encryption", "key", "vault_id",
                                  "/subscriptions/x/resourceGroups/r/providers/"
                                  "Microsoft.KeyVault/vaults/other",
                                  "versioned_uri", "https://other.vault.azure.net/keys/k/v1");
        struct schema_diff_entry e[4];
        size_t n = 0;
        assert_int_equal(schema_diff(ws, v1, v2, e, 4, &n), CHANGE_UPDATE);
        assert_int_equal(n, 1);
        assert_string_equal(e[0].path, "encryption.key");
        assert_non_null(strstr(e[0].why, "rotation"));
        assert_int_equal(schema_diff(ws, v1, other, e, 4, &n), CHANGE_REPLACE);
        json_decref(v1);
        json_decref(v2);
        json_decref(other);
    }
}

/* ---- resolver -------------------------------------------------------- */

static void test_catalogue__resolve_ids(void **state)
{
    json_t *settings = json_pack("{ss ss}", "subscription", SUB, "location", "westeurope");
    json_t *rg, *kv, *key, *ws, *pe, *ra, *ra2, *attrs;
    (void)state;
    attrs = json_pack("{ss}", "name", "rg-ml");
    rg = resolve_value(schema_find("resource_group"), attrs, settings, "ml", false);
    json_decref(attrs);
    assert_string_equal(str_at(rg, "id"), "/subscriptions/" SUB "/resourceGroups/rg-ml");
    assert_string_equal(str_at(rg, "location"), "westeurope");

    attrs = json_pack("{sO}", "resource_group", rg);
    kv = resolve_value(schema_find("key_vault"), attrs, settings, "kv-cmk", false);
    json_decref(attrs);
    assert_string_equal(str_at(kv, "id"), "/subscriptions/" SUB "/resourceGroups/rg-ml/providers/"
                                          "Microsoft.KeyVault/vaults/kv-cmk");
    assert_string_equal(str_at(kv, "vault_uri"), "https://kv-cmk.vault.azure.net/");
    assert_string_equal(str_at(kv, "resource_type"), "Microsoft.KeyVault/vaults");

    attrs = json_pack("{sO}", "vault", kv);
    key = resolve_value(schema_find("key"), attrs, settings, "ws", false);
    json_decref(attrs);
    assert_string_equal(str_at(key, "id"), "/subscriptions/" SUB "/resourceGroups/rg-ml/providers/"
                                           "Microsoft.KeyVault/vaults/kv-cmk/keys/ws");
    assert_string_equal(str_at(key, "vault_id"), str_at(kv, "id"));
    assert_string_equal(str_at(key, "uri"), "https://kv-cmk.vault.azure.net/keys/ws");
    assert_true(value_is_unknown(json_object_get(key, "versioned_uri")));

    /* a resource group given by name */
    attrs = json_pack("{ss ss}", "resource_group", "rg-other", "name", "mlw");
    ws = resolve_value(schema_find("workspace"), attrs, settings, "w", false);
    json_decref(attrs);
    assert_string_equal(str_at(ws, "id"), "/subscriptions/" SUB "/resourceGroups/rg-other/"
                                          "providers/Microsoft.MachineLearningServices/"
                                          "workspaces/mlw");
    assert_true(value_is_unknown(json_object_get(ws, "workspace_id")));

    /* private endpoint: target's resource group, derived name */
    attrs = json_pack("{sO ss ss}", "target", kv, "subresource", "vault", "subnet", "/x");
    pe = resolve_value(schema_find("private_endpoint"), attrs, settings, "v", false);
    json_decref(attrs);
    assert_string_equal(str_at(pe, "name"), "pe-kv-cmk-vault");
    assert_string_equal(str_at(pe, "id"), "/subscriptions/" SUB "/resourceGroups/rg-ml/providers/"
                                          "Microsoft.Network/privateEndpoints/pe-kv-cmk-vault");

    /* role assignment: deterministic GUID from scope, role and principal */
    attrs = json_pack("{sO ss ss}", "scope", rg, "role", "Reader", "principal", "p1");
    ra = resolve_value(schema_find("role_assignment"), attrs, settings, "r", false);
    ra2 = resolve_value(schema_find("role_assignment"), attrs, settings, "other_label", false);
    json_decref(attrs);
    assert_string_equal(str_at(ra, "name"), str_at(ra2, "name"));
    assert_int_equal(strlen(str_at(ra, "name")), 36);
    assert_int_equal(str_at(ra, "name")[14], '5');
    json_decref(ra2);
    attrs = json_pack("{sO ss ss}", "scope", rg, "role", "Reader", "principal", "p2");
    ra2 = resolve_value(schema_find("role_assignment"), attrs, settings, "r", false);
    json_decref(attrs);
    assert_string_not_equal(str_at(ra, "name"), str_at(ra2, "name"));

    /* no subscription: the id is unknown until apply */
    {
        json_t *empty = json_object();
        json_t *x;
        attrs = json_pack("{ss}", "name", "rg");
        x = resolve_value(schema_find("resource_group"), attrs, empty, "rg", false);
        assert_true(value_is_unknown(json_object_get(x, "id")));
        json_decref(x);
        json_decref(attrs);
        json_decref(empty);
    }
    /* existing: given id, everything else unknown */
    {
        json_t *x;
        attrs = json_pack("{ss}", "id",
                          "/subscriptions/s/resourceGroups/r/providers/"
                          "Microsoft.KeyVault/vaults/shared");
        x = resolve_value(schema_find("key_vault"), attrs, settings, "s", true);
        assert_string_equal(str_at(x, "name"), "shared");
        assert_true(value_is_unknown(json_object_get(x, "purge_protection")));
        json_decref(x);
        json_decref(attrs);
    }
    json_decref(rg);
    json_decref(kv);
    json_decref(key);
    json_decref(ws);
    json_decref(pe);
    json_decref(ra);
    json_decref(ra2);
    json_decref(settings);
}

/* ---- graph (through the real loader) --------------------------------- */

static struct config *load_text(const char *text, struct diag_list *diags)
{
    char dir[] = "/tmp/amlsec-catalogue-XXXXXX";
    char path[256];
    struct config_opts opts;
    struct config *cfg = NULL;
    struct errbuf err = ERRBUF_INIT;
    FILE *f;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/main.amlsec", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    memset(&opts, 0, sizeof(opts));
    opts.path = dir;
    opts.kinds = schema_kind_names;
    opts.resolver = resolve_resolver();
    if (config_load(&cfg, &opts, diags, &err) != 0) {
        for (size_t i = 0; i < diags->n; i++)
            fprintf(stderr, "%s\n", diags->items[i].message);
        fail_msg("load failed: %s", err.msg);
    }
    unlink(path);
    rmdir(dir);
    return cfg;
}

static const char graph_cfg[] =
    "settings {\n  subscription = \"" SUB "\"\n  location = \"westeurope\"\n}\n"
    "workspace \"w\" {\n  resource_group = resource_group.rg\n  key_vault = key_vault.kv\n"
    "  storage_account = \"/subscriptions/" SUB "/resourceGroups/rg/providers/"
    "Microsoft.Storage/storageAccounts/st\"\n  encryption {\n    key = key.k\n  }\n}\n"
    "private_endpoint \"p\" {\n  target = workspace.w\n  subresource = \"amlworkspace\"\n"
    "  subnet = \"/x\"\n}\n"
    "key \"k\" {\n  vault = key_vault.kv\n}\n"
    "key_vault \"kv\" {\n  resource_group = resource_group.rg\n}\n"
    "storage_account \"st\" {\n  resource_group = resource_group.rg\n}\n"
    "resource_group \"rg\" {}\n";

static size_t pos(const struct depgraph *g, const char *addr)
{
    long idx = depgraph_find(g, addr);
    if (idx < 0)
        fail_msg("no node %s", addr);
    for (size_t i = 0; i < g->norder; i++)
        if (g->order[i] == (size_t)idx)
            return i;
    fail_msg("%s not ordered", addr);
    return 0;
}

static void test_catalogue__graph_order(void **state)
{
    struct diag_list diags;
    struct config *cfg;
    struct depgraph *g = NULL;
    struct errbuf err = ERRBUF_INIT;
    struct buf dot;
    (void)state;
    diag_list_init(&diags);
    cfg = load_text(graph_cfg, &diags);
    assert_int_equal(depgraph_build(&g, cfg, &err), 0);
    assert_int_equal(depgraph_sort(g, &err), 0);
    assert_int_equal(g->norder, g->n);
    assert_true(pos(g, "resource_group.rg") < pos(g, "key_vault.kv"));
    assert_true(pos(g, "key_vault.kv") < pos(g, "key.k"));
    assert_true(pos(g, "key.k") < pos(g, "workspace.w"));
    assert_true(pos(g, "workspace.w") < pos(g, "private_endpoint.p"));
    /* the storage account is named by an id string only: still an edge */
    assert_true(pos(g, "storage_account.st") < pos(g, "workspace.w"));
    buf_init(&dot, 0);
    assert_int_equal(depgraph_dot(g, &dot, &err), 0);
    assert_non_null(strstr(dot.ptr, "\"workspace.w\" -> \"key.k\";"));
    assert_non_null(strstr(dot.ptr, "\"workspace.w\" -> \"key_vault.kv\""));
    assert_non_null(strstr(dot.ptr, "\"workspace.w\" -> \"storage_account.st\";"));
    /* every limit short of the whole text (buf's 256 MB, lowered) is an
     * error that says so, never text with a piece missing (a long address
     * refused, the shorter appends after it taken: exit 0 with broken DOT,
     * or `amlsec graph` printing an empty "amlsec: error:") */
    for (size_t max = 1; max < dot.len; max++) { /* 0 is buf_init's default */
        struct buf small;
        struct errbuf e2 = ERRBUF_INIT;
        buf_init(&small, max);
        if (depgraph_dot(g, &small, &e2) == 0)
            fail_msg("limit %zu: no error (%zu bytes written of %zu)", max, small.len, dot.len);
        assert_non_null(strstr(e2.msg, "-byte limit on generated text"));
        assert_int_equal(strncmp(small.ptr, dot.ptr, small.len), 0);
        buf_release(&small);
    }
    buf_release(&dot);
    depgraph_free(g);
    config_free(cfg);
    diag_list_release(&diags);
}

static int dump_to_buf(const char *text, size_t n, void *data)
{
    return buf_add(data, text, n) == 0 ? 0 : -1;
}

/* A saved plan's configuration: Terraform's expression representation per
 * block, a sensitive literal left out, a for expression's references
 * without its own variables. */
static void test_catalogue__plan_configuration(void **state)
{
    static const char extra[] =
        "compute_cluster \"c\" {\n  workspace = workspace.w\n  name = \"c\"\n"
        "  vm_size = \"Standard_DS3_v2\"\n  admin {\n    user = \"azureuser\"\n"
        "    password = \"literal-Secret-1\"\n  }\n}\n"
        "resource_group \"rg2\" {\n  tags = { for n in [\"a\", \"b\"] : n => key_vault.kv.name "
        "}\n}\n";
    char text[sizeof(graph_cfg) + sizeof(extra)];
    struct diag_list diags;
    struct config *cfg;
    json_t *conf, *c = NULL, *rg2 = NULL, *x;
    size_t i;
    char *dump;
    (void)state;
    snprintf(text, sizeof(text), "%s%s", graph_cfg, extra);
    diag_list_init(&diags);
    cfg = load_text(text, &diags);
    conf = plan_configuration(cfg);
    json_array_foreach(conf, i, x)
    {
        const char *a = json_string_value(json_object_get(x, "address"));
        if (a == NULL) { /* the root module's entry: its variables and outputs */
            assert_string_equal(json_string_value(json_object_get(x, "module_call")), "");
            continue;
        }
        if (strcmp(a, "compute_cluster.c") == 0)
            c = json_object_get(x, "expressions");
        if (strcmp(a, "resource_group.rg2") == 0)
            rg2 = json_object_get(x, "expressions");
    }
    assert_non_null(c);
    assert_non_null(rg2);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(c, "name"), "constant_value")), "c");
    x = json_object_get(json_array_get(json_object_get(c, "admin"), 0), "password");
    assert_non_null(x);
    assert_int_equal(json_object_size(x), 0); /* the literal secret is not repeated */
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(json_object_get(c, "admin"), 0), "user"),
                            "constant_value")),
                        "azureuser");
    x = json_object_get(json_object_get(rg2, "tags"), "references");
    dump = json_dumps(x, JSON_COMPACT);
    assert_string_equal(dump, "[\"key_vault.kv.name\",\"key_vault.kv\"]");
    free(dump);
    dump = json_dumps(conf, JSON_COMPACT);
    assert_null(strstr(dump, "literal-Secret-1"));
    free(dump);
    {
        /* plan -out makes the entries one at a time as it writes them: the
         * same bytes as the configuration built as a whole */
        struct plan *p = calloc(1, sizeof(*p));
        struct buf streamed, whole;
        buf_init(&streamed, 1 << 24);
        buf_init(&whole, 1 << 24);
        p->configuration_of = cfg;
        assert_int_equal(plan_json_dump(p, dump_to_buf, &streamed), 0);
        p->configuration_of = NULL;
        p->configuration = json_incref(conf);
        assert_int_equal(plan_json_dump(p, dump_to_buf, &whole), 0);
        assert_int_equal(streamed.len, whole.len);
        assert_memory_equal(streamed.ptr, whole.ptr, whole.len);
        assert_non_null(strstr(streamed.ptr, "\"configuration\":[{"));
        buf_release(&streamed);
        buf_release(&whole);
        plan_free(p);
    }
    json_decref(conf);
    config_free(cfg);
    diag_list_release(&diags);
}

static void test_catalogue__graph_cycle(void **state)
{
    /* The lock names the registry by id string while the registry reads the
     * lock: no reference cycle for the front end, a cycle in ARM order. */
    static const char text[] =
        "settings {\n  subscription = \"" SUB "\"\n}\n"
        "container_registry \"acr\" {\n  resource_group = \"rg\"\n  name = \"acrml001\"\n"
        "  tags = { lock = lock.l.name }\n}\n"
        "lock \"l\" {\n  target = \"/subscriptions/" SUB "/resourceGroups/rg/providers/"
        "Microsoft.ContainerRegistry/registries/acrml001\"\n  level = \"CanNotDelete\"\n}\n";
    struct diag_list diags;
    struct config *cfg;
    struct depgraph *g = NULL;
    struct errbuf err = ERRBUF_INIT;
    (void)state;
    diag_list_init(&diags);
    cfg = load_text(text, &diags);
    assert_int_equal(depgraph_build(&g, cfg, &err), 0);
    assert_int_equal(depgraph_sort(g, &err), AMLSEC_ECONFLICT);
    assert_non_null(strstr(err.msg, "dependency cycle: "));
    assert_non_null(strstr(err.msg, "container_registry.acr -> lock.l -> container_registry.acr"));
    depgraph_free(g);
    config_free(cfg);
    diag_list_release(&diags);
}

/* ---- planner: how key and CMK changes are sent (engine/plan) ---------- */

static void test_catalogue__data_plane_classification(void **state)
{
    const struct schema_kind *key = schema_find("key"), *ws = schema_find("workspace");
    char path[256];
    (void)state;
    assert_int_equal(schema_data_plane_parts(key, "type"), PROVIDER_DP_NEW_VERSION);
    assert_int_equal(schema_data_plane_parts(key, "size"), PROVIDER_DP_NEW_VERSION);
    assert_int_equal(schema_data_plane_parts(key, "curve"), PROVIDER_DP_NEW_VERSION);
    assert_int_equal(schema_data_plane_parts(key, "rotation"), PROVIDER_DP_POLICY);
    assert_int_equal(schema_data_plane_parts(key, "rotation.expire_after"), PROVIDER_DP_POLICY);
    assert_int_equal(schema_data_plane_parts(key, "enabled"), PROVIDER_DP_ATTRIBUTES);
    assert_int_equal(schema_data_plane_parts(key, "ops"), PROVIDER_DP_ATTRIBUTES);
    assert_int_equal(schema_data_plane_parts(key, "tags"), PROVIDER_DP_ATTRIBUTES);
    assert_int_equal(schema_data_plane_parts(key, "nonsense"), 0);
    assert_true(schema_is_key_version(ws, "encryption.key"));
    assert_true(schema_is_key_version(ws, "encryption.key_uri"));
    assert_false(schema_is_key_version(ws, "encryption.key_vault"));
    assert_false(schema_is_key_version(ws, "encryption"));
    assert_false(schema_is_key_version(ws, "public_network_access"));
    assert_int_equal(schema_arm_path(path, sizeof(path), ws, "encryption.key"), 0);
    assert_string_equal(path, "properties.encryption.keyVaultProperties.keyIdentifier");
    assert_int_equal(schema_arm_path(path, sizeof(path), ws, "hbi"), 0);
    assert_string_equal(path, "properties.hbiWorkspace");
    assert_int_equal(schema_arm_path(path, sizeof(path), ws, "encryption"), AMLSEC_ENOTFOUND);
    assert_int_equal(schema_arm_path(path, 8, ws, "encryption.key"), AMLSEC_ENOTFOUND);
}

/* text with its first `from` replaced by `to` (caller frees). */
static char *replaced(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    struct buf b;
    assert_non_null(at);
    buf_init(&b, 0);
    buf_add(&b, text, (size_t)(at - text));
    buf_adds(&b, to);
    buf_adds(&b, at + strlen(from));
    return buf_detach(&b, NULL);
}

/* Records the plan's creates in st as ARM would show them (a key gets its
 * URIs); a create whose body still waits for another's value is left for
 * the next round. */
static void record_creates(struct state *st, const struct plan *plan)
{
    struct errbuf err = ERRBUF_INIT;
    for (size_t i = 0; i < plan->n; i++) {
        const struct plan_change *c = &plan->changes[i];
        struct state_resource e;
        json_t *body;
        if (c->action != PLAN_CREATE || value_contains_unknown(c->body))
            continue;
        body = json_deep_copy(c->body);
        if (strcmp(c->kind, "key") == 0) {
            json_t *props = json_object_get(body, "properties");
            json_object_set_new(props, "keyUri", json_string("https://kv.vault.azure.net/keys/k"));
            json_object_set_new(props, "keyUriWithVersion",
                                json_string("https://kv.vault.azure.net/keys/k/v1"));
        }
        memset(&e, 0, sizeof(e));
        e.address = c->address;
        e.kind = c->kind;
        e.arm_id = c->arm_id;
        e.api_version = c->api_version;
        e.attributes = body;
        e.sensitive = c->sensitive;
        e.dependencies = c->dependencies;
        e.status = STATE_STATUS_CREATED;
        assert_int_equal(state_put(st, &e, &err), 0);
        json_decref(body);
    }
}

/* Plans text against st without refreshing (the state is the truth). */
static struct plan *plan_text(const char *text, struct state *st, const char *replace)
{
    struct diag_list diags;
    struct config *cfg;
    struct plan *plan = NULL;
    struct plan_opts o;
    struct errbuf err = ERRBUF_INIT;
    diag_list_init(&diags);
    cfg = load_text(text, &diags);
    memset(&o, 0, sizeof(o));
    o.replace = &replace;
    o.nreplace = replace != NULL;
    if (plan_build(&plan, cfg, st, NULL, &o, &diags, &err) != 0)
        fail_msg("plan: %s (%zu diagnostics, first: %s)", err.msg, diags.n,
                 diags.n ? diags.items[0].message : "");
    config_free(cfg);
    diag_list_release(&diags);
    return plan;
}

static const struct plan_change *change_of(const struct plan *plan, const char *address)
{
    for (size_t i = 0; i < plan->n; i++)
        if (strcmp(plan->changes[i].address, address) == 0)
            return &plan->changes[i];
    return NULL;
}

static bool has_note(const struct plan_change *c, const char *text)
{
    for (size_t i = 0; i < json_array_size(c->notes); i++)
        if (strstr(json_string_value(json_array_get(c->notes, i)), text))
            return true;
    return false;
}

/* The workspace's update after a new key version: a PATCH of the key
 * identifier alone, known after apply, after the key's step. */
static void check_rotation_patch(const struct plan *plan)
{
    const struct plan_change *k = change_of(plan, "key.k"), *w = change_of(plan, "workspace.w");
    const json_t *kid;
    assert_non_null(w);
    assert_int_equal(w->action, PLAN_UPDATE);
    assert_int_equal(w->via, PLAN_VIA_PATCH);
    assert_string_equal(w->reason_detail, "encryption.key");
    assert_int_equal(json_object_size(w->body), 1);
    assert_int_equal(json_object_size(json_object_get(w->body, "properties")), 1);
    kid = schema_json_get(w->body, "properties.encryption.keyVaultProperties.keyIdentifier");
    assert_true(value_is_unknown(kid));
    assert_true(value_is_unknown(json_object_get(json_object_get(w->after, "encryption"), "key")));
    assert_true(has_note(w, "rotating the CMK takes about an hour to take effect"));
    assert_int_equal(w->ndeps, 1);
    assert_ptr_equal(&plan->changes[w->deps[0]], k);
    assert_true(w->group > k->group);
}

static void test_catalogue__plan_key_updates(void **state)
{
    struct state st;
    struct errbuf err = ERRBUF_INIT;
    struct plan *plan;
    const struct plan_change *k;
    char *text, *cfg;
    (void)state;
    /* the vault's tenant is known: every body can be recorded */
    cfg = replaced(graph_cfg, "  location = \"westeurope\"\n",
                   "  location = \"westeurope\"\n  tenant = \"" SUB "\"\n");
    assert_int_equal(state_init(&st, &err), 0);
    /* apply everything (the workspace waits a round for the key's version) */
    for (int round = 0; round < 2; round++) {
        plan = plan_text(cfg, &st, NULL);
        record_creates(&st, plan);
        plan_free(plan);
    }
    plan = plan_text(cfg, &st, NULL);
    assert_int_equal(plan->n, 0);
    plan_free(plan);

    /* -replace on a key asks for a new version: an update, never a replacement */
    plan = plan_text(cfg, &st, "key.k");
    assert_int_equal(plan->n, 2);
    k = change_of(plan, "key.k");
    assert_int_equal(k->action, PLAN_UPDATE);
    assert_string_equal(k->reason, "update_because_new_version_requested");
    assert_int_equal(k->via, PLAN_VIA_DATA_PLANE);
    assert_int_equal(k->data_plane, PROVIDER_DP_NEW_VERSION);
    assert_string_equal(k->reason_detail, "versioned_uri");
    assert_string_equal(str_at(k->before, "versioned_uri"), "https://kv.vault.azure.net/keys/k/v1");
    assert_true(value_is_unknown(json_object_get(k->after, "versioned_uri")));
    check_rotation_patch(plan);
    assert_int_equal(plan->nchange, 2);
    assert_int_equal(plan->nadd + plan->ndestroy, 0);
    {
        /* the saved plan keeps how each update is sent */
        json_t *j = plan_to_json(plan, false);
        struct plan *back = NULL;
        assert_int_equal(plan_from_json(&back, j, &err), 0);
        assert_int_equal(change_of(back, "key.k")->via, PLAN_VIA_DATA_PLANE);
        assert_int_equal(change_of(back, "key.k")->data_plane, PROVIDER_DP_NEW_VERSION);
        assert_int_equal(change_of(back, "workspace.w")->via, PLAN_VIA_PATCH);
        /* no move known, no configuration attached: neither is written */
        assert_null(change_of(back, "workspace.w")->previous_address);
        assert_null(json_object_get(json_array_get(json_object_get(j, "resource_changes"), 0),
                                    "previous_address"));
        assert_null(back->configuration);
        plan_free(back);
        back = NULL;
        /* a moved resource keeps the address the state knew; the configuration
         * (locations, expressions) travels with the saved plan */
        ((struct plan_change *)change_of(plan, "workspace.w"))->previous_address =
            strdup("workspace.old");
        plan->configuration = json_pack("[{s:s, s:{s:s, s:i}}]", "address", "workspace.w", "source",
                                        "file", "main.amlsec", "line", 7);
        json_decref(j);
        j = plan_to_json(plan, true); /* the redacted form (show -json) has it too */
        {
            size_t i;
            json_t *c;
            bool seen = false;
            json_array_foreach(json_object_get(j, "resource_changes"), i, c)
            {
                if (strcmp(json_string_value(json_object_get(c, "address")), "workspace.w") == 0)
                    seen = strcmp(json_string_value(json_object_get(c, "previous_address")),
                                  "workspace.old") == 0;
            }
            assert_true(seen);
        }
        json_decref(j);
        j = plan_to_json(plan, false);
        assert_int_equal(plan_from_json(&back, j, &err), 0);
        assert_string_equal(change_of(back, "workspace.w")->previous_address, "workspace.old");
        assert_int_equal(
            json_integer_value(json_object_get(
                json_object_get(json_array_get(back->configuration, 0), "source"), "line")),
            7);
        json_object_set_new(j, "configuration", json_string("nope"));
        plan_free(back);
        back = NULL;
        assert_int_equal(plan_from_json(&back, j, &err), AMLSEC_EPARSE);
        json_object_del(j, "configuration");
        assert_int_equal(plan_from_json(&back, j, &err), 0);
        json_object_set_new(json_array_get(json_object_get(j, "resource_changes"), 0), "update_via",
                            json_string("carrier-pigeon"));
        plan_free(back);
        back = NULL;
        assert_int_equal(plan_from_json(&back, j, &err), AMLSEC_EPARSE);
        assert_non_null(strstr(err.msg, "unknown update_via"));
        json_decref(j);
    }
    plan_free(plan);

    /* -replace elsewhere still replaces */
    plan = plan_text(cfg, &st, "storage_account.st");
    assert_int_equal(change_of(plan, "storage_account.st")->action, PLAN_REPLACE);
    assert_string_equal(change_of(plan, "storage_account.st")->reason, "replace_by_request");
    plan_free(plan);

    /* a new size needs a new version; the workspace follows */
    text = replaced(cfg, "  vault = key_vault.kv\n", "  vault = key_vault.kv\n  size = 4096\n");
    plan = plan_text(text, &st, NULL);
    free(text);
    k = change_of(plan, "key.k");
    assert_int_equal(k->action, PLAN_UPDATE);
    assert_string_equal(k->reason, "update_because_config_differs");
    assert_int_equal(k->data_plane, PROVIDER_DP_NEW_VERSION);
    assert_string_equal(k->reason_detail, "size, versioned_uri");
    check_rotation_patch(plan);
    plan_free(plan);

    /* a rotation policy and an attribute: no new version, the workspace stays */
    text = replaced(cfg, "  vault = key_vault.kv\n",
                    "  vault = key_vault.kv\n  enabled = false\n"
                    "  expires = \"2027-06-30T00:00:00Z\"\n"
                    "  rotation {\n    expire_after = \"P90D\"\n  }\n");
    plan = plan_text(text, &st, NULL);
    free(text);
    assert_int_equal(plan->n, 1);
    k = change_of(plan, "key.k");
    assert_int_equal(k->via, PLAN_VIA_DATA_PLANE);
    assert_int_equal(k->data_plane, PROVIDER_DP_POLICY | PROVIDER_DP_ATTRIBUTES);
    assert_string_equal(k->reason_detail, "enabled, expires, rotation");
    assert_int_equal(json_integer_value(schema_json_get(k->body, "properties.attributes.exp")),
                     1814313600);
    assert_null(json_object_get(k->after, "versioned_uri"));
    plan_free(plan);

    /* any other workspace change is still a PUT of the whole body */
    text = replaced(cfg, "  encryption {\n", "  public_network_access = true\n  encryption {\n");
    plan = plan_text(text, &st, "key.k");
    free(text);
    assert_int_equal(change_of(plan, "workspace.w")->action, PLAN_UPDATE);
    assert_int_equal(change_of(plan, "workspace.w")->via, PLAN_VIA_PUT);
    assert_non_null(
        schema_json_get(change_of(plan, "workspace.w")->body, "properties.publicNetworkAccess"));
    {
        /* a deleted workspace's before is shown as an update's is: its key
         * reference collapsed to the key version it pins (not the decoded
         * {versioned_uri, vault_id} object) */
        json_t *updated = json_incref(change_of(plan, "workspace.w")->before);
        const json_t *deleted;
        const char *from = strstr(cfg, "workspace \"w\" {"), *to = strstr(cfg, "key \"k\" {");
        assert_non_null(from);
        assert_non_null(to);
        plan_free(plan);
        assert_non_null(text = malloc(strlen(cfg) + 1));
        memcpy(text, cfg, (size_t)(from - cfg));
        strcpy(text + (from - cfg), to);
        plan = plan_text(text, &st, NULL);
        free(text);
        assert_int_equal(change_of(plan, "workspace.w")->action, PLAN_DELETE);
        deleted = change_of(plan, "workspace.w")->before;
        assert_string_equal(str_at(json_object_get(updated, "encryption"), "key"),
                            "https://kv.vault.azure.net/keys/k/v1");
        assert_true(json_is_string(schema_json_get(deleted, "encryption.key")));
        assert_true(json_equal(updated, deleted));
        plan_free(plan);
        /* a tainted workspace's create shows its before as the update did
         * (its key reference the key version it pins, its references ids;
         * failed before: the decoded {versioned_uri, vault_id} object) */
        state_find(&st, "workspace.w")->status = STATE_STATUS_TAINTED;
        plan = plan_text(cfg, &st, NULL);
        assert_int_equal(change_of(plan, "workspace.w")->action, PLAN_CREATE);
        assert_string_equal(change_of(plan, "workspace.w")->reason, "create_because_tainted");
        deleted = change_of(plan, "workspace.w")->before;
        assert_true(json_is_string(schema_json_get(deleted, "encryption.key")));
        assert_true(json_equal(updated, deleted));
        state_find(&st, "workspace.w")->status = STATE_STATUS_CREATED;
        json_decref(updated);
    }
    plan_free(plan);
    state_release(&st);
    free(cfg);
}

/* ---- render ----------------------------------------------------------- */

/* A provider that answers reads from one JSON object {id: body}; anything
 * else is absent. Writes are not expected. */
struct fake_provider {
    struct provider base;
    json_t *live;
};

static int fake_read_many(struct provider *p, const struct provider_ref *refs, size_t n,
                          unsigned flags, struct provider_result *out, struct errbuf *err)
{
    struct fake_provider *f = (struct fake_provider *)p;
    (void)flags;
    (void)err;
    memset(out, 0, n * sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(f->live, refs[i].id);
        out[i].rc = v ? 0 : AMLSEC_ENOTFOUND;
        out[i].body = json_incref(v);
    }
    return 0;
}

static int fake_list(struct provider *p, const char *scope, const char *type, json_t **out,
                     struct errbuf *err)
{
    (void)p;
    (void)scope;
    (void)type;
    (void)err;
    *out = json_array();
    return 0;
}

static int fake_list_url(struct provider *p, const char *path, const char *api_version,
                         json_t **out, struct errbuf *err)
{
    (void)p;
    (void)path;
    (void)api_version;
    (void)err;
    *out = json_array();
    return 0;
}

static const struct provider_ops fake_ops = {
    .read_many = fake_read_many, .list = fake_list, .list_url = fake_list_url};

/* A resource in Azure but not in the state is refused ("import it"),
 * unless the journal holds amlsec's own pending create of it (an
 * interrupted apply): then it is created again, and its PUT adopts it. */
static void test_catalogue__plan_adopts_pending_create(void **state)
{
    static const char text[] =
        "settings {\n  subscription = \"" SUB "\"\n  location = \"westeurope\"\n}\n"
        "app_insights \"a\" {\n  resource_group = \"/subscriptions/" SUB "/resourceGroups/rg\"\n"
        "  name = \"appi-x\"\n}\n";
    static const char id[] =
        "/subscriptions/" SUB "/resourceGroups/rg/providers/Microsoft.Insights/components/appi-x";
    struct fake_provider fp = {{&fake_ops}, NULL};
    struct errbuf err = ERRBUF_INIT;
    struct diag_list diags;
    struct config *cfg;
    struct plan *plan = NULL;
    struct plan_opts o;
    struct state st;
    struct journal j;
    char jpath[] = "/tmp/amlsec-catalogue-journal-XXXXXX", jid[40], digest[72];
    struct journal_intent in = {.address = "app_insights.a",
                                .kind = "app_insights",
                                .arm_id = id,
                                .api_version = "2020-02-02",
                                .op = JOURNAL_CREATE,
                                .request_digest = digest};
    const struct plan_change *c;
    int fd;
    (void)state;

    fp.live = json_pack("{s:{s:s, s:s, s:s, s:s, s:{s:s, s:s}}}", id, "id", id, "name", "appi-x",
                        "type", "Microsoft.Insights/components", "location", "westeurope",
                        "properties", "Application_Type", "web", "ConnectionString",
                        "InstrumentationKey=canary-interrupted");
    diag_list_init(&diags);
    cfg = load_text(text, &diags);
    assert_int_equal(state_init(&st, &err), 0);
    memset(&o, 0, sizeof(o));
    o.refresh = true;
    assert_int_equal(plan_build(&plan, cfg, &st, &fp.base, &o, &diags, &err), AMLSEC_EPARSE);
    assert_true(diags.n > 0);
    assert_non_null(strstr(diags.items[diags.n - 1].message, "already exists in Azure"));
    plan_free(plan);
    plan = NULL;
    diag_list_release(&diags);
    diag_list_init(&diags);

    fd = mkstemp(jpath);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(journal_open(&j, jpath, NULL, &err), 0);
    journal_digest(digest, "{}", 2);
    assert_int_equal(journal_begin(&j, &in, jid, &err), 0);
    o.journal = &j;
    assert_int_equal(plan_build(&plan, cfg, &st, &fp.base, &o, &diags, &err), 0);
    c = change_of(plan, "app_insights.a");
    assert_non_null(c);
    assert_int_equal(c->action, PLAN_CREATE);
    assert_string_equal(c->reason, "create_because_interrupted");
    /* its before as an update's: the generated secrets the service returns
     * left out (failed before: the connection string was in the plan's
     * before), references collapsed */
    assert_string_equal(json_string_value(json_object_get(c->before, "name")), "appi-x");
    assert_null(json_object_get(c->before, "connection_string"));
    plan_free(plan);
    journal_release(&j);
    unlink(jpath);
    diag_list_release(&diags);
    state_release(&st);
    config_free(cfg);
    json_decref(fp.live);
}

static void test_catalogue__render_body(void **state)
{
    struct diag_list diags;
    struct config *cfg;
    struct render_list l;
    struct errbuf err = ERRBUF_INIT;
    struct cfg_instance *ws;
    (void)state;
    diag_list_init(&diags);
    cfg = load_text(graph_cfg, &diags);
    render_list_init(&l);
    ws = config_find_instance(cfg, "workspace.w");
    assert_non_null(ws);
    assert_int_equal(render_instance(&l, cfg, ws, true, &err), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].method, "PUT");
    assert_string_equal(l.items[0].url,
                        "https://management.azure.com/subscriptions/" SUB "/resourceGroups/rg/"
                        "providers/Microsoft.MachineLearningServices/workspaces/w?api-version="
                        "2025-09-01");
    assert_string_equal(str_at(l.items[0].body, "properties.publicNetworkAccess"), "Disabled");
    assert_string_equal(str_at(l.items[0].body, "properties.encryption.status"), "Enabled");
    assert_string_equal(
        str_at(l.items[0].body, "properties.encryption.keyVaultProperties.keyIdentifier"),
        RENDER_UNKNOWN);
    assert_string_equal(str_at(l.items[0].body, "location"), "westeurope");
    /* without display, unknowns stay unknown for the applier */
    assert_int_equal(render_instance(&l, cfg, ws, false, &err), 0);
    assert_true(value_is_unknown(schema_json_get(
        l.items[1].body, "properties.encryption.keyVaultProperties.keyIdentifier")));
    render_list_release(&l);
    config_free(cfg);
    diag_list_release(&diags);
}

/* Sensitive paths cover what they enclose; with or_inside, what holds them. */
static void test_catalogue__sensitive_paths(void **state)
{
    json_t *p = json_pack("[s, s]", "tags", "admin.password");
    (void)state;
    assert_true(value_path_sensitive(p, "tags", false));
    assert_true(value_path_sensitive(p, "tags.owner", false));
    assert_false(value_path_sensitive(p, "tagsx", false));
    assert_false(value_path_sensitive(p, "admin", false));
    assert_true(value_path_sensitive(p, "admin", true));
    assert_false(value_path_sensitive(p, "admin.user", true));
    assert_false(value_path_sensitive(NULL, "tags", true));
    value_sensitive_add(p, "tags.owner"); /* covered already */
    value_sensitive_add(p, "keys");
    assert_int_equal(json_array_size(p), 3);
    /* the catalogue's own: passwords, keys, service-generated secrets */
    render_sensitive_paths(schema_find("online_endpoint"), p);
    assert_true(value_path_sensitive(p, "keys.primary", false));
    render_sensitive_paths(schema_find("app_insights"), p);
    assert_true(value_path_sensitive(p, "connection_string", false));
    assert_true(value_path_sensitive(p, "instrumentation_key", false));
    json_decref(p);
}

/* Write-only values: digests that match only their value, salted per call;
 * a response loses them; redaction reaches the ARM fields. */
static void test_catalogue__write_only(void **state)
{
    const struct schema_kind *k = schema_find("compute_cluster");
    char *d1 = render_write_only_digest("s3cret-value"),
         *d2 = render_write_only_digest("s3cret-value");
    json_t *arm, *attrs, *live, *want;
    (void)state;
    assert_non_null(d1);
    assert_non_null(d2);
    assert_string_not_equal(d1, d2); /* salted */
    assert_null(strstr(d1, "s3cret"));
    assert_true(render_write_only_matches(d1, "s3cret-value"));
    assert_false(render_write_only_matches(d1, "s3cret-valuf"));
    assert_false(render_write_only_matches("amlsec-wo1$1$00$00", "x"));
    assert_false(render_write_only_matches(NULL, "x"));

    arm = json_pack("{s:s, s:{s:{s:{s:s, s:s}}}, s:{s:s}}", "type",
                    "Microsoft.MachineLearningServices/workspaces/computes", "properties",
                    "properties", "userAccountCredentials", "adminUserName", "u",
                    "adminUserPassword", "echoed", "tags", "a", "b");
    render_strip_write_only(arm);
    assert_null(
        schema_json_get(arm, "properties.properties.userAccountCredentials.adminUserPassword"));
    assert_non_null(
        schema_json_get(arm, "properties.properties.userAccountCredentials.adminUserName"));

    attrs = json_pack("{s:{s:s, s:s}}", "admin", "user", "u", "password", "s3cret-value");
    assert_int_equal(render_write_only_record(k, arm, attrs), 0);
    assert_true(render_write_only_matches(
        json_string_value(
            schema_json_get(arm, "properties.properties.userAccountCredentials.adminUserPassword")),
        "s3cret-value"));
    /* the same value compares equal, another one differs, no digest: unchanged */
    live = json_pack("{s:{s:s}}", "admin", "user", "u");
    want = json_deep_copy(attrs);
    render_write_only_compare(k, arm, live, want);
    assert_true(json_equal(live, want));
    json_decref(live);
    json_decref(want);
    live = json_pack("{s:{s:s}}", "admin", "user", "u");
    want = json_pack("{s:{s:s, s:s}}", "admin", "user", "u", "password", "another");
    render_write_only_compare(k, arm, live, want);
    assert_false(json_equal(live, want));
    {
        char *text = json_dumps(want, 0);
        assert_null(strstr(text, "another"));
        free(text);
    }
    json_decref(live);
    json_decref(want);

    /* redaction: catalogue-sensitive fields and covered attribute paths */
    {
        json_t *paths = json_pack("[s]", "tags");
        render_redact_arm(k, arm, paths);
        assert_string_equal(json_string_value(schema_json_get(arm, "tags")), RENDER_SENSITIVE);
        assert_string_equal(
            json_string_value(schema_json_get(
                arm, "properties.properties.userAccountCredentials.adminUserPassword")),
            RENDER_SENSITIVE);
        assert_string_equal(json_string_value(schema_json_get(
                                arm, "properties.properties.userAccountCredentials.adminUserName")),
                            "u");
        json_decref(paths);
    }
    json_decref(attrs);
    json_decref(arm);
    free(d1);
    free(d2);
}

/* schema_name_matches agrees with regexec on every kind's name pattern, for
 * names at and around each pattern's limits and random bytes. */
static void test_catalogue__name_patterns_match_regexec(void **state)
{
    static const char *const fixed[] = {"",
                                        "a",
                                        "ab",
                                        "abc",
                                        "abc-",
                                        "-abc",
                                        "a_b",
                                        "a.b",
                                        "a.b.",
                                        "A1",
                                        "1a",
                                        "a b",
                                        "a b ",
                                        " a",
                                        "x(y)",
                                        "a/b",
                                        "a<b",
                                        "kv-stack-000001",
                                        "ststack000001",
                                        "acrstack000001",
                                        "mlw-stack-000001",
                                        "pe-mlw-1-amlworkspace",
                                        "privatelink.api.azureml.ms",
                                        "caf\xc3\xa9",
                                        "\xff",
                                        "a\nb",
                                        "UPPER",
                                        "a--b",
                                        "0123456789",
                                        NULL};
    unsigned seed = 18;
    char buf[300];
    size_t kinds = 0, checked = 0;
    (void)state;
    for (const struct schema_kind *k = schema_kinds; k->name; k++) {
        regex_t re;
        if (k->name_pattern == NULL)
            continue;
        kinds++;
        assert_int_equal(regcomp(&re, k->name_pattern, REG_EXTENDED | REG_NOSUB), 0);
        for (size_t i = 0; fixed[i]; i++, checked++)
            assert_int_equal(schema_name_matches(k, fixed[i]),
                             regexec(&re, fixed[i], 0, NULL, 0) == 0);
        /* lengths around the counts, from each kind's alphabet and outside it */
        for (size_t len = 0; len < sizeof(buf) - 1; len += len < 70 ? 1 : 7) {
            for (int rep = 0; rep < 8; rep++, checked++) {
                static const char alpha[] = "abcXYZ019-_.() <>*%&:?+/\\\xc3";
                for (size_t j = 0; j < len; j++) {
                    seed = seed * 1103515245u + 12345u;
                    buf[j] = rep < 4 ? "az09-"[(seed >> 16) % 5]
                                     : alpha[(seed >> 16) % (sizeof(alpha) - 1)];
                }
                buf[len] = '\0';
                if (schema_name_matches(k, buf) != (regexec(&re, buf, 0, NULL, 0) == 0))
                    fail_msg("%s: '%s' (pattern %s)", k->name, buf, k->name_pattern);
            }
        }
        regfree(&re);
    }
    assert_true(kinds >= 20);
    assert_true(checked > 1000);
}

/* A private endpoint's derived name is cut as snprintf cut it: the
 * target's name at 511 bytes, the whole at 599; one cut inside a UTF-8
 * sequence is no name (jansson refuses it) and so the id is unknown. The
 * resource type is shared by the instances of a kind. */
static void test_catalogue__derived_names_cut(void **state)
{
    json_t *settings = json_pack("{ss}", "subscription", SUB), *attrs, *pe, *pe2;
    char target[700], want[600];
    (void)state;
    memset(target, 'a', 600);
    target[600] = '\0';
    attrs = json_pack("{s{ss} ss ss}", "target", "name", target, "subresource", "vault", "subnet",
                      "/x");
    pe = resolve_value(schema_find("private_endpoint"), attrs, settings, "v", false);
    json_decref(attrs);
    snprintf(want, sizeof(want), "pe-%.511s-vault", target);
    assert_string_equal(str_at(pe, "name"), want);
    assert_int_equal(strlen(str_at(pe, "name")), 3 + 511 + 6);

    /* a two-byte character across the 511th byte */
    memset(target, 'a', 510);
    memcpy(target + 510, "\xc3\xa9", 3);
    attrs = json_pack("{s{ss} ss ss}", "target", "name", target, "subresource", "vault", "subnet",
                      "/x");
    pe2 = resolve_value(schema_find("private_endpoint"), attrs, settings, "v", false);
    json_decref(attrs);
    assert_null(json_object_get(pe2, "name"));
    assert_true(value_is_unknown(json_object_get(pe2, "id")));
    assert_ptr_equal(json_object_get(pe, "resource_type"), json_object_get(pe2, "resource_type"));
    assert_string_equal(str_at(pe2, "resource_type"), "Microsoft.Network/privateEndpoints");
    json_decref(pe2);

    /* a subresource long enough to cut the whole name at 599 bytes */
    {
        char sr[200], whole[800];
        memset(sr, 'b', 150);
        sr[150] = '\0';
        memset(target, 'a', 600);
        target[600] = '\0';
        attrs =
            json_pack("{s{ss} ss ss}", "target", "name", target, "subresource", sr, "subnet", "/x");
        pe2 = resolve_value(schema_find("private_endpoint"), attrs, settings, "v", false);
        json_decref(attrs);
        snprintf(whole, sizeof(whole), "pe-%.511s-%s", target, sr);
        whole[599] = '\0';
        assert_string_equal(str_at(pe2, "name"), whole);
        json_decref(pe2);
    }
    json_decref(pe);
    json_decref(settings);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalogue__tables_consistent),
        cmocka_unit_test(test_catalogue__name_patterns_match_regexec),
        cmocka_unit_test(test_catalogue__json_paths),
        cmocka_unit_test(test_catalogue__normalisers),
        cmocka_unit_test(test_catalogue__conversions),
        cmocka_unit_test(test_catalogue__conversions_round_trip),
        cmocka_unit_test(test_catalogue__decode_examples),
        cmocka_unit_test(test_catalogue__change_classification),
        cmocka_unit_test(test_catalogue__resolve_ids),
        cmocka_unit_test(test_catalogue__graph_order),
        cmocka_unit_test(test_catalogue__graph_cycle),
        cmocka_unit_test(test_catalogue__render_body),
        cmocka_unit_test(test_catalogue__data_plane_classification),
        cmocka_unit_test(test_catalogue__plan_key_updates),
        cmocka_unit_test(test_catalogue__plan_adopts_pending_create),
        cmocka_unit_test(test_catalogue__sensitive_paths),
        cmocka_unit_test(test_catalogue__plan_configuration),
        cmocka_unit_test(test_catalogue__write_only),
        cmocka_unit_test(test_catalogue__derived_names_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
