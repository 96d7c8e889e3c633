"""Write frame-pair sequences as LasHeR-style folders and as rosbag2 bags.

Both writers take :class:`~rgbt_tracker_ros.data.frames.FramePair` objects one at a time, so a
sequence streams from the generator to disk (and to both formats in one pass) without being held in
memory. A folder can hold both: the LasHeR files and a bag's ``metadata.yaml`` + storage file do not
collide, and ``ros2 bag play <folder>`` ignores the other files.

LasHeR layout (RGBT234-style attribute files added)::

    <seq>/visible/v000001.jpg ...     RGB frames
    <seq>/infrared/i000001.jpg ...    8-bit thermal: round(255 * normalize_thermal(counts)) per frame,
                                      the tracker's own normalisation, so folders and 16-bit bags
                                      look the same to a network
    <seq>/visible.txt, infrared.txt   x,y,w,h per frame (0,0,0,0 when the target is out of view)
    <seq>/init.txt                    = visible.txt (LasHeR's init.txt is the visible ground truth)
    <seq>/<attribute>.txt             one 0/1 per frame for every attribute
    <seq>/sequence.json               the generator spec (provenance)

Bag layout (rosbag2 metadata version 8, which ``ros2 bag play`` reads on Humble and Jazzy): RGB
``rgb8`` and thermal (``mono16`` for uint16 counts) ``sensor_msgs/Image`` with their own stamps, a
``sensor_msgs/CameraInfo`` per image, and one ``vision_msgs/Detection2DArray`` per RGB frame on the
ground-truth topic (header = the RGB image's; detection ``id`` ``"rgb"`` then ``"thermal"``, each with
hypothesis ``"target"`` score 1.0 and ``bbox`` centre ``x + w/2, y + h/2``, size ``w, h``; empty
when the target is out of view). Messages are recorded at their header stamps. Stamps are written
at microsecond resolution (float seconds at epoch scale carry about 0.2 us).
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Optional, Union

import cv2
import numpy as np
from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer, WriterError

from rgbt_tracker_ros import __version__
from rgbt_tracker_ros.data import topics
from rgbt_tracker_ros.data.decode import normalize_thermal, numpy_to_image_msg
from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.data.rosmsgs import CAMERA_INFO, DETECTION_2D_ARRAY, IMAGE, msg_class, typestore
from rgbt_tracker_ros.data.synthetic import ATTRIBUTES, ScenarioSpec, generate_sequence
from rgbt_tracker_ros.errors import BagError, DatasetError, InputError

#: rosbag2 metadata version written: the newest that ``ros2 bag play`` accepts on Humble.
BAG_VERSION = 8
STORAGES = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
FORMATS = ("lasher", "bag")
JPEG_QUALITY = 95
#: Horizontal field of view behind the CameraInfo intrinsics (both cameras: a registered pair).
HORIZONTAL_FOV_DEG = 55.0
#: Frame rate assumed for frames that carry no stamps (e.g. converted from a data set).
FALLBACK_FPS = 30.0
#: bag custom_data key holding the generator spec (JSON).
SPEC_KEY = "rgbt_tracker_ros.synthetic_spec"

Source = Union[ScenarioSpec, Iterable[FramePair]]


def _frames_and_spec(source: Source) -> tuple[Iterable[FramePair], Optional[ScenarioSpec]]:
    if isinstance(source, ScenarioSpec):
        return generate_sequence(source), source
    return source, None


def format_box(box: Optional[np.ndarray]) -> str:
    """``x,y,w,h`` with integers written without decimals; ``0,0,0,0`` for no box."""
    if box is None:
        return "0,0,0,0"
    return ",".join(f"{float(value):.10g}" for value in np.asarray(box, dtype=np.float64).reshape(4))


def thermal_to_uint8(thermal: np.ndarray) -> np.ndarray:
    """The 8-bit infrared image stored in folders: ``round(255 * normalize_thermal(thermal))``."""
    return np.rint(normalize_thermal(thermal) * 255.0).astype(np.uint8)


def seconds_to_ns(seconds: float) -> int:
    """Stamp in seconds -> integer nanoseconds, rounded to the microsecond (see module doc)."""
    return int(round(float(seconds) * 1e6)) * 1000


class LasherWriter:
    """Writes one LasHeR-style sequence folder; use as a context manager or call :meth:`close`."""

    def __init__(
        self, out_dir: Union[str, Path], spec: Optional[ScenarioSpec] = None, jpeg_quality: int = JPEG_QUALITY
    ):
        self.out_dir = Path(out_dir)
        if (self.out_dir / "visible.txt").exists():
            raise DatasetError(f"{self.out_dir} already holds a LasHeR sequence (visible.txt); not overwriting")
        self.spec = spec
        self.jpeg_quality = int(jpeg_quality)
        self._boxes: dict[str, list[str]] = {"visible": [], "infrared": []}
        self._flags: dict[str, list[int]] = {name: [] for name in ATTRIBUTES}
        for folder in ("visible", "infrared"):
            (self.out_dir / folder).mkdir(parents=True, exist_ok=True)

    @property
    def frames_written(self) -> int:
        return len(self._boxes["visible"])

    def add(self, pair: FramePair) -> None:
        """Write ``pair``'s images and remember its boxes and attribute flags."""
        pair.validate()
        number = self.frames_written + 1
        self._imwrite(self.out_dir / "visible" / f"v{number:06d}.jpg", cv2.cvtColor(pair.rgb, cv2.COLOR_RGB2BGR))
        self._imwrite(self.out_dir / "infrared" / f"i{number:06d}.jpg", thermal_to_uint8(pair.thermal))
        self._boxes["visible"].append(format_box(pair.gt_rgb))
        self._boxes["infrared"].append(format_box(pair.gt_thermal))
        for name in set(pair.attributes) - set(self._flags):
            self._flags[name] = [0] * (number - 1)
        for name, values in self._flags.items():
            values.append(int(bool(pair.attributes.get(name, False))))

    def _imwrite(self, path: Path, image: np.ndarray) -> None:
        if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality]):
            raise DatasetError(f"could not write {path}")

    def close(self) -> Path:
        """Write the ground-truth, attribute and provenance files; returns the folder."""
        if self.frames_written == 0:
            raise InputError(f"no frames were written to {self.out_dir}")
        visible = "\n".join(self._boxes["visible"]) + "\n"
        (self.out_dir / "visible.txt").write_text(visible)
        (self.out_dir / "init.txt").write_text(visible)
        (self.out_dir / "infrared.txt").write_text("\n".join(self._boxes["infrared"]) + "\n")
        for name, values in self._flags.items():
            (self.out_dir / f"{name}.txt").write_text("".join(f"{value}\n" for value in values))
        provenance = {
            "generator": "rgbt_tracker_ros.data.synthetic",
            "package_version": __version__,
            "spec": self.spec.to_dict() if self.spec is not None else None,
            "frames_written": self.frames_written,
            "attributes_files": sorted(self._flags),
            "infrared_jpg": "round(255 * normalize_thermal(counts, mode='auto')) per frame",
            "box_format": "x,y,w,h (top-left, size, pixels); 0,0,0,0 = target out of view",
        }
        (self.out_dir / "sequence.json").write_text(json.dumps(provenance, indent=2) + "\n")
        return self.out_dir

    def __enter__(self) -> "LasherWriter":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()


