#include "engine/report.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/fileio.h"
#include "util/strmap.h"
#include "util/jsonw.h"
#include "util/banned.h"

#define INFO_URI "https://github.com/amlsec/amlsec"

static json_t *summary_json(const struct finding_list *l)
{
    return json_pack("{s:I, s:I, s:I, s:I}", "deny", (json_int_t)l->count[FINDING_DENY], "audit",
                     (json_int_t)l->count[FINDING_AUDIT], "info",
                     (json_int_t)l->count[FINDING_INFO], "pass",
                     (json_int_t)l->count[FINDING_PASS]);
}

json_t *report_json(const struct finding_list *l, const struct report_meta *m)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].level != FINDING_PASS)
            json_array_append_new(arr, finding_to_json(&l->items[i]));
    return json_pack("{s:s, s:s, s:o, s:o}", "format_version", "1.0", "command", m->command,
                     "summary", summary_json(l), "findings", arr);
}

/* ---- SARIF ------------------------------------------------------------------ */

static const char *sarif_level(enum finding_level lv)
{
    return lv == FINDING_DENY ? "error" : lv == FINDING_AUDIT ? "warning" : "note";
}

static json_t *sarif_rule(const struct finding *f)
{
    const char *name = f->rule_name ? f->rule_name : f->rule_id;
    const char *help = f->help ? f->help : name;
    json_t *r = json_pack("{s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s, s:s}, s:{s:s}, s:{s:[s]}}", "id",
                          f->rule_id, "name", f->rule_id, "shortDescription", "text", name,
                          "fullDescription", "text", help, "help", "text", help, "markdown", help,
                          "defaultConfiguration", "level", sarif_level(f->level), "properties",
                          "tags", finding_source_name(f->source));
    if (f->help_uri)
        json_object_set_new(r, "helpUri", json_string(f->help_uri));
    return r;
}

json_t *report_sarif(const struct finding_list *l, const struct report_meta *m)
{
    json_t *rules = json_array(), *results = json_array(), *run;
    struct strmap index;

    strmap_init(&index, false);
    for (size_t i = 0; i < l->n; i++) {
        const struct finding *f = &l->items[i];
        size_t ri;
        json_t *res, *locs, *props;
        if (f->level == FINDING_PASS)
            continue;
        locs = json_array();
        if (!strmap_get(&index, f->rule_id, &ri)) {
            ri = json_array_size(rules);
            strmap_put(&index, f->rule_id, ri);
            json_array_append_new(rules, sarif_rule(f));
        }
        if (f->file) {
            json_t *loc = json_pack("{s:{s:{s:s}, s:{s:I, s:I, s:I, s:I}}}", "physicalLocation",
                                    "artifactLocation", "uri", f->file, "region", "startLine",
                                    (json_int_t)(f->line ? f->line : 1), "startColumn",
                                    (json_int_t)(f->col ? f->col : 1), "endLine",
                                    (json_int_t)(f->end_line ? f->end_line
                                                 : f->line   ? f->line
                                                             : 1),
                                    "endColumn", (json_int_t)(f->end_col ? f->end_col : 1));
            if (f->address)
                json_object_set_new(loc, "logicalLocations",
                                    json_pack("[{s:s, s:s}]", "fullyQualifiedName", f->address,
                                              "kind", "resource"));
            json_array_append_new(locs, loc);
        } else if (f->address) {
            json_array_append_new(locs,
                                  json_pack("{s:[{s:s, s:s}]}", "logicalLocations",
                                            "fullyQualifiedName", f->address, "kind", "resource"));
        }
        props = json_pack("{s:s, s:s}", "source", finding_source_name(f->source), "level",
                          finding_level_name(f->level));
        if (f->effect)
            json_object_set_new(props, "effect", json_string(f->effect));
        if (f->verdict)
            json_object_set_new(props, "verdict", json_string(f->verdict));
        if (f->arm_id)
            json_object_set_new(props, "armId", json_string(f->arm_id));
        if (f->attribute)
            json_object_set_new(props, "attribute", json_string(f->attribute));
        if (f->path)
            json_object_set_new(props, "path", json_string(f->path));
        if (f->value)
            json_object_set(props, "value", f->value);
        res = json_pack("{s:s, s:I, s:s, s:{s:s}, s:o, s:o}", "ruleId", f->rule_id, "ruleIndex",
                        (json_int_t)ri, "level", sarif_level(f->level), "message", "text",
                        f->message, "locations", locs, "properties", props);
        json_array_append_new(results, res);
    }
    strmap_release(&index);
    run = json_pack("{s:{s:{s:s, s:s, s:s, s:o}}, s:o, s:[{s:b}]}", "tool", "driver", "name",
                    "amlsec", "version", m->version ? m->version : "0", "informationUri", INFO_URI,
                    "rules", rules, "results", results, "invocations", "executionSuccessful", 1);
    json_object_set_new(run, "automationDetails",
                        json_pack("{s:s}", "id", m->command ? m->command : "amlsec"));
    return json_pack("{s:s, s:s, s:[o]}", "$schema",
                     "https://json.schemastore.org/sarif-2.1.0.json", "version", "2.1.0", "runs",
                     run);
}

