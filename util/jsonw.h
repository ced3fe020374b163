/* JSON text appended to a buf, exactly as json_dumps(v, JSON_COMPACT)
 * writes it (keys in insertion order, the same escapes; a real in the
 * shortest of 15 to 17 digits that reads back the same), without jansson's
 * per-container loop check and its intermediate string: for large
 * documents written often (armlocal's answers, a Resource Graph page, the
 * queries asking for them). Both return 0, or AMLSEC_ENOMEM with b holding
 * part of the text. */
#ifndef AMLSEC_UTIL_JSONW_H
#define AMLSEC_UTIL_JSONW_H

#include <jansson.h>
#include <stddef.h>

#include "util/buf.h"

int jsonw_value(struct buf *b, const json_t *v);

/* A whole number beyond int64 (parser/value.h's big numbers) is held as
 * the object {"$number": "\0DIGITS"}: a NUL first, which no string of the
 * language or of JSON read without JSON_ALLOW_NUL holds, then the decimal
 * digits ("-" first when negative, no leading zeros). jsonw_value,
 * jsonw_pretty, jsonw_dumps and jsonw_dump_callback write it as the JSON
 * number DIGITS; jsonw_loadb reads an integer beyond int64 back into it,
 * and reads a decimal whose value is whole (1e20, 1.5e30, 2.0: a number as
 * Terraform has it, exactly) as that whole number, an integer or this.
 * Everything that writes or reads language values as JSON (ARM bodies,
 * state, plans, outputs) goes through these, not jansson's. */
#define JSONW_BIG_KEY "$number"
/* New big number from len digits (not checked); NULL when out of memory. */
json_t *jsonw_big(const char *digits, size_t len);
/* The digits of a big number ("-123"), or NULL when v is not one. */
const char *jsonw_big_digits(const json_t *v);
/* The number literal text[0, len) (digits, then optionally '.' and
 * digits, then optionally e or E, a sign and digits: JSON's and the
 * language's form, without a sign) read exactly: when its value is whole
 * (1e20, 12.5e3, 1.0), its digits without leading zeros ("0" for zero) in
 * out, and their count; 0 when it is not whole (or has a fraction and
 * more than cap digits); cap + 1 when it has more than cap digits (out
 * then holds its first cap). cap is at least 1. */
size_t jsonw_whole_digits(const char *text, size_t len, char *out, size_t cap);
/* json_dumps / json_dump_callback with big numbers written as numbers. */
char *jsonw_dumps(const json_t *v, size_t flags);
int jsonw_dump_callback(const json_t *v, json_dump_callback_t cb, void *data, size_t flags);
/* json_loadb with an integer beyond int64 read as a big number (jansson
 * refuses it). Where one was, err's line and column count the text as
 * rewritten. jansson reads the text alone first: only a text holding a
 * decimal, or that jansson refuses, is scanned for its numbers and read
 * again (rewritten where they are big or whole). */
json_t *jsonw_loadb(const char *text, size_t len, size_t flags, json_error_t *err);
/* jsonw_loadb of the JSON value at the start of text that is a member's
 * or an item's (a ',', ']' or '}' follows it; more text may follow that),
 * with the bytes it takes in *used: a saved plan's changes, each read in
 * place. An object or an array is read by jansson alone, in one pass, when
 * it holds no decimal and no integer beyond int64 (as it mostly does);
 * only otherwise is its text found and read again through jsonw_loadb.
 * NULL when it is not JSON (err is not told why: read the whole text with
 * jsonw_loadb for that). */
json_t *jsonw_loadb_member(const char *text, size_t len, size_t flags, size_t *used);
/* How long the compact JSON value at the start of text is, up to the ',',
 * ']' or '}' after it (0 when there is none): found by its strings and
 * brackets alone, the value not checked (a member skipped unread). */
size_t jsonw_member_extent(const char *text, size_t len);
/* The bytes jsonw's own reading scanned before jansson read them again
 * since the process started: the texts jsonw_loadb read twice,
 * jsonw_loadb_member's values read twice (their end and their numbers). */
size_t jsonw_scanned(void);
/* The JSON string of the len bytes at s (a NUL among them included). */
int jsonw_string(struct buf *b, const char *s, size_t len);

/* v as json_dump_callback(v, JSON_INDENT(indent) | JSON_SORT_KEYS |
 * JSON_ENCODE_ANY) writes it (keys sorted by their bytes, as jansson
 * does), for a large document printed once (show -json): appended to b,
 * with flush (when not NULL) called whenever b holds 64 KB or more, to
 * write and empty it. Returns 0, AMLSEC_ENOMEM, or flush's failure.
 * indent < 0: compact, as JSON_COMPACT | JSON_SORT_KEYS writes it (a
 * saved plan's text), with a real in jsonw_value's shortest form. */
struct jsonw_pretty {
    struct buf *b;
    int indent;
    int (*flush)(struct buf *b, void *data);
    void *data;
};
int jsonw_pretty(const struct jsonw_pretty *o, const json_t *v);

/* A document too large to hold as one tree, written a piece at a time in
 * jsonw_pretty's layout (show -json PLAN: one change at a time). A
 * container at depth: jsonw_pretty_open ('{' or '['); before each of its
 * members or items, jsonw_pretty_next (nth counts from 0; key for a
 * member, NULL for an item), then the value at depth + 1 (jsonw_pretty_at,
 * or another container); then jsonw_pretty_close with the count written
 * ("{}" / "[]" when none). An object's members go in jsonw_pretty's order
 * (keys sorted by their bytes): the caller's to keep. Each returns 0,
 * AMLSEC_ENOMEM or flush's failure. */
int jsonw_pretty_at(const struct jsonw_pretty *o, const json_t *v, size_t depth);
int jsonw_pretty_open(const struct jsonw_pretty *o, char bracket);
int jsonw_pretty_next(const struct jsonw_pretty *o, size_t depth, size_t nth, const char *key);
int jsonw_pretty_close(const struct jsonw_pretty *o, size_t depth, size_t count, char bracket);

#endif
