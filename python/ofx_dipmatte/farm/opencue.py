"""OpenCue (Academy Software Foundation): the shot as a pyoutline outline.

One layer, ``matte``, over the shot's frame range with OpenCue's own chunking (``chunk``:
each task gets the frames of one chunk); its service and tags pick CPU or GPU hosts. Each
task runs ``matte`` on the frames of its chunk (:class:`MatteChunks`). With
``--stack-plate`` two layers come first, each depending on the one before: ``first_solve``
(the same chunks, no plate) and ``clean_plate`` (one task, :class:`CleanPlateTask`). ``--submit`` sends
the outline to the Cuebot of the usual OpenCue configuration (CUEBOT_HOSTS or
opencue.yaml); ``--run-local`` runs it with pyoutline's local backend, which starts
every task through ``pycuerun`` in a wrapper, as a render node would.
"""

from __future__ import annotations

import shlex
import stat
import sys
import tempfile
from pathlib import Path
from typing import Callable

from . import FarmShot, missing_extra

try:
    import outline
    import outline.cuerun
    import outline.layer
except ImportError:
    raise missing_extra("opencue-pyoutline") from None


class MatteChunks(outline.layer.Layer):
    """A layer whose every task runs ``ofx-dipmatte matte`` once on its chunk of frames;
    named after its step ("matte", or "first_solve" of a ``stack_plate`` job)."""

    def __init__(self, name: str, shot: dict, **args):
        super().__init__(name, **args)
        self.set_arg("shot_spec", shot)

    def _execute(self, frames) -> None:
        shot = FarmShot(**self.get_arg("shot_spec"))
        # A failed chunk fails the task (OpenCue retries it, then marks it dead).
        self.system([shot.python, *shot.task_args(self.get_name(), min(frames))])


class CleanPlateTask(MatteChunks):
    """One task: ``ofx-dipmatte clean-plate`` on the first solve's outputs (``stack_plate``)."""


def build_outline(shot: FarmShot, service: str = "ofx_dipmatte", tags: str = "general",
                  show: str | None = None, shot_name: str | None = None,
                  cores: float | None = None, only: list[str] | None = None) -> "outline.Outline":
    """``cores``: booked per task, overriding the service's; RQD sets CUE_THREADS to
    them, which the engine's threads follow (:func:`ofx_dipmatte.engine.device.thread_budget`).
    ``only``: these of the :func:`steps` (default all), each depending on the one before."""
    frames = f"{shot.first}-{shot.last}"
    ol = outline.Outline(f"ofx_dipmatte_{shot.name}", frame_range=frames, show=show, shot=shot_name)
    booking = {"service": service, "tags": tags.split("|"), **({} if cores is None else {"cores": cores})}
    previous = None
    for step in only or shot.steps():
        if step == "clean_plate":
            layer = CleanPlateTask(step, shot=vars(shot), range=f"{shot.first}-{shot.first}", chunk=1, **booking)
        else:
            layer = MatteChunks(step, shot=vars(shot), range=frames, chunk=shot.chunk, **booking)
        ol.add_layer(layer)
        if previous is not None:
            layer.depend_all(previous)
        previous = layer
    return ol


def write_outline(ol: "outline.Outline", path: Path) -> Path:
    """The outline serialised as pyoutline writes it into a job's session (YAML)."""
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.dump(ol))
    return path


def describe(ol: "outline.Outline", shot: FarmShot) -> str:
    """What --submit would send: the job, its layers, the chunks and one task's command each."""
    first = shot.chunk_starts()[0]
    lines = [f"OpenCue job {ol.get_name()} (show {ol.get_show()}, shot {ol.get_shot()}): not submitted"]
    for layer in ol.get_layers():
        name = layer.get_name()
        tasks, command = len(shot.task_starts(name)), shot.task_args(name, first)
        after = [d.get_depend_on_layer().get_name() for d in layer.get_depends()]
        lines += [
            f"  layer {name}: frames {layer.get_frame_range()}, chunk {layer.get_chunk_size()} "
            f"-> {tasks} tasks; service {layer.get_service()}, tags {layer.get_arg('tags')}, "
            f"cores {layer.get_arg('cores') if layer.is_arg_set('cores') else 'as the service books'}"
            + (f"; after {', '.join(after)}" if after else ""),
            f"  task {first}: {shlex.join([shot.python, *command])}",
        ]
    lines.append("  --submit sends it to the Cuebot of your OpenCue configuration; --run-local runs it here")
    return "\n".join(lines)


def submit(ol: "outline.Outline") -> str:
    """Launch on the Cuebot of the OpenCue configuration; the names of the jobs made."""
    try:
        jobs = outline.cuerun.launch(ol, use_pycuerun=True, backend="cue")
    except Exception as error:  # pycue raises its own connection and permission errors
        raise RuntimeError(f"OpenCue refused the job or could not be reached ({type(error).__name__}: "
                           f"{str(error)[:300]}); check CUEBOT_HOSTS or your opencue.yaml") from None
    return "submitted: " + ", ".join(j.name() if hasattr(j, "name") else str(j) for j in jobs or [])


_WRAPPER = """#!/bin/sh
# pyoutline's local backend runs: local_wrap_frame USER_DIR SHOW SHOT PYCUERUN
# "OUTLINE -e  FRAME-LAYER" " -v VERSION" " -r REPOS" -D (its own wrapper is a studio tcsh
# script). Run the frame in USER_DIR with those as words, the outline's path whole (it lies
# in the output folder, whose name may hold spaces); drop " -v " / " -r " when pyoutline
# passes them empty (no versioned repos set up).
dir="$1"; shift 3
for a in "$@"; do
    shift
    case "$a" in
        " -v "|" -r ") ;;
        " -v "*|" -r "*) set -- "$@" $a ;;
        *" -e "*) set -- "$@" "${a% -e *}" -e $(echo "${a##* -e }") ;;
        *) set -- "$@" "$a" ;;
    esac
done
mkdir -p "$dir" && cd "$dir" || exit 1
exec "$@"
"""


def run_local(shot: FarmShot, build: Callable[[list[str]], "outline.Outline"]) -> int:
    """Run every task here with pyoutline's local backend; 0 when every frame got done.
    ``build(steps)``: the outline of those steps. The local backend runs tasks in frame
    order across layers, not after the layers they depend on, so each step runs as an
    outline of its own, and a step that failed stops the job."""
    from ..io import FramePattern
    from .report import shot_status

    with tempfile.TemporaryDirectory(prefix="ofx_dipmatte_cue_") as wrapper_dir:
        wrappers = Path(wrapper_dir)
        wrapper = wrappers / "local_wrap_frame"
        wrapper.write_text(_WRAPPER)
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        outline.config.set("outline", "wrapper_dir", str(wrappers))
        outline.config.set("outline", "bin_dir", str(Path(sys.executable).parent))
        outline.config.set("outline", "session_dir", str(Path(shot.out) / ".farm" / "opencue"))
        done = {  # how a step's success shows on disk
            "first_solve": lambda: all(FramePattern(p).path(f).is_file() for p in shot.first_solve_outputs().values()
                                       for f in range(shot.first, shot.last + 1)),
            "clean_plate": lambda: Path(shot.stacked_plate()).is_file(),
            "matte": lambda: shot_status(shot.out)["complete"],
        }
        for step in shot.steps():
            outline.cuerun.launch(build([step]), use_pycuerun=True, backend="local")
            if not done[step]():
                return 1
        return 0
