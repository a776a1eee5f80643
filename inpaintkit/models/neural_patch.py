"""Multi-scale neural patch synthesis: a content network's guess refined by patch synthesis.

Paper: C. Yang, X. Lu, Z. Lin, E. Shechtman, O. Wang, H. Li, "High-Resolution Image Inpainting using
Multi-Scale Neural Patch Synthesis", CVPR 2017, arXiv:1611.09969. Reference code (Torch7, MIT,
"research purpose only"): https://github.com/leehomyc/Faster-High-Res-Neural-Inpainting. This is an
independent implementation of both parts of the method: the content network (trained, see
:mod:`inpaintkit.training.objectives.neural_patch`) and the texture stage that refines its
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

**Texture stage** (:func:`texture_stage`), for one image. Yang et al. minimise, at each of 3
scales, a content term (stay close to the content network's guess) plus a texture term (every
patch of the hole, in VGG-19 feature space, close to its nearest known patch), by back-propagation.
That texture term is Wexler et al.'s patch energy, which nearest-neighbour search plus voting
minimises directly (each EM step lowers it), in any feature space; here it is solved that way by
:mod:`inpaintkit.classical.patch_synthesis`:

1. the content network runs on the whole image resized to its square input; its output, resized
   back, is the first fill of the hole at the coarsest scale;
2. the content term becomes the synthesis's *guide*: channels computed once from the picture with
   the guess in its hole (its blurred colours, plus VGG-19 ``relu3_1`` features when VGG weights are
   at hand, :mod:`._patch_features`), which a copied patch must share with the place it fills;
3. coarse to fine over a pyramid (``scales`` levels at most, down to about 48 px by default),
   PatchMatch finds each hole patch's nearest known patch in colour, voted texture features and
   the guide, and every hole pixel takes the copy of its best-matching patch; the finest level's
   fill is the result, with the known pixels the input's.

Feature spaces (``vgg``, the paper's, and ``pixel``, which needs no download) are described in
:mod:`._patch_features`.

Progress and cancellation: ``forward`` takes tensors only, so the texture stage reads the calling
pipeline's :class:`~inpaintkit.types.Job` from :func:`~inpaintkit.types.active_job` (set for the
duration of a pipeline call); it counts EM iterations, and a cancelled job stops it with
:class:`~inpaintkit.types.Cancelled` after the current one.

Deviations from the paper, on purpose: any hole shape and position; the texture energy is solved by
nearest neighbours and voting instead of L-BFGS (no back-propagation through the features, and
texture at full resolution with no VGG weights at all); the VGG features enter as a guide computed
on the content guess rather than recomputed on the fill at every step.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field, replace

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from ..classical.patch_synthesis import SynthesisConfig, synthesize
from ..registry import TRAINED_HERE, ModelSpec, register_models
from ..types import InputError, Job, SizeRule, active_job
from ._layers import check_spatial_size, fill_holes, finish_output
from ._patch_features import PixelGuide, load_feature_space
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


# ------------------------------------------------------------------------------- texture stage
#: Bounds of the texture stage's settings (a pyramid halves down to a few pixels well before 16
#: levels; 1,000 EM iterations are far past convergence).
MAX_SCALES = 16
MAX_ITERATIONS = 1000
#: The texture stage's settings (docs/BENCHMARKS.md, neural-patch-512): the best-match vote at every
#: level, as for the default model.
TEXTURE_CONFIG = SynthesisConfig(vote="best")


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


def texture_stage(
    image: Tensor,
    mask: Tensor,
    coarse: Tensor,
    features: PixelGuide,
    config: SynthesisConfig,
    job: Job | None = None,
    progress: bool = False,
) -> Tensor:
    """Fill the holes of ``image`` from the content network's ``coarse`` guess by patch synthesis.

    Args:
        image: ``(B, 3, H, W)`` in [0, 1].
        mask: ``(B, 1, H, W)`` in {0, 1}, 1 = hole.
        coarse: ``(B, 3, h, w)`` first guess of the whole frame at any size (resized to ``(H, W)``).
        features: the feature space that computes the guide (:func:`load_feature_space`).
        config: the synthesis settings.
        job: counts the EM iterations and stops between them once cancelled.
        progress: show a progress bar of the EM iterations of each image.

    Returns:
        ``(B, 3, H, W)`` in [0, 1]: the hole filled, known pixels the input's.
    """
    job = job or Job()
    guess = _resize(coarse, tuple(image.shape[-2:]), "bilinear").clamp(0.0, 1.0)
    outputs = []
    for b in range(image.shape[0]):
        picture = image[b].permute(1, 2, 0).float().cpu().numpy()
        hole = mask[b, 0].cpu().numpy() > 0
        start = guess[b].permute(1, 2, 0).float().cpu().numpy()
        composite = torch.where(mask[b : b + 1] > 0, guess[b : b + 1], image[b : b + 1]).float()
        with contextlib.ExitStack() as stack:
            bar = stack.enter_context(tqdm(desc="neural-patch", unit="it", leave=False, disable=not progress))

            def report(done: int, total: int, stack: contextlib.ExitStack = stack, bar: tqdm = bar) -> None:
                if done == 1:  # the total is known once the pyramid is built
                    stack.enter_context(job.units(total))
                    bar.total = total
                job.advance(1)
                bar.update(1)

            filled = synthesize(
                picture, hole, start=start, guide=features(composite), config=config, on_iteration=report
            )
        outputs.append(torch.from_numpy(filled).permute(2, 0, 1))
    return torch.stack(outputs).to(image.dtype)


# ------------------------------------------------------------------------------------- the model
class NeuralPatchInpainter(Inpainter):
    """Multi-scale neural patch synthesis as a registered model (``forward(image, mask) -> image``).

    The content network gives a first guess of the whole frame; the texture stage minimises the
    paper's energy (a content term: stay with the guess's layout; a texture term: every hole patch
    like a known patch) by nearest-neighbour search and voting over a pyramid
    (:mod:`inpaintkit.classical.patch_synthesis`), in the feature space at hand.

    Args:
        content: the content network that gives the first guess.
        feature_space: ``auto``, ``vgg`` or ``pixel`` (see :func:`~._patch_features.load_feature_space`).
        vgg_weights: a local copy of torchvision's VGG-19 weights.
        scales: at most this many pyramid levels (``None``: down to about 48 px).
        iterations: EM iterations at the coarsest scale (``None``: the synthesis default; 0: the
            content network's guess alone).
        progress: show a progress bar of the texture stage's EM iterations (the pipeline's job
            counts them either way).

    Attributes:
        feature_space: the feature space in use, ``vgg`` or ``pixel``.
        note: why ``auto`` fell back to ``pixel`` (empty otherwise).
        config: the resolved :class:`~inpaintkit.classical.patch_synthesis.SynthesisConfig`.

    Shape:
        image ``(B, 3, H, W)`` in [0, 1], mask ``(B, 1, H, W)`` with 1 = hole -> ``(B, 3, H, W)`` in
        [0, 1], for any H and W.
    """

    pad_multiple = 1
    pipeline = "inpaint"
    postprocess = ""
    needs_prior = False
    float32_only = "synthesises each image in float32"

    def __init__(
        self,
        content: ContentNetwork,
        *,
        feature_space: str = "auto",
        vgg_weights: str | os.PathLike | None = None,
        scales: int | None = None,
        iterations: int | None = None,
        progress: bool = True,
    ) -> None:
        super().__init__()
        for key, value, low, high in (("scales", scales, 1, MAX_SCALES), ("iterations", iterations, 0, MAX_ITERATIONS)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise InputError(f"neural-patch: {key} must be an integer >= {low}, got {value!r}")
            if value is not None and value > high:
                raise InputError(f"neural-patch: {key} must be at most {high}, got {value!r}")
        self.content = content.eval()
        self.features, self.note = load_feature_space(feature_space, vgg_weights)
        self.feature_space: str = self.features.name
        #: ``iterations=0``: the content network's guess alone (:func:`content_alone`)
        self.texture = iterations != 0
        chosen = TEXTURE_CONFIG.iterations if iterations is None else max(1, iterations)
        self.config = replace(TEXTURE_CONFIG, levels=scales or 0, iterations=chosen)
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
        """Fill the holes: the content network's guess, then the texture stage (:func:`texture_stage`)."""
        coarse = self.predict_content(image, mask)
        if not self.texture:  # the content network alone: its guess, resized (the pipeline composites)
            return _resize(coarse, tuple(image.shape[-2:]), "bilinear").clamp(0.0, 1.0)
        return texture_stage(image, mask, coarse, self.features, self.config, active_job(), self.progress)


def content_alone(content: ContentNetwork) -> NeuralPatchInpainter:
    """The content network as an inpainter of any image size: neural patch synthesis without its
    texture stage (one scale, no iterations). The whole image is resized to the network's square
    input and the prediction is resized back into the hole, as :func:`texture_stage` starts; this
    is the baseline the texture stage improves on (``inpaintkit eval --models content-small``).
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
        "content-small's guess textured by patch synthesis (VGG-19 or pixel guide)",
        TRAINED_HERE,
        arch="content",
        config=PRESETS["content-small"],
        factory=NeuralPatchInpainter,
        **_CONTENT_SMALL,
    ),
)
