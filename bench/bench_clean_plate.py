"""The default preset with a clean plate, against closed-form matting (pymatting) and
against itself without one.

A clean plate is the background without the subject: on set, a take before the actor
walks in; in post, a painted or tracked plate. The cases' own backgrounds (bg.png) stand
in for it, as an artist would get it:

- *exact*: the background itself (a painted plate, or a locked-off frame with no grain);
- *grain*: its 8-bit pixels with their own grain (Gaussian, σ = 0.01), as a second take;
- *grain, exposure 0.9*: the same, a tenth darker: the engine matches the plate to the
  image on the trimap's known background.

Every row runs `ofx_dipmatte.matte` on the 8-bit image as a user's PNG. Clips (their
background does not move) are solved frame by frame in a ClipSession: with every frame on
its own; as the default does in a host, each frame against the background earlier frames
showed (`Preset.carry_background`), with the frames around it shown first (the plugin's
*Background frames*) or not (a host without temporal clip access); as the shot CLI does, with every frame's known
background shown to the session first (`ClipSession.show_background`); with one plate for the shot, made from the first frame's
background, or stacked from the shot's own known background (`PlateStack`, the
`clean-plate` command: no plate from the user), alone or widened by a first solve of the
shot with frames on their own (`clean-plate --alpha --fg`, `matte --stack-plate`: its
nearly bare band pixels); dtSSD as in bench.py.

``--moving``: every still with a background also becomes an 8-frame clip: its foreground
and alpha (and trimap) move 3 px right and 1 px down a frame over its background, which
stays, recomposited and saved as 8 bits; ``--grain`` adds grain (σ, 0–1 units) to each
frame, ``--drift`` a light that falls over the shot. These are shots the method was not tuned on. Ratios (×CF) are to
pymatting's closed-form (its foreground from `estimate_foreground_ml`) on the same case in
the same run, in its own process. FgErr is Σ|F − F_gt|₁·α_gt over band pixels with α_gt > 0.

Usage:
    python bench/bench_clean_plate.py DATA_DIR [DATA_DIR ...] [--moving [--grain 0.01] [--drift 0.01]] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import closed_form, find_cases, load, load_case, markdown, scores, summarise  # noqa: E402

import metrics as M  # noqa: E402
import ofx_dipmatte  # noqa: E402

GRAIN = 0.01
BACKGROUND_FRAMES = 8  # the plugin's Background frames parameter, at its default


def plates(background: np.ndarray, seed: int) -> dict[str, "np.ndarray | None"]:
    """The clean plates each case is solved with (None: without one), as 8-bit pixels."""
    grain = np.random.default_rng(seed).normal(0.0, GRAIN, background.shape)

    def as_8bit(values: np.ndarray) -> np.ndarray:
        return np.round(np.clip(values, 0.0, 1.0) * 255).astype(np.uint8)

    return {"balanced, no plate (the default)": None,
            "balanced + clean plate, exact": as_8bit(background),
            "balanced + clean plate, grain": as_8bit(background + grain),
            "balanced + clean plate, grain, exposure 0.9": as_8bit(0.9 * background + grain)}


def case_rows(name: str, case: dict, seed: int) -> list[dict]:
    cf_alpha, cf_fg, cf_seconds = closed_form(case)
    base = {"case": name, "method": "closed-form (pymatting) + estimate_foreground_ml",
            **scores(cf_alpha, cf_fg, case), "seconds": cf_seconds}
    rows = [base]
    for label, plate in plates(case["bg"], seed).items():
        res = ofx_dipmatte.matte(case["image_native"], case["trimap"], seed=0, clean_plate=plate)
        rows.append({"case": name, "method": label, **scores(res.alpha, res.foreground, case),
                     "seconds": res.stats.seconds})
    for row in rows:
        for key in ("SAD", "Grad", "FgErr", "seconds"):
            row[f"{key} ×CF"] = row[key] / max(base[key], 1e-12)
    return rows


def clip_rows(name: str, frames: list[dict], with_given: bool = True) -> list[dict]:
    truths, bands = [f["alpha"] for f in frames], [f["band"] for f in frames]
    cf = [closed_form(f)[0] for f in frames]
    rows = [{"case": name, "method": "closed-form (pymatting), per frame",
             "SAD": statistics.mean(M.sad(a, t, b) for a, t, b in zip(cf, truths, bands)),
             "dtSSD": M.dt_ssd(cf, truths, bands)}]
    def solve(preset, shown: "int | None" = 0) -> list:
        """Frames in order. Before each, the frames up to ``shown`` on each side are shown,
        nearest first, as the plugin's *Background frames* does in a host; None: every
        frame is shown before the first solve, as `ofx-dipmatte matte` does a sequence."""
        session = ofx_dipmatte.ClipSession(preset, seed=0)
        for i, f in list(enumerate(frames))[1:] if shown is None else []:  # nearest frame 0 first
            session.show_background(i, f["image_native"], f["trimap"])
        results = []
        for i, f in enumerate(frames):
            near = range(max(0, i - (shown or 0)), min(len(frames), i + (shown or 0) + 1))
            for j in sorted((j for j in near if j != i), key=lambda j: abs(j - i)):
                session.show_background(j, frames[j]["image_native"], frames[j]["trimap"])
            results.append(session.matte(i, f["image_native"], f["trimap"]))
        return results

    # The first solve of `matte --stack-plate`: every frame on its own.
    first = solve(ofx_dipmatte.PRESETS["balanced"].replace(carry_background=False))
    stack, widened = ofx_dipmatte.PlateStack(), ofx_dipmatte.PlateStack()  # `ofx-dipmatte clean-plate`
    for f, res in zip(frames, first):
        stack.add(f["image_native"], f["trimap"])
        widened.add(f["image_native"], f["trimap"], alpha=res.alpha, foreground=res.foreground)
    given = {label: plate for label, plate in plates(frames[0]["bg"], seed=0).items()
             if plate is not None} if with_given else {}
    shot_plates = {"balanced, frames on their own (--independent-frames)": "alone",
                   "balanced, no plate, in a host without temporal access (earlier renders only: MLT)": 0,
                   f"balanced, no plate, in a host (Background frames {BACKGROUND_FRAMES}, the default; "
                   f"matte --background-frames {BACKGROUND_FRAMES})": BACKGROUND_FRAMES,
                   "balanced, no plate, shot CLI (default --background-frames all: every frame shown first)": None,
                   **given, "balanced + plate stacked from the shot": stack.plate(),
                   "balanced + plate stacked from the shot and a first solve": widened.plate()}
    for label, plate in shot_plates.items():
        if plate is None or isinstance(plate, (str, int)):  # no plate given
            alphas = [res.alpha for res in (first if plate == "alone" else solve("balanced", plate))]
        else:
            session = ofx_dipmatte.ClipSession(seed=0)
            alphas = [session.matte(i, f["image_native"], f["trimap"], clean_plate=plate).alpha
                      for i, f in enumerate(frames)]
        rows.append({"case": name, "method": label,
                     "SAD": statistics.mean(M.sad(a, t, b) for a, t, b in zip(alphas, truths, bands)),
                     "dtSSD": M.dt_ssd(alphas, truths, bands)})
    for row in rows:
        row["SAD ×CF"], row["dtSSD ×CF"] = row["SAD"] / rows[0]["SAD"], row["dtSSD"] / rows[0]["dtSSD"]
    return rows


def moving_clip(case: dict, frames: int = 8, step: tuple[int, int] = (1, 3), grain: float = 0.0,
                seed: int = 0, drift: float = 0.0) -> list[dict]:
    """The still's foreground, alpha and trimap moving ``step`` (rows, columns) a frame over
    its background, which stays: a locked-off shot. Each frame recomposited, with
    ``grain``, under a light that falls by ``drift`` a frame (frame t × (1 − drift·t)), and
    saved as 8 bits; what moves in from outside the frame is background."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    shots = []
    for t in range(frames):
        offset = (step[0] * t, step[1] * t)

        def move(x: np.ndarray, fill: float) -> np.ndarray:
            return ndimage.shift(x, offset + (0,) * (x.ndim - 2), order=0, mode="constant", cval=fill)

        alpha, fg, trimap = move(case["alpha"], 0.0), move(case["fg"], 0.0), move(case["trimap"], 0.0)
        image = alpha[..., None] * fg + (1.0 - alpha[..., None]) * case["bg"] + rng.normal(0, grain, fg.shape)
        image = image * (1.0 - drift * t)
        native = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
        shots.append({"image_native": native, "image": native / np.float32(255), "trimap": trimap,
                      "alpha": alpha, "fg": fg, "bg": case["bg"],
                      "band": ofx_dipmatte.snap_trimap(trimap) == 0.5})
    return shots


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", type=Path)
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--moving", action="store_true", help="also solve each still as a clip of a moving subject")
    ap.add_argument("--grain", type=float, default=0.0, help="with --moving: grain (σ) on each frame")
    ap.add_argument("--drift", type=float, default=0.0,
                    help="with --moving: the light falls by this a frame (frame t × (1 − drift·t))")
    args = ap.parse_args()
    rows, clips = [], []
    for root in args.data:
        for kind, folder in find_cases(root):
            name = f"{root.name}/{folder.name}"
            print(f"{name} ...", file=sys.stderr, flush=True)
            if kind == "clip":
                subs = [sub for sub in sorted(folder.iterdir()) if (sub / "bg.png").exists()]
                if subs:
                    frames = [load_case(sub) | {"bg": load(sub / "bg.png")[..., :3]} for sub in subs]
                    clips += clip_rows(name, frames)
                continue
            if not (folder / "bg.png").exists():
                continue
            case = load_case(folder)
            case["bg"] = load(folder / "bg.png")[..., :3]
            rows += case_rows(name, case, seed=len(rows))
            if args.moving:
                clips += clip_rows(f"{name}, moving", moving_clip(case, grain=args.grain, seed=len(clips), drift=args.drift),
                                   with_given=False)
    summary = summarise(rows, ("SAD ×CF", "Grad ×CF", "FgErr ×CF", "seconds ×CF"), better_on="SAD ×CF")
    text = markdown(summary, "Clean plates: medians over the stills") + "\n" + markdown(rows, "Clean plates: per case")
    if clips:
        text += "\n" + markdown(clips, "Clean plates: clips (one plate for the shot)")
        moving = [row for row in clips if row["case"].endswith(", moving")]
        if moving:
            text += "\n" + markdown(summarise(moving, ("SAD ×CF", "dtSSD ×CF"), better_on="SAD ×CF"),
                                     "Clean plates: medians over the moving clips")
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
