"""``rgbt-tracker benchmark``: run trackers over a dataset, then evaluate them with its protocol.

Results land in ``<out>/<tracker>/<sequence>.txt`` and are reused on the next run (sequences whose
result file is complete are skipped). Several ``--tracker`` names give one comparison table, one
set of plots and one JSON report; the JSON also holds each tracker's per-sequence speed.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from rgbt_tracker_ros.cli.evaluate import PROTOCOL_NAMES, add_report_arguments
from rgbt_tracker_ros.cli.track import add_backend_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "benchmark",
        help="run trackers over a dataset (resumable) and evaluate them",
        description="Track every sequence of a dataset from its first ground-truth box (one-pass "
        "evaluation), save the boxes, then score them with the dataset's official protocol.",
    )
    parser.add_argument("--dataset", required=True, type=Path, metavar="DIR",
                        help="dataset root: a folder of LasHeR/RGBT234/RGBT210/GTOT-style sequence folders")
    parser.add_argument("--tracker", action="append", metavar="NAME",
                        help="tracker to run; repeat to compare (dimp, ainet, csrt-rgb, csrt-thermal, kcf-rgb, "
                        "kcf-thermal; default: dimp)")
    parser.add_argument("--model", metavar="CKPT",
                        help="checkpoint for the dimp tracker (default: the bundled demo checkpoint) or the ainet "
                        "tracker (required)")
    parser.add_argument("--params", metavar="NAME|YAML",
                        help="tracker parameters: bundled name or YAML file (default: dimp for dimp, ainet for ainet)")
    parser.add_argument("--device", default="auto",
                        help="torch device for the networks: auto, cpu, cuda[:N] (default auto)")
    add_backend_arguments(parser)
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="results folder, reused to resume (default: results/<dataset folder name>)")
    parser.add_argument("--protocol", choices=PROTOCOL_NAMES,
                        help="evaluation protocol (default: gtot for GTOT folders, rgbt234/rgbt210 when the "
                        "root holds that benchmark, else lasher, as for the LasHeR-style synthetic sets)")
    parser.add_argument("--layout", default="auto", choices=("auto", "lasher", "rgbt234", "rgbt210", "gtot"),
                        help="sequence folder layout for reading images (default: detected per folder)")
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    add_report_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rgbt_tracker_ros.cli.evaluate import write_outputs
    from rgbt_tracker_ros.data.datasets import open_dataset
    from rgbt_tracker_ros.evaluation.benchmark import run_benchmark
    from rgbt_tracker_ros.evaluation.protocols import get_protocol
    from rgbt_tracker_ros.evaluation.report import evaluate_results
    from rgbt_tracker_ros.evaluation.sources import detect_protocol, resolve_sequences
    from rgbt_tracker_ros.tracking.factory import check_tracker_name, create_tracker, describe_setup

    trackers = list(dict.fromkeys(args.tracker or ["dimp"]))
    for name in trackers:
        check_tracker_name(name)
    protocol = get_protocol(args.protocol or detect_protocol(args.dataset))
    selection = resolve_sequences(protocol, args.dataset, args.sequences)
    sequences = open_dataset(args.dataset, args.layout, selection.names)
    out_dir = args.out if args.out is not None else Path("results") / args.dataset.resolve().name

    speed = {}
    for tracker_name in trackers:
        run_summary = run_benchmark(
            lambda tracker_name=tracker_name: create_tracker(tracker_name, args.model, args.params, args.device,
                                                             args.backend, args.export_dir),
            sequences,
            out_dir,
            name=tracker_name,
            progress=not args.no_progress,
            setup=describe_setup(tracker_name, args.model, args.params, args.backend),
        )
        done = sum(not entry["skipped"] for entry in run_summary["sequences"].values())
        fps = f", {run_summary['fps']:.1f} fps" if run_summary["fps"] else ""
        print(f"{tracker_name}: tracked {done} sequence(s), {len(sequences) - done} already complete{fps}")
        speed[tracker_name] = run_summary

    report = evaluate_results(protocol, {name: out_dir / name for name in trackers}, args.dataset, args.sequences)
    write_outputs(report, args.json, args.plots, extra={"speed": speed})
    return 0
