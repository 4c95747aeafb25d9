/* A resumed run's config against its checkpoint's, key by key (see resume_diff.h). The
 * resolved YAML is regular (two spaces a level, lists of flow items), so a line's key path
 * follows from the keys above it with less indentation; list items are PARENT[i]. */
#include "launch/train/resume_diff.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* Deepest indentation level told apart; deeper lines share the last one. */
#define DIFF_LEVELS 16

/* One leaf of a resolved config: its key path and its value as written. */
typedef struct {
  char *key;    // "optimizer.betas", "model[0]"
  char *value;  // "[0.9, 0.999]", "{type: relu}"
} diff_entry;

typedef struct {
  diff_entry *items;
  int count;
  int cap;
} diff_entries;

static void diff_entries_free(diff_entries *e) {
  for (int i = 0; i < e->count; i++) {
    free(e->items[i].key);
    free(e->items[i].value);
  }
  free(e->items);
}

/* Takes key and value (both owned from here on). */
static int diff_entries_add(diff_entries *e, char *key, char *value) {
  if (key && value && e->count == e->cap) {
    int cap = e->cap ? e->cap * 2 : 64;
    diff_entry *grown = realloc(e->items, (size_t)cap * sizeof *grown);
    if (grown) {
      e->items = grown;
      e->cap = cap;
    }
  }
  if (!key || !value || e->count == e->cap) {
    free(key);
    free(value);
    return ddpc_error_set("out of memory (comparing configs)");
  }
  e->items[e->count++] = (diff_entry){key, value};
  return 0;
}

/* keys[0..levels) joined with dots; NULL out of memory. */
static char *diff_join(char *const *keys, int levels) {
  char *path = ddpc_strdup("");
  for (int l = 0; path && l < levels; l++) {
    if (!keys[l]) continue;
    char *next = path[0] ? ddpc_format("%s.%s", path, keys[l]) : ddpc_strdup(keys[l]);
    free(path);
    path = next;
  }
  return path;
}

static char *diff_trimmed(const char *s, size_t len) {
  while (len > 0 && (*s == ' ' || *s == '\t')) s++, len--;
  while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r')) len--;
  return ddpc_format("%.*s", (int)len, s);
}

/* The leaves of a resolved config: "key: value" lines and list items (section headers,
 * whose value is empty, are not leaves). */
static int diff_parse(const char *yaml, diff_entries *out) {
  char *keys[DIFF_LEVELS] = {0};
  int items[DIFF_LEVELS] = {0};
  int rc = 0;
  for (const char *line = yaml; rc == 0 && *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    size_t indent = strspn(line, " ");
    if (indent > len) indent = len;
    int level = (int)(indent / 2) < DIFF_LEVELS - 1 ? (int)(indent / 2) : DIFF_LEVELS - 1;
    const char *body = line + indent;
    size_t body_len = len - indent;
    line = end ? end + 1 : line + len;
    if (body_len == 0 || body[0] == '#') continue;
    for (int l = level + 1; l < DIFF_LEVELS; l++) {
      free(keys[l]);
      keys[l] = NULL;
      items[l] = 0;
    }
    if (body[0] == '-') {
      char *parent = diff_join(keys, level);
      char *key = parent ? ddpc_format("%s[%d]", parent, items[level]++) : NULL;
      free(parent);
      rc = diff_entries_add(out, key, diff_trimmed(body + 1, body_len - 1));
      continue;
    }
    const char *colon = memchr(body, ':', body_len);
    size_t key_len = colon ? (size_t)(colon - body) : body_len;
    free(keys[level]);
    keys[level] = ddpc_format("%.*s", (int)key_len, body);
    items[level] = 0;
    char *value = colon ? diff_trimmed(colon + 1, body_len - key_len - 1) : ddpc_strdup("");
    if (!keys[level] || !value) {
      free(value);
      rc = ddpc_error_set("out of memory (comparing configs)");
    } else if (value[0] == '\0') {
      free(value);  // a section: its leaves follow
    } else {
      rc = diff_entries_add(out, diff_join(keys, level + 1), value);
    }
  }
  for (int l = 0; l < DIFF_LEVELS; l++) free(keys[l]);
  return rc;
}

