"""The background's motion against a stacked plate: a camera drifting by a fraction of a
pixel a frame, which the colours' RMS difference cannot tell from grain."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from ofx_dipmatte.engine.background_motion import MOVING_SHIFT, background_shift, track_background
from ofx_dipmatte.engine.frame_warp import Motion


def texture(size: int = 128, seed: int = 0) -> np.ndarray:
    """A background with detail at a few pixels' scale, 0.1–0.9."""
    rng = np.random.default_rng(seed)
    layers = np.stack([ndimage.gaussian_filter(rng.random((size, size)), 2) for _ in range(3)], axis=-1)
    return ((layers - layers.min()) / np.ptp(layers) * 0.8 + 0.1).astype(np.float32)


def moved(image: np.ndarray, matrix: np.ndarray, offset) -> np.ndarray:
    """``image`` resampled (cubic) at ``matrix`` · p + ``offset`` for each output pixel p."""
    return np.stack([ndimage.affine_transform(image[..., c], matrix, offset=offset, order=3, mode="nearest")
                     for c in range(image.shape[2])], axis=-1)


@pytest.fixture
def shared():
    """Known background around a band in the middle, as a trimap leaves it."""
    mask = np.ones((128, 128), bool)
    mask[40:90, 40:90] = False
    return mask


@pytest.mark.parametrize("shift", [(0.3, 0.4), (0.1, 0.1), (-0.6, 0.0)])
def test_a_pan_of_a_fraction_of_a_pixel_is_measured(shared, shift):
    plate = texture()
    image = moved(plate, np.eye(2), -np.asarray(shift))  # the content moves by ``shift``
    measured = background_shift(plate, image, shared)
    assert measured == pytest.approx(float(np.hypot(*shift)), abs=0.05)  # measured 0.496, 0.145, 0.60


def test_a_zoom_shows_at_the_corners():
    plate = texture()
    shared = np.ones((128, 128), bool)
    shared[40:90, 40:90] = False
    scale = 1.01  # a push-in: 0 px at the centre, 0.9 px at the corners
    image = moved(plate, np.eye(2) / scale, np.full(2, 63.5 - 63.5 / scale))
    assert background_shift(plate, image, shared) > MOVING_SHIFT  # measured 0.87


@pytest.mark.parametrize("sigma", [0.0, 0.02, 0.05])
def test_grain_on_a_background_that_stays_is_no_motion(shared, sigma):
    plate = texture()
    grain = np.random.default_rng(1).normal(0.0, sigma, plate.shape)
    assert background_shift(plate, np.clip(plate + grain, 0, 1).astype(np.float32), shared) < 0.05  # measured 0


def test_a_flat_background_shows_no_motion(shared):
    plate = np.full((128, 128, 3), 0.4, np.float32)
    grain = np.random.default_rng(2).normal(0.0, 0.02, plate.shape)
    assert background_shift(plate, (plate + grain).astype(np.float32), shared) == 0.0


def test_too_few_shared_pixels_measure_nothing():
    plate = texture()
    few = np.zeros((128, 128), bool)
    few[:10, :10] = True
    assert background_shift(plate, plate, few) is None


def motion_error(found: Motion, matrix: np.ndarray, offset, shape=(128, 128)) -> float:
    """The largest distance (pixels) over the frame between where ``found`` and the true
    motion put a pixel."""
    corners = np.array([[0, 0], [0, shape[1] - 1], [shape[0] - 1, 0], [shape[0] - 1, shape[1] - 1]], float)
    apart = corners @ (found.matrix - np.asarray(matrix, float)).T + (found.offset - np.asarray(offset, float))
    return float(np.max(np.hypot(*apart.T)))


@pytest.mark.parametrize("offset", [(0.3, -0.4), (2.5, 3.5), (-6.0, 1.0)])
def test_a_pan_is_followed_from_where_it_was(shared, offset):
    plate = texture()
    image = moved(plate, np.eye(2), offset)  # image pixel p shows plate pixel p + offset
    seen = shared & moved(shared[..., None].astype(np.float32), np.eye(2), offset)[..., 0].round().astype(bool)
    found = track_background(plate, shared, image, seen, Motion.identity())
    assert found is not None and motion_error(found, np.eye(2), offset) < 0.05  # measured 0.002–0.004


def test_a_zoom_and_roll_are_followed(shared):
    plate = texture()
    angle = np.deg2rad(0.3)
    matrix = 1.01 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    offset = np.array([64.0, 64.0]) - matrix @ np.array([64.0, 64.0]) + np.array([0.4, -0.2])
    image = moved(plate, matrix, offset)
    found = track_background(plate, shared, image, shared, Motion.identity())
    assert found is not None and motion_error(found, matrix, offset) < 0.1  # measured 0.004; 1.46 unfollowed


def test_the_last_frames_motion_is_where_following_starts(shared):
    plate = texture()
    image = moved(plate, np.eye(2), (20.0, 0.0))
    lost = track_background(plate, shared, image, np.ones_like(shared), Motion.identity())
    assert lost is None or motion_error(lost, np.eye(2), (20.0, 0.0)) > 1.0  # too far: measured 36 px off
    last = Motion(np.eye(2), np.array([19.5, 0.4]))  # the last frame's motion, near this one's
    found = track_background(plate, shared, image, np.ones_like(shared), last)
    assert found is not None and motion_error(found, np.eye(2), (20.0, 0.0)) < 0.05  # measured 0.002


def test_nothing_in_common_cannot_be_followed(shared):
    plate = texture()
    assert track_background(plate, shared, plate, ~shared, Motion.identity()) is None


def test_a_motion_between_blocks_is_the_same_motion():
    motion = Motion(np.array([[1.01, 0.002], [-0.003, 0.99]]), np.array([2.5, -1.25]))
    for factor in (1, 2, 4):
        back = motion.blocks(factor).pixels(factor)
        np.testing.assert_allclose(back.matrix, motion.matrix)
        np.testing.assert_allclose(back.offset, motion.offset)
    # block r of a 2× reduction is centred on pixel 2r + 0.5: a 3 px pan is 1.5 blocks
    np.testing.assert_allclose(Motion(np.eye(2), np.array([3.0, 0.0])).blocks(2).offset, [1.5, 0.0])
    identity = motion.inverse()
    np.testing.assert_allclose(identity.matrix @ motion.matrix, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(identity.matrix @ motion.offset + identity.offset, 0.0, atol=1e-12)
