"""LaMa: the Fast-Fourier-Convolution ResNet generator (``ffc_resnet``).

Paper: R. Suvorov et al., "Resolution-robust Large Mask Inpainting with Fourier Convolutions",
WACV 2022, arXiv:2109.07161 (FFC itself: L. Chi et al., "Fast Fourier Convolution", NeurIPS 2020).
Reference code: https://github.com/advimman/lama (Apache-2.0),
``saicinpainting/training/modules/ffc.py``. This is an independent implementation whose module and
attribute names follow the reference, so the released ``big-lama`` weights load unchanged
(state-dict keys ``model.<index>....``).

Conversion done here: the network sees ``cat([image * (1 - mask), mask])`` (image in [0, 1], holes
zeroed, mask 1 = hole, i.e. the project convention; ``LamaConfig.prefill = "pushpull"``, a project
option for small CPU-trained models, fills the holes smoothly instead of zeroing them, and
``"telea"`` with OpenCV's Telea; ``LamaConfig.residual`` makes the network predict a correction to
that filled image instead of the whole frame) and ends in a sigmoid (a residual network: in a
clamp), so its raw output is an image in [0, 1]. Padding to a multiple of ``2 ** n_downsampling``
and compositing with the known pixels are the pipeline's job.

Layout of ``LamaGenerator.model`` (n = n_downsampling, b = n_blocks, width(i) = min(max_features,
ngf * 2**i)):

    0                ReflectionPad2d(3)
    1                FFCBlock input_nc -> ngf, 7x7, local only
    2 .. n+1         FFCBlock width(i) -> width(i+1), 3x3 stride 2; the last one splits its output
                     into a local and a global part (global share ``ratio_g``)
    n+2 .. n+b+1     FFCResnetBlock(width(n)) with global share ``ratio_g`` in and out
    n+b+2            ConcatTupleLayer: cat([local, global])
    then             n x [ConvTranspose2d 3x3 stride 2, BatchNorm2d, ReLU], halving the width
    then             ReflectionPad2d(3), Conv2d(ngf, output_nc, 7); the sigmoid (or, for a
                     residual network, the addition to the prefilled image) is in ``forward``

Deliberate deviations from the reference code (none changes the weights or the maths):

* only what the released configs use exists: no local Fourier unit (LFU), no spatial-transform
  wrapper, no gating, no output FFC; :meth:`LamaConfig.from_official` rejects the rest;
* an absent branch is ``None`` instead of the integer 0;
* the FFT runs in at least float32 (half-precision FFTs only accept power-of-two sizes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from ..catalog import WEIGHT_SPECS
from ..classical.pushpull import pushpull_fill
from ..registry import TRAINED_HERE, ModelSpec, register_models
from ..types import InputError, SizeRule, WeightsError
from ._layers import check_spatial_size, finish_output, init_head, telea_fill
from .contract import Family, Inpainter, register_family

#: A (local, global) feature pair; either part may be absent.
Features = tuple[Tensor | None, Tensor | None]


def split_channels(channels: int, ratio_global: float) -> tuple[int, int]:
    """Split ``channels`` into (local, global) counts the way the reference does.

    Args:
        channels: total number of channels.
        ratio_global: share of global channels in ``[0, 1]``; the global count is
            ``int(channels * ratio_global)`` (rounded down), the local one the rest.

    Returns:
        ``(local, global)`` channel counts.
    """
    n_global = int(channels * ratio_global)
    return channels - n_global, n_global


def _add(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """Sum of two optional tensors (``None`` counts as an absent term)."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _as_pair(x: Tensor | Features) -> Features:
    """A plain tensor is a local-only feature map."""
    return x if isinstance(x, tuple) else (x, None)


# ---------------------------------------------------------------------------------------------
# Fourier unit and spectral transform: the global (image-wide) path of an FFC.
# ---------------------------------------------------------------------------------------------


