/* Sign-in flows against a fake Entra ID (the scripted transport): request
 * construction, token parsing (numbers as strings too), caching and
 * refresh, fail-fast on refusals, client-certificate JWTs verified with the
 * certificate's public key (PS256 and RS256), OIDC, managed identity, the
 * Azure CLI (a stand-in `az` script), and the azurerm environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "providers/arm/auth.h"
#include "providers/arm/fake_transport.h"
#include "providers/arm/jwt.h"
#include "tests/unit/fixture_signin.h"
#include "util/error.h"

#define TENANT "72f988bf-0000-0000-0000-000000000001"
#define CLIENT "11111111-2222-3333-4444-555555555555"
#define WALL 1700000000
#define TOKEN_URL "https://login.microsoftonline.com/" TENANT "/oauth2/v2.0/token"

static char tmpdir[256];
static X509 *cert;
static EVP_PKEY *key;
static char pem_path[300], pfx_path[300];

/* --- a fake Entra ID ---------------------------------------------------- */

struct entra {
    const char *secret;    /* expected client secret */
    const char *oidc;      /* expected federated assertion */
    int verify_jwt;        /* check the client assertion's signature */
    const char *want_alg;  /* "PS256" / "RS256" */
    int expires_as_string; /* answer expires_in as a string */
    int jwt_checked;
    struct manual_clock *clock;
    unsigned issued;
    unsigned imds_not_ready; /* IMDS answers 404 "Identity not found" this many times */
    int unreachable;         /* the token endpoint cannot be reached (DNS fails) */
    char last_form[4096];
};

static int form_get(const char *form, const char *name, char *dst, size_t size)
{
    size_t nl = strlen(name);
    const char *p = form;
    while (p && *p) {
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1;
            size_t o = 0;
            while (*v && *v != '&' && o + 1 < size) {
                if (*v == '%' && v[1] && v[2]) {
                    char hex[3] = {v[1], v[2], 0};
                    dst[o++] = (char)strtol(hex, NULL, 16);
                    v += 3;
                } else {
                    dst[o++] = *v++;
                }
            }
            dst[o] = '\0';
            return 1;
        }
        p = strchr(p, '&');
        if (p)
            p++;
    }
    return 0;
}

static json_t *b64json(const char *s, size_t n)
{
    struct buf b;
    json_t *j;
    buf_init(&b, 0);
    if (base64_decode(&b, s, n) < 0) {
        buf_release(&b);
        return NULL;
    }
    j = json_loadb(b.ptr, b.len, 0, NULL);
    buf_release(&b);
    return j;
}

static char *thumb(const EVP_MD *md)
{
    unsigned char *der = NULL, d[EVP_MAX_MD_SIZE];
    unsigned dl;
    int n = i2d_X509(cert, &der);
    struct buf b;
    EVP_Digest(der, (size_t)n, d, &dl, md, NULL);
    OPENSSL_free(der);
    buf_init(&b, 0);
    base64url_encode(&b, d, dl);
    return buf_detach(&b, NULL);
}

/* Verifies a client assertion as Entra ID would, with the certificate's
 * public key. Returns 1 when valid. */
static int verify_assertion(const char *jwt, const char *alg_want, const char *aud, int64_t now)
{
    const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    json_t *hdr = NULL, *claims = NULL;
    struct buf sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = 0;
    char *t = NULL;

    buf_init(&sig, 0);
    if (!d1 || !d2)
        goto out;
    hdr = b64json(jwt, (size_t)(d1 - jwt));
    claims = b64json(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!hdr || !claims)
        goto out;
    if (strcmp(json_string_value(json_object_get(hdr, "alg")), alg_want) != 0)
        goto out;
    if (strcmp(json_string_value(json_object_get(hdr, "typ")), "JWT") != 0)
        goto out;
    if (strcmp(alg_want, "PS256") == 0) {
        t = thumb(EVP_sha256());
        if (!json_is_string(json_object_get(hdr, "x5t#S256")) ||
            strcmp(json_string_value(json_object_get(hdr, "x5t#S256")), t) != 0)
            goto out;
    } else {
        t = thumb(EVP_sha1());
        if (!json_is_string(json_object_get(hdr, "x5t")) ||
            strcmp(json_string_value(json_object_get(hdr, "x5t")), t) != 0)
            goto out;
    }
    if (strcmp(json_string_value(json_object_get(claims, "aud")), aud) != 0 ||
        strcmp(json_string_value(json_object_get(claims, "iss")), CLIENT) != 0 ||
        strcmp(json_string_value(json_object_get(claims, "sub")), CLIENT) != 0 ||
        strlen(json_string_value(json_object_get(claims, "jti"))) != 36)
        goto out;
    if (json_integer_value(json_object_get(claims, "nbf")) > now ||
        json_integer_value(json_object_get(claims, "exp")) <= now ||
        json_integer_value(json_object_get(claims, "exp")) -
                json_integer_value(json_object_get(claims, "nbf")) >
            600)
        goto out;
    if (base64_decode(&sig, d2 + 1, strlen(d2 + 1)) < 0)
        goto out;
    if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, X509_get0_pubkey(cert)) != 1)
        goto out;
    if (strcmp(alg_want, "PS256") == 0) {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    } else {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING);
    }
    ok = EVP_DigestVerify(md, (const unsigned char *)sig.ptr, sig.len, (const unsigned char *)jwt,
                          (size_t)(d2 - jwt)) == 1;
out:
    free(t);
    buf_release(&sig);
    EVP_MD_CTX_free(md);
    json_decref(hdr);
    json_decref(claims);
    return ok;
}

