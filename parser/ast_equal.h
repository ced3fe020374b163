/* Structural equality of syntax trees, ignoring source locations. fmt uses
 * it to prove that formatting never changes meaning (parse(fmt(x)) equals
 * parse(x)); the fuzz target and the fmt tests use it too.
 *
 * Compared: node kinds, literal values (strings byte for byte), operators,
 * names, labels (text and whether quoted), the order of attributes, blocks,
 * list items, map items, call arguments, template parts and traversal
 * steps. Not compared: locations, the source file, comments, layout. */
#ifndef AMLSEC_PARSER_AST_EQUAL_H
#define AMLSEC_PARSER_AST_EQUAL_H

#include <stdbool.h>

#include "parser/ast.h"

bool ast_expr_equal(const struct ast_expr *a, const struct ast_expr *b);
bool ast_body_equal(const struct ast_body *a, const struct ast_body *b);
/* Compares the bodies of two parsed files (not their names). */
bool ast_file_equal(const struct ast_file *a, const struct ast_file *b);

#endif
