/* What the DSL means in ARM terms: the exact create request of an
 * instance (method, URL with api-version, JSON body), and the reverse,
 * an ARM GET response decoded into the kind's DSL attributes (for drift
 * and import). */
#ifndef AMLSEC_PROVIDERS_ARM_RENDER_H
#define AMLSEC_PROVIDERS_ARM_RENDER_H

#include <jansson.h>
#include <stdbool.h>

#include "parser/config.h"
#include "providers/arm/schema.h"
#include "util/buf.h"
#include "util/errbuf.h"

#define RENDER_ARM_ENDPOINT "https://management.azure.com"
#define RENDER_SENSITIVE "(sensitive)"
#define RENDER_UNKNOWN "(known after apply)"

struct render_request {
    const char *address; /* borrowed from the instance */
    const char *kind;    /* borrowed */
    char *method;        /* "PUT", or "GET" for existing lookups */
    char *url;
    json_t *body; /* NULL for GET (owned) */
    enum lro_pattern lro;
    const char *note; /* static: how later updates are sent, NULL for ARM */
};

struct render_list {
    struct render_request *items;
    size_t n, cap;
};

void render_list_init(struct render_list *l);
void render_list_release(struct render_list *l);

/* The create body of kind k from DSL attrs. value is the instance value
 * from the resolver (location, id); settings gives subscription and
 * tenant_id. sensitive: array of attribute paths marked sensitive by the
 * front end (may be NULL). With display, sensitive values become
 * "(sensitive)" and unknown values "(known after apply)"; without it they
 * stay as they are (for the applier). New reference. */
json_t *render_body(const struct schema_kind *k, const json_t *attrs, const json_t *value,
                    const json_t *settings, const json_t *sensitive, bool display);

/* The query parameters, besides api-version, that creating inst sends
 * ("skipValidation=true" for a datastore of a network-isolated workspace,
 * DS-SKIP-VALIDATION), or NULL. Caller frees. */
char *render_put_query(const struct config *cfg, const struct cfg_instance *inst);

/* Appends the request(s) creating inst (one per instance today). */
int render_instance(struct render_list *out, const struct config *cfg,
                    const struct cfg_instance *inst, bool display, struct errbuf *err);

/* "# address\nPUT url\n{body}\n" */
int render_format_text(struct buf *out, const struct render_request *r);
/* {address, kind, method, url, api_version-bearing url, lro, body}. New reference. */
json_t *render_to_json(const struct render_request *r);
const char *render_lro_name(enum lro_pattern lro);

/* Decodes an ARM resource body (a GET response) into kind k's DSL
 * attributes, computed ones included, plus id, name and location. Write-only
 * attributes are not decoded (the service never returns them). New
 * reference. */
json_t *render_decode(const struct schema_kind *k, const json_t *arm);

/* Appends to paths (value_sensitive_add) the dotted DSL path of every
 * attribute of k the catalogue marks sensitive. */
void render_sensitive_paths(const struct schema_kind *k, json_t *paths);
/* Replaces, in an ARM body of kind k (in place), every field fed by an
 * attribute that is catalogue-sensitive or covered by the DSL paths
 * sensitive (may be NULL) with "(sensitive)". */
void render_redact_arm(const struct schema_kind *k, json_t *arm, const json_t *sensitive);
/* Removes from an ARM body (in place) every field of a write-only
 * attribute of any kind of that body's "type": a response that echoes a
 * password or key is never kept. */
void render_strip_write_only(json_t *arm);

/* Write-only values (passwords, endpoint keys, datastore secrets) are never
 * read back, so the state keeps, where the response would hold them, a
 * salted slow digest instead: "amlsec-wo1$ITER$SALT$HASH", PBKDF2-HMAC-
 * SHA-256 with a random 16-byte salt per value (docs/state.md). */
char *render_write_only_digest(const char *value); /* caller frees; NULL on failure */
bool render_write_only_matches(const char *digest, const char *value);
/* Apply: puts into arm (a response of kind k) the digest of every
 * write-only value attrs (DSL) sets. 0, or AMLSEC_ERROR. */
int render_write_only_record(const struct schema_kind *k, json_t *arm, const json_t *attrs);
/* Plan: in live and want (DSL copies about to be compared), every
 * write-only value want sets becomes a placeholder, the same on both sides
 * unless the digest in stored (the state's ARM body) says it changed. */
void render_write_only_compare(const struct schema_kind *k, const json_t *stored, json_t *live,
                               json_t *want);

#endif
