"""The F and B the refinement works from: the multi-level estimate (:mod:`.foreground`),
its F fitted to a sharpened matte where the background limits it more than the
foreground does.

Closed-form's matte is too smooth: strands are washed out, their alpha too low. F fitted
to explain the pixels under that alpha overshoots to make up for it, so the per-pixel
α̂ the refinement trusts repeats the bias. It is that agreement, not F's size of error,
that costs: the true foreground blurred by 4 px still gives 0.78× closed-form's SAD
after the refinement, our estimate 0.96× (docs/benchmarks.md, fifteenth session). F fitted
to the matte sharpened on its mixed pixels (α + s(α − G₁ α)) makes up less.

Sharpening also makes F follow the foreground's own texture more. So per pixel the two
F are mixed by w = var_B / (var_F + var_B), the local colour variances of the pixels B
and F are read from (:func:`.refine.colour_spread`): where the background is the
busier layer, its estimate is what limits α̂ and the sharpened F is taken; where the
foreground is (multi-coloured hair over a plain wall), the plain one. And where
closed-form's matte was already right (noise-free strands a few pixels wide), the
sharpened matte overshoots, and a smooth F explains the pixels worse under it than the
plain F under the plain matte: w is scaled by min(1, 2 r / (r + r_s)), r and r_s those
compositing residuals over a few pixels (1 when the sharpened matte explains them at
least as well).

Under a clean plate the same holds: B is seen, but closed-form's matte is no less
washed out, so F is mixed by the same rule (var_B read from the image, as without one).
A plate with holes (the background a shot carried from its other frames) gives F as
without a plate where it does not cover (:func:`estimate_colours`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage

from .colour_norms import squared_norm
from .foreground import ImageLevels, estimate_foreground_background
from .refine import ColourSpread, colour_spread
from .region import reach_box

#: Gaussian σ (pixels) of the blur the sharpening subtracts: the Laplacian's 3×3 windows.
SHARPEN_SIGMA = 1.0
#: Gaussian σ (pixels) over which the two mattes' compositing residuals are compared:
#: a strand and its flanks.
RESIDUAL_SCALE = 2.0
#: How far that comparison reads (gaussian_filter's default radius, 4σ).
RESIDUAL_REACH = int(np.ceil(4.0 * RESIDUAL_SCALE))


class _Sharpened(NamedTuple):
    """What choosing F needs from the matte alone, whatever plate F is estimated against:
    the matte clipped to [0, 1], its sharpened version, and the local colour variances of
    the pixels F and B are read from (exact on the wanted pixels)."""

    alpha: np.ndarray
    matte: np.ndarray
    var_f: np.ndarray
    var_b: np.ndarray


def sharpen_matte(alpha: np.ndarray, strength: float, sigma: float = SHARPEN_SIGMA) -> np.ndarray:
    """``alpha`` (H×W) unsharp-masked on its mixed pixels (0 < α < 1): α + strength ·
    (α − its Gaussian blur), clipped to [0, 1]. Pixels at 0 or 1 stay."""
    alpha = np.asarray(alpha, np.float32)
    mixed = (alpha > 0.0) & (alpha < 1.0)
    detail = alpha - ndimage.gaussian_filter(alpha, sigma)
    return np.where(mixed, np.clip(alpha + strength * detail, 0.0, 1.0), alpha).astype(np.float32)


def estimate_colours(image: np.ndarray, alpha: np.ndarray, sharpen: float = 0.0,
                     background: np.ndarray | None = None, background_known: np.ndarray | None = None,
                     wanted: np.ndarray | None = None,
                     spread: ColourSpread | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Straight F and B (H×W×3 each) for ``image`` under ``alpha``, as
    :func:`~.foreground.estimate_foreground_background` (``background``,
    ``background_known``: a clean plate and where it holds), with F taken, as far as the
    background is the busier layer and the sharpened matte explains the pixels at least
    as well, from a second estimate fitted to :func:`sharpen_matte` (``sharpen`` its
    strength; 0: the plain estimate). ``wanted``: H×W bool, the pixels whose F and B are
    used (default all); elsewhere they are only approximate. ``spread``: the local colour
    variances that choose F (:func:`~.refine.colour_spread` of ``alpha`` at least at
    ``wanted``), if already computed.

    Under a plate the sharpened F is chosen by the same rule: closed-form's matte is as
    washed out with B seen as without, and F overshoots as much to explain the pixels
    (docs/benchmarks.md, *F under a clean plate*). Where a plate with holes (the
    background a shot carried) does not cover, F is estimated as without a plate: the
    plate's B, pinned on the pixels beside, leaves F alone to explain a matte that is
    too low there, and F's overshoot spreads to the pixels the plate misses.
    """
    sharpened = None
    if sharpen > 0.0:  # once, for both estimates below
        clipped = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
        var_f, var_b = spread if spread is not None else colour_spread(image, clipped, wanted)
        sharpened = _Sharpened(clipped, sharpen_matte(clipped, sharpen), var_f, var_b)
    levels = ImageLevels(image, background, background_known)  # the image's levels, once for every estimate
    fg, bg = _estimate(image, levels, alpha, sharpened, wanted)
    if background is None or background_known is None:
        return fg, bg
    beside = ~np.asarray(background_known, bool)  # the pixels a plate with holes does not cover
    if wanted is not None:
        beside &= np.asarray(wanted, bool)
    if beside.any():
        free, _ = _estimate(image, levels.without_background(), alpha, sharpened, beside)
        fg = np.where(beside[..., None], free, fg).astype(np.float32)
    return fg, bg


