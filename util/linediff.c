#include "util/linediff.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/hash.h"
#include "util/banned.h"

struct dline {
    const char *s;
    size_t len; /* without the newline */
    uint64_t hash;
    bool no_eol; /* the last line, without a final newline */
};

enum op_kind { OP_KEEP, OP_DEL, OP_ADD };

struct op {
    enum op_kind kind;
    size_t ai, bi; /* line index in a (KEEP, DEL) and b (KEEP, ADD) */
};

static struct dline *split(const char *s, size_t len, size_t *n)
{
    size_t count = 0, k = 0;
    struct dline *v;
    for (size_t i = 0; i < len; i++)
        count += s[i] == '\n';
    if (len && s[len - 1] != '\n')
        count++;
    v = calloc(count ? count : 1, sizeof(*v));
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - s) : len;
        v[k].s = s + i;
        v[k].len = end - i;
        v[k].hash = hash_bytes(v[k].s, v[k].len, 0);
        v[k].no_eol = nl == NULL;
        k++;
        i = end + 1;
    }
    *n = count;
    return v;
}

static bool same(const struct dline *x, const struct dline *y)
{
    return x->hash == y->hash && x->len == y->len && x->no_eol == y->no_eol &&
           memcmp(x->s, y->s, x->len) == 0;
}

struct ops {
    struct op *v;
    size_t n, cap;
};

static int ops_add(struct ops *o, enum op_kind kind, size_t ai, size_t bi)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        struct op *g = realloc(o->v, cap * sizeof(*g));
        if (g == NULL)
            return AMLSEC_ENOMEM;
        o->v = g;
        o->cap = cap;
    }
    o->v[o->n].kind = kind;
    o->v[o->n].ai = ai;
    o->v[o->n].bi = bi;
    o->n++;
    return 0;
}

/* Myers' greedy algorithm over a[0..n) and b[0..m), keeping each round's
 * frontier (k in [-d, d]) to walk back. Appends the ops in reverse order.
 * Returns 1 when the distance exceeds LINEDIFF_MAX_EDITS. */
static int myers(struct ops *rev, const struct dline *a, size_t n, const struct dline *b, size_t m,
                 size_t a0, size_t b0)
{
    long max = (long)(n + m), dmax = max < LINEDIFF_MAX_EDITS ? max : LINEDIFF_MAX_EDITS;
    long *v = calloc((size_t)(2 * dmax + 3), sizeof(*v));
    long *trace = NULL;
    size_t trace_len = 0, trace_cap = 0;
    long d, found = -1;
    int rc = 0;

    if (v == NULL)
        return AMLSEC_ENOMEM;
    v += dmax + 1; /* v[k] for k in [-dmax-1, dmax+1] */
    for (d = 0; d <= dmax && found < 0; d++) {
        /* save the frontier before round d: k in [-d, d] at offset d*d;
         * the trace grows with the distance found, not the input size */
        if (trace_len + (size_t)(2 * d + 1) > trace_cap) {
            size_t cap = trace_cap ? trace_cap * 2 : 1024;
            long *g;
            while (cap < trace_len + (size_t)(2 * d + 1))
                cap *= 2;
            g = realloc(trace, cap * sizeof(*trace));
            if (g == NULL) {
                rc = AMLSEC_ENOMEM;
                goto out;
            }
            trace = g;
            trace_cap = cap;
        }
        memcpy(trace + trace_len, v - d, (size_t)(2 * d + 1) * sizeof(*v));
        trace_len += (size_t)(2 * d + 1);
        for (long k = -d; k <= d; k += 2) {
            long x, y;
            if (k == -d || (k != d && v[k - 1] < v[k + 1]))
                x = v[k + 1];
            else
                x = v[k - 1] + 1;
            y = x - k;
            while (x < (long)n && y < (long)m && same(&a[x], &b[y])) {
                x++;
                y++;
            }
            v[k] = x;
            if (x >= (long)n && y >= (long)m) {
                found = d;
                break;
            }
        }
    }
    if (found < 0) {
        rc = 1;
        goto out;
    }
    {
        long x = (long)n, y = (long)m;
        for (d = found; d >= 0 && rc == 0; d--) {
            const long *tv = trace + d * d + d; /* tv[k], k in [-d, d] */
            long k = x - y, pk, px, py;
            if (d == 0) {
                pk = 0;
                px = 0;
            } else {
                pk = (k == -d || (k != d && tv[k - 1] < tv[k + 1])) ? k + 1 : k - 1;
                px = tv[pk];
            }
            py = px - pk;
            if (d > 0) {
                /* the move from round d-1 lands at (sx, sy), then a snake */
                long sx = pk == k + 1 ? px : px + 1;
                long sy = sx - k;
                while (x > sx && y > sy && rc == 0) {
                    x--;
                    y--;
                    rc = ops_add(rev, OP_KEEP, a0 + (size_t)x, b0 + (size_t)y);
                }
                if (rc == 0 && pk == k + 1)
                    rc = ops_add(rev, OP_ADD, a0 + (size_t)px, b0 + (size_t)py);
                else if (rc == 0)
                    rc = ops_add(rev, OP_DEL, a0 + (size_t)px, b0 + (size_t)py);
            } else {
                while (x > 0 && y > 0 && rc == 0) {
                    x--;
                    y--;
                    rc = ops_add(rev, OP_KEEP, a0 + (size_t)x, b0 + (size_t)y);
                }
            }
            x = px;
            y = py;
        }
    }
out:
    free(trace);
    free(v - dmax - 1);
    return rc;
}

