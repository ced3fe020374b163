/* What every command that reads a configuration shares: -var/-var-file
 * collection, loading, and printing diagnostics (text on stderr, or JSON). */
#ifndef AMLSEC_CMD_LOAD_H
#define AMLSEC_CMD_LOAD_H

#include <stdbool.h>

#include "cmd/cli.h"
#include "parser/config.h"
#include "parser/diag.h"

#define LOAD_MAX_VARS 256

struct load_args {
    struct config_var_assign vars[LOAD_MAX_VARS];
    size_t nvars;
    const char *var_files[LOAD_MAX_VARS];
    size_t nvar_files;
    /* validate: the unknowns of only the instances a reference reads are
     * tagged with their origin (config_opts.lazy_tags) */
    bool lazy_tags;
};

/* Long options every config-reading command accepts; merge into the
 * command's own table. Values 'V' (-var) and 'F' (-var-file). */
#define LOAD_OPTIONS                                                                               \
    {"var", required_argument, NULL, 'V'},                                                         \
    {                                                                                              \
        "var-file", required_argument, NULL, 'F'                                                   \
    }

/* Handles 'V' and 'F'; returns false (after printing a usage error) on bad
 * input such as -var without '='. */
bool load_args_take(struct load_args *a, int opt, char *optarg_value, const struct command *cmd);

/* The resource kinds the configuration may declare (NULL-terminated). */
const char *const *load_known_kinds(void);

/* Loads the configuration at path. On success returns 0 with *out set;
 * otherwise prints (unless json) and returns EXIT_FAIL. Diagnostics are
 * left in diags for the caller to print (load_print_diags). */
int load_config(struct config **out, const char *path, const struct load_args *a,
                struct diag_list *diags, struct errbuf *err);

/* How far load_config_checked goes: the front end only, plus the
 * catalogue's schema checks, plus the security rules (what validate runs). */
enum load_checks { LOAD_FRONT_END, LOAD_SCHEMA, LOAD_RULES };

/* load_config, then the schema checks (on a configuration that loaded),
 * then the rules (on a schema-valid one, so findings never cascade).
 * Returns AMLSEC_EPARSE when any error diagnostic was reported. */
int load_config_checked(struct config **out, const char *path, const struct load_args *a,
                        enum load_checks checks, struct diag_list *diags, struct errbuf *err);

/* After a failed load: the diagnostics, then err unless the failure was
 * the diagnostics themselves (AMLSEC_EPARSE). */
void load_report_failure(int rc, struct diag_list *diags, const struct errbuf *err, int color);

/* Prints diagnostics as compiler-style text on stderr. */
void load_print_diags(struct diag_list *diags, int color);

/* -compact-warnings: as load_print_diags, but when there is no error each
 * warning and note is its first line only (file:line:col: warning: ...),
 * followed by how many there were. */
void load_print_diags_compact(struct diag_list *diags, int color);

/* Registers (cli_secret_add) the values at the sensitive paths of obj
 * (DSL attributes): a saved plan's, when no configuration is loaded. */
void load_register_secrets(const json_t *obj, const json_t *paths);

#endif
