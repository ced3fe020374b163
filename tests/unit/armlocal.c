/* Unit tests for providers/armlocal: the embedding API (start on port 0,
 * stop), concurrency, persistence across restarts, the socket-free
 * handler, option parsing. HTTP goes through libcurl to an in-process server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "providers/armlocal/armlocal.h"
#include "util/buf.h"
#include "util/error.h"

#define SUB "/subscriptions/00000000-0000-0000-0000-0000000000u1"

struct reply {
    long status;
    struct buf body;
    char location[1024];
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct reply *r = ud;
    buf_add(&r->body, p, sz * n);
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t len = sz * n;
    if (len > 10 && strncasecmp(p, "Location: ", 10) == 0) {
        size_t m = len - 10;
        while (m > 0 && (p[10 + m - 1] == '\r' || p[10 + m - 1] == '\n'))
            m--;
        if (m >= sizeof(r->location))
            m = sizeof(r->location) - 1;
        memcpy(r->location, p + 10, m);
        r->location[m] = '\0';
    }
    return len;
}

/* method url [json]: fills r (caller releases r->body) */
static void http(struct reply *r, const char *method, const char *url, const char *json)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hd = NULL;
    memset(r, 0, sizeof(*r));
    buf_init(&r->body, 1 << 24);
    assert_non_null(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    if (json) {
        hd = curl_slist_append(hd, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    }
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
}

static long http_status(const char *method, const char *url, const char *json)
{
    struct reply r;
    http(&r, method, url, json);
    buf_release(&r.body);
    return r.status;
}

static void test_armlocal__start_on_ephemeral_port(void **state)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al;
    char url[512];
    (void)state;
    assert_int_equal(armlocal_start(&al, &o, &err), 0);
    assert_true(strncmp(armlocal_base_url(al), "http://127.0.0.1:", 17) == 0);
    assert_true(strcmp(armlocal_base_url(al), "http://127.0.0.1:0") != 0);
    snprintf(url, sizeof(url), "%s" SUB "/resourceGroups/x?api-version=2024-03-01",
             armlocal_base_url(al));
    assert_int_equal(http_status("GET", url, NULL), 404);
    assert_int_equal(http_status("PUT", url, "{\"location\":\"eastus\"}"), 201);
    assert_int_equal(http_status("GET", url, NULL), 200);
    armlocal_stop(al);
}

static void test_armlocal__refuses_non_loopback(void **state)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al = NULL;
    (void)state;
    o.listen_host = "0.0.0.0";
    assert_int_equal(armlocal_start(&al, &o, &err), AMLSEC_EUSAGE);
    assert_null(al);
    assert_non_null(strstr(err.msg, "loopback"));
}

struct worker {
    const char *base;
    int id, ok;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    char url[512];
    for (int i = 0; i < 25; i++) {
        snprintf(url, sizeof(url), "%s" SUB "/resourceGroups/w%d-%d?api-version=2024-03-01",
                 w->base, w->id, i);
        if (http_status("PUT", url, "{\"location\":\"eastus\"}") == 201 &&
            http_status("GET", url, NULL) == 200)
            w->ok++;
    }
    return NULL;
}

static void test_armlocal__concurrent_requests(void **state)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al;
    struct worker w[8];
    pthread_t t[8];
    struct reply r;
    char url[512], dir[] = "/tmp/armlocal-unit-XXXXXX";
    json_t *doc;
    (void)state;
    assert_non_null(mkdtemp(dir));
    o.data_dir = dir;
    assert_int_equal(armlocal_start(&al, &o, &err), 0);
    for (int i = 0; i < 8; i++) {
        w[i].base = armlocal_base_url(al);
        w[i].id = i;
        w[i].ok = 0;
        assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, 25);
    }
    snprintf(url, sizeof(url), "%s" SUB "/resourceGroups?api-version=2024-03-01",
             armlocal_base_url(al));
    http(&r, "GET", url, NULL);
    doc = json_loads(r.body.ptr, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(doc, "value")), 200);
    json_decref(doc);
    buf_release(&r.body);
    armlocal_stop(al);

    /* everything was persisted: a new server on the same dir sees it */
    assert_int_equal(armlocal_start(&al, &o, &err), 0);
    snprintf(url, sizeof(url), "%s" SUB "/resourceGroups/w7-24?api-version=2024-03-01",
             armlocal_base_url(al));
    assert_int_equal(http_status("GET", url, NULL), 200);
    armlocal_stop(al);
    snprintf(url, sizeof(url), "rm -rf '%s'", dir);
    assert_int_equal(system(url), 0);
}

static void test_armlocal__group_commit_flushes_at_stop(void **state)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al;
    char url[512], dir[] = "/tmp/armlocal-unit-XXXXXX";
    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(armlocal_opts_embedded(&o, dir, url, sizeof(url), &err), 0);
    assert_int_equal(o.flush_ms, 50);
    o.flush_ms = 10000; /* nothing is written before stop */
    assert_int_equal(armlocal_start(&al, &o, &err), 0);
    for (int i = 0; i < 20; i++) {
        char u[512];
        snprintf(u, sizeof(u), "%s" SUB "/resourceGroups/g%d?api-version=2024-03-01",
                 armlocal_base_url(al), i);
        assert_int_equal(http_status("PUT", u, "{\"location\":\"eastus\"}"), 201);
    }
    armlocal_stop(al); /* flushes */
    o.flush_ms = 0;
    assert_int_equal(armlocal_start(&al, &o, &err), 0);
    {
        char u[512];
        snprintf(u, sizeof(u), "%s" SUB "/resourceGroups/g19?api-version=2024-03-01",
                 armlocal_base_url(al));
        assert_int_equal(http_status("GET", u, NULL), 200);
    }
    armlocal_stop(al);
    snprintf(url, sizeof(url), "rm -rf '%s'", dir);
    assert_int_equal(system(url), 0);
}

