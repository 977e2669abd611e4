# Conjugate gradients on a matting system stored as a 5×5 stencil (kernels/stencil_cg.cpp).
from typing import Callable, Literal, Optional

import numpy as np

Stencil = tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]

def build_stencil(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, ys: np.ndarray, xs: np.ndarray,
                  height: int, width: int) -> Optional[Stencil]:
    """The CSR system over the unknown pixels (``ys``, ``xs``) of a height×width window
    (ascending row-major) as (coefficients n×25 float32 with the centre 0, diagonal n
    float64, each pixel's place on the grid padded by 2, the grid's (height, width));
    None when an entry couples pixels more than two apart on either axis."""

def conjugate_gradients(coef: np.ndarray, diagonal: np.ndarray, place: np.ndarray, grid: tuple[int, int],
                        extra: np.ndarray, rhs: np.ndarray, x0: np.ndarray, rtol: float, max_steps: int,
                        should_stop: Optional[Callable[[], bool]] = None
                        ) -> tuple[np.ndarray, int, Literal["converged", "max_steps", "stopped", "breakdown"]]:
    """Jacobi-preconditioned conjugate gradients from ``x0`` on the stencil's matrix plus
    diag(``extra``), as scipy's ``cg``: until |b − Ax| < rtol·|b| or ``max_steps`` steps;
    ``should_stop`` polled every 20 ms. (x, steps, why it ended); "breakdown": the matrix
    was not positive along a search direction."""
