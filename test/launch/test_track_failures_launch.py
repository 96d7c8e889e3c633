"""Launch test: failed transitions leave track_node alive, in a clear state, with the reason reported.

Two nodes start with ``autostart``: one whose parameter file gives a string for a float parameter
(configure fails: the node stays unconfigured) and one whose model file does not exist (activate
fails: the node stays inactive, with no inference thread or camera subscriptions left behind). Both
report the failure in the ``tracker`` diagnostic and keep answering the lifecycle services: a retry
fails the same way, cleanup and shutdown succeed.

Runs with ``colcon test`` where ROS 2 is installed; skipped (not an error) without rclpy.
"""

import unittest

import pytest

rclpy = pytest.importorskip("rclpy")
launch_testing = pytest.importorskip("launch_testing")

import launch  # noqa: E402
import launch_testing.actions  # noqa: E402
from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402

from driver import ExitCodes, RosTestCase, Driver, track_launch  # noqa: E402

BAD_TYPE, BAD_MODEL = "/bad_type/track_node", "/bad_model/track_node"
WRONG_TYPE = """/**:
  ros__parameters:
    tracker: csrt-rgb
    device: cpu
    latency_error: "high"
"""
MISSING_MODEL = """/**:
  ros__parameters:
    tracker: dimp
    device: cpu
    model: /nonexistent/student.pt
"""


@pytest.mark.launch_test
def generate_test_description():
    return launch.LaunchDescription([
        track_launch(WRONG_TYPE, namespace="bad_type"),
        track_launch(MISSING_MODEL, namespace="bad_model"),
        launch_testing.actions.ReadyToTest(),
    ])


class TestFailedTransitions(RosTestCase):
    def setUp(self):
        self.node = rclpy.create_node("failures_test_driver")
        self.driver = Driver(self.node, BAD_MODEL)

    def tearDown(self):
        self.node.destroy_node()

    def transition_error(self, node: str) -> str:
        try:
            return self.driver.status("tracker", node).get("last transition error", "")
        except AssertionError:  # no diagnostic from that node yet
            return ""

    def test_failed_configure_and_activate_are_reported_and_the_nodes_stay_alive(self):
        driver = self.driver
        driver.wait_until(lambda: all(self.transition_error(node) for node in (BAD_TYPE, BAD_MODEL)), 60.0,
                          "both failures in the diagnostics")
        self.assertEqual(driver.lifecycle_state(BAD_TYPE), "unconfigured")
        bad_type = driver.status("tracker", BAD_TYPE)
        self.assertEqual(bad_type["level"], DiagnosticStatus.ERROR[0])
        self.assertEqual(bad_type["lifecycle state"], "unconfigured")
        self.assertIn("configure failed: parameter latency_error must be of type float, got 'high' (string)",
                      bad_type["message"])

        self.assertEqual(driver.lifecycle_state(BAD_MODEL), "inactive")
        bad_model = driver.status("tracker", BAD_MODEL)
        self.assertEqual(bad_model["level"], DiagnosticStatus.ERROR[0])
        self.assertEqual(bad_model["lifecycle state"], "inactive")
        self.assertTrue(bad_model["message"].startswith("activate failed: "), bad_model)
        self.assertIn("/nonexistent/student.pt", bad_model["message"])
        self.assertEqual(bad_model["active"], "False")
        self.assertEqual(driver.rgb_pub.get_subscription_count(), 0, "a failed activation left camera subscriptions")

        # both still answer: a retry fails the same way, cleanup and shutdown succeed
        self.assertFalse(driver.transition(Transition.TRANSITION_ACTIVATE, BAD_MODEL))
        self.assertEqual(driver.lifecycle_state(BAD_MODEL), "inactive")
        self.assertFalse(driver.transition(Transition.TRANSITION_CONFIGURE, BAD_TYPE))
        self.assertTrue(driver.transition(Transition.TRANSITION_CLEANUP, BAD_MODEL))
        self.assertEqual(driver.lifecycle_state(BAD_MODEL), "unconfigured")
        self.assertTrue(driver.transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN, BAD_TYPE))
        self.assertEqual(driver.lifecycle_state(BAD_TYPE), "finalized")


@launch_testing.post_shutdown_test()
class TestShutdown(ExitCodes, unittest.TestCase):
    pass
