"""Subsampled chroma (a host's 8-bit Y'CbCr 4:2:2, video's 4:2:0): found and restored."""

from __future__ import annotations

import numpy as np
import pytest

import ofx_dipmatte
from conftest import make_hair_case
from ofx_dipmatte.engine.chroma import Subsampling, detect_subsampling, restore_chroma

LUMA = {"Rec. 601": (0.299, 0.587, 0.114), "Rec. 709": (0.2126, 0.7152, 0.0722)}


def through_ycbcr(image: np.ndarray, weights: str = "Rec. 601", rows: int = 1, cols: int = 2,
                  eight_bit: bool = False) -> np.ndarray:
    """What a host or codec hands on: ``image`` in Y'CbCr with one chroma sample (the
    mean) per ``rows`` × ``cols`` block, repeated back over the block, then RGB again."""
    kr, kg, kb = LUMA[weights]
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    y = kr * r + kg * g + kb * b
    cb, cr = (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
    h, w = y.shape[0] // rows * rows, y.shape[1] // cols * cols
    for c in (cb, cr):
        blocks = c[:h, :w].reshape(h // rows, rows, w // cols, cols).mean(axis=(1, 3))
        c[:h, :w] = np.repeat(np.repeat(blocks, rows, 0), cols, 1)
    r, b = y + 2 * (1 - kr) * cr, y + 2 * (1 - kb) * cb
    out = np.clip(np.stack([r, (y - kr * r - kb * b) / kg, b], axis=-1), 0, 1)
    return (np.round(out * 255) / 255).astype(np.float32) if eight_bit else out.astype(np.float32)


def luma(image: np.ndarray, weights: str = "Rec. 601") -> np.ndarray:
    return image @ np.array(LUMA[weights], np.float32)


@pytest.fixture(scope="module")
def hair():
    return make_hair_case(size=96, seed=0)


def test_full_chroma_is_never_taken_for_subsampled(hair):
    image, _, _ = hair
    assert detect_subsampling(image) is None
    assert detect_subsampling(np.round(image * 255) / 255) is None
    grey = np.repeat(image[..., :1], 3, axis=2)  # no chroma at all: nothing to tell or restore
    assert detect_subsampling(grey) is None


@pytest.mark.parametrize("weights", ["Rec. 601", "Rec. 709"])
@pytest.mark.parametrize("rows, cols, name", [(1, 2, "4:2:2"), (2, 2, "4:2:0")])
def test_shared_chroma_is_found_with_its_layout(hair, weights, rows, cols, name):
    layout = detect_subsampling(through_ycbcr(hair[0], weights, rows, cols, eight_bit=True))
    assert layout == Subsampling(rows, cols) and layout.name == name


def split_pairs(image: np.ndarray, lone: int) -> np.ndarray:
    """4:2:2 as MLT hands on an odd width: pairs up to column ``lone``, which keeps its own
    chroma, and pairs again after it."""
    out = image.copy()
    out[:, :lone] = through_ycbcr(image[:, :lone], eight_bit=True)
    out[:, lone + 1:] = through_ycbcr(image[:, lone + 1:], eight_bit=True)
    out[:, lone] = np.round(image[:, lone] * 255) / 255
    return out


def test_pairs_that_change_phase_once_are_found_and_each_side_restored():
    image = make_hair_case(size=97, seed=1)[0]  # an odd width
    delivered = split_pairs(image, lone=48)
    layout = detect_subsampling(delivered)
    assert layout == Subsampling(1, 2, col_split=48) and layout.name == "4:2:2"
    restored = restore_chroma(delivered, layout)
    assert np.array_equal(restored[:, 48], delivered[:, 48])  # the lone column as delivered
    assert np.abs(restored - image).mean() < 0.6 * np.abs(delivered - image).mean()
    # pairs from the left edge are never taken for a split
    assert detect_subsampling(through_ycbcr(image, eight_bit=True)) == Subsampling(1, 2)
    # luma is kept on every pixel, and each side's chroma on average
    assert np.abs(luma(restored) - luma(delivered)).max() < 1e-5
    for side in (slice(0, 48), slice(49, 97)):
        assert np.abs(restored[:, side].mean(axis=(0, 1)) - delivered[:, side].mean(axis=(0, 1))).max() < 2e-3


def pairing_ratio(step: np.ndarray, lone: int) -> float:
    """Mean step inside pairs over mean step between two pairs, pairs from the left with
    pixel ``lone`` alone (beyond the end: none), by walking the pixels."""
    groups, j = [], 0
    while j <= len(step):
        width = 1 if j == lone or j + 1 > len(step) or j + 1 == lone else 2
        groups.append(list(range(j, j + width)))
        j += width
    inside = [step[g[0]] for g in groups if len(g) == 2]
    across = [step[a[-1]] for a, b in zip(groups, groups[1:]) if len(a) == len(b) == 2]
    return np.mean(inside) / np.mean(across) if inside and across else np.inf


@pytest.mark.parametrize("length", [4, 5, 9, 10, 17, 22])
def test_the_pairing_search_measures_each_layout_as_a_walk_over_the_pixels(monkeypatch, length):
    from ofx_dipmatte.engine import chroma

    c = np.random.default_rng(length).random((3, length, 2)).astype(np.float32)
    step = np.abs(np.diff(c, axis=1)).mean(axis=(0, 2))
    monkeypatch.setattr(chroma, "MIN_CHROMA_DETAIL", 0.0)
    monkeypatch.setattr(chroma, "SHARED_RATIO", np.inf)  # pairs from the edge always fit
    ratio, split = chroma._pair_split(c, 1)
    assert split is None and ratio == pytest.approx(pairing_ratio(step, length if length % 2 == 0 else length - 1))
    monkeypatch.setattr(chroma, "SHARED_RATIO", 0.0)  # never: the best split is searched
    ratio, split = chroma._pair_split(c, 1)
    walked = {lone: pairing_ratio(step, lone) for lone in range(0, length - 1, 2)}
    assert ratio == pytest.approx(min(walked.values())) and walked[split] == pytest.approx(ratio)


@pytest.mark.parametrize("weights", ["Rec. 601", "Rec. 709"])
def test_restored_chroma_keeps_what_was_delivered_and_recovers_the_detail(hair, weights):
    image = hair[0]
    delivered = through_ycbcr(image, weights, 1, 2)
    restored = restore_chroma(delivered, Subsampling(1, 2))
    # Luma is untouched, and each pair's mean colour is what the host delivered.
    assert np.abs(luma(restored) - luma(delivered)).max() < 1e-5
    pairs = lambda x: (x[:, 0::2] + x[:, 1::2]) / 2  # noqa: E731
    assert np.abs(pairs(restored) - pairs(delivered)).max() < 1e-5
    # The strands' colour comes back: the chroma error to the original falls by half or more.
    lost = np.abs(delivered - image).mean()
    assert np.abs(restored - image).mean() < 0.5 * lost, (np.abs(restored - image).mean(), lost)


def test_a_subsampled_frame_is_restored_before_the_solve_and_mattes_better(hair):
    image, trimap, alpha = hair
    band = trimap == 0.5
    delivered = np.round(through_ycbcr(image, "Rec. 601", 1, 2) * 255).astype(np.uint8)
    restored = ofx_dipmatte.matte(delivered, trimap)
    assert restored.stats.chroma_restored == "4:2:2"
    as_given = ofx_dipmatte.matte(delivered, trimap, preset=ofx_dipmatte.PRESETS["balanced"].replace(restore_chroma=False))
    assert as_given.stats.chroma_restored is None
    error = {name: np.abs(r.alpha - alpha)[band].sum() for name, r in (("restored", restored), ("as given", as_given))}
    assert error["restored"] < 0.9 * error["as given"], error
    # Known pixels come back as the caller gave them, restored or not.
    assert np.array_equal(restored.alpha[~band], trimap[~band])
    assert np.array_equal(restored.foreground[trimap == 1], delivered[trimap == 1] / np.float32(255))


def test_a_frame_with_full_chroma_is_solved_unchanged(hair):
    image, trimap, _ = hair
    on = ofx_dipmatte.matte(image, trimap)
    off = ofx_dipmatte.matte(image, trimap, preset=ofx_dipmatte.PRESETS["balanced"].replace(restore_chroma=False))
    assert on.stats.chroma_restored is None
    assert np.array_equal(on.alpha, off.alpha)
