/* Every sign-in flow of providers/arm/auth.c end to end against armlocal
 * acting as Entra ID (--auth required: ARM calls need a token armlocal
 * issued): client secret; certificates (PEM PS256, PFX RS256, base64 PFX,
 * EC ES256) whose assertions armlocal verifies; workload identity from a
 * token file, GitHub Actions' and Azure DevOps' request endpoints and a
 * given token, all issued by armlocal's OIDC issuer and checked against a
 * federated credential; managed identity through IMDS and App Service.
 * Then: short-lived tokens refreshed before they expire and after ARM says
 * they expired; refusals (wrong secret, unregistered certificate, untrusted
 * subject, expired assertion) failing at once with Entra's AADSTS code;
 * auxiliary tenants; and the request variables (ARM_PARTNER_ID,
 * ARM_CORRELATION_REQUEST_ID, ARM_DISABLE_CORRELATION_REQUEST_ID). */
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

#include "providers/arm/fake_transport.h"
#include "tests/unit/fixture_signin.h"
#include "util/fileio.h"

#define TENANT "00000000-0000-0000-0000-0000000000t1"
#define AUX1 "00000000-0000-0000-0000-0000000000a1"
#define AUX2 "00000000-0000-0000-0000-0000000000a2"
#define APP "11111111-0000-0000-0000-00000000app1"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/amlsec-signin-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void base_cfg(struct auth_config *cfg, enum auth_method m)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->method = m;
    cfg->tenant_id = TENANT;
    cfg->client_id = APP;
}

static void control_ok(struct fixture_cloud *w, const char *method, const char *path,
                       const char *body, long want)
{
    struct buf out;
    long st;
    buf_init(&out, 0);
    st = fixture_cloud_control(w, method, path, body, &out);
    if (st != want)
        fail_msg("%s %s: HTTP %ld, want %ld: %s", method, path, st, want, out.ptr);
    buf_release(&out);
}

/* The JSON answer of a control call (new reference). */
static json_t *control_json(struct fixture_cloud *w, const char *method, const char *path,
                            const char *body)
{
    struct buf out;
    json_t *j;
    buf_init(&out, 0);
    assert_true(fixture_cloud_control(w, method, path, body, &out) < 300);
    j = json_loads(out.ptr, 0, NULL);
    buf_release(&out);
    assert_non_null(j);
    return j;
}

/* Token requests armlocal's request log saw for tenant. */
static long token_posts(struct fixture_cloud *w, const char *tenant)
{
    char key[200];
    json_t *log = control_json(w, "GET", "/_armlocal/requests", NULL);
    long n;
    snprintf(key, sizeof(key), "POST /%s/oauth2/v2.0/token", tenant);
    n = (long)json_integer_value(json_object_get(json_object_get(log, "byPath"), key));
    json_decref(log);
    return n;
}

static void expect_ok(const struct fixture_run *r, const char *what)
{
    if (r->rc != 0)
        fail_msg("%s: %s", what, r->err);
}

static void expect_refused(const struct fixture_run *r, const char *code, const char *what)
{
    if (r->rc == 0 || strstr(r->err, code) == NULL)
        fail_msg("%s: want %s, got rc %d: %s", what, code, r->rc, r->err);
    /* refusals are not retried */
    assert_int_equal(r->token_requests, 1);
}

/* --- client secret ---------------------------------------------------------- */

static void test_armlocal_signin__client_secret_and_wrong_secret(void **state)
{
    struct fixture_cloud w;
    struct auth_config cfg;
    struct fixture_run r;
    (void)state;
    assert_int_equal(fixture_cloud_start(&w), 0);
    control_ok(&w, "POST", "/_armlocal/servicePrincipals",
               "{\"clientId\":\"" APP "\",\"tenantId\":\"" TENANT "\",\"secret\":\"s3cret\"}", 201);
    base_cfg(&cfg, AUTH_CLIENT_SECRET);
    cfg.client_secret = "s3cret";
    r = fixture_cloud_run(&w, &cfg, NULL);
    expect_ok(&r, "client secret");
    assert_int_equal(r.token_requests, 1); /* cached across calls */

    control_ok(&w, "DELETE", "/_armlocal/requests", NULL, 204);
    cfg.client_secret = "wrong";
    r = fixture_cloud_run(&w, &cfg, &(struct fixture_steps){3, 0, NULL, NULL});
    expect_refused(&r, "AADSTS7000215", "wrong secret");
    assert_non_null(strstr(r.err, "invalid_client"));
    assert_int_equal(token_posts(&w, TENANT), 1); /* and not asked again */
    fixture_cloud_stop(&w);
}

