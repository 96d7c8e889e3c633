"""Parameters of the trackers, kept in YAML files apart from the code: DiMP's (:class:`DiMPParams`,
``params/dimp.yaml``) and the OSTrack-style tracker's (:class:`OSTrackParams`, ``params/ainet.yaml``).

The values in ``tracking/params/dimp.yaml`` are pytracking's ``parameter/dimp/dimp18.py`` (Bhat et
al., "Learning Discriminative Model Prediction for Tracking", ICCV 2019), which the CMD paper uses
unchanged for online tracking ("our method is similar to DiMP [1]"), except
``search_area_rescaling_at_occlusion``, which comes from pytracking's KeepTrack/ToMP. Added here
(ours): the thermal normalisation range, fp16 autocast, a random seed and ``size_update_rate``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.yaml_files import dataclass_from_mapping, read_named_yaml

#: Folder of the bundled parameter files (``<name>.yaml``).
PARAMS_DIR = Path(__file__).resolve().parent / "params"

#: Augmentation kinds understood by :mod:`rgbt_tracker_ros.tracking.augmentation`.
AUGMENTATION_KINDS = ("relativeshift", "fliplr", "blur", "rotate", "dropout")


def _default_augmentation() -> dict[str, Any]:
    return {
        "relativeshift": [[0.6, 0.6], [-0.6, 0.6], [0.6, -0.6], [-0.6, -0.6]],
        "fliplr": True,
        "blur": [[3.0, 1.0], [1.0, 3.0], [2.0, 2.0]],
        "rotate": [10.0, -10.0, 45.0, -45.0],
        "dropout": [2, 0.2],
    }


@dataclass
class DiMPParams:
    """DiMP tracking parameters (defaults: pytracking dimp18, plus search-area rescaling at occlusion).

    Search region:
        image_sample_size: side of the square search crop in pixels; ``None`` takes the model
            config's input size (288 for DiMP).
        search_area_scale: crop side = ``sqrt(w * h) * search_area_scale``.
        target_inside_ratio: the target centre is kept so that at least this fraction of the box
            stays inside the image.
    Thermal:
        thermal_range: ``"auto"`` (uint8 / 255; uint16 and float: 1st-99th percentile stretch) or
            ``[low, high]`` raw values mapped linearly to [0, 1] (see ``data.decode.normalize_thermal``).
    Memory and updates:
        sample_memory_size, learning_rate, init_samples_minimum_weight: the sample memory of DiMP
            (first-frame samples keep at least this total weight).
        train_skipping: run ``net_opt_update_iter`` optimizer iterations every this many frames.
        update_classifier: False freezes the first-frame filter.
        net_opt_iter / net_opt_update_iter / net_opt_hn_iter: steepest-descent iterations at
            initialisation / at a periodic update / after a hard negative.
    First-frame augmentation:
        augmentation: ``relativeshift`` (fractions of half the crop), ``fliplr``, ``blur``
            (sigma pairs), ``rotate`` (degrees), ``dropout`` ([count, probability]).
        augmentation_expansion_factor: augmented patches are cut from a crop this many times larger
            and cropped back, so shifts and rotations see real image content.
        random_shift_factor: random shift (fraction of the crop) for flip, blur and rotations.
    Localisation:
        target_not_found_threshold: below this peak score the target is "not found" (LOST).
        distractor_threshold, hard_negative_threshold, target_neighborhood_scale,
            displacement_scale: the second-peak rules of DiMP's advanced localisation.
        hard_negative_learning_rate: memory learning rate of a hard-negative frame.
        update_scale_when_uncertain: let IoU-Net change the scale in "uncertain" frames.
        window_output: multiply the score map by a Hann window centred on the previous position
            before localising (pytracking's ``window_output``, off in dimp18): a motion prior
            against distractors.
        search_area_rescaling_at_occlusion: while the target is not found, grow the search region
            back to the scales of the frames before it was lost (pytracking's KeepTrack/ToMP option,
            not in dimp18; ``DiMPTracker._rescale_search_area``).
    IoU-Net refinement:
        use_iou_net, num_init_random_boxes, box_jitter_pos, box_jitter_sz, maximal_aspect_ratio,
        box_refinement_iter, box_refinement_step_length, box_refinement_step_decay, iounet_k.
        size_update_rate: the target size moves this fraction of the way to IoU-Net's box each
            frame (1 = pytracking: take IoU-Net's size). Ours, not DiMP's: damping in the style of
            SiamFC's scale learning rate, for IoU-Nets trained on little data.
    Runtime:
        fp16: float16 autocast of feature extraction and classification on CUDA (ignored on CPU).
        seed: seeds the random IoU-Net proposals, augmentation shifts and feature dropout at every
            ``initialize`` so that runs are reproducible.
    """

    image_sample_size: Optional[int] = None
    search_area_scale: float = 5.0
    target_inside_ratio: float = 0.2

    thermal_range: Union[str, list[float]] = "auto"

    sample_memory_size: int = 50
    learning_rate: float = 0.01
    init_samples_minimum_weight: float = 0.25
    train_skipping: int = 20
    update_classifier: bool = True
    net_opt_iter: int = 10
    net_opt_update_iter: int = 2
    net_opt_hn_iter: int = 1

    augmentation: dict[str, Any] = field(default_factory=_default_augmentation)
    augmentation_expansion_factor: float = 2.0
    random_shift_factor: float = 1.0 / 3.0

    target_not_found_threshold: float = 0.25
    distractor_threshold: float = 0.8
    hard_negative_threshold: float = 0.5
    target_neighborhood_scale: float = 2.2
    displacement_scale: float = 0.8
    hard_negative_learning_rate: float = 0.02
    update_scale_when_uncertain: bool = True
    window_output: bool = False
    search_area_rescaling_at_occlusion: bool = True

    use_iou_net: bool = True
    num_init_random_boxes: int = 9
    box_jitter_pos: float = 0.1
    box_jitter_sz: float = 0.5
    maximal_aspect_ratio: float = 6.0
    box_refinement_iter: int = 5
    box_refinement_step_length: float = 1.0
    box_refinement_step_decay: float = 1.0
    iounet_k: int = 3
    size_update_rate: float = 1.0

    fp16: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    @property
    def thermal_mode(self) -> tuple[str, Optional[float], Optional[float]]:
        """``(mode, low, high)`` arguments of ``normalize_thermal``."""
        if isinstance(self.thermal_range, str):
            return self.thermal_range, None, None
        low, high = self.thermal_range
        return "fixed", float(low), float(high)

    @property
    def num_init_samples(self) -> int:
        """Number of first-frame training samples the augmentation produces (15 with the defaults)."""
        aug = self.augmentation
        return (
            1
            + len(aug.get("relativeshift", []))
            + int(bool(aug.get("fliplr", False)))
            + len(aug.get("blur", []))
            + len(aug.get("rotate", []))
            + (int(aug["dropout"][0]) if aug.get("dropout") else 0)
        )

    def validate(self) -> None:
        """Raise :class:`InputError` naming the first parameter with an impossible value."""
        positive = (
            "search_area_scale",
            "sample_memory_size",
            "train_skipping",
            "augmentation_expansion_factor",
            "target_neighborhood_scale",
            "maximal_aspect_ratio",
            "iounet_k",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise InputError(f"tracker parameter {name} must be > 0, got {getattr(self, name)!r}")
        if self.image_sample_size is not None and not int(self.image_sample_size) >= 16:
            raise InputError(f"tracker parameter image_sample_size must be >= 16 or null, got {self.image_sample_size}")
        for name in ("learning_rate", "hard_negative_learning_rate"):
            if not 0 < getattr(self, name) < 1:
                raise InputError(f"tracker parameter {name} must be in (0, 1), got {getattr(self, name)!r}")
        if not 0 < self.size_update_rate <= 1:
            raise InputError(f"tracker parameter size_update_rate must be in (0, 1], got {self.size_update_rate!r}")
        if not 0 <= self.target_inside_ratio <= 0.5:
            raise InputError(f"tracker parameter target_inside_ratio must be in [0, 0.5], got {self.target_inside_ratio}")
        for name in ("net_opt_iter", "net_opt_update_iter", "net_opt_hn_iter", "num_init_random_boxes",
                     "box_refinement_iter"):
            if int(getattr(self, name)) < 0:
                raise InputError(f"tracker parameter {name} must be >= 0, got {getattr(self, name)}")
        self._validate_thermal_range()
        self._validate_augmentation()
        if self.num_init_samples >= self.sample_memory_size:
            raise InputError(
                f"sample_memory_size ({self.sample_memory_size}) must exceed the {self.num_init_samples} "
                "first-frame samples"
            )

    def _validate_thermal_range(self) -> None:
        value = self.thermal_range
        if isinstance(value, str):
            if value != "auto":
                raise InputError(f"thermal_range must be 'auto' or [low, high], got {value!r}")
            return
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 2
            or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value)
            or not value[1] > value[0]
        ):
            raise InputError(f"thermal_range must be 'auto' or [low, high] with low < high, got {value!r}")

    def _validate_augmentation(self) -> None:
        aug = self.augmentation
        if not isinstance(aug, dict):
            raise InputError(f"augmentation must be a mapping, got {type(aug).__name__}")
        unknown = sorted(set(aug) - set(AUGMENTATION_KINDS))
        if unknown:
            raise InputError(f"unknown augmentation kind(s) {unknown}; known: {list(AUGMENTATION_KINDS)}")
        for shift in aug.get("relativeshift", []):
            if len(shift) != 2:
                raise InputError(f"augmentation relativeshift entries are [dx, dy] pairs, got {shift!r}")
        for sigma in aug.get("blur", []):
            sigmas = sigma if isinstance(sigma, (list, tuple)) else [sigma, sigma]
            if len(sigmas) != 2 or not all(s > 0 for s in sigmas):
                raise InputError(f"augmentation blur entries are positive [sigma_y, sigma_x], got {sigma!r}")
        dropout = aug.get("dropout")
        if dropout:
            if len(dropout) != 2 or int(dropout[0]) < 0 or not 0 <= float(dropout[1]) < 1:
                raise InputError(f"augmentation dropout is [count, probability in [0, 1)], got {dropout!r}")


def load_params(name_or_path: Union[str, Path, None] = None) -> DiMPParams:
    """Load tracker parameters: a bundled name (``"dimp"``, from :data:`PARAMS_DIR`) or a YAML path.

    ``None`` loads ``"dimp"``. Keys missing from the file keep the dataclass defaults; unknown keys,
    an unreadable file or an impossible value raise :class:`InputError` naming the file.
    """
    content, source = read_named_yaml("dimp" if name_or_path is None else name_or_path, PARAMS_DIR, "tracker parameters")
    return params_from_dict(content, source=str(source))


def params_from_dict(values: dict[str, Any], source: str = "parameters") -> DiMPParams:
    """Build :class:`DiMPParams` from a mapping; unknown keys or bad values raise :class:`InputError`."""
    return dataclass_from_mapping(DiMPParams, values, source, "tracker parameter")


@dataclass
class OSTrackParams:
    """Parameters of the OSTrack-style tracker (:class:`~rgbt_tracker_ros.tracking.ostrack.OSTrackTracker`).

    OSTrack's (``lib/test/parameter/ostrack.py`` and the ViT-B 256 experiment file): the template is cut once,
    from the first frame, ``template_factor`` (2) times the target's geometric-mean size; the search region
    ``search_factor`` (4) times it, around the last box; the score map is multiplied by a Hanning window
    (``window``) and the box is read at its peak. Crop sizes come from the model config.

    Ours (OSTrack has no confidence states; its box always follows the peak):
        target_not_found_threshold: below this peak score (of the un-windowed map) the target is LOST: the
            box stays where it was and the search continues around it.
        uncertain_threshold: below this peak score the state is UNCERTAIN (the box still follows the peak).
        thermal_range: as :class:`DiMPParams` (``auto`` or ``[low, high]``).
        fp16: float16 autocast of the network on CUDA (ignored on the CPU).
        scan_backend: the Mamba selective-scan backend (``auto``, ``mambapy``, ``mamba_ssm``).
        min_size: the box keeps at least this side length in pixels (OSTrack clips boxes to the image with a
            10 px margin; we keep the box's centre inside the image and its size at least this).
    """

    template_factor: float = 2.0
    search_factor: float = 4.0
    window: bool = True
    target_not_found_threshold: float = 0.1
    uncertain_threshold: float = 0.3
    thermal_range: Union[str, list[float]] = "auto"
    fp16: bool = False
    scan_backend: str = "auto"
    min_size: float = 4.0

    def __post_init__(self) -> None:
        from rgbt_tracker_ros.networks.config import SCAN_BACKENDS

        for name in ("template_factor", "search_factor", "min_size"):
            if not getattr(self, name) > 0:
                raise InputError(f"tracker parameter {name} must be > 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.target_not_found_threshold <= self.uncertain_threshold <= 1.0:
            raise InputError("tracker parameters must satisfy 0 <= target_not_found_threshold <= "
                             f"uncertain_threshold <= 1, got {self.target_not_found_threshold} and "
                             f"{self.uncertain_threshold}")
        if self.scan_backend not in SCAN_BACKENDS:
            raise InputError(f"tracker parameter scan_backend must be one of {SCAN_BACKENDS}, got {self.scan_backend!r}")
        DiMPParams(thermal_range=self.thermal_range)  # the same thermal_range check

    @property
    def thermal_mode(self) -> tuple[str, Optional[float], Optional[float]]:
        """``(mode, low, high)`` arguments of ``normalize_thermal``."""
        return DiMPParams(thermal_range=self.thermal_range).thermal_mode


def load_ostrack_params(name_or_path: Union[str, Path, None] = None) -> OSTrackParams:
    """OSTrack-style tracker parameters: a bundled name (default ``"ainet"``) or a YAML path; unknown keys, an
    unreadable file or an impossible value raise :class:`InputError` naming the file."""
    content, source = read_named_yaml("ainet" if name_or_path is None else name_or_path, PARAMS_DIR,
                                      "tracker parameters")
    return dataclass_from_mapping(OSTrackParams, content, str(source), "tracker parameter")
