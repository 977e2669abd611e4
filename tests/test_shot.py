"""Shots from the command line: frame patterns, warm start, resume, preroll, bad input,
and the --json report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import ofx_dipmatte
from ofx_dipmatte.cli import main
from ofx_dipmatte.io import FramePattern, ImageFile, parse_frames, read_image_file, write_image
from ofx_dipmatte.shot import ShotJob, ShotOutputs

from conftest import make_case, make_hair_case

FAST = ["--preset", "draft", "--max-iterations", "6"]


def write_shot(folder: Path, frames, size: int = 32, half: bool = True,
               locked_off: bool = False) -> tuple[str, str]:
    """plate.####.exr (half, data window at (10, 20), pixel aspect 2) and trimap.####.png;
    another scene every frame, or the same one with a grain of its own (``locked_off``: a
    camera's frames are never the same pixels; a picture repeated is a held frame)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in frames:
        image, trimap, *_ = make_case(size, band=3, seed=0 if locked_off else f)
        if locked_off:
            image = np.clip(image + np.random.default_rng(f).normal(0.0, 0.002, image.shape), 0.0, 1.0)
        like = ImageFile(pixels=image, path=folder, stored_type="half" if half else "float", origin=(10, 20),
                         display_window=(0, 0, size + 20, size + 40), pixel_aspect=2.0)
        write_image(folder / f"plate.{f:04d}.exr", np.dstack([image, np.ones_like(trimap)]),
                    channel_names=["R", "G", "B", "A"], like=like)
        write_image(folder / f"trimap.{f:04d}.png", trimap)
    return str(folder / "plate.####.exr"), str(folder / "trimap.####.png")


def slow_shot_command(plate: str, trimap: str, out: Path) -> list:
    """The CLI on a shot, every frame running to its 40-step cap (so it can be stopped mid-shot)."""
    return [sys.executable, "-m", "ofx_dipmatte", "matte", plate, trimap, "-o", str(out),
            "--preset", "draft", "--max-iterations", "40", "--loss-threshold", "1e-9", "--json"]


def start(cmd: list) -> subprocess.Popen:
    """The CLI in a subprocess with SIGINT at its default (as from a terminal)."""
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(proc: subprocess.Popen, path: Path, seconds: float = 300) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise AssertionError(f"{path} never appeared: {proc.communicate()}")
        time.sleep(0.02)


def metadata(path: str) -> dict:
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(path)
    try:
        return {a.name: a.value for a in inp.spec().extra_attribs}
    finally:
        inp.close()


def run_json(capsys, *args) -> tuple[int, dict]:
    code = main([*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


# -- patterns ------------------------------------------------------------------

@pytest.mark.parametrize("text", ["plate.####.exr", "plate.%04d.exr", "plate.$F4.exr"])
def test_frame_pattern_styles_agree(text):
    p = FramePattern(text)
    assert p.is_sequence and p.padding == 4 and p.stem == "plate"
    assert p.path(1001) == Path("plate.1001.exr") and p.path(7) == Path("plate.0007.exr")


def test_frame_pattern_unpadded_negative_still_and_on_disk(tmp_path):
    assert FramePattern("a.%d.png").path(12) == Path("a.12.png")
    assert FramePattern("a.$F.png").path(-3) == Path("a.-3.png")
    assert FramePattern("a.###.png").path(-3) == Path("a.-003.png")
    still = FramePattern("dir/still.exr")
    assert not still.is_sequence and still.path(5) == Path("dir/still.exr") and still.stem == "still"
    for f in (1001, 1003, 998):
        (tmp_path / f"p.{f:04d}.exr").write_bytes(b"")
    (tmp_path / "p.12.exr").write_bytes(b"")  # too few digits for #### padding
    (tmp_path / "other.1002.exr").write_bytes(b"")
    assert FramePattern(str(tmp_path / "p.####.exr")).frames_on_disk() == [998, 1001, 1003]
    with pytest.raises(ValueError, match="more than one"):
        FramePattern("p.####.%04d.exr")


def test_parse_frames():
    assert parse_frames("1001-1004") == [1001, 1002, 1003, 1004]
    assert parse_frames("1,3, 5-9x2") == [1, 3, 5, 7, 9]
    assert parse_frames("-2-1") == [-2, -1, 0, 1]
    for bad in ("10-1", "a-b", "1-5x0", ""):
        with pytest.raises(ValueError, match="--frames"):
            parse_frames(bad)


# -- a shot end to end -----------------------------------------------------------

def test_a_three_frame_exr_shot_end_to_end(tmp_path, capsys):
    plate, trimap = write_shot(tmp_path / "in", [1, 2, 3])
    out = tmp_path / "out"
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(out), *FAST)
    assert code == 0, report
    assert report["status"] == "ok" and report["frames_written"] == 3
    frames = report["frames"]
    assert [f["frame"] for f in frames] == [1, 2, 3]
    assert frames[0]["warm_start_from"] is None
    assert [f["warm_start_from"] for f in frames[1:]] == [1, 2]  # warm start used
    for f in frames:
        alpha = read_image_file(f["outputs"]["alpha"])
        fg = read_image_file(f["outputs"]["fg"])
        assert alpha.channel_names == ("A",) and fg.channel_names == ("R", "G", "B", "A")
        assert alpha.pixels.shape == (32, 32, 1) and fg.pixels.shape == (32, 32, 4)
        assert alpha.stored_type == "half" and fg.stored_type == "half"  # as the plate
        assert alpha.origin == (10, 20) and alpha.display_window == (0, 0, 52, 72)  # windows kept
        assert fg.pixel_aspect == 2.0
        assert 0 <= alpha.pixels.min() and alpha.pixels.max() <= 1
        assert f["iterations"] > 0 and f["seconds"] > 0 and f["final_loss"] > 0
        # What made the frame, in its header: the release, the preset as given, the seed.
        header = metadata(f["outputs"]["alpha"])
        assert header["Software"] == f"ofx_dipmatte {ofx_dipmatte.__version__}"
        assert header["ofx_dipmatte:preset"] == "draft" and header["ofx_dipmatte:seed"] == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"plate.alpha.{f:04d}.exr" for f in (1, 2, 3)] + [f"plate.fg.{f:04d}.exr" for f in (1, 2, 3)]
        + [".ofx_dipmatte_cache"])


def test_a_held_frame_gets_the_matte_of_the_frame_it_repeats(tmp_path, capsys):
    """A plate retimed by repeating frames (24 to 25 fps), or a freeze frame: a frame
    whose pixels are those of the frame before gets its matte again, unsolved; solved
    again it met a carried background that held its own first solve, and its matte
    changed between the two frames."""
    import shutil

    plate, trimap = write_shot(tmp_path / "in", [1, 3])
    for kind, ext in (("plate", "exr"), ("trimap", "png")):
        shutil.copy(tmp_path / "in" / f"{kind}.0001.{ext}", tmp_path / "in" / f"{kind}.0002.{ext}")
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "out"), "--preset", "balanced")
    assert code == 0, report
    assert [(f["frame"], f["status"], f["repeat_of"]) for f in report["frames"]] == [
        (1, "solved", None), (2, "solved", 1), (3, "solved", None)]
    held, first = (read_image_file(report["frames"][i]["outputs"]["alpha"]).pixels for i in (1, 0))
    np.testing.assert_array_equal(held, first)