/* --- certificates ----------------------------------------------------------- */

static void test_armlocal_signin__certificates(void **state)
{
    struct fixture_cloud w;
    struct auth_config cfg;
    struct fixture_run r;
    EVP_PKEY *rsa = fixture_key(0), *ec = fixture_key(1), *other = fixture_key(0);
    X509 *rsa_cert = fixture_cert(rsa, "amlsec-rsa"), *ec_cert = fixture_cert(ec, "amlsec-ec");
    X509 *other_cert = fixture_cert(other, "not-registered");
    char pem[128], pfx[128], ecpem[128], otherpem[128], *p1, *p2, body[8192];
    struct buf der, b64;
    json_t *spec;
    char *text;
    (void)state;

    assert_non_null(rsa_cert);
    assert_non_null(ec_cert);
    assert_non_null(other_cert);
    snprintf(pem, sizeof(pem), "%s/rsa.pem", tmpdir);
    snprintf(pfx, sizeof(pfx), "%s/rsa.pfx", tmpdir);
    snprintf(ecpem, sizeof(ecpem), "%s/ec.pem", tmpdir);
    snprintf(otherpem, sizeof(otherpem), "%s/other.pem", tmpdir);
    assert_int_equal(fixture_cert_write_pem(pem, rsa_cert, rsa), 0);
    assert_int_equal(fixture_cert_write_pfx(pfx, rsa_cert, rsa, "pfx-pass"), 0);
    assert_int_equal(fixture_cert_write_pem(ecpem, ec_cert, ec), 0);
    assert_int_equal(fixture_cert_write_pem(otherpem, other_cert, other), 0);

    assert_int_equal(fixture_cloud_start(&w), 0);
    p1 = fixture_cert_pem(rsa_cert);
    p2 = fixture_cert_pem(ec_cert);
    spec = json_pack("{s:s, s:s, s:[s,s]}", "clientId", APP, "tenantId", TENANT, "certificates", p1,
                     p2);
    text = json_dumps(spec, JSON_COMPACT);
    snprintf(body, sizeof(body), "%s", text);
    control_ok(&w, "POST", "/_armlocal/servicePrincipals", body, 201);
    free(text);
    json_decref(spec);
    free(p1);
    free(p2);

    base_cfg(&cfg, AUTH_CLIENT_CERTIFICATE);
    cfg.certificate_path = pem; /* PS256 + x5t#S256 */
    r = fixture_cloud_run(&w, &cfg, NULL);
    expect_ok(&r, "PEM PS256");
    cfg.certificate_alg = JWT_RS256; /* RS256 + x5t */
    cfg.certificate_path = pfx;
    cfg.certificate_password = "pfx-pass";
    r = fixture_cloud_run(&w, &cfg, NULL);
    expect_ok(&r, "PFX RS256");
    /* ARM_CLIENT_CERTIFICATE: the PFX itself, base64 */
    buf_init(&der, 0);
    buf_init(&b64, 0);
    assert_int_equal(file_read_all(&der, pfx, 1 << 20, &(struct errbuf)ERRBUF_INIT), 0);
    assert_int_equal(buf_grow(&b64, der.len * 2 + 4), 0);
    b64.len = (size_t)EVP_EncodeBlock((unsigned char *)b64.ptr, (const unsigned char *)der.ptr,
                                      (int)der.len);
    cfg.certificate_path = NULL;
    cfg.certificate_data = b64.ptr;
    cfg.certificate_alg = JWT_PS256;
    r = fixture_cloud_run(&w, &cfg, NULL);
    expect_ok(&r, "base64 PFX");
    cfg.certificate_data = NULL;
    cfg.certificate_password = NULL;
    cfg.certificate_path = ecpem; /* ES256 */
    r = fixture_cloud_run(&w, &cfg, NULL);
    expect_ok(&r, "EC ES256");
    /* a certificate the app does not have */
    cfg.certificate_path = otherpem;
    r = fixture_cloud_run(&w, &cfg, NULL);
    expect_refused(&r, "AADSTS700027", "unregistered certificate");
    fixture_cloud_stop(&w);

    buf_release(&der);
    buf_release(&b64);
    X509_free(rsa_cert);
    X509_free(ec_cert);
    X509_free(other_cert);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(other);
}

