"""DiMP training samples from RGB-T sequences (Bhat et al., ICCV 2019; pytracking ``ltr/data/sampler.py``
``DiMPSampler`` + ``processing.DiMPProcessing``).

One sample = ``num_train_frames`` train frames and ``num_test_frames`` test frames of one sequence,
sampled causally within ``max_gap`` frames: a base frame, further train frames from the
``max_gap`` frames before it and test frames from the ``max_gap`` frames after it (the gap grows by
5 until enough visible frames are found). Each frame is cropped around a jittered copy of its box
(centre jitter ``sqrt(w'h') * factor * U(-0.5, 0.5)``, size jitter ``exp(N(0, sigma))``) to DiMP's
search area, gets a Gaussian label map on the classifier's output grid and, for test frames, IoU
proposals (Gaussian perturbations of the box with IoU > ``proposal_min_iou``).

RGB-T specifics (our design; DiMP is RGB only, CMD does not describe its sampler):

- The RGB image and the normalised thermal image (``decode.normalize_thermal``, before cropping)
  share one :class:`~rgbt_tracker_ros.data.crops.CropTransform` per frame, so they stay aligned.
- The box used is the RGB ground truth, or the thermal one where the RGB box is invalid (target
  visible only in thermal); frames with neither box valid (zero size, NaN) are never sampled.
- Frames whose per-frame attribute flags say the target is in view but hidden
  (``hidden_attributes``, by default ``full_occlusion``) never serve as base or train frames, since
  the filter must learn from a visible target (pytracking samples GOT-10k's visible frames only).
  They may be test frames, with an all-zero label: the classifier is taught to score an occluder
  standing where the target was as background, so the tracker reports ``lost`` there (as
  pytracking's KYS/LWL zero the labels of invisible test frames). Their IoU-Net proposals keep the
  ground-truth box, which LasHeR-style annotations keep on occluded frames.
- DiMP's photometric augmentation is applied per modality: a brightness factor
  ``U(1 - b, 1 + b)`` drawn per modality and per frame set (train / test), as pytracking draws one
  per set; grayscale conversion (probability per sample) touches only the RGB stream.
- Randomness: every sample draws from ``numpy.random.default_rng([seed, epoch, index])``, so a
  sample depends only on (seed, epoch, index): the same with any number of loader workers or DDP
  ranks, and again after ``--resume``.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Mapping, NamedTuple, Optional, Protocol, Sequence as SequenceType

import numpy as np
import torch
from torch.utils.data import Dataset

from rgbt_tracker_ros.data.crops import CropTransform, box_to_crop, search_area_transform, warp_crop
from rgbt_tracker_ros.data.decode import normalize_thermal
from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.errors import DatasetError, InputError

LOGGER = logging.getLogger(__name__)

#: RGB -> grey weights (ITU-R BT.601, as cv2.COLOR_RGB2GRAY).
GREY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class TrainingSequence(Protocol):
    """What the sampler needs from a sequence (``data.datasets.Sequence`` provides it)."""

    name: str
    gt_rgb: np.ndarray
    gt_thermal: np.ndarray
    attributes: Mapping[str, np.ndarray]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> FramePair: ...


@dataclass
class SamplerSettings:
    """DiMP sampling and processing parameters (defaults: pytracking ``train_settings/dimp``).

    ``output_size``, ``feature_stride``, ``filter_size`` and ``template_size`` must match the model (the
    trainer takes them from the model config). ``hidden_attributes`` (ours) names the per-frame attribute
    files that mark the target as hidden (see the module docstring). ``template_size`` and
    ``template_area_factor`` are the template crop of the OSTrack sampler
    (:class:`~.ostrack_sampler.OSTrackSampler`, whose search crop is ``output_size`` at
    ``search_area_factor``); DiMP has no template.
    """

    num_train_frames: int = 3
    num_test_frames: int = 3
    max_gap: int = 30
    min_sequence_length: int = 20
    search_area_factor: float = 5.0
    output_size: int = 288
    feature_stride: int = 16
    filter_size: int = 4
    output_sigma_factor: float = 0.25
    center_jitter_train: float = 3.0
    center_jitter_test: float = 4.5
    scale_jitter_train: float = 0.25
    scale_jitter_test: float = 0.5
    proposals_per_frame: int = 8
    proposal_min_iou: float = 0.1
    proposal_sigma_factors: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.3)
    brightness_jitter: float = 0.2
    grayscale_probability: float = 0.05
    padding: str = "replicate"
    hidden_attributes: tuple[str, ...] = ("full_occlusion",)
    template_size: int = 128
    template_area_factor: float = 2.0

    def __post_init__(self) -> None:
        self.proposal_sigma_factors = tuple(float(s) for s in self.proposal_sigma_factors)
        self.hidden_attributes = tuple(str(name) for name in self.hidden_attributes)
        if self.output_size % self.feature_stride:
            raise InputError(
                f"sampler output_size {self.output_size} is not a multiple of the feature stride "
                f"{self.feature_stride}"
            )
        if min(self.num_train_frames, self.num_test_frames, self.proposals_per_frame, self.max_gap) < 1:
            raise InputError("sampler frame counts, proposals_per_frame and max_gap must be at least 1")

    @property
    def feature_size(self) -> int:
        """Side of the backbone's layer3 grid for one crop (18 for 288 / 16)."""
        return self.output_size // self.feature_stride