def test_a_run_resumed_within_a_held_picture_writes_the_matte_written_before(tmp_path, capsys):
    """Frames 2–4 show one picture; a run stopped after frame 2 and resumed gives frames
    3 and 4 frame 2's files (solved again, the first frame after the stop got a matte of
    its own: a pop in the hold), and solves frame 5 as usual."""
    import shutil

    plate, trimap = write_shot(tmp_path / "in", [1, 2, 5])
    for f in (3, 4):
        for kind, ext in (("plate", "exr"), ("trimap", "png")):
            shutil.copy(tmp_path / "in" / f"{kind}.0002.{ext}", tmp_path / "in" / f"{kind}.{f:04d}.{ext}")
    out = tmp_path / "out"
    code, whole = run_json(capsys, "matte", plate, trimap, "-o", str(out), "--preset", "balanced")
    assert code == 0, whole
    for f in (3, 4, 5):  # the run stopped after frame 2
        for kind in ("alpha", "fg"):
            (out / f"plate.{kind}.{f:04d}.exr").unlink()
    written = {kind: (out / f"plate.{kind}.0002.exr").read_bytes() for kind in ("alpha", "fg")}
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(out), "--preset", "balanced")
    assert code == 0, report
    assert [(f["frame"], f["status"], f["repeat_of"]) for f in report["frames"]] == [
        (1, "skipped", None), (2, "skipped", None), (3, "solved", 2), (4, "solved", 2), (5, "solved", None)]
    assert [f["repeat_of"] for f in whole["frames"]] == [None, None, 2, 2, None]
    for f in (3, 4):
        assert all((out / f"plate.{kind}.{f:04d}.exr").read_bytes() == written[kind] for kind in written)
    np.testing.assert_array_equal(read_image_file(out / "plate.alpha.0005.exr").pixels,
                                  read_image_file(whole["frames"][4]["outputs"]["alpha"]).pixels)
    for f in (3, 4, 5):  # stopped again, frame 2 removed since: frame 3 follows frame 1 and is solved
        for kind in ("alpha", "fg"):
            (out / f"plate.{kind}.{f:04d}.exr").unlink()
    for kind, ext in (("plate", "exr"), ("trimap", "png")):
        (tmp_path / "in" / f"{kind}.0002.{ext}").unlink()
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(out), "--preset", "balanced")
    assert code == 0, report
    assert [(f["frame"], f["status"], f["repeat_of"]) for f in report["frames"]] == [
        (1, "skipped", None), (3, "solved", None), (4, "solved", 3), (5, "solved", None)]


def test_a_chunk_that_starts_inside_a_held_picture_prerolls_from_the_holds_start(tmp_path, capsys, monkeypatch):
    """Frames 2–5 of a locked-off shot show one picture; a farm chunk of frames 4–6 with a
    preroll of 1 prerolls from frame 1 (the frame before the hold's start), as the
    continuous run solved the picture: frames 4–6 are the continuous run's to the bit.
    Prerolled from its own start (frame 3 alone), the picture got a matte of its own: a
    jump within the hold."""
    import shutil

    from ofx_dipmatte import shot

    plate, trimap = write_shot(tmp_path / "in", [1, 2, 3, 4, 5, 6], locked_off=True)
    for f in (3, 4, 5):
        for kind, ext in (("plate", "exr"), ("trimap", "png")):
            shutil.copy(tmp_path / "in" / f"{kind}.0002.{ext}", tmp_path / "in" / f"{kind}.{f:04d}.{ext}")
    code, whole = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "whole"))
    assert code == 0, whole
    chunk = ["--frames", "1-6", "--chunk-start", "4", "--chunk-size", "3", "--preroll", "1"]

    def alpha(folder: str, f: int) -> np.ndarray:
        return read_image_file(tmp_path / folder / f"plate.alpha.{f:04d}.exr").pixels

    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "chunk"), *chunk)
    assert code == 0, report
    assert [(f["frame"], f["status"], f["repeat_of"]) for f in report["frames"]] == [
        (1, "preroll", None), (2, "preroll", None), (3, "preroll", 2), (4, "solved", 2), (5, "solved", 2),
        (6, "solved", None)]
    for f in (4, 5, 6):
        np.testing.assert_array_equal(alpha("chunk", f), alpha("whole", f))
    monkeypatch.setattr(shot, "HOLD_SCAN", 0)  # the chunk's own preroll alone, as before
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "before"), *chunk)
    assert [(f["frame"], f["status"]) for f in report["frames"]][0] == (3, "preroll")
    assert np.abs(alpha("before", 4) - alpha("whole", 4)).max() > 0.01


def test_explicit_outputs_frames_and_formats(tmp_path, capsys):
    plate, trimap = write_shot(tmp_path / "in", [1, 2, 3, 4], half=False)
    out = tmp_path / "o"
    code, report = run_json(capsys, "matte", plate, trimap, "--frames", "2-3", *FAST,
                            "--alpha", str(out / "a.%04d.png"), "--bg", str(out / "bg.$F4.tif"),
                            "--rgba", str(out / "rgba.####.exr"))
    assert code == 0, report
    assert [f["frame"] for f in report["frames"]] == [2, 3]
    a = read_image_file(out / "a.0002.png")
    assert a.pixels.dtype == np.uint16  # 16-bit PNG from a float plate
    assert read_image_file(out / "bg.0003.tif").channel_names == ("R", "G", "B")
    rgba = read_image_file(out / "rgba.0002.exr")
    assert rgba.stored_type == "float" and rgba.channel_names == ("R", "G", "B", "A")
    # premultiplied: colour never exceeds alpha where the plate is within 0-1
    assert np.all(rgba.pixels[..., :3] <= rgba.pixels[..., 3:] + 1e-5)
    assert not (out / "a.0001.png").exists() and not (out / "a.0004.png").exists()


def test_png_plates_and_outputs_keep_their_stored_colour_whatever_their_alpha(tmp_path, capsys):
    """A PNG plate whose alpha is not the picture's (here the trimap, as MLT users keep it)
    is matted on its stored colour, and a PNG foreground holds the straight colour as is:
    OpenImageIO's default would multiply the plate by that alpha on reading (black where
    it is 0) and divide the foreground by alpha on writing."""
    image, trimap, *_ = make_hair_case(48)
    image8 = np.round(image * 255).astype(np.uint8)
    write_image(tmp_path / "opaque.png", image8)
    write_image(tmp_path / "with_alpha.png", np.dstack([image8, np.round(trimap * 255).astype(np.uint8)]),
                channel_names=list("RGBA"), straight=True)
    write_image(tmp_path / "trimap.png", trimap)
    alphas = {}
    for name in ("opaque", "with_alpha"):
        code, report = run_json(capsys, "matte", str(tmp_path / f"{name}.png"), str(tmp_path / "trimap.png"),
                                "--alpha", str(tmp_path / f"{name}.alpha.exr"), "--fg", str(tmp_path / f"{name}.fg.png"))
        assert code == 0, report
        alphas[name] = read_image_file(tmp_path / f"{name}.alpha.exr").pixels[..., 0]
    np.testing.assert_array_equal(alphas["with_alpha"], alphas["opaque"])
    fg = read_image_file(tmp_path / "opaque.fg.png").pixels.astype(np.float32) / 255
    expected = ofx_dipmatte.matte(image8, trimap).foreground
    assert np.abs(fg[..., :3] - expected).max() <= 0.5 / 255 + 1e-6
    np.testing.assert_allclose(fg[..., 3], alphas["opaque"], atol=0.5 / 255 + 1e-6)


