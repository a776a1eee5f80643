"""Tests of inference optimisation: BatchNorm folding, exactness of the fp32 rewrite, bf16 quality."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import inpaintkit
from inpaintkit.models.lama import PRESETS, LamaGenerator
from inpaintkit.optimize import (
    OptimizedLama,
    fold_batchnorm,
    optimization_enabled,
    optimize_for_inference,
)
from inpaintkit.types import InputError
from inpaintkit.weights import save_model_file


def _randomize(model: nn.Module, seed: int) -> nn.Module:
    """He-initialised convolutions and BatchNorms with non-trivial statistics and affine terms.

    The default init shrinks activations layer after layer, which would leave a nearly constant
    output and make any comparison weak.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                per_output = module.weight[0] if isinstance(module, nn.Conv2d) else module.weight[:, 0]
                fan_in = per_output.numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * math.sqrt(2.0 / fan_in))
            elif isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(0.3 * torch.randn(n, generator=gen))
                module.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=gen))
                module.weight.copy_(0.6 + 0.6 * torch.rand(n, generator=gen))
                module.bias.copy_(0.2 * torch.randn(n, generator=gen))
    return model.eval()


def _inputs(h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 3, h, w, generator=gen)
    mask = (torch.rand(2, 1, h, w, generator=gen) > 0.6).float()
    return image, mask


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / ((a - b) ** 2).mean()))


def _random_lama(name: str, seed: int) -> LamaGenerator:
    """A randomised LaMa whose output logits have standard deviation 1.5 on :func:`_inputs`.

    Sigmoid outputs then spread over [0, 1] without saturating, so errors inside the network
    show in the output instead of being flattened (too small) or squashed (too large).
    """
    model = _randomize(LamaGenerator(PRESETS[name]), seed)
    head = model.model[-1]
    with torch.no_grad():
        head.bias.zero_()
        logits = torch.logit(model(*_inputs(40, 56)).double(), eps=1e-12)
        head.weight.mul_(1.5 / float(logits.std()))
    return model


@pytest.fixture(scope="module", params=["lama-tiny", "lama-small"])
def lama(request: pytest.FixtureRequest) -> LamaGenerator:
    return _random_lama(request.param, seed=1)


def test_fold_batchnorm_matches_hand_computation() -> None:
    conv = nn.Conv2d(1, 2, kernel_size=1, bias=True)
    bn = nn.BatchNorm2d(2, eps=1.0).eval()
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([2.0, -1.0]).view(2, 1, 1, 1))
        conv.bias.copy_(torch.tensor([1.0, 0.5]))
        bn.running_mean.copy_(torch.tensor([0.5, -1.0]))
        bn.running_var.copy_(torch.tensor([3.0, 0.0]))  # sqrt(var + eps) = 2 and 1
        bn.weight.copy_(torch.tensor([4.0, 3.0]))
        bn.bias.copy_(torch.tensor([0.25, -2.0]))
    weight, bias = fold_batchnorm(conv.weight, conv.bias, bn)
    # w' = w * gamma / std; b' = (b - mean) * gamma / std + beta
    assert weight.flatten().tolist() == [2.0 * 4 / 2, -1.0 * 3 / 1]
    assert bias.tolist() == [(1.0 - 0.5) * 4 / 2 + 0.25, (0.5 + 1.0) * 3 / 1 - 2.0]
    x = torch.randn(1, 1, 5, 5)
    torch.testing.assert_close(F.conv2d(x, weight, bias), bn(conv(x)))


