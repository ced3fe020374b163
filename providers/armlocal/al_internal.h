/* armlocal internals shared by the server's modules. Not a public API. */
#ifndef AMLSEC_PROVIDERS_ARMLOCAL_AL_INTERNAL_H
#define AMLSEC_PROVIDERS_ARMLOCAL_AL_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "providers/armlocal/armlocal.h"
#include "util/strmap.h"

/* How a verb completes (arm-api.md §2 and the per-resource tables). */
enum al_lro {
    AL_SYNC = 0,       /* answered at once */
    AL_ASYNC,          /* 201/200 + Azure-AsyncOperation, body shows the transient state */
    AL_LOCATION,       /* 202 + Location, empty body; a created resource stays invisible */
    AL_ASYNC_LOCATION, /* 202 + Azure-AsyncOperation and Location */
    AL_BODY,           /* 200/201 with a transient provisioningState, no polling headers */
    AL_NOT_ALLOWED,    /* the verb does not exist for this type (405) */
};

struct al_ctx;

struct al_type {
    const char *type;         /* canonical casing */
    const char *api_versions; /* space-separated */
    enum al_lro put, patch, del;
    int put_create_status, put_update_status; /* for AL_SYNC puts */
    int extension;                            /* an extension resource, at any scope */
    int has_state;                            /* properties.provisioningState */
    int flat_errors;                          /* errors are {code, message} without the wrapper */
    const char *const *create_only;
    void (*compute)(struct al_ctx *c, json_t *res, const json_t *old);
};

const struct al_type *al_type_find(const char *type);

/* --- opts.c --- */
/* Sets how long the operations of type (len bytes, any casing) take. */
int al_lro_type_set(struct armlocal_opts *o, const char *type, size_t len, unsigned ms,
                    struct errbuf *err);
/* *ms = the duration of type's operations; returns 1 when the type has its
 * own (then synchronous operations take it too), 0 for the default. */
int al_lro_ms(const struct armlocal_opts *o, const char *type, unsigned *ms);
int al_api_version_ok(const struct al_type *t, const char *v);

struct al_fault {
    char kind[16]; /* 429 500 503 reset slow lro-failed */
    char method[16];
    char path[512];
    long nth; /* fire on the nth match (1-based), 0 = use rate */
    double rate;
    long times; /* how many times it may fire; -1 = unlimited */
    long ms;    /* for slow */
    long seen, fired;
};

struct al_bucket {
    char key[256];
    double tokens;
    double last; /* seconds, monotonic */
};

struct al_sp {
    char client_id[64];
    char tenant_id[64];
    char object_id[64];
    unsigned char secret_hash[32]; /* SHA-256 of the client secret */
    int has_secret;
    int any_tenant;    /* registered without a tenantId: signs in to any tenant */
    json_t *tenants;   /* additionalTenants: more tenants it may sign in to */
    json_t *certs;     /* PEM certificates (strings) and {kid, publicKeyPem} keys */
    json_t *federated; /* array of {issuer, subject, audience, publicKeyPem?} */
};

struct armlocal {
    struct armlocal_opts opts;
    char base_url[128];
    char *data_dir;
    char *state_path;
    int dirty; /* the store changed since the last write */
    /* Incremental persistence (store.c): a snapshot (state_path) plus an
     * append-only log of the records changed since (log_path). */
    char *log_path;
    int log_fd;                /* open for appending, or -1 */
    uint64_t log_gen;          /* the snapshot's generation; the log belongs to it */
    uint64_t log_seq;          /* batches appended to the log */
    size_t log_bytes;          /* the log's length */
    size_t snap_bytes;         /* the snapshot's length */
    int need_compact;          /* write a snapshot at the next flush (reset, failed append) */
    size_t log_cut;            /* the log's valid length when a torn tail follows (cut at the
                                  first append), else 0 */
    json_t *dirty_keys;        /* section -> {key: true}: what the next batch writes */
    json_int_t logged_counter; /* the generator counter as the log last recorded it */
    json_t *log_shadow;        /* AMLSEC_ARMLOCAL_LOG_CHECK: the store as the files hold it */
    struct al_persist_stats {
        uint64_t bytes_written; /* snapshot and log bytes written */
        uint64_t flushes;       /* batches appended */
        uint64_t records;       /* records appended */
        uint64_t compactions;   /* snapshots written */
        uint64_t replayed;      /* records replayed at start */
        uint64_t torn;          /* torn or unreadable log tails ignored at start */
    } persist;
    int flusher_running; /* a flusher thread writes dirty stores (flush_ms > 0) */
    int stopping;
    pthread_t flusher;
    pthread_cond_t flush_cond;
    pthread_mutex_t mu;
    void *daemon;  /* struct MHD_Daemon */
    unsigned port; /* the daemon's port (0 without one) */
    char listen_host[64];
    /* Each vault's data plane listens on a loopback port of its own, so its
     * URIs have Key Vault's shape ({scheme}://{host}:{port}/keys/...); an
     * acceptor thread hands those connections to the daemon. */
    struct al_vport *vports;
    size_t nvports, capvports;
    pthread_mutex_t vport_mu; /* guards vports; taken without mu held */
    pthread_t acceptor;
    int acceptor_running;
    int wake[2];               /* tells the acceptor it must stop */
    int vport_epoll;           /* the acceptor waits on the wake pipe and every vault port */
    struct strmap vport_names; /* vault name -> position in vports */
    uint32_t *vport_of_port;   /* port -> position in vports + 1 (0: none); 65,536 */
    size_t vport_work;         /* what vault port look-ups and the acceptor visited (tests) */