def test_preroll_solves_earlier_frames_without_writing_them(tmp_path, capsys):
    plate, trimap = write_shot(tmp_path / "in", [1, 2, 3, 4])
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "out"), "--frames", "3-4",
                            "--preroll", "2", *FAST)
    assert code == 0, report
    assert [(f["frame"], f["status"]) for f in report["frames"]] == [
        (1, "preroll"), (2, "preroll"), (3, "solved"), (4, "solved")]
    assert report["frames"][2]["warm_start_from"] == 2
    assert report["frames"][0]["outputs"] == {}
    assert sorted(p.name for p in (tmp_path / "out").glob("*.exr")) == [
        "plate.alpha.0003.exr", "plate.alpha.0004.exr", "plate.fg.0003.exr", "plate.fg.0004.exr"]


def test_every_frame_read_gives_its_background_to_the_others(tmp_path, capsys):
    plate, trimap = write_shot(tmp_path / "in", [1, 2, 3, 4], locked_off=True)
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "out"), "--frames", "3-4",
                            "--preroll", "2", "--preset", "balanced")
    assert code == 0, report
    # Frames 1-4 shown before the first solve. The subject stays, so their trimaps show
    # nothing behind the first frame's band (none carried); the next frames get the band
    # pixels it found bare, on top of all four frames' background.
    assert [(f["status"], f["background_frames"]) for f in report["frames"]] == [
        ("preroll", 0), ("preroll", 4), ("solved", 4), ("solved", 4)]
    assert not any(f["warnings"] for f in report["frames"])
    assert main(["matte", plate, trimap, "-o", str(tmp_path / "lines"), "--frames", "3-4", "--preroll", "2"]) == 0
    assert "reading 3 frames' known background" in capsys.readouterr().out  # 2, 3, 4 before preroll frame 1
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "alone"), "--frames", "3-4",
                            "--preset", "balanced", "--independent-frames")
    assert code == 0 and [f["background_frames"] for f in report["frames"]] == [0, 0]
    # A farm task is shown the frames beyond its chunk too, as a continuous run is.
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "chunk"), "--frames", "1-4",
                            "--chunk-start", "3", "--chunk-size", "2", "--preset", "balanced")
    assert code == 0 and [(f["frame"], f["background_frames"]) for f in report["frames"]] == [(3, 0), (4, 4)]


def test_each_frame_is_shown_the_frames_within_background_frames(tmp_path, monkeypatch):
    """--background-frames N: before each solve the session is shown the shot's frames
    up to N either side, nearest first, each read once; a farm chunk reads its frames
    and N beyond each end, not the whole shot. 'all' shows the whole shot first."""
    from ofx_dipmatte.shot import ShotJob, ShotOutputs

    plate, trimap, _, _ = write_moving_shot(tmp_path / "in", frames=6)
    reads = []
    real = ShotJob.read_frame
    monkeypatch.setattr(ShotJob, "read_frame", lambda job, frame: reads.append(frame) or real(job, frame))

    class Progress:  # a Reporter that keeps what it is told about the frames read
        calls = []
        frame_start = iteration = frame_done = lambda self, *args: None

        def background_read(self, done, total):
            self.calls.append((done, total))

    def run(out, frames, **options):
        reads.clear()
        Progress.calls = []
        job = ShotJob(plate=FramePattern(plate), guide=FramePattern(trimap), frames=frames,
                      shot_frames=[1, 2, 3, 4, 5, 6], outputs=ShotOutputs.defaults(tmp_path / out, FramePattern(plate)),
                      **options)
        return job.run(Progress())

    # A farm task with frames 3-4 of 1-6: shown 2 and 4, solves 3; shown 5, solves 4.
    report = run("chunk", [3, 4], background_frames=1)
    assert reads == [2, 4, 3, 5, 4]
    assert [f.background_frames > 0 for f in report.frames] == [True, True]
    assert Progress.calls == [(0, 2), (1, 2), (2, 2)]  # reported when more than one is read at once
    run("all", [3, 4], background_frames=None)
    assert reads == [2, 4, 1, 5, 6, 3, 4]  # the whole shot before the first solve, nearest first
    assert Progress.calls == [(done, 5) for done in range(6)]
    run("none", [3, 4], background_frames=0)
    assert reads == [3, 4]


def test_a_shot_is_solved_as_the_plugin_renders_it_in_order(tmp_path):
    """The shot CLI's windowed showing is the plugin's (*Background frames*, frames
    rendered in order): the same engine calls, so the same matte."""
    from conftest import moving_hair_shot
    from ofx_dipmatte import ClipSession
    from ofx_dipmatte.shot import ShotJob, ShotOutputs

    images, trimaps, _, _ = moving_hair_shot(frames=5)
    folder = tmp_path / "in"
    folder.mkdir()
    for t, (image, trimap) in enumerate(zip(images, trimaps)):
        write_image(folder / f"plate.{t:04d}.exr", image)  # float: the pixels the session gets
        write_image(folder / f"trimap.{t:04d}.exr", trimap)
    plate = FramePattern(str(folder / "plate.####.exr"))
    alpha = FramePattern(str(tmp_path / "out" / "alpha.####.exr"))
    ShotJob(plate=plate, guide=FramePattern(str(folder / "trimap.####.exr")), frames=list(range(5)),
            outputs=ShotOutputs(alpha=alpha), background_frames=1).run()
    plugin = ClipSession()  # the plugin's session: frames rendered 0, 1, ..., each after its neighbours
    for t in range(5):
        for near in (t - 1, t + 1):
            if 0 <= near < 5:
                plugin.show_background(near, images[near], trimaps[near])
        expected = plugin.matte(t, images[t], trimaps[t]).alpha
        np.testing.assert_allclose(read_image_file(alpha.path(t)).pixels[..., 0], expected, atol=1e-3)


def test_rough_matte_and_the_trimap_command_on_a_sequence(tmp_path, capsys):
    plate, _ = write_shot(tmp_path / "in", [1, 2])
    for f in (1, 2):
        _, _, alpha, *_ = make_case(32, seed=f)
        write_image(tmp_path / "in" / f"mask.{f:04d}.png", (alpha > 0.5).astype(np.float32))
    mask = str(tmp_path / "in" / "mask.####.png")
    assert main(["trimap", mask, "-o", str(tmp_path / "tri.####.png"), "--band", "3"]) == 0
    tri = read_image_file(tmp_path / "tri.0002.png").pixels[..., 0]
    assert set(np.unique(tri)) == {0, 128, 255}
    capsys.readouterr()
    code, report = run_json(capsys, "matte", plate, "--rough-matte", mask, "--band", "3", "-o",
                            str(tmp_path / "out"), *FAST)
    assert code == 0 and report["frames_written"] == 2


