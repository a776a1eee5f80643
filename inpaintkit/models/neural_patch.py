"""Multi-scale neural patch synthesis: a content network's guess refined by texture optimisation.

Paper: C. Yang, X. Lu, Z. Lin, E. Shechtman, O. Wang, H. Li, "High-Resolution Image Inpainting using
Multi-Scale Neural Patch Synthesis", CVPR 2017, arXiv:1611.09969. Reference code (Torch7, MIT,
"research purpose only"): https://github.com/leehomyc/Faster-High-Res-Neural-Inpainting. This is an
independent implementation of both parts of the method: the content network (trained, see
:mod:`inpaintkit.training.objectives.neural_patch`) and the texture optimisation that refines its
output at inference (:class:`NeuralPatchInpainter`, the registered ``neural-patch`` model).

**Content network.** A variant of the Context Encoder (D. Pathak et al., "Context Encoders: Feature
Learning by Inpainting", CVPR 2016, arXiv:1604.07379; code https://github.com/pathak22/context-encoder,
BSD) with a standard fully-connected bottleneck and ELU activations, as Yang et al. describe.
Layout (``w0 .. w4`` = :attr:`ContentConfig.widths`, paper 64, 64, 128, 256, 512; ``s`` =
:attr:`ContentConfig.size`, 128; every layer but the last is followed by BatchNorm and ELU, except
the first, which has no BatchNorm):

    encoder     conv4 s2 w0 | conv4 s2 w1 | ... | conv4 s2 w4          s -> s / 32
    bottleneck  FC (w4 * (s/32)^2 -> bottleneck 4000) | FC (-> w4 * (s/32)^2)
    decoder     deconv4 s2 w3 | deconv4 s2 w2 | deconv4 s2 w1 | deconv4 s2 w0 | deconv4 s2 3 + tanh

Deliberate deviation (the reason the paper's method only handled a centred square): the network
sees the whole frame with a hole of any shape and position and predicts the whole ``s x s`` frame
(the original decodes only the central 64 x 64 patch). Conversion done here: the input is the image
with the hole filled by the Context Encoder's mean colour (117, 104, 123) / 255, mapped to [-1, 1],
plus the mask channel (1 = hole); the tanh output is mapped back to [0, 1]. H and W must equal
:attr:`ContentConfig.size` (:class:`NeuralPatchInpainter` resizes).

The discriminator (training only) is DCGAN's: 4x4 stride-2 convolutions (BatchNorm except on the
first, LeakyReLU 0.2) down to 4 x 4, then a 4x4 convolution to one logit.

**Texture optimisation** (:func:`synthesize`), for one image:

1. choose the scales: the working size is the image shrunk to at most ``max_side`` on its long side
   (512 by default, the paper's resolution: larger photos are filled at 512 and the fill is
   upsampled), and each coarser scale halves it (3 scales: 128, 256, 512);
2. the coarsest scale starts from a first guess of the whole frame: :class:`NeuralPatchInpainter`
   runs the content network on the whole image resized to its square input and resizes the output
   back; each finer scale starts from the previous result upsampled (bilinear), with the known
   pixels of the image at that scale;
3. at each scale, L-BFGS minimises over the hole's pixels ``E_c + texture_weight * E_t + tv_weight * TV``:
   ``E_c`` the mean squared difference to the starting point in the hole, ``E_t`` the texture energy
   of :mod:`inpaintkit.losses.texture` summed over the feature layers, each layer's divided by the
   mean square of its matched patches (so the weight does not depend on the feature scale), and
   ``TV`` the squared total variation over neighbour pairs touching the hole. The hole's patches are
   matched to the patches outside it every ``nn_interval`` iterations (on the whole image); energies
   are evaluated on a crop around the hole wide enough for the features' receptive field;
4. the finest scale's frame, upsampled to the image size if it was filled smaller, is the raw
   prediction: not composited (the pipeline pastes its hole pixels into the image). Only hole pixels
   are optimised, so when the image is filled at its own size its known pixels come back unchanged.

Feature spaces (``vgg``, the paper's, and ``pixel``, which needs no download) are described in
:mod:`._patch_features`.

Progress and cancellation: ``forward`` takes tensors only, so the optimisation reads the calling
pipeline's :class:`~inpaintkit.types.Job` from :func:`~inpaintkit.types.active_job` (set for the
duration of a pipeline call); it counts ``scales x iterations`` units, and a cancelled job stops it
with :class:`~inpaintkit.types.Cancelled` at the next L-BFGS evaluation.

Deviations from the paper, on purpose: any hole shape and position; the hole's patches are matched
exactly (no rotated or scaled copies in the bank); bank patches lie on a grid of ``bank_stride``
feature cells; the energies are means and the texture energy is relative, so the weights differ
from the paper's 5e-6; images larger than ``max_side`` are filled at that size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from ..losses.texture import nearest_patches, neural_patches, texture_energy, tv_energy
from ..registry import TRAINED_HERE, ModelSpec, register_models
from ..types import InputError, Job, SizeRule, active_job
from ._layers import check_spatial_size, fill_holes, finish_output
from ._patch_features import load_feature_space
from .contract import Family, Inpainter, register_family

#: The Context Encoder's hole colour (its training set's mean pixel), in [0, 1].
CONTENT_MEAN = (117 / 255, 104 / 255, 123 / 255)


@dataclass
class ContentConfig:
    """Size of a content network.

    Attributes:
        widths: output channels of the stride-2 encoder convolutions (the decoder mirrors them).
        bottleneck: width of the fully-connected bottleneck (paper: 4000).
        size: side of the square frames the network takes and returns (paper: 128); a multiple of
            ``2 ** len(widths)``.
        mean: RGB hole colour in [0, 1].
    """

    widths: list[int] = field(default_factory=lambda: [64, 64, 128, 256, 512])
    bottleneck: int = 4000
    size: int = 128
    mean: list[float] = field(default_factory=lambda: list(CONTENT_MEAN))

    def __post_init__(self) -> None:
        if not self.widths or min(self.widths) < 1:
            raise InputError(f"ContentConfig: widths must be a non-empty list of positive numbers, got {self.widths}")
        factor = 2 ** len(self.widths)
        if self.size < factor or self.size % factor:
            raise InputError(f"ContentConfig: size must be a multiple of 2 ** len(widths) = {factor}, got {self.size}")
        if self.bottleneck < 1:
            raise InputError(f"ContentConfig: bottleneck must be >= 1, got {self.bottleneck}")
        if len(self.mean) != 3 or not all(0.0 <= float(v) <= 1.0 for v in self.mean):
            raise InputError(f"ContentConfig: mean must be three values in [0, 1], got {self.mean}")
        self.widths = [int(w) for w in self.widths]
        self.mean = [float(v) for v in self.mean]

    @property
    def bottom(self) -> int:
        """Side of the encoder's last feature map (``size / 2 ** len(widths)``)."""
        return self.size // 2 ** len(self.widths)


