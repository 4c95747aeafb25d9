#!/usr/bin/env python3
"""Projects ddpc's data-parallel step time and scaling efficiency past one machine.

Input: the output of bench/scaling_netns.sh (all-reduce time per message size between the
test bed's network namespaces, per link rate, rank count and algorithm):
    /usr/bin/python3 bench/scaling_projection.py allreduce_netns.txt [--stat min|p10]

1. Fit. For each (rate, ranks, algorithm), least squares of time against bytes,
   t(n) = a + b n, weighted by 1/t (relative error). One line over 4 B .. 16 MiB misses by
   up to 50 % (the cost per byte grows with the size: TCP windows, caches), so two are
   fitted: over 4 B .. 64 KiB, whose intercept a is the latency, and over 256 KiB .. 16 MiB,
   whose slope b is the per-byte cost of gradient-sized messages; each one's largest
   relative miss is printed. The statistic fitted is the minimum (default) or the 10th
   percentile of the single-call times: the machine is shared, and the low end is the cost
   of the call itself, not of other processes. a and b are turned into one link's latency
   alpha and per-byte cost beta with the standard step counts of the algorithm at p ranks:
     ring (libnbc 1: reduce-scatter + allgather): a = 2(p-1) alpha, b = 2(p-1)/p beta
     tree (libnbc 2: binomial reduce + binomial broadcast): a = 2L alpha, b = 2L beta,
          L = ceil(log2 p)
   beta includes what the host spends per byte (TCP copies, the float additions).
2. Project. For P = 2..256 ranks, one per node, each node's link alike, the same cost laws
   with the fitted alpha, beta of each algorithm. Weak scaling, as Horovod's and DDP's
   papers measure it: batch 64 per rank, so the one-rank step T1 stays the compute of each
   rank and efficiency = T1 / T_P.
     no overlap: T_P = T1 + C(all gradient bytes)   (comm.overlap: false, one all-reduce)
     overlap:    buckets planned as comm/grad_sync.c plans them (layers in backward order,
                 a bucket closed when the next layer would pass bucket_mb, a layer never
                 split); a bucket's all-reduce starts when backward has produced its last
                 layer and after the previous bucket's, and T_P = forward + max(end of
                 backward, end of the last all-reduce) + the rest (loss, optimizer).
   The overlap model is the ideal one (as with NCCL's own progress): on ddpc's MPI path an
   all-reduce only advances inside MPI calls, which the training thread makes between
   layers, so the measured overlap is at most this good.
"""
import math
import sys

MIB = 1 << 20


def parse(path):
    """{(rate, p, alg): [(bytes, min_us, p10_us, median_us), ...]}"""
    runs = {}
    for line in open(path):
        f = line.split()
        if len(f) != 8 or f[1] == "#" or line.startswith("#"):
            continue
        rate, p, alg, nbytes, _reps, tmin, tp10, tmed = f
        runs.setdefault((rate, int(p), alg), []).append((int(nbytes), float(tmin), float(tp10), float(tmed)))
    return runs


def fit_line(points):
    """Weighted least squares t = a + b n, weights 1/t (relative error); returns a, b, max rel. error."""
    sw = swn = swnn = swt = swnt = 0.0
    for n, t in points:
        w = 1.0 / (t * t)
        sw += w
        swn += w * n
        swnn += w * n * n
        swt += w * t
        swnt += w * n * t
    det = sw * swnn - swn * swn
    a = (swt * swnn - swn * swnt) / det
    b = (sw * swnt - swn * swt) / det
    err = max(abs(a + b * n - t) / t for n, t in points)
    return a, b, err


def steps(alg, p):
    """(latency terms, bandwidth factor): time = lat * alpha + bw * bytes * beta."""
    if alg == "ring":
        return 2 * (p - 1), 2.0 * (p - 1) / p
    levels = math.ceil(math.log2(p))
    return 2 * levels, 2.0 * levels


def allreduce_s(alg, nbytes, p, alpha, beta):
    lat, bw = steps(alg, p)
    return lat * alpha + bw * nbytes * beta


ALG_NAMES = {"1": "ring", "2": "tree"}


