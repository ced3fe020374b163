#include "providers/provider.h"
#include "util/error.h"

#include <string.h>

#include "util/banned.h"

void provider_result_release(struct provider_result *r)
{
    json_decref(r->body);
    memset(r, 0, sizeof(*r));
}

void provider_results_release(struct provider_result *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        provider_result_release(&r[i]);
}

int provider_read_many(struct provider *p, const struct provider_ref *refs, size_t n,
                       unsigned flags, struct provider_result *out, struct errbuf *err)
{
    return p->ops->read_many(p, refs, n, flags, out, err);
}

int provider_reread(struct provider *p, const struct provider_ref *ref, struct provider_result *out)
{
    struct errbuf err = ERRBUF_INIT;
    int rc = p->ops->read_many(p, ref, 1, PROVIDER_READ_FRESH, out, &err);
    return rc < 0 ? rc : out->rc;
}

int provider_write_many(struct provider *p, const struct provider_write *writes, size_t n,
                        struct provider_result *out, struct errbuf *err)
{
    return p->ops->write_many(p, writes, n, out, err);
}

int provider_write_start(struct provider *p, const struct provider_write *w, void *tag,
                         struct errbuf *err)
{
    return p->ops->write_start(p, w, tag, err);
}

int provider_write_next(struct provider *p, int64_t timeout_ms, void **tag,
                        struct provider_result *out, struct errbuf *err)
{
    return p->ops->write_next(p, timeout_ms, tag, out, err);
}

void provider_write_abandon(struct provider *p)
{
    p->ops->write_abandon(p);
}

static int write_one(struct provider *p, enum provider_verb verb, const struct provider_ref *ref,
                     const json_t *body, struct provider_result *out)
{
    struct provider_write w = {verb, *ref, body, 0, NULL, NULL, NULL};
    struct errbuf err = ERRBUF_INIT;
    int rc = p->ops->write_many(p, &w, 1, out, &err);
    return rc < 0 ? rc : out->rc;
}

int provider_create(struct provider *p, const struct provider_ref *ref, const json_t *body,
                    struct provider_result *out)
{
    return write_one(p, PROVIDER_CREATE, ref, body, out);
}

int provider_update(struct provider *p, const struct provider_ref *ref, const json_t *patch,
                    struct provider_result *out)
{
    return write_one(p, PROVIDER_UPDATE, ref, patch, out);
}

int provider_delete(struct provider *p, const struct provider_ref *ref, struct provider_result *out)
{
    return write_one(p, PROVIDER_DELETE, ref, NULL, out);
}

int provider_list(struct provider *p, const char *scope, const char *type, json_t **out,
                  struct errbuf *err)
{
    return p->ops->list(p, scope, type, out, err);
}

int provider_list_url(struct provider *p, const char *path, const char *api_version, json_t **out,
                      struct errbuf *err)
{
    return p->ops->list_url(p, path, api_version, out, err);
}

void provider_free(struct provider *p)
{
    if (p)
        p->ops->free(p);
}