def fourier_unit(x: Tensor, spectral_op: Callable[[Tensor], Tensor]) -> Tensor:
    """Apply ``spectral_op`` to the 2-D real spectrum of ``x`` and transform back.

    The spectrum ``rfftn(x, dim=(H, W), norm='ortho')`` is turned into real channels with real and
    imaginary parts interleaved per channel (``c0.re, c0.im, c1.re, c1.im, ...``). ``spectral_op``
    maps that tensor to another one laid out the same way, which is turned back into a complex
    spectrum and inverted with ``irfftn(s=(H, W))``, so odd sizes come back exactly.

    Args:
        x: real feature map.
        spectral_op: the per-frequency operation (in LaMa: 1x1 conv, BatchNorm, ReLU).

    Returns:
        The spatial result, same dtype as ``x``.

    Shape:
        x ``(B, C, H, W)``; spectral_op ``(B, 2C, H, W//2+1) -> (B, 2C', H, W//2+1)``;
        output ``(B, C', H, W)``.
    """
    h, w = x.shape[-2:]
    work_dtype = torch.promote_types(x.dtype, torch.float32)
    spectrum = torch.fft.rfftn(x.to(work_dtype), dim=(-2, -1), norm="ortho")
    interleaved = torch.stack((spectrum.real, spectrum.imag), dim=2).flatten(1, 2)
    mixed = spectral_op(interleaved.to(x.dtype)).to(work_dtype).unflatten(1, (-1, 2))
    spectrum = torch.complex(mixed[:, :, 0], mixed[:, :, 1])
    return torch.fft.irfftn(spectrum, s=(h, w), dim=(-2, -1), norm="ortho").to(x.dtype)


class FourierUnit(nn.Module):
    """Global convolution: a 1x1 conv + BatchNorm + ReLU applied in the Fourier domain.

    Shape: ``(B, in_channels, H, W) -> (B, out_channels, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_layer = nn.Conv2d(2 * in_channels, 2 * out_channels, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(2 * out_channels)
        self.act = nn.ReLU(inplace=True)

    def _spectral_op(self, spectrum: Tensor) -> Tensor:
        return self.act(self.bn(self.conv_layer(spectrum)))

    def forward(self, x: Tensor) -> Tensor:
        return fourier_unit(x, self._spectral_op)


class SpectralTransform(nn.Module):
    """The global->global path of an FFC: ``conv2(y + fu(y))`` with ``y = conv1(x)``.

    ``conv1`` halves the width (1x1 conv, BatchNorm, ReLU), ``fu`` is a :class:`FourierUnit` at that
    width and ``conv2`` (1x1) restores ``out_channels``.

    Shape: ``(B, in_channels, H, W) -> (B, out_channels, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        hidden = out_channels // 2
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
        )
        self.fu = FourierUnit(hidden, hidden)
        self.conv2 = nn.Conv2d(hidden, out_channels, kernel_size=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv1(x)
        return self.conv2(y + self.fu(y))


# ---------------------------------------------------------------------------------------------
# Fast Fourier Convolution and the blocks built from it.
# ---------------------------------------------------------------------------------------------


class FFC(nn.Module):
    """Fast Fourier Convolution on a (local, global) channel split.

    ``out_l = convl2l(x_l) + convg2l(x_g)`` and ``out_g = convl2g(x_l) + convg2g(x_g)``, where the
    first three are ordinary convolutions (reflect padding, no bias) and ``convg2g`` is a
    :class:`SpectralTransform`. A path with zero input or output channels is ``nn.Identity`` (no
    weights) and contributes nothing.

    Args:
        in_channels, out_channels: total widths (local + global).
        kernel_size, stride, padding: of the spatial convolutions.
        ratio_gin, ratio_gout: global share of the input and the output channels.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        ratio_gin: float = 0.0,
        ratio_gout: float = 0.0,
        stride: int = 1,
        padding: int = 0,
    ) -> None:
        super().__init__()
        self.in_cl, self.in_cg = split_channels(in_channels, ratio_gin)
        self.out_cl, self.out_cg = split_channels(out_channels, ratio_gout)
        if self.in_cg and self.out_cg and stride != 1:
            raise InputError("FFC: a strided global->global path is not supported (LaMa never uses one)")

        def spatial_conv(cin: int, cout: int) -> nn.Module:
            if cin == 0 or cout == 0:
                return nn.Identity()
            return nn.Conv2d(cin, cout, kernel_size, stride, padding, bias=False, padding_mode="reflect")

        self.convl2l = spatial_conv(self.in_cl, self.out_cl)
        self.convl2g = spatial_conv(self.in_cl, self.out_cg)
        self.convg2l = spatial_conv(self.in_cg, self.out_cl)
        has_g2g = self.in_cg > 0 and self.out_cg > 0
        self.convg2g = SpectralTransform(self.in_cg, self.out_cg) if has_g2g else nn.Identity()

    def forward(self, x: Tensor | Features) -> Features:
        x_l, x_g = _as_pair(x)
        if self.in_cg and x_g is None:
            raise InputError(f"FFC expects a global input with {self.in_cg} channels, got none")
        local_in = x_l if self.in_cl else None
        global_in = x_g if self.in_cg else None

        def path(conv: nn.Module, inp: Tensor | None, out_channels: int) -> Tensor | None:
            return conv(inp) if inp is not None and out_channels else None

        out_l = _add(path(self.convl2l, local_in, self.out_cl), path(self.convg2l, global_in, self.out_cl))
        out_g = _add(path(self.convl2g, local_in, self.out_cg), path(self.convg2g, global_in, self.out_cg))
        return out_l, out_g


class FFCBlock(nn.Module):
    """FFC, then BatchNorm and ReLU on each branch (the reference calls it ``FFC_BN_ACT``).

    Args: as :class:`FFC`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        ratio_gin: float = 0.0,
        ratio_gout: float = 0.0,
        stride: int = 1,
        padding: int = 0,
    ) -> None:
        super().__init__()
        self.ffc = FFC(in_channels, out_channels, kernel_size, ratio_gin, ratio_gout, stride, padding)
        out_cl, out_cg = self.ffc.out_cl, self.ffc.out_cg
        self.bn_l = nn.BatchNorm2d(out_cl) if out_cl else nn.Identity()
        self.bn_g = nn.BatchNorm2d(out_cg) if out_cg else nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor | Features) -> Features:
        x_l, x_g = self.ffc(x)
        if x_l is not None:
            x_l = self.act(self.bn_l(x_l))
        if x_g is not None:
            x_g = self.act(self.bn_g(x_g))
        return x_l, x_g


