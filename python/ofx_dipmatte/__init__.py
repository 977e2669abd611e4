"""ofx_dipmatte: training-free neural matte extraction (Deep Image Prior) for VFX.

    import ofx_dipmatte
    res = ofx_dipmatte.matte(image, trimap)          # one still
    clip = ofx_dipmatte.ClipSession()                # a shot, warm-started frame to frame
    res = clip.matte(1001, image, trimap)
"""

from .engine import PRESETS, Cancelled, ClipSession, MatteResult, MatteStats, PlateStack, Preset, matte
from .trimap import snap_trimap, trimap_from_rough_matte

__version__ = "0.1.0"

__all__ = [
    "matte", "ClipSession", "MatteResult", "MatteStats", "Preset", "PRESETS", "Cancelled", "PlateStack",
    "snap_trimap", "trimap_from_rough_matte", "__version__",
]
