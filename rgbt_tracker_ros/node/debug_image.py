"""The track node's ``~/debug_image``: what the tracker sees and decides, drawn with OpenCV (no ROS).

Layout (our design): the RGB image on the left and the normalised thermal image on the right, the
box drawn on both (the cameras are registered to one size), coloured by tracker state; a text band
with track id, state and score, and one line per fusion level with the path weights of the
``TrackResult`` (student: MPSD weights of Eq. 6 over [sa, mul, diff]; teacher: FRS weights over
[rgb, tir, mdc]).
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from rgbt_tracker_ros.data.decode import normalize_thermal
from rgbt_tracker_ros.tracking.base import TrackResult, TrackState

#: Box colour per state, BGR.
STATE_COLOURS = {
    TrackState.TRACKING: (0, 200, 0),
    TrackState.UNCERTAIN: (0, 200, 255),
    TrackState.LOST: (0, 0, 255),
}
_TEXT_COLOUR = (255, 255, 255)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def render_debug_image(
    rgb: np.ndarray,
    thermal: np.ndarray,
    result: Optional[TrackResult],
    track_id: str = "",
) -> np.ndarray:
    """A ``H x 2W x 3`` uint8 **BGR** image (``bgr8``) of ``rgb | thermal`` with the result drawn on it.

    ``result=None`` (no target yet) draws the images and a "no target" line only.
    """
    left = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    grey = np.round(normalize_thermal(thermal) * 255.0).astype(np.uint8)
    right = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    canvas = np.ascontiguousarray(np.concatenate([left, right], axis=1))
    width = left.shape[1]
    scale = max(0.35, min(1.0, left.shape[0] / 600.0))
    line_height = int(round(22 * scale)) + 2
    if result is None:
        _put_text(canvas, "no target: publish a box on ~/init", (4, line_height), scale)
        return canvas
    colour = STATE_COLOURS.get(TrackState(result.state), _TEXT_COLOUR)
    x, y, w, h = (float(v) for v in np.asarray(result.box, dtype=np.float64).reshape(4))
    for offset in (0, width):
        top_left = (int(round(x)) + offset, int(round(y)))
        bottom_right = (int(round(x + w)) + offset, int(round(y + h)))
        cv2.rectangle(canvas, top_left, bottom_right, colour, thickness=2)
    lines = [f"id {track_id}  {TrackState(result.state).value}  score {result.score:.2f}"]
    lines += [
        f"{level}: " + " ".join(f"{weight:.2f}" for weight in weights)
        for level, weights in sorted(result.fusion_weights.items())
    ]
    for row, text in enumerate(lines, start=1):
        _put_text(canvas, text, (4, row * line_height), scale)
    return canvas


def _put_text(canvas: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    """White text with a black outline, readable on any background."""
    cv2.putText(canvas, text, origin, _FONT, scale, (0, 0, 0), thickness=3, lineType=cv2.LINE_AA)
    cv2.putText(canvas, text, origin, _FONT, scale, _TEXT_COLOUR, thickness=1, lineType=cv2.LINE_AA)
