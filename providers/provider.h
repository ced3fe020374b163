/* The provider interface: what the engine calls to see and change the
 * cloud. One implementation exists, ARM over HTTP (providers/arm/
 * arm_provider.h); local mode is the same code pointed at armlocal.
 *
 * Every operation takes many resources at once and reports per resource:
 * one bad resource does not fail the others. The function's own return
 * value is < 0 only when nothing could be done (out of memory, broken
 * transport); then every result carries that error too. */
#ifndef AMLSEC_PROVIDERS_PROVIDER_H
#define AMLSEC_PROVIDERS_PROVIDER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/errbuf.h"

struct provider_ref {
    const char *id;   /* "/subscriptions/.../providers/Microsoft.KeyVault/vaults/kv1" */
    const char *type; /* "Microsoft.KeyVault/vaults"; NULL = taken from id */
    /* The caller has it on record (its state holds it): expected to exist.
     * With PROVIDER_READ_GROUPS_EXPECTED a provider may then read it from
     * the start, beside the reads that could tell it absent (its parent's),
     * rather than after them. */
    int recorded;
};

struct provider_result {
    int rc;            /* 0; AMLSEC_ENOTFOUND (absent); AMLSEC_ECONFLICT; AMLSEC_EHTTP; ... */
    struct errbuf err; /* one line when rc < 0 */
    json_t *body;      /* the resource as ARM returns it (owned), or NULL */
    long status;       /* the HTTP status that decided, 0 when none */
    char code[128];    /* ARM's error code when it gave one ("AuthorizationFailed") */
    int from_graph;    /* read through Resource Graph (may lag; reread before writing) */
    int gone;          /* delete: nothing was there */
    int unknown;       /* a write the provider's client failed under (rc < 0): its request
                          may have been sent, and the service may still carry it out */
};

void provider_result_release(struct provider_result *r);
void provider_results_release(struct provider_result *r, size_t n);

enum provider_verb {
    PROVIDER_CREATE, /* PUT: create or replace */
    PROVIDER_UPDATE, /* PATCH */
    PROVIDER_DELETE,
    /* An update the control plane cannot make: Key Vault keys change
     * through the Key Vault data plane. body is the resource as the control
     * plane shows it (the wanted state); parts says which data-plane
     * requests to send. The result is the resource read back afterwards. */
    PROVIDER_DATA_PLANE,
};

/* The data-plane requests of a PROVIDER_DATA_PLANE write (bits). */
enum provider_data_plane_part {
    PROVIDER_DP_NEW_VERSION = 1u << 0, /* a new key version (kty, size, curve, ops, attributes) */
    PROVIDER_DP_POLICY = 1u << 1,      /* the rotation policy */
    PROVIDER_DP_ATTRIBUTES = 1u << 2,  /* the current version's attributes, ops and tags */
};

struct provider_write {
    enum provider_verb verb;
    struct provider_ref ref;
    const json_t *body; /* PUT/PATCH body; ignored for DELETE */
    unsigned parts;     /* PROVIDER_DATA_PLANE: enum provider_data_plane_part bits */
    const char *query;  /* extra query parameters of a PUT ("skipValidation=true") or a DELETE
                           ("forceToPurge=true"), or NULL */
    /* Streamed writes: called when the service accepts the request as a
     * long-running operation, with the tag given to write_start and the
     * operation's URL (borrowed), so the caller can journal it. May be
     * NULL. */
    void (*on_accepted)(void *payload, void *tag, const char *operation_url);
    void *accepted_payload;
};

#define PROVIDER_READ_FRESH 0x1 /* direct GETs only: the "reread before write" */
/* Every resource group among the refs is expected to exist (the state
 * holds it): a provider may read the groups beside the resources under
 * them rather than first (a group found gone then makes what was read
 * under it absent). Without it, the groups are read first, so that nothing
 * under a new group is asked for. */
#define PROVIDER_READ_GROUPS_EXPECTED 0x2

struct provider;
struct provider_lists;

