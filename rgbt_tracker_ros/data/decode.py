"""ROS image messages <-> numpy, and thermal normalisation.

Everything here is duck-typed on the message fields (``height``, ``width``, ``encoding``, ``step``,
``data``, ``is_bigendian`` for ``sensor_msgs/Image``; ``format`` and ``data`` for
``sensor_msgs/CompressedImage``), so the same code decodes ``rosbags`` messages read from a bag and
``rclpy`` messages received by a node, without cv_bridge.

Decoded images follow the package conventions (:mod:`rgbt_tracker_ros.data.frames`): colour is
``HxWx3 uint8`` in RGB order, grey/thermal is ``HxW`` with the sensor's own dtype (``mono8`` uint8,
``mono16``/``16UC1`` uint16, ``32FC1`` float32), exactly what ``cv_bridge`` gives with
``'passthrough'`` (apart from the RGB channel order).
"""
from __future__ import annotations

from typing import Any, Optional

import cv2
import numpy as np

from rgbt_tracker_ros.errors import InputError

#: Raw encodings understood by :func:`image_msg_to_numpy`: name -> (element dtype, channels).
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
#: Encodings whose channels are stored blue-first and are flipped to RGB on decode.
_BLUE_FIRST = ("bgr8", "bgra8")
#: Substrings of ``CompressedImage.format`` that :func:`image_msg_to_numpy` decodes.
COMPRESSED_FORMATS = ("jpeg", "jpg", "png")
#: ``compressed_depth_image_transport`` prefixes its PNG with a 12-byte ConfigHeader
#: (int32 format + float32 depthParam[2]).
_COMPRESSED_DEPTH_HEADER_BYTES = 12
#: Percentiles of the robust thermal stretch.
THERMAL_PERCENTILES = (1.0, 99.0)
#: Upper bound on the pixels sampled for the percentiles (a regular grid subsample).
_PERCENTILE_SAMPLES = 65536


def _supported() -> str:
    return ", ".join(ENCODINGS)


def _as_bytes(data: Any) -> np.ndarray:
    """The message's ``data`` field (numpy array, bytes, array.array or list) as a uint8 vector."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8) if data.dtype.itemsize == 1 else data.astype(np.uint8)
    try:
        return np.frombuffer(memoryview(data), dtype=np.uint8)
    except TypeError:  # plain Python list of ints (rclpy fallback)
        return np.asarray(data, dtype=np.uint8)


def is_compressed(msg: Any) -> bool:
    """True for a ``sensor_msgs/CompressedImage`` (has ``format``, no ``encoding``)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def image_msg_to_numpy(msg: Any) -> np.ndarray:
    """Decode a ``sensor_msgs/Image`` or ``sensor_msgs/CompressedImage`` to a numpy array.

    Raw images honour ``step`` (row padding) and ``is_bigendian``; the result owns its memory and is
    in native byte order. Colour comes back as RGB, grey keeps its dtype. Raises :class:`InputError`
    for an unknown encoding/format, a data length that does not match ``step * height``, an empty
    image or undecodable compressed data.
    """
    if is_compressed(msg):
        return _decode_compressed(msg)
    encoding = str(msg.encoding)
    if encoding not in ENCODINGS:
        raise InputError(f"unsupported image encoding {encoding!r}; supported: {_supported()}")
    dtype, channels = ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise InputError(f"empty {encoding} image ({width}x{height})")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise InputError(
            f"{encoding} image {width}x{height}: step {step} is smaller than a row ({row_bytes} bytes)"
        )
    buffer = _as_bytes(msg.data)
    if buffer.size != step * height:
        raise InputError(
            f"{encoding} image {width}x{height}: data has {buffer.size} bytes, "
            f"expected step*height = {step * height}"
        )
    rows = np.ascontiguousarray(buffer.reshape(height, step)[:, :row_bytes])
    wire_dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<") if dtype.itemsize > 1 else dtype
    image = rows.view(wire_dtype).reshape(height, width, channels).astype(dtype.newbyteorder("="))
    if channels == 1:
        return image[:, :, 0]
    if encoding in _BLUE_FIRST:
        image = image[:, :, 2::-1]
    return np.ascontiguousarray(image[:, :, :3])


