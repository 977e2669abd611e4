"""Solve windows that follow the unknown band, and the weights that blend them.

On a plate the unknown band is a ribbon around the subject while its bounding box covers
most of the frame. A grid of ``cell``-sized cells is laid over the frame; every cell the
band touches gets a window: the bounding box of its unknown pixels plus ``margin`` pixels
of context. Cost and memory then follow the band: cells inside the subject or in the
clear background are never solved, and no window is larger than a cell plus its margin.

Neighbouring windows overlap by about twice the margin. Near its edge a window's solve
sees less context, so each window's pixels count with a weight that ramps from near 0
at an edge it shares with the rest of the frame up to 1 at ``margin`` pixels inside;
every pixel's value is the weighted mean of the windows covering it, and no seam shows.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .region import Window, keep_or_box


def band_windows(unknown: np.ndarray, canvas: tuple[int, int], cell: int, margin: int, size_unit: int,
                 origin_unit: int, previous: dict[tuple[int, int], Window] | None = None) -> list[Window]:
    """One window per ``cell``×``cell`` cell of the frame that holds unknown pixels, in
    row-major order, each holding its cell's (row, column) (see the module's docstring).
    ``previous``: cell → the window its nets were last fitted on, kept while it still
    fits (:func:`.region.keep_or_box`)."""
    previous = previous or {}
    h, w = unknown.shape
    windows = []
    rows_any = [unknown[y:y + cell].any(axis=0) for y in range(0, h, cell)]
    for i, y in enumerate(range(0, h, cell)):
        if not rows_any[i].any():
            continue
        for x in range(0, w, cell):
            part = unknown[y:y + cell, x:x + cell]
            if not rows_any[i][x:x + cell].any():
                continue
            rows = np.flatnonzero(part.any(axis=1))
            cols = np.flatnonzero(part.any(axis=0))
            key = (y // cell, x // cell)
            window = keep_or_box(previous.get(key), y + int(rows[0]), y + int(rows[-1]) + 1, x + int(cols[0]),
                                 x + int(cols[-1]) + 1, canvas, margin, size_unit, origin_unit)
            windows.append(dataclasses.replace(window, cell=key))
    return windows


def union_window(windows: list[Window]) -> Window:
    """The smallest window holding all of ``windows``."""
    y0 = min(w.y0 for w in windows)
    x0 = min(w.x0 for w in windows)
    y1 = max(w.y0 + w.height for w in windows)
    x1 = max(w.x0 + w.width for w in windows)
    return Window(y0, x0, y1 - y0, x1 - x0)


def blend_weight(window: Window, canvas: tuple[int, int], ramp: int) -> np.ndarray:
    """height×width float32 weights: a linear ramp over ``ramp`` pixels at each edge of
    the window that lies inside the canvas, 1 elsewhere (an edge on the canvas border
    has no neighbour to hand over to)."""
    def axis(start: int, size: int, limit: int) -> np.ndarray:
        pos = np.arange(size, dtype=np.float32)
        weight = np.ones(size, np.float32)
        if ramp > 0:
            if start > 0:
                weight = np.minimum(weight, (pos + 1) / (ramp + 1))
            if start + size < limit:
                weight = np.minimum(weight, (size - pos) / (ramp + 1))
        return weight

    return np.outer(axis(window.y0, window.height, canvas[0]), axis(window.x0, window.width, canvas[1]))


def edge_anchor(window: Window, canvas: tuple[int, int], guide: np.ndarray, width: int,
                strength: float) -> tuple[np.ndarray, np.ndarray]:
    """A data term (confidence, estimate) on ``window``: ``guide`` (the window's crop of a
    matte of the whole band) held with ``strength`` on the ``width`` pixels along each edge
    shared with the rest of the frame. It hands each tile the boundary values the whole
    solve would have, so a tile whose unknown pixels see only one known region (a strip
    of background beside the hair) still gets the alpha the subject's side implies."""
    ring = blend_weight(window, canvas, width) < 1.0
    return (strength * ring).astype(np.float32), guide.astype(np.float32)
