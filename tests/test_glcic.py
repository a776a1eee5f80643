"""GLCIC: the network against the paper's table, the three-phase objective on tiny runs, the data
option, the post-processing (Telea + Poisson blending) and the authors' Torch7 format."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
from _torch7_writer import FloatTensor, StridedTensor, TorchClass, write_t7
from _training_toys import phase_effects, write_images

import inpaintkit
from inpaintkit.api import load_model
from inpaintkit.classical import POSTPROCESSORS, seamless_clone, telea_then_seamless_clone
from inpaintkit.data import ImageFolder
from inpaintkit.models.glcic import COMPLETION_LAYERS, PRESETS, GlcicCompletionNet, GlcicConfig, GlcicDiscriminator
from inpaintkit.pipelines.inpaint import InpaintPipeline
from inpaintkit.registry import REGISTRY, create_model
from inpaintkit.torch7 import load_glcic_t7
from inpaintkit.training import Trainer, run_training
from inpaintkit.training.config import ModelConfig, load_config
from inpaintkit.training.objectives import OBJECTIVES
from inpaintkit.training.objectives.glcic import build_glcic_objective, crop_patches, hole_patch_corners
from inpaintkit.types import InputError, WeightsError
from inpaintkit.weights import load_weights, save_model_file

torch.set_num_threads(1)
CONFIGS = Path(__file__).resolve().parent.parent / "configs"

#: The paper's Table 1: (type, kernel, dilation, stride, outputs); stride 0.5 = deconvolution.
PAPER_TABLE = [
    ("conv", 5, 1, 1, 64),
    ("conv", 3, 1, 2, 128),
    ("conv", 3, 1, 1, 128),
    ("conv", 3, 1, 2, 256),
    ("conv", 3, 1, 1, 256),
    ("conv", 3, 1, 1, 256),
    ("conv", 3, 2, 1, 256),
    ("conv", 3, 4, 1, 256),
    ("conv", 3, 8, 1, 256),
    ("conv", 3, 16, 1, 256),
    ("conv", 3, 1, 1, 256),
    ("conv", 3, 1, 1, 256),
    ("deconv", 4, 1, 0.5, 128),
    ("conv", 3, 1, 1, 128),
    ("deconv", 4, 1, 0.5, 64),
    ("conv", 3, 1, 1, 32),
    ("conv", 3, 1, 1, 3),
]


def convs(net: GlcicCompletionNet) -> list[nn.Module]:
    return [m for m in net.model if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


# ------------------------------------------------------------------------------- the network
def test_layers_match_the_paper_table_and_sizes_for_a_256_input() -> None:
    with torch.device("meta"):
        net = GlcicCompletionNet(PRESETS["glcic"])
        sizes: list[tuple[int, ...]] = []
        hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(tuple(out.shape))) for m in convs(net)]
        out = net(torch.zeros(1, 3, 256, 256), torch.zeros(1, 1, 256, 256))
    for hook in hooks:
        hook.remove()
    found = [
        (
            "deconv" if isinstance(m, nn.ConvTranspose2d) else "conv",
            m.kernel_size[0],
            m.dilation[0],
            0.5 if isinstance(m, nn.ConvTranspose2d) else m.stride[0],
            m.out_channels,
        )
        for m in convs(net)
    ]
    assert found == PAPER_TABLE
    side = [256, 128, 128] + [64] * 9 + [128, 128, 256, 256, 256]
    assert sizes == [(1, c, s, s) for (*_, c), s in zip(PAPER_TABLE, side)]
    assert out.shape == (1, 3, 256, 256) and isinstance(net.model[-1], nn.Sigmoid)
    # conv -> BN -> ReLU for every layer but the last (the order the released .t7 files have)
    kinds = [type(m).__name__ for m in net.model]
    assert kinds[:6] == ["Conv2d", "BatchNorm2d", "ReLU"] * 2 and kinds[-2:] == ["Conv2d", "Sigmoid"]
    assert len(net.model) == 16 * 3 + 2
    assert [type(m).__name__ for m in net.model[36:39]] == ["ConvTranspose2d", "BatchNorm2d", "ReLU"]
    widths = [4] + [c for *_, c in PAPER_TABLE]  # conv weights + biases, BatchNorm scales + shifts
    expected = sum(
        k * k * cin * cout + cout + (2 * cout if i < 16 else 0)
        for i, ((_, k, *_), cin, cout) in enumerate(zip(PAPER_TABLE, widths, widths[1:]))
    )
    assert sum(p.numel() for p in net.parameters()) == expected


def _paper_receptive_field(layers: list[tuple[str, int, int, int]]) -> int:
    """The paper's count: a conv adds ``(k_eff - 1) * j`` then multiplies the jump ``j`` by its stride;
    a stride-1/2 layer divides ``j`` by 2 first and adds ``k * j`` (an upsampled window straddles one
    more input pixel)."""
    r, j = 1.0, 1.0
    for kind, kernel, dilation, stride in layers:
        if kind == "deconv":
            j /= stride
            r += kernel * j
        else:
            r += dilation * (kernel - 1) * j
            j *= stride
    return int(r)


def test_receptive_field_from_the_layer_list_is_the_papers() -> None:
    layers = [(s.kind, s.kernel, s.dilation, s.stride) for s in COMPLETION_LAYERS]
    assert _paper_receptive_field(layers) == 307
    assert _paper_receptive_field([(k, ks, 1, st) for k, ks, _, st in layers]) == 99  # without dilation


def _exact_support(centre: int) -> tuple[int, int]:
    """Input rows the output row ``centre`` depends on, propagated back through the layer table."""
    lo, hi = centre, centre
    for spec in reversed(COMPLETION_LAYERS):
        k, s, d = spec.kernel, spec.stride, spec.dilation
        if spec.kind == "deconv":  # out = s * in - pad + t, t in [0, k), pad = (k - s) // 2
            pad = (k - s) // 2
            lo, hi = -((k - 1 - lo - pad) // s), (hi + pad) // s
        else:
            pad = d * (k - 1) // 2
            lo, hi = lo * s - pad, hi * s - pad + d * (k - 1)
    return lo, hi


def test_gradient_support_of_the_built_network_is_the_exact_receptive_field() -> None:
    net = GlcicCompletionNet(GlcicConfig(width=2, mean=[0.0, 0.0, 0.0])).double().eval()
    with torch.no_grad():  # positive averaging weights: every path stays active, nothing saturates
        for m in convs(net):
            fan_in = m.weight[0].numel() if isinstance(m, nn.Conv2d) else m.weight.shape[0] * 4
            m.weight.fill_(1.0 / fan_in)
            m.bias.zero_()
    size, widths = 384, []
    for centre in (192, 193):
        image = torch.full((1, 3, size, size), 0.5, dtype=torch.float64, requires_grad=True)
        net(image, torch.zeros(1, 1, size, size, dtype=torch.float64))[0, 0, centre, centre].backward()
        rows = image.grad[0].abs().sum(dim=(0, 2)).nonzero().flatten()
        assert (int(rows.min()), int(rows.max())) == _exact_support(centre)
        widths.append(int(rows.max() - rows.min()) + 1)
    assert max(widths) <= 307 and min(widths) > 290  # the paper's 307 is a count, not the exact support


def test_input_is_mean_centred_with_the_hole_at_zero_plus_the_mask() -> None:
    config = GlcicConfig(width=2, mean=[0.2, 0.4, 0.6])
    net = GlcicCompletionNet(config).eval()
    seen = []
    net.model[0].register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0]))
    image, mask = torch.rand(2, 3, 16, 20), torch.zeros(2, 1, 16, 20)
    mask[:, :, 4:10, 3:12] = 1
    with torch.no_grad():
        first = net(image, mask)
        second = net(torch.where(mask > 0, torch.rand(2, 3, 16, 20), image), mask)  # other hole content
    expected = (image - torch.tensor([0.2, 0.4, 0.6]).view(1, 3, 1, 1)) * (1 - mask)
    assert torch.allclose(seen[0][:, :3], expected) and torch.equal(seen[0][:, 3:], mask)
    assert torch.equal(first, second) and float(first.min()) >= 0 and float(first.max()) <= 1
    with pytest.raises(InputError, match="multiples of 4, got 18x20"):
        net(torch.rand(1, 3, 18, 20), torch.zeros(1, 1, 18, 20))
    with pytest.raises(ValueError, match="mean must be three values"):
        GlcicConfig(mean=[0.5, 0.5])


def test_discriminator_branches_and_concatenation() -> None:
    with torch.device("meta"):
        d = GlcicDiscriminator()
        logits = d(torch.zeros(3, 3, 256, 256), torch.zeros(3, 3, 128, 128))
    assert logits.shape == (3,)
    local = [m.out_channels for m in d.local_branch.convs if isinstance(m, nn.Conv2d)]
    glob = [m.out_channels for m in d.global_branch.convs if isinstance(m, nn.Conv2d)]
    assert local == [64, 128, 256, 512, 512] and glob == [64, 128, 256, 512, 512, 512]
    assert all(m.kernel_size == (5, 5) and m.stride == (2, 2) for m in d.local_branch.convs if isinstance(m, nn.Conv2d))
    assert (d.local_branch.fc.in_features, d.local_branch.fc.out_features) == (512 * 4 * 4, 1024)
    assert (d.global_branch.fc.in_features, d.global_branch.fc.out_features) == (512 * 4 * 4, 1024)
    assert (d.fc.in_features, d.fc.out_features) == (2048, 1)


def test_registry_presets_and_safetensors_round_trip(tmp_path: Path) -> None:
    assert REGISTRY["glcic"].config.width == 64 and REGISTRY["glcic-small"].config.width == 16
    spec = REGISTRY["glcic"].weights  # the authors' Places2 file, with the md5 their download script checks
    assert (spec.filename, spec.md5, spec.format) == (
        "completionnet_places2.t7",
        "b1527543a0ee22c23fca44cefdf48531",
        "torch7-glcic",
    )
    torch.manual_seed(0)
    net = create_model("glcic-small").eval()
    path = save_model_file(tmp_path / "g.safetensors", "glcic", net.config, net.state_dict())
    loaded, _ = load_model(path)
    image, mask = torch.rand(1, 3, 24, 32), torch.zeros(1, 1, 24, 32)
    mask[..., 5:15, 6:20] = 1
    with torch.inference_mode():
        assert torch.equal(net(image, mask), loaded(image, mask))


# -------------------------------------------------------------------------------- objective
def test_patch_around_the_hole_is_centred_and_kept_inside() -> None:
    mask = torch.zeros(3, 1, 256, 256)
    mask[0, :, 100:140, 60:90] = 1  # centre (119, 74) -> corner (55, 10)
    mask[1, :, 10:20, 200:230] = 1  # centre (14, 214) -> shifted inside: (0, 128)
    assert hole_patch_corners(mask, 128) == [(55, 10), (0, 128), (64, 64)]  # last: no hole -> centre
    images = torch.arange(3 * 3 * 256 * 256, dtype=torch.float32).view(3, 3, 256, 256)
    patches = crop_patches(images, [(55, 10), (0, 128), (64, 64)], 128)
    assert patches.shape == (3, 3, 128, 128) and torch.equal(patches[1], images[1, :, 0:128, 128:256])


def _tiny_glcic_config(tmp_path: Path, overrides: list[str] = ()):
    write_images(tmp_path / "data", 3, size=(150, 140))
    data = str(tmp_path / "data")
    return load_config(
        CONFIGS / "glcic-small-cpu.yaml",
        [
            f"--data.train_dir={data}",
            f"--data.val_dir={data}",
            "--model.overrides.width=2",
            "--data.crop_size=128",
            "--data.short_side=[128,160]",
            "--data.val_size=128",
            "--data.val_count=2",
            "--data.batch_size=2",
            "--data.workers=0",
            "--objective.image_size=128",
            "--objective.local_size=64",
            "--objective.discriminator_width=2",
            "--schedule.phases.0.steps=1",
            "--schedule.phases.1.steps=1",
            "--schedule.phases.2.steps=1",
            f"--run.out_dir={tmp_path / 'run'}",
            "--run.threads=1",
            "--run.log_every=1",
            "--run.val_every=3",
            "--run.sample_every=3",
            *overrides,
        ],
    )


def test_phases_decide_which_networks_learn_and_which_terms_exist(tmp_path: Path) -> None:
    config = _tiny_glcic_config(tmp_path)
    for phase in config.schedule.phases:  # both networks listed in every phase: the phase name decides
        phase.train = ["generator", "discriminator"]
    torch.manual_seed(0)
    trainer = Trainer(config, OBJECTIVES["glcic"](config.model, config.objective))
    seen = phase_effects(trainer)
    assert seen["completion"] == ({"generator"}, {"generator/mse"})
    assert seen["discriminator"] == ({"discriminator"}, {"discriminator/adversarial"})
    assert seen["joint"] == (
        {"generator", "discriminator"},
        {"generator/mse", "generator/adversarial", "discriminator/adversarial"},
    )


def test_loss_terms_are_the_papers(tmp_path: Path) -> None:
    torch.manual_seed(0)
    objective = build_glcic_objective(
        ModelConfig("glcic-small", {"width": 2}), {"image_size": 64, "local_size": 32, "discriminator_width": 2}
    )
    image, mask = torch.rand(2, 3, 64, 64), torch.zeros(2, 1, 64, 64)
    mask[0, :, 10:30, 20:50], mask[1, :, 40:64, 0:16] = 1, 1
    batch = {"image": image, "mask": mask}
    pred = objective.generate(batch)
    terms = objective.losses("generator", batch, pred, "joint")
    completed = mask * pred + (1 - mask) * image
    assert torch.allclose(terms["mse"], ((pred - image) ** 2 * mask).sum() / (3 * mask.sum()))
    corners = [(3, 18), (32, 0)]  # hole centres (19, 34) and (51, 7), 32-px patches kept inside
    logits = objective.discriminator(completed, crop_patches(completed, corners, 32))
    assert torch.allclose(terms["adversarial"], 0.0004 * -torch.log(torch.sigmoid(logits)).mean(), rtol=1e-4)
    sum(terms.values()).backward()
    assert all(p.grad is None for p in objective.discriminator.parameters())  # D frozen for G's terms
    d_terms = objective.losses("discriminator", batch, pred.detach(), "joint")
    real = objective.discriminator(image, crop_patches(image, corners, 32))
    fake = objective.discriminator(completed.detach(), crop_patches(completed.detach(), corners, 32))
    expected = -(torch.log(torch.sigmoid(real)) + torch.log(1 - torch.sigmoid(fake))).mean()
    assert torch.allclose(d_terms["adversarial"], expected, rtol=1e-4)
    assert objective.losses("discriminator", batch, pred.detach(), "completion") == {}
    assert objective.losses("generator", batch, pred, "discriminator") == {}
    with pytest.raises(InputError, match="phases completion, discriminator, joint; got 'warmup'"):
        objective.losses("generator", batch, pred, "warmup")
    small = {"image": image[..., :32, :32], "mask": mask[..., :32, :32]}
    with pytest.raises(InputError, match="objective.image_size is 64 but the training images are 32x32"):
        objective.losses("generator", small, objective.generate(small), "joint")
    with pytest.raises(InputError, match="is a lama network; the glcic objective trains GLCIC"):
        build_glcic_objective(ModelConfig("lama-tiny"), {})


def test_cpu_recipe_runs_all_three_phases_and_exports(tmp_path: Path) -> None:
    config = _tiny_glcic_config(tmp_path)
    from inpaintkit.training.config import save_config

    run = run_training(str(save_config(config, tmp_path / "recipe.yaml")), [])
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    steps = {tag: [e.step for e in events.Scalars(tag)] for tag in events.Tags()["scalars"] if tag.startswith("loss/")}
    assert steps["loss/generator/mse"] == [1, 3] and steps["loss/generator/adversarial"] == [3]
    assert steps["loss/discriminator/adversarial"] == [2, 3]
    loaded = load_weights(run / "generator.safetensors")
    assert loaded.arch == "glcic" and loaded.config["width"] == 2


def test_recipes_parse_with_the_papers_numbers() -> None:
    paper = load_config(CONFIGS / "glcic-places.yaml")
    assert [(p.name, p.steps, p.train) for p in paper.schedule.phases] == [
        ("completion", 90000, ["generator"]),
        ("discriminator", 10000, ["discriminator"]),
        ("joint", 400000, ["discriminator", "generator"]),
    ]
    assert paper.data.batch_size == 96 and paper.data.short_side == [256, 384] and paper.data.masks == "glcic"
    assert {o.kind for o in paper.optim.values()} == {"adadelta"} and paper.objective["alpha"] == 0.0004
    small = load_config(CONFIGS / "glcic-small-cpu.yaml")
    steps = [p.steps for p in small.schedule.phases]
    assert [s * 100 // sum(steps) for s in steps] == [18, 2, 80] and small.model.preset == "glcic-small"
    refine = load_config(CONFIGS / "glcic-small-cpu-refine.yaml")  # stage 2: the shipped model's recipe
    assert refine.run.init_from == f"{small.run.out_dir}/generator.safetensors" and refine.run.init_reset == []
    assert [p.name for p in refine.schedule.phases] == ["completion", "discriminator", "joint"]
    assert {o.kind for o in refine.optim.values()} == {"adam"} and refine.objective["alpha"] == 0.0004
    assert REGISTRY["glcic-small"].recipe == "configs/glcic-small-cpu-refine.yaml"


# ------------------------------------------------------------------------------- data option
class _FixedRng:
    """Stands in for a numpy Generator: fixed short side, crop at the origin, no flip."""

    def __init__(self, short_side: float) -> None:
        self.short_side = short_side

    def uniform(self, low: float, high: float) -> float:
        assert (low, high) == (64, 96)
        return self.short_side

    def integers(self, low: int, high: int) -> int:
        return 0

    def random(self) -> float:
        return 1.0


def test_short_side_range_resizes_then_crops(tmp_path: Path) -> None:
    from PIL import Image

    write_images(tmp_path, 1)
    dataset = ImageFolder(tmp_path, 32, lambda h, w, rng: np.zeros((h, w), np.float32), short_side=(64, 96))
    ramp = Image.fromarray(np.tile(np.arange(200, dtype=np.uint8), (100, 1)))  # value = x, short side 100
    for short_side in (64, 80, 96):
        image = dataset.sample(ramp.convert("RGB"), _FixedRng(short_side))["image"]
        side = round(100 * 32 / short_side)  # resize 100 -> s, cut 32 == cut 100 * 32 / s, resize to 32
        assert image.shape == (3, 32, 32)
        assert abs(float(image.mean()) * 255 - (side - 1) / 2) < 1.0
    with pytest.raises(InputError, match="data.short_side must be empty or"):
        load_config(CONFIGS / "glcic-places.yaml", ["--data.short_side=[384,256]"])


# --------------------------------------------------------------------------- post-processing
def _laplacian(x: np.ndarray) -> np.ndarray:
    return x[1:-1, :-2] + x[1:-1, 2:] + x[:-2, 1:-1] + x[2:, 1:-1] - 4 * x[1:-1, 1:-1]


def _scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:80] / 80.0
    image = np.stack([0.2 + 0.5 * xx, 0.3 + 0.4 * yy, 0.5 + 0.2 * xx * yy], -1).astype(np.float32)
    hole = np.zeros((64, 80), bool)
    hole[16:44, 20:60] = True
    texture = 0.05 * rng.standard_normal((64, 80, 1)).astype(np.float32)
    raw = np.clip(image + 0.25 + texture, 0, 1)  # the right texture, the wrong brightness
    return image, hole, raw


def test_postprocessing_keeps_known_pixels_and_adds_only_a_smooth_correction() -> None:
    image, hole, raw = _scene()
    result = telea_then_seamless_clone(raw, image, hole)
    assert result.shape == image.shape and result.dtype == np.float32
    assert np.array_equal(result[~hole], image[~hole])
    correction = result - np.rint(raw * 255) / 255  # OpenCV clones the 8-bit prediction
    inner = np.zeros_like(hole)
    inner[20:40, 24:56] = True  # OpenCV takes the source's gradients 3 px inside the mask's border
    lap = np.abs(_laplacian(correction[..., 0]))[inner[1:-1, 1:-1]]
    assert lap.mean() < 1 / 255 and lap.max() <= 4.01 / 255  # harmonic up to 8-bit rounding
    assert np.abs(_laplacian(raw[..., 0]))[inner[1:-1, 1:-1]].mean() > 0.1  # the texture is not smooth
    assert np.abs(correction[hole]).mean() > 0.15  # the brightness step is gone ...
    assert np.abs(result[hole] - image[hole]).mean() < 0.06  # ... so the fill meets its surroundings
    composite = np.where(hole[..., None], raw, image)
    telea = (
        cv2.inpaint(
            np.rint(composite * 255).astype(np.uint8), hole.astype(np.uint8) * 255, 1, cv2.INPAINT_TELEA
        ).astype(np.float32)
        / 255
    )
    ring = hole.copy()
    ring[17:43, 21:59] = False  # the hole's outermost pixels keep Telea's values
    assert np.array_equal(result[ring], telea[ring])


def test_clone_handles_holes_on_the_border_and_degenerate_masks() -> None:
    image, _, raw = _scene(1)
    for hole_box in ((slice(0, 20), slice(0, 30)), (slice(40, 64), slice(50, 80)), (slice(0, 64), slice(0, 10))):
        hole = np.zeros((64, 80), bool)
        hole[hole_box] = True
        result = telea_then_seamless_clone(raw, image, hole)
        assert np.array_equal(result[~hole], image[~hole])
        assert np.abs(result[hole] - raw[hole]).max() > 0.1  # the clone really ran there
    empty = np.zeros((64, 80), bool)
    assert np.array_equal(telea_then_seamless_clone(raw, image, empty), image)
    assert np.array_equal(seamless_clone(raw, image, ~empty), raw)
    with pytest.raises(InputError, match=r"raw must have shape \(64, 80, 3\)"):
        telea_then_seamless_clone(raw[:10], image, empty)


def test_pipeline_applies_the_models_postprocessing_unless_disabled(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = GlcicCompletionNet(GlcicConfig(width=2)).eval()
    path = save_model_file(tmp_path / "g.safetensors", "glcic", net.config, net.state_dict())
    with_post, without = inpaintkit.load(path), inpaintkit.load(path, postprocess=False)
    assert with_post.postprocess is POSTPROCESSORS["telea-seamless-clone"] and without.postprocess is None
    assert inpaintkit.load("telea").postprocess is None  # models that name none get none
    image, hole, _ = _scene(2)
    a, b = with_post(image, hole).image, without(image, hole).image
    assert np.array_equal(a[~hole], image[~hole]) and np.array_equal(b[~hole], image[~hole])
    assert np.array_equal(a, telea_then_seamless_clone(b, image, hole))
    plain = InpaintPipeline(net, name="g", pad_multiple=4)(image, hole).image
    assert np.array_equal(plain, b)


@pytest.mark.parametrize("hole", [(1, 1), (2, 2), (1, 5), (2, 40), (3, 3)])
def test_tiny_holes_go_through_the_poisson_post_processing(hole) -> None:
    rng = np.random.default_rng(0)
    image = rng.random((32, 48, 3), dtype=np.float32)
    mask = np.zeros((32, 48), bool)
    mask[10 : 10 + hole[0], 20 : 20 + hole[1]] = True
    raw = rng.random((32, 48, 3), dtype=np.float32)
    out = telea_then_seamless_clone(raw, image, mask)
    assert np.array_equal(out[~mask], image[~mask]) and np.all((out >= 0) & (out <= 1))
    if min(hole) < 3:  # every hole pixel lies on the fixed outer ring of the box: Telea's values
        telea = cv2.inpaint(
            np.rint(np.where(mask[..., None], raw, image) * 255).astype(np.uint8),
            mask.astype(np.uint8) * 255,
            1,
            cv2.INPAINT_TELEA,
        )
        assert np.array_equal(np.rint(out[mask] * 255), telea[mask].astype(np.float32))
    assert inpaintkit.load("glcic-small")(image, mask).image.shape == (32, 48, 3)


# ------------------------------------------------------------------------------ Torch7 files
def _t7_layers(net: GlcicCompletionNet, old_bn: int | None = None) -> list[TorchClass]:
    """The modules of ``net`` as the authors' nn.Sequential holds them (first conv as the old MM type,
    BatchNorm number ``old_bn`` as a pre-version-2 file with running_std)."""
    modules = []
    for index, m in enumerate(net.model):
        t = {key: FloatTensor(v.detach().numpy()) for key, v in m.named_parameters()}
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            (k, _), (s, _), (p, _) = m.kernel_size, m.stride, m.padding
            t |= {
                "nInputPlane": m.in_channels,
                "nOutputPlane": m.out_channels,
                "kW": k,
                "kH": k,
                "dW": s,
                "dH": s,
                "padW": p,
                "padH": p,
                "train": False,
            }
            if isinstance(m, nn.ConvTranspose2d):
                modules.append(TorchClass("nn.SpatialFullConvolution", t | {"adjW": 0, "adjH": 0}))
            elif m.dilation[0] > 1:
                modules.append(
                    TorchClass(
                        "nn.SpatialDilatedConvolution", t | {"dilationW": m.dilation[0], "dilationH": m.dilation[0]}
                    )
                )
            elif index == 0:
                t["weight"] = FloatTensor(m.weight.detach().numpy().reshape(m.out_channels, -1))
                modules.append(TorchClass("nn.SpatialConvolutionMM", t))
            else:
                modules.append(TorchClass("nn.SpatialConvolution", t))
        elif isinstance(m, nn.BatchNorm2d):
            t |= {"running_mean": FloatTensor(m.running_mean.numpy()), "eps": m.eps, "momentum": 0.1, "affine": True}
            if index == old_bn:
                std = FloatTensor((1 / torch.sqrt(m.running_var + m.eps)).numpy())
                modules.append(TorchClass("nn.SpatialBatchNormalization", t | {"running_std": std}, version=1))
            else:
                t["running_var"] = FloatTensor(m.running_var.numpy())
                modules.append(TorchClass("nn.SpatialBatchNormalization", t, version=2))
        else:
            modules.append(TorchClass(f"nn.{type(m).__name__}", {"train": False}))
    return modules


def _random_net(width: int = 4, mean: tuple = (0.45, 0.42, 0.38)) -> GlcicCompletionNet:
    torch.manual_seed(1)
    net = GlcicCompletionNet(GlcicConfig(width=width, mean=list(mean))).eval()
    with torch.no_grad():
        for m in net.model:
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.3, 0.3), m.running_var.uniform_(0.5, 2.0)
    return net


def _official_file(path: Path, net: GlcicCompletionNet, **kwargs) -> Path:
    nested = TorchClass("nn.Sequential", {"modules": _t7_layers(net, **kwargs)[6:], "train": False})
    top = TorchClass("nn.Sequential", {"modules": _t7_layers(net, **kwargs)[:6] + [nested], "train": False})
    return write_t7(path, {"model": top, "mean": FloatTensor(np.array(net.config.mean, np.float32))})


def test_torch7_file_round_trip_gives_the_same_network(tmp_path: Path) -> None:
    net = _random_net()
    path = _official_file(tmp_path / "completionnet_test.t7", net, old_bn=4)
    config, state = load_glcic_t7(path)
    assert config.width == 4 and config.mean == pytest.approx([0.45, 0.42, 0.38]) and config.bn_eps == 1e-5
    std = 1 / torch.sqrt(net.model[4].running_var + 1e-5)
    assert torch.allclose(state["model.4.running_var"], std.pow(-2) - 1e-5)  # torch/nn's own conversion
    loaded = load_weights(path)
    assert (loaded.arch, loaded.source_format, loaded.metadata["licence"]) == (
        "glcic",
        "torch7-glcic",
        "CC BY-NC-SA 4.0",
    )
    module, _ = load_model("glcic", weights=path)  # the registry name with the authors' file, as --weights
    image, mask = torch.rand(2, 3, 32, 40), torch.zeros(2, 1, 32, 40)
    mask[:, :, 8:20, 10:30] = 1
    with torch.inference_mode():
        assert torch.allclose(module(image, mask), net(image, mask), atol=1e-5)


def test_torch7_released_layout_flat_with_dilation_one_and_lua_bookkeeping(tmp_path: Path) -> None:
    """The released files: one flat nn.Sequential; the 3x3 stride-1 convolutions between the first and the
    last dilated one are SpatialDilatedConvolution with dilation 1; every module keeps the fields Lua's
    nn leaves behind (output, gradInput, _type, gradWeight ...)."""
    net = _random_net()
    layers = _t7_layers(net)
    dilated = [i for i, layer in enumerate(layers) if layer.name == "nn.SpatialDilatedConvolution"]
    empty = FloatTensor(np.zeros(0, np.float32))
    for index, layer in enumerate(layers):
        fields = layer.fields
        if dilated[0] < index < dilated[-1] + 4 and layer.name == "nn.SpatialConvolution" and fields["dW"] == 1:
            layer.name = "nn.SpatialDilatedConvolution"
            fields |= {"dilationW": 1, "dilationH": 1}
        fields |= {"output": empty, "gradInput": empty, "_type": "torch.FloatTensor"}
        if "weight" in fields:
            fields |= {
                "gradWeight": FloatTensor(np.zeros_like(fields["weight"].values)),
                "finput": empty,
                "fgradInput": empty,
            }
    assert sum(layer.name == "nn.SpatialDilatedConvolution" for layer in layers) > len(dilated)
    model = TorchClass(
        "nn.Sequential",
        {"modules": layers, "output": empty, "gradInput": empty, "_type": "torch.FloatTensor", "train": False},
    )
    path = write_t7(
        tmp_path / "completionnet_places2.t7",
        {"model": model, "mean": FloatTensor(np.array(net.config.mean, np.float32))},
    )
    module, _ = load_model("glcic", weights=path)
    image, mask = torch.rand(1, 3, 32, 40), torch.zeros(1, 1, 32, 40)
    mask[:, :, 8:20, 10:30] = 1
    with torch.inference_mode():
        assert torch.allclose(module(image, mask), net(image, mask), atol=1e-5)


def test_torch7_mean_as_a_lua_table_and_errors(tmp_path: Path) -> None:
    net = _random_net(width=2)
    model = TorchClass("nn.Sequential", {"modules": _t7_layers(net)})
    config, _ = load_glcic_t7(write_t7(tmp_path / "a.t7", {"model": model, "mean": [0.1, 0.2, 0.3]}))
    assert config.mean == pytest.approx([0.1, 0.2, 0.3])
    with pytest.raises(WeightsError, match="not a GLCIC model table"):
        load_glcic_t7(write_t7(tmp_path / "b.t7", {"model": model}))
    tanh = TorchClass("nn.Sequential", {"modules": _t7_layers(net)[:-1] + [TorchClass("nn.Tanh", {})]})
    with pytest.raises(WeightsError, match="unsupported Torch7 module 'Tanh'"):
        load_glcic_t7(write_t7(tmp_path / "c.t7", {"model": tanh, "mean": [0.5, 0.5, 0.5]}))
    layers = _t7_layers(net)
    layers[18].fields["dilationW"] = layers[18].fields["dilationH"] = 3  # the first dilated conv (dilation 2)
    with pytest.raises(WeightsError, match=r"layer 19 \(SpatialDilatedConvolution\): kernel/stride/padding"):
        load_glcic_t7(
            write_t7(
                tmp_path / "d.t7", {"model": TorchClass("nn.Sequential", {"modules": layers}), "mean": [0.5, 0.5, 0.5]}
            )
        )
    short = TorchClass("nn.Sequential", {"modules": _t7_layers(net)[:-3]})
    with pytest.raises(WeightsError, match="has 47 layers, the GLCIC completion network 50"):
        load_weights(write_t7(tmp_path / "e.t7", {"model": short, "mean": [0.5, 0.5, 0.5]}))
    with pytest.raises(WeightsError, match="unsupported Torch7 module 'hashable_uniq_dict'"):
        load_weights(write_t7(tmp_path / "f.t7", {"model": {"modules": []}, "mean": [0.5, 0.5, 0.5]}))
    truncated = tmp_path / "g.t7"
    truncated.write_bytes((tmp_path / "e.t7").read_bytes()[:200])
    with pytest.raises(WeightsError, match="cannot read .*g.t7 as a Torch7 file"):
        load_weights(truncated)


def _hostile_t7(tmp_path: Path, name: str, weight: object) -> Path:
    """A GLCIC table whose first convolution's weight is ``weight`` (a crafted tensor view)."""
    layers = _t7_layers(_random_net(width=2))
    layers[0].fields["weight"] = weight
    return write_t7(tmp_path / name, {"model": TorchClass("nn.Sequential", {"modules": layers}), "mean": [0.5] * 3})


