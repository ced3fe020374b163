/* Benchmark of issue 15: `amlsec drift` over a large estate, run as a user
 * runs it (a separate process), against amlsec-armlocal at --latency-ms 30
 * --throttle arm.
 *
 * The estate: two workspace stacks (a Key Vault, a storage account and a
 * workspace each) and, to make up N managed resources, storage accounts and
 * Application Insights components in one resource group; plus N/5 unmanaged
 * objects planted at the workspaces' scopes through the control API (60%
 * role assignments, 15% locks, 15% policy assignments, 10% private
 * endpoints), as people clicking in the portal would leave them. The estate
 * is applied at full speed, then the local cloud is switched to ARM's
 * latency and token buckets. Each drift run must exit 2 and find every
 * planted object and nothing else.
 *
 * Prints, per size, the median wall time and CPU time of the runs, the ARM
 * requests one run sends (armlocal's request log) and that figure per 1,000
 * resources, then the growth exponent of the wall time between sizes
 * (targets at 5,000: <= 3 s wall, <= 10 requests per 1,000 resources).
 * Runs are 5.5 s apart: Resource Graph's quota is 15 queries per 5 s, and
 * scheduled drift jobs do not run back to back.
 *
 * Usage: bench_drift [AMLSEC [ARMLOCAL]]  (default: next to this binary);
 * BENCH_DRIFT_SIZES="1250 5000" sets the sizes; BENCH_DRIFT_TRACE=FILE keeps the
 * debug log (AMLSEC_LOG=debug: the time of each phase) of the last run;
 * BENCH_DRIFT_PARALLELISM=N runs drift with -parallelism N. Loopback traffic only;
 * prints its figures; it is not a test. */
#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_cloud.h"

#define RUNS 3
#define MAX_SIZES 4
#define SUB "00000000-0000-0000-0000-0000000000d1"

static const char *amlsec, *armlocal;
static double last_cpu;

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

/* Runs argv in dir, stdout to out (or /dev/null); its exit status. */
static const char *trace; /* BENCH_DRIFT_TRACE: the last run's AMLSEC_LOG=debug log */

static int run(const char *dir, char *const argv[], const char *out, double *wall)
{
    double t0 = now_s();
    struct rusage ru;
    int status = 0;
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        int o = out ? open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600) : null;
        int e = trace && out ? open(trace, O_WRONLY | O_CREAT | O_TRUNC, 0600) : null;
        if (chdir(dir) < 0)
            _exit(127);
        if (trace && out)
            setenv("AMLSEC_LOG", "debug", 1);
        dup2(o, 1);
        dup2(e >= 0 ? e : null, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid < 0 || wait4(pid, &status, 0, &ru) < 0)
        return -1;
    *wall = now_s() - t0;
    last_cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

#define RG "/subscriptions/" SUB "/resourceGroups/rg-drift"

/* n managed resources: 2 x (vault, storage, workspace), a resource group,
 * the rest storage accounts and Application Insights. */
static int write_estate(const char *dir, int n)
{
    char path[PATH_MAX + 64];
    FILE *f;
    int rest = n - 7;
    snprintf(path, sizeof(path), "%s/main.amlsec", dir);
    if ((f = fopen(path, "w")) == NULL)
        return -1;
    fputs("settings {\n  subscription = \"" SUB "\"\n"
          "  tenant = \"00000000-0000-0000-0000-00000000a11c\"\n  location = \"westeurope\"\n}\n\n"
          "resource_group \"d\" {\n  name = \"rg-drift\"\n}\n\n",
          f);
    for (int w = 0; w < 2; w++)
        fprintf(f,
                "key_vault \"kv%d\" {\n  resource_group = resource_group.d\n"
                "  name = \"kv-drift-%d\"\n  purge_protection = true\n}\n\n"
                "storage_account \"ws%d\" {\n  resource_group = resource_group.d\n"
                "  name = \"stdriftws%d\"\n}\n\n"
                "workspace \"w%d\" {\n  resource_group = resource_group.d\n"
                "  name = \"mlw-drift-%d\"\n  key_vault = key_vault.kv%d\n"
                "  storage_account = storage_account.ws%d\n}\n\n",
                w, w, w, w, w, w, w, w);
    for (int i = 0; i < rest; i++) {
        if (i % 2 == 0)
            fprintf(f,
                    "storage_account \"s%d\" {\n  resource_group = resource_group.d\n"
                    "  name = \"stdrift%05d\"\n  allow_blob_public_access = false\n"
                    "  public_network_access = false\n  lifecycle {\n"
                    "    ignore_rules = { \"ST-SERVICE-ENDPOINT\" = \"benchmark estate\" }\n  }\n}"
                    "\n\n",
                    i, i);
        else
            fprintf(f,
                    "app_insights \"a%d\" {\n  resource_group = resource_group.d\n"
                    "  name = \"appi-drift-%05d\"\n}\n\n",
                    i, i);
    }
    return fclose(f);
}

