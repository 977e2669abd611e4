"""The matte kept on smooth mattes, held to the known regions' colour samples
(engine/sampled_density.py), and the neighbour searches and mixture weights under it."""

import numpy as np
import pytest

import ofx_dipmatte
from conftest import count_calls
from ofx_dipmatte.engine import information_flow
from ofx_dipmatte.engine.alpha_solve import Stopped
from ofx_dipmatte.engine.closed_form import closed_form_alpha
from ofx_dipmatte.engine.information_flow import _nearest, mixture_weights
from ofx_dipmatte.engine.laplacian import matting_laplacian
from ofx_dipmatte.engine.sampled_density import (
    REFERENCE_DEPTH, REFERENCE_LEVEL, SPATIAL_UNIT, FrameSamples, band_mean_depth, exposure_normalised,
    known_samples, sample_settings, sampled_density_matte,
)
from ofx_dipmatte.engine.region import Window


def smoke_case(size: int = 96, seed: int = 1):
    """A pale cloud (alpha up to 0.55, falling to 0 at its rim, opaque only in a small
    core) over blocks of dark and bright colour: where the background behind is dark,
    closed-form's matte falls toward 0."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.hypot(yy - size / 2, xx - size / 2) / (size * 0.42)
    alpha = np.clip(0.55 * (1 - r ** 2), 0, None).astype(np.float32)
    core = r < 0.1
    alpha[core] = 1.0
    blocks = rng.random((size // 12 + 1, size // 12 + 1, 3)) * 0.8 + 0.1
    bg = np.kron(blocks, np.ones((12, 12, 1)))[:size, :size] + rng.normal(0, 0.02, (size, size, 3))
    fg = 0.85 + rng.normal(0, 0.01, (size, size, 3))
    image = np.clip(alpha[..., None] * fg + (1 - alpha[..., None]) * bg, 0, 1).astype(np.float32)
    trimap = np.full((size, size), 0.5, np.float32)
    trimap[core] = 1.0
    trimap[r > 1.05] = 0.0
    return image, trimap, alpha


def band_sad(alpha, truth, trimap):
    band = trimap == 0.5
    return float(np.abs(alpha - truth)[band].sum())


def test_the_band_depth_is_the_mean_distance_to_the_nearest_known_pixel():
    unknown = np.zeros((8, 30), bool)
    unknown[:, 10:20] = True  # a strip 10 px wide between known columns: 1, 2, 3, 4, 5, 5, 4, 3, 2, 1
    assert band_mean_depth(unknown) == pytest.approx(3.0)
    assert band_mean_depth(np.zeros((5, 5), bool)) == 0.0
    assert band_mean_depth(np.ones((5, 9), bool)) == 9.0  # nothing known: as deep as the window


def test_the_settings_follow_the_band_depth():
    """A band twice as deep: a quarter of the weight and twice the spatial unit, so an
    enlarged still gets the still's solve; at the reference depth, the given strength."""
    for width in (10, 20, 52):
        unknown = np.zeros((8, width + 20), bool)
        unknown[:, 10:10 + width] = True
        depth = band_mean_depth(unknown)
        weight, unit = sample_settings(unknown, 0.002)
        assert weight == pytest.approx(0.002 * (REFERENCE_DEPTH / depth) ** 2)
        assert unit == pytest.approx(SPATIAL_UNIT * depth / REFERENCE_DEPTH)


def test_the_samples_fill_the_density_closed_form_loses_over_a_dark_background():
    image, trimap, truth = smoke_case()
    laplacian = matting_laplacian(image, unknown=trimap == 0.5)
    closed = closed_form_alpha(image, trimap, laplacian=laplacian)
    sampled = sampled_density_matte(image, trimap, laplacian, 0.002)
    assert band_sad(sampled, truth, trimap) < 0.7 * band_sad(closed, truth, trimap)  # measured 0.52
    band = trimap == 0.5
    assert abs(float((sampled - truth)[band].mean())) < abs(float((closed - truth)[band].mean()))
    assert np.all(sampled[trimap == 1.0] == 1.0) and np.all(sampled[trimap == 0.0] == 0.0)