# -- resume --------------------------------------------------------------------

def test_a_killed_run_resumes_where_it_stopped(tmp_path):
    plate, trimap = write_shot(tmp_path / "in", range(1, 7), size=48)
    out = tmp_path / "out"
    cmd = slow_shot_command(plate, trimap, out)
    proc = start(cmd)
    wait_for(proc, out / "plate.fg.0002.exr")  # frames 1 and 2 finished
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in out.glob("*.exr"))
    assert not any(p.name.startswith(".") for p in out.iterdir() if p.is_file()), "a temporary file was left"
    before = {name: (out / name).read_bytes() for name in done}
    assert len(done) < 12

    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    statuses = {f["frame"]: f["status"] for f in report["frames"]}
    finished = {int(n.split(".")[2]) for n in done if n.startswith("plate.fg.")}
    assert all(statuses[f] == "skipped" for f in finished)
    resumed = [f for f in report["frames"] if f["status"] == "solved"]
    assert resumed and resumed[0]["warm_start_from"] == resumed[0]["frame"] - 1  # from the checkpoint
    assert all((out / name).read_bytes() == data for name, data in before.items())  # untouched
    assert len(list(out.glob("*.exr"))) == 12


def test_outputs_are_not_overwritten_unless_asked(tmp_path, capsys):
    plate, trimap = write_shot(tmp_path / "in", [1, 2])
    out = tmp_path / "out"
    assert main(["matte", plate, trimap, "-o", str(out), *FAST, "--quiet"]) == 0
    stamp = (out / "plate.alpha.0001.exr").stat().st_mtime_ns
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(out), *FAST)
    assert code == 0 and report["frames_skipped"] == 2
    assert (out / "plate.alpha.0001.exr").stat().st_mtime_ns == stamp
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(out), *FAST, "--overwrite")
    assert code == 0 and report["frames_written"] == 2


# -- bad input -------------------------------------------------------------------

def test_missing_frames_are_named_before_anything_is_solved(tmp_path, capsys):
    plate, trimap = write_shot(tmp_path / "in", [1, 2, 4])
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "out"), "--frames", "1-4", *FAST)
    assert code == 2 and report["status"] == "error"
    assert "plate.0003.exr" in report["error"] and "trimap.0003.png" in report["error"]
    assert not (tmp_path / "out").exists()


def exr_window(path: Path, full: np.ndarray, box: tuple[int, int, int, int], display: tuple[int, int]) -> None:
    """The pixels of ``full`` (a display-sized picture) inside ``box`` (x, y, w, h), written
    as an EXR whose data window is that box in a display window of ``display`` (w, h)."""
    x, y, w, h = box
    like = ImageFile(pixels=full, path=path, origin=(x, y), display_window=(0, 0, *display))
    write_image(path, full[y:y + h, x:x + w], like=like)


def test_a_trimap_is_placed_where_its_data_window_lies_in_the_frame(tmp_path, capsys):
    """An EXR plate whose data window is part of its frame (a render's bounding box): its
    trimap given at the plate's pixels (a plain PNG), at the frame's size, or as an EXR
    with a bounding box of its own gives one matte; one of another frame size is refused."""
    plate, trimap = write_shot(tmp_path / "in", [1])  # 32² pixels at (10, 20) of a 52×72 frame
    pixels = read_image_file(trimap.replace("####", "0001")).pixels[..., 0]
    frame = np.zeros((72, 52), np.float32)
    frame[20:52, 10:42] = pixels / 255.0
    write_image(tmp_path / "frame_trimap.png", frame)
    ys, xs = np.nonzero(frame)
    box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    assert box != (10, 20, 32, 32)  # the background at the plate's edges lies outside it
    exr_window(tmp_path / "bbox_trimap.exr", frame[..., None], box, (52, 72))
    alphas = []
    for given in (trimap.replace("####", "0001"), tmp_path / "frame_trimap.png", tmp_path / "bbox_trimap.exr"):
        code, report = run_json(capsys, "matte", plate.replace("####", "0001"), str(given), "-o",
                                str(tmp_path / Path(given).stem), *FAST)
        assert code == 0, report
        written = read_image_file(report["frames"][0]["outputs"]["alpha"])
        assert written.origin == (10, 20) and written.display_window == (0, 0, 52, 72)
        alphas.append(written.pixels)
    np.testing.assert_array_equal(alphas[0], alphas[1])
    np.testing.assert_array_equal(alphas[0], alphas[2])

    exr_window(tmp_path / "other.exr", np.zeros((80, 60, 1), np.float32), (10, 20, 32, 32), (60, 80))
    code, report = run_json(capsys, "matte", plate.replace("####", "0001"), str(tmp_path / "other.exr"),
                            "-o", str(tmp_path / "out"), *FAST)
    assert code == 2
    assert "32×32 at (10, 20) of a 60×80 frame" in report["error"] and "32×32 at (10, 20) of a 52×72 frame" in report["error"]


def test_a_data_window_that_moves_during_a_carried_shot_is_named(tmp_path, capsys):
    """The carried background compares frames in their arrays: a plate whose data window
    moves from frame to frame (a render's auto-crop) gets a warning that says so and what
    to do; the same plates in one window get none."""
    rng = np.random.default_rng(0)
    background = rng.random((60, 80, 3)).astype(np.float32) * 0.5
    notes = {}
    for moving in (True, False):
        folder = tmp_path / ("moving" if moving else "fixed")
        folder.mkdir()
        for i, f in enumerate((1, 2, 3)):
            full = background.copy()
            full[20:40, 30 + 3 * i:50 + 3 * i] = (0.9, 0.5, 0.3)
            trimap = np.zeros((60, 80, 1), np.float32)
            trimap[16:44, 26 + 3 * i:54 + 3 * i] = 0.5
            trimap[24:36, 34 + 3 * i:46 + 3 * i] = 1.0
            exr_window(folder / f"plate.{f:04d}.exr", full, (10 + (3 * i if moving else 0), 5, 60, 50), (80, 60))
            write_image(folder / f"trimap.{f:04d}.exr", trimap)
        code, report = run_json(capsys, "matte", str(folder / "plate.####.exr"), str(folder / "trimap.####.exr"),
                                "-o", str(folder / "out"))
        assert code == 0, report
        notes[moving] = [[w for w in frame["warnings"] if "data window moved" in w] for frame in report["frames"]]
    assert [bool(n) for n in notes[True]] == [False, True, True], notes
    assert notes[False] == [[], [], []], notes
    assert "60×50 at (13, 5) of a 80×60 frame; the frame before: 60×50 at (10, 5)" in notes[True][1][0]
    assert "one data window for the shot" in notes[True][1][0]


