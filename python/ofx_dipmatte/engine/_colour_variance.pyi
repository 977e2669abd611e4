# The weighted local colour variance, by a compiled kernel (kernels/colour_variance.cpp).
import numpy as np

def local_colour_variance(image: np.ndarray, weight: np.ndarray, kernel: np.ndarray,
                          where: np.ndarray | None) -> np.ndarray:
    """Σ over RGB of the ``weight``-weighted variance of ``image`` (H×W×3 float32) under the
    symmetric 1-D Gaussian ``kernel`` (separable, edges repeated), at the ``where`` pixels
    (H×W bool; None: all); 0 elsewhere. H×W float32."""
