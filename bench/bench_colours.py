"""Where the refined matte's error comes from: the foreground and background colours.

The default (`balanced`) solves alpha from per-pixel estimates α̂ = (I − B)·(F − B)/|F − B|²
with F and B estimated in the band. This script swaps the source of F and B and keeps
everything else (the default's refinement rounds, texture confidence and strength):

- *estimated*: our multi-level estimator (the default);
- *true B*, *true F*, *true F and B*: the ground truth's, an upper bound on what a better
  inpainter of that layer could buy;
- *DIP F/B*: the `dip` preset's F and B nets (fitted to the known regions, coupled by the
  compositing equation), one confidence-weighted solve from the DIP's alpha (`--skip-dip`
  leaves it out: about a minute a case here).

It prints SAD and gradient error as ratios to our closed-form solve on the same case,
and the error of each source's colours over the band: B error is the mean |B − B_gt|₁
over band pixels with α_gt < 1, F error Σ|F − F_gt|₁·α_gt over band pixels with α_gt > 0
(/1000), both for the colours the source gives from the closed-form alpha.

Usage:
    python bench/bench_colours.py DATA_DIR [DATA_DIR ...] [--skip-dip] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import metrics as M  # noqa: E402
from bench import find_cases, load, load_case, markdown, summarise  # noqa: E402

import ofx_dipmatte  # noqa: E402
from ofx_dipmatte.engine.closed_form import closed_form_alpha  # noqa: E402
from ofx_dipmatte.engine.foreground import estimate_foreground_background  # noqa: E402
from ofx_dipmatte.engine.laplacian import matting_laplacian  # noqa: E402
from ofx_dipmatte.engine.refine import refine_alpha  # noqa: E402

ROUNDS = ofx_dipmatte.PRESETS["balanced"].refine_iterations


def colour_errors(fg: np.ndarray, bg: np.ndarray, case: dict) -> dict:
    band, truth = case["band"], case["alpha"]
    b_region = band & (truth < 1)
    f_region = band & (truth > 0)
    return {"B err": float(np.abs(bg - case["bg"]).sum(-1)[b_region].mean()),
            "F err": float((np.abs(fg - case["fg"]).sum(-1) * truth)[f_region].sum() / 1000)}


def case_rows(name: str, case: dict, skip_dip: bool) -> list[dict]:
    image = case["image"].astype(np.float64)
    trimap = ofx_dipmatte.snap_trimap(case["trimap"])
    laplacian = matting_laplacian(image)
    cf = closed_form_alpha(image, trimap, laplacian=laplacian)
    base_sad, base_grad = M.sad(cf, case["alpha"], case["band"]), M.gradient_error(cf, case["alpha"], case["band"])

    def row(method: str, alpha: np.ndarray, fg: np.ndarray, bg: np.ndarray) -> dict:
        sad, grad = M.sad(alpha, case["alpha"], case["band"]), M.gradient_error(alpha, case["alpha"], case["band"])
        return {"case": name, "method": method, "SAD ×CF": sad / base_sad, "Grad ×CF": grad / base_grad,
                **colour_errors(fg, bg, case)}

    est_fg, est_bg = estimate_foreground_background(image, cf)
    true_fg, true_bg = case["fg"].astype(np.float32), case["bg"].astype(np.float32)
    sources = {
        "estimated": None,
        "true B": lambda img, a: (estimate_foreground_background(img, a)[0], true_bg),
        "true F": lambda img, a: (true_fg, estimate_foreground_background(img, a)[1]),
        "true F and B": lambda img, a: (true_fg, true_bg),
    }
    rows = [row("closed-form (ours)", cf, est_fg, est_bg)]
    for label, colours in sources.items():
        # Both colours from each source every round (as measured in docs/benchmarks.md), so a
        # true F or B is used in every round; the default keeps its first F (refine_foreground).
        alpha = refine_alpha(image, trimap, cf, ROUNDS, laplacian=laplacian, colours=colours, keep_foreground=False)
        fg, bg = (est_fg, est_bg) if colours is None else colours(image, cf)
        rows.append(row(f"refined ×{ROUNDS}, {label}", alpha, fg, bg))
    if not skip_dip:
        dip = ofx_dipmatte.matte(case["image_native"], case["trimap"], preset="dip", seed=0)
        fg, bg = dip.foreground.astype(np.float64), dip.background.astype(np.float64)
        rows.append(row("dip preset (its own alpha, F, B)", dip.alpha, fg, bg))
        for texture in (True, False):
            alpha = refine_alpha(image, trimap, dip.alpha, iterations=1, laplacian=laplacian, texture=texture,
                                 colours=lambda img, a: (fg, bg))
            rows.append(row(f"DIP F/B, one solve, {'texture' if texture else 'flat'} confidence", alpha, fg, bg))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", type=Path)
    ap.add_argument("--skip-dip", action="store_true")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    rows = []
    for root in args.data:
        for kind, folder in find_cases(root):
            if kind != "still" or not (folder / "fg.png").exists() or not (folder / "bg.png").exists():
                continue
            print(f"{root.name}/{folder.name} ...", file=sys.stderr, flush=True)
            case = load_case(folder)
            case["bg"] = load(folder / "bg.png")[..., :3]
            rows += case_rows(f"{root.name}/{folder.name}", case, args.skip_dip)
    summary = summarise(rows, ("SAD ×CF", "Grad ×CF", "B err", "F err"))
    text = markdown(summary, "F/B sources: medians") + "\n" + markdown(rows, "F/B sources: per case")
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
