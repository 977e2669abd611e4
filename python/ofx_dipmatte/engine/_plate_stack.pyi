# The carried background's Welford update, by a compiled kernel (kernels/plate_stack.cpp).
import numpy as np

def welford_update(colour: np.ndarray, seen: np.ndarray, count: np.ndarray, mean: np.ndarray,
                   square: np.ndarray) -> None:
    """Add ``colour`` (H×W×3 float32, C-contiguous) where ``seen`` (H×W bool) to ``count``
    (H×W int32), ``mean`` and ``square`` (H×W×3 float32), in place, as
    :meth:`ofx_dipmatte.engine.clean_plate.PlateStack.add` does."""
