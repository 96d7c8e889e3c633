"""rgbt_tracker_ros: RGB-T single-object tracking (CMD student/teacher on DiMP) with a ROS-free core.

Subpackages: ``data`` (frame pairs, readers, bags, synthetic scenes), ``networks``, ``tracking``,
``distill``, ``training``, ``evaluation`` (all ROS-free) and ``ros`` (thin node adapters, the only
place that imports rclpy / message_filters / cv_bridge).
"""

__version__ = "0.1.0"
