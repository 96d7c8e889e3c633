"""Evaluate one or more trackers' result folders under one protocol: scores, table and JSON.

:func:`evaluate_results` is what ``rgbt-tracker evaluate`` and ``rgbt-tracker benchmark`` call. Every
report names its protocol (``Protocol.title``); scores are percentages as papers print them.

Bad input follows the official toolkits where they define the outcome and refuses otherwise, with
one line naming the file: a missing result file stops the MATLAB toolkits (``dlmread``), and stops
us with the list of missing sequences; an empty or ragged result file is refused (LasHeR's toolkit
silently scores an empty file 0 through a ``break`` and MATLAB's ``dlmread`` pads ragged lines with
zeros; neither is a rule worth reproducing silently). A result file with more or fewer rows than the
ground truth is paired as :func:`~rgbt_tracker_ros.evaluation.protocols.pair_rows` says for the
protocol; each such adjustment is a per-sequence ``adjustment`` entry of the report and a warning
line (:meth:`EvaluationReport.warnings`).

Per-attribute scores cover every attribute the annotation root flags (:func:`load_attributes`);
synthetic sequences also flag their scenario family (``family_basic``, ``family_drone``), from which
:func:`format_family_table` prints one row per family and tracker.

With two or more trackers, :func:`paired_differences` compares each with the first on the same sequences (ours,
not a toolkit's): the mean of the per-sequence score differences, its standard error and how many sequences got
better or worse. A checkpoint choice can then tell a difference from the spread of single sequences.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np

from rgbt_tracker_ros.data.synthetic import FAMILY_FLAG_PREFIX
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.evaluation.protocols import (
    Curves,
    Protocol,
    SequenceScore,
    aggregate,
    frame_errors,
    headline_scores,
    sequence_score,
)
from rgbt_tracker_ros.evaluation.sources import (
    GroundTruth,
    load_attributes,
    load_ground_truth,
    missing_results,
    read_predictions,
    resolve_sequences,
    result_file,
)

PathLike = Union[str, Path]


@dataclass
class TrackerReport:
    """Scores of one tracker: headline (percent), curves, per-sequence and per-attribute scores."""

    name: str
    results_dir: Path
    scores: dict[str, float]
    curves: Curves
    sequences: list[SequenceScore]
    per_sequence: dict[str, dict[str, Union[float, str]]]
    per_attribute: dict[str, dict[str, float]]


@dataclass
class EvaluationReport:
    """One protocol, one sequence selection, one or more trackers."""

    protocol: Protocol
    annotations: Path
    sequences: list[str]
    selection: str
    trackers: list[TrackerReport]
    attributes: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def frames(self) -> int:
        """Number of frames scored for the first tracker (the ground truth's, less any frames its
        short result files left unscored)."""
        return sum(score.frames for score in self.trackers[0].sequences) if self.trackers else 0

    def warnings(self) -> list[str]:
        """One line per sequence whose result rows did not match its ground truth one to one."""
        return [
            f"warning: {result_file(tracker.results_dir, score.name)}: {score.adjustment}"
            for tracker in self.trackers
            for score in tracker.sequences
            if score.adjustment
        ]


def parse_results_argument(value: str) -> tuple[str, Path]:
    """``NAME=DIR`` or ``DIR`` (named after the folder) -> ``(name, Path(DIR))``."""
    name, sep, folder = value.partition("=")
    if not sep:
        path = Path(value)
        return (path.resolve().name or str(path)), path
    if not name or not folder:
        raise InputError(f"--results {value!r}: expected NAME=DIR or DIR")
    return name, Path(folder)


def _scores_of(protocol: Protocol, scores: list[SequenceScore]) -> dict[str, float]:
    return headline_scores(protocol, aggregate(protocol, scores))


def evaluate_tracker(
    protocol: Protocol,
    name: str,
    results_dir: PathLike,
    ground_truth: Mapping[str, GroundTruth],
    attributes: Optional[Mapping[str, list[str]]] = None,
) -> TrackerReport:
    """Score one result folder on the sequences of ``ground_truth`` (in its order)."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise InputError(f"results folder {results_dir} (tracker {name}) does not exist")
    missing = missing_results(results_dir, ground_truth)
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise InputError(
            f"{results_dir} (tracker {name}) has no result file for {len(missing)} of {len(ground_truth)} "
            f"sequences: {shown} (expected <sequence>.txt; pass --sequences to evaluate a subset)"
        )
    scores: list[SequenceScore] = []
    for sequence, gt in ground_truth.items():
        path = result_file(results_dir, sequence)
        predictions = read_predictions(path)
        errors = frame_errors(
            protocol,
            predictions.visible,
            gt.visible,
            gt.infrared,
            predictions.infrared if protocol.dual_ground_truth else None,
            source=str(path),
        )
        scores.append(sequence_score(protocol, sequence, errors))
    per_sequence: dict[str, dict[str, Union[float, str]]] = {}
    for s in scores:
        per_sequence[s.name] = {"frames": s.frames, **_scores_of(protocol, [s])}
        if s.adjustment:
            per_sequence[s.name]["adjustment"] = s.adjustment
    by_name = {s.name: s for s in scores}
    per_attribute = {}
    for attribute, members in (attributes or {}).items():
        chosen = [by_name[m] for m in members if m in by_name]
        if chosen:
            per_attribute[attribute] = {"num_sequences": len(chosen), **_scores_of(protocol, chosen)}
    curves = aggregate(protocol, scores)
    return TrackerReport(
        name=name,
        results_dir=results_dir,
        scores=headline_scores(protocol, curves),
        curves=curves,
        sequences=scores,
        per_sequence=per_sequence,
        per_attribute=per_attribute,
    )


