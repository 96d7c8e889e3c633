"""Run records: ``log.csv`` (one row per epoch), TensorBoard scalars and the loss-curve plot.

TensorBoard is optional (``pip install tensorboard``); without it the run says so once and keeps
the CSV, which holds the same per-epoch numbers.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Optional, Sequence, Union

from rgbt_tracker_ros.errors import InputError

#: Columns of ``log.csv``: epoch, learning rate (the default group), weighted loss terms,
#: unweighted classification losses, timing.
LOG_COLUMNS = (
    "epoch",
    "lr",
    "loss",
    "iou",
    "test_clf",
    "test_init_clf",
    "test_iter_clf",
    "clf_init",
    "clf_final",
    "iterations",
    "seconds",
    "seconds_per_iteration",
)
LOSS_COLUMNS = ("loss", "iou", "test_clf", "test_init_clf", "test_iter_clf")
#: Columns of an OSTrack-loss run (AINet): weighted GIoU, L1 and focal terms, and the mean box IoU.
OSTRACK_LOG_COLUMNS = ("epoch", "lr", "loss", "giou", "l1", "focal", "iou", "iterations", "seconds",
                       "seconds_per_iteration")
#: Weighted terms of an OSTrack-loss run that the plot draws when the log has them.
OSTRACK_LOSS_COLUMNS = ("giou", "l1", "focal")
#: Weighted terms of a distillation run's total (Eq. 14) that the plot draws when the log has them.
DISTILL_LOSS_COLUMNS = ("original", "scfd", "mpsd", "hfrd")


class RunLog:
    """Writes ``log.csv`` and TensorBoard events under ``run_dir`` (only where ``enabled``: rank 0).

    TensorBoard's x axis is the optimizer step for every scalar (per-epoch means are written at the
    epoch's last step). On resume, rows of epochs ``>= first_epoch`` and events after ``first_step``
    (left by an interrupted epoch) are dropped. ``columns`` are the objective's (default: L_original's
    :data:`LOG_COLUMNS`).
    """

    def __init__(self, run_dir: Union[str, Path], enabled: bool = True, first_epoch: int = 1, first_step: int = 1,
                 columns: Sequence[str] = LOG_COLUMNS):
        self.path = Path(run_dir) / "log.csv"
        self.enabled = enabled
        self.columns = tuple(columns)
        self.writer = None
        if not enabled:
            return
        self._keep_rows_before(first_epoch)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            print("training: tensorboard is not installed; losses go to log.csv only "
                  "(pip install tensorboard for TensorBoard events)", file=sys.stderr)
        else:
            self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"), purge_step=first_step)

    def _keep_rows_before(self, first_epoch: int) -> None:
        """Start ``log.csv`` afresh, keeping rows of epochs before ``first_epoch`` (on resume)."""
        rows = [row for row in read_log(self.path) if row["epoch"] < first_epoch] if self.path.is_file() else []
        with self.path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({key: _format(row.get(key, "")) for key in self.columns})

    def iteration(self, step: int, terms: dict[str, float]) -> None:
        """TensorBoard scalars of one iteration (``train_iter/<term>``)."""
        if self.writer is not None:
            for name, value in terms.items():
                self.writer.add_scalar(f"train_iter/{name}", value, step)

    def epoch(self, row: dict[str, float], step: int) -> None:
        """Append one epoch's row (keys of ``columns``) and its TensorBoard scalars at ``step``."""
        if not self.enabled:
            return
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.columns).writerow({k: _format(row.get(k, "")) for k in self.columns})
        if self.writer is not None:
            for name in self.columns[1:]:
                if name in row:
                    self.writer.add_scalar(f"train/{name}", row[name], step)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _format(value: object) -> object:
    return f"{value:.6g}" if isinstance(value, float) else value


def read_log(path: Union[str, Path]) -> list[dict[str, float]]:
    """Rows of a ``log.csv`` as dicts of numbers (``epoch`` and ``iterations`` as int)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no training log at {path}")
    rows = []
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            try:
                parsed: dict[str, float] = {k: float(v) for k, v in row.items() if k and v not in ("", None)}
            except ValueError:
                raise InputError(f"{path} line {number}: not a number in {row}") from None
            if "epoch" not in parsed:
                raise InputError(f"{path} line {number}: no epoch value")
            parsed["epoch"] = int(parsed["epoch"])
            if "iterations" in parsed:
                parsed["iterations"] = int(parsed["iterations"])
            rows.append(parsed)
    return rows


def plot_losses(run_dir: Union[str, Path], output: Optional[Union[str, Path]] = None, title: Optional[str] = None) -> Path:
    """Plot the per-epoch loss terms of ``run_dir/log.csv`` to a PNG (default ``run_dir/loss.png``).

    Log scale: the terms differ by orders of magnitude (IoU ~0.1, weighted hinge terms ~1).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    rows = read_log(run_dir / "log.csv")
    if not rows:
        raise InputError(f"{run_dir / 'log.csv'} has no epochs yet")
    output = Path(output) if output is not None else run_dir / "loss.png"
    epochs = [row["epoch"] for row in rows]
    distilled = any("original" in row for row in rows)
    ostrack = any("focal" in row for row in rows)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for name in LOSS_COLUMNS + DISTILL_LOSS_COLUMNS + OSTRACK_LOSS_COLUMNS:
        if ostrack and name == "iou":  # OSTrack's "iou" is the boxes' mean IoU, not a loss
            continue
        values = [row.get(name) for row in rows]
        if all(v is not None and v > 0 for v in values):
            total = "total (Eq. 14)" if distilled else "total (OSTrack loss)" if ostrack else "total (L_original)"
            ax.plot(epochs, values, marker="o", markersize=3, linewidth=2.0 if name in ("loss", "original") else 1.2,
                    label=total if name == "loss" else "L_original" if name == "original" else name)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (epoch mean)")
    ax.set_title(title or f"training loss: {run_dir.name}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    plt.close(fig)
    return output
