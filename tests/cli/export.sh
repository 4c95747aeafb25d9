#!/usr/bin/env bash
# ddpc export: the command line and the safetensors file without PyTorch (export_torch.sh
# loads it in PyTorch). Which checkpoint a run directory means and the default output
# names; the format from --format or --out's extension; the file's layout checked byte by
# byte against the safetensors format (header length, JSON header padded to 8 bytes, data
# offsets packed in order and covering the data, string-only metadata) and its tensors
# against the checkpoint's parameters; mode 0644 whatever the umask. Bad input: an unknown
# format, MODEL missing, not a checkpoint, damaged, a run without checkpoints, outputs that
# cannot be written (missing folder, a folder, a file as folder, read-only, a full disk): one message,
# exit 1 (2 for the command line), and no file left, not even a temporary one; an existing
# output stays as it was.
source "$(dirname "$0")/lib/common.bash"
cd "$T_DIR" || exit 1

t_run train "$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml" --run-dir run --set train.epochs=3 --quiet
t_check "the CSV example trains (rc $T_RC): $T_ERR" test "$T_RC" -eq 0

# A run directory: its best.ddpc, written to run/export/model.safetensors.
t_run export run
t_check "export of a run directory exits 0 (rc $T_RC): $T_ERR" test "$T_RC" -eq 0
t_check "it says which checkpoint and where: $T_OUT" grep -Eq \
  "^export: run -> checkpoint run/checkpoints/best\.ddpc \(best, epoch [0-9]+, step [0-9]+\) -> run/export/model\.safetensors \(safetensors\)$" <<<"$T_OUT"
t_check "run/export/model.safetensors written" test -s run/export/model.safetensors
t_check "created 0644 (umask $(umask))" test "$(stat -c %a run/export/model.safetensors)" = 644

# The layout, and the tensors against the checkpoint's parameters (ddpc_checkpoint layout:
# the params section is the flat float32 buffer, layer by layer, weights then bias).
t_check "a valid safetensors file whose tensors are the checkpoint's parameters" python3 - \
  run/export/model.safetensors "$("$DDPC" --version)" <<'PY'
