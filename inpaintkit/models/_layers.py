"""Layers shared by the GLCIC and outpainting networks (Iizuka et al. 2017; Sabini & Rusak 2018),
the input-size check every network makes (:func:`check_spatial_size`), the output head of the
generators (:func:`init_head`, :func:`finish_output`), and the Telea hole fill an inpainting network
may take as its input.

Both papers build their generators from "same"-padded convolutions followed by an optional
BatchNorm and a ReLU, feed them a mean-filled image plus the mask, and score images with branches
of strided 5x5 convolutions ending in a fully-connected layer. Only that common logic lives here;
each paper's layout stays in its own file.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from ..classical.modules import TeleaInpainter
from ..types import InputError


def check_spatial_size(
    image: Tensor,
    network: str,
    *,
    multiple: int = 1,
    min_size: int = 1,
    fixed: int | tuple[int, int] | None = None,
    expects: str = "needs {size} input",
    hint: str = "",
) -> None:
    """Raise :class:`InputError` unless the H and W of ``image`` suit ``network``.

    Args:
        image: ``(..., H, W)``.
        network: the network's name, first word of the message (``"LaMa"``, ``"this PD-GAN"``).
        multiple, min_size: without ``fixed``, H and W must be multiples of ``multiple`` and at
            least ``min_size``; the message says to pad the input first.
        fixed: the only size taken, ``(H, W)`` or the side of a square.
        expects: with ``fixed``, what the message says ``network`` does with it (``{size}`` is
            written ``HxW``): ``"{network} {expects}, got HxW[; {hint}]"``.
        hint: with ``fixed``, what to do about it (``"resize the image first"``).
    """
    h, w = image.shape[-2:]
    if fixed is not None:
        want_h, want_w = (fixed, fixed) if isinstance(fixed, int) else fixed
        if (h, w) != (want_h, want_w):
            advice = f"; {hint}" if hint else ""
            raise InputError(f"{network} {expects.format(size=f'{want_h}x{want_w}')}, got {h}x{w}{advice}")
    elif h % multiple or w % multiple or h < min_size or w < min_size:
        least = f" (at least {min_size})" if min_size > multiple else ""
        raise InputError(
            f"{network} needs H and W to be multiples of {multiple}{least}, got {h}x{w}; pad the input first"
        )


def conv_block(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    dilation: int = 1,
    *,
    batch_norm: bool,
    transposed: bool = False,
    bn_eps: float = 1e-5,
) -> list[nn.Module]:
    """``conv -> [BatchNorm] -> ReLU`` with "same" padding, as a list to splice into a Sequential.

    A plain convolution is padded by ``dilation * (kernel_size - 1) // 2`` (odd kernels), so a
    stride-1 layer keeps H and W and a stride-2 layer halves even sizes. A transposed one
    (``transposed=True``, the papers' 4x4 "deconvolution" with stride 2) is padded by
    ``(kernel_size - stride) // 2`` and doubles H and W.

    Args:
        in_channels, out_channels: widths.
        kernel_size, stride, dilation: of the convolution (``dilation`` must be 1 when transposed).
        batch_norm: insert ``BatchNorm2d(out_channels, eps=bn_eps)`` between the conv and the ReLU.
        transposed: use ``ConvTranspose2d``.
        bn_eps: epsilon of the BatchNorm.

    Returns:
        ``[conv, BatchNorm2d, ReLU]`` or ``[conv, ReLU]``.
    """
    if transposed:
        if dilation != 1:
            raise InputError("conv_block: a transposed convolution takes no dilation")
        conv: nn.Module = nn.ConvTranspose2d(
            in_channels, out_channels, kernel_size, stride, padding=(kernel_size - stride) // 2
        )
    else:
        conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding=dilation * (kernel_size - 1) // 2, dilation=dilation
        )
    norm = [nn.BatchNorm2d(out_channels, eps=bn_eps)] if batch_norm else []
    return [conv, *norm, nn.ReLU(inplace=True)]


def fill_holes(image: Tensor, mask: Tensor, value: Tensor) -> Tensor:
    """Replace the hole pixels of ``image`` by ``value`` (known pixels are kept exactly).

    Args:
        image: ``(B, C, H, W)``.
        mask: ``(B, 1, H, W)`` in {0, 1}, 1 = hole.
        value: broadcastable to ``image``, e.g. ``(1, C, 1, 1)`` (one colour) or ``(B, 1, 1, 1)``.

    Returns:
        ``(B, C, H, W)``: ``image`` where ``mask == 0``, ``value`` where ``mask == 1``.
    """
    return image * (1 - mask) + value * mask


def telea_fill(image: Tensor, mask: Tensor) -> Tensor:
    """``image`` with its holes filled by OpenCV's Telea (radius 3; known pixels exact).

    Runs on the 8-bit picture, on the CPU, without gradients; the hole is zeroed first (OpenCV's
    Telea reads a few hole pixels next to known ones), so what lies under the hole never changes
    the result.
    """
    with torch.no_grad():
        return fill_holes(image, mask, TeleaInpainter()(image * (1 - mask), mask))


def init_head(head: nn.Conv2d, residual: bool) -> nn.Conv2d:
    """``head``, a generator's last convolution, zero-initialised when ``residual`` (so that an
    untrained residual generator returns its prefilled input exactly; see :func:`finish_output`)."""
    if residual:
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
    return head


def finish_output(
    out: Tensor, filled: Tensor | None = None, residual: bool = False, activation: str = "sigmoid"
) -> Tensor:
    """The frame in ``[0, 1]`` from a generator's last convolution ``out``.

    The families keep their own maths (their weights were trained with it), through this one helper:

    * ``residual`` (LaMa and outpainting options): ``clamp(filled + out, 0, 1)``, a correction
      added to the prefilled input ``filled``;
    * ``activation="sigmoid"`` (LaMa, as its official weights; outpainting): ``sigmoid(out)``;
    * ``activation="tanh"`` (PD-GAN and the neural-patch content network, which work in
      ``[-1, 1]`` like their reference code; their shipped weights depend on it):
      ``(tanh(out) + 1) / 2``.

    GLCIC's sigmoid stays the last module of its ``nn.Sequential`` instead: that Sequential mirrors
    the released Torch7 network module by module (:mod:`inpaintkit.torch7`).
    """
    if residual:
        return (filled + out).clamp(0, 1)
    if activation == "tanh":
        return (torch.tanh(out) + 1) / 2
    if activation != "sigmoid":
        raise ValueError(f"finish_output: activation must be sigmoid or tanh, got {activation!r}")
    return torch.sigmoid(out)


class StridedConvBranch(nn.Module):
    """A discriminator branch: stride-2 5x5 convolutions (``[BN] + ReLU``), flatten, FC, ReLU.

    Each convolution halves H and W (padding 2), so the FC sees ``widths[-1] * (H / 2**n) * (W / 2**n)``
    features for ``n = len(widths)``.

    Args:
        in_channels: input channels (3 for RGB).
        widths: output channels of the convolutions, in order.
        input_size: ``(H, W)`` of the inputs; both must be divisible by ``2 ** len(widths)``.
        features: width of the fully-connected output.
        batch_norm: BatchNorm after each convolution (GLCIC) or not (outpainting).

    Shape:
        ``(B, in_channels, H, W)`` -> ``(B, features)``.
    """

    def __init__(
        self, in_channels: int, widths: Sequence[int], input_size: tuple[int, int], features: int, *, batch_norm: bool
    ) -> None:
        super().__init__()
        factor = 2 ** len(widths)
        height, width = input_size
        if height % factor or width % factor or height < factor or width < factor:
            raise InputError(
                f"a branch of {len(widths)} stride-2 convolutions needs H and W divisible by "
                f"{factor}, got {height}x{width}"
            )
        layers: list[nn.Module] = []
        for out_channels in widths:
            layers += conv_block(in_channels, out_channels, 5, stride=2, batch_norm=batch_norm)
            in_channels = out_channels
        self.input_size = (height, width)
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Linear(widths[-1] * (height // factor) * (width // factor), features)

    def forward(self, x: Tensor) -> Tensor:
        check_spatial_size(x, "this discriminator branch", fixed=self.input_size, expects="takes {size} inputs")
        return torch.relu(self.fc(self.convs(x).flatten(1)))
