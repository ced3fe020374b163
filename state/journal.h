/* The journal: a write-ahead log of intents, so that a run killed at any
 * instant never loses track of a resource and never repeats a delete.
 *
 * Protocol for the applier, per create/update/delete request:
 *
 *   journal_begin(intent)        durable (fsync) BEFORE the request leaves
 *   ... send the request, wait for the response ...
 *   journal_complete(id, ok, attributes)   durable, after the response
 *   journal_fold(state, id)      apply the result to the in-memory state
 *   ... more outcomes, until the journal outgrows the state or the run ends ...
 *   state_backend_save(...)      the state now records them
 *   journal_done(id)             durable; the entry is no longer pending
 *   journal_compact()            empty the file, or keep the pending alone
 *
 * Group commit: with group_commit set, records are written without being
 * synced, and journal_sync makes everything written so far durable at
 * once. The caller then owns the ordering: journal_sync before any
 * request whose intent was begun leaves, and before the state is saved.
 *
 * When the service accepts a request as a long-running operation, the
 * applier records the operation's URL (journal_accepted), so a later run
 * can wait for that operation instead of guessing.
 *
 * The applier folds each outcome into its in-memory state and saves the
 * state only to compact the journal (engine/apply.c) and at the end: the
 * journal is the run's incremental record. The next run opens the
 * journal; any entry not done is pending. A successful outcome is folded
 * from its journaled response, as the killed run's save would have done;
 * every other pending entry is reconciled by READING the resource
 * (journal_reconcile): a resource that
 * exists is recorded in the state, a delete that happened is removed from
 * the state (with every entry under its ARM id: children and extension
 * resources go with their parent). An operation still running (its
 * operation URL known, or a resource in a transitional provisioningState)
 * is waited for first. A create that may have been accepted but whose
 * resource is not visible stays pending (JOURNAL_PENDING) until it is seen,
 * until its operation is known to have ended, until a later run settles the
 * same resource with a newer outcome, or until JOURNAL_PENDING_MAX_S pass.
 * Reconciliation never sends a create, update or delete. After saving the
 * state, the caller calls journal_settle to mark the reconciled entries done.
 *
 * File format (docs/state.md): one record per line, each a JSON object, or
 * with encryption configured the base64 of the sealed JSON (state/crypt.h).
 * A last line without its newline is a record whose journal_begin never
 * returned (the process died inside write/fsync): it is discarded, since its
 * request was never sent. Any other unreadable line (damaged, not a record,
 * an outcome for an unknown intent) is set aside: every readable entry is
 * still recovered, the unreadable ones are listed (journal.unreadable) by
 * line and byte offset, and when the journal is next rewritten their bytes
 * are appended to "<journal>.damaged" rather than lost. A journal that
 * cannot be decrypted at all (wrong key) is still refused. */
#ifndef AMLSEC_STATE_JOURNAL_H
#define AMLSEC_STATE_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "state/crypt.h"
#include "state/state.h"
#include "util/buf.h"
#include "util/errbuf.h"

enum journal_op {
    JOURNAL_CREATE,
    JOURNAL_UPDATE,
    JOURNAL_DELETE,
    /* no request: the state entry at `from` moves to `address` (a renamed
     * create-before-destroy replacement keeps the resource it replaces at
     * "ADDRESS (previous)" until its delete); folded and recovered from
     * the journal alone */
    JOURNAL_MOVE,
};

enum journal_phase {
    JOURNAL_BEGUN,     /* the request may or may not have been sent */
    JOURNAL_COMPLETED, /* the response arrived; not yet in the saved state */
    JOURNAL_DONE,      /* folded into a saved state */
};

/* What the applier is about to do. Strings and JSON are borrowed. */
struct journal_intent {
    const char *address;
    const char *kind;
    const char *arm_id; /* deterministic from names */
    const char *api_version;
    enum journal_op op;
    const char *request_digest; /* journal_digest() of the request body */
    json_t *dependencies;       /* array of addresses, may be NULL */
    json_t *sensitive;          /* array of paths, may be NULL */
    const char *from;           /* JOURNAL_MOVE: the address the entry moves from; else NULL */
};

