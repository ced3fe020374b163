/* bench_state: load + save of a state with 10,000 resource instances through
 * the local backend (read, checksum, parse; serialize, checksum, backup
 * link, atomic write with fsync), plaintext and AES-256-GCM (raw key).
 * Prints the median of several runs and the peak RSS. Targets (issue 6):
 * load + save <= 150 ms, peak RSS <= 100 MB.
 *
 * Usage: bench_state [instances] [runs] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "state/backend.h"
#include "state/backend_local.h"
#include "state/crypt.h"
#include "state/state.h"
#include "util/error.h"
#include "util/banned.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU time (user + system) of this process, in ms: less sensitive than
 * wall time to other load on the machine. */
static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One instance with attributes shaped like an ARM GET of an AML-related
 * resource (about 1.5 KB of JSON). */
static int add_instance(struct state *st, int i, struct errbuf *err)
{
    static const char *const kinds[] = {
        "azurerm_machine_learning_workspace", "azurerm_storage_account", "azurerm_key_vault",
        "azurerm_private_endpoint", "azurerm_machine_learning_compute_cluster"};
    const char *kind = kinds[i % 5];
    char address[160], id[400], name[64], dep[160];
    struct state_resource r = {0};
    int rc;

    snprintf(name, sizeof(name), "res%05d", i);
    snprintf(address, sizeof(address), "%s.%s", kind, name);
    snprintf(id, sizeof(id),
             "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml-%02d/"
             "providers/Microsoft.MachineLearningServices/workspaces/%s",
             i % 40, name);
    snprintf(dep, sizeof(dep), "azurerm_resource_group.rg%02d", i % 40);
    r.address = address;
    r.kind = (char *)kind;
    r.arm_id = id;
    r.api_version = "2024-04-01";
    r.status = i % 97 == 0 ? STATE_STATUS_TAINTED : STATE_STATUS_CREATED;
    r.attributes = json_pack(
        "{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}, "
        "s:{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:{s:s, s:[{s:s, s:s}, {s:s, s:s}]}, "
        "s:{s:s, s:s}, s:s, s:b, s:s}, s:{s:s, s:s, s:s, s:s, s:s, s:s}}",
        "id", id, "name", name, "type", "Microsoft.MachineLearningServices/workspaces", "location",
        "westeurope", "tags", "environment", "prod", "owner", "ml-platform@contoso", "costCenter",
        "cc-4711", "sku", "name", "Basic", "tier", "Basic", "identity", "type", "SystemAssigned",
        "principalId", "6f1c9d8e-2b7a-4c3e-9f10-5a6b7c8d9e0f", "properties", "friendlyName", name,
        "description", "workspace managed by amlsec for the ML platform", "storageAccount",
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml/providers/"
        "Microsoft.Storage/storageAccounts/stml0001",
        "keyVault",
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml/providers/"
        "Microsoft.KeyVault/vaults/kv-ml-0001",
        "applicationInsights",
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml/providers/"
        "Microsoft.Insights/components/appi-ml-0001",
        "publicNetworkAccess", "Disabled", "hbiWorkspace", 1, "discoveryUrl",
        "https://westeurope.api.azureml.ms/discovery", "workspaceId",
        "0b8c2a4e-7d1f-4e5a-9c3b-2f6e8d0a1b4c", "managedNetwork", "isolationMode",
        "AllowOnlyApprovedOutbound", "outboundRules", "name", "pypi", "destination", "pypi.org",
        "name", "conda", "destination", "conda.anaconda.org", "encryption", "status", "Enabled",
        "keyVaultProperties", "cmk-key-0001", "provisioningState", "Succeeded", "v1LegacyMode", 0,
        "primaryUserAssignedIdentity", "", "systemData", "createdBy", "ml-platform@contoso",
        "createdByType", "User", "createdAt", "2026-01-15T10:00:00Z", "lastModifiedBy", "amlsec",
        "lastModifiedByType", "Application", "lastModifiedAt", "2026-11-20T09:30:00Z");
    r.sensitive = json_pack("[s]", "/properties/encryption/keyVaultProperties");
    r.dependencies = json_pack("[s]", dep);
    if (!r.attributes || !r.sensitive || !r.dependencies)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory building the state");
    rc = state_put(st, &r, err);
    json_decref(r.attributes);
    json_decref(r.sensitive);
    json_decref(r.dependencies);
    return rc;
}

