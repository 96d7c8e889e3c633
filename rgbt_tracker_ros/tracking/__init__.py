"""Online trackers behind one interface (:class:`~rgbt_tracker_ros.tracking.base.Tracker`).

The package itself imports nothing, so that its torch-free parts (the backend names the CLI offers,
:data:`~rgbt_tracker_ros.tracking.backends.BACKEND_NAMES`) cost nothing to import.
"""
