"""What ``inpaintkit models`` shows, without importing torch or building a network.

The registry (:mod:`inpaintkit.registry`) is the one source of truth; :func:`inpaintkit.registry.catalog`
turns it into plain rows (name, kind, parameter count ...) and ``python -m inpaintkit.registry``
writes them to ``inpaintkit/assets/catalog.json``, which a test keeps equal to the registry. This
module reads that file and works out what depends on the machine (which weight files are present,
which optional packages load) from paths alone, so the listing answers in a fraction of a second.
The rules for that (a model's weight status, the command that makes it ready, the default model)
live here once and the registry uses them too.

It also holds what upstream projects publish (:class:`WeightSpec`, :data:`WEIGHT_SPECS`) and where
downloads are cached, which the registry and :mod:`inpaintkit.weights` read.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Where the weight files we train and ship with the package live.
ASSETS_DIR = Path(__file__).parent / "assets"
#: The registry as plain rows (written by ``python -m inpaintkit.registry``).
CATALOG_FILE = ASSETS_DIR / "catalog.json"


def cache_dir() -> Path:
    """Root of the local cache: ``$INPAINTKIT_HOME`` or ``~/.cache/inpaintkit``."""
    home = os.environ.get("INPAINTKIT_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache" / "inpaintkit"


#: Licence of the GLCIC authors' released models (their README).
GLCIC_T7_LICENCE = "CC BY-NC-SA 4.0"


@dataclass(frozen=True)
class WeightSpec:
    """A published weight file.

    Attributes:
        name: registry name the weights belong to.
        url: where the upstream project publishes the file.
        filename: file name in the cache (``<cache_dir()>/weights/<filename>``).
        sha256: expected SHA-256 hex digest; ``None`` when no public source states one.
        licence: licence of the weights.
        format: ``"torchscript-lama"``, ``"lightning-lama"`` or ``"inpaintkit"``.
        input_convention: what the network expects, in short.
        md5: expected MD5 hex digest when upstream pins one (checked as well as sha256).
        sha256_prefix: the leading hex digits of the SHA-256 when upstream publishes only those
            (torchvision names its files ``<name>-<first 8 hex digits>.pth``); checked when
            ``sha256`` is ``None``.
        size_mb: download size in MiB.
        note: provenance of the file and its checksums.
    """

    name: str
    url: str
    filename: str
    sha256: str | None
    licence: str
    format: str
    input_convention: str
    md5: str | None = None
    sha256_prefix: str | None = None
    size_mb: float | None = None
    note: str = ""


#: Published weights by registry name.
WEIGHT_SPECS: dict[str, WeightSpec] = {
    "big-lama": WeightSpec(
        name="big-lama",
        url="https://github.com/Sanster/models/releases/download/add_big_lama/big-lama.pt",
        filename="big-lama.pt",
        sha256="344c77bbcb158f17dd143070d1e789f38a66c04202311ae3a258ef66667a9ea9",
        md5="e3aa4aaa15225a33ec84f9f4bc47e500",
        licence="Apache-2.0",
        format="torchscript-lama",
        input_convention="RGB in [0,1], mask 1=hole (binarised > 0), H and W padded to a multiple of 8",
        size_mb=196.1,
        note=(
            "IOPaint's TorchScript export of the official big-lama weights (Places2), 205,669,692 bytes. "
            "md5 = the LAMA_MODEL_MD5 that IOPaint pins; sha256 as pinned by several independent public "
            "projects that use this file (IOPaint itself states none). The official release is "
            "big-lama.zip (config.yaml + models/best.ckpt, no published checksum) from "
            "https://huggingface.co/smartywu/big-lama/resolve/main/big-lama.zip; "
            "`inpaintkit convert` reads its best.ckpt."
        ),
    ),
    "glcic": WeightSpec(
        name="glcic",
        url="http://hi.cs.waseda.ac.jp/~iizuka/data/completionnet_places2.t7",
        filename="completionnet_places2.t7",
        sha256=None,
        md5="b1527543a0ee22c23fca44cefdf48531",
        licence=GLCIC_T7_LICENCE,
        format="torch7-glcic",
        input_convention="RGB in [0,1] minus the file's mean, holes set to 0, mask as a 4th channel; H and W "
        "multiples of 4",
        size_mb=47.0,
        note=(
            "The GLCIC authors' completion network trained on Places2 (satoshiiizuka/siggraph2017_inpainting), "
            "a Torch7 file read by inpaintkit.torch7. The md5 is the one the authors' download_model.sh checks "
            "(it also states sha1 4206897fd900b6a5509491900a2c6fb521bf272e); no sha256 is published."
        ),
    ),
    # Frozen feature extractors of the training losses (inpaintkit.losses.perceptual.load_backbone).
    "ade20k-resnet50dilated": WeightSpec(
        name="ade20k-resnet50dilated",
        url="http://sceneparsing.csail.mit.edu/model/pytorch/ade20k-resnet50dilated-ppm_deepsup/encoder_epoch_20.pth",
        filename="ade20k-resnet50dilated-ppm_deepsup-encoder_epoch_20.pth",
        sha256=None,
        licence="BSD-3-Clause",
        format="state-dict",
        input_convention="RGB in [0,1] normalised with the ImageNet mean/std (done by the backbone)",
        note=(
            "Encoder of the MIT scene-parsing model ade20k-resnet50dilated-ppm_deepsup "
            "(CSAILVision/semantic-segmentation-pytorch), a plain state dict; the file LaMa's "
            "high-receptive-field perceptual loss loads from $TORCH_HOME/ade20k/ (LaMa README). "
            "No public source states a checksum."
        ),
    ),
    "vgg19": WeightSpec(
        name="vgg19",
        url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        filename="vgg19-dcbb9e9d.pth",
        sha256=None,
        sha256_prefix="dcbb9e9d",
        licence="BSD-3-Clause",
        format="state-dict",
        input_convention="RGB in [0,1] normalised with the ImageNet mean/std (done by the backbone)",
        size_mb=548.1,
        note=(
            "torchvision's VGG19_Weights.IMAGENET1K_V1 (features.* and classifier.*). torchvision "
            "publishes no full digest; its file name carries the first 8 hex digits of the sha256 "
            "(dcbb9e9d), which fetch checks."
        ),
    ),
    # Networks of the evaluation metrics (inpaintkit.evaluation): LPIPS (VGG) and FID.
    "vgg16": WeightSpec(
        name="vgg16",
        url="https://download.pytorch.org/models/vgg16-397923af.pth",
        filename="vgg16-397923af.pth",
        sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
        licence="BSD-3-Clause",
        format="state-dict",
        input_convention="LPIPS input: RGB in [-1,1], shifted and scaled by LPIPS's ScalingLayer",
        size_mb=527.8,
        note=(
            "torchvision's VGG16_Weights.IMAGENET1K_V1 (features.* and classifier.*), the trunk LPIPS-VGG "
            "uses. Its file name carries the first 8 hex digits of the sha256 (397923af); the full digest is "
            "the one public projects that pin this file state."
        ),
    ),
    "lpips-vgg-v0.1": WeightSpec(
        name="lpips-vgg-v0.1",
        url="https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth",
        filename="lpips-vgg-v0.1.pth",
        sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
        licence="BSD-2-Clause",
        format="state-dict",
        input_convention="squared differences of unit-normalised VGG16 features (lin0 ... lin4)",
        size_mb=0.007,
        note=(
            "The LPIPS v0.1 linear layers of the VGG variant (lin0.model.1.weight ... lin4.model.1.weight), "
            "7,289 bytes. The sha256 is the one the lpips 0.1.4 wheel on PyPI records for "
            "lpips/weights/v0.1/vgg.pth, so that file (pip download lpips==0.1.4 --no-deps, then unzip) is "
            "the same download."
        ),
    ),
    "fid-inception-v3": WeightSpec(
        name="fid-inception-v3",
        url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        filename="pt_inception-2015-12-05-6726825d.pth",
        sha256=None,
        licence="Apache-2.0",
        format="state-dict",
        input_convention="RGB in [0,1], resized to 299x299 (bilinear) and mapped to [-1,1] by the network",
        note=(
            "pytorch-fid's port of TensorFlow's inception-2015-12-05 graph, the network FID is defined "
            "with. No public source states a full digest, and the 6726825d in the name is not documented "
            "as one; the file is checked by its exact tensor names and shapes instead."
        ),
    ),
}


def cached_path(spec: WeightSpec) -> Path:
    """Where :func:`fetch` keeps ``spec``'s file (it may not exist yet)."""
    return cache_dir() / "weights" / spec.filename


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