def test_fold_batchnorm_transposed_scales_output_channels() -> None:
    conv = nn.ConvTranspose2d(3, 2, kernel_size=3, stride=2, padding=1, output_padding=1, bias=False)
    bn = _randomize(nn.Sequential(nn.BatchNorm2d(2)), seed=3)[0]
    weight, bias = fold_batchnorm(conv.weight.detach(), None, bn, transposed=True)
    x = torch.randn(1, 3, 4, 4)
    folded = F.conv_transpose2d(x, weight, bias, stride=2, padding=1, output_padding=1)
    torch.testing.assert_close(folded, bn(conv(x)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("channels_last", [True, False])
def test_fp32_matches_eager_on_odd_multiple_size(lama: LamaGenerator, channels_last: bool) -> None:
    image, mask = _inputs(40, 56)  # 5x7 multiples of 8: odd sizes at the bottleneck and in the FFT
    with torch.no_grad():
        expected = lama(image, mask)
        got = optimize_for_inference(lama, channels_last=channels_last)(image, mask)
    assert expected.std() > 0.1, "the reference output is too flat for the comparison to mean anything"
    assert got.shape == expected.shape and got.dtype == torch.float32 and got.is_contiguous()
    assert (got - expected).abs().max() < 1e-4


@pytest.mark.parametrize(("prefill", "residual"), [("pushpull", False), ("telea", True)])
def test_fp32_matches_eager_with_a_prefill(prefill: str, residual: bool) -> None:
    model = LamaGenerator(dataclasses.replace(PRESETS["lama-tiny"], prefill=prefill, residual=residual)).eval()
    model.load_state_dict(_random_lama("lama-tiny", seed=2).state_dict())
    image, mask = _inputs(40, 56)
    with torch.no_grad():
        expected = model(image, mask)
        got = optimize_for_inference(model)(image, mask)
    assert (got - expected).abs().max() < 1e-4


def test_original_model_untouched(lama: LamaGenerator) -> None:
    before = {key: value.clone() for key, value in lama.state_dict().items()}
    lama.train()
    optimized = optimize_for_inference(lama, precision="bf16")
    assert lama.training and not optimized.training
    assert all(p.requires_grad and p.dtype == torch.float32 for p in lama.parameters())
    after = lama.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    lama.eval()


def test_no_batchnorm_left_and_nothing_trainable(lama: LamaGenerator) -> None:
    optimized = optimize_for_inference(lama)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in optimized.modules())
    assert not any(t.requires_grad for t in optimized.state_dict().values())
    assert optimized.pad_multiple == lama.pad_multiple


def test_bf16_output_finite_and_close() -> None:
    model = _random_lama("lama-tiny", seed=2)
    image, mask = _inputs(48, 64, seed=5)
    with torch.no_grad():
        expected = model(image, mask)
        got = optimize_for_inference(model, precision="bf16")(image, mask)
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    assert 0.0 <= got.min() and got.max() <= 1.0
    assert _psnr(got, expected) > 30.0  # measured: 53.7 dB


def test_bad_size_and_bad_precision_raise_input_error() -> None:
    optimized = optimize_for_inference(LamaGenerator(PRESETS["lama-tiny"]).eval())
    with pytest.raises(InputError, match="multiples of 8"):
        optimized(torch.rand(1, 3, 36, 40), torch.zeros(1, 1, 36, 40))
    with pytest.raises(InputError, match="precision must be one of fp32, bf16, int8, got .fp16."):
        optimize_for_inference(LamaGenerator(PRESETS["lama-tiny"]), precision="fp16")


def test_generic_model_conv_bn_pairs_are_folded() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(4, 6, 3, padding=1),
                nn.BatchNorm2d(6),
                nn.ReLU(),
                nn.ConvTranspose2d(6, 3, 4, stride=2, padding=1),
                nn.BatchNorm2d(3),
            )

        def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.body(torch.cat([image, mask], dim=1)))

    net = _randomize(Net(), seed=4)
    image, mask = _inputs(16, 24)
    with torch.no_grad():
        expected = net(image, mask)
        optimized = optimize_for_inference(net)
        got = optimized(image, mask)
        low = optimize_for_inference(net, precision="bf16")(image, mask)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in optimized.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert (got - expected).abs().max() < 1e-5
    assert low.dtype == torch.float32 and _psnr(low, expected) > 30.0


@pytest.mark.parametrize("value, enabled", [(None, True), ("1", True), ("0", False), ("off", False), ("False", False)])
def test_optimization_switch(monkeypatch: pytest.MonkeyPatch, value: str | None, enabled: bool) -> None:
    if value is None:
        monkeypatch.delenv("INPAINTKIT_OPTIMIZE", raising=False)
    else:
        monkeypatch.setenv("INPAINTKIT_OPTIMIZE", value)
    assert optimization_enabled() is enabled


def _lama_file(tmp_path, seed: int = 0):
    torch.manual_seed(seed)
    model = LamaGenerator(PRESETS["lama-tiny"]).eval()
    for module in model.modules():  # non-trivial statistics, so that folding matters
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "tiny.safetensors"
    save_model_file(path, "lama", PRESETS["lama-tiny"], model.state_dict())
    return path, model


def test_pipeline_runs_the_optimised_copy_unless_switched_off(tmp_path, monkeypatch) -> None:
    path, eager = _lama_file(tmp_path)
    image = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(1, 1, 40, 56)
    mask[..., 8:30, 10:40] = 1
    fast = inpaintkit.load(path)
    assert isinstance(fast.model, OptimizedLama)
    monkeypatch.setenv("INPAINTKIT_OPTIMIZE", "0")
    plain = inpaintkit.load(path)
    assert type(plain.model) is LamaGenerator
    with torch.no_grad():
        expected = eager(image, mask) * mask + image * (1 - mask)
    for pipe in (fast, plain):
        got = pipe(image, mask).image
        assert (got - expected).abs().max() < 1e-4
    with pytest.raises(InputError, match="bf16 needs the optimised path"):
        inpaintkit.load(path, precision="bf16")
    monkeypatch.delenv("INPAINTKIT_OPTIMIZE")
    half = inpaintkit.load(path, precision="bf16")
    assert half.model.dtype == torch.bfloat16
    assert (half(image, mask).image - expected).abs().max() < 0.05
    with pytest.raises(InputError, match="precision must be one of auto, fp32, bf16, int8, got .fp16."):
        inpaintkit.load(path, precision="fp16")


def test_classical_models_are_left_as_they_are() -> None:
    pipe = inpaintkit.load("telea", precision="bf16")
    assert type(pipe.model).__name__ == "Telea"  # the torch-free method itself, run on the picture's arrays
