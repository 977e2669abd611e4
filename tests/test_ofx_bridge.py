"""The bridge the plugin calls: parameters, trimap sources, output formatting, the
cache, and how errors are described to the host. No compiled parts needed."""

from __future__ import annotations

import numpy as np
import pytest

import ofx_dipmatte
from ofx_dipmatte.ofx.bridge import InstanceSession, RenderParams, describe_error, to_dtype, trimap_for

from conftest import make_case

PARAMS = dict(preset="draft", max_iterations=3, seed=0, trimap_source="trimap")


def test_params_apply_the_iteration_cap_and_threshold():
    cfg = RenderParams(preset="balanced", max_iterations=50, loss_threshold=0.01).solver_preset()
    assert cfg.max_iterations == 50 and cfg.warm_max_iterations == 50 and cfg.loss_threshold == 0.01
    default = RenderParams(preset="balanced").solver_preset()
    assert default == ofx_dipmatte.PRESETS["balanced"]
    with pytest.raises(ValueError, match="output mode"):
        RenderParams.from_dict({"output_mode": "composite"})


def test_to_dtype_clamps_and_rounds_integers_and_keeps_floats():
    values = np.array([[[-0.5, 0.0, 0.5, 1.0, 2.0]]], np.float32)
    assert to_dtype(values, "uint8").tolist() == [[[0, 0, 128, 255, 255]]]
    assert to_dtype(values, "uint16").tolist() == [[[0, 0, 32768, 65535, 65535]]]
    np.testing.assert_array_equal(to_dtype(values, "float32"), values)


def test_trimap_sources():
    image, trimap, alpha, *_ = make_case(16, band=2)
    rgba = np.dstack([image, trimap])
    np.testing.assert_array_equal(trimap_for(rgba, trimap[..., None], RenderParams()), trimap)
    np.testing.assert_array_equal(trimap_for(rgba, None, RenderParams(trimap_source="source_alpha")), trimap)
    rough = trimap_for(np.dstack([image, alpha]), None,
                       RenderParams(trimap_source="source_alpha_rough", band=4, render_scale=0.5))
    np.testing.assert_array_equal(rough, ofx_dipmatte.trimap_from_rough_matte(alpha, band=2))
    # a Roto's alpha handed on as RGBA with black colour: the trimap is its alpha
    in_alpha = np.dstack([np.zeros_like(image), trimap])
    np.testing.assert_array_equal(trimap_for(rgba, in_alpha, RenderParams()), trimap)
    # colour that holds the trimap wins over an alpha that is something else
    np.testing.assert_array_equal(trimap_for(rgba, np.dstack([np.repeat(trimap[..., None], 3, 2), 1 - trimap]),
                                             RenderParams()), trimap)
    with pytest.raises(ValueError, match="black everywhere"):  # black in every channel
        trimap_for(rgba, np.zeros((16, 16, 4), np.float32), RenderParams())
    with pytest.raises(ValueError, match="not connected"):
        trimap_for(rgba, None, RenderParams())
    with pytest.raises(ValueError, match="black everywhere"):
        trimap_for(rgba, np.zeros((16, 16, 1), np.uint8), RenderParams())
    with pytest.raises(ValueError, match="no alpha channel"):
        trimap_for(image, None, RenderParams(trimap_source="source_alpha"))


def test_the_cache_returns_solved_frames_and_stays_bounded():
    session = InstanceSession(max_cached=2)
    frames = [make_case(16, band=2, seed=s) for s in range(3)]

    def render(t):
        image, trimap, *_ = frames[t]
        return session.render(t, image, trimap[..., None], PARAMS, lambda f: True, 16, 16, 4, "float32")

    first = render(0)
    np.testing.assert_array_equal(render(0), first)
    assert session.solves == 1
    render(1), render(2)
    assert session.solves == 3
    render(0)  # evicted by the two later frames: solved again
    assert session.solves == 4
    session.purge()
    render(2)
    assert session.solves == 5


def test_a_held_or_repeated_picture_is_solved_once():
    """A timeline that holds a picture, or shows a clip's pictures twice each (as melt's
    image producer with ``ttl=2`` does), asks for the same pixels at other times: every showing
    gets the first one's matte, with no second solve (which would meet a carried
    background holding the first one's, and change alpha: test_clip.py), and a new
    picture is solved."""
    from conftest import moving_hair_shot

    images, trimaps, _, _ = moving_hair_shot(frames=2)
    session = InstanceSession()

    def render(t, picture):
        return session.render(t, images[picture], trimaps[picture][..., None], dict(preset="balanced"),
                              lambda f: True, 72, 72, 4, "float32")

    first = render(0, 0)
    np.testing.assert_array_equal(render(1, 0), first)
    assert session.solves == 1
    second = render(2, 1)
    np.testing.assert_array_equal(render(3, 1), second)
    assert session.solves == 2
    # Out of order too: the cache holds the picture, whichever was solved last.
    np.testing.assert_array_equal(render(4, 0), first)
    assert session.solves == 2


def test_a_host_abort_cancels_the_render():
    image, trimap, *_ = make_case(16, band=2)
    session = InstanceSession()
    with pytest.raises(ofx_dipmatte.Cancelled) as caught:
        session.render(0, image, trimap[..., None], PARAMS, lambda f: False, 16, 16, 4, "float32")
    assert describe_error(caught.value)[0] == "cancelled"


