"""Fast CPU inference: BatchNorm folding, channels-last layout and bfloat16 for learned models.

:func:`optimize_for_inference` returns a new, inference-only module; the caller's model is never
touched. For the LaMa generator it builds a lean equivalent of the network:

* every BatchNorm is folded into the convolution(s) before it. BatchNorm is affine in eval mode,
  so ``bn(conv_a(x) + conv_b(y)) = conv_a'(x) + conv_b'(y) + shift`` with both weights scaled per
  output channel and the shift kept as one bias (FFC: ``bn_l``/``bn_g`` over two convolutions;
  ``SpectralTransform.conv1``; ``FourierUnit.conv_layer``; ``ConvTranspose2d`` in the decoder);
* activations stay channels-last (NHWC), the layout oneDNN convolutions run fastest in; the
  Fourier unit's 1x1 convolutions become matrix products over the channels, and its
  real/imaginary interleaving is ``view_as_real`` of the spectrum (no stack, no ``torch.complex``);
* LaMa's 7x7 output convolution (3 channels, which oneDNN runs slowly) becomes a 1x7 convolution
  to 21 channels plus a shifted sum over the kernel rows;
* each input of an FFC is reflect-padded once and shared by the convolutions that read it;
  sums, ReLUs and residual additions run in place;
* ``precision="bf16"`` stores weights and activations in bfloat16 (AVX512-BF16 convolutions run
  about twice as fast); the FFTs still run in float32;
* ``precision="int8"`` runs every spatial convolution of the FFC blocks, the encoder and the
  downsampling in int8 through oneDNN (x86): weights per output channel, each convolution's input
  per tensor over the range it takes on the bundled photo (calibrated once, when the copy is
  built), output dequantised to float32 in the same kernel. The spectral transform (its FFTs and
  1x1 products), the transposed convolutions and the output convolution stay float32.

``precision="auto"`` (:func:`auto_precision`) picks per CPU: bf16 where it is native
(AVX512-BF16 or AMX), else fp32. It does not pick int8: on an AVX2 CPU the int8 convolutions run
2.1x faster than float32 ones, but the float32 rest of LaMa (FFTs, spectral products, transposed
convolutions) and the calibration when the copy is built leave it 1.2x faster at best, below its
1.6x target, and big-lama's fill within 39 dB of float32 (docs/PERFORMANCE.md, int8). An explicit
bf16 on a CPU that only emulates it warns once (:func:`resolve_precision`).

Any other ``nn.Module`` gets the generic treatment: an eval-mode copy whose ``Conv -> BatchNorm``
pairs inside ``nn.Sequential`` containers are folded, run channels-last (under bfloat16 autocast
for ``precision="bf16"``). Pipelines skip all of this when ``INPAINTKIT_OPTIMIZE=0``.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .models._layers import check_spatial_size, finish_output
from .models.lama import (
    FFC,
    ConcatTupleLayer,
    Features,
    FFCBlock,
    FFCResnetBlock,
    LamaGenerator,
    SpectralTransform,
    prefill_holes,
)
from .types import PRECISIONS, InputError

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "int8": torch.float32}

log = logging.getLogger("inpaintkit")


# --------------------------------------------------------------------------------- the CPU and auto
@dataclass(frozen=True)
class CpuInfo:
    """What this CPU can do for inference.

    Attributes:
        name: the model name (``/proc/cpuinfo``), or the platform's processor string.
        capability: the vector instruction set torch dispatches to (``AVX2``, ``AVX512``, ...).
        flags: the CPU's feature flags (empty where the OS does not list them).
    """

    name: str
    capability: str
    flags: frozenset[str]

    @property
    def native_bf16(self) -> bool:
        """bfloat16 arithmetic in hardware (AVX512-BF16 or AMX); elsewhere torch emulates it, many times slower."""
        return bool({"avx512_bf16", "amx_bf16"} & self.flags)

    @property
    def x86_int8(self) -> bool:
        """oneDNN's x86 int8 convolutions run here (AVX2 at least)."""
        return self.capability.startswith(("AVX2", "AVX512"))

    def describe(self) -> str:
        """e.g. ``AMD EPYC (AVX2, no native bf16)``."""
        extras = [name for flag, name in _NAMED_FLAGS if flag in self.flags]
        bf16 = [] if self.native_bf16 else ["no native bf16"]
        return f"{self.name} ({', '.join([self.capability, *extras, *bf16])})"


