"""The DIP nets' fixed noise inputs, drawn for the solve window only.

The noise is a function of the canvas position: the canvas is cut into ``BLOCK``² blocks,
and each block's values come from its own generator, seeded by the clip's seed, the net
and the block's place. Any window reads the same values at the same pixel, whatever its
size or origin: a window that follows a moving band, or a tile beside another, sees the
noise a warm-started net was fitted on, and no frame-sized tensor is ever made
(32 channels × 3 nets of a 4K canvas would be over 3 GB).
"""

from __future__ import annotations

import numpy as np
import torch

BLOCK = 64
#: DIP's input: uniform noise scaled by 1/10.
SCALE = 0.1
NETS = ("image_alpha", "fg", "bg")


def window_noise(seed: int, net: str, channels: int, y0: int, x0: int, height: int, width: int) -> torch.Tensor:
    """1×channels×height×width noise of ``net`` for canvas rows y0:y0+height, columns
    x0:x0+width (in that net's own resolution)."""
    stream = NETS.index(net)
    out = np.empty((channels, height, width), np.float32)
    for by in range(y0 // BLOCK, (y0 + height - 1) // BLOCK + 1):
        for bx in range(x0 // BLOCK, (x0 + width - 1) // BLOCK + 1):
            rng = np.random.default_rng([seed % 2 ** 64, stream, by, bx])
            block = rng.random((channels, BLOCK, BLOCK), dtype=np.float32)
            ys, xs = max(y0, by * BLOCK), max(x0, bx * BLOCK)
            ye, xe = min(y0 + height, (by + 1) * BLOCK), min(x0 + width, (bx + 1) * BLOCK)
            out[:, ys - y0:ye - y0, xs - x0:xe - x0] = block[:, ys - by * BLOCK:ye - by * BLOCK,
                                                              xs - bx * BLOCK:xe - bx * BLOCK]
    return torch.from_numpy(out * SCALE)[None]
