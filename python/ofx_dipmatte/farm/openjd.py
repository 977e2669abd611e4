"""Open Job Description (the job format of AWS Deadline Cloud): a job template.

One step, ``Matte``, whose parameter space is the chunk starts (an INT range
``FirstFrame-LastFrame:ChunkSize``); each task runs ``matte`` on its chunk. With
``--stack-plate`` two steps come first: ``FirstSolve`` (the same chunks, no plate) and
``CleanPlate`` (one task), each step depending on the one before. Paths, frame
range, chunk size, preroll, preset, device and seed are job parameters whose defaults are
the values given, so ``openjd run job.yaml`` runs this shot as written and the same
template serves another shot with other ``-p`` values.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..engine.presets import PRESETS
from . import FarmShot, missing_extra

SPEC = "jobtemplate-2023-09"


def _param(name: str, kind: str, default, description: str, **extra) -> dict:
    return {"name": name, "type": kind, "default": default, "description": description, **extra}


def job_template(shot: FarmShot) -> dict:
    """The template for ``shot``. Paths are STRING parameters: OpenJD allows a PATH
    parameter only defaults inside the template's own folder, and a shot's plates are
    elsewhere (a Deadline Cloud TD who wants path mapping makes them PATH and passes them
    with -p)."""
    guide_name = "RoughMatte" if shot.rough_matte else "Trimap"
    params = [
        _param("Python", "STRING", shot.python,
               "Python interpreter with ofx_dipmatte installed, as the workers see it"),
        _param("Plate", "STRING", shot.plate, "plate frame pattern, e.g. /shots/a/plate.####.exr"),
        _param(guide_name, "STRING", shot.guide,
               "rough-matte frame pattern" if shot.rough_matte else "trimap frame pattern"),
        _param("OutputDir", "STRING", shot.out, "where alpha and foreground EXRs (and .farm reports) go"),
        _param("FirstFrame", "INT", shot.first, "first frame to write"),
        _param("LastFrame", "INT", shot.last, "last frame to write"),
        _param("ChunkSize", "INT", shot.chunk, "frames per task", minValue=1),
        _param("Preroll", "INT", shot.preroll, "frames solved (not written) before each chunk, "
               "so it starts warm like a continuous run", minValue=0),
        # The named presets, and this job's own when it changes a preset's fields (NAME:FIELD=VALUE,...).
        _param("Preset", "STRING", shot.preset, "solver preset",
               allowedValues=sorted({*PRESETS, shot.preset})),
        _param("Device", "STRING", shot.device, "auto, cpu or cuda", allowedValues=["auto", "cpu", "cuda"]),
        _param("Seed", "INT", shot.seed, "seeds weights and noise"),
        _param("MaxIterations", "INT", shot.max_iterations, "cap per frame (0: the preset's)", minValue=0),
        _param("LossThreshold", "FLOAT", shot.loss_threshold, "stop below this loss (0: the preset's)"),
    ]
    if shot.rough_matte:
        params.append(_param("Band", "FLOAT", shot.band, "unknown band half-width (px) around the rough matte"))
    if shot.clean_plate:
        params.append(_param("CleanPlate", "STRING", shot.clean_plate,
                             "the background without the subject: one file or a frame pattern"))
    outputs = {}
    for kind, pattern in shot.outputs.items():
        name = f"{kind.capitalize()}Output"
        params.append(_param(name, "STRING", pattern, f"where the {kind} frames go (frame pattern)"))
        outputs[kind] = f"{{{{Param.{name}}}}}"
    # The tasks' command lines, with the parameters in place of the values.
    values = dict(plate="{{Param.Plate}}", guide=f"{{{{Param.{guide_name}}}}}", out="{{Param.OutputDir}}",
                  first="{{Param.FirstFrame}}", last="{{Param.LastFrame}}", chunk="{{Param.ChunkSize}}",
                  preroll="{{Param.Preroll}}", preset="{{Param.Preset}}", device="{{Param.Device}}",
                  seed="{{Param.Seed}}", max_iterations="{{Param.MaxIterations}}",
                  loss_threshold="{{Param.LossThreshold}}", band="{{Param.Band}}", clean_plate="{{Param.CleanPlate}}")
    start = "{{Task.Param.ChunkStart}}"
    matte = _chunks_step("Matte", shot.matte_args(start, f"{{{{Param.OutputDir}}}}/.farm/chunk.{start}.json",
                                                  outputs, placeholders=values))
    steps = [matte]
    if shot.stack_plate:
        first = _chunks_step("FirstSolve", shot.matte_args(start, shot.first_solve_report(start, values["out"]),
                                                           first_solve=True, placeholders=values))
        plate = {"name": "CleanPlate", "dependencies": [{"dependsOn": "FirstSolve"}],
                 "script": {"actions": {"onRun": {"command": "{{Param.Python}}",
                                                  "args": shot.clean_plate_args(values)}}}}
        matte["dependencies"] = [{"dependsOn": "CleanPlate"}]
        steps = [first, plate, matte]
    return {
        "specificationVersion": SPEC,
        "name": f"ofx_dipmatte {shot.name} {{{{Param.FirstFrame}}}}-{{{{Param.LastFrame}}}}",
        "description": "Matte extraction with ofx_dipmatte, one task per chunk of frames.",
        "parameterDefinitions": params,
        "steps": steps,
    }


def _chunks_step(name: str, args: list[str]) -> dict:
    """A step with a task per chunk, each running ``args`` with its ChunkStart."""
    return {
        "name": name,
        "parameterSpace": {"taskParameterDefinitions": [{
            "name": "ChunkStart", "type": "INT",
            "range": "{{Param.FirstFrame}}-{{Param.LastFrame}}:{{Param.ChunkSize}}",
        }]},
        "script": {"actions": {"onRun": {"command": "{{Param.Python}}", "args": args}}},
    }


def write_template(shot: FarmShot, path: Path) -> Path:
    """Write the template as YAML (JSON when ``path`` ends in .json), checked by openjd-model."""
    import json

    try:
        import yaml
        from openjd.model import DocumentType, decode_job_template, document_string_to_object
    except ImportError:
        raise missing_extra("openjd-cli (openjd-model)") from None
    template = job_template(shot)
    text = json.dumps(template, indent=2) if path.suffix == ".json" else yaml.safe_dump(template, sort_keys=False)
    kind = DocumentType.JSON if path.suffix == ".json" else DocumentType.YAML
    decode_job_template(template=document_string_to_object(document=text, document_type=kind))  # raises if invalid
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def openjd_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "openjd", *args]


def run_args(path: Path) -> list[str]:
    """``openjd run``'s arguments for the whole job: the Matte step and the steps it depends on."""
    return ["run", str(path), "--step", "Matte", "--run-dependencies"]


def run_local(path: Path) -> int:
    """``openjd run`` on this machine: the session runtime farm workers use, every task in turn."""
    try:
        import openjd.cli  # noqa: F401
    except ImportError:
        raise missing_extra("openjd-cli") from None
    return subprocess.call(openjd_cli(*run_args(path)))
