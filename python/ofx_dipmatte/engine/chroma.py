"""Chroma that a host or a codec subsampled: found, and restored before the solve.

MLT's normaliser passes every frame through 8-bit Y'CbCr 4:2:2 before any filter sees it
(docs/hosts.md), and video decoded from 4:2:2 or 4:2:0 with the chroma upsampled by
repetition carries the same mark: pixels in pairs (or 2×2 blocks) share one chroma
sample. Matting reads alpha from colour, and chroma at half resolution smears it across
strands and hard edges (`bench/bench.py --video-range`).

Detection: in Y'CbCr, chroma differences inside such blocks are rounding only, while
those across block borders are the picture's. We use Rec. 601's luma weights: a frame
subsampled in Rec. 709's is found as well (inside/across ratio 0.023 against 0.022 on the
tests' hair case), and restored almost as well (mean error 0.0042 against 0.0040 with
709's own weights, from 0.0145 as delivered).

Restoration: luma is still at full resolution, and locally chroma is an affine function
of luma (the colour-line model the matting Laplacian itself assumes). We fit that
function on the block averages of a small neighbourhood (a guided filter on the block
grid), predict each pixel's chroma from its own luma, then shift each block so that its
mean chroma is again the sample it was given: what the host delivered is kept, and the
detail comes from luma.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: Rec. 601's luma weights of red and blue (green's is the rest).
KR, KB = 0.299, 0.114
#: A block layout is taken as shared chroma when the chroma differences inside blocks
#: are under this share of those across block borders (about 0.04 for MLT's 4:2:2 frames,
#: about 1 for a picture with its own chroma).
SHARED_RATIO = 0.25
#: Mean chroma difference across block borders (0–1 units) under which the picture has
#: too little colour to tell, or to restore.
MIN_CHROMA_DETAIL = 1.0 / 255
#: Variance of one 8-bit step: luma changes smaller than this predict no chroma.
STEP_VARIANCE = (1.0 / 255) ** 2
#: Radius, in blocks, of the neighbourhood chroma is fitted to luma in.
RADIUS = 1


@dataclass(frozen=True)
class Subsampling:
    """Pixels in ``rows`` × ``cols`` blocks (from the top-left) share chroma."""

    rows: int
    cols: int

    @property
    def name(self) -> str:
        return {(1, 2): "4:2:2", (2, 2): "4:2:0", (2, 1): "4:4:0"}[(self.rows, self.cols)]


def _to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    y = KR * rgb[..., 0] + (1.0 - KR - KB) * rgb[..., 1] + KB * rgb[..., 2]
    return np.stack([y, (rgb[..., 2] - y) / (2 * (1 - KB)), (rgb[..., 0] - y) / (2 * (1 - KR))], axis=-1)


def _to_rgb(ycc: np.ndarray) -> np.ndarray:
    y = ycc[..., 0]
    r = y + 2 * (1 - KR) * ycc[..., 2]
    b = y + 2 * (1 - KB) * ycc[..., 1]
    return np.stack([r, (y - KR * r - KB * b) / (1.0 - KR - KB), b], axis=-1)


def _shared_ratio(chroma: np.ndarray, axis: int) -> float:
    """Chroma differences inside pairs along ``axis`` over those across pairs (inf when the
    picture has too little chroma detail to tell)."""
    c = np.moveaxis(chroma, axis, 1)
    n = c.shape[1] // 2
    if n < 2:
        return np.inf
    inside = np.abs(c[:, 0:2 * n:2] - c[:, 1:2 * n:2]).mean()
    across = np.abs(c[:, 1:2 * n - 1:2] - c[:, 2:2 * n:2]).mean()
    return inside / across if across >= MIN_CHROMA_DETAIL else np.inf


def detect_subsampling(image: np.ndarray) -> Subsampling | None:
    """The chroma layout ``image`` (H×W×3, 0–1) was delivered in, or None for full chroma.

    Reads every 8th row (for pairs along rows) and every 8th column (for pairs down
    columns): enough pixels to tell, a small share of a plate's."""
    down_cols = _to_ycbcr(image[:, ::8].astype(np.float32))[..., 1:]
    along_rows = _to_ycbcr(image[::8].astype(np.float32))[..., 1:]
    rows, cols = (2 if _shared_ratio(chroma, axis) < SHARED_RATIO else 1
                  for chroma, axis in ((down_cols, 0), (along_rows, 1)))
    return None if (rows, cols) == (1, 1) else Subsampling(rows, cols)


def _box(x: np.ndarray) -> np.ndarray:
    return ndimage.uniform_filter(x, 2 * RADIUS + 1, mode="reflect")


def _block_mean(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    h, w = x.shape[0] // rows, x.shape[1] // cols
    return x[:h * rows, :w * cols].reshape(h, rows, w, cols).mean(axis=(1, 3))


def _per_pixel(blocks: np.ndarray, rows: int, cols: int) -> np.ndarray:
    return np.repeat(np.repeat(blocks, rows, axis=0), cols, axis=1)


def restore_chroma(image: np.ndarray, layout: Subsampling) -> np.ndarray:
    """``image`` (H×W×3 float, from 0) with full-resolution chroma predicted from its luma;
    each block's mean chroma and every pixel's luma unchanged (but for clipping to 0 and
    to 1, or to the brightest value where that is above 1). A last odd row or column
    (outside whole blocks) is returned as it was."""
    rows, cols = layout.rows, layout.cols
    ycc = _to_ycbcr(image.astype(np.float32))
    h, w = image.shape[0] // rows * rows, image.shape[1] // cols * cols
    luma = ycc[:h, :w, 0]
    luma_blocks = _block_mean(luma, rows, cols)
    mean_luma, var_luma = _box(luma_blocks), _box(luma_blocks ** 2)
    var_luma -= mean_luma ** 2
    for channel in (1, 2):
        samples = _block_mean(ycc[:h, :w, channel], rows, cols)
        mean_chroma = _box(samples)
        slope = (_box(luma_blocks * samples) - mean_luma * mean_chroma) / (var_luma + STEP_VARIANCE)
        offset = mean_chroma - slope * mean_luma
        predicted = _per_pixel(_box(slope), rows, cols) * luma + _per_pixel(_box(offset), rows, cols)
        predicted += _per_pixel(samples - _block_mean(predicted, rows, cols), rows, cols)
        ycc[:h, :w, channel] = predicted
    return np.clip(_to_rgb(ycc), 0.0, max(1.0, float(image.max()))).astype(image.dtype)
