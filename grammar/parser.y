/* The .amlsec grammar (bison >= 3.8). Actions only build nodes; names,
 * references and types are checked in parser/check.c (STYLE rule 18). */
%require "3.8"
%define api.pure full
%locations
%define api.location.type {struct src_loc}
%define parse.error detailed
%define lr.type lalr
%define lr.default-reduction accepting
%define api.value.type union
%define api.prefix {aml_yy}
%define api.token.prefix {TOK_}
%expect 0
%param {struct parse_ctx *ctx}

%code requires {
#include "parser/ast.h"
#include "parser/source.h"
struct parse_ctx;
struct body_builder;

#define YYLLOC_DEFAULT(Cur, Rhs, N)                                           \
    do {                                                                      \
        if (N) {                                                              \
            (Cur).file = YYRHSLOC(Rhs, 1).file;                               \
            (Cur).begin = YYRHSLOC(Rhs, 1).begin;                             \
            (Cur).end = YYRHSLOC(Rhs, N).end;                                 \
        } else {                                                              \
            (Cur) = YYRHSLOC(Rhs, 0);                                         \
            (Cur).begin = (Cur).end;                                          \
        }                                                                     \
    } while (0)
}

%code provides {
int aml_yylex(AML_YYSTYPE *val, AML_YYLTYPE *loc, struct parse_ctx *ctx);
void aml_yyerror(AML_YYLTYPE *loc, struct parse_ctx *ctx, const char *msg);
}

%code {
#include "parser/parse.h"
#include "util/banned.h"

/* Whether the token read ahead carries a node (a string, a reference) in the arena. */
#define LOOKAHEAD_IN_ARENA (yychar == TOK_STRING || yychar == TOK_FRAG || yychar == TOK_TRAV)

#define YYMAXDEPTH 2000
}

%token NL "newline"
%token LBRACE "'{'" RBRACE "'}'" LBRACKET "'['" RBRACKET "']'"
%token LPAREN "'('" RPAREN "')'" COMMA "','" ASSIGN "'='" COLON "':'"
%token QUESTION "'?'" DOT "'.'" NOT "'!'" MINUS "'-'"
%token EQ "'=='" NE "'!='" AND "'&&'" OR "'||'"
%token LT "'<'" LE "'<='" GT "'>'" GE "'>='"
%token PLUS "'+'" STAR "'*'" SLASH "'/'" PERCENT "'%'"
%token FATARROW "'=>'" ELLIPSIS "'...'"
%token FOR "'for'" IN "'in'" IF "'if'"
%token TRUE "true" FALSE "false" NULL "null"
%token <char *> IDENT "identifier"
%token <struct ast_expr *> TRAV "reference"
%token <int64_t> INT "number"
%token <double> DECIMAL "decimal number"
%token <struct ast_expr *> BIGINT "large number"
%token <struct ast_expr *> STRING "string"
%token OQUOTE "start of a string template" CQUOTE "end of a string template"
%token <struct ast_expr *> FRAG "string text"
%token <int> INTERP "'${'" INTERP_END "'}' closing '${' or '%{'"
%token <int> DIF "'%{ if'" DELSE "'%{ else'" DENDIF "'%{ endif'" DFOR "'%{ for'"
%token <int> DENDFOR "'%{ endfor'"
%token <int> HEREDOC "heredoc"
%token HEREDOC_END "end of heredoc"
%token COMMENT "comment"

%nterm <struct body_builder *> stmts tstmts
%nterm <struct ast_attr *> attribute
%nterm <struct ast_block *> block
%nterm <struct ast_label *> labels
%nterm <struct ast_expr *> expr template heredoc list map exprs args parts
%nterm <struct ast_map_item *> mitems mitem
%nterm <struct ast_expr *> mkey forcond
%nterm <struct ast_for *> forhead
%nterm <bool> ellipsis

%right QUESTION COLON
%left OR
%left AND
%left EQ NE
%left LT LE GT GE
%left PLUS MINUS
%left STAR SLASH PERCENT
%precedence NOT UMINUS
%precedence DOT LBRACKET /* steps bind tightest: -a[0] is -(a[0]), a + f(x).b is a + (f(x).b) */

%%

/* The file's own statements are stmts too, but each one is handed to the
 * caller's hooks as soon as it is complete (parse.h: parse_hooks). */
file
    : tstmts                 { parse_finish_file(ctx, $1, NULL, NULL); }
    | tstmts attribute       { parse_finish_file(ctx, $1, parse_top_attr(ctx, $2), NULL); }
    | tstmts block           { parse_finish_file(ctx, $1, NULL,
                                   parse_top_block(ctx, $2, LOOKAHEAD_IN_ARENA)); }
    ;

