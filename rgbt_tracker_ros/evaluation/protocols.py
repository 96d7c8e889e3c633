"""The official RGB-T benchmark protocols as DATA, and the one implementation they all share.

Published RGB-T numbers come from a handful of toolkits that differ in small but score-changing ways.
Each :class:`Protocol` below records those differences as fields; :func:`frame_errors`,
:func:`sequence_score`, :func:`aggregate` and :func:`headline_scores` apply any of them. The rules were
read from the toolkits' own code (see ``docs`` of each entry in :data:`PROTOCOLS`):

- ``lasher``: LasHeR's MATLAB toolkit (LaSOT toolkit: ``calc_seq_err_robust.m``, ``eval_tracker.m``).
  From frame 2 on, a prediction holding NaN or with ``w <= 0`` or ``h <= 0`` (and non-NaN ground
  truth) becomes the previous frame's box; then the first prediction is replaced by the ground
  truth. Centres ``x + (w - 1) / 2``; normalised error divides both centres by the ground-truth
  ``w, h``. A frame whose ground truth has ANY value ``<= 0`` gets error -1 and overlap -1 (a hit for
  PR/NPR, a miss for SR). PR at 20 px, NPR at 0.20, SR = mean of the 21-point success curve; per
  sequence, then the mean over sequences.
- ``otb``: pytracking's analysis (``calc_seq_err_robust``, OTB/LaSOT style). Same thresholds, first
  frame and previous-box rules, but ground truth is invalid only for ``w <= 0`` or ``h <= 0``, and such
  frames get centre error +Inf (a MISS for PR) while normalised error and overlap are -1.
  pytracking itself raises on NaN or negative-size predictions; we apply the previous-box rule of
  OTB's ``calcSeqErrRobust.m`` instead so that one bad frame does not stop an evaluation.
- ``rgbt234`` / ``rgbt210``: Li et al.'s MPR/MSR toolkit (``calcPlotErr_TPR.m``,
  ``main_attrDrawCurve_RGBT234.m``). No first-frame replacement and no repair of any kind; per frame
  the smaller centre error and the larger overlap against the visible and the infrared ground truth
  (MATLAB ``min``/``max`` skip NaN); MPR at 20 px (``<=``), MSR = mean of the 21-point success curve;
  mean over sequences. Centres use ``x + w / 2`` (identical distances to ``(w - 1) / 2``: the shift
  cancels).
- ``gtot``: GTOT's toolkit (``calcPlotErr.m``, ``main_drawResult.m``, ``auc.m``). Ground truth
  ``x1 y1 x2 y2`` with ``w = x2 - x1``; dual ground truth as above; frame counts POOLED over all
  sequences; MPR counts ``error < 5`` px (strict) on ``0:0.5:25``; MSR is the trapezoidal area under
  the success curve on ``0:0.02:1``.

Result rows are paired with ground-truth rows by frame index from the first row (:func:`pair_rows`).
A result file with MORE rows than the ground truth is cut to the ground-truth length by every
toolkit (LasHeR: ``results(1:size(rect_anno,1),:)``; the RGBT and GTOT toolkits read rows
``1:seq_length``; pytracking: ``pred_bb[:anno_bb.shape[0]]``). For FEWER rows they differ
(``Protocol.short_results``): pytracking appends zero boxes (``otb``); the MATLAB toolkits stop with an
index error. For ``rgbt234``/``rgbt210``/``gtot`` we score the frames that have a result, as the
``rgbt`` package does (its ``map`` over result and ground truth stops at the shorter; its authors
calibrated it on published results, JMMAC's RGBT234 files among them); for ``lasher`` the ``rgbt``
package fails too (its repair loop indexes past the last row), so the file is refused. Every
adjustment is reported per sequence (``SequenceScore.adjustment``).

Every protocol computes overlap with inclusive pixel counts (OTB's ``calcRectInt``: ``+1`` on the
intersection sides, ``w * h`` areas). Thresholds are built like MATLAB's colon operator
(:func:`matlab_colon`), so a tie between an overlap and a threshold falls on the same side as in
the toolkits. LasHeR divides hit counts by ``frames + eps``; the ``eps`` (2.2e-16) is left out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from rgbt_tracker_ros.errors import InputError


def matlab_colon(start: float, step: float, stop: float) -> np.ndarray:
    """``start:step:stop`` computed as MATLAB does (from both ends towards the middle).

    MATLAB builds the first half of ``n`` intervals as ``start + k*step``, the second half as
    ``end - k*step`` (``end`` snapped to ``stop`` within rounding) and an even grid's middle as
    ``(start + end) / 2``. That differs from ``numpy.arange`` in the last bit for some elements, and
    thresholds compared with ``>`` need the toolkit's exact values.
    """
    tol = 2.0 * np.finfo(np.float64).eps * max(abs(start), abs(stop))
    intervals = int(np.floor((stop - start) / step + tol))
    end = start + intervals * step
    if abs(end - stop) < tol + np.finfo(np.float64).eps * abs(stop):
        end = stop
    values = np.empty(intervals + 1, dtype=np.float64)
    k = np.arange(intervals // 2 + 1, dtype=np.float64)
    values[: intervals // 2 + 1] = start + k * step
    values[intervals - np.arange(intervals // 2 + 1)] = end - k * step
    if intervals % 2 == 0:
        values[intervals // 2] = (start + end) / 2.0
    return values


@dataclass(frozen=True)
class Protocol:
    """One benchmark protocol: every rule that changes a score, as data.

    Attributes:
        name: key used on the command line (``lasher``, ``otb``, ``rgbt234``, ``rgbt210``, ``gtot``).
        title: the protocol as it is named in every report.
        precision_name / normalized_name / success_name: headline score names (``PR``/``MPR``,
            ``NPR`` or ``None``, ``SR``/``MSR``).
        ground_truth: candidate ground-truth layouts under the annotation root, in order of
            preference; ``{seq}`` is the sequence name. A one-file layout is a single ground truth,
            a two-file layout is (visible, infrared).
        gt_corners: ground-truth files hold ``x1 y1 x2 y2`` (GTOT), converted with ``w = x2 - x1``.
        official_list: file in ``evaluation/lists`` holding the official test sequences.
        dual_ground_truth: best of visible/infrared per frame (min centre error, max overlap).
        short_results: what a result file with fewer rows than the ground truth gets (longer
            ones are cut to the ground-truth length under every protocol): ``"refuse"`` (an
            :class:`InputError`), ``"pad_zero"`` (zero boxes appended, as pytracking does) or
            ``"common_frames"`` (only the frames that have a result are scored).
        repair_predictions: from the second frame on, a prediction with NaN, ``w <= 0`` or ``h <= 0``
            becomes the previous (already repaired) box, unless that frame's ground truth has NaN.
        first_frame_from_gt: the first prediction is replaced by the ground truth.
        invalid_gt: ``"none"``, ``"any_nonpositive"`` (any of x, y, w, h ``<= 0`` or NaN: LasHeR) or
            ``"nonpositive_size"`` (``w <= 0`` or ``h <= 0``: pytracking).
        invalid_center_error: centre error given to invalid frames (-1: hit; +Inf: miss). Normalised
            error and overlap of invalid frames are always -1.
        centre_size_offset: centre is ``x + (w + offset) / 2`` (-1 for LasHeR/OTB, 0 for the RGBT
            toolkits); distances do not depend on it, it is kept to state each toolkit faithfully.
        error_thresholds / precision_threshold / error_strict: centre-error grid (px), the headline
            threshold, and whether a hit is ``error < t`` (GTOT) instead of ``error <= t``.
        norm_thresholds / norm_precision_threshold: normalised-error grid and headline threshold.
        overlap_thresholds: success grid; a hit is ``overlap > t``.
        success_area: ``"mean"`` of the curve (LasHeR/OTB/RGBT234) or ``"trapezoid"`` (GTOT).
        pooled: curves from counts pooled over all frames (GTOT) instead of a mean of per-sequence
            rates.
    """

    name: str
    title: str
    precision_name: str
    normalized_name: Optional[str]
    success_name: str
    ground_truth: tuple[tuple[str, ...], ...]
    gt_corners: bool
    official_list: str
    dual_ground_truth: bool
    short_results: str
    repair_predictions: bool
    first_frame_from_gt: bool
    invalid_gt: str
    invalid_center_error: float
    centre_size_offset: float
    error_thresholds: tuple[float, ...]
    precision_threshold: float
    error_strict: bool
    norm_thresholds: Optional[tuple[float, ...]]
    norm_precision_threshold: Optional[float]
    overlap_thresholds: tuple[float, ...]
    success_area: str
    pooled: bool

    @property
    def score_names(self) -> tuple[str, ...]:
        """Headline score names in report order, e.g. ``("PR", "NPR", "SR")``."""
        names = (self.precision_name, self.normalized_name, self.success_name)
        return tuple(name for name in names if name)

    def threshold_index(self, thresholds: Sequence[float], value: float) -> int:
        """Index of ``value`` in a threshold grid of this protocol."""
        index = int(np.argmin(np.abs(np.asarray(thresholds) - value)))
        if not np.isclose(thresholds[index], value):
            raise ValueError(f"{value} is not on the {self.name} threshold grid")
        return index


def _grid(start: float, step: float, stop: float, scale: float = 1.0) -> tuple[float, ...]:
    return tuple(float(v) for v in matlab_colon(start, step, stop) / scale)


_LASHER_STYLE = dict(
    precision_name="PR",
    normalized_name="NPR",
    success_name="SR",
    gt_corners=False,
    dual_ground_truth=False,
    repair_predictions=True,
    first_frame_from_gt=True,
    centre_size_offset=-1.0,
    error_thresholds=_grid(0, 1, 50),
    precision_threshold=20.0,
    error_strict=False,
    norm_thresholds=_grid(0, 1, 50, scale=100.0),
    norm_precision_threshold=0.20,
    overlap_thresholds=_grid(0, 0.05, 1),
    success_area="mean",
    pooled=False,
)

_RGBT_STYLE = dict(
    precision_name="MPR",
    normalized_name=None,
    success_name="MSR",
    ground_truth=(("{seq}/visible.txt", "{seq}/infrared.txt"), ("{seq}/init.txt", "{seq}/init.txt")),
    gt_corners=False,
    dual_ground_truth=True,
    short_results="common_frames",
    repair_predictions=False,
    first_frame_from_gt=False,
    invalid_gt="none",
    invalid_center_error=-1.0,
    centre_size_offset=0.0,
    error_thresholds=_grid(0, 1, 50),
    precision_threshold=20.0,
    error_strict=False,
    norm_thresholds=None,
    norm_precision_threshold=None,
    overlap_thresholds=_grid(0, 0.05, 1),
    success_area="mean",
    pooled=False,
)

#: Every supported protocol by name.
PROTOCOLS: dict[str, Protocol] = {
    "lasher": Protocol(
        name="lasher",
        title="LasHeR (official MATLAB toolkit: PR/NPR/SR)",
        ground_truth=(("{seq}/init.txt",), ("{seq}/visible.txt",), ("{seq}/infrared.txt",), ("{seq}.txt",)),
        official_list="lasher_test.txt",
        short_results="refuse",
        invalid_gt="any_nonpositive",
        invalid_center_error=-1.0,
        **_LASHER_STYLE,
    ),
    "otb": Protocol(
        name="otb",
        title="OTB/pytracking convention (PR/NPR/SR)",
        ground_truth=(
            ("{seq}/groundtruth_rect.txt",),
            ("{seq}/groundtruth.txt",),
            ("{seq}/init.txt",),
            ("{seq}/visible.txt",),
            ("{seq}.txt",),
        ),
        official_list="",
        short_results="pad_zero",
        invalid_gt="nonpositive_size",
        invalid_center_error=float("inf"),
        **_LASHER_STYLE,
    ),
    "rgbt234": Protocol(
        name="rgbt234", title="RGBT234 (official MPR/MSR toolkit)", official_list="rgbt234.txt", **_RGBT_STYLE
    ),
    "rgbt210": Protocol(
        name="rgbt210", title="RGBT210 (official MPR/MSR toolkit)", official_list="rgbt210.txt", **_RGBT_STYLE
    ),
    "gtot": Protocol(
        **{
            **_RGBT_STYLE,
            "name": "gtot",
            "title": "GTOT (official toolkit: pooled MPR at 5 px / MSR area)",
            "official_list": "gtot.txt",
            "ground_truth": (("{seq}/groundTruth_v.txt", "{seq}/groundTruth_i.txt"),),
            "gt_corners": True,
            "error_thresholds": _grid(0, 0.5, 25),
            "precision_threshold": 5.0,
            "error_strict": True,
            "overlap_thresholds": _grid(0, 0.02, 1),
            "success_area": "trapezoid",
            "pooled": True,
        }
    ),
}


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; :class:`InputError` listing the known ones otherwise."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise InputError(f"unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}") from None


@dataclass
class FrameErrors:
    """Per-frame errors of one sequence after the protocol's rules (invalid frames already marked);
    ``adjustment`` says how result and ground-truth rows were paired when their counts differ."""

    center: np.ndarray
    normalized: Optional[np.ndarray]
    overlap: np.ndarray
    adjustment: Optional[str] = None


@dataclass
class SequenceScore:
    """Hit counts of one sequence on the protocol's threshold grids (before any averaging);
    ``frames`` is the number of frames scored, ``adjustment`` as in :class:`FrameErrors`."""

    name: str
    frames: int
    precision_hits: np.ndarray
    normalized_hits: Optional[np.ndarray]
    success_hits: np.ndarray
    adjustment: Optional[str] = None


@dataclass
class Curves:
    """Precision / normalised precision / success curves as rates in [0, 1] on the protocol grids."""

    precision: np.ndarray
    normalized: Optional[np.ndarray]
    success: np.ndarray


@dataclass(frozen=True)
class RowPairing:
    """How the rows of one result file meet the ground truth's: the number of ground-truth frames
    scored, and the adjustment in words (``None`` when the row counts agree)."""

    frames: int
    adjustment: Optional[str]


def _span(unit: str, first: int, last: int) -> str:
    """``"frame 7"`` or ``"frames 7-9"`` (1-based, as the toolkits count)."""
    return f"{unit} {first}" if first == last else f"{unit}s {first}-{last}"


def pair_rows(protocol: Protocol, result_rows: int, gt_rows: int, source: str = "results") -> RowPairing:
    """Pair result row ``i`` with ground-truth frame ``i``, as ``protocol``'s toolkit does.

    Rows past the last ground-truth frame are ignored (every toolkit). Missing rows follow
    ``protocol.short_results``: zero boxes are appended (``"pad_zero"``), the frames without a
    result are not scored (``"common_frames"``), or :class:`InputError` (``"refuse"``).
    """
    difference = result_rows - gt_rows
    if difference == 0:
        return RowPairing(gt_rows, None)
    rows = f"{abs(difference)} row{'s' if abs(difference) > 1 else ''}"
    if difference > 0:
        return RowPairing(
            gt_rows,
            f"result has {rows} more than the ground truth ({gt_rows} frames): "
            f"{_span('row', gt_rows + 1, result_rows)} ignored",
        )
    missing = _span("frame", result_rows + 1, gt_rows)
    if protocol.short_results == "pad_zero":
        return RowPairing(
            gt_rows, f"result has {rows} fewer than the ground truth ({gt_rows} frames): zero boxes for {missing}"
        )
    if protocol.short_results == "common_frames":
        return RowPairing(
            result_rows, f"result has {rows} fewer than the ground truth ({gt_rows} frames): {missing} not scored"
        )
    raise InputError(
        f"{source}: result has {rows} fewer than the ground truth ({gt_rows} frames); the {protocol.name} "
        f"toolkit cannot score a result shorter than the ground truth"
    )


def _prepare_predictions(protocol: Protocol, predictions: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """One box per frame of ``gt`` from rows paired by :func:`pair_rows`, under the protocol's rules.

    Order as in the toolkits: cut to the ground-truth length, repair invalid boxes with the previous
    one, append zero boxes (``pad_zero`` only), then replace the first box by the ground truth.
    """
    frames = len(gt)
    boxes = np.array(predictions, dtype=np.float64, copy=True).reshape(-1, 4)[:frames]
    if protocol.repair_predictions and len(boxes) > 1:
        with np.errstate(invalid="ignore"):
            invalid = np.isnan(boxes).any(axis=1) | ~(boxes[:, 2] > 0) | ~(boxes[:, 3] > 0)
        invalid &= ~np.isnan(gt[: len(boxes)]).any(axis=1)
        for i in np.flatnonzero(invalid[1:]) + 1:  # in order: a repaired box can feed the next one
            boxes[i] = boxes[i - 1]
    boxes = np.concatenate([boxes, np.zeros((frames - len(boxes), 4))], axis=0)
    if protocol.first_frame_from_gt and frames:
        boxes[0] = gt[0]
    return boxes


def centre_errors(predictions: np.ndarray, gt: np.ndarray, size_offset: float, normalized: bool = False) -> np.ndarray:
    """Euclidean distance between box centres ``x + (w + size_offset) / 2``; ``normalized`` divides
    both centres by the ground-truth ``w, h`` first (LaSOT-style normalised precision)."""
    pred_centre = predictions[:, :2] + (predictions[:, 2:] + size_offset) / 2.0
    gt_centre = gt[:, :2] + (gt[:, 2:] + size_offset) / 2.0
    if normalized:
        pred_centre = pred_centre / gt[:, 2:]
        gt_centre = gt_centre / gt[:, 2:]
    return np.sqrt(((pred_centre - gt_centre) ** 2).sum(axis=1))


def overlaps(predictions: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU with inclusive pixel counts (OTB ``calcRectInt``): the intersection spans
    ``min(x + w - 1) - max(x) + 1`` (likewise vertically), the areas are ``w * h``. For ``x, y, w, h``
    boxes this equals the IoU of the continuous rectangles ``[x, x + w)``; the ``+1`` conventions
    matter where corner files are converted (GTOT: ``w = x2 - x1``)."""
    right = np.minimum(predictions[:, 0] + predictions[:, 2] - 1, gt[:, 0] + gt[:, 2] - 1)
    left = np.maximum(predictions[:, 0], gt[:, 0])
    bottom = np.minimum(predictions[:, 1] + predictions[:, 3] - 1, gt[:, 1] + gt[:, 3] - 1)
    top = np.maximum(predictions[:, 1], gt[:, 1])
    intersection = np.maximum(0.0, right - left + 1) * np.maximum(0.0, bottom - top + 1)
    union = predictions[:, 2] * predictions[:, 3] + gt[:, 2] * gt[:, 3] - intersection
    return intersection / union


