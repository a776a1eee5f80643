"""Training configuration: typed dataclasses, one YAML file per recipe, typed ``--key=value`` overrides.

A recipe is a flat YAML file with the sections of :class:`TrainConfig` (no interpolation, no
inheritance). Overrides address a field by its dotted path, e.g. ``--optim.generator.lr=3e-4``,
``--data.batch_size=8``, ``--schedule.phases.0.steps=500`` or ``--objective.l1_hole=1``. Values are
checked against the field's type; unknown keys are errors. The ``objective`` section and
``model.overrides`` are plain dicts checked later by the dataclass that owns them (with
:func:`parse_section`, which objectives use for their own section).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .._typed import apply_override, parse_section
from ..types import InputError

__all__ = [
    "TrainConfig",
    "ModelConfig",
    "DataConfig",
    "OptimConfig",
    "PhaseConfig",
    "ScheduleConfig",
    "RunConfig",
    "load_config",
    "check_config",
    "parse_section",
    "config_to_dict",
    "dump_config",
    "save_config",
    "generator_config",
    "changed_keys",
    "OPTIMIZERS",
    "LR_SCHEDULERS",
    "METRICS",
]


@dataclass
class ModelConfig:
    """The trained generator: a registered model name (its arch and size) plus field overrides."""

    preset: str = "lama-small"
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    """Training images, crops and masks; the fixed validation set.

    ``scale`` is the range of the crop side as a fraction of the image's short side (the crop is
    then resized to ``crop_size``). ``short_side`` ``[low, high]`` replaces it when given: the image
    is resized so its short side is uniform in that range, then a ``crop_size`` crop is cut (GLCIC's
    ``[256, 384]``). ``val_dir`` empty disables validation.
    """

    train_dir: str = ""
    val_dir: str = ""
    crop_size: int = 256
    scale: list[float] = field(default_factory=lambda: [0.5, 1.0])
    short_side: list[int] = field(default_factory=list)
    flip: bool = True
    masks: str = "lama-train"
    val_size: int = 256
    val_masks: str = "medium-256"
    val_count: int = 16
    val_seed: int = 0
    batch_size: int = 8
    workers: int = 2


@dataclass
class OptimConfig:
    """Optimizer of one network; ``clip`` is the max gradient norm (0 = no clipping)."""

    kind: str = "adam"
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    clip: float = 0.0


@dataclass
class PhaseConfig:
    """A stretch of ``steps`` steps that updates the networks in ``train``, in that order."""

    name: str = "joint"
    steps: int = 1000
    train: list[str] = field(default_factory=lambda: ["generator", "discriminator"])


@dataclass
class ScheduleConfig:
    """Phases and the learning-rate schedule over the whole run (a factor on each base ``lr``).

    ``lr_scheduler``: ``constant``, ``cosine`` (to 0 at the last step) or ``step`` (times ``gamma`` at
    each of ``milestones``); ``warmup_steps`` ramps linearly from 0 first.
    """

    phases: list[PhaseConfig] = field(default_factory=lambda: [PhaseConfig()])
    lr_scheduler: str = "constant"
    warmup_steps: int = 0
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1


@dataclass
class RunConfig:
    """Where and how the run happens. ``threads`` 0 keeps torch's default; ``ema_decay`` 0 = no EMA.

    ``init_from`` names a weight file (any format ``inpaintkit.weights.load_weights`` reads) whose
    tensors start the generator of a new run (fine-tuning; optimizers, step and schedule start
    fresh); the generator's tensors whose names start with one of ``init_reset`` keep their fresh
    initialisation instead (e.g. a new output layer).

    ``bn_recalibrate``: with EMA, the batch-norm statistics of the averaged generator are measured
    again on this many fixed training batches before it is validated or saved (0 = keep the live
    network's; see :func:`~inpaintkit.training.ema.recalibrate_batchnorm`).
    """

    out_dir: str = "runs/train"
    seed: int = 0
    log_every: int = 50
    val_every: int = 1000
    ckpt_every: int = 1000
    sample_every: int = 1000
    best_metric: str = "psnr"
    amp: bool = False
    ema_decay: float = 0.999
    bn_recalibrate: int = 25
    threads: int = 0
    device: str = "auto"
    init_from: str = ""
    init_reset: list[str] = field(default_factory=list)


@dataclass
class TrainConfig:
    """A whole training recipe. ``method`` names the objective (``training.objectives.OBJECTIVES``)."""

    method: str = "lama"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: dict[str, OptimConfig] = field(default_factory=dict)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    objective: dict[str, Any] = field(default_factory=dict)
    run: RunConfig = field(default_factory=RunConfig)

    @property
    def total_steps(self) -> int:
        """Steps of all phases together."""
        return sum(phase.steps for phase in self.schedule.phases)


OPTIMIZERS = ("adam", "adamw", "adadelta", "sgd")
LR_SCHEDULERS = ("constant", "cosine", "step")
METRICS = {"psnr": "max", "ssim": "max", "hole_l1": "min"}


# ------------------------------------------------------------------------------------- reading
def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a recipe YAML, apply ``--key=value`` overrides, check types and values.

    Args:
        path: the YAML file.
        overrides: strings ``"--section.field=value"`` (the leading dashes are optional).

    Returns:
        The resolved config.

    Raises:
        InputError: unreadable file, unknown key, wrong type or invalid value (the message names
            the key, the expected type and the value).
    """
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise InputError(f"cannot read config {path}: {err}") from None
    if not isinstance(data, dict):
        raise InputError(f"config {path}: expected a mapping at the top level, got {type(data).__name__}")
    for item in overrides:
        apply_override(data, item, TrainConfig)
    config = parse_section(TrainConfig, data)
    check_config(config)
    return config


#: Bounds on what one step and one validation may ask for (far above any recipe here: big-lama's
#: paper recipe is 30 crops of 256 px per GPU, GLCIC's 96 of 128 / 256 px).
MAX_SIDE = 4096
MAX_BATCH = 4096
MAX_BATCH_PIXELS = 1 << 28
MAX_VAL_COUNT = 100_000


def check_config(config: TrainConfig) -> None:
    """Check values beyond their types (names, ranges). Raises :class:`InputError` naming the key."""
    from ..masks import MASK_GENERATORS

    d, s, r = config.data, config.schedule, config.run
    at_least_one = {
        "data.crop_size": d.crop_size,
        "data.val_size": d.val_size,
        "data.batch_size": d.batch_size,
        "run.log_every": r.log_every,
        "run.val_every": r.val_every,
        "run.ckpt_every": r.ckpt_every,
        "run.sample_every": r.sample_every,
    }
    for key, value in at_least_one.items():
        _require(value >= 1, key, "must be >= 1", value)
    for key, value, most in (
        ("data.crop_size", d.crop_size, MAX_SIDE),
        ("data.val_size", d.val_size, MAX_SIDE),
        ("data.batch_size", d.batch_size, MAX_BATCH),
        ("data.val_count", d.val_count, MAX_VAL_COUNT),
    ):
        _require(value <= most, key, f"must be at most {most}", value)
    _require(
        d.batch_size * d.crop_size**2 <= MAX_BATCH_PIXELS,
        "data.batch_size",
        f"times crop_size squared must be at most {MAX_BATCH_PIXELS:,} pixels (about 3 GiB a batch)",
        d.batch_size,
    )
    at_least_zero = {
        "data.workers": d.workers,
        "data.val_count": d.val_count,
        "data.val_seed": d.val_seed,
        "run.threads": r.threads,
        "run.seed": r.seed,
        "schedule.warmup_steps": s.warmup_steps,
    }
    for key, value in at_least_zero.items():
        _require(value >= 0, key, "must be >= 0", value)
    _require(
        len(d.scale) == 2 and 0 < d.scale[0] <= d.scale[1] <= 1,
        "data.scale",
        "must be [low, high] with 0 < low <= high <= 1",
        d.scale,
    )
    _require(
        not d.short_side or (len(d.short_side) == 2 and d.crop_size <= d.short_side[0] <= d.short_side[1]),
        "data.short_side",
        "must be empty or [low, high] with crop_size <= low <= high",
        d.short_side,
    )
    for key, name in (("data.masks", d.masks), ("data.val_masks", d.val_masks)):
        _require(name in MASK_GENERATORS, key, _one_of(MASK_GENERATORS), name)
    _require(bool(s.phases), "schedule.phases", "must list at least one phase", s.phases)
    for i, phase in enumerate(s.phases):
        _require(phase.steps >= 0, f"schedule.phases.{i}.steps", "must be >= 0", phase.steps)
        _require(bool(phase.train), f"schedule.phases.{i}.train", "must name at least one network", phase.train)
    steps = [phase.steps for phase in s.phases]
    _require(sum(steps) >= 1, "schedule.phases", "must add up to at least 1 step", steps)
    _require(s.lr_scheduler in LR_SCHEDULERS, "schedule.lr_scheduler", _one_of(LR_SCHEDULERS), s.lr_scheduler)
    for name, optim in config.optim.items():
        _require(optim.kind in OPTIMIZERS, f"optim.{name}.kind", _one_of(OPTIMIZERS), optim.kind)
        _require(optim.lr > 0, f"optim.{name}.lr", "must be > 0", optim.lr)
        _require(len(optim.betas) == 2, f"optim.{name}.betas", "must hold two numbers", optim.betas)
        _require(optim.clip >= 0, f"optim.{name}.clip", "must be >= 0 (0 = off)", optim.clip)
    _require(r.best_metric in METRICS, "run.best_metric", _one_of(METRICS), r.best_metric)
    _require(0 <= r.ema_decay < 1, "run.ema_decay", "must lie in [0, 1)", r.ema_decay)


# ------------------------------------------------------------------------------------- writing
def config_to_dict(config: Any) -> dict[str, Any]:
    """The config as plain dicts, lists and scalars (what YAML and checkpoints store)."""
    return dataclasses.asdict(config)


def dump_config(config: TrainConfig) -> str:
    """The config as YAML text that :func:`load_config` reads back to an equal config."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def save_config(config: TrainConfig, path: str | Path) -> Path:
    """Write the resolved config to ``path`` (``config.yaml`` of a run folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_config(config))
    return path


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two plain config dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = list(old) + [k for k in new if k not in old]
        return [c for k in keys for c in changed_keys(old.get(k), new.get(k), f"{prefix}{k}.")]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [c for i, (a, b) in enumerate(zip(old, new)) for c in changed_keys(a, b, f"{prefix}{i}.")]
    return [] if old == new else [prefix.rstrip(".")]


def _one_of(names: Any) -> str:
    return f"must be one of {', '.join(names)}"


def _require(ok: bool, key: str, rule: str, value: Any) -> None:
    if not ok:
        raise InputError(f"{key} {rule}, got {value!r}")


def generator_config(model: ModelConfig) -> tuple[str, Any]:
    """The trained generator's architecture name and config: the preset with ``model.overrides`` applied.

    Returns:
        ``(arch, config)``: a key of ``models.contract.FAMILIES`` and an instance of its config class.

    Raises:
        UnknownModelError: unknown preset.
        InputError: a preset that is not a learned model, or a bad override.
    """
    from ..registry import get_spec

    spec = get_spec(model.preset)
    if spec.arch is None or spec.config is None:
        raise InputError(f"model.preset {model.preset!r} is not a trainable (learned) model")
    fields = dataclasses.asdict(spec.config) | model.overrides
    try:
        return spec.arch, parse_section(type(spec.config), fields, "model.overrides")
    except ValueError as err:  # a key or type error names model.overrides already; the config's own checks do not
        message = str(err)
        raise InputError(message if "model.overrides" in message else f"model.overrides: {message}") from None
