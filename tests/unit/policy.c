/* Unit tests for engine/policy: the Azure Policy evaluator. Every
 * definition in shared/data/policies/ against compliant and non-compliant
 * bodies (the ARM examples included) with the verdict Azure gives, then
 * each operator's edge cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/policy.h"
#include "engine/policy_check.h"
#include "util/jsonw.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fileio.h"

static struct policy_aliases *aliases;

static int setup(void **state)
{
    struct buf b;
    struct errbuf err = ERRBUF_INIT;
    (void)state;
    buf_init(&b, 64 << 20);
    assert_int_equal(policy_aliases_new(&aliases), 0);
    assert_int_equal(
        file_read_all(&b, AMLSEC_SHARED_DIR "/data/policy-aliases.csv", 64 << 20, &err), 0);
    assert_int_equal(policy_aliases_load_csv(aliases, b.ptr, b.len, "policy-aliases.csv", &err), 0);
    assert_true(policy_aliases_count(aliases) > 4000);
    buf_release(&b);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    policy_aliases_free(aliases);
    return 0;
}

static json_t *load_json(const char *path)
{
    json_error_t je;
    json_t *v = json_load_file(path, 0, &je);
    if (v == NULL)
        fail_msg("%s: %s", path, je.text);
    return v;
}

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *v = jsonw_loadb(text, strlen(text), JSON_DECODE_ANY, &je);
    if (v == NULL)
        fail_msg("bad test JSON: %s: %s", je.text, text);
    return v;
}

#define WS_TYPE "Microsoft.MachineLearningServices/workspaces"
#define WS_ID "/subscriptions/s/resourceGroups/rg/providers/" WS_TYPE "/ws1"

/* Evaluates definition def (a JSON object, referenced) with params against
 * body; returns the verdict, leaving the result in *res when non-NULL. */
static enum policy_verdict eval_full(const json_t *def, const char *params, const char *type,
                                     const char *api, const json_t *body, struct policy_result *res)
{
    struct policy *p = NULL;
    struct errbuf err = ERRBUF_INIT;
    struct policy_result r;
    struct policy_resource rr = {WS_ID, "ws1", type, api, body, 0, false};
    json_t *pj = params ? parse(params) : NULL;
    enum policy_verdict v;

    if (policy_prepare(&p, def, pj, &err) < 0)
        fail_msg("prepare: %s", err.msg);
    json_decref(pj);
    assert_int_equal(policy_evaluate(&r, p, aliases, &rr, NULL, 0, false), 0);
    v = r.verdict;
    if (res)
        *res = r;
    else
        policy_result_release(&r);
    policy_free(p);
    return v;
}

static enum policy_verdict eval_file(const char *file, const char *type, const char *api,
                                     const char *body_text)
{
    char path[1024];
    json_t *def, *body = parse(body_text);
    enum policy_verdict v;
    snprintf(path, sizeof(path), AMLSEC_SHARED_DIR "/data/policies/%s", file);
    def = load_json(path);
    v = eval_full(def, NULL, type, api, body, NULL);
    json_decref(def);
    json_decref(body);
    return v;
}

/* The request body of an ARM example ("parameters.parameters"). */
static enum policy_verdict eval_example(const char *policy, const char *example, const char *type,
                                        bool response)
{
    char path[1024];
    json_t *def, *ex, *body;
    const char *api;
    enum policy_verdict v;
    snprintf(path, sizeof(path), AMLSEC_SHARED_DIR "/data/policies/%s", policy);
    def = load_json(path);
    snprintf(path, sizeof(path), AMLSEC_SHARED_DIR "/data/arm-examples/%s", example);
    ex = load_json(path);
    api = json_string_value(json_object_get(json_object_get(ex, "parameters"), "api-version"));
    body = response
               ? json_object_get(json_object_get(json_object_get(ex, "responses"), "200"), "body")
               : json_object_get(json_object_get(ex, "parameters"), "parameters");
    assert_non_null(body);
    v = eval_full(def, NULL, type, api, body, NULL);
    json_decref(def);
    json_decref(ex);
    return v;
}

#define C POLICY_COMPLIANT
#define N POLICY_NONCOMPLIANT
#define E POLICY_ERROR

static void test_policy__cmk_builtin(void **state)
{
    const char *f = "Workspace_CMKEnabled_Audit.json";
    (void)state;
    /* "enabled" in the rule matches the API's "Enabled": case-insensitive */
    assert_int_equal(eval_example(f, "ml/Workspace/create.json", WS_TYPE, false), C);
    assert_int_equal(eval_example(f, "ml/Workspace/get.json", WS_TYPE, true), C);
    assert_int_equal(eval_file(f, WS_TYPE, "2025-09-01", "{\"properties\":{}}"), N);
    assert_int_equal(eval_file(f, WS_TYPE, "2025-09-01",
                               "{\"properties\":{\"encryption\":{\"status\":\"Disabled\"}}}"),
                     N);
    /* hubs' projects are skipped */
    assert_int_equal(
        eval_file(f, WS_TYPE, "2025-09-01", "{\"kind\":\"Project\",\"properties\":{}}"), C);
    /* another type is not its concern */
    assert_int_equal(eval_file(f, "Microsoft.KeyVault/vaults", "2025-05-01", "{\"properties\":{}}"),
                     C);
}

static void test_policy__public_network_builtin(void **state)
{
    const char *f = "Workspace_PublicNetworkAccessDisabled_Audit.json";
    struct policy_result r;
    json_t *def = load_json(AMLSEC_SHARED_DIR "/data/policies/"
                                              "Workspace_PublicNetworkAccessDisabled_Audit.json");
    json_t *body = parse("{\"properties\":{\"publicNetworkAccess\":\"Enabled\"}}");
    (void)state;
    assert_int_equal(eval_example(f, "ml/Workspace/create.json", WS_TYPE, false), N);
    assert_int_equal(eval_example(f, "ml/Workspace/get.json", WS_TYPE, true), C);
    assert_int_equal(eval_file(f, WS_TYPE, "2025-09-01",
                               "{\"properties\":{\"publicNetworkAccess\":\"disabled\"}}"),
                     C);
    /* the evidence names the alias, its path and the value */
    assert_int_equal(
        eval_full(def, "{\"effect\":{\"value\":\"Deny\"}}", WS_TYPE, "2025-09-01", body, &r), N);
    assert_int_equal(r.effect, POLICY_EFFECT_DENY);
    assert_string_equal(r.field, WS_TYPE "/publicNetworkAccess");
    assert_string_equal(r.path, "properties.publicNetworkAccess");
    assert_string_equal(r.condition, "notEquals");
    assert_string_equal(json_string_value(r.value), "Enabled");
    policy_result_release(&r);
    /* Disabled is not evaluated at all */
    assert_int_equal(eval_full(def, "{\"effect\":\"Disabled\"}", WS_TYPE, "2025-09-01", body, NULL),
                     POLICY_DISABLED);
    json_decref(body);
    json_decref(def);
}

