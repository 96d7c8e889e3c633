"""Init/reset/enable state machine, stamp-keyed frame cache and the newest-pair worker (no ROS)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.data.sync import NewestPairSlot
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.tracking.base import Tracker, TrackResult, TrackState
from rgbt_tracker_ros.node.session import (
    FrameCache,
    FrameQueue,
    InferenceWorker,
    StampedFrame,
    TrackingSession,
)

MS = 1_000_000


class RecordingTracker(Tracker):
    """Moves the box 1 px right per tracked frame and records which frame indices it saw."""

    name = "recording"

    def __init__(self) -> None:
        self.inits: list[tuple[int, list[float]]] = []
        self.tracked: list[int] = []
        self.box = np.zeros(4)

    def initialize(self, pair, box):
        self.inits.append((pair.index, list(box)))
        self.box = np.asarray(box, dtype=np.float64)
        return TrackResult(self.box.copy(), 1.0, TrackState.TRACKING)

    def track(self, pair):
        self.tracked.append(pair.index)
        self.box = self.box + np.array([1.0, 0, 0, 0])
        return TrackResult(self.box.copy(), 0.9, TrackState.TRACKING)


def decode(index: int) -> FramePair:
    if index < 0:
        raise InputError(f"frame {index}: empty image")
    return FramePair(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8), index=index).validate()


def frame(index: int) -> StampedFrame:
    """Frame ``index`` stamped ``index * 100 ms``."""
    return StampedFrame(index * 100 * MS, index)


def make_session(**kwargs) -> tuple[TrackingSession, RecordingTracker]:
    tracker = RecordingTracker()
    session = TrackingSession(decode, tracker=tracker, stamp_tolerance_ns=20 * MS, **kwargs)
    return session, tracker


def test_frame_cache_keeps_newest_and_finds_nearest_within_tolerance():
    cache = FrameCache(3)
    for i in range(1, 6):
        cache.add(frame(i))
    assert cache.span_ns() == (300 * MS, 500 * MS)
    assert cache.nearest(410 * MS, 20 * MS).item == 4
    assert cache.nearest(450 * MS, 20 * MS) is None
    assert cache.nearest(100 * MS, 20 * MS) is None  # evicted
    assert cache.newest().item == 5
    with pytest.raises(InputError):
        FrameCache(0)


def test_no_output_before_init():
    session, tracker = make_session()
    assert session.step(frame(1)) == []
    assert tracker.tracked == [] and not session.initialized


def test_init_applies_to_the_stamped_frame_then_catches_up_to_the_newest():
    session, tracker = make_session()
    for i in range(1, 6):
        session.remember(frame(i))
    session.request_init([10, 20, 30, 40], stamp_ns=205 * MS)  # frame 2, 5 ms off
    outputs = session.step(frame(5))
    assert tracker.inits == [(2, [10.0, 20.0, 30.0, 40.0])]
    assert tracker.tracked == [5]  # frames 3 and 4 are skipped: newest pair only
    assert [o.frame.item for o in outputs] == [2, 5]
    assert outputs[0].initialized and not outputs[1].initialized
    assert outputs[0].track_id == outputs[1].track_id == "1"
    np.testing.assert_allclose(outputs[1].result.box, [11, 20, 30, 40])


def test_init_without_stamp_uses_the_newest_frame():
    session, tracker = make_session()
    session.request_init([1, 1, 4, 4], stamp_ns=0)
    outputs = session.step(frame(7))
    assert tracker.inits[0][0] == 7 and tracker.tracked == []
    assert len(outputs) == 1 and outputs[0].initialized


def test_init_for_a_future_frame_waits_and_a_stale_one_is_rejected():
    session, tracker = make_session()
    session.remember(frame(1))
    session.request_init([1, 1, 4, 4], stamp_ns=300 * MS)
    assert session.step(frame(2)) == [] and session.init_pending
    outputs = session.step(frame(3))
    assert tracker.inits[0][0] == 3 and outputs[0].initialized
    session.request_init([1, 1, 4, 4], stamp_ns=50 * MS)  # older than every cached frame
    with pytest.raises(InputError, match="matches no cached frame"):
        session.step(frame(4))
    assert not session.init_pending  # dropped, tracking goes on
    assert [o.frame.item for o in session.step(frame(5))] == [5]


def test_invalid_init_box_is_rejected_immediately():
    session, _ = make_session()
    with pytest.raises(InputError):
        session.request_init([0, 0, -5, 5])
    assert not session.init_pending


def test_track_id_is_stable_until_reset_and_new_after():
    session, _ = make_session()
    session.request_init([1, 1, 4, 4])
    ids = [o.track_id for i in range(1, 5) for o in session.step(frame(i))]
    assert ids == ["1"] * 4
    session.reset()
    assert not session.initialized and session.track_id == ""
    assert session.step(frame(5)) == []
    session.request_init([1, 1, 4, 4])
    assert session.step(frame(6))[0].track_id == "2"


def test_disable_skips_frames_and_keeps_the_target():
    session, tracker = make_session()
    session.request_init([1, 1, 4, 4])
    session.step(frame(1))
    session.set_enabled(False)
    assert session.step(frame(2)) == [] and tracker.tracked == []
    session.request_init([5, 5, 4, 4])  # stays pending while disabled
    assert session.step(frame(3)) == [] and session.init_pending
    session.set_enabled(True)
    outputs = session.step(frame(4))
    assert [o.track_id for o in outputs] == ["2"] and tracker.inits[-1][0] == 4


def test_old_frames_are_never_tracked_twice_or_backwards():
    session, tracker = make_session()
    session.request_init([1, 1, 4, 4])
    session.step(frame(5))
    assert session.step(frame(4)) == [] and session.step(frame(5)) == []
    assert tracker.tracked == []


def test_detach_ends_the_track_and_stops_inference():
    session, tracker = make_session()
    session.request_init([1, 1, 4, 4])
    session.step(frame(1))
    assert session.detach() is tracker
    assert not session.initialized and session.step(frame(2)) == []
    session.attach(tracker)
    assert session.step(frame(3)) == []  # a new target is needed


def test_reset_during_inference_discards_the_result():
    class SlowTracker(RecordingTracker):
        def __init__(self, session_ref):
            super().__init__()
            self.session_ref = session_ref

        def track(self, pair):
            self.session_ref[0].reset()  # a reset service call arrives mid-inference
            return super().track(pair)

    ref: list = []
    tracker = SlowTracker(ref)
    session = TrackingSession(decode, tracker=tracker)
    ref.append(session)
    session.request_init([1, 1, 4, 4])
    session.step(frame(1))
    assert session.step(frame(2)) == []
    assert session.track_id == ""


def test_init_stays_pending_until_the_track_id_is_issued():
    """The teacher node ignores ground truth while an init is pending; a gap between the request leaving
    the queue and the id being issued let a 30 Hz ground-truth topic start a second sequence."""
    seen_while_initialising: list[tuple[bool, bool]] = []

    class ObservingTracker(RecordingTracker):
        def initialize(self, pair, box):
            seen_while_initialising.append((session.init_pending, session.initialized))
            return super().initialize(pair, box)

    session = TrackingSession(decode, tracker=ObservingTracker())
    session.request_init([1, 1, 4, 4])
    outputs = session.step(frame(1))
    assert seen_while_initialising == [(True, False)]
    assert [o.initialized for o in outputs] == [True]
    assert not session.init_pending and session.initialized and session.track_id == "1"
    assert outputs[0].decode_s >= 0.0 and outputs[0].inference_s >= 0.0


def test_a_failed_init_does_not_stay_pending():
    class FailingTracker(RecordingTracker):
        def initialize(self, pair, box):
            raise InputError("box outside the image")

    session = TrackingSession(decode, tracker=FailingTracker())
    session.request_init([1, 1, 4, 4])
    with pytest.raises(InputError, match="outside"):
        session.step(frame(1))
    assert not session.init_pending and not session.initialized


def test_frame_queue_is_fifo_and_counts_overflow():
    fifo = FrameQueue(maxsize=2)
    for i in range(4):
        fifo.put(i)
    assert (fifo.received, fifo.dropped) == (4, 2)
    assert [fifo.take(), fifo.take(), fifo.take()] == [0, 1, None]


def test_worker_processes_only_the_newest_pair_and_survives_bad_pairs():
    session, tracker = make_session()
    slot: NewestPairSlot = NewestPairSlot()
    published, errors = [], []
    gate = threading.Event()

    def publish(output):
        published.append(output.frame.item)
        gate.wait(5.0)  # hold the worker busy while the cameras keep sending

    worker = InferenceWorker(slot, session, publish, errors.append, poll_s=0.01)
    session.request_init([1, 1, 4, 4])
    worker.start()
    try:
        slot.put(frame(1))
        _wait_for(lambda: published == [1])
        for i in (2, 3, 4):  # arrive while the worker is busy with frame 1
            slot.put(frame(i))
        gate.set()
        _wait_for(lambda: published == [1, 4])
        assert slot.dropped == 2 and slot.received == 4
        slot.put(StampedFrame(500 * MS, -1))  # an undecodable pair
        _wait_for(lambda: len(errors) == 1)
        assert isinstance(errors[0], InputError)
        slot.put(frame(6))
        _wait_for(lambda: published == [1, 4, 6])
        assert tracker.tracked == [4, 6]
    finally:
        assert worker.stop(timeout=2.0)


def test_worker_applies_an_init_on_a_cached_frame_without_new_images():
    session, tracker = make_session()
    published = []
    worker = InferenceWorker(NewestPairSlot(), session, lambda o: published.append(o.frame.item), print, poll_s=0.01)
    session.remember(frame(3))
    worker.start()
    try:
        session.request_init([1, 1, 4, 4], stamp_ns=300 * MS)
        _wait_for(lambda: published == [3])
    finally:
        worker.stop()
    assert tracker.inits[0][0] == 3


def _wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_replay_cached_tracks_every_frame_after_a_late_init_and_captures_extras():
    tracker = RecordingTracker()
    session = TrackingSession(
        decode, tracker=tracker, stamp_tolerance_ns=20 * MS, replay_cached=True, capture=lambda t: t.box[0]
    )
    for i in range(1, 6):
        session.remember(frame(i))
    session.request_init([10, 0, 4, 4], stamp_ns=200 * MS)
    outputs = session.step(frame(5))
    assert [o.frame.item for o in outputs] == [2, 3, 4, 5]
    assert tracker.tracked == [3, 4, 5]
    assert [o.extras for o in outputs] == [10.0, 11.0, 12.0, 13.0]
    assert session.step(frame(6))[0].extras == 14.0  # a frame that is not cached yet is tracked too
