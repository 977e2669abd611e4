"""Command line: ``ofx-dipmatte`` (also ``python -m ofx_dipmatte``).

    ofx-dipmatte demo -o OUT                          matte the example that ships with the package
    ofx-dipmatte matte PLATE TRIMAP -o OUT            a still, or a shot: plate.####.exr trimap.####.png
    ofx-dipmatte matte PLATE --rough-matte MASK -o OUT    trimaps made from rough mattes (--band PX)
    ofx-dipmatte trimap MASK -o TRIMAP                make a trimap (or a sequence of them) from rough mattes
    ofx-dipmatte farm PLATE TRIMAP -o OUT --frames A-B --chunk N --format openjd|opencue [--run-local|--submit]
    ofx-dipmatte farm-report OUT                      which frames of a farm job are done, missing or failed
    ofx-dipmatte install-plugin [--dest DIR]          install the OFX plugin for this Python
    ofx-dipmatte doctor                               check the OFX plugin end to end

Exit status: 0 success, 2 bad usage or input, 1 failure (including Ctrl-C: run the same
command again to resume).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Optional

from . import __version__

EXAMPLES = Path(__file__).resolve().parent / "examples"
JSON_VERSION = 1


class _UsageError(ValueError):
    pass


class ConsoleReporter:
    """Progress for a terminal: a bar for the shot (frames, iterations, ETA) and one for
    the frame being solved; plain per-frame lines otherwise. Silent with --quiet or --json."""

    def __init__(self, frames: int, quiet: bool, json_mode: bool):
        from tqdm import tqdm

        self._tqdm = tqdm
        self.interactive = sys.stderr.isatty() and not quiet
        self.lines = not quiet and not json_mode
        self.records: list = []
        self.shot = tqdm(total=frames, desc="shot", unit="frame", disable=not self.interactive or frames < 2,
                         position=0)
        self.frame = None
        self.iterations = 0

    def frame_start(self, frame, status, max_iterations):
        label = f"frame {frame}" + {"preroll": " (preroll)", "first_solve": " (first solve)"}.get(status, "")
        self.frame = self._tqdm(total=max_iterations, desc=label, unit="it", leave=False,
                                disable=not self.interactive, position=1)

    def iteration(self, iteration, total, loss):
        self.iterations += 1
        if self.frame is not None:
            self.frame.update(iteration - self.frame.n)
            self.frame.set_postfix(loss=f"{loss:.4g}", refresh=False)

    def frame_done(self, record):
        self.records.append(record)
        if self.frame is not None:
            self.frame.close()
            self.frame = None
        if record.status not in ("preroll", "first_solve"):
            self.shot.update(1)
            self.shot.set_postfix(iterations=self.iterations, refresh=False)
        if self.lines:
            self._tqdm.write(_describe(record), file=sys.stdout)

    def background_read(self, done, total):
        if done == 0:
            if self.lines:
                self._tqdm.write(f"reading {total} frames' known background (a locked-off shot's carried "
                                 "background; --background-frames)", file=sys.stdout)
            self.frame = self._tqdm(total=total, desc="background", unit="frame", leave=False,
                                    disable=not self.interactive, position=1)
        elif self.frame is not None:
            self.frame.update(done - self.frame.n)
            if done == total:
                self.frame.close()
                self.frame = None

    def close(self):
        if self.frame is not None:
            self.frame.close()
        self.shot.close()


def _describe(record) -> str:
    from .engine.results import about_inputs

    if record.status == "skipped":
        return f"frame {record.frame}: skipped, outputs exist"
    if record.stop_reason in ("no_network", "no_unknown"):  # nothing fitted: no iterations or loss to tell
        about = ["no unknown pixels" if record.stop_reason == "no_unknown" else "no network fitted"]
        if record.background_frames:
            n = record.background_frames
            about.append(f"background carried from {n} frame{'' if n == 1 else 's'}")
        if record.chroma_restored:
            about.append(f"chroma restored from {record.chroma_restored}")
        line = f"frame {record.frame}: solved in {record.seconds:.1f} s ({', '.join(about)})"
    else:
        start = "cold" if record.warm_start_from is None else f"warm from {record.warm_start_from}"
        loss = "n/a" if record.final_loss is None else f"{record.final_loss:.4g}"
        line = (f"frame {record.frame}: {record.iterations} iterations in {record.seconds:.1f} s ({start}, "
                f"{record.stop_reason}), final loss {loss}")
    if record.status == "preroll":
        return line + ", preroll (not written)"
    if record.status == "first_solve":
        return line + ", first solve for --stack-plate (not written)"
    if record.repeat_of is not None:  # a held frame: nothing was solved
        line = f"frame {record.frame}: the pixels of frame {record.repeat_of} again, its matte written again"
    return line + "".join(f"\n  {kind}: {path}" for kind, path in record.outputs.items()) \
        + "".join(f"\n  warning: {text}" for text in about_inputs(record.warnings))


def _frames(args, plate) -> list[int]:
    """The frames to solve: the shot's (:func:`_shot_frames`), or a farm task's chunk of them."""
    return _chunk(args, _shot_frames(args, plate))


def _shot_frames(args, plate) -> list[int]:
    """--frames, or every frame on disk (a still: [0])."""
    from .io import parse_frames

    if args.frames:
        if not plate.is_sequence:
            raise _UsageError(f"--frames: {plate} is a still, not a frame pattern like plate.####.exr")
        return parse_frames(args.frames)
    if not plate.is_sequence:
        return [0]
    frames = plate.frames_on_disk()
    if not frames:
        raise _UsageError(f"{plate}: no files match this pattern; check the path or give --frames")
    return frames


def _chunk(args, frames: list[int]) -> list[int]:
    """A farm task's share of ``frames`` (--chunk-start, --chunk-size); all of them without."""
    start, size = getattr(args, "chunk_start", None), getattr(args, "chunk_size", None)
    if (start is None) != (size is None):
        raise _UsageError("--chunk-start and --chunk-size go together")
    if start is not None and getattr(args, "stack_plate", False):
        raise _UsageError("--stack-plate solves the whole shot twice, so not in chunks: on a farm, "
                          "`ofx-dipmatte farm --stack-plate` makes a job of three steps (README)")
    if start is None or size is None:
        return frames
    if size < 1:
        raise _UsageError("--chunk-size must be at least 1")
    # A farm task: its share of the shot's frames (see `ofx-dipmatte farm`).
    chunk = [f for f in frames if start <= f < start + size]
    if not chunk:
        raise _UsageError(f"--chunk-start {start}: no frame of --frames {args.frames} in this chunk")
    return chunk


