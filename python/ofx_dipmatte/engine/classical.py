"""The classical matte of one window: what a preset starts its nets from, or (``balanced``)
its answer.

    closed-form (Levin et al.) → [information or DIP-feature flows] → F, B estimated
    (F fitted to the sharpened matte) → refinement by those colours → leaks taken back
    → trusted passes → [kept as far as the closed-form matte was sharp; elsewhere closed-form
    held to the known regions' colour samples]

Each step is a module of its own; this one only chains them as a :class:`~.presets.Preset`
says, and turns the colours it estimated into the F and B returned with the final alpha.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Callable, NamedTuple, Optional

import numpy as np

from .alpha_solve import BandSystem, DataTerm, Smoothness, Stopped, add_terms, solve_alpha
from .closed_form import closed_form_alpha
from .colour_estimate import estimate_colours
from .foreground import ImageLevels, Overlaid, estimate_foreground_background, match_compositing
from .information_flow import information_flow_system
from .laplacian import EPS, matting_laplacian
from .leaks import remove_leaks
from .plate_grain import plate_trust
from .presets import Preset
from .refine import ColourSpread, colour_spread, foreground_uncertainty, refine_alpha, refinement_round
from .region import Padded, Window, grown, inside
from .results import Cancelled, ProgressCallback
from .sampled_density import FrameSamples, sampled_density_matte
from .smooth_matte import SMEAR_TRUST, refinement_trust

if TYPE_CHECKING:
    import torch

Colours = tuple[np.ndarray, np.ndarray]  # straight F and B, H×W×3 each
#: (image, alpha) → F, B of a window (e.g. estimated over more of the frame than it holds);
#: one that reads only the band also takes ``spread=`` (``estimate_reads_band``).
ColourEstimate = Callable[..., Colours]

#: Pixels of the frame around a window (or a plate's tiles together) that F and B are
#: estimated over as well: the estimator extrapolates into the band from the known colours
#: it sees, and a window's margin shows too few of them (measured on dev256 motion blur:
#: foreground error 1.07× closed-form's pipeline with the 32 px margin alone, 1.01× with
#: the whole frame).
COLOUR_CONTEXT = 32


class Prior(NamedTuple):
    """A window's mattes before its refinement (:func:`window_prior`)."""

    alpha: np.ndarray  # closed-form's matte (or the flows')
    trust: np.ndarray  # () or H×W: the share of the refinement to keep, before a clean plate's part
    kept: np.ndarray  # the matte kept where that share is below 1


def window_prior(cfg: Preset, image: np.ndarray, trimap: np.ndarray, *, seed: int = 0,
                 device: "torch.device | str | None" = None,
                 should_stop: Optional[Callable[[], bool]] = None,
                 anchor: DataTerm | None = None,
                 samples_from: "tuple[FrameSamples, Window] | None" = None, eps: float = EPS) -> Prior:
    """The first stage of :func:`classical_matte` alone: closed-form's matte of ``image``
    (or the flows'), how far to trust its refinement (:func:`refinement_trust_map` without
    a clean plate) and the matte kept where that is not all the way. A plate's tiles
    compute these on windows with as much context as their band is deep and blend them;
    each tile then refines the blend on its own cell alone (:mod:`.tiles`). Arguments as
    for :func:`classical_matte`.

    Raises:
        Cancelled: ``should_stop`` returned True.
    """
    try:
        alpha, system, anchor = _prior_matte(cfg, image, trimap, seed, device, should_stop, anchor, solve=True,
                                             eps=eps)
        assert alpha is not None  # solved
        trust = refinement_trust_map(cfg, image, alpha, trimap)
        kept = _kept_matte(cfg, image, trimap, alpha, trust, system, anchor, should_stop, samples_from)
    except Stopped:
        raise Cancelled("solve cancelled while computing the closed-form matte") from None
    return Prior(alpha, trust, kept)


