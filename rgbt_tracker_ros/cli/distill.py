"""``rgbt-tracker distill``: train the CMD student with the distillation objective (Eq. 14) from a frozen teacher.

Same run folder, settings mechanism, resume, DDP (``torchrun --nproc_per_node N -m
rgbt_tracker_ros.cli.main distill ...``), logs and checkpoints as ``rgbt-tracker train``
(:mod:`.train`); the objective is :mod:`rgbt_tracker_ros.distill.objective`. See docs/training.md.
"""
from __future__ import annotations

import argparse

from rgbt_tracker_ros.cli.train import add_run_arguments, require, run_loop, run_settings


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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    require(args, "distillation", ("--teacher", "--model-config", "--data", "--out"))

    from rgbt_tracker_ros.distill.objective import cmd_objective
    from rgbt_tracker_ros.networks.config import load_config

    config = load_config(args.model_config)
    settings = run_settings(args, "cmd-student")
    return run_loop(args, config, settings, objective=cmd_objective(args.teacher, config))