static int64_t entra_handler(struct http_exchange *x, void *payload)
{
    if (strstr(x->url, "/metadata/endpoints?api-version=2022-09-01")) {
        fake_respond(x, 200,
                     "[{\"name\":\"AzureCloud\",\"resourceManager\":\"https://"
                     "management.azure.com/\",\"authentication\":{\"loginEndpoint\":\"https://"
                     "login.microsoftonline.com/\",\"audiences\":[\"https://"
                     "management.core.windows.net/\",\"https://management.azure.com/\"]}},"
                     "{\"name\":\"Stack\",\"resourceManager\":\"https://rm.stack.example/\","
                     "\"authentication\":{\"loginEndpoint\":\"https://adfs.stack.example/adfs\","
                     "\"audiences\":[\"https://rm.stack.example/\"]}}]");
        return 1;
    }
    struct entra *en = payload;
    char v[4096], scope[256], body[1024];
    const char *auth;

    if (en->unreachable) {
        fake_respond_fail(x, HTTP_FAIL_CONNECT,
                          "Could not resolve host: login.microsoftonline.com");
        return 1;
    }

    if (strstr(x->url, "token.actions.example")) {
        auth = http_exchange_req_header(x, "Authorization");
        if (!auth || strcmp(auth, "Bearer gh-request-token-123") != 0 ||
            !strstr(x->url, "audience=api%3A%2F%2FAzureADTokenExchange")) {
            fake_respond(x, 401, "{\"message\":\"bad request token\"}");
            return 1;
        }
        fake_respond(x, 200, "{\"count\":1,\"value\":\"gh-federated-jwt-xyz\"}");
        return 1;
    }
    if (strstr(x->url, "/metadata/identity/oauth2/token") || strstr(x->url, "/msi/token")) {
        const char *meta = http_exchange_req_header(x, "Metadata");
        const char *ih = http_exchange_req_header(x, "X-IDENTITY-HEADER");
        if (!(meta && strcmp(meta, "true") == 0) && !(ih && strcmp(ih, "app-svc-secret") == 0)) {
            fake_respond(x, 400,
                         "{\"error\":\"invalid_request\",\"error_description\":\"no "
                         "Metadata header\"}");
            return 1;
        }
        if (en->imds_not_ready && meta) {
            en->imds_not_ready--;
            fake_respond(x, 404,
                         "{\"error\":\"not_found\",\"error_description\":\"Identity "
                         "not found\"}");
            return 1;
        }
        snprintf(body, sizeof(body),
                 "{\"access_token\":\"msi-token-%u\",\"expires_in\":\"3599\",\"expires_on\":"
                 "\"%d\",\"resource\":\"x\",\"token_type\":\"Bearer\"}",
                 ++en->issued, WALL + 3599);
        fake_respond(x, 200, body);
        return 1;
    }
    if (strcmp(x->url, TOKEN_URL) != 0 || strcmp(x->method, "POST") != 0) {
        fake_respond(x, 404, "{\"error\":\"not_found\"}");
        return 1;
    }
    snprintf(en->last_form, sizeof(en->last_form), "%s", x->body ? x->body : "");
    if (!form_get(x->body, "grant_type", v, sizeof(v)) || strcmp(v, "client_credentials") != 0 ||
        !form_get(x->body, "client_id", v, sizeof(v)) || strcmp(v, CLIENT) != 0 ||
        !form_get(x->body, "scope", scope, sizeof(scope))) {
        fake_respond(
            x, 400,
            "{\"error\":\"invalid_request\",\"error_description\":\"AADSTS900144: missing\"}");
        return 1;
    }
    if (form_get(x->body, "client_secret", v, sizeof(v))) {
        if (!en->secret || strcmp(v, en->secret) != 0) {
            fake_respond(x, 401,
                         "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: "
                         "Invalid client secret provided. Ensure the secret being sent in the "
                         "request is the client secret value.\\r\\nTrace ID: 0\",\"error_codes\":"
                         "[7000215]}");
            return 1;
        }
    } else if (form_get(x->body, "client_assertion", v, sizeof(v))) {
        char t[128];
        if (!form_get(x->body, "client_assertion_type", t, sizeof(t)) ||
            strcmp(t, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") != 0) {
            fake_respond(x, 400, "{\"error\":\"invalid_request\"}");
            return 1;
        }
        if (en->verify_jwt) {
            if (!verify_assertion(v, en->want_alg, TOKEN_URL, arm_clock_wall(&en->clock->clock))) {
                fake_respond(x, 401,
                             "{\"error\":\"invalid_client\",\"error_description\":"
                             "\"AADSTS700027: Client assertion failed signature "
                             "validation\"}");
                return 1;
            }
            en->jwt_checked++;
        } else if (!en->oidc || strcmp(v, en->oidc) != 0) {
            fake_respond(x, 401,
                         "{\"error\":\"invalid_client\",\"error_description\":"
                         "\"AADSTS700213: No matching federated identity record\"}");
            return 1;
        }
    } else {
        fake_respond(x, 401, "{\"error\":\"invalid_client\"}");
        return 1;
    }
    en->issued++;
    if (en->expires_as_string)
        snprintf(body, sizeof(body),
                 "{\"token_type\":\"Bearer\",\"expires_in\":\"3599\",\"ext_expires_in\":\"3599\","
                 "\"access_token\":\"at-%u-%s\"}",
                 en->issued, strstr(scope, "vault") ? "kv" : "arm");
    else
        snprintf(body, sizeof(body),
                 "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"at-%u-%s\"}",
                 en->issued, strstr(scope, "vault") ? "kv" : "arm");
    fake_respond(x, 200, body);
    return 1;
}

/* Checks the JWT in the last form strictly (signature, claims at `now`). */
static int last_assertion_valid(struct entra *en, const char *alg, int64_t now)
{
    char v[4096];
    if (!form_get(en->last_form, "client_assertion", v, sizeof(v)))
        return 0;
    return verify_assertion(v, alg, TOKEN_URL, now);
}

/* --- fixtures ----------------------------------------------------------- */

static int make_cert(void)
{
    key = fixture_key(0);
    cert = key ? fixture_cert(key, "amlsec-test") : NULL;
    if (cert == NULL)
        return -1;
    snprintf(pem_path, sizeof(pem_path), "%s/client.pem", tmpdir);
    snprintf(pfx_path, sizeof(pfx_path), "%s/client.pfx", tmpdir);
    if (fixture_cert_write_pem(pem_path, cert, key) < 0 ||
        fixture_cert_write_pfx(pfx_path, cert, key, "pfx-pass-CANARY") < 0)
        return -1;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/amlsec-auth-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    return make_cert();
}

static int teardown(void **state)
{
    char cmd[400];
    (void)state;
    X509_free(cert);
    EVP_PKEY_free(key);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

struct env {
    struct manual_clock clock;
    struct entra entra;
    struct fake_transport *fake;
    struct auth *auth;
};

static void env_init(struct env *e)
{
    memset(e, 0, sizeof(*e));
    manual_clock_init(&e->clock, WALL);
    e->entra.clock = &e->clock;
    assert_int_equal(fake_transport_new(&e->fake, entra_handler, &e->entra, &e->clock), 0);
}

static int env_auth(struct env *e, const struct auth_config *cfg, struct errbuf *err)
{
    return auth_new(&e->auth, cfg, arm_cloud_builtin("public"), fake_transport_base(e->fake),
                    &e->clock.clock, err);
}

static void env_free(struct env *e)
{
    auth_free(e->auth);
    transport_free(fake_transport_base(e->fake));
}

static void base_cfg(struct auth_config *cfg, enum auth_method m)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->method = m;
    cfg->tenant_id = TENANT;
    cfg->client_id = CLIENT;
}

#define ARM_SCOPE "https://management.azure.com/.default"
#define KV_SCOPE "https://vault.azure.net/.default"

/* --- tests -------------------------------------------------------------- */

static void test_arm_auth__client_secret_request_cache_refresh(void **state)
{
    struct env e;
    struct auth_config cfg;
    struct errbuf err = ERRBUF_INIT;
    const char *tok;
    char v[256];
    (void)state;
    env_init(&e);
    base_cfg(&cfg, AUTH_CLIENT_SECRET);
    cfg.client_secret = "s3cret+with/odd=chars";
    e.entra.secret = cfg.client_secret;
    e.entra.expires_as_string = 1;
    assert_int_equal(env_auth(&e, &cfg, &err), 0);

    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), 0);
    assert_string_equal(tok, "at-1-arm");
    assert_int_equal(fake_transport_count(e.fake), 1);
    assert_string_equal(fake_transport_request(e.fake, 0)->url, TOKEN_URL);
    assert_non_null(strstr(fake_transport_request(e.fake, 0)->headers,
                           "Content-Type: application/x-www-form-urlencoded"));
    assert_true(form_get(e.entra.last_form, "scope", v, sizeof(v)));
    assert_string_equal(v, ARM_SCOPE);
    assert_true(form_get(e.entra.last_form, "client_secret", v, sizeof(v)));
    assert_string_equal(v, "s3cret+with/odd=chars"); /* form-encoded on the wire */
    assert_null(strstr(e.entra.last_form, "s3cret+with"));

    /* cached */
    manual_clock_advance(&e.clock, 3000 * 1000);
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), 0);
    assert_string_equal(tok, "at-1-arm");
    assert_int_equal(auth_request_count(e.auth), 1);
    /* Key Vault has its own scope and token */
    assert_int_equal(auth_token(e.auth, KV_SCOPE, &tok, &err), 0);
    assert_string_equal(tok, "at-2-kv");
    /* within 5 minutes of expiry: refreshed */
    manual_clock_advance(&e.clock, 400 * 1000); /* t = 3400 s of 3599 */
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), 0);
    assert_string_equal(tok, "at-3-arm");
    assert_int_equal(auth_request_count(e.auth), 3);
    env_free(&e);
}