def _kept_matte(cfg: Preset, image: np.ndarray, trimap: np.ndarray, alpha: np.ndarray, trust: np.ndarray,
                system: BandSystem, anchor: DataTerm | None, should_stop: Optional[Callable[[], bool]],
                samples_from: "tuple[FrameSamples, Window] | None") -> np.ndarray:
    """The matte kept where the refinement is not trusted (``trust`` < 1): closed-form's
    ``alpha``, or held to the known regions' colour samples (smoke and veils, whose density
    it underestimates; ``Preset.smooth_samples``)."""
    if cfg.smooth_samples > 0 and np.any(trust < 1) and (trimap == 0.5).any():
        return sampled_density_matte(image, trimap, system, cfg.smooth_samples, anchor=anchor,
                                     should_stop=should_stop, samples=samples_from)
    return alpha


def _prior_matte(cfg: Preset, image: np.ndarray, trimap: np.ndarray, seed: int, device: "torch.device | str | None",
                 should_stop: Optional[Callable[[], bool]], anchor: DataTerm | None,
                 solve: bool, eps: float = EPS) -> "tuple[np.ndarray | None, BandSystem, DataTerm | None]":
    """The window's smoothness system (the Laplacian's band rows, with ``eps``, or the
    flows') and the data term the solves add to it (``anchor``, and the flows' own); with
    ``solve``, also the matte they give (else None: the caller has it)."""
    laplacian = matting_laplacian(image, eps=eps, unknown=trimap == 0.5)
    system = BandSystem.split(laplacian, trimap)  # every solve below reads these rows
    alpha = closed_form_alpha(image, trimap, laplacian=system, should_stop=should_stop, anchor=anchor) \
        if solve else None
    if cfg.affinity != "closed_form" and (trimap == 0.5).any():
        # Non-local flows: denser than the Laplacian, so conjugate gradients from the
        # closed-form matte rather than a direct solve.
        features = None
        if cfg.affinity == "dip_features":
            from .dip_features import fit_dip_features  # a net: torch

            features = fit_dip_features(image, trimap, steps=cfg.feature_steps, seed=seed, device=device or "cpu",
                                        should_stop=should_stop)
        flows, flow = information_flow_system(image, trimap, features, local=laplacian)
        system = BandSystem.split(flows, trimap)
        anchor = add_terms(anchor, flow)
        if solve:
            alpha = solve_alpha(system, trimap, *anchor, initial=alpha, should_stop=should_stop)
    return alpha, system, anchor


