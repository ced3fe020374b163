#include "parser/diag.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

#include "util/banned.h"

void diag_list_init(struct diag_list *l)
{
    memset(l, 0, sizeof(*l));
    l->max_errors = DIAG_MAX_ERRORS;
}

static void diag_release(struct diag *d)
{
    free(d->code);
    free(d->message);
    if (!d->hint_borrowed)
        free(d->hint);
    for (size_t k = 0; k < d->nnotes; k++)
        if (!d->notes[k].borrowed)
            free(d->notes[k].message);
    free(d->notes);
}

/* Open addressing over positions in items: a slot holds position + 1 (0 is
 * empty) and the key's hash, so a probe and a rehash read no diagnostic
 * whose hash differs; kept at most half full. */
struct diag_slot {
    size_t pos1;
    uint64_t hash;
};

struct diag_index {
    size_t cap; /* a power of two */
    struct diag_slot slots[];
};

static void index_drop(struct diag_list *l)
{
    free(l->index);
    l->index = NULL;
    l->indexed = 0;
}

void diag_list_release(struct diag_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        diag_release(&l->items[i]);
    free(l->items);
    free(l->index);
    diag_list_init(l);
}

static uint64_t diag_key(const struct src_loc *loc, const char *code, const char *msg)
{
    uint64_t h = hash_bytes(&loc->file, sizeof(loc->file), loc->begin);
    h = hash_bytes(code, strlen(code), h);
    return hash_bytes(msg, strlen(msg), h);
}

static bool same(const struct diag *d, const struct src_loc *loc, const char *code, const char *msg)
{
    return d->loc.file == loc->file && d->loc.begin == loc->begin && strcmp(d->code, code) == 0 &&
           strcmp(d->message, msg) == 0;
}

static void index_put(struct diag_index *ix, size_t pos1, uint64_t hash)
{
    size_t i = (size_t)hash & (ix->cap - 1);
    while (ix->slots[i].pos1)
        i = (i + 1) & (ix->cap - 1);
    ix->slots[i] = (struct diag_slot){pos1, hash};
}

/* Indexes items[indexed, n); false when memory ran out. A larger table
 * takes the slots of the smaller one as they are (their hashes kept). */
static bool index_catch_up(struct diag_list *l)
{
    if (l->index == NULL || 2 * l->n > l->index->cap) {
        size_t cap = l->index ? l->index->cap : 64;
        struct diag_index *ix;
        while (2 * l->n > cap)
            cap *= 2;
        ix = calloc(1, sizeof(*ix) + cap * sizeof(ix->slots[0]));
        if (ix == NULL)
            return false;
        ix->cap = cap;
        for (size_t i = 0; l->index && i < l->index->cap; i++)
            if (l->index->slots[i].pos1)
                index_put(ix, l->index->slots[i].pos1, l->index->slots[i].hash);
        free(l->index);
        l->index = ix;
    }
    for (; l->indexed < l->n; l->indexed++) {
        const struct diag *d = &l->items[l->indexed];
        index_put(l->index, l->indexed + 1, diag_key(&d->loc, d->code, d->message));
    }
    return true;
}

static bool list_has(struct diag_list *l, const struct src_loc *loc, const char *code,
                     const char *msg, bool span)
{
    uint64_t h;
    if (!index_catch_up(l)) {
        for (size_t i = 0; i < l->n; i++) {
            l->compared++;
            if (same(&l->items[i], loc, code, msg) && (!span || l->items[i].loc.end == loc->end))
                return true;
        }
        return false;
    }
    h = diag_key(loc, code, msg);
    for (size_t i = (size_t)h & (l->index->cap - 1); l->index->slots[i].pos1;
         i = (i + 1) & (l->index->cap - 1)) {
        const struct diag *d = &l->items[l->index->slots[i].pos1 - 1];
        if (l->index->slots[i].hash != h)
            continue;
        l->compared++;
        if (same(d, loc, code, msg) && (!span || d->loc.end == loc->end))
            return true;
    }
    return false;
}

bool diag_list_has(struct diag_list *l, const struct src_loc *loc, const char *code,
                   const char *msg)
{
    return list_has(l, loc, code, msg, false);
}

bool diag_list_has_span(struct diag_list *l, const struct src_loc *loc, const char *code,
                        const char *msg)
{
    return list_has(l, loc, code, msg, true);
}

