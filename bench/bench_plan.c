/* Benchmarks of issue 7, run as a user runs amlsec (separate processes):
 *
 *   A. plan with no changes over a generated 5,000-resource configuration
 *      against amlsec-armlocal at --latency-ms 30 --throttle arm: wall time
 *      and CPU time (medians of several runs) and peak RSS of the amlsec
 *      process.
 *      The estate is first applied at full speed (no latency, no throttling:
 *      that figure is printed too), then the local cloud is switched to ARM's
 *      latency and token buckets through /_armlocal/settings.
 *   B. apply of a generated 200-resource graph with operations that take
 *      --lro-ms: wall time against the critical path (the sum of operation
 *      durations along the longest dependency chain).
 *
 * Usage: bench_plan [AMLSEC [ARMLOCAL]]  (default: next to this binary);
 * BENCH_PLAN_ONLY=A or B runs one part, BENCH_PLAN_N sets A's size, and
 * BENCH_PLAN_BASELINE=DIR (holding another build's amlsec and
 * amlsec-armlocal) prints B for that build beside this one.
 * Prints its figures; it is not a test. Loopback traffic only. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNS 5

static const char *amlsec, *armlocal;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double last_cpu; /* user + system seconds of the last run() */

/* Runs argv in dir with output to /dev/null; returns its exit status and
 * fills wall seconds and peak RSS (KiB); last_cpu gets its CPU time. */
