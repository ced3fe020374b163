#include "providers/arm/graph.h"
#include "util/error.h"
#include "util/jsonw.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

#define GRAPH_URL "/providers/Microsoft.ResourceGraph/resources"
#define GRAPH_DEFAULT_QUOTA 15
#define PROJECTION GRAPH_PROJECTION

void graph_init(struct graph *g, struct arm_client *client)
{
    memset(g, 0, sizeof(*g));
    g->client = client;
}

static int quotable(const char *id)
{
    return id && *id && strpbrk(id, "'\\\n\r") == NULL;
}

#define AUTHZ_PROJECTION GRAPH_AUTHZ_PROJECTION

int graph_ids_query(struct buf *q, const char *table, const char *const *ids, size_t n)
{
    int authz = table && strcmp(table, GRAPH_TABLE_AUTHZ) == 0;
    if (buf_addf(q, "%s | where id in~ (", table ? table : GRAPH_TABLE_RESOURCES) < 0)
        return AMLSEC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!quotable(ids[i]))
            return AMLSEC_EUSAGE;
        if (buf_addf(q, "%s'%s'", i ? ", " : "", ids[i]) < 0)
            return AMLSEC_ENOMEM;
    }
    if (buf_adds(q, authz ? ") | project " AUTHZ_PROJECTION : ") | project " PROJECTION) < 0)
        return AMLSEC_ENOMEM;
    return 0;
}

/* The POST body of a query, written directly: a 1000-id query is some
 * 120 KB of text that a jansson tree would copy, check and escape twice. */
