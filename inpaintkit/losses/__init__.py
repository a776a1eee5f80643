"""Training losses (function + thin ``nn.Module`` each); objectives weight and combine them."""

from .adversarial import (
    DiscriminatorAdversarialLoss,
    GeneratorAdversarialLoss,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    r1_penalty,
    resize_mask,
)
from .feature_matching import FeatureMatchingLoss, feature_matching_loss
from .perceptual import BACKBONES, PerceptualLoss, load_backbone, perceptual_loss
from .reconstruction import MaskedL1Loss, masked_l1_loss

__all__ = [
    "BACKBONES",
    "DiscriminatorAdversarialLoss",
    "FeatureMatchingLoss",
    "GeneratorAdversarialLoss",
    "MaskedL1Loss",
    "PerceptualLoss",
    "discriminator_adversarial_loss",
    "feature_matching_loss",
    "generator_adversarial_loss",
    "load_backbone",
    "masked_l1_loss",
    "perceptual_loss",
    "r1_penalty",
    "resize_mask",
]
