"""Alpha refined by foreground and background estimates (sampling + confidence).

Closed-form matting only propagates the trimap through local colour lines; far from
the known regions it leaves a haze over the background and washes strands out. Once
F and B are estimated in the band, each pixel has its own alpha estimate, the
projection of the image colour on the segment from B to F:

    α̂ = (I − B)·(F − B) / |F − B|²

It is trustworthy where F and B differ a lot, where the colours they were estimated
from vary little (flat backgrounds; busy texture makes smooth estimates wrong), and
where αF + (1 − α)B reproduces the pixel; untrustworthy where their colours are alike.
We solve the Laplacian with α̂ as a data term weighted by that confidence, re-estimate
B from the new alpha (its gaps show more background), and repeat. F stays the first
estimate unless B is a clean plate: re-estimated from a refined alpha without one, F
drifts with B's errors (fur over similar fur: SAD 1.050× closed-form's with F
re-estimated, 1.026× with F kept; docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ._colour_variance import local_colour_variance as _local_colour_variance
from .alpha_solve import DataTerm, Smoothness, Stopped, add_terms, solve_alpha
from .colour_norms import squared_norm
from .foreground import estimate_foreground_background
from .laplacian import matting_laplacian
from .plate_grain import alpha_noise, plate_disagreement, plate_share
from .smooth_matte import carried_mean, edge_share

#: Colour residual (Euclidean distance in RGB, 0–1 units) at which the confidence
#: falls to 1/e: about the spread of a natural texture around its local mean.
RESIDUAL_SCALE = 0.1
#: Scale (pixels, Gaussian σ) of the neighbourhood whose colour spread says how far an
#: estimated F or B can be off: the texture F and B are smoothed over.
TEXTURE_SCALE = 2.0
#: How far :func:`local_colour_variance` reads around a pixel (its Gaussian's radius, 4σ).
SPREAD_REACH = int(4.0 * TEXTURE_SCALE + 0.5)
#: Colour variance that is always there (noise, grain, 8-bit steps): about 0.03 RMS.
NOISE_VARIANCE = 1e-3
#: Where a clean plate gives B, how far (in standard deviations of the grain's effect)
#: the per-pixel estimate may leave [0, 1] as the data term's target. There its error is
#: grain in the frame or the plate, as often below the truth as above: clipped at 0 it
#: would only ever rise over bare background, a haze. The grain's effect is measured
#: (:func:`~.plate_grain.plate_disagreement` over |F − B|), so a noise-free plate keeps
#: [0, 1]: its errors are F's, not symmetric (unclipped, exact plates lost 0.5 %, hair up
#: to 16 %; docs/benchmarks.md, nineteenth session).
GRAIN_MARGIN = 2.0
#: Tolerance of each round's solve: it starts from the previous matte, and on 42 stills
#: 1e-4 gave the same mattes as 1e-6 (median SAD equal to 3 digits) in 46 % of the
#: conjugate-gradient iterations.
SOLVE_TOLERANCE = 1e-4


def foreground_uncertainty(image: np.ndarray, trimap: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """H×W: how far an estimated F may be off, beyond the colour spread around the pixel
    (:func:`colour_spread`): the colour variance (summed over RGB) of the known foreground
    within about :data:`~.smooth_matte.KNOWN_SCALE` px of it, which F is extrapolated from
    into the band. A subject of many colours (a cat's face, a patterned shirt) leaves F
    uncertain even where its strands are locally plain, and α̂ = 1 from an F that took
    the pixel's own colour is then no evidence: a dark strand over orange read as an
    opaque dark-orange one. Not where ``alpha`` (closed-form's, H×W) is as sharp as a
    hard edge (:func:`~.smooth_matte.edge_share`): there the band is a pixel or two
    from the known foreground, and F's extrapolation is short (noise-free synthetic
    strands a pixel wide over a smooth background read 0.25–0.32 on that scale too, and
    get less of it). 0 with no known foreground nearby (docs/benchmarks.md, *The known
    foreground's spread*)."""
    known = trimap == 1.0
    unknown = trimap == 0.5
    if not known.any() or not unknown.any():
        return np.zeros(trimap.shape, np.float32)
    share = 1.0 - edge_share(alpha, unknown)
    if share <= 0.0:
        return np.zeros(trimap.shape, np.float32)
    image = np.asarray(image, np.float32)
    moments = carried_mean(np.concatenate([image, image ** 2], axis=-1), known)  # means of I and of I²
    return (share * np.maximum(moments[..., 3:] - moments[..., :3] ** 2, 0.0).sum(axis=-1)).astype(np.float32)


def alpha_from_colours(image: np.ndarray, fg: np.ndarray, bg: np.ndarray,
                       low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """Per pixel, the alpha that best explains ``image`` as a mix of ``fg`` and ``bg``
    (all H×W×3), clipped to [``low``, ``high``]."""
    diff = fg - bg
    num = np.einsum("hwc,hwc->hw", image - bg, diff)
    den = np.einsum("hwc,hwc->hw", diff, diff)
    return np.clip(num / np.maximum(den, 1e-6), low, high).astype(np.float32)


def local_colour_variance(image: np.ndarray, weight: np.ndarray, scale: float = TEXTURE_SCALE,
                          where: np.ndarray | None = None) -> np.ndarray:
    """Variance (summed over RGB) of the colours near each pixel, each counted by
    ``weight``: with weight (1 − α)², how much the background varies around a pixel,
    which bounds how well a smooth estimate of it can be right. The neighbourhood is a
    Gaussian of σ ``scale`` (scipy's ``gaussian_filter``, edges repeated), computed by a
    compiled kernel (``kernels/colour_variance.cpp``) only at ``where`` (H×W bool; None:
    every pixel): 0 elsewhere. The callers read the band's pixels alone, and the blurs over
    whole windows were 42 % of a 256² still with a thin band."""
    return _local_colour_variance(np.asarray(image, np.float32), np.asarray(weight, np.float32),
                                  _gaussian_kernel(scale), where)


#: The local colour variances under α² and (1 − α)² of one matte (:func:`colour_spread`).
ColourSpread = tuple[np.ndarray, np.ndarray]


def colour_spread(image: np.ndarray, alpha: np.ndarray, where: np.ndarray | None = None) -> ColourSpread:
    """How much the colours vary around each pixel among those F and those B are read from
    under ``alpha`` (H×W, in [0, 1]): :func:`local_colour_variance` weighted by α² and by
    (1 − α)², at ``where``. The refinement's confidence and the choice of the sharpened F
    (:mod:`.colour_estimate`) both read them for the same matte: computed once, they were
    6 of a tile's 14 variance passes."""
    return (local_colour_variance(image, alpha ** 2, where=where),
            local_colour_variance(image, (1.0 - alpha) ** 2, where=where))


def _gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """The normalised 1-D Gaussian scipy's ``gaussian_filter`` correlates with (same
    radius, same values), so the kernel's blurs are scipy's to the bit."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * x ** 2)
    return phi / phi.sum()


def colour_confidence(image: np.ndarray, fg: np.ndarray, bg: np.ndarray, estimate: np.ndarray,
                      alpha: np.ndarray | None = None, texture: bool = True,
                      exact_background: "bool | np.ndarray" = False, where: np.ndarray | None = None,
                      spread: ColourSpread | None = None, fg_uncertainty: np.ndarray | None = None) -> np.ndarray:
    """How far to trust ``estimate`` (from :func:`alpha_from_colours`): about the inverse
    variance of its error. An error δF or δB moves α̂ by about (α̂ δF + (1 − α̂) δB)/|F − B|,
    so the confidence is |F − B|² over α̂² var(F) + (1 − α̂)² var(B) + noise, where var(F)
    and var(B) are the local colour variances of the pixels F and B were read from
    (weights α² and (1 − α)² of ``alpha``, default ``estimate``), times a Gaussian of how
    badly ``α̂F + (1 − α̂)B`` misses the pixel. Near 0 where F ≈ B or on busy texture.
    ``texture=False``: |F − B|² times the Gaussian only (the textbook sampling confidence).
    ``exact_background``: B is a clean plate, not an estimate (True, or an H×W bool mask of
    the pixels the plate covers): no var(B) term there. ``where``: H×W bool, the pixels
    whose confidence is read (default all); elsewhere it is computed without the
    variances (:func:`local_colour_variance`). ``spread``: those variances, if already
    computed (:func:`colour_spread` of the same matte at least at ``where``).
    ``fg_uncertainty``: more variance of F's error (:func:`foreground_uncertainty`),
    added to var(F)."""
    a = estimate[..., None]
    source = estimate if alpha is None else alpha
    residual = squared_norm(a * fg + (1.0 - a) * bg - image)
    contrast = squared_norm(fg - bg)
    if not texture:
        return (contrast * np.exp(-residual / RESIDUAL_SCALE ** 2)).astype(np.float32)
    var_f, var_b = spread if spread is not None else colour_spread(image, source, where)
    if exact_background is not False:
        var_b = np.where(exact_background, 0.0, var_b)
    if fg_uncertainty is not None:
        var_f = var_f + fg_uncertainty
    error = estimate ** 2 * var_f + (1.0 - estimate) ** 2 * var_b + NOISE_VARIANCE  # α̂'s variance
    return (contrast / error * np.exp(-residual / RESIDUAL_SCALE ** 2)).astype(np.float32)


def refine_alpha(image: np.ndarray, trimap: np.ndarray, alpha: np.ndarray, iterations: int = 4,
                 strength: float = 0.01, laplacian: Smoothness | None = None,
                 should_stop: Optional[Callable[[], bool]] = None,
                 round_done: Optional[Callable[[int], bool]] = None, texture: bool = True,
                 colours: Optional[Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]] = None,
                 anchor: DataTerm | None = None,
                 start_colours: tuple[np.ndarray, np.ndarray] | None = None,
                 exact_background: "bool | np.ndarray" = False,
                 keep_foreground: bool = True, plate_strength: float = 0.1,
                 background_colours: Optional[Callable[[np.ndarray, np.ndarray],
                                                       tuple[np.ndarray, np.ndarray]]] = None,
                 start_spread: ColourSpread | None = None,
                 fg_uncertainty: np.ndarray | None = None) -> np.ndarray:
    """``iterations`` rounds of: F, B from alpha; α̂ and its confidence; a Laplacian
    solve with the confidence-weighted data term (``strength`` × confidence, or
    ``plate_strength`` × confidence where ``exact_background`` holds).

    Args:
        image: H×W×3 in [0, 1]; trimap: snapped H×W; alpha: the starting matte (e.g.
            closed-form's), equal to the trimap where known.
        laplacian: the image's matting Laplacian (or its split, :class:`~.alpha_solve.BandSystem`),
            if already built.
        should_stop: polled inside each solve (raises :class:`~.alpha_solve.Stopped`).
        round_done: called with the number of rounds done; False stops (``Stopped``).
        texture, fg_uncertainty: see :func:`colour_confidence`.
        colours: (image, alpha) → (F, B); default :func:`~.foreground.estimate_foreground_background`.
            Another source (an inpainter, or the true F/B in a benchmark) plugs in here.
        anchor: a data term added to every solve (see :func:`~.closed_form.closed_form_alpha`).
        start_colours: F and B already estimated from ``alpha`` (the first round's).
        start_spread: :func:`colour_spread` of ``alpha`` on the band, if already computed.
        exact_background: ``colours`` gives the true background (a clean plate): True, or
            where (H×W bool); see :func:`colour_confidence`.
        keep_foreground: later rounds keep the first round's F except where
            ``exact_background`` holds (False: F is re-estimated every round too).
        background_colours: what those later rounds estimate with, when they keep F: an
            estimate whose B, and F where ``exact_background`` holds, are ``colours``'
            but cheaper to get (the foreground is not sharpened, :mod:`.colour_estimate`);
            default ``colours``.
        strength, plate_strength: how far the confidence is trusted against the
            Laplacian, with B estimated and where a clean plate gives B. An estimated B
            has an error the confidence cannot see (the estimate's smoothness), so it is
            trusted ten times less (docs/benchmarks.md, *The data term's strength*). A
            plate with grain is trusted less, down to ``strength``, as far as its
            disagreement with the frame moves α̂ (:mod:`.plate_grain`); there α̂ may also
            leave [0, 1] by :data:`GRAIN_MARGIN` times that.

    Returns: H×W float32 alpha; known pixels equal the trimap.
    """
    unknown = trimap == 0.5
    if iterations < 1 or not unknown.any():
        return alpha.astype(np.float32)
    if laplacian is None:
        laplacian = matting_laplacian(image, unknown=unknown)
    colours = colours or estimate_foreground_background
    later = background_colours if keep_foreground and background_colours is not None else colours
    plate = np.asarray(exact_background)[..., None]  # where F is re-estimated even when kept
    first_fg = None
    for done in range(1, iterations + 1):
        if done == 1:
            fg, bg = start_colours if start_colours is not None else colours(image, alpha)
        else:
            fg, bg = later(image, alpha)
        if first_fg is None:
            first_fg = fg
        elif keep_foreground:
            fg = np.where(plate, fg, first_fg)
        alpha, _ = refinement_round(image, trimap, alpha, fg, bg, strength, laplacian, should_stop=should_stop,
                                    texture=texture, anchor=anchor, exact_background=exact_background,
                                    plate_strength=plate_strength, spread=start_spread if done == 1 else None,
                                    fg_uncertainty=fg_uncertainty)
        if round_done is not None and round_done(done) is False:
            raise Stopped(f"refinement stopped after round {done}")
    return alpha


def refinement_round(image: np.ndarray, trimap: np.ndarray, alpha: np.ndarray, fg: np.ndarray, bg: np.ndarray,
                     strength: float, laplacian: Smoothness, *,
                     should_stop: Optional[Callable[[], bool]] = None, texture: bool = True,
                     anchor: DataTerm | None = None, exact_background: "bool | np.ndarray" = False,
                     plate_strength: float = 0.1, spread: ColourSpread | None = None,
                     fg_uncertainty: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One round of :func:`refine_alpha` from the colours ``fg`` and ``bg``: the refined
    alpha, and the colours' confidence (:func:`colour_confidence`, before ``strength``;
    ``spread``: its variances, :func:`colour_spread` of ``alpha`` on the band, if known;
    ``fg_uncertainty``: F's more, :func:`foreground_uncertainty`)."""
    unclipped = alpha_from_colours(image, fg, bg, -1.0, 2.0)
    estimate = np.clip(unclipped, 0.0, 1.0)
    confidence = colour_confidence(image, fg, bg, estimate, alpha, texture, exact_background, trimap == 0.5, spread,
                                   fg_uncertainty)
    plate = np.asarray(exact_background)
    target, seen = estimate, 1.0
    grain = plate_disagreement(image, bg, trimap, plate) if plate.any() else 0.0
    if grain > 0.0:
        # The estimate may leave [0, 1] by as much as grain moves it (GRAIN_MARGIN), and
        # the plate is trusted over an estimated B only as far as it agrees with the frame.
        contrast = np.maximum(squared_norm(fg - bg), 1e-6)
        margin = np.minimum(GRAIN_MARGIN * np.sqrt(grain / contrast), 1.0)
        target = np.where(plate, np.clip(unclipped, -margin, 1.0 + margin), estimate).astype(np.float32)
        seen = plate_share(alpha_noise(grain, trimap, alpha, fg, bg, plate))
    weight = np.where(plate, seen * plate_strength + (1.0 - seen) * strength, strength)
    data = add_terms((weight * confidence * (trimap == 0.5), target), anchor)
    refined = solve_alpha(laplacian, trimap, *data, initial=alpha, should_stop=should_stop, rtol=SOLVE_TOLERANCE)
    return refined, confidence
