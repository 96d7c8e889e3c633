"""Speed and memory benchmark: trackers on one generated sequence, on one machine, in one run.

Every row is one tracker x inference backend x precision, timed in a fresh process (so peak memory
is its own) on the same frames: initialise on frame 0, track the rest, ``repeats`` times; the first
``warmup`` tracked frames of each repeat are not timed. Per frame it records the tracker's stages
(``TrackResult.timings``), and for the PyTorch backend splits the feature stage into backbone and
fusion with forward hooks (synchronising CUDA, so asynchronous kernels land in their stage):

- ``crop``: both modalities warped to the search crop, to tensors;
- ``features``: backbone + fusion + classification features (one exported graph for onnxruntime /
  tensorrt), of which ``backbone`` and ``fusion`` (PyTorch backend only);
- ``classify``: the filter correlation; ``localize``: peak finding and state (post-processing);
- ``refine``: IoU-Net box refinement (5 gradient steps, 10 boxes); ``update``: sample memory and
  the filter optimiser (every 20th frame and after hard negatives: DiMP's classifier optimisation);
- ``total``: the ``track`` call.

The floor: the FLOPs a tracked frame executes (matrix products and convolutions, counted by
:class:`~rgbt_tracker_ros.networks.flops.FlopCount` over the tracker's own ``track`` calls with the
PyTorch backend, the IoU refinement's backward passes included), divided by the dense matrix-product
throughput this process measures on the same device, dtype and thread count
(:func:`matmul_throughput`). ``floor_fraction`` = floor / measured time: how close the tracker runs
to what the device can do; the rest goes to memory-bound layers, Python and small-kernel overhead.

Absolute times depend on the machine, so the report names it; ratios between rows are what carry
over. Network speed does not depend on the weights, so a tracker can be given by model config
(``dimp:student-r18``, ``ainet:ainet-tiny``, random initialisation) as well as by checkpoint.

AINet rows (``ainet:<config|checkpoint>``, the OSTrack-style tracker with its ``ainet`` parameters) run on the
PyTorch backend only; their stages are ``crop``, ``features`` (the whole network: ViT, DFM, OFM, head) and
``localize`` (peak, state, box), and their FLOPs are :func:`~rgbt_tracker_ros.networks.flops.ainet_flops`'s
(attention through the math kernel, the selective scans counted analytically).
"""
from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import platform
import resource
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.data.synthetic import ScenarioSpec
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.evaluation.benchmark import track_pairs
from rgbt_tracker_ros.tracking.base import Tracker

#: Stage columns of the table, in pipeline order.
STAGES = ("crop", "features", "backbone", "fusion", "classify", "localize", "refine", "update", "total")
#: The trackers' own timing keys (tracking.dimp; tracking.ostrack's ``network``) behind the stage columns.
_TRACKER_STAGES = {"crop": ("preprocess",), "features": ("backbone", "network"), "classify": ("classify",),
                   "localize": ("localize",), "refine": ("refine",), "update": ("update",), "total": ("total",)}
#: Network tracker families of a spec ``<family>:<config|checkpoint>``.
NETWORK_FAMILIES = ("dimp", "ainet")
#: Precision -> torch dtype name of the matrix products the floor is measured with.
_MATMUL_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


@dataclass
class SpeedRow:
    """One tracker x backend x precision (milliseconds unless named otherwise)."""

    tracker: str
    backend: str
    precision: str
    tracker_params: str
    parameters_m: Optional[float]
    gflops_per_frame: Optional[float]
    init_ms: float
    mean_ms: float
    median_ms: float
    iqr_ms: float
    p95_ms: float
    fps: float
    repeat_medians_ms: list[float]
    stages_ms: dict[str, Optional[float]]
    matmul_gflops_per_s: Optional[float]
    floor_ms: Optional[float]
    floor_fraction: Optional[float]
    peak_memory_mb: float
    memory_kind: str
    relative_time: float = 1.0
    notes: list[str] = field(default_factory=list)


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


