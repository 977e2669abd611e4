import numpy as np
import pytest

from ofx_dipmatte import snap_trimap, trimap_from_rough_matte


def test_snap_float_and_integer_trimaps():
    t = np.array([[0.0, 0.01, 0.5, 0.7], [0.99, 1.0, 0.03, 0.97]], np.float32)
    np.testing.assert_array_equal(snap_trimap(t), [[0, 0, 0.5, 0.5], [1, 1, 0.5, 0.5]])
    u8 = np.array([[0, 3, 128, 127, 252, 255]], np.uint8)
    np.testing.assert_array_equal(snap_trimap(u8), [[0, 0, 0.5, 0.5, 1, 1]])
    u16 = np.array([[0, 32768, 65535]], np.uint16)
    np.testing.assert_array_equal(snap_trimap(u16), [[0, 0.5, 1]])


def test_snap_uses_first_channel():
    t = np.zeros((2, 2, 4), np.float32)
    t[..., 0] = [[1, 0.5], [0, 1]]
    t[..., 1:] = 0.5
    np.testing.assert_array_equal(snap_trimap(t), [[1, 0.5], [0, 1]])


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 2, 2)), np.array([[np.nan]]), np.zeros((2, 2), np.int64)])
def test_snap_rejects_bad_trimaps(bad):
    with pytest.raises(ValueError, match="trimap"):
        snap_trimap(bad)


def test_snap_rejects_8bit_levels_stored_as_floats_and_keeps_overshoot():
    levels = np.array([[0.0, 128.0, 255.0]], np.float32)  # a PNG read without scaling
    with pytest.raises(ValueError, match="divide 8-bit levels by 255"):
        snap_trimap(levels)
    # a filtered float trimap overshooting 1 a little is still foreground
    np.testing.assert_array_equal(snap_trimap(np.array([[1.08, 0.5, -0.01]], np.float32)), [[1, 0.5, 0]])


def test_rough_matte_to_trimap_opens_a_band_of_the_given_width():
    m = np.zeros((64, 64), np.float32)
    m[:, 32:] = 1.0
    t = trimap_from_rough_matte(m, band=5)
    row = t[10]
    assert set(np.unique(t)) == {0.0, 0.5, 1.0}
    unknown_cols = np.flatnonzero(row == 0.5)
    assert unknown_cols.min() >= 32 - 5 - 1 and unknown_cols.max() <= 32 + 5
    assert 9 <= len(unknown_cols) <= 12
    assert row[0] == 0 and row[-1] == 1


def test_rough_matte_soft_pixels_become_unknown():
    m = np.zeros((32, 32), np.float32)
    m[16:, :] = 1.0
    m[2, 2] = 0.4  # a stray partial pixel far from the edge
    t = trimap_from_rough_matte(m, band=2)
    assert t[2, 2] == 0.5 and t[0, 0] == 0.0


def test_rough_matte_rejects_bad_band():
    with pytest.raises(ValueError, match="band"):
        trimap_from_rough_matte(np.zeros((4, 4)), band=0)
