/* Unit tests for the front end: lexer tokens and locations, parser shapes,
 * heredoc dedent, evaluation, for_each expansion, variables, references. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grammar/lexer.h"
#include "engine/known.h"
#include "grammar/parser.h"
#include "parser/config.h"
#include "parser/eval.h"
#include "parser/parse.h"
#include "parser/value.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/jsonw.h"

static struct src_file *mem(const char *text)
{
    struct src_file *f = NULL;
    struct errbuf err = ERRBUF_INIT;
    assert_int_equal(src_file_from_mem(&f, "t.amlsec", text, strlen(text), &err), 0);
    return f;
}

static void test_frontend__lexer_tokens_and_locations(void **state)
{
    struct src_file *f = mem("a = \"x\"\n  b2 = [1, true]\n");
    struct arena ar;
    struct diag_list dl;
    struct lexer lx;
    AML_YYSTYPE v;
    struct src_loc loc;
    static const int want[] = {TOK_IDENT,    TOK_ASSIGN,   TOK_STRING, TOK_NL,    TOK_IDENT,
                               TOK_ASSIGN,   TOK_LBRACKET, TOK_INT,    TOK_COMMA, TOK_TRUE,
                               TOK_RBRACKET, TOK_NL,       TOK_YYEOF};
    (void)state;
    arena_init(&ar);
    diag_list_init(&dl);
    lexer_init(&lx, f, &ar, &dl);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        int t = lexer_next(&lx, &v, &loc);
        assert_int_equal(t, want[i]);
        if (i == 4) { /* b2 on line 2, column 3 */
            assert_string_equal(v.TOK_IDENT, "b2");
            struct src_pos at = src_loc_start(&loc), to = src_loc_stop(&loc);
            assert_int_equal(at.line, 2);
            assert_int_equal(at.col, 3);
            assert_int_equal(to.line, 2);
            assert_int_equal(to.col, 5);
        }
        if (i == 2)
            assert_string_equal(v.TOK_STRING->u.str.s, "x");
    }
    assert_int_equal(dl.errors, 0);
    lexer_release(&lx);
    diag_list_release(&dl);
    arena_release(&ar);
    src_file_free(f);
}

static void test_frontend__newlines_skipped_inside_brackets(void **state)
{
    struct src_file *f = mem("x = [\n1,\n2\n]\n");
    struct arena ar;
    struct diag_list dl;
    struct lexer lx;
    AML_YYSTYPE v;
    struct src_loc loc;
    int t, nl = 0;
    (void)state;
    arena_init(&ar);
    diag_list_init(&dl);
    lexer_init(&lx, f, &ar, &dl);
    while ((t = lexer_next(&lx, &v, &loc)) != TOK_YYEOF)
        nl += t == TOK_NL;
    assert_int_equal(nl, 1); /* only the one after ']' */
    lexer_release(&lx);
    diag_list_release(&dl);
    arena_release(&ar);
    src_file_free(f);
}

static struct ast_file *parse_ok(const char *text, struct arena *ar, struct src_file **f)
{
    struct diag_list dl;
    struct ast_file *af = NULL;
    diag_list_init(&dl);
    *f = mem(text);
    assert_int_equal(parse_file(&af, *f, ar, &dl), 0);
    assert_int_equal(dl.errors, 0);
    diag_list_release(&dl);
    return af;
}

/* The parser's lexer joins `a.b.c` into one token: the tree must be what
 * IDENT DOT IDENT ... builds, with every step's location, and the rules for
 * spaces, index steps and keywords unchanged. */
static void test_frontend__joined_references_build_the_same_tree(void **state)
{
    static const char text[] = "x = a.b[0].c.d\ny = a . b\nz = format(\"%s\", k.v-1)\n"
                               "w = true\n";
    struct arena ar;
    struct src_file *f;
    struct ast_file *af;
    const struct ast_expr *e;
    const struct ast_step *s;
    (void)state;
    arena_init(&ar);
    af = parse_ok(text, &ar, &f);
    e = ast_body_attr(&af->body, "x")->value;
    assert_int_equal(e->kind, EXPR_TRAVERSAL);
    assert_string_equal(e->u.trav.root, "a");
    assert_int_equal(e->u.trav.n, 4);
    s = e->u.trav.steps;
    assert_int_equal(s->kind, STEP_ATTR);
    assert_string_equal(s->name, "b");
    assert_int_equal(s->loc.begin, 6);
    assert_int_equal(s->loc.end, 7);
    s = s->next;
    assert_int_equal(s->kind, STEP_INDEX);
    s = s->next;
    assert_string_equal(s->name, "c");
    assert_string_equal(s->next->name, "d");
    assert_int_equal(s->next->loc.begin, 13);
    assert_int_equal(e->loc.begin, 4);
    assert_int_equal(e->loc.end, 14);
    e = ast_body_attr(&af->body, "y")->value;
    assert_int_equal(e->u.trav.n, 1);
    assert_string_equal(e->u.trav.steps->name, "b");
    assert_int_equal(e->loc.end, 24);
    e = ast_body_attr(&af->body, "z")->value->u.call.args->next;
    assert_string_equal(e->u.trav.root, "k");
    assert_string_equal(e->u.trav.steps->name, "v-1"); /* identifiers may hold '-' */
    assert_int_equal(ast_body_attr(&af->body, "w")->value->kind, EXPR_BOOL);
    arena_release(&ar);
    src_file_free(f);
}

static void test_frontend__parser_shapes(void **state)
{
    struct arena ar;
    struct src_file *f;
    struct ast_file *af;
    const struct ast_block *b;
    const struct ast_attr *a;
    (void)state;
    arena_init(&ar);
    af = parse_ok("existing subnet \"s\" {\n  id = \"x\"\n}\n"
                  "w \"p\" {\n  n = var.x[0].y\n  c = f(1, \"a${b}c\")\n  inner { k = 1 }\n}\n",
                  &ar, &f);
    assert_int_equal(af->body.nblocks, 2);
    b = af->body.blocks;
    assert_string_equal(b->type, "existing");
    assert_int_equal(b->nlabels, 2);
    assert_string_equal(b->labels->text, "subnet");
    assert_false(b->labels->quoted);
    assert_string_equal(b->labels->next->text, "s");
    assert_true(b->labels->next->quoted);
    b = b->next;
    a = ast_body_attr(&b->body, "n");
    assert_int_equal(a->value->kind, EXPR_TRAVERSAL);
    assert_string_equal(a->value->u.trav.root, "var");
    assert_int_equal(a->value->u.trav.n, 3);
    assert_int_equal(a->value->u.trav.steps->next->kind, STEP_INDEX);
    a = ast_body_attr(&b->body, "c");
    assert_int_equal(a->value->kind, EXPR_CALL);
    assert_int_equal(a->value->u.call.n, 2);
    assert_int_equal(a->value->u.call.args->next->kind, EXPR_TEMPLATE);
    assert_int_equal(a->value->u.call.args->next->u.tmpl.n, 3);
    assert_non_null(ast_body_block(&b->body, "inner"));
    arena_release(&ar);
    src_file_free(f);
}

static void test_frontend__heredoc_dedent(void **state)
{
    struct arena ar;
    struct src_file *f;
    struct ast_file *af;
    const struct ast_expr *e;
    (void)state;
    arena_init(&ar);
    af = parse_ok("x {\n  a = <<-EOT\n    one\n\n      two\n    EOT\n  b = <<EOT\n  raw\nEOT\n}\n",
                  &ar, &f);
    e = ast_body_attr(&af->body.blocks->body, "a")->value;
    assert_int_equal(e->kind, EXPR_TEMPLATE);
    assert_string_equal(e->u.tmpl.parts->u.str.s, "one\n");
    assert_string_equal(e->u.tmpl.parts->next->next->u.str.s, "  two\n");
    e = ast_body_attr(&af->body.blocks->body, "b")->value;
    assert_string_equal(e->u.tmpl.parts->u.str.s, "  raw\n");
    arena_release(&ar);
    src_file_free(f);
}

