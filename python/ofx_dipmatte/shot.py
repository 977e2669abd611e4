"""Solving a shot from files: frame by frame in order, each warm-started from the last,
with every solved frame's network state checkpointed so an interrupted run resumes.

    job = ShotJob(plate=FramePattern("plate.####.exr"), guide=FramePattern("trimap.####.png"),
                  frames=[1001, 1002, 1003], outputs=ShotOutputs.defaults(Path("out"), plate))
    report = job.run()

Output files are written atomically and never replaced unless ``overwrite``; a frame
whose outputs all exist is skipped, which is what makes a second run a resume.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Optional, Protocol

import numpy as np

from .encoding import grey_to_rgb
from .engine import ClipSession, MatteResult
from .engine.clean_plate import PlateStack
from .engine.digest import digest
from .engine.presets import Preset, resolve_preset
from .io import FramePattern, ImageFile, aligned_to, covers, read_image_file, write_image
from .preview import sheet_row, write_sheet
from .trimap import to_unit_float, trimap_from_rough_matte

OUTPUT_KINDS = ("alpha", "fg", "bg", "rgba")
CHECKPOINTS_KEPT = 3  # per run: enough to resume; older ones are deleted as the run goes
#: Frames a run that starts inside a held picture looks back for the hold's first frame
#: (:meth:`ShotJob._hold_start`; 10 s at 24 fps), each read once.
HOLD_SCAN = 240


class ShotError(ValueError):
    """Bad input: the message names the file and frame and says what to do."""


@dataclass
class ShotOutputs:
    """Output patterns; None for an output not asked for.

    alpha: one channel A. fg: straight foreground R,G,B with A, in the plate's encoding.
    bg: the background plate R,G,B. rgba: premultiplied foreground with A.
    """

    alpha: Optional[FramePattern] = None
    fg: Optional[FramePattern] = None
    bg: Optional[FramePattern] = None
    rgba: Optional[FramePattern] = None

    @classmethod
    def defaults(cls, folder: Path, plate: FramePattern) -> "ShotOutputs":
        """``folder/<stem>.alpha[.####].exr`` and ``folder/<stem>.fg[.####].exr``."""
        token = "." + "#" * max(plate.padding, 4) if plate.is_sequence else ""
        return cls(alpha=FramePattern(str(folder / f"{plate.stem}.alpha{token}.exr")),
                   fg=FramePattern(str(folder / f"{plate.stem}.fg{token}.exr")))

    def items(self) -> list[tuple[str, FramePattern]]:
        return [(kind, p) for kind in OUTPUT_KINDS if (p := getattr(self, kind)) is not None]


@dataclass
class FrameReport:
    """What happened to one frame (the ``--json`` report lists these)."""

    frame: int
    status: str                      # "solved", "skipped" (outputs existed), "preroll" (solved, not written),
                                     # "first_solve" (--stack-plate's first pass, not written)
    iterations: int = 0
    seconds: float = 0.0
    final_loss: Optional[float] = None
    stop_reason: Optional[str] = None
    warm_start_from: Optional[int] = None
    chroma_restored: Optional[str] = None  # "4:2:2" etc.: the plate's chroma was subsampled
    background_frames: int = 0  # frames (shown or solved before) whose background this one was solved against
    repeat_of: Optional[int] = None  # the frame before it held the same pixels: its matte was written again
    outputs: dict = field(default_factory=dict)   # kind → path written (or kept, when it existed)
    warnings: list = field(default_factory=list)


@dataclass
class ShotReport:
    frames: list = field(default_factory=list)
    seconds: float = 0.0
    cache: Optional[str] = None
    #: --stack-plate: {"frames", "coverage", "spread", "used", "warning"} of the plate stacked
    stacked_plate: Optional[dict] = None

    def to_dict(self) -> dict:
        return {"frames": [asdict(f) for f in self.frames], "seconds": round(self.seconds, 3), "cache": self.cache,
                "frames_written": sum(f.status == "solved" for f in self.frames),
                "frames_skipped": sum(f.status == "skipped" for f in self.frames),
                "stacked_plate": self.stacked_plate}


class Reporter(Protocol):
    """Progress hooks; the CLI draws bars with them. Any may be a no-op."""

    def frame_start(self, frame: int, status: str, max_iterations: int) -> None: ...
    def iteration(self, iteration: int, total: Optional[int], loss: float) -> None: ...
    def frame_done(self, report: FrameReport) -> None: ...
    # Optional: frames read for their known background, ``done`` of ``total`` (only when
    # several are read before a solve: the whole shot before the first, by default).
    def background_read(self, done: int, total: int) -> None: ...


class _Silent:
    def frame_start(self, frame, status, max_iterations): pass
    def iteration(self, iteration, total, loss): pass
    def frame_done(self, report): pass
    def background_read(self, done, total): pass


def _save_atomic(path: Path, save) -> None:
    """``save(temporary_path)`` into ``path``'s folder, then renamed onto ``path``: a reader
    (a resumed run) finds the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class Checkpoints:
    """Solved network states on disk, one file a frame, written atomically; and what each
    solved frame added to the carried background (``background.N.npz``, all kept: a
    resumed run adds every frame it skips)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._written: list[int] = []

    def path(self, frame: int) -> Path:
        return self.folder / f"frame.{frame}.pt"

    def save(self, frame: int, state: dict) -> None:
        import torch  # network states: only presets that fit networks have them to save

        _save_atomic(self.path(frame), lambda tmp: torch.save(state, tmp))
        self._written.append(frame)
        for old in self._written[:-CHECKPOINTS_KEPT]:
            self.path(old).unlink(missing_ok=True)
        self._written = self._written[-CHECKPOINTS_KEPT:]

    def save_background(self, frame: int, record: dict) -> None:
        # Compressed: 1.1 MB instead of 3.0 for a 1080p plate frame, in 0.15 s (lossless).
        _save_atomic(self.folder / f"background.{frame}.npz", lambda tmp: np.savez_compressed(tmp, **record))

    def load_background(self, frame: int) -> Optional[dict]:
        path = self.folder / f"background.{frame}.npz"
        try:
            with np.load(path) as data:
                return {key: data[key] for key in data.files}
        except Exception:  # none, or damaged: the frame's background is only not carried
            return None

    def nearest_before(self, frame: int, within: int) -> Optional[int]:
        """The latest checkpointed frame in [frame - within, frame), if any."""
        found = [f for f in range(frame - within, frame) if self.path(f).is_file()]
        return max(found) if found else None

    def load(self, frame: int) -> Optional[dict]:
        import torch

        try:
            return torch.load(self.path(frame), map_location="cpu", weights_only=False)
        except Exception:  # a damaged checkpoint only costs a cold start
            return None


class _Shown:
    """Which frames a shot's session has been shown (``ShotJob.background_frames``), so
    each is read once however many windows it falls in."""

    def __init__(self, job: "ShotJob", session: ClipSession, reporter: Reporter):
        self.job, self.session = job, session
        self.done: set[int] = set()
        self.progress = getattr(reporter, "background_read", None)  # optional in a Reporter
        first = job.frames[0]
        shot = {*range(first - job.preroll, first), *job.frames, *(job.shot_frames or [])}
        carries = (session.carries_background and job.plate.is_sequence and job.clean_plate is None
                   and not job.stack_plate)
        self.shot = sorted(shot) if carries else []

    def around(self, frame: int, itself: bool = False) -> None:
        """Show the shot's frames within the window of ``frame``, nearest first, the earlier
        of two at the same distance first (as the plugin fetches them); ``itself``: then
        ``frame`` too (a frame solved by an interrupted run, whose record follows);
        otherwise ``frame`` is about to be solved, which stacks it."""
        reach = self.job.background_frames
        near = [f for f in self.shot if reach is None or abs(f - frame) <= reach]
        order = sorted((f for f in near if f != frame), key=lambda f: (abs(f - frame), f))
        pending = [f for f in order + ([frame] if itself and frame in near else []) if f not in self.done]
        report = self.progress if len(pending) > 1 else None
        for done, shown in enumerate(pending):
            if report:
                report(done, len(pending))
            self.done.add(shown)
            self._show(shown)
        if report:
            report(len(pending), len(pending))
        self.done.add(frame)  # shown, or about to be solved (which stacks it)

    def _show(self, frame: int) -> None:
        job = self.job
        if not job._has_inputs(frame):
            return
        _, rgb, trimap = job.read_frame(frame)
        try:
            self.session.show_background(frame, rgb, trimap)
        except ValueError as exc:
            raise job._engine_error(frame, exc) from None


@dataclass
class ShotJob:
    """One shot: plates and trimaps (or rough mattes) in, alpha and foreground out.

    Args:
        plate: the plate pattern (or a still's path).
        guide: the trimap pattern, or the rough matte pattern when ``rough_matte``.
        frames: frames to solve and write, in order.
        outputs: what to write where.
        rough_matte: ``guide`` holds soft or binary mattes; trimaps are made with ``band``.
        band: half-width in pixels of the unknown band made from a rough matte.
        preroll: frames before the first one solved (not written) so warm start has
            history, as a continuous run would: the nets' weights (DIP presets; skipped
            when a checkpoint is there) and the background earlier frames showed
            (``Preset.carry_background``).
        shot_frames: the shot ``frames`` belong to (default: ``frames`` and the preroll);
            a farm task gives the whole shot, so its chunk is shown the frames beyond
            its ends, as a continuous run is.
        background_frames: the shot's frames whose known background each frame is solved
            against (``Preset.carry_background``): a locked-off shot then carries what
            later frames uncover as well as earlier ones. None (default): the whole shot,
            shown before the first solve. N: before each solve, the frames up to N either
            side, nearest first, as the plugin's *Background frames* fetches them (the
            same matte as the plugin rendering the shot in order); a farm task then reads
            its chunk and N frames beyond each end, not the whole shot.
        independent_frames: solve every frame on its own, carrying no background from
            earlier frames: a shot cut into farm chunks then gives the very pixels of a
            continuous run, at some cost on locked-off shots (README).
        cache: folder for the per-frame checkpoints (default: ``.ofx_dipmatte_cache/``
            beside the first output).
        clean_plate: the background without the subject: one file for the whole shot
            (a locked-off camera) or a pattern, a plate per frame.
        stack_plate: make the clean plate from the shot itself, for a locked-off camera:
            every frame is solved once without one (nothing written), a plate is stacked
            from the trimaps' background and the band pixels those mattes found nearly
            bare (:class:`~ofx_dipmatte.engine.clean_plate.PlateStack`), and the frames
            are solved again with it. Twice the time. The plate is kept in the cache
            folder, so a resumed run does not solve the shot twice again (``overwrite``
            stacks it afresh: the inputs may have changed). Not used (a
            warning says so) when the frames' background moves (spread above
            :data:`~ofx_dipmatte.engine.clean_plate.MOVING_SPREAD`, or a frame's
            background a third of a pixel or more off the frames before it:
            :meth:`~ofx_dipmatte.engine.clean_plate.PlateStack.unusable`).
    """

    plate: FramePattern
    guide: FramePattern
    frames: list
    outputs: ShotOutputs
    rough_matte: bool = False
    band: float = 10.0
    preroll: int = 0
    preset: "str | Preset" = "balanced"
    device: str = "auto"
    seed: int = 0
    overwrite: bool = False
    cache: Optional[Path] = None
    preview: Optional[FramePattern] = None  # a contact-sheet PNG per frame written (preview.py)
    clean_plate: Optional[FramePattern] = None
    stack_plate: bool = False
    independent_frames: bool = False
    shot_frames: Optional[list] = None
    background_frames: Optional[int] = None

    def __post_init__(self) -> None:
        self.config = resolve_preset(self.preset)
        if self.independent_frames or not self.plate.is_sequence:  # a still: nothing to carry it to
            self.config = self.config.replace(carry_background=False)
        if not self.outputs.items():
            raise ShotError("no outputs: give -o DIR or at least one of --alpha, --fg, --bg, --rgba")
        for kind, pattern in self.outputs.items():
            if not pattern.is_sequence and len(self.frames) > 1:
                raise ShotError(f"--{kind} {pattern}: a shot needs a frame token in the output name, "
                                "e.g. out.####.exr")
        if self.guide.is_sequence and not self.plate.is_sequence:
            raise ShotError(f"{self.guide}: a trimap sequence for a still plate {self.plate}; give one trimap file")
        if self.clean_plate is not None and self.clean_plate.is_sequence and not self.plate.is_sequence:
            raise ShotError(f"{self.clean_plate}: a clean plate sequence for a still plate {self.plate}; "
                            "give one clean plate file")
        if self.stack_plate:
            if self.clean_plate is not None:
                raise ShotError("--stack-plate makes the shot's clean plate itself; leave out --clean-plate")
            if not self.plate.is_sequence:
                raise ShotError(f"--stack-plate stacks the background a shot shows; {self.plate} is a still")
            if self.config.alpha_prior != "refined":
                raise ShotError(f"--stack-plate: preset {self.config.name!r} does not use a clean plate; "
                                "presets that refine the matte from colour estimates (balanced, draft) do")
        self._still_clean_plate: Optional[np.ndarray] = None  # stacked once: it serves every frame
        self._clean_plate_file: Optional[ImageFile] = None  # a single file, read once
        self.stacked_plate: Optional[dict] = None  # what --stack-plate stacked (ShotReport.stacked_plate)
        self._last_window: Optional[tuple] = None  # the data window of the frame solved last
        if self.preroll < 0:
            raise ShotError("--preroll must be 0 or more")
        if self.background_frames is not None and self.background_frames < 0:
            raise ShotError("--background-frames must be 0 or more, or 'all'")
        if self.cache is None:
            first = self.outputs.items()[0][1]
            self.cache = first.path(0).parent / ".ofx_dipmatte_cache" / self._cache_key()

    def _cache_key(self) -> str:
        """Checkpoints only fit the same inputs and solver settings."""
        parts = [str(Path(self.plate.text).resolve()), str(Path(self.guide.text).resolve()),
                 str(self.rough_matte), str(self.band), repr(self.config), str(self.seed)]
        if self.clean_plate is not None:
            parts.append(str(Path(self.clean_plate.text).resolve()))
        if self.stack_plate:
            parts.append("stack_plate " + ",".join(map(str, self.frames)))  # the frames it stacks
        return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]

    def _inputs(self) -> tuple[FramePattern, ...]:
        return (self.plate, self.guide) + ((self.clean_plate,) if self.clean_plate is not None else ())

    def check_inputs(self) -> None:
        """Every frame's input files exist (before anything is solved)."""
        missing = list(dict.fromkeys(str(p.path(f)) for f in self.frames for p in self._inputs()
                                     if not p.path(f).is_file()))
        if missing:
            more = f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
            raise ShotError(f"missing input files: {', '.join(missing[:10])}{more}; "
                            "check the pattern and --frames")

    def _has_inputs(self, frame: int) -> bool:
        """All of ``frame``'s input files exist (a preroll or shown frame may lie outside them)."""
        return all(p.path(frame).is_file() for p in self._inputs())

    def _where(self, frame: int) -> str:
        return _where(self.plate, frame)

    def _engine_error(self, frame: int, exc: ValueError) -> ShotError:
        """The engine's complaint about ``frame``, named by the file it is about: the
        engine's messages start with what they concern ("trimap: ...", "clean plate: ...")."""
        concerns = str(exc).split(":", 1)[0]
        source = {"trimap": self.guide, "clean plate": self.clean_plate}.get(concerns) or self.plate
        return ShotError(f"{source.path(frame)}{self._where(frame)}: {exc}")

    def _outputs_done(self, frame: int) -> bool:
        return not self.overwrite and all(p.path(frame).exists() for _, p in self.outputs.items())

    def read_frame(self, frame: int) -> tuple[ImageFile, np.ndarray, np.ndarray]:
        """(plate file, RGB pixels, trimap) of ``frame``, checked."""
        return read_frame(self.plate, self.guide, frame, self.rough_matte, self.band)

    def read_clean_plate(self, frame: int, plate: ImageFile) -> Optional[np.ndarray]:
        """The clean plate's pixels for ``frame`` (None: no clean plate) on ``plate``'s
        data window (:func:`~.io.aligned_to`): R,G,B, and A when the file has it (where it
        holds the background). One that holds only part of the plate's pixels and has no
        A gets one: 0 where it holds nothing, so B is estimated there. A single file is
        read once for the whole shot."""
        if self.stack_plate:
            return self._still_clean_plate  # stacked by _stack_shot (None: the background moves)
        if self.clean_plate is None:
            return None
        path, where = self.clean_plate.path(frame), self._where(frame)
        if self.clean_plate.is_sequence or self._clean_plate_file is None:
            self._clean_plate_file = _read(path, where)
        source = self._clean_plate_file
        aligned = aligned_to(source, plate)
        if aligned is None:
            raise ShotError(f"{path}{where}: is {_extent(source)} but the plate is {_extent(plate)}; "
                            "give a clean plate of the plate's resolution")
        rgb = _colour(aligned, path, where, keep_alpha=True)
        if rgb.shape[2] == 3 and not covers(source, plate):
            full = np.iinfo(rgb.dtype).max if rgb.dtype.kind == "u" else 1.0
            held = aligned_to(replace(source, pixels=np.full(source.pixels.shape[:2] + (1,), full, rgb.dtype)), plate)
            assert held is not None  # the same windows as the pixels' just placed
            rgb = np.concatenate([rgb, held.pixels], axis=2)
        return rgb

    def run(self, reporter: Optional[Reporter] = None) -> ShotReport:
        """Solve and write every frame not already done. Raises :class:`ShotError` on bad
        input (frames already written stay), ``Cancelled``/``KeyboardInterrupt`` pass through."""
        reporter = reporter or _Silent()
        self.check_inputs()
        if not self.plate.is_sequence and not self.overwrite:  # a still has no resume: say so
            for _, pattern in self.outputs.items():
                if pattern.path(self.frames[0]).exists():
                    raise FileExistsError(f"{pattern.path(self.frames[0])}: exists; pass --overwrite to replace it")
        start = time.perf_counter()
        report = ShotReport(cache=str(self.cache))
        to_solve = not all(self._outputs_done(f) for f in self.frames)
        if self.stack_plate and to_solve:
            report.stacked_plate = self.stacked_plate = self._stack_shot(reporter, report)
        session = ClipSession(preset=self.config, device=self.device, seed=self.seed)
        shown = _Shown(self, session, reporter)
        assert self.cache is not None  # set when the job was made
        checkpoints = Checkpoints(self.cache)
        started = False
        previous = None
        held_from: Optional[int] = None  # the frame whose files a resumed run's copies came from
        for frame in self.frames:
            if self._outputs_done(frame):
                # Solved by an interrupted run: what it added to the carried background
                # serves the frames still to solve, as in a run that was not interrupted.
                solved = checkpoints.load_background(frame) if to_solve and session.carries_background else None
                if solved is not None:
                    shown.around(frame, itself=True)  # what the solve of it was shown, then it
                    session.import_background(frame, solved)
                record = FrameReport(frame=frame, status="skipped",
                                     outputs={k: str(p.path(frame)) for k, p in self.outputs.items()})
                report.frames.append(record)
                reporter.frame_done(record)
                held_from, previous = None, frame
                continue
            if not started and previous is not None and self._outputs_done(previous):
                # A resumed run within a held picture: the frames written before hold its
                # matte; solved again here it would differ (a pop in the hold).
                copied = self._copy_if_repeat(previous, frame, held_from, reporter)
                if copied is not None:
                    report.frames.append(copied)
                    held_from, previous = copied.repeat_of, frame
                    continue
            if not started:  # the run's first solve: resume from a checkpoint, or preroll
                started = True
                gap = frame - previous if previous is not None else 1
                resumed = checkpoints.nearest_before(frame, max(self.preroll, gap))
                state = checkpoints.load(resumed) if resumed is not None else None
                if state is not None:
                    session.import_state(state)
                else:
                    for pre in range(self._hold_start(frame) - self.preroll, frame):
                        if self._has_inputs(pre):
                            shown.around(pre)
                            report.frames.append(self._solve(session, pre, None, reporter, checkpoints))
            shown.around(frame)
            report.frames.append(self._solve(session, frame, self.outputs, reporter, checkpoints))
            previous = frame
        report.seconds = time.perf_counter() - start
        return report

    def _inputs_digest(self, frame: int) -> tuple:
        """What a frame's matte depends on (plate pixels and windows, trimap, clean plate),
        compared by the engine's digest, as :class:`ClipSession` compares a repeat's."""
        plate, rgb, trimap = self.read_frame(frame)
        return plate.origin, plate.display_window, digest(rgb, trimap, self.read_clean_plate(frame, plate))

    def _hold_start(self, frame: int) -> int:
        """The first frame of the picture held up to ``frame`` (``frame`` itself when the
        frame before shows another picture or has no inputs), looking back at most
        :data:`HOLD_SCAN` frames. A run that starts inside a hold (a farm chunk) prerolls
        from there, as a continuous run solved the picture: prerolled from the chunk's
        start, the held picture was solved with nothing before it and its matte jumped
        mid-hold (a 480×270 shot held over 7 frames, cut into chunks of 6 with a preroll
        of 2: alpha summed over the frame changed by 630, up to 0.37 a pixel)."""
        if not self.preroll or self.independent_frames or not self._has_inputs(frame):
            return frame
        start, held = frame, None
        while frame - start < HOLD_SCAN and self._has_inputs(start - 1):
            if held is None:
                held = self._inputs_digest(frame)
            if self._inputs_digest(start - 1) != held:
                break
            start -= 1
        return start

    def _copy_if_repeat(self, written: int, frame: int, held_from: Optional[int],
                        reporter: Reporter) -> Optional[FrameReport]:
        """``frame``'s outputs as copies of ``written``'s, when its inputs (plate pixels and
        windows, trimap, clean plate) are those of ``written``, whose outputs exist; else
        None. ``held_from``: the frame ``written``'s own files were copied from, if any
        (the report names the frame the picture was solved at)."""
        begin = time.perf_counter()
        if not self._has_inputs(written):  # its inputs gone since: nothing to compare with
            return None
        if self._inputs_digest(written) != self._inputs_digest(frame):
            return None
        kinds = dict(self.outputs.items())
        if self.preview is not None:
            kinds["preview"] = self.preview
        outputs = {}
        for kind, pattern in kinds.items():
            source, target = pattern.path(written), pattern.path(frame)
            if source.is_file() and (self.overwrite or not target.exists()):
                _save_atomic(target, lambda tmp: shutil.copyfile(source, tmp))
            if target.exists():  # a preview the interrupted run did not write stays unwritten
                outputs[kind] = str(target)
        record = FrameReport(frame=frame, status="solved", outputs=outputs,
                             repeat_of=written if held_from is None else held_from,
                             seconds=time.perf_counter() - begin)
        reporter.frame_done(record)
        return record

    def _stack_shot(self, reporter: Reporter, report: ShotReport) -> dict:
        """--stack-plate's first pass: every frame solved without a plate (nothing written),
        stacked into a plate that :meth:`read_clean_plate` then serves; what was stacked."""
        assert self.cache is not None
        saved = self.cache / "stacked_plate.npz"
        if saved.is_file() and not self.overwrite:  # a resumed run: the first pass was done
            with np.load(saved) as data:
                summary = json.loads(str(data["summary"]))
                self._still_clean_plate = data["plate"] if summary["used"] else None
            return summary
        stack = PlateStack()
        # Frames on their own, as the farm's chunks of this pass solve them: same plate either way.
        session = ClipSession(preset=self.config.replace(carry_background=False), device=self.device,
                              seed=self.seed)
        for frame in self.frames:
            begin = time.perf_counter()
            _, rgb, trimap = self.read_frame(frame)
            res = self._matte(session, frame, rgb, trimap, None, "first_solve", reporter)
            try:
                stack.add(rgb, trimap, alpha=res.alpha, foreground=res.foreground)
            except ValueError as exc:  # e.g. a frame of another size than the first
                reason = str(exc).split(": ", 1)[-1]  # without the stack's own frame count
                raise ShotError(f"{self.plate.path(frame)}{self._where(frame)}: --stack-plate: {reason}") from None
            record = FrameReport(frame=frame, status="first_solve", stop_reason=res.stats.stop_reason,
                                 warnings=list(res.stats.warnings), chroma_restored=res.stats.chroma_restored,
                                 seconds=time.perf_counter() - begin)
            report.frames.append(record)
            reporter.frame_done(record)
        unusable = stack.unusable()
        summary = {"frames": stack.frames, "coverage": round(stack.coverage(), 4),
                   "spread": round(stack.spread(), 4), "used": unusable is None,
                   "warning": None if unusable is None else f"{unusable}; solved without a stacked plate"}
        plate = stack.plate()
        self._still_clean_plate = plate if summary["used"] else None
        _save_atomic(saved, lambda tmp: np.savez(tmp, plate=plate, summary=json.dumps(summary)))
        return summary

    def _matte(self, session: ClipSession, frame: int, rgb: np.ndarray, trimap: np.ndarray,
               clean_plate: Optional[np.ndarray], status: str, reporter: Reporter) -> MatteResult:
        """``session.matte`` on one frame, its progress to ``reporter``, its errors named."""
        warm = bool(session.solved_frames)
        cap = self.config.warm_max_iterations if warm else self.config.max_iterations
        reporter.frame_start(frame, status, cap)

        def progress(iteration, total, losses):
            reporter.iteration(iteration, total, losses.get("total", 0.0))

        try:
            return session.matte(frame, rgb, trimap, progress=progress, clean_plate=clean_plate)
        except ValueError as exc:
            raise self._engine_error(frame, exc) from None

    def _solve(self, session: ClipSession, frame: int, outputs: Optional[ShotOutputs], reporter: Reporter,
               checkpoints: Checkpoints) -> FrameReport:
        begin = time.perf_counter()
        plate, rgb, trimap = self.read_frame(frame)
        clean_plate = self.read_clean_plate(frame, plate)
        res = self._matte(session, frame, rgb, trimap, clean_plate, "solve" if outputs else "preroll", reporter)
        # A still has nothing to resume, nor has a frame solved without networks; a written
        # frame that carried the background keeps what it added to it.
        if self.plate.is_sequence and frame in session.solved_frames:
            checkpoints.save(frame, session.export_state(frame))
        solved = session.export_background(frame) if self.plate.is_sequence and outputs else None
        if solved is not None:
            checkpoints.save_background(frame, solved)
        record = FrameReport(frame=frame, status="solved" if outputs else "preroll",
                             iterations=res.stats.iterations, final_loss=res.stats.losses.get("total"),
                             stop_reason=res.stats.stop_reason, warnings=list(res.stats.warnings),
                             warm_start_from=None if res.stats.warm_start_from is None else int(res.stats.warm_start_from),
                             chroma_restored=res.stats.chroma_restored,
                             background_frames=res.stats.background_frames,
                             repeat_of=None if res.stats.repeat_of is None else int(res.stats.repeat_of))
        moved = self._window_moved(plate, session)
        if moved:
            record.warnings.append(moved)
        if outputs is not None:
            record.outputs = self._write(frame, res, plate, outputs)
            if self.preview is not None:
                row = sheet_row(rgb, trimap, res.alpha, res.foreground)
                record.outputs["preview"] = str(write_sheet(self.preview.path(frame), [row]))
        record.seconds = time.perf_counter() - begin
        reporter.frame_done(record)
        return record

    def _window_moved(self, plate: ImageFile, session: ClipSession) -> Optional[str]:
        """A note when this frame's data window is not the last solved frame's while the
        background is carried: the carried background compares frames pixel for pixel in
        their arrays, so a window that moves (a render's auto-crop, a bounding box that
        follows the subject) looks like a camera that moved, and the background is not
        carried (on a 160×120 shot whose window followed its subject by 4 px a frame: SAD
        1.53 against 0.35 with one window; docs/benchmarks.md)."""
        window, last = (plate.data_window, plate.display_window), self._last_window
        self._last_window = window
        if last is None or window == last or not session.carries_background:
            return None
        x, y, w, h = last[0]
        return (f"plate: its data window moved ({_extent(plate)}; the frame before: {w}×{h} at ({x}, {y})); the "
                "background carried from other frames needs one data window for the shot: write the plates with "
                "the display window as data window (e.g. autocrop off)")

    def _write(self, frame: int, res: MatteResult, plate: ImageFile, outputs: ShotOutputs) -> dict:
        alpha = res.alpha[..., None]
        # kind → (pixels, channel names, is colour, straight); made only for the outputs asked for
        images = {
            "alpha": lambda: (alpha, ["A"], False, False),
            "fg": lambda: (np.concatenate([res.foreground, alpha], axis=-1), ["R", "G", "B", "A"], True, True),
            "bg": lambda: (res.background, ["R", "G", "B"], True, False),
            "rgba": lambda: (np.concatenate([res.foreground * alpha, alpha], axis=-1), ["R", "G", "B", "A"], True,
                             False),
        }
        written = {}
        for kind, pattern in outputs.items():
            path = pattern.path(frame)
            if path.exists() and not self.overwrite:  # left by an interrupted run: keep it
                written[kind] = str(path)
                continue
            pixels, names, colour, straight = images[kind]()
            written[kind] = str(write_image(path, pixels, overwrite=self.overwrite, channel_names=names,
                                            like=plate, colour=colour, straight=straight,
                                            attributes=self._provenance))
        return written

    @property
    def _provenance(self) -> dict:
        """What made a written frame, in its metadata: the preset as given (with any
        changed fields) and the seed."""
        preset = self.preset if isinstance(self.preset, str) else self.config.name
        return {"ofx_dipmatte:preset": preset, "ofx_dipmatte:seed": self.seed}


