"""The track node's overhead over the bare tracker, measured without ROS from a rosbag2.

The bag's RGB and thermal messages go, in recording order, through what the node does with them in
one thread: CDR deserialisation (rosbags; rclpy does the same on receipt), pairing
(:class:`~rgbt_tracker_ros.data.sync.ApproximateTimeSynchronizer`, message_filters' rule), the frame
cache and newest-pair slot, the :class:`~rgbt_tracker_ros.node.session.TrackingSession` with the
given tracker, and the node's per-frame code (:class:`~rgbt_tracker_ros.node.pipeline.FramePipeline`):
decoding, the Detection2DArray (built and CDR-serialised, as a publish serialises it), the diagnostics
accounting and content, and the debug image (rendered and serialised as a ``bgr8`` Image). What only
a live graph has (DDS transport, executor wake-ups, the second thread) is not in it.

Per frame (one synchronised pair): each stage's time, the deserialisation and pairing of every message
read since the previous pair included; ``pairing`` holds the synchroniser, the frame cache and the
newest-pair slot, ``session`` the session step minus decoding and the tracker call. The diagnostics records run once per ``diagnostics_every`` frames in the node (its 1 s updater
at 30 Hz); here they run every frame and count ``1 / diagnostics_every`` of their time. The node's
clock is replaced by a replay clock on which each pair arrives at its RGB stamp (latency in the
pipeline diagnostic = arrival to result). ``overhead`` = everything but the tracker call and the debug
image (rendered only while someone subscribes), as a per-frame sum.
"""
from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from rgbt_tracker_ros.data.bags import BagPairReader, PairingStats, RawImage, first_ground_truth, stamp_ns
from rgbt_tracker_ros.data.decode import is_compressed, numpy_to_image_msg
from rgbt_tracker_ros.data.rosmsgs import DETECTION_2D_ARRAY, IMAGE, typestore
from rgbt_tracker_ros.data.sync import ApproximateTimeSynchronizer, NewestPairSlot
from rgbt_tracker_ros.data.synthetic import ScenarioSpec
from rgbt_tracker_ros.data.topics import GROUND_TRUTH_TOPIC, RGB_TOPIC, THERMAL_TOPIC
from rgbt_tracker_ros.data.writers import write_bag
from rgbt_tracker_ros.errors import BagError, InputError
from rgbt_tracker_ros.node import diagnostics as health
from rgbt_tracker_ros.node.messages import MessageTypes
from rgbt_tracker_ros.node.pipeline import FramePipeline
from rgbt_tracker_ros.node.session import SessionOutput, StampedFrame, TrackingSession
from rgbt_tracker_ros.tracking.base import Tracker

#: The node's stages measured here, in pipeline order.
STAGES = ("deserialise", "pairing", "session", "decode", "result message", "diagnostics", "debug image")
#: Stages that count as overhead (the debug image is reported apart: rendered only while subscribed).
OVERHEAD_STAGES = STAGES[:-1]
#: The issue's target for the overhead per frame at 640x480.
TARGET_MS = 2.0
_MODALITIES = ("rgb", "thermal")


@dataclass
class StageTime:
    """Per-frame time of one stage, milliseconds."""

    median_ms: float
    p95_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> "StageTime":
        """Median and 95th percentile of per-frame times given in seconds."""
        median, p95 = np.percentile(np.asarray(seconds, dtype=np.float64) * 1e3, [50, 95])
        return cls(float(median), float(p95))


