"""DiMP online tracking with an RGB-T network (CMD student or teacher).

The procedure is DiMP's (Bhat et al., "Learning Discriminative Model Prediction for Tracking",
ICCV 2019; pytracking ``tracker/dimp/dimp.py``), which the CMD paper keeps for online tracking
(Sec. 4.1, "Online Tracking"); only the input changes: each frame is an RGB + thermal pair, both
cropped with one transform and fused by the network (``extract_features`` -> ``fused`` levels).

First frame (:meth:`DiMPTracker.initialize`):
    1. Search region: a square of side ``sqrt(w*h) * search_area_scale`` around the box, resampled
       to ``image_sample_size`` pixels (288; the region is cut ``augmentation_expansion_factor``
       times larger for the augmentation), borders replicated.
    2. 15 training samples: identity, 4 shifts, flip, 3 blurs, 4 rotations
       (:mod:`~rgbt_tracker_ros.tracking.augmentation`) + 2 dropout copies of the identity features.
    3. Target filter: the model predictor's initializer followed by ``net_opt_iter`` (10)
       steepest-descent iterations (DiMP Eq. 5-6); the samples seed the sample memory.
    4. IoU-Net modulation vector from the identity sample (ATOM's target-conditional branch).

Each following frame (:meth:`DiMPTracker.track`):
    1. Crop the search region around the previous position at the current scale; extract and fuse
       features; classification scores = filter * features.
    2. Localise (:func:`~rgbt_tracker_ros.tracking.localization.localize`): ``not_found``,
       ``uncertain``, ``hard_negative`` or ``normal``.
    3. Unless not found: move to the peak, then refine the box with IoU-Net (current box + 9
       jittered boxes, 5 gradient-ascent steps, mean of the top 3), which also sets the scale.
    4. Unless not found or uncertain: store the sample (learning rate 0.01, 0.02 for a hard
       negative) and run 2 optimizer iterations every 20 frames, 1 after a hard negative.

Reported state: LOST for ``not_found`` (the box stays, the search continues around it, with
``search_area_rescaling_at_occlusion`` at the recent larger scales, and recovers as soon as the peak
exceeds the threshold again), UNCERTAIN for ``uncertain`` and
``hard_negative``, TRACKING otherwise. The score is the peak of the score map clipped to [0, 1].

Our choices where pytracking has none or where we deviate (documented in ``docs/tracking.md``):
    - Crops are exact sub-pixel warps (``data.crops``), shared with training, so no rounding of the
      crop centre; boxes use continuous coordinates (a box spans ``[x, x + w)``).
    - After IoU-Net refinement the scale is clamped to the bounds pytracking applies only on its
      classifier-only path (target at least 10 px, at most the image), so an untrained or confused
      IoU-Net cannot shrink or blow up the search region without limit; non-finite refinements are
      discarded.
    - Options outside dimp18's defaults: ``window_output`` (pytracking's Hann window on the scores,
      a motion prior; off), ``size_update_rate`` (ours: damps IoU-Net's size changes, for IoU-Nets
      trained on little data; 1 = off) and ``search_area_rescaling_at_occlusion`` (pytracking's
      KeepTrack/ToMP option: while lost, search at the recent larger scales; see ``params/dimp.yaml``).
    - Randomness (augmentation shifts, feature dropout, IoU-Net proposals) comes from a generator
      seeded with ``params.seed`` at every ``initialize``: runs are reproducible.
    - Inference runs under ``torch.no_grad``; IoU-Net refinement alone enables autograd and takes
      gradients with respect to the boxes only (``torch.autograd.grad``), so the model's parameters
      are never touched. ``inference_mode`` is not used because IoU-Net must back-propagate through
      features computed earlier in the frame.
    - fp16 (``params.fp16`` on CUDA) or another precision of the backend: feature extraction, fusion and
      classification features run under autocast; the filter optimizer, the correlation, the sample memory
      and IoU-Net refinement stay float32.
    - The per-frame networks run in an inference backend (:mod:`~rgbt_tracker_ros.tracking.backends`:
      ``torch``, ``onnxruntime``, ``tensorrt``); the online parts (filter initialisation and
      optimisation, correlation, IoU-Net modulation) always run in PyTorch.
"""
from __future__ import annotations

import dataclasses
import math
from collections import deque
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch

