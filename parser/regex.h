/* Regular expressions in Terraform's syntax and with its results: RE2's
 * syntax as Go's regexp reads it, and Go's leftmost-first matching, on
 * UTF-8 text. A pattern is parsed into a tree, compiled to a program of
 * instructions as Go compiles it, and run by a Pike VM (a Thompson NFA
 * whose threads keep their priority and their submatches): time linear in
 * the text for a given pattern, no backtracking. What RE2 refuses is an
 * error naming the construct and its offset in the pattern; so is \C
 * (a single byte). */
#ifndef AMLSEC_PARSER_REGEX_H
#define AMLSEC_PARSER_REGEX_H

#include <stdbool.h>
#include <stddef.h>

struct rx_prog;

struct rx {
    struct rx_prog *prog;
    size_t ngroups; /* capture groups, numbered 1..ngroups as RE2 does */
    char **names;   /* [ngroups + 1]: a group's name, or NULL */
    bool named, unnamed;
    /* After rx_exec: m[2g] and m[2g + 1], the byte offsets in the text of
     * the start and end of group g (0: the whole match), -1 for a group
     * that took no part in the match. */
    ptrdiff_t *m;
    unsigned long long steps; /* VM steps of the last rx_exec (tests) */
};

/* Compiles pattern; on failure returns -1 with a message in err. */
int rx_compile(struct rx *rx, const char *pattern, char *err, size_t errlen);
/* Finds the leftmost-first match in text[0..len) that starts at or after
 * byte start; ^, \A, \b and the like see the whole text. */
bool rx_exec(struct rx *rx, const char *text, size_t len, size_t start);
/* Go's FindAll: the next of the non-overlapping matches from *pos on (0
 * at first, with *prev_end -1), skipping an empty match right after the
 * previous one; both are advanced for the next call. */
bool rx_next(struct rx *rx, const char *text, size_t len, size_t *pos, ptrdiff_t *prev_end);
void rx_free(struct rx *rx);

#endif