def test_errors_are_described_for_the_artist():
    assert describe_error(ValueError("image: 1 pixel(s) contain NaN"))[0] == "input"
    assert describe_error(MemoryError())[0] == "memory"
    kind, message = describe_error(RuntimeError("boom"))
    assert kind == "error" and "ofx-dipmatte doctor" in message


def test_the_trimap_view_shows_the_snapped_trimap_without_solving():
    image, trimap, *_ = make_case(16, band=2)
    noisy = np.clip(trimap + np.where(trimap == 0.5, 0.0, 0.01) * np.sign(0.5 - trimap), 0, 1)
    session = InstanceSession()
    out = session.render(0, image, noisy[..., None], dict(PARAMS, output_mode="trimap"),
                         lambda f: True, 16, 16, 4, "float32")
    assert session.solves == 0
    np.testing.assert_array_equal(out[..., 0], trimap)
    np.testing.assert_array_equal(out[..., 3], 1.0)


def test_independent_frames_carry_no_background_from_earlier_renders():
    from conftest import moving_hair_shot

    images, trimaps, _, _ = moving_hair_shot(frames=2)

    def second_frame(**params) -> np.ndarray:
        session = InstanceSession()
        for t in (0, 1):
            out = session.render(t, images[t], trimaps[t][..., None], dict(preset="balanced", **params),
                                 lambda f: True, 72, 72, 4, "float32")
        return out.reshape(72, 72, 4)[..., 3]

    alone = ofx_dipmatte.matte(images[1], trimaps[1]).alpha
    assert np.allclose(second_frame(independent_frames=True), alone, atol=1e-6)
    assert not np.allclose(second_frame(), alone, atol=1e-3)  # the default carries frame 0's background


def test_keep_smooth_mattes_reaches_the_preset():
    params = RenderParams.from_dict(dict(preset="balanced", keep_smooth_mattes=False, max_iterations=7))
    assert not params.solver_preset().keep_smooth_mattes and params.solver_preset().max_iterations == 7
    # On by default, as in the default preset.
    assert RenderParams.from_dict(dict(preset="balanced")).solver_preset().keep_smooth_mattes


def test_shown_frames_give_the_solve_their_background():
    """What the plugin's Background frames send: a frame shown (``show_only``) serves the
    solve as :meth:`ClipSession.show_background` does, and returns nothing."""
    from conftest import moving_hair_shot

    images, trimaps, _, _ = moving_hair_shot(frames=3)
    session = InstanceSession()
    for t in (1, 2):
        shown = session.render(t, images[t], trimaps[t][..., None], dict(preset="balanced", show_only=True),
                               lambda f: True, 0, 0, 0, "float32")
        assert shown is None
    out = session.render(0, images[0], trimaps[0][..., None], dict(preset="balanced"),
                         lambda f: True, 72, 72, 4, "float32")
    clip = ofx_dipmatte.ClipSession()
    for t in (1, 2):
        clip.show_background(t, images[t], trimaps[t])
    expected = clip.matte(0, images[0], trimaps[0])
    assert expected.stats.background_frames == 2
    np.testing.assert_allclose(out.reshape(72, 72, 4)[..., 3], expected.alpha, atol=1e-6)
    assert not np.allclose(expected.alpha, ofx_dipmatte.matte(images[0], trimaps[0]).alpha, atol=1e-3)
    assert session.solves == 1


def test_a_frame_shown_again_unchanged_is_not_converted_again(monkeypatch):
    """A host hands every Background frame again at each render: the same pixels (and
    parameters) are recognised before any conversion, while the clip still holds that
    frame's background; other pixels, or a stack started over, are shown again."""
    from conftest import moving_hair_shot

    images, trimaps, _, _ = moving_hair_shot(frames=2)
    shown: list[float] = []
    original = ofx_dipmatte.ClipSession.show_background

    def counting(self, frame, image, trimap):
        shown.append(frame)
        original(self, frame, image, trimap)

    monkeypatch.setattr(ofx_dipmatte.ClipSession, "show_background", counting)
    session = InstanceSession()
    show = dict(preset="balanced", show_only=True)

    def send(image: np.ndarray, **params) -> None:
        session.render(1, image, trimaps[1][..., None], dict(show, **params), lambda f: True, 0, 0, 0, "float32")

    send(images[1])
    send(images[1])
    assert shown == [1] and session._clip is not None and session._clip.holds_background(1)
    send(images[1], band=12.0)  # other parameters: shown again
    assert shown == [1, 1]
    changed = images[1].copy()
    changed[0, 0] = 1.0 - changed[0, 0]
    send(changed)  # other pixels: shown again (the engine then starts its stack over)
    assert shown == [1, 1, 1]
    session._clip._background.clear()
    send(changed)
    assert shown == [1, 1, 1, 1] and session._clip.holds_background(1)


def test_shown_frames_are_ignored_when_nothing_is_carried():
    from conftest import moving_hair_shot

    images, trimaps, _, _ = moving_hair_shot(frames=2)
    session = InstanceSession()
    for params in (dict(preset="balanced", independent_frames=True), dict(PARAMS)):
        assert session.render(1, images[1], None, dict(params, show_only=True), lambda f: True,
                              0, 0, 0, "float32") is None  # not even the trimap is read
    assert session._clip is None