class FFCResnetBlock(nn.Module):
    """Two 3x3 :class:`FFCBlock` s with a residual connection on both branches.

    Args:
        dim: total width (local + global), kept throughout.
        ratio_g: global share of the channels.
    """

    def __init__(self, dim: int, ratio_g: float) -> None:
        super().__init__()
        self.conv1 = FFCBlock(dim, dim, 3, ratio_g, ratio_g, padding=1)
        self.conv2 = FFCBlock(dim, dim, 3, ratio_g, ratio_g, padding=1)

    def forward(self, x: Tensor | Features) -> Features:
        x_l, x_g = _as_pair(x)
        y_l, y_g = self.conv2(self.conv1((x_l, x_g)))
        return _add(x_l, y_l), _add(x_g, y_g)


class ConcatTupleLayer(nn.Module):
    """Join a (local, global) pair into one tensor, local channels first."""

    def forward(self, x: Features) -> Tensor:
        parts = [t for t in x if t is not None]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


# ---------------------------------------------------------------------------------------------
# Config, presets and the generator.
# ---------------------------------------------------------------------------------------------


#: What a generator may see in the hole (:attr:`LamaConfig.prefill`).
PREFILLS = ("zeros", "pushpull", "telea")


def prefill_holes(image: Tensor, mask: Tensor, prefill: str) -> Tensor:
    """``image`` with its holes filled as :attr:`LamaConfig.prefill` says (known pixels exact;
    ``"telea"``: :func:`~inpaintkit.models._layers.telea_fill`)."""
    if prefill == "pushpull":
        return pushpull_fill(image, mask)
    if prefill == "telea":
        return telea_fill(image, mask)
    return image * (1 - mask)


