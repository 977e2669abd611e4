"""A fill-reducing order for the direct solves: nested dissection of the pixel grid.

Eliminating the pixels of a sparse system in a good order keeps its factors sparse.
A matting system couples each pixel only to the pixels within ``reach`` of it (2 for
the Laplacian's 3×3 windows), so a strip of ``reach`` rows (or columns) across the
band separates it into two halves that share no entry: ordered first half, second
half, strip, each half ordered the same way in turn, the factors fill in only where
the strips meet. On four 384² tiles of a 1080p plate (25k–72k unknowns) SuperLU
factorised in that order in 0.69–0.87× the time it took in its own minimum-degree
order (0.77–1.02× with the time to find the order), with 6–14 % less fill; the larger
the tile, the larger the gain. The direct solves' Cholesky factorisation
(``kernels/sparse_cholesky.cpp``) eliminates in this order too.
"""

from __future__ import annotations

import numpy as np

from ._nested_dissection import nested_dissection as _nested_dissection

#: Parts at most this many pixels are not split further (16: fastest of 4–256 measured).
LEAF_SIZE = 16


def nested_dissection(rows: np.ndarray, cols: np.ndarray, reach: int = 2) -> np.ndarray:
    """An elimination order (a permutation of ``range(len(rows))``) of the pixels at
    (``rows``, ``cols``), for a system that couples pixels at most ``reach`` apart in
    each direction. Any order is correct; this one keeps the fill low.

    Each part is cut across its longer side at its median pixel (so each half holds at
    most half of it: at most log2(pixels) levels deep, whatever the band's shape) into
    the pixels before the cut, those ``reach`` or more past it, and the strip between;
    ordered first half, second half, strip; parts of at most :data:`LEAF_SIZE` pixels,
    or that no cut separates, as they are. A compiled kernel
    (``kernels/nested_dissection.cpp``) does the recursion."""
    return _nested_dissection(np.asarray(rows, np.int64), np.asarray(cols, np.int64), reach, LEAF_SIZE)
