/* The readers of what Slurm's commands print (launch/jobs/slurm_script.c: sbatch's job id;
 * tune/tune_slurm.c: squeue's list, scontrol's job record) and of a pruning verdict file
 * (launch/train/train_verdict.c), on the texts the real commands and the tuner write and
 * on the malformed ones a broken wrapper or a hand-edited file could give. The fuzzers
 * fuzz_slurm_reply and fuzz_verdict feed them everything else. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "launch/jobs/slurm_script.h"
#include "launch/train/train_internal.h"
#include "testing.h"
#include "tune/tune_slurm.h"

static void check_job_id(const char *out, const char *want) {
  char *id = ddpc_slurm_parse_job_id(out);
  if (want)
    CHECK(id && strcmp(id, want) == 0, "sbatch [%s]: got [%s], want [%s] (%s)", out, id ? id : "(null)", want,
          id ? "" : ddpc_error_message());
  else
    CHECK(!id && strstr(ddpc_error_message(), "expected a job id"), "sbatch [%s]: got [%s] / %s", out,
          id ? id : "(null)", ddpc_error_message());
  free(id);
}

static void check_record(const char *record, int want_rc, int want_code, int want_signal) {
  ddpc_tune_trial_exit e = {.exit_code = -7, .signal = -7};
  int rc = ddpc_tune_slurm_parse_record(record, &e);
  CHECK(rc == want_rc && e.exit_code == want_code && e.signal == want_signal,
        "scontrol [%s]: %d, exit code %d, signal %d; want %d, %d, %d", record, rc, e.exit_code, e.signal, want_rc,
        want_code, want_signal);
}

static void check_verdict(const char *text, int want, const char *want_why) {
  const char *why = NULL;
  size_t len = 0;
  int said = train_verdict_parse(text, &why, &len);
  CHECK(said == want && (want != 1 || (len == strlen(want_why) && memcmp(why, want_why, len) == 0)),
        "verdict [%s]: %d [%.*s]; want %d [%s]", text, said, (int)len, why ? why : "", want, want_why);
}

int main(void) {
  // sbatch --parsable: "ID" or "ID;CLUSTER".
  check_job_id("4242\n", "4242");
  check_job_id("4242;cluster-a\n", "4242");
  check_job_id("4242", "4242");
  check_job_id("123_4\n", "123_4");
  check_job_id("99+1\r\n", "99+1");
  // It becomes a file name and is read back word by word: nothing else gets through.
  check_job_id("../../etc/x\n", NULL);
  check_job_id("12/34\n", NULL);
  check_job_id("Submitted batch job 12\n", NULL);
  check_job_id("12 \n", NULL);
  check_job_id("12_\n", NULL);
  check_job_id("12_3_4\n", NULL);
  check_job_id("1234567890123456789012345678901234567890123456789012345678901234\n", NULL);

  // squeue -h -o %i: one id a line; only whole lines count.
  const char *ids[] = {"12", "123", "123_4", "99+1"};
  bool listed[4] = {false};
  ddpc_tune_slurm_parse_queue("123_4\n  12 \n1234\n99+1 extra\n", ids, 4, listed);
  CHECK(listed[0] && !listed[1] && listed[2] && !listed[3], "squeue: listed %d %d %d %d", listed[0], listed[1],
        listed[2], listed[3]);
  bool none[4] = {false};
  ddpc_tune_slurm_parse_queue("", ids, 4, none);
  CHECK(!none[0] && !none[1] && !none[2] && !none[3], "squeue: an empty list lists a job");

  // scontrol show job -o: the job's end as a local trial's exit would say it.
  check_record("JobId=7 JobName=t JobState=COMPLETED Reason=None ExitCode=0:0 DerivedExitCode=0:0", 1, 0, 0);
  check_record("JobId=7 JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0", 1, 3, 0);
  check_record("JobId=7 JobState=FAILED ExitCode=0:9", 1, 137, 9);
  check_record("JobId=7 JobState=CANCELLED ExitCode=0:0", 1, 128 + SIGTERM, SIGTERM);
  check_record("JobId=7 JobState=TIMEOUT ExitCode=0:0", 1, 128 + SIGKILL, SIGKILL);
  check_record("JobId=7 JobState=RUNNING ExitCode=0:0", 0, -7, -7);
  check_record("JobId=7 Reason=None", -1, -7, -7);
  // DerivedExitCode is not ExitCode; out-of-range or signed codes are unreadable.
  check_record("JobId=7 JobState=FAILED DerivedExitCode=3:0", -1, -7, -7);
  check_record("JobId=7 JobState=FAILED ExitCode=256:0", -1, -7, -7);
  check_record("JobId=7 JobState=FAILED ExitCode=-1:0", -1, -7, -7);
  check_record("JobId=7 JobState=FAILED ExitCode=0:128", -1, -7, -7);
  check_record("JobId=7 JobState=FAILED ExitCode=99999999999:0", -1, -7, -7);

  // The tuner's verdict file.
  check_verdict("continue\n", 0, "");
  check_verdict("continue", 0, "");
  check_verdict("prune\n", 1, "");
  check_verdict("prune val_loss 0.41 in the worst half\nmore", 1, "val_loss 0.41 in the worst half");
  check_verdict("prune \n", 1, "");
  check_verdict("pruned\n", -1, "");
  check_verdict("continue please\n", -1, "");
  check_verdict("\ncontinue\n", -1, "");
  check_verdict("", -1, "");
  return testing_finish();
}
