/* Enum <-> name look-ups (see names.h). */
#include "core/names.h"

#include <string.h>

int ddpc_names_find(const char *const *names, int count, const char *name) {
  if (!name) return -1;
  for (int i = 0; i < count; i++)
    if (names[i] && strcmp(names[i], name) == 0) return i;
  return -1;
}

const char *ddpc_names_get(const char *const *names, int count, int value) {
  return value >= 0 && value < count && names[value] ? names[value] : "unknown";
}
