/* `ddpc tune`: the command line of the tuner — a new study, `--resume` of one whose tuner
 * stopped or died, `--status` of one at any time. The study loop is tune/tune_run.c. */
// realpath() is XSI, beyond the POSIX level the build asks for.
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "launch/cli/cli.h"
#include "launch/groups/groups.h"
#include "launch/jobs/launcher.h"
#include "tune/tune_run.h"
#include "tune/tune_store.h"
#include "tune/tune_study.h"
#include "tune/tune_table.h"

/* Settings the store keeps so that --resume runs the same study. */
#define TUNE_SETTING_STUDY_FILE "study_file"
#define TUNE_SETTING_OVERRIDES "overrides"
#define TUNE_SETTING_METRIC "metric"
#define TUNE_SETTING_MODE "mode"

static void cli_tune_usage(FILE *out) {
  fputs("usage: ddpc tune STUDY.yaml [--parallelism P] [--ranks-per-trial R] [--max-trials M]\n"
        "                  [--study-dir DIR] [--set key=value]... [--quiet]\n"
        "       ddpc tune --resume STUDY_DIR [--parallelism P] [--max-trials M] [--quiet]\n"
        "       ddpc tune --status STUDY_DIR\n"
        "\n"
        "Runs many training jobs (trials) with hyperparameters from tune.space, P at a time,\n"
        "each `mpirun -n R ddpc train BASE --set k=v ... --run-dir STUDY_DIR/trials/NNNN`,\n"
        "or with tune.backend slurm a batch job running `srun ddpc train ...` (at most P in\n"
        "the queue).\n"
        "The next trial starts as soon as one ends; its parameters come from tune.algorithm\n"
        "(random, grid, or tpe as in hyperopt) given the results so far; with\n"
        "tune.scheduler asha, trials below the top 1/eta at a rung are pruned (checkpoint,\n"
        "state pruned). Everything is kept in STUDY_DIR/study.db (SQLite); at the end the\n"
        "table of trials, the best one and STUDY_DIR/best.yaml, ready for `ddpc train`.\n"
        "A grouped base config (data.group_by): each trial trains every group with its\n"
        "values, scored by the rows-weighted mean of the groups' best tune.metric\n"
        "(tune.per_group false, the default; fifo only), or with tune.per_group true one\n"
        "study per group in STUDY_DIR/groups/<group>/, each with its own best.yaml.\n"
        "\n"
        "options:\n"
        "  --parallelism P       trials at once (tune.parallelism)\n"
        "  --ranks-per-trial R   ranks of each trial (tune.ranks_per_trial)\n"
        "  --max-trials M        trials in all (tune.max_trials)\n"
        "  --study-dir DIR       where the study goes (default runs/<study file name>)\n"
        "  --set key=value       tune.KEY=V overrides the study file; any other key is set in\n"
        "                        every trial's training config (repeatable)\n"
        "  --resume              continue the study in STUDY_DIR: finished trials are kept,\n"
        "                        interrupted ones continue from their checkpoints\n"
        "  --status              print the table of all trials of STUDY_DIR and exit\n"
        "  --quiet               no progress lines\n"
        "  -h, --help            show this help\n"
        "\n"
        "SIGINT or SIGTERM: running trials checkpoint and stop, and the tuner exits with 5;\n"
        "--resume continues. Slurm trial jobs outlive a killed tuner; --resume follows them.\n"
        "\n"
        "exit codes: 0 the study finished (failed trials are recorded, not fatal), 1 it could\n"
        "not run (bad study file: one message naming file:line; store or I/O errors),\n"
        "2 bad command line, 5 interrupted (--resume continues), 127 mpirun (backend local)\n"
        "or sbatch (backend slurm) not found.\n",
        out);
}

/* Parsed command line; strings point into argv. */
typedef struct {
  const char *target;       // STUDY.yaml, or STUDY_DIR with --resume/--status
  const char *study_dir;    // --study-dir
  bool resume;              // --resume
  bool status;              // --status
  bool quiet;               // --quiet
  const char **overrides;   // --set values and the flags as tune.* overrides (malloc'd texts below)
  int n_overrides;          // how many
  char **owned;             // the flag overrides' texts
  int n_owned;              // how many
} cli_tune_args;

