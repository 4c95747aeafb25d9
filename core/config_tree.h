/* The config file as a generic tree: maps, lists and scalars read with libyaml, each node
 * remembering where it came from (file:line:column, or the `--set key.path=value` text
 * that put it there) so the schema in config.c can point at the exact place of a mistake.
 * Also the helpers shared by config.c and config_write.c. Internal to the config module. */
#ifndef DDPC_CORE_CONFIG_TREE_H
#define DDPC_CORE_CONFIG_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

typedef enum {
  DDPC_CONFIG_NODE_SCALAR,  // text (numbers and booleans are interpreted by the schema)
  DDPC_CONFIG_NODE_MAP,     // key -> node, keys unique, in file order
  DDPC_CONFIG_NODE_LIST,    // ordered items
} ddpc_config_node_kind;

typedef struct ddpc_config_node ddpc_config_node;
struct ddpc_config_node {
  ddpc_config_node_kind kind;  // scalar, map or list
  char *key;                   // its key in the parent map (NULL for list items and the root)
  char *value;                 // scalar: the text as written (without quotes)
  bool is_null;                // scalar: plain `~`, `null` or nothing, i.e. "not given"
  const char *origin;          // the file path, or the override text "--set a.b=c" (not owned)
  int line;                    // 1-based line of the value; 0 when it came from an override
  int column;                  // 1-based column of the value
  int key_line;                // 1-based position of its key (0 for overrides and list items)
  int key_column;              // column of its key
  ddpc_config_node **items;    // map entries (each with `key`) or list items
  size_t n_items;              // entries in items
  size_t cap_items;            // allocated slots in items
};

typedef struct {
  ddpc_config_node *root;  // the top-level map
  char *path;              // the file as given: the origin of every node read from it
  char **origins;          // "--set ..." texts, owned here because nodes point into them
  int n_origins;           // entries in origins
} ddpc_config_tree;

/* Reads and parses a YAML file whose top level must be a map. Errors: "run.yaml:7:3: YAML
 * syntax error: ...", duplicate keys, aliases, an empty file. */
int ddpc_config_tree_load(const char *path, ddpc_config_tree *tree);
/* The same for YAML text in memory; `name` stands for the file in messages. */
int ddpc_config_tree_parse(const char *name, const char *text, size_t len, ddpc_config_tree *tree);
/* Applies one override "a.b.0.c=value": value is parsed as YAML (a scalar or a flow
 * collection) and replaces the node at that path; missing map keys are created. */
int ddpc_config_tree_apply_override(ddpc_config_tree *tree, const char *override);
void ddpc_config_tree_free(ddpc_config_tree *tree);

/* The entry `key` of a map, or NULL when absent. */
ddpc_config_node *ddpc_config_node_get(const ddpc_config_node *map, const char *key);
/* Where a node's value was given: "run.yaml:5:12", or the override text "--set a.b=c"
 * (allocated; NULL when out of memory). */
char *ddpc_config_node_where(const ddpc_config_node *node);
/* Records "<where>: PATH: expected EXPECTED, got 'text'" (or "got a map", "got a list")
 * and returns -1. */
int ddpc_config_type_error(const ddpc_config_node *node, const char *path, const char *expected);
/* Records "<where the value is>: <message>" and returns -1. */
int ddpc_config_node_error(const ddpc_config_node *node, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Same, at the position of the node's key (unknown or duplicate keys). */
int ddpc_config_key_error(const ddpc_config_node *node, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The closest of `names` to `given` (Levenshtein distance <= 2, ignoring case, or a
 * prefix either way), or NULL when none is close. */
const char *ddpc_config_suggest(const char *given, const char *const *names, int n_names);

/* Names of the config-only enums, indexed by value; shared with config_write.c. */
extern const char *const ddpc_config_format_names[2];
extern const char *const ddpc_config_task_names[2];
extern const char *const ddpc_config_standardize_names[2];
extern const char *const ddpc_config_missing_names[3];
extern const char *const ddpc_config_init_names[3];

/* Writes the resolved config as YAML into cfg->resolved_yaml (config_write.c). */
int ddpc_config_write_resolved(ddpc_config *cfg);

#endif
