#include "cmd/load.h"

#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "parser/value.h"
#include "providers/arm/resolve.h"
#include "providers/arm/schema.h"
#include "engine/rules.h"
#include "state/backend_config.h"
#include "providers/arm/schema.h"
#include "util/error.h"
#include "util/heap.h"
#include "util/banned.h"

extern char **environ;

bool load_args_take(struct load_args *a, int opt, char *value, const struct command *cmd)
{
    if (opt == 'V') {
        char *eq = strchr(value, '=');
        if (eq == NULL || eq == value) { /* the argument is not quoted: it may be a secret */
            cli_usage_error(cmd, "-var needs NAME=VALUE, got %s",
                            eq ? "no NAME before '='" : "no '='");
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

/* Registers every string and number under v (cli_secret_add). */
static void add_secrets(const json_t *v)
{
    const char *k;
    json_t *x;
    size_t i;
    char num[64];
    if (json_is_string(v))
        cli_secret_add(json_string_value(v));
    else if (value_is_big(v)) {
        cli_secret_add(value_big_digits(v));
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        cli_secret_add(num);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) add_secrets(x);
    } else if (json_is_object(v) && !value_is_unknown(v)) {
        json_object_foreach((json_t *)v, k, x) add_secrets(x);
    }
}

/* Every sensitive path of obj (prefix: where obj is), its values registered. */
static void add_sensitive(const json_t *obj, const json_t *paths, const char *prefix);

void load_register_secrets(const json_t *obj, const json_t *paths)
{
    if (json_is_object(obj))
        add_sensitive(obj, paths, "");
}

static void add_sensitive(const json_t *obj, const json_t *paths, const char *prefix)
{
    const char *k;
    json_t *x;
    char path[512];
    /* nothing listed at or under prefix: nothing below is sensitive (most
     * instances list nothing; a path formatted per attribute cost more
     * than the rest of validate's registration) */
    if (json_array_size(paths) == 0 || !value_path_sensitive(paths, prefix, true))
        return;
    json_object_foreach((json_t *)obj, k, x)
    {
        snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", k);
        if (value_path_sensitive(paths, path, false))
            add_secrets(x);
        else if (json_is_object(x))
            add_sensitive(x, paths, path);
        else if (json_is_array(x))
            for (size_t i = 0; i < json_array_size(x); i++)
                if (json_is_object(json_array_get(x, i)))
                    add_sensitive(json_array_get(x, i), paths, path);
    }
}

/* The values of sensitive variables and of every sensitive attribute are
 * secrets this run knows: messages it did not build never show them. */
static void register_secrets(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->nvars; i++)
        if (cfg->vars[i].sensitive)
            add_secrets(cfg->vars[i].value);
    for (size_t i = 0; i < cfg->nresources; i++)
        for (size_t j = 0; j < cfg->resources[i].ninstances; j++) {
            const struct cfg_instance *in = &cfg->resources[i].instances[j];
            if (json_is_object(in->attrs))
                add_sensitive(in->attrs, in->sensitive, "");
        }
}

int load_config(struct config **out, const char *path, const struct load_args *a,
                struct diag_list *diags, struct errbuf *err)
{
    struct config_opts opts;
    int rc;
    *out = NULL;
    memset(&opts, 0, sizeof(opts));
    opts.path = path;
    opts.kinds = load_known_kinds();
    opts.vars = a->vars;
    opts.nvars = a->nvars;
    opts.var_files = a->var_files;
    opts.nvar_files = a->nvar_files;
    opts.environ = environ;
    opts.resolver = resolve_resolver();
    opts.implicit = schema_implicit;
    opts.lazy_tags = a->lazy_tags;
    rc = config_load(out, &opts, diags, err);
    if (*out)
        register_secrets(*out);
    return rc;
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
    int rc;
    /* a configuration and its state take about 50 times its files' bytes
     * (50,000 resources: 8.5 MB of configuration, a plan of 404 MB) */
    heap_huge_pages_for(path, ".amlsec", 64);
    rc = load_config(out, path, a, diags, err);
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
