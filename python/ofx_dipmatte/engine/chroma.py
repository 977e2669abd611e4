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

A host that scales chroma to an odd width or height (MLT: 259 samples onto 517 columns)
repeats one sample once instead of twice, so the pairs change phase once: pairs from the
left up to one pixel that stands alone, pairs again after it. The layout holds that pixel
(``col_split``, ``row_split``) and each side is restored as a frame of its own.

Restoration: luma is still at full resolution, and locally chroma is an affine function
of luma (the colour-line model the matting Laplacian itself assumes). We fit that
function on the block averages of a small neighbourhood (a guided filter on the block
grid), predict each pixel's chroma from its own luma, then shift each block so that its
mean chroma is again the sample it was given: what the host delivered is kept, and the
detail comes from luma.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
#: Over how many blocks a drifting layout's delivered means are kept (see restore_chroma).
DRIFT_SPREAD = np.array([0.25, 0.5, 0.25])


@dataclass(frozen=True)
class Subsampling:
    """Pixels in ``rows`` × ``cols`` blocks (from the top-left) share chroma; where
    ``col_split`` (``row_split``) is set, that column (row) has chroma of its own and the
    blocks start again after it (an odd width scaled from half as many samples)."""

    rows: int
    cols: int
    row_split: int | None = None
    col_split: int | None = None

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


def _pair_split(chroma: np.ndarray, axis: int) -> tuple[float, int | None]:
    """(ratio, split) of the best pairing along ``axis``: the chroma differences inside
    pairs over those across pairs (inf when the picture has too little chroma detail to
    tell), for pairs from the start (split None) or, if that does not look shared, for
    pairs up to one index that stands alone and from the one after it (split that index)."""
    c = np.moveaxis(chroma, axis, 1)
    length = c.shape[1]
    if length < 4:
        return np.inf, None
    step = np.abs(np.diff(c, axis=1)).mean(axis=(0, 2))  # step[j]: pixel j to j + 1
    even, odd = np.zeros(length), np.zeros(length)  # running sums of even / odd steps
    np.cumsum(np.where(np.arange(length - 1) % 2 == 0, step, 0.0), out=even[1:])
    np.cumsum(np.where(np.arange(length - 1) % 2 == 1, step, 0.0), out=odd[1:])

    def ratio(split: int) -> float:
        """Pairs (0, 1) … (split − 2, split − 1), ``split`` alone, then (split + 1, split + 2) …
        (a last pixel without a partner alone too); inside: the steps within pairs, across:
        the steps between two pairs."""
        pairs_left, pairs_right = split // 2, max(length - 1 - split, 0) // 2
        inside = even[max(split - 1, 0)]
        across = odd[max(split - 2, 0)]
        if pairs_right:
            first = split + 1  # the right side's first step within a pair; then every second one
            same, other = (odd, even) if first % 2 else (even, odd)
            inside += same[first + 2 * pairs_right - 1] - same[first]
            across += other[first + 2 * pairs_right - 2] - other[first + 1]
        n_in, n_across = pairs_left + pairs_right, max(pairs_left - 1, 0) + max(pairs_right - 1, 0)
        if n_in == 0 or n_across == 0:
            return np.inf
        across_mean = across / n_across
        if across_mean < MIN_CHROMA_DETAIL:
            return np.inf
        return float(inside / n_in / across_mean)

    regular = ratio(length if length % 2 == 0 else length - 1)
    if regular < SHARED_RATIO:
        return regular, None
    splits = range(0, length - 1, 2)
    ratios = [ratio(split) for split in splits]
    best = int(np.argmin(ratios))
    return ratios[best], splits[best]


def detect_subsampling(image: np.ndarray) -> Subsampling | None:
    """The chroma layout ``image`` (H×W×3, 0–1) was delivered in, or None for full chroma.

    Reads every 8th row (for pairs along rows) and every 8th column (for pairs down
    columns): enough pixels to tell, a small share of a plate's."""
    down_cols = _to_ycbcr(image[:, ::8].astype(np.float32))[..., 1:]
    along_rows = _to_ycbcr(image[::8].astype(np.float32))[..., 1:]
    (row_ratio, row_split), (col_ratio, col_split) = _pair_split(down_cols, 0), _pair_split(along_rows, 1)
    rows, cols = (2 if ratio < SHARED_RATIO else 1 for ratio in (row_ratio, col_ratio))
    if (rows, cols) == (1, 1):
        return None
    return Subsampling(rows, cols, row_split if rows == 2 else None, col_split if cols == 2 else None)


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
    (outside whole blocks), and the row or column a split leaves alone, are returned as
    they were. Where a split says the host scaled chroma by slightly less than two
    (:class:`Subsampling`), each sample was filtered over a window that drifts by up to a
    pixel from its block: the blocks then keep the delivered means spread over their
    neighbours ([¼ ½ ¼]) rather than each its own (band SAD through melt at odd widths
    0.91–0.96× that of each block kept alone, docs/hosts.md)."""
    return _restore(image, layout, drifted=())


def _restore(image: np.ndarray, layout: Subsampling, drifted: tuple[int, ...]) -> np.ndarray:
    for axis, split in ((1, layout.col_split), (0, layout.row_split)):
        if split is not None:
            whole = replace(layout, col_split=None) if axis else replace(layout, row_split=None)
            out = image.copy()
            for part in (slice(0, split), slice(split + 1, image.shape[axis])):
                index = (slice(None), part) if axis else (part,)
                if image[index].shape[axis] > 0:
                    out[index] = _restore(image[index], whole, drifted + (axis,))
            return out
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
        keep = samples - _block_mean(predicted, rows, cols)
        for axis in drifted:
            keep = ndimage.convolve1d(keep, DRIFT_SPREAD, axis=axis, mode="nearest")
        predicted += _per_pixel(keep, rows, cols)
        ycc[:h, :w, channel] = predicted
    return np.clip(_to_rgb(ycc), 0.0, max(1.0, float(image.max()))).astype(image.dtype)