    json_t *state;    /* {resources, ops, deletedWorkspaces, deletedVaults, deletedVaultData,
                         deletedKeys, counter} */
    json_t *pec_keys; /* keys of private endpoint connection records (an index, not persisted) */
    json_t *global_names;    /* "namespace/type/name" of globally unique names -> key (an index) */
    json_t *lock_scopes;     /* lowercase scope -> {lock key: true} (an index) */
    json_t *ra_scopes;       /* lowercase scope -> {role assignment key: true} (an index) */
    json_t *pec_parents;     /* lowercase parent id -> {private endpoint connection key: true} */
    json_t *pec_by_pe;       /* lowercase private endpoint id -> {its connection keys: true} */
    json_t *ops_running;     /* ids of the operations InProgress (an index of state.ops) */
    json_t *by_anc;          /* ancestor -> {type -> {key: true}} (store.c, "the tree index") */
    json_t *key_serial;      /* key -> its position in the store's order */
    json_t *ra_principals;   /* lowercase principal id -> {"": {role assignment key: true}} */
    json_t *ra_principal_of; /* role assignment key -> the principal it is indexed under */
    json_int_t serial_next;
    int64_t ops_swept_ms; /* when finished operations were last looked at for expiry */
    size_t work;          /* entries the per-request bookkeeping visited (lock checks, operations):
                             tests check it does not grow with the store */
    json_t *graph_snapshot;  /* set: Resource Graph answers from this copy of the resources
                                (lag emulation, /_armlocal/graph/snapshot); not persisted */
    uint64_t generation;     /* bumped by every write (al_store_touch, any request but a
                                GET, a HEAD or a Resource Graph query) */
    struct al_graph_answer { /* the last Resource Graph answers (graph.c), for their later
                                pages: several, as amlsec pages several queries at once */
        char *key;           /* query text and scope */
        json_t *rows, *proj;
        uint64_t generation;
        const json_t *snapshot;
    } graph_cache[4];
    unsigned graph_cache_next; /* the entry the next answer replaces */
    uint64_t rng_fault;

    struct al_fault faults[64];
    size_t nfaults;

    struct al_bucket *buckets;
    size_t nbuckets, capbuckets;

    json_t *log_by_verb, *log_by_path;
    long log_total;
    long log_graph_rows;      /* rows Resource Graph answered since the log's last reset */
    long log_graph_throttled; /* Resource Graph queries refused for the user quota (429) */

    struct al_sp *sps;
    size_t nsps;
    unsigned char token_key[32];
    unsigned token_lifetime_s; /* issued access tokens live this long; 0 = 1 h */
    char identity_header[128]; /* App Service's IDENTITY_HEADER; "" = /msi/token refuses */
    json_t *jtis;              /* client assertion ids seen (replays): jti -> exp */
    json_t *oidc_requests; /* hex SHA-256 of a request token -> {subject, serviceConnectionId} */
    json_t *managed;       /* user-assigned identities: lowercase client id -> object id */
    json_t *log_aux;       /* request log: tenants of auxiliary tokens -> count */
    void *oidc_key;        /* EVP_PKEY of the OIDC issuer (/oidc), made on first use */
    char oidc_kid[24];

    json_t *policy_defs; /* name (lowercase) -> definition */
    json_t *aliases;     /* namespace (lowercase) -> {resourceType -> [alias]} */
    char *tls_cert_pem, *tls_key_pem;
};

