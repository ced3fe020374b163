/* Unit tests for the ARM client against the scripted fake transport and a
 * manual clock: retries, backoff, Retry-After, deadlines, fail-fast 4xx,
 * DELETE-404, long-running operations, rate limiting, headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/arm/arm_client.h"
#include "providers/arm/arm_error.h"
#include "providers/arm/fake_transport.h"
#include "providers/arm/ratelimit.h"
#include "util/error.h"

#define SUB "/subscriptions/00000000-0000-0000-0000-000000000001"
#define RG SUB "/resourceGroups/rg"
#define VAULT RG "/providers/Microsoft.KeyVault/vaults/kv1"
#define RM "https://management.azure.com"

struct step {
    long status;
    const char *body;
    const char *headers; /* "Name: value\n..." */
    int64_t latency;
    enum http_fail fail;
};

struct script {
    struct step steps[32];
    size_t n, next;
};

static int64_t scripted(struct http_exchange *x, void *payload)
{
    struct script *s = payload;
    const struct step *st;
    if (s->next >= s->n) {
        fake_respond(x, 599, "{\"error\":{\"code\":\"ScriptExhausted\",\"message\":\"no more\"}}");
        return 0;
    }
    st = &s->steps[s->next++];
    if (st->fail != HTTP_FAIL_NONE) {
        fake_respond_fail(x, st->fail, "scripted failure");
        return st->latency;
    }
    fake_respond(x, st->status, st->body);
    if (st->headers) {
        const char *p = st->headers;
        while (*p) {
            const char *nl = strchr(p, '\n'), *colon = strchr(p, ':');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            if (colon && colon < p + len)
                http_exchange_add_resp_header(x, p, (size_t)(colon - p), colon + 1,
                                              len - (size_t)(colon - p) - 1);
            p += len + (nl ? 1 : 0);
        }
    }
    return st->latency;
}

static int fixed_token(void *payload, const char *scope, const char **out, struct errbuf *err)
{
    (void)scope;
    (void)err;
    *out = payload;
    return 0;
}

struct env {
    struct manual_clock clock;
    struct script script;
    struct fake_transport *fake;
    struct arm_client *client;
    struct arm_token_source auth;
    const struct arm_cloud *cloud;
};

static void env_setup(struct env *e, unsigned parallelism, int no_rate_limit)
{
    struct arm_client_opts o = {0};
    struct errbuf err = ERRBUF_INIT;
    memset(e, 0, sizeof(*e));
    manual_clock_init(&e->clock, 1700000000);
    assert_int_equal(fake_transport_new(&e->fake, scripted, &e->script, &e->clock), 0);
    e->cloud = arm_cloud_builtin("public");
    e->auth.get = fixed_token;
    e->auth.payload = "tok-abc";
    o.cloud = e->cloud;
    o.transport = fake_transport_base(e->fake);
    o.auth = &e->auth;
    o.clock = &e->clock.clock;
    o.parallelism = parallelism;
    o.seed = 42;
    o.timeout_ms = 10 * 60 * 1000;
    o.attempt_timeout_ms = 60 * 1000;
    o.lro_poll_ms = 5000;
    o.no_rate_limit = no_rate_limit;
    assert_int_equal(arm_client_new(&e->client, &o, &err), 0);
}

static void env_teardown(struct env *e)
{
    arm_client_free(e->client);
    transport_free(fake_transport_base(e->fake));
}

static void add(struct env *e, long status, const char *body, const char *headers)
{
    struct step *s = &e->script.steps[e->script.n++];
    s->status = status;
    s->body = body;
    s->headers = headers;
}

static const struct fake_request *req(struct env *e, size_t i)
{
    const struct fake_request *r = fake_transport_request(e->fake, i);
    assert_non_null(r);
    return r;
}

static const char *header_value(const struct fake_request *r, const char *name, char *dst,
                                size_t size)
{
    size_t nl = strlen(name);
    const char *p = r->headers;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nl + 2 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            snprintf(dst, size, "%.*s", (int)(len - nl - 2), p + nl + 2);
            return dst;
        }
        p += len + (eol ? 1 : 0);
    }
    return NULL;
}

static int is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

static void test_arm_client__headers_and_url(void **state)
{
    struct env e;
    struct arm_call c = {.method = "GET", .url = VAULT, .api_version = "2025-05-01"};
    char v1[128], v2[128], corr[128];
    (void)state;
    env_setup(&e, 10, 0);
    add(&e, 200, "{\"id\":\"x\"}", NULL);
    add(&e, 200, "{\"id\":\"x\"}", NULL);
    assert_int_equal(arm_client_call(e.client, &c), 0);
    assert_string_equal(c.response, "{\"id\":\"x\"}");
    arm_call_release(&c);
    assert_int_equal(arm_client_call(e.client, &c), 0);
    arm_call_release(&c);
    assert_int_equal(fake_transport_count(e.fake), 2);
    assert_string_equal(req(&e, 0)->url, RM VAULT "?api-version=2025-05-01");
    assert_string_equal(req(&e, 0)->method, "GET");
    assert_non_null(header_value(req(&e, 0), "x-ms-client-request-id", v1, sizeof(v1)));
    assert_non_null(header_value(req(&e, 1), "x-ms-client-request-id", v2, sizeof(v2)));
    assert_true(is_uuid(v1));
    assert_true(is_uuid(v2));
    assert_string_not_equal(v1, v2);
    assert_non_null(header_value(req(&e, 0), "x-ms-correlation-request-id", corr, sizeof(corr)));
    assert_string_equal(corr, arm_client_correlation_id(e.client));
    assert_non_null(header_value(req(&e, 1), "x-ms-correlation-request-id", v2, sizeof(v2)));
    assert_string_equal(corr, v2);
    assert_non_null(header_value(req(&e, 0), "User-Agent", v1, sizeof(v1)));
    assert_string_equal(v1, "amlsec/" AMLSEC_VERSION);
    assert_non_null(header_value(req(&e, 0), "Authorization", v1, sizeof(v1)));
    assert_string_equal(v1, "Bearer tok-abc");
    env_teardown(&e);
}

