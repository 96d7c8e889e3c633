"""First-frame augmentation of the DiMP tracker: counts, shapes and geometry on toy images."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rgbt_tracker_ros.tracking.augmentation import (
    Augmentation,
    apply_augmentation,
    augment_box,
    augment_patch,
    build_augmentations,
    feature_dropout,
)
from rgbt_tracker_ros.tracking.params import DiMPParams


def _toy_patch(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A 4-channel patch with a bright 8x6 block at x 36..44, y 20..26, and that block's box."""
    patch = np.zeros((size, size, 4), dtype=np.float32)
    patch[20:26, 36:44] = 1.0
    return patch, np.array([36.0, 20.0, 8.0, 6.0])


def _bright_box(image: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(image[:, :, 0] > 0.5)
    return np.array([cols.min(), rows.min(), cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min()], float)


def test_default_parameters_give_15_samples_in_dimp_order():
    params = DiMPParams()
    augs = build_augmentations(params.augmentation, 288, params.random_shift_factor, torch.Generator().manual_seed(0))
    kinds = [a.kind for a in augs]
    assert kinds == ["identity"] + ["shift"] * 4 + ["fliplr"] + ["blur"] * 3 + ["rotate"] * 4
    # 13 image transforms + 2 dropout copies = DiMP's 15 initial samples.
    assert params.num_init_samples == 15 == len(augs) + params.augmentation["dropout"][0]
    # Relative shifts of +-0.6 of half the 288 px crop: int(0.6 * 144) = 86 px.
    assert {a.shift for a in augs if a.kind == "shift"} == {(86, 86), (-86, 86), (86, -86), (-86, -86)}
    assert [a.angle for a in augs if a.kind == "rotate"] == [10.0, -10.0, 45.0, -45.0]
    assert [a.sigma for a in augs if a.kind == "blur"] == [(3.0, 1.0), (1.0, 3.0), (2.0, 2.0)]
    # Random shifts stay within +-random_shift_factor / 2 of the crop (288 / 6 = 48 px).
    assert all(abs(v) <= 48 for a in augs for v in a.shift if a.kind in ("fliplr", "blur", "rotate"))


def test_random_shifts_are_reproducible_with_a_seeded_generator():
    config = DiMPParams().augmentation
    first = build_augmentations(config, 288, 1 / 3, torch.Generator().manual_seed(7))
    second = build_augmentations(config, 288, 1 / 3, torch.Generator().manual_seed(7))
    assert first == second


def test_shapes_of_the_augmented_patches_and_boxes():
    patch, box = _toy_patch(64)
    augs = build_augmentations(DiMPParams().augmentation, 32, 1 / 3, torch.Generator().manual_seed(0))
    patches, boxes = augment_patch(patch, box, augs, 32)
    assert patches.shape == (13, 32, 32, 4) and patches.dtype == np.float32
    assert boxes.shape == (13, 4)
    np.testing.assert_allclose(boxes[:, 2:], np.tile([8.0, 6.0], (13, 1)))  # sizes never change


def test_identity_cuts_the_centre_and_shift_moves_content_and_box():
    patch, box = _toy_patch(64)
    identity = Augmentation("identity")
    out = apply_augmentation(identity, patch, 32)
    np.testing.assert_array_equal(out, patch[16:48, 16:48])  # centre window: offset (64 - 32) / 2 = 16
    np.testing.assert_allclose(augment_box(identity, box, (64, 64), 32), [20.0, 4.0, 8.0, 6.0])

    shifted = Augmentation("shift", shift=(2, -3))  # content 2 px right, 3 px up
    out = apply_augmentation(shifted, patch, 32)
    expected_box = np.array([22.0, 1.0, 8.0, 6.0])
    np.testing.assert_allclose(augment_box(shifted, box, (64, 64), 32), expected_box)
    np.testing.assert_allclose(_bright_box(out), expected_box)
    assert out.shape == (32, 32, 4) and np.all(out[:, :, 3] == out[:, :, 0])  # all channels alike


def test_flip_mirrors_content_and_box():
    patch, box = _toy_patch(64)
    flip = Augmentation("fliplr")
    out = apply_augmentation(flip, patch, 32)
    # Block x 36..44 in a 64 px patch mirrors to 20..28, i.e. 4..12 in the centre window.
    expected_box = np.array([4.0, 4.0, 8.0, 6.0])
    np.testing.assert_allclose(augment_box(flip, box, (64, 64), 32), expected_box)
    np.testing.assert_allclose(_bright_box(out), expected_box)


def test_rotation_moves_the_box_centre_with_the_content():
    patch, box = _toy_patch(64)
    rotate = Augmentation("rotate", angle=90.0)
    out = apply_augmentation(rotate, patch, 64)
    rotated_box = augment_box(rotate, box, (64, 64), 64)
    bright = _bright_box(out)  # a 90 degree turn swaps the block's sides
    np.testing.assert_allclose(bright[:2] + bright[2:] / 2, rotated_box[:2] + rotated_box[2:] / 2, atol=0.51)
    # Centre (40, 23) turned 90 degrees counter-clockwise about (32, 32) lands on (23, 24).
    np.testing.assert_allclose(rotated_box[:2] + rotated_box[2:] / 2, [23.0, 24.0], atol=1e-9)


def test_blur_keeps_mean_intensity_and_smooths_edges():
    patch, box = _toy_patch(64)
    blur = Augmentation("blur", sigma=(2.0, 2.0))
    out = apply_augmentation(blur, patch, 64)
    assert out.sum() == pytest.approx(patch.sum(), rel=1e-4)
    assert 0.0 < out[19, 40, 0] < 1.0  # the edge is no longer sharp
    np.testing.assert_allclose(augment_box(blur, box, (64, 64), 64), box)


def test_window_beyond_the_patch_replicates_the_border():
    patch = np.tile(np.arange(8, dtype=np.float32)[None, :, None], (8, 1, 4))
    out = apply_augmentation(Augmentation("shift", shift=(6, 0)), patch, 8)
    np.testing.assert_array_equal(out[0, :, 0], [0, 0, 0, 0, 0, 0, 0, 1])


def test_feature_dropout_zeroes_whole_channels_and_rescales():
    feat = torch.ones(1, 200, 3, 3)
    out = feature_dropout(feat, 2, 0.2, torch.Generator().manual_seed(0))
    assert out.shape == (2, 200, 3, 3)
    per_channel = out[:, :, 0, 0]
    assert torch.all((out == 0) | torch.isclose(out, torch.tensor(1.25)))
    assert torch.all(out == per_channel[:, :, None, None])  # whole channels only
    dropped = (per_channel == 0).float().mean().item()
    assert 0.1 < dropped < 0.3


def test_unknown_augmentation_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown augmentation kind 'zoom'"):
        Augmentation("zoom")
