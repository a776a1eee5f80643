"""GLCIC's training objective (Iizuka et al., SIGGRAPH 2017, Sec. 3.2-3.3).

Phases ``completion`` / ``discriminator`` / ``joint`` (the paper's T_C, T_D and joint training; see
:mod:`._three_phase` for the terms). The joint generator loss is ``mse + alpha * adversarial`` with
``alpha = 0.0004``.

What the discriminator sees: the *completed* image (the generator's output in the hole, the input
elsewhere; the paper restores the pixels outside the completion region) as a whole for the global
branch, and a ``local_size`` patch around the hole for the local branch. The patch is centred on
the bounding box of each image's mask and shifted to lie inside the image, so the ``glcic`` mask
generator (one rectangle) gives the paper's patch around the hole with no extra batch field; an
image without a hole gets the central patch. Real images are cropped at the same place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ...models import glcic
from ...types import InputError
from ..config import ModelConfig, parse_section
from ._base import generator_for
from ._three_phase import ThreePhaseObjective


@dataclass
class GlcicLossConfig:
    """The ``objective:`` section of a GLCIC recipe. Defaults = the paper.

    Attributes:
        alpha: weight of the generator's adversarial term in the joint phase.
        image_size: side of the training crops (= ``data.crop_size``); sizes the global branch.
        local_size: side of the patch around the hole the local branch sees.
        discriminator_width: channels of the first convolution of each branch (FC width = 16x).
    """

    alpha: float = 0.0004
    image_size: int = 256
    local_size: int = 128
    discriminator_width: int = 64

    def __post_init__(self) -> None:
        if not self.alpha >= 0:
            raise InputError(f"objective.alpha must be >= 0, got {self.alpha}")
        if self.image_size < 64 or self.image_size % 64:
            raise InputError(
                f"objective.image_size must be a multiple of 64 (six stride-2 convolutions), got {self.image_size}"
            )
        if self.local_size < 32 or self.local_size % 32 or self.local_size > self.image_size:
            raise InputError(
                f"objective.local_size must be a multiple of 32 and at most image_size "
                f"({self.image_size}), got {self.local_size}"
            )
        if self.discriminator_width < 1:
            raise InputError(f"objective.discriminator_width must be >= 1, got {self.discriminator_width}")


def hole_patch_corners(mask: Tensor, size: int) -> list[tuple[int, int]]:
    """Top-left corners of the ``size x size`` patches centred on each mask's hole.

    The centre is the middle of the hole's bounding box (the image centre when there is no hole);
    the patch is then shifted to lie inside the image.

    Args:
        mask: ``(B, 1, H, W)`` in {0, 1}, 1 = hole; H and W at least ``size``.
        size: side of the patches.

    Returns:
        One ``(top, left)`` per image.
    """
    height, width = mask.shape[-2:]
    rows = (mask[:, 0] > 0.5).any(dim=2)  # (B, H): rows that hold hole pixels
    cols = (mask[:, 0] > 0.5).any(dim=1)  # (B, W)
    corners = []
    for row, col in zip(rows.tolist(), cols.tolist()):
        if any(row):
            cy = (row.index(True) + height - 1 - row[::-1].index(True)) // 2
            cx = (col.index(True) + width - 1 - col[::-1].index(True)) // 2
        else:
            cy, cx = height // 2, width // 2
        top = min(max(cy - size // 2, 0), height - size)
        left = min(max(cx - size // 2, 0), width - size)
        corners.append((top, left))
    return corners


def crop_patches(images: Tensor, corners: list[tuple[int, int]], size: int) -> Tensor:
    """``images[i, :, top:top+size, left:left+size]`` for each image; ``(B, C, size, size)``."""
    return torch.stack([image[:, top : top + size, left : left + size] for image, (top, left) in zip(images, corners)])


class GlcicObjective(ThreePhaseObjective):
    """GLCIC's completion network and context discriminators with the three-phase losses.

    Args:
        generator_config: size and mean colour of the completion network.
        config: loss weight and discriminator sizes.
    """

    method = "glcic"

    def __init__(self, generator_config: glcic.GlcicConfig, config: GlcicLossConfig | None = None) -> None:
        super().__init__()
        self.config = config or GlcicLossConfig()
        self.alpha = self.config.alpha
        self.generator = glcic.GlcicCompletionNet(generator_config)
        self.discriminator = glcic.GlcicDiscriminator(
            self.config.discriminator_width, self.config.image_size, self.config.local_size
        )

    def fake_image(self, pred: Tensor, image: Tensor, mask: Tensor) -> Tensor:
        """The completed image: ``pred`` in the hole, ``image`` elsewhere."""
        return mask * pred + (1 - mask) * image

    def discriminate(self, images: Tensor, mask: Tensor) -> Tensor:
        """Global view of ``images`` plus the patch around each hole -> logits ``(B,)``."""
        size = self.config.image_size
        if tuple(images.shape[-2:]) != (size, size):
            raise InputError(
                f"objective.image_size is {size} but the training images are "
                f"{images.shape[-2]}x{images.shape[-1]}; set it to data.crop_size"
            )
        local = self.config.local_size
        return self.discriminator(images, crop_patches(images, hole_patch_corners(mask, local), local))


def build_glcic_objective(model: ModelConfig, objective: Mapping[str, Any]) -> GlcicObjective:
    """Build the GLCIC objective from a recipe's ``model`` and ``objective`` sections.

    Args:
        model: ``preset`` (a registered GLCIC model name) and ``overrides`` of its config fields.
        objective: raw ``objective:`` mapping, keys of :class:`GlcicLossConfig`.

    Raises:
        UnknownModelError: unknown preset.
        InputError: a preset that is not a GLCIC network, unknown key, wrong type or invalid value.
    """
    generator = generator_for(model, "glcic", "glcic", "GLCIC")
    return GlcicObjective(generator, parse_section(GlcicLossConfig, objective, "objective"))
