"""ClipSession: warm start across frames, nearest-frame choice, bounded memory."""

import numpy as np
import pytest

import ofx_dipmatte
from conftest import make_case, moving_hair_shot, retaken

CFG = ofx_dipmatte.PRESETS["dip"].replace(name="test", max_iterations=150, warm_max_iterations=150)


def shifted(frame):
    """A 'shot': the foreground moves one pixel a frame over a static background."""
    _, trimap, alpha, fg, bg = make_case(64)
    alpha, trimap, fg = (np.roll(a, frame, axis=1) for a in (alpha, trimap, fg))
    image = (alpha[..., None] * fg + (1 - alpha[..., None]) * bg).astype(np.float32)
    return image, trimap, alpha


def band_sad(res, trimap, alpha):
    band = trimap == 0.5
    return float(np.abs(res.alpha - alpha)[band].sum())


def test_warm_start_reaches_threshold_in_far_fewer_iterations():
    clip = ofx_dipmatte.ClipSession(preset=CFG, device="cpu")
    cold_history = []
    cold = clip.matte(0, *shifted(0)[:2], progress=lambda i, n, losses: cold_history.append(losses["total"]))
    warm = clip.matte(1, *shifted(1)[:2])
    assert cold.stats.warm_start_from is None and cold.stats.iterations == 150
    assert warm.stats.warm_start_from == 0
    assert warm.stats.stop_reason == "threshold"
    # The same threshold, reached from a cold start, took far more steps.
    threshold = CFG.warm_threshold_ratio * cold.stats.losses["total"]
    cold_steps = next(i for i, loss in enumerate(cold_history, 1) if loss <= threshold)
    assert warm.stats.iterations <= 0.25 * cold_steps
    _, tri0, a0 = shifted(0)
    _, tri1, a1 = shifted(1)
    assert band_sad(warm, tri1, a1) <= 1.2 * band_sad(cold, tri0, a0)


def test_a_warm_frame_the_nets_already_fit_takes_one_step():
    """The threshold is checked from the first step on (``min_iterations`` 1); a preset
    may ask for more steps before it."""
    image, trimap, _ = shifted(0)
    for min_iterations in (1, 5):
        clip = ofx_dipmatte.ClipSession(preset=CFG.replace(max_iterations=30, min_iterations=min_iterations))
        clip.matte(0, image, trimap)
        again = clip.matte(1, retaken(image), trimap)  # nothing moved
        assert again.stats.stop_reason == "threshold" and again.stats.iterations == min_iterations


def test_out_of_order_frames_start_from_nearest_solved():
    clip = ofx_dipmatte.ClipSession(preset=CFG.replace(max_iterations=5, warm_max_iterations=3))
    image, trimap, _ = shifted(0)
    assert clip.matte(0, image, trimap).stats.warm_start_from is None
    assert clip.matte(10, retaken(image, 1), trimap).stats.warm_start_from == 0
    assert clip.matte(7, retaken(image, 2), trimap).stats.warm_start_from == 10
    assert clip.matte(2.5, retaken(image, 3), trimap).stats.warm_start_from == 0
    assert clip.matte(4, retaken(image, 4), trimap).stats.warm_start_from == 2.5


def test_a_solved_frame_warm_starts_any_number_of_frames_alike():
    # Two frames warm-started from frame 0: the second must start from frame 0 as solved,
    # not as the first warm solve left its optimiser state (Adam's moments were once
    # updated in place).
    cfg = CFG.replace(max_iterations=4, warm_max_iterations=3)
    image, trimap, _ = shifted(0)
    later, _, _ = shifted(1)
    both = ofx_dipmatte.ClipSession(preset=cfg)
    both.matte(0, image, trimap)
    both.matte(1, later, trimap)
    reused = both.matte(-1, later, trimap)
    fresh = ofx_dipmatte.ClipSession(preset=cfg)
    fresh.matte(0, image, trimap)
    direct = fresh.matte(-1, later, trimap)
    assert reused.stats.warm_start_from == direct.stats.warm_start_from == 0
    assert np.array_equal(reused.alpha, direct.alpha)


def test_memory_is_bounded_on_long_clips():
    clip = ofx_dipmatte.ClipSession(preset=CFG.replace(max_iterations=2, warm_max_iterations=1), max_states=3)
    image, trimap, _ = shifted(0)
    for frame in range(8):
        clip.matte(frame, retaken(image, frame % 2), trimap)
    assert clip.solved_frames == [5, 6, 7]
    clip.reset()
    assert clip.matte(9, image, trimap).stats.warm_start_from is None


def test_frame_size_may_change_within_a_clip():
    clip = ofx_dipmatte.ClipSession(preset=CFG.replace(max_iterations=3, warm_max_iterations=2))
    image, trimap, _ = shifted(0)
    clip.matte(0, image, trimap)
    res = clip.matte(1, image[:40, :48], trimap[:40, :48])
    assert res.alpha.shape == (40, 48) and res.stats.warm_start_from == 0


