"""The six loss terms of the method, each a function of (N, C, H, W) tensors.

Masks are (N, 1, H, W) with values in {0, 1}. Masked terms are mean squared errors
over their region only — the sum of squared errors divided by the region's size
(pixels × channels) — so a term does not shrink because its region is small
(method.md leaves the normalisation open; this is our reading).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_EPS = 1e-8


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``(pred − target)²`` over the pixels where ``mask`` is 1 (0 if the mask is empty)."""
    se = (pred - target).square() * mask
    count = mask.sum() * pred.shape[1]
    return se.sum() / count.clamp_min(1.0)


def reconstruction_loss(image_hat: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """L_I: net 1's image head reconstructs the whole image."""
    return (image_hat - image).square().mean()


def alpha_trimap_loss(alpha: torch.Tensor, trimap: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """L_α: alpha equals the trimap (0 or 1) in the known region C."""
    return masked_mse(alpha, trimap, known)


def foreground_loss(fg_hat: torch.Tensor, image: torch.Tensor, fg_mask: torch.Tensor) -> torch.Tensor:
    """L_F: the F net reproduces the image where the trimap says foreground."""
    return masked_mse(fg_hat, image, fg_mask)


def background_loss(bg_hat: torch.Tensor, image: torch.Tensor, bg_mask: torch.Tensor) -> torch.Tensor:
    """L_B: the B net reproduces the image where the trimap says background."""
    return masked_mse(bg_hat, image, bg_mask)


def compositing_loss(
    alpha: torch.Tensor, fg_hat: torch.Tensor, bg_hat: torch.Tensor, image: torch.Tensor, unknown: torch.Tensor
) -> torch.Tensor:
    """L_comp: ``α F + (1 − α) B`` reproduces the image in the unknown band U."""
    composite = alpha * fg_hat + (1.0 - alpha) * bg_hat
    return masked_mse(composite, image, unknown)


def _gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def exclusion_loss(
    fg_hat: torch.Tensor, bg_hat: torch.Tensor, scales: int = 3, region: torch.Tensor | None = None
) -> torch.Tensor:
    """L_excl: penalise F and B having edges in the same places (Zhang et al. 2018).

    At each of ``scales`` scales (2×2 average pooling between them), for x and y
    gradients separately: ``Ψ = tanh(λ_F |∇F|) ⊙ tanh(λ_B |∇B|)`` with
    ``λ_F = sqrt(‖∇B‖ / ‖∇F‖)`` and ``λ_B = 1 / λ_F``, which balances the two gradient
    magnitudes. The term is ``‖Ψ‖_F`` summed over scales and directions. We divide
    the Frobenius norm by ``sqrt(numel)`` (an RMS), so the term's size does not grow
    with resolution or crop size; without that its weight would depend on the plate.
    The λ are treated as constants (detached): they rescale, they are not a target.

    Args:
        region: optional (N, 1, H, W) mask; Ψ counts only inside it (e.g. the unknown
            band, where F and B overlap), pooled with the images.
    """
    total = fg_hat.new_zeros(())
    for scale in range(scales):
        if scale:
            fg_hat = F.avg_pool2d(fg_hat, 2)
            bg_hat = F.avg_pool2d(bg_hat, 2)
            if region is not None:
                region = F.avg_pool2d(region, 2)
        for (gf, gb), axis in zip(zip(_gradients(fg_hat), _gradients(bg_hat)), ("x", "y")):
            with torch.no_grad():
                lam_f = torch.sqrt((gb.norm() + _EPS) / (gf.norm() + _EPS))
            psi = torch.tanh(lam_f * gf.abs()) * torch.tanh(gb.abs() / lam_f)
            if region is not None:
                r = region[..., :, 1:] if axis == "x" else region[..., 1:, :]
                psi = psi * r
                count = (r.sum() * psi.shape[1]).clamp_min(1.0)
            else:
                count = torch.tensor(float(psi.numel()), device=psi.device)
            total = total + psi.square().sum().sqrt() / count.sqrt()
    return total