_NAMED_FLAGS = (
    ("avx512_bf16", "AVX512-BF16"),
    ("amx_bf16", "AMX"),
    ("avx512_vnni", "AVX512-VNNI"),
    ("avx_vnni", "AVX-VNNI"),
)


@functools.cache
def cpu_info() -> CpuInfo:
    """This machine's :class:`CpuInfo` (read once; the first processor's ``/proc/cpuinfo`` entries)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    return CpuInfo(name, torch.backends.cpu.get_cpu_capability(), frozenset(fields.get("flags", "").split()))


def auto_precision(model: nn.Module, device: str | torch.device = "cpu", cpu: CpuInfo | None = None) -> str:
    """The precision ``auto`` runs ``model`` in: ``bf16`` where the CPU has it natively, else ``fp32``
    (int8 is never picked: see the module docstring); always ``fp32`` off the CPU.
    ``$INPAINTKIT_PRECISION`` (fp32, bf16 or int8) pins the answer."""
    pinned = os.environ.get("INPAINTKIT_PRECISION", "").strip().lower()
    if pinned:
        if pinned not in PRECISIONS or pinned == "auto":
            raise InputError(f"INPAINTKIT_PRECISION must be one of fp32, bf16, int8, got {pinned!r}")
        return "fp32" if pinned == "int8" and not isinstance(model, LamaGenerator) else pinned
    if torch.device(device).type != "cpu":
        return "fp32"
    cpu = cpu or cpu_info()
    return "bf16" if cpu.native_bf16 else "fp32"


_warned_bf16 = False


def resolve_precision(precision: str, model: nn.Module, device: str | torch.device = "cpu") -> tuple[str, bool]:
    """``(precision to run, chosen by auto)``; an explicit ``bf16`` on a CPU without native bf16 warns
    once per process, naming what ``auto`` would pick.

    Raises:
        InputError: an unknown precision, or int8 for a network that has no int8 path.
    """
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return auto_precision(model, device), True
    cpu = cpu_info()
    if precision == "int8" and not isinstance(model, LamaGenerator):
        raise InputError(f"precision int8 is available for LaMa networks only, not {type(model).__name__}")
    if precision == "int8" and not cpu.x86_int8:
        raise InputError(f"precision int8 needs an x86 CPU with AVX2 or AVX512; this one is {cpu.describe()}")
    global _warned_bf16
    if precision == "bf16" and torch.device(device).type == "cpu" and not cpu.native_bf16 and not _warned_bf16:
        _warned_bf16 = True
        log.warning(
            "bf16 is emulated on this CPU, %s, and runs many times slower than fp32; precision auto would pick %s",
            cpu.describe(),
            auto_precision(model, device, cpu),
        )
    return precision, False


def optimization_enabled() -> bool:
    """Whether pipelines should call :func:`optimize_for_inference` (env ``INPAINTKIT_OPTIMIZE``).

    Returns:
        ``False`` when the variable is ``0``, ``false``, ``no`` or ``off``; ``True`` otherwise.
    """
    return os.environ.get("INPAINTKIT_OPTIMIZE", "1").strip().lower() not in ("0", "false", "no", "off")


def fold_batchnorm(
    weight: Tensor, bias: Tensor | None, bn: nn.BatchNorm2d, *, transposed: bool = False
) -> tuple[Tensor, Tensor]:
    """Weight and bias of the convolution equal to ``bn(conv(x))`` with ``bn`` in eval mode.

    ``bn(z) = (z - mean) * s + beta`` with ``s = gamma / sqrt(var + eps)``, so the folded
    convolution has ``weight * s`` (per output channel) and bias ``(bias - mean) * s + beta``.
    Computed in float64, returned in ``weight``'s dtype; the inputs are not modified.

    Args:
        weight: convolution weight; output channels on dim 0 (dim 1 if ``transposed``).
        bias: convolution bias or ``None``.
        bn: the BatchNorm that follows the convolution (needs running statistics).
        transposed: ``weight`` belongs to a ``ConvTranspose2d`` (``(in, out, kh, kw)``).

    Returns:
        ``(weight, bias)`` of the folded convolution.

    Shape:
        weight ``(C_out, C_in, kh, kw)`` or ``(C_in, C_out, kh, kw)``; bias and result bias ``(C_out,)``.
    """
    scale, shift = _bn_affine(bn)
    if bias is not None:
        shift = shift + bias.double() * scale
    view = (1, -1, 1, 1) if transposed else (-1, 1, 1, 1)
    return (weight.double() * scale.view(view)).to(weight.dtype), shift.to(weight.dtype)


def _bn_affine(bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """``(scale, shift)`` in float64 with ``bn(z) = z * scale + shift`` in eval mode."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("fold_batchnorm: the BatchNorm has no running statistics to fold")
    scale = torch.rsqrt(bn.running_var.double() + bn.eps)
    shift = -bn.running_mean.double() * scale
    if bn.weight is not None:
        scale, shift = scale * bn.weight.double(), shift * bn.weight.double() + bn.bias.double()
    return scale, shift


