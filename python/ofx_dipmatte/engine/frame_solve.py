"""Solving one frame: the window around its unknown band, or tiles along it, each
window's classical matte and, for presets with networks, the nets' fit, warm-started from
the states a :class:`~.clip.ClipSession` keeps (:mod:`.warm_start`). The nets' modules
(torch) are imported where a window's nets are fitted: a preset without networks never
loads them."""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..encoding import decode
from .alpha_solve import DataTerm, Stopped
from .classical import (ColourContext, Colours, Prior, classical_matte, colour_context, colours_for,
                        colours_in_context, in_context, window_prior)
from .closed_form import closed_form_alpha, halve, shrink_trimap, upsample
from .device import op_threads_shared_by, tile_batch, tile_workers
from .exposure import beside_band, from_solve_level, in_eight_bit_steps, laplacian_eps, level_gain, to_solve_level
from .information_flow import searches_on
from .laplacian import EPS
from .presets import Preset
from .region import Padded, Window, assemble, canvas_shape, inside, pad_to_canvas, round_up, solve_window
from .results import Cancelled, FitResult, MatteResult, MatteStats, ProgressCallback
from .tiles import (WeightedSum, band_depth, band_windows, blend, edge_anchor, overlapping, solve_in_stages,
                    solve_in_threads, tile_core, union_window)
from .warm_start import WarmStarts

if TYPE_CHECKING:
    import torch

    from .batched_fit import TileJob


#: Tiles' boundary values (:func:`.tiles.edge_anchor`): pixels along a shared edge, and
#: their weight against the Laplacian (whose diagonal is about 1): firm, not fixed.
EDGE_WIDTH = 3
EDGE_STRENGTH = 1.0


@dataclass
class _PreparedWindow:
    """A window whose nets are ready to fit (:meth:`FrameSolver._prepare_window`)."""

    window: Window
    job: TileJob
    source: float | None  # the frame its nets warm-start from (None: cold)
    colours: "Colours | None"  # F and B from its unrefined matte, for foreground="estimated"
    classical: np.ndarray  # the window of the frame its classical matte read (Padded.classical)


