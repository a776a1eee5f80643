"""The one training loop: any objective, any number of networks, phases, AMP, EMA, checkpoints, DDP.

A method supplies an *objective* (``training.objectives``): an ``nn.Module`` holding its networks,
whose ``trainable()`` names the networks that get an optimizer, whose ``generate(batch)`` runs the
generator and whose ``losses(net, batch, output, phase)`` returns the named, weighted loss terms for
updating one of them. One step of phase ``p`` runs the generator once (with gradients if ``p``
trains it), then updates the networks ``p.train`` in order, each: its terms on that output (detached
for all but the generator) -> zero its gradients -> sum -> backward -> average the gradients over
the ranks -> clip -> optimizer step; then the generator's EMA update. Before the EMA generator is
validated or saved, its batch-norm statistics are measured again for its own weights
(``run.bn_recalibrate`` fixed training batches).

Everything the continuation depends on is in the checkpoint (networks, optimizers, EMA, grad scaler,
RNG states, step); the learning rates (:func:`lr_factor`) and the sample order (see
:class:`~inpaintkit.data.StepBatchSampler`) are functions of the step, so ``--resume`` continues
exactly.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from .. import __version__
from .._state import state_mismatch
from ..data import ImageFolder, StepBatchSampler, validation_set
from ..masks import mask_generator
from ..metrics import hole_l1, psnr, ssim
from ..types import InpaintKitError, InputError
from ..weights import load_weights, sha256_file
from . import _distributed as ddp
from ._checkpoint import (
    load_checkpoint,
    remove_stale_temps,
    rng_state,
    run_lock,
    set_rng_state,
    write_checkpoint,
)
from .config import (
    METRICS,
    OptimConfig,
    PhaseConfig,
    ScheduleConfig,
    TrainConfig,
    changed_keys,
    config_to_dict,
    load_config,
    save_config,
)
from .ema import EMA, recalibrate_batchnorm
from .export import export_state
from .objectives import OBJECTIVES, Objective

CHECKPOINT_KEYS = (
    "step",
    "config",
    "nets",
    "optimizers",
    "ema",
    "scaler",
    "best",
    "last_metrics",
    "rng",
    "wall_time",
    "commands",
)


class NonFiniteLossError(InpaintKitError, FloatingPointError):
    """A loss term became NaN or infinite: the run stops (a learning rate too high, bad data ...)."""


class Trainer:
    """Trains ``objective``'s networks as ``config`` says and writes everything under ``run.out_dir``.

    Args:
        config: the resolved recipe.
        objective: the method's objective (networks + losses), built with the run's seed.
        dist: this process's place among the data-parallel ranks (default: a single CPU process,
            or the device ``run.device`` names).
        command: the command line, recorded in checkpoints and exported weights.
    """

    def __init__(
        self, config: TrainConfig, objective: Objective, *, dist: ddp.DistInfo | None = None, command: str = ""
    ) -> None:
        self.config, self.run = config, config.run
        self.dist = dist or ddp.DistInfo(device=ddp.resolve_device(config.run.device))
        self.device = self.dist.device
        self.out_dir = Path(config.run.out_dir)
        self.objective = objective.to(self.device)
        self.nets: dict[str, nn.Module] = dict(objective.trainable())
        self.generator_name = objective.generator_name
        _check_networks(config, self.nets, self.generator_name)
        ddp.broadcast_module(self.objective, self.dist)

        self.optimizers = {name: make_optimizer(net, config.optim[name]) for name, net in self.nets.items()}
        self.ema = EMA(self.nets[self.generator_name], self.run.ema_decay) if self.run.ema_decay > 0 else None
        self.amp = self.run.amp
        self.amp_dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.device.type == "cuda")

        data = config.data
        self.dataset = ImageFolder(
            data.train_dir,
            data.crop_size,
            mask_generator(data.masks),
            self.run.seed,
            (data.scale[0], data.scale[1]),
            data.flip,
            tuple(data.short_side) if data.short_side else None,
        )
        self.val = None
        if data.val_dir and data.val_count > 0 and self.dist.is_main:
            self.val = validation_set(
                data.val_dir, data.val_size, data.val_count, mask_generator(data.val_masks), data.val_seed
            )

        self.step, self.wall_time = 0, 0.0
        self.best: dict[str, Any] | None = None
        self.last_metrics: dict[str, float] = {}
        self.commands = [command] if command else []
        self.origin: dict[str, Any] | None = None  # what run.init_from started it from (init_generator)
        self.stop_requested = False
        self._writer: Any = None
        self._calibration: list[dict[str, torch.Tensor]] | None = None  # fixed batches (recalibrate)
        self._calibrated_at: int | None = None  # the step whose EMA statistics were last measured
        self._calibrated_batches = 0  # batches they were measured on (0: the live network's are kept)

    # ------------------------------------------------------------------------------- the loop
    def train(self, stop_at: int | None = None) -> None:
        """Train from the current step to the end of the schedule (or to step ``stop_at``).

        Stops early, after finishing the current step and writing ``last.pt``, once
        :attr:`stop_requested` is set (the signal handlers of :func:`run_training` set it). The
        loader's worker processes are shut down on the way out, whatever the way (an error too).
        """
        end = self.config.total_steps if stop_at is None else min(stop_at, self.config.total_steps)
        if self.step >= end:
            return
        batches = ddp.start_workers(self._loader(self.step))
        bar = tqdm(
            total=self.config.total_steps,
            initial=self.step,
            desc="train",
            dynamic_ncols=True,
            disable=not self.dist.is_main,
            smoothing=0.05,
        )
        window: dict[str, list[float]] = {}  # term -> values since the last log
        images, started, tick = 0, time.monotonic(), time.monotonic()
        try:
            while self.step < end:
                batch = next(batches)
                for key, value in self.train_step(batch).items():
                    window.setdefault(key, []).append(value)
                images += batch["image"].shape[0] * self.dist.world_size
                bar.update(1)
                if self.step % self.run.log_every == 0 and self.dist.is_main:
                    now = time.monotonic()
                    scalars = {f"loss/{k}": sum(v) / len(v) for k, v in window.items()}
                    scalars["speed/images_per_s"] = images / max(now - tick, 1e-9)
                    scalars.update({f"lr/{name}": opt.param_groups[0]["lr"] for name, opt in self.optimizers.items()})
                    self._log_scalars(scalars)
                    bar.set_postfix({k[5:]: f"{v:.3g}" for k, v in scalars.items() if k.endswith("/total")})
                    window, images, tick = {}, 0, now
                at_end = self.step == self.config.total_steps  # the last metrics are those of the final weights
                if self.val is not None and (self.step % self.run.val_every == 0 or at_end):
                    self.validate()
                if self.val is not None and self.step % self.run.sample_every == 0:
                    self.write_samples()
                stop = ddp.any_rank(self.stop_requested, self.dist)
                if stop or self.step % self.run.ckpt_every == 0 or self.step == end:
                    self.wall_time += time.monotonic() - started
                    started = time.monotonic()
                    self.save_checkpoint(self.out_dir / "last.pt")
                if stop:
                    self._say(f"stopped by signal at step {self.step}; checkpoint {self.out_dir / 'last.pt'}")
                    break
        finally:
            bar.close()
            _stop_workers(batches)
            if self._writer is not None:
                self._writer.flush()

    def phase_at(self, step: int) -> PhaseConfig:
        """The phase that contains ``step`` (0-based)."""
        for phase in self.config.schedule.phases:
            if step < phase.steps:
                return phase
            step -= phase.steps
        return self.config.schedule.phases[-1]

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One step of the current phase on ``batch``; returns the loss terms as ``"net/term"`` floats."""
        phase = self.phase_at(self.step)
        factor = lr_factor(self.config.schedule, self.config.total_steps, self.step)
        for name, optimizer in self.optimizers.items():  # the schedule is a function of the step alone
            for group in optimizer.param_groups:
                group["lr"] = self.config.optim[name].lr * factor
        batch = {key: batch[key].to(self.device, non_blocking=True) for key in ("image", "mask")}
        with self._autocast(), torch.set_grad_enabled(self.generator_name in phase.train):
            output = self.objective.generate(batch)  # once per step, for every network's terms
        logged: dict[str, float] = {}
        for name in phase.train:
            net, optimizer, settings = self.nets[name], self.optimizers[name], self.config.optim[name]
            optimizer.zero_grad(set_to_none=True)
            given = output if name == self.generator_name else output.detach()
            with self._autocast():
                terms = self.objective.losses(name, batch, given, phase.name)
            if not terms:
                continue
            total = torch.stack([value.float() for value in terms.values()]).sum()
            if not self.amp and not torch.isfinite(total):
                bad = {k: float(v.detach()) for k, v in terms.items()}
                where = f"at step {self.step} ({name}, phase {phase.name})"
                hint = f"lower optim.{name}.lr or set optim.{name}.clip"
                raise NonFiniteLossError(f"non-finite loss {where}: {bad}; {hint}")
            self.scaler.scale(total).backward()
            ddp.average_gradients(net, self.dist)
            if settings.clip > 0:
                self.scaler.unscale_(optimizer)
                norm = torch.nn.utils.clip_grad_norm_(net.parameters(), settings.clip)
                logged[f"{name}/grad_norm"] = float(norm)
            self.scaler.step(optimizer)
            logged.update({f"{name}/{key}": float(value.detach()) for key, value in terms.items()})
            logged[f"{name}/total"] = float(total.detach())
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.nets[self.generator_name], self.step)
        for net in self.nets.values():
            ddp.broadcast_module(net, self.dist, buffers_only=True)
        self.step += 1
        return logged

    # --------------------------------------------------------------------- validation, samples
    @property
    def eval_generator(self) -> nn.Module:
        """The network validated and exported: the EMA generator, or the generator without EMA."""
        return self.ema.module if self.ema is not None else self.nets[self.generator_name]

    def recalibrate(self) -> None:
        """Measure the EMA generator's batch-norm statistics for its current weights (once per step).

        Uses the first ``run.bn_recalibrate`` batches of a fixed sample order (seed ``run.seed + 1``),
        loaded once and kept; does nothing without EMA, with ``run.bn_recalibrate`` 0 or when the
        generator has no batch norm. The training's random state is not touched.
        """
        count = self.run.bn_recalibrate
        if self.ema is None or count <= 0 or self._calibrated_at == self.step:
            return
        if self._calibration is None:
            sampler = StepBatchSampler(len(self.dataset), self.config.data.batch_size, self.run.seed + 1)
            loader = DataLoader(
                self.dataset,
                batch_sampler=sampler,
                num_workers=0,
                generator=torch.Generator().manual_seed(self.run.seed),
            )  # global RNG untouched
            self._calibration = [
                {key: batch[key] for key in ("image", "mask")} for batch, _ in zip(loader, range(count))
            ]
        device = self.device

        def forward(net: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            return net(batch["image"].to(device), batch["mask"].to(device))

        has_bn = recalibrate_batchnorm(self.ema.module, self._calibration, forward)
        self._calibrated_at, self._calibrated_batches = self.step, len(self._calibration) if has_bn else 0

    @torch.no_grad()
    def predict(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Composited output ``mask * G(image, mask) + (1 - mask) * image`` of :attr:`eval_generator`."""
        self.recalibrate()
        net = self.eval_generator
        was_training = net.training
        net.eval()
        try:
            outputs = []
            for i in range(0, image.shape[0], self.config.data.batch_size):
                x = image[i : i + self.config.data.batch_size].to(self.device)
                m = mask[i : i + self.config.data.batch_size].to(self.device)
                outputs.append((m * net(x, m).float() + (1 - m) * x).cpu())
            return torch.cat(outputs)
        finally:
            net.train(was_training)

    def validate(self) -> dict[str, float]:
        """PSNR / SSIM / hole-L1 on the fixed validation set; keeps ``best.pt`` by ``run.best_metric``."""
        if self.val is None:
            return {}
        image, mask = self.val["image"], self.val["mask"]
        output = self.predict(image, mask)
        metrics = {
            "psnr": float(psnr(output, image, reduction="none").mean()),
            "ssim": float(ssim(output, image, reduction="none").mean()),
            "hole_l1": float(hole_l1(output, image, mask, reduction="none").nanmean()),
        }
        self.last_metrics = metrics | {"step": self.step}
        self._log_scalars({f"val/{k}": v for k, v in metrics.items()})
        value = metrics[self.run.best_metric]
        sign = 1.0 if METRICS[self.run.best_metric] == "max" else -1.0
        if math.isfinite(value) and (self.best is None or sign * (value - self.best["value"]) > 0):
            self.best = {"metric": self.run.best_metric, "value": value, "step": self.step, "metrics": metrics}
            write_checkpoint(self.state_dict(), self.out_dir / "best.pt")
        self._say(f"step {self.step}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
        return metrics

    def write_samples(self, count: int = 4) -> torch.Tensor:
        """Log a grid (rows: validation images; columns: input, output, target) to TensorBoard."""
        image, mask = self.val["image"][:count], self.val["mask"][:count]
        output = self.predict(image, mask)
        shown_input = image * (1 - mask) + 0.5 * mask
        grid = torch.cat([torch.cat([a, b, c], dim=2) for a, b, c in zip(shown_input, output, image)], dim=1)
        writer = self._tensorboard()
        if writer is not None:
            writer.add_image("samples", grid.clamp(0, 1), self.step)
        return grid

    # ---------------------------------------------------------------------- checkpoint, export
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs, as plain data (``torch.load(weights_only=True)`` reads it)."""
        self.recalibrate()
        return {
            "step": self.step,
            "phase": self.phase_at(self.step).name,
            "config": config_to_dict(self.config),
            "generator_name": self.generator_name,
            "nets": {name: net.state_dict() for name, net in self.nets.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "ema": self.ema.state_dict() if self.ema is not None else {},
            "ema_bn_batches": self._calibrated_batches,  # measured for this step just above (or 0)
            "scaler": self.scaler.state_dict(),
            "best": self.best,
            "last_metrics": self.last_metrics,
            "rng": rng_state(),
            "wall_time": self.wall_time,
            "commands": list(self.commands),
            "origin": self.origin,
        }

    def state_problems(self, state: dict[str, Any]) -> list[str]:
        """What keeps ``state`` from fitting this trainer: missing entries, networks, tensor names, shapes."""
        problems = [f"no {key!r}" for key in CHECKPOINT_KEYS if key not in state]
        if problems:
            return problems
        if not isinstance(state["nets"], dict) or set(state["nets"]) != set(self.nets):
            found = sorted(state["nets"]) if isinstance(state["nets"], dict) else type(state["nets"]).__name__
            return [f"networks {found} do not match {sorted(self.nets)}"]
        for name, net in self.nets.items():
            problems += _tensor_problems(f"nets.{name}", net.state_dict(), state["nets"][name])
            if not isinstance(state["optimizers"], dict) or name not in state["optimizers"]:
                problems.append(f"no optimizer for {name}")
        if self.ema is not None and state["ema"]:
            problems += _tensor_problems("ema", self.ema.state_dict(), state["ema"])
        return problems

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint written by :meth:`state_dict` (same networks and optimizers).

        Raises:
            InputError: a state that does not fit (see :meth:`state_problems`), in one line.
        """
        problems = self.state_problems(state)
        if problems:
            more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
            raise InputError(f"checkpoint does not fit this run: {'; '.join(problems[:3])}{more}")
        try:
            self._load_state(state)
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as err:  # optimizer, scaler, RNG states
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise InputError(f"checkpoint does not fit this run: {type(err).__name__}: {first_line}") from None

    def _load_state(self, state: dict[str, Any]) -> None:
        for name, net in self.nets.items():
            net.load_state_dict(state["nets"][name])
            self.optimizers[name].load_state_dict(state["optimizers"][name])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"] or self.nets[self.generator_name].state_dict())
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.step, self.best, self.wall_time = state["step"], state["best"], state["wall_time"]
        self.last_metrics = state["last_metrics"]
        self.commands = list(state["commands"]) + self.commands
        self.origin = state.get("origin")
        set_rng_state(state["rng"])
        ddp.broadcast_module(self.objective, self.dist)

    def save_checkpoint(self, path: Path) -> None:
        """Write the state to ``path`` atomically on rank 0, with barriers around it."""
        ddp.barrier(self.dist)
        if self.dist.is_main:
            write_checkpoint(self.state_dict(), path)
        ddp.barrier(self.dist)

    def export(self, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
        """Write :attr:`eval_generator` as our safetensors file with the training notes (see ``export``)."""
        return export_state(self.state_dict(), path, metadata=metadata)

    # ---------------------------------------------------------------------------------- helpers
    def _loader(self, start_step: int) -> DataLoader:
        data = self.config.data
        sampler = StepBatchSampler(
            len(self.dataset), data.batch_size, self.run.seed, start_step, self.dist.rank, self.dist.world_size
        )
        # Own generator: creating a loader iterator must not draw from the global RNG (exact resume).
        return DataLoader(
            self.dataset,
            batch_sampler=sampler,
            num_workers=data.workers,
            pin_memory=self.device.type == "cuda",
            worker_init_fn=ddp.ignore_signals,
            generator=torch.Generator().manual_seed(self.run.seed),
        )

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp)

    def _tensorboard(self) -> Any:
        if not self.dist.is_main:
            return None
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise InputError("training logs need the tensorboard package: pip install tensorboard") from None
            self._writer = SummaryWriter(log_dir=str(self.out_dir / "tensorboard"))
        return self._writer

    def _log_scalars(self, scalars: dict[str, float]) -> None:
        writer = self._tensorboard()
        if writer is not None:
            for key, value in scalars.items():
                writer.add_scalar(key, value, self.step)

    def _say(self, message: str) -> None:
        if self.dist.is_main:
            tqdm.write(message, file=sys.stderr)


def make_optimizer(net: nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    """The optimizer ``config.kind`` over ``net``'s trainable parameters."""
    params = [p for p in net.parameters() if p.requires_grad]
    if config.kind == "adam":
        return torch.optim.Adam(params, config.lr, betas=tuple(config.betas), weight_decay=config.weight_decay)
    if config.kind == "adamw":
        return torch.optim.AdamW(params, config.lr, betas=tuple(config.betas), weight_decay=config.weight_decay)
    if config.kind == "adadelta":
        return torch.optim.Adadelta(params, config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, config.lr, momentum=config.betas[0], weight_decay=config.weight_decay)


def lr_factor(schedule: ScheduleConfig, total_steps: int, step: int) -> float:
    """Multiplier of the base learning rate at ``step`` (linear warm-up, then the schedule)."""
    if step < schedule.warmup_steps:
        return (step + 1) / schedule.warmup_steps
    if schedule.lr_scheduler == "cosine":
        span = max(1, total_steps - schedule.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - schedule.warmup_steps) / span)))
    if schedule.lr_scheduler == "step":
        return schedule.gamma ** sum(step >= m for m in schedule.milestones)
    return 1.0


