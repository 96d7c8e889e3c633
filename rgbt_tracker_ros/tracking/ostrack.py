"""OSTrack-style online tracking (Ye et al., ECCV 2022; ``lib/test/tracker/ostrack.py``) with an RGB-T network of
AINet's interface (seed 003 tracks as OSTrack does).

First frame (:meth:`OSTrackTracker.initialize`): the template, a square of ``template_factor`` (2) times the
box's geometric-mean size around it, resampled to the config's ``template_size`` (128 px), both modalities with
one transform. It is kept for the whole sequence (OSTrack never updates it).

Each following frame (:meth:`OSTrackTracker.track`): the search region, ``search_factor`` (4) times the last
box's size around its centre, resampled to ``search_size`` (256 px); one forward pass of template + search;
the score map multiplied by a Hanning window (a motion prior against distractors); the box read at the peak
of the windowed map (centre from the peak cell and its offset, size from the size map), mapped back to the
image.

Ours (OSTrack reports no confidence and always follows the peak): the peak of the un-windowed score map is
the reported score; below ``target_not_found_threshold`` the state is LOST and the box stays where it was
(the search goes on around it), below ``uncertain_threshold`` UNCERTAIN; the box keeps its centre inside the
image and at least ``min_size`` pixels per side (OSTrack clips it to the image). Crops are the exact
sub-pixel warps the training sampler uses (``data.crops``), so the box mapping is exact. On ``initialize`` the
network also runs once on the first search region, so that the diagnostics (fusion weights) and the teacher
outputs (``last_response`` ...) exist for the first frame as well.
"""
from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Any, Optional, Union

import numpy as np
import torch

from rgbt_tracker_ros.data.crops import CropTransform, box_from_crop, search_area_transform, warp_crop
from rgbt_tracker_ros.data.frames import FramePair, validate_box
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.networks.center_head import boxes_at
from rgbt_tracker_ros.tracking.base import StageClock, Tracker, TrackResult, TrackState, network_input
from rgbt_tracker_ros.tracking.device import resolve_device
from rgbt_tracker_ros.tracking.localization import hann2d, state_for_flag
from rgbt_tracker_ros.tracking.params import OSTrackParams, load_ostrack_params


