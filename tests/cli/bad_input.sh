#!/usr/bin/env bash
# Bad input of every kind gets one clear message naming the file and place, and exit
# code 1 — never a crash (the sanitizer build runs this too), a hang, or a silent run.
source "$(dirname "$0")/lib/common.bash"
cd "$T_DIR" || exit 1

# Small IDX files: 40 images of 4x4, labels 0..3 (python3 writes them, big-endian headers).
python3 - <<'PY'
import struct
n, h, w = 40, 4, 4
with open("img.idx", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, h, w) + bytes((i * 7) % 256 for i in range(n * h * w)))
with open("lab.idx", "wb") as f:
    f.write(struct.pack(">II", 0x801, n) + bytes(i % 4 for i in range(n)))
with open("badmagic.idx", "wb") as f:
    f.write(struct.pack(">IIII", 0x804, n, h, w) + bytes(n * h * w))
with open("short.idx", "wb") as f:   # header promises 40 images, 10 are there
    f.write(struct.pack(">IIII", 0x803, n, h, w) + bytes(10 * h * w))
with open("long.idx", "wb") as f:    # 5 bytes more than the header says
    f.write(struct.pack(">IIII", 0x803, n, h, w) + bytes(n * h * w + 5))
with open("trunc.idx", "wb") as f:   # cut inside the header
    f.write(struct.pack(">II", 0x803, n))
with open("lab9.idx", "wb") as f:    # labels up to 9 with num_classes 4
    f.write(struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n)))
PY

# write_idx_config NAME IMAGES LABELS [EXTRA YAML LINE]
write_idx_config() {
  cat >"$1" <<YAML
name: bad
data:
  format: idx
  train: {images: $2, labels: $3}
  val_fraction: 0.25
  test_fraction: 0.25
  preprocess: [{op: flatten}]
  ${4:-cache: false}
model:
  - {type: linear, units: 4}
train: {epochs: 1, batch_size: 4}
YAML
}

write_idx_config good.yaml img.idx lab.idx
t_run train good.yaml --run-dir run_good --quiet
t_check "the small valid config trains (stderr: $T_ERR)" test "$T_RC" -eq 0

printf 'name: x\nmodel: [unclosed\n' >malformed.yaml
t_run train malformed.yaml
t_expect_error "malformed YAML" "malformed.yaml:" "YAML"

sed 's/^train:/optimiser: {lr: 0.1}\ntrain:/' good.yaml >unknown.yaml
t_run train unknown.yaml
t_expect_error "unknown key" "unknown.yaml:11:1" "optimiser" "did you mean 'optimizer'"

sed 's/^train:.*/train: {epochs: many, batch_size: 4}/' good.yaml >type.yaml
t_run train type.yaml
t_expect_error "wrong type" "type.yaml:11:" "train.epochs" "many"

sed 's/^train:.*/train: {epochs: 1, batch_size: -5}/' good.yaml >range.yaml
t_run train range.yaml
t_expect_error "out of range" "range.yaml:11:" "train.batch_size" "-5"

t_run train good.yaml --set optimizer.lr=abc
t_expect_error "bad --set value" "optimizer.lr" "abc"

write_idx_config missing.yaml nothere.idx lab.idx
t_run train missing.yaml
t_expect_error "missing data file" "nothere.idx"

write_idx_config trunc.yaml trunc.idx lab.idx
t_run train trunc.yaml
t_expect_error "header cut short" "trunc.idx"

write_idx_config short.yaml short.idx lab.idx
t_run train short.yaml
t_expect_error "truncated data" "short.idx" "656"

write_idx_config long.yaml long.idx lab.idx
t_run train long.yaml
t_expect_error "sizes disagree with the length" "long.idx" "661"

write_idx_config magic.yaml badmagic.idx lab.idx
t_run train magic.yaml
t_expect_error "wrong IDX magic" "badmagic.idx" "magic"

write_idx_config classes.yaml img.idx lab9.idx "num_classes: 4"
t_run train classes.yaml
t_expect_error "label outside the class count" "lab9.idx" "4"

printf 'a,b,label\n1,2,0\n3,x7,1\n' >nonnum.csv
printf 'a,b,label\n1,2,0\n3,4\n' >ragged.csv
printf 'a,b,label\n1,2,0\n3,4,7\n5,6,1\n' >csvclass.csv
t_write_csv_config nonnum.yaml nonnum.csv badcsv
t_run train nonnum.yaml
t_expect_error "CSV non-numeric cell" "nonnum.csv:3:" "x7"
t_write_csv_config ragged.yaml ragged.csv badcsv
t_run train ragged.yaml
t_expect_error "CSV ragged row" "ragged.csv:3"
t_write_csv_config csvclass.yaml csvclass.csv badcsv
t_run train csvclass.yaml
t_expect_error "CSV label outside the class count" "csvclass.csv:3" "7"

# The model's output must match the classes.
write_idx_config outputs.yaml img.idx lab.idx
sed -i 's/units: 4}/units: 5}/' outputs.yaml
t_run train outputs.yaml
t_expect_error "output width vs classes" "outputs.yaml" "5 outputs" "4 classes"
# A class count inferred from the labels names the label that set it (often the bad one).
printf 'a,b,label\n1,2,0\n3,4,1\n\n5,6,7\n1,1,7\n' >inferred.csv
t_write_csv_config inferred.yaml inferred.csv badcsv
sed -i '/num_classes/d' inferred.yaml
t_run train inferred.yaml
t_expect_error "inferred class count names its label" "inferred.yaml" "2 outputs" "8 classes" \
  "inferred.csv:5:5: label 7" "data.num_classes"
write_idx_config inferred_idx.yaml img.idx lab9.idx
t_run train inferred_idx.yaml
t_expect_error "inferred class count names its IDX label" "4 outputs" "10 classes" "lab9.idx: byte 17: sample 9: label 9"
t_finish