class _Conv(nn.Module):
    """An FFC path's convolution with its output channels scaled; padding is done by the caller."""

    def __init__(self, conv: nn.Conv2d, scale: Tensor, bias: Tensor | None) -> None:
        super().__init__()
        self.register_buffer("weight", (conv.weight.detach().double() * scale.view(-1, 1, 1, 1)).float())
        self.register_buffer("bias", None if bias is None else bias.detach().float())
        self.stride = conv.stride

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride)


def _maybe_conv(conv: nn.Module, scale: Tensor, bias: Tensor | None) -> _Conv | None:
    """The scaled convolution of an FFC path, ``None`` for an absent (``Identity``) path."""
    return _Conv(conv, scale, bias) if isinstance(conv, nn.Conv2d) else None


def _matrix(conv: nn.Conv2d, scale: Tensor) -> Tensor:
    """The ``(C_out, C_in)`` weight of a 1x1 convolution, output channels scaled (float32)."""
    return (conv.weight.detach().double().flatten(1) * scale[:, None]).float()


class _FoldedSpectral(nn.Module):
    """``conv2(y + fu(y))`` with ``y = relu(conv1'(x))``; BatchNorms folded, ``conv2`` pre-scaled.

    The 1x1 convolutions are matrix products. ``y`` and the inverse FFT are channel-first (the
    layout the FFT runs fastest in; reading the channels-last input that way is free); the
    spectrum is interleaved per pixel (c0.re, c0.im, c1.re, ..., as in the reference) for the
    spectral product, and the result comes back channels-last.
    """

    def __init__(self, spectral: SpectralTransform, out_scale: Tensor, out_bias: Tensor | None) -> None:
        super().__init__()
        scale1, shift1 = _bn_affine(spectral.conv1[1])
        scale_fu, shift_fu = _bn_affine(spectral.fu.bn)
        self.register_buffer("w1", _matrix(spectral.conv1[0], scale1))
        self.register_buffer("b1", shift1.float()[:, None])
        self.register_buffer("w_fu", _matrix(spectral.fu.conv_layer, scale_fu))
        self.register_buffer("b_fu", shift_fu.float())
        self.register_buffer("w2_t", _matrix(spectral.conv2, out_scale).t())
        self.register_buffer("b2", torch.zeros(out_scale.shape) if out_bias is None else out_bias.float())

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        # One matrix product per item: a batched product would copy its strided operand first.
        y = x.new_empty(b, self.w1.shape[0], h * w)
        for item, result in zip(x.flatten(2), y, strict=True):  # (C, H*W) views of the channels-last input
            torch.addmm(self.b1, self.w1, item, out=result)
        y = y.relu_().view(b, -1, h, w)
        spectrum = torch.view_as_real(torch.fft.rfftn(y.float(), dim=(-2, -1), norm="ortho"))
        interleaved = spectrum.permute(0, 2, 3, 1, 4).flatten(3)  # (B, H, W//2+1, 2C)
        mixed = F.linear(interleaved.to(y.dtype), self.w_fu, self.b_fu).relu_().float().unflatten(3, (-1, 2))
        back = torch.fft.irfftn(torch.view_as_complex(mixed).permute(0, 3, 1, 2), s=(h, w), norm="ortho")
        z = back.add_(y).to(y.dtype).flatten(2)
        out = z.new_empty(b, h * w, self.w2_t.shape[1])  # NHWC
        for item, result in zip(z, out, strict=True):
            torch.addmm(self.b2, item.t(), self.w2_t, out=result)
        return out.view(b, h, w, -1).permute(0, 3, 1, 2)


