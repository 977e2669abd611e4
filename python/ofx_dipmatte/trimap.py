"""Trimaps: parsing and snapping to the three levels, and rough matte → trimap.

A trimap holds three levels: 0 = known background, 0.5 = unknown, 1 = known
foreground. Inputs arrive as floats (0 / 0.5 / 1) or 8/16-bit integers
(0 / 128 / 255, 0 / 32768 / 65535), often with small deviations from painting,
resampling or compression. Values within :data:`SNAP_TOLERANCE` of 0 or 1 snap to
that level; everything else is unknown. Being generous with "unknown" is the safe
side: an unknown pixel is solved, a wrongly-known one is forced.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: Distance (on the 0–1 scale) within which a value snaps to 0 or 1. 8-bit 250–255 is
#: foreground, 0–5 is background; everything between is unknown.
SNAP_TOLERANCE = 0.02

#: Above this a float trimap is taken as integer levels stored as floats (0–255), an
#: error; a float trimap slightly above 1 (filtering overshoot) still snaps to foreground.
MAX_FLOAT_LEVEL = 1.5

BACKGROUND = 0.0
UNKNOWN = 0.5
FOREGROUND = 1.0

#: A value this far from 0.5 among the pixels :func:`snap_trimap` makes unknown lies
#: between the levels.
BETWEEN_LEVELS = 0.15
#: Above this share of the unknown pixels between the levels, a "trimap" is a soft matte:
#: 0.65–0.77 on the dev cases' own alphas; painted trimaps 0, resampled ones (a host
#: scaling them for a non-square pixel aspect) 0.01–0.17, JPEG-compressed ones 0.01–0.10.
SOFT_MATTE_SHARE = 0.3


def to_unit_float(array: np.ndarray, what: str) -> np.ndarray:
    """Convert an image-like array to float32 on the 0–1 scale of its dtype.

    uint8 and uint16 are divided by their maximum; floats are kept as they are.
    """
    array = np.asarray(array)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32, copy=False)
    raise ValueError(f"{what}: unsupported dtype {array.dtype}; use float32, uint8 or uint16")


def matte_channel(pixels: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """H×W: the channel of ``pixels`` (H×W×C) a trimap or a rough matte is read from: the
    first, unless it is flat while ``alpha`` (H×W, the image's alpha channel, if it has
    one) is not. A roto written as RGBA with black colour, or a host handing a Roto
    node's alpha-only output on as RGBA, holds the matte in A."""
    first = pixels[..., 0]
    if alpha is not None and first.min() == first.max() and alpha.min() != alpha.max():
        return alpha
    return first


def snap_trimap(trimap: np.ndarray, tolerance: float = SNAP_TOLERANCE) -> np.ndarray:
    """Return the trimap as float32 H×W with values exactly 0, 0.5 or 1.

    Args:
        trimap: H×W, or H×W×C (first channel used); float 0–1, uint8 or uint16.
        tolerance: values within this distance of 0 or 1 snap to it; the rest is unknown.

    Raises:
        ValueError: wrong shape, unsupported dtype, or NaN/Inf values.
    """
    t = np.asarray(trimap)
    if t.ndim == 3:
        t = t[..., 0]
    if t.ndim != 2:
        raise ValueError(f"trimap: expected H×W or H×W×C, got shape {tuple(np.shape(trimap))}")
    t = to_unit_float(t, "trimap")
    if not np.all(np.isfinite(t)):
        raise ValueError("trimap: contains NaN or Inf values; repaint or clean the trimap")
    top = float(t.max()) if t.size else 0.0
    if top > MAX_FLOAT_LEVEL:
        # 0 / 128 / 255 stored as floats would snap every value ≥ 1 to foreground: no
        # unknown band left, and a matte that looks solved but is only the trimap.
        raise ValueError(f"trimap: float values go up to {top:g}, but a float trimap is "
                         "0 (background), 0.5 (unknown), 1 (foreground); divide 8-bit levels "
                         "by 255 (16-bit by 65535) or pass the integer array")
    out = np.full(t.shape, UNKNOWN, dtype=np.float32)
    out[t <= tolerance] = BACKGROUND
    out[t >= 1.0 - tolerance] = FOREGROUND
    return out


def between_levels_share(trimap: np.ndarray, tolerance: float = SNAP_TOLERANCE) -> float:
    """The share of the pixels :func:`snap_trimap` makes unknown whose value lies between
    the three levels (:data:`BETWEEN_LEVELS` or more from 0.5); 0 with none unknown.
    About 0 for a painted trimap; most of them for a soft matte given as a trimap, whose
    pixels at 0 or 1 are then forced and whose band is only where it is partial."""
    t = np.asarray(trimap)
    t = to_unit_float(t[..., 0] if t.ndim == 3 else t, "trimap")
    unknown = (t > tolerance) & (t < 1.0 - tolerance)
    count = int(unknown.sum())
    return float((unknown & (np.abs(t - UNKNOWN) >= BETWEEN_LEVELS)).sum()) / count if count else 0.0


def trimap_from_rough_matte(matte: np.ndarray, band: float = 10.0, threshold: float = 0.5) -> np.ndarray:
    """Make a trimap from a soft or binary matte by opening an unknown band around its edge.

    The matte is binarised at ``threshold``; pixels within ``band`` pixels of the
    binary edge become unknown, and so does every pixel the soft matte already marks
    as partial (strictly between the snap levels). This is what an artist does by hand
    with erode/dilate, and what the OFX filter context and the CLI's ``--rough-matte`` use.

    Args:
        matte: H×W (or H×W×C, first channel) soft or binary matte, float 0–1 or uint8/uint16.
        band: half-width of the unknown band in pixels (> 0).
        threshold: level at which the matte is split into foreground and background.

    Returns:
        float32 H×W trimap with values 0, 0.5, 1.
    """
    if band <= 0:
        raise ValueError(f"band: must be > 0 pixels, got {band}")
    m = np.asarray(matte)
    if m.ndim == 3:
        m = m[..., 0]
    if m.ndim != 2:
        raise ValueError(f"matte: expected H×W or H×W×C, got shape {tuple(np.shape(matte))}")
    m = to_unit_float(m, "matte")
    if not np.all(np.isfinite(m)):
        raise ValueError("matte: contains NaN or Inf values")
    inside = m >= threshold
    # Euclidean distance to the other side, for each side: pixels near the edge are unknown.
    dist_in = ndimage.distance_transform_edt(inside)
    dist_out = ndimage.distance_transform_edt(~inside)
    trimap = np.where(inside, FOREGROUND, BACKGROUND).astype(np.float32)
    near_edge = np.where(inside, dist_in, dist_out) <= band
    if inside.any() and (~inside).any():
        trimap[near_edge] = UNKNOWN
    partial = (m > SNAP_TOLERANCE) & (m < 1.0 - SNAP_TOLERANCE)
    trimap[partial] = UNKNOWN
    return trimap
