"""``rgbt-tracker train``: base training of the CMD student or teacher (L_original) or of AINet (OSTrack's loss),
or ``--plot`` of a run.

The same command line runs as one process or under ``torchrun --nproc_per_node N`` (DDP); see
``docs/training.md``. The run arguments, the data opening and the final report are shared with
``rgbt-tracker distill`` (:mod:`.distill`).
"""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Optional, Union

if TYPE_CHECKING:
    from rgbt_tracker_ros.data.mixture import SourceMixture
    from rgbt_tracker_ros.data.sampler import TrainingSequence
    from rgbt_tracker_ros.networks.config import ModelConfig
    from rgbt_tracker_ros.training.actors import ObjectiveFactory
    from rgbt_tracker_ros.training.loop import TrainResult
    from rgbt_tracker_ros.training.settings import TrainSettings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the CMD student/teacher (DiMP's loss, L_original) or AINet (OSTrack's loss) on RGB-T sequences",
        description="Train a network config with its family's loss (CMD networks: L_original, DiMP's classification "
        "+ IoU losses; AINet: OSTrack's GIoU + L1 + focal losses) on "
        "LasHeR/RGBT234/RGBT210/GTOT-format dataset folders (e.g. from `rgbt-tracker synth`) or teacher "
        "bundles. Writes RUN_DIR/checkpoints/epoch_XXX.pt, RUN_DIR/last.pt, RUN_DIR/log.csv and TensorBoard "
        "events. For several processes use `torchrun --nproc_per_node N -m rgbt_tracker_ros.cli.main train ...`.",
    )
    add_run_arguments(parser, "training settings: bundled name (dimp-student, dimp-teacher, synthetic-cpu, ainet, "
                      "ainet-synthetic-cpu) or a YAML file (default: dimp-student, dimp-teacher for a teacher "
                      "config, ainet for an AINet config)")
    parser.add_argument("--plot", metavar="RUN_DIR",
                        help="instead of training, plot RUN_DIR/log.csv to a PNG (see --plot-out) and exit")
    parser.add_argument("--plot-out", metavar="PNG", help="where --plot writes (default RUN_DIR/loss.png)")
    parser.set_defaults(func=run)


def add_run_arguments(parser: argparse.ArgumentParser, settings_help: str) -> None:
    """The arguments ``train`` and ``distill`` share (model, data, run folder, settings, overrides)."""
    parser.add_argument("--model-config", metavar="NAME|PATH",
                        help="network config: bundled name (student-r18, teacher-r50, student-tiny, teacher-tiny, "
                        "ainet-vitb, ainet-tiny) or a config YAML")
    parser.add_argument("--data", metavar="DIR[,DIR...]",
                        help="comma-separated dataset roots (folders of sequence folders, e.g. LasHeR's trainingset "
                        "or `rgbt-tracker synth` output) or teacher bundles (`rgbt-tracker label`)")
    parser.add_argument("--data-weights", metavar="W[,W...]",
                        help="sampling weight of each --data root, in order (default: every sequence equally likely)")
    parser.add_argument("--box-loss-weights", metavar="W[,W...]",
                        help="weight of the box terms (IoU-Net; AINet: GIoU + L1) of each --data root's samples, in "
                        "order (default 1 each; 0 keeps a root out of box training); needs --data-weights")
    parser.add_argument("--layout", default="auto", metavar="KIND",
                        help="dataset folder layout: auto (default), lasher, rgbt234, rgbt210 or gtot")
    parser.add_argument("--out", metavar="RUN_DIR", help="run folder for checkpoints and logs")
    parser.add_argument("--settings", default=None, metavar="NAME|PATH", help=settings_help)
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
                        "downloading the torchvision weights; AINet: a timm / MAE / DropMAE ViT or an OSTrack / "
                        "DropTrack checkpoint)")
    parser.add_argument("--init-weights", metavar="CKPT",
                        help="start a new run from this checkpoint's weights (same architecture), e.g. a "
                        "fine-tuning stage whose settings freeze some modules (frozen_modules)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (e.g. for log files)")


def require(args: argparse.Namespace, command: str, flags: tuple[str, ...], alternative: str = "") -> None:
    """:class:`InputError` naming the missing ones of ``flags`` (``--model-config`` -> ``args.model_config``)."""
    from rgbt_tracker_ros.errors import InputError

    missing = [flag for flag in flags if not getattr(args, flag[2:].replace("-", "_"))]
    if missing:
        raise InputError(f"{command} needs {', '.join(missing)}{alternative}")