struct provider_ops {
    /* out[i] is the outcome of refs[i]; absent resources have rc
     * AMLSEC_ENOTFOUND. */
    int (*read_many)(struct provider *p, const struct provider_ref *refs, size_t n, unsigned flags,
                     struct provider_result *out, struct errbuf *err);
    /* Runs the writes concurrently (up to the parallelism), each waiting
     * for its long-running operation; out[i] for writes[i]. */
    int (*write_many)(struct provider *p, const struct provider_write *writes, size_t n,
                      struct provider_result *out, struct errbuf *err);
    /* Streaming writes, for a scheduler that starts work the moment earlier
     * work ends (same parallelism and rate limits as write_many; the body
     * is copied, the ref's strings are borrowed until the write is handed
     * back or abandoned). write_start returns < 0 only when out of memory: nothing
     * was sent. write_next drives the started writes for up to timeout_ms
     * (< 0: until one ends) and hands back one that ended: *tag as given
     * to write_start and *out its outcome (the caller releases it); *tag
     * is NULL when none ended in time or none is left. write_next returns
     * < 0 (and *tag NULL) when the client itself failed (a broken
     * transport, out of memory); the writes it left unfinished are then
     * handed back by the next calls with out->unknown set, as are those a
     * failure inside another call (a read) leaves. write_abandon stops
     * waiting for all of them: none is handed back (requests already sent
     * stay sent; the service may still carry them out). */
    int (*write_start)(struct provider *p, const struct provider_write *w, void *tag,
                       struct errbuf *err);
    int (*write_next)(struct provider *p, int64_t timeout_ms, void **tag,
                      struct provider_result *out, struct errbuf *err);
    void (*write_abandon)(struct provider *p);
    /* Everything under scope ("/subscriptions/S" or ".../resourceGroups/RG"),
     * of one type or (type NULL) of every type: *out becomes a JSON array of
     * resources (caller decrefs). */
    int (*list)(struct provider *p, const char *scope, const char *type, json_t **out,
                struct errbuf *err);
    /* GET path (with its own query; api_version is appended) and collect
     * the "value" arrays of every page into *out (a JSON array, caller
     * decrefs): role assignments by principal, permissions, child lists. */
    int (*list_url)(struct provider *p, const char *path, const char *api_version, json_t **out,
                    struct errbuf *err);
    void (*free)(struct provider *p);
    /* Resource Graph: runs queries[0..n) (KQL, each projecting id), all at
     * once and page by page, over subscriptions; rows[i] becomes a JSON
     * array of queries[i]'s rows (caller decrefs). NULL when the provider
     * has no Resource Graph (provider_graph_query then fails). */
    int (*graph_query)(struct provider *p, const char *const *queries, size_t n,
                       const char *const *subscriptions, size_t nsubscriptions, json_t **rows,
                       struct errbuf *err);
    /* list_url for n paths at once (their first pages concurrently), each
     * with its api-version: out[i] is paths[i]'s items, or NULL with errs[i]
     * saying why. Returns < 0 only when the client itself failed. NULL:
     * provider_list_urls lists one by one. */
    int (*list_urls)(struct provider *p, const char *const *paths, const char *const *api_versions,
                     size_t n, json_t **out, struct errbuf *errs);
    /* Runs a Resource Graph query (which must project id) over one
     * subscription, every page: *out becomes a JSON array of rows (caller
     * decrefs). NULL, or AMLSEC_EUSAGE, when the provider does not use
     * Resource Graph: callers then read through ARM. */
    int (*query)(struct provider *p, const char *subscription, const char *query, json_t **out,
                 struct errbuf *err);
    /* Background lists (provider_lists_start): lists_start sends l's lists
     * as the provider can while the caller goes on, setting l->impl;
     * lists_finish waits for them and fills out and errs as list_urls does.
     * NULL: the lists are listed by provider_lists_finish. */
    int (*lists_start)(struct provider *p, struct provider_lists *l, struct errbuf *err);
    int (*lists_finish)(struct provider *p, struct provider_lists *l, json_t **out,
                        struct errbuf *errs);
};

/* Lists started in the background: the arguments (borrowed until
 * provider_lists_finish) and the provider's own record of them. */
struct provider_lists {
    const char *const *paths;
    const char *const *api_versions;
    size_t n;
    void *impl; /* the provider's (NULL: nothing was started) */
};

