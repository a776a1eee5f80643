"""Neural patch synthesis: patch extraction and matching against brute force, the energies' gradients,
the multi-scale optimisation (periodic texture vs Telea, any hole, a raw prediction that keeps the known
pixels at full size), feature spaces."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inpaintkit.losses.texture import nearest_patches, neural_patches, texture_energy, tv_energy
from inpaintkit.models._patch_features import PixelPatchFeatures, load_feature_space
from inpaintkit.models.neural_patch import SynthesisConfig, scale_sizes, synthesize
from inpaintkit.pipelines.processing import resize
from inpaintkit.types import InputError, WeightsError

torch.set_num_threads(1)


# --------------------------------------------------------------------------------- patches
def test_neural_patches_are_unfold_windows_zero_padded() -> None:
    features = torch.randn(2, 5, 6, generator=torch.Generator().manual_seed(0))
    rows, cols = torch.tensor([0, 2, 4, 4]), torch.tensor([0, 3, 5, 1])
    unfolded = F.unfold(features[None], 3, padding=1)[0].T  # (30, 18), row y * 6 + x
    assert torch.equal(neural_patches(features, rows, cols), unfolded[rows * 6 + cols])
    corner = neural_patches(features, rows[:1], cols[:1])[0].view(2, 3, 3)
    assert torch.equal(corner[:, 0], torch.zeros(2, 3)) and torch.equal(corner[:, 1:, 1:], features[:, :2, :2])


@pytest.mark.parametrize("metric", ["ncc", "l2"])
@pytest.mark.parametrize("max_scores", [1 << 22, 7])  # one block, and many small blocks of both sides
def test_nearest_patches_equal_a_brute_force_search(metric: str, max_scores: int) -> None:
    gen = torch.Generator().manual_seed(1)
    queries, bank = torch.randn(300, 6, generator=gen), torch.randn(23, 6, generator=gen) * 2
    bank[5] = 0  # an all-zero patch scores 0 under NCC and is never a NaN

    def score(q: list[float], b: list[float]) -> float:
        if metric == "l2":
            return -sum((x - y) ** 2 for x, y in zip(q, b))
        norm = (sum(x * x for x in q) ** 0.5) * (sum(y * y for y in b) ** 0.5)
        return sum(x * y for x, y in zip(q, b)) / norm if norm else 0.0

    expected = []
    for q in queries.tolist():
        scores = [score(q, b) for b in bank.tolist()]
        expected.append(scores.index(max(scores)))
    found = nearest_patches(queries, bank, metric, max_scores=max_scores)
    assert found.tolist() == expected


def test_nearest_patches_errors() -> None:
    with pytest.raises(InputError, match="non-empty bank of 4-value patches"):
        nearest_patches(torch.ones(2, 4), torch.ones(0, 4))
    with pytest.raises(InputError, match="unknown patch metric 'cos'"):
        nearest_patches(torch.ones(2, 4), torch.ones(3, 4), "cos")
    assert nearest_patches(torch.ones(0, 4), torch.ones(3, 4)).shape == (0,)


# --------------------------------------------------------------------------------- energies
def test_texture_energy_value_and_gradient() -> None:
    gen = torch.Generator().manual_seed(2)
    features = torch.randn(2, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    rows, cols = torch.tensor([1, 2, 3, 0]), torch.tensor([1, 4, 0, 2])
    targets = torch.randn(4, 18, generator=gen, dtype=torch.float64)
    expected = (F.unfold(features[None], 3, padding=1)[0].T[rows * 5 + cols] - targets).pow(2).mean()
    assert torch.allclose(texture_energy(features, rows, cols, targets), expected)
    assert torch.autograd.gradcheck(lambda f: texture_energy(f, rows, cols, targets), (features,))
    assert float(texture_energy(features.detach(), rows[:0], cols[:0], targets[:0])) == 0.0


def test_tv_energy_value_and_gradient() -> None:
    image = torch.tensor([[[[0.0, 1.0, 1.0], [0.0, 0.0, 3.0]]]], dtype=torch.float64)
    # horizontal pairs: 1, 0 | 0, 9; vertical: 0, 1, 4 -> 15 over 7 pairs
    assert float(tv_energy(image)) == pytest.approx(15 / 7)
    mask = torch.zeros(1, 1, 2, 3, dtype=torch.float64)
    mask[..., 1, 2] = 1  # pairs touching (1, 2): horizontal (0 -> 3): 9, vertical (1 -> 3): 4
    assert float(tv_energy(image, mask)) == pytest.approx(13 / 2)
    x = torch.rand(1, 3, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3)).requires_grad_()
    hole = torch.zeros(1, 1, 5, 6, dtype=torch.float64)
    hole[..., 1:3, 2:5] = 1
    assert torch.autograd.gradcheck(lambda t: tv_energy(t, hole), (x,))


def test_texture_energy_through_pixel_features_has_exact_gradients() -> None:
    features = PixelPatchFeatures().double()
    image = torch.rand(1, 3, 12, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    rows, cols = torch.tensor([1, 1, 2]), torch.tensor([2, 3, 3])
    targets = [torch.rand(3, 108, dtype=torch.float64), torch.rand(3, 432, dtype=torch.float64)]

    def energy(x: torch.Tensor) -> torch.Tensor:
        maps = features(x)
        return texture_energy(maps[0], rows, cols, targets[0]) + texture_energy(
            maps[1], rows[:1], cols[:1], targets[1][:1]
        )

    assert torch.autograd.gradcheck(energy, (image.requires_grad_(),))


# ------------------------------------------------------------------------------ optimisation
def _periodic(size: int, period: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = 0.5 + 0.3 * np.sin(2 * np.pi * xx / period) * np.sin(2 * np.pi * yy / period)
    g = 0.5 + 0.3 * np.cos(2 * np.pi * (xx + yy) / period)
    b = 0.4 + 0.2 * np.sin(2 * np.pi * yy / period)
    return np.stack([r, g, b], -1)


def test_periodic_texture_is_filled_better_than_telea() -> None:
    texture = _periodic(64, 10)
    image = torch.from_numpy(texture).permute(2, 0, 1)[None]
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 23:47, 15:39] = 1
    known = (1 - mask).sum()
    mean_fill = image * (1 - mask) + mask * (image * (1 - mask)).sum((2, 3), keepdim=True) / known
    config = SynthesisConfig(scales=2, max_side=64)
    out = synthesize(image, mask, mean_fill, PixelPatchFeatures(), config)
    hole_u8 = (mask[0, 0].numpy() * 255).astype(np.uint8)
    telea = cv2.inpaint((texture * 255).round().astype(np.uint8), hole_u8, 3, cv2.INPAINT_TELEA) / 255.0
    hole = mask[0, 0].numpy() > 0
    ours_error = float(((out[0].permute(1, 2, 0).numpy() - texture)[hole] ** 2).mean())
    telea_error = float(((telea - texture)[hole] ** 2).mean())
    assert ours_error < 0.2 * telea_error, (ours_error, telea_error)


def _holes() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(5)
    image = torch.rand(2, 3, 40, 56, generator=gen)
    mask = torch.zeros(2, 1, 40, 56)
    mask[0, :, 10:22, 14:30] = 1
    mask[1, :, 0:9, 40:56] = 1  # a corner hole
    return image, mask


def test_at_full_size_the_raw_prediction_keeps_every_known_pixel() -> None:
    """Only hole pixels are optimised: no compositing needed for the known pixels to come back bit for bit."""
    image, mask = _holes()
    coarse = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    out = synthesize(image, mask, coarse, PixelPatchFeatures(), SynthesisConfig(scales=2, iterations=4, max_side=64))
    assert out.shape == image.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.equal(out * (1 - mask), image * (1 - mask))
    assert not torch.equal(out * mask, image * mask)


def test_filled_smaller_the_raw_prediction_is_the_upsampled_frame_not_composited() -> None:
    """At a 24-px working size the whole frame is upsampled: known pixels are the upsampled ones (no feather
    ramp, no pasting of the input; the pipeline composites), and with no iterations that frame is the content
    guess in the hole and the shrunk image elsewhere."""
    image, mask = _holes()
    coarse = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    config = SynthesisConfig(scales=1, iterations=0, max_side=24)
    out = synthesize(image, mask, coarse, PixelPatchFeatures(), config)
    small = (17, 24)  # 40 x 56 with its long side shrunk to max_side (40 * 24 / 56 = 17.1)
    hole = (resize(mask, small, "area") > 0).float()
    frame = torch.where(hole > 0, resize(coarse, small), resize(image, small))
    assert torch.equal(out, resize(frame, (40, 56)).clamp(0, 1))
    assert not torch.equal(out * (1 - mask), image * (1 - mask))  # far from the hole too: nothing pasted back


def test_any_hole_shape_and_position_is_filled() -> None:
    image = torch.from_numpy(_periodic(48, 10)).permute(2, 0, 1)[None].repeat(3, 1, 1, 1)[..., :40]
    mask = torch.zeros(3, 1, 48, 40)
    mask[0, :, 0:12, 0:10] = 1  # top-left corner
    mask[1, :, 30:48, 25:40] = 1  # bottom-right corner
    stroke = cv2.line(np.zeros((48, 40), np.uint8), (3, 40), (36, 6), 1, thickness=5)
    mask[2, 0] = torch.from_numpy(stroke).float()
    mask[2, :, 5:9, 5:9] = 1  # and a second, separate hole
    config = SynthesisConfig(scales=2, iterations=20)
    out = synthesize(image, mask, torch.full((3, 3, 8, 8), 0.5), PixelPatchFeatures(), config)
    assert torch.isfinite(out).all() and torch.equal(out * (1 - mask), image * (1 - mask))
    errors = ((out - image) ** 2 * mask).sum((1, 2, 3)) / (3 * mask.sum((1, 2, 3)))
    grey = ((0.5 - image) ** 2 * mask).sum((1, 2, 3)) / (3 * mask.sum((1, 2, 3)))
    assert (errors < 0.5 * grey).all(), (errors, grey)


def test_scale_sizes_halve_from_the_working_size() -> None:
    assert scale_sizes(512, 512, 3, 512) == [(128, 128), (256, 256), (512, 512)]
    assert scale_sizes(1024, 2048, 3, 512) == [(64, 128), (128, 256), (256, 512)]
    assert scale_sizes(300, 200, 2, 512) == [(150, 100), (300, 200)]
    assert scale_sizes(40, 40, 1, 512) == [(40, 40)]


def test_synthesis_config_rejects_bad_values() -> None:
    with pytest.raises(InputError, match="neural-patch: scales must be an integer >= 1, got 0"):
        SynthesisConfig(scales=0)
    with pytest.raises(InputError, match="texture_weight must be >= 0"):
        SynthesisConfig(texture_weight=-1.0)


def test_an_empty_mask_returns_the_image() -> None:
    image = torch.rand(1, 3, 20, 20)
    out = synthesize(image, torch.zeros(1, 1, 20, 20), image, PixelPatchFeatures(), SynthesisConfig())
    assert torch.equal(out, image)


# ----------------------------------------------------------------------------- feature spaces
def test_auto_without_vgg_weights_uses_and_reports_the_pixel_space(monkeypatch, tmp_path: Path, caplog) -> None:
    monkeypatch.setenv("INPAINTKIT_HOME", str(tmp_path))  # an empty cache: no VGG-19 weights
    with caplog.at_level(logging.WARNING):
        features, note = load_feature_space("auto")
    assert features.name == "pixel" and "'pixel' feature space" in note and note in caplog.text
    assert load_feature_space("pixel")[1] == ""  # asked for: no note
    with pytest.raises(WeightsError, match="no vgg19 weight file at"):
        load_feature_space("auto", tmp_path / "missing.pth")
    with pytest.raises(InputError, match="unknown feature space 'rgb'; valid: auto, vgg, pixel"):
        load_feature_space("rgb")


def test_pixel_features_are_normalised_blocks() -> None:
    image = torch.rand(1, 3, 9, 13)
    maps = PixelPatchFeatures()(image)
    assert [tuple(m.shape) for m in maps] == [(12, 4, 6), (48, 2, 3)]
    normalised = (image[0, :, :4, :4] - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) / torch.tensor(
        [0.229, 0.224, 0.225]
    )[:, None, None]
    assert torch.allclose(maps[1][:, 0, 0], normalised.reshape(48))  # channel, then row, then column
    assert tuple(PixelPatchFeatures((1,))(image)[0].shape) == (3, 9, 13)
