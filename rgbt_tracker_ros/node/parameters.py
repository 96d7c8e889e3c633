"""The ROS parameters of the nodes as data (no rclpy): name, default, description, type.

The nodes declare exactly these (with the descriptions, visible in ``ros2 param describe``);
``config/track.yaml`` and ``config/teacher.yaml`` hold the same defaults, which a plain-pytest test
checks, so the table, the YAML files and ``docs/ros.md`` cannot drift apart silently.

Types (our design): a parameter's type is its default's. Parameter files written by people say
``5`` where a float is meant, and rclpy refuses an integer for a parameter declared as a double
(``InvalidParameterTypeException``, the node dies at start-up). So the nodes declare every
parameter with dynamic typing and check values here, in :func:`coerce`: an integer is accepted
for a float (and integer lists for float lists); any other mismatch is one clear
:class:`InputError` line, which the track node reports by failing *configure* (it stays alive,
unconfigured) and ``ros2 param set`` gets as its refusal reason.
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

    @property
    def type_name(self) -> str:
        """``bool``, ``integer``, ``float``, ``string`` or ``float list``: the type of the default."""
        return _type_name(self.default)

    @property
    def described(self) -> str:
        """The description with the accepted type, as declared to ROS."""
        accepts = " (integers accepted)" if self.type_name in ("float", "float list") else ""
        return f"{self.description} [{self.type_name}{accepts}]"


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
    NodeParameter("model", "", "checkpoint of the tracking model (CMD student for dimp, AINet for ainet); empty: the "
                  "factory default (dimp only)", True),
    NodeParameter("tracker_params", "", "tracker parameters: bundled name or YAML path; empty: the tracker's own "
                  "(dimp, ainet)", True),
    NodeParameter("device", "auto", "auto (CUDA when present, else CPU), cpu, cuda or cuda:N", True),
    NodeParameter("fp16", True, "float16 on CUDA: autocast (torch backend) or an fp16 engine (tensorrt); ignored on the "
                  "CPU", True),
    NodeParameter("backend", "torch", "inference backend of the dimp networks: 'torch', 'onnxruntime' (ONNX export; CPU, "
                  "or CUDA with onnxruntime-gpu) or 'tensorrt' (CUDA; engines built on first use)", True),
    NodeParameter("export_dir", "", "ONNX export folder for onnxruntime / tensorrt (rgbt-tracker export CKPT --format "
                  "onnx); empty: the model is exported into a cache folder on activation", True),
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
    NodeParameter("model", "", "teacher checkpoint (required): a CMD teacher (dimp tracker) or an AINet (ainet "
                  "tracker)", True),
    NodeParameter("tracker_params", "", "tracker parameters: bundled name or YAML path; empty: the tracker's own "
                  "(dimp, ainet)", True),
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


PARAMETERS_BY_NAME: dict[str, NodeParameter] = {p.name: p for p in (*TRACK_NODE_PARAMETERS, *TEACHER_NODE_PARAMETERS)}


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        kinds = {_type_name(v) for v in value}
        if kinds <= {"float", "integer"}:
            return "float list" if "float" in kinds or not kinds else "integer list"
        return "list"
    return type(value).__name__


def coerce(name: str, value: Any) -> Any:
    """``value`` of the declared parameter ``name`` as its declared type; :class:`InputError` if it is not.

    An integer is accepted for a float and a list of numbers for a float list; nothing else is converted.
    """
    declared = PARAMETERS_BY_NAME[name]
    wanted, given = declared.type_name, _type_name(value)
    if given == wanted:
        return list(value) if wanted == "float list" else value
    if wanted == "float" and given == "integer":
        return float(value)
    if wanted == "float list" and given in ("integer list", "float list"):
        return [float(v) for v in value]
    raise InputError(f"parameter {name} must be of type {wanted}, got {value!r} ({given})")


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
