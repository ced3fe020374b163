/* armlocal's lifecycle and the libmicrohttpd adapter: one thread per
 * connection, each request collected (body capped at 4 MiB) and passed to
 * armlocal_handle. */
#include "providers/armlocal/al_internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/banned.h"

struct pending {
    struct buf body;
    int too_large;
};

struct kvlist {
    struct armlocal_kv kv[128];
    size_t n;
};

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    struct kvlist *l = cls;
    (void)kind;
    if (l->n < sizeof(l->kv) / sizeof(l->kv[0])) {
        l->kv[l->n].key = key;
        l->kv[l->n].value = value;
        l->n++;
    }
    return MHD_YES;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* --- kept ports ---------------------------------------------------------------- */

/* Ports the local cloud keeps across restarts (the embedded cloud's own, remembered in
 * data_dir/port, and each vault's data plane over a data directory, whose URLs the store holds)
 * are picked below the kernel's ephemeral range (ip_local_port_range). A port from that range,
 * what port 0 gives, is one the kernel also hands any other program that binds port 0 and any
 * outgoing connection on the machine, so once the cloud stopped, one of them could hold it when
 * the cloud starts again (its stored URLs then lead nowhere); below the range only a bind to that
 * very port takes it. A pick that is in use is followed by another, up to KEPT_PORT_TRIES. */
#define KEPT_PORT_MIN 10000
#define KEPT_PORT_TRIES 32

/* The port number path starts with, 0 when it cannot be read or is none. */
static unsigned port_in_file(const char *path)
{
    struct buf b;
    struct errbuf err = ERRBUF_INIT;
    unsigned long port = 0;
    buf_init(&b, 0);
    if (file_read_all(&b, path, 64, &err) == 0) {
        char *end;
        port = strtoul(b.ptr, &end, 10);
        if (end == b.ptr || port > 65535)
            port = 0;
    }
    buf_release(&b);
    return (unsigned)port;
}

/* A random port from KEPT_PORT_MIN up to the ephemeral range, 0 when there is no such room. */
static unsigned kept_port_pick(void)
{
    unsigned low = port_in_file("/proc/sys/net/ipv4/ip_local_port_range");
    uint32_t r;
    if (low == 0)
        low = 32768;
    if (low <= KEPT_PORT_MIN + 1000 || getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return 0;
    return KEPT_PORT_MIN + (unsigned)(r % (low - KEPT_PORT_MIN));
}

/* Binds fd to sa's address on port, or with port 0 and kept, on a kept port when one is free
 * (else any). */
static int bind_port(int fd, struct sockaddr_in *sa, unsigned port, int kept)
{
    for (int i = 0; port == 0 && kept && i < KEPT_PORT_TRIES; i++) {
        unsigned p = kept_port_pick();
        if (p == 0)
            break;
        sa->sin_port = htons((uint16_t)p);
        if (bind(fd, (struct sockaddr *)sa, sizeof(*sa)) == 0)
            return 0;
    }
    sa->sin_port = htons((uint16_t)port);
    return bind(fd, (struct sockaddr *)sa, sizeof(*sa));
}

/* --- vault data-plane ports --------------------------------------------------- */

static struct al_vport *vport_find_name(struct armlocal *al, const char *name)
{
    size_t at;
    al->vport_work++;
    return strmap_get(&al->vport_names, name, &at) ? &al->vports[at] : NULL;
}

/* Listens on port (0: any; a kept one over a data directory) of the
 * daemon's host for vault name. Caller holds vport_mu. */
static struct al_vport *vport_open(struct armlocal *al, const char *name, unsigned port)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd, one = 1;
    struct al_vport *v;

    if (al->nvports == al->capvports) {
        size_t cap = al->capvports ? al->capvports * 2 : 16;
        struct al_vport *grown = realloc(al->vports, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        al->vports = grown;
        al->capvports = cap;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    if (inet_pton(AF_INET, al->listen_host, &sa.sin_addr) != 1)
        return NULL;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind_port(fd, &sa, port, al->data_dir != NULL) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        close(fd);
        return NULL;
    }
    v = &al->vports[al->nvports];
    snprintf(v->name, sizeof(v->name), "%s", name);
    v->fd = fd;
    v->port = ntohs(sa.sin_port);
    /* the acceptor's epoll set takes the new port: nothing else is rebuilt */
    {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)al->nvports + 1};
        al->vport_work++;
        if (al->vport_of_port == NULL || strmap_put(&al->vport_names, v->name, al->nvports) < 0 ||
            epoll_ctl(al->vport_epoll, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            return NULL;
        }
    }
    al->vport_of_port[v->port] = (uint32_t)al->nvports + 1;
    al->nvports++;
    return v;
}