def _guide(args):
    """The trimap pattern, or the rough-matte pattern: exactly one of the two."""
    from .io import FramePattern

    if (args.trimap is None) == (args.rough_matte is None):
        raise _UsageError("give a TRIMAP or --rough-matte MASK (one of the two)")
    return FramePattern(args.trimap or args.rough_matte)


def _job(args):
    from .engine.presets import with_limits
    from .io import FramePattern
    from .shot import ShotJob, ShotOutputs

    plate = FramePattern(args.plate)
    guide = _guide(args)
    explicit = {k: FramePattern(v) for k in ("alpha", "fg", "bg", "rgba") if (v := getattr(args, k))}
    if explicit:
        outputs = ShotOutputs(**explicit)
    elif args.out is not None:
        outputs = ShotOutputs.defaults(args.out, plate)
    else:
        raise _UsageError("say where to write: -o DIR, or --alpha/--fg/--bg/--rgba patterns")
    preview = None
    if getattr(args, "preview", False):
        folder = args.out if args.out is not None else outputs.items()[0][1].path(0).parent
        token = "." + "#" * max(plate.padding, 4) if plate.is_sequence else ""
        preview = FramePattern(str(folder / f"{plate.stem}.preview{token}.png"))
    shot = _shot_frames(args, plate)  # a farm task solves its chunk of the shot
    return ShotJob(plate=plate, guide=guide, frames=_chunk(args, shot), shot_frames=shot, outputs=outputs,
                   rough_matte=args.rough_matte is not None, band=args.band, preroll=args.preroll,
                   preset=with_limits(args.preset, args.max_iterations, args.loss_threshold),
                   device=args.device, seed=args.seed, overwrite=args.overwrite, cache=args.cache, preview=preview,
                   clean_plate=FramePattern(args.clean_plate) if getattr(args, "clean_plate", None) else None,
                   stack_plate=getattr(args, "stack_plate", False),
                   independent_frames=getattr(args, "independent_frames", False),
                   background_frames=getattr(args, "background_frames", None))


