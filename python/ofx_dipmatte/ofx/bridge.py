"""What the OFX plugin calls: one :class:`InstanceSession` per plugin instance.

The C++ shim hands over packed, top-down numpy views of the host's buffers (uint8,
uint16 or float32, as the host gave them) and the parameters read at the render's
time; this module turns them into an engine call and formats the output image.
Nothing here knows about OFX structs.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time as clock
import traceback
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..engine import Cancelled, ClipSession, MatteResult
from ..engine.digest import digest
from ..engine.presets import Preset, with_limits
from ..engine.results import about_inputs
from ..trimap import matte_channel, snap_trimap, to_unit_float, trimap_from_rough_matte

OUTPUT_MODES = ("premultiplied", "straight", "alpha", "background", "trimap")
TRIMAP_SOURCES = ("trimap", "source_alpha", "source_alpha_rough")
DTYPES: dict[str, type] = {"uint8": np.uint8, "uint16": np.uint16, "float32": np.float32}


@dataclass(frozen=True)
class RenderParams:
    """The plugin's parameters at one time (see ofx_shim/plugin.cpp for their UI)."""

    preset: str = "balanced"
    max_iterations: int = 0        # 0: the preset's cap
    loss_threshold: float = 0.0    # 0: the preset's rule
    seed: int = 0
    device: str = "auto"
    trimap_source: str = "trimap"
    band: float = 10.0             # pixels at full resolution
    render_scale: float = 1.0
    output_mode: str = "premultiplied"
    source_premultiplied: bool = False  # the host premultiplied the Source's colour by its alpha
    independent_frames: bool = False  # no background carried from frame to frame (farm chunks)
    keep_smooth_mattes: bool = True  # closed-form's matte kept where it is smooth (smoke, veils)
    show_only: bool = False  # a frame near the one rendered next: only its known background is shown

    @classmethod
    def from_dict(cls, values: dict) -> "RenderParams":
        params = cls(**values)
        if params.output_mode not in OUTPUT_MODES:
            raise ValueError(f"unknown output mode {params.output_mode!r}")
        if params.trimap_source not in TRIMAP_SOURCES:
            raise ValueError(f"unknown trimap source {params.trimap_source!r}")
        return params

    def solver_preset(self) -> Preset:
        """The engine preset with the iteration cap, threshold, independent frames and kept
        smooth mattes applied."""
        preset = with_limits(self.preset, self.max_iterations, self.loss_threshold)
        preset = preset.replace(keep_smooth_mattes=self.keep_smooth_mattes)
        return preset.replace(carry_background=False) if self.independent_frames else preset


def trimap_for(source: np.ndarray, guide: Optional[np.ndarray], params: RenderParams) -> np.ndarray:
    """The trimap (float32 H×W) from the Trimap input or the Source alpha, per ``params``."""
    if params.trimap_source == "trimap":
        if guide is None:
            raise ValueError("the Trimap input is not connected: connect a trimap (0 background, 1 foreground, "
                             "grey unknown) or set 'Trimap source' to 'Source alpha'")
        trimap = matte_channel(guide, guide[..., 3] if guide.shape[2] == 4 else None)
        if not np.any(trimap):
            raise ValueError("the Trimap input is black everywhere, so it has no foreground or unknown pixels. "
                             "Some hosts (DaVinci Resolve) report an unplugged input as connected and black: "
                             "connect a trimap, or turn off 'Use Trimap input' to read the Source alpha")
        return to_unit_float(trimap, "Trimap input")
    if source.shape[2] < 4:
        raise ValueError("the Source has no alpha channel to read the trimap from: give it an RGBA image, "
                         "or use the general context's Trimap input")
    alpha = to_unit_float(source[..., 3], "Source alpha")
    if params.trimap_source == "source_alpha_rough":
        return trimap_from_rough_matte(alpha, band=params.band * params.render_scale)
    return alpha


