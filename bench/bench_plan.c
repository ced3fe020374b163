/* Benchmarks of issue 7, run as a user runs amlsec (separate processes):
 *
 *   A. plan with no changes over a generated 5,000-resource configuration
 *      against amlsec-armlocal at --latency-ms 30 --throttle arm: wall time
 *      and CPU time (medians of several runs) and peak RSS of the amlsec
 *      process.
 *      The estate is first applied at full speed (no latency, no throttling:
 *      that figure is printed too), then the local cloud is switched to ARM's
 *      latency and token buckets through /_armlocal/settings.
 *   B. apply of a generated 200-resource graph of network-isolated
 *      workspace stacks, with armlocal --lro-ms set per resource type to
 *      typical Azure creation times scaled down (see gkinds): wall time
 *      against the critical path (the sum of operation durations and
 *      request round trips along the longest dependency chain).
 *
 * Usage: bench_plan [AMLSEC [ARMLOCAL]]  (default: next to this binary);
 * BENCH_PLAN_ONLY=A or B runs one part, BENCH_PLAN_N sets A's size, and
 * BENCH_PLAN_BASELINE=DIR (holding another build's amlsec) prints B for
 * that amlsec beside this one, both against this build's local cloud.
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

#include "bench/bench_cloud.h"

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

/* Starts amlsec-armlocal in memory with extra flags; returns its base URL. */
/* A control-API call; the answer (truncated) lands in out when given. */
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

/* --- B's graph ---------------------------------------------------------------
 *
 * Operation durations per kind: typical creation times in Azure (seconds, as
 * seen in the deployment history of a resource group when each resource is
 * created on its own: an ML workspace about 2 minutes, a private endpoint about
 * 1, a compute cluster with no nodes about 45 s, a Premium registry about 30 s,
 * a storage account about 25 s, a vault about 20 s; resource groups, locks and
 * role assignments a few seconds). These are approximate, not measurements of
 * this repository; what matters is their ratio. The benchmark runs them at
 * 1/GRAPH_SCALE of real time. round_trips is the number of requests one create
 * makes one after the other: 1 for a synchronous PUT, 2 for a PUT polled
 * through the resource (a vault's provisioningState), 3 for a PUT, one status
 * poll and the final GET. */
#define GRAPH_SCALE 50
#define GRAPH_LATENCY_MS 30

enum gkind {
    G_RG,
    G_VAULT,
    G_STORAGE,
    G_REGISTRY,
    G_INSIGHTS,
    G_WORKSPACE,
    G_COMPUTE,
    G_PE,
    G_LOCK,
    G_ROLE,
    G_NKINDS
};

static const struct gkind_info {
    const char *type;
    int real_s;
    int round_trips;
} gkinds[G_NKINDS] = {
    [G_RG] = {"Microsoft.Resources/resourceGroups", 2, 1},
    [G_VAULT] = {"Microsoft.KeyVault/vaults", 20, 2},
    [G_STORAGE] = {"Microsoft.Storage/storageAccounts", 25, 3},
    [G_REGISTRY] = {"Microsoft.ContainerRegistry/registries", 30, 3},
    [G_INSIGHTS] = {"Microsoft.Insights/components", 5, 1},
    [G_WORKSPACE] = {"Microsoft.MachineLearningServices/workspaces", 120, 3},
    [G_COMPUTE] = {"Microsoft.MachineLearningServices/workspaces/computes", 45, 3},
    [G_PE] = {"Microsoft.Network/privateEndpoints", 60, 3},
    [G_LOCK] = {"Microsoft.Authorization/locks", 2, 1},
    [G_ROLE] = {"Microsoft.Authorization/roleAssignments", 3, 1},
};

static int gkind_ms(enum gkind k)
{
    return gkinds[k].real_s * 1000 / GRAPH_SCALE;
}

#define GRAPH_MAX 256

/* The nodes in creation order (every dependency comes earlier). */
static struct gnode {
    enum gkind kind;
    int deps[5], ndeps;
} gnodes[GRAPH_MAX];
static int ngnodes;

static int gnode_add(enum gkind kind, int d0, int d1, int d2, int d3, int d4)
{
    int d[5] = {d0, d1, d2, d3, d4};
    struct gnode *n = &gnodes[ngnodes];
    n->kind = kind;
    n->ndeps = 0;
    for (int i = 0; i < 5; i++)
        if (d[i] >= 0)
            n->deps[n->ndeps++] = d[i];
    return ngnodes++;
}

/* The sum of durations and round trips along the longest dependency chain;
 * the chain's kinds, first to last, are written into chain. */