def _background_frames(text: str) -> Optional[int]:
    """--background-frames: a count of frames either side, or 'all' (None)."""
    if text == "all":
        return None
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of frames (e.g. 8) or 'all'") from None
    if count < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 or more frames, or 'all'")
    return count


def _run_matte(args) -> int:
    import time

    from .engine import Cancelled
    from .shot import ShotError, ShotReport

    reporter: Optional[ConsoleReporter] = None
    job = None
    status, error, code = "ok", None, 0
    start = time.perf_counter()
    try:
        job = _job(args)
        reporter = ConsoleReporter(len(job.frames), args.quiet, args.json)
        job.run(reporter)
    except (_UsageError, ShotError, ValueError, FileExistsError) as exc:
        status, error, code = "error", str(exc), 2
    except Cancelled as exc:
        status, error, code = "error", f"cancelled: {exc}", 1
    except KeyboardInterrupt:
        status, error, code = "interrupted", "interrupted; run the same command again to resume", 1
    finally:
        if reporter is not None:
            reporter.close()
    # What was done, also when the run stopped early: the reporter saw every finished frame.
    report = ShotReport(frames=reporter.records if reporter else [], seconds=time.perf_counter() - start,
                        cache=str(job.cache) if job else None, stacked_plate=job.stacked_plate if job else None)
    if error:
        print(f"ofx-dipmatte: {'error: ' if code == 2 else ''}{error}", file=sys.stderr)
    body = {"version": JSON_VERSION, "ofx_dipmatte": __version__, "status": status, "error": error, "exit_code": code,
            **report.to_dict()}
    if getattr(args, "report", None):
        from .farm import write_json_atomic

        write_json_atomic(args.report, body)
    if args.json:
        print(json.dumps(body, indent=2))
    elif not error and not args.quiet:
        body = report.to_dict()
        stacked = report.stacked_plate
        if stacked is not None:
            print(f"stacked plate: {stacked['frames']} frames, background on {100 * stacked['coverage']:.0f} % of "
                  f"the frame, spread {stacked['spread']:.3f}" + ("" if stacked["used"] else "; not used"))
            if stacked["warning"]:
                print(f"warning: {stacked['warning']}", file=sys.stderr)
        print(f"done: {body['frames_written']} frame(s) written, {body['frames_skipped']} skipped, "
              f"{report.seconds:.1f} s")
    return code


