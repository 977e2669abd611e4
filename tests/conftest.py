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


def make_hair_case(size: int = 96, strands: int = 40, seed: int = 0, colours: bool = False):
    """A head of thin strands over a textured background: (image, trimap, alpha), float32,
    and with ``colours`` also its true (fg, bg).

    The foreground is a warm, slowly varying colour; the background a smooth random
    colour field; alpha a disc plus anti-aliased curved strands about a pixel wide that
    run out across a wide unknown band, the case closed-form matting washes out.
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = size / 2
    alpha = (np.hypot(yy - c, xx - c) < size * 0.2).astype(np.float32)
    for _ in range(strands):
        angle = rng.uniform(0, 2 * np.pi)
        bend = rng.uniform(-0.02, 0.02)
        length = rng.uniform(0.25, 0.45) * size
        r0 = size * 0.18
        for t in np.linspace(0, 1, int(length * 3)):
            a = angle + bend * t * length
            py, px = c + (r0 + t * length) * np.sin(a), c + (r0 + t * length) * np.cos(a)
            d = np.hypot(yy - py, xx - px)
            alpha = np.maximum(alpha, np.clip(1.2 - d, 0.0, 1.0) * 0.9)
    bg = np.stack([ndimage.gaussian_filter(rng.random((size, size)), 3) for _ in range(3)], axis=2)
    bg = (bg - bg.min()) / (bg.max() - bg.min()) * 0.6 + 0.1
    fg = np.stack([0.85 - 0.1 * yy / size, 0.6 + 0.1 * xx / size, 0.3 + 0.0 * xx], axis=2)
    image = (alpha[..., None] * fg + (1 - alpha[..., None]) * bg).astype(np.float32)
    trimap = np.zeros((size, size), np.float32)
    trimap[ndimage.binary_dilation(alpha > 0.02, iterations=4)] = 0.5
    trimap[ndimage.binary_erosion(alpha > 0.99, iterations=3)] = 1.0
    if colours:
        return image, trimap, alpha.astype(np.float32), fg.astype(np.float32), bg.astype(np.float32)
    return image, trimap, alpha.astype(np.float32)


def make_fine_hair_case(size: int = 128, strands: int = 120, seed: int = 0):
    """Hair as a camera sees it: (image, trimap, alpha), float32. Strands thinner than a
    pixel (drawn at 4× and box-filtered down, as ``bench/make_kinds.py`` draws fur) over a
    background of colour blobs with grain (σ 0.02), the subject a warm disc. Unlike
    :func:`make_hair_case`'s noise-free tent strands, where closed-form's matte is
    already right in the mid-tones, here it washes the strands out, as on real plates."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    up = 4
    big = size * up
    yy, xx = np.mgrid[0:big, 0:big].astype(np.float32)
    c = big / 2
    hits = np.hypot(yy - c, xx - c) < big * 0.2
    for _ in range(strands):
        angle, bend = rng.uniform(0, 2 * np.pi), rng.uniform(-0.01, 0.01) / up
        width = rng.uniform(1.5, 4.0)  # 0.4–1 px once box-filtered
        length = rng.uniform(0.2, 0.4) * big
        for t in np.arange(0.0, length, 1.0):
            a = angle + bend * t
            py, px = c + (big * 0.18 + t) * np.sin(a), c + (big * 0.18 + t) * np.cos(a)
            y0, x0 = int(py - width), int(px - width)
            patch = (slice(max(y0, 0), max(y0 + 2 * int(width) + 2, 0)), slice(max(x0, 0), max(x0 + 2 * int(width) + 2, 0)))
            hits[patch] |= np.hypot(yy[patch] - py, xx[patch] - px) < width / 2
    alpha = 0.9 * hits.reshape(size, up, size, up).mean(axis=(1, 3))
    alpha[np.hypot(*(np.mgrid[0:size, 0:size] - size / 2)) < size * 0.19] = 1.0
    small = [rng.random((max(size // 16, 2), max(size // 16, 2))) for _ in range(3)]
    bg = np.stack([ndimage.zoom(s, size / s.shape[0], order=3)[:size, :size] for s in small], axis=-1)
    bg = (bg - bg.min()) / (bg.max() - bg.min()) * 0.55 + 0.15 + rng.normal(0, 0.02, (size, size, 3))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    fg = np.stack([0.75 - 0.1 * yy / size, 0.5 + 0.1 * xx / size, 0.3 + 0.0 * xx], axis=-1)
    image = np.clip(alpha[..., None] * fg + (1 - alpha[..., None]) * bg, 0, 1).astype(np.float32)
    trimap = np.zeros((size, size), np.float32)
    trimap[ndimage.binary_dilation(alpha > 0.02, iterations=5)] = 0.5
    trimap[ndimage.binary_erosion(alpha > 0.99, iterations=3)] = 1.0
    return image, trimap, alpha.astype(np.float32)


def moving_hair_shot(frames: int = 4, step: int = 6):
    """A hair case whose subject moves ``step`` px right a frame over a background that
    stays: (images, trimaps, alphas, background), float32."""
    from scipy import ndimage

    image, trimap, alpha, fg, bg = make_hair_case(size=72, strands=30, seed=5, colours=True)
    shots = []
    for t in range(frames):
        a = np.roll(alpha, step * t, axis=1)
        f = np.roll(fg, step * t, axis=1)
        tri = np.zeros_like(trimap)
        tri[ndimage.binary_dilation(a > 0.02, iterations=4)] = 0.5
        tri[ndimage.binary_erosion(a > 0.99, iterations=3)] = 1.0
        shots.append(((a[..., None] * f + (1 - a[..., None]) * bg).astype(np.float32), tri, a))
    images, trimaps, alphas = (list(x) for x in zip(*shots))
    return images, trimaps, alphas, bg
