"""The image-outpainting objective (Sabini & Rusak 2018, arXiv:1808.08483).

Reference: https://github.com/ShinyCode/image-outpainting, ``src/train.py`` and ``src/train_ld.py``.
Phases ``completion`` / ``discriminator`` / ``joint`` in the ratio 18 : 2 : 80 (see
:mod:`._three_phase` for the terms): ``mse`` over the generated pixels, and in the joint phase
``mse - alpha * log D(G(z))`` with ``alpha = 0.0004``. As in the reference, the discriminator sees
the generator's raw output (the whole frame), with the optional local branch on the two halves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from ...models import outpaint
from ...types import InputError
from ..config import ModelConfig, parse_section
from ._base import generator_for
from ._three_phase import ThreePhaseObjective


@dataclass
class OutpaintLossConfig:
    """The ``objective:`` section of an outpainting recipe. Defaults = the paper.

    Attributes:
        alpha: weight of the generator's adversarial term in the joint phase.
        image_size: side of the training crops (= ``data.crop_size``; paper: 128), a multiple of 32.
        local_discriminator: add the shared-weight local branch on the left and flipped right halves.
        discriminator_width: channels of the first convolution of each branch (paper: 32).
    """

    alpha: float = 0.0004
    image_size: int = 128
    local_discriminator: bool = False
    discriminator_width: int = 32

    def __post_init__(self) -> None:
        if not self.alpha >= 0:
            raise InputError(f"objective.alpha must be >= 0, got {self.alpha}")
        if self.image_size < 32 or self.image_size % 32:
            raise InputError(f"objective.image_size must be a multiple of 32, got {self.image_size}")
        if self.discriminator_width < 1:
            raise InputError(f"objective.discriminator_width must be >= 1, got {self.discriminator_width}")


class OutpaintObjective(ThreePhaseObjective):
    """The outpainting generator and discriminator with the three-phase losses.

    Args:
        generator_config: size of the generator.
        config: loss weight and discriminator options.
    """

    method = "outpaint"

    def __init__(self, generator_config: outpaint.OutpaintConfig, config: OutpaintLossConfig | None = None) -> None:
        super().__init__()
        self.config = config or OutpaintLossConfig()
        self.alpha = self.config.alpha
        self.generator = outpaint.OutpaintGenerator(generator_config)
        self.discriminator = outpaint.OutpaintDiscriminator(
            self.config.discriminator_width, self.config.image_size, self.config.local_discriminator
        )

    def discriminate(self, images: Tensor, mask: Tensor) -> Tensor:
        """Logits ``(B,)`` of whole frames (the mask is not used)."""
        size = self.config.image_size
        if tuple(images.shape[-2:]) != (size, size):
            raise InputError(
                f"objective.image_size is {size} but the training images are "
                f"{images.shape[-2]}x{images.shape[-1]}; set it to data.crop_size"
            )
        return self.discriminator(images)


def build_outpaint_objective(model: ModelConfig, objective: Mapping[str, Any]) -> OutpaintObjective:
    """Build the outpainting objective from a recipe's ``model`` and ``objective`` sections.

    Args:
        model: ``preset`` (a registered outpainting model name) and ``overrides`` of its config fields.
        objective: raw ``objective:`` mapping, keys of :class:`OutpaintLossConfig`.

    Raises:
        UnknownModelError: unknown preset.
        InputError: a preset that is not an outpainting network, unknown key, wrong type or invalid value.
    """
    generator = generator_for(model, "outpaint", "outpaint", "the outpainting generator")
    return OutpaintObjective(generator, parse_section(OutpaintLossConfig, objective, "objective"))
