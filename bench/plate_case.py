"""A synthetic plate with a hairy subject, at any size (no downloads).

The subject is an ellipse as tall as 80 % of the frame, in the middle, with a few
thousand anti-aliased curved strands (about a pixel wide) running out of it; the
background is a smooth random colour field with fine texture. The trimap's unknown band
is a ribbon around the subject: every pixel within ``band`` px of a strand or of the
body's edge. ``shift`` moves the subject (not the background) right by that many pixels,
so frame 1 of a locked-off shot is ``make_plate(..., shift=3)``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _strands_alpha(height: int, width: int, rng: np.random.Generator, centre, radii, count: int) -> np.ndarray:
    """Coverage of ``count`` curved strands drawn at 2× and box-filtered down: about
    1 px wide, anti-aliased."""
    up = 2
    hits = np.zeros((height * up, width * up), np.float32)
    cy, cx = centre
    ry, rx = radii
    angles = rng.uniform(0, 2 * np.pi, count)
    lengths = rng.uniform(0.08, 0.25, count) * height
    bends = rng.uniform(-3.0, 3.0, count) / lengths
    for angle, length, bend in zip(angles, lengths, bends):
        t = np.arange(0.0, length, 0.25)
        a = angle + bend * t
        # Start a little inside the body's edge, then walk outwards along a bending path.
        y = cy + 0.95 * ry * np.sin(angle) + np.cumsum(np.sin(a)) * 0.25
        x = cx + 0.95 * rx * np.cos(angle) + np.cumsum(np.cos(a)) * 0.25
        iy, ix = np.round(y * up).astype(int), np.round(x * up).astype(int)
        ok = (iy >= 0) & (iy < height * up) & (ix >= 0) & (ix < width * up)
        hits[iy[ok], ix[ok]] = 1.0
    hits = ndimage.maximum_filter(hits, size=2)  # 2 px at 2× = 1 px
    return hits.reshape(height, up, width, up).mean(axis=(1, 3))


def make_plate(height: int = 1080, width: int = 1920, seed: int = 0, shift: int = 0, band: int = 6,
               strands: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image float32 H×W×3 in [0, 1], trimap float32 0/0.5/1, alpha float32)."""
    rng = np.random.default_rng(seed)
    strands = strands if strands is not None else int(3 * height)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    centre = (height / 2, width / 2)
    radii = (0.4 * height, 0.25 * height)
    body = np.clip((1.0 - np.hypot((yy - centre[0]) / radii[0], (xx - centre[1]) / radii[1])) * radii[1], 0, 1)
    alpha = np.maximum(body, 0.9 * _strands_alpha(height, width, rng, centre, radii, strands))
    # The background: colour blobs at a few scales plus grain, the subject's colour warm and slowly varying.
    small = [rng.random((max(height // 32, 2), max(width // 32, 2))) for _ in range(3)]
    bg = np.stack([ndimage.zoom(s, (height / s.shape[0], width / s.shape[1]), order=3)[:height, :width]
                   for s in small], axis=-1)
    bg = (bg - bg.min()) / (bg.max() - bg.min()) * 0.55 + 0.15
    bg += rng.normal(0, 0.02, bg.shape)
    fg = np.stack([0.75 - 0.1 * yy / height, 0.5 + 0.1 * xx / width, 0.3 + 0.05 * np.sin(yy / 40.0)], axis=-1)
    if shift:
        alpha = np.roll(alpha, shift, axis=1)
        fg = np.roll(fg, shift, axis=1)
    image = np.clip(alpha[..., None] * fg + (1 - alpha[..., None]) * bg, 0, 1).astype(np.float32)
    trimap = np.zeros((height, width), np.float32)
    trimap[ndimage.binary_dilation(alpha > 0.01, iterations=band)] = 0.5
    trimap[ndimage.binary_erosion(alpha > 0.99, iterations=band)] = 1.0
    return image, trimap, alpha.astype(np.float32)