def test_a_clean_plate_holding_part_of_the_plate_says_where_it_holds_it(tmp_path):
    plate, trimap = write_shot(tmp_path / "in", [1])  # 32² pixels at (10, 20) of a 52×72 frame
    background = np.random.default_rng(1).random((72, 52, 3)).astype(np.float32)
    exr_window(tmp_path / "clean.exr", background, (0, 0, 30, 72), (52, 72))  # the frame's left 30 columns
    job = ShotJob(plate=FramePattern(plate), guide=FramePattern(trimap), frames=[1], shot_frames=[1],
                  outputs=ShotOutputs.defaults(tmp_path / "out", FramePattern(plate)),
                  clean_plate=FramePattern(str(tmp_path / "clean.exr")))
    image, _, _ = job.read_frame(1)
    held = job.read_clean_plate(1, image)
    assert held.shape == (32, 32, 4)
    np.testing.assert_array_equal(held[:, :20, :3], background[20:52, 10:30])  # columns 10–29 of the frame
    assert (held[:, :20, 3] == 1).all() and (held[:, 20:] == 0).all()
    exr_window(tmp_path / "whole.exr", background, (0, 0, 52, 72), (52, 72))  # the whole frame: no alpha added
    job = ShotJob(plate=FramePattern(plate), guide=FramePattern(trimap), frames=[1], shot_frames=[1],
                  outputs=ShotOutputs.defaults(tmp_path / "out", FramePattern(plate)),
                  clean_plate=FramePattern(str(tmp_path / "whole.exr")))
    np.testing.assert_array_equal(job.read_clean_plate(1, image), background[20:52, 10:42])


def test_size_mismatch_names_the_file_and_frame_and_keeps_earlier_frames(tmp_path, capsys):
    plate, trimap = write_shot(tmp_path / "in", [1, 2, 3])
    write_image(tmp_path / "in" / "trimap.0003.png", np.zeros((20, 32)), overwrite=True)
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "out"), *FAST)
    assert code == 2
    assert "trimap.0003.png (frame 3)" in report["error"] and "32×20" in report["error"]
    assert [f["frame"] for f in report["frames"]] == [1, 2] and report["frames_written"] == 2
    assert (tmp_path / "out" / "plate.alpha.0002.exr").is_file()  # nothing already written is lost


def test_unreadable_file_and_nan_pixels_are_named(tmp_path, capsys):
    plate, trimap = write_shot(tmp_path / "in", [1, 2])
    (tmp_path / "in" / "plate.0002.exr").write_bytes(b"not an image")
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "o1"), *FAST)
    assert code == 2 and "plate.0002.exr" in report["error"] and "frame 2" in report["error"]

    image, trimap_1, *_ = make_case(32, band=3)
    image[5, 5, 0] = np.nan
    write_image(tmp_path / "in" / "plate.0002.exr", image, overwrite=True)
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "o2"), *FAST)
    assert code == 2 and "plate.0002.exr (frame 2)" in report["error"] and "NaN" in report["error"]

    # A bad trimap is named by its own file, not the plate's (also when only shown for its background).
    image[5, 5, 0] = 0.5
    write_image(tmp_path / "in" / "plate.0002.exr", image, overwrite=True)
    bad = trimap_1.copy()
    bad[0, 0] = np.nan
    write_image(tmp_path / "in" / "trimap.0001.exr", trimap_1)
    write_image(tmp_path / "in" / "trimap.0002.exr", bad)
    exr_trimaps = str(tmp_path / "in" / "trimap.####.exr")
    code, report = run_json(capsys, "matte", plate, exr_trimaps, "-o", str(tmp_path / "o3"), *FAST)
    assert code == 2 and "trimap.0002.exr (frame 2): trimap:" in report["error"] and "NaN" in report["error"]


def test_a_trimap_without_unknown_pixels_is_written_as_alpha(tmp_path, capsys):
    plate, trimap = write_shot(tmp_path / "in", [1])
    known = np.zeros((32, 32), np.float32)
    known[8:24, 8:24] = 1
    write_image(tmp_path / "in" / "trimap.0001.png", known, overwrite=True)
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "out"), *FAST)
    assert code == 0 and report["frames"][0]["stop_reason"] == "no_unknown"
    alpha = read_image_file(report["frames"][0]["outputs"]["alpha"]).pixels[..., 0]
    np.testing.assert_array_equal(alpha, known)


def test_a_soft_matte_given_as_a_trimap_is_solved_with_a_warning_that_says_what_to_give(tmp_path, capsys):
    image, _, alpha = make_hair_case(48)[:3]
    write_image(tmp_path / "plate.png", image)
    write_image(tmp_path / "matte.png", alpha)
    assert main(["matte", str(tmp_path / "plate.png"), str(tmp_path / "matte.png"), "-o", str(tmp_path / "out"),
                 *FAST]) == 0
    printed = capsys.readouterr().out
    assert "warning: trimap:" in printed and "--rough-matte" in printed
    code, report = run_json(capsys, "matte", str(tmp_path / "plate.png"), str(tmp_path / "matte.png"), "-o",
                            str(tmp_path / "again"), *FAST)
    assert code == 0 and any(w.startswith("trimap:") for w in report["frames"][0]["warnings"])


def test_a_trimap_or_rough_matte_held_in_alpha_under_flat_colour_is_read_from_alpha(tmp_path):
    """A roto written as RGBA with black colour: the matte is its A channel."""
    image, trimap, *_ = make_hair_case(48)
    write_image(tmp_path / "plate.png", image)
    write_image(tmp_path / "rgba_trimap.png", np.dstack([np.zeros_like(image), trimap]), channel_names=list("RGBA"),
                straight=True)
    write_image(tmp_path / "plain_trimap.png", trimap)
    from ofx_dipmatte.shot import read_frame

    plate = FramePattern(str(tmp_path / "plate.png"))
    _, _, in_alpha = read_frame(plate, FramePattern(str(tmp_path / "rgba_trimap.png")), 0)
    _, _, plain = read_frame(plate, FramePattern(str(tmp_path / "plain_trimap.png")), 0)
    np.testing.assert_array_equal(in_alpha, plain)
    assert (ofx_dipmatte.snap_trimap(in_alpha) == 0.5).any()
    # colour that carries the trimap wins over an alpha that is something else
    write_image(tmp_path / "rgb_and_alpha.png", np.dstack([np.repeat(trimap[..., None], 3, 2), 1 - trimap]),
                channel_names=list("RGBA"), straight=True)
    _, _, coloured = read_frame(plate, FramePattern(str(tmp_path / "rgb_and_alpha.png")), 0)
    np.testing.assert_array_equal(coloured, plain)


def test_bad_usage_exits_2(tmp_path, capsys):
    plate, trimap = write_shot(tmp_path / "in", [1, 2])
    assert main(["matte", plate, trimap]) == 2  # nowhere to write
    assert "-o DIR" in capsys.readouterr().err
    assert main(["matte", plate, trimap, "--alpha", str(tmp_path / "still.exr")]) == 2
    assert "frame token" in capsys.readouterr().err
    assert main(["matte", plate, trimap, "--rough-matte", trimap, "-o", str(tmp_path)]) == 2
    assert main(["matte", str(tmp_path / "none.####.exr"), trimap, "-o", str(tmp_path)]) == 2
    assert "no files match" in capsys.readouterr().err
    assert main(["matte", plate, trimap, "-o", str(tmp_path / "j"), "--fg", str(tmp_path / "fg.####.jpg"),
                 *FAST]) == 2
    assert "JPEG" in capsys.readouterr().err


