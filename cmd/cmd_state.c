/* amlsec state list | show ADDR | rm ADDR... | mv FROM TO | pull | push FILE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/state_cli.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/jsonw.h"
#include "util/banned.h"

struct state_opts {
    const char *path;
    long lock_timeout_ms;
    int json;
    int force;
    int no_lock; /* -lock=false: rm, mv and push do not lock the state */
};

static int state_list(struct state_cli *sc, const struct state_opts *o)
{
    struct errbuf err = ERRBUF_INIT;
    struct state st;
    int existed;
    json_t *arr;

    if (state_backend_load(&st, &existed, sc->be, &sc->keys, &err) < 0) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    if (!o->json) {
        for (size_t i = 0; i < st.nresources; i++)
            printf("%s\n", st.resources[i].address);
        state_release(&st);
        return EXIT_OK;
    }
    arr = json_array();
    for (size_t i = 0; i < st.nresources; i++) {
        const struct state_resource *r = &st.resources[i];
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "address", r->address, "kind",
                                             r->kind, "arm_id", r->arm_id, "status",
                                             state_status_name(r->status)));
    }
    json_dumpf(arr, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(arr);
    state_release(&st);
    return EXIT_OK;
}

static int state_show(struct state_cli *sc, const struct state_opts *o, const char *address)
{
    struct errbuf err = ERRBUF_INIT;
    struct state st;
    struct state_resource *r;
    int existed, rc = EXIT_FAIL;
    json_t *attrs = NULL;
    char *text = NULL;

    if (state_backend_load(&st, &existed, sc->be, &sc->keys, &err) < 0) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    r = state_find(&st, address);
    if (r == NULL) {
        cli_error("no resource instance '%s' in the state '%s'", address, sc->be->where);
        goto out;
    }
    attrs = state_cli_redacted(r, &err);
    if (attrs == NULL) {
        cli_error("%s", err.msg);
        goto out;
    }
    if (o->json) {
        json_t *obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:O}", "address", r->address,
                                "kind", r->kind, "arm_id", r->arm_id, "api_version", r->api_version,
                                "status", state_status_name(r->status), "dependencies",
                                r->dependencies, "attributes", attrs);
        text = obj ? jsonw_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        json_decref(obj);
    } else {
        text = attrs ? jsonw_dumps(attrs, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        printf("# %s%s\n", r->address, r->status == STATE_STATUS_TAINTED ? " (tainted)" : "");
        printf("kind        = %s\n", r->kind);
        printf("arm_id      = %s\n", r->arm_id);
        printf("api_version = %s\n", r->api_version);
        printf("depends_on  = [");
        for (size_t i = 0; i < json_array_size(r->dependencies); i++)
            printf("%s%s", i ? ", " : "", json_string_value(json_array_get(r->dependencies, i)));
        printf("]\nattributes  = ");
    }
    if (text == NULL) {
        cli_error("out of memory");
        goto out;
    }
    printf("%s\n", text);
    rc = EXIT_OK;
out:
    free(text);
    json_decref(attrs);
    state_release(&st);
    return rc;
}

/* Lock, load, apply fn, save, unlock. */
typedef int (*mutate_fn)(struct state *st, char **args, int nargs, struct errbuf *err);

static int mutate(struct state_cli *sc, const struct state_opts *o, const char *operation,
                  mutate_fn fn, char **args, int nargs)
{
    struct errbuf err = ERRBUF_INIT;
    struct state st;
    int existed, loaded = 0, rc = EXIT_FAIL;

    if (!o->no_lock && state_backend_lock(sc->be, operation, o->lock_timeout_ms, NULL, &err) < 0) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    if (state_backend_load(&st, &existed, sc->be, &sc->keys, &err) < 0)
        goto out;
    loaded = 1;
    if (fn(&st, args, nargs, &err) < 0)
        goto out;
    if (state_backend_save(sc->be, &st, &sc->keys, &err) < 0)
        goto out;
    rc = EXIT_OK;
out:
    if (rc != EXIT_OK)
        cli_error("%s", err.msg);
    if (loaded)
        state_release(&st);
    if (!o->no_lock && state_backend_unlock(sc->be, &err) < 0) {
        cli_error("%s", err.msg);
        rc = EXIT_FAIL;
    }
    return rc;
}