def _farm_shot(args):
    """Check a farm job as `matte` would check each of its tasks, then describe it."""
    from .engine.presets import with_limits
    from .farm import FarmShot

    if args.chunk < 1:
        raise _UsageError("--chunk must be at least 1")
    if args.device not in ("auto", "cpu", "cuda"):
        raise _UsageError(f"--device {args.device!r}: use auto, cpu or cuda")
    with_limits(args.preset, args.max_iterations, args.loss_threshold).check()
    job = _job(args)  # the same checks (and messages) as the tasks' own `matte`
    frames = job.frames
    if frames != list(range(frames[0], frames[-1] + 1)):
        raise _UsageError("--frames: a farm job takes one contiguous range, e.g. 1001-1100")
    job.check_inputs()
    guide = args.rough_matte or args.trimap
    float_plate = True
    if job.stack_plate:  # the stacked plate is of the plates' kind: EXR for float, TIFF for integer
        from .io import read_image_file

        float_plate = read_image_file(job.plate.path(frames[0])).is_float
    return FarmShot(plate=str(Path(args.plate).absolute()), guide=str(Path(guide).absolute()),
                    out=str(args.out.absolute()), first=frames[0], last=frames[-1], chunk=args.chunk,
                    rough_matte=args.rough_matte is not None, band=args.band, preroll=args.preroll,
                    preset=args.preset, device=args.device, seed=args.seed, max_iterations=args.max_iterations,
                    loss_threshold=args.loss_threshold, overwrite=args.overwrite,
                    clean_plate=str(Path(args.clean_plate).absolute()) if args.clean_plate else "",
                    stack_plate=job.stack_plate, float_plate=float_plate,
                    independent_frames=job.independent_frames,
                    background_frames="all" if job.background_frames is None else str(job.background_frames),
                    outputs={k: str(Path(v).absolute()) for k in ("alpha", "fg", "bg", "rgba")
                             if (v := getattr(args, k))})


def _run_farm(args) -> int:
    from .shot import ShotError

    if args.out is None:
        raise _UsageError("farm: give the output folder with -o OUT")
    if args.submit and args.run_local:
        raise _UsageError("--submit and --run-local: choose one")
    if args.submit and args.format == "openjd":
        raise _UsageError("--submit: an OpenJD template is submitted with your farm's own tool "
                          "(e.g. `deadline bundle submit`); write it with --write")
    try:
        shot = _farm_shot(args)
    except ShotError as exc:
        raise _UsageError(str(exc)) from None

    def say(text: str) -> None:  # for people; --json keeps stdout for the summary
        if not args.quiet:
            print(text, file=sys.stderr if args.json else sys.stdout)

    def task(step: str, start: int) -> dict:
        last = shot.last if step == "clean_plate" else shot.chunk_frames(start)[-1]
        return {"step": step, "frames": f"{start}-{last}", "command": [shot.python, *shot.task_args(step, start)]}

    # each step after the one before
    tasks = [task(step, start) for step in shot.steps() for start in shot.task_starts(step)]
    summary = {"version": JSON_VERSION, "format": args.format, "job": None, "exit_code": 0, "tasks": tasks}
    if args.format == "openjd":
        from .farm import openjd

        path = openjd.write_template(shot, args.write or Path(shot.out) / ".farm" / "job.openjd.yaml")
        shot.save()
        summary["job"] = str(path)
        say(f"wrote {path} ({len(shot.chunk_starts())} tasks of up to {shot.chunk} frames)")
        if args.run_local:
            summary["exit_code"] = openjd.run_local(path)
        else:
            say(f"try it here: {shlex.join(openjd.openjd_cli(*openjd.run_args(path)))}")
    else:
        from .farm import opencue

        def build(only=None):
            return opencue.build_outline(shot, service=args.service, tags=args.tags, show=args.show,
                                         shot_name=args.shot, cores=args.cores, only=only)

        outline = build()
        if args.write:
            summary["job"] = str(opencue.write_outline(outline, args.write))
            say(f"wrote {summary['job']}")
        shot.save()
        if args.run_local:
            summary["exit_code"] = opencue.run_local(shot, build)
        elif args.submit:
            try:
                say(opencue.submit(outline))
            except RuntimeError as exc:
                print(f"ofx-dipmatte: {exc}", file=sys.stderr)
                summary["exit_code"] = 1
        else:
            say(opencue.describe(outline, shot))
    if args.json:
        print(json.dumps(summary, indent=2))
    return summary["exit_code"]


