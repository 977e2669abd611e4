# A sparse matrix's rows of the unknown pixels, split by column (kernels/band_split.cpp).
import numpy as np

Csr = tuple[np.ndarray, np.ndarray, np.ndarray]  # data (float64), indices, indptr (int32)

def split_band(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, unknown: np.ndarray) -> tuple[Csr, Csr, int]:
    """For the N×N CSR matrix A and the flat bool mask ``unknown`` (N): A's rows of the
    unknown pixels with their unknown columns (renumbered among the unknown pixels), the
    same rows with their known columns (renumbered among the known ones), each entry in
    the order A stores it, and the number of known pixels."""

def diagonal_positions(indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Where each row's diagonal entry sits in a square CSR matrix's data (int32; -1 where
    it is not stored exactly once)."""
