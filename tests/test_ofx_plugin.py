"""The OFX plugin, loaded by our test host (dlopen RTLD_LOCAL, as real hosts do), with
numpy buffers handed through the pybind11 boundary into the real plugin binary.

In this process Python is already running, so with Engine "In host process" the plugin
adopts this interpreter; with "Separate process" the same renders go through the worker
process (test_ofx_worker.py has its failure modes). The standalone host tests
(test_ofx_embedding.py) start the plugin's own interpreter.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time

import numpy as np
import pytest

import ofx_dipmatte
from ofx_dipmatte import ClipSession, trimap_from_rough_matte
from ofx_dipmatte.engine.presets import with_limits
from ofx_dipmatte.ofx import ENV_OVERRIDE, bundle_path, record_environment

from conftest import make_case, make_smoke_case
from ofx_layout import DEPTHS, from_host, to_host

_testhost = pytest.importorskip("ofx_dipmatte.ofx._testhost")

GENERAL = "OfxImageEffectContextGeneral"
FILTER = "OfxImageEffectContextFilter"
OK, FAILED = 0, 1
REPLY_DEFAULT = 14  # kOfxStatReplyDefault
ITERATIONS = 4
SIZE = 24
ENGINES = {"in_process": 1, "worker": 2}  # the Engine parameter's options
BOTH_ENGINES = pytest.mark.parametrize("engine", list(ENGINES))


@pytest.fixture(scope="module")
def worker_log(tmp_path_factory):
    """The record the worker starts from (the package's bundle has none) and a render log."""
    folder = tmp_path_factory.mktemp("worker")
    record = folder / "python_env.cfg"
    record.write_text(record_environment())
    log = folder / "renders.jsonl"
    saved = {k: os.environ.get(k) for k in (ENV_OVERRIDE, "OFX_DIPMATTE_LOG")}
    os.environ.update({ENV_OVERRIDE: str(record), "OFX_DIPMATTE_LOG": str(log)})
    yield log
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def host(worker_log):
    return _testhost.Host(str(bundle_path()))


def worker_renders(log) -> int:
    """Renders that reached the engine in another process than this one."""
    if not log.exists():
        return 0
    return sum(json.loads(line)["pid"] != os.getpid() for line in log.read_text().splitlines())


def draft(iterations: int = ITERATIONS):
    """The preset the plugin solves with at Quality Draft and Max iterations = ``iterations``."""
    return with_limits("draft", iterations)


def host_updates(session: ClipSession, frame: float, image: np.ndarray, trimap: np.ndarray) -> tuple[int, object]:
    """How many times ``session``'s solve of a frame calls the host's progress: once a step
    and once an abort poll (the bridge's progress and should_stop each report to the
    host). Returns (calls, result)."""
    calls = [0]

    def progress(*_):
        calls[0] += 1
        return True

    def should_stop():
        calls[0] += 1
        return False

    result = session.matte(frame, image, trimap, progress=progress, should_stop=should_stop)
    return calls[0], result


def quantise(values: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "float32":
        return values.astype(np.float32)
    top = np.iinfo(dtype).max
    return np.round(np.clip(values, 0, 1) * top).astype(dtype)


def new_instance(host, context=GENERAL, iterations=ITERATIONS, engine="in_process", **params):
    inst = host.create_instance(context)
    host.set_param(inst, "preset", 0)  # Draft
    host.set_param(inst, "maxIterations", iterations)
    host.set_param(inst, "engine", ENGINES[engine])
    for name, value in params.items():
        host.set_param(inst, name, value)
    return inst


def render(host, inst, time_=0.0, **kwargs) -> np.ndarray:
    status = host.render(inst, time_, **kwargs)
    assert status == OK, host.persistent_message(inst)
    return from_host(*host.output(inst))


def expected_premultiplied(res, dtype: str, channels: int) -> np.ndarray:
    rgba = np.dstack([res.foreground * res.alpha[..., None], res.alpha])
    return quantise(rgba[..., :channels], dtype)


def assert_close(actual: np.ndarray, expected: np.ndarray):
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    if actual.dtype == np.float32:
        np.testing.assert_allclose(actual, expected, atol=1e-6)
    else:  # one code value of rounding slack
        assert np.abs(actual.astype(np.int64) - expected.astype(np.int64)).max() <= 1


def test_describe_lists_contexts_clips_params_and_depths(host):
    assert set(host.contexts) == {GENERAL, FILTER}
    props = host.plugin_properties()
    assert props["OfxImageEffectPropSupportedPixelDepths"] == ["OfxBitDepthByte", "OfxBitDepthShort", "OfxBitDepthFloat"]
    assert props["OfxImageEffectPropSupportsTiles"] == [0]
    assert props["OfxImageEffectPropSupportsMultiResolution"] == [1]  # a Roto's smaller Trimap connects
    assert props["OfxImageEffectPluginRenderThreadSafety"] == ["OfxImageEffectRenderInstanceSafe"]
    assert props["OfxImageEffectInstancePropSequentialRender"] == [2]
    # The package's version, which hosts show and key their plugin caches on.
    assert props["OfxPropVersionLabel"] == [ofx_dipmatte.__version__]
    assert props["OfxPropVersion"] == [int(n) for n in re.findall(r"\d+", ofx_dipmatte.__version__)[:3]]

    general = host.clips(GENERAL)
    assert set(general) == {"Source", "Trimap", "CleanPlate", "Output"}
    assert general["Source"]["OfxImageEffectPropSupportedComponents"] == ["OfxImageComponentRGBA", "OfxImageComponentRGB"]
    assert set(general["Trimap"]["OfxImageEffectPropSupportedComponents"]) == {
        "OfxImageComponentAlpha", "OfxImageComponentRGB", "OfxImageComponentRGBA"}
    assert general["Trimap"]["OfxImageClipPropOptional"] == [1]
    assert general["CleanPlate"]["OfxImageClipPropOptional"] == [1]
    assert general["CleanPlate"]["OfxImageEffectPropSupportedComponents"] == [
        "OfxImageComponentRGBA", "OfxImageComponentRGB"]
    assert set(host.clips(FILTER)) == {"Source", "Output"}

    params = host.params(GENERAL)
    for name in ("outputMode", "trimapSource", "useTrimapInput", "bandWidth", "preset", "maxIterations",
                 "lossThreshold", "seed", "independentFrames", "keepSmoothMattes", "backgroundFrames", "device",
                 "engine"):
        assert name in params
    assert params["outputMode"]["OfxParamPropChoiceOption"] == [
        "Premultiplied foreground + alpha", "Straight foreground + alpha", "Alpha only", "Background plate",
        "Trimap view"]
    assert params["trimapSource"]["OfxParamPropChoiceOption"] == [
        "Trimap input", "Source alpha", "Source alpha as rough matte"]
    assert params["device"]["OfxParamPropChoiceOption"] == ["Auto", "CPU", "CUDA"]
    assert params["engine"]["OfxParamPropChoiceOption"] == ["Automatic", "In host process", "Separate process"]
    filter_params = host.params(FILTER)
    assert "useTrimapInput" not in filter_params
    assert filter_params["trimapSource"]["OfxParamPropChoiceOption"] == ["Source alpha", "Source alpha as rough matte"]
    assert host.context_properties(GENERAL)["OfxImageEffectPropClipPreferencesSlaveParam"] == ["outputMode"]


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("layout", ["bottom-up, origin 0", "top-down, origin (-7, 5), padded"])
@BOTH_ENGINES
def test_output_equals_engine(host, dtype, channels, layout, engine, worker_log):
    image, trimap, *_ = make_case(SIZE, band=3, seed=channels)
    source = quantise(np.dstack([image, np.ones_like(trimap)])[..., :channels], dtype)
    tri = quantise(trimap[..., None], dtype)
    top_down = layout.startswith("top-down")
    origin, padding = ((-7, 5), 12) if top_down else ((0, 0), 0)

    inst = new_instance(host, engine=engine)
    host.set_output_format(inst, DEPTHS[dtype], "OfxImageComponentRGBA" if channels == 4 else "OfxImageComponentRGB",
                           top_down=not top_down)
    solved_in_worker = worker_renders(worker_log)
    host.set_image(inst, "Source", 0.0, **to_host(source, origin, top_down, padding))
    host.set_image(inst, "Trimap", 0.0, **to_host(tri, origin, not top_down, padding))
    out = render(host, inst)
    assert out.shape == (SIZE, SIZE, channels)

    assert worker_renders(worker_log) - solved_in_worker == (engine == "worker")

    calls, res = host_updates(ClipSession(preset=draft(), seed=0), 0.0, source, tri)
    assert_close(out, expected_premultiplied(res, dtype, channels))
    # one update per step, plus the abort polls of the prior (Balanced's matte)
    if engine == "in_process":
        assert calls > ITERATIONS
        assert host.progress(inst)["starts"] == 1 and host.progress(inst)["updates"] == calls
    else:  # the worker sends at most 10 a second; the wait polls the abort every 0.1 s
        assert host.progress(inst)["starts"] == 1 and host.progress(inst)["updates"] >= 1
    assert _testhost.live_images() == 0
    host.destroy_instance(inst)


@BOTH_ENGINES
def test_a_frame_large_enough_for_tiles_renders_as_the_engine_solves_it(host, engine):
    """Balanced splits this band into tiles and solves them on threads of the plugin's
    interpreter (in the host, or in the worker): the host sees the engine's matte."""
    size = 800
    image, trimap, *_ = make_case(size, band=4, seed=3)
    inst = new_instance(host, engine=engine, preset=1)  # Quality: Balanced
    host.set_output_format(inst, DEPTHS["float32"], "OfxImageComponentRGBA", top_down=False)
    host.set_image(inst, "Source", 0.0, **to_host(np.dstack([image, np.ones_like(trimap)])))
    host.set_image(inst, "Trimap", 0.0, **to_host(trimap[..., None]))
    out = render(host, inst)
    res = ofx_dipmatte.matte(image, trimap, preset="balanced", seed=0)
    assert res.stats.tiles > 1
    assert_close(out, expected_premultiplied(res, "float32", 4))
    reported = host.progress(inst)
    assert reported["values"] == sorted(reported["values"]) and reported["last"] == 1.0
    if engine == "in_process":  # every tile done is reported; the worker's reports are held to 10 a second
        assert reported["updates"] >= res.stats.tiles
    host.destroy_instance(inst)


@BOTH_ENGINES
def test_keep_smooth_mattes_reaches_the_engine(host, engine):
    """Smoke over flat colours: with Keep smooth mattes on (its default), the render is the
    default's (there: closed-form's matte); off, refined everywhere."""
    image, trimap, _, _ = make_smoke_case()
    inst = new_instance(host, engine=engine, preset=1)  # Quality: Balanced
    host.set_output_format(inst, DEPTHS["float32"], "OfxImageComponentRGBA")
    host.set_image(inst, "Source", 0.0, **to_host(np.dstack([image, np.ones_like(trimap)])))
    host.set_image(inst, "Trimap", 0.0, **to_host(trimap[..., None]))
    kept = ofx_dipmatte.matte(image, trimap, preset="balanced", seed=0)
    refined = ofx_dipmatte.matte(image, trimap, preset="balanced:keep_smooth_mattes=false", seed=0)
    assert np.abs(kept.alpha - refined.alpha).max() > 1e-3
    assert_close(render(host, inst), expected_premultiplied(kept, "float32", 4))
    host.set_param(inst, "keepSmoothMattes", 0)
    assert_close(render(host, inst), expected_premultiplied(refined, "float32", 4))
    host.destroy_instance(inst)


@BOTH_ENGINES
@pytest.mark.parametrize("plate_dtype", ["uint16", "float32"])
def test_a_clean_plate_input_reaches_the_engine(host, engine, plate_dtype):
    image, trimap, _, _, bg = make_case(SIZE, band=3, seed=1)
    source = quantise(np.dstack([image, np.ones_like(trimap)]), "uint16")
    tri = quantise(trimap[..., None], "uint16")
    plate = quantise(np.dstack([0.9 * bg, np.ones_like(trimap)]), plate_dtype)  # another exposure, maybe depth
    inst = new_instance(host, engine=engine, preset=1)  # Balanced: the preset that uses the plate
    host.set_output_format(inst, DEPTHS["float32"], "OfxImageComponentRGBA")
    host.set_image(inst, "Source", 0.0, **to_host(source))
    host.set_image(inst, "Trimap", 0.0, **to_host(tri))
    host.set_image(inst, "CleanPlate", 0.0, **to_host(plate))
    out = render(host, inst)
    engine_plate = plate[..., :3] if plate_dtype == "uint16" else quantise(plate[..., :3], "uint16")
    res = ofx_dipmatte.matte(source, tri, preset=with_limits("balanced", ITERATIONS), seed=0,
                             clean_plate=engine_plate)
    assert_close(out, expected_premultiplied(res, "float32", 4))
    without = ofx_dipmatte.matte(source, tri, preset=with_limits("balanced", ITERATIONS), seed=0)
    assert not np.allclose(res.alpha, without.alpha)  # the plate changed the solve
    host.connect(inst, "CleanPlate", False)  # unplugged: the same as never connected
    assert_close(render(host, inst), expected_premultiplied(without, "float32", 4))
    host.connect(inst, "CleanPlate", True)  # Resolve: "connected", and black
    host.set_image(inst, "CleanPlate", 0.0, **to_host(np.zeros_like(plate)))
    assert_close(render(host, inst), expected_premultiplied(without, "float32", 4))
    host.destroy_instance(inst)


@pytest.mark.parametrize("plate_dtype", ["uint16", "float32"])
def test_a_clean_plate_with_holes_keeps_them(host, plate_dtype):
    # A plate stacked from a shot (`ofx-dipmatte clean-plate`) is black with alpha 0 where
    # no frame showed the background: there B must be estimated, not taken as black.
    image, trimap, _, _, bg = make_case(SIZE, band=3, seed=1)
    source = quantise(np.dstack([image, np.ones_like(trimap)]), "uint16")
    tri = quantise(trimap[..., None], "uint16")
    covers = np.ones_like(trimap)
    covers[:, : SIZE // 2] = 0.0
    holed = quantise(np.dstack([bg * covers[..., None], covers]), plate_dtype)
    inst = new_instance(host, preset=1)
    host.set_output_format(inst, DEPTHS["float32"], "OfxImageComponentRGBA")
    host.set_image(inst, "Source", 0.0, **to_host(source))
    host.set_image(inst, "Trimap", 0.0, **to_host(tri))
    host.set_image(inst, "CleanPlate", 0.0, **to_host(holed))
    out = render(host, inst)
    engine_plate = quantise(np.dstack([bg * covers[..., None], covers]), "uint16")
    res = ofx_dipmatte.matte(source, tri, preset=with_limits("balanced", ITERATIONS), seed=0,
                             clean_plate=engine_plate)
    assert_close(out, expected_premultiplied(res, "float32", 4))
    as_black = ofx_dipmatte.matte(source, tri, preset=with_limits("balanced", ITERATIONS), seed=0,
                                  clean_plate=engine_plate[..., :3])
    assert not np.allclose(res.alpha, as_black.alpha)  # the holes were not read as a black background
    # A host handing an RGB plate with an empty alpha: the colour alone, covering everything.
    host.set_image(inst, "CleanPlate", 0.0, **to_host(quantise(np.dstack([bg, 0 * covers]), plate_dtype)))
    whole = ofx_dipmatte.matte(source, tri, preset=with_limits("balanced", ITERATIONS), seed=0,
                               clean_plate=quantise(bg, "uint16"))
    assert_close(render(host, inst), expected_premultiplied(whole, "float32", 4))
    host.destroy_instance(inst)


def test_a_clean_plate_smaller_than_the_source_holds_only_within_its_bounds(host):
    """A patch painted as a clean plate (RotoPaint's bounds are its strokes'): with alpha,
    the plate holds inside its bounds and B is estimated outside; without one there is
    nothing to say where it holds, and the render says what to give."""
    image, trimap, _, _, bg = make_case(SIZE, band=3, seed=1)
    source = np.dstack([image, np.ones_like(trimap)]).astype(np.float32)
    y0, y1, x0, x1 = 0, SIZE, SIZE // 3, SIZE  # the right two thirds
    inst = new_instance(host, preset=1)
    host.set_output_format(inst, DEPTHS["float32"], "OfxImageComponentRGBA")
    host.set_image(inst, "Source", 0.0, **to_host(source))
    host.set_image(inst, "Trimap", 0.0, **to_host(trimap[..., None].astype(np.float32)))
    patch = np.dstack([bg, np.ones_like(trimap)])[y0:y1, x0:x1].astype(np.float32)
    host.set_image(inst, "CleanPlate", 0.0, **to_host(patch, origin=(x0, SIZE - y1)))
    out = render(host, inst)
    padded = np.zeros((SIZE, SIZE, 4), np.float32)
    padded[y0:y1, x0:x1] = patch
    res = ofx_dipmatte.matte(image, trimap, preset=with_limits("balanced", ITERATIONS), seed=0, clean_plate=padded)
    assert_close(out, expected_premultiplied(res, "float32", 4))
    for no_alpha in (patch[..., :3], np.dstack([patch[..., :3], 0 * patch[..., 3]])):  # RGB, or an empty alpha
        host.set_image(inst, "CleanPlate", 0.0, **to_host(np.ascontiguousarray(no_alpha), origin=(x0, SIZE - y1)))
        assert host.render(inst, 0.0) == FAILED
        assert "alpha 1 where it shows the background" in host.persistent_message(inst)
    host.destroy_instance(inst)


@BOTH_ENGINES
def test_filter_context_reads_the_trimap_from_source_alpha(host, engine):
    image, trimap, *_ = make_case(SIZE, band=3)
    source = np.dstack([image, trimap]).astype(np.float32)
    inst = new_instance(host, FILTER, engine=engine)
    host.set_image(inst, "Source", 0.0, **to_host(source))
    out = render(host, inst)
    res = ofx_dipmatte.matte(image, trimap, preset=draft())
    assert_close(out, expected_premultiplied(res, "float32", 4))


def test_source_alpha_as_rough_matte_uses_the_band_at_render_scale(host):
    image, _, alpha, *_ = make_case(SIZE)
    rough = (alpha > 0.5).astype(np.float32)
    inst = new_instance(host, FILTER, trimapSource=1, bandWidth=6.0)
    host.set_image(inst, "Source", 0.0, **to_host(np.dstack([image, rough])))
    out = render(host, inst, render_scale=0.5)  # a half-resolution proxy: the band is 3 px
    res = ofx_dipmatte.matte(image, trimap_from_rough_matte(rough, band=3.0), preset=draft())
    assert_close(out, expected_premultiplied(res, "float32", 4))


@pytest.mark.parametrize("mode, premultiplication", [
    (0, "OfxImageAlphaPremultiplied"), (1, "OfxImageAlphaUnPremultiplied"), (2, "OfxImageAlphaPremultiplied"),
    (3, "OfxImageOpaque"), (4, "OfxImageOpaque")])
def test_output_modes_and_their_premultiplication(host, mode, premultiplication):
    image, trimap, *_ = make_case(SIZE, band=3)
    inst = new_instance(host, outputMode=mode)
    status, prefs = host.clip_preferences(inst)
    assert status == OK and prefs["OfxImageEffectPropPreMultiplication"] == [premultiplication]
    host.set_image(inst, "Source", 0.0, **to_host(np.dstack([image, np.ones_like(trimap)])))
    host.set_image(inst, "Trimap", 0.0, **to_host(trimap[..., None]))
    out = render(host, inst)
    res = ofx_dipmatte.matte(image, trimap, preset=draft())
    a = res.alpha[..., None]
    expected = [np.dstack([res.foreground * a, a]), np.dstack([res.foreground, a]), np.repeat(a, 4, axis=2),
                np.dstack([res.background, np.ones_like(a)]),
                np.dstack([np.repeat(trimap[..., None], 3, axis=2), np.ones_like(a)])][mode]
    assert_close(out, expected.astype(np.float32))


def test_a_sequence_warm_starts_and_matches_a_clip_session(host):
    frames = [make_case(SIZE, band=3, seed=s) for s in range(3)]
    inst = new_instance(host, iterations=30, lossThreshold=0.0)
    session = ClipSession(preset=draft(30), seed=0)
    updates, steps = [], []
    for t, (image, trimap, *_) in enumerate(frames):
        host.set_image(inst, "Source", float(t), **to_host(np.dstack([image, np.ones_like(trimap)])))
        host.set_image(inst, "Trimap", float(t), **to_host(trimap[..., None]))
        before = host.progress(inst)["updates"]
        out = render(host, inst, float(t))
        updates.append(host.progress(inst)["updates"] - before)
        calls, res = host_updates(session, t, image, trimap)
        assert_close(out, expected_premultiplied(res, "float32", 4))
        assert (res.stats.warm_start_from is None) == (t == 0)
        assert updates[-1] == calls  # a step or an abort poll each
        steps.append(res.stats.iterations)
    # The cold frame runs to its cap; warm frames stop on the threshold.
    assert steps[0] == 30 and all(s < 30 for s in steps[1:]), steps
    assert all(u < updates[0] for u in updates[1:]), updates

    # A frame asked for again (same input and parameters) comes from the cache, without a solve.
    start = time.perf_counter()
    before = host.progress(inst)["updates"]
    again = render(host, inst, 2.0)
    assert host.progress(inst)["updates"] == before
    assert time.perf_counter() - start < 0.5
    assert_close(again, expected_premultiplied(res, "float32", 4))


@BOTH_ENGINES
def test_background_frames_show_the_solve_the_frames_around_it(host, engine):
    """Background frames = 2 at frame 1 of a 4-frame shot: the host is asked for frames
    0–3 (within the Source's range), the plugin fetches 0, 2 and 3, and the Output is the
    engine's matte of frame 1 with those frames shown first."""
    from conftest import moving_hair_shot

    images, trimaps, _, _ = moving_hair_shot(frames=4)
    inst = new_instance(host, engine=engine, preset=1, backgroundFrames=2)  # Balanced
    for t in range(4):
        host.set_image(inst, "Source", float(t), **to_host(np.dstack([images[t], np.ones_like(trimaps[t])])))
        host.set_image(inst, "Trimap", float(t), **to_host(trimaps[t][..., None]))
    status, needed = host.frames_needed(inst, 1.0)
    assert status == OK
    assert needed == {"OfxImageClipPropFrameRange_Source": [0.0, 3.0], "OfxImageClipPropFrameRange_Trimap": [0.0, 3.0]}
    out = render(host, inst, 1.0)
    assert host.fetched(inst, "Source") == [1.0, 0.0, 2.0, 3.0]  # the frame, then the nearest first
    assert host.fetched(inst, "Trimap") == [1.0, 0.0, 2.0, 3.0]
    # The progress bar moves while they are read (its first fifth), then with the solve.
    values = host.progress(inst)["values"]
    assert values[:3] == pytest.approx([0.0, 0.2 / 3, 0.4 / 3]) and values == sorted(values)
    assert all(0.2 <= v <= 1.0 for v in values[3:]) and len(values) > 3
    clip = ClipSession()
    for t in (0, 2, 3):
        clip.show_background(t, images[t], trimaps[t])
    expected = clip.matte(1, images[1], trimaps[1])
    assert expected.stats.background_frames == 3
    assert_close(out, expected_premultiplied(expected, "float32", 4))
    assert not np.allclose(expected.alpha, ofx_dipmatte.matte(images[1], trimaps[1]).alpha, atol=1e-3)

    # Independent frames (or Background frames 0) fetch nothing else and solve the frame alone.
    alone = ofx_dipmatte.matte(images[2], trimaps[2])
    for params in ({"independentFrames": 1}, {"backgroundFrames": 0}):
        other = new_instance(host, engine=engine, preset=1, **params)
        for t in range(4):
            host.set_image(other, "Source", float(t), **to_host(np.dstack([images[t], np.ones_like(trimaps[t])])))
            host.set_image(other, "Trimap", float(t), **to_host(trimaps[t][..., None]))
        assert host.frames_needed(other, 2.0)[0] == REPLY_DEFAULT
        assert_close(render(host, other, 2.0), expected_premultiplied(alone, "float32", 4))
        assert host.fetched(other, "Source") == [2.0]
        host.destroy_instance(other)
    host.destroy_instance(inst)


def test_only_presets_that_carry_the_background_ask_for_the_frames_around(host):
    """The plugin asks the host for (and fetches) the Background frames only with a preset
    whose engine definition carries a shot's background: with the others they would be
    fetched for nothing."""
    from conftest import moving_hair_shot

    images, trimaps, _, _ = moving_hair_shot(frames=3)
    for index, name in enumerate(["draft", "balanced", "paper", "dip"]):  # the Preset choice's order
        inst = new_instance(host, preset=index, backgroundFrames=1)
        for t in range(3):
            host.set_image(inst, "Source", float(t), **to_host(np.dstack([images[t], np.ones_like(trimaps[t])])))
            host.set_image(inst, "Trimap", float(t), **to_host(trimaps[t][..., None]))
        status, _ = host.frames_needed(inst, 1.0)
        assert (status == OK) == ofx_dipmatte.PRESETS[name].carry_background, name
        if name == "draft":  # a fast render: nothing fetched but the frame itself
            render(host, inst, 1.0)
            assert host.fetched(inst, "Source") == [1.0]
        host.destroy_instance(inst)


@BOTH_ENGINES
def test_background_frames_the_engine_cannot_use_are_skipped(host, engine):
    """A frame around the rendered one with NaN pixels (refused by the engine) or of
    another size (not covering the frame) only helps less: the render succeeds, with
    the frames that could be shown."""
    from conftest import moving_hair_shot

    images, trimaps, _, _ = moving_hair_shot(frames=4)
    inst = new_instance(host, engine=engine, preset=1, backgroundFrames=2)
    for t in range(4):
        image, trimap = images[t], trimaps[t]
        if t == 0:
            image = image.copy()
            image[5, 5] = np.nan
        if t == 3:
            image, trimap = image[:60, :60], trimap[:60, :60]
        host.set_image(inst, "Source", float(t), **to_host(np.dstack([image, np.ones_like(trimap)])))
        host.set_image(inst, "Trimap", float(t), **to_host(trimap[..., None]))
    out = render(host, inst, 1.0)
    assert host.fetched(inst, "Source") == [1.0, 0.0, 2.0, 3.0]
    clip = ClipSession()
    clip.show_background(2, images[2], trimaps[2])
    assert_close(out, expected_premultiplied(clip.matte(1, images[1], trimaps[1]), "float32", 4))
    host.destroy_instance(inst)


@BOTH_ENGINES
def test_abort_stops_a_long_solve_within_a_second(host, engine):
    image, trimap, *_ = make_case(48, band=6)
    inst = new_instance(host, iterations=100000, engine=engine)
    host.set_image(inst, "Source", 0.0, **to_host(np.dstack([image, np.ones_like(trimap)])))
    host.set_image(inst, "Trimap", 0.0, **to_host(trimap[..., None]))
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("status", host.render(inst, 0.0)))
    worker.start()
    time.sleep(1.5 if engine == "in_process" else 6.0)  # a new worker imports torch first
    assert worker.is_alive(), "the solve should still be running"
    aborted = time.perf_counter()
    host.abort(inst, True)
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert time.perf_counter() - aborted < 1.0
    assert result["status"] == FAILED
    assert host.persistent_message(inst) == ""  # an abort is not an error
    host.abort(inst, False)


@BOTH_ENGINES
def test_concurrent_renders_on_four_instances_match_single_threaded_results(host, engine):
    cases = [make_case(SIZE, band=3, seed=10 + i) for i in range(4)]

    def setup(i):
        image, trimap, *_ = cases[i]
        inst = new_instance(host, seed=i, engine=engine)
        host.set_image(inst, "Source", 0.0, **to_host(np.dstack([image, np.ones_like(trimap)])))
        host.set_image(inst, "Trimap", 0.0, **to_host(trimap[..., None]))
        return inst

    reference = []
    for i in range(4):
        inst = setup(i)
        reference.append(render(host, inst))
        host.destroy_instance(inst)

    instances = [setup(i) for i in range(4)]
    outputs: dict[int, list] = {i: [] for i in range(4)}
    errors = []

    def work(i):
        try:
            status, image = host.render_output(instances[i], 0.0)
            outputs[i].append((status, from_host(*image)))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k % 4,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert not errors
    for i in range(4):
        assert len(outputs[i]) == 2
        for status, out in outputs[i]:
            assert status == OK
            assert_close(out, reference[i])
    for inst in instances:
        host.destroy_instance(inst)


def test_trimap_input_problems_fail_with_a_message_that_says_what_to_do(host):
    image, trimap, *_ = make_case(SIZE, band=3)
    source = np.dstack([image, trimap])
    inst = new_instance(host)
    host.set_image(inst, "Source", 0.0, **to_host(source))
    assert host.render(inst, 0.0) == FAILED  # Trimap input not connected
    assert "Trimap input is not connected" in host.persistent_message(inst)

    host.set_image(inst, "Trimap", 0.0, **to_host(np.zeros((SIZE, SIZE, 1), np.float32)))
    assert host.render(inst, 0.0) == FAILED  # connected but black (DaVinci Resolve)
    assert "Use Trimap input" in host.persistent_message(inst)

    host.set_param(inst, "useTrimapInput", 0)  # then the trimap comes from the Source alpha
    out = render(host, inst)
    assert host.persistent_message(inst) == ""  # cleared by the good render
    res = ofx_dipmatte.matte(image, trimap, preset=draft())
    assert_close(out, expected_premultiplied(res, "float32", 4))

    rgb = new_instance(host, FILTER)
    host.set_image(rgb, "Source", 0.0, **to_host(image))
    assert host.render(rgb, 0.0) == FAILED
    assert "no alpha channel" in host.persistent_message(rgb)


@BOTH_ENGINES
def test_a_matte_the_artist_should_know_about_renders_with_a_warning_on_the_instance(host, engine):
    """A trimap with no known background still solves (B from the compositing equation
    alone): the render succeeds, and the engine's warning stays on the instance as a
    persistent warning until a render without one clears it."""
    image, trimap, *_ = make_case(SIZE, band=3)
    inst = new_instance(host, engine=engine)
    host.set_image(inst, "Source", 0.0, **to_host(np.dstack([image, np.ones_like(trimap)])))
    no_background = np.where(trimap == 0.0, 0.5, trimap).astype(np.float32)
    host.set_image(inst, "Trimap", 0.0, **to_host(no_background[..., None]))
    render(host, inst)
    assert "trimap has no known background" in host.persistent_message(inst)
    kind, _, text = host.messages(inst)[-1]
    assert kind == "OfxMessageWarning" and text == host.persistent_message(inst)
    host.set_image(inst, "Trimap", 0.0, **to_host(trimap[..., None]))
    render(host, inst)
    assert host.persistent_message(inst) == ""
    host.destroy_instance(inst)


def test_a_trimap_smaller_than_the_source_is_background_outside_its_bounds(host):
    """A Roto node's image covers its shapes' bounding box only; OFX has every image black
    outside its bounds, so the trimap is background there (it used to fail the render)."""
    image, trimap, *_ = make_case(SIZE, band=3)
    y0, y1, x0, x1 = 3, SIZE - 4, 2, SIZE - 5  # the Roto's bounds, inside the frame
    trimap = np.where(np.pad(np.ones((y1 - y0, x1 - x0), bool), ((y0, SIZE - y1), (x0, SIZE - x1))), trimap, 0)
    assert (trimap[y0:y1, x0:x1] == 0.5).any() and (trimap[y0:y1, x0:x1] == 1).any()
    inst = new_instance(host)
    host.set_output_format(inst, DEPTHS["float32"], "OfxImageComponentRGBA", top_down=False)
    host.set_image(inst, "Source", 0.0, **to_host(np.dstack([image, np.ones_like(trimap)])))
    # OFX rows count up from the bottom: the crop's bottom row is SIZE - y1 from the frame's
    host.set_image(inst, "Trimap", 0.0, **to_host(trimap[y0:y1, x0:x1, None], origin=(int(x0), int(SIZE - y1))))
    out = render(host, inst)
    assert host.persistent_message(inst) == ""
    res = ofx_dipmatte.matte(image, trimap, preset=draft(), seed=0)
    assert_close(out, expected_premultiplied(res, "float32", 4))
    host.destroy_instance(inst)


@BOTH_ENGINES
@pytest.mark.parametrize("value,says", [(np.nan, "NaN"), (1e20, "Clamp")])
def test_nan_or_absurd_pixels_fail_the_render_with_a_message(host, engine, value, says):
    image, trimap, *_ = make_case(SIZE, band=3)
    image[3, 4, 1] = value
    inst = new_instance(host, FILTER, engine=engine)
    host.set_image(inst, "Source", 0.0, **to_host(np.dstack([image, trimap])))
    assert host.render(inst, 0.0) == FAILED
    assert says in host.persistent_message(inst)


def random_invalid_layout(rng: np.random.Generator, image: np.ndarray) -> dict:
    """A host image whose properties are wrong in a way the plugin must detect."""
    layout = to_host(image)
    h, w = image.shape[:2]
    kind = rng.integers(6)
    if kind == 0:  # bounds inverted or empty
        x1, y1 = rng.integers(-50, 50, 2)
        layout["bounds"] = (int(x1), int(y1), int(x1 - rng.integers(0, 5)), int(y1 + h))
    elif kind == 1:
        layout["null_data"] = True
    elif kind == 2:
        layout["depth"] = rng.choice(["OfxBitDepthHalf", "OfxBitDepthNone", "", "float", "OfxBitDepthByte "])
    elif kind == 3:
        layout["components"] = rng.choice(["OfxImageComponentNone", "RGBA", "OfxImageComponentYUVA", ""])
    elif kind == 4:  # huge: more than any plate, claimed by a confused host
        big = int(rng.integers(1 << 16, 1 << 30))
        layout["bounds"] = (0, 0, big, int(rng.integers(1, 1 << 20)))
    else:  # rows shorter than a row of pixels
        layout["row_bytes"] = int(rng.integers(0, w * 16)) * (1 if rng.random() < 0.5 else -1)
    return layout


@BOTH_ENGINES
def test_200_random_invalid_image_layouts_are_rejected_cleanly(host, engine, worker_log):
    rng = np.random.default_rng(0)
    image, trimap, *_ = make_case(16, band=2)
    good = np.dstack([image, trimap]).astype(np.float32)
    inst = new_instance(host, FILTER, engine=engine)
    reached_worker = worker_renders(worker_log)
    # The host's Output keeps the project format whatever the Source claims.
    host.set_output_format(inst, "OfxBitDepthFloat", "OfxImageComponentRGBA", bounds=(0, 0, 16, 16))
    for i in range(200):
        layout = random_invalid_layout(rng, good)
        host.set_image(inst, "Source", 0.0, **layout)
        assert host.render(inst, 0.0) == FAILED, layout
        assert host.persistent_message(inst).startswith("ofx_dipmatte: "), layout
    assert _testhost.live_images() == 0
    assert worker_renders(worker_log) == reached_worker  # rejected before they reach any engine
    host.set_image(inst, "Source", 0.0, **to_host(good))  # and the instance still works
    render(host, inst)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (3, 3)])
