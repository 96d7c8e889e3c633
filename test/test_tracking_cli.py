"""``rgbt-tracker track``, the tracker factory and the side-by-side video writer."""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rgbt_tracker_ros.cli import track as track_cli
from rgbt_tracker_ros.data.synthetic import generate_sequence, make_specs
from rgbt_tracker_ros.data.writers import write_sequence
from rgbt_tracker_ros.errors import CheckpointError, InputError
from rgbt_tracker_ros.evaluation.video import SideBySideVideo
from rgbt_tracker_ros.networks.checkpoint import save_checkpoint
from rgbt_tracker_ros.networks.config import build_model, load_config
from rgbt_tracker_ros.tracking import factory
from rgbt_tracker_ros.tracking.base import TrackResult, TrackState
from rgbt_tracker_ros.tracking.dimp import DiMPTracker
from rgbt_tracker_ros.tracking.opencv_baseline import OpenCVTracker
from rgbt_tracker_ros.tracking.params import DiMPParams

torch.set_num_threads(1)
FRAMES = 4
SIZE = (96, 80)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    """A tiny student checkpoint and one synthetic sequence written as a LasHeR folder and a bag."""
    root = tmp_path_factory.mktemp("track")
    torch.manual_seed(0)
    checkpoint = save_checkpoint(root / "student.pt", build_model(load_config("student-tiny"), pretrained="none"))
    spec = make_specs(1, seed=5, frames=FRAMES, attributes=[[]], size=SIZE)[0]
    sequence = write_sequence(spec, root / "seq001")
    return {"root": root, "checkpoint": checkpoint, "sequence": sequence}


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rgbt-tracker")
    track_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def _read_boxes(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", ndmin=2)


def test_track_sequence_writes_results_and_video(workspace, capsys):
    out = workspace["root"] / "out"
    video = out / "seq001.mp4"
    code = _run(["track", "--sequence", str(workspace["sequence"]), "--model", str(workspace["checkpoint"]),
                 "--out", str(out), "--video", str(video), "--device", "cpu"])
    assert code == 0
    boxes = _read_boxes(out / "seq001.txt")
    first_gt = np.loadtxt(workspace["sequence"] / "visible.txt", delimiter=",", ndmin=2)[0]
    assert boxes.shape == (FRAMES, 4)
    np.testing.assert_allclose(boxes[0], first_gt)  # the first line is the initial box
    assert (boxes[:, 2:] > 0).all()
    printed = capsys.readouterr().out
    assert f"tracked {FRAMES} frames" in printed and "FPS" in printed and str(out / "seq001.txt") in printed
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert len(frames) == FRAMES
    assert frames[0].shape == (SIZE[1], 2 * SIZE[0], 3)  # RGB and thermal side by side


def test_track_bag_with_explicit_init(workspace):
    out = workspace["root"] / "out_bag"
    code = _run(["track", "--bag", str(workspace["sequence"]), "--model", str(workspace["checkpoint"]),
                 "--out", str(out), "--init", "20,20,16,12", "--device", "cpu"])
    assert code == 0
    boxes = _read_boxes(out / "seq001.txt")
    assert boxes.shape == (FRAMES, 4)
    np.testing.assert_allclose(boxes[0], [20, 20, 16, 12])


@pytest.mark.parametrize(
    "init, fragment",
    [
        ("1,2,nan,4", "NaN"),
        ("10,10,0,5", "zero or negative"),
        ("500,10,5,5", "outside the 96x80 image"),
        ("1,2,3", "expected four numbers"),
        ("a,b,c,d", "expected four numbers"),
    ],
)
def test_bad_init_is_one_clear_error(workspace, init, fragment):
    with pytest.raises(InputError) as info:
        _run(["track", "--sequence", str(workspace["sequence"]), "--model", str(workspace["checkpoint"]),
              "--out", str(workspace["root"] / "bad"), "--init", init, "--device", "cpu"])
    assert fragment in str(info.value) and "--init" in str(info.value)
    assert "\n" not in str(info.value)
    assert not (workspace["root"] / "bad" / "seq001.txt").exists()


def test_missing_demo_checkpoint_says_how_to_make_it(workspace, monkeypatch):
    monkeypatch.setattr(factory, "default_model_path", lambda: workspace["root"] / "absent" / "demo_student.pt")
    with pytest.raises(CheckpointError) as info:
        _run(["track", "--sequence", str(workspace["sequence"]), "--out", str(workspace["root"] / "x")])
    message = str(info.value)
    assert "demo_student.pt is missing" in message and "rgbt-tracker train" in message and "--model" in message


def test_factory_builds_every_tracker(workspace):
    tracker = factory.create_tracker("dimp", model=workspace["checkpoint"], params=DiMPParams(seed=3), device="cpu")
    assert isinstance(tracker, DiMPTracker) and tracker.name == "dimp-student"
    assert tracker.params.seed == 3 and tracker.sample_size == 160
    for name in ("csrt-rgb", "csrt-thermal", "kcf-rgb", "kcf-thermal"):
        baseline = factory.create_tracker(name)
        assert isinstance(baseline, OpenCVTracker) and baseline.name == name
    assert factory.default_model_path().name == "demo_student.pt"
    assert factory.default_model_path().parent.name == "assets"
    with pytest.raises(InputError, match="unknown tracker 'siamrpn'"):
        factory.create_tracker("siamrpn")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        factory.create_tracker("dimp", model=workspace["root"] / "nope.pt", device="cpu")
    with pytest.raises(InputError, match="unknown device"):
        factory.create_tracker("dimp", model=workspace["checkpoint"], device="tpu")


def test_video_writer_draws_both_modalities_and_falls_back_to_avi(tmp_path, monkeypatch):
    pair = next(iter(generate_sequence(make_specs(1, seed=1, frames=2, attributes=[[]], size=SIZE)[0])))
    result = TrackResult(box=pair.gt_rgb, score=0.8, state=TrackState.TRACKING,
                         fusion_weights={"layer3": [0.2, 0.3, 0.5]})
    with SideBySideVideo(tmp_path / "a.avi", fps=10) as video:
        video.write(pair, result, label="seq #0")
        video.write(pair, None)
    assert video.path == tmp_path / "a.avi" and video.frames_written == 2 and video.note is None

    real_writer = cv2.VideoWriter

    def no_mp4(path, fourcc, fps, size):  # an OpenCV build without an MPEG-4 encoder
        writer = real_writer(path, fourcc, fps, size)
        if str(path).endswith(".mp4"):
            writer.release()
            return real_writer()
        return writer

    monkeypatch.setattr(cv2, "VideoWriter", no_mp4)
    with SideBySideVideo(tmp_path / "b.mp4") as video:
        video.write(pair, result)
    assert video.path == tmp_path / "b.avi" and video.path.stat().st_size > 0
    assert "Motion-JPEG" in video.note
    with pytest.raises(InputError, match=r"\.mp4 or \.avi"):
        SideBySideVideo(tmp_path / "c.gif")
