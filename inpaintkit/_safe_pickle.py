"""A restricted unpickler for checkpoints that pickle config objects (the official LaMa ``.ckpt``).

It rebuilds tensors and plain containers, turns classes of a few config packages (OmegaConf,
``typing``, PyTorch Lightning) into inert stand-ins that record their state and never import or run
anything, and refuses every other global. Use it as ``torch.load(..., pickle_module=RESTRICTED_PICKLE)``.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import pickle
from collections import OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import torch

from .types import WeightsError

class Refused(pickle.UnpicklingError):
    def __init__(self, name: str) -> None:
        super().__init__(f"refusing to unpickle {name}")
        self.name = name


class StandIn:
    """Inert stand-in for a class that is never imported: it records what pickle hands it, runs nothing."""

    origin = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> StandIn:
        self = object.__new__(cls)
        self.state = None
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def content(self) -> Any:
        """OmegaConf containers -> their ``_content``, value nodes -> ``_val``, others -> a label."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 2:  # (instance dict, slots dict)
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict) and "_content" in state:
            return state["_content"]  # a dict or list of nodes, None, "???" or an interpolation
        if isinstance(state, dict) and "_val" in state:
            return state["_val"]
        return f"<{self.origin}>"


# Real objects a checkpoint may name: tensor rebuilding and plain data types, nothing that acts.
_SAFE_GLOBALS: dict[str, Any] = {
    **{f"torch._utils.{n}": getattr(torch._utils, n) for n in ("_rebuild_tensor", "_rebuild_tensor_v2",
                                                               "_rebuild_tensor_v3", "_rebuild_parameter")},
    **{f"builtins.{t.__name__}": t for t in (dict, list, set, frozenset, tuple, int, float, bool, str, bytes,
                                             bytearray, complex)},
    **{str(d): d for d in (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8, torch.int8,
                           torch.int16, torch.int32, torch.int64, torch.bool)},
    "collections.OrderedDict": OrderedDict,
    "collections.defaultdict": defaultdict,
    "_codecs.encode": codecs.encode,  # how protocol 2 stores bytes
    "torch.Size": torch.Size,
    "torch.device": torch.device,
}  # fmt: skip
# Packages whose classes become inert stand-ins (configs, type markers, Lightning callback keys).
_INERT_PACKAGES = ("omegaconf", "typing", "pytorch_lightning", "lightning")


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stand_ins: dict[str, type[StandIn]] = {}

    def find_class(self, module: str, name: str) -> Any:
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))  # Python 2 names
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        full = f"{module}.{name}"
        if full in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[full]
        if module.split(".")[0] in _INERT_PACKAGES:
            if full not in self._stand_ins:
                self._stand_ins[full] = type(name, (StandIn,), {"origin": full})
            return self._stand_ins[full]
        raise Refused(full)


RESTRICTED_PICKLE = SimpleNamespace(  # what torch.load needs of a pickle module
    __name__="inpaintkit._safe_pickle",
    Unpickler=_RestrictedUnpickler,
    load=lambda file, **kwargs: _RestrictedUnpickler(file, **kwargs).load(),
)


def plain(value: Any, depth: int = 0) -> Any:
    """Stand-ins, mappings and sequences (OmegaConf containers too) -> plain dicts, lists, values."""
    if depth > 64:
        raise WeightsError("hyper-parameters nested more than 64 levels deep")
    if isinstance(value, type) and issubclass(value, StandIn):
        return value.origin
    if isinstance(value, StandIn):
        value = value.content()
    if isinstance(value, Mapping):
        return {key: plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
        return [plain(item, depth + 1) for item in value]
    return value
