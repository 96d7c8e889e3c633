"""The speed benchmark: rows per backend and precision, stage times, FLOPs floor, node overhead."""
from __future__ import annotations

import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from rgbt_tracker_ros.cli import main as cli_main
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.evaluation.speed import matmul_throughput, speed_rows
from rgbt_tracker_ros.networks.flops import FlopCount
from rgbt_tracker_ros.tracking.factory import default_model_path


def test_flop_count_agrees_with_flop_counter_mode_and_survives_box_gradients():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 4))
    x = torch.rand(2, 3, 8, 8)
    with FlopCounterMode(display=False) as reference:
        model(x)
    with FlopCount() as count:
        model(x)
    assert count.total == reference.get_total_flops() == 2 * (2 * 8 * 6 * 6 * 27) + 2 * (2 * 288 * 4)
    boxes = torch.rand(3, 4, requires_grad=True)  # what DiMP's IoU refinement does under the counter
    with FlopCount() as count:
        (grad,) = torch.autograd.grad((boxes @ torch.ones(4, 4)).sum(), boxes)
    assert count.total == 2 * 2 * 3 * 4 * 4 and grad.shape == (3, 4)


def test_rows_cover_what_the_device_runs():
    rows = speed_rows(["dimp:student-tiny", "kcf-rgb"], ["torch", "onnxruntime", "tensorrt"],
                      ["fp32", "bf16", "fp16"], "cpu", ["dimp", "fast.yaml"])
    assert rows == [("dimp:student-tiny", "torch", "fp32", "dimp"), ("dimp:student-tiny", "torch", "fp32", "fast.yaml"),
                    ("dimp:student-tiny", "torch", "bf16", "dimp"), ("dimp:student-tiny", "torch", "bf16", "fast.yaml"),
                    ("dimp:student-tiny", "onnxruntime", "fp32", "dimp"),
                    ("dimp:student-tiny", "onnxruntime", "fp32", "fast.yaml"), ("kcf-rgb", "-", "-", "-")]
    with pytest.raises(InputError, match="need CUDA"):
        speed_rows(["dimp:student-tiny"], ["tensorrt"], ["fp16"], "cpu")


def test_matmul_throughput_is_a_positive_rate():
    assert matmul_throughput("cpu", "fp32", seconds=0.05) > 0.1  # GFLOP/s; any CPU does more


def test_speed_reports_stages_floor_backends_and_node_overhead(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RGBT_TRACKER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "speed.json"
    spec = f"dimp:{default_model_path()}"
    code = cli_main.main(["speed", "--trackers", spec, "kcf-rgb", "--backends", "torch", "onnxruntime",
                          "--frames", "7", "--warmup", "1", "--repeats", "2", "--size", "160x128", "--threads", "1",
                          "--node-overhead", "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    rows = {(row["tracker"], row["backend"]): row for row in report["rows"]}
    assert set(rows) == {(spec, "torch"), (spec, "onnxruntime"), ("kcf-rgb", "-")}
    torch_row, onnx_row = rows[spec, "torch"], rows[spec, "onnxruntime"]
    assert len(torch_row["repeat_medians_ms"]) == 2
    stages = torch_row["stages_ms"]
    assert all(stages[s] is not None and stages[s] >= 0 for s in ("crop", "features", "backbone", "fusion", "total"))
    assert stages["backbone"] + stages["fusion"] <= stages["features"]
    assert onnx_row["stages_ms"]["backbone"] is None and onnx_row["stages_ms"]["features"] > 0
    assert torch_row["gflops_per_frame"] == pytest.approx(onnx_row["gflops_per_frame"])
    assert torch_row["gflops_per_frame"] > 0 and torch_row["matmul_gflops_per_s"] > 0
    assert torch_row["floor_fraction"] == pytest.approx(torch_row["floor_ms"] / torch_row["mean_ms"])
    assert rows["kcf-rgb", "-"]["gflops_per_frame"] is None
    overhead = report["node_overhead"]
    assert overhead["width"] == 160 and overhead["overhead"]["median_ms"] > 0
    printed = capsys.readouterr().out
    assert "floor %" in printed and "node overhead" in printed
