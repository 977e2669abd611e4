"""Information-flow matting (Aksoy, Aydın, Pollefeys, CVPR 2017), our reading of the paper.

Alpha flows into the unknown band along four kinds of links, summed in one sparse system:

- colour-mixture flow: each unknown pixel's feature vector (colour and position) written as
  a locally-linear mix of its K nearest neighbours anywhere in the window; alpha should mix
  the same way: energy Σ_p (α_p − Σ_q w_pq α_q)², the matrix (I − W)ᵀ(I − W);
- known-to-unknown flow: each unknown pixel as a mix of its nearest known-foreground and
  known-background pixels; the foreground share of the mix is a direct alpha estimate,
  trusted as much as the two mixed colours differ (a data term, :data:`~.alpha_solve.DataTerm`);
- intra-unknown flow: links between unknown pixels of similar colour anywhere in the band
  (a graph Laplacian with weights max(1 − |f_p − f_q|₁, 0));
- local flow: the closed-form matting Laplacian (:mod:`.laplacian`).

Neighbours are found in a feature space; ``features`` can add per-pixel channels to
colour and position (e.g. the DIP net's own features, :mod:`.dip_features`), which makes
the non-local links follow what the net learned of this image instead of colour alone.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from .alpha_solve import DataTerm, stop_if
from .laplacian import matting_laplacian


@dataclass(frozen=True)
class FlowWeights:
    """Neighbour counts and weights of the four flows (the paper's values)."""

    mixture_neighbours: int = 20
    known_neighbours: int = 7  # per side (foreground, background)
    unknown_neighbours: int = 5
    mixture_weight: float = 1.0
    known_weight: float = 0.05
    unknown_weight: float = 0.01
    local_weight: float = 1.0
    #: Spatial coordinates are divided by the window's longer side times these factors:
    #: small values make the links non-local (colour dominates), large ones local.
    mixture_spatial: float = 1.0
    known_spatial: float = 1.0
    unknown_spatial: float = 1.0 / 20.0
    #: Tikhonov term of the local-linear-embedding fits (relative to the Gram trace).
    regularization: float = 1e-3


#: Rows of a per-pixel array for flat pixel indices of any shape (the array's ``__getitem__``,
#: or a function that computes those rows alone: :func:`pixel_features_at`).
Rows = Callable[[np.ndarray], np.ndarray]


def pixel_features(image: np.ndarray, spatial: float, extra: np.ndarray | None = None) -> np.ndarray:
    """(H·W)×(5 + E) features: RGB, x and y divided by the longer side and scaled by
    ``spatial`` (:func:`pixel_features_at` of every pixel), then ``extra`` (H×W×E) if given."""
    h, w = image.shape[:2]
    features = pixel_features_at(image.reshape(-1, 3).__getitem__, (h, w), spatial)(np.arange(h * w))
    if extra is None:
        return features
    return np.concatenate([features, extra.reshape(h * w, -1).astype(np.float64)], axis=1)


def pixel_features_at(colours: Rows, shape: tuple[int, int], spatial: float) -> Rows:
    """The features of :func:`pixel_features` (no extra channels) of an image of ``shape``
    whose colours ``colours`` gives, computed for the pixels asked for alone (flat
    indices, any shape): a tile's searches need not hold the whole frame's array (8K UHD:
    33 Mpx × 5 doubles, 1.3 GB)."""
    h, w = shape
    scale = spatial / max(h, w)

    def features(indices: np.ndarray) -> np.ndarray:
        ys, xs = np.divmod(indices, w)
        return np.concatenate([colours(indices).astype(np.float64), (xs.astype(np.float64) * scale)[..., None],
                               (ys.astype(np.float64) * scale)[..., None]], axis=-1)

    return features


def _rows(values: "np.ndarray | Rows") -> Rows:
    return values if callable(values) else values.__getitem__


#: Queries per neighbour search between two polls of a ``should_stop``.
QUERY_CHUNK = 1 << 15

#: Threads a neighbour search queries on: one where tiles are solved side by side, each on
#: a core of its own; a frame solved as one window gives its search the cores (:func:`searches_on`).
_SEARCH_WORKERS: contextvars.ContextVar[int] = contextvars.ContextVar("ofx_dipmatte_search_workers", default=1)


@contextlib.contextmanager
def searches_on(workers: int) -> Iterator[None]:
    """Neighbour searches started inside (in this thread) query on ``workers`` threads: the
    same neighbours, sooner (dev *smoke*'s known-to-unknown searches: 0.20 → 0.12 s on 2 cores)."""
    token = _SEARCH_WORKERS.set(max(1, workers))
    try:
        yield
    finally:
        _SEARCH_WORKERS.reset(token)


def _pool_tree(features: "np.ndarray | Rows", pool: np.ndarray) -> cKDTree:
    """The search tree of the ``pool`` pixels' features."""
    # Unbalanced and without node shrinking: the same neighbours (up to ties) in a seventh
    # of the time where the queries lie far from the pool (a veil's band against its known
    # background: 33.9 s → 4.6 s for 154k queries), and built as fast.
    return cKDTree(_rows(features)(pool), balanced_tree=False, compact_nodes=False)


def _nearest(features: "np.ndarray | Rows", queries: np.ndarray, pool: np.ndarray, k: int,
             skip_self: bool, should_stop: Optional[Callable[[], bool]] = None, eps: float = 0.0,
             tree: cKDTree | None = None) -> np.ndarray:
    """Indices (into the flat image) of each query pixel's k nearest pool pixels
    (``tree``: the pool's :func:`_pool_tree`, if built). ``should_stop`` is polled between
    chunks of :data:`QUERY_CHUNK` queries (a band of 150k pixels took seconds), and True
    raises :class:`~.alpha_solve.Stopped`."""
    k = min(k, len(pool) - int(skip_self))
    tree = _pool_tree(features, pool) if tree is None else tree
    found = np.empty((len(queries), k + int(skip_self)), np.int64)
    for start in range(0, len(queries), QUERY_CHUNK):
        stop_if(should_stop)
        part = queries[start:start + QUERY_CHUNK]
        _, hits = tree.query(_rows(features)(part), k=k + int(skip_self), eps=eps, workers=_SEARCH_WORKERS.get())
        found[start:start + len(part)] = np.reshape(hits, (len(part), -1))
    return pool[found[:, int(skip_self):]]


def mixture_weights(features: "np.ndarray | Rows", queries: np.ndarray, neighbours: np.ndarray,
                    regularization: float = 1e-3) -> np.ndarray:
    """Locally-linear-embedding weights: per query, the w (summing to one) that best write
    its features as Σ w_q f_q over its neighbours. Q×K.

    w ∝ G⁻¹ 1 with G = D Dᵀ + λ I, D the K×F differences to the neighbours and λ the
    ridge (``regularization`` × trace G). With fewer features than neighbours (5 against
    14 or 20) it is solved through the F×F system instead (Woodbury):
    G⁻¹ 1 = (1 − D (λ I + Dᵀ D)⁻¹ Dᵀ 1) / λ — the same weights, up to rounding, in a
    fraction of the time (batched K×K solves took 12 of a 1024² smoke frame's 48 s)."""
    rows = _rows(features)
    diffs = rows(neighbours) - rows(queries)[:, None, :]  # Q×K×F
    k, f = diffs.shape[1], diffs.shape[2]
    ridge = regularization * np.einsum("qkf,qkf->q", diffs, diffs) + 1e-10  # λ: trace G = |D|²
    if f < k:
        small = np.einsum("qkf,qkg->qfg", diffs, diffs)
        small[:, np.arange(f), np.arange(f)] += ridge[:, None]
        summed = diffs.sum(axis=1)  # Dᵀ 1
        inner = np.linalg.solve(small, summed[..., None])[..., 0]
        w = (1.0 - np.einsum("qkf,qf->qk", diffs, inner)) / ridge[:, None]
    else:
        gram = np.einsum("qkf,qlf->qkl", diffs, diffs)
        gram[:, np.arange(k), np.arange(k)] += ridge[:, None]
        w = np.linalg.solve(gram, np.ones((len(queries), k, 1)))[..., 0]
    return w / w.sum(axis=1, keepdims=True)


def colour_mixture_laplacian(features: np.ndarray, unknown: np.ndarray, k: int = 20,
                             regularization: float = 1e-3) -> sp.csr_matrix:
    """(I − W)ᵀ(I − W) over the unknown rows: N×N, N = pixels."""
    n = unknown.size
    queries = np.flatnonzero(unknown.ravel())
    if len(queries) == 0 or n < 2:
        return sp.csr_matrix((n, n))
    neighbours = _nearest(features, queries, np.arange(n), k, skip_self=True)
    w = mixture_weights(features, queries, neighbours, regularization)
    rows = np.repeat(np.arange(len(queries)), neighbours.shape[1])
    residual = sp.csr_matrix((np.ones(len(queries)), (np.arange(len(queries)), queries)), shape=(len(queries), n))
    residual = residual - sp.csr_matrix((w.ravel(), (rows, neighbours.ravel())), shape=(len(queries), n))
    return (residual.T @ residual).tocsr()


def known_to_unknown_term(features: np.ndarray, image: np.ndarray, trimap: np.ndarray, k: int = 7,
                          regularization: float = 1e-3,
                          should_stop: Optional[Callable[[], bool]] = None, eps: float = 0.0) -> DataTerm:
    """Alpha estimate and confidence per unknown pixel from its k nearest known foreground
    and k nearest known background pixels (zero confidence elsewhere, or with no known
    pixels on one side): :class:`KnownSearch` over every unknown pixel. ``should_stop``:
    polled during the searches (see :func:`_nearest`)."""
    confidence = np.zeros(trimap.size)
    estimate = np.zeros(trimap.size)
    queries = np.flatnonzero(trimap.ravel() == 0.5)
    if len(queries):
        search = KnownSearch(features, image.reshape(-1, 3), trimap, k, regularization, eps)
        confidence[queries], estimate[queries] = search.term(queries, should_stop)
    return confidence.reshape(trimap.shape), estimate.reshape(trimap.shape)


class KnownSearch:
    """The known-to-unknown flow's searches (:func:`known_to_unknown_term`) for any of a
    frame's unknown pixels: trees over its known-foreground and known-background pixels'
    features, built once, queried for the pixels asked for. A plate's tiles ask only for
    the windows whose matte keeps the samples (:class:`~.sampled_density.FrameSamples`):
    an 8K UHD plate with two such windows of 194 spent 57 s of its 260 s (on one thread)
    searching for its whole band. Each pixel's term depends on its own searches alone.

    ``features``, ``colours``: the frame's pixel features (N×F) and colours (N×3), or
    functions giving them for flat pixel indices (:func:`pixel_features_at`)."""

    def __init__(self, features: "np.ndarray | Rows", colours: "np.ndarray | Rows", trimap: np.ndarray,
                 k: int = 7, regularization: float = 1e-3, eps: float = 0.0):
        flat = trimap.ravel()
        self.features, self.colours = _rows(features), _rows(colours)
        self.pools = np.flatnonzero(flat == 1.0), np.flatnonzero(flat == 0.0)
        self.k, self.regularization, self.eps = k, regularization, eps
        #: None: no known pixels on one side, no samples (zero confidence).
        self.trees = tuple(_pool_tree(self.features, pool) for pool in self.pools) \
            if all(len(pool) for pool in self.pools) else None

    def term(self, queries: np.ndarray, should_stop: Optional[Callable[[], bool]] = None
             ) -> tuple[np.ndarray, np.ndarray]:
        """Confidence and alpha estimate (float64, one per pixel) of the unknown pixels
        ``queries`` (flat indices)."""
        confidence = np.zeros(len(queries))
        estimate = np.zeros(len(queries))
        if self.trees is None:
            return confidence, estimate
        # A chunk of queries at a time: the mixture weights hold K×F values per query (a
        # 2048² smoke frame's whole band at once: 1.5 GB).
        for start in range(0, len(queries), QUERY_CHUNK):
            part = queries[start:start + QUERY_CHUNK]
            near_fg, near_bg = (_nearest(self.features, part, pool, self.k, skip_self=False, should_stop=should_stop,
                                         eps=self.eps, tree=tree) for pool, tree in zip(self.pools, self.trees))
            w = mixture_weights(self.features, part, np.concatenate([near_fg, near_bg], axis=1), self.regularization)
            share = w[:, :near_fg.shape[1]].sum(axis=1)
            # Trust the share as much as the two sides' colours differ. The plain means, not the
            # weighted mixes: a side whose weights sum to about zero would blow its mix up.
            fg_mean = self.colours(near_fg).astype(np.float64).mean(axis=1)
            bg_mean = self.colours(near_bg).astype(np.float64).mean(axis=1)
            confidence[start:start + len(part)] = np.square(fg_mean - bg_mean).sum(axis=1) / 3.0
            estimate[start:start + len(part)] = np.clip(share, 0.0, 1.0)
        return confidence, estimate


def intra_unknown_laplacian(features: np.ndarray, unknown: np.ndarray, k: int = 5) -> sp.csr_matrix:
    """Graph Laplacian linking each unknown pixel to its k nearest unknown pixels, weight
    max(1 − |f_p − f_q|₁, 0), made symmetric. N×N."""
    n = unknown.size
    queries = np.flatnonzero(unknown.ravel())
    if len(queries) < 2:
        return sp.csr_matrix((n, n))
    neighbours = _nearest(features, queries, queries, k, skip_self=True)
    w = np.maximum(1.0 - np.abs(features[neighbours] - features[queries][:, None, :]).sum(axis=2), 0.0)
    rows = np.repeat(queries, neighbours.shape[1])
    links = sp.csr_matrix((w.ravel(), (rows, neighbours.ravel())), shape=(n, n))
    links = 0.5 * (links + links.T)
    return (sp.diags(np.asarray(links.sum(axis=1)).ravel()) - links).tocsr()


def information_flow_system(image: np.ndarray, trimap: np.ndarray, extra: np.ndarray | None = None,
                            weights: FlowWeights = FlowWeights(),
                            local: sp.spmatrix | None = None) -> tuple[sp.csr_matrix, DataTerm]:
    """The matrix (colour-mixture + intra-unknown + local flows) and the known-to-unknown
    data term of information-flow matting, for :func:`~.alpha_solve.solve_alpha`.

    Args:
        image: H×W×3 in [0, 1]; trimap: snapped H×W (0 / 0.5 / 1).
        extra: H×W×E further features for the neighbour searches (see module doc).
        local: the image's matting Laplacian over the band, if already built.
    """
    unknown = trimap == 0.5
    mix = pixel_features(image, weights.mixture_spatial, extra)
    laplacian = weights.mixture_weight * colour_mixture_laplacian(mix, unknown, weights.mixture_neighbours,
                                                                  weights.regularization)
    if weights.unknown_weight > 0:
        intra = pixel_features(image, weights.unknown_spatial, extra)
        laplacian = laplacian + weights.unknown_weight * intra_unknown_laplacian(intra, unknown, weights.unknown_neighbours)
    if weights.local_weight > 0:
        if local is None:
            local = matting_laplacian(image, unknown=unknown)
        laplacian = laplacian + weights.local_weight * local
    same = weights.known_spatial == weights.mixture_spatial  # the paper's: one feature array serves both
    known = mix if same else pixel_features(image, weights.known_spatial, extra)
    confidence, estimate = known_to_unknown_term(known, image, trimap, weights.known_neighbours, weights.regularization)
    return laplacian.tocsr(), (weights.known_weight * confidence, estimate)
