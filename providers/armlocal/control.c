/* The control API (/_armlocal/...), fault injection, the request log and
 * ARM's throttling token buckets. */
#include "providers/armlocal/al_internal.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/error.h"
#include "util/banned.h"

/* --- faults ------------------------------------------------------------- */

static const char *const fault_kinds[] = {"403",        "429",          "500",         "503",
                                          "400-echo",   "reset",        "reset-after", "slow",
                                          "lro-failed", "lro-canceled", NULL};

static int fault_set(struct al_fault *f, const char *key, const char *val, struct errbuf *err)
{
    char *end;
    if (strcmp(key, "kind") == 0) {
        int ok = 0;
        for (const char *const *k = fault_kinds; *k; k++)
            ok |= strcmp(*k, val) == 0;
        if (!ok)
            return errbuf_set(err, AMLSEC_EUSAGE,
                              "unknown fault kind '%s' (403, 429, 500, 503, 400-echo, reset, "
                              "reset-after, slow, lro-failed, lro-canceled)",
                              val);
        snprintf(f->kind, sizeof(f->kind), "%s", val);
    } else if (strcmp(key, "method") == 0) {
        snprintf(f->method, sizeof(f->method), "%s", val);
    } else if (strcmp(key, "path") == 0) {
        snprintf(f->path, sizeof(f->path), "%s", val);
    } else if (strcmp(key, "nth") == 0 || strcmp(key, "times") == 0 || strcmp(key, "ms") == 0) {
        long v = strtol(val, &end, 10);
        if (*val == '\0' || *end != '\0' || v < 0)
            return errbuf_set(err, AMLSEC_EUSAGE, "fault '%s' wants a whole number, not '%s'", key,
                              val);
        if (key[0] == 'n')
            f->nth = v;
        else if (key[0] == 't')
            f->times = v;
        else
            f->ms = v;
    } else if (strcmp(key, "rate") == 0) {
        double v = strtod(val, &end);
        if (*val == '\0' || *end != '\0' || !(v >= 0 && v <= 1))
            return errbuf_set(err, AMLSEC_EUSAGE, "fault rate must be within 0..1, not '%s'", val);
        f->rate = v;
    } else {
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "unknown fault key '%s' (kind, method, path, nth, rate, times, ms)", key);
    }
    return 0;
}

static void fault_defaults(struct al_fault *f)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->method, sizeof(f->method), "*");
    snprintf(f->path, sizeof(f->path), "*");
    f->times = -1;
    f->ms = 2000;
}

static int fault_finish(struct armlocal *al, struct al_fault *f, struct errbuf *err)
{
    if (f->kind[0] == '\0')
        return errbuf_set(err, AMLSEC_EUSAGE, "a fault needs a kind");
    if (f->nth == 0 && f->rate == 0)
        f->nth = 1;
    if (f->nth > 0 && f->times < 0)
        f->times = 1;
    if (al->nfaults == sizeof(al->faults) / sizeof(al->faults[0]))
        return errbuf_set(err, AMLSEC_EUSAGE, "too many faults (at most 64)");
    al->faults[al->nfaults++] = *f;
    return 0;
}

