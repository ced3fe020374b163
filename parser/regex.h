/* Regular expressions in Terraform's syntax (RE2, as Go's regexp reads it)
 * run on the C library's POSIX extended ones. A pattern is translated:
 * \d \w \s and their negations, (?:…), named groups (?P<name>…) and
 * (?<name>…), the flags (?i) (?m) (?s) at the start, \A \z, \Q…\E, \x41
 * and \x{…}, escaped punctuation and `.` not matching a newline as RE2's
 * default. What cannot be translated faithfully is an error naming the
 * construct (lazy quantifiers, \p{…} classes, backreferences, lookaround,
 * flags in mid-pattern), never a different meaning. One difference stays
 * and is documented: POSIX picks the longest of the alternatives that
 * match at the leftmost position, RE2 the first (`a|ab` on "ab"). */
#ifndef AMLSEC_PARSER_REGEX_H
#define AMLSEC_PARSER_REGEX_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

struct rx {
    regex_t re;
    size_t ngroups;   /* RE2 capture groups */
    size_t *group_of; /* [ngroups + 1]: the POSIX group of each RE2 group (0: the match) */
    char **names;     /* [ngroups + 1]: a group's name, or NULL */
    bool named, unnamed;
    regmatch_t *m; /* [re.re_nsub + 1], for rx_exec */
};

/* Compiles pattern; on failure returns -1 with a message in err. */
int rx_compile(struct rx *rx, const char *pattern, char *err, size_t errlen);
/* Matches s from its start (notbol: s does not start the text); the
 * whole match is rx->m[0], RE2 group g is rx->m[rx->group_of[g]]. */
bool rx_exec(struct rx *rx, const char *s, bool notbol);
void rx_free(struct rx *rx);

#endif
