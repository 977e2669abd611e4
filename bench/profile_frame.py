"""Where one cold frame's time goes, by the engine's compiled kernels and the stages that
call them (issue 11): the default preset on bench/plate_case.py's plates, under cProfile,
the tiles one after another (``OMP_NUM_THREADS=1``, so every tile's calls are seen on the
profiled thread). Each size runs in a fresh process of its own. The seconds are the
frame's on one thread: about twice what two cores take (the tiles run side by side there).

Usage:
    python bench/profile_frame.py [--sizes 1920x1080 3840x2160 7680x4320] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Row label → the profiled functions whose cumulative time it is (file:function suffixes).
STAGES = {
    "closed-form's Cholesky solves": ("solve_spd",),
    "the Laplacian's rows": ("laplacian_rows",),
    "their split into unknown and known columns": ("split_band",),
    "the refinement's conjugate gradients": ("conjugate_gradients",),
    "the colour estimates": ("colour_estimate.py:estimate_colours",),
    "known samples (tiles that keep a smooth matte)": ("information_flow.py:term",),
}


def profile_one(size: str) -> dict:
    """One cold frame of ``size`` (WxH) under cProfile, in this process: its seconds, band
    megapixels and each stage's cumulative seconds."""
    import cProfile
    import pstats

    import numpy as np

    sys.path.insert(0, str(HERE))
    from bench_plate import parse_size, plate

    import ofx_dipmatte

    width, height, band, strands = parse_size(size)
    image, trimap, _ = plate(width, height, band, strands)
    image8 = np.round(image * 255).astype(np.uint8)
    profiler = cProfile.Profile()
    profiler.enable()
    result = ofx_dipmatte.matte(image8, trimap)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    seconds = {label: 0.0 for label in STAGES}
    for (path, _, function), (_, _, _, cumulative, _) in stats.items():
        where = f"{Path(path).name}:{function}".rstrip(">")  # a kernel: "~:<built-in method …solve_spd>"
        for label, names in STAGES.items():
            if any(where.endswith(name) for name in names):
                seconds[label] += cumulative
    return {"size": size, "seconds": result.stats.seconds, "band Mpx": float((trimap == 0.5).sum()) / 1e6,
            "tiles": result.stats.tiles, "stages": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["1920x1080", "3840x2160"])
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a worker process: profile this size, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(profile_one(args.one)))
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rows = []
    for size in args.sizes:
        print(f"{size} ...", file=sys.stderr, flush=True)
        out = subprocess.run([sys.executable, __file__, "--one", size], env=env, check=True,
                             capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    head = "| stage | " + " | ".join(f"{r['size']} ({r['seconds']:.1f} s, {r['band Mpx']:.2f} band Mpx, "
                                     f"{r['tiles']} tiles)" for r in rows) + " |"
    lines = [head, "|---" * (len(rows) + 1) + "|"]
    for label in STAGES:
        lines.append(f"| {label} | " + " | ".join(f"{r['stages'][label]:.2f}" for r in rows) + " |")
    lines.append("| the rest | " + " | ".join(f"{r['seconds'] - sum(r['stages'].values()):.2f}" for r in rows) + " |")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")


if __name__ == "__main__":
    main()