@dataclass
class LamaConfig:
    """Size of an ``ffc_resnet`` generator.

    Attributes:
        input_nc: input channels (3 image channels + 1 mask channel).
        output_nc: output channels.
        ngf: width of the first layer; layer ``i`` of the encoder has ``min(max_features, ngf * 2**i)``.
        n_downsampling: number of stride-2 stages (inputs must be multiples of ``2**n_downsampling``).
        n_blocks: number of FFC residual blocks at the bottleneck.
        max_features: cap on the width of any layer.
        ratio_g: global share of the channels in the residual blocks (and out of the last
            downsampling stage).
        prefill: what the network sees in the hole: ``"zeros"`` (the paper and its released
            weights) or ``"pushpull"`` (a smooth interpolation from the hole's surroundings, see
            :func:`~inpaintkit.classical.pushpull.pushpull_fill`; pure tensor ops, so it stays on a
            GPU) or ``"telea"`` (OpenCV's Telea, on the CPU; the better start in our CPU runs):
            a head start for a network trained with little compute. It adds no parameters.
        residual: the last convolution predicts a correction added to the prefilled image
            (clamped to [0, 1]; zero-initialised, so an untrained network returns the prefill)
            instead of the whole frame through a sigmoid (the paper). No parameters change.
    """

    input_nc: int = 4
    output_nc: int = 3
    ngf: int = 64
    n_downsampling: int = 3
    n_blocks: int = 9
    max_features: int = 1024
    ratio_g: float = 0.75
    prefill: str = "zeros"
    residual: bool = False

    def __post_init__(self) -> None:
        if min(self.input_nc, self.output_nc, self.ngf, self.n_downsampling) < 1 or self.n_blocks < 0:
            raise InputError(f"LamaConfig: sizes must be positive (n_blocks >= 0), got {self}")
        if self.n_blocks > 64 or self.n_downsampling > 8:  # big-lama: 18 and 3
            raise InputError(
                f"LamaConfig: at most 64 blocks and 8 downsamplings, got {self.n_blocks} and {self.n_downsampling}"
            )
        if self.max_features < self.ngf:
            raise InputError(f"LamaConfig: max_features ({self.max_features}) must be >= ngf ({self.ngf})")
        if not 0.0 <= self.ratio_g < 1.0:
            raise InputError(f"LamaConfig: ratio_g must lie in [0, 1), got {self.ratio_g}")
        if self.prefill not in PREFILLS:
            raise InputError(f"LamaConfig: prefill must be one of {', '.join(PREFILLS)}, got {self.prefill!r}")

    def width(self, level: int) -> int:
        """Channels at encoder level ``level`` (0 = full resolution)."""
        return min(self.max_features, self.ngf * 2**level)

    @classmethod
    def from_official(cls, generator_hparams: Mapping[str, Any]) -> LamaConfig:
        """Read the ``generator`` section of an official LaMa training config.

        Interpolations such as ``${generator.init_conv_kwargs.ratio_gout}`` are resolved inside
        the section; missing keys take the reference code's defaults.

        Args:
            generator_hparams: the ``generator`` mapping (plain dicts, values as in the YAML).

        Returns:
            The equivalent config.

        Raises:
            WeightsError: for a generator this module cannot represent (another ``kind``, LFU,
                different global ratios in and out of the residual blocks, an output activation
                other than sigmoid, global channels before the bottleneck, unknown options).
        """
        return _config_from_official(generator_hparams)

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Tensor]) -> LamaConfig:
        """Infer the config from a generator state dict's key names and shapes.

        Args:
            state_dict: keys ``model.<index>....`` as in the reference generator (tensors may live
                on the meta device; only shapes are read).

        Returns:
            The config whose :class:`LamaGenerator` has exactly these keys and shapes. ``prefill``
            and ``residual`` leave no trace in the tensors; they take the paper's values.

        Raises:
            WeightsError: if the state dict is not that of an ``ffc_resnet`` generator.
        """
        return _config_from_state_dict(state_dict)


#: Published and project sizes. big-lama: 50,975,875 parameters; lama-fourier: 27,048,835.
PRESETS: dict[str, LamaConfig] = {
    "big-lama": LamaConfig(n_blocks=18),
    "lama-fourier": LamaConfig(n_blocks=9),
    "lama-small": LamaConfig(ngf=32, n_blocks=6, prefill="telea", residual=True),
    "lama-tiny": LamaConfig(ngf=8, n_downsampling=3, n_blocks=2),
}


