/* `amlsec fmt`: the canonical layout of .amlsec files.
 *
 * Works on the token stream (like Terraform's hclwrite): the lexer in
 * keep_comments mode returns every comment and newline, and fmt re-emits
 * the same tokens with canonical whitespace:
 *   - two spaces of indentation per open bracket, counted per line;
 *   - `=` aligned within a run of consecutive single-line attributes (or
 *     map items) of the same body; a blank line, a comment line, a block,
 *     a multi-line value or anything else ends the run;
 *   - trailing comments of consecutive lines aligned;
 *   - one space around `=`, binary operators, `?` and `:`, after `,`, and
 *     inside one-line braces (`{ key = value }`); none inside `()` and
 *     `[]`, around `.`, before `,` or after a unary `!`/`-`;
 *   - a block or map spanning several lines has `{` and `}` ending and
 *     starting their lines;
 *   - at most one blank line in a row, none at the start or end of the
 *     file or of a bracket, no trailing whitespace, a final newline.
 * Quoted strings, templates and heredocs are copied verbatim from the
 * source bytes (heredoc text keeps even its trailing whitespace, which is
 * part of the value); comments keep their text and their place.
 *
 * fmt is idempotent and never changes meaning: fmt_source re-parses its
 * output and checks that the syntax tree is unchanged (parser/ast_equal.h)
 * before returning it. */
#ifndef AMLSEC_PARSER_FMT_H
#define AMLSEC_PARSER_FMT_H

#include "parser/diag.h"
#include "parser/source.h"
#include "util/buf.h"
#include "util/errbuf.h"

/* Formats src into out (appended). Returns 0 on success; AMLSEC_EPARSE
 * when src does not parse (the diagnostics are in diags and out is left
 * as it was); AMLSEC_ENOMEM; AMLSEC_ERROR with err set if the formatted
 * text would not mean the same as src (a bug in fmt: nothing is written). */
int fmt_source(struct buf *out, const struct src_file *src, struct diag_list *diags,
               struct errbuf *err);

#endif
