/* Reading a number or a string by key from a metrics.jsonl line (core/json.c): written by
 * the JSON writer and read back, keys in string values not mistaken for keys, null and
 * strings not numbers, escapes undone, absent keys, prefixes of keys. Arrays and objects nested in each other. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "testing.h"

int main(void) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ddpc_json j;
  ddpc_json_begin(&j, f);
  ddpc_json_int(&j, "epoch", 3);
  ddpc_json_string(&j, "note", "\"val_accuracy\": 0.1, tricky");
  ddpc_json_number(&j, "val_accuracy", 0.8625);
  ddpc_json_number(&j, "val_loss_x", 7);
  ddpc_json_number(&j, "val_loss", 0.3125);
  ddpc_json_number(&j, "nan_metric", NAN);
  ddpc_json_string(&j, "name", "run");
  ddpc_json_end(&j);
  fclose(f);
  double v = -1;
  CHECK(ddpc_json_find_number(text, "epoch", &v) == 1 && v == 3, "epoch: %g in %s", v, text);
  CHECK(ddpc_json_find_number(text, "val_accuracy", &v) == 1 && v == 0.8625, "val_accuracy (not the string's): %g", v);
  CHECK(ddpc_json_find_number(text, "val_loss", &v) == 1 && v == 0.3125, "val_loss (not val_loss_x): %g", v);
  CHECK(ddpc_json_find_number(text, "nan_metric", &v) == 0, "null is not a number");
  CHECK(ddpc_json_find_number(text, "name", &v) == 0, "a string is not a number");
  CHECK(ddpc_json_find_number(text, "missing", &v) == 0, "absent key");
  CHECK(ddpc_json_find_number(text, "val", &v) == 0, "a key's prefix is not the key");
  CHECK(ddpc_json_find_number("{\"a\" : -1.5e-3 }", "a", &v) == 1 && v == -1.5e-3, "blanks around the colon");
  // Strings read back as written, escapes undone; not a string, absent or cut short: NULL.
  char *s = ddpc_json_find_string(text, "note");
  CHECK(s && strcmp(s, "\"val_accuracy\": 0.1, tricky") == 0, "note: %s", s ? s : "(null)");
  free(s);
  s = ddpc_json_find_string(text, "name");
  CHECK(s && strcmp(s, "run") == 0, "name: %s", s ? s : "(null)");
  free(s);
  CHECK(ddpc_json_find_string(text, "epoch") == NULL, "a number is not a string");
  CHECK(ddpc_json_find_string(text, "missing") == NULL, "absent key");
  CHECK(ddpc_json_find_string("{\"a\":\"cut", "a") == NULL, "an unterminated string");
  free(text);
  f = open_memstream(&text, &len);
  ddpc_json_begin(&j, f);
  ddpc_json_string(&j, "why", "line\nnext\ttab \\ \x01 caf\xc3\xa9 /");
  ddpc_json_end(&j);
  fclose(f);
  s = ddpc_json_find_string(text, "why");
  CHECK(s && strcmp(s, "line\nnext\ttab \\ \x01 caf\xc3\xa9 /") == 0, "escapes round trip: %s from %s", s ? s : "(null)",
        text);
  free(s);
  free(text);

  // Arrays and objects nested in each other, closed by the right brackets (ddpc_json_end too).
  f = open_memstream(&text, &len);
  ddpc_json_begin(&j, f);
  ddpc_json_begin_array(&j, "shape");
  ddpc_json_int(&j, NULL, 2);
  ddpc_json_int(&j, NULL, 3);
  ddpc_json_end_array(&j);
  ddpc_json_begin_array(&j, "layers");
  ddpc_json_begin_object(&j, NULL);
  ddpc_json_string(&j, "type", "Linear");
  ddpc_json_begin_array(&j, "empty");
  ddpc_json_end_array(&j);
  ddpc_json_end_object(&j);
  ddpc_json_begin_object(&j, NULL);
  ddpc_json_begin_array(&j, "deep");
  ddpc_json_number(&j, NULL, 0.5);
  ddpc_json_string(&j, NULL, "x");
  ddpc_json_end(&j);
  fclose(f);
  const char *want = "{\"shape\":[2,3],\"layers\":[{\"type\":\"Linear\",\"empty\":[]},{\"deep\":[0.5,\"x\"]}]}";
  CHECK(strcmp(text, want) == 0, "nested arrays: %s, expected %s", text, want);
  free(text);
  f = open_memstream(&text, &len);
  ddpc_json_begin_top_array(&j, f);
  ddpc_json_int(&j, NULL, 1);
  ddpc_json_begin_object(&j, NULL);
  ddpc_json_bool(&j, "b", true);
  ddpc_json_end(&j);
  fclose(f);
  CHECK(strcmp(text, "[1,{\"b\":true}]") == 0, "top-level array: %s", text);
  free(text);
  return testing_finish();
}
