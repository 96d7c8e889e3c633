"""Inference backends: the separable legacy RoI pooling, finite-difference IoU gradients, the ONNX
export and its manifest, ONNX Runtime tracking against PyTorch, and TensorRT's build path."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rgbt_tracker_ros.cli.main import main
from rgbt_tracker_ros.data.synthetic import ScenarioSpec, generate_sequence
from rgbt_tracker_ros.errors import CheckpointError, InputError
from rgbt_tracker_ros.evaluation.benchmark import track_pairs
from rgbt_tracker_ros.networks.checkpoint import load_checkpoint
from rgbt_tracker_ros.networks.roi_pool import legacy_roi_pool2d
from rgbt_tracker_ros.tracking.backends import create_backend, default_export_dir
from rgbt_tracker_ros.tracking.backends.base import InferenceBackend
from rgbt_tracker_ros.tracking.backends.onnx_export import example_inputs, export_onnx, read_manifest
from rgbt_tracker_ros.tracking.backends.tensorrt_backend import (
    MAX_FEATURE_BATCH,
    TensorRTBackend,
    build_engines,
    optimization_profiles,
)
from rgbt_tracker_ros.tracking.backends.torch_backend import TorchBackend
from rgbt_tracker_ros.tracking.dimp import DiMPTracker
from rgbt_tracker_ros.tracking.factory import create_tracker, default_model_path

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def demo_model():
    model, _ = load_checkpoint(default_model_path())
    return model.eval()


@pytest.fixture(scope="module")
def export(demo_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    return folder, export_onnx(demo_model, folder, demo_model.config.input_size)


def grid_sample_roi_pool(feat, boxes, output_size, spatial_scale, sampling_ratio):
    """The legacy pooling as it was first written: bilinear samples with ``grid_sample``."""
    batch, num_boxes = boxes.shape[:2]
    height, width = feat.shape[-2:]
    n = output_size * sampling_ratio
    steps = (torch.arange(n, dtype=boxes.dtype) + 0.5) / n
    start, size = boxes[..., :2] * spatial_scale - 0.5, boxes[..., 2:] * spatial_scale
    ys, xs = start[..., 1:2] + steps * size[..., 1:2], start[..., 0:1] + steps * size[..., 0:1]
    gy = (2.0 * ys / (height - 1) - 1.0).reshape(batch, num_boxes, n, 1).expand(-1, -1, -1, n)
    gx = (2.0 * xs / (width - 1) - 1.0).reshape(batch, num_boxes, 1, n).expand(-1, -1, n, -1)
    grid = torch.stack((gx, gy), dim=-1).reshape(batch, num_boxes * n, n, 2)
    samples = F.grid_sample(feat, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    samples = samples.reshape(batch, feat.shape[1], num_boxes, n, n).transpose(1, 2)
    return F.avg_pool2d(samples.reshape(batch * num_boxes, feat.shape[1], n, n), sampling_ratio)


def test_separable_legacy_pooling_equals_grid_sample_values_and_box_gradients():
    generator = torch.Generator().manual_seed(0)
    feat = torch.randn(2, 16, 10, 12, dtype=torch.float64, generator=generator)
    # boxes inside, across and beyond the map's border (zero padding)
    boxes = torch.rand(2, 30, 4, dtype=torch.float64, generator=generator) * torch.tensor([220.0, 180.0, 120.0, 90.0])
    boxes = (boxes - torch.tensor([30.0, 30.0, -1.0, -1.0])).requires_grad_(True)
    expected = grid_sample_roi_pool(feat, boxes, 5, 1 / 16, 4)
    got = legacy_roi_pool2d(feat, boxes, 5, 1 / 16, 4)
    assert got.shape == expected.shape == (60, 16, 5, 5)
    assert torch.allclose(got, expected, atol=1e-12)
    (grad_expected,) = torch.autograd.grad(expected.sum(), boxes)
    (grad_got,) = torch.autograd.grad(got.sum(), boxes)
    assert torch.allclose(grad_got, grad_expected, atol=1e-10)


def test_finite_difference_iou_gradient_agrees_with_autograd(demo_model):
    backend = TorchBackend(demo_model, CPU)
    inputs = example_inputs(demo_model, demo_model.config.input_size, proposals=10)["iou_predictor"]
    modulation, iou_feat, boxes = list(inputs[:2]), list(inputs[2:4]), inputs[4]
    ious, exact = backend.iou_gradient(modulation, iou_feat, boxes)
    fd_ious, approximate = InferenceBackend.iou_gradient(backend, modulation, iou_feat, boxes)
    assert exact.shape == approximate.shape == (1, 10, 4)
    assert torch.allclose(ious, fd_ious, atol=1e-5)
    assert float((exact - approximate.detach()).abs().max()) <= 1e-2 * float(exact.abs().max())


def test_export_writes_three_graphs_with_parity_against_pytorch(export):
    folder, manifest = export
    assert sorted(p.name for p in folder.iterdir()) == [
        "features.onnx", "iou_features.onnx", "iou_predictor.onnx", "manifest.json"]
    assert json.loads((folder / "manifest.json").read_text()) == manifest
    assert manifest["sample_size"] == 160 and manifest["config"] == "student-tiny"
    assert len(manifest["parity"]) == 8
    for output, parity in manifest["parity"].items():
        assert parity["max_abs_diff"] <= 1e-5 * max(1.0, parity["max_abs_reference"]), output


def test_manifest_checks_refuse_the_wrong_export(export, tmp_path, demo_model):
    folder, manifest = export
    assert read_manifest(folder, 160, manifest["weights_sha256"]) == manifest
    with pytest.raises(CheckpointError, match="160 px crops"):
        read_manifest(folder, 288)
    with pytest.raises(CheckpointError, match="other weights"):
        read_manifest(folder, 160, "0" * 64)
    with pytest.raises(CheckpointError, match="no manifest.json"):
        read_manifest(tmp_path, 160)
    (tmp_path / "manifest.json").write_text(json.dumps(dict(manifest)))
    with pytest.raises(CheckpointError, match="graph 'features' missing"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable manifest"):
        read_manifest(tmp_path)


def test_onnxruntime_tracks_a_synthetic_sequence_like_pytorch(export, one_thread):
    """Tolerance: mean IoU >= 0.8 between the two backends' boxes and their success against the ground
    truth within 0.05. The tracker amplifies any numerical difference: on this sequence, the
    PyTorch backend against itself with 1e-6 relative noise on the fused features gives a mean
    IoU of 0.90 between the runs, the ONNX Runtime backend 0.90 (2026-11-29)."""
    folder, _ = export
    frames = list(generate_sequence(ScenarioSpec(name="backend", seed=100003, frames=40, width=320, height=256)))
    results = {}
    for backend in ("torch", "onnxruntime"):
        tracker = create_tracker("dimp", device="cpu", backend=backend, export_dir=folder)
        assert tracker.backend.name == backend
        boxes, _ = track_pairs(tracker, frames, frames[0].gt_rgb, backend)
        results[backend] = np.asarray(boxes)
    truth = np.array([f.gt_rgb for f in frames], dtype=np.float64)
    between = box_iou(results["torch"], results["onnxruntime"])
    assert between[0] == pytest.approx(1.0)
    assert between.mean() >= 0.8
    success = {name: box_iou(boxes, truth).mean() for name, boxes in results.items()}
    assert abs(success["torch"] - success["onnxruntime"]) <= 0.05


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1, y1 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    return inter / (a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter)


def test_without_an_export_folder_the_checkpoint_is_exported_once_into_the_cache(demo_model, tmp_path, monkeypatch):
    monkeypatch.setenv("RGBT_TRACKER_CACHE", str(tmp_path))
    backend = create_backend("onnxruntime", demo_model, CPU, 160)
    folder = default_export_dir(backend.manifest["weights_sha256"], 160)
    assert folder.is_relative_to(tmp_path) and (folder / "manifest.json").is_file()
    stamp = (folder / "features.onnx").stat().st_mtime_ns
    create_backend("onnxruntime", demo_model, CPU, 160)
    assert (folder / "features.onnx").stat().st_mtime_ns == stamp


def test_backend_and_precision_errors(demo_model, export):
    folder, _ = export
    with pytest.raises(InputError, match="unknown backend"):
        create_backend("openvino", demo_model, CPU, 160)
    with pytest.raises(InputError, match="runs fp32, not bf16"):
        create_backend("onnxruntime", demo_model, CPU, 160, "bf16", folder)
    with pytest.raises(InputError, match="fp16 autocast needs CUDA"):
        create_backend("torch", demo_model, CPU, 160, "fp16")
    with pytest.raises(InputError, match="CUDA only"):
        TensorRTBackend(folder, CPU, ("sa", "mul", "diff"), 160)


def test_bf16_torch_backend_tracks_on_the_cpu(demo_model):
    tracker = DiMPTracker(demo_model, device="cpu", precision="bf16")
    frames = list(generate_sequence(ScenarioSpec(name="bf16", seed=100001, frames=5, width=320, height=256)))
    boxes, _ = track_pairs(tracker, frames, frames[0].gt_rgb, "bf16")
    boxes = np.asarray(boxes)
    assert np.isfinite(boxes).all() and box_iou(boxes, np.array([f.gt_rgb for f in frames])).mean() > 0.5


def test_tensorrt_build_path_up_to_the_missing_library(export, monkeypatch):
    """TensorRT is not installable here (no CUDA): the build reads the export, derives the
    optimisation profiles and stops at ``import tensorrt`` with a message saying where it comes from."""
    folder, manifest = export
    profiles = optimization_profiles(manifest)
    assert profiles["features"]["rgb"] == ((1, 3, 160, 160), (1, 3, 160, 160), (MAX_FEATURE_BATCH, 3, 160, 160))
    assert profiles["iou_predictor"]["boxes"][1] == (1, 90, 4)  # 10 boxes x 9 finite-difference probes
    monkeypatch.setitem(__import__("sys").modules, "tensorrt", None)
    with pytest.raises(InputError, match="JetPack"):
        build_engines(folder)


def test_export_command_prints_parity_per_output(tmp_path, capsys):
    out = str(tmp_path / "onnx")
    assert main(["export", "--model", str(default_model_path()), "--format", "onnx", "--out", out]) == 0
    out = capsys.readouterr().out
    assert "features.fused_layer3" in out and "iou_predictor.iou" in out
    assert read_manifest(tmp_path / "onnx")["sample_size"] == 160


def test_export_wants_the_checkpoint_exactly_once(tmp_path, capsys):
    assert main(["export", "--format", "onnx", "--out", str(tmp_path / "onnx")]) == 2
    assert main(["export", str(default_model_path()), "--model", str(default_model_path()),
                 "--out", str(tmp_path / "x.pt")]) == 2
    assert "give the checkpoint to export once" in capsys.readouterr().err


def test_command_line_offers_every_backend_and_precision_without_importing_torch():
    """The CLI's ``choices`` are read from the one list of backends, and building the parser stays torch-free."""
    import subprocess
    import sys

    code = ("import json, sys\n"
            "from rgbt_tracker_ros.cli.main import build_parser\n"
            "commands = build_parser()._subparsers._group_actions[0].choices\n"
            "track = {a.dest: a.choices for a in commands['track']._actions}\n"
            "speed = {a.dest: a.choices for a in commands['speed']._actions}\n"
            "print(json.dumps([track['backend'], speed['backends'], speed['precisions'], 'torch' in sys.modules]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    track_backends, speed_backends, precisions, torch_imported = json.loads(out)
    from rgbt_tracker_ros.tracking.backends import BACKEND_NAMES, BACKEND_PRECISIONS

    assert track_backends == speed_backends == list(BACKEND_NAMES)
    assert {p for offered in BACKEND_PRECISIONS.values() for p in offered} == set(precisions)
    assert not torch_imported
