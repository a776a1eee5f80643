"""Tests of the LaMa generator: official key layout, sizes, the Fourier unit's maths, I/O contract."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _official_files import official_generator

from inpaintkit.classical.pushpull import pushpull_fill
from inpaintkit.models.lama import (
    PREFILLS,
    PRESETS,
    FFCResnetBlock,
    FourierUnit,
    LamaConfig,
    LamaGenerator,
    fourier_unit,
    prefill_holes,
    split_channels,
)
from inpaintkit.types import InputError, WeightsError

DATA = Path(__file__).parent / "data"


def _meta_model(config: LamaConfig) -> LamaGenerator:
    with torch.device("meta"):
        return LamaGenerator(config)


def _reference_shapes() -> dict[str, tuple[int, ...]]:
    """Parse ``key (d0, d1, ...)`` lines of the official big-lama generator state dict."""
    shapes = {}
    for line in (DATA / "biglama_generator_keys.txt").read_text().splitlines():
        match = re.fullmatch(r"(\S+) \(([\d, ]*)\)", line.strip())
        assert match, f"bad reference line: {line!r}"
        shapes[match.group(1)] = tuple(int(d) for d in match.group(2).split(",") if d.strip())
    return shapes


# --- official layout and sizes -------------------------------------------------------------------


def test_big_lama_state_dict_matches_official_keys_and_shapes():
    reference = _reference_shapes()
    assert len(reference) == 989
    ours = {k: tuple(v.shape) for k, v in _meta_model(PRESETS["big-lama"]).state_dict().items()}
    assert len(ours) == 989
    assert set(ours) - set(reference) == set()
    assert set(reference) - set(ours) == set()
    wrong = {k: (ours[k], reference[k]) for k in reference if ours[k] != reference[k]}
    assert wrong == {}


@pytest.mark.parametrize("name, expected", [("lama-fourier", 27_048_835), ("big-lama", 50_975_875)])
def test_parameter_counts_of_published_models(name, expected):
    model = _meta_model(PRESETS[name])
    assert sum(p.numel() for p in model.parameters()) == expected


def test_split_channels_rounds_global_part_down():
    assert split_channels(512, 0.75) == (128, 384)
    assert split_channels(10, 0.75) == (3, 7)
    assert split_channels(64, 0.0) == (64, 0)


# --- Fourier unit against an independent numpy implementation -----------------------------------


def _numpy_fourier_unit(x, weight, gamma, beta, mean, var, eps):
    """rfft2 (ortho) -> interleave re/im per channel -> 1x1 conv -> BN (eval) -> ReLU -> irfft2."""
    b, c, h, w = x.shape
    spec = np.fft.rfft2(x, axes=(-2, -1), norm="ortho")
    feats = np.empty((b, 2 * c) + spec.shape[2:])
    for ch in range(c):
        feats[:, 2 * ch] = spec[:, ch].real
        feats[:, 2 * ch + 1] = spec[:, ch].imag
    y = np.einsum("oi,bihw->bohw", weight, feats)
    col = (slice(None), None, None)
    y = (y - mean[col]) / np.sqrt(var[col] + eps) * gamma[col] + beta[col]
    y = np.maximum(y, 0.0)
    out_spec = y[:, 0::2] + 1j * y[:, 1::2]
    return np.fft.irfft2(out_spec, s=(h, w), axes=(-2, -1), norm="ortho")


@pytest.mark.parametrize("h, w", [(6, 8), (7, 9), (5, 6), (8, 5)])
def test_fourier_unit_matches_numpy_dft(h, w):
    rng = np.random.default_rng(0)
    c_in, c_out = 3, 2
    x = rng.standard_normal((2, c_in, h, w))
    weight = rng.standard_normal((2 * c_out, 2 * c_in))
    gamma, beta = rng.uniform(0.5, 1.5, 2 * c_out), rng.normal(0, 0.3, 2 * c_out)
    mean, var = rng.normal(0, 0.2, 2 * c_out), rng.uniform(0.5, 2.0, 2 * c_out)

    unit = FourierUnit(c_in, c_out).eval()
    with torch.no_grad():
        unit.conv_layer.weight.copy_(torch.tensor(weight)[:, :, None, None])
        unit.bn.weight.copy_(torch.tensor(gamma))
        unit.bn.bias.copy_(torch.tensor(beta))
        unit.bn.running_mean.copy_(torch.tensor(mean))
        unit.bn.running_var.copy_(torch.tensor(var))
        out = unit(torch.tensor(x, dtype=torch.float32))

    expected = _numpy_fourier_unit(x, weight, gamma, beta, mean, var, unit.bn.eps)
    assert out.shape == (2, c_out, h, w)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("h, w", [(7, 9), (4, 6)])
def test_fourier_unit_function_with_identity_op_is_lossless(h, w):
    x = torch.randn(1, 2, h, w, generator=torch.Generator().manual_seed(1))
    seen = []

    def identity(spec):
        seen.append(spec.shape)
        return spec

    torch.testing.assert_close(fourier_unit(x, identity), x, atol=1e-5, rtol=1e-5)
    assert seen == [(1, 4, h, w // 2 + 1)]


def _randomise_batchnorm_stats(module: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for bn in module.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            n = bn.num_features
            bn.weight.data = torch.rand(n, generator=g) + 0.5
            bn.bias.data = torch.randn(n, generator=g) * 0.3
            bn.running_mean = torch.randn(n, generator=g) * 0.2
            bn.running_var = torch.rand(n, generator=g) + 0.5


def _bn_relu(x, bn):
    stats = [t.double() for t in (bn.running_mean, bn.running_var, bn.weight, bn.bias)]
    y = F.batch_norm(x, *stats, eps=bn.eps)
    return F.relu(y)


def _conv3x3(x, conv):
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), conv.weight.double())


def _spectral_reference(x, st):
    """METHODS.md: conv1 = (1x1 conv, BN, ReLU); output conv2(y + FourierUnit(y))."""
    y = _bn_relu(F.conv2d(x, st.conv1[0].weight.double()), st.conv1[1])
    fu = st.fu
    spectral = _numpy_fourier_unit(
        y.numpy(),
        fu.conv_layer.weight.double()[:, :, 0, 0].numpy(),
        fu.bn.weight.double().numpy(),
        fu.bn.bias.double().numpy(),
        fu.bn.running_mean.double().numpy(),
        fu.bn.running_var.double().numpy(),
        fu.bn.eps,
    )
    return F.conv2d(y + torch.from_numpy(spectral), st.conv2.weight.double())


def _ffc_block_reference(x_l, x_g, block):
    """out_l = l2l(x_l) + g2l(x_g), out_g = l2g(x_l) + g2g(x_g), then BN + ReLU per branch."""
    ffc = block.ffc
    out_l = _conv3x3(x_l, ffc.convl2l) + _conv3x3(x_g, ffc.convg2l)
    out_g = _conv3x3(x_l, ffc.convl2g) + _spectral_reference(x_g, ffc.convg2g)
    return _bn_relu(out_l, block.bn_l), _bn_relu(out_g, block.bn_g)


def test_ffc_resnet_block_matches_functional_reference():
    block = FFCResnetBlock(16, 0.75).eval()
    _randomise_batchnorm_stats(block, seed=3)
    g = torch.Generator().manual_seed(4)
    x_l, x_g = torch.randn(2, 4, 6, 7, generator=g), torch.randn(2, 12, 6, 7, generator=g)
    with torch.no_grad():
        out_l, out_g = block((x_l, x_g))
        h_l, h_g = _ffc_block_reference(x_l.double(), x_g.double(), block.conv1)
        h_l, h_g = _ffc_block_reference(h_l, h_g, block.conv2)
    assert block.conv1.ffc.convl2l.weight.shape == (4, 4, 3, 3)
    torch.testing.assert_close(out_l.double(), x_l.double() + h_l, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out_g.double(), x_g.double() + h_g, atol=1e-4, rtol=1e-4)


# --- forward contract on the tiny preset --------------------------------------------------------


def _inputs(b: int, h: int, w: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, 3, h, w, generator=g)
    mask = (torch.rand(b, 1, h, w, generator=g) > 0.5).float()
    return image, mask


def test_tiny_forward_shape_range_and_gradients():
    torch.manual_seed(0)  # weight init only; inputs use an explicit generator
    model = LamaGenerator(PRESETS["lama-tiny"])
    image, mask = _inputs(2, 32, 40)
    out = model(image, mask)
    assert out.shape == (2, 3, 32, 40)
    assert torch.isfinite(out).all()
    assert out.min() >= 0 and out.max() <= 1
    weights = torch.rand(out.shape, generator=torch.Generator().manual_seed(2))
    (out * weights).sum().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []


def test_tiny_forward_handles_odd_bottleneck():
    model = LamaGenerator(PRESETS["lama-tiny"]).eval()
    image, mask = _inputs(1, 40, 24)  # bottleneck 5 x 3: odd sizes through the FFT
    with torch.no_grad():
        assert model(image, mask).shape == (1, 3, 40, 24)


def test_forward_rejects_size_not_multiple_of_stride():
    model = LamaGenerator(PRESETS["lama-tiny"])
    assert model.pad_multiple == 8
    image, mask = _inputs(1, 30, 30)
    with pytest.raises(InputError, match=r"multiples of 8"):
        model(image, mask)
    assert LamaGenerator(LamaConfig(ngf=4, n_downsampling=2, n_blocks=1)).pad_multiple == 4


def test_eval_forward_is_deterministic():
    model = LamaGenerator(PRESETS["lama-tiny"]).eval()
    image, mask = _inputs(1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(image, mask), model(image, mask))


@pytest.mark.parametrize("prefill", PREFILLS)
def test_masked_pixels_do_not_influence_output(prefill):
    model = LamaGenerator(dataclasses.replace(PRESETS["lama-tiny"], prefill=prefill)).eval()
    image, mask = _inputs(1, 32, 32)
    other = torch.where(mask.bool(), 1 - image, image)
    with torch.no_grad():
        assert torch.equal(model(image, mask), model(other, mask))


# --- the push-pull prefill ------------------------------------------------------------------------


def test_pushpull_fill_by_hand():
    # 2x2 image, top-left pixel missing: level 1 = mean of the three known pixels (0.4); the hole
    # has no known coverage at level 0, so it takes the upsampled level 1 entirely.
    image = torch.tensor([[[[0.9, 0.2], [0.4, 0.6]]]])
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    filled = pushpull_fill(image, mask)
    torch.testing.assert_close(filled, torch.tensor([[[[0.4, 0.2], [0.4, 0.6]]]]))


def test_pushpull_fill_keeps_known_pixels_and_interpolates_between_the_sides():
    image = torch.zeros(2, 3, 8, 24)
    image[0, :, :, 16:] = 1.0  # image 0: dark left, bright right, hole in the middle
    image[1] = 0.25  # image 1: constant, filled exactly
    mask = torch.zeros(2, 1, 8, 24)
    mask[..., 4:20] = 1
    noisy = image + mask * torch.rand(2, 3, 8, 24)  # hole content must not matter
    filled = pushpull_fill(noisy, mask)
    assert torch.equal(filled[mask.expand_as(filled) == 0], image[mask.expand_as(image) == 0])
    torch.testing.assert_close(filled[1], image[1])
    row = filled[0, 0, 4, 4:20]
    assert (row.diff() >= -1e-6).all() and 0 < row[0] < row[-1] < 1, row  # monotone between the sides


def test_pushpull_fill_of_an_image_without_known_pixels_is_zero():
    image = torch.rand(1, 3, 5, 7)
    assert torch.equal(pushpull_fill(image, torch.ones(1, 1, 5, 7)), torch.zeros(1, 3, 5, 7))


def test_pushpull_prefill_changes_only_what_the_network_sees_in_the_hole():
    zeros = LamaGenerator(PRESETS["lama-tiny"]).eval()
    pushpull = LamaGenerator(dataclasses.replace(PRESETS["lama-tiny"], prefill="pushpull")).eval()
    pushpull.load_state_dict(zeros.state_dict())  # no extra parameters
    image, mask = _inputs(1, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(zeros(image, mask), pushpull(image, mask))
        assert torch.equal(zeros(image, torch.zeros_like(mask)), pushpull(image, torch.zeros_like(mask)))
    with pytest.raises(ValueError, match="prefill must be one of zeros, pushpull, telea"):
        LamaConfig(prefill="blur")


@pytest.mark.parametrize("prefill", PREFILLS)
def test_untrained_residual_network_returns_its_prefill(prefill):
    model = LamaGenerator(dataclasses.replace(PRESETS["lama-tiny"], prefill=prefill, residual=True)).eval()
    assert model.state_dict().keys() == LamaGenerator(PRESETS["lama-tiny"]).state_dict().keys()
    image, mask = _inputs(2, 32, 40)
    with torch.no_grad():
        out = model(image, mask)
    assert torch.equal(out, prefill_holes(image, mask, prefill))
    assert torch.equal(out * (1 - mask), image * (1 - mask))  # known pixels exact


def test_telea_prefill_is_opencv_telea_in_the_hole():
    import cv2

    image, mask = _inputs(1, 24, 32)
    filled = prefill_holes(image, mask, "telea")
    picture = (image[0].permute(1, 2, 0) * (1 - mask[0, 0, ..., None]) * 255).round().to(torch.uint8).numpy()
    expected = cv2.inpaint(picture, (mask[0, 0].numpy() * 255).astype(np.uint8), 3, cv2.INPAINT_TELEA)
    hole = mask[0, 0].bool()
    assert torch.equal(filled[0].permute(1, 2, 0)[hole], torch.from_numpy(expected)[hole].float() / 255)
    assert torch.equal(filled[0].permute(1, 2, 0)[~hole], image[0].permute(1, 2, 0)[~hole])


# --- configs from state dicts and official training configs ------------------------------------


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_from_state_dict_recovers_preset(name):
    state = _meta_model(PRESETS[name]).state_dict()
    # prefill and residual leave no trace in the tensors: a bare state dict gets the paper's values
    expected = dataclasses.replace(PRESETS[name], prefill="zeros", residual=False)
    assert LamaConfig.from_state_dict(state) == expected


def test_from_state_dict_recovers_capped_width_and_ratio():
    config = LamaConfig(ngf=16, n_downsampling=3, n_blocks=1, max_features=64, ratio_g=0.5)
    assert LamaConfig.from_state_dict(_meta_model(config).state_dict()) == config


def test_from_state_dict_rejects_incomplete_state():
    state = dict(_meta_model(PRESETS["lama-tiny"]).state_dict())
    del state["model.5.conv1.ffc.convg2g.fu.bn.weight"]
    with pytest.raises(WeightsError, match="1 missing"):
        LamaConfig.from_state_dict(state)
    with pytest.raises(WeightsError, match="not a LaMa"):
        LamaConfig.from_state_dict({"conv.weight": torch.zeros(3, 3, 1, 1)})


def test_from_official_big_lama_config():
    assert LamaConfig.from_official(official_generator()) == PRESETS["big-lama"]
    section = official_generator()
    del section["n_blocks"]  # reference default: 9 blocks
    assert LamaConfig.from_official(section) == PRESETS["lama-fourier"]


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("resnet_conv_kwargs.enable_lfu", True, "enable_lfu"),
        ("kind", "pix2pixhd_global", "kind"),
        ("add_out_act", True, "tanh"),
        ("resnet_conv_kwargs.ratio_gout", 0.5, "ratio_gout"),
        ("init_conv_kwargs.ratio_gout", 0.5, "init_conv_kwargs.ratio_gout"),
        ("downsample_conv_kwargs.ratio_gin", "${trainer.foo}", "cannot resolve"),
        ("spatial_transform_layers", [2], "spatial_transform_layers"),
        ("use_magic", True, "use_magic"),
    ],
)
def test_from_official_rejects_unsupported(path, value, message):
    section = official_generator()
    *parents, key = path.split(".")
    node = section
    for part in parents:
        node = node[part]
    node[key] = value
    with pytest.raises(WeightsError, match=message):
        LamaConfig.from_official(section)
