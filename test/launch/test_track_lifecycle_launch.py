"""Launch test: the lifecycle and parameter services of track_node answer, as users call them.

The node starts unconfigured (``autostart:=false``) from a parameter file that writes integers for
float parameters (``expected_rate_min: 5``, ``latency_warn: 1``), which once killed the node. Then:
``ros2 lifecycle get`` and ``ros2 param get/set/describe`` on the command line; configure, activate
(it tracks), deactivate, activate again and cleanup through the lifecycle services.

Runs with ``colcon test`` where ROS 2 is installed; skipped (not an error) without rclpy.
"""

import unittest

import pytest

rclpy = pytest.importorskip("rclpy")
launch_testing = pytest.importorskip("launch_testing")

import numpy as np  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

import moving_target  # noqa: E402
from driver import ExitCodes, RosTestCase, NODE, Driver, init_msg, launch_description, ros2_cli  # noqa: E402

INTEGERS_FOR_FLOATS = """/**:
  ros__parameters:
    tracker: csrt-rgb
    device: cpu
    expected_rate_min: 5
    latency_warn: 1
    initial_box: [0, 0, 0, 0]
"""


@pytest.mark.launch_test
def generate_test_description():
    return launch_description(INTEGERS_FOR_FLOATS, autostart="false")


class TestLifecycleAndParameters(RosTestCase):
    def setUp(self):
        self.node = rclpy.create_node("lifecycle_test_driver")
        self.driver = Driver(self.node)

    def tearDown(self):
        self.node.destroy_node()

    def track_a_few_frames(self, first: int) -> list:
        driver = self.driver
        driver.wait_for_node()
        stamp = driver.publish_frame(first)
        driver.spin_for(0.3)
        driver.init_pub.publish(init_msg(moving_target.target_box(first), stamp))
        before = len(driver.detections)
        for index in range(first + 1, first + 15):
            driver.publish_frame(index)
            driver.spin_for(0.1)
        driver.wait_until(lambda: len(driver.detections) >= before + 5, 30.0, "detections")
        return [m for m in driver.detections[before:] if m.detections]

    def test_lifecycle_and_parameter_services(self):
        driver = self.driver
        self.assertEqual(driver.lifecycle_state(), "unconfigured")
        cli = ros2_cli("lifecycle", "get", "--no-daemon", NODE)
        self.assertEqual(cli.returncode, 0, cli.stderr)
        self.assertIn("unconfigured", cli.stdout)

        # ros2 param round trips (integers given for floats are accepted, wrong types refused in one line)
        cli = ros2_cli("param", "get", "--no-daemon", NODE, "expected_rate_min")
        self.assertEqual((cli.returncode, cli.stdout.strip()), (0, "Integer value is: 5"), cli.stderr)
        cli = ros2_cli("param", "set", "--no-daemon", NODE, "latency_warn", "0.5")
        self.assertIn("Set parameter successful", cli.stdout, cli.stderr)
        cli = ros2_cli("param", "get", "--no-daemon", NODE, "latency_warn")
        self.assertEqual(cli.stdout.strip(), "Double value is: 0.5")
        cli = ros2_cli("param", "set", "--no-daemon", NODE, "latency_warn", "2")
        self.assertIn("Set parameter successful", cli.stdout, cli.stderr)
        cli = ros2_cli("param", "set", "--no-daemon", NODE, "latency_warn", "high")
        self.assertIn("parameter latency_warn must be of type float, got 'high' (string)", cli.stdout + cli.stderr)
        cli = ros2_cli("param", "get", "--no-daemon", NODE, "latency_warn")
        self.assertEqual(cli.stdout.strip(), "Integer value is: 2", "a refused value must not be applied")
        cli = ros2_cli("param", "describe", "--no-daemon", NODE, "latency_error")
        self.assertIn("[float (integers accepted)]", cli.stdout, cli.stderr)
        cli = ros2_cli("param", "set", "--no-daemon", NODE, "qos_depth", "3")
        self.assertNotIn("successful", cli.stdout, "a read-only parameter changed at run time")

        # lifecycle transitions through the services
        self.assertTrue(driver.transition(Transition.TRANSITION_CONFIGURE))
        self.assertEqual(driver.lifecycle_state(), "inactive")
        reset = driver.call(Trigger, f"{NODE}/reset", Trigger.Request())
        self.assertEqual((reset.success, reset.message), (True, "no target was set"))
        self.assertTrue(driver.transition(Transition.TRANSITION_ACTIVATE))
        self.assertEqual(driver.lifecycle_state(), "active")
        tracked = self.track_a_few_frames(0)
        self.assertGreaterEqual(len(tracked), 3)
        self.assertEqual({m.detections[0].id for m in tracked}, {"1"})
        self.assertLess(float(np.median(driver.centre_errors())), 6.0)

        self.assertTrue(driver.transition(Transition.TRANSITION_DEACTIVATE))
        self.assertEqual(driver.lifecycle_state(), "inactive")
        driver.wait_until(lambda: driver.rgb_pub.get_subscription_count() == 0, 10.0,
                          "the camera subscriptions to go on deactivation")
        self.assertTrue(driver.transition(Transition.TRANSITION_ACTIVATE))
        tracked = self.track_a_few_frames(30)
        self.assertEqual({m.detections[0].id for m in tracked}, {"2"}, "a reactivated node starts a new track")
        self.assertTrue(driver.transition(Transition.TRANSITION_DEACTIVATE))
        self.assertTrue(driver.transition(Transition.TRANSITION_CLEANUP))
        self.assertEqual(driver.lifecycle_state(), "unconfigured")
        driver.spin_for(2.5)
        tracker = driver.status("tracker")
        self.assertEqual(tracker["lifecycle state"], "unconfigured")
        self.assertEqual(tracker["last transition error"], "")


@launch_testing.post_shutdown_test()
class TestShutdown(ExitCodes, unittest.TestCase):
    pass
