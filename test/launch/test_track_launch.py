"""Launch test: track.launch.py starts track_node; generated RGB + thermal images, an init box on
~/init, and the Detection2DArray boxes must follow the moving target; diagnostics must report.

Runs with ``colcon test`` where ROS 2 is installed; skipped (not an error) without rclpy. The node
runs the OpenCV CSRT baseline (no checkpoint needed) so the test checks the ROS plumbing, not a model.
"""
import os
import tempfile
import time
import unittest

import pytest

rclpy = pytest.importorskip("rclpy")
launch_testing = pytest.importorskip("launch_testing")

import launch  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import numpy as np  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2D, Detection2DArray  # noqa: E402

import moving_target  # noqa: E402

NAMESPACE = "rgbt_test"
RGB_TOPIC, THERMAL_TOPIC = "/test_cam/rgb", "/test_cam/thermal"
NODE = f"/{NAMESPACE}/track_node"
CONFIG = """/**:
  ros__parameters:
    tracker: csrt-rgb
    device: cpu
    expected_rate_min: 1.0
"""


def launch_description(config_text: str):
    """track.launch.py with a test parameter file and test topics."""
    config = os.path.join(tempfile.mkdtemp(prefix="rgbt_launch_test_"), "track.yaml")
    with open(config, "w") as file:
        file.write(config_text)
    track_launch = os.path.join(get_package_share_directory("rgbt_tracker_ros"), "launch", "track.launch.py")
    return launch.LaunchDescription(
        [
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(track_launch),
                launch_arguments={
                    "config": config,
                    "namespace": NAMESPACE,
                    "rgb_topic": RGB_TOPIC,
                    "thermal_topic": THERMAL_TOPIC,
                    "autostart": "true",
                    "debug": "true",
                }.items(),
            ),
            launch_testing.actions.ReadyToTest(),
        ]
    )


@pytest.mark.launch_test
def generate_test_description():
    return launch_description(CONFIG)


def image_msg(array: np.ndarray, encoding: str, stamp, frame_id: str) -> Image:
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(array.strides[0])
    msg.data = np.ascontiguousarray(array).tobytes()
    return msg


def init_msg(box, stamp) -> Detection2D:
    msg = Detection2D()
    msg.header.stamp = stamp
    x, y, w, h = box
    msg.bbox.center.position.x = x + w / 2.0
    msg.bbox.center.position.y = y + h / 2.0
    msg.bbox.size_x, msg.bbox.size_y = float(w), float(h)
    return msg


class Driver:
    """Publishes the scene, sends the init box and records what the node publishes."""

    def __init__(self, node):
        self.node = node
        self.rgb_pub = node.create_publisher(Image, RGB_TOPIC, 10)
        self.thermal_pub = node.create_publisher(Image, THERMAL_TOPIC, 10)
        self.init_pub = node.create_publisher(Detection2D, f"{NODE}/init", 10)
        self.detections = []
        self.diagnostics = {}
        self.truth = {}
        node.create_subscription(Detection2DArray, f"{NODE}/detections", self.detections.append, 10)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_diagnostics(self, msg):
        for status in msg.status:
            self.diagnostics[status.name] = status

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(self.node, timeout_sec=0.01)

    def wait_until(self, condition, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < end, f"timed out waiting for {what}"
            rclpy.spin_once(self.node, timeout_sec=0.05)

    def wait_for_node(self) -> None:
        self.wait_until(
            lambda: self.rgb_pub.get_subscription_count() > 0
            and self.thermal_pub.get_subscription_count() > 0
            and self.init_pub.get_subscription_count() > 0,
            60.0,
            "track_node to activate and subscribe",
        )

    def publish_frame(self, index: int, rgb=None, thermal=None, thermal_encoding: str = "mono16"):
        scene_rgb, scene_thermal = moving_target.frame(index)
        rgb = scene_rgb if rgb is None else rgb
        thermal = scene_thermal if thermal is None else thermal
        stamp = self.node.get_clock().now().to_msg()
        self.truth[stamp.sec * 1_000_000_000 + stamp.nanosec] = moving_target.target_box(index)
        self.rgb_pub.publish(image_msg(rgb, "rgb8", stamp, "rgb_camera"))
        self.thermal_pub.publish(image_msg(thermal, thermal_encoding, stamp, "thermal_camera"))
        return stamp

    def centre_errors(self):
        """Centre error (px) of every non-empty detection against the true box of its stamp."""
        errors = []
        for msg in self.detections:
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            if not msg.detections or stamp not in self.truth:
                continue
            x, y, w, h = self.truth[stamp]
            centre = msg.detections[0].bbox.center.position
            errors.append(float(np.hypot(centre.x - (x + w / 2), centre.y - (y + h / 2))))
        return errors


class TestTrackNode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rclpy.init()

    @classmethod
    def tearDownClass(cls):
        rclpy.shutdown()

    def setUp(self):
        self.node = rclpy.create_node("track_launch_test_driver")
        self.driver = Driver(self.node)

    def tearDown(self):
        self.node.destroy_node()

    def test_boxes_follow_the_target_and_diagnostics_report(self):
        driver = self.driver
        driver.wait_for_node()
        stamps = []
        for index in range(60):
            stamps.append(driver.publish_frame(index))
            if index == 5:  # the box refers to frame 3, already sent: the stamp-keyed cache applies it there
                driver.wait_until(lambda: driver.init_pub.get_subscription_count() > 0, 5.0, "~/init")
                driver.init_pub.publish(init_msg(moving_target.target_box(3), stamps[3]))
            driver.spin_for(1.0 / 15.0)
        driver.wait_until(lambda: len(driver.centre_errors()) >= 20, 30.0, "20 detections")
        driver.spin_for(2.5)  # let the diagnostics updater run (1 s period)

        errors = driver.centre_errors()
        self.assertLess(float(np.median(errors)), 6.0, f"centre errors {errors}")
        first = min(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in driver.detections if m.detections)
        last = max(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in driver.detections if m.detections)
        self.assertGreater(driver.truth[last][0] - driver.truth[first][0], 30.0, "the target moved less than expected")
        ids = {m.detections[0].id for m in driver.detections if m.detections}
        self.assertEqual(len(ids), 1, f"track id changed without a reset: {ids}")
        self.assertTrue(all(m.header.frame_id == "rgb_camera" for m in driver.detections))

        names = {name.split(": ", 1)[-1]: status for name, status in driver.diagnostics.items()
                 if name.startswith("track_node")}
        for expected in ("pipeline", "tracker", "modality health", "device"):
            self.assertIn(expected, names, f"diagnostics seen: {sorted(driver.diagnostics)}")
        tracker_values = {kv.key: kv.value for kv in names["tracker"].values}
        self.assertEqual(tracker_values["target initialised"], "True")
        pipeline = {kv.key: kv.value for kv in names["pipeline"].values}
        self.assertGreater(int(pipeline["pairs processed"]), 0)
        self.assertIn("latency p95 (s)", pipeline)
        self.assertEqual({kv.key: kv.value for kv in names["device"].values}["device"], "cpu")


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_exit_code(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
