"""Frames moved by a camera's motion: colours cubic, masks where every pixel read holds."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ofx_dipmatte.engine.frame_warp import Motion, move_colour, move_mask, move_trimap, move_values, sample


def smooth_colour(size: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([ndimage.gaussian_filter(rng.random((size, size)), 3) for _ in range(3)], -1).astype(np.float32)


def translation(dy: float, dx: float) -> Motion:
    return Motion(np.eye(2), np.array([dy, dx]))


def test_a_whole_pixel_move_reads_the_pixels_it_names():
    colour = smooth_colour()
    moved = move_colour(colour, translation(2, -3))  # pixel p holds colour at p + (2, −3)
    np.testing.assert_allclose(moved[10:50, 10:50], colour[12:52, 7:47], atol=1e-5)


def test_moved_and_moved_back_a_smooth_picture_comes_back():
    # (bicubic: measured within 1e-3)
    colour = smooth_colour()
    motion = Motion(np.array([[1.004, 0.003], [-0.003, 1.004]]), np.array([0.37, -0.61]))  # zoom, roll, pan
    back = move_colour(move_colour(colour, motion), motion.inverse())
    inner = (slice(6, -6), slice(6, -6))  # the edges read beyond the picture
    assert float(np.abs(back - colour)[inner].max()) < 2e-3  # measured 4e-4


def test_a_mask_holds_only_where_every_pixel_read_did():
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    half = move_mask(mask, translation(0.5, 0.0), margin=0)  # reads rows p + 0.5: both rows must hold
    assert half[8:23, 8:24].all() and not half[23].any() and not half[7].any()
    assert move_mask(mask, translation(0.5, 0.0), margin=1).sum() == 13 * 14  # the cubic's reach: one more
    outside = move_mask(np.ones((32, 32), bool), translation(0.0, 3.0), margin=0)
    assert outside[:, :29].all() and not outside[:, 29:].any()  # beyond the picture: not within the mask


def test_a_moved_trimap_knows_background_only_where_all_it_read_was():
    trimap = np.zeros((32, 32), np.float32)
    trimap[10:22, 10:22] = 0.5
    trimap[14:18, 14:18] = 1.0
    moved = move_trimap(trimap, translation(0.5, 0.5))
    for y, x in zip(*np.nonzero(moved == 0.0)):  # the cubic reads 4×4 pixels around (y + 0.5, x + 0.5)
        assert not trimap[max(y - 1, 0):y + 3, max(x - 1, 0):x + 3].any(), (y, x)
    band = moved == 0.5
    assert band[9:22, 9:22].sum() > 0.8 * (trimap == 0.5).sum()
    assert (moved[15, 15] == 1.0) and (moved[:, -1] == 1.0).all()  # the core, and beyond the picture


def test_a_plate_with_holes_moves_without_its_holes_leaking_in():
    colour = smooth_colour(seed=1)
    covered = np.ones((64, 64), bool)
    covered[20:40, 20:40] = False  # what no frame showed: zeros in a plate
    holed = np.where(covered[..., None], colour, 0.0).astype(np.float32)
    motion = translation(0.4, -0.3)
    moved = move_colour(holed, motion)
    where = move_mask(covered, motion)  # the pixels whose 4×4 reading lies within the plate
    truth = move_colour(colour, motion)
    np.testing.assert_array_equal(moved[where], truth[where])  # nothing of the holes reaches them
    assert not where[19:40, 20:41].any() and where[2:16, 2:60].all()
    assert (truth[~where] != moved[~where]).any()


def test_values_read_beyond_the_picture_take_the_value_given():
    alpha = np.full((16, 16), 0.25, np.float32)
    moved = move_values(alpha, translation(0.0, 4.0), outside=1.0)
    assert np.allclose(moved[:, :12], 0.25) and np.allclose(moved[:, 13:], 1.0)
    colour = move_values(np.zeros((16, 16, 3), np.float32), translation(0.0, 4.0), outside=0.5)
    assert colour.shape == (16, 16, 3) and np.allclose(colour[:, 13:], 0.5)


def test_a_reading_far_beyond_the_picture_reads_the_edge_or_the_value_given():
    rng = np.random.default_rng(3)
    picture = rng.random((12, 10, 3)).astype(np.float32)
    for far in (50.0, 1e12, np.inf, np.nan):
        motion = translation(0.0, far)  # every pixel reads far to the right of the picture (NaN: nowhere)
        edge = picture[:, -1:] if np.isfinite(far) or far > 0 else picture[:, :1]
        for mode in ("bilinear", "bicubic"):
            np.testing.assert_allclose(sample(picture, motion, mode), np.broadcast_to(edge, picture.shape), atol=1e-6)
            assert np.all(sample(picture, motion, mode, outside=0.5) == 0.5)


def keys_reference(picture: np.ndarray, y: float, x: float) -> np.ndarray:
    """Keys' cubic convolution (a = −0.75) at (y, x), taps clamped to the picture: by the book."""
    def weight(t: float) -> float:
        t, a = abs(t), -0.75
        if t <= 1:
            return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
        return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a if t < 2 else 0.0
    fy, fx = int(np.floor(y)), int(np.floor(x))
    total = np.zeros(picture.shape[2])
    for i in range(fy - 1, fy + 3):
        for j in range(fx - 1, fx + 3):
            row, col = min(max(i, 0), picture.shape[0] - 1), min(max(j, 0), picture.shape[1] - 1)
            total += weight(y - i) * weight(x - j) * picture[row, col]
    return total


def test_the_bicubic_reading_is_keys_cubic_convolution():
    picture = np.random.default_rng(4).random((12, 10, 2)).astype(np.float32)
    angle = np.deg2rad(7.0)
    motion = Motion(1.1 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]),
                    np.array([-0.7, 1.3]))
    moved = sample(picture, motion, "bicubic")
    for row in range(12):
        for col in range(10):
            y, x = motion.matrix @ np.array([row, col]) + motion.offset
            np.testing.assert_allclose(moved[row, col], keys_reference(picture.astype(np.float64), y, x), atol=2e-6)
