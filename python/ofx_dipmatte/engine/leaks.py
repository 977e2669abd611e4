"""The alpha a Laplacian solve spreads beside a strand, taken back.

The matting Laplacian fits alpha as a linear function of colour in every 3×3 window, so
a strand's alpha spills into the background pixels beside it: a faint haze (a few
hundredths) between hair strands, where the true alpha is 0, and its mirror, a faint
hole, inside solid foreground next to a gap. On the dev hair cases that haze held about
a fifth of the default's SAD. A pixel whose alpha is both small and a small fraction of
the strongest alpha near it is such a leak, and is set to 0 (or, mirrored, 1).

Smoke, veils and motion blur keep their low alpha: their alpha changes slowly, so a
pixel of a few hundredths has no neighbour ten times stronger within a few pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: Pixels (half the side of the square neighbourhood) a leak reaches from its strand:
#: the 3×3 windows' spill, carried a few pixels further by the solve.
LEAK_RADIUS = 5
#: A leak holds less than this fraction of the strongest alpha within the radius.
LEAK_RATIO = 0.1
#: ... and less than this alpha itself (1 − this, mirrored): it is a haze, not a strand.
LEAK_LEVEL = 0.05


def remove_leaks(alpha: np.ndarray, unknown: np.ndarray, radius: int = LEAK_RADIUS, ratio: float = LEAK_RATIO,
                 level: float = LEAK_LEVEL) -> np.ndarray:
    """``alpha`` (H×W in [0, 1]) with the leaks among the ``unknown`` pixels (H×W bool)
    set to 0, and their foreground mirror (1 − alpha small beside a much larger
    1 − alpha) set to 1. Other pixels are returned as they are."""
    size = 2 * radius + 1
    strongest = ndimage.maximum_filter(alpha, size=size, mode="nearest")
    weakest = ndimage.minimum_filter(alpha, size=size, mode="nearest")
    haze = unknown & (alpha < level) & (alpha < ratio * strongest)
    holes = unknown & (1.0 - alpha < level) & (1.0 - alpha < ratio * (1.0 - weakest))
    out = alpha.copy()
    out[haze] = 0.0
    out[holes] = 1.0
    return out