#: content: the paper's widths, 71,220,323 parameters, 0.43 G multiply-adds per 128 x 128 frame.
#: content-small: sized for a 2-core CPU, 2,976,771 parameters, 0.068 G multiply-adds per frame (one
#: training step at batch 16 with a width-16 discriminator: ~0.3 s on one thread).
PRESETS: dict[str, ContentConfig] = {
    "content": ContentConfig(),
    "content-small": ContentConfig(widths=[16, 32, 64, 128, 128], bottleneck=512),
}


def _down(in_channels: int, out_channels: int, batch_norm: bool, activation: nn.Module) -> list[nn.Module]:
    norm = [nn.BatchNorm2d(out_channels)] if batch_norm else []
    return [nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1), *norm, activation]


class ContentNetwork(Inpainter):
    """Encoder - FC bottleneck - decoder predicting the whole frame (see the module docstring).

    Args:
        config: widths, bottleneck, frame size and hole colour; see :data:`PRESETS`.

    Shape:
        image ``(B, 3, s, s)`` in [0, 1], mask ``(B, 1, s, s)`` with 1 = hole -> ``(B, 3, s, s)`` in
        [0, 1], ``s`` = ``config.size``.
    """

    #: Inputs are not padded to a multiple; they must be exactly ``config.size`` square.
    pad_multiple = 1
    pipeline = "inpaint"
    postprocess = ""
    needs_prior = False

    def __init__(self, config: ContentConfig) -> None:
        super().__init__()
        self.config = config
        widths, bottom = config.widths, config.bottom
        layers: list[nn.Module] = []
        in_channels = 4
        for index, width in enumerate(widths):
            layers += _down(in_channels, width, batch_norm=index > 0, activation=nn.ELU())
            in_channels = width
        self.encoder = nn.Sequential(*layers)
        flat = widths[-1] * bottom * bottom
        self.bottleneck = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, config.bottleneck),
            nn.BatchNorm1d(config.bottleneck),
            nn.ELU(),
            nn.Linear(config.bottleneck, flat),
            nn.BatchNorm1d(flat),
            nn.ELU(),
            nn.Unflatten(1, (widths[-1], bottom, bottom)),
        )
        layers = []
        for width in [*reversed(widths[:-1])]:
            layers += [nn.ConvTranspose2d(in_channels, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ELU()]
            in_channels = width
        layers.append(nn.ConvTranspose2d(in_channels, 3, 4, stride=2, padding=1))  # the tanh is in forward
        self.decoder = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(config.mean).view(1, 3, 1, 1), persistent=False)

    @property
    def min_size(self) -> int:
        """Smallest H and W accepted: the frame size (a smaller input is padded up to it)."""
        return self.config.size

    def size_rule(self) -> SizeRule:
        """Only ``config.size`` squares (:func:`content_alone` fills any size)."""
        return SizeRule(1, self.config.size, fixed=self.config.size)

    def for_pipeline(self) -> Inpainter:
        """:func:`content_alone`: this network as an inpainter of any size (resized to its square)."""
        return content_alone(self)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """Predict the whole frame (not composited).

        Args:
            image: ``(B, 3, s, s)`` in [0, 1].
            mask: ``(B, 1, s, s)`` in {0, 1}, 1 = hole.

        Returns:
            ``(B, 3, s, s)`` prediction in [0, 1].

        Raises:
            InputError: if H or W differs from ``config.size``.
        """
        check_spatial_size(image, "the content network", fixed=self.config.size, hint="resize the image first")
        filled = fill_holes(image, mask, self.mean.to(image.dtype)) * 2 - 1
        out = self.decoder(self.bottleneck(self.encoder(torch.cat([filled, mask], dim=1))))
        return finish_output(out, activation="tanh")


