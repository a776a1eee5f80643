"""The perceptual networks of a run (LPIPS-VGG, FID's Inception-v3), batched, or notes on why they are absent."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from ..types import WeightsError, check_device
from .inception import load_fid_inception
from .lpips import load_lpips
from .scores import to_batch

log = logging.getLogger(__name__)

FID_BATCH = 8
LPIPS_BATCH = 4  # VGG16 maps of 512x512 pairs: about 0.5 GB per pair at the first layers


@dataclass
class MetricNetworks:
    """The perceptual networks of a run (either may be absent) and the notes on what was skipped.

    Attributes:
        lpips: ``(pred, target) -> (B,)`` on ``[0,1]`` batches, e.g. :class:`~.lpips.LPIPS`.
        fid: ``images -> (B, D)`` features, e.g. :class:`~.inception.FIDInceptionV3`.
        notes: one line per skipped metric, shown in the reports.
        device: where the networks run.
    """

    lpips: nn.Module | None = None
    fid: nn.Module | None = None
    notes: list[str] = field(default_factory=list)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def perceptual(self, pred: Tensor, target: Tensor) -> Tensor:
        """LPIPS distances ``(B,)`` on the CPU, computed :data:`LPIPS_BATCH` pairs at a time."""
        chunks = []
        for start in range(0, pred.shape[0], LPIPS_BATCH):
            pair = (pred[start : start + LPIPS_BATCH], target[start : start + LPIPS_BATCH])
            with torch.inference_mode():
                chunks.append(self.lpips(pair[0].to(self.device), pair[1].to(self.device)).float().cpu())
        return torch.cat(chunks)

    def features(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """FID features ``(N, D)`` of ``(H, W, 3)`` uint8 images, computed in batches."""
        chunks = []
        for start in range(0, len(images), FID_BATCH):
            batch = torch.cat([to_batch(image) for image in images[start : start + FID_BATCH]])
            with torch.inference_mode():
                chunks.append(self.fid(batch.to(self.device)).double().cpu().numpy())
        return np.concatenate(chunks)


def load_metric_networks(
    lpips: bool = True, fid: bool = True, device: str | torch.device = "cpu", progress: bool = True
) -> MetricNetworks:
    """Load LPIPS-VGG and FID's Inception with their published weights, skipping (with a note) what is absent."""
    networks = MetricNetworks(device=check_device(device))
    for wanted, label, loader, attribute in (
        (lpips, "LPIPS", load_lpips, "lpips"),
        (fid, "FID", load_fid_inception, "fid"),
    ):
        if not wanted:
            networks.notes.append(f"{label} not computed (turned off)")
            continue
        if label == "FID" and importlib.util.find_spec("scipy") is None:
            networks.notes.append("FID skipped: it needs scipy for the matrix square root (pip install scipy)")
            continue
        try:
            setattr(networks, attribute, loader(progress=progress).to(networks.device))
        except WeightsError as err:
            networks.notes.append(f"{label} skipped: {err}")
            log.warning(networks.notes[-1])
    return networks
