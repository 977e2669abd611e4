"""Frames moved by the camera's motion: into the place of the frame a carried background
is stacked in, and that stack back out to a frame.

A drifting camera's frames are each resampled once into the stack's reference frame,
and the stack once out to the frame being solved: two resamplings, where a stack that
followed the camera from frame to frame would resample its detail again every frame and
blur it (docs/benchmarks.md, *A drifting camera*). Colours are resampled bicubic (the
background's detail is what the refinement reads as B); masks say where every pixel a
value was read from holds. Torch's sampler does it: at 1080p 0.1 s for three channels,
where scipy's spline resampling took 1.5 s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage


@dataclass(frozen=True)
class Motion:
    """An affine motion of the frame: pixel ``p`` (row, column) of a frame shows what
    pixel ``matrix @ p + offset`` of the stack's reference frame shows."""

    matrix: np.ndarray  # 2×2 float64
    offset: np.ndarray  # 2 float64

    @staticmethod
    def identity() -> "Motion":
        return Motion(np.eye(2), np.zeros(2))

    def is_identity(self) -> bool:
        return bool(np.array_equal(self.matrix, np.eye(2)) and not self.offset.any())

    def inverse(self) -> "Motion":
        matrix = np.linalg.inv(self.matrix)
        return Motion(matrix, -matrix @ self.offset)

    def blocks(self, factor: int) -> "Motion":
        """The same motion between images reduced to blocks of ``factor``² pixels (block
        ``r`` centred on pixel ``factor·r + (factor − 1)/2``)."""
        centre = (factor - 1) / 2.0
        return Motion(self.matrix, (self.offset + self.matrix @ np.full(2, centre) - centre) / factor)

    def pixels(self, factor: int) -> "Motion":
        """:meth:`blocks`' inverse: a motion between reduced images, between full ones."""
        centre = (factor - 1) / 2.0
        return Motion(self.matrix, self.offset * factor + centre - self.matrix @ np.full(2, centre))

    def as_array(self) -> np.ndarray:
        """The six numbers (the matrix by rows, then the offset), e.g. for a record."""
        return np.concatenate([self.matrix.ravel(), self.offset])


def sample(values: np.ndarray, motion: Motion, mode: str = "bilinear", outside: float | None = None) -> np.ndarray:
    """``values`` (H×W or H×W×C, any real type) resampled so that output pixel ``p`` holds
    the value at ``motion(p)``: float32 of the same shape. ``mode``: "bilinear" or
    "bicubic" (Keys' cubic convolution, a = −0.75: it reads the 4×4 pixels around).
    Beyond the picture: ``outside``, or the edge's value where None. Channel by channel,
    one grid for all: a 4K frame's copies are one channel's."""
    planes = values[..., None] if values.ndim == 2 else values
    height, width, channels = planes.shape
    # Where each output pixel reads, normalised as grid_sample takes it with align_corners
    # (−1 and 1 the first and last pixels' centres): x then y, built by broadcasting a
    # column of rows against a row of columns (float32: 2·10⁻⁴ px at 4K).
    rows = torch.arange(height, dtype=torch.float32)[:, None]
    cols = torch.arange(width, dtype=torch.float32)[None, :]
    (a, b), (c, d) = motion.matrix
    x_scale, y_scale = 2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)
    grid = torch.empty((1, height, width, 2), dtype=torch.float32)
    grid[0, ..., 0] = (rows * (c * x_scale) + cols * (d * x_scale)) + (motion.offset[1] * x_scale - 1.0)
    grid[0, ..., 1] = (rows * (a * y_scale) + cols * (b * y_scale)) + (motion.offset[0] * y_scale - 1.0)
    padding = "border" if outside is None else "zeros"
    out = np.empty((height, width, channels), np.float32)
    for channel in range(channels):
        plane = torch.from_numpy(np.ascontiguousarray(planes[..., channel], dtype=np.float32))[None, None]
        if outside:
            plane = plane - outside  # zeros beyond the picture, then the value back
        read = F.grid_sample(plane, grid, mode=mode, padding_mode=padding, align_corners=True)[0, 0]
        out[..., channel] = read.numpy() + (outside or 0.0)
    return out[..., 0] if values.ndim == 2 else out


def move_colour(colour: np.ndarray, motion: Motion) -> np.ndarray:
    """H×W×3 float32: ``colour`` resampled bicubic so that pixel ``p`` holds its value at
    ``motion(p)``; beyond the picture, its edge's value. Where ``colour`` has holes,
    :func:`move_mask` says which pixels read none."""
    return sample(colour, motion, "bicubic")


def move_mask(mask: np.ndarray, motion: Motion, margin: int = 1) -> np.ndarray:
    """H×W bool: the pixels whose reading at ``motion(p)`` lies within ``mask``: the
    bilinear reading's four pixels and, with ``margin`` 1, the ring around them that the
    bicubic one reads too. Beyond the picture is outside the mask."""
    inside = sample(mask.astype(np.float32), motion, "bilinear", outside=0.0) > 0.999
    if not margin:
        return inside
    return ndimage.binary_erosion(inside, np.ones((3, 3), bool), iterations=margin, border_value=0)


def move_values(values: np.ndarray, motion: Motion, outside: float) -> np.ndarray:
    """H×W or H×W×C float32: ``values`` resampled bilinear (a matte, a foreground: read
    only at a solve's bare pixels); ``outside`` beyond the picture."""
    return sample(values, motion, "bilinear", outside=outside)


def move_trimap(trimap: np.ndarray, motion: Motion) -> np.ndarray:
    """H×W float32: a snapped trimap resampled so that it says background (0) only where
    every pixel the bicubic reading reads was background, unknown (0.5) where any pixel
    read was unknown, and foreground (1) elsewhere: there, and beyond the picture,
    nothing is stacked."""
    background = move_mask(trimap == 0.0, motion)
    band = (sample((trimap == 0.5).astype(np.float32), motion, "bilinear", outside=0.0) > 0.0) & ~background
    return np.where(background, 0.0, np.where(band, 0.5, 1.0)).astype(np.float32)
