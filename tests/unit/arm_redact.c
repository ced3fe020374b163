/* Redaction: the patterns one by one, then a canary secret pushed through
 * every sign-in flow and ARM call with tracing on must never reach the log:
 * first against a scripted fake, then end to end against armlocal acting as
 * Entra ID (where no JWT at all may reach the log either). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "providers/arm/arm_client.h"
#include "providers/arm/auth.h"
#include "providers/arm/fake_transport.h"
#include "providers/arm/redact.h"
#include "tests/unit/fixture_signin.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"

#define CANARY "CANARY7f3a9c"

static void check(const char *in, const char *want)
{
    char *got = redact_dup(in);
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fail_msg("redact(%s)\n  got  %s\n  want %s", in, got, want);
    free(got);
}

static void test_arm_redact__patterns(void **state)
{
    (void)state;
    check("Authorization: Bearer eyJ0eXAi.abc.def", "Authorization: ***");
    check("> authorization: Basic dXNlcjpwYXNz\nnext", "> authorization: ***\nnext");
    check("token is Bearer abc.def-ghi", "token is Bearer ***");
    check("grant_type=client_credentials&client_secret=s%2Bx&scope=a",
          "grant_type=client_credentials&client_secret=***&scope=a");
    check("client_assertion_type=urn&client_assertion=eyJ.x.y",
          "client_assertion_type=urn&client_assertion=***");
    check("https://a.blob.core.windows.net/c/b?sv=2022&sig=abc%3D&se=1",
          "https://a.blob.core.windows.net/c/b?sv=2022&sig=***&se=1");
    check("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k3y==;EndpointSuffix=x",
          "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=***;EndpointSuffix=x");
    check("{\"access_token\":\"eyJabc\",\"expires_in\":3599}",
          "{\"access_token\":\"***\",\"expires_in\":3599}");
    check("{\"primaryKey\": \"abc==\", \"keyName\":\"key1\", \"id\":\"/x\"}",
          "{\"primaryKey\": \"***\", \"keyName\":\"key1\", \"id\":\"/x\"}");
    check("{\"properties\":{\"adminPassword\":\"p\\\"w\"}}",
          "{\"properties\":{\"adminPassword\":\"***\"}}");
    check("{\"connectionString\":\"Endpoint=sb://x\"}", "{\"connectionString\":\"***\"}");
    check("X-IDENTITY-HEADER: abc", "X-IDENTITY-HEADER: ***");
    /* ordinary text is untouched */
    check("GET https://management.azure.com/subscriptions/1?api-version=2025-05-01 -> 200",
          "GET https://management.azure.com/subscriptions/1?api-version=2025-05-01 -> 200");
    check("{\"keyVaultArmId\":\"/subscriptions/1/x\",\"tokenType\":5}",
          "{\"keyVaultArmId\":\"/subscriptions/1/x\",\"tokenType\":5}");
    check("", "");
    /* registered literals are masked wherever they appear */
    assert_int_equal(redact_register("literal-secret-42"), 0);
    check("xx literal-secret-42yy", "xx ***yy");
    redact_register("abc"); /* too short to register */
    check("abc", "abc");
}

/* --- the canary --------------------------------------------------------- */

static struct buf logbuf;

static void capture(enum log_level level, const char *msg, void *payload)
{
    (void)level;
    (void)payload;
    buf_adds(&logbuf, msg);
    buf_addch(&logbuf, '\n');
}

/* Fails with the log line that holds needle, if any. */
static void assert_not_logged(const char *needle)
{
    const char *p = strstr(logbuf.ptr, needle), *ls = p;
    if (p == NULL)
        return;
    while (ls > logbuf.ptr && ls[-1] != '\n')
        ls--;
    fail_msg("'%s' in the log: %.*s", needle, (int)strcspn(ls, "\n"), ls);
}