static void test_arm_client__429_storm_honours_retry_after(void **state)
{
    struct env e;
    struct arm_call c = {.method = "GET", .url = VAULT, .api_version = "2025-05-01"};
    (void)state;
    env_setup(&e, 10, 0);
    for (int i = 0; i < 5; i++)
        add(&e, 429, "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"slow down\"}}",
            "Retry-After: 7");
    add(&e, 200, "{}", NULL);
    assert_int_equal(arm_client_call(e.client, &c), 0);
    assert_int_equal(c.requests, 6);
    assert_int_equal(c.retries, 5);
    /* five waits of exactly Retry-After */
    assert_true(e.clock.now_ms >= 35000);
    assert_true(e.clock.now_ms < 36000);
    arm_call_release(&c);
    env_teardown(&e);
}

static void test_arm_client__retry_after_past_deadline_fails_fast(void **state)
{
    struct env e;
    struct arm_call c = {.method = "GET", .url = VAULT, .api_version = "2025-05-01"};
    (void)state;
    env_setup(&e, 10, 0);
    c.deadline_ms = 300 * 1000; /* 5 minutes */
    add(&e, 429, "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"wait\"}}",
        "Retry-After: 307");
    add(&e, 200, "{}", NULL);
    assert_int_equal(arm_client_call(e.client, &c), AMLSEC_EHTTP);
    assert_int_equal(c.requests, 1);
    assert_non_null(strstr(c.err.msg, "past the deadline"));
    assert_non_null(strstr(c.err.msg, "TooManyRequests"));
    assert_true(e.clock.now_ms < 1000); /* did not wait */
    arm_call_release(&c);
    env_teardown(&e);
}

static void test_arm_client__5xx_and_reset_retried_with_backoff(void **state)
{
    struct env e;
    struct arm_call c = {.method = "PUT",
                         .url = VAULT,
                         .api_version = "2025-05-01",
                         .body = "{\"location\":\"westeurope\"}"};
    (void)state;
    env_setup(&e, 10, 0);
    add(&e, 500, "{\"error\":{\"code\":\"InternalServerError\",\"message\":\"oops\"}}", NULL);
    e.script.steps[e.script.n++].fail = HTTP_FAIL_RESET;
    add(&e, 503, "", NULL);
    e.script.steps[e.script.n++].fail = HTTP_FAIL_CONNECT;
    add(&e, 200, "{\"id\":\"kv1\"}", NULL);
    assert_int_equal(arm_client_call(e.client, &c), 0);
    assert_int_equal(c.requests, 5);
    /* full jitter: each wait at most base * 2^(n-1): 1+2+4+8 s */
    assert_true(e.clock.slept_ms <= 15000);
    /* PUT retried with the same body */
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(req(&e, i)->method, "PUT");
        assert_string_equal(req(&e, i)->body, "{\"location\":\"westeurope\"}");
    }
    arm_call_release(&c);
    env_teardown(&e);
}

static void test_arm_client__gives_up_at_the_deadline(void **state)
{
    struct env e;
    struct arm_call c = {.method = "GET", .url = VAULT, .api_version = "2025-05-01"};
    (void)state;
    env_setup(&e, 10, 0);
    c.deadline_ms = 20 * 1000;
    for (int i = 0; i < 30; i++)
        add(&e, 503, "", NULL);
    assert_int_equal(arm_client_call(e.client, &c), AMLSEC_EHTTP);
    assert_non_null(strstr(c.err.msg, "deadline"));
    assert_true(e.clock.now_ms <= 20 * 1000);
    assert_true(c.requests >= 2);
    assert_true(c.requests < 30);
    arm_call_release(&c);
    env_teardown(&e);
}

static void test_arm_client__slow_response_past_deadline(void **state)
{
    struct env e;
    struct arm_call c = {.method = "GET", .url = VAULT, .api_version = "2025-05-01"};
    (void)state;
    env_setup(&e, 10, 0);
    c.deadline_ms = 30 * 1000;
    add(&e, 200, "{}", NULL);
    e.script.steps[0].latency = 45 * 1000; /* answers after the deadline */
    add(&e, 200, "{}", NULL);
    assert_int_equal(arm_client_call(e.client, &c), AMLSEC_EHTTP);
    assert_non_null(strstr(c.err.msg, "timed out"));
    assert_non_null(strstr(c.err.msg, "deadline"));
    assert_int_equal(c.requests, 1);
    assert_true(e.clock.now_ms <= 30 * 1000);
    arm_call_release(&c);
    env_teardown(&e);
}