class OSTrackTracker(Tracker):
    """OSTrack's tracking procedure for an RGB-T network with AINet's interface (see the module docstring).

    Args:
        model: a network with ``config.template_size`` / ``config.search_size`` and
            ``forward(template_rgb, template_tir, search_rgb, search_tir) -> AINetOutput`` (put in eval mode
            and moved to ``device``; never modified).
        params: tracker parameters, a bundled name or a YAML path (default ``"ainet"``).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a ``torch.device``.
        name: name used for result folders (``Tracker.name``).

    Attributes set by every :meth:`initialize` / :meth:`track` (teacher labelling, debugging): ``last_response``
    (the score map, ``(h, w)`` float32), ``last_search_box`` (the search region ``[x, y, w, h]`` in the image),
    ``last_features`` (:class:`~rgbt_tracker_ros.networks.ainet.AINetFeatures`, detached) and ``last_flag``
    (``init``, ``normal``, ``uncertain``, ``not_found``).
    """

    def __init__(self, model: torch.nn.Module, params: Union[OSTrackParams, str, None] = None,
                 device: Union[str, torch.device] = "auto", name: str = "ainet") -> None:
        self.params = params if isinstance(params, OSTrackParams) else load_ostrack_params(params)
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.model.set_scan_backend(self.params.scan_backend)
        self.name = name
        config = model.config
        self.template_size, self.search_size = int(config.template_size), int(config.search_size)
        grid = config.search_grid
        self._window = torch.from_numpy(hann2d((grid, grid))).float().to(self.device)
        self._fp16 = bool(self.params.fp16) and self.device.type == "cuda"
        self.last_response: Optional[np.ndarray] = None
        self.last_search_box: Optional[np.ndarray] = None
        self.last_features: Any = None
        self.last_flag: Optional[str] = None
        self._template: Optional[tuple[torch.Tensor, torch.Tensor]] = None

    def _crop(self, rgb: np.ndarray, thermal: np.ndarray, box: np.ndarray, factor: float,
              size: int) -> tuple[torch.Tensor, torch.Tensor, CropTransform]:
        """Both modalities cut around ``box`` with one transform: ``(rgb (1,3,S,S), thermal (1,1,S,S), transform)``."""
        transform = search_area_transform(box, factor, size)
        rgb_crop = warp_crop(rgb, transform).astype(np.float32) / np.float32(255.0)
        thermal_crop = warp_crop(thermal, transform).astype(np.float32)
        rgb_t = torch.from_numpy(np.ascontiguousarray(rgb_crop.transpose(2, 0, 1)))[None].to(self.device)
        thermal_t = torch.from_numpy(np.ascontiguousarray(thermal_crop.reshape(size, size)))[None, None].to(self.device)
        return rgb_t, thermal_t, transform

    def _run(self, rgb: np.ndarray, thermal: np.ndarray, clock: StageClock) -> tuple[Any, CropTransform]:
        """The network on the search region around the current box."""
        search_rgb, search_tir, transform = self._crop(rgb, thermal, self._box, self.params.search_factor,
                                                       self.search_size)
        clock.lap("preprocess")
        autocast = torch.autocast(device_type="cuda", dtype=torch.float16) if self._fp16 else nullcontext()
        with torch.no_grad(), autocast:
            output = self.model(*self._template, search_rgb, search_tir)
        clock.lap("network")
        return output, transform

    def initialize(self, pair: FramePair, box: np.ndarray) -> TrackResult:
        """Cut the template around ``box`` (``[x, y, w, h]``) of ``pair``; raises :class:`InputError` on bad input."""
        clock = StageClock(self.device)
        rgb, thermal = network_input(pair, self.params.thermal_mode)
        box = validate_box(box, pair.size)
        template_rgb, template_tir, _ = self._crop(rgb, thermal, box, self.params.template_factor, self.template_size)
        self._template = (template_rgb, template_tir)
        self._box = box.astype(np.float64)
        output, transform = self._run(rgb, thermal, clock)
        self._set_debug(output, transform, "init")
        clock.lap("localize")
        return TrackResult(box=self._box.copy(), score=1.0, state=TrackState.TRACKING,
                           fusion_weights=output.features.path_weights_list(0), timings=clock.total())

    def track(self, pair: FramePair) -> TrackResult:
        """Locate the target in ``pair`` (see the module docstring)."""
        if self._template is None:
            raise InputError("track() called before initialize(); give the tracker a first box")
        clock = StageClock(self.device)
        rgb, thermal = network_input(pair, self.params.thermal_mode)
        output, transform = self._run(rgb, thermal, clock)
        p = self.params
        score = output.head.score.float()
        windowed = score * self._window if p.window else score
        index = windowed.flatten(1).argmax(dim=1)
        peak = float(score.flatten()[index])
        flag = ("not_found" if not peak >= p.target_not_found_threshold
                else "uncertain" if peak < p.uncertain_threshold else "normal")
        if flag != "not_found":
            cx, cy, w, h = (boxes_at(output.head, index)[0].float() * self.search_size).tolist()
            self._box = self._clamp(box_from_crop(np.array([cx - w / 2, cy - h / 2, w, h]), transform), pair.size)
        self._set_debug(output, transform, flag)
        clock.lap("localize")
        return TrackResult(box=self._box.copy(), score=float(np.clip(peak, 0.0, 1.0)) if math.isfinite(peak) else 0.0,
                           state=state_for_flag(flag), fusion_weights=output.features.path_weights_list(0),
                           timings=clock.total())

    def _clamp(self, box: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """Centre inside the image, each side between ``min_size`` and the image's; a non-finite box keeps the last."""
        if not np.isfinite(box).all():
            return self._box
        height, width = image_size
        size = np.clip(box[2:], self.params.min_size, [max(width, self.params.min_size),
                                                        max(height, self.params.min_size)])
        centre = np.clip(box[:2] + box[2:] / 2.0, 0.0, [width, height])
        return np.concatenate([centre - size / 2.0, size])

    def _set_debug(self, output: Any, transform: CropTransform, flag: str) -> None:
        self.last_response = output.head.score[0, 0].detach().float().cpu().numpy()
        width, height = transform.output_size
        self.last_search_box = np.array([transform.origin_x, transform.origin_y, width / transform.scale,
                                         height / transform.scale])
        self.last_features = output.features
        self.last_flag = flag
