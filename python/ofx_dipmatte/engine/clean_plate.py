"""A clean plate: the background without the subject, shot on set or painted.

Where one is given, the background behind the unknown band is known instead of
estimated, and alpha follows from each pixel's colour against it (:mod:`.refine`).
The colour estimates are what limits the default matte (docs/benchmarks.md: with the
true background it is about half closed-form's error), so this is the biggest single
gain a user can give the solver.

A plate is rarely the exact exposure of the shot (another take, a drifting light, a
different grade). It is matched to the image per channel by a gain and an offset fitted
on the trimap's known-background pixels, where both show the same background.
"""

from __future__ import annotations

import numpy as np

from ..encoding import prepare_image

#: Fewer known-background pixels than this: the plate is taken as it is.
MIN_MATCH_PIXELS = 64


def prepare_clean_plate(plate: np.ndarray, shape: tuple[int, int], image_is_float: bool) -> np.ndarray:
    """The plate (H×W×3 or ×4, like the image) validated and in the working encoding.

    Raises:
        ValueError: its size differs from the image's, or one of the two is float and
            the other integer (their encodings would differ), or as for an image.
    """
    rgb, working, is_float = prepare_image(plate, "clean plate")
    if rgb.shape[:2] != shape:
        raise ValueError(f"clean plate: size {rgb.shape[1]}×{rgb.shape[0]} does not match the image's "
                         f"{shape[1]}×{shape[0]}; give a plate of the same resolution")
    if is_float != image_is_float:
        kinds = {True: "float (scene-linear)", False: "integer (display-referred)"}
        raise ValueError(f"clean plate: it is {kinds[is_float]} and the image {kinds[image_is_float]}; "
                         "give both in the same encoding")
    return working


def match_to_image(plate: np.ndarray, image: np.ndarray, known_background: np.ndarray) -> np.ndarray:
    """``plate`` with a per-channel gain and offset that make it agree, in least squares,
    with ``image`` on the ``known_background`` pixels (H×W bool); clipped to [0, 1]."""
    if np.count_nonzero(known_background) < MIN_MATCH_PIXELS:
        return plate
    seen, target = plate[known_background], image[known_background]
    matched = np.empty_like(plate)
    for channel in range(plate.shape[2]):
        design = np.stack([seen[:, channel], np.ones(len(seen), plate.dtype)], axis=1)
        (gain, offset), *_ = np.linalg.lstsq(design, target[:, channel], rcond=None)
        matched[..., channel] = gain * plate[..., channel] + offset
    return np.clip(matched, 0.0, 1.0)

