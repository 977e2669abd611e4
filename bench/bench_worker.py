"""What the separate-process engine costs: one 1920×1080 float RGBA frame through the
worker (``python -m ofx_dipmatte.worker``) against the engine in the host process.

Both engines run the same plugin binary in our OFX test host (filter context, the
Source alpha is the trimap). For each engine: a cold frame, a warm next frame (the
subject moved 2 px), then the warm frame again, which the instance's cache answers
without solving — so that last render is the pure cost of getting the frame to the
engine and the result back. The transfer time is the worker's cached render minus
the in-process one (same hashing and output formatting on both sides; only the
shared-memory copies, the socket messages and the worker's views differ), reported in
ms and as a share of the warm frame's solve.

    python bench/bench_worker.py [--preset draft] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from ofx_layout import to_host  # noqa: E402

ENGINES = {"in host process": 1, "separate process": 2}  # the Engine parameter's choices
PRESETS = ["draft", "balanced", "paper", "dip"]  # the plugin's Quality choice order


def plate(width: int, height: int, shift: float, band: int = 8, seed: int = 0) -> np.ndarray:
    """A float RGBA plate: a wavy-edged subject over a gradient, the trimap in its alpha."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy, r = width / 2 + shift, height / 2, height * 0.3
    angle = np.arctan2(yy - cy, xx - cx)
    dist = np.hypot(yy - cy, xx - cx) - (r + 6 * np.sin(angle * 40))
    alpha = np.clip(0.5 - dist / 4, 0, 1)
    fg = np.stack([0.8 - 0.1 * yy / height, 0.5 + 0.1 * xx / width, 0.3 * np.ones_like(xx)], -1)
    bg = np.stack([0.1 + 0.3 * xx / width, 0.3 * np.ones_like(xx), 0.7 - 0.3 * yy / height], -1)
    rgb = alpha[..., None] * fg + (1 - alpha[..., None]) * bg + rng.normal(0, 0.01, fg.shape)
    trimap = np.where(dist < -band, 1.0, np.where(dist > band, 0.0, 0.5))
    return np.dstack([rgb, trimap]).astype(np.float32)


def run_engine(host, engine: int, frames: list[np.ndarray], preset: str, repeats: int) -> dict:
    inst = host.create_instance("OfxImageEffectContextFilter")
    host.set_param(inst, "preset", PRESETS.index(preset))
    host.set_param(inst, "engine", engine)
    times = []
    for t, frame in enumerate(frames):
        host.set_image(inst, "Source", float(t), **to_host(frame))
        start = time.perf_counter()
        if host.render(inst, float(t)) != 0:
            raise SystemExit(f"render failed: {host.persistent_message(inst)}")
        times.append(time.perf_counter() - start)
    cached = []
    for _ in range(repeats):
        start = time.perf_counter()
        host.render(inst, float(len(frames) - 1))
        cached.append(time.perf_counter() - start)
    output = host.output(inst)
    host.destroy_instance(inst)
    return {"cold s": times[0], "warm s": times[1], "cached ms": 1e3 * statistics.median(cached), "output": output}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="draft", choices=PRESETS)
    ap.add_argument("--repeats", type=int, default=5, help="cached renders timed (the median is kept)")
    ap.add_argument("--size", default="1920x1080")
    args = ap.parse_args()
    from ofx_dipmatte.ofx import ENV_OVERRIDE, _testhost, bundle_path
    from ofx_dipmatte.ofx.install import record_environment

    # The worker starts from the recorded environment: this one, as install-plugin records it.
    record = Path(tempfile.mkdtemp()) / "python_env.cfg"
    record.write_text(record_environment())
    os.environ[ENV_OVERRIDE] = str(record)
    width, height = (int(v) for v in args.size.split("x"))
    frames = [plate(width, height, 0.0), plate(width, height, 2.0)]
    host = _testhost.Host(str(bundle_path()))
    results = {name: run_engine(host, engine, frames, args.preset, args.repeats) for name, engine in ENGINES.items()}
    same = results["in host process"]["output"] == results["separate process"]["output"]
    transfer = results["separate process"]["cached ms"] - results["in host process"]["cached ms"]
    warm = results["separate process"]["warm s"]
    print(f"## One {width}×{height} float RGBA frame: worker vs in process (preset {args.preset})\n")
    print("| engine | cold frame s | warm frame s | cached re-render ms |")
    print("|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['cold s']:.1f} | {r['warm s']:.1f} | {r['cached ms']:.1f} |")
    print(f"\nTransfer through the worker: {transfer:.1f} ms per frame "
          f"({100 * transfer / 1e3 / warm:.2f} % of the worker's warm frame); outputs identical: {same}")


if __name__ == "__main__":
    main()