def matmul_throughput(device: str = "cpu", precision: str = "fp32", seconds: float = 0.3, windows: int = 3) -> float:
    """Dense matrix-product throughput (GFLOP/s) of this process: square products of side 1024
    (CPU) or 4096 (CUDA) in the precision's dtype, repeated for about ``seconds`` after one warm-up;
    the best of ``windows`` such windows (a shared machine only ever makes it slower)."""
    import torch

    dtype = getattr(torch, _MATMUL_DTYPES[precision])
    side = 4096 if device.startswith("cuda") else 1024
    a = torch.randn(side, side, device=device).to(dtype)
    b = torch.randn(side, side, device=device).to(dtype)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    torch.mm(a, b)
    sync()
    rates = []
    for _ in range(windows):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            torch.mm(a, b)
            count += 1
            sync()
        rates.append(2.0 * side**3 * count / (time.perf_counter() - start) / 1e9)
    return max(rates)


def build_speed_tracker(spec: str, device: str = "auto", backend: str = "torch", precision: Optional[str] = None,
                        params: Optional[str] = None) -> tuple[Tracker, Optional[float]]:
    """A tracker from ``spec``: an OpenCV baseline name, ``dimp:<config>``, ``dimp:<checkpoint.pt>``,
    ``ainet:<config>`` or ``ainet:<checkpoint.pt>`` (``params``: its tracker parameters, bundled name or
    YAML; default the family's: dimp, ainet).

    A DiMP network given by config has random weights (seeded, the same in every row): its scores
    mean nothing, so it runs with ``target_not_found_threshold`` 0 and every frame goes through every
    stage (IoU refinement included), as it does for a trained network that holds the target.

    Returns the tracker and its network's parameter count in millions (``None`` for OpenCV).
    """
    from rgbt_tracker_ros.tracking.factory import create_tracker

    family = network_family(spec)
    if family is None:
        return create_tracker(spec, device=device), None
    source = spec.split(":", 1)[1]
    random_weights = not (source.endswith(".pt") or Path(source).is_file())
    if not random_weights:
        from rgbt_tracker_ros.networks.checkpoint import load_checkpoint

        model, _ = load_checkpoint(source)
        name = f"{family}-{Path(source).stem}"
    else:
        import torch

        from rgbt_tracker_ros.networks.config import build_model, load_config

        torch.manual_seed(0)  # the same random weights in every row and run (they decide what DiMP's steps do)
        model = build_model(load_config(source), pretrained="none")
        name = f"{family}-{source}"
    if model.config.family != family:
        raise InputError(f"speed tracker {spec!r}: {source} is a {model.config.family} network; write "
                         f"{model.config.family}:{source}")
    if family == "ainet":
        from rgbt_tracker_ros.tracking.ostrack import OSTrackTracker

        if backend != "torch":
            raise InputError(f"speed tracker {spec!r}: AINet runs on the torch backend only")
        tracker = OSTrackTracker(model, params, device=device, name=name)
        return tracker, sum(p.numel() for p in model.parameters()) / 1e6
    from rgbt_tracker_ros.tracking.dimp import DiMPTracker
    from rgbt_tracker_ros.tracking.params import load_params

    tracker_params = load_params(params)
    if random_weights:  # a random network finds nothing: time every stage as for a found target
        tracker_params = dataclasses.replace(tracker_params, target_not_found_threshold=0.0)
    tracker = DiMPTracker(model, tracker_params, device=device, name=name, backend=backend, precision=precision)
    count = sum(p.numel() for p in tracker.model.parameters()) / 1e6
    return tracker, count


class ModuleClock:
    """Wall time spent in groups of modules (forward hooks), CUDA synchronised at each boundary."""

    def __init__(self, groups: dict[str, list], cuda: bool) -> None:
        import torch

        self.seconds: dict[str, float] = defaultdict(float)
        self._sync = torch.cuda.synchronize if cuda else (lambda: None)
        self._starts: dict[int, float] = {}
        self._handles = []
        for group, modules in groups.items():
            for module in modules:
                self._handles.append(module.register_forward_pre_hook(self._enter))
                self._handles.append(module.register_forward_hook(
                    lambda module, _inputs, _output, group=group: self._leave(module, group)))

    def _enter(self, module, _inputs) -> None:
        self._sync()
        self._starts[id(module)] = time.perf_counter()

    def _leave(self, module, group: str) -> None:
        self._sync()
        self.seconds[group] += time.perf_counter() - self._starts.pop(id(module))

    def take(self) -> dict[str, float]:
        """The times since the last call, reset."""
        seconds, self.seconds = dict(self.seconds), defaultdict(float)
        return seconds

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def network_family(spec: str) -> Optional[str]:
    """``dimp`` / ``ainet`` for a network spec ``<family>:<config|checkpoint>``, ``None`` for an OpenCV baseline."""
    family, colon, _ = spec.partition(":")
    return family if colon and family in NETWORK_FAMILIES else None