def _stop_workers(batches: Iterator[Any]) -> None:
    """Shut the loader's worker processes down now, after an error too: they ignore SIGTERM (see
    ``ddp.ignore_signals``), so a worker left running would keep the process from exiting."""
    shutdown = getattr(batches, "_shutdown_workers", None)  # torch's orderly stop; absent without workers
    if shutdown is not None:
        shutdown()
    for worker in getattr(batches, "_workers", ()):
        if worker.is_alive():  # stuck: torch's SIGTERM is ignored, SIGKILL is not
            worker.kill()
            worker.join()


def _tensor_problems(where: str, expected: dict[str, torch.Tensor], found: Any) -> list[str]:
    if not isinstance(found, dict) or not all(isinstance(value, torch.Tensor) for value in found.values()):
        return [f"{where} is a {type(found).__name__}, not tensors by name"]
    problems = state_mismatch(expected, found)
    return [f"{where}: {problems}"] if problems else []


def _check_networks(config: TrainConfig, nets: dict[str, nn.Module], generator: str) -> None:
    if generator not in nets:
        raise InputError(f"the objective names {generator!r} as its generator but trains only {sorted(nets)}")
    for name in nets:
        if name not in config.optim:
            raise InputError(f"optim.{name}: missing (the objective trains {', '.join(nets)})")
    for name in config.optim:
        if name not in nets:
            raise InputError(f"optim.{name}: the objective has no network {name!r} (it trains {', '.join(nets)})")
    for i, phase in enumerate(config.schedule.phases):
        for name in phase.train:
            if name not in nets:
                raise InputError(f"schedule.phases.{i}.train: unknown network {name!r}; valid: {', '.join(nets)}")


