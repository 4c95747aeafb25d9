/* The trials table of `ddpc tune` (see tune_table.h): cells built per row, columns padded
 * to their widest cell, long parameter lists and reasons cut to keep a row on one line. */
#include "tune/tune_table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/sysinfo.h"

/* Widest parameters cell; a longer list ends in "...". */
#define TABLE_PARAMS_WIDTH 60
/* Widest single parameter value (a long choice label, a path). */
#define TABLE_VALUE_WIDTH 16
/* Widest note (why a trial failed or was pruned); the full text is in the store. */
#define TABLE_NOTE_WIDTH 60

/* Text with a width limit: what does not fit is dropped and the end becomes "...". */
typedef struct {
  char *buf;   // the text, NUL-terminated
  size_t cap;  // size of buf: the widest text plus one
  size_t len;  // characters in buf
  bool cut;    // something was dropped
} table_cell;

static void table_cell_init(table_cell *c, char *buf, size_t cap) {
  c->buf = buf;
  c->cap = cap;
  c->len = 0;
  c->cut = false;
  buf[0] = '\0';
}

static void table_cell_add(table_cell *c, const char *s) {
  for (; *s && !c->cut; s++) {
    if (c->len + 1 >= c->cap) {
      c->cut = true;
      break;
    }
    // A newline or tab in a reason would break the row.
    c->buf[c->len++] = (*s == '\n' || *s == '\t' || *s == '\r') ? ' ' : *s;
  }
  c->buf[c->len] = '\0';
  if (c->cut && c->cap > 4) memcpy(c->buf + c->cap - 4, "...", 4);
}

/* ---- parameters: the flat JSON object of a trial, shown as "lr=0.001 units=64 act=relu" ---- */

typedef struct {
  char **keys;    // decoded keys
  char **values;  // each value as displayed
  int n;          // pairs read
} table_params;

static void table_params_free(table_params *p) {
  for (int i = 0; i < p->n; i++) {
    free(p->keys[i]);
    free(p->values[i]);
  }
  free(p->keys);
  free(p->values);
}

static const char *table_skip_space(const char *p) {
  while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
  return p;
}

/* The JSON string at *p (on its opening quote), decoded: \uXXXX beyond ASCII shows as '?'
 * (a label on a terminal, not data). NULL when malformed. */
static char *table_json_string(const char **p) {
  const char *s = *p + 1;
  char *out = malloc(strlen(s) + 1);
  if (!out) return NULL;
  size_t n = 0;
  for (; *s && *s != '"'; s++) {
    if (*s != '\\') {
      out[n++] = *s;
      continue;
    }
    s++;
    switch (*s) {
      case 'n': out[n++] = ' '; break;
      case 't': out[n++] = ' '; break;
      case 'u': {
        unsigned code = 0;
        for (int k = 1; k <= 4; k++) {
          char h = s[k];
          if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) {
            free(out);
            return NULL;
          }
          code = code * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        out[n++] = code >= 0x20 && code < 0x7f ? (char)code : '?';
        s += 4;
        break;
      }
      case '\0': free(out); return NULL;
      default: out[n++] = *s; break;  // \" \\ \/ and the rest stand for themselves
    }
  }
  if (*s != '"') {
    free(out);
    return NULL;
  }
  out[n] = '\0';
  *p = s + 1;
  return out;
}

/* A number, true, false or null at *p as displayed: numbers with 4 significant digits. */
static char *table_json_scalar(const char **p) {
  const char *end = *p;
  while (*end && *end != ',' && *end != '}' && *end != ' ' && *end != '\n') end++;
  if (end == *p) return NULL;
  char *stop = NULL;
  double v = strtod(*p, &stop);
  char *text = stop == end ? ddpc_format("%.4g", v) : ddpc_format("%.*s", (int)(end - *p), *p);
  *p = end;
  return text;
}