static void test_policy__private_link_builtin(void **state)
{
    const char *f = "Workspace_PrivateEndpoint_Audit_V2.json";
    (void)state;
    assert_int_equal(eval_example(f, "ml/Workspace/create.json", WS_TYPE, false), N);
    assert_int_equal(eval_example(f, "ml/Workspace/get.json", WS_TYPE, true), C);
    assert_int_equal(
        eval_file(f, WS_TYPE, "2025-09-01", "{\"properties\":{\"privateEndpointConnections\":[]}}"),
        N);
    /* only Approved connections count */
    assert_int_equal(
        eval_file(f, WS_TYPE, "2025-09-01",
                  "{\"properties\":{\"privateEndpointConnections\":[{\"properties\":{"
                  "\"privateLinkServiceConnectionState\":{\"status\":\"Pending\"}}}]}}"),
        N);
    assert_int_equal(eval_file(f, WS_TYPE, "2025-09-01",
                               "{\"properties\":{\"privateEndpointConnections\":[{\"properties\":{"
                               "\"privateLinkServiceConnectionState\":{\"status\":\"Pending\"}}},"
                               "{\"properties\":{\"privateLinkServiceConnectionState\":{\"status\":"
                               "\"approved\"}}}]}}"),
                     C);
}

static void test_policy__uai_builtin(void **state)
{
    const char *f = "Workspace_UAIEnabled_Audit.json";
    (void)state;
    assert_int_equal(eval_example(f, "ml/Workspace/create.json", WS_TYPE, false), N);
    assert_int_equal(eval_file(f, WS_TYPE, "2025-09-01",
                               "{\"properties\":{\"primaryUserAssignedIdentity\":\"\"}}"),
                     N);
    assert_int_equal(eval_file(f, WS_TYPE, "2025-09-01",
                               "{\"properties\":{\"primaryUserAssignedIdentity\":\"/subscriptions/"
                               "s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"
                               "userAssignedIdentities/u\"}}"),
                     C);
}

static void test_policy__compute_local_auth_builtin(void **state)
{
    const char *f = "DisableLocalAuth_Audit.json";
    const char *ct = WS_TYPE "/computes";
    (void)state;
    assert_int_equal(eval_example(f, "ml/Compute/createOrUpdate/BasicAmlCompute.json", ct, false),
                     N);
    assert_int_equal(eval_example(f, "ml/Compute/get/AmlCompute.json", ct, true), N);
    assert_int_equal(eval_file(f, ct, "2025-09-01",
                               "{\"properties\":{\"computeType\":\"AmlCompute\","
                               "\"disableLocalAuth\":true}}"),
                     C);
    /* "true" as text equals true */
    assert_int_equal(eval_file(f, ct, "2025-09-01",
                               "{\"properties\":{\"computeType\":\"ComputeInstance\","
                               "\"disableLocalAuth\":\"True\"}}"),
                     C);
    /* other compute types are out of scope */
    assert_int_equal(
        eval_file(f, ct, "2025-09-01", "{\"properties\":{\"computeType\":\"Kubernetes\"}}"), C);
    assert_int_equal(eval_example(f, "ml/Workspace/create.json", WS_TYPE, false), C);
}

static void test_policy__key_vault_recoverable_builtin(void **state)
{
    const char *f = "Recoverable_Audit.json";
    const char *kv = "Microsoft.KeyVault/vaults";
    (void)state;
    assert_int_equal(eval_example(f, "keyvault/createVault.json", kv, false), N);
    assert_int_equal(eval_example(f, "keyvault/createVaultWithNetworkAcls.json", kv, false), N);
    assert_int_equal(eval_file(f, kv, "2025-05-01",
                               "{\"properties\":{\"enableSoftDelete\":true,"
                               "\"enablePurgeProtection\":true}}"),
                     C);
    /* from 2019-09-01 soft delete defaults on: only an explicit false fails */
    assert_int_equal(
        eval_file(f, kv, "2025-05-01", "{\"properties\":{\"enablePurgeProtection\":true}}"), C);
    assert_int_equal(
        eval_file(f, kv, "2018-02-14", "{\"properties\":{\"enablePurgeProtection\":true}}"), N);
    assert_int_equal(eval_file(f, kv, "2025-05-01",
                               "{\"properties\":{\"enableSoftDelete\":false,"
                               "\"enablePurgeProtection\":true}}"),
                     N);
    assert_int_equal(
        eval_file(f, kv, "2025-05-01", "{\"properties\":{\"enablePurgeProtection\":false}}"), N);
    /* recovering a deleted vault is exempt; the CSV spells it Microsoft.Keyvault */
    assert_int_equal(
        eval_file(f, kv, "2025-05-01", "{\"properties\":{\"createMode\":\"Recover\"}}"), C);
}

/* ---- operators ------------------------------------------------------------ */

/* A one-condition rule on workspaces: {"if": {allOf:[type, COND]}}. */
/* The verdict of a definition whose rule is "type is a workspace and
 * condition", for body (borrowed: a caller may build reals jsonw_loadb
 * would make big). */