def test_tiny_images_render_or_fail_cleanly(host, shape):
    h, w = shape
    trimap = np.full((h, w), 0.5, np.float32)
    trimap.flat[0] = 1.0
    source = np.dstack([np.full((h, w, 3), 0.4, np.float32), trimap])
    inst = new_instance(host, FILTER)
    host.set_image(inst, "Source", 0.0, **to_host(source))
    status = host.render(inst, 0.0)
    if status == OK:
        out = from_host(*host.output(inst))
        assert out.shape == (h, w, 4) and np.isfinite(out).all()
    else:
        assert host.persistent_message(inst).startswith("ofx_dipmatte: ")
    host.destroy_instance(inst)


def test_output_pixels_outside_the_source_are_cleared(host):
    image, trimap, *_ = make_case(SIZE, band=3)
    inst = new_instance(host, FILTER)
    host.set_image(inst, "Source", 0.0, **to_host(np.dstack([image, trimap]), origin=(4, 6)))
    # The host's Output is larger on every side (and starts as junk).
    host.set_output_format(inst, "OfxBitDepthFloat", "OfxImageComponentRGBA", bounds=(0, 0, SIZE + 10, SIZE + 9))
    status, raw = host.render_output(inst, 0.0)
    assert status == OK, host.persistent_message(inst)
    out = from_host(*raw)  # top-down: row 0 is y = SIZE + 8
    inside = out[SIZE + 9 - (6 + SIZE):SIZE + 9 - 6, 4:4 + SIZE]
    res = ofx_dipmatte.matte(image, trimap, preset=draft())
    assert_close(inside, expected_premultiplied(res, "float32", 4))
    outside = np.ones(out.shape[:2], bool)
    outside[SIZE + 9 - (6 + SIZE):SIZE + 9 - 6, 4:4 + SIZE] = False
    assert np.all(out[outside] == 0)
