"""Learned inpainting networks, one paper per module (``lama``, ``glcic``, ...).

Each module holds its config dataclass, its presets and every ``nn.Module`` of its paper; import
the module you need (``from inpaintkit.models import lama``).
"""
