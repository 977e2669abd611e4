"""Foreground and background colours from an alpha matte, by multi-level estimation.

Our implementation of the model of Germer, Uelwer, Conrad, Harmeling, "Fast
multi-level foreground estimation" (ICPR 2020): per pixel and channel, F and B
minimise

    (α F + (1 − α) B − I)² + Σ_neighbours w (F − F_n)² + w (B − B_n)²,
    w = regularization + gradient_weight · |α − α_n|,

so each pixel's (F, B) solves a 2×2 system given its four neighbours. The sweeps run
coarse to fine (each level's result, upsampled, starts the next), which carries
colour across wide unknown bands in a few sweeps. We sweep red-black (checkerboard)
Gauss–Seidel with numpy: every half-sweep is a handful of array operations on the
pixels of one colour, held as two strided sub-lattices. Inside, colours are held
channel-first and F and B side by side (6 × H × W): numpy's loops then run along image
rows, not over three channels at a time (about 2.5× faster per value), and one pass over
the neighbours serves both layers, which share the weights.
F is reliable where alpha is high and B where it is low; where alpha is 0 (or 1) F
(or B) is only an extrapolation from its surroundings.

Callers mostly want F and B on the unknown band only, and on a plate's tiles the band is
a thin part of each window. Told which pixels it wants, the estimator sweeps each level
only where those pixels' values can depend on (:func:`_swept_regions`): a sweep carries
a value at most two pixels, so the wanted pixels come out exactly as with every pixel
swept, and the rest keep the coarser levels' extrapolation.

An alpha refined from these very colours (:mod:`.refine`) has absorbed their errors:
estimated again from it, F and B keep them. :func:`match_compositing` instead takes
colours estimated from an independent matte and corrects them to the final alpha.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

#: Rows of the strips a level's swept region is cut into (:func:`_rectangles`); even, so
#: every rectangle keeps the level's red-black colouring.
STRIP = 32


def _nearest(source: int, size: int) -> np.ndarray:
    """For each of ``size`` positions, the one of ``source`` it is read from when a side
    is resized to the nearest pixel (:func:`_resize_nearest`, :func:`_swept_regions`)."""
    return np.minimum((np.arange(size) * source) // size, source - 1)


def _resize_nearest(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """``a`` (…×H×W: the last two axes are the image's) at h×w, nearest pixel."""
    if a.shape[-2:] == (h, w):
        return a  # the finest level: read, never written
    return a[..., _nearest(a.shape[-2], h), :][..., _nearest(a.shape[-1], w)]


def _repeat_edges(padded: np.ndarray) -> None:
    """Refill the one-pixel border of a C×H×W array with the edge pixels (as np.pad's
    "edge"), in place."""
    padded[:, 0, 1:-1] = padded[:, 1, 1:-1]
    padded[:, -1, 1:-1] = padded[:, -2, 1:-1]
    padded[:, :, 0] = padded[:, :, 1]
    padded[:, :, -1] = padded[:, :, -2]


class _Cells:
    """The pixels of one sub-lattice of a level (its even or odd rows, even or odd
    columns) with their fixed parts of the 2×2 systems, contiguous: the matrix
    [[α² + Σw, α(1 − α)], [α(1 − α), (1 − α)² + Σw]] with its inverse determinant, the
    neighbour weights and [αI, (1 − α)I] (6 × h × w). ``at`` is where they sit in a
    6 × (H + 2) × (W + 2) array padded by one pixel, ``near`` where their up, down, left
    and right neighbours do. ``fixed`` and ``weights`` hold a rectangle of the level whose
    top-left pixel is ``origin`` (even coordinates)."""

    def __init__(self, fixed: dict[str, np.ndarray], weights: list[np.ndarray], row: int, col: int,
                 origin: tuple[int, int] = (0, 0)):
        h, w = fixed["a00"].shape
        inside = (Ellipsis, slice(row, h, 2), slice(col, w, 2))
        y, x = origin[0] + row + 1, origin[1] + col + 1
        self.at = (slice(None), slice(y, y + h - row, 2), slice(x, x + w - col, 2))
        self.near = [(slice(None), slice(y + dy, y + dy + h - row, 2), slice(x + dx, x + dx + w - col, 2))
                     for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))]
        self.weights = [np.ascontiguousarray(weight[inside]) for weight in weights]
        self.fixed = {name: np.ascontiguousarray(values[inside]) for name, values in fixed.items()}
        self.empty = self.fixed["a00"].size == 0
        # Whether a clean plate gives B on any of these pixels (the plate's path, below).
        self.plate = "known_bg" in self.fixed and bool(self.fixed["known_bg"].any())
        # Right-hand sides and scratch for the sweeps (F and B, then one layer), allocated once a level.
        six, three = self.fixed["data"].shape, (3,) + self.fixed["a00"].shape
        self.buffers = (np.empty(six, np.float32), np.empty(six, np.float32),
                        np.empty(three, np.float32), np.empty(three, np.float32))


