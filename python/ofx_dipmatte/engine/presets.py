"""Named solver configurations. Copy one and change it::

    import dataclasses, ofx_dipmatte
    cfg = dataclasses.replace(ofx_dipmatte.PRESETS["balanced"], max_iterations=800)
    ofx_dipmatte.matte(image, trimap, preset=cfg)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Preset:
    """Every knob of one solve. Fields marked [paper] are the paper's; the rest are ours.

    Networks
        width: channels per level of net 1 (image + alpha heads). [paper: 128]
        fb_width: channels per level of the F and B nets.
        skip: channels of each skip branch (0 = no skips).
        levels: U-Net levels. [paper: 5]
        noise_channels: channels of each net's fixed input noise. [paper: 32]
        fb_scale: the F and B nets run at 1/fb_scale resolution and are upsampled
            bilinearly, so they cannot absorb fine detail in the unknown band and
            alpha has to explain it (1 = the paper: full resolution).
    Optimisation
        lr: Adam learning rate. [paper: 1e-3]
        max_iterations: cap on a cold (first) frame.
        warm_max_iterations: cap on a warm-started frame.
        loss_threshold: stop once the total loss falls under this. None: a cold frame
            runs to its cap, and a warm frame stops at ``warm_threshold_ratio`` × the
            total its clip's cold frame ended at.
        warm_threshold_ratio: see loss_threshold.
        min_iterations: never stop on the threshold before this many steps. 1: a warm
            frame whose nets already fit it (loss under the threshold at the first step)
            takes that one step; measured on the dev clip (`draft`), warm frames of 1 step
            against 5 gave the same SAD (1.675 vs 1.680) and dtSSD (11.59 vs 11.57).
        weights: per-term multipliers of the six losses (all 1 in the paper) plus
            ``prior`` (ours; 0 = off).
        exclusion_region: "all" (the paper) or "unknown" (only where F and B overlap).
    Beyond the paper
        alpha_prior: "none" (paper), "closed_form": a closed-form matte (Levin et al.
            2008) of the solve region, or "refined": that matte refined by foreground and
            background estimates (:mod:`.refine`). The alpha head then predicts a
            correction to it in logit space (``α = σ(logit(prior) + logit(head))``, the
            head starting at 0.5), so the DIP nets start where a classical matte ends;
            ``weights["prior"]`` can also hold alpha near it in the unknown band.
        affinity: the links alpha flows along in those solves: "closed_form" (the matting
            Laplacian), "information_flow" (Aksoy et al. 2017: colour-mixture, intra-unknown
            and known-to-unknown flows plus that Laplacian, :mod:`.information_flow`), or
            "dip_features" (the same flows, their neighbours found with the features of a
            DIP net fitted to the image as well, :mod:`.dip_features`).
        feature_steps: Adam steps of that net ("dip_features" only).
        refine_iterations: rounds of "refined" (each: estimate F and B, solve alpha).
        refine_strength: weight of the colour data term against the Laplacian, with B
            estimated.
        refine_plate_strength: the same where a clean plate gives B.
        refine_confidence: "texture" (trust α̂ less where the colours F and B come from
            vary) or "flat" (|F − B|² and the compositing residual only).
        refine_foreground: "first": rounds after the first re-estimate B only, F stays
            the estimate from the unrefined matte (except where a clean plate gives B);
            "every_round": F too. Re-estimated from a refined alpha, F drifts with B's
            errors on fur and hair over similar texture (docs/benchmarks.md).
        carry_background: in a :class:`~.clip.ClipSession`, solve each frame against the
            background the clip's earlier frames showed (known in their trimaps, or
            nearly bare in their mattes), stacked as a clean plate with holes, while each
            new frame's known background agrees with it (:mod:`.carried_background`).
            "refined" only; a clean plate given to ``matte`` takes its place.
        sharpen_foreground: the colour estimates' F ("refined" only) fitted to the matte
            sharpened by this much on its mixed pixels (α + s(α − G₁ α)), as far as the
            background is the busier layer there and the sharpened matte explains the
            pixels at least as well: closed-form's too-smooth matte makes F overshoot
            (:mod:`.colour_estimate`), with or without a clean plate. 0: F from the matte
            as it is.
        remove_leaks: after the refinement ("refined" only), take back the faint alpha
            the Laplacian spreads beside strands: 0 below t = min(0.05, a tenth of the
            strongest alpha within 5 px), easing back to alpha at 2t; mirrored inside
            the foreground (:mod:`.leaks`).
        trusted_passes: after that ("refined" only), this many trusted passes, each from
            the matte the one before left: F and B estimated again from it, one more
            refinement round from them (leaks taken back again), kept per pixel in
            proportion to how far those colours are trusted: α + w (α₂ − α),
            w = c / (c + the band's median c), c their confidence. 0: none.
        foreground_uncertainty: ("refined" only, with ``refine_confidence="texture"``) the
            refinement's confidence also counts the colour spread of the known foreground
            near each pixel as F's uncertainty (F is extrapolated from it), except on
            hard edges (:func:`.refine.foreground_uncertainty`).
        keep_smooth_mattes: ("refined" only) keep closed-form's matte where it is smooth
            (the mean range of its alpha over 3×3 pixels) and the band shows no detail
            the known layers' own detail does not account for (smoke, veils:
            semi-transparent matter with the background seen through it); the
            refinement where either says otherwise (strands), a share between
            (:mod:`.smooth_matte`); everywhere a clean plate gives B, the refinement.
        smooth_samples: (with ``keep_smooth_mattes``) the matte kept there is closed-form's
            solved with the known regions' colour samples (information flow's
            known-to-unknown term) as a data term of this weight at a band 26 px deep,
            scaled to the band's depth (:mod:`.sampled_density`): closed-form alone
            leaves holes in smoke and veils wherever the background behind is dark. 0:
            closed-form's matte as it is.
        alpha_source: "dip" (the alpha head's output) or "prior": the prior is the
            answer and no network is fitted (nothing to warm-start; seconds a frame).
        foreground: "dip" (the F and B nets' output) or "estimated": F and B re-estimated
            from the final alpha and the image (:mod:`.foreground`).
    Input
        restore_chroma: a frame whose chroma was subsampled on the way (pixels in pairs
            or 2×2 blocks sharing one chroma sample, as MLT hands every frame to a filter,
            or 4:2:2/4:2:0 video upsampled by repetition) gets full-resolution chroma
            predicted from its luma before the solve (:mod:`.chroma`). Frames with full
            chroma are never changed.
    Cost
        margin: context pixels kept around the unknown band's bounding box (around each
            tile's share of it, on large frames).
        tile_size: on frames whose band's bounding box exceeds four tiles' area, the band
            is solved in windows that follow it (:mod:`.tiles`): one per tile_size² cell
            of the frame it touches, blended where they overlap. 0: always one window.
            With networks, each tile has its own nets, warm-started from the same cell's
            last solve, and its own loss threshold.
        tile_batch: tiles of the same size whose nets are fitted as one batch
            (:mod:`.batched_fit`: one vmapped step for all). 0: as many as
            ``device.GPU_TILE_BATCH`` on a GPU, one at a time on a CPU (where tiles run
            side by side on threads instead). Batched fits compute in float32 (torch's
            autocast does not reach inside vmap; GPUs run float32 convolutions as TF32).
        bf16: bfloat16 autocast (measured faster on CPUs with AVX-512 BF16/AMX and on GPUs).
        channels_last: memory format for the convolutions.
    """

    name: str = "custom"
    width: int = 32
    fb_width: int = 16
    skip: int = 4
    levels: int = 5
    noise_channels: int = 32
    fb_scale: int = 2
    lr: float = 1e-3
    max_iterations: int = 300
    warm_max_iterations: int = 100
    loss_threshold: float | None = None
    warm_threshold_ratio: float = 1.25
    min_iterations: int = 1
    weights: dict[str, float] = field(
        default_factory=lambda: {"image": 1.0, "alpha": 1.0, "fg": 1.0, "bg": 1.0, "comp": 1.0, "excl": 1.0, "prior": 0.0}
    )
    exclusion_region: str = "all"
    alpha_prior: str = "none"
    affinity: str = "closed_form"
    feature_steps: int = 150
    refine_iterations: int = 4
    refine_strength: float = 0.01
    refine_plate_strength: float = 0.1
    refine_confidence: str = "texture"
    refine_foreground: str = "first"
    remove_leaks: bool = False
    trusted_passes: int = 0
    sharpen_foreground: float = 0.0
    foreground_uncertainty: bool = False
    carry_background: bool = False
    keep_smooth_mattes: bool = False
    smooth_samples: float = 0.0
    alpha_source: str = "dip"
    foreground: str = "dip"
    restore_chroma: bool = True
    margin: int = 16
    tile_size: int = 0
    tile_batch: int = 0
    bf16: bool = True
    channels_last: bool = True

    def check(self) -> None:
        """Raise ValueError, naming the field, for options no solve can run with."""
        if self.max_iterations < 1 or self.warm_max_iterations < 1 or self.feature_steps < 1:
            raise ValueError("preset: max_iterations, warm_max_iterations and feature_steps must be at least 1")
        choices = {"alpha_prior": ("none", "closed_form", "refined"), "alpha_source": ("dip", "prior"),
                   "affinity": ("closed_form", "information_flow", "dip_features"),
                   "foreground": ("dip", "estimated"), "refine_confidence": ("texture", "flat"),
                   "refine_foreground": ("first", "every_round")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"preset: unknown {name} {getattr(self, name)!r}; use one of {allowed}")
        if self.trusted_passes < 0:
            raise ValueError("preset: trusted_passes must be 0 (none) or more")
        if self.smooth_samples < 0:
            raise ValueError("preset: smooth_samples must be 0 (off) or more")
        if self.sharpen_foreground < 0:
            raise ValueError("preset: sharpen_foreground must be 0 (off) or more")
        if self.tile_batch < 0:
            raise ValueError("preset: tile_batch must be 0 (automatic) or at least 1")
        if self.tile_size < 0 or (self.tile_size and self.tile_size < 2 * self.margin):
            raise ValueError("preset: tile_size must be 0 (one window) or at least twice the margin")
        if self.alpha_source == "prior" and self.alpha_prior == "none":
            raise ValueError("preset: alpha_source 'prior' needs an alpha_prior ('closed_form' or 'refined')")

    @property
    def fits_networks(self) -> bool:
        """Whether a solve fits any network: the DIP nets, or the DIP-feature affinity's.
        Only such presets need torch (and a device); the others solve with numpy, scipy and
        the compiled kernels, and never import it into the caller's process (a host's)."""
        return self.alpha_source != "prior" or self.affinity == "dip_features"

    def replace(self, **changes) -> "Preset":
        """A copy with some fields changed (``weights`` may be given partially)."""
        if "weights" in changes:
            changes["weights"] = {**self.weights, **changes["weights"]}
        return dataclasses.replace(self, **changes)


_PAPER_WEIGHTS = {"image": 1.0, "alpha": 1.0, "fg": 1.0, "bg": 1.0, "comp": 1.0, "excl": 1.0, "prior": 0.0}

#: The classical chain of the default, `balanced` (its reasons are given with it below);
#: `draft`'s nets start from the same matte. The other fields are Preset's defaults.
_BALANCED_MATTE = Preset(name="balanced matte", alpha_prior="refined", refine_iterations=2, remove_leaks=True,
                         trusted_passes=2, sharpen_foreground=1.0, foreground_uncertainty=True,
                         keep_smooth_mattes=True, smooth_samples=0.002)

PRESETS: dict[str, Preset] = {
    # The paper as specified: full-width nets at full resolution, the six unweighted
    # terms, no prior, and a large cap. Hours per frame on a 2-core CPU.
    "paper": Preset(
        name="paper", width=128, fb_width=128, skip=4, fb_scale=1, max_iterations=5000,
        warm_max_iterations=1000, weights=dict(_PAPER_WEIGHTS), alpha_prior="none", bf16=False,
        restore_chroma=False,
    ),
    # The default: closed-form matting refined by foreground/background estimates and a
    # colour-confidence data term (engine/refine.py). Measured better than the DIP nets
    # on top of it (docs/benchmarks.md, ablation), so no network is fitted: seconds a frame.
    # Two rounds: four gained more on the dev cases but nothing on held-out composites.
    # Then the Laplacian's haze beside strands is taken back (engine/leaks.py). With the
    # haze taken back, a data term ten times weaker than before (refine_strength 0.01) is
    # better on every set of stills we have; under a clean plate B is exact and 0.1
    # (refine_plate_strength) stays better.
    # Then more rounds from colours estimated on that matte, kept where they are trusted
    # (trusted_passes): one was better on 27 of 36 held-out stills, worse on smoke by
    # under 1 %, for 15–22 % more time; a second gains 2 % more over 72 composite stills
    # and 3–4 % on the plates, and costs smoke nothing once smoke keeps closed-form's
    # matte (below), for another 15–20 % of time (docs/benchmarks.md).
    # F is fitted to the matte sharpened by its own detail where the background is the
    # busier layer and that matte explains the pixels (sharpen_foreground): better on 44
    # of 60 composite stills (geometric mean of SAD −5.3 %), worse by at most 2.7 %. Half
    # as strong: −3.6 % (lace 5 % and hard edges 9 % worse than now, smoke 0.1–0.4 %
    # better); twice as strong gained more there and lost on the tests' noise-free
    # strands (docs/benchmarks.md).
    # In a clip, the background earlier frames uncovered serves as a clean plate.
    # Closed-form's matte is kept where it is smooth and the image shows no detail the
    # known layers do not account for (keep_smooth_mattes, engine/smooth_matte.py): smoke,
    # up to 4 % worse than closed-form refined, is closed-form's; dense fine hair on plates,
    # as smooth in closed-form's matte, shows its own detail and stays refined (the plates
    # unchanged to the digit). Veils lose: 0.4–0.8 % SAD, 10–20 % gradient error
    # (docs/benchmarks.md, eighteenth session).
    # That kept matte is held to the known regions' colour samples (smooth_samples): on
    # 25 held-out smoke and veil composites 0.30–0.95× closed-form's SAD (median 0.59),
    # dev smoke 0.954× (docs/benchmarks.md, thirtieth session).
    "balanced": _BALANCED_MATTE.replace(
        name="balanced", carry_background=True, alpha_source="prior", foreground="estimated", tile_size=256,
        margin=32,
    ),
    # The DIP nets fitted from a closed-form start (the default until the ablation): the
    # same six losses on narrow nets, F/B at half resolution, alpha held near the prior.
    # Plates are solved in 256² tiles, each with its own nets and warm start.
    "dip": Preset(
        name="dip", width=32, fb_width=16, fb_scale=2, max_iterations=300,
        warm_max_iterations=100, alpha_prior="closed_form",
        weights={**_PAPER_WEIGHTS, "prior": 1.0}, tile_size=256,
    ),
    # A quick look at the nets: narrower, fewer steps, from Balanced's matte. From
    # closed-form's (as `dip`) its matte was about closed-form's: 0.95–1.06× its SAD on the
    # dev stills, and 1.06× on natron_check.py's test image, the preset a host gets first
    # in the Quality menu (docs/benchmarks.md, forty-seventh session).
    "draft": _BALANCED_MATTE.replace(
        name="draft", width=16, fb_width=8, fb_scale=4, max_iterations=80, warm_max_iterations=30,
        weights={**_PAPER_WEIGHTS, "prior": 1.0}, tile_size=256,
    ),
}


def resolve_preset(preset: "str | Preset") -> Preset:
    """Look a preset up by name, or pass a :class:`Preset` through.

    A name may carry changes to the preset's fields after a colon, e.g.
    ``"balanced:keep_smooth_mattes=false,trusted_passes=1"``: how the command line's
    ``--preset`` reaches every field (a shot's checkpoints and farm jobs carry the whole
    string). The result's ``name`` is that string.
    """
    if isinstance(preset, Preset):
        return preset
    name, _, changes = preset.partition(":")
    try:
        base = PRESETS[name.strip()]
    except KeyError:
        raise ValueError(f"preset: unknown preset {name.strip()!r}; choose one of {sorted(PRESETS)} "
                         "(NAME:FIELD=VALUE,... changes its fields) or pass a Preset") from None
    if not changes.strip():
        return base
    cfg = base.replace(name=preset, **_parse_changes(changes))
    cfg.check()
    return cfg


def _parse_changes(changes: str) -> dict:
    """``"field=value,field=value"`` as typed field values of :class:`Preset`."""
    types = {f.name: str(f.type) for f in dataclasses.fields(Preset) if f.name not in ("name", "weights")}
    parsed: dict = {}
    for item in changes.split(","):
        field_name, sep, text = (part.strip() for part in item.partition("="))
        if not sep or field_name not in types:
            raise ValueError(f"preset: {item.strip()!r} is not FIELD=VALUE with a field of Preset; "
                             f"fields: {', '.join(sorted(types))}")
        kind, word = types[field_name], text.lower()
        try:
            if kind == "bool":
                if word not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                    raise ValueError(text)
                parsed[field_name] = word in ("true", "1", "yes", "on")
            elif kind == "int":
                parsed[field_name] = int(text)
            elif kind.startswith("float"):
                parsed[field_name] = None if ("None" in kind and word == "none") else float(text)
            else:
                parsed[field_name] = text
        except ValueError:
            wanted = {"bool": "true or false", "int": "a whole number"}.get(
                kind, "a number" + (" or none" if "None" in kind else ""))
            raise ValueError(f"preset: {field_name} takes {wanted}, not {text!r}") from None
    return parsed


def with_limits(preset: "str | Preset", max_iterations: int = 0, loss_threshold: float = 0.0) -> Preset:
    """``preset`` with a user's iteration cap and loss threshold (0: keep the preset's).

    The cap bounds cold and warm frames alike (a warm frame's own cap stays when lower).
    """
    cfg = resolve_preset(preset)
    if max_iterations < 0 or loss_threshold < 0:
        raise ValueError("max_iterations and loss_threshold must be 0 (the preset's) or more")
    if max_iterations > 0:
        cfg = cfg.replace(max_iterations=max_iterations,
                          warm_max_iterations=min(cfg.warm_max_iterations, max_iterations))
    if loss_threshold > 0:
        cfg = cfg.replace(loss_threshold=loss_threshold)
    return cfg
