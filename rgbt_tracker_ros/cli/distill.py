"""``rgbt-tracker distill``: train the CMD student with the distillation objective (Eq. 14) from a frozen teacher.

Same run folder, settings mechanism, resume, DDP (``torchrun --nproc_per_node N -m
rgbt_tracker_ros.cli.main distill ...``), logs and checkpoints as ``rgbt-tracker train``
(:mod:`.train`); the objective is :mod:`rgbt_tracker_ros.distill.objective`. ``--probe-gradients N`` trains
nothing: it reads the run's ``last.pt`` and reports how hard each term of Eq. 14 pulls on the student
(:mod:`rgbt_tracker_ros.distill.gradients`). See docs/training.md.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from rgbt_tracker_ros.cli.train import add_run_arguments, open_training_data, require, run_loop, run_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "distill",
        help="train the CMD student from a frozen teacher (SCFD + MPSD + HFRD + L_original, Eq. 14)",
        description="Distil a teacher checkpoint (a CMD teacher or an AINet) into a student config: "
        "alpha (L_SCFD + L_MPSD) + beta L_HFRD "
        "+ L_original, each term switched on by the settings (cmd-student: all; cmd-student-origin, "
        "cmd-student-scfd, cmd-student-scfd-mpsd: the paper's ablation rows). Data: dataset folders and teacher "
        "bundles (`rgbt-tracker label`), mixed by --data-weights. Writes the same run folder as `train`; the "
        "checkpoints hold the student alone.",
    )
    parser.add_argument("--teacher", metavar="CKPT", help="teacher checkpoint: a CMD teacher (kind teacher, e.g. a "
                        "teacher-r50 run) or an AINet (kind ainet, e.g. an ainet-vitb run)")
    add_run_arguments(parser, "settings: bundled name (cmd-student, cmd-student-origin, cmd-student-scfd, "
                      "cmd-student-scfd-mpsd; the synthetic ablation cmd-synthetic, cmd-synthetic-origin, "
                      "cmd-synthetic-scfd, cmd-synthetic-scfd-mpsd; cmd-synthetic-cpu) or a YAML file (default: "
                      "cmd-student)")
    parser.add_argument("--probe-gradients", type=int, metavar="N",
                        help="train nothing: for the run in --out (its last.pt), print each Eq. 14 term's gradient on "
                        "the student per module (norm, ratio and cosine to L_original's), mean over N batches of the "
                        "run's next epoch, and write it as JSON (--probe-json)")
    parser.add_argument("--probe-json", metavar="PATH",
                        help="where --probe-gradients writes its JSON (default: RUN_DIR/gradient_probe.json)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.probe_gradients is not None:
        require(args, "the gradient probe", ("--teacher", "--data", "--out"))
        return probe(args)
    require(args, "distillation", ("--teacher", "--model-config", "--data", "--out"))

    from rgbt_tracker_ros.distill.objective import cmd_objective
    from rgbt_tracker_ros.networks.config import load_config

    config = load_config(args.model_config)
    settings = run_settings(args, "cmd-student")
    return run_loop(args, config, settings, objective=cmd_objective(args.teacher, config))


def probe(args: argparse.Namespace) -> int:
    """``--probe-gradients``: the gradient probe of the run in ``--out`` (its stored model config and settings),
    printed and written as JSON."""
    from rgbt_tracker_ros.atomic_files import write_text_atomic
    from rgbt_tracker_ros.distill.gradients import probe_gradients
    from rgbt_tracker_ros.distill.objective import cmd_objective
    from rgbt_tracker_ros.training.loop import trainer_of_run

    data, description = open_training_data(args)
    trainer = trainer_of_run(args.out, data, device=args.device,
                             objective_of=lambda config: cmd_objective(args.teacher, config))
    result = probe_gradients(trainer, args.probe_gradients)
    path = Path(args.probe_json or Path(args.out) / "gradient_probe.json")
    write_text_atomic(path, json.dumps({"run": str(args.out), "data": description, **result.to_dict()}, indent=1))
    print(f"gradients of Eq. 14's terms on the student after epoch {result.epoch} of {args.out}, mean over "
          f"{result.batches} batch(es) of {description}:\n{result.table()}\nwritten to {path}")
    return 0