/* Writes text to a temporary file and loads it as a configuration with o
 * (its path set here). */
static int load_opts(struct config **cfg, struct diag_list *dl, const char *text,
                     struct config_opts *o)
{
    char path[] = "/tmp/amlsec-frontend-XXXXXX.amlsec";
    int fd = mkstemps(path, 7);
    struct errbuf err = ERRBUF_INIT;
    int rc;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    o->path = path;
    diag_list_init(dl);
    rc = config_load(cfg, o, dl, &err);
    unlink(path);
    return rc;
}

static int load_mode(struct config **cfg, struct diag_list *dl, const char *text, bool check_only)
{
    struct config_opts o;
    memset(&o, 0, sizeof(o));
    o.check_only = check_only;
    return load_opts(cfg, dl, text, &o);
}

static int load(struct config **cfg, struct diag_list *dl, const char *text,
                const struct config_var_assign *vars, size_t nvars, char *const *env)
{
    struct config_opts o;
    memset(&o, 0, sizeof(o));
    o.vars = vars;
    o.nvars = nvars;
    o.environ = env;
    return load_opts(cfg, dl, text, &o);
}

static void test_frontend__evaluates_instances(void **state)
{
    static const char text[] =
        "settings {\n  subscription = env(\"SUB\", \"s0\")\n  location = \"westeurope\"\n}\n"
        "variable \"n\" {\n  type = number\n  default = 2\n}\n"
        "variable \"secret\" {\n  sensitive = true\n  default = \"hunter2\"\n}\n"
        "rg \"ml\" {\n  name = \"rg-${settings.subscription}-${var.n}\"\n"
        "  tags = { a = var.n == 3 ? \"three\" : \"other\", s = var.secret }\n}\n"
        "pe \"p\" {\n  for_each = { blob = 1, file = 2 }\n  target = rg.ml.name\n"
        "  sub = each.key\n  n = each.value\n  lifecycle {\n    prevent_destroy = true\n"
        "    ignore_rules = { \"WS-PRIVATE\" = \"lab only\" }\n  }\n}\n"
        "x \"y\" {\n  t = pe.p[\"file\"].sub\n  u = rg.ml.id\n  depends_on = [pe.p]\n}\n";
    static const struct config_var_assign vars[] = {{"n", "3"}};
    char *env[] = {"SUB=abc", NULL};
    struct config *cfg = NULL;
    struct diag_list dl;
    struct cfg_instance *in;
    (void)state;

    assert_int_equal(load(&cfg, &dl, text, vars, 1, env), 0);
    in = config_find_instance(cfg, "rg.ml");
    assert_non_null(in);
    assert_string_equal(json_string_value(json_object_get(in->attrs, "name")), "rg-abc-3");
    assert_string_equal(json_string_value(json_object_get(json_object_get(in->attrs, "tags"), "a")),
                        "three");
    assert_int_equal(json_array_size(in->sensitive), 1);
    /* a map literal is marked key by key: only the tag read from the secret */
    assert_string_equal(json_string_value(json_array_get(in->sensitive, 0)), "tags.s");
    in = config_find_instance(cfg, "pe.p[\"file\"]");
    assert_non_null(in);
    assert_int_equal(json_integer_value(json_object_get(in->attrs, "n")), 2);
    assert_null(json_object_get(in->attrs, "for_each"));
    assert_true(in->resource->lifecycle.prevent_destroy);
    assert_int_equal(in->resource->lifecycle.nignore_rules, 1);
    assert_string_equal(in->resource->lifecycle.ignore_rules[0].reason, "lab only");
    in = config_find_instance(cfg, "x.y");
    assert_string_equal(json_string_value(json_object_get(in->attrs, "t")), "file");
    assert_true(value_is_unknown(json_object_get(in->attrs, "u")));
    assert_int_equal(in->resource->ndeps, 2);
    {
        struct src_loc loc = config_attr_loc(config_find_instance(cfg, "rg.ml"), "tags");
        assert_int_equal(src_loc_start(&loc).line, 15);
    }
    config_free(cfg);
    diag_list_release(&dl);
}

/* for expressions: iteration, scoping, references (dependencies) and
 * sensitivity seen through them. */
static void test_frontend__for_expressions(void **state)
{
    static const char text[] =
        "variable \"secret\" {\n  sensitive = true\n  default = \"canary-4f1d\"\n}\n"
        "variable \"m\" {\n  default = { b = 2, a = 1 }\n}\n"
        "rg \"ml\" {\n  name = \"x\"\n}\n"
        "rg \"ops\" {\n  name = \"y\"\n}\n"
        "pe \"p\" {\n"
        "  l = [for k, v in var.m : \"${k}${v * 10}\" if v > 0]\n"
        "  g = { for k, v in var.m : v % 2 == 0 ? \"even\" : \"odd\" => k... }\n"
        "  ids = [for r in [rg.ml, rg.ops] : r.name]\n"
        "  open = { a = 1 }\n"
        "  hidden = { for k, v in var.m : k => var.secret }\n"
        "}\n";
    struct config *cfg = NULL;
    struct diag_list dl;
    struct cfg_instance *in;
    json_t *l, *g;
    (void)state;

    assert_int_equal(load(&cfg, &dl, text, NULL, 0, NULL), 0);
    in = config_find_instance(cfg, "pe.p");
    assert_non_null(in);
    l = json_object_get(in->attrs, "l");
    assert_int_equal(json_array_size(l), 2); /* lexical key order */
    assert_string_equal(json_string_value(json_array_get(l, 0)), "a10");
    assert_string_equal(json_string_value(json_array_get(l, 1)), "b20");
    g = json_object_get(in->attrs, "g");
    assert_string_equal(json_string_value(json_array_get(json_object_get(g, "odd"), 0)), "a");
    assert_string_equal(json_string_value(json_array_get(json_object_get(g, "even"), 0)), "b");
    assert_string_equal(json_string_value(json_array_get(json_object_get(in->attrs, "ids"), 1)),
                        "y");
    /* the references inside the for expression are dependencies */
    assert_int_equal(in->resource->ndeps, 2);
    /* only the value read from the secret is sensitive */
    assert_true(value_path_sensitive(in->sensitive, "hidden", false));
    assert_false(value_path_sensitive(in->sensitive, "l", false));
    assert_false(value_path_sensitive(in->sensitive, "open", false));
    config_free(cfg);
    diag_list_release(&dl);
}

/* count: numbered instances, count.index, references as a list, count = 0. */
static void test_frontend__count(void **state)
{
    static const char text[] = "rg \"g\" {\n  count = 3\n  n = count.index * 10\n}\n"
                               "rg \"none\" {\n  count = 0\n}\n"
                               "x \"y\" {\n  second = rg.g[1].n\n  all = [for g in rg.g : g.n]\n"
                               "  zero = length(rg.none)\n}\n";
    struct config *cfg = NULL;
    struct diag_list dl;
    struct cfg_instance *in;
    (void)state;

    assert_int_equal(load(&cfg, &dl, text, NULL, 0, NULL), 0);
    assert_int_equal(config_find(cfg, false, "rg", "g")->ninstances, 3);
    assert_int_equal(config_find(cfg, false, "rg", "none")->ninstances, 0);
    in = config_find_instance(cfg, "rg.g[2]");
    assert_non_null(in);
    assert_int_equal(json_integer_value(json_object_get(in->attrs, "n")), 20);
    assert_null(json_object_get(in->attrs, "count"));
    in = config_find_instance(cfg, "x.y");
    assert_int_equal(json_integer_value(json_object_get(in->attrs, "second")), 10);
    assert_int_equal(json_array_size(json_object_get(in->attrs, "all")), 3);
    assert_int_equal(json_integer_value(json_object_get(in->attrs, "zero")), 0);
    assert_int_equal(in->resource->ndeps, 2);
    config_free(cfg);
    diag_list_release(&dl);
}