def classical_matte(cfg: Preset, image: np.ndarray, trimap: np.ndarray, *, seed: int = 0,
                    device: "torch.device | str | None" = None,
                    progress: Optional[ProgressCallback] = None,
                    should_stop: Optional[Callable[[], bool]] = None,
                    anchor: DataTerm | None = None,
                    estimate: ColourEstimate | None = None,
                    background_estimate: ColourEstimate | None = None,
                    exact_background: "bool | np.ndarray" = False,
                    estimate_reads_band: bool = False,
                    samples_from: "tuple[FrameSamples, Window] | None" = None,
                    prior: Prior | None = None, eps: float = EPS
                    ) -> tuple[np.ndarray | None, "Colours | None"]:
    """The preset's classical matte of ``image`` (working encoding, H×W×3) and its snapped
    ``trimap`` (None: ``alpha_prior="none"``, the paper's blank start), and for
    ``foreground="estimated"`` the F and B estimated from its unrefined matte: the
    refinement is made from these colours, so they are matched to the final alpha
    (:func:`colours_for`) rather than estimated again from it.

    Args:
        seed, device: for the DIP-feature net (``affinity="dip_features"``; device None: the CPU).
        progress: told each refinement round (``progress(done, rounds, {})``); False cancels.
        should_stop: polled inside every solve; True cancels. Seconds on large frames, so
            a host's abort reaches every solve.
        anchor: a data term added to every solve (a tile's boundary values).
        estimate: (image, alpha) → F, B, for the refinement and the returned colours alike;
            default :func:`~.colour_estimate.estimate_colours` with the preset's
            ``sharpen_foreground``.
        estimate_reads_band: ``estimate`` takes ``spread=``, :func:`~.refine.colour_spread`
            of alpha on the band, and reads it nowhere else (:func:`colours_in_context`'s
            estimates): computed once for it and the refinement's confidence.
        background_estimate: the same without sharpening, for the refinement rounds that
            keep the first F and use only B (default: ``estimate``; the plain
            :func:`~.colour_estimate.estimate_colours` when that is the default too).
        exact_background: where ``estimate``'s B is a clean plate (True, or H×W).
        samples_from: the known colour samples of ``Preset.smooth_samples`` as a frame's
            and where the window lies in it (default the window's own).
        prior: the window's :func:`window_prior`, if computed already (a plate's tiles:
            their blend over the overlapping windows); only the refinement is left.
        eps: the matting Laplacian's ε (:func:`.exposure.laplacian_eps` of the frame).

    Raises:
        Cancelled: ``progress`` returned False or ``should_stop`` True.
    """
    if cfg.alpha_prior == "none":
        return None, None
    if estimate is None:
        estimate = partial(estimate_colours, sharpen=cfg.sharpen_foreground)
        background_estimate = background_estimate or estimate_colours
    try:
        solved, system, anchor = _prior_matte(cfg, image, trimap, seed, device, should_stop, anchor,
                                              solve=prior is None, eps=eps)
        alpha = prior.alpha if prior is not None else solved
        assert alpha is not None
        spread = shared_spread(cfg, image, alpha, trimap) if estimate_reads_band else None
        colours = _estimated(estimate, image, alpha, spread) if cfg.foreground == "estimated" else None
        trust = refinement_trust_map(cfg, image, alpha, trimap, exact_background, colours,
                                     None if prior is None else prior.trust)
        kept = prior.kept if prior is not None else \
            _kept_matte(cfg, image, trimap, alpha, trust, system, anchor, should_stop, samples_from)
        if cfg.alpha_prior == "refined" and np.any(trust > 0):
            rounds = cfg.refine_iterations
            uncertainty = foreground_uncertainty(image, trimap, alpha) if cfg.foreground_uncertainty else None

            def round_done(done: int) -> bool:
                go_on = progress is None or progress(done, rounds, {}) is not False
                return go_on and not (should_stop is not None and should_stop())

            alpha = refine_alpha(image, trimap, alpha, rounds, cfg.refine_strength, laplacian=system,
                                 should_stop=should_stop, round_done=round_done,
                                 texture=cfg.refine_confidence == "texture", anchor=anchor,
                                 colours=estimate, start_colours=colours, exact_background=exact_background,
                                 keep_foreground=cfg.refine_foreground == "first",
                                 plate_strength=cfg.refine_plate_strength,
                                 background_colours=background_estimate, start_spread=spread,
                                 fg_uncertainty=uncertainty)
            if cfg.remove_leaks:
                alpha = remove_leaks(alpha, trimap == 0.5)
            for _ in range(cfg.trusted_passes):
                alpha = trusted_pass(cfg, image, trimap, alpha, system, estimate, anchor=anchor,
                                     exact_background=exact_background, should_stop=should_stop,
                                     estimate_reads_band=estimate_reads_band, fg_uncertainty=uncertainty)
            if np.any(trust < 1):
                alpha = (kept + trust * (alpha - kept)).astype(np.float32)
        else:
            alpha = kept
    except Stopped:
        raise Cancelled("solve cancelled while computing the closed-form matte (or its refinement)") from None
    return alpha, colours


