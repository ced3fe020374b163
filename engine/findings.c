#include "engine/findings.h"

#include <stdlib.h>
#include <string.h>

#include "engine/rules.h"
#include "util/error.h"
#include "util/banned.h"

void finding_list_init(struct finding_list *l)
{
    memset(l, 0, sizeof(*l));
}

void finding_list_release(struct finding_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        struct finding *f = &l->items[i];
        free(f->rule_id);
        free(f->rule_name);
        free(f->effect);
        free(f->verdict);
        free(f->address);
        free(f->arm_id);
        free(f->file);
        free(f->message);
        free(f->attribute);
        free(f->path);
        json_decref(f->value);
        json_decref(f->changes);
        free(f->help);
        free(f->help_uri);
    }
    free(l->items);
    memset(l, 0, sizeof(*l));
}

struct finding *finding_add(struct finding_list *l, enum finding_source source,
                            enum finding_level level, const char *rule_id, const char *message)
{
    struct finding *f;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct finding *items = realloc(l->items, cap * sizeof(*items));
        if (items == NULL)
            return NULL;
        l->items = items;
        l->cap = cap;
    }
    f = &l->items[l->n];
    memset(f, 0, sizeof(*f));
    f->source = source;
    f->level = level;
    f->rule_id = strdup(rule_id ? rule_id : "");
    f->message = strdup(message ? message : "");
    if (f->rule_id == NULL || f->message == NULL) {
        free(f->rule_id);
        free(f->message);
        return NULL;
    }
    l->n++;
    l->count[level]++;
    return f;
}

int finding_list_append(struct finding_list *dst, struct finding_list *src)
{
    if (dst->n + src->n > dst->cap) {
        size_t cap = dst->n + src->n;
        struct finding *items = realloc(dst->items, cap * sizeof(*items));
        if (items == NULL)
            return AMLSEC_ENOMEM;
        dst->items = items;
        dst->cap = cap;
    }
    if (src->n)
        memcpy(dst->items + dst->n, src->items, src->n * sizeof(*src->items));
    dst->n += src->n;
    for (int lv = 0; lv <= FINDING_PASS; lv++)
        dst->count[lv] += src->count[lv];
    free(src->items);
    memset(src, 0, sizeof(*src));
    return 0;
}

void finding_set_loc(struct finding *f, const struct src_loc *loc)
{
    struct src_pos a, b;
    if (loc == NULL || loc->file == NULL)
        return;
    a = src_loc_start(loc);
    b = src_loc_stop(loc);
    free(f->file);
    f->file = strdup(loc->file->name);
    f->line = a.line;
    f->col = a.col;
    f->end_line = b.line;
    f->end_col = b.col;
}

enum finding_level finding_level_of(enum diag_severity sev)
{
    return sev == DIAG_ERROR ? FINDING_DENY : sev == DIAG_WARNING ? FINDING_AUDIT : FINDING_INFO;
}

const char *finding_level_name(enum finding_level lv)
{
    static const char *const names[] = {"deny", "audit", "info", "pass"};
    return lv <= FINDING_PASS ? names[lv] : "info";
}

const char *finding_source_name(enum finding_source s)
{
    static const char *const names[] = {"rule", "policy", "drift", "config"};
    return s <= FINDING_CONFIG ? names[s] : "config";
}

static const char *severity_word(enum diag_severity s)
{
    return s == DIAG_ERROR ? "error" : s == DIAG_WARNING ? "warning" : "note";
}

int findings_from_diags(struct finding_list *l, const struct diag_list *diags)
{
    for (size_t i = 0; i < diags->n; i++) {
        const struct diag *d = &diags->items[i];
        const struct rule *r = rules_find(d->code);
        struct finding *f = finding_add(l, r ? FINDING_RULE : FINDING_CONFIG,
                                        finding_level_of(d->severity), d->code, d->message);
        if (f == NULL)
            return AMLSEC_ENOMEM;
        finding_set_loc(f, &d->loc);
        f->effect = strdup(severity_word(d->severity));
        if (r) {
            size_t n = strlen(r->why) + strlen(r->fix) + 16;
            f->rule_name = strdup(r->title);
            f->help = malloc(n);
            if (f->help)
                snprintf(f->help, n, "%s. Fix: %s.", r->why, r->fix);
        } else if (d->hint) {
            f->help = strdup(d->hint);
        }
    }
    return 0;
}

