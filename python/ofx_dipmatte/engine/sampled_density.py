"""The matte kept where closed-form's is smooth (smoke, veils, mist: :mod:`.smooth_matte`),
held to the density the known regions' colours sample.

Over semi-transparent matter the matting Laplacian pins alpha only near the known
regions. Deep in the band, where the background behind the matter is dark or busy, its
solution falls toward 0: closed-form's matte of a smoke cloud or a veil has holes, and
its mean alpha over the band was 0.15–0.19 against a true 0.21–0.37 on our composites
(docs/benchmarks.md, thirtieth session). Information-flow matting's known-to-unknown
term (Aksoy et al. 2017, :func:`.information_flow.known_to_unknown_term`) writes each
band pixel as a mix of its nearest known-foreground and known-background pixels in colour
and position: a direct, noisy estimate of the density that does not fade with the
distance to the known regions. Added to closed-form's solve as a weak data term, it fills
what the Laplacian leaves free and moves little where the Laplacian holds (edges, a
veil's folds and weave).

Scale: the Laplacian's hold on a smooth change of alpha weakens as the square of the
change's extent, the data term's weight per pixel does not. So the weight goes as
1/d² and the neighbour search's spatial unit as d, d the band's mean depth (each unknown
pixel's distance to the nearest known one): a plate that is a still enlarged gets the
still's solve. With fixed settings dev *smoke* enlarged 4× came out 1.09× closed-form's
SAD; scaled, 0.95×, as at 256².

Exposure: the samples weigh colour against position, and their confidence is a squared
colour difference, so the window's image is seen at one level (its known pixels' RMS at
:data:`REFERENCE_LEVEL`). Seen as it was, dev *smoke* as a scene-linear float four times
as bright came out 1.18× closed-form's SAD (0.97× at its own exposure); normalised, 0.94×.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

import numpy as np
from scipy import ndimage

from .alpha_solve import DataTerm, Smoothness, add_terms, solve_alpha
from .device import tile_workers
from .information_flow import KnownSearch, known_to_unknown_term, pixel_features, pixel_features_at, searches_on
from .region import Window

#: The band depth (mean distance of its pixels to the nearest known one, pixels) at which
#: a strength is given: our 256² smoke and veil composites have bands 21–28 px deep.
REFERENCE_DEPTH = 26.0
#: The neighbour search's spatial unit at that depth (pixels): one unit of position
#: weighs as one unit of colour, so samples come from across the band, the nearer the
#: better (the paper's unit is the image's side; ours follows the band, not the frame).
SPATIAL_UNIT = 256.0
#: The RMS level (0–1 colour units) of the known pixels the settings are given at: the
#: median of our display-referred composites (0.29–0.64).
REFERENCE_LEVEL = 0.5
#: The neighbour searches' tolerance: samples within 1.2× the distance of the true nearest
#: ones. The estimate is a noisy sample of the density either way; exact searches took
#: 4.6× as long on dev *smoke* enlarged 4× (12.3 s against 2.7 s over its 16 tiles) for
#: the same SAD (0.953× closed-form's; at 256², 0.957 against 0.965; both measured before
#: the exposure normalisation below).
SEARCH_EPS = 0.2


def band_mean_depth(unknown: np.ndarray) -> float:
    """The mean over ``unknown``'s pixels of their distance (pixels) to the nearest known
    pixel; 0 with no unknown pixels. A window with no known pixel at all has no depth to
    measure: its unknown pixels count as its longer side deep."""
    if not unknown.any():
        return 0.0
    if unknown.all():
        return float(max(unknown.shape))
    return float(ndimage.distance_transform_edt(unknown)[unknown].mean())


def sample_settings(unknown: np.ndarray, strength: float) -> tuple[float, float]:
    """(data term weight, spatial unit in pixels) for a band ``unknown`` (H×W bool):
    ``strength`` and :data:`SPATIAL_UNIT` at :data:`REFERENCE_DEPTH`, the weight as
    1/depth² and the unit as depth elsewhere (see the module's docstring)."""
    ratio = max(band_mean_depth(unknown), 1.0) / REFERENCE_DEPTH
    return strength / ratio ** 2, SPATIAL_UNIT * ratio


def exposure_gain(image: np.ndarray, known: np.ndarray) -> np.float32:
    """The factor that brings ``image``'s ``known`` pixels' RMS level to
    :data:`REFERENCE_LEVEL` (1: no known pixels). The samples weigh colour against
    position, and their confidence is a squared colour difference: a scene-linear plate
    four times as bright would otherwise get sixteen times the data term."""
    if not known.any():
        return np.float32(1.0)
    level = float(np.sqrt(np.mean(np.square(image[known], dtype=np.float64))))
    return np.float32(REFERENCE_LEVEL / max(level, 1e-6))


def exposure_normalised(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``image`` times its :func:`exposure_gain`."""
    return image * exposure_gain(image, known)


def sampled_density_matte(image: np.ndarray, trimap: np.ndarray, laplacian: Smoothness, strength: float, *,
                          anchor: DataTerm | None = None,
                          should_stop: Optional[Callable[[], bool]] = None,
                          samples: "tuple[FrameSamples, Window] | None" = None) -> np.ndarray:
    """Closed-form's matte of ``image`` (H×W×3) and its snapped ``trimap`` solved with
    the known-to-unknown samples as a data term of ``strength`` (at
    :data:`REFERENCE_DEPTH`; scaled to the band's depth), added to ``anchor`` if given.
    ``laplacian``: the window's matting Laplacian (or its
    :class:`~.alpha_solve.BandSystem`). ``samples``: a frame's samples and where the
    window lies in it (a plate's tile; default the window's own). With no known pixels on
    one side there are no samples, and the matte is closed-form's.

    Raises:
        Stopped: ``should_stop`` returned True (polled between the searches and in the solve).
    """
    unknown = trimap == 0.5
    weight, unit = sample_settings(unknown, strength)
    if samples is None:
        confidence, estimate = known_samples(image, trimap, unit, should_stop)
    else:
        frame, window = samples
        confidence, estimate = frame.part(window, should_stop)
    return solve_alpha(laplacian, trimap, *add_terms(anchor, (weight * confidence, estimate)),
                       should_stop=should_stop)


def known_samples(image: np.ndarray, trimap: np.ndarray, unit: float,
                  should_stop: Optional[Callable[[], bool]] = None) -> DataTerm:
    """Confidence and alpha estimate of each of ``trimap``'s unknown pixels from its
    nearest known pixels in colour (``image`` seen at :data:`REFERENCE_LEVEL`) and
    position (in units of ``unit`` pixels)."""
    image = exposure_normalised(image, trimap != 0.5)
    # pixel_features divides positions by the longer side and multiplies by its argument.
    features = pixel_features(image, max(trimap.shape) / unit)
    return known_to_unknown_term(features, image, trimap, should_stop=should_stop, eps=SEARCH_EPS)


class FrameSamples:
    """The known samples of a frame's band, as one window would draw them (from the whole
    frame's known pixels, its spatial unit from the whole band's depth), for a plate's
    tiles to read their parts: drawn from a tile's window alone, a tile that shows one
    known region has none (on dev *smoke* enlarged 4×, 12 of 16 tiles). The searches'
    trees are built when a tile first asks; each tile's unknown pixels are searched when
    it asks, once (the tiles overlap), and a frame's tiles that keep no samples cost
    nothing: an 8K UHD plate, two of whose 194 tiles ask, spent 57 s of 260 s (one
    thread) on the whole band's searches. The values are those of the whole band's
    search (:func:`known_samples`). Shared by the tiles' threads."""

    def __init__(self, image: np.ndarray, trimap: np.ndarray):
        self.image, self.trimap = image, trimap
        self._search: KnownSearch | None = None  # with the two below, made when a tile first asks
        self._term: DataTerm = (np.zeros(()), np.zeros(()))
        self._searched = np.zeros((), bool)
        self._lock = threading.Lock()

    def part(self, window: Window, should_stop: Optional[Callable[[], bool]] = None) -> DataTerm:
        """The samples' confidence and estimate on ``window`` (of this frame)."""
        with self._lock:
            if self._search is None:
                self._search = self._searches()
                self._term = (np.zeros(self.trimap.shape), np.zeros(self.trimap.shape))
                self._searched = self.trimap != 0.5  # the known pixels have no samples
            ys, xs = np.nonzero(~self._searched[window.slices])
            queries = (ys + window.y0) * self.trimap.shape[1] + xs + window.x0  # flat, ascending
            if len(queries):
                # On every core: the tiles that need the samples wait for them (dev smoke
                # enlarged 4×: 21.7–23.0 s a frame → 17.9–19.9 s).
                with searches_on(tile_workers()):
                    found = self._search.term(queries, should_stop)
                for term, values in zip(self._term, found):
                    term.ravel()[queries] = values
                self._searched[window.slices] = True
        confidence, estimate = self._term
        return confidence[window.slices], estimate[window.slices]

    def _searches(self) -> KnownSearch:
        """The frame's searches, as :func:`known_samples` makes them, each pixel's features
        computed when it is searched for or searched among."""
        _, unit = sample_settings(self.trimap == 0.5, 1.0)
        gain = exposure_gain(self.image, self.trimap != 0.5)
        image, width = self.image, self.trimap.shape[1]

        def colours(indices: np.ndarray) -> np.ndarray:  # read where they are: the frame's image is a view
            ys, xs = np.divmod(indices, width)
            return image[ys, xs] * gain

        features = pixel_features_at(colours, self.trimap.shape, max(self.trimap.shape) / unit)
        return KnownSearch(features, colours, self.trimap, eps=SEARCH_EPS)
