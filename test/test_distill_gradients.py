"""The gradient probe of a distillation run (distill/gradients.py, ``rgbt-tracker distill --probe-gradients``):
per-term gradients that add up to Eq. 14's, where each term reaches, the report and its errors.

student-tiny / teacher-tiny at a 64 px crop from random weights, runs of 1-2 steps.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rgbt_tracker_ros.cli.main import main
from rgbt_tracker_ros.data.datasets import open_dataset
from rgbt_tracker_ros.distill.gradients import (ALL_MODULES, gradient_statistics, probe_gradients, student_modules,
                                                term_gradients)
from rgbt_tracker_ros.distill.objective import cmd_objective
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.networks.checkpoint import save_checkpoint
from rgbt_tracker_ros.networks.config import build_model, load_config
from rgbt_tracker_ros.training.loop import train, trainer_of_run
from rgbt_tracker_ros.training.settings import DistillSettings

STUDENT = load_config("student-tiny", input_size=64, pretrained="none")
TEACHER = load_config("teacher-tiny", input_size=64, pretrained="none")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("teacher") / "teacher.pt", build_model(TEACHER))


def distill_run(root: Path, out: Path, teacher: Path, settings) -> Path:
    train(STUDENT, open_dataset(root), out, settings, device="cpu", progress=False,
          objective=cmd_objective(teacher, STUDENT))
    return out


def test_term_gradients_add_up_to_eq_14_and_reach_where_each_term_should(synthetic_root, teacher, tmp_path,
                                                                         small_distill_settings):
    run = distill_run(synthetic_root, tmp_path / "run", teacher, small_distill_settings(epochs=1))
    trainer = trainer_of_run(run, open_dataset(synthetic_root), objective_of=lambda c: cmd_objective(teacher, c))
    assert trainer.epoch == 1
    batch = next(iter(trainer.loader(epoch=2)))
    net = trainer.network.train()
    modules = student_modules(trainer.model)
    assert set(modules) == {"backbone", "fusion", "classifier", "bb_regressor"}
    gradients = term_gradients(trainer.actor.weighted_terms(net, batch, trainer.autocast), modules)
    assert list(gradients) == ["original", "scfd", "mpsd", "hfrd"]
    # The same batch through the training objective: its total's gradient is the sum of the summands'.
    total = trainer.actor(net, batch, trainer.autocast).total
    parameters = [p for group in modules.values() for p in group]
    expected = torch.cat([g.float().flatten() for g in torch.autograd.grad(total, parameters)])
    every_module = {term: torch.cat(list(per_module.values())) for term, per_module in gradients.items()}
    summed = sum(every_module.values())
    largest = max(float(gradient.abs().max()) for gradient in every_module.values())
    assert torch.allclose(summed, expected, rtol=1e-4, atol=1e-5 * largest)  # float32 sums in another order
    # No distillation term reaches the IoU-Net; SCFD reaches the backbone alone (the ABF chains are not the student).
    for term in ("scfd", "mpsd", "hfrd"):
        assert float(gradients[term]["bb_regressor"].abs().sum()) == 0.0
    assert {m for m in modules if float(gradients["scfd"][m].abs().sum()) > 0} == {"backbone"}
    assert {m for m in modules if float(gradients["hfrd"][m].abs().sum()) > 0} == {"backbone", "fusion", "classifier"}


def test_gradient_statistics_by_hand():
    gradients = {"original": {"a": torch.tensor([3.0, 4.0]), "b": torch.zeros(2)},
                 "scfd": {"a": torch.tensor([0.0, 1.0]), "b": torch.tensor([2.0, 0.0])}}
    statistics = gradient_statistics(gradients)
    assert statistics["norm"]["original"] == {"a": 5.0, "b": 0.0, ALL_MODULES: 5.0}
    assert statistics["norm"]["scfd"] == pytest.approx({"a": 1.0, "b": 2.0, ALL_MODULES: 5 ** 0.5})
    # "b": L_original has no gradient there, so no ratio and no cosine; over all modules: |(0,1,2,0)| / |(3,4,0,0)|
    # and (0,1,2,0).(3,4,0,0) / (sqrt(5) 5).
    assert statistics["ratio"]["scfd"] == pytest.approx({"a": 0.2, "b": None, ALL_MODULES: 5 ** 0.5 / 5})
    assert statistics["cosine"]["scfd"] == pytest.approx({"a": 0.8, "b": None, ALL_MODULES: 4 / (5 ** 0.5 * 5)})
    assert statistics["cosine"]["original"] == pytest.approx({"a": 1.0, "b": None, ALL_MODULES: 1.0})


def test_probe_reports_means_and_leaves_the_weights_alone(synthetic_root, teacher, tmp_path, small_distill_settings):
    run = distill_run(synthetic_root, tmp_path / "run", teacher, small_distill_settings(epochs=1))
    trainer = trainer_of_run(run, open_dataset(synthetic_root), objective_of=lambda c: cmd_objective(teacher, c))
    before = {k: v.clone() for k, v in trainer.actor.net.state_dict().items() if "running" not in k
              and "num_batches" not in k}
    probe = probe_gradients(trainer, batches=3)
    assert probe.batches == 1 and probe.epoch == 1  # 2 samples per epoch in batches of 2: one batch to draw
    after = trainer.actor.net.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())
    assert all(p.grad is None for p in trainer.actor.net.parameters())
    assert set(probe.norm) == {"original", "scfd", "mpsd", "hfrd"}
    assert probe.ratio["original"][ALL_MODULES] == pytest.approx(1.0)
    assert probe.cosine["original"]["backbone"] == pytest.approx(1.0, abs=1e-5)
    assert probe.ratio["scfd"]["bb_regressor"] is None and probe.cosine["hfrd"]["bb_regressor"] is None
    assert all(-1.0 - 1e-6 <= probe.cosine[t][ALL_MODULES] <= 1.0 + 1e-6 for t in probe.cosine)
    for term in ("scfd", "mpsd", "hfrd"):
        assert probe.ratio[term][ALL_MODULES] == pytest.approx(probe.norm[term][ALL_MODULES]
                                                               / probe.norm["original"][ALL_MODULES])
    assert "bb_regressor" in probe.table() and "cos with original" in probe.table()
    # MPSD's path weights on the test frames (Eq. 6): a distribution over the three paths per fused level.
    assert set(probe.path_weights) == {"layer2", "layer3"}
    for weights in probe.path_weights.values():
        assert set(weights) == {"sa", "mul", "diff", "largest"}
        assert weights["sa"] + weights["mul"] + weights["diff"] == pytest.approx(1.0, abs=1e-3)
        assert max(weights["sa"], weights["mul"], weights["diff"]) <= weights["largest"] <= 1.0 + 1e-6
    assert "path weights" in probe.table()
    # SCFD's fit per modality and level (Eq. 3's MSE against its target's variance).
    assert set(probe.scfd_fit) == {"rgb", "tir"}
    assert all(set(levels) == {"stem", "layer1", "layer2", "layer3"} for levels in probe.scfd_fit.values())
    for levels in probe.scfd_fit.values():
        for fit in levels.values():
            assert fit["mse"] > 0 and fit["variance"] > 0
            assert fit["explained"] == pytest.approx(1 - fit["mse"] / fit["variance"])
    assert "SCFD fit" in probe.table()
    with pytest.raises(InputError, match="at least one batch"):
        probe_gradients(trainer, batches=0)


def test_probe_command_writes_json_and_refuses_what_it_cannot_probe(synthetic_root, teacher, tmp_path,
                                                                      small_distill_settings, capsys):
    run = distill_run(synthetic_root, tmp_path / "run", teacher, small_distill_settings(epochs=1))
    args = ["distill", "--probe-gradients", "1", "--teacher", str(teacher), "--data", str(synthetic_root),
            "--device", "cpu"]
    assert main(args + ["--out", str(run)]) == 0
    report = json.loads((run / "gradient_probe.json").read_text())
    assert report["batches"] == 1 and report["after_epoch"] == 1 and report["reference"] == "original"
    assert set(report["cosine"]) == {"original", "scfd", "mpsd", "hfrd"}
    assert set(report["path_weights"]) == {"layer2", "layer3"}
    assert "written to" in capsys.readouterr().out
    # Student-Origin: only L_original to report.
    origin = distill_run(synthetic_root, tmp_path / "origin", teacher,
                         small_distill_settings(epochs=1, distill=DistillSettings()))
    assert main(args + ["--out", str(origin), "--probe-json", str(tmp_path / "o.json")]) == 0
    origin_report = json.loads((tmp_path / "o.json").read_text())
    assert set(origin_report["norm"]) == {"original"} and origin_report["scfd_fit"] == {}
    # One-line errors: no run; a run of plain training (another objective); a missing flag.
    train(STUDENT, open_dataset(synthetic_root), tmp_path / "plain", small_distill_settings(
        epochs=1, distill=DistillSettings()), device="cpu", progress=False)
    capsys.readouterr()
    for extra, message in ((["--out", str(tmp_path / "nothing")], "holds no training run"),
                           (["--out", str(tmp_path / "plain")], "trained with objective {'kind': 'dimp'}"),
                           ([], "the gradient probe needs --out")):
        assert main(args + extra) == 2
        assert message in capsys.readouterr().err