/* Evaluates expr as attribute v of a resource (with a variable s =
 * "secret-7" that is sensitive, and a resource r whose id is unknown):
 * the value (new reference) or NULL, and the first error's message. */
static json_t *eval_one(const char *expr, char *msg, size_t size)
{
    char text[2048];
    struct config *cfg = NULL;
    struct diag_list dl;
    json_t *v = NULL;
    snprintf(text, sizeof(text),
             "variable \"s\" {\n  sensitive = true\n  default = \"secret-7\"\n}\n"
             "r \"u\" {\n  n = 1\n}\nx \"y\" {\n  v = %s\n}\n",
             expr);
    msg[0] = '\0';
    if (load(&cfg, &dl, text, NULL, 0, NULL) == 0)
        v = json_incref(json_object_get(config_find_instance(cfg, "x.y")->attrs, "v"));
    else if (dl.n > 0)
        snprintf(msg, size, "%s", dl.items[0].message);
    config_free(cfg);
    diag_list_release(&dl);
    return v;
}

static void want_value(const char *expr, const char *want_json)
{
    char msg[512];
    json_t *v = eval_one(expr, msg, sizeof(msg)), *want;
    char *got;
    if (v == NULL)
        fail_msg("%s: %s", expr, msg);
    want = json_loads(want_json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    got = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (want == NULL || !json_equal(v, want))
        fail_msg("%s: got %s, want %s", expr, got, want_json);
    free(got);
    json_decref(want);
    json_decref(v);
}

static void want_error(const char *expr, const char *want_part)
{
    char msg[512];
    json_t *v = eval_one(expr, msg, sizeof(msg));
    if (v != NULL)
        fail_msg("%s: no error", expr);
    if (strstr(msg, want_part) == NULL)
        fail_msg("%s: got '%s', want '%s'", expr, msg, want_part);
}

/* Functions' edge cases: Terraform's results at the boundaries. */
static void test_frontend__function_edge_cases(void **state)
{
    (void)state;
    want_value("substr(\"h\u00e9llo\", -4, 2)", "\"\u00e9l\"");
    want_value("substr(\"abc\", 3, 5)", "\"\"");
    want_value("split(\",\", \"\")", "[\"\"]");
    want_value("split(\",\", \"a,\")", "[\"a\", \"\"]");
    want_value("replace(\"aaa\", \"/a*/\", \"b\")", "\"b\"");
    /* Go matches the empty pattern at the end too (Terraform: "-a-b-c-") */
    want_value("replace(\"abc\", \"/x*/\", \"-\")", "\"-a-b-c-\"");
    want_value("regexall(\"[0-9]*\", \"a1\")", "[\"\", \"1\"]");
    want_value("element([1, 2, 3], 7)", "2");
    want_value("range(3, 0, -2)", "[3, 1]");
    want_value("range(0)", "[]");
    want_value("cidrsubnet(\"10.1.2.0/24\", 0, 0)", "\"10.1.2.0/24\"");
    want_value("cidrsubnet(\"fd00::/8\", 64, 1)", "\"fd00::100:0:0:0/72\"");
    want_value("cidrhost(\"10.0.0.0/8\", 16777215)", "\"10.255.255.255\"");
    want_value("cidrhost(\"fd00::/120\", -1)", "\"fd00::ff\"");
    want_value("cidrnetmask(\"0.0.0.0/0\")", "\"0.0.0.0\"");
    want_value("toset([3, 1, 3])", "[1, 3]");
    want_value("formatlist(\"%s!\", \"a\")", "[\"a!\"]");
    want_value("jsondecode(\"[1e2, -0.0]\")", "[100, 0]");
    want_value("flatten([[], [[]]])", "[]");
    want_value("merge()", "{}");
    want_value("coalesce(null, 0)", "0");
    want_value("max(-5)", "-5");
    want_value("trimspace(\"\")", "\"\"");
    want_value("base64decode(\"\")", "\"\"");
    want_value("concat([1], [[2]])", "[1, [2]]");
    want_value("length(r.u[*].n)", "1");
    want_value("[for i in [[{ a = 1 }, { a = 2 }]] : i[*].a]", "[[1, 2]]");
    /* unknown values: known only after apply, whatever the function */
    /* an operator or conditional on an unknown is deferred too, then made */
    want_value("try(r.u.id, \"d\") == null", "{\"$unknown\": {\"call\": \"==\\u0000\", \"args\": "
                                             "[{\"$unknown\": \"r.u\\u0000id\"}, null]}}");
    want_value("!(r.u.id == \"a\") ? 1 : 2",
               "{\"$unknown\": {\"call\": \"?:\\u0000\", \"args\": [{\"$unknown\": {\"call\": "
               "\"!\\u0000\", "
               "\"args\": [{\"$unknown\": {\"call\": \"==\\u0000\", \"args\": [{\"$unknown\": "
               "\"r.u\\u0000id\"}, \"a\"]}}]}}, 1, 2]}}");
    want_value("can(r.u.id)", "{\"$unknown\": \"\\u0000\"}");
    /* length() and keys() need only the collection, not its elements (Terraform) */
    want_value("length([for i in [r.u.id] : i])", "1");
    /* a call on a resource's unknown is made once it is known (engine/known.h) */
    want_value("length(r.u.id)", "{\"$unknown\": {\"call\": \"length\\u0000\", \"args\": "
                                 "[{\"$unknown\": \"r.u\\u0000id\"}]}}");
    /* a condition known only after apply: the whole for expression is made
     * then (Terraform's result is unknown as a whole until it is known) */
    want_value(
        "[for i in [1, 2] : i if r.u.id == \"a\"]",
        "{\"$unknown\": {\"call\": \"[for]\\u0000\", \"args\": ["
        "[{\"$unknown\": {\"call\": \"==\\u0000\", \"args\": [{\"$unknown\": \"r.u\\u0000id\"}, "
        "\"a\"]}}, 1], "
        "[{\"$unknown\": {\"call\": \"==\\u0000\", \"args\": [{\"$unknown\": \"r.u\\u0000id\"}, "
        "\"a\"]}}, 2]]}}");
    want_value("[for i in [1, 2] : i if i > r.u.n]", "[2]");
    /* errors */
    want_error("substr(\"abc\", -4, 1)", "outside a string of 3 characters");
    want_error("range(0, 10, 0)", "the step must not be 0");
    want_error("cidrsubnet(\"10.0.0.0/33\", 1, 0)", "is not an address prefix");
    want_error("cidrhost(\"10.0.0.0/24\", -257)", "outside a prefix of 256 addresses");
    want_error("jsondecode(\"{\\\"a\\\": 1, \\\"a\\\": 2}\")", "not valid JSON");
    want_error("lookup({}, var.s)", "sensitive: not shown");
    want_error("[for i in [var.s] : i * 2]", "'*' needs numbers, not a string");
    want_error("can()", "can() takes 1 argument, not 0");
    want_error("nosuch(1)", "unknown function 'nosuch'");
}

/* Every function the checks accept is one evaluation knows: none is
 * reported unknown (the dispatch table is searched by halves). */
static void test_frontend__every_function_dispatches(void **state)
{
    char expr[128], msg[512];
    (void)state;
    for (const char *const *f = eval_functions; *f; f++) {
        json_t *v;
        snprintf(expr, sizeof(expr), "%s(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)", *f);
        v = eval_one(expr, msg, sizeof(msg));
        json_decref(v);
        if (strstr(msg, "unknown function") != NULL)
            fail_msg("%s is not dispatched", *f);
        if (f != eval_functions && strcmp(f[-1], *f) >= 0 && strcmp(*f, "can") != 0)
            fail_msg("eval_functions is not sorted at %s", *f);
    }
}

static json_t *fake_value(void *payload, const struct config *cfg, const struct cfg_instance *in)
{
    (void)payload;
    (void)cfg;
    return json_pack("{s:s}", "id", in->address);
}

static void test_frontend__resolver_supplies_values(void **state)
{
    char path[] = "/tmp/amlsec-frontend-XXXXXX.amlsec";
    const char *text = "a \"one\" {\n  n = 1\n}\nb \"two\" {\n  ref = a.one.id\n}\n";
    int fd = mkstemps(path, 7);
    struct config_opts o;
    struct config *cfg = NULL;
    struct diag_list dl;
    struct errbuf err = ERRBUF_INIT;
    (void)state;
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    memset(&o, 0, sizeof(o));
    o.path = path;
    o.resolver.instance_value = fake_value;
    diag_list_init(&dl);
    assert_int_equal(config_load(&cfg, &o, &dl, &err), 0);
    assert_string_equal(
        json_string_value(json_object_get(config_find_instance(cfg, "b.two")->attrs, "ref")),
        "a.one");
    config_free(cfg);
    diag_list_release(&dl);
    unlink(path);
}

/* The origin a reference's unknown value is tagged with. */
static void assert_origin(const struct config *cfg, const char *name, const char *address,
                          const char *attr)
{
    const json_t *v = json_object_get(config_find_instance(cfg, "b.r")->attrs, name);
    const char *a = NULL, *t = NULL;
    assert_true(value_unknown_origin(v, &a, &t));
    assert_string_equal(a, address);
    assert_string_equal(t, attr);
}

static void test_frontend__references_to_unknowns_are_tagged(void **state)
{
    static const char text[] = "a \"w\" {\n  identity {\n    type = \"SystemAssigned\"\n  }\n}\n"
                               "a \"f\" {\n  for_each = [\"p\", \"q\"]\n  n = each.value\n}\n"
                               "c \"z\" {\n  ref = a.w.id\n}\n"
                               "b \"r\" {\n"
                               "  top    = a.w.principal_id\n"
                               "  nested = a.w.identity.principal_id\n"
                               "  deeper = a.w.missing.x.y\n"
                               "  id     = a.w.id\n"
                               "  each   = a.f[\"q\"].identity.principal_id\n"
                               "  shared = c.z.ref\n"
                               "  known  = a.w.identity.type\n"
                               "}\n";
    struct config *cfg = NULL;
    struct diag_list dl;
    (void)state;

    assert_int_equal(load(&cfg, &dl, text, NULL, 0, NULL), 0);
    assert_origin(cfg, "top", "a.w", "principal_id");
    assert_origin(cfg, "nested", "a.w", "identity.principal_id");
    assert_origin(cfg, "deeper", "a.w", "missing.x.y");
    assert_origin(cfg, "id", "a.w", "id");
    assert_origin(cfg, "each", "a.f[\"q\"]", "identity.principal_id");
    /* an unknown the referenced instance holds from elsewhere keeps its origin */
    assert_origin(cfg, "shared", "a.w", "id");
    assert_string_equal(
        json_string_value(json_object_get(config_find_instance(cfg, "b.r")->attrs, "known")),
        "SystemAssigned");
    config_free(cfg);
    diag_list_release(&dl);
}

/* known_fill's lookup for test_frontend__postfix_steps: a.w's principal_id
 * once it "exists". */
static json_t *postfix_lookup(void *payload, const char *address, const char *attr)
{
    (void)payload;
    if (strcmp(address, "a.w") == 0 && strcmp(attr, "principal_id") == 0)
        return json_string("{\"k\": [\"p0\", \"p1\"], \"n\": \"x\"}");
    if (strcmp(address, "a.w") == 0 && strcmp(attr, "missing") == 0)
        return json_pack("{s:i}", "p", 1);
    if (strcmp(address, "a.w") == 0 && strcmp(attr, "keyname") == 0)
        return json_string("k");
    return NULL;
}

/* Index, attribute and splat steps on any expression: the tree (a name's
 * steps stay one traversal), the values, the dependencies of what the base
 * reads, and steps on a value known only after apply deferred until it is
 * known (engine/known.h). */
static void test_frontend__postfix_steps(void **state)
{
    static const char text[] = "a \"w\" {\n  name = \"w\"\n}\n"
                               "a \"u\" {\n  name = \"u\"\n}\n"
                               "b \"r\" {\n"
                               "  second = split(\",\", \"x,y\")[1]\n"
                               "  pick   = (a.w).name\n"
                               "  splat  = [{ n = 1 }, { n = 2 }][*].n\n"
                               "  later  = jsondecode(a.w.principal_id).k[1]\n"
                               "  each   = jsondecode(a.w.principal_id)[*].n\n"
                               "  key    = { p = 1 }[a.u.principal_id]\n"
                               "}\n";
    struct arena ar;
    struct src_file *f;
    struct ast_file *af;
    const struct ast_expr *e;
    struct config *cfg = NULL;
    struct diag_list dl;
    struct cfg_instance *in;
    json_t *v;
    size_t left = 0;
    (void)state;

    arena_init(&ar);
    af = parse_ok("x = f(1).a[0]\ny = (a).b\nz = a.b[0].c\n", &ar, &f);
    e = ast_body_attr(&af->body, "x")->value;
    assert_int_equal(e->kind, EXPR_POSTFIX);
    assert_int_equal(e->u.post.base->kind, EXPR_CALL);
    assert_int_equal(e->u.post.n, 2);
    assert_string_equal(e->u.post.steps->name, "a");
    assert_int_equal(e->u.post.steps->next->kind, STEP_INDEX);
    assert_int_equal(e->loc.begin, 4);
    assert_int_equal(e->loc.end, 13);
    e = ast_body_attr(&af->body, "y")->value;
    assert_int_equal(e->kind, EXPR_POSTFIX);
    assert_int_equal(e->u.post.base->kind, EXPR_PAREN);
    e = ast_body_attr(&af->body, "z")->value; /* the fast path: one traversal */
    assert_int_equal(e->kind, EXPR_TRAVERSAL);
    assert_int_equal(e->u.trav.n, 3);
    arena_release(&ar);
    src_file_free(f);

    assert_int_equal(load(&cfg, &dl, text, NULL, 0, NULL), 0);
    in = config_find_instance(cfg, "b.r");
    assert_non_null(in);
    assert_string_equal(json_string_value(json_object_get(in->attrs, "second")), "y");
    assert_string_equal(json_string_value(json_object_get(in->attrs, "pick")), "w");
    v = json_object_get(in->attrs, "splat");
    assert_int_equal(json_array_size(v), 2);
    assert_int_equal(json_integer_value(json_array_get(v, 1)), 2);
    /* what the bases read is a dependency: a.w and a.u */
    assert_int_equal(in->resource->ndeps, 2);
    /* known only after apply, then filled in */
    v = json_object_get(in->attrs, "later");
    assert_true(value_is_unknown(v));
    assert_true(value_unknown_resolvable(v));
    v = known_fill(json_incref(v), postfix_lookup, NULL, &left);
    assert_int_equal(left, 0);
    assert_string_equal(json_string_value(v), "p1");
    json_decref(v);
    v = known_fill(json_incref(json_object_get(in->attrs, "each")), postfix_lookup, NULL, &left);
    assert_int_equal(left, 0);
    assert_int_equal(json_array_size(v), 1); /* a map splats to a list of itself */
    assert_string_equal(json_string_value(json_array_get(v, 0)), "x");
    json_decref(v);
    /* an index known only after apply: unknown until a.u exists */
    v = known_fill(json_incref(json_object_get(in->attrs, "key")), postfix_lookup, NULL, &left);
    assert_int_equal(left, 1);
    assert_true(value_is_unknown(v));
    json_decref(v);
    config_free(cfg);
    diag_list_release(&dl);
}

/* known_fill's lookup for test_frontend__legacy_steps: a.w's pools once
 * it "exists". */
static json_t *legacy_lookup(void *payload, const char *address, const char *attr)
{
    (void)payload;
    if (strcmp(address, "a.w") == 0 && strcmp(attr, "pools") == 0)
        return json_string(
            "[{\"n\": \"a\", \"z\": [\"1\", \"2\"]}, {\"n\": \"b\", \"z\": [\"3\"]}]");
    return NULL;
}

/* The string of the known_fill'ed attribute name of b.r (a list joined). */
static void assert_filled(const struct config *cfg, const char *name, const char *want)
{
    struct cfg_instance *in = config_find_instance(cfg, "b.r");
    json_t *v = json_object_get(in->attrs, name), *x;
    size_t left = 0, i;
    char got[64] = "";
    assert_true(value_is_unknown(v));
    assert_true(value_unknown_resolvable(v));
    v = known_fill(json_incref(v), legacy_lookup, NULL, &left);
    assert_int_equal(left, 0);
    if (json_is_string(v))
        snprintf(got, sizeof(got), "%s", json_string_value(v));
    json_array_foreach(v, i, x)
    {
        size_t n = strlen(got);
        snprintf(got + n, sizeof(got) - n, "%s%s", i ? "," : "", json_string_value(x));
    }
    json_decref(v);
    assert_string_equal(got, want);
}

/* Terraform's legacy forms: a.0 is an index step (a.0.1 two of them, not
 * a.(0.1)), a.*.b the attribute-only splat; on a value known only after
 * apply they are deferred (the splat's own steps counted, [".*", N]) and
 * made as they would have been. */
static void test_frontend__legacy_steps(void **state)
{
    static const char text[] = "a \"w\" {\n  name = \"w\"\n}\n"
                               "b \"r\" {\n"
                               "  lsplat = jsondecode(a.w.pools).*.z[0]\n"
                               "  fsplat = jsondecode(a.w.pools)[*].z[0]\n"
                               "  ldot   = jsondecode(a.w.pools).*.z.0\n"
                               "  lidx   = jsondecode(a.w.pools).1.n\n"
                               "  names  = jsondecode(a.w.pools).*.n[1]\n"
                               "}\n";
    struct arena ar;
    struct src_file *f;
    struct ast_file *af;
    const struct ast_expr *e;
    const struct ast_step *st;
    struct config *cfg = NULL;
    struct diag_list dl;
    (void)state;

    arena_init(&ar);
    af = parse_ok("x = a.0.1\ny = a.b.*.c[0]\nz = f(1).2\n", &ar, &f);
    e = ast_body_attr(&af->body, "x")->value;
    assert_int_equal(e->kind, EXPR_TRAVERSAL);
    assert_int_equal(e->u.trav.n, 2);
    for (st = e->u.trav.steps; st; st = st->next) {
        assert_int_equal(st->kind, STEP_INDEX);
        assert_true(st->legacy);
        assert_int_equal(st->index->kind, EXPR_INT);
    }
    assert_int_equal(e->u.trav.steps->next->index->u.i, 1);
    assert_int_equal(e->u.trav.steps->next->loc.begin, 8); /* the caret's place: the 1 */
    e = ast_body_attr(&af->body, "y")->value;
    assert_int_equal(e->u.trav.n, 4);
    st = e->u.trav.steps->next;
    assert_int_equal(st->kind, STEP_SPLAT);
    assert_true(st->legacy);
    assert_false(st->next->next->legacy); /* [0] */
    e = ast_body_attr(&af->body, "z")->value;
    assert_int_equal(e->kind, EXPR_POSTFIX);
    assert_true(e->u.post.steps->legacy);
    arena_release(&ar);
    src_file_free(f);

    assert_int_equal(load(&cfg, &dl, text, NULL, 0, NULL), 0);
    assert_filled(cfg, "lsplat", "1,2");
    assert_filled(cfg, "fsplat", "1,3");
    assert_filled(cfg, "ldot", "1,3");
    assert_filled(cfg, "lidx", "b");
    assert_filled(cfg, "names", "b");
    config_free(cfg);
    diag_list_release(&dl);
}

/* for expressions over values known only after apply, as Terraform plans
 * them: a collection of known length keeps its length; an unknown
 * condition or key makes the whole result unknown until apply knows it
 * (then it is made); so does an unknown collection (its body made for
 * each element once it is known, not filled in with the collection). */
static void test_frontend__for_over_unknowns(void **state)
{
    static const char text[] =
        "a \"w\" {\n  name = \"w\"\n}\n"
        "b \"r\" {\n"
        "  n     = length([for x in [a.w.principal_id, \"k\"] : upper(x)])\n"
        "  cond  = [for x in [a.w.principal_id, \"\", \"k\"] : x if x != \"\"]\n"
        "  keyed = { for i, x in [a.w.principal_id, \"k\"] : x => i }\n"
        "  group = { for x in [a.w.principal_id, \"k\"] : length(x) > 1 ? \"long\" : \"short\" "
        "=> x... }\n"
        "  coll  = [for k, v in a.w.missing : k]\n"
        "  bad   = [for x in [a.w.principal_id] : x.nope if x != \"\"]\n"
        "  step  = [for m in [a.w.missing] : m.p]\n"
        "  vidx  = var.m[a.w.keyname]\n"
        "}\n"
        "variable \"m\" {\n  default = { k = 5 }\n}\n";
    struct config *cfg = NULL;
    struct diag_list dl;
    struct cfg_instance *in;
    json_t *v;
    size_t left = 0;
    (void)state;

    assert_int_equal(load(&cfg, &dl, text, NULL, 0, NULL), 0);
    in = config_find_instance(cfg, "b.r");
    assert_non_null(in);
    assert_int_equal(json_integer_value(json_object_get(in->attrs, "n")), 2);
    v = known_fill(json_incref(json_object_get(in->attrs, "cond")), postfix_lookup, NULL, &left);
    assert_int_equal(left, 0);
    assert_int_equal(json_array_size(v), 2);
    assert_string_equal(json_string_value(json_array_get(v, 1)), "k");
    json_decref(v);
    v = known_fill(json_incref(json_object_get(in->attrs, "keyed")), postfix_lookup, NULL, &left);
    assert_int_equal(left, 0);
    assert_int_equal(json_object_size(v), 2);
    assert_int_equal(json_integer_value(json_object_get(v, "k")), 1);
    json_decref(v);
    v = known_fill(json_incref(json_object_get(in->attrs, "group")), postfix_lookup, NULL, &left);
    assert_int_equal(left, 0);
    assert_int_equal(json_array_size(json_object_get(v, "long")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(v, "short"), 0)), "k");
    json_decref(v);
    /* an unknown collection: its body made for each element once it is
     * known (a.w.missing is {p = 1}) */
    assert_true(value_unknown_resolvable(json_object_get(in->attrs, "coll")));
    v = known_fill(json_incref(json_object_get(in->attrs, "coll")), postfix_lookup, NULL, &left);
    assert_int_equal(left, 0);
    assert_int_equal(json_array_size(v), 1);
    assert_string_equal(json_string_value(json_array_get(v, 0)), "p");
    json_decref(v);
    /* an element whose condition is true once known fails (no .nope in a
     * string): unknown for good, apply reports it */
    left = 0;
    v = known_fill(json_incref(json_object_get(in->attrs, "bad")), postfix_lookup, NULL, &left);
    assert_int_equal(left, 1);
    json_decref(v);
    /* steps on a for variable or an index known only after apply are made
     * once known, not filled in with the unknown's own value */
    left = 0;
    v = known_fill(json_incref(json_object_get(in->attrs, "step")), postfix_lookup, NULL, &left);
    assert_int_equal(left, 0);
    assert_int_equal(json_integer_value(json_array_get(v, 0)), 1);
    json_decref(v);
    v = known_fill(json_incref(json_object_get(in->attrs, "vidx")), postfix_lookup, NULL, &left);
    assert_int_equal(left, 0);
    assert_int_equal(json_integer_value(v), 5);
    json_decref(v);
    config_free(cfg);
    diag_list_release(&dl);
}

