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
4. ``--batches 1 4 16``: `draft` tiles of that window fitted as one batch
   (engine/batched_fit.py) against a lone fit, seconds a step and a tile.

``--device cuda``: the same on a GPU (a larger peak test; kernels timed on the device;
the convolutions' share from their kernels' device time; no thread settings).

Usage:
    python bench/profile_step.py [--size 256] [--steps 10] [--device cpu] [--batches 1 4 16] [--markdown FILE]
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
from ofx_dipmatte.engine.batched_fit import TileJob, fit_batch_within_memory  # noqa: E402
from ofx_dipmatte.engine.solver import Nets, WindowInputs, fit  # noqa: E402


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_flops(dtype: torch.dtype, device: torch.device, repeats: int = 5) -> dict:
    # Large enough that launch overhead does not count: 2048² on a CPU, 8192² on a GPU.
    n, batch = (8192, 16) if device.type == "cuda" else (2048, 1)
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    x = torch.randn(batch, 64, 256, 256, device=device).to(memory_format=torch.channels_last, dtype=dtype)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(device=device, memory_format=torch.channels_last, dtype=dtype)

    def best(fn, flops):
        fn()
        times = []
        for _ in range(repeats):
            _synchronize(device)
            start = time.perf_counter()
            fn()
            _synchronize(device)
            times.append(time.perf_counter() - start)
        return flops / min(times)

    with torch.no_grad():
        mm = best(lambda: a @ b, 2 * n ** 3)
        cv = best(lambda: conv(x), 2 * 64 * 64 * 9 * 256 * 256 * batch)
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
    device = next(nets.image_alpha.parameters()).device  # a fit left them there
    with torch.no_grad():
        nets.image_alpha(inputs.noise_image_alpha.to(device))
        nets.fg(inputs.noise_fg.to(device))
        nets.bg(inputs.noise_bg.to(device))
    for h in handles:
        h.remove()
    return 3.0 * total[0]


def step_seconds(cfg, inputs: WindowInputs, steps: int, device: torch.device, compiled: bool = False) -> float:
    """Seconds per step (a fit reads its losses back every step, so the device is in step)."""
    nets = Nets.build(cfg, 0)
    if compiled:
        for net in nets.modules():
            net.forward = torch.compile(net.forward)
    fit(nets, inputs, cfg, device, 3, None)  # warm-up: allocator, oneDNN / cuDNN kernels
    _synchronize(device)
    start = time.perf_counter()
    fit(nets, inputs, cfg, device, steps, None)
    _synchronize(device)
    return (time.perf_counter() - start) / steps


def batch_rows(size: int, steps: int, device: torch.device, batches: list[int]) -> list[dict]:
    """``draft`` on a size² window: a lone fit's step, then batches of each size's."""
    cfg = PRESETS["draft"]
    inputs = window_inputs(size, cfg)
    rows = [{"case": "draft, lone fit", "tiles": 1, "step s": step_seconds(cfg, inputs, steps, device)}]
    for batch in batches:
        def run(cap: int) -> float:
            jobs = [TileJob(Nets.build(cfg, i), inputs, cap, None) for i in range(batch)]
            _synchronize(device)
            start = time.perf_counter()
            fit_batch_within_memory(jobs, cfg, device, None)  # a batch of one is fitted alone
            _synchronize(device)
            return time.perf_counter() - start

        run(2)  # warm-up
        rows.append({"case": f"draft, batch of {batch}", "tiles": batch, "step s": run(steps) / steps})
    for row in rows:
        row["s a tile-step"] = row["step s"] / row["tiles"]
    return rows


#: The leaf convolution ops whose (device) time is the convolutions' on a GPU: their
#: kernels' names are cuDNN's own and say nothing of convolution.
CUDA_CONV_OPS = ("aten::cudnn_convolution", "aten::convolution_backward")


