"""Where the default's remaining error sits (issue 10): its band SAD and closed-form's, split
by what the truth shows at each pixel, in one run.

Three splits of the unknown band's pixels, each summed over all stills given:

- **by true alpha**: bare background (α ≤ 1/255), faint (to 0.2), mixed (0.2–0.8), dense
  (to 254/255), solid; with the signed error, so a matte too smooth (too low on strands,
  a haze beside them) shows as such;
- **by colour contrast** (stills with fg.png and bg.png), over the partly covered pixels:
  the true |F − B| (RGB, Euclidean) below 0.15 (similar colours), to 0.4, above;
- **by distance to the solid foreground**, over the partly covered pixels: within 3 px of
  a truly solid pixel (an edge's ramp), or further (strands, their tips, smoke and veils).

Closed-form is pymatting's `estimate_alpha_cf`, in a worker process (see baseline.py);
the default gets the PNG's own pixels, as bench.py gives them.

Usage:
    python bench/bench_error_split.py DATA_DIR [DATA_DIR ...] [--preset balanced] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402
import metrics as M  # noqa: E402

import ofx_dipmatte  # noqa: E402

#: Alpha at or below this is bare, at or above one minus it solid: 8-bit truth's end codes.
PURE = 1.0 / 255.0
#: True |F − B| (0–1 RGB, Euclidean) below which F and B count as similar colours, and above
#: which as distinct.
SIMILAR, DISTINCT = 0.15, 0.4
#: Pixels within this distance of a truly solid one are an edge's ramp.
BESIDE_SOLID = 3.0

ALPHA_CLASSES = ("bare", "faint", "mixed", "dense", "solid")
CONTRAST_CLASSES = ("similar colours", "in between", "distinct colours")
DISTANCE_CLASSES = ("beside the solid", "away from it")


def alpha_classes(truth: np.ndarray) -> dict[str, np.ndarray]:
    """H×W bool per class of true alpha."""
    return {"bare": truth <= PURE, "faint": (truth > PURE) & (truth <= 0.2), "mixed": (truth > 0.2) & (truth < 0.8),
            "dense": (truth >= 0.8) & (truth < 1.0 - PURE), "solid": truth >= 1.0 - PURE}


def partly_covered(truth: np.ndarray) -> np.ndarray:
    return (truth > PURE) & (truth < 1.0 - PURE)


def contrast_classes(fg: np.ndarray, bg: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """The partly covered pixels by their true colour contrast |F − B|."""
    contrast = np.linalg.norm(fg - bg, axis=-1)
    partly = partly_covered(truth)
    return {"similar colours": partly & (contrast < SIMILAR),
            "in between": partly & (contrast >= SIMILAR) & (contrast <= DISTINCT),
            "distinct colours": partly & (contrast > DISTINCT)}


def distance_classes(truth: np.ndarray) -> dict[str, np.ndarray]:
    """The partly covered pixels by their distance to the nearest truly solid pixel (all
    away from it where none is)."""
    solid = truth >= 1.0 - PURE
    distance = ndimage.distance_transform_edt(~solid) if solid.any() else np.full(truth.shape, np.inf)
    partly = partly_covered(truth)
    return {"beside the solid": partly & (distance <= BESIDE_SOLID), "away from it": partly & (distance > BESIDE_SOLID)}


def split(alpha: np.ndarray, truth: np.ndarray, band: np.ndarray, classes: dict[str, np.ndarray]) -> dict:
    """Per class: (SAD, signed sum of alpha − truth), both /1000, over the band."""
    error = alpha.astype(np.float64) - truth
    return {name: (float(np.abs(error[band & where]).sum() / 1000), float(error[band & where].sum() / 1000))
            for name, where in classes.items()}


def stills(roots: list[Path]):
    for root in roots:
        for kind, folder in bench.find_cases(root):
            if kind == "still":
                yield f"{root.name}/{folder.name}", folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="+", type=Path)
    ap.add_argument("--preset", default="balanced")
    ap.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = ap.parse_args()

    bench.warm_engine(args.preset)
    totals: dict[str, dict[str, np.ndarray]] = {"ours": {}, "closed-form": {}}
    per_case = []
    for name, folder in stills(args.data):
        case = bench.load_case(folder)
        truth, band = case["alpha"].astype(np.float64), case["band"]
        ours = np.asarray(ofx_dipmatte.matte(case["image_native"], case["trimap"], preset=args.preset, seed=0).alpha)
        cf, _, _ = bench.closed_form(case)
        classes = {**alpha_classes(truth), **distance_classes(truth)}
        if "fg" in case and (folder / "bg.png").exists():
            classes.update(contrast_classes(case["fg"], bench.load(folder / "bg.png")[..., :3], truth))
        row: dict = {"case": name}
        parts = {}
        for method, alpha in (("ours", ours), ("closed-form", cf)):
            parts[method] = split(alpha, truth, band, classes)
            for cls, values in parts[method].items():
                totals[method][cls] = totals[method].get(cls, np.zeros(2)) + np.array(values)
            row[method] = M.sad(alpha, truth, band)
        row.update({cls: parts["ours"][cls][0] / max(parts["closed-form"][cls][0], 1e-9) for cls in ALPHA_CLASSES})
        per_case.append(row)
        print(f"{name}: SAD {row['ours']:.3f} against closed-form's {row['closed-form']:.3f}", flush=True)

    whole = sum(totals["ours"][c][0] for c in ALPHA_CLASSES)
    lines = [f"Stills: {len(per_case)}. Band SAD summed over them: ours {whole:.3f}, closed-form "
             f"{sum(totals['closed-form'][c][0] for c in ALPHA_CLASSES):.3f}.", "",
             "| class | pixels | SAD ours | SAD closed-form | ×CF | share of ours | signed ours | signed closed-form |",
             "|---|---|---|---|---|---|---|---|"]
    for group in (ALPHA_CLASSES, DISTANCE_CLASSES, CONTRAST_CLASSES):
        for cls in group:
            if cls not in totals["ours"]:
                continue
            (o_sad, o_sign), (c_sad, c_sign) = totals["ours"][cls], totals["closed-form"][cls]
            lines.append(f"| {cls} | {'by true alpha' if group is ALPHA_CLASSES else 'partly covered'} | {o_sad:.3f} | "
                         f"{c_sad:.3f} | {o_sad / max(c_sad, 1e-9):.3f} | {o_sad / max(whole, 1e-9):.1%} | "
                         f"{o_sign:+.3f} | {c_sign:+.3f} |")
    lines += ["", bench.markdown(per_case, "Per still: band SAD, and SAD ×CF in each class of true alpha")]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
