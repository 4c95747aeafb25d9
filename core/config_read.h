/* Typed readers of config values: an integer, a number, a bool, a string, one of a list of
 * names or a metric name, read from a node of config_tree.h with its type and range
 * checked. Every refusal is one message naming the place (file:line:col or the --set
 * text), the dotted key, what was expected and what was given. One reader per type, shared
 * by the training config's schema (config.c) and the tuner's study file
 * (tune/tune_study.c), so that a value reads and is refused the same way in both files.
 * Internal to ddpc, like config_tree.h. */
#ifndef DDPC_CORE_CONFIG_READ_H
#define DDPC_CORE_CONFIG_READ_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config_tree.h"

/* A map being read and its dotted path ("" for the top level). */
typedef struct {
  const ddpc_config_node *map;  // NULL when the section is absent: every key then reads as absent
  const char *path;             // dotted path of the map, for messages
} ddpc_config_section;

/* The numbers a key allows. */
typedef struct {
  double lo, hi;  // bounds, -INFINITY/INFINITY when open-ended
  bool lo_open;   // lo itself is not allowed
  bool hi_open;   // hi itself is not allowed
} ddpc_config_range;

/* "a, b, c" (caller frees), or NULL when out of memory. */
char *ddpc_config_join_names(const char *const *names, int n);
/* Records "<where>: LEAD; expected one of NAMES; did you mean 'X'?" at the node (at_key:
 * at its key, "LEAD; did you mean 'X'?" or "LEAD; valid keys: NAMES") and returns -1. */
int ddpc_config_unknown_name_error(const ddpc_config_node *at, bool at_key, const char *lead, const char *given,
                                   const char *const *names, int n);
/* The node under `key` of s, or NULL when absent or written as null. *path gets the dotted
 * path (caller frees) when the node is returned. */
const ddpc_config_node *ddpc_config_field(ddpc_config_section s, const char *key, char **path);
/* "PATH: unknown metric 'GIVEN'; expected one of NAMES" at n, with a suggestion (for
 * "top5_acc": top5_accuracy, as the list has topK_accuracy). Returns -1. */
int ddpc_config_unknown_metric_error(const ddpc_config_node *n, const char *path, const char *given,
                                     const char *const *names, int count);
/* Every key of s.map must be one of `allowed`; `where` names the map in the message. */
int ddpc_config_check_keys(ddpc_config_section s, const char *where, const char *const *allowed, int n);

/* Readers of one node; path is the dotted key for messages. 0, or -1 with the message. */
int ddpc_config_read_int(const ddpc_config_node *n, const char *path, int64_t lo, int64_t hi, int64_t *out);
/* as_float: the value is stored in a float, so the range is checked on the float. */
int ddpc_config_read_number(const ddpc_config_node *n, const char *path, ddpc_config_range r, bool as_float,
                            double *out);
int ddpc_config_read_bool(const ddpc_config_node *n, const char *path, bool *out);
/* A non-empty string; *out (freed first) gets a copy. */
int ddpc_config_read_string(const ddpc_config_node *n, const char *path, char **out);
/* The index of the value in names[0..count). */
int ddpc_config_read_enum(const ddpc_config_node *n, const char *path, const char *const *names, int count, int *out);

/* The same readers on `key` of a section: 1 read, 0 absent or null (out untouched), -1
 * refused with the message. */
int ddpc_config_get_int(ddpc_config_section s, const char *key, int64_t lo, int64_t hi, int64_t *out);
int ddpc_config_get_int32(ddpc_config_section s, const char *key, int lo, int hi, int *out);
int ddpc_config_get_number(ddpc_config_section s, const char *key, ddpc_config_range r, bool as_float, double *out);
int ddpc_config_get_double(ddpc_config_section s, const char *key, ddpc_config_range r, double *out);
int ddpc_config_get_float(ddpc_config_section s, const char *key, ddpc_config_range r, float *out);
int ddpc_config_get_bool(ddpc_config_section s, const char *key, bool *out);
int ddpc_config_get_string(ddpc_config_section s, const char *key, char **out);
int ddpc_config_get_enum(ddpc_config_section s, const char *key, const char *const *names, int count, int *out);
/* A metric name (core/metrics.h) such as val_loss; an unknown one is refused with the
 * nearest known name. */
int ddpc_config_get_metric(ddpc_config_section s, const char *key, char **out);
/* The map under `key` as a section named `path`; out->map stays NULL when it is absent.
 * 0, or -1 when the value is not a map. */
int ddpc_config_get_section(ddpc_config_section s, const char *key, const char *path, ddpc_config_section *out);

#endif