/* Every diagnostic, sorted: what a user would read (the temporary file's
 * name left out). */
static char *rendered(struct diag_list *dl)
{
    struct buf b;
    buf_init(&b, 0);
    diag_list_sort(dl);
    for (size_t i = 0; i < dl->n; i++) {
        const struct diag *d = &dl->items[i];
        struct src_pos at = src_loc_start(&d->loc), to = src_loc_stop(&d->loc);
        buf_addf(&b, "%u:%u-%u:%u %s %s; %s; %zu notes\n", at.line, at.col, to.line, to.col,
                 d->code, d->message, d->hint ? d->hint : "", d->nnotes);
    }
    return buf_detach(&b, NULL);
}

/* A check-only load reports exactly what a full load's check does: names,
 * references (forward ones too), cycles, shapes, and the types of constant
 * expressions. */
static void test_frontend__check_only_reports_what_the_check_reports(void **state)
{
    static const char *const texts[] = {
        "a \"x\" {\n  r = b.y.id\n  s = c.nope.id\n  t = lowr(\"A\")\n}\nb \"y\" {\n  r = "
        "a.x.id\n}\n",
        "a \"x\" {\n  n = 1\n  n = 2\n  k {\n  }\n  k \"l\" {\n  }\n}\na \"x\" {\n}\n",
        "a \"x\" {\n  p = !1\n  q = lower(\"a\", \"b\")\n  r = { k = 1, k = 2 }\n"
        "  s = \"${[1]}\"\n  t = var.v && 1\n  u = each.key\n}\n",
        "a \"x\" {\n  r = var.later\n  lifecycle {\n    bogus = 1\n  }\n  depends_on = 3\n}\n"
        "variable \"later\" {\n  default = 1\n}\n",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct config *full = NULL, *quick = NULL;
        struct diag_list dfull, dquick;
        char *a, *b;
        assert_int_equal(load_mode(&full, &dfull, texts[i], false), AMLSEC_EPARSE);
        assert_int_equal(load_mode(&quick, &dquick, texts[i], true), AMLSEC_EPARSE);
        a = rendered(&dfull);
        b = rendered(&dquick);
        assert_true(dquick.errors > 0);
        assert_string_equal(a, b);
        free(a);
        free(b);
        config_free(full);
        config_free(quick);
        diag_list_release(&dfull);
        diag_list_release(&dquick);
    }
}