static void test_arm_auth__wrong_secret_fails_fast(void **state)
{
    struct env e;
    struct auth_config cfg;
    struct errbuf err = ERRBUF_INIT;
    const char *tok;
    (void)state;
    env_init(&e);
    base_cfg(&cfg, AUTH_CLIENT_SECRET);
    cfg.client_secret = "wrong-secret-value";
    e.entra.secret = "right-secret-value";
    assert_int_equal(env_auth(&e, &cfg, &err), 0);
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), AMLSEC_EHTTP);
    assert_non_null(strstr(err.msg, "AADSTS7000215"));
    assert_non_null(strstr(err.msg, "invalid_client"));
    assert_non_null(strstr(err.msg, "HTTP 401"));
    assert_int_equal(fake_transport_count(e.fake), 1);
    assert_int_equal(e.clock.slept_ms, 0);
    /* and it does not ask again */
    errbuf_clear(&err);
    assert_int_equal(auth_token(e.auth, KV_SCOPE, &tok, &err), AMLSEC_EHTTP);
    assert_non_null(strstr(err.msg, "AADSTS7000215"));
    assert_int_equal(fake_transport_count(e.fake), 1);
    env_free(&e);
}

/* A sign-in endpoint that cannot be reached: the message ends with the
 * transport's reason, nothing after it (it once ended "...microsoftonline.com0"). */
