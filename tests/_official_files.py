"""Stand-ins of official weight files, built locally in the layout upstream publishes them."""

from __future__ import annotations

import omegaconf  # a test dependency: the official checkpoint pickles OmegaConf objects
import torch
import torch.nn as nn

from inpaintkit.models.lama import LamaGenerator


def official_generator(**changes) -> dict:
    """The ``generator`` section of a LaMa training config as big-lama's YAML writes it (interpolations as
    strings), with ``changes`` applied: big-lama's own is ``official_generator()``."""
    return {
        "kind": "ffc_resnet",
        "input_nc": 4,
        "output_nc": 3,
        "ngf": 64,
        "n_downsampling": 3,
        "n_blocks": 18,
        "add_out_act": "sigmoid",
        "init_conv_kwargs": {"ratio_gin": 0, "ratio_gout": 0, "enable_lfu": False},
        "downsample_conv_kwargs": {
            "ratio_gin": "${generator.init_conv_kwargs.ratio_gout}",
            "ratio_gout": "${generator.downsample_conv_kwargs.ratio_gin}",
            "enable_lfu": False,
        },
        "resnet_conv_kwargs": {
            "ratio_gin": 0.75,
            "ratio_gout": "${generator.resnet_conv_kwargs.ratio_gin}",
            "enable_lfu": False,
        },
        **changes,
    }


def official_hparams(**generator_changes) -> omegaconf.DictConfig:
    """A LaMa training config shaped like big-lama's config.yaml (interpolations included); its generator is
    a tiny one (ngf 8, 2 blocks) unless ``generator_changes`` say otherwise."""
    generator = official_generator(**{"ngf": 8, "n_blocks": 2, **generator_changes})
    return omegaconf.OmegaConf.create(
        {
            "run_title": "tiny",
            "training_model": {"kind": "default", "visualize_each_iters": 1000},
            "losses": {"l1": {"weight_missing": 0, "weight_known": 10}, "resnet_pl": {"weight": 30}},
            "optimizers": {"generator": {"kind": "adam", "lr": 0.001}},
            "location": {"data_root_dir": "/data/places"},
            "data": {"batch_size": 10, "train": {"indir": "${location.data_root_dir}/train"}},
            "generator": generator,
            "discriminator": {"kind": "pix2pixhd_nlayer", "input_nc": 3, "ndf": 64, "n_layers": 4},
            "trainer": {"kwargs": {"gpus": [0, 1], "max_epochs": 40}},
        }
    )


class IOPaintLayout(nn.Module):
    """big-lama.pt as IOPaint traced it: parameters named ``model.generator.<key>``, and a forward that
    masks the input, appends the mask, runs the generator (ending in a sigmoid) and pastes the known
    pixels back, so the traced module returns the *composited* picture."""

    def __init__(self, generator: LamaGenerator) -> None:
        super().__init__()
        self.model = nn.Module()
        self.model.generator = generator

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        masked = image * (1 - mask)
        predicted = torch.sigmoid(self.model.generator.model(torch.cat([masked, mask], dim=1)))
        return mask * predicted + (1 - mask) * image


def patterned_state(net: nn.Module) -> dict[str, torch.Tensor]:
    """Tensors for every entry of ``net.state_dict()`` given by a formula, so a file written once (by
    another library version, say) can be checked later without storing a second copy."""
    state = {}
    for i, (key, value) in enumerate(net.state_dict().items()):
        if value.dtype == torch.long:  # BatchNorm's num_batches_tracked
            state[key] = torch.full_like(value, 1234)
        else:
            ramp = torch.linspace(-0.25, 0.25, value.numel()).reshape(value.shape) + 0.01 * (i % 7)
            state[key] = ramp.abs() + 0.5 if key.endswith("running_var") else ramp
    return state