def evaluate_results(
    protocol: Protocol,
    results: Mapping[str, PathLike],
    annotations: PathLike,
    sequences: Optional[str] = None,
) -> EvaluationReport:
    """Evaluate every ``{tracker name: results folder}`` on the same sequences.

    ``sequences`` is ``None`` (official list or every sequence found), ``"all"`` or a list file
    (see :func:`~rgbt_tracker_ros.evaluation.sources.resolve_sequences`).
    """
    if not results:
        raise InputError("no results to evaluate: give at least one --results NAME=DIR")
    annotations = Path(annotations)
    selection = resolve_sequences(protocol, annotations, sequences)
    ground_truth = {name: load_ground_truth(protocol, annotations, name) for name in selection.names}
    attributes = load_attributes(annotations, selection.names)
    trackers = [
        evaluate_tracker(protocol, name, folder, ground_truth, attributes) for name, folder in results.items()
    ]
    return EvaluationReport(
        protocol=protocol,
        annotations=annotations,
        sequences=selection.names,
        selection=selection.description,
        trackers=trackers,
        attributes=attributes,
        notes=[selection.note] if selection.note else [],
    )


@dataclass(frozen=True)
class PairedDifference:
    """One tracker against the reference (the report's first) in one score, over the same sequences."""

    tracker: str
    reference: str
    score: str
    #: mean over sequences of the tracker's per-sequence score minus the reference's (percentage points)
    mean: float
    #: standard error of that mean (sample standard deviation / sqrt(sequences)); None for one sequence
    standard_error: Optional[float]
    better: int
    worse: int
    sequences: int


def paired_differences(report: EvaluationReport) -> list[PairedDifference]:
    """Each tracker after the first against the first, per score of the protocol, from the per-sequence scores.

    The mean difference equals the difference of the headline scores where the protocol averages per-sequence
    scores (LasHeR, RGBT234, RGBT210, OTB); GTOT pools frames, so there it is the per-sequence view only.
    """
    if len(report.trackers) < 2:
        return []
    reference = report.trackers[0]
    rows = []
    for tracker in report.trackers[1:]:
        for score in report.protocol.score_names:
            differences = np.array([float(tracker.per_sequence[name][score])
                                    - float(reference.per_sequence[name][score]) for name in report.sequences])
            error = float(differences.std(ddof=1) / np.sqrt(len(differences))) if len(differences) > 1 else None
            rows.append(PairedDifference(tracker.name, reference.name, score, float(differences.mean()), error,
                                         int((differences > 0).sum()), int((differences < 0).sum()), len(differences)))
    return rows


def format_paired_table(report: EvaluationReport) -> Optional[str]:
    """Plain-text table of :func:`paired_differences`; ``None`` with fewer than two trackers."""
    rows = paired_differences(report)
    if not rows:
        return None
    width = max([len("Tracker")] + [len(row.tracker) for row in rows])
    lines = [f"Paired per-sequence differences against {rows[0].reference} ({rows[0].sequences} sequences; "
             "mean +- standard error, sequences better / worse):",
             f"{'Tracker':<{width}}  {'score':<6}  {'mean':>6}  {'+-':>5}  {'better':>6}  {'worse':>5}"]
    for row in rows:
        error = "-" if row.standard_error is None else f"{row.standard_error:.2f}"
        lines.append(f"{row.tracker:<{width}}  {row.score:<6}  {row.mean:+6.2f}  {error:>5}  {row.better:>6}  "
                     f"{row.worse:>5}")
    return "\n".join(lines)


