/* Diagnostics as data. The front end and the rule engine append to a
 * diag_list; cmd/ renders them as compiler-style text (file:line:col,
 * source line, caret underline) or as JSON. Nothing here prints. */
#ifndef AMLSEC_PARSER_DIAG_H
#define AMLSEC_PARSER_DIAG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "parser/source.h"
#include "util/buf.h"

enum diag_severity { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE };

struct diag_note {
    struct src_loc loc; /* loc.file NULL: a note without a location */
    char *message;
    bool borrowed; /* message is text that outlives the list (not freed) */
};

struct diag {
    enum diag_severity severity;
    char *code;         /* stable identifier: "syntax", "unknown-reference", "WS-CMK-PAIR" ... */
    char *message;      /* one line, lowercase, no full stop */
    struct src_loc loc; /* loc.file NULL: not tied to a file (e.g. a missing -var) */
    char *hint;         /* optional "did you mean" / how to fix; NULL when none */
    bool hint_borrowed; /* hint is text that outlives the list (not freed) */
    struct diag_note *notes; /* related locations ("first defined here") */
    size_t nnotes;
    struct src_loc
        masked; /* printed as '*' in source snippets (a literal secret); file NULL: none */
};

struct diag_list {
    struct diag *items;
    size_t n, cap;
    size_t errors, warnings;
    size_t max_errors; /* 0: unlimited; the front end stops adding past it */
    size_t dropped;    /* errors not added because the list was full */
    /* diag_list_has()'s hash index of items[0, indexed); NULL until first
     * used, dropped when the list is sorted or released */
    struct diag_index *index;
    size_t indexed;
    size_t compared; /* diagnostics diag_list_has() compared: its work, for tests */
};

#define DIAG_MAX_ERRORS 20

void diag_list_init(struct diag_list *l);
void diag_list_release(struct diag_list *l);

/* Appends a diagnostic and returns it (so a hint or notes can be added),
 * or NULL when the list is full (max_errors reached: the error is counted
 * in `dropped`) or memory ran out. */
struct diag *diag_add(struct diag_list *l, enum diag_severity sev, const struct src_loc *loc,
                      const char *code, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void diag_set_hint(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The hint, or a note, as text that outlives the list (a rule's fix and
 * why, the same for every finding of the rule): kept, not copied. */
void diag_set_hint_text(struct diag *d, const char *text);
/* The source text of span is a secret: snippets print it as '*' (the
 * quotes of a string stay), so the diagnostic never repeats it. */
void diag_mask(struct diag *d, const struct src_loc *span);
void diag_add_note(struct diag *d, const struct src_loc *loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_add_note_text(struct diag *d, const struct src_loc *loc, const char *text);

/* Whether the list holds a diagnostic with this code and message at the
 * same start (file and byte). Through a hash index kept with the list, so
 * n look-ups cost O(n), not O(n^2). */
bool diag_list_has(struct diag_list *l, const struct src_loc *loc, const char *code,
                   const char *msg);
/* The same, at the same span (start and end). */
bool diag_list_has_span(struct diag_list *l, const struct src_loc *loc, const char *code,
                        const char *msg);

/* Moves every diagnostic of src to the end of dst (dst's error limit
 * applies) and leaves src empty. */
void diag_list_append(struct diag_list *dst, struct diag_list *src);

/* Sorts by file, then position (stable, O(n log n)), so output order is
 * deterministic. */
void diag_list_sort(struct diag_list *l);

/* Compiler-style text:
 *   main.amlsec:3:10: error: unexpected identifier, expecting string
 *       3 | resource bucket "logs" { }
 *         |          ^~~~~~
 *   hint: ...
 * color adds ANSI colours. Appends to out. */
int diag_format_text(struct buf *out, const struct diag *d, int color);
/* JSON object: severity, code, message, hint, file, start{line,column,byte},
 * end{line,column,byte}, notes[]. New reference. */
json_t *diag_to_json(const struct diag *d);

#endif
