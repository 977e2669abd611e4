"""Each loss term on hand-made tensors: what it measures, and what it ignores."""

import torch

from ofx_dipmatte.engine import losses as L


def _img(value, h=8, w=8, c=3):
    return torch.full((1, c, h, w), float(value))


def _mask(h=8, w=8, cols=slice(0, 4)):
    m = torch.zeros(1, 1, h, w)
    m[..., cols] = 1.0
    return m


def test_masked_mse_averages_over_region_only():
    pred, target = _img(0.0), _img(0.0)
    pred[..., :, :4] = 0.5  # error 0.5 inside the mask, none outside
    assert torch.isclose(L.masked_mse(pred, target, _mask()), torch.tensor(0.25))
    # The region's size does not dilute the term.
    assert torch.isclose(L.masked_mse(pred, target, _mask(cols=slice(0, 1))), torch.tensor(0.25))
    assert L.masked_mse(pred, target, torch.zeros(1, 1, 8, 8)) == 0


def test_reconstruction_loss_is_mse_over_all_pixels():
    assert torch.isclose(L.reconstruction_loss(_img(0.3), _img(0.1)), torch.tensor(0.04))
    assert L.reconstruction_loss(_img(0.3), _img(0.3)) == 0


def test_alpha_trimap_loss_only_sees_known_region():
    trimap = torch.full((1, 1, 8, 8), 0.5)
    trimap[..., :4] = 1.0
    known = (trimap != 0.5).float()
    alpha = trimap.clone()
    alpha[..., 4:] = 0.123  # anything in the unknown band is free
    assert L.alpha_trimap_loss(alpha, trimap, known) == 0
    alpha[..., :4] = 0.0  # but the known foreground must be 1
    assert torch.isclose(L.alpha_trimap_loss(alpha, trimap, known), torch.tensor(1.0))


def test_foreground_and_background_losses_use_their_own_regions():
    image = _img(0.5)
    fg_mask, bg_mask = _mask(cols=slice(0, 4)), _mask(cols=slice(4, 8))
    fg_hat = image.clone()
    fg_hat[..., 4:] = 0.0  # wrong only in the background region: F is free there
    assert L.foreground_loss(fg_hat, image, fg_mask) == 0
    assert torch.isclose(L.background_loss(fg_hat, image, bg_mask), torch.tensor(0.25))


def test_compositing_loss_zero_for_true_composite_and_positive_otherwise():
    alpha = torch.rand(1, 1, 8, 8)
    fg, bg = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    image = alpha * fg + (1 - alpha) * bg
    unknown = torch.ones(1, 1, 8, 8)
    assert L.compositing_loss(alpha, fg, bg, image, unknown) < 1e-12
    assert L.compositing_loss(1 - alpha, fg, bg, image, unknown) > 1e-3
    # Outside the unknown band the equation is not enforced.
    assert L.compositing_loss(1 - alpha, fg, bg, image, torch.zeros(1, 1, 8, 8)) == 0


def test_exclusion_loss_penalises_shared_edges_not_separate_ones():
    edge_x = torch.zeros(1, 3, 32, 32)
    edge_x[..., :, 16:] = 1.0  # vertical edge
    edge_y = torch.zeros(1, 3, 32, 32)
    edge_y[..., 16:, :] = 1.0  # horizontal edge
    flat = torch.full((1, 3, 32, 32), 0.5)
    shared = L.exclusion_loss(edge_x, edge_x.clone())
    separate = L.exclusion_loss(edge_x, edge_y)
    assert shared > 0.1
    assert separate < 0.05 * shared
    assert L.exclusion_loss(edge_x, flat) == 0


def test_exclusion_loss_does_not_grow_with_resolution():
    def pair(n):
        a = torch.zeros(1, 3, n, n)
        a[..., :, n // 2:] = 1.0
        return a, a.clone()
    small, large = L.exclusion_loss(*pair(32)), L.exclusion_loss(*pair(128))
    # Edge pixels are a smaller fraction of a larger image, so the RMS falls; it must not grow.
    assert large <= small


def test_exclusion_loss_region_restricts_it():
    a = torch.zeros(1, 3, 32, 32)
    a[..., :, 16:] = 1.0
    away = torch.zeros(1, 1, 32, 32)
    away[..., :, :8] = 1.0  # the shared edge is outside this region
    assert L.exclusion_loss(a, a.clone(), region=away) == 0
    assert L.exclusion_loss(a, a.clone(), region=torch.ones(1, 1, 32, 32)) > 0.1


def test_losses_have_gradients():
    alpha = torch.rand(1, 1, 8, 8, requires_grad=True)
    fg = torch.rand(1, 3, 8, 8, requires_grad=True)
    bg = torch.rand(1, 3, 8, 8, requires_grad=True)
    total = L.compositing_loss(alpha, fg, bg, torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8)) + L.exclusion_loss(fg, bg)
    total.backward()
    assert all(t.grad is not None and torch.isfinite(t.grad).all() for t in (alpha, fg, bg))