static int64_t everything(struct http_exchange *x, void *payload)
{
    (void)payload;
    if (strstr(x->url, "token.actions.example")) {
        fake_respond(x, 200, "{\"value\":\"" CANARY "-github-oidc\"}");
    } else if (strstr(x->url, "/oauth2/v2.0/token")) {
        if (x->body && strstr(x->body, "client_secret=" CANARY "-wrong"))
            fake_respond(x, 401,
                         "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: "
                         "Invalid client secret provided\"}");
        else
            fake_respond(x, 200,
                         "{\"access_token\":\"" CANARY "-access\",\"expires_in\":\"3599\"}");
    } else if (strstr(x->url, "/metadata/identity") || strstr(x->url, "/msi")) {
        fake_respond(x, 200, "{\"access_token\":\"" CANARY "-msi\",\"expires_in\":3599}");
    } else if (strstr(x->url, "listKeys")) {
        fake_respond(x, 200,
                     "{\"keys\":[{\"keyName\":\"key1\",\"value\":\"" CANARY
                     "-storage\",\"permissions\":\"FULL\"}],\"primaryKey\":\"" CANARY "-pk\"}");
    } else {
        fake_respond(x, 200, "{\"id\":\"/subscriptions/s/x\"}");
    }
    return 0;
}

static void run_flow(struct auth_config *cfg, const char *call_url, const char *method)
{
    struct manual_clock clock;
    struct fake_transport *fake;
    struct auth *auth;
    struct arm_client *client;
    struct arm_token_source src;
    struct arm_client_opts o = {0};
    struct errbuf err = ERRBUF_INIT;
    struct arm_call c = {0};

    manual_clock_init(&clock, 1700000000);
    assert_int_equal(fake_transport_new(&fake, everything, NULL, &clock), 0);
    assert_int_equal(auth_new(&auth, cfg, arm_cloud_builtin("public"), fake_transport_base(fake),
                              &clock.clock, &err),
                     0);
    src = auth_token_source(auth);
    o.cloud = arm_cloud_builtin("public");
    o.transport = fake_transport_base(fake);
    o.auth = &src;
    o.clock = &clock.clock;
    assert_int_equal(arm_client_new(&client, &o, &err), 0);
    c.method = method;
    c.url = call_url;
    c.api_version = "2025-06-01";
    if (strcmp(method, "PUT") == 0)
        c.body = "{\"properties\":{\"adminPassword\":\"" CANARY "-pw\"}}";
    arm_client_call(client, &c);
    arm_call_release(&c);
    arm_client_free(client);
    auth_free(auth);
    transport_free(fake_transport_base(fake));
}

static void test_arm_redact__canary_never_logged(void **state)
{
    struct auth_config cfg;
    char tokfile[] = "/tmp/amlsec-canary-XXXXXX";
    int fd;
    (void)state;
    buf_init(&logbuf, 0);
    log_set_sink(LOG_TRACE, capture, NULL);

    memset(&cfg, 0, sizeof(cfg));
    cfg.tenant_id = "t-1";
    cfg.client_id = "c-1";

    cfg.method = AUTH_CLIENT_SECRET;
    cfg.client_secret = CANARY "-secret";
    run_flow(&cfg,
             "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/"
             "storageAccounts/a/listKeys",
             "POST");
    cfg.client_secret = CANARY "-wrong";
    run_flow(&cfg, "/subscriptions/s/x", "GET");
    cfg.client_secret = NULL;

    cfg.method = AUTH_OIDC;
    cfg.oidc_token = CANARY "-oidc-given";
    run_flow(&cfg, "/subscriptions/s/x", "PUT");
    cfg.oidc_token = NULL;
    fd = mkstemp(tokfile);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, CANARY "-oidc-file", 17), 17);
    close(fd);
    cfg.oidc_token_file = tokfile;
    run_flow(&cfg, "/subscriptions/s/x", "GET");
    cfg.oidc_token_file = NULL;
    cfg.oidc_request_url = "https://token.actions.example/x?api-version=2.0";
    cfg.oidc_request_token = CANARY "-gh-request";
    run_flow(&cfg, "/subscriptions/s/x", "GET");
    cfg.oidc_request_url = cfg.oidc_request_token = NULL;

    cfg.method = AUTH_MSI;
    cfg.msi_endpoint = "http://127.0.0.1:9/msi";
    cfg.msi_secret = CANARY "-identity-header";
    /* (an absolute URL elsewhere would never get the ARM token: the SAS
     * rides on an ARM path here) */
    run_flow(&cfg, "/subscriptions/s/x?sv=1&sig=" CANARY "-sas", "GET");
    cfg.msi_endpoint = cfg.msi_secret = NULL;
    run_flow(&cfg, "/subscriptions/s/x", "GET");

    log_set_sink(LOG_WARN, NULL, NULL);
    unlink(tokfile);
    /* the log really traced the traffic ... */
    assert_non_null(strstr(logbuf.ptr, "oauth2/v2.0/token"));
    assert_non_null(strstr(logbuf.ptr, "Authorization: ***"));
    assert_non_null(strstr(logbuf.ptr, "listKeys"));
    assert_non_null(strstr(logbuf.ptr, "AADSTS7000215"));
    assert_non_null(strstr(logbuf.ptr, "127.0.0.1:9/msi"));
    assert_non_null(strstr(logbuf.ptr, "169.254.169.254/metadata/identity"));
    /* ... and never the canary */
    assert_not_logged(CANARY);
    buf_release(&logbuf);
}