int armlocal_faults_parse(struct armlocal *al, const char *spec, struct errbuf *err)
{
    char *copy = strdup(spec), *rule, *save = NULL;
    int rc = 0;
    if (copy == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    for (rule = strtok_r(copy, ";", &save); rule && rc == 0; rule = strtok_r(NULL, ";", &save)) {
        struct al_fault f;
        char *kv, *save2 = NULL;
        fault_defaults(&f);
        for (kv = strtok_r(rule, ",", &save2); kv && rc == 0; kv = strtok_r(NULL, ",", &save2)) {
            char *eq = strchr(kv, '=');
            if (eq == NULL) {
                rc = errbuf_set(err, AMLSEC_EUSAGE, "fault item '%s' is not key=value", kv);
                break;
            }
            *eq = '\0';
            rc = fault_set(&f, kv, eq + 1, err);
        }
        if (rc == 0)
            rc = fault_finish(al, &f, err);
    }
    free(copy);
    return rc;
}

static double rng01(struct armlocal *al)
{
    uint64_t z = (al->rng_fault += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

/* The faults that fire on a request carried out (reset-after, lro-failed,
 * lro-canceled) whose firing a fault answering it instead takes back. */
static void take_back(struct al_ctx *c, int *lro_fail, struct al_fault **carried, size_t n)
{
    for (size_t i = 0; i < n; i++)
        carried[i]->fired--;
    *lro_fail = 0;
    c->res->drop_connection = 0;
}

/* Returns 1 when a fault answered the request (403, 429, 500, 503,
 * 400-echo, reset): it is not carried out, so reset-after and lro-* faults
 * matching it too do not fire (nor spend their times). *lro_fail is set
 * when the operation the request starts must end Failed. */
int al_faults_apply(struct al_ctx *c, int *lro_fail)
{
    struct armlocal *al = c->al;
    struct al_fault *carried[sizeof(al->faults) / sizeof(al->faults[0])];
    size_t ncarried = 0;
    for (size_t i = 0; i < al->nfaults; i++) {
        struct al_fault *f = &al->faults[i];
        int fire;
        if (f->times >= 0 && f->fired >= f->times)
            continue;
        if (strcmp(f->method, "*") != 0 && strcasecmp(f->method, c->req->method) != 0)
            continue;
        if (fnmatch(f->path, c->req->path, FNM_CASEFOLD) != 0)
            continue;
        f->seen++;
        fire = f->nth > 0 ? (f->seen % f->nth == 0) : rng01(al) < f->rate;
        if (!fire)
            continue;
        f->fired++;
        if (strcmp(f->kind, "reset-after") == 0 || strncmp(f->kind, "lro-", 4) == 0) {
            carried[ncarried++] = f;
            if (strcmp(f->kind, "reset-after") == 0)
                c->res->drop_connection = 1; /* carried out below, then the answer is lost */
            else
                *lro_fail = strcmp(f->kind, "lro-failed") == 0 ? 1 : 2;
            continue;
        }
        if (strcmp(f->kind, "slow") == 0) {
            c->res->delay_ms += (unsigned)f->ms; /* whatever answers */
            continue;
        }
        /* the others answer instead of carrying the request out */
        take_back(c, lro_fail, carried, ncarried);
        if (strcmp(f->kind, "403") == 0) {
            al_error(c, 403, "AuthorizationFailed",
                     "The client does not have authorization to perform action on this scope "
                     "(injected fault).");
            return 1;
        }
        if (strcmp(f->kind, "429") == 0) {
            al_set_header(c->res, "Retry-After", "1");
            al_error(c, 429, "TooManyRequests",
                     "The request was throttled (injected fault). Retry after 1 second.");
            return 1;
        }
        if (strcmp(f->kind, "500") == 0) {
            al_error(c, 500, "InternalServerError",
                     "Encountered internal server error "
                     "(injected fault).");
            return 1;
        }
        if (strcmp(f->kind, "400-echo") == 0) {
            /* as ARM's deserialisation errors do: the request quoted back */
            al_error(c, 400, "InvalidRequestContent",
                     "The request content was invalid and could not be deserialized: '%.*s' "
                     "(injected fault).",
                     (int)(c->req->body_len < 2000 ? c->req->body_len : 2000),
                     c->req->body ? c->req->body : "");
            return 1;
        }
        if (strcmp(f->kind, "503") == 0) {
            al_set_header(c->res, "Retry-After", "1");
            al_error(c, 503, "ServiceUnavailable", "The service is unavailable (injected fault).");
            return 1;
        }
        /* reset, the one kind left (al_fault_add checks the kind) */
        c->res->drop_connection = 1;
        c->res->status = 500;
        return 1;
    }
    return 0;
}

/* --- request log ---------------------------------------------------------- */

void al_log_request(struct armlocal *al, const char *method, const char *path)
{
    char key[2200], lp[2048];
    json_t *v;
    al_lower(lp, path, sizeof(lp));
    snprintf(key, sizeof(key), "%s %s", method, lp);
    v = json_object_get(al->log_by_verb, method);
    json_object_set_new(al->log_by_verb, method, json_integer(json_integer_value(v) + 1));
    v = json_object_get(al->log_by_path, key);
    json_object_set_new(al->log_by_path, key, json_integer(json_integer_value(v) + 1));
    al->log_total++;
}

static void log_clear(struct armlocal *al)
{
    json_object_clear(al->log_by_verb);
    json_object_clear(al->log_by_path);
    json_object_clear(al_aux_log(al));
    al->log_total = 0;
    al->log_graph_rows = 0;
    al->log_graph_throttled = 0;
}

/* --- throttling ------------------------------------------------------------ */

static struct al_bucket *bucket(struct armlocal *al, const char *key, double cap)
{
    for (size_t i = 0; i < al->nbuckets; i++)
        if (strcmp(al->buckets[i].key, key) == 0)
            return &al->buckets[i];
    if (al->nbuckets == al->capbuckets) {
        size_t n = al->capbuckets ? al->capbuckets * 2 : 16;
        struct al_bucket *nb = realloc(al->buckets, n * sizeof(*nb));
        if (nb == NULL)
            return NULL;
        al->buckets = nb;
        al->capbuckets = n;
    }
    snprintf(al->buckets[al->nbuckets].key, sizeof(al->buckets[0].key), "%s", key);
    al->buckets[al->nbuckets].tokens = cap;
    al->buckets[al->nbuckets].last = al_mono_s();
    return &al->buckets[al->nbuckets++];
}

int al_throttle(struct al_ctx *c)
{
    const char *m = c->req->method;
    int read = strcasecmp(m, "GET") == 0 || strcasecmp(m, "HEAD") == 0;
    int del = strcasecmp(m, "DELETE") == 0;
    double cap = read ? 250 : 200, rate = read ? 25 : 10, now = al_mono_s();
    const char *kind = read ? "reads" : del ? "deletes" : "writes";
    /* ARM names the quota a request spends from: reads, deletes or writes */
    const char *hdr = read  ? "x-ms-ratelimit-remaining-subscription-reads"
                      : del ? "x-ms-ratelimit-remaining-subscription-deletes"
                            : "x-ms-ratelimit-remaining-subscription-writes";
    char key[256], sub[64] = "tenant";
    struct al_bucket *b;

    if (strncasecmp(c->req->path, "/subscriptions/", 15) == 0) {
        size_t n = strcspn(c->req->path + 15, "/");
        snprintf(sub, sizeof(sub), "%.*s", (int)(n < 60 ? n : 60), c->req->path + 15);
    }
    if (!c->al->opts.throttle) {
        al_set_header(c->res, hdr, "%d", read ? 249 : 199);
        return 0;
    }
    snprintf(key, sizeof(key), "%s|%s|%s", sub, c->principal[0] ? c->principal : "anonymous", kind);
    b = bucket(c->al, key, cap);
    if (b == NULL)
        return 0;
    b->tokens = fmin(cap, b->tokens + (now > b->last ? now - b->last : 0) * rate);
    b->last = now;
    if (b->tokens < 1) {
        unsigned wait = (unsigned)ceil((1 - b->tokens) / rate);
        al_set_header(c->res, "Retry-After", "%u", wait ? wait : 1);
        al_set_header(c->res, hdr, "0");
        al_error(c, 429, "TooManyRequests",
                 "Number of '%s' requests for subscription '%s' actor '%s' exceeded. Please try "
                 "again after '%u' seconds after additional tokens are available.",
                 read  ? "read"
                 : del ? "delete"
                       : "write",
                 sub, c->principal[0] ? c->principal : "anonymous", wait ? wait : 1);
        return -1;
    }
    b->tokens -= 1;
    al_set_header(c->res, hdr, "%d", (int)b->tokens);
    return 0;
}

/* --- the control API -------------------------------------------------------- */

static json_t *body_json(struct al_ctx *c)
{
    if (c->req->body_len == 0)
        return json_object();
    return json_loadb(c->req->body, c->req->body_len, 0, NULL);
}

static void faults_json(struct al_ctx *c)
{
    json_t *list = json_array();
    for (size_t i = 0; i < c->al->nfaults; i++) {
        struct al_fault *f = &c->al->faults[i];
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:I, s:f, s:I, s:I, s:I, s:I}",
                                              "kind", f->kind, "method", f->method, "path", f->path,
                                              "nth", (json_int_t)f->nth, "rate", f->rate, "times",
                                              (json_int_t)f->times, "ms", (json_int_t)f->ms, "seen",
                                              (json_int_t)f->seen, "fired", (json_int_t)f->fired));
    }
    al_json_reply(c, 200, json_pack("{s:o}", "value", list));
}

