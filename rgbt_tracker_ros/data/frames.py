"""The unit of data that flows through the package: one synchronised RGB + thermal frame pair.

Conventions used everywhere in the package:

- RGB images are ``HxWx3 uint8`` in **RGB** channel order.
- Thermal images are ``HxW`` of ``uint8``, ``uint16`` (radiometric-like counts) or ``float32``; the
  tracker normalises them (``data.decode.normalize_thermal``), so raw sensor values travel unchanged.
- Boxes are ``numpy float64 (4,)`` arrays ``[x, y, w, h]``: top-left corner, width and height in pixels,
  as in the benchmark text files.
- Stamps are seconds (float) of the sensor header; ``None`` for datasets without stamps.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from rgbt_tracker_ros.errors import InputError

THERMAL_DTYPES = (np.uint8, np.uint16, np.float32)


@dataclass
class FramePair:
    """One RGB + thermal frame pair with optional per-modality ground truth.

    Attributes:
        rgb: ``HxWx3 uint8`` RGB image.
        thermal: ``HxW`` thermal image (uint8, uint16 or float32).
        index: frame number within its sequence (0-based).
        stamp_rgb / stamp_thermal: sensor stamps in seconds, or ``None``.
        gt_rgb / gt_thermal: ground-truth boxes ``[x, y, w, h]`` per modality, or ``None``.
        attributes: per-frame challenge flags (e.g. ``{"occlusion": True}``) where known.
    """

    rgb: np.ndarray
    thermal: np.ndarray
    index: int = 0
    stamp_rgb: Optional[float] = None
    stamp_thermal: Optional[float] = None
    gt_rgb: Optional[np.ndarray] = None
    gt_thermal: Optional[np.ndarray] = None
    attributes: dict = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` of the pair."""
        return int(self.rgb.shape[0]), int(self.rgb.shape[1])

    @property
    def stamp(self) -> Optional[float]:
        """The RGB stamp (outputs carry the RGB header), else the thermal one."""
        return self.stamp_rgb if self.stamp_rgb is not None else self.stamp_thermal

    def validate(self) -> "FramePair":
        """Check shapes and dtypes; raise :class:`InputError` naming the problem. Returns ``self``."""
        rgb, tir = self.rgb, self.thermal
        if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise InputError(f"frame {self.index}: RGB image must be HxWx3 uint8, got {_describe(rgb)}")
        if not isinstance(tir, np.ndarray) or tir.ndim != 2 or tir.dtype.type not in THERMAL_DTYPES:
            raise InputError(
                f"frame {self.index}: thermal image must be HxW uint8/uint16/float32, got {_describe(tir)}"
            )
        if rgb.shape[0] == 0 or rgb.shape[1] == 0:
            raise InputError(f"frame {self.index}: empty image")
        if rgb.shape[:2] != tir.shape:
            raise InputError(
                f"frame {self.index}: RGB is {rgb.shape[1]}x{rgb.shape[0]} but thermal is "
                f"{tir.shape[1]}x{tir.shape[0]}; register/resize the cameras to one size first"
            )
        if tir.dtype == np.float32 and not np.isfinite(tir).all():
            raise InputError(f"frame {self.index}: thermal image contains NaN or Inf")
        return self


def _describe(array: object) -> str:
    if isinstance(array, np.ndarray):
        return f"shape {array.shape} dtype {array.dtype}"
    return type(array).__name__


def validate_box(box: Sequence[float], image_size: Optional[tuple[int, int]] = None) -> np.ndarray:
    """Return ``box`` as a float64 ``[x, y, w, h]`` array, or raise :class:`InputError`.

    Rejects NaN/Inf values, zero or negative size and, when ``image_size = (height, width)`` is
    given, boxes that do not overlap the image at all. A box partly outside the image is valid
    (targets enter and leave the view).
    """
    arr = np.asarray(box, dtype=np.float64).reshape(-1)
    if arr.shape != (4,):
        raise InputError(f"a box needs 4 numbers x,y,w,h; got {list(np.asarray(box).reshape(-1))}")
    if not np.isfinite(arr).all():
        raise InputError(f"box {arr.tolist()} contains NaN or Inf")
    if arr[2] <= 0 or arr[3] <= 0:
        raise InputError(f"box {arr.tolist()} has zero or negative width/height")
    if image_size is not None:
        height, width = image_size
        if arr[0] >= width or arr[1] >= height or arr[0] + arr[2] <= 0 or arr[1] + arr[3] <= 0:
            raise InputError(f"box {arr.tolist()} lies outside the {width}x{height} image")
    return arr
