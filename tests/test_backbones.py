"""Discriminator and frozen backbones: key layouts of the published weights, shapes, loading."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from inpaintkit.losses import load_backbone
from inpaintkit.models.backbones import IMAGENET_MEAN, VGG19_LAYERS, ResNet50Dilated, VGG19Features
from inpaintkit.models.discriminators import NLayerDiscriminator
from inpaintkit.types import WeightsError
from inpaintkit.weights import WEIGHT_SPECS, sha256_file

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


# ------------------------------------------------------------------------ discriminator
def test_nlayer_discriminator_keys_and_shapes_follow_the_reference() -> None:
    # pix2pixhd_nlayer (ndf 64, n_layers 4): model0 conv; model1-3 conv s2 + BN; model4 conv s1 + BN; model5 conv.
    widths = [(3, 64), (64, 128), (128, 256), (256, 512), (512, 512), (512, 1)]
    expected = {}
    for i, (cin, cout) in enumerate(widths):
        expected[f"model{i}.0.weight"] = (cout, cin, 4, 4)
        expected[f"model{i}.0.bias"] = (cout,)
        if 1 <= i <= 4:
            expected.update({f"model{i}.1.{n}": (() if n == "num_batches_tracked" else (cout,)) for n in BN})
    state = NLayerDiscriminator().state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == expected
    assert list(state)[:2] == ["model0.0.weight", "model0.0.bias"]


@pytest.mark.parametrize("size", [64, 256, 70])
def test_nlayer_discriminator_output_and_feature_shapes(size: int) -> None:
    disc = NLayerDiscriminator()
    logits, features = disc(torch.rand(2, 3, size, size))
    sizes = [size]
    for stride in (2, 2, 2, 2, 1, 1):  # k4, padding 2: s2 -> floor(s/2) + 1, s1 -> s + 1
        sizes.append(sizes[-1] // 2 + 1 if stride == 2 else sizes[-1] + 1)
    assert logits.shape == (2, 1, sizes[-1], sizes[-1])
    assert [tuple(f.shape) for f in features] == [(2, c, s, s) for c, s in zip([64, 128, 256, 512, 512], sizes[1:6])]
    assert {64: 7, 256: 19, 70: 8}[size] == sizes[-1]  # e.g. 64 -> 33, 17, 9, 5, 6, 7


def test_nlayer_discriminator_other_sizes() -> None:
    disc = NLayerDiscriminator(input_nc=4, ndf=8, n_layers=2)
    assert sorted({k.split(".")[0] for k in disc.state_dict()}) == ["model0", "model1", "model2", "model3"]
    logits, features = disc(torch.rand(1, 4, 32, 32))
    assert logits.shape == (1, 1, 11, 11) and len(features) == 3  # 32 -> 17 -> 9 -> 10 -> 11
    assert [f.shape[1] for f in features] == [8, 16, 32]


# ------------------------------------------------------------------------ ResNet50 dilated
def mit_resnet50_keys() -> list[str]:
    """State-dict keys of the MIT scene-parsing ResnetDilated(resnet50) encoder, written out by hand."""
    keys = [f"{m}.weight" for m in ("conv1",)] + [f"bn1.{n}" for n in BN]
    keys += ["conv2.weight"] + [f"bn2.{n}" for n in BN] + ["conv3.weight"] + [f"bn3.{n}" for n in BN]
    for layer, blocks in zip(range(1, 5), (3, 4, 6, 3)):
        for block in range(blocks):
            prefix = f"layer{layer}.{block}"
            for i in (1, 2, 3):
                keys += [f"{prefix}.conv{i}.weight"] + [f"{prefix}.bn{i}.{n}" for n in BN]
            if block == 0:
                keys += [f"{prefix}.downsample.0.weight"] + [f"{prefix}.downsample.1.{n}" for n in BN]
    return keys


def test_resnet50dilated_keys_shapes_and_size() -> None:
    net = ResNet50Dilated()
    state = net.state_dict()
    assert sorted(state) == sorted(mit_resnet50_keys())
    shapes = {
        "conv1.weight": (64, 3, 3, 3),
        "conv2.weight": (64, 64, 3, 3),
        "conv3.weight": (128, 64, 3, 3),
        "layer1.0.conv1.weight": (64, 128, 1, 1),
        "layer1.0.downsample.0.weight": (256, 128, 1, 1),
        "layer2.0.conv2.weight": (128, 128, 3, 3),
        "layer3.5.conv3.weight": (1024, 256, 1, 1),
        "layer4.0.downsample.0.weight": (2048, 1024, 1, 1),
        "layer4.2.bn3.running_var": (2048,),
    }
    assert {k: tuple(state[k].shape) for k in shapes} == shapes
    # torchvision ResNet-50 (25,557,032) - fc (2,049,000) - 7x7 stem (9,536) + deep stem (112,832)
    # + layer1 taking 128 instead of 64 channels (4,096 + 16,384).
    assert sum(p.numel() for p in net.parameters()) == 25_557_032 - 2_049_000 - 9_536 + 112_832 + 20_480


def test_resnet50dilated_dilations_and_strides() -> None:
    net = ResNet50Dilated()
    assert (net.layer2[0].conv2.stride, net.layer2[0].downsample[0].stride) == ((2, 2), (2, 2))
    for layer, first, rest in ((net.layer3, 1, 2), (net.layer4, 2, 4)):
        assert layer[0].conv2.stride == (1, 1) and layer[0].downsample[0].stride == (1, 1)
        assert layer[0].conv2.dilation == layer[0].conv2.padding == (first, first)
        assert all(block.conv2.dilation == block.conv2.padding == (rest, rest) for block in layer[1:])


@pytest.fixture(scope="module")
def resnet() -> ResNet50Dilated:
    return ResNet50Dilated().freeze()


@pytest.mark.parametrize("size, expected", [(32, [8, 4, 4, 4]), (38, [10, 5, 5, 5])])
def test_resnet50dilated_stage_shapes(resnet: ResNet50Dilated, size: int, expected: list[int]) -> None:
    # Stem stride 2 + max pool stride 2 -> 1/4; layer2 -> 1/8; layer3 and layer4 stay at 1/8.
    stages = resnet(torch.rand(1, 3, size, size))
    assert [tuple(s.shape) for s in stages] == [(1, c, e, e) for c, e in zip([256, 512, 1024, 2048], expected)]


def test_backbones_stay_frozen_and_pass_gradients_to_the_input(resnet: ResNet50Dilated) -> None:
    net = resnet
    net.train()
    assert not net.training and not net.layer1[0].bn1.training
    assert not any(p.requires_grad for p in net.parameters())
    image = torch.rand(1, 3, 24, 24, requires_grad=True)
    net(image)[-1].sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    grey = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    assert net.normalize(grey).abs().max() < 1e-6


# ------------------------------------------------------------------------ VGG-19
CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
CONV_WIDTHS = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512]


def test_vgg19_layout_matches_torchvision() -> None:
    net = VGG19Features()
    expected, channels = {}, 3
    for index, width in zip(CONV_INDICES, CONV_WIDTHS):
        expected[f"features.{index}.weight"] = (width, channels, 3, 3)
        expected[f"features.{index}.bias"] = (width,)
        channels = width
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == expected
    assert sum(p.numel() for p in net.parameters()) == 143_667_240 - 123_642_856  # VGG-19 minus its classifier
    taps = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu5_1": 29, "relu5_4": 35, "pool5": 36}
    assert {name: VGG19_LAYERS.index(name) for name in taps} == taps and len(VGG19_LAYERS) == 37


def test_vgg19_taps_shapes_and_values() -> None:
    net = VGG19Features().freeze()
    image = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = net(image)
    assert list(out) == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    assert [tuple(v.shape) for v in out.values()] == [
        (2, 64, 32, 32),
        (2, 128, 16, 16),
        (2, 256, 8, 8),
        (2, 512, 4, 4),
        (2, 512, 2, 2),
    ]
    conv = net.features[0]
    by_hand = F.relu(F.conv2d(net.normalize(image), conv.weight, conv.bias, padding=1))
    torch.testing.assert_close(out["relu1_1"], by_hand)


def test_vgg19_stops_after_the_deepest_tap_and_rejects_unknown_taps() -> None:
    net = VGG19Features(taps=("relu2_1", "relu1_1")).freeze()
    calls = []
    net.features[7].register_forward_hook(lambda *args: calls.append(1))  # conv2_2, after relu2_1
    assert list(net(torch.rand(1, 3, 16, 16))) == ["relu2_1", "relu1_1"] and not calls
    with pytest.raises(ValueError, match="relu9_9"):
        VGG19Features(taps=("relu9_9",))


# ------------------------------------------------------------------------ loading
@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty cache under tmp_path and a network that always fails."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setenv("INPAINTKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return tmp_path / "home" / "weights"


def official_like(net: torch.nn.Module, seed: int, drop_counters: bool = False) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        k: (torch.rand(v.shape, generator=gen) if v.is_floating_point() else v.clone())
        for k, v in net.state_dict().items()
        if not (drop_counters and k.endswith("num_batches_tracked"))
    }


def test_load_resnet_from_a_file_with_the_official_names(tmp_path: Path) -> None:
    state = official_like(ResNet50Dilated(), seed=1, drop_counters=True)  # old files may lack BN counters
    assert set(state) == {k for k in mit_resnet50_keys() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "encoder_epoch_20.pth")
    net = load_backbone("ade20k-resnet50dilated", tmp_path / "encoder_epoch_20.pth")
    assert isinstance(net, ResNet50Dilated) and not net.training
    assert torch.equal(net.layer3[2].conv2.weight, state["layer3.2.conv2.weight"])
    assert torch.equal(net.bn1.running_var, state["bn1.running_var"])


def test_load_vgg19_ignores_the_classifier(tmp_path: Path) -> None:
    state = official_like(VGG19Features(), seed=2)
    state["classifier.0.weight"] = torch.zeros(4, 25088)
    torch.save(state, tmp_path / "vgg.pth")
    net = load_backbone("vgg19", tmp_path / "vgg.pth")
    assert torch.equal(net.features[34].bias, state["features.34.bias"])


def test_load_rejects_wrong_shapes_missing_and_unexpected_tensors(tmp_path: Path) -> None:
    good = official_like(VGG19Features(), seed=3)
    cases = {
        "wrong shape features.0.weight (64, 3, 5, 5)": {**good, "features.0.weight": torch.zeros(64, 3, 5, 5)},
        "missing features.34.bias": {k: v for k, v in good.items() if k != "features.34.bias"},
        "unexpected fc.weight": {**good, "fc.weight": torch.zeros(1)},
    }
    for message, state in cases.items():
        torch.save(state, tmp_path / "bad.pth")
        with pytest.raises(WeightsError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_backbone("vgg19", tmp_path / "bad.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        load_backbone("vgg19", tmp_path / "junk.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(WeightsError, match="expected a state dict"):
        load_backbone("vgg19", tmp_path / "list.pth")
    with pytest.raises(WeightsError, match="no vgg19 weight file"):
        load_backbone("vgg19", tmp_path / "absent.pth")
    with pytest.raises(WeightsError, match="unknown backbone"):
        load_backbone("resnet18")


def test_absent_weights_name_file_url_and_cache_path(no_network: Path) -> None:
    spec = WEIGHT_SPECS["ade20k-resnet50dilated"]
    with pytest.raises(WeightsError) as caught:
        load_backbone("ade20k-resnet50dilated", progress=False)
    message = str(caught.value)
    assert spec.filename in message and spec.url in message and str(no_network / spec.filename) in message
    assert "\n" not in message
    assert not list(no_network.glob("*.part"))  # nothing half-downloaded left behind


def test_cached_weights_are_used_and_vgg_prefix_is_checked(no_network: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_network.mkdir(parents=True)
    cached = no_network / WEIGHT_SPECS["vgg19"].filename
    torch.save(official_like(VGG19Features(), seed=4), cached)
    with pytest.raises(WeightsError, match="expected sha256 starting with dcbb9e9d"):  # a stand-in, not torchvision's
        load_backbone("vgg19")
    own = replace(WEIGHT_SPECS["vgg19"], sha256_prefix=sha256_file(cached)[:8])
    monkeypatch.setitem(WEIGHT_SPECS, "vgg19", own)
    assert isinstance(load_backbone("vgg19"), VGG19Features)


def test_weight_specs_of_the_backbones() -> None:
    hrf, vgg = WEIGHT_SPECS["ade20k-resnet50dilated"], WEIGHT_SPECS["vgg19"]
    assert hrf.url.endswith("ade20k-resnet50dilated-ppm_deepsup/encoder_epoch_20.pth")
    assert vgg.url == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
    assert vgg.sha256_prefix == "dcbb9e9d" and vgg.sha256 is None and vgg.sha256_prefix in vgg.filename
