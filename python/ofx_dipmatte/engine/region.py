"""Where to solve: the unknown band's bounding box plus context, on a padded canvas.

The U-Nets need sizes that are multiples of ``2 ** levels`` (times ``fb_scale`` for the
low-resolution F/B nets). The frame is padded (reflected) up to such a multiple — the
canvas — and the solve runs on a window of the canvas around the unknown band.
Pixels outside the window are known, and come straight from the trimap and image.
:class:`Padded` holds the frame padded once for every window to slice from;
:func:`assemble` pastes a window's solution back into full frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..encoding import decode
from .laplacian import EPS
from .results import FitResult


@dataclass(frozen=True)
class Window:
    """A solve window in canvas coordinates: rows y0:y0+height, columns x0:x0+width."""

    y0: int
    x0: int
    height: int
    width: int
    #: The grid cell a tile window was made for (:func:`.tiles.band_windows`); None for
    #: a frame's one window. Warm starts pair a tile with the same cell's last solve.
    cell: tuple[int, int] | None = None

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y0 + self.height), slice(self.x0, self.x0 + self.width)


def round_up(value: int, unit: int) -> int:
    return -(-value // unit) * unit


def canvas_shape(height: int, width: int, unit: int) -> tuple[int, int]:
    """The padded frame size: each side rounded up to a multiple of ``unit``, and at
    least ``2 * unit`` so that the deepest level keeps 2×2 pixels (BatchNorm needs more
    than one value per channel)."""
    return max(round_up(height, unit), 2 * unit), max(round_up(width, unit), 2 * unit)


def pad_to_canvas(array: np.ndarray, canvas: tuple[int, int],
                  mode: Literal["reflect", "constant", "symmetric", "edge"]) -> np.ndarray:
    """Pad an H×W(×C) array at the bottom/right to the canvas size."""
    pad_h = canvas[0] - array.shape[0]
    pad_w = canvas[1] - array.shape[1]
    pads = [(0, pad_h), (0, pad_w)] + [(0, 0)] * (array.ndim - 2)
    if mode == "reflect" and (pad_h >= array.shape[0] or pad_w >= array.shape[1]):
        mode = "symmetric" if pad_h <= array.shape[0] and pad_w <= array.shape[1] else "edge"
    return np.pad(array, pads, mode=mode)


def _axis_window(lo: int, hi: int, margin: int, size_unit: int, origin_unit: int, limit: int,
                 at_least: int = 0) -> tuple[int, int]:
    lo = max(lo - margin, 0) // origin_unit * origin_unit
    hi = min(hi + margin, limit)
    size = min(max(round_up(hi - lo, size_unit), 2 * size_unit, at_least), limit)
    lo = min(lo, limit - size)
    return lo, size


def box_window(y0: int, y1: int, x0: int, x1: int, canvas: tuple[int, int], margin: int, size_unit: int,
               origin_unit: int, at_least: int = 0) -> Window:
    """The box rows y0:y1, columns x0:x1 grown by ``margin`` pixels, its origin on a
    multiple of ``origin_unit`` and its size a multiple of ``size_unit`` (at least two
    units, see :func:`canvas_shape`, and at least ``at_least``, a multiple of
    ``size_unit``, where the canvas is that large), inside the canvas (whose sides are
    multiples of ``size_unit``)."""
    wy0, h = _axis_window(y0, y1, margin, size_unit, origin_unit, canvas[0], at_least)
    wx0, w = _axis_window(x0, x1, margin, size_unit, origin_unit, canvas[1], at_least)
    return Window(wy0, wx0, h, w)


def holds(window: Window, y0: int, y1: int, x0: int, x1: int, context: int, canvas: tuple[int, int]) -> bool:
    """Whether ``window`` holds the box rows y0:y1, columns x0:x1 with ``context`` pixels
    around it (as far as the canvas reaches)."""
    return (window.y0 <= max(y0 - context, 0) and window.x0 <= max(x0 - context, 0)
            and window.y0 + window.height >= min(y1 + context, canvas[0])
            and window.x0 + window.width >= min(x1 + context, canvas[1]))


def keep_or_box(previous: Window | None, y0: int, y1: int, x0: int, x1: int, canvas: tuple[int, int],
                margin: int, size_unit: int, origin_unit: int, at_least: int = 0) -> Window:
    """``previous`` (the window the nets were last fitted on) while it still holds the box
    with half the margin around it, else :func:`box_window`. The U-Nets are not shift
    invariant (their strided levels see a window moved by a few pixels on another
    phase), so warm-started nets on a moved window must refit much of what they knew:
    on a moving 720p plate, the tiles whose window followed the band by 4 px ran to
    the warm cap (30 steps), the others stopped after 5."""
    if (previous is not None and previous.y0 + previous.height <= canvas[0]
            and previous.x0 + previous.width <= canvas[1] and holds(previous, y0, y1, x0, x1, margin // 2, canvas)):
        return previous
    return box_window(y0, y1, x0, x1, canvas, margin, size_unit, origin_unit, at_least)


def grown(box: Window, reach: int, shape: tuple[int, ...]) -> Window:
    """``box`` grown by ``reach`` pixels each way, within a frame of ``shape`` (H×W…)."""
    y0, x0 = max(box.y0 - reach, 0), max(box.x0 - reach, 0)
    return Window(y0, x0, min(box.y0 + box.height + reach, shape[0]) - y0,
                  min(box.x0 + box.width + reach, shape[1]) - x0)


def inside(box: Window, outer: Window) -> tuple[slice, slice]:
    """Where ``box`` lies in an array covering ``outer`` (which holds it)."""
    return (slice(box.y0 - outer.y0, box.y0 - outer.y0 + box.height),
            slice(box.x0 - outer.x0, box.x0 - outer.x0 + box.width))


def embedded(part: np.ndarray, box: Window, outer: Window) -> np.ndarray:
    """``part`` (covering ``box``) placed in zeros covering ``outer`` (which holds it)."""
    whole = np.zeros((outer.height, outer.width) + part.shape[2:], part.dtype)
    whole[inside(box, outer)] = part
    return whole


def reach_box(mask: np.ndarray, reach: int) -> tuple[slice, slice] | None:
    """The bounding box of ``mask`` (H×W bool) grown by ``reach`` pixels, within the
    frame, as slices (None: an empty mask). A filter of at most that reach, run on the
    crop, equals the whole frame's on ``mask``: every pixel it reads lies inside, and the
    crop's edges are the frame's or out of reach."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return (slice(max(int(rows[0]) - reach, 0), int(rows[-1]) + reach + 1),
            slice(max(int(cols[0]) - reach, 0), int(cols[-1]) + reach + 1))