def test_json_report_schema(tmp_path, capsys):
    plate, trimap = write_shot(tmp_path / "in", [1, 2])
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "out"), *FAST)
    assert code == 0
    assert set(report) == {"version", "ofx_dipmatte", "status", "error", "exit_code", "frames", "seconds", "cache",
                           "frames_written", "frames_skipped", "stacked_plate"}
    assert report["stacked_plate"] is None  # no --stack-plate
    assert report["version"] == 1 and report["error"] is None and report["exit_code"] == 0
    assert report["ofx_dipmatte"] == ofx_dipmatte.__version__  # which release made these frames
    for f in report["frames"]:
        assert set(f) == {"frame", "status", "iterations", "seconds", "final_loss", "stop_reason",
                          "warm_start_from", "chroma_restored", "background_frames", "repeat_of", "outputs",
                          "warnings"}
        assert f["chroma_restored"] is None  # float EXR frames with their own chroma
        assert f["repeat_of"] is None  # every frame its own pixels
        assert f["background_frames"] == 0  # draft carries no background
        assert isinstance(f["frame"], int) and isinstance(f["iterations"], int)
        assert isinstance(f["seconds"], float) and isinstance(f["final_loss"], float)
        assert set(f["outputs"]) == {"alpha", "fg"} and all(Path(p).is_file() for p in f["outputs"].values())


@pytest.mark.parametrize("ext, dtype", [(".png", np.uint8), (".tif", np.uint16), (".dpx", np.uint16),
                                        (".jpg", np.uint8)])
def test_plates_in_integer_formats(tmp_path, capsys, ext, dtype):
    image, trimap, *_ = make_case(32, band=3)
    write_image(tmp_path / f"plate{ext}", image)
    write_image(tmp_path / "trimap.png", trimap)
    assert read_image_file(tmp_path / f"plate{ext}").pixels.dtype == dtype
    code, report = run_json(capsys, "matte", str(tmp_path / f"plate{ext}"), str(tmp_path / "trimap.png"),
                            "-o", str(tmp_path / "out"), *FAST)
    assert code == 0, report
    fg = read_image_file(report["frames"][0]["outputs"]["fg"])
    assert fg.stored_type == "float" and 0 <= fg.pixels.min() and fg.pixels.max() <= 1  # display-referred 0-1
    tolerance = 0.1 if ext == ".jpg" else 1.0 / np.iinfo(dtype).max
    known = trimap == 1
    np.testing.assert_allclose(fg.pixels[..., :3][known], image[known], atol=tolerance)


def test_a_scene_linear_plate_keeps_its_range_in_the_foreground(tmp_path, capsys):
    image, trimap, *_ = make_case(32, band=3)
    bright = image * 4.0  # highlights well above 1
    write_image(tmp_path / "plate.exr", bright)
    write_image(tmp_path / "trimap.png", trimap)
    code, report = run_json(capsys, "matte", str(tmp_path / "plate.exr"), str(tmp_path / "trimap.png"),
                            "-o", str(tmp_path / "out"), *FAST)
    assert code == 0
    fg = read_image_file(report["frames"][0]["outputs"]["fg"]).pixels
    known = trimap == 1
    np.testing.assert_allclose(fg[..., :3][known], bright[known], rtol=1e-5)  # exact where known
    assert fg[..., :3].max() > 1.5


def test_ctrl_c_stops_with_status_1_and_no_partial_files(tmp_path):
    plate, trimap = write_shot(tmp_path / "in", range(1, 5), size=48)
    out = tmp_path / "out"
    proc = start(slow_shot_command(plate, trimap, out))
    wait_for(proc, out / "plate.fg.0001.exr")
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stderr
    report = json.loads(stdout)
    assert report["status"] == "interrupted" and "resume" in report["error"]
    assert not any(p.name.startswith(".") for p in out.iterdir() if p.is_file())


# -- clean plate ---------------------------------------------------------------

def test_a_clean_plate_for_the_shot_brings_alpha_closer_to_the_truth(tmp_path, capsys):
    image, trimap, truth, _, bg = make_hair_case(size=64, seed=0, colours=True)
    folder = tmp_path / "in"
    folder.mkdir()
    for f in (1, 2):
        write_image(folder / f"plate.{f:04d}.exr", image)
        write_image(folder / f"trimap.{f:04d}.png", trimap)
    grain = np.random.default_rng(0).normal(0, 0.01, bg.shape)
    write_image(folder / "clean.exr", np.clip(0.9 * bg + grain, 0, 1).astype(np.float32))  # another exposure
    errors = {}
    for name, extra in (("without", []), ("with", ["--clean-plate", str(folder / "clean.exr")])):
        code, report = run_json(capsys, "matte", str(folder / "plate.####.exr"), str(folder / "trimap.####.png"),
                                "-o", str(tmp_path / name), *extra)
        assert code == 0, report
        assert all(not f["warnings"] for f in report["frames"])
        alphas = [read_image_file(f["outputs"]["alpha"]).pixels[..., 0] for f in report["frames"]]
        errors[name] = [float(np.abs(a - truth)[trimap == 0.5].sum()) for a in alphas]
    assert all(w < 0.7 * wo for w, wo in zip(errors["with"], errors["without"])), errors


def test_clean_plate_files_are_checked_like_the_plates(tmp_path, capsys):
    plate, trimap = write_shot(tmp_path / "in", [1, 2])
    write_image(tmp_path / "in" / "clean.0001.exr", np.zeros((32, 32, 3), np.float32))
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "out"),
                            "--clean-plate", str(tmp_path / "in" / "clean.####.exr"))
    assert code == 2 and "clean.0002.exr" in report["error"]  # missing: named before solving
    write_image(tmp_path / "in" / "small.exr", np.zeros((20, 32, 3), np.float32))
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "out"),
                            "--clean-plate", str(tmp_path / "in" / "small.exr"))
    assert code == 2 and "small.exr (frame 1)" in report["error"] and "32×20" in report["error"]
    still = str(tmp_path / "in" / "plate.0001.exr")  # a still plate with a sequence of clean plates
    code = main(["matte", still, str(tmp_path / "in" / "trimap.0001.png"), "-o", str(tmp_path / "still"),
                 "--clean-plate", str(tmp_path / "in" / "clean.####.exr")])
    assert code == 2 and "a clean plate sequence for a still plate" in capsys.readouterr().err


def test_the_clean_plate_command_stacks_a_shot_for_matte(tmp_path, capsys):
    plate, trimap = write_shot(tmp_path / "in", [1, 2, 3])  # half EXR plates
    code = main(["clean-plate", plate, trimap, "-o", str(tmp_path / "clean.png")])
    assert code == 2 and "as EXR" in capsys.readouterr().err  # float plates: a float clean plate
    code, summary = run_json(capsys, "clean-plate", plate, trimap, "-o", str(tmp_path / "clean.exr"))
    assert code == 0 and summary["frames"] == 3 and summary["warning"] is None
    assert 0.5 < summary["coverage"] < 1 and summary["spread"] < 0.05
    stacked = read_image_file(tmp_path / "clean.exr")
    assert stacked.channel_names == ("R", "G", "B", "A") and set(np.unique(stacked.pixels[..., 3])) <= {0.0, 1.0}
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "out"),
                            "--clean-plate", str(tmp_path / "clean.exr"))
    assert code == 0 and report["frames_written"] == 3, report