static void test_arm_auth__unreachable_message_ends_cleanly(void **state)
{
    struct env e;
    struct auth_config cfg;
    struct errbuf err = ERRBUF_INIT;
    const char *tok;
    size_t n;
    (void)state;
    env_init(&e);
    base_cfg(&cfg, AUTH_CLIENT_SECRET);
    cfg.client_secret = "secret-value";
    e.entra.unreachable = 1;
    assert_int_equal(env_auth(&e, &cfg, &err), 0);
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), AMLSEC_EHTTP);
    assert_non_null(strstr(err.msg, "client secret sign-in failed after 3 attempts"));
    n = strlen(err.msg);
    assert_true(n > 25);
    assert_string_equal(err.msg + n - 25, "login.microsoftonline.com");
    env_free(&e);
}

/* A refusal for one scope does not take away a token still valid for
 * another; nothing is asked for again. */
static void test_arm_auth__refusal_keeps_valid_tokens(void **state)
{
    struct env e;
    struct auth_config cfg;
    struct errbuf err = ERRBUF_INIT;
    const char *tok;
    (void)state;
    env_init(&e);
    base_cfg(&cfg, AUTH_CLIENT_SECRET);
    cfg.client_secret = "right-secret-value";
    e.entra.secret = cfg.client_secret;
    assert_int_equal(env_auth(&e, &cfg, &err), 0);
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), 0);
    e.entra.secret = "rotated-meanwhile";
    assert_int_equal(auth_token(e.auth, KV_SCOPE, &tok, &err), AMLSEC_EHTTP);
    assert_non_null(strstr(err.msg, "AADSTS7000215"));
    errbuf_clear(&err);
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), 0);
    assert_string_equal(tok, "at-1-arm");
    assert_int_equal(auth_token(e.auth, KV_SCOPE, &tok, &err), AMLSEC_EHTTP);
    assert_int_equal(fake_transport_count(e.fake), 2);
    env_free(&e);
}

static void cert_flow(const char *path, const char *password, enum jwt_alg alg,
                      const char *alg_name)
{
    struct env e;
    struct auth_config cfg;
    struct errbuf err = ERRBUF_INIT;
    const char *tok;
    env_init(&e);
    base_cfg(&cfg, AUTH_CLIENT_CERTIFICATE);
    cfg.certificate_path = (char *)path;
    cfg.certificate_password = (char *)password;
    cfg.certificate_alg = alg;
    e.entra.verify_jwt = 1;
    e.entra.want_alg = alg_name;
    assert_int_equal(env_auth(&e, &cfg, &err), 0);
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), 0);
    assert_string_equal(tok, "at-1-arm");
    assert_int_equal(e.entra.jwt_checked, 1);
    assert_true(last_assertion_valid(&e.entra, alg_name, WALL + 1));
    /* a tampered "now" outside nbf..exp is rejected by the verifier */
    assert_false(last_assertion_valid(&e.entra, alg_name, WALL + 3600));
    /* and the other algorithm's verification fails */
    assert_false(
        last_assertion_valid(&e.entra, strcmp(alg_name, "PS256") ? "PS256" : "RS256", WALL + 1));
    env_free(&e);
}

static void test_arm_auth__certificate_pem_ps256(void **state)
{
    (void)state;
    cert_flow(pem_path, NULL, JWT_PS256, "PS256");
}

static void test_arm_auth__certificate_pfx_rs256(void **state)
{
    (void)state;
    cert_flow(pfx_path, "pfx-pass-CANARY", JWT_RS256, "RS256");
}

static void test_arm_auth__certificate_wrong_password(void **state)
{
    struct env e;
    struct auth_config cfg;
    struct errbuf err = ERRBUF_INIT;
    (void)state;
    env_init(&e);
    base_cfg(&cfg, AUTH_CLIENT_CERTIFICATE);
    cfg.certificate_path = pfx_path;
    cfg.certificate_password = "nope";
    assert_true(env_auth(&e, &cfg, &err) < 0);
    assert_non_null(strstr(err.msg, "wrong password"));
    assert_non_null(strstr(err.msg, "client.pfx"));
    assert_null(e.auth);
    env_free(&e);
}

static void test_arm_auth__jwt_signatures_verify(void **state)
{
    struct jwt_signer *s;
    struct errbuf err = ERRBUF_INIT;
    char *jwt;
    (void)state;
    assert_int_equal(jwt_signer_load_file(&s, pem_path, NULL, &err), 0);
    assert_int_equal(jwt_client_assertion(&jwt, s, JWT_PS256, CLIENT, TOKEN_URL, WALL, &err), 0);
    assert_true(verify_assertion(jwt, "PS256", TOKEN_URL, WALL));
    jwt[strlen(jwt) - 3] ^= 1; /* flip a signature bit */
    assert_false(verify_assertion(jwt, "PS256", TOKEN_URL, WALL));
    free(jwt);
    assert_int_equal(jwt_client_assertion(&jwt, s, JWT_RS256, CLIENT, TOKEN_URL, WALL, &err), 0);
    assert_true(verify_assertion(jwt, "RS256", TOKEN_URL, WALL));
    assert_false(verify_assertion(jwt, "RS256", "https://other/", WALL));
    free(jwt);
    jwt_signer_free(s);
}

