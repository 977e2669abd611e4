# Sums behind a clean plate's exposure match, by a compiled kernel (kernels/exposure_match.cpp).
from typing import Sequence

import numpy as np

def exposure_sums(a: np.ndarray, b: np.ndarray, mask: np.ndarray,
                  gain: "np.ndarray | Sequence[float]" = ..., offset: "np.ndarray | Sequence[float]" = ...,
                  limit: float = ...) -> tuple[
        int, tuple[float, float, float], tuple[float, float, float], tuple[float, float, float],
        tuple[float, float, float], float]:
    """(count, Σa, Σb, Σab, Σa², max b) over the pixels ``mask`` (H×W bool) holds, per
    channel of ``a`` and ``b`` (H×W×3 float32), in double; max b over every channel. With
    a finite ``limit``, over those whose colour distance |a·gain + offset − b| is within it."""

def matched_rms(a: np.ndarray, b: np.ndarray, mask: np.ndarray, gain: "np.ndarray | Sequence[float]",
                offset: "np.ndarray | Sequence[float]", ceiling: float, limit: float = ...) -> float:
    """RMS over ``mask`` of the colour distance between clip(a·gain + offset, 0, ceiling),
    in single precision, and b; over the pixels where it is within ``limit`` (default: all)."""