#: The default for filling holes when its published weights are in the cache (the registry explains the choice).
DEFAULT_DOWNLOADED = "big-lama"
#: The defaults when lama-small's weights are installed (the registry explains the choice), and the model
#: whose weights decide it.
DEFAULT_TRAINED = "lama-detail"
DEFAULT_OUTPAINT_TRAINED = "lama-small"
DEFAULT_WEIGHTS_OF = "lama-small"

#: The command that installs each optional package a model may require.
INSTALL_COMMANDS: dict[str, str] = {"patchmatch": "pip install pypatchmatch"}


def enable_command(
    name: str,
    kind: str,
    available: bool,
    bundled: bool,
    download: bool | None,
    recipe: str | None,
    requires: str | None,
) -> str | None:
    """The command that makes a model ready on this machine, or ``None`` when it is ready (or no command can).

    Args:
        name: its registry name.
        kind, available, bundled, download, recipe: as :func:`weights_status`.
        requires: the optional package it needs (a key of :data:`OPTIONAL_PACKAGES`).
    """
    if not available:
        return INSTALL_COMMANDS.get(requires or "", f"pip install {requires}")
    if kind == "classical" or bundled or download:
        return None
    if download is not None:
        return f"inpaintkit download {name}"
    return f"inpaintkit train {recipe}" if recipe else None