def valid_ground_truth(protocol: Protocol, gt: np.ndarray) -> np.ndarray:
    """Boolean mask of frames whose ground truth the protocol scores normally."""
    if protocol.invalid_gt == "any_nonpositive":
        return (gt > 0).all(axis=1)
    if protocol.invalid_gt == "nonpositive_size":
        return (gt[:, 2:] > 0).all(axis=1)
    return np.ones(len(gt), dtype=bool)


def frame_errors(
    protocol: Protocol,
    predictions: np.ndarray,
    gt_visible: np.ndarray,
    gt_infrared: Optional[np.ndarray] = None,
    predictions_infrared: Optional[np.ndarray] = None,
    source: str = "results",
) -> FrameErrors:
    """Per-frame centre error, normalised error and overlap under ``protocol``.

    ``predictions`` is ``(N, 4)`` ``[x, y, w, h]``; ``predictions_infrared`` a second box per frame
    for the infrared ground truth (two-box result files), else the same boxes are used. Dual
    protocols need ``gt_infrared`` and take the best of the two modalities per frame. Rows are
    paired with frames by :func:`pair_rows` (``source`` names the result file in its messages).
    """
    if protocol.dual_ground_truth:
        if gt_infrared is None:
            raise ValueError(f"protocol {protocol.name} needs visible and infrared ground truth")
        if len(gt_infrared) != len(gt_visible):
            raise InputError(
                f"{source}: visible ground truth has {len(gt_visible)} boxes but infrared has {len(gt_infrared)}"
            )
    pairing = pair_rows(protocol, len(predictions), len(gt_visible), source)
    gt_visible = gt_visible[: pairing.frames]
    with np.errstate(invalid="ignore", divide="ignore"):
        if not protocol.dual_ground_truth:
            boxes = _prepare_predictions(protocol, predictions, gt_visible)
            center = centre_errors(boxes, gt_visible, protocol.centre_size_offset)
            normalized = (
                centre_errors(boxes, gt_visible, protocol.centre_size_offset, normalized=True)
                if protocol.normalized_name
                else None
            )
            overlap = overlaps(boxes, gt_visible)
            valid = valid_ground_truth(protocol, gt_visible)
        else:
            gt_infrared = gt_infrared[: pairing.frames]
            second = predictions if predictions_infrared is None else predictions_infrared
            boxes_v = _prepare_predictions(protocol, predictions, gt_visible)
            boxes_i = _prepare_predictions(protocol, second, gt_infrared)
            offset = protocol.centre_size_offset
            center = np.fmin(centre_errors(boxes_v, gt_visible, offset), centre_errors(boxes_i, gt_infrared, offset))
            normalized = None
            if protocol.normalized_name:
                normalized = np.fmin(
                    centre_errors(boxes_v, gt_visible, offset, normalized=True),
                    centre_errors(boxes_i, gt_infrared, offset, normalized=True),
                )
            overlap = np.fmax(overlaps(boxes_v, gt_visible), overlaps(boxes_i, gt_infrared))
            valid = valid_ground_truth(protocol, gt_visible) & valid_ground_truth(protocol, gt_infrared)
    center[~valid] = protocol.invalid_center_error
    if normalized is not None:
        normalized[~valid] = -1.0
    overlap[~valid] = -1.0
    return FrameErrors(center=center, normalized=normalized, overlap=overlap, adjustment=pairing.adjustment)