class _FoldedFFCBlock(nn.Module):
    """``FFCBlock`` with both BatchNorms folded: ``relu(sum of the FFC paths + bias)`` per branch."""

    def __init__(self, block: FFCBlock) -> None:
        super().__init__()
        ffc: FFC = block.ffc
        first = next(c for c in (ffc.convl2l, ffc.convl2g, ffc.convg2l) if isinstance(c, nn.Conv2d))
        self.pad = first.padding[0]
        self.l2l = self.g2l = self.l2g = self.g2g = None
        if ffc.out_cl:  # the bias goes to the first path present
            scale, shift = _bn_affine(block.bn_l)
            self.l2l = _maybe_conv(ffc.convl2l, scale, shift)
            self.g2l = _maybe_conv(ffc.convg2l, scale, None if self.l2l is not None else shift)
        if ffc.out_cg:
            scale, shift = _bn_affine(block.bn_g)
            self.l2g = _maybe_conv(ffc.convl2g, scale, shift)
            if isinstance(ffc.convg2g, SpectralTransform):
                self.g2g = _FoldedSpectral(ffc.convg2g, scale, None if self.l2g is not None else shift)

    def _padded(self, x: Tensor | None) -> Tensor | None:
        return F.pad(x, (self.pad,) * 4, mode="reflect") if x is not None and self.pad else x

    def forward(self, x: Tensor | Features) -> Features:
        x_l, x_g = x if isinstance(x, tuple) else (x, None)
        pad_l = self._padded(x_l) if self.l2l is not None or self.l2g is not None else None
        pad_g = self._padded(x_g) if self.g2l is not None else None
        out_l = _relu_sum(_apply(self.l2l, pad_l), _apply(self.g2l, pad_g))
        out_g = _relu_sum(_apply(self.l2g, pad_l), _apply(self.g2g, x_g))
        return out_l, out_g


def _apply(layer: nn.Module | None, x: Tensor | None) -> Tensor | None:
    return None if layer is None else layer(x)


