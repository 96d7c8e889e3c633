"""The labelling driver: run a teacher over frame pairs and store what it computes in a bundle.

Used by ``rgbt-tracker label`` (bags and sequences, offline) and, frame by frame, by the teacher
node; the bundle format itself is :mod:`rgbt_tracker_ros.data.bundle`.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

import numpy as np

from rgbt_tracker_ros.data.bundle import SequenceWriter
from rgbt_tracker_ros.data.frames import FramePair, validate_box
from rgbt_tracker_ros.errors import DatasetError, InputError
from rgbt_tracker_ros.tracking.base import Tracker


def teacher_outputs(tracker: Any) -> tuple:
    """What the bundle stores besides the result (response map, search box, features, flag), read right
    after each teacher step; trackers without DiMP's ``last_*`` attributes give ``None`` / ``""``."""
    return (
        getattr(tracker, "last_response", None),
        getattr(tracker, "last_search_box", None),
        getattr(tracker, "last_features", None),
        getattr(tracker, "last_flag", "") or "",
    )


def label_sequence(
    tracker: Tracker,
    pairs: Iterable[FramePair],
    writer: SequenceWriter,
    init_box: Optional[np.ndarray] = None,
    use_ground_truth: bool = True,
    progress: Optional[Callable[[int], None]] = None,
) -> int:
    """Run the teacher over ``pairs`` and store every frame in ``writer``; returns the frames stored.

    The teacher starts on the first pair with ``init_box`` (``None``: the first pair whose RGB
    ground truth is a valid box, if ``use_ground_truth``); earlier pairs are not labelled. When
    ``writer`` resumes, pairs up to its last stored frame are skipped and the teacher is
    re-initialised there with the stored box. ``progress(n)`` is called with each pair read.
    Trackers exposing DiMP's ``last_response`` / ``last_search_box`` / ``last_features`` /
    ``last_flag`` attributes provide the response maps and features.
    """
    stored = 0
    started = False
    for pair in pairs:
        if progress is not None:
            progress(1)
        if not started:
            if writer.resume_source_index is not None:
                if pair.index < writer.resume_source_index:
                    continue
                if pair.index != writer.resume_source_index:
                    raise DatasetError(
                        f"sequence {writer.name}: cannot resume, source frame {writer.resume_source_index} "
                        "was not found"
                    )
                tracker.initialize(pair, writer.resume_box)
                writer.mark_resumed()
                started = True
                continue
            box = init_box
            if box is None and use_ground_truth and pair.gt_rgb is not None:
                try:
                    box = validate_box(pair.gt_rgb, pair.size)
                except InputError:
                    box = None
            if box is None:
                continue
            result = tracker.initialize(pair, validate_box(box, pair.size))
            writer.entry["init"].setdefault("source_index", int(pair.index))
            started = True
        else:
            result = tracker.track(pair)
        response, search_box, features, flag = teacher_outputs(tracker)
        writer.add(
            pair, result, response, search_box, source_index=pair.index,
            stamp_ns=None if pair.stamp_rgb is None else int(round(pair.stamp_rgb * 1e9)),
            features=features, flag=flag,
        )
        stored += 1
    if not started and writer.resume_source_index is None:
        raise InputError(
            f"sequence {writer.name}: no initial box; pass --init or --init-file "
            "(no frame has a valid ground-truth box)"
        )
    return stored