/* ---- JUnit ------------------------------------------------------------------ */

static void xml_text(struct buf *b, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&':
            buf_adds(b, "&amp;");
            break;
        case '<':
            buf_adds(b, "&lt;");
            break;
        case '>':
            buf_adds(b, "&gt;");
            break;
        case '"':
            buf_adds(b, "&quot;");
            break;
        case '\'':
            buf_adds(b, "&apos;");
            break;
        default:
            if (c < 0x20 && c != '\n' && c != '\t')
                buf_addf(b, "&#x%x;", 0xFFFD);
            else
                buf_addch(b, (char)c);
        }
    }
}

static void evidence_text(struct buf *b, const struct finding *f)
{
    if (f->attribute) {
        buf_adds(b, f->attribute);
        if (f->path)
            buf_addf(b, " (%s)", f->path);
        buf_adds(b, " = ");
        if (f->value) {
            char *v = jsonw_dumps(f->value, JSON_ENCODE_ANY | JSON_COMPACT);
            buf_adds(b, v ? v : "?");
            free(v);
        } else {
            buf_adds(b, "(missing)");
        }
    }
}

int report_junit(struct buf *out, const struct finding_list *l, const struct report_meta *m)
{
    static const enum finding_source order[] = {FINDING_CONFIG, FINDING_RULE, FINDING_POLICY,
                                                FINDING_DRIFT};
    buf_adds(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    buf_addf(out, "<testsuites name=\"amlsec %s\" tests=\"%zu\" failures=\"%zu\">\n",
             m->command ? m->command : "", l->n, l->count[FINDING_DENY] + l->count[FINDING_AUDIT]);
    for (size_t s = 0; s < sizeof(order) / sizeof(order[0]); s++) {
        size_t tests = 0, failures = 0, skipped = 0;
        for (size_t i = 0; i < l->n; i++)
            if (l->items[i].source == order[s]) {
                tests++;
                failures += l->items[i].level <= FINDING_AUDIT;
                skipped += l->items[i].level == FINDING_INFO;
            }
        if (tests == 0)
            continue;
        buf_addf(out,
                 "  <testsuite name=\"%s\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
                 "skipped=\"%zu\">\n",
                 finding_source_name(order[s]), tests, failures, skipped);
        for (size_t i = 0; i < l->n; i++) {
            const struct finding *f = &l->items[i];
            if (f->source != order[s])
                continue;
            buf_adds(out, "    <testcase classname=\"");
            xml_text(out, f->address ? f->address : "configuration");
            buf_adds(out, "\" name=\"");
            xml_text(out, f->rule_id);
            if (f->rule_name) {
                buf_adds(out, ": ");
                xml_text(out, f->rule_name);
            }
            if (f->file)
                buf_addf(out, "\" file=\"%s\" line=\"%u", f->file, f->line);
            buf_adds(out, "\"");
            if (f->level == FINDING_PASS) {
                buf_adds(out, "/>\n");
                continue;
            }
            buf_adds(out, ">\n");
            if (f->level == FINDING_INFO) {
                buf_adds(out, "      <skipped message=\"");
                xml_text(out, f->message);
                buf_adds(out, "\"/>\n");
            } else {
                struct buf ev;
                buf_init(&ev, 1 << 20);
                evidence_text(&ev, f);
                buf_addf(out, "      <failure type=\"%s\" message=\"",
                         finding_level_name(f->level));
                xml_text(out, f->message);
                buf_adds(out, "\">");
                if (f->file)
                    buf_addf(out, "%s:%u:%u: ", f->file, f->line, f->col);
                xml_text(out, f->message);
                if (ev.len) {
                    buf_adds(out, "\n");
                    xml_text(out, ev.ptr);
                }
                if (f->help) {
                    buf_adds(out, "\n");
                    xml_text(out, f->help);
                }
                buf_adds(out, "</failure>\n");
                buf_release(&ev);
            }
            buf_adds(out, "    </testcase>\n");
        }
        buf_adds(out, "  </testsuite>\n");
    }
    return buf_adds(out, "</testsuites>\n");
}

/* ---- Markdown --------------------------------------------------------------- */

/* Table-cell text: no pipes, no HTML, no newlines, bounded. */
static void md_cell(struct buf *b, const char *s, size_t max)
{
    size_t n = 0;
    for (; s && *s && n < max; s++, n++) {
        char c = *s;
        if (c == '|')
            buf_adds(b, "\\|");
        else if (c == '<')
            buf_adds(b, "&lt;");
        else if (c == '>')
            buf_adds(b, "&gt;");
        else if (c == '\n' || c == '\r')
            buf_addch(b, ' ');
        else if (c == '`')
            buf_addch(b, '\'');
        else
            buf_addch(b, c);
    }
    if (s && *s)
        buf_adds(b, "...");
}

static const char *level_icon(enum finding_level lv)
{
    return lv == FINDING_DENY ? "deny" : lv == FINDING_AUDIT ? "audit" : "info";
}

int report_markdown(struct buf *out, const struct finding_list *l, const struct report_meta *m)
{
    size_t shown = 0, total = l->n - l->count[FINDING_PASS];
    struct buf details;

    buf_addf(out, "### amlsec %s\n\n", m->command ? m->command : "");
    buf_adds(out, "| deny | audit | info | passed |\n|---:|---:|---:|---:|\n");
    buf_addf(out, "| %zu | %zu | %zu | %zu |\n\n", l->count[FINDING_DENY], l->count[FINDING_AUDIT],
             l->count[FINDING_INFO], l->count[FINDING_PASS]);
    if (m->plan) {
        const struct plan *p = m->plan;
        buf_addf(out, "#### Changes\n\n%zu to add, %zu to change, %zu to destroy.\n\n", p->nadd,
                 p->nchange, p->ndestroy);
        if (p->n) {
            buf_adds(out, "| action | resource | kind |\n|---|---|---|\n");
            for (size_t i = 0; i < p->n && out->len < REPORT_MARKDOWN_MAX / 3; i++) {
                buf_addf(out, "| %s | `", plan_action_name(p->changes[i].action));
                md_cell(out, p->changes[i].address, 200);
                buf_adds(out, "` | ");
                md_cell(out, p->changes[i].kind, 100);
                buf_adds(out, " |\n");
            }
            buf_adds(out, "\n");
        }
    }
    if (total == 0) {
        buf_adds(out, "No findings.\n");
        return 0;
    }
    buf_adds(out, "#### Findings\n\n| level | resource | rule | message | where |\n"
                  "|---|---|---|---|---|\n");
    buf_init(&details, REPORT_MARKDOWN_MAX);
    for (size_t i = 0; i < l->n; i++) {
        const struct finding *f = &l->items[i];
        size_t mark = out->len;
        if (f->level == FINDING_PASS)
            continue;
        if (out->len + details.len > REPORT_MARKDOWN_MAX - 1024)
            break;
        buf_addf(out, "| %s | ", level_icon(f->level));
        if (f->address) {
            buf_adds(out, "`");
            md_cell(out, f->address, 120);
            buf_adds(out, "`");
        }
        buf_adds(out, " | ");
        md_cell(out, f->rule_name ? f->rule_name : f->rule_id, 120);
        buf_adds(out, " | ");
        md_cell(out, f->message, 300);
        buf_adds(out, " | ");
        if (f->file)
            buf_addf(out, "%s:%u", f->file, f->line);
        if (buf_adds(out, " |\n") < 0) {
            out->len = mark;
            out->ptr[mark] = '\0';
            break;
        }
        if (f->help || f->attribute) {
            struct buf ev;
            buf_init(&ev, 1 << 16);
            evidence_text(&ev, f);
            buf_adds(&details, "<details><summary>");
            md_cell(&details, f->rule_id, 200);
            buf_adds(&details, " on ");
            md_cell(&details, f->address ? f->address : "the configuration", 200);
            buf_adds(&details, "</summary>\n\n");
            if (ev.len) {
                buf_adds(&details, "Evidence: ");
                md_cell(&details, ev.ptr, 600);
                buf_adds(&details, "\n\n");
            }
            if (f->help) {
                md_cell(&details, f->help, 1200);
                buf_adds(&details, "\n\n");
            }
            buf_adds(&details, "</details>\n");
            buf_release(&ev);
        }
        shown++;
    }
    if (shown < total)
        buf_addf(out,
                 "\n%zu more findings not shown (the comment is capped; see the SARIF or "
                 "JSON report).\n",
                 total - shown);
    if (details.len && out->len + details.len < REPORT_MARKDOWN_MAX) {
        buf_adds(out, "\n#### Details\n\n");
        buf_add(out, details.ptr, details.len);
    }
    buf_release(&details);
    return 0;
}

int report_write_files(const struct report_files *files, const struct finding_list *l,
                       const struct report_meta *m, struct errbuf *err)
{
    int rc = 0;
    if (files->sarif) {
        json_t *doc = report_sarif(l, m);
        char *text = jsonw_dumps(doc, JSON_INDENT(2));
        json_decref(doc);
        if (text == NULL)
            return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        rc = file_write_atomic(files->sarif, text, strlen(text), 0644, err);
        free(text);
        if (rc < 0)
            return rc;
    }
    if (files->junit || files->markdown) {
        struct buf b;
        buf_init(&b, BUF_MAX_DEFAULT);
        if (files->junit) {
            report_junit(&b, l, m);
            rc = file_write_atomic(files->junit, b.ptr, b.len, 0644, err);
        }
        if (rc == 0 && files->markdown) {
            buf_reset(&b);
            report_markdown(&b, l, m);
            rc = file_write_atomic(files->markdown, b.ptr, b.len, 0644, err);
        }
        buf_release(&b);
    }
    return rc;
}
