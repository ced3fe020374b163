#include "cmd/session.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cmd/cli.h"
#include "cmd/load.h"
#include "providers/arm/arm_client.h"
#include "providers/arm/arm_provider.h"
#include "providers/arm/auth.h"
#include "providers/arm/cloud.h"
#include "providers/arm/http.h"
#include "providers/arm/kind_lookup.h"
#include "providers/arm/render.h"
#include "providers/arm/schema.h"
#include "util/error.h"
#include "util/log.h"
#ifdef AMLSEC_HAVE_ARMLOCAL
#include "providers/armlocal/armlocal.h"
#endif
#include "util/banned.h"

const char *session_cloud_name(const char *flag, const struct config *cfg)
{
    const json_t *v = cfg ? json_object_get(cfg->settings, "cloud") : NULL;
    const char *env = getenv("ARM_ENVIRONMENT");
    const char *amlsec_cloud = getenv("AMLSEC_CLOUD");
    if (flag && *flag)
        return flag;
    if (amlsec_cloud && *amlsec_cloud)
        return amlsec_cloud;
    if (json_is_string(v))
        return json_string_value(v);
    return env && *env ? env : "public";
}

#define LOCAL_TENANT_ID "00000000-0000-0000-0000-00000000a11c"

void session_prepare_config(const char *cloud_flag, struct config *cfg)
{
    const char *name = session_cloud_name(cloud_flag, cfg);
    bool local = strcasecmp(name, "local") == 0 || strncmp(name, "http://127.", 11) == 0 ||
                 strncmp(name, "http://localhost", 16) == 0;
    if (local && json_object_get(cfg->settings, "tenant") == NULL)
        json_object_set_new(cfg->settings, "tenant", json_string(LOCAL_TENANT_ID));
}

const char *session_ca_bundle(void)
{
    const char *v = getenv("AMLSEC_CA_BUNDLE");
    return v && *v ? v : NULL;
}

int session_resolve_cloud(const struct arm_cloud **out, struct arm_cloud **owned, const char *name,
                          struct transport *t, struct errbuf *err)
{
    *owned = NULL;
    if (strncmp(name, "http://", 7) == 0 || strncmp(name, "https://", 8) == 0) {
        char url[2048];
        size_t n = strlen(name);
        int rc;
        snprintf(url, sizeof(url), "%.*s", (int)(n && name[n - 1] == '/' ? n - 1 : n), name);
        if ((rc = http_url_allowed(url, err)) < 0 ||
            (rc = arm_cloud_custom(owned, "custom", url, url, NULL, NULL, NULL, err)) < 0)
            return rc;
        *out = *owned;
        return 0;
    }
    /* ARM_METADATA_HOSTNAME (Azure Stack and other custom clouds) wins, as
     * in azurerm; else the named built-in cloud */
    return arm_cloud_resolve(out, owned, name, getenv("ARM_METADATA_HOSTNAME"), t, err);
}

/* Without a sign-in, a local cloud's ARM calls carry no token (armlocal
 * without --auth takes them, and with --auth its refusal names what is
 * missing); its Key Vault data plane, like Azure's, challenges any request
 * without one, so those get a placeholder (not a credential: armlocal
 * without --auth accepts any token). */
static int anonymous_token(void *payload, const char *scope, const char **out, struct errbuf *err)
{
    const struct arm_cloud *cloud = payload;
    (void)err;
    *out = scope && strcmp(scope, cloud->arm_scope) != 0 ? "armlocal-anonymous" : NULL;
    return 0;
}

