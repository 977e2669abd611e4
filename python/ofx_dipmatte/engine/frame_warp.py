"""Frames moved by the camera's motion: into the place of the frame a carried background
is stacked in, and that stack back out to a frame.

A drifting camera's frames are each resampled once into the stack's reference frame,
and the stack once out to the frame being solved: two resamplings, where a stack that
followed the camera from frame to frame would resample its detail again every frame and
blur it (docs/benchmarks.md, *A drifting camera*). Colours are resampled bicubic (the
background's detail is what the refinement reads as B); masks say where every pixel a
value was read from holds. A compiled kernel resamples (``kernels/frame_warp.cpp``: the
cubic of torch's ``grid_sample``, which did it before; scipy's spline resampling took 1.5 s
for three 1080p channels), so a classical solve of a moving shot never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ._frame_warp import sample_affine


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
    Beyond the picture: ``outside``, or the edge's value where None."""
    if mode not in ("bilinear", "bicubic"):
        raise ValueError(f"sample: mode {mode!r}; use 'bilinear' or 'bicubic'")
    planes = values[..., None] if values.ndim == 2 else values
    out = sample_affine(np.ascontiguousarray(planes, dtype=np.float32), motion.matrix.ravel(), motion.offset,
                        mode == "bicubic", outside)
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
