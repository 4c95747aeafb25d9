/* Loss values on small hand-computed examples, numerical stability with huge logits,
 * counting of correct predictions (first maximum wins) and the name table. */
#include <math.h>
#include <stdint.h>

#include "core/loss.h"
#include "testing.h"

static void test_cross_entropy_by_hand(void) {
  // Sample 0: logits (ln 1, ln 2, ln 5) -> softmax (1/8, 2/8, 5/8); label 1:
  //   loss = -ln(2/8) = ln 4. argmax is 2 != 1, not correct.
  // Sample 1: logits (0, 0, 0) -> softmax (1/3, 1/3, 1/3); label 0: loss = ln 3. All tie, the
  //   first maximum (index 0) wins, so it counts as correct.
  // loss_sum = ln 4 + ln 3 = ln 12 = 2.484906650.
  // dout = (softmax - onehot) / grad_scale with grad_scale 2:
  //   sample 0: (1/8, 2/8 - 1, 5/8) / 2 = (0.0625, -0.375, 0.3125)
  //   sample 1: (1/3 - 1, 1/3, 1/3) / 2 = (-1/3, 1/6, 1/6)
  float out[6] = {0.0f, logf(2.0f), logf(5.0f), 0.0f, 0.0f, 0.0f};
  int32_t labels[2] = {1, 0};
  float dout[6];
  ddpc_loss_result r = ddpc_loss_compute(DDPC_LOSS_CROSS_ENTROPY, out, labels, NULL, 2, 3, dout, 2.0);
  CHECK_NEAR(r.loss_sum, log(12.0), 1e-6, "cross_entropy loss_sum");
  CHECK(r.correct == 1, "cross_entropy correct %lld, expected 1", (long long)r.correct);
  const double want[6] = {0.0625, -0.375, 0.3125, -1.0 / 3.0, 1.0 / 6.0, 1.0 / 6.0};
  for (int i = 0; i < 6; i++) CHECK_NEAR(dout[i], want[i], 1e-6, "cross_entropy dout");

  // Without dout the same sums come back.
  ddpc_loss_result r2 = ddpc_loss_compute(DDPC_LOSS_CROSS_ENTROPY, out, labels, NULL, 2, 3, NULL, 2.0);
  CHECK(r2.loss_sum == r.loss_sum && r2.correct == r.correct, "cross_entropy without dout differs");
}

static void test_cross_entropy_stability(void) {
  // (1000, 1001, 999), label 1: loss = ln(e^-1 + 1 + e^-2) = ln 1.503214724 = 0.407605964;
  // a naive exp(1000) would overflow to inf.
  float out[6] = {1000.0f, 1001.0f, 999.0f, -1000.0f, 0.0f, 1000.0f};
  // (-1000, 0, 1000), label 0: loss = 1000 - (-1000) + ln(1 + e^-1000 + e^-2000) = 2000.
  int32_t labels[2] = {1, 0};
  float dout[6];
  ddpc_loss_result r = ddpc_loss_compute(DDPC_LOSS_CROSS_ENTROPY, out, labels, NULL, 2, 3, dout, 1.0);
  CHECK_NEAR(r.loss_sum, 0.407605964 + 2000.0, 1e-4, "cross_entropy with logits near 1000");
  CHECK(r.correct == 1, "stability example: correct %lld, expected 1", (long long)r.correct);
  // softmax of sample 0 = (0.244728, 0.665241, 0.090031); sample 1 = (0, 0, 1) minus onehot.
  const double want[6] = {0.244728471, 0.665240956 - 1.0, 0.090030573, -1.0, 0.0, 1.0};
  for (int i = 0; i < 6; i++) {
    CHECK(isfinite(dout[i]), "dout[%d] not finite", i);
    CHECK_NEAR(dout[i], want[i], 1e-6, "cross_entropy dout with large logits");
  }
}

static void test_correct_counting(void) {
  // argmax per row: 0 (tie 2,2 -> first), 0 (same logits), 2, 1.
  float out[12] = {2, 2, 1, 2, 2, 1, -5, -4, -3, 0.5f, 0.7f, 0.6f};
  int32_t labels[4] = {0, 1, 2, 1};  // correct, wrong (tie goes to 0), correct, correct
  ddpc_loss_result r = ddpc_loss_compute(DDPC_LOSS_CROSS_ENTROPY, out, labels, NULL, 4, 3, NULL, 4.0);
  CHECK(r.correct == 3, "correct %lld, expected 3", (long long)r.correct);
  // A label outside [0, width) makes the loss NaN instead of reading out of bounds.
  int32_t bad[1] = {3};
  float dout[3];
  ddpc_loss_result rb = ddpc_loss_compute(DDPC_LOSS_CROSS_ENTROPY, out, bad, NULL, 1, 3, dout, 1.0);
  CHECK(isnan(rb.loss_sum) && rb.correct == 0, "bad label: loss %g correct %lld", rb.loss_sum,
        (long long)rb.correct);
}

static void test_mse_by_hand(void) {
  // Sample 0: out (1, 2), target (0, 4): diffs (1, -2), squares (1, 4), mean 2.5.
  // Sample 1: out (3, 3), target (3, 1): diffs (0, 2), squares (0, 4), mean 2.
  // loss_sum = 4.5. dout = 2 * diff / (width * grad_scale) = diff / 2 with grad_scale 2:
  //   (0.5, -1, 0, 1).
  float out[4] = {1, 2, 3, 3}, targets[4] = {0, 4, 3, 1}, dout[4];
  ddpc_loss_result r = ddpc_loss_compute(DDPC_LOSS_MSE, out, NULL, targets, 2, 2, dout, 2.0);
  CHECK_NEAR(r.loss_sum, 4.5, 1e-9, "mse loss_sum");
  CHECK(r.correct == 0, "mse correct %lld", (long long)r.correct);
  const double want[4] = {0.5, -1.0, 0.0, 1.0};
  for (int i = 0; i < 4; i++) CHECK_NEAR(dout[i], want[i], 1e-7, "mse dout");
}

static void test_names(void) {
  CHECK(ddpc_loss_parse("cross_entropy") == DDPC_LOSS_CROSS_ENTROPY, "parse cross_entropy");
  CHECK(ddpc_loss_parse("mse") == DDPC_LOSS_MSE, "parse mse");
  CHECK(ddpc_loss_parse("softmax") == -1, "parse unknown");
  CHECK(ddpc_loss_parse(NULL) == -1, "parse NULL");
  for (int k = DDPC_LOSS_CROSS_ENTROPY; k <= DDPC_LOSS_MSE; k++)
    CHECK(ddpc_loss_parse(ddpc_loss_name((ddpc_loss_kind)k)) == k, "name/parse round trip %d", k);
}

int main(void) {
  test_cross_entropy_by_hand();
  test_cross_entropy_stability();
  test_correct_counting();
  test_mse_by_hand();
  test_names();
  return testing_finish();
}
