/* Text of the batch script `ddpc submit` writes, and the runner of Slurm's client commands
 * (see slurm_script.h). User strings reach the script two ways, each with its own quoting:
 * #SBATCH lines are read by sbatch, which splits on blanks, keeps quoted groups whole and
 * ends a line's arguments at '#'; the body is read by bash, where every user string is one
 * single-quoted word, so it stays data. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fsutil.h"
#include "launch/jobs/slurm_script.h"

/* Characters that mean nothing special to bash or to sbatch's #SBATCH parser. */
static int script_is_plain(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("_./:=@%+,-", c);
}

char *ddpc_slurm_shell_quote(const char *s) {
  size_t n = strlen(s), quotes = 0;
  bool plain = n > 0;
  for (size_t i = 0; i < n; i++) {
    if (!script_is_plain(s[i])) plain = false;
    if (s[i] == '\'') quotes++;
  }
  if (plain) return ddpc_strdup(s);
  // Inside single quotes bash takes every byte literally; only ' itself needs leaving
  // the quotes: 'it'\''s'.
  char *out = ddpc_malloc(n + 3 * quotes + 3, "shell word");
  if (!out) return NULL;
  char *p = out;
  *p++ = '\'';
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\'') {
      memcpy(p, "'\\''", 4);
      p += 4;
    } else {
      *p++ = s[i];
    }
  }
  *p++ = '\'';
  *p = '\0';
  return out;
}

/* One "#SBATCH --name=value" line. sbatch splits these lines on blanks and ends them at
 * '#', but keeps a '...' or "..." group whole (Slurm 22.05 has no working backslash
 * escape outside quotes), so a value that is not plain goes in the quotes it does not
 * contain. `pattern`, when given, is a file name pattern appended as is (sbatch expands
 * its %j); the user's '%' in value are then doubled so they stay literal. */
static int script_sbatch_line(FILE *out, const char *name, const char *value, const char *pattern) {
  bool plain = *value != '\0', has_double = false, has_single = false;
  for (const char *c = value; *c; c++) {
    if ((unsigned char)*c < 0x20 || *c == 0x7f)
      return ddpc_error_set("--%s: control character 0x%02x cannot go on an #SBATCH line", name, (unsigned)*c);
    if (*c == '\\') return ddpc_error_set("--%s '%s': a backslash cannot go on an #SBATCH line", name, value);
    if (!script_is_plain(*c)) plain = false;
    if (*c == '"') has_double = true;
    if (*c == '\'') has_single = true;
  }
  if (has_double && has_single)
    return ddpc_error_set("--%s '%s': both kinds of quote cannot go on one #SBATCH line", name, value);
  const char *quote = plain ? "" : has_double ? "'" : "\"";
  fprintf(out, "#SBATCH --%s=%s", name, quote);
  for (const char *c = value; *c; c++) {
    if (pattern && *c == '%') fputc('%', out);
    fputc(*c, out);
  }
  if (pattern) fputs(pattern, out);
  fprintf(out, "%s\n", quote);
  return 0;
}

/* Appends ` WORD` with WORD shell-quoted. */
static int script_word(FILE *out, const char *s) {
  char *q = ddpc_slurm_shell_quote(s);
  if (!q) return -1;
  fputc(' ', out);
  fputs(q, out);
  free(q);
  return 0;
}

static int script_sbatch_header(FILE *out, const ddpc_slurm_options *o) {
  char num[32];
  int rc = script_sbatch_line(out, "job-name", o->job_name, NULL);
  snprintf(num, sizeof num, "%d", o->nodes);
  if (rc == 0) rc = script_sbatch_line(out, "nodes", num, NULL);
  snprintf(num, sizeof num, "%d", o->ntasks_per_node);
  if (rc == 0) rc = script_sbatch_line(out, "ntasks-per-node", num, NULL);
  if (rc == 0 && o->time) rc = script_sbatch_line(out, "time", o->time, NULL);
  if (rc == 0 && o->partition) rc = script_sbatch_line(out, "partition", o->partition, NULL);
  if (rc == 0 && o->account) rc = script_sbatch_line(out, "account", o->account, NULL);
  if (rc != 0) return rc;
  if (rc == 0) rc = script_sbatch_line(out, "output", o->run_dir, "/slurm-%j.out");
  if (rc != 0) return rc;
  // B: only the batch shell gets the warning; it knows the step and passes it on.
  fprintf(out, "#SBATCH --signal=B:USR1@%d\n", o->signal_seconds);
  fputs(o->requeue ? "#SBATCH --requeue\n" : "#SBATCH --no-requeue\n", out);
  // A requeued job's start appends to the same slurm-<id>.out instead of truncating it.
  fputs("#SBATCH --open-mode=append\n", out);
  return 0;
}