def run_settings(args: argparse.Namespace, default: str) -> "TrainSettings":
    """``--settings`` (or ``default``) with the command-line overrides applied."""
    from rgbt_tracker_ros.training.settings import load_settings

    settings = load_settings(args.settings or default)
    overrides = {key: value for key, value in (("epochs", args.epochs), ("samples_per_epoch", args.samples_per_epoch),
                                               ("batch_size", args.batch),
                                               ("seed", args.seed)) if value is not None}
    return settings.replace(**overrides)


def open_training_data(
    args: argparse.Namespace,
) -> tuple[Union[list["TrainingSequence"], "SourceMixture"], str]:
    """``(sequences or weighted mixture, description)`` of ``--data`` / ``--data-weights``."""
    from pathlib import Path

    from rgbt_tracker_ros.data.mixture import SourceMixture, TrainingSource, open_training_root
    from rgbt_tracker_ros.errors import InputError

    roots = [Path(part.strip()) for part in args.data.split(",") if part.strip()]
    if not roots:
        raise InputError(f"--data {args.data!r} names no folder")
    if args.data_weights is not None:
        weights = weights_per_root("--data-weights", args.data_weights, len(roots))
    box_weights = [1.0] * len(roots)
    if args.box_loss_weights is not None:
        if args.data_weights is None:
            raise InputError("--box-loss-weights needs --data-weights (a weighted mixture of the --data roots)")
        box_weights = weights_per_root("--box-loss-weights", args.box_loss_weights, len(roots))
    opened = [open_training_root(root, layout=args.layout) for root in roots]
    if args.data_weights is None:
        parts = [f"{root} ({len(sequences)} sequences)" for root, sequences in zip(roots, opened)]
        return [sequence for sequences in opened for sequence in sequences], ", ".join(parts)
    sources = [TrainingSource(str(root), sequences, weight, box_weight)
               for root, sequences, weight, box_weight in zip(roots, opened, weights, box_weights)]
    parts = [f"{s.name} ({len(s.sequences)} sequences, weight {s.weight:g}"
             + (f", box-loss weight {s.box_weight:g})" if args.box_loss_weights is not None else ")") for s in sources]
    return SourceMixture(sources), ", ".join(parts)


def weights_per_root(flag: str, text: str, roots: int) -> list[float]:
    """The comma-separated numbers of ``flag``, one per ``--data`` root, or :class:`InputError`."""
    from rgbt_tracker_ros.errors import InputError

    try:
        weights = [float(part) for part in text.split(",")]
    except ValueError:
        raise InputError(f"{flag} {text!r} is not a comma-separated list of numbers") from None
    if len(weights) != roots:
        raise InputError(f"{flag} gives {len(weights)} weight(s) for {roots} --data root(s)")
    return weights


def run_loop(
    args: argparse.Namespace,
    config: "ModelConfig",
    settings: "TrainSettings",
    objective: Optional["ObjectiveFactory"] = None,
) -> int:
    """Open ``--data``, run the training loop with ``objective`` (``None``: DiMP's L_original) and report."""
    from rgbt_tracker_ros.training.loop import train

    data, description = open_training_data(args)
    result = train(
        config,
        data,
        args.out,
        settings,
        device=args.device,
        pretrained=args.pretrained,
        allow_download=args.pretrained == "imagenet",
        resume=args.resume,
        data_description=description,
        epochs=args.epochs,
        workers=args.workers,
        progress=not args.no_progress,
        init_weights=args.init_weights,
        objective=objective,
    )
    return report(result)


def report(result: "TrainResult") -> int:
    """Print the last epoch's loss (rank 0 only); the exit code."""
    if not result.is_main:
        return 0
    if result.epochs:
        last = result.epochs[-1]
        print(f"epoch {last.epoch}: loss {last.terms.get('loss', float('nan')):.4g}; "
              f"{last.seconds / max(last.iterations, 1):.3f} s/iteration; run in {result.run_dir}")
    else:
        print(f"nothing to do: {result.run_dir} already finished epoch {result.start_epoch - 1}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.plot:
        from rgbt_tracker_ros.training.run_log import plot_losses

        print(plot_losses(args.plot, args.plot_out))
        return 0
    require(args, "training", ("--model-config", "--data", "--out"), " (or --plot RUN_DIR)")

    from rgbt_tracker_ros.networks.config import load_config

    config = load_config(args.model_config)
    settings = run_settings(args, {"teacher": "dimp-teacher", "ainet": "ainet"}.get(config.kind, "dimp-student"))
    return run_loop(args, config, settings)