def refinement_trust_map(cfg: Preset, image: np.ndarray, alpha: np.ndarray, trimap: np.ndarray,
                         exact_background: "bool | np.ndarray" = False,
                         colours: "Colours | None" = None, measured: np.ndarray | None = None) -> np.ndarray:
    """How much of the refinement to keep over closed-form's ``alpha`` (1, or H×W in
    [0, 1]) as ``Preset.keep_smooth_mattes`` says: the window's
    :func:`~.smooth_matte.refinement_trust` (of ``image`` and closed-form's ``alpha``;
    ``measured``: that share as already measured, () or H×W),
    and where a clean plate gives B (``exact_background``: True, or H×W) as much as the
    plate agrees with the frame (:func:`~.plate_grain.plate_trust` of ``colours``, the F
    and B estimated under the plate; all of it without them): the refinement's loss on
    smooth mattes comes from the estimated background, or from grain in the plate or the
    frame."""
    if not cfg.keep_smooth_mattes or cfg.alpha_prior != "refined":
        return np.ones((), np.float32)  # nothing to keep from: no refinement

    def share() -> np.ndarray:
        if measured is not None:
            return np.asarray(measured, np.float32)
        # Motion blur keeps part of the kept matte only where that is held to the colour samples.
        smear = SMEAR_TRUST if cfg.smooth_samples > 0 else 1.0
        return np.asarray(np.float32(refinement_trust(image, trimap, alpha, smear)))

    if exact_background is False:
        return share()
    seen = 1.0 if colours is None else plate_trust(image, trimap, alpha, *colours, exact_background)
    if exact_background is True and seen >= 1.0:
        return np.ones((), np.float32)  # B seen everywhere, and clean enough: nothing to measure
    return np.maximum(share(), np.float32(seen) * np.asarray(exact_background, np.float32))


def trusted_pass(cfg: Preset, image: np.ndarray, trimap: np.ndarray, alpha: np.ndarray,
                 laplacian: Smoothness | None, estimate: ColourEstimate, *, anchor: DataTerm | None = None,
                 exact_background: "bool | np.ndarray" = False,
                 should_stop: Optional[Callable[[], bool]] = None,
                 estimate_reads_band: bool = False, fg_uncertainty: np.ndarray | None = None) -> np.ndarray:
    """``alpha`` moved toward one more refinement round, made from F and B estimated
    from ``alpha`` itself, as far as those colours are trusted (``Preset.trusted_passes``).
    Colours from the refined matte are better than the first ones where they are
    trusted and drift with their own errors elsewhere (more plain rounds gain on some
    images and lose on others), so the round's change is weighted per pixel by its
    confidence against the band's median confidence. ``laplacian``: the image's (or its
    :class:`~.alpha_solve.BandSystem`), if already built; ``estimate``,
    ``estimate_reads_band``: as for :func:`classical_matte`; ``fg_uncertainty``: see
    :func:`~.refine.colour_confidence`."""
    unknown = trimap == 0.5
    if laplacian is None:
        laplacian = matting_laplacian(image, unknown=unknown)
    spread = shared_spread(cfg, image, alpha, trimap) if estimate_reads_band else None
    fg, bg = _estimated(estimate, image, alpha, spread)
    again, confidence = refinement_round(image, trimap, alpha, fg, bg, cfg.refine_strength, laplacian,
                                         should_stop=should_stop, texture=cfg.refine_confidence == "texture",
                                         anchor=anchor, exact_background=exact_background,
                                         plate_strength=cfg.refine_plate_strength, spread=spread,
                                         fg_uncertainty=fg_uncertainty)
    if cfg.remove_leaks:
        again = remove_leaks(again, unknown)
    weight = confidence / (confidence + max(float(np.median(confidence[unknown])), 1e-12))
    return (alpha + weight * (again - alpha)).astype(np.float32)


def shared_spread(cfg: Preset, image: np.ndarray, alpha: np.ndarray, trimap: np.ndarray) -> "ColourSpread | None":
    """:func:`~.refine.colour_spread` of ``alpha`` on the band, which a band-reading colour
    estimate (choosing the sharpened F) and the refinement's confidence both read; None
    where neither does."""
    if cfg.sharpen_foreground <= 0.0 and cfg.refine_confidence != "texture":
        return None
    return colour_spread(image, np.clip(alpha, 0.0, 1.0), trimap == 0.5)


