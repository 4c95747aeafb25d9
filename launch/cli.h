/* Subcommands of the `ddpc` command and the exit codes they share. Each subcommand
 * parses its own arguments (argv[0] is the subcommand name) and returns an exit code. */
#ifndef DDPC_LAUNCH_CLI_H
#define DDPC_LAUNCH_CLI_H

enum {
  DDPC_EXIT_OK = 0,        // success
  DDPC_EXIT_FAILED = 1,    // the run failed: bad config or data, I/O or runtime error
  DDPC_EXIT_USAGE = 2,     // bad command line
  DDPC_EXIT_DIVERGED = 3,  // training stopped on a non-finite loss
};

int ddpc_cli_train(int argc, char **argv);

#endif
