/* The ARM client over real libcurl against a loopback HTTP server
 * (libmicrohttpd) that misbehaves on purpose: 429 storms, 5xx, connections
 * closed without an answer, slow answers past the deadline, oversized
 * bodies, long-running operations that fail. Request counts come from the
 * server's own log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "providers/arm/arm_client.h"
#include "providers/arm/http.h"
#include "util/error.h"

struct server {
    struct MHD_Daemon *d;
    unsigned short port;
    char base[64];
    pthread_mutex_t lock;
    pthread_cond_t paired; /* /pair: a second request arrived */
    unsigned pairing, pair_max;
    unsigned requests, connections, active, max_active;
    unsigned storm_left, flaky_left, reset_left, poll_count;
    char last_ua[128], last_rid[64];
};

static struct server srv;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body,
                             const char *h1, const char *v1, const char *h2, const char *v2)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (h1)
        MHD_add_response_header(r, h1, v1);
    if (h2)
        MHD_add_response_header(r, h2, v2);
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)c;
    (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        pthread_mutex_lock(&srv.lock);
        srv.connections++;
        pthread_mutex_unlock(&srv.lock);
    }
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    static int marker;
    const char *ua, *rid;
    enum MHD_Result ret;
    char loc[128];
    (void)cls;
    (void)version;
    (void)upload;
    (void)method;

    if (*con_cls == NULL) {
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&srv.lock);
    srv.requests++;
    if (strcmp(url, "/busy") == 0 && ++srv.active > srv.max_active)
        srv.max_active = srv.active;
    ua = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
    rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-ms-client-request-id");
    snprintf(srv.last_ua, sizeof(srv.last_ua), "%s", ua ? ua : "");
    snprintf(srv.last_rid, sizeof(srv.last_rid), "%s", rid ? rid : "");
    pthread_mutex_unlock(&srv.lock);

    if (strcmp(url, "/ok") == 0) {
        ret = reply(conn, 200, "{\"id\":\"/ok\"}", NULL, NULL, NULL, NULL);
    } else if (strcmp(url, "/busy") == 0) {
        usleep(50 * 1000);
        ret = reply(conn, 200, "{}", NULL, NULL, NULL, NULL);
    } else if (strcmp(url, "/storm") == 0) {
        pthread_mutex_lock(&srv.lock);
        int left = srv.storm_left > 0 ? (int)srv.storm_left-- : 0;
        pthread_mutex_unlock(&srv.lock);
        if (left == 1) /* the last one uses whole seconds */
            ret = reply(conn, 429, "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"x\"}}",
                        "Retry-After", "1", NULL, NULL);
        else if (left > 1)
            ret = reply(conn, 429, "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"x\"}}",
                        "retry-after-ms", "50", NULL, NULL);
        else
            ret = reply(conn, 200, "{}", NULL, NULL, NULL, NULL);
    } else if (strcmp(url, "/flaky") == 0) {
        pthread_mutex_lock(&srv.lock);
        int left = srv.flaky_left > 0 ? (int)srv.flaky_left-- : 0;
        pthread_mutex_unlock(&srv.lock);
        ret = left ? reply(conn, 503, "", NULL, NULL, NULL, NULL)
                   : reply(conn, 200, "{}", NULL, NULL, NULL, NULL);
    } else if (strcmp(url, "/reset") == 0) {
        pthread_mutex_lock(&srv.lock);
        int left = srv.reset_left > 0 ? (int)srv.reset_left-- : 0;
        pthread_mutex_unlock(&srv.lock);
        ret = left ? MHD_NO /* close without an answer */
                   : reply(conn, 200, "{}", NULL, NULL, NULL, NULL);
    } else if (strcmp(url, "/pair") == 0) {
        /* waits (up to 2 s) for another /pair to be in progress at once:
         * pair_max says whether two were */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 2;
        pthread_mutex_lock(&srv.lock);
        if (++srv.pairing > srv.pair_max)
            srv.pair_max = srv.pairing;
        pthread_cond_broadcast(&srv.paired);
        while (srv.pair_max < 2 && pthread_cond_timedwait(&srv.paired, &srv.lock, &until) == 0)
            ;
        srv.pairing--;
        pthread_mutex_unlock(&srv.lock);
        ret = reply(conn, 200, "{}", NULL, NULL, NULL, NULL);
    } else if (strcmp(url, "/slow") == 0) {
        usleep(1500 * 1000);
        ret = reply(conn, 200, "{}", NULL, NULL, NULL, NULL);
    } else if (strcmp(url, "/big") == 0) {
        char *big = malloc(200000);
        memset(big, 'a', 199999);
        big[199999] = '\0';
        ret = reply(conn, 200, big, NULL, NULL, NULL, NULL);
        free(big);
    } else if (strcmp(url, "/forbidden") == 0) {
        ret = reply(conn, 403,
                    "{\"error\":{\"code\":\"AuthorizationFailed\",\"message\":\"no\",\"target\":"
                    "\"t\"}}",
                    NULL, NULL, NULL, NULL);
    } else if (strcmp(url, "/lro") == 0) {
        snprintf(loc, sizeof(loc), "%s/op/1", srv.base);
        ret = reply(conn, 201, "{\"properties\":{\"provisioningState\":\"Creating\"}}",
                    "Azure-AsyncOperation", loc, "Retry-After", "0");
    } else if (strcmp(url, "/op/1") == 0) {
        pthread_mutex_lock(&srv.lock);
        unsigned n = ++srv.poll_count;
        pthread_mutex_unlock(&srv.lock);
        ret = n < 3
                  ? reply(conn, 200, "{\"status\":\"InProgress\"}", "Retry-After", "0", NULL, NULL)
                  : reply(conn, 200,
                          "{\"status\":\"Failed\",\"error\":{\"code\":\"QuotaExceeded\","
                          "\"message\":\"no cores\"}}",
                          NULL, NULL, NULL, NULL);
    } else {
        ret = reply(conn, 404, "{\"error\":{\"code\":\"NotFound\",\"message\":\"no\"}}", NULL, NULL,
                    NULL, NULL);
    }
    if (strcmp(url, "/busy") == 0) {
        pthread_mutex_lock(&srv.lock);
        srv.active--;
        pthread_mutex_unlock(&srv.lock);
    }
    return ret;
}