int ddpc_resume_diff_each_leaf(const char *yaml, void (*fn)(void *user, const char *key, const char *value), void *user) {
  diff_entries e = {0};
  int rc = diff_parse(yaml, &e);
  for (int i = 0; rc == 0 && i < e.count; i++) fn(user, e.items[i].key, e.items[i].value);
  diff_entries_free(&e);
  return rc;
}

/* key is `prefix` or inside it ("optimizer" holds "optimizer.lr", "model" holds "model[0]"). */
static bool diff_key_in(const char *key, const char *prefix, size_t prefix_len) {
  return strncmp(key, prefix, prefix_len) == 0 &&
         (key[prefix_len] == '\0' || key[prefix_len] == '.' || key[prefix_len] == '[');
}

static bool diff_key_in_any(const char *key, const char *const *prefixes, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (diff_key_in(key, prefixes[i], strlen(prefixes[i]))) return true;
  return false;
}

#define DIFF_COUNT(a) (sizeof(a) / sizeof((a)[0]))
static const char *const diff_not_compared[] = {"output"};
/* Where the prepared data is cached changes nothing about it. */
static const char *const diff_harmless_data[] = {"data.cache", "data.cache_dir"};
static const char *const diff_refused[] = {"data", "model"};
static const char *const diff_allowable[] = {"seed",           "loss",           "optimizer",       "schedule",
                                             "train.batch_size", "train.drop_last", "train.grad_clip"};
/* The run's planned length: the cosine schedule's horizon when it follows it. */
static const char *const diff_length[] = {"train.epochs", "stop.max_epochs"};

static ddpc_resume_change_kind diff_kind(const char *key, bool length_matters) {
  if (diff_key_in_any(key, diff_harmless_data, DIFF_COUNT(diff_harmless_data))) return DDPC_RESUME_CHANGE_ANNOUNCED;
  if (diff_key_in_any(key, diff_refused, DIFF_COUNT(diff_refused))) return DDPC_RESUME_CHANGE_REFUSED;
  if (diff_key_in_any(key, diff_allowable, DIFF_COUNT(diff_allowable))) return DDPC_RESUME_CHANGE_ALLOWABLE;
  if (diff_key_in_any(key, diff_length, DIFF_COUNT(diff_length)) && length_matters)
    return DDPC_RESUME_CHANGE_ALLOWABLE;
  return DDPC_RESUME_CHANGE_ANNOUNCED;
}

/* Whether the comma-separated allow list names key or a section holding it. */
static bool diff_allowed(const char *allow, const char *key) {
  for (const char *p = allow; p && *p;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    const char *name = p;
    while (len > 0 && *name == ' ') name++, len--;
    while (len > 0 && name[len - 1] == ' ') len--;
    if (len > 0 && diff_key_in(key, name, len)) return true;
    p = comma ? comma + 1 : p + strlen(p);
  }
  return false;
}

static const diff_entry *diff_lookup(const diff_entries *e, const char *key) {
  for (int i = 0; i < e->count; i++)
    if (strcmp(e->items[i].key, key) == 0) return &e->items[i];
  return NULL;
}

static int diff_add_change(ddpc_resume_diff *d, int *cap, const char *key, const char *saved, const char *current) {
  if (d->count == *cap) {
    int grown_cap = *cap ? *cap * 2 : 16;
    ddpc_resume_change *grown = realloc(d->changes, (size_t)grown_cap * sizeof *grown);
    if (!grown) return ddpc_error_set("out of memory (comparing configs)");
    d->changes = grown;
    *cap = grown_cap;
  }
  ddpc_resume_change *c = &d->changes[d->count];
  memset(c, 0, sizeof *c);
  c->key = ddpc_strdup(key);
  c->saved = saved ? ddpc_strdup(saved) : NULL;
  c->current = current ? ddpc_strdup(current) : NULL;
  d->count++;  // counted before the check: ddpc_resume_diff_free releases what was made
  if (!c->key || (saved && !c->saved) || (current && !c->current)) return -1;
  return 0;
}

