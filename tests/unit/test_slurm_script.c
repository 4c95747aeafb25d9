/* The batch script of `ddpc submit` (launch/jobs/slurm_script.c): shell quoting that bash reads
 * back byte for byte, #SBATCH lines sbatch parses as one argument each, and the body's
 * step command, signal forwarding and requeue, checked as literal text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "launch/jobs/slurm_script.h"
#include "testing.h"

static void check_quote(const char *in, const char *want) {
  char *got = ddpc_slurm_shell_quote(in);
  CHECK(got && strcmp(got, want) == 0, "quote [%s]: got [%s], want [%s]", in, got ? got : "(null)", want);
  free(got);
}

/* bash reads the quoted word back as exactly the input, and runs nothing in it. */
static void check_bash_round_trip(const char *dir, const char *in) {
  char *q = ddpc_slurm_shell_quote(in);
  char *marker = ddpc_format("%s/marker", dir);
  char *qdir = ddpc_slurm_shell_quote(dir);
  // Run where a `touch marker` hidden in the input would leave its trace.
  char *cmd = ddpc_format("cd %s && printf '%%s' %s", qdir, q);
  FILE *p = popen(cmd, "r");
  char buf[256] = {0};
  size_t n = p ? fread(buf, 1, sizeof buf - 1, p) : 0;
  int rc = p ? pclose(p) : -1;
  CHECK(rc == 0 && n == strlen(in) && memcmp(buf, in, n) == 0, "bash read [%s] back as [%s] (rc %d)", in, buf, rc);
  CHECK(access(marker, F_OK) != 0, "quoting [%s] ran a command", in);
  free(q);
  free(qdir);
  free(marker);
  free(cmd);
}

static ddpc_slurm_options base_options(void) {
  static const char *const overrides[] = {"train.epochs=4", "name=$(rm -rf x)", "note=it's"};
  ddpc_slurm_options o = {
      .job_name = "cultivars",
      .nodes = 2,
      .ntasks_per_node = 3,
      .time = "01:30:00",
      .run_dir = "/scratch/my runs/r1",
      .binary = "/opt/ddpc/bin/ddpc",
      .config = "/home/u/a config.yaml",
      .overrides = overrides,
      .n_overrides = 3,
      .launcher = DDPC_SLURM_LAUNCHER_SRUN,
      .requeue = true,
      .signal_seconds = 60,
  };
  return o;
}

static void check_contains(const char *text, const char *want) {
  CHECK(text && strstr(text, want), "script lacks [%s]", want);
}

static void check_lacks(const char *text, const char *unwanted) {
  CHECK(text && !strstr(text, unwanted), "script has [%s]", unwanted);
}

static void check_refused(ddpc_slurm_options o, const char *fragment) {
  char *text = ddpc_slurm_script(&o);
  CHECK(!text, "script made despite [%s]", fragment);
  CHECK(strstr(ddpc_error_message(), fragment), "error [%s] lacks [%s]", ddpc_error_message(), fragment);
  free(text);
}

