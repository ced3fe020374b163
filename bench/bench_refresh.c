/* bench_refresh: refresh N resources from armlocal two ways, side by side.
 *
 *   (a) amlsec's bulk read: Resource Graph, ceil(N/1000) queries;
 *   (b) Terraform's way: one GET per resource at concurrency 10.
 *
 * Usage: bench_refresh [URL] [-n 5000] [-subscriptions S] [-runs 3]
 *                      [-parallelism 10] [-graph-batch 1000]
 * URL defaults to $ARMLOCAL_URL. Start armlocal as the issue says:
 *   amlsec-armlocal --listen 127.0.0.1:8443 --latency-ms 30 --throttle arm --lro-ms 0
 * (without --auth required). The resources are seeded with plain ARM PUTs
 * (a resource group per subscription, then Key Vaults). ARM's write bucket
 * holds 200 per subscription and refills at 10/s, so by default they are
 * spread over ceil(N/200) subscriptions so that seeding does not wait
 * minutes; -subscriptions 1 puts them all in one subscription (then (b)
 * also meets the read bucket: 250, then 25/s).
 *
 * Prints the median wall time of each, the requests each sent (the
 * client's count and armlocal's request log), the 429s the client absorbed,
 * resources that failed to read (none should) and the ratio. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/arm/arm_client.h"
#include "providers/arm/arm_provider.h"
#include "providers/arm/cloud.h"
#include "providers/arm/http.h"
#include "util/error.h"
#include "util/log.h"

#define VAULT_TYPE "Microsoft.KeyVault/vaults"
#define VAULT_API "2025-05-01"
#define TENANT "72f988bf-86f1-41af-91ab-2d7cd011db47"

static const struct arm_kind_info vault_kind = {VAULT_TYPE, VAULT_API, LRO_DEFAULT,
                                                LRO_NONE,   LRO_NONE,  1};

static const struct arm_kind_info *lookup(const char *type, void *payload)
{
    (void)payload;
    return strcasecmp(type, VAULT_TYPE) == 0 ? &vault_kind : NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void log_stderr(enum log_level level, const char *msg, void *payload)
{
    (void)level;
    (void)payload;
    fprintf(stderr, "%s\n", msg);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct env {
    const char *url;
    struct transport *t;
    struct arm_cloud *cloud;
};

static int new_client(struct arm_client **out, struct env *e, unsigned parallelism)
{
    struct arm_client_opts o = {0};
    struct errbuf err = ERRBUF_INIT;
    o.cloud = e->cloud;
    o.transport = e->t;
    o.parallelism = parallelism;
    o.lro_poll_ms = 1000;
    if (arm_client_new(out, &o, &err) < 0) {
        fprintf(stderr, "bench_refresh: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* armlocal's request log: total requests since the last reset, or -1. */
static long server_log(struct env *e, int reset)
{
    struct http_exchange x;
    struct errbuf err = ERRBUF_INIT;
    char url[512];
    long total = -1;
    snprintf(url, sizeof(url), "%s/_armlocal/requests", e->url);
    http_exchange_init(&x);
    x.timeout_ms = 10000;
    if (http_exchange_set_request(&x, reset ? "DELETE" : "GET", url, NULL, 0) == 0 &&
        transport_roundtrip(e->t, &x, &err) == 0 && x.fail == HTTP_FAIL_NONE) {
        if (reset && x.status / 100 == 2) {
            total = 0;
        } else if (x.status == 200) {
            json_t *root = json_loadb(x.resp_body.ptr, x.resp_body.len, 0, NULL);
            if (json_is_integer(json_object_get(root, "total")))
                total = (long)json_integer_value(json_object_get(root, "total"));
            json_decref(root);
        }
    }
    http_exchange_release(&x);
    return total;
}