import json, struct, sys
path, version = sys.argv[1], sys.argv[2].split()[-1]
data = open(path, "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = data[8:8 + n]
assert header[:1] == b"{" and (8 + n) % 8 == 0, (header[:1], n)
h = json.loads(header.decode("utf-8"))
meta = h.pop("__metadata__")
assert all(isinstance(v, str) for v in meta.values()), meta
assert meta["format"] == "pt" and meta["ddpc_version"] == version, meta
assert meta["task"] == "classification" and json.loads(meta["classes"]) == [0, 1, 2], meta
assert json.loads(meta["feature_names"]) == ["alcohol", "acidity", "magnesium", "phenols", "color", "hue"], meta
assert meta["label_column"] == "cultivar" and meta["input_format"] == "csv", meta
assert json.loads(meta["raw_shape"]) == [1, 1, 6] and json.loads(meta["input_shape"]) == [6], meta
assert json.loads(meta["preprocess"]) == [{"op": "standardize", "mode": "per_feature"}], meta
assert len(json.loads(meta["scale"])) == 6 and len(json.loads(meta["shift"])) == 6, meta
assert meta["model"].startswith("model:\n  - {type: linear, units: 32"), meta["model"]
ck = json.loads(meta["checkpoint"])
assert ck["path"] == "run/checkpoints/best.ddpc" and ck["best"] is True and ck["epoch"] >= 1, ck
mods = json.loads(meta["modules"])
assert [m["type"] for m in mods] == ["Linear", "Tanh", "Linear"], mods
assert list(h) == ["0.weight", "0.bias", "2.weight", "2.bias"], list(h)
shapes = {"0.weight": [32, 6], "0.bias": [32], "2.weight": [3, 32], "2.bias": [3]}
at, body = 0, data[8 + n:]
for name, t in h.items():
    assert t["dtype"] == "F32" and t["shape"] == shapes[name], (name, t)
    begin, end = t["data_offsets"]
    assert begin == at and end - begin == 4 * eval("*".join(map(str, t["shape"]))), (name, t)
    at = end
assert at == len(body), (at, len(body))
# The checkpoint's params section holds the same floats in the same order (linear layers
# are laid out as PyTorch's): find them there.
ckpt = open("run/checkpoints/best.ddpc", "rb").read()
assert body in ckpt, "the checkpoint does not hold the exported floats as one run"
PY

# A checkpoint file: beside it, with the format's extension; --out's extension picks the format.
t_run export run/checkpoints/best.ddpc
t_check "a checkpoint file exports beside itself: $T_OUT $T_ERR" test -s run/checkpoints/best.safetensors
t_check "and says so: $T_OUT" grep -q "^export: run/checkpoints/best.ddpc -> checkpoint run/checkpoints/best.ddpc (epoch" <<<"$T_OUT"
newest=$(ls run/checkpoints/ckpt-*.ddpc | sort | tail -n 1)
t_run export "$newest" --out model.onnx
t_check "--out x.onnx means onnx: $T_OUT $T_ERR" grep -q "(onnx)$" <<<"$T_OUT"
t_run export "$newest" --format=safetensors --out model.bin
t_check "--format wins over the extension: $T_OUT $T_ERR" grep -qe "-> model.bin (safetensors)$" <<<"$T_OUT"
t_run export "$newest"
t_check "the same checkpoint exports to the same bytes" cmp -s model.bin "${newest%.ddpc}.safetensors"
# Without best.ddpc, the newest checkpoint.
mkdir -p nobest/checkpoints && cp "$newest" nobest/checkpoints/
t_run export nobest
t_check "no best.ddpc: the newest checkpoint: $T_OUT $T_ERR" grep -q "checkpoint nobest/checkpoints/$(basename "$newest") (newest, epoch" <<<"$T_OUT"
umask 000
t_run export nobest --out open.safetensors
t_check "0644 under umask 000, never world-writable" test "$(stat -c %a open.safetensors)" = 644
umask 022

# Bad command lines: exit 2, and nothing written.
t_run export run --format pickle --out never.safetensors
t_check "unknown format: exit 2 (rc $T_RC)" test "$T_RC" -eq 2
t_check "unknown format: names the allowed ones: $T_ERR" grep -q "unknown format 'pickle' (expected one of: safetensors, onnx)" <<<"$T_ERR"
t_run export
t_check "no MODEL: exit 2 with a hint: $T_ERR" test "$T_RC" -eq 2 -a -n "$(grep 'missing MODEL' <<<"$T_ERR")"
t_run export run --bogus
t_check "unknown option: exit 2 (rc $T_RC)" test "$T_RC" -eq 2
t_run export run --out
t_check "--out without a value: exit 2 (rc $T_RC)" test "$T_RC" -eq 2
t_check "nothing written by a bad command line" test ! -e never.safetensors

# Bad MODEL: one message naming it, exit 1, no file.
t_run export nowhere --out never.safetensors
t_expect_error "missing MODEL" "nowhere" "No such file or directory"
echo "not a checkpoint" >notckpt.ddpc
t_run export notckpt.ddpc --out never.safetensors
t_expect_error "not a checkpoint" "notckpt.ddpc"
cp run/checkpoints/best.ddpc damaged.ddpc
printf '\xff\xff\xff\xff' | dd of=damaged.ddpc bs=1 seek=200 conv=notrunc 2>/dev/null
t_run export damaged.ddpc --out never.safetensors
t_expect_error "damaged checkpoint" "damaged.ddpc"
mkdir -p empty_run/checkpoints
t_run export empty_run --out never.safetensors
t_expect_error "a run without checkpoints" "empty_run" "no checkpoint"
t_check "no file from a bad MODEL" test ! -e never.safetensors -a ! -e empty_run/export/model.safetensors

# Outputs that cannot be written: one message naming the output, exit 1, nothing left behind.
t_run export run --out missing/dir/m.safetensors
t_expect_error "output folder missing" "missing/dir/m.safetensors" "No such file or directory"
mkdir -p adir
t_run export run --out adir
t_expect_error "output is a folder" "adir" "is a directory"
t_check "nothing written into it" test -z "$(ls -A adir)"
t_run export run --out notckpt.ddpc/m.safetensors
t_expect_error "output under a file" "notckpt.ddpc/m.safetensors"
# An existing output is replaced only by a complete file: a failed export leaves it as it was.
cp run/export/model.safetensors keep.safetensors
cp keep.safetensors keep.before
t_run export damaged.ddpc --out keep.safetensors
t_check "a failed export leaves the existing file alone" cmp -s keep.safetensors keep.before
t_check "no temporary files left anywhere" test -z "$(find . -name '*.tmp.*')"

# A read-only folder (mode 555, or for root, whom modes do not stop, a read-only tmpfs) and
# a disk that fills while writing (root only: a 16 KiB tmpfs and a model of ~160 KiB).
trap 'umount "$T_DIR/ro" 2>/dev/null; umount "$T_DIR/small" 2>/dev/null; rm -rf "$T_DIR"' EXIT
mkdir -p ro
chmod 555 ro
if touch ro/probe 2>/dev/null; then
  rm -f ro/probe
  chmod 755 ro
  mount -t tmpfs -o ro,size=16k ddpc-export-ro "$T_DIR/ro" 2>/dev/null || rmdir ro
fi
if [ -d ro ]; then
  t_run export run --out ro/m.safetensors
  t_expect_error "read-only folder" "ro/m.safetensors" "$( [ "$(id -u)" = 0 ] && echo "Read-only file system" || echo "Permission denied")"
  t_check "nothing in the read-only folder" test -z "$(ls -A ro)"
  umount "$T_DIR/ro" 2>/dev/null
  chmod 755 ro 2>/dev/null
else
  t_skip "no read-only folder here (root without mount): the permission case"
fi
mnt="$T_DIR/small"
mkdir -p "$mnt"
if mount -t tmpfs -o size=16k ddpc-export-test "$mnt" 2>/dev/null; then
  t_run train "$DDPC_SOURCE_DIR/examples/cultivars_csv.yaml" --run-dir big --set train.epochs=1 \
    --set model.0.units=4096 --quiet
  t_check "a bigger model trains (rc $T_RC): $T_ERR" test "$T_RC" -eq 0
  t_run export big --out "$mnt/m.safetensors"
  t_expect_error "full disk" "$mnt/m.safetensors" "No space left on device"
  t_check "full disk: nothing left on it: $(ls -A "$mnt")" test -z "$(ls -A "$mnt")"
else
  t_skip "cannot mount a tmpfs here (needs root): the full-disk case"
fi
t_finish
