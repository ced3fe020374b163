/* amlsec rules: the security-rule catalogue. */
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "engine/rules.h"
#include "util/jsonw.h"
#include "util/banned.h"

int cmd_rules(int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find("rules");
    int json, markdown, rc;
    struct buf b;

    (void)ctx;
    if ((rc = cli_listing_options(argc, argv, self, &json, &markdown)) >= 0)
        return rc;
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    buf_init(&b, 0);
    if (json) {
        json_t *arr = rules_to_json();
        char *text = arr ? jsonw_dumps(arr, JSON_INDENT(2)) : NULL;
        json_decref(arr);
        if (text == NULL) {
            cli_error("out of memory");
            return EXIT_FAIL;
        }
        puts(text);
        free(text);
    } else if (markdown) {
        rules_markdown(&b);
        fputs(b.ptr, stdout);
    } else {
        for (const struct rule *r = rules_catalogue; r->id; r++)
            buf_addf(&b, "%-20s %-8s %s\n", r->id,
                     r->severity == DIAG_ERROR     ? "error"
                     : r->severity == DIAG_WARNING ? "warning"
                                                   : "note",
                     r->title);
        fputs(b.ptr, stdout);
    }
    buf_release(&b);
    return EXIT_OK;
}