static int seed(struct env *e, char (*ids)[200], size_t n, unsigned subs)
{
    struct arm_client *c;
    struct arm_call *calls = calloc(n > subs ? n : subs, sizeof(*calls));
    char(*rgs)[160] = calloc(subs, sizeof(*rgs));
    struct errbuf err = ERRBUF_INIT;
    const char *body = "{\"location\":\"westeurope\",\"properties\":{\"tenantId\":\"" TENANT
                       "\",\"sku\":{\"family\":\"A\",\"name\":\"standard\"},"
                       "\"accessPolicies\":[],\"enableRbacAuthorization\":true}}";
    double t0 = now_s();
    size_t failed = 0;
    int rc = -1;

    if (calls == NULL || rgs == NULL || new_client(&c, e, 32) < 0)
        goto out;
    for (unsigned s = 0; s < subs; s++) {
        snprintf(rgs[s], sizeof(rgs[s]),
                 "/subscriptions/00000000-0000-0000-0000-%012u/resourceGroups/rg-bench", s + 1);
        calls[s].method = "PUT";
        calls[s].url = rgs[s];
        calls[s].api_version = "2021-04-01";
        calls[s].body = "{\"location\":\"westeurope\"}";
    }
    if (arm_client_run(c, calls, subs, &err) < 0) {
        fprintf(stderr, "bench_refresh: seeding resource groups: %s\n", err.msg);
        goto out_client;
    }
    for (unsigned s = 0; s < subs; s++) {
        if (calls[s].rc < 0) {
            fprintf(stderr, "bench_refresh: %s\n", calls[s].err.msg);
            failed++;
        }
        arm_call_release(&calls[s]);
    }
    if (failed)
        goto out_client;
    memset(calls, 0, n * sizeof(*calls));
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof(ids[i]), "%s/providers/" VAULT_TYPE "/kv-bench-%05zu",
                 rgs[i % subs], i);
        calls[i].method = "PUT";
        calls[i].url = ids[i];
        calls[i].api_version = VAULT_API;
        calls[i].body = body;
        calls[i].lro = LRO_DEFAULT;
    }
    if (arm_client_run(c, calls, n, &err) < 0) {
        fprintf(stderr, "bench_refresh: seeding: %s\n", err.msg);
        goto out_client;
    }
    for (size_t i = 0; i < n; i++) {
        if (calls[i].rc < 0 && failed++ < 3)
            fprintf(stderr, "bench_refresh: %s\n", calls[i].err.msg);
        arm_call_release(&calls[i]);
    }
    printf("seeded %zu Key Vaults in %u subscription(s) with %lu ARM requests in %.1f s "
           "(%lu 429s absorbed)\n",
           n, subs, arm_client_request_count(c), now_s() - t0, arm_client_throttled_count(c));
    rc = failed ? -1 : 0;
    if (failed)
        fprintf(stderr, "bench_refresh: %zu resources failed to seed\n", failed);
out_client:
    arm_client_free(c);
out:
    free(calls);
    free(rgs);
    return rc;
}

struct figures {
    double wall[16];
    unsigned long requests, throttled;
    long server_requests;
    size_t failed;
};

static unsigned graph_batch; /* 0 = 1000 */

/* One client and provider per mode, as in one amlsec run: what the
 * provider learns (e.g. a smaller Resource Graph batch) carries over. The
 * bulk runs are spaced by Resource Graph's quota window (5 s) so that each
 * starts with the quota a single refresh would have. */
static int refresh(struct env *e, struct provider_ref *refs, size_t n, int bulk,
                   unsigned parallelism, unsigned runs, struct figures *f)
{
    struct arm_client *c;
    struct provider *p;
    struct arm_provider_opts po = {0};
    struct errbuf err = ERRBUF_INIT;
    int rc = -1;

    memset(f, 0, sizeof(*f));
    if (new_client(&c, e, parallelism) < 0)
        return -1;
    po.client = c;
    po.lookup = lookup;
    po.no_graph = !bulk;
    po.graph_batch = graph_batch;
    if (arm_provider_new(&p, &po, &err) < 0) {
        fprintf(stderr, "bench_refresh: %s\n", err.msg);
        arm_client_free(c);
        return -1;
    }
    for (unsigned r = 0; r < runs; r++) {
        struct provider_result *res = calloc(n, sizeof(*res));
        unsigned long req0 = arm_client_request_count(c), thr0 = arm_client_throttled_count(c);
        double t0;
        if (res == NULL)
            goto out;
        if (bulk) {
            struct timespec pause = {5, 100000000};
            nanosleep(&pause, NULL);
        }
        server_log(e, 1);
        t0 = now_s();
        if (provider_read_many(p, refs, n, 0, res, &err) < 0) {
            fprintf(stderr, "bench_refresh: %s\n", err.msg);
            free(res);
            goto out;
        }
        f->wall[r] = now_s() - t0;
        f->server_requests = server_log(e, 0);
        f->requests = arm_client_request_count(c) - req0;
        f->throttled = arm_client_throttled_count(c) - thr0;
        f->failed = 0;
        for (size_t i = 0; i < n; i++)
            if (res[i].rc < 0 && f->failed++ < 3)
                fprintf(stderr, "bench_refresh: %s\n", res[i].err.msg);
        provider_results_release(res, n);
        free(res);
        printf("  %s run %u: %.3f s, %lu requests\n", bulk ? "(a)" : "(b)", r + 1, f->wall[r],
               f->requests);
        fflush(stdout);
    }
    qsort(f->wall, runs, sizeof(f->wall[0]), cmp_double);
    rc = 0;
out:
    provider_free(p);
    arm_client_free(c);
    return rc;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_refresh [URL] [-n N] [-subscriptions S] [-runs R] "
                    "[-parallelism P] [-graph-batch B]\n       URL defaults to $ARMLOCAL_URL\n");
}