static void test_arm_client__4xx_fails_fast_with_arm_error(void **state)
{
    struct env e;
    struct arm_call c = {.method = "PUT", .url = VAULT, .api_version = "2025-05-01", .body = "{}"};
    (void)state;
    env_setup(&e, 10, 0);
    add(&e, 403,
        "{\"error\":{\"code\":\"AuthorizationFailed\",\"message\":\"The client 'x' does not "
        "have authorization\",\"target\":\"vaults/kv1\"}}",
        NULL);
    add(&e, 400, "{\"code\":\"BadRequest\",\"message\":\"flat shape\"}", NULL);
    add(&e, 404, "{\"error\":{\"code\":\"ResourceNotFound\",\"message\":\"gone\"}}", NULL);
    add(&e, 409, "{\"error\":{\"code\":\"RoleAssignmentExists\",\"message\":\"exists\"}}", NULL);
    assert_int_equal(arm_client_call(e.client, &c), AMLSEC_EHTTP);
    assert_int_equal(c.requests, 1);
    assert_string_equal(c.error.code, "AuthorizationFailed");
    assert_string_equal(c.error.target, "vaults/kv1");
    assert_non_null(strstr(c.err.msg, "HTTP 403 AuthorizationFailed: The client"));
    assert_non_null(strstr(c.err.msg, "(target 'vaults/kv1')"));
    arm_call_release(&c);

    assert_int_equal(arm_client_call(e.client, &c), AMLSEC_EHTTP);
    assert_string_equal(c.error.code, "BadRequest");
    assert_string_equal(c.error.message, "flat shape");
    arm_call_release(&c);

    c.method = "GET";
    c.body = NULL;
    assert_int_equal(arm_client_call(e.client, &c), AMLSEC_ENOTFOUND);
    assert_string_equal(c.error.code, "ResourceNotFound");
    arm_call_release(&c);

    c.method = "PUT";
    assert_int_equal(arm_client_call(e.client, &c), AMLSEC_ECONFLICT);
    assert_string_equal(c.error.code, "RoleAssignmentExists");
    arm_call_release(&c);
    assert_int_equal(fake_transport_count(e.fake), 4);
    env_teardown(&e);
}

static void test_arm_client__409_in_progress_retried(void **state)
{
    struct env e;
    struct arm_call c = {.method = "PUT", .url = VAULT, .api_version = "2025-05-01", .body = "{}"};
    (void)state;
    env_setup(&e, 10, 0);
    add(&e, 409,
        "{\"error\":{\"code\":\"AnotherOperationInProgress\",\"message\":\"Another operation "
        "on this resource is in progress\"}}",
        NULL);
    add(&e, 200, "{\"id\":\"kv1\"}", NULL);
    assert_int_equal(arm_client_call(e.client, &c), 0);
    assert_int_equal(c.requests, 2);
    arm_call_release(&c);
    env_teardown(&e);
}

static void test_arm_client__delete_retried_meets_404_success(void **state)
{
    struct env e;
    struct arm_call c = {.method = "DELETE", .url = VAULT, .api_version = "2025-05-01"};
    (void)state;
    env_setup(&e, 10, 0);
    e.script.steps[e.script.n++].fail = HTTP_FAIL_TIMEOUT; /* the first delete went through */
    add(&e, 404, "{\"error\":{\"code\":\"ResourceNotFound\",\"message\":\"gone\"}}", NULL);
    assert_int_equal(arm_client_call(e.client, &c), 0);
    assert_int_equal(c.requests, 2);
    assert_true(c.gone);
    arm_call_release(&c);
    env_teardown(&e);
}

static void test_arm_client__post_not_retried_unless_safe(void **state)
{
    struct env e;
    struct arm_call c = {.method = "POST", .url = VAULT "/purge", .api_version = "2025-05-01"};
    (void)state;
    env_setup(&e, 10, 0);
    add(&e, 500, "{\"error\":{\"code\":\"InternalServerError\",\"message\":\"x\"}}", NULL);
    add(&e, 500, "{\"error\":{\"code\":\"InternalServerError\",\"message\":\"x\"}}", NULL);
    add(&e, 200, "{}", NULL);
    assert_int_equal(arm_client_call(e.client, &c), AMLSEC_EHTTP);
    assert_int_equal(c.requests, 1);
    arm_call_release(&c);
    c.flags = ARM_CALL_RETRY_POST;
    assert_int_equal(arm_client_call(e.client, &c), 0);
    assert_int_equal(c.requests, 2);
    arm_call_release(&c);
    env_teardown(&e);
}

static void test_arm_client__lro_azure_async_operation(void **state)
{
    struct env e;
    struct arm_call c = {.method = "PUT",
                         .url = VAULT,
                         .api_version = "2025-05-01",
                         .body = "{}",
                         .lro = LRO_DEFAULT};
    (void)state;
    env_setup(&e, 10, 0);
    add(&e, 201, "{\"properties\":{\"provisioningState\":\"Creating\"}}",
        "Azure-AsyncOperation: " RM SUB
        "/providers/Microsoft.KeyVault/operations/op1?api-version=x\n"
        "Location: " RM SUB "/providers/Microsoft.KeyVault/locations/op1\nRetry-After: 3");
    add(&e, 200, "{\"status\":\"InProgress\"}", "Retry-After: 4");
    add(&e, 200, "{\"status\":\"Succeeded\"}", NULL);
    add(&e, 200, "{\"id\":\"kv1\",\"properties\":{\"provisioningState\":\"Succeeded\"}}", NULL);
    assert_int_equal(arm_client_call(e.client, &c), 0);
    assert_int_equal(c.requests, 4);
    assert_string_equal(req(&e, 1)->url,
                        RM SUB "/providers/Microsoft.KeyVault/operations/op1?api-version=x");
    assert_string_equal(req(&e, 1)->method, "GET");
    assert_string_equal(req(&e, 3)->url, RM VAULT "?api-version=2025-05-01");
    assert_non_null(strstr(c.response, "\"id\":\"kv1\""));
    /* waited Retry-After: 3 s, then 4 s; the final GET follows at once */
    assert_true(e.clock.now_ms >= 7000);
    assert_true(e.clock.now_ms < 8000);
    arm_call_release(&c);
    env_teardown(&e);
}

static void test_arm_client__lro_location_delete(void **state)
{
    struct env e;
    struct arm_call c = {
        .method = "DELETE", .url = VAULT, .api_version = "2025-05-01", .lro = LRO_LOCATION};
    (void)state;
    env_setup(&e, 10, 0);
    add(&e, 202, "", "Location: " RM SUB "/providers/x/operationResults/1\nRetry-After: 1");
    add(&e, 202, "", "Retry-After: 1");
    add(&e, 204, "", NULL);
    assert_int_equal(arm_client_call(e.client, &c), 0);
    assert_int_equal(c.requests, 3);
    assert_int_equal(c.status, 204);
    assert_string_equal(req(&e, 1)->url, RM SUB "/providers/x/operationResults/1");
    arm_call_release(&c);
    env_teardown(&e);
}