def init_generator(objective: Objective, path: str, reset: list[str]) -> dict[str, Any]:
    """Load the generator of ``objective`` from the weight file ``path`` (see ``run.init_from``).

    Returns:
        The run's origin, kept in its checkpoints and model card: the file, its sha256 and its own
        training notes (``None`` for weights not trained here, e.g. the official big-lama).

    Raises:
        WeightsError: an unreadable file.
        InputError: a file whose tensors do not match the generator (names or shapes), apart from
            those under the ``reset`` prefixes.
    """
    generator = objective.trainable()[objective.generator_name]

    def kept(name: str) -> bool:
        return not any(name.startswith(prefix) for prefix in reset)

    loaded = load_weights(path)
    own = {name: tensor for name, tensor in generator.state_dict().items() if kept(name)}
    given = {name: tensor for name, tensor in loaded.state_dict.items() if kept(name)}
    problems = state_mismatch(own, given)
    if problems:
        raise InputError(f"run.init_from: {path} does not fit the generator: {problems}")
    generator.load_state_dict(given, strict=False)
    trained = loaded.metadata.get("trained")
    return {"file": path, "sha256": sha256_file(path), "trained": json.loads(trained) if trained else None}


def code_version(root: Path | None = None) -> str:
    """``inpaintkit <version>``, plus ``commit <hash>`` (``+dirty`` with uncommitted changes, new files
    that git does not ignore included, e.g. a recipe not yet added) when the package runs from a git
    checkout (``root``, default the package's): recorded with every training command."""
    text = f"inpaintkit {__version__}"
    root = root or Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():  # an installed package, not a checkout
        return text
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return text
    return f"{text}, commit {head}{'+dirty' if dirty else ''}"