/* A check-only load keeps what the check found (resources, their
 * dependencies in the order the blocks refer to them, for_each instances)
 * but releases resource bodies and evaluates no attribute. */
static void test_frontend__check_only_keeps_the_outline(void **state)
{
    static const char text[] = "c \"z\" {\n  r = a.w.id\n  s = b.r.id\n  t = a.w.id\n}\n"
                               "a \"w\" {\n  name = \"w\"\n}\n"
                               "b \"r\" {\n  for_each = [\"p\", \"q\"]\n  n = a.w.name\n}\n"
                               "existing \"a\" \"e\" {\n  id = \"/x\"\n}\n";
    struct config *full = NULL, *quick = NULL;
    struct diag_list dfull, dquick;
    (void)state;
    assert_int_equal(load_mode(&full, &dfull, text, false), 0);
    assert_int_equal(load_mode(&quick, &dquick, text, true), 0);
    assert_int_equal(quick->nresources, full->nresources);
    for (size_t i = 0; i < full->nresources; i++) {
        const struct cfg_resource *f = &full->resources[i], *q = &quick->resources[i];
        assert_string_equal(q->address, f->address);
        assert_int_equal(q->ndeps, f->ndeps);
        for (size_t k = 0; k < f->ndeps; k++)
            assert_string_equal(q->deps[k]->address, f->deps[k]->address);
        assert_int_equal(q->ninstances, f->ninstances);
        for (size_t k = 0; k < f->ninstances; k++) {
            assert_string_equal(q->instances[k].address, f->instances[k].address);
            assert_null(q->instances[k].attrs);
            assert_non_null(f->instances[k].attrs);
        }
        /* the outline: type, labels and locations stay, the body goes
         * unless for_each needs it */
        assert_string_equal(q->block->type, f->block->type);
        assert_int_equal(q->block->type_loc.begin, f->block->type_loc.begin);
        assert_int_equal(q->block->loc.end, f->block->loc.end);
        assert_string_equal(q->block->labels->text, f->block->labels->text);
        if (q->has_for_each)
            assert_non_null(q->block->body.attrs);
        else
            assert_null(q->block->body.attrs);
    }
    assert_string_equal(quick->resources[0].deps[0]->address, "a.w");
    assert_string_equal(quick->resources[0].deps[1]->address, "b.r");
    config_free(full);
    config_free(quick);
    diag_list_release(&dfull);
    diag_list_release(&dquick);
}