static enum policy_verdict cond_json(const char *condition, const json_t *body)
{
    char text[4096];
    json_t *def;
    enum policy_verdict v;
    snprintf(text, sizeof(text),
             "{\"properties\":{\"displayName\":\"t\",\"mode\":\"All\",\"parameters\":{"
             "\"list\":{\"type\":\"Array\",\"defaultValue\":[\"a\",\"B\"]}},"
             "\"policyRule\":{\"if\":{\"allOf\":[{\"field\":\"type\",\"equals\":\"%s\"},%s]},"
             "\"then\":{\"effect\":\"audit\"}}}}",
             WS_TYPE, condition);
    def = parse(text);
    v = eval_full(def, NULL, WS_TYPE, "2025-09-01", body, NULL);
    json_decref(def);
    return v;
}

static enum policy_verdict cond(const char *condition, const char *body_text)
{
    json_t *body = parse(body_text);
    enum policy_verdict v = cond_json(condition, body);
    json_decref(body);
    return v;
}

#define PNA "\"field\":\"" WS_TYPE "/publicNetworkAccess\""
#define PEC                                                                                        \
    "\"field\":\"" WS_TYPE                                                                         \
    "/privateEndpointConnections[*].privateLinkServiceConnectionState.status\""

static void test_policy__equals_and_case(void **state)
{
    (void)state;
    assert_int_equal(cond("{" PNA ",\"equals\":\"ENABLED\"}",
                          "{\"properties\":{\"publicNetworkAccess\":\"Enabled\"}}"),
                     N);
    assert_int_equal(cond("{" PNA ",\"equals\":\"Enabled\"}", "{\"properties\":{}}"), C);
    assert_int_equal(cond("{" PNA ",\"notEquals\":\"Enabled\"}", "{\"properties\":{}}"), N);
    /* null is missing */
    assert_int_equal(
        cond("{" PNA ",\"exists\":false}", "{\"properties\":{\"publicNetworkAccess\":null}}"), N);
    assert_int_equal(
        cond("{" PNA ",\"exists\":\"true\"}", "{\"properties\":{\"publicNetworkAccess\":\"x\"}}"),
        N);
    assert_int_equal(cond("{" PNA ",\"exists\":\"maybe\"}", "{}"), E);
    /* property names are case-insensitive */
    assert_int_equal(
        cond("{" PNA ",\"equals\":\"x\"}", "{\"Properties\":{\"PublicNetworkAccess\":\"X\"}}"), N);
    /* numbers equal their text */
    assert_int_equal(cond("{\"value\":3,\"equals\":\"3\"}", "{}"), N);
    assert_int_equal(cond("{\"value\":[1,\"a\"],\"equals\":[1,\"A\"]}", "{}"), N);
    assert_int_equal(cond("{\"value\":{\"k\":\"v\"},\"equals\":{\"K\":\"V\"}}", "{}"), N);
}

static void test_policy__like_match_contains(void **state)
{
    (void)state;
    assert_int_equal(cond("{\"field\":\"name\",\"like\":\"WS*\"}", "{}"), N);
    assert_int_equal(cond("{\"field\":\"name\",\"like\":\"*1\"}", "{}"), N);
    assert_int_equal(cond("{\"field\":\"name\",\"notLike\":\"x*\"}", "{}"), N);
    assert_int_equal(cond("{\"field\":\"name\",\"like\":\"w*s*\"}", "{}"), E);
    /* match is case-sensitive: # digit, ? letter, . any */
    assert_int_equal(cond("{\"field\":\"name\",\"match\":\"ws#\"}", "{}"), N);
    assert_int_equal(cond("{\"field\":\"name\",\"match\":\"WS#\"}", "{}"), C);
    assert_int_equal(cond("{\"field\":\"name\",\"matchInsensitively\":\"WS#\"}", "{}"), N);
    assert_int_equal(cond("{\"field\":\"name\",\"match\":\"??.\"}", "{}"), N);
    assert_int_equal(cond("{\"field\":\"name\",\"match\":\"??\"}", "{}"), C);
    assert_int_equal(cond("{\"field\":\"name\",\"notMatch\":\"?#?\"}", "{}"), N);
    assert_int_equal(cond("{\"field\":\"name\",\"contains\":\"S1\"}", "{}"), N);
    assert_int_equal(cond("{\"field\":\"name\",\"notContains\":\"x\"}", "{}"), N);
    assert_int_equal(cond("{" PNA ",\"notContains\":\"x\"}", "{}"), N);
    assert_int_equal(
        cond("{\"field\":\"tags\",\"containsKey\":\"ENV\"}", "{\"tags\":{\"env\":\"prod\"}}"), N);
    assert_int_equal(cond("{\"field\":\"tags\",\"notContainsKey\":\"env\"}", "{}"), N);
    assert_int_equal(
        cond("{\"field\":\"tags['Env']\",\"equals\":\"prod\"}", "{\"tags\":{\"env\":\"PROD\"}}"),
        N);
    assert_int_equal(
        cond("{\"field\":\"tags[env]\",\"equals\":\"prod\"}", "{\"tags\":{\"env\":\"PROD\"}}"), N);
    assert_int_equal(
        cond("{\"field\":\"location\",\"equals\":\"eastus2\"}", "{\"location\":\"East US 2\"}"), N);
}

static void test_policy__in_and_ordering(void **state)
{
    (void)state;
    assert_int_equal(cond("{\"field\":\"name\",\"in\":[\"x\",\"WS1\"]}", "{}"), N);
    assert_int_equal(cond("{\"field\":\"name\",\"in\":\"[parameters('list')]\"}", "{}"), C);
    assert_int_equal(cond("{\"value\":\"b\",\"in\":\"[parameters('list')]\"}", "{}"), N);
    assert_int_equal(cond("{" PNA ",\"in\":[\"x\"]}", "{}"), C);
    assert_int_equal(cond("{" PNA ",\"notIn\":[\"x\"]}", "{}"), N);
    assert_int_equal(cond("{\"field\":\"name\",\"in\":\"ws1\"}", "{}"), E);
    assert_int_equal(cond("{\"value\":2,\"less\":10}", "{}"), N);
    assert_int_equal(cond("{\"value\":\"2\",\"less\":\"10\"}", "{}"), C); /* text order */
    assert_int_equal(cond("{\"value\":10,\"greaterOrEquals\":10}", "{}"), N);
    assert_int_equal(cond("{\"value\":10,\"lessOrEquals\":9}", "{}"), C);
    assert_int_equal(cond("{\"value\":\"2021-10-01\",\"greater\":\"2019-09-01\"}", "{}"), N);
    /* type mismatch is an error, which Azure counts as deny */
    assert_int_equal(cond("{\"value\":\"a\",\"less\":3}", "{}"), E);
    assert_int_equal(cond("{\"value\":true,\"greater\":false}", "{}"), E);
    /* missing values are not ordered */
    assert_int_equal(cond("{" PNA ",\"less\":3}", "{}"), C);
    assert_int_equal(cond("{\"field\":\"name\",\"frobs\":1}", "{}"), E);
}

