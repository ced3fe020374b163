/* Benchmark of issue 18: every command at several sizes of a configuration
 * shaped like a real stack, run as a user runs amlsec (separate processes).
 *
 * Each stack of 14 resources is a network-isolated workspace with its key
 * vault, customer-managed key, storage account, registry and Application
 * Insights, a build cluster, an online endpoint, private endpoints for the
 * workspace, blob, file and vault, a lock and a role assignment on the workspace;
 * team role assignments on the resource group fill up to the size.
 *
 * For each size it prints, per command, the wall time, CPU time and peak
 * RSS of the amlsec process, and the growth exponent from the previous
 * size (log(t2/t1) / log(n2/n1): 1.0 is linear). The commands:
 *   validate, validate -json, fmt -check, plan -refresh=false -out F
 *   (creates), show -json F, check -plan F, apply (AMLSEC_RATE_LIMIT=off, unthrottled
 *   local cloud), plan -refresh=false (no changes), state list, state mv,
 *   plan with refresh (no changes) at --latency-ms 30 --throttle arm
 *   (with its ARM request count, and its wall time against the floor
 *   ARM's read bucket, 250 then 25 a second, puts under its reads), drift
 *   twice (against a local cloud with Resource Graph's user quota off,
 *   --graph-quota off: amlsec's own scaling; then with the quota on, as in
 *   Azure: its wall time against the floor the quota, 15 queries per 5 s,
 *   puts under the pages it sent, target <= 1.02x, and the queries refused
 *   with 429), check -fail-on never, and apply of creates under ARM's
 *   limits against its write bucket's floor. apply and drift also print
 *   their Resource Graph queries (apply checks what its creates would
 *   overwrite, a page per 1,000 ids in resource groups that exist: none
 *   for these stacks, whose group is new; drift also the rows, each
 *   resource once).
 *
 * validate's stages are also measured in this process (bench_scale
 * --validate-stages DIR, a fresh process per run): parse + check
 * (config_load with check_only, as bench_parse) against evaluation, schema
 * check and rules (config_load with the ARM resolver, schema_validate_config,
 * rules_run) minus parse + check; the target is at most 3x. The
 * child makes validate's allocator settings (cmd/cmd_validate.c: glibc's
 * fast bins off, jansson's blocks in one region) for both stages, and
 * prints each stage's page faults too. A stage of 10 ms swings by +-15%
 * with first-touch page faults from one process to the next, so each size
 * runs STAGE_RUNS (5) fresh children and prints the median of their ratios
 * (and of each stage's seconds and faults), with the lowest and highest
 * ratio.
 *
 * Usage: bench_scale [AMLSEC [ARMLOCAL]]  (default: next to this binary)
 *        bench_scale --generate DIR N    writes the configuration of size N
 *                                        into DIR/main.amlsec (for profiling)
 *        bench_scale --validate-stages DIR   prints the stages' CPU seconds
 *                                    and page faults (one run)
 *   BENCH_SCALE_SIZES="1000 10000 50000"   sizes in resources (the default:
 *                                    the issue's; 50,000 takes minutes)
 *   BENCH_SCALE_REFRESH_MAX=10000    largest size of the refreshed plan
 *   BENCH_SCALE_DRIFT_MAX=50000      largest size of drift (both runs)
 *   BENCH_SCALE_THROTTLED_MAX=1000   largest size of the throttled apply
 *                                    (its floor is (writes - 200) / 10 s)
 *   BENCH_SCALE_REFRESH_TARGET=0     skips the refresh target first
 *                                    (5,000 resources, 1,000 workspaces)
 *   BENCH_SCALE_ROWS=drift           only the apply the drift rows need and
 *                                    the drift rows (no refresh target)
 *   BENCH_SCALE_ROWS=stages          only validate's stages (no local cloud)
 *   BENCH_SCALE_ROWS=refresh         only the apply and the refreshed plan
 *                                    (no refresh target)
 *   BENCH_SCALE_KEEP=1               keeps the configurations and states
 * Prints its figures; it is not a test. Loopback traffic only. */
#include <curl/curl.h>
#include <jansson.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
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
#include "engine/rules.h"
#include "parser/config.h"
#include "parser/diag.h"
#include "providers/arm/resolve.h"
#include "providers/arm/schema.h"
#include "util/arena.h"
#include "util/errbuf.h"

static const char *amlsec, *armlocal;
static char self_path[PATH_MAX];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct measure {
    double wall, cpu;
    double cloud_cpu; /* the local cloud's CPU seconds meanwhile; < 0: not measured */
    long rss_kb;
    long requests; /* -1: not counted */
    double floor;  /* seconds an external limit alone takes (drift: Resource Graph's quota) */
    int done;
};

/* Runs argv in dir with output to /dev/null; returns its exit status and
 * fills m (wall seconds, CPU seconds, peak RSS). */
static int run(const char *dir, char *const argv[], struct measure *m)
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
    m->wall = now_s() - t0;
    m->rss_kb = ru.ru_maxrss;
    m->cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    m->requests = -1;
    m->cloud_cpu = -1;
    m->floor = 0;
    m->done = 1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

#define SUB "00000000-0000-0000-0000-0000000000be"
#define SUBNET                                                                                     \
    "/subscriptions/" SUB "/resourceGroups/rg-net/providers/"                                      \
    "Microsoft.Network/virtualNetworks/hub/subnets/pe"

