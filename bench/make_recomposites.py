"""Held-out cases from the dev data: each case's foreground and alpha over another case's
background (mirrored, so no pixel lines up with its original), with a trimap made from
the alpha by a band of random width. Written in the dev layout (image, trimap, alpha,
fg, bg PNGs per case), so every bench script reads them like dev256.

Why: the default's constants were chosen on dev256/dev512. The same foregrounds over
other backgrounds, with other band widths, show whether a gain follows the method or
the dev composites.

``--similar``: instead, similar-colour cases (the acceptance runs have them): each
foreground over another case's background whose colours are moved to the foreground's
own statistics (per-channel mean and standard deviation where alpha > 0.5), so F and B
differ by texture more than by colour.

``--wall``: instead, each foreground over a plain wall of nearly its own colour (blonde
hair by a beige wall): its mean colour where alpha > 0.5, darker (``CASE_wall-``) and
lighter (``CASE_wall+``) by 0.12 on every channel, with a slow variation (a Gaussian field
of σ an eighth of the side, 0.04 RMS per channel).

Usage:
    python bench/make_recomposites.py ../shared/data/dev256 OUT_DIR [--seed 7] [--similar | --wall]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
from scipy import ndimage

#: (foreground-and-alpha case, background case): every foreground kind at least once,
#: over backgrounds of other kinds.
PAIRS = [("hair_a", "smoke"), ("hair_b", "motion"), ("smoke", "hair_b"), ("motion", "hair_a"),
         ("hard", "smoke"), ("hair_a", "hair_b"), ("hair_b", "hard"), ("smoke", "motion")]
#: The same for --similar: each foreground kind once.
SIMILAR_PAIRS = [("hair_a", "motion"), ("hair_b", "smoke"), ("motion", "hair_b"), ("smoke", "hair_a"),
                 ("hard", "hair_b")]


def read(path: Path) -> np.ndarray:
    buf = oiio.ImageBuf(str(path))
    if buf.has_error:
        raise SystemExit(f"cannot read {path}: {buf.geterror()}")
    return buf.get_pixels(oiio.FLOAT)


def write(path: Path, pixels: np.ndarray, fmt) -> None:
    if pixels.ndim == 2:
        pixels = pixels[..., None]  # OIIO reads a 2-D array as width × height: give it H×W×1
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], pixels.shape[2], fmt)
    out = oiio.ImageOutput.create(str(path))
    if out is None or not out.open(str(path), spec):
        raise SystemExit(f"cannot write {path}: {oiio.geterror()}")
    out.write_image(pixels)
    out.close()


def trimap_from_alpha(alpha: np.ndarray, width: int) -> np.ndarray:
    """Unknown: within ``width`` px of any alpha > 0.01; foreground: alpha > 0.99 eroded by ``width``."""
    tri = np.zeros(alpha.shape, np.float32)
    tri[ndimage.binary_dilation(alpha > 0.01, iterations=width)] = 0.5
    tri[ndimage.binary_erosion(alpha > 0.99, iterations=width)] = 1.0
    return tri


def write_case(folder: Path, alpha: np.ndarray, fg: np.ndarray, bg: np.ndarray, trimap: np.ndarray) -> None:
    """One case in the dev layout: the composite, its trimap, alpha, F and B."""
    folder.mkdir(parents=True, exist_ok=True)
    image = alpha[..., None] * fg + (1.0 - alpha[..., None]) * bg
    write(folder / "image.png", np.round(np.clip(image, 0, 1) * 255).astype(np.uint8), oiio.UINT8)
    write(folder / "trimap.png", np.round(trimap * 255).astype(np.uint8), oiio.UINT8)
    write(folder / "alpha.png", np.round(alpha * 65535).astype(np.uint16), oiio.UINT16)
    write(folder / "fg.png", np.round(np.clip(fg, 0, 1) * 255).astype(np.uint8), oiio.UINT8)
    write(folder / "bg.png", np.round(np.clip(bg, 0, 1) * 255).astype(np.uint8), oiio.UINT8)


def write_walls(dev: Path, out: Path, rng: np.random.Generator) -> None:
    """``--wall``: every dev still's foreground over a plain wall of nearly its own colour."""
    for case in ("hair_a", "hair_b", "hard", "motion", "smoke"):
        if not (dev / case).is_dir():
            continue
        alpha = read(dev / case / "alpha.png")[..., 0]
        fg = read(dev / case / "fg.png")[..., :3]
        h, w = alpha.shape
        for sign, shift in (("-", -0.12), ("+", 0.12)):
            field = ndimage.gaussian_filter(rng.standard_normal((h, w, 3)), (h / 8, w / 8, 0))
            wall = np.clip(fg[alpha > 0.5].mean(axis=0) + shift + 0.04 * field / field.std(), 0.0, 1.0)
            write_case(out / f"{case}_wall{sign}", alpha, fg, wall, trimap_from_alpha(alpha, int(rng.integers(4, 12))))
            print(out / f"{case}_wall{sign}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dev", type=Path, help="a dev folder with hair_a, hair_b, hard, motion, smoke")
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=7)
    kind = ap.add_mutually_exclusive_group()
    kind.add_argument("--similar", action="store_true", help="similar-colour cases (see above)")
    kind.add_argument("--wall", action="store_true", help="plain walls of the foreground's own colour (see above)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    if args.wall:
        write_walls(args.dev, args.out, rng)
        return
    for fg_case, bg_case in SIMILAR_PAIRS if args.similar else PAIRS:
        alpha = read(args.dev / fg_case / "alpha.png")[..., 0]
        fg = read(args.dev / fg_case / "fg.png")[..., :3]
        bg = np.ascontiguousarray(read(args.dev / bg_case / "bg.png")[:, ::-1, :3])
        if bg.shape != fg.shape:
            raise SystemExit(f"{fg_case} and {bg_case} differ in size")
        if args.similar:
            solid = alpha > 0.5
            bg = (bg - bg.mean(axis=(0, 1))) / (bg.std(axis=(0, 1)) + 1e-6) * fg[solid].std(axis=0) + fg[solid].mean(axis=0)
            bg = np.clip(bg, 0.0, 1.0)
        folder = args.out / f"{fg_case}_{'similar' if args.similar else 'over'}_{bg_case}"
        write_case(folder, alpha, fg, bg, trimap_from_alpha(alpha, int(rng.integers(4, 12))))
        print(folder)


if __name__ == "__main__":
    main()