/* A whole number beyond int64 (a big number from the configuration) is
 * ordered and compared exactly, and equals its text. */
static void test_policy__big_numbers(void **state)
{
    static const char body[] = "{\"tags\":{\"n\":18446744073709551616}}";
    (void)state;
    assert_int_equal(cond("{\"field\":\"tags.n\",\"greater\":5}", body), N);
    assert_int_equal(cond("{\"field\":\"tags.n\",\"less\":18446744073709551617}", body), N);
    assert_int_equal(cond("{\"field\":\"tags.n\",\"less\":18446744073709551616}", body), C);
    assert_int_equal(cond("{\"field\":\"tags.n\",\"greater\":-18446744073709551617}", body), N);
    assert_int_equal(cond("{\"field\":\"tags.n\",\"equals\":18446744073709551616}", body), N);
    assert_int_equal(cond("{\"field\":\"tags.n\",\"equals\":\"18446744073709551616\"}", body), N);
    assert_int_equal(cond("{\"field\":\"tags.n\",\"equals\":18446744073709551617}", body), C);
}

/* A big number and a real (what a policy's JSON or its functions give)
 * compare by value, not by text ("1e+20" against its digits). */
static void test_policy__big_number_equals_real(void **state)
{
    json_t *body;
    (void)state;
    body = json_pack("{s:{s:f}}", "tags", "n", 18446744073709551616.0); /* 2^64 */
    assert_int_equal(cond_json("{\"field\":\"tags.n\",\"equals\":18446744073709551616}", body), N);
    assert_int_equal(cond_json("{\"field\":\"tags.n\",\"notEquals\":18446744073709551616}", body),
                     C);
    assert_int_equal(cond_json("{\"field\":\"tags.n\",\"equals\":18446744073709551617}", body), C);
    assert_int_equal(cond_json("{\"field\":\"tags.n\",\"in\":[1,18446744073709551616]}", body), N);
    json_decref(body);
    body = json_pack("{s:{s:f}}", "tags", "n", 1e20);
    assert_int_equal(cond_json("{\"field\":\"tags.n\",\"equals\":100000000000000000000}", body), N);
    assert_int_equal(cond_json("{\"field\":\"tags.n\",\"equals\":100000000000000000001}", body), C);
    assert_int_equal(cond_json("{\"field\":\"tags.n\",\"less\":100000000000000000001}", body), N);
    json_decref(body);
    /* ordered exactly too: int64's largest against 2^63, which a double rounds to the same */
    assert_int_equal(cond("{\"field\":\"tags.n\",\"less\":9223372036854775808}",
                          "{\"tags\":{\"n\":9223372036854775807}}"),
                     N);
    assert_int_equal(cond("{\"field\":\"tags.n\",\"greaterOrEquals\":9223372036854775808}",
                          "{\"tags\":{\"n\":9223372036854775807}}"),
                     C);
}

static void test_policy__star_alias_all_elements(void **state)
{
    const char *two =
        "{\"properties\":{\"privateEndpointConnections\":["
        "{\"properties\":{\"privateLinkServiceConnectionState\":{\"status\":\"Approved\"}}},"
        "{\"properties\":{\"privateLinkServiceConnectionState\":{\"status\":\"Pending\"}}}]}}";
    (void)state;
    /* every element must satisfy it */
    assert_int_equal(cond("{" PEC ",\"equals\":\"Approved\"}", two), C);
    assert_int_equal(cond("{" PEC ",\"in\":[\"approved\",\"pending\"]}", two), N);
    assert_int_equal(cond("{" PEC ",\"notEquals\":\"Rejected\"}", two), N);
    /* an empty or missing array satisfies it vacuously */
    assert_int_equal(cond("{" PEC ",\"equals\":\"Approved\"}",
                          "{\"properties\":{\"privateEndpointConnections\":[]}}"),
                     N);
    assert_int_equal(cond("{" PEC ",\"equals\":\"Approved\"}", "{}"), N);
    /* an element without the property counts as missing */
    assert_int_equal(
        cond("{" PEC ",\"exists\":true}", "{\"properties\":{\"privateEndpointConnections\":[{}]}}"),
        C);
    /* field('[*]') returns the array */
    assert_int_equal(cond("{\"value\":\"[length(field('" WS_TYPE
                          "/privateEndpointConnections[*].privateLinkServiceConnectionState.status'"
                          "))]\",\"equals\":2}",
                          two),
                     N);
}

static void test_policy__counts(void **state)
{
    const char *two = "{\"properties\":{\"privateEndpointConnections\":["
                      "{\"name\":\"a\",\"properties\":{\"privateLinkServiceConnectionState\":{"
                      "\"status\":\"Approved\"}}},"
                      "{\"name\":\"b\",\"properties\":{\"privateLinkServiceConnectionState\":{"
                      "\"status\":\"Pending\"}}}]}}";
    (void)state;
    assert_int_equal(cond("{\"count\":{\"field\":\"" WS_TYPE
                          "/privateEndpointConnections[*]\"},\"equals\":2}",
                          two),
                     N);
    assert_int_equal(cond("{\"count\":{\"field\":\"" WS_TYPE
                          "/privateEndpointConnections[*]\",\"where\":{" PEC
                          ",\"equals\":\"pending\"}},\"equals\":1}",
                          two),
                     N);
    /* current() inside where: the element, and an alias relative to it */
    assert_int_equal(
        cond("{\"count\":{\"field\":\"" WS_TYPE
             "/privateEndpointConnections[*]\",\"where\":{\"value\":\"[current('" WS_TYPE
             "/privateEndpointConnections[*].name')]\",\"equals\":\"b\"}},\"equals\":1}",
             two),
        N);
    assert_int_equal(cond("{\"count\":{\"field\":\"" WS_TYPE
                          "/privateEndpointConnections[*]\",\"where\":{\"value\":\"[current().name]"
                          "\",\"equals\":\"x\"}},\"equals\":0}",
                          two),
                     N);
    /* value counts with a name */
    assert_int_equal(cond("{\"count\":{\"value\":[\"ws*\",\"x*\",\"*1\"],\"name\":\"p\",\"where\":{"
                          "\"field\":\"name\",\"like\":\"[current('p')]\"}},\"equals\":2}",
                          two),
                     N);
    assert_int_equal(cond("{\"count\":{\"value\":\"[parameters('list')]\"},\"greater\":1}", "{}"),
                     N);
    /* counting a non-array alias or a non-array value is an error */
    assert_int_equal(
        cond("{\"count\":{\"field\":\"" WS_TYPE "/publicNetworkAccess\"},\"equals\":0}", "{}"), E);
    assert_int_equal(cond("{\"count\":{\"value\":\"x\"},\"equals\":0}", "{}"), E);
    assert_int_equal(cond("{\"value\":\"[current('p')]\",\"equals\":0}", "{}"), E);
}

