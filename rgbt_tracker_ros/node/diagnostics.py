"""Runtime health of a tracking pipeline as plain records, without ROS.

The track node turns each :class:`HealthRecord` into one ``diagnostic_msgs/DiagnosticStatus``
(through ``diagnostic_updater``); the records are computed here so they are tested with plain
pytest. Levels are those of ``DiagnosticStatus`` (OK 0, WARN 1, ERROR 2, STALE 3).

Records:
- :meth:`PipelineStats.record`: messages and pairs received, pairs dropped by the newest-pair
  policy, bad messages, processing rate, stamp-to-publish latency, inference time and the time
  of each node stage (:data:`NODE_STAGES`).
- :func:`tracker_record` (:func:`session_record` of a session): lifecycle/enable/target state, track id,
  tracker state and score.
- :func:`modality_record` over :func:`image_health`: a dark or saturated RGB image, a flat thermal
  image (dead sensor, lens cap, flat-field-correction frame).
- :func:`device_record`: the device inference runs on, fp16, CUDA memory.
"""
from __future__ import annotations

import enum
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

import numpy as np

from rgbt_tracker_ros.tracking.base import TrackState

if TYPE_CHECKING:
    from rgbt_tracker_ros.node.session import TrackingSession

#: At most this many pixels are read per image for the modality statistics (regular grid).
_HEALTH_SAMPLES = 16384


class Level(enum.IntEnum):
    """``diagnostic_msgs/DiagnosticStatus`` levels."""

    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3


@dataclass
class HealthRecord:
    """One diagnostic status: ``name``, ``level``, one-line ``message`` and ordered key/values (strings)."""

    name: str
    level: Level
    message: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class HealthThresholds:
    """When a record turns WARN/ERROR (node parameters ``health.*``; defaults are our choice).

    Attributes:
        latency_warn_s / latency_error_s: 95th-percentile stamp-to-publish latency bounds.
        dark_rgb_mean: mean luma (0-255) below which the RGB image counts as dark.
        saturated_rgb_mean: mean luma above which it counts as over-exposed.
        flat_thermal_spread: 1st-99th percentile spread (raw units) below which the thermal image
            counts as flat; ``None`` picks :data:`FLAT_THERMAL_SPREAD` by dtype.
        gpu_memory_warn_fraction: reserved / total CUDA memory that triggers a warning.
    """

    latency_warn_s: float = 0.25
    latency_error_s: float = 1.0
    dark_rgb_mean: float = 20.0
    saturated_rgb_mean: float = 245.0
    flat_thermal_spread: Optional[float] = None
    gpu_memory_warn_fraction: float = 0.9


#: Default flat-thermal spread per dtype: 8 grey levels for display-range 8-bit thermal images;
#: 64 counts for 16-bit radiometric cameras (about 0.6 K at the usual 0.01 K/count); 0.5 for
#: float images in degrees/kelvin.
FLAT_THERMAL_SPREAD = {"uint8": 8.0, "uint16": 64.0, "float32": 0.5}


class Window:
    """The last ``size`` values of a measurement, with summary statistics."""

    def __init__(self, size: int = 100) -> None:
        self._values: deque[float] = deque(maxlen=int(size))

    def add(self, value: float) -> None:
        self._values.append(float(value))

    def __len__(self) -> int:
        return len(self._values)

    def summary(self) -> dict[str, float]:
        """``mean``, ``p50``, ``p95`` and ``max`` of the window (empty dict when empty)."""
        if not self._values:
            return {}
        values = np.fromiter(self._values, dtype=np.float64)
        p50, p95 = np.percentile(values, [50, 95])
        return {"mean": float(values.mean()), "p50": float(p50), "p95": float(p95), "max": float(values.max())}


