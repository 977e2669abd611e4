# The compiled sweeps of the multi-level foreground estimator (kernels/foreground_sweeps.cpp).
import numpy as np

def sweep_level(colours: np.ndarray, image: np.ndarray, alpha: np.ndarray, swept: np.ndarray | None,
                known_bg: np.ndarray | None, regularization: float, gradient_weight: float, ceiling: float,
                sweeps: int) -> None:
    """Sweep ``colours`` (6×H×W float32, C-contiguous: F's channels, then B's; in place)
    ``sweeps`` times, red-black, given ``image`` (3×H×W) and ``alpha`` (H×W); only the
    ``swept`` pixels (H×W bool; None: all), and where ``known_bg`` (H×W bool) B stays."""
