"""How far a frame's background moved against a plate stacked from the same shot.

A camera that drifts or pans by a fraction of a pixel a frame leaves the background's
colours nearly where they were: the RMS difference that
:meth:`.clean_plate.PlateStack.disagreement` measures stays near the grain's. Yet a stack
of such frames places the background's detail a fraction of a pixel off behind the band,
where the refinement reads it as B, and the matte gets worse than with no stack at all
(docs/benchmarks.md, *A drifting camera*). So the motion is measured itself: one
Lucas–Kanade step of an affine motion (a pan, a tilt, a zoom or a roll) fitted over the
pixels both show as background, in grey and slightly blurred so that a step of a pixel or
so is still within the linearisation's reach (larger moves show in the RMS difference).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: How far (pixels, at the least likely given the fit's noise) the background may have
#: moved against the stack before a frame counts as shot by a moving camera. On the dev
#: clip made to drift, carrying cost more than it gave from 0.28 px a frame on; with 0.35
#: the check never left it worse than its frames on their own (docs/benchmarks.md,
#: *A drifting camera*).
MOVING_SHIFT = 0.35
#: Blur (σ, pixels) on both images before their gradients are taken.
BLUR = 1.0
#: Pixels within this of the shared region's edge (not the frame's) are not used: the
#: blur mixes in the pixels beyond it (the subject, or the stack's empty parts).
EDGE = 3
#: Fewer shared pixels than this: nothing is measured.
MIN_PIXELS = 256
#: A frame larger than this (pixels, the shared pixels' bounding box) is measured on
#: blocks of 2×2, 4×4 … pixels, averaged, so that at most this many remain: at 1080p
#: and 4K the full frame took 0.5–1.3 s, and a shift of a third of a pixel is still
#: about a tenth of a 4K block, well within the fit's reach.
MAX_PIXELS = 600_000
#: At most this many pixels enter the fit (a regular subsample).
MAX_SAMPLES = 200_000
#: The blur correlates neighbouring residuals: about this many adjacent pixels carry one
#: independent sample (the area of a Gaussian of σ BLUR, 4πσ²), for the fit's noise.
CORRELATED = 4.0 * np.pi * BLUR ** 2


def background_shift(plate: np.ndarray, image: np.ndarray, shared: np.ndarray,
                     exposure: "tuple[np.ndarray, np.ndarray] | None" = None) -> float | None:
    """How far ``image``'s background moved against ``plate`` (H×W×3 each), at least: the
    largest displacement over the ``shared`` pixels' (H×W bool) bounding box of the
    affine motion fitted there, less three of its standard errors (0 when the motion is
    within its own noise). ``exposure``: the plate's per-channel gain and offset to the
    image's exposure (:func:`.clean_plate.exposure_line`), if it needs one. None when they
    share fewer than :data:`MIN_PIXELS` pixels away from their edges."""
    rows, cols = np.nonzero(shared.any(axis=1))[0], np.nonzero(shared.any(axis=0))[0]
    if rows.size == 0:
        return None
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    shared = shared[box]
    # A plate's frame holds millions of pixels: measured on blocks of them, in grey.
    factor = 1
    while shared.size > MAX_PIXELS * factor * factor:
        factor *= 2
    before, after = grey(reduced(plate[box], factor), exposure), grey(reduced(image[box], factor))
    shared = reduced(shared, factor)
    inner = ndimage.binary_erosion(shared, iterations=EDGE, border_value=1)  # the frame's edge is no mask edge
    ys, xs = np.nonzero(inner)
    if ys.size < MIN_PIXELS:
        return None
    step = max(1, ys.size // MAX_SAMPLES)
    ys, xs = ys[::step], xs[::step]
    before, after = ndimage.gaussian_filter(before, BLUR), ndimage.gaussian_filter(after, BLUR)
    grad_y, grad_x = np.gradient(before)
    # The motion d(p) = t + A·(p − centre), in units of half the box, so the six
    # parameters are of one scale; image(p) ≈ plate(p − d(p)) ≈ plate(p) − ∇plate·d(p).
    centre_y, centre_x = ys.mean(), xs.mean()
    half = max(float(np.ptp(ys)), float(np.ptp(xs)), 1.0) / 2.0
    u, v = (xs - centre_x) / half, (ys - centre_y) / half
    gx, gy = grad_x[ys, xs].astype(np.float64), grad_y[ys, xs].astype(np.float64)
    design = np.stack([gx, gy, gx * u, gx * v, gy * u, gy * v], axis=1)
    residual = (after - before)[ys, xs].astype(np.float64)
    normal = design.T @ design
    normal += np.eye(6) * (1e-9 * np.trace(normal) + 1e-18)  # a flat background: no motion to see
    covariance = np.linalg.inv(normal)
    motion = covariance @ (-design.T @ residual)
    # Residuals of neighbouring samples are alike (the blur): fewer independent ones.
    noise = float(np.mean(np.square(residual + design @ motion))) * max(CORRELATED / step, 1.0)
    farthest = 0.0
    for corner_u in ((xs.min() - centre_x) / half, (xs.max() - centre_x) / half):
        for corner_v in ((ys.min() - centre_y) / half, (ys.max() - centre_y) / half):
            jacobian = np.array([[1.0, 0.0, corner_u, corner_v, 0.0, 0.0],
                                 [0.0, 1.0, 0.0, 0.0, corner_u, corner_v]])
            shift = float(np.hypot(*(jacobian @ motion)))
            error = float(np.sqrt(max(np.trace(jacobian @ covariance @ jacobian.T) * noise, 0.0)))
            farthest = max(farthest, shift - 3.0 * error)
    return farthest * factor


def grey(image: np.ndarray, exposure: "tuple[np.ndarray, np.ndarray] | None" = None) -> np.ndarray:
    """H×W float32: the mean of the colour channels, each first taken to ``exposure``'s
    gain and offset where given (summed channel by channel: a reduction over the last
    axis of a frame is several times slower)."""
    gain, offset = exposure if exposure is not None else (np.ones(3, np.float32), np.zeros(3, np.float32))
    total = np.zeros(image.shape[:2], np.float32)
    for channel in range(3):
        total += image[..., channel] * np.float32(gain[channel] / 3.0)
    return total + np.float32(np.sum(offset) / 3.0)


def reduced(image: np.ndarray, factor: int) -> np.ndarray:
    """``image`` (H×W, or H×W×C) in blocks of ``factor``² pixels, the edge's partial
    blocks left out: their mean (float32), or for a mask, whether all hold. Summed slice
    by slice: each pixel is read once."""
    if factor == 1:
        return image
    height, width = image.shape[0] // factor, image.shape[1] // factor
    parts = [image[i:height * factor:factor, j:width * factor:factor] for i in range(factor) for j in range(factor)]
    if image.dtype == bool:
        return np.logical_and.reduce(parts)
    total = np.zeros(parts[0].shape, np.float32)
    for part in parts:
        total += part
    return total / np.float32(factor * factor)