def camera_info(width: int, height: int, stamp_ns: int, frame_id: str):
    """A ``sensor_msgs/CameraInfo``: pinhole K for :data:`HORIZONTAL_FOV_DEG`, no distortion."""
    focal = width / (2.0 * math.tan(math.radians(HORIZONTAL_FOV_DEG) / 2.0))
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    k = np.array([focal, 0.0, cx, 0.0, focal, cy, 0.0, 0.0, 1.0])
    return msg_class(CAMERA_INFO)(
        header=_header(stamp_ns, frame_id),
        height=height,
        width=width,
        distortion_model="plumb_bob",
        d=np.zeros(5),
        k=k,
        r=np.eye(3).reshape(-1),
        p=np.array([focal, 0.0, cx, 0.0, 0.0, focal, cy, 0.0, 0.0, 0.0, 1.0, 0.0]),
        binning_x=0,
        binning_y=0,
        roi=msg_class("sensor_msgs/msg/RegionOfInterest")(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )


def _header(stamp_ns: int, frame_id: str):
    stamp = msg_class("builtin_interfaces/msg/Time")(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
    return msg_class("std_msgs/msg/Header")(stamp=stamp, frame_id=frame_id)


def _detection(header, box: np.ndarray, detection_id: str):
    x, y, w, h = (float(value) for value in box)
    hypothesis = msg_class("vision_msgs/msg/ObjectHypothesisWithPose")(
        hypothesis=msg_class("vision_msgs/msg/ObjectHypothesis")(class_id="target", score=1.0),
        pose=msg_class("geometry_msgs/msg/PoseWithCovariance")(
            pose=msg_class("geometry_msgs/msg/Pose")(
                position=msg_class("geometry_msgs/msg/Point")(x=0.0, y=0.0, z=0.0),
                orientation=msg_class("geometry_msgs/msg/Quaternion")(x=0.0, y=0.0, z=0.0, w=1.0),
            ),
            covariance=np.zeros(36),
        ),
    )
    bbox = msg_class("vision_msgs/msg/BoundingBox2D")(
        center=msg_class("vision_msgs/msg/Pose2D")(
            position=msg_class("vision_msgs/msg/Point2D")(x=x + w / 2.0, y=y + h / 2.0), theta=0.0
        ),
        size_x=w,
        size_y=h,
    )
    return msg_class("vision_msgs/msg/Detection2D")(header=header, results=[hypothesis], bbox=bbox, id=detection_id)


def ground_truth_msg(stamp_ns: int, gt_rgb: Optional[np.ndarray], gt_thermal: Optional[np.ndarray]):
    """The ``vision_msgs/Detection2DArray`` of one RGB frame (see the module doc)."""
    header = _header(stamp_ns, topics.RGB_FRAME_ID)
    detections = [
        _detection(header, box, detection_id)
        for box, detection_id in ((gt_rgb, "rgb"), (gt_thermal, "thermal"))
        if box is not None
    ]
    return msg_class(DETECTION_2D_ARRAY)(header=header, detections=detections)


_THERMAL_ENCODINGS = {np.dtype(np.uint16): "mono16", np.dtype(np.uint8): "mono8", np.dtype(np.float32): "32FC1"}


class BagWriter:
    """Writes one sequence as a rosbag2 into ``out_dir`` (which may already hold other files).

    The bag is written in a staging folder beside ``out_dir`` and its two files are moved in on
    :meth:`close`, so a failed run leaves no half-written bag. ``compress`` enables rosbag2's
    per-message zstd compression, which ``ros2 bag play`` and rosbags read transparently.
    """

    def __init__(
        self,
        out_dir: Union[str, Path],
        storage: str = "sqlite3",
        compress: bool = False,
        spec: Optional[ScenarioSpec] = None,
    ):
        if storage not in STORAGES:
            raise InputError(f"unknown bag storage {storage!r}; choose from {', '.join(STORAGES)}")
        self.out_dir = Path(out_dir)
        if (self.out_dir / "metadata.yaml").exists():
            raise BagError(f"{self.out_dir} already holds a bag (metadata.yaml); not overwriting")
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self._staging = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.", dir=self.out_dir.parent))
        self._writer = Writer(self._staging / self.out_dir.name, version=BAG_VERSION, storage_plugin=STORAGES[storage])
        if compress:
            self._writer.set_compression(CompressionMode.MESSAGE, CompressionFormat.ZSTD)
        if spec is not None:
            self._writer.set_custom_data(SPEC_KEY, json.dumps(spec.to_dict()))
        self._fps = spec.fps if spec is not None else FALLBACK_FPS
        self._start_ns = spec.start_ns if spec is not None else 0
        self._store = typestore()
        self._writer.open()
        add = self._writer.add_connection
        self._connections = {
            "rgb": add(topics.RGB_TOPIC, IMAGE, typestore=self._store),
            "thermal": add(topics.THERMAL_TOPIC, IMAGE, typestore=self._store),
            "rgb_info": add(topics.RGB_INFO_TOPIC, CAMERA_INFO, typestore=self._store),
            "thermal_info": add(topics.THERMAL_INFO_TOPIC, CAMERA_INFO, typestore=self._store),
            "ground_truth": add(topics.GROUND_TRUTH_TOPIC, DETECTION_2D_ARRAY, typestore=self._store),
        }
        self.frames_written = 0

    def _stamps_ns(self, pair: FramePair) -> tuple[int, int]:
        """(RGB, thermal) stamps; a missing one takes the other's, both missing ``index / fps``."""
        rgb, thermal = pair.stamp_rgb, pair.stamp_thermal
        if rgb is None and thermal is None:
            fallback = self._start_ns + round(pair.index * 1e9 / self._fps)
            return fallback, fallback
        rgb_ns = seconds_to_ns(rgb if rgb is not None else thermal)
        return rgb_ns, seconds_to_ns(thermal) if thermal is not None else rgb_ns

    def _write(self, key: str, stamp_ns: int, msg, msgtype: str) -> None:
        self._writer.write(self._connections[key], stamp_ns, self._store.serialize_cdr(msg, msgtype))

    def add(self, pair: FramePair) -> None:
        """Write the images, camera infos and ground truth of ``pair``."""
        pair.validate()
        height, width = pair.size
        rgb_ns, thermal_ns = self._stamps_ns(pair)
        encoding = _THERMAL_ENCODINGS[pair.thermal.dtype]
        self._write("rgb", rgb_ns, numpy_to_image_msg(pair.rgb, "rgb8", rgb_ns, topics.RGB_FRAME_ID), IMAGE)
        self._write("rgb_info", rgb_ns, camera_info(width, height, rgb_ns, topics.RGB_FRAME_ID), CAMERA_INFO)
        thermal_msg = numpy_to_image_msg(pair.thermal, encoding, thermal_ns, topics.THERMAL_FRAME_ID)
        self._write("thermal", thermal_ns, thermal_msg, IMAGE)
        self._write(
            "thermal_info", thermal_ns, camera_info(width, height, thermal_ns, topics.THERMAL_FRAME_ID), CAMERA_INFO
        )
        self._write("ground_truth", rgb_ns, ground_truth_msg(rgb_ns, pair.gt_rgb, pair.gt_thermal), DETECTION_2D_ARRAY)
        self.frames_written += 1

    def close(self) -> Path:
        """Finish the bag and move it into ``out_dir``; returns ``out_dir``."""
        if self.frames_written == 0:
            self.abort()
            raise InputError(f"no frames were written to the bag {self.out_dir}")
        try:
            self._writer.close()
        except WriterError as exc:
            self.abort()
            raise BagError(f"could not finish the bag {self.out_dir}: {exc}") from exc
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for path in (self._staging / self.out_dir.name).iterdir():
            shutil.move(str(path), str(self.out_dir / path.name))
        shutil.rmtree(self._staging)
        return self.out_dir

    def abort(self) -> None:
        """Drop the unfinished bag (nothing in ``out_dir`` is touched)."""
        self._writer.abort()
        shutil.rmtree(self._staging, ignore_errors=True)

    def __enter__(self) -> "BagWriter":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_lasher(source: Source, out_dir: Union[str, Path]) -> Path:
    """Write a spec's generated frames (or any frame pairs) as a LasHeR folder ``out_dir``."""
    frames, spec = _frames_and_spec(source)
    with LasherWriter(out_dir, spec) as writer:
        for pair in frames:
            writer.add(pair)
    return Path(out_dir)


def write_bag(source: Source, out_dir: Union[str, Path], storage: str = "sqlite3", compress: bool = False) -> Path:
    """Write a spec's generated frames (or any frame pairs) as a rosbag2 in ``out_dir``."""
    frames, spec = _frames_and_spec(source)
    with BagWriter(out_dir, storage=storage, compress=compress, spec=spec) as writer:
        for pair in frames:
            writer.add(pair)
    return Path(out_dir)


def write_sequence(
    spec: ScenarioSpec,
    out_dir: Union[str, Path],
    formats: Iterable[str] = FORMATS,
    storage: str = "sqlite3",
    compress: bool = False,
) -> Path:
    """Generate ``spec`` once and write it in every requested format into ``out_dir``."""
    formats = tuple(formats)
    unknown = [name for name in formats if name not in FORMATS]
    if unknown or not formats:
        raise InputError(f"unknown output format(s) {unknown or formats}; choose from {', '.join(FORMATS)}")
    bag = BagWriter(out_dir, storage=storage, compress=compress, spec=spec) if "bag" in formats else None
    try:
        lasher = LasherWriter(out_dir, spec) if "lasher" in formats else None
        for pair in generate_sequence(spec):
            if lasher is not None:
                lasher.add(pair)
            if bag is not None:
                bag.add(pair)
        if lasher is not None:
            lasher.close()
    except BaseException:
        if bag is not None:
            bag.abort()
        raise
    if bag is not None:
        bag.close()
    return Path(out_dir)
