/* JSON object writer, and a reader of one number by key (see json.h). */
#include "core/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong forms, no
 * surrogates, at most U+10FFFF), 0 when the bytes there are not one. */
static int json_utf8_length(const unsigned char *p) {
  int n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
  if (p[0] < 0xc2 || p[0] > 0xf4) return 0;
  for (int i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  if (p[0] == 0xe0 && p[1] < 0xa0) return 0;  // overlong
  if (p[0] == 0xed && p[1] >= 0xa0) return 0;  // a surrogate
  if (p[0] == 0xf0 && p[1] < 0x90) return 0;  // overlong
  if (p[0] == 0xf4 && p[1] >= 0x90) return 0;  // past U+10FFFF
  return n;
}

/* Bytes that are not UTF-8 (a Latin-1 file name, a cut string) become U+FFFD: a JSON text
 * must be UTF-8, and a server refuses a request that is not (RFC 8259, section 8.1). */
static void json_escaped(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
    else if (*p == '\n') fputs("\\n", out);
    else if (*p < 0x20) fprintf(out, "\\u%04x", *p);
    else if (*p < 0x80) fputc(*p, out);
    else {
      int n = json_utf8_length(p);
      if (n == 0) {  // U+FFFD as its UTF-8 bytes: readers of ddpc's files take those as they are
        fputs("\xef\xbf\xbd", out);
        continue;
      }
      fwrite(p, 1, (size_t)n, out);
      p += n - 1;
    }
  }
  fputc('"', out);
}

/* The separator and the member's key; an array element (key NULL) has none. */
static void json_key(ddpc_json *j, const char *key) {
  if (!j->first) fputc(',', j->out);
  j->first = false;
  if (!key) return;
  json_escaped(j->out, key);
  fputc(':', j->out);
}

static void json_begin_top(ddpc_json *j, FILE *out, bool array) {
  j->out = out;
  j->depth = 1;
  j->first = true;
  j->arrays = array ? 1 : 0;
  fputc(array ? '[' : '{', out);
}

void ddpc_json_begin(ddpc_json *j, FILE *out) { json_begin_top(j, out, false); }
void ddpc_json_begin_top_array(ddpc_json *j, FILE *out) { json_begin_top(j, out, true); }

void ddpc_json_string(ddpc_json *j, const char *key, const char *value) {
  json_key(j, key);
  if (value) json_escaped(j->out, value);
  else fputs("null", j->out);
}

void ddpc_json_number(ddpc_json *j, const char *key, double value) {
  json_key(j, key);
  if (isfinite(value)) fprintf(j->out, "%.10g", value);
  else fputs("null", j->out);
}

void ddpc_json_unix_time(ddpc_json *j, const char *key, double seconds) {
  json_key(j, key);
  if (isfinite(seconds)) fprintf(j->out, "%.3f", seconds);
  else fputs("null", j->out);
}

void ddpc_json_int(ddpc_json *j, const char *key, int64_t value) {
  json_key(j, key);
  fprintf(j->out, "%lld", (long long)value);
}

void ddpc_json_bool(ddpc_json *j, const char *key, bool value) {
  json_key(j, key);
  fputs(value ? "true" : "false", j->out);
}

void ddpc_json_string_array(ddpc_json *j, const char *key, const char *const *values, int n) {
  json_key(j, key);
  fputc('[', j->out);
  for (int i = 0; i < n; i++) {
    if (i > 0) fputc(',', j->out);
    json_escaped(j->out, values[i]);
  }
  fputc(']', j->out);
}

/* Opens a nested object or array at level depth (its bit in arrays says which). */
static void json_open(ddpc_json *j, const char *key, bool array) {
  json_key(j, key);
  fputc(array ? '[' : '{', j->out);
  if (j->depth < 64 && array) j->arrays |= UINT64_C(1) << j->depth;
  else if (j->depth < 64) j->arrays &= ~(UINT64_C(1) << j->depth);
  j->depth++;
  j->first = true;
}

static void json_close(ddpc_json *j) {
  j->depth--;
  fputc(j->depth < 64 && (j->arrays >> j->depth & 1) ? ']' : '}', j->out);
  j->first = false;
}

void ddpc_json_begin_object(ddpc_json *j, const char *key) { json_open(j, key, false); }
void ddpc_json_end_object(ddpc_json *j) { json_close(j); }
void ddpc_json_begin_array(ddpc_json *j, const char *key) { json_open(j, key, true); }
void ddpc_json_end_array(ddpc_json *j) { json_close(j); }

void ddpc_json_end(ddpc_json *j) {
  while (j->depth > 0) json_close(j);
}

/* Where the value of `key` starts (past the colon and blanks) in one flat JSON object as
 * this writer makes them; NULL when the key is absent. */
static const char *json_find_value(const char *object, const char *key) {
  size_t klen = strlen(key);
  bool in_string = false;
  char before = '\0';  // the last character outside strings and blanks
  for (const char *p = object; *p; p++) {
    if (in_string) {
      if (*p == '\\' && p[1]) p++;
      else if (*p == '"') in_string = false;
      continue;
    }
    if (*p != '"') {
      if (*p != ' ' && *p != '\t') before = *p;
      continue;
    }
    bool is_key = (before == '{' || before == ',') && strncmp(p + 1, key, klen) == 0 && p[1 + klen] == '"';
    if (!is_key) {
      in_string = true;
      continue;
    }
    const char *v = p + 2 + klen;
    while (*v == ' ' || *v == '\t') v++;
    if (*v != ':') return NULL;
    v++;
    while (*v == ' ' || *v == '\t') v++;
    return v;
  }
  return NULL;
}

int ddpc_json_find_number(const char *object, const char *key, double *out) {
  const char *v = json_find_value(object, key);
  if (!v) return 0;
  char *end = NULL;
  double d = strtod(v, &end);
  if (end == v) return 0;
  *out = d;
  return 1;
}

/* The four hex digits of a \\u escape; -1 when they are not. */
static int json_hex4(const char *p) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

char *ddpc_json_find_string(const char *object, const char *key) {
  const char *v = json_find_value(object, key);
  if (!v || *v != '"') return NULL;
  size_t cap = strlen(v), n = 0;
  char *out = malloc(cap + 1);
  if (!out) return NULL;
  for (const char *p = v + 1; *p; p++) {
    if (*p == '"') {
      out[n] = '\0';
      return out;
    }
    if (*p != '\\') {
      out[n++] = *p;
      continue;
    }
    char c = *++p;
    int u = c == 'u' ? json_hex4(p + 1) : 0;
    if (c == 'u' && (u < 1 || u > 0x7f)) break;  // the writer escapes control characters only
    out[n++] = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'b' ? '\b' : c == 'f' ? '\f'
             : c == 'u' ? (char)u : c;
    if (c == 'u') p += 4;
    if (!c) break;
  }
  free(out);  // unterminated or an escape this writer does not make
  return NULL;
}