def _estimated(estimate: ColourEstimate, image: np.ndarray, alpha: np.ndarray,
               spread: "ColourSpread | None") -> Colours:
    """``estimate``'s F and B, given ``spread`` when there is one (only a band-reading
    estimate is)."""
    return estimate(image, alpha) if spread is None else estimate(image, alpha, spread=spread)


def colours_for(image: np.ndarray, alpha: np.ndarray, colours: "Colours | None") -> Colours:
    """The straight F and B returned with ``alpha``: ``colours`` (estimated from another,
    independent matte) corrected to reproduce the image under ``alpha``, or estimated
    from ``alpha`` itself when there are none. No brighter than the brightest pixel of
    the window: the working encoding's 1.0 decodes to infinity for float plates."""
    if colours is None:
        fg, bg = estimate_foreground_background(image, alpha)
    else:
        fg, bg = match_compositing(image, alpha, *colours)
    ceiling = image.reshape(-1, 3).max(axis=0)
    return np.clip(fg, 0.0, ceiling), np.clip(bg, 0.0, ceiling)


class ColourContext(NamedTuple):
    """The part of the frame windows' colours are estimated over (:func:`colour_context`),
    and the known colour samples of its band."""

    levels: ImageLevels  # its image (and clean plate) at the estimator's levels, shared by the windows
    matte: np.ndarray  # the trimap, a matte of the band on its unknown pixels where there is one
    trimap: np.ndarray
    at: Window  # where it lies in the canvas
    samples: FrameSamples  # computed when a tile first needs them


def colour_context(padded: Padded, solved: Window, guide: np.ndarray | None = None) -> ColourContext:
    """What the colours of the windows solving ``solved`` (a frame's one window, or the
    union of its tiles) are estimated over: ``solved`` and :data:`COLOUR_CONTEXT` pixels
    of the frame around it, ``padded``'s image, plate and trimap, with ``guide`` (a matte
    of ``solved``: the band's coarse matte) on the band. Each tile sees what one window
    would: estimated over its own margins alone, a 1080p plate's tiles were 6–12 % worse
    than over the whole frame (docs/benchmarks.md), and the estimate costs no more when
    it is computed for its window alone (:func:`~.colour_estimate.estimate_colours`'s
    ``box``)."""
    at = grown(solved, COLOUR_CONTEXT, padded.image.shape)
    trimap = padded.trimap_mirrored[at.slices]
    matte = trimap.astype(np.float32)
    if guide is not None:
        part = inside(solved, at)
        np.copyto(matte[part], guide, where=trimap[part] == 0.5)
    plate, covers = (None if a is None else a[at.slices] for a in (padded.clean_plate, padded.plate_covers))
    image = padded.classical[at.slices]
    return ColourContext(ImageLevels(image, plate, covers), matte, trimap, at, FrameSamples(image, trimap))


def in_context(context: ColourContext, window: Window) -> Window:
    """Where ``window`` (in the canvas) lies in ``context``."""
    return replace(window, y0=window.y0 - context.at.y0, x0=window.x0 - context.at.x0)


def colours_in_context(context: ColourContext, window: Window) -> Callable[..., Colours]:
    """(image, alpha, sharpen=0, spread=None) on ``window`` → F and B on it
    (:func:`~.colour_estimate.estimate_colours`), estimated over ``context`` with
    ``alpha`` in the window. With a clean plate, B is the plate and only F is estimated."""
    box = in_context(context, window)
    # F and B are used on the window's band only (the refinement's data term, and the
    # colours returned, which are matched to the alpha: F is the pixel where α = 1, B where 0).
    wanted = context.trimap[box.slices] == 0.5

    def estimate(_image: np.ndarray, alpha: np.ndarray, sharpen: float = 0.0,
                 spread: ColourSpread | None = None) -> Colours:
        full = Overlaid(context.matte, np.asarray(alpha, np.float32), box)
        return estimate_colours(context.levels, full, sharpen, wanted=wanted, spread=spread, box=box)

    return estimate
