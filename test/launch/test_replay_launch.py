"""Launch test: ``replay.launch.py`` plays the bundled synthetic bag (90 frames, 30 Hz, ground truth
on /ground_truth) into track_node running the bundled student on simulated time; the published
boxes are scored against the bag's ground truth. The node runs the onnxruntime backend on an ONNX
export the test makes first (``rgbt-tracker export --format onnx``), given by the launch arguments
``backend`` and ``export_dir``: the deployment route of docs/deploy.md, end to end.

The bag is played at 0.3x speed, so the node on this 2-core CPU sees most frames; frames the node
skips under its newest-pair policy simply get no detection. Thresholds: at least a third of the
frames answered and a mean IoU of 0.5 on them (offline, every frame tracked, the same bag scores
SR 77.5: ``rgbt-tracker demo``).

Runs with ``colcon test`` where ROS 2 is installed; skipped (not an error) without rclpy.
"""
import unittest
from importlib import resources
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
launch_testing = pytest.importorskip("launch_testing")

import launch  # noqa: E402
import launch_testing.actions  # noqa: E402
import numpy as np  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from driver import (  # noqa: E402
    Driver,
    ExitCodes,
    RosTestCase,
    detection_box,
    include_launch,
    iou,
    stamp_ns,
    write_config,
)

BAG = str(resources.files("rgbt_tracker_ros") / "assets" / "demo_bag")
NAMESPACE = "replay_test"


def bag_truth() -> dict:
    """Ground-truth RGB box per image stamp (exact ns, as the node's output headers carry it) of the bag."""
    from rosbags.highlevel import AnyReader

    from rgbt_tracker_ros.data.bags import ground_truth_boxes, stamp_ns as message_stamp_ns

    truth = {}
    with AnyReader([Path(BAG)]) as reader:
        connections = [c for c in reader.connections if c.topic == "/ground_truth"]
        for connection, _, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, connection.msgtype)
            truth[message_stamp_ns(msg)] = ground_truth_boxes(msg)[0]
    return truth


@pytest.mark.launch_test
def generate_test_description():
    from rgbt_tracker_ros.data.bags import first_ground_truth

    from rgbt_tracker_ros.cli.main import main as rgbt_tracker
    from rgbt_tracker_ros.tracking.factory import default_model_path

    box = ",".join(f"{v:.1f}" for v in first_ground_truth(BAG))
    config = write_config("/**:\n  ros__parameters:\n    device: cpu\n    expected_rate_min: 1.0\n")
    export_dir = str(Path(config).parent / "student_onnx")
    if rgbt_tracker(["export", str(default_model_path()), "--format", "onnx", "--out", export_dir]) != 0:
        raise RuntimeError("rgbt-tracker export --format onnx failed")
    return launch.LaunchDescription([
        include_launch("replay.launch.py", bag=BAG, rate="0.3", config=config, namespace=NAMESPACE,
                       initial_box=box, debug="false", backend="onnxruntime", export_dir=export_dir),
        launch_testing.actions.ReadyToTest(),
    ])


class TestReplay(RosTestCase):
    def test_replayed_bag_is_tracked_against_its_ground_truth(self):
        node = rclpy.create_node("replay_test_listener")
        detections = []
        node.create_subscription(Detection2DArray, f"/{NAMESPACE}/track_node/detections", detections.append, 100)
        driver = Driver(node, f"/{NAMESPACE}/track_node")
        driver.wait_until_quiet(detections, 4.0)  # the bag has ended: no new result for 4 s
        driver.wait_until(lambda: any(name.endswith("track_node: device") for name in driver.diagnostics), 10.0,
                          "the device diagnostic")
        self.assertEqual(driver.status("device")["backend"], "onnxruntime")
        node.destroy_node()

        truth = bag_truth()
        overlaps = []
        for msg in detections:
            stamp = stamp_ns(msg.header.stamp)
            self.assertIn(stamp, truth, "a detection carries a stamp that is not a frame of the bag")
            gt = truth[stamp]
            if gt is not None:  # frames with the target out of view are not scored
                overlaps.append(iou(detection_box(msg.detections[0]), list(gt)) if msg.detections else 0.0)
        print(f"replay: {len(detections)} of {len(truth)} frames answered, mean IoU {np.mean(overlaps):.3f}")
        self.assertGreaterEqual(len(detections), len(truth) / 3)
        self.assertGreater(float(np.mean(overlaps)), 0.5)


@launch_testing.post_shutdown_test()
class TestShutdown(ExitCodes, unittest.TestCase):
    pass
