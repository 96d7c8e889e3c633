"""The track node's per-frame work without ROS: stage timing, decoding, the result message, the debug image
and the pipeline and modality diagnostics.

``ros/track_node.py`` calls a :class:`FramePipeline` from its rclpy callbacks and adds only what needs
rclpy (publishers, the node clock, cv_bridge, diagnostic_updater);
:mod:`rgbt_tracker_ros.evaluation.node_overhead` drives the same object from a bag to measure the
node's overhead over the bare tracker. Order per frame: :meth:`~FramePipeline.message_received` for
each image, :meth:`~FramePipeline.pair_received` for each synchronised pair (its frame goes to the
session and the newest-pair slot), :meth:`~FramePipeline.decode` as the session's decode step,
then per session output :meth:`~FramePipeline.result_message`, :meth:`~FramePipeline.processed` and,
while someone watches, :meth:`~FramePipeline.debug_image`.

Clocks: ``now_ns`` arguments are the node clock (sim time when replaying), used for the stamp-relative
times (transport, latency); the other stages are timed with ``time.monotonic``.
"""
from __future__ import annotations

import time
from typing import Any, NamedTuple, Optional

import numpy as np

from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.node import diagnostics as health
from rgbt_tracker_ros.node.debug_image import render_debug_image
from rgbt_tracker_ros.node.messages import MessageTypes, decode_pair, stamp_to_ns, tracking_output
from rgbt_tracker_ros.node.session import SessionOutput, StampedFrame
from rgbt_tracker_ros.tracking.base import TrackState


class ReceivedPair(NamedTuple):
    """A synchronised pair as it travels to the inference thread: both messages and when it arrived
    (``time.monotonic`` seconds)."""

    rgb: Any
    thermal: Any
    received_s: float


class FramePipeline:
    """The track node's per-frame work around a :class:`~rgbt_tracker_ros.node.session.TrackingSession`.

    Args:
        types: the message classes the result message is built from (ROS's in the node, rosbags'
            without ROS).
        stats: the counters and stage timings behind the ``pipeline`` diagnostic.
    """

    def __init__(self, types: MessageTypes, stats: Optional[health.PipelineStats] = None) -> None:
        self.types = types
        self.stats = stats if stats is not None else health.PipelineStats()
        self.last_pair: Optional[FramePair] = None
        self._last_message_s = 0.0

    def message_received(self, modality: str, msg: Any, now_ns: int) -> None:
        """Every raw image (``"rgb"``/``"thermal"``): input count and the transport stage (stamp to ``now_ns``)."""
        self._last_message_s = time.monotonic()
        self.stats.count_input(modality)
        self.stats.add_stage("transport", (now_ns - stamp_to_ns(msg.header.stamp)) / 1e9)

    def pair_received(self, rgb_msg: Any, thermal_msg: Any) -> StampedFrame:
        """A synchronised pair: the pairing stage (last image to now) and its frame, keyed by the RGB stamp."""
        now = time.monotonic()
        self.stats.add_stage("pairing", now - self._last_message_s)
        return StampedFrame(stamp_to_ns(rgb_msg.header.stamp), ReceivedPair(rgb_msg, thermal_msg, now))

    def decode(self, item: ReceivedPair) -> FramePair:
        """The session's decode step: the queue stage (pair arrival to now), then the validated pair
        (:class:`~rgbt_tracker_ros.errors.InputError` for a bad one)."""
        self.stats.add_stage("queue", time.monotonic() - item.received_s)
        return decode_pair(item.rgb, item.thermal)

    def result_message(self, output: SessionOutput) -> Any:
        """The ``~/detections`` Detection2DArray of one output: the RGB header, one detection, none when lost."""
        result = output.result
        box = None if TrackState(result.state) == TrackState.LOST else result.box
        return tracking_output(output.frame.item.rgb.header, box, result.score, output.track_id, self.types)

    def processed(self, output: SessionOutput, now_ns: int) -> None:
        """Account one published output: latency (frame stamp to ``now_ns``), decode and inference stages;
        its pair is kept for the modality diagnostic."""
        self.stats.count_processed((now_ns - output.frame.stamp_ns) / 1e9, output.inference_s)
        self.stats.add_stage("decode", output.decode_s)
        self.stats.add_stage("inference", output.inference_s)
        self.last_pair = output.pair

    @staticmethod
    def debug_image(output: SessionOutput) -> np.ndarray:
        """The ``~/debug_image`` content of one output (``bgr8`` array; the header is the RGB image's)."""
        return render_debug_image(output.pair.rgb, output.pair.thermal, output.result, output.track_id)

    def pipeline_record(
        self, thresholds: health.HealthThresholds, pairs_received: int, pairs_dropped: int
    ) -> health.HealthRecord:
        """The ``pipeline`` diagnostic, with the newest-pair slot's counters."""
        self.stats.set_pair_counts(pairs_received, pairs_dropped)
        return self.stats.record(thresholds)

    def modality_record(self, thresholds: health.HealthThresholds) -> health.HealthRecord:
        """The ``modality health`` diagnostic of the last processed pair."""
        pair = self.last_pair
        image_health = health.image_health(pair.rgb, pair.thermal) if pair is not None else None
        return health.modality_record(image_health, thresholds)
