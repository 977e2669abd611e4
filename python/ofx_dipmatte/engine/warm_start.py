"""The fitted nets a clip keeps so that its next frames warm-start (the paper's video mode).

For each solved frame, and each of its windows (tiles; cell None: a frame's one window),
the nets' weights, Adam's moments and the window they were fitted on. A frame warm-starts
each window from the same cell of the solved frame nearest in time, so frames asked for
out of order warm-start too. Each cell's first (cold) loss is kept as well: a warm
window stops at a fraction of it, because a loss depends on what the window holds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from .region import Window

#: What one window's fit leaves: (weights, Adam state, (y0, x0, height, width) of its window).
SavedFit = tuple


class WarmStarts:
    """The nets of at most ``max_frames`` solved frames, the ones nearest the latest
    frame solved (memory stays bounded on long clips). Thread-safe: tiles solving on
    threads remember their nets while others look theirs up."""

    def __init__(self, max_frames: int):
        if max_frames < 1:
            raise ValueError("max_states: must be at least 1")
        self.max_frames = max_frames
        self._fits: OrderedDict[float, dict] = OrderedDict()  # frame → {cell → SavedFit}
        self._cold_loss: dict = {}  # cell → the loss its first (cold) solve ended at
        self._lock = threading.Lock()

    @property
    def frames(self) -> list[float]:
        """The solved frames kept, oldest first."""
        with self._lock:
            return list(self._fits)

    def clear(self) -> None:
        with self._lock:
            self._fits.clear()
            self._cold_loss = {}

    def nearest(self, frame: float, cell) -> tuple[float | None, SavedFit | None]:
        """The solved frame nearest ``frame`` that kept nets for ``cell``, and those nets;
        (None, None): nothing to warm-start from."""
        return self._nearest_fits(frame).get(cell, (None, None))

    def fitted_windows(self, frame: float) -> dict:
        """Cell → the window its nets were fitted on in the frame it would warm-start from
        (nets saved before windows were kept have none)."""
        windows = {}
        for cell, (_, saved) in self._nearest_fits(frame).items():
            if len(saved) > 2:
                y0, x0, height, width = saved[2]
                windows[cell] = Window(y0, x0, height, width, cell=cell)
        return windows

    def cold_loss(self, cell) -> float:
        """The loss ``cell``'s cold solve ended at."""
        with self._lock:
            return self._cold_loss[cell]

    def remember(self, frame: float, cell, fit: SavedFit, cold_loss: float | None = None) -> None:
        """Keep a window's fit; ``cold_loss``: its final loss, when it started cold (the
        first one a cell gets is kept)."""
        with self._lock:
            if cold_loss is not None:
                self._cold_loss.setdefault(cell, cold_loss)
            self._fits.setdefault(frame, {})[cell] = fit
            self._fits.move_to_end(frame)

    def forget_far(self, frame: float) -> None:
        """Keep the ``max_frames`` solved frames nearest ``frame``. Called once a frame is
        done: its later tiles still warm-start from the frame its first ones did."""
        with self._lock:
            while len(self._fits) > self.max_frames:
                del self._fits[max(self._fits, key=lambda f: abs(f - frame))]

    def export(self, frame: float) -> dict:
        """``frame``'s fits and the cold losses, as plain objects (see :meth:`adopt`).

        Raises:
            KeyError: ``frame`` was not solved, or its nets were dropped.
        """
        with self._lock:
            return {"windows": dict(self._fits[frame]), "cold_loss": dict(self._cold_loss)}

    def adopt(self, frame: float, windows: dict, cold_loss: dict) -> None:
        """Take an :meth:`export` of ``frame`` (e.g. from an interrupted run) as if that
        frame had been solved here; cold losses already known stay."""
        with self._lock:
            self._cold_loss = {**cold_loss, **self._cold_loss}
        for cell, fit in windows.items():
            self.remember(frame, cell, fit)
        self.forget_far(frame)

    def _nearest_fits(self, frame: float) -> dict:
        """Cell → (the solved frame nearest ``frame`` that kept a fit for it, that fit)."""
        nearest: dict = {}
        with self._lock:
            for solved in sorted(self._fits, key=lambda f: (abs(f - frame), f), reverse=True):
                nearest.update((cell, (solved, fit)) for cell, fit in self._fits[solved].items())
        return nearest
