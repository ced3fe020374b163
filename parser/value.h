/* Runtime values are jansson values. One extra notion: an *unknown* value,
 * known only after apply (an ARM id of something not created yet, a key
 * version). It is an object with the one key "$unknown" whose tag holds a
 * NUL, which no map of the language can hold: "\0" untagged, or, tagged
 * with the instance and attribute it will come from, "ADDRESS\0ATTR" (a
 * deferred call's in value.c); test it with value_is_unknown() and read the
 * tag with value_unknown_origin(), never by hand. */
#ifndef AMLSEC_PARSER_VALUE_H
#define AMLSEC_PARSER_VALUE_H

#include <jansson.h>
#include <openssl/bn.h>
#include <stdbool.h>

#include "util/buf.h"

/* New reference to the shared untagged unknown: never modify it. */
json_t *value_unknown(void);
/* An unknown that says where its value will come from: attribute attr of
 * the resource instance at address, once that instance exists. */
json_t *value_unknown_of(const char *address, const char *attr);
/* The origin of a tagged unknown; false for untagged ones and for values. */
bool value_unknown_origin(const json_t *v, const char **address, const char **attr);
bool value_is_unknown(const json_t *v);
/* Whether v is an unknown without an origin (value_unknown()'s, or one read
 * back from a plan file's {"$unknown": true}): cheaper than value_is_unknown and
 * value_unknown_origin together. */
bool value_unknown_untagged(const json_t *v);
/* A function call whose arguments hold unknowns that can be filled in
 * later (tagged ones, or other deferred calls): the result is unknown until
 * they are, then engine/known.h makes the call (eval_call_values). args is
 * consumed. */
json_t *value_unknown_call(const char *fn, json_t *args);
/* The function and arguments of a deferred call (borrowed); false for
 * anything else. */
bool value_unknown_call_parts(const json_t *v, const char **fn, const json_t **args);
/* Whether every unknown inside v (if any) can be filled in later: no
 * untagged unknown anywhere, deferred calls' arguments included. */
bool value_unknown_resolvable(const json_t *v);
bool value_contains_unknown(const json_t *v); /* anywhere inside */
/* v with every unknown inside it null, as JSON for a script shows a value
 * not known (a new reference: v itself when it holds none; NULL when out
 * of memory). */
json_t *value_unknowns_null(json_t *v);
/* Numbers are whole numbers, exact up to VALUE_BIG_BITS bits: int64 ones
 * are json integers, larger ones *big numbers* (util/jsonw.h's object,
 * written to JSON as a number: test and read them only through these
 * helpers); or, when not whole, doubles (json reals) rounded to
 * VALUE_DIGITS significant digits. value_number makes one from a double
 * (NULL when not finite: an overflow); a whole double within int64
 * becomes an integer, a larger one stays a double. */
#define VALUE_DIGITS 15
#define VALUE_BIG_BITS 512
json_t *value_number(double d);
bool value_is_number(const json_t *v); /* integer, big or double */
bool value_is_whole(const json_t *v);  /* integer or big */
bool value_is_big(const json_t *v);
/* A big number's digits ("-" first when negative); NULL for anything else. */
const char *value_big_digits(const json_t *v);
/* The number n: an integer when within int64, else a big number; NULL when
 * |n| needs more than VALUE_BIG_BITS bits or out of memory. */
json_t *value_from_bn(const BIGNUM *n);
/* The whole number v (integer or big) as a new BIGNUM; NULL otherwise. */
BIGNUM *value_to_bn(const json_t *v);
/* Any number as a double (a big one rounded; beyond a double's range it
 * is infinite). */
double value_to_double(const json_t *v);
/* -1, 0 or 1 as a < b, a == b, a > b, for two numbers of any kind (a big
 * one against a double compared exactly). */
int value_number_cmp(const json_t *a, const json_t *b);
/* Whether a and b are the same value: numbers by value at any depth
 * ([1e20] equals [100000000000000000000], [1.0] equals [1]), anything
 * else as json_equal. */
bool value_equal(const json_t *a, const json_t *b);
/* The numbers of v, read from JSON (jsonw_loadb), as the language holds
 * them, in place: a double through value_number (2.0 is 2, 2.5 stays, 1e20
 * a big number), a big number checked against VALUE_BIG_BITS. *fixed is
 * NULL, or the value to use instead when v itself is a double. 0; -1 a
 * double that is not finite; -2 nesting deeper than 64 levels; -3 a big
 * number beyond VALUE_BIG_BITS. */
int value_json_numbers(json_t *v, json_t **fixed);
/* A number as the language prints it: 3, -1, 2.5, 1e+20, and a big number
 * in all its digits. Appends to out. */
int value_number_text(struct buf *out, const json_t *v);
/* "string", "number", "bool", "list", "map", "null", "unknown" */
const char *value_type_name(const json_t *v);
/* Renders v the way the language would write it: "a", 3, true, ["x"], { k = "v" };
 * unknown prints as (known after apply). Appends to out. */
int value_format(struct buf *out, const json_t *v);

/* A plan file (cmd/planfile.c) and the state's outputs hold no NUL: a big
 * number is written as a JSON number (util/jsonw.h), a tagged unknown as
 * {"$unknown": ["ADDRESS", "ATTR"]}, the untagged one as {"$unknown": true},
 * a deferred call as {"$unknown": {"call": NAME, "args": [...]}} (its name
 * without the NUL); a known map whose one key is "$unknown" is
 * wrapped, {"$unknown": {"$known": ITS VALUE}}, so that it never reads back
 * as an unknown. value_file_form gives v so (a new reference: v
 * itself when it holds no tagged unknown, else a copy sharing what is
 * unchanged; NULL when out of memory); value_from_file_form turns those
 * inside the list or map v back into tagged unknowns, in place (0, or -1
 * when out of memory). */
json_t *value_file_form(json_t *v);
int value_from_file_form(json_t *v);
/* Whether the JSON text (len bytes) may hold a value in a plan file's form:
 * a '$' or a \u escape (which could spell one) in it. Text without either
 * reads back as jansson parses it, with no walk of value_from_file_form. */
bool value_text_may_hold_file_forms(const char *text, size_t len);

/* Sensitivity is a set of dotted attribute paths ("tags", "admin.password")
 * carried next to the values (cfg_instance.sensitive, plan_change.sensitive,
 * the state's `sensitive`). A path is secret when a listed path equals it or
 * encloses it ("tags" covers "tags.owner"); with or_inside, also when a
 * listed path lies inside it ("keys" holds the secret "keys.primary").
 * paths may be NULL. */
bool value_path_sensitive(const json_t *paths, const char *path, bool or_inside);
/* New reference to the empty set of paths shared by every instance that
 * has none (cfg_instance.sensitive): never modify it. */
json_t *value_paths_none(void);
/* Adds path to the array paths unless a listed path already covers it. */
void value_sensitive_add(json_t *paths, const char *path);

#endif
