/* Which rank trains which groups. Longest processing time first (Graham's LPT rule): the
 * groups sorted by rows, largest first, each given to the rank with the fewest rows so far.
 * Its makespan is within 4/3 of the best possible, and the long groups start first, so a
 * large group cannot be the last one left running while the other ranks idle. Rows stand
 * for the work: a group's epochs cost in proportion to its rows. Ties go by value and by
 * the lowest rank, so every rank computes the same plan. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "launch/groups/groups_internal.h"

static const groups_list *plan_sorting;  // qsort's comparator has no user pointer

static int plan_compare(const void *a, const void *b) {
  const groups_entry *x = &plan_sorting->items[*(const int *)a], *y = &plan_sorting->items[*(const int *)b];
  if (x->rows != y->rows) return x->rows > y->rows ? -1 : 1;
  return strcmp(x->value, y->value);
}

void groups_plan_assign(groups_list *l, int world) {
  int *order = ddpc_calloc(l->count ? (size_t)l->count : 1, sizeof *order, "group plan");
  double *load = ddpc_calloc((size_t)world, sizeof *load, "group plan");
  int *queued = ddpc_calloc((size_t)world, sizeof *queued, "group plan");
  int n = 0;
  for (int i = 0; order && i < l->count; i++)
    if (!l->items[i].skip_reason) order[n++] = i;
  if (order && load && queued) {
    plan_sorting = l;
    qsort(order, (size_t)n, sizeof *order, plan_compare);
    plan_sorting = NULL;
    for (int k = 0; k < n; k++) {
      int best = 0;
      for (int r = 1; r < world; r++)
        if (load[r] < load[best]) best = r;
      groups_entry *e = &l->items[order[k]];
      e->rank = best;
      e->order = queued[best]++;
      load[best] += e->rows;
    }
  } else {
    // Out of memory: rank 0 trains every group (still the same plan on every rank).
    for (int i = 0, k = 0; i < l->count; i++)
      if (!l->items[i].skip_reason) {
        l->items[i].rank = 0;
        l->items[i].order = k++;
      }
  }
  free(order);
  free(load);
  free(queued);
}
