"""The DiMP online tracker: end-to-end mechanics with the tiny student/teacher (random weights), input
checks, crop alignment, thermal normalisation, and the state machine driven by synthetic score maps."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Optional

import numpy as np
import pytest
import torch

from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.data.synthetic import generate_sequence, make_specs
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.networks.config import build_model, load_config
from rgbt_tracker_ros.networks.models import FusionFeatures
from rgbt_tracker_ros.tracking.base import TrackResult, TrackState
from rgbt_tracker_ros.tracking.dimp import DiMPTracker, hann2d
from rgbt_tracker_ros.tracking.params import DiMPParams

torch.set_num_threads(1)

INIT_STAGES = {"preprocess", "augment", "backbone", "classifier", "iou_init", "total"}
TRACK_STAGES = {"preprocess", "backbone", "classify", "localize", "refine", "update", "total"}


@pytest.fixture(scope="module")
def frames() -> list[FramePair]:
    spec = make_specs(1, seed=3, frames=5, attributes=[[]], size=(128, 96))[0]
    return list(generate_sequence(spec))


@pytest.fixture(scope="module", params=["student-tiny", "teacher-tiny"])
def network(request):
    torch.manual_seed(0)
    return build_model(load_config(request.param), pretrained="none")


def _check_result(result: TrackResult, stages: set[str]) -> None:
    assert result.box.shape == (4,) and np.isfinite(result.box).all() and (result.box[2:] > 0).all()
    assert 0.0 <= result.score <= 1.0
    assert isinstance(result.state, TrackState)
    assert set(result.fusion_weights) == {"layer2", "layer3"}
    for weights in result.fusion_weights.values():
        assert len(weights) == 3 and min(weights) >= 0.0
        assert sum(weights) == pytest.approx(1.0, abs=1e-5)
    assert set(result.timings) == stages
    assert all(seconds >= 0.0 for seconds in result.timings.values())
    assert result.timings["total"] >= max(v for k, v in result.timings.items() if k != "total") - 1e-9


def test_initialize_and_track_end_to_end(network, frames):
    # The not-found threshold is lowered so that random weights still run refinement and updates.
    params = DiMPParams(target_not_found_threshold=-1e9, train_skipping=2)
    tracker = DiMPTracker(network, params, device="cpu")
    first = tracker.initialize(frames[0], frames[0].gt_rgb)
    _check_result(first, INIT_STAGES)
    np.testing.assert_allclose(first.box, frames[0].gt_rgb)
    assert first.state is TrackState.TRACKING and first.score == 1.0
    assert tracker._memory.num_stored == 15  # 13 image augmentations + 2 dropout samples

    score_size = network.score_size(network.config.input_size)
    for pair in frames[1:]:
        result = tracker.track(pair)
        _check_result(result, TRACK_STAGES)
        assert result.state is TrackState.UNCERTAIN if tracker.last_flag != "normal" else TrackState.TRACKING
        # Attributes for teacher labelling.
        assert tracker.last_response.shape == score_size and tracker.last_response.dtype == np.float32
        assert tracker.last_search_box.shape == (4,)
        side = tracker.last_search_box[2]
        assert tracker.last_search_box[3] == pytest.approx(side)
        centre = tracker.last_search_box[:2] + side / 2
        assert isinstance(tracker.last_features, FusionFeatures)
        assert tracker.last_features.fused["layer3"].shape[0] == 1
        assert not tracker.last_features.fused["layer3"].requires_grad
    assert np.isfinite(centre).all()
    assert tracker._memory.num_stored > 15  # samples were stored
    # The model was used but never modified.
    assert not network.training


def test_runs_are_reproducible(frames):
    torch.manual_seed(1)
    network = build_model(load_config("student-tiny"), pretrained="none")
    params = DiMPParams(target_not_found_threshold=-1e9)
    boxes = []
    for _ in range(2):
        tracker = DiMPTracker(network, params, device="cpu")
        tracker.initialize(frames[0], frames[0].gt_rgb)
        boxes.append(np.stack([tracker.track(pair).box for pair in frames[1:3]]))
    np.testing.assert_array_equal(boxes[0], boxes[1])


# ---------------------------------------------------------------- a stub network with chosen score maps


class _StubClassifier(torch.nn.Module):
    filter_size = 4

    def __init__(self) -> None:
        super().__init__()
        self.scores: Optional[torch.Tensor] = None
        self.optimizer_iterations: list[int] = []

    def extract_classification_feat(self, feat: torch.Tensor) -> torch.Tensor:
        return feat

    def get_filter(self, feat, bb, num_iter=None, compute_losses=False):
        return torch.zeros(1, feat.shape[1], 4, 4), [], []

    def classify(self, filter, feat):
        size = feat.shape[-1] + 1
        scores = self.scores if self.scores is not None else torch.zeros(size, size)
        return scores.reshape(1, 1, size, size)

    def filter_optimizer(self, filter, feat, bb, sample_weight, num_iter, compute_losses=False):
        self.optimizer_iterations.append(num_iter)
        return filter, [], []


class _StubIoUNet(torch.nn.Module):
    """Predicted IoU = ``growth`` x (w + h): each refinement step grows the box by ``growth``."""

    growth = 0.5

    def get_modulation(self, feats, boxes):
        return None

    def get_iou_feat(self, feats):
        return feats

    def predict_iou(self, modulation, feats, boxes):
        return self.growth * boxes[..., 2:].sum(dim=-1)


class StubNet(torch.nn.Module):
    """The ``RGBTDiMPNet`` surface the tracker uses; records its inputs, returns the test's score maps."""

    def __init__(self, input_size: int = 64) -> None:
        super().__init__()
        self.config = SimpleNamespace(input_size=input_size)
        self.classifier = _StubClassifier()
        self.bb_regressor = _StubIoUNet()
        self.inputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def extract_features(self, rgb: torch.Tensor, thermal: torch.Tensor) -> FusionFeatures:
        self.inputs.append((rgb.clone(), thermal.clone()))
        n, size = rgb.shape[0], rgb.shape[-1] // 16
        weights = torch.tensor([[0.5, 0.3, 0.2]]).expand(n, 3)
        return FusionFeatures(
            rgb={}, tir={},
            fused={"layer2": torch.zeros(n, 2, 2 * size, 2 * size), "layer3": torch.zeros(n, 2, size, size)},
            path_weights={"layer2": weights, "layer3": weights},
        )