def test_invalid_session_arguments():
    with pytest.raises(ValueError, match="max_states"):
        ofx_dipmatte.ClipSession(max_states=0)
    with pytest.raises(ValueError, match="max_iterations"):
        ofx_dipmatte.ClipSession(preset=CFG.replace(max_iterations=0))


def test_warm_starts_keep_each_cell_nearest_and_its_first_cold_loss():
    """The store behind warm starts (:mod:`ofx_dipmatte.engine.warm_start`): each tile's
    cell warm-starts from the nearest frame that fitted it, even when that frame is not
    the nearest frame solved; a cell's cold loss is its first; frames far from the
    latest one go first; an export adopted elsewhere reads back the same."""
    from ofx_dipmatte.engine.warm_start import WarmStarts

    store = WarmStarts(max_frames=2)
    store.remember(0.0, "a", ("w0a", "adam", (0, 0, 8, 8)), cold_loss=1.0)
    store.remember(0.0, "b", ("w0b", "adam", (0, 8, 8, 8)), cold_loss=2.0)
    store.remember(3.0, "a", ("w3a", "adam", (1, 0, 8, 8)), cold_loss=5.0)  # not cold for "a": kept 1.0
    assert store.nearest(4.0, "a") == (3.0, ("w3a", "adam", (1, 0, 8, 8)))
    assert store.nearest(4.0, "b") == (0.0, ("w0b", "adam", (0, 8, 8, 8)))  # frame 3 did not fit "b"
    assert store.nearest(4.0, "c") == (None, None)
    assert store.cold_loss("a") == 1.0 and store.cold_loss("b") == 2.0
    assert store.fitted_windows(1.0)["a"].y0 == 0 and store.fitted_windows(2.0)["a"].y0 == 1
    store.remember(5.0, "a", ("w5a", "adam", (2, 0, 8, 8)))
    store.forget_far(5.0)
    assert store.frames == [3.0, 5.0] and store.nearest(0.0, "b") == (None, None)
    other = WarmStarts(max_frames=4)
    other.remember(9.0, "a", ("w9a", "adam", (0, 0, 8, 8)), cold_loss=7.0)
    other.adopt(5.0, **store.export(5.0))
    assert other.nearest(6.0, "a") == (5.0, ("w5a", "adam", (2, 0, 8, 8)))
    assert other.cold_loss("a") == 7.0 and other.cold_loss("b") == 2.0  # its own stays, others added
    with pytest.raises(KeyError):
        store.export(0.0)


@pytest.mark.parametrize("preset", ["balanced", CFG.replace(max_iterations=5, warm_max_iterations=3)])
def test_the_last_frames_inputs_given_again_return_its_result(preset):
    """A held picture, or a clip whose pictures a timeline repeats: the inputs of the frame
    solved last, at another time, give its result again (copies) with nothing solved.
    Solved again (the same picture as other inputs), the default's matte changes: the
    carried background then holds the picture's own first solve."""
    images, trimaps, _, _ = moving_hair_shot(frames=2)
    clip = ofx_dipmatte.ClipSession(preset)
    first = clip.matte(0, images[0], trimaps[0])
    held = clip.matte(1, images[0], trimaps[0])
    assert held.stats.repeat_of == 0 and first.stats.repeat_of is None
    np.testing.assert_array_equal(held.alpha, first.alpha)
    np.testing.assert_array_equal(held.foreground, first.foreground)
    assert held.stats.iterations == first.stats.iterations and clip.solved_frames == first_solved(clip)
    first.alpha[:] = 0  # a caller writes to its result: the next repeat is not touched
    assert clip.matte(2, images[0], trimaps[0]).alpha.max() == 1.0
    assert clip.matte(3, images[1], trimaps[1]).stats.repeat_of is None  # a new picture is solved
    assert clip.matte(4, images[0], trimaps[0]).stats.repeat_of is None  # not the last one solved
    if preset == "balanced":
        again = ofx_dipmatte.ClipSession(preset)
        shown = again.matte(0, images[0], trimaps[0]).alpha
        assert not np.allclose(again.matte(1, retaken(images[0]), trimaps[0]).alpha, shown, atol=1e-3)
    solving = ofx_dipmatte.ClipSession(preset, repeats=False)  # a caller with a cache of its own
    solving.matte(0, images[0], trimaps[0])
    assert solving.matte(1, images[0], trimaps[0]).stats.repeat_of is None


def first_solved(clip: ofx_dipmatte.ClipSession) -> list:
    """The frames ``clip`` fitted nets for: none without networks, frame 0 with them."""
    return [0.0] if clip.config.fits_networks else []
