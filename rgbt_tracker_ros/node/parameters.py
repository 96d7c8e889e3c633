"""The ROS parameters of the nodes as data (no rclpy): name, default, description.

The nodes declare exactly these (with the descriptions, visible in ``ros2 param describe``);
``config/track.yaml`` and ``config/teacher.yaml`` hold the same defaults, which a plain-pytest test
checks, so the table, the YAML files and ``docs/ros.md`` cannot drift apart silently.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import yaml

from rgbt_tracker_ros.errors import InputError

#: Values of the ``*_transport`` parameters (image_transport names: ``<topic>/compressed``).
TRANSPORTS = ("raw", "compressed")
#: Values of ``qos_reliability``.
RELIABILITIES = ("best_effort", "reliable")


@dataclass(frozen=True)
class NodeParameter:
    """One declared parameter."""

    name: str
    default: Any
    description: str
    read_only: bool = False


_SENSOR = (
    NodeParameter("rgb_transport", "raw", "RGB input: 'raw' (sensor_msgs/Image on rgb/image_raw) or 'compressed' "
                  "(sensor_msgs/CompressedImage on rgb/image_raw/compressed)", True),
    NodeParameter("thermal_transport", "raw", "thermal input: 'raw' or 'compressed' (PNG keeps 16-bit counts)", True),
    NodeParameter("qos_reliability", "best_effort", "image subscriptions: 'best_effort' (sensor-data QoS, connects "
                  "to any publisher) or 'reliable' (only to reliable publishers)", True),
    NodeParameter("qos_depth", 5, "image subscription history depth", True),
    NodeParameter("sync_queue_size", 10, "ApproximateTimeSynchronizer queue size per camera", True),
    NodeParameter("sync_slop", 0.05, "ApproximateTimeSynchronizer slop: max RGB/thermal stamp difference (s)", True),
    NodeParameter("frame_cache_size", 30, "synchronised pairs kept so an init box applies to the frame it names", True),
    NodeParameter("init_stamp_tolerance", 0.05, "max distance (s) between an init stamp and a cached frame's stamp",
                  True),
    NodeParameter("initial_box", [0.0, 0.0, 0.0, 0.0], "box [x, y, w, h] (floats, pixels) for the first frame "
                  "received (track_node: after each activation); all zeros: wait for ~/init", True),
)

TRACK_NODE_PARAMETERS: tuple[NodeParameter, ...] = (
    NodeParameter("tracker", "dimp", "tracker kind for tracking.factory.create_tracker", True),
    NodeParameter("model", "", "checkpoint of the tracking model (the CMD student); empty: the factory default", True),
    NodeParameter("tracker_params", "", "DiMP tracker parameters: bundled name or YAML path; empty: dimp", True),
    NodeParameter("device", "auto", "auto (CUDA when present, else CPU), cpu, cuda or cuda:N", True),
    NodeParameter("fp16", True, "float16 autocast on CUDA (ignored on the CPU)", True),
    NodeParameter("autostart", False, "configure and activate at start-up (one-command launches)", True),
    *_SENSOR,
    NodeParameter("debug_image", True, "create ~/debug_image (bgr8); rendered only while someone subscribes", True),
    NodeParameter("expected_rate_min", 5.0, "diagnostics: lowest acceptable pair / detection rate (Hz)", True),
    NodeParameter("expected_rate_max", 100.0, "diagnostics: highest acceptable pair / detection rate (Hz)", True),
    NodeParameter("latency_warn", 0.25, "diagnostics: p95 stamp-to-publish latency (s) that warns"),
    NodeParameter("latency_error", 1.0, "diagnostics: p95 stamp-to-publish latency (s) that is an error"),
    NodeParameter("dark_rgb_mean", 20.0, "diagnostics: mean RGB luma (0-255) below which the RGB image is dark"),
    NodeParameter("flat_thermal_spread", 0.0, "diagnostics: thermal p1-p99 spread (raw units) below which it is "
                  "flat; 0: by dtype (8 for uint8, 64 for uint16, 0.5 for float)"),
)

TEACHER_NODE_PARAMETERS: tuple[NodeParameter, ...] = (
    NodeParameter("model", "", "teacher checkpoint (required)", True),
    NodeParameter("tracker_params", "", "DiMP tracker parameters: bundled name or YAML path; empty: dimp", True),
    NodeParameter("device", "auto", "auto (CUDA when present, else CPU), cpu, cuda or cuda:N", True),
    NodeParameter("out", "", "teacher bundle folder to write (required); new sequences are added to an existing one",
                  True),
    NodeParameter("frames", "images", "bundle frames: 'images' (LasHeR layout copies) or 'reference' (stamps only)",
                  True),
    NodeParameter("feature_keys", "", "teacher features stored in fp16: comma list of group.level or 'all'", True),
    NodeParameter("chunk_size", 100, "frames per npz chunk of the bundle", True),
    NodeParameter("sequence_prefix", "live", "bundle sequence names: <prefix>_<init stamp>_<track id>", True),
    NodeParameter("queue_max", 300, "pairs waiting for the teacher before new ones are dropped", True),
    NodeParameter("use_ground_truth", True, "initialise from the first non-empty Detection2DArray on ground_truth",
                  True),
    NodeParameter("init_file", "", "text file whose first line x,y,w,h initialises the first frame", True),
    *_SENSOR,
)


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else :class:`InputError` naming the parameter."""
    if value not in choices:
        raise InputError(f"parameter {name} is {value!r}; choose one of {', '.join(choices)}")
    return value


def optional_box(values: Any) -> Union[None, list[float]]:
    """The ``initial_box`` parameter as a box, ``None`` for all zeros; :class:`InputError` for a wrong length."""
    values = [float(v) for v in values]
    if len(values) != 4:
        raise InputError(f"parameter initial_box needs 4 numbers [x, y, w, h], got {values}")
    return None if not any(values) else values


def yaml_defaults(path: Union[str, Path]) -> dict[str, Any]:
    """The ``ros__parameters`` of the ``/**`` section of a node parameter file."""
    data = yaml.safe_load(Path(path).read_text())
    try:
        return dict(data["/**"]["ros__parameters"])
    except (TypeError, KeyError) as err:
        raise InputError(f"{path}: expected a '/**: ros__parameters:' section") from err
