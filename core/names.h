/* Enum <-> name tables. Every enum a config names (layer kinds, losses, optimizers,
 * schedules, ...) has one table of names in enum order, owned by its module; these two
 * look-ups serve all of them, and the config parser uses the same tables for its
 * "expected one of ..." and "did you mean" messages. */
#ifndef DDPC_CORE_NAMES_H
#define DDPC_CORE_NAMES_H

/* Index of `name` in names[0..count), or -1 (also for NULL). */
int ddpc_names_find(const char *const *names, int count, const char *name);
/* names[value], or "unknown" when value is out of range. */
const char *ddpc_names_get(const char *const *names, int count, int value);

#define DDPC_NAMES_COUNT(table) ((int)(sizeof(table) / sizeof((table)[0])))

#endif
