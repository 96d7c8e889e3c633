"""The main job (`rgbt-tracker demo`), `export`, `speed` and the blanked-modality ablation."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from rgbt_tracker_ros.cli import main as cli_main
from rgbt_tracker_ros.cli.demo import default_bag_path
from rgbt_tracker_ros.data.synthetic import ScenarioSpec, generate_sequence
from rgbt_tracker_ros.networks.checkpoint import load_checkpoint, save_checkpoint
from rgbt_tracker_ros.networks.config import build_model
from rgbt_tracker_ros.tracking.base import Tracker, TrackResult, TrackState
from rgbt_tracker_ros.tracking.blank import BlankedModalityTracker
from rgbt_tracker_ros.tracking.factory import create_tracker, default_model_path

REPO = Path(__file__).resolve().parent.parent
# The demo's recorded scores: the one place the README's demo line and this test take them from.
DEMO_RECORD = REPO / "docs" / "results" / "demo_cpu.json"
# Tolerance in score points. The demo is deterministic for a given thread count (the same boxes, file
# for file, on every repeat), but the thread count reorders floating-point sums: on the 2-core
# development CPU, 1 torch thread gives SR 77.94 and 2 threads SR 77.46 (70 of 90 boxes move, by up to
# 3.7 px; PR and NPR stay at 100.0). 1.5 is three times that 0.48 spread, leaves room for one of the 90
# frames (1.1 points) to cross a PR/NPR threshold on another CPU or BLAS, and still fails on another
# checkpoint: the previous bundles scored SR 67.0 and 80.8 on this bag (docs/results.md).
DEMO_TOLERANCE = 1.5


def _recorded_demo_scores() -> dict[str, float]:
    """PR / NPR / SR of the recorded demo run (docs/results/demo_cpu.json)."""
    record = json.loads(DEMO_RECORD.read_text())
    return {key: float(record[key]) for key in ("PR", "NPR", "SR")}


def test_every_subcommand_registers_and_has_help(capsys):
    parser = cli_main.build_parser()
    for name in cli_main.SUBCOMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: rgbt-tracker " + name in capsys.readouterr().out


@pytest.mark.skipif(not default_model_path().is_file() or not default_bag_path().is_dir(),
                    reason="the bundled demo checkpoint and bag are not in this checkout")
def test_demo_tracks_the_bundled_bag_and_scores_it(tmp_path, capsys):
    torch.manual_seed(0)
    assert cli_main.main(["demo", "--out", str(tmp_path), "--no-video", "--device", "cpu"]) == 0
    summary = json.loads((tmp_path / "demo.json").read_text())
    assert summary["frames"] == 90 and summary["protocol"] == "lasher"
    for key, recorded in _recorded_demo_scores().items():
        assert summary[key] == pytest.approx(recorded, abs=DEMO_TOLERANCE), (key, summary, recorded)
    assert summary["fps"] > 0
    boxes = np.loadtxt(tmp_path / "demo_bag.txt", delimiter=",")
    assert boxes.shape == (90, 4) and np.isfinite(boxes).all()
    out = capsys.readouterr().out
    assert f"SR {summary['SR']:.1f}" in out and "FPS" in out


def test_readme_demo_line_states_the_recorded_scores():
    """The README's demo output line shows the recorded PR / NPR / SR, rounded as the demo prints them."""
    found = re.findall(r"PR (\d+\.\d) +NPR (\d+\.\d) +SR (\d+\.\d)", (REPO / "README.md").read_text())
    assert found, "README.md no longer shows the demo's 'PR x  NPR y  SR z' line"
    recorded = _recorded_demo_scores()
    expected = tuple(f"{recorded[key]:.1f}" for key in ("PR", "NPR", "SR"))
    assert all(line == expected for line in found), (found, expected)


