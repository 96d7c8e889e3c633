"""The tracking session behind the ROS nodes, without ROS: target init/reset/enable, frame cache, track ids.

Threads (the node's design; the tests drive the same objects directly):

- the synchroniser callback calls :meth:`TrackingSession.remember` for every matched pair (a cheap
  reference into a short stamp-keyed cache) and puts it into a :class:`~rgbt_tracker_ros.data.sync.NewestPairSlot`;
- topic/service callbacks call :meth:`~TrackingSession.request_init`, :meth:`~TrackingSession.reset`
  and :meth:`~TrackingSession.set_enabled`; these only record the command under a lock;
- one :class:`InferenceWorker` thread takes the newest pair from the slot and calls
  :meth:`~TrackingSession.step`, the only place the tracker runs. Commands take effect there, so
  the tracker is never touched by two threads, and the subscription callbacks never wait for it.

State machine (our design; the paper's tracker starts from a first-frame box and never restarts):

- no target -> ``request_init(box, stamp)`` -> the box is applied to the cached frame whose stamp is
  nearest ``stamp`` (within ``stamp_tolerance_ns``; stamp 0/None: the newest frame), the tracker is
  initialised there with a **new track id**, then catches up on the newest pair. A stamp newer than
  every cached frame waits for its frame; one older than the cache is rejected with an error.
- tracking -> ``reset()`` -> no target (the id is retired; the next init gets a new one). A result
  computed while a reset arrived is discarded, so no detection carries a retired id.
- ``set_enabled(False)`` skips pairs (no inference, no output) but keeps the target; re-enabling
  resumes from the last box (send a new init if the target moved meanwhile).
- :meth:`~TrackingSession.detach` (node deactivation frees the model) ends the track like a reset.
"""
from __future__ import annotations

import bisect
import logging
import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from rgbt_tracker_ros.data.frames import FramePair, validate_box
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.tracking.base import Tracker, TrackResult

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class StampedFrame:
    """A synchronised pair as it travels to the worker: its stamp (ns, of the RGB image) and the raw item."""

    stamp_ns: int
    item: Any


@dataclass
class SessionOutput:
    """One tracked frame: the frame it belongs to, its decoded pair, the result and the track id.

    ``extras`` is what the session's ``capture`` hook read from the tracker right after this frame
    (e.g. the teacher's response map), ``None`` without a hook. ``decode_s`` and ``inference_s`` are
    the wall times of decoding the pair and of the tracker call.
    """

    frame: StampedFrame
    pair: FramePair
    result: TrackResult
    track_id: str
    initialized: bool = False
    extras: Any = None
    decode_s: float = 0.0
    inference_s: float = 0.0


@dataclass
class _InitRequest:
    box: np.ndarray
    stamp_ns: Optional[int]


class FrameCache:
    """The last ``size`` frames keyed by stamp (ns), for applying an init box to the frame it was drawn on."""

    def __init__(self, size: int) -> None:
        if int(size) < 1:
            raise InputError(f"frame cache size must be >= 1, got {size}")
        self.size = int(size)
        self._frames: OrderedDict[int, StampedFrame] = OrderedDict()

    def add(self, frame: StampedFrame) -> None:
        self._frames[frame.stamp_ns] = frame
        self._frames.move_to_end(frame.stamp_ns)
        while len(self._frames) > self.size:
            self._frames.popitem(last=False)

    def clear(self) -> None:
        self._frames.clear()

    def newest(self) -> Optional[StampedFrame]:
        return next(reversed(self._frames.values()), None)

    def span_ns(self) -> Optional[tuple[int, int]]:
        """``(oldest, newest)`` cached stamps, or ``None`` when empty."""
        if not self._frames:
            return None
        stamps = sorted(self._frames)
        return stamps[0], stamps[-1]

    def between(self, after_ns: int, before_ns: int) -> list[StampedFrame]:
        """Cached frames with ``after_ns < stamp < before_ns``, oldest first."""
        return [self._frames[s] for s in sorted(self._frames) if after_ns < s < before_ns]

    def nearest(self, stamp_ns: int, tolerance_ns: int) -> Optional[StampedFrame]:
        """The cached frame nearest ``stamp_ns`` if within ``tolerance_ns``, else ``None``."""
        stamps = sorted(self._frames)
        index = bisect.bisect_left(stamps, stamp_ns)
        neighbours = [s for s in stamps[max(0, index - 1) : index + 1]]
        if not neighbours:
            return None
        best = min(neighbours, key=lambda s: abs(s - stamp_ns))
        return self._frames[best] if abs(best - stamp_ns) <= tolerance_ns else None


