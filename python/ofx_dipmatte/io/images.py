"""Reading and writing images through OpenImageIO, with atomic writes and the metadata
a plate carries (data and display windows, pixel aspect, colour space)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import numpy as np

from .. import __version__
from ..trimap import matte_channel as trimap_matte_channel

# Bit depth written per format when the caller does not say: EXR keeps the plate's
# half or float; integer formats keep a 16-bit plate's depth and otherwise use their
# usual one.
_INTEGER_FORMATS = {".png": "uint8", ".tif": "uint16", ".tiff": "uint16", ".dpx": "uint16",
                    ".jpg": "uint8", ".jpeg": "uint8"}
_NO_ALPHA = {".jpg", ".jpeg"}


@dataclass
class ImageFile:
    """An image and the metadata worth carrying to outputs made from it.

    Attributes:
        pixels: H×W×C, float32 for float files (EXR: scene-linear, unchanged),
            uint8 / uint16 for integer files.
        channel_names: as stored, e.g. ("R", "G", "B", "A").
        stored_type: the file's pixel type: "half", "float", "uint8", "uint16", ...
        origin: the data window's (x, y).
        display_window: (x, y, width, height) of the display (full) window.
        pixel_aspect: pixel aspect ratio.
        colorspace: OpenImageIO's colour space name for the file, if it has one.
    """

    pixels: np.ndarray
    path: Path
    channel_names: tuple = ()
    stored_type: str = "float"
    origin: tuple = (0, 0)
    display_window: tuple = (0, 0, 0, 0)
    pixel_aspect: float = 1.0
    colorspace: Optional[str] = None

    @property
    def is_float(self) -> bool:
        return self.pixels.dtype.kind == "f"

    def channels(self, names: Sequence[str]) -> Optional[np.ndarray]:
        """The named channels (e.g. "RGB") stacked, or None if one is missing."""
        upper = [n.split(".")[-1].upper() for n in self.channel_names]
        try:
            index = [upper.index(n) for n in names]
        except ValueError:
            return None
        return self.pixels[..., index]

    @property
    def data_window(self) -> tuple[int, int, int, int]:
        """(x, y, width, height) of the pixels held, in the frame's coordinates."""
        return (*self.origin, self.pixels.shape[1], self.pixels.shape[0])

    @property
    def is_plain(self) -> bool:
        """No windows of its own: its pixels are the whole frame (a PNG, a JPEG, most TIFFs)."""
        return self.origin == (0, 0) and self.display_window[2:] in ((0, 0), self.pixels.shape[1::-1])

    def matte_channel(self) -> np.ndarray:
        """H×W: the channel a trimap or a rough matte is read from (:func:`~ofx_dipmatte.trimap.matte_channel`):
        the first, or A when the colour is flat."""
        alpha = self.channels("A") if self.pixels.shape[-1] > 1 else None
        return trimap_matte_channel(self.pixels, None if alpha is None else alpha[..., 0])


def read_image_file(path: "str | os.PathLike") -> ImageFile:
    """Read an image with its metadata.

    Raises:
        ValueError: the file is missing or unreadable (the message names it).
    """
    import OpenImageIO as oiio

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    # Pixels as stored: by default OpenImageIO multiplies a PNG's or TIFF's colour by its
    # (unassociated) alpha, and a plate's alpha is ignored here, or is a trimap (MLT's
    # convention): its colour would come back black where that alpha is 0.
    config = oiio.ImageSpec()
    config.attribute("oiio:UnassociatedAlpha", 1)
    inp = oiio.ImageInput.open(str(path), config)
    if inp is None:
        raise ValueError(f"{path}: cannot read image: {oiio.geterror()}")
    try:
        spec = inp.spec()
        basetype = spec.format.basetype
        want = {oiio.UINT8: oiio.UINT8, oiio.UINT16: oiio.UINT16}.get(basetype, oiio.FLOAT)
        pixels = inp.read_image(0, 0, 0, spec.nchannels, want)
        if pixels is None:
            raise ValueError(f"{path}: cannot read pixels: {inp.geterror()}")
        colorspace = spec.getattribute("oiio:ColorSpace")
        return ImageFile(
            pixels=pixels if pixels.ndim == 3 else pixels[..., None],
            path=path,
            channel_names=tuple(spec.channelnames),
            stored_type=str(spec.format),
            origin=(spec.x, spec.y),
            display_window=(spec.full_x, spec.full_y, spec.full_width, spec.full_height),
            pixel_aspect=float(spec.getattribute("PixelAspectRatio") or 1.0),
            colorspace=colorspace if isinstance(colorspace, str) and colorspace else None,
        )
    finally:
        inp.close()


def aligned_to(image: ImageFile, plate: ImageFile) -> Optional[ImageFile]:
    """``image`` (a trimap, a matte, a clean plate) on ``plate``'s data window, each pixel
    where it lies in the frame, and 0 where ``image`` holds no pixels: outside its data
    window an EXR is empty, as an OFX host's image is outside its bounds (a Nuke render's
    bounding box, a Roto's). None when the two are not of one frame (display windows that
    differ), except that a plain image (:attr:`ImageFile.is_plain`) the size of the
    plate's pixels covers them pixel for pixel.
    """
    target_x, target_y, width, height = plate.data_window
    if image.is_plain and image.pixels.shape[:2] == (height, width):
        return image
    if image.display_window != plate.display_window:
        return None
    source_x, source_y, source_w, source_h = image.data_window
    pixels = np.zeros((height, width, image.pixels.shape[2]), image.pixels.dtype)
    x0, x1 = max(target_x, source_x), min(target_x + width, source_x + source_w)
    y0, y1 = max(target_y, source_y), min(target_y + height, source_y + source_h)
    if x1 > x0 and y1 > y0:
        pixels[y0 - target_y:y1 - target_y, x0 - target_x:x1 - target_x] = \
            image.pixels[y0 - source_y:y1 - source_y, x0 - source_x:x1 - source_x]
    return replace(image, pixels=pixels, origin=plate.origin)


