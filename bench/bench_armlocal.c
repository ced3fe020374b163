/* bench_armlocal: how fast the local cloud answers, socket-free
 * (armlocal_handle) and over HTTP (libcurl, one keep-alive connection),
 * with N resources stored, and with --data (each write synced before its
 * answer): PUT and DELETE medians and the bytes written per write. Prints
 * medians in microseconds.
 *
 * Usage: bench_armlocal [N]   (default 1000) */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/armlocal/armlocal.h"
#include "util/banned.h"

#define SUB "/subscriptions/00000000-0000-0000-0000-0000000000b1/resourceGroups/rg"
/* a vault PUT as ARM requires it (tenant and sku) */
#define VAULT(props)                                                                               \
    "{\"location\":\"eastus\",\"properties\":{\"tenantId\":\"00000000-0000-0000-0000-"             \
    "0000000000b1\",\"sku\":{\"name\":\"standard\",\"family\":\"A\"}" props "}}"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n ? v[n / 2] : 0;
}

static int handle(struct armlocal *al, const char *method, const char *path, const char *version,
                  const char *body)
{
    struct armlocal_kv q[] = {{"api-version", version}};
    struct armlocal_kv h[] = {{"Content-Type", "application/json"}};
    struct armlocal_request req = {method, path, q, 1, h, 1, body, body ? strlen(body) : 0, 0};
    struct armlocal_response res;
    int status;
    armlocal_response_init(&res);
    armlocal_handle(al, &req, &res);
    status = res.status;
    armlocal_response_release(&res);
    return status;
}

/* The bytes --data persistence wrote so far (GET /_armlocal/persist). */
static double persist_bytes(struct armlocal *al)
{
    struct armlocal_response res;
    struct armlocal_request req = {"GET", "/_armlocal/persist", NULL, 0, NULL, 0, NULL, 0, 0};
    json_t *doc;
    double v = 0;
    armlocal_response_init(&res);
    armlocal_handle(al, &req, &res);
    doc = json_loadb(res.body.ptr, res.body.len, 0, NULL);
    v = (double)json_integer_value(json_object_get(doc, "bytesWritten"));
    json_decref(doc);
    armlocal_response_release(&res);
    return v;
}

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

