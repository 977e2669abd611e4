"""engine/colour_estimate.py: F fitted to a sharpened matte, where the background is the busier layer."""

import numpy as np
from scipy import ndimage

from ofx_dipmatte.engine.colour_estimate import estimate_colours, sharpen_matte
from ofx_dipmatte.engine.foreground import estimate_foreground_background

SIZE = 64


def strands() -> np.ndarray:
    """Vertical strands two pixels wide (alpha 0.9 and 0.5) every 8 px, known foreground at the left."""
    alpha = np.zeros((SIZE, SIZE), np.float32)
    for x in range(6, SIZE - 6, 8):
        alpha[:, x], alpha[:, x + 1] = 0.9, 0.5
    alpha[:, :3] = 1.0
    return alpha


def composite(fg_texture: float, bg_texture: float, seed: int = 0):
    """The strands in one colour over another, each with grain of the given strength, and
    the matte blurred as closed-form's is (strands washed out, their alpha too low)."""
    rng = np.random.default_rng(seed)
    truth = strands()
    fg = np.clip(np.array([0.8, 0.5, 0.2], np.float32) + fg_texture * rng.standard_normal((SIZE, SIZE, 3)), 0, 1)
    bg = np.clip(np.array([0.2, 0.3, 0.6], np.float32) + bg_texture * rng.standard_normal((SIZE, SIZE, 3)), 0, 1)
    image = (truth[..., None] * fg + (1 - truth[..., None]) * bg).astype(np.float32)
    smooth = ndimage.gaussian_filter(truth, 1.0)
    smooth[:, :3] = 1.0
    return image, fg.astype(np.float32), bg.astype(np.float32), truth, smooth


def foreground_error(estimate: np.ndarray, fg: np.ndarray, truth: np.ndarray) -> float:
    where = truth > 0.3
    return float((np.abs(estimate - fg).sum(-1) * truth)[where].sum())


def test_sharpening_raises_strands_lowers_their_flanks_and_keeps_known_pixels():
    _, _, _, truth, smooth = composite(0.0, 0.0)
    sharp = sharpen_matte(smooth, 0.5)
    assert sharp.min() >= 0.0 and sharp.max() <= 1.0
    known = (smooth == 0.0) | (smooth == 1.0)
    np.testing.assert_array_equal(sharp[known], smooth[known])
    assert (sharp[:, 14] > smooth[:, 14]).all()  # a strand's core (true alpha 0.9)
    assert (sharp[:, 12] < smooth[:, 12]).all()  # beside it (true alpha 0)
    np.testing.assert_array_equal(sharpen_matte(smooth, 0.0), smooth)


def test_foreground_fitted_to_the_sharpened_matte_overshoots_less():
    """Under a too-smooth matte, F explains the strands with too much colour; fitted to
    the sharpened matte it is closer to the truth, and so is the mix the estimate returns."""
    image, fg, _, truth, smooth = composite(0.0, 0.15)
    plain, plain_bg = estimate_foreground_background(image, smooth)
    sharp, _ = estimate_foreground_background(image, sharpen_matte(smooth, 0.5))
    mixed, bg = estimate_colours(image, smooth, 0.5)
    assert foreground_error(sharp, fg, truth) < 0.95 * foreground_error(plain, fg, truth)
    assert foreground_error(mixed, fg, truth) < 0.98 * foreground_error(plain, fg, truth)
    np.testing.assert_array_equal(bg, plain_bg)  # B is the plain estimate's


def test_the_sharpened_foreground_is_taken_where_the_background_is_the_busier_layer():
    def share(fg_texture: float, bg_texture: float) -> float:
        image, _, _, _, smooth = composite(fg_texture, bg_texture)
        plain, _ = estimate_foreground_background(image, smooth)
        sharp, _ = estimate_foreground_background(image, sharpen_matte(smooth, 0.5))
        mixed, _ = estimate_colours(image, smooth, 0.5)
        return float(np.abs(mixed - plain).sum() / np.abs(sharp - plain).sum())

    busy_background, busy_foreground = share(0.0, 0.15), share(0.15, 0.0)
    assert 0.0 < busy_foreground < busy_background < 1.0
    assert busy_background > 2 * busy_foreground


def test_the_sharpened_foreground_is_not_taken_where_the_matte_was_already_right():
    """Noise-free strands under their true matte: sharpening overshoots, the smooth F
    then explains the pixels worse than the plain one, and the estimate keeps the plain
    F; under the blurred matte the sharpened F explains them better and is taken."""
    image, _, _, truth, smooth = composite(0.0, 0.0)

    def share(matte: np.ndarray) -> float:
        plain, _ = estimate_foreground_background(image, matte)
        sharp, _ = estimate_foreground_background(image, sharpen_matte(matte, 0.5))
        mixed, _ = estimate_colours(image, matte, 0.5)
        return float(np.abs(mixed - plain).sum() / np.abs(sharp - plain).sum())

    assert share(truth) < 0.02 and share(smooth) > 0.15  # measured 0.000 and 0.235