static double graph_critical_s(char *chain, size_t n)
{
    double finish[GRAPH_MAX];
    int from[GRAPH_MAX], last = 0, path[GRAPH_MAX], len = 0;
    size_t used = 0;
    for (int i = 0; i < ngnodes; i++) {
        double start = 0;
        from[i] = -1;
        for (int j = 0; j < gnodes[i].ndeps; j++)
            if (finish[gnodes[i].deps[j]] > start) {
                start = finish[gnodes[i].deps[j]];
                from[i] = gnodes[i].deps[j];
            }
        finish[i] = start + (gkind_ms(gnodes[i].kind) +
                             gkinds[gnodes[i].kind].round_trips * GRAPH_LATENCY_MS) /
                                1000.0;
        if (finish[i] > finish[last])
            last = i;
    }
    for (int i = last; i >= 0; i = from[i])
        path[len++] = i;
    chain[0] = '\0';
    while (len-- > 0 && used < n)
        used += (size_t)snprintf(chain + used, n - used, "%s%s", used ? " -> " : "",
                                 strrchr(gkinds[gnodes[path[len]].kind].type, '/') + 1);
    return finish[last];
}

/* --lro-ms for the local cloud: every kind's duration. */
static void graph_lro_flag(char *out, size_t n)
{
    size_t len = (size_t)snprintf(out, n, "0");
    for (int k = 0; k < G_NKINDS && len < n; k++)
        len += (size_t)snprintf(out + len, n - len, ",%s=%d", gkinds[k].type, gkind_ms(k));
}

#define GRAPH_SUBNET                                                                               \
    "/subscriptions/00000000-0000-0000-0000-0000000000be/resourceGroups/rg-net/providers/"         \
    "Microsoft.Network/virtualNetworks/hub/subnets/pe"

/* Stacks of a network-isolated workspace: vault, storage, registry and
 * Application Insights, the workspace on them, its build cluster, private
 * endpoints for the workspace, blob, file, vault and registry, a lock and a
 * role assignment on the workspace; team role assignments on the resource
 * group fill up to n resources. */
static int write_graph(const char *dir, int n)
{
    static const char *const pe_sub[] = {"amlworkspace", "blob", "file", "vault", "registry"};
    char path[PATH_MAX + 64];
    FILE *f;
    int rg, stacks = (n - 1) / 13;
    snprintf(path, sizeof(path), "%s/main.amlsec", dir);
    if ((f = fopen(path, "w")) == NULL)
        return -1;
    ngnodes = 0;
    fputs(settings_block, f);
    fputs("resource_group \"g\" {\n  name = \"rg-graph\"\n}\n\n"
          "existing subnet \"pe\" {\n  id = \"" GRAPH_SUBNET "\"\n}\n\n",
          f);
    rg = gnode_add(G_RG, -1, -1, -1, -1, -1);
    for (int i = 0; i < stacks; i++) {
        int v = gnode_add(G_VAULT, rg, -1, -1, -1, -1),
            s = gnode_add(G_STORAGE, rg, -1, -1, -1, -1);
        int c = gnode_add(G_REGISTRY, rg, -1, -1, -1, -1),
            a = gnode_add(G_INSIGHTS, rg, -1, -1, -1, -1);
        int w = gnode_add(G_WORKSPACE, v, s, c, a, -1);
        const char *pe_target[] = {"workspace.w", "storage_account.s", "storage_account.s",
                                   "key_vault.v", "container_registry.c"};
        int pe_dep[] = {w, s, s, v, c};
        fprintf(f,
                "key_vault \"v%d\" {\n  resource_group = resource_group.g\n"
                "  name = \"kv-graph-%05d\"\n  purge_protection = true\n"
                "  public_network_access = false\n}\n\n"
                "storage_account \"s%d\" {\n  resource_group = resource_group.g\n"
                "  name = \"stgraph%05d\"\n  allow_blob_public_access = false\n"
                "  public_network_access = false\n}\n\n"
                "container_registry \"c%d\" {\n  resource_group = resource_group.g\n"
                "  name = \"acrgraph%05d\"\n  sku = \"Premium\"\n  admin_user = true\n"
                "  public_network_access = false\n}\n\n"
                "app_insights \"a%d\" {\n  resource_group = resource_group.g\n"
                "  name = \"appi-graph-%05d\"\n}\n\n"
                "workspace \"w%d\" {\n  resource_group = resource_group.g\n"
                "  name = \"mlw-graph-%05d\"\n  key_vault = key_vault.v%d\n"
                "  storage_account = storage_account.s%d\n"
                "  container_registry = container_registry.c%d\n  app_insights = app_insights.a%d\n"
                "  public_network_access = false\n  image_build_compute = \"cpu-build\"\n}\n\n"
                "compute_cluster \"b%d\" {\n  workspace = workspace.w%d\n  name = \"cpu-build\"\n"
                "  vm_size = \"Standard_DS3_v2\"\n  subnet = existing.subnet.pe.id\n"
                "  node_public_ip = false\n  local_auth = false\n  scale {\n    max = 2\n  }\n}\n\n"
                "lock \"l%d\" {\n  target = workspace.w%d\n  level = \"CanNotDelete\"\n}\n\n"
                "role_assignment \"r%d\" {\n  scope = workspace.w%d\n"
                "  principal = \"3f2504e0-4f89-11d3-9a0c-0305e82c%04d\"\n"
                "  principal_type = \"Group\"\n  role = \"AzureML Data Scientist\"\n}\n\n",
                i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i);
        gnode_add(G_COMPUTE, w, -1, -1, -1, -1);
        gnode_add(G_LOCK, w, -1, -1, -1, -1);
        gnode_add(G_ROLE, w, -1, -1, -1, -1);
        for (int p = 0; p < 5; p++) {
            fprintf(f,
                    "private_endpoint \"p%d_%s\" {\n  target = %s%d\n  subresource = \"%s\"\n"
                    "  subnet = existing.subnet.pe.id\n}\n\n",
                    i, pe_sub[p], pe_target[p], i, pe_sub[p]);
            gnode_add(G_PE, pe_dep[p], -1, -1, -1, -1);
        }
    }
    for (int i = 0; ngnodes < n; i++) {
        fprintf(f,
                "role_assignment \"team%d\" {\n  scope = resource_group.g\n"
                "  principal = \"3f2504e0-4f89-11d3-9a0c-0305e82d%04d\"\n"
                "  principal_type = \"Group\"\n  role = \"Reader\"\n}\n\n",
                i, i);
        gnode_add(G_ROLE, rg, -1, -1, -1, -1);
    }
    return fclose(f);
}

