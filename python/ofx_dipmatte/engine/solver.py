"""One solve: fit the three DIP nets to one window of one frame.

Inputs are numpy arrays of the window (working-encoded image, snapped trimap, valid
mask) and the fixed noise crops; outputs are numpy arrays of α̂, F̂, B̂ for the window
and the final loss terms. Warm start is the caller passing nets that already hold a
previous frame's weights.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Callable, cast

import numpy as np
import torch
import torch.nn.functional as F

from . import losses as L
from .nets import SkipNet
from .presets import Preset
from .results import Cancelled, FitResult, ProgressCallback

_GLOBAL_RNG_LOCK = threading.Lock()


@dataclass
class Nets:
    """The three networks of one clip."""

    image_alpha: SkipNet
    fg: SkipNet
    bg: SkipNet

    @classmethod
    def build(cls, cfg: Preset, seed: int) -> "Nets":
        """Fresh nets from ``seed``. With an alpha prior, the alpha head starts at exactly
        0.5 (zero weights), so the first alpha is the prior itself."""
        # Fork the global RNG so that building nets neither depends on nor disturbs the
        # caller's torch random state: the same seed gives the same weights anywhere.
        # The global RNG is process-wide: the lock keeps two threads (two plugin
        # instances) from seeding it in turn and building with each other's state.
        with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            image_alpha = SkipNet(cfg.noise_channels, {"image": 3, "alpha": 1}, cfg.width, cfg.skip, cfg.levels)
            fg = SkipNet(cfg.noise_channels, {"rgb": 3}, cfg.fb_width, cfg.skip, cfg.levels)
            bg = SkipNet(cfg.noise_channels, {"rgb": 3}, cfg.fb_width, cfg.skip, cfg.levels)
        if cfg.alpha_prior != "none":
            head = image_alpha.heads["alpha"]
            assert isinstance(head, torch.nn.Conv2d)
            torch.nn.init.zeros_(head.weight)
            torch.nn.init.zeros_(head.bias)  # type: ignore[arg-type]  # Conv2d(bias=True) has one
        return cls(image_alpha, fg, bg)

    def modules(self) -> tuple[SkipNet, SkipNet, SkipNet]:
        return self.image_alpha, self.fg, self.bg

    def state(self) -> list[dict[str, torch.Tensor]]:
        """A CPU copy of all weights (what warm start carries between frames)."""
        return [_cpu_copy(m.state_dict()) for m in self.modules()]

    def load(self, state: list[dict[str, torch.Tensor]]) -> None:
        for module, sd in zip(self.modules(), state):
            module.load_state_dict(sd)

    def to(self, device: torch.device, channels_last: bool) -> None:
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        for m in self.modules():
            m.to(device=device, memory_format=fmt)  # type: ignore[call-overload]  # torch's stubs lack memory_format
            m.train()  # DIP keeps BatchNorm in batch-statistics mode throughout


@dataclass
class WindowInputs:
    """Numpy inputs of one solve window (h×w)."""

    image: np.ndarray  # h×w×3 float32, working encoding
    trimap: np.ndarray  # h×w float32, 0 / 0.5 / 1
    valid: np.ndarray  # h×w bool: inside the real frame (not canvas padding)
    noise_image_alpha: torch.Tensor  # 1×C×h×w
    noise_fg: torch.Tensor  # 1×C×(h/fb_scale)×(w/fb_scale)
    noise_bg: torch.Tensor
    prior: np.ndarray | None = None  # h×w float32 alpha prior, or None


def _to_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    t = t.permute(2, 0, 1) if t.ndim == 3 else t[None]
    return t[None].to(device)


def _autocast(device_type: str, enabled: bool):
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16)


def _cpu_copy(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_cpu_copy(v) for v in obj]
    return obj


def to_numpy(t: torch.Tensor) -> np.ndarray:
    a = t.detach().float().cpu()[0].numpy()
    return a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)


def window_targets(inputs: WindowInputs, device: torch.device) -> dict[str, torch.Tensor]:
    """The window's image, trimap, masks and prior as 1×C×h×w tensors: what the losses
    compare the nets' outputs with."""
    image = _to_tensor(inputs.image, device)
    trimap = _to_tensor(inputs.trimap, device)
    valid = _to_tensor(inputs.valid.astype(np.float32), device)
    fg_mask = (trimap == 1.0).float() * valid
    bg_mask = (trimap == 0.0).float() * valid
    targets = {"image": image, "trimap": trimap, "fg_mask": fg_mask, "bg_mask": bg_mask,
               "known": fg_mask + bg_mask, "unknown": (trimap == 0.5).float() * valid}
    if inputs.prior is not None:
        # The alpha head predicts a correction to the prior in logit space.
        targets["prior"] = _to_tensor(inputs.prior, device)
        targets["prior_logit"] = torch.logit(targets["prior"].clamp(1e-3, 1 - 1e-3))
    return targets


def window_noise_tensors(inputs: WindowInputs, cfg: Preset, device: torch.device) -> list[torch.Tensor]:
    """The three nets' fixed input noise on ``device``, in the preset's memory format."""
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    return [n.to(device).contiguous(memory_format=fmt) for n in
            (inputs.noise_image_alpha, inputs.noise_fg, inputs.noise_bg)]