def _error_hits(errors: np.ndarray, thresholds: Sequence[float], strict: bool) -> np.ndarray:
    grid = np.asarray(thresholds)[None, :]
    with np.errstate(invalid="ignore"):
        hits = errors[:, None] < grid if strict else errors[:, None] <= grid
    return hits.sum(axis=0)


def sequence_score(protocol: Protocol, name: str, errors: FrameErrors) -> SequenceScore:
    """Hit counts of one sequence: ``error <= t`` (``< t`` for GTOT) and ``overlap > t``."""
    with np.errstate(invalid="ignore"):
        success = (errors.overlap[:, None] > np.asarray(protocol.overlap_thresholds)[None, :]).sum(axis=0)
    normalized = None
    if errors.normalized is not None and protocol.norm_thresholds is not None:
        normalized = _error_hits(errors.normalized, protocol.norm_thresholds, protocol.error_strict)
    return SequenceScore(
        name=name,
        frames=int(len(errors.overlap)),
        precision_hits=_error_hits(errors.center, protocol.error_thresholds, protocol.error_strict),
        normalized_hits=normalized,
        success_hits=success,
        adjustment=errors.adjustment,
    )


def aggregate(protocol: Protocol, scores: Sequence[SequenceScore]) -> Curves:
    """Curves over ``scores``: pooled frame counts (GTOT) or the mean of per-sequence rates."""
    if not scores:
        raise InputError("no sequences to evaluate")

    def combine(field: str) -> Optional[np.ndarray]:
        if getattr(scores[0], field) is None:
            return None
        hits = np.stack([getattr(score, field) for score in scores]).astype(np.float64)
        frames = np.array([max(score.frames, 1) for score in scores], dtype=np.float64)[:, None]
        if protocol.pooled:
            return hits.sum(axis=0) / frames.sum()
        return (hits / frames).mean(axis=0)

    return Curves(
        precision=combine("precision_hits"),
        normalized=combine("normalized_hits"),
        success=combine("success_hits"),
    )


def success_area(protocol: Protocol, success: np.ndarray) -> float:
    """The success summary: mean of the curve, or its trapezoidal area (GTOT's ``auc.m``)."""
    if protocol.success_area == "trapezoid":
        x = np.asarray(protocol.overlap_thresholds)
        return float(((success[1:] + success[:-1]) / 2.0 * np.diff(x)).sum())
    return float(np.mean(success))


def headline_scores(protocol: Protocol, curves: Curves) -> dict[str, float]:
    """Headline scores in percent, e.g. ``{"PR": .., "NPR": .., "SR": ..}``."""
    scores = {
        protocol.precision_name: 100.0
        * float(curves.precision[protocol.threshold_index(protocol.error_thresholds, protocol.precision_threshold)])
    }
    if protocol.normalized_name and curves.normalized is not None:
        index = protocol.threshold_index(protocol.norm_thresholds, protocol.norm_precision_threshold)
        scores[protocol.normalized_name] = 100.0 * float(curves.normalized[index])
    scores[protocol.success_name] = 100.0 * success_area(protocol, curves.success)
    return scores
