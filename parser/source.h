/* Source files and locations. A src_file holds the whole text in memory,
 * NUL-terminated. A location is a byte span only (16 bytes: every AST node
 * carries one or more); line and column are computed when a diagnostic is
 * printed, from a line-offset table built on the first such request. */
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
    /* Byte offset of each line start, nlines entries: a cache built by the
     * first src_file_position/src_file_line call (so through a const
     * src_file; locations are rarely turned into lines, only for
     * diagnostics). Not thread-safe before it exists. */
    uint32_t *lines;
    size_t nlines;
};

struct src_loc {
    const struct src_file *file;
    uint32_t begin, end; /* byte offsets [begin, end) */
};

/* A 1-based line and a 1-based byte column. */
struct src_pos {
    uint32_t line, col;
};

/* Loads path (caps at SRC_MAX_SIZE). Caller frees with src_file_free. */
int src_file_load(struct src_file **out, const char *path, struct errbuf *err);
/* Wraps text already in memory (copied). name is copied too. */
int src_file_from_mem(struct src_file **out, const char *name, const char *text, size_t len,
                      struct errbuf *err);
void src_file_free(struct src_file *f);

/* Location of byte offset off (line, col) within f. If the line table
 * cannot be allocated, lines are counted by scanning (same answer). */
struct src_pos src_file_position(const struct src_file *f, uint32_t off);
/* The text of line `line` (1-based) without its newline. */
const char *src_file_line(const struct src_file *f, uint32_t line, size_t *len);
/* A location spanning [begin, end) in f. */
struct src_loc src_loc_make(const struct src_file *f, uint32_t begin, uint32_t end);
/* Where a location starts, and where it ends (one past its last byte). */
struct src_pos src_loc_start(const struct src_loc *loc);
struct src_pos src_loc_stop(const struct src_loc *loc);

#endif