def _decode_compressed(msg: Any) -> np.ndarray:
    fmt = str(msg.format).lower()
    if not any(name in fmt for name in COMPRESSED_FORMATS):
        raise InputError(
            f"unsupported CompressedImage format {msg.format!r}; supported: formats containing jpeg or png"
        )
    buffer = _as_bytes(msg.data)
    if "compresseddepth" in fmt:
        buffer = buffer[_COMPRESSED_DEPTH_HEADER_BYTES:]
    if buffer.size == 0:
        raise InputError(f"empty CompressedImage ({msg.format!r})")
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise InputError(
            f"CompressedImage data ({buffer.size} bytes, format {msg.format!r}) could not be decoded"
        )
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
        return cv2.cvtColor(image, code)
    return image


def numpy_to_image_msg(array: np.ndarray, encoding: str, stamp_ns: int = 0, frame_id: str = "") -> Any:
    """Build a ``rosbags`` ``sensor_msgs/Image`` from an array in the package conventions.

    ``array`` is what :func:`image_msg_to_numpy` returns for ``encoding`` (colour in RGB order even
    for ``bgr8``/``bgra8``, whose channels are reordered here; an alpha channel is written as 255),
    so ``image_msg_to_numpy(numpy_to_image_msg(a, enc)) == a``. Data is little-endian and unpadded.
    """
    from rgbt_tracker_ros.data.rosmsgs import IMAGE, msg_class

    if encoding not in ENCODINGS:
        raise InputError(f"unsupported image encoding {encoding!r}; supported: {_supported()}")
    dtype, channels = ENCODINGS[encoding]
    array = np.asarray(array)
    expected_ndim = 2 if channels == 1 else 3
    if array.dtype != dtype or array.ndim != expected_ndim or (channels > 1 and array.shape[2] != 3):
        wanted = f"HxW {dtype}" if channels == 1 else f"HxWx3 {dtype} (RGB order)"
        raise InputError(f"{encoding} needs a {wanted} array, got shape {array.shape} dtype {array.dtype}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"cannot encode an empty image of shape {array.shape}")
    if encoding in _BLUE_FIRST:
        array = array[:, :, ::-1]
    if channels == 4:
        alpha = np.full(array.shape[:2] + (1,), 255, dtype=np.uint8)
        array = np.concatenate([array, alpha], axis=2)
    wire = np.ascontiguousarray(array, dtype=dtype.newbyteorder("<"))
    height, width = array.shape[:2]
    time_cls, header_cls, image_cls = (
        msg_class("builtin_interfaces/msg/Time"),
        msg_class("std_msgs/msg/Header"),
        msg_class(IMAGE),
    )
    stamp = time_cls(sec=int(stamp_ns) // 1_000_000_000, nanosec=int(stamp_ns) % 1_000_000_000)
    return image_cls(
        header=header_cls(stamp=stamp, frame_id=frame_id),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=width * channels * dtype.itemsize,
        data=wire.reshape(-1).view(np.uint8).copy(),
    )


def _check_image(img: np.ndarray, what: str) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise InputError(f"{what}: expected an HxW or HxWx3 image, got shape {img.shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise InputError(f"{what}: empty image of shape {img.shape}")
    return img


def to_rgb(img: np.ndarray) -> np.ndarray:
    """Any decoded image as ``HxWx3 uint8`` RGB, so a grey or thermal camera can feed the RGB slot.

    Grey is replicated to three channels; uint16/float values are brought to uint8 with the robust
    stretch of :func:`normalize_thermal` (one range for all channels of a colour image); an alpha
    channel is dropped.
    """
    img = _check_image(img, "to_rgb")
    if img.ndim == 3:
        img = img[:, :, :3]
    if img.dtype != np.uint8:
        side_by_side = img.reshape(img.shape[0], -1)  # channels next to each other: one joint stretch
        img = np.round(normalize_thermal(side_by_side) * 255.0).astype(np.uint8).reshape(img.shape)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img)


def _thermal_dtype(img: np.ndarray) -> np.ndarray:
    """uint8/uint16/float32 unchanged; other integer types to uint16, other floats to float32."""
    if img.dtype in (np.uint8, np.uint16, np.float32):
        return img
    if np.issubdtype(img.dtype, np.floating):
        return img.astype(np.float32)
    if np.issubdtype(img.dtype, np.integer):
        return np.clip(img, 0, np.iinfo(np.uint16).max).astype(np.uint16)
    raise InputError(f"unsupported image dtype {img.dtype}")


def to_thermal(img: np.ndarray) -> np.ndarray:
    """Any decoded image as ``HxW`` grey for the thermal slot, keeping its dtype.

    Colour (RGB order) is converted with the ITU-R 601 luma weights of ``cv2.COLOR_RGB2GRAY``;
    float64 becomes float32 and wider integers uint16, the dtypes a :class:`FramePair` accepts.
    """
    img = _thermal_dtype(_check_image(img, "to_thermal"))
    if img.ndim == 3:
        img = cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(img)


def normalize_thermal(
    thermal: np.ndarray, mode: str = "auto", low: Optional[float] = None, high: Optional[float] = None
) -> np.ndarray:
    """Map a raw thermal image to ``float32 HxW`` in ``[0, 1]`` (the network's thermal input).

    ``mode="auto"``: uint8 is divided by 255; uint16/float get a robust stretch between the 1st and
    99th percentile (computed on a regular grid subsample of at most 65536 pixels), clipped. The
    paper leaves thermal pre-processing open (its datasets are 8-bit); the stretch is our design
    for 16-bit radiometric cameras. If the percentiles coincide (a small hot target on a uniform
    background) the full min..max range is used; a flat image maps to 0.5 everywhere.
    ``mode="fixed"``: ``[low, high]`` (e.g. a radiometric range in counts) maps linearly to [0, 1],
    clipped. NaN/Inf values raise :class:`InputError`.
    """
    img = np.asarray(thermal)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim != 2:
        raise InputError(f"thermal image must be HxW, got shape {img.shape}")
    if img.size == 0:
        raise InputError(f"empty thermal image of shape {img.shape}")
    if not (np.issubdtype(img.dtype, np.integer) or np.issubdtype(img.dtype, np.floating)):
        raise InputError(f"unsupported thermal dtype {img.dtype}")
    if np.issubdtype(img.dtype, np.floating) and not np.isfinite(img).all():
        raise InputError("thermal image contains NaN or Inf values")
    if mode == "fixed":
        if low is None or high is None or not np.isfinite([low, high]).all() or not high > low:
            raise InputError(f"fixed thermal range needs finite low < high, got low={low}, high={high}")
        return _stretch(img, float(low), float(high))
    if mode != "auto":
        raise InputError(f"unknown thermal normalisation mode {mode!r}; use 'auto' or 'fixed'")
    if img.dtype == np.uint8:
        return img.astype(np.float32) / np.float32(255.0)
    stride = max(1, int(np.ceil(np.sqrt(img.size / _PERCENTILE_SAMPLES))))
    lo, hi = np.percentile(img[::stride, ::stride], THERMAL_PERCENTILES)
    if not hi > lo:
        lo, hi = img.min(), img.max()
    if not hi > lo:
        return np.full(img.shape, 0.5, dtype=np.float32)
    return _stretch(img, float(lo), float(hi))


def _stretch(img: np.ndarray, low: float, high: float) -> np.ndarray:
    scaled = (img.astype(np.float32) - np.float32(low)) / np.float32(high - low)
    return np.clip(scaled, 0.0, 1.0, out=scaled)
