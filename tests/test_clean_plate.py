"""A clean plate: the background given instead of estimated."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_case, make_hair_case

import ofx_dipmatte
from ofx_dipmatte.engine.clean_plate import match_to_image, prepare_clean_plate
from ofx_dipmatte.engine.foreground import estimate_foreground_background


def sad(a, b, region):
    return float(np.abs(a - b)[region].sum())


def test_the_plate_is_matched_to_the_image_exposure():
    rng = np.random.default_rng(0)
    plate = rng.random((32, 32, 3)).astype(np.float32) * 0.8
    image = np.clip(1.1 * plate + 0.03, 0, 1)
    known = np.zeros((32, 32), bool)
    known[:, :12] = True
    image[:, 12:] = 0.5  # the subject: no use for the fit
    matched = match_to_image(plate, image, known)
    assert np.abs(matched - np.clip(1.1 * plate + 0.03, 0, 1)).max() < 1e-4
    assert match_to_image(plate, image, np.zeros_like(known)) is plate  # nothing to fit on


def test_with_a_known_background_only_the_foreground_is_estimated():
    image, _, alpha, fg, bg = make_case(64)
    f, b = estimate_foreground_background(image, alpha, background=bg)
    assert np.array_equal(b, bg.astype(np.float32))
    assert np.abs(f - fg)[alpha > 0.3].mean() < 0.02


def test_a_clean_plate_halves_the_error_on_hair():
    image, trimap, alpha, _, bg = make_hair_case(seed=0, colours=True)
    band = trimap == 0.5
    rng = np.random.default_rng(1)
    # A plate as shot: grain, and a stop of exposure difference the matching takes out.
    plate = np.clip(0.8 * bg + rng.normal(0, 0.01, bg.shape), 0, 1).astype(np.float32)
    without = ofx_dipmatte.matte(image, trimap)
    with_plate = ofx_dipmatte.matte(image, trimap, clean_plate=plate)
    ratio = sad(with_plate.alpha, alpha, band) / sad(without.alpha, alpha, band)
    assert ratio < 0.6, ratio  # measured 0.34 (seeds 1 and 2 of this case: 0.40, 0.44)
    assert np.array_equal(with_plate.alpha[~band], trimap[~band])
    assert not with_plate.stats.warnings


@pytest.mark.parametrize("plate, match", [
    (np.zeros((10, 10, 3), np.float32), "clean plate: size 10×10"),
    (np.zeros((64, 64, 3), np.uint8), "clean plate: it is integer"),
    (np.full((64, 64, 3), np.nan, np.float32), "clean plate: 4096 pixel"),
    (np.zeros((64, 64), np.float32), "clean plate: expected"),
])
def test_a_bad_plate_is_refused_with_what_to_do(plate, match):
    image, trimap, *_ = make_case(64)
    with pytest.raises(ValueError, match=match):
        ofx_dipmatte.matte(image, trimap, clean_plate=plate)


def test_a_preset_that_does_not_refine_says_it_ignores_the_plate():
    image, trimap, *_ = make_case(32)
    res = ofx_dipmatte.matte(image, trimap, preset=ofx_dipmatte.PRESETS["draft"].replace(max_iterations=2),
                             clean_plate=image)
    assert any("clean plate: ignored" in w for w in res.stats.warnings)


def test_prepare_keeps_the_working_encoding_of_float_plates():
    plate = np.full((4, 4, 3), 4.0, np.float32)  # scene-linear, above 1
    working = prepare_clean_plate(plate, (4, 4), image_is_float=True)
    assert working.max() < 1.0