static void control_faults(struct al_ctx *c, const char *m)
{
    struct errbuf err = ERRBUF_INIT;
    if (strcasecmp(m, "GET") == 0) {
        faults_json(c);
    } else if (strcasecmp(m, "DELETE") == 0) {
        c->al->nfaults = 0;
        c->res->status = 204;
    } else if (strcasecmp(m, "POST") == 0) {
        json_t *b = body_json(c), *v;
        const char *k;
        struct al_fault f;
        int rc = 0;
        if (!json_is_object(b)) {
            json_decref(b);
            al_error(c, 400, "InvalidRequestContent", "The fault must be a JSON object.");
            return;
        }
        fault_defaults(&f);
        json_object_foreach(b, k, v)
        {
            char val[600];
            if (json_is_string(v))
                snprintf(val, sizeof(val), "%s", json_string_value(v));
            else if (json_is_integer(v))
                snprintf(val, sizeof(val), "%lld", (long long)json_integer_value(v));
            else if (json_is_real(v))
                snprintf(val, sizeof(val), "%.17g", json_real_value(v));
            else
                snprintf(val, sizeof(val), "?");
            if ((rc = fault_set(&f, k, val, &err)) < 0)
                break;
        }
        json_decref(b);
        if (rc == 0)
            rc = fault_finish(c->al, &f, &err);
        if (rc < 0) {
            al_error(c, 400, "InvalidFault", "%s", err.msg);
            return;
        }
        faults_json(c);
        c->res->status = 201;
    } else {
        al_error(c, 405, "MethodNotAllowed", "Use GET, POST or DELETE.");
    }
}

