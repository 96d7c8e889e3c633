"""``rgbt-tracker import-weights``: start the CMD networks from weights users already have.

``--from pytracking CKPT``: DiMP18 -> student, DiMP50 / SuperDiMP -> teacher
(:mod:`rgbt_tracker_ros.networks.import_pytracking`). Writes a normal model checkpoint (config,
code version, where the weights came from) and prints what happened to every key.
"""
from __future__ import annotations

import argparse
from pathlib import Path

#: Weight sources: name -> module with ``import_<name>(path, config, seed) -> (model, report)``.
SOURCES = {"pytracking": "rgbt_tracker_ros.networks.import_pytracking"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import-weights",
        help="make a model checkpoint from another project's weights (pytracking DiMP18/DiMP50/SuperDiMP)",
        description="Map another project's checkpoint onto a network config and save it as a model "
        "checkpoint. pytracking: DiMP18 -> a student config, DiMP50 / SuperDiMP -> a teacher config "
        "(both streams from the RGB backbone); the config must use roi_pool: prroi (student-dimp18, "
        "teacher-dimp50). The file is read without running any code from it.",
    )
    parser.add_argument("--from", dest="source", required=True, choices=sorted(SOURCES),
                        help="the project the checkpoint comes from")
    parser.add_argument("checkpoint", type=Path, metavar="CKPT", help="the checkpoint to import (e.g. dimp18.pth)")
    parser.add_argument("--model-config", required=True, metavar="NAME|PATH",
                        help="target network config (student-dimp18, teacher-dimp50 or a YAML with roi_pool: prroi)")
    parser.add_argument("--out", type=Path, required=True, metavar="OUT.pt", help="model checkpoint to write")
    parser.add_argument("--report-json", type=Path, metavar="PATH", help="also write the full report as JSON")
    parser.add_argument("--verbose", action="store_true", help="list every key in the printed report")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the initialisation of modules without a counterpart (default 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import importlib
    import json

    from rgbt_tracker_ros.atomic_files import write_text_atomic
    from rgbt_tracker_ros.networks.checkpoint import save_checkpoint

    module = importlib.import_module(SOURCES[args.source])
    model, report = getattr(module, f"import_{args.source}")(args.checkpoint, args.model_config, seed=args.seed)
    counts = report.counts()
    extra = {"imported_from": {"source": args.source, "file": args.checkpoint.name, "network": report.network,
                               "constructor": report.checkpoint.get("constructor"), **counts}}
    training_data = (f"imported from {args.source} {report.network} ({args.checkpoint.name}); "
                     f"modules without a counterpart freshly initialised (seed {args.seed})")
    path = save_checkpoint(args.out, model, training_data=training_data, extra=extra)
    print(report.format(verbose=args.verbose))
    if args.report_json:
        write_text_atomic(args.report_json, json.dumps(report.to_dict(), indent=2) + "\n")
        print(f"report: {args.report_json}")
    print(f"wrote {path} (config {model.config.name})")
    return 0
