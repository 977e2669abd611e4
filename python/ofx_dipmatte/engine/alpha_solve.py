"""Alpha from a Laplacian, the trimap and an optional per-pixel data term.

Known pixels are fixed to the trimap, so only the unknown ones are solved:

    (L_uu + diag(c_u)) α_u = c_u · α̂_u − L_uk α_k

where ``c`` is a per-pixel confidence in a per-pixel estimate ``α̂`` (no data term:
closed-form matting). Small systems use a direct sparse solve, large ones conjugate
gradients with a Jacobi preconditioner; a system with a good starting point
(``initial``, e.g. the previous round of a refinement) always goes to conjugate
gradients, which then converge in a few dozen steps. Those run in a compiled kernel on
the system stored as a 5×5 stencil over its window (``kernels/stencil_cg.cpp``) where
its rows fit one (the matting Laplacian's do), by scipy's ``cg`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Optional, Union, overload

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ._band_split import diagonal_positions, split_band
from ._sparse_cholesky import solve_spd
from ._stencil_cg import build_stencil, conjugate_gradients
from .ordering import nested_dissection

if TYPE_CHECKING:
    from ._stencil_cg import Stencil  # a type of the stub only

#: A per-pixel data term: (confidence, estimate), both H×W.
DataTerm = tuple[np.ndarray, np.ndarray]

#: Added to the diagonal of every direct solve: keeps isolated unknown regions (no known
#: neighbour) solvable.
RIDGE = 1e-9

#: Unknowns solved directly; more go to conjugate gradients. Covers a 512² window all
#: unknown, the largest a default tile's closed-form solve gets (a 256 px cell with 128 px
#: of context each side, :data:`.tiles.FULL_CONTEXT`; deeper contexts only within this
#: limit, :func:`.tiles.deep_context`): dev256 *smoke* enlarged to 1024²
#: (windows up to 257,136 unknowns) took 26 s a frame with such windows solved directly
#: by SuperLU (3.3 s and 0.4 GiB for the largest), 76 s by conjugate gradients
#: (docs/benchmarks.md). With the Cholesky a whole 512² window (258k unknowns) takes
#: 0.8–0.9 s and 0.23 GiB.
DIRECT_SOLVE_LIMIT = 512 * 512


class Stopped(RuntimeError):
    """``should_stop`` said to stop the solve."""


@overload
def add_terms(first: DataTerm, second: DataTerm | None) -> DataTerm: ...
@overload
def add_terms(first: DataTerm | None, second: DataTerm) -> DataTerm: ...
@overload
def add_terms(first: None, second: None) -> None: ...
def add_terms(first: DataTerm | None, second: DataTerm | None) -> DataTerm | None:
    """Two data terms as one: the confidences add, the estimates average by confidence."""
    if first is None or second is None:
        return first if second is None else second
    confidence = first[0] + second[0]
    estimate = (first[0] * first[1] + second[0] * second[1]) / np.maximum(confidence, 1e-12)
    return confidence, estimate


@dataclass(frozen=True)
class BandSystem:
    """A Laplacian's rows of a trimap's unknown pixels, split into their unknown columns
    (``a_uu``) and their known ones (``a_uk``): all that a solve with that trimap reads.
    A window's refinement solves the same split seven times; slicing the Laplacian again
    each time took 8 % of a 1080p frame. Both by rows: a conjugate-gradient step's product
    with a_uu took 0.85× the time of the same product by columns (a 100k-unknown tile), and
    sums each row in the same order, so the mattes are the same to the bit."""

    unknown: np.ndarray  # the trimap's unknown pixels, flat
    a_uu: sp.csr_matrix
    a_uk: sp.csr_matrix
    #: The trimap's height and width.
    shape: tuple[int, int]

    @classmethod
    def split(cls, laplacian: sp.spmatrix, trimap: np.ndarray) -> "BandSystem":
        """``laplacian``'s (N×N, N the trimap's pixels) rows of the unknown pixels, split in
        one pass by a compiled kernel (``kernels/band_split.cpp``): the same arrays as
        scipy's ``A[unknown][:, unknown]`` and ``A[unknown][:, ~unknown]`` (which took 6.3 s
        of a 4K UHD frame's 53 s on one thread; the split now 1.8 s)."""
        unknown = (trimap == 0.5).ravel()
        rows = laplacian.tocsr()
        (uu, uk, n_known) = split_band(rows.indptr.astype(np.int32, copy=False),
                                       rows.indices.astype(np.int32, copy=False), rows.data, unknown)
        n_unknown = len(uu[2]) - 1
        a_uu = sp.csr_matrix(uu, shape=(n_unknown, n_unknown))
        a_uu.sort_indices()
        a_uk = sp.csr_matrix(uk, shape=(n_unknown, n_known))
        return cls(unknown, a_uu, a_uk, (int(trimap.shape[0]), int(trimap.shape[1])))

    @cached_property
    def stencil(self) -> Stencil | None:
        """``a_uu`` as the conjugate-gradient kernel reads it: per unknown pixel its 25
        coefficients of the 5×5 neighbourhood (single precision), its diagonal and its
        place on the window's grid; built once for a window's several solves. None when
        a row reaches further than two pixels (e.g. information flow's neighbours)."""
        ys, xs = np.divmod(np.flatnonzero(self.unknown), self.shape[1])
        a_uu = self.a_uu
        return build_stencil(a_uu.indptr.astype(np.int32, copy=False), a_uu.indices.astype(np.int32, copy=False),
                             a_uu.data, ys, xs, *self.shape)

    @cached_property
    def diagonal_at(self) -> np.ndarray | None:
        """Where ``a_uu``'s diagonal entries sit in its data (None: not every one is
        stored exactly once); found when a diagonal is first added (:meth:`_diagonal_added`),
        not for every window."""
        at = diagonal_positions(self.a_uu.indptr.astype(np.int32, copy=False),
                                self.a_uu.indices.astype(np.int32, copy=False))
        return None if (at < 0).any() else at

    def _diagonal_added(self, *terms: "np.ndarray | float") -> sp.csr_matrix | None:
        """``a_uu`` with ``terms`` added to its diagonal one after another, in a copy of its
        values that shares its pattern (the sparse sums' values, without their cost); None
        when not every diagonal entry is stored once (:attr:`diagonal_at`)."""
        if self.diagonal_at is None:
            return None
        data = self.a_uu.data.copy()
        for term in terms:
            data[self.diagonal_at] += term
        return sp.csr_matrix((data, self.a_uu.indices, self.a_uu.indptr), shape=self.a_uu.shape)

    def direct_matrix(self, c_u: np.ndarray | None) -> sp.csr_matrix:
        """``a_uu + diag(c_u) + RIDGE·I``, the matrix a direct solve factorises, as those two
        sparse sums give it: each diagonal entry summed in that order, and no stored zeros
        (the sums drop them, so the factorisation sees the pattern it always did), but the
        diagonal added in place: 0.017–0.022 s against the sums' 0.037–0.044 s on a window of
        258k unknowns, whose factorisation takes about 0.5 s."""
        matrix = self._diagonal_added(*([] if c_u is None else [c_u]), RIDGE)
        if matrix is None:
            summed = self.a_uu if c_u is None else self.a_uu + sp.diags(c_u, format="csr")
            return summed + RIDGE * sp.identity(summed.shape[0], format="csr")
        if not matrix.data.all():  # zeros to drop: in a pattern of its own, not a_uu's
            matrix = sp.csr_matrix((matrix.data, matrix.indices.copy(), matrix.indptr.copy()), shape=matrix.shape)
            matrix.eliminate_zeros()
        return matrix

    def plus_diagonal(self, c_u: np.ndarray) -> sp.csr_matrix:
        """``a_uu + diag(c_u)``: the data term's confidences added in place of a sparse
        sum, for scipy's conjugate gradients where the stencil kernel cannot run."""
        matrix = self._diagonal_added(c_u)
        return self.a_uu + sp.diags(c_u, format="csr") if matrix is None else matrix