/* One parsed ARM path. */
#define AL_MAX_SEGS 64
struct al_path {
    char *segs[AL_MAX_SEGS];
    size_t nsegs;
    char buf[4096];
};

struct al_vport {
    char name[64]; /* the vault's name, lowercase */
    int fd;
    unsigned port;
};

/* --- server.c --- */
/* Writes the base URI of vault name's data plane into out: its own port
 * when a daemon runs, else {base}/_vault/{name}/. Caller holds mu. */
void al_vault_base(struct armlocal *al, const char *name, char *out, size_t cap);

/* Per-request context. */
struct al_ctx {
    struct armlocal *al;
    const struct armlocal_request *req;
    struct armlocal_response *res;
    const char *api_version;
    int64_t now_ms;
    char principal[128];
};

/* --- store.c --- */
int al_store_load(struct armlocal *al, struct errbuf *err);
int al_store_save(struct armlocal *al);  /* marks dirty; writes now when flush_ms is 0 */
int al_store_flush(struct armlocal *al); /* writes a dirty store now (caller holds mu) */
/* Marks section[key] (key as stored: lowercase for resources) changed, so
 * the next flush logs its current value, or its deletion when absent.
 * Every change to the store goes through al_rec_put/al_rec_del_* or is
 * marked with these. Caller holds mu. */
void al_store_touch(struct armlocal *al, const char *section, const char *key);
void al_rec_touch(struct armlocal *al, const char *id); /* a resource changed in place */
int al_flusher_start(struct armlocal *al, struct errbuf *err);
void al_flusher_stop(struct armlocal *al);
void al_store_reset(struct armlocal *al);
json_t *al_resources(struct armlocal *al);
json_t *al_rec_get(struct armlocal *al, const char *id); /* borrowed; NULL when absent */
json_t *al_rec_put(struct armlocal *al, const char *id, json_t *body); /* steals body */
void al_rec_del_tree(struct armlocal *al, const char *id);
/* Removes id and everything below it; returns them as {lowercase key:
 * record} (new reference). */
json_t *al_rec_take_tree(struct armlocal *al, const char *id);
void al_rec_del_key(struct armlocal *al, const char *key); /* key is already lowercase */

/* Keys gathered from the tree index, to be returned in store order. */
struct al_key {
    json_int_t serial;
    char *key;
};
struct al_keys {
    struct al_key *v;
    size_t n, cap;
};
/* Is key (lowercase) the shape of an ancestor in the tree index: a
 * subscription, a resource group or a resource id? */
int al_tree_anchor(const char *key);
/* The lengths of key's strict prefixes that are ancestors in the tree
 * index, shortest first (at most AL_MAX_ANC); the count. */
#define AL_MAX_ANC 24
size_t al_key_ancestors(const char *key, size_t *lens);
/* The index entry of the keys below anc (lowercase; "" every key, "/" the
 * keys with no subscription, group or resource above them) of type
 * (lowercase "namespace/type[/child]"; NULL: {type: {key: true}} for every
 * type); NULL when none. */
json_t *al_tree_keys(struct armlocal *al, const char *anc, const char *type);
int al_keys_add(struct armlocal *al, struct al_keys *ks, const char *key); /* when stored */
int al_keys_add_index(struct armlocal *al, struct al_keys *ks, const char *anc, const char *type);
/* The role assignments of principal (lowercase). */
int al_keys_add_principal(struct armlocal *al, struct al_keys *ks, const char *principal);
void al_keys_sort(struct al_keys *ks); /* store order, without repeats */
void al_keys_release(struct al_keys *ks);
void al_lower(char *dst, const char *src, size_t cap);
/* The key of the resource holding id's globally unique name (storage
 * accounts, vaults, registries), or NULL (borrowed). */
const char *al_global_name_owner(struct armlocal *al, const char *id);
/* The index entry {key: true} of the keys at scope (lowercase) in one of
 * the scope indexes (al->lock_scopes, ra_scopes, pec_parents); NULL when
 * none. */
json_t *al_scope_keys(json_t *index, const char *scope);
void al_guid(struct armlocal *al, char out[37]);
void al_hex32(struct armlocal *al, char out[33]);
void al_time_iso(int64_t ms, char *out, size_t cap);
int64_t al_now_ms(void);
double al_mono_s(void);
json_t *al_jpath(const json_t *root, const char *path);
void al_jpath_set_new(json_t *root, const char *path, json_t *value);
int al_json_equal_ci(const json_t *a, const json_t *b);
int al_has_prefix_ci(const char *s, const char *prefix);

