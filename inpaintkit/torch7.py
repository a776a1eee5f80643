"""Reading the GLCIC authors' Torch7 models (``completionnet_places2.t7``, ``..._freeform.t7``,
``completionnet_celeba.t7``; https://github.com/satoshiiizuka/siggraph2017_inpainting, CC BY-NC-SA 4.0).

A released file is a Torch7 table ``{model = nn.Sequential, mean = 3 numbers}`` written by
``torch.save``. It is parsed with the ``torchfile`` package (pure data: Lua functions stay bytes and
are never run) and mapped onto :class:`~inpaintkit.models.glcic.GlcicCompletionNet`, whose flat
``model`` Sequential has the reference's module order.

Facts used for the mapping (torch/nn sources):

* ``nn.SpatialConvolution`` / ``nn.SpatialDilatedConvolution``: ``weight (nOut, nIn, kH, kW)``
  (the old ``SpatialConvolutionMM`` stores it as ``(nOut, nIn * kH * kW)``), ``bias (nOut)`` or
  none after ``noBias()``, fields ``dW dH padW padH`` and ``dilationW dilationH``;
* ``nn.SpatialFullConvolution``: ``weight (nIn, nOut, kH, kW)``, in/out transposed with respect to
  a convolution and exactly :class:`torch.nn.ConvTranspose2d`'s layout, so it is copied as is;
* ``nn.SpatialBatchNormalization``: ``weight bias running_mean running_var eps``. Files written
  before its class version 2 hold ``running_std`` = ``1 / sqrt(var + eps)`` instead, which torch/nn
  itself converts on reading as ``running_var = running_std^-2 - eps``; so does this module;
* ``nn.ReLU`` and ``nn.Sigmoid`` carry no tensors; ``cudnn.*`` twins are read like ``nn.*``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ._safe_pickle import MAX_INFLATION, SIZE_SLACK
from .models.glcic import GlcicCompletionNet, GlcicConfig
from .types import WeightsError

#: Torch7 module types (without the ``nn.`` / ``cudnn.`` prefix) by the PyTorch module they become.
_CONVS = {"SpatialConvolution", "SpatialConvolutionMM", "SpatialDilatedConvolution"}
_KINDS = {
    **{name: nn.Conv2d for name in _CONVS},
    "SpatialFullConvolution": nn.ConvTranspose2d,
    "SpatialBatchNormalization": nn.BatchNorm2d,
    "ReLU": nn.ReLU,
    "Sigmoid": nn.Sigmoid,
}
_CONTAINERS = {"Sequential"}

#: Torch7 tensor classes and their element types (``torch.Cuda*`` files are read like CPU ones).
_TENSOR_TYPES = {
    "Byte": np.uint8,
    "Char": np.int8,
    "Short": np.int16,
    "Int": np.int32,
    "Long": np.int64,
    "Float": np.float32,
    "Double": np.float64,
    "Cuda": np.float32,
    "CudaByte": np.uint8,
    "CudaChar": np.int8,
    "CudaShort": np.int16,
    "CudaInt": np.int32,
    "CudaLong": np.int64,
    "CudaDouble": np.float64,
}
#: At most this many dimensions in a tensor (Torch7's own limit is far above what a network holds).
MAX_DIMS = 8
_READERS_LOCK = threading.Lock()

#: The first bytes of a binary Torch7 file holding a table: type 3 (table), reference index 1.
TORCH7_TABLE_HEADER = (3).to_bytes(4, "little") + (1).to_bytes(4, "little")


def load_glcic_t7(path: str | os.PathLike) -> tuple[GlcicConfig, dict[str, torch.Tensor]]:
    """Read a GLCIC completion network saved by the authors in Torch7's binary format.

    Args:
        path: a ``.t7`` file holding the table ``{model, mean}``.

    Returns:
        The config (width from the first layer, the file's ``mean``, the BatchNorm epsilon) and the
        state dict of :class:`~inpaintkit.models.glcic.GlcicCompletionNet` built from it.

    Raises:
        WeightsError: ``torchfile`` is not installed, the file is not such a table, or its network is
            not the GLCIC completion network (the message names the first layer that differs).
    """
    try:
        import torchfile
    except ImportError:
        raise WeightsError("reading Torch7 .t7 files needs the torchfile package: pip install torchfile") from None
    path = Path(path)
    try:
        with _checked_tensors(torchfile, MAX_INFLATION * path.stat().st_size + SIZE_SLACK):
            content = torchfile.load(str(path), utf8_decode_strings=True)
    except WeightsError as err:
        raise WeightsError(f"cannot read {path} as a Torch7 file: {err}") from None
    except Exception as err:  # the parser fails anywhere in a damaged file
        raise WeightsError(f"cannot read {path} as a Torch7 file ({type(err).__name__}: {err})") from None
    if not isinstance(content, dict) or "model" not in content or "mean" not in content:
        raise WeightsError(f"{path} is a Torch7 file but not a GLCIC model table {{model, mean}}")
    theirs = list(_flatten(content["model"], path))
    first = next((m for m in theirs if _name(m) in _CONVS), None)
    if first is None:
        raise WeightsError(f"{path}: the Torch7 model has no convolution")
    try:
        config = GlcicConfig(width=int(first.nOutputPlane), mean=_mean(content["mean"], path), bn_eps=_eps(theirs))
    except (TypeError, ValueError) as err:
        raise WeightsError(f"{path}: {err}") from None
    with torch.device("meta"):
        ours = list(GlcicCompletionNet(config).model)
    if len(ours) != len(theirs):
        raise WeightsError(
            f"{path}: the Torch7 model has {len(theirs)} layers, the GLCIC completion network {len(ours)}"
        )
    state: dict[str, torch.Tensor] = {}
    for index, (module, source) in enumerate(zip(ours, theirs)):
        state.update({f"model.{index}.{key}": value for key, value in _convert(module, source, index, path).items()})
    return config, state


def _name(module: Any) -> str:
    """``"SpatialConvolution"`` for ``nn.SpatialConvolution`` (or ``cudnn.``...)."""
    method = getattr(module, "torch_typename", None)  # torchfile.TorchObject; tables and arrays have none
    typename = method() if callable(method) else b""
    return typename.decode("utf8", "replace").partition(".")[2]


def _flatten(module: Any, path: Path) -> Iterator[Any]:
    """The leaf modules of ``module`` in execution order (nested Sequentials unrolled)."""
    name = _name(module)
    if name in _CONTAINERS:
        for child in module.modules or []:
            yield from _flatten(child, path)
    elif name in _KINDS:
        yield module
    else:
        raise WeightsError(f"{path}: unsupported Torch7 module {name or type(module).__name__!r} in the model")


def _mean(value: Any, path: Path) -> list[float]:
    values = np.asarray(value, dtype=np.float64).reshape(-1)
    if values.size != 3:
        raise WeightsError(f"{path}: 'mean' must hold 3 values, got {values.size}")
    return values.tolist()


def _eps(modules: list[Any]) -> float:
    """The BatchNorm epsilon (Torch7's default 1e-5 when there is no BatchNorm)."""
    values = {float(m.eps) for m in modules if _name(m) == "SpatialBatchNormalization" and m.eps is not None}
    if len(values) > 1:
        raise ValueError(f"the BatchNorm layers use different eps values {sorted(values)}")
    return values.pop() if values else 1e-5


def _tensor(value: Any) -> torch.Tensor:
    return torch.from_numpy(np.array(value, dtype=np.float32))


def _convert(ours: nn.Module, theirs: Any, index: int, path: Path) -> dict[str, torch.Tensor]:
    """The tensors of our layer ``ours`` (``model.<index>``) from the Torch7 module ``theirs``."""
    kind = _KINDS[_name(theirs)]
    where = f"{path}: layer {index + 1} ({_name(theirs)})"
    if not isinstance(ours, kind):
        raise WeightsError(f"{where} sits where the GLCIC network has a {type(ours).__name__}")
    if isinstance(ours, (nn.Conv2d, nn.ConvTranspose2d)):
        found = (
            (theirs.kH, theirs.kW),
            (theirs.dH, theirs.dW),
            (theirs.padH, theirs.padW),
            (theirs.dilationH or 1, theirs.dilationW or 1),
            (theirs.adjH or 0, theirs.adjW or 0),
        )
        output_padding = getattr(ours, "output_padding", (0, 0))
        expected = (ours.kernel_size, ours.stride, ours.padding, ours.dilation, output_padding)
        if tuple(tuple(int(v) for v in pair) for pair in found) != expected:
            raise WeightsError(f"{where}: kernel/stride/padding/dilation/adj {found} differ from GLCIC's {expected}")
        weight = _tensor(theirs.weight) if theirs.weight is not None else torch.empty(0)
        bias = _tensor(theirs.bias) if theirs.bias is not None else torch.zeros(ours.out_channels)
        shape = tuple(ours.weight.shape)
        allowed = (shape, (shape[0], shape[1] * shape[2] * shape[3])) if kind is nn.Conv2d else (shape,)
        if tuple(weight.shape) not in allowed or bias.numel() != ours.out_channels:
            raise WeightsError(
                f"{where}: weight {tuple(weight.shape)} and bias ({bias.numel()},) do not fit "
                f"{shape} and ({ours.out_channels},)"
            )
        return {"weight": weight.reshape(shape), "bias": bias.reshape(ours.out_channels)}
    if isinstance(ours, nn.BatchNorm2d):
        channels = ours.num_features
        eps = float(theirs.eps if theirs.eps is not None else 1e-5)
        if theirs.running_var is not None:
            var = _tensor(theirs.running_var)
        elif theirs.running_std is not None:
            var = _tensor(theirs.running_std).pow(-2) - eps
        else:
            raise WeightsError(f"{where}: neither running_var nor running_std")
        tensors = {
            "weight": _tensor(theirs.weight) if theirs.weight is not None else torch.ones(channels),
            "bias": _tensor(theirs.bias) if theirs.bias is not None else torch.zeros(channels),
            "running_mean": _tensor(theirs.running_mean),
            "running_var": var,
        }
        wrong = [key for key, value in tensors.items() if value.numel() != channels]
        if wrong:
            raise WeightsError(f"{where}: {wrong[0]} does not hold {channels} values")
        return {**{k: v.reshape(channels) for k, v in tensors.items()}, "num_batches_tracked": torch.tensor(0)}
    return {}


@contextlib.contextmanager
def _checked_tensors(torchfile: Any, budget: int) -> Iterator[None]:
    """While the block runs, ``torchfile`` reads tensors with :func:`_read_tensor` (a view checked
    against its storage and copied) instead of its own reader, which builds any strided view the
    file asks for, inside its storage or not; the copies together may take at most ``budget`` bytes
    (many views of one storage would otherwise multiply it)."""
    handlers = torchfile.type_handlers
    spent = [0]
    readers = {
        f"torch.{kind}Tensor".encode(): _tensor_reader(dtype, spent, budget) for kind, dtype in _TENSOR_TYPES.items()
    }
    with _READERS_LOCK:
        saved = {name: handlers.get(name) for name in readers}
        try:
            handlers.update(readers)
            yield
        finally:
            for name, handler in saved.items():
                if handler is None:
                    handlers.pop(name, None)
                else:
                    handlers[name] = handler


def _tensor_reader(dtype: type, spent: list[int], budget: int) -> Any:
    def read(reader: Any, version: int) -> np.ndarray:
        tensor = _read_tensor(reader, np.dtype(dtype), budget - spent[0])
        spent[0] += tensor.nbytes
        return tensor

    return read


def _read_tensor(reader: Any, dtype: np.dtype, budget: int) -> np.ndarray:
    """One tensor (Torch7's ``generic/Tensor.c`` layout), refused unless its view lies inside its
    storage, holds no more elements than the storage (stride 0 may not multiply memory) and its copy
    takes at most ``budget`` bytes."""
    ndim = reader.read_int()
    if not 0 <= ndim <= MAX_DIMS:
        raise WeightsError(f"a tensor claims {ndim} dimensions (at most {MAX_DIMS})")
    size = [int(v) for v in reader.read_long_array(ndim)]
    stride = [int(v) for v in reader.read_long_array(ndim)]
    offset = int(reader.read_long()) - 1  # 1-based in the file
    storage = reader.read_obj()
    if storage is None or ndim == 0:
        return np.empty(0, dtype=dtype)
    if not isinstance(storage, np.ndarray) or storage.ndim != 1 or storage.dtype != dtype:
        raise WeightsError(f"a {dtype} tensor's storage is {type(storage).__name__}, not {dtype} values")
    count = int(np.prod(size, dtype=object)) if size else 0
    if min(size) < 0 or min(stride) < 0 or offset < 0:
        raise WeightsError(f"a tensor has a negative size, stride or offset ({size}, {stride}, {offset + 1})")
    if count == 0:
        return np.empty(size, dtype=dtype)
    last = offset + sum((n - 1) * step for n, step in zip(size, stride))
    if count > len(storage) or last >= len(storage):
        raise WeightsError(
            f"a tensor of size {tuple(size)} with strides {tuple(stride)} at offset {offset + 1} does not fit "
            f"in its storage of {len(storage)} values"
        )
    if count * dtype.itemsize > budget:
        raise WeightsError("its tensors need far more bytes than the file holds (views repeating one storage)")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=[dtype.itemsize * step for step in stride], writeable=False
    )
    return view.copy()