static void test_arm_auth__oidc_token_file_reread(void **state)
{
    struct env e;
    struct auth_config cfg;
    struct errbuf err = ERRBUF_INIT;
    const char *tok;
    char path[300];
    FILE *f;
    (void)state;
    snprintf(path, sizeof(path), "%s/federated-token", tmpdir);
    f = fopen(path, "w");
    fputs("federated-one\n", f);
    fclose(f);
    env_init(&e);
    base_cfg(&cfg, AUTH_OIDC);
    cfg.oidc_token_file = path;
    e.entra.oidc = "federated-one";
    assert_int_equal(env_auth(&e, &cfg, &err), 0);
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), 0);
    assert_string_equal(tok, "at-1-arm");
    /* Kubernetes rotates the file; the next sign-in reads it again */
    f = fopen(path, "w");
    fputs("federated-two", f);
    fclose(f);
    e.entra.oidc = "federated-two";
    manual_clock_advance(&e.clock, 3500 * 1000);
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), 0);
    assert_string_equal(tok, "at-2-arm");
    env_free(&e);
}

static void test_arm_auth__oidc_github_actions(void **state)
{
    struct env e;
    struct auth_config cfg;
    struct errbuf err = ERRBUF_INIT;
    const char *tok;
    (void)state;
    env_init(&e);
    base_cfg(&cfg, AUTH_OIDC);
    cfg.oidc_request_url = "https://token.actions.example/idtoken?api-version=2.0";
    cfg.oidc_request_token = "gh-request-token-123";
    e.entra.oidc = "gh-federated-jwt-xyz";
    assert_int_equal(env_auth(&e, &cfg, &err), 0);
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), 0);
    assert_string_equal(tok, "at-1-arm");
    assert_int_equal(fake_transport_count(e.fake), 2);
    assert_string_equal(fake_transport_request(e.fake, 0)->url,
                        "https://token.actions.example/idtoken?api-version=2.0&audience=api%3A%"
                        "2F%2FAzureADTokenExchange");
    env_free(&e);
}

static void test_arm_auth__managed_identity_imds_and_app_service(void **state)
{
    struct env e;
    struct auth_config cfg;
    struct errbuf err = ERRBUF_INIT;
    const char *tok;
    (void)state;
    env_init(&e);
    base_cfg(&cfg, AUTH_MSI);
    cfg.tenant_id = NULL;
    assert_int_equal(env_auth(&e, &cfg, &err), 0);
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), 0);
    assert_string_equal(tok, "msi-token-1");
    assert_string_equal(
        fake_transport_request(e.fake, 0)->url,
        "http://169.254.169.254/metadata/identity/oauth2/token?api-version="
        "2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F&client_id=" CLIENT);
    assert_non_null(strstr(fake_transport_request(e.fake, 0)->headers, "Metadata: true\n"));
    assert_string_equal(fake_transport_request(e.fake, 0)->method, "GET");
    auth_free(e.auth);
    e.auth = NULL;

    /* App Service */
    cfg.client_id = NULL;
    cfg.msi_endpoint = "http://127.0.0.1:41234/msi/token";
    cfg.msi_secret = "app-svc-secret";
    assert_int_equal(env_auth(&e, &cfg, &err), 0);
    assert_int_equal(auth_token(e.auth, KV_SCOPE, &tok, &err), 0);
    assert_string_equal(tok, "msi-token-2");
    assert_string_equal(fake_transport_request(e.fake, 1)->url,
                        "http://127.0.0.1:41234/msi/token?api-version=2019-08-01&resource="
                        "https%3A%2F%2Fvault.azure.net%2F");
    assert_non_null(
        strstr(fake_transport_request(e.fake, 1)->headers, "X-IDENTITY-HEADER: app-svc-secret"));
    env_free(&e);
}

/* IMDS answers 404 while a new VM's identity is being assigned: retried
 * with back-off (about 70 s at most), not taken as a refusal. */
static void test_arm_auth__managed_identity_not_ready_yet(void **state)
{
    struct env e;
    struct auth_config cfg;
    struct errbuf err = ERRBUF_INIT;
    const char *tok;
    (void)state;
    env_init(&e);
    base_cfg(&cfg, AUTH_MSI);
    cfg.tenant_id = NULL;
    e.entra.imds_not_ready = 3;
    assert_int_equal(env_auth(&e, &cfg, &err), 0);
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), 0);
    assert_string_equal(tok, "msi-token-1");
    assert_int_equal(fake_transport_count(e.fake), 4);
    assert_true(e.clock.slept_ms > 0);
    auth_free(e.auth);
    e.auth = NULL;
    /* an identity that never appears: a clear failure after the attempts */
    e.entra.imds_not_ready = 100;
    assert_int_equal(env_auth(&e, &cfg, &err), 0);
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), AMLSEC_EHTTP);
    assert_non_null(strstr(err.msg, "managed identity sign-in failed after 7 attempts"));
    assert_non_null(strstr(err.msg, "Identity not found"));
    env_free(&e);
}

static void write_script(const char *path, const char *body)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
    chmod(path, 0755);
}

