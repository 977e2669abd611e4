"""What real hosts do, played by our test host (see docs/hosts.md for what each host did):

- Natron drops the arguments of message formats (a va_list passed on as one argument);
- Natron deletes ``sys.prefix`` and ``sys.exec_prefix`` from its interpreter when
  PYTHONHOME is unset, and scipy's import needs them;
- hosts hand the Source premultiplied when the file reader says so (Natron's PNG
  reader), though in the filter context its alpha is the trimap;
- MLT creates a new instance for every frame unless the plugin says its render is unsafe,
  and renders the same frame several times (five for one `melt` frame);
- Trimap view is how an artist checks what a host did to the trimap (MLT resampled it);
- MLT says it has no temporal clip access, and its clipGetImage gives the current frame
  whatever time is asked: Background frames must not ask it for other frames.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ofx_dipmatte
from ofx_dipmatte.engine.presets import with_limits
from ofx_dipmatte.ofx import bundle_path

from conftest import make_case
from ofx_layout import from_host, to_host

_testhost = pytest.importorskip("ofx_dipmatte.ofx._testhost")

FILTER = "OfxImageEffectContextFilter"
GENERAL = "OfxImageEffectContextGeneral"
IN_PROCESS = 1


def instance(host, context=FILTER, iterations=4):
    inst = host.create_instance(context)
    host.set_param(inst, "preset", 0)
    host.set_param(inst, "maxIterations", iterations)
    host.set_param(inst, "engine", IN_PROCESS)
    return inst


def test_messages_reach_a_host_that_drops_printf_arguments():
    host = _testhost.Host(str(bundle_path()), printf_arguments=False)
    image, trimap, *_ = make_case(16, band=2)
    inst = instance(host, GENERAL)
    host.set_image(inst, "Source", 0.0, **to_host(np.dstack([image, np.ones_like(trimap)])))
    assert host.render(inst, 0.0) == 1  # no Trimap connected
    assert "the Trimap input is not connected" in host.persistent_message(inst)

    os.environ["OFX_DIPMATTE_ENGINE"] = "50% worker"  # a % in the text survives both kinds of host
    try:
        assert host.render(inst, 0.0) == 1
    finally:
        del os.environ["OFX_DIPMATTE_ENGINE"]
    assert "OFX_DIPMATTE_ENGINE=50% worker is not one of" in host.persistent_message(inst)
    host.destroy_instance(inst)


def test_mlt_gets_one_instance_rendered_in_order():
    assert _testhost.Host(str(bundle_path()), name="MLT").plugin_properties()[
        "OfxImageEffectPluginRenderThreadSafety"] == ["OfxImageEffectRenderUnsafe"]
    assert _testhost.Host(str(bundle_path())).plugin_properties()[
        "OfxImageEffectPluginRenderThreadSafety"] == ["OfxImageEffectRenderInstanceSafe"]


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_a_premultiplied_source_whose_alpha_is_the_trimap_is_unpremultiplied(dtype):
    host = _testhost.Host(str(bundle_path()))
    image, trimap, *_ = make_case(24, band=3)
    image = np.clip(image, 0.02, 1.0)  # a plate with no pure black, as film plates are
    straight = np.dstack([image, trimap])
    premultiplied = np.dstack([image * trimap[..., None], trimap])
    if dtype == "uint8":
        straight, premultiplied = (np.round(x * 255).astype(np.uint8) for x in (straight, premultiplied))
    inst = instance(host)
    host.set_image(inst, "Source", 0.0, **to_host(premultiplied), premultiplication="OfxImageAlphaPremultiplied")
    assert host.render(inst, 0.0) == 1  # the background is black: say so, do not matte it
    message = host.persistent_message(inst)
    assert "premultiplied" in message and "Unpremult" in message

    # With the background intact (a host that premultiplies only the band), the colour is divided back.
    band_only = premultiplied.copy()
    background = trimap == 0.0
    band_only[background, :3] = straight[background, :3]
    host.set_image(inst, "Source", 0.0, **to_host(band_only), premultiplication="OfxImageAlphaPremultiplied")
    assert host.render(inst, 0.0) == 0, host.persistent_message(inst)
    out = from_host(*host.output(inst))  # float RGBA, the test host's default Output
    res = ofx_dipmatte.matte(straight[..., :3], straight[..., 3], preset=with_limits("draft", 4))
    tolerance = 0.05 if dtype == "uint8" else 1e-4  # 8-bit premultiplication loses the low bits
    assert np.abs(out[..., 3] - res.alpha).max() < tolerance
    host.destroy_instance(inst)


def test_an_interpreter_without_sys_prefix_still_imports_the_engine(tmp_path):
    """Natron's embedded Python as it finds it: sys.prefix and sys.exec_prefix deleted."""
    # The test host module is loaded from its file: importing the ofx_dipmatte package
    # here would import scipy before the plugin does.
    module = _testhost.__file__
    script = textwrap.dedent(f"""
        import sys
        del sys.prefix, sys.exec_prefix
        import importlib.util
        from array import array
        spec = importlib.util.spec_from_file_location("ofx_dipmatte.ofx._testhost", {module!r})
        _testhost = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_testhost)
        host = _testhost.Host({str(bundle_path())!r})
        inst = host.create_instance("{FILTER}")
        host.set_param(inst, "maxIterations", 3)
        host.set_param(inst, "preset", 0)
        host.set_param(inst, "engine", {IN_PROCESS})
        size = 16
        pixels = array("f")
        for y in range(size):
            for x in range(size):
                a = 1.0 if (x - 8) ** 2 + (y - 8) ** 2 < 9 else 0.0 if (x - 8) ** 2 + (y - 8) ** 2 > 30 else 0.5
                pixels.extend([0.9 * a + 0.1, 0.5, 0.2 + 0.3 * x / size, a])
        host.set_image(inst, "Source", 0.0, data=pixels.tobytes(), offset=0, bounds=(0, 0, size, size),
                       row_bytes=size * 16, depth="OfxBitDepthFloat", components="OfxImageComponentRGBA")
        status = host.render(inst, 0.0)
        print("status", status, host.persistent_message(inst))
        print("prefix restored:", sys.prefix == sys.base_prefix)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert "status 0" in proc.stdout, proc.stdout + proc.stderr
    assert "prefix restored: True" in proc.stdout


def test_the_same_frame_rendered_again_is_solved_once(tmp_path, monkeypatch):
    """melt calls render five times for one frame; only the first may solve."""
    log = tmp_path / "renders.jsonl"
    monkeypatch.setenv("OFX_DIPMATTE_LOG", str(log))
    host = _testhost.Host(str(bundle_path()), name="MLT")
    image, trimap, *_ = make_case(16, band=2)
    inst = instance(host)
    host.set_image(inst, "Source", 0.0, **to_host(np.dstack([image, trimap])))
    outputs = []
    for _ in range(5):
        assert host.render(inst, 0.0) == 0, host.persistent_message(inst)
        outputs.append(host.output(inst))
    assert all(out == outputs[0] for out in outputs)
    renders = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["cached"] for r in renders] == [False] + [True] * 4

    # The trimap view is instant (no solve) and shows the snapped trimap.
    host.set_param(inst, "outputMode", 4)
    host.set_image(inst, "Source", 1.0, **to_host(np.dstack([image, np.clip(trimap * 1.01, 0, 1)])))
    assert host.render(inst, 1.0) == 0, host.persistent_message(inst)
    view = from_host(*host.output(inst))
    np.testing.assert_array_equal(view[..., 0], trimap)
    assert json.loads(log.read_text().splitlines()[-1])["seconds"] == 0.0
    host.destroy_instance(inst)


def test_a_host_without_temporal_clip_access_is_asked_for_no_other_frame():
    from conftest import moving_hair_shot

    host = _testhost.Host(str(bundle_path()), name="MLT", temporal_clip_access=False)
    images, trimaps, _, _ = moving_hair_shot(frames=3)
    inst = instance(host)
    host.set_param(inst, "preset", 1)  # Balanced, Background frames at its default
    for t in range(3):
        host.set_image(inst, "Source", float(t), **to_host(np.dstack([images[t], trimaps[t]])))
    assert host.frames_needed(inst, 1.0)[0] == 14  # kOfxStatReplyDefault: this frame only
    assert host.render(inst, 1.0) == 0, host.persistent_message(inst)
    assert host.fetched(inst, "Source") == [1.0]
    alone = ofx_dipmatte.matte(images[1], trimaps[1])
    np.testing.assert_allclose(from_host(*host.output(inst))[..., 3], alone.alpha, atol=1e-6)
    host.destroy_instance(inst)
