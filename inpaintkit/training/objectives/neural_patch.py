"""Training objective of the neural-patch-synthesis content network (Yang et al., CVPR 2017, Sec. 3.1).

The Context Encoder's joint loss as Yang et al. use it: generator ``0.999 * L2 + 0.001 * adversarial``,
with the L2 weighted 10 times on a 4-pixel overlap band; Adam, lr 2e-4, beta1 0.5 (in the recipe).

* ``l2``: the Context Encoder predicts a patch 4 px larger on each side than its (square, centred)
  hole and weights the error on that known border 10 times. Holes here have any shape, so the band
  is ``dilate(mask, overlap) - mask`` with a Euclidean disk (:func:`inpaintkit.masks.disk`). Weights:
  1 in the hole, ``overlap_weight`` on the band, 0 elsewhere (the prediction there is never used);
  the weighted squared error is averaged over the hole + band pixels and the channels.
* generator ``adversarial``: ``mean(softplus(-D(completed)))`` (non-saturating), where the
  discriminator sees the completed frame (the prediction in the hole, the input elsewhere); its
  parameters are frozen for this term.
* discriminator ``adversarial``: ``mean(softplus(-D(real)) + softplus(D(completed)))``, unweighted,
  on the generator's output of the step (the trainer makes it once; the discriminator sees it detached).

One phase, ``joint``. An adversarial weight of 0 trains the generator on the L2 term alone (the
discriminator then has nothing to update).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ...losses import discriminator_adversarial_loss, generator_adversarial_loss, masked_mse
from ...masks import disk
from ...models import neural_patch
from ...types import InputError
from ..config import ModelConfig, parse_section
from ._base import GanObjective, check_non_negative, frozen, generator_for

PHASES = ("joint",)


@dataclass
class ContentLossConfig:
    """The ``objective:`` section of a content-network recipe. Defaults = the paper.

    Attributes:
        l2: weight of the overlap-weighted L2 term.
        adversarial: weight of the generator's adversarial term (0 = no GAN).
        overlap: width in pixels of the band around the hole whose error counts more.
        overlap_weight: weight of the band's pixels (the hole's pixels weigh 1).
        image_size: side of the training crops (= ``data.crop_size`` = the network's size).
        discriminator_width: channels of the discriminator's first convolution.
    """

    l2: float = 0.999
    adversarial: float = 0.001
    overlap: int = 4
    overlap_weight: float = 10.0
    image_size: int = 128
    discriminator_width: int = 64

    def __post_init__(self) -> None:
        check_non_negative(self)
        if self.discriminator_width < 1:
            raise InputError(f"objective.discriminator_width must be >= 1, got {self.discriminator_width}")


def overlap_weights(mask: Tensor, overlap: int, weight: float) -> Tensor:
    """Per-pixel L2 weights: 1 in the hole, ``weight`` within ``overlap`` px outside it, 0 elsewhere.

    Args:
        mask: ``(B, 1, H, W)`` in {0, 1}, 1 = hole.
        overlap: radius of the Euclidean disk the hole is dilated with.
        weight: weight of the band ``dilate(mask, overlap) - mask``.

    Returns:
        ``(B, 1, H, W)`` weights.
    """
    if overlap == 0:
        return mask
    kernel = torch.from_numpy(disk(overlap)).to(mask)[None, None]
    grown = (F.conv2d(mask, kernel, padding=overlap) > 0.5).to(mask.dtype)
    return mask + weight * (grown - mask)


def overlap_mse(pred: Tensor, target: Tensor, mask: Tensor, overlap: int = 4, weight: float = 10.0) -> Tensor:
    """Overlap-weighted squared error, averaged over the hole + band pixels and every channel.

    ``sum(w * (pred - target)^2) / (C * #{w > 0})`` with ``w = overlap_weights(mask, overlap, weight)``
    (0 when there is no hole).

    Shape: pred, target ``(B, C, H, W)``, mask ``(B, 1, H, W)`` -> scalar.
    """
    return masked_mse(pred, target, overlap_weights(mask, overlap, weight))


class ContentObjective(GanObjective):
    """The content network and its DCGAN discriminator with the Context Encoder's joint loss.

    Args:
        generator_config: size of the content network.
        config: loss weights, overlap band and discriminator width.

    Raises:
        InputError: ``config.image_size`` differs from the network's size.
    """

    method = "neural-patch-content"
    phases = PHASES

    def __init__(self, generator_config: neural_patch.ContentConfig, config: ContentLossConfig | None = None) -> None:
        super().__init__()
        self.config = config or ContentLossConfig()
        if self.config.image_size != generator_config.size:
            raise InputError(
                f"objective.image_size ({self.config.image_size}) must equal the content network's "
                f"size ({generator_config.size})"
            )
        self.generator = neural_patch.ContentNetwork(generator_config)
        self.discriminator = neural_patch.ContentDiscriminator(self.config.discriminator_width, generator_config.size)

    def generator_losses(self, batch: dict[str, Tensor], output: Tensor, phase: str) -> dict[str, Tensor]:
        """``l2`` and (adversarial weight > 0) ``adversarial`` on the completed frame."""
        c, image, mask = self.config, batch["image"], batch["mask"]
        terms = {"l2": c.l2 * overlap_mse(output, image, mask, c.overlap, c.overlap_weight)}
        if c.adversarial > 0:
            completed = mask * output + (1 - mask) * image
            with frozen(self.discriminator):
                terms["adversarial"] = c.adversarial * generator_adversarial_loss(self.discriminator(completed))
        return terms

    def discriminator_losses(self, batch: dict[str, Tensor], output: Tensor, phase: str) -> dict[str, Tensor]:
        """``adversarial`` on real and completed frames; nothing when the adversarial weight is 0."""
        if self.config.adversarial == 0:
            return {}
        image, mask = batch["image"], batch["mask"]
        real, fake = self.discriminator(image), self.discriminator(mask * output + (1 - mask) * image)
        return {"adversarial": discriminator_adversarial_loss(real, fake)}


def build_content_objective(model: ModelConfig, objective: Mapping[str, Any]) -> ContentObjective:
    """Build the content-network objective from a recipe's ``model`` and ``objective`` sections.

    Args:
        model: ``preset`` (a registered content network) and ``overrides`` of its config fields.
        objective: raw ``objective:`` mapping, keys of :class:`ContentLossConfig`.

    Raises:
        UnknownModelError: unknown preset.
        InputError: a preset that is not a content network, unknown key, wrong type or invalid value.
    """
    generator = generator_for(model, "content", "neural-patch-content", "the neural-patch content network")
    return ContentObjective(generator, parse_section(ContentLossConfig, objective, "objective"))
