#!/usr/bin/python3
"""Reference values for tests/unit/test_optim.c and tests/unit/test_schedule.c, computed
with PyTorch (Debian's python3-torch; run it with /usr/bin/python3, which has torch).

    /usr/bin/python3 tests/reference/optim_reference.py optim     > block for test_optim.c
    /usr/bin/python3 tests/reference/optim_reference.py schedule  > block for test_schedule.c

It prints C initialisers. Every hyperparameter and input is rounded to float32 first, so
torch and the C code start from bit-identical values and any difference comes from the
update arithmetic alone.
"""
import math
import struct
import sys
import warnings

import torch

N = 7       # parameters in the optimizer test vector
STEPS = 6   # optimizer steps compared


def f32(x):
    return struct.unpack("f", struct.pack("f", float(x)))[0]


def c_float(x):
    # %.9g round-trips every float32 exactly; C needs a '.' or exponent before the f.
    text = "%.9g" % f32(x)
    if not any(c in text for c in ".e"):
        text += ".0"
    return text + "f"


def c_array(values):
    return "{" + ", ".join(c_float(v) for v in values) + "}"


def c_matrix(rows, indent="    "):
    return "{\n" + ",\n".join(indent + c_array(r) for r in rows) + "}"


# ---------------------------------------------------------------- optimizers

P0 = [f32(v) for v in (0.5, -1.25, 2.0, 0.0, -0.3, 3.75, 1e-3)]


def grad_at(step):
    # Varies in sign and size from step to step; element 3 is exactly zero on step 2, and
    # element 5 is tiny so that Adam's eps (added after the square root) shows.
    g = [math.sin(0.7 * i + 1.3 * step) * (1.0 + 0.5 * i) + 0.1 * (step - 2) for i in range(N)]
    if step == 2:
        g[3] = 0.0
    g[5] *= 1e-6
    return [f32(v) for v in g]


GRADS = [grad_at(k) for k in range(STEPS)]
# The scheduled lr changes every step; the C side passes the same value to each step.
LR_SCALE = [1.0, 1.0, 0.8, 0.6, 0.6, 0.3]