def training_boxes(sequence: TrainingSequence) -> np.ndarray:
    """``(N, 4)`` boxes used for training: RGB gt, else thermal gt; NaN rows where neither is valid."""
    boxes = np.full((len(sequence), 4), np.nan)
    for gt in (sequence.gt_thermal, sequence.gt_rgb):  # RGB last: it wins where both are valid
        if gt is None:
            continue
        gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)[: len(sequence)]
        valid = np.isfinite(gt).all(axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)
        boxes[: len(gt)][valid] = gt[valid]
    return boxes


def hidden_frames(sequence: TrainingSequence, attribute_names: SequenceType[str]) -> np.ndarray:
    """``(N,)`` bool: frames that any of the per-frame attributes ``attribute_names`` flags."""
    hidden = np.zeros(len(sequence), dtype=bool)
    for name in attribute_names:
        flags = sequence.attributes.get(name)
        if flags is not None:
            flags = np.asarray(flags).reshape(-1)[: len(sequence)]
            hidden[: len(flags)] |= flags.astype(bool)
    return hidden


def box_iou(reference: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of ``[x, y, w, h]`` ``reference`` with each row of ``boxes`` ``(N, 4)``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(reference[:2], boxes[:, :2])
    bottom_right = np.minimum(reference[:2] + reference[2:], boxes[:, :2] + boxes[:, 2:])
    intersection = np.clip(bottom_right - top_left, 0, None).prod(axis=1)
    union = reference[2] * reference[3] + boxes[:, 2] * boxes[:, 3] - intersection
    return intersection / union


def gaussian_label(
    boxes: np.ndarray, sigma_factor: float, filter_size: int, feature_size: int, image_size: int
) -> np.ndarray:
    """DiMP's Gaussian label maps ``(N, F + pad, F + pad)`` for crop boxes ``(N, 4)``.

    Same grid as pytracking ``gaussian_label_function``: the label lives on the classifier's output
    grid (``feature_size``, one extra row/column at the end for an even ``filter_size``); its centre
    is the box centre in feature cells, shifted by half a cell for even filters, so the peak falls
    on cell ``centre / stride``. ``sigma = sigma_factor * feature_size`` cells.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    centres = boxes[:, :2] + 0.5 * boxes[:, 2:]
    even_shift = 0.5 * ((filter_size + 1) % 2)
    centres = feature_size * (centres - image_size / 2) / image_size + even_shift
    sigma = sigma_factor * feature_size
    end_pad = int(filter_size % 2 == 0)
    grid = np.arange(-(feature_size - 1) / 2, (feature_size + 1) / 2 + end_pad)
    gauss_x = np.exp(-0.5 / sigma**2 * (grid[None, :] - centres[:, 0:1]) ** 2)
    gauss_y = np.exp(-0.5 / sigma**2 * (grid[None, :] - centres[:, 1:2]) ** 2)
    return (gauss_y[:, :, None] * gauss_x[:, None, :]).astype(np.float32)


def perturb_box(
    box: np.ndarray, rng: np.random.Generator, min_iou: float, sigma_factors: SequenceType[float]
) -> tuple[np.ndarray, float]:
    """One IoU-Net proposal: DiMP's ``perturb_box`` (Gaussian noise on centre and size).

    The noise std is ``sqrt(w*h) * sigma`` with ``sigma`` drawn from ``sigma_factors``; boxes are
    rounded to whole pixels; up to 100 tries, shrinking the noise by 0.9 each time, until the IoU
    with ``box`` exceeds ``min_iou``. Returns ``(proposal, iou)``.
    """
    perturbation = math.sqrt(box[2] * box[3]) * float(rng.choice(np.asarray(sigma_factors)))
    centre = box[:2] + 0.5 * box[2:]
    for _ in range(100):
        cx, cy, w, h = rng.normal(np.r_[centre, box[2:]], perturbation)
        if w <= 1:
            w = box[2] * rng.uniform(0.15, 0.5)
        if h <= 1:
            h = box[3] * rng.uniform(0.15, 0.5)
        proposal = np.round([cx - 0.5 * w, cy - 0.5 * h, w, h])
        if proposal[2] <= 1:
            proposal[2] = box[2] * rng.uniform(0.15, 0.5)
        if proposal[3] <= 1:
            proposal[3] = box[3] * rng.uniform(0.15, 0.5)
        iou = float(box_iou(box, proposal)[0])
        if iou > min_iou:
            break
        perturbation *= 0.9
    return proposal, iou


def jitter_box(box: np.ndarray, rng: np.random.Generator, center_factor: float, scale_factor: float) -> np.ndarray:
    """DiMP's ``_get_jittered_box``: size ``* exp(N(0, scale_factor))``, centre moved by up to half of
    ``center_factor * sqrt(jittered area)`` along each axis (uniform)."""
    size = box[2:] * np.exp(rng.standard_normal(2) * scale_factor)
    max_offset = math.sqrt(size[0] * size[1]) * center_factor
    centre = box[:2] + 0.5 * box[2:] + max_offset * (rng.random(2) - 0.5)
    return np.r_[centre - 0.5 * size, size]


def crop_pair(pair: FramePair, transform: CropTransform, padding: str, grayscale: bool,
              brightness: SequenceType[float]) -> tuple[np.ndarray, np.ndarray]:
    """Both modalities of ``pair`` through one ``transform`` with DiMP's photometric augmentation (grey RGB
    if ``grayscale``, ``brightness`` = ``(rgb factor, thermal factor)``): ``(rgb (3, H, W), tir (1, H, W))``
    float32 in [0, 1]. The one crop of every sampler (DiMP's, OSTrack's, a distillation teacher's views)."""
    pair.validate()
    rgb = warp_crop(pair.rgb, transform, padding).astype(np.float32) / np.float32(255.0)
    tir = warp_crop(normalize_thermal(pair.thermal), transform, padding)
    if grayscale:
        rgb = np.repeat((rgb @ GREY_WEIGHTS)[:, :, None], 3, axis=2)
    rgb = np.clip(rgb * np.float32(brightness[0]), 0.0, 1.0)
    tir = np.clip(tir * np.float32(brightness[1]), 0.0, 1.0)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)), tir.reshape(1, *tir.shape[:2])


