/* Subcommands of the `ddpc` command. Each subcommand parses its own arguments (argv[0] is
 * the subcommand name) and returns an exit code (core/exit_code.h). */
#ifndef DDPC_LAUNCH_CLI_H
#define DDPC_LAUNCH_CLI_H

#include "core/exit_code.h"

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
