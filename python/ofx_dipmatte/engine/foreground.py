"""Foreground and background colours from an alpha matte, by multi-level estimation.

Our implementation of the model of Germer, Uelwer, Conrad, Harmeling, "Fast
multi-level foreground estimation" (ICPR 2020): per pixel and channel, F and B
minimise

    (α F + (1 − α) B − I)² + Σ_neighbours w (F − F_n)² + w (B − B_n)²,
    w = regularization + gradient_weight · |α − α_n|,

so each pixel's (F, B) solves a 2×2 system given its four neighbours. The sweeps run
coarse to fine (each level's result, upsampled, starts the next), which carries
colour across wide unknown bands in a few sweeps. Each level is swept red-black
(checkerboard) Gauss–Seidel by a compiled kernel (``kernels/foreground_sweeps.cpp``):
a pixel's neighbours are all of the other colour, so each half-sweep updates one colour
from the other, in single precision. Written as numpy array passes (the first version),
a dozen passes over memory per sub-lattice, the estimate took 4.8× as long on a 512²
window and 2.7× on a band through it; the kernel computes each value with the same operations
in the same order, so the colours are the same to the bit (tests/test_alpha_solvers.py).
F is reliable where alpha is high and B where it is low; where alpha is 0 (or 1) F
(or B) is only an extrapolation from its surroundings.

Callers mostly want F and B on the unknown band only, and on a plate's tiles the band is
a thin part of each window. Told which pixels it wants, the estimator sweeps each level
only where those pixels' values can depend on (:func:`_swept_regions`): a sweep carries
a value at most two pixels, so the wanted pixels come out exactly as with every pixel
swept, and the rest keep the coarser levels' extrapolation. Asked for a box of the frame
alone (a plate's tile, whose colours are estimated with the whole subject's region as
context), each level holds and sweeps only the part of it the box depends on: the box
comes out as the whole frame's estimate gives it, at a cost that follows the box.

An alpha refined from these very colours (:mod:`.refine`) has absorbed their errors:
estimated again from it, F and B keep them. :func:`match_compositing` instead takes
colours estimated from an independent matte and corrects them to the final alpha.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from typing import NamedTuple, Optional

import numpy as np
from scipy import ndimage

from ._foreground_sweeps import sweep_level
from .region import Window


def _nearest(source: int, size: int) -> np.ndarray:
    """For each of ``size`` positions, the one of ``source`` it is read from when a side
    is resized to the nearest pixel (:func:`_resize_nearest`, :func:`_swept_regions`)."""
    return np.minimum((np.arange(size) * source) // size, source - 1)


def _resize_nearest(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """``a`` (…×H×W: the last two axes are the image's) at h×w, nearest pixel."""
    if a.shape[-2:] == (h, w):
        return a  # already that size (the finest level's image and alpha, read only)
    # np.take along each axis: 3–7× faster than chained fancy indexing (whose last-axis
    # gather is slow), and C-contiguous, as the sweeps want their arrays.
    return np.take(np.take(a, _nearest(a.shape[-2], h), axis=-2), _nearest(a.shape[-1], w), axis=-1)


#: The last few :func:`_swept_regions` (a window's estimates ask for the same pixels
#: again and again: 7–14 times a tile of a 1080p frame), by a digest of what they were
#: computed from; shared by the tiles' threads.
_REGIONS: "OrderedDict[bytes, list[LevelPart]]" = OrderedDict()
_REGIONS_KEPT = 16
_REGIONS_LOCK = threading.Lock()

#: Per level: the box of it an estimate reads and writes, and the pixels of that box it
#: sweeps (None: all of them).
LevelPart = tuple[Window, Optional[np.ndarray]]


def _swept_regions_of(wanted: np.ndarray | None, box: Window, sizes: list[tuple[int, int]],
                      sweeps: list[int]) -> list[LevelPart]:
    """:func:`_swept_regions`, computed once for each mask (box and levels) among the last
    :data:`_REGIONS_KEPT` asked for. The regions are read only."""
    digest = hashlib.blake2b(b"" if wanted is None else np.packbits(wanted).tobytes(), digest_size=16)
    digest.update(repr((None if wanted is None else wanted.shape, box, sizes, sweeps)).encode())
    key = digest.digest()
    with _REGIONS_LOCK:
        if key in _REGIONS:
            _REGIONS.move_to_end(key)
            return _REGIONS[key]
    regions = _swept_regions(wanted, box, sizes, sweeps)
    with _REGIONS_LOCK:
        _REGIONS[key] = regions
        while len(_REGIONS) > _REGIONS_KEPT:
            _REGIONS.popitem(last=False)
    return regions


def _swept_regions(wanted: np.ndarray | None, box: Window, sizes: list[tuple[int, int]],
                   sweeps: list[int]) -> list[LevelPart]:
    """Per level (of ``sizes``, swept ``sweeps`` times each), the pixels to sweep so that
    the finest level comes out exact on ``wanted`` (the pixels of ``box`` whose colours are
    used; None: all of it), and the box of the level they and their neighbours lie in.
    A red-black sweep moves a value one pixel per half-sweep, so after s sweeps a pixel
    depends on the start values within 2s pixels of it: those are swept (one more for
    safety), and their start values, read from the coarser level by the nearest-pixel
    resize, must be exact there in turn; so must those of the box's pixels that are not
    swept. Every pixel of a level's box then comes out as if the whole level were swept
    on the same regions. A box's origin is on even rows and columns: the kernel's
    red-black order counts from it."""
    parts: list[LevelPart] = [(Window(0, 0, h, w), None) for h, w in sizes]
    whole = box == Window(0, 0, *sizes[-1])
    if wanted is None:
        if whole:
            return parts  # every level swept whole
        wanted = np.ones((box.height, box.width), bool)
    needed, at, required = wanted, (box.y0, box.x0), box  # a mask over part of the level, where it lies
    for level in range(len(sizes) - 1, 0, -1):
        h, w = sizes[level]
        reach = 2 * sweeps[level] + 1
        region, at = _dilated(needed, at, reach, (h, w))
        if region.shape == (h, w) and region.all():
            break  # this level and the coarser ones are swept whole
        y0, x0 = required.y0, required.x0
        y1, x1 = required.y0 + required.height, required.x0 + required.width
        rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
        if rows.size:  # the swept pixels (the region cut to them) and their neighbours
            region = region[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
            at = (at[0] + int(rows[0]), at[1] + int(cols[0]))
            y0, y1 = min(y0, at[0] - 1), max(y1, at[0] + region.shape[0] + 1)
            x0, x1 = min(x0, at[1] - 1), max(x1, at[1] + region.shape[1] + 1)
        y0, x0 = max(y0, 0) // 2 * 2, max(x0, 0) // 2 * 2
        part = Window(y0, x0, min(y1, h) - y0, min(x1, w) - x0)
        swept = np.zeros((part.height, part.width), bool)
        if rows.size:
            swept[at[0] - y0:at[0] - y0 + region.shape[0], at[1] - x0:at[1] - x0 + region.shape[1]] = region
        parts[level] = (part, swept)
        # What the coarser level must get right: the start values of this box.
        row_of, col_of = _nearest(sizes[level - 1][0], h), _nearest(sizes[level - 1][1], w)
        ry0, rx0 = int(row_of[y0]), int(col_of[x0])
        required = Window(ry0, rx0, int(row_of[y0 + part.height - 1]) + 1 - ry0,
                          int(col_of[x0 + part.width - 1]) + 1 - rx0)
        ys, xs = np.nonzero(swept)
        if ys.size == 0:
            needed, at = np.zeros((0, 0), bool), (0, 0)
            continue
        ys, xs = row_of[ys + y0], col_of[xs + x0]
        at = (int(ys.min()), int(xs.min()))
        needed = np.zeros((int(ys.max()) + 1 - at[0], int(xs.max()) + 1 - at[1]), bool)
        needed[ys - at[0], xs - at[1]] = True
    return parts


def _dilated(mask: np.ndarray, at: tuple[int, int], reach: int,
             shape: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """``mask`` (lying at ``at`` of a level of ``shape``) grown by ``reach`` pixels each way
    (a square), on its box grown as far, within the level; and where that box lies."""
    if mask.size == 0 or not mask.any():
        return np.zeros((0, 0), bool), (0, 0)
    y0, x0 = max(at[0] - reach, 0), max(at[1] - reach, 0)
    y1, x1 = min(at[0] + mask.shape[0] + reach, shape[0]), min(at[1] + mask.shape[1] + reach, shape[1])
    grown = np.zeros((y1 - y0, x1 - x0), bool)
    grown[at[0] - y0:at[0] - y0 + mask.shape[0], at[1] - x0:at[1] - x0 + mask.shape[1]] = mask
    return ndimage.maximum_filter(grown, size=2 * reach + 1, mode="constant"), (y0, x0)


class Overlaid(NamedTuple):
    """A frame-sized matte read in parts, never assembled: ``under`` (H×W) with ``over``
    in place of its pixels at ``at`` (a tile's alpha over the frame's context; or a matte
    sharpened near a box). Each estimate would otherwise copy the frame: 33 MB at 4K UHD,
    on every thread."""

    under: np.ndarray  # float32
    over: np.ndarray  # float32
    at: Window

    @property
    def shape(self) -> tuple[int, int]:
        return (self.under.shape[0], self.under.shape[1])

    def resized_part(self, h: int, w: int, part: Window) -> np.ndarray:
        """``part`` of the matte resized to h×w by the nearest pixel (a new array)."""
        rows = _nearest(self.under.shape[0], h)[part.y0:part.y0 + part.height]
        cols = _nearest(self.under.shape[1], w)[part.x0:part.x0 + part.width]
        out = np.take(np.take(self.under, rows, axis=0), cols, axis=1)
        # The rows and columns read from ``over``: a run of each, as both are sorted.
        r0, r1 = np.searchsorted(rows, [self.at.y0, self.at.y0 + self.at.height])
        c0, c1 = np.searchsorted(cols, [self.at.x0, self.at.x0 + self.at.width])
        if r1 > r0 and c1 > c0:
            out[r0:r1, c0:c1] = np.take(np.take(self.over, rows[r0:r1] - self.at.y0, axis=0),
                                        cols[c0:c1] - self.at.x0, axis=1)
        return out


def matte_part(alpha: "np.ndarray | Overlaid", box: Window) -> np.ndarray:
    """The pixels of ``box`` of a frame-sized matte, as float32 (a new array for an
    :class:`Overlaid` one)."""
    if isinstance(alpha, Overlaid):
        return alpha.resized_part(*alpha.shape, box).astype(np.float32, copy=False)
    return np.asarray(alpha[box.slices], np.float32)


def _crop_nearest(a: "np.ndarray | Overlaid", h: int, w: int, part: Window) -> np.ndarray:
    """``part`` of ``a`` (…×H×W) resized to h×w by the nearest pixel (:func:`_resize_nearest`),
    computed for that part alone; C-contiguous."""
    if isinstance(a, Overlaid):
        return a.resized_part(h, w, part)
    if a.shape[-2:] == (h, w):
        return np.ascontiguousarray(a[..., part.y0:part.y0 + part.height, part.x0:part.x0 + part.width])
    rows = _nearest(a.shape[-2], h)[part.y0:part.y0 + part.height]
    cols = _nearest(a.shape[-1], w)[part.x0:part.x0 + part.width]
    return np.take(np.take(a, rows, axis=-2), cols, axis=-1)


class _Pyramid:
    """An image channel-first at each size asked for, resized to the nearest pixel."""

    def __init__(self, image: np.ndarray):
        # Single precision: colours need no more (the kernel sweeps float32).
        self.image = np.asarray(image, dtype=np.float32)
        # No colour brighter than the image's brightest value: where the foreground's
        # brightest colour shows anywhere, F cannot overshoot it and thin the matte (a
        # bright subject whose F overshot: twice the SAD, docs/benchmarks.md, *Bright
        # subjects*). Not 1: at the solve's level that depends on the exposure.
        self.ceiling = max(float(self.image.max()), 0.0) if self.image.size else 1.0
        self._finest = np.ascontiguousarray(self.image.transpose(2, 0, 1))
        self.mean = self._finest.reshape(3, -1).mean(axis=1).reshape(3, 1, 1)
        self._levels: dict[tuple[int, int], np.ndarray] = {}

    def at(self, h: int, w: int) -> np.ndarray:
        level = self._levels.get((h, w))
        if level is None:
            level = self._levels[(h, w)] = _resize_nearest(self._finest, h, w)
        return level

    def crop(self, h: int, w: int, part: Window) -> np.ndarray:
        """``part`` of the level h×w (3×…, C-contiguous): cut from the whole level where it
        is kept or the part is most of it (then kept), else resized for the part alone (a
        tile's box at the finest levels of a whole frame)."""
        return _level_part(self._levels, self._finest, h, w, part)


class ImageLevels:
    """An image, and a clean plate where one is given, channel-first at each size the
    estimator sweeps (:func:`estimate_foreground_background`), resized as first asked for
    and kept: the estimates :mod:`.colour_estimate` makes of one image (the plain and the
    sharpened matte's, with the plate and beside it) read the same levels, which took 0.74 s
    of a 1080p warm frame's 17 thread-seconds made again for each. A plate's tiles share
    one frame's (:meth:`crop`): two threads keeping the same level both compute it, and
    one of them is kept."""

    def __init__(self, image: "np.ndarray | ImageLevels", background: np.ndarray | None = None,
                 background_known: np.ndarray | None = None):
        # Another's levels: the same image's, shared (with a plate of its own, or none).
        self._pyramid: _Pyramid = image._pyramid if isinstance(image, ImageLevels) else _Pyramid(image)
        # Channel-first and contiguous once: every level reads a resize of the plate (of a
        # transposed view, those took twice as long: 0.7 s of a 1080p warm frame).
        self.plate = None if background is None else np.ascontiguousarray(
            np.asarray(background, np.float32).transpose(2, 0, 1))
        self.known = None if background_known is None else np.ascontiguousarray(background_known, dtype=bool)
        self._plates: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    @property
    def image(self) -> np.ndarray:
        """The image, H×W×3 float32."""
        return self._pyramid.image

    @property
    def ceiling(self) -> float:
        """The colours' upper bound: the image's brightest value."""
        return self._pyramid.ceiling

    @property
    def mean(self) -> np.ndarray:
        """The image's mean colour, 3×1×1: where every estimate starts."""
        return self._pyramid.mean

    def without_background(self) -> "ImageLevels":
        """The same image's levels (shared), with no plate."""
        return ImageLevels(self)

    def at(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The image (3×h×w), and the plate (3×h×w) with where it holds (h×w), at h×w."""
        image = self._pyramid.at(h, w)
        if self.plate is None:
            return image, None, None
        plate = self._plates.get((h, w))
        if plate is None:
            known = np.ones((h, w), bool) if self.known is None else _resize_nearest(self.known, h, w)
            plate = self._plates[(h, w)] = (_resize_nearest(self.plate, h, w), known)
        return image, plate[0], plate[1]

    def crop(self, h: int, w: int, part: Window) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """:meth:`at`, for ``part`` of the level only (C-contiguous)."""
        image = self._pyramid.crop(h, w, part)
        if self.plate is None:
            return image, None, None
        if (h, w) in self._plates or 2 * part.height * part.width > h * w:
            _, plate, known = self.at(h, w)
            assert plate is not None and known is not None
            rows, cols = part.slices
            return image, np.ascontiguousarray(plate[:, rows, cols]), np.ascontiguousarray(known[rows, cols])
        known = np.ones((part.height, part.width), bool) if self.known is None else \
            _crop_nearest(self.known, h, w, part)
        return image, _crop_nearest(self.plate, h, w, part), known


def _level_part(kept: dict, finest: np.ndarray, h: int, w: int, part: Window) -> np.ndarray:
    """``part`` of ``finest`` (C×H×W) at h×w, cut from the whole level (kept in ``kept``)
    when it is kept already or the part is more than half of it."""
    level = kept.get((h, w))
    if level is None and 2 * part.height * part.width > h * w:
        level = kept[(h, w)] = _resize_nearest(finest, h, w)
    if level is None:
        return _crop_nearest(finest, h, w, part)
    return np.ascontiguousarray(level[(slice(None), *part.slices)])


def estimate_foreground_background(
    image: "np.ndarray | ImageLevels", alpha: "np.ndarray | Overlaid", regularization: float = 1e-5,
    gradient_weight: float = 1.0,
    small_size: int = 32, small_iterations: int = 10, big_iterations: int = 2,
    background: np.ndarray | None = None, background_known: np.ndarray | None = None,
    wanted: np.ndarray | None = None, box: Window | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Straight foreground and background (each the box's size ×3, in [0, 1]) explaining ``image``
    (H×W×3, [0, 1]; or from 0 up, scene-linear: the colours then go up to its brightest
    value) under ``alpha`` (H×W, or :class:`Overlaid`).

    Levels whose sides are at most ``small_size`` get ``small_iterations`` sweeps, larger
    ones ``big_iterations``. ``background``: the true background (a clean plate, H×W×3):
    B is that, and only F is estimated, on the pixels ``background_known`` (H×W bool;
    default all) says it covers; elsewhere both are estimated, as without a plate.
    ``box``: the part of the image whose F and B are returned (default all of it); only
    what they depend on is computed, level by level. ``wanted``: bool, the box's size, the
    pixels of it whose F and B the caller uses (default all): they come out exactly as
    they would otherwise, and the others are left as coarser levels extrapolated them (see
    the module's docstring). ``image`` may be given as its
    :class:`ImageLevels` (with the plate in them, and no ``background``) by a caller that
    estimates from it more than once.
    """
    if isinstance(image, ImageLevels):
        if background is not None or background_known is not None:
            raise ValueError("estimate_foreground_background: the plate goes into the ImageLevels")
        levels = image
    else:
        levels = ImageLevels(image, background, background_known)
    if not isinstance(alpha, Overlaid):
        alpha = np.asarray(alpha, dtype=np.float32)
    if alpha.shape != levels.image.shape[:2]:
        raise ValueError("estimate_foreground_background: alpha and image differ in size")
    h0, w0 = alpha.shape
    box = box or Window(0, 0, h0, w0)
    if box.y0 < 0 or box.x0 < 0 or box.y0 + box.height > h0 or box.x0 + box.width > w0:
        raise ValueError("estimate_foreground_background: the box is not inside the image")
    if wanted is not None and np.shape(wanted) != (box.height, box.width):
        raise ValueError("estimate_foreground_background: wanted is not the box's size")
    count = max(1, math.ceil(math.log2(max(h0, w0))))
    sizes = [(max(1, round(h0 ** (level / count))), max(1, round(w0 ** (level / count))))
             for level in range(count + 1)]
    sweeps = [small_iterations if (h <= small_size and w <= small_size) else big_iterations for h, w in sizes]
    parts = _swept_regions_of(None if wanted is None else np.asarray(wanted, bool), box, sizes, sweeps)
    both = np.concatenate([levels.mean, levels.mean])  # F's channels, then B's: the 1×1 level's start
    held, held_size = Window(0, 0, 1, 1), (1, 1)  # the part of a level ``both`` holds, and that level's size
    for (h, w), sweep_count, (part, region) in zip(sizes, sweeps, parts):
        img, plate, known = levels.crop(h, w, part)
        a = np.clip(_crop_nearest(alpha, h, w, part), 0.0, 1.0)
        # Start values: the coarser level's, nearest pixel (a new array, swept in place).
        rows = _nearest(held_size[0], h)[part.y0:part.y0 + part.height] - held.y0
        cols = _nearest(held_size[1], w)[part.x0:part.x0 + part.width] - held.x0
        both = np.take(np.take(both, rows, axis=1), cols, axis=2)
        held, held_size = part, (h, w)
        if plate is not None:
            np.copyto(both[3:], plate, where=known)
        sweep_level(both, img, a, region, known, regularization, gradient_weight, levels.ceiling, sweep_count)
    both = both[:, box.y0 - held.y0:box.y0 - held.y0 + box.height, box.x0 - held.x0:box.x0 - held.x0 + box.width]
    return (np.ascontiguousarray(both[:3].transpose(1, 2, 0)), np.ascontiguousarray(both[3:].transpose(1, 2, 0)))


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