static int open_cloud(struct session *s, const struct session_opts *o, const struct config *cfg)
{
    struct errbuf err = ERRBUF_INIT;
    const char *name = session_cloud_name(o->cloud, cfg);
    const struct arm_cloud *cloud;
    struct http_opts ho = HTTP_OPTS_INIT;
    struct arm_client_opts co;
    struct arm_provider_opts po;
    struct arm_token_source tokens;
    bool local = strcasecmp(name, "local") == 0;
    bool custom = strncmp(name, "http://", 7) == 0 || strncmp(name, "https://", 8) == 0;

    if (o->parallelism)
        ho.max_connections = o->parallelism;
    ho.ca_bundle = session_ca_bundle();
    if (http_transport_new(&s->transport, &ho, &err) < 0)
        goto fail;
    if (local) {
#ifdef AMLSEC_HAVE_ARMLOCAL
        struct armlocal_opts lo = ARMLOCAL_OPTS_INIT;
        const char *base;
        if (armlocal_opts_embedded(&lo, ".", s->local_data, sizeof(s->local_data), &err) < 0)
            goto fail;
        lo.port_file_read_only = o->read_only;
        if (armlocal_start(&s->local, &lo, &err) < 0)
            goto fail;
        base = armlocal_base_url(s->local);
        if (arm_cloud_custom(&s->custom_cloud, "local", base, base, NULL, NULL, NULL, &err) < 0)
            goto fail;
        cloud = s->custom_cloud;
#else
        errbuf_set(&err, AMLSEC_EUSAGE, "this build has no embedded local cloud");
        goto fail;
#endif
    } else if (custom) {
        /* A custom ARM endpoint: a running amlsec-armlocal, or an Azure
         * Stack-style deployment. Sign-in only when a method is configured:
         * the Azure CLI by default alone is not (armlocal without --auth). */
        if (session_resolve_cloud(&cloud, &s->custom_cloud, name, s->transport, &err) < 0)
            goto fail;
        {
            struct auth_config ac;
            const char *use_cli = getenv("ARM_USE_CLI");
            if (auth_config_from_env(&ac, NULL, NULL, &err) < 0)
                goto fail;
            if ((ac.method != AUTH_CLI || (use_cli && *use_cli)) &&
                auth_new(&s->auth, &ac, cloud, s->transport, NULL, &err) < 0) {
                auth_config_release(&ac);
                goto fail;
            }
            auth_config_release(&ac);
        }
    } else {
        struct auth_config ac;
        if (session_resolve_cloud(&cloud, &s->custom_cloud, name, s->transport, &err) < 0)
            goto fail;
        if (auth_config_from_env(&ac, NULL, NULL, &err) < 0)
            goto fail;
        if (auth_new(&s->auth, &ac, cloud, s->transport, NULL, &err) < 0) {
            auth_config_release(&ac);
            goto fail;
        }
        auth_config_release(&ac);
    }
    memset(&co, 0, sizeof(co));
    s->cloud = cloud;
    co.cloud = cloud;
    co.transport = s->transport;
    co.parallelism = o->parallelism;
    /* a custom endpoint on loopback is a local cloud (amlsec-armlocal) */
    s->custom_local = custom && (strstr(name, "://127.") || strstr(name, "://localhost") ||
                                 strstr(name, "://[::1]"));
    if (s->auth) {
        tokens = auth_token_source(s->auth);
        co.auth = &tokens;
    } else if (local || s->custom_local) {
        /* A local cloud without --auth takes any token, but its Key Vault
         * data plane, like Azure's, challenges a request that has none. */
        tokens = (struct arm_token_source){.get = anonymous_token, .payload = (void *)cloud};
        co.auth = &tokens;
    }
    /* The client mirrors ARM's token buckets; the embedded cloud does not
     * throttle, and AMLSEC_RATE_LIMIT=off says another endpoint does not. */
    {
        const char *rl = getenv("AMLSEC_RATE_LIMIT");
        co.no_rate_limit = local || (rl && strcmp(rl, "off") == 0);
    }
    if (local || custom)
        co.lro_poll_ms = 50; /* local clouds finish operations in milliseconds */
    /* ARM_PARTNER_ID, ARM_CORRELATION_REQUEST_ID and friends */
    if (auth_request_env(&co, NULL, NULL, &err) < 0 || arm_client_new(&s->client, &co, &err) < 0)
        goto fail;
    memset(&po, 0, sizeof(po));
    po.client = s->client;
    po.lookup = kind_lookup;
    if (arm_provider_new(&s->provider, &po, &err) < 0)
        goto fail;
    s->cloud = cloud;
    if (o->sign_in_first && s->auth) {
        const char *token;
        if (auth_token(s->auth, cloud->arm_scope, &token, &err) < 0) {
            errbuf_prefix(&err, "cannot sign in; nothing was changed");
            goto fail;
        }
    }
    return EXIT_OK;
fail:
    cli_error("cloud '%s': %s", name, err.msg);
    return EXIT_FAIL;
}

