"""RGB-T benchmark sequences in their native folder layouts: LasHeR, RGBT234, RGBT210 and GTOT.

Layouts (one folder per sequence; a dataset root is a folder of sequence folders):

- LasHeR / RGBT234 / RGBT210: ``<seq>/visible/*.jpg``, ``<seq>/infrared/*.jpg``, ground truth
  ``visible.txt`` and ``infrared.txt`` (per modality) and/or ``init.txt`` (one box file for both, the
  only one RGBT210 has). Frame names vary (``v000001.jpg``/``i000001.jpg``, ``i000.jpg``,
  ``00001v.jpg``); frames are paired by their number, tolerating a different first number per
  modality (e.g. 0-based infrared, 1-based visible).
- GTOT: ``<seq>/v/*.png``, ``<seq>/i/*.bmp``, ``groundTruth_v.txt`` / ``groundTruth_i.txt`` with
  corners ``x1 y1 x2 y2``, converted to ``x y w h`` with ``w = x2 - x1`` as GTOT's own ``init.txt``
  and toolkit do (no +1).

Boxes stay exactly as written: LasHeR marks an absent target with ``0,0,0,0`` and the evaluation
protocols need to see that. Per-frame challenge attributes are the ``<seq>/<attribute>.txt`` files
holding one 0/1 per line (RGBT234 style). Images are read only when a frame is requested.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.errors import DatasetError, InputError

PathLike = Union[str, Path]

#: Dataset kinds (and ``layout`` names) understood by :func:`open_sequence`.
DATASET_KINDS = ("lasher", "rgbt234", "rgbt210", "gtot")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
#: Ground-truth file names, which are never challenge-attribute files.
GROUND_TRUTH_FILES = ("visible.txt", "infrared.txt", "init.txt", "groundTruth_v.txt", "groundTruth_i.txt")

_SEPARATOR = re.compile(r"\s*,\s*|\s+")
_DIGITS = re.compile(r"(\d+)")


def read_table(path: PathLike) -> np.ndarray:
    """Read a numeric text table (one row per line; comma, space or tab separated) as float64 ``(N, K)``.

    Tolerates CRLF line ends, a UTF-8 byte-order mark, a trailing separator and blank lines at the
    end of the file. ``NaN``/``Inf`` words are kept (result files use them for lost frames). Raises
    :class:`InputError` naming the file and line for an unreadable file, an empty file, a blank or
    non-numeric line, or a line with a different number of values than the first.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read box file {path}: {err}") from err
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise InputError(f"{path} is empty: expected one box per line")
    rows: list[list[float]] = []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip().rstrip(",").strip()
        if not stripped:
            raise InputError(f"{path} line {number}: blank line inside the box list")
        try:
            values = [float(token) for token in _SEPARATOR.split(stripped)]
        except ValueError as err:
            raise InputError(f"{path} line {number}: not a list of numbers: {line.strip()!r}") from err
        if rows and len(values) != len(rows[0]):
            raise InputError(
                f"{path} line {number}: {len(values)} values but line 1 has {len(rows[0])}: {line.strip()!r}"
            )
        rows.append(values)
    return np.asarray(rows, dtype=np.float64)


def read_boxes(path: PathLike, corners: bool = False) -> np.ndarray:
    """Read a box file as float64 ``(N, 4)`` ``[x, y, w, h]``.

    ``corners=True`` reads GTOT's ``x1 y1 x2 y2`` and converts with ``w = x2 - x1``, ``h = y2 - y1``
    (GTOT's convention). Raises :class:`InputError` naming file and line (see :func:`read_table`),
    also when a line does not hold exactly 4 values.
    """
    table = read_table(path)
    if table.shape[1] != 4:
        raise InputError(f"{path} line 1: expected 4 values per line (x y w h), found {table.shape[1]}")
    if corners:
        table[:, 2:] -= table[:, :2]
    return table


