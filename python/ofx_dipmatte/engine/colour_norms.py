"""Per-pixel sums over colour channels (H×W×3 → H×W), as squared lengths of colours.

numpy's ``np.square(x).sum(axis=-1)`` reduces over a 3-long axis one pixel at a time:
on a 500² window it took 3.7 ms against 0.5 ms for adding the three channel planes.
Both add R, G and B in that order, so the values are the same to the bit; the
estimates and confidences that read these sums ran it hundreds of times a frame (0.85 s
of a 1080p warm frame's 19 thread-seconds).
"""

from __future__ import annotations

import numpy as np


def channel_sum(values: np.ndarray) -> np.ndarray:
    """``values`` (…×C) summed over the last axis, channel after channel."""
    total = values[..., 0].copy()
    for channel in range(1, values.shape[-1]):
        total += values[..., channel]
    return total


def squared_norm(colours: np.ndarray) -> np.ndarray:
    """|colours|² per pixel: the squares of the last axis, summed (:func:`channel_sum`)."""
    return channel_sum(np.square(colours))

