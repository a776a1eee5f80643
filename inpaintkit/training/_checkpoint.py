"""Checkpoint plumbing: atomic writes, safe reads, digests, and the process's RNG states as plain data.

A checkpoint holds plain tensors, dicts, lists, tuples, numbers and strings only, so
``torch.load(path, weights_only=True)`` reads it. :func:`write_checkpoint` stores a ``digest`` of
everything else in it, which :func:`load_checkpoint` checks: a flipped byte is an error, not a
silently different network.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import pickle
import random
import re
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._safe_pickle import archive_contents, is_torchscript, view_problem
from ..types import InpaintKitError, InputError

log = logging.getLogger(__name__)
_TEMP_NAME = re.compile(r"\..+\.tmp-(\d+)")  # atomic_save's temporary files: .<name>.tmp-<pid>


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file next to ``path``, flush it to disk, then rename it.

    A crash or error at any moment leaves either the previous file or the new one, never a partial
    file (the temporary file is removed on error; after a SIGKILL, :func:`remove_stale_temps` does it).

    Returns:
        ``path``.

    Raises:
        InpaintKitError: the file cannot be written (a full disk, no permission ...).
    """
    path = Path(path)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as err:
        raise InpaintKitError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        temp.unlink(missing_ok=True)
    _sync_dir(path.parent)
    return path


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Hold ``folder``'s run lock (``folder/.lock``, created with the folder) for the ``with`` block, so
    two training processes never write one run folder; the operating system frees it when the
    holder exits, even killed.

    Raises:
        InputError: another process holds it (the message names that process).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip()[:20] or "another process"
            raise InputError(
                f"{folder} is in use by another training run (process {holder}); wait for it to end or set "
                "another --run.out_dir"
            ) from None
        file.seek(0)
        file.truncate()
        file.write(str(os.getpid()))
        file.flush()
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of :func:`atomic_save` in ``folder`` whose process is gone (killed mid-write).

    Returns:
        The files deleted.
    """
    stale = []
    for path in sorted(Path(folder).glob(".*.tmp-*")):
        match = _TEMP_NAME.fullmatch(path.name)
        if match and path.is_file() and not _alive(int(match[1])):
            path.unlink(missing_ok=True)
            stale.append(path)
    return stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # another user's process
        return True
    return True


def state_digest(state: Mapping[str, Any]) -> str:
    """sha256 of a checkpoint's contents but its ``digest``: every tensor's dtype, shape and bytes and
    every other value's ``repr``, each with its key path, walking dicts in sorted key order."""
    sha = hashlib.sha256()

    def walk(value: Any, where: str) -> None:
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            sha.update(f"{where}: {tensor.dtype} {tuple(tensor.shape)}\n".encode())
            sha.update(tensor.reshape(-1).view(torch.uint8).numpy())
        elif isinstance(value, Mapping):
            for key in sorted(value, key=repr):
                walk(value[key], f"{where}/{key!r}")
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(item, f"{where}/{i}")
        else:
            sha.update(f"{where} = {value!r}\n".encode())

    walk({key: value for key, value in state.items() if key != "digest"}, "")
    return sha.hexdigest()


def write_checkpoint(state: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """:func:`atomic_save` ``state`` with its :func:`state_digest` added as ``digest``."""
    return atomic_save({**state, "digest": state_digest(state)}, path)


def _sync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` onto the CPU and check its digest.

    A checkpoint without a digest (written before digests were kept) is read with a warning.

    Raises:
        InputError: if the file is missing, unreadable, not a checkpoint, or its contents do not
            match its digest (a damaged file).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no checkpoint at {path}")
    if path.stat().st_size == 0:
        raise InputError(f"cannot read checkpoint {path}: the file is empty")
    if zipfile.is_zipfile(path):
        names, problem = archive_contents(path)
        if problem:
            raise InputError(f"cannot read checkpoint {path}: {problem}")
        if is_torchscript(names):
            raise InputError(
                f"cannot read checkpoint {path}: it is a TorchScript archive (an exported network), not a "
                "training checkpoint"
            )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's weights-only refusal, several lines long
        raise InputError(
            f"cannot read checkpoint {path}: it holds objects other than tensors and plain data, "
            "so inpaintkit did not write it"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:  # damaged
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"cannot read checkpoint {path}: {first_line.split('. ')[0]}") from None
    if not isinstance(state, dict) or "step" not in state:
        raise InputError(f"{path} is not a training checkpoint (no 'step')")
    problem = view_problem(state, path.stat().st_size)
    if problem:
        raise InputError(f"cannot read checkpoint {path}: {problem}")
    if "digest" not in state:
        log.warning("%s has no digest (written by an older inpaintkit): its contents cannot be checked", path)
    elif state["digest"] != state_digest(state):
        raise InputError(f"{path} is damaged: its contents do not match the digest stored in it")
    return state


def rng_state() -> dict[str, Any]:
    """The global RNG states of Python, NumPy and torch (CPU and every CUDA device) as plain data."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states saved by :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["position"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
