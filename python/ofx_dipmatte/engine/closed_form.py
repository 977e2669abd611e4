"""Closed-form matting (Levin, Lischinski, Weiss 2008), used as an optional alpha prior.

Only the unknown pixels are solved: with known pixels fixed to the trimap, the
minimiser of ``αᵀ L α`` satisfies ``L_uu α_u = −L_uk α_k``, a much smaller system than
the whole image when the band is thin. Small systems use a direct sparse solve,
large ones conjugate gradients with a Jacobi preconditioner.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

_DIRECT_SOLVE_LIMIT = 60_000


def matting_laplacian(image: np.ndarray, eps: float = 1e-7, radius: int = 1) -> sp.csr_matrix:
    """The matting Laplacian of an H×W×3 float image (N×N, N = H·W)."""
    h, w, _ = image.shape
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


class Stopped(RuntimeError):
    """``should_stop`` said to stop the solve."""


def closed_form_alpha(image: np.ndarray, trimap: np.ndarray, eps: float = 1e-7,
                      should_stop: Optional[Callable[[], bool]] = None) -> np.ndarray:
    """Alpha for an H×W×3 image in [0, 1] and a snapped H×W trimap (0 / 0.5 / 1).

    ``should_stop`` is polled before the solve and at every conjugate-gradient step
    (large bands); when it returns True, :class:`Stopped` is raised.
    """
    def check(*_):
        if should_stop is not None and should_stop():
            raise Stopped("closed-form solve stopped")

    unknown = (trimap == 0.5).ravel()
    alpha = trimap.astype(np.float64).ravel().copy()
    if not unknown.any():
        return alpha.reshape(trimap.shape).astype(np.float32)
    lap = matting_laplacian(image.astype(np.float64), eps=eps)
    check()
    known = ~unknown
    l_uu = lap[unknown][:, unknown].tocsc()
    rhs = -(lap[unknown][:, known] @ alpha[known])
    if unknown.sum() <= _DIRECT_SOLVE_LIMIT:
        # A tiny ridge keeps isolated unknown regions (no known neighbour) solvable.
        a_u = spla.spsolve(l_uu + 1e-9 * sp.identity(l_uu.shape[0], format="csc"), rhs)
    else:
        diag = l_uu.diagonal()
        precond = sp.diags(1.0 / np.maximum(diag, 1e-12))
        a_u, _ = spla.cg(l_uu, rhs, x0=np.full(rhs.shape, 0.5), M=precond, rtol=1e-6, maxiter=3000,
                         callback=check)
    alpha[unknown] = a_u
    return np.clip(alpha, 0.0, 1.0).reshape(trimap.shape).astype(np.float32)