def solve_window(unknown: np.ndarray, canvas: tuple[int, int], margin: int, size_unit: int, origin_unit: int,
                 previous: Window | None = None) -> Window:
    """:func:`keep_or_box` of the bounding box of ``unknown`` (H×W bool, frame-sized)."""
    rows = np.flatnonzero(unknown.any(axis=1))
    cols = np.flatnonzero(unknown.any(axis=0))
    return keep_or_box(previous, int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1, canvas, margin,
                       size_unit, origin_unit)


@dataclass(frozen=True)
class Padded:
    """The frame padded to the canvas once, for every window to slice from."""

    image: np.ndarray  # working encoding, mirrored padding: what the nets see
    trimap: np.ndarray  # padding is known background
    trimap_mirrored: np.ndarray  # mirrored padding: constraints for the classical prior
    valid: np.ndarray  # True inside the frame itself, False on the padding
    clean_plate: np.ndarray | None = None  # the known background, matched to ``classical``
    plate_covers: np.ndarray | None = None  # where the clean plate holds the background
    # What the classical matte is solved on: the caller's values at the solve's level
    # (:mod:`.exposure`), never through the nets' knee; None: ``image`` (a preset without nets).
    classical_image: np.ndarray | None = None
    # The matting Laplacian's ε for ``classical`` (:func:`.exposure.laplacian_eps`).
    laplacian_eps: float = EPS

    @property
    def classical(self) -> np.ndarray:
        """The frame the classical matte and the colour estimates read."""
        return self.image if self.classical_image is None else self.classical_image


def assemble(caller_rgb: np.ndarray, tri: np.ndarray, window: Window, result: FitResult,
             knee: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paste the window's solution into full frames; known pixels stay exact. ``knee``: the
    colours were solved in the knee's encoding (float images, networks) and go back
    through its inverse; otherwise they are in the caller's values already."""
    h, w = tri.shape
    rows = slice(window.y0, min(window.y0 + window.height, h))
    cols = slice(window.x0, min(window.x0 + window.width, w))
    crop_h, crop_w = rows.stop - rows.start, cols.stop - cols.start

    # Masked copies (np.copyto) rather than boolean gathers and scatters: the same values,
    # a quarter of the time on a 1080p frame.
    alpha = tri.copy()
    np.copyto(alpha[rows, cols], np.clip(result.alpha[:crop_h, :crop_w], 0.0, 1.0), where=tri[rows, cols] == 0.5)

    def paste(solved: np.ndarray, keep: np.ndarray) -> np.ndarray:
        out = caller_rgb.astype(np.float32)  # a copy: the caller's frame is not written to
        solved = solved[:crop_h, :crop_w]
        solved = decode(solved) if knee else np.maximum(solved, 0.0)
        np.copyto(out[rows, cols], solved, where=~keep[rows, cols, None])
        return out

    return alpha, paste(result.fg, tri == 1.0), paste(result.bg, tri == 0.0)
