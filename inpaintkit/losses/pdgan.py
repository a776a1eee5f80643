"""The losses PD-GAN adds to the shared ones, and a feature space that needs no download.

Reference: https://github.com/KumapowerLIU/PD-GAN (MIT), ``models/PDGAN.py`` (``backward_G``,
``backward_D``) and ``models/blocks/loss.py``; paper arXiv:2105.02201, Sec. 3.3. Functions take
lists of feature maps; the thin modules run a feature extractor first.

* :func:`diversity_loss`: ``1 / (sum_l mean|F_l(a) * M_l - F_l(b) * M_l| + eps)``, ``M_l`` the hole
  resized (nearest) to layer ``l``: small when two samples of the same input differ inside the hole.
* :func:`feature_l1`: ``sum_l mean|F_l(pred) - F_l(target)|`` (targets detached), the perceptual
  reconstruction term (L1, as the authors' code).
* :func:`hole_tv_loss`: total variation of an image over the hole grown by one pixel: the mean over
  all positions of ``|x[i+1] - x[i]|`` for neighbour pairs with both pixels in that region, summed
  over the two directions (the authors' normalisation by the whole image).
* :func:`l1_feature_matching`: ``mean over scales of sum over layers of mean|D_l(fake) - D_l(real)|``
  (pix2pixHD as the authors use it; :mod:`.feature_matching` is LaMa's MSE variant).
* :class:`GradientPyramid`: a fixed feature space (pixels and their horizontal and vertical
  differences at several scales) for the diversity and reconstruction terms when the VGG-19 weights
  are not available. It needs no weights; it measures colour and edge differences, not semantics.

PD-GAN's hinge GAN losses are in :mod:`.adversarial`, with the other GAN losses.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..types import InputError
from .adversarial import mean_over_scales, resize_mask
from .perceptual import as_feature_list, check_feature_pairs

#: One discriminator scale's output: ``(logits, intermediate feature maps)``.
ScaleOutput = tuple[Tensor, Sequence[Tensor]]


def diversity_loss(
    features_a: Sequence[Tensor], features_b: Sequence[Tensor], mask: Tensor, eps: float = 1e-5
) -> Tensor:
    """PD-GAN's perceptual diversity loss between two completions of the same input.

    Args:
        features_a, features_b: feature maps of the two completions, layer by layer.
        mask: ``(B, 1, H, W)``, 1 = hole; resized (nearest) to each layer.
        eps: keeps the loss finite when the samples agree.

    Returns:
        A scalar ``1 / (sum_l mean|(F_l(a) - F_l(b)) * M_l| + eps)``.
    """
    check_feature_pairs(features_a, features_b, "diversity_loss")
    distance = sum(
        ((a - b) * resize_mask(mask.to(a.dtype), a.shape[-2:])).abs().mean() for a, b in zip(features_a, features_b)
    )
    return 1.0 / (distance + eps)


def feature_l1(pred_features: Sequence[Tensor], target_features: Sequence[Tensor]) -> Tensor:
    """``sum over layers of mean|pred_l - target_l|`` (targets detached); a scalar."""
    check_feature_pairs(pred_features, target_features, "feature_l1")
    return sum((p - t.detach()).abs().mean() for p, t in zip(pred_features, target_features))


def hole_tv_loss(image: Tensor, mask: Tensor) -> Tensor:
    """Total variation over the hole grown by one pixel (see the module docstring); a scalar.

    Shape: image ``(B, C, H, W)``, mask ``(B, 1, H, W)`` with 1 = hole.
    """
    region = F.max_pool2d(mask.to(image.dtype), 3, stride=1, padding=1)
    across = region[..., :, 1:] * region[..., :, :-1]
    down = region[..., 1:, :] * region[..., :-1, :]
    horizontal = ((image[..., :, 1:] - image[..., :, :-1]) * across).abs().mean()
    return horizontal + ((image[..., 1:, :] - image[..., :-1, :]) * down).abs().mean()


def l1_feature_matching(fake: Sequence[ScaleOutput], real: Sequence[ScaleOutput]) -> Tensor:
    """``mean over scales of sum over layers of mean|D_l(fake) - D_l(real)|`` (real detached); a scalar."""
    return mean_over_scales(feature_l1, [features for _, features in fake], [features for _, features in real])


# ------------------------------------------------------------------------------ feature space
class GradientPyramid(nn.Module):
    """A fixed feature space: at each of ``levels`` scales (halved by 2x2 averaging), the image and its
    horizontal and vertical neighbour differences (zero in the last column / row).

    Shape: ``(B, 3, H, W)`` -> ``levels`` maps ``(B, 9, H / 2**l, W / 2**l)``.
    """

    def __init__(self, levels: int = 4) -> None:
        super().__init__()
        if levels < 1:
            raise InputError(f"GradientPyramid needs at least one level, got {levels}")
        self.levels = levels

    def forward(self, image: Tensor) -> list[Tensor]:
        maps = []
        for level in range(self.levels):
            if level:
                image = F.avg_pool2d(image, 2)
            across = F.pad(image[..., :, 1:] - image[..., :, :-1], (0, 1, 0, 0))
            down = F.pad(image[..., 1:, :] - image[..., :-1, :], (0, 0, 0, 1))
            maps.append(torch.cat([image, across, down], dim=1))
        return maps


# ----------------------------------------------------------------------------- thin modules
class DiversityLoss(nn.Module):
    """:func:`diversity_loss` on the features of ``extractor`` (``[0,1]`` images -> feature maps)."""

    def __init__(self, extractor: nn.Module, eps: float = 1e-5) -> None:
        super().__init__()
        self.extractor, self.eps = extractor, eps

    def forward(self, a: Tensor, b: Tensor, mask: Tensor) -> Tensor:
        return diversity_loss(as_feature_list(self.extractor(a)), as_feature_list(self.extractor(b)), mask, self.eps)


class FeatureL1Loss(nn.Module):
    """:func:`feature_l1` on the features of ``extractor``; the target's features need no gradients."""

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        self.extractor = extractor

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        with torch.no_grad():
            target_features = as_feature_list(self.extractor(target))
        return feature_l1(as_feature_list(self.extractor(pred)), target_features)


class HoleTVLoss(nn.Module):
    """Module form of :func:`hole_tv_loss`."""

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        return hole_tv_loss(image, mask)


class L1FeatureMatchingLoss(nn.Module):
    """Module form of :func:`l1_feature_matching`."""

    def forward(self, fake: Sequence[ScaleOutput], real: Sequence[ScaleOutput]) -> Tensor:
        return l1_feature_matching(fake, real)
