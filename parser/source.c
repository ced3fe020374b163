#include "parser/source.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/banned.h"

static int index_lines(struct src_file *f)
{
    size_t n = 1, i = 0;
    const char *p = f->text, *end = f->text + f->len;
    /* memchr: this runs over every byte of every file (bench/bench_parse) */
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        n++;
        p++;
    }
    f->lines = malloc(n * sizeof(*f->lines));
    if (f->lines == NULL)
        return AMLSEC_ENOMEM;
    f->lines[i++] = 0;
    p = f->text;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        p++;
        f->lines[i++] = (uint32_t)(p - f->text);
    }
    f->nlines = n;
    return 0;
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
    if (index_lines(f) < 0) {
        src_file_free(f);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory loading '%s'", name);
    }
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

void src_file_position(const struct src_file *f, uint32_t off, uint32_t *line, uint32_t *col)
{
    size_t lo = 0, hi = f->nlines;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (f->lines[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    *line = (uint32_t)lo + 1;
    *col = off - f->lines[lo] + 1;
}

const char *src_file_line(const struct src_file *f, uint32_t line, size_t *len)
{
    size_t start, end;
    if (line == 0 || line > f->nlines) {
        *len = 0;
        return "";
    }
    start = f->lines[line - 1];
    end = line < f->nlines ? f->lines[line] - 1 : f->len;
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
    src_file_position(f, begin, &loc.line, &loc.col);
    src_file_position(f, end, &loc.end_line, &loc.end_col);
    return loc;
}
