"""Guided texture transfer: the photo's own detail copied into a smooth fill, known pixels untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import inpaintkit
from inpaintkit.classical import POSTPROCESSORS, GuidedTextureConfig, guided_texture
from inpaintkit.classical.texture_transfer import gaussian_blur
from inpaintkit.metrics import hole_detail
from inpaintkit.registry import REGISTRY
from inpaintkit.types import InputError


def _textured(size: int = 128, seed: int = 0) -> torch.Tensor:
    """A smooth colour ramp plus fine random grain: (1,3,size,size) in [0, 1]."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.2, 0.8, size, dtype=np.float32)
    base = np.stack([ramp[None].repeat(size, 0), ramp[:, None].repeat(size, 1), np.full((size, size), 0.5)])
    grain = rng.normal(0, 0.08, (1, size, size)).astype(np.float32)
    return torch.from_numpy(np.clip(base + grain, 0, 1))[None]


def _hole(size: int = 128, box: tuple[int, int, int, int] = (40, 40, 88, 88)) -> torch.Tensor:
    mask = torch.zeros(1, 1, size, size)
    y0, x0, y1, x1 = box
    mask[..., y0:y1, x0:x1] = 1
    return mask


def _uint8(t: torch.Tensor) -> np.ndarray:
    return (t[0].permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)


def test_smooth_fill_gets_the_photos_detail_and_known_pixels_stay():
    truth, mask = _textured(), _hole()
    smooth = mask * gaussian_blur(truth, 4.0) + (1 - mask) * truth  # what a pixel-loss network gives
    out = guided_texture(smooth, mask)
    assert out.shape == truth.shape and 0 <= out.min() and out.max() <= 1
    assert torch.equal(out * (1 - mask), smooth * (1 - mask))  # known pixels bit-exact
    hole = mask[0, 0].numpy()
    before = hole_detail(_uint8(smooth), _uint8(truth), hole)
    after = hole_detail(_uint8(out), _uint8(truth), hole)
    assert before < 0.3 and 0.7 < after < 1.3, (before, after)
    # the coarse colours stay the smooth fill's: the added detail averages out over 8x8 blocks
    pooled = torch.nn.functional.avg_pool2d((out - smooth) * mask, 8)
    assert pooled.abs().max() < 0.03
    assert torch.equal(guided_texture(smooth, mask), out)  # deterministic


def test_a_photo_without_detail_gives_none():
    # a photo with no fine detail has none to copy: a smooth fill comes back as it was (no invented noise)
    yy, xx = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
    bump = 0.05 * torch.exp(-((yy - 45) ** 2 + (xx - 45) ** 2) / (2 * 12.0**2))
    mask = _hole(96, (30, 30, 60, 60))
    fill = (0.4 + bump).expand(1, 3, 96, 96).contiguous()
    torch.testing.assert_close(guided_texture(fill, mask), fill, atol=2e-3, rtol=0)


def test_detail_is_never_copied_from_next_to_the_hole():
    # grain only in a 6 px ring around the hole, inside the zone the step may not copy from (the
    # blur's reach plus the margin, 3 * 2 + 8 = 14 px, where a pixel's detail would mix in the
    # fill's own values); the photo is flat everywhere else, so the fill gets no detail
    rng = np.random.default_rng(0)
    picture = torch.full((1, 3, 128, 128), 0.5)
    ring = torch.zeros(1, 1, 128, 128)
    ring[..., 34:94, 34:94] = 1
    picture = picture + ring * torch.from_numpy(rng.normal(0, 0.1, (1, 1, 128, 128)).astype(np.float32))
    mask = _hole(128, (40, 40, 88, 88))
    fill = mask * 0.5 + (1 - mask) * picture.clamp(0, 1)
    out = guided_texture(fill, mask)
    inside = out[..., 48:80, 48:80]  # away from the hole's edge, where the fill's blur meets the ring
    assert float(inside.std()) < 1e-5  # with margin 0 it is 6e-4: sources in the ring


def test_nothing_to_copy_from_or_nothing_to_fill():
    picture = _textured(64)
    empty = torch.zeros(1, 1, 64, 64)
    assert torch.equal(guided_texture(picture, empty), picture)
    everything = torch.ones(1, 1, 64, 64)
    assert torch.equal(guided_texture(picture, everything), picture)  # no source blocks: unchanged
    tiny = _textured(8)
    assert torch.equal(guided_texture(tiny, _hole(8, (2, 2, 5, 5))), tiny)  # smaller than a coarse block


def test_odd_sizes_and_batches():
    truth = torch.cat([_textured(128, 0), _textured(128, 1)])[..., :101, :77]
    mask = torch.cat([_hole(128), _hole(128, (10, 20, 50, 60))])[..., :101, :77]
    smooth = mask * gaussian_blur(truth, 4.0) + (1 - mask) * truth
    out = guided_texture(smooth, mask)
    assert out.shape == truth.shape
    for i in range(2):  # each picture of a batch as if alone
        torch.testing.assert_close(out[i : i + 1], guided_texture(smooth[i : i + 1], mask[i : i + 1]))


def test_block_sizes_bound_the_exhaustive_search():
    config = GuidedTextureConfig()
    assert config.block_sizes(512, 512) == [8, 4]
    assert config.block_sizes(4000, 3000) == [32, 16, 8, 4]
    assert all(4000 / s * 3000 / s <= config.coarse_pixels for s in config.block_sizes(4000, 3000)[:1])


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("patch", 4, "patch must be a positive odd integer"),
        ("block", 0, "block must be a positive integer"),
        ("coherence", -1.0, "coherence must be a finite number >= 0"),
        ("detail_sigma", float("nan"), "detail_sigma must be a finite number >= 0"),
    ],
)
def test_config_errors_name_the_field(field, value, message):
    with pytest.raises(InputError, match=message):
        GuidedTextureConfig(**{field: value})


def test_shape_errors():
    with pytest.raises(InputError, match=r"structure must be a float tensor of shape \(B,3,H,W\)"):
        guided_texture(torch.zeros(1, 1, 32, 32), torch.zeros(1, 1, 32, 32))
    with pytest.raises(InputError, match=r"got torch.uint8 \(1, 3, 32, 32\)"):
        guided_texture(torch.zeros(1, 3, 32, 32, dtype=torch.uint8), torch.zeros(1, 1, 32, 32))
    with pytest.raises(InputError, match=r"mask must have shape \(1,1,32,32\)"):
        guided_texture(torch.zeros(1, 3, 32, 32), torch.zeros(1, 1, 16, 16))


@pytest.mark.skipif(REGISTRY["lama-detail"].local_weights() is None, reason="lama-small's weights are not shipped")
def test_lama_detail_is_lama_small_plus_texture():
    picture = _uint8(_textured(160))
    hole = np.zeros((160, 160), np.uint8)
    hole[50:110, 40:120] = 255
    detailed = inpaintkit.load("lama-detail")(picture, hole)
    plain = inpaintkit.load("lama-small")(picture, hole)
    raw = inpaintkit.load("lama-detail", postprocess=False)(picture, hole)
    np.testing.assert_array_equal(raw.image, plain.image)  # the same network underneath
    known = hole == 0
    np.testing.assert_array_equal(detailed.image[known], picture[known])
    assert hole_detail(detailed.image, picture, hole) > 2 * hole_detail(plain.image, picture, hole)
    assert POSTPROCESSORS[REGISTRY["lama-detail"].postprocess] is not None
