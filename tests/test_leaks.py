"""The Laplacian's haze beside strands, taken back (engine/leaks.py)."""

from __future__ import annotations

import numpy as np
from conftest import make_hair_case

import ofx_dipmatte
from ofx_dipmatte.engine.leaks import remove_leaks


def test_haze_beside_a_strand_goes_and_the_strand_stays():
    alpha = np.zeros((21, 21), np.float32)
    alpha[:, 10] = 0.8                 # a strand
    alpha[:, 8:10] = alpha[:, 11:13] = 0.03   # the solve's spill beside it
    alpha[:, 13] = 0.2                 # a faint strand of its own: not a leak (above 0.05)
    unknown = np.ones_like(alpha, bool)
    out = remove_leaks(alpha, unknown)
    assert np.all(out[:, 8:10] == 0) and np.all(out[:, 11:13] == 0)
    assert np.all(out[:, 10] == 0.8) and np.all(out[:, 13] == 0.2)


def test_the_matte_stays_continuous_across_the_threshold():
    # No step where the rule stops: alpha just above the threshold eases back, never jumps.
    values = np.linspace(0.0, 0.2, 401, dtype=np.float32)
    alpha = np.zeros((len(values), 3), np.float32)
    alpha[:, 0], alpha[:, 1] = 0.9, values  # each row: a strand, then the pixel beside it
    out = remove_leaks(alpha, np.ones_like(alpha, bool))[:, 1]
    assert np.all(out[values < 0.05] == 0) and np.allclose(out[values >= 0.1], values[values >= 0.1])
    step = np.diff(out)
    assert np.all(step >= 0) and np.all(step <= 2 * np.diff(values) + 1e-6)


def test_slowly_changing_low_alpha_is_kept():
    # Smoke: a few hundredths everywhere, nothing ten times stronger within 5 px.
    xx = np.mgrid[0:40, 0:40][1]
    alpha = (0.02 + 0.3 * xx / 39.0).astype(np.float32)  # 0.0077 per pixel: a slow ramp
    out = remove_leaks(alpha, np.ones_like(alpha, bool))
    assert np.array_equal(out, alpha)


def test_the_foreground_mirror_and_known_pixels():
    alpha = np.ones((15, 15), np.float32)
    alpha[:, 7] = 0.1                  # a gap through solid foreground
    alpha[:, 6] = alpha[:, 8] = 0.97   # the spill into the foreground beside it
    unknown = np.ones_like(alpha, bool)
    unknown[:3] = False                # pixels the trimap fixes are never changed
    out = remove_leaks(alpha, unknown)
    assert np.all(out[3:, 6] == 1) and np.all(out[3:, 8] == 1) and np.all(out[:, 7] == 0.1)
    assert np.all(out[:3, 6] == 0.97)


def test_the_default_removes_leaks_and_gains_on_hair():
    image, trimap, alpha = make_hair_case(seed=0)
    band = trimap == 0.5

    def sad(a):
        return float(np.abs(a - alpha)[band].sum())

    default = ofx_dipmatte.matte(image, trimap, seed=0).alpha
    kept = ofx_dipmatte.matte(image, trimap, seed=0,
                              preset=ofx_dipmatte.PRESETS["balanced"].replace(remove_leaks=False)).alpha
    # The haze between strands: true alpha 0, the leak-kept matte above 0.
    between = band & (alpha == 0) & (kept > 0) & (kept < 0.05)
    assert between.sum() > 100
    assert (default[between] == 0).mean() > 0.5
    assert sad(default) < 0.97 * sad(kept), (sad(default), sad(kept))