class FrameSolver:
    """One frame's solve for a clip: its windows, priors, fits and blend. Holds nothing of
    its own between frames: the nets kept for warm starts are the session's ``warm``
    (read for each window's nearest solved frame, added to after each fit).

    Args:
        config: the checked preset.
        device: where the nets fit (None for a preset that fits none).
        seed: seeds the weights and noise.
        warm: the clip's kept nets (:class:`.warm_start.WarmStarts`).
    """

    def __init__(self, config: Preset, device: torch.device | None, seed: int, warm: WarmStarts):
        self.config, self.device, self.seed, self._warm = config, device, seed, warm

    def solve(self, frame, caller_rgb, working, is_float, tri, stats, start, progress, should_stop,
              plate: "tuple[np.ndarray, np.ndarray] | Future[tuple[np.ndarray, np.ndarray] | None] | None" = None
              ) -> MatteResult:
        """Solve a frame checked by :class:`~.clip.ClipSession` (``caller_rgb`` as given,
        ``working`` as solved, ``tri`` snapped), filling ``stats`` (``start``: when the call
        began). ``plate``: the clean plate and where it covers, or a future of it (the
        carried background, taken on another thread), or None."""
        cfg = self.config
        h, w = tri.shape
        # The U-Nets need sides that are multiples of 2^levels (× fb_scale); a classical
        # solve takes any size, so its windows hug the band.
        scale = 1 if cfg.alpha_source == "prior" else cfg.fb_scale
        unit = 1 if cfg.alpha_source == "prior" else (2 ** cfg.levels) * scale
        canvas = canvas_shape(h, w, unit)
        unknown = tri == 0.5
        # Nets warm-start best on the very window they were fitted on: keep it while it fits.
        fitted = self._warm.fitted_windows(frame) if cfg.alpha_source != "prior" else {}
        window = solve_window(unknown, canvas, cfg.margin, unit, scale, fitted.get(None))
        windows = [window]
        if cfg.tile_size and window.height * window.width > 4 * cfg.tile_size ** 2:
            # Cells whose window (cell + margins) is a whole number of the nets' size unit:
            # a 256² cell's window rounded up to draft's 128 px unit would be 384² (2.25×).
            cell = round_up(cfg.tile_size + 2 * cfg.margin, unit) - 2 * cfg.margin
            batched = cfg.alpha_source != "prior" and tile_batch(cfg, self._net_device) > 1
            # A classical solve's tiles get margins as deep as their band (band_depth); the
            # nets' windows keep theirs (their fits' cost grows with the window).
            depth = band_depth(unknown) if cfg.alpha_source == "prior" else None
            windows = band_windows(unknown, canvas, cell, cfg.margin, unit, scale, fitted, same_size=batched,
                                   depth=depth)
            window = union_window(windows)
        stats.window = (window.x0, window.y0, window.width, window.height)
        stats.tiles = len(windows)
        # A classical solve sees every frame at one exposure (:mod:`.exposure`), set by the
        # known pixels beside the band it solves (a bright sky elsewhere in the frame does
        # not darken the subject), scaled in the padded copies below; the colours go back to
        # the frame's own before they are returned. The nets see their frames as encoded
        # (the knee bounds them), and their prior is solved as a classical preset's is, on
        # the caller's values: through the knee, a host's float copy of an 8-bit frame
        # got a worse prior than the frame itself (docs/benchmarks.md, forty-seventh
        # session). A classical solve's canvas is the frame itself.
        region = window.slices
        knee = is_float and self.bounded
        gain = np.float32(1.0)
        eps = EPS
        classical = None  # none for nets without a classical prior (paper)
        if not self.bounded or cfg.alpha_prior != "none":
            classical_rgb = np.maximum(caller_rgb, 0.0) if knee else working  # the values balanced solves
            gain = np.float32(level_gain(classical_rgb[region], beside_band(unknown[region])))
            # The caller's steps, before any chroma restoration (an 8-bit frame through MLT).
            eps = laplacian_eps(float(gain), in_eight_bit_steps(caller_rgb[region]))
            # The padding mirrors the image, so the prior gets the mirrored trimap as constraints.
            classical = pad_to_canvas(classical_rgb, canvas, "reflect")
            to_solve_level(classical, gain)
        valid = np.zeros(canvas, dtype=bool)
        valid[:h, :w] = True
        image = pad_to_canvas(working, canvas, "reflect") if self.bounded or classical is None else classical
        padded = Padded(image, pad_to_canvas(tri, canvas, "constant"), pad_to_canvas(tri, canvas, "reflect"), valid,
                        classical_image=classical if self.bounded else None, laplacian_eps=eps)
        one_sided: list[bool] = []
        guide: np.ndarray | None = None
        if len(windows) > 1:
            one_sided, guide = self._tile_guide(windows, window, padded, should_stop)
        if isinstance(plate, Future):  # the carried plate, taken beside the steps above
            plate = plate.result()
        if plate is not None:  # read by the classical matte alone: in its values
            plate_colour = pad_to_canvas(decode(plate[0]) if knee else plate[0], canvas, "reflect")
            to_solve_level(plate_colour, gain)
            padded = replace(padded, clean_plate=plate_colour, plate_covers=pad_to_canvas(plate[1], canvas, "reflect"))
        # Colours over the solved region and 32 px around it: a tile sees what one window would.
        context = colour_context(padded, window, guide) if self._estimates_colours else None
        if len(windows) == 1:
            with searches_on(tile_workers()):  # the cores tiles would share
                result, source = self._solve_window(frame, window, padded, progress, should_stop, context=context)
        else:
            result, source = self._solve_tiles(frame, windows, window, padded, one_sided, guide, context, progress,
                                               should_stop, cell)
        if self._classical_colours:  # else the nets' own, in their encoding
            result.fg, result.bg = from_solve_level(result.fg, gain), from_solve_level(result.bg, gain)
        return self._finish(result, caller_rgb, tri, window, knee and not self._classical_colours, stats, start,
                            source)

    def _tile_guide(self, windows: list[Window], union: Window, padded: Padded,
                    should_stop) -> tuple[list[bool], np.ndarray | None]:
        """Which tiles see one known region only, and the coarse matte of the whole band
        (None when no tile needs it): the colours' context on other tiles, and the edges
        of those one-sided tiles (their alpha would fall to that region's value; they take
        the whole band's matte on their edges instead)."""
        one_sided = []
        for win in windows:
            tile_trimap = padded.trimap_mirrored[win.slices]
            one_sided.append(not ((tile_trimap == 0.0).any() and (tile_trimap == 1.0).any()))
        guide = None
        if self._estimates_colours or any(one_sided):
            guide = self._coarse_guide(union, padded, should_stop)
        return one_sided, guide

    def _solve_tiles(self, frame: float, windows: list[Window], union: Window, padded: Padded,
                     one_sided: list[bool], guide: np.ndarray | None, context: ColourContext | None,
                     progress: ProgressCallback | None, should_stop, cell: int) -> tuple[FitResult, float | None]:
        """Each window alone, blended into ``union``; each tile's nets warm-start from
        the same grid cell's last solve (a classical preset's tiles: :meth:`_refine_tiles`);
        ``one_sided``, ``guide``: see :meth:`_tile_guide`; ``context``: the frame the
        tiles' colours are estimated over; ``cell``: the grid's.
        Returns the blend and the frame the first warm-started tile started from."""
        canvas = padded.image.shape[:2]
        anchors = [None if guide is None or not sided else
                   edge_anchor(win, canvas, guide[inside(win, union)], EDGE_WIDTH, EDGE_STRENGTH)
                   for win, sided in zip(windows, one_sided)]
        if self.config.alpha_source == "prior":
            return self._refine_tiles(frame, windows, union, padded, anchors, context, cell, progress,
                                      should_stop), None
        batch = tile_batch(self.config, self._net_device)
        threads = min(tile_workers(), len(windows))
        # Threads for the nets only on a CPU: a GPU runs each op wide already, and fits
        # same-size tiles as one batch instead (Preset.tile_batch).
        workers = 1 if self._net_device.type != "cpu" else threads
        if batch > 1:
            # The tiles' classical priors are CPU work (the sparse Cholesky and numpy release the GIL):
            # side by side on threads, while the device waits for its first batch.
            def prepare(win: Window, anchor: DataTerm | None) -> Callable:
                return lambda stop: self._prepare_window(frame, win, padded, None, stop, anchor, context)

            tiles = solve_in_threads([prepare(win, anchor) for win, anchor in zip(windows, anchors)],
                                      threads, None, should_stop, 1)
            solved = self._fit_in_batches(frame, tiles, batch, progress)
        elif workers > 1:
            def job(win: Window, anchor: DataTerm | None) -> Callable:
                def solve(stop):
                    # A fit polls its progress callback every step: here, the frame's abort.
                    return self._solve_window(frame, win, padded, lambda *_: not stop(), stop, anchor, context)
                return solve

            with op_threads_shared_by(workers):
                solved = solve_in_threads([job(win, anchor) for win, anchor in zip(windows, anchors)],
                                           workers, progress, should_stop, self.config.max_iterations)
        else:
            solved = []
            for index, (win, anchor) in enumerate(zip(windows, anchors)):
                def tile_progress(done, total, losses, index=index, report=progress):
                    # Tiles done so far plus this tile's share: the host's bar moves per tile.
                    total = total or 1
                    return report(index * total + done, len(windows) * total, losses)

                solved.append(self._solve_window(frame, win, padded, None if progress is None else tile_progress,
                                                 should_stop, anchor, context))
        return blend(windows, union, self._colours_image(padded), [fit for fit, _ in solved], self.config.margin), \
            next((source for _, source in solved if source is not None), None)

    def _refine_tiles(self, frame: float, windows: list[Window], union: Window, padded: Padded,
                      anchors: list[DataTerm | None], context: ColourContext | None, cell: int,
                      progress: ProgressCallback | None, should_stop) -> FitResult:
        """A classical preset's tiles in two stages (:func:`.tiles.solve_in_stages`): each
        window's prior (:func:`.classical.window_prior`: closed-form's matte, how far to
        trust its refinement, the matte kept otherwise) with as much context as its band is
        deep; their blend; and each tile's refinement of that blend on its cell and a few
        pixels around it alone (:func:`.tiles.tile_core`), blended in turn. The deep
        windows overlap (each band pixel of the 1080p plate lies in 2.5 of them), and every
        step after the closed-form solve had run on all of each (docs/benchmarks.md).
        ``anchors``: each window's boundary values (:func:`.tiles.edge_anchor`) or None."""
        cfg = self.config
        canvas = padded.image.shape[:2]
        cores = [tile_core(win, cell) for win in windows]
        needs = [sorted(overlapping(windows, core)) for core in cores]
        priors: dict[int, Prior] = {}  # each window's, until every core over it has read it
        readers = [sum(i in need for need in needs) for i in range(len(windows))]

        def prior(win: Window, anchor: DataTerm | None) -> Callable:
            samples = None if context is None else (context.samples, in_context(context, win))
            return lambda stop: window_prior(cfg, padded.classical[win.slices], padded.trimap_mirrored[win.slices],
                                             seed=self.seed, device=self.device, should_stop=stop, anchor=anchor,
                                             samples_from=samples, eps=padded.laplacian_eps)

        def refine(j: int) -> Callable:
            core, anchor = cores[j], anchors[j]
            if anchor is not None:
                at = inside(core, windows[j])
                anchor = (anchor[0][at], anchor[1][at])
            blended = WeightedSum(core, canvas, cfg.margin, (1, 1, 1))
            for i in needs[j]:  # in order: the same sums whichever thread finished first
                blended.add(windows[i], *priors[i])
                readers[i] -= 1
                if not readers[i]:
                    del priors[i]
            start = Prior(*blended.mean())
            return lambda stop: self._solve_window(frame, core, padded, None, stop, anchor, context, start)[0]

        fits = solve_in_stages([prior(win, anchor) for win, anchor in zip(windows, anchors)], refine,
                               needs, priors.__setitem__,
                               min(tile_workers(), len(windows)), progress, should_stop, cfg.refine_iterations)
        return blend(cores, union, self._colours_image(padded), fits, cfg.margin)

    def _fit_in_batches(self, frame: float, tiles: list[_PreparedWindow], batch: int,
                        progress: ProgressCallback | None) -> list[tuple[FitResult, float | None]]:
        """Fit prepared windows of the same size ``batch`` at a time (:func:`.batched_fit.fit_batch`);
        progress counts every tile's share of the frame, as a serial solve does."""
        groups: dict[tuple[int, int], list[int]] = {}
        for index, tile in enumerate(tiles):
            groups.setdefault((tile.window.height, tile.window.width), []).append(index)
        chunks = [indices[i:i + batch] for indices in groups.values() for i in range(0, len(indices), batch)]
        steps = self.config.max_iterations
        solved: list = [None] * len(tiles)
        done = 0
        for chunk in chunks:
            def chunk_progress(iteration, cap, losses, size=len(chunk), before=done, report=progress):
                share = min(iteration, cap or 1) / (cap or 1)
                return report(round((before + share * size) * steps), len(tiles) * steps, losses)

            from .batched_fit import fit_batch_within_memory

            results = fit_batch_within_memory([tiles[i].job for i in chunk], self.config, self._net_device,
                                              None if progress is None else chunk_progress)
            for index, result in zip(chunk, results):
                solved[index] = (self._finish_window(frame, tiles[index], result), tiles[index].source)
            done += len(chunk)
            if progress is not None and progress(done * steps, len(tiles) * steps, {}) is False:
                raise Cancelled(f"solve cancelled after {done} of {len(tiles)} tiles")
        return solved

    def _coarse_guide(self, union: Window, padded: Padded, should_stop) -> np.ndarray:
        """Closed-form matte of the whole band at a size of about two tiles, enlarged to
        ``union``: the tiles' boundary values (:func:`.tiles.edge_anchor`)."""
        image = padded.classical[union.slices]
        trimap = padded.trimap_mirrored[union.slices]
        while image.shape[0] * image.shape[1] > 2 * self.config.tile_size ** 2 and min(image.shape[:2]) >= 64:
            image, trimap = halve(image), shrink_trimap(trimap)
        try:
            coarse = closed_form_alpha(image, trimap, padded.laplacian_eps, should_stop=should_stop)
        except Stopped:
            raise Cancelled("solve cancelled while computing the closed-form matte") from None
        return upsample(coarse, (union.height, union.width))

    def _solve_window(self, frame: float, window: Window, padded: Padded,
                      progress: ProgressCallback | None, should_stop,
                      anchor: DataTerm | None = None,
                      context: ColourContext | None = None,
                      start: Prior | None = None) -> tuple[FitResult, float | None]:
        """One window: its prior (with ``anchor``, see :meth:`_prior`), then the nets
        (warm-started when a frame was solved). ``context``: the frame its colours are
        estimated over (None: the window's own); ``start``: its prior, if computed already
        (:meth:`_refine_tiles`). Returns the result on the window and the frame it
        warm-started from."""
        tile = self._prepare_window(frame, window, padded, progress, should_stop, anchor, context, start)
        if isinstance(tile, FitResult):
            return tile, None
        from .solver import fit

        result = fit(tile.job.nets, tile.job.inputs, self.config, self._net_device, tile.job.max_iterations,
                     tile.job.threshold, progress=progress, optimizer_state=tile.job.optimizer_state)
        return self._finish_window(frame, tile, result), tile.source

    def _prepare_window(self, frame: float, window: Window, padded: Padded,
                        progress: ProgressCallback | None, should_stop, anchor: DataTerm | None,
                        context: ColourContext | None,
                        start: Prior | None = None) -> "FitResult | _PreparedWindow":
        """A window's prior, and for a preset with nets, what their fit needs: the nets
        (warm from the nearest solved frame's same cell, or fresh), inputs, cap and
        threshold. A preset without nets gets its finished result. ``context``: the frame
        the window's colours are estimated over (None where no colours are); ``start``:
        the classical matte's first stage, if computed already."""
        cfg = self.config
        scale = cfg.fb_scale
        rows, cols = window.slices
        image_c = padded.image[rows, cols]
        # The rounds that use B alone estimate without sharpening F (Preset.sharpen_foreground).
        estimate = background_estimate = None  # none without colours estimated (_estimates_colours)
        if context is not None:
            background_estimate = colours_in_context(context, window)
            estimate = partial(background_estimate, sharpen=cfg.sharpen_foreground)
        plate_covers = False if padded.plate_covers is None else padded.plate_covers[rows, cols]
        # A tile's known samples, like its colours, come from what one window would see.
        samples = None if context is None or window.cell is None or start is not None else \
            (context.samples, in_context(context, window))
        prior, colours = classical_matte(cfg, padded.classical[rows, cols], padded.trimap_mirrored[rows, cols],
                                         seed=self.seed,
                                         # The bar follows the nets' steps where there are nets; the
                                         # prior's rounds still stop on an abort (should_stop).
                                         device=self.device, progress=progress if cfg.alpha_source == "prior" else None,
                                         should_stop=should_stop,
                                         anchor=anchor, estimate=estimate, background_estimate=background_estimate,
                                         exact_background=plate_covers, estimate_reads_band=context is not None,
                                         samples_from=samples, prior=start, eps=padded.laplacian_eps)
        if cfg.alpha_source == "prior":
            assert prior is not None  # Preset.check: a preset without nets has a prior
            fg, bg = colours_for(image_c, prior, colours)
            return FitResult(alpha=prior, fg=fg, bg=bg, losses={}, iterations=0, stop_reason="no_network",
                             seconds=0.0)
        from .batched_fit import TileJob
        from .noise import window_noise
        from .solver import Nets, WindowInputs

        small = (window.y0 // scale, window.x0 // scale, window.height // scale, window.width // scale)
        channels = cfg.noise_channels
        inputs = WindowInputs(
            image=image_c, trimap=padded.trimap[rows, cols], valid=padded.valid[rows, cols], prior=prior,
            noise_image_alpha=window_noise(self.seed, "image_alpha", channels, window.y0, window.x0,
                                           window.height, window.width),
            noise_fg=window_noise(self.seed, "fg", channels, *small),
            noise_bg=window_noise(self.seed, "bg", channels, *small),
        )
        nets = Nets.build(cfg, self.seed)
        source, saved = self._warm.nearest(frame, window.cell)
        if source is None:
            job = TileJob(nets, inputs, cfg.max_iterations, cfg.loss_threshold)
        else:
            assert saved is not None
            weights, adam = saved[:2]
            nets.load(weights)
            threshold = cfg.loss_threshold
            if threshold is None:
                # Relative to this window's own cold loss: a loss depends on what the
                # window holds, so another window's (or the frame's) would be no measure.
                threshold = cfg.warm_threshold_ratio * self._warm.cold_loss(window.cell)
            job = TileJob(nets, inputs, cfg.warm_max_iterations, threshold, adam)
        return _PreparedWindow(window, job, source, colours, padded.classical[rows, cols])

    def _finish_window(self, frame: float, tile: "_PreparedWindow", result: FitResult) -> FitResult:
        """Keep a fitted window's nets for warm starts; its colours as the preset returns them."""
        window = tile.window
        self._warm.remember(frame, window.cell, (tile.job.nets.state(), result.optimizer_state,
                                                 (window.y0, window.x0, window.height, window.width)),
                            cold_loss=result.losses["total"] if tile.source is None else None)
        if self.config.foreground == "estimated":
            result.fg, result.bg = colours_for(tile.classical, result.alpha, tile.colours)
        return result

    def _finish(self, result: FitResult, caller_rgb, tri, window, knee: bool, stats: MatteStats, start: float,
                source: float | None) -> MatteResult:
        stats.iterations = result.iterations
        stats.losses = result.losses
        stats.stop_reason = result.stop_reason
        stats.warm_start_from = source
        alpha, fg, bg = assemble(caller_rgb, tri, window, result, knee)
        stats.seconds = time.perf_counter() - start
        return MatteResult(alpha, fg, bg, stats)

    @property
    def _net_device(self) -> torch.device:
        """Where the nets fit: a preset that fits networks always has one (:class:`~.clip.ClipSession`)."""
        assert self.device is not None, "a preset that fits networks needs a device"
        return self.device

    @property
    def bounded(self) -> bool:
        """Whether float images go through the knee into [0, 1): networks end in a sigmoid.
        A preset that fits none solves on the caller's own values."""
        return self.config.alpha_source != "prior"

    @property
    def _classical_colours(self) -> bool:
        """Whether the F and B returned are estimated from the classical frame (in its
        values, at the solve's level) rather than the nets' (in the nets' encoding)."""
        return not self.bounded or self.config.foreground == "estimated"

    def _colours_image(self, padded: Padded) -> np.ndarray:
        """The frame whose colours pixels no window covers keep, in the returned colours' encoding."""
        return padded.classical if self._classical_colours else padded.image

    @property
    def _estimates_colours(self) -> bool:
        """Whether F and B are estimated from a classical matte (refinement or output)."""
        cfg = self.config
        return cfg.alpha_prior == "refined" or (cfg.foreground == "estimated" and cfg.alpha_prior != "none")

