"""Weights: where published weights come from, the local cache, and reading/writing weight files.

* :class:`~inpaintkit.catalog.WeightSpec` / :data:`~inpaintkit.catalog.WEIGHT_SPECS`: what upstream publishes
  (URL, checksums, licence), declared in the torch-free catalog.
* :func:`fetch`: download once into ``<cache_dir()>/weights/``, verify, reuse.
* :func:`load_weights`: read a weight file into a :class:`LoadedWeights` (arch + config + tensors);
  :func:`save_model_file` and :func:`convert` write our own format.

Formats read, recognised by content rather than by name:

* ``inpaintkit``: safetensors whose metadata holds ``format``, ``arch`` and ``config`` (JSON);
* ``lightning-lama``: the official LaMa ``best.ckpt``. Its hyper-parameters are pickled OmegaConf
  objects, so it is read by a restricted unpickler that rebuilds tensors and plain containers,
  turns OmegaConf (and Lightning, ``typing``) classes into inert stand-ins and refuses any other
  global. ``trust=True`` allows full unpickling, for files you trust;
* ``torchscript-lama``: IOPaint's ``big-lama.pt`` (parameters ``model.generator.<key>``), whose tensors are
  read from the archive as data: none of its TorchScript code runs, with or without ``trust``;
* ``state-dict``: a plain ``torch.save``-d or safetensors state dict, keys with or without
  ``generator.``;
* ``torch7-glcic``: the GLCIC authors' Torch7 ``completionnet_*.t7`` (see :mod:`inpaintkit.torch7`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any, BinaryIO

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes
from tqdm import tqdm

from ._safe_pickle import (
    RESTRICTED_PICKLE,
    Refused,
    StandIn,
    archive_contents,
    is_torchscript,
    plain,
    torchscript_tensors,
    view_problem,
)
from .catalog import GLCIC_T7_LICENCE, WEIGHT_SPECS, WeightSpec, cached_path
from .models import lama
from .torch7 import TORCH7_TABLE_HEADER, load_glcic_t7
from .types import WeightsError

_FORMATS = (
    "inpaintkit .safetensors, the official LaMa Lightning .ckpt, IOPaint's TorchScript "
    "big-lama.pt, plain PyTorch state dicts and the GLCIC authors' Torch7 .t7"
)


# ------------------------------------------------------------------------------ cache + download
def _digests(path: Path, algorithms: Sequence[str], chunk_size: int = 1 << 20) -> dict[str, str]:
    hashes = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as file:
        while chunk := file.read(chunk_size):
            for digest in hashes.values():
                digest.update(chunk)
    return {name: digest.hexdigest() for name, digest in hashes.items()}


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read ``chunk_size`` bytes at a time."""
    return _digests(Path(path), ["sha256"], chunk_size)["sha256"]


def _mismatch(spec: WeightSpec, path: Path) -> str | None:
    """``"expected <algo> X, got Y"`` for the first pinned checksum ``path`` fails, else ``None``."""
    expected = {algo: value.lower() for algo, value in (("sha256", spec.sha256), ("md5", spec.md5)) if value}
    prefix = (spec.sha256_prefix or "").lower() if spec.sha256 is None else ""
    algorithms = [*expected, *(["sha256"] if prefix else [])]
    actual = _digests(path, algorithms) if algorithms else {}
    if prefix and not actual["sha256"].startswith(prefix):
        return f"expected sha256 starting with {prefix}, got {actual['sha256']}"
    for algo, value in expected.items():
        if actual[algo] != value:
            return f"expected {algo} {value}, got {actual[algo]}"
    return None


def verified(spec: WeightSpec) -> Path:
    """The cached copy of ``spec``'s file, checked against its pinned checksum before any use.

    A file that passed is remembered in ``<file>.verified`` (its size, modification time and the
    checksums it was checked against), so later uses cost one ``stat``; a file that changed is
    checked again. Files whose spec pins no checksum are used as they are.

    Raises:
        WeightsError: the file does not match (it is not used: delete it to download it again).
    """
    target = cached_path(spec)
    info = target.stat()
    stamp = target.with_name(target.name + ".verified")
    record = {
        "size": info.st_size,
        "mtime_ns": info.st_mtime_ns,
        "sha256": spec.sha256,
        "md5": spec.md5,
        "sha256_prefix": spec.sha256_prefix,
    }
    try:
        if json.loads(stamp.read_text()) == record:
            return target
    except (OSError, ValueError):
        pass
    mismatch = _mismatch(spec, target)
    if mismatch:
        raise WeightsError(
            f"checksum mismatch for {spec.filename} at {target}: {mismatch}; "
            "the file was not used, delete it to download it again"
        )
    with contextlib.suppress(OSError):  # a read-only cache is checked again next time
        stamp.write_text(json.dumps(record))
    return target


