"""The reduced graph's projection: a photo vector to its top principal components, lifted onto a
sphere (why, with the figures: the top of `vindex`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Projection:
    """The graph's reduction of a photo vector x to its top principal components, p =
    (x - mean) @ basis, lifted onto a sphere by one more coordinate, sqrt(RADIUS² - |p|²).

    A query q becomes [q @ basis, 0], so its inner product with a lifted photo is q @ basis . p
    (the q . mean it drops is the same for every photo and keeps the ranking). The lift matters
    for the graph, not the ranking: projected photos have different lengths, and an inner-product
    graph over points of unequal length links the long ones and strands the short ones (hnswlib
    could not reach 1 in 5 of the true top 20 at a million photos, however wide its beam). On the
    sphere, inner product between photos is Euclidean distance, which the graph is built for."""

    mean: np.ndarray  # [D] float32
    basis: np.ndarray  # [D, r] float32, orthonormal columns, largest variance first
    fitted_on: int  # photos in the library when it was fitted

    # |p| <= |x - mean| <= |x| + |mean| <= 2 for unit photos, so no photo is ever past the sphere
    RADIUS = 2.0

    @property
    def dim(self) -> int:
        """The width of the graph's vectors: the components and the lift."""
        return int(self.basis.shape[1]) + 1

    @classmethod
    def fit(cls, sample: np.ndarray, dim: int, library: int) -> Projection:
        """A projection to `dim`-wide graph vectors (dim - 1 components) fitted to `sample`."""
        x = np.asarray(sample, dtype=np.float64)
        mean = x.mean(axis=0)
        cov = np.cov(x - mean, rowvar=False)
        _, vecs = np.linalg.eigh(cov)  # ascending eigenvalues
        basis = vecs[:, ::-1][:, : dim - 1]
        basis = np.ascontiguousarray(basis, dtype=np.float32)
        return cls(mean.astype(np.float32), basis, library)

    def photos(self, vectors: np.ndarray) -> np.ndarray:
        p = (np.asarray(vectors, dtype=np.float32) - self.mean) @ self.basis
        lift = np.sqrt(np.maximum(self.RADIUS**2 - np.sum(p * p, axis=-1, keepdims=True), 0.0))
        return np.ascontiguousarray(np.concatenate([p, lift], axis=-1), dtype=np.float32)

    def query(self, vec: np.ndarray) -> np.ndarray:
        q = np.asarray(vec, dtype=np.float32) @ self.basis
        zero = np.zeros((*q.shape[:-1], 1), dtype=np.float32)
        return np.ascontiguousarray(np.concatenate([q, zero], axis=-1))
