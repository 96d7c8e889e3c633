"""Single-modality baselines: OpenCV's CSRT and KCF trackers run on the RGB or on the thermal image.

They give the benchmark a reference that needs no checkpoint: what a classic correlation-filter
tracker achieves on one sensor, against which the RGB-T models are compared. CSRT is Lukezic et
al., "Discriminative Correlation Filter with Channel and Spatial Reliability" (CVPR 2017); KCF is
Henriques et al., "High-Speed Tracking with Kernelized Correlation Filters" (TPAMI 2015). Both come
from opencv-contrib's tracking module (``cv2.TrackerCSRT`` / ``cv2.TrackerKCF``; older builds only
have ``cv2.legacy``) with their default parameters.

Our choices: the RGB image is given to OpenCV in its native BGR order; the thermal image is
normalised with :func:`~rgbt_tracker_ros.data.decode.normalize_thermal` (robust stretch for 16-bit
counts), scaled to uint8 and replicated to 3 channels. OpenCV's boolean ``update`` result is the
only confidence there is: score 1 while it tracks, 0 and state ``LOST`` (last box kept) when it
reports failure.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from rgbt_tracker_ros.data.decode import normalize_thermal
from rgbt_tracker_ros.data.frames import FramePair, validate_box
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.tracking.base import Tracker, TrackResult, TrackState

ALGORITHMS = ("csrt", "kcf")
MODALITIES = ("rgb", "thermal")
#: Tracker names (as used by ``create_tracker`` and the benchmark): ``<algorithm>-<modality>``.
BASELINE_NAMES = tuple(f"{a}-{m}" for a in ALGORITHMS for m in MODALITIES)


def opencv_tracker_factory(algorithm: str) -> Callable[[], Any]:
    """The cv2 constructor of ``algorithm`` ("csrt" or "kcf"), from the main or the legacy API.

    Raises :class:`InputError` when this OpenCV build lacks the contrib tracking module.
    """
    import cv2

    class_name = {"csrt": "TrackerCSRT", "kcf": "TrackerKCF"}.get(algorithm)
    if class_name is None:
        raise InputError(f"unknown OpenCV tracker {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    cls = getattr(cv2, class_name, None)
    if cls is not None and hasattr(cls, "create"):
        return cls.create
    legacy = getattr(getattr(cv2, "legacy", None), f"{class_name}_create", None)
    if legacy is not None:
        return legacy
    raise InputError(
        f"OpenCV {cv2.__version__} has no {class_name}: install opencv-contrib-python-headless "
        f"(pip install 'rgbt_tracker_ros[opencv]')"
    )


class OpenCVTracker(Tracker):
    """OpenCV CSRT or KCF on one modality of the frame pairs (see the module docstring).

    Args:
        algorithm: ``"csrt"`` or ``"kcf"``.
        modality: ``"rgb"`` or ``"thermal"``.
    """

    def __init__(self, algorithm: str = "csrt", modality: str = "rgb") -> None:
        if modality not in MODALITIES:
            raise InputError(f"unknown modality {modality!r}; choose one of {', '.join(MODALITIES)}")
        self._create = opencv_tracker_factory(algorithm)
        self.algorithm = algorithm
        self.modality = modality
        self.name = f"{algorithm}-{modality}"
        self._tracker: Any = None
        self._box: np.ndarray | None = None

    def _image(self, pair: FramePair) -> np.ndarray:
        """The chosen modality as a contiguous ``HxWx3 uint8`` image for OpenCV."""
        if not isinstance(pair, FramePair):
            raise InputError(f"expected a FramePair, got {type(pair).__name__}")
        pair.validate()
        if self.modality == "rgb":
            return np.ascontiguousarray(pair.rgb[:, :, ::-1])
        grey = np.round(normalize_thermal(pair.thermal) * 255.0).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))

    def initialize(self, pair: FramePair, box: np.ndarray) -> TrackResult:
        """Start tracking ``box`` (``[x, y, w, h]``); :class:`InputError` for a bad pair or box."""
        start = time.perf_counter()
        image = self._image(pair)
        box = validate_box(box, pair.size)
        prepared = time.perf_counter()
        tracker = self._create()
        tracker.init(image, _cv_rect(box))
        done = time.perf_counter()
        self._tracker, self._box = tracker, box.copy()
        timings = {"preprocess": prepared - start, "track": done - prepared, "total": done - start}
        return TrackResult(box=box.copy(), score=1.0, state=TrackState.TRACKING, timings=timings)

    def track(self, pair: FramePair) -> TrackResult:
        """Update on the next pair; ``LOST`` with the last box when OpenCV reports failure."""
        if self._tracker is None or self._box is None:
            raise InputError("track() called before initialize(); give the tracker a first box")
        start = time.perf_counter()
        image = self._image(pair)
        prepared = time.perf_counter()
        ok, rect = self._tracker.update(image)
        done = time.perf_counter()
        box = np.asarray(rect, dtype=np.float64).reshape(-1)
        if ok and box.shape == (4,) and np.isfinite(box).all() and box[2] > 0 and box[3] > 0:
            self._box = box
            state, score = TrackState.TRACKING, 1.0
        else:
            state, score = TrackState.LOST, 0.0
        timings = {"preprocess": prepared - start, "track": done - prepared, "total": done - start}
        return TrackResult(box=self._box.copy(), score=score, state=state, timings=timings)


def _cv_rect(box: np.ndarray) -> tuple[int, int, int, int]:
    """``[x, y, w, h]`` as OpenCV's integer ``Rect`` (at least 1 px wide and high)."""
    x, y, w, h = (int(round(v)) for v in box)
    return x, y, max(w, 1), max(h, 1)
