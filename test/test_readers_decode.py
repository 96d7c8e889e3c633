"""Tests of data.decode: ROS image encodings, compressed images, thermal normalisation."""
from __future__ import annotations

import array
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from rgbt_tracker_ros.data.decode import (
    image_msg_to_numpy,
    normalize_thermal,
    numpy_to_image_msg,
    to_rgb,
    to_thermal,
)
from rgbt_tracker_ros.data.rosmsgs import IMAGE, typestore
from rgbt_tracker_ros.errors import InputError


def raw_msg(height, width, encoding, step, data, is_bigendian=0):
    """An rclpy-like Image: only the fields the decoder may use."""
    return SimpleNamespace(
        height=height, width=width, encoding=encoding, step=step, data=data, is_bigendian=is_bigendian
    )


def test_rgb8_with_row_padding():
    # 2x2 rgb8, each row padded from 6 to 8 bytes with junk.
    data = bytes([1, 2, 3, 4, 5, 6, 99, 99, 7, 8, 9, 10, 11, 12, 99, 99])
    image = image_msg_to_numpy(raw_msg(2, 2, "rgb8", 8, data))
    assert image.dtype == np.uint8 and image.shape == (2, 2, 3)
    np.testing.assert_array_equal(image, [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]])
    assert image.flags.writeable and image.flags.c_contiguous


def test_bgr8_is_returned_in_rgb_order():
    data = array.array("B", [10, 20, 30, 40, 50, 60])  # rclpy uses array.array for uint8[]
    image = image_msg_to_numpy(raw_msg(1, 2, "bgr8", 6, data))
    np.testing.assert_array_equal(image, [[[30, 20, 10], [60, 50, 40]]])


def test_mono8_from_python_list():
    image = image_msg_to_numpy(raw_msg(2, 3, "mono8", 3, [0, 1, 2, 3, 4, 255]))
    assert image.dtype == np.uint8 and image.shape == (2, 3)
    np.testing.assert_array_equal(image, [[0, 1, 2], [3, 4, 255]])


def test_mono16_big_and_little_endian():
    # Value 0x0102 = 258 and 0xFF00 = 65280.
    big = image_msg_to_numpy(raw_msg(1, 2, "mono16", 4, bytes([0x01, 0x02, 0xFF, 0x00]), is_bigendian=1))
    little = image_msg_to_numpy(raw_msg(1, 2, "mono16", 4, bytes([0x02, 0x01, 0x00, 0xFF]), is_bigendian=0))
    for image in (big, little):
        assert image.dtype == np.uint16 and image.dtype.isnative
        np.testing.assert_array_equal(image, [[258, 65280]])


def test_16uc1_with_row_padding():
    # 2 rows of 1 pixel, step 4 (2 bytes padding per row).
    data = bytes([0x10, 0x27, 0xAA, 0xAA, 0x01, 0x00, 0xAA, 0xAA])
    image = image_msg_to_numpy(raw_msg(2, 1, "16UC1", 4, data))
    np.testing.assert_array_equal(image, [[10000], [1]])


def test_32fc1_values_and_big_endian():
    values = np.array([[1.5, -2.25]], dtype="<f4")
    image = image_msg_to_numpy(raw_msg(1, 2, "32FC1", 8, values.tobytes()))
    assert image.dtype == np.float32
    np.testing.assert_array_equal(image, values)
    big = image_msg_to_numpy(raw_msg(1, 2, "32FC1", 8, values.astype(">f4").tobytes(), is_bigendian=1))
    np.testing.assert_array_equal(big, values)


def test_unknown_encoding_is_named_with_supported_list():
    with pytest.raises(InputError, match=r"'yuv422'.*rgb8.*mono16.*32FC1"):
        image_msg_to_numpy(raw_msg(1, 1, "yuv422", 2, bytes(2)))