static void test_arm_client__lro_final_state_location_put(void **state)
{
    struct env e;
    struct arm_call c = {.method = "PUT",
                         .url = VAULT,
                         .api_version = "2025-05-01",
                         .body = "{}",
                         .lro = LRO_LOCATION};
    (void)state;
    env_setup(&e, 10, 0);
    add(&e, 202, "",
        "Azure-AsyncOperation: " RM "/op/1\nLocation: " RM "/result/1\nRetry-After: 0");
    add(&e, 200, "{\"status\":\"Succeeded\"}", NULL);
    add(&e, 200, "{\"id\":\"from-location\"}", NULL);
    assert_int_equal(arm_client_call(e.client, &c), 0);
    assert_string_equal(req(&e, 2)->url, RM "/result/1");
    assert_string_equal(c.response, "{\"id\":\"from-location\"}");
    arm_call_release(&c);
    env_teardown(&e);
}

static void test_arm_client__lro_failed_and_canceled(void **state)
{
    struct env e;
    struct arm_call c = {.method = "PUT",
                         .url = VAULT,
                         .api_version = "2025-05-01",
                         .body = "{}",
                         .lro = LRO_DEFAULT};
    (void)state;
    env_setup(&e, 10, 0);
    add(&e, 201, "{}", "Azure-AsyncOperation: " RM "/op/1\nRetry-After: 1");
    add(&e, 200,
        "{\"status\":\"Failed\",\"error\":{\"code\":\"KeyVaultAccessDenied\",\"message\":\"no "
        "access to the key\"}}",
        NULL);
    add(&e, 202, "", "Azure-AsyncOperation: " RM "/op/2\nRetry-After: 1");
    add(&e, 200,
        "{\"status\":\"Canceled\",\"error\":{\"code\":\"OperationCanceled\",\"message\":\"by "
        "user\"}}",
        NULL);
    assert_int_equal(arm_client_call(e.client, &c), AMLSEC_EHTTP);
    assert_string_equal(c.error.code, "KeyVaultAccessDenied");
    assert_non_null(strstr(c.err.msg, "operation Failed: KeyVaultAccessDenied: no access"));
    assert_int_equal(c.requests, 2);
    arm_call_release(&c);
    assert_int_equal(arm_client_call(e.client, &c), AMLSEC_EHTTP);
    assert_string_equal(c.error.code, "OperationCanceled");
    assert_non_null(strstr(c.err.msg, "operation Canceled"));
    arm_call_release(&c);
    env_teardown(&e);
}

static void test_arm_client__lro_poll_resource_provisioning_state(void **state)
{
    struct env e;
    struct arm_call c = {
        .method = "PUT", .url = VAULT, .api_version = "2025-05-01", .body = "{}", .lro = LRO_NONE};
    (void)state;
    env_setup(&e, 10, 0);
    add(&e, 201, "{\"properties\":{\"provisioningState\":\"Updating\"}}", "Retry-After: 1");
    add(&e, 200, "{\"properties\":{\"provisioningState\":\"Updating\"}}", "Retry-After: 1");
    add(&e, 200, "{\"properties\":{\"provisioningState\":\"Succeeded\"},\"id\":\"r\"}", NULL);
    assert_int_equal(arm_client_call(e.client, &c), 0);
    assert_int_equal(c.requests, 3);
    assert_string_equal(req(&e, 2)->url, RM VAULT "?api-version=2025-05-01");
    assert_non_null(strstr(c.response, "\"id\":\"r\""));
    arm_call_release(&c);
    env_teardown(&e);
}

static void test_arm_client__lro_refuses_foreign_poll_host(void **state)
{
    struct env e;
    struct arm_call c = {.method = "PUT",
                         .url = VAULT,
                         .api_version = "2025-05-01",
                         .body = "{}",
                         .lro = LRO_DEFAULT};
    (void)state;
    env_setup(&e, 10, 0);
    add(&e, 201, "{}", "Azure-AsyncOperation: https://evil.example.com/op/1");
    assert_int_equal(arm_client_call(e.client, &c), AMLSEC_EHTTP);
    assert_non_null(strstr(c.err.msg, "refusing to poll"));
    assert_int_equal(c.requests, 1);
    arm_call_release(&c);
    env_teardown(&e);
}

/* A list's nextLink naming another host never gets the ARM token. */
static void test_arm_client__refuses_arm_token_to_foreign_host(void **state)
{
    struct env e;
    struct arm_call c = {.method = "GET", .url = "https://evil.example.com/next?page=2"};
    (void)state;
    env_setup(&e, 10, 0);
    assert_int_equal(arm_client_call(e.client, &c), AMLSEC_EHTTP);
    assert_non_null(strstr(c.err.msg, "refusing to send the resource manager's token"));
    assert_int_equal(fake_transport_count(e.fake), 0);
    arm_call_release(&c);
    env_teardown(&e);
}

static int64_t always_ok(struct http_exchange *x, void *payload)
{
    (void)payload;
    fake_respond(x, 200, "{}");
    return 0;
}

/* A client whose every request answers 200 at once; rate limits on. */
static void ok_client(struct manual_clock *clock, struct fake_transport **fake,
                      struct arm_client **client, unsigned parallelism)
{
    struct arm_client_opts o = {0};
    struct errbuf err = ERRBUF_INIT;
    manual_clock_init(clock, 1700000000);
    assert_int_equal(fake_transport_new(fake, always_ok, NULL, clock), 0);
    o.cloud = arm_cloud_builtin("public");
    o.transport = fake_transport_base(*fake);
    o.clock = &clock->clock;
    o.parallelism = parallelism;
    assert_int_equal(arm_client_new(client, &o, &err), 0);
}

