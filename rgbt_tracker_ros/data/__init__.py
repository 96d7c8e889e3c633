"""Frame pairs and where they come from: datasets, rosbag2 files, synthetic scenes, training samples."""

from rgbt_tracker_ros.data.frames import FramePair, validate_box

__all__ = ["FramePair", "validate_box"]
