"""Tests of data.sync: message_filters' approximate-time pairing and the newest-pair mailbox."""
from __future__ import annotations

import random
import threading

import pytest

from rgbt_tracker_ros.data.sync import ApproximateTimeSynchronizer, NewestPairSlot
from rgbt_tracker_ros.errors import InputError

RGB, THERMAL = 0, 1


def test_equal_stamps_pair_on_second_message():
    sync = ApproximateTimeSynchronizer(queue_size=1, slop=0.1)
    for t in range(5):
        assert sync.add(RGB, float(t), f"rgb{t}") == []
        assert sync.add(THERMAL, float(t), f"tir{t}") == [(f"rgb{t}", f"tir{t}")]
    assert sync.pending() == [0, 0]


def test_result_is_in_input_order_whoever_arrives_last():
    sync = ApproximateTimeSynchronizer(queue_size=5, slop=0.05)
    assert sync.add(THERMAL, 10.00, "tir") == []
    assert sync.add(RGB, 10.02, "rgb") == [("rgb", "tir")]


def test_within_slop_matches_beyond_does_not():
    sync = ApproximateTimeSynchronizer(queue_size=5, slop=0.05)
    sync.add(RGB, 1.00, "rgb")
    assert sync.add(THERMAL, 1.06, "far") == []  # 60 ms apart: beyond the slop
    assert sync.add(THERMAL, 1.049, "near") == [("rgb", "near")]
    assert sync.pending() == [0, 1]  # "far" stays queued, nothing else is discarded


def test_spread_must_be_strictly_below_slop():
    # message_filters keeps candidates with delta <= slop but emits only if max - min < slop.
    sync = ApproximateTimeSynchronizer(queue_size=5, slop=0.05)
    sync.add(RGB, 1.00, "rgb")
    assert sync.add(THERMAL, 1.05, "edge") == []


def test_nearest_candidate_wins_and_older_ones_stay():
    sync = ApproximateTimeSynchronizer(queue_size=5, slop=0.05)
    assert sync.add(THERMAL, 0.98, "tir_a") == []
    assert sync.add(THERMAL, 1.01, "tir_b") == []
    assert sync.add(RGB, 1.00, "rgb") == [("rgb", "tir_b")]  # 10 ms beats 20 ms
    assert sync.pending() == [0, 1]
    assert sync.add(RGB, 0.99, "rgb_late") == [("rgb_late", "tir_a")]


def test_queue_size_drops_oldest_stamps():
    sync = ApproximateTimeSynchronizer(queue_size=2, slop=0.05)
    for t in (1.0, 2.0, 3.0):
        assert sync.add(RGB, t, f"rgb{t}") == []
    assert sync.pending() == [2, 0]  # rgb1.0 pushed out
    assert sync.add(THERMAL, 1.0, "tir1") == []
    assert sync.add(THERMAL, 2.0, "tir2") == [("rgb2.0", "tir2")]


def test_same_stamp_replaces_queued_item():
    sync = ApproximateTimeSynchronizer(queue_size=3, slop=0.05)
    sync.add(RGB, 5.0, "first")
    sync.add(RGB, 5.0, "second")
    assert sync.pending() == [1, 0]
    assert sync.add(THERMAL, 5.0, "tir") == [("second", "tir")]


def test_three_inputs_need_the_whole_spread_below_slop():
    sync = ApproximateTimeSynchronizer(queue_size=5, slop=0.05, num_inputs=3)
    sync.add(0, 1.00, "a")
    assert sync.add(1, 1.06, "b_far") == []  # 60 ms from a
    assert sync.add(2, 1.03, "c") == []  # within 30 ms of a and b_far, but spread a..b_far = 60 ms
    assert sync.add(2, 1.02, "c2") == []
    # b2: input 0 candidate a; input 2 candidates c (10 ms) before c2 (20 ms) -> (a, b2, c)
    assert sync.add(1, 1.04, "b2") == [("a", "b2", "c")]
    assert sync.pending() == [0, 1, 1]


def test_scrambled_sequences_are_recombined():
    # The recombination check of message_filters' own test_approxsync.
    rng = random.Random(0)
    for n in range(1, 10):
        sync = ApproximateTimeSynchronizer(queue_size=n, slop=0.1)
        rgb = [(float(t), f"rgb{t}") for t in range(n)]
        tir = [(float(t), f"tir{t}") for t in range(n)]
        matched = []
        for stamp, item in rng.sample(rgb, n):
            matched += sync.add(RGB, stamp, item)
        assert matched == []
        for stamp, item in rng.sample(tir, n):
            matched += sync.add(THERMAL, stamp, item)
        assert set(matched) == {(f"rgb{t}", f"tir{t}") for t in range(n)}


def test_add_ns_is_exact_and_parameters_are_checked():
    sync = ApproximateTimeSynchronizer(queue_size=2, slop=0.0)
    sync.add_ns(RGB, 1_700_000_000_000_000_001, "rgb")
    assert sync.add_ns(THERMAL, 1_700_000_000_000_000_001, "tir") == []  # spread 0 is not < slop 0
    with pytest.raises(InputError, match="queue_size"):
        ApproximateTimeSynchronizer(queue_size=0, slop=0.1)
    with pytest.raises(InputError, match="slop"):
        ApproximateTimeSynchronizer(queue_size=1, slop=-1.0)
    with pytest.raises(InputError, match="out of range"):
        ApproximateTimeSynchronizer(queue_size=1, slop=0.1).add(2, 0.0, "x")


def test_newest_pair_slot_counts_and_replaces():
    slot = NewestPairSlot()
    assert slot.take() is None
    for pair in ("p1", "p2", "p3"):
        slot.put(pair)
    assert slot.received == 3 and slot.dropped == 2
    assert slot.take() == "p3"
    assert slot.take() is None
    assert slot.take(timeout=0.01) is None
    slot.put("p4")
    assert slot.dropped == 2  # the slot was empty: nothing replaced
    assert slot.take(timeout=0.01) == "p4"


def test_newest_pair_slot_wakes_a_waiting_consumer():
    slot = NewestPairSlot()
    got = []
    consumer = threading.Thread(target=lambda: got.append(slot.take(timeout=5.0)))
    consumer.start()
    slot.put("pair")
    consumer.join(timeout=5.0)
    assert got == ["pair"] and slot.received == 1 and slot.dropped == 0