class PartFrames(NamedTuple):
    """The train or the test frames of a sample: indices, pairs, crop transforms, brightness factors."""

    ids: list[int]
    pairs: list[FramePair]
    transforms: list[CropTransform]
    brightness: np.ndarray


@dataclass
class DrawnFrames:
    """Where a DiMP sample was cut from (:meth:`DiMPSampler.draw`): the sequence's training ``boxes``, the
    sample's ``grayscale`` draw and its ``frames`` per part (``train``, ``test``), so that another view of the
    same frames (a distillation teacher's crops) can repeat the same region and augmentation."""

    boxes: np.ndarray
    grayscale: bool
    frames: dict[str, PartFrames] = field(default_factory=dict)


class UsableSequence(NamedTuple):
    """A sequence the sampler draws from, with its training boxes and hidden-target mask."""

    sequence: TrainingSequence
    boxes: np.ndarray
    hidden: np.ndarray

    @property
    def has_box(self) -> np.ndarray:
        """``(N,)`` bool: frames with a valid training box (visible or hidden)."""
        return np.isfinite(self.boxes[:, 0])

    @property
    def visible(self) -> np.ndarray:
        """``(N,)`` bool: frames with a valid box and the target not hidden."""
        return self.has_box & ~self.hidden


def usable_sequences(
    sequences: SequenceType[TrainingSequence], settings: SamplerSettings
) -> tuple[list[UsableSequence], list[str]]:
    """Split ``sequences`` into ``(usable, skipped_names)``.

    As DiMP: a sequence needs at least ``min_sequence_length`` frames and more than
    ``2 * (num_train + num_test)`` frames with a valid box and a visible target.
    """
    usable, skipped = [], []
    needed = 2 * (settings.num_train_frames + settings.num_test_frames)
    for sequence in sequences:
        candidate = UsableSequence(sequence, training_boxes(sequence), hidden_frames(sequence, settings.hidden_attributes))
        if len(sequence) < settings.min_sequence_length or int(candidate.visible.sum()) <= needed:
            skipped.append(sequence.name)
        else:
            usable.append(candidate)
    return usable, skipped


