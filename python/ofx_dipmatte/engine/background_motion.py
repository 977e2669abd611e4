"""How far a frame's background moved against a plate stacked from the same shot.

A camera that drifts or pans by a fraction of a pixel a frame leaves the background's
colours nearly where they were: the RMS difference that
:meth:`.clean_plate.PlateStack.disagreement` measures stays near the grain's. Yet a stack
of such frames places the background's detail a fraction of a pixel off behind the band,
where the refinement reads it as B, and the matte gets worse than with no stack at all
(docs/benchmarks.md, *A drifting camera*). So the motion is measured itself: one
Lucas–Kanade step of an affine motion (a pan, a tilt, a zoom or a roll) fitted over the
pixels both show as background, in grey and slightly blurred so that a step of a pixel or
so is still within the linearisation's reach (:func:`background_shift`, how far at the
least); and where it moved, followed (:func:`track_background`: steps repeated, coarse to
fine, from the last frame's motion), so that the frame can be stacked in the stack's place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .frame_warp import Motion, sample

#: How far (pixels, at the least likely given the fit's noise) the background may lie off
#: the stack's before a frame counts as shot by a moving camera: followed, it must then
#: lie within this of its place. On the dev clip made to drift, a stack taken as it is
#: cost more than it gave from 0.28 px a frame on; with 0.35 it never left the clip worse
#: than its frames on their own (docs/benchmarks.md, *A drifting camera*).
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
#: :func:`track_background` stops when a step moves no pixel by more than this (pixels;
#: the step is taken: what is left is the fit's noise).
TRACKED = 0.05
#: … and after this many steps a level. The pixels compared change a little as the
#: image moves, so the last steps may swing around the answer: the motion is kept when
#: the last step moved no pixel by :data:`SWINGING` px, and given up otherwise.
TRACK_STEPS = 8
SWINGING = 0.25
#: On the coarser levels it goes on to the next finer one when a step moves no block by
#: this share of a block.
COARSE_TRACKED = 0.05


@dataclass(frozen=True)
class _Step:
    """One Lucas–Kanade step's fit: ``after(p) ≈ before(p − d(p))`` with
    ``d(p) = t + A·(p − centre) / half`` (parameters tx, ty, A's xu, xv, yu, yv)."""

    motion: np.ndarray      # the six parameters
    covariance: np.ndarray  # 6×6, per unit of noise
    noise: float            # the residual's variance, corrected for the blur's correlation
    centre: tuple[float, float]  # (y, x)
    half: float
    box: tuple[float, float, float, float]  # the samples' y min, y max, x min, x max

    def corner_shifts(self) -> list[tuple[float, float]]:
        """Per corner of the samples' box: the displacement's length and its standard error."""
        out = []
        for corner_y in self.box[:2]:
            for corner_x in self.box[2:]:
                u, v = (corner_x - self.centre[1]) / self.half, (corner_y - self.centre[0]) / self.half
                jacobian = np.array([[1.0, 0.0, u, v, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, u, v]])
                shift = float(np.hypot(*(jacobian @ self.motion)))
                error = float(np.sqrt(max(np.trace(jacobian @ self.covariance @ jacobian.T) * self.noise, 0.0)))
                out.append((shift, error))
        return out

    def as_motion(self) -> Motion:
        """``d`` as a :class:`Motion`'s terms (row, column): d(p) = matrix @ p + offset."""
        tx, ty, xu, xv, yu, yv = self.motion
        matrix = np.array([[yv, yu], [xv, xu]]) / self.half
        return Motion(matrix, np.array([ty, tx]) - matrix @ np.array(self.centre))


def _fit_step(before: np.ndarray, after: np.ndarray, inner: np.ndarray, photometric: bool = False) -> _Step | None:
    """One affine Lucas–Kanade step from ``before`` to ``after`` (H×W, blurred) over the
    ``inner`` pixels; None with fewer than :data:`MIN_PIXELS` of them. ``photometric``:
    a gain and an offset of the grey level are fitted with the motion (and left out of
    the step): matched on pixels that do not show the same point yet, an exposure line
    loses contrast, and the difference it leaves pulls the motion toward less of it."""
    ys, xs = np.nonzero(inner)
    if ys.size < MIN_PIXELS:
        return None
    step = max(1, ys.size // MAX_SAMPLES)
    ys, xs = ys[::step], xs[::step]
    grad_y, grad_x = np.gradient(before)
    # The motion d(p) = t + A·(p − centre), in units of half the box, so the six
    # parameters are of one scale; after(p) ≈ before(p − d(p)) ≈ before(p) − ∇before·d(p).
    centre_y, centre_x = ys.mean(), xs.mean()
    half = max(float(np.ptp(ys)), float(np.ptp(xs)), 1.0) / 2.0
    u, v = (xs - centre_x) / half, (ys - centre_y) / half
    gx, gy = grad_x[ys, xs].astype(np.float64), grad_y[ys, xs].astype(np.float64)
    columns = [gx, gy, gx * u, gx * v, gy * u, gy * v]
    if photometric:  # after ≈ (1 + g)·before + b − ∇before·d: −g and −b in the last two
        level = before[ys, xs].astype(np.float64)
        columns += [level - level.mean(), np.ones_like(level)]
    design = np.stack(columns, axis=1)
    residual = (after - before)[ys, xs].astype(np.float64)
    normal = design.T @ design
    normal += np.eye(len(columns)) * (1e-9 * np.trace(normal) + 1e-18)  # a flat background: no motion to see
    covariance = np.linalg.inv(normal)
    motion = covariance @ (-design.T @ residual)
    # Residuals of neighbouring samples are alike (the blur): fewer independent ones.
    noise = float(np.mean(np.square(residual + design @ motion))) * max(CORRELATED / step, 1.0)
    return _Step(motion[:6], covariance[:6, :6], noise, (float(centre_y), float(centre_x)), half,
                 (float(ys.min()), float(ys.max()), float(xs.min()), float(xs.max())))


def _block_factor(size: int) -> int:
    """The block size (:func:`reduced`) that leaves at most :data:`MAX_PIXELS` of ``size`` pixels."""
    factor = 1
    while size > MAX_PIXELS * factor * factor:
        factor *= 2
    return factor


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
    factor = _block_factor(shared.size)
    before, after = grey(reduced(plate[box], factor), exposure), grey(reduced(image[box], factor))
    shared = reduced(shared, factor)
    inner = ndimage.binary_erosion(shared, iterations=EDGE, border_value=1)  # the frame's edge is no mask edge
    fit = _fit_step(ndimage.gaussian_filter(before, BLUR), ndimage.gaussian_filter(after, BLUR), inner)
    if fit is None:
        return None
    farthest = max(max(shift - 3.0 * error for shift, error in fit.corner_shifts()), 0.0)
    return farthest * factor


def track_background(plate: np.ndarray, plate_seen: np.ndarray, image: np.ndarray, image_seen: np.ndarray,
                     guess: Motion, exposure: "tuple[np.ndarray, np.ndarray] | None" = None) -> Motion | None:
    """The affine motion that takes ``image``'s pixels to ``plate``'s (H×W×3 each; the
    background shows where ``image_seen`` and ``plate_seen`` hold), from ``guess`` (the
    last frame's, for a camera that keeps moving): Lucas–Kanade steps, the image warped
    by the motion so far before each, coarse to fine (blocks of 4, then 2 times the
    finest level's pixels: a pan of several pixels a frame is within reach), until a step
    moves no pixel by :data:`TRACKED` px. None when they share too few pixels or it does
    not settle (:data:`SWINGING`)."""
    finest = _block_factor(image_seen.size)
    # The finest level's images, and each coarser one from the one below it.
    images = [grey(reduced(plate, finest), exposure), grey(reduced(image, finest)),
              reduced(plate_seen, finest), reduced(image_seen, finest)]
    levels = [(finest, images)]
    for step in (2, 4):
        levels.append((step * finest, [reduced(x, 2) for x in levels[-1][1]]))
    motion = guess
    for factor, (before, after, plate_in, image_in) in reversed(levels):
        settled = TRACKED if factor == finest else COARSE_TRACKED * factor
        before, after = ndimage.gaussian_filter(before, BLUR), ndimage.gaussian_filter(after, BLUR)
        image_in = image_in.astype(np.float32)
        level = motion.blocks(factor)
        for _ in range(TRACK_STEPS):
            back = level.inverse()  # a plate pixel's place in the image
            warped = sample(after, back)
            seen = sample(image_in, back, outside=0.0) > 0.999
            inner = ndimage.binary_erosion(seen & plate_in, iterations=EDGE, border_value=1)
            fit = _fit_step(before, warped, inner, photometric=True)
            if fit is None:
                if factor == finest:
                    return None
                break  # too few blocks this coarse: on to the next level
            # warped(q) ≈ before(q − d(q)): the image's p lies at level(p) − d(level(p)).
            d = fit.as_motion()
            level = Motion((np.eye(2) - d.matrix) @ level.matrix, level.offset - d.matrix @ level.offset - d.offset)
            moved = max(shift for shift, _ in fit.corner_shifts()) * factor
            if moved < settled:
                break
        else:
            if factor == finest and moved >= SWINGING:
                return None
        motion = level.pixels(factor)
    return motion


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