#: run(k, noise) → the outputs of net k (0: image + alpha, 1: F, 2: B) for that noise.
NetRunner = Callable[[int, torch.Tensor], dict]


def predict(run: NetRunner, noise: list[torch.Tensor], targets: dict[str, torch.Tensor], cfg: Preset,
            device_type: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One forward pass of the three nets: image, alpha, F and B on the window."""
    with _autocast(device_type, cfg.bf16):
        out = run(0, noise[0])
        fg = run(1, noise[1])["rgb"]
        bg = run(2, noise[2])["rgb"]
    if cfg.fb_scale > 1:
        # Low-resolution F/B: smooth in the band, so alpha must carry the detail.
        size = tuple(targets["image"].shape[-2:])
        fg = F.interpolate(fg, size=size, mode="bilinear", align_corners=False)
        bg = F.interpolate(bg, size=size, mode="bilinear", align_corners=False)
    alpha = out["alpha"].float()
    if "prior_logit" in targets:
        alpha = torch.sigmoid(targets["prior_logit"] + torch.logit(alpha, eps=1e-6))
    return out["image"].float(), alpha, fg.float(), bg.float()


def loss_terms(targets: dict[str, torch.Tensor], cfg: Preset, image_hat: torch.Tensor, alpha: torch.Tensor,
               fg: torch.Tensor, bg: torch.Tensor) -> dict[str, torch.Tensor]:
    """The six terms (and the prior's, when weighted) of one window."""
    region = targets["unknown"] if cfg.exclusion_region == "unknown" else None
    terms = {
        "image": L.reconstruction_loss(image_hat, targets["image"]),
        "alpha": L.alpha_trimap_loss(alpha, targets["trimap"], targets["known"]),
        "fg": L.foreground_loss(fg, targets["image"], targets["fg_mask"]),
        "bg": L.background_loss(bg, targets["image"], targets["bg_mask"]),
        "comp": L.compositing_loss(alpha, fg, bg, targets["image"], targets["unknown"]),
        "excl": L.exclusion_loss(fg, bg, region=region),
    }
    if "prior" in targets and cfg.weights.get("prior", 0.0) > 0:
        terms["prior"] = L.masked_mse(alpha, targets["prior"], targets["unknown"])
    return terms


def weighted_total(terms: dict[str, torch.Tensor], cfg: Preset) -> torch.Tensor:
    return cast(torch.Tensor, sum(cfg.weights.get(name, 1.0) * value for name, value in terms.items()))


def fit(
    nets: Nets,
    inputs: WindowInputs,
    cfg: Preset,
    device: torch.device,
    max_iterations: int,
    threshold: float | None,
    progress: ProgressCallback | None = None,
    optimizer_state: dict | None = None,
) -> FitResult:
    """Optimise the nets on one window. Stops when the total loss falls under
    ``threshold`` (after ``cfg.min_iterations``) or at ``max_iterations``.
    ``optimizer_state`` continues Adam from a previous frame: a fresh Adam's first
    steps move every weight by about ``lr`` whatever its gradient, which throws a
    warm-started net off the solution it starts from (measured: the loss rose 17×).

    Raises:
        Cancelled: ``progress`` returned False.
    """
    start = time.perf_counter()
    nets.to(device, cfg.channels_last)
    targets = window_targets(inputs, device)
    noise = window_noise_tensors(inputs, cfg, device)
    modules = nets.modules()

    def run(k: int, x: torch.Tensor) -> dict:
        return modules[k](x)

    params = [p for m in modules for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    if optimizer_state is not None:
        # A copy: on CPU, load_state_dict adopts the given moment tensors, and the steps
        # would change the caller's stored state (the frame it warm-starts from) in place.
        opt.load_state_dict(_cpu_copy(optimizer_state))
    stop_reason = "max_iterations"
    iteration = 0
    for iteration in range(1, max_iterations + 1):
        opt.zero_grad(set_to_none=True)
        image_hat, alpha, fg, bg = predict(run, noise, targets, cfg, device.type)
        terms = loss_terms(targets, cfg, image_hat, alpha, fg, bg)
        total = weighted_total(terms, cfg)
        if not torch.isfinite(total):
            raise FloatingPointError(f"loss became {total.item()} at iteration {iteration}; try bf16=False or a lower lr")
        total.backward()
        opt.step()
        values = {k: float(v.detach()) for k, v in terms.items()}
        values["total"] = float(total.detach())
        if progress is not None and progress(iteration, max_iterations, values) is False:
            raise Cancelled(f"solve cancelled at iteration {iteration}")
        if threshold is not None and iteration >= cfg.min_iterations and values["total"] <= threshold:
            stop_reason = "threshold"
            break
    # The outputs of the last forward pass are the ones the reported losses describe.
    return FitResult(
        alpha=to_numpy(alpha), fg=to_numpy(fg), bg=to_numpy(bg), losses=values,
        iterations=iteration, stop_reason=stop_reason, seconds=time.perf_counter() - start,
        optimizer_state=_cpu_copy(opt.state_dict()),
    )
