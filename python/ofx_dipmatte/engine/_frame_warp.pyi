# Frames resampled by an affine motion, by a compiled kernel (kernels/frame_warp.cpp).
from typing import Sequence

import numpy as np

def sample_affine(values: np.ndarray, matrix: "np.ndarray | Sequence[float]", offset: "np.ndarray | Sequence[float]",
                  cubic: bool, outside: float | None = None) -> np.ndarray:
    """``values`` (H×W×C float32) read at ``matrix``·p + ``offset`` (matrix by rows: a, b,
    c, d) for every pixel p = (row, column): bicubic (Keys, a = −0.75) or bilinear; beyond
    the picture ``outside``, or the nearest edge pixel where None. H×W×C float32."""
