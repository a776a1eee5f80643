"""Frechet distance between Gaussians fitted to network features (FID, Heusel et al. 2017, arXiv:1706.08500).

``d^2 = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``. The matrix square root and its numerical
safeguards follow pytorch-fid (``fid_score.calculate_frechet_distance``): when ``sqrtm`` of the product
is not finite, ``eps * I`` is added to both covariances; an imaginary part left by round-off is
dropped when it is negligible on the diagonal.
"""

from __future__ import annotations

import numpy as np

from ..types import InpaintKitError, InputError

#: Largest imaginary part tolerated on the diagonal of ``sqrtm(S1 S2)`` before it is an error.
IMAGINARY_TOLERANCE = 1e-3


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of feature vectors, as FID fits them.

    Args:
        features: ``(N, D)`` with ``N >= 2``.

    Returns:
        ``mu`` ``(D,)`` and ``sigma`` ``(D, D)``, float64.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise InputError(f"FID needs at least 2 feature vectors (N, D), got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Squared Frechet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    Args:
        mu1, mu2: means ``(D,)``.
        sigma1, sigma2: covariances ``(D, D)``.
        eps: diagonal offset used when the product of the covariances has no finite square root.

    Returns:
        The distance (>= 0 up to round-off).

    Raises:
        InputError: shapes that do not match.
        InpaintKitError: scipy (for ``scipy.linalg.sqrtm``) is not installed.
        ValueError: the square root keeps a significant imaginary part (the covariances are not
            positive semi-definite).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    dim = mu1.shape[0]
    if mu1.shape != (dim,) or mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise InputError(
            f"frechet_distance: means must be (D,) and covariances (D, D) of one D; got "
            f"{mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape}"
        )
    try:
        from scipy.linalg import sqrtm
    except ImportError:
        raise InpaintKitError("FID needs scipy for the matrix square root: pip install scipy") from None
    root = sqrtm(sigma1 @ sigma2)
    if not np.isfinite(root).all():
        offset = np.eye(dim) * eps
        root = sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(root):
        largest = float(np.max(np.abs(np.diagonal(root).imag)))
        if largest > IMAGINARY_TOLERANCE:
            raise ValueError(
                f"frechet_distance: sqrtm(S1 S2) has an imaginary part of {largest:.3g}; "
                "the covariances are not positive semi-definite"
            )
        root = root.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(root))


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID between two sets of feature vectors ``(N1, D)`` and ``(N2, D)``, each ``N >= 2``."""
    return frechet_distance(*feature_statistics(features1), *feature_statistics(features2))