/* The store's {vault name: port}, made on first use. Caller holds mu. */
static json_t *vault_ports(struct armlocal *al)
{
    json_t *vp = json_object_get(al->state, "vaultPorts");
    if (!json_is_object(vp)) {
        vp = json_object();
        json_object_set_new(al->state, "vaultPorts", vp);
    }
    return vp;
}

void al_vault_base(struct armlocal *al, const char *name, char *out, size_t cap)
{
    char low[64];
    struct al_vport *v = NULL;
    const char *colon = strrchr(al->base_url, ':');
    al_lower(low, name, sizeof(low));
    if (al->daemon && colon) {
        pthread_mutex_lock(&al->vport_mu);
        v = vport_find_name(al, low);
        if (v == NULL && (v = vport_open(al, low, 0)) != NULL) {
            /* a name keeps its port across restarts, deleted or not */
            json_object_set_new(vault_ports(al), low, json_integer(v->port));
            al_store_touch(al, "vaultPorts", low);
        }
        if (v)
            snprintf(out, cap, "%.*s:%u/", (int)(colon - al->base_url), al->base_url, v->port);
        pthread_mutex_unlock(&al->vport_mu);
    }
    if (v == NULL)
        snprintf(out, cap, "%s/_vault/%s/", al->base_url, name);
}

/* The path armlocal_handle sees: a request that came in on a vault's port
 * is a data-plane request of that vault (/_vault/{name}/...). */
static const char *vault_path(struct armlocal *al, struct MHD_Connection *conn, const char *url,
                              char *buf, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    unsigned port;
    const char *name = NULL;

    if (ci == NULL || getsockname(ci->connect_fd, (struct sockaddr *)&sa, &sl) < 0 ||
        sa.sin_family != AF_INET || (port = ntohs(sa.sin_port)) == al->port)
        return url;
    pthread_mutex_lock(&al->vport_mu);
    al->vport_work++;
    if (al->vport_of_port && port < 65536 && al->vport_of_port[port] != 0) {
        snprintf(buf, cap, "/_vault/%s%s", al->vports[al->vport_of_port[port] - 1].name, url);
        name = buf;
    }
    pthread_mutex_unlock(&al->vport_mu);
    return name ? buf : url;
}

/* Accepts connections on the vaults' ports and hands them to the daemon,
 * which serves them like its own (TLS included). It waits on an epoll set
 * that each new port joins (vport_open), so a port costs the same however
 * many there are. */
static void *acceptor_main(void *arg)
{
    struct armlocal *al = arg;
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(al->vport_epoll, evs, 64, -1), stop = 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int e = 0; e < n && !stop; e++) {
            struct sockaddr_in sa;
            socklen_t sl = sizeof(sa);
            int lfd, cfd;
            if (evs[e].data.u32 == 0) {
                char c[64];
                ssize_t k = read(al->wake[0], c, sizeof(c));
                for (ssize_t i = 0; i < k; i++)
                    stop |= c[i] == 'q';
                continue;
            }
            pthread_mutex_lock(&al->vport_mu);
            al->vport_work++;
            lfd = evs[e].data.u32 <= al->nvports ? al->vports[evs[e].data.u32 - 1].fd : -1;
            pthread_mutex_unlock(&al->vport_mu);
            if (lfd < 0)
                continue;
            cfd = accept4(lfd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);
            /* the daemon closes the socket when it cannot take it */
            if (cfd >= 0)
                (void)MHD_add_connection(al->daemon, cfd, (struct sockaddr *)&sa, sl);
        }
        if (stop)
            break;
    }
    return NULL;
}