@dataclass
class NodeOverhead:
    """What the node adds to the tracker per frame (:func:`measure_node_overhead`); ``asdict`` is JSON-ready."""

    source: str
    width: int
    height: int
    rgb_encoding: str
    thermal_encoding: str
    tracker: str
    frames: int
    warmup: int
    diagnostics_every: int
    stages: dict[str, StageTime]
    tracker_time: StageTime
    overhead: StageTime
    overhead_with_debug_image: Optional[StageTime]
    target_ms: float = TARGET_MS

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (for ``json.dumps``)."""
        return asdict(self)


def measure_node_overhead(
    tracker: Tracker,
    bag: Union[str, Path, None] = None,
    *,
    frames: int = 60,
    size: tuple[int, int] = (640, 480),
    init_box: Optional[Sequence[float]] = None,
    rgb_topic: str = RGB_TOPIC,
    thermal_topic: str = THERMAL_TOPIC,
    sync_queue_size: int = 10,
    sync_slop: float = 0.05,
    debug_image: bool = True,
    warmup: int = 2,
    diagnostics_every: int = 30,
) -> NodeOverhead:
    """Time the track node's per-frame work around ``tracker`` on a bag (see the module docstring).

    Args:
        tracker: the tracker the node would run (e.g. ``tracking.factory.create_tracker``).
        bag: a rosbag2 (folder, .db3 or .mcap) with ``sensor_msgs/Image`` or ``CompressedImage`` on
            ``rgb_topic`` and ``thermal_topic``; ``None`` writes a generated ``size`` (width, height)
            sequence of ``frames`` frames (rgb8 + 16-bit mono16 thermal) to a temporary bag.
        frames: pairs processed at most (the initialising pair and ``warmup`` pairs are not measured).
        init_box: ``[x, y, w, h]`` on the first pair; ``None``: the bag's first ground-truth box.
        sync_queue_size, sync_slop: the synchroniser's (node parameters ``sync_queue_size``/``sync_slop``).
        debug_image: also time the debug image, as while ``~/debug_image`` has a subscriber.
        warmup: tracked pairs after the initialisation that are not measured.
        diagnostics_every: frames per diagnostics update (node: update period x camera rate).

    Raises:
        BagError: unreadable bag, missing topics, too few pairs. InputError: bad arguments or no init box.
    """
    if int(warmup) < 0 or int(diagnostics_every) < 1:
        raise InputError(f"warmup must be >= 0 and diagnostics_every >= 1, got {warmup} and {diagnostics_every}")
    if int(frames) < int(warmup) + 2:
        raise InputError(f"frames must be at least warmup + 2 = {int(warmup) + 2} (init, warm-up, one measured)")
    options = dict(
        frames=int(frames), init_box=init_box, rgb_topic=rgb_topic, thermal_topic=thermal_topic,
        sync_queue_size=sync_queue_size, sync_slop=sync_slop, debug_image=debug_image, warmup=int(warmup),
        diagnostics_every=int(diagnostics_every),
    )
    if bag is not None:
        return _measure(tracker, Path(bag), str(bag), **options)
    width, height = (int(v) for v in size)
    spec = ScenarioSpec(name="node_overhead", seed=0, frames=int(frames), width=width, height=height)
    with tempfile.TemporaryDirectory(prefix="node_overhead_") as folder:
        path = write_bag(spec, Path(folder) / "bag")
        return _measure(tracker, path, f"generated {width}x{height}, {spec.frames} frames", **options)


class _NodeReplay:
    """The node's objects in one thread, fed message by message; each call returns its stage times (s)."""

    def __init__(self, tracker: Tracker, box: Sequence[float], queue_size: int, slop: float) -> None:
        self.pipeline = FramePipeline(MessageTypes.from_rosbags())
        self.session = TrackingSession(self.pipeline.decode, tracker=tracker)
        self.session.request_init(box)
        self.synchronizer = ApproximateTimeSynchronizer(queue_size, slop)
        self.slot: NewestPairSlot = NewestPairSlot()
        self.thresholds = health.HealthThresholds()
        self.device = str(getattr(tracker, "device", "cpu"))
        self.store = typestore()

    def receive(self, raw: RawImage) -> tuple[Optional[StampedFrame], dict[str, float]]:
        """Deserialise one message, account it, pair it; the newest pair's frame if it completed one."""
        started = time.perf_counter()
        msg = raw.deserialize()
        deserialised = time.perf_counter()
        self.pipeline.message_received(_MODALITIES[raw.input_index], msg, stamp_ns(msg))  # arrives at its stamp
        received = time.perf_counter()
        for rgb_msg, thermal_msg in self.synchronizer.add_ns(raw.input_index, stamp_ns(msg), msg):
            frame = self.pipeline.pair_received(rgb_msg, thermal_msg)
            self.session.remember(frame)
            self.slot.put(frame)
        frame = self.slot.take()
        times = {
            "deserialise": deserialised - started,
            "diagnostics": received - deserialised,
            "pairing": time.perf_counter() - received,
        }
        return frame, times

    def publish(self, output: SessionOutput, debug_image: bool) -> dict[str, float]:
        """The node's publish for one output (message built and serialised, accounting), the diagnostics
        records and, with ``debug_image``, the debug image rendered and serialised."""
        started = time.perf_counter()
        self.store.serialize_cdr(self.pipeline.result_message(output), DETECTION_2D_ARRAY)
        built = time.perf_counter()
        arrived_s = output.frame.item.received_s  # the replay clock: the pair arrived at its RGB stamp
        self.pipeline.processed(output, output.frame.stamp_ns + int((time.monotonic() - arrived_s) * 1e9))
        accounted = time.perf_counter()
        self.pipeline.pipeline_record(self.thresholds, self.slot.received, self.slot.dropped)
        health.session_record(self.session, True, "active")
        self.pipeline.modality_record(self.thresholds)
        health.device_record(self.device, self.device, False, self.thresholds, health.cuda_memory(self.device))
        recorded = time.perf_counter()
        times = {
            "result message": built - started,
            "diagnostics": accounted - built,
            "diagnostics records": recorded - accounted,
            "debug image": 0.0,
        }
        if debug_image:
            canvas = self.pipeline.debug_image(output)
            header = output.frame.item.rgb.header
            # numpy_to_image_msg takes RGB order and stores bgr8 blue first, i.e. the canvas as drawn
            image = numpy_to_image_msg(canvas[:, :, ::-1], "bgr8", output.frame.stamp_ns, header.frame_id)
            self.store.serialize_cdr(image, IMAGE)
            times["debug image"] = time.perf_counter() - recorded
        return times


