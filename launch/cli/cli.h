/* Subcommands of the `ddpc` command. Each subcommand parses its own arguments (argv[0] is
 * the subcommand name) and returns an exit code (core/exit_code.h). */
#ifndef DDPC_LAUNCH_CLI_H
#define DDPC_LAUNCH_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "core/exit_code.h"

int ddpc_cli_train(int argc, char **argv);
int ddpc_cli_resume(int argc, char **argv);
int ddpc_cli_inspect(int argc, char **argv);
int ddpc_cli_graph(int argc, char **argv);
int ddpc_cli_submit(int argc, char **argv);
int ddpc_cli_launch(int argc, char **argv);
int ddpc_cli_tune(int argc, char **argv);
int ddpc_cli_predict(int argc, char **argv);
int ddpc_cli_export(int argc, char **argv);
int ddpc_cli_mlflow(int argc, char **argv);
int ddpc_cli_split(int argc, char **argv);

/* When the model comes from a run directory whose summary.json says the run was rejected at
 * review, says so on stderr ("CMD: note: ..."); its model is used all the same, as asked
 * (a grouped predict leaves rejected groups out instead: nobody named them). */
void ddpc_cli_note_rejected(const char *cmd, const char *run_dir);

/* Shared argument parsing (cli_args.c): each subcommand describes its options in a table
 * and ddpc_cli_parse walks argv once. Options take "--name value" or "--name=value"; -h
 * and --help print the usage; anything else starting with '-' is an unknown option; the
 * rest is the one positional argument. Every message starts "ddpc CMD: ". */
typedef enum {
  DDPC_CLI_FLAG,        // no value: *(bool *)dest = true
  DDPC_CLI_STRING,      // *(const char **)dest = the value (the last one given wins)
  DDPC_CLI_COUNT,       // *(int *)dest = a whole number >= min
  DDPC_CLI_SECONDS,     // *(double *)dest = seconds >= 0
  DDPC_CLI_REPEATABLE,  // appended to (const char **)dest, argc slots, *count entries so far
  DDPC_CLI_CALL,        // handed to call(), which checks and keeps it itself
} ddpc_cli_kind;

typedef struct ddpc_cli_option ddpc_cli_option;
struct ddpc_cli_option {
  const char *name;    // as typed: "--nodes", "-n"
  ddpc_cli_kind kind;  // what it takes and where it goes
  void *dest;          // where the value goes (see the kinds); CALL: call's own
  int *count;          // REPEATABLE: how many entries dest holds
  int min;             // COUNT: the smallest number taken
  /* CALL: takes the value; returns -1 to go on, or an exit code after its own message. */
  int (*call)(const char *cmd, const ddpc_cli_option *option, const char *value);
};

/* Table entries: DDPC_CLI_OPT_COUNT("-n", &ranks, 1) and so on. */
#define DDPC_CLI_OPT_FLAG(n, d) {.name = (n), .kind = DDPC_CLI_FLAG, .dest = (d)}
#define DDPC_CLI_OPT_STRING(n, d) {.name = (n), .kind = DDPC_CLI_STRING, .dest = (d)}
#define DDPC_CLI_OPT_COUNT(n, d, m) {.name = (n), .kind = DDPC_CLI_COUNT, .dest = (d), .min = (m)}
#define DDPC_CLI_OPT_SECONDS(n, d) {.name = (n), .kind = DDPC_CLI_SECONDS, .dest = (d)}
#define DDPC_CLI_OPT_REPEATABLE(n, d, c) {.name = (n), .kind = DDPC_CLI_REPEATABLE, .dest = (d), .count = (c)}
#define DDPC_CLI_OPT_CALL(n, f, d, m) {.name = (n), .kind = DDPC_CLI_CALL, .dest = (d), .min = (m), .call = (f)}

typedef struct {
  const char *cmd;                 // "launch": messages say "ddpc launch: ..."
  void (*usage)(FILE *out);        // printed on stdout for -h/--help
  const ddpc_cli_option *options;  // the table
  int n_options;                   // its entries
  const char *positional;          // "CONFIG", named when a second one comes; NULL: not named
  const char **positional_dest;    // where the positional argument goes
  bool positional_required;        // "missing CONFIG (see ddpc CMD --help)" when absent;
                                   // false: the command checks (and words it) itself
} ddpc_cli_command;

/* Parses argv (argv[0] is the subcommand) as c describes. Returns -1 to go on, or the exit
 * code to return: DDPC_EXIT_OK after the usage, DDPC_EXIT_USAGE after a message (a missing
 * or bad value, an unknown option, a second positional argument, a missing one). Library
 * code does not exit. */
int ddpc_cli_parse(const ddpc_cli_command *c, int argc, char **argv);
/* A whole number >= min for `option`; -1 after a message ("ddpc CMD: ...") when it is not. */
int ddpc_cli_parse_count(const char *cmd, const char *option, const char *v, int min);
/* The path of the running binary (malloc'd): ranks and trials run this same ddpc. NULL
 * with an error set when /proc/self/exe cannot be read. */
char *ddpc_cli_self_exe(void);

#endif