/* --parallelism, --ranks-per-trial, --max-trials: a whole number >= 1 that becomes the
 * override tune.KEY=V (KEY: the option's name without "--", '-' as '_'), in its place
 * among the --set values, so that the later of the two wins. */
static int cli_tune_flag_override(const char *cmd, const ddpc_cli_option *option, const char *v) {
  cli_tune_args *a = option->dest;
  if (ddpc_cli_parse_count(cmd, option->name, v, option->min) < 0) return DDPC_EXIT_USAGE;
  char *o = ddpc_format("tune.%s=%s", option->name + 2, v);
  if (!o) return DDPC_EXIT_FAILED;
  for (char *c = o + strlen("tune."); *c != '='; c++)
    if (*c == '-') *c = '_';
  a->owned[a->n_owned++] = o;
  a->overrides[a->n_overrides++] = o;
  return -1;
}

/* --set: key=value, kept in order with the flags' overrides. */
static int cli_tune_set(const char *cmd, const ddpc_cli_option *option, const char *v) {
  cli_tune_args *a = option->dest;
  if (!strchr(v, '=')) {
    fprintf(stderr, "ddpc %s: %s wants key=value, got '%s'\n", cmd, option->name, v);
    return DDPC_EXIT_USAGE;
  }
  a->overrides[a->n_overrides++] = v;
  return -1;
}

/* Returns -1 to go on, or the exit code. */
static int cli_tune_parse(int argc, char **argv, cli_tune_args *a) {
  const ddpc_cli_option options[] = {
      DDPC_CLI_OPT_CALL("--parallelism", cli_tune_flag_override, a, 1),
      DDPC_CLI_OPT_CALL("--ranks-per-trial", cli_tune_flag_override, a, 1),
      DDPC_CLI_OPT_CALL("--max-trials", cli_tune_flag_override, a, 1),
      DDPC_CLI_OPT_STRING("--study-dir", &a->study_dir),
      DDPC_CLI_OPT_CALL("--set", cli_tune_set, a, 0),
      DDPC_CLI_OPT_FLAG("--resume", &a->resume),
      DDPC_CLI_OPT_FLAG("--status", &a->status),
      DDPC_CLI_OPT_FLAG("--quiet", &a->quiet),
  };
  // The positional argument is STUDY.yaml or STUDY_DIR, as --resume and --status say.
  const ddpc_cli_command c = {"tune", cli_tune_usage, options, sizeof options / sizeof options[0], NULL, &a->target,
                              false};
  int rc = ddpc_cli_parse(&c, argc, argv);
  if (rc >= 0) return rc;
  if (!a->target) {
    fputs(a->resume || a->status ? "ddpc tune: missing STUDY_DIR (see ddpc tune --help)\n"
                                 : "ddpc tune: missing STUDY.yaml (see ddpc tune --help)\n",
          stderr);
    return DDPC_EXIT_USAGE;
  }
  if (a->resume && a->status) {
    fputs("ddpc tune: --resume and --status exclude each other\n", stderr);
    return DDPC_EXIT_USAGE;
  }
  if ((a->resume || a->status) && a->study_dir) {
    fputs("ddpc tune: with --resume or --status the study directory is the argument; drop --study-dir\n", stderr);
    return DDPC_EXIT_USAGE;
  }
  return -1;
}

/* runs/<study file name without folder and extension>. */
static char *cli_tune_default_dir(const char *study_path) {
  const char *base = strrchr(study_path, '/');
  base = base ? base + 1 : study_path;
  const char *dot = strrchr(base, '.');
  int len = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
  return ddpc_format("runs/%.*s", len, base);
}

static bool cli_tune_has_store(const char *dir) {
  char *path = ddpc_format("%s/study.db", dir);
  bool exists = path && access(path, F_OK) == 0;
  free(path);
  return exists;
}

static int cli_tune_status(const char *dir);

/* `--status` of a study tuned per group (tune.per_group true): each group's table, from
 * STUDY_DIR/groups/<dir>/study.db, in name order. Returns -1 when dir is not such a study. */
