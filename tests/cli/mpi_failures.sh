#!/usr/bin/env bash
# Multi-rank failures end the whole job quickly with one clear message and a non-zero exit:
# more ranks than the data can feed, a config that differs between ranks, a data file
# missing on one rank, and a rank failing alone in the middle of training. Every run is
# bounded by a timeout, so a hang fails the test instead of stalling it.
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
cd "$T_DIR" || exit 1
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"

# 420 training samples at 4 ranks are 105 per rank: fewer than one batch of 200.
t_mpirun 60 4 train "$cfg" --run-dir r1 --set train.batch_size=200
t_check "too many ranks: exit 1, not a hang (rc $T_RC)" test "$T_RC" -eq 1
t_check "too many ranks: the message explains (stderr: $T_ERR)" grep -q "105 per rank at 4 ranks: fewer than one batch" <<<"$T_ERR"
t_check "too many ranks: reported once" test "$(grep -c "error" <<<"$T_ERR")" -eq 1

# A config that differs between ranks (MPMD: rank 1 gets another learning rate).
timeout -k 5 60 mpirun --oversubscribe -n 1 "$DDPC" train "$cfg" --run-dir r2 : \
  -n 1 "$DDPC" train "$cfg" --run-dir r2 --set optimizer.lr=0.5 >out 2>err
rc=$?
t_check "config differs: exit 1 (rc $rc)" test "$rc" -eq 1
t_check "config differs: names rank 1 ($(cat err))" grep -q "rank(s) 1 differ from rank 0 in their resolved config" err
t_check "config differs: reported once" test "$(grep -c "error" err)" -eq 1

# The same path names a file that exists for rank 0 only: /proc/self/cwd differs per rank.
mkdir -p with without
cp "$DDPC_SOURCE_DIR/examples/data/cultivars.csv" with/
sed "s|path: data/cultivars.csv|path: /proc/self/cwd/cultivars.csv|" "$cfg" >cwd.yaml
timeout -k 5 60 mpirun --oversubscribe -n 1 -wdir "$T_DIR/with" "$DDPC" train "$T_DIR/cwd.yaml" --run-dir "$T_DIR/r3" : \
  -n 1 -wdir "$T_DIR/without" "$DDPC" train "$T_DIR/cwd.yaml" --run-dir "$T_DIR/r3" >out 2>err
rc=$?
t_check "data missing on one rank: exit 1 (rc $rc)" test "$rc" -eq 1
t_check "data missing on one rank: names rank 1 and the file ($(cat err))" grep -q "rank 1: .*cultivars.csv" err
t_check "data missing on one rank: reported once" test "$(grep -c "error" err)" -eq 1

# A rank failing alone mid-training ends the job within seconds (others do not wait).
start=$(date +%s)
DDPC_FAIL_AT=1:30 t_mpirun 60 2 train "$cfg" --run-dir r4 --set train.batch_size=8
elapsed=$(($(date +%s) - start))
t_check "rank failing alone: non-zero exit, not the timeout (rc $T_RC)" test "$T_RC" -ne 0 -a "$T_RC" -ne 124
t_check "rank failing alone: ended in ${elapsed}s (< 30)" test "$elapsed" -lt 30
t_check "rank failing alone: message names the rank and cause ($T_ERR)" \
  grep -q "rank 1: failure injected by DDPC_FAIL_AT at step 30" <<<"$T_ERR"
t_finish
