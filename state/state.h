/* The state document: what amlsec created, as last read from Azure.
 *
 * A state holds a format version, a lineage (a random UUID fixed when the
 * state is first created, so two unrelated states are never confused), a
 * serial (incremented on every write), the amlsec version that wrote it, and
 * one entry per resource instance, kept sorted by address (outside a batch:
 * see state_batch_begin).
 *
 * On disk (docs/state.md) the document is canonical JSON (sorted keys,
 * compact, one resource instance per line) wrapped in an envelope carrying
 * the format version and the SHA-256 of the body's exact bytes:
 *
 *   {"format_version":1,"sha256":"<64 hex>","state":<body>}\n
 *
 * state_parse refuses anything else: truncated or corrupted files and
 * checksum mismatches (AMLSEC_ECORRUPT), unknown newer formats and invalid
 * bodies (AMLSEC_EPARSE). It never repairs. */
#ifndef AMLSEC_STATE_STATE_H
#define AMLSEC_STATE_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/errbuf.h"

#define STATE_FORMAT_VERSION 1
#define STATE_LINEAGE_LEN 36
/* Upper bound on a state file (also the buffer cap when reading one). */
#define STATE_MAX_BYTES ((size_t)512 << 20)

enum state_status {
    STATE_STATUS_CREATED,
    STATE_STATUS_TAINTED,
};

struct state_resource {
    char *address;     /* "azurerm_machine_learning_workspace.main", unique */
    char *kind;        /* resource kind (catalogue name) */
    char *arm_id;      /* full ARM id */
    char *api_version; /* api-version the attributes were read with */
    /* The object as last read. A state read from disk keeps each object as
     * its canonical JSON text (attributes_raw) and parses it on first use:
     * call state_resource_attributes rather than reading attributes. */
    json_t *attributes;   /* owned; NULL while only attributes_raw is set */
    char *attributes_raw; /* owned, NUL-terminated; NULL once parsed */
    size_t attributes_raw_len;
    json_t *sensitive;    /* owned: array of JSON-pointer-like paths ("/properties/x") */
    json_t *dependencies; /* owned: array of addresses */
    enum state_status status;
};

struct state {
    int format_version;
    char lineage[STATE_LINEAGE_LEN + 1];
    uint64_t serial;
    char *amlsec_version;
    /* The cloud its resources live in, as -cloud names it ("local",
     * "public", an endpoint URL); NULL when not recorded (a state written
     * before amlsec recorded it). Owned. */
    char *cloud;
    struct state_resource *resources; /* sorted by address, outside a batch */
    size_t nresources, cap;
    struct state_batch *batch; /* state.c; NULL outside a batch */
    size_t work; /* entries moved or visited by puts, removes and look-ups: tests count it */
    /* The configuration's outputs as of the last apply (owned; NULL when
     * there are none): {"NAME": {"sensitive": bool, "type": "string",
     * "value": ...}}, as `amlsec output -json` prints them. */
    json_t *outputs;
};

/* Replaces st's outputs (a new reference to outputs is taken; NULL or an
 * empty object forgets them). */
void state_set_outputs(struct state *st, json_t *outputs);

/* Records the cloud st belongs to (a copy of cloud; NULL forgets it). */
int state_set_cloud(struct state *st, const char *cloud, struct errbuf *err);

/* An empty state with a fresh random lineage, serial 0. */
int state_init(struct state *st, struct errbuf *err);
/* Frees the contents; st may then be init'd again. */
void state_release(struct state *st);

/* A batch of changes (an apply, a recovery). While one is open, state_find,
 * state_put, state_remove and state_remove_under cost O(1) expected (a hash
 * index of addresses; new entries are appended and removed ones leave
 * holes), where outside one each insert or remove moves every entry after
 * it (n^2 for an apply of n creates). In exchange `resources` is out of
 * order and may hold holes (address NULL): during a batch read entries
 * only through state_find, until state_batch_flush or state_batch_end puts
 * the array back in order (the holes dropped, the appended entries sorted
 * and merged: O(n + k log k)). state_backend_save flushes before it
 * serializes. Without memory for its indexes a batch ends early: the
 * operations then cost what they do outside one, never a wrong answer. */
void state_batch_begin(struct state *st);
void state_batch_flush(struct state *st);
void state_batch_end(struct state *st);

/* How many entries st holds (a batch's holes not counted). */
size_t state_count(const struct state *st);

/* Borrowed pointer to the entry at address, or NULL. */
struct state_resource *state_find(const struct state *st, const char *address);

/* The attributes of r (borrowed), parsing them on first use. */
int state_resource_attributes(json_t **out, struct state_resource *r, struct errbuf *err);

/* Inserts or replaces the entry with r->address. Copies the strings, keeps
 * the attributes as their canonical JSON text (parsed again on first use:
 * a checkpoint then copies the text rather than serializing the object
 * again) and takes a new reference to the other JSON values (the caller
 * keeps its own). */
