#!/usr/bin/env bash
# A clean stop with a non-zero exit code under mpirun (here: preempted, exit 5) makes Open
# MPI print an error-looking report ("Primary job terminated normally, but 1 process
# returned a non-zero exit code ..."). The code must stay (launchers, the tuner and Slurm
# scripts read it), so ddpc says in one line of its own, before that report, that the code
# is the run's outcome; a run without a launcher has no such report and no such line.
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
note="ddpc: exit code 5 is the run's outcome (state preempted, in summary.json), not a crash: the launcher's report of a non-zero exit code is about this"

# Rank 0 sends itself SIGTERM at step 40, through the real handler: every rank stops.
DDPC_FAIL_AT="0:40:term" t_mpirun 60 2 train "$cfg" --run-dir "$T_DIR/mpi" --quiet
t_check "2 ranks, SIGTERM: exit code 5 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 5
t_check "state preempted" test "$(t_json "$T_DIR/mpi/summary.json" state)" = preempted
t_check "ddpc's line is there once: $T_ERR" test "$(grep -cxF "$note" <<<"$T_ERR")" -eq 1
note_at=$(grep -nxF "$note" <<<"$T_ERR" | head -n 1 | cut -d: -f1)
ompi_at=$(grep -nE "Primary job|mpirun detected" <<<"$T_ERR" | head -n 1 | cut -d: -f1)
t_check "ddpc's line comes before Open MPI's report: $T_ERR" test -z "$ompi_at" -o "${note_at:-999}" -lt "${ompi_at:-0}"

DDPC_FAIL_AT="0:40:term" t_run train "$cfg" --run-dir "$T_DIR/one" --quiet
t_check "1 rank without mpirun: exit code 5 (rc $T_RC)" test "$T_RC" -eq 5
t_check "... and no line about a launcher: $T_ERR" test -z "$T_ERR"
t_finish