@dataclass
class Sequence:
    """One benchmark sequence: paired frame paths, per-modality ground truth and attributes.

    ``gt_rgb``/``gt_thermal`` are ``(N, 4)`` float64 ``[x, y, w, h]``; ``attributes`` maps an
    attribute name to an ``(N,)`` 0/1 int array. Indexing returns a :class:`FramePair` whose
    images are read from disk at that moment.
    """

    name: str
    kind: str
    path: Path
    rgb_frames: list[Path]
    thermal_frames: list[Path]
    gt_rgb: np.ndarray
    gt_thermal: np.ndarray
    attributes: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rgb_frames)

    def frame_paths(self, index: int) -> tuple[Path, Path]:
        """``(visible image path, infrared image path)`` of frame ``index``."""
        return self.rgb_frames[self._check_index(index)], self.thermal_frames[self._check_index(index)]

    def __getitem__(self, index: int) -> FramePair:
        index = self._check_index(index)
        rgb_path, thermal_path = self.rgb_frames[index], self.thermal_frames[index]
        rgb = _read_rgb(rgb_path, self.name, index)
        thermal = _read_thermal(thermal_path, self.name, index)
        if rgb.shape[:2] != thermal.shape[:2]:
            raise DatasetError(
                f"sequence {self.name} frame {index}: visible {rgb_path.name} is "
                f"{rgb.shape[1]}x{rgb.shape[0]} but infrared {thermal_path.name} is "
                f"{thermal.shape[1]}x{thermal.shape[0]}"
            )
        return FramePair(
            rgb=rgb,
            thermal=thermal,
            index=index,
            gt_rgb=self.gt_rgb[index].copy(),
            gt_thermal=self.gt_thermal[index].copy(),
            attributes={name: bool(flags[index]) for name, flags in self.attributes.items()},
        )

    def _check_index(self, index: int) -> int:
        length = len(self)
        if not -length <= index < length:
            raise IndexError(f"sequence {self.name} has {length} frames; frame {index} does not exist")
        return index % length


def _read_image(path: Path, sequence: str, index: int) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
    if image is None or image.size == 0:
        reason = "is missing" if not path.exists() else "cannot be read as an image"
        raise DatasetError(f"sequence {sequence} frame {index}: {path} {reason}")
    return image


def _read_rgb(path: Path, sequence: str, index: int) -> np.ndarray:
    import cv2

    from rgbt_tracker_ros.data.decode import to_rgb

    image = _read_image(path, sequence, index)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return to_rgb(image)


def _read_thermal(path: Path, sequence: str, index: int) -> np.ndarray:
    import cv2

    from rgbt_tracker_ros.data.decode import to_thermal

    image = _read_image(path, sequence, index)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    return to_thermal(image)


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(path.stem)]


def _list_images(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=_natural_key)


def _frame_number(path: Path) -> Optional[int]:
    numbers = _DIGITS.findall(path.stem)
    return int(numbers[-1]) if numbers else None


def _pair_frames(sequence: str, rgb: list[Path], thermal: list[Path]) -> None:
    """Check that the visible and infrared lists hold the same frames; raise naming the first odd one.

    Frames are matched by the last number in their names; the two modalities may start counting
    from different numbers (the offset that aligns most frames is used). Names without numbers are
    matched by sorted position.
    """
    rgb_numbers = [_frame_number(p) for p in rgb]
    thermal_numbers = [_frame_number(p) for p in thermal]
    if rgb and thermal and None not in rgb_numbers and None not in thermal_numbers:
        for numbers, files, what in ((rgb_numbers, rgb, "visible"), (thermal_numbers, thermal, "infrared")):
            seen: dict[int, Path] = {}
            for number, path in zip(numbers, files):
                if number in seen:
                    raise DatasetError(
                        f"sequence {sequence}: {what} images {seen[number].name} and {path.name} "
                        f"have the same frame number {number}"
                    )
                seen[number] = path
        rgb_set = set(rgb_numbers)
        offsets = {0, thermal_numbers[0] - rgb_numbers[0]}
        offset = max(sorted(offsets), key=lambda o: len(rgb_set & {n - o for n in thermal_numbers}))
        shifted = [n - offset for n in thermal_numbers]
        thermal_set = set(shifted)
        for position, number in enumerate(rgb_numbers):
            if number not in thermal_set:
                raise DatasetError(
                    f"sequence {sequence} frame {position}: "
                    f"no infrared image for visible {rgb[position].name}"
                )
        for position, number in enumerate(shifted):
            if number not in rgb_set:
                raise DatasetError(
                    f"sequence {sequence} frame {position}: "
                    f"no visible image for infrared {thermal[position].name}"
                )
        return
    if len(rgb) != len(thermal):
        first_unmatched = min(len(rgb), len(thermal))
        if len(rgb) > len(thermal):
            raise DatasetError(
                f"sequence {sequence} frame {first_unmatched}: no infrared image for visible "
                f"{rgb[first_unmatched].name} ({len(rgb)} visible, {len(thermal)} infrared images)"
            )
        raise DatasetError(
            f"sequence {sequence} frame {first_unmatched}: no visible image for infrared "
            f"{thermal[first_unmatched].name} ({len(rgb)} visible, {len(thermal)} infrared images)"
        )


