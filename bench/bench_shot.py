"""Benchmark the two ways users run whole shots: the command line (continuous and in
farm chunks with preroll) and the OFX plugin (through our test host), in one run,
against closed-form matting (pymatting) on the same frames.

Usage:
    python bench/bench_shot.py CLIP_DIR [--preset draft] [--chunk 4] [--prerolls 0,2]

CLIP_DIR holds numbered case folders (image.png, trimap.png, alpha.png), e.g.
shared/data/dev256/clip. Needs the `bench` extra (pymatting) and a built package.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import metrics as M  # noqa: E402
from bench import closed_form, load_case, markdown  # noqa: E402

import ofx_dipmatte  # noqa: E402
from ofx_dipmatte.cli import main as cli  # noqa: E402
from ofx_dipmatte.io import read_image, write_image  # noqa: E402

FIRST = 1001


def write_sequence(frames: list[dict], folder: Path) -> tuple[str, str]:
    for i, f in enumerate(frames):
        write_image(folder / f"plate.{FIRST + i:04d}.png", f["image"])
        write_image(folder / f"trimap.{FIRST + i:04d}.png", f["trimap"])
    return str(folder / "plate.####.png"), str(folder / "trimap.####.png")


def run_cli(*args: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli([*args, "--json", "--quiet"])
    report = json.loads(out.getvalue())
    if code != 0:
        raise SystemExit(f"ofx-dipmatte {' '.join(args)} failed: {report['error']}")
    return report


def alphas(folder: Path, n: int) -> list[np.ndarray]:
    return [read_image(folder / f"plate.alpha.{FIRST + i:04d}.exr")[..., 0] for i in range(n)]


def shot_rows(frames: list[dict], preset: str, chunk: int, prerolls: list[int]) -> list[dict]:
    n = len(frames)
    truths, bands = [f["alpha"] for f in frames], [f["band"] for f in frames]
    cf = [closed_form(f) for f in frames]
    rows = [{"case": "closed-form", "mean SAD": statistics.mean(M.sad(a, t, b) for (a, _, _), t, b in zip(cf, truths, bands)),
             "dtSSD": M.dt_ssd([a for a, _, _ in cf], truths, bands), "seconds": sum(s for _, _, s in cf)}]
    with tempfile.TemporaryDirectory() as tmp:
        plate, trimap = write_sequence(frames, Path(tmp) / "in")
        runs = {"continuous": [[FIRST, FIRST + n - 1, 0]]}
        for p in prerolls:
            runs[f"chunks of {chunk}, preroll {p}"] = [[s, min(s + chunk, FIRST + n) - 1, p]
                                                       for s in range(FIRST, FIRST + n, chunk)]
        continuous = None
        for name, chunks in runs.items():
            out = Path(tmp) / name.replace(" ", "_").replace(",", "")
            start = time.perf_counter()
            reports = [run_cli("matte", plate, trimap, "-o", str(out), "--preset", preset, "--frames",
                               f"{a}-{b}", "--preroll", str(p), "--cache", str(out / f"cache{a}")) for a, b, p in chunks]
            seconds = time.perf_counter() - start
            result = alphas(out, n)
            solved = [f for r in reports for f in r["frames"]]
            row = {"case": name, "mean SAD": statistics.mean(M.sad(a, t, b) for a, t, b in zip(result, truths, bands)),
                   "dtSSD": M.dt_ssd(result, truths, bands), "seconds": seconds,
                   "time ratio vs CF": seconds / rows[0]["seconds"],
                   "frames solved": len(solved)}
            if continuous is None:
                continuous = result
                cold = [f for f in solved if f["warm_start_from"] is None]
                warm = [f for f in solved if f["warm_start_from"] is not None]
                row["cold s"] = statistics.mean(f["seconds"] for f in cold)
                row["warm s"] = statistics.mean(f["seconds"] for f in warm)
            else:  # how far chunk starts drift from the continuous run
                starts = [a - FIRST for a, _, _ in chunks[1:]]
                row["chunk-start SAD"] = statistics.mean(M.sad(result[i], truths[i], bands[i]) for i in starts)
                row["continuous SAD there"] = statistics.mean(M.sad(continuous[i], truths[i], bands[i]) for i in starts)
                row["max abs Δα vs continuous"] = max(float(np.abs(result[i] - continuous[i]).max()) for i in starts)
            rows.append(row)
    return rows


def plugin_rows(frames: list[dict], preset: str) -> list[dict]:
    """The same frames through the OFX plugin (in-process test host) vs the engine directly."""
    try:
        from ofx_dipmatte.ofx import _testhost, bundle_path
    except ImportError:
        return []
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from ofx_layout import to_host

    host = _testhost.Host(str(bundle_path()))
    inst = host.create_instance("OfxImageEffectContextGeneral")
    host.set_param(inst, "preset", ["draft", "balanced", "paper", "dip"].index(preset))
    plugin_s, engine_s = [], []
    session = ofx_dipmatte.ClipSession(preset=preset, seed=0)
    for i, f in enumerate(frames):
        rgba = np.dstack([f["image"], np.ones_like(f["trimap"])]).astype(np.float32)
        host.set_image(inst, "Source", float(i), **to_host(rgba))
        host.set_image(inst, "Trimap", float(i), **to_host(f["trimap"][..., None].astype(np.float32)))
        start = time.perf_counter()
        if host.render(inst, float(i)) != 0:
            raise SystemExit(f"plugin render failed: {host.persistent_message(inst)}")
        plugin_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        session.matte(i, f["image"], f["trimap"])
        engine_s.append(time.perf_counter() - start)
    start = time.perf_counter()
    host.render(inst, float(len(frames) - 1))
    cached = time.perf_counter() - start
    return [{"case": "OFX plugin (test host)", "total s": sum(plugin_s), "first frame s": plugin_s[0],
             "engine total s": sum(engine_s), "plugin/engine": sum(plugin_s) / sum(engine_s),
             "cached re-render s": cached}]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip", type=Path)
    ap.add_argument("--preset", default="draft")
    ap.add_argument("--chunk", type=int, default=4)
    ap.add_argument("--prerolls", default="0,2")
    args = ap.parse_args()
    frames = [load_case(sub) for sub in sorted(args.clip.iterdir()) if (sub / "image.png").exists()]
    prerolls = [int(p) for p in args.prerolls.split(",") if p]
    print(markdown(shot_rows(frames, args.preset, args.chunk, prerolls),
                   f"{args.clip.name}: command-line shot, preset {args.preset}"))
    rows = plugin_rows(frames, args.preset)
    if rows:
        print(markdown(rows, f"{args.clip.name}: OFX plugin vs engine, preset {args.preset}"))


if __name__ == "__main__":
    main()
