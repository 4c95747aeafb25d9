/* YAML -> generic tree (config_tree.h): libyaml's event stream is folded into maps, lists
 * and scalars that keep their file:line:column, then `--set key.path=value` overrides are
 * grafted onto the tree before the schema looks at it, so a value from the command line
 * is checked exactly like one from the file and its errors name the override. */
#include "core/config_tree.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "core/error.h"

// Deeper nesting than any config needs; the limit keeps recursion in free() bounded.
#define CONFIG_TREE_MAX_DEPTH 64
// A config is a few kilobytes; refusing huge files keeps a wrong path from eating memory.
#define CONFIG_TREE_MAX_BYTES (16u << 20)

static ddpc_config_node *node_create(ddpc_config_node_kind kind, const char *origin, const yaml_mark_t *mark) {
  ddpc_config_node *n = ddpc_calloc(1, sizeof *n, "config node");
  if (!n) return NULL;
  n->kind = kind;
  n->origin = origin;
  if (mark) {
    n->line = (int)mark->line + 1;  // libyaml marks are 0-based
    n->column = (int)mark->column + 1;
  }
  return n;
}

static void node_free(ddpc_config_node *n) {
  if (!n) return;
  for (size_t i = 0; i < n->n_items; i++) node_free(n->items[i]);
  free(n->items);
  free(n->key);
  free(n->value);
  free(n);
}

static int node_append(ddpc_config_node *parent, ddpc_config_node *child) {
  if (parent->n_items == parent->cap_items) {
    size_t cap = parent->cap_items ? parent->cap_items * 2 : 8;
    ddpc_config_node **items = realloc(parent->items, cap * sizeof *items);
    if (!items) return ddpc_error_set("out of memory (config tree)");
    parent->items = items;
    parent->cap_items = cap;
  }
  parent->items[parent->n_items++] = child;
  return 0;
}

ddpc_config_node *ddpc_config_node_get(const ddpc_config_node *map, const char *key) {
  if (!map || map->kind != DDPC_CONFIG_NODE_MAP) return NULL;
  for (size_t i = 0; i < map->n_items; i++)
    if (strcmp(map->items[i]->key, key) == 0) return map->items[i];
  return NULL;
}

static char *where_text(const char *origin, int line, int column) {
  if (line > 0) return ddpc_format("%s:%d:%d", origin, line, column);
  return ddpc_format("%s", origin);
}

char *ddpc_config_node_where(const ddpc_config_node *node) {
  return where_text(node->origin, node->line, node->column);
}

__attribute__((format(printf, 4, 0)))
static int located_verror(const char *origin, int line, int column, const char *fmt, va_list ap) {
  va_list copy;
  va_copy(copy, ap);
  int len = vsnprintf(NULL, 0, fmt, copy);
  va_end(copy);
  char *msg = len >= 0 ? malloc((size_t)len + 1) : NULL;
  if (!msg) return ddpc_error_set("out of memory (config error message)");
  vsnprintf(msg, (size_t)len + 1, fmt, ap);
  char *where = where_text(origin, line, column);
  ddpc_error_set("%s: %s", where ? where : origin, msg);
  free(where);
  free(msg);
  return -1;
}

int ddpc_config_node_error(const ddpc_config_node *node, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  located_verror(node->origin, node->line, node->column, fmt, ap);
  va_end(ap);
  return -1;
}

int ddpc_config_key_error(const ddpc_config_node *node, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int line = node->key_line > 0 ? node->key_line : node->line;
  int column = node->key_line > 0 ? node->key_column : node->column;
  located_verror(node->origin, line, column, fmt, ap);
  va_end(ap);
  return -1;
}

int ddpc_config_type_error(const ddpc_config_node *node, const char *path, const char *expected) {
  if (node->kind == DDPC_CONFIG_NODE_MAP)
    return ddpc_config_node_error(node, "%s: expected %s, got a map", path, expected);
  if (node->kind == DDPC_CONFIG_NODE_LIST)
    return ddpc_config_node_error(node, "%s: expected %s, got a list", path, expected);
  if (node->is_null) return ddpc_config_node_error(node, "%s: expected %s, got nothing", path, expected);
  return ddpc_config_node_error(node, "%s: expected %s, got '%s'", path, expected, node->value);
}

// Case-insensitive edit distance; names are short so one row of 65 ints suffices.
static int edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64) return 1000;
  int row[65];
  for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int diag = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int up = row[j];
      int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
      int best = diag + cost;
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

static bool is_prefix_ci(const char *prefix, const char *s) {
  size_t n = strlen(prefix);
  return n >= 2 && strlen(s) >= n && strncasecmp(prefix, s, n) == 0;
}