static void test_arm_auth__azure_cli(void **state)
{
    struct env e;
    struct auth_config cfg;
    struct errbuf err = ERRBUF_INIT;
    const char *tok;
    char az[300], args[300], script[1200], got[512] = "";
    FILE *f;
    (void)state;
    snprintf(az, sizeof(az), "%s/az", tmpdir);
    snprintf(args, sizeof(args), "%s/az.args", tmpdir);
    snprintf(script, sizeof(script),
             "#!/bin/sh\necho \"$@\" > '%s'\n"
             "echo '{\"accessToken\": \"cli-token-abc\", \"expiresOn\": \"2030-01-01 "
             "00:00:00.000000\", \"expires_on\": %d, \"tokenType\": \"Bearer\"}'\n",
             args, WALL + 3000);
    write_script(az, script);
    env_init(&e);
    base_cfg(&cfg, AUTH_CLI);
    cfg.az_command = az;
    assert_int_equal(env_auth(&e, &cfg, &err), 0);
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), 0);
    assert_string_equal(tok, "cli-token-abc");
    f = fopen(args, "r");
    assert_non_null(f);
    assert_non_null(fgets(got, sizeof(got), f));
    fclose(f);
    assert_string_equal(got, "account get-access-token --resource https://management.azure.com/ "
                             "--output json --tenant " TENANT "\n");
    /* cached until 5 minutes before expires_on */
    manual_clock_advance(&e.clock, 2600 * 1000);
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), 0);
    assert_int_equal(auth_request_count(e.auth), 1);
    manual_clock_advance(&e.clock, 200 * 1000);
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), 0);
    assert_int_equal(auth_request_count(e.auth), 2);
    auth_free(e.auth);
    e.auth = NULL;

    /* not signed in */
    write_script(az, "#!/bin/sh\necho \"ERROR: Please run 'az login' to setup account.\" >&2\n"
                     "exit 1\n");
    assert_int_equal(env_auth(&e, &cfg, &err), 0);
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), AMLSEC_EHTTP);
    assert_non_null(strstr(err.msg, "Please run 'az login'"));
    auth_free(e.auth);
    e.auth = NULL;

    /* not installed */
    snprintf(az, sizeof(az), "%s/no-such-az", tmpdir);
    assert_int_equal(env_auth(&e, &cfg, &err), 0);
    assert_int_equal(auth_token(e.auth, ARM_SCOPE, &tok, &err), AMLSEC_EUSAGE);
    assert_non_null(strstr(err.msg, "not installed"));
    env_free(&e);
}

/* --- environment -------------------------------------------------------- */

static void test_arm_auth__environment_like_azurerm(void **state)
{
    struct auth_config cfg;
    struct errbuf err = ERRBUF_INIT;
    char secret_file[300];
    FILE *f;
    (void)state;
    {
        struct fixture_kv env[] = {{"ARM_CLIENT_ID", CLIENT},      {"ARM_TENANT_ID", TENANT},
                                   {"ARM_CLIENT_SECRET", "sec1"},  {"ARM_USE_MSI", "true"},
                                   {"ARM_SUBSCRIPTION_ID", "sub"}, {NULL, NULL}};
        assert_int_equal(auth_config_from_env(&cfg, fixture_getenv, env, &err), 0);
        assert_int_equal(cfg.method, AUTH_CLIENT_SECRET); /* secret wins over MSI */
        assert_string_equal(cfg.subscription_id, "sub");
        auth_config_release(&cfg);
    }
    {
        struct fixture_kv env[] = {{"ARM_CLIENT_ID", CLIENT},
                                   {"ARM_TENANT_ID", TENANT},
                                   {"ARM_CLIENT_SECRET", "sec1"},
                                   {"ARM_CLIENT_CERTIFICATE_PATH", "/x.pfx"},
                                   {"ARM_CLIENT_CERTIFICATE_PASSWORD", "pw"},
                                   {"AMLSEC_CLIENT_CERTIFICATE_ALG", "RS256"},
                                   {NULL, NULL}};
        assert_int_equal(auth_config_from_env(&cfg, fixture_getenv, env, &err), 0);
        assert_int_equal(cfg.method, AUTH_CLIENT_CERTIFICATE);
        assert_int_equal(cfg.certificate_alg, JWT_RS256);
        auth_config_release(&cfg);
    }
    {
        /* AKS workload identity injects AZURE_* */
        struct fixture_kv env[] = {{"ARM_USE_OIDC", "true"},
                                   {"AZURE_CLIENT_ID", CLIENT},
                                   {"AZURE_TENANT_ID", TENANT},
                                   {"AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/token"},
                                   {NULL, NULL}};
        assert_int_equal(auth_config_from_env(&cfg, fixture_getenv, env, &err), 0);
        assert_int_equal(cfg.method, AUTH_OIDC);
        assert_string_equal(cfg.oidc_token_file, "/var/run/secrets/token");
        assert_string_equal(cfg.client_id, CLIENT);
        auth_config_release(&cfg);
    }
    {
        struct fixture_kv env[] = {{"ARM_USE_OIDC", "1"},
                                   {"ARM_CLIENT_ID", CLIENT},
                                   {"ARM_TENANT_ID", TENANT},
                                   {"ACTIONS_ID_TOKEN_REQUEST_URL", "https://gh/x"},
                                   {"ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ghtok-123456"},
                                   {NULL, NULL}};
        assert_int_equal(auth_config_from_env(&cfg, fixture_getenv, env, &err), 0);
        assert_string_equal(cfg.oidc_request_url, "https://gh/x");
        auth_config_release(&cfg);
    }
    {
        struct fixture_kv env[] = {
            {"ARM_USE_MSI", "true"}, {"ARM_MSI_ENDPOINT", "http://127.0.0.1:5/t"}, {NULL, NULL}};
        assert_int_equal(auth_config_from_env(&cfg, fixture_getenv, env, &err), 0);
        assert_int_equal(cfg.method, AUTH_MSI);
        assert_string_equal(cfg.msi_endpoint, "http://127.0.0.1:5/t");
        auth_config_release(&cfg);
    }
    {
        struct fixture_kv env[] = {{NULL, NULL}};
        assert_int_equal(auth_config_from_env(&cfg, fixture_getenv, env, &err), 0);
        assert_int_equal(cfg.method, AUTH_CLI); /* ARM_USE_CLI defaults to true */
        auth_config_release(&cfg);
    }
    {
        struct fixture_kv env[] = {{"ARM_USE_CLI", "false"}, {NULL, NULL}};
        assert_true(auth_config_from_env(&cfg, fixture_getenv, env, &err) < 0);
        assert_non_null(strstr(err.msg, "no sign-in method"));
    }
    {
        struct fixture_kv env[] = {
            {"ARM_CLIENT_ID", CLIENT}, {"ARM_CLIENT_SECRET", "x"}, {NULL, NULL}};
        assert_int_equal(auth_config_from_env(&cfg, fixture_getenv, env, &err), AMLSEC_EUSAGE);
        assert_non_null(strstr(err.msg, "ARM_TENANT_ID"));
    }
    {
        struct fixture_kv env[] = {{"ARM_USE_MSI", "maybe"}, {NULL, NULL}};
        assert_int_equal(auth_config_from_env(&cfg, fixture_getenv, env, &err), AMLSEC_EUSAGE);
        assert_non_null(strstr(err.msg, "ARM_USE_MSI='maybe'"));
    }
    {
        struct fixture_kv env[] = {{"ARM_USE_OIDC", "true"},
                                   {"ARM_CLIENT_ID", CLIENT},
                                   {"ARM_TENANT_ID", TENANT},
                                   {NULL, NULL}};
        assert_int_equal(auth_config_from_env(&cfg, fixture_getenv, env, &err), AMLSEC_EUSAGE);
        assert_non_null(strstr(err.msg, "ARM_OIDC_TOKEN"));
    }
    snprintf(secret_file, sizeof(secret_file), "%s/secret", tmpdir);
    f = fopen(secret_file, "w");
    fputs("from-a-file\n", f);
    fclose(f);
    {
        struct fixture_kv env[] = {{"ARM_CLIENT_ID", CLIENT},
                                   {"ARM_TENANT_ID", TENANT},
                                   {"ARM_CLIENT_SECRET_FILE_PATH", secret_file},
                                   {NULL, NULL}};
        assert_int_equal(auth_config_from_env(&cfg, fixture_getenv, env, &err), 0);
        assert_int_equal(cfg.method, AUTH_CLIENT_SECRET);
        assert_string_equal(cfg.client_secret, "from-a-file");
        auth_config_release(&cfg);
    }
}