static int do_rm(struct state *st, char **args, int nargs, struct errbuf *err)
{
    int rc;
    for (int i = 0; i < nargs; i++)
        if (state_find(st, args[i]) == NULL)
            return errbuf_set(err, AMLSEC_ENOTFOUND, "no resource instance '%s' in the state",
                              args[i]);
    for (int i = 0; i < nargs; i++) {
        if ((rc = state_remove(st, args[i], err)) < 0)
            return rc;
        printf("Removed %s\n", args[i]);
    }
    return 0;
}

static int do_mv(struct state *st, char **args, int nargs, struct errbuf *err)
{
    int rc = state_move(st, args[0], args[1], err);
    (void)nargs;
    if (rc == 0)
        printf("Moved %s to %s\n", args[0], args[1]);
    return rc;
}

static int state_pull(struct state_cli *sc)
{
    struct errbuf err = ERRBUF_INIT;
    struct state st;
    struct buf plain, sealed;
    int existed, rc = EXIT_FAIL;
    const struct buf *outb;

    if (state_backend_load(&st, &existed, sc->be, &sc->keys, &err) < 0) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    buf_init(&plain, STATE_MAX_BYTES);
    buf_init(&sealed, STATE_MAX_BYTES);
    if (!existed) {
        /* as 'state list' (and Terraform's pull): no state yet is not an
         * error, and there is nothing to print */
        fprintf(stderr, "amlsec: no state stored at '%s' yet\n", sc->be->where);
        rc = EXIT_OK;
        goto out;
    }
    if (state_serialize(&st, &plain, &err) < 0)
        goto fail;
    outb = &plain;
    /* With encryption configured the copy stays encrypted. */
    if (crypt_keys_enabled(&sc->keys)) {
        if (crypt_seal(&sealed, &sc->keys, plain.ptr, plain.len, &err) < 0)
            goto fail;
        outb = &sealed;
    }
    if (fwrite(outb->ptr, 1, outb->len, stdout) != outb->len || fflush(stdout) != 0) {
        cli_error("cannot write the state to stdout");
        goto out;
    }
    rc = EXIT_OK;
    goto out;
fail:
    cli_error("%s", err.msg);
out:
    if (plain.len)
        memset(plain.ptr, 0, plain.len);
    buf_release(&plain);
    buf_release(&sealed);
    state_release(&st);
    return rc;
}

static int state_push(struct state_cli *sc, const struct state_opts *o, const char *file)
{
    struct errbuf err = ERRBUF_INIT;
    struct state incoming, current;
    struct buf raw, plain;
    int existed, have_in = 0, have_cur = 0, rc = EXIT_FAIL;
    const char *data;
    size_t len;

    buf_init(&raw, STATE_MAX_BYTES);
    buf_init(&plain, STATE_MAX_BYTES);
    if (file_read_all(&raw, file, STATE_MAX_BYTES, &err) < 0)
        goto fail;
    data = raw.ptr;
    len = raw.len;
    if (crypt_is_sealed(raw.ptr, raw.len)) {
        if (crypt_open(&plain, &sc->keys, raw.ptr, raw.len, file, NULL, &err) < 0)
            goto fail;
        data = plain.ptr;
        len = plain.len;
    }
    if (state_parse(&incoming, data, len, file, &err) < 0)
        goto fail;
    have_in = 1;
    if (!o->no_lock && state_backend_lock(sc->be, "state push", o->lock_timeout_ms, NULL, &err) < 0)
        goto fail;
    if (state_backend_load(&current, &existed, sc->be, &sc->keys, &err) < 0)
        goto fail_locked;
    have_cur = 1;
    if (existed && strcmp(current.lineage, incoming.lineage) != 0 && !o->force) {
        errbuf_set(&err, AMLSEC_ECONFLICT,
                   "'%s' has lineage %s but the stored state has lineage %s: a different "
                   "state; use -force to replace it",
                   file, incoming.lineage, current.lineage);
        goto fail_locked;
    }
    if (existed && incoming.serial < current.serial && !o->force) {
        errbuf_set(&err, AMLSEC_ECONFLICT,
                   "'%s' has serial %llu, older than the stored state's %llu; use -force to "
                   "replace it",
                   file, (unsigned long long)incoming.serial, (unsigned long long)current.serial);
        goto fail_locked;
    }
    /* Serials only grow: a forced push of an older copy lands after the
     * current one. */
    if (existed && incoming.serial <= current.serial)
        incoming.serial = current.serial + 1;
    if (state_backend_write_state(sc->be, &incoming, &sc->keys, &err) < 0)
        goto fail_locked;
    printf("Pushed '%s' to '%s' (serial %llu)\n", file, sc->be->where,
           (unsigned long long)incoming.serial);
    rc = EXIT_OK;
    goto unlock;
fail_locked:
    cli_error("%s", err.msg);
unlock:
    if (!o->no_lock && state_backend_unlock(sc->be, &err) < 0) {
        cli_error("%s", err.msg);
        rc = EXIT_FAIL;
    }
    goto out;
fail:
    cli_error("%s", err.msg);
out:
    if (have_in)
        state_release(&incoming);
    if (have_cur)
        state_release(&current);
    if (plain.len)
        memset(plain.ptr, 0, plain.len);
    buf_release(&plain);
    buf_release(&raw);
    return rc;
}