def link_params(runs, stat):
    """{(rate, p, alg_name): (alpha s, beta s/B, max rel. error, a, b)}"""
    col = 1 if stat == "min" else 2
    out = {}
    for (rate, p, alg), pts in sorted(runs.items()):
        name = ALG_NAMES.get(alg, alg)
        a, _, err_small = fit_line([(pt[0], pt[col] * 1e-6) for pt in pts if pt[0] <= 64 << 10])
        _, b, err_large = fit_line([(pt[0], pt[col] * 1e-6) for pt in pts if pt[0] >= 256 << 10])
        lat, bw = steps(name, p)
        out[(rate, p, name)] = (a / lat, b / bw, max(err_small, err_large), a, b)
    return out


# ---- models: layers in forward order as (name, parameters, forward ms, backward ms) ----
# MLP and CNN: bench_step_profile medians of thread CPU time (examples/fashion_mnist_*.yaml,
# batch 64, one thread, SkylakeX kernels; see bench/RESULTS.md for the run); activation,
# pooling and flatten layers have no parameters and only add time. "rest": gather, loss and
# the optimizer.
MODELS = {}


def model(name, layers, rest_ms, note):
    MODELS[name] = {"layers": layers, "rest_ms": rest_ms, "note": note}


def dense_25m(speedup):
    """A 25 M-parameter model (ResNet-50 has 25.6 M) as 50 equal layers of 0.5 M parameters.
    Compute: 6 * params * batch 64 FLOP at 84 GFLOP/s, the rate of the MLP's first linear
    layer forward in the profile below (SkylakeX GEMMs, this core): 114 ms, a third of it
    forward; the optimizer at the profile's 0.285 ns per parameter (SGD with momentum).
    speedup > 1 divides the compute (an accelerator), not the optimizer's host time."""
    params, layers, batch, flops = 25_000_000, 50, 64, 84e9
    t_ms = 6.0 * params * batch / flops * 1e3 / speedup
    per = params // layers
    return [("dense%d" % i, per, t_ms / 3 / layers, 2 * t_ms / 3 / layers) for i in range(layers)], 0.285e-6 * params / speedup


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: scaling_projection.py allreduce_netns.txt [--stat min|p10] [--profile-mlp F] [--profile-cnn F]")
    stat = "min"
    if "--stat" in sys.argv:
        stat = sys.argv[sys.argv.index("--stat") + 1]
    runs = parse(sys.argv[1])
    params = link_params(runs, stat)

    print("## Fit (%s of single-call times; weighted least squares t = a + b*bytes: a from 4 B..64 KiB, b from 256 KiB..16 MiB)\n" % stat)
    print("| link | ranks | algorithm | a (us) | b (ns/B) | alpha (us) | beta (ns/B) | = Gbit/s | max rel. error |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (rate, p, alg), (alpha, beta, err, a, b) in params.items():
        print("| %s | %d | %s | %.1f | %.3f | %.1f | %.3f | %.1f | %.2f |"
              % (rate, p, alg, a * 1e6, b * 1e9, alpha * 1e6, beta * 1e9, 8 / beta / 1e9, err))

    # Check of the cost law: rank counts above 2 predicted from the 2-rank fit.
    print("\n## Check: measured at p > 2 against the 2-rank fit's prediction (%s)\n" % stat)
    print("| link | ranks | algorithm | bytes | measured us | predicted us |")
    print("|---|---|---|---|---|---|")
    col = 1 if stat == "min" else 2
    for (rate, p, alg), pts in sorted(runs.items()):
        name = ALG_NAMES.get(alg, alg)
        if p == 2 or (rate, 2, name) not in params:
            continue
        alpha, beta = params[(rate, 2, name)][:2]
        for pt in pts:
            if pt[0] in (4, 65536, 1 << 20, 16 << 20):
                print("| %s | %d | %s | %d | %.0f | %.0f |"
                      % (rate, p, name, pt[0], pt[col], allreduce_s(name, pt[0], p, alpha, beta) * 1e6))

    # Links to project on: the measured namespace link (2-rank fit, unshaped) and 10/25 GbE:
    # the measured alpha (TCP through the kernel as here) with the wire's beta, or the
    # measured beta where it is slower (the host's own cost per byte bounds it).
    base = {alg: params[("none", 2, alg)][:2] for alg in ("ring", "tree") if ("none", 2, alg) in params}
    if len(base) < 2:
        sys.exit("no unshaped 2-rank ring and tree runs to project from")
    links = [("netns TCP (measured)", {alg: ab for alg, ab in base.items()})]
    for gbit in (10, 25):
        links.append(("%d GbE (alpha measured, beta = wire)" % gbit,
                      {alg: (ab[0], 8.0 / (gbit * 1e9)) for alg, ab in base.items()}))
    # Not measured: a sensitivity case for kernel-bypass fabrics like Horovod's RoCE runs,
    # alpha 3 us (an assumption, not a measurement) with 25 GbE's wire beta.
    links.append(("25 GbE, alpha 3 us (RDMA-class, assumed)", {alg: (3e-6, 8.0 / 25e9) for alg in base}))

    # bench_step_profile, 2026-12-04 (medians of thread CPU time; the machine was busy, so
    # these are 10-25 % above the quiet-machine profile in bench/RESULTS.md)
    mlp = [("linear 784-256", 200_960, 0.307, 0.278), ("relu", 0, 0.004, 0.004),
           ("linear 256-128", 32_896, 0.054, 0.097), ("relu", 0, 0.002, 0.003),
           ("linear 128-10", 1_290, 0.004, 0.007)]
    model("MLP, 235,146 params", mlp, 0.016 + 0.007 + 0.067, "examples/fashion_mnist_mlp.yaml")
    # CNN after the convolution changes of issue 17 (direct first layer, Winograd second,
    # fused pooling; commit a522775): 19.6 ms, was 36.7 ms the same morning
    cnn = [("conv 1-32", 320, 1.313, 1.314), ("relu", 0, 0.772, 0.004), ("maxpool", 0, 0.852, 0.875),
           ("conv 32-64", 18_496, 4.372, 6.079), ("relu", 0, 0.443, 0.002), ("maxpool", 0, 0.222, 0.377),
           ("flatten", 0, 0.129, 0.083), ("linear 3136-128", 401_536, 0.780, 1.576), ("relu", 0, 0.007, 0.005),
           ("linear 128-10", 1_290, 0.007, 0.013)]
    model("CNN, 421,642 params", cnn, 0.026 + 0.012 + 0.372, "examples/fashion_mnist_cnn.yaml")
    for speedup, label in ((1, "25M params, this core"), (10, "25M params, 10x faster compute")):
        d, rest = dense_25m(speedup)
        model(label, d, rest, "synthetic")

    ranks = [2, 4, 8, 16, 32, 64, 128, 256]
    caps = [0.25, 1.0, 4.0, 25.0]
    print("\n## Projection: weak scaling, batch 64 per rank, efficiency = T1 / T_P\n")
    for mname, m in MODELS.items():
        layers = m["layers"]
        fwd = sum(l[2] for l in layers) * 1e-3
        bwd = sum(l[3] for l in layers) * 1e-3
        t1 = fwd + bwd + m["rest_ms"] * 1e-3
        nbytes = 4 * sum(l[1] for l in layers)
        for lname, lp in links:
            print("### %s, %s: T1 = %.2f ms, gradient %.2f MB\n" % (mname, lname, t1 * 1e3, nbytes / 1e6))
            print("| ranks | ring, no overlap | ring, overlap (best bucket_mb) | ring, overlap 1 MiB | ring, overlap 25 MiB | tree, no overlap | tree, overlap (best) |")
            print("|---|---|---|---|---|---|---|")
            for p in ranks:
                cells = []
                for alg in ("ring", "tree"):
                    alpha, beta = lp[alg]
                    t_no = t1 + allreduce_s(alg, nbytes, p, alpha, beta)
                    over = {cap: overlap_step(layers, m["rest_ms"], cap, alg, p, alpha, beta) for cap in caps}
                    best = min(caps, key=lambda c: (round(over[c] / t1, 3), -c))
                    cells.append("%.0f %% (%.2f ms)" % (100 * t1 / t_no, t_no * 1e3))
                    cells.append("%.0f %% (%.2f ms, %g)" % (100 * t1 / over[best], over[best] * 1e3, best))
                    if alg == "ring":
                        cells.append("%.0f %%" % (100 * t1 / over[1.0]))
                        cells.append("%.0f %%" % (100 * t1 / over[25.0]))
                print("| %d | %s |" % (p, " | ".join(cells)))
            print()

    # Which setting to use: per link and rank count, the best of ring/tree x overlap
    # (bucket_mb from the caps) against ddpc's default (ring, overlap, 1 MiB) and 25 MiB.
    print("## Best setting per scale (efficiency; default = ring, overlap, bucket_mb 1)\n")
    for lname, lp in links:
        print("### %s\n" % lname)
        print("| ranks | " + " | ".join("%s: default / 25 MiB / best" % n for n in MODELS) + " |")
        print("|---|" + "---|" * len(MODELS))
        for p in ranks:
            cells = []
            for m in MODELS.values():
                layers, rest = m["layers"], m["rest_ms"]
                t1 = sum(l[2] + l[3] for l in layers) * 1e-3 + rest * 1e-3
                nbytes = 4 * sum(l[1] for l in layers)
                options = {}
                for alg in ("ring", "tree"):
                    alpha, beta = lp[alg]
                    options[(alg, "no overlap", None)] = t1 + allreduce_s(alg, nbytes, p, alpha, beta)
                    for cap in caps:
                        options[(alg, "overlap", cap)] = overlap_step(layers, rest, cap, alg, p, alpha, beta)
                # within 0.1 % of T1 counts as a tie: then ring, overlap and fewer buckets first
                best = min(options, key=lambda k: (round(options[k] / t1, 3), k[0] != "ring", k[1] != "overlap",
                                                   -(k[2] or 0)))
                alg, how, cap = best
                label = "%s, %s%s" % (alg, how, ", %g MiB" % cap if cap else "")
                cells.append("%.0f / %.0f / %.0f %% (%s)" % (100 * t1 / options[("ring", "overlap", 1.0)],
                                                            100 * t1 / options[("ring", "overlap", 25.0)],
                                                            100 * t1 / options[best], label))
            print("| %d | %s |" % (p, " | ".join(cells)))
        print()

    # One fixed cap for everything: how much slower than the best cap of each case (ring,
    # overlap) over every model, the measured and wire-rate links and every rank count.
    fixed = [1.0, 4.0, 25.0]
    every = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 25.0, 50.0, 1024.0]
    print("## One fixed bucket_mb against the best cap per case (ring, overlap; %s)\n"
          % ", ".join(l[0] for l in links[:3]))
    print("| bucket_mb | mean slowdown | worst | worst without the 10x-compute model |")
    print("|---|---|---|---|")
    for cap in fixed:
        loss, loss_no10 = [], []
        for mname, m in MODELS.items():
            for _, lp in links[:3]:
                alpha, beta = lp["ring"]
                for p in ranks:
                    t = {c: overlap_step(m["layers"], m["rest_ms"], c, "ring", p, alpha, beta) for c in every}
                    v = t[cap] / min(t.values()) - 1
                    loss.append(v)
                    if "10x" not in mname:
                        loss_no10.append(v)
        print("| %g | %.1f %% | %.0f %% | %.0f %% |" % (cap, 100 * sum(loss) / len(loss), 100 * max(loss), 100 * max(loss_no10)))


def plan_buckets(layers, cap_mb):
    """Buckets as comm/grad_sync.c plans them: [(bytes, index of the bucket's lowest layer)]."""
    cap = cap_mb * MIB / 4
    buckets = []
    for i in range(len(layers) - 1, -1, -1):
        n = layers[i][1]
        if n == 0:
            continue
        if not buckets or buckets[-1][0] + n > cap:
            buckets.append([0, i])
        buckets[-1][0] += n
        buckets[-1][1] = i
    return [(4 * n, i) for n, i in buckets]


def overlap_step(layers, rest_ms, cap_mb, alg, p, alpha, beta):
    fwd = sum(l[2] for l in layers) * 1e-3
    done = {}  # layer index -> time its backward ends (from the start of backward)
    t = 0.0
    for i in range(len(layers) - 1, -1, -1):
        t += layers[i][3] * 1e-3
        done[i] = t
    bwd = t
    end = 0.0
    for nbytes, lowest in plan_buckets(layers, cap_mb):
        end = max(end, done[lowest]) + allreduce_s(alg, nbytes, p, alpha, beta)
    return fwd + max(bwd, end) + rest_ms * 1e-3


if __name__ == "__main__":
    main()
