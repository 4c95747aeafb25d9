#!/usr/bin/env python3
"""Search quality of ddpc's tuner against hyperopt and Optuna on one cheap deterministic
objective with the same budget: the best value each study finds, median and mean over the
seeds, and ratios against hyperopt's tpe.suggest (lower is better; < 1 beats hyperopt);
then the distribution of the TPE proposal after one fixed history, hyperopt's and ddpc's.

    pip install --break-system-packages hyperopt optuna
    python3 bench/tune_search_vs_hyperopt.py --bench build/bench/bench_tune_search \
        --trials 60 --seeds 100

The objective and space match bench/tune_search_bench.c: lr log-uniform on [1e-5, 1],
layers an int in [1, 8], act a choice of relu/tanh/sigmoid;
(log10(lr) - best_log_lr[act])^2 + 0.15 (layers - 5)^2 + penalty[act], minimum 0.
"""
import argparse
import logging
import math
import statistics
import subprocess
import time
import warnings

BEST_LOG_LR = {"relu": -2.5, "tanh": -2.0, "sigmoid": -1.5}
PENALTY = {"relu": 0.0, "tanh": 0.3, "sigmoid": 0.6}
ACTS = ["relu", "tanh", "sigmoid"]


def objective(lr, layers, act):
    a = math.log10(lr) - BEST_LOG_LR[act]
    b = layers - 5
    return a * a + 0.15 * b * b + PENALTY[act]


def run_ddpc(bench, trials, seeds):
    """Best value per seed for ddpc_random and ddpc_tpe, from the C program."""
    out = subprocess.run([bench, "--trials", str(trials), "--seeds", str(seeds), "--first-seed", "1"],
                         check=True, capture_output=True, text=True).stdout
    results = {}
    for line in out.splitlines():
        if line.startswith("#"):
            continue
        name, _seed, best, seconds = line.split()
        results.setdefault(name, []).append((float(best), float(seconds)))
    return results


def run_hyperopt(algo_name, trials, seeds):
    from hyperopt import Trials, fmin, hp, rand, tpe
    import numpy as np
    logging.getLogger("hyperopt").setLevel(logging.ERROR)
    algo = tpe.suggest if algo_name == "tpe" else rand.suggest
    space = {
        "lr": hp.loguniform("lr", math.log(1e-5), math.log(1.0)),
        "layers": hp.randint("layers", 1, 9),  # [1, 9): 1..8 like ddpc's int: [1, 8]
        "act": hp.choice("act", ACTS),
    }
    out = []
    for seed in range(1, seeds + 1):
        t = Trials()
        start = time.perf_counter()
        fmin(lambda p: objective(p["lr"], int(p["layers"]), p["act"]), space, algo=algo, max_evals=trials,
             trials=t, rstate=np.random.default_rng(seed), show_progressbar=False)
        out.append((min(t.losses()), time.perf_counter() - start))
    return out


def run_optuna(variant, trials, seeds):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    out = []
    for seed in range(1, seeds + 1):
        # Optuna's own "as hyperopt" settings: 20 startup trials, 24 candidates, hyperopt's
        # gamma and forgetting weights, magic clip, no endpoints (deprecated in 4.9: quiet).
        # Optuna 5 makes TPE multivariate by default; hyperopt models each parameter alone.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            params = {} if variant == "default" else optuna.samplers.TPESampler.hyperopt_parameters()
            if variant == "hyperopt_univariate":
                params["multivariate"] = False
            sampler = optuna.samplers.TPESampler(seed=seed, **params)
        study = optuna.create_study(sampler=sampler, direction="minimize")

        def fn(trial):
            return objective(trial.suggest_float("lr", 1e-5, 1.0, log=True), trial.suggest_int("layers", 1, 8),
                             trial.suggest_categorical("act", ACTS))

        start = time.perf_counter()
        study.optimize(fn, n_trials=trials)
        out.append((study.best_value, time.perf_counter() - start))
    return out