def _module_groups(model) -> dict[str, list]:
    """The backbone trunk(s) and the fusion modules of an ``RGBTDiMPNet``."""
    return {"backbone": list(model.backbones), "fusion": list(model.fusion.values())}


def tracked_frame_gflops(tracker: Tracker, frames: Sequence[FramePair], count: int = 10) -> float:
    """GFLOPs per ``track`` call over ``count`` frames after initialising on ``frames[0]``."""
    from rgbt_tracker_ros.networks.flops import FlopCount

    tracker.initialize(frames[0], frames[0].gt_rgb)
    with FlopCount() as counter:
        for pair in frames[1:count + 1]:
            tracker.track(pair)
    return counter.total / min(count, len(frames) - 1) / 1e9


def time_tracker(tracker: Tracker, frames: Sequence[FramePair], warmup: int = 3,
                 repeats: int = 1) -> tuple[float, np.ndarray, list[dict[str, float]], list[float]]:
    """Track ``frames`` ``repeats`` times. Returns the first initialisation time, the per-frame
    seconds after ``warmup`` frames (all repeats), each of those frames' stage seconds, and each
    repeat's median seconds."""
    if len(frames) < warmup + 2:
        raise InputError(f"need at least {warmup + 2} frames to time a tracker, got {len(frames)}")
    model = getattr(tracker, "model", None)
    backend = getattr(tracker, "backend", None)
    clock = None
    if model is not None and getattr(backend, "name", "") == "torch":
        clock = ModuleClock(_module_groups(model), str(getattr(tracker, "device", "cpu")).startswith("cuda"))
    stages: list[dict[str, float]] = []

    def record(_pair: FramePair, result) -> None:
        frame = {column: result.timings[key] for column, keys in _TRACKER_STAGES.items() for key in keys
                 if key in result.timings}
        if clock is not None:
            frame.update(clock.take())
        stages.append(frame)

    init_s, times, medians = None, [], []
    try:
        for _ in range(repeats):
            stages_before = len(stages)
            _, seconds = track_pairs(tracker, frames, frames[0].gt_rgb, "speed benchmark", on_result=record)
            init_s = float(seconds[0]) if init_s is None else init_s
            del stages[stages_before: stages_before + 1 + warmup]  # the init frame and the warm-up
            times.append(seconds[1 + warmup:])
            medians.append(float(np.median(seconds[1 + warmup:])))
    finally:
        if clock is not None:
            clock.remove()
    return init_s, np.concatenate(times), stages, medians


def _peak_memory(device: str) -> tuple[float, str]:
    import torch

    if device != "cpu" and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20, "CUDA max allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process max RSS (own process per row)"