/* Whether id is in the local cloud (through the control API): 1 when it
 * is, 0 when it is not, -1 on failure (reported). */
static int seed_present(struct session *s, const char *id)
{
    struct arm_call get;
    char url[4096 + 32];
    int rc = 1;

    snprintf(url, sizeof(url), "/_armlocal/resources%s", id);
    memset(&get, 0, sizeof(get));
    get.method = "GET";
    get.url = url;
    get.flags = ARM_CALL_NO_LRO;
    arm_client_call(s->client, &get);
    if (get.rc == AMLSEC_ENOTFOUND) {
        rc = 0;
    } else if (get.rc < 0) {
        cli_error("local cloud: cannot read '%s': %s", id, get.err.msg);
        rc = -1;
    }
    arm_call_release(&get);
    return rc;
}

/* Creates id in the local cloud through the control API when it is
 * missing. Returns 1 when seeded, 0 when present, -1 on failure. */
static int seed_one(struct session *s, const char *id, const char *type)
{
    struct arm_call put;
    char url[4096 + 32], body[1024];
    int rc = seed_present(s, id);

    if (rc != 0)
        return rc < 0 ? -1 : 0;
    snprintf(url, sizeof(url), "/_armlocal/resources%s", id);
    snprintf(body, sizeof(body), "{\"type\":\"%s\",\"location\":\"global\",\"properties\":{}}",
             type);
    memset(&put, 0, sizeof(put));
    put.method = "PUT";
    put.url = url;
    put.body = body;
    put.flags = ARM_CALL_NO_LRO;
    rc = arm_client_call(&*s->client, &put) < 0 ? -1 : 1;
    if (rc < 0)
        cli_error("local cloud: cannot seed '%s': %s", id, put.err.msg);
    arm_call_release(&put);
    return rc;
}

/* Seeds id and its parents: the resource group, then each provider
 * resource on the way (".../virtualNetworks/hub" before ".../subnets/ml"). */
static int seed_with_parents(struct session *s, const char *id)
{
    char prefix[4096], type[512];
    const char *p = strstr(id, "/resourceGroups/"), *prov;
    int seeded = 0, rc;
    size_t n;

    if (p == NULL || (prov = strstr(id, "/providers/")) == NULL)
        return 0;
    /* a resource that is there has its parents: one read, not one per level */
    if ((rc = seed_present(s, id)) != 0)
        return rc < 0 ? -1 : 0;
    n = (size_t)(prov - id);
    if (n >= sizeof(prefix))
        return -1;
    memcpy(prefix, id, n);
    prefix[n] = '\0';
    if ((rc = seed_one(s, prefix, "Microsoft.Resources/resourceGroups")) < 0)
        return -1;
    seeded |= rc;
    {
        /* after /providers/NS: pairs of TYPE/NAME */
        const char *ns = prov + 11, *cur = strchr(ns, '/');
        size_t tlen;
        if (cur == NULL)
            return seeded;
        tlen = (size_t)(cur - ns);
        if (tlen >= sizeof(type))
            return -1;
        memcpy(type, ns, tlen);
        type[tlen] = '\0';
        while (cur && *cur) {
            const char *tend = strchr(cur + 1, '/'), *nend;
            if (tend == NULL)
                break;
            nend = strchr(tend + 1, '/');
            if (tlen + (size_t)(tend - cur) + 1 >= sizeof(type))
                return -1;
            memcpy(type + tlen, cur, (size_t)(tend - cur));
            tlen += (size_t)(tend - cur);
            type[tlen] = '\0';
            n = nend ? (size_t)(nend - id) : strlen(id);
            if (n >= sizeof(prefix))
                return -1;
            memcpy(prefix, id, n);
            prefix[n] = '\0';
            if ((rc = seed_one(s, prefix, type)) < 0)
                return -1;
            seeded |= rc;
            cur = nend;
        }
    }
    return seeded;
}

