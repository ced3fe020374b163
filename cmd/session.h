/* What plan, apply, destroy and import share: the cloud connection (the
 * embedded local cloud, or ARM with the azurerm provider's sign-in
 * variables), and the state with its lock and journal (recovering any
 * operations an interrupted apply left in flight). */
#ifndef AMLSEC_CMD_SESSION_H
#define AMLSEC_CMD_SESSION_H

#include <stdbool.h>

#include "cmd/state_cli.h"
#include "parser/config.h"
#include "providers/provider.h"
#include "state/journal.h"
#include "state/state.h"

struct armlocal;
struct arm_cloud;
struct transport;
struct auth;
struct arm_client;

struct session {
    /* cloud */
    struct armlocal *local; /* the embedded local cloud, or NULL */
    char local_data[4096];
    struct arm_cloud *custom_cloud;
    const struct arm_cloud *cloud; /* the cloud in use (built-in or custom_cloud), or NULL */
    double recovery_deadline;      /* monotonic seconds: recovery stops waiting then */
    bool custom_local;             /* -cloud http://127.0.0.1:PORT: a standalone local cloud */
    struct transport *transport;
    struct auth *auth;
    struct arm_client *client;
    struct provider *provider;
    /* state */
    struct state_cli sc;
    bool sc_open, locked, loaded;
    struct state st;
    struct journal journal;
    bool journal_open;
};

struct session_opts {
    /* "local" (embedded), "public", "usgovernment", "china", or an endpoint URL
     * (a running amlsec-armlocal); NULL: settings.cloud or ARM_ENVIRONMENT */
    const char *cloud;
    const char *state_path; /* -state */
    long lock_timeout_ms;
    bool lock;             /* plan locks too (it reads a consistent state); show does not */
    bool no_lock;          /* -lock=false: as lock, but without taking the state lock */
    const char *operation; /* "plan", "apply", ... for the lock info */
    unsigned parallelism;
    bool need_cloud;
    bool read_only; /* writes nothing under .amlsec, not even the local cloud's port (drift) */
    /* sign in (get an ARM token) before the state is opened: apply PLANFILE
     * must not touch the state when it cannot proceed */
    bool sign_in_first;
};

/* Opens everything; prints errors and returns EXIT_FAIL on failure. Pending
 * journal entries are reconciled by reading their resources, and the
 * recovery is reported on stderr. */
int session_open(struct session *s, const struct session_opts *o, const struct config *cfg);
void session_close(struct session *s);

/* Local cloud only: `existing` lookups name things managed elsewhere, which
 * an offline cloud cannot have; each one it lacks is seeded (created with
 * its id, name and type through the control API) and reported on stderr.
 * Does nothing against a real cloud. */
int session_seed_existing(struct session *s, const struct config *cfg);

/* Reads the resource id names and records it in s->st (not saved) as
 * address, which the configuration must declare and the state must not
 * hold (cmd/cmd_import.c). Prints the error and returns EXIT_FAIL when it
 * cannot. */
int session_import(struct session *s, const struct config *cfg, const char *address,
                   const char *id);

/* Settings a local cloud implies: its single tenant, unless one is set.
 * Call after loading the configuration, before planning. */
void session_prepare_config(const char *cloud_flag, struct config *cfg);

/* The cloud named by -cloud, AMLSEC_CLOUD, settings.cloud, or ARM_ENVIRONMENT
 * (default "public"). */
const char *session_cloud_name(const char *flag, const struct config *cfg);

/* The cloud to sign in to for name, which is not "local": an endpoint URL
 * (a custom cloud, *owned set), or a built-in cloud (ARM_METADATA_HOSTNAME
 * wins, as in azurerm). Free *owned with arm_cloud_free. */
int session_resolve_cloud(const struct arm_cloud **out, struct arm_cloud **owned, const char *name,
                          struct transport *t, struct errbuf *err);

/* AMLSEC_CA_BUNDLE: a PEM file of CAs trusted for https (ARM, Entra ID,
 * Blob Storage) instead of the system store; NULL when unset. */
const char *session_ca_bundle(void);

#endif