def _pair(rgb: np.ndarray, thermal: np.ndarray, index: int = 0) -> FramePair:
    return FramePair(rgb=rgb, thermal=thermal, index=index)


def _scene(thermal_dtype=np.uint8) -> FramePair:
    """200x200 grey image with a bright 20x20 square at (90, 90); thermal = the same picture."""
    grey = np.full((200, 200), 50, dtype=np.uint8)
    grey[90:110, 90:110] = 250
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    if thermal_dtype == np.uint16:
        thermal = grey.astype(np.uint16) * 257
    elif thermal_dtype == np.float32:
        thermal = grey.astype(np.float32) / 255.0
    else:
        thermal = grey.copy()
    return _pair(rgb, thermal)


BOX = np.array([90.0, 90.0, 20.0, 20.0])
NO_IOU = DiMPParams(use_iou_net=False, train_skipping=3)


def _map(*peaks: tuple[int, int, float], size: int = 5) -> torch.Tensor:
    scores = torch.zeros(size, size)
    for x, y, value in peaks:
        scores[y, x] = value
    return scores


def test_state_machine_lost_on_flat_map_keeps_box_and_recovers():
    net = StubNet(64)  # 4x4 features, 5x5 scores, centre cell (2, 2)
    tracker = DiMPTracker(net, NO_IOU, device="cpu")
    pair = _scene()
    tracker.initialize(pair, BOX)
    # Search region 5 * sqrt(20 * 20) = 100 px -> 64 px: one score cell = 16 * 100 / 64 = 25 image px.
    np.testing.assert_allclose(tracker.last_search_box, [50.0, 50.0, 100.0, 100.0])

    net.classifier.scores = _map((3, 2, 0.9))  # one cell right of the centre
    result = tracker.track(pair)
    assert (result.state, tracker.last_flag) == (TrackState.TRACKING, "normal")
    np.testing.assert_allclose(result.box, [115.0, 90.0, 20.0, 20.0])
    assert result.score == pytest.approx(0.9)
    assert tracker._memory.num_stored == 16

    net.classifier.scores = torch.full((5, 5), 0.1)  # flat and low: target not found
    result = tracker.track(pair)
    assert (result.state, tracker.last_flag) == (TrackState.LOST, "not_found")
    np.testing.assert_allclose(result.box, [115.0, 90.0, 20.0, 20.0])  # last box kept
    assert result.score == pytest.approx(0.1)
    assert tracker._memory.num_stored == 16  # nothing learnt while lost
    # The search continues around the last position at the same scale.
    np.testing.assert_allclose(tracker.last_search_box, [75.0, 50.0, 100.0, 100.0])

    net.classifier.scores = _map((2, 4, 0.8))  # the target is back, two cells lower
    result = tracker.track(pair)
    assert (result.state, tracker.last_flag) == (TrackState.TRACKING, "normal")
    np.testing.assert_allclose(result.box, [115.0, 140.0, 20.0, 20.0])
    # Frame 4: (4 - 1) % train_skipping (3) == 0 -> the periodic update with 2 iterations.
    assert net.classifier.optimizer_iterations == [2]

    net.classifier.scores = _map((2, 2, 0.9), (0, 0, 0.6))  # a moderate second peak: hard negative
    result = tracker.track(pair)
    assert (result.state, tracker.last_flag) == (TrackState.UNCERTAIN, "hard_negative")
    np.testing.assert_allclose(result.box, [115.0, 140.0, 20.0, 20.0])
    assert net.classifier.optimizer_iterations == [2, 1]
    assert tracker._memory.num_stored == 18
    assert result.fusion_weights == {"layer2": pytest.approx([0.5, 0.3, 0.2]), "layer3": pytest.approx([0.5, 0.3, 0.2])}


