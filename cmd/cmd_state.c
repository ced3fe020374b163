/* amlsec state list [-id=ID] [ADDR...] | show ADDR | rm [-dry-run] ADDR... | mv [-dry-run]
 * [-state-out=PATH] FROM TO | pull | push FILE */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/state_cli.h"
#include "state/journal.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/jsonw.h"
#include "util/strmap.h"
#include "util/banned.h"

struct state_opts {
    const char *path;
    const char *state_out; /* -state-out: mv writes what moves to this local state file */
    const char *id;        /* -id: list only the instances with this ARM id */
    long lock_timeout_ms;
    int json;
    int force;
    int no_lock; /* -lock=false: rm, mv and push do not lock the state */
    int dry_run; /* -dry-run: rm and mv say what they would do, and save nothing */
};

/* Every instance, or (with addresses, as Terraform's state list) those
 * each names: an instance, a resource's, a module's; with -id only those
 * whose ARM id is it (Terraform's -id, the id attribute; ARM ids compare
 * without case). */
static int state_list(struct state_cli *sc, const struct state_opts *o, char **args, int nargs)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_renames m = {0};
    struct state st;
    int existed, rc = 0;
    size_t n;
    json_t *arr;

    if (state_backend_load(&st, &existed, sc->be, &sc->keys, &err) < 0) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    if (state_cli_fold_journal(sc, &st, NULL) != EXIT_OK) {
        state_release(&st);
        return EXIT_FAIL;
    }
    for (int i = 0; i < nargs && rc == 0; i++)
        rc = state_match(&st, args[i], &m, &err);
    if (rc < 0) {
        cli_error("%s", err.msg);
        state_release(&st);
        return EXIT_FAIL;
    }
    n = nargs ? m.n : st.nresources;
    arr = o->json ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        const struct state_resource *r = nargs ? state_find(&st, m.from[i]) : &st.resources[i];
        if (o->id && strcasecmp(r->arm_id, o->id) != 0)
            continue;
        if (arr == NULL)
            printf("%s\n", r->address);
        else
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "address", r->address,
                                                 "kind", r->kind, "arm_id", r->arm_id, "status",
                                                 state_status_name(r->status)));
    }
    if (arr) {
        json_dumpf(arr, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(arr);
    }
    state_renames_release(&m);
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
    if (state_cli_fold_journal(sc, &st, NULL) != EXIT_OK)
        goto out;
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

/* Lock, load, apply fn, save (not with -dry-run), unlock. fn checks its
 * change against the journal's pending entries (g): one that the next
 * recovery would undo is refused. What it did it says in out, printed once
 * the state is saved (a save that fails, a full disk, says nothing moved
 * or removed). */
typedef int (*mutate_fn)(struct state *st, char **args, int nargs, bool dry_run,
                         const struct state_cli_guard *g, struct buf *out, struct errbuf *err);

static int mutate(struct state_cli *sc, const struct state_opts *o, const char *operation,
                  mutate_fn fn, char **args, int nargs)
{
    struct errbuf err = ERRBUF_INIT;
    struct state st;
    struct state_cli_guard g = {0};
    struct buf said;
    int existed, loaded = 0, rc = EXIT_FAIL;

    buf_init(&said, 0);
    if (!o->no_lock && state_backend_lock(sc->be, operation, o->lock_timeout_ms, NULL, &err) < 0) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    if (state_backend_load(&st, &existed, sc->be, &sc->keys, &err) < 0)
        goto out;
    loaded = 1;
    if (state_cli_guard_begin(&g, sc, &st) != EXIT_OK) {
        errbuf_clear(&err);
        goto unlock;
    }
    if (fn(&st, args, nargs, o->dry_run, &g, &said, &err) < 0)
        goto out;
    if (!o->dry_run && state_backend_save(sc->be, &st, &sc->keys, &err) < 0)
        goto out;
    fputs(said.ptr, stdout);
    rc = EXIT_OK;
out:
    if (rc != EXIT_OK) {
        cli_error("%s", err.msg);
        if (g.j && err.code != AMLSEC_ECONFLICT)
            fprintf(stderr,
                    "hint: an interrupted apply left operations in the journal '%s' that "
                    "the saved state does not hold yet ('amlsec state list' shows them); "
                    "'amlsec plan' or 'amlsec apply' records them\n",
                    g.j->path);
    }
unlock:
    state_cli_guard_end(&g);
    buf_release(&said);
    if (loaded)
        state_release(&st);
    if (!o->no_lock && state_backend_unlock(sc->be, &err) < 0) {
        cli_error("%s", err.msg);
        rc = EXIT_FAIL;
    }
    return rc;
}

/* As Terraform's state rm: every address is matched before anything is
 * removed; one that matches nothing is skipped (said on stderr, where
 * Terraform is silent) and the others are removed; nothing matched at all
 * fails (with -dry-run: "Would have removed nothing.", exit 0). A
 * malformed address fails the command and nothing changes. */
static int do_rm(struct state *st, char **args, int nargs, bool dry_run,
                 const struct state_cli_guard *g, struct buf *out, struct errbuf *err)
{
    struct state_renames r = {0};
    struct strmap seen; /* an entry named twice (module.a and one of its instances) */
    bool *first = NULL; /* per match: the entry's first naming (removed and printed) */
    size_t n = 0, dummy;
    int rc = 0;
    strmap_init(&seen, false);
    for (int i = 0; i < nargs && rc == 0; i++)
        if ((rc = state_match(st, args[i], &r, err)) == AMLSEC_ENOTFOUND) {
            cli_warn("%s: skipped", err->msg);
            rc = 0;
        }
    if (rc == 0 && r.n == 0) {
        if (dry_run) {
            if (buf_adds(out, "Would have removed nothing.\n") < 0)
                rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        } else {
            rc = errbuf_set(err, AMLSEC_ENOTFOUND,
                            "no matching objects found: nothing removed (amlsec state list "
                            "shows the instances)");
        }
        goto out;
    }
    if (rc == 0 && (first = calloc(r.n, sizeof(*first))) == NULL)
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    if (rc == 0 && !dry_run)
        state_batch_begin(st); /* each remove O(1), not a move of every entry after it */
    for (size_t i = 0; i < r.n && rc == 0; i++) {
        if (strmap_get(&seen, r.from[i], &dummy))
            continue;
        if (strmap_put(&seen, r.from[i], i) < 0) {
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
            break;
        }
        first[i] = true;
        if (!dry_run && (rc = state_remove(st, r.from[i], err)) < 0)
            break;
    }
    state_batch_end(st);
    /* said once the journal's pending entries allow it */
    if (rc == 0 && !dry_run)
        rc = state_cli_guard_check(g, st, NULL, NULL, "state rm", err);
    for (size_t i = 0; i < r.n && rc == 0; i++) {
        if (!first[i])
            continue;
        if (buf_addf(out, "%s %s\n", dry_run ? "Would remove" : "Removed", r.from[i]) < 0)
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        n++;
    }
    if (rc == 0 &&
        buf_addf(out, "%s %zu resource instance%s.\n",
                 dry_run ? "Would remove" : "Successfully removed", n, n == 1 ? "" : "s") < 0)
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
out:
    free(first);
    strmap_release(&seen);
    state_renames_release(&r);
    return rc;
}

static int do_mv(struct state *st, char **args, int nargs, bool dry_run,
                 const struct state_cli_guard *g, struct buf *out, struct errbuf *err)
{
    struct state_renames r;
    int rc = state_mv_match(st, args[0], args[1], &r, err);
    (void)nargs;
    if (rc == 0 && !dry_run)
        rc = state_rename(st, &r, err);
    if (rc == 0 && !dry_run)
        rc = state_cli_guard_check(g, st, NULL, NULL, "state mv", err);
    for (size_t i = 0; i < r.n && rc == 0; i++)
        if (buf_addf(out, "%s %s to %s\n", dry_run ? "Would move" : "Moved", r.from[i], r.to[i]) <
            0)
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    if (rc == 0 && r.n > 1 &&
        buf_addf(out, "%s %zu resource instances.\n", dry_run ? "Would move" : "Successfully moved",
                 r.n) < 0)
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    state_renames_release(&r);
    return rc;
}

/* The entries r moves from src, renamed, put into dst (and removed from
 * src): copied into a scratch state and renamed there (state_rename
 * checks each target's kind and rewrites the dependencies inside what
 * moves), then put into dst in a batch and removed from src in another:
 * O(n + k log k) for k entries, not k moves of every entry after them. */
static int move_between(struct state *src, struct state *dst, const struct state_renames *r,
                        struct errbuf *err)
{
    struct state moving;
    int rc = state_init(&moving, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < r->n && rc == 0; i++)
        rc = state_put(&moving, state_find(src, r->from[i]), err);
    if (rc == 0)
        rc = state_rename(&moving, r, err);
    for (size_t i = 0; i < r->n && rc == 0; i++)
        if (state_find(dst, r->to[i]))
            rc = errbuf_set(err, AMLSEC_ECONFLICT,
                            "cannot move to %s: there is already a resource instance at that "
                            "address in the destination state",
                            r->to[i]);
    /* batches: each put and remove O(1), the order put back at the end */
    state_batch_begin(dst);
    for (size_t i = 0; i < r->n && rc == 0; i++)
        rc = state_put(dst, state_find(&moving, r->to[i]), err);
    state_batch_end(dst);
    state_batch_begin(src);
    for (size_t i = 0; i < r->n && rc == 0; i++)
        rc = state_remove(src, r->from[i], err);
    state_batch_end(src);
    state_release(&moving);
    return rc;
}

/* Whether two local state files are one (the same inode). */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* path made absolute (symbolic links resolved) in out: the file's, or its
 * folder's and its name when it does not exist yet; path itself when
 * neither resolves. */
static const char *canonical_path(const char *path, char *out, size_t size)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
    int n;
    if (realpath(path, dir) != NULL) {
        n = snprintf(out, size, "%s", dir);
    } else {
        n = snprintf(out, size, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
        if (n < 0 || (size_t)n >= size || realpath(out, dir) == NULL)
            return path;
        n = snprintf(out, size, "%s/%s", dir, name);
    }
    return n < 0 || (size_t)n >= size ? path : out;
}

/* Whether path is the backup a local state at state_path keeps
 * ("<state_path>.backup"), the same file or the same name. */
static bool is_backup_of(const char *path, const char *state_path)
{
    char backup[PATH_MAX];
    int n = snprintf(backup, sizeof(backup), "%s.backup", state_path);
    if (n < 0 || (size_t)n >= sizeof(backup))
        return false;
    return strcmp(path, backup) == 0 || same_file(path, backup);
}

/* The order two states' locks are taken in, the same for every command:
 * a remote state (a URL, only ever a source) first, then local files by
 * their absolute path (the file's, or its folder's when it does not exist
 * yet). Whether a's lock goes before b's. */
static bool lock_before(const char *a, const char *b)
{
    char ca[PATH_MAX], cb[PATH_MAX];
    bool ra = strstr(a, "://") != NULL, rb = strstr(b, "://") != NULL;
    if (ra || rb)
        return ra && !rb;
    return strcmp(canonical_path(a, ca, sizeof(ca)), canonical_path(b, cb, sizeof(cb))) < 0;
}

/* state mv -state-out=PATH, as Terraform's: FROM's entries leave the
 * state (locked) for the local state at PATH (locked too; created when
 * absent, recording the source's cloud) under TO, a target PATH holds
 * already refused. The destination is written first, then the source: a
 * failure between leaves the entries in both (state rm them from the
 * source), never in neither. -dry-run writes neither. */
static int state_mv_out(struct state_cli *sc, const struct state_opts *o, char **args, int color)
{
    struct errbuf err = ERRBUF_INIT;
    struct state_cli dsc;
    struct state src, dst;
    struct state_renames r = {0};
    struct state_cli_guard g = {0}, gd = {0}; /* each state's interrupted apply, if any */
    int existed, dst_existed, have_src = 0, have_dst = 0, locked_dst = 0, rc = EXIT_FAIL;
    bool conflict = false; /* a target the destination holds */

    if (state_cli_open(&dsc, o->state_out, NULL, sc->parsed, color) != EXIT_OK)
        return EXIT_FAIL;
    if (same_file(sc->be->where, dsc.be->where) || strcmp(sc->be->where, dsc.be->where) == 0) {
        cli_error("-state-out '%s' names the state being moved from: leave it out to move "
                  "within one state",
                  o->state_out);
        state_cli_close(&dsc);
        return EXIT_FAIL;
    }
    /* saving the source keeps its old self as its backup: over the destination */
    if (is_backup_of(dsc.be->where, sc->be->where)) {
        cli_error("-state-out '%s' names the backup of the state being moved from, which "
                  "saving that state replaces: name another file",
                  o->state_out);
        state_cli_close(&dsc);
        return EXIT_FAIL;
    }
    if (!o->no_lock) {
        /* in one order whichever way the move goes, so that two moves in
         * opposite directions do not each hold the lock the other waits for */
        bool dst_first = lock_before(dsc.be->where, sc->be->where);
        struct state_backend *first = dst_first ? dsc.be : sc->be;
        struct state_backend *second = dst_first ? sc->be : dsc.be;
        if (state_backend_lock(first, "state mv", o->lock_timeout_ms, NULL, &err) < 0) {
            cli_error("%s", err.msg);
            state_cli_close(&dsc);
            return EXIT_FAIL;
        }
        locked_dst = 1; /* unlocking what is not locked does nothing */
        if (state_backend_lock(second, "state mv", o->lock_timeout_ms, NULL, &err) < 0)
            goto out;
    }
    if (state_backend_load(&src, &existed, sc->be, &sc->keys, &err) < 0)
        goto out;
    have_src = 1;
    if (state_backend_load(&dst, &dst_existed, dsc.be, &dsc.keys, &err) < 0)
        goto out;
    have_dst = 1;
    if (state_cli_guard_begin(&g, sc, &src) != EXIT_OK ||
        state_cli_guard_begin(&gd, &dsc, &dst) != EXIT_OK) {
        errbuf_clear(&err); /* said */
        goto unlock;
    }
    if (src.cloud && dst.cloud && strcmp(src.cloud, dst.cloud) != 0) {
        errbuf_set(&err, AMLSEC_EUSAGE,
                   "'%s' holds resources of the cloud '%s', '%s' those of '%s': a state holds "
                   "one cloud's",
                   sc->be->where, src.cloud, dsc.be->where, dst.cloud);
        goto out;
    }
    if (state_mv_match_into(&src, &dst, args[0], args[1], &r, &err) < 0) {
        if (err.code == AMLSEC_ECONFLICT) { /* the state it names is the destination */
            errbuf_prefix(&err, "-state-out '%s'", dsc.be->where);
            conflict = true;
        }
        goto out;
    }
    if (!o->dry_run) {
        if (dst.cloud == NULL && src.cloud && state_set_cloud(&dst, src.cloud, &err) < 0)
            goto out;
        /* as mutate's: refused when a journal would undo it */
        if (move_between(&src, &dst, &r, &err) < 0 ||
            state_cli_guard_check(&g, &src, &r, dsc.be->where, "state mv", &err) < 0 ||
            state_cli_guard_check(&gd, &dst, NULL, NULL, "state mv", &err) < 0 ||
            state_backend_save(dsc.be, &dst, &dsc.keys, &err) < 0)
            goto out;
        if (state_backend_save(sc->be, &src, &sc->keys, &err) < 0) {
            errbuf_prefix(&err,
                          "'%s' now holds what moved, but '%s' still does too (amlsec state "
                          "rm the moved addresses from it)",
                          dsc.be->where, sc->be->where);
            goto out;
        }
    }
    for (size_t i = 0; i < r.n; i++)
        printf("%s %s to %s\n", o->dry_run ? "Would move" : "Moved", r.from[i], r.to[i]);
    if (r.n > 1)
        printf("%s %zu resource instances to '%s'.\n",
               o->dry_run ? "Would move" : "Successfully moved", r.n, dsc.be->where);
    rc = EXIT_OK;
out:
    if (rc != EXIT_OK)
        cli_error("%s", err.msg);
    if (conflict)
        fprintf(stderr,
                "hint: if an earlier 'state mv -state-out' stopped between its two writes, what "
                "it moved is in both states: 'amlsec state rm -state %s %s' finishes it\n",
                sc->be->where, args[0]);
unlock:
    state_cli_guard_end(&g);
    state_cli_guard_end(&gd);
    state_renames_release(&r);
    if (have_src)
        state_release(&src);
    if (have_dst)
        state_release(&dst);
    if (locked_dst && state_backend_unlock(dsc.be, &err) < 0) {
        cli_error("%s", err.msg);
        rc = EXIT_FAIL;
    }
    if (!o->no_lock && state_backend_unlock(sc->be, &err) < 0) {
        cli_error("%s", err.msg);
        rc = EXIT_FAIL;
    }
    state_cli_close(&dsc);
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
    if (state_cli_fold_journal(sc, &st, "state pull prints the state as stored") != EXIT_OK)
        goto out;
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
    struct state_cli_guard g = {0};
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
    if (state_cli_guard_begin(&g, sc, &current) != EXIT_OK) {
        errbuf_clear(&err);
        goto unlock;
    }
    if (state_cli_guard_check(&g, &incoming, NULL, NULL, "state push", &err) < 0)
        goto fail_locked;
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
    state_cli_guard_end(&g);
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
                                         {"dry-run", no_argument, NULL, 'd'},
                                         {"state-out", required_argument, NULL, 'o'},
                                         {"id", required_argument, NULL, 'i'},
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
        case 'd':
            o.dry_run = 1;
            break;
        case 'o':
            o.state_out = optarg;
            break;
        case 'i':
            o.id = optarg;
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
        ; /* any number of addresses */
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
    if (o.dry_run && strcmp(sub, "rm") != 0 && strcmp(sub, "mv") != 0)
        return cli_usage_error(self, "-dry-run is an option of 'state rm' and 'state mv'");
    if (o.state_out && strcmp(sub, "mv") != 0)
        return cli_usage_error(self, "-state-out is an option of 'state mv'");
    if (o.id && strcmp(sub, "list") != 0)
        return cli_usage_error(self, "-id is an option of 'state list'");

    if ((rc = state_cli_open(&sc, o.path, NULL, NULL, ctx->color)) != EXIT_OK)
        return rc;
    if (strcmp(sub, "list") == 0)
        rc = state_list(&sc, &o, args, nargs);
    else if (strcmp(sub, "show") == 0)
        rc = state_show(&sc, &o, args[0]);
    else if (strcmp(sub, "rm") == 0)
        rc = mutate(&sc, &o, "state rm", do_rm, args, nargs);
    else if (strcmp(sub, "mv") == 0 && o.state_out)
        rc = state_mv_out(&sc, &o, args, ctx->color);
    else if (strcmp(sub, "mv") == 0)
        rc = mutate(&sc, &o, "state mv", do_mv, args, nargs);
    else if (strcmp(sub, "pull") == 0)
        rc = state_pull(&sc);
    else
        rc = state_push(&sc, &o, args[0]);
    state_cli_close(&sc);
    return rc;
}
