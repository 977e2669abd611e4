"""Subjects shot against a green or blue screen: the most common plate a VFX matte is pulled
from, and one the dev set has none of.

Every case in the given folders that has a foreground (fg.png) keeps its foreground,
alpha and trimap, and is composited over an evenly lit screen instead of its background:
the screen's colour with a lighting gradient of ±8 % across the frame and grain of σ 0.01,
quantised to 8 bits as the dev set is (composited in its display-referred values). No spill:
the subject's colours are its own. Written in the dev layout (image, trimap, alpha, fg, bg
PNGs per case), so every bench script reads them like dev256.

Usage:
    python bench/make_screens.py OUT_DIR DATA_DIR [DATA_DIR ...] [--seed 5]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from make_recomposites import read, write_case

#: Screen colours (display-referred RGB) as a studio lights them.
SCREENS = {"green": (0.15, 0.55, 0.2), "blue": (0.1, 0.2, 0.55)}
#: The light's fall-off across the frame (a share of the screen's colour, each diagonal way).
GRADIENT = 0.08
GRAIN = 0.01


def screen(colour: tuple[float, float, float], height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """An evenly lit screen of ``colour``: a gentle gradient and grain."""
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    light = 1.0 + GRADIENT * (xx - 0.5) - GRADIENT * (yy - 0.5)
    return np.array(colour, np.float32) * light[..., None] + rng.normal(0.0, GRAIN, (height, width, 3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("data", nargs="+", type=Path, help="folders of cases with fg.png (dev256, make_kinds.py's …)")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    for root in args.data:
        for case in sorted(p.parent for p in root.glob("*/fg.png")):
            alpha = read(case / "alpha.png")[..., 0]
            fg = read(case / "fg.png")[..., :3]
            for name, colour in SCREENS.items():
                bg = screen(colour, *alpha.shape, rng)
                folder = args.out / f"{root.name}_{case.name}_{name}"
                write_case(folder, alpha, fg, bg, read(case / "trimap.png")[..., 0])
                print(folder)


if __name__ == "__main__":
    main()
