"""The matting Laplacian of Levin, Lischinski, Weiss (2008).

In every 3×3 window, alpha is assumed an affine function of the colour; ``αᵀ L α``
measures how far a matte is from that. It is the smoothness term that every alpha
solver of this package builds on.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy import ndimage


def matting_laplacian(image: np.ndarray, eps: float = 1e-7, radius: int = 1,
                      unknown: np.ndarray | None = None) -> sp.csr_matrix:
    """The matting Laplacian of an H×W×3 float image (N×N, N = H·W).

    ``unknown`` (H×W bool): only the windows holding an unknown pixel are summed. The rows
    of unknown pixels, all a solve with the known pixels fixed reads, are then exact, at
    the cost of the band rather than of the whole image.
    """
    h, w, _ = image.shape
    image = image.astype(np.float64, copy=False)
    size = 2 * radius + 1
    n_win = size * size
    grid = (h - 2 * radius, w - 2 * radius)  # window centres away from the border
    idx = np.arange(h * w).reshape(h, w)
    # Pixel indices of every window: (K, n_win).
    win_idx = np.lib.stride_tricks.sliding_window_view(idx, (size, size)).reshape(-1, n_win)
    chosen = None
    if unknown is not None:
        chosen = np.flatnonzero(ndimage.maximum_filter(unknown, size=size)[radius:h - radius, radius:w - radius])
        win_idx = win_idx[chosen]
    colors = image.reshape(-1, 3)[win_idx]  # (K, n_win, 3)
    mean = colors.mean(axis=1, keepdims=True)
    centred = colors - mean
    cov = np.einsum("kwi,kwj->kij", centred, centred) / n_win
    inv = np.linalg.inv(cov + (eps / n_win) * np.eye(3))
    vals = np.matmul(np.matmul(centred, inv), centred.transpose(0, 2, 1))  # (K, n_win, n_win)
    vals = np.eye(n_win)[None] - (1.0 + vals) / n_win
    if chosen is not None:
        every = np.zeros((grid[0] * grid[1], n_win, n_win))
        every[chosen] = vals
        vals = every
    return _stencil_to_csr(vals.reshape(*grid, size, size, size, size), h, w, radius)


def _stencil_to_csr(vals: np.ndarray, h: int, w: int, radius: int) -> sp.csr_matrix:
    """Sum every window's (pixel a, pixel b) entries into the (2·size − 1)² diagonals of a
    banded matrix, then lay the band out as CSR directly: each row's columns are its
    pixel plus fixed offsets, already sorted, so no COO triplets (81 per window) are built
    and sorted. ``vals[ky, kx, ay, ax, by, bx]``: window (ky, kx), pixels a and b in it."""
    size = 2 * radius + 1
    reach = 2 * radius
    kh, kw = h - 2 * radius, w - 2 * radius
    offsets = [(dy, dx) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)]
    band = np.zeros((h, w, len(offsets)))  # band[y, x, o]: L[(y, x), (y, x) + offsets[o]]
    for ay in range(size):
        for ax in range(size):
            for by in range(size):
                for bx in range(size):
                    o = offsets.index((by - ay, bx - ax))
                    band[ay:ay + kh, ax:ax + kw, o] += vals[:, :, ay, ax, by, bx]
    yy, xx = np.mgrid[0:h, 0:w]
    valid = np.stack([(yy + dy >= 0) & (yy + dy < h) & (xx + dx >= 0) & (xx + dx < w) for dy, dx in offsets], -1)
    flat = np.array([dy * w + dx for dy, dx in offsets])  # ascending, so each row's columns come sorted
    cols = (yy * w + xx)[..., None] + flat
    indptr = np.concatenate([[0], np.cumsum(valid.reshape(h * w, -1).sum(axis=1))])
    return sp.csr_matrix((band[valid], cols[valid], indptr), shape=(h * w, h * w))
