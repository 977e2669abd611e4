"""Where a plate's cost per band pixel goes (issue 11): each tile's two stages — its
prior on a window as deep as its band (``classical.window_prior``: the closed-form solve)
and its refinement on its cell and margin (``FrameSolver._solve_window``) — with their
windows, unknown pixels and seconds, how many times the frame's band pixels are solved in
each stage (the deep windows overlap), and the part of the frame outside the tiles.

The plate is bench/plate_case.py's (``WxH/BAND/STRANDS`` as in bench_plate.py), solved
cold by the default preset, as 8-bit pixels. Tiles run one after another by default
(``--threads 1``: each stage's own cost, undisturbed); ``--threads 2`` runs them side by
side as the engine does on two cores and reports how much longer each took there than
alone (the same process, alternating, best of ``--repeat``).

Usage:
    python bench/profile_tiles.py [--size 1920x1080] [--threads 1 2] [--repeat 2] [--tiles 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_plate import parse_size, plate  # noqa: E402

from ofx_dipmatte import ClipSession  # noqa: E402
from ofx_dipmatte.engine import frame_solve  # noqa: E402

STAGES = ("prior", "refinement")


def solve_timed(image8: np.ndarray, trimap: np.ndarray, preset: str, threads: int) -> tuple[float, dict]:
    """One cold frame with tiles on ``threads`` threads: (frame seconds, (stage, window
    height, width, unknown pixels) → seconds)."""
    timings: dict = {}

    def timed(stage, call, window_trimap):
        start = time.perf_counter()
        result = call()
        h, w = window_trimap.shape
        timings[(stage, h, w, int((window_trimap == 0.5).sum()))] = time.perf_counter() - start
        return result

    solve_window, window_prior = frame_solve.FrameSolver._solve_window, frame_solve.window_prior

    def refinement(self, frame, window, padded, *args, **kwargs):
        return timed("refinement", lambda: solve_window(self, frame, window, padded, *args, **kwargs),
                     padded.trimap_mirrored[window.slices])

    def prior(cfg, image, trimap, *args, **kwargs):
        return timed("prior", lambda: window_prior(cfg, image, trimap, *args, **kwargs), trimap)

    workers = frame_solve.tile_workers
    frame_solve.FrameSolver._solve_window = refinement  # type: ignore[method-assign]
    frame_solve.window_prior = prior
    frame_solve.tile_workers = lambda: threads
    try:
        start = time.perf_counter()
        ClipSession(preset, device="cpu").matte(0, image8, trimap)
        return time.perf_counter() - start, timings
    finally:
        frame_solve.FrameSolver._solve_window = solve_window  # type: ignore[method-assign]
        frame_solve.window_prior = window_prior
        frame_solve.tile_workers = workers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1920x1080", help="WxH, or WxH/BAND/STRANDS (bench_plate.py)")
    ap.add_argument("--preset", default="balanced")
    ap.add_argument("--threads", type=int, nargs="+", default=[1], help="tiles side by side (each count run)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each thread count (best frame kept)")
    ap.add_argument("--tiles", type=int, default=10, help="the slowest tiles listed")
    args = ap.parse_args()
    width, height, band, strands = parse_size(args.size)
    image, trimap, _ = plate(width, height, band, strands)
    image8 = np.round(image * 255).astype(np.uint8)
    band_pixels = int((trimap == 0.5).sum())
    best: dict[int, tuple[float, dict]] = {}
    for _ in range(args.repeat):
        for threads in args.threads:
            seconds, tiles = solve_timed(image8, trimap, args.preset, threads)
            if threads not in best or seconds < best[threads][0]:
                best[threads] = (seconds, tiles)
    for threads, (seconds, timings) in best.items():
        busy = sum(timings.values())
        print(f"{args.size}, {args.preset}, tiles on {threads} thread(s): frame {seconds:.2f} s, "
              f"tiles busy {busy:.2f} s in all, {seconds - busy / threads:.2f} s of the frame outside them "
              f"(at best); band {band_pixels / 1e6:.3f} Mpx")
        for stage in STAGES:
            parts = {key: s for key, s in timings.items() if key[0] == stage}
            solved = sum(key[3] for key in parts)
            print(f"  {stage}: {len(parts)} windows, {sum(parts.values()):.2f} s, {solved / 1e6:.3f} Mpx of unknowns "
                  f"({solved / max(band_pixels, 1):.2f}× the band), "
                  f"{sum(parts.values()) / max(solved, 1) * 1e6:.1f} µs per unknown")
        print("| stage | window | unknowns | s | µs per unknown |\n|---|---|---|---|---|")
        for (stage, h, w, unknown), s in sorted(timings.items(), key=lambda item: -item[1])[:args.tiles]:
            print(f"| {stage} | {h}×{w} | {unknown} | {s:.3f} | {s / max(unknown, 1) * 1e6:.1f} |")
    if 1 in best and len(best) > 1:
        alone = best[1][1]
        for threads, (_, timings) in best.items():
            if threads != 1:
                ratios = sorted(timings[key] / alone[key] for key in timings if key in alone)
                print(f"each stage of a tile on {threads} threads against alone: median {np.median(ratios):.3f}×, "
                      f"{ratios[0]:.3f}–{ratios[-1]:.3f}×")


if __name__ == "__main__":
    main()