static void test_frontend__errors_are_capped(void **state)
{
    struct buf b;
    struct config *cfg = NULL;
    struct diag_list dl;
    (void)state;
    buf_init(&b, 0);
    for (int i = 0; i < 50; i++)
        buf_addf(&b, "r \"x%d\" {\n  a = = 1\n}\n", i);
    assert_int_equal(load(&cfg, &dl, b.ptr, NULL, 0, NULL), -4);
    assert_int_equal(dl.errors, DIAG_MAX_ERRORS);
    config_free(cfg);
    diag_list_release(&dl);
    buf_release(&b);
}

/* Addresses are found through the resource index, keys with dots and
 * brackets included; a name or key an address cannot hold (the state
 * could not read it back) is refused. */
static void test_frontend__finds_instances_by_address(void **state)
{
    static const char text[] = "r \"a-b\" {\n  x = 1\n}\n"
                               "r \"a\" {\n  for_each = [\"k.1\", \"k(2)\"]\n}\n"
                               "existing r \"c\" {\n}\n";
    static const char *const refused[] = {
        "r \"a.b\" {\n  x = 1\n}\n",
        "existing r \"c[\\\"d\\\"]\" {\n}\n",
        "r \"a\" {\n  for_each = [\"k]\"]\n}\n",
        "r \"a\" {\n  for_each = { \"k\\\"\" = 1 }\n}\n",
    };
    struct config *cfg = NULL;
    struct diag_list dl;
    (void)state;
    assert_int_equal(load(&cfg, &dl, text, NULL, 0, NULL), 0);
    assert_string_equal(config_find_instance(cfg, "r.a-b")->address, "r.a-b");
    assert_string_equal(config_find_instance(cfg, "r.a[\"k.1\"]")->address, "r.a[\"k.1\"]");
    assert_string_equal(config_find_instance(cfg, "r.a[\"k(2)\"]")->address, "r.a[\"k(2)\"]");
    assert_string_equal(config_find_instance(cfg, "existing.r.c")->address, "existing.r.c");
    assert_null(config_find_instance(cfg, "r.a"));
    assert_null(config_find_instance(cfg, "r.zz"));
    assert_null(config_find_instance(cfg, "nodot"));
    config_free(cfg);
    diag_list_release(&dl);
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        cfg = NULL;
        assert_int_not_equal(load(&cfg, &dl, refused[i], NULL, 0, NULL), 0);
        assert_int_equal(dl.errors, 1);
        config_free(cfg);
        diag_list_release(&dl);
    }
}

