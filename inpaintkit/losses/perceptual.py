"""Perceptual losses on frozen pretrained networks, and loading those networks' published weights.

* :func:`perceptual_loss` / :class:`PerceptualLoss`: the **sum** over a backbone's feature maps of
  the mean squared error between the prediction's and the target's features (each map averaged
  over all its elements). With :class:`~inpaintkit.models.backbones.ResNet50Dilated` this is LaMa's
  high-receptive-field perceptual loss (``ResNetPL`` in ``saicinpainting/training/losses/
  perceptual.py`` of https://github.com/advimman/lama: the four stage outputs of the ADE20k
  encoder, ImageNet-normalised inputs, unmasked). With
  :class:`~inpaintkit.models.backbones.VGG19Features` (taps ``relu1_1`` .. ``relu5_1``) it is a
  plain VGG perceptual loss over the whole image. (LaMa's own VGG loss, off in all its released
  configs, differs: known area only, average pooling, every ReLU of the first four blocks.)
* :func:`load_backbone`: build a backbone with its published weights (never random ones).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..models.backbones import FrozenBackbone, ResNet50Dilated, VGG19Features
from ..types import InputError, WeightsError
from ..weights import WEIGHT_SPECS, cached_path, fetch, sha256_file


def perceptual_loss(pred_features: Sequence[Tensor], target_features: Sequence[Tensor]) -> Tensor:
    """``sum over layers of MSE(pred_l, target_l)`` (targets detached).

    Args:
        pred_features: feature maps of the prediction.
        target_features: feature maps of the target, same number and shapes.

    Returns:
        A scalar.
    """
    if len(pred_features) != len(target_features) or not pred_features:
        raise InputError(f"perceptual_loss needs the same non-zero number of feature maps, "
                         f"got {len(pred_features)} and {len(target_features)}")  # fmt: skip
    return torch.stack([F.mse_loss(p, t.detach()) for p, t in zip(pred_features, target_features)]).sum()


class PerceptualLoss(nn.Module):
    """:func:`perceptual_loss` on the features of a frozen backbone.

    Args:
        backbone: maps ``[0, 1]`` images to a list or a dict of feature maps (a
            :class:`~inpaintkit.models.backbones.FrozenBackbone`).

    Shape:
        pred, target ``(B, 3, H, W)`` in ``[0, 1]`` -> scalar.
    """

    def __init__(self, backbone: FrozenBackbone) -> None:
        super().__init__()
        self.backbone = backbone

    def features(self, image: Tensor) -> list[Tensor]:
        """The backbone's feature maps of ``image`` as a list."""
        out = self.backbone(image)
        return list(out.values()) if isinstance(out, Mapping) else list(out)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        with torch.no_grad():
            target_features = self.features(target)
        return perceptual_loss(self.features(pred), target_features)


# --------------------------------------------------------------------------------- loading
#: Backbones by weight name (a key of ``weights.WEIGHT_SPECS``): constructor, and the prefixes of
#: tensors in the published file that the backbone does not use.
BACKBONES: dict[str, tuple[Callable[[], FrozenBackbone], tuple[str, ...]]] = {
    "ade20k-resnet50dilated": (ResNet50Dilated, ()),
    "vgg19": (VGG19Features, ("classifier.",)),
}

#: torchvision names its files ``<name>-<first 8 hex digits of the sha256>.pth`` and publishes no
#: full digest: where a spec pins no sha256, the downloaded file's digest must start with this.
SHA256_PREFIXES: dict[str, str] = {"vgg19": "dcbb9e9d"}


def load_backbone(name: str, path: str | os.PathLike | None = None, *, progress: bool = True) -> FrozenBackbone:
    """Build backbone ``name`` with its published weights, frozen.

    Args:
        name: a key of :data:`BACKBONES` (``"ade20k-resnet50dilated"`` or ``"vgg19"``).
        path: a local copy of the weight file; ``None`` = the registered download (cached in
            ``<cache_dir()>/weights/``, fetched on first use).
        progress: show a progress bar while downloading.

    Returns:
        The backbone in eval mode, its parameters not requiring gradients.

    Raises:
        WeightsError: the file is absent and cannot be downloaded (the message names the file, its
            URL and where to put it), fails its checksum, or does not hold exactly this backbone's
            tensors (``num_batches_tracked`` counters may be absent).
    """
    if name not in BACKBONES:
        raise WeightsError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
    file = _fetch_published(name, progress) if path is None else Path(path)
    if not file.is_file():
        raise WeightsError(f"no {name} weight file at {file}")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged or foreign file can fail anywhere inside torch.load
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise WeightsError(f"cannot read {file} as {name} weights ({reason})") from None
    build, unused = BACKBONES[name]
    backbone = build()
    _load_exact(backbone, state, unused, f"{file} ({name} weights)")
    return backbone.freeze()


def _fetch_published(name: str, progress: bool) -> Path:
    spec = WEIGHT_SPECS[name]
    target = cached_path(spec)
    was_cached = target.is_file()
    try:
        file = fetch(spec, progress=progress)
    except WeightsError as err:
        if was_cached or str(err).startswith("checksum mismatch"):
            raise
        raise WeightsError(f"the {name} weights {spec.filename} are missing: not in the cache and the download "
                           f"from {spec.url} failed; download that file and put it at {target}") from None  # fmt: skip
    prefix = SHA256_PREFIXES.get(name)
    if spec.sha256 is None and prefix and not sha256_file(file).startswith(prefix):
        raise WeightsError(f"checksum mismatch for {spec.filename} at {file}: its sha256 does not start with "
                           f"{prefix}; the file was not used, delete it to download it again")  # fmt: skip
    return file


def _load_exact(module: nn.Module, state: object, unused: tuple[str, ...], what: str) -> None:
    """Load ``state`` into ``module``, requiring every tensor with its shape (BN counters optional)."""
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightsError(f"{what}: expected a state dict of tensors, got {type(state).__name__}")
    state = {key: value for key, value in state.items() if not key.startswith(unused)}
    expected = module.state_dict()
    optional = {key for key in expected if key.endswith("num_batches_tracked")}
    missing = [key for key in expected if key not in state and key not in optional]
    extra = [key for key in state if key not in expected]
    wrong = [f"{key} {tuple(state[key].shape)} instead of {tuple(value.shape)}"
             for key, value in expected.items() if key in state and state[key].shape != value.shape]  # fmt: skip
    found = {"missing": missing, "unexpected": extra, "wrong shape": wrong}
    problems = [f"{label} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}" for label, keys in found.items() if keys]
    if problems:
        raise WeightsError(f"{what} does not hold the expected tensors: {'; '.join(problems)}")
    module.load_state_dict({**{key: expected[key] for key in optional}, **state})
