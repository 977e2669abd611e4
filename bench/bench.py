"""Benchmark ofx_dipmatte's presets against closed-form matting (pymatting), in one run.

Usage:
    python bench/bench.py DATA_DIR [DATA_DIR ...] [--presets draft,balanced] [--markdown FILE]

A data folder holds cases: a folder with image.png, trimap.png, alpha.png (and
optionally fg.png) is a still; a folder whose numbered subfolders are such cases is
a clip. Needs the `bench` extra (pymatting).
"""

from __future__ import annotations

import argparse
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline  # noqa: E402
import metrics as M  # noqa: E402

import ofx_dipmatte  # noqa: E402


def load(path: Path) -> np.ndarray:
    import OpenImageIO as oiio  # here, so scripts that only borrow markdown() need none

    buf = oiio.ImageBuf(str(path))
    if buf.has_error:
        raise SystemExit(f"cannot read {path}: {buf.geterror()}")
    return buf.get_pixels(oiio.FLOAT)


def load_native(path: Path) -> np.ndarray:
    """Pixels in the file's own type: an 8-bit PNG is display-referred, and the engine
    should see it as a user's PNG (uint8), not as scene-linear float."""
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(str(path))
    if buf.has_error:
        raise SystemExit(f"cannot read {path}: {buf.geterror()}")
    return buf.get_pixels(buf.spec().format)


def load_case(folder: Path) -> dict:
    case = {"image": load(folder / "image.png")[..., :3], "trimap": load(folder / "trimap.png")[..., 0],
            "image_native": load_native(folder / "image.png")[..., :3],
            "alpha": load(folder / "alpha.png")[..., 0]}
    if (folder / "fg.png").exists():
        case["fg"] = load(folder / "fg.png")[..., :3]
    case["band"] = ofx_dipmatte.snap_trimap(case["trimap"]) == 0.5
    return case


def add_grain(case: dict, sigma: float, seed: int) -> dict:
    """The case with Gaussian grain of ``sigma`` (0–1 units) on its image, quantised to the
    file's type as a scanned or rendered plate would be: every method gets the same noisy
    pixels. The synthetic cases are noise-free, which real plates never are."""
    native = case["image_native"]
    top = float(np.iinfo(native.dtype).max) if native.dtype.kind in "ui" else 1.0
    noisy = native + np.random.default_rng(seed).normal(0.0, sigma * top, native.shape)
    noisy = np.clip(np.round(noisy) if top > 1 else noisy, 0, top).astype(native.dtype)
    return {**case, "image_native": noisy, "image": (noisy / top).astype(np.float32)}


def video_round_trip(case: dict) -> dict:
    """The case as a host hands it to a filter after passing it through 8-bit Y'CbCr 4:2:2
    (Rec. 601, limited range), as MLT's ``avdeinterlace`` normaliser does to every frame
    (docs/hosts.md): luma requantised to 219 steps, chroma averaged over pixel pairs. On
    natron_check.py's test image this reproduces the pixels melt hands the plugin exactly
    for 98 % of them, and within 4 code values for all. 8-bit cases only."""
    native = case["image_native"]
    if native.dtype != np.uint8:
        raise SystemExit("--video-range takes 8-bit images")
    rgb = native.astype(np.float64)
    y = np.round(16 + rgb @ np.array([65.481, 128.553, 24.966]) / 255)
    chroma = [128 + rgb @ np.array(row) / 255 for row in ([-37.797, -74.203, 112.0], [112.0, -93.786, -18.214])]
    pairs = rgb.shape[1] // 2 * 2
    for c in chroma:  # one sample per horizontal pair of pixels
        c[:, :pairs] = np.repeat(np.round((c[:, 0:pairs:2] + c[:, 1:pairs:2]) / 2), 2, axis=1)
    luma, pb, pr = (y - 16) * 255 / 219, (np.round(chroma[0]) - 128) * 255 / 224, (np.round(chroma[1]) - 128) * 255 / 224
    back = np.stack([luma + 1.402 * pr, luma - 0.344136 * pb - 0.714136 * pr, luma + 1.772 * pb], axis=-1)
    out = np.clip(np.round(back), 0, 255).astype(np.uint8)
    return {**case, "image_native": out, "image": (out / 255.0).astype(np.float32)}


