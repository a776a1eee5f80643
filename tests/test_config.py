"""Training config: recipes, typed overrides with clear errors, YAML round trip, value checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from inpaintkit.models.lama import PRESETS, LamaConfig
from inpaintkit.training.config import (
    TrainConfig,
    changed_keys,
    config_to_dict,
    dump_config,
    generator_config,
    load_config,
    parse_section,
    save_config,
)
from inpaintkit.types import InputError, UnknownModelError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _recipe(tmp_path: Path, text: str = "") -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name, preset, batch", [("lama-fourier", "lama-fourier", 30), ("big-lama", "big-lama", 120)])
def test_paper_recipes_carry_the_paper_settings(name: str, preset: str, batch: int) -> None:
    config = load_config(CONFIGS / f"{name}.yaml")
    assert config.method == "lama" and config.model.preset == preset
    assert config.data.crop_size == 256 and config.data.masks == "lama-train" and config.data.batch_size == batch
    g, d = config.optim["generator"], config.optim["discriminator"]
    assert (g.kind, g.lr, g.clip) == ("adam", 1e-3, 1.0) and (d.kind, d.lr, d.clip) == ("adam", 1e-4, 1.0)
    assert [p.train for p in config.schedule.phases] == [["generator", "discriminator"]]
    weights = {
        k: config.objective[k]
        for k in ("l1_known", "l1_hole", "adversarial", "r1", "feature_matching", "perceptual_hrf")
    }
    assert weights == {
        "l1_known": 10,
        "l1_hole": 0,
        "adversarial": 10,
        "r1": 0.001,
        "feature_matching": 100,
        "perceptual_hrf": 30,
    }
    assert config.objective["mask_as_fake_target"] is True


def test_cpu_recipe_has_a_hole_term_and_no_perceptual_loss() -> None:
    config = load_config(CONFIGS / "lama-small-cpu.yaml")
    assert config.model.preset == "lama-small" and config.data.crop_size <= 256
    assert config.objective["perceptual_hrf"] == 0 and config.objective["l1_hole"] > 0


def test_overrides_set_typed_values(tmp_path: Path) -> None:
    config = load_config(
        CONFIGS / "lama-small-cpu.yaml",
        [
            "--optim.generator.lr=3e-4",
            "--data.batch_size=8",
            "--run.amp=true",
            "--data.scale=[0.25, 0.5]",
            "--schedule.phases.0.steps=7",
            "--objective.l1_hole=2.5",
            "--model.overrides.n_blocks=3",
            "--optim.discriminator.betas=[0, 0.99]",
            "run.out_dir=elsewhere",
        ],
    )
    assert config.optim["generator"].lr == pytest.approx(3e-4) and config.data.batch_size == 8
    assert config.run.amp is True and config.data.scale == [0.25, 0.5] and config.total_steps == 7
    assert config.objective["l1_hole"] == 2.5 and config.model.overrides == {
        "n_blocks": 3,
        "prefill": "zeros",
        "residual": False,
    }
    assert config.optim["discriminator"].betas == [0.0, 0.99] and config.run.out_dir == "elsewhere"


@pytest.mark.parametrize(
    "item, message",
    [
        ("--data.batch_size=abc", "--data.batch_size=abc: expected int, got 'abc'"),
        ("--data.batch_size=2.5", "--data.batch_size=2.5: expected int, got '2.5'"),
        ("--optim.generator.lr=fast", "--optim.generator.lr=fast: expected float, got 'fast'"),
        ("--run.amp=maybe", "--run.amp=maybe: expected bool, got 'maybe'"),
        ("--data.scale=0.5", "--data.scale=0.5: expected list of float, got '0.5'"),
        ("--data.scale=[a, b]", "--data.scale=[a, b]: expected list of float, got '[a, b]'"),
        ("--schedule.phases.0.train=generator", "expected list of str, got 'generator'"),
    ],
)
def test_override_type_errors_name_key_type_and_value(item: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        load_config(CONFIGS / "lama-small-cpu.yaml", [item])
    assert message in str(info.value)


@pytest.mark.parametrize(
    "item, message",
    [
        ("--data.batchsize=3", "unknown config key 'data.batchsize'; valid keys: train_dir"),
        ("--nosection.key=1", "unknown config key 'nosection'"),
        ("--data.crop_size.x=1", "unknown config key 'data.crop_size.x'"),
        ("--schedule.phases.5.steps=1", "unknown config key 'schedule.phases.5'"),
        ("--data.batch_size", "must look like --section.key=value"),
    ],
)
def test_unknown_or_malformed_override_keys_are_errors(item: str, message: str) -> None:
    with pytest.raises(InputError, match=None) as info:
        load_config(CONFIGS / "lama-small-cpu.yaml", [item])
    assert message in str(info.value)


def test_yaml_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^data.crop_size: expected int, got 'big'$"):
        load_config(_recipe(tmp_path, "data: {crop_size: big}"))
    with pytest.raises(InputError, match=r"unknown config key 'run.speed'"):
        load_config(_recipe(tmp_path, "run: {speed: 3}"))
    with pytest.raises(InputError, match=r"optim.generator.betas.1: expected float, got 'x'"):
        load_config(_recipe(tmp_path, "optim: {generator: {betas: [0.5, x]}}"))
    with pytest.raises(InputError, match="expected a mapping at the top level"):
        load_config(_recipe(tmp_path, "- 1\n- 2\n"))


@pytest.mark.parametrize(
    "item, message",
    [
        ("--data.scale=[0.8, 0.5]", "data.scale must be [low, high] with 0 < low <= high <= 1, got [0.8, 0.5]"),
        ("--data.masks=blobs", "data.masks must be one of lama-train"),
        ("--data.batch_size=0", "data.batch_size must be >= 1, got 0"),
        ("--data.batch_size=1000000000", "data.batch_size must be at most 4096, got 1000000000"),
        ("--data.crop_size=1000000", "data.crop_size must be at most 4096, got 1000000"),
        ("--data.val_size=5000", "data.val_size must be at most 4096, got 5000"),
        ("--data.val_count=1000000", "data.val_count must be at most 100000, got 1000000"),
        ("--optim.generator.kind=lbfgs", "optim.generator.kind must be one of adam, adamw, adadelta, sgd, got 'lbfgs'"),
        ("--run.best_metric=fid", "run.best_metric must be one of psnr, ssim, hole_l1, got 'fid'"),
        ("--run.ema_decay=1", "run.ema_decay must lie in [0, 1), got 1.0"),
        ("--schedule.lr_scheduler=linear", "schedule.lr_scheduler must be one of constant, cosine, step"),
    ],
)
def test_value_checks(item: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        load_config(CONFIGS / "lama-small-cpu.yaml", [item])
    assert message in str(info.value)


def test_a_batch_is_bounded_in_pixels() -> None:
    with pytest.raises(InputError, match=r"data.batch_size times crop_size squared must be at most 268,435,456 pixels"):
        load_config(CONFIGS / "lama-small-cpu.yaml", ["--data.batch_size=64", "--data.crop_size=4096"])
    assert load_config(CONFIGS / "big-lama.yaml").data.batch_size == 120  # the paper's recipe stays valid


def test_yaml_round_trip_is_exact(tmp_path: Path) -> None:
    config = load_config(CONFIGS / "lama-small-cpu.yaml", ["--optim.generator.lr=3e-4", "--objective.r1=0"])
    again = load_config(save_config(config, tmp_path / "run" / "config.yaml"))
    assert again == config
    assert yaml.safe_load(dump_config(config))["optim"]["generator"]["lr"] == pytest.approx(3e-4)


def test_minimal_yaml_takes_the_defaults(tmp_path: Path) -> None:
    assert load_config(_recipe(tmp_path, "")) == TrainConfig()
    assert load_config(_recipe(tmp_path), ["--data.val_count=3"]).data.val_count == 3


def test_parse_section_checks_an_objective_dataclass() -> None:
    @dataclass
    class Weights:
        l1: float = 1.0
        gan: bool = False

    assert parse_section(Weights, {"l1": "2e-1", "gan": "yes"}, "objective") == Weights(0.2, True)
    with pytest.raises(InputError, match=r"^unknown config key 'objective.l2'; valid keys: l1, gan$"):
        parse_section(Weights, {"l2": 1}, "objective")
    with pytest.raises(InputError, match=r"^objective.gan: expected bool, got 3$"):
        parse_section(Weights, {"gan": 3}, "objective")


def test_generator_config_applies_overrides() -> None:
    arch, config = generator_config(load_config(CONFIGS / "lama-small-cpu-refine.yaml").model)
    assert arch == "lama" and config == PRESETS["lama-small"] and config.prefill == "telea" and config.residual
    model = load_config(CONFIGS / "lama-small-cpu.yaml", ["--model.overrides.n_blocks=2"]).model
    assert generator_config(model)[1] == LamaConfig(ngf=32, n_blocks=2)  # stage 1: zeros, sigmoid
    bad = load_config(CONFIGS / "lama-small-cpu.yaml", ["--model.overrides.ngf=wide"]).model
    with pytest.raises(InputError, match=r"model.overrides.ngf: expected int, got 'wide'"):
        generator_config(bad)
    with pytest.raises(InputError, match=r"model.overrides: .*ratio_g must lie in \[0, 1\)"):
        generator_config(load_config(CONFIGS / "lama-small-cpu.yaml", ["--model.overrides.ratio_g=2"]).model)
    with pytest.raises(UnknownModelError, match="unknown model 'lama-huge'"):
        generator_config(load_config(CONFIGS / "lama-small-cpu.yaml", ["--model.preset=lama-huge"]).model)
    with pytest.raises(InputError, match="not a trainable"):
        generator_config(load_config(CONFIGS / "lama-small-cpu.yaml", ["--model.preset=telea"]).model)


def test_changed_keys_lists_the_dotted_paths_that_differ() -> None:
    old = config_to_dict(load_config(CONFIGS / "lama-small-cpu.yaml"))
    new = config_to_dict(
        load_config(
            CONFIGS / "lama-small-cpu.yaml",
            [
                "--schedule.phases.0.steps=9",
                "--data.scale=[0.5, 0.9]",
                "--objective.extra=1",
                "--run.seed=0",
            ],
        )
    )
    assert changed_keys(old, new) == ["data.scale.1", "schedule.phases.0.steps", "objective.extra"]
    assert changed_keys(old, old) == []
