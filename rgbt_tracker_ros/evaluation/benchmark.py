"""Run a tracker over a whole dataset into a resumable results folder (one-pass evaluation, OPE).

Each sequence starts from its first visible ground-truth box (frame 0) and is tracked to the end
without re-initialisation, the protocol of every RGB-T benchmark. Results go to
``<out_dir>/<tracker name>/<sequence>.txt`` (``x,y,w,h`` a line, the first line the initial box),
per-frame seconds to ``<sequence>_time.txt`` (pytracking's convention); both are written to a
temporary file and renamed, so a file is either complete or absent. A sequence whose result file
already holds one valid box per frame is skipped, so an interrupted run resumes where it stopped.
The tracker is created once, and only if some sequence still has to run; ``initialize`` restarts
it for every sequence.

Resuming must not mix two setups (a replaced checkpoint, an edited parameter file): given a
``setup`` record (``tracking.factory.describe_setup``), the folder keeps it in ``setup.json`` and
refuses to continue under another one, or when it holds results but no record.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

import numpy as np

from rgbt_tracker_ros.atomic_files import write_text_atomic
from rgbt_tracker_ros.data.datasets import Sequence, read_table
from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.errors import InputError, RgbtError
from rgbt_tracker_ros.tracking.base import Tracker, TrackResult

PathLike = Union[str, Path]


#: Decimals of the boxes in every result file this package writes.
BOX_DECIMALS = 2

#: File in a tracker's results folder that records the setup that made its results.
SETUP_FILE = "setup.json"


def format_rows(rows: np.ndarray, digits: int = BOX_DECIMALS) -> str:
    """Comma-separated text lines of ``rows`` (boxes by default) with ``digits`` decimals."""
    return "".join(",".join(f"{v:.{digits}f}" for v in row) + "\n" for row in np.atleast_2d(rows))


def completed_frames(path: Path) -> Optional[int]:
    """Number of boxes in an existing, readable result file; ``None`` if absent or unreadable."""
    if not path.is_file():
        return None
    try:
        table = read_table(path)
    except RgbtError:
        return None
    return len(table) if table.shape[1] == 4 else None


def _recorded_seconds(path: Path, frames: int) -> Optional[float]:
    """Total seconds of a previous run from its ``_time.txt``, if it matches the sequence."""
    try:
        times = read_table(path)
    except RgbtError:
        return None
    return float(times.sum()) if times.shape == (frames, 1) else None


def track_pairs(
    tracker: Tracker,
    pairs: Iterable[FramePair],
    init_box: np.ndarray,
    name: str,
    on_result: Optional[Callable[[FramePair, TrackResult], None]] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Initialise ``tracker`` on the first pair with ``init_box``, track the rest.

    Returns ``(boxes (N, 4), seconds (N,))``; seconds cover ``initialize``/``track`` only (not
    reading the pairs or ``on_result``). ``on_result(pair, result)`` sees every frame as soon as it
    is tracked (video, progress, partial results). Bad input raises :class:`InputError` naming
    ``name`` and the frame.
    """
    boxes: list[np.ndarray] = []
    seconds: list[float] = []
    for index, pair in enumerate(pairs):
        start = time.perf_counter()
        try:
            result = tracker.initialize(pair, init_box) if index == 0 else tracker.track(pair)
        except InputError as err:
            raise InputError(f"sequence {name} frame {index}: {err}") from err
        seconds.append(time.perf_counter() - start)
        boxes.append(np.asarray(result.box, dtype=np.float64))
        if on_result is not None:
            on_result(pair, result)
    return np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(seconds)


def track_sequence(tracker: Tracker, sequence: Sequence, on_frame: Optional[Callable[[], None]] = None) -> tuple[np.ndarray, np.ndarray]:
    """Track ``sequence`` from its first visible ground-truth box (:func:`track_pairs`)."""
    pairs = (sequence[index] for index in range(len(sequence)))
    on_result = None if on_frame is None else (lambda _pair, _result: on_frame())
    return track_pairs(tracker, pairs, sequence.gt_rgb[0], sequence.name, on_result)


