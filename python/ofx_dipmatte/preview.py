"""Contact sheets: a picture of a frame's result that a supervisor reads at a glance.

A row is plate | trimap | alpha | foreground over a checkerboard, each scaled to the same
height; a shot's sheet stacks one row per frame. Float (scene-linear) plates are shown
through a plain 1/2.2 gamma, clipped: enough to judge edges, not a colour pipeline.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _display(rgb: np.ndarray) -> np.ndarray:
    """0–1 display values: integer images as they are, float through gamma 2.2."""
    if np.issubdtype(rgb.dtype, np.integer):
        return rgb.astype(np.float32) / np.iinfo(rgb.dtype).max
    return np.clip(np.nan_to_num(rgb.astype(np.float32)), 0.0, 1.0) ** (1 / 2.2)


def _resize(image: np.ndarray, height: int) -> np.ndarray:
    """Nearest-neighbour to ``height`` rows, keeping the aspect ratio (no dependencies)."""
    h, w = image.shape[:2]
    width = max(1, round(w * height / h))
    rows = np.minimum((np.arange(height) + 0.5) * h / height, h - 1).astype(int)
    cols = np.minimum((np.arange(width) + 0.5) * w / width, w - 1).astype(int)
    return image[rows][:, cols]


def checkerboard(height: int, width: int, square: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    light = ((yy // square + xx // square) % 2).astype(np.float32)
    return np.repeat((0.4 + 0.2 * light)[..., None], 3, axis=2)


def sheet_row(plate: np.ndarray, trimap: np.ndarray, alpha: np.ndarray, foreground: np.ndarray,
              height: int = 160) -> np.ndarray:
    """uint8 H×W×3: plate | trimap | alpha | foreground over a checkerboard, ``height`` rows."""
    plate = _display(plate[..., :3])
    fg = _display(foreground[..., :3])
    a = np.clip(alpha.astype(np.float32), 0, 1)[..., None]
    over = a * fg + (1 - a) * checkerboard(*a.shape[:2])
    grey = lambda x: np.repeat(np.clip(x.astype(np.float32), 0, 1)[..., None], 3, axis=2)  # noqa: E731
    tiles = [_resize(t, height) for t in (plate, grey(trimap), grey(alpha), over)]
    gap = np.ones((height, 4, 3), np.float32)
    row = np.concatenate([x for t in tiles for x in (t, gap)][:-1], axis=1)
    return (row * 255 + 0.5).astype(np.uint8)


def write_sheet(path: "str | os.PathLike", rows: list[np.ndarray]) -> Path:
    """Stack rows (padded to the widest) into one 8-bit PNG, written atomically (replaced
    if there: a preview follows its frame's outputs)."""
    from .io import write_image

    width = max(r.shape[1] for r in rows)
    gap = np.full((4, width, 3), 255, np.uint8)
    padded = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    sheet = np.concatenate([x for r in padded for x in (r, gap)][:-1], axis=0)
    return write_image(path, sheet / np.float32(255), overwrite=True, colour=False)
