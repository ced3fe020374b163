/* armlocal_opts_set: the command-line spelling of every option, shared by
 * the standalone server and `amlsec local-cloud`. */
#include "providers/armlocal/armlocal.h"
#include "providers/armlocal/al_internal.h"

#include <errno.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/banned.h"

static int parse_uint(unsigned long long *out, const char *flag, const char *v,
                      unsigned long long max, struct errbuf *err)
{
    char *end;
    errno = 0;
    if (v[0] == '-' || v[0] == '\0')
        return errbuf_set(err, AMLSEC_EUSAGE, "--%s wants a whole number, not '%s'", flag, v);
    *out = strtoull(v, &end, 10);
    if (errno || *end != '\0' || *out > max)
        return errbuf_set(err, AMLSEC_EUSAGE, "--%s wants a whole number up to %llu, not '%s'",
                          flag, max, v);
    return 0;
}

int al_lro_type_set(struct armlocal_opts *o, const char *type, size_t len, unsigned ms,
                    struct errbuf *err)
{
    char name[128];
    const struct al_type *ty;
    size_t i;
    if (len >= sizeof(name))
        len = sizeof(name) - 1;
    memcpy(name, type, len);
    name[len] = '\0';
    if ((ty = al_type_find(name)) == NULL)
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "--lro-ms: '%s' is not a resource type the local cloud serves", name);
    for (i = 0; i < o->nlro_by_type && o->lro_by_type[i].type != ty->type; i++)
        ;
    if (i == ARMLOCAL_MAX_LRO_TYPES)
        return errbuf_set(err, AMLSEC_EUSAGE, "--lro-ms: more than %d resource types",
                          ARMLOCAL_MAX_LRO_TYPES);
    o->lro_by_type[i].type = ty->type;
    o->lro_by_type[i].ms = ms;
    if (i == o->nlro_by_type)
        o->nlro_by_type++;
    return 0;
}

int al_lro_ms(const struct armlocal_opts *o, const char *type, unsigned *ms)
{
    for (size_t i = 0; i < o->nlro_by_type; i++)
        if (strcasecmp(o->lro_by_type[i].type, type) == 0) {
            *ms = o->lro_by_type[i].ms;
            return 1;
        }
    *ms = o->lro_ms;
    return 0;
}

/* --lro-ms: "N", "TYPE=N" or a comma-separated list of both. */
static int set_lro(struct armlocal_opts *o, const char *v, struct errbuf *err)
{
    char item[160];
    unsigned long long n;
    int rc;
    do {
        size_t len = strcspn(v, ",");
        const char *eq;
        if (len >= sizeof(item))
            return errbuf_set(err, AMLSEC_EUSAGE, "--lro-ms: '%.*s' is too long", (int)len, v);
        memcpy(item, v, len);
        item[len] = '\0';
        eq = strchr(item, '=');
        if ((rc = parse_uint(&n, "lro-ms", eq ? eq + 1 : item, 3600000, err)) < 0)
            return rc;
        if (eq == NULL)
            o->lro_ms = (unsigned)n;
        else if ((rc = al_lro_type_set(o, item, (size_t)(eq - item), (unsigned)n, err)) < 0)
            return rc;
        v += len;
    } while (*v++ == ',');
    return 0;
}

int armlocal_opts_set(struct armlocal_opts *o, const char *flag, const char *v, struct errbuf *err)
{
    unsigned long long n;
    int rc;

    if (strcmp(flag, "listen") == 0) {
        const char *colon = strrchr(v, ':');
        if (colon == NULL || (size_t)(colon - v) >= sizeof(o->listen_buf))
            return errbuf_set(err, AMLSEC_EUSAGE, "--listen wants HOST:PORT, not '%s'", v);
        if ((rc = parse_uint(&n, flag, colon + 1, 65535, err)) < 0)
            return rc;
        snprintf(o->listen_buf, sizeof(o->listen_buf), "%.*s", (int)(colon - v), v);
        o->listen_host = o->listen_buf;
        o->port = (unsigned)n;
    } else if (strcmp(flag, "data") == 0) {
        o->data_dir = v;
    } else if (strcmp(flag, "latency-ms") == 0) {
        if ((rc = parse_uint(&n, flag, v, 3600000, err)) < 0)
            return rc;
        o->latency_ms = (unsigned)n;
    } else if (strcmp(flag, "lro-ms") == 0) {
        return set_lro(o, v, err);
    } else if (strcmp(flag, "flush-ms") == 0) {
        if ((rc = parse_uint(&n, flag, v, 60000, err)) < 0)
            return rc;
        o->flush_ms = (unsigned)n;
    } else if (strcmp(flag, "seed") == 0) {
        if ((rc = parse_uint(&n, flag, v, ~0ULL, err)) < 0)
            return rc;
        o->seed = n;
    } else if (strcmp(flag, "throttle") == 0) {
        if (strcmp(v, "arm") != 0 && strcmp(v, "off") != 0)
            return errbuf_set(err, AMLSEC_EUSAGE, "--throttle is 'arm' or 'off', not '%s'", v);
        o->throttle = strcmp(v, "arm") == 0;
    } else if (strcmp(flag, "graph-quota") == 0) {
        if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
            return errbuf_set(err, AMLSEC_EUSAGE, "--graph-quota is 'on' or 'off', not '%s'", v);
        o->graph_quota_off = strcmp(v, "off") == 0;
    } else if (strcmp(flag, "auth") == 0) {
        if (strcmp(v, "required") != 0 && strcmp(v, "off") != 0)
            return errbuf_set(err, AMLSEC_EUSAGE, "--auth is 'required' or 'off', not '%s'", v);
        o->auth_required = strcmp(v, "required") == 0;
    } else if (strcmp(flag, "faults") == 0) {
        o->faults = v;
    } else if (strcmp(flag, "policy-definitions") == 0) {
        o->policy_definitions_dir = v;
    } else if (strcmp(flag, "aliases") == 0) {
        o->aliases_csv = v;
    } else if (strcmp(flag, "tls-cert") == 0) {
        o->tls_cert = v;
    } else if (strcmp(flag, "tls-key") == 0) {
        o->tls_key = v;
    } else {
        return errbuf_set(err, AMLSEC_EUSAGE, "unknown local cloud option '--%s'", flag);
    }
    return 0;
}

int armlocal_opts_embedded(struct armlocal_opts *o, const char *workdir, char *data_buf,
                           size_t data_cap, struct errbuf *err)
{
    struct armlocal_opts d = ARMLOCAL_OPTS_INIT;
    int n = snprintf(data_buf, data_cap, "%s/.amlsec/local", workdir ? workdir : ".");
    if (n < 0 || (size_t)n >= data_cap)
        return errbuf_set(err, AMLSEC_EUSAGE, "work directory path '%s' is too long", workdir);
    *o = d;
    o->data_dir = data_buf;
    o->lro_ms = 0;
    o->flush_ms = 50; /* group commit: one atomic write per burst; flushed at stop */
    o->remember_port = 1;
    return 0;
}
