"""Plain state dicts of the frozen helper networks (loss backbones, metric networks).

* :func:`fetch_published`: :func:`~inpaintkit.weights.fetch` with a message that says where to put
  the file by hand when it is missing;
* :func:`read_state_dict`: read a ``torch.save``-d dict of tensors without arbitrary unpickling;
* :func:`load_state_exact`: load it requiring every tensor with its shape.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Collection, Mapping
from pathlib import Path

import torch
import torch.nn as nn
from torch import Tensor

from ._safe_pickle import archive_contents, is_torchscript, view_problem
from .types import WeightsError
from .weights import WEIGHT_SPECS, WeightSpec, cached_path, fetch


def fetch_published(name_or_spec: str | WeightSpec, *, progress: bool = True) -> Path:
    """The verified local copy of published weights, downloaded into ``<cache_dir()>/weights/`` on first use.

    Args:
        name_or_spec: a key of :data:`~inpaintkit.weights.WEIGHT_SPECS`, or a spec.
        progress: show a progress bar while downloading.

    Returns:
        Path of the cached file.

    Raises:
        WeightsError: unknown name; the file is absent and cannot be downloaded (the message names
            the file, its URL and where to put it); or the file fails its checksum.
    """
    if isinstance(name_or_spec, WeightSpec):
        spec = name_or_spec
    elif name_or_spec in WEIGHT_SPECS:
        spec = WEIGHT_SPECS[name_or_spec]
    else:
        raise WeightsError(f"no published weights named {name_or_spec!r}; known: {', '.join(WEIGHT_SPECS)}")
    try:
        return fetch(spec, progress=progress)
    except WeightsError as err:
        if str(err).startswith("checksum mismatch"):
            raise
        raise WeightsError(
            f"the {spec.name} weights {spec.filename} are missing: not in the cache and the download "
            f"from {spec.url} failed; download that file and put it at {cached_path(spec)}"
        ) from None


def read_state_dict(path: str | os.PathLike, what: str) -> dict[str, Tensor]:
    """Read a plain ``torch.save``-d state dict of tensors (``weights_only``: no arbitrary unpickling).

    Args:
        path: the file.
        what: the weights' name in error messages (``"vgg19"``, ``"FID Inception"`` ...).

    Returns:
        The tensors by name, on the CPU.

    Raises:
        WeightsError: missing or unreadable file, or content that is not a dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no {what} weight file at {path}")
    if zipfile.is_zipfile(path):
        names, problem = archive_contents(path)
        if problem or is_torchscript(names):
            raise WeightsError(f"cannot read {path} as {what} weights ({problem or 'a TorchScript archive'})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged or foreign file can fail anywhere inside torch.load
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise WeightsError(f"cannot read {path} as {what} weights ({reason})") from None
    if not isinstance(state, Mapping) or not all(isinstance(value, Tensor) for value in state.values()):
        raise WeightsError(f"{path} ({what} weights): expected a state dict of tensors, got {type(state).__name__}")
    problem = view_problem(state, path.stat().st_size)
    if problem:
        raise WeightsError(f"{path} ({what} weights): {problem}")
    return dict(state)


def state_mismatch(expected: Mapping[str, Tensor], state: Mapping[str, Tensor], optional: Collection[str] = ()) -> str:
    """What keeps ``state`` from loading where ``expected`` is: ``""`` if every tensor fits.

    Args:
        expected: the network's tensors (a meta-device network's will do: only shapes are read).
        state: the tensors offered.
        optional: keys of ``expected`` that may be absent.

    Returns:
        e.g. ``"missing a.weight; wrong shape b.bias (3,) instead of (4,)"``, naming at most three keys per kind.
    """
    missing = [key for key in expected if key not in state and key not in optional]
    extra = [key for key in state if key not in expected]
    wrong = [
        f"{key} {tuple(state[key].shape)} instead of {tuple(value.shape)}"
        for key, value in expected.items()
        if key in state and state[key].shape != value.shape
    ]
    found = (("missing", missing), ("unexpected", extra), ("wrong shape", wrong))
    return "; ".join(f"{label} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}" for label, keys in found if keys)


def load_state_exact(module: nn.Module, state: Mapping[str, Tensor], what: str, ignore: tuple[str, ...] = ()) -> None:
    """Load ``state`` into ``module``, requiring every tensor with its shape.

    Args:
        module: the network to fill.
        state: tensors named as ``module.state_dict()`` names them.
        what: the file in error messages (``"<path> (<name> weights)"``).
        ignore: key prefixes dropped first (heads of the published network that are not used).
            BatchNorm ``num_batches_tracked`` counters may be absent.

    Raises:
        WeightsError: naming the first missing, unexpected or wrongly shaped tensors.
    """
    state = {key: value for key, value in state.items() if not key.startswith(ignore)}
    expected = module.state_dict()
    optional = {key for key in expected if key.endswith("num_batches_tracked")}
    problems = state_mismatch(expected, state, optional)
    if problems:
        raise WeightsError(f"{what} does not hold the expected tensors: {problems}")
    module.load_state_dict({**{key: expected[key] for key in optional if key not in state}, **state})
