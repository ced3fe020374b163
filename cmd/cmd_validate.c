#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/check.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/load.h"
#include "cmd/reports.h"
#include "providers/arm/schema.h"
#include "util/arena.h"
#include "util/error.h"
#include "util/jsonw.h"
#include "util/banned.h"

static int print_json(struct diag_list *diags, const char *fatal)
{
    json_t *root = json_object();
    json_t *arr = json_array();
    char *text;
    diag_list_sort(diags);
    for (size_t i = 0; i < diags->n; i++)
        json_array_append_new(arr, diag_to_json(&diags->items[i]));
    if (fatal) {
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:n, s:[]}", "severity", "error",
                                             "code", "config", "message", fatal, "hint", "notes"));
    }
    json_object_set_new(root, "format_version", json_string("1.0"));
    json_object_set_new(root, "valid", json_boolean(diags->errors == 0 && fatal == NULL));
    json_object_set_new(root, "error_count",
                        json_integer((json_int_t)diags->errors + (fatal != NULL)));
    json_object_set_new(root, "warning_count", json_integer((json_int_t)diags->warnings));
    json_object_set_new(root, "diagnostics", arr);
    text = jsonw_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text)
        puts(text);
    free(text);
    json_decref(root);
    return 0;
}

int cmd_validate(int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find("validate");
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"no-color", no_argument, NULL, 'n'},
                                         REPORT_OPTIONS,
                                         LOAD_OPTIONS,
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct load_args la;
    struct diag_list diags;
    struct errbuf err = ERRBUF_INIT;
    struct config *cfg = NULL;
    const char *path = ".";
    struct report_files rf = {0};
    int c, json = 0, color = ctx->color && isatty(STDERR_FILENO), rc;
    bool region;

    memset(&la, 0, sizeof(la));
    while ((c = cli_getopt(argc, argv, opts, self)) != -1) {
        if (reports_take(&rf, c, optarg))
            continue;
        switch (c) {
        case 'j':
            json = 1;
            break;
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
    if (optind < argc)
        path = argv[optind++];
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);

#ifdef M_MXFAST
    /* the configuration's values are millions of small blocks: with glibc's
     * fast bins, freeing them spends a tenth of validate consolidating
     * (50,000 resources: 0.87 -> 0.71 s CPU without them; as show -json) */
    mallopt(M_MXFAST, 0);
#endif
    /* and jansson's blocks (39 per resource, 6% of them freed before it
     * exits) one after the other in one region (util/arena.h) */
    region = arena_json_install();
    /* nothing fills unknowns in from a state here: only those a reference
     * reads are tagged with their origin */
    la.lazy_tags = true;
    diag_list_init(&diags);
    rc = load_config_checked(&cfg, path, &la, LOAD_RULES, &diags, &err);
    if (reports_wanted(&rf)) {
        struct finding_list fl;
        struct report_meta meta = {"validate", AMLSEC_VERSION, NULL};
        bool ok;
        finding_list_init(&fl);
        ok = findings_from_diags(&fl, &diags) == 0;
        if (ok && cfg) {
            check_address_findings(&fl, cfg);
            if (rf.junit)
                check_rule_passes(&fl, cfg);
        }
        if (ok && rc < 0 && rc != AMLSEC_EPARSE) /* a failure that is no diagnostic */
            ok = finding_add(&fl, FINDING_CONFIG, FINDING_DENY, "config", err.msg) != NULL;
        finding_list_sort(&fl);
        if (!ok || !reports_write(&rf, &fl, &meta))
            rc = rc < 0 ? rc : AMLSEC_ERROR;
        finding_list_release(&fl);
    }
    if (json) {
        print_json(&diags, rc < 0 && rc != AMLSEC_EPARSE ? err.msg : NULL);
    } else {
        load_report_failure(rc, &diags, &err, color);
        if (rc == 0)
            printf("Success! The configuration is valid%s.\n",
                   diags.warnings ? ", with warnings" : "");
    }
    /* values in the region are left to the exit: freeing them would walk
     * every value to free nothing (50,000 resources: 2 million blocks) */
    if (!region)
        config_free(cfg);
    diag_list_release(&diags);
    return rc == 0 ? EXIT_OK : EXIT_FAIL;
}