def time_in_this_process(spec: str, backend: str, precision: str, params: str, scenario: ScenarioSpec,
                         device: str, warmup: int, repeats: int, threads: Optional[int]) -> SpeedRow:
    """One row: build the tracker, count its FLOPs and the device's matmul rate, time it."""
    import torch

    from rgbt_tracker_ros.data.synthetic import generate_sequence
    from rgbt_tracker_ros.tracking.device import resolve_device

    if threads:
        torch.set_num_threads(threads)
    frames = list(generate_sequence(scenario))
    is_network = network_family(spec) is not None
    notes = []
    gflops = throughput = tracker = None
    if is_network:  # FLOPs are counted on the PyTorch backend; its tracker is then timed too when it is the row's
        torch_device = str(resolve_device(device))
        counting, params_m = build_speed_tracker(spec, device, "torch", precision if backend == "torch" else None,
                                                 params)
        if network_family(spec) == "ainet":  # one forward pass per frame; scans and fused attention counted
            from rgbt_tracker_ros.networks.flops import ainet_flops

            gflops = ainet_flops(counting.model)["total"] / 1e9
        else:
            gflops = tracked_frame_gflops(counting, frames)
        tracker = counting if backend == "torch" else None
        del counting
        throughput = matmul_throughput(torch_device, precision if precision in _MATMUL_DTYPES else "fp32")
        if backend == "tensorrt":
            notes.append("FLOPs counted on the PyTorch backend (IoU gradients by autograd; tensorrt takes "
                         "finite differences: 9 IoU predictions per box instead of 1 forward + 1 backward)")
    if tracker is None:
        tracker, params_m = build_speed_tracker(spec, device, backend, precision if is_network else None,
                                                params if is_network else None)
    init_time, times, stages, medians = time_tracker(tracker, frames, warmup, repeats)
    peak, kind = _peak_memory(device)
    stage_medians = {s: (float(np.median([f[s] for f in stages])) * 1000 if stages and all(s in f for f in stages)
                         else None) for s in STAGES}
    mean_ms = 1000 * float(times.mean())
    floor_ms = None if gflops is None else 1000 * gflops / throughput
    return SpeedRow(
        tracker=spec, backend=backend if is_network else "-", precision=precision if is_network else "-",
        tracker_params=params if is_network else "-",
        parameters_m=None if params_m is None else round(params_m, 2),
        gflops_per_frame=gflops, init_ms=1000 * init_time, mean_ms=mean_ms,
        median_ms=1000 * float(np.median(times)),
        iqr_ms=1000 * float(np.percentile(times, 75) - np.percentile(times, 25)),
        p95_ms=1000 * float(np.percentile(times, 95)), fps=float(1.0 / times.mean()),
        repeat_medians_ms=[1000 * m for m in medians], stages_ms=stage_medians,
        matmul_gflops_per_s=throughput, floor_ms=floor_ms,
        floor_fraction=None if floor_ms is None else floor_ms / mean_ms,
        peak_memory_mb=peak, memory_kind=kind, notes=notes,
    )


def speed_rows(specs: Sequence[str], backends: Sequence[str], precisions: Sequence[str], device: str,
               params: Sequence[str] = ("dimp",)) -> list[tuple[str, str, str, str]]:
    """(tracker, backend, precision, tracker parameters) of every row the device can run: OpenCV
    once, every network once per backend and precision that backend runs there (fp16 and tensorrt
    need CUDA) and per tracker-parameter file (``params`` are DiMP's; AINet rows run on the torch
    backend with the ``ainet`` parameters)."""
    from rgbt_tracker_ros.tracking.backends import BACKEND_PRECISIONS, check_backend
    from rgbt_tracker_ros.tracking.device import resolve_device

    cuda = resolve_device(device).type == "cuda"
    rows = []
    for spec in specs:
        family = network_family(spec)
        if family is None:
            rows.append((spec, "-", "-", "-"))
            continue
        for backend in backends:
            check_backend(backend)
            if family == "ainet" and backend != "torch":
                continue
            for precision in precisions:
                if precision not in BACKEND_PRECISIONS[backend]:
                    continue
                if not cuda and (backend == "tensorrt" or precision == "fp16"):
                    continue
                rows.extend((spec, backend, precision, name) for name in (params if family == "dimp" else ("ainet",)))
    if not rows:
        raise InputError("no tracker x backend x precision runs on this device; fp16 and tensorrt need CUDA")
    return rows


