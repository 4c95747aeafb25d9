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
t_run train x.yaml --set
t_check "--set without value exits 2" test "$T_RC" -eq 2
t_run train "$T_DIR/none.yaml"
t_expect_error "missing config file" "none.yaml"
t_finish