int ddpc_resume_diff_find(const char *saved_yaml, const char *current_yaml, bool length_tied, const char *allow,
                          ddpc_resume_diff *out) {
  memset(out, 0, sizeof *out);
  diff_entries saved = {0}, current = {0};
  int cap = 0;
  int rc = diff_parse(saved_yaml, &saved);
  if (rc == 0) rc = diff_parse(current_yaml, &current);
  for (int i = 0; rc == 0 && i < current.count; i++) {
    const diff_entry *now = &current.items[i];
    const diff_entry *was = diff_lookup(&saved, now->key);
    if (!diff_key_in_any(now->key, diff_not_compared, DIFF_COUNT(diff_not_compared)) &&
        (!was || strcmp(was->value, now->value) != 0))
      rc = diff_add_change(out, &cap, now->key, was ? was->value : NULL, now->value);
  }
  for (int i = 0; rc == 0 && i < saved.count; i++) {
    const diff_entry *was = &saved.items[i];
    if (!diff_key_in_any(was->key, diff_not_compared, DIFF_COUNT(diff_not_compared)) &&
        !diff_lookup(&current, was->key))
      rc = diff_add_change(out, &cap, was->key, was->value, NULL);
  }
  diff_entries_free(&saved);
  diff_entries_free(&current);
  if (rc != 0) {
    ddpc_resume_diff_free(out);
    return -1;
  }
  // The length matters to the results only when it moved the schedule's horizon: a
  // changed train.epochs under an explicit, unchanged stop.max_epochs changes nothing.
  bool length_matters = length_tied && ddpc_resume_diff_get(out, "stop.max_epochs");
  for (int i = 0; i < out->count; i++) {
    ddpc_resume_change *c = &out->changes[i];
    c->kind = diff_kind(c->key, length_matters);
    c->allowed = c->kind == DDPC_RESUME_CHANGE_ALLOWABLE && diff_allowed(allow, c->key);
  }
  return 0;
}

void ddpc_resume_diff_free(ddpc_resume_diff *d) {
  for (int i = 0; i < d->count; i++) {
    free(d->changes[i].key);
    free(d->changes[i].saved);
    free(d->changes[i].current);
  }
  free(d->changes);
  memset(d, 0, sizeof *d);
}

const ddpc_resume_change *ddpc_resume_diff_get(const ddpc_resume_diff *d, const char *key) {
  for (int i = 0; i < d->count; i++)
    if (strcmp(d->changes[i].key, key) == 0) return &d->changes[i];
  return NULL;
}

/* Appends `item` to *list after `sep`; frees item. */
static int diff_append(char **list, const char *sep, char *item) {
  char *next = !item ? NULL : *list ? ddpc_format("%s%s%s", *list, sep, item) : ddpc_strdup(item);
  free(item);
  free(*list);
  *list = next;
  return next ? 0 : -1;
}

char *ddpc_resume_diff_list(const ddpc_resume_diff *d, ddpc_resume_change_kind kind, bool not_allowed,
                            bool with_values) {
  char *list = NULL;
  for (int i = 0; i < d->count; i++) {
    const ddpc_resume_change *c = &d->changes[i];
    if (c->kind != kind || (not_allowed && c->allowed)) continue;
    char *item = with_values ? ddpc_format("%s %s -> %s", c->key, c->saved ? c->saved : "(none)",
                                           c->current ? c->current : "(none)")
                             : ddpc_strdup(c->key);
    if (diff_append(&list, ", ", item) != 0) return NULL;
  }
  return list;
}

char *ddpc_resume_diff_allow_hint(const ddpc_resume_diff *d) {
  char *list = NULL;
  for (int i = 0; i < d->count; i++) {
    const ddpc_resume_change *c = &d->changes[i];
    if (c->kind == DDPC_RESUME_CHANGE_ALLOWABLE && !c->allowed && diff_append(&list, ",", ddpc_strdup(c->key)) != 0)
      return NULL;
  }
  return list;
}
