"""Tests of data.bags: pairing and decoding RGB-T rosbag2 files (sqlite3 and mcap) without ROS."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from rgbt_tracker_ros.data.bags import BagPairReader, first_ground_truth
from rgbt_tracker_ros.data.decode import numpy_to_image_msg
from rgbt_tracker_ros.data.rosmsgs import COMPRESSED_IMAGE, DETECTION_2D_ARRAY, IMAGE, msg_class, typestore
from rgbt_tracker_ros.data.topics import GROUND_TRUTH_TOPIC, RGB_TOPIC, THERMAL_TOPIC
from rgbt_tracker_ros.errors import BagError

SEC = 1_000_000_000
T0 = 1_700_000_000 * SEC


def header(stamp_ns: int, frame_id: str = ""):
    time = msg_class("builtin_interfaces/msg/Time")(sec=stamp_ns // SEC, nanosec=stamp_ns % SEC)
    return msg_class("std_msgs/msg/Header")(stamp=time, frame_id=frame_id)


def detection(box, det_id: str):
    x, y, w, h = box
    point = msg_class("vision_msgs/msg/Point2D")(x=x + w / 2, y=y + h / 2)
    bbox = msg_class("vision_msgs/msg/BoundingBox2D")(
        center=msg_class("vision_msgs/msg/Pose2D")(position=point, theta=0.0), size_x=w, size_y=h
    )
    return msg_class("vision_msgs/msg/Detection2D")(header=header(0), results=[], bbox=bbox, id=det_id)


def gt_msg(stamp_ns: int, boxes: list[tuple]):
    """``boxes``: [(box, id), ...]"""
    detections = [detection(box, det_id) for box, det_id in boxes]
    return msg_class(DETECTION_2D_ARRAY)(header=header(stamp_ns), detections=detections)


class BagBuilder:
    def __init__(self, path: Path, storage: StoragePlugin):
        self.writer = Writer(path, version=8, storage_plugin=storage)
        self.writer.open()
        self.connections: dict[str, object] = {}

    def write(self, topic: str, msgtype: str, msg, log_ns: int) -> None:
        store = typestore()
        if topic not in self.connections:
            self.connections[topic] = self.writer.add_connection(topic, msgtype, typestore=store)
        self.writer.write(self.connections[topic], log_ns, store.serialize_cdr(msg, msgtype))

    def close(self) -> None:
        self.writer.close()


def rgb_frame(k: int, size=(6, 8)) -> np.ndarray:
    image = np.zeros(size + (3,), np.uint8)
    image[..., 0] = 10 * k
    image[..., 2] = 200
    return image


def thermal_frame(k: int, size=(6, 8)) -> np.ndarray:
    return np.full(size, 30000 + k, np.uint16)


def write_standard_bag(path: Path, storage: StoragePlugin, n=4, skip_thermal=(), thermal_size=(6, 8)) -> None:
    """RGB (rgb8) at k*100 ms, thermal (mono16) 10 ms later, ground truth stamped like the RGB image."""
    bag = BagBuilder(path, storage)
    for k in range(n):
        stamp = T0 + k * SEC // 10
        bag.write(RGB_TOPIC, IMAGE, numpy_to_image_msg(rgb_frame(k), "rgb8", stamp, "rgb_camera"), stamp)
        if k not in skip_thermal:
            thermal_stamp = stamp + SEC // 100
            thermal = numpy_to_image_msg(thermal_frame(k, thermal_size), "mono16", thermal_stamp)
            bag.write(THERMAL_TOPIC, IMAGE, thermal, thermal_stamp)
        boxes = [((1.0 + k, 2.0, 3.0, 4.0), "rgb"), ((2.0 + k, 2.0, 3.0, 4.0), "thermal")] if k != 1 else []
        bag.write(GROUND_TRUTH_TOPIC, DETECTION_2D_ARRAY, gt_msg(stamp, boxes), stamp)
    bag.close()


@pytest.mark.parametrize("storage", [StoragePlugin.SQLITE3, StoragePlugin.MCAP], ids=["sqlite3", "mcap"])
def test_pairs_stamps_and_ground_truth(tmp_path, storage):
    path = tmp_path / "bag"
    write_standard_bag(path, storage)
    reader = BagPairReader(path)
    topics = reader.topics()
    assert topics[RGB_TOPIC].msgtype == IMAGE and topics[RGB_TOPIC].message_count == 4
    assert topics[GROUND_TRUTH_TOPIC].msgtype == DETECTION_2D_ARRAY
    pairs = list(reader)
    assert [p.index for p in pairs] == [0, 1, 2, 3]
    assert reader.stats.pairs == 4 and reader.stats.rgb_messages == 4 and reader.stats.thermal_messages == 4
    for k, pair in enumerate(pairs):
        np.testing.assert_array_equal(pair.rgb, rgb_frame(k))
        assert pair.thermal.dtype == np.uint16 and pair.thermal[0, 0] == 30000 + k
        assert pair.stamp_rgb == pytest.approx(1_700_000_000 + k / 10, abs=1e-6)
        assert pair.stamp_thermal - pair.stamp_rgb == pytest.approx(0.01, abs=1e-6)
    np.testing.assert_allclose(pairs[0].gt_rgb, [1, 2, 3, 4])
    np.testing.assert_allclose(pairs[2].gt_thermal, [4, 2, 3, 4])
    assert pairs[1].gt_rgb is None and pairs[1].gt_thermal is None  # empty Detection2DArray: out of view
    np.testing.assert_allclose(first_ground_truth(path), [1, 2, 3, 4])


def test_unmatched_frames_are_skipped_like_message_filters(tmp_path):
    path = tmp_path / "bag"
    write_standard_bag(path, StoragePlugin.SQLITE3, n=5, skip_thermal=(2,))
    pairs = list(BagPairReader(path, slop=0.05))
    assert [int(round((p.stamp_rgb - 1_700_000_000) * 10)) for p in pairs] == [0, 1, 3, 4]
    assert [p.index for p in pairs] == [0, 1, 2, 3]


def test_slop_too_small_gives_clear_error(tmp_path):
    path = tmp_path / "bag"
    write_standard_bag(path, StoragePlugin.SQLITE3)
    with pytest.raises(BagError, match="no .* stamps lie within slop 0.005 s"):
        list(BagPairReader(path, slop=0.005))


def test_first_detection_serves_both_modalities_and_bare_files(tmp_path):
    path = tmp_path / "bag"
    bag = BagBuilder(path, StoragePlugin.MCAP)
    bag.write(RGB_TOPIC, IMAGE, numpy_to_image_msg(np.zeros((4, 4), np.uint8), "mono8", T0), T0)
    bag.write(THERMAL_TOPIC, IMAGE, numpy_to_image_msg(rgb_frame(3, (4, 4)), "bgr8", T0), T0)
    bag.write(GROUND_TRUTH_TOPIC, DETECTION_2D_ARRAY, gt_msg(T0, [((5.0, 6.0, 2.0, 2.0), "target")]), T0)
    bag.close()
    mcap_file = next(path.glob("*.mcap"))
    (pair,) = list(BagPairReader(mcap_file))  # a bare .mcap without metadata.yaml opens too
    assert pair.rgb.shape == (4, 4, 3) and pair.thermal.shape == (4, 4)  # grey -> RGB, colour -> grey
    np.testing.assert_allclose(pair.gt_rgb, [5, 6, 2, 2])
    np.testing.assert_allclose(pair.gt_thermal, [5, 6, 2, 2])


def test_compressed_topics(tmp_path):
    path = tmp_path / "bag"
    bag = BagBuilder(path, StoragePlugin.SQLITE3)
    thermal = np.array([[100, 60000], [7, 8]], np.uint16)
    rgb = cv2.imencode(".png", cv2.cvtColor(rgb_frame(5, (2, 2)), cv2.COLOR_RGB2BGR))[1]
    compressed = msg_class(COMPRESSED_IMAGE)
    rgb_msg = compressed(header=header(T0), format="png", data=rgb.reshape(-1))
    bag.write("/rgb/compressed", COMPRESSED_IMAGE, rgb_msg, T0)
    tir = cv2.imencode(".png", thermal)[1]
    tir_msg = compressed(header=header(T0), format="16UC1; png compressed", data=tir.reshape(-1))
    bag.write("/tir/compressed", COMPRESSED_IMAGE, tir_msg, T0)
    bag.close()
    (pair,) = list(BagPairReader(path, rgb_topic="/rgb/compressed", thermal_topic="/tir/compressed"))
    np.testing.assert_array_equal(pair.rgb, rgb_frame(5, (2, 2)))
    np.testing.assert_array_equal(pair.thermal, thermal)
    assert pair.gt_rgb is None


def test_missing_topic_lists_what_the_bag_has(tmp_path):
    path = tmp_path / "bag"
    write_standard_bag(path, StoragePlugin.SQLITE3, n=1)
    listed = r"no thermal topic /flir/image; its topics: /ground_truth \(vision_msgs.*/rgb/image_raw \(sensor"
    with pytest.raises(BagError, match=listed):
        BagPairReader(path, thermal_topic="/flir/image")
    with pytest.raises(BagError, match="RGB topic /ground_truth is vision_msgs/msg/Detection2DArray"):
        BagPairReader(path, rgb_topic=GROUND_TRUTH_TOPIC)
    assert first_ground_truth(path, gt_topic="/nothing") is None
    with pytest.raises(BagError, match="must differ"):
        BagPairReader(path, thermal_topic=RGB_TOPIC)


def test_camera_size_mismatch(tmp_path):
    path = tmp_path / "bag"
    write_standard_bag(path, StoragePlugin.SQLITE3, n=1, thermal_size=(5, 8))
    with pytest.raises(BagError, match=r"pair 0 .*/rgb/image_raw is 8x6 but /thermal/image_raw is 8x5"):
        list(BagPairReader(path))


def test_unknown_encoding(tmp_path):
    path = tmp_path / "bag"
    bag = BagBuilder(path, StoragePlugin.SQLITE3)
    msg = numpy_to_image_msg(np.zeros((2, 2), np.uint16), "mono16", T0)
    msg.encoding = "yuv422"
    bag.write(THERMAL_TOPIC, IMAGE, msg, T0)
    bag.write(RGB_TOPIC, IMAGE, numpy_to_image_msg(rgb_frame(0, (2, 2)), "rgb8", T0), T0)
    bag.close()
    with pytest.raises(BagError, match="/thermal/image_raw: unsupported image encoding 'yuv422'; supported"):
        list(BagPairReader(path))


def test_path_that_is_not_a_bag(tmp_path):
    with pytest.raises(BagError, match="does not exist"):
        BagPairReader(tmp_path / "absent")
    with pytest.raises(BagError, match="not a readable rosbag2"):
        BagPairReader(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(BagError, match="not a readable rosbag2"):
        first_ground_truth(text)
