"""Evaluation: the standard protocols, perceptual metrics and browsable reports (``inpaintkit eval``).

* :mod:`.protocol`: images (short side resized, centre crop) and mask sets (LaMa thin/medium/thick,
  GLCIC boxes, outpainting borders, folders);
* :mod:`.runner`: the resumable run loop and its :class:`EvalReport`; :mod:`.networks`: the metric networks;
* :mod:`.report`: ``summary.md``, ``index.html`` and example grids;
* :mod:`.lpips`, :mod:`.inception`, :mod:`.fid`: LPIPS-VGG, FID's Inception-v3 and the Frechet distance;
* :mod:`.diversity`: mean pairwise distances between several completions of one input;
* :mod:`.command`: :func:`run_eval` and the ``eval`` command's arguments.
"""

from .command import format_command, run_eval
from .diversity import MultiSampleInpainter, pairwise_diversity
from .fid import feature_statistics, fid_from_features, frechet_distance
from .inception import FIDInceptionV3, load_fid_inception
from .lpips import LPIPS, VGG16Features, load_lpips, lpips_distance, lpips_vgg
from .networks import MetricNetworks, load_metric_networks
from .protocol import Protocol, build_protocol, prepare_image
from .runner import EvalReport, evaluate
from .scores import AREA_BINS, area_bin, hole_rmse_255, pixel_scores

__all__ = [
    "format_command",
    "run_eval",
    "MultiSampleInpainter",
    "pairwise_diversity",
    "feature_statistics",
    "fid_from_features",
    "frechet_distance",
    "FIDInceptionV3",
    "load_fid_inception",
    "LPIPS",
    "VGG16Features",
    "load_lpips",
    "lpips_distance",
    "lpips_vgg",
    "Protocol",
    "build_protocol",
    "prepare_image",
    "EvalReport",
    "MetricNetworks",
    "evaluate",
    "load_metric_networks",
    "AREA_BINS",
    "area_bin",
    "hole_rmse_255",
    "pixel_scores",
]