static int strcmp_null(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int cmp(const void *pa, const void *pb)
{
    const struct finding *a = pa, *b = pb;
    int r = strcmp_null(a->file, b->file);
    if (r)
        return r;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    if ((r = strcmp_null(a->address, b->address)) != 0)
        return r;
    if ((r = strcmp_null(a->rule_id, b->rule_id)) != 0)
        return r;
    return (int)a->level - (int)b->level;
}

void finding_list_sort(struct finding_list *l)
{
    if (l->n > 1)
        qsort(l->items, l->n, sizeof(l->items[0]), cmp);
}

json_t *finding_to_json(const struct finding *f)
{
    json_t *o = json_object();
    json_object_set_new(o, "source", json_string(finding_source_name(f->source)));
    json_object_set_new(o, "level", json_string(finding_level_name(f->level)));
    json_object_set_new(o, "rule_id", json_string(f->rule_id));
    json_object_set_new(o, "rule_name", f->rule_name ? json_string(f->rule_name) : json_null());
    json_object_set_new(o, "effect", f->effect ? json_string(f->effect) : json_null());
    json_object_set_new(o, "verdict", f->verdict ? json_string(f->verdict) : json_null());
    json_object_set_new(o, "address", f->address ? json_string(f->address) : json_null());
    json_object_set_new(o, "arm_id", f->arm_id ? json_string(f->arm_id) : json_null());
    json_object_set_new(o, "message", json_string(f->message));
    if (f->file)
        json_object_set_new(o, "location",
                            json_pack("{s:s, s:I, s:I, s:I, s:I}", "file", f->file, "line",
                                      (json_int_t)f->line, "column", (json_int_t)f->col, "end_line",
                                      (json_int_t)f->end_line, "end_column",
                                      (json_int_t)f->end_col));
    else
        json_object_set_new(o, "location", json_null());
    if (f->attribute || f->path || f->value)
        json_object_set_new(o, "evidence",
                            json_pack("{s:s?, s:s?, s:O?}", "attribute", f->attribute, "path",
                                      f->path, "value", f->value));
    else
        json_object_set_new(o, "evidence", json_null());
    if (f->changes)
        json_object_set(o, "changes", f->changes);
    return o;
}

/* A resource's block: sorted by file, start and resource, so the block
 * holding a finding is found by binary search (top-level blocks never
 * overlap; a child a block declares shares it and comes after it). */
struct block_span {
    const char *file, *address;
    struct src_pos a, b;
    size_t res;
};

static int pos_cmp(unsigned line, unsigned col, const struct src_pos *p)
{
    if (line != p->line)
        return line < p->line ? -1 : 1;
    return col < p->col ? -1 : col > p->col;
}

static int block_span_cmp(const void *x, const void *y)
{
    const struct block_span *s = x, *t = y;
    int c = strcmp(s->file, t->file);
    if (c == 0)
        c = pos_cmp(s->a.line, s->a.col, &t->a);
    if (c == 0)
        c = s->res < t->res ? -1 : s->res > t->res;
    return c;
}

size_t findings_address_by_block(struct finding_list *l, const struct config *cfg)
{
    struct block_span *spans;
    size_t n = 0, work = 0;

    if (cfg == NULL || cfg->nresources == 0)
        return 0;
    spans = calloc(cfg->nresources, sizeof(*spans));
    if (spans == NULL)
        return 0;
    for (size_t ri = 0; ri < cfg->nresources; ri++) {
        const struct cfg_resource *res = &cfg->resources[ri];
        if (res->block == NULL || res->block->loc.file == NULL)
            continue;
        spans[n].file = res->block->loc.file->name;
        spans[n].address = res->address;
        spans[n].a = src_loc_start(&res->block->loc);
        spans[n].b = src_loc_stop(&res->block->loc);
        spans[n].res = ri;
        n++;
    }
    qsort(spans, n, sizeof(*spans), block_span_cmp);
    for (size_t i = 0; i < l->n; i++) {
        struct finding *f = &l->items[i];
        size_t lo = 0, hi = n; /* the first block that starts after the finding */
        const struct block_span *sp;
        if (f->address || f->file == NULL)
            continue;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = strcmp(spans[mid].file, f->file);
            work++;
            if (c < 0 || (c == 0 && pos_cmp(f->line, f->col, &spans[mid].a) >= 0))
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == 0)
            continue;
        sp = &spans[lo - 1];
        /* the first resource of the block (a declared child comes later) */
        while (sp > spans && strcmp(sp[-1].file, sp->file) == 0 &&
               pos_cmp(sp[-1].a.line, sp[-1].a.col, &sp->a) == 0) {
            work++;
            sp--;
        }
        if (strcmp(sp->file, f->file) == 0 && pos_cmp(f->line, f->col, &sp->b) <= 0)
            f->address = strdup(sp->address);
    }
    free(spans);
    return work;
}
