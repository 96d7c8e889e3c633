"""Search-area crops shared by training (the DiMP sampler) and tracking.

A crop is one similarity transform (isotropic scale + translation) from image to crop coordinates,
applied with ``cv2.warpAffine``. The same :class:`CropTransform` warps the RGB image and the
thermal image of a pair, so the two modalities stay pixel-aligned in every crop.

Coordinate convention (the one of the benchmark box files): continuous pixel coordinates whose
integer values are pixel *edges*, so pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)`` and a box
``[x, y, w, h]`` spans ``[x, x+w) x [y, y+h)``. A crop point is ``(p - origin) * scale``.

DiMP (pytracking ``sample_target``) crops a square of side ``ceil(sqrt(w*h) * factor)`` at a
rounded integer corner, pads by border replication and resizes. We keep its geometry (a square
region ``factor`` times the target's geometric-mean size, centred on the box, border replication by
default) but warp with the exact sub-pixel transform instead of rounding the corner and the size:
a design choice that makes ``box_to_crop``/``box_from_crop`` exact inverses of each other and of
the image warp.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import cv2
import numpy as np

from rgbt_tracker_ros.data.frames import validate_box
from rgbt_tracker_ros.errors import InputError

#: Padding modes for crop regions that leave the image.
PADDINGS = ("replicate", "mean", "zero")

Size = Union[int, tuple[int, int]]


@dataclass(frozen=True)
class CropTransform:
    """Image -> crop mapping ``crop = (image - origin) * scale`` for points (continuous coordinates).

    Attributes:
        origin_x, origin_y: image point that maps to the crop's top-left corner.
        scale: crop pixels per image pixel (isotropic).
        output_width, output_height: crop size in pixels.
    """

    origin_x: float
    origin_y: float
    scale: float
    output_width: int
    output_height: int

    @property
    def output_size(self) -> tuple[int, int]:
        """``(width, height)`` of the crop."""
        return self.output_width, self.output_height

    def resized(self, output_size: Size) -> "CropTransform":
        """The same image region at another ``output_size`` (same aspect ratio): another network's view of this crop."""
        width, height = _output_wh(output_size)
        if width * self.output_height != height * self.output_width:
            raise InputError(f"cannot resize a {self.output_width}x{self.output_height} crop to {width}x{height}: "
                             "the aspect ratio differs")
        return CropTransform(self.origin_x, self.origin_y, self.scale * width / self.output_width, width, height)

    def matrix(self) -> np.ndarray:
        """The 2x3 affine matrix of ``cv2.warpAffine`` (which works on pixel-centre indices)."""
        s = self.scale
        return np.array(
            [
                [s, 0.0, s * (0.5 - self.origin_x) - 0.5],
                [0.0, s, s * (0.5 - self.origin_y) - 0.5],
            ],
            dtype=np.float64,
        )


def _output_wh(output_size: Size) -> tuple[int, int]:
    if isinstance(output_size, (int, np.integer)):
        width = height = int(output_size)
    else:
        width, height = (int(v) for v in output_size)
    if width < 1 or height < 1:
        raise InputError(f"crop output size must be positive, got {output_size}")
    return width, height


def crop_transform(center_xy: tuple[float, float], scale: float, output_size: Size) -> CropTransform:
    """The transform of a crop of ``output_size`` (int or ``(width, height)``) whose centre is the
    image point ``center_xy`` and that shows ``scale`` crop pixels per image pixel."""
    width, height = _output_wh(output_size)
    if not (math.isfinite(scale) and scale > 0):
        raise InputError(f"crop scale must be a positive finite number, got {scale}")
    cx, cy = float(center_xy[0]), float(center_xy[1])
    if not (math.isfinite(cx) and math.isfinite(cy)):
        raise InputError(f"crop centre must be finite, got {(cx, cy)}")
    return CropTransform(cx - 0.5 * width / scale, cy - 0.5 * height / scale, float(scale), width, height)


def search_area_transform(box: np.ndarray, search_area_factor: float, output_size: Size) -> CropTransform:
    """Transform of DiMP's search area around ``box`` (``[x, y, w, h]``).

    The region has ``search_area_factor**2`` times the box area, the output's aspect ratio and the
    box's centre (for a square output: side ``sqrt(w*h) * search_area_factor``).
    """
    bx, by, bw, bh = validate_box(box)
    if not search_area_factor > 0:
        raise InputError(f"search_area_factor must be positive, got {search_area_factor}")
    width, height = _output_wh(output_size)
    scale = math.sqrt(width * height) / (math.sqrt(bw * bh) * search_area_factor)
    return crop_transform((bx + 0.5 * bw, by + 0.5 * bh), scale, (width, height))


def warp_crop(image: np.ndarray, transform: CropTransform, padding: str = "replicate") -> np.ndarray:
    """Apply ``transform`` to ``image`` (``HxW`` or ``HxWxC`` of uint8, uint16 or float32).

    ``padding`` fills crop pixels outside the image: ``"replicate"`` (the border pixels, as DiMP),
    ``"mean"`` (the image's per-channel mean) or ``"zero"``. Bilinear interpolation; the output has
    the input's dtype and channel layout.
    """
    if padding not in PADDINGS:
        raise InputError(f"unknown crop padding {padding!r}; use one of {', '.join(PADDINGS)}")
    img = np.asarray(image)
    if img.ndim not in (2, 3) or img.shape[0] == 0 or img.shape[1] == 0:
        raise InputError(f"cannot crop an image of shape {img.shape}")
    border_value: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    if padding == "mean":
        means = img.reshape(img.shape[0], img.shape[1], -1).mean(axis=(0, 1))
        border_value = tuple(float(m) for m in means) + (0.0,) * (4 - means.size)
    mode = cv2.BORDER_REPLICATE if padding == "replicate" else cv2.BORDER_CONSTANT
    crop = cv2.warpAffine(
        img,
        transform.matrix(),
        transform.output_size,
        flags=cv2.INTER_LINEAR,
        borderMode=mode,
        borderValue=border_value,
    )
    if img.ndim == 3 and crop.ndim == 2:  # cv2 drops a single channel axis
        crop = crop[:, :, None]
    return crop


def sample_crop(
    image: np.ndarray,
    box: np.ndarray,
    search_area_factor: float,
    output_size: Size,
    padding: str = "replicate",
) -> tuple[np.ndarray, CropTransform]:
    """Crop DiMP's search area around ``box`` from ``image``; returns ``(crop, transform)``.

    Crop the other modality of the pair with ``warp_crop(other, transform)`` so both stay aligned.
    """
    transform = search_area_transform(box, search_area_factor, output_size)
    return warp_crop(image, transform, padding), transform


def box_to_crop(box: np.ndarray, transform: CropTransform) -> np.ndarray:
    """Map ``[x, y, w, h]`` box(es) (shape ``(4,)`` or ``(N, 4)``) from image to crop coordinates."""
    boxes = np.asarray(box, dtype=np.float64)
    out = boxes * transform.scale
    out[..., 0] = (boxes[..., 0] - transform.origin_x) * transform.scale
    out[..., 1] = (boxes[..., 1] - transform.origin_y) * transform.scale
    return out


def box_from_crop(box: np.ndarray, transform: CropTransform) -> np.ndarray:
    """Map ``[x, y, w, h]`` box(es) (shape ``(4,)`` or ``(N, 4)``) from crop to image coordinates."""
    boxes = np.asarray(box, dtype=np.float64)
    out = boxes / transform.scale
    out[..., 0] += transform.origin_x
    out[..., 1] += transform.origin_y
    return out