int cmd_state(int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find("state");
    static const struct option opts[] = {{"state", required_argument, NULL, 's'},
                                         {"lock-timeout", required_argument, NULL, 't'},
                                         {"lock", optional_argument, NULL, 'L'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct state_opts o = {0};
    struct state_cli sc;
    const char *sub;
    char **args;
    int c, nargs, rc;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "-help") == 0 ||
        strcmp(argv[1], "--help") == 0) {
        fputs(self->usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_FAIL : EXIT_OK;
    }
    sub = argv[1];
    argc--;
    argv++;
    optind = 1;
    while ((c = cli_getopt(argc, argv, opts, self)) != -1) {
        switch (c) {
        case 's':
            o.path = optarg;
            break;
        case 't':
            o.lock_timeout_ms = state_cli_parse_duration_ms(optarg);
            if (o.lock_timeout_ms < 0)
                return cli_usage_error(self, "invalid -lock-timeout '%s' (e.g. 30s, 500ms, 2m)",
                                       optarg);
            break;
        case 'j':
            o.json = 1;
            break;
        case 'L': {
            int on = 1;
            if (optarg && cli_parse_bool(optarg, &on) < 0)
                return cli_usage_error(self, "-lock takes true or false, not '%.*s'", CLI_QUOTE_MAX,
                                       optarg);
            o.no_lock = !on;
            break;
        }
        case 'f':
            o.force = 1;
            break;
        case CLI_HELP:
            fputs(self->usage, stdout);
            return EXIT_OK;
        default:
            return EXIT_FAIL;
        }
    }
    args = argv + optind;
    nargs = argc - optind;

#define WANT(n, what)                                                                              \
    do {                                                                                           \
        if (nargs != (n))                                                                          \
            return cli_usage_error(self, "'state %s' takes %s", sub, what);                        \
    } while (0)
    if (strcmp(sub, "list") == 0)
        WANT(0, "no arguments");
    else if (strcmp(sub, "show") == 0)
        WANT(1, "one address");
    else if (strcmp(sub, "rm") == 0) {
        if (nargs < 1)
            return cli_usage_error(self, "'state rm' takes one or more addresses");
    } else if (strcmp(sub, "mv") == 0)
        WANT(2, "two addresses: FROM TO");
    else if (strcmp(sub, "pull") == 0)
        WANT(0, "no arguments");
    else if (strcmp(sub, "push") == 0)
        WANT(1, "one file");
    else
        return cli_usage_error(self, "unknown subcommand '%s' (list, show, rm, mv, pull, push)",
                               sub);
#undef WANT

    if ((rc = state_cli_open(&sc, o.path, NULL, NULL, ctx->color)) != EXIT_OK)
        return rc;
    if (strcmp(sub, "list") == 0)
        rc = state_list(&sc, &o);
    else if (strcmp(sub, "show") == 0)
        rc = state_show(&sc, &o, args[0]);
    else if (strcmp(sub, "rm") == 0)
        rc = mutate(&sc, &o, "state rm", do_rm, args, nargs);
    else if (strcmp(sub, "mv") == 0)
        rc = mutate(&sc, &o, "state mv", do_mv, args, nargs);
    else if (strcmp(sub, "pull") == 0)
        rc = state_pull(&sc);
    else
        rc = state_push(&sc, &o, args[0]);
    state_cli_close(&sc);
    return rc;
}
