"""``rgbt-tracker train``: base training (L_original) of the CMD student or teacher, or ``--plot`` of a run.

The same command line runs as one process or under ``torchrun --nproc_per_node N`` (DDP); see
``docs/training.md``.
"""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the CMD student/teacher with DiMP's loss (L_original) on RGB-T sequences",
        description="Train a network config with L_original (DiMP's classification + IoU losses) on "
        "LasHeR/RGBT234/RGBT210/GTOT-format dataset folders (e.g. from `rgbt-tracker synth`). Writes "
        "RUN_DIR/checkpoints/epoch_XXX.pt, RUN_DIR/last.pt, RUN_DIR/log.csv and TensorBoard events. "
        "For several processes use `torchrun --nproc_per_node N -m rgbt_tracker_ros.cli.main train ...`.",
    )
    parser.add_argument("--model-config", metavar="NAME|PATH",
                        help="network config: bundled name (student-r18, teacher-r50, student-tiny, teacher-tiny) "
                        "or a config YAML")
    parser.add_argument("--data", metavar="DIR[,DIR...]",
                        help="comma-separated dataset roots (folders of sequence folders), e.g. LasHeR's trainingset")
    parser.add_argument("--layout", default="auto", metavar="KIND",
                        help="dataset folder layout: auto (default), lasher, rgbt234, rgbt210 or gtot")
    parser.add_argument("--out", metavar="RUN_DIR", help="run folder for checkpoints and logs")
    parser.add_argument("--settings", default=None, metavar="NAME|PATH",
                        help="training settings: bundled name (dimp-student, dimp-teacher, synthetic-cpu) or a YAML "
                        "file (default: dimp-student, or dimp-teacher for a teacher config)")
    parser.add_argument("--epochs", type=int, metavar="N", help="total epochs (overrides the settings; "
                        "with --resume, extends the run)")
    parser.add_argument("--samples-per-epoch", type=int, metavar="N", help="training samples per epoch (overrides)")
    parser.add_argument("--batch", type=int, metavar="N",
                        help="batch size per optimizer step, summed over DDP processes (overrides)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="DataLoader worker processes (default: the settings' num_workers on CUDA, 0 on the CPU)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in RUN_DIR from last.pt (starts afresh if there is none)")
    parser.add_argument("--seed", type=int, metavar="S", help="random seed (overrides the settings; "
                        "same seed, data and settings give the same run on the CPU)")
    parser.add_argument("--device", default="auto", metavar="auto|cpu|cuda",
                        help="training device (default auto: CUDA if available); under torchrun each process "
                        "takes cuda:LOCAL_RANK")
    parser.add_argument("--pretrained", metavar="PATH|imagenet|none",
                        help="backbone initialisation (default: the config's; `imagenet` here also allows "
                        "downloading the torchvision weights)")
    parser.add_argument("--init-weights", metavar="CKPT",
                        help="start a new run from this checkpoint's weights (same architecture), e.g. a "
                        "fine-tuning stage whose settings freeze some modules (frozen_modules)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (e.g. for log files)")
    parser.add_argument("--plot", metavar="RUN_DIR",
                        help="instead of training, plot RUN_DIR/log.csv to a PNG (see --plot-out) and exit")
    parser.add_argument("--plot-out", metavar="PNG", help="where --plot writes (default RUN_DIR/loss.png)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rgbt_tracker_ros.errors import InputError

    if args.plot:
        from rgbt_tracker_ros.training.run_log import plot_losses

        print(plot_losses(args.plot, args.plot_out))
        return 0
    missing = [flag for flag, value in (("--model-config", args.model_config), ("--data", args.data),
                                        ("--out", args.out)) if not value]
    if missing:
        raise InputError(f"training needs {', '.join(missing)} (or --plot RUN_DIR)")

    from rgbt_tracker_ros.data.datasets import open_dataset
    from rgbt_tracker_ros.networks.config import load_config
    from rgbt_tracker_ros.training.loop import train
    from rgbt_tracker_ros.training.settings import load_settings

    config = load_config(args.model_config)
    settings = load_settings(args.settings or ("dimp-teacher" if config.kind == "teacher" else "dimp-student"))
    overrides = {key: value for key, value in (("epochs", args.epochs), ("samples_per_epoch", args.samples_per_epoch),
                                               ("batch_size", args.batch),
                                               ("seed", args.seed)) if value is not None}
    settings = settings.replace(**overrides)
    roots = [Path(part.strip()) for part in args.data.split(",") if part.strip()]
    if not roots:
        raise InputError(f"--data {args.data!r} names no folder")
    sequences, parts = [], []
    for root in roots:
        opened = open_dataset(root, layout=args.layout)
        sequences.extend(opened)
        parts.append(f"{root} ({len(opened)} sequences)")
    result = train(
        config,
        sequences,
        args.out,
        settings,
        device=args.device,
        pretrained=args.pretrained,
        allow_download=args.pretrained == "imagenet",
        resume=args.resume,
        data_description=", ".join(parts),
        epochs=args.epochs,
        workers=args.workers,
        progress=not args.no_progress,
        init_weights=args.init_weights,
    )
    if not result.is_main:
        return 0
    if result.epochs:
        last = result.epochs[-1]
        print(f"epoch {last.epoch}: loss {last.terms.get('loss', float('nan')):.4g}; "
              f"{last.seconds / max(last.iterations, 1):.3f} s/iteration; run in {result.run_dir}")
    else:
        print(f"nothing to do: {result.run_dir} already finished epoch {result.start_epoch - 1}")
    return 0
