"""The texture and smoothness energies of multi-scale neural patch synthesis (Yang et al., CVPR 2017).

Following the paper (arXiv:1611.09969, Sec. 3.2, itself after C. Li and M. Wand's CNNMRF,
arXiv:1601.04589):

* a *neural patch* is the ``3 x 3`` window of a feature map around one position, flattened to
  ``C * 9`` values (:func:`neural_patches`; windows at the border are zero padded);
* every patch centred in the hole is matched to the patch outside the hole with the highest
  normalised cross-correlation, i.e. cosine similarity (:func:`nearest_patches`, exact, in batched
  matrix products over chunks of queries and bank patches; the Euclidean distance is the other
  choice, for features whose magnitude matters, such as pixels);
* the texture energy is the mean squared difference between the hole's patches and their matches,
  held fixed (:func:`texture_energy`);
* the smoothness energy is the total variation with squared neighbour differences (:func:`tv_energy`).

Both energies are means (over patch elements, or neighbour pairs and channels), so their weights do
not depend on the hole's size; the optimiser in :mod:`inpaintkit.models.neural_patch` combines them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..types import InputError

#: Side of a neural patch.
PATCH = 3
#: How patches are compared when matching: normalised cross-correlation, or Euclidean distance.
METRICS = ("ncc", "l2")


def neural_patches(features: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """The ``3 x 3`` windows of a feature map centred on the given positions, flattened.

    Args:
        features: ``(C, h, w)``.
        rows, cols: ``(n,)`` long centre coordinates.

    Returns:
        ``(n, C * 9)``, each row ordered channel by channel, then window row, then window column (the
        layout of :func:`torch.nn.functional.unfold`); values outside the map are 0.
    """
    padded = F.pad(features, (1, 1, 1, 1))
    windows = [padded[:, rows + dy, cols + dx] for dy in range(PATCH) for dx in range(PATCH)]  # 9 x (C, n)
    return torch.stack(windows, dim=1).permute(2, 0, 1).reshape(rows.shape[0], -1)


def nearest_patches(queries: Tensor, bank: Tensor, metric: str = "ncc", max_scores: int = 1 << 22) -> Tensor:
    """Index of the bank patch nearest to each query.

    ``metric="ncc"`` (the paper): the highest normalised cross-correlation ``<q, b> / (|q| |b|)``
    (an all-zero patch scores 0). ``metric="l2"``: the smallest Euclidean distance, found as the
    highest ``<q, b> - |b|^2 / 2``. Scores are computed in blocks of about ``max_scores`` entries.

    Args:
        queries: ``(n_q, d)``.
        bank: ``(n_b, d)`` with ``n_b >= 1``.
        metric: ``"ncc"`` or ``"l2"``.
        max_scores: size of the score blocks held in memory at once.

    Returns:
        ``(n_q,)`` long indices into ``bank``.
    """
    if bank.shape[0] == 0 or bank.shape[1] != queries.shape[1]:
        raise InputError(
            f"nearest_patches needs a non-empty bank of {queries.shape[1]}-value patches, got {tuple(bank.shape)}"
        )
    if metric not in METRICS:
        raise InputError(f"unknown patch metric {metric!r}; valid: {', '.join(METRICS)}")
    best = torch.zeros(queries.shape[0], dtype=torch.long, device=queries.device)
    if queries.shape[0] == 0:
        return best
    if metric == "ncc":
        bank = bank / bank.norm(dim=1, keepdim=True).clamp_min(1e-12)
        queries = queries / queries.norm(dim=1, keepdim=True).clamp_min(1e-12)
        offset = torch.zeros(bank.shape[0], dtype=bank.dtype, device=bank.device)
    else:
        offset = -0.5 * bank.pow(2).sum(dim=1)
    query_step = min(queries.shape[0], max(256, max_scores // bank.shape[0]))
    bank_step = max(1, max_scores // query_step)
    for q0 in range(0, queries.shape[0], query_step):
        block = queries[q0 : q0 + query_step]
        top = torch.full((block.shape[0],), -torch.inf, dtype=block.dtype, device=block.device)
        index = torch.zeros(block.shape[0], dtype=torch.long, device=block.device)
        for b0 in range(0, bank.shape[0], bank_step):
            value, where = torch.addmm(offset[b0 : b0 + bank_step], block, bank[b0 : b0 + bank_step].T).max(dim=1)
            better = value > top
            top = torch.where(better, value, top)
            index = torch.where(better, where + b0, index)
        best[q0 : q0 + query_step] = index
    return best


def texture_energy(features: Tensor, rows: Tensor, cols: Tensor, targets: Tensor) -> Tensor:
    """Mean squared difference between the patches centred on ``(rows, cols)`` and their targets.

    Args:
        features: ``(C, h, w)`` feature map (differentiable).
        rows, cols: ``(n,)`` long centre coordinates of the hole's patches.
        targets: ``(n, C * 9)`` matched patches (treated as constants).

    Returns:
        A scalar, ``mean((neural_patches(features, rows, cols) - targets) ** 2)``; 0 when ``n == 0``.
    """
    if rows.numel() == 0:
        return features.sum() * 0
    return (neural_patches(features, rows, cols) - targets.detach()).pow(2).mean()


def tv_energy(image: Tensor, mask: Tensor | None = None) -> Tensor:
    """Total variation with squared differences, averaged over neighbour pairs and channels.

    Args:
        image: ``(B, C, H, W)``.
        mask: ``(B, 1, H, W)`` in {0, 1}; when given, only the horizontal and vertical pairs with at
            least one pixel in the hole (1) count.

    Returns:
        A scalar: ``mean((x[y, x+1] - x[y, x])^2 and (x[y+1, x] - x[y, x])^2)`` over the counted pairs
        and channels (0 when none counts).
    """
    dx = (image[..., :, 1:] - image[..., :, :-1]).pow(2)
    dy = (image[..., 1:, :] - image[..., :-1, :]).pow(2)
    if mask is None:
        return (dx.sum() + dy.sum()) / max(1, dx.numel() + dy.numel())
    wx = torch.maximum(mask[..., :, 1:], mask[..., :, :-1])
    wy = torch.maximum(mask[..., 1:, :], mask[..., :-1, :])
    count = (wx.sum() + wy.sum()) * image.shape[1]
    return ((dx * wx).sum() + (dy * wy).sum()) / count.clamp(min=1)