_BASELINE: ProcessPoolExecutor | None = None


def closed_form(case: dict) -> tuple[np.ndarray, np.ndarray, float]:
    """The baseline, in a worker process (see baseline.py for why)."""
    global _BASELINE
    if _BASELINE is None:
        _BASELINE = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    trimap = ofx_dipmatte.snap_trimap(case["trimap"])
    return _BASELINE.submit(baseline.closed_form, case["image"], trimap).result()


def scores(alpha, fg, case) -> dict:
    band = case["band"]
    out = {"SAD": M.sad(alpha, case["alpha"], band), "MSE": M.mse(alpha, case["alpha"], band),
           "Grad": M.gradient_error(alpha, case["alpha"], band),
           "Conn": M.connectivity_error(alpha, case["alpha"], band)}
    out["FgMSE"] = M.foreground_mse(fg, case["fg"], case["alpha"], band) if "fg" in case else float("nan")
    out["FgErr"] = M.foreground_error(fg, case["fg"], case["alpha"], band) if "fg" in case else float("nan")
    return out


_WARMED: set[str] = set()


def warm_engine(preset: str) -> None:
    """Solve a small still once with ``preset`` before anything of it is timed, as the
    baseline is run once before its timings (numba's compilation): the first solve in a
    process pays one-off costs, about 0.1–0.2 s, a fifth of a 256² still's time."""
    if preset in _WARMED:
        return
    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    trimap = np.full((64, 64), 0.5, np.float32)
    trimap[:16], trimap[-16:] = 0.0, 1.0
    ofx_dipmatte.matte(image, trimap, preset=preset, seed=0)
    _WARMED.add(preset)


def still_rows(name: str, case: dict, presets: list[str]) -> list[dict]:
    cf_alpha, cf_fg, cf_seconds = closed_form(case)
    rows = [{"case": name, "method": "closed-form", **scores(cf_alpha, cf_fg, case), "seconds": cf_seconds}]
    for preset in presets:
        warm_engine(preset)
        res = ofx_dipmatte.matte(case["image_native"], case["trimap"], preset=preset, seed=0)
        row = {"case": name, "method": preset, **scores(res.alpha, res.foreground, case),
               "seconds": res.stats.seconds, "iterations": res.stats.iterations}
        row["SAD ratio"] = row["SAD"] / max(rows[0]["SAD"], 1e-9)
        row["time ratio"] = row["seconds"] / max(cf_seconds, 1e-9)
        rows.append(row)
    return rows


def clip_rows(name: str, frames: list[dict], presets: list[str]) -> list[dict]:
    truths = [f["alpha"] for f in frames]
    bands = [f["band"] for f in frames]
    cf = [closed_form(f) for f in frames]
    rows = [{"case": name, "method": "closed-form", "SAD": statistics.mean(M.sad(a, f["alpha"], f["band"]) for (a, _, _), f in zip(cf, frames)),
             "dtSSD": M.dt_ssd([a for a, _, _ in cf], truths, bands),
             "cold s": cf[0][2], "warm s": statistics.mean(s for _, _, s in cf[1:])}]
    # As a host renders a clip (frame by frame, in order), and for presets that carry the
    # background a shot shows, also as `ofx-dipmatte matte` solves a sequence: every
    # other frame's known background shown to the session first, nearest the first frame
    # first (the frame itself is stacked by its solve).
    runs = [(preset, preset, False) for preset in presets]
    runs += [(f"{preset}, shot (frames shown first)", preset, True) for preset in presets
             if ofx_dipmatte.PRESETS.get(preset, ofx_dipmatte.Preset()).carry_background]
    for label, preset, shown in runs:
        warm_engine(preset)
        session = ofx_dipmatte.ClipSession(preset=preset, seed=0)
        for i, f in list(enumerate(frames))[1:] if shown else []:
            session.show_background(i, f["image_native"], f["trimap"])
        results = [session.matte(i, f["image_native"], f["trimap"]) for i, f in enumerate(frames)]
        sads = [M.sad(r.alpha, f["alpha"], f["band"]) for r, f in zip(results, frames)]
        cold, warm = results[0], results[1:]
        warm_seconds = statistics.mean(r.stats.seconds for r in warm)
        rows.append({
            "case": name, "method": label, "SAD": statistics.mean(sads),
            "cold SAD": sads[0], "warm SAD": statistics.mean(sads[1:]),
            "dtSSD": M.dt_ssd([r.alpha for r in results], truths, bands),
            "cold s": cold.stats.seconds, "warm s": warm_seconds,
            "warm/cold time": warm_seconds / cold.stats.seconds,
            "cold it": cold.stats.iterations, "warm it": statistics.mean(r.stats.iterations for r in warm),
        })
    return rows


