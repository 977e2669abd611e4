"""How far to trust the refinement of a closed-form matte: not where that matte is smooth.

The refinement (:mod:`.refine`) gains where closed-form's matte washes out what the
image's colours show (strands, lace, fur, hard edges): there its alpha jumps between
neighbouring pixels. Where the matte is smooth everywhere (smoke, veils, mist:
semi-transparent matter whose density changes over many pixels) closed-form's Laplacian
is already right, while the background estimated behind the matter, seen only through
it, is wrong in ways no confidence sees; every step of the refinement made such mattes
worse (docs/benchmarks.md, *Smooth mattes kept*).

The measure is the mean range over 3×3 pixels of closed-form's alpha, blurred by a
Gaussian of :data:`GRAIN_SIGMA` px first so that the grain of a plate (which the solve
passes into alpha) does not count as detail, taken over the band's mixed pixels (bare
background and solid foreground, plentiful in a wide band, say nothing about the matter).
Measured on 72 composite stills, noise-free and with grain of σ 0.01 and 0.02: smoke and
veils 0.028–0.057, hair over a background of its own colours 0.082–0.093, motion blur,
hair, fur, lace and hard edges 0.098–0.57. The refinement is kept in full above
:data:`SHARP`, not at all below :data:`SMOOTH`, in proportion between.

An option (``Preset.keep_smooth_mattes``), off in the default: on plates, dense hair a
pixel wide washes out in closed-form's matte as smoothly as smoke (tiles of the 1080p
plate of ``bench/plate_case.py`` 0.018–0.136), and there the refinement gains most.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: Mean 3×3 range at and below which closed-form's matte is kept as it is ...
SMOOTH = 0.06
#: ... and at and above which the refinement is kept in full.
SHARP = 0.09
#: Gaussian σ (pixels) of the blur before the range is read.
GRAIN_SIGMA = 1.0
#: A pixel is mixed when its alpha is this far from 0 and from 1.
MIXED = 0.02


def local_range(alpha: np.ndarray, unknown: np.ndarray) -> float:
    """The mean over ``unknown``'s mixed pixels of the range (max − min) over 3×3 pixels of
    ``alpha`` blurred by :data:`GRAIN_SIGMA`; 1.0 (sharp) where no pixel is mixed, so a
    hard-edged matte stays refined."""
    mixed = unknown & (alpha > MIXED) & (alpha < 1.0 - MIXED)
    if not mixed.any():
        return 1.0
    blurred = ndimage.gaussian_filter(np.asarray(alpha, np.float32), GRAIN_SIGMA, mode="nearest")
    spread = (ndimage.maximum_filter(blurred, size=3, mode="nearest")
              - ndimage.minimum_filter(blurred, size=3, mode="nearest"))
    return float(spread[mixed].mean())


def refinement_trust(alpha: np.ndarray, unknown: np.ndarray) -> float:
    """The share (0 to 1) of the refinement to keep over closed-form's ``alpha`` (H×W)
    on the ``unknown`` pixels (H×W bool): 0 where the matte is smooth, 1 where it is sharp."""
    return float(np.clip((local_range(alpha, unknown) - SMOOTH) / (SHARP - SMOOTH), 0.0, 1.0))