class _Level:
    """One pyramid level's 2×2 systems, split red-black: the pixels whose row plus column
    is even (two sub-lattices: even rows and columns, odd rows and columns), then the odd
    ones. A pixel's neighbours are all of the other colour, so each half-sweep solves
    only its own pixels, from strided views of the other colour. ``image``: 3×h×w
    (channel-first); ``alpha`` and ``known_bg`` (where a clean plate gives B): h×w.
    ``rectangles``: (y0, y1, x0, x1) with even y0 and x0, the parts of the level swept
    (default: all of it); the other pixels keep their values."""

    def __init__(self, image: np.ndarray, alpha: np.ndarray, regularization: float, gradient_weight: float,
                 known_bg: np.ndarray | None, ceiling: float = 1.0,
                 rectangles: list[tuple[int, int, int, int]] | None = None):
        self.ceiling = ceiling
        around = np.pad(alpha, 1, mode="edge")  # every pixel's neighbours, edges repeated
        lattices = (((0, 0), (1, 1)), ((0, 1), (1, 0)))
        self.colours: list[list[_Cells]] = [[], []]
        whole = [(0, alpha.shape[0], 0, alpha.shape[1])]
        for y0, y1, x0, x1 in whole if rectangles is None else rectangles:
            a0 = alpha[y0:y1, x0:x1]
            near = (around[y0:y1, x0 + 1:x1 + 1], around[y0 + 2:y1 + 2, x0 + 1:x1 + 1],
                    around[y0 + 1:y1 + 1, x0:x1], around[y0 + 1:y1 + 1, x0 + 2:x1 + 2])
            weights = [regularization + gradient_weight * np.abs(a0 - n) for n in near]
            a1 = 1.0 - a0
            w_sum = sum(weights)
            img = image[:, y0:y1, x0:x1]
            fixed = {"a00": a0 * a0 + w_sum, "a11": a1 * a1 + w_sum, "a01": a0 * a1,
                     "data": np.concatenate([a0 * img, a1 * img]),
                     # a00·a11 − a01², written without the cancellation (which float32 would feel).
                     "inv_det": 1.0 / (w_sum * (a0 * a0 + a1 * a1 + w_sum))}
            if known_bg is not None:
                fixed.update(known_bg=known_bg[y0:y1, x0:x1], image=img, a0=a0, a1=a1, only_f=a0 * a0 + w_sum)
            for colour, pair in zip(self.colours, lattices):
                colour.extend(cells for cells in (_Cells(fixed, weights, row, col, (y0, x0)) for row, col in pair)
                              if not cells.empty)

    def sweep(self, padded: np.ndarray) -> None:
        """One red-black Gauss–Seidel sweep, in place, on F and B (``padded``: 6 × (H + 2)
        × (W + 2), F's channels then B's) inside a one-pixel border of repeated edges (so
        neighbours are views, not copies). Where ``known_bg`` (a clean plate) gives B, B
        stays and F alone is solved. In-place arithmetic: the sweeps are most of the
        estimator's time, and temporaries most of theirs."""
        for colour in self.colours:
            for cells in colour:
                self._solve(cells, padded)
            _repeat_edges(padded)

    def _solve(self, cells: _Cells, padded: np.ndarray) -> None:
        """F and B of ``cells`` from their neighbours, written into the padded array."""
        fixed = cells.fixed
        rhs, scratch, t0, t1 = cells.buffers
        # [αI, (1 − α)I] + Σ w · neighbour, F and B at once.
        np.copyto(rhs, fixed["data"])
        for weight, near in zip(cells.weights, cells.near):
            rhs += np.multiply(weight, padded[near], out=scratch)
        b0, b1 = rhs[:3], rhs[3:]
        # [F, B] = inverse of the 2×2 matrix times [b0, b1], clipped to [0, ceiling].
        np.multiply(fixed["a11"], b0, out=t0)
        t0 -= np.multiply(fixed["a01"], b1, out=t1)
        t0 *= fixed["inv_det"]
        new_f = np.clip(t0, 0.0, self.ceiling, out=t0)
        np.multiply(fixed["a00"], b1, out=t1)
        t1 -= np.multiply(fixed["a01"], b0, out=b1)
        t1 *= fixed["inv_det"]
        new_b = np.clip(t1, 0.0, self.ceiling, out=t1)
        here = padded[cells.at]
        if cells.plate:
            # F alone minimises (αF + (1 − α)B − I)² + Σ w (F − F_n)²: one unknown per
            # channel, (α (I − (1 − α) B) + Σ w F_n) / (α² + Σ w); B stays the plate's.
            bg = here[3:]
            only_f = np.multiply(fixed["a1"], bg, out=scratch[:3])
            np.subtract(fixed["image"], only_f, out=only_f)
            only_f *= fixed["a0"]
            only_f += np.subtract(b0, fixed["data"][:3], out=scratch[3:])  # Σ w F_n
            only_f /= fixed["only_f"]
            np.copyto(new_f, np.clip(only_f, 0.0, self.ceiling, out=only_f), where=fixed["known_bg"])
            np.copyto(new_b, bg, where=fixed["known_bg"])
        here[:3] = new_f
        here[3:] = new_b


