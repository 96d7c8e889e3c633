"""Single-sensor ablation: run an RGB-T tracker with one modality blanked.

Used by the synthetic benchmark to show what fusion contributes: the same RGB-T model, fed a black RGB
image or a flat thermal image, must do worse than with both sensors. A blanked frame is what a dead or
capped camera delivers, so this is also the tracker's behaviour when one sensor fails.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.tracking.base import Tracker, TrackResult

MODALITIES = ("rgb", "thermal")


class BlankedModalityTracker(Tracker):
    """Wraps ``tracker``; replaces ``blank`` ("rgb" or "thermal") by zeros in every frame pair."""

    def __init__(self, tracker: Tracker, blank: str) -> None:
        if blank not in MODALITIES:
            raise ValueError(f"blank must be one of {MODALITIES}, got {blank!r}")
        self.tracker = tracker
        self.blank = blank
        kept = "thermal" if blank == "rgb" else "rgb"
        self.name = f"{tracker.name}-{kept}-only"

    def _blanked(self, pair: FramePair) -> FramePair:
        field = "rgb" if self.blank == "rgb" else "thermal"
        return dataclasses.replace(pair, **{field: np.zeros_like(getattr(pair, field))})

    def initialize(self, pair: FramePair, box: np.ndarray) -> TrackResult:
        return self.tracker.initialize(self._blanked(pair), box)

    def track(self, pair: FramePair) -> TrackResult:
        return self.tracker.track(self._blanked(pair))
