"""The tracker interface that the CLI, the evaluation, the benchmark and the ROS nodes depend on.

Every tracker (CMD student, CMD teacher, OpenCV baselines, later AINet) implements
:class:`Tracker`; callers never need to know which model runs.
"""
from __future__ import annotations

import abc
import enum
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from rgbt_tracker_ros.data.decode import normalize_thermal
from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.errors import InputError


class TrackState(str, enum.Enum):
    """Tracker confidence state reported with every frame."""

    TRACKING = "tracking"
    UNCERTAIN = "uncertain"
    LOST = "lost"


@dataclass
class TrackResult:
    """Per-frame output of a tracker.

    Attributes:
        box: ``[x, y, w, h]`` float64 in image pixels (the last good box while ``LOST``).
        score: confidence in [0, 1] (the classifier's peak score for DiMP trackers).
        state: tracking / uncertain / lost.
        fusion_weights: fusion diagnostics per feature level, e.g. the MPSD path weights
            ``{"layer2": [w_sa, w_mul, w_diff], "layer3": [...]}``; empty for single-modality trackers.
        timings: seconds spent per stage (e.g. ``{"preprocess": .., "backbone": .., "total": ..}``).
    """

    box: np.ndarray
    score: float
    state: TrackState
    fusion_weights: dict[str, list[float]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


class Tracker(abc.ABC):
    """Single-object RGB-T tracker: ``initialize`` on the first frame, then ``track`` each frame."""

    #: Short name used in result folders and reports.
    name: str = "tracker"

    @abc.abstractmethod
    def initialize(self, pair: FramePair, box: np.ndarray) -> TrackResult:
        """Start tracking the object in ``box`` (``[x, y, w, h]``) of ``pair``.

        Raises :class:`~rgbt_tracker_ros.errors.InputError` for an invalid pair or box.
        """

    @abc.abstractmethod
    def track(self, pair: FramePair) -> TrackResult:
        """Locate the object in the next frame pair."""


def network_input(pair: FramePair, thermal_mode: tuple[str, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """What a network tracker reads from ``pair``: validated (:class:`InputError` otherwise), the RGB image and the
    thermal image normalised to [0, 1] by ``thermal_mode`` (``normalize_thermal``'s mode, low, high)."""
    if not isinstance(pair, FramePair):
        raise InputError(f"expected a FramePair, got {type(pair).__name__}")
    pair.validate()
    mode, low, high = thermal_mode
    return pair.rgb, normalize_thermal(pair.thermal, mode, low, high)


class StageClock:
    """Wall time per stage for ``TrackResult.timings`` (``lap(stage)`` after each stage, ``total()`` at the end);
    synchronises CUDA so that asynchronous kernels are attributed correctly."""

    def __init__(self, device: torch.device) -> None:
        self._sync = device.type == "cuda"
        self.timings: dict[str, float] = {}
        self._start = self._last = self._now()

    def _now(self) -> float:
        if self._sync:
            torch.cuda.synchronize()
        return time.perf_counter()

    def lap(self, stage: str) -> None:
        now = self._now()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self._last
        self._last = now

    def total(self) -> dict[str, float]:
        self.timings["total"] = self._last - self._start
        return self.timings
