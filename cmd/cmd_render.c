/* amlsec render: the exact ARM requests a create would send. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/load.h"
#include "engine/depgraph.h"
#include "parser/value.h"
#include "providers/arm/render.h"
#include "providers/arm/schema.h"
#include "util/error.h"
#include "util/suggest.h"
#include "util/jsonw.h"
#include "util/banned.h"

/* Does inst match one of the addresses (a resource address selects all its
 * instances)? */
static bool selected(const struct cfg_instance *inst, char **addrs, int naddrs)
{
    if (naddrs == 0)
        return true;
    for (int i = 0; i < naddrs; i++)
        if (strcmp(inst->address, addrs[i]) == 0 || strcmp(inst->resource->address, addrs[i]) == 0)
            return true;
    return false;
}

static bool address_known(const struct config *cfg, const char *addr, const char **near)
{
    const char *names[512];
    size_t n = 0;
    *near = NULL;
    for (size_t i = 0; i < cfg->nresources; i++) {
        const struct cfg_resource *r = &cfg->resources[i];
        if (strcmp(r->address, addr) == 0)
            return true;
        for (size_t j = 0; j < r->ninstances; j++)
            if (strcmp(r->instances[j].address, addr) == 0)
                return true;
        if (n + 1 < sizeof(names) / sizeof(names[0]))
            names[n++] = r->address;
    }
    names[n] = NULL;
    *near = suggest_nearest(addr, names, 0);
    return false;
}

int cmd_render(int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find("render");
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},     {"dir", required_argument, NULL, 'd'},
        {"no-color", no_argument, NULL, 'n'}, LOAD_OPTIONS,
        {"help", no_argument, NULL, 'h'},     {NULL, 0, NULL, 0}};
    struct load_args la;
    struct diag_list diags;
    struct errbuf err = ERRBUF_INIT;
    struct config *cfg = NULL;
    struct depgraph *g = NULL;
    struct render_list reqs;
    const char *dir = ".";
    int c, json = 0, color = ctx->color && isatty(STDERR_FILENO), rc, exit_code = EXIT_FAIL;

    memset(&la, 0, sizeof(la));
    while ((c = cli_getopt(argc, argv, opts, self)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'd':
            dir = optarg;
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

    diag_list_init(&diags);
    render_list_init(&reqs);
    rc = load_config_checked(&cfg, dir, &la, LOAD_SCHEMA, &diags, &err);
    if (rc < 0) {
        load_report_failure(rc, &diags, &err, color);
        goto out;
    }
    for (int i = optind; i < argc; i++) {
        const char *near;
        if (!address_known(cfg, argv[i], &near)) {
            if (near)
                cli_error("no resource '%s' in the configuration; did you mean '%s'?", argv[i],
                          near);
            else
                cli_error("no resource '%s' in the configuration", argv[i]);
            goto out;
        }
    }
    /* Creation order: dependencies first (configuration order on a cycle,
     * which the front end reports anyway). */
    if (depgraph_build(&g, cfg, &err) < 0) {
        cli_error("%s", err.msg);
        goto out;
    }
    if (depgraph_sort(g, &err) < 0) {
        g->norder = g->n;
        for (size_t i = 0; i < g->n; i++)
            g->order[i] = i;
    }
    for (size_t i = 0; i < g->norder; i++) {
        const struct cfg_instance *inst = g->nodes[g->order[i]].inst;
        if (!selected(inst, argv + optind, argc - optind))
            continue;
        if (render_instance(&reqs, cfg, inst, true, &err) < 0) {
            cli_error("%s: %s", inst->address, err.msg);
            goto out;
        }
    }
    if (json) {
        json_t *arr = json_array();
        char *text;
        for (size_t i = 0; i < reqs.n; i++)
            json_array_append_new(arr, render_to_json(&reqs.items[i]));
        text = jsonw_dumps(arr, JSON_INDENT(2) | JSON_REAL_PRECISION(VALUE_DIGITS));
        json_decref(arr);
        if (text == NULL) {
            cli_error("out of memory");
            goto out;
        }
        puts(text);
        free(text);
    } else {
        struct buf b;
        buf_init(&b, 0);
        for (size_t i = 0; i < reqs.n; i++)
            render_format_text(&b, &reqs.items[i]);
        fputs(b.ptr, stdout);
        buf_release(&b);
    }
    exit_code = EXIT_OK;
out:
    render_list_release(&reqs);
    depgraph_free(g);
    config_free(cfg);
    diag_list_release(&diags);
    return exit_code;
}