static int cli_tune_status_groups(const char *dir) {
  char *groups = ddpc_format("%s/groups", dir);
  struct dirent **names = NULL;
  int n = groups ? scandir(groups, &names, NULL, alphasort) : -1;
  int code = n < 0 ? -1 : DDPC_EXIT_OK, shown = 0;
  for (int i = 0; i < n; i++) {
    char *sub = names[i]->d_name[0] != '.' ? ddpc_format("%s/%s", groups, names[i]->d_name) : NULL;
    if (sub && cli_tune_has_store(sub)) {
      printf("%sgroup study %s\n", shown++ ? "\n" : "", sub);
      fflush(stdout);
      if (cli_tune_status(sub) != DDPC_EXIT_OK) code = DDPC_EXIT_FAILED;
    }
    free(sub);
    free(names[i]);
  }
  free(names);
  free(groups);
  return shown ? code : -1;
}

/* `--status`: the table from the store, read-only (the tuner may be running). */
static int cli_tune_status(const char *dir) {
  char *path = ddpc_format("%s/study.db", dir);
  ddpc_tune_store *store = NULL;
  if (!path || !cli_tune_has_store(dir)) {
    fprintf(stderr, "ddpc tune: %s: no study here (no study.db)\n", dir);
    free(path);
    return DDPC_EXIT_FAILED;
  }
  char *metric = NULL, *mode = NULL;
  ddpc_tune_trial *trials = NULL;
  int n = 0;
  int rc = ddpc_tune_store_open_readonly(path, &store);
  if (rc == 0) rc = ddpc_tune_store_get_setting(store, TUNE_SETTING_METRIC, &metric);
  if (rc == 0) rc = ddpc_tune_store_get_setting(store, TUNE_SETTING_MODE, &mode);
  if (rc == 0) rc = ddpc_tune_store_load_trials(store, &trials, &n);
  int grouped = rc == 0 && n == 0 ? cli_tune_status_groups(dir) : -1;
  if (grouped >= 0) rc = grouped == DDPC_EXIT_OK ? 0 : -1;
  else if (rc == 0) ddpc_tune_table_print(stdout, trials, n, metric ? metric : "?", mode && strcmp(mode, "max") == 0);
  else if (grouped < 0) fprintf(stderr, "ddpc tune: error: %s\n", ddpc_error_message());
  for (int i = 0; i < n; i++) ddpc_tune_trial_free(&trials[i]);
  free(trials);
  free(metric);
  free(mode);
  ddpc_tune_store_close(store);
  free(path);
  return rc == 0 ? DDPC_EXIT_OK : DDPC_EXIT_FAILED;
}

/* Takes STUDY_DIR/tuner.lock for as long as this process lives (released by the kernel
 * even after kill -9): the store has one writer. Returns the descriptor, or -1 after a
 * message when another tuner holds the study. */
static int cli_tune_lock(const char *dir) {
  char *path = ddpc_format("%s/tuner.lock", dir);
  int fd = path ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
  struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  if (fd < 0) {
    fprintf(stderr, "ddpc tune: %s: cannot open: %s\n", path ? path : dir, strerror(errno));
  } else if (fcntl(fd, F_SETLK, &lock) != 0) {
    fprintf(stderr, "ddpc tune: another ddpc tune is running the study in %s (it holds %s)\n", dir, path);
    close(fd);
    fd = -1;
  }
  free(path);
  return fd;
}

/* The overrides of a new study joined by newlines, for the store. */
static char *cli_tune_join(const char *const *items, int n) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return NULL;
  for (int i = 0; i < n; i++) fprintf(f, "%s%s", i ? "\n" : "", items[i]);
  fclose(f);
  return text;
}

/* Records (new study) or reads back (resume) what makes the study the same one. With
 * --resume the stored overrides come first, the command line's after them. */
static int cli_tune_settings(ddpc_tune_store *store, cli_tune_args *a, char **study_file, char ***all, int *n_all) {
  if (!a->resume) {
    char *joined = cli_tune_join(a->overrides, a->n_overrides);
    int rc = joined ? 0 : -1;
    if (rc == 0) rc = ddpc_tune_store_set_setting(store, TUNE_SETTING_STUDY_FILE, *study_file);
    if (rc == 0) rc = ddpc_tune_store_set_setting(store, TUNE_SETTING_OVERRIDES, joined);
    free(joined);
    *all = NULL;
    *n_all = 0;
    return rc;
  }
  char *joined = NULL;
  if (ddpc_tune_store_get_setting(store, TUNE_SETTING_STUDY_FILE, study_file) != 0 ||
      ddpc_tune_store_get_setting(store, TUNE_SETTING_OVERRIDES, &joined) != 0)
    return -1;
  if (!*study_file) return ddpc_error_set("%s: the store does not name its study file", a->target);
  int n = a->n_overrides + 1;
  for (const char *p = joined ? joined : ""; *p; p++) n += *p == '\n';
  char **list = ddpc_calloc((size_t)n + 1, sizeof *list, "overrides");
  int k = 0;
  for (char *p = joined; list && p && *p;) {
    char *nl = strchr(p, '\n');
    list[k++] = nl ? ddpc_format("%.*s", (int)(nl - p), p) : ddpc_strdup(p);
    p = nl ? nl + 1 : NULL;
  }
  for (int i = 0; list && i < a->n_overrides; i++) list[k++] = ddpc_strdup(a->overrides[i]);
  free(joined);
  *all = list;
  *n_all = k;
  return list ? 0 : -1;
}