const char *ddpc_config_suggest(const char *given, const char *const *names, int n_names) {
  const char *best = NULL;
  int best_d = 3;
  int len = (int)strlen(given);
  for (int i = 0; i < n_names; i++) {
    int d = edit_distance(given, names[i]);
    // A distance as long as the word itself means nothing of it was right.
    if (d < best_d && d < len) {
      best = names[i];
      best_d = d;
    }
  }
  if (best) return best;
  for (int i = 0; i < n_names; i++)
    if (is_prefix_ci(given, names[i]) || is_prefix_ci(names[i], given)) return names[i];
  return NULL;
}

static bool scalar_is_null(const yaml_event_t *ev) {
  if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
  const char *v = (const char *)ev->data.scalar.value;
  return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
         strcmp(v, "NULL") == 0;
}

typedef struct {
  ddpc_config_node *node;  // the open map or list
  char *pending_key;       // map: a key was read and waits for its value
  int key_line;            // position of the pending key
  int key_column;
} tree_frame;

typedef struct {
  const char *origin;   // file path or override text
  bool located;         // file: positions are meaningful; override: one line of text
  yaml_parser_t parser;
  tree_frame frames[CONFIG_TREE_MAX_DEPTH];
  int depth;            // open collections
  ddpc_config_node *root;
} tree_builder;

static int builder_error(tree_builder *b, const yaml_mark_t *mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int builder_error(tree_builder *b, const yaml_mark_t *mark, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int line = b->located && mark ? (int)mark->line + 1 : 0;
  int column = b->located && mark ? (int)mark->column + 1 : 0;
  located_verror(b->origin, line, column, fmt, ap);
  va_end(ap);
  return -1;
}

// Hands a finished scalar, map or list to its parent (or makes it the root). Takes
// ownership of `node` whatever happens.
static int builder_attach(tree_builder *b, ddpc_config_node *node, const yaml_mark_t *mark) {
  if (b->depth == 0) {
    b->root = node;
    return 0;
  }
  tree_frame *f = &b->frames[b->depth - 1];
  if (f->node->kind == DDPC_CONFIG_NODE_LIST) {
    if (node_append(f->node, node) == 0) return 0;
    node_free(node);
    return -1;
  }
  if (!f->pending_key) {
    if (node->kind != DDPC_CONFIG_NODE_SCALAR) {
      node_free(node);
      return builder_error(b, mark, "map keys must be plain words, not a map or a list");
    }
    const ddpc_config_node *dup = ddpc_config_node_get(f->node, node->value);
    if (dup) {
      int rc = dup->key_line > 0
                   ? builder_error(b, mark, "duplicate key '%s' (first given at line %d)", node->value, dup->key_line)
                   : builder_error(b, mark, "duplicate key '%s'", node->value);
      node_free(node);
      return rc;
    }
    f->pending_key = node->value;
    node->value = NULL;
    f->key_line = node->line;
    f->key_column = node->column;
    node_free(node);
    return 0;
  }
  node->key = f->pending_key;
  node->key_line = f->key_line;
  node->key_column = f->key_column;
  f->pending_key = NULL;
  if (node_append(f->node, node) == 0) return 0;
  node_free(node);
  return -1;
}

static int builder_event(tree_builder *b, const yaml_event_t *ev, int *n_documents, bool *done) {
  const yaml_mark_t *mark = &ev->start_mark;
  const yaml_mark_t *use_mark = b->located ? mark : NULL;
  ddpc_config_node *node = NULL;
  switch (ev->type) {
    case YAML_STREAM_END_EVENT:
      *done = true;
      return 0;
    case YAML_DOCUMENT_START_EVENT:
      if (++*n_documents > 1) return builder_error(b, mark, "only one YAML document is allowed in a config");
      return 0;
    case YAML_ALIAS_EVENT:
      return builder_error(b, mark, "YAML aliases (*%s) are not supported; write the value out",
                           (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
      node = node_create(DDPC_CONFIG_NODE_SCALAR, b->origin, use_mark);
      if (!node) return -1;
      node->value = ddpc_strdup((const char *)ev->data.scalar.value);
      if (!node->value) {
        node_free(node);
        return ddpc_error_set("out of memory (config scalar)");
      }
      node->is_null = scalar_is_null(ev);
      return builder_attach(b, node, mark);
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
      if (b->depth == CONFIG_TREE_MAX_DEPTH)
        return builder_error(b, mark, "nesting deeper than %d levels", CONFIG_TREE_MAX_DEPTH);
      node = node_create(ev->type == YAML_MAPPING_START_EVENT ? DDPC_CONFIG_NODE_MAP : DDPC_CONFIG_NODE_LIST,
                      b->origin, use_mark);
      if (!node || builder_attach(b, node, mark) != 0) return -1;
      b->frames[b->depth++] = (tree_frame){node, NULL, 0, 0};
      return 0;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
      b->depth--;
      return 0;
    default:
      return 0;
  }
}

/* Parses text into a tree rooted at the document's node; NULL root for an empty stream. */
static int tree_parse_text(const char *origin, bool located, const char *text, size_t len,
                           ddpc_config_node **root) {
  *root = NULL;
  tree_builder *b = ddpc_calloc(1, sizeof *b, "YAML parser");
  if (!b) return -1;
  b->origin = origin;
  b->located = located;
  if (!yaml_parser_initialize(&b->parser)) {
    free(b);
    return ddpc_error_set("%s: cannot initialise the YAML parser", origin);
  }
  yaml_parser_set_input_string(&b->parser, (const unsigned char *)text, len);
  int rc = 0, n_documents = 0;
  bool done = false;
  while (!done && rc == 0) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&b->parser, &ev)) {
      rc = builder_error(b, &b->parser.problem_mark, "YAML syntax error: %s",
                         b->parser.problem ? b->parser.problem : "unknown problem");
      break;
    }
    rc = builder_event(b, &ev, &n_documents, &done);
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&b->parser);
  for (int i = 0; i < b->depth; i++) free(b->frames[i].pending_key);
  if (rc == 0)
    *root = b->root;
  else
    node_free(b->root);
  free(b);
  return rc;
}