def run_training(config_path: str, overrides: list[str], *, resume: bool = False) -> Path:
    """Train a recipe: the body of ``inpaintkit train`` (also under ``torchrun``).

    Args:
        config_path: recipe YAML (``configs/*.yaml``).
        overrides: ``--key=value`` strings applied on top of it.
        resume: continue from ``<run.out_dir>/last.pt``.

    Returns:
        The run folder (``config.yaml``, ``last.pt``, ``best.pt``, ``generator.safetensors``,
        ``tensorboard/``). Resuming a run that already reached the schedule's end only exports its
        generator again (from the checkpoint, not retrained).

    Raises:
        InputError: bad config, missing data, nothing to resume, a damaged ``last.pt`` or one past
            the schedule's end, a run folder that already holds a checkpoint while ``resume`` is
            false, or one that another training process is using (``run.out_dir/.lock``).
    """
    config = load_config(config_path, overrides)
    if config.method not in OBJECTIVES:
        raise InputError(f"method: unknown {config.method!r}; valid: {', '.join(OBJECTIVES)}")
    out_dir = Path(config.run.out_dir)
    if resume and not (out_dir / "last.pt").is_file():  # said before the lock would create the folder
        raise InputError(f"nothing to resume: {out_dir / 'last.pt'} does not exist")
    main_process = os.environ.get("RANK", "0") == "0"  # torchrun's ranks share the folder rank 0 locks
    with run_lock(out_dir) if main_process else contextlib.nullcontext():
        return _train_in(config, out_dir, resume)