def covers(image: ImageFile, plate: ImageFile) -> bool:
    """Whether ``image``'s pixels, placed as :func:`aligned_to` places them, hold every
    pixel of ``plate``'s data window."""
    if image.is_plain and image.pixels.shape[:2] == plate.pixels.shape[:2]:
        return True
    x, y, w, h = image.data_window
    px, py, pw, ph = plate.data_window
    return x <= px and y <= py and x + w >= px + pw and y + h >= py + ph


def read_image(path: "str | os.PathLike") -> np.ndarray:
    """Read an image's pixels as H×W×C (see :class:`ImageFile` for the types)."""
    return read_image_file(path).pixels


def _file_type(path: Path, like: Optional[ImageFile], exr_type: Optional[str]) -> str:
    ext = path.suffix.lower()
    if ext == ".exr":
        return exr_type or ("half" if like is not None and like.stored_type == "half" else "float")
    default = _INTEGER_FORMATS.get(ext)
    if default is None:
        return "float"  # formats we do not know: let OpenImageIO pick the nearest it supports
    if like is not None and (like.stored_type == "uint16" or like.is_float) and default == "uint8" \
            and ext not in _NO_ALPHA:
        return "uint16"
    return default


def write_image(path: "str | os.PathLike", pixels: np.ndarray, overwrite: bool = False,
                channel_names: "Sequence[str] | None" = None, like: Optional[ImageFile] = None,
                exr_type: Optional[str] = None, colour: bool = True, straight: bool = False,
                attributes: Optional[Mapping[str, Union[str, int, float]]] = None) -> Path:
    """Write H×W or H×W×C pixels atomically (temporary file, then rename). Float pixels are
    written as they are; uint8 and uint16 ones are read as 0–1 (divided by 255 or 65535).
    The file's ``Software`` is ``ofx_dipmatte`` and its release; ``attributes`` are added to
    its metadata (EXR keeps them all; other formats what they can hold).

    EXR is half or float (``exr_type``; default: half when ``like`` is a half EXR,
    else float). PNG is 8-bit (16-bit when ``like`` is 16-bit or float), TIFF and DPX
    16-bit, JPEG 8-bit; integer formats clamp to 0–1. From ``like`` (the plate), the data
    and display windows and pixel aspect are kept, and the colour space too when
    ``colour`` (not for alpha-only outputs). ``straight``: the colour is not premultiplied
    by the alpha channel, and formats that store it so (PNG, TIFF) get it as it is;
    otherwise it is premultiplied, and PNG stores it divided by alpha, as PNG holds colour.
    EXR stores either as given.

    Raises:
        FileExistsError: the file exists and ``overwrite`` is False.
        ValueError: the format cannot hold the channels, or OpenImageIO could not write it.
    """
    import OpenImageIO as oiio

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists; pass --overwrite to replace it")
    pixels = np.asarray(pixels)
    if np.issubdtype(pixels.dtype, np.integer):  # an 8- or 16-bit picture, not values of 0–255
        pixels = pixels / np.float32(np.iinfo(pixels.dtype).max)
    pixels = pixels.astype(np.float32, copy=False)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    h, w, c = pixels.shape
    if path.suffix.lower() in _NO_ALPHA and c not in (1, 3):
        raise ValueError(f"{path}: JPEG holds 1 or 3 channels, not {c}: write this output as EXR, PNG or TIFF")
    file_type = _file_type(path, like, exr_type)
    spec = oiio.ImageSpec(w, h, c, {"half": oiio.HALF, "float": oiio.FLOAT, "uint8": oiio.UINT8,
                                    "uint16": oiio.UINT16}[file_type])
    if channel_names:
        spec.channelnames = tuple(channel_names)
    if like is not None:
        spec.x, spec.y = like.origin
        if like.display_window[2] > 0 and like.display_window[3] > 0:
            spec.full_x, spec.full_y, spec.full_width, spec.full_height = like.display_window
        spec.attribute("PixelAspectRatio", float(like.pixel_aspect))
        if colour and like.colorspace:
            spec.attribute("oiio:ColorSpace", like.colorspace)
    if straight:
        spec.attribute("oiio:UnassociatedAlpha", 1)
    spec.attribute("Software", f"ofx_dipmatte {__version__}")
    for name, value in (attributes or {}).items():
        spec.attribute(name, value)
    if file_type in ("uint8", "uint16"):
        pixels = np.clip(pixels, 0.0, 1.0)

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; outputs are ordinary files
    try:
        out = oiio.ImageOutput.create(tmp)
        if out is None or not out.open(tmp, spec):
            raise ValueError(f"{path}: cannot write: {oiio.geterror()}")
        ok = out.write_image(pixels)
        out.close()
        if not ok:
            raise ValueError(f"{path}: cannot write: {out.geterror()}")
        if not overwrite and path.exists():  # appeared while we wrote: keep theirs
            raise FileExistsError(f"{path}: exists; pass --overwrite to replace it")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