static void test_policy__template_functions(void **state)
{
    (void)state;
    assert_int_equal(cond("{\"value\":\"[concat('a', 'b', 1)]\",\"equals\":\"AB1\"}", "{}"), N);
    assert_int_equal(cond("{\"value\":\"[toLower(field('name'))]\",\"match\":\"ws1\"}", "{}"), N);
    assert_int_equal(cond("{\"value\":\"[toUpper('a')]\",\"match\":\"A\"}", "{}"), N);
    assert_int_equal(cond("{\"value\":\"[length(split('a/b/c', '/'))]\",\"equals\":3}", "{}"), N);
    assert_int_equal(cond("{\"value\":\"[split('a/b/c', '/')[2]]\",\"equals\":\"c\"}", "{}"), N);
    assert_int_equal(cond("{\"value\":\"[empty(field('" WS_TYPE
                          "/publicNetworkAccess'))]\",\"equals\":true}",
                          "{}"),
                     N);
    assert_int_equal(
        cond("{\"value\":\"[requestContext().apiVersion]\",\"greaterOrEquals\":\"2021-10-01\"}",
             "{}"),
        N);
    /* if() evaluates only the branch it takes */
    assert_int_equal(cond("{\"value\":\"[if(greater(length(field('name')), 10), "
                          "substring(field('name'), 0, 11), 'short')]\",\"equals\":\"short\"}",
                          "{}"),
                     N);
    assert_int_equal(cond("{\"value\":\"[substring('abc', 2, 5)]\",\"equals\":\"c\"}", "{}"), E);
    assert_int_equal(cond("{\"value\":\"[reference('x')]\",\"equals\":1}", "{}"), E);
    assert_int_equal(cond("{\"value\":\"[concat('a'\",\"equals\":1}", "{}"),
                     C); /* not an expression */
    assert_int_equal(cond("{\"value\":\"[[literal]\",\"equals\":\"[[literal]\"}", "{}"), N);
    assert_int_equal(cond("{\"value\":\"[concat('it''s')]\",\"equals\":\"it's\"}", "{}"), N);
    assert_int_equal(cond("{\"value\":\"[parameters('nope')]\",\"equals\":1}", "{}"), E);
    assert_int_equal(cond("{\"value\":\"[and(true(), not(false()), or(false(), equals(1, "
                          "1)))]\",\"equals\":true}",
                          "{}"),
                     N);
    assert_int_equal(
        cond("{\"value\":\"[addDays('2026-01-30T00:00:00Z', 3)]\",\"like\":\"2026-02-02T*\"}",
             "{}"),
        N);
}

static void test_policy__parameters(void **state)
{
    json_t *def = load_json(AMLSEC_SHARED_DIR "/data/policies/Workspace_UAIEnabled_Audit.json");
    struct policy *p = NULL;
    struct errbuf err = ERRBUF_INIT;
    json_t *bad = parse("{\"effect\":\"Modify\"}"), *unknown = parse("{\"nope\":1}");
    (void)state;
    assert_int_equal(policy_prepare(&p, def, bad, &err), AMLSEC_EPARSE);
    assert_non_null(strstr(err.msg, "allowedValues"));
    assert_int_equal(policy_prepare(&p, def, unknown, &err), AMLSEC_EPARSE);
    assert_non_null(strstr(err.msg, "does not declare"));
    assert_int_equal(policy_prepare(&p, def, NULL, &err), 0);
    assert_string_equal(
        policy_display_name(p),
        "Azure Machine Learning workspaces should use user-assigned managed identity");
    assert_string_equal(policy_mode(p), "Indexed");
    policy_free(p);
    json_decref(def);
    json_decref(bad);
    json_decref(unknown);
    /* no default and no value */
    def = parse(
        "{\"properties\":{\"parameters\":{\"e\":{\"type\":\"String\"}},\"policyRule\":{\"if\":{"
        "\"field\":\"type\",\"equals\":\"x\"},\"then\":{\"effect\":\"[parameters('e')]\"}}}}");
    assert_int_equal(policy_prepare(&p, def, NULL, &err), AMLSEC_EPARSE);
    assert_non_null(strstr(err.msg, "no value and no default"));
    json_decref(def);
}