class DiMPSampler(Dataset):
    """Random DiMP training samples; ``len`` = samples per epoch, ``index`` only seeds the draw.

    Each item is a dict of tensors (frames first):

    - ``train_rgb`` / ``test_rgb``: ``(F, 3, S, S)`` float32 in [0, 1];
    - ``train_tir`` / ``test_tir``: ``(F, 1, S, S)`` float32 in [0, 1];
    - ``train_bb`` / ``test_bb``: ``(F, 4)`` boxes ``[x, y, w, h]`` in crop pixels;
    - ``train_label`` / ``test_label``: ``(F, L, L)`` Gaussian labels (:func:`gaussian_label`);
    - ``test_proposals``: ``(F, P, 4)`` crop boxes; ``proposal_iou``: ``(F, P)`` their IoU in [0, 1].

    :func:`collate_samples` batches them in pytracking's ``(frames, batch, ...)`` layout.
    """

    def __init__(
        self,
        sequences: SequenceType[TrainingSequence],
        settings: SamplerSettings,
        samples_per_epoch: int,
        seed: int = 0,
    ) -> None:
        self.settings = settings
        self.samples_per_epoch = int(samples_per_epoch)
        self.seed = int(seed)
        self.epoch = 0
        self.sequences, skipped = usable_sequences(sequences, settings)
        if skipped:
            LOGGER.warning(
                "skipping %d sequence(s) too short or with too few visible frames: %s",
                len(skipped),
                ", ".join(skipped[:10]) + (" ..." if len(skipped) > 10 else ""),
            )
        if not self.sequences:
            raise DatasetError(
                f"no usable training sequence among {len(sequences)}: each needs at least "
                f"{settings.min_sequence_length} frames and more than "
                f"{2 * (settings.num_train_frames + settings.num_test_frames)} frames with a valid box"
            )

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose samples ``__getitem__`` returns (call before iterating)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.draw(index)[0]

    def choose_frames(
        self, index: int
    ) -> tuple[np.random.Generator, UsableSequence, tuple[list[int], list[int]]]:
        """The generator of sample ``index`` of the epoch, after it drew a sequence that can provide the frames,
        that sequence and its ``(train_ids, test_ids)`` (:meth:`sample_frame_ids`); the sample's remaining draws
        continue from the generator."""
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        while True:
            chosen = self.sequences[int(rng.integers(len(self.sequences)))]
            frame_ids = self.sample_frame_ids(chosen.visible, rng, test_candidates=chosen.has_box)
            if frame_ids is not None:
                return rng, chosen, frame_ids

    def draw(self, index: int) -> tuple[dict[str, torch.Tensor], DrawnFrames]:
        """Sample ``index`` of the epoch and the frames it was cut from (for other views of them)."""
        rng, (sequence, boxes, hidden), frame_ids = self.choose_frames(index)
        s = self.settings
        grayscale = rng.random() < s.grayscale_probability
        drawn = DrawnFrames(boxes=boxes, grayscale=grayscale)
        sample: dict[str, torch.Tensor] = {}
        for part, ids, centre_jitter, scale_jitter in (
            ("train", frame_ids[0], s.center_jitter_train, s.scale_jitter_train),
            ("test", frame_ids[1], s.center_jitter_test, s.scale_jitter_test),
        ):
            brightness = rng.uniform(max(0.0, 1 - s.brightness_jitter), 1 + s.brightness_jitter, size=2)
            pairs = [sequence[i] for i in ids]
            transforms = [
                search_area_transform(jitter_box(boxes[i], rng, centre_jitter, scale_jitter), s.search_area_factor,
                                      s.output_size)
                for i in ids
            ]
            drawn.frames[part] = PartFrames(ids, pairs, transforms, brightness)
            crops = [crop_pair(pair, transform, s.padding, grayscale, brightness)
                     for pair, transform in zip(pairs, transforms)]
            rgb, tir = zip(*crops)
            sample[f"{part}_rgb"] = torch.from_numpy(np.stack(rgb))
            sample[f"{part}_tir"] = torch.from_numpy(np.stack(tir))
            crop_boxes = np.stack([box_to_crop(boxes[i], transform) for i, transform in zip(ids, transforms)])
            sample[f"{part}_bb"] = torch.from_numpy(crop_boxes.astype(np.float32))
            label = gaussian_label(
                crop_boxes, s.output_sigma_factor / s.search_area_factor, s.filter_size, s.feature_size, s.output_size
            )
            label[hidden[ids]] = 0.0  # only test frames can be hidden: the target is not there to find
            sample[f"{part}_label"] = torch.from_numpy(label)
        proposals = [
            [perturb_box(box, rng, s.proposal_min_iou, s.proposal_sigma_factors) for _ in range(s.proposals_per_frame)]
            for box in sample["test_bb"].numpy().astype(np.float64)
        ]
        sample["test_proposals"] = torch.from_numpy(np.array([[p for p, _ in frame] for frame in proposals], np.float32))
        sample["proposal_iou"] = torch.from_numpy(np.array([[iou for _, iou in frame] for frame in proposals], np.float32))
        return sample, drawn

    def sample_frame_ids(
        self, visible: np.ndarray, rng: np.random.Generator, test_candidates: Optional[np.ndarray] = None
    ) -> Optional[tuple[list[int], list[int]]]:
        """DiMP's causal frame sampling: ``(train_ids, test_ids)`` (base frame first), or ``None`` if
        this sequence cannot provide the frames. Base and train frames come from the ``visible``
        mask, test frames from ``test_candidates`` (default: ``visible``)."""
        s = self.settings
        count = len(visible)
        test_candidates = visible if test_candidates is None else test_candidates

        def pick(num: int, low: int, high: int, mask: np.ndarray = visible) -> Optional[list[int]]:
            ids = np.flatnonzero(mask[max(low, 0) : min(high, count)]) + max(low, 0)
            return None if ids.size == 0 else [int(i) for i in rng.choice(ids, size=num)]

        base = pick(1, s.num_train_frames - 1, count - s.num_test_frames)
        if base is None:
            return None
        gap_increase = 0
        while gap_increase <= count:
            previous = [] if s.num_train_frames == 1 else pick(
                s.num_train_frames - 1, base[0] - s.max_gap - gap_increase, base[0]
            )
            test = pick(s.num_test_frames, base[0] + 1, base[0] + s.max_gap + gap_increase, test_candidates)
            if previous is not None and test is not None:
                return base + previous, test
            gap_increase += 5
        return None


def collate_samples(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack samples along dim 1: ``(frames, batch, ...)``, the layout of ``RGBTDiMPNet.forward``."""
    return {key: torch.stack([sample[key] for sample in samples], dim=1) for key in samples[0]}