static void line_out(struct buf *out, char tag, const struct dline *l)
{
    buf_addch(out, tag);
    buf_add(out, l->s, l->len);
    buf_addch(out, '\n');
    if (l->no_eol)
        buf_adds(out, "\\ No newline at end of file\n");
}

static void range_out(struct buf *out, char tag, size_t start, size_t len)
{
    /* GNU diff: a range of one line omits its length; an empty range
     * names the line before it */
    if (len == 1)
        buf_addf(out, "%c%zu", tag, start + 1);
    else
        buf_addf(out, "%c%zu,%zu", tag, len ? start + 1 : start, len);
}

static void hunks_out(struct buf *out, const struct ops *o, const struct dline *a,
                      const struct dline *b, int context)
{
    size_t ctx = context < 0 ? 0 : (size_t)context;
    size_t i = 0;
    while (i < o->n) {
        size_t first, last, end, an = 0, bn = 0, as, bs;
        while (i < o->n && o->v[i].kind == OP_KEEP)
            i++;
        if (i == o->n)
            break;
        first = i >= ctx ? i - ctx : 0;
        /* extend while the next change is within 2*ctx kept lines */
        last = i;
        for (size_t j = i; j < o->n; j++) {
            if (o->v[j].kind != OP_KEEP)
                last = j;
            else if (j - last > 2 * ctx)
                break;
        }
        end = last + ctx + 1 < o->n ? last + ctx + 1 : o->n;
        as = o->v[first].ai;
        bs = o->v[first].bi;
        for (size_t j = first; j < end; j++) {
            an += o->v[j].kind != OP_ADD;
            bn += o->v[j].kind != OP_DEL;
        }
        buf_adds(out, "@@ ");
        range_out(out, '-', as, an);
        buf_addch(out, ' ');
        range_out(out, '+', bs, bn);
        buf_adds(out, " @@\n");
        for (size_t j = first; j < end; j++) {
            const struct op *p = &o->v[j];
            if (p->kind == OP_KEEP)
                line_out(out, ' ', &a[p->ai]);
            else if (p->kind == OP_DEL)
                line_out(out, '-', &a[p->ai]);
            else
                line_out(out, '+', &b[p->bi]);
        }
        i = end;
    }
}

int linediff_unified(struct buf *out, const char *a, size_t alen, const char *b, size_t blen,
                     const char *a_name, const char *b_name, int context)
{
    struct dline *la = NULL, *lb = NULL;
    size_t na = 0, nb = 0, head = 0, tail = 0;
    struct ops rev = {NULL, 0, 0}, ops = {NULL, 0, 0};
    int rc = AMLSEC_ENOMEM;

    if (alen == blen && memcmp(a, b, alen) == 0)
        return 0;
    la = split(a, alen, &na);
    lb = split(b, blen, &nb);
    if (la == NULL || lb == NULL)
        goto out;
    while (head < na && head < nb && same(&la[head], &lb[head]))
        head++;
    while (tail < na - head && tail < nb - head && same(&la[na - 1 - tail], &lb[nb - 1 - tail]))
        tail++;
    /* ops in order: head, middle (reversed from myers), tail */
    for (size_t i = 0; i < head; i++)
        if (ops_add(&ops, OP_KEEP, i, i) < 0)
            goto out;
    rc = myers(&rev, la + head, na - head - tail, lb + head, nb - head - tail, head, head);
    if (rc < 0)
        goto out;
    if (rc == 1) {
        /* too different: delete the whole middle, add the new one */
        rev.n = 0;
        for (size_t i = nb - tail; i > head; i--)
            if (ops_add(&rev, OP_ADD, na - tail, i - 1) < 0)
                goto out;
        for (size_t i = na - tail; i > head; i--)
            if (ops_add(&rev, OP_DEL, i - 1, head) < 0)
                goto out;
    }
    rc = AMLSEC_ENOMEM;
    for (size_t i = rev.n; i > 0; i--)
        if (ops_add(&ops, rev.v[i - 1].kind, rev.v[i - 1].ai, rev.v[i - 1].bi) < 0)
            goto out;
    for (size_t i = 0; i < tail; i++)
        if (ops_add(&ops, OP_KEEP, na - tail + i, nb - tail + i) < 0)
            goto out;
    buf_addf(out, "--- %s\n+++ %s\n", a_name, b_name);
    hunks_out(out, &ops, la, lb, context);
    rc = 0;
out:
    free(la);
    free(lb);
    free(rev.v);
    free(ops.v);
    return rc;
}
