"""LaMa's training objective (Suvorov et al., WACV 2022, arXiv:2109.07161).

Reference: https://github.com/advimman/lama (Apache-2.0), ``saicinpainting/training/trainers/
default.py`` and ``base.py``, configs ``configs/training/lama-fourier.yaml`` / ``big-lama.yaml``.

Generator step (on the raw prediction ``pred = G(image, mask)``, whose network sees the hole zeroed
or prefilled as its config says, as the reference's
``image_to_discriminator: predicted_image``; the composite ``mask * pred + (1 - mask) * image`` is
only for validation and pictures):

* ``l1_known * masked_l1(pred, image, known)`` and ``l1_hole * masked_l1(pred, image, hole)``, each
  averaged over all pixels (see :mod:`inpaintkit.losses.reconstruction`);
* ``adversarial * mean(softplus(-D(pred)))``, unmasked;
* ``feature_matching * mean over D's layers of MSE(D_l(pred), D_l(image))``, unmasked;
* ``perceptual_hrf * sum over the 4 stages of MSE`` on the ADE20k ResNet50-dilated encoder, and
  optionally ``perceptual_vgg *`` the same on VGG-19 (``relu1_1`` .. ``relu5_1``).

D's parameters are frozen during the generator's forward pass (as Lightning's optimizer toggling
does in the reference), so the generator's losses leave no gradients on D.

Discriminator step: ``mean(softplus(-D(image)) + fake_term(D(pred.detach())))`` with the known area
of the fake labelled real (``mask_as_fake_target``), plus ``r1 * R1`` on the real images. As in the
reference this loss is not multiplied by the adversarial weight, and it is skipped (no terms) when
the adversarial weight is 0.

Deliberate deviation: both steps use the one prediction the trainer makes per step (see
:mod:`inpaintkit.training.objectives`), i.e. made before the generator's update; the discriminator
sees it detached. The reference runs the generator again inside the discriminator step, after that
update.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch.nn as nn
from torch import Tensor

from ...losses import (
    DiscriminatorAdversarialLoss,
    PerceptualLoss,
    feature_matching_loss,
    generator_adversarial_loss,
    load_backbone,
    masked_l1_loss,
)
from ...models import lama
from ...models.discriminators import NLayerDiscriminator
from ...types import InputError, WeightsError
from ..config import ModelConfig, parse_section
from ._base import GanObjective, check_non_negative, frozen, generator_for


@dataclass
class LamaLossConfig:
    """Loss weights of LaMa (the ``objective:`` section of a recipe). Defaults = the paper's recipe.

    Attributes:
        l1_known: L1 on the known pixels.
        l1_hole: L1 on the hole pixels (0 in the official recipe, whose perceptual loss drives the hole).
        adversarial: non-saturating adversarial loss of the generator (0 = no discriminator training).
        r1: R1 gradient-penalty coefficient on real images (discriminator).
        mask_as_fake_target: label the known area of the fake image real for D.
        feature_matching: MSE between D's features on fake and real images.
        perceptual_hrf: high-receptive-field perceptual loss (ADE20k ResNet50-dilated encoder).
        perceptual_vgg: VGG-19 perceptual loss.
        hrf_weights: local file for the ResNet50-dilated encoder ("" = the registered download).
        vgg_weights: local file for VGG-19 ("" = the registered download).
        discriminator_ndf: width of D's first layer (paper: 64).
        discriminator_layers: strided layers of the PatchGAN D (paper: 4).
    """

    l1_known: float = 10.0
    l1_hole: float = 0.0
    adversarial: float = 10.0
    r1: float = 0.001
    mask_as_fake_target: bool = True
    feature_matching: float = 100.0
    perceptual_hrf: float = 30.0
    perceptual_vgg: float = 0.0
    hrf_weights: str = ""
    vgg_weights: str = ""
    discriminator_ndf: int = 64
    discriminator_layers: int = 4

    def __post_init__(self) -> None:
        check_non_negative(self)
        if min(self.discriminator_ndf, self.discriminator_layers) < 1:
            raise InputError("objective.discriminator_ndf and discriminator_layers must be >= 1")


#: Perceptual terms: config weight key -> (backbone name, config key of its local file).
_PERCEPTUAL = {"perceptual_hrf": ("ade20k-resnet50dilated", "hrf_weights"), "perceptual_vgg": ("vgg19", "vgg_weights")}


class LamaObjective(GanObjective):
    """LaMa's generator (``ffc_resnet``) and PatchGAN discriminator with their losses.

    Args:
        generator_config: size of the generator.
        config: loss weights; perceptual backbones are loaded only for non-zero weights.
        progress: show a progress bar if a backbone's weights are downloaded.

    Raises:
        WeightsError: a perceptual term has a non-zero weight and its backbone weights are absent
            (the message names the file, its URL, where to put it and the key that turns it off).
    """

    method = "lama"

    def __init__(
        self, generator_config: lama.LamaConfig, config: LamaLossConfig | None = None, *, progress: bool = True
    ) -> None:
        super().__init__()
        self.config = config or LamaLossConfig()
        self.generator = lama.LamaGenerator(generator_config)
        self.discriminator = NLayerDiscriminator(
            input_nc=3, ndf=self.config.discriminator_ndf, n_layers=self.config.discriminator_layers
        )
        self.discriminator_loss = DiscriminatorAdversarialLoss(self.config.r1, self.config.mask_as_fake_target)
        self.perceptual = nn.ModuleDict(
            {key: _perceptual(self.config, key, progress) for key in _PERCEPTUAL if getattr(self.config, key) > 0}
        )

    def generator_losses(self, batch: dict[str, Tensor], output: Tensor, phase: str) -> dict[str, Tensor]:
        """``l1_known``, ``l1_hole``, ``adversarial``, ``feature_matching``, ``perceptual_hrf``,
        ``perceptual_vgg`` (zero-weight terms left out) on the prediction ``output``; every phase alike."""
        image, mask, pred = batch["image"], batch["mask"], output
        c = self.config
        terms: dict[str, Tensor] = {}
        if c.l1_known > 0:
            terms["l1_known"] = c.l1_known * masked_l1_loss(pred, image, mask, weight_known=1.0, weight_missing=0.0)
        if c.l1_hole > 0:
            terms["l1_hole"] = c.l1_hole * masked_l1_loss(pred, image, mask, weight_known=0.0, weight_missing=1.0)
        if c.adversarial > 0 or c.feature_matching > 0:
            with frozen(self.discriminator):
                real_features = self.discriminator(image)[1] if c.feature_matching > 0 else []
                fake_logits, fake_features = self.discriminator(pred)
            if c.adversarial > 0:
                terms["adversarial"] = c.adversarial * generator_adversarial_loss(fake_logits)
            if c.feature_matching > 0:
                terms["feature_matching"] = c.feature_matching * feature_matching_loss(fake_features, real_features)
        for key, loss in self.perceptual.items():
            terms[key] = getattr(c, key) * loss(pred, image)
        return terms

    def discriminator_losses(self, batch: dict[str, Tensor], output: Tensor, phase: str) -> dict[str, Tensor]:
        """``adversarial`` and ``r1`` on real images and the detached prediction ``output`` (nothing
        when the adversarial weight is 0); every phase alike."""
        if self.config.adversarial == 0:
            return {}
        image, mask = batch["image"], batch["mask"]
        real = image.detach().requires_grad_(self.config.r1 > 0)
        real_logits, _ = self.discriminator(real)
        fake_logits, _ = self.discriminator(output)
        return self.discriminator_loss(real_logits, fake_logits, real, mask)


def build_lama_objective(model: ModelConfig, objective: Mapping[str, Any], *, progress: bool = True) -> LamaObjective:
    """Build the LaMa objective from a recipe's ``model`` and ``objective`` sections.

    Args:
        model: ``preset`` (a registered LaMa model name) and ``overrides`` of its config fields.
        objective: raw ``objective:`` mapping (YAML values or override strings), keys of
            :class:`LamaLossConfig`.
        progress: show a progress bar if backbone weights are downloaded.

    Raises:
        UnknownModelError: unknown preset.
        InputError: a preset that is not a LaMa network, unknown key, wrong type or invalid value.
        WeightsError: see :class:`LamaObjective`.
    """
    generator = generator_for(model, "lama", "lama", "LaMa")
    return LamaObjective(generator, parse_section(LamaLossConfig, objective, "objective"), progress=progress)


def _perceptual(config: LamaLossConfig, key: str, progress: bool) -> PerceptualLoss:
    name, path_key = _PERCEPTUAL[key]
    try:
        backbone = load_backbone(name, getattr(config, path_key) or None, progress=progress)
    except WeightsError as err:
        raise WeightsError(
            f"objective.{key}={getattr(config, key):g} needs pretrained weights: {err}; or set "
            f"--objective.{path_key}=PATH to a local copy, or turn this loss off with "
            f"--objective.{key}=0"
        ) from None
    return PerceptualLoss(backbone)