static void vault_gets(struct arm_call *calls, size_t n)
{
    memset(calls, 0, n * sizeof(*calls));
    for (size_t i = 0; i < n; i++) {
        calls[i].method = "GET";
        calls[i].url = VAULT;
        calls[i].api_version = "2025-05-01";
    }
}

static void test_arm_client__parallelism_limit(void **state)
{
    struct manual_clock clock;
    struct fake_transport *fake;
    struct arm_client *client;
    struct errbuf err = ERRBUF_INIT;
    struct arm_call calls[50];
    (void)state;
    ok_client(&clock, &fake, &client, 5);
    vault_gets(calls, 50);
    assert_int_equal(arm_client_run(client, calls, 50, &err), 0);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(calls[i].rc, 0);
        arm_call_release(&calls[i]);
    }
    assert_int_equal(fake_transport_max_inflight(fake), 5);
    assert_int_equal(arm_client_request_count(client), 50);
    arm_client_free(client);
    transport_free(fake_transport_base(fake));
}

static void count_abandoned(struct arm_call *call, void *payload)
{
    (void)call;
    (*(int *)payload)++;
}

/* Streaming: calls submitted while others run come back one by one as
 * they finish, an arm_client_run in between keeps its hands off them, and
 * abandoning forgets the rest (handed to their owner, never back). */
static void test_arm_client__streaming_submit_next_abandon(void **state)
{
    struct manual_clock clock;
    struct fake_transport *fake;
    struct arm_client *client;
    struct errbuf err = ERRBUF_INIT;
    struct arm_call s[4], r[2], *done = NULL;
    int seen[4] = {0}, abandoned = 0;
    (void)state;
    ok_client(&clock, &fake, &client, 2);
    vault_gets(s, 4);
    memset(r, 0, sizeof(r));
    for (int i = 0; i < 2; i++)
        r[i] = s[0];
    /* nothing submitted: nothing to wait for */
    assert_int_equal(arm_client_next(client, 1000, &done, &err), 0);
    assert_null(done);
    assert_int_equal(arm_client_submit(client, &s[0]), 0);
    assert_int_equal(arm_client_submit(client, &s[1]), 0);
    assert_int_equal(arm_client_active(client), 2);
    assert_int_equal(arm_client_next(client, -1, &done, &err), 0);
    assert_non_null(done);
    seen[done - s]++;
    /* a batch run meanwhile: s[1] finishes during it and is held for next */
    assert_int_equal(arm_client_run(client, r, 2, &err), 0);
    assert_int_equal(r[0].rc, 0);
    assert_int_equal(r[1].rc, 0);
    arm_call_release(&r[0]);
    arm_call_release(&r[1]);
    assert_int_equal(arm_client_active(client), 1);
    assert_int_equal(arm_client_submit(client, &s[2]), 0);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(arm_client_next(client, -1, &done, &err), 0);
        assert_non_null(done);
        assert_int_equal(done->rc, 0);
        seen[done - s]++;
    }
    assert_int_equal(seen[0] + seen[1] + seen[2], 3);
    assert_true(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
    assert_int_equal(arm_client_active(client), 0);
    assert_int_equal(arm_client_next(client, 0, &done, &err), 0);
    assert_null(done);
    /* abandon: the submitted call goes to its owner, never back */
    assert_int_equal(arm_client_submit(client, &s[3]), 0);
    arm_client_abandon(client, count_abandoned, &abandoned);
    assert_int_equal(abandoned, 1);
    assert_int_equal(arm_client_active(client), 0);
    assert_int_equal(arm_client_next(client, 1000, &done, &err), 0);
    assert_null(done);
    assert_int_equal(fake_transport_count(fake), 5);
    for (int i = 0; i < 4; i++)
        arm_call_release(&s[i]);
    arm_client_free(client);
    transport_free(fake_transport_base(fake));
}

/* Background calls (ARM_CALL_BACKGROUND) wait behind every other call:
 * a call run after twenty of them is the first request sent, they fill
 * at most three quarters of the slots, and arm_client_drive lets them
 * finish while the caller waits (Resource Graph's quota), holding them for
 * arm_client_next. */
static void test_arm_client__background_calls_wait_behind_others(void **state)
{
    struct manual_clock clock;
    struct fake_transport *fake;
    struct arm_client *client;
    struct errbuf err = ERRBUF_INIT;
    struct arm_call bg[20], fg[1], *done = NULL;
    int64_t until;
    size_t back = 0;
    (void)state;
    ok_client(&clock, &fake, &client, 4);
    vault_gets(bg, 20);
    vault_gets(fg, 1);
    fg[0].url = VAULT "/keys";
    for (int i = 0; i < 20; i++) {
        bg[i].flags = ARM_CALL_BACKGROUND;
        assert_int_equal(arm_client_submit(client, &bg[i]), 0);
    }
    assert_int_equal(arm_client_run(client, fg, 1, &err), 0);
    assert_int_equal(fg[0].rc, 0);
    arm_call_release(&fg[0]);
    assert_non_null(strstr(fake_transport_request(fake, 0)->url, "/keys?"));
    assert_true(fake_transport_max_inflight(fake) <= 4);
    until = arm_clock_now(&clock.clock) + 1000;
    assert_int_equal(arm_client_drive(client, until, &err), 0);
    assert_true(arm_clock_now(&clock.clock) >= until);
    assert_int_equal(fake_transport_count(fake), 21);
    while (arm_client_next(client, 0, &done, &err) == 0 && done) {
        assert_int_equal(done->rc, 0);
        back++;
    }
    assert_int_equal(back, 20);
    assert_int_equal(arm_client_active(client), 0);
    for (int i = 0; i < 20; i++)
        arm_call_release(&bg[i]);
    arm_client_free(client);
    transport_free(fake_transport_base(fake));
}