def _where(plate: FramePattern, frame: int) -> str:
    """" (frame N)" for messages about a shot's files; nothing for a still."""
    return f" (frame {frame})" if plate.is_sequence else ""


def read_frame(plate: FramePattern, guide: FramePattern, frame: int, rough_matte: bool = False,
               band: float = 10.0) -> tuple[ImageFile, np.ndarray, np.ndarray]:
    """(plate file, RGB pixels, trimap) of ``frame``, checked; ``guide`` holds trimaps,
    or rough mattes made into trimaps with ``band`` when ``rough_matte``."""
    plate_path, guide_path = plate.path(frame), guide.path(frame)
    where = _where(plate, frame)
    image, guide_read = _read(plate_path, where), _read(guide_path, where)
    rgb = _colour(image, plate_path, where)
    guide_file = aligned_to(guide_read, image)  # each pixel where it lies in the frame
    if guide_file is None:
        raise ShotError(f"{guide_path}{where}: is {_extent(guide_read)} but the plate {plate_path} is "
                        f"{_extent(image)}; render the trimap at the plate's resolution")
    first = guide_file.matte_channel()
    if rough_matte:
        trimap = trimap_from_rough_matte(to_unit_float(first, str(guide_path)), band=band)
    else:
        trimap = to_unit_float(first, str(guide_path))
    return image, rgb, trimap


