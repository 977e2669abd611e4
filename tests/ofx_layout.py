"""Lay numpy images out as an OFX host would (bottom-up rows, any origin, positive or
negative rowBytes, row padding) and read them back, for the plugin tests."""

from __future__ import annotations

import numpy as np

DEPTHS = {"uint8": "OfxBitDepthByte", "uint16": "OfxBitDepthShort", "float32": "OfxBitDepthFloat"}
DTYPES = {v: np.dtype(k) for k, v in DEPTHS.items()}
COMPONENTS = {1: "OfxImageComponentAlpha", 3: "OfxImageComponentRGB", 4: "OfxImageComponentRGBA"}
CHANNELS = {v: k for k, v in COMPONENTS.items()}


def to_host(image: np.ndarray, origin: tuple[int, int] = (0, 0), top_down: bool = False,
            padding: int = 0) -> dict:
    """``image`` (H×W×C, row 0 at the top) as the keyword arguments of ``Host.set_image``.

    ``top_down`` stores the top row first in memory, so rowBytes is negative and the
    data pointer (the bottom-left pixel) is at the last row. ``padding`` adds bytes
    after every row.
    """
    image = np.ascontiguousarray(image)
    h, w, c = image.shape
    row = w * c * image.itemsize
    stride = row + padding
    buffer = np.zeros(h * stride, np.uint8)
    for i in range(h):  # memory row i
        host_row = image[i] if top_down else image[h - 1 - i]
        buffer[i * stride:i * stride + row] = np.frombuffer(host_row.tobytes(), np.uint8)
    x1, y1 = origin
    return dict(data=buffer.tobytes(), offset=(h - 1) * stride if top_down else 0,
                bounds=(x1, y1, x1 + w, y1 + h), row_bytes=-stride if top_down else stride,
                depth=DEPTHS[image.dtype.name], components=COMPONENTS[c])


def from_host(data: bytes, offset: int, bounds, row_bytes: int, depth: str, components: str) -> np.ndarray:
    """The inverse of :func:`to_host`: an H×W×C array, row 0 at the top."""
    dtype = DTYPES[depth]
    c = CHANNELS[components]
    w, h = bounds[2] - bounds[0], bounds[3] - bounds[1]
    raw = np.frombuffer(data, np.uint8)
    rows = []
    for y in range(h - 1, -1, -1):  # top row first
        start = offset + y * row_bytes
        rows.append(raw[start:start + w * c * dtype.itemsize].view(dtype).reshape(w, c))
    return np.stack(rows)
