#!/usr/bin/env bash
# `ddpc tune --resume` on a study whose tune.space changed since it began: the store's trial
# points hold one value per parameter of the old space, and reading them against a larger
# one went past their end (a heap over-read, found while fuzzing the store's readers). The
# resume is refused with one message; with the space it began with, it goes on.
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
export OPENBLAS_NUM_THREADS=1
base="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"

# study SPACE MAX_TRIALS: the study file, on the CSV example for one epoch a trial.
study() {
  printf 'base: %s\ntune:\n  metric: val_loss\n  algorithm: random\n  max_trials: %s\n  space:\n%s\n' \
    "$base" "$2" "$1" >"$T_DIR/study.yaml"
}
lr="    optimizer.lr: {loguniform: [0.001, 0.1]}"
study "$lr" 2
t_run tune "$T_DIR/study.yaml" --study-dir "$T_DIR/s" --set train.epochs=1 --quiet
t_check "first run: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0

study "$lr
    train.batch_size: {choice: [8, 16]}" 3
t_run tune --resume "$T_DIR/s" --quiet
t_expect_error "resume with a parameter added" "$T_DIR/s/study.db: trial 0 was drawn from 1 parameter" \
  "tune.space of $T_DIR/study.yaml now has 2" "space changed"

study "$lr" 3
t_run tune --resume "$T_DIR/s" --quiet
t_check "resume with the space it began with: exit 0 (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_check "resume with the space it began with: 3 trials" test -d "$T_DIR/s/trials/0002"
t_finish