/* The job step's command line: launcher, ddpc train, every user string quoted. */
static int script_step_command(FILE *out, const ddpc_slurm_options *o) {
  fputs(o->launcher == DDPC_SLURM_LAUNCHER_MPIRUN ? "mpirun" : "srun --mpi=pmix", out);
  int rc = script_word(out, o->binary);
  fputs(" train", out);
  if (rc == 0) rc = script_word(out, o->config);
  fputs(" --run-dir", out);
  if (rc == 0) rc = script_word(out, o->run_dir);
  fputs(" --resume auto", out);
  for (int i = 0; i < o->n_overrides && rc == 0; i++) {
    fputs(" --set", out);
    rc = script_word(out, o->overrides[i]);
  }
  if (o->allow_changes && rc == 0) {
    fputs(" --allow-changes", out);
    rc = script_word(out, o->allow_changes);
  }
  fputs(" &\n", out);
  return rc;
}

static const char script_prologue[] =
    "\n"
    "# Written by `ddpc submit`. Slurm sends USR1 to this shell shortly before the time\n"
    "# limit. bash runs a trap only between commands, so the step runs in the background and\n"
    "# the shell waits; the trap passes USR1 to the launcher, which forwards it to every\n"
    "# rank. The ranks checkpoint and exit with 5 (preempted); the job then requeues itself\n"
    "# and its next start continues from the checkpoint (--resume auto).\n"
    "ddpc_step=\n"
    "ddpc_signalled=0\n"
    "ddpc_forward_usr1() {\n"
    "  ddpc_signalled=1\n"
    "  echo \"ddpc submit: USR1 received, passing it to the job step\"\n"
    "  if [ -n \"$ddpc_step\" ]; then kill -USR1 \"$ddpc_step\" 2>/dev/null; fi\n"
    "}\n"
    "trap ddpc_forward_usr1 USR1\n"
    "echo \"ddpc submit: job $SLURM_JOB_ID starts on $SLURM_JOB_NODELIST" \
    " (restart ${SLURM_RESTART_COUNT:-0}) at $(date '+%F %T')\"\n";

static const char script_wait[] =
    "ddpc_step=$!\n"
    "# A signal that came before the step's pid was known.\n"
    "if [ \"$ddpc_signalled\" = 1 ]; then kill -USR1 \"$ddpc_step\" 2>/dev/null; fi\n"
    "# A trapped signal ends `wait` early (status > 128) while the step runs on: wait\n"
    "# again until it is gone; bash keeps its exit status for the last `wait`.\n"
    "while kill -0 \"$ddpc_step\" 2>/dev/null; do wait \"$ddpc_step\"; done\n"
    "wait \"$ddpc_step\"\n"
    "ddpc_rc=$?\n"
    "echo \"ddpc submit: the job step exited with $ddpc_rc at $(date '+%F %T')\"\n";

static const char script_requeue[] =
    "if [ \"$ddpc_rc\" -eq 5 ]; then\n"
    "  echo \"ddpc submit: preempted and checkpointed; requeueing job $SLURM_JOB_ID\"\n"
    "  scontrol requeue \"$SLURM_JOB_ID\" && exit 0\n"
    "  echo \"ddpc submit: scontrol requeue failed; resubmit to continue\"\n"
    "fi\n";

static int script_write(FILE *out, const ddpc_slurm_options *o) {
  fputs("#!/bin/bash\n", out);
  int rc = script_sbatch_header(out, o);
  if (rc != 0) return rc;
  fputs(script_prologue, out);
  rc = script_step_command(out, o);
  if (rc != 0) return rc;
  fputs(script_wait, out);
  if (o->requeue) fputs(script_requeue, out);
  fputs("exit \"$ddpc_rc\"\n", out);
  return 0;
}

char *ddpc_slurm_script(const ddpc_slurm_options *o) {
  if (o->nodes < 1 || o->ntasks_per_node < 1) {
    ddpc_error_set("--nodes and --ntasks-per-node must be at least 1, got %d and %d", o->nodes, o->ntasks_per_node);
    return NULL;
  }
  if (o->signal_seconds < 1) {
    ddpc_error_set("the warning before the time limit must be at least 1 s, got %d", o->signal_seconds);
    return NULL;
  }
  if (strchr(o->run_dir, '\\')) {
    // sbatch ignores every % pattern of an --output name that holds a backslash.
    ddpc_error_set("run directory '%s': a backslash in it would stop sbatch from naming the output file", o->run_dir);
    return NULL;
  }
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  if (!out) {
    ddpc_error_set("out of memory (batch script)");
    return NULL;
  }
  int rc = script_write(out, o);
  if (fclose(out) != 0 && rc == 0) rc = ddpc_error_set("out of memory (batch script)");
  if (rc != 0) {
    free(text);
    return NULL;
  }
  return text;
}

static int script_write_text(FILE *out, void *user) {
  return fputs((const char *)user, out) < 0 ? -1 : 0;
}

int ddpc_slurm_script_save(const char *path, const char *text) {
  return ddpc_fs_write_atomic(path, script_write_text, (void *)text);
}

/* ---- running the client commands ---- */

/* Appends what is readable on fd to *buf (*len bytes so far); returns 0 at end of file. */
static int command_drain(int fd, char **buf, size_t *len) {
  char chunk[4096];
  ssize_t n = read(fd, chunk, sizeof chunk);
  if (n < 0 && errno == EINTR) return 1;
  if (n <= 0) return 0;
  char *grown = realloc(*buf, *len + (size_t)n + 1);
  if (!grown) return 0;
  memcpy(grown + *len, chunk, (size_t)n);
  *len += (size_t)n;
  grown[*len] = '\0';
  *buf = grown;
  return 1;
}

