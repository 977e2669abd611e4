"""The alpha a Laplacian solve spreads beside a strand, taken back.

The matting Laplacian fits alpha as a linear function of colour in every 3×3 window, so
a strand's alpha spills into the background pixels beside it: a faint haze (a few
hundredths) between hair strands, where the true alpha is 0, and its mirror, a faint
hole, inside solid foreground next to a gap. On the dev hair cases that haze held about
a fifth of the default's SAD. A pixel whose alpha is both small and a small fraction of
the strongest alpha near it is such a leak, and is set to 0 (or, mirrored, 1); alpha just
above that threshold is eased back to itself, so no edge appears where the rule stops.

Smoke, veils and motion blur keep their low alpha: their alpha changes slowly, so a
pixel of a few hundredths has no neighbour ten times stronger within a few pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: Pixels (half the side of the square neighbourhood) a leak reaches from its strand:
#: the 3×3 windows' spill, carried a few pixels further by the solve.
LEAK_RADIUS = 5
#: A leak holds less than this fraction of the strongest alpha within the radius ...
LEAK_RATIO = 0.1
#: ... and less than this alpha itself (1 − this, mirrored): it is a haze, not a strand.
LEAK_LEVEL = 0.05


def remove_leaks(alpha: np.ndarray, unknown: np.ndarray, radius: int = LEAK_RADIUS, ratio: float = LEAK_RATIO,
                 level: float = LEAK_LEVEL) -> np.ndarray:
    """``alpha`` (H×W in [0, 1]) with the leaks among the ``unknown`` pixels (H×W bool)
    taken back: below the pixel's threshold t = min(``level``, ``ratio`` × the strongest
    alpha within ``radius``) alpha goes to 0, and between t and 2t it ramps back up
    (2(α − t)), so the matte has no step (a contour in a comp) where the rule stops.
    Mirrored (1 − alpha against the weakest alpha near it) inside the foreground. Other
    pixels are returned as they are."""
    size = 2 * radius + 1
    haze = _take_back(alpha, ndimage.maximum_filter(alpha, size=size, mode="nearest"), ratio, level)
    holes = 1.0 - _take_back(1.0 - alpha, 1.0 - ndimage.minimum_filter(alpha, size=size, mode="nearest"),
                             ratio, level)
    # The two only change alpha below 2 × level and above 1 − 2 × level: they never meet.
    return np.where(unknown, np.where(alpha < 0.5, haze, holes), alpha).astype(alpha.dtype)


def _take_back(alpha: np.ndarray, strongest: np.ndarray, ratio: float, level: float) -> np.ndarray:
    """0 below t = min(level, ratio × strongest), 2(α − t) up to 2t, α above."""
    threshold = np.minimum(level, ratio * strongest)
    return np.where(alpha < 2.0 * threshold, np.maximum(2.0 * (alpha - threshold), 0.0), alpha)
