"""Information-flow matting and the DIP-feature affinity (issue 10's ablation rows):
what each piece computes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_case

import ofx_dipmatte
from ofx_dipmatte.engine.alpha_solve import Stopped, solve_alpha
from ofx_dipmatte.engine.dip_features import fit_dip_features
from ofx_dipmatte.engine.information_flow import (
    FlowWeights, KnownSearch, colour_mixture_laplacian, information_flow_system, intra_unknown_laplacian,
    known_to_unknown_term, mixture_weights, pixel_features, pixel_features_at,
)


def test_mixture_weights_sum_to_one_and_rebuild_a_point_inside_its_neighbours():
    # A point in the middle of a square of four neighbours is their even mix.
    features = np.array([[0.5, 0.5], [0, 0], [1, 0], [0, 1], [1, 1]], float)
    w = mixture_weights(features, np.array([0]), np.array([[1, 2, 3, 4]]), regularization=1e-9)
    assert w.sum() == pytest.approx(1.0)
    assert np.allclose(w @ features[1:], features[0], atol=1e-6)
    assert np.allclose(w, 0.25, atol=1e-3)


def test_the_colour_mixture_laplacian_is_symmetric_and_costs_nothing_for_constant_alpha():
    image = np.random.default_rng(0).random((16, 14, 3))
    unknown = np.zeros((16, 14), bool)
    unknown[4:12, 3:11] = True
    lap = colour_mixture_laplacian(pixel_features(image, 1.0), unknown, k=8)
    assert abs(lap - lap.T).max() < 1e-10
    assert np.abs(lap @ np.ones(lap.shape[0])).max() < 1e-8  # each row of W sums to one
    rows = np.flatnonzero(~unknown.ravel())
    only_known = np.setdiff1d(rows, lap.tocoo().row)
    assert len(only_known) > 0  # pixels no unknown row links to add nothing


def test_intra_unknown_links_only_unknown_pixels_of_like_colour():
    image = np.zeros((4, 6, 3))
    image[:, 3:] = 1.0  # two colours, far apart
    unknown = np.ones((4, 6), bool)
    unknown[0, 0] = False
    lap = intra_unknown_laplacian(pixel_features(image, 0.05), unknown, k=3).tocsr()
    assert np.abs(lap @ np.ones(24)).max() < 1e-10
    assert lap[0].nnz == 0  # the known pixel has no links
    coo = lap.tocoo()
    off = coo.row != coo.col
    # Links of positive weight join pixels of one colour only (|Δcolour|₁ = 3 gives weight 0).
    left = (np.arange(24) % 6) < 3
    assert np.all(left[coo.row[off & (coo.data != 0)]] == left[coo.col[off & (coo.data != 0)]])


def test_known_to_unknown_gives_the_mix_and_trusts_it_by_contrast():
    # Unknown pixels that are a 30 % mix of a red foreground and a blue background.
    image = np.zeros((6, 9, 3))
    image[:, :3] = (1, 0, 0)
    image[:, 6:] = (0, 0, 1)
    image[:, 3:6] = (0.3, 0, 0.7)
    trimap = np.full((6, 9), 0.5)
    trimap[:, :3], trimap[:, 6:] = 1.0, 0.0
    features = pixel_features(image, 0.0)  # colour only: position must not matter here
    confidence, estimate = known_to_unknown_term(features, image, trimap, k=4)
    band = trimap == 0.5
    assert np.allclose(estimate[band], 0.3, atol=0.02)
    assert np.allclose(confidence[band], 2 / 3)  # |red − blue|² / 3
    assert np.all(confidence[~band] == 0)
    # Alike colours on both sides: no trust.
    grey = np.full_like(image, 0.5)
    low, _ = known_to_unknown_term(pixel_features(grey, 0.0), grey, trimap, k=4)
    assert np.all(low == 0)


def test_features_and_samples_computed_for_some_pixels_are_the_whole_images():
    """Features computed for the pixels asked for alone, and the known samples searched for
    some unknown pixels, are the whole image's to the bit."""
    image, trimap, *_ = make_case(40, seed=3)
    trimap = ofx_dipmatte.snap_trimap(trimap)
    features = pixel_features(image.astype(np.float64), 0.7)
    colours = image.reshape(-1, 3).__getitem__
    at = pixel_features_at(colours, trimap.shape, 0.7)
    picked = np.random.default_rng(1).integers(0, trimap.size, (50, 7))  # any shape of indices
    assert np.array_equal(at(picked), features[picked])
    whole = known_to_unknown_term(features, image, trimap, eps=0.2)
    some = np.flatnonzero(trimap.ravel() == 0.5)[::3]
    confidence, estimate = KnownSearch(at, colours, trimap, eps=0.2).term(some)
    assert np.array_equal(confidence, whole[0].ravel()[some]) and np.array_equal(estimate, whole[1].ravel()[some])
    one_side = np.where(trimap == 1.0, 0.5, trimap)  # no known foreground: no samples
    assert not KnownSearch(at, colours, one_side).term(some)[0].any()


