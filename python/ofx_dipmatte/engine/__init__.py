"""The matting engine: DIP nets, the six losses, one solve, and clip sessions."""

from .clean_plate import PlateStack
from .clip import ClipSession, matte
from .results import MatteResult, MatteStats
from .presets import PRESETS, Preset
from .solver import Cancelled

__all__ = ["ClipSession", "MatteResult", "MatteStats", "matte", "PRESETS", "Preset", "Cancelled", "PlateStack"]
