"""Reading RGB + thermal frame pairs from rosbag2 recordings (sqlite3 or mcap) without ROS.

Images are paired on their ``header.stamp`` with the same rule as the live node
(:class:`rgbt_tracker_ros.data.sync.ApproximateTimeSynchronizer`, message_filters' Python
semantics), fed in the bag's recording order, so replaying a bag through this reader and through
the node gives the same pairs. Ground truth, when the bag has it, is a ``vision_msgs/Detection2DArray``
stamped like the RGB image (see :mod:`rgbt_tracker_ros.data.topics`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Optional, Union

import numpy as np
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.rosbag2 import ReaderError
from rosbags.serde import SerdeError
from rosbags.typesys import TypesysError

from rgbt_tracker_ros.data.decode import image_msg_to_numpy, to_rgb, to_thermal
from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.data.rosmsgs import COMPRESSED_IMAGE, DETECTION_2D_ARRAY, IMAGE, typestore
from rgbt_tracker_ros.data.sync import ApproximateTimeSynchronizer
from rgbt_tracker_ros.data.topics import GROUND_TRUTH_TOPIC, RGB_TOPIC, THERMAL_TOPIC
from rgbt_tracker_ros.errors import BagError, InputError

PathLike = Union[str, Path]
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)
_ROSBAG_ERRORS = (AnyReaderError, ReaderError, SerdeError, TypesysError, OSError)


class TopicInfo(NamedTuple):
    """A topic of a bag: its message type and how many messages it holds."""

    msgtype: str
    message_count: int


@dataclass
class PairingStats:
    """Counts of one pass over a bag: image messages per camera and the pairs they formed."""

    rgb_messages: int = 0
    thermal_messages: int = 0
    pairs: int = 0

    def count(self, input_index: int) -> None:
        """One image message of input ``input_index`` (0: RGB, 1: thermal) was read."""
        if input_index == 0:
            self.rgb_messages += 1
        else:
            self.thermal_messages += 1


@dataclass(frozen=True)
class RawImage:
    """One RGB or thermal message of a bag as recorded (CDR bytes); :meth:`deserialize` gives the message."""

    bag: Path
    topic: str
    input_index: int  # 0: RGB, 1: thermal (the synchroniser's input order)
    log_ns: int
    data: bytes
    msgtype: str
    reader: AnyReader = field(repr=False, compare=False)

    def deserialize(self) -> Any:
        """The ``sensor_msgs/Image`` or ``CompressedImage`` (:class:`BagError` if the bytes do not parse)."""
        try:
            return self.reader.deserialize(self.data, self.msgtype)
        except _ROSBAG_ERRORS as err:
            raise BagError(f"bag {self.bag}: cannot deserialize a message on {self.topic}: {err}") from err


def stamp_ns(msg: Any) -> int:
    """``msg.header.stamp`` in integer nanoseconds."""
    stamp = msg.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def detection_box(detection: Any) -> np.ndarray:
    """A ``vision_msgs/Detection2D`` bbox (centre + size) as float64 ``[x, y, w, h]``."""
    bbox = detection.bbox
    width, height = float(bbox.size_x), float(bbox.size_y)
    return np.array(
        [bbox.center.position.x - width / 2.0, bbox.center.position.y - height / 2.0, width, height],
        dtype=np.float64,
    )


def ground_truth_boxes(msg: Any) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """``(gt_rgb, gt_thermal)`` of a ``Detection2DArray``: the detections with id ``"rgb"`` and
    ``"thermal"``, else the first detection for both; ``(None, None)`` when it is empty (target
    out of view)."""
    detections = list(msg.detections)
    if not detections:
        return None, None
    by_id = {str(d.id): d for d in detections}
    rgb = by_id.get("rgb", detections[0])
    thermal = by_id.get("thermal", rgb)
    return detection_box(rgb), detection_box(thermal)


def _open(path: Path) -> AnyReader:
    if not path.exists():
        raise BagError(f"bag {path} does not exist")
    try:
        reader = AnyReader([path], default_typestore=typestore())
        reader.open()
    except _ROSBAG_ERRORS as err:
        raise BagError(
            f"{path} is not a readable rosbag2 (a folder with metadata.yaml, or a .db3/.mcap file): {err}"
        ) from err
    return reader


def _describe_topics(topics: dict[str, TopicInfo]) -> str:
    return ", ".join(f"{name} ({info.msgtype})" for name, info in sorted(topics.items())) or "none"


def _topics(reader: AnyReader) -> dict[str, TopicInfo]:
    return {name: TopicInfo(info.msgtype or "", int(info.msgcount)) for name, info in reader.topics.items()}


class BagPairReader:
    """Iterate a rosbag2 as validated :class:`FramePair` s (stamps and ground truth set).

    The bag is checked on construction: it must open, hold ``rgb_topic`` and ``thermal_topic`` as
    ``sensor_msgs/Image`` or ``CompressedImage``, and ``gt_topic`` (optional; ``None`` skips it)
    must be a ``Detection2DArray`` when present. Any camera encoding the decoder knows can feed
    either slot (grey RGB cameras are replicated, colour thermal cameras converted to grey).
    Iteration raises :class:`BagError` for an undecodable image or cameras of different sizes.
    ``stats`` holds the counts of the latest pass.
    """

    def __init__(
        self,
        path: PathLike,
        rgb_topic: str = RGB_TOPIC,
        thermal_topic: str = THERMAL_TOPIC,
        gt_topic: Optional[str] = GROUND_TRUTH_TOPIC,
        queue_size: int = 10,
        slop: float = 0.05,
    ) -> None:
        self.path = Path(path)
        self.rgb_topic, self.thermal_topic, self.gt_topic = rgb_topic, thermal_topic, gt_topic
        self.queue_size, self.slop = queue_size, slop
        ApproximateTimeSynchronizer(queue_size, slop)  # validates the parameters early
        if rgb_topic == thermal_topic:
            raise BagError(f"the RGB and thermal topics must differ, both are {rgb_topic}")
        reader = _open(self.path)
        try:
            self._topics = _topics(reader)
        finally:
            reader.close()
        for role, topic in (("RGB", rgb_topic), ("thermal", thermal_topic)):
            if topic not in self._topics:
                raise BagError(
                    f"bag {self.path} has no {role} topic {topic}; "
                    f"its topics: {_describe_topics(self._topics)}"
                )
            if self._topics[topic].msgtype not in IMAGE_TYPES:
                raise BagError(
                    f"bag {self.path}: {role} topic {topic} is {self._topics[topic].msgtype}, "
                    f"expected {' or '.join(IMAGE_TYPES)}"
                )
        if gt_topic in self._topics and self._topics[gt_topic].msgtype != DETECTION_2D_ARRAY:
            raise BagError(
                f"bag {self.path}: ground-truth topic {gt_topic} is {self._topics[gt_topic].msgtype}, "
                f"expected {DETECTION_2D_ARRAY}"
            )
        self.stats = PairingStats()

    def topics(self) -> dict[str, TopicInfo]:
        """Every topic of the bag with its message type and message count."""
        return dict(self._topics)

    @property
    def has_ground_truth(self) -> bool:
        """Whether the bag holds the ground-truth topic."""
        return self.gt_topic is not None and self.gt_topic in self._topics

    def ground_truth(self) -> dict[int, tuple[Optional[np.ndarray], Optional[np.ndarray]]]:
        """All ground truth of the bag keyed by header stamp (ns): ``(gt_rgb, gt_thermal)``."""
        if not self.has_ground_truth:
            return {}
        boxes: dict[int, tuple[Optional[np.ndarray], Optional[np.ndarray]]] = {}
        reader = _open(self.path)
        try:
            connections = [c for c in reader.connections if c.topic == self.gt_topic]
            for connection, _, raw in reader.messages(connections=connections):
                msg = reader.deserialize(raw, connection.msgtype)
                boxes[stamp_ns(msg)] = ground_truth_boxes(msg)
        except _ROSBAG_ERRORS as err:
            raise BagError(f"bag {self.path}: cannot read {self.gt_topic}: {err}") from err
        finally:
            reader.close()
        return boxes

    def image_messages(self) -> Iterator[RawImage]:
        """Every RGB and thermal message of the bag in recording order, still CDR-serialised."""
        inputs = {self.rgb_topic: 0, self.thermal_topic: 1}
        reader = _open(self.path)
        try:
            connections = [c for c in reader.connections if c.topic in inputs]
            for connection, log_ns, raw in reader.messages(connections=connections):
                yield RawImage(self.path, connection.topic, inputs[connection.topic], int(log_ns), raw,
                               connection.msgtype, reader)
        except _ROSBAG_ERRORS as err:
            raise BagError(f"bag {self.path}: read failed: {err}") from err
        finally:
            reader.close()

    def check_paired(self, stats: PairingStats) -> None:
        """:class:`BagError` when both cameras sent images but no stamps lay within the slop."""
        if stats.pairs == 0 and stats.rgb_messages and stats.thermal_messages:
            raise BagError(
                f"bag {self.path}: no {self.rgb_topic} / {self.thermal_topic} stamps lie within "
                f"slop {self.slop} s ({stats.rgb_messages} RGB, {stats.thermal_messages} thermal "
                f"messages); check the header stamps or raise the slop"
            )

    def __iter__(self) -> Iterator[FramePair]:
        ground_truth = self.ground_truth()
        synchronizer = ApproximateTimeSynchronizer(self.queue_size, self.slop)
        self.stats = stats = PairingStats()
        for raw in self.image_messages():
            msg = raw.deserialize()
            stats.count(raw.input_index)
            for rgb_msg, thermal_msg in synchronizer.add_ns(raw.input_index, stamp_ns(msg), msg):
                pair = self._make_pair(stats.pairs, rgb_msg, thermal_msg, ground_truth)
                stats.pairs += 1
                yield pair
        self.check_paired(stats)

    def _make_pair(self, index: int, rgb_msg: Any, thermal_msg: Any, ground_truth: dict) -> FramePair:
        rgb_stamp, thermal_stamp = stamp_ns(rgb_msg), stamp_ns(thermal_msg)
        where = f"bag {self.path} pair {index} (RGB stamp {rgb_stamp / 1e9:.9f} s)"
        try:
            rgb = to_rgb(image_msg_to_numpy(rgb_msg))
        except InputError as err:
            raise BagError(f"{where}: {self.rgb_topic}: {err}") from err
        try:
            thermal = to_thermal(image_msg_to_numpy(thermal_msg))
        except InputError as err:
            raise BagError(f"{where}: {self.thermal_topic}: {err}") from err
        if rgb.shape[:2] != thermal.shape:
            raise BagError(
                f"{where}: {self.rgb_topic} is {rgb.shape[1]}x{rgb.shape[0]} but {self.thermal_topic} is "
                f"{thermal.shape[1]}x{thermal.shape[0]}; the cameras must be registered to one size"
            )
        gt_rgb, gt_thermal = ground_truth.get(rgb_stamp, (None, None))
        pair = FramePair(
            rgb=rgb,
            thermal=thermal,
            index=index,
            stamp_rgb=rgb_stamp / 1e9,
            stamp_thermal=thermal_stamp / 1e9,
            gt_rgb=gt_rgb,
            gt_thermal=gt_thermal,
        )
        try:
            return pair.validate()
        except InputError as err:
            raise BagError(f"{where}: {err}") from err


def first_ground_truth(path: PathLike, gt_topic: str = GROUND_TRUTH_TOPIC) -> Optional[np.ndarray]:
    """The first visible ground-truth box ``[x, y, w, h]`` of a bag (for initialising a tracker),
    or ``None`` if the bag has no ground-truth topic or every message on it is empty."""
    path = Path(path)
    reader = _open(path)
    try:
        connections = [c for c in reader.connections if c.topic == gt_topic]
        if not connections:  # rosbags reads every topic when given no connections
            return None
        if connections[0].msgtype != DETECTION_2D_ARRAY:
            raise BagError(
                f"bag {path}: ground-truth topic {gt_topic} is {connections[0].msgtype}, "
                f"expected {DETECTION_2D_ARRAY}"
            )
        for connection, _, raw in reader.messages(connections=connections):
            gt_rgb, _ = ground_truth_boxes(reader.deserialize(raw, connection.msgtype))
            if gt_rgb is not None:
                return gt_rgb
    except _ROSBAG_ERRORS as err:
        raise BagError(f"bag {path}: cannot read {gt_topic}: {err}") from err
    finally:
        reader.close()
    return None
