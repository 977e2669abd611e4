"""Matting error measures over the unknown band (alphamatting.com definitions).

All take float alpha in [0, 1] and a boolean region; SAD, gradient and connectivity
are reported /1000 as on alphamatting.com.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def sad(pred: np.ndarray, truth: np.ndarray, region: np.ndarray) -> float:
    return float(np.abs(pred - truth)[region].sum() / 1000.0)


def mse(pred: np.ndarray, truth: np.ndarray, region: np.ndarray) -> float:
    return float(np.square(pred - truth)[region].mean())


def gradient_error(pred: np.ndarray, truth: np.ndarray, region: np.ndarray, sigma: float = 1.4) -> float:
    """Squared difference of Gaussian-derivative gradient magnitudes (σ = 1.4)."""
    gp = ndimage.gaussian_gradient_magnitude(pred.astype(np.float64), sigma)
    gt = ndimage.gaussian_gradient_magnitude(truth.astype(np.float64), sigma)
    return float(np.square(gp - gt)[region].sum() / 1000.0)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)  # 4-connectivity
    if count == 0:
        return np.zeros_like(mask)
    sizes = np.bincount(labels.ravel())[1:]
    return labels == (np.argmax(sizes) + 1)


def connectivity_error(pred: np.ndarray, truth: np.ndarray, region: np.ndarray, step: float = 0.1) -> float:
    """Rhemann et al. 2009: how much each pixel's connection to the main foreground
    component differs between prediction and truth, thresholds every ``step``."""
    levels = np.arange(0.0, 1.0 + step, step)
    first_lost = np.full(pred.shape, -1.0)
    for i in range(1, len(levels)):
        omega = _largest_component((pred >= levels[i]) & (truth >= levels[i]))
        newly = (first_lost == -1) & ~omega
        first_lost[newly] = levels[i - 1]
    first_lost[first_lost == -1] = 1.0
    dp, dt = pred - first_lost, truth - first_lost
    phi_p = 1.0 - dp * (dp >= 0.15)
    phi_t = 1.0 - dt * (dt >= 0.15)
    return float(np.abs(phi_p - phi_t)[region].sum() / 1000.0)


def foreground_mse(pred_fg: np.ndarray, true_fg: np.ndarray, true_alpha: np.ndarray, region: np.ndarray) -> float:
    """Foreground colour error where it matters: band pixels with some foreground."""
    where = region & (true_alpha > 0.0)
    return float(np.square(pred_fg - true_fg)[where].mean()) if where.any() else float("nan")


def foreground_error(pred_fg: np.ndarray, true_fg: np.ndarray, true_alpha: np.ndarray, region: np.ndarray) -> float:
    """Alpha-weighted foreground error: Σ |F − F_gt|₁ · α_gt over band pixels with α_gt > 0,
    /1000 (a wrong colour costs in proportion to how much of it shows)."""
    where = region & (true_alpha > 0.0)
    return float((np.abs(pred_fg - true_fg).sum(axis=-1) * true_alpha)[where].sum() / 1000.0)


def dt_ssd(preds: list[np.ndarray], truths: list[np.ndarray], regions: list[np.ndarray]) -> float:
    """Temporal coherence (Erofeev et al. 2015): mean over frame pairs of the RMS, over
    the band, of the difference between predicted and true alpha changes; ×100."""
    errors = []
    for t in range(1, len(preds)):
        region = regions[t] | regions[t - 1]
        d = (preds[t] - preds[t - 1]) - (truths[t] - truths[t - 1])
        errors.append(np.sqrt(np.square(d)[region].mean()))
    return float(100.0 * np.mean(errors)) if errors else float("nan")
