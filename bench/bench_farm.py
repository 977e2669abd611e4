"""Farm jobs on this machine (issue 12): a 6-frame shot as one chunk and as three, run by
`openjd run` and by pyoutline's local backend; wall time of the whole run and of each
chunk (from its JSON report), and whether the frames equal a continuous `matte` run.

``--stack-plate``: the continuous run is ``matte --stack-plate`` and the jobs have its three
steps (first solve, clean plate, matte); the tasks counted are every step's.

Usage:
    python bench/bench_farm.py [--size 128] [--preset balanced] [--stack-plate] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import markdown  # noqa: E402
from plate_case import make_plate  # noqa: E402

from ofx_dipmatte.io import read_image, write_image  # noqa: E402

FRAMES = range(1001, 1007)


def write_shot(folder: Path, size: int) -> tuple[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(FRAMES):
        image, trimap, _ = make_plate(size, size, shift=3 * i, band=4, strands=size)
        write_image(folder / f"plate.{f:04d}.exr", image)
        write_image(folder / f"trimap.{f:04d}.png", trimap)
    return str(folder / "plate.####.exr"), str(folder / "trimap.####.png")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ofx_dipmatte", *args]


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def same_as(out: Path, reference: Path) -> float:
    """Largest alpha difference from the continuous run over all frames."""
    return max(float(np.abs(read_image(out / f"plate.alpha.{f:04d}.exr")
                            - read_image(reference / f"plate.alpha.{f:04d}.exr")).max()) for f in FRAMES)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--preset", default="balanced")
    ap.add_argument("--stack-plate", action="store_true")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_farm_") as tmp:  # every output goes with the run
        work = Path(tmp)
        plate, trimap = write_shot(work / "in", args.size)
        common = ["--frames", f"{FRAMES[0]}-{FRAMES[-1]}", "--preset", args.preset]
        if args.stack_plate:
            common.append("--stack-plate")
        reference = work / "continuous"
        rows = [{"case": "continuous `matte` (one process)", "tasks": 1,
                 "wall s": timed(cli("matte", plate, trimap, "-o", str(reference), "--quiet", *common))}]
        for fmt in ("openjd", "opencue"):
            for chunk in (6, 2):
                out = work / f"{fmt}_{chunk}"
                farm = cli("farm", plate, trimap, "-o", str(out), "--chunk", str(chunk), "--preroll", "1",
                           "--format", fmt, *common)
                if fmt == "openjd":
                    timed(farm)
                    wall = timed([sys.executable, "-m", "openjd", "run", str(out / ".farm" / "job.openjd.yaml"),
                                  "--step", "Matte", "--run-dependencies"])
                else:
                    wall = timed(farm + ["--run-local"])
                reports = [json.loads(p.read_text()) for p in sorted((out / ".farm").glob("chunk.*.json"))]
                tasks = len(reports)
                if args.stack_plate:  # the first solve's chunks and the clean plate task too
                    tasks += len(list((out / ".farm" / "first_solve").glob("chunk.*.json"))) + 1
                rows.append({"case": f"{fmt}, chunk {chunk}, preroll 1", "tasks": tasks, "wall s": wall,
                             "chunk s (report)": " / ".join(f"{r['seconds']:.1f}" for r in reports),
                             "max |Δα| vs continuous": same_as(out, reference)})
    what = ", --stack-plate" if args.stack_plate else ""
    text = markdown(rows, f"Farm runs: 6 frames of {args.size}², {args.preset}{what}")
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
