"""Shots on a render farm: the shot cut into chunks, each chunk one farm task.

Every task runs the same command a user would (``ofx-dipmatte matte ... --frames A-B
--chunk-start S --chunk-size C --preroll N --json --report R``), so checkpoints, resume,
atomic writes and exit codes stay one implementation (:mod:`ofx_dipmatte.shot`). The
shot's description goes into ``OUT/.farm/shot.json`` and each chunk's report into
``OUT/.farm/chunk.S.json``; ``ofx-dipmatte farm-report OUT`` reads them back.

With ``stack_plate`` (``farm --stack-plate``, a locked-off shot) the job has three steps,
each waiting for the one before: *first solve* (the chunks, written to ``OUT/.farm/first_solve``),
*clean plate* (one task: ``clean-plate --alpha --fg`` on those outputs; it fails the job
when the frames' background moves) and *matte* (the chunks again, with that plate): what
``matte --stack-plate`` does in one process.

The job formats (:mod:`.openjd`, :mod:`.opencue`) only lay these tasks out in the farm's
own terms; their libraries are the optional ``farm`` extra, imported by those modules alone.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

FARM_FOLDER = ".farm"
#: A task's `matte --background-frames`: the frames either side of its chunk it reads.
#: The whole shot (`matte`'s default) costs every task a read of every frame (at 4K UHD
#: about 2 s a frame to stack, and its read). On 24-frame locked-off shots, 16 either
#: side gave SAD 0.700× frames on their own, against 0.688× for the whole shot and 0.762×
#: for 8 (docs/benchmarks.md).
FARM_BACKGROUND_FRAMES = 16


@dataclass
class FarmShot:
    """What a farm job solves: one shot, a contiguous frame range in chunks.

    ``guide`` is the trimap pattern, or the rough-matte pattern when ``rough_matte``;
    ``clean_plate`` a clean plate file or pattern ("" for none); ``stack_plate``: the
    three-step job above, its plate an EXR for float plates (``float_plate``), else a
    16-bit TIFF; ``independent_frames``: each task solves its frames on their own
    (``matte --independent-frames``), as the first step's tasks always do;
    ``background_frames``: ``matte --background-frames`` (a count, or "all").
    """

    plate: str
    guide: str
    out: str
    first: int
    last: int
    chunk: int
    rough_matte: bool = False
    band: float = 10.0
    preroll: int = 0
    preset: str = "balanced"
    device: str = "auto"
    seed: int = 0
    max_iterations: int = 0
    loss_threshold: float = 0.0
    overwrite: bool = False
    clean_plate: str = ""
    stack_plate: bool = False
    float_plate: bool = True
    independent_frames: bool = False
    background_frames: str = str(FARM_BACKGROUND_FRAMES)
    python: str = field(default_factory=lambda: sys.executable)
    #: kind ("alpha", "fg", "bg", "rgba") → frame pattern; empty: matte's defaults in ``out``
    outputs: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        from ..io import FramePattern

        return FramePattern(self.plate).stem or "shot"

    def chunk_starts(self) -> list[int]:
        return list(range(self.first, self.last + 1, self.chunk))

    def chunk_frames(self, start: int) -> list[int]:
        return list(range(start, min(start + self.chunk, self.last + 1)))

    def _values(self, placeholders: dict) -> dict:
        v = {name: str(getattr(self, name)) for name in self.__dataclass_fields__}
        v.update(placeholders)
        return v

    def _guide_args(self, v: dict) -> list[str]:
        return ["--rough-matte", v["guide"], "--band", v["band"]] if self.rough_matte else [v["guide"]]

    def first_solve_outputs(self, out: str | None = None) -> dict:
        """kind → pattern of the first solve's alpha and foreground (``stack_plate``), in
        ``out`` (default the shot's; a farm placeholder works too)."""
        from ..io import FramePattern

        plate = FramePattern(self.plate)
        token = "#" * max(plate.padding, 4)
        folder = f"{self.out if out is None else out}/{FARM_FOLDER}/first_solve"
        return {kind: f"{folder}/{plate.stem or 'shot'}.{kind}.{token}.exr" for kind in ("alpha", "fg")}

    def first_solve_report(self, start: "int | str", out: str | None = None) -> str:
        return f"{self.out if out is None else out}/{FARM_FOLDER}/first_solve/chunk.{start}.json"

    def stacked_plate(self, out: str | None = None) -> str:
        """Where the clean plate step writes the plate the matte step reads."""
        suffix = "exr" if self.float_plate else "tif"
        return f"{self.out if out is None else out}/{FARM_FOLDER}/stacked_plate.{suffix}"

    def matte_args(self, chunk_start: str, report: str, outputs: dict | None = None, first_solve: bool = False,
                   placeholders: dict[str, str] | None = None) -> list[str]:
        """The task's arguments after the interpreter (``-m ofx_dipmatte matte ...``).
        ``chunk_start``, ``report``, ``outputs`` (kind → pattern) and any field named in
        ``placeholders`` (e.g. ``{"plate": "{{Param.Plate}}"}``) may be a farm's placeholders
        instead of values. ``first_solve``: the task of ``stack_plate``'s first step
        (its own outputs, no plate)."""
        v = self._values(placeholders or {})
        outputs = self.outputs if outputs is None else outputs
        if first_solve:
            outputs = self.first_solve_outputs(v["out"])
        guide = self._guide_args(v)
        args = ["-m", "ofx_dipmatte", "matte", v["plate"], *guide, "-o", v["out"],
                "--frames", f"{v['first']}-{v['last']}", "--chunk-start", chunk_start,
                "--chunk-size", v["chunk"], "--preroll", v["preroll"],
                "--preset", v["preset"], "--device", v["device"], "--seed", v["seed"],
                "--max-iterations", v["max_iterations"], "--loss-threshold", v["loss_threshold"],
                "--background-frames", v["background_frames"], "--quiet", "--json", "--report", report]
        if self.independent_frames or first_solve:  # the first solve as `matte --stack-plate`'s
            args += ["--independent-frames"]
        if self.clean_plate:
            args += ["--clean-plate", v["clean_plate"]]
        elif self.stack_plate and not first_solve:
            args += ["--clean-plate", self.stacked_plate(v["out"])]
        for kind, pattern in outputs.items():
            args += [f"--{kind}", pattern]
        return args + (["--overwrite"] if self.overwrite else [])

    def clean_plate_args(self, placeholders: dict[str, str] | None = None) -> list[str]:
        """The clean plate step's arguments after the interpreter: the plate stacked from
        the trimaps and the first solve; ``--strict`` fails it when the background moves.
        ``placeholders``: as for :meth:`matte_args`."""
        v = self._values(placeholders or {})
        first = self.first_solve_outputs(v["out"])
        return ["-m", "ofx_dipmatte", "clean-plate", v["plate"], *self._guide_args(v),
                "--frames", f"{v['first']}-{v['last']}", "--alpha", first["alpha"], "--fg", first["fg"],
                "-o", self.stacked_plate(v["out"]), "--overwrite", "--strict", "--json"]

    def steps(self) -> list[str]:
        """The job's steps in the order they run."""
        return ["first_solve", "clean_plate", "matte"] if self.stack_plate else ["matte"]

    def task_starts(self, step: str) -> list[int]:
        """The first frame of each of ``step``'s tasks: the chunks', or the one clean plate
        task's (the whole shot)."""
        return [self.first] if step == "clean_plate" else self.chunk_starts()

    def task_args(self, step: str, start: "int | str" = "") -> list[str]:
        """A task's arguments after the interpreter, with values: ``step``'s task for the
        chunk at ``start`` ("first_solve", "matte"), or the one "clean_plate" task."""
        if step == "clean_plate":
            return self.clean_plate_args()
        if step == "first_solve":
            return self.matte_args(str(start), self.first_solve_report(start), first_solve=True)
        return self.matte_args(str(start), self.report_path(start))

    def output_patterns(self):
        """The shot's outputs (:class:`~ofx_dipmatte.shot.ShotOutputs`), as its tasks write them."""
        from ..io import FramePattern
        from ..shot import ShotOutputs

        if self.outputs:
            return ShotOutputs(**{kind: FramePattern(p) for kind, p in self.outputs.items()})
        return ShotOutputs.defaults(Path(self.out), FramePattern(self.plate))

    def farm_folder(self) -> Path:
        return Path(self.out) / FARM_FOLDER

    def report_path(self, start: "int | str") -> str:
        return str(self.farm_folder() / f"chunk.{start}.json")

    def save(self) -> Path:
        """Write ``OUT/.farm/shot.json`` (what farm-report compares the outputs with)."""
        path = self.farm_folder() / "shot.json"
        write_json_atomic(path, asdict(self))
        return path

    @classmethod
    def load(cls, out: "str | os.PathLike") -> "FarmShot":
        path = Path(out) / FARM_FOLDER / "shot.json"
        if not path.is_file():
            raise FileNotFoundError(f"{out}: no {FARM_FOLDER}/shot.json here; give the -o folder of an "
                                    "`ofx-dipmatte farm` job")
        return cls(**json.loads(path.read_text()))


def write_json_atomic(path: Path, body) -> None:
    """Whole or not at all: a farm reads these while other tasks run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(body, f, indent=2)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def missing_extra(module: str) -> SystemExit:
    return SystemExit(f"ofx-dipmatte farm: the {module} library is not installed; "
                      "pip install \"ofx_dipmatte[farm]\" (or pip install openjd-cli opencue-pyoutline)")
