"""``rgbt-tracker synth``: write synthetic RGB-T sequences as LasHeR folders and/or rosbag2 bags.

Each sequence goes to ``OUT/<name>/`` (see :mod:`rgbt_tracker_ros.data.writers` for the layouts and
:mod:`rgbt_tracker_ros.data.synthetic` for the scenario families, scenes and attributes). Nothing
existing is overwritten: every target folder is checked before the first frame is written.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

ATTRIBUTE_HELP = (
    "basic: low_illumination, thermal_crossover, partial_occlusion, full_occlusion, distractor, scale_change, "
    "fast_motion, camera_shake, misalignment; drone: pedestrians (people on a square instead of vehicles in "
    "lanes), night, misalignment"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="write synthetic RGB-T sequences (LasHeR folders and/or rosbag2 bags)",
        description="Generate deterministic synthetic RGB-T tracking sequences with challenge attributes "
        "and write each to OUT/<sequence>/ as a LasHeR-style folder, a rosbag2 (RGB rgb8 and thermal mono16 "
        "images, camera infos, ground truth as vision_msgs/Detection2DArray) or both. Two scenario families: "
        "basic (one target on an abstract background, 320x256) and drone (full-HD views from above of a small "
        "vehicle or walker among many look-alikes, by day or night).",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output root; one folder per sequence")
    parser.add_argument(
        "--family",
        choices=("basic", "drone"),
        default="basic",
        help="scenario family (default basic); with --benchmark/--validation, the family's fixed set",
    )
    parser.add_argument(
        "--sequences",
        type=int,
        metavar="N",
        help="number of sequences (default: basic 9, one per attribute; drone 8, every attribute combination)",
    )
    parser.add_argument(
        "--frames", type=int, metavar="N", help="frames per sequence (default: basic 100, drone 300; at least 2)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        metavar="S",
        help="seed of the first sequence; sequence i uses S+i (default 0; seeds >= 100000 are reserved for "
        "--benchmark)",
    )
    parser.add_argument(
        "--attributes",
        metavar="LIST",
        help=f"comma-separated attribute sets cycled over the sequences; join attributes of one sequence with "
        f"'+', 'clear' for none (e.g. 'clear,distractor+fast_motion'). Names per family: {ATTRIBUTE_HELP}. "
        "Default: basic, one attribute each, cycling, then pairs; drone, every combination",
    )
    parser.add_argument(
        "--size", metavar="WxH", help="image size (default: basic 320x256, drone 1920x1080; each side 64..4096)"
    )
    parser.add_argument("--fps", type=float, metavar="HZ", help="camera frame rate behind the stamps (default 30)")
    parser.add_argument(
        "--format",
        choices=("lasher", "bag", "both"),
        default="both",
        help="LasHeR folder, rosbag2, or both in the same folder (default both)",
    )
    parser.add_argument(
        "--storage",
        choices=("sqlite3", "mcap"),
        default="sqlite3",
        help="rosbag2 storage plugin (default sqlite3; mcap needs ros-<distro>-rosbag2-storage-mcap to play)",
    )
    parser.add_argument(
        "--compress",
        action="store_true",
        help="zstd-compress each bag message (rosbag2 'message' compression mode)",
    )
    parser.add_argument(
        "--benchmark",
        action="store_true",
        help="write the family's fixed synthetic test set instead (basic: 18 sequences, seeds 100000+; drone: 24 "
        "full-HD sequences of 300 frames, seeds 300000+); excludes --sequences/--frames/--seed/--attributes/"
        "--size/--fps",
    )
    parser.add_argument(
        "--validation",
        action="store_true",
        help="write the family's synthetic validation set (the test set's attribute sets; basic seeds 200000+, "
        "drone seeds 400000+), for tuning tracker parameters and picking checkpoints; excludes the same options "
        "as --benchmark",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        metavar="N",
        help="with --validation: the attribute sets N times, each time with the next seeds (default 1; the "
        "first repeat is the one-repeat set). A larger set tells smaller differences between checkpoints from noise",
    )
    parser.set_defaults(func=run)


def parse_size(text: str) -> tuple[int, int]:
    """``"320x256"`` -> ``(320, 256)``; raises :class:`InputError` otherwise."""
    from rgbt_tracker_ros.errors import InputError

    parts = text.lower().split("x")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
        raise InputError(f"--size must look like 320x256 (width x height in pixels), got {text!r}")
    return int(parts[0]), int(parts[1])


def _specs(args: argparse.Namespace) -> list:
    from rgbt_tracker_ros.data import synthetic
    from rgbt_tracker_ros.errors import InputError

    generator_options = ("sequences", "frames", "seed", "attributes", "size", "fps")
    fixed_sets = {"--benchmark": synthetic.benchmark_specs, "--validation": synthetic.validation_specs}
    chosen = [flag for flag in fixed_sets if getattr(args, flag[2:])]
    if len(chosen) > 1:
        raise InputError("--benchmark and --validation are two different fixed sets; give one")
    if args.repeats is not None and chosen != ["--validation"]:
        raise InputError("--repeats enlarges the validation set; give it with --validation")
    if chosen:
        given = [f"--{name}" for name in generator_options if getattr(args, name) is not None]
        if given:
            raise InputError(f"{chosen[0]} writes a fixed set; drop {', '.join(given)}")
        if args.repeats is not None:
            return synthetic.validation_specs(args.family, repeats=args.repeats)
        return fixed_sets[chosen[0]](args.family)
    default_sequences = len(synthetic.drone_attribute_sets()) if args.family == "drone" else len(synthetic.ATTRIBUTES)
    return synthetic.make_specs(
        args.sequences if args.sequences is not None else default_sequences,
        seed=args.seed if args.seed is not None else 0,
        frames=args.frames,
        attributes=args.attributes,
        size=parse_size(args.size) if args.size is not None else None,
        fps=args.fps if args.fps is not None else synthetic.DEFAULT_FPS,
        family=args.family,
    )


def run(args: argparse.Namespace) -> int:
    from rgbt_tracker_ros.data.writers import write_sequence
    from rgbt_tracker_ros.errors import InputError

    specs = _specs(args)
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory")
    for spec in specs:
        folder = out / spec.name
        if folder.exists() and any(folder.iterdir()):
            raise InputError(f"{folder} already exists and is not empty; choose another --out or remove it")
    formats = ("lasher", "bag") if args.format == "both" else (args.format,)
    for number, spec in enumerate(specs, start=1):
        started = time.perf_counter()
        folder = write_sequence(spec, out / spec.name, formats=formats, storage=args.storage, compress=args.compress)
        lookalikes = f", {spec.lookalikes} look-alikes" if spec.lookalikes else ""
        print(
            f"[{number}/{len(specs)}] {folder}  {spec.family} {spec.frames} frames {spec.width}x{spec.height}  "
            f"{'+'.join(spec.attributes) or 'clear'}{lookalikes}  ({'+'.join(formats)}, "
            f"{time.perf_counter() - started:.1f} s)"
        )
    return 0