/* --- workload identity (OIDC) --------------------------------------------------- */

/* A token from armlocal's issuer for subject (lifetime_s may be negative). */
static char *mint(struct fixture_cloud *w, const char *subject, int lifetime_s)
{
    char body[256];
    json_t *j;
    char *tok;
    snprintf(body, sizeof(body), "{\"subject\":\"%s\",\"lifetimeS\":%d}", subject, lifetime_s);
    j = control_json(w, "POST", "/_armlocal/oidc/tokens", body);
    tok = strdup(json_string_value(json_object_get(j, "token")));
    json_decref(j);
    return tok;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fputc('\n', f);
    assert_int_equal(fclose(f), 0);
}

static void test_armlocal_signin__workload_identity(void **state)
{
    struct fixture_cloud w;
    struct auth_config cfg;
    struct fixture_run r;
    char body[1024], url[256], file[128], *tok;
    (void)state;

    assert_int_equal(fixture_cloud_start(&w), 0);
    snprintf(body, sizeof(body),
             "{\"clientId\":\"" APP "\",\"tenantId\":\"" TENANT "\",\"federatedCredentials\":["
             "{\"issuer\":\"%s/oidc\",\"subject\":\"system:serviceaccount:ml:amlsec\"},"
             "{\"issuer\":\"%s/oidc\",\"subject\":\"repo:org/infra:environment:prod\"},"
             "{\"issuer\":\"%s/oidc\",\"subject\":\"sc://org/ml/azure-prod\"}]}",
             w.base, w.base, w.base);
    control_ok(&w, "POST", "/_armlocal/servicePrincipals", body, 201);
    control_ok(&w, "POST", "/_armlocal/oidc/requestTokens",
               "{\"requestToken\":\"gh-req\",\"subject\":\"repo:org/infra:environment:prod\"}",
               201);
    control_ok(&w, "POST", "/_armlocal/oidc/requestTokens",
               "{\"requestToken\":\"gh-fork\",\"subject\":\"repo:fork/infra:pull_request\"}", 201);
    control_ok(&w, "POST", "/_armlocal/oidc/requestTokens",
               "{\"requestToken\":\"ado-req\",\"subject\":\"sc://org/ml/azure-prod\","
               "\"serviceConnectionId\":\"5b5d2a4e-0000-0000-0000-0000000000sc\"}",
               201);

    /* AKS: the token file, re-read at every sign-in */
    snprintf(file, sizeof(file), "%s/token", tmpdir);
    tok = mint(&w, "system:serviceaccount:ml:amlsec", 3600);
    write_file(file, tok);
    free(tok);
    base_cfg(&cfg, AUTH_OIDC);
    cfg.oidc_token_file = file;
    r = fixture_cloud_run(&w, &cfg, NULL);
    expect_ok(&r, "token file");
    tok = mint(&w, "system:serviceaccount:other:sa", 3600);
    write_file(file, tok);
    free(tok);
    r = fixture_cloud_run(&w, &cfg, NULL);
    expect_refused(&r, "AADSTS700213", "untrusted subject in the token file");
    cfg.oidc_token_file = NULL;

    /* a given token (ARM_OIDC_TOKEN) that has expired */
    tok = mint(&w, "system:serviceaccount:ml:amlsec", -60);
    cfg.oidc_token = tok;
    r = fixture_cloud_run(&w, &cfg, NULL);
    expect_refused(&r, "AADSTS700024", "expired OIDC token");
    free(tok);
    cfg.oidc_token = NULL;

    /* GitHub Actions */
    snprintf(url, sizeof(url), "%s/oidc/github/token?api-version=2.0", w.base);
    cfg.oidc_request_url = url;
    cfg.oidc_request_token = "gh-req";
    r = fixture_cloud_run(&w, &cfg, NULL);
    expect_ok(&r, "GitHub Actions");
    assert_int_equal(r.token_requests, 2); /* the OIDC token, then Entra */
    cfg.oidc_request_token = "gh-fork";
    r = fixture_cloud_run(&w, &cfg, NULL);
    if (r.rc == 0 || strstr(r.err, "AADSTS700213") == NULL)
        fail_msg("fork: %s", r.err);
    cfg.oidc_request_token = "gh-unknown";
    r = fixture_cloud_run(&w, &cfg, NULL);
    if (r.rc == 0 || strstr(r.err, "GitHub Actions OIDC token sign-in refused: HTTP 401") == NULL)
        fail_msg("bad request token: %s", r.err);

    /* Azure DevOps */
    snprintf(url, sizeof(url), "%s/oidc/ado/oidctoken", w.base);
    cfg.oidc_request_url = url;
    cfg.oidc_request_token = "ado-req";
    cfg.ado_service_connection_id = "5b5d2a4e-0000-0000-0000-0000000000sc";
    r = fixture_cloud_run(&w, &cfg, NULL);
    expect_ok(&r, "Azure DevOps");
    cfg.ado_service_connection_id = "another-connection";
    r = fixture_cloud_run(&w, &cfg, NULL);
    if (r.rc == 0 || strstr(r.err, "Azure DevOps OIDC token sign-in refused: HTTP 400") == NULL)
        fail_msg("wrong service connection: %s", r.err);
    fixture_cloud_stop(&w);
}

