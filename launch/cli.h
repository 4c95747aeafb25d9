/* Subcommands of the `ddpc` command and the exit codes they share. Each subcommand
 * parses its own arguments (argv[0] is the subcommand name) and returns an exit code. */
#ifndef DDPC_LAUNCH_CLI_H
#define DDPC_LAUNCH_CLI_H

enum {
  DDPC_EXIT_OK = 0,             // success (also: a run rejected at review, as asked)
  DDPC_EXIT_FAILED = 1,         // the run failed: bad config or data, I/O or runtime error
  DDPC_EXIT_USAGE = 2,          // bad command line
  DDPC_EXIT_DIVERGED = 3,       // training stopped on a non-finite loss or the divergence rule
  DDPC_EXIT_AWAIT_REVIEW = 4,   // stopped at a review gate: `ddpc resume RUN_DIR --approve|--reject`
  DDPC_EXIT_PREEMPTED = 5,      // SIGTERM/SIGUSR1: checkpointed and stopped; `--resume auto` continues
  DDPC_EXIT_FAULT = 6,          // a rank failed during training (collective error or timeout, I/O):
                                // the job was aborted; `--resume auto` (or `ddpc launch`) continues
};

int ddpc_cli_train(int argc, char **argv);
int ddpc_cli_resume(int argc, char **argv);
int ddpc_cli_inspect(int argc, char **argv);
int ddpc_cli_graph(int argc, char **argv);
int ddpc_cli_submit(int argc, char **argv);
int ddpc_cli_launch(int argc, char **argv);
int ddpc_cli_tune(int argc, char **argv);

/* Shared argument helpers (cli_args.c). */
/* Takes argv[*i] when it is option `name`, given as "--name value" or "--name=value": 1
 * with *value set (*i advanced past a separate value); 0 when argv[*i] is another argument;
 * -1 after a message ("ddpc CMD: option NAME needs a value") when the value is missing,
 * for the command to return DDPC_EXIT_USAGE (library code does not exit). */
int ddpc_cli_option_value(const char *cmd, int argc, char **argv, int *i, const char *name, const char **value);
/* A whole number >= min for `option`; -1 after a message ("ddpc CMD: ...") when it is not. */
int ddpc_cli_parse_count(const char *cmd, const char *option, const char *v, int min);
/* The path of the running binary (malloc'd): ranks and trials run this same ddpc. NULL
 * with an error set when /proc/self/exe cannot be read. */
char *ddpc_cli_self_exe(void);

#endif
