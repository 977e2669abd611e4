"""The default preset fits no network, so it must not load torch into the caller's
process: a host embedding the plugin (Natron, Resolve, Nuke) would otherwise carry torch's
libraries (182 MB resident here, CPU build) for a classical solve. Each check runs in
a fresh interpreter, since this test process has torch already."""

import json
import subprocess
import sys
import textwrap

import pytest

SETUP = """
import json, sys
import numpy as np
rng = np.random.default_rng(0)
image = rng.random((96, 96, 3), np.float32)
trimap = np.full((96, 96), 0.5, np.float32)
trimap[:8] = 0.0
trimap[40:60, 40:60] = 1.0
"""


def loads_torch(code: str) -> dict:
    """Run ``code`` after SETUP in a fresh interpreter; it prints a JSON dict, to which
    whether torch was imported is added."""
    script = SETUP + textwrap.dedent(code) + "\nout['torch'] = 'torch' in sys.modules\nprint(json.dumps(out))\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_still_a_shot_and_the_plugin_bridge_solve_without_torch():
    out = loads_torch("""
        import ofx_dipmatte
        from ofx_dipmatte.ofx.bridge import InstanceSession
        still = ofx_dipmatte.matte(image, trimap)
        shot = ofx_dipmatte.ClipSession()
        for frame in range(3):  # a locked-off shot with grain: the background is carried, unmoved
            grain = np.random.default_rng(frame).normal(0.0, 0.002, image.shape).astype(np.float32)
            result = shot.matte(frame, image + grain, trimap)
        host = InstanceSession()
        rgba = np.dstack([image, np.ones((96, 96), np.float32)])
        for frame in range(2):
            host.render(frame, rgba, trimap[..., None], {"preset": "balanced"}, lambda done: True, 96, 96, 4,
                        "float32")
        out = {"still": still.stats.stop_reason, "device": still.stats.device,
               "carried": result.stats.background_frames}
    """)
    assert out == {"still": "no_network", "device": "cpu", "carried": 2, "torch": False}


def test_a_plate_in_tiles_and_information_flow_solve_without_torch():
    out = loads_torch("""
        import ofx_dipmatte
        plate = rng.random((700, 700, 3), np.float32) * 0.2
        band = np.zeros((700, 700), np.float32)
        band[100:600, 100:600] = 0.5
        band[200:500, 200:500] = 1.0
        tiled = ofx_dipmatte.matte(plate, band)
        ofx_dipmatte.matte(image, trimap, preset="balanced:affinity=information_flow")
        out = {"tiles": tiled.stats.tiles}
    """)
    assert out["tiles"] > 1 and out["torch"] is False


@pytest.mark.parametrize("preset", ["draft:max_iterations=2", "balanced:affinity=dip_features,feature_steps=2"])
def test_presets_with_networks_do_load_torch(preset):
    out = loads_torch(f"""
        import ofx_dipmatte
        from ofx_dipmatte.engine.presets import resolve_preset
        ofx_dipmatte.matte(image, trimap, preset="{preset}")
        out = {{"fits": resolve_preset("{preset}").fits_networks}}
    """)
    assert out == {"fits": True, "torch": True}


def test_device_names_are_still_checked():
    out = loads_torch("""
        import ofx_dipmatte
        errors = []
        for device in ("tpu", "cuda:x"):
            try:
                ofx_dipmatte.ClipSession(device=device)
            except ValueError as error:
                errors.append(str(error).split(";")[0])
        out = {"errors": errors, "cpu": str(ofx_dipmatte.ClipSession(device="cpu").device)}
    """)
    # Names other than auto and cpu go to torch for their check; reading .device resolves it.
    assert out["errors"] == ["device: unknown device 'tpu'", "device: unknown device 'cuda:x'"]
    assert out["cpu"] == "cpu" and out["torch"] is True


def test_a_drifting_shot_is_followed_without_torch():
    tests = str(__import__("pathlib").Path(__file__).parent)
    out = loads_torch(f"""
        sys.path.insert(0, {tests!r})
        import ofx_dipmatte
        from conftest import drifting_hair_shot
        images, trimaps, _ = drifting_hair_shot(frames=3, speed=0.5)
        shot = ofx_dipmatte.ClipSession()
        results = [shot.matte(t, images[t], trimaps[t]) for t in range(3)]
        out = {{"carried": [r.stats.background_frames for r in results],
               "warnings": sum(len(r.stats.warnings) for r in results)}}
    """)
    # Followed (the frames resampled into the stack and the stack out), not started over.
    assert out == {"carried": [0, 1, 2], "warnings": 0, "torch": False}


def test_a_shot_from_the_command_line_runs_without_torch(tmp_path):
    out = loads_torch(f"""
        from pathlib import Path
        from PIL import Image
        from ofx_dipmatte.cli import main
        folder = Path({str(tmp_path)!r})
        for frame in (1, 2, 3):
            Image.fromarray((image * 255).astype(np.uint8)).save(folder / f"plate.{{frame:04d}}.png")
            Image.fromarray((trimap * 255).astype(np.uint8)).save(folder / f"trimap.{{frame:04d}}.png")
        code = main(["matte", str(folder / "plate.####.png"), str(folder / "trimap.####.png"),
                     "-o", str(folder / "out"), "--quiet"])
        out = {{"code": code, "written": len(list((folder / "out").glob("*.exr")))}}
    """)
    assert out == {"code": 0, "written": 6, "torch": False}  # alpha and foreground of 3 frames
