"""Precision and success plots (PNG) of an :class:`~rgbt_tracker_ros.evaluation.report.EvaluationReport`.

One figure per curve (precision, normalised precision where the protocol has it, success), every
tracker on it, the legend ranked by the headline score and showing it (``NAME [score]`` as the
toolkits draw it), the protocol named in the title. Past matplotlib's ten colours the lines turn
dashed, then dotted (:func:`line_style`), so no two trackers look alike. Figures use matplotlib's Agg canvas directly,
without pyplot, so nothing global (backend, open figures) changes in the caller's process.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np

from rgbt_tracker_ros.evaluation.report import EvaluationReport

PathLike = Union[str, Path]


#: Line styles taken in turn after each round of the ten default colours.
LINE_STYLES = ("-", "--", ":")


def line_style(index: int) -> tuple[str, str]:
    """``(colour, linestyle)`` of the ``index``-th curve: unique for the first 30 curves."""
    return f"C{index % 10}", LINE_STYLES[(index // 10) % len(LINE_STYLES)]


def _plot(report: EvaluationReport, kind: str, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    protocol = report.protocol
    if kind == "precision":
        thresholds, score_name = protocol.error_thresholds, protocol.precision_name
        xlabel = "Location error threshold (pixels)"
        title = f"Precision plot ({score_name} at {protocol.precision_threshold:g} px)"
        legend_loc = "lower right"
    elif kind == "normalized":
        thresholds, score_name = protocol.norm_thresholds, protocol.normalized_name
        xlabel = "Normalized location error threshold"
        title = f"Normalized precision plot ({score_name} at {protocol.norm_precision_threshold:g})"
        legend_loc = "lower right"
    else:
        thresholds, score_name = protocol.overlap_thresholds, protocol.success_name
        xlabel = "Overlap threshold"
        area = "area under curve" if protocol.success_area == "trapezoid" else "mean over thresholds"
        title = f"Success plot ({score_name}: {area})"
        legend_loc = "lower left"
    ranked = sorted(report.trackers, key=lambda t: t.scores[score_name], reverse=True)

    figure = Figure(figsize=(6.4, 5.0), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for index, tracker in enumerate(ranked):
        values = getattr(tracker.curves, kind)
        colour, linestyle = line_style(index)
        axes.plot(thresholds, np.asarray(values), color=colour, linestyle=linestyle, linewidth=2,
                  label=f"{tracker.name} [{tracker.scores[score_name]:.1f}]")
    axes.set_xlim(float(thresholds[0]), float(thresholds[-1]))
    axes.set_ylim(0.0, 1.0)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("Success rate" if kind == "success" else "Precision")
    axes.set_title(f"{title}\n{protocol.title}, {len(report.sequences)} sequences", fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(loc=legend_loc, fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    return path


def save_plots(report: EvaluationReport, out_dir: PathLike) -> list[Path]:
    """Write ``<protocol>_precision.png``, ``<protocol>_normalized_precision.png`` (LasHeR/OTB) and
    ``<protocol>_success.png`` into ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = report.protocol.name
    kinds = [("precision", "precision")]
    if report.protocol.normalized_name:
        kinds.append(("normalized", "normalized_precision"))
    kinds.append(("success", "success"))
    return [_plot(report, kind, out_dir / f"{name}_{suffix}.png") for kind, suffix in kinds]