static void test_policy__modify_append_existence_modes(void **state)
{
    struct policy_result r;
    struct policy *p = NULL;
    struct errbuf err = ERRBUF_INIT;
    json_t *body = parse("{\"properties\":{\"publicNetworkAccess\":\"Enabled\"}}");
    json_t *def = parse(
        "{\"properties\":{\"mode\":\"Indexed\",\"policyRule\":{\"if\":{\"field\":\"type\","
        "\"equals\":\"" WS_TYPE "\"},"
        "\"then\":{\"effect\":\"Modify\",\"details\":{\"operations\":[{\"condition\":\"["
        "greaterOrEquals(requestContext().apiVersion, '2021-10-01')]\","
        "\"operation\":\"addOrReplace\",\"field\":\"" WS_TYPE
        "/publicNetworkAccess\",\"value\":\"Disabled\"},"
        "{\"operation\":\"addOrReplace\",\"field\":\"tags['owner']\",\"value\":\"ml\"}]}}}}}");
    json_t *diag = parse(
        "{\"properties\":{\"policyRule\":{\"if\":{\"field\":\"type\",\"equals\":\"" WS_TYPE "\"},"
        "\"then\":{\"effect\":\"AuditIfNotExists\",\"details\":{\"type\":\"Microsoft.Insights/"
        "diagnosticSettings\","
        "\"existenceCondition\":{\"field\":\"Microsoft.Insights/diagnosticSettings/"
        "logs.enabled\",\"equals\":\"true\"}}}}}}");
    json_t *data =
        parse("{\"properties\":{\"mode\":\"Microsoft.MachineLearningServices.Data\",\"policyRule\":"
              "{\"if\":{\"field\":\"type\",\"equals\":\"x\"},\"then\":{\"effect\":\"Deny\"}}}}");
    json_t *dsbody = parse("{\"properties\":{\"logs\":[{\"category\":\"a\",\"enabled\":true}]}}");
    json_t *dsoff = parse("{\"properties\":{\"logs\":[{\"category\":\"a\",\"enabled\":false}]}}");
    struct policy_resource ws = {WS_ID, "ws1", WS_TYPE, "2025-09-01", body, 0, false};
    struct policy_resource rel[2] = {
        {WS_ID "/providers/Microsoft.Insights/diagnosticSettings/d", "d",
         "Microsoft.Insights/diagnosticSettings", "2021-05-01-preview", dsoff, 0, true},
        {WS_ID "/providers/Microsoft.Insights/diagnosticSettings/e", "e",
         "Microsoft.Insights/diagnosticSettings", "2021-05-01-preview", dsbody, 0, true},
    };
    (void)state;

    assert_int_equal(policy_aliases_add(aliases,
                                        "Microsoft.Insights/diagnosticSettings/logs.enabled",
                                        "properties.logs[*].enabled", NULL),
                     0);
    assert_int_equal(policy_prepare(&p, def, NULL, &err), 0);
    assert_int_equal(policy_evaluate(&r, p, aliases, &ws, NULL, 0, false), 0);
    assert_int_equal(r.verdict, POLICY_NONCOMPLIANT);
    assert_int_equal(json_array_size(r.changes), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.changes, 0), "before")),
                        "Enabled");
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.changes, 0), "after")),
                        "Disabled");
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.changes, 0), "path")),
                        "properties.publicNetworkAccess");
    policy_result_release(&r);
    /* before 2021-10-01 only the tag changes */
    ws.api_version = "2021-07-01";
    assert_int_equal(policy_evaluate(&r, p, aliases, &ws, NULL, 0, false), 0);
    assert_int_equal(json_array_size(r.changes), 1);
    policy_result_release(&r);
    policy_free(p);
    ws.api_version = "2025-09-01";

    assert_int_equal(policy_prepare(&p, diag, NULL, &err), 0);
    assert_int_equal(policy_evaluate(&r, p, aliases, &ws, NULL, 0, false), 0);
    assert_int_equal(r.verdict, POLICY_NOT_EVALUABLE);
    assert_non_null(strstr(r.reason, "not evaluable offline"));
    policy_result_release(&r);
    assert_int_equal(policy_evaluate(&r, p, aliases, &ws, NULL, 0, true), 0);
    assert_int_equal(r.verdict, POLICY_NONCOMPLIANT);
    policy_result_release(&r);
    assert_int_equal(policy_evaluate(&r, p, aliases, &ws, rel, 1, true), 0);
    assert_int_equal(r.verdict, POLICY_NONCOMPLIANT); /* logs disabled */
    policy_result_release(&r);
    assert_int_equal(policy_evaluate(&r, p, aliases, &ws, rel, 2, false), 0);
    assert_int_equal(r.verdict, POLICY_COMPLIANT);
    policy_result_release(&r);
    policy_free(p);

    /* Indexed mode judges only types with location and tags; All judges every type */
    {
        struct policy_resource ra = {WS_ID "/providers/Microsoft.Authorization/roleAssignments/r",
                                     "r",
                                     WS_TYPE,
                                     "2022-04-01",
                                     body,
                                     0,
                                     true};
        assert_int_equal(policy_prepare(&p, def, NULL, &err), 0); /* mode Indexed */
        assert_int_equal(policy_evaluate(&r, p, aliases, &ra, NULL, 0, false), 0);
        assert_int_equal(r.verdict, POLICY_NOT_APPLICABLE);
        policy_result_release(&r);
        policy_free(p);
        assert_int_equal(policy_prepare(&p, diag, NULL, &err), 0); /* mode absent: All */
        assert_int_equal(policy_evaluate(&r, p, aliases, &ra, NULL, 0, true), 0);
        assert_int_equal(r.verdict, POLICY_NONCOMPLIANT);
        policy_result_release(&r);
        policy_free(p);
    }

    assert_int_equal(policy_prepare(&p, data, NULL, &err), 0);
    assert_int_equal(policy_evaluate(&r, p, aliases, &ws, NULL, 0, false), 0);
    assert_int_equal(r.verdict, POLICY_NOT_EVALUABLE);
    assert_non_null(strstr(r.reason, "resource-provider mode"));
    policy_result_release(&r);
    policy_free(p);

    json_decref(def);
    json_decref(diag);
    json_decref(data);
    json_decref(body);
    json_decref(dsbody);
    json_decref(dsoff);
}

