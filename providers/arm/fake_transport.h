/* A scripted transport for tests (STYLE rule 19): every request is handed
 * to a handler that writes the response into the exchange, and is recorded
 * so tests can assert what was sent and how many times.
 *
 * The handler returns the simulated latency in milliseconds. With a clock,
 * the fake advances it by that latency; past the exchange's timeout the
 * response is replaced by a timeout failure. */
#ifndef AMLSEC_PROVIDERS_ARM_FAKE_TRANSPORT_H
#define AMLSEC_PROVIDERS_ARM_FAKE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "providers/arm/arm_clock.h"
#include "providers/arm/transport.h"

typedef int64_t (*fake_handler_fn)(struct http_exchange *x, void *payload);

struct fake_request {
    char *method;
    char *url;
    char *headers; /* "Name: value\n" lines */
    char *body;    /* "" when none */
};

struct fake_transport;

/* clock may be NULL (latency is then ignored). Free with transport_free(). */
int fake_transport_new(struct fake_transport **out, fake_handler_fn fn, void *payload,
                       struct manual_clock *clock);
struct transport *fake_transport_base(struct fake_transport *f);
size_t fake_transport_count(const struct fake_transport *f);
/* The i-th request seen (0-based). Borrowed. */
const struct fake_request *fake_transport_request(const struct fake_transport *f, size_t i);
/* Largest number of exchanges that were in flight at once. */
size_t fake_transport_max_inflight(const struct fake_transport *f);

/* Handler helpers. */
int fake_respond(struct http_exchange *x, long status, const char *body);
int fake_respond_header(struct http_exchange *x, const char *name, const char *value);
void fake_respond_fail(struct http_exchange *x, enum http_fail fail, const char *msg);

#endif
