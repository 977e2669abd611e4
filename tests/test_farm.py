"""`ofx-dipmatte farm` and `farm-report` with the real runners: OpenJD's `openjd run` (the
session runtime farm workers use) and pyoutline's local backend (tasks through pycuerun),
no mocks. Each shot is 6 frames of 48² in 3 chunks of 2 with preroll 1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ofx_dipmatte
from ofx_dipmatte.cli import main
from ofx_dipmatte.farm import FarmShot
from ofx_dipmatte.io import read_image

from test_shot import start, wait_for, write_shot

pytest.importorskip("openjd.model", reason="the farm extra: pip install '.[farm]'")
pytest.importorskip("outline", reason="the farm extra: pip install '.[farm]'")

FRAMES = range(1001, 1007)


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shot")
    plate, trimap = write_shot(folder / "in", FRAMES, size=48)
    # The same shot solved in one continuous run: what every farm run must reproduce, its
    # frames solved on their own (a locked-off shot: chunks would carry less background).
    reference = folder / "continuous"
    assert main(["matte", plate, trimap, "-o", str(reference), "--quiet", "--independent-frames"]) == 0
    return plate, trimap, reference


def farm(*args) -> int:
    return main(["farm", *args])


def assert_same_as_continuous(out: Path, reference: Path):
    for f in FRAMES:
        for kind in ("alpha", "fg"):
            ours = read_image(out / f"plate.{kind}.{f:04d}.exr")
            theirs = read_image(reference / f"plate.{kind}.{f:04d}.exr")
            # Frames solved on their own: chunks cannot change them (README).
            assert np.array_equal(ours, theirs), (kind, f)


def test_openjd_template_checks_and_runs_the_shot_in_three_chunks(shot, tmp_path, capsys):
    plate, trimap, reference = shot
    out = tmp_path / "out"
    assert farm(plate, trimap, "-o", str(out), "--frames", "1001-1006", "--chunk", "2", "--preroll", "1",
                "--format", "openjd", "--independent-frames") == 0
    template = out / ".farm" / "job.openjd.yaml"
    assert "--independent-frames" in template.read_text()
    check = subprocess.run([sys.executable, "-m", "openjd", "check", str(template)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    run = subprocess.run([sys.executable, "-m", "openjd", "run", str(template), "--step", "Matte"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Chunks run: 3" in run.stdout or run.stdout.count("ofx_dipmatte matte") >= 3
    assert_same_as_continuous(out, reference)
    # Each chunk reported, with its preroll frame solved but not written.
    report = json.loads((out / ".farm" / "chunk.1003.json").read_text())
    assert [(f["frame"], f["status"]) for f in report["frames"]] == [(1002, "preroll"), (1003, "solved"),
                                                                     (1004, "solved")]
    assert all(f["background_frames"] == 0 for f in report["frames"])
    capsys.readouterr()
    assert main(["farm-report", str(out), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["done"] == 6 and status["complete"]
    assert status["releases"] == [ofx_dipmatte.__version__] and status["warnings"] == []
    # A node with another release installed rendered one chunk: the report says so.
    path = out / ".farm" / "chunk.1003.json"
    path.write_text(path.read_text().replace(f'"ofx_dipmatte": "{ofx_dipmatte.__version__}"',
                                             '"ofx_dipmatte": "0.0.9"'))
    assert main(["farm-report", str(out)]) == 0
    assert (f"warning: the chunks were rendered by ofx_dipmatte 0.0.9, {ofx_dipmatte.__version__}: frames of "
            "different releases need not match") in capsys.readouterr().out


def test_tasks_are_given_the_jobs_background_frames(shot, tmp_path, capsys):
    """--background-frames reaches every task's matte command (default 16 either side of
    the chunk, not the whole shot), and a bad value is refused when the job is made."""
    plate, trimap, _ = shot
    for given, expected in ((["--background-frames", "2"], "2"), (["--background-frames", "all"], "all"), ([], "16")):
        out = tmp_path / expected
        assert farm(plate, trimap, "-o", str(out), "--frames", "1001-1006", "--chunk", "2", "--format", "openjd",
                    *given) == 0
        args = FarmShot.load(out).matte_args("1003", "report.json")
        assert args[args.index("--background-frames") + 1] == expected
    with pytest.raises(SystemExit):
        farm(plate, trimap, "-o", str(tmp_path / "bad"), "--format", "openjd", "--background-frames", "-1")
    assert "give 0 or more frames, or 'all'" in capsys.readouterr().err


def test_the_same_template_serves_another_shot(shot, tmp_path):
    """Job parameters, not the values baked in: another output folder and range via -p."""
    plate, trimap, reference = shot
    out = tmp_path / "out"
    assert farm(plate, trimap, "-o", str(out), "--frames", "1001-1006", "--chunk", "2", "--format", "openjd",
                "--write", str(tmp_path / "job.yaml")) == 0
    other = tmp_path / "other"
    run = subprocess.run([sys.executable, "-m", "openjd", "run", str(tmp_path / "job.yaml"), "--step", "Matte",
                          "-p", f"OutputDir={other}", "-p", "FirstFrame=1005", "-p", "LastFrame=1006"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert sorted(p.name for p in other.glob("plate.alpha.*.exr")) == ["plate.alpha.1005.exr", "plate.alpha.1006.exr"]
    assert not out.joinpath("plate.alpha.1001.exr").exists()


def test_opencue_outline_runs_on_pyoutlines_local_backend(shot, tmp_path, capsys):
    plate, trimap, reference = shot
    out = tmp_path / "out dir"  # a space, as artists' folders have: every task's words stay whole
    args = [plate, trimap, "-o", str(out), "--frames", "1001-1006", "--chunk", "2", "--preroll", "1",
            "--format", "opencue", "--independent-frames"]
    # Without --submit or --run-local: what would be sent, and nothing solved.
    assert farm(*args, "--write", str(tmp_path / "job.outline.yaml"), "--tags", "gpu", "--cores", "4") == 0
    said = capsys.readouterr().out
    assert "frames 1001-1006, chunk 2 -> 3 tasks" in said and "gpu" in said and "not submitted" in said
    assert "cores 4" in said  # booked per task: RQD sets CUE_THREADS, which the tiles follow
    assert f"-o '{out}'" in said  # the task's command as a shell takes it
    assert "MatteChunks" in (tmp_path / "job.outline.yaml").read_text()
    assert not list(out.glob("*.exr"))
    # The local backend starts every task through pycuerun, as a render node would.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    code = subprocess.run([sys.executable, "-m", "ofx_dipmatte", "farm", *args, "--run-local"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "TMPDIR": str(scratch)})
    assert code.returncode == 0, code.stdout[-3000:] + code.stderr[-3000:]
    assert_same_as_continuous(out, reference)
    assert not list(scratch.glob("ofx_dipmatte_cue_*"))  # the wrapper folder goes with the run
    assert sorted(p.name for p in (out / ".farm").glob("chunk.*.json")) == [
        "chunk.1001.json", "chunk.1003.json", "chunk.1005.json"]


def test_a_killed_chunk_resumes_and_farm_report_names_what_is_missing(shot, tmp_path, capsys):
    plate, trimap, _ = shot
    out = tmp_path / "out"
    # A DIP preset, so frames are checkpointed; 40 steps a frame, so the chunk can be caught mid-frame.
    assert farm(plate, trimap, "-o", str(out), "--frames", "1001-1006", "--chunk", "3", "--format", "openjd",
                "--preset", "draft", "--max-iterations", "40", "--loss-threshold", "1e-9") == 0
    spec = FarmShot.load(out)
    task = [sys.executable, *spec.matte_args("1004", spec.report_path(1004))]
    proc = start(task)
    wait_for(proc, out / "plate.fg.1004.exr")  # frame 1004 written, 1005 being solved
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    capsys.readouterr()
    assert main(["farm-report", str(out), "--json"]) == 1
    status = json.loads(capsys.readouterr().out)
    by_frame = {f["frame"]: f["status"] for f in status["frames"]}
    assert by_frame[1004] == "done"
    assert all(by_frame[f] == "missing" for f in (1001, 1002, 1003, 1006))  # chunk 1001 never ran
    assert status["chunks"][0]["status"] == "not reported" and not status["complete"]

    again = subprocess.run(task, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    report = json.loads((out / ".farm" / "chunk.1004.json").read_text())
    frames = {f["frame"]: f for f in report["frames"]}
    assert frames[1004]["status"] == "skipped"
    resumed = frames[min(f for f in frames if frames[f]["status"] == "solved")]
    assert resumed["warm_start_from"] == resumed["frame"] - 1  # from the killed run's checkpoint
    capsys.readouterr()
    assert main(["farm-report", str(out)]) == 1
    table = capsys.readouterr().out
    assert "3 done, 3 missing, 0 failed" in table


def test_a_failed_chunk_is_reported_as_failed(shot, tmp_path, capsys):
    plate, trimap, _ = shot
    out = tmp_path / "out"
    assert farm(plate, trimap, "-o", str(out), "--frames", "1001-1006", "--chunk", "2", "--format", "openjd") == 0
    spec = FarmShot.load(out)
    (tmp_path / "in").mkdir()
    broken = tmp_path / "in" / "trimap.1003.png"
    broken.write_text("not an image")
    args = spec.matte_args("1003", spec.report_path(1003),
                           placeholders={"guide": str(tmp_path / "in" / "trimap.####.png")})
    assert subprocess.run([sys.executable, *args], capture_output=True).returncode == 2
    capsys.readouterr()
    assert main(["farm-report", str(out), "--json"]) == 1
    status = json.loads(capsys.readouterr().out)
    failed = [f for f in status["frames"] if f["status"] == "failed"]
    assert [f["frame"] for f in failed] == [1003, 1004] and "trimap" in failed[0]["error"]


@pytest.mark.parametrize("bad, message", [
    (["--frames", "1001-1010"], "missing input files"),
    (["--frames", "1001-1006", "--chunk", "0"], "--chunk must be at least 1"),
    (["--frames", "1001-1003,1005"], "one contiguous range"),
    (["--frames", "1001-1006", "--preset", "fastest"], "unknown preset"),
    (["--frames", "1001-1006", "--preset", "balanced:trusted_passes=two"], "trusted_passes takes a whole number"),
    (["--frames", "1001-1006", "--device", "tpu"], "--device"),
])
def test_bad_input_is_refused_before_anything_is_written(shot, tmp_path, capsys, bad, message):
    plate, trimap, _ = shot
    out = tmp_path / "out"
    assert farm(plate, trimap, "-o", str(out), "--format", "openjd", *bad) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_preset_with_changed_fields_reaches_every_task(shot, tmp_path):
    plate, trimap, _ = shot
    out = tmp_path / "out"
    preset = "balanced:keep_smooth_mattes=false,trusted_passes=1"
    assert farm(plate, trimap, "-o", str(out), "--frames", "1001-1004", "--chunk", "2", "--format", "openjd",
                "--preset", preset) == 0
    args = FarmShot.load(out).matte_args("1003", "report.json")
    assert args[args.index("--preset") + 1] == preset


def test_missing_plates_and_an_unknown_format_are_refused(tmp_path, capsys):
    out = tmp_path / "out"
    assert farm(str(tmp_path / "none.####.exr"), str(tmp_path / "t.####.png"), "-o", str(out),
                "--frames", "1-3", "--format", "opencue") == 2
    assert "missing input files" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        farm(str(tmp_path / "none.####.exr"), "-o", str(out), "--format", "deadline")
    assert exit_.value.code == 2
    assert not out.exists()


def test_preview_and_contact_sheet(shot, tmp_path, capsys):
    plate, trimap, _ = shot
    out = tmp_path / "out"
    assert main(["matte", plate, trimap, "-o", str(out), "--frames", "1001-1002", "--preview", "--quiet"]) == 0
    sheet = read_image(out / "plate.preview.1001.png")
    assert sheet.shape[0] == 160 and sheet.shape[1] > 4 * 160  # four panels side by side
    assert farm(plate, trimap, "-o", str(out), "--frames", "1001-1002", "--chunk", "1", "--format", "openjd") == 0
    capsys.readouterr()
    assert main(["farm-report", str(out), "--contact-sheet", str(tmp_path / "shot.png")]) == 0
    contact = read_image(tmp_path / "shot.png")
    assert contact.shape[0] == 2 * 120 + 4  # a row per frame


def test_rough_matte_shots_get_their_own_template_parameters(shot, tmp_path):
    plate, trimap, _ = shot
    out = tmp_path / "out"
    # The trimaps double as rough mattes here: any soft or binary matte works.
    assert farm(plate, "--rough-matte", trimap, "--band", "4", "-o", str(out), "--frames", "1001-1006",
                "--chunk", "3", "--format", "openjd") == 0
    template = (out / ".farm" / "job.openjd.yaml").read_text()
    assert "RoughMatte" in template and "name: Band" in template and "name: Trimap" not in template
    check = subprocess.run([sys.executable, "-m", "openjd", "check", str(out / ".farm" / "job.openjd.yaml")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_submit_without_a_cuebot_says_where_to_look(shot, tmp_path, capsys, monkeypatch):
    plate, trimap, _ = shot
    monkeypatch.setenv("CUEBOT_HOSTS", "127.0.0.1:1")  # nothing listens there
    code = farm(plate, trimap, "-o", str(tmp_path / "out"), "--frames", "1001-1006", "--format", "opencue",
                "--submit")
    assert code == 1
    assert "CUEBOT_HOSTS" in capsys.readouterr().err


def test_farm_json_lists_the_tasks(shot, tmp_path, capsys):
    plate, trimap, _ = shot
    assert farm(plate, trimap, "-o", str(tmp_path / "out"), "--frames", "1001-1006", "--chunk", "4",
                "--format", "openjd", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert [t["frames"] for t in summary["tasks"]] == ["1001-1004", "1005-1006"]
    assert summary["job"].endswith("job.openjd.yaml") and "--chunk-start" in summary["tasks"][1]["command"]


def test_explicit_output_patterns_reach_the_tasks_and_the_report(shot, tmp_path, capsys):
    plate, trimap, reference = shot
    out = tmp_path / "out"
    mattes = tmp_path / "mattes"
    assert farm(plate, trimap, "-o", str(out), "--alpha", str(mattes / "a.####.exr"),
                "--rgba", str(mattes / "premult.####.exr"), "--frames", "1001-1006", "--chunk", "3",
                "--format", "openjd", "--independent-frames") == 0
    template = out / ".farm" / "job.openjd.yaml"
    assert "AlphaOutput" in template.read_text() and "RgbaOutput" in template.read_text()
    run = subprocess.run([sys.executable, "-m", "openjd", "run", str(template), "--step", "Matte"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for f in FRAMES:
        assert np.array_equal(read_image(mattes / f"a.{f:04d}.exr"),
                              read_image(reference / f"plate.alpha.{f:04d}.exr"))
        assert (mattes / f"premult.{f:04d}.exr").is_file()
    assert not list(out.glob("*.exr"))  # the patterns, not -o, say where frames go
    capsys.readouterr()
    assert main(["farm-report", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["done"] == 6
    with pytest.raises(ValueError, match="no alpha or no fg"):
        from ofx_dipmatte.farm.report import contact_sheet, shot_status
        contact_sheet(out, shot_status(out), tmp_path / "sheet.png")


def test_a_clean_plate_reaches_every_task(shot, tmp_path, capsys):
    plate, trimap, _ = shot
    clean = str(Path(plate).parent / "plate.1001.exr")  # any image of the plate's size and kind
    out = tmp_path / "out"
    assert farm(plate, trimap, "-o", str(out), "--clean-plate", clean, "--frames", "1001-1002", "--chunk", "2",
                "--format", "openjd", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    command = summary["tasks"][0]["command"]
    assert command[command.index("--clean-plate") + 1] == clean
    template = (out / ".farm" / "job.openjd.yaml").read_text()
    assert "CleanPlate" in template and "{{Param.CleanPlate}}" in template
    run = subprocess.run([sys.executable, "-m", "openjd", "run", str(out / ".farm" / "job.openjd.yaml"),
                          "--step", "Matte"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (out / "plate.alpha.1002.exr").is_file()


def test_opencue_job_spec_books_the_cores_asked_for(shot, tmp_path):
    """What the Cuebot receives: the layer's <cores>, for which RQD sets CUE_THREADS on
    the node (the engine's threads follow it); without --cores the service decides."""
    import outline.backend.cue
    import outline.cuerun

    from ofx_dipmatte.farm import opencue

    plate, trimap, _ = shot
    spec = FarmShot(plate=plate, guide=trimap, out=str(tmp_path / "out"), first=1001, last=1006, chunk=2)
    booked = outline.backend.cue.serialize(outline.cuerun.OutlineLauncher(opencue.build_outline(spec, cores=4)))
    assert "<cores>4.0</cores>" in booked and "<service>ofx_dipmatte</service>" in booked
    default = outline.backend.cue.serialize(outline.cuerun.OutlineLauncher(opencue.build_outline(spec)))
    assert "<cores>" not in default


@pytest.fixture(scope="module")
def still_shot(tmp_path_factory):
    """A locked-off shot (a hair subject moving over a background that stays), 4 frames,
    and `matte --stack-plate` on it in one process: what the three-step job must give."""
    from test_shot import write_moving_shot

    folder = tmp_path_factory.mktemp("still_shot")
    plate, trimap, _, _ = write_moving_shot(folder / "in")
    reference = folder / "one_process"
    assert main(["matte", plate, trimap, "-o", str(reference), "--stack-plate", "--quiet"]) == 0
    return plate, trimap, reference


@pytest.mark.parametrize("fmt", ["openjd", "opencue"])
def test_stack_plate_jobs_run_three_steps_like_matte_stack_plate(still_shot, tmp_path, capsys, fmt):
    plate, trimap, reference = still_shot
    out = tmp_path / "out"
    assert farm(plate, trimap, "-o", str(out), "--chunk", "2", "--format", fmt, "--stack-plate", "--json") == 0
    tasks = json.loads(capsys.readouterr().out)["tasks"]
    assert [t["step"] for t in tasks] == ["first_solve", "first_solve", "clean_plate", "matte", "matte"]
    assert "--strict" in tasks[2]["command"] and "--clean-plate" in tasks[3]["command"]
    if fmt == "openjd":
        template = out / ".farm" / "job.openjd.yaml"
        check = subprocess.run([sys.executable, "-m", "openjd", "check", str(template)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        run = subprocess.run([sys.executable, "-m", "openjd", "run", str(template), "--step", "Matte",
                              "--run-dependencies"], capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    else:  # pyoutline's local backend, a step at a time (it ignores layer dependencies)
        run = subprocess.run([sys.executable, "-m", "ofx_dipmatte", "farm", plate, trimap, "-o", str(out), "--chunk",
                              "2", "--format", fmt, "--stack-plate", "--run-local"],
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (out / ".farm" / "stacked_plate.tif").is_file()  # 8-bit plates: a 16-bit TIFF plate
    for f in range(1, 5):
        for kind in ("alpha", "fg"):
            assert np.array_equal(read_image(out / f"plate.{kind}.{f:04d}.exr"),
                                  read_image(reference / f"plate.{kind}.{f:04d}.exr")), (kind, f)
    capsys.readouterr()
    assert main(["farm-report", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["done"] == 4


def test_a_stack_plate_job_stops_when_the_background_moves(tmp_path, capsys):
    from test_shot import write_moving_shot

    plate, trimap, _, _ = write_moving_shot(tmp_path / "in", frames=3, pan=5)
    out = tmp_path / "out"
    assert farm(plate, trimap, "-o", str(out), "--chunk", "3", "--format", "openjd", "--stack-plate") == 0
    run = subprocess.run([sys.executable, "-m", "openjd", "run", str(out / ".farm" / "job.openjd.yaml"),
                          "--step", "Matte", "--run-dependencies"], capture_output=True, text=True, timeout=600)
    assert run.returncode != 0 and "the background differs between frames" in run.stdout + run.stderr
    assert not (out / ".farm" / "stacked_plate.tif").exists() and not list(out.glob("plate.alpha.*.exr"))
    code = farm(plate, trimap, "-o", str(out), "--format", "openjd", "--stack-plate", "--clean-plate", plate)
    assert code == 2 and "leave out --clean-plate" in capsys.readouterr().err