/* Reads a flat JSON object; -1 when it is not one (the caller shows the raw text). */
static int table_params_parse(const char *json, table_params *out) {
  memset(out, 0, sizeof *out);
  int cap = 1;
  for (const char *c = json; *c; c++) cap += *c == ':';
  out->keys = calloc((size_t)cap, sizeof *out->keys);
  out->values = calloc((size_t)cap, sizeof *out->values);
  const char *p = table_skip_space(json);
  if (!out->keys || !out->values || *p++ != '{') return -1;
  p = table_skip_space(p);
  if (*p == '}') return 0;
  while (out->n < cap) {
    if (*p != '"') return -1;
    char *key = table_json_string(&p);
    if (!key) return -1;
    p = table_skip_space(p);
    if (*p++ != ':') {
      free(key);
      return -1;
    }
    p = table_skip_space(p);
    char *value = *p == '"' ? table_json_string(&p) : table_json_scalar(&p);
    out->keys[out->n] = key;
    out->values[out->n] = value;
    out->n++;
    if (!value) return -1;
    p = table_skip_space(p);
    if (*p == '}') return 0;
    if (*p++ != ',') return -1;
    p = table_skip_space(p);
  }
  return -1;
}

/* Whether no key other than keys[self] ends in `suffix` at a dot boundary. */
static bool table_suffix_unique(char **keys, int n, int self, const char *suffix) {
  size_t ls = strlen(suffix);
  for (int j = 0; j < n; j++) {
    size_t lk = strlen(keys[j]);
    if (j == self || lk < ls || strcmp(keys[j] + lk - ls, suffix) != 0) continue;
    if (lk == ls || keys[j][lk - ls - 1] == '.') return false;
  }
  return true;
}

/* The shortest dotted tail of keys[i] that no other key shares: "optim.lr" shows as "lr",
 * while "model.layers.0.units" and "model.layers.1.units" stay "0.units" and "1.units". */
static const char *table_short_key(char **keys, int n, int i) {
  const char *key = keys[i];
  for (const char *p = key + strlen(key); p > key; p--)
    if (p[-1] == '.' && *p && table_suffix_unique(keys, n, i, p)) return p;
  return key;
}

static void table_format_params(const char *json, char *out, size_t cap) {
  table_cell cell;
  table_cell_init(&cell, out, cap);
  table_params params = {0};
  if (!json || table_params_parse(json, &params) != 0) {
    table_cell_add(&cell, json ? json : "-");
  } else {
    for (int i = 0; i < params.n; i++) {
      char value[TABLE_VALUE_WIDTH + 1];
      table_cell v;
      table_cell_init(&v, value, sizeof value);
      table_cell_add(&v, params.values[i]);
      if (i > 0) table_cell_add(&cell, " ");
      table_cell_add(&cell, table_short_key(params.keys, params.n, i));
      table_cell_add(&cell, "=");
      table_cell_add(&cell, value);
    }
  }
  table_params_free(&params);
}

/* ---- time ---- */

/* Seconds since 1970 of "YYYY-MM-DDTHH:MM:SS[Z]" (UTC), or -1. timegm is not POSIX, so the
 * civil date is counted here (days_from_civil, H. Hinnant). */
static long long table_parse_time(const char *iso) {
  int y, mo, d, h, mi, s;
  if (!iso || sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s) != 6) return -1;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return -1;
  y -= mo <= 2;
  long long era = (y >= 0 ? y : y - 399) / 400;
  long long yoe = y - era * 400;
  long long doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  long long days = era * 146097 + doe - 719468;
  return days * 86400 + h * 3600 + mi * 60 + s;
}

/* "42s", "4m12s", "1h02m", "2d03h"; "-" when unknown. */
static void table_format_duration(long long seconds, char *out, size_t cap) {
  if (seconds < 0) snprintf(out, cap, "-");
  else if (seconds < 60) snprintf(out, cap, "%llds", seconds);
  else if (seconds < 3600) snprintf(out, cap, "%lldm%02llds", seconds / 60, seconds % 60);
  else if (seconds < 86400) snprintf(out, cap, "%lldh%02lldm", seconds / 3600, seconds / 60 % 60);
  else snprintf(out, cap, "%lldd%02lldh", seconds / 86400, seconds / 3600 % 24);
}