def _detect_kind(path: Path) -> str:
    """Dataset kind from a sequence folder's contents (see :func:`open_sequence`)."""
    if (path / "v").is_dir() and (path / "i").is_dir():
        return "gtot"
    if not (path / "visible").is_dir() or not (path / "infrared").is_dir():
        raise DatasetError(
            f"{path} is not an RGB-T sequence: expected visible/ and infrared/ (LasHeR, RGBT234, RGBT210) "
            f"or v/ and i/ (GTOT) folders"
        )
    if not (path / "visible.txt").is_file() and (path / "init.txt").is_file():
        return "rgbt210"
    first = _list_images(path / "visible")[:1]
    if first and re.fullmatch(r"v\d+", first[0].stem, flags=re.IGNORECASE):
        return "lasher"
    return "rgbt234"


def _ground_truth(path: Path, name: str, kind: str) -> tuple[np.ndarray, np.ndarray, str, str]:
    """``(gt_rgb, gt_thermal, rgb_file_name, thermal_file_name)`` for a sequence folder."""
    if kind == "gtot":
        per_modality, corners = ("groundTruth_v.txt", "groundTruth_i.txt"), True
    else:
        per_modality, corners = ("visible.txt", "infrared.txt"), False
    rgb_file, thermal_file = (path / per_modality[0]), (path / per_modality[1])
    init_file = path / "init.txt"
    if not rgb_file.is_file() and not thermal_file.is_file():
        if not init_file.is_file():
            raise DatasetError(
                f"sequence {name}: no ground truth ({per_modality[0]}, {per_modality[1]} "
                f"or init.txt) in {path}"
            )
        boxes = read_boxes(init_file)
        return boxes, boxes.copy(), init_file.name, init_file.name
    if not rgb_file.is_file() or not thermal_file.is_file():
        missing = rgb_file if not rgb_file.is_file() else thermal_file
        raise DatasetError(f"sequence {name}: {missing} is missing")
    return read_boxes(rgb_file, corners), read_boxes(thermal_file, corners), rgb_file.name, thermal_file.name


def _attributes(path: Path, name: str, length: int) -> dict[str, np.ndarray]:
    """Per-frame 0/1 attribute files of a sequence (a single 0/1 column); other .txt files are skipped."""
    attributes: dict[str, np.ndarray] = {}
    for file in sorted(path.glob("*.txt")):
        if file.name in GROUND_TRUTH_FILES:
            continue
        try:
            table = read_table(file)
        except InputError:
            continue
        if table.shape[1] != 1 or not np.isin(table, (0.0, 1.0)).all():
            continue
        if table.shape[0] != length:
            raise DatasetError(
                f"sequence {name}: attribute file {file.name} has {table.shape[0]} lines for {length} frames"
            )
        attributes[file.stem] = table[:, 0].astype(np.int64)
    return attributes