def fetch(spec: WeightSpec, *, progress: bool = True) -> Path:
    """Return the verified local copy of ``spec``'s file, downloading it on first use.

    The download goes to a temporary file next to the target, is verified, then renamed into
    place, so the cache never holds a partial or unverified file. Files whose spec pins no
    checksum (neither a digest nor a sha256 prefix) are used as downloaded.

    Args:
        spec: the published file.
        progress: show a progress bar on stderr while downloading.

    Returns:
        Path of the file in ``<cache_dir()>/weights/``.

    Raises:
        WeightsError: the download failed (the message says where to put the file by hand), or the
            cached or downloaded file does not match the pinned checksum (it is then not used).
    """
    target = cached_path(spec)
    if target.is_file():
        return verified(spec)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WeightsError(f"cannot create the cache folder {target.parent} ({err}); set INPAINTKIT_HOME") from None
    handle, temp_name = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".part", dir=target.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            _download(spec, out, target, progress)
        mismatch = _mismatch(spec, temp)
        if mismatch:
            raise WeightsError(
                f"checksum mismatch for {spec.filename} downloaded from {spec.url}: {mismatch}; "
                "the download was discarded"
            )
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return target


def _download(spec: WeightSpec, out: BinaryIO, target: Path, progress: bool) -> None:
    try:
        with urllib.request.urlopen(spec.url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=spec.filename, disable=not progress
            ) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (OSError, HTTPException) as err:  # URLError and HTTPError are OSErrors
        reason = getattr(err, "reason", None) or err
        raise WeightsError(
            f"could not download {spec.filename} from {spec.url} ({reason}); download it yourself and put it "
            f"at {target}, or pass --weights PATH"
        ) from None


# --------------------------------------------------------------------------------------- reading
@dataclass
class LoadedWeights:
    """A weight file's content, ready to build the network it describes.

    Attributes:
        arch: network family (a key of ``models.contract.FAMILIES``).
        config: keyword arguments of that family's config dataclass.
        state_dict: the network's tensors, named as its ``state_dict()`` names them.
        metadata: string notes (licence, source, training step ...).
        source_format: ``"inpaintkit"``, ``"lightning-lama"``, ``"torchscript-lama"``, ``"state-dict"`` or
            ``"torch7-glcic"``.
    """

    arch: str
    config: dict
    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, str]
    source_format: str