def _relu_sum(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """``relu(a + b)`` in place in ``a`` (or ``b``); absent terms are ``None``."""
    if a is None:
        return None if b is None else b.relu_()
    return (a if b is None else a.add_(b)).relu_()


class _FoldedResnetBlock(nn.Module):
    """``FFCResnetBlock`` of two folded FFC blocks; the residual is added in place."""

    def __init__(self, block: FFCResnetBlock) -> None:
        super().__init__()
        self.conv1, self.conv2 = _FoldedFFCBlock(block.conv1), _FoldedFFCBlock(block.conv2)

    def forward(self, x: Features) -> Features:
        x_l, x_g = x
        y_l, y_g = self.conv2(self.conv1(x))
        return _add_(y_l, x_l), _add_(y_g, x_g)


def _add_(y: Tensor | None, residual: Tensor | None) -> Tensor | None:
    return y if residual is None else y.add_(residual)


class _RowSumConv(nn.Module):
    """A k x k convolution with few output channels (LaMa's 7x7 head, 3 outputs).

    oneDNN runs a convolution with 3 output channels at a fifth of its usual speed, so this one is
    a 1 x k convolution to ``k * C_out`` channels (one group per kernel row) followed by the sum of
    the groups, each shifted by its row, in float32. Same result up to float rounding, ~3x faster.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if conv.stride != (1, 1) or conv.padding != (0, 0) or conv.dilation != (1, 1) or conv.groups != 1:
            raise ValueError("_RowSumConv: only a plain unpadded, unstrided, ungrouped convolution")
        cout, cin, self.rows, kw = conv.weight.shape
        rows = conv.weight.detach().permute(2, 0, 1, 3).reshape(self.rows * cout, cin, 1, kw)
        self.register_buffer("weight", rows.contiguous())
        self.register_buffer("bias", torch.zeros(cout) if conv.bias is None else conv.bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        groups = F.conv2d(x, self.weight).permute(0, 2, 3, 1).float().unflatten(3, (self.rows, -1))
        h = groups.shape[1] - self.rows + 1
        out = groups[:, :h, :, 0] + self.bias.float()
        for row in range(1, self.rows):
            out += groups[:, row : row + h, :, row]
        return out.permute(0, 3, 1, 2)


def _fold_sequential(layers: list[nn.Module]) -> list[nn.Module]:
    """Fold each ``Conv2d``/``ConvTranspose2d`` followed by ``BatchNorm2d``; the convolutions are changed."""
    out: list[nn.Module] = []
    for layer in layers:
        prev = out[-1] if out else None
        if isinstance(layer, nn.BatchNorm2d) and isinstance(prev, (nn.Conv2d, nn.ConvTranspose2d)):
            transposed = isinstance(prev, nn.ConvTranspose2d)
            weight, bias = fold_batchnorm(prev.weight.detach(), prev.bias, layer, transposed=transposed)
            prev.weight, prev.bias = nn.Parameter(weight), nn.Parameter(bias.detach())
        else:
            out.append(layer)
    return out


_PLAIN_LAYERS = (nn.ReflectionPad2d, nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU, ConcatTupleLayer)


class OptimizedLama(nn.Module):
    """Inference-only LaMa generator built by :func:`optimize_for_inference` (same contract).

    Shape:
        image ``(B, 3, H, W)`` in [0, 1], mask ``(B, 1, H, W)`` with 1 = hole -> ``(B, 3, H, W)`` in
        [0, 1], in the image's dtype. H and W must be multiples of :attr:`pad_multiple`, at least
        :attr:`min_size` (the generator's rule).
    """

    def __init__(self, generator: LamaGenerator, dtype: torch.dtype, memory_format: torch.memory_format):
        super().__init__()
        self.config = generator.config
        self.pad_multiple, self.min_size = generator.pad_multiple, generator.min_size  # its size rule
        self.dtype, self.memory_format = dtype, memory_format
        layers: list[nn.Module] = []
        for layer in generator.model:  # the sigmoid (or the residual sum) runs in forward, in float32
            if isinstance(layer, FFCBlock):
                layer = _FoldedFFCBlock(layer)
            elif isinstance(layer, FFCResnetBlock):
                layer = _FoldedResnetBlock(layer)
            elif isinstance(layer, _PLAIN_LAYERS):
                layer = copy.deepcopy(layer)
            else:
                raise TypeError(f"optimize_for_inference: unexpected LaMa layer {type(layer).__name__}")
            layers.append(layer)
        layers = _fold_sequential(layers)  # decoder: ConvTranspose2d + BatchNorm2d
        layers[-1] = _RowSumConv(layers[-1])
        self.model = nn.Sequential(*layers).to(dtype).to(memory_format=memory_format).requires_grad_(False)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """Predict the whole frame (not composited); see :class:`LamaGenerator`."""
        check_spatial_size(image, "LaMa", multiple=self.pad_multiple, min_size=self.min_size)
        filled = prefill_holes(image, mask, self.config.prefill)
        x = torch.cat([filled, mask], dim=1).to(self.dtype, memory_format=self.memory_format)
        return finish_output(self.model(x).to(image.dtype), filled, self.config.residual).contiguous()


# ---------------------------------------------------------------------------------------------- int8
class _Int8Conv(nn.Module):
    """A convolution in int8 (oneDNN, x86): the float input is quantised per tensor (asymmetric
    ``uint8`` over its calibrated range), the weights per output channel (symmetric ``int8``); the
    kernel accumulates in int32 and writes float32. Zero padding is done in float first.
    """

    def __init__(
        self,
        weight: Tensor,
        bias: Tensor | None,
        stride: tuple[int, int],
        padding: tuple[int, int],
        low: float,
        high: float,
    ) -> None:
        super().__init__()
        low, high = min(low, 0.0), max(high, 0.0)
        self.scale = max(high - low, 1e-8) / 255.0
        self.zero_point = int(min(255, max(0, round(-low / self.scale))))
        w_scale = weight.detach().float().abs().amax((1, 2, 3)).clamp_min(1e-12) / 127.0
        quantised = torch.round(weight.detach().float() / w_scale.view(-1, 1, 1, 1)).clamp_(-127, 127).to(torch.int8)
        quantised = quantised.contiguous(memory_format=torch.channels_last)
        self.stride, self.padding = list(stride), padding
        packed = torch.ops.onednn.qconv_prepack(
            quantised, w_scale, self.scale, self.zero_point, self.stride, [0, 0], [1, 1], 1, None
        )
        self.register_buffer("packed", packed)
        self.register_buffer("w_scale", w_scale)
        self.register_buffer("w_zero_point", torch.zeros(len(w_scale), dtype=torch.int32))
        self.register_buffer("bias", None if bias is None else bias.detach().float())

    def forward(self, x: Tensor) -> Tensor:
        if any(self.padding):
            x = F.pad(x, (self.padding[1], self.padding[1], self.padding[0], self.padding[0]))
        q = torch.round(x * (1.0 / self.scale)).add_(self.zero_point).clamp_(0, 255).to(torch.uint8)
        return torch.ops.onednn.qconv2d_pointwise(
            q,
            self.scale,
            self.zero_point,
            self.packed,
            self.w_scale,
            self.w_zero_point,
            self.bias,
            self.stride,
            [0, 0],
            [1, 1],
            1,
            1.0,
            0,
            torch.float32,
            "none",
            [],
            "",
        )


def _int8_targets(model: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """``(parent, attribute, convolution)`` of every convolution of an :class:`OptimizedLama` that runs
    in int8: the FFC paths and the plain 2-d convolutions but the output one."""
    targets = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, _Conv) or (isinstance(child, nn.Conv2d) and not isinstance(parent, _RowSumConv)):
                targets.append((parent, name, child))
    return targets


def calibration_inputs(multiple: int, side: int = 256) -> list[tuple[Tensor, Tensor]]:
    """Pictures and masks the int8 ranges are measured on: the bundled photo at ``side`` on its long
    side (rounded to ``multiple``), with its own mask and with a LaMa-style random mask."""
    from .io import read_image
    from .masks import lama_training_generator, load_mask
    from .pipelines.processing import resize, to_tensor

    assets = Path(__file__).parent / "assets"
    photo = to_tensor(read_image(assets / "rocket.jpg").rgb)
    hole = to_tensor(load_mask(assets / "rocket_mask.png").astype("float32"))
    height, width = photo.shape[-2:]
    size = tuple(max(multiple, round(n * side / max(height, width) / multiple) * multiple) for n in (height, width))
    photo, hole = resize(photo, size, "bilinear").clamp(0, 1), (resize(hole, size, "area") > 0).float()
    drawn = torch.from_numpy(lama_training_generator()(*size, rng=np.random.default_rng(0)))
    return [(photo, hole), (photo, drawn.float().view(1, 1, *size))]


@torch.no_grad()
def _to_int8(model: OptimizedLama) -> OptimizedLama:
    """``model`` (float32) with its convolutions in int8, their input ranges measured on
    :func:`calibration_inputs`."""
    targets = _int8_targets(model)
    ranges: dict[int, list[float]] = {}

    def record(index: int):
        def hook(module: nn.Module, args: tuple[Tensor, ...]) -> None:
            low, high = ranges.setdefault(index, [0.0, 0.0])
            ranges[index] = [min(low, float(args[0].min())), max(high, float(args[0].max()))]

        return hook

    handles = [conv.register_forward_pre_hook(record(i)) for i, (_, _, conv) in enumerate(targets)]
    try:
        for image, mask in calibration_inputs(model.pad_multiple):
            model(image, mask)
    finally:
        for handle in handles:
            handle.remove()
    for i, (parent, name, conv) in enumerate(targets):
        padding = (0, 0) if isinstance(conv, _Conv) else tuple(conv.padding)
        if isinstance(conv, nn.Conv2d) and (
            conv.padding_mode != "zeros" or conv.groups != 1 or conv.dilation != (1, 1)
        ):
            continue
        setattr(
            parent, name, _Int8Conv(conv.weight, conv.bias, tuple(conv.stride), padding, *ranges.get(i, (0.0, 1.0)))
        )
    return model


class _GenericInference(nn.Module):
    """Any other model: tensors in channels-last, optionally under bfloat16 autocast, float out."""

    def __init__(self, model: nn.Module, dtype: torch.dtype, memory_format: torch.memory_format) -> None:
        super().__init__()
        self.model, self.dtype, self.memory_format = model, dtype, memory_format

    def forward(self, *args: Tensor) -> Tensor:
        args = tuple(a.contiguous(memory_format=self.memory_format) if a.ndim == 4 else a for a in args)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.dtype == torch.bfloat16):
            out = self.model(*args)
        return out.to(args[0].dtype).contiguous()


def _fold_all(module: nn.Module) -> None:
    """Fold conv+BN pairs of every ``nn.Sequential`` inside ``module`` (in place, on a copy)."""
    for name, child in module.named_children():
        if isinstance(child, nn.Sequential):
            setattr(module, name, nn.Sequential(*_fold_sequential(list(child))))
        _fold_all(getattr(module, name))


@torch.no_grad()
def optimize_for_inference(model: nn.Module, *, precision: str = "fp32", channels_last: bool = True) -> nn.Module:
    """An inference-only copy of ``model`` with BatchNorm folded, in the given precision and layout.

    Args:
        model: a learned model (``LamaGenerator`` gets the dedicated rewrite, anything else the
            generic one); it is not modified.
        precision: ``"fp32"`` (matches the eval-mode model within float rounding, < 1e-4),
            ``"bf16"`` (about twice as fast on CPUs with AVX512-BF16; FFTs stay float32) or ``"int8"``
            (LaMa only; see the module docstring). ``"auto"`` is resolved by the caller
            (:func:`resolve_precision`).
        channels_last: keep activations NHWC (fastest with oneDNN); ``False`` keeps NCHW.

    Returns:
        A module in eval mode without gradients, same ``forward`` contract as ``model``.
    """
    if precision not in _DTYPES:
        raise InputError(f"precision must be one of {', '.join(_DTYPES)}, got {precision!r} (resolve auto first)")
    dtype = _DTYPES[precision]
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    if isinstance(model, LamaGenerator):
        optimized = OptimizedLama(model, dtype, memory_format).eval()
        return _to_int8(optimized) if precision == "int8" else optimized
    if precision == "int8":
        raise InputError(f"precision int8 is available for LaMa networks only, not {type(model).__name__}")
    folded = copy.deepcopy(model).eval()
    _fold_all(folded)
    folded = folded.to(memory_format=memory_format).requires_grad_(False)
    return _GenericInference(folded, dtype, memory_format).eval()
