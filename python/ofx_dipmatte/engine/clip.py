"""ClipSession: solving the frames of one clip, each warm-started from the nearest
solved frame, and :func:`matte` for a single still."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..encoding import grey_to_rgb, prepare_image
from ..trimap import SOFT_MATTE_SHARE, between_levels_share, snap_trimap
from .carried_background import CarriedBackground, drop_changed
from .chroma import detect_subsampling, restore_chroma
from .clean_plate import MatchedFrame, match_to_image, prepare_clean_plate
from .device import on_cpu_without_torch, resolve_device, single_threaded_blas
from .digest import digest
from .frame_solve import FrameSolver
from .presets import Preset, resolve_preset
from .results import MatteResult, MatteStats, ProgressCallback
from .warm_start import WarmStarts

if TYPE_CHECKING:
    import torch


def _validate(image: np.ndarray, trimap: np.ndarray,
              bounded: bool) -> tuple[np.ndarray, np.ndarray, bool, np.ndarray]:
    caller_rgb, working, is_float = prepare_image(image, bounded=bounded)
    tri = snap_trimap(trimap)
    if tri.shape != caller_rgb.shape[:2]:
        raise ValueError(
            f"trimap: size {tri.shape[1]}×{tri.shape[0]} does not match the image's "
            f"{caller_rgb.shape[1]}×{caller_rgb.shape[0]}; render both at the same resolution"
        )
    return caller_rgb, working, is_float, tri


class ClipSession:
    """Mattes the frames of one clip, carrying what one frame learnt to the next. Each
    frame is solved by a :class:`.frame_solve.FrameSolver`.

    With ``balanced`` (``Preset.carry_background``), each frame is solved against the
    background the frames solved (or shown) before it showed, while that background stays
    (:mod:`.carried_background`); a frame's result then depends on which frames came first.

    Presets that fit networks carry their weights: the first frame solved starts from
    random weights (cold) and runs to the preset's ``max_iterations``; every later frame
    (each tile: the same grid cell's) starts from the weights of the solved frame nearest
    in time (so out-of-order requests also warm-start) and stops once the loss falls under
    the threshold — about an order of magnitude cheaper. The noise inputs are keyed to the
    canvas position from ``seed`` (:mod:`.noise`), so a pixel sees the same input in every
    frame. At most ``max_states`` frames' weights are kept; the ones farthest from the
    latest frame are dropped first, so memory stays bounded on long clips. Adam's moments
    are carried with the weights.

    A frame given the very inputs of the frame solved last (a held picture; a clip whose
    pictures a timeline or a retime repeats) gets that frame's result again, copied, with
    nothing solved (``stats.repeat_of``): solved again, it would meet a carried background
    that holds its own first solve, and its matte would change between the showings.

    Thread-safe: one solve at a time per session.

    Args:
        preset: "draft", "balanced", "paper", or a :class:`Preset`.
        device: "auto" (CUDA if available, else CPU), "cpu" or "cuda". A preset that fits
            no network (``balanced``) solves on the CPU: with "auto" or "cpu" it never
            imports torch (a host's process stays free of it).
        seed: seeds the weights and noise; same seed, same result (on CPU).
        max_states: how many solved frames' weights to keep for warm starts.
        repeats: keep a copy of the last frame's result for a repeat of its inputs (one
            result's memory: 0.23 GB at 4K UHD); False solves every call (a caller with a
            cache of its own, as the OFX plugin has).
    """

    def __init__(self, preset: "str | Preset" = "balanced", device: "str | torch.device" = "auto",
                 seed: int = 0, max_states: int = 16, repeats: bool = True):
        self.config = resolve_preset(preset)
        self.config.check()
        self._warm = WarmStarts(max_states)  # the nets kept for warm starts (:mod:`.warm_start`)
        # None: the CPU, unresolved (no network to place, so torch need not be imported).
        self._device = None if not self.config.fits_networks and on_cpu_without_torch(device) \
            else resolve_device(device)
        self.seed = int(seed)
        self._lock = threading.Lock()
        self._background = CarriedBackground()
        self._frames = FrameSolver(self.config, self._device, self.seed, self._warm)
        self._repeats = repeats
        self._last: _LastSolved | None = None  # the frame solved last, for a repeat of its inputs

    @property
    def device(self) -> torch.device:
        """The torch device the nets fit on (for a preset that fits none, the CPU: torch
        is imported when this is first read)."""
        if self._device is None:
            self._device = resolve_device("cpu")
        return self._device

    @property
    def carries_background(self) -> bool:
        """Whether frames are solved against the background earlier ones showed: a preset
        that asks for it and uses clean plates (it refines the matte from colours)."""
        return self.config.carry_background and self.config.alpha_prior == "refined"

    @property
    def max_states(self) -> int:
        """How many solved frames' weights are kept for warm starts."""
        return self._warm.max_frames

    @property
    def solved_frames(self) -> list[float]:
        """Frames whose weights are kept for warm starts, oldest first."""
        return self._warm.frames

    def export_state(self, frame: float) -> dict:
        """What a later run needs to warm-start from ``frame`` as this one would: the
        weights, Adam's moments and place of each of its windows (tiles), and the cold-frame
        losses (which set the warm thresholds). Plain tensors and numbers, ready for
        ``torch.save``.

        Raises:
            KeyError: ``frame`` was not solved (or its weights were dropped).
        """
        with self._lock:
            return {"frame": float(frame), **self._warm.export(float(frame)),
                    "preset": repr(self.config), "seed": self.seed}

    def import_state(self, state: dict) -> None:
        """Adopt a state from :meth:`export_state` (e.g. a checkpoint of an interrupted
        run), so the next frame warm-starts from it.

        Raises:
            ValueError: the state was made with another preset or seed.
        """
        if state.get("preset") != repr(self.config) or state.get("seed") != self.seed or "windows" not in state:
            raise ValueError("checkpoint: made with other solver settings (preset or seed) or by another version; "
                             "it cannot warm-start this clip")
        with self._lock:
            self._warm.adopt(float(state["frame"]), state["windows"], state["cold_loss"])

    def show_background(self, frame: float, image: np.ndarray, trimap: np.ndarray) -> None:
        """Add a frame's known background (its trimap's 0) to the background this session
        carries into its solves (``Preset.carry_background``) before the frame is solved:
        where the subject moves, a later frame shows what hides behind an earlier one's
        band. The shot CLI shows every frame of a run first. Nothing happens for a preset
        that carries no background.

        Raises:
            ValueError: as :meth:`matte` for the image and trimap.
        """
        image = grey_to_rgb(image)
        _, working, is_float, tri = _validate(image, trimap, self._bounded)
        if self.carries_background:
            working, layout = self._restored(working)
            stacked = self._as_stacked(image, working, is_float, layout)
            with self._lock:
                self._background.show(float(frame), stacked, tri)

    def holds_background(self, frame: float) -> bool:
        """Whether the background this session carries holds ``frame``'s (shown with
        :meth:`show_background`, or solved), so showing it again would add nothing."""
        with self._lock:
            return self.carries_background and self._background.holds(float(frame))

    def export_background(self, frame: float) -> dict | None:
        """What solving ``frame`` (one of the last few) added to the background this
        session carries, as arrays ready for ``np.savez``; None when it added nothing (a
        preset that carries none, a given plate). With :meth:`import_background`, a run
        interrupted after ``frame`` resumes with the background it had."""
        with self._lock:
            return self._background.record(float(frame)) if self.carries_background else None

    def import_background(self, frame: float, record: dict) -> bool:
        """Add an :meth:`export_background` record of ``frame`` to the carried background,
        as if this session had solved it. Only when this session was shown ``frame``
        (:meth:`show_background`) with the image and trimap the record was made from;
        returns whether it was added."""
        if not self.carries_background:
            return False
        with self._lock:
            return self._background.add_record(float(frame), record)

    def reset(self) -> None:
        """Forget every solved frame: the next frame starts cold."""
        with self._lock:
            self._warm.clear()
            self._background.clear()
            self._last = None

    def matte(self, frame: float, image: np.ndarray, trimap: np.ndarray,
              progress: ProgressCallback | None = None,
              should_stop: Callable[[], bool] | None = None,
              clean_plate: np.ndarray | None = None) -> MatteResult:
        """Solve one frame. See :func:`ofx_dipmatte.matte` for inputs and outputs.

        Args:
            frame: the frame's time (int or float), used to find the nearest solved frame.
            should_stop: polled while there are no iterations to report (during the
                closed-form prior); True cancels with :class:`Cancelled`, as ``progress``
                returning False does during the optimisation.

        The inputs of the frame solved last, given again (at any ``frame``), return its
        result again (copies) with ``stats.repeat_of`` set to it (unless the session was
        made with ``repeats=False``).
        """
        start = time.perf_counter()
        if not self._repeats:
            return self._matte_new(frame, image, trimap, progress, should_stop, clean_plate, start)
        given = digest(image, trimap, clean_plate)
        with self._lock:
            last = self._last
        if last is not None and last.given == given:
            return last.again(time.perf_counter() - start)
        result = self._matte_new(frame, image, trimap, progress, should_stop, clean_plate, start)
        with self._lock:
            self._last = _LastSolved(given, float(frame), _copied(result))
        return result

    def _matte_new(self, frame: float, image: np.ndarray, trimap: np.ndarray, progress: ProgressCallback | None,
                   should_stop: Callable[[], bool] | None, clean_plate: np.ndarray | None,
                   start: float) -> MatteResult:
        """:meth:`matte` for inputs not solved just before."""
        image = grey_to_rgb(image)
        caller_rgb, working, is_float, tri = _validate(image, trimap, self._bounded)
        plate = None if clean_plate is None else prepare_clean_plate(clean_plate, tri.shape, is_float,
                                                                     self._bounded)
        stats = MatteStats(device="cpu" if self._device is None else str(self._device))
        unknown = tri == 0.5
        if not unknown.any():
            stats.seconds = time.perf_counter() - start
            result = MatteResult(tri.copy(), caller_rgb.copy(), caller_rgb.copy(), stats)
            if clean_plate is None and self.carries_background:
                with self._lock:  # its known background serves the next frames all the same
                    self._background.add(float(frame), np.asarray(image), tri, result.alpha, result.foreground)
            return result
        working, layout = self._restored(working)
        if layout is not None:
            stats.chroma_restored = layout.name
        soft = between_levels_share(trimap)
        if soft > SOFT_MATTE_SHARE:
            stats.warnings.append(
                f"trimap: {soft:.0%} of its unknown pixels lie between its levels, as a soft matte's do; a "
                "trimap is 0 (background), 0.5 (unknown), 1 (foreground). Give a soft matte as a rough matte "
                "(the CLI's --rough-matte, the plugin's rough-matte trimap source): a band is opened around its edge")
        if not (tri == 1.0).any():
            stats.warnings.append("trimap has no known foreground: F is constrained only by the compositing equation")
        if not (tri == 0.0).any() and plate is None:
            stats.warnings.append("trimap has no known background: B is constrained only by the compositing equation")
        if plate is not None:
            if self.config.alpha_prior != "refined":
                stats.warnings.append(f"clean plate: ignored by preset {self.config.name!r}; presets that refine "
                                      "the matte from colour estimates (balanced, draft) use it")
                plate = None
            else:
                plate = (match_to_image(plate[0], working, (tri == 0.0) & plate[1]), plate[1])
        carry = clean_plate is None and self.carries_background
        stacked = self._as_stacked(image, working, is_float, layout) if carry else None
        with self._lock, single_threaded_blas():
            if stacked is None:
                return self._solve(float(frame), caller_rgb, working, is_float, tri, stats, start, progress,
                                   should_stop, plate)
            # The carried plate is taken, then the frame's known background stacked, on a
            # thread of their own (in that order: the solve reads the plate, never the
            # stack), beside the solve's first steps and then its tiles: frame-sized passes
            # that took 0.35 s before a warm 1080p frame's solve and 0.3 s after it.
            with ThreadPoolExecutor(1, thread_name_prefix="ofx_dipmatte-stack") as side:
                carried = side.submit(self._carried_plate, float(frame), stacked, tri, working, is_float, stats)

                def stack_known() -> MatchedFrame | None:
                    carried.result()  # raises if taking the plate failed: nothing is stacked then
                    return self._background.begin_add(float(frame), stacked, tri)

                begun = side.submit(stack_known)
                result = self._solve(float(frame), caller_rgb, working, is_float, tri, stats, start, progress,
                                     should_stop, carried)
                matched = begun.result()
            if matched is not None:
                self._background.finish_add(float(frame), matched, result.alpha, result.foreground)
            return result

    def _restored(self, working: np.ndarray):
        """``working`` with full chroma predicted from its luma where it arrived subsampled
        (``Preset.restore_chroma``), and the layout found (None: full chroma, unchanged)."""
        layout = detect_subsampling(working) if self.config.restore_chroma else None
        return (working if layout is None else restore_chroma(working, layout)), layout

    def _as_stacked(self, image: np.ndarray, working: np.ndarray, is_float: bool, layout) -> np.ndarray:
        """The frame as the carried background holds it, shown or solved alike (so its
        digest is the same both times): as it was solved, with its chroma restored, in the
        caller's kind (16 bits for integer frames; a knee-encoded float frame as given)."""
        if layout is None or (is_float and self._bounded):
            return np.asarray(image)
        return working if is_float else np.round(np.clip(working, 0.0, 1.0) * 65535).astype(np.uint16)

    def _carried_plate(self, frame: float, image: np.ndarray, tri: np.ndarray, working: np.ndarray,
                       is_float: bool, stats: MatteStats) -> "tuple[np.ndarray, np.ndarray] | None":
        """The background earlier frames showed (:mod:`.carried_background`) as this frame's
        clean plate, matched to its exposure, and where it covers; None without one."""
        self._background.check_inputs(frame, image, tri)
        rgba, note = self._background.plate_for(frame, image, tri)
        if note is not None:
            stats.warnings.append(note)
        if rgba is None:
            return None
        colour, covers = prepare_clean_plate(rgba, tri.shape, is_float, self._bounded)
        colour = match_to_image(colour, working, (tri == 0.0) & covers)
        covers = drop_changed(colour, covers, working, (tri == 0.0) & self._background.shown_for(frame))
        if not (covers & (tri == 0.5)).any():
            return None  # nothing behind this frame's band (e.g. only its own background is stacked)
        stats.background_frames = self._background.frames
        return colour, covers

    def _solve(self, frame: float, *args) -> MatteResult:
        """The frame solved (:meth:`.frame_solve.FrameSolver.solve`, the same arguments), then
        the nets kept for warm starts pruned around it."""
        result = self._frames.solve(frame, *args)
        self._warm.forget_far(frame)
        return result

    @property
    def _bounded(self) -> bool:
        """Whether float images go through the knee into [0, 1) (:attr:`.frame_solve.FrameSolver.bounded`)."""
        return self._frames.bounded


def _copied(result: MatteResult) -> MatteResult:
    """``result`` with arrays of its own (a caller may write to the ones it was given)."""
    return MatteResult(result.alpha.copy(), result.foreground.copy(), result.background.copy(),
                       replace(result.stats, losses=dict(result.stats.losses), warnings=list(result.stats.warnings)))


@dataclass(frozen=True)
class _LastSolved:
    """The frame a session solved last: a digest of its inputs, its time and its result."""

    given: str
    frame: float
    result: MatteResult

    def again(self, seconds: float) -> MatteResult:
        """The result once more, for a repeat of its inputs: copies, with the call's time."""
        repeated = _copied(self.result)
        repeated.stats.seconds = seconds
        repeated.stats.repeat_of = self.frame
        return repeated


def matte(image: np.ndarray, trimap: np.ndarray, preset: "str | Preset" = "balanced",
          device: "str | torch.device" = "auto", seed: int = 0,
          progress: ProgressCallback | None = None, clean_plate: np.ndarray | None = None) -> MatteResult:
    """Extract alpha, foreground and background from one image and its trimap.

    Args:
        image: H×W×3 or H×W×4 (alpha ignored), or grey H×W (its grey in every colour
            channel). uint8 / uint16 are display-referred
            0–1 after scaling. Float is taken as scene-linear and may exceed 1. Presets
            that fit no network (``balanced``) solve it as it is; the DIP presets map values
            above 0.8 through a smooth knee into [0.8, 1) for the networks
            (:mod:`ofx_dipmatte.encoding`), and the foreground and background come back
            through its exact inverse. Either way they return in the caller's encoding.
        trimap: H×W (or H×W×C, first channel): 0 background, 0.5 unknown, 1 foreground
            as float, or 0 / 128 / 255 as uint8 (0 / 32768 / 65535 as uint16). Values within
            0.02 of 0 or 1 snap to it, everything else is unknown.
        preset: "balanced" (default), "draft", "dip", "paper", or a :class:`Preset`.
        device: "auto" (CUDA when available), "cpu" or "cuda".
        seed: seeds weights and noise: same seed and input, same result on CPU.
        progress: called as ``progress(iteration, total, losses)`` after every step;
            returning False cancels the solve with :class:`Cancelled`.
        clean_plate: the background without the subject (same size and kind as
            ``image``: both integer or both float), e.g. a frame shot before the subject
            walked in. B is then known in the band instead of estimated: alpha follows
            each pixel's colour against it (about half the error, docs/benchmarks.md).
            Matched to the image's exposure on the known background (pixels far apart, a
            sparkle or a firefly, left out of the match). RGBA: its alpha says
            where it shows the background (at least 0.5); elsewhere B is estimated. Used by
            presets that refine the matte from colours (``balanced``); others note it in
            ``stats.warnings``.

    Returns:
        :class:`MatteResult` with ``alpha``, ``foreground``, ``background``, ``stats``.
        A trimap with no unknown pixels is returned as alpha without solving
        (``stats.stop_reason == "no_unknown"``). A trimap with no foreground (or no
        background) is solved all the same, with a note in ``stats.warnings``: F (or B)
        is then held only by the compositing equation.

    Raises:
        ValueError: empty image, wrong shapes or dtypes, image/trimap size mismatch,
            NaN or Inf values, unknown preset or device; a clean plate of another size or kind.
        Cancelled: ``progress`` returned False.

    Example:
        >>> import numpy as np, ofx_dipmatte
        >>> image = np.random.rand(64, 64, 3).astype(np.float32)
        >>> trimap = np.zeros((64, 64), np.float32); trimap[16:48, 16:48] = 0.5; trimap[24:40, 24:40] = 1
        >>> res = ofx_dipmatte.matte(image, trimap, preset="draft")
        >>> res.alpha.shape, res.foreground.shape
        ((64, 64), (64, 64, 3))
    """
    # One frame: no later frame to carry its background to (stacking it took 0.4 s at 1080p),
    # nor to repeat its inputs.
    config = resolve_preset(preset).replace(carry_background=False)
    return ClipSession(preset=config, device=device, seed=seed, repeats=False).matte(0, image, trimap, progress,
                                                                                     clean_plate=clean_plate)
