"""The matting engine: DIP nets, the six losses, one solve, and clip sessions."""

from .clean_plate import PlateStack
from .clip import ClipSession, matte
from .results import Cancelled, MatteResult, MatteStats
from .presets import PRESETS, Preset

__all__ = ["ClipSession", "MatteResult", "MatteStats", "matte", "PRESETS", "Preset", "Cancelled", "PlateStack"]