/* --- managed identity --------------------------------------------------------- */

static void test_armlocal_signin__managed_identity(void **state)
{
    struct fixture_cloud w;
    struct auth_config cfg;
    struct fixture_run r;
    char imds[256], app_service[256];
    (void)state;

    assert_int_equal(fixture_cloud_start(&w), 0);
    snprintf(imds, sizeof(imds), "%s/metadata/identity/oauth2/token", w.base);
    snprintf(app_service, sizeof(app_service), "%s/msi/token", w.base);
    memset(&cfg, 0, sizeof(cfg));
    cfg.method = AUTH_MSI;
    cfg.msi_endpoint = imds; /* ARM_MSI_ENDPOINT */
    r = fixture_cloud_run(&w, &cfg, NULL);
    expect_ok(&r, "IMDS, system-assigned");
    cfg.client_id = "22222222-0000-0000-0000-0000000uami1";
    r = fixture_cloud_run(&w, &cfg, NULL);
    expect_refused(&r, "Identity not found", "unknown user-assigned identity");
    control_ok(&w, "POST", "/_armlocal/managedIdentities",
               "{\"clientId\":\"22222222-0000-0000-0000-0000000uami1\"}", 201);
    r = fixture_cloud_run(&w, &cfg, NULL);
    expect_ok(&r, "IMDS, user-assigned");

    /* App Service: IDENTITY_ENDPOINT + IDENTITY_HEADER */
    control_ok(&w, "PUT", "/_armlocal/settings", "{\"identityHeader\":\"app-svc-header\"}", 200);
    cfg.client_id = NULL;
    cfg.msi_endpoint = app_service;
    cfg.msi_secret = "app-svc-header";
    r = fixture_cloud_run(&w, &cfg, NULL);
    expect_ok(&r, "App Service");
    cfg.msi_secret = "stale-header";
    r = fixture_cloud_run(&w, &cfg, NULL);
    expect_refused(&r, "HTTP 401", "App Service with the wrong header");
    fixture_cloud_stop(&w);
}

/* --- expiry ------------------------------------------------------------------- */