static int seed_network(const char *url)
{
    static const char *const seeds[][2] = {
        {"/subscriptions/" SUB "/resourceGroups/rg-net", "Microsoft.Resources/resourceGroups"},
        {"/subscriptions/" SUB "/resourceGroups/rg-net/providers/"
         "Microsoft.Network/virtualNetworks/hub",
         "Microsoft.Network/virtualNetworks"},
        {SUBNET, "Microsoft.Network/virtualNetworks/subnets"},
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

#define STACK 14

/* n resources (plus the resource group): n / 14 workspace stacks, team
 * role assignments for the rest. Returns the number of stacks. */
static int write_stacks(const char *dir, int n)
{
    char path[PATH_MAX + 64];
    FILE *f;
    int stacks = n / STACK;
    snprintf(path, sizeof(path), "%s/main.amlsec", dir);
    if ((f = fopen(path, "w")) == NULL)
        return -1;
    fputs("settings {\n  subscription = \"" SUB "\"\n"
          "  tenant = \"00000000-0000-0000-0000-00000000a11c\"\n  location = \"westeurope\"\n}\n\n"
          "resource_group \"g\" {\n  name = \"rg-stacks\"\n}\n\n"
          "existing subnet \"pe\" {\n  id = \"" SUBNET "\"\n}\n\n",
          f);
    for (int i = 0; i < stacks; i++) {
        fprintf(f,
                "key_vault \"v%d\" {\n  resource_group = resource_group.g\n"
                "  name = \"kv-stack-%06d\"\n  purge_protection = true\n"
                "  public_network_access = false\n}\n\n"
                "key \"k%d\" {\n  vault = key_vault.v%d\n  type = \"RSA-HSM\"\n  size = 3072\n}\n\n"
                "storage_account \"s%d\" {\n  resource_group = resource_group.g\n"
                "  name = \"ststack%06d\"\n  allow_blob_public_access = false\n"
                "  public_network_access = false\n}\n\n"
                "container_registry \"c%d\" {\n  resource_group = resource_group.g\n"
                "  name = \"acrstack%06d\"\n  sku = \"Premium\"\n  admin_user = true\n"
                "  public_network_access = false\n}\n\n"
                "app_insights \"a%d\" {\n  resource_group = resource_group.g\n"
                "  name = \"appi-stack-%06d\"\n}\n\n"
                "workspace \"w%d\" {\n  resource_group = resource_group.g\n"
                "  name = \"mlw-stack-%06d\"\n  key_vault = key_vault.v%d\n"
                "  storage_account = storage_account.s%d\n"
                "  container_registry = container_registry.c%d\n  app_insights = app_insights.a%d\n"
                "  public_network_access = false\n  image_build_compute = \"cpu-build\"\n"
                "  hbi = true\n  encryption {\n    key = key.k%d\n  }\n}\n\n"
                "compute_cluster \"b%d\" {\n  workspace = workspace.w%d\n  name = \"cpu-build\"\n"
                "  vm_size = \"Standard_DS3_v2\"\n  subnet = existing.subnet.pe.id\n"
                "  node_public_ip = false\n  local_auth = false\n  scale {\n    max = 2\n  }\n}\n\n"
                "online_endpoint \"e%d\" {\n  workspace = workspace.w%d\n"
                "  name = \"score-%06d\"\n  auth = \"aad_token\"\n"
                "  public_network_access = false\n}\n\n"
                "private_endpoint \"pw%d\" {\n  target = workspace.w%d\n"
                "  subresource = \"amlworkspace\"\n  subnet = existing.subnet.pe.id\n}\n\n"
                "private_endpoint \"pb%d\" {\n  target = storage_account.s%d\n"
                "  subresource = \"blob\"\n  subnet = existing.subnet.pe.id\n}\n\n"
                "private_endpoint \"pf%d\" {\n  target = storage_account.s%d\n"
                "  subresource = \"file\"\n  subnet = existing.subnet.pe.id\n}\n\n"
                "private_endpoint \"pv%d\" {\n  target = key_vault.v%d\n"
                "  subresource = \"vault\"\n  subnet = existing.subnet.pe.id\n}\n\n"
                "lock \"l%d\" {\n  target = workspace.w%d\n  level = \"CanNotDelete\"\n}\n\n"
                "role_assignment \"r%d\" {\n  scope = workspace.w%d\n"
                "  principal = \"3f2504e0-4f89-11d3-9a0c-0305e8%06d\"\n"
                "  principal_type = \"Group\"\n  role = \"AzureML Data Scientist\"\n}\n\n",
                i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i,
                i, i, i, i, i, i, i);
    }
    for (int i = stacks * STACK; i < n; i++)
        fprintf(f,
                "role_assignment \"team%d\" {\n  scope = resource_group.g\n"
                "  principal = \"3f2504e0-4f89-11d3-9a0c-0305e9%06d\"\n"
                "  principal_type = \"Group\"\n  role = \"Reader\"\n}\n\n",
                i, i);
    if (fclose(f) != 0)
        return -1;
    return stacks;
}

enum cmd {
    C_VALIDATE,
    C_VALIDATE_JSON,
    C_FMT,
    C_PLAN_CREATES,
    C_SHOW_JSON,
    C_APPLY,
    C_PLAN_NOCHANGE,
    C_STATE_LIST,
    C_STATE_MV,
    C_PLAN_REFRESH,
    C_APPLY_THROTTLED,
    C_DRIFT,
    C_DRIFT_QUOTA,
    C_CHECK,
    C_CHECK_PLAN,
    C_NCMDS
};

static const char *const cmd_names[C_NCMDS] = {
    [C_VALIDATE] = "validate",
    [C_VALIDATE_JSON] = "validate -json",
    [C_FMT] = "fmt -check",
    [C_PLAN_CREATES] = "plan -refresh=false -out F (creates)",
    [C_SHOW_JSON] = "show -json F",
    [C_APPLY] = "apply (RATE_LIMIT=off, unthrottled)",
    [C_PLAN_NOCHANGE] = "plan -refresh=false (no changes)",
    [C_STATE_LIST] = "state list",
    [C_STATE_MV] = "state mv",
    [C_PLAN_REFRESH] = "plan, refresh, 30 ms, throttle arm",
    [C_APPLY_THROTTLED] = "apply under ARM's limits",
    [C_DRIFT] = "drift (Graph quota off)",
    [C_DRIFT_QUOTA] = "drift (Graph's quota, 15 per 5 s)",
    [C_CHECK] = "check -fail-on never",
    [C_CHECK_PLAN] = "check -plan F -fail-on never",
};

#define MAX_SIZES 8

static struct measure results[MAX_SIZES][C_NCMDS];
static int sizes[MAX_SIZES], nsizes;

/* validate's stages at each size (CPU seconds): parse + check, and the
 * evaluation, schema check and rules that follow it; after
 * validate_stages, the medians of STAGE_RUNS runs */
struct stages {
    double check, eval, schema, rules;
    long faults[4]; /* page faults: parse + check, the full load, schema, rules */
    double ratio, ratio_min, ratio_max; /* (eval + schema + rules) / check */
    int done;
};
static struct stages stage_results[MAX_SIZES];

/* fresh stage children per size: the printed figures are their medians */
#define STAGE_RUNS 5

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long page_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt + ru.ru_majflt;
}

/* The child of --validate-stages: one config_load with check_only, then
 * validate's own pipeline (load with the ARM resolver, schema check,
 * rules), each timed; prints "check load schema rules" CPU seconds, then
 * the page faults of each. */
static int validate_stages_child(const char *dir)
{
    long f0, f1, f2, f3, f4;
    struct config_opts opts;
    struct config *cfg = NULL;
    struct diag_list diags;
    struct errbuf err = ERRBUF_INIT;
    double c0, c1, c2, c3, c4, c5;
    int rc;
    /* validate's allocator settings (cmd/cmd_validate.c), for both stages */
    mallopt(M_MXFAST, 0);
    arena_json_install();
    memset(&opts, 0, sizeof(opts));
    opts.path = dir;
    opts.kinds = schema_kind_names;
    opts.check_only = true;
    diag_list_init(&diags);
    f0 = page_faults();
    c0 = cpu_now();
    rc = config_load(&cfg, &opts, &diags, &err);
    c1 = cpu_now();
    f1 = page_faults();
    config_free(cfg);
    cfg = NULL;
    diag_list_release(&diags);
    if (rc != 0) {
        fprintf(stderr, "bench_scale: check-only load failed: %s\n", err.msg);
        return 1;
    }
    opts.check_only = false;
    opts.resolver = resolve_resolver();
    opts.lazy_tags = true; /* as cmd_validate loads */
    diag_list_init(&diags);
    f2 = page_faults();
    c2 = cpu_now();
    rc = config_load(&cfg, &opts, &diags, &err);
    c3 = cpu_now();
    f3 = page_faults();
    if (rc != 0) {
        fprintf(stderr, "bench_scale: load failed: %s\n", err.msg);
        return 1;
    }
    schema_validate_config(cfg, &diags);
    c4 = cpu_now();
    f4 = page_faults();
    rules_run(cfg, &diags);
    c5 = cpu_now();
    printf("%.6f %.6f %.6f %.6f %ld %ld %ld %ld\n", c1 - c0, c3 - c2, c4 - c3, c5 - c4, f1 - f0,
           f3 - f2, f4 - f3, page_faults() - f4);
    config_free(cfg);
    diag_list_release(&diags);
    return 0;
}

/* Runs the stages child on dir once; fills st. */
static int validate_stages_once(const char *dir, struct stages *st)
{
    int fds[2], status;
    char out[256];
    ssize_t n;
    double load;
    pid_t pid;
    if (pipe(fds) < 0)
        return -1;
    if ((pid = fork()) == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(self_path, self_path, "--validate-stages", dir, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    n = pid > 0 ? read(fds[0], out, sizeof(out) - 1) : -1;
    close(fds[0]);
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || n <= 0 || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return -1;
    out[n] = '\0';
    if (sscanf(out, "%lf %lf %lf %lf %ld %ld %ld %ld", &st->check, &load, &st->schema, &st->rules,
               &st->faults[0], &st->faults[1], &st->faults[2], &st->faults[3]) != 8)
        return -1;
    /* the full load repeats parse + check: evaluation is what it adds */
    st->eval = load > st->check ? load - st->check : 0;
    st->ratio = st->check > 0 ? (st->eval + st->schema + st->rules) / st->check : 0;
    st->done = 1;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of n doubles (sorts v). */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Runs STAGE_RUNS fresh stages children on dir; fills st with the median
 * of each figure (the ratio's is the median of the runs' ratios, not the
 * ratio of the medians) and the lowest and highest ratio. */
static int validate_stages(const char *dir, struct stages *st)
{
    struct stages run[STAGE_RUNS];
    double v[STAGE_RUNS];
    for (int i = 0; i < STAGE_RUNS; i++)
        if (validate_stages_once(dir, &run[i]) < 0)
            return -1;
#define STAGE_MEDIAN(field)                                                                        \
    do {                                                                                           \
        for (int i = 0; i < STAGE_RUNS; i++)                                                       \
            v[i] = (double)run[i].field;                                                           \
        st->field = median(v, STAGE_RUNS);                                                         \
    } while (0)
    STAGE_MEDIAN(check);
    STAGE_MEDIAN(eval);
    STAGE_MEDIAN(schema);
    STAGE_MEDIAN(rules);
    for (int f = 0; f < 4; f++) {
        for (int i = 0; i < STAGE_RUNS; i++)
            v[i] = (double)run[i].faults[f];
        st->faults[f] = (long)median(v, STAGE_RUNS);
    }
    STAGE_MEDIAN(ratio);
#undef STAGE_MEDIAN
    st->ratio_min = v[0]; /* sorted by the last median */
    st->ratio_max = v[STAGE_RUNS - 1];
    st->done = 1;
    return 0;
}

static void print_stages(int s)
{
    const struct stages *st = &stage_results[s];
    printf("  %-38s %8.3f s CPU parse+check; %.3f s evaluation, %.3f s schema, %.3f s rules: "
           "%.2fx (target <= 3x) %s; medians of %d runs, ratios %.2fx to %.2fx\n",
           "validate stages", st->check, st->eval, st->schema, st->rules, st->ratio,
           st->ratio <= 3.0 ? "ok" : "OVER", STAGE_RUNS, st->ratio_min, st->ratio_max);
    /* the full load's faults beyond parse + check's are evaluation's */
    printf("  %-38s %8ld page faults parse+check; %ld evaluation, %ld schema, %ld rules\n", "",
           st->faults[0], st->faults[1] - st->faults[0], st->faults[2], st->faults[3]);
    fflush(stdout);
}

static void print_row(int s, enum cmd c)
{
    const struct measure *m = &results[s][c];
    printf("  %-38s %8.3f s %8.3f s CPU %8.1f MB", cmd_names[c], m->wall, m->cpu,
           m->rss_kb / 1024.0);
    if (m->requests >= 0)
        printf("  %6ld requests", m->requests);
    if (m->cloud_cpu > 0)
        printf("  armlocal %.3f s CPU", m->cloud_cpu);
    if (s > 0 && results[s - 1][c].done && results[s - 1][c].wall > 0) {
        double k = log(m->wall / results[s - 1][c].wall) / log((double)sizes[s] / sizes[s - 1]);
        printf("  growth n^%.2f", k);
    }
    printf("\n");
    fflush(stdout);
}

/* Resource Graph queries the cloud has answered so far (the POSTs of its
 * request log: amlsec POSTs nothing else while it plans), or -1. */
static long graph_total(const char *url)
{
    char *out = bench_control_get(url, "/_armlocal/requests/totals");
    const char *p = out ? strstr(out, "\"byVerb\"") : NULL;
    long n = -1;
    if (p) {
        const char *post = strstr(p, "\"POST\":");
        n = post ? strtol(post + 7, NULL, 10) : 0;
    }
    free(out);
    return n;
}

/* A count of the cloud's request totals so far ("graphRows": the rows
 * Resource Graph answered, every page's count; "graphThrottled": its
 * queries refused with 429 for the user quota), or -1. */
static long totals_count(const char *url, const char *name)
{
    char *out = bench_control_get(url, "/_armlocal/requests/totals"), key[64];
    const char *p;
    long n;
    snprintf(key, sizeof(key), "\"%s\":", name);
    p = out ? strstr(out, key) : NULL;
    n = p ? strtol(p + strlen(key), NULL, 10) : -1;
    free(out);
    return n;
}

static long drift_max = 50000;
static int only_drift;   /* BENCH_SCALE_ROWS=drift */
static int only_stages;  /* BENCH_SCALE_ROWS=stages */
static int only_refresh; /* BENCH_SCALE_ROWS=refresh */

/* amlsec fmt over dir, untimed: the generator's layout is not fmt's */
static void format_once(const char *dir)
{
    char *fmt[] = {(char *)amlsec, "fmt", NULL};
    struct measure m;
    if (run(dir, fmt, &m) != 0)
        fprintf(stderr, "bench_scale: fmt failed\n");
}

/* Resource Graph's user quota: 15 queries per 5 s window, the first
 * window free. What n queries take at least. */
static double graph_quota_floor(long n)
{
    return n > 15 ? (double)((n - 1) / 15) * 5.0 : 0;
}

/* drift at size s as row c (C_DRIFT: the cloud's Graph quota off;
 * C_DRIFT_QUOTA: on). drift exits 0 at every size (these stacks have no
 * drift and nothing unmanaged in their scopes; 2, drift found, would be a
 * finished run too). With the quota on, its wall time is compared with the
 * floor the quota puts under the pages it sent: the first 15 free, then 15
 * per 5 s window. */
static int run_drift(int s, const char *dir, const char *url, enum cmd c)
{
    char *argv_[] = {(char *)amlsec, "drift", "-cloud", (char *)url, "-parallelism", "64", NULL};
    struct measure *m = &results[s][c];
    double cloud0 = bench_cloud_cpu();
    long graph0 = graph_total(url), req0 = bench_request_total(url),
         rows0 = totals_count(url, "graphRows");
    long thr0 = totals_count(url, "graphThrottled");
    int rc = run(dir, argv_, m);
    m->cloud_cpu = cloud0 >= 0 ? bench_cloud_cpu() - cloud0 : -1;
    m->requests = req0 >= 0 ? bench_request_total(url) - req0 : -1;
    if (rc != 0 && rc != 2) {
        fprintf(stderr, "bench_scale: %s at %d exited %d\n", cmd_names[c], sizes[s], rc);
        return -1;
    }
    print_row(s, c);
    if (graph0 >= 0) {
        long graph = graph_total(url) - graph0, rows = totals_count(url, "graphRows") - rows0;
        long refused = thr0 >= 0 ? totals_count(url, "graphThrottled") - thr0 : 0;
        if (c == C_DRIFT) {
            printf("    of which %ld Resource Graph queries (%ld rows)\n", graph,
                   rows0 >= 0 ? rows : -1);
        } else {
            m->floor = graph_quota_floor(graph - refused);
            printf(
                "    of which %ld Resource Graph queries answered (%ld rows), %ld refused (429); "
                "the quota's floor for them %.0f s, wall beyond it %.3f s",
                graph - refused, rows0 >= 0 ? rows : -1, refused, m->floor, m->wall - m->floor);
            if (m->floor > 0)
                printf(", wall %.3fx the floor (target <= 1.02x)", m->wall / m->floor);
            else
                printf(" (within the first window: no floor)");
            printf("\n");
        }
    }
    return 0;
}

static int measure_size(int s, const char *root, long refresh_max, long throttled_max)
{
    int n = sizes[s], rc;
    char dir[PATH_MAX], url[256];
    struct measure *r = results[s];
    snprintf(dir, sizeof(dir), "%s/n%d", root, n);
    if (mkdir(dir, 0700) < 0 || write_stacks(dir, n) < 0) {
        perror("bench_scale: configuration");
        return -1;
    }
    printf("== %d resources (%d workspace stacks)\n", n, n / STACK);
    format_once(dir);
    if (!only_drift && !only_refresh) {
        if (validate_stages(dir, &stage_results[s]) == 0)
            print_stages(s);
        else
            fprintf(stderr, "bench_scale: validate stages at %d failed\n", n);
    }
    if (only_stages)
        return 0;
    setenv("AMLSEC_RATE_LIMIT", "off", 1);
    /* unthrottled: neither ARM's buckets nor Resource Graph's quota */
    if (bench_cloud_start(armlocal, url, sizeof(url),
                          (const char *const[]){"--lro-ms", "0", "--graph-quota", "off", NULL}) <
            0 ||
        seed_network(url) < 0) {
        fprintf(stderr, "bench_scale: cannot start %s\n", armlocal);
        return -1;
    }
#define RUN(c, expect, ...)                                                                        \
    do {                                                                                           \
        char *argv_[] = {(char *)amlsec, __VA_ARGS__, NULL};                                       \
        rc = run(dir, argv_, &r[c]);                                                               \
        if (rc != (expect)) {                                                                      \
            fprintf(stderr, "bench_scale: %s at %d exited %d\n", cmd_names[c], n, rc);             \
            bench_cloud_stop();                                                                    \
            return -1;                                                                             \
        }                                                                                          \
        if (c != C_PLAN_REFRESH && c != C_APPLY_THROTTLED)                                         \
            print_row(s, c);                                                                       \
    } while (0)
    if (!only_drift && !only_refresh) {
        RUN(C_VALIDATE, 0, "validate", "-no-color");
        RUN(C_VALIDATE_JSON, 0, "validate", "-json");
        RUN(C_FMT, 0, "fmt", "-check");
        RUN(C_PLAN_CREATES, 2, "plan", "-cloud", url, "-refresh=false", "-detailed-exitcode",
            "-no-color", "-out", "creates.plan");
        RUN(C_SHOW_JSON, 0, "show", "-json", "creates.plan");
        RUN(C_CHECK_PLAN, 0, "check", "-plan", "creates.plan", "-fail-on", "never");
    }
    {
        /* creates are checked against what exists through Resource Graph
         * (a page per 1,000 ids in groups that exist; the stacks' group is
         * new: none), here with the quota off */
        long graph0 = graph_total(url);
        RUN(C_APPLY, 0, "apply", "-cloud", url, "-auto-approve", "-no-color", "-parallelism", "64");
        if (graph0 >= 0) {
            long graph = graph_total(url) - graph0;
            printf("    of which %ld Resource Graph queries\n", graph);
        }
    }
    if (!only_drift && !only_refresh) {
        RUN(C_PLAN_NOCHANGE, 0, "plan", "-cloud", url, "-refresh=false", "-detailed-exitcode",
            "-no-color");
        RUN(C_CHECK, 0, "check", "-fail-on", "never");
    }
    if (n <= drift_max && !only_refresh) {
        /* amlsec's own scaling: Resource Graph's quota off; then the quota
         * as Azure keeps it */
        if (run_drift(s, dir, url, C_DRIFT) < 0 ||
            bench_control(url, "PUT", "/_armlocal/settings", "{\"graphQuota\":\"on\"}", NULL, 0) <
                0 ||
            run_drift(s, dir, url, C_DRIFT_QUOTA) < 0 ||
            bench_control(url, "PUT", "/_armlocal/settings", "{\"graphQuota\":\"off\"}", NULL, 0) <
                0) {
            bench_cloud_stop();
            return -1;
        }
    }
    if (only_drift) {
        bench_cloud_stop();
        return 0;
    }
    if (!only_refresh) {
        char *back[] = {(char *)amlsec, "state", "mv", "lock.l0_moved", "lock.l0", NULL};
        struct measure m;
        RUN(C_STATE_LIST, 0, "state", "list");
        RUN(C_STATE_MV, 0, "state", "mv", "lock.l0", "lock.l0_moved");
        if (run(dir, back, &m) != 0)
            fprintf(stderr, "bench_scale: state mv back failed\n");
    }
    if (n <= refresh_max) {
        long req0;
        if (bench_control(url, "PUT", "/_armlocal/settings",
                          "{\"latencyMs\":30,\"throttle\":\"arm\",\"graphQuota\":\"on\"}", NULL,
                          0) < 0) {
            fprintf(stderr, "bench_scale: cannot switch the local cloud to ARM's limits\n");
            bench_cloud_stop();
            return -1;
        }
        unsetenv("AMLSEC_RATE_LIMIT");
        long graph0 = graph_total(url);
        double cloud0 = bench_cloud_cpu();
        req0 = bench_request_total(url);
        RUN(C_PLAN_REFRESH, 0, "plan", "-cloud", url, "-detailed-exitcode", "-no-color");
        r[C_PLAN_REFRESH].requests = bench_request_total(url) - req0;
        r[C_PLAN_REFRESH].cloud_cpu = cloud0 >= 0 ? bench_cloud_cpu() - cloud0 : -1;
        print_row(s, C_PLAN_REFRESH);
        if (graph0 >= 0) {
            long graph = graph_total(url) - graph0, reads = r[C_PLAN_REFRESH].requests - graph;
            /* ARM's read bucket: 250, then 25 a second; Resource Graph's
             * quota: 15 queries per 5 s. The reads go out beside the
             * pages: the wall's floor is the larger of the two. */
            double read_floor = reads > 250 ? (reads - 250) / 25.0 : 0;
            double floor_s = fmax(read_floor, graph_quota_floor(graph));
            printf("    of which %ld Resource Graph queries and %ld ARM GETs (lists and reads of "
                   "what Resource Graph does not hold: keys, computes, locks)\n",
                   graph, reads);
            printf("  refreshed plan: %ld ARM reads, read bucket floor %.1f s (Resource Graph's "
                   "quota's %.0f s)",
                   reads, read_floor, graph_quota_floor(graph));
            if (floor_s > 0)
                printf(", wall %.2fx the floor\n", r[C_PLAN_REFRESH].wall / floor_s);
            else
                printf(": no floor (within the burst)\n");
        }
    }
    bench_cloud_stop();
    if (n <= throttled_max && !only_refresh) {
        char state_dir[PATH_MAX + 16];
        struct measure m;
        long req0;
        snprintf(state_dir, sizeof(state_dir), "%s/.amlsec", dir);
        run(dir, (char *[]){"/bin/rm", "-rf", state_dir, NULL}, &m);
        if (bench_cloud_start(armlocal, url, sizeof(url),
                              (const char *const[]){"--lro-ms", "0", "--throttle", "arm", NULL}) <
                0 ||
            seed_network(url) < 0) {
            fprintf(stderr, "bench_scale: cannot start %s\n", armlocal);
            return -1;
        }
        unsetenv("AMLSEC_RATE_LIMIT");
        req0 = bench_request_total(url);
        RUN(C_APPLY_THROTTLED, 0, "apply", "-cloud", url, "-auto-approve", "-no-color",
            "-parallelism", "64");
        {
            char out[4096];
            const char *w;
            long writes = -1;
            r[C_APPLY_THROTTLED].requests = bench_request_total(url) - req0;
            if (bench_control(url, "GET", "/_armlocal/requests", NULL, out, sizeof(out)) == 0 &&
                (w = strstr(out, "\"PUT\":")) != NULL)
                writes = strtol(w + 6, NULL, 10);
            print_row(s, C_APPLY_THROTTLED);
            if (writes > 0) {
                double floor_s = writes > 200 ? (writes - 200) / 10.0 : 0;
                printf("  throttled apply: %ld PUTs, write bucket floor %.1f s, wall %.2fx the "
                       "floor (target <= 1.02x)\n",
                       writes, floor_s, floor_s > 0 ? r[C_APPLY_THROTTLED].wall / floor_s : 0);
            }
        }
        bench_cloud_stop();
    }
#undef RUN
    return 0;
}

/* The refresh target: a no-change plan of n resources in stacks of
 * five top-level resources (vault, storage, registry, App Insights and a
 * workspace: n / 5 workspaces) at --latency-ms 30 --throttle arm: wall time
 * and ARM requests (targets: <= 2 s and <= 15 requests at 5,000). */
static int refresh_target(const char *root, int n)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], url[256];
    struct measure m;
    FILE *f;
    long req0;
    int rc;
    snprintf(dir, sizeof(dir), "%s/refresh%d", root, n);
    snprintf(path, sizeof(path), "%s/main.amlsec", dir);
    if (mkdir(dir, 0700) < 0 || (f = fopen(path, "w")) == NULL)
        return -1;
    fputs("settings {\n  subscription = \"" SUB "\"\n  location = \"westeurope\"\n}\n\n"
          "resource_group \"g\" {\n  name = \"rg-refresh\"\n}\n\n",
          f);
    for (int i = 0; i < n / 5; i++)
        fprintf(f,
                "key_vault \"v%d\" {\n  resource_group = resource_group.g\n"
                "  name = \"kv-ws-%06d\"\n  purge_protection = true\n}\n\n"
                "storage_account \"s%d\" {\n  resource_group = resource_group.g\n"
                "  name = \"stws%06d\"\n  allow_blob_public_access = false\n}\n\n"
                "container_registry \"c%d\" {\n  resource_group = resource_group.g\n"
                "  name = \"acrws%06d\"\n  admin_user = true\n"
                "  public_network_access = true\n}\n\n"
                "app_insights \"a%d\" {\n  resource_group = resource_group.g\n"
                "  name = \"appi-ws-%06d\"\n}\n\n"
                "workspace \"w%d\" {\n  resource_group = resource_group.g\n"
                "  name = \"mlw-ws-%06d\"\n  key_vault = key_vault.v%d\n"
                "  storage_account = storage_account.s%d\n"
                "  container_registry = container_registry.c%d\n  app_insights = app_insights.a%d\n"
                "  image_build_compute = \"cpu-build\"\n}\n\n",
                i, i, i, i, i, i, i, i, i, i, i, i, i, i);
    if (fclose(f) != 0)
        return -1;
    setenv("AMLSEC_RATE_LIMIT", "off", 1);
    if (bench_cloud_start(armlocal, url, sizeof(url),
                          (const char *const[]){"--lro-ms", "0", NULL}) < 0)
        return -1;
    {
        char *apply[] = {(char *)amlsec, "apply",        "-cloud", url, "-auto-approve",
                         "-no-color",    "-parallelism", "64",     NULL};
        if ((rc = run(dir, apply, &m)) != 0) {
            fprintf(stderr, "bench_scale: the refresh estate's apply exited %d\n", rc);
            bench_cloud_stop();
            return -1;
        }
    }
    if (bench_control(url, "PUT", "/_armlocal/settings", "{\"latencyMs\":30,\"throttle\":\"arm\"}",
                      NULL, 0) < 0) {
        bench_cloud_stop();
        return -1;
    }
    unsetenv("AMLSEC_RATE_LIMIT");
    req0 = bench_request_total(url);
    {
        char *plan[] = {(char *)amlsec,       "plan",      "-cloud", url,
                        "-detailed-exitcode", "-no-color", NULL};
        rc = run(dir, plan, &m);
    }
    m.requests = bench_request_total(url) - req0;
    bench_cloud_stop();
    if (rc != 0) {
        fprintf(stderr, "bench_scale: the refresh plan exited %d (expected 0: no changes)\n", rc);
        return -1;
    }
    printf("== no-change plan of %d resources (%d workspaces), --latency-ms 30 --throttle arm: "
           "%.3f s wall, %.3f s CPU, %.1f MB, %ld ARM requests (targets: <= 2 s, <= 15)\n",
           n / 5 * 5 + 1, n / 5, m.wall, m.cpu, m.rss_kb / 1024.0, m.requests);
    return 0;
}

int main(int argc, char **argv)
{
    static char a_buf[PATH_MAX], l_buf[PATH_MAX];
    char root[] = "/tmp/amlsec-bench-scale-XXXXXX";
    const char *env = getenv("BENCH_SCALE_SIZES");
    long refresh_max = 10000, throttled_max = 1000;
    int failed = 0;
    if (argc == 3 && strcmp(argv[1], "--validate-stages") == 0)
        return validate_stages_child(argv[2]);
    if (argc == 4 && strcmp(argv[1], "--generate") == 0)
        return write_stacks(argv[2], (int)strtol(argv[3], NULL, 10)) < 0;
    {
        char self[PATH_MAX];
        if (realpath(argv[0], self) == NULL)
            snprintf(self, sizeof(self), "%s", argv[0]);
        snprintf(self_path, sizeof(self_path), "%s", self);
        bench_sibling(a_buf, sizeof(a_buf), self, "amlsec");
        bench_sibling(l_buf, sizeof(l_buf), self, "amlsec-armlocal");
    }
    /* absolute: each command runs in its size's directory */
    if (argc > 1 && realpath(argv[1], a_buf) == NULL)
        snprintf(a_buf, sizeof(a_buf), "%s", argv[1]);
    if (argc > 2 && realpath(argv[2], l_buf) == NULL)
        snprintf(l_buf, sizeof(l_buf), "%s", argv[2]);
    amlsec = a_buf;
    armlocal = l_buf;
    if (getenv("BENCH_SCALE_REFRESH_MAX"))
        refresh_max = strtol(getenv("BENCH_SCALE_REFRESH_MAX"), NULL, 10);
    if (getenv("BENCH_SCALE_DRIFT_MAX"))
        drift_max = strtol(getenv("BENCH_SCALE_DRIFT_MAX"), NULL, 10);
    if (getenv("BENCH_SCALE_THROTTLED_MAX"))
        throttled_max = strtol(getenv("BENCH_SCALE_THROTTLED_MAX"), NULL, 10);
    {
        char copy[256], *save = NULL;
        snprintf(copy, sizeof(copy), "%s", env ? env : "1000 10000 50000");
        for (char *t = strtok_r(copy, " ,", &save); t && nsizes < MAX_SIZES;
             t = strtok_r(NULL, " ,", &save))
            if ((sizes[nsizes] = (int)strtol(t, NULL, 10)) >= STACK)
                nsizes++;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (mkdtemp(root) == NULL) {
        perror("bench_scale: work directory");
        return 1;
    }
    only_drift = getenv("BENCH_SCALE_ROWS") && strcmp(getenv("BENCH_SCALE_ROWS"), "drift") == 0;
    only_stages = getenv("BENCH_SCALE_ROWS") && strcmp(getenv("BENCH_SCALE_ROWS"), "stages") == 0;
    only_refresh = getenv("BENCH_SCALE_ROWS") && strcmp(getenv("BENCH_SCALE_ROWS"), "refresh") == 0;
    if (!only_drift && !only_stages && !only_refresh &&
        (getenv("BENCH_SCALE_REFRESH_TARGET") == NULL ||
         strcmp(getenv("BENCH_SCALE_REFRESH_TARGET"), "0") != 0))
        failed = refresh_target(root, 5000) < 0;
    for (int s = 0; s < nsizes && !failed; s++)
        failed = measure_size(s, root, refresh_max, throttled_max) < 0;
    if (nsizes >= 2 && !failed) {
        int a = nsizes - 2, b = nsizes - 1;
        printf("== growth %d -> %d resources (target <= 1.15 for every command)\n", sizes[a],
               sizes[b]);
        for (int c = 0; c < C_NCMDS; c++)
            if (results[a][c].done && results[b][c].done && results[a][c].wall > 0) {
                double k =
                    log(results[b][c].wall / results[a][c].wall) / log((double)sizes[b] / sizes[a]);
                double kc = results[a][c].cpu > 0 && results[b][c].cpu > 0
                                ? log(results[b][c].cpu / results[a][c].cpu) /
                                      log((double)sizes[b] / sizes[a])
                                : 0;
                /* drift at Graph's quota grows with the quota's floor: its
                 * target is the floor (printed with each size), its
                 * scaling the row with the quota off */
                printf("  %-38s n^%.2f %s (CPU n^%.2f", cmd_names[c], k,
                       c == C_DRIFT_QUOTA ? "(quota-bound: target wall <= 1.02x its floor)"
                       : k <= 1.15        ? "ok"
                                          : "OVER",
                       kc);
                if (results[a][c].cloud_cpu > 0 && results[b][c].cloud_cpu > 0)
                    printf(", armlocal CPU n^%.2f",
                           log(results[b][c].cloud_cpu / results[a][c].cloud_cpu) /
                               log((double)sizes[b] / sizes[a]));
                if (results[b][c].floor > 0 && results[b][c].wall > results[b][c].floor &&
                    results[a][c].wall > results[a][c].floor)
                    printf(", wall beyond the quota's floor n^%.2f",
                           log((results[b][c].wall - results[b][c].floor) /
                               (results[a][c].wall - results[a][c].floor)) /
                               log((double)sizes[b] / sizes[a]));
                printf(")\n");
            }
        for (int i = 0; i < nsizes && !only_drift && !only_refresh; i++)
            if (stage_results[i].done)
                printf("  validate stages at %d: evaluation + schema + rules %.2fx parse + check "
                       "(median of %d runs) %s\n",
                       sizes[i], stage_results[i].ratio, STAGE_RUNS,
                       stage_results[i].ratio <= 3.0 ? "ok" : "OVER (target <= 3x)");
        if (!only_drift && !only_stages && !only_refresh) {
            const struct measure *v = &results[b][C_VALIDATE], *p = &results[b][C_PLAN_NOCHANGE],
                                 *sh = &results[b][C_SHOW_JSON], *ap = &results[b][C_APPLY];
            const struct measure *pc = &results[b][C_PLAN_CREATES];
            printf("  at %d: validate %.2f s (target <= 1.5 s at 50,000), plan -refresh=false "
                   "%.2f s wall, %.2f s CPU (<= 5 s), %.1f KB/resource (<= 10; creates with "
                   "-out %.1f), show -json %.2f s wall, %.2f s CPU (<= 3 s), %.1f KB/resource, "
                   "apply CPU %.2f s\n",
                   sizes[b], v->wall, p->wall, p->cpu, p->rss_kb * 1.0 / sizes[b],
                   pc->rss_kb * 1.0 / sizes[b], sh->wall, sh->cpu, sh->rss_kb * 1.0 / sizes[b],
                   ap->cpu);
        }
    }
    if (failed || getenv("BENCH_SCALE_KEEP"))
        fprintf(stderr, "bench_scale: the configurations are kept in %s\n", root);
    else
        run("/", (char *[]){"/bin/rm", "-rf", root, NULL}, &(struct measure){0});
    curl_global_cleanup();
    return failed;
}
