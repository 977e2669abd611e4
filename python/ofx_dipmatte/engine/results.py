"""What a solve returns: the matte, the colours, and what the solve did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

#: progress(iteration, total or None, losses) → False to cancel.
ProgressCallback = Callable[[int, Optional[int], dict], Optional[bool]]


class Cancelled(RuntimeError):
    """The progress callback (or a host abort) asked the solve to stop."""


@dataclass
class FitResult:
    """One window's solve: the DIP nets' fit, or (presets without networks) its classical matte."""

    alpha: np.ndarray  # h×w
    fg: np.ndarray  # h×w×3, working encoding
    bg: np.ndarray  # h×w×3
    losses: dict[str, float]
    iterations: int
    stop_reason: str  # "threshold" | "max_iterations" | "no_network"
    seconds: float
    optimizer_state: dict = field(default_factory=dict)


@dataclass
class MatteStats:
    """What one solve did.

    Attributes:
        iterations: optimisation steps taken (0 when nothing was solved).
        seconds: wall time of the whole call.
        losses: final value of each of the six terms (and ``prior`` when used) and ``total``.
        stop_reason: "threshold", "max_iterations", "no_network" (the preset's answer is
            its prior; no network fitted) or "no_unknown" (trimap had no unknown pixels).
        warm_start_from: the frame whose weights this solve started from, or None (cold).
        window: (x, y, width, height) of the solve region in pixels (on large frames, the
            box around all the tiles).
        tiles: how many windows the band was split into (1: one window around it all).
        device: where it ran.
        warnings: notes about the input (e.g. a trimap without foreground; see
            :func:`about_inputs`) and about the carried background (it started over).
        chroma_restored: the subsampled chroma the frame arrived with and was restored
            from before the solve (e.g. "4:2:2", :mod:`.chroma`), or None.
        background_frames: how many frames' background (solved before, or shown with
            :meth:`ClipSession.show_background`) was carried into this solve
            (:mod:`.carried_background`; 0: none was carried).
        repeat_of: the frame whose very inputs this call was given again, and whose result
            it returns with nothing solved (:meth:`ClipSession.matte`); None otherwise.
    """

    iterations: int = 0
    seconds: float = 0.0
    losses: dict[str, float] = field(default_factory=dict)
    stop_reason: str = "no_unknown"
    warm_start_from: float | None = None
    window: tuple[int, int, int, int] | None = None
    tiles: int = 0
    device: str = "cpu"
    warnings: list[str] = field(default_factory=list)
    chroma_restored: str | None = None
    background_frames: int = 0
    repeat_of: float | None = None


@dataclass
class MatteResult:
    """Outputs of one frame.

    Attributes:
        alpha: float32 H×W in [0, 1]; equal to the trimap wherever the trimap is known.
        foreground: float32 H×W×3 straight (not premultiplied) colour, in the input's
            encoding (0–1 for integer images; scene-linear for float). The image itself
            where the trimap is known foreground; on known background near the band,
            an extrapolation with no meaning (alpha is 0 there), else the image.
        background: float32 H×W×3, the background behind the foreground (estimated,
            the B net's, or the clean plate's); the image itself where the trimap is
            known background; on known foreground near the band, an extrapolation.
        stats: see :class:`MatteStats`.
    """

    alpha: np.ndarray
    foreground: np.ndarray
    background: np.ndarray
    stats: MatteStats


#: How the carried background's notes begin (:mod:`.carried_background`).
CARRIED_NOTE = "carried background"


def about_inputs(warnings: list[str]) -> list[str]:
    """The warnings an artist acts on: those about a frame's inputs (a trimap with no known
    foreground, a soft matte given as a trimap, a clean plate the preset ignores). The
    carried background's notes (it started over at a camera move) are routine on a
    moving shot."""
    return [w for w in warnings if not w.startswith(CARRIED_NOTE)]