/* Whether the program that starts the study's trials is on PATH; says which one is not. */
static bool cli_tune_has_launcher(const ddpc_tune_study *st, const char *mpirun, const char *sbatch) {
  if (st->backend == DDPC_TUNE_BACKEND_SLURM && !sbatch) {
    fputs("ddpc tune: tune.backend slurm: sbatch not found on PATH (is Slurm's client installed?)\n", stderr);
    return false;
  }
  if (st->backend == DDPC_TUNE_BACKEND_LOCAL && !mpirun) {
    fputs("ddpc tune: mpirun not found on PATH (install Open MPI: apt-get install openmpi-bin)\n", stderr);
    return false;
  }
  return true;
}

static int cli_tune_run(cli_tune_args *a);

/* One group's line of a study tuned per group: its best trial from its own store. */
typedef struct {
  const ddpc_groups_split *g;  // the groups
  char **study_dirs;           // each group's study directory
  const char *metric;          // tune.metric
  bool maximize;               // tune.mode
} cli_tune_groups_summary;

/* The best value of the study in dir (NaN: none), from its store. */
static double cli_tune_best_value(const char *dir, bool maximize) {
  char *path = ddpc_format("%s/study.db", dir);
  ddpc_tune_store *store = NULL;
  ddpc_tune_trial *trials = NULL;
  int n = 0;
  double best = NAN;
  if (path && ddpc_tune_store_open_readonly(path, &store) == 0 && ddpc_tune_store_load_trials(store, &trials, &n) == 0) {
    int b = ddpc_tune_table_best(trials, n, maximize);
    if (b >= 0 && trials[b].has_value) best = trials[b].value;
  }
  if (trials) ddpc_tune_trials_free(trials, n);
  ddpc_tune_store_close(store);
  free(path);
  return best;
}

static int cli_tune_groups_json(FILE *out, void *user) {
  const cli_tune_groups_summary *s = user;
  ddpc_json j;
  ddpc_json_begin(&j, out);
  ddpc_json_string(&j, "metric", s->metric);
  ddpc_json_string(&j, "mode", s->maximize ? "max" : "min");
  ddpc_json_int(&j, "groups_skipped", s->g->skipped);
  ddpc_json_begin_array(&j, "groups");
  for (int i = 0; i < s->g->count; i++) {
    fputc('\n', out);
    ddpc_json_begin_object(&j, NULL);
    ddpc_json_string(&j, "value", s->g->values[i]);
    ddpc_json_string(&j, "study_dir", s->study_dirs[i]);
    ddpc_json_number(&j, "best_value", cli_tune_best_value(s->study_dirs[i], s->maximize));
    char *best = ddpc_format("%s/best.yaml", s->study_dirs[i]);
    if (best && access(best, F_OK) == 0) ddpc_json_string(&j, "best_yaml", best);
    free(best);
    ddpc_json_end_object(&j);
  }
  ddpc_json_end(&j);
  fputc('\n', out);
  return 0;
}

/* tune.per_group true: the data split by group into DIR/groups/<dir>/ (as a grouped run
 * splits it), then one ordinary study per group in that folder, one after another, each with
 * the study's full parallelism, its base config the group's own CSV (data.group_by unset),
 * its own store, table and best.yaml; a group's study already there is resumed. At the end
 * DIR/summary.json and a line per group: its best value and best.yaml. `overrides` are the
 * study's (stored and command line). */