/* u unmanaged objects at the workspaces' scopes, through the control API. */
static int plant(const char *url, int u)
{
    char path[1024], body[1024], scope[512];
    for (int i = 0; i < u; i++) {
        int w = i % 2, s = (i / 2) % 4, pct = i * 100 / u;
        switch (s) {
        case 0:
            snprintf(scope, sizeof(scope),
                     RG "/providers/Microsoft.MachineLearningServices/workspaces/mlw-drift-%d", w);
            break;
        case 1:
            snprintf(scope, sizeof(scope), RG "/providers/Microsoft.KeyVault/vaults/kv-drift-%d",
                     w);
            break;
        case 2:
            snprintf(scope, sizeof(scope),
                     RG "/providers/Microsoft.Storage/storageAccounts/stdriftws%d", w);
            break;
        default:
            snprintf(scope, sizeof(scope), RG);
        }
        if (pct < 60) {
            snprintf(path, sizeof(path),
                     "/_armlocal/resources%s/providers/Microsoft.Authorization/roleAssignments/"
                     "b0000000-0000-4000-8000-%012d",
                     scope, i);
            snprintf(body, sizeof(body),
                     "{\"properties\":{\"roleDefinitionId\":\"/subscriptions/" SUB
                     "/providers/Microsoft.Authorization/roleDefinitions/"
                     "acdd72a7-3385-48ef-bd42-f606fba81ae7\",\"principalId\":\"c0000000-0000-4000-"
                     "8000-%012d\",\"principalType\":\"User\",\"scope\":\"%s\"}}",
                     i, scope);
        } else if (pct < 75) {
            snprintf(path, sizeof(path),
                     "/_armlocal/resources%s/providers/Microsoft.Authorization/locks/lock%d", scope,
                     i);
            snprintf(body, sizeof(body), "{\"properties\":{\"level\":\"CanNotDelete\"}}");
        } else if (pct < 90) {
            snprintf(path, sizeof(path),
                     "/_armlocal/resources%s/providers/Microsoft.Authorization/policyAssignments/"
                     "pa%d",
                     scope, i);
            snprintf(body, sizeof(body),
                     "{\"properties\":{\"policyDefinitionId\":\"/providers/"
                     "Microsoft.Authorization/policyDefinitions/p%d\",\"scope\":\"%s\"}}",
                     i, scope);
        } else {
            snprintf(path, sizeof(path),
                     "/_armlocal/resources" RG "/providers/Microsoft.Network/privateEndpoints/pe%d",
                     i);
            snprintf(body, sizeof(body),
                     "{\"location\":\"westeurope\",\"properties\":{"
                     "\"privateLinkServiceConnections\":[{\"name\":\"c\",\"properties\":{"
                     "\"privateLinkServiceId\":\"" RG
                     "/providers/Microsoft.MachineLearningServices/workspaces/mlw-drift-%d\","
                     "\"groupIds\":[\"amlworkspace\"]}}]}}",
                     w);
        }
        if (bench_control(url, "PUT", path, body, NULL, 0) < 0) {
            fprintf(stderr, "bench_drift: cannot plant %s\n", path);
            return -1;
        }
    }
    return 0;
}

struct figures {
    int n;
    double wall, cpu;
    long requests;
};

