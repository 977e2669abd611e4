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
from .foreground import ImageLevels, Overlaid, estimate_foreground_background, matte_part
from .refine import SPREAD_REACH, ColourSpread, colour_spread
from .region import Window, embedded, grown, inside, reach_box

#: Gaussian σ (pixels) of the blur the sharpening subtracts: the Laplacian's 3×3 windows.
SHARPEN_SIGMA = 1.0
#: Gaussian σ (pixels) over which the two mattes' compositing residuals are compared:
#: a strand and its flanks.
RESIDUAL_SCALE = 2.0
#: How far that comparison reads (gaussian_filter's default radius, 4σ).
RESIDUAL_REACH = int(np.ceil(4.0 * RESIDUAL_SCALE))
#: How far the sharpening's blur reads (gaussian_filter's radius, 4σ).
SHARPEN_REACH = int(4.0 * SHARPEN_SIGMA + 0.5)


class _Sharpened(NamedTuple):
    """What choosing F needs from the matte alone, whatever plate F is estimated against:
    the matte sharpened (frame-sized, for the estimator; its ``over`` the sharpened pixels
    the choice reads), the matte clipped to [0, 1] on those pixels, and the local colour
    variances of the pixels F and B are read from (the box's, exact on the wanted pixels)."""

    matte: Overlaid
    near_alpha: np.ndarray
    var_f: np.ndarray
    var_b: np.ndarray


def sharpen_matte(alpha: np.ndarray, strength: float, sigma: float = SHARPEN_SIGMA) -> np.ndarray:
    """``alpha`` (H×W) unsharp-masked on its mixed pixels (0 < α < 1): α + strength ·
    (α − its Gaussian blur), clipped to [0, 1]. Pixels at 0 or 1 stay."""
    alpha = np.asarray(alpha, np.float32)
    mixed = (alpha > 0.0) & (alpha < 1.0)
    detail = alpha - ndimage.gaussian_filter(alpha, sigma)
    return np.where(mixed, np.clip(alpha + strength * detail, 0.0, 1.0), alpha).astype(np.float32)


def estimate_colours(image: "np.ndarray | ImageLevels", alpha: "np.ndarray | Overlaid", sharpen: float = 0.0,
                     background: np.ndarray | None = None, background_known: np.ndarray | None = None,
                     wanted: np.ndarray | None = None, spread: ColourSpread | None = None,
                     box: Window | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Straight F and B (H×W×3 each) for ``image`` under ``alpha`` (H×W, or a tile's over
    its context: :class:`~.foreground.Overlaid`), as
    :func:`~.foreground.estimate_foreground_background` (``background``,
    ``background_known``: a clean plate and where it holds), with F taken, as far as the
    background is the busier layer and the sharpened matte explains the pixels at least
    as well, from a second estimate fitted to :func:`sharpen_matte` (``sharpen`` its
    strength; 0: the plain estimate).

    ``box``: the part of the frame whose F and B are returned (default all); the estimate
    still reads the whole frame, but computes only what the box depends on (a tile of a
    plate, its colours estimated with the whole frame as context), and the matte is
    sharpened near the box alone. ``wanted``: bool, the box's size, the pixels whose F and
    B are used (default all); elsewhere they are only approximate. ``spread``: the local
    colour variances that choose F (:func:`~.refine.colour_spread` of ``alpha`` at least
    at ``wanted``; the box's size), if already computed. ``image`` may be the frame's
    :class:`~.foreground.ImageLevels` (with its plate, and no ``background``), made once
    for many estimates.

    Under a plate the sharpened F is chosen by the same rule: closed-form's matte is as
    washed out with B seen as without, and F overshoots as much to explain the pixels
    (docs/benchmarks.md, *F under a clean plate*). Where a plate with holes (the
    background a shot carried) does not cover, F is estimated as without a plate: the
    plate's B, pinned on the pixels beside, leaves F alone to explain a matte that is
    too low there, and F's overshoot spreads to the pixels the plate misses.
    """
    if isinstance(image, ImageLevels):
        if background is not None or background_known is not None:
            raise ValueError("estimate_colours: the plate goes into the ImageLevels")
        levels = image
    else:  # the image's levels, once for every estimate below
        levels = ImageLevels(image, background, background_known)
    if not isinstance(alpha, Overlaid):
        alpha = np.asarray(alpha, np.float32)
    box = box or Window(0, 0, *alpha.shape)
    wanted = np.ones((box.height, box.width), bool) if wanted is None else np.asarray(wanted, bool)
    sharpened = None
    if sharpen > 0.0:  # once, for both estimates below
        near = grown(box, RESIDUAL_REACH, alpha.shape)
        # Sharpened on the pixels the choice reads, and as far around as the sharpening's blur reaches.
        source = grown(near, SHARPEN_REACH, alpha.shape)
        sharp = sharpen_matte(np.clip(matte_part(alpha, source), 0.0, 1.0), sharpen)[inside(near, source)]
        if spread is None:
            reach = grown(box, SPREAD_REACH, alpha.shape)
            var_f, var_b = colour_spread(levels.image[reach.slices], np.clip(matte_part(alpha, reach), 0.0, 1.0),
                                         embedded(wanted, box, reach))
            spread = var_f[inside(box, reach)], var_b[inside(box, reach)]
        # The matte elsewhere is the frame's as given (a tile's context).
        matte = Overlaid(alpha.under if isinstance(alpha, Overlaid) else alpha, sharp, near)
        sharpened = _Sharpened(matte, np.clip(matte_part(alpha, near), 0.0, 1.0), *spread)
    fg, bg = _estimate(levels, alpha, sharpened, wanted, box)
    if levels.plate is None or levels.known is None:
        return fg, bg
    beside = ~levels.known[box.slices] & wanted  # the pixels a plate with holes does not cover
    if beside.any():
        free, _ = _estimate(levels.without_background(), alpha, sharpened, beside, box)
        fg = np.where(beside[..., None], free, fg).astype(np.float32)
    return fg, bg


def _estimate(levels: ImageLevels, alpha: "np.ndarray | Overlaid", sharpened: _Sharpened | None, wanted: np.ndarray,
              box: Window) -> tuple[np.ndarray, np.ndarray]:
    """:func:`estimate_colours` with one plate throughout (in ``levels``, the image's, or
    none): F from the plain estimate and, with ``sharpened``, the one fitted to its matte,
    both against the plate where it covers."""
    if sharpened is None:
        return estimate_foreground_background(levels, alpha, wanted=wanted, box=box)
    # The residuals that choose F are compared over a few pixels around each wanted one.
    near = grown(box, RESIDUAL_REACH, alpha.shape)
    wanted_near = embedded(wanted, box, near)
    inner = ndimage.maximum_filter(wanted_near, size=2 * RESIDUAL_REACH + 1, mode="constant")
    fg, bg = estimate_foreground_background(levels, alpha, wanted=inner, box=near)
    sharp_fg, _ = estimate_foreground_background(levels, sharpened.matte, wanted=inner, box=near)
    better = _explains_better(levels.image[near.slices], sharpened.near_alpha, fg, sharpened.matte.over, sharp_fg,
                              bg, wanted_near)
    in_box = inside(box, near)
    weight = sharpened.var_b / np.maximum(sharpened.var_f + sharpened.var_b, 1e-12)
    weight *= np.clip(2.0 * better[in_box], 0.0, 1.0)
    fg, bg, sharp_fg = fg[in_box], bg[in_box], sharp_fg[in_box]
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