from rgbt_tracker_ros.data.crops import CropTransform, box_to_crop, box_from_crop, crop_transform, warp_crop
from rgbt_tracker_ros.data.frames import FramePair, validate_box
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.tracking.augmentation import augment_patch, build_augmentations, feature_dropout
from rgbt_tracker_ros.tracking.backends import create_backend
from rgbt_tracker_ros.tracking.backends.base import InferenceBackend
from rgbt_tracker_ros.tracking.base import StageClock, Tracker, TrackResult, TrackState, network_input
from rgbt_tracker_ros.tracking.device import resolve_device
from rgbt_tracker_ros.tracking.localization import Localization, hann2d, localize, state_for_flag
from rgbt_tracker_ros.tracking.memory import SampleMemory
from rgbt_tracker_ros.tracking.params import DiMPParams, load_params

#: Fused feature levels IoU-Net reads.
IOU_LEVELS = ("layer2", "layer3")


class DiMPTracker(Tracker):
    """DiMP tracker for an RGB-T network with the ``RGBTDiMPNet`` API (student or teacher).

    Args:
        model: network with ``config.input_size``, ``extract_features``, ``classifier`` and
            ``bb_regressor`` (put in eval mode and moved to ``device``; its parameters are not
            modified).
        params: tracker parameters, a bundled name or a YAML path (default ``"dimp"``).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a ``torch.device``.
        name: name used for result folders (``Tracker.name``).
        backend: ``torch`` (default), ``onnxruntime``, ``tensorrt`` or an :class:`InferenceBackend`.
        precision: the backend's precision (default on CUDA for torch and tensorrt: fp16 when
            ``params.fp16``, else fp32; otherwise the backend's default; ``backends.BACKEND_PRECISIONS``).
        export_dir: ONNX export folder for the exported backends (default: exported on first use
            into a cache folder).

    Attributes set by every :meth:`initialize` / :meth:`track` (for teacher labelling and debugging):
        last_response: the score map as ``(h, w)`` float32 numpy array (on ``initialize``: the new
            filter applied to the first-frame search region).
        last_search_box: the search region ``[x, y, w, h]`` in image coordinates.
        last_features: the ``FusionFeatures`` of the search crop (torch, detached, on ``device``).
        last_flag: DiMP's localisation flag (``normal``, ``hard_negative``, ``uncertain``,
            ``not_found``; ``"init"`` after ``initialize``).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        params: Union[DiMPParams, str, None] = None,
        device: Union[str, torch.device] = "auto",
        name: str = "dimp",
        backend: Union[str, InferenceBackend] = "torch",
        precision: Optional[str] = None,
        export_dir: Union[str, Path, None] = None,
    ) -> None:
        self.params = params if isinstance(params, DiMPParams) else load_params(params)
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.name = name
        self.sample_size = int(self.params.image_sample_size or model.config.input_size)
        self.filter_size = int(model.classifier.filter_size)
        if isinstance(backend, InferenceBackend):
            self.backend = backend
        else:
            if precision is None and backend in ("torch", "tensorrt") and self.device.type == "cuda":
                precision = "fp16" if self.params.fp16 else "fp32"
            self.backend = create_backend(backend, self.model, self.device, self.sample_size, precision, export_dir)
        self.last_response: Optional[np.ndarray] = None
        self.last_search_box: Optional[np.ndarray] = None
        self.last_features: Any = None
        self.last_flag: Optional[str] = None
        self._initialized = False

    # ------------------------------------------------------------------ inputs and features

    def _crop(self, rgb: np.ndarray, thermal: np.ndarray, transform: CropTransform) -> np.ndarray:
        """Both modalities warped with the same transform: ``SxSx4`` float32 (RGB, thermal) in [0, 1]."""
        rgb_crop = warp_crop(rgb, transform).astype(np.float32) / np.float32(255.0)
        thermal_crop = warp_crop(thermal, transform)
        return np.concatenate([rgb_crop, thermal_crop.reshape(thermal_crop.shape[:2] + (1,))], axis=2)

    def _to_tensors(self, patches: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, S, S, 4)`` patches -> RGB ``(N, 3, S, S)`` and thermal ``(N, 1, S, S)`` on the device."""
        tensor = torch.from_numpy(np.ascontiguousarray(patches)).permute(0, 3, 1, 2).to(self.device)
        return tensor[:, :3].contiguous(), tensor[:, 3:].contiguous()

    def _iou_inputs(self, features: Any) -> list[torch.Tensor]:
        return [features.fused[level].float() for level in IOU_LEVELS]

    # ------------------------------------------------------------------ geometry

    def _search_transform(self, centre: np.ndarray, size: Optional[int] = None) -> CropTransform:
        return crop_transform((centre[0], centre[1]), 1.0 / self._scale, size or self.sample_size)

    def _current_box(self) -> np.ndarray:
        return np.concatenate([self._pos - self._target_sz / 2.0, self._target_sz])

    def _search_box(self, transform: CropTransform) -> np.ndarray:
        width, height = transform.output_size
        return np.array([transform.origin_x, transform.origin_y, width / transform.scale, height / transform.scale])

    def _cell_size(self) -> float:
        """Image pixels per score-map cell: the feature stride in the crop (288 / 18 = 16) times the scale."""
        return self.sample_size / self._feature_size * self._scale

    def _centred_sample_pos(self) -> np.ndarray:
        """pytracking ``get_centered_sample_pos``: shift by half a cell when feature + filter size is odd."""
        if (self._feature_size + self.filter_size) % 2 == 0:
            return self._pos.copy()
        return self._pos + self._cell_size() / 2.0

    def _update_position(self, new_pos: np.ndarray) -> None:
        """Move to ``new_pos`` keeping ``target_inside_ratio`` of the box inside the image (DiMP ``update_state``)."""
        inside_offset = (self.params.target_inside_ratio - 0.5) * self._target_sz
        self._pos = np.minimum(np.maximum(new_pos, inside_offset), self._image_size - inside_offset)

    # ------------------------------------------------------------------ initialize

    def initialize(self, pair: FramePair, box: np.ndarray) -> TrackResult:
        """Start tracking ``box`` (``[x, y, w, h]``) in ``pair``; raises :class:`InputError` on bad input."""
        clock = StageClock(self.device)
        rgb, thermal = network_input(pair, self.params.thermal_mode)
        box = validate_box(box, pair.size)
        p = self.params
        self._generator = torch.Generator().manual_seed(int(p.seed))
        self._frame_num = 1
        self._image_size = np.array([pair.size[1], pair.size[0]], dtype=np.float64)
        self._pos = box[:2] + box[2:] / 2.0
        self._target_sz = box[2:].copy()
        self._scale = math.sqrt(float(np.prod(self._target_sz))) * p.search_area_scale / self.sample_size
        self._base_target_sz = self._target_sz / self._scale
        self._min_scale = float(np.max(10.0 / self._base_target_sz))
        self._max_scale = max(float(np.min(self._image_size / self._base_target_sz)), self._min_scale)
        self._scale_history: deque[float] = deque(maxlen=60)  # the scales search-area rescaling looks at
        self._lost_frames = 0

        # Augmented first-frame samples from an expanded crop (pytracking generate_init_samples).
        expanded = int(self.sample_size * p.augmentation_expansion_factor)
        expanded += (expanded - self.sample_size) % 2
        expanded_transform = self._search_transform(self._pos, expanded)
        patch = self._crop(rgb, thermal, expanded_transform)
        clock.lap("preprocess")
        augs = build_augmentations(p.augmentation, self.sample_size, p.random_shift_factor, self._generator)
        patches, boxes = augment_patch(patch, box_to_crop(box, expanded_transform), augs, self.sample_size)
        rgb_t, thermal_t = self._to_tensors(patches)
        clock.lap("augment")

        with torch.no_grad():
            features, clf_feat = self.backend.features(rgb_t, thermal_t)
            clock.lap("backbone")
            boxes_t = torch.as_tensor(boxes, dtype=torch.float32, device=self.device)
            dropout = p.augmentation.get("dropout")
            if dropout and int(dropout[0]) > 0:
                count, probability = int(dropout[0]), float(dropout[1])
                clf_feat = torch.cat([clf_feat, feature_dropout(clf_feat[:1], count, probability, self._generator)])
                boxes_t = torch.cat([boxes_t, boxes_t[:1].expand(count, 4)])
            self._feature_size = int(clf_feat.shape[-1])
            self._filter = self.model.classifier.get_filter(clf_feat, boxes_t, num_iter=p.net_opt_iter,
                                                             compute_losses=False)[0]
            self._memory = SampleMemory(clf_feat, boxes_t, p.sample_memory_size, p.init_samples_minimum_weight)
            scores = self.model.classifier.classify(self._filter, clf_feat[:1])
            clock.lap("classifier")
            if p.use_iou_net:
                identity_feats = [f[:1] for f in self._iou_inputs(features)]
                self._iou_modulation = self.model.bb_regressor.get_modulation(identity_feats, boxes_t[:1])
            clock.lap("iou_init")

        search_transform = self._search_transform(self._pos)
        self._set_debug(scores, search_transform, _index_features(features, 0), "init")
        self._initialized = True
        return TrackResult(
            box=self._current_box(),
            score=1.0,
            state=TrackState.TRACKING,
            fusion_weights=features.path_weights_list(0),
            timings=clock.total(),
        )

    # ------------------------------------------------------------------ track

    def track(self, pair: FramePair) -> TrackResult:
        """Locate the target in ``pair`` (see the module docstring for the procedure)."""
        if not self._initialized:
            raise InputError("track() called before initialize(); give the tracker a first box")
        clock = StageClock(self.device)
        rgb, thermal = network_input(pair, self.params.thermal_mode)
        p = self.params
        self._frame_num += 1
        self._image_size = np.array([pair.size[1], pair.size[0]], dtype=np.float64)
        sample_pos = self._centred_sample_pos()
        transform = self._search_transform(sample_pos)
        rgb_t, thermal_t = self._to_tensors(self._crop(rgb, thermal, transform)[None])
        clock.lap("preprocess")

        with torch.no_grad():
            features, test_x = self.backend.features(rgb_t, thermal_t)
            clock.lap("backbone")
            scores = self.model.classifier.classify(self._filter, test_x)
            clock.lap("classify")

            score_map = scores.reshape(scores.shape[-2:]).cpu().numpy().astype(np.float64)
            if p.window_output:
                score_map = score_map * hann2d(score_map.shape)
            cell = self._cell_size()
            loc = localize(score_map, tuple(self._target_sz / cell), tuple((self._pos - sample_pos) / cell), p)
            clock.lap("localize")

            if loc.flag != "not_found":
                self._lost_frames = 0
                self._scale_history.append(self._scale)
                self._update_position(sample_pos + np.asarray(loc.offset) * cell)
                if p.use_iou_net:
                    update_scale = p.update_scale_when_uncertain or loc.flag != "uncertain"
                    self._refine_box(features, transform, update_scale)
            elif p.search_area_rescaling_at_occlusion:
                self._rescale_search_area()
            clock.lap("refine")

            if p.update_classifier and loc.flag not in ("not_found", "uncertain"):
                self._update_classifier(test_x, transform, loc)
            clock.lap("update")

        self._set_debug(scores, transform, features, loc.flag)
        return TrackResult(
            box=self._current_box(),
            score=float(np.clip(loc.max_score, 0.0, 1.0)) if math.isfinite(loc.max_score) else 0.0,
            state=state_for_flag(loc.flag),
            fusion_weights=features.path_weights_list(0),
            timings=clock.total(),
        )

    def _set_debug(self, scores: torch.Tensor, transform: CropTransform, features: Any, flag: str) -> None:
        self.last_response = scores.reshape(scores.shape[-2:]).float().cpu().numpy().astype(np.float32)
        self.last_search_box = self._search_box(transform)
        self.last_features = _detach_features(features)
        self.last_flag = flag

    def _rescale_search_area(self) -> None:
        """pytracking's ``search_area_rescaling_at_occlusion`` (KeepTrack/ToMP): while the target is
        not found, search at the mean of the last ``n`` scales (``n`` = frames lost, 2 to 30) among
        the last 60 that are not smaller than the latest one, so a box that shrank while the target
        disappeared does not leave a search region too small to find it again."""
        if not self._scale_history:
            return
        self._lost_frames += 1
        recent = np.asarray(self._scale_history)
        recent = recent[recent >= recent[-1]][-max(2, min(30, self._lost_frames)):]
        self._scale = float(recent.mean())

    # ------------------------------------------------------------------ classifier update

    def _update_classifier(self, test_x: torch.Tensor, transform: CropTransform, loc: Localization) -> None:
        """DiMP ``update_classifier``: store the sample; optimise on hard negatives and every N frames."""
        p = self.params
        hard_negative = loc.flag == "hard_negative"
        learning_rate = p.hard_negative_learning_rate if hard_negative else p.learning_rate
        target_box = torch.as_tensor(box_to_crop(self._current_box(), transform), dtype=torch.float32,
                                     device=self.device)
        self._memory.update(test_x[:1], target_box, learning_rate)
        if hard_negative:
            num_iter = p.net_opt_hn_iter
        elif (self._frame_num - 1) % p.train_skipping == 0:
            num_iter = p.net_opt_update_iter
        else:
            num_iter = 0
        if num_iter > 0:
            self._filter = self.model.classifier.filter_optimizer(
                self._filter,
                feat=self._memory.samples,
                bb=self._memory.boxes,
                sample_weight=self._memory.weights,
                num_iter=num_iter,
                compute_losses=False,
            )[0]

    # ------------------------------------------------------------------ IoU-Net refinement

    def _refine_box(self, features: Any, transform: CropTransform, update_scale: bool) -> None:
        """ATOM/DiMP ``refine_target_box``: gradient ascent on IoU-Net's predicted IoU of 10 boxes."""
        p = self.params
        init_box = torch.as_tensor(box_to_crop(self._current_box(), transform), dtype=torch.float32)
        boxes = init_box.view(1, 4)
        if p.num_init_random_boxes > 0:
            square = float(init_box[2:].prod().sqrt())
            jitter = square * torch.tensor([p.box_jitter_pos] * 2 + [p.box_jitter_sz] * 2)
            random = (torch.rand(p.num_init_random_boxes, 4, generator=self._generator) - 0.5) * jitter
            sizes = (init_box[2:] + random[:, 2:]).clamp(min=float(init_box[2:].min()) / 3.0)
            centres = init_box[:2] + init_box[2:] / 2.0 + random[:, :2]
            boxes = torch.cat([boxes, torch.cat([centres - sizes / 2.0, sizes], dim=1)])

        iou_feat = self.backend.iou_features(self._iou_inputs(features))
        boxes, ious = self._optimize_boxes(iou_feat, boxes.to(self.device))

        boxes[:, 2:].clamp_(min=1.0)
        aspect = boxes[:, 2] / boxes[:, 3]
        keep = (aspect < p.maximal_aspect_ratio) & (aspect > 1.0 / p.maximal_aspect_ratio)
        keep &= torch.isfinite(boxes).all(dim=1) & torch.isfinite(ious)
        if not bool(keep.any()):
            return
        boxes, ious = boxes[keep], ious[keep]
        top = torch.topk(ious, min(p.iounet_k, boxes.shape[0])).indices
        predicted = box_from_crop(boxes[top].mean(dim=0).numpy().astype(np.float64), transform)

        self._pos = predicted[:2] + predicted[2:] / 2.0
        self._target_sz = (1.0 - p.size_update_rate) * self._target_sz + p.size_update_rate * predicted[2:]
        if update_scale:
            new_scale = math.sqrt(float(np.prod(self._target_sz / self._base_target_sz)))
            self._scale = float(np.clip(new_scale, self._min_scale, self._max_scale))

    def _optimize_boxes(self, iou_feat: Any, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """pytracking ``optimize_boxes_default``: ``box += step * dIoU/dbox * [w, h, w, h]``.

        Returns the final boxes and the IoU predicted for the boxes of the last step (as pytracking).
        """
        p = self.params
        step = p.box_refinement_step_length
        boxes = boxes.view(1, -1, 4)
        if p.box_refinement_iter == 0:
            ious = self.backend.predict_iou(self._iou_modulation, iou_feat, boxes)
            return boxes.view(-1, 4).float().cpu(), ious.reshape(-1).float().cpu()
        for _ in range(p.box_refinement_iter):
            ious, grad = self.backend.iou_gradient(self._iou_modulation, iou_feat, boxes)
            boxes = (boxes + step * grad * boxes[:, :, 2:].repeat(1, 1, 2)).detach()
            step *= p.box_refinement_step_decay
        return boxes.view(-1, 4).float().cpu(), ious.detach().reshape(-1).float().cpu()


def _map_features(features: Any, fn) -> Any:
    """Apply ``fn`` to every tensor of a ``FusionFeatures`` (dataclass of dicts of tensors)."""

    def convert(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return fn(value)
        if isinstance(value, dict):
            return {key: convert(v) for key, v in value.items()}
        return value

    if dataclasses.is_dataclass(features):
        return dataclasses.replace(
            features, **{f.name: convert(getattr(features, f.name)) for f in dataclasses.fields(features)}
        )
    return convert(features)


def _detach_features(features: Any) -> Any:
    return _map_features(features, lambda t: t.detach())


def _index_features(features: Any, index: int) -> Any:
    """The ``FusionFeatures`` of sample ``index`` of a batch (batch axis kept)."""
    return _map_features(features, lambda t: t[index: index + 1])