/* --- handler.c --- */
void al_set_header(struct armlocal_response *res, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void al_error(struct al_ctx *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void al_error_flat(struct al_ctx *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void al_json_reply(struct al_ctx *c, int status, json_t *body); /* steals body */
const char *al_query(const struct armlocal_request *req, const char *key);
const char *al_header(const struct armlocal_request *req, const char *name);
int al_path_parse(struct al_path *p, const char *path);
json_t *al_render(struct al_ctx *c, json_t *rec); /* new reference: what GET returns */
void al_ops_advance(struct armlocal *al, int64_t now);

/* --- rules.c --- */
/* A PUT's name rule, required properties and globally unique name. */
int al_rules_check_put(struct al_ctx *c, const struct al_type *t, const char *id, const char *name,
                       const json_t *req);
int al_rules_check_write(struct al_ctx *c, const struct al_type *t, const char *id,
                         const char *scope, json_t *newbody, json_t *old, int is_patch);
int al_rules_check_locks(struct al_ctx *c, const char *id, int is_delete);
int al_rules_check_delete(struct al_ctx *c, const struct al_type *t, const char *id, json_t *rec);
void al_rules_after_write(struct armlocal *al, const struct al_type *t, const char *id);
/* tree: the records the delete removed ({lowercase key: record}), id's own
 * among them. */
void al_rules_after_delete(struct armlocal *al, const struct al_type *t, const char *id,
                           json_t *tree);

/* --- softdelete.c: Azure ML workspace soft delete (14 days) --- */
void al_ws_soft_delete(struct al_ctx *c, const char *id, const json_t *body); /* keeps a copy */
int al_ws_name_held(struct al_ctx *c, const char *id); /* a soft-deleted one holds the name */
int al_ws_purge(struct al_ctx *c, const char *id);     /* 1 when one was purged */
int al_ws_deleted_route(const struct al_path *p);      /* .../deletedWorkspaces[...] */
void al_ws_deleted_handle(struct al_ctx *c, const struct al_path *p);

/* --- control.c --- */
/* --- rbac.c --- */
/* GET {scope}/providers/Microsoft.Authorization/permissions for the caller. */
void al_permissions_get(struct al_ctx *c, const char *scope);
/* The role assignments Azure gives a new workspace's system-assigned
 * identity (Contributor on it and its resource group, Storage Blob Data
 * Contributor on its storage, Key Vault Administrator on its vault,
 * Contributor on its registry). */
void al_rbac_workspace_created(struct armlocal *al, const char *id);

void al_control_handle(struct al_ctx *c);
int al_faults_apply(struct al_ctx *c, int *lro_fail);
void al_log_request(struct armlocal *al, const char *method, const char *path);
int al_throttle(struct al_ctx *c);

/* --- graph.c, policy.c, vault.c, identity.c --- */
void al_graph_handle(struct al_ctx *c);
int al_policy_load(struct armlocal *al, struct errbuf *err);
void al_policy_definition_get(struct al_ctx *c, const char *name);
void al_provider_get(struct al_ctx *c, const char *ns);
void al_vault_handle(struct al_ctx *c, const char *rest);
/* 401 with Key Vault's challenge, for a data-plane request without a token. */
void al_vault_challenge(struct al_ctx *c, const char *rest);
void al_key_first_version(struct al_ctx *c, json_t *body);
/* ARM's GET {key id}/versions (Keys_ListVersions) and
 * {key id}/versions/{version} (Keys_GetVersion; version non-NULL). */
void al_key_versions_arm(struct al_ctx *c, const char *key_id, const char *version);
/* Entra ID's discovery documents for a tenant (openid-configuration) and
 * MSAL's instance discovery. */
void al_entra_openid_configuration(struct al_ctx *c, const char *tenant);
void al_entra_instance_discovery(struct al_ctx *c);
void al_token_handle(struct al_ctx *c, const char *tenant);
void al_imds_handle(struct al_ctx *c);
void al_app_service_msi_handle(struct al_ctx *c);               /* /msi/token */
void al_oidc_handle(struct al_ctx *c, const struct al_path *p); /* /oidc/... */
int al_auth_check(struct al_ctx *c, const char *audience);
int al_sp_register(struct armlocal *al, const json_t *spec, struct errbuf *err);
/* Control paths of identity (servicePrincipals, managedIdentities, oidc/...):
 * returns 1 when path was one of them (and answered). */
int al_identity_control(struct al_ctx *c, const char *path);
/* The auxiliary-tenant counts of the request log (borrowed; made on first use). */
json_t *al_aux_log(struct armlocal *al);
void al_identity_free(struct armlocal *al);

#endif