/* The network team's VNet, which the private endpoints and clusters join. */
static int seed_network(const char *url)
{
    static const char *const seeds[][2] = {
        {"/subscriptions/00000000-0000-0000-0000-0000000000be/resourceGroups/rg-net",
         "Microsoft.Resources/resourceGroups"},
        {"/subscriptions/00000000-0000-0000-0000-0000000000be/resourceGroups/rg-net/providers/"
         "Microsoft.Network/virtualNetworks/hub",
         "Microsoft.Network/virtualNetworks"},
        {GRAPH_SUBNET, "Microsoft.Network/virtualNetworks/subnets"},
    };
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        char path[512], body[256];
        snprintf(path, sizeof(path), "/_armlocal/resources%s", seeds[i][0]);
        snprintf(body, sizeof(body),
                 "{\"type\":\"%s\",\"location\":\"westeurope\",\"properties\":{}}", seeds[i][1]);
        if (bench_control(url, "PUT", path, body, NULL, 0) < 0)
            return -1;
    }
    return 0;
}

/* B: the median wall time of RUNS applies of the graph in gdir by the
 * amlsec at `bin`, each against a fresh local cloud of this build (the
 * measuring instrument: a baseline amlsec runs against it too). */
static int apply_graph(const char *bin, const char *gdir, int par, int refresh, const char *lro,
                       double *median, double *lo, double *hi)
{
    double walls[RUNS];
    char url[256], p[16], latency[64];
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
    snprintf(p, sizeof(p), "%d", par);
    snprintf(latency, sizeof(latency), "{\"latencyMs\":%d}", GRAPH_LATENCY_MS);
    for (int i = 0; i < RUNS; i++) {
        char state_dir[PATH_MAX + 64];
        char *rm[] = {"/bin/rm", "-rf", state_dir, NULL};
        double w;
        long rss;
        int rc;
        snprintf(state_dir, sizeof(state_dir), "%s/.amlsec", gdir);
        run(gdir, rm, &w, &rss);
        if (bench_cloud_start(armlocal, url, sizeof(url),
                              (const char *const[]){"--lro-ms", lro, NULL}) < 0 ||
            seed_network(url) < 0 ||
            bench_control(url, "PUT", "/_armlocal/settings", latency, NULL, 0) < 0) {
            fprintf(stderr, "bench_plan: cannot start the local cloud %s for B\n", armlocal);
            bench_cloud_stop();
            return -1;
        }
        rc = run(gdir, apply, &walls[i], &rss);
        bench_cloud_stop();
        if (rc != 0) {
            fprintf(stderr, "bench_plan: graph apply by %s exited %d\n", bin, rc);
            return -1;
        }
    }
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
        bench_sibling(a_buf, sizeof(a_buf), self, "amlsec");
        bench_sibling(l_buf, sizeof(l_buf), self, "amlsec-armlocal");
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
    if (bench_cloud_start(armlocal, url, sizeof(url),
                          (const char *const[]){"--lro-ms", "0", NULL}) < 0) {
        fprintf(stderr, "bench_plan: cannot start %s\n", armlocal);
        return 1;
    }
    {
        char *apply[] = {(char *)amlsec, "apply",        "-cloud", url, "-auto-approve",
                         "-no-color",    "-parallelism", "64",     NULL};
        rc = run(dir, apply, &seed_wall, &rss);
        if (rc != 0) {
            fprintf(stderr, "bench_plan: seeding apply failed (exit %d)\n", rc);
            bench_cloud_stop();
            return 1;
        }
        printf("A. seeded %d resources (+1 resource group) with one apply at full speed: %.1f s, "
               "peak RSS %.1f MB\n",
               n, seed_wall, rss / 1024.0);
    }
    if (bench_control(url, "PUT", "/_armlocal/settings", "{\"latencyMs\":30,\"throttle\":\"arm\"}",
                      NULL, 0) < 0) {
        fprintf(stderr, "bench_plan: cannot switch the local cloud to ARM latency/throttling\n");
        bench_cloud_stop();
        return 1;
    }
    unsetenv("AMLSEC_RATE_LIMIT");
    for (int i = 0; i < RUNS; i++) {
        char *plan[] = {(char *)amlsec,       "plan",      "-cloud", url,
                        "-detailed-exitcode", "-no-color", NULL};
        req0 = bench_request_total(url);
        rc = run(dir, plan, &walls[i], &rss);
        req1 = bench_request_total(url);
        if (rc != 0) {
            fprintf(stderr, "bench_plan: plan run %d exited %d (expected 0: no changes)\n", i, rc);
            bench_cloud_stop();
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
    bench_cloud_stop();

    /* --- B: apply of a 200-resource graph vs its critical path --------------- */
part_b:
    if (getenv("BENCH_PLAN_ONLY") && strcmp(getenv("BENCH_PLAN_ONLY"), "B") != 0)
        goto done;
    {
        const int n_graph = 200;
        const char *base = getenv("BENCH_PLAN_BASELINE");
        char lro[1024], base_amlsec[PATH_MAX + 16], chain[512];
        double critical;
        snprintf(gdir, sizeof(gdir), "%s/graph", dir);
        if (mkdir(gdir, 0700) < 0 || write_graph(gdir, n_graph) < 0) {
            perror("bench_plan: graph");
            return 1;
        }
        critical = graph_critical_s(chain, sizeof(chain));
        graph_lro_flag(lro, sizeof(lro));
        if (base)
            snprintf(base_amlsec, sizeof(base_amlsec), "%s/amlsec", base);
        printf("B. apply of %d resources (%d workspace stacks), latency %d ms per request; "
               "operations take typical Azure creation times / %d:\n  ",
               ngnodes, (ngnodes - 1) / 13, GRAPH_LATENCY_MS, GRAPH_SCALE);
        for (int k = 0; k < G_NKINDS; k++)
            printf("%s %d ms%s", strrchr(gkinds[k].type, '/') + 1, gkind_ms(k),
                   k + 1 < G_NKINDS ? ", " : "\n");
        printf("   critical path (durations + round trips x latency along the longest chain, "
               "%s): %.3f s\n",
               chain, critical);
        printf("   %-60s %-30s %s\n", "", "this build",
               base ? "baseline (BENCH_PLAN_BASELINE)" : "");
        /* with refresh (what a user runs), and -refresh=false: the walk
         * alone; with no parallelism limit (at the default 10, the bound
         * is not the critical path). The client's ARM token buckets are
         * off: time runs GRAPH_SCALE times faster here but ARM's buckets
         * refill at their real rate (25 reads/s), so ~400 reads in 5 s
         * would queue, where over the ~4 minutes of a real apply they
         * never do. The last row shows that effect (buckets on). */
        for (int v = 0; v < 3; v++) {
            int par = n_graph, refresh = v != 1;
            char label[80];
            if (v == 2)
                unsetenv("AMLSEC_RATE_LIMIT");
            else
                setenv("AMLSEC_RATE_LIMIT", "off", 1);
            snprintf(label, sizeof(label),
                     "apply%s -parallelism %d%s:", refresh ? "" : " -refresh=false", par,
                     v == 2 ? " (ARM buckets, real-time refill)" : "");
            printf("   %-60s", label);
            for (int b = 0; b <= (base ? 1 : 0); b++) {
                double med, lo, hi;
                char cell[64];
                fflush(stdout);
                if (apply_graph(b ? base_amlsec : amlsec, gdir, par, refresh, lro, &med, &lo, &hi) <
                    0)
                    return 1;
                snprintf(cell, sizeof(cell), "%.3f s = %.2fx (%.3f-%.3f)", med, med / critical, lo,
                         hi);
                printf(" %-30s", cell);
            }
            printf("\n");
        }
        printf("B. wall time of the apply process (median of %d runs) / critical path; target "
               "<= 1.10x\n",
               RUNS);
    }
done:
    run("/", (char *[]){"/bin/rm", "-rf", dir, NULL}, &wall, &rss);
    curl_global_cleanup();
    return 0;
}