def _run_farm_report(args) -> int:
    from .farm.report import contact_sheet, shot_status, status_table

    status = shot_status(args.out)
    if args.contact_sheet:
        print(f"wrote {contact_sheet(args.out, status, args.contact_sheet, rows=args.rows)}", file=sys.stderr)
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print(status_table(status))
    return 0 if status["complete"] else 1


def _run_trimap(args) -> int:
    from .io import FramePattern, parse_frames, read_image_file, write_image
    from .trimap import to_unit_float, trimap_from_rough_matte

    mask, out = FramePattern(args.mask), FramePattern(str(args.out))
    if args.frames:
        frames = parse_frames(args.frames)
    else:
        frames = mask.frames_on_disk() or [0]
    if len(frames) > 1 and not out.is_sequence:
        raise _UsageError(f"-o {out}: a sequence of masks needs a frame token in the output name")
    for frame in frames:
        source = read_image_file(mask.path(frame))
        trimap = trimap_from_rough_matte(to_unit_float(source.matte_channel(), str(source.path)), band=args.band)
        print(write_image(out.path(frame), trimap, overwrite=args.overwrite, like=source, colour=False))
    return 0


def _run_clean_plate(args) -> int:
    """Stack a clean plate from a locked-off shot's known background (PlateStack)."""
    import dataclasses

    from .engine.clean_plate import PlateStack
    from .io import FramePattern, write_image
    from .shot import read_first_solve, read_frame

    plate = FramePattern(args.plate)
    guide = _guide(args)
    frames = _frames(args, plate)
    if (args.alpha is None) != (args.fg is None):
        raise _UsageError("--alpha and --fg go together: the alpha and foreground a first matte run wrote")
    solved = (FramePattern(args.alpha), FramePattern(args.fg)) if args.alpha else None
    stack, first = PlateStack(), None
    for frame in frames:
        image, rgb, trimap = read_frame(plate, guide, frame, args.rough_matte is not None, args.band)
        alpha, foreground = (None, None) if solved is None else read_first_solve(*solved, frame, rgb.shape[:2])
        if first is None:
            first = image
            exr = Path(args.out).suffix.lower() == ".exr"
            if image.is_float != exr:
                raise _UsageError(f"-o {args.out}: the plates are {'float' if image.is_float else 'integer'}, so "
                                  f"write the clean plate {'as EXR' if image.is_float else 'as PNG or TIFF'}: "
                                  "matte takes a clean plate of the plate's kind")
        stack.add(rgb, trimap, alpha=alpha, foreground=foreground)
    unusable = stack.unusable()  # the rule matte --stack-plate follows
    if unusable is not None and args.strict:
        print(f"ofx-dipmatte: error: {unusable}; nothing written. Solve the shot without one (no --stack-plate)",
              file=sys.stderr)
        return 1
    # An average of frames has more precision than one frame: 16-bit PNG, float EXR.
    assert first is not None  # _frames: at least one frame
    like = dataclasses.replace(first, stored_type="float" if first.is_float else "uint16")
    path = write_image(args.out, stack.plate(), overwrite=args.overwrite, channel_names=["R", "G", "B", "A"],
                       like=like, exr_type="float", straight=True)  # A: where it shows the background
    coverage, spread = stack.coverage(), stack.spread()
    warning = None if unusable is None else f"{unusable}; track it to each frame or leave it out"
    summary = {"clean_plate": str(path), "frames": stack.frames, "coverage": coverage, "spread": spread,
               "warning": warning}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {path}: {stack.frames} frames, background seen on {100 * coverage:.0f} % of the "
              f"frame (alpha 1 there), spread {spread:.3f}")
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    return 0


