#include "cmd/load.h"

#include <stdio.h>
#include <string.h>

#include "providers/arm/resolve.h"
#include "providers/arm/schema.h"
#include "engine/rules.h"
#include "state/backend_config.h"
#include "providers/arm/schema.h"
#include "util/error.h"
#include "util/banned.h"

extern char **environ;

bool load_args_take(struct load_args *a, int opt, char *value, const struct command *cmd)
{
    if (opt == 'V') {
        char *eq = strchr(value, '=');
        if (eq == NULL || eq == value) {
            cli_usage_error(cmd, "-var needs NAME=VALUE, got '%s'", value);
            return false;
        }
        if (a->nvars == LOAD_MAX_VARS) {
            cli_usage_error(cmd, "too many -var flags (limit %d)", LOAD_MAX_VARS);
            return false;
        }
        *eq = '\0';
        a->vars[a->nvars].name = value;
        a->vars[a->nvars].value = eq + 1;
        a->nvars++;
        return true;
    }
    if (a->nvar_files == LOAD_MAX_VARS) {
        cli_usage_error(cmd, "too many -var-file flags (limit %d)", LOAD_MAX_VARS);
        return false;
    }
    a->var_files[a->nvar_files++] = value;
    return true;
}

const char *const *load_known_kinds(void)
{
    /* The kinds of the resource catalogue (providers/arm/schema_kinds.c). */
    return schema_kind_names;
}

int load_config(struct config **out, const char *path, const struct load_args *a,
                struct diag_list *diags, struct errbuf *err)
{
    struct config_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.path = path;
    opts.kinds = load_known_kinds();
    opts.vars = a->vars;
    opts.nvars = a->nvars;
    opts.var_files = a->var_files;
    opts.nvar_files = a->nvar_files;
    opts.environ = environ;
    opts.resolver = resolve_resolver();
    return config_load(out, &opts, diags, err);
}

/* The settings block's state backend, merged with the environment as the
 * commands that open the state will see it (an azurerm backend without a
 * container is a configuration error that points at the block). */
static void check_state_settings(const struct config *cfg, struct diag_list *diags)
{
    struct backend_config bc;
    struct errbuf err = ERRBUF_INIT;
    if (backend_config_from_settings(&bc, cfg, diags) == 0 &&
        backend_config_apply_env(&bc, diags, &err) == 0)
        backend_config_check(&bc, diags);
}

int load_config_checked(struct config **out, const char *path, const struct load_args *a,
                        enum load_checks checks, struct diag_list *diags, struct errbuf *err)
{
    int rc = load_config(out, path, a, diags, err);
    if (rc == 0)
        check_state_settings(*out, diags);
    if (rc == 0 && checks >= LOAD_SCHEMA && schema_validate_config(*out, diags) == 0 &&
        checks >= LOAD_RULES)
        rules_run(*out, diags);
    if (rc == 0 && diags->errors > 0)
        rc = AMLSEC_EPARSE;
    return rc;
}

void load_report_failure(int rc, struct diag_list *diags, const struct errbuf *err, int color)
{
    load_print_diags(diags, color);
    if (rc < 0 && rc != AMLSEC_EPARSE)
        cli_error("%s", err->msg);
}

void load_print_diags(struct diag_list *diags, int color)
{
    struct buf b;
    buf_init(&b, 0);
    diag_list_sort(diags);
    for (size_t i = 0; i < diags->n; i++) {
        buf_reset(&b);
        diag_format_text(&b, &diags->items[i], color);
        fputs(b.ptr, stderr);
    }
    if (diags->max_errors && diags->errors >= diags->max_errors)
        fprintf(stderr, "amlsec: stopped after %zu errors\n", diags->errors);
    buf_release(&b);
}

void load_print_diags_compact(struct diag_list *diags, int color)
{
    struct buf b;
    if (diags->errors > 0 || diags->n == 0) {
        load_print_diags(diags, color);
        return;
    }
    buf_init(&b, 0);
    diag_list_sort(diags);
    for (size_t i = 0; i < diags->n; i++) {
        buf_reset(&b);
        diag_format_text(&b, &diags->items[i], color);
        /* the summary line only: no source snippet, notes or hint */
        fprintf(stderr, "%.*s\n", (int)strcspn(b.ptr, "\n"), b.ptr);
    }
    fprintf(stderr,
            "amlsec: %zu warning%s, %zu note%s (without -compact-warnings each shows its source "
            "line and hint)\n",
            diags->warnings, diags->warnings == 1 ? "" : "s", diags->n - diags->warnings,
            diags->n - diags->warnings == 1 ? "" : "s");
    buf_release(&b);
}
