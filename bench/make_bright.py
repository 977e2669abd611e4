"""Subjects by brightness: a disc with a wavy soft edge (the recipe of
``../shared/tools/natron_check.py``'s test image: a 4 px ramp whose radius wiggles with
strands of 23–89 cycles a turn) over a textured background, in six foreground colours, at
two sizes and three seeds. Written in the dev layout (image, trimap, alpha, fg, bg PNGs per
case), so every bench script reads them like dev256.

Why: a pale subject whose brightest channel lies just below white (blonde hair, a white
shirt, skin under a key light) is common on plates, and the dev set has none. The colour
estimates are bounded by a brightest value; where that bound sat at 1 instead of the
frame's own brightest value, F overshot in the band and the matte came out thin
(docs/benchmarks.md, *Bright subjects*).

- *peach*: natron_check.py's colours, red 0.95 throughout, green and blue falling outward;
- *white*, *blonde*: pale, every channel 0.5–0.97;
- *green*: a saturated colour, its brightest channel 0.9;
- *dark*: a near-black subject over a background lifted by 0.25;
- *rim*: lit from behind: 0.55 of its edge brightness inside the known foreground, rising
  over the last 20 px to the edge's (0.95, 0.8, 0.55); its brightest colours are seen only
  in the band.

Usage:
    python bench/make_bright.py OUT_DIR [--seed 0] [--seeds 3]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from make_recomposites import write


def _colours(name: str, dist: np.ndarray, r: float, angle: np.ndarray) -> np.ndarray:
    """The foreground colour (H×W×3) of subject ``name`` at each pixel's distance from the centre."""
    flat = np.zeros_like(dist)
    if name == "peach":
        return np.stack([0.95 + flat, 0.85 - 0.2 * dist / r, 0.6 + 0.1 * np.cos(angle)], -1)
    if name == "white":
        return np.stack([0.97 + flat, 0.95 + flat, 0.9 - 0.05 * dist / r], -1)
    if name == "blonde":
        return np.stack([0.9 + flat, 0.78 - 0.05 * dist / r, 0.5 + flat], -1)
    if name == "green":
        return np.stack([0.2 + flat, 0.9 - 0.1 * dist / r, 0.3 + 0.05 * np.cos(angle)], -1)
    if name == "dark":
        return np.stack([0.08 + flat, 0.06 + flat, 0.04 + 0.02 * np.cos(angle)], -1)
    if name == "rim":
        lit = 0.55 + 0.45 * np.clip((dist - (r - 20)) / 20, 0, 1)
        return np.array([0.95, 0.8, 0.55]) * lit[..., None]
    raise ValueError(name)


SUBJECTS = ("peach", "white", "blonde", "green", "dark", "rim")


def make_case(name: str, size: int, seed: int) -> dict[str, np.ndarray]:
    """image, trimap, alpha, fg, bg (H×W(×3) floats in [0, 1]) of one subject."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    c, r = size / 2.0, size * 0.28
    angle, dist = np.arctan2(yy - c, xx - c), np.hypot(yy - c, xx - c)
    strands = sum(rng.uniform(0.5, 2.0) * np.sin(k * angle + rng.uniform(0, 2 * np.pi)) for k in (23, 37, 51, 67, 89))
    alpha = np.clip((r + 0.8 * strands - dist) / 4.0 + 0.5, 0.0, 1.0)
    bg = np.stack([0.25 + 0.35 * xx / size, 0.35 + 0.25 * yy / size, 0.55 - 0.2 * xx / size], -1)
    bg = bg * (0.8 + 0.2 * (((xx // 16) + (yy // 16)) % 2)[..., None]) + rng.normal(0, 0.03, (size, size, 3))
    bg = np.clip(bg + (0.25 if name == "dark" else 0.0), 0, 1)
    fg = np.clip(_colours(name, dist, r, angle), 0, 1)
    image = np.clip(alpha[..., None] * fg + (1 - alpha[..., None]) * bg, 0, 1)
    trimap = np.full((size, size), 0.5)
    trimap[dist < r - 12] = 1.0
    trimap[dist > r + 12] = 0.0
    return {"image": image, "trimap": trimap, "alpha": alpha, "fg": fg, "bg": bg}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=0, help="the first seed")
    ap.add_argument("--seeds", type=int, default=3, help="how many seeds, from --seed")
    args = ap.parse_args()
    for seed in range(args.seed, args.seed + args.seeds):
        for name in SUBJECTS:
            for size in (256, 320):
                case = make_case(name, size, seed)
                folder = args.out / f"{name}_s{seed}_{size}"
                folder.mkdir(parents=True, exist_ok=True)
                for key in ("image", "trimap", "fg", "bg"):
                    write(folder / f"{key}.png", np.round(case[key] * 255).astype(np.uint8), oiio.UINT8)
                write(folder / "alpha.png", np.round(case["alpha"] * 65535).astype(np.uint16), oiio.UINT16)
                print(folder)


if __name__ == "__main__":
    main()