def run_benchmark(
    tracker_factory: Callable[[], Tracker],
    sequences: Iterable[Sequence],
    out_dir: PathLike,
    name: Optional[str] = None,
    progress: bool = True,
    setup: Optional[dict] = None,
) -> dict:
    """Track every sequence not yet complete under ``<out_dir>/<name>``; return the run's summary.

    ``setup`` (JSON data describing the tracker) is checked against the folder's record, or
    recorded, before anything runs (:func:`claim_results_folder`).

    ``name`` defaults to the tracker's ``name`` (the tracker is then created up front). Returns
    ``{"tracker", "results_dir", "frames", "seconds", "fps", "sequences": {seq: {"frames",
    "seconds", "fps", "skipped"}}}``; seconds/fps of a skipped sequence come from its recorded
    ``_time.txt`` (``None`` when there is none), and the totals cover the sequences with timings.
    """
    from tqdm import tqdm

    sequences = list(sequences)
    tracker: Optional[Tracker] = None
    if name is None:
        tracker = tracker_factory()
        name = tracker.name
    results_dir = Path(out_dir) / name
    if setup is not None:
        claim_results_folder(results_dir, setup)
    pending = {s.name for s in sequences if completed_frames(results_dir / f"{s.name}.txt") != len(s)}
    summary: dict[str, dict] = {}
    bar = tqdm(total=sum(len(s) for s in sequences if s.name in pending), desc=name, unit="frame", disable=not progress, leave=False)
    try:
        for sequence in sequences:
            result_path = results_dir / f"{sequence.name}.txt"
            time_path = results_dir / f"{sequence.name}_time.txt"
            if sequence.name not in pending:
                seconds = _recorded_seconds(time_path, len(sequence))
                summary[sequence.name] = _entry(len(sequence), seconds, skipped=True)
                continue
            if tracker is None:
                tracker = tracker_factory()
            bar.set_postfix_str(sequence.name)
            boxes, frame_seconds = track_sequence(tracker, sequence, on_frame=lambda: bar.update(1))
            write_text_atomic(time_path, format_rows(frame_seconds[:, None], 6))
            write_text_atomic(result_path, format_rows(boxes))
            summary[sequence.name] = _entry(len(sequence), float(frame_seconds.sum()), skipped=False)
    finally:
        bar.close()
    timed = [entry for entry in summary.values() if entry["seconds"] is not None]
    total_seconds = sum(entry["seconds"] for entry in timed)
    total_frames = sum(entry["frames"] for entry in timed)
    return {
        "tracker": name,
        "results_dir": str(results_dir),
        "frames": sum(entry["frames"] for entry in summary.values()),
        "seconds": total_seconds if timed else None,
        "fps": total_frames / total_seconds if timed and total_seconds > 0 else None,
        "sequences": summary,
    }


def claim_results_folder(results_dir: Path, setup: dict) -> None:
    """Record ``setup`` in ``results_dir/setup.json``, or check that the record there is the same.

    Raises :class:`InputError` when the folder holds result files of another setup (naming what
    differs), or result files but no record, since resuming would then mix results of two setups.
    A record with no result files beside it (a run that failed before its first sequence) is
    replaced.
    """
    setup = json.loads(json.dumps(setup))  # tuples -> lists, as the record reads back
    record = results_dir / SETUP_FILE
    has_results = any(results_dir.glob("*.txt"))
    if record.is_file() and has_results:  # a record without results (a run that failed first) is replaced
        recorded = json.loads(record.read_text())
        if recorded != setup:
            before, now = _flatten(recorded), _flatten(setup)
            changed = sorted(key for key in before.keys() | now.keys() if before.get(key) != now.get(key))
            raise InputError(
                f"{results_dir} holds results of another setup ({', '.join(changed)} differ); resuming "
                "would mix them: use another results folder (--out) or delete this one"
            )
        return
    if has_results:
        raise InputError(
            f"{results_dir} holds results but no {SETUP_FILE} saying what made them; resuming could mix "
            "two setups: use another results folder (--out) or delete this one"
        )
    write_text_atomic(record, json.dumps(setup, indent=1, sort_keys=True) + "\n")


def _flatten(document: dict, prefix: str = "") -> dict:
    """``{"params": {"seed": 0}}`` -> ``{"params.seed": 0}``."""
    flat = {}
    for key, value in document.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _entry(frames: int, seconds: Optional[float], skipped: bool) -> dict:
    fps = frames / seconds if seconds else None
    return {"frames": frames, "seconds": seconds, "fps": fps, "skipped": skipped}
