"""``rgbt-tracker evaluate``: score result files with an official benchmark protocol.

Prints a table naming the protocol; optionally writes the JSON report and the precision/success
plots. ``--results NAME=DIR`` may repeat to compare trackers in one table and one plot, with each tracker's
paired per-sequence differences against the first (mean, standard error, sequences better / worse).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PROTOCOL_NAMES = ("lasher", "rgbt234", "rgbt210", "gtot", "otb")


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared with ``benchmark``: sequence selection and report outputs."""
    parser.add_argument(
        "--sequences",
        metavar="FILE|all",
        help="sequence list file (one name per line) or 'all' (every sequence found); default: the "
        "protocol's official test list when the annotation root has all of it, else every sequence found",
    )
    parser.add_argument("--json", metavar="OUT", type=Path, help="write the full report (scores, curves) as JSON")
    parser.add_argument("--plots", metavar="DIR", type=Path, help="write precision and success plots (PNG) here")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score tracking results with an official benchmark protocol",
        description="Score result files (<sequence>.txt, 4 or 8 numbers a line) exactly as the official "
        "toolkit of the chosen benchmark does: LasHeR (PR/NPR/SR), RGBT234/RGBT210 (MPR/MSR), GTOT (pooled "
        "MPR/MSR) or the OTB/pytracking convention.",
    )
    parser.add_argument(
        "--protocol",
        required=True,
        choices=PROTOCOL_NAMES,
        help="evaluation protocol (named in every report)",
    )
    parser.add_argument(
        "--results",
        required=True,
        action="append",
        metavar="[NAME=]DIR",
        help="folder of <sequence>.txt result files; repeat as NAME=DIR to compare trackers",
    )
    parser.add_argument(
        "--annotations",
        required=True,
        type=Path,
        metavar="DIR",
        help="dataset root in its native layout (only the ground-truth files are needed)",
    )
    add_report_arguments(parser)
    parser.set_defaults(func=run)


def write_outputs(report, json_path: Path | None, plots_dir: Path | None, extra: dict | None = None) -> None:
    """Print the notes and warnings (stderr), the table, for synthetic sets the per-family table and, for two or
    more trackers, their paired differences against the first; write the JSON report (plus ``extra`` top-level
    entries) and the plots when asked."""
    from rgbt_tracker_ros.evaluation.report import (format_family_table, format_paired_table, format_table,
                                                    report_to_dict)

    for line in report.notes + report.warnings():
        print(line, file=sys.stderr)
    print(format_table(report))
    family_table = format_family_table(report)
    if family_table is not None:
        print("\n" + family_table)
    paired_table = format_paired_table(report)
    if paired_table is not None:
        print("\n" + paired_table)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        document = {**report_to_dict(report), **(extra or {})}
        json_path.write_text(json.dumps(document, indent=2) + "\n")
        print(f"report written to {json_path}")
    if plots_dir is not None:
        from rgbt_tracker_ros.evaluation.plots import save_plots

        for path in save_plots(report, plots_dir):
            print(f"plot written to {path}")


def run(args: argparse.Namespace) -> int:
    from rgbt_tracker_ros.errors import InputError
    from rgbt_tracker_ros.evaluation.protocols import get_protocol
    from rgbt_tracker_ros.evaluation.report import evaluate_results, parse_results_argument

    protocol = get_protocol(args.protocol)
    results: dict[str, Path] = {}
    for value in args.results:
        name, folder = parse_results_argument(value)
        if name in results:
            raise InputError(f"--results: tracker name {name!r} given twice; use NAME=DIR to tell them apart")
        results[name] = folder
    report = evaluate_results(protocol, results, args.annotations, args.sequences)
    write_outputs(report, args.json, args.plots)
    return 0