static void test_policy__aliases_from_providers_and_csv_errors(void **state)
{
    struct policy_aliases *a = NULL;
    struct errbuf err = ERRBUF_INIT;
    json_t *doc = parse(
        "{\"value\":[{\"namespace\":\"Microsoft.X\",\"resourceTypes\":[{\"resourceType\":\"t\","
        "\"aliases\":[{\"name\":\"Microsoft.X/t/p\",\"defaultPath\":\"properties.p\","
        "\"paths\":[{\"path\":\"properties.old.p\",\"apiVersions\":[\"2019-01-01\"]}]}]}]}]}");
    (void)state;
    assert_int_equal(policy_aliases_new(&a), 0);
    assert_int_equal(policy_aliases_load_providers(a, doc, &err), 0);
    assert_string_equal(policy_alias_path(a, "microsoft.x/T/P", NULL), "properties.p");
    assert_string_equal(policy_alias_path(a, "Microsoft.X/t/p", "2019-01-01"), "properties.old.p");
    assert_string_equal(policy_alias_path(a, "Microsoft.X/t/p", "2024-01-01"), "properties.p");
    assert_null(policy_alias_path(a, "Microsoft.X/t/q", NULL));
    assert_int_equal(policy_aliases_load_csv(
                         a, "alias,defaultPath\nA/b/c,properties.c\nbroken\n",
                         strlen("alias,defaultPath\nA/b/c,properties.c\nbroken\n"), "x.csv", &err),
                     AMLSEC_EPARSE);
    assert_string_equal(err.msg, "x.csv:3: expected 'alias,defaultPath'");
    policy_aliases_free(a);
    json_decref(doc);
    /* an unknown alias fails the evaluation */
    assert_int_equal(cond("{\"field\":\"" WS_TYPE "/noSuchThing\",\"equals\":1}", "{}"), E);
}

/* Where AuditIfNotExists/DeployIfNotExists look, as Azure does: under the
 * resource (children, extensions such as diagnostic settings, never another
 * resource's), else in the resource group (details.resourceGroupName, else
 * the resource's), or with existenceScope Subscription in the subscription. */
static void test_policy__existence_scopes(void **state)
{
#define ZONES "Microsoft.Network/privateDnsZones"
#define DINE(extra)                                                                                \
    "{\"properties\":{\"mode\":\"Indexed\",\"policyRule\":{\"if\":{\"field\":\"type\","            \
    "\"equals\":\"" WS_TYPE "\"},\"then\":{\"effect\":\"DeployIfNotExists\",\"details\":{"         \
    "\"type\":\"" ZONES "\",\"name\":\"privatelink.api.azureml.ms\"" extra "}}}}}"
    static const char *const defs[] = {
        DINE(""),
        DINE(",\"resourceGroupName\":\"dns\""),
        DINE(",\"existenceScope\":\"Subscription\""),
        DINE(",\"existenceScope\":\"[concat('Resource', "
             "'Group')]\",\"resourceGroupName\":\"[concat('d', 'ns')]\""),
        DINE(",\"existenceScope\":\"Tenant\""),
    };
    /* the zone in rg-dns of the same subscription, one in another subscription's rg */
    json_t *zone = parse("{\"location\":\"global\"}");
    json_t *body = parse("{\"properties\":{}}");
    struct policy_resource ws = {WS_ID, "ws1", WS_TYPE, "2025-09-01", body, 0, false};
    struct policy_resource in_dns = {"/subscriptions/s/resourceGroups/dns/providers/" ZONES
                                     "/privatelink.api.azureml.ms",
                                     "privatelink.api.azureml.ms",
                                     ZONES,
                                     "2020-06-01",
                                     zone,
                                     0,
                                     false};
    struct policy_resource elsewhere = {"/subscriptions/other/resourceGroups/dns/providers/" ZONES
                                        "/privatelink.api.azureml.ms",
                                        "privatelink.api.azureml.ms",
                                        ZONES,
                                        "2020-06-01",
                                        zone,
                                        0,
                                        false};
    struct policy_resource in_rg = {"/subscriptions/s/resourceGroups/RG/providers/" ZONES
                                    "/privatelink.api.azureml.ms",
                                    "privatelink.api.azureml.ms",
                                    ZONES,
                                    "2020-06-01",
                                    zone,
                                    0,
                                    false};
    struct policy_resource rels[2];
    /* want[def][case]: 0 = compliant, 1 = not evaluable; cases: {in_dns, elsewhere}, {in_rg} */
    static const int want[5][2] = {{1, 0}, {0, 1}, {0, 0}, {0, 1}, {-1, -1}};
    struct errbuf err = ERRBUF_INIT;
    (void)state;

    for (size_t d = 0; d < sizeof(defs) / sizeof(defs[0]); d++) {
        json_t *def = parse(defs[d]);
        struct policy *p = NULL;
        struct policy_result r;
        assert_int_equal(policy_prepare(&p, def, NULL, &err), 0);
        rels[0] = in_dns;
        rels[1] = elsewhere;
        assert_int_equal(policy_evaluate(&r, p, aliases, &ws, rels, 2, false), 0);
        if (want[d][0] < 0) {
            assert_int_equal(r.verdict, POLICY_ERROR);
            assert_non_null(strstr(r.reason, "existenceScope 'Tenant'"));
        } else {
            assert_int_equal(r.verdict, want[d][0] ? POLICY_NOT_EVALUABLE : POLICY_COMPLIANT);
        }
        policy_result_release(&r);
        if (want[d][1] >= 0) {
            rels[0] = in_rg;
            assert_int_equal(policy_evaluate(&r, p, aliases, &ws, rels, 1, false), 0);
            assert_int_equal(r.verdict, want[d][1] ? POLICY_NOT_EVALUABLE : POLICY_COMPLIANT);
            if (want[d][1])
                assert_non_null(strstr(r.reason, "in resource group 'dns'"));
            policy_result_release(&r);
            /* known complete (nothing else can exist): not found is non-compliant */
            rels[0] = elsewhere;
            assert_int_equal(policy_evaluate(&r, p, aliases, &ws, rels, 1, true), 0);
            assert_int_equal(r.verdict, POLICY_NONCOMPLIANT);
            policy_result_release(&r);
        }
        policy_free(p);
        json_decref(def);
    }

    /* a diagnostic setting of another workspace in the same group is not this one's */
    {
        json_t *def = parse(
            "{\"properties\":{\"policyRule\":{\"if\":{\"field\":\"type\",\"equals\":\"" WS_TYPE
            "\"},\"then\":{\"effect\":\"AuditIfNotExists\",\"details\":{\"type\":"
            "\"Microsoft.Insights/diagnosticSettings\"}}}}}");
        struct policy *p = NULL;
        struct policy_result r;
        struct policy_resource other = {"/subscriptions/s/resourceGroups/rg/providers/" WS_TYPE
                                        "/ws2/providers/Microsoft.Insights/diagnosticSettings/d",
                                        "d",
                                        "Microsoft.Insights/diagnosticSettings",
                                        "2021-05-01-preview",
                                        zone,
                                        0,
                                        true};
        struct policy_resource mine = other;
        mine.id = WS_ID "/providers/Microsoft.Insights/diagnosticSettings/d";
        assert_int_equal(policy_prepare(&p, def, NULL, &err), 0);
        assert_int_equal(policy_evaluate(&r, p, aliases, &ws, &other, 1, false), 0);
        assert_int_equal(r.verdict, POLICY_NOT_EVALUABLE);
        assert_non_null(strstr(r.reason, "under the resource"));
        policy_result_release(&r);
        assert_int_equal(policy_evaluate(&r, p, aliases, &ws, &mine, 1, false), 0);
        assert_int_equal(r.verdict, POLICY_COMPLIANT);
        policy_result_release(&r);
        policy_free(p);
        json_decref(def);
    }
    json_decref(zone);
    json_decref(body);
#undef DINE
#undef ZONES
}