/* A create not yet visible and without a known operation stays pending
 * this long after its intent, then is dropped. */
#define JOURNAL_PENDING_MAX_S (24L * 3600)

struct journal_entry {
    char id[STATE_LINEAGE_LEN + 1];
    char *address, *kind, *arm_id, *api_version, *digest;
    char *time;      /* the intent's "time" (UTC, ISO 8601) */
    char *operation; /* the long-running operation's URL, when accepted as one; or NULL */
    char *from;      /* JOURNAL_MOVE: the address the state entry moves from; else NULL */
    enum journal_op op;
    json_t *dependencies, *sensitive; /* owned */
    enum journal_phase phase;
    int ok;             /* JOURNAL_COMPLETED: the request succeeded */
    json_t *attributes; /* JOURNAL_COMPLETED and ok: the response, owned, may be NULL */
    bool released;      /* the response was folded, then released (journal.release_folded) */
};

/* A line of the journal that could not be read back. */
struct journal_unreadable {
    size_t line;   /* 1-based */
    size_t offset; /* of the line's first byte */
    char reason[200];
};

struct journal {
    char *path;
    int fd;
    struct crypt_keys *keys; /* borrowed, may be NULL */
    struct journal_entry *entries;
    size_t nentries, cap;
    struct journal_unreadable *unreadable; /* set aside on open */
    size_t nunreadable;
    struct buf damaged;          /* their bytes, one per line, until saved to "<path>.damaged" */
    bool damaged_in_file;        /* saved aside, but still in the file until it is rewritten */
    size_t discarded_torn;       /* torn trailing records dropped on open */
    bool group_commit;           /* records wait for journal_sync (see above) */
    bool unsynced;               /* records written since the last sync */
    bool release_folded;         /* journal_fold releases the response it folded (the file
                                    keeps it until journal_done): the applier's memory stays
                                    flat however many outcomes wait for the next save */
    size_t bytes;                /* the file's length: the log since it was last emptied or
                                    rewritten (the applier compacts when it outgrows the state) */
    struct journal_index *index; /* entries by id (journal.c); rebuilt when entries move */
    size_t work;                 /* entries the look-ups by id visited: tests count it */
};

/* Opens the journal and reads its records. keys may be NULL; when it can
 * seal, new records are encrypted. A journal that does not exist is created
 * (mode 0600) by its first record, not here: a run that records nothing
 * writes nothing beside the state. */
int journal_open(struct journal *j, const char *path, struct crypt_keys *keys, struct errbuf *err);
/* Reads the journal without changing it, for `drift` and the commands that
 * show the state: no file is created (a missing journal has no entries), a
 * torn last record is skipped but left in place. Only journal_pending,
 * journal_reconcile with a reader that does not read (rd->read NULL) and
 * journal_release may follow. */
int journal_open_readonly(struct journal *j, const char *path, struct crypt_keys *keys,
                          struct errbuf *err);
void journal_release(struct journal *j);

/* "sha256:<64 hex>" of a request body. */
void journal_digest(char out[72], const void *body, size_t len);

/* Records the intent durably; *out_id (37 bytes) names it. */
int journal_begin(struct journal *j, const struct journal_intent *intent, char *out_id,
                  struct errbuf *err);
/* Records the URL of the long-running operation the service started for
 * the intent (as journal_begin: durable, or at the next journal_sync). */
int journal_accepted(struct journal *j, const char *id, const char *operation_url,
                     struct errbuf *err);
/* Records the outcome durably. attributes (borrowed, may be NULL) is the
 * resource as returned for a successful create or update. */
int journal_complete(struct journal *j, const char *id, int ok, json_t *attributes,
                     struct errbuf *err);
/* Applies a completed entry to st (put for create/update, remove for
 * delete, the entry moved for a move; nothing for a failure). */
int journal_fold(struct journal *j, struct state *st, const char *id, struct errbuf *err);
/* Records that the entry is in a saved state. A successful outcome also
 * settles the older pending entries of the same address and ARM id: what
 * it observed is newer than anything they could tell. */
