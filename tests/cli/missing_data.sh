#!/usr/bin/env bash
# A data file that cannot be opened is reported where the config gives it: file, line and
# column (or the --set), the key and the file, with exit 1. Commands that do not read the
# data (ddpc graph) still take such a config: the data may be made later or elsewhere.
source "$(dirname "$0")/lib/common.bash"
cd "$T_DIR" || exit 1
sed 's|path: data/cultivars.csv|path: data/nothere.csv|' "$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml" >run.yaml
t_check "the config names the missing file" grep -q "path: data/nothere.csv" run.yaml
line=$(grep -n "nothere.csv" run.yaml | cut -d: -f1)
col=$(($(grep "nothere.csv" run.yaml | sed 's/data\/nothere.csv.*//' | wc -c)))

t_run train run.yaml --run-dir r1
t_expect_error "missing CSV in the file" \
  "run.yaml:$line:$col: data.train.path: cannot open '$T_DIR/data/nothere.csv': No such file or directory"
t_run train run.yaml --run-dir r2 --set data.train.path=x.csv
t_expect_error "missing CSV by --set" \
  "--set data.train.path=x.csv: data.train.path: cannot open '$T_DIR/x.csv': No such file or directory"
mkdir -p data && cp "$DDPC_SOURCE_DIR/examples/data/cultivars.csv" data/nothere.csv
t_run train run.yaml --run-dir r3 --set 'data.test={path: test.csv}' --set data.test_fraction=0
t_expect_error "missing test CSV" "--set data.test={path: test.csv}: data.test.path: cannot open '$T_DIR/test.csv'"
rm data/nothere.csv

t_run graph run.yaml
t_check "ddpc graph takes a config whose data is missing (rc $T_RC: $T_ERR)" test "$T_RC" -eq 0
t_finish