def profile(cfg, inputs: WindowInputs, steps: int, device: torch.device) -> tuple[dict, list]:
    from torch.profiler import ProfilerActivity, profile as torch_profile

    on_gpu = device.type == "cuda"
    nets = Nets.build(cfg, 0)
    fit(nets, inputs, cfg, device, 3, None)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    with torch_profile(activities=activities) as prof:
        _synchronize(device)
        start = time.perf_counter()
        fit(nets, inputs, cfg, device, steps, None)
        _synchronize(device)
        wall = time.perf_counter() - start
    events = prof.key_averages()

    def own(e) -> float:  # seconds of the event itself, on the device that ran it
        return (getattr(e, "self_device_time_total", 0.0) if on_gpu else e.self_cpu_time_total) / 1e6

    ranked = sorted(events, key=lambda e: -own(e))
    top = [{"case": e.key, "share of step": own(e) / wall, "calls per step": e.count / steps} for e in ranked[:12]]
    if on_gpu:
        conv = sum(getattr(e, "device_time_total", 0.0) for e in events if e.key in CUDA_CONV_OPS) / 1e6
        busy = sum(own(e) for e in events)
    else:
        # Leaf kernels only (self time), so nothing is counted twice.
        conv = sum(e.self_cpu_time_total for e in events if "conv" in e.key and "transpose" not in e.key) / 1e6
        busy = wall
    flops = conv_flops_per_step(nets, inputs) * steps
    return {"step s (profiled)": wall / steps, "device busy share": busy / wall, "conv share": conv / wall,
            "conv GFLOP/s achieved": flops / max(conv, 1e-9) / 1e9}, top


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (minutes to compile here)")
    ap.add_argument("--batches", type=int, nargs="*", default=[],
                    help="also time draft tiles fitted as batches of these sizes")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    where = torch.cuda.get_device_name(device) if on_gpu else f"{torch.get_num_threads()} threads"
    rows = [{"case": "peak, float32", **peak_flops(torch.float32, device)},
            {"case": "peak, bfloat16", **peak_flops(torch.bfloat16, device)}]
    text = markdown(rows, f"Machine peak ({where})")
    base = PRESETS["dip"]
    inputs = window_inputs(args.size, base)
    prof, top = profile(base, inputs, args.steps, device)
    text += "\n" + markdown([{"case": f"dip, {args.size}² window", **prof}], "One DIP step, profiled")
    text += "\n" + markdown(top, "The step's largest operators (self time)")
    variants = {
        "dip (bf16, channels_last)": base,
        "float32": base.replace(bf16=False),
        "contiguous (not channels_last)": base.replace(channels_last=False),
        "float32, contiguous": base.replace(bf16=False, channels_last=False),
    }
    threads = torch.get_num_threads()
    rows = []
    for label, cfg in variants.items():
        rows.append({"case": label, "threads": threads, "step s": step_seconds(cfg, inputs, args.steps, device)})
    try:
        if args.no_compile:
            raise RuntimeError("skipped (--no-compile)")
        rows.append({"case": "torch.compile (inductor)", "threads": threads,
                     "step s": step_seconds(base, inputs, args.steps, device, compiled=True)})
    except Exception as error:  # no C++ compiler, or an op inductor cannot lower here
        print(f"torch.compile failed here: {type(error).__name__}: {str(error)[:200]}", file=sys.stderr)
    if not on_gpu:
        torch.set_num_threads(1)
        rows.append({"case": "dip, 1 thread", "threads": 1,
                     "step s": step_seconds(base, inputs, args.steps, device)})
        torch.set_num_threads(threads)
    base_step = rows[0]["step s"]
    for row in rows:
        row["× dip"] = row["step s"] / base_step
    text += "\n" + markdown(rows, "Step time by setting")
    if args.batches:
        text += "\n" + markdown(batch_rows(args.size, args.steps, device, args.batches),
                                 f"Tiles fitted as one batch ({args.size}² windows)")
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
