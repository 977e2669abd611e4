"""ofx_dipmatte: training-free neural matte extraction (Deep Image Prior) for VFX.

    import ofx_dipmatte
    res = ofx_dipmatte.matte(image, trimap)          # one still
    clip = ofx_dipmatte.ClipSession()                # a shot, warm-started frame to frame
    res = clip.matte(1001, image, trimap)
"""

import typing as _typing

__version__ = "0.1.0"

__all__ = [
    "matte", "ClipSession", "MatteResult", "MatteStats", "Preset", "PRESETS", "Cancelled", "PlateStack",
    "snap_trimap", "trimap_from_rough_matte", "__version__",
]

# The engine (torch) is imported on first use, not with the package: `ofx-dipmatte doctor`
# and `install-plugin` must run, and say what is wrong, when torch itself does not import.
_ENGINE_NAMES = ("matte", "ClipSession", "MatteResult", "MatteStats", "Preset", "PRESETS", "Cancelled", "PlateStack")
_FROM = {name: ".engine" for name in _ENGINE_NAMES} | {"snap_trimap": ".trimap", "trimap_from_rough_matte": ".trimap"}


def __getattr__(name: str):
    if name in _FROM:
        import importlib

        value = getattr(importlib.import_module(_FROM[name], __name__), name)
        globals()[name] = value  # once
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if _typing.TYPE_CHECKING:
    from .engine import PRESETS, Cancelled, ClipSession, MatteResult, MatteStats, PlateStack, Preset, matte
    from .trimap import snap_trimap, trimap_from_rough_matte
