"""Pairing of RGB and thermal messages, without ROS.

:class:`ApproximateTimeSynchronizer` reproduces the matching rule of the Python
``message_filters.ApproximateTimeSynchronizer`` (ros2/message_filters, Humble and Jazzy), so bag
replay (``data.bags``) pairs frames exactly as the live node does. :class:`NewestPairSlot` is the
node's "always process the newest synchronised pair" mailbox.
"""
from __future__ import annotations

import itertools
import threading
from typing import Any, Generic, Optional, TypeVar

from rgbt_tracker_ros.errors import InputError

T = TypeVar("T")


def seconds_to_ns(stamp_seconds: float) -> int:
    """A stamp in seconds as integer nanoseconds (the key type message_filters uses)."""
    return int(round(float(stamp_seconds) * 1e9))


class ApproximateTimeSynchronizer:
    """The approximate-time pairing rule of message_filters' Python ``ApproximateTimeSynchronizer``.

    Each input keeps a queue ``{stamp_ns: item}``; a new item replaces one with the same stamp, and
    when a queue grows past ``queue_size`` its oldest stamps are deleted (those items are dropped
    unmatched). On every :meth:`add`, the other queues are searched for stamps within ``slop`` of the
    new one, each sorted by distance to it; combinations are tried nearest first (``itertools.product``
    order) and the first whose overall spread ``max - min`` is strictly below ``slop`` is emitted and
    removed from the queues. At most one set is emitted per call; items that are never matched stay
    queued until pushed out by ``queue_size``. Older unmatched items are NOT discarded when a newer
    set matches (unlike the C++ ApproximateTime policy).

    Stamps are compared in integer nanoseconds (``rclpy.Duration(seconds=slop)`` truncates likewise).
    """

    def __init__(self, queue_size: int, slop: float, num_inputs: int = 2) -> None:
        if int(queue_size) < 1:
            raise InputError(f"synchroniser queue_size must be >= 1, got {queue_size}")
        if not float(slop) >= 0.0:
            raise InputError(f"synchroniser slop must be >= 0 seconds, got {slop}")
        if int(num_inputs) < 2:
            raise InputError(f"synchroniser needs at least 2 inputs, got {num_inputs}")
        self.queue_size = int(queue_size)
        self.slop_ns = int(float(slop) * 1e9)
        self.queues: list[dict[int, Any]] = [{} for _ in range(int(num_inputs))]
        self._lock = threading.Lock()

    @property
    def slop(self) -> float:
        """The slop in seconds."""
        return self.slop_ns / 1e9

    def add(self, input_index: int, stamp_seconds: float, item: Any) -> list[tuple]:
        """Queue ``item`` stamped ``stamp_seconds`` on input ``input_index``; return the sets it completed.

        Each returned tuple holds one item per input, in input order (empty list: nothing matched yet).
        """
        return self.add_ns(input_index, seconds_to_ns(stamp_seconds), item)

    def add_ns(self, input_index: int, stamp: int, item: Any) -> list[tuple]:
        """:meth:`add` with the stamp in integer nanoseconds (exact for bag and header stamps)."""
        if not 0 <= input_index < len(self.queues):
            raise InputError(f"synchroniser input {input_index} out of range 0..{len(self.queues) - 1}")
        stamp = int(stamp)
        with self._lock:
            own = self.queues[input_index]
            own[stamp] = item
            while len(own) > self.queue_size:
                del own[min(own)]
            candidates: list[list[int]] = []
            for index, queue in enumerate(self.queues):
                if index == input_index:
                    continue
                near = sorted((abs(s - stamp), s) for s in queue if abs(s - stamp) <= self.slop_ns)
                if not near:
                    return []
                candidates.append([s for _, s in near])
            for combination in itertools.product(*candidates):
                stamps = list(combination)
                stamps.insert(input_index, stamp)
                if max(stamps) - min(stamps) < self.slop_ns:
                    matched = tuple(queue.pop(s) for queue, s in zip(self.queues, stamps))
                    return [matched]
            return []

    def pending(self) -> list[int]:
        """How many items wait unmatched on each input."""
        with self._lock:
            return [len(queue) for queue in self.queues]


class NewestPairSlot(Generic[T]):
    """A thread-safe single-slot mailbox: the consumer always gets the newest pair.

    The synchroniser callback :meth:`put` s each matched pair; the tracking loop :meth:`take` s.
    A pair replaced before it was taken counts as dropped, so latency cannot grow from a backlog
    when tracking is slower than the cameras.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: Optional[T] = None
        self._full = False
        self.received = 0
        self.dropped = 0

    def put(self, pair: T) -> None:
        """Store ``pair``, replacing (and counting as dropped) any pair not yet taken."""
        with self._condition:
            self.received += 1
            if self._full:
                self.dropped += 1
            self._item, self._full = pair, True
            self._condition.notify()

    def take(self, timeout: Optional[float] = None) -> Optional[T]:
        """Remove and return the newest pair, or ``None`` if there is none.

        ``timeout=None`` polls without waiting (safe inside a ROS timer callback); a number waits up
        to that many seconds for a pair to arrive.
        """
        with self._condition:
            if timeout is not None:
                self._condition.wait_for(lambda: self._full, timeout=timeout)
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            return item
