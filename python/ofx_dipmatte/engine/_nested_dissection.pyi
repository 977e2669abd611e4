# Nested dissection of a set of pixels, by a compiled kernel (kernels/nested_dissection.cpp).
import numpy as np

def nested_dissection(rows: np.ndarray, cols: np.ndarray, reach: int, leaf_size: int) -> np.ndarray:
    """An elimination order (int64, a permutation of range(len(rows))) of the pixels at
    (rows, cols): :func:`ofx_dipmatte.engine.ordering.nested_dissection`."""
