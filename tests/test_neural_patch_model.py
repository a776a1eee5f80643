"""Neural patch synthesis as a model: the content network, the registered ``neural-patch`` model on
the pixel and VGG feature spaces (with a VGG-19 state dict built here), the API and the CLI options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import inpaintkit
from inpaintkit.api import load_model
from inpaintkit.cli import main
from inpaintkit.models.backbones import VGG19Features
from inpaintkit.models.neural_patch import (
    CONTENT_MEAN,
    PRESETS,
    ContentConfig,
    ContentDiscriminator,
    ContentNetwork,
    NeuralPatchInpainter,
)
from inpaintkit.pipelines.processing import resize
from inpaintkit.registry import REGISTRY, create_model
from inpaintkit.types import InputError
from inpaintkit.weights import save_model_file

torch.set_num_threads(1)
TINY = ContentConfig(widths=[4, 4, 8], bottleneck=8, size=32)


def _content(config: ContentConfig = TINY) -> ContentNetwork:
    torch.manual_seed(0)
    return ContentNetwork(config).eval()


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random VGG-19 weights in torchvision's key layout (features.N.weight / bias)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg19-local.pth"
    torch.save(VGG19Features().state_dict(), path)
    return path


@pytest.fixture()
def content_file(tmp_path: Path) -> Path:
    return save_model_file(tmp_path / "content.safetensors", "content", TINY, _content().state_dict())


# --------------------------------------------------------------------------- content network
def test_content_network_shapes_range_and_size_check() -> None:
    net = _content()
    image, mask = torch.rand(2, 3, 32, 32), torch.zeros(2, 1, 32, 32)
    mask[0, :, 8:20, 4:30], mask[1, :, 0:10, 22:32] = 1, 1
    out = net(image, mask).detach()
    assert out.shape == (2, 3, 32, 32) and float(out.min()) >= 0 and float(out.max()) <= 1
    with pytest.raises(InputError, match="the content network needs 32x32 input, got 32x48; resize the image first"):
        net(torch.rand(1, 3, 32, 48), torch.zeros(1, 1, 32, 48))
    assert net.min_size == 32 and net.pad_multiple == 1


def test_content_network_sees_the_mean_fill_not_the_hole() -> None:
    net = _content()
    image, mask = torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
    mask[..., 5:25, 9:21] = 1
    other = torch.where(mask > 0, torch.rand(1, 3, 32, 32), image)
    assert torch.equal(net(image, mask), net(other, mask))  # hole content is replaced by the mean colour
    filled = torch.where(mask > 0, torch.tensor(CONTENT_MEAN).view(1, 3, 1, 1), image)
    assert torch.equal(net(image, mask), net(filled, mask))


def test_presets_layout_and_errors() -> None:
    with torch.device("meta"):
        paper = ContentNetwork(PRESETS["content"])
    assert [m.out_channels for m in paper.encoder if isinstance(m, torch.nn.Conv2d)] == [64, 64, 128, 256, 512]
    assert paper.bottleneck[1].out_features == 4000 and isinstance(paper.encoder[1], torch.nn.ELU)
    assert sum(p.numel() for p in paper.parameters()) == 71_220_323
    assert sum(p.numel() for p in create_model("content-small").parameters()) == 2_976_771
    with pytest.raises(ValueError, match="size must be a multiple of 2 \\*\\* len\\(widths\\) = 32, got 100"):
        ContentConfig(size=100)
    assert ContentDiscriminator(4, 32)(torch.rand(3, 3, 32, 32)).shape == (3,)


# ----------------------------------------------------------------------- the registered model
def test_registry_entries() -> None:
    spec = REGISTRY["neural-patch"]
    assert spec.kind == "optimisation" and spec.arch == "content" and spec.bundled == "content-small.safetensors"
    assert REGISTRY["content-small"].recipe == "configs/content-small-cpu.yaml"
    model = create_model("neural-patch")  # no weights at all: random content network, pixel features
    assert isinstance(model, NeuralPatchInpainter) and model.feature_space == "pixel"


def test_pixel_path_through_the_api_and_pipeline(content_file: Path) -> None:
    module, _ = load_model(
        "neural-patch", weights=content_file, options={"feature_space": "pixel", "scales": 2, "iterations": 5}
    )
    assert module.feature_space == "pixel" and module.note == "" and module.config.iterations == 5
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    mask = np.zeros((40, 52), np.uint8)
    mask[12:30, 20:44] = 255
    pipe = inpaintkit.load(
        "neural-patch", weights=content_file, model_options={"feature_space": "pixel", "scales": 2, "iterations": 5}
    )
    out = pipe(image, mask).image  # the pipeline runs models in inference mode: the optimisation still works
    assert out.shape == image.shape and (out[mask == 0] == image[mask == 0]).all()
    assert (out[mask > 0] != image[mask > 0]).any()
    with pytest.raises(InputError, match="telea takes no model options \\(got scales\\)"):
        load_model("telea", options={"scales": 2})


def test_both_pipelines_run_the_optimisation_as_it_is(content_file: Path) -> None:
    """No inference rewrite (BatchNorm folding, channels-last, bf16) for a per-image optimisation."""
    assert type(inpaintkit.load("neural-patch", weights=content_file).model) is NeuralPatchInpainter
    assert type(inpaintkit.load_outpainter("neural-patch", weights=content_file).model) is NeuralPatchInpainter
    for loader in (inpaintkit.load, inpaintkit.load_outpainter):
        with pytest.raises(InputError, match="neural-patch synthesises each image in float32; precision bf16"):
            loader("neural-patch", weights=content_file, precision="bf16")


def test_content_network_alone_fills_any_size(content_file: Path) -> None:
    """content-small through the pipeline: the upsampled prediction in the hole, the photo elsewhere."""
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (90, 70, 3), dtype=np.uint8)
    mask = np.zeros((90, 70), np.uint8)
    mask[30:60, 20:50] = 255
    pipe = inpaintkit.load("content-small", weights=content_file, postprocess=False)
    out = pipe(image, mask).image
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    m = torch.from_numpy(mask > 0)[None, None].float()
    small, small_mask = resize(x, (32, 32)), (resize(m, (32, 32), "area") > 0).float()
    expected = resize(_content()(small, small_mask).detach().clamp(0, 1), (90, 70))
    assert float(expected.std()) > 0.01  # the prediction is not flat: the test can tell positions apart
    expected = (expected[0].permute(1, 2, 0).numpy() * 255).round()
    hole = mask > 0
    assert np.abs(out[hole].astype(float) - expected[hole]).max() <= 1.0
    assert (out[~hole] == image[~hole]).all()
    wide = inpaintkit.load_outpainter("content-small", weights=content_file)(image, left=8, right=8, blend=False)
    assert wide.image.size == (86, 90)  # the outpainter takes it at any size too (width, height)


def test_vgg_path_runs_on_a_local_state_dict(content_file: Path, vgg_file: Path) -> None:
    module, _ = load_model(
        "neural-patch",
        weights=content_file,
        options={"vgg_weights": vgg_file, "scales": 2, "iterations": 3, "progress": False},
    )
    assert module.feature_space == "vgg" and module.config.iterations == 3
    assert not any(p.requires_grad for p in module.features.parameters())
    image, mask = torch.rand(1, 3, 72, 80), torch.zeros(1, 1, 72, 80)
    mask[..., 20:50, 24:60] = 1
    out = module(image, mask)
    assert out.shape == image.shape and torch.isfinite(out).all()
    assert float(((out - image).abs() * mask).sum()) > 0
    assert torch.equal(out * (1 - mask), image * (1 - mask))  # filled at full size: known pixels kept, uncomposited


# ------------------------------------------------------------------------------------------ CLI
def _write_inputs(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    photo, mask = tmp_path / "photo.png", tmp_path / "mask.png"
    Image.fromarray(rng.integers(0, 256, (48, 56, 3), dtype=np.uint8)).save(photo)
    hole = np.zeros((48, 56), np.uint8)
    hole[14:34, 18:40] = 255
    Image.fromarray(hole).save(mask)
    return photo, mask


def test_cli_remove_with_neural_patch_options(tmp_path: Path, content_file: Path, vgg_file: Path, capsys) -> None:
    photo, mask = _write_inputs(tmp_path)
    out = tmp_path / "out.png"
    code = main(
        [
            "remove",
            str(photo),
            "--mask",
            str(mask),
            "-o",
            str(out),
            "--model",
            "neural-patch",
            "--weights",
            str(content_file),
            "--scales",
            "2",
            "--iterations",
            "2",
            "--vgg-weights",
            str(vgg_file),
        ]
    )
    assert code == 0 and "wrote" in capsys.readouterr().out
    src, res, hole = np.array(Image.open(photo)), np.array(Image.open(out)), np.array(Image.open(mask)) > 0
    assert (res[~hole] == src[~hole]).all() and (res[hole] != src[hole]).any()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--model", "neural-patch", "--scales", "0", "--feature-space", "pixel"],
            "error: neural-patch: scales must be an integer >= 1, got 0",
        ),
        (["--model", "telea", "--iterations", "3"], "error: telea takes no model options (got iterations)"),
    ],
)
def test_cli_rejects_bad_neural_patch_options(tmp_path: Path, content_file: Path, capsys, extra, message) -> None:
    photo, mask = _write_inputs(tmp_path)
    weights = ["--weights", str(content_file)] if "neural-patch" in extra else []
    assert main(["remove", str(photo), "--mask", str(mask), "-o", str(tmp_path / "o.png"), *weights, *extra]) == 2
    assert capsys.readouterr().err.strip() == message


def test_shipped_neural_patch_fills_a_periodic_texture_better_than_its_content_network() -> None:
    """The acceptance check on the shipped content-small: the texture stage, not the network, finds the period."""
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float32)
    texture = np.stack(
        [
            0.5 + 0.3 * np.sin(2 * np.pi * xx / 12) * np.sin(2 * np.pi * yy / 12),
            0.5 + 0.3 * np.cos(2 * np.pi * (xx + yy) / 12),
            0.4 + 0.2 * np.sin(2 * np.pi * yy / 12),
        ],
        -1,
    )
    image = (texture * 255).round().astype(np.uint8)
    mask = np.zeros((128, 128), np.uint8)
    mask[40:88, 36:92] = 255
    hole = mask > 0

    def rmse(name: str, **options: object) -> float:
        out = np.asarray(inpaintkit.load(name, model_options=options or None)(image, mask).image)
        assert (out[~hole] == image[~hole]).all()
        return float(np.sqrt(((out[hole].astype(float) - image[hole]) ** 2).mean()))

    content, synthesis = rmse("content-small"), rmse("neural-patch", feature_space="pixel", progress=False)
    assert synthesis < 0.5 * content, (synthesis, content)  # measured: 11.1 against 44.0


def test_the_missing_vgg_weights_are_said_once(tmp_path: Path, content_file: Path, monkeypatch, capfd, caplog) -> None:
    monkeypatch.setenv("INPAINTKIT_HOME", str(tmp_path / "empty-cache"))
    photo, mask = _write_inputs(tmp_path)
    out = tmp_path / "out.png"
    code = main(
        ["remove", str(photo), "--mask", str(mask), "-o", str(out), "--model", "neural-patch"]
        + ["--weights", str(content_file), "--iterations", "1"]
    )
    captured = capfd.readouterr()
    assert code == 0 and out.exists()
    assert sum("no VGG-19 weights" in record.getMessage() for record in caplog.records) == 1
    assert (captured.out + captured.err).count("no VGG-19 weights") <= 1