def read_first_solve(alpha: FramePattern, foreground: FramePattern, frame: int,
                     shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, straight foreground) of ``frame`` as an earlier ``matte`` run wrote them
    (its alpha and fg outputs), checked against the plate's size ``shape`` (H, W)."""
    where = _where(alpha, frame)
    files = {"alpha": (alpha.path(frame), "A"), "foreground": (foreground.path(frame), "RGB")}
    pixels = {}
    for name, (path, channels) in files.items():
        image = _read(path, where)
        values = image.channels(channels)
        if values is None:
            values = image.pixels[..., :1] if name == "alpha" else _colour(image, path, where)
        if values.shape[:2] != shape:
            raise ShotError(f"{path}{where}: is {values.shape[1]}×{values.shape[0]} but the plate is "
                            f"{shape[1]}×{shape[0]}; give the {name} that matte wrote for this plate")
        pixels[name] = to_unit_float(values, str(path))
    return pixels["alpha"][..., 0], pixels["foreground"]


def _extent(image: ImageFile) -> str:
    """"W×H", and where those pixels lie when the file has windows of its own."""
    x, y, w, h = image.data_window
    if image.is_plain:
        return f"{w}×{h}"
    fx, fy, fw, fh = image.display_window
    return f"{w}×{h} at ({x}, {y}) of a {fw}×{fh} frame" + (f" from ({fx}, {fy})" if (fx, fy) != (0, 0) else "")


def _read(path: Path, where: str) -> ImageFile:
    try:
        return read_image_file(path)
    except ValueError as exc:  # "<path>: <reason>"
        reason = str(exc).split(": ", 1)[-1]
        raise ShotError(f"{path}{where}: {reason}; re-export or replace the file") from None


def _colour(image: ImageFile, path: Path, where: str, keep_alpha: bool = False) -> np.ndarray:
    """The R,G,B channels (and A when ``keep_alpha`` and the file has it)."""
    rgb = image.channels("RGBA" if keep_alpha else "RGB")
    if rgb is None and keep_alpha:
        rgb = image.channels("RGB")
    if rgb is None:
        grey = image.channels("Y")
        if grey is not None:  # a grey plate (a black-and-white scan): its grey in every colour channel
            alpha = image.channels("A") if keep_alpha else None
            rgb = grey_to_rgb(grey)
            return rgb if alpha is None else np.concatenate([rgb, alpha], axis=2)
        if image.pixels.shape[2] < 3:
            raise ShotError(f"{path}{where}: has {image.pixels.shape[2]} channel(s) "
                            f"({', '.join(image.channel_names)}); plates must be RGB, RGBA or grey (Y)")
        rgb = image.pixels[..., :3]
    return rgb
