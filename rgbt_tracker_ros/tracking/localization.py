"""Target localisation in a DiMP score map and the tracker state it implies.

``localize`` is the "advanced localisation" of ATOM/DiMP (pytracking ``DiMP.localize_advanced``):
the highest peak is the target unless it is too weak (``not_found``); a second peak outside the
target neighbourhood marks a distractor (``uncertain``) or a hard negative (``hard_negative``) that
the tracker learns from with a higher learning rate. Everything here works in score-map cells and is
free of the network, so the state machine can be tested with synthetic score maps.

Mapping to :class:`~rgbt_tracker_ros.tracking.base.TrackState` (:func:`state_for_flag`):
``not_found`` -> LOST (the box stays where it was and the search continues around it),
``uncertain`` and ``hard_negative`` -> UNCERTAIN, ``normal`` -> TRACKING.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rgbt_tracker_ros.tracking.base import TrackState
from rgbt_tracker_ros.tracking.params import DiMPParams

#: DiMP's localisation flags.
FLAGS = ("normal", "hard_negative", "uncertain", "not_found")

_STATES = dict(zip(FLAGS, (TrackState.TRACKING, TrackState.UNCERTAIN, TrackState.UNCERTAIN, TrackState.LOST)))


@dataclass(frozen=True)
class Localization:
    """Result of :func:`localize`.

    Attributes:
        offset: ``(dx, dy)`` of the chosen peak from the score-map centre, in score cells.
        flag: one of :data:`FLAGS`.
        max_score: the highest score of the map.
    """

    offset: tuple[float, float]
    flag: str
    max_score: float


def state_for_flag(flag: str) -> TrackState:
    """The reported tracker state of a localisation flag."""
    return _STATES[flag]


def _argmax2d(scores: np.ndarray) -> tuple[float, int, int]:
    row, col = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return float(scores[row, col]), int(row), int(col)


def localize(
    scores: np.ndarray,
    target_size_cells: tuple[float, float],
    previous_offset: tuple[float, float],
    params: DiMPParams,
) -> Localization:
    """Find the target in ``scores`` (``(h, w)``) following DiMP's advanced localisation.

    Args:
        scores: the classifier's score map; its centre ``((w - 1) / 2, (h - 1) / 2)`` is the centre of
            the search region.
        target_size_cells: ``(w, h)`` of the current target box in score cells.
        previous_offset: ``(dx, dy)`` of the previous target position from the map centre, in cells
            (distances to distractors are measured from there).
        params: thresholds ``target_not_found_threshold``, ``distractor_threshold``,
            ``hard_negative_threshold``, ``target_neighborhood_scale``, ``displacement_scale``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    height, width = scores.shape
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    max1, row1, col1 = _argmax2d(scores)
    offset1 = np.array([col1, row1], dtype=np.float64) - centre
    if not max1 >= params.target_not_found_threshold:  # also catches NaN scores
        return Localization((offset1[0], offset1[1]), "not_found", max1)

    # Mask out the target neighbourhood and look for a second peak.
    neigh_w, neigh_h = (params.target_neighborhood_scale * float(s) for s in target_size_cells)
    top = max(round(row1 - neigh_h / 2), 0)
    bottom = min(round(row1 + neigh_h / 2 + 1), height)
    left = max(round(col1 - neigh_w / 2), 0)
    right = min(round(col1 + neigh_w / 2 + 1), width)
    masked = scores.copy()
    masked[top:bottom, left:right] = 0.0
    max2, row2, col2 = _argmax2d(masked)
    offset2 = np.array([col2, row2], dtype=np.float64) - centre

    if max2 > params.distractor_threshold * max1:
        previous = np.asarray(previous_offset, dtype=np.float64)
        dist1 = float(np.linalg.norm(offset1 - previous))
        dist2 = float(np.linalg.norm(offset2 - previous))
        threshold = params.displacement_scale * math.sqrt(height * width) / 2.0
        if dist2 > threshold and dist1 < threshold:
            return Localization((offset1[0], offset1[1]), "hard_negative", max1)
        if dist2 < threshold and dist1 > threshold:
            return Localization((offset2[0], offset2[1]), "hard_negative", max1)
        # Both peaks far from (or both near) the previous position: keep the higher one.
        return Localization((offset1[0], offset1[1]), "uncertain", max1)

    if max2 > params.hard_negative_threshold * max1 and max2 > params.target_not_found_threshold:
        return Localization((offset1[0], offset1[1]), "hard_negative", max1)
    return Localization((offset1[0], offset1[1]), "normal", max1)


def hann2d(shape: tuple[int, int]) -> np.ndarray:
    """pytracking's centred ``hann2d``: the outer product of ``0.5 - 0.5 cos(2 pi k / (n + 1))``, k = 1..n."""
    rows, cols = (np.hanning(n + 2)[1:-1] for n in shape)
    return np.outer(rows, cols)
