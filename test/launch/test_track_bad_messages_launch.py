"""Launch test: bad images (wrong encoding, cameras of different sizes, an empty image) are logged,
counted in diagnostics and skipped; track_node keeps tracking the good frames that follow.

Runs with ``colcon test`` where ROS 2 is installed; skipped (not an error) without rclpy.
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


class TestBadMessages(RosTestCase):
    def setUp(self):
        self.node = rclpy.create_node("bad_messages_test_driver")
        self.driver = Driver(self.node)

    def tearDown(self):
        self.node.destroy_node()

    def test_node_survives_bad_messages(self):
        driver = self.driver
        driver.wait_for_node()
        stamp = driver.publish_frame(0)
        driver.spin_for(0.2)
        driver.init_pub.publish(init_msg(moving_target.target_box(0), stamp))
        for index in range(1, 6):
            driver.publish_frame(index)
            driver.spin_for(0.2)
        driver.wait_until(lambda: len(driver.detections) >= 3, 20.0, "detections before the bad messages")

        rgb, thermal = moving_target.frame(6)
        bad_frames = [
            dict(thermal=thermal, thermal_encoding="yuv422"),  # unsupported encoding
            dict(thermal=np.ascontiguousarray(thermal[:60, :80])),  # thermal smaller than RGB
            dict(rgb=np.zeros((0, 0, 3), np.uint8)),  # empty image
        ]
        for index, bad in enumerate(bad_frames, start=6):
            driver.publish_frame(index, **bad)
            driver.spin_for(0.5)  # one at a time: the newest-pair policy must not skip them

        before = len(driver.detections)
        for index in range(9, 30):
            driver.publish_frame(index)
            driver.spin_for(1.0 / 15.0)
        driver.wait_until(lambda: len(driver.detections) >= before + 10, 20.0, "detections after the bad messages")
        driver.spin_for(2.5)

        errors = driver.centre_errors()
        self.assertLess(float(np.median(errors[-10:])), 6.0, f"centre errors {errors}")
        pipeline = next(s for n, s in driver.diagnostics.items() if n.endswith("track_node: pipeline"))
        values = {kv.key: kv.value for kv in pipeline.values}
        self.assertGreaterEqual(int(values["bad messages"]), 3, values)


@launch_testing.post_shutdown_test()
class TestShutdown(ExitCodes, unittest.TestCase):
    pass
