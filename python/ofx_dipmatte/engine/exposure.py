"""Frames seen at one exposure: the classical chain's settings are in colour units.

The matting Laplacian's ε, the refinement's confidences, the colour estimator's
regularisation and the known-to-unknown samples all weigh colour differences against
constants set on display-referred frames, whose known pixels have RMS levels of 0.29–0.64.
A scene-linear plate is darker (mid grey at 0.18, shadows near 0.01) or, exposed up,
brighter: solved on its own values, the same picture at a fifth of the level gave the
default 1.16× the SAD (median over 21 stills; 1.6× at a twentieth, worst 3×), at four times
0.99× (worst 2.4×: a hard edge). Solved at one level, every exposure gets the same matte,
and frames already at that level change little (docs/benchmarks.md, *Exposure*).
"""

from __future__ import annotations

import numpy as np

from .colour_norms import squared_norm

#: The RMS level (0–1 colour units, over the three channels) a frame's known pixels are
#: seen at: the median of our display-referred composites (0.29–0.64).
REFERENCE_LEVEL = 0.5


def level_gain(image: np.ndarray, known: np.ndarray) -> float:
    """The gain that brings ``image``'s (H×W×3) ``known`` pixels (H×W bool; all of them
    when none is known) to an RMS level of :data:`REFERENCE_LEVEL`; 1 for a black frame,
    which has no level to set."""
    squares = squared_norm(image)
    picked = squares[known] if known.any() else squares
    level = float(np.sqrt(picked.mean(dtype=np.float64) / image.shape[-1]))
    return REFERENCE_LEVEL / level if level > 1e-6 else 1.0


def at_reference_level(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``image`` times :func:`level_gain`: its known pixels' RMS level is
    :data:`REFERENCE_LEVEL` (a black frame as it is)."""
    return image * np.float32(level_gain(image, known))


#: Mean levels (0–1 colour units) at which a shot's checks compare colours as they are:
#: those of display-referred frames' backgrounds (our composites: 0.28–0.56), where their
#: thresholds were set. Darker or brighter frames (scene-linear) are compared in
#: proportion to their level, as grain and a change of scene are.
DISPLAY_LEVELS = (0.1, 0.6)
#: The darkest level compared in proportion: below it, a black background's differences
#: are the quantisation's, not the picture's.
DARKEST_LEVEL = 0.01


def difference_scale(level: "float | np.ndarray") -> "float | np.ndarray":
    """What a colour difference on pixels of mean ``level`` (a float or an array) is divided
    by to be compared with a threshold set for display-referred frames: 1 within
    :data:`DISPLAY_LEVELS`, ``level`` over the nearest end of that range outside it."""
    low, high = DISPLAY_LEVELS
    return np.maximum(level, DARKEST_LEVEL) / np.clip(level, low, high)