def test_torch7_views_outside_their_storage_are_refused_before_any_read(tmp_path: Path) -> None:
    """A 3 KB file with strides (1e9, 1e7, 1e5, 1) over 4 values used to read far outside the storage
    (SIGSEGV): run in a child process, so a crash fails this test instead of ending the session."""
    path = _hostile_t7(tmp_path, "far.t7", StridedTensor((2, 4, 5, 5), (10**9, 10**7, 10**5, 1), 1, np.ones(4)))
    code = (
        "import sys\n"
        "from inpaintkit.torch7 import load_glcic_t7\n"
        "from inpaintkit.types import WeightsError\n"
        "try:\n"
        f"    load_glcic_t7({str(path)!r})\n"
        "except WeightsError as err:\n"
        "    print(err)\n"
        "    sys.exit(2)\n"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert child.returncode == 2, child.stderr[-500:]
    assert "does not fit in its storage of 4 values" in child.stdout
    assert len(child.stdout.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("view", "message"),
    [
        (StridedTensor((2, 4, 5, 5), (100, 25, 5, 1), 1, np.ones(150)), "does not fit in its storage of 150"),
        (StridedTensor((100_000, 100_000), (0, 0), 1, np.ones(1)), "does not fit in its storage of 1 values"),
        (StridedTensor((2, 4, 5, 5), (100, 25, 5, 1), -5, np.ones(400)), "negative size, stride or offset"),
        (StridedTensor((2, 4, 5, 5), (-100, 25, 5, 1), 1, np.ones(400)), "negative size, stride or offset"),
    ],
)
def test_torch7_views_that_overflow_or_multiply_their_storage_are_refused(tmp_path, view, message) -> None:
    with pytest.raises(WeightsError, match=message):
        load_glcic_t7(_hostile_t7(tmp_path, "bad.t7", view))


def test_torch7_views_repeating_one_storage_are_refused_past_the_files_size(tmp_path: Path) -> None:
    """Each view fits its 1 MiB storage, but 200 of them would copy 200 MiB out of a 1 MiB file."""
    shared = np.ones(1 << 18, np.float32)
    layers = _t7_layers(_random_net(width=2))
    table = {
        "model": TorchClass("nn.Sequential", {"modules": layers}),
        "mean": [0.5] * 3,
        "copies": {f"c{i}": StridedTensor((1 << 18,), (1,), 1, shared) for i in range(200)},
    }
    path = write_t7(tmp_path / "repeat.t7", table)
    assert path.stat().st_size < 2 << 20
    with pytest.raises(WeightsError, match="need far more bytes than the file holds"):
        load_glcic_t7(path)
    table["copies"] = {key: table["copies"][key] for key in ("c0", "c1", "c2")}  # a few shared views are fine
    assert load_glcic_t7(write_t7(tmp_path / "few.t7", table))[1]


def test_torch7_views_inside_their_storage_still_load(tmp_path: Path) -> None:
    """A transposed (non-contiguous) view that fits is read as Torch7 means it."""
    net = _random_net(width=2)
    layers = _t7_layers(net)
    shape = tuple(layers[0].fields["weight"].values.shape)
    values = np.arange(int(np.prod(shape)), dtype=np.float32)
    # the weight stored as its transpose, at offset 3: the view's first axis steps by 1
    rows, cols = shape[0], int(np.prod(shape[1:]))
    stored = np.concatenate([np.zeros(2, np.float32), values.reshape(rows, cols).T.ravel()])
    strides = (1, rows) if len(shape) == 2 else None
    assert strides is not None, shape  # GLCIC's first convolution is an nn.SpatialConvolutionMM here
    view = StridedTensor(shape, strides, 3, stored)
    path = _hostile_t7(tmp_path, "ok.t7", view)
    _, state = load_glcic_t7(path)
    first = next(key for key in state if key.endswith("weight"))
    assert np.array_equal(state[first].numpy().ravel(), values)  # (the 2-D MM weight becomes 4-D)
