"""ofx_dipmatte.matte on small synthetic cases with ground truth."""

import numpy as np
import pytest
import torch

import ofx_dipmatte
from ofx_dipmatte.engine.closed_form import closed_form_alpha
from conftest import make_bright_case, make_case, make_hair_case, make_smoke_case

# Small and quick, same structure as the shipped presets.
FAST = ofx_dipmatte.PRESETS["dip"].replace(name="test", max_iterations=120)
# The paper's method alone (no closed-form prior), narrow nets so it fits in a test.
PAPER_SMALL = ofx_dipmatte.PRESETS["paper"].replace(
    name="paper-small", width=32, fb_width=32, max_iterations=400, lr=5e-3, bf16=False)


def sad(alpha, truth, region):
    return float(np.abs(alpha - truth)[region].sum())


@pytest.fixture(scope="module")
def solved(case64):
    image, trimap, *_ = case64
    return ofx_dipmatte.matte(image, trimap, preset=FAST, device="cpu", seed=0)


def test_alpha_beats_constant_half_by_wide_margin(case64, solved):
    _, trimap, alpha, *_ = case64
    band = trimap == 0.5
    assert sad(solved.alpha, alpha, band) < 0.25 * sad(np.full_like(alpha, 0.5), alpha, band)


def test_paper_method_without_prior_learns_the_matte(case64):
    image, trimap, alpha, *_ = case64
    res = ofx_dipmatte.matte(image, trimap, preset=PAPER_SMALL, device="cpu")
    band = trimap == 0.5
    assert sad(res.alpha, alpha, band) < 0.5 * sad(np.full_like(alpha, 0.5), alpha, band)
    assert res.stats.stop_reason == "max_iterations" and res.stats.iterations == 400


def test_alpha_is_exactly_the_trimap_in_known_region(case64, solved):
    _, trimap, *_ = case64
    known = trimap != 0.5
    np.testing.assert_array_equal(solved.alpha[known], trimap[known])
    assert solved.alpha.dtype == np.float32 and solved.alpha.min() >= 0 and solved.alpha.max() <= 1


def test_compositing_equation_holds_in_band(case64, solved):
    image, trimap, *_ = case64
    band = trimap == 0.5
    a = solved.alpha[..., None]
    composite = a * solved.foreground + (1 - a) * solved.background
    err = np.abs(composite - image)[band]
    assert err.mean() < 0.03
    # and it is a real fit: far better than compositing with a constant alpha
    half = 0.5 * solved.foreground + 0.5 * solved.background
    assert err.mean() < 0.5 * np.abs(half - image)[band].mean()


def test_outputs_and_stats(case64, solved):
    image, trimap, *_ = case64
    assert solved.foreground.shape == image.shape and solved.background.shape == image.shape
    np.testing.assert_array_equal(solved.foreground[trimap == 1], image[trimap == 1])
    np.testing.assert_array_equal(solved.background[trimap == 0], image[trimap == 0])
    s = solved.stats
    assert s.iterations == 120 and s.seconds > 0 and s.stop_reason == "max_iterations"
    assert set(["image", "alpha", "fg", "bg", "comp", "excl", "total"]) <= set(s.losses)
    assert s.warm_start_from is None and s.device == "cpu"


def test_same_seed_same_result_and_other_seed_differs(case64):
    image, trimap, *_ = case64
    cfg = FAST.replace(max_iterations=20)
    a = ofx_dipmatte.matte(image, trimap, preset=cfg, seed=3)
    b = ofx_dipmatte.matte(image, trimap, preset=cfg, seed=3)
    c = ofx_dipmatte.matte(image, trimap, preset=cfg, seed=4)
    np.testing.assert_array_equal(a.alpha, b.alpha)
    np.testing.assert_array_equal(a.foreground, b.foreground)
    assert not np.array_equal(a.foreground, c.foreground)


def test_global_torch_rng_is_left_alone(case64):
    image, trimap, *_ = case64
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ofx_dipmatte.matte(image, trimap, preset=FAST.replace(max_iterations=2))
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())


