"""Plate-sized cases from the dev stills: each case's foreground, background and alpha
enlarged (bicubic) by a whole factor and composited again, its trimap enlarged as it is
(nearest pixel). Written in the dev layout, so `bench/bench.py` reads them like dev256.

Why: the synthetic plates of `bench/plate_case.py` have one smooth foreground colour and
1 px strands; the dev stills have real hair, smoke and motion blur but are 256² and 512².
Enlarged, their bands are as many times deeper as the frame is larger, as a plate's are:
the frame is tiled (`engine/tiles.py`) and each tile sees only part of its band. The
strands are softer than a real plate's, so the quality figures stand for deep bands, not
for fine detail.

Usage:
    python bench/make_enlarged.py ../shared/data/dev256 OUT_DIR [--factor 4] [--cases smoke hair_a]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy import ndimage

from make_recomposites import read, write_case
from ofx_dipmatte.trimap import snap_trimap


def enlarge(pixels: np.ndarray, factor: int) -> np.ndarray:
    """H×W×C in [0, 1], ``factor`` times larger each side, bicubic, clipped to [0, 1]."""
    return np.clip(ndimage.zoom(pixels, (factor, factor, 1), order=3, grid_mode=True, mode="grid-mirror"), 0, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dev", type=Path, help="a dev folder (dev256, dev512)")
    ap.add_argument("out", type=Path)
    ap.add_argument("--factor", type=int, default=4)
    ap.add_argument("--cases", nargs="+", help="default: every still of the folder")
    args = ap.parse_args()
    cases = args.cases or sorted(p.name for p in args.dev.iterdir() if (p / "fg.png").exists())
    for case in cases:
        source = args.dev / case
        alpha = enlarge(read(source / "alpha.png")[..., :1], args.factor)
        fg = enlarge(read(source / "fg.png")[..., :3], args.factor)
        bg = enlarge(read(source / "bg.png")[..., :3], args.factor)
        trimap = np.kron(snap_trimap(read(source / "trimap.png")[..., 0]), np.ones((args.factor, args.factor)))
        folder = args.out / f"{case}_x{args.factor}"
        write_case(folder, alpha[..., 0], fg, bg, trimap)
        print(folder, trimap.shape[1], "x", trimap.shape[0])


if __name__ == "__main__":
    main()
