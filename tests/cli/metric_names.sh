#!/usr/bin/env bash
# An unknown metric name wherever the config or a study names one (tune.metric, the
# monitors of early stopping, target, divergence and checkpoint) is refused at its file,
# line and column with the valid names and a suggestion.
source "$(dirname "$0")/lib/common.bash"
cd "$T_DIR" || exit 1
cfg="$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
valid="expected one of train_loss, train_accuracy, val_loss, val_accuracy, lr"

cat >study.yaml <<YAML
base: $cfg
tune:
  metric: val_acc
  max_trials: 2
  space:
    optimizer.lr: {type: float, low: 0.001, high: 0.1, log: true}
YAML
t_run tune study.yaml
t_expect_error "tune.metric" "study.yaml:3:11: tune.metric: unknown metric 'val_acc'; $valid" "did you mean 'val_accuracy'?"

# The monitors through --set as a user types them: the message names the --set.
t_run train "$cfg" --run-dir r1 --set 'stop.early_stopping={monitor: val_acc}'
t_expect_error "early stopping" "stop.early_stopping.monitor: unknown metric 'val_acc'; $valid" "did you mean 'val_accuracy'?"
t_run train "$cfg" --run-dir r2 --set 'stop.target={monitor: vall_loss, value: 0.1}'
t_expect_error "target" "stop.target.monitor: unknown metric 'vall_loss'; $valid" "did you mean 'val_loss'?"
t_run train "$cfg" --run-dir r3 --set 'stop.divergence={monitor: train_los, above: 10}'
t_expect_error "divergence" "stop.divergence.monitor: unknown metric 'train_los'; $valid" "did you mean 'train_loss'?"
t_run train "$cfg" --run-dir r4 --set checkpoint.monitor=val_acc
t_expect_error "checkpoint" "--set checkpoint.monitor=val_acc: checkpoint.monitor: unknown metric 'val_acc'; $valid" "did you mean 'val_accuracy'?"
t_check "nothing was trained" test ! -e r1 -a ! -e r2 -a ! -e r3 -a ! -e r4
t_finish