def _estimate(image: np.ndarray, levels: ImageLevels, alpha: np.ndarray, sharpened: _Sharpened | None,
              wanted: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`estimate_colours` with one plate throughout (in ``levels``, the image's, or
    none): F from the plain estimate and, with ``sharpened``, the one fitted to its matte,
    both against the plate where it covers."""
    inner = wanted
    if wanted is not None and sharpened is not None:
        # The residuals that choose F are compared over a few pixels around each wanted one.
        inner = ndimage.maximum_filter(np.asarray(wanted, bool), size=2 * RESIDUAL_REACH + 1, mode="constant")
    fg, bg = estimate_foreground_background(levels, alpha, wanted=inner)
    if sharpened is None:
        return fg, bg
    sharp_fg, _ = estimate_foreground_background(levels, sharpened.matte, wanted=inner)
    weight = sharpened.var_b / np.maximum(sharpened.var_f + sharpened.var_b, 1e-12)
    weight *= np.clip(2.0 * _explains_better(image, sharpened.alpha, fg, sharpened.matte, sharp_fg, bg, wanted),
                      0.0, 1.0)
    return (fg + weight[..., None].astype(np.float32) * (sharp_fg - fg)).astype(np.float32), bg


def _explains_better(image: np.ndarray, alpha: np.ndarray, fg: np.ndarray, sharpened: np.ndarray,
                     sharp_fg: np.ndarray, bg: np.ndarray, wanted: np.ndarray | None = None) -> np.ndarray:
    """Per pixel, r / (r + r_s): r and r_s the compositing residuals, over a few pixels
    (Gaussian σ :data:`RESIDUAL_SCALE`), of the plain matte with its F and of the
    sharpened matte with its own. Above ½ where the smooth F explains the pixels better
    under the sharpened matte: closed-form's matte was too smooth there. Where it was
    right (noise-free strands a few pixels wide), sharpening overshoots and the
    residual says so. Exact on ``wanted`` (default all); ½ outside the pixels within the
    blur's reach of them, which are all it reads."""
    out = np.full(alpha.shape, 0.5, np.float32)
    box = (slice(None), slice(None)) if wanted is None else reach_box(wanted, RESIDUAL_REACH)
    if box is None:
        return out
    image, alpha, fg, sharpened, sharp_fg, bg = (x[box] for x in (image, alpha, fg, sharpened, sharp_fg, bg))

    def residual(a: np.ndarray, f: np.ndarray) -> np.ndarray:
        a = a[..., None]
        return ndimage.gaussian_filter(squared_norm(image - a * f - (1.0 - a) * bg), RESIDUAL_SCALE)

    plain, sharp = residual(alpha, fg), residual(sharpened, sharp_fg)
    out[box] = plain / np.maximum(plain + sharp, 1e-12)
    return out
