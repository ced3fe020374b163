/* The report writers: each reads a finding_list (engine/findings.h) and
 * nothing else, so a new source of findings (drift) gets every format with
 * one call, and a new format is one writer.
 *
 *   report_json      {format_version, summary, findings[]}
 *   report_sarif     SARIF 2.1.0: one run, rule metadata with help text,
 *                    results located in the .amlsec files
 *   report_junit     JUnit XML: a test case per resource and rule
 *   report_markdown  a pull-request comment: summary table, changes,
 *                    findings, details folded; bounded (REPORT_MARKDOWN_MAX)
 *
 * Values in findings are already redacted by their producers; the writers
 * add nothing from anywhere else. */
#ifndef AMLSEC_ENGINE_REPORT_H
#define AMLSEC_ENGINE_REPORT_H

#include <jansson.h>

#include "engine/findings.h"
#include "engine/plan.h"
#include "util/buf.h"
#include "util/errbuf.h"

#define REPORT_MARKDOWN_MAX 60000 /* GitHub refuses comments over 65536 characters */

struct report_meta {
    const char *command;     /* "check", "plan", "validate", "drift" */
    const char *version;     /* amlsec's */
    const struct plan *plan; /* Markdown's "Changes" section, or NULL */
};

/* New reference. */
json_t *report_json(const struct finding_list *l, const struct report_meta *m);
json_t *report_sarif(const struct finding_list *l, const struct report_meta *m);
int report_junit(struct buf *out, const struct finding_list *l, const struct report_meta *m);
int report_markdown(struct buf *out, const struct finding_list *l, const struct report_meta *m);

/* The files a command was asked for (NULL: not wanted). */
struct report_files {
    const char *sarif;
    const char *junit;
    const char *markdown;
};

/* Writes each requested file (atomically, mode 0644). */
int report_write_files(const struct report_files *files, const struct finding_list *l,
                       const struct report_meta *m, struct errbuf *err);

#endif