def test_plain_estimate_when_off():
    image, _, bg, _, smooth = composite(0.05, 0.15)
    for plate in (None, bg):
        expected = estimate_foreground_background(image, smooth, background=plate)
        got = estimate_colours(image, smooth, 0.0, background=plate)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])


def test_under_a_clean_plate_the_foreground_is_sharpened_too_and_b_is_the_plate():
    # B seen does not make closed-form's matte any less washed out: F still overshoots
    # under it, and the sharpened F makes up less, as without a plate.
    image, fg, bg, truth, smooth = composite(0.01, 0.15)
    plain_fg, plain_bg = estimate_foreground_background(image, smooth, background=bg)
    got_fg, got_bg = estimate_colours(image, smooth, 1.0, background=bg)
    np.testing.assert_array_equal(got_bg, plain_bg)
    assert not np.array_equal(got_fg, plain_fg)
    assert foreground_error(got_fg, fg, truth) < 0.92 * foreground_error(plain_fg, fg, truth)  # measured 0.85


def test_where_a_plate_with_holes_does_not_cover_f_is_estimated_as_without_one():
    image, _, bg, _, smooth = composite(0.05, 0.15)
    covers = np.zeros((SIZE, SIZE), bool)
    covers[:, SIZE // 2:] = True  # the plate shows the right half's background
    wanted = smooth < 1.0
    fg, got_bg = estimate_colours(image, smooth, 0.5, background=bg, background_known=covers, wanted=wanted)
    free_fg, _ = estimate_colours(image, smooth, 0.5, wanted=wanted)
    under_fg, under_bg = estimate_colours(image, smooth, 0.5, background=bg, background_known=covers,
                                          wanted=wanted & covers)
    np.testing.assert_array_equal(fg[wanted & ~covers], free_fg[wanted & ~covers])
    np.testing.assert_array_equal(fg[wanted & covers], under_fg[wanted & covers])
    np.testing.assert_allclose(got_bg[covers], bg[covers], atol=1e-6)  # B is the plate where it covers


def test_a_boxs_colours_are_the_frames_on_its_wanted_pixels():
    """A tile's colours with the whole frame as context, computed for its box alone:
    where the matte's mixed pixels lie in the box (the frame around it known), the
    estimate's F and B on the wanted pixels are the whole frame's, with and without a
    plate with holes."""
    from ofx_dipmatte.engine.foreground import ImageLevels
    from ofx_dipmatte.engine.region import Window

    size = 4 * SIZE
    image, _, bg, _, smooth = composite(0.05, 0.15)
    big_image = np.tile(image, (4, 4, 1))
    big_bg = np.tile(bg, (4, 4, 1))
    box = Window(SIZE + 3, 2 * SIZE - 5, SIZE, SIZE)
    matte = np.zeros((size, size), np.float32)
    matte[box.slices] = smooth
    wanted = (smooth > 0) & (smooth < 1)
    frame_wanted = np.zeros((size, size), bool)
    frame_wanted[box.slices] = wanted
    covers = np.zeros((size, size), bool)
    covers[:, :2 * SIZE + 20] = True
    for plate in ({}, {"background": big_bg, "background_known": covers}):
        whole = estimate_colours(big_image, matte, 0.5, wanted=frame_wanted, **plate)
        levels = ImageLevels(big_image, plate.get("background"), plate.get("background_known"))
        got = estimate_colours(levels, matte, 0.5, wanted=wanted, box=box)
        for mine, theirs in zip(got, whole):
            assert mine.shape == (SIZE, SIZE, 3)
            np.testing.assert_array_equal(mine[wanted], theirs[box.slices][wanted])


def test_channel_sums_are_numpy_s_to_the_bit():
    """The per-pixel sums the estimates and confidences read (engine/colour_norms.py) add
    the channels in numpy's order, so every matte is as it was with numpy's reduction."""
    from ofx_dipmatte.engine.colour_norms import channel_sum, squared_norm

    rng = np.random.default_rng(0)
    for shape in ((37, 53, 3), (500, 3), (9, 11, 1), (9, 11, 4)):
        for dtype in (np.float32, np.float64):
            x = rng.normal(0.0, 1.0, shape).astype(dtype)
            np.testing.assert_array_equal(channel_sum(x), x.sum(axis=-1))
            np.testing.assert_array_equal(squared_norm(x), np.square(x).sum(axis=-1))
            assert squared_norm(x).dtype == dtype
    view = rng.random((8, 8, 3), np.float32)[::2, ::2]  # strided input, untouched
    before = view.copy()
    channel_sum(view)
    np.testing.assert_array_equal(view, before)
