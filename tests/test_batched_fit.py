"""Same-size tiles fitted as one batch (engine/batched_fit.py): each tile gets what a fit
of its own would give it, and a session that batches its tiles solves as one that does not."""

import copy

import numpy as np
import pytest
import torch

import ofx_dipmatte
from ofx_dipmatte import PRESETS
from ofx_dipmatte.engine.batched_fit import TileJob, fit_batch
from ofx_dipmatte.engine.noise import window_noise
from ofx_dipmatte.engine.solver import Nets, WindowInputs, fit

from test_tiles import moving_ring

# Narrow float32 nets: the batched step computes in float32, so the comparison is exact
# up to the order of floating-point sums.
CFG = PRESETS["dip"].replace(width=8, fb_width=4, levels=3, bf16=False)
CPU = torch.device("cpu")


def window(index: int, size: int = 64, shift: int = 0) -> WindowInputs:
    """A disc of its own radius over noise: one tile's problem."""
    rng = np.random.default_rng(index)
    yy, xx = np.mgrid[:size, :size]
    alpha = np.clip((18 + 3 * index - np.hypot(yy - size / 2 - shift, xx - size / 2)) / 4, 0, 1)
    image = alpha[..., None] * np.array([0.9, 0.5, 0.2]) + (1 - alpha[..., None]) * rng.random((size, size, 3)) * 0.3
    trimap = np.where(alpha >= 1, 1.0, np.where(alpha <= 0, 0.0, 0.5)).astype(np.float32)
    small = size // CFG.fb_scale
    return WindowInputs(
        image=image.astype(np.float32), trimap=trimap, valid=np.ones((size, size), bool),
        prior=np.clip(alpha + 0.1, 0, 1).astype(np.float32),
        noise_image_alpha=window_noise(0, "image_alpha", CFG.noise_channels, 0, size * index, size, size),
        noise_fg=window_noise(0, "fg", CFG.noise_channels, 0, small * index, small, small),
        noise_bg=window_noise(0, "bg", CFG.noise_channels, 0, small * index, small, small))


def fits_alone_and_batched(inputs, caps, thresholds, states=(None, None, None), nets=None):
    alone_nets = nets[0] if nets else [Nets.build(CFG, 0) for _ in inputs]
    batched_nets = nets[1] if nets else [Nets.build(CFG, 0) for _ in inputs]
    alone = [fit(n, x, CFG, CPU, cap, thr, optimizer_state=s[0] if s else None)
             for n, x, cap, thr, s in zip(alone_nets, inputs, caps, thresholds, states)]
    batched = fit_batch([TileJob(n, x, cap, thr, s[1] if s else None)
                         for n, x, cap, thr, s in zip(batched_nets, inputs, caps, thresholds, states)], CFG, CPU)
    return alone, batched, (alone_nets, batched_nets)


def assert_same_heads(alone_nets, batched_nets, atol=2e-5):
    """The output heads' weights (1×1 convs on the last features: no BatchNorm after them,
    so every weight has a well-defined gradient) agree, tile by tile."""
    for a, b in zip(alone_nets, batched_nets):
        for net_a, net_b in zip(a.modules(), b.modules()):
            heads_a, heads_b = net_a.heads.state_dict(), net_b.heads.state_dict()
            assert all(torch.allclose(heads_a[k], heads_b[k], atol=atol) for k in heads_a)


def rounding_spread(inputs, caps, thresholds) -> float:
    """How far two fits of their own of the same tiles differ on this machine when only
    the order of floating-point sums changes (one thread against all): Adam turns tiny
    gradient differences into whole steps, so below this a batched fit cannot be told
    from a lone one. 8e-7 here (2 cores); a 16-core machine's CPU put batched and lone
    fits 5.5e-3 apart."""
    threads = torch.get_num_threads()
    fits = []
    for count in (1, threads):
        torch.set_num_threads(count)
        try:
            fits.append([fit(Nets.build(CFG, 0), x, CFG, CPU, cap, thr) for x, cap, thr in zip(inputs, caps, thresholds)])
        finally:
            torch.set_num_threads(threads)
    return max(float(np.abs(getattr(a, key) - getattr(b, key)).max())
               for a, b in zip(*fits) for key in ("alpha", "fg", "bg"))