int main(int argc, char **argv)
{
    struct env e = {0};
    struct errbuf err = ERRBUF_INIT;
    struct http_opts ho = HTTP_OPTS_INIT;
    size_t n = 5000;
    unsigned subs = 0, runs = 3, parallelism = 10;
    char(*ids)[200] = NULL;
    struct provider_ref *refs = NULL;
    struct figures a, b;
    int rc = 1;

    e.url = getenv("ARMLOCAL_URL");
    if (getenv("AMLSEC_LOG") && log_level_parse(getenv("AMLSEC_LOG")) >= 0)
        log_set_sink((enum log_level)log_level_parse(getenv("AMLSEC_LOG")), log_stderr, NULL);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *flag = arg[0] == '-' ? arg + (arg[1] == '-' ? 2 : 1) : NULL;
        if (flag && i + 1 < argc &&
            (!strcmp(flag, "n") || !strcmp(flag, "subscriptions") || !strcmp(flag, "runs") ||
             !strcmp(flag, "parallelism") || !strcmp(flag, "graph-batch"))) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1) {
                usage();
                return 2;
            }
            if (!strcmp(flag, "n"))
                n = (size_t)v;
            else if (!strcmp(flag, "subscriptions"))
                subs = (unsigned)v;
            else if (!strcmp(flag, "runs"))
                runs = (unsigned)(v > 16 ? 16 : v);
            else if (!strcmp(flag, "graph-batch"))
                graph_batch = (unsigned)(v > 1000 ? 1000 : v);
            else
                parallelism = (unsigned)v;
        } else if (!flag) {
            e.url = arg;
        } else {
            usage();
            return 2;
        }
    }
    if (e.url == NULL || *e.url == '\0') {
        usage();
        return 2;
    }
    if (subs == 0)
        subs = (unsigned)((n + 199) / 200);
    ho.max_connections = 32;
    if (http_transport_new(&e.t, &ho, &err) < 0 ||
        arm_cloud_custom(&e.cloud, "armlocal", e.url, e.url, "https://management.azure.com", NULL,
                         NULL, &err) < 0) {
        fprintf(stderr, "bench_refresh: %s\n", err.msg);
        goto out;
    }
    ids = calloc(n, sizeof(*ids));
    refs = calloc(n, sizeof(*refs));
    if (!ids || !refs)
        goto out;
    if (seed(&e, ids, n, subs) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        refs[i].id = ids[i];

    if (refresh(&e, refs, n, 1, parallelism, runs, &a) < 0 ||
        refresh(&e, refs, n, 0, parallelism, runs, &b) < 0)
        goto out;
    printf("refresh of %zu resources, %u run(s) each, medians (requests of the last run):\n", n,
           runs);
    printf("  (a) bulk read (Resource Graph):        %8.3f s  %6lu requests (armlocal log %ld)  "
           "%lu 429s absorbed  %zu failed\n",
           a.wall[runs / 2], a.requests, a.server_requests, a.throttled, a.failed);
    printf("  (b) one GET per resource, concurrency %u: %8.3f s  %6lu requests (armlocal log %ld)  "
           "%lu 429s absorbed  %zu failed\n",
           parallelism, b.wall[runs / 2], b.requests, b.server_requests, b.throttled, b.failed);
    printf("  ratio (b)/(a): %.1fx wall time, %.0fx requests\n",
           b.wall[runs / 2] / (a.wall[runs / 2] > 0 ? a.wall[runs / 2] : 1e-9),
           (double)b.requests / (double)(a.requests ? a.requests : 1));
    rc = a.failed || b.failed ? 1 : 0;
out:
    free(ids);
    free(refs);
    arm_cloud_free(e.cloud);
    transport_free(e.t);
    return rc;
}
