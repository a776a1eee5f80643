"""Training: typed recipes, the one training loop, EMA, checkpoints, data-parallel runs.

Entry point: :func:`run_training` (``inpaintkit train CONFIG [--resume] [--key=value ...]``, also
under ``torchrun --nproc_per_node N -m inpaintkit train ...``). Methods plug in through an objective
in :mod:`.objectives`.
"""

from .config import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    PhaseConfig,
    RunConfig,
    ScheduleConfig,
    TrainConfig,
    dump_config,
    generator_config,
    load_config,
    parse_section,
    save_config,
)
from .ema import EMA
from .export import export_checkpoint, export_state
from .trainer import Trainer, lr_factor, run_training

__all__ = [
    "TrainConfig",
    "ModelConfig",
    "DataConfig",
    "OptimConfig",
    "PhaseConfig",
    "ScheduleConfig",
    "RunConfig",
    "load_config",
    "dump_config",
    "save_config",
    "parse_section",
    "generator_config",
    "EMA",
    "Trainer",
    "run_training",
    "export_checkpoint",
    "export_state",
    "lr_factor",
]
