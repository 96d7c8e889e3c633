"""``rgbt-tracker label``: run the frozen teacher offline and write a teacher bundle for distillation.

Sources: a rosbag2 (read with rosbags, no ROS install needed) or a sequence folder / dataset root
in a benchmark layout. The initial box comes from ``--init``, ``--init-file`` or, without them,
the source's ground truth (the bag's ground-truth topic, the sequence's box file): the teacher
starts on the first frame with a valid box. See :mod:`rgbt_tracker_ros.data.bundle` for the
bundle layout.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "label",
        help="run the teacher over a bag or sequences and write a distillation bundle",
        description="Run the frozen teacher (CMD teacher or AINet) over a recorded bag or benchmark sequences and "
        "write a teacher "
        "bundle (manifest.json; per sequence LasHeR-layout frames, teacher boxes, response maps, optional "
        "features, and a rosbag2 of teacher detections for inspection). Resumable with --resume.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--bag", type=Path, metavar="PATH", help="rosbag2 folder (or .db3/.mcap file) to label")
    source.add_argument(
        "--sequence",
        type=Path,
        metavar="DIR",
        help="one sequence folder, or a dataset root whose sequences are all labelled",
    )
    parser.add_argument("--model", required=True, type=Path, metavar="TEACHER_CKPT",
                        help="teacher checkpoint (.pth): a CMD teacher (DiMP tracking) or an AINet (OSTrack-style "
                        "tracking; its score maps are the responses)")
    parser.add_argument("--out", required=True, type=Path, metavar="BUNDLE", help="bundle folder to create or resume")
    init = parser.add_mutually_exclusive_group()
    init.add_argument("--init", metavar="x,y,w,h", help="initial box on the first frame (pixels, top-left + size)")
    init.add_argument(
        "--init-file",
        type=Path,
        metavar="F",
        help="text file whose first line is the initial box x,y,w,h (a benchmark box file works)",
    )
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    parser.add_argument("--name", metavar="NAME", help="sequence name in the bundle (default: the bag/folder name)")
    parser.add_argument("--params", metavar="NAME|PATH",
                        help="tracker parameters (bundled name or YAML; default: dimp, or ainet for an AINet)")
    parser.add_argument("--device", default="auto", metavar="auto|cpu|cuda", help="torch device (default auto)")
    parser.add_argument(
        "--frames",
        choices=("images", "reference"),
        default="images",
        help="images: copy frames in LasHeR layout (default); reference: store source frame numbers/stamps only",
    )
    parser.add_argument(
        "--features",
        metavar="KEYS",
        default="",
        help="teacher features to store in fp16: comma list of group.level (CMD teacher: rgb|tir|fused . stem|layer1|"
        "layer2|layer3; AINet: rgb|tir|fused . layer1..layerL, fused.ofm) or 'all'; default none (distillation "
        "recomputes them with the frozen teacher)",
    )
    parser.add_argument("--chunk-size", type=int, default=100, metavar="N", help="frames per npz chunk (default 100)")
    parser.add_argument("--rgb-topic", metavar="TOPIC", help="bag: RGB image topic (default /rgb/image_raw)")
    parser.add_argument("--thermal-topic", metavar="TOPIC", help="bag: thermal topic (default /thermal/image_raw)")
    parser.add_argument("--gt-topic", metavar="TOPIC", help="bag: ground-truth topic (default /ground_truth)")
    parser.add_argument("--queue-size", type=int, default=10, metavar="N", help="bag: synchroniser queue size (10)")
    parser.add_argument("--slop", type=float, default=0.05, metavar="S", help="bag: synchroniser slop, s (0.05)")
    parser.add_argument("--layout", default="auto", metavar="KIND", help="layout: auto, lasher, rgbt234, rgbt210, gtot")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (e.g. for log files)")
    parser.set_defaults(func=run)


def parse_box(text: str) -> np.ndarray:
    """``"x,y,w,h"`` (commas and/or spaces) as a validated box; :class:`InputError` naming the text."""
    from rgbt_tracker_ros.data.frames import validate_box
    from rgbt_tracker_ros.errors import InputError

    parts = text.replace(",", " ").split()
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise InputError(f"--init {text!r} is not 4 numbers x,y,w,h") from None
    if len(values) != 4:
        raise InputError(f"--init {text!r} needs 4 numbers x,y,w,h, got {len(values)}")
    return validate_box(values)


def initial_box(args: argparse.Namespace) -> Optional[np.ndarray]:
    """The box given by ``--init`` or ``--init-file``, or ``None`` (use the source's ground truth)."""
    from rgbt_tracker_ros.data.datasets import read_boxes
    from rgbt_tracker_ros.data.frames import validate_box
    from rgbt_tracker_ros.errors import InputError

    if args.init is not None:
        return parse_box(args.init)
    if args.init_file is not None:
        if not args.init_file.is_file():
            raise InputError(f"--init-file {args.init_file} does not exist")
        try:
            return validate_box(read_boxes(args.init_file)[0])
        except InputError as err:
            raise InputError(f"--init-file {args.init_file}: {err}") from err
    return None


def _feature_keys(text: str) -> list[str]:
    return [key.strip() for key in text.split(",") if key.strip()]


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rgbt_tracker_ros.data import topics
    from rgbt_tracker_ros.data.bundle import BundleWriter, file_sha256
    from rgbt_tracker_ros.tracking.labelling import label_sequence
    from rgbt_tracker_ros.errors import InputError
    from rgbt_tracker_ros.tracking.factory import create_tracker, tracker_for_checkpoint

    if not args.model.is_file():
        raise InputError(f"teacher checkpoint {args.model} does not exist")
    tracker_name = tracker_for_checkpoint(args.model)  # dimp (CMD teacher) or ainet
    if args.chunk_size < 1:
        raise InputError(f"--chunk-size must be >= 1, got {args.chunk_size}")
    box = initial_box(args)
    jobs = _jobs(args, topics)
    if box is not None and len(jobs) > 1:
        raise InputError(f"--init/--init-file give one box but {args.sequence} holds {len(jobs)} sequences")
    if args.name is not None and len(jobs) > 1:
        raise InputError(f"--name names one sequence but {args.sequence} holds {len(jobs)} sequences")
    teacher = {
        "checkpoint": str(args.model.resolve()),
        "sha256": file_sha256(args.model),
        "params": args.params or tracker_name,
    }
    bundle = BundleWriter(
        args.out,
        teacher,
        frames=args.frames,
        chunk_size=args.chunk_size,
        feature_keys=_feature_keys(args.features),
        resume=args.resume,
    )
    tracker = None
    for name, source, open_pairs, total in jobs:
        init = {"box": box.tolist(), "from": "--init" if args.init else "--init-file"} if box is not None else {
            "from": "ground truth"
        }
        writer = bundle.sequence(name, source, init)
        if writer.complete:
            print(f"{name}: already complete ({writer.entry['frames']} frames), skipped")
            continue
        if tracker is None:
            tracker = create_tracker(tracker_name, model=str(args.model), params=args.params, device=args.device)
            bundle.manifest["teacher"].setdefault("tracker", getattr(tracker, "name", tracker_name))
        with tqdm(total=total, unit="frame", desc=name, disable=args.no_progress) as bar:
            label_sequence(tracker, open_pairs(), writer, init_box=box, progress=bar.update)
        labels = writer.close()
        lost = int((~labels.valid()).sum())
        print(f"{name}: {len(labels)} frames labelled (teacher lost on {lost}) -> {args.out / name}")
    print(f"bundle written to {args.out}")
    return 0


def _jobs(args: argparse.Namespace, topics) -> list[tuple]:
    """``(name, source description, pair iterator factory, frame count)`` per sequence to label."""
    if args.bag is not None:
        from rgbt_tracker_ros.data.bags import BagPairReader

        reader = BagPairReader(
            args.bag,
            args.rgb_topic or topics.RGB_TOPIC,
            args.thermal_topic or topics.THERMAL_TOPIC,
            args.gt_topic or topics.GROUND_TRUTH_TOPIC,
            args.queue_size,
            args.slop,
        )
        counts = reader.topics()
        total = min(counts[reader.rgb_topic].message_count, counts[reader.thermal_topic].message_count)
        source = {
            "kind": "bag",
            "path": str(args.bag.resolve()),
            "rgb_topic": reader.rgb_topic,
            "thermal_topic": reader.thermal_topic,
            "gt_topic": reader.gt_topic,
            "queue_size": reader.queue_size,
            "slop": reader.slop,
        }
        name = args.name or args.bag.resolve().name.split(".")[0]
        return [(name, source, lambda: iter(reader), total)]

    from rgbt_tracker_ros.data.datasets import open_dataset, open_sequence

    folder = args.sequence
    layouts = (("visible", "infrared"), ("v", "i"))
    if any((folder / rgb).is_dir() and (folder / ir).is_dir() for rgb, ir in layouts):
        sequences = [open_sequence(args.sequence, args.layout)]
    else:
        sequences = open_dataset(args.sequence, args.layout)
    return [
        (
            args.name or sequence.name,
            {"kind": "sequence", "path": str(sequence.path.resolve()), "layout": sequence.kind},
            lambda sequence=sequence: (sequence[i] for i in range(len(sequence))),
            len(sequence),
        )
        for sequence in sequences
    ]