static int measure(const char *root, int n, struct figures *fig)
{
    char dir[PATH_MAX], url[256], out[PATH_MAX + 32];
    double walls[RUNS], cpus[RUNS], wall;
    long req0, req1, reqs = 0;
    int u = n / 5, rc;

    snprintf(dir, sizeof(dir), "%s/n%d", root, n);
    snprintf(out, sizeof(out), "%s/drift.json", dir);
    if (mkdir(dir, 0700) < 0 || write_estate(dir, n) < 0 ||
        bench_cloud_start(armlocal, url, sizeof(url),
                          (const char *const[]){"--lro-ms", "0", NULL}) < 0) {
        fprintf(stderr, "bench_drift: cannot set up %d\n", n);
        return -1;
    }
    setenv("AMLSEC_RATE_LIMIT", "off", 1);
    {
        char *apply[] = {(char *)amlsec, "apply",        "-cloud", url, "-auto-approve",
                         "-no-color",    "-parallelism", "64",     NULL};
        if ((rc = run(dir, apply, NULL, &wall)) != 0) {
            fprintf(stderr, "bench_drift: seeding apply of %d exited %d\n", n, rc);
            bench_cloud_stop();
            return -1;
        }
        printf("%d managed resources applied at full speed in %.1f s; ", n, wall);
    }
    if (plant(url, u) < 0) {
        bench_cloud_stop();
        return -1;
    }
    printf("%d unmanaged objects planted\n", u);
    if (bench_control(url, "PUT", "/_armlocal/settings", "{\"latencyMs\":30,\"throttle\":\"arm\"}",
                      NULL, 0) < 0) {
        bench_cloud_stop();
        return -1;
    }
    unsetenv("AMLSEC_RATE_LIMIT");
    for (int i = 0; i < RUNS; i++) {
        const char *par = getenv("BENCH_DRIFT_PARALLELISM");
        char *drift[] = {
            (char *)amlsec, "drift", "-cloud", url, "-json", par ? "-parallelism" : NULL,
            (char *)par,    NULL};
        json_t *j;
        json_error_t je;
        long unmanaged, changed;
        if (i > 0)
            usleep(5500 * 1000);
        req0 = bench_request_total(url);
        rc = run(dir, drift, out, &walls[i]);
        req1 = bench_request_total(url);
        cpus[i] = last_cpu;
        j = json_load_file(out, 0, &je);
        unmanaged = j ? (long)json_integer_value(
                            json_object_get(json_object_get(j, "summary"), "unmanaged"))
                      : -1;
        changed =
            j ? (long)json_integer_value(json_object_get(json_object_get(j, "summary"), "changed"))
              : -1;
        json_decref(j);
        if (rc != 2 || unmanaged != u || changed != 0) {
            fprintf(stderr,
                    "bench_drift: run %d exited %d with %ld unmanaged and %ld changed (wanted 2, "
                    "%d, 0)\n",
                    i + 1, rc, unmanaged, changed, u);
            bench_cloud_stop();
            return -1;
        }
        reqs = req1 - req0;
        printf("   run %d: %.3f s wall, %.3f s CPU, %ld ARM requests, %ld unmanaged found\n", i + 1,
               walls[i], cpus[i], reqs, unmanaged);
    }
    {
        /* for comparison: plan's refresh and comparison of the same estate */
        char *plan[] = {(char *)amlsec, "plan", "-cloud", url, "-no-color", NULL};
        usleep(5500 * 1000);
        req0 = bench_request_total(url);
        rc = run(dir, plan, NULL, &wall);
        req1 = bench_request_total(url);
        printf("   for comparison, plan of the same estate: exit %d, %.3f s wall, %.3f s CPU, %ld "
               "ARM requests\n",
               rc, wall, last_cpu, req1 - req0);
    }
    bench_cloud_stop();
    qsort(walls, RUNS, sizeof(walls[0]), cmp_double);
    qsort(cpus, RUNS, sizeof(cpus[0]), cmp_double);
    fig->n = n;
    fig->wall = walls[RUNS / 2];
    fig->cpu = cpus[RUNS / 2];
    fig->requests = reqs;
    printf("drift of %d managed resources + %d unmanaged objects, armlocal --latency-ms 30 "
           "--throttle arm: median %.3f s wall (%.3f s CPU), %ld ARM requests = %.1f per 1,000 "
           "resources\n",
           n, u, fig->wall, fig->cpu, fig->requests, fig->requests * 1000.0 / n);
    return 0;
}

int main(int argc, char **argv)
{
    static char a_buf[PATH_MAX], l_buf[PATH_MAX];
    char root[] = "/tmp/amlsec-bench-drift-XXXXXX", self[PATH_MAX];
    const char *sizes_env = getenv("BENCH_DRIFT_SIZES");
    int sizes[MAX_SIZES], nsizes = 0;
    struct figures fig[MAX_SIZES];
    char *copy, *tok, *save = NULL;

    if (realpath(argv[0], self) == NULL)
        snprintf(self, sizeof(self), "%s", argv[0]);
    bench_sibling(a_buf, sizeof(a_buf), self, "amlsec");
    bench_sibling(l_buf, sizeof(l_buf), self, "amlsec-armlocal");
    trace = getenv("BENCH_DRIFT_TRACE");
    amlsec = argc > 1 ? argv[1] : a_buf;
    armlocal = argc > 2 ? argv[2] : l_buf;
    copy = strdup(sizes_env ? sizes_env : "1250 5000");
    for (tok = strtok_r(copy, " ,", &save); tok && nsizes < MAX_SIZES;
         tok = strtok_r(NULL, " ,", &save)) {
        int v = (int)strtol(tok, NULL, 10);
        if (v >= 20)
            sizes[nsizes++] = v;
    }
    free(copy);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (mkdtemp(root) == NULL) {
        perror("bench_drift");
        return 1;
    }
    for (int i = 0; i < nsizes; i++)
        if (measure(root, sizes[i], &fig[i]) < 0)
            return 1;
    for (int i = 1; i < nsizes; i++)
        printf("growth exponent of the wall time from %d to %d resources: %.2f (requests: %.2f)\n",
               fig[i - 1].n, fig[i].n,
               log(fig[i].wall / fig[i - 1].wall) / log((double)fig[i].n / fig[i - 1].n),
               log((double)fig[i].requests / fig[i - 1].requests) /
                   log((double)fig[i].n / fig[i - 1].n));
    for (int i = 0; i < nsizes; i++)
        if (fig[i].n == 5000)
            printf("targets at 5,000: <= 3 s wall: %s (%.3f s); <= 10 ARM requests per 1,000 "
                   "resources: %s (%.1f)\n",
                   fig[i].wall <= 3.0 ? "met" : "NOT met", fig[i].wall,
                   fig[i].requests * 1000.0 / fig[i].n <= 10.0 ? "met" : "NOT met",
                   fig[i].requests * 1000.0 / fig[i].n);
    {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_drift: could not remove %s\n", root);
    }
    return 0;
}