class LamaGenerator(Inpainter):
    """The LaMa ``ffc_resnet`` generator.

    Args:
        config: network size; see :data:`PRESETS`.

    Shape:
        image ``(B, 3, H, W)`` in [0, 1], mask ``(B, 1, H, W)`` with 1 = hole -> ``(B, 3, H, W)`` in
        [0, 1]. H and W must be multiples of :attr:`pad_multiple`.
    """

    pipeline = "inpaint"
    postprocess = ""
    needs_prior = False

    def __init__(self, config: LamaConfig) -> None:
        super().__init__()
        self.config = config
        c, n = config, config.n_downsampling
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), FFCBlock(c.input_nc, c.ngf, kernel_size=7)]
        for i in range(n):
            ratio_out = c.ratio_g if i == n - 1 else 0.0
            layers.append(FFCBlock(c.width(i), c.width(i + 1), 3, 0.0, ratio_out, stride=2, padding=1))
        layers += [FFCResnetBlock(c.width(n), c.ratio_g) for _ in range(c.n_blocks)]
        layers.append(ConcatTupleLayer())
        for i in range(n, 0, -1):
            layers += [
                nn.ConvTranspose2d(c.width(i), c.width(i - 1), 3, stride=2, padding=1, output_padding=1),
                nn.BatchNorm2d(c.width(i - 1)),
                nn.ReLU(inplace=True),
            ]
        if c.residual and c.output_nc != 3:
            raise InputError(f"LamaConfig: a residual network needs output_nc 3, got {c.output_nc}")
        layers += [nn.ReflectionPad2d(3), init_head(nn.Conv2d(c.ngf, c.output_nc, kernel_size=7), c.residual)]
        self.model = nn.Sequential(*layers)

    @property
    def pad_multiple(self) -> int:
        """H and W of the input must be multiples of this (``2 ** n_downsampling``)."""
        return 2**self.config.n_downsampling

    @property
    def min_size(self) -> int:
        """Smallest H and W accepted (the reflect padding at the bottleneck needs two pixels)."""
        return 2 * self.pad_multiple

    def size_rule(self) -> SizeRule:
        """Inputs padded to :attr:`pad_multiple`, at least :attr:`min_size` on each side."""
        return SizeRule(self.pad_multiple, self.min_size)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """Predict the whole frame (not composited).

        Args:
            image: ``(B, 3, H, W)`` in [0, 1].
            mask: ``(B, 1, H, W)`` in {0, 1}, 1 = hole.

        Returns:
            ``(B, 3, H, W)`` prediction in [0, 1].

        Raises:
            InputError: if H or W is not a multiple of :attr:`pad_multiple` (or smaller than two
                of them, which the reflect padding at the bottleneck needs).
        """
        check_spatial_size(image, "LaMa", multiple=self.pad_multiple, min_size=self.min_size)
        filled = prefill_holes(image, mask, self.config.prefill)
        out = self.model(torch.cat([filled, mask], dim=1))
        return finish_output(out, filled, self.config.residual)


# ---------------------------------------------------------------------------------------------
# Reading configs from official training configs and from bare state dicts.
# ---------------------------------------------------------------------------------------------

_MISSING = object()
_INTERPOLATION = re.compile(r"^\$\{([A-Za-z0-9_.]+)\}$")
_CONV_KWARGS = ("init_conv_kwargs", "downsample_conv_kwargs", "resnet_conv_kwargs")
_KNOWN_OPTIONS = {
    "kind",
    "input_nc",
    "output_nc",
    "ngf",
    "n_downsampling",
    "n_blocks",
    "max_features",
    "add_out_act",
    "spatial_transform_layers",
    "spatial_transform_kwargs",
    "out_ffc",
    "out_ffc_kwargs",
    "padding_type",
    *_CONV_KWARGS,
}