static int read_whole_file(const char *path, char **text, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return ddpc_error_set("%s: cannot open the config file: %s", path, strerror(errno));
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  int rc = buf ? 0 : ddpc_error_set("out of memory (config file)");
  while (rc == 0) {
    if (n == cap) {
      if (cap >= CONFIG_TREE_MAX_BYTES) {
        rc = ddpc_error_set("%s: the config file is larger than %u MiB", path, CONFIG_TREE_MAX_BYTES >> 20);
        break;
      }
      char *grown = realloc(buf, cap * 2);
      if (!grown) {
        rc = ddpc_error_set("out of memory (config file)");
        break;
      }
      buf = grown;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      if (ferror(f)) rc = ddpc_error_set("%s: cannot read the config file: %s", path, strerror(errno));
      break;
    }
  }
  fclose(f);
  if (rc != 0) {
    free(buf);
    return rc;
  }
  *text = buf;
  *len = n;
  return 0;
}

int ddpc_config_tree_parse(const char *name, const char *text, size_t len, ddpc_config_tree *tree) {
  memset(tree, 0, sizeof *tree);
  tree->path = ddpc_strdup(name);
  if (!tree->path) return -1;
  int rc = tree_parse_text(tree->path, true, text, len, &tree->root);
  if (rc != 0) return rc;
  ddpc_config_node *root = tree->root;
  if (!root || (root->kind == DDPC_CONFIG_NODE_SCALAR && root->is_null))
    return ddpc_error_set("%s: the config file is empty; it needs at least `data:` and `model:`", name);
  if (root->kind != DDPC_CONFIG_NODE_MAP)
    return ddpc_config_node_error(root, "the top level must be a map of keys (like `data:`), got %s",
                                  root->kind == DDPC_CONFIG_NODE_LIST ? "a list" : "a single value");
  return 0;
}

int ddpc_config_tree_load(const char *path, ddpc_config_tree *tree) {
  memset(tree, 0, sizeof *tree);
  char *text = NULL;
  size_t len = 0;
  if (read_whole_file(path, &text, &len) != 0) return -1;
  int rc = ddpc_config_tree_parse(path, text, len, tree);
  free(text);
  return rc;
}

void ddpc_config_tree_free(ddpc_config_tree *tree) {
  node_free(tree->root);
  for (int i = 0; i < tree->n_origins; i++) free(tree->origins[i]);
  free(tree->origins);
  free(tree->path);
  memset(tree, 0, sizeof *tree);
}

static const char *tree_add_origin(ddpc_config_tree *tree, const char *override) {
  char **grown = realloc(tree->origins, (size_t)(tree->n_origins + 1) * sizeof *grown);
  if (!grown) {
    ddpc_error_set("out of memory (config overrides)");
    return NULL;
  }
  tree->origins = grown;
  char *origin = ddpc_format("--set %s", override);
  if (!origin) return NULL;
  tree->origins[tree->n_origins++] = origin;
  return origin;
}

static bool parse_index(const char *s, size_t *out) {
  if (!*s || strlen(s) > 9) return false;
  for (const char *p = s; *p; p++)
    if (!isdigit((unsigned char)*p)) return false;
  *out = (size_t)strtoul(s, NULL, 10);
  return true;
}