int main(void) {
  check_quote("/opt/ddpc/bin/ddpc", "/opt/ddpc/bin/ddpc");
  check_quote("train.epochs=4", "train.epochs=4");
  check_quote("", "''");
  check_quote("/tmp/a b", "'/tmp/a b'");
  check_quote("$(rm -rf x)", "'$(rm -rf x)'");
  check_quote("it's", "'it'\\''s'");
  check_quote("a\nb`c`;d|e&f*g", "'a\nb`c`;d|e&f*g'");

  const char *tmp = testing_temp_dir();
  check_bash_round_trip(tmp, "$(touch marker)");
  check_bash_round_trip(tmp, "`touch marker`; touch marker");
  check_bash_round_trip(tmp, "it's a 'quote' \"and\" \\ back\\slash $HOME");
  check_bash_round_trip(tmp, "");

  ddpc_slurm_options o = base_options();
  char *text = ddpc_slurm_script(&o);
  CHECK(text != NULL, "script: %s", ddpc_error_message());
  CHECK(text && strncmp(text, "#!/bin/bash\n#SBATCH --job-name=cultivars\n#SBATCH --nodes=2\n"
                              "#SBATCH --ntasks-per-node=3\n#SBATCH --time=01:30:00\n"
                              "#SBATCH --output=\"/scratch/my runs/r1/slurm-%j.out\"\n"
                              "#SBATCH --signal=B:USR1@60\n#SBATCH --requeue\n#SBATCH --open-mode=append\n\n",
                        strlen("#!/bin/bash\n#SBATCH --job-name=cultivars\n#SBATCH --nodes=2\n"
                               "#SBATCH --ntasks-per-node=3\n#SBATCH --time=01:30:00\n"
                               "#SBATCH --output=\"/scratch/my runs/r1/slurm-%j.out\"\n"
                               "#SBATCH --signal=B:USR1@60\n#SBATCH --requeue\n#SBATCH --open-mode=append\n\n")) == 0,
        "header:\n%s", text ? text : "");
  check_contains(text, "\nsrun --mpi=pmix /opt/ddpc/bin/ddpc train '/home/u/a config.yaml' --run-dir "
                       "'/scratch/my runs/r1' --resume auto --set train.epochs=4 --set 'name=$(rm -rf x)' "
                       "--set 'note=it'\\''s' &\nddpc_step=$!\n");
  check_contains(text, "trap ddpc_forward_usr1 USR1\n");
  check_contains(text, "  if [ -n \"$ddpc_step\" ]; then kill -USR1 \"$ddpc_step\" 2>/dev/null; fi\n");
  check_contains(text, "while kill -0 \"$ddpc_step\" 2>/dev/null; do wait \"$ddpc_step\"; done\n"
                       "wait \"$ddpc_step\"\nddpc_rc=$?\n");
  check_contains(text, "if [ \"$ddpc_rc\" -eq 5 ]; then\n");
  check_contains(text, "  scontrol requeue \"$SLURM_JOB_ID\" && exit 0\n");
  const char *tail = "fi\nexit \"$ddpc_rc\"\n";
  CHECK(text && strlen(text) > strlen(tail) && strcmp(text + strlen(text) - strlen(tail), tail) == 0,
        "script ends with the step's exit code");
  check_lacks(text, "--partition");
  check_lacks(text, "--account");
  free(text);

  // Optional lines, mpirun, no requeue; a '%' of the run directory stays literal.
  o = base_options();
  o.partition = "gpu";
  o.account = "proj#1";
  o.job_name = "it's";
  o.run_dir = "/runs/100%";
  o.time = NULL;
  o.launcher = DDPC_SLURM_LAUNCHER_MPIRUN;
  o.requeue = false;
  o.n_overrides = 0;
  o.signal_seconds = 90;
  text = ddpc_slurm_script(&o);
  check_contains(text, "#SBATCH --partition=gpu\n#SBATCH --account=\"proj#1\"\n");
  check_contains(text, "#SBATCH --job-name=\"it's\"\n");
  check_contains(text, "#SBATCH --output=/runs/100%%/slurm-%j.out\n");
  check_contains(text, "#SBATCH --signal=B:USR1@90\n#SBATCH --no-requeue\n");
  check_contains(text, "\nmpirun /opt/ddpc/bin/ddpc train '/home/u/a config.yaml' --run-dir /runs/100% --resume auto &\n");
  check_lacks(text, "--time");
  check_lacks(text, "scontrol requeue");
  check_lacks(text, "srun");
  check_lacks(text, "--allow-changes");
  free(text);

  // --allow-changes reaches ddpc train after the overrides, quoted like them.
  o = base_options();
  o.allow_changes = "train.epochs,stop.max_epochs";
  text = ddpc_slurm_script(&o);
  check_contains(text, "--set 'note=it'\\''s' --allow-changes train.epochs,stop.max_epochs &\n");
  free(text);
  o.allow_changes = "a b";
  text = ddpc_slurm_script(&o);
  check_contains(text, " --allow-changes 'a b' &\n");
  free(text);

  // Values no #SBATCH line can carry.
  o = base_options();
  o.job_name = "a\"b'c";
  check_refused(o, "both kinds of quote");
  o = base_options();
  o.partition = "debug\n#SBATCH --x";
  check_refused(o, "--partition: control character 0x0a");
  o = base_options();
  o.run_dir = "/runs/a\\b";
  check_refused(o, "a backslash in it");
  o = base_options();
  o.nodes = 0;
  check_refused(o, "at least 1, got 0 and 3");
  return testing_finish();
}
