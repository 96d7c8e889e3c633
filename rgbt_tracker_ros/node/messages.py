"""Conversions between ROS messages and the package's numpy conventions, without rclpy.

Every function here is duck-typed on message fields, so it works on the ``rosbags`` message
classes (bags read or written without ROS, and the plain-pytest tests) and on the real ``rclpy``
messages received and published by the nodes: the two have the same field names. Messages are
*built* through a :class:`MessageTypes` table of classes; every constructor is called with all
fields as keywords, which both the ``rosbags`` dataclasses (all fields required) and the rclpy
message classes (all fields optional keywords) accept.

Box conventions: the package's ``[x, y, w, h]`` (top-left corner and size, pixels) maps to
``vision_msgs/BoundingBox2D`` as ``center.position = (x + w/2, y + h/2)``, ``size = (w, h)``
(vision_msgs 4.x, Humble and Jazzy: ``center`` is a ``vision_msgs/Pose2D`` with ``position``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from rgbt_tracker_ros.data.decode import image_msg_to_numpy, to_rgb, to_thermal
from rgbt_tracker_ros.data.frames import FramePair, validate_box
from rgbt_tracker_ros.errors import InputError

NS_PER_S = 1_000_000_000

#: ``ObjectHypothesis.class_id`` of the tracked target (single-object tracking has one class).
TARGET_CLASS_ID = "target"


@dataclass(frozen=True)
class MessageTypes:
    """The message classes used to build detections: rosbags' (:meth:`from_rosbags`) or ROS's (:meth:`from_ros`)."""

    time: type
    header: type
    point: type
    quaternion: type
    pose: type
    pose_with_covariance: type
    point2d: type
    pose2d: type
    bounding_box: type
    hypothesis: type
    hypothesis_with_pose: type
    detection: type
    detection_array: type

    @classmethod
    def from_rosbags(cls) -> "MessageTypes":
        """The ``rosbags`` classes of :func:`rgbt_tracker_ros.data.rosmsgs.typestore` (no ROS needed)."""
        from rgbt_tracker_ros.data.rosmsgs import msg_class

        return cls(
            time=msg_class("builtin_interfaces/msg/Time"),
            header=msg_class("std_msgs/msg/Header"),
            point=msg_class("geometry_msgs/msg/Point"),
            quaternion=msg_class("geometry_msgs/msg/Quaternion"),
            pose=msg_class("geometry_msgs/msg/Pose"),
            pose_with_covariance=msg_class("geometry_msgs/msg/PoseWithCovariance"),
            point2d=msg_class("vision_msgs/msg/Point2D"),
            pose2d=msg_class("vision_msgs/msg/Pose2D"),
            bounding_box=msg_class("vision_msgs/msg/BoundingBox2D"),
            hypothesis=msg_class("vision_msgs/msg/ObjectHypothesis"),
            hypothesis_with_pose=msg_class("vision_msgs/msg/ObjectHypothesisWithPose"),
            detection=msg_class("vision_msgs/msg/Detection2D"),
            detection_array=msg_class("vision_msgs/msg/Detection2DArray"),
        )

    @classmethod
    def from_ros(cls) -> "MessageTypes":
        """The generated ROS 2 message classes (imports the message packages, not rclpy)."""
        from builtin_interfaces.msg import Time
        from geometry_msgs.msg import Point, Pose, PoseWithCovariance, Quaternion
        from std_msgs.msg import Header
        from vision_msgs.msg import (
            BoundingBox2D,
            Detection2D,
            Detection2DArray,
            ObjectHypothesis,
            ObjectHypothesisWithPose,
            Point2D,
            Pose2D,
        )

        return cls(
            time=Time,
            header=Header,
            point=Point,
            quaternion=Quaternion,
            pose=Pose,
            pose_with_covariance=PoseWithCovariance,
            point2d=Point2D,
            pose2d=Pose2D,
            bounding_box=BoundingBox2D,
            hypothesis=ObjectHypothesis,
            hypothesis_with_pose=ObjectHypothesisWithPose,
            detection=Detection2D,
            detection_array=Detection2DArray,
        )


def stamp_to_ns(stamp: Any) -> int:
    """A ``builtin_interfaces/Time`` as integer nanoseconds (exact; used as frame-cache key)."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def ns_to_stamp(stamp_ns: int, types: MessageTypes) -> Any:
    """Integer nanoseconds as a ``builtin_interfaces/Time`` of ``types``."""
    stamp_ns = int(stamp_ns)
    if stamp_ns < 0:
        raise InputError(f"stamps before 1970 cannot be written as builtin_interfaces/Time: {stamp_ns} ns")
    return types.time(sec=stamp_ns // NS_PER_S, nanosec=stamp_ns % NS_PER_S)


def make_header(types: MessageTypes, stamp_ns: int, frame_id: str = "") -> Any:
    """A ``std_msgs/Header`` of ``types`` with ``stamp_ns`` and ``frame_id``."""
    return types.header(stamp=ns_to_stamp(stamp_ns, types), frame_id=str(frame_id))


def copy_header(header: Any, types: MessageTypes) -> Any:
    """A new header of ``types`` equal to ``header`` (any message flavour; outputs copy the RGB header)."""
    return make_header(types, stamp_to_ns(header.stamp), header.frame_id)


def box_to_detection(
    box: Sequence[float],
    score: float,
    track_id: str,
    header: Any,
    types: MessageTypes,
    class_id: str = TARGET_CLASS_ID,
) -> Any:
    """A ``vision_msgs/Detection2D`` for the ``[x, y, w, h]`` box, with ``results[0].hypothesis.score``."""
    x, y, w, h = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    bbox = types.bounding_box(
        center=types.pose2d(position=types.point2d(x=x + w / 2.0, y=y + h / 2.0), theta=0.0),
        size_x=w,
        size_y=h,
    )
    pose = types.pose_with_covariance(
        pose=types.pose(
            position=types.point(x=0.0, y=0.0, z=0.0),
            orientation=types.quaternion(x=0.0, y=0.0, z=0.0, w=1.0),
        ),
        covariance=np.zeros(36, dtype=np.float64),
    )
    hypothesis = types.hypothesis_with_pose(
        hypothesis=types.hypothesis(class_id=str(class_id), score=float(score)), pose=pose
    )
    return types.detection(header=header, results=[hypothesis], bbox=bbox, id=str(track_id))


def detection_array(header: Any, detections: list, types: MessageTypes) -> Any:
    """A ``vision_msgs/Detection2DArray`` of ``types``."""
    return types.detection_array(header=header, detections=list(detections))


def tracking_output(
    image_header: Any,
    box: Optional[Sequence[float]],
    score: float,
    track_id: str,
    types: MessageTypes,
) -> Any:
    """The track node's ``~/detections`` message: header copied from the RGB image, one detection or none.

    ``box=None`` (target lost, or no target) gives an empty ``detections`` list, so every processed
    frame still produces one message with its stamp.
    """
    detections = []
    if box is not None:
        detections.append(box_to_detection(box, score, track_id, copy_header(image_header, types), types))
    return detection_array(copy_header(image_header, types), detections, types)


def detection_to_box(detection: Any, image_size: Optional[tuple[int, int]] = None) -> np.ndarray:
    """The ``[x, y, w, h]`` box of a ``vision_msgs/Detection2D`` (validated; :class:`InputError` if invalid)."""
    bbox = detection.bbox
    width, height = float(bbox.size_x), float(bbox.size_y)
    centre_x, centre_y = float(bbox.center.position.x), float(bbox.center.position.y)
    return validate_box([centre_x - width / 2.0, centre_y - height / 2.0, width, height], image_size)


def detection_score(detection: Any) -> float:
    """``results[0].hypothesis.score`` of a detection, or NaN when it has no result."""
    results = list(detection.results)
    return float(results[0].hypothesis.score) if results else float("nan")



def decode_pair(rgb_msg: Any, thermal_msg: Any, index: int = 0) -> FramePair:
    """A validated :class:`FramePair` from an RGB and a thermal ``Image``/``CompressedImage`` message.

    Any encoding :mod:`rgbt_tracker_ros.data.decode` knows feeds either slot (a grey RGB camera is
    replicated to three channels, a colour thermal image converted to grey). Raises
    :class:`InputError` naming the camera for an unsupported encoding, a corrupt or empty image, or
    cameras of different sizes.
    """
    images = []
    for name, msg, convert in (("RGB", rgb_msg, to_rgb), ("thermal", thermal_msg, to_thermal)):
        try:
            images.append(convert(image_msg_to_numpy(msg)))
        except InputError as err:
            raise InputError(f"{name} image stamped {stamp_to_ns(msg.header.stamp) / 1e9:.3f} s: {err}") from err
    pair = FramePair(
        rgb=images[0],
        thermal=images[1],
        index=int(index),
        stamp_rgb=stamp_to_ns(rgb_msg.header.stamp) / 1e9,
        stamp_thermal=stamp_to_ns(thermal_msg.header.stamp) / 1e9,
    )
    return pair.validate()