struct provider {
    const struct provider_ops *ops;
};

int provider_read_many(struct provider *p, const struct provider_ref *refs, size_t n,
                       unsigned flags, struct provider_result *out, struct errbuf *err);
/* One direct GET, bypassing Resource Graph: use it right before a write. */
int provider_reread(struct provider *p, const struct provider_ref *ref,
                    struct provider_result *out);
int provider_write_many(struct provider *p, const struct provider_write *writes, size_t n,
                        struct provider_result *out, struct errbuf *err);
int provider_write_start(struct provider *p, const struct provider_write *w, void *tag,
                         struct errbuf *err);
int provider_write_next(struct provider *p, int64_t timeout_ms, void **tag,
                        struct provider_result *out, struct errbuf *err);
void provider_write_abandon(struct provider *p);
int provider_create(struct provider *p, const struct provider_ref *ref, const json_t *body,
                    struct provider_result *out);
int provider_update(struct provider *p, const struct provider_ref *ref, const json_t *patch,
                    struct provider_result *out);
int provider_delete(struct provider *p, const struct provider_ref *ref,
                    struct provider_result *out);
int provider_list(struct provider *p, const char *scope, const char *type, json_t **out,
                  struct errbuf *err);
int provider_list_url(struct provider *p, const char *path, const char *api_version, json_t **out,
                      struct errbuf *err);
int provider_query(struct provider *p, const char *subscription, const char *query, json_t **out,
                   struct errbuf *err);
void provider_free(struct provider *p);
int provider_list_urls(struct provider *p, const char *const *paths,
                       const char *const *api_versions, size_t n, json_t **out,
                       struct errbuf *errs);
int provider_graph_query(struct provider *p, const char *const *queries, size_t n,
                         const char *const *subscriptions, size_t nsubscriptions, json_t **rows,
                         struct errbuf *err);
/* list_urls in the background: the n lists (paths and api_versions
 * borrowed until provider_lists_finish) go out as the provider has room,
 * behind everything else it is asked meanwhile, and go on while the caller
 * reads, lists and queries through the same provider (and while Resource
 * Graph's quota makes it wait). *out: the handle, for provider_lists_finish,
 * which every started handle must reach. Returns < 0 only when out of
 * memory (nothing was started). */
int provider_lists_start(struct provider *p, const char *const *paths,
                         const char *const *api_versions, size_t n, struct provider_lists **out,
                         struct errbuf *err);
/* Waits for l's lists: out[i] and errs[i] as provider_list_urls fills them
 * (both may be NULL: the answers are dropped). Frees l. */
int provider_lists_finish(struct provider *p, struct provider_lists *l, json_t **out,
                          struct errbuf *errs);

/* A read-only view of inner (borrowed; it must outlive the view): reads,
 * lists and queries pass through, and every write entry point refuses with
 * AMLSEC_EUSAGE without reaching inner. So that a run reads each resource
 * once, the view keeps (by ARM id, any case) what it is told a later read
 * wants: the next read of that id is answered with it (a
 * PROVIDER_READ_FRESH read goes through). What `drift` runs with. NULL
 * when out of memory. Free with provider_free (inner is not freed). */
struct provider *provider_readonly(struct provider *inner);
/* Write requests the view refused so far. */
unsigned provider_readonly_refused(const struct provider *view);
/* Keeps body (a reference is taken; it must not change afterwards) as the
 * next read's answer for id, as read through Resource Graph: a query's row
 * that is the resource as a read gives it. 0, or AMLSEC_ENOMEM; nothing for
 * another provider. */
int provider_readonly_keep(struct provider *view, const char *id, json_t *body);
/* The same, for an item of an ARM list (what a GET returns: not from
 * Resource Graph). */
int provider_readonly_keep_listed(struct provider *view, const char *id, json_t *body);
/* The next read of id is asked again later: the view keeps what it
 * returns for that later read (each call: one more later read). 0, or
 * AMLSEC_ENOMEM. */
int provider_readonly_expect(struct provider *view, const char *id);
/* Reads answered from what the view kept. */
size_t provider_readonly_hits(const struct provider *view);

#endif
