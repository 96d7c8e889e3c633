"""``rgbt-tracker track``: run a tracker over one sequence folder or one rosbag2.

Writes ``OUT/<sequence name>.txt`` in the benchmark format (``x,y,w,h`` per frame, the first line
the initial box), which ``rgbt-tracker evaluate`` scores, and optionally a side-by-side video
(RGB | thermal with box, score, state and fusion weights). Prints the frames processed and the
tracker's speed.
"""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Iterable, Optional

from rgbt_tracker_ros.data.topics import GROUND_TRUTH_TOPIC, RGB_TOPIC, THERMAL_TOPIC
from rgbt_tracker_ros.tracking.backends import BACKEND_NAMES

if TYPE_CHECKING:  # imported lazily so that `rgbt-tracker --help` stays fast
    import numpy as np

    from rgbt_tracker_ros.data.frames import FramePair

def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "track",
        help="track one RGB-T sequence folder or rosbag2 and write a benchmark result file",
        description="Track the target of one sequence (LasHeR/RGBT234/RGBT210/GTOT folder) or rosbag2 from "
        "--init or the first ground-truth box; writes OUT/<sequence name>.txt (x,y,w,h per frame, the first "
        "line the initial box) for `rgbt-tracker evaluate`, optionally a side-by-side video.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--sequence", metavar="DIR", help="sequence folder in a benchmark layout")
    source.add_argument("--bag", metavar="PATH", help="rosbag2 (folder or .db3/.mcap file) with RGB and thermal topics")
    parser.add_argument("--tracker", default="dimp", metavar="NAME",
                        help="tracker: dimp (default), ainet, or an OpenCV baseline csrt-rgb, csrt-thermal, kcf-rgb, "
                        "kcf-thermal")
    parser.add_argument("--model", metavar="CKPT",
                        help="checkpoint of the network: dimp (student or teacher; default: the bundled demo "
                        "checkpoint) or ainet (an AINet, required)")
    parser.add_argument("--init", metavar="x,y,w,h",
                        help="initial box in the first frame (pixels; write --init=-4,10,30,20 when x is negative); "
                        "default: the first ground-truth box")
    parser.add_argument("--out", metavar="DIR",
                        help="results folder for <sequence name>.txt (default: results/<tracker name>)")
    parser.add_argument("--video", metavar="OUT.mp4",
                        help="also write a video of RGB and thermal side by side with the tracking result (.mp4 or .avi)")
    parser.add_argument("--video-fps", type=float, default=20.0, metavar="FPS",
                        help="frame rate of --video (default 20)")
    parser.add_argument("--params", metavar="NAME|YAML",
                        help="tracker parameters: bundled name or YAML file (default: dimp for dimp, ainet for ainet)")
    parser.add_argument("--device", default="auto", metavar="auto|cpu|cuda",
                        help="inference device (default auto: CUDA if available)")
    add_backend_arguments(parser)
    parser.add_argument("--layout", default="auto", metavar="KIND",
                        help="--sequence folder layout: auto (default), lasher, rgbt234, rgbt210 or gtot")
    parser.add_argument("--rgb-topic", default=RGB_TOPIC, metavar="TOPIC",
                        help=f"--bag RGB image topic (default {RGB_TOPIC})")
    parser.add_argument("--thermal-topic", default=THERMAL_TOPIC, metavar="TOPIC",
                        help=f"--bag thermal image topic (default {THERMAL_TOPIC})")
    parser.add_argument("--gt-topic", default=GROUND_TRUTH_TOPIC, metavar="TOPIC",
                        help=f"--bag ground-truth topic, vision_msgs/Detection2DArray (default {GROUND_TRUTH_TOPIC})")
    parser.set_defaults(func=run)


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """``--backend`` and ``--export-dir`` (tracking.backends), shared by the commands that track."""
    parser.add_argument("--backend", default="torch", choices=BACKEND_NAMES,
                        help="inference backend of the dimp networks (default torch); onnxruntime / tensorrt run "
                        "the ONNX export of --export-dir, or export the checkpoint into a cache folder first")
    parser.add_argument("--export-dir", metavar="DIR", default=None,
                        help="ONNX export folder (`rgbt-tracker export CKPT --format onnx --out DIR`) for the "
                        "onnxruntime / tensorrt backends")


