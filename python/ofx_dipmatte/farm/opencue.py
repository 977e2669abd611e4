"""OpenCue (Academy Software Foundation): the shot as a pyoutline outline.

One layer, ``matte``, over the shot's frame range with OpenCue's own chunking (``chunk``:
each task gets the frames of one chunk); its service and tags pick CPU or GPU hosts. Each
task runs ``matte`` on the frames of its chunk (:class:`MatteChunks`). ``--submit`` sends
the outline to the Cuebot of the usual OpenCue configuration (CUEBOT_HOSTS or
opencue.yaml); ``--run-local`` runs it with pyoutline's local backend, which starts
every task through ``pycuerun`` in a wrapper, as a render node would.
"""

from __future__ import annotations

import stat
import sys
import tempfile
from pathlib import Path

from . import FarmShot, missing_extra

try:
    import outline
    import outline.cuerun
    import outline.layer
except ImportError:
    raise missing_extra("opencue-pyoutline") from None


class MatteChunks(outline.layer.Layer):
    """A layer whose every task runs ``ofx-dipmatte matte`` once on its chunk of frames."""

    def __init__(self, name: str, shot: dict, **args):
        super().__init__(name, **args)
        self.set_arg("shot_spec", shot)

    def _execute(self, frames) -> None:
        shot = FarmShot(**self.get_arg("shot_spec"))
        start = min(frames)
        command = [shot.python, *shot.matte_args(str(start), shot.report_path(start))]
        # A failed chunk fails the task (OpenCue retries it, then marks it dead).
        self.system(command)


def build_outline(shot: FarmShot, service: str = "ofx_dipmatte", tags: str = "general",
                  show: str | None = None, shot_name: str | None = None,
                  cores: float | None = None) -> "outline.Outline":
    """``cores``: booked per task, overriding the service's; RQD sets CUE_THREADS to
    them, which the engine's threads follow (:func:`ofx_dipmatte.engine.device.thread_budget`)."""
    frames = f"{shot.first}-{shot.last}"
    ol = outline.Outline(f"ofx_dipmatte_{shot.name}", frame_range=frames, show=show, shot=shot_name)
    booking = {} if cores is None else {"cores": cores}
    layer = MatteChunks("matte", shot=vars(shot), range=frames, chunk=shot.chunk, service=service,
                        tags=tags.split("|"), **booking)
    ol.add_layer(layer)
    return ol


def write_outline(ol: "outline.Outline", path: Path) -> Path:
    """The outline serialised as pyoutline writes it into a job's session (YAML)."""
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.dump(ol))
    return path


def describe(ol: "outline.Outline", shot: FarmShot) -> str:
    """What --submit would send: the job, its layer, the chunks and one task's command."""
    layer = ol.get_layers()[0]
    first = shot.chunk_starts()[0]
    command = " ".join([shot.python, *shot.matte_args(str(first), shot.report_path(first))])
    return "\n".join([
        f"OpenCue job {ol.get_name()} (show {ol.get_show()}, shot {ol.get_shot()}): not submitted",
        f"  layer {layer.get_name()}: frames {layer.get_frame_range()}, chunk {layer.get_chunk_size()} "
        f"-> {len(shot.chunk_starts())} tasks; service {layer.get_service()}, tags {layer.get_arg('tags')}, "
        f"cores {layer.get_arg('cores') if layer.is_arg_set('cores') else 'as the service books'}",
        f"  task {first}: {command}",
        "  --submit sends it to the Cuebot of your OpenCue configuration; --run-local runs it here",
    ])


def submit(ol: "outline.Outline") -> str:
    """Launch on the Cuebot of the OpenCue configuration; the names of the jobs made."""
    try:
        jobs = outline.cuerun.launch(ol, use_pycuerun=True, backend="cue")
    except Exception as error:  # pycue raises its own connection and permission errors
        raise RuntimeError(f"OpenCue refused the job or could not be reached ({type(error).__name__}: "
                           f"{str(error)[:300]}); check CUEBOT_HOSTS or your opencue.yaml") from None
    return "submitted: " + ", ".join(j.name() if hasattr(j, "name") else str(j) for j in jobs or [])


_WRAPPER = """#!/bin/sh
# pyoutline's local backend runs: local_wrap_frame USER_DIR SHOW SHOT PYCUERUN ARGS...
# (its own wrapper is a studio tcsh script). Run the frame in USER_DIR; drop the
# " -v " / " -r " arguments pyoutline passes empty when no versioned repos are set up.
dir="$1"; shift 3
cmd=""
for a in "$@"; do
    case "$a" in
        " -v "|" -r ") ;;
        *) cmd="$cmd $a" ;;
    esac
done
mkdir -p "$dir" && cd "$dir" || exit 1
eval "$cmd"
"""


def run_local(ol: "outline.Outline", shot: FarmShot) -> int:
    """Run every task here with pyoutline's local backend; 0 when every frame got done."""
    from .report import shot_status

    wrappers = Path(tempfile.mkdtemp(prefix="ofx_dipmatte_cue_"))
    wrapper = wrappers / "local_wrap_frame"
    wrapper.write_text(_WRAPPER)
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    outline.config.set("outline", "wrapper_dir", str(wrappers))
    outline.config.set("outline", "bin_dir", str(Path(sys.executable).parent))
    outline.config.set("outline", "session_dir", str(Path(shot.out) / ".farm" / "opencue"))
    outline.cuerun.launch(ol, use_pycuerun=True, backend="local")
    status = shot_status(shot.out)
    return 0 if status["complete"] else 1