class EventRate:
    """Events per second over the last ``size`` events (monotonic clock unless times are given)."""

    def __init__(self, size: int = 50) -> None:
        self._times: deque[float] = deque(maxlen=int(size))

    def tick(self, now: Optional[float] = None) -> None:
        self._times.append(time.monotonic() if now is None else float(now))

    def rate(self) -> float:
        """(events - 1) / time spanned; 0 with fewer than two events."""
        if len(self._times) < 2 or self._times[-1] <= self._times[0]:
            return 0.0
        return (len(self._times) - 1) / (self._times[-1] - self._times[0])


#: Where a node frame's time goes, in pipeline order (measured by the track node, reported per stage):
#: transport (image stamp to the subscription callback: publisher, DDS, executor wait), pairing
#: (the second image's callback to the synchronised-pair callback), queue (pair callback to the
#: inference thread taking it), decode (message to validated numpy pair), inference (the tracker),
#: publish (result message built and published), debug image (rendered and published, only while
#: subscribed), diagnostics (one updater run, every second).
NODE_STAGES = ("transport", "pairing", "queue", "decode", "inference", "publish", "debug image", "diagnostics")


class PipelineStats:
    """Thread-safe counters of a tracking pipeline, filled by the callbacks and the inference worker."""

    NAME = "pipeline"

    def __init__(self, window: int = 100) -> None:
        self._lock = threading.Lock()
        self.inputs: dict[str, int] = {"rgb": 0, "thermal": 0}
        self.pairs_received = 0
        self.pairs_dropped = 0
        self.processed = 0
        self.bad_messages = 0
        self.last_bad_message = ""
        self._bad_since_record = 0
        self._latency = Window(window)
        self._inference = Window(window)
        self._rate = EventRate(window)
        self._stages = {stage: Window(window) for stage in NODE_STAGES}

    def count_input(self, modality: str) -> None:
        """One raw message of ``modality`` ("rgb"/"thermal") arrived."""
        with self._lock:
            self.inputs[modality] = self.inputs.get(modality, 0) + 1

    def set_pair_counts(self, received: int, dropped: int) -> None:
        """The newest-pair slot's ``received`` and ``dropped`` counters."""
        with self._lock:
            self.pairs_received, self.pairs_dropped = int(received), int(dropped)

    def count_bad(self, reason: str) -> None:
        """A message or pair was skipped because of ``reason``."""
        with self._lock:
            self.bad_messages += 1
            self._bad_since_record += 1
            self.last_bad_message = str(reason)

    def count_processed(self, latency_s: float, inference_s: Optional[float], now: Optional[float] = None) -> None:
        """A pair was published ``latency_s`` after its stamp; inference took ``inference_s`` (if known)."""
        with self._lock:
            self.processed += 1
            self._latency.add(latency_s)
            if inference_s is not None:
                self._inference.add(inference_s)
            self._rate.tick(now)

    def add_stage(self, stage: str, seconds: float) -> None:
        """One frame spent ``seconds`` in ``stage`` (one of :data:`NODE_STAGES`)."""
        with self._lock:
            self._stages[stage].add(seconds)

    def stage_summary(self) -> dict[str, dict[str, float]]:
        """Per stage with measurements: ``mean``/``p50``/``p95``/``max`` in seconds."""
        with self._lock:
            return {stage: window.summary() for stage, window in self._stages.items() if len(window)}

    def record(self, thresholds: HealthThresholds) -> HealthRecord:
        """The pipeline status: WARN on high latency or recent bad messages, ERROR on very high latency."""
        with self._lock:
            latency, inference = self._latency.summary(), self._inference.summary()
            bad_recent, self._bad_since_record = self._bad_since_record, 0
            values = {
                "rgb messages": str(self.inputs.get("rgb", 0)),
                "thermal messages": str(self.inputs.get("thermal", 0)),
                "synchronised pairs": str(self.pairs_received),
                "pairs dropped (newest-pair policy)": str(self.pairs_dropped),
                "pairs processed": str(self.processed),
                "bad messages": str(self.bad_messages),
                "processing rate (Hz)": f"{self._rate.rate():.2f}",
            }
            if self.last_bad_message:
                values["last bad message"] = self.last_bad_message
        for key, stats in (("latency", latency), ("inference", inference)):
            for stat, value in stats.items():
                values[f"{key} {stat} (s)"] = f"{value:.4f}"
        for stage, stats in self.stage_summary().items():
            values[f"stage {stage} p50 / p95 (ms)"] = f"{1e3 * stats['p50']:.2f} / {1e3 * stats['p95']:.2f}"
        level, problems = Level.OK, []
        p95 = latency.get("p95")
        if p95 is not None and p95 > thresholds.latency_error_s:
            level = Level.ERROR
            problems.append(f"latency p95 {p95:.3f} s > {thresholds.latency_error_s} s")
        elif p95 is not None and p95 > thresholds.latency_warn_s:
            level = Level.WARN
            problems.append(f"latency p95 {p95:.3f} s > {thresholds.latency_warn_s} s")
        if bad_recent:
            level = max(level, Level.WARN)
            problems.append(f"{bad_recent} bad message(s) skipped: {values['last bad message']}")
        if problems:
            return HealthRecord(self.NAME, level, "; ".join(problems), values)
        if not self.processed:
            return HealthRecord(self.NAME, Level.OK, "no pair processed yet", values)
        return HealthRecord(self.NAME, Level.OK, f"{values['processing rate (Hz)']} Hz, latency OK", values)