tstmts
    : %empty                 { $$ = parse_file_body(ctx); }
    | tstmts NL              { $$ = $1; }
    | tstmts attribute NL    { $$ = $1; parse_body_add(ctx, $1, parse_top_attr(ctx, $2), NULL); }
    | tstmts block NL        { $$ = $1; parse_body_add(ctx, $1, NULL,
                                   parse_top_block(ctx, $2, LOOKAHEAD_IN_ARENA)); }
    | tstmts error NL        { $$ = $1; if (parse_too_many_errors(ctx)) YYABORT; yyerrok; }
    ;

stmts
    : %empty                 { $$ = parse_body_new(ctx); }
    | stmts NL               { $$ = $1; }
    | stmts attribute NL     { $$ = $1; parse_body_add(ctx, $1, $2, NULL); }
    | stmts block NL         { $$ = $1; parse_body_add(ctx, $1, NULL, $2); }
    | stmts error NL         { $$ = $1; if (parse_too_many_errors(ctx)) YYABORT; yyerrok; }
    ;

attribute
    : IDENT ASSIGN expr      { $$ = parse_attr(ctx, $1, &@1, $3, &@$); }
    | IDENT COLON expr       { $$ = parse_attr(ctx, $1, &@1, $3, &@$);
                               parse_colon_hint(ctx, &@2, $1); }
    ;

block
    : IDENT labels LBRACE stmts RBRACE
        { $$ = parse_block(ctx, $1, &@1, $2, &@3, $4, NULL, NULL, &@$); }
    | IDENT labels LBRACE stmts attribute RBRACE
        { $$ = parse_block(ctx, $1, &@1, $2, &@3, $4, $5, NULL, &@$); }
    | IDENT labels LBRACE stmts block RBRACE
        { $$ = parse_block(ctx, $1, &@1, $2, &@3, $4, NULL, $5, &@$); }
    | IDENT labels LBRACE stmts error RBRACE
        { $$ = parse_block(ctx, $1, &@1, $2, &@3, $4, NULL, NULL, &@$);
          if (parse_too_many_errors(ctx)) YYABORT; yyerrok; }
    ;

labels
    : %empty                 { $$ = NULL; }
    | labels IDENT           { $$ = parse_label(ctx, $1, $2, false, &@2); }
    | labels STRING          { $$ = parse_label(ctx, $1, $2->u.str.s, true, &@2); }
    ;

expr
    : expr QUESTION expr COLON expr { $$ = parse_cond(ctx, $1, $3, $5, &@$); }
    | expr OR expr           { $$ = parse_binary(ctx, OP_OR, $1, $3, &@$); }
    | expr AND expr          { $$ = parse_binary(ctx, OP_AND, $1, $3, &@$); }
    | expr EQ expr           { $$ = parse_binary(ctx, OP_EQ, $1, $3, &@$); }
    | expr NE expr           { $$ = parse_binary(ctx, OP_NE, $1, $3, &@$); }
    | expr LT expr           { $$ = parse_binary(ctx, OP_LT, $1, $3, &@$); }
    | expr LE expr           { $$ = parse_binary(ctx, OP_LE, $1, $3, &@$); }
    | expr GT expr           { $$ = parse_binary(ctx, OP_GT, $1, $3, &@$); }
    | expr GE expr           { $$ = parse_binary(ctx, OP_GE, $1, $3, &@$); }
    | expr PLUS expr         { $$ = parse_binary(ctx, OP_ADD, $1, $3, &@$); }
    | expr MINUS expr        { $$ = parse_binary(ctx, OP_SUB, $1, $3, &@$); }
    | expr STAR expr         { $$ = parse_binary(ctx, OP_MUL, $1, $3, &@$); }
    | expr SLASH expr        { $$ = parse_binary(ctx, OP_DIV, $1, $3, &@$); }
    | expr PERCENT expr      { $$ = parse_binary(ctx, OP_MOD, $1, $3, &@$); }
    | NOT expr               { $$ = parse_unary(ctx, OP_NOT, $2, &@$); }
    | MINUS expr %prec UMINUS { $$ = parse_unary(ctx, OP_NEG, $2, &@$); }
    /* the operands, directly (no unit rules: each would be one more
     * reduction per expression) */
    | INT                    { $$ = parse_int(ctx, $1, &@$); }
    | DECIMAL                { $$ = parse_number(ctx, $1, &@$); }
    | BIGINT                 { $$ = $1; }
    | TRUE                   { $$ = parse_bool(ctx, true, &@$); }
    | FALSE                  { $$ = parse_bool(ctx, false, &@$); }
    | NULL                   { $$ = parse_null(ctx, &@$); }
    | STRING                 { $$ = $1; }
    | TRAV                   { $$ = $1; }
    | IDENT                  { $$ = parse_traversal(ctx, $1, &@1); }
    | template               { $$ = $1; }
    | heredoc                { $$ = $1; }
    | IDENT LPAREN args RPAREN { $$ = parse_call(ctx, $1, &@1, $3, &@$); }
    | list                   { $$ = $1; }
    | map                    { $$ = $1; }
    | LPAREN expr RPAREN     { $$ = parse_paren(ctx, $2, &@$); }
    /* Steps: on a reference (a name or a TRAV the lexer joined) they extend
     * its traversal (a.b[0].c, a.b .c); on anything else (f(x)[0], (e).a,
     * [1, 2][*], {a = 1}.a) they make an EXPR_POSTFIX (parse.c) */
    | expr DOT IDENT         { $$ = parse_step_attr(ctx, $1, $3, &@3, &@$); }
    | expr LBRACKET expr RBRACKET { $$ = parse_step_index(ctx, $1, $3, &@3, false, &@$); }
    | expr LBRACKET STAR RBRACKET { $$ = parse_step_splat(ctx, $1, &@2, false, &@$); }
    /* Terraform's legacy forms: a.0 is a[0]; a.*.b the attribute-only splat */
    | expr DOT INT           { $$ = parse_step_index(ctx, $1, parse_int(ctx, $3, &@3), &@3, true,
                                                     &@$); }
    | expr DOT STAR          { $$ = parse_step_splat(ctx, $1, &@2, true, &@$); }
    ;

