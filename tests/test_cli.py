"""The command line and OpenImageIO I/O."""

import os
import re
from pathlib import Path

import numpy as np
import pytest

import ofx_dipmatte
from ofx_dipmatte.cli import main
from ofx_dipmatte.io import read_image, write_image


def test_write_and_read_float_exr_roundtrip(tmp_path):
    pixels = np.random.default_rng(0).random((9, 7, 4)).astype(np.float32) * 4.0
    path = write_image(tmp_path / "a.exr", pixels, channel_names=["R", "G", "B", "A"])
    back = read_image(path)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, pixels)
    assert oct(os.stat(path).st_mode & 0o777) != "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["a.exr"]  # no temporary left behind


def test_write_refuses_to_overwrite(tmp_path):
    path = write_image(tmp_path / "a.png", np.zeros((4, 4)))
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        write_image(path, np.ones((4, 4)))
    assert path.read_bytes() == before
    write_image(path, np.ones((4, 4)), overwrite=True)
    assert read_image(path).max() == 255


def test_integer_pixels_are_written_as_the_picture_they_are(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "a.png", pixels)), pixels)
    deep = np.array([[0, 1000, 65535]], np.uint16)
    np.testing.assert_allclose(read_image(write_image(tmp_path / "b.exr", deep))[..., 0], deep / 65535, rtol=1e-6)


def test_read_missing_file_names_it(tmp_path):
    with pytest.raises(ValueError, match="nope.exr"):
        read_image(tmp_path / "nope.exr")


def test_demo_writes_alpha_and_foreground(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path), "--preset", "draft"]) == 0
    out = capsys.readouterr().out
    alpha = read_image(tmp_path / "strands.image.alpha.exr")
    fg = read_image(tmp_path / "strands.image.fg.exr")
    assert str(tmp_path / "strands.image.alpha.exr") in out
    assert alpha.shape == (192, 192, 1) and fg.shape == (192, 192, 4)
    assert 0 <= alpha.min() and alpha.max() <= 1 and 0 < alpha.mean() < 1
    # A second run refuses to replace the outputs (exit 2), and says how.
    assert main(["demo", "-o", str(tmp_path), "--preset", "draft"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_a_frame_fitted_without_networks_is_reported_without_iterations(tmp_path, capsys):
    """The default fits no network: its frame line says so, not "0 iterations, final loss n/a";
    a preset with networks still reports its iterations."""
    assert main(["demo", "-o", str(tmp_path / "balanced")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"frame 0: solved in [0-9.]+ s \(no network fitted\)", out), out
    assert "iterations" not in out
    assert main(["demo", "-o", str(tmp_path / "draft"), "--preset", "draft", "--max-iterations", "3"]) == 0
    assert re.search(r"frame 0: 3 iterations in [0-9.]+ s \(cold, max_iterations\)", capsys.readouterr().out)


def test_version_is_the_package_s(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"ofx-dipmatte {ofx_dipmatte.__version__}"
    # One version: the package's, as pyproject.toml declares it (the plugin reads the same).
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1) == ofx_dipmatte.__version__


def test_bad_input_exits_2(tmp_path, capsys):
    write_image(tmp_path / "img.png", np.zeros((8, 8, 3)))
    write_image(tmp_path / "tri.png", np.zeros((8, 9)))
    assert main(["matte", str(tmp_path / "img.png"), str(tmp_path / "tri.png"), "-o", str(tmp_path)]) == 2
    assert "render the trimap at the plate's resolution" in capsys.readouterr().err
    assert main(["matte", str(tmp_path / "missing.png"), str(tmp_path / "tri.png"), "-o", str(tmp_path)]) == 2


def test_trimap_command(tmp_path):
    mask = np.zeros((32, 32), np.float32)
    mask[:, 16:] = 1
    write_image(tmp_path / "mask.png", mask)
    assert main(["trimap", str(tmp_path / "mask.png"), "-o", str(tmp_path / "tri.png"), "--band", "3"]) == 0
    tri = read_image(tmp_path / "tri.png")[..., 0]
    assert set(np.unique(tri)) == {0, 128, 255}



def test_a_broken_torch_is_reported_not_raised(tmp_path):
    """With torch failing to import (a broken install), `doctor` still runs and names it,
    a command that needs torch (a preset with networks) says what to do instead of a
    traceback, and the default preset, which fits no network, still works."""
    import subprocess
    import sys

    broken = tmp_path / "broken" / "torch"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text('raise ImportError("libtorch_cpu.so: cannot open shared object file")\n')
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "broken")}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "ofx_dipmatte", *args], env=env, capture_output=True,
                              text=True, timeout=600)

    run = cli("demo", "-o", str(tmp_path / "out"), "--quiet")
    assert run.returncode == 0 and (tmp_path / "out").is_dir(), run.stderr
    run = cli("demo", "-o", str(tmp_path / "out_draft"), "--preset", "draft")
    assert run.returncode == 3 and "Traceback" not in run.stderr, run.stderr
    assert "libtorch_cpu.so" in run.stderr and "ofx-dipmatte doctor" in run.stderr
    run = cli("doctor")
    assert run.returncode == 1 and "[FAIL] torch does not import: libtorch_cpu.so" in run.stdout, run.stdout + run.stderr
    # ... and says that the plugin's default renders all the same (the Draft render is not tried).
    assert "[ok] the plugin renders in a host process (Balanced, its default)" in run.stdout, run.stdout
    assert "[--] the presets with networks (Draft, DIP, Paper): not tried, torch does not import" in run.stdout
