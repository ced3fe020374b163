/* A small Azure Blob Storage REST client (libcurl): the calls the state
 * backend needs (Put/Get Blob, Get/Set Blob Metadata, Lease Blob, Snapshot
 * Blob, Create Container), authorized by Shared Key (HMAC-SHA256 request
 * signing), a SAS token, or an Entra bearer token from a callback.
 *
 * Secrets (the shared key, the SAS, tokens) never appear in messages or
 * logs: messages name the blob URL without its query. */
#ifndef AMLSEC_STATE_BLOB_CLIENT_H
#define AMLSEC_STATE_BLOB_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/errbuf.h"

#define BLOB_STORAGE_SCOPE "https://storage.azure.com/.default"
#define BLOB_API_VERSION "2021-12-02"
/* The default timeout of a request, and of a token_fn call that signs in. */
#define BLOB_TIMEOUT_MS 30000

/* Returns an Entra access token for scope in *out_token (malloc'd; the
 * caller wipes and frees it), or a negative amlsec_err with err set. The
 * ARM client provides the implementation. */
typedef int (*blob_token_fn)(char **out_token, const char *scope, void *payload,
                             struct errbuf *err);

struct blob_client_opts {
    const char *endpoint;  /* "https://acct.blob.core.windows.net" or
                              "http://127.0.0.1:10000/devstoreaccount1" */
    const char *account;   /* NULL: derived from endpoint */
    const char *container; /* required */
    const char *blob;      /* required */
    const char *shared_key;
    const char *sas_token;
    blob_token_fn token_fn; /* bearer tokens are only sent over https */
    void *token_payload;
    long token_timeout_ms; /* bounds one token_fn call that signs in (one token
                              request; retries are not counted); 0: BLOB_TIMEOUT_MS */
    const char *ca_bundle; /* PEM file of trusted CAs; NULL: the system store */
    long timeout_ms;       /* per request; 0: BLOB_TIMEOUT_MS */
};

struct blob_client;

/* One HTTP exchange's outcome. */
struct blob_response {
    long status;
    char etag[128];
    char lease_id[64];
    char lease_state[32]; /* "available", "leased", "expired", "breaking", "broken" */
    char error_code[64];  /* x-ms-error-code */
    char meta_lock[2048]; /* x-ms-meta-amlseclock (base64 JSON), if any */
    struct buf body;      /* response body (capped) */
};

int blob_client_new(struct blob_client **out, const struct blob_client_opts *opts,
                    struct errbuf *err);
void blob_client_free(struct blob_client *bc);
/* Requests made from now on must end by deadline_ms (milliseconds of
 * arm_clock_real()'s monotonic clock): each gets at most the time left as
 * its timeout, and one whose token came back too late is not sent (it fails
 * with AMLSEC_EHTTP). 0 removes the deadline. */
void blob_client_set_deadline(struct blob_client *bc, int64_t deadline_ms);
/* "https://acct.blob.core.windows.net/container/blob" (no query): for messages. */
const char *blob_client_url(const struct blob_client *bc);

void blob_response_init(struct blob_response *r);
void blob_response_release(struct blob_response *r);

/* Each call sends one request and fills *resp (status included); it returns
 * 0 when a response arrived, whatever its status, and AMLSEC_EHTTP only for
 * transport failures. Callers interpret the status. Optional arguments are
 * NULL when unused. */
int blob_client_create_container(struct blob_client *bc, struct blob_response *resp,
                                 struct errbuf *err);
int blob_client_get(struct blob_client *bc, struct blob_response *resp, struct errbuf *err);
int blob_client_put(struct blob_client *bc, const void *data, size_t len, const char *if_match,
                    int if_none_match_star, const char *lease_id, const char *meta_lock,
                    struct blob_response *resp, struct errbuf *err);
int blob_client_get_metadata(struct blob_client *bc, struct blob_response *resp,
                             struct errbuf *err);
/* meta_lock NULL clears the metadata. */
int blob_client_set_metadata(struct blob_client *bc, const char *meta_lock, const char *lease_id,
                             struct blob_response *resp, struct errbuf *err);
/* action: "acquire" (proposed_id, duration), "renew"/"release" (lease_id),
 * "break" (break_period seconds). */
int blob_client_lease(struct blob_client *bc, const char *action, const char *lease_id,
                      const char *proposed_id, int duration, int break_period,
                      struct blob_response *resp, struct errbuf *err);
int blob_client_snapshot(struct blob_client *bc, const char *lease_id, struct blob_response *resp,
                         struct errbuf *err);

#endif
