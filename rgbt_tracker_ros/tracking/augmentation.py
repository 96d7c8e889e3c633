"""First-frame data augmentation of DiMP (Bhat et al. ICCV 2019, Sec. 4; pytracking ``features/augmentation.py``).

The first frame gives 15 training samples for the initial classifier: the identity, 4 shifts of
+-0.6 of half the crop, a horizontal flip, 3 Gaussian blurs, 4 rotations (+-10, +-45 degrees) and 2
feature-dropout copies. Image transforms act on a crop ``augmentation_expansion_factor`` times larger
than the search region and are then cut back to the search size around the (shifted) centre, so that
shifted and rotated samples show real image content instead of padding.

RGB-T: the RGB and the thermal crops are stacked into one ``HxWx4`` array before augmentation, so
both modalities always receive exactly the same transform.

Differences from pytracking (ours): the flip mirrors the target box about the crop centre, and a
rotation moves the box centre with the image; pytracking keeps the box of the unflipped, unrotated
sample, which is the same up to the sub-pixel offset of the rounded crop centre. Blurs use
``cv2.GaussianBlur`` with the same kernel radius ``ceil(2 sigma)`` and replicated borders.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import cv2
import numpy as np
import torch

#: Kinds of image transforms, in the order DiMP builds them.
KINDS = ("identity", "shift", "fliplr", "blur", "rotate")


@dataclass(frozen=True)
class Augmentation:
    """One image transform of the first-frame sample set.

    Attributes:
        kind: one of :data:`KINDS`.
        shift: ``(dx, dy)`` pixels by which the output window moves the content (positive: the
            content moves right/down), applied after the transform itself.
        sigma: ``(sigma_y, sigma_x)`` of a blur.
        angle: rotation in degrees, counter-clockwise as displayed (``cv2.getRotationMatrix2D``).
    """

    kind: str
    shift: tuple[int, int] = (0, 0)
    sigma: Optional[tuple[float, float]] = None
    angle: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown augmentation kind {self.kind!r}; expected one of {KINDS}")


def build_augmentations(
    config: dict[str, Any],
    output_size: int,
    random_shift_factor: float,
    generator: Optional[torch.Generator] = None,
) -> list[Augmentation]:
    """The image transforms of the first frame: identity first, then shifts, flip, blurs, rotations.

    ``config`` is :attr:`DiMPParams.augmentation`. Relative shifts are fractions of half the output
    size (``int(0.6 * 144) = 86`` px for 288). Flip, blurs and rotations get a random shift of up to
    ``+-random_shift_factor / 2`` of the output size (pytracking's ``get_rand_shift``). Feature
    dropout is not an image transform (see :func:`feature_dropout`).
    """

    def random_shift() -> tuple[int, int]:
        if random_shift_factor <= 0:
            return (0, 0)
        offset = (torch.rand(2, generator=generator) - 0.5) * output_size * random_shift_factor
        return int(offset[0].item()), int(offset[1].item())

    augs = [Augmentation("identity")]
    for rel_x, rel_y in config.get("relativeshift", []):
        augs.append(Augmentation("shift", shift=(int(rel_x * output_size / 2), int(rel_y * output_size / 2))))
    if config.get("fliplr", False):
        augs.append(Augmentation("fliplr", shift=random_shift()))
    for sigma in config.get("blur", []):
        sigma_y, sigma_x = sigma if isinstance(sigma, (list, tuple)) else (sigma, sigma)
        augs.append(Augmentation("blur", shift=random_shift(), sigma=(float(sigma_y), float(sigma_x))))
    for angle in config.get("rotate", []):
        augs.append(Augmentation("rotate", shift=random_shift(), angle=float(angle)))
    return augs


def _rotation_matrix(angle: float, height: int, width: int) -> np.ndarray:
    """2x3 affine map rotating about the patch centre ``((W-1)/2, (H-1)/2)`` (pixel-index coordinates)."""
    return cv2.getRotationMatrix2D(((width - 1) / 2.0, (height - 1) / 2.0), angle, 1.0)


def _transform(aug: Augmentation, patch: np.ndarray) -> np.ndarray:
    """The transform itself, on the whole patch (the output window is cut afterwards)."""
    height, width = patch.shape[:2]
    if aug.kind in ("identity", "shift"):
        return patch
    if aug.kind == "fliplr":
        return np.ascontiguousarray(patch[:, ::-1])
    if aug.kind == "blur":
        sigma_y, sigma_x = aug.sigma
        ksize = (2 * math.ceil(2 * sigma_x) + 1, 2 * math.ceil(2 * sigma_y) + 1)
        return cv2.GaussianBlur(patch, ksize, sigmaX=sigma_x, sigmaY=sigma_y, borderType=cv2.BORDER_REPLICATE)
    matrix = _rotation_matrix(aug.angle, height, width)  # "rotate"
    return cv2.warpAffine(patch, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _window_offset(aug: Augmentation, input_size: tuple[int, int], output_size: int) -> tuple[int, int]:
    """Top-left ``(x0, y0)`` in the transformed patch of the output window (pytracking ``crop_to_output``)."""
    height, width = input_size
    x0 = -(math.floor((output_size - width) / 2) + aug.shift[0])
    y0 = -(math.floor((output_size - height) / 2) + aug.shift[1])
    return x0, y0


def apply_augmentation(aug: Augmentation, patch: np.ndarray, output_size: int) -> np.ndarray:
    """Transform ``patch`` (``HxWxC`` float32) and cut the ``output_size`` window; borders replicate."""
    transformed = _transform(aug, patch)
    height, width = transformed.shape[:2]
    x0, y0 = _window_offset(aug, (height, width), output_size)
    rows = np.clip(np.arange(y0, y0 + output_size), 0, height - 1)
    cols = np.clip(np.arange(x0, x0 + output_size), 0, width - 1)
    return transformed[np.ix_(rows, cols)]


def augment_box(aug: Augmentation, box: np.ndarray, input_size: tuple[int, int], output_size: int) -> np.ndarray:
    """The target box ``[x, y, w, h]`` of ``patch`` in the output of :func:`apply_augmentation`.

    Boxes are in the crop module's continuous coordinates (a box spans ``[x, x + w)``); a flip mirrors
    it about the patch's vertical centre line, a rotation moves its centre with the image and keeps
    its size (DiMP keeps the axis-aligned size as well).
    """
    height, width = input_size
    x, y, w, h = (float(v) for v in box)
    if aug.kind == "fliplr":
        x = width - x - w
    elif aug.kind == "rotate":
        # cv2's matrix acts on pixel indices, i.e. continuous coordinates minus 0.5.
        centre_index = np.array([x + w / 2.0 - 0.5, y + h / 2.0 - 0.5, 1.0])
        cx, cy = _rotation_matrix(aug.angle, height, width) @ centre_index + 0.5
        x, y = cx - w / 2.0, cy - h / 2.0
    x0, y0 = _window_offset(aug, input_size, output_size)
    return np.array([x - x0, y - y0, w, h], dtype=np.float64)


def augment_patch(
    patch: np.ndarray, box: np.ndarray, augs: list[Augmentation], output_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Apply every transform: ``(N, output_size, output_size, C)`` patches and their ``(N, 4)`` boxes."""
    input_size = patch.shape[:2]
    patches = np.stack([apply_augmentation(aug, patch, output_size) for aug in augs])
    boxes = np.stack([augment_box(aug, box, input_size, output_size) for aug in augs])
    return patches, boxes


def feature_dropout(
    feat: torch.Tensor, count: int, probability: float, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """``count`` copies of ``feat`` ``(1, C, H, W)`` with whole channels dropped (DiMP's dropout samples).

    Same as ``F.dropout2d(feat.expand(count, ...), p, training=True)`` (kept channels are scaled by
    ``1 / (1 - p)``) but drawn from ``generator`` so initialisation is reproducible.
    """
    keep = torch.rand(count, feat.shape[1], 1, 1, generator=generator) >= probability
    scale = keep.to(device=feat.device, dtype=feat.dtype) / (1.0 - probability)
    return feat.expand(count, -1, -1, -1) * scale