int session_seed_existing(struct session *s, const struct config *cfg)
{
    if (s->client == NULL || (s->local == NULL && !s->custom_local))
        return EXIT_OK;
    for (size_t i = 0; i < cfg->nresources; i++) {
        const struct cfg_resource *r = &cfg->resources[i];
        const json_t *id = r->existing && r->ninstances
                               ? json_object_get(config_instance_value(cfg, &r->instances[0]), "id")
                               : NULL;
        int rc;
        if (!json_is_string(id))
            continue;
        rc = seed_with_parents(s, json_string_value(id));
        if (rc < 0)
            return EXIT_FAIL;
        if (rc > 0)
            fprintf(stderr,
                    "amlsec: local cloud: seeded %s and its parents (managed elsewhere; the local "
                    "cloud had none)\n",
                    r->address);
    }
    return EXIT_OK;
}

static int read_for_journal(void *payload, const char *kind, const char *arm_id, json_t **out)
{
    struct session *s = payload;
    const struct schema_kind *k = schema_find(kind);
    /* the catalogue's type: an id alone does not always say it (a resource
     * group's has no /providers/) */
    struct provider_ref ref = {.id = arm_id, .type = k ? k->arm.type : NULL};
    struct provider_result r;
    int rc;
    memset(&r, 0, sizeof(r));
    rc = provider_reread(s->provider, &ref, &r);
    if (rc == 0 && r.body) {
        *out = json_incref(r.body);
    } else if (rc == 0) {
        rc = AMLSEC_ENOTFOUND;
    }
    provider_result_release(&r);
    return rc;
}

/* How long recovery waits, in all, for operations an interrupted run left
 * running before leaving them to the next run (docs/state.md). */
#define RECOVERY_WAIT_S 600

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* The service's Retry-After (seconds), bounded, else a short poll. */
static long poll_delay_ms(const struct arm_call *c)
{
    const char *ra = arm_call_header(c, "Retry-After");
    long v = ra ? strtol(ra, NULL, 10) : 0;
    if (v <= 0)
        return 100;
    return (v > 10 ? 10 : v) * 1000;
}

/* A status document's status that says the operation still runs. */
static bool status_running(const char *body, size_t len)
{
    json_t *doc = body ? json_loadb(body, len, 0, NULL) : NULL;
    const char *st = json_string_value(json_object_get(doc, "status"));
    bool running = st && strcasecmp(st, "Succeeded") != 0 && strcasecmp(st, "Failed") != 0 &&
                   strcasecmp(st, "Canceled") != 0 && strcasecmp(st, "Cancelled") != 0;
    json_decref(doc);
    return running;
}

static int wait_operation_for_journal(void *payload, const char *url)
{
    struct session *s = payload;
    double deadline = s->recovery_deadline;
    size_t n = s->cloud ? strlen(s->cloud->resource_manager) : 0;
    /* only on this cloud's resource manager: an embedded local cloud
     * listens on another port each run, and what answers at the old one
     * now is not the service that started the operation */
    if (n == 0 || strncasecmp(url, s->cloud->resource_manager, n) != 0 || url[n] != '/')
        return AMLSEC_EUSAGE;
    for (;;) {
        struct arm_call get;
        long delay;
        int rc;
        memset(&get, 0, sizeof(get));
        get.method = "GET";
        get.url = url;
        get.flags = ARM_CALL_NO_LRO;
        arm_client_call(s->client, &get);
        if (get.rc == AMLSEC_ENOTFOUND) {
            rc = AMLSEC_ENOTFOUND; /* the service forgot it: ended long ago */
        } else if (get.rc < 0) {
            /* a failed or canceled operation answers with its error: ended;
             * a transport failure is not an answer */
            rc = get.status >= 400 && get.status < 500 ? 0 : get.rc;
        } else if (get.status == 202 || status_running(get.response, get.response_len)) {
            rc = AMLSEC_ECONFLICT;
        } else {
            rc = 0;
        }
        delay = poll_delay_ms(&get);
        arm_call_release(&get);
        if (rc != AMLSEC_ECONFLICT || mono_s() + (double)delay / 1000 > deadline)
            return rc;
        pause_ms(delay);
    }
}

static int wait_resource_for_journal(void *payload, const char *kind, const char *arm_id,
                                     json_t **out)
{
    double deadline = ((struct session *)payload)->recovery_deadline;
    for (;;) {
        json_t *live = NULL;
        const char *ps;
        int rc = read_for_journal(payload, kind, arm_id, &live);
        if (rc < 0)
            return rc;
        ps = json_string_value(
            json_object_get(json_object_get(live, "properties"), "provisioningState"));
        if (ps == NULL || strcasecmp(ps, "Succeeded") == 0 || strcasecmp(ps, "Failed") == 0 ||
            strcasecmp(ps, "Canceled") == 0 || strcasecmp(ps, "Cancelled") == 0) {
            *out = live;
            return 0;
        }
        json_decref(live);
        if (mono_s() + 0.25 > deadline)
            return AMLSEC_ECONFLICT;
        pause_ms(250);
    }
}

