"""Files: OpenImageIO reads and atomic writes (:mod:`.images`), frame patterns and frame
lists (:mod:`.patterns`)."""

from .images import ImageFile, aligned_to, covers, read_image, read_image_file, write_image
from .patterns import FramePattern, parse_frames

__all__ = ["ImageFile", "aligned_to", "covers", "read_image", "read_image_file", "write_image", "FramePattern", "parse_frames"]