def test_data_length_mismatch_and_short_step():
    with pytest.raises(InputError, match="data has 5 bytes, expected step\\*height = 6"):
        image_msg_to_numpy(raw_msg(2, 3, "mono8", 3, bytes(5)))
    with pytest.raises(InputError, match="step 2 is smaller than a row"):
        image_msg_to_numpy(raw_msg(1, 3, "mono8", 2, bytes(2)))


def test_empty_image():
    with pytest.raises(InputError, match="empty"):
        image_msg_to_numpy(raw_msg(0, 4, "mono8", 4, b""))


def compressed(fmt, data):
    return SimpleNamespace(format=fmt, data=np.frombuffer(data, dtype=np.uint8))


def test_compressed_jpeg_colour_comes_back_rgb():
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0] = 250  # pure red in RGB order
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    image = image_msg_to_numpy(compressed("rgb8; jpeg compressed bgr8", encoded.tobytes()))
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8
    assert image[..., 0].min() > 240 and image[..., 2].max() < 10


def test_compressed_png_16bit_stays_uint16():
    thermal = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000).astype(np.uint16)
    ok, encoded = cv2.imencode(".png", thermal)
    assert ok
    image = image_msg_to_numpy(compressed("16UC1; png compressed", encoded.tobytes()))
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, thermal)


def test_compressed_depth_png_header_is_skipped():
    thermal = np.array([[1, 2], [3, 40000]], dtype=np.uint16)
    encoded = cv2.imencode(".png", thermal)[1].tobytes()
    image = image_msg_to_numpy(compressed("16UC1; compressedDepth png", bytes(12) + encoded))
    np.testing.assert_array_equal(image, thermal)


def test_compressed_errors():
    with pytest.raises(InputError, match="unsupported CompressedImage format 'theora'"):
        image_msg_to_numpy(compressed("theora", b"abc"))
    with pytest.raises(InputError, match="could not be decoded"):
        image_msg_to_numpy(compressed("png", b"not a png at all"))
    with pytest.raises(InputError, match="empty CompressedImage"):
        image_msg_to_numpy(compressed("jpeg", b""))


@pytest.mark.parametrize(
    "encoding, array",
    [
        ("rgb8", np.arange(24, dtype=np.uint8).reshape(2, 4, 3)),
        ("bgr8", np.arange(24, dtype=np.uint8).reshape(2, 4, 3)),
        ("rgba8", np.arange(24, dtype=np.uint8).reshape(2, 4, 3)),
        ("bgra8", np.arange(24, dtype=np.uint8).reshape(2, 4, 3)),
        ("mono8", np.arange(8, dtype=np.uint8).reshape(2, 4)),
        ("mono16", np.array([[0, 1, 256, 65535]], dtype=np.uint16)),
        ("16UC1", np.array([[7, 8], [9, 60000]], dtype=np.uint16)),
        ("32FC1", np.array([[0.5, -1.0, 300.25]], dtype=np.float32)),
    ],
)
def test_numpy_to_image_msg_round_trips_through_cdr(encoding, array):
    store = typestore()
    msg = numpy_to_image_msg(array, encoding, stamp_ns=1_700_000_000_123_456_789, frame_id="cam")
    assert msg.header.stamp.sec == 1_700_000_000 and msg.header.stamp.nanosec == 123_456_789
    assert msg.header.frame_id == "cam" and msg.encoding == encoding
    back = store.deserialize_cdr(store.serialize_cdr(msg, IMAGE), IMAGE)
    decoded = image_msg_to_numpy(back)
    assert decoded.dtype == array.dtype
    np.testing.assert_array_equal(decoded, array)


def test_numpy_to_image_msg_bgr8_stores_blue_first():
    msg = numpy_to_image_msg(np.array([[[1, 2, 3]]], np.uint8), "bgr8")
    assert list(msg.data) == [3, 2, 1] and msg.step == 3


