"""Neural patch synthesis's texture stage: patch synthesis from the content guess (periodic texture
vs Telea, any hole, known pixels kept), the guide of each feature space, settings and errors."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from inpaintkit.classical.patch_synthesis import SynthesisConfig
from inpaintkit.models._patch_features import GUIDE_BLUR, VGG_COMPONENTS, PixelGuide, VggGuide, load_feature_space
from inpaintkit.models.backbones import VGG19Features
from inpaintkit.models.neural_patch import (
    TEXTURE_CONFIG,
    ContentConfig,
    ContentNetwork,
    NeuralPatchInpainter,
    texture_stage,
)
from inpaintkit.types import InputError, WeightsError

torch.set_num_threads(1)


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
    out = texture_stage(image, mask, mean_fill, PixelGuide(), TEXTURE_CONFIG)
    hole_u8 = (mask[0, 0].numpy() * 255).astype(np.uint8)
    telea = cv2.inpaint((texture * 255).round().astype(np.uint8), hole_u8, 3, cv2.INPAINT_TELEA) / 255.0
    hole = mask[0, 0].numpy() > 0
    ours_error = float(((out[0].permute(1, 2, 0).numpy() - texture)[hole] ** 2).mean())
    telea_error = float(((telea - texture)[hole] ** 2).mean())
    assert ours_error < 0.2 * telea_error, (ours_error, telea_error)


def test_any_hole_shape_and_position_is_filled_and_known_pixels_stay() -> None:
    image = torch.from_numpy(_periodic(48, 10)).permute(2, 0, 1)[None].repeat(3, 1, 1, 1)[..., :40].contiguous()
    mask = torch.zeros(3, 1, 48, 40)
    mask[0, :, 0:12, 0:10] = 1  # top-left corner
    mask[1, :, 30:48, 25:40] = 1  # bottom-right corner
    stroke = cv2.line(np.zeros((48, 40), np.uint8), (3, 40), (36, 6), 1, thickness=5)
    mask[2, 0] = torch.from_numpy(stroke).float()
    mask[2, :, 5:9, 5:9] = 1  # and a second, separate hole
    out = texture_stage(image, mask, torch.full((3, 3, 8, 8), 0.5), PixelGuide(), TEXTURE_CONFIG)
    assert out.shape == image.shape and torch.isfinite(out).all()
    assert torch.equal(out * (1 - mask), image * (1 - mask))
    errors = ((out - image) ** 2 * mask).sum((1, 2, 3)) / (3 * mask.sum((1, 2, 3)))
    grey = ((0.5 - image) ** 2 * mask).sum((1, 2, 3)) / (3 * mask.sum((1, 2, 3)))
    assert (errors < 0.5 * grey).all(), (errors, grey)


def test_the_content_guess_decides_the_layout() -> None:
    """Two textures side by side; the guess asks for the right-hand one in the whole hole."""
    rng = np.random.default_rng(0)
    left = 0.3 + rng.normal(0, 0.03, (64, 32, 3))
    right = 0.8 + rng.normal(0, 0.03, (64, 32, 3))
    picture = np.clip(np.concatenate([left, right], 1), 0, 1).astype(np.float32)
    image = torch.from_numpy(picture).permute(2, 0, 1)[None]
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 20:44, 8:30] = 1  # in the dark half
    guess = torch.where(mask > 0, torch.full_like(image, 0.8), image)
    out = texture_stage(image, mask, guess, PixelGuide(), TEXTURE_CONFIG)
    assert float(out[..., 24:40, 12:26].mean()) > 0.65
    assert float(texture_stage(image, mask, image, PixelGuide(), TEXTURE_CONFIG)[..., 24:40, 12:26].mean()) < 0.45


def test_scales_limit_the_pyramid_and_bad_settings_are_refused() -> None:
    content = ContentNetwork(ContentConfig(widths=[4, 4, 8], bottleneck=8, size=32)).eval()
    model = NeuralPatchInpainter(content, feature_space="pixel", scales=2, iterations=3)
    assert model.config.levels == 2 and model.config.iterations == 3 and model.texture
    assert NeuralPatchInpainter(content, feature_space="pixel").config == TEXTURE_CONFIG
    with pytest.raises(InputError, match="neural-patch: scales must be an integer >= 1, got 0"):
        NeuralPatchInpainter(content, feature_space="pixel", scales=0)
    with pytest.raises(InputError, match="neural-patch: iterations must be an integer >= 0, got -1"):
        NeuralPatchInpainter(content, feature_space="pixel", iterations=-1)
    with pytest.raises(InputError, match="vote must be 'mean' or 'best'"):
        SynthesisConfig(vote="median")


def test_an_empty_mask_returns_the_image() -> None:
    content = ContentNetwork(ContentConfig(widths=[4, 4, 8], bottleneck=8, size=32)).eval()
    model = NeuralPatchInpainter(content, feature_space="pixel")
    image = torch.rand(1, 3, 20, 20)
    assert torch.equal(model(image, torch.zeros(1, 1, 20, 20)), image)


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


def test_the_pixel_guide_is_the_blurred_picture_and_the_vgg_guide_adds_its_components() -> None:
    picture = torch.rand(1, 3, 30, 44, generator=torch.Generator().manual_seed(3))
    guide = PixelGuide()(picture)
    rgb = picture[0].permute(1, 2, 0).numpy()
    assert guide.shape == (30, 44, 3) and np.allclose(guide, cv2.GaussianBlur(rgb, (0, 0), GUIDE_BLUR), atol=1e-6)
    torch.manual_seed(0)
    vgg = VggGuide(VGG19Features())
    deep = vgg(picture)
    assert deep.shape == (30, 44, 3 + VGG_COMPONENTS) and deep.dtype == np.float32
    assert np.array_equal(deep[..., :3], guide)
    assert np.isfinite(deep).all() and deep[..., 3:].std() == pytest.approx(guide.std(), rel=1e-3)


@pytest.mark.parametrize("progress", [True, False])
def test_progress_shows_a_bar_of_the_iterations_only_when_asked(progress: bool, capsys) -> None:
    content = ContentNetwork(ContentConfig(widths=[4, 4, 8], bottleneck=8, size=32)).eval()
    model = NeuralPatchInpainter(content, feature_space="pixel", iterations=2, progress=progress)
    mask = torch.zeros(1, 1, 48, 48)
    mask[..., 16:32, 16:32] = 1
    model(torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0)), mask)
    err = capsys.readouterr().err
    assert ("neural-patch:" in err) if progress else err == ""