template
    : OQUOTE parts CQUOTE    { $$ = parse_template(ctx, $2, false, false, &@$); }
    ;

heredoc
    : HEREDOC parts HEREDOC_END { $$ = parse_template(ctx, $2, true, $1, &@$); }
    ;

parts
    : %empty                 { $$ = NULL; }
    | parts FRAG             { $$ = parse_append(ctx, $1, $2); }
    | parts INTERP expr INTERP_END { $$ = parse_append(ctx, $1, $3); }
    | parts DIF expr INTERP_END parts DENDIF INTERP_END
        { $$ = parse_append(ctx, $1, parse_tmpl_if(ctx, $3, $5, false, NULL, &@2, &@7)); }
    | parts DIF expr INTERP_END parts DELSE INTERP_END parts DENDIF INTERP_END
        { $$ = parse_append(ctx, $1, parse_tmpl_if(ctx, $3, $5, true, $8, &@2, &@10)); }
    | parts DFOR forhead INTERP_END parts DENDFOR INTERP_END
        { $$ = parse_append(ctx, $1, parse_tmpl_for(ctx, $3, $5, &@2, &@7)); }
    ;

list
    : LBRACKET RBRACKET              { $$ = parse_list(ctx, NULL, &@$); }
    | LBRACKET FOR forhead COLON expr forcond RBRACKET
        { $$ = parse_for(ctx, $3, NULL, $5, false, $6, &@$); }
    | LBRACKET exprs RBRACKET        { $$ = parse_list(ctx, $2, &@$); }
    | LBRACKET exprs COMMA RBRACKET  { $$ = parse_list(ctx, $2, &@$); }
    ;

exprs
    : expr                   { $$ = parse_append(ctx, NULL, $1); }
    | exprs COMMA expr       { $$ = parse_append(ctx, $1, $3); }
    ;

args
    : %empty                 { $$ = NULL; }
    | exprs                  { $$ = $1; }
    | exprs COMMA            { $$ = $1; }
    | exprs ELLIPSIS         { $$ = parse_expand_last(ctx, $1, &@2); }
    ;

map
    : LBRACE mitems RBRACE         { $$ = parse_map(ctx, $2, &@$); }
    /* mitems holds only the newlines before `for` (grammar/lexer.h) */
    | LBRACE mitems FOR forhead COLON expr FATARROW expr ellipsis forcond RBRACE
        { $$ = parse_for(ctx, $4, $6, $8, $9, $10, &@$); }
    | LBRACE mitems mitem RBRACE   { $$ = parse_map(ctx, parse_map_append(ctx, $2, $3), &@$); }
    ;

mitems
    : %empty                 { $$ = NULL; }
    | mitems NL              { $$ = $1; }
    | mitems mitem NL        { $$ = parse_map_append(ctx, $1, $2); }
    | mitems mitem COMMA     { $$ = parse_map_append(ctx, $1, $2); }
    ;

mitem
    : mkey ASSIGN expr       { $$ = parse_map_item(ctx, $1, $3, &@$); }
    | mkey COLON expr        { $$ = parse_map_item(ctx, $1, $3, &@$); }
    ;

/* for k, v in coll */
forhead
    : IDENT IN expr              { $$ = parse_for_head(ctx, NULL, NULL, $1, &@1, $3); }
    | IDENT COMMA IDENT IN expr  { $$ = parse_for_head(ctx, $1, &@1, $3, &@3, $5); }
    ;

forcond
    : %empty                 { $$ = NULL; }
    | IF expr                { $$ = $2; }
    ;

ellipsis
    : %empty                 { $$ = false; }
    | ELLIPSIS               { $$ = true; }
    ;

/* a name is the key itself; an expression key is written in parentheses */
mkey
    : IDENT                  { $$ = parse_key_ident(ctx, $1, &@1); }
    | STRING                 { $$ = $1; }
    | LPAREN expr RPAREN     { $$ = parse_paren(ctx, $2, &@$); }
    ;

%%
