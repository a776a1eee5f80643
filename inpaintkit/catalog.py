"""What ``inpaintkit models`` shows, without importing torch or building a network.

The registry (:mod:`inpaintkit.registry`) is the one source of truth; :func:`inpaintkit.registry.catalog`
turns it into plain rows (name, kind, parameter count ...) and ``python -m inpaintkit.registry``
writes them to ``inpaintkit/assets/catalog.json``, which a test keeps equal to the registry. This
module reads that file and works out what depends on the machine (which weight files are present,
which optional packages load) from paths alone, so the listing answers in a fraction of a second.
The rules for that (a model's weight status, the default model) live here once and the registry
uses them too.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
from collections.abc import Callable
from pathlib import Path

#: Where the weight files we train and ship with the package live.
ASSETS_DIR = Path(__file__).parent / "assets"
#: The registry as plain rows (written by ``python -m inpaintkit.registry``).
CATALOG_FILE = ASSETS_DIR / "catalog.json"


def cache_dir() -> Path:
    """Root of the local cache: ``$INPAINTKIT_HOME`` or ``~/.cache/inpaintkit``."""
    home = os.environ.get("INPAINTKIT_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache" / "inpaintkit"


@functools.cache
def patchmatch_available() -> bool:
    """Whether ``pypatchmatch`` is installed and its native library loads (checked once)."""
    try:
        module = importlib.import_module("patchmatch")
    except (ImportError, OSError):
        return False
    return bool(getattr(module, "patchmatch_available", False))


#: Checks of the optional packages a model may require, by the name its catalog row gives.
OPTIONAL_PACKAGES: dict[str, Callable[[], bool]] = {"patchmatch": patchmatch_available}


def weights_status(kind: str, available: bool, bundled: bool, download: bool | None, recipe: str | None) -> str:
    """One phrase for listings: ``none needed``, ``bundled``, ``present``, ``not downloaded`` ...

    Args:
        kind: ``learned``, ``classical`` or ``optimisation``.
        available: whether its optional package loads.
        bundled: whether its shipped weights are in the package.
        download: whether its published weights are in the cache (``None``: it has none).
        recipe: the training recipe that makes its weights, if any.
    """
    if kind == "classical":
        return "none needed" if available else "package missing"
    if bundled:
        return "bundled"
    if download is not None:
        return "present" if download else "not downloaded"
    return f"not shipped (train: {recipe})" if recipe else "no published weights"


#: The defaults when lama-small's weights are installed (the registry explains the choice), and the model
#: whose weights decide it.
DEFAULT_TRAINED = "lama-detail"
DEFAULT_OUTPAINT_TRAINED = "lama-small"
DEFAULT_WEIGHTS_OF = "lama-small"


def first_ready(trained: str, weights_present: Callable[[], bool], patchmatch_available: Callable[[], bool]) -> str:
    """The default model's rule: ``trained`` when its weights are installed, else PatchMatch if its
    package loads, else Telea (which needs nothing)."""
    if weights_present():
        return trained
    return "patchmatch" if patchmatch_available() else "telea"


def read_catalog() -> list[dict]:
    """The rows of :data:`CATALOG_FILE`, in listing order."""
    return json.loads(CATALOG_FILE.read_text(encoding="utf-8"))


def listing() -> list[tuple[str, ...]]:
    """The ``inpaintkit models`` table: header, then one row per model (the default marked)."""
    rows = read_catalog()

    def status(row: dict) -> str:
        available = OPTIONAL_PACKAGES[row["requires"]]() if row["requires"] else True
        bundled = row["bundled"] is not None and (ASSETS_DIR / row["bundled"]).is_file()
        download = None if row["download"] is None else (cache_dir() / "weights" / row["download"]).is_file()
        return weights_status(row["kind"], available, bundled, download, row["recipe"])

    statuses = {row["name"]: status(row) for row in rows}
    default = first_ready(
        DEFAULT_TRAINED,
        lambda: statuses[DEFAULT_WEIGHTS_OF] in ("bundled", "present"),
        lambda: statuses["patchmatch"] == "none needed",
    )
    table = [("name", "kind", "parameters", "weights", "licence")]
    for row in rows:
        name = row["name"] + (" (default)" if row["name"] == default else "")
        params = "-" if row["parameters"] is None else f"{row['parameters']:,}"
        table.append((name, row["kind"], params, statuses[row["name"]], row["licence"]))
    return table
