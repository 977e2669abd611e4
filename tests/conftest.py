"""Shared synthetic data: a soft-edged disc of one smooth colour over another."""

from __future__ import annotations

import numpy as np
import pytest


def make_case(size: int = 64, band: int = 6, seed: int = 0):
    """Return (image, trimap, alpha, fg, bg), float32, with a known ground truth."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    radius = 0.28 + 0.04 * np.sin(np.arctan2(yy - 0.5, xx - 0.5) * 5)
    dist = np.hypot(yy - 0.5, xx - 0.5)
    alpha = np.clip((radius - dist) * size / 4.0 + 0.5, 0.0, 1.0).astype(np.float32)
    fg = np.stack([0.85 - 0.2 * yy, 0.35 + 0.2 * xx, 0.15 + 0.1 * yy], axis=2)
    bg = np.stack([0.10 + 0.2 * xx, 0.30 + 0.3 * yy, 0.75 - 0.2 * xx], axis=2)
    fg = (fg + rng.normal(0, 0.01, fg.shape)).astype(np.float32)
    bg = (bg + rng.normal(0, 0.01, bg.shape)).astype(np.float32)
    image = (alpha[..., None] * fg + (1 - alpha[..., None]) * bg).astype(np.float32)
    trimap = np.full((size, size), 0.5, np.float32)
    edge_in = dist < radius - band / size
    edge_out = dist > radius + band / size
    trimap[edge_in] = 1.0
    trimap[edge_out] = 0.0
    return image, trimap, alpha, fg, bg


@pytest.fixture(scope="session")
def case64():
    return make_case(64)
