"""Exceptions for user-facing errors.

Anything a user can cause (a bad file, a bad box, a missing topic) raises a subclass of
:class:`RgbtError` with a one-line message naming what is wrong; the CLI prints that line and exits
non-zero, and the ROS nodes log it and skip the message.
"""


class RgbtError(Exception):
    """Base class of every error caused by user input rather than a bug."""


class InputError(RgbtError, ValueError):
    """Invalid image, box, encoding, file content or argument."""


class DatasetError(RgbtError):
    """A dataset folder, sequence or frame that is missing or inconsistent."""


class BagError(RgbtError):
    """A rosbag2 that cannot be read or lacks the expected topics."""


class CheckpointError(RgbtError):
    """A checkpoint that is corrupt, truncated or made for another configuration."""
