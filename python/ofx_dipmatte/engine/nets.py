"""The Deep Image Prior "skip" U-Net (Ulyanov et al. 2018), with named output heads.

Layout per level, as in DIP's reference code: down = stride-2 3×3 conv, BN, LeakyReLU,
3×3 conv, BN, LeakyReLU; skip = 1×1 conv to a few channels, BN, LeakyReLU; up =
bilinear ×2, concatenate with the skip, BN, 3×3 conv, BN, LeakyReLU, 1×1 conv, BN,
LeakyReLU. Reflection padding throughout. Each head is a 1×1 conv and a sigmoid.
The net is fully convolutional, so one set of weights serves any input size that
is a multiple of ``2 ** levels`` (what warm start across differently-cropped frames
relies on).
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    pad = (k - 1) // 2
    layers: list[nn.Module] = []
    if pad:
        layers.append(nn.ReflectionPad2d(pad))
    layers.append(nn.Conv2d(cin, cout, k, stride=stride, bias=True))
    return nn.Sequential(*layers)


def _bn_act(ch: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(ch), nn.LeakyReLU(0.2, inplace=True)]


class _Level(nn.Module):
    """One U-Net level: skip branch, down path, (deeper levels), up path."""

    def __init__(self, cin: int, width: int, skip: int, deeper: nn.Module | None, deeper_out: int):
        super().__init__()
        self.skip = nn.Sequential(_conv(cin, skip, 1), *_bn_act(skip)) if skip > 0 else None
        self.down = nn.Sequential(
            _conv(cin, width, 3, stride=2), *_bn_act(width),
            _conv(width, width, 3), *_bn_act(width),
        )
        self.deeper = deeper
        merged = skip + (deeper_out if deeper is not None else width)
        self.up = nn.Sequential(
            nn.BatchNorm2d(merged),
            _conv(merged, width, 3), *_bn_act(width),
            _conv(width, width, 1), *_bn_act(width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.down(x)
        if self.deeper is not None:
            y = self.deeper(y)
        y = F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)
        if self.skip is not None:
            y = torch.cat([self.skip(x), y], dim=1)
        return self.up(y)


class SkipNet(nn.Module):
    """DIP skip net mapping a fixed noise tensor to one or more sigmoid heads.

    Args:
        in_channels: channels of the input noise (32 in the paper).
        heads: name → output channels, e.g. ``{"image": 3, "alpha": 1}``.
        width: channels at every level (128 in the paper).
        skip: channels of each skip branch (0 disables skips, DIP's inpainting setting).
        levels: number of down/up levels; inputs must be multiples of ``2 ** levels``.

    Forward: (N, in_channels, H, W) → dict name → (N, C_head, H, W) in (0, 1).
    """

    def __init__(self, in_channels: int, heads: dict[str, int], width: int = 128, skip: int = 4, levels: int = 5):
        super().__init__()
        self.levels = levels
        block: nn.Module | None = None
        for level in reversed(range(levels)):
            cin = in_channels if level == 0 else width
            block = _Level(cin, width, skip, block, width)
        assert block is not None, "a SkipNet needs at least one level"
        self.body: nn.Module = block
        self.heads = nn.ModuleDict({name: nn.Conv2d(width, ch, 1) for name, ch in heads.items()})

    def forward(self, noise: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.body(noise)
        # Heads in float32: alpha needs more precision than bf16's 8 bits of mantissa.
        return {name: torch.sigmoid(head(features).float()) for name, head in self.heads.items()}
