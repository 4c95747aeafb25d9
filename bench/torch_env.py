"""The PyTorch a user installs today, for the benchmarks' anchors: PyTorch 2.x from PyPI in a
virtual environment under a cache folder ($DDPC_BENCH_CACHE, default ~/.cache/ddpc-bench),
created on first use. It is large: the default Linux wheel brings CUDA's libraries with it
(about 5.4 GB installed, a few minutes to fetch); the benchmarks use its CPU path alone.
Debian's python3-torch (1.13) stays the other anchor, at /usr/bin/python3."""
import os
import subprocess
import sys

TORCH2_PIN = ["torch==2.15.0", "numpy==2.4.6"]
DEBIAN_PYTHON = "/usr/bin/python3"


def torch2_python():
    """The interpreter of the PyTorch 2.x environment, made (with pip) when missing."""
    cache = os.environ.get("DDPC_BENCH_CACHE", os.path.expanduser("~/.cache/ddpc-bench"))
    venv = os.path.join(cache, TORCH2_PIN[0].replace("==", "-"))
    python = os.path.join(venv, "bin", "python")
    stamp = os.path.join(venv, ".installed")
    if not os.path.exists(stamp) or open(stamp).read().split() != TORCH2_PIN:
        print(f"bench: installing {' '.join(TORCH2_PIN)} into {venv} (large: about 5.4 GB)", file=sys.stderr)
        subprocess.run([DEBIAN_PYTHON, "-m", "venv", "--clear", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"] + TORCH2_PIN,
                       check=True)
        with open(stamp, "w") as f:
            f.write(" ".join(TORCH2_PIN) + "\n")
    return python


def torch_version(python):
    out = subprocess.run([python, "-c", "import torch; print(torch.__version__)"], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()
