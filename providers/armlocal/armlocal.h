/* armlocal: an ARM-compatible local cloud (docs/local-cloud.md).
 *
 * The server speaks the Azure Resource Manager REST protocol on loopback:
 * the same URLs, verbs, api-versions, long-running-operation headers, error
 * bodies, throttling and service rules as Azure, plus a Key Vault data
 * plane, Resource Graph, an Entra token endpoint, IMDS and a control API
 * (/_armlocal/...) for tests. The standalone binary (cmd/armlocal) and the
 * embedded `--cloud local` mode both use this API.
 *
 * Threading: requests are served on libmicrohttpd threads; one mutex guards
 * the store, so concurrent requests are safe. The library never prints. */
#ifndef AMLSEC_PROVIDERS_ARMLOCAL_ARMLOCAL_H
#define AMLSEC_PROVIDERS_ARMLOCAL_ARMLOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/errbuf.h"

struct armlocal;

#define ARMLOCAL_MAX_LRO_TYPES 32

/* How long one resource type's operations take (--lro-ms TYPE=N). */
struct armlocal_type_ms {
    const char *type; /* the local cloud's canonical spelling (static) */
    unsigned ms;
};

struct armlocal_opts {
    const char *listen_host; /* must be a loopback address; NULL = 127.0.0.1 */
    unsigned port;           /* 0 = ephemeral */
    const char *data_dir;    /* NULL = in memory only (nothing persisted) */
    unsigned latency_ms;     /* added to every request */
    unsigned lro_ms;         /* how long operations stay in progress (types not listed below) */
    unsigned flush_ms;       /* group commit window for data_dir; 0 = written before answering */
    int throttle;            /* 1 = ARM token buckets, 0 = off */
    int auth_required;       /* 1 = ARM calls need a bearer token issued here */
    const char *faults;      /* fault rules, see docs/local-cloud.md; NULL = none */
    uint64_t seed;           /* makes generated GUIDs and key versions deterministic */
    const char *policy_definitions_dir; /* JSON exports; NULL = none */
    const char *aliases_csv;            /* "alias,defaultPath" CSV; NULL = none */
    const char *tls_cert;               /* PEM paths; both or neither */
    const char *tls_key;
    /* port 0 with a data_dir: reuse the port of the last run (data_dir/port)
     * when it is free, so the URLs the store holds (a vault's URI, its keys'
     * URIs) still reach this server; else an ephemeral one */
    int remember_port;
    int port_file_read_only; /* with remember_port: never rewrite data_dir/port (a read-only run) */
    char listen_buf[64];     /* holds the host parsed by armlocal_opts_set("listen") */
    /* per resource type: its long-running operations stay in progress ms,
     * its synchronous ones answer after ms */
    struct armlocal_type_ms lro_by_type[ARMLOCAL_MAX_LRO_TYPES];
    size_t nlro_by_type;
    /* 1 = Resource Graph's user quota is neither counted nor reported
     * (--graph-quota off: benchmarks of amlsec's own scaling only); 0 =
     * enforced like Azure's, 429 past it, whatever throttle says */
    int graph_quota_off;
};

#define ARMLOCAL_OPTS_INIT                                                                         \
    {                                                                                              \
        NULL, 0, NULL, 0, 1000, 0, 0, 0, NULL, 0, NULL, NULL, NULL, NULL, 0, 0, {0}, {{NULL, 0}},  \
            0, 0                                                                                   \
    }

/* Sets one option from its command-line spelling (without dashes):
 * listen (HOST:PORT), data, latency-ms, lro-ms (a comma-separated list of N
 * and TYPE=N; repeated, it adds to the list), flush-ms, throttle (arm|off),
 * graph-quota (on|off), auth (required|off), faults, seed, policy-definitions, aliases, tls-cert,
 * tls-key. value is borrowed and must outlive opts; a parsed listen host is
 * kept in opts->listen_buf (listen_host points there). Both amlsec-armlocal
 * and `amlsec local-cloud` use it, so the flags are the same. */
int armlocal_opts_set(struct armlocal_opts *opts, const char *flag, const char *value,
                      struct errbuf *err);

/* The embedded mode (`amlsec --cloud local`, `settings { cloud = "local" }`):
 * resets opts to a loopback port (the last run's when free), data under
 * "{workdir}/.amlsec/local" (written into data_buf, which must outlive
 * opts), operations that complete at once (lro_ms 0) and no throttling.
 * The planner calls armlocal_start with these opts and armlocal_stop when
 * the command ends; resources persist across invocations. */
int armlocal_opts_embedded(struct armlocal_opts *opts, const char *workdir, char *data_buf,
                           size_t data_cap, struct errbuf *err);

/* Loads the data dir and reference data and starts listening. On success
 * *out is a running server; stop it with armlocal_stop. */
int armlocal_start(struct armlocal **out, const struct armlocal_opts *opts, struct errbuf *err);

/* "http://127.0.0.1:PORT" (https with TLS), no trailing slash. Borrowed. */
const char *armlocal_base_url(const struct armlocal *al);

/* Stops listening, waits for in-flight requests, frees everything. NULL-safe. */
void armlocal_stop(struct armlocal *al);

/* --- without sockets (fuzzing, unit tests) ---------------------------------- */

/* Creates a server that does not listen; base_url is used in generated URLs. */
int armlocal_create(struct armlocal **out, const struct armlocal_opts *opts, const char *base_url,
                    struct errbuf *err);

struct armlocal_kv {
    const char *key;
    const char *value;
};

struct armlocal_request {
    const char *method;
    const char *path; /* percent-decoded, without the query */
    const struct armlocal_kv *query;
    size_t nquery;
    const struct armlocal_kv *headers;
    size_t nheaders;
    const char *body;
    size_t body_len;
    int body_too_large; /* the transport dropped a body over the limit */
};

#define ARMLOCAL_MAX_HEADERS 16

struct armlocal_response {
    int status;
    int drop_connection; /* fault: close without answering */
    unsigned delay_ms;   /* sleep this long before answering */
    size_t nheaders;
    char *header_names[ARMLOCAL_MAX_HEADERS]; /* malloc'd */
    char *header_values[ARMLOCAL_MAX_HEADERS];
    struct buf body;
};

#define ARMLOCAL_MAX_BODY ((size_t)4 << 20)

void armlocal_response_init(struct armlocal_response *res);
void armlocal_response_release(struct armlocal_response *res);

/* Handles one request and fills res (initialised by the caller). Never
 * fails: every problem becomes an ARM-shaped error response. */
void armlocal_handle(struct armlocal *al, const struct armlocal_request *req,
                     struct armlocal_response *res);

/* Frees a server made by armlocal_create. */
void armlocal_free(struct armlocal *al);

/* Parses a --faults SPEC into the server's fault list (see docs). */
int armlocal_faults_parse(struct armlocal *al, const char *spec, struct errbuf *err);

#endif