def tracker_record(
    active: bool,
    enabled: bool,
    initialized: bool,
    track_id: str,
    state: Optional[str],
    score: Optional[float],
    lifecycle: str = "",
    error: str = "",
) -> HealthRecord:
    """Tracker state: OK while tracking (or deliberately inactive/disabled), WARN without a target or when
    lost, ERROR while inactive because the last lifecycle transition failed (``error``)."""
    values = {
        "lifecycle state": lifecycle,
        "last transition error": error,
        "active": str(bool(active)),
        "enabled": str(bool(enabled)),
        "target initialised": str(bool(initialized)),
        "track id": track_id,
        "state": state or "",
        "score": "" if score is None else f"{score:.3f}",
    }
    if not active and error:
        return HealthRecord("tracker", Level.ERROR, error, values)
    if not active:
        return HealthRecord("tracker", Level.OK, "node inactive (model not loaded)", values)
    if not enabled:
        return HealthRecord("tracker", Level.OK, "disabled through ~/enable", values)
    if not initialized:
        return HealthRecord("tracker", Level.WARN, "no target: publish a box on ~/init", values)
    if state == "tracking":
        return HealthRecord("tracker", Level.OK, f"tracking id {track_id}", values)
    if state is None:
        return HealthRecord("tracker", Level.OK, f"target {track_id} set, waiting for a frame", values)
    return HealthRecord("tracker", Level.WARN, f"target {track_id} {state}", values)


def session_record(
    session: Optional[TrackingSession], active: bool, lifecycle: str = "", error: str = ""
) -> HealthRecord:
    """:func:`tracker_record` of a tracking session (``None`` before the node is configured)."""
    result = session.last_result if session is not None else None
    return tracker_record(
        active=active,
        enabled=session.enabled if session is not None else False,
        initialized=session.initialized if session is not None else False,
        track_id=session.track_id if session is not None else "",
        state=TrackState(result.state).value if result is not None else None,
        score=float(result.score) if result is not None else None,
        lifecycle=lifecycle,
        error=error,
    )


@dataclass
class ImageHealth:
    """Statistics of one frame pair used by :func:`modality_record`."""

    rgb_mean: float
    thermal_spread: float
    thermal_dtype: str


def _subsample(image: np.ndarray) -> np.ndarray:
    stride = max(1, int(np.ceil(np.sqrt(image.shape[0] * image.shape[1] / _HEALTH_SAMPLES))))
    return image[::stride, ::stride]


