"""The GAN losses of every objective: non-saturating (with R1, as LaMa trains) and hinge (PD-GAN).

Non-saturating: ``NonSaturatingWithR1`` and ``make_r1_gp`` in ``saicinpainting/training/losses/
adversarial.py`` of https://github.com/advimman/lama (Apache-2.0); R1 from L. Mescheder et al.,
"Which Training Methods for GANs do actually Converge?", ICML 2018, arXiv:1801.04406. With logits
``D(x)`` and ``softplus(t) = log(1 + exp(t)) = -log(1 - sigmoid(t))``:

* generator: ``mean(softplus(-D(fake))) = mean(-log sigmoid(D(fake)))`` over batch and patches, i.e.
  binary cross-entropy with the target "real" (the ``-log D(G(z))`` form of GLCIC, image outpainting
  and the Context Encoder). With LaMa's settings (``mask_as_fake_target`` on, no extra hole weight
  for the generator) this term is **not** masked.
* discriminator: ``mean(softplus(-D(real)) + fake_term)`` where ``fake_term = softplus(D(fake))``
  (BCE with real -> 1, fake -> 0: ``-log D(x) - log(1 - D(G(z)))``), or with ``mask_as_fake_target``:
  ``m * softplus(D(fake)) + (1 - m) * softplus(-D(fake))``, ``m`` the hole mask resized to the logit
  map with nearest-neighbour sampling: patches of the fake image that lie on the known area are
  labelled *real*. The reference does not multiply this loss by the adversarial weight (that weight
  scales the generator's term only).
* R1: ``mean_over_batch(||grad_x sum(D(x))||_2^2)`` on real images, one squared norm per image
  over all its pixels and channels; the discriminator's loss adds ``r1 * R1``.

Hinge (J. H. Lim and J. C. Ye, "Geometric GAN", arXiv:1705.02894; as PD-GAN trains):

* generator: ``-mean(D(fake))``;
* discriminator: ``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))`` (real and fake batches may
  differ in size).

:func:`mean_over_scales` averages any of them over the outputs of a multi-scale discriminator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..types import InputError


def resize_mask(mask: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
    """Resize a ``(B, 1, H, W)`` mask to ``size`` with nearest-neighbour sampling (unchanged if equal)."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    return F.interpolate(mask, size=tuple(size), mode="nearest")


def generator_adversarial_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating generator loss ``mean(softplus(-D(fake)))``.

    Shape:
        fake_logits ``(B, 1, h, w)`` (any shape works) -> scalar.
    """
    return F.softplus(-fake_logits).mean()


def discriminator_adversarial_loss(real_logits: Tensor, fake_logits: Tensor, mask: Tensor | None = None) -> Tensor:
    """Discriminator loss ``mean(softplus(-D(real)) + fake_term)`` (see the module docstring).

    Args:
        real_logits: D's logits on real images.
        fake_logits: D's logits on generated images.
        mask: hole mask (1 = hole) of the generated images; when given, the known area of the fake
            image is labelled real (``mask_as_fake_target``). ``None`` labels every fake patch fake.

    Returns:
        A scalar.

    Shape:
        real_logits, fake_logits ``(B, 1, h, w)``; mask ``(B, 1, H, W)``, resized to ``(h, w)``.
    """
    fake_term = F.softplus(fake_logits)
    if mask is not None:
        mask = resize_mask(mask.to(fake_logits.dtype), fake_logits.shape[-2:])
        fake_term = mask * fake_term + (1 - mask) * F.softplus(-fake_logits)
    return (F.softplus(-real_logits) + fake_term).mean()


def r1_penalty(real_logits: Tensor, real_images: Tensor) -> Tensor:
    """R1 penalty ``mean_b ||d sum(D(x)) / d x_b||^2`` on real images (differentiable: create_graph).

    Args:
        real_logits: D's logits on ``real_images``.
        real_images: the real batch; it must have ``requires_grad`` set before D's forward pass.

    Returns:
        A scalar (not yet multiplied by the R1 coefficient).

    Raises:
        InputError: if ``real_logits`` was not computed from ``real_images`` with gradients on.
    """
    if not real_images.requires_grad or not real_logits.requires_grad:
        raise InputError(
            "r1_penalty needs real_images.requires_grad_(True) before the discriminator's "
            "forward pass, with gradients enabled"
        )
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.pow(2).flatten(1).sum(dim=1).mean()


def hinge_generator_loss(fake_logits: Tensor) -> Tensor:
    """Hinge generator loss ``-mean(D(fake))``; any shape -> scalar."""
    return -fake_logits.mean()


def hinge_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Hinge discriminator loss ``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``; a scalar.

    Shape:
        real_logits, fake_logits: any shapes (e.g. ``(B, ...)`` and ``(2B, ...)``).
    """
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def mean_over_scales(loss: Callable[..., Tensor], *per_scale: Sequence[object]) -> Tensor:
    """``mean over s of loss(per_scale[0][s], per_scale[1][s], ...)``: a loss over a multi-scale discriminator.

    Args:
        loss: the loss of one scale, e.g. :func:`hinge_discriminator_loss`.
        per_scale: one sequence per argument of ``loss``, each holding that argument at every scale.

    Returns:
        A scalar.

    Raises:
        InputError: sequences of different lengths, or empty ones.
    """
    counts = [len(scales) for scales in per_scale]
    if not counts or min(counts) == 0 or len(set(counts)) > 1:
        raise InputError(f"{loss.__name__} needs the same non-zero number of scales per input, got {counts}")
    return torch.stack([loss(*args) for args in zip(*per_scale)]).mean()


class GeneratorAdversarialLoss(nn.Module):
    """Module form of :func:`generator_adversarial_loss`."""

    def forward(self, fake_logits: Tensor) -> Tensor:
        return generator_adversarial_loss(fake_logits)


class DiscriminatorAdversarialLoss(nn.Module):
    """Discriminator side: :func:`discriminator_adversarial_loss` plus ``r1 *`` :func:`r1_penalty`.

    Args:
        r1: R1 coefficient (0 = no penalty).
        mask_as_fake_target: label the known area of the fake image real.
    """

    def __init__(self, r1: float = 0.001, mask_as_fake_target: bool = True) -> None:
        super().__init__()
        self.r1 = r1
        self.mask_as_fake_target = mask_as_fake_target

    def forward(self, real_logits: Tensor, fake_logits: Tensor, real_images: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """Return ``{"adversarial": ..., "r1": r1 * penalty}`` (``"r1"`` only when ``r1 > 0``)."""
        terms = {
            "adversarial": discriminator_adversarial_loss(
                real_logits, fake_logits, mask if self.mask_as_fake_target else None
            )
        }
        if self.r1 > 0:
            terms["r1"] = self.r1 * r1_penalty(real_logits, real_images)
        return terms


class HingeGeneratorLoss(nn.Module):
    """Module form of :func:`hinge_generator_loss`."""

    def forward(self, fake_logits: Tensor) -> Tensor:
        return hinge_generator_loss(fake_logits)


class HingeDiscriminatorLoss(nn.Module):
    """Module form of :func:`hinge_discriminator_loss`."""

    def forward(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return hinge_discriminator_loss(real_logits, fake_logits)
