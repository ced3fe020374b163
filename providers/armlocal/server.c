/* armlocal's lifecycle and the libmicrohttpd adapter: one thread per
 * connection, each request collected (body capped at 4 MiB) and passed to
 * armlocal_handle. */
#include "providers/armlocal/al_internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    req.path = url;
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
    pthread_mutex_init(&al->mu, NULL);
    pthread_cond_init(&al->flush_cond, NULL);
    snprintf(al->base_url, sizeof(al->base_url), "%s", base_url);
    al->rng_fault = opts->seed ^ 0x5eed;
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
    json_decref(al->graph_snapshot);
    json_decref(al->pec_keys);
    json_decref(al->global_names);
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
    struct buf b;
    struct errbuf err = ERRBUF_INIT;
    unsigned long port = 0;
    if (data_dir == NULL ||
        (size_t)snprintf(path, sizeof(path), "%s/port", data_dir) >= sizeof(path))
        return 0;
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
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;
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
        sa.sin_port = 0;
    }
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
    snprintf(al->base_url, sizeof(al->base_url), "%s://%s:%u", tls ? "https" : "http", host,
             info ? (unsigned)info->port : opts->port);
    if (opts->remember_port && opts->data_dir && info)
        remember_port(opts->data_dir, info->port);
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
    if (al->daemon)
        MHD_stop_daemon(al->daemon);
    al->daemon = NULL;
    armlocal_free(al);
}