/* /_armlocal/resources/{arm id}: seed (PUT), drift (PATCH, a JSON merge
 * patch on the stored body), delete out of band (DELETE), read raw (GET). */
static void merge(json_t *dst, const json_t *patch)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (json_is_null(v))
            json_object_del(dst, k);
        else if (json_is_object(v) && json_is_object(json_object_get(dst, k)))
            merge(json_object_get(dst, k), v);
        else
            json_object_set(dst, k, v);
    }
}

/* The ARM type of a resource id ("Microsoft.Network/virtualNetworks/subnets"). */
static void type_of(const char *id, char *out, size_t cap)
{
    struct al_path p;
    size_t prov = AL_MAX_SEGS;
    out[0] = '\0';
    if (al_path_parse(&p, id) < 0)
        return;
    for (size_t i = 0; i + 1 < p.nsegs; i++)
        if (strcasecmp(p.segs[i], "providers") == 0)
            prov = i;
    if (prov == AL_MAX_SEGS) {
        if (p.nsegs == 4 && strcasecmp(p.segs[2], "resourceGroups") == 0)
            snprintf(out, cap, "Microsoft.Resources/resourceGroups");
        return;
    }
    snprintf(out, cap, "%s", p.segs[prov + 1]);
    for (size_t i = prov + 2; i < p.nsegs; i += 2) {
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "/%s", p.segs[i]);
    }
}

/* Seeding a resource also creates its missing resource group and parents
 * (what `existing` lookups need: a subnet needs its virtual network). */