def image_health(rgb: np.ndarray, thermal: np.ndarray) -> ImageHealth:
    """Mean ITU-R 601 luma of the RGB image and the 1st-99th percentile spread of the raw thermal values."""
    colour = _subsample(np.asarray(rgb)).astype(np.float32)
    luma = colour[..., 0] * 0.299 + colour[..., 1] * 0.587 + colour[..., 2] * 0.114
    raw = _subsample(np.asarray(thermal)).astype(np.float64)
    low, high = np.percentile(raw, [1, 99])
    return ImageHealth(float(luma.mean()), float(high - low), np.asarray(thermal).dtype.name)


def modality_record(health: Optional[ImageHealth], thresholds: HealthThresholds) -> HealthRecord:
    """WARN for a dark/over-exposed RGB image or a flat thermal image; the other modality still tracks."""
    if health is None:
        return HealthRecord("modality health", Level.OK, "no frame yet", {})
    flat_spread = thresholds.flat_thermal_spread
    if flat_spread is None:
        flat_spread = FLAT_THERMAL_SPREAD.get(health.thermal_dtype, FLAT_THERMAL_SPREAD["float32"])
    values = {
        "rgb mean luma": f"{health.rgb_mean:.1f}",
        "thermal p1-p99 spread": f"{health.thermal_spread:.3f}",
        "thermal dtype": health.thermal_dtype,
        "flat thermal below": f"{flat_spread:g}",
    }
    problems = []
    if health.rgb_mean < thresholds.dark_rgb_mean:
        problems.append(f"RGB image dark (mean luma {health.rgb_mean:.1f} < {thresholds.dark_rgb_mean:g})")
    elif health.rgb_mean > thresholds.saturated_rgb_mean:
        problems.append(f"RGB image over-exposed (mean luma {health.rgb_mean:.1f} > {thresholds.saturated_rgb_mean:g})")
    if health.thermal_spread < flat_spread:
        problems.append(f"thermal image flat (p1-p99 spread {health.thermal_spread:.3g} < {flat_spread:g})")
    if problems:
        return HealthRecord("modality health", Level.WARN, "; ".join(problems), values)
    return HealthRecord("modality health", Level.OK, "both modalities show structure", values)


def device_record(
    device: Optional[str],
    requested: str,
    fp16: bool,
    thresholds: HealthThresholds,
    cuda_memory: Optional[dict[str, float]] = None,
    backend: str = "",
) -> HealthRecord:
    """Where inference runs. WARN when ``requested="auto"`` fell back to the CPU or CUDA memory is nearly full.

    ``cuda_memory`` is :func:`cuda_memory` of the device (bytes), ``None`` on the CPU; ``backend``
    the inference backend of the loaded tracker (``""``: none, e.g. an OpenCV baseline).
    """
    values = {"requested device": requested, "device": device or "", "fp16": str(bool(fp16)), "backend": backend}
    if device is None:
        return HealthRecord("device", Level.OK, "model not loaded", values)
    level, message = Level.OK, f"inference on {device}" + (" (fp16)" if fp16 else "")
    if device.startswith("cpu") and requested == "auto":
        level, message = Level.WARN, "inference on CPU: no CUDA device visible to torch"
    if cuda_memory:
        for key, value in cuda_memory.items():
            values[f"cuda {key} (MiB)"] = f"{value / 2**20:.1f}"
        total = cuda_memory.get("total", 0.0)
        if total > 0 and cuda_memory.get("reserved", 0.0) / total > thresholds.gpu_memory_warn_fraction:
            level = Level.WARN
            message += f"; CUDA memory {cuda_memory['reserved'] / total:.0%} reserved"
    return HealthRecord("device", level, message, values)


def cuda_memory(device: str) -> Optional[dict[str, float]]:
    """``allocated``, ``reserved`` and ``total`` bytes of a CUDA ``device`` (``None`` for a CPU device)."""
    if not str(device).startswith("cuda"):
        return None
    import torch

    return {
        "allocated": float(torch.cuda.memory_allocated(device)),
        "reserved": float(torch.cuda.memory_reserved(device)),
        "total": float(torch.cuda.get_device_properties(device).total_memory),
    }