def distribution_check(bench, n_history, n_proposals):
    """The TPE proposal after one fixed history (hyperopt's random search, seed 7), drawn
    with many seeds by hyperopt's tpe.suggest and by ddpc: the two distributions should
    agree if ddpc follows hyperopt's algorithm (the random numbers differ)."""
    import os
    import tempfile
    import numpy as np
    from hyperopt import Trials, base, fmin, hp, rand, tpe
    logging.getLogger("hyperopt").setLevel(logging.ERROR)
    space = {"lr": hp.loguniform("lr", math.log(1e-5), 0.0), "layers": hp.randint("layers", 1, 9),
             "act": hp.choice("act", ACTS)}

    def fn(p):
        return objective(p["lr"], int(p["layers"]), ACTS[p["act"]] if isinstance(p["act"], int) else p["act"])

    trials = Trials()
    fmin(fn, space, algo=rand.suggest, max_evals=n_history, trials=trials, rstate=np.random.default_rng(7),
         show_progressbar=False)
    fd, path = tempfile.mkstemp(suffix=".txt")
    with os.fdopen(fd, "w") as f:
        for doc in trials.trials:
            v = doc["misc"]["vals"]
            f.write(f"{float(v['lr'][0])!r} {int(v['layers'][0])} {int(v['act'][0])} {float(doc['result']['loss'])!r}\n")
    out = subprocess.run([bench, "--history", path, "--proposals", str(n_proposals)], check=True,
                         capture_output=True, text=True).stdout
    os.unlink(path)
    ddpc = np.array([[float(t) for t in line.split()] for line in out.splitlines()])
    domain = base.Domain(fn, space)
    hy = []
    for seed in range(n_proposals):
        v = tpe.suggest([n_history], domain, trials, seed)[0]["misc"]["vals"]
        hy.append([v["lr"][0], v["layers"][0], v["act"][0]])
    hy = np.array(hy)
    print(f"TPE proposal after the same {n_history} trials, {n_proposals} seeds each:")
    qs = [0.1, 0.25, 0.5, 0.75, 0.9]
    for name, sample in (("hyperopt", hy), ("ddpc", ddpc)):
        lq = " ".join(f"{q:7.3f}" for q in np.quantile(np.log10(sample[:, 0]), qs))
        layers = " ".join(f"{c:.3f}" for c in np.bincount(sample[:, 1].astype(int), minlength=9)[1:] / len(sample))
        acts = " ".join(f"{c:.3f}" for c in np.bincount(sample[:, 2].astype(int), minlength=3) / len(sample))
        print(f"  {name:9s} log10(lr) quantiles 10/25/50/75/90%: {lq}")
        print(f"  {name:9s} layers 1..8 frequency: {layers}; act frequency: {acts}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="build/bench/bench_tune_search", help="the C program")
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--history", type=int, default=200, help="trials before the distribution check")
    ap.add_argument("--proposals", type=int, default=2000, help="seeds of the distribution check (0: skip)")
    args = ap.parse_args()

    results = run_ddpc(args.bench, args.trials, args.seeds)
    results["hyperopt_tpe"] = run_hyperopt("tpe", args.trials, args.seeds)
    results["hyperopt_rand"] = run_hyperopt("rand", args.trials, args.seeds)
    results["optuna_tpe_default"] = run_optuna("default", args.trials, args.seeds)
    results["optuna_tpe_hyperopt_params"] = run_optuna("hyperopt", args.trials, args.seeds)
    results["optuna_tpe_hyperopt_univar"] = run_optuna("hyperopt_univariate", args.trials, args.seeds)

    ref = [b for b, _ in results["hyperopt_tpe"]]
    ref_median, ref_mean = statistics.median(ref), statistics.mean(ref)
    print(f"best value after {args.trials} trials, {args.seeds} seeds (lower is better; optimum 0)")
    print(f"{'method':28s} {'median':>9s} {'mean':>9s} {'median/hy':>10s} {'mean/hy':>8s} "
          f"{'wins vs hy':>10s} {'us/trial':>9s}")
    order = ["ddpc_random", "ddpc_tpe", "hyperopt_rand", "hyperopt_tpe", "optuna_tpe_default",
             "optuna_tpe_hyperopt_params", "optuna_tpe_hyperopt_univar"]
    for name in order:
        bests = [b for b, _ in results[name]]
        us = 1e6 * sum(s for _, s in results[name]) / (args.trials * len(results[name]))
        wins = sum(1 for b, r in zip(bests, ref) if b < r)
        med, mean = statistics.median(bests), statistics.mean(bests)
        print(f"{name:28s} {med:9.4f} {mean:9.4f} {med / ref_median:10.2f} {mean / ref_mean:8.2f} "
              f"{wins:>5d}/{len(bests):<4d} {us:9.1f}")
    if args.proposals > 0:
        print()
        distribution_check(args.bench, args.history, args.proposals)


if __name__ == "__main__":
    main()