/* policy_check_run: scopes, levels, and related-only subjects (what a
 * plan leaves unchanged) that existence conditions find but nobody judges. */
static void test_policy__check_run_scopes_levels_related(void **state)
{
    json_t *ws_body = parse("{\"properties\":{\"publicNetworkAccess\":\"Enabled\"}}");
    json_t *ds_body = parse("{\"properties\":{\"logs\":[{\"enabled\":true}]}}");
    json_t *pna = load_json(AMLSEC_SHARED_DIR
                            "/data/policies/Workspace_PublicNetworkAccessDisabled_Audit.json");
    json_t *aine = parse(
        "{\"name\":\"diag\",\"properties\":{\"displayName\":\"logs\",\"policyRule\":{\"if\":{"
        "\"field\":"
        "\"type\",\"equals\":\"" WS_TYPE
        "\"},\"then\":{\"effect\":\"AuditIfNotExists\",\"details\":{"
        "\"type\":\"Microsoft.Insights/diagnosticSettings\",\"existenceCondition\":{\"field\":"
        "\"Microsoft.Insights/diagnosticSettings/logs.enabled\",\"equals\":true}}}}}}");
    json_t *deny = parse("{\"effect\":\"Deny\"}");
    struct policy *p1, *p2;
    struct errbuf err = ERRBUF_INIT;
    struct policy_subject subs[3];
    struct policy_binding b[2];
    struct finding_list l;
    struct policy_check_stats st = {0};
    (void)state;

    memset(subs, 0, sizeof(subs));
    subs[0].address = "workspace.a";
    subs[0].res = (struct policy_resource){WS_ID, "ws1", WS_TYPE, "2025-09-01", ws_body, 0, false};
    subs[1].address = "workspace.other";
    subs[1].res =
        (struct policy_resource){"/subscriptions/s/resourceGroups/other/providers/" WS_TYPE "/w2",
                                 "w2",
                                 WS_TYPE,
                                 "2025-09-01",
                                 ws_body,
                                 0,
                                 false};
    subs[2].address = "diagnostic_setting.d";
    subs[2].res =
        (struct policy_resource){WS_ID "/providers/Microsoft.Insights/diagnosticSettings/d",
                                 "d",
                                 "Microsoft.Insights/diagnosticSettings",
                                 "2021-05-01-preview",
                                 ds_body,
                                 0,
                                 true};
    subs[2].related_only = true;
    assert_int_equal(policy_aliases_add(aliases,
                                        "Microsoft.Insights/diagnosticSettings/logs.enabled",
                                        "properties.logs[*].enabled", NULL),
                     0);
    assert_int_equal(policy_prepare(&p1, pna, deny, &err), 0);
    assert_int_equal(policy_prepare(&p2, aine, NULL, &err), 0);
    b[0] = (struct policy_binding){p1, "policy_assignment.x", "/subscriptions/s/resourceGroups/rg",
                                   NULL, true};
    b[1] = (struct policy_binding){p2, NULL, NULL, NULL, false};
    finding_list_init(&l);
    assert_int_equal(policy_check_run(&l, &st, subs, 3, b, 2, aliases, true), 0);
    /* the Deny judges only what lies in its scope; the related-only setting is never judged */
    assert_int_equal(st.evaluations, 3);
    assert_int_equal(l.count[FINDING_DENY], 1);
    assert_string_equal(l.items[0].address, "workspace.a");
    assert_string_equal(json_string_value(l.items[0].value), "Enabled");
    /* the existence condition finds the unchanged setting of workspace.a: compliant; the
       other workspace has none: not evaluable offline */
    assert_int_equal(l.count[FINDING_PASS], 1);
    assert_int_equal(l.count[FINDING_INFO], 1);
    for (size_t i = 0; i < l.n; i++)
        if (l.items[i].level == FINDING_INFO)
            assert_string_equal(l.items[i].address, "workspace.other");
    finding_list_release(&l);
    policy_free(p1);
    policy_free(p2);
    json_decref(ws_body);
    json_decref(ds_body);
    json_decref(pna);
    json_decref(aine);
    json_decref(deny);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy__cmk_builtin),
        cmocka_unit_test(test_policy__public_network_builtin),
        cmocka_unit_test(test_policy__private_link_builtin),
        cmocka_unit_test(test_policy__uai_builtin),
        cmocka_unit_test(test_policy__compute_local_auth_builtin),
        cmocka_unit_test(test_policy__key_vault_recoverable_builtin),
        cmocka_unit_test(test_policy__equals_and_case),
        cmocka_unit_test(test_policy__like_match_contains),
        cmocka_unit_test(test_policy__in_and_ordering),
        cmocka_unit_test(test_policy__big_numbers),
        cmocka_unit_test(test_policy__big_number_equals_real),
        cmocka_unit_test(test_policy__star_alias_all_elements),
        cmocka_unit_test(test_policy__counts),
        cmocka_unit_test(test_policy__template_functions),
        cmocka_unit_test(test_policy__parameters),
        cmocka_unit_test(test_policy__modify_append_existence_modes),
        cmocka_unit_test(test_policy__aliases_from_providers_and_csv_errors),
        cmocka_unit_test(test_policy__check_run_scopes_levels_related),
        cmocka_unit_test(test_policy__existence_scopes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
