/* The report flags validate, plan, check and drift share: -sarif FILE,
 * -junit FILE, -markdown FILE (engine/report.h writes them). */
#ifndef AMLSEC_CMD_REPORTS_H
#define AMLSEC_CMD_REPORTS_H

#include <stdbool.h>

#include "engine/report.h"

/* Long options to merge into a command's table: values 'S', 'U', 'M'. */
#define REPORT_OPTIONS                                                                             \
    {"sarif", required_argument, NULL, 'S'}, {"junit", required_argument, NULL, 'U'},              \
    {                                                                                              \
        "markdown", required_argument, NULL, 'M'                                                   \
    }

#define REPORT_OPTIONS_HELP                                                                        \
    "  -sarif FILE        write the findings as SARIF 2.1.0 (code scanning)\n"                     \
    "  -junit FILE        write a JUnit XML report (a test case per resource and rule)\n"          \
    "  -markdown FILE     write a pull-request comment in Markdown (no secrets, capped)\n"

/* Handles 'S', 'U' and 'M'; false when opt is none of them. */
bool reports_take(struct report_files *f, int opt, const char *arg);
bool reports_wanted(const struct report_files *f);
/* Writes the requested files; prints the error and returns false on failure. */
bool reports_write(const struct report_files *f, const struct finding_list *l,
                   const struct report_meta *m);

#endif
