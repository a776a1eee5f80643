"""Training losses (function + thin ``nn.Module`` each); objectives weight and combine them."""

from .adversarial import (
    DiscriminatorAdversarialLoss,
    GeneratorAdversarialLoss,
    HingeDiscriminatorLoss,
    HingeGeneratorLoss,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    mean_over_scales,
    r1_penalty,
    resize_mask,
)
from .feature_matching import FeatureMatchingLoss, feature_matching_loss
from .perceptual import BACKBONES, PerceptualLoss, load_backbone, perceptual_loss
from .reconstruction import MaskedL1Loss, MaskedMSELoss, masked_l1_loss, masked_mse

__all__ = [
    "BACKBONES",
    "DiscriminatorAdversarialLoss",
    "FeatureMatchingLoss",
    "GeneratorAdversarialLoss",
    "HingeDiscriminatorLoss",
    "HingeGeneratorLoss",
    "MaskedL1Loss",
    "MaskedMSELoss",
    "PerceptualLoss",
    "discriminator_adversarial_loss",
    "feature_matching_loss",
    "generator_adversarial_loss",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "load_backbone",
    "masked_l1_loss",
    "masked_mse",
    "mean_over_scales",
    "perceptual_loss",
    "r1_penalty",
    "resize_mask",
]
