#!/usr/bin/env bash
# An unknown metric name wherever the config or a study names one (tune.metric, the
# monitors of early stopping, target, divergence and checkpoint, the metrics: list) is
# refused at its file, line and column with the valid names and a suggestion.
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
# The list goes on with the metrics of `metrics:` (docs/config.md), which tune.metric and the
# monitors may name too; the metrics: list itself has names of its own.
extra="val_r2, val_macro_precision, val_macro_recall, val_macro_f1, val_topK_accuracy, val_roc_auc"
sed 's/val_acc$/val_macro_f2/' study.yaml >study2.yaml
t_run tune study2.yaml
t_expect_error "tune.metric, a new metric misspelled" "study2.yaml:3:11: tune.metric: unknown metric 'val_macro_f2'; $valid" \
  "$extra;" "did you mean 'val_macro_f1'?"
t_run train "$cfg" --run-dir r5 --set 'metrics=[macro_f1, top5_acc]'
t_expect_error "metrics:" "--set metrics=[macro_f1, top5_acc]: metrics: unknown metric 'top5_acc'; expected one of" \
  "macro_precision, macro_recall, macro_f1, topK_accuracy, roc_auc, per_class, confusion_matrix;" \
  "did you mean 'top5_accuracy'?"
t_run train "$cfg" --run-dir r6 --set checkpoint.monitor=top3_acc
t_expect_error "a top-k monitor" "checkpoint.monitor: unknown metric 'top3_acc'; $valid" "did you mean 'val_top3_accuracy'?"
t_check "nothing was trained" test ! -e r1 -a ! -e r2 -a ! -e r3 -a ! -e r4 -a ! -e r5
t_finish
