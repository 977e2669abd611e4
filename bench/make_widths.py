"""Cases with trimaps of another width: each still of the given dev-layout folders copied
with its trimap made again from its true alpha (`make_recomposites.trimap_from_alpha`:
unknown within W px of alpha > 0.01, foreground alpha > 0.99 eroded by W). Written in the
dev layout, so `bench/bench.py` reads them like dev256.

Why: artists draw trimaps for hair and fur far wider than the dev cases' bands; deep in a
wide band F and B are extrapolated further from what the known regions show, and the
gain over closed-form shrinks (docs/benchmarks.md, *Wide bands*). Cases whose foreground
disappears under the erosion are left out (closed-form refuses a trimap without one), and
so are repeats: held-out cases made with different seeds may differ only by the band
width this remakes (`make_recomposites.py`'s pairs are the same for every seed).

Usage:
    python bench/make_widths.py ../shared/data/dev256 ../shared/data/dev512 OUT_DIR [--width 20]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from make_recomposites import read, trimap_from_alpha, write

#: Fewest known-foreground pixels a remade trimap must keep.
MIN_FOREGROUND = 50


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", type=Path, nargs="+", help="dev-layout folders, then the output folder")
    ap.add_argument("--width", type=int, default=20, help="the band's margin in pixels (default 20)")
    args = ap.parse_args()
    *sources, out = args.folders
    if not sources:
        ap.error("give at least one folder of cases and the output folder")
    written: dict[str, Path] = {}  # image and alpha's digest → the case written with them
    for source in sources:
        for case in sorted(p for p in source.iterdir() if (p / "alpha.png").exists()):
            digest = hashlib.sha256((case / "image.png").read_bytes() + (case / "alpha.png").read_bytes()).hexdigest()
            if digest in written:
                print(f"{case}: the same image and alpha as {written[digest]}, left out")
                continue
            alpha = read(case / "alpha.png")[..., 0]
            trimap = trimap_from_alpha(alpha, args.width)
            if (trimap == 1.0).sum() < MIN_FOREGROUND:
                print(f"{case}: no foreground left at width {args.width}, left out")
                continue
            folder = out / f"{source.name}_{case.name}_w{args.width}"
            folder.mkdir(parents=True, exist_ok=True)
            for name in ("image.png", "alpha.png", "fg.png", "bg.png"):  # fg and bg where the case has them
                if (case / name).exists():
                    shutil.copy(case / name, folder / name)
            write(folder / "trimap.png", np.round(trimap * 255).astype(np.uint8), oiio.UINT8)
            written[digest] = folder
            print(folder, f"band {int((trimap == 0.5).sum())} px")


if __name__ == "__main__":
    main()
