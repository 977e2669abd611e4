"""engine/exposure.py: the level a classical solve sees a frame at, and at which a shot's
checks compare colours."""

import numpy as np
import pytest

from ofx_dipmatte.engine.exposure import (BESIDE_BAND, DARKEST_LEVEL, DISPLAY_LEVELS, HIGHLIGHT_CEILING,
                                          REFERENCE_LEVEL, beside_band, difference_scale, from_solve_level,
                                          in_eight_bit_steps, laplacian_eps, level_gain, to_solve_level)
from ofx_dipmatte.engine.laplacian import EPS


def median_level(values: np.ndarray) -> float:
    return float(np.median(np.sqrt(np.mean(np.square(values, dtype=np.float64), axis=-1))))


def test_the_known_pixels_are_brought_to_the_reference_level():
    rng = np.random.default_rng(0)
    image = rng.uniform(0.0, 0.08, (40, 50, 3)).astype(np.float32)  # a dark scene-linear plate
    known = np.zeros((40, 50), bool)
    known[:, :20] = True
    image[:, 20:] = 5.0  # the unknown pixels do not count, however bright
    gain = level_gain(image, known)
    assert median_level(image[known] * gain) == pytest.approx(REFERENCE_LEVEL, rel=1e-5)


def test_any_exposure_is_seen_the_same():
    rng = np.random.default_rng(1)
    image = rng.uniform(0.0, 1.0, (30, 30, 3)).astype(np.float32)
    known = rng.random((30, 30)) < 0.5
    for gain in (1 / 64, 0.3, 1.0, 12.0):
        assert gain * level_gain(image * np.float32(gain), known) == pytest.approx(level_gain(image, known), rel=1e-5)


def test_a_bright_minority_does_not_set_the_level():
    """A median: a window onto the sky among the known pixels leaves the level where the
    rest of them are."""
    image = np.full((20, 20, 3), 0.2, np.float32)
    image[:, 15:] = 8.0  # a quarter of the known pixels
    known = np.ones((20, 20), bool)
    assert level_gain(image, known) == pytest.approx(REFERENCE_LEVEL / 0.2, rel=1e-5)


def test_no_known_pixels_takes_the_whole_frame_and_black_stays_black():
    image = np.full((8, 9, 3), 0.1, np.float32)
    assert level_gain(image, np.zeros((8, 9), bool)) == pytest.approx(REFERENCE_LEVEL / 0.1, rel=1e-5)
    assert level_gain(np.zeros((8, 9, 3), np.float32), np.ones((8, 9), bool)) == 1.0


def test_the_level_is_set_beside_the_band():
    """The known pixels a window's band is mixed from set its level, not a bright sky or a
    dark corner elsewhere in the frame."""
    unknown = np.zeros((60, 80), bool)
    unknown[20:30, 10:20] = True
    near = beside_band(unknown)
    assert not (near & unknown).any()
    assert near[20 - BESIDE_BAND, 15] and near[25, 20 + BESIDE_BAND - 1] and near[30 + BESIDE_BAND - 1, 10]
    assert not near[25, 20 + BESIDE_BAND] and not near[59, 79]
    image = np.full((60, 80, 3), 0.2, np.float32)
    image[:, 50:] = 8.0  # a window onto the sky, far from the band
    assert level_gain(image, near) == pytest.approx(REFERENCE_LEVEL / 0.2, rel=1e-5)


def test_differences_are_compared_as_they_are_at_display_levels_and_in_proportion_beyond():
    low, high = DISPLAY_LEVELS
    assert difference_scale(low) == difference_scale(0.3) == difference_scale(high) == 1.0
    assert difference_scale(4 * high) == pytest.approx(4.0)  # a bright exterior: its grain four times as large
    assert difference_scale(low / 5) == pytest.approx(0.2)  # a dark plate: its changes a fifth as large
    assert difference_scale(0.0) == pytest.approx(DARKEST_LEVEL / low)  # black: no division by zero
    levels = np.array([0.02, 0.3, 2.4], np.float32)
    np.testing.assert_allclose(difference_scale(levels), [0.2, 1.0, 4.0], rtol=1e-6)


def test_highlights_are_compressed_for_the_solve_and_come_back():
    values = np.array([0.0, 0.45, 3.0, 2e3, 1e5, 1e9, 1e14], np.float32).reshape(1, -1, 1).repeat(3, axis=2)
    gain = np.float32(2.0)
    solved = values.copy()
    to_solve_level(solved, gain)
    below = values * gain <= HIGHLIGHT_CEILING
    assert np.array_equal(solved[below], values[below] * gain)  # a plate's own range as it is
    assert solved.max() < 40 * HIGHLIGHT_CEILING and np.all(np.diff(solved[0, :, 0]) > 0)  # in order, bounded
    np.testing.assert_allclose(from_solve_level(solved, gain), values, rtol=1e-5)
    # An estimate beyond every input stays finite.
    assert np.isfinite(from_solve_level(np.full((1, 1, 3), 3e38, np.float32), gain)).all()
    plain = values[:, :3].copy()
    assert from_solve_level(plain, 1.0) is plain  # nothing to do: no copy


def test_eight_bit_steps_are_found_given_as_integers_or_as_floats():
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (600, 900, 3), dtype=np.uint8)  # read on a 256² grid of it
    assert in_eight_bit_steps(pixels / np.float32(255))
    assert in_eight_bit_steps(np.zeros((1, 1, 3), np.float32))
    # Not in 8-bit steps: halved (a grade), 16-bit, scene-linear above 1, or a render's floats.
    assert not in_eight_bit_steps(pixels / np.float32(510))
    deep = rng.integers(0, 65536, (64, 64, 3), dtype=np.uint16)
    assert not in_eight_bit_steps(deep / np.float32(65535))
    assert not in_eight_bit_steps(np.minimum(pixels / np.float32(255) * 2, 1.5))
    assert not in_eight_bit_steps(rng.random((64, 64, 3), dtype=np.float32))


def test_epsilon_follows_the_steps_of_a_brightened_eight_bit_frame():
    """Brightened ×3, an 8-bit frame's steps are 3× larger: the Laplacian sees it as it
    would at its own level (ε × 9). Darkened, or in finer steps, ε stays."""
    assert laplacian_eps(3.0, eight_bit=True) == pytest.approx(9 * EPS)
    assert laplacian_eps(0.5, eight_bit=True) == EPS
    assert laplacian_eps(3.0, eight_bit=False) == EPS
    assert laplacian_eps(1.0, eight_bit=True) == EPS


def test_the_laplacian_of_a_brightened_eight_bit_frame_is_the_one_at_its_own_level():
    from ofx_dipmatte.engine.laplacian import matting_laplacian

    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 40, (24, 30, 3)).astype(np.float64) / 255  # a dark 8-bit frame
    gain = 4.0
    own = matting_laplacian(pixels)
    brightened = matting_laplacian(pixels * gain, eps=laplacian_eps(gain, eight_bit=True))
    assert abs(own - brightened).max() < 1e-9 * abs(own).max()
