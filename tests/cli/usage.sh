#!/usr/bin/env bash
# The command line itself: help texts, version, unknown commands and options, exit codes.
source "$(dirname "$0")/lib/common.bash"

t_run --help
t_check "ddpc --help exits 0" test "$T_RC" -eq 0
t_check "ddpc --help lists train" grep -q "train CONFIG" <<<"$T_OUT"
t_run train --help
t_check "train --help exits 0" test "$T_RC" -eq 0
t_check "train --help explains --set" grep -q -- "--set key=value" <<<"$T_OUT"
t_check "train --help lists exit codes" grep -q "exit codes" <<<"$T_OUT"
t_run --version
t_check "--version" grep -q "^ddpc [0-9]" <<<"$T_OUT"
t_run
t_check "no command exits 2" test "$T_RC" -eq 2
t_run frobnicate
t_check "unknown command exits 2" test "$T_RC" -eq 2
t_check "unknown command is named" grep -q "unknown command 'frobnicate'" <<<"$T_ERR"
t_run train
t_check "train without CONFIG exits 2" test "$T_RC" -eq 2
t_check "missing CONFIG is explained" grep -q "missing CONFIG" <<<"$T_ERR"
t_run train x.yaml --bogus
t_check "unknown option exits 2" test "$T_RC" -eq 2
t_check "unknown option is named" grep -q "unknown option '--bogus'" <<<"$T_ERR"
# An option missing its value, in every subcommand: one message and exit 2, returned by
# the library's parser rather than ended in it.
for args in "train x.yaml --set" "train x.yaml --run-dir" "train x.yaml --resume" "resume d --set" "graph x --set" \
  "submit x --nodes" "launch x -n" "tune x --study-dir"; do
  read -ra argv <<<"$args"
  t_run "${argv[@]}"
  t_check "$args: exits 2 ($T_RC)" test "$T_RC" -eq 2
  t_check "$args: one message naming the option: $T_ERR" \
    test "$T_ERR" = "ddpc ${argv[0]}: option ${argv[-1]} needs a value"
done
t_run graph "$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml" --set 'stop.early_stopping={patience: 2}'
t_check "graph exits 0" test "$T_RC" -eq 0
t_check "graph prints DOT with the early-stopping row" grep -q "early_stopping" <<<"$T_OUT"
t_check "graph is a digraph" grep -q "^digraph" <<<"$T_OUT"
t_run graph "$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml"
t_check "no early-stopping row when it is not configured" bash -c '! grep -q early_stopping <<<"$1"' _ "$T_OUT"
t_run resume
t_check "resume without RUN_DIR exits 2" test "$T_RC" -eq 2
t_run resume /x --approve --reject
t_check "--approve with --reject exits 2" test "$T_RC" -eq 2
t_run train "$T_DIR/none.yaml"
t_expect_error "missing config file" "none.yaml"
t_finish
