"""The reference baseline, pymatting's closed-form matting, run in a worker process.

Importing pymatting (numba) in the same process as torch was measured to slow torch's
CPU kernels about 1.7× here (60 balanced steps: 10.1 s alone, 17.1 s after
`import pymatting`), so the baseline lives in its own process and our timings stay honest.
"""

from __future__ import annotations

import time

import numpy as np

_warmed: set = set()


def _warm(*solvers) -> None:
    """Run each solver once on a small image so numba compiles before anything is timed."""
    img = np.random.default_rng(0).random((64, 64, 3))
    trimap = np.full((64, 64), 0.5)
    trimap[:16], trimap[-16:] = 0.0, 1.0
    for solve in solvers:
        if solve not in _warmed:
            solve(img, trimap)
            _warmed.add(solve)


def closed_form(image: np.ndarray, trimap: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(alpha, foreground, seconds for alpha) by estimate_alpha_cf + estimate_foreground_ml."""
    from pymatting import estimate_alpha_cf, estimate_foreground_ml

    _warm(estimate_alpha_cf, estimate_foreground_ml)
    img = image.astype(np.float64)
    start = time.perf_counter()
    alpha = estimate_alpha_cf(img, trimap.astype(np.float64))
    seconds = time.perf_counter() - start  # alpha only: that is the baseline's job
    fg = estimate_foreground_ml(img, alpha)
    return alpha.astype(np.float32), fg.astype(np.float32), seconds


def other_method(name: str, image: np.ndarray, trimap: np.ndarray) -> tuple[np.ndarray, float]:
    """(alpha, seconds) by one of pymatting's other solvers: knn, lbdm, lkm, sm (rw too)."""
    import pymatting

    solve = {"knn": pymatting.estimate_alpha_knn, "lbdm": pymatting.estimate_alpha_lbdm,
             "lkm": pymatting.estimate_alpha_lkm, "sm": pymatting.estimate_alpha_sm,
             "rw": pymatting.estimate_alpha_rw}[name]
    _warm(solve)
    img = image.astype(np.float64)
    start = time.perf_counter()
    alpha = solve(img, trimap.astype(np.float64))
    return np.clip(alpha, 0, 1).astype(np.float32), time.perf_counter() - start
