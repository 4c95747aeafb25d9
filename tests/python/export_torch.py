"""PyTorch as a consumer of `ddpc export`'s safetensors files (tests/cli/export_torch.sh).

docs/export.md's snippet, taken from the page as written (so the two cannot drift apart),
builds the nn.Sequential from a file's metadata and loads its weights with
safetensors.torch.load_file (strict); on raw samples, preprocessed as the metadata says, its
probabilities must equal ddpc's own predictions: the same argmax (unless two classes tie
within 1e-5), each probability within 1e-5 (regression: each value within 1e-5, relative to
its size when above 1).

usage:
  export_torch.py raw FILE.safetensors DATA          raw samples of DATA, one line each, as
                                                     examples/predict_from_c reads them
  export_torch.py compare DOC FILE.safetensors DATA PREDICTIONS [FILE DATA PREDICTIONS]...
DATA is IDX images (.gz) or a CSV with the training's columns (matched by the metadata's
feature_names). PREDICTIONS is ddpc's for DATA's samples, in order: lines "class,p0,p1,..."
(examples/predict_from_c), or CSV with a header whose columns `predicted` and p_0, p_1, ...
`ddpc predict` writes. compare also runs the snippet as the script docs/export.md says it is,
on the first FILE. Several files in one run share the cost of importing torch.
"""
import csv
import gzip
import json
import re
import sys

import numpy as np


def read_idx_images(path):
    """An IDX image file (gzip or raw) as a (N, rows * cols) uint8 array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x00\x00\x08\x03":
        sys.exit(f"{path}: not an IDX3 ubyte image file")
    n, rows, cols = (int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows * cols)


def read_raw(meta, data):
    """DATA's raw samples as the metadata describes them: (N, features) float32."""
    if meta["input_format"] == "idx":
        return read_idx_images(data).astype(np.float32)
    names = json.loads(meta["feature_names"])
    with open(data, newline="") as f:
        rows = list(csv.DictReader(f))
    missing = [n for n in names if rows and n not in rows[0]]
    if missing:
        sys.exit(f"{data}: no column {missing[0]} (metadata feature_names: {names})")
    return np.array([[float(r[n]) for n in names] for r in rows], dtype=np.float32)


def file_metadata(path):
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        return f.metadata()


def read_predictions(path, classification, width):
    """ddpc's predictions: (classes or None, outputs (N, width))."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = None
    if rows and not re.fullmatch(r"-?[0-9.eE+-]+", rows[0][0].strip()):
        header, rows = rows[0], rows[1:]
    if header is None:  # predict_from_c: class,p0,p1,... (regression: the values)
        values = np.array([[float(v) for v in r] for r in rows], dtype=np.float64)
        if classification:
            return values[:, 0].astype(np.int64), values[:, 1:]
        return None, values
    cols = [i for i, h in enumerate(header) if re.fullmatch(r"p_\d+", h)]
    if classification:
        at = header.index("predicted")
        return (np.array([int(r[at]) for r in rows]),
                np.array([[float(r[i]) for i in cols] for r in rows], dtype=np.float64))
    # Regression: the values are the last columns, after the input's passed-through ones.
    return None, np.array([[float(v) for v in r[-width:]] for r in rows], dtype=np.float64)


def load_snippet(doc, name="load_ddpc"):
    """The first ```python block of docs/export.md's safetensors section, run as module `name`."""
    text = open(doc, encoding="utf-8").read()
    section = text.split("## Export for PyTorch: safetensors", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```", section, re.S | re.M)
    if not blocks:
        sys.exit(f"{doc}: no ```python block in the safetensors section")
    ns = {"__name__": name}
    exec(compile(blocks[0], f"{doc} (the safetensors snippet)", "exec"), ns)
    return ns


def run_snippet_as_script(doc, path):
    """`python3 load_ddpc.py FILE` as the page shows it: prints the model and one prediction."""
    argv = sys.argv
    sys.argv = ["load_ddpc.py", path]
    try:
        load_snippet(doc, "__main__")
    finally:
        sys.argv = argv


def compare(snippet, path, data, predictions):
    import torch

    model, meta = snippet["load_ddpc"](path)
    for key in ("format", "ddpc_version", "checkpoint", "model", "modules", "task", "input_format", "raw_shape",
                "preprocess", "scale", "shift", "prepared_shape", "input_shape"):
        if key not in meta:
            sys.exit(f"{path}: metadata has no '{key}'")
    if meta["format"] != "pt":
        sys.exit(f"{path}: metadata format is '{meta['format']}', expected 'pt'")
    classification = meta["task"] == "classification"
    raw = read_raw(meta, data)
    with torch.no_grad():
        out = model(snippet["prepare"](meta, raw)).double()
    mine = snippet["finish"](meta, out).numpy()
    theirs_class, theirs = read_predictions(predictions, classification, mine.shape[1])
    if theirs.shape != mine.shape:
        sys.exit(f"ddpc predicted {theirs.shape} values, PyTorch {mine.shape}")
    diff = np.abs(mine - theirs)
    if not classification:
        diff = diff / np.maximum(1.0, np.abs(theirs))
    worst = int(diff.max(axis=1).argmax())
    print(f"{path}: {len(raw)} samples, {len(model)} modules; largest difference {diff.max():.3g} "
          f"(sample {worst})")
    ok = diff.max() <= 1e-5
    if classification:
        argmax = mine.argmax(axis=1)
        # Where ddpc's class and PyTorch's tie within the tolerance, either is right: float
        # rounding (ddpc's Winograd convolution, PyTorch's kernels) decides such ties.
        rows = np.arange(len(argmax))
        differ = np.flatnonzero((argmax != theirs_class) & (mine[rows, argmax] - mine[rows, theirs_class] > 1e-5))
        if len(differ):
            i = differ[0]
            print(f"FAILED: {len(differ)} samples predicted differently, first {i}: ddpc {theirs_class[i]} "
                  f"{theirs[i].tolist()}, PyTorch {argmax[i]} {mine[i].tolist()}")
            ok = False
        accuracy_note = f"{len(raw) - len(differ)} of {len(raw)} argmax identical"
        print(accuracy_note)
    if diff.max() > 1e-5:
        print(f"FAILED: sample {worst}: ddpc {theirs[worst].tolist()}, PyTorch {mine[worst].tolist()}")
    return 0 if ok else 1


def main(argv):
    if len(argv) == 4 and argv[1] == "raw":
        raw = read_raw(file_metadata(argv[2]), argv[3])
        fmt = "%d" if np.all(raw == np.round(raw)) else "%.9g"
        np.savetxt(sys.stdout, raw, fmt=fmt, delimiter=",")
        return 0
    if len(argv) >= 6 and argv[1] == "compare" and (len(argv) - 3) % 3 == 0:
        import torch

        torch.set_num_threads(1)  # the suite runs two tests at a time on two cores
        doc, runs = argv[2], argv[3:]
        run_snippet_as_script(doc, runs[0])
        snippet = load_snippet(doc)
        failed = 0
        for i in range(0, len(runs), 3):
            failed += compare(snippet, *runs[i:i + 3])
        return 1 if failed else 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