def test_output_window_prefers_the_peak_near_the_previous_position():
    # Peaks 0.9 two cells right and 0.7 at the centre (the previous position). Hann weights of a
    # 5x5 map: [0.25, 0.75, 1, 0.75, 0.25] per axis, so windowed 0.225 vs 0.7.
    moved = {}
    for window in (False, True):
        net = StubNet(64)
        tracker = DiMPTracker(net, dataclasses.replace(NO_IOU, window_output=window), device="cpu")
        tracker.initialize(_scene(), BOX)
        net.classifier.scores = _map((4, 2, 0.9), (2, 2, 0.7))
        result = tracker.track(_scene())
        moved[window] = (result.box[0] - BOX[0], tracker.last_flag)
    assert moved[False] == (pytest.approx(50.0), "hard_negative")  # the stronger, distant peak
    assert moved[True] == (pytest.approx(0.0), "normal")
    np.testing.assert_allclose(hann2d((5, 5))[2], [0.25, 0.75, 1.0, 0.75, 0.25])


@pytest.mark.parametrize("rate, side", [(1.0, 30.0), (0.5, 25.0)])
def test_size_update_rate_damps_the_iou_net_size(rate, side):
    # One refinement step with the stub IoU-Net grows the 20 px box by half (to 30 px); the target
    # size then moves ``rate`` of the way there.
    params = DiMPParams(train_skipping=3, num_init_random_boxes=0, box_refinement_iter=1, size_update_rate=rate)
    net = StubNet(64)
    tracker = DiMPTracker(net, params, device="cpu")
    tracker.initialize(_scene(), BOX)
    net.classifier.scores = _map((2, 2, 0.9))
    result = tracker.track(_scene())
    np.testing.assert_allclose(result.box[2:], [side, side], rtol=1e-5)
    np.testing.assert_allclose(result.box[:2] + result.box[2:] / 2, [105.0, 105.0], rtol=1e-5)  # IoU-Net's centre