def test_a_first_matte_run_widens_the_stacked_plate(tmp_path, capsys):
    from test_clean_plate import moving_hair_shot

    images, trimaps, alphas, _ = moving_hair_shot(frames=3)
    folder = tmp_path / "in"
    folder.mkdir()
    for f, (image, trimap) in enumerate(zip(images, trimaps), start=1):
        write_image(folder / f"plate.{f:04d}.png", image)  # 8-bit, as many shots arrive
        write_image(folder / f"trimap.{f:04d}.png", trimap)
    plate, trimap = str(folder / "plate.####.png"), str(folder / "trimap.####.png")
    code, first = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "pass1"))
    assert code == 0, first
    code, known = run_json(capsys, "clean-plate", plate, trimap, "-o", str(tmp_path / "known.png"))
    assert code == 0, known
    alpha, fg = str(tmp_path / "pass1" / "plate.alpha.####.exr"), str(tmp_path / "pass1" / "plate.fg.####.exr")
    code, solved = run_json(capsys, "clean-plate", plate, trimap, "--alpha", alpha, "--fg", fg,
                            "-o", str(tmp_path / "solved.png"))
    assert code == 0, solved
    assert solved["coverage"] > known["coverage"] + 0.05 and solved["warning"] is None
    stacked = read_image_file(tmp_path / "solved.png")
    assert stacked.channel_names == ("R", "G", "B", "A")
    errors = {}
    for name in ("known", "solved"):
        code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / name),
                                "--clean-plate", str(tmp_path / f"{name}.png"))
        assert code == 0, report
        errors[name] = sum(float(np.abs(read_image_file(f["outputs"]["alpha"]).pixels[..., 0] - a)[t == 0.5].sum())
                           for f, a, t in zip(report["frames"], alphas, trimaps))
    assert errors["solved"] < 0.9 * errors["known"], errors
    code = main(["clean-plate", plate, trimap, "--alpha", alpha, "-o", str(tmp_path / "x.png")])
    assert code == 2 and "--alpha and --fg go together" in capsys.readouterr().err
    code = main(["clean-plate", plate, trimap, "--alpha", str(tmp_path / "nope.####.exr"), "--fg", fg,
                 "-o", str(tmp_path / "x.png")])
    assert code == 2 and "nope.0001.exr (frame 1)" in capsys.readouterr().err


def write_moving_shot(folder: Path, frames: int = 4, pan: int = 0) -> tuple[str, str, list, list]:
    """8-bit PNG plates of a hair subject moving over a background (``pan`` px a frame:
    the camera pans; 0: locked off), trimaps, and the true alphas."""
    from test_clean_plate import moving_hair_shot

    images, trimaps, alphas, _ = moving_hair_shot(frames=frames)
    folder.mkdir(parents=True)
    for f, (image, trimap) in enumerate(zip(images, trimaps), start=1):
        if pan:
            image = np.roll(image, pan * f, axis=0)  # the whole frame moves: a tilt of the camera
            trimap = np.roll(trimap, pan * f, axis=0)
        write_image(folder / f"plate.{f:04d}.png", image)
        write_image(folder / f"trimap.{f:04d}.png", trimap)
    return str(folder / "plate.####.png"), str(folder / "trimap.####.png"), alphas, trimaps


def band_error(report: dict, alphas: list, trimaps: list) -> float:
    return sum(float(np.abs(read_image_file(f["outputs"]["alpha"]).pixels[..., 0] - a)[t == 0.5].sum())
               for f, a, t in zip([f for f in report["frames"] if f["status"] == "solved"], alphas, trimaps))


def test_stack_plate_solves_a_locked_off_shot_twice_and_resumes_without_the_first_pass(tmp_path, capsys):
    plate, trimap, alphas, trimaps = write_moving_shot(tmp_path / "in")
    code, plain = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "plain"), "--independent-frames")
    assert code == 0, plain
    code, carried = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "carried"))  # the default
    assert code == 0, carried
    # Each frame against the background the others show (measured 0.53 of frames on their own).
    assert band_error(carried, alphas, trimaps) < 0.7 * band_error(plain, alphas, trimaps)
    code, stacked = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "stacked"), "--stack-plate")
    assert code == 0, stacked
    assert [f["status"] for f in stacked["frames"]] == ["first_solve"] * 4 + ["solved"] * 4
    summary = stacked["stacked_plate"]
    assert summary["used"] and summary["frames"] == 4 and summary["warning"] is None
    assert 0.7 < summary["coverage"] < 1 and summary["spread"] < 0.01
    assert band_error(stacked, alphas, trimaps) < 0.85 * band_error(plain, alphas, trimaps)  # measured 0.49
    # A resumed run takes the plate from the cache: no first pass, the same matte.
    done = read_image_file(tmp_path / "stacked" / "plate.alpha.0003.exr").pixels
    (tmp_path / "stacked" / "plate.alpha.0003.exr").unlink()
    code, resumed = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "stacked"), "--stack-plate")
    assert code == 0 and [f["status"] for f in resumed["frames"]] == ["skipped", "skipped", "solved", "skipped"]
    assert resumed["stacked_plate"] == summary
    assert np.array_equal(read_image_file(tmp_path / "stacked" / "plate.alpha.0003.exr").pixels, done)


def test_stack_plate_leaves_a_moving_background_alone(tmp_path, capsys):
    plate, trimap, _, _ = write_moving_shot(tmp_path / "in", frames=3, pan=5)
    code, plain = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "plain"))
    code, stacked = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "stacked"), "--stack-plate")
    assert code == 0, stacked
    assert not stacked["stacked_plate"]["used"] and "moving camera" in stacked["stacked_plate"]["warning"]
    for a, b in zip(plain["frames"], [f for f in stacked["frames"] if f["status"] == "solved"]):
        assert np.array_equal(read_image_file(a["outputs"]["alpha"]).pixels, read_image_file(b["outputs"]["alpha"]).pixels)


def test_clean_plate_strict_refuses_a_moving_background(tmp_path, capsys):
    plate, trimap, _, _ = write_moving_shot(tmp_path / "in", frames=3, pan=5)
    code = main(["clean-plate", plate, trimap, "-o", str(tmp_path / "strict.tif"), "--strict"])
    assert code == 1 and "the background differs between frames" in capsys.readouterr().err
    assert not (tmp_path / "strict.tif").exists()
    code, summary = run_json(capsys, "clean-plate", plate, trimap, "-o", str(tmp_path / "lenient.tif"))
    assert code == 0 and "moving camera" in summary["warning"] and (tmp_path / "lenient.tif").is_file()