int state_put(struct state *st, const struct state_resource *r, struct errbuf *err);

/* Removes the entry; AMLSEC_ENOTFOUND if absent. */
int state_remove(struct state *st, const char *address, struct errbuf *err);

/* Removes the entries of the resources under arm_id (children, and
 * extension resources scoped to it: locks, role assignments): ARM deletes
 * them with it. Returns how many. In a batch, through an index of the
 * entries under each resource id (built on first use): O(entries removed);
 * outside one, a scan of the state. */
size_t state_remove_under(struct state *st, const char *arm_id);

/* Renames an entry (and rewrites dependencies naming it). AMLSEC_ENOTFOUND
 * when from is absent, AMLSEC_ECONFLICT when to exists, AMLSEC_EUSAGE when
 * to is not an address of the entry's kind. */
int state_move(struct state *st, const char *from, const char *to, struct errbuf *err);

/* Entry addresses: renames from[i] -> to[i], or (state_match) the
 * entries to remove, to[i] NULL. Owned strings. */
struct state_renames {
    char **from, **to;
    size_t n, cap;
};
void state_renames_release(struct state_renames *r);
/* Appends from -> to (copies; to may be NULL). */
int state_renames_add(struct state_renames *r, const char *from, const char *to,
                      struct errbuf *err);

/* The renames `amlsec state mv FROM TO` makes, by Terraform's rules for
 * its state mv (outside a batch):
 * - an instance (TYPE.NAME[KEY], or TYPE.NAME without count/for_each) to
 *   an instance or resource address of the same type;
 * - a whole resource (TYPE.NAME whose instances have keys) to a resource
 *   address of the same type without key: every instance, keys kept;
 * - a module instance (module.a, module.a["x"], module.a.module.b): every
 *   entry in it and in the modules under it, to a module address
 *   (module.a is module.a itself, not module.a["x"]).
 * An instance's " (previous)" entry goes with it. Errors, nothing matched
 * (AMLSEC_ENOTFOUND), a target of the wrong sort or type (AMLSEC_EUSAGE),
 * a target instance, resource or module the state holds already, or one
 * that would put TYPE.NAME beside TYPE.NAME[KEY] (module.M beside
 * module.M[KEY]) with what stays (AMLSEC_ECONFLICT), leave *out empty. */
int state_mv_match(const struct state *st, const char *from, const char *to,
                   struct state_renames *out, struct errbuf *err);
/* The same, the entries moving from st into dst (`state mv -state-out`):
 * what FROM names is looked up in st, and a target that exists (an
 * instance, a resource, a module holding entries) in dst. */
int state_mv_match_into(const struct state *st, const struct state *dst, const char *from,
                        const char *to, struct state_renames *out, struct errbuf *err);

/* Appends to out the entries ADDRESS names for `amlsec state rm` and
 * `state list ADDRESS...`, as Terraform's state rm and list read it: an
 * instance; every instance of a whole resource;
 * every entry in a module and the modules under it, a step without a key
 * naming every instance (module.a holds module.a["x"].module.b.TYPE.NAME).
 * AMLSEC_ENOTFOUND when it matches nothing. */
int state_match(const struct state *st, const char *address, struct state_renames *out,
                struct errbuf *err);

/* Renames the entries r names (from -> to) all at once: each destination
 * an address of its entry's kind that the state does not hold (unless it
 * is itself renamed away) and not mixing instances with and without keys
 * of one resource or module call, checked before anything changes; then
 * dependencies naming an old address name the new one. O(n + k log k)
 * for k renames in a state of n entries. */
int state_rename(struct state *st, const struct state_renames *r, struct errbuf *err);

/* Serializes to the on-disk form (envelope + canonical body), appending to
 * out. Does not change the serial: callers (the store) bump it. */
int state_serialize(const struct state *st, struct buf *out, struct errbuf *err);

/* Parses the on-disk form. what names the source in messages (a path or a
 * blob URL). On failure st is left released. */
int state_parse(struct state *st, const char *data, size_t len, const char *what,
                struct errbuf *err);

const char *state_status_name(enum state_status s);
int state_status_parse(enum state_status *out, const char *s);

/* Whether id has the shape of an ARM id: /subscriptions/S[/resourceGroups/G]
 * then any number of /providers/Namespace.X/type/name[/type/name]... (or the
 * same from /providers/ at tenant scope); no empty segments, no spaces,
 * controls, '?', '#', '"' or backslashes. */
bool state_arm_id_valid(const char *id);

/* Whether address is an address of kind, as a state holds one: kind.name
 * (a key, module steps before it, " (previous)" after it allowed). */
bool state_address_valid(const char *address, const char *kind);

/* Writes a random (version 4) UUID, 36 characters plus NUL, from OpenSSL's
 * RAND_bytes. */
int state_uuid(char out[STATE_LINEAGE_LEN + 1], struct errbuf *err);

#endif
