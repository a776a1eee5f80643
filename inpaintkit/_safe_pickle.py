"""A restricted unpickler for weight files that pickle more than tensors.

It rebuilds tensors and plain containers, turns classes of a few config packages (OmegaConf,
``typing``, PyTorch Lightning) into inert stand-ins that record their state and never import or run
anything, and refuses every other global.

* ``torch.load(..., pickle_module=RESTRICTED_PICKLE)`` reads the official LaMa ``.ckpt``;
* :func:`torchscript_tensors` reads the tensors of a TorchScript archive (IOPaint's ``big-lama.pt``)
  without ``torch.jit``: its ``data.pkl`` pickles each module as an object of a ``__torch__.*`` class
  whose state is its attribute dict, and each tensor as a persistent id into ``data/``. The module
  classes become stand-ins too, so none of the archive's code (``__setstate__`` included) ever runs.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import io
import pickle
import zipfile
from collections import OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
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


def _sized(kind: type) -> Any:
    """``bytes`` / ``bytearray`` that never allocate by argument (``bytearray(2e9)`` in a pickle)."""

    def build(*args: Any) -> Any:
        if args and isinstance(args[0], int):
            raise Refused(f"builtins.{kind.__name__}({args[0]}) would allocate by argument")
        return kind(*args)

    return build


# Real objects a checkpoint may name: tensor rebuilding and plain data types, nothing that acts.
_SAFE_GLOBALS: dict[str, Any] = {
    **{
        f"torch._utils.{n}": getattr(torch._utils, n)
        for n in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter")
    },
    **{f"builtins.{t.__name__}": t for t in (dict, list, set, frozenset, tuple, int, float, bool, str, complex)},
    "builtins.bytes": _sized(bytes),
    "builtins.bytearray": _sized(bytearray),
    **{
        str(d): d
        for d in (
            torch.float16,
            torch.bfloat16,
            torch.float32,
            torch.float64,
            torch.uint8,
            torch.int8,
            torch.int16,
            torch.int32,
            torch.int64,
            torch.bool,
        )
    },
    "collections.OrderedDict": OrderedDict,
    "collections.defaultdict": defaultdict,
    "_codecs.encode": codecs.encode,  # how protocol 2 stores bytes
    "torch.Size": torch.Size,
    "torch.device": torch.device,
}
# Packages whose classes become inert stand-ins (configs, type markers, Lightning callback keys).
_INERT_PACKAGES = ("omegaconf", "typing", "pytorch_lightning", "lightning")


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stand_ins: dict[str, type[StandIn]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch._utils", "_rebuild_meta_tensor_no_storage"):
            raise WeightsError("a tensor on the meta device holds no values")
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))  # Python 2 names
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        full = f"{module}.{name}"
        if full in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[full]
        if module.split(".")[0] in _INERT_PACKAGES:
            return self._stand_in(full, name)
        raise Refused(full)

    def _stand_in(self, full: str, name: str) -> type[StandIn]:
        """The inert class standing in for ``full`` (one per name, so instances share it)."""
        if full not in self._stand_ins:
            self._stand_ins[full] = type(name, (StandIn,), {"origin": full})
        return self._stand_ins[full]


RESTRICTED_PICKLE = SimpleNamespace(  # what torch.load needs of a pickle module
    __name__="inpaintkit._safe_pickle",
    Unpickler=_RestrictedUnpickler,
    load=lambda file, **kwargs: _RestrictedUnpickler(file, **kwargs).load(),
)


# ------------------------------------------------------------------------------------ tensor views
#: A file's records may inflate, and its tensors may need, at most this many times the bytes the
#: file holds (plus :data:`SIZE_SLACK`): torch.save stores tensors uncompressed, so a real weight
#: file or checkpoint is near 1x; a zip bomb or a pile of views over one storage is far more.
MAX_INFLATION = 16
SIZE_SLACK = 1 << 20
_MAX_DEPTH = 64


def archive_contents(path: str | Path) -> tuple[list[str], str | None]:
    """The record names of the zip archive ``path`` and why it may not be read (``None`` if it may):
    a record, or all of them, declaring more bytes than :data:`MAX_INFLATION` times what is stored
    (a 3 MB file declaring 3 GB would otherwise be inflated in full). Nothing is inflated here."""
    with zipfile.ZipFile(path) as archive:
        records = archive.infolist()
    total = 0
    for info in records:
        if info.file_size > MAX_INFLATION * info.compress_size + SIZE_SLACK:
            return [], (
                f"the record {info.filename[:80]} declares {info.file_size:,} bytes stored in "
                f"{info.compress_size:,} (more than {MAX_INFLATION}x): not a weight file"
            )
        total += info.file_size
    if total > MAX_INFLATION * Path(path).stat().st_size + SIZE_SLACK:
        return [], f"its records declare {total:,} bytes in all, far more than the file holds"
    return [info.filename for info in records], None


def is_torchscript(names: Sequence[str]) -> bool:
    """Whether a zip archive with these record names is a TorchScript archive (``torch.jit.save``)."""
    return any(name.endswith("/constants.pkl") or "/code/" in name for name in names)


def view_problem(content: Any, file_bytes: int) -> str | None:
    """Why the tensors ``torch.load`` built from a file of ``file_bytes`` bytes may not be used, or ``None``.

    torch keeps every view inside its storage, but a view may still claim more elements than its
    storage holds (stride 0, overlapping strides): a 96 KB file could then make whoever copies it
    allocate gigabytes. Every tensor in ``content`` (nested dicts, lists and tuples) must be on the
    CPU, need no more bytes than its storage holds, and all of them together no more than
    :data:`MAX_INFLATION` times the file (plus :data:`SIZE_SLACK`).
    """
    total = 0
    stack: list[tuple[Any, int]] = [(content, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_DEPTH:
            return f"data nested more than {_MAX_DEPTH} levels deep"
        if isinstance(node, torch.Tensor):
            if node.device.type != "cpu":
                return f"a tensor on the {node.device.type} device holds no values"
            need = node.numel() * node.element_size()
            held = node.untyped_storage().nbytes()
            if need > held:
                return (
                    f"a tensor of shape {tuple(node.shape)} with strides {node.stride()} needs {need:,} bytes "
                    f"from a storage of {held:,} (a stride-0 or overlapping view)"
                )
            total += need
        elif isinstance(node, Mapping):
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend((value, depth + 1) for value in node)
    if total > MAX_INFLATION * file_bytes + SIZE_SLACK:
        return f"its tensors need {total:,} bytes, far more than the {file_bytes:,} the file holds"
    return None


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


# ------------------------------------------------------------------------------ TorchScript archives
_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}
# Helpers TorchScript's pickler names for typed containers: they only rebuild plain values.
_TORCHSCRIPT_HELPERS: dict[str, Any] = {
    **{f"torch.jit._pickle.build_{kind}list": list for kind in ("int", "double", "bool", "tensor")},
    "torch.jit._pickle.restore_type_tag": lambda value, type_name: value,
}
#: Largest ``data.pkl`` read (the module tree, not the tensors; big-lama's is about 100 KiB).
MAX_TORCHSCRIPT_PICKLE = 64 << 20
#: Deepest module nesting walked.
MAX_MODULE_DEPTH = 64


class _StorageType:
    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


class _ArchiveUnpickler(_RestrictedUnpickler):
    """Unpickles an archive's ``data.pkl``: tensors from its ``data/`` records, modules as stand-ins."""

    def __init__(self, file: io.BytesIO, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(file)
        self._archive, self._prefix = archive, prefix
        self._storages: dict[str, torch.storage.TypedStorage] = {}

    def find_class(self, module: str, name: str) -> Any:
        full = f"{module}.{name}"
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if full in _TORCHSCRIPT_HELPERS:
            return _TORCHSCRIPT_HELPERS[full]
        if module == "__torch__" or module.startswith("__torch__."):
            return self._stand_in(full, name)
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> torch.storage.TypedStorage:
        if not (
            isinstance(pid, tuple)
            and len(pid) == 5
            and pid[0] == "storage"
            and isinstance(pid[1], _StorageType)
            and isinstance(pid[2], str)
            and isinstance(pid[4], int)
        ):
            raise WeightsError(f"unexpected tensor reference {str(pid)[:80]} in data.pkl")
        _, storage_type, key, _, numel = pid
        if key not in self._storages:
            dtype = storage_type.dtype
            record = f"{self._prefix}data/{key}"
            try:
                size = self._archive.getinfo(record).file_size
            except KeyError:
                raise WeightsError(f"tensor record {record} is missing") from None
            expected = numel * torch.empty((), dtype=dtype).element_size()
            if size != expected:
                raise WeightsError(f"tensor record {record} holds {size} bytes, {expected} expected")
            data = bytearray(self._archive.read(record))
            flat = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
            self._storages[key] = torch.storage.TypedStorage(
                wrap_storage=flat.untyped_storage(), dtype=dtype, _internal=True
            )
        return self._storages[key]


def torchscript_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The parameters and buffers of a TorchScript archive, named as its ``state_dict()`` names them.

    Nothing of the archive is executed: its code is never read, its module classes are stand-ins.

    Raises:
        WeightsError: the archive lacks ``data.pkl``, is big-endian, names a global that is neither a
            module class nor a tensor builder, or its tensor records do not match their references.
    """
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickle_name = next((name for name in names if name.endswith("/data.pkl") and name.count("/") == 1), None)
        if pickle_name is None:
            raise WeightsError("no data.pkl at the top of the archive")
        prefix = pickle_name[: -len("data.pkl")]
        if f"{prefix}byteorder" in names and archive.read(f"{prefix}byteorder").strip() != b"little":
            raise WeightsError("the archive stores big-endian tensors")
        if archive.getinfo(pickle_name).file_size > MAX_TORCHSCRIPT_PICKLE:
            raise WeightsError(f"data.pkl is larger than {MAX_TORCHSCRIPT_PICKLE >> 20} MiB")
        root = _ArchiveUnpickler(io.BytesIO(archive.read(pickle_name)), archive, prefix).load()
    tensors: dict[str, torch.Tensor] = {}
    _collect(root, "", tensors, 0)
    return tensors


def _collect(node: Any, prefix: str, out: dict[str, torch.Tensor], depth: int) -> None:
    """Tensors among a module stand-in's attributes, and those of its sub-modules, by dotted name."""
    if depth > MAX_MODULE_DEPTH:
        raise WeightsError(f"modules nested more than {MAX_MODULE_DEPTH} levels deep")
    state = node.state if isinstance(node, StandIn) else None
    if not isinstance(state, dict):  # a class with its own __getstate__: no tensors of ours
        return
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            out[f"{prefix}{key}"] = value
        elif isinstance(value, StandIn):
            _collect(value, f"{prefix}{key}.", out, depth + 1)
