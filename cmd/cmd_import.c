/* amlsec import [options] ADDRESS ARM_ID: adopt an existing Azure resource. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/load.h"
#include "cmd/plan_render.h"
#include "cmd/session.h"
#include "engine/plan.h"
#include "providers/arm/schema.h"
#include "util/error.h"
#include "util/banned.h"

/* The ARM type of a resource id: the namespace after the last /providers/
 * and every other segment after it ("Microsoft.KeyVault/vaults/keys"). */
static int id_type(char *out, size_t size, const char *id)
{
    const char *p = NULL, *q = id;
    size_t n = 0;
    int seg = 0;
    while ((q = strstr(q, "/providers/")) != NULL)
        p = q++;
    if (p == NULL) {
        if (strstr(id, "/resourceGroups/") &&
            strchr(strstr(id, "/resourceGroups/") + 16, '/') == NULL) {
            snprintf(out, size, "Microsoft.Resources/resourceGroups");
            return 0;
        }
        return -1;
    }
    /* segments after /providers/: namespace, type, name, type, name...:
     * keep the namespace and the types (index 0 and the odd ones) */
    for (p += 11; *p; seg++) {
        size_t len = strcspn(p, "/");
        if (seg == 0 || seg % 2 == 1) {
            if (n + len + 2 > size)
                return -1;
            if (n)
                out[n++] = '/';
            memcpy(out + n, p, len);
            n += len;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    out[n] = '\0';
    return 0;
}

int session_import(struct session *s, const struct config *cfg, const char *address, const char *id)
{
    struct errbuf err = ERRBUF_INIT;
    const struct cfg_instance *in = config_find_instance(cfg, address);
    const struct schema_kind *k;
    struct provider_ref ref = {.id = id, .type = NULL};
    struct provider_result res;
    struct state_resource entry;
    char type[512];
    int rc = EXIT_FAIL;

    memset(&res, 0, sizeof(res));
    if (in == NULL || in->resource->existing) {
        cli_error("'%s' is not a resource in the configuration; declare it first, then import",
                  address);
        goto out;
    }
    k = schema_find(in->resource->kind);
    if (k == NULL || id_type(type, sizeof(type), id) < 0 || strcasecmp(type, k->arm.type) != 0) {
        cli_error("'%s' is not a %s (%s) id", id, in->resource->kind, k ? k->arm.type : "?");
        goto out;
    }
    if (state_find(&s->st, address)) {
        cli_error("'%s' is already in the state; remove it with 'amlsec state rm' to import again",
                  address);
        goto out;
    }
    ref.type = k->arm.type; /* checked above: the provider need not parse it again (it does
                               not know a resource group's id) */
    provider_reread(s->provider, &ref, &res);
    if (res.rc == AMLSEC_ENOTFOUND) {
        cli_error("cannot import '%s': it does not exist", id);
        goto out;
    }
    if (res.rc < 0 || res.body == NULL) {
        cli_error("cannot read '%s': %s", id, res.err.msg);
        goto out;
    }
    memset(&entry, 0, sizeof(entry));
    entry.address = (char *)address;
    entry.kind = (char *)in->resource->kind;
    entry.arm_id = (char *)(json_string_value(json_object_get(res.body, "id"))
                                ? json_string_value(json_object_get(res.body, "id"))
                                : id);
    entry.api_version = (char *)k->arm.api_version;
    entry.attributes = res.body;
    entry.sensitive = in->sensitive;
    entry.dependencies = json_array();
    entry.status = STATE_STATUS_CREATED;
    rc = state_put(&s->st, &entry, &err);
    json_decref(entry.dependencies);
    if (rc < 0) {
        cli_error("%s", err.msg);
        rc = EXIT_FAIL;
        goto out;
    }
    rc = EXIT_OK;
out:
    provider_result_release(&res);
    return rc;
}

static int import_one(struct session *s, const struct config *cfg, const char *address,
                      const char *id, int color)
{
    struct errbuf err = ERRBUF_INIT;
    struct plan *plan = NULL;
    struct plan_opts po;
    struct diag_list diags;
    const char *targets[1] = {address};
    int rc = EXIT_FAIL;

    diag_list_init(&diags);
    if (session_import(s, cfg, address, id) != EXIT_OK)
        goto out;
    if (state_backend_save(s->sc.be, &s->st, &s->sc.keys, &err) < 0) {
        cli_error("%s", err.msg);
        goto out;
    }
    printf("%s: imported %s\n\n", address, state_find(&s->st, address)->arm_id);
    memset(&po, 0, sizeof(po));
    po.targets = targets;
    po.ntargets = 1;
    po.refresh = true;
    rc = plan_build(&plan, cfg, &s->st, s->provider, &po, &diags, &err);
    load_print_diags(&diags, color);
    if (rc < 0 && rc != AMLSEC_EPARSE) {
        cli_error("%s", err.msg);
        rc = EXIT_FAIL;
        goto out;
    }
    if (plan && plan_has_changes(plan)) {
        printf("It differs from the configuration; the next apply will do this:\n\n");
        plan_render_text(stdout, plan, color);
    } else {
        printf("It matches the configuration.\n");
    }
    rc = EXIT_OK;
out:
    plan_free(plan);
    diag_list_release(&diags);
    return rc;
}

int cmd_import(int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find("import");
    static const struct option opts[] = {{"config", required_argument, NULL, 'C'},
                                         {"cloud", required_argument, NULL, 'c'},
                                         {"state", required_argument, NULL, 's'},
                                         {"lock-timeout", required_argument, NULL, 'l'},
                                         {"lock", optional_argument, NULL, 'L'},
                                         {"no-color", no_argument, NULL, 'n'},
                                         LOAD_OPTIONS,
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct load_args la;
    struct session_opts so;
    struct session s;
    struct diag_list diags;
    struct errbuf err = ERRBUF_INIT;
    struct config *cfg = NULL;
    const char *dir = ".";
    int c, color = ctx->color, rc = EXIT_FAIL, lrc;

    memset(&la, 0, sizeof(la));
    memset(&so, 0, sizeof(so));
    memset(&s, 0, sizeof(s));
    so.operation = "import";
    so.lock = true;
    so.need_cloud = true;
    while ((c = cli_getopt(argc, argv, opts, self)) != -1) {
        switch (c) {
        case 'C':
            dir = optarg;
            break;
        case 'c':
            so.cloud = optarg;
            break;
        case 's':
            so.state_path = optarg;
            break;
        case 'l':
            so.lock_timeout_ms = state_cli_parse_duration_ms(optarg);
            if (so.lock_timeout_ms < 0)
                return cli_usage_error(self, "bad -lock-timeout '%s'", optarg);
            break;
        case 'L': {
            int on = 1;
            if (optarg && cli_parse_bool(optarg, &on) < 0)
                return cli_usage_error(self, "-lock takes true or false, not '%.*s'", CLI_QUOTE_MAX,
                                       optarg);
            so.no_lock = !on;
            break;
        }
        case 'n':
            color = 0;
            break;
        case 'V':
        case 'F':
            if (!load_args_take(&la, c, optarg, self))
                return EXIT_FAIL;
            break;
        case CLI_HELP:
            fputs(self->usage, stdout);
            return EXIT_OK;
        default:
            return EXIT_FAIL;
        }
    }
    if (argc - optind != 2)
        return cli_usage_error(self, "needs ADDRESS and ARM_ID");
    diag_list_init(&diags);
    lrc = load_config_checked(&cfg, dir, &la, LOAD_SCHEMA, &diags, &err);
    if (lrc < 0) {
        load_report_failure(lrc, &diags, &err, color);
        goto out;
    }
    session_prepare_config(so.cloud, cfg);
    if (session_open(&s, &so, cfg) != EXIT_OK)
        goto out;
    rc = import_one(&s, cfg, argv[optind], argv[optind + 1], color);
out:
    session_close(&s);
    config_free(cfg);
    diag_list_release(&diags);
    return rc;
}
