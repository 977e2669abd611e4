"""``ofx-dipmatte farm-report OUT``: a shot's state after (or during) a farm run.

A frame is *done* when all its outputs are on disk, *failed* when the chunk that holds
it reported an error (its report says why) and the outputs are not there, *missing*
otherwise (its chunk has not run, is running, or was killed before it could report).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..io import FramePattern
from . import FarmShot


def _chunk_reports(shot: FarmShot) -> dict[int, dict]:
    reports = {}
    for start in shot.chunk_starts():
        path = Path(shot.report_path(start))
        if path.is_file():
            try:
                reports[start] = json.loads(path.read_text())
            except json.JSONDecodeError:  # written atomically, so only a foreign file gets here
                reports[start] = {"status": "error", "error": f"{path}: not a JSON report", "frames": []}
    return reports


def shot_status(out: "str | Path") -> dict:
    """Per frame: status (done / missing / failed), seconds, chunk, error; and per chunk."""
    shot = FarmShot.load(out)
    outputs = shot.output_patterns()
    reports = _chunk_reports(shot)
    frames, chunks = [], []
    for start in shot.chunk_starts():
        report = reports.get(start)
        span = shot.chunk_frames(start)
        seconds = {f["frame"]: f["seconds"] for f in (report or {}).get("frames", []) if f["status"] != "preroll"}
        chunks.append({"chunk": f"{span[0]}-{span[-1]}", "status": "not reported" if report is None else report["status"],
                       "seconds": None if report is None else report.get("seconds"),
                       "error": None if report is None else report.get("error"),
                       "release": None if report is None else report.get("ofx_dipmatte")})
        for frame in span:
            done = all(p.path(frame).is_file() for _, p in outputs.items())
            if done:
                status = "done"
            elif report is not None and report["status"] != "ok":
                status = "failed"
            else:
                status = "missing"
            frames.append({"frame": frame, "status": status, "seconds": seconds.get(frame), "chunk": chunks[-1]["chunk"],
                           "error": report.get("error") if status == "failed" and report is not None else None})
    count = {s: sum(f["status"] == s for f in frames) for s in ("done", "missing", "failed")}
    # Nodes with different releases installed make frames that need not match.
    releases = sorted({c["release"] for c in chunks if c["release"]})
    warnings = [f"the chunks were rendered by ofx_dipmatte {', '.join(releases)}: frames of different releases "
                "need not match; install one release on every node and render the others' chunks again"] \
        if len(releases) > 1 else []
    return {"shot": shot.plate, "out": shot.out, "frames": frames, "chunks": chunks, **count,
            "complete": count["done"] == len(frames), "releases": releases, "warnings": warnings}


def status_table(status: dict) -> str:
    lines = [f"{status['shot']} -> {status['out']}",
             f"{status['done']} done, {status['missing']} missing, {status['failed']} failed",
             *(f"warning: {w}" for w in status["warnings"]), "",
             f"{'frame':>8}  {'status':8}  {'seconds':>8}  chunk"]
    for f in status["frames"]:
        seconds = "" if f["seconds"] is None else f"{f['seconds']:.1f}"
        lines.append(f"{f['frame']:>8}  {f['status']:8}  {seconds:>8}  {f['chunk']}"
                     + (f"  {f['error']}" if f["error"] else ""))
    return "\n".join(lines)


def contact_sheet(out: "str | Path", status: dict, path: "str | Path", rows: int = 12) -> Path:
    """One PNG for the shot: a row per frame written (evenly sampled when there are more
    than ``rows``), read back from the outputs on disk."""
    from ..io import read_image_file
    from ..preview import sheet_row, write_sheet
    from ..trimap import to_unit_float, trimap_from_rough_matte

    shot = FarmShot.load(out)
    outputs = shot.output_patterns()
    if outputs.alpha is None or outputs.fg is None:
        raise ValueError("--contact-sheet: the shot's job writes no alpha or no fg output to show")
    done = [f["frame"] for f in status["frames"] if f["status"] == "done"]
    if not done:
        raise ValueError(f"{out}: no frame is done yet: nothing to show")
    picks = [done[int(i)] for i in np.linspace(0, len(done) - 1, min(rows, len(done)))]
    sheet = []
    for frame in dict.fromkeys(picks):
        plate = read_image_file(FramePattern(shot.plate).path(frame)).pixels[..., :3]
        guide_file = read_image_file(FramePattern(shot.guide).path(frame))
        guide = to_unit_float(guide_file.matte_channel(), str(guide_file.path))
        trimap = trimap_from_rough_matte(guide, band=shot.band) if shot.rough_matte else guide
        alpha = read_image_file(outputs.alpha.path(frame)).pixels[..., 0]
        fg = read_image_file(outputs.fg.path(frame)).pixels[..., :3]
        sheet.append(sheet_row(plate, trimap, alpha, fg, height=120))
    return write_sheet(path, sheet)
