"""Published weights of the metric networks: finding them in the cache and loading them exactly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn as nn
from torch import Tensor

from ..types import WeightsError
from ..weights import WEIGHT_SPECS, cached_path, fetch, sha256_file

#: torchvision names its files ``<name>-<first 8 hex digits of the sha256>.pth`` and publishes no
#: full digest: the file's sha256 must start with this.
SHA256_PREFIXES: dict[str, str] = {"vgg16": "397923af"}


def metric_weights(name: str, *, progress: bool = True) -> Path:
    """The verified local copy of the metric weights ``name`` (a key of ``WEIGHT_SPECS``).

    The file is downloaded into ``<cache_dir()>/weights/`` on first use.

    Raises:
        WeightsError: ``"weights not found at PATH; download URL URL"`` when the file is absent and
            cannot be downloaded, or a checksum mismatch.
    """
    spec = WEIGHT_SPECS[name]
    target = cached_path(spec)
    try:
        file = fetch(spec, progress=progress)
    except WeightsError as err:
        if target.is_file() or str(err).startswith("checksum mismatch"):
            raise
        raise WeightsError(f"weights not found at {target}; download URL {spec.url}") from None
    prefix = SHA256_PREFIXES.get(name)
    if prefix and not sha256_file(file).startswith(prefix):
        raise WeightsError(f"checksum mismatch for {spec.filename} at {file}: its sha256 does not start with "
                           f"{prefix}; the file was not used, delete it to download it again")  # fmt: skip
    return file


def read_state_dict(path: str | os.PathLike, what: str) -> dict[str, Tensor]:
    """Read a plain ``torch.save``-d state dict of tensors (no arbitrary unpickling).

    Raises:
        WeightsError: missing or unreadable file, or content that is not a dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no {what} weight file at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged or foreign file can fail anywhere inside torch.load
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise WeightsError(f"cannot read {path} as {what} weights ({reason})") from None
    if not isinstance(state, Mapping) or not all(isinstance(value, Tensor) for value in state.values()):
        raise WeightsError(f"{path} ({what} weights): expected a state dict of tensors, got {type(state).__name__}")
    return dict(state)


def load_exact(module: nn.Module, state: Mapping[str, Tensor], what: str, ignore: tuple[str, ...] = ()) -> None:
    """Load ``state`` into ``module``, requiring every tensor with its shape.

    Keys starting with one of ``ignore`` (heads the metric does not use) are dropped first, and
    BatchNorm ``num_batches_tracked`` counters may be absent.

    Raises:
        WeightsError: naming the first missing, unexpected or wrongly shaped tensors.
    """
    state = {key: value for key, value in state.items() if not key.startswith(ignore)}
    expected = module.state_dict()
    optional = {key for key in expected if key.endswith("num_batches_tracked")}
    missing = [key for key in expected if key not in state and key not in optional]
    extra = [key for key in state if key not in expected]
    wrong = [f"{key} {tuple(state[key].shape)} instead of {tuple(value.shape)}"
             for key, value in expected.items() if key in state and state[key].shape != value.shape]  # fmt: skip
    found = (("missing", missing), ("unexpected", extra), ("wrong shape", wrong))
    problems = [f"{label} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}" for label, keys in found if keys]
    if problems:
        raise WeightsError(f"{what} does not hold the expected tensors: {'; '.join(problems)}")
    module.load_state_dict({**{key: expected[key] for key in optional if key not in state}, **state})
