"""How far to trust the refinement of a closed-form matte: not where that matte is smooth.

The refinement (:mod:`.refine`) gains where closed-form's matte washes out what the
image's colours show (strands, lace, fur, hard edges): there its alpha jumps between
neighbouring pixels. Where the matte is smooth everywhere (smoke, veils, mist:
semi-transparent matter whose density changes over many pixels) closed-form's Laplacian
is already right, while the background estimated behind the matter, seen only through
it, is wrong in ways no confidence sees; every step of the refinement made such mattes
worse (docs/benchmarks.md, *Smooth mattes kept*).

The measure is the mean range of closed-form's alpha over 3×3 pixels, taken over the
band's mixed pixels (bare background and solid foreground, plentiful in a wide band, say
nothing about the matter). Measured on 72 composite stills: smoke and veils 0.038–0.084,
motion blur 0.14–0.19, hair, fur, lace and hard edges 0.19–0.72. The refinement is kept in
full above :data:`SHARP`, not at all below :data:`SMOOTH`, in proportion between.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: Mean 3×3 range at and below which closed-form's matte is kept as it is ...
SMOOTH = 0.09
#: ... and at and above which the refinement is kept in full.
SHARP = 0.14
#: A pixel is mixed when its alpha is this far from 0 and from 1.
MIXED = 0.02


def local_range(alpha: np.ndarray, unknown: np.ndarray) -> float:
    """The mean over ``unknown``'s mixed pixels of ``alpha``'s range (max − min) over 3×3
    pixels; 1.0 (sharp) where no pixel is mixed, so a hard-edged matte stays refined."""
    mixed = unknown & (alpha > MIXED) & (alpha < 1.0 - MIXED)
    if not mixed.any():
        return 1.0
    spread = ndimage.maximum_filter(alpha, size=3, mode="nearest") - ndimage.minimum_filter(alpha, size=3, mode="nearest")
    return float(spread[mixed].mean())


def refinement_trust(alpha: np.ndarray, unknown: np.ndarray) -> float:
    """The share (0 to 1) of the refinement to keep over closed-form's ``alpha`` (H×W)
    on the ``unknown`` pixels (H×W bool): 0 where the matte is smooth, 1 where it is sharp."""
    return float(np.clip((local_range(alpha, unknown) - SMOOTH) / (SHARP - SMOOTH), 0.0, 1.0))
