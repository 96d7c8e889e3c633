"""Side-by-side tracking videos: RGB | thermal with the tracker's box, score, state and fusion weights.

Frames are drawn by :func:`rgbt_tracker_ros.node.debug_image.render_debug_image` (the same picture as the
track node's ``~/debug_image``; pure OpenCV, no ROS) and written with ``cv2.VideoWriter``: MPEG-4
(``mp4v``) for ``.mp4``; where this OpenCV build cannot write MPEG-4, Motion-JPEG into an ``.avi``
next to the requested file, with :attr:`SideBySideVideo.note` saying so.
"""
from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Optional, Union

import cv2
import numpy as np

from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.node.debug_image import render_debug_image
from rgbt_tracker_ros.tracking.base import TrackResult

#: Container suffix -> FourCC.
CODECS = {".mp4": "mp4v", ".avi": "MJPG"}


class SideBySideVideo:
    """Video writer for tracking results; use as a context manager or call :meth:`close`.

    Args:
        path: output file, ``.mp4`` or ``.avi``.
        fps: frame rate of the video.
    The writer opens on the first frame (its size fixes the video size; later frames of another
    size are resized to it).
    """

    def __init__(self, path: Union[str, Path], fps: float = 20.0) -> None:
        self.requested_path = Path(path)
        if self.requested_path.suffix.lower() not in CODECS:
            raise InputError(f"video file {self.requested_path} must end in .mp4 or .avi")
        if not fps > 0:
            raise InputError(f"video frame rate must be positive, got {fps}")
        self.fps = float(fps)
        #: The file actually written (``.avi`` after a fallback); set when the first frame arrives.
        self.path: Optional[Path] = None
        #: A one-line note when the writer fell back to MJPG AVI, else ``None``.
        self.note: Optional[str] = None
        self.frames_written = 0
        self._writer: Optional[cv2.VideoWriter] = None
        self._size: Optional[tuple[int, int]] = None

    def _open(self, width: int, height: int) -> None:
        self.requested_path.parent.mkdir(parents=True, exist_ok=True)
        suffix = self.requested_path.suffix.lower()
        writer = cv2.VideoWriter(str(self.requested_path), cv2.VideoWriter_fourcc(*CODECS[suffix]), self.fps,
                                 (width, height))
        path = self.requested_path
        if not writer.isOpened() and suffix == ".mp4":
            writer.release()
            path = self.requested_path.with_suffix(".avi")
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*CODECS[".avi"]), self.fps, (width, height))
            self.note = f"this OpenCV build cannot write MPEG-4 video; wrote Motion-JPEG to {path} instead"
        if not writer.isOpened():
            raise InputError(f"cannot open video file {path} for writing")
        self._writer, self._size, self.path = writer, (width, height), path

    def write_image(self, image_bgr: np.ndarray) -> None:
        """Append one ``HxWx3 uint8`` BGR image."""
        height, width = image_bgr.shape[:2]
        if self._writer is None:
            self._open(width, height)
        if (width, height) != self._size:
            image_bgr = cv2.resize(image_bgr, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(np.ascontiguousarray(image_bgr))
        self.frames_written += 1

    def write(self, pair: FramePair, result: Optional[TrackResult], label: str = "") -> None:
        """Draw ``result`` on ``pair`` (RGB left, thermal right) and append it; ``label`` heads the text."""
        self.write_image(render_debug_image(pair.rgb, pair.thermal, result, track_id=label))

    def close(self) -> Optional[Path]:
        """Finish the file; returns its path (``None`` if no frame was written)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        return self.path

    def __enter__(self) -> "SideBySideVideo":
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()
