# Supernodal Cholesky solve of a sparse SPD system, by a compiled kernel (kernels/sparse_cholesky.cpp).
import numpy as np

def solve_spd(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, rhs: np.ndarray,
              order: np.ndarray, single: bool = False, refinements: int = 0) -> np.ndarray:
    """x (float64) with A x = rhs: A symmetric positive definite, n×n by rows (int32
    ``indptr``/``indices``, both triangles stored), eliminated in ``order`` (a permutation
    of range(n)); factors in single precision if ``single``, then ``refinements`` steps of
    iterative refinement in double. Raises RuntimeError where a
    pivot is not positive: :func:`ofx_dipmatte.engine.alpha_solve.direct_solve`."""
