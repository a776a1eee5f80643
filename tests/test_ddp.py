"""Data-parallel training with 2 CPU processes under torchrun (gloo)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from _training_toys import ConvGenerator, ToyObjective, tiny_config, write_images

from inpaintkit.training import Trainer

TESTS = Path(__file__).parent

WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import torch

    sys.path[:0] = [{tests!r}, {root!r}]
    from _training_toys import ConvGenerator, ToyObjective, tiny_config
    from inpaintkit.models.lama import PRESETS, LamaGenerator
    from inpaintkit.training import Trainer
    from inpaintkit.training import _distributed as ddp

    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    info = ddp.setup("cpu")
    torch.set_num_threads(1)

    # 1. generator-only L1 phase, batch 2 per rank (compared with one process at batch 4)
    config = tiny_config(data, out / "l1", steps=4, batch_size=2)
    torch.manual_seed(0)
    trainer = Trainer(config, ToyObjective(ConvGenerator()), dist=info)
    trainer.train()
    torch.save(trainer.nets["generator"].state_dict(), out / f"l1_rank{{info.rank}}.pt")

    # 2. GAN with R1 and batch norm, different initial weights per rank (rank 0's are broadcast)
    config = tiny_config(data, out / "gan", steps=3, train=("generator", "discriminator"))
    torch.manual_seed(10 + info.rank)
    objective = ToyObjective(LamaGenerator(PRESETS["lama-tiny"]), adversarial=0.5, r1=0.1, noise=0.0)
    trainer = Trainer(config, objective, dist=info)
    trainer.train()
    torch.save({{n: net.state_dict() for n, net in trainer.nets.items()}}, out / f"gan_rank{{info.rank}}.pt")
    ddp.teardown(info)
    """
)


def test_two_processes_match_each_other_and_one_process_with_the_double_batch(tmp_path: Path) -> None:
    write_images(tmp_path / "data", 7)
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(tests=str(TESTS), root=str(TESTS.parent)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(script),
            str(tmp_path / "data"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    ranks = [torch.load(tmp_path / f"l1_rank{r}.pt", weights_only=True) for r in range(2)]
    for key in ranks[0]:
        assert torch.equal(ranks[0][key], ranks[1][key]), key
    assert torch.load(tmp_path / "l1" / "last.pt", weights_only=True)["step"] == 4  # rank 0 wrote it

    torch.set_num_threads(1)
    torch.manual_seed(0)
    single = Trainer(
        tiny_config(tmp_path / "data", tmp_path / "single", steps=4, batch_size=4), ToyObjective(ConvGenerator())
    )
    initial = {k: v.clone() for k, v in single.nets["generator"].state_dict().items()}
    single.train()
    for key, value in single.nets["generator"].state_dict().items():
        assert not torch.allclose(value, initial[key], atol=1e-4), f"{key} did not train"
        torch.testing.assert_close(ranks[0][key], value, rtol=0, atol=1e-6)

    gans = [torch.load(tmp_path / f"gan_rank{r}.pt", weights_only=True) for r in range(2)]
    for net in ("generator", "discriminator"):
        for key, value in gans[0][net].items():
            assert torch.equal(value, gans[1][net][key]), f"{net}.{key}"
    assert any("running_mean" in key for key in gans[0]["generator"])  # batch-norm buffers compared too