def parse_box(text: str) -> np.ndarray:
    """``"x,y,w,h"`` -> float64 array; :class:`InputError` for anything else (size checked later)."""
    import numpy as np

    from rgbt_tracker_ros.data.frames import validate_box
    from rgbt_tracker_ros.errors import InputError

    parts = [p for p in text.replace(" ", ",").split(",") if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InputError(f"--init {text!r}: expected four numbers x,y,w,h") from None
    if len(values) != 4:
        raise InputError(f"--init {text!r}: expected four numbers x,y,w,h, got {len(values)}")
    try:
        return validate_box(np.array(values))
    except InputError as exc:
        raise InputError(f"--init: {exc}") from None


def run(args: argparse.Namespace) -> int:
    import itertools
    import sys
    import time
    from pathlib import Path

    import numpy as np
    from tqdm import tqdm

    from rgbt_tracker_ros.atomic_files import write_text_atomic
    from rgbt_tracker_ros.data.frames import validate_box
    from rgbt_tracker_ros.errors import InputError
    from rgbt_tracker_ros.evaluation.benchmark import format_rows, track_pairs
    from rgbt_tracker_ros.tracking.factory import create_tracker

    init_box = parse_box(args.init) if args.init is not None else None
    pairs, name, length, first_gt = _open_source(args)
    if init_box is None:
        if first_gt is None:
            raise InputError(f"{name}: no ground-truth box to start from; pass --init x,y,w,h")
        init_box = first_gt
    tracker = create_tracker(args.tracker, model=args.model, params=args.params, device=args.device,
                             backend=args.backend, export_dir=args.export_dir)
    out_dir = Path(args.out) if args.out else Path("results") / tracker.name
    result_path = out_dir / f"{name}.txt"

    pairs = iter(pairs)
    first = next(pairs, None)
    if first is None:
        raise InputError(f"{name}: no frame pairs to track")
    try:
        init_box = validate_box(init_box, first.size)
    except InputError as exc:
        raise InputError(f"--init / first box of {name}: {exc}") from None

    video = None
    if args.video:
        from rgbt_tracker_ros.evaluation.video import SideBySideVideo

        video = SideBySideVideo(args.video, fps=args.video_fps)
    boxes: list[np.ndarray] = []  # filled as frames are tracked, so an interruption keeps them

    def record(pair, result) -> None:
        boxes.append(result.box)
        if video is not None:
            video.write(pair, result, label=f"{name} #{pair.index}")

    progress = tqdm(itertools.chain([first], pairs), total=length, desc=name, unit="frame", disable=None,
                    leave=False)
    start = time.perf_counter()
    try:
        _, seconds = track_pairs(tracker, progress, init_box, name, on_result=record)
    finally:
        wall_seconds = time.perf_counter() - start
        if boxes:  # also after an interruption: the frames tracked so far are kept
            write_text_atomic(result_path, format_rows(np.stack(boxes)))
        video_path = video.close() if video is not None else None

    frames = len(boxes)
    print(f"{name}: tracked {frames} frames with {tracker.name}: "
          f"{frames / max(float(seconds.sum()), 1e-9):.1f} FPS tracker only, "
          f"{frames / max(wall_seconds, 1e-9):.1f} FPS including reading"
          + (" and video" if video is not None else ""))
    print(f"results: {result_path}")
    if video is not None:
        print(f"video: {video_path}")
        if video.note:
            print(f"note: {video.note}", file=sys.stderr)
    return 0


def _open_source(
    args: argparse.Namespace,
) -> tuple[Iterable[FramePair], str, Optional[int], Optional[np.ndarray]]:
    """``(pairs iterable, sequence name, frame count or None, first ground-truth box or None)``."""
    from pathlib import Path

    import numpy as np

    from rgbt_tracker_ros.errors import InputError

    if args.sequence is not None:
        from rgbt_tracker_ros.data.datasets import open_sequence

        sequence = open_sequence(args.sequence, layout=args.layout)
        first_gt = None
        for gt in (sequence.gt_rgb, sequence.gt_thermal):
            if gt is not None and len(gt):
                box = np.asarray(gt[0], dtype=np.float64)
                if np.isfinite(box).all() and box[2] > 0 and box[3] > 0:
                    first_gt = box
                    break
        pairs = (sequence[index] for index in range(len(sequence)))
        return pairs, sequence.name, len(sequence), first_gt

    from rgbt_tracker_ros.data.bags import BagPairReader, first_ground_truth

    path = Path(args.bag)
    if not path.exists():
        raise InputError(f"bag {path} does not exist")
    reader = BagPairReader(path, rgb_topic=args.rgb_topic, thermal_topic=args.thermal_topic, gt_topic=args.gt_topic)
    first_gt = first_ground_truth(path, args.gt_topic) if args.init is None else None
    name = path.stem if path.is_file() else path.name
    return iter(reader), name, None, first_gt
