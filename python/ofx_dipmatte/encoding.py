"""Input images: dtype handling and the bounded working encoding the networks see.

The networks end in a sigmoid, so they work on values in [0, 1]. Integer images are
already there. Float images may be scene-linear with highlights far above 1 (EXR
plates): these go through a soft knee that is the identity up to :data:`KNEE` and
compresses [KNEE, ∞) smoothly into [KNEE, 1). The same fixed curve is used for every
frame (never a per-frame normalisation, which would flicker across a shot), and its
exact inverse brings the foreground back to the caller's encoding. Negative float
values (out-of-gamut colour) are clamped to 0 for the networks; known pixels are
returned from the caller's own image, so they keep their exact values.
"""

from __future__ import annotations

import numpy as np

from .trimap import to_unit_float

#: Values up to here pass through unchanged; above it they are compressed towards 1.
KNEE = 0.8

#: The largest magnitude a float image may hold: far above any exposure a plate's
#: highlights come from, below where the solve's float32 squares overflow (near 10¹⁹:
#: a frame scaled by 10³⁰ came back with NaN in F and B).
LARGEST_VALUE = 1e15


def encode(linear: np.ndarray) -> np.ndarray:
    """Map float values in [0, ∞) to the working range [0, 1) (identity below KNEE)."""
    x = np.maximum(linear, 0.0).astype(np.float32, copy=False)
    span = 1.0 - KNEE
    t = np.maximum(x - KNEE, 0.0) / span
    compressed = KNEE + span * t / (1.0 + t)  # Reinhard-style: slope 1 at the knee
    return np.where(x <= KNEE, x, compressed).astype(np.float32)


def decode(working: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode` for values in [0, 1)."""
    y = np.clip(working, 0.0, 1.0 - 1e-7).astype(np.float32, copy=False)
    span = 1.0 - KNEE
    u = np.maximum(y - KNEE, 0.0) / span
    return np.where(y <= KNEE, y, KNEE + span * u / (1.0 - u)).astype(np.float32)


def grey_to_rgb(image: np.ndarray) -> np.ndarray:
    """A grey H×W or H×W×1 image (a black-and-white scan) as H×W×3, its grey in every
    colour channel; any other array as it is."""
    img = np.asarray(image)
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        return np.repeat(img.reshape(img.shape[0], img.shape[1], 1), 3, axis=2)
    return img


def prepare_image(image: np.ndarray, name: str = "image",
                  bounded: bool = True) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate an input image and return (caller_rgb, working_rgb, is_float).

    Args:
        image: H×W×3 or H×W×4 (alpha ignored), or a grey H×W or H×W×1 (its grey in every
            colour channel); float32/float64, uint8 or uint16.
        name: what error messages call it.
        bounded: float images go through the knee into [0, 1), which the networks need.
            False: they keep their values (negatives clamped to 0), for solvers that fit
            no network: the compositing equation holds in the caller's values, and the
            knee would bend it above :data:`KNEE` (given display-referred float frames,
            as a host hands on a PNG, the default's SAD median over 14 stills was 0.974×
            closed-form's against 0.962× from the same 8-bit pixels; docs/benchmarks.md).

    Returns:
        caller_rgb: float32 H×W×3 in the caller's encoding (integers scaled to 0–1).
        working_rgb: float32 H×W×3, what the solvers see: in [0, 1] unless float and
            not ``bounded``.
        is_float: whether the input was float.

    Raises:
        ValueError: empty image, wrong shape or dtype, NaN/Inf values or values beyond
            :data:`LARGEST_VALUE`.
    """
    img = grey_to_rgb(image)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"{name}: expected H×W×3 or H×W×4 (or a grey H×W), got shape {tuple(img.shape)}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"{name}: empty image of shape {tuple(img.shape)}")
    is_float = bool(np.issubdtype(img.dtype, np.floating))
    rgb = to_unit_float(img[..., :3], name)
    # Two reductions and no frame-sized temporary (a 4K frame's is 100 MB); NaN fails both tests.
    if not (-LARGEST_VALUE <= float(rgb.min()) and float(rgb.max()) <= LARGEST_VALUE):
        if not np.isfinite(rgb).all():
            bad = int(np.count_nonzero(~np.isfinite(rgb).all(axis=2)))
            raise ValueError(f"{name}: {bad} pixel(s) contain NaN or Inf; clean the plate (e.g. a NaN-fix node) first")
        magnitude = np.abs(rgb)
        bad = int(np.count_nonzero((magnitude > LARGEST_VALUE).any(axis=2)))
        raise ValueError(f"{name}: {bad} pixel(s) above {LARGEST_VALUE:g} in magnitude (up to "
                         f"{float(magnitude.max()):.3g}), far beyond any plate's highlights; clamp the "
                         "plate (e.g. a Clamp node) or remove the render's fireflies first")
    rgb = np.ascontiguousarray(rgb, dtype=np.float32)
    working = rgb if not is_float else encode(rgb) if bounded else np.maximum(rgb, 0.0)
    return rgb, working, is_float