def _curves_dict(protocol: Protocol, curves: Curves) -> dict:
    entries = {
        "precision": (protocol.error_thresholds, curves.precision),
        "normalized_precision": (protocol.norm_thresholds, curves.normalized),
        "success": (protocol.overlap_thresholds, curves.success),
    }
    return {
        key: {"thresholds": list(thresholds), "rate": [100.0 * float(v) for v in values]}
        for key, (thresholds, values) in entries.items()
        if values is not None and thresholds is not None
    }


def report_to_dict(report: EvaluationReport) -> dict:
    """The JSON document: protocol, sequences, and per tracker headline / per-sequence /
    per-attribute scores and curves (rates in percent); a per-sequence ``adjustment`` says how
    result rows were paired with ground-truth frames when their counts differ. With one tracker its
    scores, per-sequence and per-attribute scores and curves are also at the top level."""
    protocol = report.protocol
    trackers = {}
    for tracker in report.trackers:
        trackers[tracker.name] = {
            "results": str(tracker.results_dir),
            **tracker.scores,
            "per_sequence": tracker.per_sequence,
            "per_attribute": tracker.per_attribute,
            "curves": _curves_dict(protocol, tracker.curves),
        }
    document = {
        "protocol": protocol.name,
        "protocol_title": protocol.title,
        "annotations": str(report.annotations),
        "sequence_selection": report.selection,
        "num_sequences": len(report.sequences),
        "num_frames": report.frames,
        "score_names": list(protocol.score_names),
        "notes": report.notes,
    }
    if len(report.trackers) == 1:
        only = report.trackers[0]
        document.update({"tracker": only.name, **trackers[only.name]})
    document["trackers"] = trackers
    paired = paired_differences(report)
    if paired:
        document["paired_differences"] = [asdict(row) for row in paired]
    return _finite(document)


def _finite(value):
    """JSON has no Inf/NaN: replace them by ``None`` (they appear only in degenerate curves)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def format_table(report: EvaluationReport) -> str:
    """Plain-text table: protocol, sequence selection, one row per tracker (one decimal, as papers)."""
    names = report.protocol.score_names
    width = max([len("Tracker")] + [len(t.name) for t in report.trackers])
    lines = [
        f"Protocol: {report.protocol.title}",
        f"Sequences: {len(report.sequences)} ({report.selection}), {report.frames} frames",
        "",
        f"{'Tracker':<{width}}  " + "  ".join(f"{n:>6}" for n in names),
    ]
    for tracker in report.trackers:
        lines.append(f"{tracker.name:<{width}}  " + "  ".join(f"{tracker.scores[n]:6.1f}" for n in names))
    return "\n".join(lines)


def format_family_table(report: EvaluationReport) -> Optional[str]:
    """Plain-text table of the scores per scenario family (sequences whose attribute files flag
    ``family_<name>``), one row per family and tracker; ``None`` when no sequence has a family."""
    families = sorted(name for name in report.attributes if name.startswith(FAMILY_FLAG_PREFIX))
    if not families:
        return None
    names = report.protocol.score_names
    labels = {family: f"{family[len(FAMILY_FLAG_PREFIX):]} ({len(report.attributes[family])})" for family in families}
    family_width = max([len("Family (sequences)")] + [len(label) for label in labels.values()])
    tracker_width = max([len("Tracker")] + [len(t.name) for t in report.trackers])
    lines = [
        "Per scenario family:",
        f"{'Family (sequences)':<{family_width}}  {'Tracker':<{tracker_width}}  " + "  ".join(f"{n:>6}" for n in names),
    ]
    for family in families:
        for row, tracker in enumerate(report.trackers):
            scores = tracker.per_attribute[family]
            label = labels[family] if row == 0 else ""
            values = "  ".join(f"{scores[n]:6.1f}" for n in names)
            lines.append(f"{label:<{family_width}}  {tracker.name:<{tracker_width}}  {values}")
    return "\n".join(lines)