static int run(const char *dir, char *const argv[], double *wall, long *rss_kb)
{
    double t0 = now_s();
    struct rusage ru;
    int status = 0;
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (chdir(dir) < 0)
            _exit(127);
        dup2(null, 1);
        dup2(null, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid < 0 || wait4(pid, &status, 0, &ru) < 0)
        return -1;
    *wall = now_s() - t0;
    *rss_kb = ru.ru_maxrss;
    last_cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static pid_t cloud_pid;

/* Starts amlsec-armlocal in memory with extra flags; returns its base URL. */
static int start_cloud(char *url, size_t n, const char *extra1, const char *extra2)
{
    int fds[2];
    FILE *f;
    if (pipe(fds) < 0)
        return -1;
    cloud_pid = fork();
    if (cloud_pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(fds[1], 1);
        dup2(null, 2);
        close(fds[0]);
        execl(armlocal, armlocal, "--listen", "127.0.0.1:0", extra1, extra2, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    f = fdopen(fds[0], "r");
    if (f == NULL || fgets(url, (int)n, f) == NULL)
        return -1;
    url[strcspn(url, "\r\n")] = '\0';
    return 0;
}

static void stop_cloud(void)
{
    if (cloud_pid > 0) {
        kill(cloud_pid, SIGTERM);
        waitpid(cloud_pid, NULL, 0);
        cloud_pid = 0;
    }
}

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    struct {
        char buf[4096];
        size_t len;
    } *b = u;
    size_t k = s * n, room = sizeof(b->buf) - 1 - b->len;
    size_t take = k < room ? k : room; /* keep the beginning: "total" comes first */
    memcpy(b->buf + b->len, p, take);
    b->len += take;
    b->buf[b->len] = '\0';
    return k;
}

/* A control-API call; the answer (truncated) lands in out when given. */
static int control(const char *url, const char *method, const char *path, const char *body,
                   char *out, size_t outsz)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    struct {
        char buf[4096];
        size_t len;
    } b = {{0}, 0};
    char full[1024];
    long code = 0;
    snprintf(full, sizeof(full), "%s%s", url, path);
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (out)
        snprintf(out, outsz, "%s", b.buf);
    return code >= 200 && code < 300 ? 0 : -1;
}

static long request_total(const char *url)
{
    char out[4096];
    const char *t;
    if (control(url, "GET", "/_armlocal/requests", NULL, out, sizeof(out)) < 0)
        return -1;
    t = strstr(out, "\"total\":");
    return t ? strtol(t + 8, NULL, 10) : -1;
}

static const char settings_block[] =
    "settings {\n  subscription = \"00000000-0000-0000-0000-0000000000be\"\n"
    "  tenant = \"00000000-0000-0000-0000-00000000a11c\"\n  location = \"westeurope\"\n}\n\n";

/* 1 resource group, half storage accounts and half Application Insights. */
static int write_estate(const char *dir, int n)
{
    char path[PATH_MAX + 64];
    FILE *f;
    snprintf(path, sizeof(path), "%s/main.amlsec", dir);
    if ((f = fopen(path, "w")) == NULL)
        return -1;
    fputs(settings_block, f);
    fputs("resource_group \"b\" {\n  name = \"rg-bench\"\n}\n\n", f);
    for (int i = 0; i < n; i++) {
        if (i % 2 == 0)
            fprintf(
                f,
                "storage_account \"s%d\" {\n  resource_group = resource_group.b\n"
                "  name = \"stbench%05d\"\n  allow_blob_public_access = false\n"
                "  public_network_access = false\n  lifecycle {\n"
                "    ignore_rules = { \"ST-SERVICE-ENDPOINT\" = \"benchmark estate\" }\n  }\n}\n\n",
                i, i);
        else
            fprintf(f,
                    "app_insights \"a%d\" {\n  resource_group = resource_group.b\n"
                    "  name = \"appi-bench-%05d\"\n}\n\n",
                    i, i);
    }
    return fclose(f);
}

/* Depth 3: resource group -> storage accounts -> a lock and a role
 * assignment on each; Application Insights beside them. */
static int write_graph(const char *dir, int accounts, int insights)
{
    char path[PATH_MAX + 64];
    FILE *f;
    snprintf(path, sizeof(path), "%s/main.amlsec", dir);
    if ((f = fopen(path, "w")) == NULL)
        return -1;
    fputs(settings_block, f);
    fputs("resource_group \"g\" {\n  name = \"rg-graph\"\n}\n\n", f);
    for (int i = 0; i < accounts; i++)
        fprintf(f,
                "storage_account \"s%d\" {\n  resource_group = resource_group.g\n"
                "  name = \"stgraph%05d\"\n  allow_blob_public_access = false\n"
                "  public_network_access = false\n  lifecycle {\n"
                "    ignore_rules = { \"ST-SERVICE-ENDPOINT\" = \"benchmark graph\" }\n  }\n}\n\n"
                "lock \"l%d\" {\n  target = storage_account.s%d\n  level = \"CanNotDelete\"\n"
                "  notes = \"benchmark\"\n}\n\n"
                "role_assignment \"r%d\" {\n  scope = storage_account.s%d\n"
                "  principal = \"3f2504e0-4f89-11d3-9a0c-0305e82c%04d\"\n"
                "  principal_type = \"Group\"\n  role = \"Reader\"\n}\n\n",
                i, i, i, i, i, i, i);
    for (int i = 0; i < insights; i++)
        fprintf(f,
                "app_insights \"a%d\" {\n  resource_group = resource_group.g\n"
                "  name = \"appi-graph-%05d\"\n}\n\n",
                i, i);
    return fclose(f);
}

static void sibling(char *out, size_t n, const char *self, const char *name)
{
    const char *slash = strrchr(self, '/');
    if (slash)
        snprintf(out, n, "%.*s/../%s", (int)(slash - self), self, name);
    else
        snprintf(out, n, "./%s", name);
}

/* B: the median wall time of RUNS applies of the graph in gdir by the
 * amlsec at `bin` against a fresh `cloud_bin` each time. */
static int apply_graph(const char *bin, const char *cloud_bin, const char *gdir, int par,
                       int refresh, const char *lro, double *median, double *lo, double *hi)
{
    double walls[RUNS];
    char url[256], p[16];
    char *apply[] = {(char *)bin,
                     "apply",
                     "-cloud",
                     url,
                     "-auto-approve",
                     "-no-color",
                     "-parallelism",
                     p,
                     refresh ? NULL : "-refresh=false",
                     NULL};
    const char *keep = armlocal;
    snprintf(p, sizeof(p), "%d", par);
    armlocal = cloud_bin;
    for (int i = 0; i < RUNS; i++) {
        char state_dir[PATH_MAX + 64];
        char *rm[] = {"/bin/rm", "-rf", state_dir, NULL};
        double w;
        long rss;
        int rc;
        snprintf(state_dir, sizeof(state_dir), "%s/.amlsec", gdir);
        run(gdir, rm, &w, &rss);
        if (start_cloud(url, sizeof(url), "--lro-ms", lro) < 0 ||
            control(url, "PUT", "/_armlocal/settings", "{\"latencyMs\":30}", NULL, 0) < 0) {
            fprintf(stderr, "bench_plan: cannot start the local cloud %s for B\n", cloud_bin);
            armlocal = keep;
            return -1;
        }
        rc = run(gdir, apply, &walls[i], &rss);
        stop_cloud();
        if (rc != 0) {
            fprintf(stderr, "bench_plan: graph apply by %s exited %d\n", bin, rc);
            armlocal = keep;
            return -1;
        }
    }
    armlocal = keep;
    qsort(walls, RUNS, sizeof(walls[0]), cmp_double);
    *median = walls[RUNS / 2];
    *lo = walls[0];
    *hi = walls[RUNS - 1];
    return 0;
}

int main(int argc, char **argv)
{
    static char a_buf[PATH_MAX], l_buf[PATH_MAX];
    char dir[] = "/tmp/amlsec-bench-plan-XXXXXX", url[256], gdir[PATH_MAX];
    double walls[RUNS], cpus[RUNS], wall, seed_wall;
    long rss, max_rss = 0, req0, req1;
    int n = 5000, rc;

    {
        char self[PATH_MAX];
        if (realpath(argv[0], self) == NULL)
            snprintf(self, sizeof(self), "%s", argv[0]);
        sibling(a_buf, sizeof(a_buf), self, "amlsec");
        sibling(l_buf, sizeof(l_buf), self, "amlsec-armlocal");
    }
    amlsec = argc > 1 ? argv[1] : a_buf;
    armlocal = argc > 2 ? argv[2] : l_buf;
    if (getenv("BENCH_PLAN_N"))
        n = (int)strtol(getenv("BENCH_PLAN_N"), NULL, 10);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* seeding runs against an unthrottled local cloud; the measured plans
     * switch it to ARM's buckets and turn the client's own back on */
    setenv("AMLSEC_RATE_LIMIT", "off", 1);
    if (mkdtemp(dir) == NULL || write_estate(dir, n) < 0) {
        perror("bench_plan: work directory");
        return 1;
    }

    /* --- A: no-change plan of a large estate --------------------------------- */
    if (getenv("BENCH_PLAN_ONLY") && strcmp(getenv("BENCH_PLAN_ONLY"), "A") != 0)
        goto part_b;
    if (start_cloud(url, sizeof(url), "--lro-ms", "0") < 0) {
        fprintf(stderr, "bench_plan: cannot start %s\n", armlocal);
        return 1;
    }
    {
        char *apply[] = {(char *)amlsec, "apply",        "-cloud", url, "-auto-approve",
                         "-no-color",    "-parallelism", "64",     NULL};
        rc = run(dir, apply, &seed_wall, &rss);
        if (rc != 0) {
            fprintf(stderr, "bench_plan: seeding apply failed (exit %d)\n", rc);
            stop_cloud();
            return 1;
        }
        printf("A. seeded %d resources (+1 resource group) with one apply at full speed: %.1f s, "
               "peak RSS %.1f MB\n",
               n, seed_wall, rss / 1024.0);
    }
    if (control(url, "PUT", "/_armlocal/settings", "{\"latencyMs\":30,\"throttle\":\"arm\"}", NULL,
                0) < 0) {
        fprintf(stderr, "bench_plan: cannot switch the local cloud to ARM latency/throttling\n");
        stop_cloud();
        return 1;
    }
    unsetenv("AMLSEC_RATE_LIMIT");
    for (int i = 0; i < RUNS; i++) {
        char *plan[] = {(char *)amlsec,       "plan",      "-cloud", url,
                        "-detailed-exitcode", "-no-color", NULL};
        req0 = request_total(url);
        rc = run(dir, plan, &walls[i], &rss);
        req1 = request_total(url);
        if (rc != 0) {
            fprintf(stderr, "bench_plan: plan run %d exited %d (expected 0: no changes)\n", i, rc);
            stop_cloud();
            return 1;
        }
        if (rss > max_rss)
            max_rss = rss;
        cpus[i] = last_cpu;
        printf("   run %d: %.3f s, %.3f s CPU, %.1f MB, %ld ARM requests\n", i + 1, walls[i],
               cpus[i], rss / 1024.0, req1 - req0);
    }
    qsort(walls, RUNS, sizeof(walls[0]), cmp_double);
    qsort(cpus, RUNS, sizeof(cpus[0]), cmp_double);
    /* CPU time as well: on a shared machine the wall time also measures the
     * other processes */
    printf("A. no-change plan of %d resources, armlocal --latency-ms 30 --throttle arm: median "
           "%.3f s wall (%.3f s CPU), peak RSS %.1f MB (targets: <= 2 s, <= 100 MB)\n",
           n + 1, walls[RUNS / 2], cpus[RUNS / 2], max_rss / 1024.0);
    stop_cloud();

    /* --- B: apply of a 200-resource graph vs its critical path --------------- */
part_b:
    if (getenv("BENCH_PLAN_ONLY") && strcmp(getenv("BENCH_PLAN_ONLY"), "B") != 0)
        goto done;
    {
        const int accounts = 50, insights = 49, lro_ms = 500, latency_ms = 30;
        /* The longest chain: resource group (one PUT: 201), storage account
         * (PUT: 202, then lro_ms later one status poll, then the final GET
         * of the resource its LRO pattern asks for), then its lock or role
         * assignment (one PUT: 201). Each request costs the latency; no
         * client can finish the chain sooner. */
        const int round_trips = 1 + 3 + 1;
        double critical = (round_trips * latency_ms + lro_ms) / 1000.0;
        const char *base = getenv("BENCH_PLAN_BASELINE");
        char lro[16], base_amlsec[PATH_MAX + 16], base_cloud[PATH_MAX + 32];
        snprintf(gdir, sizeof(gdir), "%s/graph", dir);
        if (mkdir(gdir, 0700) < 0 || write_graph(gdir, accounts, insights) < 0) {
            perror("bench_plan: graph");
            return 1;
        }
        snprintf(lro, sizeof(lro), "%d", lro_ms);
        if (base) {
            snprintf(base_amlsec, sizeof(base_amlsec), "%s/amlsec", base);
            snprintf(base_cloud, sizeof(base_cloud), "%s/amlsec-armlocal", base);
        }
        /* with refresh (what a user runs), and -refresh=false: the walk
         * alone (the refresh of 200 resources absent from the state spends
         * 200 reads of ARM's read budget before the first write) */
        for (int v = 0; v < 4; v++) {
            int par = v % 2 ? 200 : 10, refresh = v < 2;
            for (int b = base ? 1 : 0; b >= 0; b--) {
                double med, lo, hi;
                if (apply_graph(b ? base_amlsec : amlsec, b ? base_cloud : armlocal, gdir, par,
                                refresh, lro, &med, &lo, &hi) < 0)
                    return 1;
                printf("B. %s apply%s of %d resources (depth 3, LRO %d ms, latency %d ms), "
                       "-parallelism %d: median %.3f s wall (runs %.3f-%.3f) vs %.3f s critical "
                       "path = %.2fx (target <= 1.10x)\n",
                       b ? "baseline" : "this build", refresh ? "" : " -refresh=false",
                       1 + 3 * accounts + insights, lro_ms, latency_ms, par, med, lo, hi, critical,
                       med / critical);
                fflush(stdout);
            }
        }
    }
done:
    run("/", (char *[]){"/bin/rm", "-rf", dir, NULL}, &wall, &rss);
    curl_global_cleanup();
    return 0;
}
