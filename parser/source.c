#include "parser/source.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/banned.h"

/* Builds the line-offset table (on the first request: see source.h). */
static bool index_lines(const struct src_file *cf)
{
    struct src_file *f = (struct src_file *)cf; /* the table is a cache */
    size_t n = 1, i = 0;
    const char *p = f->text, *end = f->text + f->len;
    uint32_t *lines;

    if (f->lines)
        return true;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        n++;
        p++;
    }
    lines = malloc(n * sizeof(*lines));
    if (lines == NULL)
        return false;
    lines[i++] = 0;
    p = f->text;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        p++;
        lines[i++] = (uint32_t)(p - f->text);
    }
    f->lines = lines;
    f->nlines = n;
    return true;
}

/* Start of line `line` (1-based) without a table: scans from the top. */
static size_t scan_line_start(const struct src_file *f, uint32_t line, bool *found)
{
    const char *p = f->text, *end = f->text + f->len;
    for (uint32_t l = 1; l < line; l++) {
        p = memchr(p, '\n', (size_t)(end - p));
        if (p == NULL) {
            *found = false;
            return 0;
        }
        p++;
    }
    *found = true;
    return (size_t)(p - f->text);
}

static int src_file_take(struct src_file **out, const char *name, char *text, size_t len,
                         struct errbuf *err)
{
    struct src_file *f = calloc(1, sizeof(*f));
    if (f == NULL || (f->name = strdup(name)) == NULL) {
        free(f);
        free(text);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory loading '%s'", name);
    }
    f->text = text;
    f->len = len;
    *out = f;
    return 0;
}

int src_file_load(struct src_file **out, const char *path, struct errbuf *err)
{
    struct buf b;
    size_t len;
    int rc;

    buf_init(&b, SRC_MAX_SIZE + 1);
    rc = file_read_all(&b, path, SRC_MAX_SIZE, err);
    if (rc < 0) {
        buf_release(&b);
        return rc;
    }
    {
        char *text = buf_detach(&b, &len);
        if (text == NULL)
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory loading '%s'", path);
        return src_file_take(out, path, text, len, err);
    }
}

int src_file_from_mem(struct src_file **out, const char *name, const char *text, size_t len,
                      struct errbuf *err)
{
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    memcpy(copy, text, len);
    copy[len] = '\0';
    return src_file_take(out, name, copy, len, err);
}

void src_file_free(struct src_file *f)
{
    if (f == NULL)
        return;
    free(f->name);
    free(f->text);
    free(f->lines);
    free(f);
}

struct src_pos src_file_position(const struct src_file *f, uint32_t off)
{
    struct src_pos pos;
    if (off > f->len)
        off = (uint32_t)f->len;
    if (index_lines(f)) {
        size_t lo = 0, hi = f->nlines;
        while (hi - lo > 1) {
            size_t mid = (lo + hi) / 2;
            if (f->lines[mid] <= off)
                lo = mid;
            else
                hi = mid;
        }
        pos.line = (uint32_t)lo + 1;
        pos.col = off - f->lines[lo] + 1;
    } else {
        const char *p = f->text, *stop = f->text + off, *nl;
        pos.line = 1;
        while ((nl = memchr(p, '\n', (size_t)(stop - p))) != NULL) {
            pos.line++;
            p = nl + 1;
        }
        pos.col = (uint32_t)(stop - p) + 1;
    }
    return pos;
}

const char *src_file_line(const struct src_file *f, uint32_t line, size_t *len)
{
    size_t start = 0, end;
    const char *nl;
    bool found = true;
    if (line == 0) {
        *len = 0;
        return "";
    }
    if (index_lines(f)) {
        if (line > f->nlines)
            found = false;
        else
            start = f->lines[line - 1];
    } else {
        start = scan_line_start(f, line, &found);
    }
    if (!found) {
        *len = 0;
        return "";
    }
    nl = memchr(f->text + start, '\n', f->len - start);
    end = nl ? (size_t)(nl - f->text) : f->len;
    if (end > start && f->text[end - 1] == '\r')
        end--;
    *len = end - start;
    return f->text + start;
}

struct src_loc src_loc_make(const struct src_file *f, uint32_t begin, uint32_t end)
{
    struct src_loc loc;
    loc.file = f;
    loc.begin = begin;
    loc.end = end;
    return loc;
}

struct src_pos src_loc_start(const struct src_loc *loc)
{
    return src_file_position(loc->file, loc->begin);
}

struct src_pos src_loc_stop(const struct src_loc *loc)
{
    return src_file_position(loc->file, loc->end);
}
