"""How far a clean plate's background can be trusted: the grain it and the frame
disagree by, measured where both show background.

A clean plate (given, or carried through a locked-off shot) makes B seen instead of
estimated, so the refinement trusts the per-pixel estimate α̂ = (I − B)·(F − B)/|F − B|²
more there (:mod:`.refine`). Grain in the frame or in the plate (a second take; a stack of
a few grainy frames) moves α̂ by about σ / |F − B|, as often down as up. Measured on
8-bit shots with grain σ 0.02 whose background is carried: smoke whose colour is close to
its background's came out 1.16× closed-form's SAD, hair 0.90× against 0.75× with frames
on their own (docs/benchmarks.md, nineteenth session). So the plate's disagreement with
the frame is measured (:func:`plate_disagreement`), turned into the spread it gives α̂ in
the band (:func:`alpha_noise`), and the plate is trusted in full up to
:data:`TRUSTED`, as an estimated background from :data:`UNTRUSTED` (:func:`plate_share`).
A noise-free plate (exact, or stacked from the very 8-bit frames) reads 0.
"""

from __future__ import annotations

import numpy as np

from .colour_norms import squared_norm
from .smooth_matte import mixed_pixels

#: Spread (σ) of the per-pixel alpha estimate that the plate's disagreement with the frame
#: causes, at and below which the plate is trusted in full (exact or noise-free plates:
#: 0–0.02; dev smoke under a plate with grain σ 0.01: about 0.03) ...
TRUSTED = 0.035
#: ... and at and above which it is trusted as an estimated background (grain σ 0.02 a
#: frame, carried: 0.04–0.19, median 0.05–0.10 a shot).
UNTRUSTED = 0.07
#: Known background pixels the plate must cover for its disagreement to be measured.
COMPARED = 64
#: Median of a χ² variable with 3 degrees of freedom (its mean is 3): the squared length of
#: Gaussian grain over RGB, so a median over pixels measures the grain, not a stray change.
_CHI2_3_MEDIAN = 2.366


def plate_disagreement(image: np.ndarray, bg: np.ndarray, trimap: np.ndarray, covers: "bool | np.ndarray") -> float:
    """The mean squared difference (summed over RGB) between ``image`` and ``bg`` (H×W×3,
    a clean plate where ``covers``) on the trimap's known background the plate covers: the
    grain of both, read from the median so that a stray change does not count. 0 where
    fewer than :data:`COMPARED` pixels can be compared."""
    compared = np.broadcast_to(np.asarray(covers, bool), trimap.shape) & (trimap == 0.0)
    if compared.sum() < COMPARED:
        return 0.0
    difference = squared_norm(image[compared] - bg[compared])
    return float(np.median(difference)) * 3.0 / _CHI2_3_MEDIAN


def alpha_noise(disagreement: float, trimap: np.ndarray, alpha: np.ndarray, fg: np.ndarray, bg: np.ndarray,
                covers: "bool | np.ndarray") -> float:
    """How far (σ) a plate's ``disagreement`` (:func:`plate_disagreement`) moves the
    per-pixel alpha estimate in the band: √(disagreement / c), c the median of
    |``fg`` − ``bg``|² over the band's mixed pixels (of ``alpha``) the plate covers; 0
    where no mixed pixel is covered."""
    mixed = np.broadcast_to(np.asarray(covers, bool), trimap.shape) & mixed_pixels(alpha, trimap == 0.5)
    if disagreement <= 0.0 or not mixed.any():
        return 0.0
    contrast = float(np.median(squared_norm(fg[mixed] - bg[mixed])))
    return float(np.sqrt(disagreement / max(contrast, 1e-6)))


def plate_share(noise: float) -> float:
    """1 where :func:`alpha_noise` is at most :data:`TRUSTED`, 0 from :data:`UNTRUSTED`,
    linear between."""
    return float(np.clip((UNTRUSTED - noise) / (UNTRUSTED - TRUSTED), 0.0, 1.0))


def plate_trust(image: np.ndarray, trimap: np.ndarray, alpha: np.ndarray, fg: np.ndarray, bg: np.ndarray,
                covers: "bool | np.ndarray") -> float:
    """:func:`plate_share` of the plate ``bg`` (where ``covers``) under ``image``, its
    ``trimap``, ``alpha`` and ``fg``: 1 for a plate that agrees with the frame."""
    return plate_share(alpha_noise(plate_disagreement(image, bg, trimap, covers), trimap, alpha, fg, bg, covers))
