"""The track node's result message built from the ROS 2 message classes (rclpy's vision_msgs) holds
what the ROS-free measurement builds from rosbags' classes. Needs ROS 2 on the path: run by
``colcon test``; skipped (allowed here, under test/launch) in a plain environment."""

import numpy as np
import pytest

pytest.importorskip("vision_msgs.msg", reason="ROS 2 message packages not on the path")

from rgbt_tracker_ros.data.decode import numpy_to_image_msg  # noqa: E402
from rgbt_tracker_ros.node.messages import MessageTypes, detection_to_box, stamp_to_ns  # noqa: E402
from rgbt_tracker_ros.node.pipeline import FramePipeline  # noqa: E402
from rgbt_tracker_ros.node.session import TrackingSession  # noqa: E402
from rgbt_tracker_ros.tracking.base import Tracker, TrackResult, TrackState  # noqa: E402


class StillTracker(Tracker):
    """Keeps the init box with score 0.8."""

    name = "still"

    def initialize(self, pair, box):
        self.box = np.asarray(box, dtype=np.float64)
        return TrackResult(self.box.copy(), 1.0, TrackState.TRACKING)

    def track(self, pair):
        return TrackResult(self.box.copy(), 0.8, TrackState.TRACKING)


def test_result_message_builds_the_same_content_from_the_ros_message_classes():
    pipeline = FramePipeline(MessageTypes.from_rosbags())
    session = TrackingSession(pipeline.decode, tracker=StillTracker())
    session.request_init([6, 4, 8, 8])
    outputs = []
    for index in range(2):
        stamp = 1_700_000_000_000_000_000 + index * 100_000_000
        rgb_msg = numpy_to_image_msg(np.full((24, 32, 3), 40, np.uint8), "rgb8", stamp, "rgb_camera")
        thermal_msg = numpy_to_image_msg(np.full((24, 32), 7000, np.uint16), "mono16", stamp, "thermal_camera")
        frame = pipeline.pair_received(rgb_msg, thermal_msg)
        session.remember(frame)
        outputs += session.step(frame)
    rosbags_message = FramePipeline(MessageTypes.from_rosbags()).result_message(outputs[-1])
    ros_message = FramePipeline(MessageTypes.from_ros()).result_message(outputs[-1])
    assert type(ros_message).__module__.startswith("vision_msgs")
    (ros_detection,), (bag_detection,) = ros_message.detections, rosbags_message.detections
    assert stamp_to_ns(ros_message.header.stamp) == stamp_to_ns(rosbags_message.header.stamp)
    assert ros_message.header.frame_id == rosbags_message.header.frame_id == "rgb_camera"
    np.testing.assert_array_equal(detection_to_box(ros_detection), detection_to_box(bag_detection))
    assert (ros_detection.id, ros_detection.results[0].hypothesis.score) == (
        bag_detection.id, bag_detection.results[0].hypothesis.score
    ) == ("1", pytest.approx(0.8))
