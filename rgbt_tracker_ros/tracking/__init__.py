"""Online trackers behind one interface (:class:`~rgbt_tracker_ros.tracking.base.Tracker`)."""

from rgbt_tracker_ros.tracking.base import Tracker, TrackResult, TrackState

__all__ = ["Tracker", "TrackResult", "TrackState"]
