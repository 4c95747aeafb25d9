"""What ddpc logged in MLflow, read back with MLflow's own Python client (search_runs,
get_metric_history, list_artifacts) and compared with the run directory's files. Used by
tests/cli/mlflow_*.sh; runs in .venv-mlflow. Each check prints one line; any mismatch is
printed and the exit code is 1.

  mlflow_check.py run URI EXPERIMENT RUN_DIR [--status FINISHED] [--world-size N]
                     [--safetensors FILE] [--onnx FILE] [--no-model]
      one run for RUN_DIR: its id is RUN_DIR/mlflow.json's; every leaf of config.yaml is a
      param with that value; each metrics.jsonl field's history equals the file's (step =
      epoch); step_loss equals steps.jsonl; test metrics equal summary.json's; status;
      tags; artifacts (config.yaml byte for byte); the model artifacts
      model/model.safetensors and model/model.onnx of a run that ended for good (byte for
      byte FILE, what `ddpc export` wrote, when given), none with --no-model
  mlflow_check.py study URI EXPERIMENT STUDY_DIR TRIALS
      the study's parent run (STUDY_DIR/mlflow.json) with TRIALS child runs, one per
      trials/NNNN, each tagged with its number, state and value; the parent's best value
      history has one point per finished trial and the best trial is tagged
  mlflow_check.py count URI EXPERIMENT
      prints how many runs the experiment has
  mlflow_check.py points URI RUN_ID KEY
      prints how many points metric KEY of run RUN_ID has (0 when the server is down)
"""
import json
import math
import os
import sys
import tempfile

import yaml
from mlflow import MlflowClient

failures = []


def check(ok, what):
    print(("ok: " if ok else "MISMATCH: ") + what)
    if not ok:
        failures.append(what)


def experiment_runs(client, name):
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return []
    return client.search_runs([exp.experiment_id], max_results=1000)


def leaves(value, key, out):
    """The config's leaves as ddpc names them: maps nest with '.', list items are KEY.i."""
    if isinstance(value, dict):
        for k, v in value.items():
            leaves(v, f"{key}.{k}" if key else str(k), out)
    else:
        out[key] = value


def same_param(param, value):
    """A param's text read back as YAML is the config's value (a flow list may be one
    param or one per item, so both are accepted by the caller)."""
    return yaml.safe_load(param) == value


def jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def check_model(client, rid, state, model):
    """The exported model among the run's artifacts: model/model.safetensors and
    model/model.onnx for a run that ended for good (none with model None), each the bytes
    of the file given for it."""
    names = sorted(a.path for a in client.list_artifacts(rid, "model"))
    if model is None:
        check(names == [], f"no model artifacts ({names})")
        return
    if state not in ("done", "diverged", "pruned", "rejected"):
        return
    want = ["model/model.onnx", "model/model.safetensors"]
    check(names == want, f"model artifacts {names}, expected {want}")
    for name, path in model.items():
        with tempfile.TemporaryDirectory() as tmp:
            local = client.download_artifacts(rid, name, tmp)
            same = open(local, "rb").read() == open(path, "rb").read()
            check(same, f"the {name} artifact is {path} byte for byte")


def check_run(client, experiment, run_dir, status, world_size, model):
    run_dir = os.path.realpath(run_dir)
    state = json.load(open(os.path.join(run_dir, "mlflow.json")))
    runs = [r for r in experiment_runs(client, experiment) if r.data.tags.get("ddpc.run_dir") == run_dir]
    check(len(runs) == 1, f"one MLflow run for {run_dir} in experiment {experiment} (found {len(runs)})")
    if len(runs) != 1:
        return
    run = runs[0]
    rid = run.info.run_id
    check(rid == state.get("run_id"), f"its id {rid} is mlflow.json's {state.get('run_id')}")
    check(run.info.status == status, f"status {run.info.status}, expected {status}")
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    check(run.data.tags.get("ddpc.state") == summary["state"], f"tag ddpc.state {run.data.tags.get('ddpc.state')} = summary.json's {summary['state']}")
    # A tuner's trial is named after its directory too.
    names = (summary["name"], f"{summary['name']}-{os.path.basename(run_dir)}")
    check(run.info.run_name in names, f"run name {run.info.run_name} is one of {names}")
    if world_size is not None:
        check(run.data.tags.get("ddpc.world_size") == str(world_size), f"tag ddpc.world_size {run.data.tags.get('ddpc.world_size')}")
    for tag in ("ddpc.version", "ddpc.comm", "ddpc.device", "ddpc.host", "ddpc.nodes", "ddpc.run_id"):
        check(bool(run.data.tags.get(tag)), f"tag {tag} = {run.data.tags.get(tag)!r}")

    # Params: every leaf of the resolved config, with its value.
    config = yaml.safe_load(open(os.path.join(run_dir, "config.yaml")))
    want = {}
    leaves(config, "", want)
    params = run.data.params
    missing = []
    for key, value in want.items():
        if isinstance(value, list) and key not in params:
            items_ok = all(f"{key}.{i}" in params and same_param(params[f"{key}.{i}"], v) for i, v in enumerate(value))
            if not items_ok:
                missing.append(key)
        elif key not in params or not same_param(params[key], value):
            missing.append(f"{key} (want {value!r}, got {params.get(key)!r})")
    check(not missing, f"every config leaf is a param with its value ({len(params)} params; wrong or missing: {missing[:5]})")

    # Metrics: each metrics.jsonl field's history is the file's, epoch by epoch.
    lines = jsonl(os.path.join(run_dir, "metrics.jsonl"))
    fields = sorted({k for line in lines for k, v in line.items() if k != "epoch" and v is not None})
    check(len(fields) >= 5 and len(lines) >= 1, f"metrics.jsonl has {len(lines)} epochs of {len(fields)} fields")
    for field in fields:
        expected = [(line["epoch"], float(line[field])) for line in lines if line.get(field) is not None]
        got = sorted((m.step, m.value) for m in client.get_metric_history(rid, field))
        check(got == expected, f"history of {field} equals metrics.jsonl ({len(got)} points)" + ("" if got == expected else f": {got} vs {expected}"))
    steps_path = os.path.join(run_dir, "steps.jsonl")
    if os.path.exists(steps_path):
        expected = [(s["step"], float(s["loss"])) for s in jsonl(steps_path)]
        got = sorted((m.step, m.value) for m in client.get_metric_history(rid, "step_loss"))
        check(got == expected and len(got) > 0, f"step_loss equals steps.jsonl ({len(got)} of {len(expected)} points)")
    # Every test number of summary.json (test_loss, test_accuracy, those of metrics:).
    for key in sorted(k for k, v in summary.items() if k.startswith("test_") and isinstance(v, (int, float))):
        if summary.get(key) is not None and summary["state"] == "done":
            got = [m.value for m in client.get_metric_history(rid, key)]
            check(len(got) == 1 and math.isclose(got[0], summary[key], rel_tol=1e-9), f"{key} {got} = summary.json's {summary[key]}")

    # Artifacts, through the server's artifact proxy.
    names = sorted(a.path for a in client.list_artifacts(rid))
    want_files = ["config.yaml", "events.jsonl", "meta.json", "metrics.jsonl", "summary.json"]
    check(all(n in names for n in want_files), f"artifacts {names}")
    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(rid, "config.yaml", tmp)
        same = open(local, "rb").read() == open(os.path.join(run_dir, "config.yaml"), "rb").read()
        check(same, "the config.yaml artifact is the run directory's, byte for byte")
    check_model(client, rid, summary["state"], model)
    check(not os.path.exists(os.path.join(run_dir, "mlflow_pending.jsonl")), "nothing left in mlflow_pending.jsonl")


