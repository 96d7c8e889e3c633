"""``rgbt-tracker demo``: the main job on the embedded default.

Runs the DiMP tracker with the bundled demo checkpoint on the bundled synthetic rosbag2, scores it
against the bag's ground truth with the LasHeR protocol (PR / NPR / SR), prints the scores and the
tracker's frames per second, and writes the result file, a JSON summary and the side-by-side video.
Any other checkpoint or bag can be given; the bag must carry the package's default topics.

The bundled checkpoint (``assets/demo_student.pt``) is the CMD student in its small ``student-tiny``
config, not distilled: trained with L_original (DiMP's loss) only, from random weights, on synthetic
sequences from the package's generator (three stages, 119 minutes on a 2-core CPU; docs/training.md).
Its recorded scores are in docs/results/demo_cpu.json.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from rgbt_tracker_ros.cli.track import add_backend_arguments

DEMO_BAG_NAME = "demo_bag"


def default_bag_path() -> Path:
    """The bundled synthetic bag: ``rgbt_tracker_ros/assets/demo_bag``."""
    return Path(__file__).resolve().parent.parent / "assets" / DEMO_BAG_NAME


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="track the bundled synthetic bag with the bundled student-tiny checkpoint; "
        "print PR/NPR/SR and FPS, write a video",
        description="The main job on the embedded default: the bundled demo checkpoint (student-tiny, trained "
        "with DiMP's loss on synthetic data, not distilled) on the bundled synthetic rosbag2, scored with the "
        "LasHeR protocol against the bag's ground truth.",
    )
    parser.add_argument("--bag", type=Path, default=None, help="rosbag2 to track (default: the bundled demo bag)")
    parser.add_argument("--model", default=None, help="student/teacher or AINet checkpoint (default: the bundled "
                        "demo one); an AINet checkpoint runs the ainet tracker")
    parser.add_argument("--out", type=Path, default=Path("demo_output"),
                        help="folder for the result file, JSON and video (default demo_output)")
    parser.add_argument("--no-video", action="store_true", help="skip writing the video")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    add_backend_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np
    from tqdm import tqdm

    from rgbt_tracker_ros.data.bags import BagPairReader
    from rgbt_tracker_ros.errors import InputError
    from rgbt_tracker_ros.atomic_files import write_text_atomic
    from rgbt_tracker_ros.evaluation.benchmark import format_rows, track_pairs
    from rgbt_tracker_ros.evaluation.protocols import (
        aggregate,
        frame_errors,
        get_protocol,
        headline_scores,
        sequence_score,
    )
    from rgbt_tracker_ros.tracking.factory import create_tracker, tracker_for_checkpoint

    bag = args.bag or default_bag_path()
    pairs = list(BagPairReader(bag))
    if pairs[0].gt_rgb is None:  # BagPairReader raises BagError when no pair forms
        raise InputError(f"{bag}: the first frame has no ground truth on the ground-truth topic")
    tracker = create_tracker(tracker_for_checkpoint(args.model), model=args.model, device=args.device, backend=args.backend,
                             export_dir=args.export_dir)
    video = None
    if not args.no_video:
        from rgbt_tracker_ros.evaluation.video import SideBySideVideo

        video = SideBySideVideo(args.out / "demo.mp4", fps=20.0)

    def write_video(pair, result) -> None:
        video.write(pair, result, label=f"demo #{pair.index}")

    progress = tqdm(pairs, desc="demo", unit="frame", disable=None, leave=False)
    try:
        boxes, seconds = track_pairs(tracker, progress, pairs[0].gt_rgb, bag.name,
                                     on_result=write_video if video is not None else None)
    finally:
        video_path = video.close() if video is not None else None

    absent = np.zeros(4)  # a frame without ground truth (target out of view) counts as invalid
    gt_rgb = np.stack([absent if p.gt_rgb is None else p.gt_rgb for p in pairs])
    protocol = get_protocol("lasher")
    curves = aggregate(protocol, [sequence_score(protocol, bag.name, frame_errors(protocol, boxes, gt_rgb))])
    scores = headline_scores(protocol, curves)
    fps = (len(seconds) - 1) / sum(seconds[1:])
    summary = {
        "bag": str(bag),
        "tracker": tracker.name,
        "protocol": protocol.name,
        "frames": len(pairs),
        **{key: round(value, 2) for key, value in scores.items()},
        "fps": round(fps, 2),
        "device": str(getattr(tracker, "device", "cpu")),
    }
    write_text_atomic(args.out / f"{bag.name}.txt", format_rows(boxes))
    write_text_atomic(args.out / "demo.json", json.dumps(summary, indent=2))
    print(f"{tracker.name} on {bag.name} ({len(pairs)} frames, {protocol.name} protocol): "
          + "  ".join(f"{key} {value:.1f}" for key, value in scores.items())
          + f"  |  {fps:.1f} FPS on {summary['device']} (tracking only, after initialisation)")
    print(f"results: {args.out / (bag.name + '.txt')}, {args.out / 'demo.json'}" + (f", video: {video_path}" if video_path else ""))
    return 0
