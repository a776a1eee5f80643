"""The PatchGAN discriminator shared by the GAN-trained methods that score patches (LaMa, PD-GAN).

:class:`NLayerDiscriminator` is the PatchGAN of pix2pix / pix2pixHD (P. Isola et al., "Image-to-Image
Translation with Conditional Adversarial Networks", CVPR 2017, arXiv:1611.07004; T.-C. Wang et al.,
"High-Resolution Image Synthesis and Semantic Manipulation with Conditional GANs", CVPR 2018,
arXiv:1711.11585) in two forms:

* ``norm="batch"``: the form LaMa trains with (``pix2pixhd_nlayer``: ``ndf 64, n_layers 4``).
  Reference code: https://github.com/advimman/lama (Apache-2.0),
  ``saicinpainting/training/modules/pix2pixhd.py``. The attribute names follow the reference
  (``model0`` ... ``model{n_layers+1}``, each an ``nn.Sequential``), so the ``discriminator.*``
  tensors of an official LaMa checkpoint load unchanged.
* ``norm="spectral-instance"``: the form PD-GAN trains with (its ``models/network/Discriminator.py``,
  after SPADE's): spectral norm on the inner convolutions, which have no bias, and InstanceNorm
  without affine parameters. PD-GAN counts the layers differently (its ``n_layers`` is ours + 1,
  see :class:`~inpaintkit.models.pdgan.PdganDiscriminator`).

This is an independent implementation. Layout (``k4``, padding ``ceil((4 - 1) / 2) = 2``, widths
doubling from ``ndf`` up to ``max_features``):

    model0                  Conv(in, ndf, s2) + LeakyReLU(0.2)
    model1 .. n_layers-1    Conv(s2) + norm + LeakyReLU(0.2)
    model{n_layers}         Conv(s1) + norm + LeakyReLU(0.2)
    model{n_layers+1}       Conv(nf, 1, s1): one logit per patch

The outputs of ``model0`` .. ``model{n_layers}`` are returned as the intermediate features that
feature matching compares.
"""

from __future__ import annotations

import torch.nn as nn
from torch import Tensor
from torch.nn.utils.parametrizations import spectral_norm

from ..types import InputError

#: Kernel size and padding of every convolution (the reference's ``ceil((kw - 1) / 2)``).
KERNEL = 4
PADDING = 2

#: Normalisations of the inner layers: ``"batch"`` (LaMa), ``"spectral-instance"`` (PD-GAN).
NORMS = ("batch", "spectral-instance")


class NLayerDiscriminator(nn.Module):
    """PatchGAN discriminator: a map of real/fake logits, one per overlapping patch.

    Args:
        input_nc: input channels (3 for RGB images).
        ndf: width of the first layer.
        n_layers: normalised layers after the first convolution, all stride 2 but the last
            (stride 1); with the first, ``n_layers`` stride-2 convolutions. 0: the first
            convolution feeds the logit layer.
        max_features: cap on the width of any layer.
        norm: one of :data:`NORMS`.

    Shape:
        ``(B, input_nc, H, W)`` -> logits ``(B, 1, h, w)`` and ``n_layers + 1`` feature maps. Each
        stride-2 layer maps a size ``s`` to ``s // 2 + 1``, each stride-1 layer adds 1 (64 -> 7,
        256 -> 19 for ``n_layers = 4``).
    """

    def __init__(
        self, input_nc: int = 3, ndf: int = 64, n_layers: int = 4, max_features: int = 512, norm: str = "batch"
    ) -> None:
        super().__init__()
        if min(input_nc, ndf) < 1 or n_layers < 0:
            raise InputError(
                f"NLayerDiscriminator: input_nc and ndf must be >= 1 and n_layers >= 0, "
                f"got {input_nc}, {ndf}, {n_layers}"
            )
        if norm not in NORMS:
            raise InputError(f"NLayerDiscriminator: norm must be one of {', '.join(NORMS)}, got {norm!r}")
        self.n_layers = n_layers
        stages: list[list[nn.Module]] = [[_conv(input_nc, ndf, 2), nn.LeakyReLU(0.2)]]
        width = ndf
        for index in range(1, n_layers + 1):
            previous, width = width, min(width * 2, max_features)
            stages.append([*_normed_conv(previous, width, 1 if index == n_layers else 2, norm), nn.LeakyReLU(0.2)])
        stages.append([_conv(width, 1, 1)])
        for index, stage in enumerate(stages):
            self.add_module(f"model{index}", nn.Sequential(*stage))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Score every patch of ``x``.

        Args:
            x: ``(B, input_nc, H, W)`` images (the project's ``[0, 1]`` range for LaMa).

        Returns:
            ``(logits (B, 1, h, w), [feature maps of model0 .. model{n_layers}])``.
        """
        features = []
        for index in range(self.n_layers + 1):
            x = getattr(self, f"model{index}")(x)
            features.append(x)
        return getattr(self, f"model{self.n_layers + 1}")(x), features


def _conv(in_channels: int, out_channels: int, stride: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, KERNEL, stride=stride, padding=PADDING, bias=bias)


def _normed_conv(in_channels: int, out_channels: int, stride: int, norm: str) -> list[nn.Module]:
    """``[conv, norm]`` of an inner layer."""
    if norm == "batch":
        return [_conv(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels)]
    return [spectral_norm(_conv(in_channels, out_channels, stride, bias=False)), nn.InstanceNorm2d(out_channels)]
