"""Image outpainting: generator and discriminators against the paper, the three-phase objective,
and the pipeline (every side, recursion, blending, any model, the command)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from _training_toys import phase_effects, write_images
from PIL import Image

from inpaintkit.api import load_model, load_outpainter
from inpaintkit.classical import TeleaInpainter, clone_known_region
from inpaintkit.cli import build_parser
from inpaintkit.io import read_image
from inpaintkit.models._layers import telea_fill
from inpaintkit.models.lama import PRESETS as LAMA_PRESETS
from inpaintkit.models.lama import LamaGenerator
from inpaintkit.models.outpaint import PRESETS, OutpaintConfig, OutpaintDiscriminator, OutpaintGenerator, visible_mean
from inpaintkit.pipelines.outpaint import outpaint, split_amount
from inpaintkit.registry import DEFAULT_OUTPAINT_MODEL, REGISTRY, create_model
from inpaintkit.training import Trainer, run_training
from inpaintkit.training.config import ModelConfig, load_config, save_config
from inpaintkit.training.objectives import OBJECTIVES
from inpaintkit.training.objectives.outpaint import build_outpaint_objective
from inpaintkit.types import InpaintKitError, InputError
from inpaintkit.weights import load_weights, save_model_file

torch.set_num_threads(1)
CONFIGS = Path(__file__).resolve().parent.parent / "configs"


# ------------------------------------------------------------------------------- the network
def test_generator_layers_and_sizes_for_a_128_input() -> None:
    with torch.device("meta"):
        net = OutpaintGenerator(PRESETS["outpaint"])
        layers = [m for m in net.model if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        sizes: list[tuple[int, ...]] = []
        for m in layers:
            m.register_forward_hook(lambda _m, _i, out: sizes.append(tuple(out.shape[1:])))
        out = net(torch.zeros(2, 3, 128, 128), torch.zeros(2, 1, 128, 128))
    found = [(type(m).__name__, m.kernel_size[0], m.stride[0], m.dilation[0], m.out_channels) for m in layers]
    assert found == [
        ("Conv2d", 5, 1, 1, 64),
        ("Conv2d", 3, 2, 1, 128),
        ("Conv2d", 3, 1, 1, 256),
        ("Conv2d", 3, 1, 2, 256),
        ("Conv2d", 3, 1, 4, 256),
        ("Conv2d", 3, 1, 8, 256),
        ("Conv2d", 3, 1, 1, 256),
        ("ConvTranspose2d", 4, 2, 1, 128),
        ("Conv2d", 3, 1, 1, 64),
        ("Conv2d", 3, 1, 1, 3),
    ]
    side = [128, 64, 64, 64, 64, 64, 64, 128, 128, 128]
    assert sizes == [(c, s, s) for (*_, c), s in zip(found, side)] and out.shape == (2, 3, 128, 128)
    kinds = [type(m).__name__ for m in net.model]
    assert kinds == ["Conv2d", "ReLU"] * 7 + ["ConvTranspose2d", "ReLU", "Conv2d", "ReLU", "Conv2d"]
    small = OutpaintGenerator(OutpaintConfig(width=2)).eval()
    with torch.no_grad():  # the sigmoid runs in forward, after the last convolution
        x, m = torch.rand(1, 3, 16, 16), torch.zeros(1, 1, 16, 16)
        assert torch.allclose(small(x, m), torch.sigmoid(small.model(torch.cat([x, m], dim=1))))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())


def test_hole_is_filled_with_the_mean_of_the_visible_pixels() -> None:
    net = OutpaintGenerator(OutpaintConfig(width=2)).eval()
    seen = []
    net.model[0].register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0]))
    image, mask = torch.rand(2, 3, 8, 12), torch.zeros(2, 1, 8, 12)
    mask[0, :, :, :3], mask[0, :, :, 9:], mask[1, :, :2] = 1, 1, 1
    with torch.no_grad():
        first = net(image, mask)
        second = net(torch.where(mask > 0, torch.rand(2, 3, 8, 12), image), mask)
    means = [float(image[0, :, :, 3:9].mean()), float(image[1, :, 2:].mean())]
    assert torch.allclose(visible_mean(image, mask).flatten(), torch.tensor(means))
    for i, value in enumerate(means):
        hole = mask[i, 0] > 0
        assert torch.allclose(seen[0][i, :3][:, hole], torch.full_like(seen[0][i, :3][:, hole], value))
        assert torch.equal(seen[0][i, :3][:, ~hole], image[i][:, ~hole])
    assert torch.equal(seen[0][:, 3:], mask) and torch.equal(first, second)
    assert float(visible_mean(image, torch.ones(1, 1, 8, 12).expand(2, 1, 8, 12))[0]) == 0.5  # nothing visible
    with pytest.raises(InputError, match="multiples of 2, got 7x12"):
        net(torch.rand(1, 3, 7, 12), torch.zeros(1, 1, 7, 12))


def test_discriminator_global_and_shared_local_branches() -> None:
    plain, local = OutpaintDiscriminator(), OutpaintDiscriminator(local=True)
    widths = [m.out_channels for m in plain.global_branch.convs if isinstance(m, nn.Conv2d)]
    assert widths == [32, 64, 64, 64, 64]
    assert (plain.global_branch.fc.in_features, plain.global_branch.fc.out_features) == (64 * 4 * 4, 512)
    assert (plain.fc.in_features, plain.fc.out_features) == (512, 1) and plain.local_branch is None
    assert [m.out_channels for m in local.local_branch.convs if isinstance(m, nn.Conv2d)] == [32, 64, 64, 64]
    assert local.local_branch.fc.in_features == 64 * 8 * 4 and local.fc.in_features == 3 * 512
    # one branch, shared: on a mirror-symmetric image the left half and the flipped right half agree
    half = torch.rand(2, 3, 128, 64)
    symmetric = torch.cat([half, half.flip(-1)], dim=-1)
    seen = []
    local.local_branch.register_forward_hook(lambda _m, _i, out: seen.append(out))
    assert local(symmetric).shape == (2,)
    assert len(seen) == 2 and torch.allclose(seen[0], seen[1])


def test_registry_presets_and_safetensors_round_trip(tmp_path: Path) -> None:
    assert REGISTRY["outpaint"].config.width == 64 and REGISTRY["outpaint-small"].config.width == 16
    torch.manual_seed(0)
    net = create_model("outpaint-small").eval()
    path = save_model_file(tmp_path / "o.safetensors", "outpaint", net.config, net.state_dict())
    loaded, _ = load_model(path)
    image, mask = torch.rand(1, 3, 16, 24), torch.zeros(1, 1, 16, 24)
    mask[..., :6] = 1
    with torch.inference_mode():
        assert torch.equal(net(image, mask), loaded(image, mask))


# -------------------------------------------------------------------------------- objective
def _tiny_config(tmp_path: Path):
    write_images(tmp_path / "data", 3, size=(40, 48))
    data = str(tmp_path / "data")
    return load_config(
        CONFIGS / "outpaint-small-cpu.yaml",
        [
            f"--data.train_dir={data}",
            f"--data.val_dir={data}",
            "--model.overrides.width=2",
            "--data.crop_size=32",
            "--data.val_size=32",
            "--data.val_count=2",
            "--data.batch_size=2",
            "--data.workers=0",
            "--objective.image_size=32",
            "--objective.discriminator_width=2",
            "--objective.local_discriminator=true",
            "--schedule.phases.0.steps=1",
            "--schedule.phases.1.steps=1",
            "--schedule.phases.2.steps=1",
            f"--run.out_dir={tmp_path / 'run'}",
            "--run.threads=1",
            "--run.log_every=1",
            "--run.val_every=3",
            "--run.sample_every=3",
        ],
    )


def test_phases_decide_which_networks_learn_and_which_terms_exist(tmp_path: Path) -> None:
    config = _tiny_config(tmp_path)
    for phase in config.schedule.phases:
        phase.train = ["generator", "discriminator"]
    torch.manual_seed(0)
    trainer = Trainer(config, OBJECTIVES["outpaint"](config.model, config.objective))
    seen = phase_effects(trainer)
    assert seen["completion"] == ({"generator"}, {"generator/mse"})
    assert seen["discriminator"] == ({"discriminator"}, {"discriminator/adversarial"})
    assert seen["joint"] == (
        {"generator", "discriminator"},
        {"generator/mse", "generator/adversarial", "discriminator/adversarial"},
    )


def test_loss_terms_are_the_papers() -> None:
    torch.manual_seed(0)
    objective = build_outpaint_objective(
        ModelConfig("outpaint-small", {"width": 2}), {"image_size": 32, "discriminator_width": 2}
    )
    image, mask = torch.rand(2, 3, 32, 32), torch.zeros(2, 1, 32, 32)
    mask[..., :8], mask[..., 24:] = 1, 1
    batch = {"image": image, "mask": mask}
    # D first (the paper's order), then the generator, on the one output of the step
    pred = objective.generate(batch)
    d_terms = objective.losses("discriminator", batch, pred.detach(), "joint")
    real, fake = objective.discriminator(image), objective.discriminator(pred.detach())
    expected = (-torch.log(torch.sigmoid(real)) - torch.log(1 - torch.sigmoid(fake))).mean()
    assert torch.allclose(d_terms["adversarial"], expected, rtol=1e-4)
    terms = objective.losses("generator", batch, pred, "joint")
    assert torch.allclose(terms["mse"], ((pred - image) ** 2)[..., mask[0, 0, 0] > 0].mean())
    assert torch.allclose(terms["adversarial"], -0.0004 * torch.log(torch.sigmoid(fake)).mean(), rtol=1e-4)
    with pytest.raises(InputError, match="the outpaint objective trains 'generator' and 'discriminator'"):
        objective.losses("critic", batch, pred, "joint")
    with pytest.raises(InputError, match="is a glcic network; the outpaint objective"):
        build_outpaint_objective(ModelConfig("glcic-small"), {})


def test_cpu_recipe_runs_all_three_phases_and_exports(tmp_path: Path) -> None:
    run = run_training(str(save_config(_tiny_config(tmp_path), tmp_path / "recipe.yaml")), [])
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    steps = {tag: [e.step for e in events.Scalars(tag)] for tag in events.Tags()["scalars"] if tag.startswith("loss/")}
    assert steps["loss/generator/mse"] == [1, 3] and steps["loss/generator/adversarial"] == [3]
    assert steps["loss/discriminator/adversarial"] == [2, 3]
    assert load_weights(run / "generator.safetensors").arch == "outpaint"


def test_recipes_parse_with_the_papers_numbers() -> None:
    paper = load_config(CONFIGS / "outpaint-places.yaml")
    steps = [p.steps for p in paper.schedule.phases]
    assert [p.name for p in paper.schedule.phases] == ["completion", "discriminator", "joint"]
    assert [s * 100 // sum(steps) for s in steps] == [18, 2, 80] and paper.data.masks == "outpaint-sides"
    g = paper.optim["generator"]
    assert (g.kind, g.lr, g.betas, paper.data.batch_size, paper.data.crop_size) == ("adam", 1e-4, [0.9, 0.999], 16, 128)
    small = load_config(CONFIGS / "outpaint-small-cpu.yaml")
    steps = [p.steps for p in small.schedule.phases]
    assert [s * 100 // sum(steps) for s in steps] == [18, 2, 80] and small.model.preset == "outpaint-small"
    assert small.model.overrides == {"prefill": "mean", "residual": False}  # stage 1: the paper's input and output
    refine = load_config(CONFIGS / "outpaint-small-cpu-refine.yaml")  # stage 2: the shipped model's recipe
    assert refine.run.init_from == f"{small.run.out_dir}/generator.safetensors" and not refine.model.overrides
    head = [key for key in OutpaintGenerator(PRESETS["outpaint-small"]).state_dict() if key.endswith("weight")][-1]
    assert refine.run.init_reset == [head.removesuffix("weight")]  # the zero-initialised correction head
    assert (PRESETS["outpaint-small"].prefill, PRESETS["outpaint-small"].residual) == ("telea", True)
    assert REGISTRY["outpaint-small"].recipe == "configs/outpaint-small-cpu-refine.yaml"


# --------------------------------------------------------------------------------- pipeline
def _picture(h: int = 20, w: int = 30, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / w, yy / h, 0.5 + 0.0 * xx], -1) * 200 + 20
    return np.clip(base + rng.normal(0, 4, (h, w, 3)), 0, 255).astype(np.uint8)


class Spy(nn.Module):
    """Records the canvases it is given and outputs a constant grey everywhere (its raw output)."""

    pad_multiple = 1

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, int]] = []

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(image.shape[-2:]))
        return torch.full_like(image, 0.5)


@pytest.mark.parametrize("side", ["left", "right", "top", "bottom"])
def test_every_side_extends_exactly_and_keeps_the_original(side: str) -> None:
    image = _picture()
    amounts = {"left": 0, "right": 0, "top": 0, "bottom": 0, side: 7}
    result = outpaint(image, TeleaInpainter(), **amounts, blend=False)
    top, left = amounts["top"], amounts["left"]
    assert result.image.rgb.shape == (20 + top + amounts["bottom"], 30 + left + amounts["right"], 3)
    kept = result.image.rgb[top : top + 20, left : left + 30]
    assert np.array_equal(kept, image / np.float32(255))
    assert result.mask.sum() == result.mask.size - 20 * 30 and not result.mask[top : top + 20, left : left + 30].any()


def test_all_sides_at_once_with_blending_keep_the_originals_gradients() -> None:
    image = _picture(24, 32)
    result = outpaint(image, Spy(), left=5, right=7, top=3, bottom=4)
    out = result.image.rgb
    assert out.shape == (31, 44, 3)
    known = out[3:27, 5:37]
    difference = known - image / np.float32(255)
    lap = (
        difference[1:-1, :-2]
        + difference[1:-1, 2:]
        + difference[:-2, 1:-1]
        + difference[2:, 1:-1]
        - 4 * difference[1:-1, 1:-1]
    )[4:-4, 4:-4]
    assert np.abs(lap).max() <= 4.01 / 255  # the original plus a harmonic correction (8-bit rounding)
    assert np.abs(difference).max() > 0.1  # it met the model's grey border: a real correction
    assert np.abs(known[0] - 0.5).max() <= 1 / 255  # the outermost known row takes the model's values
    assert np.array_equal(out[result.mask], np.full_like(out[result.mask], 0.5))  # generated pixels untouched


def test_recursive_outpainting_reaches_three_and_a_half_widths() -> None:
    image, spy = _picture(16, 16), Spy()
    result = outpaint(image, spy, left=20, right=20, steps=3, blend=False)
    assert split_amount(20, 3) == [6, 7, 7] and split_amount(5, 5) == [1] * 5 and sum(split_amount(9, 4)) == 9
    assert spy.shapes == [(16, 16 + 12), (16, 28 + 14), (16, 42 + 14)]  # each step grows what came before
    assert result.image.rgb.shape == (16, 56, 3) and result.steps == 3  # 3.5 x 16
    assert np.array_equal(result.image.rgb[:, 20:36], image / np.float32(255))
    blended = outpaint(image, Spy(), left=20, right=20, steps=3)
    assert blended.image.rgb.shape == (16, 56, 3) and blended.mask[:, :20].all() and not blended.mask[:, 20:36].any()


def test_learned_models_outpaint_through_the_same_function() -> None:
    torch.manual_seed(0)
    image = _picture(15, 21)
    generator = OutpaintGenerator(OutpaintConfig(width=2)).eval()  # pads the 15-row canvas to 16
    result = outpaint(image, generator, left=3, top=2, blend=False)
    assert result.image.rgb.shape == (17, 24, 3)
    assert np.array_equal(result.image.rgb[2:, 3:], image / np.float32(255))
    lama = LamaGenerator(LAMA_PRESETS["lama-tiny"]).eval()  # LaMa with a border mask, padded to 16
    assert outpaint(image, lama, right=5, bottom=6, steps=2).image.rgb.shape == (21, 26, 3)


def test_alpha_and_errors() -> None:
    rgba = np.dstack([_picture(), np.full((20, 30), 100, np.uint8)])
    result = outpaint(rgba, Spy(), left=4, blend=False)
    assert result.image.mode == "RGBA" and result.image.alpha.shape == (20, 34)
    assert np.all(result.image.alpha[:, :4] == 1.0) and np.allclose(result.image.alpha[:, 4:], 100 / 255)
    same = outpaint(_picture(), Spy())
    assert same.steps == 0 and "nothing to extend" in same.warnings[0] and same.image.rgb.shape == (20, 30, 3)
    with pytest.raises(InputError, match="left border must be >= 0"):
        outpaint(_picture(), Spy(), left=-1)
    with pytest.raises(InputError, match="steps must be an integer >= 1"):
        outpaint(_picture(), Spy(), left=4, steps=0)
    with pytest.raises(InputError, match="right = 2 px cannot be split over 3 steps"):
        outpaint(_picture(), Spy(), left=6, right=2, steps=3)


def test_clone_of_the_known_region_keeps_the_generated_pixels() -> None:
    generated = np.full((20, 30, 3), 0.3, np.float32)
    source = np.full((20, 30, 3), 0.8, np.float32)
    hole = np.ones((20, 30), bool)
    hole[:, 8:22] = False  # the known middle strip touches the top and bottom borders
    out = clone_known_region(generated, source, hole)
    assert np.array_equal(out[hole], generated[hole])
    assert np.abs(out[~hole] - 0.3).max() <= 1 / 255  # a flat source takes the generated border's level


@pytest.mark.parametrize("size", [(1, 1), (1, 6), (2, 2)])
def test_a_tiny_picture_extends_with_the_poisson_blend(size) -> None:
    picture = np.full((*size, 3), 120, np.uint8)
    pipe = load_outpainter("outpaint-small")
    blended = pipe(picture, left=8, right=8, top=8, bottom=8).image.rgb
    plain = pipe(picture, left=8, right=8, top=8, bottom=8, blend=False).image.rgb
    assert blended.shape == plain.shape == (size[0] + 16, size[1] + 16, 3)
    assert np.all((blended >= 0) & (blended <= 1)) and np.all(plain[8:-8, 8:-8] == np.float32(120 / 255))


def test_command_writes_the_extended_image(tmp_path: Path, capsys) -> None:
    Image.fromarray(_picture()).save(tmp_path / "in.png")
    args = build_parser().parse_args(
        [
            "outpaint",
            str(tmp_path / "in.png"),
            "--left",
            "6",
            "--right",
            "6",
            "--steps",
            "2",
            "--model",
            "telea",
            "-o",
            str(tmp_path / "out.png"),
        ]
    )
    assert args.func(args) == 0
    assert read_image(tmp_path / "out.png").rgb.shape == (20, 42, 3)
    assert f"wrote {tmp_path / 'out.png'} (42x20, telea, 2 step(s), " in capsys.readouterr().out
    unnamed = build_parser().parse_args(["outpaint", str(tmp_path / "in.png"), "-o", "x.png"])
    assert unnamed.model is None and DEFAULT_OUTPAINT_MODEL == "lama-small"  # the registry's, read when it runs
    with pytest.raises(InpaintKitError, match="exists; pass --overwrite"):
        args.func(args)
    pipe = load_outpainter("telea")
    assert pipe.name == "telea" and pipe.pad_multiple == 1


def test_telea_prefill_and_residual_start_from_the_telea_fill() -> None:
    image = torch.rand(2, 3, 16, 24)
    mask = torch.zeros(2, 1, 16, 24)
    mask[..., :5] = mask[..., -4:] = 1
    net = OutpaintGenerator(OutpaintConfig(width=4, prefill="telea", residual=True)).eval()
    expected = telea_fill(image, mask)
    with torch.no_grad():
        out = net(image, mask)
        assert torch.equal(out, expected.clamp(0, 1))  # zero-initialised head: exactly the prefill
        assert torch.equal(out[..., 5:-4], image[..., 5:-4])
        noisy = image * (1 - mask) + torch.rand_like(image) * mask  # what lies under the hole is ignored
        assert torch.equal(net(noisy, mask), out)
        net.model[-1].bias.fill_(0.25)  # the head's output is added to the fill, then clamped
        assert torch.equal(net(image, mask), (expected + 0.25).clamp(0, 1))
    with pytest.raises(ValueError, match="prefill must be one of mean, telea, got 'zeros'"):
        OutpaintConfig(prefill="zeros")
