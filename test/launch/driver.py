"""Shared pieces of the launch tests (not a test module): launching the package's launch files with a test
parameter file, and a driver node that publishes images, sends init boxes, calls services and records
what the nodes publish. Imported only by the ``test_*_launch.py`` modules, which run where ROS 2 is.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import time
import unittest
from typing import Any, Callable, Optional

import launch
import launch_testing.actions
import launch_testing.asserts
import numpy as np
import rclpy
from ament_index_python.packages import get_package_share_directory
from diagnostic_msgs.msg import DiagnosticArray
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from lifecycle_msgs.srv import ChangeState, GetState
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2D, Detection2DArray

import moving_target
from rgbt_tracker_ros.ros.common import image_msg

NAMESPACE = "rgbt_test"
RGB_TOPIC, THERMAL_TOPIC = "/test_cam/rgb", "/test_cam/thermal"
NODE = f"/{NAMESPACE}/track_node"
#: The OpenCV CSRT baseline needs no checkpoint, so the tests check the ROS plumbing, not a model.
CONFIG = """/**:
  ros__parameters:
    tracker: csrt-rgb
    device: cpu
    expected_rate_min: 1.0
"""


def write_config(text: str) -> str:
    """A parameter file with ``text`` in a new temporary folder."""
    path = os.path.join(tempfile.mkdtemp(prefix="rgbt_launch_test_"), "params.yaml")
    with open(path, "w") as file:
        file.write(text)
    return path


def include_launch(name: str, **arguments: str) -> IncludeLaunchDescription:
    """The package's installed ``launch/<name>`` with ``arguments``."""
    path = os.path.join(get_package_share_directory("rgbt_tracker_ros"), "launch", name)
    return IncludeLaunchDescription(PythonLaunchDescriptionSource(path), launch_arguments=arguments.items())


def track_launch(config_text: str, namespace: str = NAMESPACE, autostart: str = "true") -> IncludeLaunchDescription:
    """track.launch.py with a test parameter file and the test topics."""
    return include_launch(
        "track.launch.py", config=write_config(config_text), namespace=namespace,
        rgb_topic=RGB_TOPIC, thermal_topic=THERMAL_TOPIC, autostart=autostart, debug="true",
    )


def launch_description(config_text: str, autostart: str = "true") -> launch.LaunchDescription:
    """One track node under test, then ReadyToTest."""
    return launch.LaunchDescription([track_launch(config_text, autostart=autostart),
                                     launch_testing.actions.ReadyToTest()])


def init_msg(box: list[float], stamp: Any) -> Detection2D:
    msg = Detection2D()
    msg.header.stamp = stamp
    x, y, w, h = box
    msg.bbox.center.position.x = x + w / 2.0
    msg.bbox.center.position.y = y + h / 2.0
    msg.bbox.size_x, msg.bbox.size_y = float(w), float(h)
    return msg


def stamp_ns(stamp: Any) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def iou(a: list[float], b: list[float]) -> float:
    """Overlap of two ``[x, y, w, h]`` boxes (continuous coordinates)."""
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    union = a[2] * a[3] + b[2] * b[3] - w * h
    return w * h / union if union > 0 else 0.0


def detection_box(msg: Detection2D) -> list[float]:
    bbox = msg.bbox
    return [bbox.center.position.x - bbox.size_x / 2, bbox.center.position.y - bbox.size_y / 2,
            bbox.size_x, bbox.size_y]


def ros2_cli(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Run ``ros2 ARGS`` (the user's command line) and return its result."""
    return subprocess.run(["ros2", *args], capture_output=True, text=True, timeout=timeout)


class Driver:
    """Publishes the scene, sends init boxes, calls services and records what a track node publishes."""

    def __init__(self, node: Any, node_name: str = NODE) -> None:
        self.node = node
        self.node_name = node_name
        self.rgb_pub = node.create_publisher(Image, RGB_TOPIC, 10)
        self.thermal_pub = node.create_publisher(Image, THERMAL_TOPIC, 10)
        self.init_pub = node.create_publisher(Detection2D, f"{node_name}/init", 10)
        self.detections: list[Detection2DArray] = []
        self.diagnostics: dict[str, Any] = {}
        self.truth: dict[int, list[float]] = {}
        node.create_subscription(Detection2DArray, f"{node_name}/detections", self.detections.append, 10)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.diagnostics[status.name] = status

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(self.node, timeout_sec=0.01)

    def wait_until_quiet(self, messages: list, quiet_s: float, timeout: float = 120.0) -> None:
        """Spin until ``messages`` got something and then nothing new for ``quiet_s`` seconds."""
        quiet_since, deadline = time.monotonic(), time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = len(messages)
            rclpy.spin_once(self.node, timeout_sec=0.05)
            if len(messages) != seen:
                quiet_since = time.monotonic()
            elif messages and time.monotonic() - quiet_since > quiet_s:
                return

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
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

    def publish_frame(self, index: int, rgb: Optional[np.ndarray] = None, thermal: Optional[np.ndarray] = None,
                      thermal_encoding: str = "mono16") -> Any:
        scene_rgb, scene_thermal = moving_target.frame(index)
        rgb = scene_rgb if rgb is None else rgb
        thermal = scene_thermal if thermal is None else thermal
        stamp = self.node.get_clock().now().to_msg()
        self.truth[stamp_ns(stamp)] = moving_target.target_box(index)
        self.rgb_pub.publish(image_msg(rgb, "rgb8", stamp, "rgb_camera"))
        self.thermal_pub.publish(image_msg(thermal, thermal_encoding, stamp, "thermal_camera"))
        return stamp

    def centre_errors(self) -> list[float]:
        """Centre error (px) of every non-empty detection against the true box of its stamp."""
        errors = []
        for msg in self.detections:
            stamp = stamp_ns(msg.header.stamp)
            if not msg.detections or stamp not in self.truth:
                continue
            x, y, w, h = self.truth[stamp]
            centre = msg.detections[0].bbox.center.position
            errors.append(float(np.hypot(centre.x - (x + w / 2), centre.y - (y + h / 2))))
        return errors

    def status(self, task: str, node_name: Optional[str] = None) -> dict[str, str]:
        """The latest diagnostic of ``task`` of the node (its values, plus ``level`` and ``message``)."""
        suffix = f"{(node_name or self.node_name).rsplit('/', 1)[-1]}: {task}"
        for name, status in self.diagnostics.items():
            if name.endswith(suffix):
                values = {kv.key: kv.value for kv in status.values}
                return {**values, "level": int.from_bytes(status.level, "little"), "message": status.message}
        raise AssertionError(f"no diagnostic '{suffix}' among {sorted(self.diagnostics)}")

    def call(self, service_type: Any, name: str, request: Any, timeout: float = 30.0) -> Any:
        """Call a service and wait for its answer (fails the test after ``timeout`` s)."""
        client = self.node.create_client(service_type, name)
        try:
            assert client.wait_for_service(timeout_sec=timeout), f"service {name} not available"
            future = client.call_async(request)
            self.wait_until(future.done, timeout, f"the answer of {name}")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def lifecycle_state(self, node_name: Optional[str] = None) -> str:
        response = self.call(GetState, f"{node_name or self.node_name}/get_state", GetState.Request())
        return response.current_state.label

    def transition(self, transition_id: int, node_name: Optional[str] = None) -> bool:
        request = ChangeState.Request()
        request.transition.id = transition_id
        return self.call(ChangeState, f"{node_name or self.node_name}/change_state", request, timeout=120.0).success


class RosTestCase(unittest.TestCase):
    """A test case with rclpy initialised around it."""

    @classmethod
    def setUpClass(cls) -> None:
        rclpy.init()

    @classmethod
    def tearDownClass(cls) -> None:
        rclpy.shutdown()


class ExitCodes:
    """Mixin of each module's post-shutdown test case: every launched process ended cleanly or on the signal
    that launch sends it. Not a TestCase itself, so importing it adds no test to a module; use it as
    ``@launch_testing.post_shutdown_test() class TestShutdown(ExitCodes, unittest.TestCase)``."""

    def test_exit_code(self, proc_info: Any) -> None:
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