static void seed_ancestors(struct armlocal *al, const char *id, const json_t *loc)
{
    char prefix[2048], type[512];
    const char *prov = strcasestr(id, "/providers/"), *q;
    size_t n = strlen(id);
    while (prov && (q = strcasestr(prov + 1, "/providers/")) != NULL)
        prov = q;
    for (size_t i = 1; i < n && i < sizeof(prefix); i++) {
        int slashes = 0;
        json_t *body;
        if (id[i] != '/')
            continue;
        memcpy(prefix, id, i);
        prefix[i] = '\0';
        for (size_t j = 0; j < i; j++)
            slashes += prefix[j] == '/';
        /* candidates: the resource group (4 segments), and resources below
         * the last provider namespace (ns/type/name pairs) */
        if (!(slashes == 4 && strncasecmp(prefix, "/subscriptions/", 15) == 0 &&
              strcasestr(prefix, "/resourceGroups/")) &&
            !(prov && i > (size_t)(prov - id) + 11)) {
            continue;
        }
        type_of(prefix, type, sizeof(type));
        if (type[0] == '\0' || strchr(type, '/') == NULL || al_rec_get(al, prefix))
            continue;
        {
            /* only whole ns/type/name prefixes name resources */
            struct al_path pp;
            size_t k = AL_MAX_SEGS;
            if (al_path_parse(&pp, prefix) < 0)
                continue;
            for (size_t j = 0; j + 1 < pp.nsegs; j++)
                if (strcasecmp(pp.segs[j], "providers") == 0)
                    k = j;
            if (k != AL_MAX_SEGS && (pp.nsegs - (k + 2)) % 2 != 0)
                continue;
            if (k != AL_MAX_SEGS && pp.nsegs - (k + 2) == 0)
                continue;
        }
        body = json_pack("{s:s, s:s, s:s, s:{s:s}}", "id", prefix, "name", strrchr(prefix, '/') + 1,
                         "type", type, "properties", "provisioningState", "Succeeded");
        json_object_set_new(body, "location",
                            json_string(json_is_string(loc) ? json_string_value(loc) : "eastus"));
        al_rec_put(al, prefix, body);
    }
}

static void control_resource(struct al_ctx *c, const char *m, const char *id)
{
    json_t *rec = al_rec_get(c->al, id), *b;
    if (id[0] != '/' || strlen(id) < 2) {
        al_error(c, 400, "InvalidResourceId", "Give an ARM id after /_armlocal/resources.");
        return;
    }
    if (strcasecmp(m, "GET") == 0) {
        if (rec == NULL) {
            al_error(c, 404, "ResourceNotFound", "The Resource '%s' was not found.", id);
            return;
        }
        al_json_reply(c, 200, json_deep_copy(rec));
        return;
    }
    if (strcasecmp(m, "DELETE") == 0) {
        al_rec_del_tree(c->al, id);
        al_store_save(c->al);
        c->res->status = 204;
        return;
    }
    b = body_json(c);
    if (!json_is_object(b)) {
        json_decref(b);
        al_error(c, 400, "InvalidRequestContent", "The body must be a JSON object.");
        return;
    }
    if (strcasecmp(m, "PUT") == 0) {
        const char *slash = strrchr(id, '/');
        char type[512];
        json_object_set_new(b, "id", json_string(id));
        type_of(id, type, sizeof(type));
        if (json_object_get(b, "type") == NULL && type[0])
            json_object_set_new(b, "type", json_string(type));
        seed_ancestors(c->al, id, json_object_get(b, "location"));
        if (json_object_get(b, "name") == NULL)
            json_object_set_new(b, "name", json_string(slash + 1));
        if (!json_is_object(json_object_get(b, "properties")))
            json_object_set_new(b, "properties", json_object());
        if (json_object_get(json_object_get(b, "properties"), "provisioningState") == NULL)
            json_object_set_new(json_object_get(b, "properties"), "provisioningState",
                                json_string("Succeeded"));
        rec = al_rec_put(c->al, id, b);
        al_store_save(c->al);
        al_json_reply(c, 200, json_deep_copy(json_object_get(rec, "body")));
        return;
    }
    if (strcasecmp(m, "PATCH") == 0) {
        if (rec == NULL) {
            json_decref(b);
            al_error(c, 404, "ResourceNotFound", "The Resource '%s' was not found.", id);
            return;
        }
        merge(json_object_get(rec, "body"), b);
        json_decref(b);
        al_rec_touch(c->al, id);
        al_store_save(c->al);
        al_json_reply(c, 200, json_deep_copy(json_object_get(rec, "body")));
        return;
    }
    json_decref(b);
    al_error(c, 405, "MethodNotAllowed", "Use GET, PUT, PATCH or DELETE.");
}

/* Replaces o's per-type durations with {"TYPE": ms, ...}; o is unchanged
 * when one is wrong. */
static int settings_lro_by_type(struct armlocal_opts *o, const json_t *by_type)
{
    struct armlocal_opts t = *o;
    struct errbuf err = ERRBUF_INIT;
    const char *k;
    json_t *v;
    if (!json_is_object(by_type))
        return -1;
    t.nlro_by_type = 0;
    json_object_foreach((json_t *)by_type, k, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 3600000 ||
            al_lro_type_set(&t, k, strlen(k), (unsigned)json_integer_value(v), &err) < 0)
            return -1;
    }
    memcpy(o->lro_by_type, t.lro_by_type, sizeof(t.lro_by_type));
    o->nlro_by_type = t.nlro_by_type;
    return 0;
}