int journal_done(struct journal *j, const char *id, struct errbuf *err);
/* Makes every record written so far durable (group commit). */
int journal_sync(struct journal *j, struct errbuf *err);
/* Empties the file when nothing is pending (durably); otherwise, when it
 * holds settled entries or unreadable lines, rewrites it atomically with
 * the pending entries alone. Unreadable lines are first appended to
 * "<path>.damaged". */
int journal_compact(struct journal *j, struct errbuf *err);

/* Borrowed pointers to the pending entries (not done), in journal order,
 * at most max of them; returns how many are pending in total. */
size_t journal_pending(const struct journal *j, const struct journal_entry **out, size_t max);

/* How recovery looks at the cloud. */
struct journal_reader {
    /* Reads a resource (kind: the entry's catalogue kind): 0 and *out (new
     * reference) when it exists, AMLSEC_ENOTFOUND when it does not,
     * another negative code on failure. */
    int (*read)(void *payload, const char *kind, const char *arm_id, json_t **out);
    /* Waits, up to the implementation's bound, for the long-running
     * operation at operation_url to end: 0 when it ended (whatever its
     * outcome: the resource tells), AMLSEC_ENOTFOUND when the service no
     * longer knows it (ended long ago), AMLSEC_ECONFLICT when it is still
     * running, another negative code on failure. May be NULL. */
    int (*wait_operation)(void *payload, const char *operation_url);
    /* Waits, up to its bound, while the resource is in a transitional
     * provisioningState (Creating, Deleting, ...), then reads it as read
     * does; AMLSEC_ECONFLICT when it still is. May be NULL. */
    int (*wait_resource)(void *payload, const char *kind, const char *arm_id, json_t **out);
    void *payload;
    long now; /* seconds since the epoch (time(NULL)); 0: ask the clock */
};

enum journal_outcome {
    JOURNAL_ADOPTED,     /* create/update found in Azure: recorded in the state */
    JOURNAL_DROPPED,     /* create never happened: nothing to record */
    JOURNAL_REMOVED,     /* delete happened (or the resource is gone): removed from the state */
    JOURNAL_NOT_DELETED, /* delete did not happen: the state keeps it (attributes refreshed) */
    JOURNAL_PENDING,     /* may still happen (not visible yet): kept, re-checked next run */
    JOURNAL_MOVED,       /* a move: the state entry moved (when it was still there) */
};

struct journal_recovered {
    char id[STATE_LINEAGE_LEN + 1];
    char *address;
    enum journal_op op;
    enum journal_phase phase; /* how far the interrupted run got */
    enum journal_outcome outcome;
};

struct journal_recovery {
    struct journal_recovered *items;
    size_t count;            /* items, pending ones included */
    size_t pending;          /* of which JOURNAL_PENDING (not settled by journal_settle) */
    size_t removed_children; /* state entries removed with a deleted parent */
    size_t folded;           /* of count, outcomes folded from the journal without a read */
};

void journal_recovery_release(struct journal_recovery *r);

/* Reconciles every pending entry into st by reading its resource. On
 * failure nothing is marked done and st may be partly updated (the caller
 * discards it). out->count is what cmd/ reports ("recovered 2 in-flight
 * operations from an interrupted apply").
 * With rd->read NULL nothing is read: only what the journal holds is
 * folded (successful outcomes, moves), and every entry that needs a read
 * is JOURNAL_PENDING with st left as it was for it; the commands that show
 * the state without reading the cloud fold a journal opened with
 * journal_open_readonly this way, in memory, and never settle it. */
int journal_reconcile(struct journal_recovery *out, struct journal *j, struct state *st,
                      const struct journal_reader *rd, struct errbuf *err);
/* After the reconciled state is saved: marks the entries done (not the
 * JOURNAL_PENDING ones) and compacts. */
int journal_settle(struct journal *j, const struct journal_recovery *r, struct errbuf *err);

const char *journal_op_name(enum journal_op op);
const char *journal_outcome_name(enum journal_outcome o);

#endif