#: What the solvers smooth alpha with: an N×N Laplacian (N = H·W), or its rows already
#: split for the trimap (:class:`BandSystem`).
Smoothness = Union[sp.spmatrix, BandSystem]


#: Steps of iterative refinement after a single-precision factorisation.
REFINEMENT_STEPS = 2


def direct_solve(matrix: sp.spmatrix, rhs: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """``matrix⁻¹ rhs`` for a symmetric positive definite ``matrix`` (a Laplacian with
    fixed known pixels, plus a non-negative diagonal).

    ``order``: the elimination order (a permutation of the unknowns, e.g.
    :func:`~.ordering.nested_dissection` of their pixels): a supernodal Cholesky
    factorisation (``kernels/sparse_cholesky.cpp``, its dense blocks by scipy's BLAS) in
    single precision, refined in double as :func:`_solve` does; in double where single
    precision loses a pivot (a block only the 1e-9 ridge keeps definite), and by SuperLU
    where double does too. On the four largest tiles of a 1080p plate (98k–100k
    unknowns) it solved in 0.24–0.28 s (in double 0.31–0.42 s), within 10⁻⁸ of the
    double solve, against 0.67–0.95 s for SuperLU's single-precision factorisation alone
    in the same order: a Cholesky factor is half an LU's work, and its dense blocks go
    to an optimised BLAS. The kernel puts the rows and columns in order itself (scipy's
    ``A[order][:, order]`` took 3.5 % of a 1080p frame). None: SuperLU in its own
    minimum-degree order.
    """
    if order is None:
        return _solve(matrix.tocsc(), rhs, "MMD_AT_PLUS_A")
    rows = matrix.tocsr()
    scale = max(float(np.abs(rhs).max()), 1e-30)
    for single, refinements in ((True, REFINEMENT_STEPS), (False, 1)):
        try:  # the kernel puts the rows and columns in order itself
            x = solve_spd(rows.indptr, rows.indices, rows.data, rhs, order, single, refinements)
        except RuntimeError:  # a pivot not positive
            continue
        if np.all(np.isfinite(x)) and float(np.abs(rhs - rows @ x).max()) <= 1e-6 * scale:
            return x
    solved = np.empty_like(rhs)
    solved[order] = _solve(rows[order][:, order].tocsc(), rhs[order], "NATURAL")
    return solved


def _solve(matrix: sp.csc_matrix, rhs: np.ndarray, permc_spec: str) -> np.ndarray:
    """``matrix⁻¹ rhs`` by SuperLU in single precision, refined in double; columns in
    SuperLU's order ``permc_spec``.

    Factorising in float32 took 0.66–0.70× the time of float64 on matting systems of
    39k–70k unknowns here (and half the memory); it alone is off by up to 1e-2 in alpha,
    and two steps of iterative refinement (residual in double, correction from the same
    factors) bring it within 5e-7 of the double solve. Falls back to double where the
    single-precision factors fail or do not converge. SuperLU runs in its symmetric
    mode: pivots kept on the diagonal, as a Cholesky factorisation would (on two 1080p
    tiles minimum degree on A + Aᵀ that way factorised in 0.51 and 0.65 s, against 0.96
    and 1.14 s for minimum degree on AᵀA with partial pivoting).
    """
    try:
        factors = _factorise(matrix.astype(np.float32), permc_spec)
        x = factors.solve(rhs.astype(np.float32)).astype(np.float64)
        for _ in range(REFINEMENT_STEPS):
            x += factors.solve((rhs - matrix @ x).astype(np.float32))
        scale = max(float(np.abs(rhs).max()), 1e-30)
        if np.all(np.isfinite(x)) and float(np.abs(rhs - matrix @ x).max()) <= 1e-6 * scale:
            return x
    except RuntimeError:  # exactly singular in single precision
        pass
    return _factorise(matrix, permc_spec).solve(rhs)


def _factorise(matrix: sp.csc_matrix, permc_spec: str) -> spla.SuperLU:
    """LU factors of a symmetric positive definite matrix, in its own precision: pivots
    on the diagonal, columns in the order ``permc_spec`` says (rows follow them)."""
    return spla.splu(matrix, permc_spec=permc_spec, diag_pivot_thresh=0.0, options={"SymmetricMode": True})


def solve_alpha(laplacian: Smoothness, trimap: np.ndarray, confidence: np.ndarray | None = None,
                estimate: np.ndarray | None = None, initial: np.ndarray | None = None,
                should_stop: Optional[Callable[[], bool]] = None, rtol: float = 1e-6) -> np.ndarray:
    """Minimise ``αᵀ L α + Σ c (α − α̂)²`` with α fixed to the snapped trimap where known.

    Args:
        laplacian: N×N (N = H·W), e.g. :func:`~.laplacian.matting_laplacian`, or its
            :class:`BandSystem` for ``trimap``.
        trimap: H×W, 0 / 0.5 / 1.
        confidence, estimate: H×W data term (both or neither); only unknown pixels count.
        initial: H×W starting point for the iterative solver.
        should_stop: polled before the solve and at every iteration; True raises
            :class:`Stopped`.
        rtol: the iterative solver's tolerance (residual relative to the right-hand side).

    Returns: H×W float32 alpha in [0, 1].
    """
    unknown = (trimap == 0.5).ravel()
    alpha = trimap.astype(np.float64).ravel().copy()
    if not unknown.any():
        return alpha.reshape(trimap.shape).astype(np.float32)
    stop_if(should_stop)
    system = laplacian if isinstance(laplacian, BandSystem) else BandSystem.split(laplacian, trimap)
    if not np.array_equal(system.unknown, unknown):
        raise ValueError("solve_alpha: the Laplacian was split for another trimap")
    rhs = -(system.a_uk @ alpha[~unknown])
    c_u = None if confidence is None else np.asarray(confidence, dtype=np.float64).ravel()[unknown]
    if c_u is not None:
        rhs = rhs + c_u * np.asarray(estimate, dtype=np.float64).ravel()[unknown]
    if initial is None and unknown.sum() <= DIRECT_SOLVE_LIMIT:
        ys, xs = np.divmod(np.flatnonzero(unknown), trimap.shape[1])  # the unknown pixels
        a_u = direct_solve(system.direct_matrix(c_u), rhs, order=nested_dissection(ys, xs))
    else:
        x0 = np.full(rhs.shape, 0.5) if initial is None else np.asarray(initial, np.float64).ravel()[unknown]
        a_u = _iterative_solve(system, c_u, rhs, x0, rtol, should_stop)
    alpha[unknown] = a_u
    return np.clip(alpha, 0.0, 1.0).reshape(trimap.shape).astype(np.float32)


#: Steps conjugate gradients may take before a solve is given up as it stands.
MAX_CG_STEPS = 3000


def _iterative_solve(system: BandSystem, c_u: np.ndarray | None, rhs: np.ndarray, x0: np.ndarray, rtol: float,
                     should_stop: Optional[Callable[[], bool]]) -> np.ndarray:
    """``(system.a_uu + diag(c_u))⁻¹ rhs`` by conjugate gradients with a
    Jacobi preconditioner from ``x0``, to a residual of ``rtol`` of ``rhs``: by the stencil
    kernel where the system fits one, as scipy's ``cg`` would (on 16 refinement solves of
    a 960×540 plate's tiles, 45k–50k unknowns: the same step counts, alpha within 10⁻⁶,
    half the time; scipy's product reads an index and a double for every entry, and its
    vectors are passed over ten times a step).

    Raises:
        Stopped: ``should_stop`` said so.
    """
    stencil = system.stencil
    if stencil is not None:
        extra = np.zeros(rhs.shape) if c_u is None else c_u
        x, _, outcome = conjugate_gradients(*stencil, extra, rhs, x0, rtol, MAX_CG_STEPS, should_stop)
        if outcome == "stopped":
            raise Stopped("alpha solve stopped")
        if outcome != "breakdown":
            return x
    # Not a stencil, or not definite in single precision along some direction: scipy, exactly.
    a_uu = system.a_uu if c_u is None else system.plus_diagonal(c_u)
    precond = sp.diags(1.0 / np.maximum(a_uu.diagonal(), 1e-12))
    x, _ = spla.cg(a_uu, rhs, x0=x0, M=precond, rtol=rtol, maxiter=MAX_CG_STEPS,
                   callback=lambda _: stop_if(should_stop))
    return x


def stop_if(should_stop: Optional[Callable[[], bool]]) -> None:
    """Raise :class:`Stopped` if ``should_stop`` says so (a host's abort, polled by long solves)."""
    if should_stop is not None and should_stop():
        raise Stopped("alpha solve stopped")