/* A diagnostic list that is already full still makes parse_file fail. */
static void test_frontend__parse_fails_when_the_list_is_full(void **state)
{
    struct src_file *good = mem("a = 1\n"), *bad = mem("a = = 1\n");
    struct ast_file *af = NULL;
    struct arena ar;
    struct diag_list dl;
    (void)state;
    arena_init(&ar);
    diag_list_init(&dl);
    dl.max_errors = 1;
    assert_int_equal(parse_file(&af, bad, &ar, &dl), AMLSEC_EPARSE);
    assert_int_equal(dl.errors, 1);
    assert_int_equal(parse_file(&af, good, &ar, &dl), 0);
    assert_int_equal(parse_file(&af, bad, &ar, &dl), AMLSEC_EPARSE);
    assert_int_equal(dl.errors, 1);
    assert_true(dl.dropped >= 1);
    diag_list_release(&dl);
    arena_release(&ar);
    src_file_free(good);
    src_file_free(bad);
}

static void test_frontend__value_format(void **state)
{
    struct buf b;
    json_t *v = json_pack("{s:[s,i,b], s:n, s:o}", "k", "a\"b", 3, 1, "z", "u", value_unknown());
    (void)state;
    buf_init(&b, 0);
    value_format(&b, v);
    assert_string_equal(b.ptr, "{ k = [\"a\\\"b\", 3, true], z = null, u = (known after apply) }");
    assert_true(value_contains_unknown(v));
    json_decref(v);
    buf_release(&b);
}

/* Unknowns: the shared untagged one, tagged ones and look-alike user maps. */
static void test_frontend__unknown_values(void **state)
{
    json_t *u = value_unknown(), *t = value_unknown_of("workspace.w", "principal_id");
    json_t *lookalike = json_pack("{s:s}", "$unknown", "workspace.w");
    json_t *bigger = json_pack("{s:b, s:i}", "$unknown", 1, "x", 1);
    const char *address = NULL, *attr = NULL;
    (void)state;
    assert_true(value_is_unknown(u));
    assert_false(value_unknown_origin(u, &address, &attr));
    assert_true(value_is_unknown(t));
    assert_true(value_unknown_origin(t, &address, &attr));
    assert_string_equal(address, "workspace.w");
    assert_string_equal(attr, "principal_id");
    assert_false(value_is_unknown(lookalike));
    assert_false(value_unknown_origin(lookalike, &address, &attr));
    assert_false(value_is_unknown(bigger));
    json_decref(u);
    json_decref(t);
    json_decref(lookalike);
    json_decref(bigger);
}

/* Maps the language can write in the shape of the unknowns' old forms,
 * {"$unknown": true} and {"$unknown": {"call": NAME, "args": [...]}}, are
 * known maps: they were the untagged unknown ((known after apply)) and a
 * deferred call (upper("x") made at apply). They and the real ones keep
 * what they are through a plan file. */
static void test_frontend__unknown_forms_no_map_has(void **state)
{
    static const struct {
        const char *json;
        bool may;
    } texts[] = {
        {"{\"\\u0024unknown\":true}", true}, /* a key spelled with an escape */
        {"{\"a\\\\\":\"\\u0041\"}", true},   /* an escape after an escaped backslash */
        {"{\"a\\\\u\":\"x\\\"y\"}", false},  /* a backslash, then a u: no escape */
        {"{\"unknown\":[\"r.u\",\"id\"]}", false},
    };
    json_t *flag = json_pack("{s:b}", "$unknown", 1),
           *call_shaped = json_pack("{s:{s:s, s:[s]}}", "$unknown", "call", "upper", "args", "x");
    json_t *call = value_unknown_call("upper", json_pack("[o]", value_unknown_of("r.u", "id")));
    json_t *v = json_pack("{s:O, s:O, s:O, s:o}", "flag", flag, "shaped", call_shaped, "call", call,
                          "u", value_unknown()),
           *f, *back;
    const char *fn;
    const json_t *args;
    struct buf b;
    (void)state;
    assert_non_null(v);
    assert_false(value_is_unknown(flag));
    assert_false(value_unknown_untagged(flag));
    assert_false(value_contains_unknown(flag));
    assert_false(value_is_unknown(call_shaped));
    assert_false(value_unknown_call_parts(call_shaped, &fn, &args));
    assert_true(value_unknown_call_parts(call, &fn, &args));
    assert_string_equal(fn, "upper");
    assert_true(value_unknown_untagged(json_object_get(v, "u")));
    f = value_file_form(v);
    assert_non_null(f);
    buf_init(&b, 0);
    assert_int_equal(jsonw_value(&b, f), 0);
    assert_null(strstr(b.ptr, "\\u0000"));
    /* a plan file's reader walks only text that may hold the forms: a '$',
     * or a \u escape that could spell one */
    assert_true(value_text_may_hold_file_forms(b.ptr, b.len));
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        assert_int_equal(value_text_may_hold_file_forms(texts[i].json, strlen(texts[i].json)),
                         texts[i].may);
    back = jsonw_loadb(b.ptr, b.len, 0, NULL);
    assert_non_null(back);
    assert_int_equal(value_from_file_form(back), 0);
    assert_true(json_equal(back, v));
    assert_false(value_contains_unknown(json_object_get(back, "flag")));
    assert_false(value_contains_unknown(json_object_get(back, "shaped")));
    assert_true(value_unknown_call_parts(json_object_get(back, "call"), &fn, &args));
    assert_true(value_unknown_untagged(json_object_get(back, "u")));
    buf_release(&b);
    json_decref(back);
    json_decref(f);
    json_decref(v);
    json_decref(flag);
    json_decref(call_shaped);
    json_decref(call);
}

/* Whole numbers: int64 ones are json integers (-2^63 included), larger
 * ones big numbers up to VALUE_BIG_BITS bits; comparisons across integers,
 * big numbers and doubles are exact. */
static void test_frontend__big_numbers(void **state)
{
    static const struct {
        const char *dec;
        bool integer;
    } cases[] = {
        {"9223372036854775807", true},   {"-9223372036854775808", true},
        {"9223372036854775808", false},  {"-9223372036854775809", false},
        {"18446744073709551616", false}, {"0", true},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        BIGNUM *n = NULL, *back;
        json_t *v;
        struct buf b;
        assert_true(BN_dec2bn(&n, cases[i].dec) > 0);
        v = value_from_bn(n);
        assert_non_null(v);
        assert_int_equal(json_is_integer(v), cases[i].integer);
        assert_int_equal(value_is_big(v), !cases[i].integer);
        assert_true(value_is_number(v) && value_is_whole(v));
        assert_string_equal(value_type_name(v), "number");
        buf_init(&b, 0);
        value_format(&b, v);
        assert_string_equal(b.ptr, cases[i].dec);
        buf_release(&b);
        back = value_to_bn(v);
        assert_int_equal(BN_cmp(back, n), 0);
        BN_free(back);
        BN_free(n);
        json_decref(v);
    }
    {
        /* the limit: 2^512 - 1 is a number, 2^512 is not */
        BIGNUM *n = BN_new();
        json_t *v;
        assert_true(BN_set_bit(n, VALUE_BIG_BITS - 1));
        assert_true(BN_sub_word(n, 1) && BN_add(n, n, n) && BN_add_word(n, 1));
        assert_int_equal(BN_num_bits(n), VALUE_BIG_BITS);
        v = value_from_bn(n);
        assert_true(value_is_big(v));
        json_decref(v);
        assert_true(BN_add_word(n, 1));
        assert_null(value_from_bn(n));
        BN_free(n);
    }
    {
        BIGNUM *n = NULL;
        json_t *two64, *one = json_integer(1), *real = json_real(1.5), *e19 = json_real(1e19),
                       *e20 = json_real(1.8446744073709552e19);
        assert_true(BN_dec2bn(&n, "18446744073709551616") > 0);
        two64 = value_from_bn(n);
        assert_int_equal(value_number_cmp(two64, one), 1);
        assert_int_equal(value_number_cmp(one, two64), -1);
        assert_int_equal(value_number_cmp(two64, real), 1);
        assert_int_equal(value_number_cmp(two64, e19), 1);
        assert_int_equal(value_number_cmp(two64, e20), 0); /* that double is 2^64 exactly */
        assert_int_equal(value_number_cmp(two64, two64), 0);
        assert_true(value_to_double(two64) == 18446744073709551616.0);
        BN_set_negative(n, 1);
        {
            json_t *neg = value_from_bn(n), *mreal = json_real(-18446744073709551615.5);
            assert_int_equal(value_number_cmp(neg, two64), -1);
            json_decref(real);
            real = json_real(-1.5);
            assert_int_equal(value_number_cmp(neg, real), -1);
            /* -2^64 against -2^64 as a double (-18446744073709551615.5 rounds to it) */
            assert_int_equal(value_number_cmp(neg, mreal), 0);
            json_decref(mreal);
            json_decref(neg);
        }
        BN_free(n);
        json_decref(two64);
        json_decref(one);
        json_decref(real);
        json_decref(e19);
        json_decref(e20);
    }
}