static ddpc_config_node *origin_node(ddpc_config_node_kind kind, const char *origin) {
  return node_create(kind, origin, NULL);
}

// Puts `node` in slot `*slot` of its parent (replacing what was there), keeping the key.
static int graft(ddpc_config_node **slot, ddpc_config_node *node, const char *key) {
  if (key) {
    node->key = ddpc_strdup(key);
    if (!node->key) {
      node_free(node);
      return -1;
    }
  }
  node_free(*slot);
  *slot = node;
  return 0;
}

// Walks `segments` (n of them) from the root, creating maps on the way, and puts `value`
// at the end. Takes ownership of value.
static int tree_graft_path(ddpc_config_tree *tree, const char *origin, char **segments, int n,
                           ddpc_config_node *value) {
  ddpc_config_node *cur = tree->root;
  for (int i = 0; i < n; i++) {
    const char *seg = segments[i];
    bool last = i == n - 1;
    ddpc_config_node **slot = NULL;
    if (cur->kind == DDPC_CONFIG_NODE_MAP) {
      for (size_t k = 0; k < cur->n_items; k++)
        if (strcmp(cur->items[k]->key, seg) == 0) slot = &cur->items[k];
      if (!slot) {
        ddpc_config_node *fresh = last ? value : origin_node(DDPC_CONFIG_NODE_MAP, origin);
        if (!fresh || !(fresh->key = ddpc_strdup(seg)) || node_append(cur, fresh) != 0) {
          if (fresh != value) node_free(fresh);
          node_free(value);
          return -1;
        }
        if (last) return 0;
        cur = fresh;
        continue;
      }
    } else if (cur->kind == DDPC_CONFIG_NODE_LIST) {
      size_t idx = 0;
      if (!parse_index(seg, &idx) || idx >= cur->n_items) {
        node_free(value);
        if (!parse_index(seg, &idx))
          return ddpc_error_set("%s: '%s' is a list; '%s' is not an item number (0..%zu)", origin,
                                i == 0 ? "the top level" : segments[i - 1], seg,
                                cur->n_items ? cur->n_items - 1 : 0);
        return ddpc_error_set("%s: item %s is out of range: '%s' has %zu items", origin, seg, segments[i - 1],
                              cur->n_items);
      }
      slot = &cur->items[idx];
    } else {
      node_free(value);
      return ddpc_error_set("%s: '%s' is a single value, it has no key '%s'", origin, segments[i - 1], seg);
    }
    if (last) return graft(slot, value, (*slot)->key);
    // An empty `key:` in the file is an empty map waiting to be filled.
    if ((*slot)->kind == DDPC_CONFIG_NODE_SCALAR && (*slot)->is_null) {
      ddpc_config_node *map = origin_node(DDPC_CONFIG_NODE_MAP, origin);
      if (!map || graft(slot, map, (*slot)->key) != 0) {
        node_free(value);
        return -1;
      }
    }
    cur = *slot;
  }
  node_free(value);
  return 0;
}

int ddpc_config_tree_apply_override(ddpc_config_tree *tree, const char *override) {
  const char *origin = tree_add_origin(tree, override);
  if (!origin) return -1;
  const char *eq = strchr(override, '=');
  if (!eq || eq == override) return ddpc_error_set("%s: expected key.path=value", origin);
  char *path = ddpc_format("%.*s", (int)(eq - override), override);
  if (!path) return -1;
  int n_segments = 1;
  for (const char *p = path; *p; p++) n_segments += *p == '.';
  char **segments = ddpc_calloc((size_t)n_segments, sizeof *segments, "override path");
  int rc = segments ? 0 : -1;
  int k = 0;
  for (char *p = path; rc == 0 && k < n_segments; k++) {
    segments[k] = p;
    char *dot = strchr(p, '.');
    if (dot) *dot = '\0';
    if (!*segments[k]) rc = ddpc_error_set("%s: expected key.path=value (empty key in the path)", origin);
    p = dot ? dot + 1 : p + strlen(p);
  }
  ddpc_config_node *value = NULL;
  if (rc == 0) rc = tree_parse_text(origin, false, eq + 1, strlen(eq + 1), &value);
  if (rc == 0 && !value) {
    value = origin_node(DDPC_CONFIG_NODE_SCALAR, origin);
    if (!value || !(value->value = ddpc_strdup(""))) rc = -1;
    if (value) value->is_null = true;
  }
  if (rc == 0)
    rc = tree_graft_path(tree, origin, segments, n_segments, value);
  else
    node_free(value);
  free(segments);
  free(path);
  return rc;
}
