"""Regenerate the example shipped in python/ofx_dipmatte/examples/ (synthetic, ours)."""

from pathlib import Path

import numpy as np
from scipy import ndimage

import sys
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from ofx_dipmatte.io import write_image  # noqa: E402

rng = np.random.default_rng(7)
n = 192
yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n
# A soft-edged blob with thin strands sticking out of it.
angle = np.arctan2(yy - 0.5, xx - 0.5)
radius = 0.27 + 0.03 * np.sin(angle * 3)
dist = np.hypot(yy - 0.5, xx - 0.5)
alpha = np.clip((radius - dist) * n / 3.0 + 0.5, 0, 1)
for a in rng.uniform(-np.pi, np.pi, 40):
    along = (xx - 0.5) * np.cos(a) + (yy - 0.5) * np.sin(a)
    across = -(xx - 0.5) * np.sin(a) + (yy - 0.5) * np.cos(a)
    strand = np.exp(-np.square(across * n / 0.7)) * ((along > 0.2) & (along < 0.42))
    alpha = np.maximum(alpha, 0.8 * strand)
alpha = alpha.astype(np.float32)
fg = np.stack([0.8 + 0.1 * np.sin(20 * yy), 0.55 + 0.15 * xx, 0.25 + 0.1 * np.cos(15 * xx)], axis=2)
noise = ndimage.gaussian_filter(rng.random((n, n, 3)), (6, 6, 0))
bg = np.stack([0.15 + 0.3 * yy, 0.3 + 0.2 * xx, np.full_like(xx, 0.55)], axis=2) + 0.8 * (noise - noise.mean())
image = alpha[..., None] * fg + (1 - alpha[..., None]) * bg
band = ndimage.binary_dilation((alpha > 0.02) & (alpha < 0.98), iterations=4)
trimap = np.where(band, 0.5, np.where(alpha > 0.5, 1.0, 0.0)).astype(np.float32)
trimap = np.round(trimap * 255) / 255  # 0 / 128 / 255 in an 8-bit PNG
out = Path(__file__).resolve().parents[1] / "python" / "ofx_dipmatte" / "examples"
write_image(out / "strands.image.png", np.clip(image, 0, 1), overwrite=True)
write_image(out / "strands.trimap.png", trimap, overwrite=True)
print("wrote", out)
