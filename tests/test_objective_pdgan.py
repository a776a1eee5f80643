"""The PD-GAN objective: terms, feature-space and prior errors, and a few real steps of the trainer."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from _training_toys import write_images

import inpaintkit
from inpaintkit.classical import TeleaInpainter
from inpaintkit.losses.pdgan import GradientPyramid, hole_tv_loss
from inpaintkit.pipelines.diverse import DiversePipeline
from inpaintkit.training.config import ModelConfig
from inpaintkit.training.objectives import OBJECTIVES, Objective
from inpaintkit.training.objectives.pdgan import PdganLossConfig, PdganObjective, build_pdgan_objective
from inpaintkit.training.trainer import run_training
from inpaintkit.types import InputError, UnknownModelError, WeightsError
from inpaintkit.weights import load_weights

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = {"channels": [8, 8, 8], "hidden": 4, "hard_iterations": [2, 3, 4], "hard_kernels": [3, 3, 3], "prior": "telea"}
SMALL_D = {"features": "pyramid", "discriminator_ndf": 8, "discriminator_layers": 2}
G_TERMS = {"diversity", "adversarial", "feature_matching", "perceptual", "tv"}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Empty weight cache, no network: any attempt to download weights fails fast."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setenv("INPAINTKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def tiny(objective: dict | None = None, seed: int = 0) -> PdganObjective:
    torch.manual_seed(seed)
    return build_pdgan_objective(ModelConfig("pdgan-small", TINY), {**SMALL_D, **(objective or {})}, progress=False)


def batch(size: int = 32) -> dict[str, torch.Tensor]:
    mask = torch.zeros(2, 1, size, size)
    mask[0, :, 4:20, 6:26] = 1
    mask[1, :, 10:30, 2:18] = 1
    return {"image": torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0)), "mask": mask}


def test_registered_and_paper_defaults() -> None:
    assert OBJECTIVES["pdgan"] is build_pdgan_objective
    c = PdganLossConfig()
    assert (
        c.diversity,
        c.diversity_eps,
        c.adversarial,
        c.feature_matching,
        c.perceptual,
        c.tv,
        c.features,
        c.discriminator_ndf,
        c.discriminator_layers,
        c.discriminator_scales,
    ) == (1.0, 1e-5, 1.0, 10.0, 10.0, 0.1, "vgg19", 64, 4, 2)
    objective = tiny()
    assert isinstance(objective, Objective)
    assert objective.trainable() == {"generator": objective.generator, "discriminator": objective.discriminator}
    assert isinstance(objective.generator.prior, TeleaInpainter) and isinstance(objective.features, GradientPyramid)


def test_generator_and_discriminator_steps() -> None:
    objective, data = tiny(), batch()
    out = objective.generate(data)
    terms = objective.losses("generator", data, out, "joint")
    assert set(terms) == G_TERMS and all(torch.isfinite(v) and v.ndim == 0 for v in terms.values())
    sum(terms.values()).backward()
    assert all(p.grad is None for p in objective.discriminator.parameters())  # D frozen in G's step
    assert all(p.grad is not None for p in objective.generator.parameters())
    assert out.shape == (4, 3, 32, 32)  # two samples per image
    assert float((out[:2] - out[2:]).detach().abs().amax()) > 0  # from two noise draws
    d_terms = objective.losses("discriminator", data, out.detach(), "joint")
    assert set(d_terms) == {"adversarial"} and float(d_terms["adversarial"].detach()) >= 0


def test_zero_weights_leave_terms_out_and_bad_names_are_refused() -> None:
    objective, data = tiny({"adversarial": 0, "feature_matching": 0, "tv": 0}), batch()
    out = objective.generate(data)
    assert set(objective.losses("generator", data, out, "joint")) == {"diversity", "perceptual"}
    with pytest.raises(InputError, match="trains 'generator' and 'discriminator', not 'critic'"):
        objective.losses("critic", data, out, "joint")


def test_tv_term_is_the_completion_tv_summed_over_two_samples() -> None:
    objective, data = tiny({"diversity": 0, "adversarial": 0, "feature_matching": 0, "perceptual": 0}), batch()
    out = objective.generate(data)
    tv = float(objective.losses("generator", data, out, "joint")["tv"].detach())
    image, mask = data["image"], data["mask"]
    first, second = out.detach().chunk(2)
    by_hand = sum(float(hole_tv_loss(mask * out + (1 - mask) * image, mask)) for out in (first, second))
    assert tv == pytest.approx(0.1 * by_hand, rel=1e-5)


def test_diversity_skips_the_finest_feature_maps_when_asked() -> None:
    data = batch()
    for skip in (0, 2):
        objective = tiny({"adversarial": 0, "feature_matching": 0, "perceptual": 0, "tv": 0, "diversity_skip": skip})
        out = objective.generate(data)
        term = float(objective.losses("generator", data, out, "joint")["diversity"].detach())
        maps = GradientPyramid()(out.detach())[skip:]
        mask = data["mask"]
        distance = 0.0
        for level in maps:  # sum over the kept levels of the mean masked difference of the two samples
            first, second = level.chunk(2)
            small = torch.nn.functional.interpolate(mask, size=level.shape[-2:], mode="nearest")
            distance += float(((first - second) * small).abs().mean())
        assert term == pytest.approx(1 / (distance + 1e-5), rel=1e-4)
    with pytest.raises(InputError, match="diversity_skip=4 leaves none of the feature space's 4 maps"):
        objective = tiny({"diversity_skip": 4})
        objective.losses("generator", data, objective.generate(data), "joint")


def test_vgg_features_without_weights_stop_with_a_clear_message() -> None:
    with pytest.raises(WeightsError) as err:
        tiny({"features": "vgg19"})
    message = str(err.value)
    assert "vgg19-dcbb9e9d.pth" in message and "--objective.features=pyramid" in message
    assert "--objective.vgg_weights=PATH" in message


def test_prior_errors_name_the_fix() -> None:
    with pytest.raises(WeightsError, match="prior 'lama-tiny' has no weights.*--model.overrides.prior_weights=PATH"):
        build_pdgan_objective(ModelConfig("pdgan-small", {**TINY, "prior": "lama-tiny"}), SMALL_D)
    with pytest.raises(UnknownModelError, match="model.overrides.prior: unknown model 'nope'"):
        build_pdgan_objective(ModelConfig("pdgan-small", {**TINY, "prior": "nope"}), SMALL_D)
    with pytest.raises(InputError, match="is a lama network; the pdgan objective trains PD-GAN"):
        build_pdgan_objective(ModelConfig("lama-tiny"), SMALL_D)
    with pytest.raises(InputError, match="objective.features must be one of vgg19, pyramid"):
        tiny({"features": "random-vgg"})


def test_cpu_recipe_trains_through_the_real_trainer_and_exports(tmp_path: Path, caplog) -> None:
    write_images(tmp_path / "data", 3, size=(40, 48))
    data = str(tmp_path / "data")
    overrides = [f"--model.overrides.{key}={value}" for key, value in TINY.items()]
    with caplog.at_level(logging.INFO, logger="inpaintkit"):
        run = run_training(
            str(CONFIGS / "pdgan-small-cpu.yaml"),
            [
                f"--data.train_dir={data}",
                f"--data.val_dir={data}",
                *overrides,
                "--data.crop_size=32",
                "--data.val_size=32",
                "--data.masks=outpaint-sides",
                "--data.val_masks=outpaint-sides",
                "--data.val_count=2",
                "--data.batch_size=2",
                "--data.workers=0",
                "--objective.discriminator_ndf=8",
                "--objective.discriminator_layers=2",
                "--schedule.phases.0.steps=3",
                f"--run.out_dir={tmp_path / 'run'}",
                "--run.threads=1",
                "--run.log_every=1",
                "--run.val_every=3",
            ],
        )
    assert "pixel/gradient pyramid" in caplog.text
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["step"] == 3 and not any(key.startswith("prior") for key in state["nets"]["generator"])
    weights = load_weights(run / "generator.safetensors")
    assert weights.arch == "pdgan" and weights.config["prior"] == "telea" and weights.config["channels"] == [8, 8, 8]
    pipe = inpaintkit.load(run / "generator.safetensors")
    assert isinstance(pipe, DiversePipeline)
    image = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    mask = np.zeros((30, 40), np.uint8)
    mask[5:20, 10:30] = 1
    first, second = pipe.samples(image, mask, 2, seed=1)
    assert (first[mask == 0] == image[mask == 0]).all() and (second[mask == 0] == image[mask == 0]).all()
