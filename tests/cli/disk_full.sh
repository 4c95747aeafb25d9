#!/usr/bin/env bash
# A run directory on a filesystem that fills up during training (a 64 KiB tmpfs): the
# appended run files (events.jsonl, metrics.jsonl) hit the full disk first, and the run
# fails with exit 6 and one message naming the file, instead of going on with lines lost.
# Mounting needs root (CAP_SYS_ADMIN): skipped (77) where the tmpfs cannot be mounted.
# Per-file checks through /dev/full, which need no mount, are in tests/unit/test_train_contract.c.
source "$(dirname "$0")/lib/common.bash"

mnt="$T_DIR/small"
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=64k ddpc-test "$mnt" 2>/dev/null; then
  echo "SKIPPED: cannot mount a tmpfs here (needs root)"
  exit 77
fi
trap 'umount "$mnt" 2>/dev/null; rm -rf "$T_DIR"' EXIT

# No checkpoint until the end: only the appended files grow, ~1 KiB an epoch.
run="$mnt/run"
t_run train "$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml" --run-dir "$run" --quiet \
  --set train.epochs=300 --set checkpoint.every_epochs=0 --set checkpoint.keep_best=false
t_check "full disk: exit code 6, a fault during training (rc $T_RC, stderr: $T_ERR)" test "$T_RC" -eq 6
t_check "full disk: one line on stderr: $T_ERR" test "$(printf '%s\n' "$T_ERR" | grep -c .)" -eq 1
t_check "full disk: the message names the appended file and the cause: $T_ERR" \
  grep -Eq "^ddpc train: error: cannot write '$run/(events|metrics)\.jsonl': No space left on device$" <<<"$T_ERR"
epochs=$(grep -c . "$run/metrics.jsonl")
t_check "full disk: the run stopped when the disk filled ($epochs of 300 epochs logged)" test "$epochs" -lt 300
t_finish
