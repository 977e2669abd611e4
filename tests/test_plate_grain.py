"""The grain a clean plate and the frame disagree by, and how far it lets the plate be
trusted (engine/plate_grain.py)."""

from __future__ import annotations

import numpy as np
from conftest import make_smoke_case

from ofx_dipmatte.engine.closed_form import closed_form_alpha
from ofx_dipmatte.engine.colour_estimate import estimate_colours
from ofx_dipmatte.engine.plate_grain import TRUSTED, UNTRUSTED, alpha_noise, plate_disagreement, plate_share


def test_the_disagreement_is_the_grain_and_ignores_a_stray_change():
    image, trimap, _, background = make_smoke_case()
    rng = np.random.default_rng(3)
    for sigma in (0.01, 0.04):
        plate = (background + rng.normal(0, sigma, background.shape)).astype(np.float32)
        assert abs(plate_disagreement(image, plate, trimap, True) / (3 * sigma ** 2) - 1) < 0.1
    assert plate_disagreement(image, background, trimap, True) < 1e-10  # the exact plate
    # A tenth of the compared pixels changed (a car passing): the median barely moves (the
    # mean would be many times the grain).
    plate = (background + rng.normal(0, 0.04, background.shape)).astype(np.float32)
    known = np.flatnonzero(trimap == 0)[::10]
    changed = plate.reshape(-1, 3).copy()
    changed[known] = 1.0 - changed[known]
    assert plate_disagreement(image, changed.reshape(plate.shape), trimap, True) < 1.25 * plate_disagreement(
        image, plate, trimap, True)
    # Only where the plate covers the trimap's background; too few such pixels: nothing measured.
    covers = np.zeros(trimap.shape, bool)
    covers[:, :3] = True
    assert (trimap[:, :3] == 0).sum() >= 64 and plate_disagreement(image, plate, trimap, covers) > 0
    covers[:, 1:] = False
    covers[40:] = False  # 40 pixels
    assert plate_disagreement(image, plate, trimap, covers) == 0.0


def test_the_alpha_noise_is_the_grain_over_the_band_contrast():
    image, trimap, _, background = make_smoke_case()
    alpha = closed_form_alpha(image, trimap)
    plate = (background + np.random.default_rng(4).normal(0, 0.04, background.shape)).astype(np.float32)
    fg, bg = estimate_colours(image, alpha, background=plate)
    disagreement = plate_disagreement(image, bg, trimap, True)
    band = (trimap == 0.5) & (alpha > 0.02) & (alpha < 0.98)
    contrast = np.median(np.square(fg - bg).sum(axis=-1)[band])
    assert abs(alpha_noise(disagreement, trimap, alpha, fg, bg, True) - np.sqrt(disagreement / contrast)) < 1e-6
    # Twice the contrast, √2 less noise; nothing covered or no grain: none.
    assert abs(alpha_noise(disagreement, trimap, alpha, fg, bg + (bg - fg) * (np.sqrt(2) - 1), True)
               * np.sqrt(2) / alpha_noise(disagreement, trimap, alpha, fg, bg, True) - 1) < 1e-3
    assert alpha_noise(disagreement, trimap, alpha, fg, bg, False) == 0.0
    assert alpha_noise(0.0, trimap, alpha, fg, bg, True) == 0.0


def test_the_plate_is_trusted_in_full_below_the_bound_and_not_above_linear_between():
    assert plate_share(0.0) == plate_share(TRUSTED) == 1.0
    assert plate_share(UNTRUSTED) == plate_share(1.0) == 0.0
    assert abs(plate_share((TRUSTED + UNTRUSTED) / 2) - 0.5) < 1e-6
