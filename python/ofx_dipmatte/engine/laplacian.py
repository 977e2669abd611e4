"""The matting Laplacian of Levin, Lischinski, Weiss (2008).

In every 3×3 window, alpha is assumed an affine function of the colour; ``αᵀ L α``
measures how far a matte is from that. It is the smoothness term that every alpha
solver of this package builds on.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def matting_laplacian(image: np.ndarray, eps: float = 1e-7, radius: int = 1) -> sp.csr_matrix:
    """The matting Laplacian of an H×W×3 float image (N×N, N = H·W)."""
    h, w, _ = image.shape
    image = image.astype(np.float64, copy=False)
    size = 2 * radius + 1
    n_win = size * size
    idx = np.arange(h * w).reshape(h, w)
    # Pixel indices of every window (centre away from the border): (K, n_win).
    win_idx = np.lib.stride_tricks.sliding_window_view(idx, (size, size)).reshape(-1, n_win)
    colors = image.reshape(-1, 3)[win_idx]  # (K, n_win, 3)
    mean = colors.mean(axis=1, keepdims=True)
    centred = colors - mean
    cov = np.einsum("kwi,kwj->kij", centred, centred) / n_win
    inv = np.linalg.inv(cov + (eps / n_win) * np.eye(3))
    vals = (1.0 + np.einsum("kwi,kij,kvj->kwv", centred, inv, centred)) / n_win
    vals = np.eye(n_win)[None] - vals
    rows = np.repeat(win_idx, n_win, axis=1).ravel()
    cols = np.tile(win_idx, (1, n_win)).ravel()
    return sp.csr_matrix((vals.ravel(), (rows, cols)), shape=(h * w, h * w))
