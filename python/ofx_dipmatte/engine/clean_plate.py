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

from dataclasses import dataclass

import numpy as np

from ..encoding import grey_to_rgb, prepare_image
from ..trimap import snap_trimap, to_unit_float
from ._exposure_match import exposure_sums, matched_rms
from .background_motion import MOVING_SHIFT, background_shift, track_background
from .colour_norms import channel_sum
from .exposure import difference_scale
from .frame_warp import Motion

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
    plate = grey_to_rgb(plate)  # a grey plate: its grey in every colour channel
    rgb, working, is_float = prepare_image(plate, "clean plate", bounded)
    if rgb.shape[:2] != shape:
        raise ValueError(f"clean plate: size {rgb.shape[1]}×{rgb.shape[0]} does not match the image's "
                         f"{shape[1]}×{shape[0]}; give a plate of the same resolution")
    if is_float != image_is_float:
        kinds = {True: "float (scene-linear)", False: "integer (display-referred)"}
        raise ValueError(f"clean plate: it is {kinds[is_float]} and the image {kinds[image_is_float]}; "
                         "give both in the same encoding")
    covered = np.ones(shape, bool)
    if plate.shape[2] == 4:
        covered = to_unit_float(plate[..., 3], "clean plate alpha") >= 0.5
        if not covered.any():
            raise ValueError("clean plate: its alpha is 0 everywhere, so it covers nothing; give it alpha 1 "
                             "where it shows the background (or no alpha)")
    return working, covered


def match_to_image(plate: np.ndarray, image: np.ndarray, known_background: np.ndarray) -> np.ndarray:
    """``plate`` (H×W×3) with a per-channel gain and offset that make it agree, in least
    squares, with ``image`` (H×W×3) on the ``known_background`` pixels (H×W bool); clipped
    to [0, 1] (to the image's brightest value, where that is above 1)."""
    line = exposure_line(plate, image, known_background)
    if line is None:
        return plate
    gain, offset = line
    matched = plate * gain + offset
    return np.clip(matched, 0.0, max(1.0, float(image.max()))).astype(plate.dtype, copy=False)


#: A pixel whose matched colour lies further from the frame's than this many times the RMS
#: over all of them is left out of the exposure match and of a shot's disagreement: a
#: sparkle, a firefly, a bird flying past. Grain and a moved camera spread over every pixel.
#: One pixel at 4.0 in a 72² shot's known background skewed the least-squares line, and
#: the carried background started over on two frames (SAD 80 → 129, 65 → 132).
OUTLIER_RMS = 4.0