def run_speed_benchmark(
    specs: Sequence[str],
    scenario: ScenarioSpec,
    device: str = "auto",
    warmup: int = 3,
    threads: Optional[int] = None,
    progress: Callable[[str], None] = lambda _msg: None,
    backends: Sequence[str] = ("torch",),
    precisions: Sequence[str] = ("fp32",),
    repeats: int = 1,
    params: Sequence[str] = ("dimp",),
) -> list[SpeedRow]:
    """Time every row of :func:`speed_rows` on the frames of ``scenario``, one fresh process each;
    ``relative_time`` is relative to the first row."""
    context = multiprocessing.get_context("spawn")
    rows: list[SpeedRow] = []
    for spec, backend, precision, name in speed_rows(specs, backends, precisions, device, params):
        progress(f"{spec} {backend} {precision} {name}")
        with context.Pool(1) as pool:
            rows.append(pool.apply(time_in_this_process,
                                   (spec, backend, precision, name, scenario, device, warmup, repeats, threads)))
    for row in rows:
        row.relative_time = row.mean_ms / rows[0].mean_ms
    return rows


def _label(spec: str) -> str:
    """A tracker spec as a table cell: ``dimp:<checkpoint>`` shows the checkpoint's file stem."""
    family, _, source = spec.partition(":")
    return f"{family}:{Path(source).stem}"[:24] if source.endswith(".pt") else spec[:24]


def _short(params: str) -> str:
    """A tracker-parameter name or YAML path as a table cell (the file's stem)."""
    return Path(params).stem[-12:]


def _cell(value: Optional[float], digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(rows: Sequence[SpeedRow], machine: dict) -> str:
    """Two plain-text tables (per-frame summary; stages and floor) with the machine in the header."""
    lines = [
        f"machine: {machine['cpu']} ({machine['cpu_count']} cores, torch threads {machine['torch_threads']}), "
        f"GPU: {machine['gpu'] or 'none'}",
        f"{'tracker':<24}{'backend':>12}{'prec':>6}{'tparams':>12}{'params M':>9}{'GFLOP':>7}{'init ms':>9}"
        f"{'mean ms':>9}{'median':>8}{'IQR':>7}{'p95':>8}{'FPS':>7}{'x time':>7}{'peak MB':>8}",
    ]
    for r in rows:
        lines.append(
            f"{_label(r.tracker):<24}{r.backend:>12}{r.precision:>6}{_short(r.tracker_params):>12}"
            f"{_cell(r.parameters_m, 2):>9}{_cell(r.gflops_per_frame):>7}{r.init_ms:>9.1f}{r.mean_ms:>9.1f}"
            f"{r.median_ms:>8.1f}{r.iqr_ms:>7.1f}{r.p95_ms:>8.1f}{r.fps:>7.1f}{r.relative_time:>7.2f}"
            f"{r.peak_memory_mb:>8.0f}"
        )
    lines.append("")
    lines.append("median ms per stage; floor = GFLOP / measured matmul GFLOP/s; floor % = floor / mean time")
    lines.append(f"{'tracker':<24}{'backend':>12}{'prec':>6}{'tparams':>12}" + "".join(f"{s:>9}" for s in STAGES)
                 + f"{'matmul GF/s':>12}{'floor ms':>9}{'floor %':>8}")
    for r in rows:
        if r.gflops_per_frame is None and r.stages_ms.get("total") is None:
            continue
        fraction = None if r.floor_fraction is None else 100 * r.floor_fraction
        lines.append(f"{_label(r.tracker):<24}{r.backend:>12}{r.precision:>6}{_short(r.tracker_params):>12}"
                     + "".join(f"{_cell(r.stages_ms.get(s)):>9}" for s in STAGES)
                     + f"{_cell(r.matmul_gflops_per_s, 0):>12}{_cell(r.floor_ms):>9}{_cell(fraction):>8}")
    lines.append("(tparams: tracker parameters; x time: mean time per frame relative to the first row; "
                 f"IQR: p75 - p25 of the per-frame times; peak MB: {rows[0].memory_kind})")
    for note in sorted({n for r in rows for n in r.notes}):
        lines.append(f"note: {note}")
    return "\n".join(lines)


def write_json(path: Path, rows: Sequence[SpeedRow], machine: dict, setup: dict,
               node_overhead: Optional[dict] = None) -> None:
    """Write the rows, the machine, the benchmark setup and the node overhead (if measured) as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine, "setup": setup, "rows": [asdict(r) for r in rows]}
    if node_overhead is not None:
        payload["node_overhead"] = node_overhead
    path.write_text(json.dumps(payload, indent=2))