static void test_armlocal_signin__short_lived_tokens_refreshed(void **state)
{
    struct fixture_cloud w;
    struct auth_config cfg;
    struct fixture_run r;
    struct manual_clock frozen;
    json_t *log;
    (void)state;

    assert_int_equal(fixture_cloud_start(&w), 0);
    control_ok(&w, "POST", "/_armlocal/servicePrincipals",
               "{\"clientId\":\"" APP "\",\"secret\":\"s3cret\"}", 201);
    control_ok(&w, "PUT", "/_armlocal/settings", "{\"tokenLifetimeS\":2}", 200);
    base_cfg(&cfg, AUTH_CLIENT_SECRET);
    cfg.client_secret = "s3cret";
    /* before expiry: a 2 s token is renewed at half its life */
    r = fixture_cloud_run(&w, &cfg, &(struct fixture_steps){3, 1100, NULL, NULL});
    expect_ok(&r, "refresh before expiry");
    assert_int_equal(r.token_requests, 3);

    /* after expiry: a sign-in clock that lags keeps the token, ARM answers
     * ExpiredAuthenticationToken, the client signs in again once */
    control_ok(&w, "PUT", "/_armlocal/settings", "{\"tokenLifetimeS\":1}", 200);
    control_ok(&w, "DELETE", "/_armlocal/requests", NULL, 204);
    manual_clock_init(&frozen, (int64_t)time(NULL));
    r = fixture_cloud_run(&w, &cfg, &(struct fixture_steps){2, 2100, &frozen.clock, NULL});
    expect_ok(&r, "refresh after expiry");
    assert_int_equal(r.token_requests, 2);
    log = control_json(&w, "GET", "/_armlocal/requests", NULL);
    /* PUT, GET refused as expired, GET again */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(log, "byVerb"), "GET")), 2);
    {
        /* the counts alone: the same total and verbs, no byPath */
        json_t *totals = control_json(&w, "GET", "/_armlocal/requests/totals", NULL);
        assert_non_null(totals);
        assert_null(json_object_get(totals, "byPath"));
        assert_true(json_equal(json_object_get(totals, "byVerb"), json_object_get(log, "byVerb")));
        assert_int_equal(json_integer_value(json_object_get(totals, "total")),
                         json_integer_value(json_object_get(log, "total")));
        json_decref(totals);
    }
    json_decref(log);
    fixture_cloud_stop(&w);
}

/* --- auxiliary tenants ---------------------------------------------------------- */

static void test_armlocal_signin__auxiliary_tenants(void **state)
{
    struct fixture_cloud w;
    struct auth_config cfg;
    struct fixture_run r;
    json_t *log, *aux;
    (void)state;

    assert_int_equal(fixture_cloud_start(&w), 0);
    control_ok(&w, "POST", "/_armlocal/servicePrincipals",
               "{\"clientId\":\"" APP "\",\"tenantId\":\"" TENANT "\",\"secret\":\"s3cret\","
               "\"additionalTenants\":[\"" AUX1 "\",\"" AUX2 "\"]}",
               201);
    base_cfg(&cfg, AUTH_CLIENT_SECRET);
    cfg.client_secret = "s3cret";
    cfg.aux_tenants[0] = AUX1;
    cfg.aux_tenants[1] = AUX2;
    cfg.n_aux_tenants = 2;
    r = fixture_cloud_run(&w, &cfg, &(struct fixture_steps){3, 0, NULL, NULL});
    expect_ok(&r, "auxiliary tenants");
    assert_int_equal(r.token_requests, 3); /* one token per tenant, cached */
    log = control_json(&w, "GET", "/_armlocal/requests", NULL);
    aux = json_object_get(log, "auxiliaryTenants");
    assert_int_equal(json_integer_value(json_object_get(aux, AUX1)), 3);
    assert_int_equal(json_integer_value(json_object_get(aux, AUX2)), 3);
    assert_int_equal(json_object_size(aux), 2);
    json_decref(log);
    /* a tenant the application is not in */
    cfg.aux_tenants[1] = "00000000-0000-0000-0000-0000000000a9";
    r = fixture_cloud_run(&w, &cfg, NULL);
    if (r.rc == 0 || strstr(r.err, "AADSTS700016") == NULL ||
        strstr(r.err, "auxiliary tenant '00000000-0000-0000-0000-0000000000a9'") == NULL)
        fail_msg("foreign tenant: %s", r.err);
    fixture_cloud_stop(&w);
}

/* --- request variables ------------------------------------------------------------ */