static int cli_tune_per_group(const cli_tune_args *a, const ddpc_tune_study *st, const char *study_file,
                              const char *const *overrides, int n_overrides, const char *dir) {
  ddpc_config cfg;
  ddpc_groups_split g;
  memset(&g, 0, sizeof g);
  char *abs_dir = realpath(dir, NULL);
  if (!abs_dir || ddpc_config_load(st->base_path, (const char *const *)st->trial_overrides, st->n_trial_overrides,
                                   &cfg) != 0) {
    fprintf(stderr, "ddpc tune: error: %s\n", abs_dir ? ddpc_error_message() : strerror(errno));
    free(abs_dir);
    return DDPC_EXIT_FAILED;
  }
  int rc = ddpc_groups_split_for_tuning(&cfg, abs_dir, &g);
  ddpc_config_free(&cfg);
  if (rc != 0) {
    fprintf(stderr, "ddpc tune: error: %s\n", ddpc_error_message());
    free(abs_dir);
    return DDPC_EXIT_FAILED;
  }
  if (!a->quiet)
    printf("groups: %d to tune, one study each in %s/groups/ (%d too small, see %s/groups.json)\n", g.count, abs_dir,
           g.skipped, abs_dir);
  char **study_dirs = ddpc_calloc((size_t)g.count + 1, sizeof *study_dirs, "group studies");
  const char **list = ddpc_calloc((size_t)n_overrides + (size_t)a->n_overrides + 5, sizeof *list, "overrides");
  int code = study_dirs && list ? DDPC_EXIT_OK : DDPC_EXIT_FAILED;
  for (int i = 0; code != DDPC_EXIT_FAILED && code != DDPC_EXIT_PREEMPTED && i < g.count; i++) {
    char *gdir = study_dirs[i] = ddpc_format("%s/groups/%s", abs_dir, g.dirs[i]);
    char *train = ddpc_format("data.train.path=%s/train.csv", gdir);
    char *test = g.has_test ? ddpc_format("data.test.path=%s/test.csv", gdir) : NULL;
    if (!gdir || !train || (g.has_test && !test)) {
      code = DDPC_EXIT_FAILED;
    } else {
      cli_tune_args ga = *a;
      ga.resume = cli_tune_has_store(gdir);
      int n = 0;
      if (ga.resume) {  // the group's store has its own overrides; the command line's go after them
        for (int k = 0; k < a->n_overrides; k++) list[n++] = a->overrides[k];
        ga.target = gdir;
        ga.study_dir = NULL;
      } else {
        for (int k = 0; k < n_overrides; k++) list[n++] = overrides[k];
        list[n++] = "tune.per_group=false";
        list[n++] = "data.group_by=";
        list[n++] = train;
        if (test) list[n++] = test;
        ga.target = study_file;
        ga.study_dir = gdir;
      }
      ga.overrides = list;
      ga.n_overrides = n;
      if (!a->quiet) {
        printf("group %s: %s %s\n", g.values[i], ga.resume ? "resuming its study in" : "study in", gdir);
        fflush(stdout);
      }
      int c = cli_tune_run(&ga);
      if (c != DDPC_EXIT_OK) code = c;
    }
    free(train);
    free(test);
  }
  if (code == DDPC_EXIT_OK) {
    cli_tune_groups_summary s = {&g, study_dirs, st->metric, st->maximize};
    char *path = ddpc_format("%s/summary.json", abs_dir);
    if (!path || ddpc_fs_write_atomic(path, cli_tune_groups_json, &s) != 0) {
      fprintf(stderr, "ddpc tune: error: %s\n", ddpc_error_message());
      code = DDPC_EXIT_FAILED;
    }
    for (int i = 0; code == DDPC_EXIT_OK && i < g.count; i++)
      printf("group %-16s best %s %-12.6g ddpc train %s/best.yaml\n", g.values[i], st->metric,
             cli_tune_best_value(study_dirs[i], st->maximize), study_dirs[i]);
    if (code == DDPC_EXIT_OK) printf("per group: %s\n", path);
    free(path);
  }
  for (int i = 0; study_dirs && i < g.count; i++) free(study_dirs[i]);
  free(study_dirs);
  free(list);
  ddpc_groups_split_free(&g);
  free(abs_dir);
  return code;
}