def _lookup(section: Mapping[str, Any], path: str, default: Any = _MISSING, _depth: int = 0) -> Any:
    """Value at dotted ``path`` inside the generator section, following ``${generator.x.y}`` links."""
    if _depth > 16:
        raise WeightsError(f"generator config: interpolation cycle at '{path}'")
    node: Any = section
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            if default is _MISSING:
                raise WeightsError(f"generator config: '{path}' is missing")
            return default
        node = node[part]
    if isinstance(node, str) and "${" in node:
        match = _INTERPOLATION.match(node.strip())
        if match is None or not match.group(1).startswith("generator."):
            raise WeightsError(f"generator config: cannot resolve '{node}' (only ${{generator.<path>}})")
        return _lookup(section, match.group(1)[len("generator.") :], default, _depth + 1)
    return node


def _number(value: Any, name: str, kind: type) -> Any:
    """``value`` as an int or float (strings accepted), else :class:`WeightsError`."""
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if kind is int and number != int(number):
            raise ValueError
        return kind(number)
    except (TypeError, ValueError):
        raise WeightsError(f"generator config: '{name}' must be a {kind.__name__}, got {value!r}") from None


def _flag(value: Any, name: str) -> bool:
    """``value`` as a bool (YAML-style strings accepted), else :class:`WeightsError`."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise WeightsError(f"generator config: '{name}' must be true or false, got {value!r}")


def _config_from_official(section: Mapping[str, Any]) -> LamaConfig:
    kind = _lookup(section, "kind", "ffc_resnet")
    if kind != "ffc_resnet":
        raise WeightsError(f"generator config: kind '{kind}' is not supported (only ffc_resnet)")
    unknown = sorted(set(section) - _KNOWN_OPTIONS)
    if unknown:
        raise WeightsError(f"generator config: unsupported option(s) {', '.join(unknown)}")
    if _lookup(section, "spatial_transform_layers", None):
        raise WeightsError("generator config: spatial_transform_layers is not supported")
    if _flag(_lookup(section, "out_ffc", False), "out_ffc"):
        raise WeightsError("generator config: out_ffc=true is not supported")
    if _lookup(section, "padding_type", "reflect") != "reflect":
        raise WeightsError("generator config: only padding_type 'reflect' is supported")
    for group in _CONV_KWARGS:
        extra = sorted(set(_lookup(section, group, {})) - {"ratio_gin", "ratio_gout", "enable_lfu"})
        if extra:
            raise WeightsError(f"generator config: unsupported {group} option(s) {', '.join(extra)}")

    act = _lookup(section, "add_out_act", True)  # the reference default True means tanh
    if not (isinstance(act, str) and act.strip().lower() == "sigmoid"):
        shown = "true (tanh)" if act is True else repr(act)
        raise WeightsError(f"generator config: add_out_act={shown} is not supported (only sigmoid)")
    for group in ("init_conv_kwargs", "downsample_conv_kwargs"):
        for key in ("ratio_gin", "ratio_gout"):
            name = f"{group}.{key}"
            if _number(_lookup(section, name, 0.0), name, float) != 0.0:
                raise WeightsError(f"generator config: {name} must be 0 (global channels are bottleneck-only)")
    ratio_in = _number(_lookup(section, "resnet_conv_kwargs.ratio_gin", 0.0), "resnet ratio_gin", float)
    ratio_out = _number(_lookup(section, "resnet_conv_kwargs.ratio_gout", ratio_in), "resnet ratio_gout", float)
    if ratio_in != ratio_out:
        raise WeightsError(
            f"generator config: resnet_conv_kwargs ratio_gin ({ratio_in}) != ratio_gout ({ratio_out}) is not supported"
        )
    lfu = _flag(_lookup(section, "resnet_conv_kwargs.enable_lfu", True), "resnet_conv_kwargs.enable_lfu")
    if lfu and ratio_in > 0:
        raise WeightsError("generator config: enable_lfu=true (local Fourier unit) is not supported")

    defaults = LamaConfig()
    sizes = {
        key: _number(_lookup(section, key, getattr(defaults, key)), key, int)
        for key in ("input_nc", "output_nc", "ngf", "n_downsampling", "n_blocks", "max_features")
    }
    try:
        return LamaConfig(**sizes, ratio_g=ratio_in)
    except ValueError as err:
        raise WeightsError(f"generator config: {err}") from None


def _state_shapes(config: LamaConfig) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the state dict of ``LamaGenerator(config)`` (built on the meta device)."""
    with torch.device("meta"):
        model = LamaGenerator(config)
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def _config_from_state_dict(state_dict: Mapping[str, Tensor]) -> LamaConfig:
    shapes = {key: tuple(value.shape) for key, value in state_dict.items()}
    first = shapes.get("model.1.ffc.convl2l.weight")
    if first is None or len(first) != 4 or first[2:] != (7, 7):
        raise WeightsError("state dict is not a LaMa ffc_resnet generator (no 7x7 model.1.ffc.convl2l.weight)")
    ngf, input_nc = first[0], first[1]

    n_down = 0
    while f"model.{2 + n_down}.ffc.convl2l.weight" in shapes:
        n_down += 1
    n_blocks = 0
    while f"model.{2 + n_down + n_blocks}.conv1.ffc.convl2l.weight" in shapes:
        n_blocks += 1
    if n_down == 0:
        raise WeightsError("state dict is not a LaMa ffc_resnet generator (no downsampling layers)")

    last_down = 1 + n_down
    n_local = shapes.get(f"model.{last_down}.bn_l.weight", (0,))[0]
    n_global = shapes.get(f"model.{last_down}.bn_g.weight", (0,))[0]
    bottleneck = n_local + n_global
    ratio_g = n_global / bottleneck if bottleneck else 0.0
    if bottleneck == 0 or split_channels(bottleneck, ratio_g)[1] != n_global:
        raise WeightsError(f"state dict: cannot read the global ratio from layer model.{last_down}")
    full_width = ngf * 2**n_down
    max_features = bottleneck if bottleneck < full_width else max(LamaConfig.max_features, full_width)

    out_conv = 2 + n_down + n_blocks + 3 * n_down + 2
    out_shape = shapes.get(f"model.{out_conv}.weight")
    if out_shape is None or len(out_shape) != 4:
        raise WeightsError(f"state dict is not a LaMa ffc_resnet generator (no output conv model.{out_conv})")

    try:
        config = LamaConfig(input_nc, out_shape[0], ngf, n_down, n_blocks, max_features, ratio_g)
    except ValueError as err:
        raise WeightsError(f"state dict: {err}") from None
    expected = _state_shapes(config)
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    wrong = sorted(k for k in set(expected) & set(shapes) if expected[k] != shapes[k])
    if missing or unexpected or wrong:
        example = (missing or unexpected or wrong)[0]
        raise WeightsError(
            f"state dict does not match a LaMa generator {config}: {len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(wrong)} mis-shaped key(s), e.g. '{example}'"
        )
    return config