def test_demo_with_a_bag_lacking_the_topics_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "not_a_bag").mkdir()
    assert cli_main.main(["demo", "--bag", str(tmp_path / "not_a_bag"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rgbt-tracker demo: error:")


def test_export_halves_the_checkpoint_and_keeps_its_description(tmp_path, capsys):
    model = build_model("student-tiny", pretrained="none")
    source = save_checkpoint(tmp_path / "full.pt", model, training_data="unit test data")
    assert cli_main.main(["export", str(source), "--out", str(tmp_path / "half.pt")]) == 0
    assert (tmp_path / "half.pt").stat().st_size < 0.6 * source.stat().st_size
    exported, meta = load_checkpoint(tmp_path / "half.pt")
    assert meta["dtype"] == "float16" and meta["training_data"] == "unit test data"
    for name, value in model.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(exported.state_dict()[name], value.half().float())
    assert "fp16" in capsys.readouterr().out


def test_export_interpolates_with_its_base_and_records_both(tmp_path, capsys):
    torch.manual_seed(3)
    base_model, tuned_model = (build_model("student-tiny", pretrained="none") for _ in range(2))
    base = save_checkpoint(tmp_path / "base.pt", base_model, training_data="stage A")
    tuned = save_checkpoint(tmp_path / "tuned.pt", tuned_model, training_data="stage B")
    out = tmp_path / "mixed.pt"
    argv = ["export", str(tuned), "--out", str(out), "--interpolate-with", str(base), "--weight", "0.4"]
    assert cli_main.main(argv) == 0
    mixed, meta = load_checkpoint(out)
    for name, value in tuned_model.state_dict().items():
        if value.is_floating_point():
            expected = 0.6 * base_model.state_dict()[name] + 0.4 * value
            torch.testing.assert_close(mixed.state_dict()[name], expected.half().float(), atol=2e-3, rtol=2e-3)
    assert meta["extra"]["interpolated_with"] == "base.pt" and meta["extra"]["interpolation_weight"] == 0.4
    assert meta["training_data"].startswith("weight-space interpolation 0.6 x base.pt + 0.4 x tuned.pt")
    assert "stage A" in meta["training_data"] and "stage B" in meta["training_data"]
    capsys.readouterr()
    assert cli_main.main(["export", str(tuned), "--out", str(tmp_path / "x.pt"), "--weight", "0.4"]) == 2
    assert "--interpolate-with BASE and --weight W go together" in capsys.readouterr().err
    teacher = save_checkpoint(tmp_path / "teacher.pt", build_model("teacher-tiny", pretrained="none"))
    argv = ["export", str(tuned), "--out", str(tmp_path / "y.pt"), "--interpolate-with", str(teacher), "--weight", "1"]
    assert cli_main.main(argv) == 2
    assert "not 'student-tiny'" in capsys.readouterr().err and not (tmp_path / "y.pt").exists()


def test_speed_prints_a_table_with_ratios_and_writes_json(tmp_path, capsys):
    out = tmp_path / "speed.json"
    code = cli_main.main(["speed", "--trackers", "kcf-rgb", "csrt-thermal", "--frames", "8", "--warmup", "1",
                          "--size", "160x128", "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    rows = {row["tracker"]: row for row in report["rows"]}
    assert set(rows) == {"kcf-rgb", "csrt-thermal"}
    assert rows["kcf-rgb"]["relative_time"] == 1.0
    assert rows["csrt-thermal"]["relative_time"] == pytest.approx(
        rows["csrt-thermal"]["mean_ms"] / rows["kcf-rgb"]["mean_ms"])
    assert all(row["fps"] > 0 and row["peak_memory_mb"] > 0 for row in rows.values())
    assert report["machine"]["cpu_count"] >= 1
    assert "machine:" in capsys.readouterr().out


def test_speed_rejects_a_bad_size(capsys):
    assert cli_main.main(["speed", "--trackers", "kcf-rgb", "--size", "big"]) == 2
    assert "--size must be WxH" in capsys.readouterr().err


class _Recorder(Tracker):
    """Remembers the pairs it was given."""

    name = "recorder"

    def __init__(self) -> None:
        self.pairs = []

    def initialize(self, pair, box):
        self.pairs.append(pair)
        return TrackResult(np.asarray(box, float), 1.0, TrackState.TRACKING)

    def track(self, pair):
        self.pairs.append(pair)
        return TrackResult(np.zeros(4), 1.0, TrackState.TRACKING)


@pytest.mark.parametrize("blank, kept", [("rgb", "thermal"), ("thermal", "rgb")])
def test_blanked_modality_tracker_zeroes_one_sensor_only(blank, kept):
    pair = next(generate_sequence(ScenarioSpec(name="s", seed=3, frames=2, width=96, height=80)))
    inner = _Recorder()
    tracker = BlankedModalityTracker(inner, blank)
    tracker.initialize(pair, pair.gt_rgb)
    tracker.track(pair)
    assert tracker.name == f"recorder-{kept}-only"
    for seen in inner.pairs:
        assert not getattr(seen, blank).any()
        np.testing.assert_array_equal(getattr(seen, kept), getattr(pair, kept))
    assert getattr(pair, blank).any(), "the caller's pair must not be modified"


def test_factory_builds_the_fusion_ablations(tmp_path):
    model = build_model("student-tiny", pretrained="none")
    path = save_checkpoint(tmp_path / "s.pt", model)
    tracker = create_tracker("dimp-thermal-only", model=str(path), device="cpu")
    assert isinstance(tracker, BlankedModalityTracker) and tracker.blank == "rgb"
    with pytest.raises(ValueError):
        BlankedModalityTracker(tracker, "depth")
