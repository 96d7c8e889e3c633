"""DiMP training samples (data/sampler.py): shapes, RGB/thermal alignment, labels, proposals, frames."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rgbt_tracker_ros.data.datasets import open_dataset
from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.data.sampler import (
    DiMPSampler,
    SamplerSettings,
    box_iou,
    collate_samples,
    gaussian_label,
    training_boxes,
)
from rgbt_tracker_ros.errors import DatasetError, InputError

SMALL = dict(output_size=64, search_area_factor=4.0)


@dataclass
class MemorySequence:
    """A sequence held in memory (the sampler's ``TrainingSequence`` protocol)."""

    name: str
    rgb: list[np.ndarray]
    thermal: list[np.ndarray]
    gt_rgb: np.ndarray
    gt_thermal: np.ndarray = field(default=None)
    attributes: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.gt_thermal is None:
            self.gt_thermal = self.gt_rgb.copy()

    def __len__(self) -> int:
        return len(self.rgb)

    def __getitem__(self, index: int) -> FramePair:
        return FramePair(self.rgb[index], self.thermal[index], index=index)


def moving_square_sequence(length: int = 30, size: int = 80, name: str = "square", grey_thermal: bool = False):
    """A textured background with a 16 px square moving right; thermal = grey(RGB) or a hot square."""
    rng = np.random.default_rng(7)
    background = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    rgb, thermal, boxes = [], [], []
    for i in range(length):
        x, y = 10 + i, 30
        frame = background.copy()
        frame[y : y + 16, x : x + 16] = (255, 0, 0)
        rgb.append(frame)
        if grey_thermal:
            thermal.append(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
        else:
            hot = np.full((size, size), 1000, np.uint16)
            hot[y : y + 16, x : x + 16] = 3000
            thermal.append(hot)
        boxes.append([x, y, 16, 16])
    return MemorySequence(name, rgb, thermal, np.array(boxes, dtype=np.float64))


def test_gaussian_label_peak_by_hand():
    # 288 px crop, stride 16 -> 18 cells, even 4x4 filter -> 19x19 map; peak cell = centre / 16.
    labels = gaussian_label(np.array([[134.0, 134.0, 20, 20], [70.0, 198.0, 20, 20]]), 0.25 / 5, 4, 18, 288)
    assert labels.shape == (2, 19, 19)
    assert np.unravel_index(labels[0].argmax(), (19, 19)) == (9, 9)
    assert np.unravel_index(labels[1].argmax(), (19, 19)) == (13, 5)  # rows = y 208/16, cols = x 80/16
    assert labels[0, 9, 9] == pytest.approx(1.0)
    sigma = 0.25 / 5 * 18  # 0.9 cells
    assert labels[0, 9, 10] == pytest.approx(np.exp(-0.5 / sigma**2), rel=1e-5)


def test_box_iou_by_hand():
    iou = box_iou(np.array([0.0, 0, 10, 10]), np.array([[5.0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 5, 5]]))
    np.testing.assert_allclose(iou, [50 / 150, 1.0, 0.0])


def test_sample_shapes_and_ranges():
    settings = SamplerSettings(**SMALL)
    sample = DiMPSampler([moving_square_sequence()], settings, samples_per_epoch=4, seed=1)[0]
    assert sample["train_rgb"].shape == (3, 3, 64, 64) and sample["train_tir"].shape == (3, 1, 64, 64)
    assert sample["test_rgb"].shape == (3, 3, 64, 64) and sample["test_tir"].shape == (3, 1, 64, 64)
    assert sample["train_bb"].shape == (3, 4) and sample["test_bb"].shape == (3, 4)
    assert sample["train_label"].shape == (3, 5, 5) and sample["test_label"].shape == (3, 5, 5)
    assert sample["test_proposals"].shape == (3, 8, 4) and sample["proposal_iou"].shape == (3, 8)
    for key in ("train_rgb", "train_tir", "test_rgb", "test_tir"):
        assert sample[key].dtype == torch.float32
        assert 0.0 <= float(sample[key].min()) and float(sample[key].max()) <= 1.0
    batch = collate_samples([sample, sample])
    assert batch["train_rgb"].shape == (3, 2, 3, 64, 64)
    assert batch["test_proposals"].shape == (3, 2, 8, 4)


def test_thermal_equal_to_grey_rgb_stays_equal_through_jitter():
    settings = SamplerSettings(**SMALL, brightness_jitter=0.0, grayscale_probability=0.0)
    sampler = DiMPSampler([moving_square_sequence(grey_thermal=True)], settings, samples_per_epoch=3, seed=3)
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    for index in range(3):
        sample = sampler[index]
        for part in ("train", "test"):
            grey = (sample[f"{part}_rgb"] * weights).sum(dim=1, keepdim=True)
            torch.testing.assert_close(grey, sample[f"{part}_tir"], atol=1.5 / 255, rtol=0)


def test_hot_target_and_red_target_land_on_the_crop_box():
    """Jitter and brightness on: the thermal hot square and the red RGB square sit on the crop box."""
    settings = SamplerSettings(**SMALL, grayscale_probability=0.0)
    sampler = DiMPSampler([moving_square_sequence()], settings, samples_per_epoch=3, seed=5)
    checked = 0
    for index in range(3):
        sample = sampler[index]
        for part in ("train", "test"):
            for frame in range(3):
                x, y, w, h = sample[f"{part}_bb"][frame].tolist()
                x0, y0 = max(int(np.ceil(x)) + 1, 0), max(int(np.ceil(y)) + 1, 0)
                x1, y1 = min(int(x + w) - 1, 64), min(int(y + h) - 1, 64)
                if x1 - x0 < 2 or y1 - y0 < 2:
                    continue  # the centre jitter pushed the target out of the crop
                tir = sample[f"{part}_tir"][frame, 0]
                rgb = sample[f"{part}_rgb"][frame]
                assert float(tir[y0:y1, x0:x1].min()) > 0.7  # hot square: 1.0 x brightness >= 0.8
                assert float(rgb[0, y0:y1, x0:x1].min()) > 0.7 and float(rgb[1, y0:y1, x0:x1].max()) < 0.05
                ring = torch.ones(64, 64, dtype=torch.bool)
                ring[max(y0 - 3, 0) : y1 + 3, max(x0 - 3, 0) : x1 + 3] = False
                assert float(tir[ring].max()) < 0.05  # cold everywhere else
                checked += 1
    assert checked >= 10


def test_label_peak_and_proposal_ious_match_the_boxes():
    settings = SamplerSettings(**SMALL)
    sampler = DiMPSampler([moving_square_sequence()], settings, samples_per_epoch=5, seed=11)
    for index in range(5):
        sample = sampler[index]
        for part in ("train", "test"):
            boxes = sample[f"{part}_bb"].double()
            centres = boxes[:, :2] + boxes[:, 2:] / 2
            for frame in range(3):
                peak = divmod(int(sample[f"{part}_label"][frame].argmax()), 5)
                expected = tuple(int(v) for v in torch.round(centres[frame].flip(0) / 16).clamp(0, 4))
                assert peak == expected
        for frame in range(3):
            gt = sample["test_bb"][frame].double().numpy()
            proposals = sample["test_proposals"][frame].double().numpy()
            for proposal, iou in zip(proposals, sample["proposal_iou"][frame].tolist()):
                ix = max(0.0, min(gt[0] + gt[2], proposal[0] + proposal[2]) - max(gt[0], proposal[0]))
                iy = max(0.0, min(gt[1] + gt[3], proposal[1] + proposal[3]) - max(gt[1], proposal[1]))
                union = gt[2] * gt[3] + proposal[2] * proposal[3] - ix * iy
                assert iou == pytest.approx(ix * iy / union, abs=1e-5)
                assert iou > 0.1


def test_same_seed_epoch_index_gives_the_same_sample():
    settings = SamplerSettings(**SMALL)
    a = DiMPSampler([moving_square_sequence()], settings, samples_per_epoch=4, seed=2)
    b = DiMPSampler([moving_square_sequence()], settings, samples_per_epoch=4, seed=2)
    for key, value in a[3].items():
        torch.testing.assert_close(value, b[3][key], rtol=0, atol=0)
    b.set_epoch(1)
    assert not torch.equal(a[3]["train_bb"], b[3]["train_bb"])


def test_frame_ids_are_causal_visible_and_within_the_gap():
    settings = SamplerSettings(**SMALL, max_gap=5)
    sampler = DiMPSampler([moving_square_sequence(length=40)], settings, samples_per_epoch=1)
    visible = np.ones(40, bool)
    visible[::3] = False
    rng = np.random.default_rng(0)
    for _ in range(50):
        train, test = sampler.sample_frame_ids(visible, rng)
        base = train[0]
        assert len(train) == 3 and len(test) == 3
        assert all(visible[i] for i in train + test)
        assert all(base - 5 <= i <= base for i in train)
        assert all(base < i < base + 5 for i in test)
    assert sampler.sample_frame_ids(np.zeros(40, bool), rng) is None


def test_test_frames_may_be_hidden_train_frames_never():
    settings = SamplerSettings(**SMALL, max_gap=5)
    sampler = DiMPSampler([moving_square_sequence(length=40)], settings, samples_per_epoch=1)
    visible = np.ones(40, bool)
    visible[20:30] = False
    rng = np.random.default_rng(0)
    test_ids = set()
    for _ in range(200):
        train, test = sampler.sample_frame_ids(visible, rng, test_candidates=np.ones(40, bool))
        assert all(visible[i] for i in train)
        test_ids.update(test)
    assert test_ids & set(range(20, 30)), "hidden frames were never drawn as test frames"


def test_fully_occluded_test_frames_get_an_empty_label():
    sequence = moving_square_sequence(length=30)
    hidden = np.zeros(30, np.int64)
    hidden[12:18] = 1
    sequence.attributes = {"full_occlusion": hidden, "distractor": np.ones(30, np.int64)}
    centred = dict(SMALL, max_gap=8, center_jitter_train=0.0, center_jitter_test=0.0, scale_jitter_train=0.0,
                   scale_jitter_test=0.0)  # every visible frame's label then peaks at 1 on the crop centre
    sampler = DiMPSampler([sequence], SamplerSettings(**centred), samples_per_epoch=64, seed=3)
    np.testing.assert_array_equal(sampler.sequences[0].hidden, hidden.astype(bool))
    empty_test_labels = 0
    for index in range(64):
        sample = sampler[index]
        torch.testing.assert_close(sample["train_label"].amax(dim=(1, 2)), torch.ones(3))
        peaks = sample["test_label"].amax(dim=(1, 2))
        assert ((peaks == 0) | (peaks == 1)).all()
        empty_test_labels += int((peaks == 0).sum())
    assert empty_test_labels > 0, "no hidden test frame in 64 samples"
    nothing_hidden = DiMPSampler([sequence], SamplerSettings(**centred, hidden_attributes=()),
                                 samples_per_epoch=16, seed=3)
    assert all((nothing_hidden[i]["test_label"].amax(dim=(1, 2)) == 1).all() for i in range(16))


def test_training_boxes_fall_back_to_thermal_and_skip_invalid():
    sequence = moving_square_sequence(length=3)
    sequence.gt_rgb[1] = 0.0
    sequence.gt_rgb[2] = 0.0
    sequence.gt_thermal[2] = [1, 2, 0, 5]
    sequence.gt_thermal[0] = [9, 9, 9, 9]
    boxes = training_boxes(sequence)
    np.testing.assert_array_equal(boxes[0], sequence.gt_rgb[0])
    np.testing.assert_array_equal(boxes[1], sequence.gt_thermal[1])
    assert np.isnan(boxes[2]).all()


def test_unusable_sequences_are_skipped_or_rejected():
    settings = SamplerSettings(**SMALL)
    short = moving_square_sequence(length=10, name="short")
    hidden = moving_square_sequence(length=30, name="hidden")
    hidden.gt_rgb[:] = 0.0
    hidden.gt_thermal[:] = 0.0
    sampler = DiMPSampler([short, hidden, moving_square_sequence()], settings, samples_per_epoch=1)
    assert [usable.sequence.name for usable in sampler.sequences] == ["square"]
    with pytest.raises(DatasetError, match="no usable training sequence"):
        DiMPSampler([short, hidden], settings, samples_per_epoch=1)


def test_bad_settings_raise_input_error():
    with pytest.raises(InputError, match="multiple"):
        SamplerSettings(output_size=100)


def _write_folder_dataset(root: Path, layout: str, sequence: MemorySequence) -> None:
    folder = root / sequence.name
    rgb_dir, tir_dir = (folder / "v", folder / "i") if layout == "gtot" else (folder / "visible", folder / "infrared")
    rgb_dir.mkdir(parents=True)
    tir_dir.mkdir(parents=True)
    for i, (rgb, tir) in enumerate(zip(sequence.rgb, sequence.thermal)):
        tir8 = (tir // 12).astype(np.uint8)
        if layout == "gtot":
            cv2.imwrite(str(rgb_dir / f"{i + 1:05d}v.png"), rgb[:, :, ::-1])
            cv2.imwrite(str(tir_dir / f"{i + 1:05d}i.bmp"), tir8)
        else:
            cv2.imwrite(str(rgb_dir / f"v{i + 1:06d}.jpg"), rgb[:, :, ::-1])
            cv2.imwrite(str(tir_dir / f"i{i + 1:06d}.jpg"), tir8)
    if layout == "gtot":
        corners = np.column_stack([sequence.gt_rgb[:, :2], sequence.gt_rgb[:, :2] + sequence.gt_rgb[:, 2:]])
        for name in ("groundTruth_v.txt", "groundTruth_i.txt"):
            np.savetxt(folder / name, corners, fmt="%d", delimiter=" ")
    else:
        for name in ("visible.txt", "infrared.txt"):
            np.savetxt(folder / name, sequence.gt_rgb, fmt="%d", delimiter=",")


@pytest.mark.parametrize("layout", ["lasher", "gtot"])
def test_samples_from_benchmark_folders(tmp_path, layout):
    _write_folder_dataset(tmp_path, layout, moving_square_sequence(length=24))
    sequences = open_dataset(tmp_path)
    sample = DiMPSampler(sequences, SamplerSettings(**SMALL), samples_per_epoch=1, seed=0)[0]
    assert sample["test_rgb"].shape == (3, 3, 64, 64)
    x, y, w, h = sample["test_bb"][0].tolist()
    assert w == pytest.approx(h)  # the square target stays square through the crop
