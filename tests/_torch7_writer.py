"""A minimal writer of Torch7's binary serialisation (``torch.save`` in Lua), for loader tests.

Format (torch7 ``File.lua`` ``writeObject`` and ``generic/Tensor.c`` / ``Storage.c``), little endian,
``int`` 4 bytes, ``long`` 8 bytes:

* every object starts with an ``int`` type: 0 nil, 1 number (a ``double``), 2 string (``int``
  length + bytes), 3 table, 4 torch object, 5 boolean (an ``int`` 0/1);
* tables and torch objects then carry an ``int`` reference index (1, 2, ... in order of first
  appearance); a table continues with its ``int`` size and that many key/value objects; a torch
  object with its version string ``"V <n>"`` and class name (each ``int`` length + bytes) and then
  its payload;
* payload of ``torch.FloatTensor``: ``int`` ndim, ``long`` sizes, ``long`` strides, ``long``
  1-based storage offset, then the storage object; of ``torch.FloatStorage``: ``long`` size and the
  ``float32`` values; of any other class (``nn.*``): the table of its fields;
* an object written before is written again as its type and reference index alone (how Lua's
  ``torch.save`` shares one storage between several tensors).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np


@dataclass
class TorchClass:
    """A Torch7 class instance: ``nn.*`` modules (``fields`` is their table)."""

    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    version: int = 1


@dataclass
class FloatTensor:
    """A ``torch.FloatTensor`` (written contiguous, with its own storage)."""

    values: np.ndarray


@dataclass
class StridedTensor:
    """A ``torch.FloatTensor`` view written as given: ``size``, ``stride`` (elements), a 1-based
    ``offset`` into ``storage`` (for hostile-file tests: nothing checks that the view fits)."""

    size: tuple[int, ...]
    stride: tuple[int, ...]
    offset: int
    storage: np.ndarray


class _Writer:
    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.next_index = 1
        self.storages: dict[int, int] = {}  # id of a StridedTensor's storage array -> its reference index

    def int(self, value: int) -> None:
        self.file.write(struct.pack("<i", value))

    def long(self, value: int) -> None:
        self.file.write(struct.pack("<q", value))

    def raw_string(self, text: str) -> None:
        data = text.encode("utf8")
        self.int(len(data))
        self.file.write(data)

    def reference(self, type_index: int) -> None:
        self.int(type_index)
        self.int(self.next_index)
        self.next_index += 1

    def object(self, value: Any) -> None:
        if value is None:
            self.int(0)
        elif isinstance(value, bool):
            self.int(5)
            self.int(int(value))
        elif isinstance(value, (int, float)):
            self.int(1)
            self.file.write(struct.pack("<d", float(value)))
        elif isinstance(value, str):
            self.int(2)
            self.raw_string(value)
        elif isinstance(value, (dict, list)):
            items = value.items() if isinstance(value, dict) else ((i + 1, v) for i, v in enumerate(value))
            items = list(items)
            self.reference(3)
            self.int(len(items))
            for key, item in items:
                self.object(key)
                self.object(item)
        elif isinstance(value, FloatTensor) and np.size(value.values) == 0:  # as torch/File writes an empty tensor
            self.torch_header("torch.FloatTensor", 1)
            self.int(0)
            self.long(1)
            self.object(None)
        elif isinstance(value, FloatTensor):
            self.torch_header("torch.FloatTensor", 1)
            array = np.ascontiguousarray(value.values, dtype=np.float32)
            self.int(array.ndim)
            for size in array.shape:
                self.long(size)
            for stride in (s // 4 for s in array.strides):
                self.long(stride)
            self.long(1)
            self.torch_header("torch.FloatStorage", 1)
            self.long(array.size)
            self.file.write(array.tobytes())
        elif isinstance(value, StridedTensor):
            self.torch_header("torch.FloatTensor", 1)
            self.int(len(value.size))
            for number in (*value.size, *value.stride, value.offset):
                self.long(number)
            if id(value.storage) in self.storages:  # the same array again: a back-reference
                self.int(4)
                self.int(self.storages[id(value.storage)])
                return
            self.storages[id(value.storage)] = self.next_index
            self.torch_header("torch.FloatStorage", 1)
            self.long(value.storage.size)
            self.file.write(np.ascontiguousarray(value.storage, dtype=np.float32).tobytes())
        elif isinstance(value, TorchClass):
            self.torch_header(value.name, value.version)
            self.object(value.fields)
        else:
            raise TypeError(f"cannot write {type(value).__name__} as Torch7")

    def torch_header(self, class_name: str, version: int) -> None:
        self.reference(4)
        self.raw_string(f"V {version}")
        self.raw_string(class_name)


def write_t7(path: Path, value: Any) -> Path:
    """Write ``value`` (dicts and lists = Lua tables; numbers, strings, bools, FloatTensor, StridedTensor,
    TorchClass)."""
    with open(path, "wb") as file:
        _Writer(file).object(value)
    return path
