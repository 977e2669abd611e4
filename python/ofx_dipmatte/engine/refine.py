"""Alpha refined by foreground and background estimates (sampling + confidence).

Closed-form matting only propagates the trimap through local colour lines; far from
the known regions it leaves a haze over the background and washes strands out. Once
F and B are estimated in the band, each pixel has its own alpha estimate, the
projection of the image colour on the segment from B to F:

    α̂ = (I − B)·(F − B) / |F − B|²

It is trustworthy where F and B differ a lot and αF + (1 − α)B reproduces the pixel,
untrustworthy where their colours are alike. We solve the Laplacian with α̂ as a data
term weighted by that confidence, re-estimate F and B from the new alpha, and repeat:
each round sharpens F and B, which sharpens alpha.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import scipy.sparse as sp

from .alpha_solve import Stopped, solve_alpha
from .foreground import estimate_foreground_background
from .laplacian import matting_laplacian

#: Colour residual (Euclidean distance in RGB, 0–1 units) at which the confidence
#: falls to 1/e: about the spread of a natural texture around its local mean.
RESIDUAL_SCALE = 0.1


def alpha_from_colours(image: np.ndarray, fg: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Per pixel, the alpha that best explains ``image`` as a mix of ``fg`` and ``bg``
    (all H×W×3), clipped to [0, 1]."""
    diff = fg - bg
    num = np.einsum("hwc,hwc->hw", image - bg, diff)
    den = np.einsum("hwc,hwc->hw", diff, diff)
    return np.clip(num / np.maximum(den, 1e-6), 0.0, 1.0).astype(np.float32)


def colour_confidence(image: np.ndarray, fg: np.ndarray, bg: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """How far to trust ``estimate`` (from :func:`alpha_from_colours`): |F − B|², the
    squared colour contrast that divides alpha's error, times a Gaussian of how badly
    ``αF + (1 − α)B`` misses the pixel. Near 0 where F ≈ B."""
    a = estimate[..., None]
    residual = np.square(a * fg + (1.0 - a) * bg - image).sum(axis=-1)
    contrast = np.square(fg - bg).sum(axis=-1)
    return (contrast * np.exp(-residual / RESIDUAL_SCALE ** 2)).astype(np.float32)


def refine_alpha(image: np.ndarray, trimap: np.ndarray, alpha: np.ndarray, iterations: int = 4,
                 strength: float = 1.0, laplacian: sp.spmatrix | None = None,
                 should_stop: Optional[Callable[[], bool]] = None,
                 round_done: Optional[Callable[[int], bool]] = None) -> np.ndarray:
    """``iterations`` rounds of: F, B from alpha; α̂ and its confidence; a Laplacian
    solve with the confidence-weighted data term (``strength`` × confidence).

    Args:
        image: H×W×3 in [0, 1]; trimap: snapped H×W; alpha: the starting matte (e.g.
            closed-form's), equal to the trimap where known.
        laplacian: the image's matting Laplacian, if already built.
        should_stop: polled inside each solve (raises :class:`~.alpha_solve.Stopped`).
        round_done: called with the number of rounds done; False stops (``Stopped``).

    Returns: H×W float32 alpha; known pixels equal the trimap.
    """
    unknown = trimap == 0.5
    if iterations < 1 or not unknown.any():
        return alpha.astype(np.float32)
    if laplacian is None:
        laplacian = matting_laplacian(image)
    for done in range(1, iterations + 1):
        fg, bg = estimate_foreground_background(image, alpha)
        estimate = alpha_from_colours(image, fg, bg)
        confidence = strength * colour_confidence(image, fg, bg, estimate) * unknown
        alpha = solve_alpha(laplacian, trimap, confidence, estimate, initial=alpha, should_stop=should_stop)
        if round_done is not None and round_done(done) is False:
            raise Stopped(f"refinement stopped after round {done}")
    return alpha
