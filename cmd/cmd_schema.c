/* amlsec schema: the resource catalogue (kinds, attributes, ARM mapping). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "providers/arm/schema.h"
#include "util/jsonw.h"
#include "util/suggest.h"
#include "util/banned.h"

int cmd_schema(int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find("schema");
    int json, markdown, rc;
    struct buf b;
    json_t *arr = NULL;

    (void)ctx;
    if ((rc = cli_listing_options(argc, argv, self, &json, &markdown)) >= 0)
        return rc;
    rc = EXIT_OK;
    if (markdown && optind < argc)
        return cli_usage_error(self, "-markdown documents every kind; drop '%s'", argv[optind]);
    for (int i = optind; i < argc; i++) {
        if (schema_find(argv[i]) == NULL) {
            const char *near = suggest_nearest(argv[i], schema_kind_names, 0);
            if (near)
                cli_error("unknown resource kind '%s'; did you mean '%s'?", argv[i], near);
            else
                cli_error("unknown resource kind '%s'; 'amlsec schema' lists them", argv[i]);
            return EXIT_FAIL;
        }
    }
    buf_init(&b, 0);
    if (markdown) {
        schema_markdown(&b);
    } else {
        if (json)
            arr = json_array();
        for (const struct schema_kind *k = schema_kinds; k->name; k++) {
            bool want = optind >= argc;
            for (int i = optind; i < argc && !want; i++)
                want = strcmp(argv[i], k->name) == 0;
            if (!want)
                continue;
            if (json) {
                json_t *o = schema_kind_to_json(k);
                if (o == NULL || json_array_append_new(arr, o) != 0) {
                    cli_error("schema -json: cannot describe kind '%s'", k->name);
                    json_decref(arr);
                    buf_release(&b);
                    return EXIT_FAIL;
                }
            } else if (optind < argc)
                schema_text(&b, k);
            else
                buf_addf(&b, "%-20s %-62s %s\n", k->name, k->arm.type, k->arm.api_version);
        }
        if (json) {
            char *text = jsonw_dumps(arr, JSON_INDENT(2));
            if (text == NULL) {
                cli_error("out of memory");
                rc = EXIT_FAIL;
            } else {
                buf_adds(&b, text);
                buf_addch(&b, '\n');
                free(text);
            }
            json_decref(arr);
        }
    }
    fputs(b.ptr, stdout);
    buf_release(&b);
    return rc;
}
