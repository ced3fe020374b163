/* The libcurl multi engine behind struct transport (transport.h): one
 * multi handle, connections reused across requests, HTTP/2 multiplexing
 * where the server offers it, a cap on connections and on response size.
 *
 * TLS verification is always on; a custom CA bundle may be given. Plain
 * http:// is accepted only to loopback addresses (local mode) and to the
 * instance metadata service (169.254.169.254), which is http by design. */
#ifndef AMLSEC_PROVIDERS_ARM_HTTP_H
#define AMLSEC_PROVIDERS_ARM_HTTP_H

#include <stdint.h>

#include "providers/arm/transport.h"
#include "util/errbuf.h"

struct http_opts {
    unsigned max_connections;   /* total connections (the parallelism); 0 = 10 */
    const char *ca_bundle;      /* PEM file of trusted CAs; NULL = system store */
    int64_t connect_timeout_ms; /* 0 = 10 s */
};

#define HTTP_OPTS_INIT                                                                             \
    {                                                                                              \
        10, NULL, 10000                                                                            \
    }

/* Creates the engine. Free with transport_free(). */
int http_transport_new(struct transport **out, const struct http_opts *opts, struct errbuf *err);

/* 0 when url may be fetched (https anywhere, http to loopback or IMDS),
 * AMLSEC_EUSAGE with a message otherwise. */
int http_url_allowed(const char *url, struct errbuf *err);

#endif
