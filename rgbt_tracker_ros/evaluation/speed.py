"""Speed and memory benchmark: trackers on one generated sequence, on one machine, in one run.

Absolute times depend on the machine, so the report names it (CPU model, threads, GPU) and every row
also carries its ratio to the first tracker: those ratios (student vs teacher, ours vs OpenCV) are the
numbers that carry over between machines. Network speed does not depend on the weights, so a tracker
can be given by model config (``dimp:student-r18``, random initialisation) as well as by checkpoint.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import platform
import resource
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.data.synthetic import ScenarioSpec
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.evaluation.benchmark import track_pairs
from rgbt_tracker_ros.tracking.base import Tracker


@dataclass
class SpeedRow:
    """Timing of one tracker over the benchmark sequence (milliseconds unless named otherwise)."""

    tracker: str
    parameters_m: Optional[float]
    init_ms: float
    mean_ms: float
    median_ms: float
    p95_ms: float
    fps: float
    peak_memory_mb: float
    memory_kind: str
    relative_time: float = 1.0


def machine_description() -> dict:
    """CPU model, core count, torch threads and GPU (if any): what absolute times depend on."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
    }


def build_speed_tracker(spec: str, device: str = "auto") -> tuple[Tracker, Optional[float]]:
    """A tracker from ``spec``: an OpenCV baseline name, ``dimp:<config>`` or ``dimp:<checkpoint.pt>``.

    Returns the tracker and its network's parameter count in millions (``None`` for OpenCV).
    """
    from rgbt_tracker_ros.tracking.factory import create_tracker

    if not spec.startswith("dimp:"):
        return create_tracker(spec, device=device), None
    source = spec.split(":", 1)[1]
    if source.endswith(".pt") or Path(source).is_file():
        tracker = create_tracker("dimp", model=source, device=device)
    else:
        from rgbt_tracker_ros.networks.config import build_model, load_config
        from rgbt_tracker_ros.tracking.dimp import DiMPTracker

        model = build_model(load_config(source), pretrained="none")
        tracker = DiMPTracker(model, device=device, name=f"dimp-{source}")
    count = sum(p.numel() for p in tracker.model.parameters()) / 1e6
    return tracker, count


def time_tracker(tracker: Tracker, frames: Sequence[FramePair], warmup: int = 3) -> tuple[float, np.ndarray]:
    """Initialise on ``frames[0]`` with its ground truth, track the rest.

    Returns the initialisation time and the per-frame times (seconds) after ``warmup`` frames.
    """
    if len(frames) < warmup + 2:
        raise InputError(f"need at least {warmup + 2} frames to time a tracker, got {len(frames)}")
    _, seconds = track_pairs(tracker, frames, frames[0].gt_rgb, "speed benchmark")
    return float(seconds[0]), seconds[1 + warmup:]


def _peak_memory(device: str) -> tuple[float, str]:
    import torch

    if device != "cpu" and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20, "CUDA max allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process max RSS (own process per tracker)"


def time_in_this_process(spec: str, scenario: ScenarioSpec, device: str, warmup: int, threads: Optional[int]) -> SpeedRow:
    """Build tracker ``spec``, time it on the frames of ``scenario``; peak memory of this process."""
    import torch

    from rgbt_tracker_ros.data.synthetic import generate_sequence

    if threads:
        torch.set_num_threads(threads)
    frames = list(generate_sequence(scenario))
    tracker, params_m = build_speed_tracker(spec, device)
    init_time, times = time_tracker(tracker, frames, warmup)
    peak, kind = _peak_memory(device)
    return SpeedRow(
        tracker=spec,
        parameters_m=None if params_m is None else round(params_m, 2),
        init_ms=1000 * init_time,
        mean_ms=1000 * float(times.mean()),
        median_ms=1000 * float(np.median(times)),
        p95_ms=1000 * float(np.percentile(times, 95)),
        fps=float(1.0 / times.mean()),
        peak_memory_mb=peak,
        memory_kind=kind,
    )


def run_speed_benchmark(
    specs: Sequence[str],
    scenario: ScenarioSpec,
    device: str = "auto",
    warmup: int = 3,
    threads: Optional[int] = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> list[SpeedRow]:
    """Time every tracker in ``specs`` on the frames of ``scenario``, one fresh process each (so
    peak memory is the tracker's own); ratios are relative to ``specs[0]``."""
    context = multiprocessing.get_context("spawn")
    rows: list[SpeedRow] = []
    for spec in specs:
        progress(spec)
        with context.Pool(1) as pool:
            rows.append(pool.apply(time_in_this_process, (spec, scenario, device, warmup, threads)))
    for row in rows:
        row.relative_time = row.mean_ms / rows[0].mean_ms
    return rows


def format_table(rows: Sequence[SpeedRow], machine: dict) -> str:
    """A plain-text table of ``rows`` with the machine named in its header."""
    header = (
        f"machine: {machine['cpu']} ({machine['cpu_count']} cores, torch threads {machine['torch_threads']}), "
        f"GPU: {machine['gpu'] or 'none'}\n"
        f"{'tracker':<26}{'params M':>9}{'init ms':>9}{'mean ms':>9}{'median':>9}{'p95':>9}{'FPS':>8}"
        f"{'x time':>8}{'peak MB':>9}"
    )
    lines = [header]
    for r in rows:
        params = "-" if r.parameters_m is None else f"{r.parameters_m:.2f}"
        lines.append(
            f"{r.tracker:<26}{params:>9}{r.init_ms:>9.1f}{r.mean_ms:>9.1f}{r.median_ms:>9.1f}{r.p95_ms:>9.1f}"
            f"{r.fps:>8.1f}{r.relative_time:>8.2f}{r.peak_memory_mb:>9.0f}"
        )
    lines.append(f"(x time: mean time per frame relative to {rows[0].tracker}; peak MB: {rows[0].memory_kind})")
    return "\n".join(lines)


def write_json(path: Path, rows: Sequence[SpeedRow], machine: dict, setup: dict) -> None:
    """Write the rows, the machine and the benchmark setup as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine, "setup": setup, "rows": [asdict(r) for r in rows]}, indent=2))
