#!/usr/bin/env bash
# ddpc predict under mpirun: the ranks share the rows and rank 0 writes one file, the same
# bytes as one rank writes (CSV example with an id column passed through; several batch
# sizes, so that shares are one batch, several, or none); the accuracy line is the same;
# a bad input that every rank sees is said once, by rank 0, and the job ends with exit 1
# and no output file, never a hang.
source "$(dirname "$0")/lib/common.bash"
t_need_mpirun
cd "$T_DIR" || exit 1
csv="$DDPC_SOURCE_DIR/examples/data/cultivars.csv"

t_run train "$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml" --run-dir run --set train.epochs=2 --quiet
t_check "CSV example trains (stderr: $T_ERR)" test "$T_RC" -eq 0
awk -F, 'NR == 1 { print "id," $0; next } { print "row" NR - 1 "," $0 }' "$csv" >with_id.csv

for batch in 256 16 1000; do
  t_run predict run --data with_id.csv --out one.csv --batch-size "$batch"
  t_check "batch $batch, 1 rank: exit 0 (stderr: $T_ERR)" test "$T_RC" -eq 0
  one_metrics=$(grep -o "accuracy .*(cross_entropy)" <<<"$T_ERR")
  for n in 2 3; do
    rm -f many.csv
    t_mpirun 60 "$n" predict run --data with_id.csv --out many.csv --batch-size "$batch"
    t_check "batch $batch, $n ranks: exit 0 (stderr: $T_ERR)" test "$T_RC" -eq 0
    t_check "batch $batch, $n ranks: the same file as 1 rank, byte for byte" cmp -s one.csv many.csv
    t_check "batch $batch, $n ranks: the same accuracy and loss ($one_metrics)" \
      test "$(grep -o "accuracy .*(cross_entropy)" <<<"$T_ERR")" = "$one_metrics"
    t_check "batch $batch, $n ranks: rank 0 alone reports" test "$(grep -c "^predict: .* samples ->" <<<"$T_ERR")" -eq 1
  done
done
t_check "the id column came through" test "$(sed -n 2p one.csv | cut -d, -f1)" = row1

# Bad input under mpirun: the job ends with an error on stderr and writes nothing.
cut -d, -f1,3- "$csv" >missing.csv
t_mpirun 60 2 predict run --data missing.csv --out bad.csv
t_check "2 ranks, missing column: non-zero exit, not a timeout (rc $T_RC)" \
  bash -c 'test "$1" -ne 0 && test "$1" -ne 124 && test "$1" -ne 137' _ "$T_RC"
t_check "2 ranks, missing column: one message (rank 0's) names it" \
  test "$(grep -c "^ddpc predict: error: missing.csv:1: no column named 'acidity'" <<<"$T_ERR")" -eq 1
t_check "2 ranks, missing column: no output file" bash -c '! ls bad.csv* >/dev/null 2>&1'
t_finish
