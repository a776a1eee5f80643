"""Pipelines: validate -> preprocess -> model -> postprocess -> composite -> result.

``processing`` holds the small pure functions they are made of.
"""

from .inpaint import HD_STRATEGIES, InpaintPipeline
from .outpaint import OutpaintPipeline, OutpaintResult, outpaint

__all__ = ["HD_STRATEGIES", "InpaintPipeline", "OutpaintPipeline", "OutpaintResult", "outpaint"]