def _install_plugin(dest: "Path | None", system: bool, force: bool) -> int:
    from .ofx.install import default_plugin_dir, install_plugin, plugin_path_hint

    try:
        target = install_plugin(dest, system=system, force=force)
    except (FileExistsError, RuntimeError, FileNotFoundError) as exc:
        print(f"ofx-dipmatte: error: {exc}", file=sys.stderr)
        return 2
    except PermissionError as exc:
        print(f"ofx-dipmatte: error: {exc}; run as root for --system, or use --dest", file=sys.stderr)
        return 2
    print(f"installed {target}")
    print(f"recorded Python: {sys.executable}")
    if not system and (dest is None or Path(dest) == default_plugin_dir()):
        print("hosts find it once this is in their environment (e.g. in ~/.profile):")
        print(f"  {plugin_path_hint(target.parent)}")
    print("restart the host (or clear its plugin cache); `ofx-dipmatte doctor` checks the install")
    return 0


def _parser() -> argparse.ArgumentParser:
    from .farm import FARM_BACKGROUND_FRAMES

    ap = argparse.ArgumentParser(prog="ofx-dipmatte", description="Training-free neural matte extraction.")
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    def solver_options(p):
        p.add_argument("--preset", default="balanced",
                       help="balanced (default), dip, draft or paper; NAME:FIELD=VALUE,... changes fields of "
                            "that preset (ofx_dipmatte.Preset), e.g. balanced:trusted_passes=1 for a faster matte")
        p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
        p.add_argument("--seed", type=int, default=0, help="seeds weights and noise (same seed, same matte)")
        p.add_argument("--max-iterations", type=int, default=0, metavar="N",
                       help="cap on optimisation steps per frame (default 0: the preset's)")
        p.add_argument("--loss-threshold", type=float, default=0.0, metavar="X",
                       help="stop a frame below this total loss (default 0: the preset's rule)")
        p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
        p.add_argument("--quiet", action="store_true", help="no progress bars or per-frame lines")
        p.add_argument("--json", action="store_true",
                       help="print a machine-readable report (per frame: iterations, seconds, loss, outputs)")

    def shot_inputs(p, files: str):
        p.add_argument("plate", help=f"plate {files}")
        p.add_argument("trimap", nargs="?", help=f"trimap {files}: 0 background, 1 foreground, grey unknown")
        p.add_argument("--rough-matte", metavar="MASK", help=f"instead of a trimap: soft or binary mattes ({files})")
        p.add_argument("--band", type=float, default=10.0, help="unknown band half-width in pixels for --rough-matte")

    def carry_options(p, window: Optional[int]):
        p.add_argument("--independent-frames", action="store_true", help="solve every frame on its own: no "
                       "background carried from earlier frames of a locked-off shot (balanced), so chunks give "
                       "the pixels of a continuous run")
        default = "all" if window is None else str(window)
        p.add_argument("--background-frames", type=_background_frames, default=window, metavar="N",
                       help="a locked-off shot (balanced): solve each frame against the background the shot's "
                       "frames show: 'all' (read before the first solve), or the N either side of it, read as "
                       "the run goes (a farm task reads its chunk and N beyond each end; the plugin's "
                       f"Background frames). Default: {default}")

    def preview_option(p):
        p.add_argument("--preview", action="store_true", help="also write a small PNG contact sheet per frame "
                       "(plate | trimap | alpha | foreground over a checkerboard) beside the outputs")

    p = sub.add_parser("demo", help="matte the example image that ships with the package")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    solver_options(p)
    preview_option(p)

    p = sub.add_parser("matte", help="matte a still or a shot",
                       description="Paths may be frame patterns: plate.####.exr, plate.%%04d.exr, plate.$F4.exr.")
    shot_inputs(p, "file or frame pattern")
    p.add_argument("--clean-plate", metavar="PLATE", help="the background without the subject: one file for the "
                   "shot (locked-off camera) or a frame pattern; B is then known, not estimated (balanced preset)")
    p.add_argument("--stack-plate", action="store_true", help="a locked-off shot without a clean plate: solve "
                   "every frame once, stack a plate from the background the trimaps and those mattes show, and "
                   "solve again with it (twice the time; balanced preset)")
    p.add_argument("-o", "--out", type=Path, help="output folder (default outputs: alpha and fg as EXR)")
    for kind, text in (("alpha", "alpha (one channel A)"), ("fg", "straight foreground RGBA"),
                       ("bg", "background plate RGB"), ("rgba", "premultiplied foreground with alpha")):
        p.add_argument(f"--{kind}", metavar="PATTERN", help=f"write the {text} here")
    p.add_argument("--frames", help="frames to solve, e.g. 1001-1100 or 1,5,9-20x2 (default: all on disk)")
    p.add_argument("--preroll", type=int, default=0, help="solve N frames before the first (not written), "
                   "so a farm chunk starts as a continuous run would: warm nets (DIP presets), the "
                   "background earlier frames showed (balanced)")
    p.add_argument("--cache", type=Path, help="checkpoint folder (default: .ofx_dipmatte_cache beside the outputs)")
    carry_options(p, None)
    p.add_argument("--chunk-start", type=int, metavar="FRAME",
                   help="with --chunk-size: solve only the frames of --frames from FRAME on (a farm task)")
    p.add_argument("--chunk-size", type=int, metavar="N", help="how many frames a chunk holds")
    p.add_argument("--report", type=Path, metavar="FILE", help="also write the --json report to FILE")
    solver_options(p)
    preview_option(p)

    p = sub.add_parser("trimap", help="make trimaps from rough (soft or binary) mattes")
    p.add_argument("mask", help="mask file or frame pattern")
    p.add_argument("-o", "--out", type=Path, required=True, help="trimap file (or pattern) to write")
    p.add_argument("--band", type=float, default=10.0, help="half-width of the unknown band in pixels")
    p.add_argument("--frames", help="frames, e.g. 1001-1100 (default: all on disk)")
    p.add_argument("--overwrite", action="store_true")

    p = sub.add_parser("clean-plate", help="stack a clean plate from a locked-off shot's known background",
                       description="Per pixel, the mean of the frames whose trimap says background there; alpha 1 "
                       "where any frame showed it. With --alpha and --fg from a first matte run of the shot, "
                       "also the band pixels that run found nearly bare (alpha at most 0.05) where no trimap "
                       "showed the background. Pass the result to matte --clean-plate.")
    shot_inputs(p, "frame pattern")
    p.add_argument("--alpha", metavar="PATTERN", help="the alpha frames a first matte run of this shot wrote")
    p.add_argument("--fg", metavar="PATTERN", help="with --alpha: the foreground frames that run wrote")
    p.add_argument("--strict", action="store_true", help="fail (exit 1, nothing written) when the frames' "
                   "background moves, instead of writing the plate with a warning (farm jobs)")
    p.add_argument("-o", "--out", type=Path, required=True, help="the clean plate to write (RGBA; EXR for float "
                   "plates, PNG or TIFF for 8/16-bit ones)")
    p.add_argument("--frames", help="frames to stack, e.g. 1001-1100 (default: all on disk)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")

    p = sub.add_parser("farm", help="cut a shot into chunks: write, run or submit an OpenJD or OpenCue job",
                       description="Each chunk is one task running `ofx-dipmatte matte ... --frames A-B --chunk-start S "
                       "--chunk-size N --preroll P --json`. Needs the farm extra: pip install \"ofx_dipmatte[farm]\".")
    shot_inputs(p, "frame pattern, e.g. name.####.exr")
    p.add_argument("--clean-plate", metavar="PLATE", help="as for matte: a clean plate file or frame pattern")
    p.add_argument("--stack-plate", action="store_true", help="as for matte, in three steps: the shot solved once "
                   "in chunks, a plate stacked from it (one task; fails when the background moves), the shot "
                   "solved again with it")
    p.add_argument("-o", "--out", type=Path, help="output folder (alpha and fg EXRs unless --alpha/--fg/--bg/"
                   "--rgba say otherwise; the job's reports go to OUT/.farm)")
    for kind in ("alpha", "fg", "bg", "rgba"):
        p.add_argument(f"--{kind}", metavar="PATTERN", help=f"as for matte: write {kind} frames here")
    p.add_argument("--frames", help="one range, e.g. 1001-1100 (default: all frames on disk)")
    p.add_argument("--chunk", type=int, default=10, help="frames per task (default 10)")
    p.add_argument("--preroll", type=int, default=0, help="frames solved before each chunk, not written")
    carry_options(p, FARM_BACKGROUND_FRAMES)
    p.add_argument("--format", required=True, choices=["openjd", "opencue"], help="the farm's job format")
    p.add_argument("--write", type=Path, metavar="FILE", help="write the job here (OpenJD template: "
                   "default OUT/.farm/job.openjd.yaml; OpenCue: the outline as YAML)")
    p.add_argument("--submit", action="store_true", help="OpenCue: send the job to the Cuebot of your OpenCue config")
    p.add_argument("--run-local", action="store_true", help="run the job here with the format's own runner")
    p.add_argument("--service", default="ofx_dipmatte", help="OpenCue service of the tasks' layer")
    p.add_argument("--tags", default="general", help="OpenCue host tags, e.g. general or gpu (| separated)")
    p.add_argument("--cores", type=float, default=None,
                   help="OpenCue: cores booked per task (default: the service's); the tiles of large frames "
                        "run on that many threads")
    p.add_argument("--show", default=None, help="OpenCue show (default: your outline config's)")
    p.add_argument("--shot", default=None, help="OpenCue shot (default: your outline config's)")
    p.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    solver_options(p)

    p = sub.add_parser("farm-report", help="what a farm job has done: frames done, missing or failed")
    p.add_argument("out", type=Path, help="the job's output folder (-o of `farm`)")
    p.add_argument("--json", action="store_true", help="machine-readable")
    p.add_argument("--contact-sheet", type=Path, metavar="PNG", help="one image of the shot: a row per frame")
    p.add_argument("--rows", type=int, default=12, help="at most this many frames in the contact sheet")

    p = sub.add_parser("install-plugin", help="copy the OFX plugin into a plugin folder, bound to this Python")
    p.add_argument("--dest", type=Path, help="plugin folder (default: ~/OFX/Plugins)")
    p.add_argument("--system", action="store_true", help="install into /usr/OFX/Plugins (needs root)")
    p.add_argument("--force", action="store_true", help="replace a folder of the same name that is not ours")
    p = sub.add_parser("doctor", help="check the OFX plugin: bundle, Python environment, a test render")
    p.add_argument("--bundle", type=Path, help="the bundle to check (default: the installed one)")
    return ap


