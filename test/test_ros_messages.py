"""Message conversion on rosbags' message classes (same fields as the ROS messages), and the debug overlay."""
from __future__ import annotations

import numpy as np
import pytest

from rgbt_tracker_ros.data.rosmsgs import DETECTION_2D_ARRAY, typestore
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.node.messages import (
    MessageTypes,
    box_to_detection,
    copy_header,
    detection_score,
    detection_to_box,
    make_header,
    ns_to_stamp,
    stamp_to_ns,
    tracking_output,
)
from rgbt_tracker_ros.node.debug_image import STATE_COLOURS, render_debug_image
from rgbt_tracker_ros.tracking.base import TrackResult, TrackState

TYPES = MessageTypes.from_rosbags()


def test_stamp_round_trip_is_exact_in_nanoseconds():
    stamp = ns_to_stamp(1_700_000_000_123_456_789, TYPES)
    assert (stamp.sec, stamp.nanosec) == (1_700_000_000, 123_456_789)
    assert stamp_to_ns(stamp) == 1_700_000_000_123_456_789
    with pytest.raises(InputError):
        ns_to_stamp(-1, TYPES)


def test_box_to_detection_uses_centre_and_size_of_vision_msgs_4():
    header = make_header(TYPES, 5_000_000_001, "rgb_camera")
    detection = box_to_detection([10, 20, 30, 40], 0.75, "3", header, TYPES)
    assert detection.bbox.center.position.x == 25.0 and detection.bbox.center.position.y == 40.0
    assert (detection.bbox.size_x, detection.bbox.size_y) == (30.0, 40.0)
    assert detection.id == "3"
    assert detection.results[0].hypothesis.score == 0.75
    assert detection_score(detection) == 0.75
    np.testing.assert_array_equal(detection_to_box(detection), [10, 20, 30, 40])


def test_tracking_output_copies_the_rgb_header_and_serialises_as_detection2darray():
    image_header = make_header(TYPES, 12_500_000_000, "rgb_camera")
    message = tracking_output(image_header, [1.5, 2.5, 8, 6], 0.5, "7", TYPES)
    assert stamp_to_ns(message.header.stamp) == 12_500_000_000 and message.header.frame_id == "rgb_camera"
    assert message.header is not image_header
    store = typestore()
    decoded = store.deserialize_cdr(store.serialize_cdr(message, DETECTION_2D_ARRAY), DETECTION_2D_ARRAY)
    assert len(decoded.detections) == 1 and decoded.detections[0].id == "7"
    np.testing.assert_array_equal(detection_to_box(decoded.detections[0]), [1.5, 2.5, 8, 6])


def test_lost_target_gives_an_empty_array_with_the_frame_stamp():
    message = tracking_output(make_header(TYPES, 3, "rgb"), None, 0.0, "1", TYPES)
    assert message.detections == [] and stamp_to_ns(message.header.stamp) == 3


def test_copy_header_accepts_any_header_flavour():
    class Stamp:
        sec, nanosec = 2, 5

    class Header:
        stamp, frame_id = Stamp(), "cam"

    copied = copy_header(Header(), TYPES)
    assert stamp_to_ns(copied.stamp) == 2_000_000_005 and copied.frame_id == "cam"


def test_invalid_detection_boxes_raise_input_error():
    header = make_header(TYPES, 0)
    with pytest.raises(InputError):
        detection_to_box(box_to_detection([0, 0, 0, 5], 1.0, "", header, TYPES))
    with pytest.raises(InputError):
        detection_to_box(box_to_detection([100, 100, 5, 5], 1.0, "", header, TYPES), image_size=(50, 50))
    empty = TYPES.detection(header=header, results=[], bbox=TYPES.bounding_box(
        center=TYPES.pose2d(position=TYPES.point2d(x=1.0, y=1.0), theta=0.0), size_x=1.0, size_y=1.0), id="")
    assert np.isnan(detection_score(empty))


def test_debug_image_draws_the_box_on_both_modalities_in_the_state_colour():
    rgb = np.zeros((60, 80, 3), np.uint8)
    thermal = np.full((60, 80), 1000, np.uint16)
    result = TrackResult(np.array([20.0, 30.0, 20.0, 20.0]), 0.8, TrackState.UNCERTAIN, {"layer3": [0.5, 0.3, 0.2]})
    image = render_debug_image(rgb, thermal, result, "4")
    assert image.shape == (60, 160, 3) and image.dtype == np.uint8
    colour = STATE_COLOURS[TrackState.UNCERTAIN]
    assert tuple(image[50, 30]) == colour  # bottom edge of the box on the RGB half
    assert tuple(image[50, 80 + 30]) == colour  # and on the thermal half
    assert tuple(image[40, 30]) == (0, 0, 0)  # inside the box: the black RGB image
    blank = render_debug_image(rgb, thermal, None)
    assert blank.shape == image.shape and not np.array_equal(blank, image)


def _image(array, encoding, stamp_ns=1_000_000_000):
    from rgbt_tracker_ros.data.decode import numpy_to_image_msg

    return numpy_to_image_msg(array, encoding, stamp_ns=stamp_ns, frame_id="cam")


def test_decode_pair_from_image_messages_keeps_thermal_counts():
    from rgbt_tracker_ros.node.messages import decode_pair

    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[..., 2] = 200
    thermal = np.arange(48, dtype=np.uint16).reshape(6, 8) * 100
    pair = decode_pair(_image(rgb, "bgr8"), _image(thermal, "mono16", 1_020_000_000), index=4)
    np.testing.assert_array_equal(pair.rgb, rgb)
    np.testing.assert_array_equal(pair.thermal, thermal)
    assert pair.index == 4 and pair.stamp_rgb == 1.0 and pair.stamp_thermal == pytest.approx(1.02)


def test_decode_pair_names_the_bad_camera():
    from rgbt_tracker_ros.node.messages import decode_pair

    rgb = _image(np.zeros((6, 8, 3), np.uint8), "rgb8")
    thermal = _image(np.zeros((6, 8), np.uint16), "mono16")
    thermal.encoding = "yuv422"
    with pytest.raises(InputError, match="thermal image stamped 1.000 s: unsupported image encoding"):
        decode_pair(rgb, thermal)
    small = _image(np.zeros((3, 4), np.uint16), "mono16")
    with pytest.raises(InputError, match="register/resize the cameras"):
        decode_pair(rgb, small)
    empty = _image(np.zeros((6, 8, 3), np.uint8), "rgb8")
    empty.height, empty.width, empty.data = 0, 0, np.zeros(0, np.uint8)
    with pytest.raises(InputError, match="RGB image .*empty"):
        decode_pair(empty, thermal)