int main(int argc, char **argv)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al;
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
    double *put, *get, list_us, t0;
    char path[512], url[1024];
    CURL *h;
    struct curl_slist *hd;

    if (n <= 0 || n > 1000000) {
        fprintf(stderr, "usage: bench_armlocal [N]\n");
        return 1;
    }
    put = calloc((size_t)n, sizeof(*put));
    get = calloc((size_t)n, sizeof(*get));
    o.lro_ms = 0;
    if (put == NULL || get == NULL || armlocal_create(&al, &o, "http://127.0.0.1:1", &err) < 0) {
        fprintf(stderr, "bench_armlocal: %s\n", err.msg);
        return 1;
    }
    handle(al, "PUT", SUB, "2024-03-01", "{\"location\":\"eastus\"}");
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof(path), SUB "/providers/Microsoft.KeyVault/vaults/kv%ld", i);
        t0 = now_us();
        if (handle(al, "PUT", path, "2025-05-01", VAULT(",\"enablePurgeProtection\":true")) !=
            201) {
            fprintf(stderr, "bench_armlocal: PUT failed\n");
            return 1;
        }
        put[i] = now_us() - t0;
    }
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof(path), SUB "/providers/Microsoft.KeyVault/vaults/kv%ld", i);
        t0 = now_us();
        handle(al, "GET", path, "2025-05-01", NULL);
        get[i] = now_us() - t0;
    }
    t0 = now_us();
    handle(al, "GET", SUB "/providers/Microsoft.KeyVault/vaults", "2025-05-01", NULL);
    list_us = now_us() - t0;
    printf("bench_armlocal: %ld vaults, in memory, socket-free\n", n);
    printf("  PUT  median %8.1f us\n", median(put, (size_t)n));
    printf("  GET  median %8.1f us\n", median(get, (size_t)n));
    printf("  list        %8.1f us (%ld items)\n", list_us, n);
    armlocal_free(al);

    /* with --data: every write appended to the log and synced */
    {
        char dir[] = "/tmp/bench-armlocal-XXXXXX", cmd[128];
        struct armlocal_opts d = ARMLOCAL_OPTS_INIT;
        double *del = calloc((size_t)n, sizeof(*del)), bytes = 0;
        long m = n < 200 ? n : 200;
        d.lro_ms = 0;
        d.flush_ms = 0;
        if (del == NULL || mkdtemp(dir) == NULL) {
            fprintf(stderr, "bench_armlocal: cannot make a data directory\n");
            return 1;
        }
        d.data_dir = dir;
        if (armlocal_create(&al, &d, "http://127.0.0.1:1", &err) < 0) {
            fprintf(stderr, "bench_armlocal: %s\n", err.msg);
            return 1;
        }
        handle(al, "PUT", SUB, "2024-03-01", "{\"location\":\"eastus\"}");
        for (long i = 0; i < n; i++) {
            snprintf(path, sizeof(path), SUB "/providers/Microsoft.KeyVault/vaults/kv%ld", i);
            if (i == n - m)
                bytes = persist_bytes(al);
            t0 = now_us();
            if (handle(al, "PUT", path, "2025-05-01", VAULT("")) != 201) {
                fprintf(stderr, "bench_armlocal: PUT failed\n");
                return 1;
            }
            put[i] = now_us() - t0;
        }
        bytes = (persist_bytes(al) - bytes) / (double)m;
        for (long i = 0; i < m; i++) {
            snprintf(path, sizeof(path), SUB "/providers/Microsoft.KeyVault/vaults/kv%ld", i);
            t0 = now_us();
            handle(al, "DELETE", path, "2025-05-01", NULL);
            del[i] = now_us() - t0;
        }
        printf("bench_armlocal: %ld vaults, --data (synced per write), socket-free\n", n);
        printf("  PUT  median %8.1f us (last %ld: %.0f bytes written per write)\n",
               median(put + (n - m), (size_t)m), m, bytes);
        printf("  DELETE median %6.1f us (%ld)\n", median(del, (size_t)m), m);
        armlocal_free(al);
        free(del);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_armlocal: cannot remove %s\n", dir);
    }

    /* over HTTP, one keep-alive connection */
    if (armlocal_start(&al, &o, &err) < 0) {
        fprintf(stderr, "bench_armlocal: %s\n", err.msg);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    h = curl_easy_init();
    hd = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    snprintf(url, sizeof(url), "%s" SUB "?api-version=2024-03-01", armlocal_base_url(al));
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{\"location\":\"eastus\"}");
    curl_easy_perform(h);
    for (long i = 0; i < n; i++) {
        snprintf(url, sizeof(url),
                 "%s" SUB "/providers/Microsoft.KeyVault/vaults/kv%ld?api-version=2025-05-01",
                 armlocal_base_url(al), i);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, VAULT(""));
        t0 = now_us();
        curl_easy_perform(h);
        put[i] = now_us() - t0;
    }
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    for (long i = 0; i < n; i++) {
        snprintf(url, sizeof(url),
                 "%s" SUB "/providers/Microsoft.KeyVault/vaults/kv%ld?api-version=2025-05-01",
                 armlocal_base_url(al), i);
        curl_easy_setopt(h, CURLOPT_URL, url);
        t0 = now_us();
        curl_easy_perform(h);
        get[i] = now_us() - t0;
    }
    printf("bench_armlocal: %ld vaults, in memory, HTTP keep-alive\n", n);
    printf("  PUT  median %8.1f us\n", median(put, (size_t)n));
    printf("  GET  median %8.1f us\n", median(get, (size_t)n));
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    armlocal_stop(al);
    free(put);
    free(get);
    return 0;
}