def source_colour(source: np.ndarray, params: RenderParams) -> np.ndarray:
    """The plate's straight colour (H×W×3) from the Source.

    When the Source alpha carries the trimap and the host premultiplied the colour by it
    (Natron does for RGBA PNGs read as premultiplied), the colour is divided back; the
    background (alpha 0) is then black and lost, which no matte can survive: that is an
    error that says how to give the plate unpremultiplied.
    """
    colour = source[..., :3]
    if not (params.source_premultiplied and params.trimap_source != "trimap" and source.shape[2] == 4):
        return colour
    top = 1.0 if source.dtype == np.float32 else float(np.iinfo(source.dtype).max)
    alpha = source[..., 3:4].astype(np.float32) / top
    if not np.any(colour[alpha[..., 0] <= 0.0]) and np.any(alpha[..., 0] <= 0.0):
        raise ValueError("the host gives the Source premultiplied by its alpha, which is the trimap here, so the "
                         "background is black and cannot be matted: give the plugin the plate unpremultiplied "
                         "(e.g. the Read node's output premultiplication set to Unpremultiplied, or an Unpremult "
                         "node before this one), or connect the trimap to the Trimap input instead")
    straight = np.where(alpha > 0.0, colour.astype(np.float32) / np.maximum(alpha, 1e-6), colour)
    if source.dtype == np.float32:
        return straight.astype(np.float32)
    return np.round(np.clip(straight, 0, top)).astype(source.dtype)


def format_output(result: MatteResult, mode: str, channels: int, dtype: str) -> np.ndarray:
    """The Output image for ``mode``: H×W×channels of ``dtype`` (RGB drops the alpha)."""
    alpha = result.alpha[..., None]
    if mode == "premultiplied":
        rgba = np.concatenate([result.foreground * alpha, alpha], axis=-1)
    elif mode == "straight":
        rgba = np.concatenate([result.foreground, alpha], axis=-1)
    elif mode == "alpha":
        rgba = np.repeat(alpha, 4, axis=-1)
    else:  # background
        rgba = np.concatenate([result.background, np.ones_like(alpha)], axis=-1)
    return to_dtype(rgba[..., :channels], dtype)


def trimap_view(trimap: np.ndarray, channels: int, dtype: str) -> np.ndarray:
    """The Output of the trimap view: the snapped trimap the solve would get, in grey, opaque."""
    snapped = snap_trimap(trimap)[..., None]
    rgba = np.concatenate([np.repeat(snapped, 3, axis=-1), np.ones_like(snapped)], axis=-1)
    return to_dtype(rgba[..., :channels], dtype)


def to_dtype(values: np.ndarray, dtype: str) -> np.ndarray:
    """Float values to the host's depth: integers are clamped to 0–1 and rounded."""
    target = DTYPES[dtype]
    if target is np.float32:
        return np.ascontiguousarray(values, dtype=np.float32)
    top = np.iinfo(target).max  # type: ignore[type-var]  # an integer type: float32 returned above
    return np.ascontiguousarray(np.round(np.clip(values, 0.0, 1.0) * top).astype(target))


def plate_like_source(plate: np.ndarray, source: np.ndarray) -> np.ndarray:
    """The CleanPlate input in the Source's kind: a host may hand the two at different
    depths, and the engine takes both integer or both float. Its alpha is kept: it says
    where the plate holds the background (a plate stacked from a shot, `ofx-dipmatte
    clean-plate`, has holes, alpha 0 and black there), unless it is 0 everywhere (a host
    handing an RGB plate with an empty alpha): then the colour alone (H×W×3)."""
    has_alpha = plate.shape[-1] == 4 and bool(np.any(plate[..., 3]))
    colour = plate if has_alpha else plate[..., :3]
    if (colour.dtype == np.float32) == (source.dtype == np.float32):
        return colour
    unit = to_unit_float(colour, "CleanPlate input")
    if source.dtype == np.float32:
        return unit.astype(np.float32)
    return np.round(np.clip(unit, 0.0, 1.0) * 65535).astype(np.uint16)