def exposure_line(plate: np.ndarray, image: np.ndarray, known_background: np.ndarray,
                  sums: tuple | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """The per-channel gain and offset (float32) of :func:`match_to_image`: the least-squares
    line from ``plate`` to ``image`` (H×W×3 float32 each) over ``known_background``, less
    the pixels whose colours lie more than :data:`OUTLIER_RMS` times the RMS apart; None
    where it holds fewer than :data:`MIN_MATCH_PIXELS` pixels. ``sums``: those pixels'
    :func:`exposure_sums`, if already taken (the line falls back to them).

    The pixels apart are told from the colours as they are, not from a first fit: a stray
    bright pixel in the plate pulls a least-squares line through itself (on a stack holding
    a sparkle of 100, the gain fell to about 0.01), and then lies near it."""
    as_is = (np.ones(3, np.float32), np.zeros(3, np.float32))
    limit = OUTLIER_RMS * matched_rms(plate, image, known_background, *as_is, np.inf)
    line = _least_squares_line(exposure_sums(plate, image, known_background, *as_is, limit))
    if line is not None:
        return line
    return _least_squares_line(sums if sums is not None else exposure_sums(plate, image, known_background))


def _least_squares_line(sums: tuple) -> tuple[np.ndarray, np.ndarray] | None:
    """Per channel, the least-squares gain and offset from :func:`exposure_sums`; None for
    fewer than :data:`MIN_MATCH_PIXELS` pixels."""
    count, s_seen, s_target, s_cross, s_square, _ = sums
    if count < MIN_MATCH_PIXELS:
        return None
    # The line from the sums, in double precision (a kernel sums the pixels where the mask
    # holds, without gathering them: a 4K frame's millions of pixels).
    mean_seen = np.asarray(s_seen) / count
    mean_target = np.asarray(s_target) / count
    covariance = np.asarray(s_cross) / count - mean_seen * mean_target
    variance = np.asarray(s_square) / count - mean_seen ** 2
    flat = variance <= 1e-12 * np.maximum(mean_seen ** 2, 1.0)  # a flat channel: an offset only
    gain = np.where(flat, 1.0, covariance / np.where(flat, 1.0, variance))
    offset = mean_target - gain * mean_seen
    return gain.astype(np.float32), offset.astype(np.float32)


#: Spread (RMS over the plate, 0–1 units) of the frames' background around their mean
#: above which the background is not the same in every frame: grain is a few hundredths,
#: a moving camera or a light that changes across the frame far more (a change of the
#: whole frame's exposure is matched away as each frame is added).
MOVING_SPREAD = 0.05

#: A solved frame's band pixels whose alpha is at most this show their background almost
#: bare: B = (I − αF)/(1 − α) is off by at most α/(1 − α) times the foreground's error.
SOLVED_BACKGROUND_ALPHA = 0.05


def _in_kind(values: np.ndarray, integer: bool) -> np.ndarray:
    """float32 ``values`` as a plate of integer frames holds them (16 bits, 0–1 clipped)
    or as they are."""
    if not integer:
        return values
    return np.round(np.clip(values, 0.0, 1.0) * np.float32(65535)).astype(np.uint16)


@dataclass(frozen=True)
class SolvedBackground:
    """What one solved frame adds to a :class:`PlateStack`: its nearly bare band pixels
    (flat indices into the frame), their weights (1 − α)² and their background colours."""

    index: np.ndarray       # int32, N
    weight: np.ndarray      # float32, N
    background: np.ndarray  # float32, N×3

    def arrays(self) -> dict[str, np.ndarray]:
        """The record as named arrays (for ``np.savez``); :meth:`from_arrays` reads them."""
        return {"index": self.index, "weight": self.weight, "background": self.background}

    @classmethod
    def from_arrays(cls, arrays) -> "SolvedBackground":
        return cls(np.asarray(arrays["index"], np.int32), np.asarray(arrays["weight"], np.float32),
                   np.asarray(arrays["background"], np.float32).reshape(-1, 3))


@dataclass(frozen=True)
class MatchedFrame:
    """A frame :meth:`PlateStack.begin_add` matched to the stack's exposure, waiting for its solve."""

    colour: np.ndarray  # H×W×3 float32, at the stack's exposure
    band: np.ndarray    # H×W bool, its trimap's unknown pixels
    where: str          # which frame, for messages


class PlateStack:
    """A clean plate stacked from a locked-off shot. Per pixel it is the mean of the
    frames whose trimap says background there (the mean also averages the grain away).
    Where no trimap ever does, but a first solve of the shot found the pixel nearly bare
    (alpha at most :data:`SOLVED_BACKGROUND_ALPHA`) in some frames, it is their background
    under that matte, each frame weighted by (1 − α)². A subject that moves uncovers most
    of its band that way: on the dev clip the trimaps alone cover 37 % of the band, with
    the first solve's mattes 86 %. Frames are added one at a time, so a long shot
    needs memory for a few frames, not all. Each frame is added at the stack's exposure
    (a gain and offset per channel fitted on the background it shares with the frames
    before), so a light that rises or falls over the shot leaves the plate consistent.

        stack = PlateStack()
        for image, trimap in frames:
            stack.add(image, trimap)
        rgba = stack.plate()       # alpha 1 where some frame showed the background

        # better, after a first solve of the shot (res = ClipSession.matte(...) per frame):
        stack.add(image, trimap, alpha=res.alpha, foreground=res.foreground)

    Integer frames (8 or 16 bit) give a 16-bit plate, float frames a float one: the kind
    :func:`ofx_dipmatte.matte` wants the plate in.
    """

    def __init__(self) -> None:
        # Allocated at the first frame's size (empty until then).
        self._count = np.zeros((0, 0), np.int32)  # frames whose trimap showed the background
        self._mean = np.zeros((0, 0, 3), np.float32)
        self._square = np.zeros((0, 0, 3), np.float32)  # sum of squared deviations (Welford)
        self._weight = np.zeros((0, 0), np.float32)  # solved band pixels: their weights' sum
        self._solved = np.zeros((0, 0, 3), np.float32)  # and weighted sum of their backgrounds
        self.frames = 0
        self._integer = False
        self.last_solved: SolvedBackground | None = None  # what the last add with a solve added
        self.largest_shift = 0.0  # pixels: the most a frame given to add() had moved (shift())

    def add(self, image: np.ndarray, trimap: np.ndarray, alpha: np.ndarray | None = None,
            foreground: np.ndarray | None = None, known: bool = True) -> None:
        """One frame: H×W×3 (or ×4) colour, as given to ``matte``, and its trimap; with a
        first solve's ``alpha`` (H×W) and straight ``foreground`` (H×W×3, as
        :class:`~ofx_dipmatte.MatteResult` gives them), its nearly bare band pixels too.
        ``known=False``: the frame's trimap background was added before (without a solve);
        only the solve's bare pixels are added now, and the frame is not counted again."""
        if (alpha is None) != (foreground is None):
            raise ValueError(f"frame {self.frames}: give a first solve's alpha and foreground together (or neither)")
        solve = None
        if alpha is not None and foreground is not None:  # checked before anything is stacked
            solve = self._solve_checked(alpha, foreground, np.shape(image), f"frame {self.frames}")
        if known and self.frames:  # a camera that drifts: the stack would misplace the detail
            self.largest_shift = max(self.largest_shift, self.shift(image, trimap) or 0.0)
        matched = self.begin_add(image, trimap, known)
        if solve is not None:
            self._stack_solved(matched, *solve)

    def begin_add(self, image: np.ndarray, trimap: np.ndarray, known: bool = True) -> "MatchedFrame":
        """:meth:`add`'s part that needs no solve: the frame matched to the stack's exposure
        and, with ``known``, its trimap's background stacked. A :class:`~.clip.ClipSession`
        does it while the frame is being solved (its solve reads the plate taken before);
        :meth:`finish_add` then adds the solve's bare pixels from the frame it returns."""
        image = np.asarray(image)
        self._integer = not np.issubdtype(image.dtype, np.floating)
        colour = to_unit_float(image[..., :3], "frame").astype(np.float32)
        trimap = snap_trimap(trimap)  # as matte reads it: near-0 values are background too
        seen = trimap == 0.0
        where = f"frame {self.frames}"
        if seen.shape != colour.shape[:2]:
            raise ValueError(f"{where}: the trimap is {seen.shape[1]}×{seen.shape[0]} but the image "
                             f"{colour.shape[1]}×{colour.shape[0]}; give them at the same resolution")
        if self._count.size == 0:  # float32 and int32: a 4K stack is 44 bytes a pixel (365 MB)
            self._count = np.zeros(seen.shape, np.int32)
            self._mean = np.zeros(colour.shape, np.float32)
            self._square = np.zeros(colour.shape, np.float32)
            self._weight = np.zeros(seen.shape, np.float32)  # sums of at most a shot's frames
            self._solved = np.zeros(colour.shape, np.float32)
        if colour.shape != self._mean.shape:
            raise ValueError(f"{where}: size {colour.shape[1]}×{colour.shape[0]} differs from the "
                             f"first frame's {self._mean.shape[1]}×{self._mean.shape[0]}")
        # Every frame at the stack's exposure (a gain and offset per channel, fitted where
        # both show the background): under a light that drifts, each pixel would otherwise
        # get the exposure of whichever frames showed it, which no one match can undo.
        colour = match_to_image(colour, self._mean, seen & (self._count > 0))
        matched = MatchedFrame(colour, trimap == 0.5, where)
        if not known:
            return matched
        # Welford's update where the trimap shows the background, computed over the whole
        # frame (zero elsewhere): at 4K faster than gathering and scattering those pixels.
        self._count += seen
        delta = (colour - self._mean) * seen[..., None]
        # The count as float32: divided by int32, a frame-sized array went through float64.
        step = delta / np.maximum(self._count, 1).astype(np.float32)[..., None]
        self._mean += step
        self._square += delta * (delta - step)  # (x − old mean)(x − new mean)
        self.frames += 1
        return matched

    @staticmethod
    def _solve_checked(alpha: np.ndarray, foreground: np.ndarray, shape: tuple[int, ...],
                       where: str) -> tuple[np.ndarray, np.ndarray]:
        """A solve's alpha and straight RGB foreground as float32, for a frame of ``shape``
        (H, W); ValueError when they are of another size or not finite."""
        alpha = np.asarray(alpha, dtype=np.float32)
        foreground = np.asarray(foreground, dtype=np.float32)[..., :3]
        if alpha.shape != shape[:2] or foreground.shape != (*shape[:2], 3):
            raise ValueError(f"{where}: the first solve's alpha and foreground must be the image's size "
                             f"{shape[1]}×{shape[0]} (alpha H×W, foreground H×W×3)")
        if not (np.isfinite(alpha).all() and np.isfinite(foreground).all()):
            raise ValueError(f"{where}: the first solve's alpha or foreground has NaN or infinite values")
        return alpha, foreground

    def finish_add(self, matched: "MatchedFrame", alpha: np.ndarray, foreground: np.ndarray) -> None:
        """The bare band pixels of a solve of the frame :meth:`begin_add` matched."""
        self._stack_solved(matched, *self._solve_checked(alpha, foreground, matched.colour.shape, matched.where))

    def _stack_solved(self, matched: "MatchedFrame", alpha: np.ndarray, foreground: np.ndarray) -> None:
        """:meth:`finish_add` with ``alpha`` and ``foreground`` checked (:meth:`_solve_checked`)."""
        colour, band = matched.colour, matched.band
        bare = band & (alpha <= SOLVED_BACKGROUND_ALPHA)
        a = np.clip(alpha[bare], 0.0, SOLVED_BACKGROUND_ALPHA)[:, None]
        background = (colour[bare] - a * foreground[bare]) / (1.0 - a)
        ceiling = max(1.0, float(colour.max()))
        self.last_solved = SolvedBackground(np.flatnonzero(bare).astype(np.int32), (1.0 - a[:, 0]) ** 2,
                                            np.clip(background, 0.0, ceiling).astype(np.float32))
        self.add_solved(self.last_solved)

    def add_solved(self, solved: "SolvedBackground") -> None:
        """Add the bare band pixels one solve found (as :meth:`add` with a solve does;
        ``last_solved`` after it): e.g. a record of a frame solved in an interrupted run."""
        if self._weight.size == 0 or int(solved.index.max(initial=-1)) >= self._weight.size:
            raise ValueError("the solved background is of another frame size than the stack")
        weight = solved.weight.astype(np.float32)
        self._weight.ravel()[solved.index] += weight
        self._solved.reshape(-1, 3)[solved.index] += weight[:, None] * solved.background

    def _covered(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixels the trimaps showed, and the others a first solve found bare (about one
        bare frame's weight: (1 − α)² ≥ 0.9 at α ≤ 0.05)."""
        known = self.shown()
        return known, ~known & (self._weight >= 0.5)

    def plate(self) -> np.ndarray:
        """H×W×4: the mean background and, as alpha, 1 where any frame showed it (or a
        first solve found it bare); uint16 for integer frames, float32 for float ones."""
        if self._count.size == 0:
            raise ValueError("no frames were added")
        known, solved = self._covered()
        weight = np.maximum(self._weight, np.float32(1e-12))
        rgba = np.empty((*known.shape, 4), np.uint16 if self._integer else np.float32)
        # Channel by channel into the plate's own kind: at 4K frame-sized float copies of
        # all channels at once took 1.1 s a carried frame.
        for channel in range(3):
            colour = np.where(known, self._mean[..., channel], np.float32(0.0))
            colour = np.where(solved, self._solved[..., channel] / weight, colour)
            rgba[..., channel] = _in_kind(colour, self._integer)
        rgba[..., 3] = _in_kind((known | solved).astype(np.float32), self._integer)
        return rgba

    def shown(self) -> np.ndarray:
        """H×W bool: the pixels some frame's trimap showed as background (not only a
        first solve's estimate); all False before any frame."""
        return self._count > 0

    def coverage(self) -> float:
        """The share of the frame the plate covers (alpha 1)."""
        if self._count.size == 0:
            return 0.0
        known, solved = self._covered()
        return float((known | solved).mean())

    def unusable(self) -> str | None:
        """Why the plate would not serve the shot's frames, or None when it would: the
        frames' background moves (:meth:`spread` above :data:`MOVING_SPREAD`, or a frame
        given to :meth:`add` lay :data:`~.background_motion.MOVING_SHIFT` px or more off
        the frames before it: a drifting camera), or it covers nothing."""
        spread = self.spread()
        if spread > MOVING_SPREAD:
            return (f"the background differs between frames (spread {spread:.3f}): a moving camera or a "
                    "light that changes across the frame, so a stacked plate would not match")
        if self.largest_shift > MOVING_SHIFT:
            return (f"the background moved by {self.largest_shift:.2f} px or more between frames: a drifting "
                    "camera, so a stacked plate would blur and misplace the background's detail")
        if self.coverage() == 0.0:
            return ("no frame shows any background (no trimap background, no band pixel found bare), so the "
                    "plate would cover nothing")
        return None

    def disagreement(self, image: np.ndarray, trimap: np.ndarray) -> float | None:
        """How far ``image``'s known background (its ``trimap``'s 0) is from the plate where
        earlier trimaps showed the background too: RMS over those pixels, 0–1 units (per
        level, as :meth:`spread`), after the plate is matched to the image's exposure
        (:func:`match_to_image`), less the pixels more than :data:`OUTLIER_RMS` times the
        RMS apart (a sparkle is no change). About the grain when the camera and the
        background stay; None when they share fewer than :data:`MIN_MATCH_PIXELS` pixels
        (nothing to tell)."""
        return self.agreement(image, trimap, moved=False)[0]

    def shift(self, image: np.ndarray, trimap: np.ndarray) -> float | None:
        """How far (pixels, at the least) ``image``'s known background moved against the
        plate where earlier trimaps showed the background too, after the plate is matched
        to the image's exposure (:func:`.background_motion.background_shift`): a camera
        that drifts by a fraction of a pixel, which :meth:`disagreement` cannot tell from
        grain. None when they share too few pixels."""
        return self.agreement(image, trimap, differs=False)[1]

    def agreement(self, image: np.ndarray, trimap: np.ndarray, differs: bool = True,
                  moved: bool = True) -> tuple[float | None, float | None]:
        """(:meth:`disagreement`, :meth:`shift`) from one comparison: the frame converted
        and the exposure matched once (a shot's every frame asks for both). ``differs``,
        ``moved``: False leaves that one out (None)."""
        compared = self._compared(image, trimap)
        if compared is None:
            return None, None
        colour, shared = compared
        sums = exposure_sums(self._mean, colour, shared)
        line = exposure_line(self._mean, colour, shared, sums)
        difference = None
        if differs and line is not None:
            count, _, s_target, _, _, brightest = sums
            ceiling = max(1.0, brightest)
            every = matched_rms(self._mean, colour, shared, *line, ceiling)
            rms = matched_rms(self._mean, colour, shared, *line, ceiling, OUTLIER_RMS * every)
            difference = float(rms / difference_scale(sum(s_target) / (3 * count)))
        return difference, background_shift(self._mean, colour, shared, line) if moved else None

    def track(self, image: np.ndarray, trimap: np.ndarray, guess: Motion) -> Motion | None:
        """Where ``image``'s pixels lie in the plate, found from ``guess`` by following its
        known background (:func:`.background_motion.track_background`); None when they
        share too little background or it cannot be followed."""
        compared = self._compared(image, trimap)
        if compared is None:
            return None
        colour, shared = compared
        return track_background(self._mean, self.shown(), colour, snap_trimap(trimap) == 0.0, guess,
                                exposure_line(self._mean, colour, shared))

    def _compared(self, image: np.ndarray, trimap: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """What :meth:`disagreement` and :meth:`shift` compare: the frame's colour (H×W×3
        float32, 0–1 units) and the pixels its trimap and earlier ones showed as
        background; None before any frame, or for a frame or trimap of another size
        (:meth:`add` says what is wrong)."""
        if self._count.size == 0 or np.shape(trimap)[:2] != self._count.shape:
            return None
        colour = to_unit_float(np.asarray(image)[..., :3], "frame").astype(np.float32)
        if colour.shape != self._mean.shape:
            return None
        return colour, (snap_trimap(trimap) == 0.0) & self.shown()

    def spread(self) -> float:
        """RMS spread of the frames around the plate, over pixels their trimaps showed at
        least twice (less those spread more than :data:`OUTLIER_RMS` times the RMS: a
        sparkle): about the grain for a locked-off shot; see :data:`MOVING_SPREAD`.
        Measured at a display-referred level (:func:`.exposure.difference_scale`): a
        scene-linear plate has grain in proportion to its light."""
        if self._count.size == 0:
            return 0.0
        twice = self._count > 1
        if not twice.any():
            return 0.0
        variance = channel_sum(self._square[twice]) / (self._count[twice] - 1)
        usual = variance <= OUTLIER_RMS ** 2 * variance.mean()  # a sparkle in one frame is no move
        return float(np.sqrt(variance[usual].mean()) / difference_scale(float(self._mean[twice].mean())))
