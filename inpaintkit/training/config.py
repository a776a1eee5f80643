"""Training configuration: typed dataclasses, one YAML file per recipe, typed ``--key=value`` overrides.

A recipe is a flat YAML file with the sections of :class:`TrainConfig` (no interpolation, no
inheritance). Overrides address a field by its dotted path, e.g. ``--optim.generator.lr=3e-4``,
``--data.batch_size=8``, ``--schedule.phases.0.steps=500`` or ``--objective.l1_hole=1``. Values are
checked against the field's type; unknown keys are errors. The ``objective`` section and
``model.overrides`` are plain dicts checked later by the dataclass that owns them (see
:func:`parse_section`).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

from ..types import InputError

T = TypeVar("T")


@dataclass
class ModelConfig:
    """The trained generator: a registered model name (its arch and size) plus field overrides."""

    preset: str = "lama-small"
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    """Training images, crops and masks; the fixed validation set.

    ``scale`` is the range of the crop side as a fraction of the image's short side (the crop is
    then resized to ``crop_size``); ``val_dir`` empty disables validation.
    """

    train_dir: str = ""
    val_dir: str = ""
    crop_size: int = 256
    scale: list[float] = field(default_factory=lambda: [0.5, 1.0])
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
    """Where and how the run happens. ``threads`` 0 keeps torch's default; ``ema_decay`` 0 = no EMA."""

    out_dir: str = "runs/train"
    seed: int = 0
    log_every: int = 50
    val_every: int = 1000
    ckpt_every: int = 1000
    sample_every: int = 1000
    best_metric: str = "psnr"
    amp: bool = False
    ema_decay: float = 0.999
    threads: int = 0
    device: str = "auto"


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


class _Override(str):
    """A value given on the command line (a string; decoded as YAML where the type is open)."""


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
        apply_override(data, item)
    config = parse_section(TrainConfig, data)
    check_config(config)
    return config


def apply_override(data: dict[str, Any], item: str) -> None:
    """Set the field named by ``item`` (``"--a.b.c=value"``) in the raw config mapping ``data``.

    Raises:
        InputError: malformed item, or a key that is no field of the config.
    """
    key, sep, value = item.lstrip("-").partition("=")
    if not sep or not key:
        raise InputError(f"override {item!r} must look like --section.key=value")
    parts = key.split(".")
    node: Any = data
    hint: Any = TrainConfig
    for depth, part in enumerate(parts):
        where = ".".join(parts[: depth + 1])
        parent = hint
        if dataclasses.is_dataclass(parent):
            hints = typing.get_type_hints(parent)
            if part not in hints:
                raise InputError(f"unknown config key {where!r}; valid keys: {', '.join(hints)}")
            hint = hints[part]
        elif _origin(parent) is dict:
            hint = typing.get_args(parent)[1]
        elif _origin(parent) is list and part.isdigit() and int(part) < len(node):
            part, hint = int(part), typing.get_args(parent)[0]
        elif parent is Any and isinstance(node, dict):
            hint = Any
        else:
            raise InputError(f"unknown config key {where!r}: {'.'.join(parts[:depth])} has no such entry")
        if depth == len(parts) - 1:
            node[part] = _Override(value)
            return
        if not isinstance(node, list) and part not in node:
            node[part] = _default(parent, part) if dataclasses.is_dataclass(parent) else {}
        node = node[part]
        if not isinstance(node, (dict, list)):
            raise InputError(f"unknown config key {key!r}: {where} is a single value")


