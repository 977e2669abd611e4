"""Closed-form matting (Levin, Lischinski, Weiss 2008): the Laplacian alone.

Bands too large for a direct solve use conjugate gradients, started from the matte of
the image at half size (recursively), upsampled: CG then only has to fix fine detail,
which it does in tens of steps instead of thousands.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from scipy import ndimage

from .alpha_solve import DIRECT_SOLVE_LIMIT, DataTerm, Smoothness, Stopped, solve_alpha
from .laplacian import matting_laplacian

__all__ = ["Stopped", "closed_form_alpha"]


def closed_form_alpha(image: np.ndarray, trimap: np.ndarray, eps: float = 1e-7,
                      should_stop: Optional[Callable[[], bool]] = None,
                      laplacian: Smoothness | None = None, anchor: DataTerm | None = None) -> np.ndarray:
    """Alpha for an H×W×3 image in [0, 1] and a snapped H×W trimap (0 / 0.5 / 1).

    ``laplacian``: the image's matting Laplacian (or its :class:`~.alpha_solve.BandSystem`)
    if the caller already built it.
    ``anchor``: a data term (confidence, estimate) added to the Laplacian, e.g. a coarse
    matte on a tile's edges (:mod:`.tiles`); None: closed-form matting as published.

    ``should_stop`` is polled before the solve and at every conjugate-gradient step
    (large bands); when it returns True, :class:`Stopped` is raised.
    """
    if not (trimap == 0.5).any():
        return trimap.astype(np.float32)
    if laplacian is None:
        laplacian = matting_laplacian(image, eps=eps, unknown=trimap == 0.5)
    initial = None
    if (trimap == 0.5).sum() > DIRECT_SOLVE_LIMIT and min(trimap.shape) >= 64:
        initial = upsample(closed_form_alpha(halve(image), shrink_trimap(trimap), eps, should_stop), trimap.shape)
    confidence, estimate = anchor if anchor is not None else (None, None)
    return solve_alpha(laplacian, trimap, confidence, estimate, initial=initial, should_stop=should_stop)


def halve(image: np.ndarray) -> np.ndarray:
    """2×2 box average (odd last row/column dropped)."""
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    x = image[:h, :w]
    return 0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2])


def shrink_trimap(trimap: np.ndarray) -> np.ndarray:
    """A snapped trimap at half size (odd last row/column dropped): a 2×2 block is known
    only where all four pixels agree."""
    h, w = trimap.shape[0] // 2 * 2, trimap.shape[1] // 2 * 2
    blocks = trimap[:h, :w].reshape(h // 2, 2, w // 2, 2)
    low, high = blocks.min(axis=(1, 3)), blocks.max(axis=(1, 3))
    return np.where(low == high, low, 0.5).astype(trimap.dtype)


def upsample(alpha: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``alpha`` bilinearly enlarged to ``shape`` (0.5 where it does not reach)."""
    zoomed = ndimage.zoom(alpha, (shape[0] / alpha.shape[0], shape[1] / alpha.shape[1]), order=1, grid_mode=True,
                          mode="nearest")
    out = np.full(shape, 0.5, dtype=np.float32)
    h, w = min(shape[0], zoomed.shape[0]), min(shape[1], zoomed.shape[1])
    out[:h, :w] = zoomed[:h, :w]
    return out