/* Azure DevOps OIDC and auxiliary tenants, read like azurerm. */
static void test_arm_auth__environment_ado_and_auxiliary(void **state)
{
    struct auth_config cfg;
    struct errbuf err = ERRBUF_INIT;
    (void)state;
    {
        /* the service connection picks SYSTEM_OIDCREQUESTURI/SYSTEM_ACCESSTOKEN */
        struct fixture_kv env[] = {{"ARM_USE_OIDC", "true"},
                                   {"ARM_CLIENT_ID", CLIENT},
                                   {"ARM_TENANT_ID", TENANT},
                                   {"ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID", "sc-1"},
                                   {"SYSTEM_OIDCREQUESTURI", "https://dev.azure.com/org/oidc"},
                                   {"SYSTEM_ACCESSTOKEN", "ado-system-token"},
                                   {"ACTIONS_ID_TOKEN_REQUEST_URL", "https://gh.example/no"},
                                   {"ARM_AUXILIARY_TENANT_IDS", " t-aux-1;t-aux-2;"},
                                   {NULL, NULL}};
        assert_int_equal(auth_config_from_env(&cfg, fixture_getenv, env, &err), 0);
        assert_int_equal(cfg.method, AUTH_OIDC);
        assert_string_equal(cfg.ado_service_connection_id, "sc-1");
        assert_string_equal(cfg.oidc_request_url, "https://dev.azure.com/org/oidc");
        assert_string_equal(cfg.oidc_request_token, "ado-system-token");
        assert_int_equal(cfg.n_aux_tenants, 2);
        assert_string_equal(cfg.aux_tenants[0], "t-aux-1");
        assert_string_equal(cfg.aux_tenants[1], "t-aux-2");
        auth_config_release(&cfg);
    }
    {
        struct fixture_kv env[] = {{"ARM_CLIENT_ID", CLIENT},
                                   {"ARM_TENANT_ID", TENANT},
                                   {"ARM_CLIENT_SECRET", "x"},
                                   {"ARM_AUXILIARY_TENANT_IDS", "a;b;c;d"},
                                   {NULL, NULL}};
        assert_int_equal(auth_config_from_env(&cfg, fixture_getenv, env, &err), AMLSEC_EUSAGE);
        assert_non_null(strstr(err.msg, "more than 3 tenants"));
    }
    {
        struct fixture_kv env[] = {
            {"ARM_USE_MSI", "true"}, {"ARM_AUXILIARY_TENANT_IDS", "a"}, {NULL, NULL}};
        assert_int_equal(auth_config_from_env(&cfg, fixture_getenv, env, &err), AMLSEC_EUSAGE);
        assert_non_null(strstr(err.msg, "ARM_AUXILIARY_TENANT_IDS needs a service principal"));
    }
    {
        struct fixture_kv env[] = {{"ARM_USE_OIDC", "true"},
                                   {"ARM_CLIENT_ID", CLIENT},
                                   {"ARM_TENANT_ID", TENANT},
                                   {"ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID", "sc-1"},
                                   {NULL, NULL}};
        assert_int_equal(auth_config_from_env(&cfg, fixture_getenv, env, &err), AMLSEC_EUSAGE);
        assert_non_null(strstr(err.msg, "SYSTEM_OIDCREQUESTURI and SYSTEM_ACCESSTOKEN"));
    }
}