def test_each_tile_of_a_batch_gets_what_a_fit_of_its_own_gives():
    inputs = [window(i) for i in range(3)]
    # Tile 1 stops on its threshold, tile 2 at a lower cap: the others keep stepping.
    caps, thresholds = [4, 4, 2], [None, 0.9, None]
    alone, batched, nets = fits_alone_and_batched(inputs, caps, thresholds)
    assert [r.iterations for r in batched] == [r.iterations for r in alone] == [4, 1, 2]
    assert [r.stop_reason for r in batched] == ["max_iterations", "threshold", "max_iterations"]
    tolerance = max(5e-4, 4 * rounding_spread(inputs, caps, thresholds))  # measured 4e-5 here
    for a, b in zip(alone, batched):
        for key in ("alpha", "fg", "bg"):
            assert np.abs(getattr(a, key) - getattr(b, key)).max() < tolerance
        assert b.losses.keys() == a.losses.keys()
        assert b.losses["total"] == pytest.approx(a.losses["total"], rel=1e-4)
    # Each tile's nets end with its own weights, frozen at the step it stopped at.
    assert_same_heads(*nets)

    # Warm start: a batch continues each tile's Adam state (its own step count), and a
    # batched tile's state continues in a fit of its own.
    moved = [window(i, shift=1) for i in range(3)]
    states = [(a.optimizer_state, b.optimizer_state) for a, b in zip(alone, batched)]
    alone2, batched2, nets2 = fits_alone_and_batched(moved, [3, 3, 3], [None] * 3, states, nets)
    for a, b in zip(alone2, batched2):
        assert a.iterations == b.iterations == 3
        assert np.abs(a.alpha - b.alpha).max() < 1e-3
    # The heads' weights move by what each tile's own Adam steps give (measured: within
    # 2e-6; an Adam that shared one step count across the tiles was off by 3e-4).
    assert_same_heads(*nets2)
    crossed = fit(copy.deepcopy(nets2[1][0]), moved[0], CFG, CPU, 1, None,
                  optimizer_state=batched2[0].optimizer_state)
    assert crossed.optimizer_state["state"][0]["step"] == 4 + 3 + 1


def test_a_batch_needs_windows_of_one_size_and_stops_on_cancel():
    with pytest.raises(ValueError, match="same size"):
        fit_batch([TileJob(Nets.build(CFG, 0), window(0, 64), 2, None),
                   TileJob(Nets.build(CFG, 0), window(1, 96), 2, None)], CFG, CPU)
    with pytest.raises(ofx_dipmatte.Cancelled):
        fit_batch([TileJob(Nets.build(CFG, 0), window(i), 50, None) for i in range(2)], CFG, CPU,
                  progress=lambda iteration, cap, losses: iteration < 3)


def window_sizes(session, frame):
    return {fitted[2][2:] for fitted in session.export_state(frame)["windows"].values()}


def same_windows(monkeypatch):
    """Sessions that fit one tile at a time get the windows of one size a batching session gets."""
    import ofx_dipmatte.engine.frame_solve as frame_solve
    from ofx_dipmatte.engine.tiles import band_windows

    monkeypatch.setattr(frame_solve, "band_windows", lambda *args, **kwargs: band_windows(*args, **{**kwargs,
                                                                                          "same_size": True}))


def test_a_session_that_batches_its_tiles_solves_as_one_that_does_not(monkeypatch):
    preset = PRESETS["draft"].replace(tile_size=64, margin=8, max_iterations=4, warm_max_iterations=3,
                                      width=8, fb_width=4, levels=3, fb_scale=2, bf16=False)
    # A batching session gives every tile a whole cell's window, so they make one batch.
    sizes = {}
    for batch in (1, 4):
        session = ofx_dipmatte.ClipSession(preset=preset.replace(tile_batch=batch), device="cpu")
        session.matte(0, *moving_ring(0))
        sizes[batch] = window_sizes(session, 0)
    assert len(sizes[1]) > 1 and sizes[4] == {(80, 80)}  # a 64 px cell and 8 px margins
    # On the same windows, batched and one at a time give the same mattes.
    same_windows(monkeypatch)
    runs = {}
    for batch in (1, 4):
        session = ofx_dipmatte.ClipSession(preset=preset.replace(tile_batch=batch), device="cpu")
        calls = []
        frames = [session.matte(t, *moving_ring(2 * t), progress=lambda d, n, _: calls.append((d, n)))
                  for t in range(2)]
        runs[batch] = frames
        assert calls[-1][0] == calls[-1][1]  # the bar ends full
    for one, many in zip(runs[1], runs[4]):
        assert many.stats.tiles == one.stats.tiles > 4
        assert many.stats.iterations == one.stats.iterations
        assert many.stats.stop_reason == one.stats.stop_reason
        assert np.abs(many.alpha - one.alpha).max() < 1e-3
    assert runs[4][1].stats.warm_start_from == 0.0
    # The tiles' priors are prepared on threads: a host's abort there ends the frame, and
    # the session keeps what it had (the next frame still warm-starts from frame 1).
    session = ofx_dipmatte.ClipSession(preset=preset.replace(tile_batch=4), device="cpu")
    for t in range(2):
        session.matte(t, *moving_ring(2 * t))
    polls = []
    with pytest.raises(ofx_dipmatte.Cancelled, match="cancelled after .* tiles"):
        session.matte(2, *moving_ring(4), should_stop=lambda: polls.append(1) or len(polls) > 2)
    assert session.solved_frames == [0, 1]
    assert session.matte(2, *moving_ring(4)).stats.warm_start_from == 1.0
    with pytest.raises(ValueError, match="tile_batch"):
        ofx_dipmatte.matte(*moving_ring(0), preset=preset.replace(tile_batch=-1))