/* == between lists and maps compares their numbers as == between numbers
 * does: a value ARM gave back (1.0, 1e20 as JSON decimals, filled into a
 * deferred ==) equals the same number written whole. */
static void test_frontend__nested_equality_compares_numbers_exactly(void **state)
{
    static const struct {
        const char *op, *args;
        bool want;
    } cases[] = {
        {"==", "[[1.0], [1]]", true},
        {"==", "[[100000000000000000000], [1e20]]", true},
        {"==", "[{\"a\": [2.0, 1e20]}, {\"a\": [2, 100000000000000000000]}]", true},
        {"!=", "[{\"a\": 1e20}, {\"a\": 100000000000000000000}]", false},
        {"==", "[[1e20], [100000000000000000001]]", false},
        {"==", "[[1.5], [1]]", false},
        {"==", "[{\"a\": 1}, {\"b\": 1}]", false},
        {"==", "[[1, 2], [1]]", false},
        {"==", "[[\"1\"], [1]]", false},
        {"contains", "[[[1e20]], [100000000000000000000]]", true},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *args = jsonw_loadb(cases[i].args, strlen(cases[i].args), 0, NULL), *out = NULL;
        assert_non_null(args);
        assert_int_equal(eval_call_values(&out, cases[i].op, args), 0);
        if (json_is_true(out) != cases[i].want)
            fail_msg("%s %s: %s", cases[i].op, cases[i].args, json_is_true(out) ? "true" : "false");
        json_decref(out);
        json_decref(args);
    }
}

/* A plan file's form of values holds no NUL and reads back the same:
 * tagged unknowns (inside deferred calls too) and big numbers. */
static void test_frontend__file_form_round_trips(void **state)
{
    json_t *u = value_unknown_of("workspace.w", "principal_id"),
           *big = jsonw_big("100000000000000000000", 21);
    json_t *call = value_unknown_call("upper", json_pack("[O]", u));
    json_t *v = json_pack("{s:[O, i, O], s:{s:O, s:o}, s:O, s:s}", "l", u, (json_int_t)1, big, "m",
                          "c", call, "t", value_unknown(), "u", u, "s", "a"),
           *plain = json_pack("{s:[i, O]}", "l", (json_int_t)1, big), *f, *back;
    struct buf b;
    (void)state;
    assert_non_null(v);
    f = value_file_form(v);
    assert_non_null(f);
    assert_true(f != v);
    buf_init(&b, 0);
    assert_int_equal(jsonw_value(&b, f), 0);
    assert_null(strstr(b.ptr, "\\u0000"));
    assert_non_null(strstr(b.ptr, "{\"$unknown\":[\"workspace.w\",\"principal_id\"]}"));
    assert_non_null(strstr(b.ptr, "100000000000000000000"));
    back = jsonw_loadb(b.ptr, b.len, 0, NULL);
    assert_non_null(back);
    assert_int_equal(value_from_file_form(back), 0);
    assert_true(json_equal(back, v));
    assert_true(value_is_unknown(json_array_get(json_object_get(back, "l"), 0)));
    /* v itself is unchanged, and a value without tagged unknowns is shared */
    assert_true(value_is_unknown(json_object_get(v, "u")));
    json_decref(f);
    f = value_file_form(plain);
    assert_ptr_equal(f, plain);
    json_decref(f);
    buf_release(&b);
    json_decref(back);
    json_decref(plain);
    json_decref(v);
    json_decref(big);
    json_decref(call);
    json_decref(u);
}

/* A known map whose one key is "$unknown" (the language writes
 * { "$unknown" = [...] }) is not an unknown: it reads back from a plan file
 * as the map it was, whatever it holds, while the unknowns beside and
 * inside it still read back as unknowns. It read back as the unknown of
 * resource_group.ml's name: apply of the saved plan set the output to that
 * name, or to (known after apply). */
static void test_frontend__file_form_keeps_unknown_named_maps(void **state)
{
    json_t *u = value_unknown_of("workspace.w", "principal_id");
    json_t *v = json_pack("{s:{s:[s,s]}, s:{s:{s:[s,s]}}, s:{s:{s:i}}, s:{s:O}, s:{s:s}, s:O}",
                          "arr", "$unknown", "resource_group.ml", "name", "nested", "$unknown",
                          "$unknown", "a", "b", "lit", "$unknown", "literal", (json_int_t)1,
                          "inner", "$unknown", u, "str", "$unknown", "x", "u", u),
           *f, *back;
    struct buf b;
    (void)state;
    assert_non_null(v);
    f = value_file_form(v);
    assert_non_null(f);
    buf_init(&b, 0);
    assert_int_equal(jsonw_value(&b, f), 0);
    back = jsonw_loadb(b.ptr, b.len, 0, NULL);
    assert_non_null(back);
    assert_int_equal(value_from_file_form(back), 0);
    assert_true(json_equal(back, v));
    assert_false(value_is_unknown(json_object_get(back, "arr")));
    assert_true(json_is_array(json_object_get(json_object_get(back, "arr"), "$unknown")));
    assert_true(value_is_unknown(json_object_get(json_object_get(back, "inner"), "$unknown")));
    assert_true(value_is_unknown(json_object_get(back, "u")));
    buf_release(&b);
    json_decref(back);
    json_decref(f);
    json_decref(v);
    json_decref(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frontend__lexer_tokens_and_locations),
        cmocka_unit_test(test_frontend__newlines_skipped_inside_brackets),
        cmocka_unit_test(test_frontend__parser_shapes),
        cmocka_unit_test(test_frontend__heredoc_dedent),
        cmocka_unit_test(test_frontend__evaluates_instances),
        cmocka_unit_test(test_frontend__resolver_supplies_values),
        cmocka_unit_test(test_frontend__joined_references_build_the_same_tree),
        cmocka_unit_test(test_frontend__references_to_unknowns_are_tagged),
        cmocka_unit_test(test_frontend__check_only_reports_what_the_check_reports),
        cmocka_unit_test(test_frontend__check_only_keeps_the_outline),
        cmocka_unit_test(test_frontend__errors_are_capped),
        cmocka_unit_test(test_frontend__parse_fails_when_the_list_is_full),
        cmocka_unit_test(test_frontend__finds_instances_by_address),
        cmocka_unit_test(test_frontend__value_format),
        cmocka_unit_test(test_frontend__unknown_values),
        cmocka_unit_test(test_frontend__unknown_forms_no_map_has),
        cmocka_unit_test(test_frontend__for_expressions),
        cmocka_unit_test(test_frontend__count),
        cmocka_unit_test(test_frontend__postfix_steps),
        cmocka_unit_test(test_frontend__legacy_steps),
        cmocka_unit_test(test_frontend__for_over_unknowns),
        cmocka_unit_test(test_frontend__function_edge_cases),
        cmocka_unit_test(test_frontend__every_function_dispatches),
        cmocka_unit_test(test_frontend__big_numbers),
        cmocka_unit_test(test_frontend__nested_equality_compares_numbers_exactly),
        cmocka_unit_test(test_frontend__file_form_round_trips),
        cmocka_unit_test(test_frontend__file_form_keeps_unknown_named_maps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