/* /_armlocal/settings: the knobs that may change while serving (a
 * benchmark seeds at full speed, then measures with ARM's latency and
 * throttling; sign-in tests make short-lived tokens). GET shows them; PUT
 * sets any of latencyMs, lroMs, lroMsByType, throttle, graphQuota,
 * tokenLifetimeS, identityHeader. */
static void control_settings(struct al_ctx *c, const char *m)
{
    struct armlocal_opts *o = &c->al->opts;
    json_t *by_type;
    if (strcasecmp(m, "PUT") == 0) {
        json_t *b = body_json(c);
        json_t *lat = json_object_get(b, "latencyMs"), *lro = json_object_get(b, "lroMs");
        json_t *lro_types = json_object_get(b, "lroMsByType");
        const char *thr = json_string_value(json_object_get(b, "throttle"));
        const char *gq = json_string_value(json_object_get(b, "graphQuota"));
        json_t *life = json_object_get(b, "tokenLifetimeS"),
               *ih = json_object_get(b, "identityHeader");
        if (!json_is_object(b) ||
            (life && (!json_is_integer(life) || json_integer_value(life) < 1 ||
                      json_integer_value(life) > 86400)) ||
            (ih &&
             (!json_is_string(ih) || json_string_length(ih) >= sizeof(c->al->identity_header))) ||
            (lat && (!json_is_integer(lat) || json_integer_value(lat) < 0 ||
                     json_integer_value(lat) > 600000)) ||
            (lro && (!json_is_integer(lro) || json_integer_value(lro) < 0 ||
                     json_integer_value(lro) > 3600000)) ||
            (thr && strcmp(thr, "arm") != 0 && strcmp(thr, "off") != 0) ||
            (json_object_get(b, "graphQuota") &&
             (gq == NULL || (strcmp(gq, "on") != 0 && strcmp(gq, "off") != 0))) ||
            (lro_types && settings_lro_by_type(o, lro_types) < 0)) {
            json_decref(b);
            al_error(c, 400, "InvalidSettings",
                     "Give {\"latencyMs\": N, \"lroMs\": N, \"lroMsByType\": {\"TYPE\": N}, "
                     "\"throttle\": \"arm\"|\"off\", \"graphQuota\": \"on\"|\"off\", "
                     "\"tokenLifetimeS\": 1..86400, "
                     "\"identityHeader\": \"...\"} (TYPE: a resource type this cloud serves).");
            return;
        }
        if (lat)
            o->latency_ms = (unsigned)json_integer_value(lat);
        if (lro)
            o->lro_ms = (unsigned)json_integer_value(lro);
        if (thr) {
            o->throttle = strcmp(thr, "arm") == 0;
            c->al->nbuckets = 0; /* fresh, full buckets */
        }
        if (gq) {
            o->graph_quota_off = strcmp(gq, "off") == 0;
            c->al->nbuckets = 0; /* a fresh window */
        }
        if (life)
            c->al->token_lifetime_s = (unsigned)json_integer_value(life);
        if (ih)
            snprintf(c->al->identity_header, sizeof(c->al->identity_header), "%s",
                     json_string_value(ih));
        json_decref(b);
    } else if (strcasecmp(m, "GET") != 0) {
        al_error(c, 405, "MethodNotAllowed", "Use GET or PUT.");
        return;
    }
    by_type = json_object();
    for (size_t i = 0; i < o->nlro_by_type; i++)
        json_object_set_new(by_type, o->lro_by_type[i].type, json_integer(o->lro_by_type[i].ms));
    /* the identity header is a secret: only whether it is set is shown */
    al_json_reply(c, 200,
                  json_pack("{s:i, s:i, s:o, s:s, s:s, s:i, s:b}", "latencyMs", (int)o->latency_ms,
                            "lroMs", (int)o->lro_ms, "lroMsByType", by_type, "throttle",
                            o->throttle ? "arm" : "off", "graphQuota",
                            o->graph_quota_off ? "off" : "on", "tokenLifetimeS",
                            (int)(c->al->token_lifetime_s ? c->al->token_lifetime_s : 3600),
                            "identityHeaderSet", c->al->identity_header[0] != '\0'));
}

