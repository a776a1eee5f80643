"""Loss functions against hand-computed values on tiny tensors; function == module."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from inpaintkit.losses import (
    DiscriminatorAdversarialLoss,
    FeatureMatchingLoss,
    GeneratorAdversarialLoss,
    HingeDiscriminatorLoss,
    HingeGeneratorLoss,
    MaskedL1Loss,
    MaskedMSELoss,
    PerceptualLoss,
    discriminator_adversarial_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    masked_l1_loss,
    masked_mse,
    mean_over_scales,
    perceptual_loss,
    r1_penalty,
    resize_mask,
)
from inpaintkit.losses.perceptual import as_feature_list
from inpaintkit.types import InputError

LN2, LN3 = math.log(2.0), math.log(3.0)


def t(rows: list[list[float]]) -> torch.Tensor:
    """A (1,1,H,W) float64 tensor from nested rows."""
    return torch.tensor(rows, dtype=torch.float64)[None, None]


# ------------------------------------------------------------------------ masked L1
PRED = t([[0.5, 0.2], [0.9, 0.0]])
TARGET = t([[0.1, 0.2], [0.4, 1.0]])  # |error| = [[0.4, 0.0], [0.5, 1.0]]
HOLE = t([[1.0, 0.0], [0.0, 1.0]])


def test_masked_l1_known_hole_and_weighted_by_hand() -> None:
    # The mean runs over all 4 pixels, not over the known / hole pixels only (reference scaling).
    assert masked_l1_loss(PRED, TARGET, HOLE, 1.0, 0.0).item() == pytest.approx((0.0 + 0.5) / 4)
    assert masked_l1_loss(PRED, TARGET, HOLE, 0.0, 1.0).item() == pytest.approx((0.4 + 1.0) / 4)
    assert masked_l1_loss(PRED, TARGET, HOLE, 10.0, 2.0).item() == pytest.approx((10 * 0.5 + 2 * 1.4) / 4)


def test_masked_l1_mask_broadcasts_over_channels_and_batch() -> None:
    pred = PRED.expand(2, 3, 2, 2)
    target = TARGET.expand(2, 3, 2, 2)
    mask = HOLE.expand(2, 1, 2, 2)
    assert masked_l1_loss(pred, target, mask, 1.0, 0.0).item() == pytest.approx(0.125)


def test_masked_l1_module_matches_function() -> None:
    gen = torch.Generator().manual_seed(0)
    pred, target = torch.rand(2, 3, 5, 6, generator=gen), torch.rand(2, 3, 5, 6, generator=gen)
    mask = (torch.rand(2, 1, 5, 6, generator=gen) > 0.5).float()
    assert torch.equal(MaskedL1Loss(3.0, 0.5)(pred, target, mask), masked_l1_loss(pred, target, mask, 3.0, 0.5))


def test_masked_mse_averages_over_weighted_pixels_and_channels_by_hand() -> None:
    pred = torch.zeros(1, 2, 2, 2, dtype=torch.float64)
    pred[:, :, 0, 0], pred[:, 0, 0, 1], pred[:, :, 1, 1] = 1.0, 2.0, 5.0  # (1,1) has weight 0
    weights = t([[1.0, 10.0], [1.0, 0.0]])
    target = torch.zeros_like(pred)
    # weighted errors: (0,0) 1 + 1, (0,1) 10 * 4 + 0, (1,0) 0; over 3 pixels x 2 channels
    assert masked_mse(pred, target, weights).item() == pytest.approx((2 + 40) / 6)
    hole = t([[1.0, 1.0], [0.0, 0.0]])  # a {0,1} mask: the plain MSE over the hole's pixels
    assert masked_mse(pred, target, hole).item() == pytest.approx(pred[..., 0, :].pow(2).mean().item())
    assert MaskedMSELoss()(pred, target, weights).item() == masked_mse(pred, target, weights).item()
    assert masked_mse(pred, target, torch.zeros_like(weights)).item() == 0.0  # no hole


# ------------------------------------------------------------------------ adversarial
def test_generator_loss_is_mean_softplus_of_minus_logits() -> None:
    logits = t([[0.0, LN3]])
    expected = (LN2 + math.log(4 / 3)) / 2  # softplus(-0) = ln 2, softplus(-ln 3) = ln(1 + 1/3)
    assert generator_adversarial_loss(logits).item() == pytest.approx(expected)
    assert GeneratorAdversarialLoss()(logits).item() == pytest.approx(expected)


def test_non_saturating_losses_are_the_binary_cross_entropies() -> None:
    """GLCIC / outpainting / Context Encoder write -log D(fake) and -log D(real) - log(1 - D(fake))."""
    real = torch.tensor([1.5, -0.5, 0.0], dtype=torch.float64)
    fake = torch.tensor([-2.0, 0.25, 3.0], dtype=torch.float64)
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    assert generator_adversarial_loss(fake).item() == pytest.approx(-torch.log(d_fake).mean().item())
    expected = (-torch.log(d_real) - torch.log(1 - d_fake)).mean().item()
    assert discriminator_adversarial_loss(real, fake).item() == pytest.approx(expected)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    assert discriminator_adversarial_loss(real, fake).item() == pytest.approx(
        bce(real, torch.ones_like(real)).item() + bce(fake, torch.zeros_like(fake)).item()
    )


def test_hinge_losses_by_hand() -> None:
    real = torch.tensor([2.0, 0.5, -1.0, 1.0])  # relu(1 - x): 0, 0.5, 2, 0 -> 0.625
    fake = torch.tensor([-2.0, 0.0])  # relu(1 + x): 0, 1 -> 0.5; -mean = 1
    assert hinge_discriminator_loss(real, fake).item() == pytest.approx(0.625 + 0.5)  # batches of any size
    assert hinge_generator_loss(fake).item() == pytest.approx(1.0)
    assert HingeDiscriminatorLoss()(real, fake).item() == hinge_discriminator_loss(real, fake).item()
    assert HingeGeneratorLoss()(fake).item() == hinge_generator_loss(fake).item()


def test_mean_over_scales_averages_a_loss_over_discriminator_scales() -> None:
    real = [torch.tensor([2.0, 0.5]), torch.tensor([-1.0, 1.0])]
    fake = [torch.tensor([-2.0, 0.0]), torch.tensor([0.5, -0.5])]
    # scale 0: real 0.25 + fake 0.5; scale 1: real 1 + fake (1.5 + 0.5) / 2 = 1
    assert mean_over_scales(hinge_discriminator_loss, real, fake).item() == pytest.approx((0.75 + 2.0) / 2)
    assert mean_over_scales(hinge_generator_loss, fake).item() == pytest.approx((1.0 + 0.0) / 2)
    with pytest.raises(
        InputError, match=r"hinge_discriminator_loss needs the same non-zero number of scales .*\[2, 1\]"
    ):
        mean_over_scales(hinge_discriminator_loss, real, fake[:1])
    with pytest.raises(InputError, match="same non-zero number of scales"):
        mean_over_scales(hinge_generator_loss, [])


def test_resize_mask_is_nearest() -> None:
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    mask[0, 0, 0, 0] = mask[0, 0, 2, 2] = 1  # sampled by nearest (rows/cols 0 and 2)
    mask[0, 0, 1, 1] = mask[0, 0, 3, 0] = 1  # not sampled: a max-pool or bilinear resize would see them
    assert torch.equal(resize_mask(mask, (2, 2)), t([[1.0, 0.0], [0.0, 1.0]]))
    assert resize_mask(mask, (4, 4)) is mask


def test_discriminator_loss_mask_as_fake_target_by_hand() -> None:
    real = torch.zeros(1, 1, 2, 2, dtype=torch.float64)  # softplus(-0) = ln 2 everywhere
    fake = torch.full((1, 1, 2, 2), LN3, dtype=torch.float64)  # softplus(ln 3) = ln 4, softplus(-ln 3) = ln 4/3
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    mask[0, 0, 0, 0] = mask[0, 0, 2, 2] = mask[0, 0, 1, 1] = 1  # -> [[1, 0], [0, 1]] at 2x2
    # Hole patches keep the fake label (softplus(D)), known patches get the real one (softplus(-D)).
    expected_masked = LN2 + (2 * math.log(4) + 2 * math.log(4 / 3)) / 4
    assert discriminator_adversarial_loss(real, fake, mask).item() == pytest.approx(expected_masked)
    assert discriminator_adversarial_loss(real, fake).item() == pytest.approx(LN2 + math.log(4))
    # Everything known: the whole fake image is labelled real; everything hole: plain loss.
    assert discriminator_adversarial_loss(real, fake, torch.zeros_like(mask)).item() == pytest.approx(
        LN2 + math.log(4 / 3)
    )
    assert discriminator_adversarial_loss(real, fake, torch.ones_like(mask)).item() == pytest.approx(LN2 + math.log(4))


def test_discriminator_loss_real_term_by_hand() -> None:
    real = t([[0.0, LN3], [-LN3, 0.0]])  # softplus(-x): ln 2, ln 4/3, ln 4, ln 2
    fake = torch.zeros(1, 1, 2, 2, dtype=torch.float64)  # ln 2 whatever the label
    expected = (2 * LN2 + math.log(4 / 3) + math.log(4)) / 4 + LN2
    assert discriminator_adversarial_loss(real, fake).item() == pytest.approx(expected)


def linear_discriminator(weights: torch.Tensor):
    """D(x) = sum_c w_c x_c per pixel: d sum(D) / dx = w_c at every pixel."""
    return lambda x: (x * weights.view(1, -1, 1, 1)).sum(dim=1, keepdim=True)


def test_r1_of_linear_discriminator_by_hand() -> None:
    w = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    x = torch.rand(4, 3, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    penalty = r1_penalty(linear_discriminator(w)(x), x)
    assert penalty.item() == pytest.approx(2 * 2 * (1 + 4 + 9))  # H*W*|w|^2 for every image
    # The penalty is differentiable (create_graph): d(H W |w|^2)/dw = 2 H W w.
    (grad_w,) = torch.autograd.grad(penalty, w)
    torch.testing.assert_close(grad_w, 2 * 4 * w.detach())


def test_r1_is_mean_over_batch_of_per_image_squared_norms() -> None:
    x = torch.tensor([0.5, 1.0], dtype=torch.float64).view(2, 1, 1, 1).expand(2, 3, 2, 2).clone().requires_grad_(True)
    logits = (x**2).sum(dim=1, keepdim=True)  # gradient 2x: image 0 -> 12 * 1.0, image 1 -> 12 * 4.0
    assert r1_penalty(logits, x).item() == pytest.approx((12 * 1.0 + 12 * 4.0) / 2)


def test_r1_needs_gradients_on_real_images() -> None:
    x = torch.rand(1, 3, 2, 2)
    with pytest.raises(InputError, match="requires_grad_"):
        r1_penalty(x.sum(dim=1, keepdim=True), x)


def test_discriminator_module_matches_functions() -> None:
    w = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    real = torch.rand(2, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    fake_logits = torch.randn(2, 1, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    mask = (torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(4)) > 0.5).double()
    real_logits = linear_discriminator(w)(real)[:, :, ::2, ::2]
    terms = DiscriminatorAdversarialLoss(r1=0.5, mask_as_fake_target=True)(real_logits, fake_logits, real, mask)
    assert set(terms) == {"adversarial", "r1"}
    assert terms["adversarial"].item() == pytest.approx(
        discriminator_adversarial_loss(real_logits, fake_logits, mask).item()
    )
    assert terms["r1"].item() == pytest.approx(0.5 * 2 * 2 * 5.25)  # 4 sampled pixels * |w|^2, times 0.5
    unmasked = DiscriminatorAdversarialLoss(r1=0.0, mask_as_fake_target=False)(real_logits, fake_logits, real, mask)
    assert set(unmasked) == {"adversarial"}
    assert unmasked["adversarial"].item() == pytest.approx(
        discriminator_adversarial_loss(real_logits, fake_logits).item()
    )


# ------------------------------------------------------------------------ feature matching
def test_feature_matching_by_hand_and_real_detached() -> None:
    fake = [torch.ones(1, 1, 2, 2, requires_grad=True), torch.full((1, 2, 1, 1), 3.0, requires_grad=True)]
    real = [torch.zeros(1, 1, 2, 2, requires_grad=True), torch.ones(1, 2, 1, 1, requires_grad=True)]
    loss = feature_matching_loss(fake, real)
    assert loss.item() == pytest.approx((1.0 + 4.0) / 2)  # MSE per layer, averaged over layers
    assert FeatureMatchingLoss()(fake, real).item() == pytest.approx(loss.item())
    loss.backward()
    assert fake[0].grad is not None and all(r.grad is None for r in real)


def test_feature_matching_needs_matching_lists() -> None:
    with pytest.raises(InputError, match="same non-zero number"):
        feature_matching_loss([torch.zeros(1)], [])


# ------------------------------------------------------------------------ perceptual
def test_perceptual_loss_sums_layer_mses() -> None:
    pred = [torch.ones(1, 1, 2, 2), torch.full((1, 2, 1, 1), 3.0)]
    target = [torch.zeros(1, 1, 2, 2), torch.ones(1, 2, 1, 1)]
    assert perceptual_loss(pred, target).item() == pytest.approx(1.0 + 4.0)


class TwoTaps(nn.Module):
    """A stand-in backbone with known features: x and 2x."""

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"a": image, "b": 2 * image}


def test_feature_outputs_as_lists() -> None:
    a, b = torch.zeros(1), torch.ones(1)
    assert as_feature_list({"x": a, "y": b}) == [a, b] and as_feature_list((a, b)) == [a, b]
    with pytest.raises(InputError, match="perceptual_loss needs the same non-zero number of feature maps, got 0 and 0"):
        perceptual_loss([], [])


def test_perceptual_module_on_backbone_features() -> None:
    gen = torch.Generator().manual_seed(5)
    pred = torch.rand(2, 3, 4, 4, generator=gen, requires_grad=True)
    target = torch.rand(2, 3, 4, 4, generator=gen, requires_grad=True)
    loss = PerceptualLoss(TwoTaps())(pred, target)
    mse = (pred - target).pow(2).mean()
    assert loss.item() == pytest.approx((mse + 4 * mse).item())  # MSE(x) + MSE(2x)
    loss.backward()
    assert pred.grad is not None and target.grad is None  # target features are constants