def parse_section(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, checking keys and types field by field.

    Objectives use it for their own section (``parse_section(LamaLossConfig, cfg.objective,
    "objective")``) so that errors read like those of the rest of the config.

    Args:
        cls: a dataclass whose fields are annotated with int, float, bool, str, list[...],
            dict[str, ...], Any or another such dataclass.
        data: raw values (YAML scalars or override strings).
        prefix: dotted path of ``data`` inside the whole config, for messages.

    Raises:
        InputError: unknown key or a value that does not fit its field's type.
    """
    return _coerce(data, cls, prefix)


def check_config(config: TrainConfig) -> None:
    """Check values beyond their types (names, ranges). Raises :class:`InputError` naming the key."""
    from ..masks import MASK_GENERATORS

    d, s, r = config.data, config.schedule, config.run
    positive = {"data.crop_size": d.crop_size, "data.val_size": d.val_size, "data.batch_size": d.batch_size,
                "run.log_every": r.log_every, "run.val_every": r.val_every, "run.ckpt_every": r.ckpt_every,
                "run.sample_every": r.sample_every}  # fmt: skip
    for key, value in positive.items():
        _require(value >= 1, key, "must be >= 1", value)
    for key, value in {"data.workers": d.workers, "data.val_count": d.val_count, "run.threads": r.threads,
                       "schedule.warmup_steps": s.warmup_steps}.items():  # fmt: skip
        _require(value >= 0, key, "must be >= 0", value)
    _require(len(d.scale) == 2 and 0 < d.scale[0] <= d.scale[1] <= 1, "data.scale", "must be [low, high] with 0 < low <= high <= 1", d.scale)
    for key, name in (("data.masks", d.masks), ("data.val_masks", d.val_masks)):
        _require(name in MASK_GENERATORS, key, f"must be one of {', '.join(MASK_GENERATORS)}", name)
    _require(bool(s.phases), "schedule.phases", "must list at least one phase", s.phases)
    for i, phase in enumerate(s.phases):
        _require(phase.steps >= 0, f"schedule.phases.{i}.steps", "must be >= 0", phase.steps)
        _require(bool(phase.train), f"schedule.phases.{i}.train", "must name at least one network", phase.train)
    _require(s.lr_scheduler in LR_SCHEDULERS, "schedule.lr_scheduler", f"must be one of {', '.join(LR_SCHEDULERS)}", s.lr_scheduler)
    for name, optim in config.optim.items():
        _require(optim.kind in OPTIMIZERS, f"optim.{name}.kind", f"must be one of {', '.join(OPTIMIZERS)}", optim.kind)
        _require(optim.lr > 0, f"optim.{name}.lr", "must be > 0", optim.lr)
        _require(len(optim.betas) == 2, f"optim.{name}.betas", "must hold two numbers", optim.betas)
        _require(optim.clip >= 0, f"optim.{name}.clip", "must be >= 0 (0 = off)", optim.clip)
    _require(r.best_metric in METRICS, "run.best_metric", f"must be one of {', '.join(METRICS)}", r.best_metric)
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


# -------------------------------------------------------------------------------------- helpers
def _origin(hint: Any) -> Any:
    return typing.get_origin(hint)


def _type_name(hint: Any) -> str:
    if dataclasses.is_dataclass(hint):
        return "mapping"
    if _origin(hint) is list:
        return f"list of {_type_name(typing.get_args(hint)[0])}"
    if _origin(hint) is dict:
        return "mapping"
    return getattr(hint, "__name__", str(hint))


def _fail(key: str, hint: Any, value: Any) -> InputError:
    if isinstance(value, _Override):
        return InputError(f"--{key}={value}: expected {_type_name(hint)}, got {str(value)!r}")
    return InputError(f"{key}: expected {_type_name(hint)}, got {value!r}")


def _default(cls: Any, name: str) -> Any:
    """The default of field ``name`` of dataclass ``cls`` as plain data."""
    value = getattr(cls(), name)
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for v in value]
    return dict(value) if isinstance(value, dict) else value


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Convert ``value`` to type ``hint`` or raise an :class:`InputError` naming ``key``."""
    is_text = isinstance(value, str)
    if hint is Any:
        return yaml.safe_load(value) if isinstance(value, _Override) else value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if is_text and value.lower() in _BOOLS:
            return _BOOLS[value.lower()]
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if is_text:
            try:
                return int(value)
            except ValueError:
                pass
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if is_text:
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if is_text:
            return str(value)
    elif _origin(hint) is list:
        if isinstance(value, _Override):
            value = yaml.safe_load(value)
        if isinstance(value, (list, tuple)):
            (item,) = typing.get_args(hint)
            return [_coerce(v, item, f"{key}.{i}") for i, v in enumerate(value)]
    elif _origin(hint) is dict:
        if isinstance(value, Mapping):
            item = typing.get_args(hint)[1]
            return {str(k): _coerce(v, item, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    elif dataclasses.is_dataclass(hint):
        if isinstance(value, Mapping):
            hints = typing.get_type_hints(hint)
            unknown = [k for k in value if k not in hints]
            if unknown:
                where = f"{key}.{unknown[0]}" if key else str(unknown[0])
                raise InputError(f"unknown config key {where!r}; valid keys: {', '.join(hints)}")
            sub = {k: _coerce(v, hints[k], f"{key}.{k}" if key else k) for k, v in value.items()}
            return hint(**sub)
    raise _fail(key, hint, value)


_BOOLS = {"true": True, "false": False, "yes": True, "no": False, "on": True, "off": False, "1": True, "0": False}


def _require(ok: bool, key: str, rule: str, value: Any) -> None:
    if not ok:
        raise InputError(f"{key} {rule}, got {value!r}")