@pytest.mark.parametrize("rescaling, lost_side", [(False, 56.25), (True, 87.5)])
def test_search_area_rescaling_at_occlusion_restores_a_shrunken_search_region(rescaling, lost_side):
    # An IoU-Net that shrinks the box by a quarter per frame: the search region goes 100 -> 75 ->
    # 56.25 px. Lost, pytracking's rescaling searches at the mean of the scales seen before (100 and
    # 75 px), DiMP keeps the last one.
    params = DiMPParams(train_skipping=3, num_init_random_boxes=0, box_refinement_iter=1,
                        search_area_rescaling_at_occlusion=rescaling)
    net = StubNet(64)
    net.bb_regressor.growth = -0.25
    tracker = DiMPTracker(net, params, device="cpu")
    tracker.initialize(_scene(), BOX)
    net.classifier.scores = _map((2, 2, 0.9))
    tracker.track(_scene())
    tracker.track(_scene())
    assert tracker.last_search_box[2] == pytest.approx(75.0)
    net.classifier.scores = torch.full((5, 5), 0.1)
    for _ in range(2):
        assert tracker.track(_scene()).state is TrackState.LOST
    assert tracker.last_search_box[2] == pytest.approx(lost_side)
    net.classifier.scores = _map((2, 2, 0.9))
    assert tracker.track(_scene()).state is TrackState.TRACKING
    assert tracker._lost_frames == 0


def test_position_stays_inside_the_image():
    net = StubNet(64)
    tracker = DiMPTracker(net, NO_IOU, device="cpu")
    tracker.initialize(_scene(), np.array([170.0, 90.0, 20.0, 20.0]))
    net.classifier.scores = _map((4, 2, 0.9))  # two cells (50 px) right: beyond the border
    result = tracker.track(_scene())
    # The centre may leave the image by at most (0.5 - 0.2) of the box: 200 + 0.3 * 20 = 206.
    assert result.box[0] + result.box[2] / 2 == pytest.approx(206.0)


def test_rgb_and_thermal_crops_are_aligned_in_every_sample():
    net = StubNet(64)
    tracker = DiMPTracker(net, NO_IOU, device="cpu")
    tracker.initialize(_scene(), BOX)
    rgb, thermal = net.inputs[-1]
    assert rgb.shape == (13, 3, 64, 64) and thermal.shape == (13, 1, 64, 64)
    torch.testing.assert_close(rgb[:, :1], thermal, atol=1 / 255, rtol=0)  # RGB is warped as uint8
    # Identity sample: the square (20 px of a 100 px region -> 12.8 px) sits at the crop centre.
    bright = (thermal[0, 0] > 0.6).nonzero().float()
    torch.testing.assert_close(bright.mean(dim=0), torch.tensor([31.5, 31.5]), atol=0.5, rtol=0)
    assert 12 ** 2 <= bright.shape[0] <= 14 ** 2
    net.classifier.scores = _map((2, 2, 0.9))
    tracker.track(_scene())
    rgb, thermal = net.inputs[-1]
    torch.testing.assert_close(rgb[:, :1], thermal, atol=1 / 255, rtol=0)  # RGB is warped as uint8


@pytest.mark.parametrize(
    "dtype, thermal_range",
    [(np.uint8, "auto"), (np.uint16, [0, 65535]), (np.float32, [0.0, 1.0])],
)
def test_thermal_normalisation_from_8_bit_16_bit_and_float(dtype, thermal_range):
    net = StubNet(64)
    tracker = DiMPTracker(net, dataclasses.replace(NO_IOU, thermal_range=thermal_range), device="cpu")
    tracker.initialize(_scene(dtype), BOX)
    thermal = net.inputs[-1][1][0, 0]
    # Every encoding of the same scene reaches the network as the same [0, 1] image.
    reference = StubNet(64)
    DiMPTracker(reference, NO_IOU, device="cpu").initialize(_scene(np.uint8), BOX)
    torch.testing.assert_close(thermal, reference.inputs[-1][1][0, 0], atol=1e-5, rtol=0)
    assert float(thermal.max()) == pytest.approx(250 / 255, abs=1e-5)


