"""The matting Laplacian of Levin, Lischinski, Weiss (2008).

In every 3×3 window, alpha is assumed an affine function of the colour; ``αᵀ L α``
measures how far a matte is from that. It is the smoothness term that every alpha
solver of this package builds on.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy import ndimage

from ._matting_laplacian import laplacian_rows

#: ε of each window's colour covariance (Levin et al.'s, and pymatting's): set for 8-bit
#: pictures at display levels (:func:`.exposure.laplacian_eps` keeps it to their steps).
EPS = 1e-7


def matting_laplacian(image: np.ndarray, eps: float = EPS, radius: int = 1,
                      unknown: np.ndarray | None = None) -> sp.csr_matrix:
    """The matting Laplacian of an H×W×3 float image (N×N, N = H·W), summed over its
    (2·radius + 1)² windows by a compiled kernel (``kernels/matting_laplacian.cpp``): each
    row holds its pixel's (4·radius + 1)² neighbours inside the image.

    ``unknown`` (H×W bool): only the rows of unknown pixels, all a solve with the known
    pixels fixed reads, are built (the other rows are empty), from the windows holding an
    unknown pixel: the cost of the band rather than of the whole image.
    """
    h, w, _ = image.shape
    size = 2 * radius + 1
    kh, kw = h - 2 * radius, w - 2 * radius  # window centres away from the border
    if unknown is None:
        centres = np.arange(max(kh, 0) * max(kw, 0))
    else:
        centres = np.flatnonzero(ndimage.maximum_filter(unknown, size=size)[radius:h - radius, radius:w - radius])
    corners = (centres // kw) * w + centres % kw if centres.size else centres  # each window's top-left pixel
    rows = np.arange(h * w) if unknown is None else np.flatnonzero(unknown)
    data, indices, indptr = laplacian_rows(np.asarray(image, np.float64), corners, rows, eps, radius)
    return sp.csr_matrix((data, indices, indptr), shape=(h * w, h * w))
