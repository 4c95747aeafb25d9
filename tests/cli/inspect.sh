#!/usr/bin/env bash
# `ddpc inspect`: help, usage errors (exit 2), files that are not valid checkpoints (exit
# 1, one line naming the file), and a run directory (its newest valid checkpoint). The library's own checks are tests/unit/test_checkpoint.c.
source "$(dirname "$0")/lib/common.bash"

t_run inspect --help
t_check "inspect --help exits 0" test "$T_RC" -eq 0
t_check "inspect --help shows the usage" grep -q "usage: ddpc inspect CHECKPOINT" <<<"$T_OUT"
t_run inspect
t_check "inspect without CHECKPOINT exits 2" test "$T_RC" -eq 2
t_check "missing CHECKPOINT is explained" grep -q "missing CHECKPOINT" <<<"$T_ERR"
t_run inspect a.ddpc b.ddpc
t_check "two files exit 2" test "$T_RC" -eq 2
t_run inspect a.ddpc --bogus
t_check "unknown option exits 2" test "$T_RC" -eq 2
t_check "unknown option is named" grep -q "unknown option '--bogus'" <<<"$T_ERR"

t_run inspect "$T_DIR/none.ddpc"
t_expect_error "missing file" "$T_DIR/none.ddpc: cannot open"
printf 'epoch,loss\n1,0.5\n' >"$T_DIR/metrics.csv"
t_run inspect "$T_DIR/metrics.csv"
t_expect_error "not a checkpoint" "$T_DIR/metrics.csv: not a ddpc checkpoint"
: >"$T_DIR/empty.ddpc"
t_run inspect "$T_DIR/empty.ddpc"
t_expect_error "empty file" "empty.ddpc: not a ddpc checkpoint: the file is empty"
printf 'DDPCCKPT\001\000' >"$T_DIR/short.ddpc"
t_run inspect "$T_DIR/short.ddpc"
t_expect_error "truncated header" "short.ddpc: header at byte 0: truncated"
t_run inspect "$T_DIR"
t_expect_error "a folder without checkpoints" \
  "$T_DIR: no checkpoint in $T_DIR/checkpoints (expected a checkpoint file, or a run directory that has written one)"

# A run directory: its newest valid checkpoint, the one --resume auto continues from; a
# damaged newer one is named and skipped.
cd "$T_DIR" || exit 1
t_run train "$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml" --run-dir run --set train.epochs=2 --quiet
t_check "a 2-epoch run to inspect (stderr: $T_ERR)" test "$T_RC" -eq 0
newest=$(ls run/checkpoints/ckpt-*.ddpc | tail -1)
older=$(ls run/checkpoints/ckpt-*.ddpc | tail -2 | head -1)
t_check "the run kept two checkpoints" test "$newest" != "$older"
t_run inspect run
t_check "inspect RUN_DIR exits 0 (stderr: $T_ERR)" test "$T_RC" -eq 0
t_check "it names the newest checkpoint first" test "$(head -1 <<<"$T_OUT")" = \
  "checkpoint: $newest (the newest valid one: --resume auto continues from it)"
t_check "and describes it" grep -q "^$newest: ddpc checkpoint" <<<"$T_OUT"
printf 'garbage' | dd of="$newest" bs=1 seek=300 conv=notrunc 2>/dev/null
t_run inspect run
t_check "with the newest damaged, the one before it (exit $T_RC)" test "$T_RC" -eq 0 -a \
  "$(head -1 <<<"$T_OUT")" = "checkpoint: $older (the newest valid one: --resume auto continues from it)"
t_check "the damaged one is named with its damage" grep -q "skipping $newest: section .* CRC32 mismatch" <<<"$T_ERR"
mkdir -p grouped && : >grouped/groups.json
t_run inspect grouped
t_expect_error "a grouped run" "grouped: a grouped run (groups.json) has a checkpoint per group: inspect one group's run, grouped/groups/<dir>"
t_finish