def test_a_batch_too_big_for_the_gpu_is_fitted_in_halves(monkeypatch):
    """A smaller GPU than the default batch was sized for: the tiles are fitted in halves,
    from the nets they had (a failed batch leaves them untouched), to the same matte."""
    import ofx_dipmatte.engine.batched_fit as batched

    preset = PRESETS["draft"].replace(tile_size=64, margin=8, max_iterations=3, width=8, fb_width=4,
                                      levels=3, fb_scale=2, bf16=False)
    real, sizes, untouched = batched.fit_batch, [], []

    def small_gpu(jobs, cfg, device, progress=None):
        sizes.append(len(jobs))
        if len(jobs) <= 2:
            return real(jobs, cfg, device, progress)
        before = jobs[0].nets.state()

        def run_out(iteration, *_):
            if iteration == 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

        try:
            return real(jobs, cfg, device, run_out)
        finally:
            untouched.append(all(torch.equal(a[k], b[k]) for a, b in zip(before, jobs[0].nets.state()) for k in a))

    monkeypatch.setattr(batched, "fit_batch", small_gpu)
    same_windows(monkeypatch)  # for the comparison with one tile at a time below
    bar = []
    session = ofx_dipmatte.ClipSession(preset=preset.replace(tile_batch=8), device="cpu")
    halved = session.matte(0, *moving_ring(0), progress=lambda done, total, _: bar.append(done))
    monkeypatch.setattr(batched, "fit_batch", real)
    alone = ofx_dipmatte.matte(*moving_ring(0), preset=preset.replace(tile_batch=1), device="cpu")
    assert max(sizes) > 2 and any(size <= 2 for size in sizes) and untouched and all(untouched)
    # The host's bar never goes back, however the batch was split, and ends full.
    assert all(b >= a for a, b in zip(bar, bar[1:])) and bar[-1] == 3 * halved.stats.tiles
    assert halved.stats.tiles == alone.stats.tiles and halved.stats.iterations == alone.stats.iterations
    assert np.abs(halved.alpha - alone.alpha).max() < 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU that torch sees")
def test_cuda_batches_tiles_by_default_like_one_at_a_time(monkeypatch):
    import ofx_dipmatte.engine.batched_fit as batched

    # Narrow nets on a 16 px size unit: the ring's tiles come in a few sizes, several of each.
    preset = PRESETS["draft"].replace(tile_size=64, margin=8, max_iterations=20, warm_max_iterations=5,
                                      width=8, fb_width=4, levels=3, fb_scale=2, bf16=False)
    real, batches = batched.fit_batch, []

    def counted(jobs, *args, **kwargs):
        batches.append(len(jobs))
        return real(jobs, *args, **kwargs)

    monkeypatch.setattr(batched, "fit_batch", counted)
    mattes = {}
    for batch in (0, 1):  # 0: the GPU's default batch
        session = ofx_dipmatte.ClipSession(preset=preset.replace(tile_batch=batch), device="cuda")
        mattes[batch] = session.matte(0, *moving_ring(0))
    image, trimap = moving_ring(0)
    band = trimap == 0.5
    assert mattes[0].stats.tiles == mattes[1].stats.tiles > 4
    assert batches and max(batches) > 1  # same-size tiles went as one batch
    assert np.abs(mattes[0].alpha - mattes[1].alpha)[band].mean() < 0.01
