#!/usr/bin/env bash
# `ddpc inspect`: help, usage errors (exit 2) and files that are not valid checkpoints
# (exit 1, one line naming the file). The library's own checks are tests/unit/test_checkpoint.c.
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
t_expect_error "a folder" "not a regular file"
t_finish
