/* Source files and locations. A src_file holds the whole text in memory,
 * NUL-terminated, plus a line-offset table built on load; locations are
 * 1-based lines and byte columns with byte offsets for spans. */
#ifndef AMLSEC_PARSER_SOURCE_H
#define AMLSEC_PARSER_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "util/errbuf.h"

#define SRC_MAX_SIZE ((size_t)64 << 20) /* files over 64 MiB are refused */

struct src_file {
    char *name; /* as given on the command line or found in the directory */
    char *text; /* len bytes plus a NUL */
    size_t len;
    uint32_t *lines; /* byte offset of each line start; nlines entries */
    size_t nlines;
};

struct src_loc {
    const struct src_file *file;
    uint32_t line, col;         /* start, 1-based (col counts bytes) */
    uint32_t end_line, end_col; /* one past the last byte */
    uint32_t begin, end;        /* byte offsets [begin, end) */
};

/* Loads path (caps at SRC_MAX_SIZE). Caller frees with src_file_free. */
int src_file_load(struct src_file **out, const char *path, struct errbuf *err);
/* Wraps text already in memory (copied). name is copied too. */
int src_file_from_mem(struct src_file **out, const char *name, const char *text, size_t len,
                      struct errbuf *err);
void src_file_free(struct src_file *f);

/* Location of byte offset off (line, col) within f. */
void src_file_position(const struct src_file *f, uint32_t off, uint32_t *line, uint32_t *col);
/* The text of line `line` (1-based) without its newline. */
const char *src_file_line(const struct src_file *f, uint32_t line, size_t *len);
/* A location spanning [begin, end) in f. */
struct src_loc src_loc_make(const struct src_file *f, uint32_t begin, uint32_t end);

#endif
