"""Launch test: track.launch.py starts track_node; generated RGB + thermal images, an init box on
~/init, and the Detection2DArray boxes must follow the moving target; diagnostics must report.

Runs with ``colcon test`` where ROS 2 is installed; skipped (not an error) without rclpy. The node
runs the OpenCV CSRT baseline (no checkpoint needed) so the test checks the ROS plumbing, not a model.
"""

import unittest

import pytest

rclpy = pytest.importorskip("rclpy")
launch_testing = pytest.importorskip("launch_testing")

import numpy as np  # noqa: E402

import moving_target  # noqa: E402
from driver import ExitCodes, RosTestCase, CONFIG, Driver, init_msg, launch_description  # noqa: E402


@pytest.mark.launch_test
def generate_test_description():
    return launch_description(CONFIG)


class TestTrackNode(RosTestCase):
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
class TestShutdown(ExitCodes, unittest.TestCase):
    pass
