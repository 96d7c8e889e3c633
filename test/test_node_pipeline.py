"""The track node's per-frame work (node.pipeline) on rosbags messages, without ROS."""
from __future__ import annotations

import numpy as np
import pytest

from rgbt_tracker_ros.data.decode import numpy_to_image_msg
from rgbt_tracker_ros.data.rosmsgs import DETECTION_2D_ARRAY, typestore
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.node import diagnostics as health
from rgbt_tracker_ros.node.debug_image import render_debug_image
from rgbt_tracker_ros.node.messages import MessageTypes, detection_to_box, stamp_to_ns, tracking_output
from rgbt_tracker_ros.node.pipeline import FramePipeline, ReceivedPair
from rgbt_tracker_ros.node.session import TrackingSession
from rgbt_tracker_ros.tracking.base import Tracker, TrackResult, TrackState

SEC = 1_000_000_000
T0 = 1_700_000_000 * SEC


class ScriptedTracker(Tracker):
    """Returns the init box, then the given states one per frame with the box moved 2 px right each time."""

    name = "scripted"

    def __init__(self, states: list[TrackState]) -> None:
        self.states = list(states)
        self.box = np.zeros(4)

    def initialize(self, pair, box):
        self.box = np.asarray(box, dtype=np.float64)
        return TrackResult(self.box.copy(), 1.0, TrackState.TRACKING)

    def track(self, pair):
        self.box = self.box + np.array([2.0, 0.0, 0.0, 0.0])
        return TrackResult(self.box.copy(), 0.8, self.states.pop(0), {"layer3": [0.2, 0.3, 0.5]})


def messages(index: int, size=(24, 32)):
    """RGB (rgb8) and thermal (mono16) messages of frame ``index``, thermal 5 ms after RGB."""
    stamp = T0 + index * SEC // 10
    rgb = np.full(size + (3,), 40 + index, np.uint8)
    rgb[4:12, 6:14] = 200
    thermal = np.full(size, 7000 + index, np.uint16)
    thermal[4:12, 6:14] = 9000
    return (
        numpy_to_image_msg(rgb, "rgb8", stamp, "rgb_camera"),
        numpy_to_image_msg(thermal, "mono16", stamp + 5_000_000, "thermal_camera"),
    )


def run(states: list[TrackState]):
    """Feed frames 0..len(states) through the pipeline and a session as the node does; the outputs."""
    pipeline = FramePipeline(MessageTypes.from_rosbags())
    session = TrackingSession(pipeline.decode, tracker=ScriptedTracker(states))
    session.request_init([6, 4, 8, 8])
    outputs = []
    for index in range(len(states) + 1):
        rgb_msg, thermal_msg = messages(index)
        pipeline.message_received("rgb", rgb_msg, stamp_to_ns(rgb_msg.header.stamp) + 1_000_000)
        pipeline.message_received("thermal", thermal_msg, stamp_to_ns(thermal_msg.header.stamp) + 1_000_000)
        frame = pipeline.pair_received(rgb_msg, thermal_msg)
        session.remember(frame)
        for output in session.step(frame):
            pipeline.processed(output, output.frame.stamp_ns + 20_000_000)
            outputs.append(output)
    return pipeline, session, outputs


def test_result_message_is_what_the_node_published_before_the_pipeline():
    pipeline, _, outputs = run([TrackState.TRACKING, TrackState.UNCERTAIN, TrackState.LOST])
    types = pipeline.types
    store = typestore()
    for output in outputs:
        rgb_msg = output.frame.item.rgb
        message = pipeline.result_message(output)
        lost = output.result.state == TrackState.LOST
        # the node's former _publish: RGB header, the box unless lost, score and track id
        expected = tracking_output(
            rgb_msg.header, None if lost else output.result.box, output.result.score, output.track_id, types
        )
        wire = store.serialize_cdr(message, DETECTION_2D_ARRAY)
        assert bytes(wire) == bytes(store.serialize_cdr(expected, DETECTION_2D_ARRAY))  # same content, field by field
        decoded = store.deserialize_cdr(wire, DETECTION_2D_ARRAY)
        assert stamp_to_ns(decoded.header.stamp) == stamp_to_ns(rgb_msg.header.stamp)
        assert decoded.header.frame_id == "rgb_camera"
        if lost:
            assert decoded.detections == []
        else:
            (detection,) = decoded.detections
            np.testing.assert_array_equal(detection_to_box(detection), output.result.box)
            assert detection.id == output.track_id == "1"
            assert detection.results[0].hypothesis.score == pytest.approx(output.result.score)
    np.testing.assert_array_equal(outputs[1].result.box, [8, 4, 8, 8])


def test_stages_counts_latency_and_diagnostics_content():
    pipeline, session, outputs = run([TrackState.TRACKING, TrackState.TRACKING])
    stages = pipeline.stats.stage_summary()
    assert set(stages) == {"transport", "pairing", "queue", "decode", "inference"}
    assert stages["transport"]["p50"] == pytest.approx(0.001)
    assert pipeline.stats.inputs == {"rgb": 3, "thermal": 3}
    assert pipeline.last_pair is outputs[-1].pair
    record = pipeline.pipeline_record(health.HealthThresholds(), pairs_received=3, pairs_dropped=0)
    assert record.values["pairs processed"] == "3" and record.values["latency p50 (s)"] == "0.0200"
    assert pipeline.modality_record(health.HealthThresholds()).level == health.Level.OK
    tracker = health.session_record(session, active=True, lifecycle="active")
    assert tracker.level == health.Level.OK and tracker.values["track id"] == "1"
    assert health.session_record(None, active=False).message == "node inactive (model not loaded)"


def test_debug_image_and_decode_are_the_node_core_functions():
    _, _, outputs = run([TrackState.TRACKING])
    output = outputs[-1]
    np.testing.assert_array_equal(
        FramePipeline.debug_image(output),
        render_debug_image(output.pair.rgb, output.pair.thermal, output.result, output.track_id),
    )
    assert output.pair.thermal.dtype == np.uint16 and output.pair.rgb.shape == (24, 32, 3)


def test_decode_of_a_bad_pair_names_the_camera():
    pipeline = FramePipeline(MessageTypes.from_rosbags())
    rgb_msg, thermal_msg = messages(0)
    rgb_msg.encoding = "yuv422"
    with pytest.raises(InputError, match="RGB image"):
        pipeline.decode(ReceivedPair(rgb_msg, thermal_msg, 0.0))