def test_a_brighter_or_darker_exposure_gets_the_same_samples():
    """Scene-linear plates come at any exposure: the samples weigh colour against
    position and square colour differences, so they see the image at one level."""
    image, trimap, truth = smoke_case()
    known = trimap != 0.5
    level = np.sqrt(np.mean(np.square(exposure_normalised(image, known)[known])))
    assert level == pytest.approx(REFERENCE_LEVEL, rel=1e-5)
    assert np.allclose(exposure_normalised(4.0 * image, known), exposure_normalised(image, known), atol=1e-5)
    errors = []
    for gain in (0.25, 1.0, 4.0):
        laplacian = matting_laplacian(gain * image, unknown=trimap == 0.5)
        errors.append(band_sad(sampled_density_matte(gain * image, trimap, laplacian, 0.002), truth, trimap))
    # Measured 478.0 / 477.5 / 477.4; seen as it is, 691.4 / 485.8 / 894.8 (closed-form 935–941).
    assert max(errors) < 1.02 * min(errors)


def test_without_known_foreground_there_are_no_samples_and_the_matte_is_closed_form():
    image, trimap, _ = smoke_case()
    trimap[trimap == 1.0] = 0.5
    laplacian = matting_laplacian(image, unknown=trimap == 0.5)
    closed = closed_form_alpha(image, trimap, laplacian=laplacian)
    assert np.array_equal(sampled_density_matte(image, trimap, laplacian, 0.002), closed)


def test_the_default_keeps_the_sampled_matte_on_smoke_and_beats_closed_form():
    image, trimap, truth = smoke_case()
    closed = closed_form_alpha(image, trimap)
    default = ofx_dipmatte.matte(image, trimap).alpha
    without = ofx_dipmatte.matte(image, trimap, preset=ofx_dipmatte.PRESETS["balanced"].replace(smooth_samples=0.0)).alpha
    assert band_sad(without, truth, trimap) == pytest.approx(band_sad(closed, truth, trimap), rel=0.02)
    assert band_sad(default, truth, trimap) < 0.7 * band_sad(closed, truth, trimap)


def test_a_host_abort_stops_the_neighbour_searches(monkeypatch):
    image, trimap, _ = smoke_case()
    monkeypatch.setattr(information_flow, "QUERY_CHUNK", 256)
    polls = []

    def stop() -> bool:
        polls.append(1)
        return len(polls) > 3

    laplacian = matting_laplacian(image, unknown=trimap == 0.5)
    with pytest.raises(Stopped):
        sampled_density_matte(image, trimap, laplacian, 0.002, should_stop=stop)
    assert len(polls) == 4  # the searches, chunk by chunk, before any solve


def test_the_neighbour_search_is_exact_and_chunked_searches_find_the_same(monkeypatch):
    rng = np.random.default_rng(3)
    features = rng.random((600, 5))
    queries, pool = np.arange(0, 600, 3), np.arange(1, 600, 2)
    found = _nearest(features, queries, pool, 4, skip_self=False)
    distances = np.linalg.norm(features[queries][:, None, :] - features[pool][None, :, :], axis=2)
    brute = pool[np.argsort(distances, axis=1)[:, :4]]
    assert np.array_equal(np.sort(found, axis=1), np.sort(brute, axis=1))
    monkeypatch.setattr(information_flow, "QUERY_CHUNK", 7)
    assert np.array_equal(_nearest(features, queries, pool, 4, skip_self=False), found)


