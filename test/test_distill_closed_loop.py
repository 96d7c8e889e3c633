"""The distillation closed loop through the command line: synth (bag) -> label (teacher) -> distill (from the
bundle) -> benchmark (LasHeR protocol), and the ``distill`` command's one-line errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from rgbt_tracker_ros.cli.main import main
from rgbt_tracker_ros.data.bundle import read_manifest
from rgbt_tracker_ros.networks.checkpoint import load_checkpoint, save_checkpoint
from rgbt_tracker_ros.networks.config import build_model, load_config
from rgbt_tracker_ros.training.run_log import read_log


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def tiny_pair(tmp_path) -> tuple[Path, Path]:
    """``(student config YAML, teacher checkpoint)``: student-tiny / teacher-tiny at a 64 px crop, random teacher."""
    configs = {}
    for name in ("student-tiny", "teacher-tiny"):
        values = load_config(name, input_size=64, pretrained="none").to_dict()
        values.pop("description")
        configs[name] = tmp_path / f"{name}-64.yaml"
        configs[name].write_text(yaml.safe_dump(values))
    torch.manual_seed(0)
    teacher = save_checkpoint(tmp_path / "teacher.pt", build_model(load_config(configs["teacher-tiny"])))
    return configs["student-tiny"], teacher


@pytest.mark.slow
def test_bag_to_teacher_bundle_to_distilled_student_to_lasher_benchmark(tmp_path, tiny_pair, capsys):
    student_config, teacher = tiny_pair
    bags, bundle, run, bench, results = (tmp_path / name for name in ("bags", "bundle", "run", "bench", "results"))
    assert main(["synth", "--out", str(bags), "--sequences", "1", "--frames", "30", "--size", "128x96", "--seed", "0",
                 "--format", "bag"]) == 0
    (bag,) = sorted(bags.iterdir())
    assert main(["label", "--bag", str(bag), "--model", str(teacher), "--out", str(bundle), "--device", "cpu",
                 "--no-progress"]) == 0
    assert read_manifest(bundle)["sequences"][bag.name]["complete"]
    assert main(["distill", "--teacher", str(teacher), "--model-config", str(student_config), "--data", str(bundle),
                 "--settings", "cmd-synthetic-cpu", "--epochs", "1", "--samples-per-epoch", "2", "--batch", "2",
                 "--out", str(run), "--device", "cpu", "--no-progress"]) == 0
    checkpoint = run / "checkpoints" / "epoch_001.pt"
    _, meta = load_checkpoint(checkpoint, config=student_config)
    assert str(bundle) in meta["training_data"] and "CMD distillation" in meta["training_data"]
    assert read_log(run / "log.csv")[0]["l_hfrd"] > 0
    assert main(["synth", "--out", str(bench), "--sequences", "1", "--frames", "20", "--size", "128x96", "--seed", "50",
                 "--format", "lasher"]) == 0
    capsys.readouterr()
    assert main(["benchmark", "--dataset", str(bench), "--tracker", "dimp", "--model", str(checkpoint), "--protocol",
                 "lasher", "--out", str(results), "--device", "cpu", "--no-progress",
                 "--json", str(results / "report.json")]) == 0
    report = json.loads((results / "report.json").read_text())
    assert report["protocol"] == "lasher" and report["num_frames"] == 20
    assert all(0.0 <= report[score] <= 100.0 for score in ("PR", "NPR", "SR"))
    assert "dimp" in capsys.readouterr().out


def test_distill_command_line_errors_are_one_line(tmp_path, tiny_pair, capsys):
    student_config, teacher = tiny_pair
    base = ["distill", "--model-config", str(student_config), "--out", str(tmp_path / "run"), "--device", "cpu"]
    assert main([*base, "--data", str(tmp_path)]) == 2
    assert "distillation needs --teacher" in capsys.readouterr().err
    assert main([*base, "--teacher", str(teacher), "--data", f"{tmp_path},{tmp_path}", "--data-weights", "1"]) == 2
    assert "--data-weights gives 1 weight(s) for 2 --data root(s)" in capsys.readouterr().err
    assert main([*base, "--teacher", str(tmp_path / "student-tiny-64.yaml"), "--data", str(tmp_path)]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err
    assert main([*base, "--teacher", str(teacher), "--data", str(tmp_path), "--settings", "cmd-nothing"]) == 2
    assert "unknown training settings 'cmd-nothing'" in capsys.readouterr().err