def _train_in(config: TrainConfig, out_dir: Path, resume: bool) -> Path:
    """The body of :func:`run_training` once the run folder is ours."""
    last = out_dir / "last.pt"
    if not resume and last.exists():
        raise InputError(f"{out_dir} already holds a run; pass --resume or set another --run.out_dir")
    info = ddp.setup(config.run.device)
    try:
        if config.run.threads:
            torch.set_num_threads(config.run.threads)
        torch.manual_seed(config.run.seed)  # network initialisation, identical on every rank
        objective = OBJECTIVES[config.method](config.model, config.objective)
        origin = None
        if config.run.init_from and not resume:
            origin = init_generator(objective, config.run.init_from, config.run.init_reset)
        trainer = Trainer(config, objective, dist=info, command=f"{' '.join(sys.argv)}  # {code_version()}")
        trainer.origin = origin  # a resumed run takes its own from the checkpoint below
        if info.is_main and out_dir.is_dir():
            for path in remove_stale_temps(out_dir):
                trainer._say(f"removed {path}, left by a process that was killed while writing it")
        if resume:
            state = _resume(trainer, last)
            changed = changed_keys(state["config"], config_to_dict(config))
            if changed:
                trainer._say(f"resuming with changed settings: {', '.join(changed)}")
            if trainer.step >= config.total_steps:
                return _finished(trainer, state, last)
        if info.is_main:
            save_config(config, out_dir / "config.yaml")
        with ddp.stop_on_signals(trainer):
            trainer.train()
        if info.is_main and trainer.step >= config.total_steps:
            trainer.export(out_dir / "generator.safetensors")
        return out_dir
    finally:
        ddp.teardown(info)