static void command_close_pair(int p[2]) {
  close(p[0]);
  close(p[1]);
}

int ddpc_slurm_command(char *const argv[], ddpc_slurm_reply *r) {
  int po[2], pe[2], px[2];
  memset(r, 0, sizeof *r);
  if (pipe(po) != 0) return ddpc_error_set("pipe: %s", strerror(errno));
  if (pipe(pe) != 0) {
    command_close_pair(po);
    return ddpc_error_set("pipe: %s", strerror(errno));
  }
  if (pipe(px) != 0 || fcntl(px[1], F_SETFD, FD_CLOEXEC) != 0) {
    command_close_pair(po);
    command_close_pair(pe);
    return ddpc_error_set("pipe: %s", strerror(errno));
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    command_close_pair(po);
    command_close_pair(pe);
    command_close_pair(px);
    return ddpc_error_set("fork: %s", strerror(errno));
  }
  if (pid == 0) {
    setpgid(0, 0);
    dup2(po[1], STDOUT_FILENO);
    dup2(pe[1], STDERR_FILENO);
    close(po[0]);
    close(pe[0]);
    close(px[0]);
    execvp(argv[0], argv);
    // The exec error travels back on a close-on-exec pipe: a successful exec closes it.
    int e = errno;
    if (write(px[1], &e, sizeof e) < 0) _exit(127);
    _exit(127);
  }
  close(po[1]);
  close(pe[1]);
  close(px[1]);
  if (read(px[0], &r->exec_errno, sizeof r->exec_errno) != (ssize_t)sizeof r->exec_errno) r->exec_errno = 0;
  close(px[0]);
  size_t lo = 0, le = 0;
  struct pollfd fds[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
  char **bufs[2] = {&r->out, &r->err};
  size_t *lens[2] = {&lo, &le};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int k = 0; k < 2; k++) {
      if (fds[k].fd < 0 || !fds[k].revents) continue;
      if (!command_drain(fds[k].fd, bufs[k], lens[k])) {
        close(fds[k].fd);
        fds[k].fd = -1;
        open_fds--;
      }
    }
  }
  for (int k = 0; k < 2; k++)
    if (fds[k].fd >= 0) close(fds[k].fd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r->exit_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  return 0;
}

void ddpc_slurm_reply_free(ddpc_slurm_reply *r) {
  free(r->out);
  free(r->err);
  r->out = r->err = NULL;
}

const char *ddpc_slurm_first_line(char *text) {
  if (!text) return "(no message)";
  char *p = text + strspn(text, "\r\n");
  p[strcspn(p, "\r\n")] = '\0';
  return *p ? p : "(no message)";
}

char *ddpc_slurm_parse_job_id(const char *out) {
  size_t n = strcspn(out, ";\r\n");
  size_t digits = strspn(out, "0123456789");
  bool ok = digits > 0 && n < 64;
  if (ok && digits < n) {
    // "123_4" (an array task) or "123+1" (a heterogeneous job's component).
    size_t more = strspn(out + digits + 1, "0123456789");
    ok = (out[digits] == '_' || out[digits] == '+') && more > 0 && digits + 1 + more == n;
  }
  if (!ok) {
    ddpc_error_set("sbatch printed '%.*s', expected a job id (digits, as --parsable prints it)",
                   (int)(n < 80 ? n : 80), out);
    return NULL;
  }
  char *id = ddpc_malloc(n + 1, "job id");
  if (!id) return NULL;
  memcpy(id, out, n);
  id[n] = '\0';
  return id;
}

char *ddpc_slurm_sbatch(const char *script_path, const char *const *args, int n_args, bool *missing) {
  *missing = false;
  const char **argv = ddpc_calloc((size_t)n_args + 4, sizeof *argv, "sbatch argument vector");
  if (!argv) return NULL;
  int n = 0;
  argv[n++] = "sbatch";
  argv[n++] = "--parsable";
  for (int i = 0; i < n_args; i++) argv[n++] = args[i];
  argv[n++] = script_path;
  ddpc_slurm_reply r;
  int rc = ddpc_slurm_command((char *const *)argv, &r);
  free(argv);
  if (rc != 0) {
    ddpc_error_prefix("cannot run sbatch: ");
    return NULL;
  }
  char *id = NULL;
  if (r.exec_errno) {
    *missing = true;
    ddpc_error_set("cannot run sbatch: %s (is Slurm's client installed and on PATH?)", strerror(r.exec_errno));
  } else if (r.exit_code != 0) {
    ddpc_error_set("sbatch refused the job: %s", ddpc_slurm_first_line(r.err));
  } else if (!r.out || !r.out[strspn(r.out, " \t\r\n")]) {
    ddpc_error_set("sbatch printed no job id: %s", ddpc_slurm_first_line(r.err));
  } else {
    id = ddpc_slurm_parse_job_id(r.out);
  }
  ddpc_slurm_reply_free(&r);
  return id;
}