def open_sequence(path: PathLike, layout: str = "auto") -> Sequence:
    """Open one sequence folder; ``layout`` is ``"auto"`` or one of :data:`DATASET_KINDS`.

    ``"auto"`` takes the kind from the folder contents: ``v``/``i`` folders: GTOT; ``init.txt``
    without ``visible.txt``: RGBT210; ``v000001.jpg``-style frame names: LasHeR; otherwise RGBT234.
    Pass the layout explicitly where that guess is not enough. Raises :class:`DatasetError`
    naming the sequence and frame for missing folders or images, unpaired frames and ground truth
    that does not have one box per frame; :class:`InputError` for malformed box files.
    """
    path = Path(path)
    name = path.name
    if not path.is_dir():
        raise DatasetError(f"sequence folder {path} does not exist")
    if layout == "auto":
        kind = _detect_kind(path)
    elif layout in DATASET_KINDS:
        kind = layout
    else:
        raise DatasetError(f"unknown dataset layout {layout!r}; choose auto, {', '.join(DATASET_KINDS)}")
    folders = ("v", "i") if kind == "gtot" else ("visible", "infrared")
    rgb_dir, thermal_dir = path / folders[0], path / folders[1]
    for folder in (rgb_dir, thermal_dir):
        if not folder.is_dir():
            raise DatasetError(f"sequence {name}: image folder {folder} is missing ({kind} layout)")
    rgb_frames, thermal_frames = _list_images(rgb_dir), _list_images(thermal_dir)
    if not rgb_frames:
        raise DatasetError(f"sequence {name}: no images in {rgb_dir}")
    _pair_frames(name, rgb_frames, thermal_frames)
    gt_rgb, gt_thermal, rgb_gt_name, thermal_gt_name = _ground_truth(path, name, kind)
    for boxes, file_name in ((gt_rgb, rgb_gt_name), (gt_thermal, thermal_gt_name)):
        if len(boxes) != len(rgb_frames):
            detail = (
                f"first frame without a box: {len(boxes)} ({rgb_frames[len(boxes)].name})"
                if len(boxes) < len(rgb_frames)
                else f"line {len(rgb_frames) + 1} has no image"
            )
            raise DatasetError(
                f"sequence {name}: {file_name} has {len(boxes)} boxes for {len(rgb_frames)} frames; {detail}"
            )
    return Sequence(
        name=name,
        kind=kind,
        path=path,
        rgb_frames=rgb_frames,
        thermal_frames=thermal_frames,
        gt_rgb=gt_rgb,
        gt_thermal=gt_thermal,
        attributes=_attributes(path, name, len(rgb_frames)),
    )


def _is_sequence_folder(path: Path) -> bool:
    return ((path / "visible").is_dir() and (path / "infrared").is_dir()) or (
        (path / "v").is_dir() and (path / "i").is_dir()
    )


def open_dataset(
    root: PathLike, layout: str = "auto", sequences: Optional[list[str]] = None
) -> list[Sequence]:
    """Open every sequence folder under ``root`` (sorted by name), or only the named ``sequences``.

    Folders that are not sequences (no visible/infrared or v/i image folders) are skipped when
    scanning; a named sequence that is missing raises :class:`DatasetError`.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    if _is_sequence_folder(root):
        raise DatasetError(f"{root} is a single sequence, not a dataset root (a folder of sequence folders)")
    if sequences is None:
        folders = sorted(
            (p for p in root.iterdir() if p.is_dir() and _is_sequence_folder(p)), key=lambda p: p.name
        )
        if not folders:
            raise DatasetError(
                f"no sequence folders (with visible/ and infrared/, or v/ and i/) under {root}"
            )
    else:
        missing = [name for name in sequences if not (root / name).is_dir()]
        if missing:
            raise DatasetError(f"sequences not found under {root}: {', '.join(missing)}")
        folders = sorted((root / name for name in dict.fromkeys(sequences)), key=lambda p: p.name)
    return [open_sequence(folder, layout) for folder in folders]
