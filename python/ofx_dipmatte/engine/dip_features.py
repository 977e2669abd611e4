"""Per-pixel features of a Deep Image Prior net fitted to one image.

The paper's abstract: the penultimate layer of net 1 (image reconstruction + alpha from
the trimap) interpolates the trimap constraints. We fit that net briefly on the image
and the trimap's known pixels, take its last hidden layer (``width`` channels a pixel)
and keep its leading principal components, scaled to a stated spread, so they can join
colour and position in the neighbour searches of :mod:`.information_flow`: an affinity
learned from this image, not assumed.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from .alpha_solve import Stopped
from .nets import SkipNet


def fit_dip_features(image: np.ndarray, trimap: np.ndarray, components: int = 4, spread: float = 0.1,
                     width: int = 32, levels: int = 5, steps: int = 150, lr: float = 1e-2, seed: int = 0,
                     device: torch.device | str = "cpu",
                     should_stop: Optional[Callable[[], bool]] = None) -> np.ndarray:
    """H×W×``components`` features of ``image`` (H×W×3, [0, 1]) under ``trimap`` (snapped).

    Net 1 (a DIP skip net with an image and an alpha head) is fitted for ``steps`` Adam
    steps to reconstruct the image and to give the trimap's value on known pixels. Its
    last hidden layer is projected on its ``components`` leading principal directions,
    each scaled to standard deviation ``spread`` (RGB's is about 0.2 on natural images).
    Deterministic for a given ``seed`` on CPU. ``should_stop`` is polled every step
    (True raises :class:`~.alpha_solve.Stopped`).
    """
    h, w = trimap.shape
    # BatchNorm needs more than one value a channel at the deepest level: small windows
    # get fewer levels.
    levels = max(1, min(levels, int(np.log2(max(min(h, w), 2))) - 2))
    unit = 2 ** levels
    ph, pw = -h % unit, -w % unit
    device = torch.device(device)

    def tensor(a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        t = t.permute(2, 0, 1)[None] if t.ndim == 3 else t[None, None]
        return F.pad(t, (0, pw, 0, ph), mode="replicate").to(device)

    target = tensor(image)
    tri = tensor(trimap)
    known = ((tri != 0.5).float())
    known[..., h:, :] = 0
    known[..., :, w:] = 0
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = SkipNet(32, {"image": 3, "alpha": 1}, width=width, skip=4, levels=levels).to(device)
    noise = (0.1 * torch.rand(1, 32, h + ph, w + pw, generator=generator)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    for step in range(steps):
        if should_stop is not None and should_stop():
            raise Stopped(f"DIP features stopped at step {step}")
        opt.zero_grad(set_to_none=True)
        out = net(noise)
        loss = F.mse_loss(out["image"], target) + (known * (out["alpha"] - tri) ** 2).sum() / known.sum().clamp(min=1)
        loss.backward()
        opt.step()
    with torch.no_grad():
        hidden = net.body(noise)[0, :, :h, :w].float().cpu().numpy()
    flat = hidden.reshape(hidden.shape[0], -1).T.astype(np.float64)
    flat -= flat.mean(axis=0)
    _, _, vt = np.linalg.svd(flat[:: max(1, len(flat) // 20000)], full_matrices=False)
    projected = flat @ vt[:components].T
    projected *= spread / np.maximum(projected.std(axis=0), 1e-12)
    return projected.reshape(h, w, -1).astype(np.float32)