void diag_list_append(struct diag_list *dst, struct diag_list *src)
{
    size_t max = dst->max_errors;
    dst->dropped += src->dropped;
    for (size_t i = 0; i < src->n; i++) {
        struct diag *d = &src->items[i];
        bool full = d->severity == DIAG_ERROR && max && dst->errors >= max;
        if (!full && dst->n == dst->cap) {
            size_t cap = dst->cap ? dst->cap * 2 : 16;
            struct diag *items = realloc(dst->items, cap * sizeof(*items));
            if (items) {
                dst->items = items;
                dst->cap = cap;
            }
        }
        if (full || dst->n == dst->cap) {
            dst->dropped += d->severity == DIAG_ERROR;
            diag_release(d);
            continue;
        }
        dst->items[dst->n++] = *d;
        if (d->severity == DIAG_ERROR)
            dst->errors++;
        else if (d->severity == DIAG_WARNING)
            dst->warnings++;
    }
    src->n = 0;
    diag_list_release(src); /* its index too; dst's stays valid: items were appended */
}

/* A message formatted once: "%s" is copied, and a message that fits a
 * small buffer is not formatted a second time into its allocation (the
 * rules add a message, hint and note to each finding: 50,000 resources
 * format 18,000 of them). */
static char *vformat(const char *fmt, va_list ap)
{
    char small[512];
    va_list cp;
    int n;
    char *s;
    if (strcmp(fmt, "%s") == 0)
        return strdup(va_arg(ap, const char *));
    va_copy(cp, ap);
    n = vsnprintf(small, sizeof(small), fmt, cp);
    va_end(cp);
    if (n < 0)
        return NULL;
    s = malloc((size_t)n + 1);
    if (s == NULL)
        return NULL;
    if ((size_t)n < sizeof(small))
        memcpy(s, small, (size_t)n + 1);
    else
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

struct diag *diag_add(struct diag_list *l, enum diag_severity sev, const struct src_loc *loc,
                      const char *code, const char *fmt, ...)
{
    struct diag *d;
    va_list ap;

    if (sev == DIAG_ERROR && l->max_errors && l->errors >= l->max_errors) {
        l->dropped++;
        return NULL;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct diag *items = realloc(l->items, cap * sizeof(*items));
        if (items == NULL)
            return NULL;
        l->items = items;
        l->cap = cap;
    }
    d = &l->items[l->n];
    memset(d, 0, sizeof(*d));
    d->severity = sev;
    if (loc)
        d->loc = *loc;
    d->code = strdup(code);
    va_start(ap, fmt);
    d->message = vformat(fmt, ap);
    va_end(ap);
    if (d->code == NULL || d->message == NULL) {
        free(d->code);
        free(d->message);
        return NULL;
    }
    l->n++;
    if (sev == DIAG_ERROR)
        l->errors++;
    else if (sev == DIAG_WARNING)
        l->warnings++;
    return d;
}

void diag_set_hint(struct diag *d, const char *fmt, ...)
{
    va_list ap;
    if (d == NULL)
        return;
    if (!d->hint_borrowed)
        free(d->hint);
    d->hint_borrowed = false;
    va_start(ap, fmt);
    d->hint = vformat(fmt, ap);
    va_end(ap);
}

void diag_set_hint_text(struct diag *d, const char *text)
{
    if (d == NULL)
        return;
    if (!d->hint_borrowed)
        free(d->hint);
    d->hint = (char *)text;
    d->hint_borrowed = true;
}

void diag_mask(struct diag *d, const struct src_loc *span)
{
    if (d && span)
        d->masked = *span;
}

/* A new note at the end of d's, its message NULL; NULL when memory ran out. */
static struct diag_note *note_new(struct diag *d, const struct src_loc *loc)
{
    struct diag_note *notes = realloc(d->notes, (d->nnotes + 1) * sizeof(*notes));
    if (notes == NULL)
        return NULL;
    d->notes = notes;
    memset(&notes[d->nnotes], 0, sizeof(notes[0]));
    if (loc)
        notes[d->nnotes].loc = *loc;
    return &notes[d->nnotes];
}

void diag_add_note(struct diag *d, const struct src_loc *loc, const char *fmt, ...)
{
    struct diag_note *note;
    va_list ap;
    if (d == NULL || (note = note_new(d, loc)) == NULL)
        return;
    va_start(ap, fmt);
    note->message = vformat(fmt, ap);
    va_end(ap);
    if (note->message)
        d->nnotes++;
}

void diag_add_note_text(struct diag *d, const struct src_loc *loc, const char *text)
{
    struct diag_note *note;
    if (d == NULL || text == NULL || (note = note_new(d, loc)) == NULL)
        return;
    note->message = (char *)text;
    note->borrowed = true;
    d->nnotes++;
}

/* Whether a sorts after b (by file name, then start). */
static bool after(const struct diag *a, const struct diag *b)
{
    int c = strcmp(a->loc.file ? a->loc.file->name : "", b->loc.file ? b->loc.file->name : "");
    return c > 0 || (c == 0 && a->loc.begin > b->loc.begin);
}

void diag_list_sort(struct diag_list *l)
{
    /* Bottom-up merge sort: stable, and warnings are not capped, so a large
     * configuration's findings are many. */
    struct diag *tmp;
    index_drop(l);
    if (l->n < 2)
        return;
    tmp = malloc(l->n * sizeof(*tmp));
    if (tmp == NULL) { /* insertion sort in place */
        for (size_t i = 1; i < l->n; i++) {
            struct diag d = l->items[i];
            size_t j = i;
            for (; j > 0 && after(&l->items[j - 1], &d); j--)
                l->items[j] = l->items[j - 1];
            l->items[j] = d;
        }
        return;
    }
    for (size_t w = 1; w < l->n; w *= 2) {
        for (size_t lo = 0; lo < l->n; lo += 2 * w) {
            size_t mid = lo + w < l->n ? lo + w : l->n, hi = lo + 2 * w < l->n ? lo + 2 * w : l->n;
            size_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                tmp[k++] = after(&l->items[a], &l->items[b]) ? l->items[b++] : l->items[a++];
            while (a < mid)
                tmp[k++] = l->items[a++];
            while (b < hi)
                tmp[k++] = l->items[b++];
        }
        memcpy(l->items, tmp, l->n * sizeof(*tmp));
    }
    free(tmp);
}

static const char *sev_name(enum diag_severity s)
{
    return s == DIAG_ERROR ? "error" : s == DIAG_WARNING ? "warning" : "note";
}

/* Source line `line` (len bytes of text) with the columns of masked that
 * fall on it printed as '*', a string's quotes kept. */
static void line_masked(struct buf *out, const char *text, size_t len, uint32_t line,
                        const struct src_loc *masked, uint32_t first, uint32_t last)
{
    uint32_t from = 0, to = 0; /* masked columns on this line, 1-based, [from, to) */
    if (masked && masked->file && len > 0) {
        struct src_pos a = src_loc_start(masked), b = src_loc_stop(masked);
        if (a.line <= line && line <= b.line) {
            from = a.line == line ? a.col : 1;
            to = b.line == line ? b.col : (uint32_t)len + 1;
            if (from < to && text[from - 1] == '"')
                from++;
            if (to > len + 1)
                to = (uint32_t)len + 1;
            if (from < to && to >= 2 && text[to - 2] == '"')
                to--;
        }
    }
    for (uint32_t c = first; c <= last && c <= len && text[c - 1] != '\0';
         c++) /* a NUL ends the line shown */
        buf_addch(out, c >= from && c < to ? '*' : text[c - 1]);
}

/* A snippet shows at most this many columns of a long line: a window
 * around the start of the span, "..." marking what is left out. */
#define SNIPPET_COLS 160
#define SNIPPET_BEFORE 40

/* The source line with a caret underline across [col, end) on that line. */
static void snippet(struct buf *out, const struct src_loc *loc, const struct src_loc *masked,
                    int color)
{
    size_t len;
    struct src_pos from = src_loc_start(loc), to = src_loc_stop(loc);
    const char *text = src_file_line(loc->file, from.line, &len);
    uint32_t start = from.col, stop, first = 1, last = (uint32_t)len;
    char gutter[16];
    int w;

    if (len > SNIPPET_COLS) {
        first = start > SNIPPET_BEFORE ? start - SNIPPET_BEFORE : 1;
        last = first + SNIPPET_COLS - 1;
        if (last > len)
            last = (uint32_t)len;
    }
    w = snprintf(gutter, sizeof(gutter), "%u", from.line);
    buf_addf(out, " %s | %s", gutter, first > 1 ? "..." : "");
    line_masked(out, text, len, from.line, masked && masked->file == loc->file ? masked : NULL,
                first, last);
    if (last < len)
        buf_adds(out, "...");
    buf_addch(out, '\n');
    buf_addf(out, " %*s | %s", w, "", first > 1 ? "   " : "");
    stop = to.line == from.line ? to.col : (uint32_t)len + 1;
    if (stop <= start)
        stop = start + 1;
    if (stop > last + 1)
        stop = last + 1 > start ? last + 1 : start + 1;
    /* keep tabs so the caret lines up under the source */
    for (uint32_t c = first; c < start && c <= len; c++)
        buf_addch(out, text[c - 1] == '\t' ? '\t' : ' ');
    if (color)
        buf_adds(out, "\033[1;32m");
    buf_addch(out, '^');
    for (uint32_t c = start + 1; c < stop; c++)
        buf_addch(out, '~');
    if (color)
        buf_adds(out, "\033[0m");
    buf_addch(out, '\n');
}

/* Rule IDs (WS-PRIVATE, SCAN) are upper case; front-end codes are not. */
static int is_rule_id(const char *code)
{
    if (code[0] < 'A' || code[0] > 'Z')
        return 0;
    for (; *code; code++)
        if (!((*code >= 'A' && *code <= 'Z') || (*code >= '0' && *code <= '9') || *code == '-'))
            return 0;
    return 1;
}

int diag_format_text(struct buf *out, const struct diag *d, int color)
{
    const char *sev_color = d->severity == DIAG_ERROR     ? "\033[1;31m"
                            : d->severity == DIAG_WARNING ? "\033[1;35m"
                                                          : "\033[1;36m";
    if (d->loc.file) {
        struct src_pos at = src_loc_start(&d->loc);
        buf_addf(out, "%s%s:%u:%u:%s", color ? "\033[1m" : "", d->loc.file->name, at.line, at.col,
                 color ? "\033[0m" : "");
    } else
        buf_addf(out, "%samlsec:%s", color ? "\033[1m" : "", color ? "\033[0m" : "");
    buf_addf(out, " %s%s:%s %s", color ? sev_color : "", sev_name(d->severity),
             color ? "\033[0m" : "", d->message);
    if (is_rule_id(d->code))
        buf_addf(out, " [%s]", d->code);
    buf_addch(out, '\n');
    if (d->loc.file)
        snippet(out, &d->loc, &d->masked, color);
    for (size_t i = 0; i < d->nnotes; i++) {
        const struct diag_note *n = &d->notes[i];
        if (n->loc.file) {
            struct src_pos at = src_loc_start(&n->loc);
            buf_addf(out, "%s:%u:%u: note: %s\n", n->loc.file->name, at.line, at.col, n->message);
            snippet(out, &n->loc, &d->masked, color);
        } else {
            buf_addf(out, "note: %s\n", n->message);
        }
    }
    if (d->hint)
        buf_addf(out, "hint: %s\n", d->hint);
    return 0;
}

static json_t *pos_json(struct src_pos pos, uint32_t byte)
{
    return json_pack("{s:i, s:i, s:i}", "line", (json_int_t)pos.line, "column", (json_int_t)pos.col,
                     "byte", (json_int_t)byte);
}

static void add_range(json_t *o, const struct src_loc *loc)
{
    json_object_set_new(o, "file", json_string(loc->file->name));
    json_object_set_new(o, "start", pos_json(src_loc_start(loc), loc->begin));
    json_object_set_new(o, "end", pos_json(src_loc_stop(loc), loc->end));
}

json_t *diag_to_json(const struct diag *d)
{
    json_t *o = json_object();
    json_t *notes = json_array();
    json_object_set_new(o, "severity", json_string(sev_name(d->severity)));
    json_object_set_new(o, "code", json_string(d->code));
    json_object_set_new(o, "message", json_string(d->message));
    json_object_set_new(o, "hint", d->hint ? json_string(d->hint) : json_null());
    if (d->loc.file)
        add_range(o, &d->loc);
    for (size_t i = 0; i < d->nnotes; i++) {
        json_t *n = json_object();
        json_object_set_new(n, "message", json_string(d->notes[i].message));
        if (d->notes[i].loc.file)
            add_range(n, &d->notes[i].loc);
        json_array_append_new(notes, n);
    }
    json_object_set_new(o, "notes", notes);
    return o;
}
