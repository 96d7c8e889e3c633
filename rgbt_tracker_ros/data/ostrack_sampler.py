"""OSTrack training samples from RGB-T sequences (Ye et al., ECCV 2022; OSTrack's ``STARKProcessing`` and
``generate_heatmap``), for AINet.

One sample = ``num_train_frames`` template frame(s) and ``num_test_frames`` search frame(s) of one sequence
(OSTrack: one of each), drawn as DiMP draws its train and test frames (:class:`~.sampler.DiMPSampler`: causal,
within ``max_gap`` frames; OSTrack's ``causal`` mode with ``MAX_SAMPLE_INTERVAL`` 200). The same sequence
handling (usable sequences, RGB / thermal boxes, hidden targets, per-modality brightness, grayscale RGB, one
crop transform for both modalities, seeding by ``(seed, epoch, index)``) applies; see :mod:`.sampler`.

* template: cut around a copy of the box jittered by ``center_jitter_train`` / ``scale_jitter_train`` (OSTrack:
  0 and 0), ``template_area_factor`` (2) times its size, resampled to ``template_size`` (from the model config);
* search: jittered by ``center_jitter_test`` / ``scale_jitter_test`` (OSTrack: 3 and 0.25),
  ``search_area_factor`` (4) times its size, resampled to ``output_size`` (the config's ``search_size``);
* ``search_box``: the target box ``[x, y, w, h]`` as fractions of the search crop (OSTrack's normalised
  annotation);
* ``search_label``: CenterNet's Gaussian on the score grid (``output_size / feature_stride``): the radius of
  CornerNet's ``gaussian_radius`` (min overlap 0.7, OSTrack's formula as it is) for the box size in cells,
  ``sigma = (2 r + 1) / 6``, peak 1 at the cell ``round(centre)``; all zero for a hidden target;
* ``search_visible``: 1, or 0 for a hidden target (its box losses are left out).

Items are frames-first like DiMP's (``(F, ...)``), so :func:`~.sampler.collate_samples` batches them.

:class:`OSTrackViewSampler` is the DiMP sampler with an OSTrack network's views of the same frames added: the
samples of CMD's distillation from an AINet teacher (:mod:`rgbt_tracker_ros.distill.teachers`).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from rgbt_tracker_ros.data.crops import box_to_crop, search_area_transform
from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.data.sampler import DiMPSampler, crop_pair, jitter_box
from rgbt_tracker_ros.errors import InputError

#: CenterNet's minimum overlap for the Gaussian radius (OSTrack ``generate_heatmap``).
MIN_OVERLAP = 0.7


def gaussian_radius(width: float, height: float, min_overlap: float = MIN_OVERLAP) -> float:
    """CornerNet's ``gaussian_radius`` for a box of ``width x height`` cells, in the form CenterNet and OSTrack
    use (the smallest root of the three cases, each with the quadratic formula's ``/ 2``)."""
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def center_heatmap(box: np.ndarray, grid: int) -> np.ndarray:
    """OSTrack's Gaussian label ``(grid, grid)`` for ``box`` ``[x, y, w, h]`` in fractions of the crop."""
    cells = np.asarray(box, dtype=np.float64) * grid
    radius = max(0, int(gaussian_radius(cells[2], cells[3])))
    cx, cy = (int(v) for v in np.round(cells[:2] + cells[2:] / 2))
    sigma = (2 * radius + 1) / 6
    rows, cols = np.arange(grid)[:, None] - cy, np.arange(grid)[None, :] - cx
    gauss = np.exp(-(rows ** 2 + cols ** 2) / (2 * sigma ** 2))
    gauss[(np.abs(rows) > radius) | (np.abs(cols) > radius)] = 0.0  # drawn inside the (2r+1)^2 window only
    gauss[gauss < np.finfo(np.float64).eps] = 0.0
    return gauss.astype(np.float32)


class OSTrackSampler(DiMPSampler):
    """Random OSTrack training samples (see the module docstring); ``len`` = samples per epoch.

    Items (frames first): ``template_rgb (Ft, 3, Sz, Sz)``, ``template_tir (Ft, 1, Sz, Sz)``, ``search_rgb
    (Fs, 3, Sx, Sx)``, ``search_tir (Fs, 1, Sx, Sx)`` in [0, 1], ``search_box (Fs, 4)`` (fractions of the crop),
    ``search_label (Fs, G, G)``, ``search_visible (Fs,)``.
    """

    def __init__(self, sequences, settings, samples_per_epoch: int, seed: int = 0) -> None:
        if settings.template_size % settings.feature_stride:
            raise InputError(f"sampler template_size {settings.template_size} is not a multiple of the token stride "
                             f"{settings.feature_stride}")
        super().__init__(sequences, settings, samples_per_epoch, seed)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng, (sequence, boxes, hidden), (template_ids, search_ids) = self.choose_frames(index)
        s = self.settings
        grayscale = rng.random() < s.grayscale_probability
        sample: dict[str, torch.Tensor] = {}
        for part, ids, jitter, factor, size in (
            ("template", template_ids, (s.center_jitter_train, s.scale_jitter_train), s.template_area_factor,
             s.template_size),
            ("search", search_ids, (s.center_jitter_test, s.scale_jitter_test), s.search_area_factor, s.output_size),
        ):
            brightness = rng.uniform(max(0.0, 1 - s.brightness_jitter), 1 + s.brightness_jitter, size=2)
            crops = [self._crop_to(sequence[i], boxes[i], rng, jitter, factor, size, grayscale, brightness)
                     for i in ids]
            rgb, tir, crop_boxes = zip(*crops)
            sample[f"{part}_rgb"] = torch.from_numpy(np.stack(rgb))
            sample[f"{part}_tir"] = torch.from_numpy(np.stack(tir))
            if part == "search":
                normalised = np.stack(crop_boxes) / size
                visible = ~hidden[search_ids]
                grid = size // s.feature_stride
                labels = np.stack([center_heatmap(box, grid) if seen else np.zeros((grid, grid), np.float32)
                                   for box, seen in zip(normalised, visible)])
                sample["search_box"] = torch.from_numpy(normalised.astype(np.float32))
                sample["search_label"] = torch.from_numpy(labels)
                sample["search_visible"] = torch.from_numpy(visible.astype(np.float32))
        return sample

    def _crop_to(self, pair: FramePair, box: np.ndarray, rng: np.random.Generator, jitter: tuple[float, float],
                 factor: float, size: int, grayscale: bool,
                 brightness: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Crop one pair around a jittered ``box``: ``(rgb (3,S,S), tir (1,S,S), crop box (4,) in pixels)``."""
        transform = search_area_transform(jitter_box(box, rng, *jitter), factor, size)
        rgb, tir = crop_pair(pair, transform, self.settings.padding, grayscale, brightness)
        return rgb, tir, box_to_crop(box, transform)


class OSTrackViewSampler(DiMPSampler):
    """DiMP samples (the student's, unchanged: the same random draws) plus the views an OSTrack-geometry teacher
    (AINet) takes of the same frames, for distillation (:class:`~rgbt_tracker_ros.distill.teachers.AINetTeacher`).

    Added items: ``teacher_template_rgb (1, 3, Sz, Sz)`` / ``teacher_template_tir (1, 1, Sz, Sz)``: the base (first)
    train frame cut at ``template_area_factor`` (2) around its box without jitter (OSTrack's template), resampled
    to ``template_size``; ``teacher_search_rgb (Ftrain + Ftest, 3, Sx, Sx)`` / ``teacher_search_tir``: every train
    frame, then every test frame, cut with the student's very crop transform (the same image region, DiMP's
    ``search_area_factor`` around the jittered box) resampled to ``search_size``. Same photometric augmentation as
    the student's crop of the frame; cut from the frames, not from the student's crops, so the teacher gets its
    own resolution.

    Args:
        search_size / template_size: the teacher's crop sizes (its config's ``search_size`` / ``template_size``).
    """

    def __init__(self, sequences, settings, samples_per_epoch: int, seed: int = 0, *, search_size: int,
                 template_size: int) -> None:
        super().__init__(sequences, settings, samples_per_epoch, seed)
        self.search_size, self.template_size = int(search_size), int(template_size)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample, drawn = self.draw(index)
        s = self.settings
        train = drawn.frames["train"]
        transform = search_area_transform(drawn.boxes[train.ids[0]], s.template_area_factor, self.template_size)
        rgb, tir = crop_pair(train.pairs[0], transform, s.padding, drawn.grayscale, train.brightness)
        sample["teacher_template_rgb"] = torch.from_numpy(rgb[None])
        sample["teacher_template_tir"] = torch.from_numpy(tir[None])
        views = [crop_pair(pair, transform.resized(self.search_size), s.padding, drawn.grayscale, part.brightness)
                 for part in (train, drawn.frames["test"]) for pair, transform in zip(part.pairs, part.transforms)]
        sample["teacher_search_rgb"] = torch.from_numpy(np.stack([rgb for rgb, _ in views]))
        sample["teacher_search_tir"] = torch.from_numpy(np.stack([tir for _, tir in views]))
        return sample