static void control(struct fixture_cloud *w, const char *method, const char *path, const char *body)
{
    long st = fixture_cloud_control(w, method, path, body, NULL);
    if (st < 200 || st >= 300)
        fail_msg("%s %s: HTTP %ld", method, path, st);
}

static void test_arm_redact__canary_never_logged_against_armlocal(void **state)
{
    struct fixture_cloud w;
    struct auth_config cfg;
    struct buf minted;
    char url[256], tokfile[] = "/tmp/amlsec-canary-XXXXXX", pfx[] = "/tmp/amlsec-canary-pfx-XXXXXX";
    EVP_PKEY *key = fixture_key(0);
    X509 *cert = fixture_cert(key, "canary");
    char *pem = fixture_cert_pem(cert);
    json_t *spec;
    char *text;
    int fd;
    (void)state;

    assert_int_equal(fixture_cloud_start(&w), 0);
    spec = json_pack("{s:s, s:s, s:s, s:[s,s], s:[s], s:[{s:s, s:s}, {s:s, s:s}]}", "clientId",
                     "c-1", "tenantId", "t-1", "secret", CANARY "-secret", "additionalTenants",
                     "t-aux-1", "t-aux-2", "certificates", pem, "federatedCredentials", "issuer",
                     "", "subject", "system:serviceaccount:ml:amlsec", "issuer", "", "subject",
                     "repo:org/infra:environment:prod");
    snprintf(url, sizeof(url), "%s/oidc", w.base);
    json_object_set_new(json_array_get(json_object_get(spec, "federatedCredentials"), 0), "issuer",
                        json_string(url));
    json_object_set_new(json_array_get(json_object_get(spec, "federatedCredentials"), 1), "issuer",
                        json_string(url));
    text = json_dumps(spec, JSON_COMPACT);
    control(&w, "POST", "/_armlocal/servicePrincipals", text);
    free(text);
    json_decref(spec);
    free(pem);
    control(&w, "POST", "/_armlocal/oidc/requestTokens",
            "{\"requestToken\":\"" CANARY "-gh-request\",\"subject\":\"repo:org/infra:"
            "environment:prod\"}");
    control(&w, "POST", "/_armlocal/oidc/requestTokens",
            "{\"requestToken\":\"" CANARY "-ado-request\",\"subject\":\"repo:org/infra:"
            "environment:prod\",\"serviceConnectionId\":\"sc-1\"}");
    control(&w, "PUT", "/_armlocal/settings", "{\"identityHeader\":\"" CANARY "-identity\"}");
    buf_init(&minted, 0);
    assert_true(fixture_cloud_control(&w, "POST", "/_armlocal/oidc/tokens",
                                      "{\"subject\":\"system:serviceaccount:ml:amlsec\"}",
                                      &minted) == 201);
    fd = mkstemp(tokfile);
    assert_true(fd >= 0);
    {
        json_t *j = json_loads(minted.ptr, 0, NULL);
        const char *t = json_string_value(json_object_get(j, "token"));
        assert_non_null(t);
        assert_int_equal(write(fd, t, strlen(t)), (ssize_t)strlen(t));
        json_decref(j);
    }
    close(fd);
    fd = mkstemp(pfx);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(fixture_cert_write_pfx(pfx, cert, key, CANARY "-pfx"), 0);

    buf_init(&logbuf, 0);
    log_set_sink(LOG_TRACE, capture, NULL);
    memset(&cfg, 0, sizeof(cfg));
    cfg.tenant_id = "t-1";
    cfg.client_id = "c-1";
    cfg.method = AUTH_CLIENT_SECRET;
    cfg.client_secret = CANARY "-secret";
    cfg.aux_tenants[0] = "t-aux-1";
    cfg.aux_tenants[1] = "t-aux-2";
    cfg.n_aux_tenants = 2;
    assert_int_equal(fixture_cloud_run(&w, &cfg, NULL).rc, 0);
    cfg.n_aux_tenants = 0;
    cfg.client_secret = CANARY "-wrong";
    assert_true(fixture_cloud_run(&w, &cfg, NULL).rc < 0);
    cfg.client_secret = NULL;
    cfg.method = AUTH_CLIENT_CERTIFICATE;
    cfg.certificate_path = pfx;
    cfg.certificate_password = CANARY "-pfx";
    assert_int_equal(fixture_cloud_run(&w, &cfg, NULL).rc, 0);
    cfg.certificate_path = cfg.certificate_password = NULL;
    cfg.method = AUTH_OIDC;
    cfg.oidc_token_file = tokfile;
    assert_int_equal(fixture_cloud_run(&w, &cfg, NULL).rc, 0);
    cfg.oidc_token_file = NULL;
    snprintf(url, sizeof(url), "%s/oidc/github/token", w.base);
    cfg.oidc_request_url = url;
    cfg.oidc_request_token = CANARY "-gh-request";
    assert_int_equal(fixture_cloud_run(&w, &cfg, NULL).rc, 0);
    snprintf(url, sizeof(url), "%s/oidc/ado/oidctoken", w.base);
    cfg.oidc_request_token = CANARY "-ado-request";
    cfg.ado_service_connection_id = "sc-1";
    assert_int_equal(fixture_cloud_run(&w, &cfg, NULL).rc, 0);
    memset(&cfg, 0, sizeof(cfg));
    cfg.method = AUTH_MSI;
    snprintf(url, sizeof(url), "%s/msi/token", w.base);
    cfg.msi_endpoint = url;
    cfg.msi_secret = CANARY "-identity";
    assert_int_equal(fixture_cloud_run(&w, &cfg, NULL).rc, 0);
    snprintf(url, sizeof(url), "%s/metadata/identity/oauth2/token", w.base);
    cfg.msi_secret = NULL;
    assert_int_equal(fixture_cloud_run(&w, &cfg, NULL).rc, 0);
    log_set_sink(LOG_WARN, NULL, NULL);

    /* the log really traced every flow ... */
    assert_non_null(strstr(logbuf.ptr, "/t-aux-2/oauth2/v2.0/token"));
    assert_non_null(strstr(logbuf.ptr, "x-ms-authorization-auxiliary"));
    assert_non_null(strstr(logbuf.ptr, "AADSTS7000215"));
    assert_non_null(strstr(logbuf.ptr, "client_assertion=***"));
    assert_non_null(strstr(logbuf.ptr, "/oidc/github/token"));
    assert_non_null(strstr(logbuf.ptr, "/oidc/ado/oidctoken"));
    assert_non_null(strstr(logbuf.ptr, "/msi/token"));
    assert_non_null(strstr(logbuf.ptr, "/metadata/identity/oauth2/token"));
    /* ... and never the canary, nor any JWT (access tokens, assertions,
     * OIDC tokens all start with eyJ, base64 of '{"') */
    assert_not_logged(CANARY);
    assert_not_logged("eyJ");
    buf_release(&logbuf);
    buf_release(&minted);
    unlink(tokfile);
    unlink(pfx);
    X509_free(cert);
    EVP_PKEY_free(key);
    fixture_cloud_stop(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arm_redact__patterns),
        cmocka_unit_test(test_arm_redact__canary_never_logged),
        cmocka_unit_test(test_arm_redact__canary_never_logged_against_armlocal),
    };
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
