"""The OSTrack-style tracker with AINet: a synthetic sequence end to end, the box mapping through a network whose
maps are set by hand, states, parameters, the factory (by name and by checkpoint family) and teacher labelling."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rgbt_tracker_ros.cli.main import main
from rgbt_tracker_ros.data.bundle import load_labels, read_manifest
from rgbt_tracker_ros.data.crops import box_to_crop, search_area_transform
from rgbt_tracker_ros.data.synthetic import generate_sequence, make_specs
from rgbt_tracker_ros.data.writers import write_lasher
from rgbt_tracker_ros.errors import CheckpointError, InputError
from rgbt_tracker_ros.networks.ainet import AINetFeatures, AINetOutput
from rgbt_tracker_ros.networks.center_head import HeadOutput
from rgbt_tracker_ros.networks.checkpoint import save_checkpoint
from rgbt_tracker_ros.networks.config import AINetConfig, build_model
from rgbt_tracker_ros.tracking.base import TrackState
from rgbt_tracker_ros.tracking.factory import (create_tracker, describe_setup, load_tracker_params,
                                               tracker_for_checkpoint)
from rgbt_tracker_ros.tracking.ostrack import OSTrackTracker
from rgbt_tracker_ros.tracking.params import OSTrackParams, load_ostrack_params

pytestmark = pytest.mark.usefixtures("one_thread")

MICRO = AINetConfig(name="micro", embed_dim=32, depth=2, num_heads=2, template_size=32, search_size=64, d_state=4,
                    order_dim=8, order_hidden=16, head_channels=16, drop_path_rate=0.0)
STAGES = {"preprocess", "network", "localize", "total"}


@pytest.fixture(scope="module")
def frames():
    spec = make_specs(1, seed=3, frames=6, attributes=[[]], size=(128, 96))[0]
    return list(generate_sequence(spec))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ainet") / "micro.pt", build_model(MICRO), training_data="test")


def test_track_a_synthetic_sequence(frames):
    torch.manual_seed(0)
    tracker = OSTrackTracker(build_model(MICRO), OSTrackParams(target_not_found_threshold=0.0,
                                                               uncertain_threshold=0.0), device="cpu")
    first = tracker.initialize(frames[0], frames[0].gt_rgb)
    np.testing.assert_allclose(first.box, frames[0].gt_rgb)
    assert first.state is TrackState.TRACKING and first.score == 1.0 and set(first.timings) == STAGES
    assert tracker.last_flag == "init" and tracker.last_response.shape == (4, 4)
    for pair in frames[1:]:
        result = tracker.track(pair)
        assert result.box.shape == (4,) and np.isfinite(result.box).all() and (result.box[2:] >= 4.0).all()
        assert 0.0 <= result.score <= 1.0 and result.state is TrackState.TRACKING
        assert set(result.fusion_weights) == {"ofm", "ofm_order", "dfm"}
        assert sum(result.fusion_weights["ofm"]) == pytest.approx(1.0, abs=1e-5)
        assert set(result.timings) == STAGES
        centre = result.box[:2] + result.box[2:] / 2
        assert 0 <= centre[0] <= 128 and 0 <= centre[1] <= 96
    search = tracker.last_search_box
    assert search[2] == pytest.approx(search[3])  # a square region, search_factor times the box size
    assert isinstance(tracker.last_features, AINetFeatures) and "ofm" in tracker.last_features.fused


class _HandMadeNet(torch.nn.Module):
    """A network whose head maps put the box where ``target_crop_box`` (search-crop pixels) says."""

    def __init__(self, peak: float = 0.9):
        super().__init__()
        self.config = SimpleNamespace(template_size=32, search_size=64, search_grid=4)
        self.target_crop_box = np.array([20.0, 24.0, 16.0, 12.0])
        self.peak = peak

    def set_scan_backend(self, backend: str) -> None:
        pass

    def forward(self, template_rgb, template_tir, search_rgb, search_tir) -> AINetOutput:
        assert template_rgb.shape == (1, 3, 32, 32) and template_tir.shape == (1, 1, 32, 32)
        assert search_rgb.shape == (1, 3, 64, 64) and search_tir.shape == (1, 1, 64, 64)
        x, y, w, h = self.target_crop_box / 64.0
        cx, cy = (x + w / 2) * 4, (y + h / 2) * 4  # in cells
        row, col = int(cy), int(cx)
        score, size, offset = torch.full((1, 1, 4, 4), 0.01), torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4)
        score[0, 0, row, col] = self.peak
        size[0, :, row, col] = torch.tensor([w, h])
        offset[0, :, row, col] = torch.tensor([cx - col, cy - row])
        features = AINetFeatures(rgb={}, tir={}, fused={}, dfm_gates=torch.zeros(1, 2),
                                 ofm_weights=torch.full((1, 3), 1 / 3), layer_order=torch.tensor([[1, 0]]))
        return AINetOutput(head=HeadOutput(score=score, size=size, offset=offset), boxes=torch.zeros(1, 4),
                           features=features)


def test_box_from_the_peak_maps_back_to_the_image(frames):
    net = _HandMadeNet()
    tracker = OSTrackTracker(net, OSTrackParams(window=False), device="cpu")
    box = np.array([40.0, 30.0, 20.0, 16.0])
    tracker.initialize(frames[0], box)
    result = tracker.track(frames[1])
    transform = search_area_transform(box, 4.0, 64)  # the search region around the last box
    np.testing.assert_allclose(box_to_crop(result.box, transform), net.target_crop_box, atol=1e-4)
    assert result.state is TrackState.TRACKING and result.score == pytest.approx(0.9)
    assert result.fusion_weights["ofm_order"] == [1.0, 0.0]


@pytest.mark.parametrize("peak, state", [(0.05, TrackState.LOST), (0.2, TrackState.UNCERTAIN)])
def test_weak_peaks_set_the_state(frames, peak, state):
    tracker = OSTrackTracker(_HandMadeNet(peak=peak), "ainet", device="cpu")
    box = np.array([40.0, 30.0, 20.0, 16.0])
    tracker.initialize(frames[0], box)
    result = tracker.track(frames[1])
    assert result.state is state and tracker.last_flag == {TrackState.LOST: "not_found"}.get(state, "uncertain")
    if state is TrackState.LOST:
        np.testing.assert_allclose(result.box, box)  # the box stays where it was


def test_input_checks(frames):
    tracker = OSTrackTracker(_HandMadeNet(), device="cpu")
    with pytest.raises(InputError, match="before initialize"):
        tracker.track(frames[0])
    with pytest.raises(InputError, match="FramePair"):
        tracker.initialize("frame", np.array([1.0, 1.0, 5.0, 5.0]))
    with pytest.raises(InputError):
        tracker.initialize(frames[0], np.array([1.0, 1.0, 0.0, 5.0]))


def test_parameters_file_and_checks(tmp_path):
    params = load_ostrack_params()
    assert (params.template_factor, params.search_factor, params.window) == (2.0, 4.0, True)
    with pytest.raises(InputError, match="target_not_found_threshold"):
        OSTrackParams(target_not_found_threshold=0.5, uncertain_threshold=0.3)
    with pytest.raises(InputError, match="scan_backend"):
        OSTrackParams(scan_backend="gpu")
    with pytest.raises(InputError, match="thermal_range"):
        OSTrackParams(thermal_range=[5, 1])
    bad = tmp_path / "bad.yaml"
    bad.write_text("search_factor: 4\nwindw: true\n")
    with pytest.raises(InputError, match="windw"):
        load_ostrack_params(bad)


def test_factory_builds_ainet_by_name_and_checks_the_family(checkpoint, tmp_path):
    tracker = create_tracker("ainet", model=checkpoint, device="cpu")
    assert isinstance(tracker, OSTrackTracker) and tracker.name == "ainet-micro"
    assert tracker_for_checkpoint(checkpoint) == "ainet" and tracker_for_checkpoint(None) == "dimp"
    with pytest.raises(InputError, match="holds a ainet network.*use tracker 'ainet'"):
        create_tracker("dimp", model=checkpoint, device="cpu")
    with pytest.raises(InputError, match="holds a dimp network.*use tracker 'dimp'"):
        create_tracker("ainet", model=_demo_checkpoint(), device="cpu")
    with pytest.raises(CheckpointError, match="needs an AINet checkpoint"):
        create_tracker("ainet", device="cpu")
    with pytest.raises(InputError, match="torch backend only"):
        create_tracker("ainet", model=checkpoint, device="cpu", backend="onnxruntime")
    with pytest.raises(InputError, match="takes OSTrackParams"):
        load_tracker_params("ainet", load_tracker_params("dimp", None))
    setup = describe_setup("ainet", checkpoint)
    assert setup["tracker"] == "ainet" and setup["params"]["search_factor"] == 4.0


def _demo_checkpoint():
    from rgbt_tracker_ros.tracking.factory import default_model_path

    if not default_model_path().is_file():
        pytest.skip("the bundled demo checkpoint is not built")
    return default_model_path()


def test_label_writes_ainet_score_maps_into_a_bundle(checkpoint, tmp_path, capsys):
    spec = make_specs(1, seed=5, frames=5, attributes=[[]], size=(128, 96))[0]
    sequence = write_lasher(spec, tmp_path / "data" / spec.name)
    bundle = tmp_path / "bundle"
    assert main(["label", "--sequence", str(sequence), "--model", str(checkpoint), "--out", str(bundle),
                 "--device", "cpu", "--features", "fused.ofm", "--no-progress"]) == 0
    manifest = read_manifest(bundle)
    assert manifest["teacher"]["params"] == "ainet" and manifest["teacher"]["tracker"] == "ainet-micro"
    labels = load_labels(bundle, spec.name, with_features=True)
    assert len(labels) == 5 and labels.responses.shape == (5, 4, 4)
    assert set(labels.path_weights) == {"ofm", "ofm_order", "dfm"} and labels.path_weights["ofm"].shape == (5, 3)
    assert labels.features["fused.ofm"].shape == (5, 32, 4, 4)
    assert "5 frames labelled" in capsys.readouterr().out


def test_track_command_runs_ainet(checkpoint, tmp_path):
    spec = make_specs(1, seed=6, frames=4, attributes=[[]], size=(128, 96))[0]
    sequence = write_lasher(spec, tmp_path / "data" / spec.name)
    out = tmp_path / "results"
    assert main(["track", "--sequence", str(sequence), "--tracker", "ainet", "--model", str(checkpoint),
                 "--out", str(out), "--device", "cpu"]) == 0
    rows = (out / f"{spec.name}.txt").read_text().splitlines()
    assert len(rows) == 4


def test_speed_benchmark_takes_ainet_specs(checkpoint):
    from rgbt_tracker_ros.evaluation.speed import build_speed_tracker, speed_rows

    rows = speed_rows(["ainet:ainet-tiny", "csrt-rgb"], ["torch", "onnxruntime"], ["fp32"], "cpu")
    assert rows == [("ainet:ainet-tiny", "torch", "fp32", "ainet"), ("csrt-rgb", "-", "-", "-")]
    tracker, count = build_speed_tracker(f"ainet:{checkpoint}", "cpu")
    assert isinstance(tracker, OSTrackTracker) and tracker.name == "ainet-micro"
    assert count == pytest.approx(sum(p.numel() for p in build_model(MICRO).parameters()) / 1e6)
    with pytest.raises(InputError, match="is a ainet network; write ainet:"):
        build_speed_tracker(f"dimp:{checkpoint}", "cpu")