/* Time taken: start to end, or start to now while running. */
static long long table_trial_seconds(const ddpc_tune_trial *t, long long now) {
  long long start = table_parse_time(t->started_at);
  long long end = t->ended_at ? table_parse_time(t->ended_at) : t->state == DDPC_TUNE_TRIAL_RUNNING ? now : -1;
  return start < 0 || end < start ? -1 : end - start;
}

/* ---- the table ---- */

/* The best trial in state `state` with a value, or -1. */
static int table_best_in_state(const ddpc_tune_trial *trials, int n, bool maximize, ddpc_tune_trial_state state) {
  int best = -1;
  for (int i = 0; i < n; i++) {
    const ddpc_tune_trial *t = &trials[i];
    if (t->state != state || !t->has_value || isnan(t->value)) continue;
    if (best < 0) {
      best = i;
      continue;
    }
    const ddpc_tune_trial *b = &trials[best];
    bool better = maximize ? t->value > b->value : t->value < b->value;
    if (better || (t->value == b->value && t->number < b->number)) best = i;
  }
  return best;
}

int ddpc_tune_table_best(const ddpc_tune_trial *trials, int n, bool maximize) {
  // As Optuna's best_trial: a pruned trial stopped early on the scheduler's word, and its
  // value (its best epoch of a few) does not compete with complete runs; it stands in only
  // while no trial has completed (an interrupted study), and is then marked so.
  int best = table_best_in_state(trials, n, maximize, DDPC_TUNE_TRIAL_COMPLETE);
  return best >= 0 ? best : table_best_in_state(trials, n, maximize, DDPC_TUNE_TRIAL_PRUNED);
}

/* The metric a row shows: the final value, else the newest epoch's while running. */
static bool table_row_value(const ddpc_tune_trial *t, double *value) {
  if (t->has_value && !isnan(t->value)) *value = t->value;
  else if (t->has_latest && !isnan(t->latest)) *value = t->latest;
  else return false;
  return true;
}

typedef struct {
  char number[16];                        // the trial number
  char metric[32];                        // the value shown, or "-"
  char epochs[16];                        // epochs done
  char time[32];                          // time taken
  char params[TABLE_PARAMS_WIDTH + 1];    // parameters in short
  char note[TABLE_NOTE_WIDTH + 1];        // why FAIL or PRUNED, or ""
} table_row;

static void table_fill_row(table_row *r, const ddpc_tune_trial *t, long long now) {
  double value;
  snprintf(r->number, sizeof r->number, "%d", t->number);
  if (table_row_value(t, &value)) snprintf(r->metric, sizeof r->metric, "%.6g", value);
  else snprintf(r->metric, sizeof r->metric, "-");
  snprintf(r->epochs, sizeof r->epochs, "%d", t->epochs_done);
  table_format_duration(table_trial_seconds(t, now), r->time, sizeof r->time);
  table_format_params(t->params_json, r->params, sizeof r->params);
  table_cell note;
  table_cell_init(&note, r->note, sizeof r->note);
  if (t->reason && (t->state == DDPC_TUNE_TRIAL_FAIL || t->state == DDPC_TUNE_TRIAL_PRUNED))
    table_cell_add(&note, t->reason);
}

static int table_width(int current, const char *cell) {
  int w = (int)strlen(cell);
  return w > current ? w : current;
}

/* "best: trial N metric=V" or why there is none, without the newline. */
static void table_print_best(FILE *f, const ddpc_tune_trial *trials, int n, const char *metric, bool maximize) {
  int best = ddpc_tune_table_best(trials, n, maximize);
  if (best < 0) fprintf(f, "best: none yet (no finished trial has a value of %s)", metric);
  else if (trials[best].state == DDPC_TUNE_TRIAL_PRUNED)
    fprintf(f, "best so far: trial %d %s=%.6g (pruned at epoch %d; no trial has completed yet)", trials[best].number,
            metric, trials[best].value, trials[best].epochs_done);
  else fprintf(f, "best: trial %d %s=%.6g", trials[best].number, metric, trials[best].value);
}