CASES = [
    # name, kind, torch class, base lr, keyword arguments
    ("sgd_plain", "SGD", torch.optim.SGD, 0.1, dict()),
    ("sgd_momentum", "SGD", torch.optim.SGD, 0.1, dict(momentum=0.9)),
    ("sgd_nesterov_wd", "SGD", torch.optim.SGD, 0.05,
     dict(momentum=0.8, nesterov=True, weight_decay=0.05)),
    ("adam", "ADAM", torch.optim.Adam, 0.01, dict(betas=(0.9, 0.999), eps=1e-8)),
    ("adam_wd", "ADAM", torch.optim.Adam, 0.02,
     dict(betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("adamw", "ADAMW", torch.optim.AdamW, 0.02,
     dict(betas=(0.85, 0.995), eps=1e-7, weight_decay=0.1)),
]


def step_lrs(base_lr):
    return [f32(base_lr * scale) for scale in LR_SCALE]


def run_case(cls, base_lr, kwargs):
    kwargs = dict(kwargs)
    for key in ("momentum", "weight_decay", "eps"):
        if key in kwargs:
            kwargs[key] = f32(kwargs[key])
    if "betas" in kwargs:
        kwargs["betas"] = tuple(f32(b) for b in kwargs["betas"])
    # Single-tensor code path, as for CPU by default in torch 1.13; stated for clarity.
    kwargs["foreach"] = False
    p = torch.tensor(P0, dtype=torch.float32, requires_grad=True)
    opt = cls([p], lr=f32(base_lr), **kwargs)
    after = []
    for k, lr in enumerate(step_lrs(base_lr)):
        opt.param_groups[0]["lr"] = lr
        p.grad = torch.tensor(GRADS[k], dtype=torch.float32)
        opt.step()
        after.append(p.detach().tolist())
    state = opt.state[p]
    m = state.get("momentum_buffer", state.get("exp_avg"))
    v = state.get("exp_avg_sq")
    return after, m, v


def c_config(kind, base_lr, kw):
    fields = [".kind = DDPC_OPTIMIZER_%s" % kind, ".lr = %s" % c_float(base_lr)]
    if "momentum" in kw:
        fields.append(".momentum = %s" % c_float(kw["momentum"]))
    if kw.get("nesterov"):
        fields.append(".nesterov = true")
    if "weight_decay" in kw:
        fields.append(".weight_decay = %s" % c_float(kw["weight_decay"]))
    if "betas" in kw:
        fields.append(".beta1 = %s" % c_float(kw["betas"][0]))
        fields.append(".beta2 = %s" % c_float(kw["betas"][1]))
    if "eps" in kw:
        fields.append(".eps = %s" % c_float(kw["eps"]))
    return "{" + ", ".join(fields) + "}"


def clip_reference(grads, max_norm, split):
    """torch.nn.utils.clip_grad_norm_ over the pieces of `grads` cut at `split`."""
    pieces = []
    start = 0
    for end in split + [len(grads)]:
        t = torch.zeros(end - start, requires_grad=True)
        t.grad = torch.tensor(grads[start:end], dtype=torch.float32)
        pieces.append(t)
        start = end
    norm = torch.nn.utils.clip_grad_norm_(pieces, max_norm)
    clipped = [x for t in pieces for x in t.grad.tolist()]
    return float(norm), clipped


def print_optim():
    print("#define REF_N %d" % N)
    print("#define REF_STEPS %d" % STEPS)
    print("static const float ref_p0[REF_N] = %s;" % c_array(P0))
    print("static const float ref_grads[REF_STEPS][REF_N] = %s;" % c_matrix(GRADS))
    print("typedef struct {")
    print("  const char *name;                  // configuration label")
    print("  ddpc_optimizer_config cfg;         // hyperparameters given to torch")
    print("  float lr[REF_STEPS];               // lr of each step (the schedule's value)")
    print("  float after[REF_STEPS][REF_N];     // params after each step")
    print("  bool has_m;                        // torch kept a momentum buffer / exp_avg")
    print("  float m[REF_N];                    // that state after the last step")
    print("  bool has_v;                        // torch kept exp_avg_sq")
    print("  float v[REF_N];                    // exp_avg_sq after the last step")
    print("} ref_optim_case;")
    print("static const ref_optim_case ref_optim_cases[] = {")
    for name, kind, cls, base_lr, kw in CASES:
        after, m, v = run_case(cls, base_lr, kw)
        print("  {\"%s\", %s," % (name, c_config(kind, base_lr, kw)))
        print("   %s," % c_array(step_lrs(base_lr)))
        print("   %s," % c_matrix(after, "    "))
        print("   %s, %s, %s, %s}," % (
            "true" if m is not None else "false",
            c_array(m.tolist() if m is not None else [0.0] * N),
            "true" if v is not None else "false",
            c_array(v.tolist() if v is not None else [0.0] * N)))
    print("};")

    # Clipping: a 37-element vector cut into three "parameters" (torch's norm is global),
    # at limits below the norm, above it, and at a norm that is exactly max_norm (torch
    # still scales by max_norm / (norm + 1e-6) there).
    long_grads = [f32(math.cos(0.37 * i) * (0.2 + 0.05 * (i % 5))) for i in range(37)]
    clip_cases = [
        (long_grads, 0.5, [10, 30]),
        (long_grads, 100.0, [10, 30]),
        ([f32(0.6), f32(0.8)], 1.0, []),
        ([f32(3.0), f32(-4.0), f32(12.0)], 6.5, [1]),
        ([f32(3.0), f32(-4.0), f32(12.0)], 13.0, [2]),
    ]
    print("#define REF_CLIP_MAX %d" % max(len(c[0]) for c in clip_cases))
    print("typedef struct {")
    print("  int n;                             // gradient elements")
    print("  float max_norm;                    // clip_grad_norm_'s max_norm")
    print("  double norm;                       // total norm torch returned")
    print("  float grads[REF_CLIP_MAX];         // before clipping")
    print("  float clipped[REF_CLIP_MAX];       // after clipping")
    print("} ref_clip_case;")
    print("static const ref_clip_case ref_clip_cases[] = {")
    for grads, max_norm, split in clip_cases:
        norm, clipped = clip_reference(grads, f32(max_norm), split)
        print("  {%d, %s, %.17g, %s, %s}," % (len(grads), c_float(max_norm), norm,
                                             c_array(grads), c_array(clipped)))
    print("};")


# ---------------------------------------------------------------- schedules

def torch_lrs(make_scheduler, base_lr, count):
    """lr of steps 0..count-1 from a torch scheduler stepped once per step."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = make_scheduler(opt)
    out = []
    for _ in range(count):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def warmup_lrs(base_lr, warmup):
    # LinearLR from 1/W to 1 over W-1 iterations gives base*(s+1)/W for s < W (W >= 2).
    return torch_lrs(lambda o: torch.optim.lr_scheduler.LinearLR(
        o, start_factor=1.0 / warmup, end_factor=1.0, total_iters=warmup - 1), base_lr, warmup)


def schedule_values(kind, base_lr, warmup, spe, total, step_size, gamma, min_lr, count):
    lrs = warmup_lrs(base_lr, warmup) if warmup > 0 else []
    if kind == "CONSTANT":
        lrs += [base_lr] * (count - warmup)
    elif kind == "STEP":
        # StepLR stepped once per epoch; the epoch of step s is s // spe, warmup included.
        epochs = (count - 1) // spe + 1
        per_epoch = torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(
            o, step_size=step_size, gamma=gamma), base_lr, epochs)
        lrs += [per_epoch[s // spe] for s in range(warmup, count)]
    elif kind == "COSINE":
        span = max(1, total - warmup)
        curve = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
            o, T_max=span, eta_min=min_lr), base_lr, span + 1)
        # Past total_steps the C schedule stays at min_lr (torch's would rise again).
        lrs += [curve[min(s - warmup, span)] for s in range(warmup, count)]
    return lrs


SCHEDULES = [
    # name, kind, base lr, warmup, steps/epoch, total, step_size, gamma, min_lr, steps shown
    ("constant_warmup", "CONSTANT", 0.1, 3, 5, 12, 1, 1.0, 0.0, 8),
    ("step_warmup", "STEP", 0.1, 2, 3, 30, 2, 0.5, 0.0, 20),
    ("step_plain", "STEP", 0.05, 0, 5, 40, 1, 0.1, 0.0, 16),
    ("cosine_warmup", "COSINE", 0.1, 4, 7, 20, 1, 1.0, 0.001, 23),
    ("cosine_plain", "COSINE", 0.02, 0, 3, 10, 1, 1.0, 0.0, 12),
]


def print_schedule():
    warnings.filterwarnings("ignore")
    print("#define REF_SCHEDULE_MAX %d" % max(c[-1] for c in SCHEDULES))
    print("typedef struct {")
    print("  const char *name;                  // schedule label")
    print("  ddpc_schedule_config cfg;          // shape and warmup")
    print("  float base_lr;                     // lr the schedule scales")
    print("  int64_t steps_per_epoch;           // for the step schedule's epoch")
    print("  int64_t total_steps;               // for the cosine's length")
    print("  int count;                         // steps listed in lr")
    print("  double lr[REF_SCHEDULE_MAX];       // lr of steps 0..count-1")
    print("} ref_schedule_case;")
    print("static const ref_schedule_case ref_schedule_cases[] = {")
    for name, kind, base, warmup, spe, total, step_size, gamma, min_lr, count in SCHEDULES:
        base, gamma, min_lr = f32(base), f32(gamma), f32(min_lr)
        lrs = schedule_values(kind, base, warmup, spe, total, step_size, gamma, min_lr, count)
        assert len(lrs) == count
        print("  {\"%s\", {.kind = DDPC_SCHEDULE_%s, .warmup_steps = %d, .step_size = %d, "
              ".gamma = %s, .min_lr = %s}, %s, %d, %d, %d," % (
                  name, kind, warmup, step_size, c_float(gamma), c_float(min_lr),
                  c_float(base), spe, total, count))
        print("   {%s}}," % ", ".join("%.17g" % v for v in lrs))
    print("};")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("optim", "schedule"):
        sys.exit("usage: optim_reference.py optim|schedule")
    print("/* generated by: /usr/bin/python3 tests/reference/optim_reference.py %s"
          " (torch %s) */" % (sys.argv[1], torch.__version__))
    print_optim() if sys.argv[1] == "optim" else print_schedule()
