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

/* A deep copy of attributes with every sensitive path replaced by
 * "(sensitive)". Caller decrefs. NULL (and err set) on failure. */
json_t *state_cli_redacted(struct state_resource *r, struct errbuf *err);

#endif
