"""A clean plate: the background without the subject, shot on set or painted.

Where one is given, the background behind the unknown band is known instead of
estimated, and alpha follows from each pixel's colour against it (:mod:`.refine`).
The colour estimates are what limits the default matte (docs/benchmarks.md: with the
true background it is about half closed-form's error), so this is the biggest single
gain a user can give the solver.

A plate may have holes (an RGBA plate whose alpha is 0 where it does not show the
background, e.g. one stacked from a shot's frames): there B is estimated as without one.

A plate is rarely the exact exposure of the shot (another take, a drifting light, a
different grade). It is matched to the image per channel by a gain and an offset fitted
on the trimap's known-background pixels, where both show the same background.
"""

from __future__ import annotations

import numpy as np

from ..encoding import prepare_image
from ..trimap import to_unit_float

#: Fewer known-background pixels than this: the plate is taken as it is.
MIN_MATCH_PIXELS = 64


def prepare_clean_plate(plate: np.ndarray, shape: tuple[int, int],
                        image_is_float: bool, bounded: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The plate (H×W×3, or ×4 whose alpha says where it holds the background: a plate
    with holes) validated, in the image's working encoding (``bounded``: see
    :func:`~ofx_dipmatte.encoding.prepare_image`), and the H×W bool of the pixels it
    covers (alpha at least 0.5; all of them for RGB).

    Raises:
        ValueError: its size differs from the image's, or one of the two is float and
            the other integer (their encodings would differ), or as for an image.
    """
    rgb, working, is_float = prepare_image(plate, "clean plate", bounded)
    if rgb.shape[:2] != shape:
        raise ValueError(f"clean plate: size {rgb.shape[1]}×{rgb.shape[0]} does not match the image's "
                         f"{shape[1]}×{shape[0]}; give a plate of the same resolution")
    if is_float != image_is_float:
        kinds = {True: "float (scene-linear)", False: "integer (display-referred)"}
        raise ValueError(f"clean plate: it is {kinds[is_float]} and the image {kinds[image_is_float]}; "
                         "give both in the same encoding")
    plate = np.asarray(plate)
    covered = np.ones(shape, bool)
    if plate.shape[2] == 4:
        covered = to_unit_float(plate[..., 3], "clean plate alpha") >= 0.5
        if not covered.any():
            raise ValueError("clean plate: its alpha is 0 everywhere, so it covers nothing; give it alpha 1 "
                             "where it shows the background (or no alpha)")
    return working, covered


def match_to_image(plate: np.ndarray, image: np.ndarray, known_background: np.ndarray) -> np.ndarray:
    """``plate`` with a per-channel gain and offset that make it agree, in least squares,
    with ``image`` on the ``known_background`` pixels (H×W bool); clipped to [0, 1] (to the
    image's brightest value, where that is above 1)."""
    if np.count_nonzero(known_background) < MIN_MATCH_PIXELS:
        return plate
    seen, target = plate[known_background], image[known_background]
    matched = np.empty_like(plate)
    for channel in range(plate.shape[2]):
        design = np.stack([seen[:, channel], np.ones(len(seen), plate.dtype)], axis=1)
        (gain, offset), *_ = np.linalg.lstsq(design, target[:, channel], rcond=None)
        matched[..., channel] = gain * plate[..., channel] + offset
    return np.clip(matched, 0.0, max(1.0, float(image.max())))



#: Spread (RMS over the plate, 0–1 units) of the frames' background around their mean
#: above which the background is not the same in every frame: grain is a few hundredths,
#: a moving camera or a changing light far more.
MOVING_SPREAD = 0.05


class PlateStack:
    """A clean plate stacked from a locked-off shot: per pixel, the mean of the frames
    whose trimap says background there (the mean also averages the grain away). Frames
    are added one at a time, so a long shot needs memory for three frames, not all.

        stack = PlateStack()
        for image, trimap in frames:
            stack.add(image, trimap)
        rgba = stack.plate()       # alpha 1 where some frame showed the background

    Integer frames (8 or 16 bit) give a 16-bit plate, float frames a float one: the kind
    :func:`ofx_dipmatte.matte` wants the plate in.
    """

    def __init__(self) -> None:
        self._count: np.ndarray | None = None
        self._mean: np.ndarray | None = None
        self._square: np.ndarray | None = None  # sum of squared deviations (Welford)
        self.frames = 0
        self._integer = False

    def add(self, image: np.ndarray, trimap: np.ndarray) -> None:
        """One frame: H×W×3 (or ×4) colour, as given to ``matte``, and its trimap."""
        image = np.asarray(image)
        self._integer = not np.issubdtype(image.dtype, np.floating)
        colour = to_unit_float(image[..., :3], "frame").astype(np.float64)
        seen = np.asarray(trimap) == 0.0
        if seen.shape != colour.shape[:2]:
            raise ValueError(f"frame {self.frames}: the trimap is {seen.shape[1]}×{seen.shape[0]} but the image "
                             f"{colour.shape[1]}×{colour.shape[0]}; give them at the same resolution")
        if self._count is None:
            self._count = np.zeros(seen.shape, np.int64)
            self._mean = np.zeros(colour.shape)
            self._square = np.zeros(colour.shape)
        if colour.shape != self._mean.shape:
            raise ValueError(f"frame {self.frames}: size {colour.shape[1]}×{colour.shape[0]} differs from the "
                             f"first frame's {self._mean.shape[1]}×{self._mean.shape[0]}")
        self._count[seen] += 1
        delta = colour[seen] - self._mean[seen]
        self._mean[seen] += delta / self._count[seen][:, None]
        self._square[seen] += delta * (colour[seen] - self._mean[seen])
        self.frames += 1

    def plate(self) -> np.ndarray:
        """H×W×4: the mean background and, as alpha, 1 where any frame showed it; uint16
        for integer frames, float32 for float ones."""
        if self._count is None:
            raise ValueError("no frames were added")
        covered = self._count > 0
        rgba = np.dstack([np.where(covered[..., None], self._mean, 0.0), covered])
        if self._integer:
            return np.round(np.clip(rgba, 0.0, 1.0) * 65535).astype(np.uint16)
        return rgba.astype(np.float32)

    def coverage(self) -> float:
        """The share of the frame some frame showed as background."""
        return float((self._count > 0).mean()) if self._count is not None else 0.0

    def spread(self) -> float:
        """RMS spread of the frames around the plate, over pixels seen at least twice:
        about the grain for a locked-off shot; see :data:`MOVING_SPREAD`."""
        if self._count is None:
            return 0.0
        twice = self._count > 1
        if not twice.any():
            return 0.0
        variance = self._square[twice].sum(axis=-1) / (self._count[twice] - 1)
        return float(np.sqrt(variance.mean()))
