"""Base training (training/*, cli/train.py): L_original by hand, one step learns, resume is exact, files."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from rgbt_tracker_ros.cli.main import main
from rgbt_tracker_ros.data.datasets import open_dataset
from rgbt_tracker_ros.errors import CheckpointError, InputError
from rgbt_tracker_ros.networks.checkpoint import load_checkpoint
from rgbt_tracker_ros.networks.config import ModelConfig, build_model
from rgbt_tracker_ros.networks.models import ModelOutput
from rgbt_tracker_ros.training.distributed import DistributedContext
from rgbt_tracker_ros.training.loop import Trainer, parameter_groups, read_training_state, train
from rgbt_tracker_ros.training.losses import DiMPLoss
from rgbt_tracker_ros.training.run_log import read_log
from rgbt_tracker_ros.training.settings import load_settings

TINY = ModelConfig(
    name="test-tiny", kind="student", backbone="resnet18", input_size=64, clf_feature_dim=16, clf_feat_blocks=0,
    iou_pred_input_dim=16, iou_pred_inter_dim=16, init_gauss_sigma=0.2, mpsd_hidden_ratio=0.25, pretrained="none",
)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def cli(monkeypatch):
    """``rgbt-tracker`` with only the train subcommand registered (independent of the others)."""
    monkeypatch.setattr("rgbt_tracker_ros.cli.main.SUBCOMMANDS", ("train",))
    return main



def small_settings(**changes):
    return load_settings("synthetic-cpu").replace(**{"epochs": 2, "samples_per_epoch": 4, "batch_size": 2, **changes})


def test_dimp_loss_by_hand():
    # Score maps 2x2 of zeros, label 1 at one cell: hinge = (0 - 1)^2 / 4 = 0.25 per iterate.
    scores = [torch.zeros(1, 1, 2, 2) for _ in range(3)]
    label = torch.zeros(1, 1, 2, 2)
    label[0, 0, 1, 1] = 1.0
    output = ModelOutput(target_scores=scores, iou_pred=torch.full((1, 1, 4), 0.5), train_features=None,
                         test_features=None)
    batch = {"test_label": label, "proposal_iou": torch.full((1, 1, 4), 0.5)}  # target 2 * 0.5 - 1 = 0
    loss = DiMPLoss()(output, batch)
    assert loss.terms["iou"] == pytest.approx(0.25)  # (0.5 - 0)^2
    assert loss.terms["test_clf"] == pytest.approx(25.0)
    assert loss.terms["test_init_clf"] == pytest.approx(25.0)
    assert loss.terms["test_iter_clf"] == pytest.approx(100.0)  # 400 / 1 middle iterate * 0.25
    assert float(loss.total) == pytest.approx(150.25)
    # A background cell predicted negative costs nothing (hinge); predicted positive it does.
    scores[-1][0, 0, 0, 0] = -3.0
    assert DiMPLoss()(output, batch).terms["test_clf"] == pytest.approx(25.0)
    scores[-1][0, 0, 0, 0] = 2.0
    assert DiMPLoss()(output, batch).terms["test_clf"] == pytest.approx(100 * (1 + 4) / 4)


def test_box_weight_scales_each_samples_iou_term():
    # Two samples, 4 proposals each, target IoU 0.5 (mapped to 0): squared errors 0.25 and 1.0 per proposal.
    scores = [torch.zeros(1, 2, 2, 2) for _ in range(3)]
    iou_pred = torch.tensor([[[0.5] * 4, [1.0] * 4]], requires_grad=True)
    output = ModelOutput(target_scores=scores, iou_pred=iou_pred, train_features=None, test_features=None)
    batch = {"test_label": torch.zeros(1, 2, 2, 2), "proposal_iou": torch.full((1, 2, 4), 0.5)}
    assert DiMPLoss()(output, batch).terms["iou"] == pytest.approx(0.625)
    assert DiMPLoss()(output, {**batch, "box_weight": torch.ones(1, 2)}).terms["iou"] == pytest.approx(0.625)
    assert DiMPLoss()(output, {**batch, "box_weight": torch.tensor([[2.0, 1.0]])}).terms["iou"] == pytest.approx(0.75)
    dropped = DiMPLoss()(output, {**batch, "box_weight": torch.tensor([[1.0, 0.0]])})
    assert dropped.terms["iou"] == pytest.approx(0.125)  # the mean stays over both samples' proposals
    dropped.total.backward()
    assert torch.all(iou_pred.grad[0, 1] == 0) and torch.all(iou_pred.grad[0, 0] != 0)


def test_parameter_groups_follow_the_prefixes():
    model = torch.nn.Sequential()
    model.add_module("head", torch.nn.Linear(2, 2))
    model.add_module("head_extra", torch.nn.Linear(2, 2))
    model.add_module("body", torch.nn.Linear(2, 2))
    groups = parameter_groups(model, 1.0, {"head": 0.5})
    assert [(g["name"], g["lr"], len(g["params"])) for g in groups] == [("head", 0.5, 2), ("default", 1.0, 4)]
    with pytest.raises(InputError, match="match no parameter"):
        parameter_groups(model, 1.0, {"classifier.filter_optimizer": 0.1})


def test_bundled_settings_give_dimp_rates():
    student = build_model(TINY)
    groups = {g["name"]: g["lr"] for g in parameter_groups(student, 2e-4, load_settings("dimp-student").module_lrs)}
    assert groups == {"classifier.filter_initializer": 5e-5, "classifier.filter_optimizer": 5e-4,
                      "classifier.feature_extractor": 5e-5, "bb_regressor": 1e-3, "default": 2e-4}
    teacher = build_model(TINY.replace(kind="teacher"))
    groups = {g["name"]: g["lr"] for g in parameter_groups(teacher, 2e-4, load_settings("dimp-teacher").module_lrs)}
    assert groups["rgb_backbone"] == groups["tir_backbone"] == 2e-5 and groups["default"] == 2e-4


def test_training_steps_lower_the_loss_on_a_fixed_batch(synthetic_root):
    settings = load_settings("dimp-student").replace(samples_per_epoch=2, batch_size=2, num_workers=0)
    trainer = Trainer(TINY, open_dataset(synthetic_root), settings, DistributedContext())
    batch = next(iter(trainer.loader(epoch=1)))
    losses = [trainer.train_step(batch)["loss"] for _ in range(6)]
    assert losses[1] < losses[0]  # one DiMP-recipe step already helps
    assert losses[-1] < 0.6 * losses[0]


def test_bfloat16_autocast_trains_on_the_cpu_and_float16_stays_off(synthetic_root):
    settings = load_settings("dimp-student").replace(samples_per_epoch=2, batch_size=2, num_workers=0, amp=True)
    assert not Trainer(TINY, open_dataset(synthetic_root), settings.replace(amp_dtype="float16"),
                       DistributedContext()).use_amp  # no float16 autocast on the CPU
    trainer = Trainer(TINY, open_dataset(synthetic_root), settings.replace(amp_dtype="bfloat16"), DistributedContext())
    assert trainer.use_amp and not trainer.scaler.is_enabled()
    batch = next(iter(trainer.loader(epoch=1)))
    losses = [trainer.train_step(batch)["loss"] for _ in range(6)]
    assert all(np.isfinite(losses)) and losses[-1] < 0.6 * losses[0]
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # autocast keeps float32 weights


def test_loader_workers_do_not_change_the_samples(synthetic_root):
    settings = small_settings(samples_per_epoch=2, batch_size=2)
    batches = [next(iter(Trainer(TINY, open_dataset(synthetic_root), settings, DistributedContext(),
                                 workers=workers).loader(epoch=3))) for workers in (0, 2)]
    assert all(torch.equal(batches[0][key], batches[1][key]) for key in batches[0])


def test_resume_continues_identically(synthetic_root, tmp_path):
    sequences = open_dataset(synthetic_root)
    straight = train(TINY, sequences, tmp_path / "straight", small_settings(), device="cpu", progress=False)
    train(TINY, sequences, tmp_path / "resumed", small_settings(), device="cpu", epochs=1, progress=False)
    resumed = train(TINY, sequences, tmp_path / "resumed", small_settings(), device="cpu", resume=True, epochs=2,
                    progress=False)
    assert [e.epoch for e in resumed.epochs] == [2]
    assert resumed.epochs[0].terms == straight.epochs[1].terms
    a = read_training_state(tmp_path / "straight" / "last.pt")["model"]
    b = read_training_state(tmp_path / "resumed" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [row["epoch"] for row in read_log(tmp_path / "resumed" / "log.csv")] == [1, 2]


def test_run_files_checkpoints_and_refusals(synthetic_root, tmp_path):
    sequences = open_dataset(synthetic_root)
    run = tmp_path / "run"
    result = train(TINY, sequences, run, small_settings(epochs=1), device="cpu", data_description="synthetic x2",
                   progress=False)
    model, meta = load_checkpoint(run / "checkpoints" / "epoch_001.pt")
    assert meta["config"] == TINY
    assert "synthetic x2" in meta["training_data"] and meta["extra"]["epoch"] == 1
    rows = read_log(run / "log.csv")
    assert rows[0]["loss"] == pytest.approx(result.epochs[0].terms["loss"], rel=1e-5)
    assert rows[0]["iterations"] == 2
    assert any((run / "tensorboard").iterdir())
    with pytest.raises(InputError, match="already holds a training run"):
        train(TINY, sequences, run, small_settings(), device="cpu", progress=False)
    with pytest.raises(CheckpointError, match="differs"):
        train(TINY.replace(clf_feature_dim=8), sequences, run, small_settings(), device="cpu", resume=True,
              progress=False)
    # Same seed, fresh run folder: the same losses.
    again = train(TINY, sequences, tmp_path / "again", small_settings(epochs=1), device="cpu", progress=False)
    assert again.epochs[0].terms == result.epochs[0].terms


def test_resuming_on_other_data_says_so(synthetic_root, tmp_path, capsys):
    sequences = open_dataset(synthetic_root)
    run = tmp_path / "run"
    train(TINY, sequences, run, small_settings(epochs=1), device="cpu", data_description="a (2, weight 1)",
          progress=False)
    assert read_training_state(run / "last.pt")["data_source"] == "a (2, weight 1)"
    capsys.readouterr()
    train(TINY, sequences, run, small_settings(), device="cpu", resume=True, epochs=2,
          data_description="a (2, weight 1)", progress=False)
    assert "trained on" not in capsys.readouterr().err
    train(TINY, sequences, run, small_settings(), device="cpu", resume=True, epochs=3,
          data_description="a (2, weight 3)", progress=False)
    assert "last.pt was trained on a (2, weight 1); the resumed epochs use a (2, weight 3)" in capsys.readouterr().err
    assert read_training_state(run / "last.pt")["data_source"] == "a (2, weight 3)"


def test_fine_tuning_from_weights_trains_only_the_unfrozen_modules(synthetic_root, tmp_path):
    sequences = open_dataset(synthetic_root)
    base = train(TINY, sequences, tmp_path / "base", small_settings(epochs=1), device="cpu", progress=False)
    start = {k: v.clone() for k, v in base.model.state_dict().items()}
    stage = load_settings("synthetic-iounet").replace(epochs=1, samples_per_epoch=4, batch_size=2)
    tuned = train(TINY, sequences, tmp_path / "tuned", stage, device="cpu", progress=False,
                  init_weights=tmp_path / "base" / "checkpoints" / "epoch_001.pt").model.state_dict()
    frozen = ("backbone.", "fusion.", "classifier.")
    # Frozen modules: every tensor unchanged, BatchNorm running statistics included (eval mode).
    assert all(torch.equal(tuned[k], start[k]) for k in start if k.startswith(frozen))
    assert any("running_mean" in k for k in start if k.startswith("backbone."))
    # IoU-Net started from the checkpoint and moved.
    changed = [k for k in start if k.startswith("bb_regressor.") and not torch.equal(tuned[k], start[k])]
    assert changed
    with pytest.raises(InputError, match="no submodule"):
        train(TINY, sequences, tmp_path / "typo", stage.replace(frozen_modules=["backbones"]), device="cpu",
              progress=False)
    with pytest.raises(InputError, match="nothing to train"):
        train(TINY, sequences, tmp_path / "all", stage.replace(frozen_modules=["backbone", "fusion", "classifier",
                                                                               "bb_regressor"]),
              device="cpu", progress=False)
    with pytest.raises(InputError, match="excludes --pretrained"):
        train(TINY, sequences, tmp_path / "both", stage, device="cpu", progress=False, pretrained="none",
              init_weights=tmp_path / "base" / "checkpoints" / "epoch_001.pt")
    with pytest.raises(CheckpointError, match="not 'test-tiny'|differs in"):
        train(TINY.replace(clf_feature_dim=8), sequences, tmp_path / "mismatch", stage, device="cpu", progress=False,
              init_weights=tmp_path / "base" / "checkpoints" / "epoch_001.pt")


def test_cli_trains_plots_and_rejects_bad_input(cli, synthetic_root, tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text("\n".join(f"{k}: {v}" for k, v in TINY.to_dict().items() if k != "description"))
    run = tmp_path / "cli-run"
    code = cli(["train", "--model-config", str(config), "--data", str(synthetic_root), "--out", str(run),
                 "--settings", "synthetic-cpu", "--epochs", "1", "--samples-per-epoch", "2", "--batch", "2",
                 "--device", "cpu", "--no-progress"])
    assert code == 0
    assert (run / "checkpoints" / "epoch_001.pt").is_file()
    assert cli(["train", "--plot", str(run), "--plot-out", str(tmp_path / "loss.png")]) == 0
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert cli(["train", "--data", str(synthetic_root)]) == 2
    assert "--model-config" in capsys.readouterr().err
    mixed = tmp_path / "mixed-run"
    code = cli(["train", "--model-config", str(config), "--data", f"{synthetic_root},{synthetic_root}",
                "--data-weights", "1,1", "--box-loss-weights", "1,0", "--out", str(mixed), "--settings",
                "synthetic-cpu", "--epochs", "1", "--samples-per-epoch", "2", "--batch", "2", "--device", "cpu",
                "--no-progress"])
    assert code == 0
    assert "weight 1, box-loss weight 0)" in load_checkpoint(mixed / "checkpoints" / "epoch_001.pt")[1]["training_data"]
    capsys.readouterr()
    for extra, message in ((["--box-loss-weights", "1"], "--box-loss-weights needs --data-weights"),
                           (["--data-weights", "1", "--box-loss-weights", "1,0"], "gives 2 weight(s) for 1"),
                           (["--data-weights", "1", "--box-loss-weights", "x"], "is not a comma-separated list"),
                           (["--data-weights", "1", "--box-loss-weights", "-1"], "finite and >= 0")):
        assert cli(["train", "--model-config", str(config), "--data", str(synthetic_root), "--out",
                    str(tmp_path / "z"), "--device", "cpu", *extra]) == 2
        assert message in capsys.readouterr().err
    assert cli(["train", "--model-config", str(config), "--data", str(tmp_path / "missing"), "--out",
                 str(tmp_path / "x")]) == 2
    assert cli(["train", "--model-config", str(config), "--data", str(synthetic_root), "--out", str(tmp_path / "y"),
                 "--settings", "no-such-settings"]) == 2
    assert "unknown training settings" in capsys.readouterr().err


def test_plot_from_a_hand_written_log(cli, tmp_path):
    rows = [{"epoch": e, "loss": 10.0 / e, "iou": 0.5, "test_clf": 1.0 / e} for e in (1, 2, 3)]
    with (tmp_path / "log.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["epoch", "loss", "iou", "test_clf"])
        writer.writeheader()
        writer.writerows(rows)
    assert cli(["train", "--plot", str(tmp_path)]) == 0
    assert (tmp_path / "loss.png").stat().st_size > 1000
    assert np.allclose([r["loss"] for r in read_log(tmp_path / "log.csv")], [10, 5, 10 / 3])
