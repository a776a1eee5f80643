"""Small pieces shared by the training tests: a toy objective, a folder of images, a tiny config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from inpaintkit.models.lama import LamaGenerator
from inpaintkit.training.config import ModelConfig, OptimConfig, PhaseConfig, TrainConfig, generator_config
from inpaintkit.training.objectives import Objective


class ConvGenerator(nn.Module):
    """Three 3x3 convolutions, no normalisation: (image * (1 - mask), mask) -> sigmoid RGB."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(4, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 3, 3, padding=1),
        )

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.body(torch.cat([image * (1 - mask), mask], dim=1)))


class ToyObjective(Objective):
    """L1 on every pixel (+ optional noise and a non-saturating GAN with R1) over a given generator.

    ``noise`` adds ``noise * randn`` from the global torch RNG to the generator's input, so a resume
    that forgot the RNG state would diverge.
    """

    def __init__(self, generator: nn.Module, adversarial: float = 0.0, r1: float = 0.0, noise: float = 0.0) -> None:
        super().__init__()
        self.generator = generator
        self.discriminator = nn.Sequential(
            nn.Conv2d(3, 4, 4, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3, padding=1)
        )
        self.adversarial, self.r1, self.noise = adversarial, r1, noise

    def trainable(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def generate(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        image = batch["image"]
        noisy = image + self.noise * torch.randn_like(image) if self.noise else image
        return self.generator(noisy, batch["mask"])

    def losses(
        self, net: str, batch: dict[str, torch.Tensor], output: torch.Tensor, phase: str
    ) -> dict[str, torch.Tensor]:
        image = batch["image"]
        if net == "generator":
            terms = {"l1": F.l1_loss(output, image)}
            if self.adversarial and phase == "joint":
                terms["adversarial"] = self.adversarial * F.softplus(-self.discriminator(output)).mean()
            return terms
        real = image.detach().requires_grad_(self.r1 > 0)
        real_logits = self.discriminator(real)
        terms = {"adversarial": F.softplus(-real_logits).mean() + F.softplus(self.discriminator(output)).mean()}
        if self.r1:
            (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
            terms["r1"] = self.r1 * grad.pow(2).flatten(1).sum(1).mean()
        return terms

    def predict(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.generator(image, mask)


def build_toy(model: ModelConfig, objective: dict) -> ToyObjective:
    """OBJECTIVES-style builder: a LaMa generator of ``model`` (so exports are real) + toy losses."""
    _, config = generator_config(model)
    return ToyObjective(LamaGenerator(config), **{k: float(v) for k, v in objective.items()})


def write_images(folder: Path, count: int, size: tuple[int, int] = (40, 48), seed: int = 0) -> list[Path]:
    """``count`` smooth random PNG images (``size`` = height, width) under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        h, w = size
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        colour = rng.random((3, 3))
        pixels = np.stack([colour[c, 0] * xx + colour[c, 1] * yy + 0.3 * colour[c, 2] for c in range(3)], -1)
        path = folder / f"img_{i:02d}.png"
        Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def tiny_config(
    data_dir: Path,
    out_dir: Path,
    steps: int = 6,
    train: tuple[str, ...] = ("generator",),
    batch_size: int = 2,
    crop: int = 16,
    phase: str = "joint",
) -> TrainConfig:
    """A config for toy runs: crops of ``crop`` px with the deterministic outpainting-sides mask."""
    config = TrainConfig(method="toy")
    config.model.preset = "lama-tiny"
    config.data.train_dir, config.data.crop_size, config.data.masks = str(data_dir), crop, "outpaint-sides"
    config.data.batch_size, config.data.workers = batch_size, 0
    config.optim = {"generator": OptimConfig(lr=1e-2), "discriminator": OptimConfig(lr=1e-3)}
    config.schedule.phases = [PhaseConfig(phase, steps, list(train))]
    config.run.out_dir, config.run.log_every, config.run.device = str(out_dir), 1, "cpu"
    config.run.ema_decay = 0.9
    return config


def phase_effects(trainer, phases: tuple[str, ...] = ("completion", "discriminator", "joint")) -> dict:
    """Run one step per phase on the same two-item batch: ``phase -> (networks changed, loss terms logged)``.

    The trainer's schedule must have one-step phases in that order.
    """
    batch = {key: torch.stack([trainer.dataset[i][key] for i in range(2)]) for key in ("image", "mask")}
    seen = {}
    for phase in phases:
        before = {name: [p.detach().clone() for p in net.parameters()] for name, net in trainer.nets.items()}
        logged = trainer.train_step(batch)
        changed = {
            name
            for name, net in trainer.nets.items()
            if any(not torch.equal(a, b) for a, b in zip(before[name], net.parameters()))
        }
        seen[phase] = (changed, {k for k in logged if not k.endswith("total")})
    return seen
