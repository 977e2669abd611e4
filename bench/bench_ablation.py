"""Ablation of the alpha solvers (issue 10): every idea as a preset option, against
closed-form matting and pymatting's other training-free solvers, in one run.

Usage:
    python bench/bench_ablation.py DATA_DIR [DATA_DIR ...] [--skip-dip] [--markdown FILE]

Stills: SAD, MSE, Grad, Conn (alphamatting.com definitions, /1000), FgErr (alpha-
weighted foreground error over the band, /1000), seconds, and each as a ratio to
closed-form on the same case; then medians over all stills of all folders. Clips:
mean SAD and dtSSD per method. pymatting runs in its own process (baseline.py).
Needs the `bench` extra.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline  # noqa: E402
import metrics as M  # noqa: E402
from bench import find_cases, load_case, markdown, scores, summarise  # noqa: E402

import ofx_dipmatte  # noqa: E402
from ofx_dipmatte import PRESETS  # noqa: E402

_ESTIMATED = dict(alpha_source="prior", foreground="estimated")
#: Our variants, each one idea (or combination) behind preset options.
VARIANTS = {
    "ours: closed-form + estimated F": PRESETS["balanced"].replace(name="cf", alpha_prior="closed_form", **_ESTIMATED),
    "ours: refined ×1, flat confidence": PRESETS["balanced"].replace(name="refined1flat", refine_iterations=1,
                                                                      refine_confidence="flat", refine_strength=1.0),
    "ours: refined ×4, flat confidence": PRESETS["balanced"].replace(
        name="refined4flat", refine_iterations=4, refine_confidence="flat", refine_strength=1.0),
    "ours: refined ×1": PRESETS["balanced"].replace(name="refined1", refine_iterations=1),
    "ours: refined ×4": PRESETS["balanced"].replace(name="refined4", refine_iterations=4),
    "balanced (refined ×2, leaks removed)": PRESETS["balanced"],
    "ours: refined ×2, leaks removed, strength 0.1": PRESETS["balanced"].replace(name="refined2_strong",
                                                                                  refine_strength=0.1),
    "ours: refined ×2, leaks kept": PRESETS["balanced"].replace(name="refined2_leaks", remove_leaks=False),
    "ours: refined ×2, F every round": PRESETS["balanced"].replace(name="refined2_every",
                                                                    refine_foreground="every_round"),
    "ours: information flow": PRESETS["balanced"].replace(name="iflow", alpha_prior="closed_form",
                                                           affinity="information_flow"),
    "ours: information flow + refined ×2": PRESETS["balanced"].replace(name="iflow_refined",
                                                                        affinity="information_flow"),
    "ours: DIP-feature flow": PRESETS["balanced"].replace(name="dipflow", alpha_prior="closed_form",
                                                           affinity="dip_features"),
    "ours: DIP-feature flow + refined ×2": PRESETS["balanced"].replace(name="dipflow_refined",
                                                                        affinity="dip_features"),
    "dip (DIP on closed-form; old default)": PRESETS["dip"],
    "dip on refined prior": PRESETS["dip"].replace(name="dip_refined", alpha_prior="refined"),
    "draft": PRESETS["draft"],
}
OTHERS = ["knn", "lbdm", "lkm", "sm"]

_POOL: ProcessPoolExecutor | None = None


def pool() -> ProcessPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    return _POOL


def still_rows(name: str, case: dict, variants: dict, others: list[str]) -> list[dict]:
    trimap = ofx_dipmatte.snap_trimap(case["trimap"])
    cf_alpha, cf_fg, cf_seconds = pool().submit(baseline.closed_form, case["image"], trimap).result()
    base = {"case": name, "method": "closed-form (pymatting) + estimate_foreground_ml",
            **scores(cf_alpha, cf_fg, case), "seconds": cf_seconds}
    rows = [base]
    for other in others:
        alpha, seconds = pool().submit(baseline.other_method, other, case["image"], trimap).result()
        rows.append({"case": name, "method": f"pymatting {other}", **scores(alpha, case["image"], case),
                     "seconds": seconds})
    for label, preset in variants.items():
        res = ofx_dipmatte.matte(case["image_native"], case["trimap"], preset=preset, seed=0)
        rows.append({"case": name, "method": label, **scores(res.alpha, res.foreground, case),
                     "seconds": res.stats.seconds})
    for row in rows:
        for key in ("SAD", "Grad", "FgErr", "seconds"):
            row[f"{key} ×CF"] = row[key] / max(base[key], 1e-12)
        if row["method"].startswith("pymatting "):
            row["FgErr"] = row["FgErr ×CF"] = row["FgMSE"] = float("nan")  # no foreground of their own
    return rows


def clip_rows(name: str, frames: list[dict], variants: dict) -> list[dict]:
    truths, bands = [f["alpha"] for f in frames], [f["band"] for f in frames]
    cf = [pool().submit(baseline.closed_form, f["image"], ofx_dipmatte.snap_trimap(f["trimap"])).result()
          for f in frames]
    rows = [{"case": name, "method": "closed-form (pymatting), per frame",
             "SAD": statistics.mean(M.sad(a, t, b) for (a, _, _), t, b in zip(cf, truths, bands)),
             "dtSSD": M.dt_ssd([a for a, _, _ in cf], truths, bands), "s/frame": statistics.mean(s for *_, s in cf)}]
    for label, preset in variants.items():
        session = ofx_dipmatte.ClipSession(preset=preset, seed=0)
        results = [session.matte(i, f["image_native"], f["trimap"]) for i, f in enumerate(frames)]
        rows.append({"case": name, "method": label,
                     "SAD": statistics.mean(M.sad(r.alpha, t, b) for r, t, b in zip(results, truths, bands)),
                     "dtSSD": M.dt_ssd([r.alpha for r in results], truths, bands),
                     "s/frame": statistics.mean(r.stats.seconds for r in results),
                     "cold s": results[0].stats.seconds,
                     "warm s": statistics.mean(r.stats.seconds for r in results[1:])})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", type=Path)
    ap.add_argument("--skip-dip", action="store_true", help="leave out the DIP variants (minutes per case)")
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--only", nargs="+", metavar="TEXT", help="run only the variants whose label contains one of these")
    ap.add_argument("--no-others", action="store_true", help="leave out pymatting's knn/lbdm/lkm/sm")
    args = ap.parse_args()
    variants = {k: v for k, v in VARIANTS.items() if not (args.skip_dip and v.alpha_source == "dip")
                and (not args.only or any(text in k for text in args.only))}
    stills, clips = [], []
    for root in args.data:
        for kind, folder in find_cases(root):
            name = f"{root.name}/{folder.name}"
            print(f"{kind} {name} ...", file=sys.stderr, flush=True)
            if kind == "still":
                stills += still_rows(name, load_case(folder), variants, [] if args.no_others else OTHERS)
                print(markdown([r for r in stills if r["case"] == name], name), flush=True)
            else:
                frames = [load_case(sub) for sub in sorted(folder.iterdir()) if (sub / "image.png").exists()]
                clip_variants = {k: v for k, v in variants.items()
                                 if k in ("balanced (refined ×2, leaks removed)", "dip (DIP on closed-form; old default)")}
                clips += clip_rows(name, frames, clip_variants)
                print(markdown(clips, name), flush=True)
    summary = summarise(stills, ("SAD ×CF", "Grad ×CF", "FgErr ×CF", "seconds ×CF"), better_on="FgErr ×CF")
    text = markdown(summary, "Summary over all stills (ratios to closed-form, same case, same run)")
    text += "\n" + markdown(stills, "Stills")
    if clips:
        text += "\n" + markdown(clips, "Clips")
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
