"""Where a plate's cost per band pixel goes (issue 11): each tile's window, unknown
pixels and seconds, how many times the frame's band pixels are solved over all windows
(the deep contexts overlap), and the part of the frame outside the tiles.

The plate is bench/plate_case.py's (``WxH/BAND/STRANDS`` as in bench_plate.py), solved
cold by the default preset, as 8-bit pixels. Tiles run one after another by default
(``--threads 1``: each tile's own cost, undisturbed); ``--threads 2`` runs them side by
side as the engine does on two cores and reports how much longer each tile took there
than alone (the same process, alternating, best of ``--repeat``). Each tile is timed
around ``ClipSession._solve_window``, the engine's one call per tile.

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
from ofx_dipmatte.engine import clip as engine_clip  # noqa: E402


def solve_timed(image8: np.ndarray, trimap: np.ndarray, preset: str, threads: int) -> tuple[float, dict]:
    """One cold frame with tiles on ``threads`` threads: (frame seconds, cell → (window
    height, width, unknown pixels, seconds))."""
    tiles: dict = {}
    solve_window = engine_clip.ClipSession._solve_window

    def timed(self, frame, window, padded, *args, **kwargs):
        start = time.perf_counter()
        result = solve_window(self, frame, window, padded, *args, **kwargs)
        unknown = int((padded.trimap_mirrored[window.slices] == 0.5).sum())
        tiles[window.cell] = (window.height, window.width, unknown, time.perf_counter() - start)
        return result

    workers = engine_clip.tile_workers
    engine_clip.ClipSession._solve_window = timed  # type: ignore[method-assign]
    engine_clip.tile_workers = lambda: threads
    try:
        start = time.perf_counter()
        ClipSession(preset, device="cpu").matte(0, image8, trimap)
        return time.perf_counter() - start, tiles
    finally:
        engine_clip.ClipSession._solve_window = solve_window  # type: ignore[method-assign]
        engine_clip.tile_workers = workers


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
    for threads, (seconds, tiles) in best.items():
        busy = sum(t[3] for t in tiles.values())
        solved = sum(t[2] for t in tiles.values())
        print(f"{args.size}, {args.preset}, tiles on {threads} thread(s): frame {seconds:.2f} s, "
              f"{len(tiles)} tiles busy {busy:.2f} s in all, {seconds - busy / threads:.2f} s of the frame "
              f"outside them (at best); band {band_pixels / 1e6:.3f} Mpx, solved {solved / 1e6:.3f} Mpx of "
              f"unknowns ({solved / max(band_pixels, 1):.2f}× the band), {busy / max(solved, 1) * 1e6:.1f} µs "
              f"per unknown")
        print("| window | unknowns | s | µs per unknown |\n|---|---|---|---|")
        for h, w, unknown, s in sorted(tiles.values(), key=lambda t: -t[3])[:args.tiles]:
            print(f"| {h}×{w} | {unknown} | {s:.3f} | {s / max(unknown, 1) * 1e6:.1f} |")
    if 1 in best and len(best) > 1:
        alone = best[1][1]
        for threads, (_, tiles) in best.items():
            if threads != 1:
                ratios = sorted(tiles[c][3] / alone[c][3] for c in tiles if c in alone)
                print(f"each tile on {threads} threads against alone: median {np.median(ratios):.3f}×, "
                      f"{ratios[0]:.3f}–{ratios[-1]:.3f}×")


if __name__ == "__main__":
    main()
