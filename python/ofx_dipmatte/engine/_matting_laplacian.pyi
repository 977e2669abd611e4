# The matting Laplacian's rows, summed by a compiled kernel (kernels/matting_laplacian.cpp).
import numpy as np

def laplacian_rows(image: np.ndarray, corners: np.ndarray, rows: np.ndarray, eps: float,
                   radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, indices, indptr) of the rows ``rows`` (ascending flat pixel indices) of the
    matting Laplacian of ``image`` (H×W×3), from the (2·radius + 1)² windows whose top-left
    pixels are ``corners`` (every window holding a pixel of ``rows``)."""
