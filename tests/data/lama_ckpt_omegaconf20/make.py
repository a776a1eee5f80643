"""Writes best.ckpt: a small LaMa generator in the layout of the released big-lama best.ckpt.

The released file (big-lama.zip: models/best.ckpt) was saved by PyTorch Lightning 1.x with its
hyper-parameters pickled by OmegaConf 2.0; its state dict holds the generator and the evaluators'
buffers but no discriminator or loss tensors, and it records ``hparams_name``. Run once with
OmegaConf 2.0.6 first on the path (its wheel unpacked into a folder; it needs PyYAML only):

    PYTHONPATH=/tmp/oc20:tests .venv/bin/python tests/data/lama_ckpt_omegaconf20/make.py
"""

import sys
import types
from pathlib import Path

import omegaconf
import torch
from _official_files import official_hparams, patterned_state

from inpaintkit.models.lama import LamaConfig, LamaGenerator

assert omegaconf.__version__.startswith("2.0."), omegaconf.__version__
hparams = official_hparams(ngf=4, n_downsampling=2, n_blocks=1)
net = LamaGenerator(LamaConfig(ngf=4, n_downsampling=2, n_blocks=1))
state = {f"generator.{key}": value for key, value in patterned_state(net).items()}
for evaluator in ("val_evaluator", "test_evaluator"):  # SSIM's Gaussian window buffer
    state[f"{evaluator}.scores.ssim.window"] = torch.full((3, 1, 11, 11), 1 / 121)
for name in ("pytorch_lightning", "pytorch_lightning.callbacks", "pytorch_lightning.callbacks.model_checkpoint"):
    sys.modules[name] = lightning = types.ModuleType(name)  # callback states are keyed by the class
lightning.ModelCheckpoint = type("ModelCheckpoint", (), {"__module__": lightning.__name__})
checkpoint = {
    "epoch": 39,
    "global_step": 800000,
    "pytorch-lightning_version": "1.2.9",
    "state_dict": state,
    "callbacks": {lightning.ModelCheckpoint: {"monitor": "val_ssim_fid100_f1_total_mean", "best_model_score": None}},
    "hparams_name": "kwargs",
    "hyper_parameters": hparams,
}
torch.save(checkpoint, Path(__file__).with_name("best.ckpt"))