def read_catalog() -> list[dict]:
    """The rows of :data:`CATALOG_FILE`, in listing order."""
    return json.loads(CATALOG_FILE.read_text(encoding="utf-8"))


def row_state(row: dict) -> tuple[bool, bool, bool | None]:
    """``(available, bundled, download)`` of one catalog row on this machine (see :func:`weights_status`)."""
    available = OPTIONAL_PACKAGES[row["requires"]]() if row["requires"] else True
    bundled = row["bundled"] is not None and (ASSETS_DIR / row["bundled"]).is_file()
    download = None if row["download"] is None else (cache_dir() / "weights" / row["download"]).is_file()
    return available, bundled, download


def _row_status(row: dict) -> str:
    """The weight status of one catalog row on this machine (see :func:`weights_status`)."""
    return weights_status(row["kind"], *row_state(row), row["recipe"])


def _default(trained: str, downloaded: str | None) -> tuple[str, str]:
    """The default model and why, in a few words (see :func:`default_model`)."""
    rows = {row["name"]: row for row in read_catalog()}
    reasons = []
    if downloaded is not None:
        path = cache_dir() / "weights" / rows[downloaded]["download"]
        if path.is_file():
            return downloaded, f"its weights are in {path}"
        reasons.append(f"{downloaded}'s weights are not downloaded: inpaintkit download {downloaded}")
    if _row_status(rows[DEFAULT_WEIGHTS_OF]) in ("bundled", "present"):
        return trained, "; ".join(reasons) or f"{DEFAULT_WEIGHTS_OF}'s weights are installed"
    reasons.append(f"{DEFAULT_WEIGHTS_OF}'s weights are not installed")
    if _row_status(rows["patchmatch"]) == "none needed":
        return "patchmatch", "; ".join(reasons)
    return "telea", "; ".join([*reasons, f"patchmatch needs {INSTALL_COMMANDS['patchmatch']}"])


def default_model(trained: str = DEFAULT_TRAINED, downloaded: str | None = DEFAULT_DOWNLOADED) -> str:
    """The model used when none is named, worked out from file paths alone: ``downloaded``
    (:data:`DEFAULT_DOWNLOADED`, big-lama, for filling holes; ``None`` for outpainting) when its
    published weights are in the cache, else ``trained`` (:data:`DEFAULT_TRAINED` for filling holes,
    :data:`DEFAULT_OUTPAINT_TRAINED` for outpainting) when lama-small's weights are installed, else
    PatchMatch if its package loads, else Telea."""
    return _default(trained, downloaded)[0]


def default_line() -> str:
    """One line for ``inpaintkit models``: the default for filling holes and why, e.g.
    ``default: lama-detail (big-lama's weights are not downloaded: inpaintkit download big-lama)``."""
    name, why = _default(DEFAULT_TRAINED, DEFAULT_DOWNLOADED)
    return f"default: {name} ({why})"


def listing() -> list[tuple[str, ...]]:
    """The ``inpaintkit models`` table: header, then one row per model (the default marked)."""
    default = default_model()
    table = [("name", "kind", "parameters", "weights", "licence")]
    for row in read_catalog():
        name = row["name"] + (" (default)" if row["name"] == default else "")
        params = "-" if row["parameters"] is None else f"{row['parameters']:,}"
        table.append((name, row["kind"], params, _row_status(row), row["licence"]))
    return table
