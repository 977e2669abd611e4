"""How far to trust the refinement of a closed-form matte: not where that matte is smooth
and the image shows no detail of its own there.

The refinement (:mod:`.refine`) gains where closed-form's matte washes out what the
image's colours show (strands, lace, fur, hard edges): there its alpha jumps between
neighbouring pixels. Where the matte is smooth everywhere (smoke, veils, mist:
semi-transparent matter whose density changes over many pixels) closed-form's Laplacian
is already right, while the background estimated behind the matter, seen only through
it, is wrong in ways no confidence sees; every step of the refinement made such mattes
worse (docs/benchmarks.md, *Smooth mattes kept*).

The measure is the mean range over 3×3 pixels of closed-form's alpha, blurred by a
Gaussian of :data:`GRAIN_SIGMA` px first so that the grain of a plate (which the solve
passes into alpha) does not count as detail, taken over the band's mixed pixels (bare
background and solid foreground, plentiful in a wide band, say nothing about the matter).
Measured on 72 composite stills, noise-free and with grain of σ 0.01 and 0.02: smoke and
veils 0.028–0.057, hair over a background of its own colours 0.082–0.093, motion blur,
hair, fur, lace and hard edges 0.098–0.57. The refinement is kept in full above
:data:`SHARP`, not at all below :data:`SMOOTH`, in proportion between.

A smooth matte alone does not tell smoke from dense hair a pixel wide, which washes out
in closed-form's matte as smoothly (tiles of the 1080p plate of ``bench/plate_case.py``
0.018–0.136) and is where the refinement gains most. The image tells them apart: strands
put detail into the band that neither known layer has, smoke only lets the background's
own detail through, faded. So the second measure is the band's detail (the energy of the
image less its blur by :data:`DETAIL_SIGMA`) over what the known regions' detail, carried
into the band over :data:`KNOWN_SCALE` px and faded by closed-form's alpha, accounts for:
α² E(F) + (1 − α)² E(B). Its median over the mixed pixels, measured on the same 72
stills (each as one window): smoke 0.07–1.11, veils 0.59–1.11, motion blur 0.37–1.47,
hair, fur, lace and hard edges 3.4–196; on the 1080p plate's tiles 7.0–497. Alone it
would keep closed-form's matte on motion blur, where the refinement gains over it; held to
the known regions' colour samples (:mod:`.sampled_density`) the kept matte does as well
there, and better where the blur is long, so a sharp matte without detail of its own
keeps half of each (:data:`SMEAR_TRUST`), detail of its own all of the refinement.
Grain, added after compositing, raises smoke's reading (1.46 at σ 0.02).

A hard edge is sharper still than a smear, and where both layers are textured (a printed
or patterned object over a busy background) their detail accounts for the band's, as it
does beside a smear. Read by the range alone, the two do not overlap: motion blur
0.12–0.17, hard edges 0.24–0.59 (25 stills: dev, three held-out draws, composites over
photographs). From :data:`EDGE` on the matte is an edge, refined in full whatever the
band's detail says; a textured hard edge that kept half of closed-form's matte held to
the samples came out 1.05× closed-form's SAD, refined in full 0.74× (docs/benchmarks.md).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .colour_norms import squared_norm

#: Mean 3×3 range at and below which closed-form's matte is kept as it is ...
SMOOTH = 0.06
#: ... and at and above which the refinement is kept in full.
SHARP = 0.09
#: Gaussian σ (pixels) of the blur before the range is read.
GRAIN_SIGMA = 1.0
#: A pixel is mixed when its alpha is this far from 0 and from 1.
MIXED = 0.02
#: Gaussian σ (pixels) of the blur whose residual is an image's detail.
DETAIL_SIGMA = 1.0
#: Gaussian σ (pixels) over which the detail of the known regions is averaged and carried
#: into the band: a texture's statistics hold over a few of its features.
KNOWN_SCALE = 12.0
#: The carried detail is averaged over blocks this many pixels wide before it is blurred.
CARRY_POOL = 4
#: Detail energy (summed over RGB) that is always there: 8-bit steps, mild grain.
DETAIL_FLOOR = 1e-5
#: Ratio of the band's detail to the known layers' at and below which the band shows
#: nothing of its own (smoke: the background's detail, faded) ...
EXPLAINED = 1.5
#: ... and at and above which it does (strands): the refinement is kept in full.
OWN_DETAIL = 2.5
#: Mean 3×3 range from which a sharp matte starts to read as a hard edge rather than a
#: smear (motion blur: 0.12–0.17) ...
EDGE_START = 0.2
#: ... and at and above which it is one (hard edges: 0.24–0.59): refined in full.
EDGE = 0.3
#: The share of the refinement kept where the matte is sharp but the band shows no detail
#: of its own (motion blur) and the matte kept otherwise is held to the known regions'
#: colour samples (``Preset.smooth_samples``). Measured on the 7 motion-blur stills of
#: 83 composites (dev and held-out): SAD median 0.988×, worst 1.006×, gradient 0.91× the
#: full refinement's (0 of it: 0.987×, worst 1.033×, gradient 0.85×); every other still
#: has a sharp matte and detail of its own, or neither. Against closed-form's matte kept
#: instead, half of it lost 2 % (docs/benchmarks.md).
SMEAR_TRUST = 0.5


def mixed_pixels(alpha: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """H×W bool: the ``unknown`` pixels whose ``alpha`` is :data:`MIXED` away from 0 and 1,
    the ones that show the matter (a wide band's bare and solid pixels say nothing of it)."""
    return unknown & (alpha > MIXED) & (alpha < 1.0 - MIXED)


def local_range(alpha: np.ndarray, unknown: np.ndarray) -> float:
    """The mean over ``unknown``'s mixed pixels of the range (max − min) over 3×3 pixels of
    ``alpha`` blurred by :data:`GRAIN_SIGMA`; 1.0 (sharp) where no pixel is mixed, so a
    hard-edged matte stays refined."""
    mixed = mixed_pixels(alpha, unknown)
    if not mixed.any():
        return 1.0
    blurred = ndimage.gaussian_filter(np.asarray(alpha, np.float32), GRAIN_SIGMA, mode="nearest")
    spread = (ndimage.maximum_filter(blurred, size=3, mode="nearest")
              - ndimage.minimum_filter(blurred, size=3, mode="nearest"))
    return float(spread[mixed].mean())


def detail_energy(image: np.ndarray) -> np.ndarray:
    """H×W: the squared difference (summed over RGB) between ``image`` and its blur by
    :data:`DETAIL_SIGMA`, averaged over a few pixels."""
    image = np.asarray(image, np.float32)
    blurred = ndimage.gaussian_filter(image, (DETAIL_SIGMA, DETAIL_SIGMA, 0), mode="nearest")
    energy = squared_norm(image - blurred)
    return ndimage.gaussian_filter(energy, 2 * DETAIL_SIGMA, mode="nearest")


def carried_mean(values: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``values`` (H×W, or H×W×C: each channel alike) averaged over the pixels ``where``
    within about :data:`KNOWN_SCALE` px of each pixel (0 where there are none). Summed
    over :data:`CARRY_POOL`² blocks first and blurred on that coarser grid: an average
    over this scale changes little from one pixel to the next, and a 97-tap blur of every
    pixel was most of the measure's time."""
    h, w = where.shape
    rows, cols = -(-h // CARRY_POOL), -(-w // CARRY_POOL)

    def pooled(plane: np.ndarray) -> np.ndarray:
        blocks = np.zeros((rows * CARRY_POOL, cols * CARRY_POOL) + plane.shape[2:], np.float32)
        blocks[:h, :w] = plane
        return blocks.reshape(rows, CARRY_POOL, cols, CARRY_POOL, *plane.shape[2:]).sum(axis=(1, 3))

    sigma = (KNOWN_SCALE / CARRY_POOL,) * 2
    weight = ndimage.gaussian_filter(pooled(where.astype(np.float32)), sigma, mode="nearest")
    inside = where.reshape(where.shape + (1,) * (values.ndim - 2))
    total = ndimage.gaussian_filter(pooled(np.where(inside, values, 0.0)), sigma + (0,) * (values.ndim - 2),
                                    mode="nearest")
    mean = total / np.maximum(weight, 1e-6).reshape(weight.shape + (1,) * (values.ndim - 2))
    # Each block's value at its centre, interpolated between centres (edge blocks held):
    # bilinear, as rows then columns of two-tap weights.
    down, across = _linear_weights(h, rows), _linear_weights(w, cols)
    rows_done = np.tensordot(down, mean, axes=(1, 0))  # h × cols (× C)
    return np.moveaxis(np.tensordot(rows_done, across, axes=(1, 1)), -1, 1).astype(np.float32)


def _linear_weights(size: int, blocks: int) -> np.ndarray:
    """size × blocks: the linear interpolation of values at the centres of ``blocks``
    blocks of :data:`CARRY_POOL` pixels onto ``size`` pixels, held beyond the end centres."""
    at = np.clip((np.arange(size) + 0.5) / CARRY_POOL - 0.5, 0, blocks - 1)
    low = np.floor(at).astype(np.int64)
    high = np.minimum(low + 1, blocks - 1)
    weights = np.zeros((size, blocks))
    np.add.at(weights, (np.arange(size), low), 1.0 - (at - low))
    np.add.at(weights, (np.arange(size), high), at - low)
    return weights


def own_detail(image: np.ndarray, trimap: np.ndarray, alpha: np.ndarray) -> float:
    """The median over the band's mixed pixels of the band's detail over the detail the
    known layers account for there (α² E(F) + (1 − α)² E(B), each carried in from the
    trimap's known pixels); ∞ where no pixel is mixed. About 1 or less: smoke, the
    background seen through; well above: strands of the foreground's own."""
    mixed = mixed_pixels(alpha, trimap == 0.5)
    if not mixed.any():
        return float("inf")
    energy = detail_energy(image)
    a = np.asarray(alpha, np.float32)
    expected = a ** 2 * carried_mean(energy, trimap == 1.0) + (1 - a) ** 2 * carried_mean(energy, trimap == 0.0)
    return float(np.median(energy[mixed] / (expected[mixed] + DETAIL_FLOOR)))


def _ramp(value: float, low: float, high: float) -> float:
    """0 at and below ``low``, 1 from ``high``, linear between."""
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def sharp_share(alpha: np.ndarray, unknown: np.ndarray) -> float:
    """0 where ``alpha``'s :func:`local_range` is at most :data:`SMOOTH`, 1 from
    :data:`SHARP`, linear between."""
    return _ramp(local_range(alpha, unknown), SMOOTH, SHARP)


def edge_share(alpha: np.ndarray, unknown: np.ndarray) -> float:
    """0 where ``alpha``'s :func:`local_range` is at most :data:`EDGE_START` (a smear at
    most), 1 from :data:`EDGE` (a hard edge), linear between."""
    return _ramp(local_range(alpha, unknown), EDGE_START, EDGE)


def detail_share(image: np.ndarray, trimap: np.ndarray, alpha: np.ndarray) -> float:
    """0 where the band's :func:`own_detail` is at most :data:`EXPLAINED`, 1 from
    :data:`OWN_DETAIL`, linear between."""
    return _ramp(own_detail(image, trimap, alpha), EXPLAINED, OWN_DETAIL)


def refinement_trust(image: np.ndarray, trimap: np.ndarray, alpha: np.ndarray, smear: float = 1.0) -> float:
    """The share (0 to 1) of the refinement to keep over the matte kept otherwise, from
    closed-form's ``alpha`` (H×W) of ``image`` (H×W×3) and its snapped ``trimap``: all of
    it where the band shows detail of its own (:func:`detail_share`); ``smear`` of it
    where closed-form's matte is sharp (:func:`sharp_share`) but the band shows no detail
    of its own (motion blur); all of it again where the matte is as sharp as a hard edge
    (:func:`edge_share`); none where the matte is smooth and the band shows nothing of
    its own (smoke); in proportion between."""
    sharpness = local_range(alpha, trimap == 0.5)
    sharp, edge = _ramp(sharpness, SMOOTH, SHARP), _ramp(sharpness, EDGE_START, EDGE)
    if edge >= 1.0 or (sharp >= 1.0 and smear >= 1.0):
        return 1.0  # all of it whatever the band shows: the reading (a few blurs of the window) is not needed
    detail = detail_share(image, trimap, alpha)
    return max(detail, edge, sharp * (smear + (1.0 - smear) * detail))