static int cli_tune_run(cli_tune_args *a) {
  char *dir = a->resume ? ddpc_strdup(a->target) : a->study_dir ? ddpc_strdup(a->study_dir) : cli_tune_default_dir(a->target);
  char *mpirun = ddpc_launch_find_program("mpirun");
  char *sbatch = ddpc_launch_find_program("sbatch");
  char *self = ddpc_cli_self_exe();
  char *study_file = a->resume ? NULL : realpath(a->target, NULL);
  char **resumed = NULL;
  int n_resumed = 0, code = DDPC_EXIT_FAILED, lock_fd = -1;
  ddpc_tune_store *store = NULL;
  ddpc_tune_study study;
  memset(&study, 0, sizeof study);
  if (!dir || !self) {
    fprintf(stderr, "ddpc tune: error: %s\n", ddpc_error_message());
  } else if (!a->resume && !study_file) {
    fprintf(stderr, "ddpc tune: %s: cannot open: %s\n", a->target, strerror(errno));
  } else if (a->resume && !cli_tune_has_store(dir)) {
    fprintf(stderr, "ddpc tune: %s: no study to resume here (no study.db)\n", dir);
  } else if (!a->resume && cli_tune_has_store(dir)) {
    fprintf(stderr, "ddpc tune: %s already holds a study: continue it with --resume %s, or pick another --study-dir\n",
            dir, dir);
  } else if (ddpc_fs_mkdirs(dir, 0755) != 0) {
    fprintf(stderr, "ddpc tune: error: %s\n", ddpc_error_message());
  } else if ((lock_fd = cli_tune_lock(dir)) >= 0) {
    char *db = ddpc_format("%s/study.db", dir);
    int rc = db ? 0 : -1;
    bool runnable = true;
    // The study file is checked before the store exists: a bad one, or one whose backend
    // cannot start its trials here, leaves nothing behind.
    if (rc == 0 && !a->resume) rc = ddpc_tune_study_load(study_file, a->overrides, a->n_overrides, dir, &study);
    if (rc == 0 && !a->resume) runnable = cli_tune_has_launcher(&study, mpirun, sbatch);
    if (rc == 0 && runnable) rc = ddpc_tune_store_open(db, &store);
    if (rc == 0 && runnable) rc = cli_tune_settings(store, a, &study_file, &resumed, &n_resumed);
    if (rc == 0 && runnable && a->resume) {
      rc = ddpc_tune_study_load(study_file, (const char *const *)resumed, n_resumed, dir, &study);
      if (rc == 0) runnable = cli_tune_has_launcher(&study, mpirun, sbatch);
    }
    if (rc == 0 && runnable) rc = ddpc_tune_store_set_setting(store, TUNE_SETTING_METRIC, study.metric);
    if (rc == 0 && runnable) rc = ddpc_tune_store_set_setting(store, TUNE_SETTING_MODE, study.maximize ? "max" : "min");
    ddpc_tune_store_close(store);
    free(db);
    if (rc != 0) {
      fprintf(stderr, "ddpc tune: error: %s\n", ddpc_error_message());
    } else if (!runnable) {
      code = 127;
    } else {
      ddpc_tune_run_options opt = {dir, mpirun, self, a->resume, a->quiet};
      code = study.per_group && study.grouped
                 ? cli_tune_per_group(a, &study, study_file, a->resume ? (const char *const *)resumed : a->overrides,
                                      a->resume ? n_resumed : a->n_overrides, dir)
                 : ddpc_tune_run(&study, &opt);
    }
  }
  if (lock_fd >= 0) close(lock_fd);
  ddpc_tune_study_free(&study);
  for (int i = 0; i < n_resumed; i++) free(resumed[i]);
  free(resumed);
  free(study_file);
  free(dir);
  free(mpirun);
  free(sbatch);
  free(self);
  return code;
}

int ddpc_cli_tune(int argc, char **argv) {
  cli_tune_args a;
  memset(&a, 0, sizeof a);
  a.overrides = calloc((size_t)argc + 1, sizeof *a.overrides);
  a.owned = calloc((size_t)argc + 1, sizeof *a.owned);
  int code = a.overrides && a.owned ? cli_tune_parse(argc, argv, &a) : DDPC_EXIT_FAILED;
  if (code < 0) code = a.status ? cli_tune_status(a.target) : cli_tune_run(&a);
  for (int i = 0; i < a.n_owned; i++) free(a.owned[i]);
  free(a.owned);
  free(a.overrides);
  return code;
}