#: The family as weight files name it (``arch``), with its presets and training objective.
FAMILY = register_family(
    Family("lama", LamaConfig, LamaGenerator, PRESETS, objective="lama", tiny=PRESETS["lama-tiny"])
)


def _spec(name: str, description: str, **extra: Any) -> ModelSpec:
    return ModelSpec(name, "learned", description, arch="lama", config=PRESETS[name], **extra)


_TRAINED = {
    "licence": TRAINED_HERE,
    "bundled": "lama-small.safetensors",
    "recipe": "configs/lama-small-cpu-refine.yaml",
}

register_models(
    _spec(
        "big-lama",
        "LaMa big (FFC, 18 blocks), official weights trained on Places2",
        licence="Apache-2.0",
        weights=WEIGHT_SPECS["big-lama"],
    ),
    _spec("lama-fourier", "LaMa-Fourier (FFC, 9 blocks), paper configuration", licence="Apache-2.0"),
    _spec("lama-small", "LaMa FFC generator sized for CPU, trained here (see its model card)", **_TRAINED),
    ModelSpec(
        "lama-detail",
        "learned",
        "lama-small's layout with the photo's own texture, by patch synthesis (Wexler et al.); the default",
        arch="lama",
        config=PRESETS["lama-small"],
        postprocess="patch-synthesis",
        **_TRAINED,
    ),
    _spec("lama-tiny", "LaMa FFC generator for tests and smoke runs", licence="Apache-2.0"),
)