/* arm_client_foreground: background calls not started yet take every
 * slot from then on (three quarters before). */
static void test_arm_client__background_calls_brought_forward(void **state)
{
    struct manual_clock clock;
    struct fake_transport *fake;
    struct arm_client *client;
    struct errbuf err = ERRBUF_INIT;
    struct arm_call bg[12], *done = NULL;
    size_t back = 0;
    (void)state;
    ok_client(&clock, &fake, &client, 4);
    vault_gets(bg, 12);
    for (int i = 0; i < 12; i++) {
        bg[i].flags = ARM_CALL_BACKGROUND;
        assert_int_equal(arm_client_submit(client, &bg[i]), 0);
    }
    assert_int_equal(arm_client_next(client, -1, &done, &err), 0);
    assert_non_null(done);
    back++;
    assert_int_equal(fake_transport_max_inflight(fake), 3);
    arm_client_foreground(client);
    while (arm_client_next(client, -1, &done, &err) == 0 && done) {
        assert_int_equal(done->rc, 0);
        back++;
    }
    assert_int_equal(back, 12);
    assert_int_equal(fake_transport_max_inflight(fake), 4);
    for (int i = 0; i < 12; i++)
        arm_call_release(&bg[i]);
    arm_client_free(client);
    transport_free(fake_transport_base(fake));
}

/* The client itself fails (ARM_CLIENT_FAULT_ENV=poll: when the accepted
 * PUT's operation is due to be polled): arm_client_next says so once,
 * then hands the PUT back failed and marked unknown (the service may still
 * carry it out); a call that finished before is not marked. */
static void test_arm_client__client_failure_leaves_outcome_unknown(void **state)
{
    struct env e;
    struct errbuf err = ERRBUF_INIT;
    struct arm_call put = {.method = "PUT",
                           .url = VAULT,
                           .api_version = "2025-05-01",
                           .body = "{}",
                           .lro = LRO_DEFAULT};
    struct arm_call get = {.method = "GET", .url = VAULT, .api_version = "2025-05-01"};
    struct arm_call *done = NULL;
    (void)state;
    assert_int_equal(setenv(ARM_CLIENT_FAULT_ENV, "poll", 1), 0);
    env_setup(&e, 10, 1);
    assert_int_equal(unsetenv(ARM_CLIENT_FAULT_ENV), 0);
    add(&e, 201, "{\"properties\":{\"provisioningState\":\"Creating\"}}",
        "Azure-AsyncOperation: " RM SUB "/providers/Microsoft.KeyVault/operations/op1\n"
        "Retry-After: 3");
    add(&e, 200, "{\"id\":\"kv1\"}", NULL);
    assert_int_equal(arm_client_submit(e.client, &put), 0);
    assert_int_equal(arm_client_submit(e.client, &get), 0);
    assert_int_equal(arm_client_next(e.client, -1, &done, &err), 0);
    assert_ptr_equal(done, &get);
    assert_int_equal(get.rc, 0);
    assert_int_equal(get.unknown, 0);
    assert_true(arm_client_next(e.client, -1, &done, &err) < 0);
    assert_null(done);
    assert_non_null(strstr(err.msg, "client failure injected by " ARM_CLIENT_FAULT_ENV "=poll"));
    assert_int_equal(arm_client_next(e.client, 0, &done, &err), 0);
    assert_ptr_equal(done, &put);
    assert_true(put.rc < 0);
    assert_int_equal(put.unknown, 1);
    assert_non_null(strstr(put.err.msg, "client failure injected"));
    assert_int_equal(arm_client_next(e.client, 0, &done, &err), 0);
    assert_null(done);
    assert_int_equal(fake_transport_count(e.fake), 2); /* the poll never left */
    arm_call_release(&put);
    arm_call_release(&get);
    env_teardown(&e);
}

static void test_arm_client__rate_limiter_paces_a_large_run(void **state)
{
    struct manual_clock clock;
    struct fake_transport *fake;
    struct arm_client *client;
    struct arm_client_opts o = {0};
    struct errbuf err = ERRBUF_INIT;
    struct arm_call *calls = calloc(300, sizeof(*calls));
    (void)state;
    manual_clock_init(&clock, 1700000000);
    assert_int_equal(fake_transport_new(&fake, always_ok, NULL, &clock), 0);
    o.cloud = arm_cloud_builtin("public");
    o.transport = fake_transport_base(fake);
    o.clock = &clock.clock;
    o.parallelism = 300;
    assert_int_equal(arm_client_new(&client, &o, &err), 0);
    for (int i = 0; i < 300; i++) {
        calls[i].method = "GET";
        calls[i].url = VAULT;
        calls[i].api_version = "2025-05-01";
    }
    assert_int_equal(arm_client_run(client, calls, 300, &err), 0);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(calls[i].rc, 0);
        arm_call_release(&calls[i]);
    }
    /* 250 from the full bucket, 50 more at 25/s: about 2 s */
    assert_true(clock.now_ms >= 1900);
    assert_true(clock.now_ms < 4000);
    free(calls);
    arm_client_free(client);
    transport_free(fake_transport_base(fake));
}

static int64_t says_none_left(struct http_exchange *x, void *payload)
{
    (void)payload;
    fake_respond(x, 200, "{}");
    fake_respond_header(x, "x-ms-ratelimit-remaining-subscription-reads", "0");
    return 0;
}

