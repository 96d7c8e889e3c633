"""Default ROS topic names: the defaults of every command, node and launch file.

The synthetic bags (``rgbt-tracker synth``) publish on exactly these topics, so tracking,
evaluation and launch files work on them without remapping.
"""
from __future__ import annotations

#: Visible camera image (``sensor_msgs/Image``, ``rgb8``).
RGB_TOPIC = "/rgb/image_raw"
#: Thermal camera image (``sensor_msgs/Image``, ``mono16`` radiometric-like counts).
THERMAL_TOPIC = "/thermal/image_raw"
#: Visible camera calibration (``sensor_msgs/CameraInfo``).
RGB_INFO_TOPIC = "/rgb/camera_info"
#: Thermal camera calibration (``sensor_msgs/CameraInfo``).
THERMAL_INFO_TOPIC = "/thermal/camera_info"
#: Ground truth (``vision_msgs/Detection2DArray``): detections[0] visible box (id ``"rgb"``),
#: detections[1] infrared box (id ``"thermal"``); empty when the target is out of view.
GROUND_TRUTH_TOPIC = "/ground_truth"

#: ``header.frame_id`` of the visible and thermal images.
RGB_FRAME_ID = "rgb_camera"
THERMAL_FRAME_ID = "thermal_camera"
