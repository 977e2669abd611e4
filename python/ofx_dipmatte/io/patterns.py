"""Frame patterns (``plate.####.exr``, ``plate.%04d.exr``, ``plate.$F4.exr``) and frame
lists (``1001-1100``, ``1,5,10-20x2``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

# One frame token a path: a run of '#' (width = count), printf %d / %0Nd, or Houdini $F / $FN.
_TOKEN = re.compile(r"#+|%0?(\d*)d|\$F(\d*)")


@dataclass(frozen=True)
class FramePattern:
    """A path that may hold one frame-number token.

    ``#`` repeated N times, ``%0Nd`` and ``$FN`` all mean the frame number zero-padded to
    N digits (``%d``, ``$F``: no padding). A path with no token is a still: every frame
    maps to the same file.

    Example:
        >>> FramePattern("shot/plate.####.exr").path(1001)
        PosixPath('shot/plate.1001.exr')
    """

    text: str

    def __post_init__(self):
        if len(_TOKEN.findall(Path(self.text).name)) > 1:
            raise ValueError(f"{self.text}: more than one frame number token in the file name")
        if _TOKEN.search(str(Path(self.text).parent)):
            raise ValueError(f"{self.text}: frame number tokens are only allowed in the file name")

    @property
    def _match(self) -> Optional[re.Match]:
        return _TOKEN.search(self.text)

    @property
    def is_sequence(self) -> bool:
        return self._match is not None

    @property
    def padding(self) -> int:
        m = self._match
        if m is None:
            return 0
        if m.group(0).startswith("#"):
            return len(m.group(0))
        digits = m.group(1) if m.group(0).startswith("%") else m.group(2)
        return int(digits) if digits else 0

    def path(self, frame: int) -> Path:
        """The file of ``frame`` (negative frames keep their sign in front of the padding)."""
        m = self._match
        if m is None:
            return Path(self.text)
        number = f"-{abs(frame):0{self.padding}d}" if frame < 0 else f"{frame:0{self.padding}d}"
        return Path(self.text[:m.start()] + number + self.text[m.end():])

    @property
    def stem(self) -> str:
        """The file name without the frame token, its separators and the extension:
        ``plate.####.exr`` → ``plate``."""
        name = Path(self.text).name
        m = _TOKEN.search(name)
        if m is not None:
            name = name[:m.start()] + name[m.end():]
        stem = name.rsplit(".", 1)[0] if "." in name else name
        return stem.strip("._-") or "frame"

    def frames_on_disk(self) -> list[int]:
        """Frame numbers whose files exist, sorted (empty for a still)."""
        m = self._match
        if m is None:
            return []
        path = Path(self.text)
        name = path.name
        nm = _TOKEN.search(name)
        assert nm is not None  # a sequence's token is in its file name (checked when made)
        padding = self.padding
        digits = rf"-?\d{{{padding},}}" if padding else r"-?\d+"
        regex = re.compile(re.escape(name[:nm.start()]) + f"({digits})" + re.escape(name[nm.end():]) + "$")
        folder = path.parent
        if not folder.is_dir():
            return []
        frames = []
        for entry in folder.iterdir():
            found = regex.match(entry.name)
            if found:
                frames.append(int(found.group(1)))
        return sorted(set(frames))

    def __str__(self) -> str:
        return self.text


def parse_frames(spec: str) -> list[int]:
    """Frames from a list of numbers and ranges: ``1001-1100``, ``1,3,5``, ``1-10x2``
    (every 2nd), ``-5--1`` (negative frames). Sorted, without repeats.

    Raises:
        ValueError: the text is not such a list, or a range runs backwards.
    """
    frames: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        m = re.fullmatch(r"(-?\d+)(?:-(-?\d+)(?:x(\d+))?)?", part)
        if m is None:
            raise ValueError(f"--frames {spec!r}: {part!r} is not a frame, a range like 1001-1100, or 1-9x2")
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) is not None else start
        step = int(m.group(3)) if m.group(3) else 1
        if end < start or step < 1:
            raise ValueError(f"--frames {spec!r}: {part!r} runs backwards or has a zero step")
        frames.update(range(start, end + 1, step))
    return sorted(frames)