def test_numpy_to_image_msg_rejects_wrong_dtype_and_encoding():
    with pytest.raises(InputError, match="mono16 needs a HxW uint16"):
        numpy_to_image_msg(np.zeros((2, 2), np.uint8), "mono16")
    with pytest.raises(InputError, match="unsupported image encoding 'bayer_rggb8'"):
        numpy_to_image_msg(np.zeros((2, 2), np.uint8), "bayer_rggb8")


def test_to_rgb_and_to_thermal():
    grey = np.array([[0, 128]], np.uint8)
    np.testing.assert_array_equal(to_rgb(grey), [[[0, 0, 0], [128, 128, 128]]])
    counts = np.array([[1000, 2000]], np.uint16)
    np.testing.assert_array_equal(to_rgb(counts), [[[0, 0, 0], [255, 255, 255]]])
    colour16 = np.array([[[1000, 2000, 1000], [2000, 1000, 1000]]], np.uint16)
    np.testing.assert_array_equal(to_rgb(colour16), [[[0, 255, 0], [255, 0, 0]]])  # joint stretch keeps hue
    colour = np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8)
    thermal = to_thermal(colour)
    assert thermal.dtype == np.uint8 and thermal.shape == (1, 2)
    # ITU-R 601 luma: 0.299 R, 0.114 B
    np.testing.assert_array_equal(thermal, [[76, 29]])
    assert to_thermal(np.zeros((2, 2), np.float64)).dtype == np.float32
    np.testing.assert_array_equal(to_thermal(counts), counts)


def test_normalize_uint8_divides_by_255():
    out = normalize_thermal(np.array([[0, 51, 255]], np.uint8))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 0.2, 1.0]], atol=1e-7)


def test_normalize_uint16_robust_percentiles():
    ramp = np.arange(10000, dtype=np.uint16).reshape(100, 100)
    out = normalize_thermal(ramp)
    low, high = np.percentile(ramp, [1, 99])  # 99.99 and 9899.01 on the full grid
    assert out.dtype == np.float32 and out.shape == (100, 100)
    assert out[0, 0] == 0.0 and out[-1, -1] == 1.0  # clipped outside the 1..99 percentile range
    np.testing.assert_allclose(out.reshape(-1)[5000], (5000 - low) / (high - low), atol=1e-3)


def test_normalize_flat_and_hot_spot():
    np.testing.assert_array_equal(normalize_thermal(np.full((4, 4), 3000, np.uint16)), np.full((4, 4), 0.5))
    scene = np.full((50, 50), 1000, np.uint16)
    scene[10, 10] = 1400  # one hot pixel: 1st and 99th percentiles coincide
    out = normalize_thermal(scene)
    assert out[10, 10] == 1.0 and out[0, 0] == 0.0


def test_normalize_fixed_range_and_float():
    celsius = np.array([[-10.0, 20.0, 30.0, 60.0]], np.float32)
    out = normalize_thermal(celsius, mode="fixed", low=20.0, high=40.0)
    np.testing.assert_allclose(out, [[0.0, 0.0, 0.5, 1.0]])
    with pytest.raises(InputError, match="low < high"):
        normalize_thermal(np.zeros((2, 2), np.uint16), mode="fixed", low=5, high=5)
    with pytest.raises(InputError, match="unknown thermal normalisation mode 'gamma'"):
        normalize_thermal(np.zeros((2, 2), np.uint16), mode="gamma")


def test_normalize_rejects_nan_inf_and_bad_shapes():
    bad = np.array([[1.0, np.nan]], np.float32)
    with pytest.raises(InputError, match="NaN or Inf"):
        normalize_thermal(bad)
    with pytest.raises(InputError, match="NaN or Inf"):
        normalize_thermal(np.array([[np.inf, 1.0]], np.float32), mode="fixed", low=0, high=1)
    with pytest.raises(InputError, match="HxW"):
        normalize_thermal(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(InputError, match="empty"):
        normalize_thermal(np.zeros((0, 3), np.uint16))
