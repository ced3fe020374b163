#include "cmd/state_cli.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd/cli.h"
#include "cmd/load.h"
#include "cmd/session.h"
#include "providers/arm/auth.h"
#include "providers/arm/cloud.h"
#include "providers/arm/schema.h"
#include "providers/arm/http.h"
#include "providers/arm/render.h"
#include "state/journal.h"
#include "util/error.h"
#include "util/heap.h"
#include "util/banned.h"

/* Entra tokens for the blob backend from the azurerm sign-in variables.
 * It has its own transport and sign-in, behind a mutex: the lease-renewal
 * thread asks for tokens while the main thread drives ARM through the
 * session's client, which is not thread-safe. */
struct blob_signin {
    pthread_mutex_t mu;
    struct transport *transport;
    struct arm_cloud *owned;
    struct auth *auth;
};

static void signin_free(struct blob_signin *b)
{
    if (b == NULL)
        return;
    auth_free(b->auth);
    transport_free(b->transport);
    arm_cloud_free(b->owned);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static int signin_new(struct blob_signin **out, const char *cloud_name, struct errbuf *err)
{
    struct blob_signin *b = calloc(1, sizeof(*b));
    struct http_opts ho = HTTP_OPTS_INIT;
    const struct arm_cloud *cloud;
    struct auth_config ac;
    int rc;

    *out = NULL;
    if (b == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    pthread_mutex_init(&b->mu, NULL);
    ho.ca_bundle = session_ca_bundle();
    if (strcasecmp(cloud_name, "local") == 0) {
        rc = errbuf_set(err, AMLSEC_EUSAGE,
                        "use_azuread_auth: the embedded local cloud has no Entra ID; sign in to "
                        "a cloud (-cloud public, or the URL of a running amlsec-armlocal)");
        goto fail;
    }
    if ((rc = http_transport_new(&b->transport, &ho, err)) < 0 ||
        (rc = session_resolve_cloud(&cloud, &b->owned, cloud_name, b->transport, err)) < 0 ||
        (rc = auth_config_from_env(&ac, NULL, NULL, err)) < 0)
        goto fail;
    rc = auth_new(&b->auth, &ac, cloud, b->transport, NULL, err);
    auth_config_release(&ac);
    if (rc < 0)
        goto fail;
    *out = b;
    return 0;
fail:
    signin_free(b);
    return rc;
}

static int signin_token(char **out, const char *scope, void *payload, struct errbuf *err)
{
    struct blob_signin *b = payload;
    const char *token;
    int rc;

    *out = NULL;
    pthread_mutex_lock(&b->mu);
    rc = auth_token(b->auth, scope, &token, err);
    if (rc == 0 && (*out = strdup(token)) == NULL)
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    pthread_mutex_unlock(&b->mu);
    if (rc < 0 && rc != AMLSEC_ENOMEM)
        errbuf_prefix(err, "storage sign-in");
    return rc;
}

/* The configuration in the current directory, parsed only (its settings
 * block names the backend); none is fine. */
static int parse_current_dir(struct config **out, struct diag_list *diags, struct errbuf *err)
{
    struct config_opts o;
    int rc;

    memset(&o, 0, sizeof(o));
    o.path = ".";
    o.parse_only = true;
    rc = config_load(out, &o, diags, err);
    if (rc == AMLSEC_ENOTFOUND) {
        config_free(*out);
        *out = NULL;
        return 0;
    }
    return rc < 0 ? rc : diags->errors ? AMLSEC_EPARSE : 0;
}

int state_cli_open(struct state_cli *sc, const char *path, const char *cloud,
                   const struct config *conf, int color)
{
    struct errbuf err = ERRBUF_INIT;
    struct diag_list diags;
    int rc;

    memset(sc, 0, sizeof(*sc));
    diag_list_init(&diags);
    /* a state takes about 25 times the bytes of the configuration that made it */
    heap_huge_pages_for(".", ".amlsec", 32);
    if (conf == NULL && (rc = parse_current_dir(&sc->parsed, &diags, &err)) < 0)
        goto fail;
    if ((rc = backend_config_from_settings(&sc->cfg, conf ? conf : sc->parsed, &diags)) < 0 ||
        (rc = backend_config_apply_env(&sc->cfg, &diags, &err)) < 0)
        goto fail;
    backend_config_apply_flags(&sc->cfg, path);
    if ((rc = backend_config_check(&sc->cfg, &diags)) < 0)
        goto fail;
    if (sc->cfg.use_azuread && sc->cfg.type && strcmp(sc->cfg.type, "azurerm") == 0) {
        if ((rc = signin_new(&sc->signin, cloud ? cloud : session_cloud_name(NULL, NULL), &err)) <
            0)
            goto fail;
        sc->cfg.token_fn = signin_token;
        sc->cfg.token_payload = sc->signin;
        sc->cfg.token_timeout_ms = AUTH_TOKEN_TIMEOUT_MS;
    }
    if ((rc = backend_config_open(&sc->be, &sc->keys, &sc->cfg, &err)) < 0)
        goto fail;
    /* warnings about the settings (a configuration the caller loaded was
     * checked, and its warnings printed, when it was loaded) */
    if (conf == NULL)
        load_print_diags(&diags, color);
    diag_list_release(&diags);
    return EXIT_OK;
fail:
    load_report_failure(rc, &diags, &err, color);
    diag_list_release(&diags);
    state_cli_close(sc);
    return EXIT_FAIL;
}

void state_cli_close(struct state_cli *sc)
{
    state_backend_free(sc->be);
    sc->be = NULL;
    crypt_keys_release(&sc->keys);
    signin_free(sc->signin);
    sc->signin = NULL;
    config_free(sc->parsed);
    sc->parsed = NULL;
}

long state_cli_parse_duration_ms(const char *s)
{
    char *end;
    double v;

    if (s == NULL || *s == '\0')
        return -1;
    v = strtod(s, &end);
    if (end == s || v < 0 || v > 86400.0 * 1000)
        return -1;
    if (strcmp(end, "ms") == 0)
        return (long)v;
    if (*end == '\0' || strcmp(end, "s") == 0)
        return (long)(v * 1000);
    if (strcmp(end, "m") == 0)
        return (long)(v * 60000);
    if (strcmp(end, "h") == 0)
        return (long)(v * 3600000);
    return -1;
}

/* Walks a JSON pointer ("/a/b/0") and replaces the target with a marker. */
static void redact_path(json_t *root, const char *path)
{
    json_t *cur = root, *parent = NULL;
    char key[512];
    const char *p = path;

    if (*p != '/')
        return;
    while (*p == '/') {
        size_t n = 0;
        p++;
        while (*p && *p != '/' && n + 1 < sizeof(key)) {
            if (p[0] == '~' && p[1] == '1') {
                key[n++] = '/';
                p += 2;
            } else if (p[0] == '~' && p[1] == '0') {
                key[n++] = '~';
                p += 2;
            } else {
                key[n++] = *p++;
            }
        }
        key[n] = '\0';
        parent = cur;
        if (json_is_object(cur)) {
            cur = json_object_get(cur, key);
        } else if (json_is_array(cur)) {
            char *end;
            long i = strtol(key, &end, 10);
            cur = *end == '\0' && i >= 0 ? json_array_get(cur, (size_t)i) : NULL;
        } else {
            cur = NULL;
        }
        if (cur == NULL)
            return;
        if (*p == '\0') {
            if (json_is_object(parent))
                json_object_set_new(parent, key, json_string("(sensitive)"));
            else
                json_array_set_new(parent, (size_t)strtol(key, NULL, 10),
                                   json_string("(sensitive)"));
            return;
        }
    }
}

/* The ARM paths of blk's sensitive attributes (write-only ones and values
 * ARM returns, such as an Application Insights connection string): hidden
 * whether or not the state lists them as sensitive. */
static void redact_schema(json_t *root, const struct schema_block *blk)
{
    for (const struct schema_attr *a = blk->attrs; a->name; a++) {
        char dotted[512], ptr[520];
        size_t n = 0;
        if (a->type == ST_BLOCK) {
            if (a->block)
                redact_schema(root, a->block);
            continue;
        }
        if (!(a->flags & SF_SENSITIVE) || a->map.path == NULL)
            continue;
        snprintf(dotted, sizeof(dotted), "%s%s%s", blk->base ? blk->base : "",
                 blk->base && blk->base[0] ? "." : "", a->map.path);
        if (strchr(dotted, '[') != NULL)
            continue;
        ptr[n++] = '/';
        for (const char *p = dotted; *p && n + 1 < sizeof(ptr); p++)
            ptr[n++] = *p == '.' ? '/' : *p;
        ptr[n] = '\0';
        redact_path(root, ptr);
    }
}

json_t *state_cli_redacted(struct state_resource *r, struct errbuf *err)
{
    const struct schema_kind *k = r->kind ? schema_find(r->kind) : NULL;
    json_t *attrs, *copy;
    size_t i;
    json_t *v;
    if (state_resource_attributes(&attrs, r, err) < 0)
        return NULL;
    copy = json_deep_copy(attrs);
    if (copy == NULL) {
        errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        return NULL;
    }
    json_array_foreach(r->sensitive, i, v)
    {
        redact_path(copy, json_string_value(v)); /* JSON pointers ("/properties/x") */
    }
    /* attribute paths ("tags", "admin.password") and what the catalogue
     * knows is secret, mapped to the ARM fields they feed */
    if (schema_find(r->kind))
        render_redact_arm(schema_find(r->kind), copy, r->sensitive);
    if (k)
        redact_schema(copy, &k->body);
    return copy;
}

void state_cli_report_unreadable(const struct journal *j, bool recovering)
{
    for (size_t i = 0; i < j->nunreadable; i++)
        fprintf(stderr,
                "amlsec: warning: journal '%s': entry at line %zu (byte %zu) is unreadable (%s); "
                "%s '%s.damaged'%s\n",
                j->path, j->unreadable[i].line, j->unreadable[i].offset, j->unreadable[i].reason,
                recovering ? "recovering the others, and keeping its text in"
                           : "left out (the next plan or apply recovers the others and keeps its "
                             "text in",
                j->path, recovering ? "" : ")");
}

/* The journal next to the state, read without being changed (its
 * unreadable lines reported); NULL (and EXIT_OK in *rc) when nothing in it
 * is pending. */
static struct journal *pending_journal(struct state_cli *sc, int *rc)
{
    struct errbuf err = ERRBUF_INIT;
    struct journal *j = calloc(1, sizeof(*j));
    char *path = backend_config_journal_path(&sc->cfg);
    *rc = EXIT_FAIL;
    if (j == NULL || path == NULL) {
        cli_error("out of memory");
        free(j);
        free(path);
        return NULL;
    }
    if (journal_open_readonly(j, path, &sc->keys, &err) < 0) {
        cli_error("%s", err.msg);
        free(path);
        free(j);
        return NULL;
    }
    free(path);
    *rc = EXIT_OK;
    state_cli_report_unreadable(j, false);
    if (journal_pending(j, NULL, 0) == 0) {
        journal_release(j);
        free(j);
        return NULL;
    }
    return j;
}

int state_cli_fold_journal(struct state_cli *sc, struct state *st, const char *as_stored)
{
    struct errbuf err = ERRBUF_INIT;
    struct journal_reader none;
    struct journal_recovery rec;
    size_t shown = 0;
    int rc;
    struct journal *j = pending_journal(sc, &rc);
    if (j == NULL)
        return rc;
    memset(&none, 0, sizeof(none)); /* read NULL: only what the journal holds */
    if (as_stored) {
        size_t n = journal_pending(j, NULL, 0);
        fprintf(
            stderr,
            "amlsec: warning: the journal '%s' holds %zu operation%s of an apply (interrupted, or "
            "still running) that the saved state does not hold yet; %s\n",
            j->path, n, n == 1 ? "" : "s", as_stored);
        memset(&rec, 0, sizeof(rec));
    } else if (journal_reconcile(&rec, j, st, &none, &err) < 0) {
        cli_error("reading the journal of an interrupted apply: %s", err.msg);
        journal_release(j);
        free(j);
        return EXIT_FAIL;
    }
    if (!as_stored) {
        fprintf(
            stderr,
            "amlsec: warning: the journal '%s' holds %zu operation%s of an apply (interrupted, or "
            "still running) that the saved state does not hold yet; shown with the %zu that "
            "completed folded in (in memory: nothing is read from the cloud or written)",
            j->path, rec.count, rec.count == 1 ? "" : "s", rec.count - rec.pending);
    }
    if (rec.pending)
        fprintf(stderr, ", and the %zu whose outcome is unknown as last saved:", rec.pending);
    if (!as_stored)
        fputc('\n', stderr);
    for (size_t i = 0; i < rec.count && rec.pending; i++) {
        if (rec.items[i].outcome != JOURNAL_PENDING)
            continue;
        if (shown++ == 20) {
            fprintf(stderr, "  ... and %zu more\n", rec.pending - 20);
            break;
        }
        fprintf(stderr, "  %s %s: %s\n", journal_op_name(rec.items[i].op), rec.items[i].address,
                rec.items[i].phase == JOURNAL_BEGUN ? "in flight"
                                                    : "failed (read again on recovery)");
    }
    fprintf(stderr, "hint: 'amlsec plan' or 'amlsec apply' reads the cloud and records them in the "
                    "saved state\n");
    journal_recovery_release(&rec);
    journal_release(j);
    free(j);
    return EXIT_OK;
}

static char *id_at(const struct state *st, const char *address)
{
    const struct state_resource *r = address ? state_find(st, address) : NULL;
    return r ? strdup(r->arm_id) : NULL;
}

int state_cli_guard_begin(struct state_cli_guard *g, struct state_cli *sc, const struct state *st)
{
    int rc;
    memset(g, 0, sizeof(*g));
    g->j = pending_journal(sc, &rc);
    if (g->j == NULL)
        return rc;
    g->arm_id = calloc(g->j->nentries, sizeof(*g->arm_id));
    g->from_id = calloc(g->j->nentries, sizeof(*g->from_id));
    g->dep_id = calloc(g->j->nentries, sizeof(*g->dep_id));
    if (g->arm_id == NULL || g->from_id == NULL || g->dep_id == NULL)
        goto oom;
    for (size_t i = 0; i < g->j->nentries; i++) {
        const json_t *deps = g->j->entries[i].dependencies;
        g->arm_id[i] = id_at(st, g->j->entries[i].address);
        g->from_id[i] = id_at(st, g->j->entries[i].from);
        if (json_array_size(deps) == 0)
            continue;
        if ((g->dep_id[i] = calloc(json_array_size(deps), sizeof(**g->dep_id))) == NULL)
            goto oom;
        for (size_t k = 0; k < json_array_size(deps); k++)
            g->dep_id[i][k] = id_at(st, json_string_value(json_array_get(deps, k)));
    }
    return EXIT_OK;
oom:
    cli_error("out of memory");
    state_cli_guard_end(g);
    return EXIT_FAIL;
}

/* Where after holds the resource whose ARM id is id, when not at address;
 * NULL when nowhere else (removed). A pass over after: only for a
 * dependency whose address changed. */
static const char *moved_to(const struct state *after, const char *address, const char *id)
{
    for (size_t i = 0; i < after->nresources; i++) {
        const struct state_resource *r = &after->resources[i];
        if (r->address && strcmp(r->address, address) != 0 && strcasecmp(r->arm_id, id) == 0)
            return r->address;
    }
    return NULL;
}

/* Whether after holds address as before did (before_id: its ARM id then). */
static bool same_at(const struct state *after, const char *address, const char *before_id)
{
    const struct state_resource *r = address ? state_find(after, address) : NULL;
    if (address == NULL)
        return true;
    return r == NULL ? before_id == NULL : before_id && strcasecmp(r->arm_id, before_id) == 0;
}

/* Where r (entries moved out to another state) takes address; NULL when
 * it does not. */
static const char *moved_out_to(const struct state_renames *r, const char *address)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (strcmp(r->from[i], address) == 0)
            return r->to[i];
    return NULL;
}

int state_cli_guard_check(const struct state_cli_guard *g, const struct state *after,
                          const struct state_renames *out, const char *out_where,
                          const char *command, struct errbuf *err)
{
    for (size_t i = 0; g->j && i < g->j->nentries; i++) {
        const struct journal_entry *e = &g->j->entries[i];
        const char *addr;
        if (e->phase == JOURNAL_DONE)
            continue;
        addr = !same_at(after, e->address, g->arm_id[i]) ? e->address
               : !same_at(after, e->from, g->from_id[i]) ? e->from
                                                         : NULL;
        for (size_t k = 0; addr == NULL && g->dep_id[i] && k < json_array_size(e->dependencies);
             k++) {
            const char *dep = json_string_value(json_array_get(e->dependencies, k)), *to;
            const char *where = NULL; /* another state's */
            if (g->dep_id[i][k] == NULL || same_at(after, dep, g->dep_id[i][k]))
                continue; /* unchanged */
            if ((to = moved_to(after, dep, g->dep_id[i][k])) == NULL &&
                (to = moved_out_to(out, dep)) != NULL)
                where = out_where;
            if (to == NULL)
                continue; /* removed: the recovery records it as it is */
            return errbuf_set(
                err, AMLSEC_ECONFLICT,
                "%s: the journal '%s' still holds the %s of %s from an interrupted apply (%s), "
                "which depends on %s: the next plan or apply records it depending on that "
                "address, and this change moves %s to %s%s%s%s; nothing was changed. Run "
                "'amlsec plan' or 'amlsec apply' first (it reads the cloud and records the "
                "interrupted apply's operations), then %s again",
                command, g->j->path, journal_op_name(e->op), e->address,
                e->phase == JOURNAL_BEGUN ? "in flight when it stopped"
                                          : "completed, not yet in the saved state",
                dep, dep, to, where ? " in the state '" : "", where ? where : "", where ? "'" : "",
                command);
        }
        if (addr == NULL)
            continue;
        return errbuf_set(err, AMLSEC_ECONFLICT,
                          "%s: the journal '%s' still holds the %s of %s from an interrupted "
                          "apply (%s), which the next plan or apply records under that address: "
                          "this change would be undone, or one resource tracked at two "
                          "addresses; nothing was changed. Run 'amlsec plan' or 'amlsec apply' "
                          "first (it reads the cloud and records the interrupted apply's "
                          "operations), then %s again",
                          command, g->j->path, journal_op_name(e->op), addr,
                          e->phase == JOURNAL_BEGUN ? "in flight when it stopped"
                                                    : "completed, not yet in the saved state",
                          command);
    }
    return 0;
}

void state_cli_guard_end(struct state_cli_guard *g)
{
    for (size_t i = 0; g->j && i < g->j->nentries; i++) {
        free(g->arm_id ? g->arm_id[i] : NULL);
        free(g->from_id ? g->from_id[i] : NULL);
        for (size_t k = 0;
             g->dep_id && g->dep_id[i] && k < json_array_size(g->j->entries[i].dependencies); k++)
            free(g->dep_id[i][k]);
        free(g->dep_id ? g->dep_id[i] : NULL);
    }
    free(g->arm_id);
    free(g->from_id);
    free(g->dep_id);
    if (g->j) {
        journal_release(g->j);
        free(g->j);
    }
    memset(g, 0, sizeof(*g));
}
