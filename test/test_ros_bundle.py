"""The teacher-output bundle: layout, LasHeR compatibility, resume, features, detections bag (no ROS)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rgbt_tracker_ros.data.datasets import open_sequence
from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.data.bundle import (
    DETECTIONS_TOPIC,
    MANIFEST,
    BundleWriter,
    load_labels,
    read_manifest,
    sequence_frames,
)
from rgbt_tracker_ros.errors import DatasetError, InputError
from rgbt_tracker_ros.tracking.labelling import label_sequence
from rgbt_tracker_ros.tracking.base import Tracker, TrackResult, TrackState

H, W = 24, 32
TEACHER = {"checkpoint": "teacher.pth", "sha256": "a" * 64, "name": "fake-teacher"}


class FakeTeacher(Tracker):
    """Box moves +1 px in x per frame; LOST on frame 4; DiMP-like debug attributes."""

    name = "fake-teacher"

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.inits: list[tuple[int, list[float]]] = []
        self.box = np.zeros(4)

    def _debug(self, pair: FramePair, flag: str) -> None:
        self.last_response = np.full((5, 5), pair.index / 10, dtype=np.float32)
        self.last_search_box = self.box + np.array([-4.0, -4.0, 8.0, 8.0])
        self.last_flag = flag
        self.last_features = SimpleNamespace(
            rgb={"layer3": torch.full((1, 2, 3, 3), float(pair.index))},
            tir={"layer3": torch.zeros(1, 2, 3, 3)},
            fused={"layer3": torch.ones(1, 2, 3, 3)},
        )

    def initialize(self, pair, box):
        self.inits.append((pair.index, [float(v) for v in box]))
        self.box = np.asarray(box, dtype=np.float64)
        self._debug(pair, "init")
        return TrackResult(self.box.copy(), 1.0, TrackState.TRACKING, {"layer3": [0.2, 0.3, 0.5]})

    def track(self, pair):
        if pair.index == self.fail_at:
            raise KeyboardInterrupt  # the run is interrupted here
        self.box = self.box + np.array([1.0, 0.0, 0.0, 0.0])
        state = TrackState.LOST if pair.index == 4 else TrackState.TRACKING
        self._debug(pair, "not_found" if state == TrackState.LOST else "normal")
        return TrackResult(self.box.copy(), 0.5, state, {"layer3": [0.1, 0.1, 0.8]})


def make_pairs(count: int = 7, gt_from: int = 0) -> list[FramePair]:
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, W, dtype=np.float64)[None, :, None]  # smooth: JPEG keeps it close
    pairs = []
    for i in range(count):
        gt = np.array([4.0 + i, 5.0, 10.0, 8.0]) if i >= gt_from else None
        pairs.append(
            FramePair(
                np.broadcast_to(ramp + np.array([0, 20, 40]) + i, (H, W, 3)).astype(np.uint8),
                rng.integers(1000, 5000, (H, W), dtype=np.uint16),
                index=i,
                stamp_rgb=100.0 + i * 0.1,
                gt_rgb=gt,
            )
        )
    return pairs


def test_label_sequence_writes_a_lasher_folder_with_teacher_labels(tmp_path):
    root = tmp_path / "bundle"
    writer = BundleWriter(root, TEACHER, chunk_size=3)
    seq = writer.sequence("walk", {"kind": "sequence", "path": "x"})
    tracker = FakeTeacher()
    pairs = make_pairs(7, gt_from=2)  # frames 0-1 have no box: labelling starts at frame 2
    assert label_sequence(tracker, pairs, seq) == 5
    seq.close()
    assert tracker.inits == [(2, [6.0, 5.0, 10.0, 8.0])]

    manifest = read_manifest(root)
    entry = manifest["sequences"]["walk"]
    assert entry["complete"] and entry["frames"] == 5 and entry["init"]["source_index"] == 2
    assert sorted(p.name for p in (root / "walk" / "teacher").iterdir()) == ["chunk_000000.npz", "chunk_000001.npz"]

    labels = load_labels(root, "walk")
    np.testing.assert_array_equal(labels.source_index, [2, 3, 4, 5, 6])
    np.testing.assert_array_equal(labels.stamps_ns, [100_200_000_000, 100_300_000_000, 100_400_000_000,
                                                     100_500_000_000, 100_600_000_000])
    np.testing.assert_allclose(labels.boxes[:, 0], [6, 7, 8, 9, 10])
    assert list(labels.valid()) == [True, True, False, True, True]
    assert list(labels.flags) == ["init", "normal", "not_found", "normal", "normal"]
    assert labels.responses.dtype == np.float16 and labels.responses.shape == (5, 5, 5)
    assert labels.responses[1, 0, 0] == np.float16(0.3)
    np.testing.assert_allclose(labels.search_boxes[0], [2, 1, 18, 16])
    np.testing.assert_allclose(labels.path_weights["layer3"][1], [0.1, 0.1, 0.8])
    np.testing.assert_allclose(labels.gt[0], [6, 5, 10, 8])

    # the sequence folder is a LasHeR sequence whose ground truth is the teacher's (0,0,0,0 when lost)
    sequence = open_sequence(root / "walk", layout="lasher")
    assert len(sequence) == 5
    np.testing.assert_allclose(sequence.gt_rgb[2], [0, 0, 0, 0])
    np.testing.assert_allclose(sequence.gt_rgb[3], [9, 5, 10, 8])
    frame = sequence[1]
    np.testing.assert_array_equal(frame.thermal, pairs[3].thermal)  # 16-bit thermal kept losslessly
    assert np.abs(frame.rgb.astype(int) - pairs[3].rgb).mean() < 3  # JPEG, quality 95
    assert sequence_frames(root, "walk").name == "walk"


def test_detections_bag_holds_one_message_per_frame(tmp_path):
    from rosbags.highlevel import AnyReader

    from rgbt_tracker_ros.data.rosmsgs import typestore

    root = tmp_path / "bundle"
    seq = BundleWriter(root, TEACHER, chunk_size=4).sequence("walk", {"kind": "sequence"})
    label_sequence(FakeTeacher(), make_pairs(6), seq)
    seq.close()
    with AnyReader([root / "walk" / "teacher_detections"], default_typestore=typestore()) as reader:
        messages = [(t, reader.deserialize(raw, c.msgtype)) for c, t, raw in reader.messages()]
        assert {c.topic for c in reader.connections} == {DETECTIONS_TOPIC}
    assert len(messages) == 6
    assert messages[0][0] == 100_000_000_000
    assert [len(m.detections) for _, m in messages] == [1, 1, 1, 1, 0, 1]  # frame 4: lost
    assert messages[1][1].detections[0].bbox.center.position.x == pytest.approx(5 + 5.0)


def test_interrupted_run_resumes_from_the_last_full_chunk(tmp_path):
    root = tmp_path / "bundle"
    seq = BundleWriter(root, TEACHER, chunk_size=2).sequence("walk", {"kind": "sequence"})
    with pytest.raises(KeyboardInterrupt):
        label_sequence(FakeTeacher(fail_at=5), make_pairs(8), seq)
    # frames 0-3 are in two full chunks; frame 4 was only in memory
    assert len(list((root / "walk" / "visible").iterdir())) == 5

    with pytest.raises(InputError, match="--resume"):
        BundleWriter(root, TEACHER, chunk_size=2)
    with pytest.raises(InputError, match="different checkpoint"):
        BundleWriter(root, {**TEACHER, "sha256": "b" * 64}, resume=True)

    resumed = BundleWriter(root, TEACHER, resume=True).sequence("walk", {"kind": "sequence"})
    assert (resumed.next_index, resumed.resume_source_index) == (4, 3)
    assert len(list((root / "walk" / "visible").iterdir())) == 4  # the stray frame 4 image is gone
    tracker = FakeTeacher()
    assert label_sequence(tracker, make_pairs(8), resumed) == 4
    resumed.close()
    assert tracker.inits == [(3, [7.0, 5.0, 10.0, 8.0])]  # re-initialised on the last stored box
    labels = load_labels(root, "walk")
    np.testing.assert_array_equal(labels.source_index, np.arange(8))
    assert read_manifest(root)["sequences"]["walk"]["resumed_at"] == [3]
    assert len(open_sequence(root / "walk", layout="lasher")) == 8


def test_features_are_stored_in_fp16_only_when_asked(tmp_path):
    root = tmp_path / "bundle"
    seq = BundleWriter(root, TEACHER, chunk_size=10, feature_keys=["rgb.layer3", "fused.layer3"]).sequence(
        "walk", {"kind": "sequence"}
    )
    label_sequence(FakeTeacher(), make_pairs(3), seq)
    seq.close()
    labels = load_labels(root, "walk", with_features=True)
    assert sorted(labels.features) == ["fused.layer3", "rgb.layer3"]
    assert labels.features["rgb.layer3"].dtype == np.float16 and labels.features["rgb.layer3"].shape == (3, 2, 3, 3)
    assert labels.features["rgb.layer3"][2, 0, 0, 0] == 2.0
    assert load_labels(root, "walk").features == {}

    other = BundleWriter(tmp_path / "b2", TEACHER, feature_keys=["tir.stem"]).sequence("s", {"kind": "sequence"})
    with pytest.raises(InputError, match="tir.stem"):
        label_sequence(FakeTeacher(), make_pairs(2), other)


def test_reference_mode_copies_no_frames_and_reads_them_from_the_source(tmp_path):
    import cv2

    source = tmp_path / "seq1"
    (source / "visible").mkdir(parents=True)
    (source / "infrared").mkdir()
    pairs = make_pairs(4)
    for pair in pairs:
        cv2.imwrite(str(source / "visible" / f"v{pair.index + 1:06d}.png"), cv2.cvtColor(pair.rgb, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(source / "infrared" / f"i{pair.index + 1:06d}.png"), pair.thermal)
    (source / "visible.txt").write_text("4,5,10,8\n" * 4)
    (source / "infrared.txt").write_text("4,5,10,8\n" * 4)

    root = tmp_path / "bundle"
    seq = BundleWriter(root, TEACHER, frames="reference").sequence(
        "seq1", {"kind": "sequence", "path": str(source), "layout": "lasher"}
    )
    label_sequence(FakeTeacher(), open_sequence(source), seq)
    seq.close()
    assert not (root / "seq1" / "visible").exists()
    frames = sequence_frames(root, "seq1")
    assert len(frames) == 4
    np.testing.assert_allclose(frames.gt_rgb[:, 0], [4, 5, 6, 7])
    np.testing.assert_array_equal(frames[2].thermal, pairs[2].thermal)


def test_user_errors_are_clear(tmp_path):
    with pytest.raises(InputError, match="no initial box"):
        seq = BundleWriter(tmp_path / "b", TEACHER).sequence("s", {})
        label_sequence(FakeTeacher(), make_pairs(2, gt_from=5), seq)
    with pytest.raises(InputError, match="sequence name"):
        BundleWriter(tmp_path / "c", TEACHER).sequence("../evil", {})
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "file.txt").write_text("x")
    with pytest.raises(InputError, match="not an empty folder"):
        BundleWriter(tmp_path / "d", TEACHER)
    with pytest.raises(DatasetError, match="not a teacher bundle"):
        read_manifest(tmp_path / "d")
    (tmp_path / "d" / MANIFEST).write_text(json.dumps({"format": "other"}))
    with pytest.raises(DatasetError, match="format"):
        read_manifest(tmp_path / "d")