static int64_t record_ua(struct http_exchange *x, void *payload)
{
    const char *ua = http_exchange_req_header(x, "User-Agent");
    snprintf(payload, 128, "%s", ua ? ua : "");
    fake_respond(x, 200, "{}");
    return 0;
}

static void test_armlocal_signin__request_variables(void **state)
{
    struct fixture_kv env[] = {{"ARM_PARTNER_ID", "pid-a0b1c2d3-0000-4000-8000-00000000beef"},
                               {"ARM_CORRELATION_REQUEST_ID", "run-2026-11-22-signin"},
                               {"ARM_DISABLE_TERRAFORM_PARTNER_ID", "true"},
                               {NULL, NULL}};
    struct fixture_kv off[] = {{"ARM_DISABLE_CORRELATION_REQUEST_ID", "true"}, {NULL, NULL}};
    struct fixture_kv bad[] = {{"ARM_PARTNER_ID", "acme"}, {NULL, NULL}};
    struct fixture_cloud w;
    struct auth_config cfg;
    struct fixture_run r;
    struct arm_client_opts co;
    struct errbuf err = ERRBUF_INIT;
    (void)state;

    memset(&co, 0, sizeof(co));
    assert_int_equal(auth_request_env(&co, fixture_getenv, env, &err), 0);
    assert_string_equal(co.correlation_id, "run-2026-11-22-signin");
    assert_false(co.no_correlation_id);
    assert_int_equal(fixture_cloud_start(&w), 0);
    control_ok(&w, "POST", "/_armlocal/servicePrincipals",
               "{\"clientId\":\"" APP "\",\"secret\":\"s3cret\"}", 201);
    base_cfg(&cfg, AUTH_CLIENT_SECRET);
    cfg.client_secret = "s3cret";
    r = fixture_cloud_run(&w, &cfg, &(struct fixture_steps){2, 0, NULL, &co});
    expect_ok(&r, "correlation id");
    assert_string_equal(r.correlation, "run-2026-11-22-signin");
    memset(&co, 0, sizeof(co));
    assert_int_equal(auth_request_env(&co, fixture_getenv, off, &err), 0);
    assert_true(co.no_correlation_id);
    r = fixture_cloud_run(&w, &cfg, &(struct fixture_steps){2, 0, NULL, &co});
    expect_ok(&r, "no correlation id");
    assert_string_not_equal(r.correlation, "");
    assert_string_not_equal(r.correlation, "run-2026-11-22-signin"); /* armlocal's own id */
    fixture_cloud_stop(&w);

    memset(&co, 0, sizeof(co));
    assert_int_equal(auth_request_env(&co, fixture_getenv, bad, &err), AMLSEC_EUSAGE);
    assert_non_null(strstr(err.msg, "ARM_PARTNER_ID='acme' is not a GUID"));

    /* the partner id rides in User-Agent */
    {
        struct fake_transport *fake;
        struct arm_client *cl;
        struct arm_call c = {.method = "GET", .url = "/subscriptions/s", .api_version = "1"};
        char ua[128] = "";
        memset(&co, 0, sizeof(co));
        assert_int_equal(auth_request_env(&co, fixture_getenv, env, &err), 0);
        assert_int_equal(fake_transport_new(&fake, record_ua, ua, NULL), 0);
        co.cloud = arm_cloud_builtin("public");
        co.transport = fake_transport_base(fake);
        assert_int_equal(arm_client_new(&cl, &co, &err), 0);
        assert_int_equal(arm_client_call(cl, &c), 0);
        arm_call_release(&c);
        assert_string_equal(ua,
                            "amlsec/" AMLSEC_VERSION " pid-a0b1c2d3-0000-4000-8000-00000000beef");
        arm_client_free(cl);
        transport_free(fake_transport_base(fake));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_armlocal_signin__client_secret_and_wrong_secret),
        cmocka_unit_test(test_armlocal_signin__certificates),
        cmocka_unit_test(test_armlocal_signin__workload_identity),
        cmocka_unit_test(test_armlocal_signin__managed_identity),
        cmocka_unit_test(test_armlocal_signin__short_lived_tokens_refreshed),
        cmocka_unit_test(test_armlocal_signin__auxiliary_tenants),
        cmocka_unit_test(test_armlocal_signin__request_variables),
    };
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
