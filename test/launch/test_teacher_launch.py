"""Launch test: ``teacher.launch.py`` labels a played bag into a teacher bundle.

The bundled synthetic bag (90 frames at 30 Hz, with ground truth on /ground_truth at 30 Hz) is
played in real time into teacher_node running a teacher-tiny checkpoint (random weights: the test
checks the labelling, not the teacher's accuracy). The teacher starts from the first ground-truth
box and must write exactly one bundle sequence for that one target (ground truth arriving while
the first init was being applied once started a second one), with every frame after the init
labelled, in order, and one ~/detections message per labelled frame.

Runs with ``colcon test`` where ROS 2 is installed; skipped (not an error) without rclpy.
"""
import subprocess
import tempfile
import unittest
from importlib import resources
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
launch_testing = pytest.importorskip("launch_testing")

import launch  # noqa: E402
import launch_testing.actions  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from driver import ExitCodes, RosTestCase, Driver, include_launch, write_config  # noqa: E402

BAG = str(resources.files("rgbt_tracker_ros") / "assets" / "demo_bag")
WORK = Path(tempfile.mkdtemp(prefix="rgbt_teacher_launch_"))
BUNDLE = WORK / "bundle"
NODE = "/teacher_test/teacher_node"


@pytest.mark.launch_test
def generate_test_description():
    from rgbt_tracker_ros.networks.checkpoint import save_checkpoint
    from rgbt_tracker_ros.networks.config import build_model

    checkpoint = save_checkpoint(WORK / "teacher.pt", build_model("teacher-tiny"))
    config = write_config("/**:\n  ros__parameters:\n    device: cpu\n    frames: reference\n")
    return launch.LaunchDescription([
        include_launch("teacher.launch.py", model=str(checkpoint), out=str(BUNDLE), config=config,
                       namespace="teacher_test"),
        launch_testing.actions.ReadyToTest(),
    ])


class TestTeacherLabelsABag(RosTestCase):
    def test_one_sequence_per_target_with_every_frame_labelled(self):
        node = rclpy.create_node("teacher_test_driver")
        driver = Driver(node, NODE)
        detections = []
        node.create_subscription(Detection2DArray, f"{NODE}/detections", detections.append, 200)
        driver.wait_until(lambda: node.count_subscribers("/rgb/image_raw") > 0
                          and node.count_subscribers("/ground_truth") > 0, 120.0, "teacher_node to subscribe")
        played = subprocess.run(["ros2", "bag", "play", BAG], capture_output=True, text=True, timeout=120)
        self.assertEqual(played.returncode, 0, played.stderr)
        # the teacher works through its queue (slowly on a busy CPU): wait for the frames, then for quiet
        driver.wait_until(lambda: len(detections) >= 85, 240.0, "85 labelled frames")
        driver.wait_until_quiet(detections, 5.0)
        reset = driver.call(Trigger, f"{NODE}/reset", Trigger.Request())
        node.destroy_node()
        self.assertTrue(reset.success)
        self.assertRegex(reset.message, r"^sequence live_\d+_1 completed$")

        from rgbt_tracker_ros.data.bundle import load_labels, read_manifest

        sequences = read_manifest(BUNDLE)["sequences"]
        self.assertEqual(len(sequences), 1, f"one target, sequences {sorted(sequences)}")
        name = next(iter(sequences))
        self.assertEqual(sequences[name]["init"]["from"], "ground truth")
        labels = load_labels(BUNDLE, name)
        frames = len(labels.boxes)
        self.assertEqual(frames, len(detections))
        self.assertGreaterEqual(frames, 85, "frames of the 90-frame bag left unlabelled")
        stamps = [d.header.stamp.sec * 10**9 + d.header.stamp.nanosec for d in detections]
        self.assertEqual(stamps, sorted(set(stamps)), "frames labelled twice or out of order")
        self.assertEqual({d.detections[0].id for d in detections if d.detections}, {"1"})


@launch_testing.post_shutdown_test()
class TestShutdown(ExitCodes, unittest.TestCase):
    pass