/* Reports the journal lines recovery could not read, naming the file. */
static void report_unreadable(const struct journal *j)
{
    for (size_t i = 0; i < j->nunreadable; i++)
        fprintf(stderr,
                "amlsec: warning: journal '%s': entry at line %zu (byte %zu) is unreadable (%s); "
                "recovering the others, and keeping its text in '%s.damaged'\n",
                j->path, j->unreadable[i].line, j->unreadable[i].offset, j->unreadable[i].reason,
                j->path);
}

static int recover(struct session *s)
{
    struct errbuf err = ERRBUF_INIT;
    struct journal_recovery rec;
    struct journal_reader rd;
    char *path = backend_config_journal_path(&s->sc.cfg);
    size_t settled;
    int rc;

    if (path == NULL) {
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    rc = journal_open(&s->journal, path, &s->sc.keys, &err);
    free(path);
    if (rc < 0) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    s->journal_open = true;
    report_unreadable(&s->journal);
    if (journal_pending(&s->journal, NULL, 0) == 0) {
        /* only settled records: empty the file, or every later run reads
         * them all again (an apply of thousands leaves megabytes) */
        if ((s->journal.nentries > 0 || s->journal.nunreadable > 0) &&
            journal_compact(&s->journal, &err) < 0) {
            cli_error("%s", err.msg);
            return EXIT_FAIL;
        }
        return EXIT_OK;
    }
    if (s->provider == NULL) {
        /* creates that may still appear change nothing in the state until
         * they do: a plan without the cloud may go on; anything else must be
         * reconciled first */
        size_t n = journal_pending(&s->journal, NULL, 0), creates = 0;
        for (size_t i = 0; i < s->journal.nentries; i++) {
            const struct journal_entry *e = &s->journal.entries[i];
            creates += e->phase == JOURNAL_BEGUN && e->op == JOURNAL_CREATE;
        }
        if (creates < n) {
            cli_error("an interrupted apply left operations in flight; run plan or apply to "
                      "recover them");
            return EXIT_FAIL;
        }
        fprintf(stderr,
                "amlsec: warning: %zu create%s of an interrupted apply may still be running; "
                "a plan or apply that reads the cloud checks them\n",
                n, n == 1 ? "" : "s");
        return EXIT_OK;
    }
    memset(&rd, 0, sizeof(rd));
    rd.read = read_for_journal;
    rd.wait_operation = wait_operation_for_journal;
    rd.wait_resource = wait_resource_for_journal;
    rd.payload = s;
    s->recovery_deadline = mono_s() + RECOVERY_WAIT_S;
    if (journal_reconcile(&rec, &s->journal, &s->st, &rd, &err) < 0) {
        cli_error("recovering an interrupted apply: %s", err.msg);
        return EXIT_FAIL;
    }
    if (state_backend_save(s->sc.be, &s->st, &s->sc.keys, &err) < 0 ||
        journal_settle(&s->journal, &rec, &err) < 0) {
        cli_error("recovering an interrupted apply: %s", err.msg);
        journal_recovery_release(&rec);
        return EXIT_FAIL;
    }
    settled = rec.count - rec.pending;
    if (settled > 0)
        fprintf(stderr, "amlsec: recovered %zu in-flight operation%s from an interrupted apply\n",
                settled, settled == 1 ? "" : "s");
    if (rec.pending > 0)
        fprintf(stderr,
                "amlsec: %zu operation%s of an interrupted apply may still be running (not "
                "visible yet); the journal keeps %s and the next run checks again\n",
                rec.pending, rec.pending == 1 ? "" : "s", rec.pending == 1 ? "it" : "them");
    /* a killed apply of thousands leaves thousands of journaled outcomes:
     * the first ones named, the rest counted (AMLSEC_LOG=info names each) */
    for (size_t i = 0; i < rec.count && i < 50; i++)
        fprintf(stderr, "  %s %s: %s\n", journal_op_name(rec.items[i].op), rec.items[i].address,
                journal_outcome_name(rec.items[i].outcome));
    if (rec.count > 50)
        fprintf(stderr, "  ... and %zu more (AMLSEC_LOG=info lists each)\n", rec.count - 50);
    if (rec.removed_children > 0)
        fprintf(stderr, "  %zu state entr%s removed with %s deleted parent\n", rec.removed_children,
                rec.removed_children == 1 ? "y" : "ies",
                rec.removed_children == 1 ? "its" : "their");
    journal_recovery_release(&rec);
    return EXIT_OK;
}

/* Two names of one cloud: "local" in any case; URLs without a trailing '/'. */
static bool same_cloud(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (strcasecmp(a, "local") == 0 || strcasecmp(b, "local") == 0 || strchr(a, '/') == NULL ||
        strchr(b, '/') == NULL)
        return strcasecmp(a, b) == 0;
    na -= na && a[na - 1] == '/';
    nb -= nb && b[nb - 1] == '/';
    return na == nb && strncmp(a, b, na) == 0;
}

/* The state records the cloud its resources live in. A run that would use
 * another one is refused, unless -cloud names it explicitly (a state
 * written against the local cloud, planned against Azure, would try to
 * sign in and read every resource there); the state then records the new
 * cloud when it is next saved. */
static int check_state_cloud(struct session *s, const struct session_opts *o,
                             const struct config *cfg)
{
    const char *name = session_cloud_name(o->cloud, cfg);
    const char *was = s->st.cloud;
    const char *env = getenv("AMLSEC_CLOUD");
    if (was == NULL || s->st.nresources == 0 || same_cloud(was, name) || (o->cloud && *o->cloud))
        return EXIT_OK;
    if (strcasecmp(was, "local") == 0)
        cli_error("the state at '%s' was written against the local cloud (-cloud local), but this "
                  "run would use '%s'%s",
                  s->sc.be->where, name, env && *env ? " (from AMLSEC_CLOUD)" : "");
    else
        cli_error("the state at '%s' was written against the cloud '%s', but this run would use "
                  "'%s'%s",
                  s->sc.be->where, was, name, env && *env ? " (from AMLSEC_CLOUD)" : "");
    fprintf(stderr,
            "hint: add -cloud %s (or set AMLSEC_CLOUD=%s); to use this state with '%s' on "
            "purpose, say so with -cloud %s\n",
            was, was, name, name);
    return EXIT_FAIL;
}

/* Signs in once, before anything is read: a sign-in that cannot succeed is
 * one error, not one per resource. */
static int sign_in(struct session *s, const struct session_opts *o, const struct config *cfg)
{
    struct errbuf err = ERRBUF_INIT;
    const char *tok;
    if (s->auth == NULL || s->cloud == NULL)
        return EXIT_OK;
    if (auth_token(s->auth, s->cloud->arm_scope, &tok, &err) < 0) {
        cli_error("cloud '%s': %s", session_cloud_name(o->cloud, cfg), err.msg);
        if (s->st.cloud == NULL)
            fprintf(stderr, "hint: for the embedded local cloud, add -cloud local (or set "
                            "AMLSEC_CLOUD=local)\n");
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* With AMLSEC_LOG=debug or trace the ARM exchanges are logged, and what
 * the cloud answers holds the values the state recorded, which may differ
 * from the configuration's: those at sensitive paths are registered too
 * (decoding every entry costs a little, so only when logging). */
static void register_state_secrets(struct state *st)
{
    struct errbuf err = ERRBUF_INIT;
    if (!log_enabled(LOG_DEBUG))
        return;
    for (size_t i = 0; i < st->nresources; i++) {
        struct state_resource *r = &st->resources[i];
        const struct schema_kind *k = schema_find(r->kind);
        json_t *attrs = NULL, *dsl, *paths;
        if (k == NULL || state_resource_attributes(&attrs, r, &err) < 0 || attrs == NULL)
            continue;
        dsl = render_decode(k, attrs);
        paths = json_is_array(r->sensitive) ? json_deep_copy(r->sensitive) : json_array();
        render_sensitive_paths(k, paths);
        load_register_secrets(dsl, paths);
        json_decref(paths);
        json_decref(dsl);
    }
}

/* What the state holds must make sense to the catalogue before anything
 * is read from or sent to ARM: a known kind, and an id of its type (the
 * state's own reader has checked the shapes). */
static int check_state_kinds(const struct state *st, const char *where)
{
    for (size_t i = 0; i < st->nresources; i++) {
        const struct state_resource *r = &st->resources[i];
        const struct schema_kind *k = schema_find(r->kind);
        char type[512];
        if (k == NULL) {
            cli_error("'%s': resources[%zu].kind: '%s' is not a kind amlsec knows (the state was "
                      "edited by hand, or written by a newer amlsec)",
                      where, i, r->kind);
            return EXIT_FAIL;
        }
        if (arm_id_type(type, sizeof(type), r->arm_id) < 0 || strcasecmp(type, k->arm.type) != 0) {
            cli_error("'%s': resources[%zu].arm_id: '%s' is not the id of a %s (%s)", where, i,
                      r->arm_id, r->kind, k->arm.type);
            return EXIT_FAIL;
        }
    }
    return EXIT_OK;
}

int session_open(struct session *s, const struct session_opts *o, const struct config *cfg)
{
    struct errbuf err = ERRBUF_INIT;
    int existed;

    memset(s, 0, sizeof(*s));
    /* what was opened before a failure here is closed here: callers only
     * close a session whose state opened (sc_open) */
    if (state_cli_open(&s->sc, o->state_path, session_cloud_name(o->cloud, cfg), cfg, 0) !=
        EXIT_OK) {
        session_close(s);
        return EXIT_FAIL;
    }
    s->sc_open = true;
    if (o->lock && o->no_lock) {
        cli_warn("-lock=false: the state is not locked; another run changing it at the same time "
                 "can lose changes");
    } else if (o->lock) {
        if (state_backend_lock(s->sc.be, o->operation, o->lock_timeout_ms, NULL, &err) < 0) {
            cli_error("%s", err.msg);
            return EXIT_FAIL;
        }
        s->locked = true;
    }
    /* the cloud after the lock: the embedded one (-cloud local) reads its
     * store when it starts and writes it back when it stops (session_close,
     * before the unlock), so a run waiting for the lock must not have read
     * it before the run holding the lock wrote to it */
    if (o->need_cloud && open_cloud(s, o, cfg) != EXIT_OK)
        return EXIT_FAIL;
    if (state_backend_load(&s->st, &existed, s->sc.be, &s->sc.keys, &err) < 0) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    s->loaded = true;
    if (check_state_kinds(&s->st, s->sc.be->where) != EXIT_OK)
        return EXIT_FAIL;
    register_state_secrets(&s->st);
    if (o->need_cloud) {
        if (check_state_cloud(s, o, cfg) != EXIT_OK || sign_in(s, o, cfg) != EXIT_OK)
            return EXIT_FAIL;
        /* saved from now on with the cloud it was read and written in */
        if (state_set_cloud(&s->st, session_cloud_name(o->cloud, cfg), &err) < 0) {
            cli_error("%s", err.msg);
            return EXIT_FAIL;
        }
    }
    if (o->lock)
        return recover(s);
    return EXIT_OK;
}

void session_close(struct session *s)
{
    struct errbuf err = ERRBUF_INIT;
    /* an apply that settled everything leaves an empty journal (the lock
     * is still held: nobody else appends) */
    if (s->journal_open && s->locked && s->journal.nentries > 0 &&
        journal_compact(&s->journal, &err) < 0)
        cli_error("%s", err.msg);
    if (s->journal_open)
        journal_release(&s->journal);
    if (s->loaded)
        state_release(&s->st);
    /* the embedded cloud's store is written back before the next run can
     * take the lock */
    provider_free(s->provider);
    arm_client_free(s->client);
    auth_free(s->auth);
    transport_free(s->transport);
    arm_cloud_free(s->custom_cloud);
#ifdef AMLSEC_HAVE_ARMLOCAL
    armlocal_stop(s->local);
#endif
    if (s->locked && state_backend_unlock(s->sc.be, &err) < 0)
        cli_error("%s", err.msg);
    if (s->sc_open)
        state_cli_close(&s->sc);
    memset(s, 0, sizeof(*s));
}