class TrackingSession:
    """Target state of one tracking node around a :class:`Tracker` (see the module docstring).

    Args:
        decode: turns a cached/queued item into a validated :class:`FramePair` (raises
            :class:`InputError` for a bad pair).
        cache_size: frames kept for stamp-keyed initialisation.
        stamp_tolerance_ns: how far an init stamp may be from a cached frame's stamp.
        tracker: the tracker, or ``None`` until :meth:`attach` (the node loads it on activation).
        replay_cached: after an init on a cached frame, also track the cached frames between it and
            the current one (the teacher node labels every frame); ``False`` (track node) jumps
            straight to the newest pair.
        capture: called with the tracker after every initialize/track; its return value becomes
            :attr:`SessionOutput.extras`.
    """

    def __init__(
        self,
        decode: Callable[[Any], FramePair],
        cache_size: int = 30,
        stamp_tolerance_ns: int = 50_000_000,
        tracker: Optional[Tracker] = None,
        replay_cached: bool = False,
        capture: Optional[Callable[[Tracker], Any]] = None,
    ) -> None:
        self._decode = decode
        self._replay_cached = bool(replay_cached)
        self._capture = capture
        self._cache = FrameCache(cache_size)
        self._tolerance_ns = int(stamp_tolerance_ns)
        self._lock = threading.Lock()
        self._tracker = tracker
        self._enabled = True
        self._pending_init: Optional[_InitRequest] = None
        self._initialising = False
        self._generation = 0
        self._ids_issued = 0
        self._track_id = ""
        self._last_stamp_ns: Optional[int] = None
        self.last_result: Optional[TrackResult] = None

    # ---- called from ROS callbacks (any thread) ----
    def attach(self, tracker: Tracker) -> None:
        """Use ``tracker`` from now on (node activation)."""
        with self._lock:
            self._tracker = tracker

    def detach(self) -> Optional[Tracker]:
        """Drop the tracker (node deactivation) and end the current track; returns the tracker."""
        with self._lock:
            tracker, self._tracker = self._tracker, None
            self._end_track()
            self._pending_init = None
            self._cache.clear()
            return tracker

    def remember(self, frame: StampedFrame) -> None:
        """Cache a synchronised pair so an init box stamped with its time can find it."""
        with self._lock:
            self._cache.add(frame)

    def request_init(self, box: Any, stamp_ns: Optional[int] = None) -> np.ndarray:
        """Ask to (re)start tracking ``box`` (``[x, y, w, h]``) drawn on the frame stamped ``stamp_ns``.

        ``stamp_ns`` 0 or ``None`` means the newest frame. Returns the validated box; raises
        :class:`InputError` for an invalid box. The request is applied by the next :meth:`step`.
        """
        checked = validate_box(box)
        with self._lock:
            self._pending_init = _InitRequest(checked, int(stamp_ns) if stamp_ns else None)
        return checked

    def reset(self) -> None:
        """Forget the target (its id is retired) and any pending init."""
        with self._lock:
            self._pending_init = None
            self._end_track()

    def set_enabled(self, enabled: bool) -> None:
        """Pause (``False``) or resume (``True``) tracking; the target is kept."""
        with self._lock:
            self._enabled = bool(enabled)

    # ---- read-only state (any thread) ----
    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def initialized(self) -> bool:
        """A target is being tracked (a track id is live)."""
        return bool(self._track_id)

    @property
    def track_id(self) -> str:
        """The live track id, ``""`` without a target."""
        return self._track_id

    @property
    def init_pending(self) -> bool:
        """An init was requested and its track id is not issued yet (queued, or being applied now)."""
        return self._pending_init is not None or self._initialising

    # ---- called from the worker thread only ----
    def step(self, frame: Optional[StampedFrame]) -> list[SessionOutput]:
        """Apply pending commands, then track ``frame`` (the newest pair; ``None``: none arrived).

        Returns the outputs to publish, oldest first: the init frame's result when an init was
        applied, then the newest frame's. Raises :class:`InputError` for a bad pair or an init
        stamp that matches no cached frame (the request is dropped; tracking goes on).
        """
        init_frame: Optional[StampedFrame] = None
        with self._lock:
            tracker, enabled, generation = self._tracker, self._enabled, self._generation
            request = self._pending_init
            if tracker is None or not enabled:
                return []
            if request is not None:
                init_frame = self._resolve_init_frame(request, frame)
                if init_frame is not None:
                    self._pending_init, self._initialising = None, True
        outputs: list[SessionOutput] = []
        if request is not None and init_frame is not None:
            try:
                started = time.perf_counter()
                pair = self._decode(init_frame.item)
                decoded = time.perf_counter()
                result = tracker.initialize(pair, request.box)
                tracked = time.perf_counter()
                extras = self._capture(tracker) if self._capture else None
            except BaseException:
                with self._lock:
                    self._initialising = False
                raise
            with self._lock:
                self._initialising = False  # in the same locked step as issuing the id: init_pending never lapses
                if self._generation != generation:
                    return []
                self._ids_issued += 1
                self._track_id = str(self._ids_issued)
                self._last_stamp_ns = init_frame.stamp_ns
                self.last_result = result
                outputs.append(
                    SessionOutput(
                        init_frame, pair, result, self._track_id, True, extras, decoded - started, tracked - decoded
                    )
                )
        with self._lock:
            track_id, last_stamp_ns = self._track_id, self._last_stamp_ns
            if frame is None or not track_id or (last_stamp_ns is not None and frame.stamp_ns <= last_stamp_ns):
                return outputs
            pending = [frame]
            if self._replay_cached and last_stamp_ns is not None:
                pending = self._cache.between(last_stamp_ns, frame.stamp_ns) + pending
        for next_frame in pending:
            started = time.perf_counter()
            pair = self._decode(next_frame.item)
            decoded = time.perf_counter()
            result = tracker.track(pair)
            tracked = time.perf_counter()
            extras = self._capture(tracker) if self._capture else None
            with self._lock:
                if self._generation != generation:
                    return []
                self._last_stamp_ns = next_frame.stamp_ns
                self.last_result = result
                outputs.append(
                    SessionOutput(
                        next_frame, pair, result, track_id, False, extras, decoded - started, tracked - decoded
                    )
                )
        return outputs

    def _resolve_init_frame(self, request: _InitRequest, frame: Optional[StampedFrame]) -> Optional[StampedFrame]:
        """The frame an init request refers to; ``None`` while it has not arrived. Holds the lock."""
        if frame is not None:
            self._cache.add(frame)
        if request.stamp_ns is None:
            return self._cache.newest()
        found = self._cache.nearest(request.stamp_ns, self._tolerance_ns)
        if found is not None:
            return found
        span = self._cache.span_ns()
        if span is None or request.stamp_ns > span[1] + self._tolerance_ns:
            return None  # its frame has not arrived yet
        self._pending_init = None
        raise InputError(
            f"init box stamped {request.stamp_ns / 1e9:.3f} s matches no cached frame (cache holds "
            f"{span[0] / 1e9:.3f}..{span[1] / 1e9:.3f} s, tolerance {self._tolerance_ns / 1e9:.3f} s); "
            "send the stamp of a recent image, 0 for the newest, or raise frame_cache_size"
        )

    def _end_track(self) -> None:
        """Retire the track id (holds the lock)."""
        self._generation += 1
        self._track_id = ""
        self._last_stamp_ns = None
        self.last_result = None


