/* One model per group's pure parts (launch/groups): a group value's directory name (safe,
 * reversible percent-encoding; "." and ".." never a directory of their own) and the plan of
 * which rank trains which group (largest first to the least loaded rank, ties by value and
 * by the lowest rank, skipped groups left out), checked against hand-made schedules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch/groups/groups_internal.h"
#include "testing.h"

static void test_names(void) {
  const char *cases[][2] = {{"store-7_a.b", "store-7_a.b"}, {"a/b c", "a%2Fb%20c"}, {".", "%2E"},
                            {"..", "%2E%2E"},            {"...", "..."},           {"%", "%25"},
                            {"caf\xc3\xa9", "caf%C3%A9"}, {"x,\"y\"", "x%2C%22y%22"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *got = groups_encode_name(cases[i][0]);
    CHECK(got && strcmp(got, cases[i][1]) == 0, "'%s' -> '%s', expected '%s'", cases[i][0], got ? got : "(null)",
          cases[i][1]);
    free(got);
  }
}

/* Groups named g0, g1, ... with these rows; skip marks the ones not trained. */
static void plan(const unsigned *rows, const bool *skip, int n, int world, groups_list *l) {
  memset(l, 0, sizeof *l);
  l->items = calloc((size_t)n, sizeof *l->items);
  l->count = n;
  for (int i = 0; i < n; i++) {
    l->items[i].value = malloc(16);
    snprintf(l->items[i].value, 16, "g%d", i);
    l->items[i].rows = rows[i];
    l->items[i].rank = -1;
    if (skip && skip[i]) l->items[i].skip_reason = strdup("too small");
  }
  groups_plan_assign(l, world);
}

static void test_plan(void) {
  // 10 -> r0, 9 -> r1, 8 -> r2, 7 -> r2 (8 least), 6 -> r1 (9), 5 -> r0 (10), 4 -> r0 (all 15: lowest rank).
  const unsigned rows[] = {10, 9, 8, 7, 6, 5, 4};
  const int rank[] = {0, 1, 2, 2, 1, 0, 0}, order[] = {0, 0, 0, 1, 1, 1, 2};
  groups_list l;
  plan(rows, NULL, 7, 3, &l);
  for (int i = 0; i < 7; i++)
    CHECK(l.items[i].rank == rank[i] && l.items[i].order == order[i], "group of %u rows: rank %d order %d, expected %d %d",
          rows[i], l.items[i].rank, l.items[i].order, rank[i], order[i]);
  groups_list_free(&l);

  // Equal rows go by value (g0 before g1 ...); skipped groups get no rank; one rank takes all.
  const unsigned same[] = {5, 5, 5, 100};
  const bool skip[] = {false, false, false, true};
  plan(same, skip, 4, 2, &l);
  CHECK(l.items[0].rank == 0 && l.items[1].rank == 1 && l.items[2].rank == 0 && l.items[2].order == 1,
        "ties by value: ranks %d %d %d", l.items[0].rank, l.items[1].rank, l.items[2].rank);
  CHECK(l.items[3].rank == -1, "a skipped group has no rank: %d", l.items[3].rank);
  groups_list_free(&l);
  plan(rows, NULL, 7, 1, &l);
  for (int i = 0; i < 7; i++)
    CHECK(l.items[i].rank == 0 && l.items[i].order == i, "one rank: group %d order %d", i, l.items[i].order);
  groups_list_free(&l);
}

int main(void) {
  test_names();
  test_plan();
  return testing_finish();
}