def test_stack_plate_without_any_background_solves_without_a_plate(tmp_path, capsys):
    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    for f in (1, 2):  # every pixel unknown or foreground: nothing to stack
        trimap = np.full((24, 30), 0.5, np.float32)
        trimap[8:16, 10:20] = 1.0
        write_image(tmp_path / "in" / f"plate.{f:04d}.png", rng.random((24, 30, 3)).astype(np.float32))
        write_image(tmp_path / "in" / f"trimap.{f:04d}.png", trimap)
    plate, trimap = str(tmp_path / "in" / "plate.####.png"), str(tmp_path / "in" / "trimap.####.png")
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(tmp_path / "out"), "--stack-plate")
    assert code == 0 and report["frames_written"] == 2, report
    assert not report["stacked_plate"]["used"] and "no frame shows any background" in report["stacked_plate"]["warning"]
    assert main(["clean-plate", plate, trimap, "-o", str(tmp_path / "p.tif"), "--strict",
                 "--alpha", str(tmp_path / "out" / "plate.alpha.####.exr"),
                 "--fg", str(tmp_path / "out" / "plate.fg.####.exr")]) == 1
    assert "cover nothing" in capsys.readouterr().err


def test_stack_plate_is_refused_where_it_cannot_work(tmp_path, capsys):
    plate, trimap, _, _ = write_moving_shot(tmp_path / "in", frames=2)
    out = ["-o", str(tmp_path / "out"), "--stack-plate"]
    for extra, message in ((["--clean-plate", plate], "leave out --clean-plate"),
                           (["--preset", "dip"], "preset 'dip' does not use a clean plate"),
                           (["--chunk-start", "1", "--chunk-size", "1"], "not in chunks")):
        code, report = run_json(capsys, "matte", plate, trimap, *out, *extra)
        assert code == 2 and message in report["error"], report
    still = str(tmp_path / "in" / "plate.0001.png")
    code, report = run_json(capsys, "matte", still, str(tmp_path / "in" / "trimap.0001.png"), *out)
    assert code == 2 and "is a still" in report["error"]


def test_a_plate_with_subsampled_chroma_is_reported_restored(tmp_path, capsys):
    from test_chroma import through_ycbcr

    image, trimap, _ = make_hair_case(size=64, seed=0)
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "plate.png", through_ycbcr(image, eight_bit=True))  # an 8-bit PNG
    write_image(tmp_path / "in" / "trimap.png", trimap)
    code, report = run_json(capsys, "matte", str(tmp_path / "in" / "plate.png"), str(tmp_path / "in" / "trimap.png"),
                            "-o", str(tmp_path / "out"))
    assert code == 0 and report["frames"][0]["chroma_restored"] == "4:2:2"


@pytest.mark.parametrize("window", [[], ["--background-frames", "1"]], ids=["whole shot", "1 either side"])
def test_a_resumed_run_carries_the_background_the_interrupted_one_had(tmp_path, capsys, window):
    """Frames 3 and 4 solved again after frames 1 and 2 were written (an interrupted run)
    get the pixels of the run that was not interrupted: the cache keeps what each solved
    frame added to the carried background, and the resumed run adds it back (shown, with
    a window, what their solves were shown)."""
    plate, trimap, _, _ = write_moving_shot(tmp_path / "in")
    out = tmp_path / "out"
    code, report = run_json(capsys, "matte", plate, trimap, "-o", str(out), *window)
    assert code == 0, report
    cache = Path(report["cache"])
    assert sorted(p.name for p in cache.glob("background.*.npz")) == [f"background.{f}.npz" for f in (1, 2, 3, 4)]
    whole = {f: read_image_file(out / f"plate.alpha.{f:04d}.exr").pixels for f in (3, 4)}

    def resume() -> dict:
        for f in (3, 4):
            for kind in ("alpha", "fg"):
                (out / f"plate.{kind}.{f:04d}.exr").unlink()
        code, report = run_json(capsys, "matte", plate, trimap, "-o", str(out), *window)
        assert code == 0 and [f["status"] for f in report["frames"]] == ["skipped"] * 2 + ["solved"] * 2
        return {f: read_image_file(out / f"plate.alpha.{f:04d}.exr").pixels for f in (3, 4)}

    resumed = resume()
    assert all(np.array_equal(resumed[f], whole[f]) for f in (3, 4)), \
        [float(np.abs(resumed[f] - whole[f]).max()) for f in (3, 4)]
    for f in (1, 2):  # without the records, frames 1 and 2 add only their trimaps' background
        (cache / f"background.{f}.npz").unlink()
    without = resume()
    assert not np.array_equal(without[3], whole[3])


def test_a_grey_plate_is_matted_as_its_grey_in_every_channel(tmp_path, capsys):
    """A black-and-white scan (one channel, Y): the shot gives the matte the engine gives
    the same grey repeated in R, G and B."""
    image, trimap, *_ = make_hair_case(48)
    grey = image.mean(axis=2)
    for f in (1, 2):
        write_image(tmp_path / "in" / f"scan.{f:04d}.exr", grey[..., None], channel_names=["Y"])
        write_image(tmp_path / "in" / f"trimap.{f:04d}.png", trimap)
    code, report = run_json(capsys, "matte", str(tmp_path / "in" / "scan.####.exr"),
                            str(tmp_path / "in" / "trimap.####.png"), "-o", str(tmp_path / "out"))
    assert code == 0 and report["frames_written"] == 2
    written = read_image_file(report["frames"][1]["outputs"]["alpha"]).pixels[..., 0]
    session = ofx_dipmatte.ClipSession()
    rgb = np.repeat(read_image_file(tmp_path / "in" / "scan.0001.exr").pixels, 3, axis=2)
    session.show_background(2, rgb, trimap)
    session.matte(1, rgb, trimap)
    expected = session.matte(2, rgb, trimap).alpha
    np.testing.assert_allclose(written, expected, atol=1e-3)


def test_a_preset_with_changed_fields_reaches_the_shot_and_its_checkpoints(tmp_path, capsys):
    """--preset NAME:FIELD=VALUE,...: the frames get that preset's matte, and its
    checkpoints are kept apart from the plain preset's (a resume never mixes them)."""
    image, trimap, *_ = make_hair_case(48)
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "plate.png", image)
    write_image(tmp_path / "in" / "trimap.png", trimap)
    args = ("matte", str(tmp_path / "in" / "plate.png"), str(tmp_path / "in" / "trimap.png"))
    code, plain = run_json(capsys, *args, "-o", str(tmp_path / "plain"))
    assert code == 0, plain
    first = read_image_file(tmp_path / "plain" / "plate.alpha.exr").pixels[..., 0]
    code, changed = run_json(capsys, *args, "-o", str(tmp_path / "plain"), "--overwrite",
                             "--preset", "balanced:trusted_passes=0")
    assert code == 0, changed
    assert Path(changed["cache"]).name != Path(plain["cache"]).name
    written = read_image_file(tmp_path / "plain" / "plate.alpha.exr").pixels[..., 0]
    expected = ofx_dipmatte.matte(read_image_file(tmp_path / "in" / "plate.png").pixels, trimap,
                                  preset=ofx_dipmatte.PRESETS["balanced"].replace(trusted_passes=0)).alpha
    np.testing.assert_allclose(written, expected, atol=1e-6)
    assert np.abs(written - first).max() > 1e-3  # the change did change the matte
