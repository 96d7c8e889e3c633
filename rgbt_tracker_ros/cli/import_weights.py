"""``rgbt-tracker import-weights``: start the networks from weights users already have.

``--from pytracking CKPT``: DiMP18 -> student, DiMP50 / SuperDiMP -> teacher
(:mod:`rgbt_tracker_ros.networks.import_pytracking`); ``--from timm|mae|dropmae CKPT``: a ViT -> AINet's
backbone (:mod:`rgbt_tracker_ros.networks.import_timm`); ``--from ostrack|droptrack CKPT``: an OSTrack /
DropTrack tracker -> AINet's backbone and head (:mod:`rgbt_tracker_ros.networks.import_ostrack`). Writes a
normal model checkpoint (config, code version, where the weights came from) and prints what happened to
every key.
"""
from __future__ import annotations

import argparse
from pathlib import Path

#: Weight sources: name -> (module, function ``(path, config, seed) -> (model, report)``, takes ``source=``).
SOURCES = {
    "pytracking": ("rgbt_tracker_ros.networks.import_pytracking", "import_pytracking", False),
    "timm": ("rgbt_tracker_ros.networks.import_timm", "import_timm", True),
    "mae": ("rgbt_tracker_ros.networks.import_timm", "import_timm", True),
    "dropmae": ("rgbt_tracker_ros.networks.import_timm", "import_timm", True),
    "ostrack": ("rgbt_tracker_ros.networks.import_ostrack", "import_ostrack", True),
    "droptrack": ("rgbt_tracker_ros.networks.import_ostrack", "import_ostrack", True),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import-weights",
        help="make a model checkpoint from another project's weights (pytracking DiMP18/DiMP50/SuperDiMP; "
        "timm / MAE / DropMAE ViTs and OSTrack / DropTrack trackers for AINet)",
        description="Map another project's checkpoint onto a network config and save it as a model "
        "checkpoint. pytracking: DiMP18 -> a student config, DiMP50 / SuperDiMP -> a teacher config "
        "(both streams from the RGB backbone); the config must use roi_pool: prroi (student-dimp18, "
        "teacher-dimp50). timm / mae / dropmae: a ViT state dict -> the shared ViT of an AINet config "
        "(ainet-vitb), position embeddings resized to the template and search grids. ostrack / droptrack: "
        "a tracker checkpoint -> the ViT and the center head of an AINet config. The file is read without "
        "running any code from it.",
    )
    parser.add_argument("--from", dest="source", required=True, choices=sorted(SOURCES),
                        help="the project the checkpoint comes from")
    parser.add_argument("checkpoint", type=Path, metavar="CKPT", help="the checkpoint to import (e.g. dimp18.pth)")
    parser.add_argument("--model-config", required=True, metavar="NAME|PATH",
                        help="target network config (pytracking: student-dimp18, teacher-dimp50 or a YAML with "
                        "roi_pool: prroi; the others: ainet-vitb or an AINet YAML)")
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

    module_name, function, takes_source = SOURCES[args.source]
    importer = getattr(importlib.import_module(module_name), function)
    extra_args = {"source": args.source} if takes_source else {}
    model, report = importer(args.checkpoint, args.model_config, seed=args.seed, **extra_args)
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
