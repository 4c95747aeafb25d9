/* A minimal JSON object writer for run files (metrics.jsonl, summary.json, meta.json) and
 * export headers. Objects nest through ddpc_json_begin_object, arrays through
 * ddpc_json_begin_array (their elements are written with key NULL); strings are escaped;
 * non-finite numbers are written as null so every line stays valid JSON.
 * And the one reading that ddpc needs of such files: a top-level number by its key. */
#ifndef DDPC_CORE_JSON_H
#define DDPC_CORE_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
  FILE *out;        // where the text goes
  int depth;        // open objects and arrays (at most 64)
  bool first;       // no member written yet in the innermost object or array
  uint64_t arrays;  // bit d set: nesting level d is an array, closed with ']'
} ddpc_json;

void ddpc_json_begin(ddpc_json *j, FILE *out);
/* Starts a JSON text whose top level is an array instead (elements with key NULL). */
void ddpc_json_begin_top_array(ddpc_json *j, FILE *out);
void ddpc_json_string(ddpc_json *j, const char *key, const char *value);
void ddpc_json_number(ddpc_json *j, const char *key, double value);
/* Unix seconds with millisecond digits (%.10g would round a timestamp to whole seconds). */
void ddpc_json_unix_time(ddpc_json *j, const char *key, double seconds);
void ddpc_json_int(ddpc_json *j, const char *key, int64_t value);
void ddpc_json_bool(ddpc_json *j, const char *key, bool value);
/* An array of `n` strings, e.g. a command's argument vector. */
void ddpc_json_string_array(ddpc_json *j, const char *key, const char *const *values, int n);
void ddpc_json_begin_object(ddpc_json *j, const char *key);
void ddpc_json_end_object(ddpc_json *j);
/* An array under `key`; inside it every writer takes key NULL for an element, e.g.
 * ddpc_json_int(j, NULL, 3) or ddpc_json_begin_object(j, NULL). */
void ddpc_json_begin_array(ddpc_json *j, const char *key);
void ddpc_json_end_array(ddpc_json *j);
/* Closes what is still open, the top-level object last (no newline). */
void ddpc_json_end(ddpc_json *j);

/* The number under `key` in one flat JSON object as this writer makes them (a metrics.jsonl
 * line): 1 when found and numeric, 0 when the key is absent or its value is not a number
 * (null, a string). Keys inside strings are not mistaken for keys: only `"key":` after `{`
 * or `,` counts. */
int ddpc_json_find_number(const char *object, const char *key, double *out);
/* The string under `key` in such an object, its escapes undone (malloc'd, the caller
 * frees); NULL when the key is absent, its value is not a string, or memory runs out. */
char *ddpc_json_find_string(const char *object, const char *key);

#endif
