/* What the state commands share: opening the configured backend (the
 * settings block, the environment and flags, see docs/state.md), Entra
 * sign-in for the blob backend, -lock-timeout parsing, and printing a
 * resource with its sensitive values hidden. */
#ifndef AMLSEC_CMD_STATE_CLI_H
#define AMLSEC_CMD_STATE_CLI_H

#include "state/backend.h"
#include "state/backend_config.h"
#include "state/crypt.h"

struct config;
struct blob_signin;
struct journal;
struct state;
struct errbuf;

struct state_cli {
    struct backend_config cfg;
    struct state_backend *be;
    struct crypt_keys keys;
    struct config *parsed;      /* the current directory's configuration, parsed only */
    struct blob_signin *signin; /* Entra tokens for use_azuread_auth */
};

/* Opens the backend chosen by, from lowest to highest precedence, the
 * settings { state { ... } } block of conf (when conf is NULL, of the
 * configuration in the current directory, parsed only, if there is one),
 * the environment, and path (-state). With use_azuread_auth the blob
 * backend signs in to cloud (a name or URL as -cloud takes) with the
 * azurerm variables. Prints diagnostics (colour when color) or the error
 * and returns EXIT_FAIL on failure, EXIT_OK otherwise; on success it prints
 * the settings' warnings when conf is NULL (a caller that loaded conf
 * printed them with the configuration's). */
int state_cli_open(struct state_cli *sc, const char *path, const char *cloud,
                   const struct config *conf, int color);
void state_cli_close(struct state_cli *sc);

/* "30s", "500ms", "2m", or a plain number of seconds. -1 when invalid. */
long state_cli_parse_duration_ms(const char *s);

/* After an apply was killed (or its ARM client failed), the saved state
 * lags the journal until a plan or apply recovers it (they read the
 * cloud). A command that only shows the state (state list, state show,
 * show, output) folds into st, in memory, what the journal itself holds:
 * the outcomes that completed, as the killed run's save would have
 * recorded them, and its moves; the operations that were in flight stay
 * as last saved. Nothing is read from the cloud and nothing is written.
 * When anything was pending it warns on stderr: how many operations were
 * folded, each one in flight (the first 20), and the command that
 * recovers them. With as_stored (amlsec output: outputs are recorded when
 * an apply ends, so the journal has none; state pull: the document as
 * stored) nothing is folded, and the warning ends with as_stored instead.
 * EXIT_FAIL (reported) when the journal cannot be read. */
int state_cli_fold_journal(struct state_cli *sc, struct state *st, const char *as_stored);

/* The journal's pending entries, for a command that changes the state
 * without reading the cloud (state rm, state mv, state push): the next
 * plan or apply folds them in under their own addresses, which would undo
 * such a change (or track one resource at two addresses). */
struct state_cli_guard {
    struct journal *j; /* NULL when nothing is pending */
    char **arm_id;     /* per entry: its address's ARM id in the state before, or NULL */
    char **from_id;    /* per entry: the same for a move's `from` */
    char ***dep_id;    /* per entry, per dependency: the same for the address it depends on */
};
/* Records, for each pending entry, what st (the state before the change)
 * holds at its addresses. EXIT_FAIL (reported) when the journal cannot be
 * read or memory runs out. */
int state_cli_guard_begin(struct state_cli_guard *g, struct state_cli *sc, const struct state *st);
/* AMLSEC_ECONFLICT, with err naming the first such entry and the command
 * to run first, when after (the state the command would save) holds any
 * pending entry's address differently (absent, present, or another ARM
 * id), or holds what one of its dependencies named at another address, or
 * out (what the command moves to the state at out_where, state mv
 * -state-out; NULL for none) takes one there (the recovery would record
 * the dependency under the old one); else 0. */
int state_cli_guard_check(const struct state_cli_guard *g, const struct state *after,
                          const struct state_renames *out, const char *out_where,
                          const char *command, struct errbuf *err);
void state_cli_guard_end(struct state_cli_guard *g);

/* A deep copy of attributes with every sensitive path replaced by
 * "(sensitive)". Caller decrefs. NULL (and err set) on failure. */
json_t *state_cli_redacted(struct state_resource *r, struct errbuf *err);

#endif