static void test_arm_client__adapts_to_remaining_headers(void **state)
{
    struct manual_clock clock;
    struct fake_transport *fake;
    struct arm_client *client;
    struct arm_client_opts o = {0};
    struct errbuf err = ERRBUF_INIT;
    struct arm_call calls[10];
    (void)state;
    manual_clock_init(&clock, 1700000000);
    assert_int_equal(fake_transport_new(&fake, says_none_left, NULL, &clock), 0);
    o.cloud = arm_cloud_builtin("public");
    o.transport = fake_transport_base(fake);
    o.clock = &clock.clock;
    o.parallelism = 1;
    assert_int_equal(arm_client_new(&client, &o, &err), 0);
    memset(calls, 0, sizeof(calls));
    for (int i = 0; i < 10; i++) {
        calls[i].method = "GET";
        calls[i].url = VAULT;
    }
    assert_int_equal(arm_client_run(client, calls, 10, &err), 0);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(calls[i].rc, 0);
        arm_call_release(&calls[i]);
    }
    /* ARM said nothing is left after each answer: the client waits for the
     * refill (1 token at 25/s = 40 ms) instead of drawing 429s */
    assert_true(clock.now_ms >= 9 * 40);
    assert_true(clock.now_ms < 1000);
    assert_int_equal(arm_client_throttled_count(client), 0);
    arm_client_free(client);
    transport_free(fake_transport_base(fake));
}

struct counting_source {
    unsigned gets, invalidations;
    char token[32];
};

static int counting_get(void *payload, const char *scope, const char **out, struct errbuf *err)
{
    struct counting_source *cs = payload;
    (void)scope;
    (void)err;
    if (cs->token[0] == '\0' || cs->invalidations >= cs->gets)
        snprintf(cs->token, sizeof(cs->token), "tok-%u", ++cs->gets);
    *out = cs->token;
    return 0;
}

static void counting_invalidate(void *payload, const char *scope)
{
    struct counting_source *cs = payload;
    (void)scope;
    cs->invalidations++;
}

static void test_arm_client__expired_token_signs_in_again_once(void **state)
{
    struct env e;
    struct counting_source cs = {0};
    struct arm_token_source src = {counting_get, &cs, counting_invalidate, NULL};
    struct arm_call c = {.method = "GET", .url = VAULT, .api_version = "2025-05-01"};
    char v[64];
    const char *expired = "{\"error\":{\"code\":\"InvalidAuthenticationTokenTokenExpired\","
                          "\"message\":\"The token is expired\"}}";
    (void)state;
    env_setup(&e, 10, 0);
    {
        /* the client copies the token source: a stack variable is fine */
        struct arm_client_opts o = {0};
        struct errbuf err = ERRBUF_INIT;
        arm_client_free(e.client);
        o.cloud = e.cloud;
        o.transport = fake_transport_base(e.fake);
        o.auth = &src;
        o.clock = &e.clock.clock;
        o.seed = 42;
        assert_int_equal(arm_client_new(&e.client, &o, &err), 0);
        memset(&src, 0, sizeof(src)); /* gone as far as the client cares */
    }
    add(&e, 401, expired, NULL);
    add(&e, 200, "{}", NULL);
    add(&e, 401, expired, NULL);
    add(&e, 401, expired, NULL);
    assert_int_equal(arm_client_call(e.client, &c), 0);
    assert_int_equal(c.requests, 2);
    assert_int_equal(cs.invalidations, 1);
    assert_non_null(header_value(req(&e, 0), "Authorization", v, sizeof(v)));
    assert_string_equal(v, "Bearer tok-1");
    assert_non_null(header_value(req(&e, 1), "Authorization", v, sizeof(v)));
    assert_string_equal(v, "Bearer tok-2");
    arm_call_release(&c);
    /* a token refused twice in a row is an error, not a loop */
    assert_int_equal(arm_client_call(e.client, &c), AMLSEC_EHTTP);
    assert_int_equal(c.requests, 2);
    assert_string_equal(c.error.code, "InvalidAuthenticationTokenTokenExpired");
    arm_call_release(&c);
    env_teardown(&e);
}

static void test_arm_client__ratelimit_math(void **state)
{
    struct ratelimit rl;
    int64_t wait;
    (void)state;
    ratelimit_init(&rl);
    for (int i = 0; i < 250; i++) {
        assert_int_equal(ratelimit_take(&rl, "s1", RL_READ, 0, &wait), 0);
        assert_int_equal(wait, 0);
    }
    ratelimit_take(&rl, "s1", RL_READ, 0, &wait);
    assert_int_equal(wait, 40); /* 1 token at 25/s */
    /* another subscription has its own bucket; writes are separate */
    ratelimit_take(&rl, "s2", RL_READ, 0, &wait);
    assert_int_equal(wait, 0);
    for (int i = 0; i < 200; i++)
        ratelimit_take(&rl, "s1", RL_WRITE, 0, &wait);
    ratelimit_take(&rl, "s1", RL_WRITE, 0, &wait);
    assert_int_equal(wait, 100); /* 10/s */
    /* one second later: 25 reads */
    assert_true(ratelimit_tokens(&rl, "s1", RL_READ, 1000) > 24.9);
    /* ARM says only 3 remain */
    ratelimit_observe(&rl, "s1", RL_READ, 3, 1000);
    assert_true(ratelimit_tokens(&rl, "s1", RL_READ, 1000) <= 3.0);
    /* the legacy hourly numbers are ignored */
    ratelimit_observe(&rl, "s2", RL_READ, 11999, 1000);
    assert_true(ratelimit_tokens(&rl, "s2", RL_READ, 1000) > 248);
    /* a 429 blocks until its Retry-After */
    ratelimit_block(&rl, "s2", RL_READ, 5000);
    ratelimit_take(&rl, "s2", RL_READ, 2000, &wait);
    assert_int_equal(wait, 3000);
    ratelimit_take(&rl, "s2", RL_READ, 5040, &wait);
    assert_int_equal(wait, 0);
    ratelimit_release(&rl);
}

/* A Retry-After too large to add to the clock (found by fuzz_arm_response: a
 * signed overflow under UBSan) is past any deadline: the call fails at once. */
