"""Training data: image folders with random crops and masks, a fixed validation set, the step sampler.

* :mod:`.folder`: :class:`ImageFolder` (per-sample seeded crops, flips and masks; unreadable files
  skipped with a counted warning) and :func:`validation_set`;
* :mod:`.sampler`: :class:`StepBatchSampler`, the sample order as a function of (seed, step, rank).
"""

from .folder import IMAGE_SUFFIXES, ImageFolder, center_crop, list_images, read_rgb, readable_images, validation_set
from .sampler import StepBatchSampler

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageFolder",
    "center_crop",
    "list_images",
    "read_rgb",
    "readable_images",
    "validation_set",
    "StepBatchSampler",
]
