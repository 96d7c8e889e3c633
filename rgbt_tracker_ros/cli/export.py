"""``rgbt-tracker export``: turn a training checkpoint into a deployable one.

Today: a model checkpoint re-saved with its floating-point weights in fp16 (half the size, loaded
back as fp32), keeping its config, code version and training-data description. This is how the
bundled demo checkpoint is made.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="re-save a model checkpoint for deployment (fp16 weights)",
        description="Re-save a model checkpoint (e.g. RUN/checkpoints/epoch_008.pt) with fp16 weights: "
        "half the size, same config, code version and training-data description.",
    )
    parser.add_argument("checkpoint", type=Path, help="model checkpoint to export (not a last.pt training state)")
    parser.add_argument("--out", type=Path, required=True, help="output checkpoint path")
    parser.add_argument("--training-data", default=None,
                        help="replace the stored training-data description (default: keep it)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rgbt_tracker_ros.networks.checkpoint import load_checkpoint, save_checkpoint

    model, meta = load_checkpoint(args.checkpoint)
    training_data = meta.get("training_data", "") if args.training_data is None else args.training_data
    extra = dict(meta.get("extra") or {}, exported_from=args.checkpoint.name)
    path = save_checkpoint(args.out, model, meta["config"], training_data=training_data, extra=extra, fp16=True)
    size_mb = path.stat().st_size / 1e6
    print(f"wrote {path} ({size_mb:.1f} MB, fp16) from {args.checkpoint}: config {meta['config'].name}, "
          f"trained on: {training_data or 'not recorded'}")
    return 0