class FrameQueue:
    """A bounded FIFO with the :class:`~rgbt_tracker_ros.data.sync.NewestPairSlot` interface.

    For the teacher node, which labels every pair in order: when the teacher falls ``maxsize``
    pairs behind, new pairs are dropped (and counted) instead of growing memory without bound.
    """

    def __init__(self, maxsize: int = 300) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=int(maxsize))
        self.received = 0
        self.dropped = 0

    def put(self, item: Any) -> None:
        self.received += 1
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def take(self, timeout: Optional[float] = None) -> Optional[Any]:
        try:
            return self._queue.get(timeout=timeout) if timeout is not None else self._queue.get_nowait()
        except queue.Empty:
            return None


class InferenceWorker:
    """Background thread: take the next frame from ``source`` and run ``session.step`` on it.

    ``source`` is a :class:`~rgbt_tracker_ros.data.sync.NewestPairSlot` (track node: newest pair,
    older ones dropped) or a :class:`FrameQueue` (teacher node: every pair in order). Every output is
    handed to ``publish``; any exception (a bad pair, an init that matches no frame, a model error)
    goes to ``on_error`` and the loop carries on with the next frame. ``step`` also runs when no
    frame arrived within ``poll_s``, so an init on a cached frame is applied without new images.
    """

    def __init__(
        self,
        source: Any,
        session: TrackingSession,
        publish: Callable[[SessionOutput], None],
        on_error: Callable[[Exception], None],
        poll_s: float = 0.05,
        name: str = "inference",
    ) -> None:
        self._source = source
        self._session = session
        self._publish = publish
        self._on_error = on_error
        self._poll_s = float(poll_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: Optional[float] = 5.0) -> bool:
        """Ask the loop to end and wait up to ``timeout`` s; True when it has ended."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            frame = self._source.take(timeout=self._poll_s)
            if frame is None and not self._session.init_pending:
                continue
            try:
                outputs = self._session.step(frame)
                for output in outputs:
                    self._publish(output)
            except Exception as error:  # noqa: BLE001 - one bad pair or model error must not end the loop
                try:
                    self._on_error(error)
                except Exception:  # noqa: BLE001 - an error reporter that fails must not end it either
                    _LOG.exception("error handler failed")
