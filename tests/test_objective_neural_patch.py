"""The neural-patch content network's objective: overlap weights, the paper's loss terms, and a tiny
recipe run end to end through the real trainer (export included)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from _training_toys import write_images

from inpaintkit.api import load_model
from inpaintkit.masks import dilate
from inpaintkit.training import run_training
from inpaintkit.training.config import ModelConfig, load_config, save_config
from inpaintkit.training.objectives import OBJECTIVES
from inpaintkit.training.objectives.neural_patch import (
    ContentObjective,
    build_content_objective,
    overlap_mse,
    overlap_weights,
)
from inpaintkit.types import InputError
from inpaintkit.weights import load_weights

torch.set_num_threads(1)
CONFIGS = Path(__file__).resolve().parent.parent / "configs"
TINY = {"widths": [2, 2, 2, 2, 2], "bottleneck": 4}


def test_overlap_weights_are_one_in_the_hole_and_ten_on_the_dilated_band() -> None:
    mask = torch.zeros(2, 1, 20, 24)
    mask[0, :, 5:9, 6:15] = 1
    mask[1, :, 15:20, 0:3] = 1  # touching two borders
    weights = overlap_weights(mask, 4, 10.0)
    for b in range(2):
        grown = torch.from_numpy(dilate(mask[b, 0].numpy(), 4))  # independent: cv2 with a disk of radius 4
        expected = mask[b, 0] + 10 * (grown - mask[b, 0])
        assert torch.equal(weights[b, 0], expected)
    assert set(weights.unique().tolist()) == {0.0, 1.0, 10.0}
    assert torch.equal(overlap_weights(mask, 0, 10.0), mask)


def test_overlap_mse_averages_over_hole_and_band() -> None:
    pred, target, mask = torch.zeros(1, 3, 9, 9), torch.zeros(1, 3, 9, 9), torch.zeros(1, 1, 9, 9)
    mask[..., 4, 4] = 1
    pred[..., 4, 4] = 1.0  # hole pixel: error 1 per channel, weight 1
    pred[..., 4, 5] = 2.0  # band pixel (distance 1): error 4 per channel, weight 10
    pred[..., 0, 0] = 5.0  # far away: weight 0
    # band of a radius-1 disk around one pixel = its 4 neighbours -> 5 weighted pixels
    assert float(overlap_mse(pred, target, mask, overlap=1)) == pytest.approx((3 * 1 + 3 * 40) / (3 * 5))
    assert float(overlap_mse(pred, target, torch.zeros_like(mask))) == 0.0


def test_loss_terms_are_the_papers() -> None:
    torch.manual_seed(0)
    objective = build_content_objective(ModelConfig("content-small", TINY), {"discriminator_width": 2})
    assert isinstance(objective, ContentObjective) and OBJECTIVES["neural-patch-content"] is build_content_objective
    image, mask = torch.rand(2, 3, 128, 128), torch.zeros(2, 1, 128, 128)
    mask[0, :, 30:90, 40:100], mask[1, :, 0:50, 70:128] = 1, 1
    batch = {"image": image, "mask": mask}
    pred = objective.generate(batch)
    terms = objective.losses("generator", batch, pred, "joint")
    completed = mask * pred + (1 - mask) * image
    assert torch.allclose(terms["l2"], 0.999 * overlap_mse(pred, image, mask, 4, 10.0))
    logits = objective.discriminator(completed)
    assert torch.allclose(terms["adversarial"], 0.001 * F.softplus(-logits).mean(), rtol=1e-5)
    sum(terms.values()).backward()
    assert all(p.grad is None for p in objective.discriminator.parameters())  # D frozen for G's terms
    d_terms = objective.losses("discriminator", batch, pred.detach(), "joint")
    expected = (F.softplus(-objective.discriminator(image)) + F.softplus(objective.discriminator(completed))).mean()
    assert torch.allclose(d_terms["adversarial"], expected, rtol=1e-5)
    assert torch.equal(objective.predict(image, mask), objective.generator(image, mask))


def test_no_gan_and_errors() -> None:
    objective = build_content_objective(
        ModelConfig("content-small", TINY), {"adversarial": 0, "discriminator_width": 2}
    )
    batch = {"image": torch.rand(2, 3, 128, 128), "mask": torch.ones(2, 1, 128, 128)}
    pred = objective.generate(batch)
    assert set(objective.losses("generator", batch, pred, "joint")) == {"l2"}
    assert objective.losses("discriminator", batch, pred.detach(), "joint") == {}
    with pytest.raises(InputError, match="has one phase, 'joint'; got 'completion'"):
        objective.losses("generator", batch, pred, "completion")
    with pytest.raises(InputError, match="is a lama network; the neural-patch-content objective trains"):
        build_content_objective(ModelConfig("lama-tiny"), {})
    with pytest.raises(InputError, match="objective.image_size \\(64\\) must equal the content network's size"):
        build_content_objective(ModelConfig("content-small", TINY), {"image_size": 64})
    with pytest.raises(InputError, match="objective.overlap must be >= 0"):
        build_content_objective(ModelConfig("content-small", TINY), {"overlap": -1})


def test_recipe_is_the_papers_and_a_tiny_run_trains_and_exports(tmp_path: Path) -> None:
    recipe = load_config(CONFIGS / "content-small-cpu.yaml")
    assert recipe.method == "neural-patch-content" and recipe.data.crop_size == 128
    assert recipe.optim["generator"].lr == 2e-4 and recipe.optim["generator"].betas == [0.5, 0.999]
    assert (recipe.objective["l2"], recipe.objective["adversarial"], recipe.objective["overlap_weight"]) == (
        0.999,
        0.001,
        10.0,
    )
    write_images(tmp_path / "data", 3, size=(150, 140))
    data = str(tmp_path / "data")
    config = load_config(
        CONFIGS / "content-small-cpu.yaml",
        [
            f"--data.train_dir={data}",
            f"--data.val_dir={data}",
            "--model.overrides.widths=[2,2,2,2,2]",
            "--model.overrides.bottleneck=4",
            "--objective.discriminator_width=2",
            "--data.batch_size=2",
            "--data.val_count=2",
            "--data.workers=0",
            "--schedule.phases.0.steps=3",
            f"--run.out_dir={tmp_path / 'run'}",
            "--run.threads=1",
            "--run.log_every=1",
            "--run.val_every=3",
            "--run.sample_every=3",
            "--run.ckpt_every=3",
        ],
    )
    run = run_training(str(save_config(config, tmp_path / "recipe.yaml")), [])
    loaded = load_weights(run / "generator.safetensors")
    assert loaded.arch == "content" and loaded.config["widths"] == [2, 2, 2, 2, 2]
    module, _ = load_model("content-small", weights=run / "generator.safetensors")
    out = module(torch.rand(1, 3, 128, 128), torch.ones(1, 1, 128, 128))
    assert out.shape == (1, 3, 128, 128) and torch.isfinite(out).all()