void ddpc_tune_table_print(FILE *f, const ddpc_tune_trial *trials, int n, const char *metric, bool maximize) {
  table_row *rows = n > 0 ? ddpc_calloc((size_t)n, sizeof *rows, "trials table") : NULL;
  if (n > 0 && !rows) {
    fprintf(f, "(out of memory for the table of %d trials)\n", n);
    return;
  }
  char metric_header[64];
  snprintf(metric_header, sizeof metric_header, "%s (%s)", metric, maximize ? "max" : "min");
  int w_number = 1, w_state = 5, w_metric = (int)strlen(metric_header), w_epochs = 6, w_time = 4, w_params = 6;
  bool any_note = false;
  long long now = (long long)time(NULL);
  for (int i = 0; i < n; i++) {
    table_fill_row(&rows[i], &trials[i], now);
    w_number = table_width(w_number, rows[i].number);
    w_state = table_width(w_state, ddpc_tune_trial_state_name(trials[i].state));
    w_metric = table_width(w_metric, rows[i].metric);
    w_time = table_width(w_time, rows[i].time);
    w_params = table_width(w_params, rows[i].params);
    any_note = any_note || rows[i].note[0];
  }
  int best = ddpc_tune_table_best(trials, n, maximize);
  // Numbers right-aligned, text left-aligned; the last column is not padded.
  fprintf(f, "  %*s  %-*s  %*s  %*s  %*s  %-*s%s\n", w_number, "#", w_state, "state", w_metric, metric_header,
          w_epochs, "epochs", w_time, "time", any_note ? w_params : 0, "params", any_note ? "  note" : "");
  for (int i = 0; i < n; i++) {
    const table_row *r = &rows[i];
    fprintf(f, "%c %*s  %-*s  %*s  %*s  %*s  %-*s%s%s\n", i == best ? '*' : ' ', w_number, r->number, w_state,
            ddpc_tune_trial_state_name(trials[i].state), w_metric, r->metric, w_epochs, r->epochs, w_time, r->time,
            r->note[0] ? w_params : 0, r->params, r->note[0] ? "  " : "", r->note);
  }
  free(rows);
  table_print_best(f, trials, n, metric, maximize);
  fputc('\n', f);
}

void ddpc_tune_table_print_summary(FILE *f, const ddpc_tune_trial *trials, int n, const char *metric,
                                   bool maximize) {
  int count[DDPC_TUNE_TRIAL_FAIL + 1] = {0};
  for (int i = 0; i < n; i++)
    if ((unsigned)trials[i].state <= DDPC_TUNE_TRIAL_FAIL) count[trials[i].state]++;
  fprintf(f, "trials: %d (%d running, %d complete, %d pruned, %d failed); ", n, count[DDPC_TUNE_TRIAL_RUNNING],
          count[DDPC_TUNE_TRIAL_COMPLETE], count[DDPC_TUNE_TRIAL_PRUNED], count[DDPC_TUNE_TRIAL_FAIL]);
  table_print_best(f, trials, n, metric, maximize);
  fputc('\n', f);
}

void ddpc_tune_live_erase(ddpc_tune_live_view *v, FILE *f) {
  if (v->lines > 0) fprintf(f, "\033[%dA\033[J", v->lines);
  v->lines = 0;
  fflush(f);
}

void ddpc_tune_live_draw(ddpc_tune_live_view *v, FILE *f, const ddpc_tune_trial *trials, int n, const char *metric,
                         bool maximize) {
  char *text = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&text, &len);
  if (!m) return;
  ddpc_tune_table_print(m, trials, n, metric, maximize);
  ddpc_tune_table_print_summary(m, trials, n, metric, maximize);
  fclose(m);
  ddpc_tune_live_erase(v, f);
  // One write for the whole table, so the terminal never shows half of it.
  fputs(text, f);
  fflush(f);
  for (size_t i = 0; i < len; i++) v->lines += text[i] == '\n';
  v->drawn_at = ddpc_time_seconds();
  free(text);
}
