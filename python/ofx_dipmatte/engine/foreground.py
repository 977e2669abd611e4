"""Foreground and background colours from an alpha matte, by multi-level estimation.

Our implementation of the model of Germer, Uelwer, Conrad, Harmeling, "Fast
multi-level foreground estimation" (ICPR 2020): per pixel and channel, F and B
minimise

    (α F + (1 − α) B − I)² + Σ_neighbours w (F − F_n)² + w (B − B_n)²,
    w = regularization + gradient_weight · |α − α_n|,

so each pixel's (F, B) solves a 2×2 system given its four neighbours. The sweeps run
coarse to fine (each level's result, upsampled, starts the next), which carries
colour across wide unknown bands in a few sweeps. We sweep red-black (checkerboard)
Gauss–Seidel with numpy, so every half-sweep is a handful of whole-array operations.
F is reliable where alpha is high and B where it is low; where alpha is 0 (or 1) F
(or B) is only an extrapolation from its surroundings.

An alpha refined from these very colours (:mod:`.refine`) has absorbed their errors:
estimated again from it, F and B keep them. :func:`match_compositing` instead takes
colours estimated from an independent matte and corrects them to the final alpha.
"""

from __future__ import annotations

import math

import numpy as np


def _resize_nearest(a: np.ndarray, h: int, w: int) -> np.ndarray:
    rows = np.minimum((np.arange(h) * a.shape[0]) // h, a.shape[0] - 1)
    cols = np.minimum((np.arange(w) * a.shape[1]) // w, a.shape[1] - 1)
    return a[rows][:, cols]


def _neighbours(x: np.ndarray) -> tuple[np.ndarray, ...]:
    """Up, down, left, right neighbours of every pixel, edges repeated."""
    p = np.pad(x, ((1, 1), (1, 1)) + ((0, 0),) * (x.ndim - 2), mode="edge")
    return _inside(p)


def _inside(padded: np.ndarray) -> tuple[np.ndarray, ...]:
    """Up, down, left, right neighbours of the pixels inside a one-pixel border: views."""
    return padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]


def _repeat_edges(padded: np.ndarray) -> None:
    """Refill the one-pixel border with the edge pixels (as np.pad's "edge"), in place."""
    padded[0, 1:-1] = padded[1, 1:-1]
    padded[-1, 1:-1] = padded[-2, 1:-1]
    padded[:, 0] = padded[:, 1]
    padded[:, -1] = padded[:, -2]


class _Level:
    """One pyramid level's fixed part of the per-pixel 2×2 systems: the neighbour weights
    and the matrix [[α² + Σw, α(1 − α)], [α(1 − α), (1 − α)² + Σw]] with its inverse
    determinant, H×W×1 each (they broadcast over RGB)."""

    def __init__(self, image: np.ndarray, alpha: np.ndarray, regularization: float, gradient_weight: float,
                 known_bg: np.ndarray | None, ceiling: float = 1.0):
        self.image = image
        self.ceiling = ceiling
        self.known_bg = None if known_bg is None else known_bg[..., None]
        self.weights = [(regularization + gradient_weight * np.abs(alpha - n))[..., None] for n in _neighbours(alpha)]
        self.a0 = alpha[..., None]
        self.a1 = 1.0 - self.a0
        self.w_sum = sum(self.weights)
        self.a00 = self.a0 * self.a0 + self.w_sum
        self.a11 = self.a1 * self.a1 + self.w_sum
        self.a01 = self.a0 * self.a1
        self.a0_image = self.a0 * image
        self.a1_image = self.a1 * image
        # a00·a11 − a01², written without the cancellation (which float32 would feel).
        self.inv_det = 1.0 / (self.w_sum * (self.a0 * self.a0 + self.a1 * self.a1 + self.w_sum))
        checker = (np.add.outer(np.arange(alpha.shape[0]), np.arange(alpha.shape[1])) % 2).astype(bool)
        self.parity_masks = ((~checker)[..., None], checker[..., None])
        # Right-hand sides and scratch for the sweeps, H×W×3 each: allocated once a level.
        self._buffers = tuple(np.empty_like(image) for _ in range(4))

    def sweep(self, fg_padded: np.ndarray, bg_padded: np.ndarray) -> None:
        """One red-black Gauss–Seidel sweep, in place, on F and B kept inside a one-pixel
        border of repeated edges (so neighbours are views, not copies). Where ``known_bg``
        (a clean plate) gives B, B stays and F alone is solved. In-place arithmetic: the
        sweeps are most of the estimator's time, and temporaries most of theirs."""
        fg, bg = fg_padded[1:-1, 1:-1], bg_padded[1:-1, 1:-1]
        b0, b1, t0, t1 = self._buffers
        for mask in self.parity_masks:
            self._right_hand_side(b0, fg_padded, self.a0_image, t0)
            self._right_hand_side(b1, bg_padded, self.a1_image, t0)
            # [F, B] = inverse of the 2×2 matrix times [b0, b1], clipped to [0, ceiling].
            np.multiply(self.a11, b0, out=t0)
            t0 -= np.multiply(self.a01, b1, out=t1)
            t0 *= self.inv_det
            new_f = np.clip(t0, 0.0, self.ceiling, out=t0)
            np.multiply(self.a00, b1, out=t1)
            t1 -= np.multiply(self.a01, b0, out=b1)
            t1 *= self.inv_det
            new_b = np.clip(t1, 0.0, self.ceiling, out=t1)
            if self.known_bg is not None:
                # F alone minimises (αF + (1 − α)B − I)² + Σ w (F − F_n)²: one unknown per channel.
                near_f = b0 - self.a0_image
                only_f = np.clip((self.a0 * (self.image - self.a1 * bg) + near_f) / (self.a0 * self.a0 + self.w_sum),
                                 0.0, self.ceiling)
                new_f = np.where(self.known_bg, only_f, new_f)
                new_b = np.where(self.known_bg, bg, new_b)
            np.copyto(fg, new_f, where=mask)
            np.copyto(bg, new_b, where=mask)
            _repeat_edges(fg_padded)
            _repeat_edges(bg_padded)

    def _right_hand_side(self, out: np.ndarray, padded: np.ndarray, data: np.ndarray, scratch: np.ndarray) -> None:
        """``data`` + Σ w · neighbour, into ``out``."""
        np.copyto(out, data)
        for weight, near in zip(self.weights, _inside(padded)):
            out += np.multiply(weight, near, out=scratch)


def estimate_foreground_background(
    image: np.ndarray, alpha: np.ndarray, regularization: float = 1e-5, gradient_weight: float = 1.0,
    small_size: int = 32, small_iterations: int = 10, big_iterations: int = 2,
    background: np.ndarray | None = None, background_known: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Straight foreground and background (H×W×3 each, in [0, 1]) explaining ``image``
    (H×W×3, [0, 1]; or from 0 up, scene-linear: the colours then go up to its brightest
    value) under ``alpha`` (H×W).

    Levels whose sides are at most ``small_size`` get ``small_iterations`` sweeps, larger
    ones ``big_iterations``. ``background``: the true background (a clean plate, H×W×3):
    B is that, and only F is estimated, on the pixels ``background_known`` (H×W bool;
    default all) says it covers; elsewhere both are estimated, as without a plate.
    """
    # Single precision: colours need no more, and the sweeps run about twice as fast.
    image = np.asarray(image, dtype=np.float32)
    alpha = np.clip(np.asarray(alpha, dtype=np.float32), 0.0, 1.0)
    # Colours stay in [0, 1], or up to the brightest pixel of a scene-linear image.
    ceiling = max(1.0, float(image.max())) if image.size else 1.0
    h0, w0 = alpha.shape
    levels = max(1, math.ceil(math.log2(max(h0, w0))))
    fg = np.broadcast_to(image.mean(axis=(0, 1)), (1, 1, 3)).copy()
    bg = fg.copy()
    for level in range(levels + 1):
        h = max(1, round(h0 ** (level / levels)))
        w = max(1, round(w0 ** (level / levels)))
        img = _resize_nearest(image, h, w)
        a = _resize_nearest(alpha, h, w)
        fg = _resize_nearest(fg, h, w)
        bg = _resize_nearest(bg, h, w)
        known = None
        if background is not None:
            known = np.ones((h, w), bool) if background_known is None else _resize_nearest(background_known, h, w)
            bg[known] = _resize_nearest(np.asarray(background, np.float32), h, w)[known]
        # Edge pixels repeat themselves as neighbours: w·(F − F) = 0 there, as if absent.
        system = _Level(img, a, regularization, gradient_weight, known, ceiling)
        sweeps = small_iterations if (h <= small_size and w <= small_size) else big_iterations
        border = ((1, 1), (1, 1), (0, 0))
        fg_padded, bg_padded = np.pad(fg, border, mode="edge"), np.pad(bg, border, mode="edge")
        for _ in range(sweeps):
            system.sweep(fg_padded, bg_padded)
        fg, bg = fg_padded[1:-1, 1:-1], bg_padded[1:-1, 1:-1]
    return fg.astype(np.float32), bg.astype(np.float32)


def match_compositing(image: np.ndarray, alpha: np.ndarray, fg: np.ndarray,
                      bg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``fg`` and ``bg`` moved as little as possible (least squares, per pixel) so that
    α F + (1 − α) B reproduces ``image`` exactly: with residual R = I − αF − (1 − α)B,
    F += α R / n and B += (1 − α) R / n, n = α² + (1 − α)². Where α = 1, F becomes the
    pixel; where α = 0, B does. Not clipped: the caller bounds the colours."""
    a = np.clip(np.asarray(alpha, dtype=np.float32), 0.0, 1.0)[..., None]
    residual = image - a * fg - (1.0 - a) * bg
    norm = a * a + (1.0 - a) ** 2  # at least 0.5
    return fg + a * residual / norm, bg + (1.0 - a) * residual / norm