static int run(const char *label, const char *path, struct crypt_keys *keys, int runs,
               struct errbuf *err)
{
    double load[64], save[64], both[64], cpu[64];
    struct state_backend *be = NULL;
    int rc = 0;

    for (int i = 0; i < runs; i++) {
        struct state st;
        int existed;
        double t0, t1, t2, c0;
        if ((rc = backend_local_new(&be, path, err)) < 0)
            return rc;
        c0 = cpu_ms();
        t0 = now_ms();
        if ((rc = state_backend_load(&st, &existed, be, keys, err)) < 0)
            break;
        t1 = now_ms();
        if ((rc = state_backend_save(be, &st, keys, err)) < 0) {
            state_release(&st);
            break;
        }
        t2 = now_ms();
        cpu[i] = cpu_ms() - c0;
        load[i] = t1 - t0;
        save[i] = t2 - t1;
        both[i] = t2 - t0;
        state_release(&st);
        state_backend_free(be);
        be = NULL;
    }
    state_backend_free(be);
    if (rc == 0)
        printf("%-22s load %6.1f ms  save %6.1f ms  load+save %6.1f ms (cpu %6.1f ms), "
               "median of %d\n",
               label, median(load, runs), median(save, runs), median(both, runs), median(cpu, runs),
               runs);
    return rc;
}

/* Builds the state and writes both files; run in a child process so that
 * building the JSON trees does not count in the measured process's RSS. */
static int generate(const char *path, const char *enc_path, struct crypt_keys *keys, int n,
                    struct errbuf *err)
{
    struct state st;
    struct state_backend *be = NULL;
    struct buf b;
    int rc;

    if ((rc = state_init(&st, err)) < 0)
        return rc;
    for (int i = 0; i < n && rc == 0; i++)
        rc = add_instance(&st, i, err);
    if (rc == 0 && (rc = backend_local_new(&be, path, err)) == 0)
        rc = state_backend_save(be, &st, NULL, err);
    state_backend_free(be);
    be = NULL;
    if (rc == 0 && (rc = backend_local_new(&be, enc_path, err)) == 0)
        rc = state_backend_save(be, &st, keys, err);
    state_backend_free(be);
    if (rc == 0) {
        buf_init(&b, STATE_MAX_BYTES);
        state_serialize(&st, &b, err);
        printf("bench_state: %d resource instances, %.1f MB state file\n", n,
               (double)b.len / (1024.0 * 1024.0));
        fflush(stdout);
        buf_release(&b);
    }
    state_release(&st);
    return rc;
}

int main(int argc, char **argv)
{
    struct errbuf err = ERRBUF_INIT;
    struct crypt_keys keys;
    struct rusage ru;
    char dir[] = "/tmp/amlsec-bench-XXXXXX", path[128], enc_path[128], cmd[256];
    int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 10000;
    int runs = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 7;
    int rc = 1, status;
    pid_t pid;

    if (n <= 0 || runs <= 0 || runs > 64) {
        fprintf(stderr, "usage: bench_state [instances] [runs<=64]\n");
        return 1;
    }
    crypt_keys_init(&keys);
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(path, sizeof(path), "%s/state.json", dir);
    snprintf(enc_path, sizeof(enc_path), "%s/state.enc", dir);
    if (crypt_key_set_text(&keys.primary,
                           "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                           "bench key", &err) < 0)
        goto out;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        if (generate(path, enc_path, &keys, n, &err) < 0) {
            fprintf(stderr, "bench_state: %s\n", err.msg);
            _exit(1);
        }
        _exit(0);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        errbuf_set(&err, AMLSEC_ERROR, "generating the state failed");
        goto out;
    }
    if (run("plaintext", path, NULL, runs, &err) < 0 ||
        run("aes-256-gcm (raw key)", enc_path, &keys, runs, &err) < 0)
        goto out;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %.1f MB (targets: load+save <= 150 ms, RSS <= 100 MB)\n",
           (double)ru.ru_maxrss / 1024.0);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "bench_state: %s\n", err.msg);
    crypt_keys_release(&keys);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
