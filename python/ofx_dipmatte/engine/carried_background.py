"""The background a locked-off shot has shown so far, carried from frame to frame.

When the subject moves over a background that stays, much of what hides behind this
frame's unknown band was bare in other frames: known background in their trimaps, or
nearly bare (alpha ≤ 0.05) in their solved mattes. A :class:`~.clip.ClipSession`
stacks those pixels (:class:`.clean_plate.PlateStack`) and solves each next frame
against the stack as a clean plate with holes: where it covers the band, B is seen
instead of estimated, which is what limits the default matte (docs/benchmarks.md).

Only a background that stays, or moves as a whole, may be carried. Before each frame
the background's motion against the stack is measured (:meth:`.PlateStack.shift`: a
camera that drifts by a fraction of a pixel a frame, which the colours' difference
cannot tell from grain, places the background's detail off behind the band). A frame
whose background moved (:data:`FOLLOW_SHIFT`) is followed: its affine motion (a pan,
tilt, zoom or roll) is tracked from the last frame's (:meth:`.PlateStack.track`), the
frame is stacked moved into the place of the stack's first frame, and its plate is the
stack moved out to its own place (:mod:`.frame_warp`: each resampled once, never the
stack again and again). Its known background, in place, is then compared with the stack
(:meth:`.PlateStack.disagreement` and the motion left over); a camera the motion does
not describe (parallax, a move too fast), a cut or a changed light shows there, and the
stack then starts over from this frame. A change in part of the background (a car
passing, a screen, leaves) is too small for that: where the frame's known background
differs from the stack, the stack is not used within :data:`CHANGED_REACH` pixels
(:func:`drop_changed`).

A frame is stacked once: solved again, it is solved against the stack but not added
twice. A frame that comes again with other pixels or another trimap (an artist fixed its
roto) starts the stack over: what it added before may be wrong. Frames may also be shown before they are solved
(:meth:`CarriedBackground.show`; the shot CLI shows every frame of a run first): their
trimaps' known background then serves the frames before them too, where the subject has
not uncovered it yet.
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy import ndimage

from ..trimap import snap_trimap
from .background_motion import MOVING_SHIFT
from .clean_plate import MOVING_SPREAD, MatchedFrame, PlateStack, SolvedBackground
from .exposure import difference_scale
from .frame_warp import Motion, move_colour, move_mask, move_trimap, move_values
from .results import CARRIED_NOTE

#: Mean difference (per channel over 5×5 pixels, then its length over the channels, 0–1
#: units) between the frame's known background and the matched stack above which the
#: background changed there. Grain averages out of the mean: σ 0.03 a channel gives about 0.01.
CHANGED_DIFFERENCE = 0.05
#: One pixel's difference counts up to this many times :data:`CHANGED_DIFFERENCE` (per
#: channel) in that mean: a change covers pixels, a sparkle one (a glint, a firefly; at 4.0
#: beside a 72² shot's band it took the stack away around it and the frame's SAD from
#: 80.4 to 108.7). It now takes four strongly changed pixels of 25 to count.
CHANGED_OUTLIER = 4.0
#: Pixels around such a change where the stack is not used: what changed goes on behind
#: the band, where nothing can be compared.
CHANGED_REACH = 32
#: Solved frames whose stacked pixels :meth:`CarriedBackground.record` can still give.
KEPT_RECORDS = 4
#: A frame whose background lies this far (pixels, at the least: :meth:`.PlateStack.shift`)
#: or more off the stack's is stacked moved into the stack's place, and given the stack
#: moved out to its own (:mod:`.frame_warp`); nearer, both are taken as they are.
FOLLOW_SHIFT = 0.1
#: Whether a moving camera is followed at all (off: such frames start the stack over).
FOLLOW_CAMERA = True


class CarriedBackground:
    """A :class:`.PlateStack` fed by a clip's solved frames, one for one frame size and
    kind (integer or float) at a time: a host that changes either (a proxy render) gets a
    fresh stack. The stack lies in the place of the first frame it holds (its reference);
    a frame whose background moved against it (:data:`FOLLOW_SHIFT`) is stacked moved
    into that place, and given the stack moved out to its own."""

    def __init__(self) -> None:
        self.clear()

    def shown_for(self, frame: float) -> np.ndarray:
        """Where the stack holds background some trimap showed (:meth:`.PlateStack.shown`),
        in ``frame``'s place (as :meth:`plate_for` placed it)."""
        motion = self._motions.get(frame)
        shown = self._stack.shown()
        return shown if motion is None or motion.is_identity() else move_mask(shown, motion, margin=0)

    @property
    def frames(self) -> int:
        """How many frames' background the stack holds (shown or solved)."""
        return self._stack.frames

    def clear(self) -> None:
        """Forget every frame stacked."""
        self._stack = PlateStack()
        self._shown: set[float] = set()  # frames whose trimap background is stacked
        self._added: set[float] = set()  # frames whose solve is stacked too
        self._inputs: dict[float, bytes] = {}  # frame → digest of the image and trimap it came with
        self._kind: tuple | None = None  # (height, width, integer) of the frames stacked
        self._records: dict[float, SolvedBackground] = {}  # the last few solved frames' bare pixels
        self._motions: dict[float, Motion] = {}  # frame → where its pixels lie in the stack
        self._last = Motion.identity()  # the last frame placed's motion: the next one's first guess
        self._moved_frame: tuple | None = None  # (frame, motion, (colour, trimap)) moved in by _place

    def holds(self, frame: float) -> bool:
        """Whether ``frame``'s known background is stacked (shown or solved)."""
        return frame in self._shown

    def check_inputs(self, frame: float, image: np.ndarray, trimap: np.ndarray) -> None:
        """Start over when ``frame`` was stacked with other pixels or another trimap (or
        frames of another size or kind were)."""
        self._start_for(image)  # first: starting over forgets the digests
        digest = hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16)
        digest.update(np.ascontiguousarray(trimap).data)
        if self._inputs.get(frame, digest.digest()) != digest.digest():
            self.clear()
        self._inputs[frame] = digest.digest()

    def plate_for(self, frame: float, image: np.ndarray, trimap: np.ndarray) -> tuple[np.ndarray | None, str | None]:
        """The stack as an RGBA clean plate (``matte``'s ``clean_plate``) for this frame,
        in its place, and None; or None and a note saying why there is none. Starts the
        stack over when the frame shows another background."""
        if self._stack.frames == 0 or self._kind != _kind_of(image):
            return None, None
        place = self._place(frame, image, trimap)
        if place is None:
            return None, None  # too little known background in common to tell: not carried
        why = place if isinstance(place, str) else self._stack.unusable()
        if why is not None:
            self.clear()
            return None, f"{CARRIED_NOTE}: not used and started over: {why}"
        assert isinstance(place, Motion)
        return _moved_out(self._stack.plate(), place), None

    def show(self, frame: float, image: np.ndarray, trimap: np.ndarray) -> None:
        """Stack a frame's known background (its trimap's 0) before it is solved, unless
        it disagrees with what is stacked (as :meth:`plate_for` measures): a frame of
        another shot across a cut, or after the camera moved too far to follow, would only
        spoil it."""
        self.check_inputs(frame, image, trimap)
        if frame in self._shown:
            return
        motion = Motion.identity()
        if self._stack.frames:
            place = self._place(frame, image, trimap)
            if isinstance(place, str):
                return
            motion = place if place is not None else motion
        # Placed and checked above: stacked as it is (PlateStack.add would measure its shift again).
        self._stack.begin_add(*self._moved_in(frame, image, trimap, motion, last_use=True))
        self._motions[frame] = motion
        self._shown.add(frame)

    def add(self, frame: float, image: np.ndarray, trimap: np.ndarray, alpha: np.ndarray,
            foreground: np.ndarray) -> None:
        """Stack a solved frame (once per frame time): its known background, unless it
        was shown, and the band pixels its matte found nearly bare."""
        matched = self.begin_add(frame, image, trimap)
        if matched is not None:
            self.finish_add(frame, matched, alpha, foreground)

    def begin_add(self, frame: float, image: np.ndarray, trimap: np.ndarray) -> MatchedFrame | None:
        """:meth:`add` before the solve is known: the frame's known background stacked
        (it counts as shown from now on) and the frame matched for :meth:`finish_add`;
        None when ``frame`` was added before, or lies where the stack cannot follow it.
        The frame's solve must not read the stack meanwhile: it takes its plate
        (:meth:`plate_for`) first."""
        if frame in self._added:
            return None
        self._start_for(image)
        motion = self._motions.get(frame)
        if motion is None:
            motion = Motion.identity()
            if self._stack.frames:
                place = self._place(frame, image, trimap)
                if isinstance(place, str):
                    return None
                motion = place if place is not None else motion
        matched = self._stack.begin_add(*self._moved_in(frame, image, trimap, motion, last_use=True),
                                        known=frame not in self._shown)
        self._motions[frame] = motion
        self._shown.add(frame)
        return matched

    def finish_add(self, frame: float, matched: MatchedFrame, alpha: np.ndarray, foreground: np.ndarray) -> None:
        """The rest of :meth:`add`: the band pixels ``frame``'s matte found nearly bare."""
        motion = self._motions.get(frame, Motion.identity())  # as begin_add placed it
        if not motion.is_identity():
            back = motion.inverse()  # read at stack pixel q: the frame's pixel that shows it
            alpha, foreground = move_values(alpha, back, 1.0), move_values(np.asarray(foreground)[..., :3], back, 0.0)
        self._stack.finish_add(matched, alpha, foreground)
        self._added.add(frame)
        assert self._stack.last_solved is not None  # set by an add with a solve
        self._records[frame] = self._stack.last_solved
        while len(self._records) > KEPT_RECORDS:
            self._records.pop(next(iter(self._records)))

    def record(self, frame: float) -> dict | None:
        """What solving ``frame`` added (its nearly bare band pixels, in the stack's place),
        the digest of the inputs it came with and where it lay in the stack, as arrays for
        ``np.savez``; None when ``frame`` is not among the last few solved."""
        solved = self._records.get(frame)
        if solved is None or frame not in self._inputs:
            return None
        return {"inputs": np.frombuffer(self._inputs[frame], np.uint8), "motion": self._motions[frame].as_array(),
                **solved.arrays()}

    def add_record(self, frame: float, record: dict) -> bool:
        """Add a :meth:`record` of ``frame`` (solved by an interrupted run), as solving it
        again would. Only when this session was shown ``frame`` with the same image and
        trimap as the record's, and placed it where the record's stack did (for a locked-off
        shot: not moved); False (and nothing added) otherwise."""
        if frame in self._added or self._inputs.get(frame) != np.asarray(record["inputs"], np.uint8).tobytes():
            return False
        motion = self._motions.get(frame)
        recorded = np.asarray(record.get("motion", Motion.identity().as_array()), np.float64)
        if motion is None or not np.allclose(motion.as_array(), recorded, atol=1e-3):
            return False  # its pixels' places are another stack's
        self._stack.add_solved(SolvedBackground.from_arrays(record))
        self._added.add(frame)
        return True

    def _place(self, frame: float, image: np.ndarray, trimap: np.ndarray) -> Motion | str | None:
        """Where ``frame``'s pixels lie in the stack (a :class:`Motion`; the identity for a
        locked-off shot); or why its background is not the stack's; or None when they
        share too little known background to tell. Its known background must then agree
        with the stack's, moved into place, within grain: :data:`.clean_plate.MOVING_SPREAD`
        RMS and :data:`.background_motion.MOVING_SHIFT` px."""
        if frame in self._motions:
            return self._motions[frame]
        difference, shift = self._stack.agreement(image, trimap)
        if difference is None:
            return None
        shift = shift or 0.0  # None: too few pixels to tell a fraction of one
        if difference <= MOVING_SPREAD and shift <= (FOLLOW_SHIFT if FOLLOW_CAMERA else MOVING_SHIFT):
            self._motions[frame] = Motion.identity()  # locked off: the stack as it is, no resampling
            return self._motions[frame]
        if not FOLLOW_CAMERA:
            return _why_moved(difference, shift)
        motion = self._stack.track(image, trimap, self._last)
        if motion is None:
            return _why_moved(difference, shift) or "the camera's motion could not be followed"
        colour, moved = self._moved_in(frame, image, trimap, motion)
        difference, shift = self._stack.agreement(colour, moved)
        if difference is None:
            return "the camera moved too far: this frame shares too little background with the earlier frames"
        shift = shift or 0.0
        why = _why_moved(difference, shift)
        if why is not None:
            return why
        self._last = self._motions[frame] = motion
        return motion

    def _moved_in(self, frame: float, image: np.ndarray, trimap: np.ndarray, motion: Motion,
                  last_use: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``image`` and its trimap in the stack's place (as they are for a still camera),
        the image in its own kind (16 bits for integer frames). Kept from :meth:`_place`'s
        check until its ``last_use`` (stacking the frame)."""
        if motion.is_identity():
            return image, trimap
        kept = self._moved_frame
        if kept is not None and kept[0] == frame and kept[1] is motion:
            moved = kept[2]
        else:
            back = motion.inverse()  # stack pixel q shows what the frame's pixel back(q) does
            image = np.asarray(image)
            colour = move_colour(image[..., :3], back)  # in the frame's units
            if image.dtype == np.uint8:
                colour *= np.float32(257.0)  # to 16 bits: the stack's kind for integer frames
            moved = (_as_kind(colour, np.dtype(np.uint16) if image.dtype == np.uint8 else image.dtype),
                     move_trimap(snap_trimap(trimap), back))
        self._moved_frame = None if last_use else (frame, motion, moved)
        return moved

    def _start_for(self, image: np.ndarray) -> None:
        """Start over for a frame of another size or kind than those stacked."""
        if self._kind != _kind_of(image):
            self.clear()
            self._kind = _kind_of(image)


def _moved_out(rgba: np.ndarray, motion: Motion) -> np.ndarray:
    """A plate of the stack (H×W×4) in the place of the frame ``motion`` takes to the stack,
    in the plate's kind: its colours resampled cubic, its holes (and what the frame sees
    beyond the stack's picture) left uncovered."""
    if motion.is_identity():
        return rgba
    moved = np.empty_like(rgba)
    moved[..., :3] = _as_kind(move_colour(rgba[..., :3], motion), rgba.dtype)  # resampled in the plate's units
    moved[..., 3] = move_mask(rgba[..., 3] > 0, motion) * (65535 if rgba.dtype == np.uint16 else 1)
    return moved


def _as_kind(colour: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Resampled ``colour`` (float32, in ``dtype``'s units) as ``dtype``: rounded and
    clipped for 16 bits, as it is for float."""
    if dtype == np.uint16:
        return np.clip(np.round(colour, out=colour), 0, 65535, out=colour).astype(np.uint16)
    return colour


def _why_moved(difference: float, shift: float) -> str | None:
    """Why a frame whose known background differs from the stack's by ``difference`` (the
    RMS of :meth:`.PlateStack.disagreement`) and lies ``shift`` px off it
    (:meth:`.PlateStack.shift`) is not the stack's background; None when it is."""
    if difference > MOVING_SPREAD:
        return (f"this frame's known background differs from the earlier frames' (RMS {difference:.3f}): "
                "a moving camera the stack could not follow, a cut or a changed light")
    if shift > MOVING_SHIFT:
        return (f"this frame's known background moved by {shift:.2f} px or more against the earlier "
                "frames': a moving camera (a plate stabilised first carries it)")
    return None


def _kind_of(image: np.ndarray) -> tuple:
    return image.shape[0], image.shape[1], not np.issubdtype(image.dtype, np.floating)


def drop_changed(plate: np.ndarray, covers: np.ndarray, image: np.ndarray,
                 known_background: np.ndarray) -> np.ndarray:
    """``covers`` (H×W bool, where the stack gives the background) without the pixels
    within :data:`CHANGED_REACH` of a change: where ``image`` differs from ``plate`` (both
    H×W×3, the plate matched to the image) on ``known_background`` by more than
    :data:`CHANGED_DIFFERENCE` (measured at a display-referred level,
    :func:`.exposure.difference_scale`, for scene-linear frames), each pixel's difference
    capped at :data:`CHANGED_OUTLIER` times that. Give as ``known_background`` the pixels this frame's trimap
    and an earlier one's both show as background: where the stack holds only a solve's
    estimate, a difference is that estimate's error (faint foreground it missed), not a
    change."""
    compared = (known_background & covers).astype(np.float32)
    if not compared.any():
        return covers
    count = np.maximum(ndimage.uniform_filter(compared, 5), 1e-6)
    brightness = plate.mean(axis=-1)
    # At a display-referred level, as the stack's spread: scene-linear grain grows with the light.
    cap = np.float32(CHANGED_OUTLIER * CHANGED_DIFFERENCE) * np.asarray(difference_scale(brightness), np.float32)
    difference = np.zeros(covers.shape, np.float32)
    for channel in range(plate.shape[2]):
        one = np.clip(plate[..., channel] - image[..., channel], -cap, cap)
        mean = ndimage.uniform_filter(one * compared, 5)
        difference += np.square(mean / count)
    level = difference_scale(ndimage.uniform_filter(brightness * compared, 5) / count)
    changed = (count > 0.5) & (np.sqrt(difference) / level > CHANGED_DIFFERENCE)
    if not changed.any():
        return covers
    return covers & ~ndimage.maximum_filter(changed, size=2 * CHANGED_REACH + 1)