def _swept_regions(wanted: np.ndarray, sizes: list[tuple[int, int]],
                   sweeps: list[int]) -> list[np.ndarray | None]:
    """Per level (of ``sizes``, swept ``sweeps`` times each), the pixels to sweep so that
    the finest level comes out exact on ``wanted`` (None: all of the level). A red-black
    sweep moves a value one pixel per half-sweep, so after s sweeps a pixel depends on
    the start values within 2s pixels of it: those are swept (one more for safety), and
    their start values, read from the coarser level by the nearest-pixel resize, must be
    exact there in turn."""
    regions: list[np.ndarray | None] = [None] * len(sizes)
    needed = wanted
    for level in range(len(sizes) - 1, 0, -1):
        reach = 2 * sweeps[level] + 1
        region = ndimage.maximum_filter(needed, size=2 * reach + 1, mode="constant")
        if region.all():
            break  # this level and the coarser ones are swept whole
        regions[level] = region
        (h, w), (fine_h, fine_w) = sizes[level - 1], sizes[level]
        needed = np.zeros((h, w), bool)
        ys, xs = np.nonzero(region)
        needed[_nearest(h, fine_h)[ys], _nearest(w, fine_w)[xs]] = True
    return regions


def _rectangles(region: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) rectangles covering the True pixels of ``region``: per strip of
    :data:`STRIP` rows, the runs of columns the region touches, gaps narrower than a
    strip bridged (fewer, larger rectangles: each costs a dozen numpy calls a sweep).
    Their corners are even, so each keeps the level's red-black colouring."""
    h, w = region.shape
    rectangles: list[tuple[int, int, int, int]] = []
    for y0 in range(0, h, STRIP):
        y1 = min(y0 + STRIP, h)
        columns = np.flatnonzero(region[y0:y1].any(axis=0))
        if columns.size == 0:
            continue
        breaks = np.flatnonzero(np.diff(columns) > STRIP)
        starts = np.concatenate([[columns[0]], columns[breaks + 1]])
        ends = np.concatenate([columns[breaks], [columns[-1]]]) + 1
        rectangles.extend((y0, y1, int(x0) // 2 * 2, int(x1)) for x0, x1 in zip(starts, ends))
    return rectangles


def estimate_foreground_background(
    image: np.ndarray, alpha: np.ndarray, regularization: float = 1e-5, gradient_weight: float = 1.0,
    small_size: int = 32, small_iterations: int = 10, big_iterations: int = 2,
    background: np.ndarray | None = None, background_known: np.ndarray | None = None,
    wanted: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Straight foreground and background (H×W×3 each, in [0, 1]) explaining ``image``
    (H×W×3, [0, 1]; or from 0 up, scene-linear: the colours then go up to its brightest
    value) under ``alpha`` (H×W).

    Levels whose sides are at most ``small_size`` get ``small_iterations`` sweeps, larger
    ones ``big_iterations``. ``background``: the true background (a clean plate, H×W×3):
    B is that, and only F is estimated, on the pixels ``background_known`` (H×W bool;
    default all) says it covers; elsewhere both are estimated, as without a plate.
    ``wanted``: H×W bool, the pixels whose F and B the caller uses (default all): they
    come out exactly as they would otherwise, and the others are left as coarser levels
    extrapolated them (see the module's docstring).
    """
    # Single precision: colours need no more, and the sweeps run about twice as fast.
    image = np.asarray(image, dtype=np.float32)
    plate = None if background is None else np.asarray(background, np.float32).transpose(2, 0, 1)
    alpha = np.clip(np.asarray(alpha, dtype=np.float32), 0.0, 1.0)
    # Colours stay in [0, 1], or up to the brightest pixel of a scene-linear image.
    ceiling = max(1.0, float(image.max())) if image.size else 1.0
    h0, w0 = alpha.shape
    levels = max(1, math.ceil(math.log2(max(h0, w0))))
    channels_first = image.transpose(2, 0, 1)
    mean = channels_first.reshape(3, -1).mean(axis=1).reshape(3, 1, 1)
    both = np.concatenate([mean, mean])  # F's channels, then B's
    sizes = [(max(1, round(h0 ** (level / levels))), max(1, round(w0 ** (level / levels))))
             for level in range(levels + 1)]
    sweeps = [small_iterations if (h <= small_size and w <= small_size) else big_iterations for h, w in sizes]
    regions = [None] * len(sizes) if wanted is None else _swept_regions(np.asarray(wanted, bool), sizes, sweeps)
    for (h, w), sweep_count, region in zip(sizes, sweeps, regions):
        img = _resize_nearest(channels_first, h, w)
        a = _resize_nearest(alpha, h, w)
        both = _resize_nearest(both, h, w)
        known = None
        if plate is not None:
            known = np.ones((h, w), bool) if background_known is None else _resize_nearest(background_known, h, w)
            np.copyto(both[3:], _resize_nearest(plate, h, w), where=known)
        # Edge pixels repeat themselves as neighbours: w·(F − F) = 0 there, as if absent.
        system = _Level(img, a, regularization, gradient_weight, known, ceiling,
                        None if region is None else _rectangles(region))
        padded = np.pad(both, ((0, 0), (1, 1), (1, 1)), mode="edge")
        for _ in range(sweep_count):
            system.sweep(padded)
        both = padded[:, 1:-1, 1:-1]
    return (np.ascontiguousarray(both[:3].transpose(1, 2, 0), dtype=np.float32),
            np.ascontiguousarray(both[3:].transpose(1, 2, 0), dtype=np.float32))


def match_compositing(image: np.ndarray, alpha: np.ndarray, fg: np.ndarray,
                      bg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``fg`` and ``bg`` moved as little as possible (least squares, per pixel) so that
    α F + (1 − α) B reproduces ``image`` exactly: with residual R = I − αF − (1 − α)B,
    F += α R / n and B += (1 − α) R / n, n = α² + (1 − α)². Where α = 1, F becomes the
    pixel; where α = 0, B does. Not clipped: the caller bounds the colours."""
    a = np.clip(np.asarray(alpha, dtype=np.float32), 0.0, 1.0)[..., None]
    residual = image - a * fg - (1.0 - a) * bg
    norm = a * a + (1.0 - a) ** 2  # at least 0.5
    return fg + a * residual / norm, bg + (1.0 - a) * residual / norm
