"""``rgbt-tracker speed``: time trackers on one generated sequence, print a table, write JSON."""
from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_TRACKERS = ("dimp:student-r18", "dimp:teacher-r50", "csrt-rgb", "kcf-rgb")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "speed",
        help="speed/memory benchmark of trackers on one machine (table + JSON)",
        description="Times each tracker on the same generated synthetic sequence in one run and reports "
        "per-frame latency, FPS, peak memory and the time ratio to the first tracker.",
    )
    parser.add_argument(
        "--trackers", nargs="+", default=list(DEFAULT_TRACKERS),
        help="trackers: dimp:<model config> (random weights: speed only), dimp:<checkpoint.pt>, "
        "csrt-rgb, csrt-thermal, kcf-rgb, kcf-thermal (default: %(default)s)",
    )
    parser.add_argument("--frames", type=int, default=40, help="frames of the timed sequence (default 40)")
    parser.add_argument("--warmup", type=int, default=3, help="frames not timed after init (default 3)")
    parser.add_argument("--size", default="640x480", help="image size WxH (default 640x480, LasHeR's)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
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
    if args.threads:
        torch.set_num_threads(args.threads)
    scenario = ScenarioSpec(name="speed", seed=100000, frames=args.frames, width=width, height=height)
    rows = run_speed_benchmark(args.trackers, scenario, args.device, args.warmup, args.threads,
                               progress=lambda s: print(f"timing {s} ..."))
    machine = machine_description()
    print(format_table(rows, machine))
    if args.json:
        write_json(args.json, rows, machine, {"frames": args.frames, "size": [width, height], "device": args.device})
        print(f"wrote {args.json}")
    return 0
