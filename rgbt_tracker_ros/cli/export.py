"""``rgbt-tracker export``: turn a training checkpoint into a deployable one.

- ``--format pt`` (default): the checkpoint re-saved with fp16 weights (half the size, loaded back as
  fp32), keeping its config, code version and training-data description; how the bundled demo
  checkpoint is made.
- ``--format onnx``: the per-frame graphs (``tracking.backends.onnx_export``) for the onnxruntime /
  tensorrt backends, with their parity against PyTorch printed.
- ``--format tensorrt``: the ONNX export plus TensorRT engines built from it (on the target GPU).

``--interpolate-with BASE --weight W`` exports ``(1 - W) BASE + W CHECKPOINT`` instead
(``networks.checkpoint.interpolate_weights``), with both sources recorded in the checkpoint.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

FORMATS = ("pt", "onnx", "tensorrt")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a model checkpoint for deployment (fp16 checkpoint, ONNX graphs, TensorRT engines)",
        description="Re-save a model checkpoint (e.g. RUN/checkpoints/epoch_008.pt) with fp16 weights, or export "
        "its per-frame networks to ONNX (parity against PyTorch printed) and build TensorRT engines from them.",
    )
    parser.add_argument("checkpoint", type=Path, nargs="?", default=None,
                        help="model checkpoint to export (not a last.pt training state); or give it as --model")
    parser.add_argument("--model", type=Path, default=None, metavar="CKPT", help="the checkpoint, as an option")
    parser.add_argument("--out", type=Path, required=True,
                        help="output checkpoint path (pt) or folder (onnx, tensorrt)")
    parser.add_argument("--format", default="pt", choices=FORMATS, help="what to write (default pt)")
    parser.add_argument("--params", metavar="NAME|YAML", default=None,
                        help="onnx/tensorrt: dimp tracker parameters whose image_sample_size fixes the crop size "
                        "(default: dimp, i.e. the model config's input size)")
    parser.add_argument("--fp32", action="store_true", help="tensorrt: build fp32 engines instead of fp16")
    parser.add_argument("--training-data", default=None,
                        help="pt: replace the stored training-data description (default: keep it)")
    parser.add_argument("--interpolate-with", type=Path, default=None, metavar="BASE",
                        help="export (1 - W) x BASE + W x CHECKPOINT instead of the checkpoint alone (weight-space "
                        "interpolation of a fine-tuned model with the one it started from, WiSE-FT); BASE must "
                        "have the same config")
    parser.add_argument("--weight", type=float, default=None, metavar="W",
                        help="with --interpolate-with: the checkpoint's share W in [0, 1]")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rgbt_tracker_ros.errors import InputError
    from rgbt_tracker_ros.networks.checkpoint import load_checkpoint, save_checkpoint

    if (args.checkpoint is None) == (args.model is None):
        raise InputError("give the checkpoint to export once: as the argument or as --model")
    args.checkpoint = args.checkpoint or args.model
    if (args.interpolate_with is None) != (args.weight is None):
        raise InputError("--interpolate-with BASE and --weight W go together")
    model, meta = load_checkpoint(args.checkpoint)
    if args.interpolate_with is not None:
        model, meta = _interpolated(model, meta, args.checkpoint, args.interpolate_with, args.weight)
    if args.format == "pt":
        training_data = meta.get("training_data", "") if args.training_data is None else args.training_data
        extra = dict(meta.get("extra") or {}, exported_from=args.checkpoint.name)
        path = save_checkpoint(args.out, model, meta["config"], training_data=training_data, extra=extra, fp16=True)
        size_mb = path.stat().st_size / 1e6
        print(f"wrote {path} ({size_mb:.1f} MB, fp16) from {args.checkpoint}: config {meta['config'].name}, "
              f"trained on: {training_data or 'not recorded'}")
        return 0

    from rgbt_tracker_ros.tracking.backends.onnx_export import export_onnx
    from rgbt_tracker_ros.tracking.params import load_params

    sample_size = int(load_params(args.params).image_sample_size or model.config.input_size)
    manifest = export_onnx(model, args.out, sample_size)
    print(f"wrote {', '.join(g['file'] for g in manifest['graphs'].values())} and manifest.json to {args.out} "
          f"(config {manifest['config']}, {sample_size} px crops, opset {manifest['opset']})")
    print("parity against PyTorch (ONNX Runtime, CPU), per output:")
    print(f"  {'output':<40}{'max abs diff':>14}{'max abs value':>15}")
    for output, parity in manifest["parity"].items():
        print(f"  {output:<40}{parity['max_abs_diff']:>14.3g}{parity['max_abs_reference']:>15.3g}")
    if args.format == "tensorrt":
        from rgbt_tracker_ros.tracking.backends.tensorrt_backend import build_engines

        for path in build_engines(args.out, fp16=not args.fp32, force=True):
            print(f"built {path}")
    return 0


def _interpolated(model: nn.Module, meta: dict[str, Any], path: Path, base_path: Path, weight: float
                  ) -> tuple[nn.Module, dict[str, Any]]:
    """``model`` interpolated with the checkpoint at ``base_path``; ``meta`` says how it was made."""
    from rgbt_tracker_ros.networks.checkpoint import interpolate_weights, load_checkpoint

    base, base_meta = load_checkpoint(base_path, config=meta["config"])
    interpolate_weights(base, model, weight)
    description = (f"weight-space interpolation {1 - weight:g} x {base_path.name} + {weight:g} x {path.name}; "
                   f"{base_path.name}: {base_meta.get('training_data') or 'not recorded'}; "
                   f"{path.name}: {meta.get('training_data') or 'not recorded'}")
    extra = dict(meta.get("extra") or {}, interpolated_with=base_path.name, interpolation_weight=weight)
    return model, dict(meta, training_data=description, extra=extra)
