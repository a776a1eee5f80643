"""Tests of the classical inpainters (OpenCV Telea / Navier-Stokes, PatchMatch via pypatchmatch)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import cv2
import numpy as np
import pytest
import torch

import inpaintkit.classical.patch_match as patch_match_module
from inpaintkit.classical import (
    NavierStokesInpainter,
    PatchMatchInpainter,
    TeleaInpainter,
    patchmatch_available,
)
from inpaintkit.types import InpaintKitError, InputError

needs_patchmatch = pytest.mark.skipif(not patchmatch_available(), reason="pypatchmatch not installed")

METHODS = [
    pytest.param(TeleaInpainter, id="telea"),
    pytest.param(NavierStokesInpainter, id="navier-stokes"),
    pytest.param(PatchMatchInpainter, id="patchmatch", marks=needs_patchmatch),
]

#: Largest deviation inside the hole on a flat colour, in 1/255 steps. OpenCV's Telea adds 0.5
#: before rounding and a normalised gradient term, so flat colours drift by a few levels.
FLAT_TOLERANCE = {TeleaInpainter: 4, NavierStokesInpainter: 1, PatchMatchInpainter: 1}


def smooth_image(seed: int, height: int = 48, width: int = 64) -> torch.Tensor:
    """A (1,3,H,W) picture with structure at several scales, values on the 1/255 grid."""
    noise = np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)
    picture = 0.5 * cv2.GaussianBlur(noise, (0, 0), 4.0) + 0.5 * cv2.GaussianBlur(noise, (0, 0), 1.0)
    picture = (picture - picture.min()) / (picture.max() - picture.min())
    quantised = np.round(picture * 255) / 255
    return torch.from_numpy(quantised).permute(2, 0, 1)[None].float()


def box_mask(top: int, left: int, size: int, height: int = 48, width: int = 64) -> torch.Tensor:
    mask = torch.zeros(1, 1, height, width)
    mask[..., top : top + size, left : left + size] = 1
    return mask


def quantised(image: torch.Tensor) -> torch.Tensor:
    return torch.round(image * 255) / 255


@pytest.mark.parametrize("method", METHODS)
def test_shape_dtype_range(method: Callable[[], torch.nn.Module]) -> None:
    image = smooth_image(0).double()
    mask = box_mask(10, 20, 12)
    out = method()(image, mask)
    assert out.shape == (1, 3, 48, 64)
    assert out.dtype == torch.float64
    assert out.device == image.device
    assert torch.isfinite(out).all()
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.equal(out, quantised(out))  # uint8 backend: multiples of 1/255


@pytest.mark.parametrize("method", METHODS)
def test_known_pixels_unchanged(method: Callable[[], torch.nn.Module]) -> None:
    image = smooth_image(1)
    mask = box_mask(16, 24, 14)
    out = method()(image, mask)
    known = (mask == 0).expand_as(image)
    torch.testing.assert_close(out[known], quantised(image)[known], atol=1e-6, rtol=0)
    # and the hole was really filled: not left as it was
    hole = ~known
    assert not torch.allclose(out[hole], image[hole], atol=2 / 255)


@pytest.mark.parametrize("method", METHODS)
def test_flat_colour_filled_with_that_colour(method: Callable[..., torch.nn.Module]) -> None:
    colour = torch.tensor([201.0, 31.0, 90.0]) / 255
    image = colour.view(1, 3, 1, 1).expand(1, 3, 48, 64).clone()
    image[..., 16:30, 24:40] = 0.0  # the hole's content must not matter
    mask = torch.zeros(1, 1, 48, 64)
    mask[..., 16:30, 24:40] = 1
    out = method()(image, mask)
    error = (out - colour.view(1, 3, 1, 1)).abs().max().item()
    assert error <= FLAT_TOLERANCE[method] / 255 + 1e-6


@pytest.mark.parametrize("method", METHODS)
def test_hole_inside_red_half_is_filled_red(method: Callable[[], torch.nn.Module]) -> None:
    image = torch.zeros(1, 3, 48, 64)
    image[:, 0, :, :32] = 1.0  # left half red
    image[:, 2, :, 32:] = 1.0  # right half blue
    mask = box_mask(20, 10, 8)
    out = method()(image, mask)
    hole = out[0, :, 20:28, 10:18]
    red = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    assert (hole - red).abs().max().item() <= 1 / 255 + 1e-6


@pytest.mark.parametrize("method", METHODS)
def test_batch_items_are_independent(method: Callable[[], torch.nn.Module]) -> None:
    model = method()
    images = torch.cat([smooth_image(2), smooth_image(3)])
    masks = torch.cat([box_mask(5, 5, 10), box_mask(20, 30, 14)])
    batched = model(images, masks)
    alone = model(images[1:], masks[1:])
    assert torch.equal(batched[1:], alone)
    assert torch.equal(batched[:1], model(images[:1], masks[:1]))


@pytest.mark.parametrize("method", METHODS)
def test_empty_mask_returns_quantised_input(method: Callable[[], torch.nn.Module]) -> None:
    image = torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    out = method()(image, torch.zeros(2, 1, 20, 24))
    torch.testing.assert_close(out, quantised(image), atol=1e-6, rtol=0)


@pytest.mark.parametrize("method", METHODS)
def test_all_hole_mask_gives_mid_grey(method: Callable[[], torch.nn.Module]) -> None:
    image = smooth_image(4)
    out = method()(image, torch.ones(1, 1, 48, 64))
    assert out.shape == image.shape
    torch.testing.assert_close(out, torch.full_like(image, 128 / 255), atol=1e-6, rtol=0)


@pytest.mark.parametrize("method", METHODS)
def test_bad_input_raises_input_error(method: Callable[[], torch.nn.Module]) -> None:
    model = method()
    image = smooth_image(5)
    with pytest.raises(InputError, match=r"mask must have shape \(1,1,48,64\)"):
        model(image, torch.zeros(1, 1, 48, 32))
    with pytest.raises(InputError, match="only 0 and 1"):
        model(image, torch.full((1, 1, 48, 64), 0.5))


@pytest.mark.parametrize("method", [TeleaInpainter, NavierStokesInpainter])
def test_opencv_radius_must_be_positive(method: Callable[..., torch.nn.Module]) -> None:
    with pytest.raises(InputError, match="radius must be a positive integer"):
        method(radius=0)
    assert method(radius=5).radius == 5


def test_opencv_methods_match_cv2_directly() -> None:
    image = smooth_image(6)
    mask = box_mask(12, 12, 16)
    picture = np.ascontiguousarray((image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    hole = (mask[0, 0].numpy() * 255).astype(np.uint8)
    cases = [(TeleaInpainter(radius=4), cv2.INPAINT_TELEA), (NavierStokesInpainter(radius=4), cv2.INPAINT_NS)]
    for module, flag in cases:
        expected = torch.from_numpy(cv2.inpaint(picture, hole, 4, flag)).permute(2, 0, 1)[None].float() / 255
        assert torch.equal(module(image, mask), expected)


def test_patchmatch_available_when_importable() -> None:
    try:
        library = importlib.import_module("patchmatch")
    except ImportError:
        pytest.skip("pypatchmatch not installed")
    if library.patchmatch_available:
        assert patchmatch_available() is True


@needs_patchmatch
def test_patchmatch_same_seed_same_result() -> None:
    image = smooth_image(7)
    mask = box_mask(14, 20, 16)
    first = PatchMatchInpainter(seed=3)(image, mask)
    PatchMatchInpainter(seed=11)(image, mask)  # another seed in between must not leak
    assert torch.equal(PatchMatchInpainter(seed=3)(image, mask), first)


@needs_patchmatch
def test_patchmatch_argument_checks() -> None:
    with pytest.raises(InputError, match="patch_size must be a positive integer"):
        PatchMatchInpainter(patch_size=0)
    with pytest.raises(InputError, match="seed must be an integer"):
        PatchMatchInpainter(seed=-1)


def test_patchmatch_missing_package_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patch_match_module, "patchmatch_available", lambda: False)
    with pytest.raises(InpaintKitError, match="pip install pypatchmatch"):
        PatchMatchInpainter()
