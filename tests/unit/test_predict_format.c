/* ddpc predict's float formatting (predict/predict_file.c) writes exactly what printf's
 * "%.9g" writes, for special values, boundaries of the notation and of the powers of ten,
 * and a few million floats of every exponent; and what it writes reads back to the float. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "predict/predict_file.h"
#include "testing.h"

static int format_mismatches;  // reported one by one up to a few, then counted

static void check_one(float v) {
  char got[DDPC_PREDICT_FLOAT_CHARS], want[DDPC_PREDICT_FLOAT_CHARS];
  size_t n = ddpc_predict_format_float(got, v);
  snprintf(want, sizeof want, "%.9g", (double)v);
  bool same = n == strlen(got) && strcmp(got, want) == 0;
  bool back = isnan(v) || strtof(got, NULL) == v;
  if ((!same || !back) && format_mismatches++ < 5)
    CHECK(false, "%a: wrote '%s' (length %zu), printf '%s'", (double)v, got, n, want);
}

int main(void) {
  const float special[] = {0.0f,      -0.0f,     1.0f,        -1.0f,        0.5f,         1e-4f,      9.99999e-5f,
                           1e-5f,     0.0001f,   123456789.f, 999999999.f, 1e9f,         1e8f,       100000000.f,
                           3.4028235e38f, 1.4e-45f, 1.17549435e-38f, INFINITY, -INFINITY, NAN,       0.1f,
                           0.3f,      2.5f,      1e10f,       9.9999999e8f, 0.00012345f, 1.0f / 3.0f};
  for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) check_one(special[i]);
  for (int e = -45; e <= 38; e++) {  // around every power of ten
    float p = (float)pow(10.0, e);
    check_one(p);
    check_one(nextafterf(p, 0.0f));
    check_one(nextafterf(p, INFINITY));
  }
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (long i = 0; i < 3000000; i++) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    uint32_t bits = (uint32_t)state;
    float v;
    memcpy(&v, &bits, sizeof v);
    if (i % 2) v = (float)(state >> 40) / 16777216.0f;  // probabilities: [0, 1)
    check_one(v);
  }
  CHECK(format_mismatches == 0, "%d floats written otherwise than %%.9g", format_mismatches);
  return testing_finish();
}
