"""Discriminator feature matching (pix2pixHD), as LaMa uses it.

Reference: ``feature_matching_loss`` in ``saicinpainting/training/losses/feature_matching.py`` of
https://github.com/advimman/lama: the mean squared error between D's intermediate features on the
generated and on the real image, averaged over elements within each layer, then averaged over the
layers. LaMa's released configs pass no mask (its optional masked variant is not provided here).
The real features are targets: they are detached.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from torch import Tensor

from .perceptual import layer_mse


def feature_matching_loss(fake_features: Sequence[Tensor], real_features: Sequence[Tensor]) -> Tensor:
    """``mean over layers of MSE(fake_l, real_l)``.

    Args:
        fake_features: D's feature maps on generated images.
        real_features: D's feature maps on real images (same number and shapes; detached here).

    Returns:
        A scalar.
    """
    return layer_mse(fake_features, real_features, "feature_matching_loss").mean()


class FeatureMatchingLoss(nn.Module):
    """Module form of :func:`feature_matching_loss`."""

    def forward(self, fake_features: Sequence[Tensor], real_features: Sequence[Tensor]) -> Tensor:
        return feature_matching_loss(fake_features, real_features)
