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


def test_a_soft_matte_given_as_a_trimap_is_told_from_a_painted_or_resampled_one():
    from scipy import ndimage

    from conftest import make_hair_case

    import ofx_dipmatte
    from ofx_dipmatte.trimap import SOFT_MATTE_SHARE, between_levels_share

    image, trimap, alpha = make_hair_case(seed=0)[:3]
    painted = np.round(trimap * 255).astype(np.uint8)  # 0 / 128 / 255
    assert between_levels_share(painted) == 0.0 and between_levels_share(trimap) == 0.0
    # Resampled (a host scaling it by a non-square pixel aspect and back): its edges smear,
    # but most of the band stays at the unknown level.
    smeared = ndimage.zoom(ndimage.zoom(trimap, (1, 16 / 15), order=1), (1, 15 / 16), order=1)
    assert 0.0 < between_levels_share(smeared[:, :trimap.shape[1]]) < SOFT_MATTE_SHARE
    assert between_levels_share(alpha) > SOFT_MATTE_SHARE  # the matte itself, given as a trimap
    assert between_levels_share(np.zeros((4, 4), np.float32)) == 0.0  # nothing unknown

    warned = ofx_dipmatte.matte(image, alpha).stats.warnings
    assert any(w.startswith("trimap:") and "rough matte" in w for w in warned)
    assert not any(w.startswith("trimap:") for w in ofx_dipmatte.matte(image, trimap).stats.warnings)