/* /_armlocal/graph/snapshot: PUT freezes what Resource Graph answers at
 * the resources as they are now (ARM's direct reads keep seeing every later
 * change: Resource Graph's lag); DELETE lets it see the live store again. */
static void control_graph_snapshot(struct al_ctx *c, const char *m)
{
    if (strcasecmp(m, "PUT") == 0) {
        json_t *copy = json_deep_copy(al_resources(c->al));
        if (copy == NULL) {
            al_error(c, 500, "InternalServerError", "Out of memory.");
            return;
        }
        json_decref(c->al->graph_snapshot);
        c->al->graph_snapshot = copy;
        c->res->status = 204;
    } else if (strcasecmp(m, "DELETE") == 0) {
        json_decref(c->al->graph_snapshot);
        c->al->graph_snapshot = NULL;
        c->res->status = 204;
    } else {
        al_error(c, 405, "MethodNotAllowed", "Use PUT or DELETE.");
    }
}

void al_control_handle(struct al_ctx *c)
{
    const char *path = c->req->path + strlen("/_armlocal");
    const char *m = c->req->method;

    if (al_identity_control(c, path)) {
        return;
    } else if (strcmp(path, "/faults") == 0) {
        control_faults(c, m);
    } else if (strcmp(path, "/requests/totals") == 0 && strcasecmp(m, "GET") == 0) {
        /* the counts without byPath, which grows with the store */
        al_json_reply(c, 200,
                      json_pack("{s:I, s:O, s:I, s:I}", "total", (json_int_t)c->al->log_total,
                                "byVerb", c->al->log_by_verb, "graphRows",
                                (json_int_t)c->al->log_graph_rows, "graphThrottled",
                                (json_int_t)c->al->log_graph_throttled));
    } else if (strcmp(path, "/requests") == 0) {
        if (strcasecmp(m, "DELETE") == 0) {
            log_clear(c->al);
            c->res->status = 204;
        } else {
            al_json_reply(c, 200,
                          json_pack("{s:I, s:O, s:O, s:O}", "total", (json_int_t)c->al->log_total,
                                    "byVerb", c->al->log_by_verb, "byPath", c->al->log_by_path,
                                    "auxiliaryTenants", al_aux_log(c->al)));
        }
    } else if (strcmp(path, "/reset") == 0 && strcasecmp(m, "POST") == 0) {
        al_store_reset(c->al);
        c->al->nfaults = 0;
        c->al->nbuckets = 0;
        log_clear(c->al);
        c->res->status = 204;
    } else if (strncmp(path, "/resources/", 11) == 0) {
        control_resource(c, m, path + 10);
    } else if (strcmp(path, "/settings") == 0) {
        control_settings(c, m);
    } else if (strcmp(path, "/graph/snapshot") == 0) {
        control_graph_snapshot(c, m);
    } else if (strcmp(path, "/state") == 0 && strcasecmp(m, "GET") == 0) {
        al_json_reply(c, 200, json_deep_copy(c->al->state));
    } else if (strcmp(path, "/persist") == 0 && strcasecmp(m, "GET") == 0) {
        const struct al_persist_stats *ps = &c->al->persist;
        al_json_reply(
            c, 200,
            json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "enabled",
                      c->al->state_path != NULL, "bytesWritten", (json_int_t)ps->bytes_written,
                      "flushes", (json_int_t)ps->flushes, "records", (json_int_t)ps->records,
                      "compactions", (json_int_t)ps->compactions, "replayed",
                      (json_int_t)ps->replayed, "tornTails", (json_int_t)ps->torn, "logBytes",
                      (json_int_t)c->al->log_bytes, "snapshotBytes", (json_int_t)c->al->snap_bytes,
                      "generation", (json_int_t)c->al->log_gen));
    } else {
        al_error(c, 404, "NotFound",
                 "Unknown control path '%s' (faults, graph/snapshot, managedIdentities, "
                 "oidc/requestTokens, oidc/tokens, persist, requests, reset, resources/{id}, "
                 "servicePrincipals, settings, state).",
                 path);
    }
}