def find_cases(root: Path):
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if (folder / "image.png").exists():
            yield "still", folder
        elif any((sub / "image.png").exists() for sub in folder.iterdir() if sub.is_dir()):
            yield "clip", folder


def summarise(rows: list[dict], keys: tuple, better_on: str | None = None) -> list[dict]:
    """One row per method: the median of each of ``keys`` over its cases, the worst
    ``SAD ×CF``, and with ``better_on`` (a ratio key) on how many cases it is under 1."""
    summary = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        row = {"case": f"median of {len(mine)}", "method": method,
               **{key: statistics.median(r[key] for r in mine) for key in keys},
               "worst SAD ×CF": max(r["SAD ×CF"] for r in mine)}
        if better_on:
            row[f"{better_on.split()[0]} better on"] = f"{sum(r[better_on] < 1 for r in mine)}/{len(mine)}"
        summary.append(row)
    return summary


def markdown(rows: list[dict], title: str) -> str:
    cols = [c for c in dict.fromkeys(k for r in rows for k in r) if c not in ("case",)]
    lines = [f"### {title}", "", "| case | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            cells.append(f"{v:.4g}" if isinstance(v, float) else str(v))
        lines.append(f"| {r['case']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", type=Path)
    ap.add_argument("--presets", default="draft,balanced", help="comma-separated presets (paper takes hours a frame on a CPU)")
    ap.add_argument("--markdown", type=Path, help="also write the tables to this file")
    ap.add_argument("--grain", type=float, default=0.0,
                    help="add Gaussian grain of this sigma (0–1 units) to every image first, e.g. 0.01")
    ap.add_argument("--video-range", action="store_true",
                    help="pass every image through 8-bit Y'CbCr 4:2:2 first, as MLT does before a filter")
    args = ap.parse_args()
    presets = [p for p in args.presets.split(",") if p]

    def case(path: Path, index: int = 0) -> dict:
        loaded = load_case(path)
        loaded = add_grain(loaded, args.grain, seed=index) if args.grain > 0 else loaded
        return video_round_trip(loaded) if args.video_range else loaded

    sections = []
    for root in args.data:
        still, clips = [], []
        for kind, folder in find_cases(root):
            name = folder.name
            print(f"[{root.name}] {kind} {name} ...", file=sys.stderr, flush=True)
            if kind == "still":
                still += still_rows(name, case(folder), presets)
            else:
                frames = [case(sub, i) for i, sub in
                          enumerate(sorted(s for s in folder.iterdir() if (s / "image.png").exists()))]
                clips += clip_rows(name, frames, presets)
        if still:
            summary = []
            for method in ["closed-form", *presets]:
                mine = [r for r in still if r["method"] == method]
                summary.append({"case": "median", "method": method, "SAD": statistics.median(r["SAD"] for r in mine),
                                "seconds": statistics.median(r["seconds"] for r in mine)})
            sections.append(markdown(still + summary, f"{root.name}: stills"))
        if clips:
            sections.append(markdown(clips, f"{root.name}: clip"))
        print("\n".join(sections[-2:]), flush=True)
    if args.markdown:
        args.markdown.write_text("\n".join(sections))


if __name__ == "__main__":
    main()
