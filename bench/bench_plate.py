"""Real plate sizes (issue 11): cold and warm frame time, peak memory and quality of the
engine on synthetic plates with a hairy subject (bench/plate_case.py), against
closed-form matting on the same frame.

Every measurement runs in a fresh process, so its peak resident memory (ru_maxrss) is
its own: the engine's process holds torch, the baseline's holds pymatting (numba) — in
one process pymatting slows torch ~1.7× (see baseline.py). Frame 0 is solved cold;
frame 1 (the subject moved 3 px right, same background) warm-started from it, as a
ClipSession does in a shot.

A size may carry the ribbon's shape: ``WxH/BAND/STRANDS``, the band's half-width in
pixels (default 6) and strands per pixel of the frame's height (default 3), so a thin,
sparse ribbon (``1920x1080/2/0.2``: 7 % of the frame) can be set against the default one
(27 %) in the same run.

``--device cuda --tile-batch N``: the nets' tiles on a GPU, N same-size tiles fitted as
one batch (0: the engine's default for the device; 1: one at a time); the peak GPU memory
is reported too.

A cold frame that takes a few seconds (the 256² still) is solved again in fresh sessions,
up to five times while they add up to under 10 s, and "cold s" is their median: the first
solve in a process also pays one-off costs (about 0.2 s of a 1 s still here), and the
seconds per band megapixel compare the still with the plates.

``--rounds N``: the engine's runs of every size repeated N times, one size after the
other in each round, so that each round's sizes are measured minutes apart; the table
gives each size's median round, and "cold s per band Mpx ×first" the median over rounds
of the ratio to the first size's figure in the same round (with 256x256 first: the
plate's cost per band pixel against the still's, issue 11). On this shared 2-core machine
a ratio from one run moved by ±10 % from one hour to the next.

Usage:
    python bench/bench_plate.py [--sizes 256x256 1920x1080 3840x2160 1920x1080/2/0.2] [--preset balanced]
        [--device auto] [--tile-batch 0] [--rounds 1] [--no-baseline] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Cold frames are solved again, up to 5 times in all, while their total stays under this
#: (seconds); "cold s" is then the median, "first cold s" the first one.
REPEAT_UNDER_S = 10.0


def parse_size(text: str) -> tuple[int, int, int, float]:
    """``WxH[/BAND[/STRANDS]]`` → width, height, band half-width, strands per pixel of height."""
    parts = text.split("/")
    width, height = (int(v) for v in parts[0].split("x"))
    band = int(parts[1]) if len(parts) > 1 else 6
    strands = float(parts[2]) if len(parts) > 2 else 3.0
    return width, height, band, strands


def plate(width: int, height: int, band: int, strands: float, shift: int = 0):
    from plate_case import make_plate

    return make_plate(height, width, shift=shift, band=band, strands=int(round(strands * height)))


def engine_run(width: int, height: int, preset: str, device: str = "auto", tile_batch: int = 0,
               band: int = 6, strands: float = 3.0) -> dict:
    import resource
    import time

    import numpy as np

    import metrics as M
    import ofx_dipmatte

    import torch

    frames = [plate(width, height, band, strands, shift=s) for s in (0, 3)]
    from ofx_dipmatte.engine.presets import resolve_preset

    config = resolve_preset(preset).replace(tile_batch=tile_batch)  # a name, or NAME:FIELD=VALUE,...
    session = ofx_dipmatte.ClipSession(preset=config, seed=0, device=device)
    out = {}
    for i, (image, trimap, alpha) in enumerate(frames):
        image8 = np.round(image * 255).astype(np.uint8)  # a user's 8-bit plate
        start = time.perf_counter()
        result = session.matte(i, image8, trimap)
        seconds = time.perf_counter() - start
        band = trimap == 0.5
        key = "cold" if i == 0 else "warm"
        out[f"{key} s"] = seconds
        out[f"{key} SAD"] = M.sad(result.alpha, alpha, band)
        out["band Mpx"] = float(band.sum()) / 1e6
        out[f"{key} tiles"] = result.stats.tiles
        out[f"{key} it"] = result.stats.iterations  # summed over tiles
        out[f"{key} stop"] = result.stats.stop_reason
    # A frame of a second is timed again (fresh sessions): the first solve in a process
    # pays one-off costs (about 0.2 s here), which are no part of its cost per band pixel.
    colds = [out["cold s"]]
    while sum(colds) < REPEAT_UNDER_S and len(colds) < 5:
        fresh = ofx_dipmatte.ClipSession(preset=config, seed=0, device=device)
        start = time.perf_counter()
        fresh.matte(0, np.round(frames[0][0] * 255).astype(np.uint8), frames[0][1])
        colds.append(time.perf_counter() - start)
    out["first cold s"], out["cold s"], out["cold runs"] = colds[0], float(np.median(colds)), len(colds)
    out["peak GiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    out["device"] = str(session.device)
    if session.device.type == "cuda":
        out["GPU peak GiB"] = torch.cuda.max_memory_allocated() / 2 ** 30
    return out


def baseline_run(width: int, height: int, band: int = 6, strands: float = 3.0) -> dict:
    import resource

    import numpy as np

    import baseline
    import metrics as M

    image, trimap, alpha = plate(width, height, band, strands)
    image = np.round(image * 255) / 255  # the same 8-bit pixels the engine gets
    cf_alpha, _, seconds = baseline.closed_form(image.astype(np.float64), trimap)
    return {"CF s": seconds, "CF SAD": M.sad(cf_alpha, alpha, trimap == 0.5),
            "CF peak GiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def in_child(kind: str, *args) -> dict:
    """Run ``kind`` (engine / baseline) in a fresh interpreter; its JSON answer."""
    code = (f"import sys, json; sys.path.insert(0, {str(HERE)!r}); import bench_plate as b; "
            f"print(json.dumps(b.{kind}_run(*{args!r})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["256x256", "1920x1080", "3840x2160"],
                    help="WxH, or WxH/BAND/STRANDS: the band's half-width (px) and strands per px of height")
    ap.add_argument("--preset", default="balanced", help="a preset's name, or NAME:FIELD=VALUE,... (as --preset of the CLI)")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--tile-batch", type=int, default=0,
                    help="same-size tiles fitted as one batch (0: the engine's default for the device)")
    ap.add_argument("--rounds", type=int, default=1, help="engine runs of every size, in rounds (see above)")
    ap.add_argument("--no-baseline", action="store_true", help="skip closed-form (pymatting)")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from bench import markdown

    runs: dict[str, list[dict]] = {size: [] for size in args.sizes}
    for round_ in range(max(args.rounds, 1)):
        for size in args.sizes:
            width, height, band, strands = parse_size(size)
            print(f"{size} (round {round_ + 1}) ...", file=sys.stderr, flush=True)
            run = in_child("engine", width, height, args.preset, args.device, args.tile_batch, band, strands)
            run["cold s per band Mpx"] = run["cold s"] / run["band Mpx"]
            runs[size].append(run)
    first = runs[args.sizes[0]]
    rows = []
    for size in args.sizes:
        width, height, band, strands = parse_size(size)
        # The median round by cold time (of an even count, the upper of the middle two).
        ordered = sorted(runs[size], key=lambda run: run["cold s"])
        row = {"case": size, "preset": args.preset, "tile batch": args.tile_batch, **ordered[len(ordered) // 2]}
        row["rounds"] = len(ordered)
        row["band share"] = row["band Mpx"] * 1e6 / (width * height)
        row["warm/cold"] = row["warm s"] / row["cold s"]
        ratios = sorted(run["cold s per band Mpx"] / base["cold s per band Mpx"] for run, base in zip(runs[size], first))
        row["cold s per band Mpx ×first"] = ratios[len(ratios) // 2]
        if len(ratios) > 1:
            row["×first range"] = f"{ratios[0]:.2f}–{ratios[-1]:.2f}"
        if not args.no_baseline:
            row.update(in_child("baseline", width, height, band, strands))
            row["SAD ×CF"] = row["cold SAD"] / row["CF SAD"]
            row["cold s ×CF"] = row["cold s"] / row["CF s"]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    text = markdown(rows, f"Plates ({args.preset})")
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
