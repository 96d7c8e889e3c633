"""DDP training with world size 2 on CPU/gloo, started like torchrun (RANK/WORLD_SIZE/LOCAL_RANK env vars)."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp

from rgbt_tracker_ros.data.synthetic import make_specs
from rgbt_tracker_ros.data.writers import write_lasher
from rgbt_tracker_ros.networks.checkpoint import load_checkpoint
from rgbt_tracker_ros.networks.config import ModelConfig, build_model
from rgbt_tracker_ros.training.run_log import read_log

TINY = ModelConfig(
    name="test-tiny", kind="student", backbone="resnet18", input_size=64, clf_feature_dim=16, clf_feat_blocks=0,
    iou_pred_input_dim=16, iou_pred_inter_dim=16, init_gauss_sigma=0.2, mpsd_hidden_ratio=0.25, pretrained="none",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, data: str, run_dir: str, report_dir: str) -> None:
    """One torchrun-like process: environment variables only, then the ordinary ``train`` call."""
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    from rgbt_tracker_ros.data.datasets import open_dataset
    from rgbt_tracker_ros.training.loop import train
    from rgbt_tracker_ros.training.settings import load_settings

    settings = load_settings("dimp-student").replace(epochs=2, samples_per_epoch=8, batch_size=4, num_workers=0)
    result = train(TINY, open_dataset(data), run_dir, settings, device="cpu", progress=False)
    report = {"iterations": [e.iterations for e in result.epochs], "losses": [e.terms["loss"] for e in result.epochs]}
    Path(report_dir, f"rank{rank}.json").write_text(json.dumps(report))
    torch.save({name: p.detach().clone() for name, p in result.model.named_parameters()},
               Path(report_dir, f"rank{rank}.pt"))


def test_two_processes_on_gloo_train_in_step(tmp_path):
    data = tmp_path / "data"
    for spec in make_specs(2, seed=0, frames=24, size=(128, 96)):
        write_lasher(spec, data / spec.name)
    run_dir, reports = tmp_path / "run", tmp_path / "reports"
    reports.mkdir()
    mp.spawn(_worker, args=(2, _free_port(), str(data), str(run_dir), str(reports)), nprocs=2, join=True)

    rank0 = json.loads((reports / "rank0.json").read_text())
    rank1 = json.loads((reports / "rank1.json").read_text())
    # 8 samples per epoch, global batch 4 = 2 per process: 2 iterations each, on disjoint halves.
    assert rank0["iterations"] == rank1["iterations"] == [2, 2]
    # Epoch losses are averaged over the processes, so both report the same numbers.
    assert rank0["losses"] == rank1["losses"]
    # Only rank 0 wrote: one log row per epoch, one checkpoint per epoch.
    assert [row["epoch"] for row in read_log(run_dir / "log.csv")] == [1, 2]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["epoch_001.pt", "epoch_002.pt"]
    # Gradients are averaged every step, so both processes hold the same weights, which rank 0 saved.
    params0, params1 = torch.load(reports / "rank0.pt"), torch.load(reports / "rank1.pt")
    assert params0.keys() == params1.keys()
    assert all(torch.equal(params0[name], params1[name]) for name in params0)
    model, meta = load_checkpoint(run_dir / "checkpoints" / "epoch_002.pt")
    assert meta["extra"]["epoch"] == 2
    saved = dict(model.named_parameters())
    assert all(torch.equal(params0[name], saved[name]) for name in params0)
    torch.manual_seed(0)  # the initialisation of settings.seed 0: training moved the weights away from it
    initial = dict(build_model(TINY).named_parameters())
    assert not all(torch.equal(params0[name], initial[name]) for name in params0)
