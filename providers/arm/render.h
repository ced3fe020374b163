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

#endif