def test_16_bit_thermal_with_automatic_range_is_accepted():
    net = StubNet(64)
    tracker = DiMPTracker(net, NO_IOU, device="cpu")
    pair = _scene(np.uint16)
    pair.thermal = (pair.thermal.astype(np.float64) / 65535 * 3000 + 7000).astype(np.uint16)  # counts 7000..10000
    tracker.initialize(pair, BOX)
    thermal = net.inputs[-1][1]
    assert 0.0 <= float(thermal.min()) and float(thermal.max()) <= 1.0
    assert float(thermal.max()) - float(thermal.min()) > 0.9  # stretched to the full range


@pytest.mark.parametrize(
    "box, fragment",
    [
        ([300.0, 20.0, 10.0, 10.0], "outside"),
        ([20.0, 20.0, 0.0, 10.0], "zero or negative"),
        ([np.nan, 20.0, 10.0, 10.0], "NaN"),
        ([1.0, 2.0, 3.0], "4 numbers"),
    ],
)
def test_bad_boxes_are_input_errors(box, fragment):
    tracker = DiMPTracker(StubNet(64), NO_IOU, device="cpu")
    with pytest.raises(InputError, match=fragment):
        tracker.initialize(_scene(), np.array(box))


def test_bad_pairs_and_call_order_are_input_errors():
    tracker = DiMPTracker(StubNet(64), NO_IOU, device="cpu")
    with pytest.raises(InputError, match="before initialize"):
        tracker.track(_scene())
    pair = _scene()
    mismatched = _pair(pair.rgb, pair.thermal[:150])
    with pytest.raises(InputError, match="register/resize"):
        tracker.initialize(mismatched, BOX)
    with pytest.raises(InputError, match="FramePair"):
        tracker.initialize((pair.rgb, pair.thermal), BOX)
    tracker.initialize(pair, BOX)
    with pytest.raises(InputError, match="NaN or Inf"):
        tracker.track(_pair(pair.rgb, np.full((200, 200), np.nan, dtype=np.float32)))
    # A box partly outside the image is valid (targets enter and leave the view).
    assert tracker.initialize(pair, np.array([-10.0, -5.0, 30.0, 30.0])).state is TrackState.TRACKING


def test_cuda_request_without_cuda_is_an_input_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(InputError, match="CUDA is not available"):
        DiMPTracker(StubNet(64), NO_IOU, device="cuda")
    # fp16 is a CUDA option and is ignored on the CPU.
    tracker = DiMPTracker(StubNet(64), dataclasses.replace(NO_IOU, fp16=True), device="auto")
    assert tracker.device.type == "cpu"
    assert tracker.initialize(_scene(), BOX).state is TrackState.TRACKING


def test_score_cells_follow_the_label_convention_of_the_network():
    """The tracker reads score cell (i, j) as crop point (16 j, 16 i): where the network's learned
    label map (DiMP's filter-optimizer target) puts the peak of a box centred there."""
    net = build_model(load_config("student-tiny"), pretrained="none")
    size = net.score_size(160)  # 11x11, centre cell (5, 5) <-> crop centre (80, 80)
    box = torch.tensor([[[80.0 + 16 - 10, 80.0 - 2 * 16 - 6, 20.0, 12.0]]])  # centre one cell right, two up
    label, _, _ = net.classifier.filter_optimizer.target_maps(box, (4, 4), size)
    row, col = divmod(int(label.reshape(-1).argmax()), size[1])
    assert (col - (size[1] - 1) / 2, row - (size[0] - 1) / 2) == (1.0, -2.0)