def check_study(client, experiment, study_dir, trials):
    state = json.load(open(os.path.join(study_dir, "mlflow.json")))
    pid = state.get("run_id")
    runs = experiment_runs(client, experiment)
    parents = [r for r in runs if r.info.run_id == pid]
    check(len(parents) == 1, f"the parent run {pid} of mlflow.json is in experiment {experiment}")
    if not parents:
        return
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == pid]
    check(len(children) == trials, f"{len(children)} child runs, expected {trials}")
    numbers = sorted(r.data.tags.get("ddpc.trial", "?") for r in children)
    check(numbers == [str(i) for i in range(trials)], f"trial numbers {numbers}")
    for r in children:
        st = r.data.tags.get("ddpc.trial_state")
        check(st in ("COMPLETE", "PRUNED", "FAIL"), f"child {r.info.run_name}: trial state {st}, value {r.data.tags.get('ddpc.trial_value')}")
        tdir = os.path.join(os.path.realpath(study_dir), "trials", "%04d" % int(r.data.tags.get("ddpc.trial", "0")))
        check(r.data.tags.get("ddpc.run_dir") == tdir, f"child {r.info.run_name} is {tdir}")
    best = client.get_metric_history(pid, "best_value")
    check(len(best) == trials, f"best_value after each of {trials} trials: {len(best)} points")
    check(parent.info.status == "FINISHED", f"the parent run's status {parent.info.status}")
    scored = [(float(r.data.tags["ddpc.trial_value"]), r.data.tags["ddpc.trial"]) for r in children
              if r.data.tags.get("ddpc.trial_state") == "COMPLETE"]
    maximize = parent.data.params.get("tune.mode") == "max"
    want = (max if maximize else min)(scored)[1] if scored else None
    check(parent.data.tags.get("ddpc.best_trial") == want,
          f"best trial tagged {parent.data.tags.get('ddpc.best_trial')}, the children's best is {want}")
    got = [m.value for m in sorted(best, key=lambda m: m.step)]
    check(bool(got) and got[-1] == float(parent.data.tags.get("ddpc.best_value", "nan")), f"best_value ends at the best trial's value {got[-1:]}")
    for key in ("tune.algorithm", "tune.parallelism", "tune.metric"):
        check(key in parent.data.params, f"parent param {key} = {parent.data.params.get(key)!r}")
    check(any(k.startswith("tune.space.") for k in parent.data.params), "parent params hold the search space")


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    what, uri, experiment = argv[1], argv[2], argv[3]
    client = MlflowClient(tracking_uri=uri)
    if what == "points":
        try:
            print(len(client.get_metric_history(experiment, argv[4])))
        except Exception:  # not up yet, or the run not created yet: none so far
            print(0)
        return 0
    if what == "count":
        print(len(experiment_runs(client, experiment)))
        return 0
    if what == "run":
        status, world, model = "FINISHED", None, {}
        rest = argv[5:]
        while rest:
            if rest[0] == "--no-model":
                model, rest = None, rest[1:]
                continue
            if rest[0] == "--status":
                status = rest[1]
            elif rest[0] == "--world-size":
                world = int(rest[1])
            elif rest[0] in ("--safetensors", "--onnx"):
                model[f"model/model.{rest[0][2:]}"] = rest[1]
            rest = rest[2:]
        check_run(client, experiment, argv[4], status, world, model)
    elif what == "study":
        check_study(client, experiment, argv[4], int(argv[5]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
