#!/usr/bin/env bash
# Hostile sizes: a layer of 10^12 units, a batch of 2^31, IDX headers that declare
# gigabytes on a few bytes (raw and gzip), a CSV header of a million columns, a model of
# 10^12 weights over that CSV, and a stack of layers that each fit but together outgrow
# the memory. Each gets exit code 1 and one clear line naming the file or key, before any
# large allocation: the runs go under an address-space limit of 1 GiB (where a big
# allocation would fail with "out of memory" instead), and their peak RSS stays small.
source "$(dirname "$0")/lib/common.bash"
cd "$T_DIR" || exit 1

# AddressSanitizer reserves terabytes of address space: there only the RSS is checked.
limit=(prlimit --as=$((1 << 30)))
# (ldd's output is read whole: `ldd | grep -q` under pipefail fails when grep's early exit
# makes ldd's later writes die of SIGPIPE, and then the limit was wrongly kept.)
libs=$(ldd "$DDPC" 2>/dev/null)
if [[ $libs == *libasan* ]] || ! command -v prlimit >/dev/null; then limit=(); fi
timer=()
[ -x /usr/bin/time ] && timer=(/usr/bin/time -f %M -o "$T_DIR/rss")

# hostile NAME ARGS... : runs `ddpc ARGS` bounded as above; T_RSS is the peak RSS in KiB.
hostile() {
  local what=$1; shift
  rm -f "$T_DIR/rss"
  "${limit[@]}" "${timer[@]}" "$DDPC" "$@" >"$T_DIR/out" 2>"$T_DIR/err"
  T_RC=$?
  T_ERR=$(cat "$T_DIR/err")
  T_RSS=$(tail -n 1 "$T_DIR/rss" 2>/dev/null || echo 0)
  if [ "${#timer[@]}" -gt 0 ]; then
    t_check "$what: peak RSS ${T_RSS} KiB stays under 300 MiB" test "$T_RSS" -lt $((300 * 1024))
  fi
}

python3 - <<'PY'
import gzip, struct
n, h, w = 40, 4, 4
with open("img.idx", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, h, w) + bytes((i * 7) % 256 for i in range(n * h * w)))
with open("lab.idx", "wb") as f:
    f.write(struct.pack(">II", 0x801, n) + bytes(i % 4 for i in range(n)))
with open("huge-labels.idx", "wb") as f:          # 8 bytes declaring 2^32 - 1 labels
    f.write(struct.pack(">II", 0x801, 0xFFFFFFFF))
with gzip.open("huge-images.idx.gz", "wb") as f:  # 10^11 bytes of images declared, 100 there
    f.write(struct.pack(">IIII", 0x803, 100000, 1000, 1000) + bytes(100))
with open("img28.idx", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, 64, 28, 28) + bytes((i * 7) % 256 for i in range(64 * 784)))
with open("lab28.idx", "wb") as f:
    f.write(struct.pack(">II", 0x801, 64) + bytes(i % 4 for i in range(64)))
cols = 1000000
header = ",".join("c%d" % i for i in range(cols)) + ",label\n"
with open("wide.csv", "w") as f:                   # then 100000 blank lines and a short row
    f.write(header + "\n" * 100000 + "1,2,0\n")
with open("wide-ok.csv", "w") as f:                # four real rows of a million features
    f.write(header + ("0," * cols + "1\n") * 4)
PY

cat >idx.yaml <<'YAML'
name: hostile
data:
  format: idx
  train: {images: img.idx, labels: lab.idx}
  val_fraction: 0.25
  test_fraction: 0
  preprocess: [{op: flatten}]
  cache: false
model:
  - {type: linear, units: 4}
train: {epochs: 1, batch_size: 4}
YAML

hostile "a layer of 10^12 units" train idx.yaml --quiet --set model.0.units=1000000000000
t_expect_error "a layer of 10^12 units" "model.0.units" "1000000000000"

hostile "a batch of 2^31" train idx.yaml --quiet --set train.batch_size=2147483648
t_expect_error "a batch of 2^31" "train.batch_size" "2147483648"

hostile "raw IDX labels declaring 4 GiB" train idx.yaml --quiet --set data.train.labels=huge-labels.idx
t_expect_error "raw IDX labels declaring 4 GiB" "huge-labels.idx: byte 8: the file has 8 bytes" \
  "the header declares 4294967295 labels of 1 byte"

hostile "gzip IDX images declaring 100 GB" train idx.yaml --quiet --set data.train.images=huge-images.idx.gz
t_expect_error "gzip IDX images declaring 100 GB" "huge-images.idx.gz: byte 116: the file has 116 bytes uncompressed" \
  "the header declares 100000 images of 1000x1000 bytes"

t_write_csv_config csv.yaml wide.csv hostile_csv
hostile "a CSV header of a million columns" train csv.yaml --quiet
t_expect_error "a CSV header of a million columns" "wide.csv:100002:6: expected 1000001 fields as in the header, got 3"

hostile "10^12 weights over a million columns" train csv.yaml --quiet --set data.train.path=wide-ok.csv \
  --set model.0.units=1048576
t_expect_error "10^12 weights over a million columns" "csv.yaml: model layer 0 (linear): its parameters" \
  "more than the 4 GiB a layer may use"

# Sixty convolutions, each well inside the per-layer limit, about 240 GB together.
{
  sed -e 's/img.idx/img28.idx/' -e 's/lab.idx/lab28.idx/' -e '/preprocess/d' -e '/^model:/,$d' idx.yaml
  echo "model:"
  for _ in $(seq 60); do echo "  - {type: conv2d, filters: 1024, kernel: 3, padding: 1}"; done
  echo "  - {type: flatten}"
  echo "  - {type: linear, units: 4}"
  echo "train: {epochs: 1, batch_size: 64}"
} >stack.yaml
hostile "layers that together outgrow the memory" train stack.yaml --quiet
t_expect_error "layers that together outgrow the memory" "stack.yaml: model layer " "(conv2d): with its " \
  "the model needs " "for batches of 64), more than the "
t_finish
