"""Held-out cases over real photographs: the dev foregrounds and alphas composited over
crops of the photographs scikit-image ships inside its wheel (nothing is downloaded).

Why: the dev backgrounds are synthetic textures. A photograph's background has edges,
highlights and flat areas at every scale, which is what the band's background estimate
has to inpaint on a real plate. Three kinds of case per dev still:

- ``CASE_over_PHOTO``: the dev foreground over a crop of a photograph (two photographs);
- ``CASE_fgphoto_over_PHOTO``: the dev alpha, a crop of one photograph as the foreground's
  colours (a textured subject: print, fabric, lace), over a crop of another;
- with ``--clip``, the dev clip's frames over a fixed crop of each photograph (a
  locked-off camera, the subject moving over a real background), in the dev clip's layout.

Each still's trimap is made from its alpha with a band of random width (4–11 px), like
``make_recomposites.py``; the clip keeps the dev clip's trimaps. Written in the dev layout
(image, trimap, alpha, fg, bg PNGs), so every bench script reads them like dev256.

Usage (needs the ``bench`` extra: scikit-image for its photographs):
    python bench/make_photo_composites.py ../shared/data/dev256 OUT_DIR [--seed 1] [--clip]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from skimage import data as photographs

from make_recomposites import read, trimap_from_alpha, write_case

#: scikit-image's bundled colour photographs: indoor clutter, fur, a face, sky, cells, stars.
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
          "stereo_motorcycle")
STILLS = ("hair_a", "hair_b", "hard", "motion", "smoke")


def photograph(name: str) -> np.ndarray:
    pixels = getattr(photographs, name)()
    if isinstance(pixels, tuple):  # stereo_motorcycle: (left, right, disparity)
        pixels = pixels[0]
    return pixels[..., :3].astype(np.float32) / 255.0


def crop(pixels: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop, the photograph enlarged by repetition first if it is too small."""
    scale = int(np.ceil(max(height / pixels.shape[0], width / pixels.shape[1], 1.0)))
    pixels = np.repeat(np.repeat(pixels, scale, 0), scale, 1)
    y = int(rng.integers(0, pixels.shape[0] - height + 1))
    x = int(rng.integers(0, pixels.shape[1] - width + 1))
    return np.ascontiguousarray(pixels[y:y + height, x:x + width])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dev", type=Path, help="a dev folder with some of hair_a, hair_b, hard, motion, smoke")
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clip", action="store_true", help="also the dev folder's clip over each photograph")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    photos = {name: photograph(name) for name in PHOTOS}
    for case in (c for c in STILLS if (args.dev / c).is_dir()):
        alpha = read(args.dev / case / "alpha.png")[..., 0]
        dev_fg = read(args.dev / case / "fg.png")[..., :3]
        height, width = alpha.shape
        names = [str(n) for n in rng.choice(PHOTOS, 3, replace=False)]
        for i, name in enumerate(names):
            bg = crop(photos[name], height, width, rng)
            if i < 2:
                fg, folder = dev_fg, f"{case}_over_{name}"
            else:  # a textured subject: another photograph's colours under the dev alpha
                fg = crop(photos[str(rng.choice([p for p in PHOTOS if p != name]))], height, width, rng)
                folder = f"{case}_fgphoto_over_{name}"
            write_case(args.out / folder, alpha, fg, bg, trimap_from_alpha(alpha, int(rng.integers(4, 12))))
            print(args.out / folder)
    if args.clip and (args.dev / "clip").is_dir():
        frames = sorted(p for p in (args.dev / "clip").iterdir() if p.is_dir())
        first = read(frames[0] / "alpha.png")
        for name in PHOTOS:
            bg = crop(photos[name], first.shape[0], first.shape[1], rng)  # one crop: the camera is locked off
            for frame in frames:
                write_case(args.out / f"clip_over_{name}" / frame.name, read(frame / "alpha.png")[..., 0],
                           read(frame / "fg.png")[..., :3], bg, read(frame / "trimap.png")[..., 0])
            print(args.out / f"clip_over_{name}")


if __name__ == "__main__":
    main()