static int setup(void **state)
{
    const union MHD_DaemonInfo *info;
    (void)state;
    memset(&srv, 0, sizeof(srv));
    pthread_mutex_init(&srv.lock, NULL);
    pthread_cond_init(&srv.paired, NULL);
    srv.d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                 MHD_USE_ERROR_LOG,
                             0, NULL, NULL, handler, NULL, MHD_OPTION_NOTIFY_CONNECTION,
                             on_connection, NULL, MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    if (srv.d == NULL)
        return -1;
    info = MHD_get_daemon_info(srv.d, MHD_DAEMON_INFO_BIND_PORT);
    srv.port = info->port;
    snprintf(srv.base, sizeof(srv.base), "http://127.0.0.1:%u", srv.port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(srv.d);
    pthread_cond_destroy(&srv.paired);
    pthread_mutex_destroy(&srv.lock);
    return 0;
}

struct env {
    struct transport *t;
    struct arm_cloud *cloud;
    struct arm_client *client;
};

static void env_setup(struct env *e, unsigned parallelism, size_t max_response)
{
    struct errbuf err = ERRBUF_INIT;
    struct http_opts ho = HTTP_OPTS_INIT;
    struct arm_client_opts o = {0};
    ho.max_connections = parallelism;
    assert_int_equal(http_transport_new(&e->t, &ho, &err), 0);
    assert_int_equal(
        arm_cloud_custom(&e->cloud, "local", srv.base, srv.base, NULL, NULL, NULL, &err), 0);
    o.cloud = e->cloud;
    o.transport = e->t;
    o.parallelism = parallelism;
    o.backoff_base_ms = 20;
    o.backoff_cap_ms = 200;
    o.lro_poll_ms = 10;
    o.timeout_ms = 20000;
    o.max_response = max_response;
    assert_int_equal(arm_client_new(&e->client, &o, &err), 0);
    pthread_mutex_lock(&srv.lock);
    srv.requests = srv.connections = srv.max_active = 0;
    pthread_mutex_unlock(&srv.lock);
}

static void env_teardown(struct env *e)
{
    arm_client_free(e->client);
    arm_cloud_free(e->cloud);
    transport_free(e->t);
}

static unsigned server_requests(void)
{
    unsigned n;
    pthread_mutex_lock(&srv.lock);
    n = srv.requests;
    pthread_mutex_unlock(&srv.lock);
    return n;
}

static void test_arm_http__get_reuses_connections(void **state)
{
    struct env e;
    (void)state;
    env_setup(&e, 4, 0);
    for (int i = 0; i < 20; i++) {
        struct arm_call c = {.method = "GET", .url = "/ok"};
        assert_int_equal(arm_client_call(e.client, &c), 0);
        assert_string_equal(c.response, "{\"id\":\"/ok\"}");
        assert_int_equal(c.status, 200);
        arm_call_release(&c);
    }
    assert_int_equal(server_requests(), 20);
    assert_true(srv.connections <= 2);
    assert_string_equal(srv.last_ua, "amlsec/" AMLSEC_VERSION);
    assert_int_equal(strlen(srv.last_rid), 36);
    env_teardown(&e);
}

static void test_arm_http__429_storm(void **state)
{
    struct env e;
    struct arm_call c = {.method = "GET", .url = "/storm"};
    (void)state;
    env_setup(&e, 4, 0);
    srv.storm_left = 4;
    assert_int_equal(arm_client_call(e.client, &c), 0);
    assert_int_equal(c.requests, 5);
    assert_int_equal(server_requests(), 5);
    arm_call_release(&c);
    env_teardown(&e);
}

static void test_arm_http__5xx_and_resets_retried(void **state)
{
    struct env e;
    struct arm_call c = {.method = "PUT", .url = "/flaky", .body = "{\"a\":1}"};
    struct arm_call r = {.method = "GET", .url = "/reset"};
    (void)state;
    env_setup(&e, 4, 0);
    srv.flaky_left = 2;
    srv.reset_left = 2;
    assert_int_equal(arm_client_call(e.client, &c), 0);
    assert_int_equal(c.requests, 3);
    assert_int_equal(arm_client_call(e.client, &r), 0);
    /* libcurl itself resends once when a reused connection turns out dead,
     * so the client may count one attempt fewer than the server saw */
    assert_true(r.requests >= 2 && r.requests <= 3);
    assert_int_equal(server_requests(), 6);
    arm_call_release(&c);
    arm_call_release(&r);
    env_teardown(&e);
}

static void test_arm_http__slow_response_past_deadline(void **state)
{
    struct env e;
    struct arm_call c = {.method = "GET", .url = "/slow"};
    (void)state;
    env_setup(&e, 4, 0);
    c.deadline_ms = arm_clock_now(arm_clock_real()) + 400;
    assert_int_equal(arm_client_call(e.client, &c), AMLSEC_EHTTP);
    assert_non_null(strstr(c.err.msg, "timed out"));
    assert_int_equal(c.requests, 1);
    arm_call_release(&c);
    env_teardown(&e);
}

static void test_arm_http__fail_fast_and_size_cap(void **state)
{
    struct env e;
    struct arm_call c = {.method = "GET", .url = "/forbidden"};
    struct arm_call b = {.method = "GET", .url = "/big"};
    (void)state;
    env_setup(&e, 4, 100000);
    assert_int_equal(arm_client_call(e.client, &c), AMLSEC_EHTTP);
    assert_string_equal(c.error.code, "AuthorizationFailed");
    assert_int_equal(c.requests, 1);
    assert_int_equal(arm_client_call(e.client, &b), AMLSEC_EHTTP);
    assert_non_null(strstr(b.err.msg, "larger than 100000 bytes"));
    assert_int_equal(b.requests, 1);
    assert_int_equal(server_requests(), 2);
    arm_call_release(&c);
    arm_call_release(&b);
    env_teardown(&e);
}

static void test_arm_http__lro_failure_surfaces_code(void **state)
{
    struct env e;
    struct arm_call c = {.method = "PUT", .url = "/lro", .body = "{}", .lro = LRO_DEFAULT};
    (void)state;
    env_setup(&e, 4, 0);
    srv.poll_count = 0;
    assert_int_equal(arm_client_call(e.client, &c), AMLSEC_EHTTP);
    assert_string_equal(c.error.code, "QuotaExceeded");
    assert_int_equal(c.requests, 4);
    assert_int_equal(server_requests(), 4);
    arm_call_release(&c);
    env_teardown(&e);
}

static void test_arm_http__concurrency_limit(void **state)
{
    struct env e;
    struct arm_call calls[24];
    struct errbuf err = ERRBUF_INIT;
    (void)state;
    env_setup(&e, 3, 0);
    memset(calls, 0, sizeof(calls));
    for (int i = 0; i < 24; i++) {
        calls[i].method = "GET";
        calls[i].url = "/busy";
    }
    assert_int_equal(arm_client_run(e.client, calls, 24, &err), 0);
    for (int i = 0; i < 24; i++) {
        assert_int_equal(calls[i].rc, 0);
        arm_call_release(&calls[i]);
    }
    assert_int_equal(server_requests(), 24);
    assert_true(srv.max_active <= 3);
    assert_true(srv.max_active >= 2); /* really concurrent */
    env_teardown(&e);
}

/* The first two requests of a client over plain http:// (the local cloud)
 * are sent at once: curl's wait for a new connection to tell whether it
 * multiplexes (PIPEWAIT) is kept for TLS, where HTTP/2 says so in the
 * handshake; over HTTP/1.1 the second request waited for the first's answer
 * (a plan's group GET and its Resource Graph query, one round trip after
 * the other). */
static void test_arm_http__first_requests_concurrent(void **state)
{
    struct env e;
    struct arm_call calls[2];
    struct errbuf err = ERRBUF_INIT;
    (void)state;
    env_setup(&e, 4, 0);
    pthread_mutex_lock(&srv.lock);
    srv.pair_max = 0;
    pthread_mutex_unlock(&srv.lock);
    memset(calls, 0, sizeof(calls));
    for (int i = 0; i < 2; i++) {
        calls[i].method = "GET";
        calls[i].url = "/pair";
    }
    assert_int_equal(arm_client_run(e.client, calls, 2, &err), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(calls[i].rc, 0);
        arm_call_release(&calls[i]);
    }
    print_message("the first two requests: %u in progress at once\n", srv.pair_max);
    assert_int_equal(srv.pair_max, 2);
    assert_int_equal(srv.connections, 2);
    env_teardown(&e);
}

static void test_arm_http__connection_refused_until_deadline(void **state)
{
    struct errbuf err = ERRBUF_INIT;
    struct transport *t;
    struct arm_cloud *cloud;
    struct arm_client *client;
    struct arm_client_opts o = {0};
    struct arm_call c = {.method = "GET", .url = "/ok"};
    (void)state;
    assert_int_equal(http_transport_new(&t, NULL, &err), 0);
    /* port 1 on loopback: nothing listens */
    assert_int_equal(arm_cloud_custom(&cloud, "local", "http://127.0.0.1:1", "http://127.0.0.1:1",
                                      NULL, NULL, NULL, &err),
                     0);
    o.cloud = cloud;
    o.transport = t;
    o.backoff_base_ms = 10;
    o.backoff_cap_ms = 50;
    o.timeout_ms = 500;
    assert_int_equal(arm_client_new(&client, &o, &err), 0);
    assert_int_equal(arm_client_call(client, &c), AMLSEC_EHTTP);
    assert_non_null(strstr(c.err.msg, "cannot connect"));
    assert_true(c.requests >= 2);
    arm_call_release(&c);
    arm_client_free(client);
    arm_cloud_free(cloud);
    transport_free(t);
}

static void test_arm_http__plain_http_only_to_loopback(void **state)
{
    struct errbuf err = ERRBUF_INIT;
    (void)state;
    assert_int_equal(http_url_allowed("https://management.azure.com/x", &err), 0);
    assert_int_equal(http_url_allowed("http://127.0.0.1:8080/x", &err), 0);
    assert_int_equal(http_url_allowed("http://localhost/x", &err), 0);
    assert_int_equal(http_url_allowed("http://169.254.169.254/metadata", &err), 0);
    assert_int_equal(http_url_allowed("http://management.azure.com/x", &err), AMLSEC_EUSAGE);
    assert_non_null(strstr(err.msg, "refusing plain http"));
    assert_int_equal(http_url_allowed("ftp://127.0.0.1/x", &err), AMLSEC_EUSAGE);
    assert_int_equal(http_url_allowed("not a url", &err), AMLSEC_EUSAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arm_http__get_reuses_connections),
        cmocka_unit_test(test_arm_http__429_storm),
        cmocka_unit_test(test_arm_http__5xx_and_resets_retried),
        cmocka_unit_test(test_arm_http__slow_response_past_deadline),
        cmocka_unit_test(test_arm_http__fail_fast_and_size_cap),
        cmocka_unit_test(test_arm_http__lro_failure_surfaces_code),
        cmocka_unit_test(test_arm_http__concurrency_limit),
        cmocka_unit_test(test_arm_http__first_requests_concurrent),
        cmocka_unit_test(test_arm_http__connection_refused_until_deadline),
        cmocka_unit_test(test_arm_http__plain_http_only_to_loopback),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
