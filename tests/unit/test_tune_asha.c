/* The tuner's ASHA rule (tune/tune_asha.c) against Ray Tune's AsyncHyperBandScheduler
 * with one bracket: rung epochs, numpy's linear percentile, the stop decision with the
 * values recorded before, the first trial at a rung, and the documented example of Ray's
 * _Bracket (values 2, 4 continue, 1 stops; cutoffs 3 then 2). */
#include <math.h>
#include <stdio.h>

#include "core/error.h"
#include "tune/tune_asha.h"
#include "testing.h"

static void test_rungs(void) {
  ddpc_tune_asha a;
  CHECK(ddpc_tune_asha_init(&a, 1, 3, 9) == 0, "init 1/3/9");
  CHECK(a.n_rungs == 3 && a.rungs[0].epoch == 1 && a.rungs[1].epoch == 3 && a.rungs[2].epoch == 9,
        "rungs 1,3,9: got %d rungs", a.n_rungs);
  ddpc_tune_asha_free(&a);
  CHECK(ddpc_tune_asha_init(&a, 2, 2, 20) == 0, "init 2/2/20");
  CHECK(a.n_rungs == 4 && a.rungs[3].epoch == 16, "rungs 2,4,8,16: got %d rungs", a.n_rungs);
  CHECK(ddpc_tune_asha_is_rung(&a, 8) && !ddpc_tune_asha_is_rung(&a, 6), "is_rung");
  ddpc_tune_asha_free(&a);
  CHECK(ddpc_tune_asha_init(&a, 0, 3, 9) != 0, "grace 0 refused: %s", ddpc_error_message());
  CHECK(ddpc_tune_asha_init(&a, 1, 1, 9) != 0, "eta 1 refused");
  CHECK(ddpc_tune_asha_init(&a, 5, 3, 4) != 0, "max_epochs < grace refused");
}

static void test_percentile(void) {
  // Reference values from numpy.percentile (linear interpolation).
  const double a[] = {1, 2, 3, 4};
  CHECK_NEAR(ddpc_tune_asha_percentile(a, 4, 200.0 / 3.0), 3.0, 1e-12, "percentile([1,2,3,4], 66.7)");
  CHECK_NEAR(ddpc_tune_asha_percentile(a, 4, 50), 2.5, 1e-12, "percentile([1,2,3,4], 50)");
  const double b[] = {5, 1, 3};
  CHECK_NEAR(ddpc_tune_asha_percentile(b, 3, 75), 4.0, 1e-12, "percentile([5,1,3], 75)");
  const double c[] = {0.7};
  CHECK_NEAR(ddpc_tune_asha_percentile(c, 1, 66.7), 0.7, 1e-12, "one value");
  const double d[] = {0.81, 0.86, 0.79, 0.84, 0.88};
  CHECK_NEAR(ddpc_tune_asha_percentile(d, 5, 200.0 / 3.0), 0.85333333333333333, 1e-12, "five values at 66.7");
}

static void test_rule(void) {
  ddpc_tune_asha a;
  CHECK(ddpc_tune_asha_init(&a, 1, 2, 10) == 0, "init 1/2/10");
  double cut = 0;
  CHECK(ddpc_tune_asha_on_result(&a, 1, 1, 2.0, &cut) == 0 && isnan(cut), "first at the rung goes on");
  CHECK(ddpc_tune_asha_on_result(&a, 2, 1, 4.0, &cut) == 0 && cut == 2.0, "4 >= cutoff 2 goes on (cut %g)", cut);
  CHECK(ddpc_tune_asha_on_result(&a, 3, 1, 1.0, &cut) == 1 && cut == 3.0, "1 < cutoff 3 stops (cut %g)", cut);
  CHECK(ddpc_tune_asha_on_result(&a, 4, 1, 2.0, &cut) == 0 && cut == 2.0, "2 = cutoff 2 goes on (cut %g)", cut);
  // Judged once: reaching the rung again (a restart from an earlier checkpoint) repeats the
  // decision, even with another value; the value recorded stays.
  CHECK(ddpc_tune_asha_on_result(&a, 3, 1, 9.0, &cut) == 1 && cut == 3.0, "a stopped trial is stopped again (cut %g)",
        cut);
  CHECK(ddpc_tune_asha_on_result(&a, 2, 1, 0.0, &cut) == 0 && cut == 2.0, "one that went on goes on again");
  CHECK(a.rungs[0].n_entries == 4 && a.rungs[0].entries[2].value == 1.0, "recorded once, first value kept");
  CHECK(ddpc_tune_asha_stop_epoch(&a, 3) == 1 && ddpc_tune_asha_stop_epoch(&a, 2) == 0, "where a trial was stopped");
  CHECK(ddpc_tune_asha_on_result(&a, 2, 3, 9.0, &cut) == 0 && isnan(cut), "epoch 3 is no rung");
  CHECK(ddpc_tune_asha_on_result(&a, 2, 2, 5.0, &cut) == 0, "first at rung 2");
  CHECK(ddpc_tune_asha_on_result(&a, 4, 2, 4.0, &cut) == 1 && cut == 5.0, "below the only value at rung 2 stops");
  CHECK(ddpc_tune_asha_stop_epoch(&a, 4) == 2, "trial 4 stopped at rung 2");
  CHECK(ddpc_tune_asha_on_result(&a, 5, 1, NAN, &cut) == 0 && a.rungs[0].n_entries == 4, "NaN neither judged nor recorded");
  ddpc_tune_asha_free(&a);
}

int main(void) {
  test_rungs();
  test_percentile();
  test_rule();
  return testing_finish();
}
