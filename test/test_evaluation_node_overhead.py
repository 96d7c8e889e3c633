"""The node-overhead measurement (evaluation.node_overhead) on small bags, without ROS; no timing thresholds."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from rgbt_tracker_ros.data.rosmsgs import COMPRESSED_IMAGE, msg_class, typestore
from rgbt_tracker_ros.data.synthetic import ScenarioSpec
from rgbt_tracker_ros.data.writers import write_bag
from rgbt_tracker_ros.errors import BagError
from rgbt_tracker_ros.evaluation.node_overhead import STAGES, format_node_overhead, measure_node_overhead
from rgbt_tracker_ros.tracking.factory import create_tracker

SEC = 1_000_000_000
T0 = 1_700_000_000 * SEC


def test_generated_bag_with_the_demo_model_gives_every_stage(one_thread):
    result = measure_node_overhead(create_tracker("dimp", device="cpu"), frames=5, size=(96, 80), warmup=1)
    assert (result.width, result.height) == (96, 80)
    assert (result.rgb_encoding, result.thermal_encoding) == ("rgb8", "mono16")
    assert result.frames == 3  # 5 pairs: init, 1 warm-up, 3 measured
    assert list(result.stages) == list(STAGES)
    for stage in [*result.stages.values(), result.tracker_time, result.overhead, result.overhead_with_debug_image]:
        assert 0 < stage.median_ms <= stage.p95_ms
    assert result.overhead_with_debug_image.median_ms > result.overhead.median_ms
    assert json.loads(json.dumps(result.to_dict()))["stages"]["decode"]["median_ms"] > 0
    table = format_node_overhead(result)
    assert "overhead (sum per frame)" in table and "tracker (track call)" in table and "96x80 rgb8 + mono16" in table


def test_existing_bag_with_compressed_images_and_an_opencv_baseline(tmp_path: Path):
    """JPEG RGB + 16-bit PNG thermal on custom topics, no ground truth (init box given), no debug image."""
    writer = Writer(tmp_path / "bag", version=8, storage_plugin=StoragePlugin.SQLITE3)
    writer.open()
    store = typestore()
    rgb_conn = writer.add_connection("/cam/rgb/compressed", COMPRESSED_IMAGE, typestore=store)
    thermal_conn = writer.add_connection("/cam/ir/compressed", COMPRESSED_IMAGE, typestore=store)
    for index in range(6):
        stamp = T0 + index * SEC // 30
        rgb = np.full((48, 64, 3), 60, np.uint8)
        rgb[10 + index : 26 + index, 20:36] = (220, 40, 40)
        thermal = np.full((48, 64), 7000, np.uint16)
        thermal[10 + index : 26 + index, 20:36] = 9000
        for connection, image, ext, fmt, shift in (
            (rgb_conn, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), ".jpg", "rgb8; jpeg compressed bgr8", 0),
            (thermal_conn, thermal, ".png", "mono16; png compressed", 4_000_000),
        ):
            when = msg_class("builtin_interfaces/msg/Time")(sec=(stamp + shift) // SEC, nanosec=(stamp + shift) % SEC)
            header = msg_class("std_msgs/msg/Header")(stamp=when, frame_id="cam")
            data = np.frombuffer(cv2.imencode(ext, image)[1].tobytes(), np.uint8)
            msg = msg_class(COMPRESSED_IMAGE)(header=header, format=fmt, data=data)
            writer.write(connection, stamp + shift, store.serialize_cdr(msg, COMPRESSED_IMAGE))
    writer.close()
    result = measure_node_overhead(
        create_tracker("kcf-rgb"), tmp_path / "bag", frames=6, init_box=[20, 10, 16, 16], warmup=0,
        rgb_topic="/cam/rgb/compressed", thermal_topic="/cam/ir/compressed", debug_image=False,
    )
    assert result.rgb_encoding.startswith("compressed") and result.thermal_encoding.startswith("compressed")
    assert result.frames == 5 and "debug image" not in result.stages and result.overhead_with_debug_image is None
    assert all(stage.median_ms > 0 for stage in result.stages.values())
    assert "debug image" not in format_node_overhead(result)


def test_bag_without_the_camera_topics_is_a_clear_error(tmp_path: Path):
    bag = write_bag(ScenarioSpec(name="topics", seed=1, frames=3, width=64, height=64), tmp_path / "bag")
    with pytest.raises(BagError, match=r"has no RGB topic /camera/color/image_raw; its topics: .*/rgb/image_raw"):
        measure_node_overhead(create_tracker("kcf-rgb"), bag, rgb_topic="/camera/color/image_raw", frames=3,
                              warmup=0)


def test_too_short_a_bag_says_how_many_pairs_it_needs(tmp_path: Path):
    bag = write_bag(ScenarioSpec(name="short", seed=2, frames=2, width=64, height=64), tmp_path / "bag")
    with pytest.raises(BagError, match=r"2 pair\(s\) tracked .* need at least 4"):
        measure_node_overhead(create_tracker("kcf-rgb"), bag, frames=10, warmup=2)
