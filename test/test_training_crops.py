"""Search-area crops (data/crops.py): geometry by hand, warps against slices, round trips."""
from __future__ import annotations

import numpy as np
import pytest

from rgbt_tracker_ros.data.crops import (
    CropTransform,
    box_from_crop,
    box_to_crop,
    crop_transform,
    sample_crop,
    search_area_transform,
    warp_crop,
)
from rgbt_tracker_ros.errors import InputError


def _ramp(height: int = 40, width: int = 50) -> np.ndarray:
    """float32 image whose value is ``100 * row + column``: bilinear sampling reproduces it exactly."""
    rows, cols = np.mgrid[0:height, 0:width]
    return (100.0 * rows + cols).astype(np.float32)


def test_search_area_geometry_by_hand():
    # box centre (25, 35), sqrt(area) 30, factor 2 -> a 60 px region; output 60 -> scale 1.
    transform = search_area_transform(np.array([10.0, 20.0, 30.0, 30.0]), 2.0, 60)
    assert transform.scale == pytest.approx(1.0)
    assert (transform.origin_x, transform.origin_y) == pytest.approx((-5.0, 5.0))
    np.testing.assert_allclose(box_to_crop(np.array([10.0, 20.0, 30.0, 30.0]), transform), [15, 15, 30, 30])


def test_search_area_non_square_box_and_output():
    # box 8 x 32 (geometric mean 16), factor 5 -> 80 image px for a 160 px output: scale 2.
    transform = search_area_transform(np.array([0.0, 0.0, 8.0, 32.0]), 5.0, 160)
    assert transform.scale == pytest.approx(2.0)
    crop_box = box_to_crop(np.array([0.0, 0.0, 8.0, 32.0]), transform)
    np.testing.assert_allclose(crop_box, [80 - 8, 80 - 32, 16, 64])
    wide = search_area_transform(np.array([0.0, 0.0, 10.0, 10.0]), 4.0, (80, 20))
    assert wide.output_size == (80, 20)
    assert wide.scale == pytest.approx(40.0 / 40.0)


def test_warp_with_integer_shift_equals_slice():
    image = _ramp()
    transform = CropTransform(origin_x=3.0, origin_y=4.0, scale=1.0, output_width=5, output_height=6)
    np.testing.assert_array_equal(warp_crop(image, transform), image[4:10, 3:8])


def test_warp_upscaled_samples_between_pixels():
    image = _ramp()
    transform = CropTransform(origin_x=10.0, origin_y=10.0, scale=2.0, output_width=8, output_height=8)
    crop = warp_crop(image, transform)
    # crop pixel u has its centre at image point 10 + (u + 0.5) / 2, i.e. pixel index that - 0.5.
    index = 10 + (np.arange(8) + 0.5) / 2 - 0.5
    expected = 100.0 * index[:, None] + index[None, :]
    np.testing.assert_allclose(crop, expected, atol=1e-3)


def test_paddings_outside_the_image():
    image = np.full((10, 10, 3), 7, dtype=np.uint8)
    image[:, :, 1] = 20
    outside = CropTransform(origin_x=-30.0, origin_y=-30.0, scale=1.0, output_width=4, output_height=4)
    assert (warp_crop(image, outside, "zero") == 0).all()
    mean_crop = warp_crop(image, outside, "mean")
    assert (mean_crop[:, :, 0] == 7).all() and (mean_crop[:, :, 1] == 20).all()
    replicated = warp_crop(image, outside, "replicate")
    np.testing.assert_array_equal(replicated, np.broadcast_to(image[0, 0], (4, 4, 3)))


def test_dtypes_and_channels_are_kept():
    transform = crop_transform((5.0, 5.0), 1.5, 12)
    for image in (np.zeros((10, 10), np.uint16), np.zeros((10, 10, 1), np.float32), np.zeros((10, 10, 3), np.uint8)):
        crop = warp_crop(image, transform)
        assert crop.dtype == image.dtype
        assert crop.shape == (12, 12) + image.shape[2:]


def test_box_round_trip_single_and_batched():
    rng = np.random.default_rng(0)
    transform = crop_transform((123.4, 56.7), 0.37, (288, 288))
    boxes = np.column_stack([rng.uniform(-50, 300, (20, 2)), rng.uniform(1, 90, (20, 2))])
    np.testing.assert_allclose(box_from_crop(box_to_crop(boxes, transform), transform), boxes, atol=1e-9)
    np.testing.assert_allclose(box_to_crop(box_from_crop(boxes[0], transform), transform), boxes[0], atol=1e-9)


def test_box_mapping_matches_the_pixels():
    """A bright square moves in the crop exactly where box_to_crop says."""
    image = np.zeros((100, 120), np.float32)
    image[30:50, 60:80] = 1.0
    crop, transform = sample_crop(image, np.array([60.0, 30.0, 20.0, 20.0]), 3.0, 90)
    x, y, w, h = box_to_crop(np.array([60.0, 30.0, 20.0, 20.0]), transform)
    assert (x, y, w, h) == pytest.approx((30.0, 30.0, 30.0, 30.0))
    rows, cols = np.nonzero(crop > 0.5)
    assert (cols.min(), cols.max() + 1, rows.min(), rows.max() + 1) == (30, 60, 30, 60)


def test_same_transform_keeps_grey_thermal_equal_to_grey_rgb():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (60, 80, 3)).astype(np.float32)
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    thermal = rgb @ weights
    rgb_crop, transform = sample_crop(rgb, np.array([20.3, 11.8, 17.0, 9.5]), 4.0, 64)
    np.testing.assert_allclose(rgb_crop @ weights, warp_crop(thermal, transform), atol=1e-2)


@pytest.mark.parametrize(
    "box, factor, size",
    [([0, 0, 0, 10], 5.0, 288), ([0, 0, 5, np.nan], 5.0, 288), ([0, 0, 5, 5], 0.0, 288), ([0, 0, 5, 5], 5.0, 0)],
)
def test_bad_arguments_raise_input_error(box, factor, size):
    with pytest.raises(InputError):
        search_area_transform(np.array(box, dtype=float), factor, size)


def test_unknown_padding_raises_input_error():
    with pytest.raises(InputError, match="padding"):
        warp_crop(np.zeros((4, 4), np.uint8), crop_transform((2, 2), 1.0, 4), "wrap")
