/* What the state commands share: opening the configured backend (flags and
 * environment, see docs/state.md), -lock-timeout parsing, and printing a
 * resource with its sensitive values hidden. */
#ifndef AMLSEC_CMD_STATE_CLI_H
#define AMLSEC_CMD_STATE_CLI_H

#include "state/backend.h"
#include "state/backend_config.h"
#include "state/crypt.h"

struct state_cli {
    struct backend_config cfg;
    struct state_backend *be;
    struct crypt_keys keys;
};

/* Opens the backend chosen by path (-state) and the environment. Prints the
 * error and returns EXIT_FAIL on failure, EXIT_OK otherwise. */
int state_cli_open(struct state_cli *sc, const char *path);
void state_cli_close(struct state_cli *sc);

/* "30s", "500ms", "2m", or a plain number of seconds. -1 when invalid. */
long state_cli_parse_duration_ms(const char *s);

/* A deep copy of attributes with every sensitive path replaced by
 * "(sensitive)". Caller decrefs. NULL (and err set) on failure. */
json_t *state_cli_redacted(struct state_resource *r, struct errbuf *err);

#endif