def load_weights(path: str | os.PathLike, *, trust: bool = False) -> LoadedWeights:
    """Read a weight file in any format this module knows (see the module docstring).

    Args:
        path: the file.
        trust: unpickle ``.ckpt``/``.pt`` pickles without restriction (only for files you trust).

    Returns:
        The architecture, its config and its state dict (discriminator and loss tensors dropped).

    Raises:
        WeightsError: missing, unknown, corrupt or truncated file; a pickle that needs ``trust``;
            tensors that are not those of a known network.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no weight file at {path}")
    try:
        kind = _sniff(path)
        if kind == "safetensors":
            return _read_safetensors(path)
        if kind == "torchscript":  # read as data: the archive's code never runs (no torch.jit)
            return _lama_weights(path, _read_torchscript(path), "torchscript-lama", {}, "model.generator.")
        if kind == "pickle":
            return _read_pickle(path, trust)
        if kind == "torch7":
            config, state = load_glcic_t7(path)
            return LoadedWeights("glcic", asdict(config), state, {"licence": GLCIC_T7_LICENCE}, "torch7-glcic")
    except WeightsError:
        raise
    except Exception as err:  # a damaged file can fail anywhere inside zipfile, torch or safetensors
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise WeightsError(
            f"cannot read {path} ({reason}); it may be truncated or corrupt. Readable formats: {_FORMATS}"
        ) from None
    raise WeightsError(f"{path} is not a weight file inpaintkit reads; readable formats: {_FORMATS}")


def _sniff(path: Path) -> str | None:
    with open(path, "rb") as file:
        head = file.read(9)
    if head[:4] == b"PK\x03\x04":  # torch.save and torch.jit.save both write zip archives
        names, problem = archive_contents(path)
        if problem:
            raise WeightsError(f"{path}: {problem}")
        if is_torchscript(names):
            return "torchscript"
        if any(n.endswith("data.pkl") for n in names):
            return "pickle"
        inner = next((n for n in names if n.endswith((".ckpt", ".pt", ".pth", ".safetensors"))), None)
        if inner:  # e.g. the official big-lama.zip
            raise WeightsError(f"{path} is a zip archive holding {inner}: unzip it and pass that file")
        return None
    if head[:8] == TORCH7_TABLE_HEADER:  # Torch7 binary serialisation of a table (GLCIC's .t7)
        return "torch7"
    if head[:3] == b"\x80\x02\x8a":  # legacy torch.save: a protocol-2 pickle of a long magic number
        return "pickle"
    if len(head) == 9 and head[8:] == b"{" and int.from_bytes(head[:8], "little") < path.stat().st_size:
        return "safetensors"  # 8-byte header length, then the JSON header
    return None


def _checked_views(path: Path, content: Any) -> Any:
    """``content`` as read from ``path``, unless its tensors could multiply memory (see :func:`view_problem`)."""
    problem = view_problem(content, path.stat().st_size)
    if problem:
        raise WeightsError(f"{path}: {problem}")
    return content


def _read_torchscript(path: Path) -> dict[str, torch.Tensor]:
    try:
        tensors = torchscript_tensors(path)
    except Refused as err:
        raise WeightsError(
            f"refusing to unpickle {err.name} from the TorchScript archive {path}: "
            "only modules and tensors are read from such files"
        ) from None
    except WeightsError as err:
        raise WeightsError(f"cannot read the TorchScript archive {path}: {err}") from None
    return _checked_views(path, tensors)


def _read_safetensors(path: Path) -> LoadedWeights:
    with safe_open(str(path), framework="pt", device="cpu") as file:
        metadata = dict(file.metadata() or {})
        tensors = {key: file.get_tensor(key) for key in file.keys()}
    if metadata.get("format") != "inpaintkit":
        return _lama_weights(path, tensors, "state-dict", metadata, "generator.")
    try:
        arch, config = metadata["arch"], json.loads(metadata["config"])
    except (KeyError, json.JSONDecodeError) as err:
        raise WeightsError(f"{path}: inpaintkit metadata without a readable 'arch' and 'config' ({err})") from None
    if not isinstance(config, dict):
        raise WeightsError(f"{path}: the 'config' metadata is not a JSON object")
    return LoadedWeights(arch, config, tensors, metadata, "inpaintkit")


def _read_pickle(path: Path, trust: bool) -> LoadedWeights:
    if trust:
        try:
            content = torch.load(path, map_location="cpu", weights_only=False)
        except ModuleNotFoundError as err:
            raise WeightsError(
                f"{path} needs the Python package {err.name!r} to be unpickled with trust; "
                "install it, or load the file without trust"
            ) from None
    else:
        try:
            content = torch.load(path, map_location="cpu", weights_only=False, pickle_module=RESTRICTED_PICKLE)
        except Refused as err:
            raise WeightsError(
                f"refusing to unpickle {err.name} from {path}: pass trust=True / --trust only for files you trust"
            ) from None
        except WeightsError as err:
            raise WeightsError(f"{path}: {err}") from None
    _checked_views(path, content)
    if not isinstance(content, Mapping):
        raise WeightsError(f"{path} holds a {type(content).__name__}, not a state dict; readable formats: {_FORMATS}")
    if not isinstance(content.get("state_dict"), Mapping):
        return _lama_weights(path, content, "state-dict", {}, "generator.")
    # PyTorch Lightning checkpoint: generator.* next to discriminator.* and loss_*.* tensors.
    notes = {key: str(content[key]) for key in ("epoch", "global_step", "pytorch-lightning_version") if key in content}
    hparams = content.get("hyper_parameters")
    if isinstance(hparams, StandIn):
        hparams = plain(hparams)
    generator = plain(hparams.get("generator")) if isinstance(hparams, Mapping) else None
    if not isinstance(generator, Mapping):
        return _lama_weights(path, content["state_dict"], "lightning-lama", notes, "generator.")
    try:
        config = lama.LamaConfig.from_official(generator)
    except WeightsError as err:
        raise WeightsError(f"{path}: {err}") from None
    return _lama_weights(path, content["state_dict"], "lightning-lama", notes, "generator.", config)


def _lama_weights(
    path: Path,
    tensors: Mapping[str, Any],
    source_format: str,
    metadata: dict[str, str],
    prefix: str,
    config: lama.LamaConfig | None = None,
) -> LoadedWeights:
    """Keep the ``prefix`` keys (without it) if there are any, check they are tensors, find the config."""
    if any(key.startswith(prefix) for key in tensors):
        tensors = {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}
    state = dict(tensors)
    odd = next((key for key, value in state.items() if not isinstance(value, torch.Tensor)), None)
    if not state or odd is not None:
        found = "nothing" if not state else f"'{odd}': {type(state[odd]).__name__}"
        raise WeightsError(
            f"{path} does not hold a state dict of tensors (found {found}); readable formats: {_FORMATS}"
        )
    if config is None:
        try:
            config = lama.LamaConfig.from_state_dict(state)
        except WeightsError as err:
            raise WeightsError(f"{path}: {err}") from None
    else:  # read from hyper-parameters: check it fits the tensors
        from ._state import state_mismatch  # _state imports this module

        with torch.device("meta"):
            expected = lama.LamaGenerator(config).state_dict()
        problems = state_mismatch(expected, state)
        if problems:
            raise WeightsError(
                f"{path}: the generator tensors do not fit the network its hyper-parameters describe "
                f"({config}): {problems}"
            )
    return LoadedWeights("lama", asdict(config), state, metadata, source_format)


# --------------------------------------------------------------------------------------- writing
def _refuse_overwrite(path: Path, overwrite: bool) -> None:
    """Refuse a target that exists (unless ``overwrite``) or is not named ``*.safetensors``."""
    if path.suffix != ".safetensors":
        raise WeightsError(f"{path}: a model file is written as safetensors, so its name must end in .safetensors")
    if path.exists() and not overwrite:
        raise WeightsError(f"{path} already exists; pass overwrite=True (--overwrite) to replace it")


def save_model_file(
    path: str | os.PathLike,
    arch: str,
    config: object,
    state_dict: Mapping[str, torch.Tensor],
    *,
    metadata: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write our weight format: a safetensors file whose metadata carries format, arch and config.

    Args:
        path: destination (written via a temporary file, then renamed).
        arch: network family (a key of ``models.contract.FAMILIES``).
        config: the family's config dataclass instance, or a dict of its fields.
        state_dict: the tensors (copied to contiguous CPU memory).
        metadata: extra string notes (``licence``, ``sha256_source``, ``trained`` ...).
        overwrite: replace an existing file.

    Returns:
        ``path``.

    Raises:
        WeightsError: if ``path`` exists and ``overwrite`` is false, or does not end in ``.safetensors``.
    """
    path = Path(path)
    _refuse_overwrite(path, overwrite)
    fields = asdict(config) if is_dataclass(config) and not isinstance(config, type) else dict(config)
    notes = {str(key): str(value) for key, value in (metadata or {}).items()}
    notes.update(format="inpaintkit", arch=arch, config=json.dumps(fields, sort_keys=True))
    tensors = {
        key: value.detach().to("cpu").clone(memory_format=torch.contiguous_format) for key, value in state_dict.items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.part")
    try:
        temp.write_bytes(safetensors_bytes(tensors, metadata=notes))  # a plain write: the umask sets the mode
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def convert(
    src: str | os.PathLike, dst: str | os.PathLike, *, trust: bool = False, overwrite: bool = False
) -> LoadedWeights:
    """Read ``src`` in any supported format and write it to ``dst`` in our safetensors format.

    The output's metadata records the source's format, name and sha256 (and the licence when the
    source is a published file of :data:`WEIGHT_SPECS`).

    Args:
        src: weight file to read (see :func:`load_weights`).
        dst: ``.safetensors`` file to write.
        trust: see :func:`load_weights`.
        overwrite: replace an existing ``dst``.

    Returns:
        What was read from ``src``.

    Raises:
        WeightsError: as :func:`load_weights`, or if ``dst`` exists and ``overwrite`` is false.
    """
    _refuse_overwrite(Path(dst), overwrite)
    loaded = load_weights(src, trust=trust)
    digest = sha256_file(src)
    notes = {
        **loaded.metadata,
        "source_format": loaded.source_format,
        "source_file": Path(src).name,
        "sha256_source": digest,
    }
    for spec in WEIGHT_SPECS.values():
        if spec.sha256 == digest:
            notes.update(licence=spec.licence, weights=spec.name)
    save_model_file(dst, loaded.arch, loaded.config, loaded.state_dict, metadata=notes, overwrite=overwrite)
    return loaded