def test_integer_rgba_and_odd_sizes():
    image, trimap, alpha, *_ = make_case(70)
    image, trimap = image[:50], trimap[:50]
    rgba = np.concatenate([image, np.zeros_like(image[..., :1])], axis=2)
    u8 = np.round(rgba * 255).astype(np.uint8)
    tri8 = np.round(trimap * 255).astype(np.uint8)  # 0 / 128 / 255
    res = ofx_dipmatte.matte(u8, tri8, preset=FAST.replace(max_iterations=30))
    assert res.alpha.shape == (50, 70) and res.foreground.shape == (50, 70, 3)
    known = trimap != 0.5
    np.testing.assert_array_equal(res.alpha[known], trimap[known])


def test_scene_linear_float_keeps_caller_encoding(case64):
    image, trimap, *_ = case64
    hdr = image * 6.0  # highlights well above 1
    res = ofx_dipmatte.matte(hdr, trimap, preset=FAST.replace(max_iterations=60))
    np.testing.assert_array_equal(res.foreground[trimap == 1], hdr[trimap == 1])
    band = trimap == 0.5
    # The solved foreground is decoded back to the plate's scale, not left in [0, 1).
    assert res.foreground[band].max() > 1.5


def test_no_unknown_pixels_returns_trimap_without_solving(case64):
    image, *_ = case64
    trimap = np.zeros(image.shape[:2], np.float32)
    trimap[:, 32:] = 1.0
    res = ofx_dipmatte.matte(image, trimap)
    np.testing.assert_array_equal(res.alpha, trimap)
    assert res.stats.iterations == 0 and res.stats.stop_reason == "no_unknown"


@pytest.mark.parametrize("level,missing", [(1.0, "foreground"), (0.0, "background")])
def test_trimap_without_foreground_or_background_still_solves(case64, level, missing):
    image, trimap, *_ = case64
    tri = np.where(trimap == level, 0.5, trimap).astype(np.float32)
    res = ofx_dipmatte.matte(image, tri, preset=FAST.replace(max_iterations=10))
    assert np.all(np.isfinite(res.alpha)) and res.stats.iterations == 10
    assert any(missing in w for w in res.stats.warnings)


def test_progress_reports_and_cancels(case64):
    image, trimap, *_ = case64
    seen = []

    def progress(i, total, losses):
        seen.append((i, total, losses["total"]))
        return i < 3

    with pytest.raises(ofx_dipmatte.Cancelled):
        ofx_dipmatte.matte(image, trimap, preset=FAST, progress=progress)
    assert [s[0] for s in seen] == [1, 2, 3] and seen[0][1] == FAST.max_iterations


@pytest.mark.parametrize("image,trimap,match", [
    (np.zeros((8, 8, 3), np.float32), np.zeros((8, 9), np.float32), "does not match"),
    (np.zeros((0, 8, 3), np.float32), np.zeros((0, 8), np.float32), "empty"),
    (np.full((8, 8, 3), np.nan, np.float32), np.zeros((8, 8), np.float32), "NaN"),
    (np.zeros((8, 8, 3), np.float32), np.full((8, 8), np.nan, np.float32), "NaN"),
    (np.zeros((8, 8, 5), np.float32), np.zeros((8, 8), np.float32), "image"),
    (np.zeros((8, 8, 2), np.float32), np.zeros((8, 8), np.float32), "image"),
])
def test_bad_input_raises_clear_value_error(image, trimap, match):
    with pytest.raises(ValueError, match=match):
        ofx_dipmatte.matte(image, trimap)