class ContentDiscriminator(nn.Module):
    """DCGAN discriminator: one real/fake logit per image (training only).

    Args:
        ndf: channels of the first convolution (doubling per layer, at most ``8 * ndf``).
        size: side of the square images it scores; ``size / 4`` must be a power of two >= 2.

    Shape:
        ``(B, 3, size, size)`` in [0, 1] -> logits ``(B,)`` (real > 0 > fake).
    """

    def __init__(self, ndf: int = 64, size: int = 128) -> None:
        super().__init__()
        steps = (size // 4).bit_length() - 1
        if ndf < 1 or size % 4 or size // 4 != 2**steps or steps < 1:
            raise InputError(
                f"ContentDiscriminator: size / 4 must be a power of two >= 2 and ndf >= 1, got size {size}, ndf {ndf}"
            )
        self.size = size
        layers: list[nn.Module] = []
        in_channels = 3
        for index in range(steps):
            out_channels = ndf * min(2**index, 8)
            layers += _down(in_channels, out_channels, batch_norm=index > 0, activation=nn.LeakyReLU(0.2))
            in_channels = out_channels
        layers.append(nn.Conv2d(in_channels, 1, 4))
        self.model = nn.Sequential(*layers)

    def forward(self, image: Tensor) -> Tensor:
        check_spatial_size(image, "this discriminator", fixed=self.size, expects="takes {size} images")
        return self.model(image * 2 - 1).flatten()


#: The family as weight files name it (``arch``), with its presets and training objective.
FAMILY = register_family(
    Family(
        "content",
        ContentConfig,
        ContentNetwork,
        PRESETS,
        objective="neural-patch-content",
        tiny=ContentConfig(widths=[4, 4, 8], bottleneck=8, size=32),
    )
)


# ------------------------------------------------------------------------- texture optimisation
def _resize(x: Tensor, size: tuple[int, int], mode: str = "bilinear") -> Tensor:
    """``(B, C, H, W)`` resized to ``size = (h, w)``: ``bilinear`` (antialiased when shrinking) or
    ``area`` (averages; with ``> 0`` it shrinks a mask without losing thin holes); ``x`` itself when
    it already has that size. The same as :func:`inpaintkit.pipelines.processing.resize` for these modes."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if mode == "area":
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def _resize_hole(mask: Tensor, size: tuple[int, int]) -> Tensor:
    """The hole at ``size``: every pixel that sees a hole pixel of ``mask`` (area resize ``> 0``)."""
    return (_resize(mask, size, "area") > 0).to(mask.dtype)


@dataclass
class SynthesisConfig:
    """Settings of the multi-scale optimisation.

    Attributes:
        scales: number of scales, each twice the size of the previous one (paper: 3).
        iterations: L-BFGS iterations per scale (paper: 100; at most 1.25 energy evaluations each
            on average, torch's default budget); 0 keeps the upsampled content prediction.
        texture_weight: weight of the texture energy (alpha).
        tv_weight: weight of the squared total variation (beta).
        nn_interval: iterations between two matchings of the hole's patches.
        bank_stride: grid step, in feature cells, of the patches the hole's patches are matched to.
        max_side: long side of the finest scale; larger images are filled at this size and the fill
            is upsampled.
        history_size: L-BFGS memory.
    """

    scales: int = 3
    iterations: int = 100
    texture_weight: float = 3.0
    tv_weight: float = 0.1
    nn_interval: int = 20
    bank_stride: int = 2
    max_side: int = 512
    history_size: int = 10

    def __post_init__(self) -> None:
        minimum = {
            "scales": 1,
            "iterations": 0,
            "nn_interval": 1,
            "bank_stride": 1,
            "max_side": 16,
            "history_size": 1,
        }
        for key, low in minimum.items():
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"neural-patch: {key} must be an integer >= {low}, got {value!r}")
        for key in ("texture_weight", "tv_weight"):
            if not float(getattr(self, key)) >= 0:
                raise InputError(f"neural-patch: {key} must be >= 0, got {getattr(self, key)!r}")


def scale_sizes(height: int, width: int, scales: int, max_side: int) -> list[tuple[int, int]]:
    """``(h, w)`` of each scale, coarsest first: the working size (long side at most ``max_side``)
    divided by ``2 ** (scales - 1 - k)`` for scale ``k``, rounded, at least 1."""
    shrink = min(1.0, max_side / max(height, width))
    return [
        (max(1, round(height * shrink / 2**k)), max(1, round(width * shrink / 2**k))) for k in reversed(range(scales))
    ]


def synthesize(
    image: Tensor, mask: Tensor, coarse: Tensor, features: nn.Module, config: SynthesisConfig, progress: bool = False
) -> Tensor:
    """Fill the holes of ``image`` starting from ``coarse`` (steps in the module docstring).

    Args:
        image: ``(B, 3, H, W)`` in [0, 1].
        mask: ``(B, 1, H, W)`` in {0, 1}, 1 = hole.
        coarse: ``(B, 3, h, w)`` first guess of the whole frame at any size (resized to the coarsest scale).
        features: a feature space (:func:`load_feature_space`).
        config: scales, iterations, weights.
        progress: show a progress bar per scale.

    Returns:
        ``(B, 3, H, W)`` in [0, 1], the raw prediction of the whole frame (not composited): the finest
        scale's frame, upsampled to ``(H, W)`` when the image was filled smaller (then known pixels are
        the upsampled ones too); at full size the known pixels are the input's. An image without a
        hole is returned as it is.
    """
    with torch.inference_mode(False), torch.enable_grad():  # the pipeline may call us in inference mode
        image, mask, coarse = (t.clone(memory_format=torch.contiguous_format) for t in (image, mask, coarse))
        outputs = []
        for b in range(image.shape[0]):
            outputs.append(
                _synthesize_one(image[b : b + 1], mask[b : b + 1], coarse[b : b + 1], features, config, progress)
            )
        return torch.cat(outputs)


def _synthesize_one(
    image: Tensor, mask: Tensor, coarse: Tensor, features: nn.Module, config: SynthesisConfig, progress: bool
) -> Tensor:
    if not bool(mask.any()):
        return image
    sizes = scale_sizes(*image.shape[-2:], config.scales, config.max_side)
    result = coarse
    job = active_job() or Job()  # the pipeline call's, if any: progress and cancel between iterations
    with job.units(len(sizes) * config.iterations):
        for k, size in enumerate(sizes):
            known, hole = _resize(image, size, "bilinear"), _resize_hole(mask, size)
            start = torch.where(hole > 0, _resize(result, size, "bilinear"), known)  # the known pixels at this scale
            bar = tqdm(
                total=config.iterations,
                desc=f"neural-patch scale {k + 1}/{len(sizes)} {size[1]}x{size[0]}",
                unit="it",
                leave=False,
                disable=not progress,
            )
            with bar:
                result = _optimise_scale(start, known, hole, features, config, bar, job)
    return _resize(result, tuple(image.shape[-2:]), "bilinear").clamp(0.0, 1.0)


def _crop_box(hole: Tensor, margin: int, align: int) -> tuple[int, int, int, int]:
    """``(y0, x0, y1, x1)`` around the hole of ``(1, 1, H, W)`` grown by ``margin``; y0, x0 multiples of ``align``."""
    height, width = hole.shape[-2:]
    rows = hole[0, 0].any(dim=1).nonzero()[:, 0]
    cols = hole[0, 0].any(dim=0).nonzero()[:, 0]
    y0 = max(0, (int(rows[0]) - margin) // align * align)
    x0 = max(0, (int(cols[0]) - margin) // align * align)
    y1 = min(height, -(-(int(rows[-1]) + 1 + margin) // align) * align)
    x1 = min(width, -(-(int(cols[-1]) + 1 + margin) // align) * align)
    return y0, x0, y1, x1


@dataclass
class _Match:
    """The hole's patches of one layer (crop coordinates) and their matched bank patches."""

    layer: int
    rows: Tensor
    cols: Tensor
    targets: Tensor
    scale: float


def _match(
    features: nn.Module, image: Tensor, hole: Tensor, box: tuple[int, int, int, int], bank_stride: int
) -> list[_Match]:
    """Match every patch centred on a hole cell to its nearest patch (the feature space's metric) among the
    patches on the ``bank_stride`` grid whose 3 x 3 cells see no hole pixel; positions in crop coordinates."""
    y0, x0 = box[:2]
    matches = []
    with torch.no_grad():
        for layer, (fmap, stride) in enumerate(zip(features(image), features.strides)):
            if min(fmap.shape[-2:]) < 3:
                continue  # too small a map for a patch outside the hole
            cells = F.max_pool2d(hole, stride)[0, 0] > 0  # feature cells that see a hole pixel
            rows, cols = cells.nonzero(as_tuple=True)
            window_clear = F.max_pool2d(cells[None, None].to(fmap.dtype), 3, stride=1)[0, 0] == 0
            grid = torch.zeros_like(window_clear)
            grid[::bank_stride, ::bank_stride] = True
            bank_rows, bank_cols = (window_clear & grid).nonzero(as_tuple=True)
            if rows.numel() == 0 or bank_rows.numel() == 0:
                continue  # a hole finer than this layer's cells, or no known patch at this size
            bank = neural_patches(fmap, bank_rows + 1, bank_cols + 1)
            best = nearest_patches(neural_patches(fmap, rows, cols), bank, features.metric)
            targets = bank[best]
            scale = 1.0 / max(float(targets.pow(2).mean()), 1e-12)
            matches.append(_Match(layer, rows - y0 // stride, cols - x0 // stride, targets, scale))
    return matches


def _optimise_scale(
    start: Tensor, known: Tensor, hole: Tensor, features: nn.Module, config: SynthesisConfig, bar: tqdm, job: Job
) -> Tensor:
    """L-BFGS on the hole's pixels at one scale; returns the whole frame. ``job`` counts the iterations
    and stops the optimisation (:class:`~inpaintkit.types.Cancelled`) at the next evaluation once cancelled."""
    if config.iterations == 0:
        return start
    y0, x0, y1, x1 = box = _crop_box(hole, features.margin, max(features.strides))
    hole_c, known_c, target_c = hole[..., y0:y1, x0:x1], known[..., y0:y1, x0:x1], start[..., y0:y1, x0:x1]
    pixels = start[..., y0:y1, x0:x1].clone(memory_format=torch.contiguous_format).requires_grad_(True)
    count = hole_c.sum() * 3  # the optimiser sees count * E: per-pixel gradients of order 1

    def current() -> Tensor:
        return torch.where(hole_c > 0, pixels, known_c)

    def frame() -> Tensor:
        out = start.clone()
        out[..., y0:y1, x0:x1] = current().detach()
        return out

    optimizer = torch.optim.LBFGS([pixels], lr=1, history_size=config.history_size, line_search_fn="strong_wolfe")
    done = 0
    while done < config.iterations:
        matches = _match(features, frame(), hole, box, config.bank_stride)
        chunk = min(config.nn_interval, config.iterations - done)
        optimizer.param_groups[0].update(max_iter=chunk, max_eval=chunk * 5 // 4)

        def closure(matches: list[_Match] = matches) -> Tensor:
            job.check()
            optimizer.zero_grad()
            x = current()
            energy = ((x - target_c).pow(2) * hole_c).sum() / count
            if matches and config.texture_weight:
                maps = features(x)
                textures = [m.scale * texture_energy(maps[m.layer], m.rows, m.cols, m.targets) for m in matches]
                energy = energy + config.texture_weight * torch.stack(textures).sum()
            if config.tv_weight:
                energy = energy + config.tv_weight * tv_energy(x, hole_c)
            total = energy * count
            total.backward()
            return total

        before = optimizer.state[pixels].get("n_iter", 0)
        optimizer.step(closure)
        bar.update(optimizer.state[pixels]["n_iter"] - before)  # fewer than chunk when L-BFGS converged
        done += chunk
        job.advance(chunk)
    return frame()


# ------------------------------------------------------------------------------------- the model
class NeuralPatchInpainter(Inpainter):
    """Multi-scale neural patch synthesis as a registered model (``forward(image, mask) -> image``).

    Args:
        content: the content network that gives the coarsest guess.
        feature_space: ``auto``, ``vgg`` or ``pixel`` (see :func:`~._patch_features.load_feature_space`).
        vgg_weights: a local copy of torchvision's VGG-19 weights.
        scales, nn_interval, bank_stride, max_side: see :class:`SynthesisConfig`.
        iterations, texture_weight, tv_weight: ``None`` = the feature space's default.
        progress: show a progress bar per scale.

    Attributes:
        feature_space: the feature space in use, ``vgg`` or ``pixel``.
        note: why ``auto`` fell back to ``pixel`` (empty otherwise).
        config: the resolved :class:`SynthesisConfig`.

    Shape:
        image ``(B, 3, H, W)`` in [0, 1], mask ``(B, 1, H, W)`` with 1 = hole -> ``(B, 3, H, W)`` in
        [0, 1], for any H and W.
    """

    pad_multiple = 1
    pipeline = "inpaint"
    postprocess = ""
    needs_prior = False
    float32_only = "optimises each image in float32"

    def __init__(
        self,
        content: ContentNetwork,
        *,
        feature_space: str = "auto",
        vgg_weights: str | os.PathLike | None = None,
        scales: int = 3,
        iterations: int | None = None,
        texture_weight: float | None = None,
        tv_weight: float | None = None,
        nn_interval: int = 20,
        bank_stride: int = 2,
        max_side: int = 512,
        progress: bool = True,
    ) -> None:
        super().__init__()
        self.content = content.eval()
        self.features, self.note = load_feature_space(feature_space, vgg_weights)
        self.feature_space: str = self.features.name
        chosen = {"iterations": iterations, "texture_weight": texture_weight, "tv_weight": tv_weight}
        defaults = {key: getattr(self.features, key) if value is None else value for key, value in chosen.items()}
        self.config = SynthesisConfig(
            scales=scales,
            nn_interval=nn_interval,
            bank_stride=bank_stride,
            max_side=max_side,
            **defaults,
        )
        self.progress = progress

    def predict_content(self, image: Tensor, mask: Tensor) -> Tensor:
        """The content network's prediction of the whole image, at the network's square size.

        Shape: ``(B, 3, H, W)``, ``(B, 1, H, W)`` -> ``(B, 3, s, s)``.
        """
        size = (self.content.config.size,) * 2
        small, small_mask = _resize(image, size, "bilinear"), _resize_hole(mask, size)
        with torch.no_grad():
            return self.content(small, small_mask).clamp(0.0, 1.0)

    def size_rule(self) -> SizeRule:
        """Any size: the content network sees the image resized to its square, the texture stage any size."""
        return SizeRule()

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """Fill the holes: the raw prediction of the whole frame (see :func:`synthesize`), not composited."""
        coarse = self.predict_content(image, mask)
        return synthesize(image, mask, coarse, self.features, self.config, progress=self.progress)


def content_alone(content: ContentNetwork) -> NeuralPatchInpainter:
    """The content network as an inpainter of any image size: neural patch synthesis without its
    texture stage (one scale, no iterations). The whole image is resized to the network's square
    input and the prediction is resized back into the hole, as :func:`synthesize` starts; this
    is the baseline the texture optimisation improves on (``inpaintkit eval --models content-small``).
    """
    return NeuralPatchInpainter(content, feature_space="pixel", scales=1, iterations=0, progress=False)


_CONTENT_SMALL = {"bundled": "content-small.safetensors", "recipe": "configs/content-small-cpu.yaml"}

register_models(
    ModelSpec(
        "content",
        "learned",
        "Neural-patch-synthesis content network (Yang et al. 2017), paper widths",
        "Apache-2.0",
        arch="content",
        config=PRESETS["content"],
    ),
    ModelSpec(
        "content-small",
        "learned",
        "Neural-patch-synthesis content network sized for CPU, trained here",
        TRAINED_HERE,
        arch="content",
        config=PRESETS["content-small"],
        **_CONTENT_SMALL,
    ),
    ModelSpec(
        "neural-patch",
        "optimisation",
        "Multi-scale neural patch synthesis (Yang et al. 2017): "
        "content-small refined by texture optimisation (VGG-19 or pixel patches)",
        TRAINED_HERE,
        arch="content",
        config=PRESETS["content-small"],
        factory=NeuralPatchInpainter,
        **_CONTENT_SMALL,
    ),
)
