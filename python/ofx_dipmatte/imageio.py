"""Reading and writing images through OpenImageIO, with atomic writes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def read_image(path: "str | os.PathLike") -> np.ndarray:
    """Read an image as H×W×C in its stored type class: float32 for float files
    (EXR: scene-linear, unchanged), uint8/uint16 for integer files.

    Raises:
        ValueError: the file is missing or unreadable (the message names it).
    """
    import OpenImageIO as oiio

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise ValueError(f"{path}: cannot read image: {oiio.geterror()}")
    try:
        fmt = inp.spec().format
        want = {oiio.UINT8: oiio.UINT8, oiio.UINT16: oiio.UINT16}.get(fmt.basetype, oiio.FLOAT)
        pixels = inp.read_image(0, 0, 0, inp.spec().nchannels, want)
    finally:
        inp.close()
    if pixels is None:
        raise ValueError(f"{path}: cannot read pixels")
    return pixels if pixels.ndim == 3 else pixels[..., None]


def write_image(path: "str | os.PathLike", pixels: np.ndarray, overwrite: bool = False,
                channel_names: "list[str] | None" = None) -> Path:
    """Write H×W or H×W×C float pixels atomically (temporary file, then rename).

    EXR files are written as 32-bit float; other formats take OpenImageIO's default
    for the extension (e.g. 8-bit PNG, values clamped to 0–1).

    Raises:
        FileExistsError: the file exists and ``overwrite`` is False.
        ValueError: OpenImageIO could not write it.
    """
    import OpenImageIO as oiio

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists; pass overwrite=True (CLI: --overwrite) to replace it")
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    h, w, c = pixels.shape
    is_exr = path.suffix.lower() == ".exr"
    spec = oiio.ImageSpec(w, h, c, oiio.FLOAT if is_exr else oiio.UINT8)
    if channel_names:
        spec.channelnames = tuple(channel_names)
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
        ok = out.write_image(pixels if is_exr else np.clip(pixels, 0.0, 1.0))
        out.close()
        if not ok:
            raise ValueError(f"{path}: cannot write: {out.geterror()}")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