def test_bad_preset_and_device(case64):
    image, trimap, *_ = case64
    with pytest.raises(ValueError, match="preset"):
        ofx_dipmatte.matte(image, trimap, preset="fastest")
    with pytest.raises(ValueError, match="device"):
        ofx_dipmatte.matte(image, trimap, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            ofx_dipmatte.matte(image, trimap, device="cuda")


def test_a_preset_name_can_change_its_fields(case64):
    from ofx_dipmatte.engine.presets import resolve_preset, with_limits

    # Values other than the preset's own, so a change that was not applied shows.
    cfg = resolve_preset("balanced: keep_smooth_mattes=false, trusted_passes=1,loss_threshold=0.02")
    assert cfg == ofx_dipmatte.PRESETS["balanced"].replace(
        name="balanced: keep_smooth_mattes=false, trusted_passes=1,loss_threshold=0.02",
        keep_smooth_mattes=False, trusted_passes=1, loss_threshold=0.02)
    assert resolve_preset("balanced:loss_threshold=0.02,loss_threshold=none").loss_threshold is None
    assert resolve_preset("draft:") is ofx_dipmatte.PRESETS["draft"]
    limited = with_limits("draft:lr=2e-3,restore_chroma=off", max_iterations=5)
    assert (limited.lr, limited.restore_chroma, limited.max_iterations) == (2e-3, False, 5)
    image, trimap, *_ = case64
    by_name = ofx_dipmatte.matte(image, trimap, preset="balanced:trusted_passes=0").alpha
    by_preset = ofx_dipmatte.matte(image, trimap,
                                   preset=ofx_dipmatte.PRESETS["balanced"].replace(trusted_passes=0)).alpha
    np.testing.assert_array_equal(by_name, by_preset)
    for bad, message in (("balanced:nope=1", "not FIELD=VALUE"), ("balanced:remove_leaks", "not FIELD=VALUE"),
                         ("balanced:weights=1", "not FIELD=VALUE"), ("balanced:remove_leaks=maybe", "true or false"),
                         ("balanced:trusted_passes=2.5", "whole number"), ("balanced:lr=fast", "a number"),
                         ("balanced:trusted_passes=-1", "trusted_passes must be"),
                         ("balanced:alpha_prior=magic", "unknown alpha_prior"), ("quick:lr=1", "unknown preset")):
        with pytest.raises(ValueError, match=message):
            resolve_preset(bad)


def test_a_cancel_reaches_the_closed_form_prior(case64):
    image, trimap, *_ = case64
    polls = []

    def should_stop():
        polls.append(1)
        return True

    session = ofx_dipmatte.ClipSession(preset=FAST)
    with pytest.raises(ofx_dipmatte.Cancelled, match="closed-form"):
        session.matte(0, image, trimap, progress=lambda *a: pytest.fail("no step should run"),
                      should_stop=should_stop)
    assert polls


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU that torch sees")
def test_cuda_solves_a_tiled_clip_like_the_cpu():
    """The CUDA path end to end: nets on the GPU, tiles with their own warm start. Kernels
    and bf16 differ from the CPU's, so the mattes agree closely, not to the bit."""
    preset = FAST.replace(max_iterations=40, warm_max_iterations=20, tile_size=64, margin=16)
    image, trimap, alpha, *_ = make_case(192, band=6)
    mattes = {}
    for device in ("cpu", "cuda"):
        session = ofx_dipmatte.ClipSession(preset, device=device)
        cold = session.matte(0, image, trimap)
        warm = session.matte(1, np.roll(image, 2, axis=1), np.roll(trimap, 2, axis=1))
        assert cold.stats.tiles > 1 and warm.stats.warm_start_from == 0
        assert cold.stats.device.startswith(device)
        mattes[device] = cold.alpha
    band = trimap == 0.5
    assert np.abs(mattes["cuda"] - mattes["cpu"])[band].mean() < 0.05
    assert np.array_equal(mattes["cuda"][~band], trimap[~band])


def test_display_referred_float_gets_the_matte_of_its_integer_pixels():
    # Hosts hand a PNG on as float: the default must not bend it through the knee the
    # networks need (through it, natron_check.py's bright disc scored 443 against 382).
    image, trimap, _ = make_hair_case(seed=0)
    pixels = np.round(image * 255).astype(np.uint8)
    from_integers = ofx_dipmatte.matte(pixels, trimap)
    from_floats = ofx_dipmatte.matte(pixels / np.float32(255), trimap)
    np.testing.assert_array_equal(from_floats.alpha, from_integers.alpha)
    np.testing.assert_array_equal(from_floats.foreground, from_integers.foreground)


def test_draft_s_nets_start_from_the_default_s_matte():
    """Draft is a quick look at what the nets do to Balanced's matte: from closed-form's
    (as before the forty-seventh session) its matte was about closed-form's."""
    image, trimap, alpha = make_bright_case(160, seed=0)
    band = trimap == 0.5
    draft = ofx_dipmatte.matte(image, trimap, preset=ofx_dipmatte.PRESETS["draft"].replace(max_iterations=3),
                               device="cpu")
    balanced = ofx_dipmatte.matte(image, trimap)
    closed_form = closed_form_alpha(image, trimap)
    # Measured 61.0 against Balanced's 58.1 and closed-form's 171.5 (from closed-form's matte: 180.0).
    assert sad(draft.alpha, alpha, band) < 1.1 * sad(balanced.alpha, alpha, band)
    assert sad(draft.alpha, alpha, band) < 0.5 * sad(closed_form, alpha, band)


def test_a_host_s_float_copy_of_an_8_bit_frame_gives_the_nets_the_prior_of_its_integers():
    """Hosts hand PNGs on as float. The nets see a float frame through the knee, but their
    prior is solved on the frame's own values, as Balanced's matte is: through the knee, a
    pale subject's prior was bent (natron_check.py's image in NatronRenderer: Draft's SAD
    410.6 against 354.7 from the PNG's integers)."""
    image, trimap, _ = make_bright_case(160, seed=0)
    pixels = np.round(image * 255).astype(np.uint8)
    cfg = ofx_dipmatte.PRESETS["draft"].replace(max_iterations=3)
    from_integers = ofx_dipmatte.matte(pixels, trimap, preset=cfg, device="cpu")
    from_floats = ofx_dipmatte.matte(pixels / np.float32(255), trimap, preset=cfg, device="cpu")
    # Measured 0.0009 (the nets' three steps on the two encodings); with the prior through the knee, 0.081.
    assert np.abs(from_floats.alpha - from_integers.alpha).max() < 0.01


def test_the_default_gets_one_matte_at_every_exposure():
    """Scene-linear plates come darker (mid grey at 0.18) or brighter than display-referred
    frames: the classical chain sees each at one level (engine/exposure.py), so the matte
    does not depend on the exposure, and the colours come back on the plate's own scale."""
    image, trimap, alpha = make_hair_case(seed=0)
    band = trimap == 0.5
    at_one = ofx_dipmatte.matte(image, trimap)
    error = lambda res: np.abs(res.alpha - alpha)[band].sum()  # noqa: E731
    for gain in (1 / 16, 0.3, 2.7):  # four stops down to more than one up: the subject above 1
        other = ofx_dipmatte.matte(image * np.float32(gain), trimap)
        # Measured: max |Δα| 0 at 1/16 (a power of two scales exactly), 1.1e-6 at 0.3 and 2.7.
        # Seen as they were (before engine/exposure.py): 0.23 at 1/16, SAD 1.39× that at 1.
        assert np.abs(other.alpha - at_one.alpha).max() < 1e-4
        assert abs(error(other) - error(at_one)) < 0.002 * error(at_one)
        composed = other.alpha[..., None] * other.foreground + (1 - other.alpha[..., None]) * other.background
        assert np.abs(composed - image * gain)[band].mean() < 0.01 * gain
        assert np.allclose(other.foreground[band], at_one.foreground[band] * gain, rtol=1e-3, atol=1e-3 * gain)


def test_a_dark_eight_bit_frame_keeps_its_laplacian_to_its_steps(monkeypatch):
    """A dark 8-bit frame is brightened to the solve's level like any other, but the
    Laplacian's ε grows with its steps (engine/exposure.py): brightened with ε as it is,
    a smooth picture's steps count as detail. Integers and their floats are one frame."""
    from ofx_dipmatte.engine import frame_solve

    image, trimap, alpha, _ = make_smoke_case(seed=2)
    pixels = np.round(image * 0.3 * 255).astype(np.uint8)  # smoke over flat cells, 0.3 of its level
    band = trimap == 0.5
    error = lambda res: np.abs(res.alpha - alpha)[band].sum()  # noqa: E731
    as_integers = ofx_dipmatte.matte(pixels, trimap)
    as_floats = ofx_dipmatte.matte(pixels / np.float32(255), trimap)
    assert np.abs(as_integers.alpha - as_floats.alpha).max() < 1e-6
    monkeypatch.setattr(frame_solve, "in_eight_bit_steps", lambda image: False)
    brightened = ofx_dipmatte.matte(pixels, trimap)
    # Measured 443.6 against 485.1.
    assert error(as_integers) < 0.95 * error(brightened)


def test_a_bright_sky_or_a_dark_corner_elsewhere_in_the_frame_leaves_the_matte_alone():
    """Scene-linear frames span a wide range. The level a solve sees the frame at is set by
    the known pixels beside the band, so a window onto the sky at 4.0 (or a corner at 0.01)
    beyond 96 px of background does not change the subject's matte; set by the RMS of the
    frame's known pixels, the sky set the gain (0.16 against 1.05 without it)."""
    image, trimap, alpha = make_hair_case(seed=0)
    h, w = trimap.shape
    background = image[trimap == 0].mean(axis=0)

    def framed(far) -> np.ndarray:
        wide = np.concatenate([image, np.broadcast_to(background, (h, 96, 3)),
                               np.full((h, 2 * w, 3), far, np.float32)], axis=1).astype(np.float32)
        wide_trimap = np.concatenate([trimap, np.zeros((h, 96 + 2 * w), np.float32)], axis=1)
        return ofx_dipmatte.matte(wide, wide_trimap).alpha[:, :w]

    plain = framed(background)
    assert np.abs(framed(4.0) - plain).max() < 1e-4
    assert np.abs(framed(0.01) - plain).max() < 1e-4


def test_a_firefly_in_the_band_still_gives_a_matte():
    """A render's firefly (10⁸ in one band pixel of a float plate) stopped the default with
    "a window's covariance is not positive definite"; now its windows are regularised to
    their own scale (kernels/matting_laplacian.cpp) and the frame solves."""
    image, trimap, alpha = make_hair_case(seed=0)
    band = trimap == 0.5
    plain = ofx_dipmatte.matte(image, trimap)
    y, x = np.argwhere(band)[len(np.argwhere(band)) // 2]
    image = image.copy()
    image[y, x] = 1e8
    res = ofx_dipmatte.matte(image, trimap)
    assert np.isfinite(res.foreground).all() and np.isfinite(res.background).all()
    error = lambda a: np.abs(a - alpha)[band].sum()  # noqa: E731
    assert error(res.alpha) < 1.1 * error(plain.alpha)


def test_the_package_ships_its_types():
    """py.typed in the installed package: type checkers then read its annotations."""
    import importlib.resources

    assert importlib.resources.files("ofx_dipmatte").joinpath("py.typed").is_file()


def test_a_grey_image_is_its_grey_in_every_channel(case64):
    """H×W (and H×W×1) images are grey plates: the matte of the grey repeated in R, G, B,
    in a still and in a clip that carries its background."""
    image, trimap = case64[0], case64[1]
    grey = image.mean(axis=2)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    expected = ofx_dipmatte.matte(rgb, trimap).alpha
    np.testing.assert_array_equal(ofx_dipmatte.matte(grey, trimap).alpha, expected)
    np.testing.assert_array_equal(ofx_dipmatte.matte(grey[..., None], trimap).alpha, expected)
    session = ofx_dipmatte.ClipSession()
    session.show_background(1, grey, trimap)
    for frame in (0, 1):
        session.matte(frame, grey, trimap)
    with pytest.raises(ValueError, match="grey"):
        ofx_dipmatte.matte(np.dstack([grey, grey]), trimap)  # two channels: neither grey nor colour
