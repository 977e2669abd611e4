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

    ``unknown`` (H×W bool): only the rows of unknown pixels, all a solve with the known
    pixels fixed reads, are built (the other rows are empty), from the windows holding an
    unknown pixel: the cost of the band rather than of the whole image.
    """
    h, w, _ = image.shape
    image = image.astype(np.float64, copy=False)
    size = 2 * radius + 1
    n_win = size * size
    kh, kw = h - 2 * radius, w - 2 * radius  # window centres away from the border
    if unknown is None:
        centres = np.arange(kh * kw)
    else:
        centres = np.flatnonzero(ndimage.maximum_filter(unknown, size=size)[radius:h - radius, radius:w - radius])
    # Pixel indices of every window, (K, n_win): its top-left pixel plus each offset in it.
    dy, dx = np.divmod(np.arange(n_win), size)
    corner = (centres // kw) * w + centres % kw
    pixels = corner[:, None] + (dy * w + dx)
    colors = image.reshape(-1, 3)[pixels]  # (K, n_win, 3)
    centred = colors - colors.mean(axis=1, keepdims=True)
    cov = np.einsum("kwi,kwj->kij", centred, centred) / n_win
    inv = np.linalg.inv(cov + (eps / n_win) * np.eye(3))
    vals = np.matmul(np.matmul(centred, inv), centred.transpose(0, 2, 1))  # (K, n_win, n_win)
    # δ_ab − (1 + (I_a − μ)ᵀ Σ⁻¹ (I_b − μ)) / n_win, in place: tens of MB per tile.
    vals += 1.0
    vals /= -n_win
    diagonal = np.arange(n_win)
    vals[:, diagonal, diagonal] += 1.0
    rows = None if unknown is None else np.flatnonzero(unknown)
    return _windows_to_csr(vals, pixels, dy, dx, h, w, radius, rows)


def _windows_to_csr(vals: np.ndarray, pixels: np.ndarray, dy: np.ndarray, dx: np.ndarray,
                    h: int, w: int, radius: int, rows: np.ndarray | None = None) -> sp.csr_matrix:
    """Sum every window's (pixel a, pixel b) entries into the (4·radius + 1)² diagonals
    of a banded matrix, then lay the band out as CSR directly: each row's columns are
    its pixel plus fixed offsets, already sorted, so no COO triplets (81 per window) are
    built and sorted. ``vals[k, a, b]``: window k, its pixels a and b (``pixels[k, a]``,
    at (dy[a], dx[a]) in the window). ``rows``: the pixels whose rows are built, ascending
    (default all); a tile's known pixels are most of its window, and their rows would be
    most of the matrix every solve slices."""
    n = h * w
    rows = np.arange(n) if rows is None else rows
    slot = np.full(n, -1)  # a pixel's row of the band, -1 where its row is not built
    slot[rows] = np.arange(rows.size)
    reach = 2 * radius
    offsets = [(oy, ox) for oy in range(-reach, reach + 1) for ox in range(-reach, reach + 1)]
    band = np.zeros((rows.size, len(offsets)))  # band[slot[p], o]: L[p, p + offsets[o]]
    for a in range(len(dy)):
        # Row a of every window: one pixel per window, so the indices are distinct.
        columns = [offsets.index((dy[b] - dy[a], dx[b] - dx[a])) for b in range(len(dy))]
        target = slot[pixels[:, a]]
        built = target >= 0
        band[target[built, None], columns] += vals[built, a, :]
    yy, xx = np.divmod(rows, w)
    valid = np.stack([(yy + oy >= 0) & (yy + oy < h) & (xx + ox >= 0) & (xx + ox < w) for oy, ox in offsets], -1)
    flat = np.array([oy * w + ox for oy, ox in offsets])  # ascending, so each row's columns come sorted
    cols = rows[:, None] + flat
    counts = np.zeros(n, np.int64)
    counts[rows] = valid.sum(axis=1)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return sp.csr_matrix((band[valid], cols[valid], indptr), shape=(n, n))