def main(argv: "list[str] | None" = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _command(args)
    except ImportError as exc:  # a broken install (torch, OpenImageIO): what to do, not a traceback
        print(f"ofx-dipmatte: error: {exc}; `ofx-dipmatte doctor` checks the install", file=sys.stderr)
        return 3


def _command(args) -> int:
    if args.command == "install-plugin":
        return _install_plugin(args.dest, args.system, args.force)
    if args.command == "doctor":
        from .ofx.doctor import run_doctor

        return 0 if run_doctor(args.bundle) else 1
    if args.command == "demo":
        args.plate, args.trimap = str(EXAMPLES / "strands.image.png"), str(EXAMPLES / "strands.trimap.png")
        args.rough_matte, args.frames, args.preroll, args.cache, args.band = None, None, 0, None, 10.0
        for kind in ("alpha", "fg", "bg", "rgba"):
            setattr(args, kind, None)
    if args.command in ("demo", "matte"):
        return _run_matte(args)
    runner = {"farm": _run_farm, "farm-report": _run_farm_report,
              "clean-plate": _run_clean_plate}.get(args.command, _run_trimap)
    try:
        return runner(args)
    except (_UsageError, ValueError, FileExistsError, FileNotFoundError) as exc:
        print(f"ofx-dipmatte: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