static void test_arm_auth__metadata_hostname(void **state)
{
    struct env e;
    struct errbuf err = ERRBUF_INIT;
    const struct arm_cloud *sel;
    struct arm_cloud *owned;
    (void)state;
    env_init(&e);
    assert_int_equal(arm_cloud_resolve(&sel, &owned, "Stack", "stack.example",
                                       fake_transport_base(e.fake), &err),
                     0);
    assert_string_equal(fake_transport_request(e.fake, 0)->url,
                        "https://stack.example/metadata/endpoints?api-version=2022-09-01");
    assert_string_equal(sel->resource_manager, "https://rm.stack.example");
    assert_string_equal(sel->login, "https://adfs.stack.example/adfs");
    assert_string_equal(sel->arm_scope, "https://rm.stack.example/.default");
    arm_cloud_free(owned);
    assert_int_equal(
        arm_cloud_resolve(&sel, &owned, NULL, "stack.example", fake_transport_base(e.fake), &err),
        0);
    assert_string_equal(sel->arm_scope, "https://management.azure.com/.default");
    arm_cloud_free(owned);
    env_free(&e);
}

static void test_arm_auth__clouds(void **state)
{
    struct arm_cloud *c;
    struct errbuf err = ERRBUF_INIT;
    const char *meta =
        "[{\"name\":\"AzureStack\",\"resourceManager\":\"https://management.local.azurestack."
        "external/\",\"authentication\":{\"loginEndpoint\":\"https://login.microsoftonline.com/"
        "\",\"audiences\":[\"https://management.adfs.azurestack.local/x\",\"https://"
        "management.local.azurestack.external/\"]},\"suffixes\":{\"keyVaultDns\":\"vault.local."
        "azurestack.external\",\"storage\":\"local.azurestack.external\"}}]";
    (void)state;
    assert_string_equal(arm_cloud_builtin(NULL)->resource_manager, "https://management.azure.com");
    assert_string_equal(arm_cloud_builtin("usgovernment")->login,
                        "https://login.microsoftonline.us");
    assert_string_equal(arm_cloud_builtin("AzureChinaCloud")->arm_scope,
                        "https://management.chinacloudapi.cn/.default");
    assert_string_equal(arm_cloud_builtin("china")->keyvault_scope,
                        "https://vault.azure.cn/.default");
    assert_null(arm_cloud_builtin("mars"));
    assert_int_equal(arm_cloud_from_metadata(&c, meta, strlen(meta), NULL, &err), 0);
    assert_string_equal(c->resource_manager, "https://management.local.azurestack.external");
    assert_string_equal(c->login, "https://login.microsoftonline.com");
    assert_string_equal(c->arm_scope, "https://management.local.azurestack.external/.default");
    assert_string_equal(c->keyvault_scope, "https://vault.local.azurestack.external/.default");
    assert_string_equal(c->storage_suffix, "local.azurestack.external");
    arm_cloud_free(c);
    assert_true(arm_cloud_from_metadata(&c, "[]", 2, NULL, &err) < 0);
    {
        const struct arm_cloud *sel;
        struct arm_cloud *owned;
        assert_int_equal(arm_cloud_resolve(&sel, &owned, "usgovernment", NULL, NULL, &err), 0);
        assert_string_equal(sel->name, "usgovernment");
        assert_null(owned);
        assert_int_equal(arm_cloud_resolve(&sel, &owned, NULL, NULL, NULL, &err), 0);
        assert_string_equal(sel->name, "public");
        assert_int_equal(arm_cloud_resolve(&sel, &owned, "moon", NULL, NULL, &err), AMLSEC_EUSAGE);
        assert_non_null(strstr(err.msg, "ARM_ENVIRONMENT 'moon'"));
    }
    assert_true(arm_cloud_from_metadata(&c, "{", 1, NULL, &err) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arm_auth__client_secret_request_cache_refresh),
        cmocka_unit_test(test_arm_auth__wrong_secret_fails_fast),
        cmocka_unit_test(test_arm_auth__unreachable_message_ends_cleanly),
        cmocka_unit_test(test_arm_auth__refusal_keeps_valid_tokens),
        cmocka_unit_test(test_arm_auth__certificate_pem_ps256),
        cmocka_unit_test(test_arm_auth__certificate_pfx_rs256),
        cmocka_unit_test(test_arm_auth__certificate_wrong_password),
        cmocka_unit_test(test_arm_auth__jwt_signatures_verify),
        cmocka_unit_test(test_arm_auth__oidc_token_file_reread),
        cmocka_unit_test(test_arm_auth__oidc_github_actions),
        cmocka_unit_test(test_arm_auth__managed_identity_imds_and_app_service),
        cmocka_unit_test(test_arm_auth__managed_identity_not_ready_yet),
        cmocka_unit_test(test_arm_auth__azure_cli),
        cmocka_unit_test(test_arm_auth__environment_like_azurerm),
        cmocka_unit_test(test_arm_auth__environment_ado_and_auxiliary),
        cmocka_unit_test(test_arm_auth__clouds),
        cmocka_unit_test(test_arm_auth__metadata_hostname),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
