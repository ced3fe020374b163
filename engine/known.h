/* Filling in "known after apply" values. The front end tags each unknown a
 * resource's value carries with its origin (parser/value.h: the instance
 * address and attribute). Once that instance exists, its attributes are in
 * the state (and in the live read at plan time), so the planner and the
 * applier replace the unknown with the real value: a workspace created in
 * the same apply as its key gets the key's versioned URI. */
#ifndef AMLSEC_ENGINE_KNOWN_H
#define AMLSEC_ENGINE_KNOWN_H

#include <jansson.h>
#include <stddef.h>

#include "state/state.h"

/* Returns attribute attr of the instance at address (new reference), or
 * NULL when it is not known. */
typedef json_t *(*known_lookup_fn)(void *payload, const char *address, const char *attr);

/* Replaces, inside v, every tagged unknown the lookup knows. v is consumed;
 * the result is a new reference. *left (may be NULL) receives how many
 * unknowns remain. */
json_t *known_fill(json_t *v, known_lookup_fn lookup, void *payload, size_t *left);

/* A lookup over a state (payload: struct state *): decodes the instance's
 * recorded ARM body through the catalogue. */
json_t *known_from_state(void *payload, const char *address, const char *attr);

/* The ARM body's decoded attribute attr for a resource of kind; a dotted
 * attr ("identity.principal_id") reaches into nested blocks. New
 * reference or NULL. */
json_t *known_decode_attr(const char *kind, const json_t *arm_body, const char *attr);

/* An ARM id can itself be known only after apply: a role assignment's
 * name is a GUID derived from a principal id the service assigns. The
 * plan then keeps what deriving it needs besides the attributes: the
 * block label and the settings the resolver reads ({"label", "settings"},
 * new reference). */
json_t *known_id_from(const char *label, const json_t *settings);

/* The ARM id of a resource of kind with attributes attrs (unknowns filled
 * in as far as they can be), derived as at plan time (providers/arm/
 * resolve.h) with id_from (known_id_from). Malloc'd; NULL while a value
 * it needs is still unknown. */
char *known_arm_id(const char *kind, const json_t *attrs, const json_t *id_from);

#endif
