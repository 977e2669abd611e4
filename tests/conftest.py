"""Shared synthetic data: a soft-edged disc of one smooth colour over another."""

from __future__ import annotations

import os

import numpy as np
import pytest

# The farm tests import OpenCue's outline, and with it gRPC, into this process. gRPC's fork
# handlers then restart its poller in every child forked to run Python before exec (the
# Ctrl-C tests' preexec_fn), where subprocess closes its descriptors: about one child in a
# few hundred aborted (SIGABRT, "Epoll1Poller … epoll_wait error: Bad file descriptor").
# Set before anything imports gRPC; the children exec a fresh program and need no handlers.
os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "false"


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


def make_smoke_case(size: int = 128, seed: int = 0):
    """Semi-transparent smoke (density changing over many pixels) over flat colour cells
    with sharp edges between them: (image, trimap, alpha, background)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(yy - size / 2, xx - size / 2) / (0.42 * size)
    density = ndimage.gaussian_filter(rng.random((size, size)), size / 16)
    density = (density - density.min()) / (density.max() - density.min())
    alpha = np.clip(1.0 - r, 0, 1) * (0.45 + 0.55 * density)
    alpha = np.maximum(alpha, (r < 0.1).astype(float)).astype(np.float32)
    seeds = rng.random((25, 2)) * size
    cell = np.argmin((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2, axis=-1)
    bg = rng.uniform(0.2, 0.9, (25, 3))[cell]
    fg = np.array([0.15, 0.13, 0.12]) + 0.05 * ndimage.gaussian_filter(rng.random((size, size, 3)), (2, 2, 0))
    image = (alpha[..., None] * fg + (1 - alpha[..., None]) * bg).astype(np.float32)
    trimap = np.zeros((size, size), np.float32)
    trimap[ndimage.binary_dilation(alpha > 0.01, iterations=3)] = 0.5
    trimap[ndimage.binary_erosion(alpha > 0.99, iterations=2)] = 1.0
    return image, trimap, alpha, bg.astype(np.float32)


def moving_hair_shot(frames: int = 4, step: int = 6, size: int = 72):
    """A hair case whose subject moves ``step`` px right a frame over a background that
    stays: (images, trimaps, alphas, background), float32."""
    from scipy import ndimage

    image, trimap, alpha, fg, bg = make_hair_case(size=size, strands=30 * size // 72, seed=5, colours=True)
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


def drifting_hair_shot(frames: int, speed: float, size: int = 128):
    """:func:`moving_hair_shot` (the subject 4 px right a frame) shot by a camera that
    drifts ``speed`` px a frame (0.6 down, 0.8 right of it), resampled cubic; the
    trimap's known regions follow (a pixel stays known where all it was read from was)."""
    from scipy import ndimage

    images, trimaps, alphas, _ = moving_hair_shot(frames=frames, step=4, size=size)
    out = []
    for t in range(frames):
        offset = (0.6 * speed * t, 0.8 * speed * t)
        image = np.stack([ndimage.shift(images[t][..., c], offset, order=3, mode="nearest") for c in range(3)], -1)
        alpha = np.clip(ndimage.shift(alphas[t], offset, order=3, mode="nearest"), 0, 1)
        known = {v: ndimage.shift((trimaps[t] == v).astype(np.float32), offset, order=1, mode="nearest") > 0.999
                 for v in (0.0, 1.0)}
        trimap = np.where(known[1.0], 1.0, np.where(known[0.0], 0.0, 0.5)).astype(np.float32)
        out.append((np.clip(image, 0, 1).astype(np.float32), trimap, alpha))
    return tuple(list(x) for x in zip(*out))


def retaken(image: np.ndarray, take: int = 1) -> np.ndarray:
    """``image`` with its corner pixel ``take`` 1/1024 brighter in red: the same picture as
    new inputs, which a session solves (given the inputs of the frame it solved last, it
    returns that frame's result: ``ClipSession.matte``). ``take`` 0: the image itself."""
    if take == 0:
        return image
    image = image.copy()
    image[0, 0, 0] += np.float32(take / 1024)
    return image


def count_calls(monkeypatch, owner, name: str) -> list:
    """Replace ``owner.name`` with a wrapper that records each call's arguments (the list
    returned) and calls the real one."""
    calls: list = []
    real = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def make_bright_case(size: int = 160, seed: int = 0):
    """A pale subject with a wavy soft edge over a textured background (the recipe of
    ``../shared/tools/natron_check.py``'s test image): its red channel is the frame's
    brightest value, 0.95, and below 1. (image, trimap, alpha), float32."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c, r = size / 2, size * 0.28
    angle, dist = np.arctan2(yy - c, xx - c), np.hypot(yy - c, xx - c)
    edge = r + sum(rng.uniform(0.4, 1.6) * np.sin(k * angle + rng.uniform(0, 2 * np.pi)) for k in (23, 37, 51, 67))
    alpha = np.clip((edge - dist) / 4 + 0.5, 0, 1).astype(np.float32)
    bg = np.stack([0.25 + 0.35 * xx / size, 0.35 + 0.25 * yy / size, 0.55 - 0.2 * xx / size], -1)
    bg = bg * (0.8 + 0.2 * ((xx // 16 + yy // 16) % 2))[..., None] + rng.normal(0, 0.03, (size, size, 3))
    fg = np.stack([0.95 + 0 * dist, 0.85 - 0.2 * dist / r, 0.6 + 0.1 * np.cos(angle)], -1)
    image = np.clip(alpha[..., None] * fg + (1 - alpha[..., None]) * bg, 0, 1).astype(np.float32)
    trimap = np.full((size, size), 0.5, np.float32)
    trimap[dist < r - size // 20] = 1.0
    trimap[dist > r + size // 20] = 0.0
    return image, trimap, alpha