static char *request_body(const struct graph *g, const char *query, const char *skip_token)
{
    struct buf b;
    int rc;
    buf_init(&b, 0);
    rc = buf_addch(&b, '{');
    if (rc == 0 && g->n_subscriptions) {
        rc = buf_adds(&b, "\"subscriptions\":[");
        for (size_t i = 0; rc == 0 && i < g->n_subscriptions; i++)
            if ((i && buf_addch(&b, ',') < 0) ||
                jsonw_string(&b, g->subscriptions[i], strlen(g->subscriptions[i])) < 0)
                rc = AMLSEC_ENOMEM;
        if (rc == 0)
            rc = buf_adds(&b, "],");
    }
    if (rc == 0 && (buf_adds(&b, "\"query\":") < 0 || jsonw_string(&b, query, strlen(query)) < 0 ||
                    buf_addf(&b, ",\"options\":{\"$top\":%d,\"resultFormat\":\"objectArray\"",
                             GRAPH_MAX_BATCH) < 0))
        rc = AMLSEC_ENOMEM;
    if (rc == 0 && skip_token &&
        (buf_adds(&b, ",\"$skipToken\":") < 0 ||
         jsonw_string(&b, skip_token, strlen(skip_token)) < 0))
        rc = AMLSEC_ENOMEM;
    if (rc == 0)
        rc = buf_adds(&b, "}}");
    if (rc < 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

/* "hh:mm:ss" (a .NET TimeSpan: seconds may have a fraction) ->
 * milliseconds, rounded up; -1 if malformed. */
static int64_t parse_hms(const char *s)
{
    int h, m, sec, used = 0;
    int64_t ms, frac = 0, scale = 1000;
    if (s == NULL || sscanf(s, "%d:%d:%d%n", &h, &m, &sec, &used) != 3 || h < 0 || m < 0 || sec < 0)
        return -1;
    ms = ((int64_t)h * 3600 + m * 60 + sec) * 1000;
    if (s[used] == '.') {
        const char *p = s + used + 1;
        int64_t num = 0, den = 1;
        for (; *p >= '0' && *p <= '9' && den < 10000000; p++) {
            num = num * 10 + (*p - '0');
            den *= 10;
        }
        frac = (num * scale + den - 1) / den;
    }
    return ms + frac;
}

/* An answer's quota headers. The remaining count: the first answer of a
 * round replaces what the last round said, and within a round the lowest
 * count is the truth (answers arrive in any order). The reset: each
 * answer's arrival plus its resets-after is a time the window has surely
 * reset by (the header is whole seconds, rounded up); the earliest of the
 * window's answers is the one kept, so the wait is not the rounding of the
 * last answer (up to a second per window) but of the best one. An answer
 * arriving after that time belongs to a new window. */
static void note_quota(struct graph *g, const struct arm_call *c)
{
    struct arm_graph_quota *q = arm_client_graph_quota(g->client);
    const char *rem = arm_call_header(c, "x-ms-user-quota-remaining");
    const char *reset = arm_call_header(c, "x-ms-user-quota-resets-after");
    /* when the answer arrived, not when it is looked at (the answers of a
     * round are handed back in any order) */
    int64_t now = c->answered_at ? c->answered_at : arm_clock_now(arm_client_clock(g->client));
    int64_t wait = parse_hms(reset), at;
    char *end;
    long n;

    if (rem == NULL)
        return;
    n = strtol(rem, &end, 10);
    if (end == rem || *end != '\0' || n < 0)
        return;
    if (g->quota_fresh || q->remaining < 0 || n < q->remaining)
        q->remaining = n;
    g->quota_fresh = 0;
    if (c->status != 429 && n + 1 > q->limit)
        q->limit = n + 1;
    at = now + (wait >= 0 ? wait : 5000);
    if (q->reset_at == 0 || now >= q->reset_at || at < q->reset_at)
        q->reset_at = at;
}

/* Before a round of `want` queries: how many may go now (waits for the
 * quota window to reset when it is used up). */
static size_t quota_allows(struct graph *g, size_t want)
{
    struct arm_graph_quota *q = arm_client_graph_quota(g->client);
    const struct arm_clock *clock = arm_client_clock(g->client);
    int64_t now = arm_clock_now(clock);
    if (q->remaining == 0) {
        if (q->reset_at > now) {
            struct errbuf werr = ERRBUF_INIT;
            log_msg(LOG_DEBUG, "graph: quota used up, waiting %lld ms (%zu other calls meanwhile)",
                    (long long)(q->reset_at - now), arm_client_active(g->client));
            /* streamed work (background lists) goes on meanwhile; should
             * the client fail, its calls hold the error and the next round
             * meets it too */
            if (arm_client_drive(g->client, q->reset_at, &werr) < 0)
                log_msg(LOG_DEBUG, "graph: the client failed while waiting: %s", werr.msg);
        }
        q->remaining = -1; /* a fresh window: as large as the last */
    } else if (q->remaining > 0 && q->reset_at > 0 && now >= q->reset_at) {
        q->remaining = -1; /* the window reset meanwhile */
    }
    if (q->remaining > 0 && (size_t)q->remaining < want)
        return (size_t)q->remaining;
    /* Unknown: the largest window seen, else the documented example quota
     * (15 per 5 s window). */
    if (q->remaining < 0) {
        size_t limit = q->limit > 0 ? (size_t)q->limit : GRAPH_DEFAULT_QUOTA;
        if (want > limit)
            return limit;
    }
    return want;
}

struct page {
    char *query;
    char *skip;
    char *body;
    struct arm_call call; /* the request, copied into each round */
    int done;
};

static void page_prepare(struct graph *g, struct page *p)
{
    free(p->body);
    p->body = request_body(g, p->query, p->skip);
    memset(&p->call, 0, sizeof(p->call));
    p->call.method = "POST";
    p->call.url = GRAPH_URL;
    p->call.api_version = GRAPH_API_VERSION;
    p->call.body = p->body;
    p->call.flags = ARM_CALL_RETRY_POST | ARM_CALL_NO_LRO;
    p->call.rl = RL_READ;
    p->call.rl_set = 1;
}

/* Takes a page's answer: rows to sink(i, row) and the next skip token. */
static int page_take(struct page *p, const struct arm_call *call, json_t *rows, struct errbuf *err)
{
    json_error_t jerr;
    json_t *root = jsonw_loadb(call->response ? call->response : "", call->response_len, 0, &jerr);
    json_t *data, *row;
    const char *tok, *trunc;
    size_t i;

    if (!json_is_object(root)) {
        json_decref(root);
        return errbuf_set(err, AMLSEC_EPARSE, "Resource Graph answer is not JSON: %s", jerr.text);
    }
    data = json_object_get(root, "data");
    if (!json_is_array(data)) {
        json_decref(root);
        return errbuf_set(err, AMLSEC_EPARSE,
                          "Resource Graph answer without a 'data' array (objectArray)");
    }
    json_array_foreach(data, i, row)
    {
        if (json_is_object(row))
            json_array_append(rows, row);
    }
    tok = json_string_value(json_object_get(root, "$skipToken"));
    trunc = json_string_value(json_object_get(root, "resultTruncated"));
    free(p->skip);
    p->skip = tok ? strdup(tok) : NULL;
    if (tok && p->skip == NULL) {
        json_decref(root);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    if (!tok && trunc && strcasecmp(trunc, "true") == 0) {
        json_decref(root);
        return errbuf_set(err, AMLSEC_ERROR,
                          "Resource Graph truncated the result and gave no $skipToken");
    }
    p->done = tok == NULL;
    json_decref(root);
    return 0;
}

/* A page's call has its outcome: its quota headers, then its rows and next
 * skip token, or its error (the first error of a round is the one kept).
 * Releases the call. */
static int page_finish(struct graph *g, struct page *p, struct arm_call *call, json_t *rows,
                       long *status, int rc, struct errbuf *err)
{
    note_quota(g, call); /* 429s and errors carry the quota too */
    if (rc == 0 && call->rc < 0) {
        rc = call->rc;
        if (status)
            *status = call->status;
        errbuf_set(err, rc, "%s", call->err.msg);
    }
    if (rc == 0)
        rc = page_take(p, call, rows, err);
    arm_call_release(call);
    return rc;
}

/* Sends one round of page queries, calls[j] being the page which[j].
 * Each answer is taken (parsed) as soon as it arrives, while the service is
 * still working on the others: a 1000-row page costs both sides about the
 * same, so taking them one after another at the end would add the client's
 * work to the service's. When other calls stream through the client (an
 * apply in progress) they must not be handed back here: the round then
 * runs as a batch. */
static int run_round(struct graph *g, struct page *pages, const size_t *which,
                     struct arm_call *calls, size_t k, json_t **rows, long *status,
                     struct errbuf *err)
{
    size_t left = 0;
    int rc = 0;

    if (arm_client_active(g->client) != 0) {
        rc = arm_client_run(g->client, calls, k, err);
        for (size_t j = 0; j < k; j++)
            rc = page_finish(g, &pages[which[j]], &calls[j], rows[which[j]], status, rc, err);
        return rc;
    }
    for (size_t j = 0; j < k; j++) {
        if (arm_client_submit(g->client, &calls[j]) < 0) /* not queued: rc says why */
            rc = page_finish(g, &pages[which[j]], &calls[j], rows[which[j]], status, rc, err);
        else
            left++;
    }
    while (left > 0) {
        struct arm_call *done = NULL;
        struct errbuf nerr = ERRBUF_INIT;
        size_t j;
        /* a failed machinery hands every unfinished call back with its error */
        if (arm_client_next(g->client, -1, &done, &nerr) < 0 && rc == 0)
            rc = errbuf_set(err, nerr.code ? nerr.code : AMLSEC_ERROR, "%s", nerr.msg);
        if (done == NULL) {
            if (arm_client_active(g->client) == 0)
                break;
            continue;
        }
        left--;
        j = (size_t)(done - calls);
        rc = page_finish(g, &pages[which[j]], done, rows[which[j]], status, rc, err);
    }
    return rc;
}

/* Runs every page chain to its end, several chains at once. rows[i]
 * receives chain i's rows. */
static int run_pages(struct graph *g, struct page *pages, size_t n, json_t **rows, long *status,
                     struct errbuf *err)
{
    size_t *which = calloc(n ? n : 1, sizeof(*which));
    int rc = 0;

    if (which == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    for (;;) {
        size_t k = 0, allowed;
        struct arm_call *calls;
        for (size_t i = 0; i < n; i++)
            if (!pages[i].done)
                which[k++] = i;
        if (k == 0)
            break;
        allowed = quota_allows(g, k);
        if (allowed < k)
            k = allowed;
        calls = calloc(k, sizeof(*calls));
        if (calls == NULL) {
            rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
            break;
        }
        for (size_t j = 0; j < k; j++) {
            page_prepare(g, &pages[which[j]]);
            if (pages[which[j]].body == NULL) {
                free(calls);
                rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
                goto out;
            }
            calls[j] = pages[which[j]].call;
        }
        g->quota_fresh = 1;
        rc = run_round(g, pages, which, calls, k, rows, status, err);
        g->queries += (unsigned)k;
        free(calls);
        if (rc < 0)
            break;
    }
out:
    free(which);
    return rc;
}

int graph_query(struct graph *g, const char *query, json_t *rows, struct errbuf *err)
{
    struct page p;
    int rc;
    memset(&p, 0, sizeof(p));
    p.query = (char *)query;
    rc = run_pages(g, &p, 1, &rows, NULL, err);
    free(p.skip);
    free(p.body);
    return rc;
}

int graph_query_many(struct graph *g, const char *const *queries, size_t n, json_t **rows,
                     struct errbuf *err)
{
    struct page *pages = calloc(n ? n : 1, sizeof(*pages));
    int rc;
    if (pages == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        pages[i].query = (char *)queries[i];
    rc = run_pages(g, pages, n, rows, NULL, err);
    for (size_t i = 0; i < n; i++) {
        free(pages[i].skip);
        free(pages[i].body);
    }
    free(pages);
    return rc;
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

int graph_read_ids(struct graph *g, const char *const *ids, size_t n, json_t **out, long *status,
                   struct errbuf *err)
{
    size_t batch = g->batch && g->batch <= GRAPH_MAX_BATCH ? g->batch : GRAPH_MAX_BATCH;
    size_t nb = 0;
    const char **quoted = NULL;
    size_t *orig = NULL, nq = 0;
    struct page *pages = NULL;
    json_t **rows = NULL, *index = NULL;
    int rc = AMLSEC_ENOMEM;

    if (status)
        *status = 0;
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    if (n == 0)
        return 0;
    quoted = calloc(n, sizeof(*quoted));
    orig = calloc(n, sizeof(*orig));
    index = json_object();
    if (!quoted || !orig || !index)
        goto oom;
    /* index: lowercase id -> position in ids (first occurrence) */
    for (size_t i = 0; i < n; i++) {
        char key[2048];
        if (!quotable(ids[i]) || strlen(ids[i]) >= sizeof(key))
            continue;
        snprintf(key, sizeof(key), "%s", ids[i]);
        lower(key);
        if (json_object_get(index, key))
            continue;
        if (json_object_set_new(index, key, json_integer((json_int_t)i)) < 0)
            goto oom;
        quoted[nq] = ids[i];
        orig[nq++] = i;
    }
    nb = (nq + batch - 1) / batch;
    pages = calloc(nb ? nb : 1, sizeof(*pages));
    rows = calloc(nb ? nb : 1, sizeof(*rows));
    if (!pages || !rows)
        goto oom;
    for (size_t b = 0; b < nb; b++) {
        struct buf q;
        size_t from = b * batch, cnt = nq - from < batch ? nq - from : batch;
        buf_init(&q, 0);
        if (graph_ids_query(&q, g->table, quoted + from, cnt) < 0) {
            buf_release(&q);
            goto oom;
        }
        pages[b].query = buf_detach(&q, NULL);
        rows[b] = json_array();
        if (pages[b].query == NULL || rows[b] == NULL)
            goto oom;
    }
    /* The first query alone, so that a refusal (too long a query) costs
     * one request; then the rest at once. All at once when this batch size
     * was accepted before (a later read through the same provider). */
    if (g->batch_known) {
        rc = run_pages(g, pages, nb, rows, status, err);
    } else {
        rc = run_pages(g, pages, nb ? 1 : 0, rows, status, err);
        if (rc == 0 && nb > 1)
            rc = run_pages(g, pages + 1, nb - 1, rows + 1, status, err);
    }
    if (rc < 0 && status && *status == 400 && batch > GRAPH_MIN_BATCH) {
        /* Too long a query for this service (armlocal's KQL lexer, or a
         * query-length limit): halve the batch and try again. The size
         * that worked stays in g->batch for later reads. */
        log_msg(LOG_DEBUG, "graph: %zu ids per query refused (%s); trying %zu", batch, err->msg,
                batch / 2);
        for (size_t b = 0; b < nb; b++) {
            free(pages[b].query);
            free(pages[b].skip);
            free(pages[b].body);
            json_decref(rows[b]);
        }
        free(pages);
        free(rows);
        free(quoted);
        free(orig);
        json_decref(index);
        g->batch = (unsigned)(batch / 2);
        g->batch_known = 0;
        return graph_read_ids(g, ids, n, out, status, err);
    }
    if (rc < 0)
        goto out;
    for (size_t b = 0; b < nb; b++) {
        size_t i;
        json_t *row;
        json_array_foreach(rows[b], i, row)
        {
            const char *id = json_string_value(json_object_get(row, "id"));
            char key[2048];
            json_t *pos;
            if (id == NULL || strlen(id) >= sizeof(key))
                continue;
            snprintf(key, sizeof(key), "%s", id);
            lower(key);
            pos = json_object_get(index, key);
            if (pos && out[json_integer_value(pos)] == NULL)
                out[json_integer_value(pos)] = json_incref(row);
        }
    }
    /* duplicates of an id get the same row */
    for (size_t i = 0; i < n; i++) {
        char key[2048];
        json_t *pos;
        if (out[i] || !quotable(ids[i]) || strlen(ids[i]) >= sizeof(key))
            continue;
        snprintf(key, sizeof(key), "%s", ids[i]);
        lower(key);
        pos = json_object_get(index, key);
        if (pos && out[json_integer_value(pos)])
            out[i] = json_incref(out[json_integer_value(pos)]);
    }
    log_msg(LOG_DEBUG, "graph: %zu ids in %zu queries", n, nb);
    g->batch_known = 1;
    rc = 0;
    goto out;
oom:
    rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
out:
    if (rc < 0)
        for (size_t i = 0; i < n; i++) {
            json_decref(out[i]);
            out[i] = NULL;
        }
    for (size_t b = 0; pages && b < nb; b++) {
        free(pages[b].query);
        free(pages[b].skip);
        free(pages[b].body);
        json_decref(rows ? rows[b] : NULL);
    }
    free(pages);
    free(rows);
    free(quoted);
    free(orig);
    json_decref(index);
    return rc;
}