def test_the_known_samples_term_a_chunk_of_queries_at_a_time_is_the_same(monkeypatch):
    """A frame's whole band is searched and weighed a chunk of queries at a time (its
    mixture weights at once were 1.5 GB on a 2048² smoke frame): the same term."""
    image, trimap, _ = smoke_case(64)
    whole = known_samples(image, trimap, 26.0)
    monkeypatch.setattr(information_flow, "QUERY_CHUNK", 37)
    chunked = known_samples(image, trimap, 26.0)
    assert (trimap == 0.5).sum() > 10 * 37
    for a, b in zip(whole, chunked):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dims", [3, 5, 12])
def test_mixture_weights_are_the_regularised_least_squares_weights(dims):
    """Through the small system (fewer features than neighbours) or the K×K one, the
    weights are G⁻¹1 normalised, G the neighbours' Gram matrix plus the ridge."""
    rng = np.random.default_rng(dims)
    features = rng.random((200, dims))
    queries = np.arange(40)
    neighbours = rng.integers(40, 200, (40, 8))
    w = mixture_weights(features, queries, neighbours, regularization=1e-3)
    for q in range(40):
        diffs = features[neighbours[q]] - features[q]
        gram = diffs @ diffs.T
        gram += (1e-3 * np.trace(gram) + 1e-10) * np.eye(8)
        expected = np.linalg.solve(gram, np.ones(8))
        assert np.allclose(w[q], expected / expected.sum(), atol=1e-9)


def test_a_tile_reads_the_frames_samples_even_where_its_window_shows_one_known_region(monkeypatch):
    """A plate's tiles read the samples one window would draw: the frame's term, where a
    tile's own window may hold no known foreground at all (and so no samples); the
    searches' trees built once for the frame, and each unknown pixel searched once,
    when the first tile that holds it asks."""
    from ofx_dipmatte.engine import information_flow, sampled_density

    image, trimap, truth = smoke_case()
    frame = FrameSamples(image, trimap)
    built = count_calls(monkeypatch, sampled_density, "KnownSearch")
    searched = count_calls(monkeypatch, information_flow.KnownSearch, "term")
    tile = Window(0, 0, 40, 96)  # the cloud's top: background and band, not its core
    assert not (trimap[tile.slices] == 1.0).any()
    unknown = trimap[tile.slices] == 0.5
    alone, _ = known_samples(image[tile.slices], trimap[tile.slices], 26.0)
    assert not alone.any()  # one known region: no samples
    confidence, estimate = frame.part(tile)
    assert confidence[unknown].min() > 0  # every unknown pixel of the tile has some
    _, unit = sample_settings(trimap == 0.5, 1.0)
    whole = known_samples(image, trimap, unit)
    np.testing.assert_array_equal(confidence, whole[0][tile.slices])
    np.testing.assert_array_equal(estimate, whole[1][tile.slices])
    mine = [call[1] for call in searched if call[0] is frame._search]  # the frame's searches
    assert len(mine) == 1 and len(mine[0]) == unknown.sum()
    below = Window(30, 0, 66, 96)  # overlapping the first tile by 10 rows
    confidence, estimate = frame.part(below)
    np.testing.assert_array_equal(confidence, whole[0][below.slices])
    np.testing.assert_array_equal(estimate, whole[1][below.slices])
    frame.part(tile)  # nothing left to search there
    mine = [call[1] for call in searched if call[0] is frame._search]
    assert len(mine) == 2 and len(mine[1]) == (trimap[40:96] == 0.5).sum()  # the overlap's pixels not again
    assert len(built) == 1  # the frame's trees once, whichever tiles ask
    # Solved with them, the tile's matte is held to the cloud's density there.
    laplacian = matting_laplacian(image[tile.slices], unknown=unknown)
    held = sampled_density_matte(image[tile.slices], trimap[tile.slices], laplacian, 0.002, samples=(frame, tile))
    free = sampled_density_matte(image[tile.slices], trimap[tile.slices], laplacian, 0.002)
    assert band_sad(held, truth[tile.slices], trimap[tile.slices]) < band_sad(free, truth[tile.slices],
                                                                              trimap[tile.slices])
