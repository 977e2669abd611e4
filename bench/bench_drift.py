"""A camera that drifts by a fraction of a pixel a frame, against the carried background.

Every still with a background becomes bench_clean_plate.py's moving shot (8 frames, the
subject 3 px right and 1 px down a frame over its background, 8 bits), and then the
whole frame drifts by ``--speeds`` pixels a frame (diagonally: each axis speed/√2),
resampled cubic and saved as 8 bits again; the trimap's known regions follow (a pixel
stays known only where every pixel it was resampled from was). Each shot is solved
(frames in order, as a host without temporal access renders them) four ways: frames on
their own (``carry_background`` off), carried with the stack started over when the
background moved (the camera not followed: ``FOLLOW_CAMERA`` off, the behaviour before
it), carried as now (the stack follows the camera), and stabilised first (moved back by
its true drift, solved carried, the matte moved forward again: what an artist gets with
a host's stabilise and its inverse). Reported:
mean SAD and dtSSD over the band, and their ratios to frames on their own. No
closed-form here: the question is whether carrying helps or harms.

Usage:
    python bench/bench_drift.py DATA_DIR [DATA_DIR ...] [--speeds 0 0.1 0.2 0.4 0.7] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import find_cases, load, load_case, markdown  # noqa: E402
from bench_clean_plate import moving_clip  # noqa: E402

import metrics as M  # noqa: E402
import ofx_dipmatte  # noqa: E402
from ofx_dipmatte.engine import carried_background  # noqa: E402

CROP = 8  # pixels cut from each edge after the drift: what resampling made up there


def drifting(frames: list[dict], speed: float) -> list[dict]:
    """``frames`` with the camera drifting ``speed`` px a frame down and right."""
    step = speed / np.sqrt(2.0)
    out = []
    for t, f in enumerate(frames):
        offset = (step * t, step * t)

        def moved(x: np.ndarray, order: int) -> np.ndarray:
            return ndimage.shift(x, offset + (0,) * (x.ndim - 2), order=order, mode="nearest")

        image = np.clip(moved(f["image_native"].astype(np.float32) / 255, 3), 0, 1)
        alpha = np.clip(moved(f["alpha"].astype(np.float32), 3), 0, 1)
        trimap = ofx_dipmatte.snap_trimap(f["trimap"])
        fg = moved((trimap == 1).astype(np.float32), 1) > 0.999
        bg = moved((trimap == 0).astype(np.float32), 1) > 0.999
        trimap = np.where(fg, 1.0, np.where(bg, 0.0, 0.5)).astype(np.float32)
        crop = (slice(CROP, -CROP), slice(CROP, -CROP))
        native = np.round(image[crop] * 255).astype(np.uint8)
        out.append({"image_native": native, "trimap": trimap[crop], "alpha": alpha[crop],
                    "band": trimap[crop] == 0.5, "drift": offset})
    return out


def stabilised(frames: list[dict]) -> list[np.ndarray]:
    """What an artist gets by stabilising the plate first: each drifting frame moved back
    by its drift (cubic, the trimap's known regions following), the shot solved carried,
    and each alpha moved forward again (cubic), its trimap's known regions put back."""
    moved = []
    for f in frames:
        back = tuple(-d for d in f["drift"])
        image = ndimage.shift(f["image_native"].astype(np.float32), back + (0,), order=3, mode="nearest")
        fg = ndimage.shift((f["trimap"] == 1).astype(np.float32), back, order=1, mode="nearest") > 0.999
        bg = ndimage.shift((f["trimap"] == 0).astype(np.float32), back, order=1, mode="nearest") > 0.999
        moved.append({"image_native": np.round(np.clip(image, 0, 255)).astype(np.uint8),
                      "trimap": np.where(fg, 1.0, np.where(bg, 0.0, 0.5)).astype(np.float32)})
    alphas = solve(moved, "balanced")
    return [np.where(f["trimap"] == 0.5, np.clip(ndimage.shift(a, f["drift"], order=3, mode="nearest"), 0, 1),
                     f["trimap"]) for a, f in zip(alphas, frames)]


def solve(frames: list[dict], preset) -> list[np.ndarray]:
    session = ofx_dipmatte.ClipSession(preset, seed=0)
    return [session.matte(i, f["image_native"], f["trimap"]).alpha for i, f in enumerate(frames)]


def shot_row(name: str, frames: list[dict], speed: float) -> dict:
    truths, bands = [f["alpha"] for f in frames], [f["band"] for f in frames]
    alone = solve(frames, ofx_dipmatte.PRESETS["balanced"].replace(carry_background=False))
    carried_background.FOLLOW_CAMERA = False
    try:
        restarted = solve(frames, "balanced")
    finally:
        carried_background.FOLLOW_CAMERA = True
    carried = solve(frames, "balanced")
    row: dict = {"case": f"{name} at {speed} px/frame", "px/frame": speed}
    for label, alphas in (("alone", alone), ("started over", restarted), ("carried", carried),
                          ("stabilised", stabilised(frames))):
        row[f"SAD {label}"] = statistics.mean(M.sad(a, t, b) for a, t, b in zip(alphas, truths, bands))
        row[f"dtSSD {label}"] = M.dt_ssd(alphas, truths, bands)
    for label in ("started over", "carried", "stabilised"):
        row[f"SAD {label} ×alone"] = row[f"SAD {label}"] / row["SAD alone"]
        row[f"dtSSD {label} ×alone"] = row[f"dtSSD {label}"] / row["dtSSD alone"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", type=Path)
    ap.add_argument("--speeds", nargs="+", type=float, default=[0.0, 0.1, 0.2, 0.4, 0.7])
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    shots = []
    for root in args.data:
        for kind, folder in find_cases(root):
            if kind == "clip" or not (folder / "bg.png").exists():
                continue
            case = load_case(folder)
            case["bg"] = load(folder / "bg.png")[..., :3]
            shots.append((f"{root.name}/{folder.name}", moving_clip(case, seed=len(shots))))
    rows = []
    for speed in args.speeds:
        for name, frames in shots:
            print(f"{name} at {speed} px/frame ...", file=sys.stderr, flush=True)
            rows.append(shot_row(name, drifting(frames, speed), speed))
    keys = ("SAD started over ×alone", "SAD carried ×alone", "SAD stabilised ×alone",
            "dtSSD started over ×alone", "dtSSD carried ×alone", "dtSSD stabilised ×alone")
    summary = []
    for speed in args.speeds:
        these = [r for r in rows if r["px/frame"] == speed]
        summary.append({"case": f"{speed} px/frame", "shots": len(these),
                        **{f"median {k}": statistics.median(r[k] for r in these) for k in keys},
                        "worst SAD carried ×alone": max(r["SAD carried ×alone"] for r in these),
                        "worst SAD started over ×alone": max(r["SAD started over ×alone"] for r in these)})
    text = markdown(summary, "Drifting camera: medians per speed") + "\n" + markdown(rows, "Drifting camera: per shot")
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