def _measure(
    tracker: Tracker,
    path: Path,
    source: str,
    *,
    frames: int,
    init_box: Optional[Sequence[float]],
    rgb_topic: str,
    thermal_topic: str,
    sync_queue_size: int,
    sync_slop: float,
    debug_image: bool,
    warmup: int,
    diagnostics_every: int,
) -> NodeOverhead:
    reader = BagPairReader(path, rgb_topic, thermal_topic, GROUND_TRUTH_TOPIC, sync_queue_size, sync_slop)
    box = init_box if init_box is not None else first_ground_truth(path)
    if box is None:
        raise InputError(f"bag {path} has no ground-truth box on {GROUND_TRUTH_TOPIC}; pass init_box")
    replay = _NodeReplay(tracker, box, sync_queue_size, sync_slop)
    pending: dict[str, float] = defaultdict(float)  # message stages since the last pair
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    tracker_s: list[float] = []
    stats, processed, encodings = PairingStats(), 0, ("", "")
    messages = reader.image_messages()
    with closing(messages):  # closes the bag also when the loop stops early
        for raw in messages:
            frame, times = replay.receive(raw)
            stats.count(raw.input_index)
            for stage, seconds in times.items():
                pending[stage] += seconds
            if frame is None:
                continue
            stats.pairs += 1
            if not encodings[0]:
                encodings = (_encoding(frame.item.rgb), _encoding(frame.item.thermal))
            started = time.perf_counter()
            outputs = replay.session.step(frame)
            session_s = time.perf_counter() - started - sum(o.decode_s + o.inference_s for o in outputs)
            for output in outputs:
                times = replay.publish(output, debug_image)
                times["diagnostics"] += times.pop("diagnostics records") / diagnostics_every
                times["session"], times["decode"] = session_s, output.decode_s
                for stage, seconds in pending.items():
                    times[stage] = times.get(stage, 0.0) + seconds
                pending.clear()
                session_s = 0.0  # one step's bookkeeping counts once
                if not output.initialized and processed > warmup:
                    for stage in STAGES:
                        samples[stage].append(times[stage])
                    tracker_s.append(output.inference_s)
                processed += 1
            if processed >= frames:
                break
    reader.check_paired(stats)
    if not tracker_s:
        raise BagError(
            f"bag {path}: {processed} pair(s) tracked ({stats.rgb_messages} RGB, {stats.thermal_messages} thermal "
            f"messages, {stats.pairs} pairs); need at least {warmup + 2} (init, {warmup} warm-up, one measured)"
        )
    overhead = np.sum([samples[stage] for stage in OVERHEAD_STAGES], axis=0)
    height, width = replay.pipeline.last_pair.size
    return NodeOverhead(
        source=source,
        width=int(width),
        height=int(height),
        rgb_encoding=encodings[0],
        thermal_encoding=encodings[1],
        tracker=type(tracker).__name__,
        frames=len(tracker_s),
        warmup=warmup,
        diagnostics_every=diagnostics_every,
        stages={stage: StageTime.of(samples[stage]) for stage in STAGES if debug_image or stage != "debug image"},
        tracker_time=StageTime.of(tracker_s),
        overhead=StageTime.of(overhead),
        overhead_with_debug_image=StageTime.of(overhead + np.asarray(samples["debug image"])) if debug_image else None,
    )


def _encoding(msg: Any) -> str:
    """``rgb8``, ``mono16``, ... or ``compressed <format>``."""
    return f"compressed {msg.format}" if is_compressed(msg) else str(msg.encoding)


def format_node_overhead(result: NodeOverhead) -> str:
    """A plain-text table of :func:`measure_node_overhead`'s result."""
    lines = [
        f"node overhead over the bare tracker ({result.tracker}), ROS-free: {result.source}",
        f"{result.width}x{result.height} {result.rgb_encoding} + {result.thermal_encoding}, {result.frames} frames "
        f"measured after init and {result.warmup} warm-up; diagnostics records counted 1/{result.diagnostics_every}",
        f"{'stage':<28}{'p50 ms':>9}{'p95 ms':>9}",
    ]
    rows = [(stage, time_) for stage, time_ in result.stages.items() if stage != "debug image"]
    rows.append(("overhead (sum per frame)", result.overhead))
    if result.overhead_with_debug_image is not None:
        rows += [("debug image", result.stages["debug image"]),
                 ("overhead with debug image", result.overhead_with_debug_image)]
    rows.append(("tracker (track call)", result.tracker_time))
    lines += [f"{name:<28}{time_.median_ms:>9.2f}{time_.p95_ms:>9.2f}" for name, time_ in rows]
    verdict = "met" if result.overhead.median_ms < result.target_ms else "not met"
    lines.append(f"target: overhead under {result.target_ms:g} ms a frame (median): {verdict}")
    return "\n".join(lines)
