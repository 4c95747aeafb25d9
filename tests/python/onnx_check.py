"""Checks a `ddpc export --format onnx` file against ddpc itself (tests/cli/export_onnx.sh).

  onnx_check.py MODEL.onnx RUN DDPC (--idx IMAGES | --csv FILE)

- onnx.checker accepts the model (full_check: with shape inference);
- its form is the one docs/export.md describes: IR version 8, opset 17, one input `input`
  (IDX: uint8 (N, rows, cols); CSV: float (N, features)), outputs `logits` and
  `probabilities` (classification) or `predictions` (regression), a symbolic batch
  dimension, the metadata (ddpc_version, feature_names in the CSV header's order, ...);
- ONNX Runtime on the raw samples (the IDX file's pixels as stored; the CSV's feature
  columns, found by the names in the model's metadata) gives ddpc's predictions, as
  `ddpc predict RUN --data FILE` writes them: probabilities within 1e-5 and the same
  predicted class for every sample, regression values within 1e-5 (relative above 1).
Prints one summary line; exits 1 with the reason when a check fails.
"""
import argparse
import csv
import gzip
import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort

TOL = 1e-5


def fail(msg):
    print(f"onnx_check: {msg}", file=sys.stderr)
    sys.exit(1)


def read_idx_images(path):
    """The images of an IDX file (raw or gzip) as stored: uint8 (n, rows, cols)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = (int(v) for v in np.frombuffer(data[:16], dtype=">u4"))
    if magic != 0x803:
        fail(f"{path}: not an IDX images file (magic {magic:#x})")
    return np.frombuffer(data, dtype=np.uint8, count=n * rows * cols, offset=16).reshape(n, rows, cols)


def read_csv_features(path, names, label_column):
    """The columns `names` of a CSV file, in that order, as float32 (n, features); also checks
    that they are the header's columns but the label, in the header's order."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    if [h for h in header if h != label_column] != names:
        fail(f"metadata feature_names {names} are not {path}'s header {header} without '{label_column}'")
    cols = [header.index(n) for n in names]
    return np.array([[float(r[c]) for c in cols] for r in body], dtype=np.float32)


def ddpc_reference(ddpc, run, data, target):
    """`ddpc predict RUN --data DATA` (CSV, %.9g): per sample the predicted class and the
    probabilities p_0, p_1, ..., or (target = the regression target's column) the values."""
    out = subprocess.run([ddpc, "predict", run, "--data", data, "--out", "-"], capture_output=True, text=True)
    if out.returncode != 0:
        fail(f"ddpc predict {run} --data {data} failed ({out.returncode}): {out.stderr.strip()}")
    rows = list(csv.reader(out.stdout.splitlines()))
    header, body = rows[0], rows[1:]
    if target is None:
        probs = [i for i, h in enumerate(header) if h.startswith("p_")]
        cls = header.index("predicted")
        return np.array([int(r[cls]) for r in body]), np.array([[float(r[i]) for i in probs] for r in body])
    col = header.index(target)
    return None, np.array([[float(r[col])] for r in body])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("run")
    ap.add_argument("ddpc")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--idx")
    src.add_argument("--csv")
    a = ap.parse_args()

    model = onnx.load(a.model)
    onnx.checker.check_model(model, full_check=True)
    if model.ir_version != 8:
        fail(f"ir_version {model.ir_version}, expected 8")
    opsets = {o.domain: o.version for o in model.opset_import}
    if opsets != {"": 17}:
        fail(f"opset imports {opsets}, expected the default domain at 17")
    meta = {p.key: p.value for p in model.metadata_props}
    for key in ("ddpc_version", "name", "checkpoint", "task", "input_format"):
        if key not in meta:
            fail(f"metadata lacks '{key}': {meta}")
    if set(json.loads(meta["checkpoint"])) != {"path", "epoch", "step", "best"}:
        fail(f"metadata checkpoint is {meta['checkpoint']}, expected path, epoch, step and best")
    classification = meta["task"] == "classification"
    if classification and "classes" not in meta:
        fail(f"a classifier's metadata lacks class_labels: {meta}")

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(a.model, opts, providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    outputs = [o.name for o in sess.get_outputs()]
    expect_outputs = ["logits", "probabilities"] if classification else ["predictions"]
    if inp.name != "input" or outputs != expect_outputs:
        fail(f"input {inp.name}, outputs {outputs}; expected input, {expect_outputs}")
    if not isinstance(inp.shape[0], str) or any(isinstance(o.shape[0], int) for o in sess.get_outputs()):
        fail(f"the batch dimension is not symbolic: input {inp.shape}, outputs {[o.shape for o in sess.get_outputs()]}")

    if a.idx:
        x = read_idx_images(a.idx)
        expect = ("tensor(uint8)", list(x.shape[1:]))
    else:
        names = json.loads(meta["feature_names"])
        x = read_csv_features(a.csv, names, meta.get("label_column"))
        expect = ("tensor(float)", [len(names)])
    if (inp.type, inp.shape[1:]) != expect:
        fail(f"input is {inp.type} {inp.shape}, expected {expect[0]} (N, {expect[1]})")

    got = dict(zip(outputs, sess.run(None, {"input": x})))
    ref_class, ref = ddpc_reference(a.ddpc, a.run, a.idx or a.csv, None if classification else meta["label_column"])
    if len(ref) != len(x):
        fail(f"ddpc predict gave {len(ref)} predictions for {len(x)} samples")
    if classification:
        probs, logits = got["probabilities"], got["logits"]
        if probs.shape != ref.shape or logits.shape != ref.shape:
            fail(f"ONNX Runtime gave probabilities {probs.shape} and logits {logits.shape}, ddpc {ref.shape}")
        if json.loads(meta["classes"]) != list(range(ref.shape[1])):
            fail(f"metadata classes {meta['classes']}, ddpc predicts {ref.shape[1]} classes")
        diff = float(np.max(np.abs(probs - ref)))
        if diff > TOL:
            i = int(np.argmax(np.max(np.abs(probs - ref), axis=1)))
            fail(f"probabilities differ by {diff:.3g} > {TOL} (sample {i}: onnx {probs[i]}, ddpc {ref[i]})")
        for what, pred in (("probabilities", probs.argmax(1)), ("logits", logits.argmax(1))):
            # A class within TOL of the best one ties with it: float rounding may pick either.
            rows = np.arange(len(pred))
            bad = np.nonzero((pred != ref_class) & (probs[rows, pred] - probs[rows, ref_class] > TOL))[0]
            if len(bad):
                i = int(bad[0])
                fail(f"argmax of {what} differs from ddpc's class on {len(bad)} of {len(x)} samples "
                     f"(sample {i}: onnx {pred[i]}, ddpc {ref_class[i]}, probabilities {probs[i]})")
        print(f"onnx_check: ok, {len(x)} samples, max |probability difference| {diff:.2e}, classes identical")
    else:
        pred = got["predictions"]
        if pred.shape != ref.shape:
            fail(f"ONNX Runtime gave predictions {pred.shape}, ddpc {ref.shape}")
        rel = float(np.max(np.abs(pred - ref) / np.maximum(1.0, np.abs(ref))))
        if rel > TOL:
            fail(f"predictions differ by {rel:.3g} > {TOL} (relative above 1)")
        print(f"onnx_check: ok, {len(x)} samples, max prediction difference {rel:.2e}")


if __name__ == "__main__":
    main()