def _resume(trainer: Trainer, last: Path) -> dict[str, Any]:
    """Load ``last`` into ``trainer``; a damaged or unfitting file is a one-line error naming what to do."""
    try:
        state = load_checkpoint(last)
    except InputError as err:
        raise InputError(f"{err}; {_fallback(trainer, last)}") from None
    try:
        trainer.load_state_dict(state)
    except InputError as err:
        raise InputError(f"{last}: {err}; {_fallback(trainer, last)}") from None
    return state


def _fallback(trainer: Trainer, last: Path) -> str:
    """What to resume from instead of a bad ``last``: ``best.pt`` when it is sound, else a fresh start."""
    best = last.with_name("best.pt")
    try:
        state = load_checkpoint(best)
        good = not trainer.state_problems(state)
    except InputError:
        good = False
    if good:
        return f"the last good checkpoint is {best} (step {state['step']}): copy it to {last} to resume from there"
    return f"no other good checkpoint in {last.parent}: delete {last} to start afresh, or set another --run.out_dir"


def _finished(trainer: Trainer, state: dict[str, Any], last: Path) -> Path:
    """A resumed run at or past the schedule's end: export the checkpoint's generator, or refuse past the end."""
    total, out_dir = trainer.config.total_steps, last.parent
    if trainer.step > total:
        phase = len(trainer.config.schedule.phases) - 1
        raise InputError(
            f"{last} is at step {trainer.step}, past the {total} steps of the schedule: raise "
            f"schedule.phases.{phase}.steps to train on, or export it: inpaintkit export {last} OUT"
        )
    if trainer.dist.is_main:
        path = export_state(state, out_dir / "generator.safetensors")
        trainer._say(f"already finished at step {trainer.step}; exported its generator to {path}")
    return out_dir