/* Listens again on the port each vault name had (a restart over --data);
 * a port now taken gets a new one, and the vault's vaultUri says so (its
 * keys' stored URIs keep the old port until they change). Caller holds mu. */
static void vports_restore(struct armlocal *al)
{
    const char *k;
    json_t *v, *rec;

    json_object_foreach(vault_ports(al), k, v)
    {
        json_int_t port = json_integer_value(v);
        pthread_mutex_lock(&al->vport_mu);
        if (vport_find_name(al, k) == NULL &&
            (port <= 0 || port > 65535 || vport_open(al, k, (unsigned)port) == NULL)) {
            struct al_vport *nv = vport_open(al, k, 0);
            log_msg(LOG_WARN,
                    "armlocal: vault '%s' cannot listen on its port %lld again (%s); it moves "
                    "to port %u",
                    k, (long long)port, strerror(errno), nv ? nv->port : 0);
            if (nv) {
                json_integer_set(v, nv->port);
                al_store_touch(al, "vaultPorts", k);
            }
        }
        pthread_mutex_unlock(&al->vport_mu);
    }
    json_object_foreach(al_resources(al), k, rec)
    {
        json_t *b = json_object_get(rec, "body");
        const char *type = json_string_value(json_object_get(b, "type"));
        const char *name = json_string_value(json_object_get(b, "name"));
        const char *uri = json_string_value(al_jpath(b, "properties.vaultUri"));
        char base[600];
        if (type == NULL || name == NULL || strcasecmp(type, "Microsoft.KeyVault/vaults") != 0)
            continue;
        al_vault_base(al, name, base, sizeof(base));
        if (uri == NULL || strcmp(uri, base) != 0) {
            al_jpath_set_new(b, "properties.vaultUri", json_string(base));
            al_store_touch(al, "resources", k);
        }
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct armlocal *al = cls;
    struct pending *pd = *con_cls;
    struct kvlist *headers, *query;
    struct armlocal_request req;
    struct armlocal_response res;
    struct MHD_Response *r;
    enum MHD_Result ret;
    char vpath[4096];
    (void)version;

    if (pd == NULL) {
        pd = calloc(1, sizeof(*pd));
        if (pd == NULL)
            return MHD_NO;
        buf_init(&pd->body, ARMLOCAL_MAX_BODY);
        *con_cls = pd;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!pd->too_large && buf_add(&pd->body, upload_data, *upload_data_size) < 0) {
            pd->too_large = 1;
            buf_release(&pd->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    headers = calloc(1, sizeof(*headers));
    query = calloc(1, sizeof(*query));
    if (headers == NULL || query == NULL) {
        free(headers);
        free(query);
        return MHD_NO;
    }
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect, headers);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect, query);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = vault_path(al, conn, url, vpath, sizeof(vpath));
    req.headers = headers->kv;
    req.nheaders = headers->n;
    req.query = query->kv;
    req.nquery = query->n;
    req.body = pd->body.ptr;
    req.body_len = pd->body.len;
    req.body_too_large = pd->too_large;

    if (al->opts.latency_ms)
        sleep_ms(al->opts.latency_ms);
    armlocal_response_init(&res);
    armlocal_handle(al, &req, &res);
    free(headers);
    free(query);
    if (res.delay_ms)
        sleep_ms(res.delay_ms);
    if (res.drop_connection) {
        armlocal_response_release(&res);
        return MHD_NO;
    }
    r = MHD_create_response_from_buffer(res.body.len, res.body.ptr, MHD_RESPMEM_MUST_COPY);
    if (r == NULL) {
        armlocal_response_release(&res);
        return MHD_NO;
    }
    for (size_t i = 0; i < res.nheaders; i++)
        MHD_add_response_header(r, res.header_names[i], res.header_values[i]);
    ret = MHD_queue_response(conn, (unsigned)res.status, r);
    MHD_destroy_response(r);
    armlocal_response_release(&res);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct pending *pd = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (pd) {
        buf_release(&pd->body);
        free(pd);
        *con_cls = NULL;
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_msg(LOG_DEBUG, "armlocal: libmicrohttpd: %s", msg);
}

/* mkdir -p with mode 0700 for the directories it creates */
static int mkdir_p(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(path))
        return -1;
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int armlocal_create(struct armlocal **out, const struct armlocal_opts *opts, const char *base_url,
                    struct errbuf *err)
{
    struct armlocal *al = calloc(1, sizeof(*al));
    int rc = AMLSEC_ENOMEM;
    FILE *ur;

    *out = NULL;
    if (al == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    al->opts = *opts;
    al->log_fd = -1;
    pthread_mutex_init(&al->mu, NULL);
    pthread_cond_init(&al->flush_cond, NULL);
    snprintf(al->base_url, sizeof(al->base_url), "%s", base_url);
    al->rng_fault = opts->seed ^ 0x5eed;
    pthread_mutex_init(&al->vport_mu, NULL);
    al->wake[0] = al->wake[1] = -1;
    strmap_init(&al->vport_names, false);
    al->vport_epoll = epoll_create1(EPOLL_CLOEXEC);
    al->vport_of_port = calloc(65536, sizeof(*al->vport_of_port));
    al->log_by_verb = json_object();
    al->log_by_path = json_object();
    al->opts.faults = al->opts.policy_definitions_dir = al->opts.aliases_csv = NULL;
    al->opts.tls_cert = al->opts.tls_key = al->opts.data_dir = al->opts.listen_host = NULL;
    ur = fopen("/dev/urandom", "rb");
    if (ur == NULL || fread(al->token_key, 1, sizeof(al->token_key), ur) != sizeof(al->token_key)) {
        if (ur)
            fclose(ur);
        rc = errbuf_set(err, AMLSEC_EIO, "cannot read /dev/urandom");
        goto fail;
    }
    fclose(ur);
    if (opts->data_dir) {
        size_t n = strlen(opts->data_dir) + 32;
        if (mkdir_p(opts->data_dir) < 0) {
            rc = errbuf_set(err, AMLSEC_EIO, "cannot create data dir '%s': %s", opts->data_dir,
                            strerror(errno));
            goto fail;
        }
        al->data_dir = strdup(opts->data_dir);
        al->state_path = malloc(n);
        if (al->data_dir == NULL || al->state_path == NULL) {
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
            goto fail;
        }
        snprintf(al->state_path, n, "%s/armlocal.json", opts->data_dir);
    }
    if ((rc = al_store_load(al, err)) < 0)
        goto fail;
    al->opts.policy_definitions_dir = dup_or_null(opts->policy_definitions_dir);
    al->opts.aliases_csv = dup_or_null(opts->aliases_csv);
    if ((rc = al_policy_load(al, err)) < 0)
        goto fail;
    if (opts->faults && (rc = armlocal_faults_parse(al, opts->faults, err)) < 0) {
        errbuf_prefix(err, "--faults");
        goto fail;
    }
    *out = al;
    return 0;
fail:
    armlocal_free(al);
    return rc;
}

void armlocal_free(struct armlocal *al)
{
    if (al == NULL)
        return;
    al_flusher_stop(al);
    json_decref(al->state);
    json_decref(al->dirty_keys);
    json_decref(al->log_shadow);
    if (al->log_fd >= 0)
        close(al->log_fd);
    free(al->log_path);
    json_decref(al->graph_snapshot);
    for (size_t i = 0; i < sizeof(al->graph_cache) / sizeof(al->graph_cache[0]); i++) {
        free(al->graph_cache[i].key);
        json_decref(al->graph_cache[i].rows);
        json_decref(al->graph_cache[i].proj);
    }
    json_decref(al->pec_keys);
    json_decref(al->global_names);
    json_decref(al->lock_scopes);
    json_decref(al->ra_scopes);
    json_decref(al->pec_parents);
    json_decref(al->pec_by_pe);
    json_decref(al->ops_running);
    json_decref(al->by_anc);
    json_decref(al->key_serial);
    json_decref(al->ra_principals);
    json_decref(al->ra_principal_of);
    json_decref(al->log_by_verb);
    json_decref(al->log_by_path);
    json_decref(al->policy_defs);
    json_decref(al->aliases);
    al_identity_free(al);
    free(al->buckets);
    free(al->data_dir);
    free(al->state_path);
    free((char *)al->opts.policy_definitions_dir);
    free((char *)al->opts.aliases_csv);
    free(al->tls_cert_pem);
    free(al->tls_key_pem);
    for (size_t i = 0; i < al->nvports; i++)
        close(al->vports[i].fd);
    free(al->vports);
    free(al->vport_of_port);
    strmap_release(&al->vport_names);
    if (al->vport_epoll >= 0)
        close(al->vport_epoll);
    for (int i = 0; i < 2; i++)
        if (al->wake[i] >= 0)
            close(al->wake[i]);
    pthread_mutex_destroy(&al->vport_mu);
    pthread_cond_destroy(&al->flush_cond);
    pthread_mutex_destroy(&al->mu);
    free(al);
}

static int read_pem(char **out, const char *path, struct errbuf *err)
{
    struct buf b;
    int rc;
    buf_init(&b, (size_t)1 << 20);
    rc = file_read_all(&b, path, (size_t)1 << 20, err);
    if (rc < 0) {
        buf_release(&b);
        return rc;
    }
    *out = buf_detach(&b, NULL);
    return 0;
}

static struct MHD_Daemon *start_daemon(struct armlocal *al, unsigned flags,
                                       const struct sockaddr_in *sa)
{
    if (al->tls_cert_pem)
        return MHD_start_daemon(flags, 0, NULL, NULL, on_request, al, MHD_OPTION_SOCK_ADDR, sa,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, al,
                                MHD_OPTION_EXTERNAL_LOGGER, mhd_log, al, MHD_OPTION_HTTPS_MEM_CERT,
                                al->tls_cert_pem, MHD_OPTION_HTTPS_MEM_KEY, al->tls_key_pem,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, al, MHD_OPTION_SOCK_ADDR, sa,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, al,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, al, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)120, MHD_OPTION_END);
}

/* The port the last run in data_dir listened on (data_dir/port), 0 when none. */
static unsigned remembered_port(const char *data_dir)
{
    char path[4096];
    if (data_dir == NULL ||
        (size_t)snprintf(path, sizeof(path), "%s/port", data_dir) >= sizeof(path))
        return 0;
    return port_in_file(path);
}

static void remember_port(const char *data_dir, unsigned port)
{
    char path[4096], text[16];
    struct errbuf err = ERRBUF_INIT;
    int n = snprintf(text, sizeof(text), "%u\n", port);
    if ((size_t)snprintf(path, sizeof(path), "%s/port", data_dir) < sizeof(path))
        file_write_atomic(path, text, (size_t)n, 0600, &err); /* best effort */
}

int armlocal_start(struct armlocal **out, const struct armlocal_opts *opts, struct errbuf *err)
{
    struct armlocal *al = NULL;
    struct sockaddr_in sa;
    const char *host = opts->listen_host ? opts->listen_host : "127.0.0.1";
    /* poll(), not select(): a port per vault puts a large store's
     * descriptors past FD_SETSIZE, which select() cannot watch (every
     * connection past it was reset) */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    const union MHD_DaemonInfo *info;
    struct MHD_Daemon *d = NULL;
    char *cert = NULL, *key = NULL;
    int rc, tls = opts->tls_cert != NULL;
    unsigned remembered;

    *out = NULL;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)opts->port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return errbuf_set(err, AMLSEC_EUSAGE, "listen address '%s' is not an IPv4 address", host);
    if ((ntohl(sa.sin_addr.s_addr) >> 24) != 127)
        return errbuf_set(err, AMLSEC_EUSAGE,
                          "listen address '%s' is not loopback: the local cloud only listens "
                          "on 127.0.0.0/8",
                          host);
    if ((opts->tls_cert == NULL) != (opts->tls_key == NULL))
        return errbuf_set(err, AMLSEC_EUSAGE, "TLS needs both a certificate and a key");
    if (tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
            return errbuf_set(err, AMLSEC_EUSAGE,
                              "this libmicrohttpd was built without TLS support");
        if ((rc = read_pem(&cert, opts->tls_cert, err)) < 0 ||
            (rc = read_pem(&key, opts->tls_key, err)) < 0) {
            free(cert);
            return rc;
        }
        flags |= MHD_USE_TLS;
    }
    if ((rc = armlocal_create(&al, opts, "http://127.0.0.1:0", err)) < 0) {
        free(cert);
        free(key);
        return rc;
    }
    al->tls_cert_pem = cert;
    al->tls_key_pem = key;
    remembered = opts->remember_port && opts->port == 0 ? remembered_port(opts->data_dir) : 0;
    if (remembered) {
        sa.sin_port = htons((uint16_t)remembered);
        d = start_daemon(al, flags, &sa);
    }
    /* a port to remember: a kept one (see kept_port_pick) */
    for (int i = 0; d == NULL && opts->remember_port && opts->port == 0 && i < KEPT_PORT_TRIES;
         i++) {
        unsigned p = kept_port_pick();
        if (p == 0)
            break;
        sa.sin_port = htons((uint16_t)p);
        d = start_daemon(al, flags, &sa);
    }
    sa.sin_port = htons((uint16_t)opts->port);
    if (d == NULL)
        d = start_daemon(al, flags, &sa);
    if (d == NULL) {
        armlocal_free(al);
        return errbuf_set(err, AMLSEC_EIO,
                          "cannot listen on %s:%u (port in use, or bad TLS "
                          "certificate/key)",
                          host, opts->port);
    }
    al->daemon = d;
    if ((rc = al_flusher_start(al, err)) < 0) {
        MHD_stop_daemon(d);
        al->daemon = NULL;
        armlocal_free(al);
        return rc;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    al->port = info ? (unsigned)info->port : opts->port;
    snprintf(al->base_url, sizeof(al->base_url), "%s://%s:%u", tls ? "https" : "http", host,
             al->port);
    snprintf(al->listen_host, sizeof(al->listen_host), "%s", host);
    /* rewritten only when it changed: a read-only run (drift) leaves the
     * directory as it was */
    if (opts->remember_port && !opts->port_file_read_only && opts->data_dir && info &&
        info->port != remembered)
        remember_port(opts->data_dir, info->port);
    if (pipe2(al->wake, O_CLOEXEC | O_NONBLOCK) < 0 || al->vport_epoll < 0 ||
        epoll_ctl(al->vport_epoll, EPOLL_CTL_ADD, al->wake[0],
                  &(struct epoll_event){.events = EPOLLIN, .data.u32 = 0}) < 0 ||
        pthread_create(&al->acceptor, NULL, acceptor_main, al) != 0) {
        armlocal_stop(al);
        return errbuf_set(err, AMLSEC_EIO, "cannot start the vault acceptor: %s", strerror(errno));
    }
    al->acceptor_running = 1;
    pthread_mutex_lock(&al->mu);
    vports_restore(al);
    pthread_mutex_unlock(&al->mu);
    *out = al;
    return 0;
}

const char *armlocal_base_url(const struct armlocal *al)
{
    return al->base_url;
}

void armlocal_stop(struct armlocal *al)
{
    if (al == NULL)
        return;
    if (al->acceptor_running) {
        if (write(al->wake[1], "q", 1) < 0)
            log_msg(LOG_DEBUG, "armlocal: cannot wake the vault acceptor");
        pthread_join(al->acceptor, NULL);
        al->acceptor_running = 0;
    }
    if (al->daemon)
        MHD_stop_daemon(al->daemon);
    al->daemon = NULL;
    armlocal_free(al);
}
