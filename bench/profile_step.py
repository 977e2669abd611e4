"""Where a DIP optimisation step's time goes (issue 11), and how close its convolutions
come to what this machine can do.

1. The machine's peak: a large float32 matmul and a large 3×3 convolution, timed
   (FLOP/s), in float32 and bfloat16.
2. One window of the `dip` preset (three nets, Adam) profiled with torch.profiler over
   a few steps: the share of the step in convolution kernels (forward and backward),
   and their achieved FLOP/s, counted from every Conv2d's shape (forward 2·Cin·Cout·k²·H·W
   per image; backward about twice that).
3. The same step under the settings worth trying: bf16 autocast on/off, channels_last
   on/off, 1 vs all threads, and `torch.compile` when it compiles here.

Usage:
    python bench/profile_step.py [--size 256] [--steps 10] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import markdown  # noqa: E402

from ofx_dipmatte import PRESETS  # noqa: E402
from ofx_dipmatte.engine.solver import Nets, WindowInputs, fit  # noqa: E402


def peak_flops(dtype: torch.dtype, repeats: int = 5) -> dict:
    a = torch.randn(2048, 2048, dtype=dtype)
    b = torch.randn(2048, 2048, dtype=dtype)
    x = torch.randn(1, 64, 256, 256).to(memory_format=torch.channels_last, dtype=dtype)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(memory_format=torch.channels_last, dtype=dtype)

    def best(fn, flops):
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return flops / min(times)

    with torch.no_grad():
        mm = best(lambda: a @ b, 2 * 2048 ** 3)
        cv = best(lambda: conv(x), 2 * 64 * 64 * 9 * 256 * 256)
    return {"matmul GFLOP/s": mm / 1e9, "conv 64→64 3×3 GFLOP/s": cv / 1e9}


def window_inputs(size: int, cfg) -> WindowInputs:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    trimap = np.where(r < size * 0.25, 1.0, np.where(r < size * 0.4, 0.5, 0.0)).astype(np.float32)
    small = size // cfg.fb_scale
    gen = torch.Generator().manual_seed(0)
    return WindowInputs(
        image=rng.random((size, size, 3)).astype(np.float32), trimap=trimap, valid=np.ones((size, size), bool),
        noise_image_alpha=torch.rand((1, cfg.noise_channels, size, size), generator=gen) * 0.1,
        noise_fg=torch.rand((1, cfg.noise_channels, small, small), generator=gen) * 0.1,
        noise_bg=torch.rand((1, cfg.noise_channels, small, small), generator=gen) * 0.1,
        prior=np.clip(1.5 - r / (size * 0.3), 0, 1).astype(np.float32),
    )


def conv_flops_per_step(nets: Nets, inputs: WindowInputs) -> float:
    """Forward FLOPs of every Conv2d in one pass of the three nets, ×3 for forward + backward."""
    total = [0.0]

    def hook(module, args, output):
        k = module.kernel_size[0] * module.kernel_size[1]
        total[0] += 2.0 * module.in_channels * module.out_channels * k * output.shape[-1] * output.shape[-2] \
            / module.groups

    handles = [m.register_forward_hook(hook) for net in nets.modules() for m in net.modules()
               if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        nets.image_alpha(inputs.noise_image_alpha)
        nets.fg(inputs.noise_fg)
        nets.bg(inputs.noise_bg)
    for h in handles:
        h.remove()
    return 3.0 * total[0]


def step_seconds(cfg, inputs: WindowInputs, steps: int, compiled: bool = False) -> float:
    nets = Nets.build(cfg, 0)
    if compiled:
        for net in nets.modules():
            net.forward = torch.compile(net.forward)
    fit(nets, inputs, cfg, torch.device("cpu"), 3, None)  # warm-up: allocator, oneDNN kernels
    start = time.perf_counter()
    fit(nets, inputs, cfg, torch.device("cpu"), steps, None)
    return (time.perf_counter() - start) / steps


def profile(cfg, inputs: WindowInputs, steps: int) -> dict:
    from torch.profiler import ProfilerActivity, profile as torch_profile

    nets = Nets.build(cfg, 0)
    fit(nets, inputs, cfg, torch.device("cpu"), 3, None)
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        fit(nets, inputs, cfg, torch.device("cpu"), steps, None)
        wall = time.perf_counter() - start
    conv = 0.0
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    top = [{"case": e.key, "share of step": e.self_cpu_time_total / 1e6 / wall, "calls per step": e.count / steps}
           for e in events[:12]]
    for event in prof.key_averages():
        name = event.key
        # Leaf kernels only (self time), so nothing is counted twice.
        if "conv" in name and "transpose" not in name:
            conv += event.self_cpu_time_total / 1e6
    flops = conv_flops_per_step(nets, inputs) * steps
    return {"step s (profiled)": wall / steps, "conv share": conv / wall,
            "conv GFLOP/s achieved": flops / max(conv, 1e-9) / 1e9}, top


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (minutes to compile here)")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    threads = torch.get_num_threads()
    rows = [{"case": "peak, float32", **peak_flops(torch.float32)},
            {"case": "peak, bfloat16", **peak_flops(torch.bfloat16)}]
    text = markdown(rows, f"Machine peak ({threads} threads)")
    base = PRESETS["dip"]
    inputs = window_inputs(args.size, base)
    prof, top = profile(base, inputs, args.steps)
    text += "\n" + markdown([{"case": f"dip, {args.size}² window", **prof}], "One DIP step, profiled")
    text += "\n" + markdown(top, "The step's largest operators (self time)")
    variants = {
        "dip (bf16, channels_last)": base,
        "float32": base.replace(bf16=False),
        "contiguous (not channels_last)": base.replace(channels_last=False),
        "float32, contiguous": base.replace(bf16=False, channels_last=False),
    }
    rows = []
    for label, cfg in variants.items():
        rows.append({"case": label, "threads": threads, "step s": step_seconds(cfg, inputs, args.steps)})
    try:
        if args.no_compile:
            raise RuntimeError("skipped (--no-compile)")
        rows.append({"case": "torch.compile (inductor)", "threads": threads,
                     "step s": step_seconds(base, inputs, args.steps, compiled=True)})
    except Exception as error:  # no C++ compiler, or an op inductor cannot lower here
        print(f"torch.compile failed here: {type(error).__name__}: {str(error)[:200]}", file=sys.stderr)
    torch.set_num_threads(1)
    rows.append({"case": "dip, 1 thread", "threads": 1, "step s": step_seconds(base, inputs, args.steps)})
    torch.set_num_threads(threads)
    base_step = rows[0]["step s"]
    for row in rows:
        row["× dip"] = row["step s"] / base_step
    text += "\n" + markdown(rows, "Step time by setting")
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