static void test_arm_client__huge_retry_after_fails_fast(void **state)
{
    static const char *const huge[] = {"retry-after-ms: 9223372036854775807",
                                       "Retry-After: 9223372036854775"};
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        struct env e;
        struct arm_call c = {.method = "GET", .url = VAULT, .api_version = "2025-05-01"};
        env_setup(&e, 10, 0);
        add(&e, 429, "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"wait\"}}", huge[i]);
        add(&e, 200, "{}", NULL);
        assert_int_equal(arm_client_call(e.client, &c), AMLSEC_EHTTP);
        assert_int_equal(c.requests, 1);
        assert_non_null(strstr(c.err.msg, "past the deadline"));
        assert_true(e.clock.now_ms < 1000); /* did not wait */
        arm_call_release(&c);
        env_teardown(&e);
    }
}

static void test_arm_client__backoff_and_retry_after_parsing(void **state)
{
    uint64_t rng = 7;
    struct http_exchange x;
    (void)state;
    for (unsigned a = 1; a < 12; a++)
        for (int i = 0; i < 200; i++) {
            int64_t d = arm_backoff_ms(1000, 60000, a, &rng);
            int64_t cap = a >= 7 ? 60000 : 1000LL << (a - 1);
            assert_true(d >= 0 && d <= cap);
        }
    http_exchange_init(&x);
    assert_int_equal(arm_retry_after_ms(&x, 0), -1);
    http_exchange_add_resp_header(&x, "Retry-After", 11, "17", 2);
    assert_int_equal(arm_retry_after_ms(&x, 0), 17000);
    http_exchange_reset_response(&x);
    http_exchange_add_resp_header(&x, "retry-after", 11, "Wed, 21 Oct 2015 07:28:00 GMT", 29);
    assert_int_equal(arm_retry_after_ms(&x, 1445412470), 10000);
    http_exchange_reset_response(&x);
    http_exchange_add_resp_header(&x, "retry-after-ms", 14, "250", 3);
    assert_int_equal(arm_retry_after_ms(&x, 0), 250);
    http_exchange_reset_response(&x);
    http_exchange_add_resp_header(&x, "Retry-After", 11, "soon", 4);
    assert_int_equal(arm_retry_after_ms(&x, 0), -1);
    http_exchange_release(&x);
}

static void test_arm_client__error_body_shapes(void **state)
{
    struct arm_error e;
    const char *entra =
        "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: "
        "Invalid client secret provided.\\r\\nTrace ID: 1\",\"error_codes\":[7000215]}";
    (void)state;
    const char *nested = "{\"error\":{\"code\":\"A\",\"message\":\"m\",\"target\":\"t\"}}";
    assert_int_equal(arm_error_parse(&e, nested, strlen(nested)), 0);
    assert_string_equal(e.code, "A");
    assert_string_equal(e.target, "t");
    const char *flat = "{\"code\":\"B\",\"message\":\"flat\"}";
    assert_int_equal(arm_error_parse(&e, flat, strlen(flat)), 0);
    assert_string_equal(e.code, "B");
    assert_string_equal(e.message, "flat");
    assert_int_equal(arm_error_parse(&e, entra, strlen(entra)), 0);
    assert_string_equal(e.code, "invalid_client");
    assert_non_null(strstr(e.message, "AADSTS7000215"));
    assert_null(strchr(e.message, '\n'));
    assert_int_equal(arm_error_parse(&e, "<html>", 6), AMLSEC_ENOTFOUND);
    assert_int_equal(arm_error_parse(&e, "{\"id\":1}", 8), AMLSEC_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arm_client__headers_and_url),
        cmocka_unit_test(test_arm_client__streaming_submit_next_abandon),
        cmocka_unit_test(test_arm_client__client_failure_leaves_outcome_unknown),
        cmocka_unit_test(test_arm_client__429_storm_honours_retry_after),
        cmocka_unit_test(test_arm_client__retry_after_past_deadline_fails_fast),
        cmocka_unit_test(test_arm_client__5xx_and_reset_retried_with_backoff),
        cmocka_unit_test(test_arm_client__gives_up_at_the_deadline),
        cmocka_unit_test(test_arm_client__slow_response_past_deadline),
        cmocka_unit_test(test_arm_client__4xx_fails_fast_with_arm_error),
        cmocka_unit_test(test_arm_client__409_in_progress_retried),
        cmocka_unit_test(test_arm_client__delete_retried_meets_404_success),
        cmocka_unit_test(test_arm_client__post_not_retried_unless_safe),
        cmocka_unit_test(test_arm_client__lro_azure_async_operation),
        cmocka_unit_test(test_arm_client__lro_location_delete),
        cmocka_unit_test(test_arm_client__lro_final_state_location_put),
        cmocka_unit_test(test_arm_client__lro_failed_and_canceled),
        cmocka_unit_test(test_arm_client__lro_poll_resource_provisioning_state),
        cmocka_unit_test(test_arm_client__lro_refuses_foreign_poll_host),
        cmocka_unit_test(test_arm_client__refuses_arm_token_to_foreign_host),
        cmocka_unit_test(test_arm_client__parallelism_limit),
        cmocka_unit_test(test_arm_client__rate_limiter_paces_a_large_run),
        cmocka_unit_test(test_arm_client__adapts_to_remaining_headers),
        cmocka_unit_test(test_arm_client__expired_token_signs_in_again_once),
        cmocka_unit_test(test_arm_client__ratelimit_math),
        cmocka_unit_test(test_arm_client__huge_retry_after_fails_fast),
        cmocka_unit_test(test_arm_client__backoff_and_retry_after_parsing),
        cmocka_unit_test(test_arm_client__error_body_shapes),
        cmocka_unit_test(test_arm_client__background_calls_wait_behind_others),
        cmocka_unit_test(test_arm_client__background_calls_brought_forward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