class InstanceSession:
    """The engine state of one plugin instance: a :class:`ClipSession` (warm starts) and
    a bounded cache of solved frames, so a frame asked for again with the same input and
    parameters comes back at once.

    The cache is keyed by what was solved, not by the time it was asked for: a frame a
    timeline holds or repeats (melt's image producer with ``ttl=2`` shows each picture
    twice; a freeze frame) is solved once and every showing gets its matte. Solved again,
    it would meet a carried background holding its own first solve: melt's dev clip at two
    frames a picture (``ttl=2``) changed alpha between a picture and its repeat by up to
    0.33 that way (docs/benchmarks.md, *Held frames*).

    Args:
        max_cached: most frames kept in the cache.
        max_cache_bytes: most bytes of results kept in the cache.
    """

    def __init__(self, max_cached: int = 8, max_cache_bytes: int = 1 << 30):
        self.max_cached = max_cached
        self.max_cache_bytes = max_cache_bytes
        self._clip: Optional[ClipSession] = None
        self._clip_key: Optional[tuple] = None
        self._cache: "OrderedDict[tuple, MatteResult]" = OrderedDict()
        # Frame time → digest of the host's pixels and the parameters it was last shown
        # with: a host hands every Background frame again at each render.
        self._shown: dict[float, str] = {}
        self._lock = threading.Lock()
        self.solves = 0  # frames actually solved (cache misses), for tests and status
        self.warning = ""  # what the last render has to tell the artist (:func:`artist_warning`)

    def purge(self) -> None:
        """Drop cached results (the host is short of memory); warm-start weights stay."""
        with self._lock:
            self._cache.clear()

    def render(self, time: float, source: np.ndarray, guide: Optional[np.ndarray], params: dict,
               progress: Callable[[float], bool], width: int, height: int, channels: int,
               dtype: str, clean_plate: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
        """Solve (or fetch) one frame and return the Output image, top-down, packed.
        ``clean_plate``: the CleanPlate input's pixels, or None when unconnected.
        With ``params["show_only"]`` the frame is one the plugin fetched beside the frame it
        renders next: it is only shown (:meth:`show`), and None comes back."""
        p = RenderParams.from_dict(params)
        if p.show_only:
            self.show(time, source, guide, p)
            return None
        source = np.array(source)  # own copies: the host's buffers die with the call
        guide = None if guide is None else np.array(guide)
        # Resolve reports an unplugged input as connected and black: no plate is black.
        plate = None if clean_plate is None or not np.any(clean_plate[..., :3]) else \
            plate_like_source(np.array(clean_plate), source)
        if source.shape[:2] != (height, width):
            raise ValueError(f"Output is {width}×{height} but the Source is {source.shape[1]}×{source.shape[0]}")
        trimap = trimap_for(source, guide, p)
        self.warning = ""
        if p.output_mode == "trimap":  # a check of what the solve would get: nothing to solve
            _log_render(self, time, source, p, True, 0.0)
            return trimap_view(trimap, channels, dtype)
        image = source_colour(source, p)
        with self._lock:
            clip = self._clip_for(p)
            cache_key = (digest(image, trimap, plate), self._clip_key)
            result = self._cache.get(cache_key)
            cached = result is not None
            started = clock.perf_counter()
            if result is None:
                reported = _HostProgress(progress)
                result = clip.matte(time, image, trimap, progress=reported, should_stop=reported.should_stop,
                                    clean_plate=plate)
                self.solves += 1
                self._remember(cache_key, result)
            else:
                self._cache.move_to_end(cache_key)
            _log_render(self, time, source, p, cached, clock.perf_counter() - started)
        self.warning = artist_warning(result.stats.warnings)
        return format_output(result, p.output_mode, channels, dtype)

    def show(self, time: float, source: np.ndarray, guide: Optional[np.ndarray], params: RenderParams) -> None:
        """Show the clip a frame the plugin fetched beside the one it renders next (the
        *Background frames* parameter): its known background serves the solves
        (:meth:`ClipSession.show_background`). Nothing for a preset that carries none."""
        if not params.solver_preset().carry_background:
            return
        started = clock.perf_counter()
        # Digest what the host handed over before converting it: converting and
        # validating cost two to four times as much (0.5 s against 0.15 s on a 4K float frame).
        inputs = digest(source, guide) + repr(params)
        with self._lock:
            clip = self._clip_for(params)
            if self._shown.get(float(time)) == inputs and clip.holds_background(time):
                _log_render(self, time, source, params, True, clock.perf_counter() - started)
                return
        source = np.array(source)
        trimap = trimap_for(source, None if guide is None else np.array(guide), params)
        image = source_colour(source, params)
        with self._lock:
            self._clip_for(params).show_background(time, image, trimap)
            self._shown[float(time)] = inputs
        _log_render(self, time, source, params, False, clock.perf_counter() - started)

    def _clip_for(self, params: RenderParams) -> ClipSession:
        """The clip session for these parameters: a new one (and no cached frames) when
        they call for other networks or noise, whose earlier weights do not apply."""
        preset = params.solver_preset()
        clip_key = (repr(preset), params.seed, params.device)
        clip = self._clip
        if clip is None or clip_key != self._clip_key:
            # Repeats come from the cache below, keyed by the same inputs: no second copy.
            clip = self._clip = ClipSession(preset=preset, device=params.device, seed=params.seed, repeats=False)
            self._clip_key = clip_key
            self._cache.clear()
            self._shown.clear()
        return clip

    def _remember(self, key: tuple, result: MatteResult) -> None:
        self._cache[key] = result
        size = lambda r: r.alpha.nbytes + r.foreground.nbytes + r.background.nbytes  # noqa: E731
        while len(self._cache) > self.max_cached or (
                len(self._cache) > 1 and sum(size(r) for r in self._cache.values()) > self.max_cache_bytes):
            self._cache.popitem(last=False)


LOG_VARIABLE = "OFX_DIPMATTE_LOG"


def _log_render(session: "InstanceSession", time: float, source: np.ndarray, params: RenderParams,
                cached: bool, seconds: float) -> None:
    """One JSON line per render (and per frame shown: ``show_only``) in $OFX_DIPMATTE_LOG: what a
    host asked for, for TDs and tests."""
    path = os.environ.get(LOG_VARIABLE)
    if not path:
        return
    line = {"pid": os.getpid(), "python": sys.version.split()[0], "session": id(session), "time": float(time), "shape": list(source.shape),
            "dtype": str(source.dtype), "cached": cached, "seconds": round(seconds, 3), **params.__dict__}
    with open(path, "a") as log:
        log.write(json.dumps(line) + "\n")


def artist_warning(warnings: list[str]) -> str:
    """The engine's warnings about a frame's inputs (:func:`~ofx_dipmatte.engine.results.about_inputs`)
    as one line for the host to show on the instance after a successful render; "" when
    there are none."""
    return "; ".join(about_inputs(warnings))


class _HostProgress:
    """The host's progress(fraction) → keep going?, as the engine's progress callback and
    its abort poll. A poll sends the fraction reached so far, so the host's bar never
    jumps back to 0 between reports."""

    def __init__(self, progress: Callable[[float], bool]):
        self.progress, self.fraction = progress, 0.0

    def __call__(self, iteration: int, total: Optional[int], losses: dict) -> bool:
        if total:
            self.fraction = max(self.fraction, min(1.0, iteration / total))
        return bool(self.progress(self.fraction))

    def should_stop(self) -> bool:
        return not self.progress(self.fraction)


def describe_error(error: BaseException) -> tuple[str, str]:
    """(kind, message for the artist) for an exception raised by :meth:`InstanceSession.render`.

    kind is "cancelled" (the host aborted), "memory", "input" (bad input or parameters:
    the message says what to change) or "error" (a bug or a broken install: the
    traceback goes to stderr and the message points to ``ofx-dipmatte doctor``).
    """
    if isinstance(error, Cancelled):
        return "cancelled", "ofx_dipmatte: render aborted by the host"
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return "memory", ("ofx_dipmatte: out of memory while solving this frame: use the Draft quality, "
                          "a lower render scale, or the CPU device")
    if isinstance(error, ValueError):
        return "input", f"ofx_dipmatte: {error}"
    traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    return "error", (f"ofx_dipmatte: {type(error).__name__}: {error}. Run `ofx-dipmatte doctor` "
                     "in a terminal to check the installation")
