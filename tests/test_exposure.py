"""engine/exposure.py: the level a classical solve sees a frame at."""

import numpy as np
import pytest

from ofx_dipmatte.engine.exposure import (DARKEST_LEVEL, DISPLAY_LEVELS, REFERENCE_LEVEL, at_reference_level,
                                          difference_scale, level_gain)


def rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(values, dtype=np.float64))))


def test_the_known_pixels_are_brought_to_the_reference_level():
    rng = np.random.default_rng(0)
    image = rng.uniform(0.0, 0.08, (40, 50, 3)).astype(np.float32)  # a dark scene-linear plate
    known = np.zeros((40, 50), bool)
    known[:, :20] = True
    image[:, 20:] = 5.0  # the unknown pixels do not count, however bright
    seen = at_reference_level(image, known)
    assert rms(seen[known]) == pytest.approx(REFERENCE_LEVEL, rel=1e-5)
    assert level_gain(image, known) == pytest.approx(REFERENCE_LEVEL / rms(image[known]), rel=1e-5)
    # One gain for the whole frame: colour ratios (and so mattes) keep their shape.
    np.testing.assert_allclose(seen / image, level_gain(image, known), rtol=1e-6)


def test_any_exposure_is_seen_the_same():
    rng = np.random.default_rng(1)
    image = rng.uniform(0.0, 1.0, (30, 30, 3)).astype(np.float32)
    known = rng.random((30, 30)) < 0.5
    for gain in (1 / 64, 0.3, 1.0, 12.0):
        np.testing.assert_allclose(at_reference_level(image * np.float32(gain), known),
                                   at_reference_level(image, known), rtol=1e-5)


def test_no_known_pixels_takes_the_whole_frame_and_black_stays_black():
    image = np.full((8, 9, 3), 0.1, np.float32)
    none = np.zeros((8, 9), bool)
    assert level_gain(image, none) == pytest.approx(REFERENCE_LEVEL / 0.1, rel=1e-5)
    black = np.zeros((8, 9, 3), np.float32)
    assert level_gain(black, np.ones((8, 9), bool)) == 1.0
    np.testing.assert_array_equal(at_reference_level(black, none), black)


def test_differences_are_compared_as_they_are_at_display_levels_and_in_proportion_beyond():
    low, high = DISPLAY_LEVELS
    assert difference_scale(low) == difference_scale(0.3) == difference_scale(high) == 1.0
    assert difference_scale(4 * high) == pytest.approx(4.0)  # a bright exterior: its grain four times as large
    assert difference_scale(low / 5) == pytest.approx(0.2)  # a dark plate: its changes a fifth as large
    assert difference_scale(0.0) == pytest.approx(DARKEST_LEVEL / low)  # black: no division by zero
    levels = np.array([0.02, 0.3, 2.4], np.float32)
    np.testing.assert_allclose(difference_scale(levels), [0.2, 1.0, 4.0], rtol=1e-6)
