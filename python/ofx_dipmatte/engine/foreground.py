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
swept, and the rest keep the coarser levels' extrapolation.

An alpha refined from these very colours (:mod:`.refine`) has absorbed their errors:
estimated again from it, F and B keep them. :func:`match_compositing` instead takes
colours estimated from an independent matte and corrects them to the final alpha.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict

import numpy as np
from scipy import ndimage

from ._foreground_sweeps import sweep_level


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
_REGIONS: "OrderedDict[bytes, list[np.ndarray | None]]" = OrderedDict()
_REGIONS_KEPT = 16
_REGIONS_LOCK = threading.Lock()


def _swept_regions_of(wanted: np.ndarray, sizes: list[tuple[int, int]],
                      sweeps: list[int]) -> list[np.ndarray | None]:
    """:func:`_swept_regions`, computed once for each mask (and levels) among the last
    :data:`_REGIONS_KEPT` asked for. The regions are read only."""
    digest = hashlib.blake2b(np.packbits(wanted).tobytes(), digest_size=16)
    digest.update(repr((wanted.shape, sizes, sweeps)).encode())
    key = digest.digest()
    with _REGIONS_LOCK:
        if key in _REGIONS:
            _REGIONS.move_to_end(key)
            return _REGIONS[key]
    regions = _swept_regions(wanted, sizes, sweeps)
    with _REGIONS_LOCK:
        _REGIONS[key] = regions
        while len(_REGIONS) > _REGIONS_KEPT:
            _REGIONS.popitem(last=False)
    return regions


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


class _Pyramid:
    """An image channel-first at each size asked for, resized to the nearest pixel."""

    def __init__(self, image: np.ndarray):
        # Single precision: colours need no more (the kernel sweeps float32).
        self.image = np.asarray(image, dtype=np.float32)
        # Colours stay in [0, 1], or up to the brightest pixel of a scene-linear image.
        self.ceiling = max(1.0, float(self.image.max())) if self.image.size else 1.0
        self._finest = np.ascontiguousarray(self.image.transpose(2, 0, 1))
        self.mean = self._finest.reshape(3, -1).mean(axis=1).reshape(3, 1, 1)
        self._levels: dict[tuple[int, int], np.ndarray] = {}

    def at(self, h: int, w: int) -> np.ndarray:
        level = self._levels.get((h, w))
        if level is None:
            level = self._levels[(h, w)] = _resize_nearest(self._finest, h, w)
        return level


class ImageLevels:
    """An image, and a clean plate where one is given, channel-first at each size the
    estimator sweeps (:func:`estimate_foreground_background`), resized as first asked for
    and kept: the estimates :mod:`.colour_estimate` makes of one image (the plain and the
    sharpened matte's, with the plate and beside it) read the same levels, which took 0.74 s
    of a 1080p warm frame's 17 thread-seconds made again for each. Not shared between threads."""

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
        """The colours' upper bound: 1, or the brightest value of a scene-linear image."""
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


def estimate_foreground_background(
    image: "np.ndarray | ImageLevels", alpha: np.ndarray, regularization: float = 1e-5, gradient_weight: float = 1.0,
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
    extrapolated them (see the module's docstring). ``image`` may be given as its
    :class:`ImageLevels` (with the plate in them, and no ``background``) by a caller that
    estimates from it more than once.
    """
    if isinstance(image, ImageLevels):
        if background is not None or background_known is not None:
            raise ValueError("estimate_foreground_background: the plate goes into the ImageLevels")
        levels = image
    else:
        levels = ImageLevels(image, background, background_known)
    alpha = np.clip(np.asarray(alpha, dtype=np.float32), 0.0, 1.0)
    if alpha.shape != levels.image.shape[:2]:
        raise ValueError("estimate_foreground_background: alpha and image differ in size")
    h0, w0 = alpha.shape
    count = max(1, math.ceil(math.log2(max(h0, w0))))
    both = np.concatenate([levels.mean, levels.mean])  # F's channels, then B's
    sizes = [(max(1, round(h0 ** (level / count))), max(1, round(w0 ** (level / count))))
             for level in range(count + 1)]
    sweeps = [small_iterations if (h <= small_size and w <= small_size) else big_iterations for h, w in sizes]
    regions = [None] * len(sizes) if wanted is None else _swept_regions_of(np.asarray(wanted, bool), sizes, sweeps)
    for (h, w), sweep_count, region in zip(sizes, sweeps, regions):
        img, plate, known = levels.at(h, w)
        a = _resize_nearest(alpha, h, w)
        both = _resize_nearest(both, h, w)  # a new array (or the coarsest level's own): swept in place
        if plate is not None:
            np.copyto(both[3:], plate, where=known)
        sweep_level(both, img, a, region, known, regularization, gradient_weight, levels.ceiling, sweep_count)
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