def test_information_flow_reproduces_a_two_colour_soft_edge():
    image, trimap, alpha, *_ = make_case(48)
    laplacian, term = information_flow_system(image, trimap)
    solved = solve_alpha(laplacian, trimap, *term, initial=np.full(trimap.shape, 0.5))
    band = trimap == 0.5
    assert np.abs(solved - alpha)[band].mean() < 0.03


def test_dip_features_are_deterministic_scaled_and_cancellable():
    image, trimap, *_ = make_case(32)
    a = fit_dip_features(image, trimap, components=3, spread=0.1, steps=5, seed=1)
    b = fit_dip_features(image, trimap, components=3, spread=0.1, steps=5, seed=1)
    assert a.shape == (32, 32, 3) and np.array_equal(a, b)
    assert np.allclose(a.reshape(-1, 3).std(axis=0), 0.1, rtol=1e-3)
    with pytest.raises(Stopped):
        fit_dip_features(image, trimap, steps=5, should_stop=lambda: True)


@pytest.mark.parametrize("affinity", ["information_flow", "dip_features"])
def test_the_flow_affinities_run_as_preset_options(affinity):
    image, trimap, alpha, *_ = make_case(48)
    cfg = ofx_dipmatte.PRESETS["balanced"].replace(affinity=affinity, feature_steps=20)
    res = ofx_dipmatte.matte(image, trimap, preset=cfg)
    band = trimap == 0.5
    assert np.array_equal(res.alpha[~band], trimap[~band])
    assert np.abs(res.alpha - alpha)[band].mean() < 0.05
    with pytest.raises(ValueError, match="affinity"):
        ofx_dipmatte.matte(image, trimap, preset=cfg.replace(affinity="magic"))


def test_flow_weights_switch_flows_off():
    image, trimap, *_ = make_case(24)
    only_local, (confidence, _) = information_flow_system(
        image, trimap, weights=FlowWeights(mixture_weight=0, unknown_weight=0, known_weight=0))
    from ofx_dipmatte.engine.laplacian import matting_laplacian
    assert abs(only_local - matting_laplacian(image, unknown=trimap == 0.5)).max() < 1e-12
    assert np.all(confidence == 0)


def test_a_window_without_unknown_pixels_has_no_flows():
    image = np.random.default_rng(0).random((10, 10, 3))
    trimap = np.zeros((10, 10))
    trimap[3:6, 3:6] = 1.0
    laplacian, (confidence, _) = information_flow_system(image, trimap)
    assert laplacian.nnz == 0 and not confidence.any()


def test_a_frame_solved_as_one_window_searches_neighbours_on_the_cores_tiles_would_share(monkeypatch):
    """A still's known-to-unknown searches (smoke, veils) query on the cores its tiles would
    have shared; the same neighbours either way. Outside the solve one thread. A tiled
    frame's samples are the frame's (sampled_density.FrameSamples): each pixel searched once,
    on every core, while the tiles that need them wait."""
    from ofx_dipmatte.engine import frame_solve, information_flow, sampled_density

    seen = []
    tree_type = information_flow.cKDTree

    class Recording:
        def __init__(self, *args, **kwargs):
            self.tree = tree_type(*args, **kwargs)

        def query(self, *args, **kwargs):
            seen.append(kwargs.get("workers", 1))
            return self.tree.query(*args, **kwargs)

    monkeypatch.setattr(information_flow, "cKDTree", Recording)
    monkeypatch.setattr(frame_solve, "tile_workers", lambda: 3)
    image, trimap, *_ = make_case(48, seed=2)
    features = pixel_features(image.astype(np.float64), 1.0)
    for workers in (1, 2):
        with information_flow.searches_on(workers):
            term = known_to_unknown_term(features, image, ofx_dipmatte.snap_trimap(trimap))
        assert seen[-1] == workers
        if workers == 1:
            first = term
    assert all(np.array_equal(a, b) for a, b in zip(first, term))
    assert information_flow._SEARCH_WORKERS.get() == 1  # restored
    seen.clear()
    from ofx_dipmatte.engine import classical
    monkeypatch.setattr(classical, "refinement_trust", lambda *args, **kwargs: 0.0)  # the samples' solve runs
    ofx_dipmatte.matte(image, trimap, "balanced", device="cpu")
    assert seen and set(seen) == {3}
    seen.clear()
    monkeypatch.setattr(sampled_density, "tile_workers", lambda: 3)
    image, trimap, *_ = make_case(160, seed=2)
    result = ofx_dipmatte.matte(image, trimap, ofx_dipmatte.PRESETS["balanced"].replace(tile_size=64), device="cpu")
    # One search a side for each tile's pixels not searched before, every one on all cores.
    assert result.stats.tiles > 1 and set(seen) == {3} and len(seen) % 2 == 0 and 2 < len(seen) <= 2 * result.stats.tiles
