"""Frames seen at one exposure: the classical chain's settings are in colour units.

The matting Laplacian's ε, the refinement's confidences, the colour estimator's
regularisation and the known-to-unknown samples all weigh colour differences against
constants set on display-referred frames, whose known pixels have RMS levels of 0.29–0.64.
A scene-linear plate is darker (mid grey at 0.18, shadows near 0.01) or, exposed up,
brighter: solved on its own values, the same picture at a fifth of the level gave the
default 1.16× the SAD (median over 21 stills; 1.6× at a twentieth, worst 3×), at four times
0.99× (worst 2.4×: a hard edge). Solved at one level, set by the colours beside the band,
every exposure gets the same matte, and frames already at that level change little
(docs/benchmarks.md, *Exposure*). The known-to-unknown samples see each window at a level
of their own (:func:`.sampled_density.exposure_normalised`).

The matting Laplacian's ε (10⁻⁷) weighs each window's colour spread against the steps
of an 8-bit picture at its own level. A frame in 8-bit steps (a PNG, a video frame, as
integers or as floats) brightened to the level has steps as much larger, and a smooth
dark picture's steps then count as detail: ε grows with them (:func:`laplacian_eps`).
Smoke over a dark wall of its own colour (gain 3.2) had 1.8× the closed-form SAD of its
own level, and the default 1.60× closed-form's; with ε kept to the steps, 1.09×
(docs/benchmarks.md, fiftieth session). Frames in finer steps keep ε: a scene-linear
plate at any exposure gets one matte.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .colour_norms import squared_norm
from .laplacian import EPS

#: The level (0–1 colour units) a solve window is seen at: the median, over the known
#: pixels beside its band (:func:`beside_band`), of each pixel's RMS over its channels. Our
#: display-referred composites' medians: 0.27–0.68, 0.45 in the middle. A median, not a
#: mean: a bright sky beside the band is a minority that an RMS level follows (a subject
#: beside a window onto the sky at 4.0, as wide as its own picture: 1.12× the SAD with the
#: RMS of the window's known pixels, geometric mean over 27 stills; 1.05× with this).
REFERENCE_LEVEL = 0.45


def level_gain(image: np.ndarray, known: np.ndarray) -> float:
    """The gain that brings ``image``'s (H×W×3) ``known`` pixels (H×W bool; all of them
    when none is known) to a median level of :data:`REFERENCE_LEVEL`; 1 for a black
    frame, which has no level to set."""
    levels = np.sqrt(squared_norm(image) / np.float32(image.shape[-1]))
    level = float(np.median(levels[known] if known.any() else levels))
    return REFERENCE_LEVEL / level if level > 1e-6 else 1.0


#: How many pixels a side :func:`in_eight_bit_steps` reads at most (evenly spaced).
STEP_SAMPLE_SIDE = 256


def in_eight_bit_steps(image: np.ndarray) -> bool:
    """Whether ``image``'s values (0–1 units) all lie in [0, 1] on whole multiples of
    1/255, as a PNG's or a video frame's do, given as integers or as floats; read on an
    even grid of at most :data:`STEP_SAMPLE_SIDE`² pixels."""
    rows = max(1, image.shape[0] // STEP_SAMPLE_SIDE)
    cols = max(1, image.shape[1] // STEP_SAMPLE_SIDE)
    sample = np.asarray(image[::rows, ::cols], np.float64) * 255.0
    if sample.size == 0 or sample.min() < 0.0 or sample.max() > 255.0:
        return False
    # float32 holds k / 255 to within 255 · 2⁻²⁴ of a whole number once scaled back.
    return bool(np.abs(sample - np.round(sample)).max() < 1e-3)


def laplacian_eps(gain: float, eight_bit: bool) -> float:
    """The matting Laplacian's ε for a frame seen at ``gain`` (:func:`level_gain`): ε × gain²
    for a frame in 8-bit steps brightened (gain > 1), so that it stays in proportion to
    the steps as they are seen; ε otherwise."""
    return EPS * max(1.0, gain) ** 2 if eight_bit else EPS


#: Values above this at the solve's level (about 20,000 times the level beside the band,
#: where only the sun or a render's firefly goes) are compressed logarithmically (slope 1
#: at the ceiling) for the solve, and the colours it returns expanded back. Beside a
#: firefly of 10⁸ a 3×3 window's covariance spans more than a double's precision: its
#: Laplacian then holds the window flat, and the 96² test hair's SAD went from 288 to 463
#: (``tests/test_matte.py``); compressed, 289 (with a firefly of 10⁴: 292).
HIGHLIGHT_CEILING = 1e4


def to_solve_level(colours: np.ndarray, gain: "float | np.float32") -> None:
    """``colours`` (float32, written in place) brought to the solve's level: times ``gain``
    (:func:`level_gain`), highlights beyond :data:`HIGHLIGHT_CEILING` compressed."""
    colours *= gain
    if colours.size and colours.max() > HIGHLIGHT_CEILING:
        hot = colours > HIGHLIGHT_CEILING
        colours[hot] = HIGHLIGHT_CEILING * (1 + np.log(colours[hot] / HIGHLIGHT_CEILING))


def from_solve_level(colours: np.ndarray, gain: "float | np.float32") -> np.ndarray:
    """The inverse of :func:`to_solve_level`: solved colours back on the frame's scale
    (a new array, or ``colours`` itself where that changes nothing)."""
    ceiling = np.float32(HIGHLIGHT_CEILING)
    if colours.size and colours.max() > ceiling:
        # Within float32: an estimate beyond every compressed input stops at 10³⁰.
        exponent = np.minimum(colours / ceiling - 1, np.float32(np.log(1e30 / HIGHLIGHT_CEILING)))
        colours = np.where(colours > ceiling, ceiling * np.exp(exponent), colours)
    return colours / np.float32(gain) if gain != 1 else colours


#: Known pixels within this many pixels of the band set a window's level: the colours its
#: unknown pixels are mixed from, not a bright sky or a dark corner elsewhere in the frame.
BESIDE_BAND = 16


def beside_band(unknown: np.ndarray) -> np.ndarray:
    """H×W bool: the known pixels within :data:`BESIDE_BAND` px (a square's reach) of an
    ``unknown`` one."""
    near = ndimage.maximum_filter(unknown.astype(np.uint8), size=2 * BESIDE_BAND + 1, mode="constant") > 0
    return near & ~unknown


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
