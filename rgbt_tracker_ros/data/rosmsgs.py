"""ROS message types for rosbag2 files written and read without ROS (``rosbags``).

``rosbags`` ships sensor_msgs/std_msgs/geometry_msgs for Humble but not ``vision_msgs``, so the
vision_msgs 4.x definitions (Humble and Jazzy share them; ``BoundingBox2D.center`` is a
``vision_msgs/Pose2D`` with ``position`` and ``theta``) are registered here from their ``.msg`` text.
The message classes of this typestore have the same fields as the real ROS messages, so conversion
code written against them works unchanged on rclpy messages.
"""
from __future__ import annotations

from functools import lru_cache

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

#: Message names used by the package's bags, in the form rosbags expects.
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
DETECTION_2D = "vision_msgs/msg/Detection2D"
DETECTION_2D_ARRAY = "vision_msgs/msg/Detection2DArray"

VISION_MSGS = {
    "vision_msgs/msg/Point2D": "float64 x\nfloat64 y\n",
    "vision_msgs/msg/Pose2D": "vision_msgs/Point2D position\nfloat64 theta\n",
    "vision_msgs/msg/BoundingBox2D": "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
    "vision_msgs/msg/ObjectHypothesis": "string class_id\nfloat64 score\n",
    "vision_msgs/msg/ObjectHypothesisWithPose": (
        "vision_msgs/ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n"
    ),
    DETECTION_2D: (
        "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
        "vision_msgs/BoundingBox2D bbox\nstring id\n"
    ),
    DETECTION_2D_ARRAY: "std_msgs/Header header\nvision_msgs/Detection2D[] detections\n",
}


@lru_cache(maxsize=1)
def typestore() -> Typestore:
    """The ROS 2 Humble typestore with vision_msgs registered (shared, built once)."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    types: dict = {}
    for name, text in VISION_MSGS.items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store


def msg_class(msgtype: str) -> type:
    """The message class for ``msgtype`` (e.g. ``"sensor_msgs/msg/Image"``)."""
    return typestore().types[msgtype]