static void test_armlocal__lro_location_polling(void **state)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al;
    struct reply r;
    char url[512], loc[1024];
    int polls = 0;
    (void)state;
    o.lro_ms = 600;
    assert_int_equal(armlocal_start(&al, &o, &err), 0);
    snprintf(url, sizeof(url), "%s" SUB "/resourceGroups/rg?api-version=2024-03-01",
             armlocal_base_url(al));
    assert_int_equal(http_status("PUT", url, "{\"location\":\"eastus\"}"), 201);
    snprintf(url, sizeof(url),
             "%s" SUB "/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/"
             "ws1?api-version=2025-09-01",
             armlocal_base_url(al));
    http(&r, "PUT", url, "{\"location\":\"eastus\"}");
    assert_int_equal(r.status, 202);
    assert_int_equal(r.body.len, 0);
    memcpy(loc, r.location, sizeof(loc));
    buf_release(&r.body);
    assert_true(strncmp(loc, armlocal_base_url(al), strlen(armlocal_base_url(al))) == 0);
    assert_int_equal(http_status("GET", url, NULL), 404); /* invisible until done */
    for (;;) {
        http(&r, "GET", loc, NULL);
        if (r.status != 202)
            break;
        buf_release(&r.body);
        polls++;
        usleep(30000);
    }
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.ptr, "\"provisioningState\":\"Succeeded\""));
    buf_release(&r.body);
    assert_true(polls >= 1);
    assert_int_equal(http_status("GET", url, NULL), 200);
    armlocal_stop(al);
}

static void test_armlocal__handle_without_sockets(void **state)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al;
    struct armlocal_response res;
    struct armlocal_kv q[] = {{"api-version", "2024-03-01"}};
    struct armlocal_kv h[] = {{"Content-Type", "application/json"}};
    struct armlocal_request req = {"PUT", SUB "/resourceGroups/a", q,  1, h,
                                   1,     "{\"location\":\"x\"}",  16, 0};
    (void)state;
    assert_int_equal(armlocal_create(&al, &o, "http://127.0.0.1:9", &err), 0);
    armlocal_response_init(&res);
    armlocal_handle(al, &req, &res);
    assert_int_equal(res.status, 201);
    armlocal_response_release(&res);

    req.body = "{\"location\":";
    req.body_len = strlen(req.body);
    armlocal_response_init(&res);
    armlocal_handle(al, &req, &res);
    assert_int_equal(res.status, 400);
    assert_non_null(strstr(res.body.ptr, "InvalidRequestContent"));
    armlocal_response_release(&res);

    req.body_too_large = 1;
    armlocal_response_init(&res);
    armlocal_handle(al, &req, &res);
    assert_int_equal(res.status, 413);
    armlocal_response_release(&res);
    armlocal_free(al);
}

static void test_armlocal__opts_set(void **state)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    (void)state;
    assert_int_equal(armlocal_opts_set(&o, "listen", "127.0.0.1:8080", &err), 0);
    assert_int_equal(o.port, 8080);
    assert_string_equal(o.listen_host, "127.0.0.1");
    assert_int_equal(armlocal_opts_set(&o, "lro-ms", "25", &err), 0);
    assert_int_equal(armlocal_opts_set(&o, "flush-ms", "40", &err), 0);
    assert_int_equal(o.flush_ms, 40);
    assert_int_equal(o.lro_ms, 25);
    assert_int_equal(armlocal_opts_set(&o, "throttle", "arm", &err), 0);
    assert_int_equal(o.throttle, 1);
    assert_int_equal(armlocal_opts_set(&o, "listen", "nocolon", &err), AMLSEC_EUSAGE);
    assert_int_equal(armlocal_opts_set(&o, "latency-ms", "-3", &err), AMLSEC_EUSAGE);
    assert_int_equal(armlocal_opts_set(&o, "auth", "sometimes", &err), AMLSEC_EUSAGE);
    assert_int_equal(armlocal_opts_set(&o, "bogus", "1", &err), AMLSEC_EUSAGE);
    o.faults = "kind=nope";
    {
        struct armlocal *al = NULL;
        assert_int_equal(armlocal_create(&al, &o, "http://x", &err), AMLSEC_EUSAGE);
        assert_non_null(strstr(err.msg, "unknown fault kind"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_armlocal__start_on_ephemeral_port),
        cmocka_unit_test(test_armlocal__refuses_non_loopback),
        cmocka_unit_test(test_armlocal__concurrent_requests),
        cmocka_unit_test(test_armlocal__group_commit_flushes_at_stop),
        cmocka_unit_test(test_armlocal__lro_location_polling),
        cmocka_unit_test(test_armlocal__handle_without_sockets),
        cmocka_unit_test(test_armlocal__opts_set),
    };
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
