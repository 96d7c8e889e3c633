"""``rgbt-tracker speed``: time trackers stage by stage on one generated sequence, against the device's
matmul floor, per backend and precision; optionally the track node's overhead (ROS-free); table + JSON."""
from __future__ import annotations

import argparse
from pathlib import Path

from rgbt_tracker_ros.tracking.backends import BACKEND_NAMES, PRECISION_NAMES

DEFAULT_TRACKERS = ("dimp:student-r18", "dimp:teacher-r50", "csrt-rgb", "kcf-rgb")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "speed",
        help="speed/memory benchmark of trackers on one machine: stages, FLOPs floor, backends (table + JSON)",
        description="Times each tracker x backend x precision on the same generated synthetic sequence in one "
        "run, each in its own process: per-stage median times, per-frame latency (median, IQR, p95), FPS, peak "
        "memory, parameters, GFLOPs per tracked frame and the fraction of the device's measured matmul "
        "throughput they reach, and the time ratio to the first row.",
    )
    parser.add_argument(
        "--trackers", nargs="+", default=list(DEFAULT_TRACKERS),
        help="trackers: dimp:<model config> (random weights: speed only), dimp:<checkpoint.pt>, "
        "ainet:<model config> (e.g. ainet-tiny, ainet-vitb), ainet:<checkpoint.pt> (torch backend, ainet "
        "parameters), csrt-rgb, csrt-thermal, kcf-rgb, kcf-thermal (default: %(default)s)",
    )
    parser.add_argument("--backends", nargs="+", default=["torch"], choices=BACKEND_NAMES,
                        help="inference backends of the dimp trackers (default torch)")
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=PRECISION_NAMES,
                        help="precisions, each where the backend and device run it (fp16 and tensorrt: CUDA; "
                        "onnxruntime: fp32) (default fp32)")
    parser.add_argument("--params", nargs="+", default=["dimp"], metavar="NAME|YAML",
                        help="dimp tracker parameters, one row each (bundled name or YAML; default dimp)")
    parser.add_argument("--frames", type=int, default=40, help="frames of the timed sequence (default 40)")
    parser.add_argument("--warmup", type=int, default=3, help="frames not timed after init (default 3)")
    parser.add_argument("--repeats", type=int, default=1, help="times the sequence is tracked (default 1)")
    parser.add_argument("--size", default="640x480", help="image size WxH (default 640x480, LasHeR's)")
    parser.add_argument("--family", default="basic", choices=("basic", "drone"),
                        help="scenario family of the generated sequence: basic (one target, flat scene) or drone "
                        "(small target among look-alikes, textured; use with --size 1920x1080) (default basic)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--node-overhead", action="store_true",
                        help="also measure the track node's per-frame overhead over the bare tracker, ROS-free, "
                        "on a generated bag of --size with the bundled demo model")
    parser.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from rgbt_tracker_ros.data.synthetic import ScenarioSpec
    from rgbt_tracker_ros.errors import InputError
    from rgbt_tracker_ros.evaluation.speed import format_table, machine_description, run_speed_benchmark, write_json

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError as exc:
        raise InputError(f"--size must be WxH, e.g. 640x480; got {args.size!r}") from exc
    if args.repeats < 1:
        raise InputError(f"--repeats must be at least 1, got {args.repeats}")
    if args.threads:
        torch.set_num_threads(args.threads)
    scenario = ScenarioSpec(name="speed", seed=100000, frames=args.frames, width=width, height=height,
                            family=args.family)
    rows = run_speed_benchmark(args.trackers, scenario, args.device, args.warmup, args.threads,
                               progress=lambda s: print(f"timing {s} ..."), backends=args.backends,
                               precisions=args.precisions, repeats=args.repeats, params=args.params)
    machine = machine_description()
    print(format_table(rows, machine))
    overhead = None
    if args.node_overhead:
        from rgbt_tracker_ros.evaluation.node_overhead import format_node_overhead, measure_node_overhead
        from rgbt_tracker_ros.tracking.factory import create_tracker

        result = measure_node_overhead(create_tracker("dimp", device=args.device), frames=args.frames,
                                       size=(width, height))
        result.tracker = "dimp (bundled demo model)"
        print()
        print(format_node_overhead(result))
        overhead = result.to_dict()
    if args.json:
        setup = {"frames": args.frames, "warmup": args.warmup, "repeats": args.repeats, "size": [width, height],
                 "family": args.family,
                 "device": args.device, "backends": args.backends, "precisions": args.precisions,
                 "params": args.params}
        write_json(args.json, rows, machine, setup, overhead)
        print(f"wrote {args.json}")
    return 0
